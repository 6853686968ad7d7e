//! The rule catalog: every rule with its stable id, rule set, default severity,
//! layer, what it detects and which findings it explains — one table, [`rules!`]
//! below. The table defines the [`RuleId`] enum and [`CATALOG`] together, so an id
//! is a type the compiler checks: `Draft::new(RuleId::ConfigMapNotFound, ...)`.
//! The ids' spellings (`RuleId`'s `Display`/`FromStr`) are what the Diagnosis
//! status, the Events, the metrics and the CLI show; they never change.
//!
//! Adding a rule: one row here, the family code that emits it, and a test.

use std::fmt;
use std::str::FromStr;

use crate::api::{Layer, RuleSetName, Severity};

/// Static description of one rule.
#[derive(Debug)]
pub struct RuleMeta {
    /// The rule's stable id.
    pub id: RuleId,
    /// The rule set it belongs to (`spec.ruleSets`, `--rule-sets`).
    pub set: RuleSetName,
    /// Its default severity (a rule may report a healed problem as Info).
    pub severity: Severity,
    /// The layer of the stack its findings are about.
    pub layer: Layer,
    /// What the rule detects, in one line.
    pub summary: &'static str,
    /// The findings this rule's finding explains (correlation links a cause to a
    /// symptom only along these, and only when their objects are connected).
    pub explains: &'static [Explains],
}

/// Marks a symptom finding for conditional explanations: a cause may explain a
/// symptom only when it carries the tag (a readiness failure that is a DNS error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tag {
    /// The failure is a name-resolution failure.
    Dns,
    /// The autoscaler cannot compute utilization because a container has no request
    /// for the metric's resource.
    MissingRequest,
}

impl Tag {
    /// The tag as the catalog writes it after `#`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Tag::Dns => "dns",
            Tag::MissingRequest => "missing-request",
        }
    }
}

/// One entry of a rule's `explains` list: a rule whose findings it explains, and
/// optionally the tag those findings must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explains {
    /// The explained rule.
    pub rule: RuleId,
    /// Only findings carrying this tag are explained.
    pub when: Option<Tag>,
}

impl Explains {
    /// Whether a finding of `rule` carrying `tags` is explained by this entry.
    pub fn covers(&self, rule: RuleId, tags: &[Tag]) -> bool {
        self.rule == rule && self.when.is_none_or(|tag| tags.contains(&tag))
    }
}

/// `Id` or `Id#tag`, as `kubedx rules` prints it.
impl fmt::Display for Explains {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.when {
            Some(tag) => write!(f, "{}#{}", self.rule, tag.as_str()),
            None => f.write_str(self.rule.as_str()),
        }
    }
}

/// `explains![PodNotReady, ReadinessProbeFailing when Dns]`: a `&[Explains]`.
macro_rules! explains {
    ($($rule:ident $(when $tag:ident)?),* $(,)?) => {
        &[$(Explains { rule: RuleId::$rule, when: explains!(@tag $($tag)?) }),*]
    };
    (@tag) => { None };
    (@tag $tag:ident) => { Some(Tag::$tag) };
}

/// The catalog table: defines [`RuleId`] (variants in table order) and [`CATALOG`]
/// (one [`RuleMeta`] per variant, at the variant's index).
macro_rules! rules {
    ($(
        $id:ident {
            set: $set:ident,
            severity: $severity:ident,
            layer: $layer:ident,
            summary: $summary:literal,
            explains: $explains:expr,
        }
    )*) => {
        /// The stable id of a rule. Its order is the catalog's order, which is also
        /// the order correlation breaks ties in.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleId {
            $(
                #[doc = $summary]
                $id,
            )*
        }

        impl RuleId {
            /// Every rule id, in catalog order.
            pub const ALL: &[RuleId] = &[$(RuleId::$id),*];

            /// The id as the status, the Events, the metrics and the CLI write it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(RuleId::$id => stringify!($id),)*
                }
            }
        }

        /// Every rule, in catalog order: `CATALOG[id as usize].id == id`.
        pub static CATALOG: &[RuleMeta] = &[$(
            RuleMeta {
                id: RuleId::$id,
                set: RuleSetName::$set,
                severity: Severity::$severity,
                layer: Layer::$layer,
                summary: $summary,
                explains: $explains,
            },
        )*];
    };
}

impl RuleId {
    /// The rule's catalog entry.
    pub fn meta(self) -> &'static RuleMeta {
        &CATALOG[self as usize]
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A string that names no rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule id {0:?}")]
pub struct UnknownRuleId(pub String);

impl FromStr for RuleId {
    type Err = UnknownRuleId;
    fn from_str(text: &str) -> Result<RuleId, UnknownRuleId> {
        RuleId::ALL
            .iter()
            .copied()
            .find(|id| id.as_str() == text)
            .ok_or_else(|| UnknownRuleId(text.to_owned()))
    }
}

/// What a Pod that cannot start or serve explains upward.
const POD_DOWN: &[Explains] = explains![
    PodNotReady,
    ReplicasUnavailable,
    RolloutStuck,
    DaemonSetPodsUnavailable,
    ServiceNoReadyEndpoints,
    ServiceSingleEndpoint,
    JobFailed,
    CronJobFailing,
    HighRestartCount,
    PDBBlocksDisruption,
];

const CRASH: &[Explains] = explains![
    ContainerCrashing,
    HighRestartCount,
    PodNotReady,
    ReplicasUnavailable,
    RolloutStuck,
    DaemonSetPodsUnavailable,
    ServiceNoReadyEndpoints,
    ServiceSingleEndpoint,
    JobFailed,
    CronJobFailing,
    LivenessProbeFailing,
    ReadinessProbeFailing,
    StartupProbeFailing,
];

const MISSING_REF: &[Explains] = explains![
    CreateContainerConfigError,
    VolumeMountFailed,
    ContainerCrashing,
    PodNotReady,
    ReplicasUnavailable,
    RolloutStuck,
    DaemonSetPodsUnavailable,
    ServiceNoReadyEndpoints,
    ServiceSingleEndpoint,
    JobFailed,
    CronJobFailing,
    IngressTLSSecretNotFound,
];

const PENDING: &[Explains] = explains![
    FailedScheduling,
    PodNotReady,
    ReplicasUnavailable,
    RolloutStuck,
    DaemonSetPodsUnavailable,
    ServiceNoReadyEndpoints,
    ServiceSingleEndpoint,
    JobFailed,
    SchedulerNotRunning,
];

const CREATE_FAILED: &[Explains] = explains![
    ReplicaSetCreateFailed,
    ReplicasUnavailable,
    RolloutStuck,
    DaemonSetPodsUnavailable,
    ServiceSelectorMatchesNoPods,
    ServiceNoReadyEndpoints,
    JobFailed,
    CronJobFailing,
];

const NODE_DOWN: &[Explains] = explains![
    PodNotReady,
    PodStuckTerminating,
    ReplicasUnavailable,
    RolloutStuck,
    DaemonSetPodsUnavailable,
    ServiceNoReadyEndpoints,
    ServiceSingleEndpoint,
    ReadinessProbeFailing,
    LivenessProbeFailing,
    ContainerCrashing,
    HighRestartCount,
    PodSandboxCreationFailed,
    VolumeMountFailed,
    ClusterDNSUnavailable,
    UntoleratedTaint,
];

const DNS_FAILURE: &[Explains] = explains![
    ReadinessProbeFailing when Dns,
    LivenessProbeFailing when Dns,
    StartupProbeFailing when Dns,
    LogsDNSResolutionFailure,
    ContainerCrashing when Dns,
];

const STORAGE_PENDING: &[Explains] = explains![
    PVCPending,
    UnboundPersistentVolumeClaim,
    FailedScheduling,
    VolumeMountFailed,
    PodNotReady,
    ReplicasUnavailable,
    RolloutStuck,
    ServiceNoReadyEndpoints,
    ServiceSingleEndpoint,
];

rules! {
    // ---- workload ----
    ImagePullNotFound {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The image or tag does not exist in the registry (manifest unknown / not found).",
        explains: POD_DOWN,
    }
    ImagePullUnauthorized {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The registry refused the pull: missing or wrong credentials (imagePullSecrets, workload identity).",
        explains: POD_DOWN,
    }
    ImagePullNetworkError {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The node cannot reach the registry (i/o timeout, dial tcp, no such host, x509).",
        explains: POD_DOWN,
    }
    ImagePullRateLimited {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The registry rate-limits the pulls (HTTP 429, toomanyrequests): authenticate, mirror or cache them.",
        explains: POD_DOWN,
    }
    ImagePlatformMismatch {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The image is not for the node's CPU architecture or OS: no match for platform in manifest at pull, exec format error at start.",
        explains: POD_DOWN,
    }
    ImagePullBackOff {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "An image pull failure whose message matches no known cause.",
        explains: POD_DOWN,
    }
    InvalidImageName {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The image reference cannot be parsed.",
        explains: POD_DOWN,
    }
    ContainerOOMKilled {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The container was killed for exceeding its memory limit (OOMKilled, exit 137).",
        explains: CRASH,
    }
    ContainerExitedZero {
        set: Workload,
        severity: Warning,
        layer: Container,
        summary: "A container exits 0 and is restarted under restartPolicy Always: a batch program run as a long-running workload.",
        explains: CRASH,
    }
    ContainerCommandNotFound {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The container's command does not exist in the image (exit 127, executable file not found).",
        explains: CRASH,
    }
    ContainerCommandNotExecutable {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The container's command is not executable (exit 126, permission denied).",
        explains: CRASH,
    }
    ContainerCrashing {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The container keeps exiting with a non-zero code (CrashLoopBackOff).",
        explains: POD_DOWN,
    }
    CreateContainerConfigError {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The kubelet cannot build the container's configuration.",
        explains: POD_DOWN,
    }
    ContainerCreateFailed {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The container runtime cannot create or start the container (CreateContainerError, RunContainerError, StartError): no command, a mount or subPath, a cgroup, a reserved name; the runtime's message quoted.",
        explains: POD_DOWN,
    }
    ConfigMapNotFound {
        set: Workload,
        severity: Critical,
        layer: Pod,
        summary: "A ConfigMap the Pod needs (env, envFrom, volume, projected; not optional) does not exist.",
        explains: MISSING_REF,
    }
    ConfigMapKeyNotFound {
        set: Workload,
        severity: Critical,
        layer: Pod,
        summary: "A key the Pod needs is absent from an existing ConfigMap.",
        explains: MISSING_REF,
    }
    SecretNotFound {
        set: Workload,
        severity: Critical,
        layer: Pod,
        summary: "A Secret the Pod needs (env, envFrom, volume, projected, imagePullSecrets, Ingress TLS) does not exist.",
        explains: explains![
            CreateContainerConfigError,
            VolumeMountFailed,
            ContainerCrashing,
            PodNotReady,
            ReplicasUnavailable,
            RolloutStuck,
            DaemonSetPodsUnavailable,
            ServiceNoReadyEndpoints,
            ServiceSingleEndpoint,
            JobFailed,
            CronJobFailing,
            IngressTLSSecretNotFound,
            ImagePullUnauthorized,
        ],
    }
    SecretKeyNotFound {
        set: Workload,
        severity: Critical,
        layer: Pod,
        summary: "A key the Pod needs is absent from an existing Secret.",
        explains: MISSING_REF,
    }
    SecretUnverified {
        set: Workload,
        severity: Info,
        layer: Pod,
        summary: "A Secret a stuck Pod or an Ingress's TLS needs could not be verified: kubedx may not read Secrets there or the input holds none, and the kubelet says nothing about it.",
        explains: explains![],
    }
    ServiceAccountNotFound {
        set: Workload,
        severity: Critical,
        layer: Pod,
        summary: "The Pod template's serviceAccountName does not exist, so no Pod can be created.",
        explains: CREATE_FAILED,
    }
    LivenessProbeFailing {
        set: Workload,
        severity: Warning,
        layer: Container,
        summary: "The liveness probe fails and the kubelet restarts the container.",
        explains: explains![
            ContainerCrashing,
            HighRestartCount,
            PodNotReady,
            ReadinessProbeFailing,
            ReplicasUnavailable,
            RolloutStuck,
            ServiceNoReadyEndpoints,
        ],
    }
    ReadinessProbeFailing {
        set: Workload,
        severity: Warning,
        layer: Container,
        summary: "The readiness probe fails: the Pod runs but receives no traffic.",
        explains: explains![
            PodNotReady,
            ReplicasUnavailable,
            RolloutStuck,
            ServiceNoReadyEndpoints,
            ServiceSingleEndpoint,
            DaemonSetPodsUnavailable,
        ],
    }
    StartupProbeFailing {
        set: Workload,
        severity: Warning,
        layer: Container,
        summary: "The startup probe fails: the container is restarted before it finishes starting.",
        explains: explains![ContainerCrashing, HighRestartCount, PodNotReady, ReplicasUnavailable],
    }
    ProbePortMismatch {
        set: Workload,
        severity: Warning,
        layer: Container,
        summary: "A probe targets a port (number or name) that no container declares.",
        explains: explains![
            LivenessProbeFailing,
            ReadinessProbeFailing,
            StartupProbeFailing,
            ContainerCrashing,
            PodNotReady,
            ReplicasUnavailable,
            RolloutStuck,
            ServiceNoReadyEndpoints,
        ],
    }
    MissingStartupProbe {
        set: Workload,
        severity: Info,
        layer: Container,
        summary: "A liveness-probe restart loop during start-up with no startupProbe to protect it.",
        explains: explains![LivenessProbeFailing],
    }
    PodNotReady {
        set: Workload,
        severity: Warning,
        layer: Pod,
        summary: "The Pod runs but is not Ready, with no clearer cause.",
        explains: explains![
            ReplicasUnavailable,
            RolloutStuck,
            ServiceNoReadyEndpoints,
            ServiceSingleEndpoint,
            DaemonSetPodsUnavailable,
        ],
    }
    InitContainerFailing {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "An init container fails, so the Pod never starts.",
        explains: POD_DOWN,
    }
    PodEvicted {
        set: Workload,
        severity: Warning,
        layer: Pod,
        summary: "The Pod was evicted (node pressure).",
        explains: explains![ReplicasUnavailable, DaemonSetPodsUnavailable],
    }
    EphemeralStorageExceeded {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The kubelet evicted the Pod for exceeding its ephemeral storage: a container's limit, the Pod's total or an emptyDir sizeLimit (writable layer, logs, emptyDir).",
        explains: explains![
            PodEvicted,
            ReplicasUnavailable,
            RolloutStuck,
            DaemonSetPodsUnavailable,
            ServiceNoReadyEndpoints,
            ServiceSingleEndpoint,
            JobFailed,
            CronJobFailing,
        ],
    }
    PodStuckTerminating {
        set: Workload,
        severity: Warning,
        layer: Pod,
        summary: "The Pod has been terminating far longer than its grace period.",
        explains: explains![ReplicasUnavailable, RolloutStuck],
    }
    PodSandboxCreationFailed {
        set: Workload,
        severity: Critical,
        layer: Node,
        summary: "The runtime cannot create the Pod sandbox (CNI, IP exhaustion): a platform problem.",
        explains: POD_DOWN,
    }
    HighRestartCount {
        set: Workload,
        severity: Warning,
        layer: Container,
        summary: "A container restarted recently, with no failure rule explaining it.",
        explains: explains![],
    }
    ImageDigestMismatch {
        set: Workload,
        severity: Critical,
        layer: Container,
        summary: "The running image digest differs from spec.expectedImages (stale rollout).",
        explains: explains![],
    }
    ImageTagMutable {
        set: Workload,
        severity: Info,
        layer: Container,
        summary: "The image is referenced by a tag (or :latest, or no tag) rather than by digest.",
        explains: explains![],
    }
    // ---- scheduling ----
    InsufficientResources {
        set: Scheduling,
        severity: Critical,
        layer: Resource,
        summary: "The scheduler finds no node with enough free cpu/memory/pods/extended resources.",
        explains: PENDING,
    }
    RequestsExceedNodeCapacity {
        set: Scheduling,
        severity: Critical,
        layer: Resource,
        summary: "A container requests more than any node can allocate: never schedulable.",
        explains: PENDING,
    }
    NodeSelectorMatchesNoNode {
        set: Scheduling,
        severity: Critical,
        layer: Node,
        summary: "nodeSelector / required node affinity that no node satisfies.",
        explains: PENDING,
    }
    UntoleratedTaint {
        set: Scheduling,
        severity: Critical,
        layer: Node,
        summary: "Every otherwise-fitting node has a taint the Pod does not tolerate.",
        explains: PENDING,
    }
    PodAffinityUnsatisfiable {
        set: Scheduling,
        severity: Warning,
        layer: Pod,
        summary: "Pod affinity, anti-affinity or topology spread constraints cannot be met.",
        explains: PENDING,
    }
    UnboundPersistentVolumeClaim {
        set: Scheduling,
        severity: Critical,
        layer: Storage,
        summary: "The Pod waits for a PersistentVolumeClaim that is not bound.",
        explains: PENDING,
    }
    VolumeNodeAffinityConflict {
        set: Scheduling,
        severity: Critical,
        layer: Storage,
        summary: "The bound volume's topology excludes every node the Pod may use.",
        explains: PENDING,
    }
    SchedulingGated {
        set: Scheduling,
        severity: Info,
        layer: Pod,
        summary: "The Pod is held back by scheduling gates.",
        explains: explains![PodNotReady],
    }
    FailedScheduling {
        set: Scheduling,
        severity: Critical,
        layer: Pod,
        summary: "The scheduler cannot place the Pod, for a reason no other rule explains.",
        explains: explains![
            PodNotReady,
            ReplicasUnavailable,
            RolloutStuck,
            DaemonSetPodsUnavailable,
            ServiceNoReadyEndpoints,
            JobFailed,
        ],
    }
    SchedulerNotRunning {
        set: Scheduling,
        severity: Critical,
        layer: ControlPlane,
        summary: "Pods stay Pending with nobody trying to schedule them: the scheduler is down.",
        explains: explains![
            PodNotReady,
            ReplicasUnavailable,
            RolloutStuck,
            DaemonSetPodsUnavailable,
            ServiceNoReadyEndpoints,
            ServiceSelectorMatchesNoPods,
        ],
    }
    // ---- rollout ----
    RolloutStuck {
        set: Rollout,
        severity: Critical,
        layer: Controller,
        summary: "The Deployment exceeded its progress deadline.",
        explains: explains![ReplicasUnavailable],
    }
    ReplicasUnavailable {
        set: Rollout,
        severity: Warning,
        layer: Controller,
        summary: "Fewer replicas are available than desired.",
        explains: explains![],
    }
    ReplicaSetCreateFailed {
        set: Rollout,
        severity: Critical,
        layer: Controller,
        summary: "The controller cannot create Pods (quota, admission webhook, Pod Security, missing ServiceAccount).",
        explains: explains![
            ReplicasUnavailable,
            RolloutStuck,
            DaemonSetPodsUnavailable,
            ServiceSelectorMatchesNoPods,
            ServiceNoReadyEndpoints,
            JobFailed,
        ],
    }
    QuotaExceeded {
        set: Rollout,
        severity: Critical,
        layer: Resource,
        summary: "Pod creation is refused by a ResourceQuota.",
        explains: CREATE_FAILED,
    }
    AdmissionDenied {
        set: Rollout,
        severity: Critical,
        layer: ControlPlane,
        summary: "Pod creation is refused by an admission webhook or Pod Security.",
        explains: CREATE_FAILED,
    }
    AdmissionWebhookUnavailable {
        set: Rollout,
        severity: Critical,
        layer: ControlPlane,
        summary: "An admission webhook cannot be called (refused, timed out, no endpoints, x509) and its failurePolicy rejects the Pods.",
        explains: CREATE_FAILED,
    }
    LimitRangeViolation {
        set: Rollout,
        severity: Critical,
        layer: Resource,
        summary: "A LimitRange of the namespace refuses the Pods' requests or limits (a maximum, a minimum or a limit-to-request ratio).",
        explains: CREATE_FAILED,
    }
    StatefulSetServiceNotFound {
        set: Rollout,
        severity: Warning,
        layer: Controller,
        summary: "The StatefulSet's serviceName names no Service.",
        explains: explains![
            LogsDNSResolutionFailure,
            ReadinessProbeFailing when Dns,
            LivenessProbeFailing when Dns,
            StartupProbeFailing when Dns,
            ContainerCrashing when Dns,
        ],
    }
    DaemonSetPodsUnavailable {
        set: Rollout,
        severity: Warning,
        layer: Controller,
        summary: "DaemonSet Pods are not ready or misscheduled.",
        explains: explains![],
    }
    JobFailed {
        set: Rollout,
        severity: Critical,
        layer: Controller,
        summary: "The Job failed (BackoffLimitExceeded, DeadlineExceeded).",
        explains: explains![CronJobFailing],
    }
    CronJobFailing {
        set: Rollout,
        severity: Warning,
        layer: Controller,
        summary: "The most recent Jobs of the CronJob failed.",
        explains: explains![],
    }
    CronJobSuspended {
        set: Rollout,
        severity: Info,
        layer: Controller,
        summary: "The CronJob is suspended.",
        explains: explains![],
    }
    CronJobInvalidSchedule {
        set: Rollout,
        severity: Critical,
        layer: Controller,
        summary: "The CronJob's schedule does not parse.",
        explains: explains![],
    }
    HPAMaxedOut {
        set: Rollout,
        severity: Warning,
        layer: Controller,
        summary: "The HPA is at maxReplicas and wants more.",
        explains: explains![],
    }
    HPAMetricsUnavailable {
        set: Rollout,
        severity: Warning,
        layer: Controller,
        summary: "The HPA cannot read its metrics, or its target has no resource requests.",
        explains: explains![],
    }
    HPATargetNotFound {
        set: Rollout,
        severity: Critical,
        layer: Controller,
        summary: "The HPA's scaleTargetRef names nothing.",
        explains: explains![],
    }
    PDBBlocksDisruption {
        set: Rollout,
        severity: Warning,
        layer: Controller,
        summary: "The PodDisruptionBudget allows no disruption although all its Pods are healthy: drains will hang.",
        explains: explains![],
    }
    ControllerNotProgressing {
        set: Rollout,
        severity: Critical,
        layer: ControlPlane,
        summary: "observedGeneration lags generation: the controller-manager is not running or stuck.",
        explains: explains![
            ReplicasUnavailable,
            RolloutStuck,
            DaemonSetPodsUnavailable,
            ServiceSelectorMatchesNoPods,
        ],
    }
    // ---- networking ----
    ServiceSelectorMatchesNoPods {
        set: Networking,
        severity: Critical,
        layer: ServiceDiscovery,
        summary: "The Service's selector matches no Pod in its namespace.",
        explains: explains![
            ServiceNoReadyEndpoints,
            IngressBackendServiceNotFound,
            HTTPRouteBackendNotFound,
            AdmissionWebhookUnavailable,
        ],
    }
    ServiceNoReadyEndpoints {
        set: Networking,
        severity: Critical,
        layer: ServiceDiscovery,
        summary: "Pods match the Service but none is ready.",
        explains: explains![AdmissionWebhookUnavailable],
    }
    ServiceTargetPortMismatch {
        set: Networking,
        severity: Critical,
        layer: ServiceDiscovery,
        summary: "The Service's targetPort matches no container port of its Pods.",
        explains: explains![],
    }
    ServiceSingleEndpoint {
        set: Networking,
        severity: Info,
        layer: ServiceDiscovery,
        summary: "Only one ready endpoint behind a Service of a replicated workload.",
        explains: explains![],
    }
    IngressClassNotFound {
        set: Networking,
        severity: Critical,
        layer: TrafficEntry,
        summary: "The Ingress names no existing IngressClass, or has no class and there is no default.",
        explains: explains![],
    }
    IngressBackendServiceNotFound {
        set: Networking,
        severity: Critical,
        layer: TrafficEntry,
        summary: "An Ingress backend Service does not exist.",
        explains: explains![],
    }
    IngressBackendPortNotFound {
        set: Networking,
        severity: Critical,
        layer: TrafficEntry,
        summary: "An Ingress backend port is not exposed by the Service.",
        explains: explains![],
    }
    IngressTLSSecretNotFound {
        set: Networking,
        severity: Warning,
        layer: TrafficEntry,
        summary: "An Ingress TLS secretName does not exist.",
        explains: explains![],
    }
    GatewayNotFound {
        set: Networking,
        severity: Critical,
        layer: TrafficEntry,
        summary: "An HTTPRoute parentRef names no Gateway.",
        explains: explains![HTTPRouteNotAccepted],
    }
    HTTPRouteNotAccepted {
        set: Networking,
        severity: Critical,
        layer: TrafficEntry,
        summary: "A parent Gateway did not accept the HTTPRoute.",
        explains: explains![],
    }
    HTTPRouteBackendNotFound {
        set: Networking,
        severity: Critical,
        layer: TrafficEntry,
        summary: "An HTTPRoute backendRef does not resolve.",
        explains: explains![],
    }
    GatewayNotProgrammed {
        set: Networking,
        severity: Critical,
        layer: TrafficEntry,
        summary: "The Gateway is not Accepted or not Programmed.",
        explains: explains![HTTPRouteNotAccepted],
    }
    NetworkPolicyBlocksDNS {
        set: Networking,
        severity: Critical,
        layer: Network,
        summary: "An egress policy selects the Pods and allows no DNS to the cluster DNS.",
        explains: DNS_FAILURE,
    }
    NetworkPolicyBlocksIngress {
        set: Networking,
        severity: Warning,
        layer: Network,
        summary: "An ingress policy selects the Pods and admits nothing that fronts them.",
        explains: explains![ReadinessProbeFailing],
    }
    NetworkPolicySelectsNoPods {
        set: Networking,
        severity: Info,
        layer: Network,
        summary: "A NetworkPolicy's podSelector matches no Pod.",
        explains: explains![],
    }
    ClusterDNSUnavailable {
        set: Networking,
        severity: Critical,
        layer: Network,
        summary: "The cluster DNS (kube-system/kube-dns) has no ready endpoints or its Pods are failing.",
        explains: DNS_FAILURE,
    }
    DependencyUnavailable {
        set: Networking,
        severity: Critical,
        layer: Network,
        summary: "An in-cluster Service the Pods' probe failures, logs or configuration name has no ready endpoints (no Pods selected, scaled to zero, none ready).",
        explains: explains![
            ReadinessProbeFailing,
            LivenessProbeFailing,
            PodNotReady,
            ServiceNoReadyEndpoints,
            LogsConnectionRefused,
            LogsDNSResolutionFailure,
        ],
    }
    // ---- storage ----
    StorageClassNotFound {
        set: Storage,
        severity: Critical,
        layer: Storage,
        summary: "A PVC names a StorageClass that does not exist.",
        explains: STORAGE_PENDING,
    }
    NoDefaultStorageClass {
        set: Storage,
        severity: Critical,
        layer: Storage,
        summary: "A PVC names no StorageClass and there is no default.",
        explains: STORAGE_PENDING,
    }
    MultipleDefaultStorageClasses {
        set: Storage,
        severity: Warning,
        layer: Storage,
        summary: "More than one StorageClass is marked default.",
        explains: explains![],
    }
    ProvisioningFailed {
        set: Storage,
        severity: Critical,
        layer: Storage,
        summary: "The provisioner failed to create a volume for the PVC.",
        explains: STORAGE_PENDING,
    }
    PVCPending {
        set: Storage,
        severity: Critical,
        layer: Storage,
        summary: "A PVC stays Pending.",
        explains: explains![
            UnboundPersistentVolumeClaim,
            FailedScheduling,
            PodNotReady,
            ReplicasUnavailable,
            RolloutStuck,
            ServiceNoReadyEndpoints,
        ],
    }
    PVCLost {
        set: Storage,
        severity: Critical,
        layer: Storage,
        summary: "The PVC lost its PersistentVolume.",
        explains: explains![VolumeMountFailed, PodNotReady, ReplicasUnavailable],
    }
    VolumeMultiAttach {
        set: Storage,
        severity: Critical,
        layer: Storage,
        summary: "A ReadWriteOnce volume is still attached to another node.",
        explains: explains![
            VolumeMountFailed,
            PodNotReady,
            ReplicasUnavailable,
            RolloutStuck,
            ServiceNoReadyEndpoints,
        ],
    }
    VolumeMountFailed {
        set: Storage,
        severity: Critical,
        layer: Storage,
        summary: "Attaching or mounting a volume fails.",
        explains: explains![PodNotReady, ReplicasUnavailable, RolloutStuck, ServiceNoReadyEndpoints],
    }
    ReadWriteOnceShared {
        set: Storage,
        severity: Warning,
        layer: Storage,
        summary: "One ReadWriteOnce claim is shared by replicas that may land on several nodes.",
        explains: explains![VolumeMultiAttach],
    }
    PVReleasedOrFailed {
        set: Storage,
        severity: Warning,
        layer: Storage,
        summary: "A PersistentVolume in the graph is Released or Failed.",
        explains: explains![PVCLost, PVCPending],
    }
    // ---- node ----
    NodeNotReady {
        set: Node,
        severity: Critical,
        layer: Node,
        summary: "The node is NotReady.",
        explains: NODE_DOWN,
    }
    NodeUnreachable {
        set: Node,
        severity: Critical,
        layer: Node,
        summary: "The kubelet stopped reporting (Ready=Unknown, unreachable taint).",
        explains: NODE_DOWN,
    }
    NodeMemoryPressure {
        set: Node,
        severity: Warning,
        layer: Node,
        summary: "The node is under memory pressure.",
        explains: explains![PodEvicted, ContainerOOMKilled],
    }
    NodeDiskPressure {
        set: Node,
        severity: Warning,
        layer: Node,
        summary: "The node is under disk pressure.",
        explains: explains![PodEvicted],
    }
    NodePIDPressure {
        set: Node,
        severity: Warning,
        layer: Node,
        summary: "The node is running out of process ids.",
        explains: explains![PodEvicted],
    }
    NodeNetworkUnavailable {
        set: Node,
        severity: Critical,
        layer: Node,
        summary: "The node's network is not configured.",
        explains: explains![PodSandboxCreationFailed, PodNotReady, ReadinessProbeFailing],
    }
    NodeCordoned {
        set: Node,
        severity: Info,
        layer: Node,
        summary: "The node is cordoned (unschedulable).",
        explains: explains![],
    }
    NoisyNeighbor {
        set: Node,
        severity: Warning,
        layer: Node,
        summary: "Pods of a node under memory, disk or PID pressure use most of it and get Pods of other workloads evicted.",
        explains: explains![PodEvicted, NodeMemoryPressure, NodeDiskPressure, NodePIDPressure],
    }
    // ---- resources ----
    NoResourceRequests {
        set: Resources,
        severity: Info,
        layer: Resource,
        summary: "A container has no cpu/memory requests (BestEffort); a Warning when an autoscaler of the workload computes utilization of the missing request.",
        explains: explains![HPAMetricsUnavailable when MissingRequest],
    }
    NoMemoryLimit {
        set: Resources,
        severity: Info,
        layer: Resource,
        summary: "A container has no memory limit.",
        explains: explains![NoisyNeighbor],
    }
    LimitRangeOrQuotaPressure {
        set: Resources,
        severity: Warning,
        layer: Resource,
        summary: "A ResourceQuota of the namespace is at 90 % or more of a hard limit.",
        explains: explains![QuotaExceeded],
    }
    // ---- events ----
    WarningEvents {
        set: Events,
        severity: Info,
        layer: Pod,
        summary: "Warning events on objects of the graph that no other rule accounted for, grouped by reason.",
        explains: explains![],
    }
    // ---- diagnosis ----
    TargetNotFound {
        set: Diagnosis,
        severity: Critical,
        layer: Controller,
        summary: "The target does not exist.",
        explains: explains![],
    }
    PermissionDenied {
        set: Diagnosis,
        severity: Warning,
        layer: ControlPlane,
        summary: "A kind needed for the graph could not be read (RBAC).",
        explains: explains![],
    }
    // ---- logs ----
    LogsDNSResolutionFailure {
        set: Logs,
        severity: Warning,
        layer: Network,
        summary: "Container logs show name resolution failures.",
        explains: explains![ContainerCrashing, ReadinessProbeFailing, LivenessProbeFailing],
    }
    LogsConnectionRefused {
        set: Logs,
        severity: Warning,
        layer: Network,
        summary: "Container logs show connections refused by a dependency.",
        explains: explains![ContainerCrashing, ReadinessProbeFailing, LivenessProbeFailing],
    }
    LogsPermissionDenied {
        set: Logs,
        severity: Warning,
        layer: Container,
        summary: "Container logs show permission denied on a path (fsGroup / runAsUser).",
        explains: explains![ContainerCrashing],
    }
    LogsMissingConfiguration {
        set: Logs,
        severity: Warning,
        layer: Container,
        summary: "Container logs show a missing environment variable or configuration file.",
        explains: explains![ContainerCrashing],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_indexed_by_rule_id() {
        assert_eq!(CATALOG.len(), RuleId::ALL.len());
        for (index, meta) in CATALOG.iter().enumerate() {
            assert_eq!(meta.id as usize, index);
            assert_eq!(meta.id.meta().id, meta.id);
        }
    }

    #[test]
    fn ids_round_trip_through_their_strings() {
        for &id in RuleId::ALL {
            assert_eq!(id.as_str().parse::<RuleId>(), Ok(id));
            assert_eq!(id.to_string(), id.as_str());
        }
        assert_eq!(
            "ConfigMapNotFund".parse::<RuleId>(),
            Err(UnknownRuleId("ConfigMapNotFund".into()))
        );
    }

    #[test]
    fn no_rule_explains_itself() {
        for meta in CATALOG {
            for explained in meta.explains {
                assert_ne!(explained.rule, meta.id, "{} explains itself", meta.id);
            }
        }
    }
}
