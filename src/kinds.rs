//! The kind table: every kind the engine reads, once.
//!
//! One row per kind says which Kubernetes resource it is (kind name, apiVersion,
//! group, plural and scope come from that resource's `k8s_openapi::Resource`
//! constants), what the store keeps of it, how the controller watches it and the
//! live CLI lists it, and the names kubectl accepts for it. [`crate::model::Kind`],
//! the store's [`crate::store::Object`] and [`crate::store::Stored`] impls are
//! generated from the table ([`kind_table!`]); the controller's watches and the live
//! reader's LISTs walk it through [`visit_kinds`] and a [`KindVisitor`].
//!
//! Adding a kind: one row here; the compiler then asks for what the rules need.

use std::fmt::Debug;

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::{Api, Client};
use serde::de::DeserializeOwned;

use crate::model::Kind;
use crate::store::Stored;

/// How the controller watches a kind and the live CLI lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// Whole objects.
    Full,
    /// Metadata only (`PartialObjectMetadata`): Secrets, whose data kubedx never reads.
    Metadata,
    /// core/v1 Events, normalised into [`crate::event::EventRecord`]s.
    Events,
    /// A kind of an optional API (Gateway API): read only when the cluster serves it,
    /// as dynamic objects of the version discovery finds.
    Discovered,
    /// Resource usage of `metrics.k8s.io` (metrics-server): an optional API that
    /// serves LIST but no watch. The live CLI LISTs it when the cluster serves it
    /// (absent, forbidden or unavailable: nothing is read and nothing is reported);
    /// the controller does not read it (a sample of usage is not state to watch).
    /// Kept as dynamic objects.
    Metrics,
}

/// Gateway API resources: `k8s_openapi` has no types for them, so these markers
/// carry their identity (the store keeps them as `DynamicObject`s).
pub mod gateway {
    use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};

    /// The Gateway API's group.
    pub const GROUP: &str = "gateway.networking.k8s.io";

    macro_rules! gateway_resource {
        ($(#[$doc:meta])* $name:ident, $kind:literal, $plural:literal, $scope:ty) => {
            $(#[$doc])*
            pub struct $name;

            impl k8s_openapi::Resource for $name {
                const API_VERSION: &'static str = "gateway.networking.k8s.io/v1";
                const GROUP: &'static str = GROUP;
                const KIND: &'static str = $kind;
                const VERSION: &'static str = "v1";
                const URL_PATH_SEGMENT: &'static str = $plural;
                type Scope = $scope;
            }
        };
    }

    gateway_resource!(
        /// `gateway.networking.k8s.io` GatewayClass.
        GatewayClass,
        "GatewayClass",
        "gatewayclasses",
        ClusterResourceScope
    );
    gateway_resource!(
        /// `gateway.networking.k8s.io` Gateway.
        Gateway,
        "Gateway",
        "gateways",
        NamespaceResourceScope
    );
    gateway_resource!(
        /// `gateway.networking.k8s.io` HTTPRoute.
        HttpRoute,
        "HTTPRoute",
        "httproutes",
        NamespaceResourceScope
    );
}

/// `metrics.k8s.io` resources (metrics-server's resource usage): `k8s_openapi` has
/// no types for them, so these markers carry their identity (the store keeps them
/// as `DynamicObject`s: `containers[].usage` of a PodMetrics, `usage` of a
/// NodeMetrics, with their `timestamp` and `window`).
pub mod metrics {
    use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};

    /// The resource metrics API's group.
    pub const GROUP: &str = "metrics.k8s.io";

    /// The version metrics-server serves.
    pub const VERSION: &str = "v1beta1";

    macro_rules! metrics_resource {
        ($(#[$doc:meta])* $name:ident, $kind:literal, $plural:literal, $scope:ty) => {
            $(#[$doc])*
            pub struct $name;

            impl k8s_openapi::Resource for $name {
                const API_VERSION: &'static str = "metrics.k8s.io/v1beta1";
                const GROUP: &'static str = GROUP;
                const KIND: &'static str = $kind;
                const VERSION: &'static str = VERSION;
                const URL_PATH_SEGMENT: &'static str = $plural;
                type Scope = $scope;
            }
        };
    }

    metrics_resource!(
        /// `metrics.k8s.io` PodMetrics: the containers' cpu and memory usage of one Pod.
        PodMetrics,
        "PodMetrics",
        "pods",
        NamespaceResourceScope
    );
    metrics_resource!(
        /// `metrics.k8s.io` NodeMetrics: the cpu and memory usage of one Node.
        NodeMetrics,
        "NodeMetrics",
        "nodes",
        ClusterResourceScope
    );
}

/// The kind table. Calls `$callback! { rows }`; each row is
///
/// ```text
/// Variant {
///     resource: <k8s_openapi::Resource type: kind, apiVersion, group, plural, scope>,
///     object: <what the store keeps>,
///     read: Full | Metadata | Events | Discovered | Metrics,
///     cli: [<names kubectl accepts, lower case>],     // also a Diagnosis target kind
///     kubectl: "<resource name in suggested commands>", // optional; default: the kind, lower case
///     groups: [<other API groups of the same kind>],  // optional (legacy APIs)
/// }
/// ```
///
/// Row order is [`Kind`]'s order (objects sort by kind in that order).
macro_rules! kind_table {
    ($callback:ident) => {
        $callback! {
            Namespace {
                resource: k8s_openapi::api::core::v1::Namespace,
                object: k8s_openapi::api::core::v1::Namespace,
                read: Full,
                cli: ["ns", "namespace", "namespaces"],
            }
            Node {
                resource: k8s_openapi::api::core::v1::Node,
                object: k8s_openapi::api::core::v1::Node,
                read: Full,
                cli: ["no", "node", "nodes"],
            }
            Pod {
                resource: k8s_openapi::api::core::v1::Pod,
                object: k8s_openapi::api::core::v1::Pod,
                read: Full,
                cli: ["po", "pod", "pods"],
            }
            Deployment {
                resource: k8s_openapi::api::apps::v1::Deployment,
                object: k8s_openapi::api::apps::v1::Deployment,
                read: Full,
                cli: ["deploy", "deployment", "deployments", "deployment.apps"],
            }
            ReplicaSet {
                resource: k8s_openapi::api::apps::v1::ReplicaSet,
                object: k8s_openapi::api::apps::v1::ReplicaSet,
                read: Full,
                cli: ["rs", "replicaset", "replicasets"],
            }
            StatefulSet {
                resource: k8s_openapi::api::apps::v1::StatefulSet,
                object: k8s_openapi::api::apps::v1::StatefulSet,
                read: Full,
                cli: ["sts", "statefulset", "statefulsets"],
            }
            DaemonSet {
                resource: k8s_openapi::api::apps::v1::DaemonSet,
                object: k8s_openapi::api::apps::v1::DaemonSet,
                read: Full,
                cli: ["ds", "daemonset", "daemonsets"],
            }
            ControllerRevision {
                resource: k8s_openapi::api::apps::v1::ControllerRevision,
                object: k8s_openapi::api::apps::v1::ControllerRevision,
                read: Full,
            }
            Job {
                resource: k8s_openapi::api::batch::v1::Job,
                object: k8s_openapi::api::batch::v1::Job,
                read: Full,
                cli: ["job", "jobs"],
            }
            CronJob {
                resource: k8s_openapi::api::batch::v1::CronJob,
                object: k8s_openapi::api::batch::v1::CronJob,
                read: Full,
                cli: ["cj", "cronjob", "cronjobs"],
            }
            Service {
                resource: k8s_openapi::api::core::v1::Service,
                object: k8s_openapi::api::core::v1::Service,
                read: Full,
                cli: ["svc", "service", "services"],
            }
            EndpointSlice {
                resource: k8s_openapi::api::discovery::v1::EndpointSlice,
                object: k8s_openapi::api::discovery::v1::EndpointSlice,
                read: Full,
            }
            Ingress {
                resource: k8s_openapi::api::networking::v1::Ingress,
                object: k8s_openapi::api::networking::v1::Ingress,
                read: Full,
                cli: ["ing", "ingress", "ingresses"],
                groups: ["extensions"],
            }
            IngressClass {
                resource: k8s_openapi::api::networking::v1::IngressClass,
                object: k8s_openapi::api::networking::v1::IngressClass,
                read: Full,
                groups: ["extensions"],
            }
            GatewayClass {
                resource: $crate::kinds::gateway::GatewayClass,
                object: kube::api::DynamicObject,
                read: Discovered,
            }
            Gateway {
                resource: $crate::kinds::gateway::Gateway,
                object: kube::api::DynamicObject,
                read: Discovered,
            }
            HttpRoute {
                resource: $crate::kinds::gateway::HttpRoute,
                object: kube::api::DynamicObject,
                read: Discovered,
                cli: ["httproute", "httproutes"],
                kubectl: "httproute",
            }
            ConfigMap {
                resource: k8s_openapi::api::core::v1::ConfigMap,
                object: k8s_openapi::api::core::v1::ConfigMap,
                read: Full,
            }
            Secret {
                resource: k8s_openapi::api::core::v1::Secret,
                object: k8s_openapi::api::core::v1::Secret,
                read: Metadata,
            }
            ServiceAccount {
                resource: k8s_openapi::api::core::v1::ServiceAccount,
                object: k8s_openapi::api::core::v1::ServiceAccount,
                read: Full,
            }
            PersistentVolumeClaim {
                resource: k8s_openapi::api::core::v1::PersistentVolumeClaim,
                object: k8s_openapi::api::core::v1::PersistentVolumeClaim,
                read: Full,
                cli: ["pvc", "persistentvolumeclaim", "persistentvolumeclaims"],
                kubectl: "pvc",
            }
            PersistentVolume {
                resource: k8s_openapi::api::core::v1::PersistentVolume,
                object: k8s_openapi::api::core::v1::PersistentVolume,
                read: Full,
                kubectl: "pv",
            }
            StorageClass {
                resource: k8s_openapi::api::storage::v1::StorageClass,
                object: k8s_openapi::api::storage::v1::StorageClass,
                read: Full,
            }
            NetworkPolicy {
                resource: k8s_openapi::api::networking::v1::NetworkPolicy,
                object: k8s_openapi::api::networking::v1::NetworkPolicy,
                read: Full,
            }
            HorizontalPodAutoscaler {
                resource: k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler,
                object: k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler,
                read: Full,
                kubectl: "hpa",
            }
            PodDisruptionBudget {
                resource: k8s_openapi::api::policy::v1::PodDisruptionBudget,
                object: k8s_openapi::api::policy::v1::PodDisruptionBudget,
                read: Full,
                kubectl: "pdb",
            }
            ValidatingWebhookConfiguration {
                resource: k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
                object: k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration,
                read: Full,
            }
            MutatingWebhookConfiguration {
                resource: k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
                object: k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration,
                read: Full,
            }
            ResourceQuota {
                resource: k8s_openapi::api::core::v1::ResourceQuota,
                object: k8s_openapi::api::core::v1::ResourceQuota,
                read: Full,
            }
            LimitRange {
                resource: k8s_openapi::api::core::v1::LimitRange,
                object: k8s_openapi::api::core::v1::LimitRange,
                read: Full,
            }
            PodMetrics {
                resource: $crate::kinds::metrics::PodMetrics,
                object: kube::api::DynamicObject,
                read: Metrics,
                kubectl: "podmetrics",
            }
            NodeMetrics {
                resource: $crate::kinds::metrics::NodeMetrics,
                object: kube::api::DynamicObject,
                read: Metrics,
                kubectl: "nodemetrics",
            }
            Event {
                resource: k8s_openapi::api::core::v1::Event,
                object: $crate::event::EventRecord,
                read: Events,
                groups: ["events.k8s.io"],
            }
        }
    };
}
pub(crate) use kind_table;

/// A `k8s_openapi` scope: whether it is namespaced, and the [`Api`] that reads a
/// kind of it (in one namespace, or everywhere).
pub trait Scoped {
    /// `true` for namespaced resources.
    const NAMESPACED: bool;
    /// The API of kind `K` in `namespace` (everywhere when `None`, and always for
    /// cluster-scoped kinds).
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = Self, DynamicType = ()>;
}

impl Scoped for NamespaceResourceScope {
    const NAMESPACED: bool = true;
    fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = Self, DynamicType = ()>,
    {
        match namespace {
            Some(namespace) => Api::namespaced(client, namespace),
            None => Api::all(client),
        }
    }
}

impl Scoped for ClusterResourceScope {
    const NAMESPACED: bool = false;
    fn api<K>(client: Client, _namespace: Option<&str>) -> Api<K>
    where
        K: kube::Resource<Scope = Self, DynamicType = ()>,
    {
        Api::all(client)
    }
}

/// What a typed watch or LIST needs of a kind's object type.
pub trait Listed:
    kube::Resource<DynamicType = (), Scope: Scoped>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
    + Stored
{
}

impl<K> Listed for K where
    K: kube::Resource<DynamicType = (), Scope: Scoped>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static
        + Stored
{
}

/// The API of a typed kind, in `namespace` where the kind is namespaced.
pub fn api<K: Listed>(client: Client, namespace: Option<&str>) -> Api<K> {
    <K::Scope as Scoped>::api(client, namespace)
}

/// Something done once per kind, by how the kind is read: the controller starts a
/// watch, the live reader issues a LIST.
pub trait KindVisitor {
    /// A kind read whole.
    fn full<K: Listed>(&mut self);
    /// A kind read as metadata only (Secrets): its objects are its metadata.
    fn metadata<K: Listed + Default>(&mut self);
    /// core/v1 Events.
    fn events(&mut self);
    /// A kind of the Gateway API, read when the cluster serves it.
    fn discovered(&mut self, kind: Kind);
    /// A kind of `metrics.k8s.io`: LIST only (no watch), when the cluster serves it.
    fn metrics(&mut self, kind: Kind);
}

macro_rules! visit_rows {
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
        /// Calls the visitor once per kind of the table, in table order.
        pub fn visit_kinds(visitor: &mut impl KindVisitor) {
            $( visit_rows!(@row visitor, $variant, $object, $read); )*
        }
    };
    (@row $visitor:ident, $variant:ident, $object:ty, Full) => {
        $visitor.full::<$object>()
    };
    (@row $visitor:ident, $variant:ident, $object:ty, Metadata) => {
        $visitor.metadata::<$object>()
    };
    (@row $visitor:ident, $variant:ident, $object:ty, Events) => {
        $visitor.events()
    };
    (@row $visitor:ident, $variant:ident, $object:ty, Discovered) => {
        $visitor.discovered(Kind::$variant)
    };
    (@row $visitor:ident, $variant:ident, $object:ty, Metrics) => {
        $visitor.metrics(Kind::$variant)
    };
}

kind_table!(visit_rows);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TargetKind;

    #[test]
    fn every_kind_is_found_by_its_api_name_and_its_kubectl_names() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_api_kind(kind.name()), Some(kind));
            for name in kind.cli_names() {
                assert_eq!(Kind::parse_cli(name), Some(kind), "{name}");
                assert_eq!(Kind::parse_cli(&name.to_ascii_uppercase()), Some(kind));
            }
            assert_eq!(kind.group().is_empty(), !kind.api_version().contains('/'));
        }
        assert_eq!(Kind::parse_cli("deployment.apps"), Some(Kind::Deployment));
        assert_eq!(Kind::parse_cli("configmap"), None);
    }

    #[test]
    fn target_kinds_map_both_ways() {
        let targets: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| k.to_target().is_some())
            .collect();
        assert_eq!(targets.len(), 13);
        for kind in targets {
            let target = kind.to_target().unwrap();
            assert_eq!(Kind::from_target(target), kind);
            assert!(
                !kind.cli_names().is_empty(),
                "{kind} is a target kubectl can name"
            );
        }
        assert_eq!(Kind::from_target(TargetKind::HttpRoute).name(), "HTTPRoute");
    }

    #[test]
    fn api_versions_match_their_group_and_legacy_groups() {
        assert!(Kind::Ingress.api_version_matches("networking.k8s.io/v1"));
        assert!(Kind::Ingress.api_version_matches("extensions/v1beta1"));
        assert!(Kind::Event.api_version_matches("events.k8s.io/v1"));
        assert!(Kind::Event.api_version_matches("v1"));
        assert!(Kind::HorizontalPodAutoscaler.api_version_matches("autoscaling/v1"));
        assert!(Kind::Gateway.api_version_matches("gateway.networking.k8s.io/v1beta1"));
        assert!(!Kind::Gateway.api_version_matches("networking.istio.io/v1"));
        assert!(!Kind::Deployment.api_version_matches("v1"));
        assert!(Kind::Deployment.api_version_matches(""));
    }

    #[test]
    fn scopes_come_from_the_resources() {
        let cluster: Vec<Kind> = Kind::ALL.into_iter().filter(|k| !k.namespaced()).collect();
        assert_eq!(
            cluster,
            [
                Kind::Namespace,
                Kind::Node,
                Kind::IngressClass,
                Kind::GatewayClass,
                Kind::PersistentVolume,
                Kind::StorageClass,
                Kind::ValidatingWebhookConfiguration,
                Kind::MutatingWebhookConfiguration,
                Kind::NodeMetrics
            ]
        );
        assert_eq!(Kind::Secret.read(), Read::Metadata);
        assert_eq!(Kind::PodMetrics.read(), Read::Metrics);
        assert!(Kind::PodMetrics.api_version_matches("metrics.k8s.io/v1beta1"));
        assert!(!Kind::PodMetrics.api_version_matches("custom.metrics.k8s.io/v1beta1"));
        assert_eq!(Kind::Event.read(), Read::Events);
    }
}
