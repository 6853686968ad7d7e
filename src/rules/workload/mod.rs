//! The `workload` rule set: Pods and containers.
//!
//! One concern per file:
//!
//! | file | rules |
//! |---|---|
//! | `images.rs` | ImagePullNotFound, ImagePullUnauthorized, ImagePullNetworkError, ImagePullRateLimited, ImagePlatformMismatch, ImagePullBackOff, InvalidImageName, ImageDigestMismatch, ImageTagMutable |
//! | `containers.rs` | ContainerOOMKilled, ContainerExitedZero, ContainerCommandNotFound, ContainerCommandNotExecutable, ContainerCrashing, CreateContainerConfigError |
//! | `create.rs` | ContainerCreateFailed (called from `containers.rs`) |
//! | `ephemeral.rs` | EphemeralStorageExceeded |
//! | `references.rs` | ConfigMapNotFound, ConfigMapKeyNotFound, SecretNotFound, SecretKeyNotFound, SecretUnverified, ServiceAccountNotFound |
//! | `probes.rs` | LivenessProbeFailing, ReadinessProbeFailing, StartupProbeFailing, ProbePortMismatch, MissingStartupProbe |
//! | `pods.rs` | InitContainerFailing, PodEvicted, PodStuckTerminating, PodSandboxCreationFailed, HighRestartCount, PodNotReady |
//!
//! Shared conventions (this file):
//!
//! - The Pods diagnosed are `ctx.graph.subjects(Kind::Pod)` (never Context Pods such as CoreDNS).
//! - Pods of one controller in the same state are ONE finding: the object is the
//!   controller (ReplicaSet, StatefulSet, DaemonSet, Job) or the bare Pod, `affected`
//!   lists the Pods, the discriminator is the container when a rule can fire for several.
//! - Current, not historical: a problem that healed is reported at most as Info.
//! - Rules that need "no clearer cause" run last and read [`Claims`].

mod containers;
mod create;
mod ephemeral;
mod images;
mod pods;
pub(crate) mod probes;
mod references;

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodSpec,
};

use crate::event::EventRecord;
use crate::k8s::{duration, owners, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::grouping::{self, ControllerKey, Grouped, OnPod, PodList};
use crate::rules::{Draft, RuleContext};

/// A termination within this long of `now` is recent (restarts "growing now").
pub(crate) const RECENT_SECS: i64 = 3600;

/// Runs the workload rules on the Pods under diagnosis, causes before the rules that
/// need "no clearer cause".
pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let pods = collect_pods(ctx);
    let mut claims = Claims::default();
    // Causes first: missing references and image problems explain the rest.
    references::evaluate(ctx, &pods, &mut claims, out);
    images::evaluate_pulls(ctx, &pods, &mut claims, out);
    containers::evaluate(ctx, &pods, &mut claims, out);
    pods::evaluate_failures(ctx, &pods, &mut claims, out);
    ephemeral::evaluate(ctx, &pods, out);
    probes::evaluate(ctx, &pods, &mut claims, out);
    // "No clearer cause" rules read the claims of the rules above.
    pods::high_restart_count(ctx, &pods, &claims, out);
    pods::pod_not_ready(ctx, &pods, &claims, out);
    // Supply-chain hygiene.
    images::digest_mismatch(ctx, &pods, out);
    images::tag_mutable(ctx, &pods, out);
    references::service_account_not_found(ctx, out);
}

/// A Pod under diagnosis, with what the rules read of it.
pub(crate) struct PodView<'a> {
    /// The Pod's reference.
    pub pod_ref: ObjRef,
    /// The Pod as stored.
    pub pod: &'a Pod,
    /// Its spec.
    pub spec: &'a PodSpec,
    /// The controller the finding is reported on (ReplicaSet, StatefulSet, DaemonSet,
    /// Job), or the Pod itself for a bare Pod (or a controller not in the store).
    pub owner: ObjRef,
    /// Events about the Pod, oldest first.
    pub events: Vec<&'a Arc<EventRecord>>,
}

impl<'a> PodView<'a> {
    /// `status.phase` (empty when not reported).
    pub(crate) fn phase(&self) -> &str {
        self.pod
            .status
            .as_ref()
            .and_then(|status| status.phase.as_deref())
            .unwrap_or("")
    }

    /// `status.reason` (empty when not reported).
    pub(crate) fn reason(&self) -> &str {
        self.pod
            .status
            .as_ref()
            .and_then(|status| status.reason.as_deref())
            .unwrap_or("")
    }

    /// Evicted by the kubelet (phase Failed, reason Evicted).
    pub(crate) fn evicted(&self) -> bool {
        self.phase() == "Failed" && self.reason() == "Evicted"
    }

    /// The latest condition transition of the Pod (when it was evicted or last
    /// changed).
    pub(crate) fn last_transition(&self) -> Option<jiff::Timestamp> {
        self.pod
            .status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .filter_map(|condition| condition.last_transition_time.as_ref().map(|time| time.0))
            .max()
    }

    /// Being deleted (`metadata.deletionTimestamp` is set).
    pub(crate) fn terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }

    /// Failed by the kubelet itself rather than by its containers: refused at
    /// admission (`OutOfcpu`, `NodeAffinity`...), terminated for a node shutdown, or
    /// preempted to admit a critical Pod (evictions are [`PodView::evicted`]).
    pub(crate) fn failed_by_kubelet(&self) -> Option<KubeletFailure> {
        if self.phase() != "Failed" {
            return None;
        }
        match self.reason() {
            "Preempting" => Some(KubeletFailure::Preempted),
            "Terminated" | "NodeShutdown" => Some(KubeletFailure::NodeShutdown),
            reason
                if reason.starts_with("OutOf")
                    || matches!(
                        reason,
                        "NodeAffinity"
                            | "NodeName"
                            | "NodePorts"
                            | "Taint"
                            | "PodOSNotSupported"
                            | "PodOSSelectorNodeLabelDoesNotMatch"
                            | "UnexpectedAdmissionError"
                    ) =>
            {
                Some(KubeletFailure::Rejected)
            }
            _ => None,
        }
    }

    /// Pods whose containers the container rules look at: not evicted, not failed by
    /// the kubelet itself, not succeeded.
    pub(crate) fn live(&self) -> bool {
        !self.evicted() && self.failed_by_kubelet().is_none() && self.phase() != "Succeeded"
    }

    /// `spec.restartPolicy` (Always when not set).
    pub(crate) fn restart_policy(&self) -> &str {
        self.spec.restart_policy.as_deref().unwrap_or("Always")
    }

    /// The Pod's condition of a type.
    pub(crate) fn condition(
        &self,
        type_: &str,
    ) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
        pod::condition(self.pod, type_)
    }

    /// Whether the Pod's Ready condition is True.
    pub(crate) fn ready(&self) -> bool {
        pod::is_ready(self.pod)
    }

    /// The node the Pod is bound to.
    pub(crate) fn node(&self) -> Option<&'a str> {
        self.spec
            .node_name
            .as_deref()
            .filter(|node| !node.is_empty())
    }

    /// Every container with its spec and status: init containers (native sidecars,
    /// `restartPolicy: Always`, count as regular containers), then the app containers.
    pub(crate) fn containers(&self) -> Vec<ContainerView<'a>> {
        let pod_status = self.pod.status.as_ref();
        let find = |list: Option<&'a Vec<ContainerStatus>>, name: &str| {
            list.into_iter()
                .flatten()
                .find(|status| status.name == name)
        };
        let init_statuses = pod_status.and_then(|status| status.init_container_statuses.as_ref());
        let statuses = pod_status.and_then(|status| status.container_statuses.as_ref());
        let mut out = Vec::new();
        for container in self.spec.init_containers.iter().flatten() {
            let sidecar = container.restart_policy.as_deref() == Some("Always");
            out.push(ContainerView {
                spec: container,
                status: find(init_statuses, &container.name),
                init: !sidecar,
            });
        }
        for container in &self.spec.containers {
            out.push(ContainerView {
                spec: container,
                status: find(statuses, &container.name),
                init: false,
            });
        }
        out
    }

    /// Events of a reason, oldest first.
    pub(crate) fn events_with(&self, reason: &str) -> Vec<&'a Arc<EventRecord>> {
        self.events
            .iter()
            .filter(|event| event.reason == reason)
            .copied()
            .collect()
    }

    /// `kubectl describe pod ...`
    pub(crate) fn describe_cmd(&self) -> String {
        format!(
            "kubectl describe pod {} -n {}",
            self.pod_ref.name,
            self.pod_ref.ns()
        )
    }

    /// `kubectl get events ...` about the Pod, oldest first.
    pub(crate) fn events_cmd(&self) -> String {
        format!(
            "kubectl get events -n {} --field-selector involvedObject.name={} --sort-by=.lastTimestamp",
            self.pod_ref.ns(),
            self.pod_ref.name
        )
    }

    /// `kubectl logs ...` of a container, of its previous (terminated) instance when
    /// `previous`.
    pub(crate) fn logs_cmd(&self, container: &str, previous: bool) -> String {
        format!(
            "kubectl logs {} -n {} -c {container}{} --tail=200",
            self.pod_ref.name,
            self.pod_ref.ns(),
            if previous { " --previous" } else { "" }
        )
    }
}

/// One container of a Pod: its spec and (when reported) its status.
#[derive(Clone, Copy)]
pub(crate) struct ContainerView<'a> {
    /// The container's spec.
    pub spec: &'a Container,
    /// Its status, when the kubelet reports one.
    pub status: Option<&'a ContainerStatus>,
    /// A classic init container (runs to completion before the app containers).
    pub init: bool,
}

impl<'a> ContainerView<'a> {
    /// The container's name.
    pub(crate) fn name(&self) -> &'a str {
        &self.spec.name
    }

    /// Its current state.
    pub(crate) fn state(&self) -> Option<&'a ContainerState> {
        self.status.and_then(|status| status.state.as_ref())
    }

    /// `state.waiting`: (reason, message), empty strings when not given.
    pub(crate) fn waiting(&self) -> Option<(&'a str, &'a str)> {
        let waiting = self.state()?.waiting.as_ref()?;
        Some((
            waiting.reason.as_deref().unwrap_or(""),
            waiting.message.as_deref().unwrap_or(""),
        ))
    }

    /// The reason of `state.waiting` (empty when not waiting).
    pub(crate) fn waiting_reason(&self) -> &'a str {
        self.waiting().map_or("", |(reason, _)| reason)
    }

    /// When the running container started (the epoch when not reported); `None`
    /// when it is not running.
    pub(crate) fn running_since(&self) -> Option<Timestamp> {
        let running = self.state()?.running.as_ref()?;
        Some(
            running
                .started_at
                .as_ref()
                .map_or(Timestamp::UNIX_EPOCH, |started| started.0),
        )
    }

    /// Whether it is running now.
    pub(crate) fn running(&self) -> bool {
        self.state().is_some_and(|state| state.running.is_some())
    }

    /// Whether it is ready.
    pub(crate) fn ready(&self) -> bool {
        self.status.is_some_and(|status| status.ready)
    }

    /// Its restart count.
    pub(crate) fn restarts(&self) -> i32 {
        self.status.map_or(0, |status| status.restart_count)
    }

    /// The termination that tells why the container is not running: the current
    /// `state.terminated`, else `lastState.terminated`.
    pub(crate) fn termination(&self) -> Option<(&'a ContainerStateTerminated, &'static str)> {
        if let Some(terminated) = self.state().and_then(|state| state.terminated.as_ref()) {
            return Some((terminated, "state.terminated"));
        }
        self.status
            .and_then(|status| status.last_state.as_ref())
            .and_then(|last_state| last_state.terminated.as_ref())
            .map(|terminated| (terminated, "lastState.terminated"))
    }

    /// `container app: lastState.terminated reason=OOMKilled exitCode=137 finishedAt=...; restartCount=7`
    pub(crate) fn termination_evidence(&self) -> Option<String> {
        let (terminated, field) = self.termination()?;
        let mut evidence = format!(
            "container {}: {field} reason={} exitCode={}",
            self.name(),
            terminated.reason.as_deref().unwrap_or("-"),
            terminated.exit_code
        );
        if let Some(signal) = terminated.signal {
            evidence.push_str(&format!(" signal={signal}"));
        }
        if let Some(finished) = &terminated.finished_at {
            evidence.push_str(&format!(" finishedAt={}", finished.0));
        }
        if let Some(message) = terminated
            .message
            .as_deref()
            .filter(|message| !message.trim().is_empty())
        {
            evidence.push_str(&format!(" message={:?}", message.trim()));
        }
        evidence.push_str(&format!("; restartCount={}", self.restarts()));
        Some(evidence)
    }

    /// `container app: state.waiting reason=CreateContainerConfigError message="..."`
    pub(crate) fn waiting_evidence(&self) -> Option<String> {
        let (reason, message) = self.waiting()?;
        Some(if message.is_empty() {
            format!("container {}: state.waiting reason={reason}", self.name())
        } else {
            format!(
                "container {}: state.waiting reason={reason} message={:?}",
                self.name(),
                message
            )
        })
    }

    /// The image the spec names (empty when none).
    pub(crate) fn image(&self) -> &'a str {
        self.spec.image.as_deref().unwrap_or("")
    }
}

/// What the rules that run first found, so "no clearer cause" rules stay silent.
#[derive(Default)]
pub(crate) struct Claims {
    /// (Pod, container) with a failure finding (crash, OOM, probe, pull...).
    containers: BTreeSet<(ObjRef, String)>,
    /// Pods with any Warning/Critical workload finding.
    pods: BTreeSet<ObjRef>,
}

impl Claims {
    /// Records a finding on the Pod (and on its container, when it names one).
    pub(crate) fn claim(&mut self, pod: &ObjRef, container: Option<&str>) {
        self.pods.insert(pod.clone());
        if let Some(container) = container {
            self.containers.insert((pod.clone(), container.to_owned()));
        }
    }

    /// Whether a failure finding is on the container.
    pub(crate) fn container(&self, pod: &ObjRef, container: &str) -> bool {
        self.containers
            .contains(&(pod.clone(), container.to_owned()))
    }

    /// Whether a Warning/Critical workload finding is on the Pod.
    pub(crate) fn pod(&self, pod: &ObjRef) -> bool {
        self.pods.contains(pod)
    }
}

/// The Pods to diagnose, with their controllers and events.
fn collect_pods<'a>(ctx: &RuleContext<'a>) -> Vec<PodView<'a>> {
    let mut out = Vec::new();
    for pod_ref in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(pod_ref) else {
            continue;
        };
        let Some(spec) = pod.spec.as_ref() else {
            continue;
        };
        let owner = owners::controller_in_store(ctx.store, &pod.metadata)
            .unwrap_or_else(|| pod_ref.clone());
        out.push(PodView {
            pod_ref: pod_ref.clone(),
            pod,
            spec,
            owner,
            events: ctx.events(pod_ref),
        });
    }
    out
}

/// A workload rule's hit: the Pod, and what the rule saw in it.
pub(crate) struct PodHit<'p, 'a, T> {
    /// The Pod hit.
    pub pod: &'p PodView<'a>,
    /// What the rule saw (the container, the probe...).
    pub seen: T,
}

impl<T> OnPod for PodHit<'_, '_, T> {
    fn pod(&self) -> &ObjRef {
        &self.pod.pod_ref
    }
}

/// A workload rule's hits grouped by (controller, discriminator): Pods of one
/// controller in the same state become one finding.
pub(crate) type Groups<'p, 'a, T> = Grouped<ControllerKey, PodHit<'p, 'a, T>>;

/// Pods of one controller in one state.
pub(crate) type Group<'p, 'a, T> = grouping::Group<ControllerKey, PodHit<'p, 'a, T>>;

impl<'p, 'a, T> Groups<'p, 'a, T> {
    /// No hits yet. A group lists a Pod once per hit, as the workload rules always
    /// have (a Pod is hit twice in one group only when its spec repeats a container
    /// name, which the API server refuses but a snapshot may hold).
    pub(crate) fn by_controller() -> Self {
        Grouped::new(PodList::PerMember)
    }

    /// Adds a hit on `pod`, grouped with the other hits on its controller's Pods that
    /// have the same discriminator.
    pub(crate) fn add_hit(
        &mut self,
        pod: &'p PodView<'a>,
        discriminator: impl Into<String>,
        seen: T,
    ) {
        let key = ControllerKey {
            controller: pod.owner.clone(),
            discriminator: discriminator.into(),
        };
        self.add(key, PodHit { pod, seen });
    }
}

impl<'p, 'a, T> Group<'p, 'a, T> {
    /// The Pod whose evidence is quoted.
    pub(crate) fn first_pod(&self) -> &'p PodView<'a> {
        self.first().pod
    }

    /// What the rule saw in the first Pod.
    pub(crate) fn first_seen(&self) -> &T {
        &self.first().seen
    }

    /// `Pod shop/web-1` or `3 of 3 Pods of ReplicaSet shop/web-7d4f`.
    pub(crate) fn who(&self, all: &[PodView]) -> String {
        who(self.controller(), self.members().len(), all)
    }

    /// The nodes the group's Pods are on, sorted, once each: `worker-1, worker-2`.
    pub(crate) fn node_list(&self) -> String {
        let nodes: std::collections::BTreeSet<&str> = self
            .members()
            .iter()
            .filter_map(|hit| hit.pod.node())
            .collect();
        nodes.into_iter().collect::<Vec<_>>().join(", ")
    }
}

/// How many Pods of `owner` are diagnosed (its live Pods).
pub(crate) fn owned_count(owner: &ObjRef, all: &[PodView]) -> usize {
    all.iter()
        .filter(|pod| &pod.owner == owner && pod.live())
        .count()
}

/// `Pod shop/web-1` for a bare Pod, or `3 of 3 Pod(s) of ReplicaSet shop/web-7d4f`:
/// `hits` Pods of `owner`'s diagnosed Pods.
pub(crate) fn who(owner: &ObjRef, hits: usize, all: &[PodView]) -> String {
    if owner.kind == Kind::Pod {
        return format!("Pod {}/{}", owner.ns(), owner.name);
    }
    let total = owned_count(owner, all).max(hits);
    format!(
        "{hits} of {total} Pod(s) of {} {}/{}",
        owner.kind,
        owner.ns(),
        owner.name
    )
}

/// Quotes events of the first Pod (up to `quote`) and accounts for all the group's
/// events matching `pred`.
pub(crate) fn with_events<T>(
    mut draft: Draft,
    group: &Group<T>,
    quote: usize,
    pred: impl Fn(&EventRecord) -> bool,
) -> Draft {
    let mut quoted = 0;
    let mut seen_messages = BTreeSet::new();
    for (index, hit) in group.members().iter().enumerate() {
        // newest first: the most recent message is the most relevant
        for event in hit.pod.events.iter().rev().filter(|event| pred(event)) {
            if index == 0 && quoted < quote && seen_messages.insert(event.message.clone()) {
                draft = draft.event(event);
                quoted += 1;
            } else {
                draft = draft.account(event).seen(event.first_time, event.time);
            }
        }
    }
    draft
}

/// The usual meaning of a container exit code.
pub(crate) fn exit_code_meaning(code: i32) -> &'static str {
    match code {
        0 => "success: the process finished",
        1 => "general application error",
        2 => "misuse of a shell builtin or an application-specific error (often bad arguments)",
        125 => "the container runtime failed to run the container",
        126 => "command found but not executable",
        127 => "command not found",
        128 => "the runtime could not start the process (StartError)",
        130 => "SIGINT (interrupted)",
        134 => "SIGABRT: the process aborted (assertion, abort(), fatal runtime error)",
        137 => {
            "SIGKILL: OOM kill, or killed by the kubelet (failed liveness probe, eviction, grace period exceeded)"
        }
        139 => "SIGSEGV: segmentation fault",
        143 => "SIGTERM: asked to stop (liveness restart, deletion, rollout) and exited on it",
        255 => "exit status out of range (exit(-1)) or a fatal error",
        signalled if signalled > 128 && signalled < 160 => {
            "killed by a signal (128 + signal number)"
        }
        _ => "application-specific exit code",
    }
}

/// Whether the last termination of the container is recent, or it is not running:
/// the problem is current rather than historical.
pub(crate) fn termination_is_current(ctx: &RuleContext, container: &ContainerView) -> bool {
    if !container.running() {
        return true;
    }
    let Some((terminated, _)) = container.termination() else {
        return false;
    };
    let finished = terminated.finished_at.as_ref().map(|time| time.0);
    let started = container.running_since();
    // Running steadily for an hour since the last termination: healed.
    match (finished, started) {
        (_, Some(started)) if duration::age(ctx.now(), started) > RECENT_SECS => false,
        (Some(finished), _) => duration::age(ctx.now(), finished) <= RECENT_SECS,
        _ => true,
    }
}

/// `kubectl` commands on the workload a person edits: `deployment/web -n shop`.
pub(crate) fn kubectl_ref(workload: &ObjRef) -> String {
    format!("{} -n {}", workload.kubectl(), workload.ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_have_their_usual_meaning() {
        assert!(exit_code_meaning(137).contains("SIGKILL"));
        assert!(exit_code_meaning(143).contains("SIGTERM"));
        assert!(exit_code_meaning(1).contains("general"));
        assert!(exit_code_meaning(255).contains("out of range"));
        assert!(exit_code_meaning(139).contains("SIGSEGV"));
        assert!(exit_code_meaning(134).contains("SIGABRT"));
        assert!(exit_code_meaning(131).contains("signal"));
    }
}

/// How the kubelet failed a Pod by itself (status.phase Failed, status.reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum KubeletFailure {
    /// Refused at admission: `OutOf<resource>`, `NodeAffinity`... (`Pod was rejected: ...`).
    Rejected,
    /// Terminated or refused because the node shuts down (graceful node shutdown).
    NodeShutdown,
    /// Killed to make room for a critical Pod (`Preempting`).
    Preempted,
}
