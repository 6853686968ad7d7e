//! The `Diagnosis` custom resource: spec, status and findings.
//!
//! The CRD YAML under `crds/` is generated from these types (`kubedx crd`), and so
//! are the field tables of docs/reference.md: the doc comments here are the
//! descriptions `kubectl explain` shows.

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
    /// Rule sets to evaluate. Default: every rule set. An empty list is refused (phase Error, reason InvalidSpec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_sets: Option<Vec<RuleSetName>>,
    /// Continuous: re-diagnose whenever an object of the graph changes (and every 5 minutes). Once: diagnose each new spec generation, then stay put. Default: Continuous.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = optional_enum)]
    pub mode: Option<Mode>,
    /// Drop findings below this severity. Default: Info (keep every finding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(transform = optional_enum)]
    pub min_severity: Option<Severity>,
    /// Rule ids to leave out (`kubedx rules` lists them); an unknown id is refused (phase Error, reason InvalidSpec). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Vec<String>>,
    /// The image digest each named container must be running (rule ImageDigestMismatch); a container named twice is refused (phase Error, reason InvalidSpec). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_images: Option<Vec<ExpectedImage>>,
    /// The logs of failing containers as evidence. Default: off, as logs can hold secrets; read only when the controller runs with --allow-logs (the Logs condition says what happened).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogsSpec>,
    /// Also publish the Diagnosis' Events on the target object. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_on_target: Option<bool>,
}

/// The schema of an optional enum field: a plain `type: string` enum, not nullable.
/// The apiserver refuses an explicit `null` for a nullable enum whatever its `enum`
/// lists; a null in a field that is not nullable is dropped instead, so `mode: null`
/// means "absent" (the default), as it does for the Rust types.
fn optional_enum(schema: &mut schemars::Schema) {
    use serde_json::Value;
    let Some(fields) = schema.as_object_mut() else {
        return;
    };
    fields.remove("nullable");
    if let Some(Value::Array(values)) = fields.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    if let Some(Value::Array(types)) = fields.get("type") {
        let types: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let merged = match types.as_slice() {
            [one] => one.clone(),
            _ => Value::Array(types),
        };
        fields.insert("type".to_owned(), merged);
    }
}

/// The target of a diagnosis.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// The kind of the target.
    pub kind: TargetKind,
    /// The name of the target.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// The namespace of the target; unused for Node and Namespace targets. Default: the Diagnosis' own namespace.
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

/// A rule set: a family of rules (`kubedx rules` lists the rules of each).
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

/// When a diagnosis re-runs.
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
    /// The container's name, in the Pods of the target's graph.
    pub container: String,
    /// The image digest it must run: sha256 and 64 lowercase hex digits.
    #[schemars(regex(pattern = r"^sha256:[a-f0-9]{64}$"))]
    pub digest: String,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogsSpec {
    /// Read the logs of the graph's failing containers.
    #[serde(default)]
    pub enabled: bool,
    /// Lines read from the end of each log. Default: 50.
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
    /// Pending until first diagnosed; Healthy: no Warning or Critical finding; Degraded: at least one; Error: the spec was refused (the Ready condition says why).
    #[serde(default)]
    pub phase: Phase,
    /// The metadata.generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the diagnosis ran (RFC 3339): the time age-based rules compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_diagnosed_time: Option<String>,
    /// Ready (True once this generation is diagnosed), Healthy (True when no Warning or Critical finding is active) and, when spec.logs is enabled, Logs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// `kind/name` of the target, for the printer column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<String>,
    /// Counts of the findings and of what was examined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Summary>,
    /// The answer to "what is wrong": the message of the first finding when it is Warning or Critical (at most 256 bytes), or why the spec was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_cause: Option<String>,
    /// The findings, most important first: the root causes, then the findings they explain; within each, Critical before Warning before Info, and those explaining the most first. At most 100 (and 160 KiB).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// Recent events and changes of the graph's objects, oldest first; the newest 60.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
    /// What changed: the changes of the graph's objects the diagnosis can see (workload revisions, objects created, and in the controller the changes it observed), newest first, those touching the root cause's objects first; at most 20.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

/// One change of an object of the graph.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// When it happened (RFC 3339): a revision's creation, an object's creation, when the controller observed the change, or (offline) the last write of the changed fields that the object's managedFields record.
    pub time: String,
    /// The object that changed (for a workload revision, its ReplicaSet or ControllerRevision).
    pub object: ObjectReference,
    /// The workload revision the change made, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The revision it is compared with: the last healthy one, else the one before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<i64>,
    /// What changed, in one line; at most 512 bytes.
    pub summary: String,
    /// The changed fields. Values of ConfigMaps and Secrets never appear: their keys do, with a hash of the value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// The ids of the findings whose broken edge this change introduced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<String>,
}

/// One changed field of a [`Change`].
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FieldChange {
    /// The field, e.g. `spec.containers[app].envFrom[0].configMapRef.name`.
    pub path: String,
    /// The value before; absent when the field was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The value after; absent when the field was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Critical findings.
    pub critical: u32,
    /// Warning findings.
    pub warning: u32,
    /// Info findings.
    pub info: u32,
    /// Objects in the target's object graph.
    pub objects_examined: u32,
    /// Rules evaluated: those of the enabled rule sets (the logs rules only when logs were read), less the suppressed ones.
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
    /// The apiVersion of the object's kind, e.g. apps/v1.
    pub api_version: String,
    /// The object's kind, e.g. Deployment.
    pub kind: String,
    /// The object's namespace; absent for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The object's name.
    pub name: String,
}

/// One finding: a rule that fired on an object, with its evidence and the safest next steps.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// The finding's id (f- and 8 hex digits): stable for the same rule on the same object across runs.
    pub id: String,
    /// The rule that fired: an id of the rule catalog (`kubedx rules`).
    pub rule_id: String,
    /// The rule set of the rule.
    pub rule_set: RuleSetName,
    /// The finding's severity: Info, Warning or Critical.
    pub severity: Severity,
    /// The layer of the debugging stack the finding belongs to.
    pub layer: Layer,
    /// The object the finding is about.
    pub object: ObjectReference,
    /// The broken edge of the object graph, e.g. "Service -> Pod".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    /// The alike objects the finding covers, when it covers more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected: Option<Affected>,
    /// What is wrong, in one line.
    pub message: String,
    /// The fields, events and log lines that prove it; at most 12 lines.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// The safest next steps.
    pub remediation: Remediation,
    /// True when no other finding explains this one and it is not a hygiene note (ImageTagMutable, NoResourceRequests, NoMemoryLimit, MissingStartupProbe) that explains no other finding.
    #[serde(default)]
    pub root_cause: bool,
    /// The ids of the findings that explain this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caused_by: Vec<String>,
    /// When the finding was first seen (RFC 3339): the earliest time its evidence shows, else (in the controller) the first diagnosis that found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
    /// When the finding was last seen (RFC 3339): the latest time its evidence shows, else (in the controller) the last diagnosis that found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
}

/// Many alike objects covered by one finding.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Affected {
    /// How many objects.
    pub count: u32,
    /// The names of the first 5.
    #[serde(default)]
    pub sample: Vec<String>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Remediation {
    /// The fix, in one line.
    pub summary: String,
    /// Ordered from least to most risky.
    #[serde(default)]
    pub steps: Vec<RemediationStep>,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationStep {
    /// What to do.
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
    /// When it happened (RFC 3339).
    pub time: String,
    /// Normal or Warning (an event), or Change (a change of the object).
    #[serde(rename = "type")]
    pub type_: String,
    /// The object it happened to.
    pub object: ObjectReference,
    /// The event's reason, or the change: ReplicaSetCreated, PodStarted, ContainerTerminated, TemplateChanged (a workload revision), ObjectCreated, ObjectChanged or ObjectDeleted (an entry of `changes`); at most 128 bytes.
    pub reason: String,
    /// The event's message, or what changed; at most 512 bytes.
    pub message: String,
    /// How many times the event occurred (events only).
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

    pub fn parse(text: &str) -> Option<RuleSetName> {
        RuleSetName::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(text.trim()))
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
