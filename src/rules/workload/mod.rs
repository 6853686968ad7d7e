//! The `workload` rule set: Pods and containers.
//!
//! One concern per file:
//!
//! | file | rules |
//! |---|---|
//! | `images.rs` | ImagePullNotFound, ImagePullUnauthorized, ImagePullNetworkError, ImagePullBackOff, InvalidImageName, ImageDigestMismatch, ImageTagMutable |
//! | `containers.rs` | ContainerOOMKilled, ContainerExitedZero, ContainerCommandNotFound, ContainerCommandNotExecutable, ContainerCrashing, CreateContainerConfigError |
//! | `references.rs` | ConfigMapNotFound, ConfigMapKeyNotFound, SecretNotFound, SecretKeyNotFound, ServiceAccountNotFound |
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
mod images;
mod pods;
mod probes;
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

pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let pods = collect_pods(ctx);
    let mut claims = Claims::default();
    // Causes first: missing references and image problems explain the rest.
    references::evaluate(ctx, &pods, &mut claims, out);
    images::evaluate_pulls(ctx, &pods, &mut claims, out);
    containers::evaluate(ctx, &pods, &mut claims, out);
    pods::evaluate_failures(ctx, &pods, &mut claims, out);
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
    pub r: ObjRef,
    pub pod: &'a Pod,
    pub spec: &'a PodSpec,
    /// The controller the finding is reported on (ReplicaSet, StatefulSet, DaemonSet,
    /// Job), or the Pod itself for a bare Pod (or a controller not in the store).
    pub owner: ObjRef,
    /// Events about the Pod, oldest first.
    pub events: Vec<&'a Arc<EventRecord>>,
}

impl<'a> PodView<'a> {
    pub(crate) fn phase(&self) -> &str {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("")
    }

    pub(crate) fn reason(&self) -> &str {
        self.pod
            .status
            .as_ref()
            .and_then(|s| s.reason.as_deref())
            .unwrap_or("")
    }

    pub(crate) fn evicted(&self) -> bool {
        self.phase() == "Failed" && self.reason() == "Evicted"
    }

    pub(crate) fn terminating(&self) -> bool {
        self.pod.metadata.deletion_timestamp.is_some()
    }

    /// Pods whose containers the container rules look at: not evicted, not succeeded.
    pub(crate) fn live(&self) -> bool {
        !self.evicted() && self.phase() != "Succeeded"
    }

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

    pub(crate) fn node(&self) -> Option<&'a str> {
        self.spec.node_name.as_deref().filter(|n| !n.is_empty())
    }

    /// Every container with its spec and status: init containers (native sidecars,
    /// `restartPolicy: Always`, count as regular containers), then the app containers.
    pub(crate) fn containers(&self) -> Vec<ContainerView<'a>> {
        let st = self.pod.status.as_ref();
        let find = |list: Option<&'a Vec<ContainerStatus>>, name: &str| {
            list.into_iter().flatten().find(|s| s.name == name)
        };
        let mut out = Vec::new();
        for c in self.spec.init_containers.iter().flatten() {
            let sidecar = c.restart_policy.as_deref() == Some("Always");
            out.push(ContainerView {
                spec: c,
                status: find(st.and_then(|s| s.init_container_statuses.as_ref()), &c.name),
                init: !sidecar,
            });
        }
        for c in &self.spec.containers {
            out.push(ContainerView {
                spec: c,
                status: find(st.and_then(|s| s.container_statuses.as_ref()), &c.name),
                init: false,
            });
        }
        out
    }

    /// Events of a reason, oldest first.
    pub(crate) fn events_with(&self, reason: &str) -> Vec<&'a Arc<EventRecord>> {
        self.events
            .iter()
            .filter(|e| e.reason == reason)
            .copied()
            .collect()
    }

    pub(crate) fn describe_cmd(&self) -> String {
        format!("kubectl describe pod {} -n {}", self.r.name, self.r.ns())
    }

    pub(crate) fn events_cmd(&self) -> String {
        format!(
            "kubectl get events -n {} --field-selector involvedObject.name={} --sort-by=.lastTimestamp",
            self.r.ns(),
            self.r.name
        )
    }

    pub(crate) fn logs_cmd(&self, container: &str, previous: bool) -> String {
        format!(
            "kubectl logs {} -n {} -c {container}{} --tail=200",
            self.r.name,
            self.r.ns(),
            if previous { " --previous" } else { "" }
        )
    }
}

/// One container of a Pod: its spec and (when reported) its status.
#[derive(Clone, Copy)]
pub(crate) struct ContainerView<'a> {
    pub spec: &'a Container,
    pub status: Option<&'a ContainerStatus>,
    /// A classic init container (runs to completion before the app containers).
    pub init: bool,
}

impl<'a> ContainerView<'a> {
    pub(crate) fn name(&self) -> &'a str {
        &self.spec.name
    }

    pub(crate) fn state(&self) -> Option<&'a ContainerState> {
        self.status.and_then(|s| s.state.as_ref())
    }

    pub(crate) fn waiting(&self) -> Option<(&'a str, &'a str)> {
        let w = self.state()?.waiting.as_ref()?;
        Some((
            w.reason.as_deref().unwrap_or(""),
            w.message.as_deref().unwrap_or(""),
        ))
    }

    pub(crate) fn waiting_reason(&self) -> &'a str {
        self.waiting().map_or("", |(r, _)| r)
    }

    pub(crate) fn running_since(&self) -> Option<Timestamp> {
        let r = self.state()?.running.as_ref()?;
        Some(r.started_at.as_ref().map_or(Timestamp::UNIX_EPOCH, |t| t.0))
    }

    pub(crate) fn running(&self) -> bool {
        self.state().is_some_and(|s| s.running.is_some())
    }

    pub(crate) fn ready(&self) -> bool {
        self.status.is_some_and(|s| s.ready)
    }

    pub(crate) fn restarts(&self) -> i32 {
        self.status.map_or(0, |s| s.restart_count)
    }

    /// The termination that tells why the container is not running: the current
    /// `state.terminated`, else `lastState.terminated`.
    pub(crate) fn termination(&self) -> Option<(&'a ContainerStateTerminated, &'static str)> {
        if let Some(t) = self.state().and_then(|s| s.terminated.as_ref()) {
            return Some((t, "state.terminated"));
        }
        self.status
            .and_then(|s| s.last_state.as_ref())
            .and_then(|s| s.terminated.as_ref())
            .map(|t| (t, "lastState.terminated"))
    }

    /// `container app: lastState.terminated reason=OOMKilled exitCode=137 finishedAt=...; restartCount=7`
    pub(crate) fn termination_evidence(&self) -> Option<String> {
        let (t, field) = self.termination()?;
        let mut s = format!(
            "container {}: {field} reason={} exitCode={}",
            self.name(),
            t.reason.as_deref().unwrap_or("-"),
            t.exit_code
        );
        if let Some(sig) = t.signal {
            s.push_str(&format!(" signal={sig}"));
        }
        if let Some(f) = &t.finished_at {
            s.push_str(&format!(" finishedAt={}", f.0));
        }
        if let Some(m) = t.message.as_deref().filter(|m| !m.trim().is_empty()) {
            s.push_str(&format!(" message={:?}", m.trim()));
        }
        s.push_str(&format!("; restartCount={}", self.restarts()));
        Some(s)
    }

    pub(crate) fn waiting_evidence(&self) -> Option<String> {
        let (reason, msg) = self.waiting()?;
        Some(if msg.is_empty() {
            format!("container {}: state.waiting reason={reason}", self.name())
        } else {
            format!(
                "container {}: state.waiting reason={reason} message={:?}",
                self.name(),
                msg
            )
        })
    }

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
    pub(crate) fn claim(&mut self, pod: &ObjRef, container: Option<&str>) {
        self.pods.insert(pod.clone());
        if let Some(c) = container {
            self.containers.insert((pod.clone(), c.to_owned()));
        }
    }

    pub(crate) fn container(&self, pod: &ObjRef, container: &str) -> bool {
        self.containers
            .contains(&(pod.clone(), container.to_owned()))
    }

    pub(crate) fn pod(&self, pod: &ObjRef) -> bool {
        self.pods.contains(pod)
    }
}

/// The Pods to diagnose, with their controllers and events.
fn collect_pods<'a>(ctx: &RuleContext<'a>) -> Vec<PodView<'a>> {
    let mut out = Vec::new();
    for r in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(r) else {
            continue;
        };
        let Some(spec) = pod.spec.as_ref() else {
            continue;
        };
        let owner =
            owners::controller_in_store(ctx.store, &pod.metadata).unwrap_or_else(|| r.clone());
        out.push(PodView {
            r: r.clone(),
            pod,
            spec,
            owner,
            events: ctx.events(r),
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
        &self.pod.r
    }
}

/// A workload rule's hits grouped by (controller, discriminator): Pods of one
/// controller in the same state become one finding.
pub(crate) type Groups<'p, 'a, T> = Grouped<ControllerKey, PodHit<'p, 'a, T>>;

/// Pods of one controller in one state.
pub(crate) type Group<'p, 'a, T> = grouping::Group<ControllerKey, PodHit<'p, 'a, T>>;

impl<'p, 'a, T> Groups<'p, 'a, T> {
    /// No hits yet. A group lists a Pod once per hit (a Pod is hit at most once per
    /// controller and discriminator).
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
}

/// How many Pods of `owner` are diagnosed (its live Pods).
pub(crate) fn owned_count(owner: &ObjRef, all: &[PodView]) -> usize {
    all.iter().filter(|p| &p.owner == owner && p.live()).count()
}

pub(crate) fn who(owner: &ObjRef, n: usize, all: &[PodView]) -> String {
    if owner.kind == Kind::Pod {
        return format!("Pod {}/{}", owner.ns(), owner.name);
    }
    let total = owned_count(owner, all).max(n);
    format!(
        "{n} of {total} Pod(s) of {} {}/{}",
        owner.kind,
        owner.ns(),
        owner.name
    )
}

/// Quotes events of the first Pod (up to `quote`) and accounts for all the group's
/// events matching `pred`.
pub(crate) fn with_events<T>(
    mut d: Draft,
    g: &Group<T>,
    quote: usize,
    pred: impl Fn(&EventRecord) -> bool,
) -> Draft {
    let mut quoted = 0;
    let mut seen_msgs = BTreeSet::new();
    for (i, hit) in g.members().iter().enumerate() {
        // newest first: the most recent message is the most relevant
        for e in hit.pod.events.iter().rev().filter(|e| pred(e)) {
            if i == 0 && quoted < quote && seen_msgs.insert(e.message.clone()) {
                d = d.event(e);
                quoted += 1;
            } else {
                d = d.account(e).seen(e.first_time, e.time);
            }
        }
    }
    d
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
        c if c > 128 && c < 160 => "killed by a signal (128 + signal number)",
        _ => "application-specific exit code",
    }
}

/// Whether the last termination of the container is recent, or it is not running:
/// the problem is current rather than historical.
pub(crate) fn termination_is_current(ctx: &RuleContext, c: &ContainerView) -> bool {
    if !c.running() {
        return true;
    }
    let Some((t, _)) = c.termination() else {
        return false;
    };
    let finished = t.finished_at.as_ref().map(|t| t.0);
    let started = c.running_since();
    // Running steadily for an hour since the last termination: healed.
    match (finished, started) {
        (_, Some(s)) if duration::age(ctx.now(), s) > RECENT_SECS => false,
        (Some(f), _) => duration::age(ctx.now(), f) <= RECENT_SECS,
        _ => true,
    }
}

/// `kubectl` commands on the workload a person edits.
pub(crate) fn kubectl_ref(r: &ObjRef) -> String {
    format!("{} -n {}", r.kubectl(), r.ns())
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
