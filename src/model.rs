//! Kinds the engine understands and references to objects of those kinds.

use std::fmt;

use crate::api::{ObjectReference, TargetKind};

/// Every kind the object graph reads. Kinds not listed here are ignored when loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Namespace,
    Node,
    Pod,
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    Service,
    EndpointSlice,
    Ingress,
    IngressClass,
    GatewayClass,
    Gateway,
    HttpRoute,
    ConfigMap,
    Secret,
    ServiceAccount,
    PersistentVolumeClaim,
    PersistentVolume,
    StorageClass,
    NetworkPolicy,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    ResourceQuota,
    LimitRange,
    Event,
}

impl Kind {
    pub const ALL: [Kind; 28] = [
        Kind::Namespace,
        Kind::Node,
        Kind::Pod,
        Kind::Deployment,
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
        Kind::CronJob,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::Ingress,
        Kind::IngressClass,
        Kind::GatewayClass,
        Kind::Gateway,
        Kind::HttpRoute,
        Kind::ConfigMap,
        Kind::Secret,
        Kind::ServiceAccount,
        Kind::PersistentVolumeClaim,
        Kind::PersistentVolume,
        Kind::StorageClass,
        Kind::NetworkPolicy,
        Kind::HorizontalPodAutoscaler,
        Kind::PodDisruptionBudget,
        Kind::ResourceQuota,
        Kind::LimitRange,
        Kind::Event,
    ];

    /// The API kind name (`Deployment`, `HTTPRoute`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Node => "Node",
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::ReplicaSet => "ReplicaSet",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
            Kind::CronJob => "CronJob",
            Kind::Service => "Service",
            Kind::EndpointSlice => "EndpointSlice",
            Kind::Ingress => "Ingress",
            Kind::IngressClass => "IngressClass",
            Kind::GatewayClass => "GatewayClass",
            Kind::Gateway => "Gateway",
            Kind::HttpRoute => "HTTPRoute",
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
            Kind::ServiceAccount => "ServiceAccount",
            Kind::PersistentVolumeClaim => "PersistentVolumeClaim",
            Kind::PersistentVolume => "PersistentVolume",
            Kind::StorageClass => "StorageClass",
            Kind::NetworkPolicy => "NetworkPolicy",
            Kind::HorizontalPodAutoscaler => "HorizontalPodAutoscaler",
            Kind::PodDisruptionBudget => "PodDisruptionBudget",
            Kind::ResourceQuota => "ResourceQuota",
            Kind::LimitRange => "LimitRange",
            Kind::Event => "Event",
        }
    }

    /// The preferred apiVersion of the kind.
    pub fn api_version(self) -> &'static str {
        match self {
            Kind::Deployment | Kind::ReplicaSet | Kind::StatefulSet | Kind::DaemonSet => "apps/v1",
            Kind::Job | Kind::CronJob => "batch/v1",
            Kind::EndpointSlice => "discovery.k8s.io/v1",
            Kind::Ingress | Kind::IngressClass | Kind::NetworkPolicy => "networking.k8s.io/v1",
            Kind::GatewayClass | Kind::Gateway | Kind::HttpRoute => "gateway.networking.k8s.io/v1",
            Kind::StorageClass => "storage.k8s.io/v1",
            Kind::HorizontalPodAutoscaler => "autoscaling/v2",
            Kind::PodDisruptionBudget => "policy/v1",
            _ => "v1",
        }
    }

    /// The API group of the kind ("" for core).
    pub fn group(self) -> &'static str {
        match self.api_version().rsplit_once('/') {
            Some((g, _)) => g,
            None => "",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Node => "nodes",
            Kind::Pod => "pods",
            Kind::Deployment => "deployments",
            Kind::ReplicaSet => "replicasets",
            Kind::StatefulSet => "statefulsets",
            Kind::DaemonSet => "daemonsets",
            Kind::Job => "jobs",
            Kind::CronJob => "cronjobs",
            Kind::Service => "services",
            Kind::EndpointSlice => "endpointslices",
            Kind::Ingress => "ingresses",
            Kind::IngressClass => "ingressclasses",
            Kind::GatewayClass => "gatewayclasses",
            Kind::Gateway => "gateways",
            Kind::HttpRoute => "httproutes",
            Kind::ConfigMap => "configmaps",
            Kind::Secret => "secrets",
            Kind::ServiceAccount => "serviceaccounts",
            Kind::PersistentVolumeClaim => "persistentvolumeclaims",
            Kind::PersistentVolume => "persistentvolumes",
            Kind::StorageClass => "storageclasses",
            Kind::NetworkPolicy => "networkpolicies",
            Kind::HorizontalPodAutoscaler => "horizontalpodautoscalers",
            Kind::PodDisruptionBudget => "poddisruptionbudgets",
            Kind::ResourceQuota => "resourcequotas",
            Kind::LimitRange => "limitranges",
            Kind::Event => "events",
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace
                | Kind::Node
                | Kind::PersistentVolume
                | Kind::StorageClass
                | Kind::IngressClass
                | Kind::GatewayClass
        )
    }

    /// Looks a kind up by its API kind name (case-sensitive as the API writes it).
    pub fn from_api_kind(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == kind)
    }

    /// Parses kubectl's names and short names, any case (docs/reference.md, "Targets").
    pub fn parse_cli(s: &str) -> Option<Kind> {
        let l = s.to_ascii_lowercase();
        let k = match l.as_str() {
            "deploy" | "deployment" | "deployments" | "deployment.apps" => Kind::Deployment,
            "sts" | "statefulset" | "statefulsets" => Kind::StatefulSet,
            "ds" | "daemonset" | "daemonsets" => Kind::DaemonSet,
            "rs" | "replicaset" | "replicasets" => Kind::ReplicaSet,
            "po" | "pod" | "pods" => Kind::Pod,
            "svc" | "service" | "services" => Kind::Service,
            "ing" | "ingress" | "ingresses" => Kind::Ingress,
            "pvc" | "persistentvolumeclaim" | "persistentvolumeclaims" => {
                Kind::PersistentVolumeClaim
            }
            "no" | "node" | "nodes" => Kind::Node,
            "ns" | "namespace" | "namespaces" => Kind::Namespace,
            "job" | "jobs" => Kind::Job,
            "cj" | "cronjob" | "cronjobs" => Kind::CronJob,
            "httproute" | "httproutes" => Kind::HttpRoute,
            _ => return None,
        };
        Some(k)
    }

    pub fn from_target(t: TargetKind) -> Kind {
        match t {
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

    pub fn to_target(self) -> Option<TargetKind> {
        Some(match self {
            Kind::Deployment => TargetKind::Deployment,
            Kind::StatefulSet => TargetKind::StatefulSet,
            Kind::DaemonSet => TargetKind::DaemonSet,
            Kind::ReplicaSet => TargetKind::ReplicaSet,
            Kind::Job => TargetKind::Job,
            Kind::CronJob => TargetKind::CronJob,
            Kind::Pod => TargetKind::Pod,
            Kind::Service => TargetKind::Service,
            Kind::Ingress => TargetKind::Ingress,
            Kind::HttpRoute => TargetKind::HttpRoute,
            Kind::PersistentVolumeClaim => TargetKind::PersistentVolumeClaim,
            Kind::Node => TargetKind::Node,
            Kind::Namespace => TargetKind::Namespace,
            _ => return None,
        })
    }

    /// kubectl's resource name for commands in remediation steps.
    pub fn kubectl_name(self) -> &'static str {
        match self {
            Kind::HttpRoute => "httproute",
            Kind::HorizontalPodAutoscaler => "hpa",
            Kind::PodDisruptionBudget => "pdb",
            Kind::PersistentVolumeClaim => "pvc",
            Kind::PersistentVolume => "pv",
            _ => "",
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
        let k = match self.kind.kubectl_name() {
            "" => self.kind.name().to_ascii_lowercase(),
            s => s.to_owned(),
        };
        format!("{}/{}", k, self.name)
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
