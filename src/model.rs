//! Kinds the engine understands and references to objects of those kinds.

use std::fmt;

use crate::api::{ObjectReference, TargetKind};
use crate::kinds::{Read, Scoped, kind_table};

/// Generates [`Kind`] from the kind table (`crate::kinds`).
macro_rules! define_kinds {
    ($(
        $variant:ident {
            resource: $resource:ty,
            object: $object:ty,
            read: $read:ident,
            $(cli: [$($cli:literal),*],)?
            $(kubectl: $kubectl:literal,)?
            $(groups: [$($group:literal),*],)?
        }
    )*) => {
        /// Every kind the object graph reads. Kinds not listed here are ignored when loading.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $(
                #[doc = concat!("`", stringify!($variant), "`")]
                $variant,
            )*
        }

        impl Kind {
            /// Every kind, in the table's order.
            pub const ALL: [Kind; <[&str]>::len(&[$(stringify!($variant)),*])] = [$(Kind::$variant),*];

            /// The API kind name (`Deployment`, `HTTPRoute`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$resource as k8s_openapi::Resource>::KIND,)*
                }
            }

            /// The preferred apiVersion of the kind.
            pub const fn api_version(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$resource as k8s_openapi::Resource>::API_VERSION,)*
                }
            }

            /// The API group of the kind ("" for core).
            pub const fn group(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$resource as k8s_openapi::Resource>::GROUP,)*
                }
            }

            /// The resource's plural name (`deployments`).
            pub const fn plural(self) -> &'static str {
                match self {
                    $(Kind::$variant => <$resource as k8s_openapi::Resource>::URL_PATH_SEGMENT,)*
                }
            }

            /// Whether objects of the kind live in a namespace.
            pub const fn namespaced(self) -> bool {
                match self {
                    $(Kind::$variant => <<$resource as k8s_openapi::Resource>::Scope as Scoped>::NAMESPACED,)*
                }
            }

            /// How the controller watches the kind and the live CLI lists it.
            pub const fn read(self) -> Read {
                match self {
                    $(Kind::$variant => Read::$read,)*
                }
            }

            /// API groups besides [`Kind::group`] whose objects of this kind are the same
            /// object (older or parallel APIs: `extensions` Ingresses, `events.k8s.io` Events).
            pub const fn other_groups(self) -> &'static [&'static str] {
                match self {
                    $(Kind::$variant => &[$($($group),*)?],)*
                }
            }

            /// The names kubectl accepts for a kind that can be a diagnosis target
            /// (lower case); empty for the others.
            pub const fn cli_names(self) -> &'static [&'static str] {
                match self {
                    $(Kind::$variant => &[$($($cli),*)?],)*
                }
            }

            /// kubectl's resource name for commands in remediation steps, where it is
            /// not the kind in lower case.
            pub const fn kubectl_name(self) -> &'static str {
                match self {
                    $(Kind::$variant => define_kinds!(@kubectl $($kubectl)?),)*
                }
            }

            /// The Diagnosis target kind of the same name, for kinds that can be one.
            pub fn to_target(self) -> Option<TargetKind> {
                $( define_kinds!(@to_target self, $variant $(, [$($cli),*])?); )*
                None
            }
        }
    };
    (@kubectl) => { "" };
    (@kubectl $kubectl:literal) => { $kubectl };
    (@to_target $kind:ident, $variant:ident) => {};
    (@to_target $kind:ident, $variant:ident, $cli:tt) => {
        if matches!($kind, Kind::$variant) {
            return Some(TargetKind::$variant);
        }
    };
}

kind_table!(define_kinds);

impl Kind {
    /// Looks a kind up by its API kind name (case-sensitive as the API writes it).
    pub fn from_api_kind(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == kind)
    }

    /// Parses kubectl's names and short names of the kinds a diagnosis can target, any case.
    pub fn parse_cli(text: &str) -> Option<Kind> {
        let lower = text.to_ascii_lowercase();
        Kind::ALL
            .into_iter()
            .find(|k| k.cli_names().contains(&lower.as_str()))
    }

    /// Whether an apiVersion belongs to the kind's API group or one of its
    /// [`Kind::other_groups`] (so that, say, a `Gateway` of some other group is not
    /// mistaken for a Gateway API Gateway). An empty apiVersion belongs to any.
    pub fn api_version_matches(self, api_version: &str) -> bool {
        if api_version.is_empty() {
            return true;
        }
        let group = match api_version.rsplit_once('/') {
            Some((group, _)) => group,
            None => "",
        };
        group == self.group() || self.other_groups().contains(&group)
    }

    /// The kind of a Diagnosis target kind.
    pub fn from_target(target: TargetKind) -> Kind {
        match target {
            TargetKind::Deployment => Kind::Deployment,
            TargetKind::StatefulSet => Kind::StatefulSet,
            TargetKind::DaemonSet => Kind::DaemonSet,
            TargetKind::ReplicaSet => Kind::ReplicaSet,
            TargetKind::Job => Kind::Job,
            TargetKind::CronJob => Kind::CronJob,
            TargetKind::Pod => Kind::Pod,
            TargetKind::Service => Kind::Service,
            TargetKind::Ingress => Kind::Ingress,
            TargetKind::HttpRoute => Kind::HttpRoute,
            TargetKind::PersistentVolumeClaim => Kind::PersistentVolumeClaim,
            TargetKind::Node => Kind::Node,
            TargetKind::Namespace => Kind::Namespace,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A reference to one object: kind, namespace (None for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjRef {
    pub kind: Kind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjRef {
    pub fn new(kind: Kind, namespace: Option<&str>, name: &str) -> ObjRef {
        ObjRef {
            kind,
            namespace: if kind.namespaced() {
                namespace.map(str::to_owned)
            } else {
                None
            },
            name: name.to_owned(),
        }
    }

    pub fn namespaced(kind: Kind, namespace: &str, name: &str) -> ObjRef {
        ObjRef::new(kind, Some(namespace), name)
    }

    pub fn cluster(kind: Kind, name: &str) -> ObjRef {
        ObjRef::new(kind, None, name)
    }

    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// `Kind/name` as kubedx prints it.
    pub fn short(&self) -> String {
        format!("{}/{}", self.kind.name(), self.name)
    }

    /// `kind/name` as kubectl accepts it, e.g. `deployment/web`.
    pub fn kubectl(&self) -> String {
        let kind = match self.kind.kubectl_name() {
            "" => self.kind.name().to_ascii_lowercase(),
            s => s.to_owned(),
        };
        format!("{}/{}", kind, self.name)
    }

    /// ` -n NS` for namespaced objects, empty otherwise: appended to kubectl commands.
    pub fn ns_flag(&self) -> String {
        match &self.namespace {
            Some(ns) => format!(" -n {ns}"),
            None => String::new(),
        }
    }

    pub fn to_reference(&self) -> ObjectReference {
        ObjectReference {
            api_version: self.kind.api_version().to_owned(),
            kind: self.kind.name().to_owned(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind.name(), ns, self.name),
            None => write!(f, "{}/{}", self.kind.name(), self.name),
        }
    }
}
