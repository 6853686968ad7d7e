//! The `Diagnosis` custom resource (contract.md §1): spec, status and findings.
//!
//! The CRD YAML under `crds/` is generated from these types (`kubedx crd`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What to diagnose and how.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kubedx.io",
    version = "v1alpha1",
    kind = "Diagnosis",
    plural = "diagnoses",
    singular = "diagnosis",
    shortname = "dx",
    doc = "A diagnosis of one target: kubedx walks the target's object graph and reports its findings, their root cause and safe next steps.",
    namespaced,
    status = "DiagnosisStatus",
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".status.targetRef","description":"kind/name of the target"}"#,
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"Critical","type":"integer","jsonPath":".status.summary.critical"}"#,
    printcolumn = r#"{"name":"Warning","type":"integer","jsonPath":".status.summary.warning"}"#,
    printcolumn = r#"{"name":"Root Cause","type":"string","jsonPath":".status.rootCause","priority":0}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisSpec {
    /// The object whose graph is diagnosed.
    pub target: TargetRef,
    /// Rule sets to evaluate; all of them when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_sets: Option<Vec<RuleSetName>>,
    /// Continuous (default): re-diagnose whenever the object graph changes. Once: diagnose each new spec generation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = optional_enum)]
    pub mode: Option<Mode>,
    /// Drop findings below this severity (default Info).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = optional_enum)]
    pub min_severity: Option<Severity>,
    /// Rule ids to leave out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Vec<String>>,
    /// The image digest each container must be running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_images: Option<Vec<ExpectedImage>>,
    /// Container logs as evidence (off by default: logs can hold secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsSpec>,
    /// Also publish events on the target object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_on_target: Option<bool>,
}

/// The schema of an optional enum field: a plain `type: string` enum, not nullable.
/// The apiserver refuses an explicit `null` for a nullable enum whatever its `enum`
/// lists; a null in a field that is not nullable is dropped instead, so `mode: null`
/// means "absent" (the default), as it does for the Rust types.
fn optional_enum(schema: &mut schemars::Schema) {
    use serde_json::Value;
    let Some(o) = schema.as_object_mut() else {
        return;
    };
    o.remove("nullable");
    if let Some(Value::Array(values)) = o.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::Array(types)) = o.get("type") {
        let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let t = match types.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(types),
        };
        o.insert("type".to_owned(), t);
    }
}

/// The target of a diagnosis.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    pub kind: TargetKind,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Defaults to the Diagnosis' own namespace; unused for Node and Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Kinds a diagnosis can target.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum TargetKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
    Pod,
    Service,
    Ingress,
    #[serde(rename = "HTTPRoute")]
    HttpRoute,
    PersistentVolumeClaim,
    Node,
    Namespace,
}

/// Rule set names of rules.md.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleSetName {
    Workload,
    Scheduling,
    Rollout,
    Networking,
    Storage,
    Node,
    Resources,
    Events,
    Diagnosis,
    Logs,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum Mode {
    #[default]
    Continuous,
    Once,
}

/// Severity of a finding; ordered Info < Warning < Critical.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The layer of the debugging stack a finding belongs to.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Layer {
    TrafficEntry,
    ServiceDiscovery,
    Controller,
    Pod,
    Container,
    Node,
    Network,
    Storage,
    Resource,
    ControlPlane,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExpectedImage {
    pub container: String,
    #[schemars(regex(pattern = r"^sha256:[a-f0-9]{64}$"))]
    pub digest: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsSpec {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub tail_lines: Option<i64>,
}

/// Phase of a diagnosis.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum Phase {
    #[default]
    Pending,
    Healthy,
    Degraded,
    Error,
}

/// The observed state of a diagnosis (also the `status` of `-o json`).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisStatus {
    #[serde(default)]
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_diagnosed_time: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// `kind/name` of the target, for the printer column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// Short text of the top root cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub critical: u32,
    pub warning: u32,
    pub info: u32,
    pub objects_examined: u32,
    pub rules_evaluated: u32,
    /// Set when findings, evidence or the timeline were cut to stay within bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// A reference to an object in the cluster.
#[derive(
    Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

/// One finding: a rule that fired on an object, with its evidence and the safest next steps.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable for the same rule on the same object across runs.
    pub id: String,
    pub rule_id: String,
    pub rule_set: RuleSetName,
    pub severity: Severity,
    pub layer: Layer,
    pub object: ObjectReference,
    /// The broken edge of the object graph, e.g. "Service -> Pod".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected: Option<Affected>,
    pub message: String,
    #[serde(default)]
    pub evidence: Vec<String>,
    pub remediation: Remediation,
    #[serde(default)]
    pub root_cause: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caused_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// Many alike objects covered by one finding.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Affected {
    pub count: u32,
    #[serde(default)]
    pub sample: Vec<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    pub summary: String,
    /// Ordered from least to most risky.
    #[serde(default)]
    pub steps: Vec<RemediationStep>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStep {
    pub description: String,
    /// A suggestion for a person; kubedx itself never mutates the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    pub risk: Risk,
}

/// How risky a remediation step is; ordered ReadOnly < Reversible < Disruptive < Destructive.
#[derive(
    Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum Risk {
    ReadOnly,
    Reversible,
    Disruptive,
    Destructive,
}

/// One entry of the timeline: an event or a change of an object in the graph.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub time: String,
    /// Normal | Warning | Change
    #[serde(rename = "type")]
    pub type_: String,
    pub object: ObjectReference,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i32>,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "Info",
            Severity::Warning => "Warning",
            Severity::Critical => "Critical",
        }
    }
}

impl RuleSetName {
    pub const ALL: [RuleSetName; 10] = [
        RuleSetName::Workload,
        RuleSetName::Scheduling,
        RuleSetName::Rollout,
        RuleSetName::Networking,
        RuleSetName::Storage,
        RuleSetName::Node,
        RuleSetName::Resources,
        RuleSetName::Events,
        RuleSetName::Diagnosis,
        RuleSetName::Logs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleSetName::Workload => "workload",
            RuleSetName::Scheduling => "scheduling",
            RuleSetName::Rollout => "rollout",
            RuleSetName::Networking => "networking",
            RuleSetName::Storage => "storage",
            RuleSetName::Node => "node",
            RuleSetName::Resources => "resources",
            RuleSetName::Events => "events",
            RuleSetName::Diagnosis => "diagnosis",
            RuleSetName::Logs => "logs",
        }
    }

    pub fn parse(s: &str) -> Option<RuleSetName> {
        RuleSetName::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::TrafficEntry => "TrafficEntry",
            Layer::ServiceDiscovery => "ServiceDiscovery",
            Layer::Controller => "Controller",
            Layer::Pod => "Pod",
            Layer::Container => "Container",
            Layer::Node => "Node",
            Layer::Network => "Network",
            Layer::Storage => "Storage",
            Layer::Resource => "Resource",
            Layer::ControlPlane => "ControlPlane",
        }
    }
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::ReadOnly => "ReadOnly",
            Risk::Reversible => "Reversible",
            Risk::Disruptive => "Disruptive",
            Risk::Destructive => "Destructive",
        }
    }
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Healthy => "Healthy",
            Phase::Degraded => "Degraded",
            Phase::Error => "Error",
        }
    }
}
