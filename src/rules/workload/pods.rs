//! Pod-level problems: InitContainerFailing, PodEvicted, PodStuckTerminating,
//! PodSandboxCreationFailed, and the "no clearer cause" rules HighRestartCount and
//! PodNotReady (which run after every other rule and read its claims).

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;

use crate::api::{Risk, Severity};
use crate::k8s::{duration, node, owners};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::containers::{command_not_executable, command_not_found};
use super::{
    Claims, ContainerView, Groups, PodView, RECENT_SECS, exit_code_meaning, kubectl_ref,
    with_events,
};

/// Grace added to a Pod's termination grace period before it counts as stuck.
pub(crate) const STUCK_MARGIN_SECS: i64 = 300;

pub(crate) fn evaluate_failures(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    init_container_failing(ctx, pods, claims, out);
    pod_evicted(ctx, pods, out);
    stuck_terminating(ctx, pods, claims, out);
    sandbox_failed(ctx, pods, claims, out);
}

fn init_container_failing(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<ContainerView> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live()) {
        let initialized = p
            .condition("Initialized")
            .is_some_and(|c| c.status == "True");
        if initialized && p.phase() != "Failed" {
            continue; // init containers done: earlier failures are history
        }
        for c in p.containers().into_iter().filter(|c| c.init) {
            if claims.container(&p.pod_ref, c.name()) {
                continue; // image pull failure of the init container
            }
            let failing = c.waiting_reason() == "CrashLoopBackOff"
                || matches!(
                    c.waiting_reason(),
                    "RunContainerError" | "CreateContainerError"
                )
                || c.termination().is_some_and(|(t, _)| t.exit_code != 0) && !c.running();
            if failing {
                claims.claim(&p.pod_ref, Some(c.name()));
                groups.add_hit(p, c.name(), c);
                break; // init containers run in order: the first failing one blocks
            }
        }
    }
    for g in groups.into_groups() {
        let p = g.first_pod();
        let c = *g.first_seen();
        let name = c.name();
        let workload = owners::top_owner(ctx.store, g.controller());
        let (code, reason, tmsg) = c.termination().map_or((0, "", ""), |(t, _)| {
            (
                t.exit_code,
                t.reason.as_deref().unwrap_or(""),
                t.message.as_deref().unwrap_or(""),
            )
        });
        let wmsg = c.waiting().map_or("", |(_, m)| m);
        let cause = if reason == "OOMKilled" {
            "OOMKilled: it exceeds its memory limit".to_owned()
        } else if code == 127 || command_not_found(tmsg) || command_not_found(wmsg) {
            "its command does not exist in the image".to_owned()
        } else if code == 126 || command_not_executable(tmsg) || command_not_executable(wmsg) {
            "its command is not executable".to_owned()
        } else if code != 0 {
            format!("exit {code}: {}", exit_code_meaning(code))
        } else {
            c.waiting_reason().to_owned()
        };
        let mut d = g.draft(RuleId::InitContainerFailing).message(format!(
            "Init container {name} of {} fails ({cause}), so the Pods never start{}",
            g.who(pods),
            if c.waiting_reason() == "CrashLoopBackOff" {
                format!(" (Init:CrashLoopBackOff, {} restarts)", c.restarts())
            } else {
                String::new()
            }
        ));
        if let Some(e) = c.termination_evidence() {
            d = d.evidence(e);
        }
        if let Some(w) = c.waiting_evidence() {
            d = d.evidence(w);
        }
        if let Some(cond) = p.condition("Initialized") {
            d = d.evidence(format!(
                "Pod {} condition Initialized={}{} phase={}",
                p.pod_ref.name,
                cond.status,
                cond.reason
                    .as_deref()
                    .map(|r| format!(" reason={r}"))
                    .unwrap_or_default(),
                p.phase()
            ));
        }
        let back_off = format!("restarting failed container {name} ");
        d = with_events(d, &g, 2, |e| {
            e.reason == "BackOff" && e.message.contains(&back_off)
        });
        d = d
            .summary(format!(
                "Read the log of init container {name}: it must exit 0 before the app containers start (migrations, waiting for a dependency, fetching config)"
            ))
            .read_only(
                format!("Read the output of the failed run of {name}"),
                p.logs_cmd(name, true),
            )
            .read_only("Read the init container's state", p.describe_cmd())
            .step(
                format!("Fix init container {name} in {}", workload.short()),
                Some(format!("kubectl edit {}", kubectl_ref(&workload))),
                Risk::Disruptive,
            );
        out.push(d);
    }
}

/// The latest condition transition of a Pod (when it was evicted / last changed).
fn last_transition(p: &PodView) -> Option<Timestamp> {
    p.pod
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
        .max()
}

fn pod_evicted(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    let mut groups: Groups<bool> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.evicted()) {
        let recent = last_transition(p).is_none_or(|t| duration::age(ctx.now(), t) <= RECENT_SECS);
        groups.add_hit(p, if recent { "" } else { "#old" }, recent);
    }
    for g in groups.into_groups() {
        let p = g.first_pod();
        let recent = *g.first_seen();
        let msg = p
            .pod
            .status
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default();
        let nodes: BTreeSet<&str> = g
            .members()
            .iter()
            .filter_map(|hit| hit.pod.node())
            .collect();
        let nodes = nodes.into_iter().collect::<Vec<_>>().join(", ");
        let resource = msg
            .split("low on resource: ")
            .nth(1)
            .and_then(|r| r.split(['.', ',']).next())
            .map(str::to_owned);
        let n = g.members().len();
        let mut d = g.draft(RuleId::PodEvicted).message(format!(
            "{n} Pod(s) of {} were evicted by the kubelet of {nodes}{}: {}",
            g.controller().short(),
            resource
                .as_ref()
                .map(|r| format!(" (node low on {r})"))
                .unwrap_or_default(),
            if msg.is_empty() {
                "no message"
            } else {
                msg.trim()
            }
        ));
        if !recent {
            d = d.severity(Severity::Info).message(format!(
                "{n} Pod(s) of {} were evicted from {nodes} more than an hour ago; the controller has replaced them and the Failed Pods remain as history",
                g.controller().short()
            ));
        }
        d = d
            .evidence(format!(
                "Pod {}: status.phase=Failed reason=Evicted message={:?}",
                p.pod_ref.name,
                msg.trim()
            ))
            .evidence(format!(
                "QoS class {}",
                p.pod
                    .status
                    .as_ref()
                    .and_then(|s| s.qos_class.as_deref())
                    .unwrap_or("unknown")
            ));
        if n > 1 {
            d = d.evidence(format!(
                "evicted Pods: {}",
                g.members()
                    .iter()
                    .map(|hit| hit.pod.pod_ref.name.as_str())
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        d = with_events(d, &g, 2, |e| e.reason == "Evicted");
        let node = p.node().unwrap_or("<node>");
        let workload = owners::top_owner(ctx.store, g.controller());
        d = d
            .summary(
                "Set memory/ephemeral-storage requests to the real usage (evictions pick Pods using most above their requests; BestEffort first), and give the nodes headroom",
            )
            .read_only(
                "See the node's pressure conditions and allocations",
                format!("kubectl describe node {node}"),
            )
            .read_only(
                "See the containers' real usage",
                format!("kubectl top pod -n {} --containers", p.pod_ref.ns()),
            )
            .step(
                "Set requests close to the real usage",
                Some(format!(
                    "kubectl set resources {} --requests=memory=<observed-usage>",
                    kubectl_ref(&workload)
                )),
                Risk::Reversible,
            )
            .step(
                "Clean up the Failed Pods once their evidence is captured",
                Some(format!(
                    "kubectl delete pod -n {} --field-selector=status.phase==Failed",
                    p.pod_ref.ns()
                )),
                Risk::Destructive,
            );
        out.push(d);
    }
}

fn stuck_terminating(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<(i64, i64)> = Groups::by_controller();
    for p in pods {
        let Some(del) = &p.pod.metadata.deletion_timestamp else {
            continue;
        };
        let grace = p
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or(p.spec.termination_grace_period_seconds)
            .unwrap_or(30);
        let age = duration::age(ctx.now(), del.0);
        if age > grace + STUCK_MARGIN_SECS {
            claims.claim(&p.pod_ref, None);
            groups.add_hit(p, "", (age, grace));
        }
    }
    for g in groups.into_groups() {
        let p = g.first_pod();
        let (age, grace) = *g.first_seen();
        let finalizers: Vec<String> = p.pod.metadata.finalizers.clone().unwrap_or_default();
        let node_state = p.node().map(|n| (n, node_ready(ctx, n)));
        let mut causes = Vec::new();
        if !finalizers.is_empty() {
            causes.push(format!(
                "finalizer(s) {} not removed by their controller",
                finalizers.join(", ")
            ));
        }
        if let Some((n, Some((status, _)))) = &node_state
            && status != "True"
        {
            causes.push(format!(
                "node {n} is {} so its kubelet cannot confirm the containers stopped",
                if status == "Unknown" {
                    "unreachable (Ready=Unknown)"
                } else {
                    "NotReady"
                }
            ));
        }
        if causes.is_empty() {
            causes.push("the kubelet has not finished stopping the containers (a hung process, volume unmount, or runtime problem)".to_owned());
        }
        let mut d = g.draft(RuleId::PodStuckTerminating).message(format!(
            "{} has been terminating for {} (grace period {grace}s): {}",
            if g.members().len() == 1 {
                format!("Pod {}/{}", p.pod_ref.ns(), p.pod_ref.name)
            } else {
                format!("{} Pods of {}", g.members().len(), g.controller().short())
            },
            duration::two_units(age),
            causes.join("; ")
        ));
        if let Some(del) = &p.pod.metadata.deletion_timestamp {
            d = d.evidence(format!(
                "Pod {}: metadata.deletionTimestamp={} ({} ago), grace period {grace}s",
                p.pod_ref.name,
                del.0,
                duration::two_units(age)
            ));
        }
        d = d.evidence(format!(
            "metadata.finalizers: {}",
            if finalizers.is_empty() {
                "none".to_owned()
            } else {
                finalizers.join(", ")
            }
        ));
        match &node_state {
            Some((n, Some((status, reason)))) => {
                d = d.evidence(format!("node {n}: Ready={status} ({reason})"));
                d = d.scope(ObjRef::cluster(Kind::Node, n));
            }
            Some((n, None)) => d = d.evidence(format!("node {n}: not read")),
            None => d = d.evidence("the Pod is not bound to a node"),
        }
        d = with_events(d, &g, 2, |e| {
            matches!(
                e.reason.as_str(),
                "FailedKillPod" | "FailedPreStopHook" | "FailedUnmount" | "NodeNotReady"
            )
        });
        let ns = p.pod_ref.ns();
        d = d
            .summary("Find what holds the Pod: a finalizer's controller, an unreachable node, or a hung kubelet/runtime; force deletion only once the node is known to be down")
            .read_only("Read the Pod's state and events", p.describe_cmd());
        if let Some(n) = p.node() {
            d = d.read_only("Check the node", format!("kubectl get node {n} -o wide"));
        }
        if !finalizers.is_empty() {
            d = d.step(
                "Remove the finalizers once whatever they protect is handled",
                Some(format!(
                    "kubectl patch pod {} -n {ns} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'",
                    p.pod_ref.name
                )),
                Risk::Destructive,
            );
        }
        d = d.step(
            "Force-delete the Pod (only if its node is down for good: a StatefulSet Pod may otherwise run twice)",
            Some(format!(
                "kubectl delete pod {} -n {ns} --grace-period=0 --force",
                p.pod_ref.name
            )),
            Risk::Destructive,
        );
        out.push(d);
    }
}

/// A node's Ready condition (status, reason), when the node was read.
fn node_ready(ctx: &RuleContext, node: &str) -> Option<(String, String)> {
    let c = node::condition(ctx.store.get::<Node>("", node)?, "Ready")?;
    Some((
        c.status.clone(),
        c.reason.clone().unwrap_or_else(|| "no reason".to_owned()),
    ))
}

/// The cause of a FailedCreatePodSandBox message, in a few words.
pub(crate) fn sandbox_cause(msg: &str) -> &'static str {
    let m = msg.to_ascii_lowercase();
    if m.contains("no ip addresses available")
        || m.contains("failed to allocate for range")
        || m.contains("ipam") && m.contains("exhaust")
    {
        "the node's Pod IP range is exhausted (IPAM)"
    } else if m.contains("unauthorized") || m.contains("forbidden") {
        "the CNI plugin's credentials to the API server are refused"
    } else if m.contains("sandbox image") || m.contains("pause") && m.contains("pull") {
        "the runtime cannot pull the sandbox (pause) image"
    } else if m.contains("failed to setup network")
        || m.contains("plugin type=")
        || m.contains("cni")
    {
        "the CNI plugin fails to set up the Pod network"
    } else {
        "the container runtime fails to create the sandbox"
    }
}

fn sandbox_failed(_ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    let mut groups: Groups<bool> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live()) {
        let evs = p.events_with("FailedCreatePodSandBox");
        if evs.is_empty() {
            continue;
        }
        let started = p.containers().iter().any(|c| {
            c.status.is_some_and(|s| {
                s.container_id.is_some() || s.state.as_ref().is_some_and(|s| s.running.is_some())
            })
        });
        let current = !started && p.phase() == "Pending";
        if current {
            claims.claim(&p.pod_ref, None);
        }
        groups.add_hit(p, if current { "" } else { "#recovered" }, current);
    }
    for g in groups.into_groups() {
        let p = g.first_pod();
        let current = *g.first_seen();
        let evs = p.events_with("FailedCreatePodSandBox");
        let last = evs.last().map(|e| e.message.clone()).unwrap_or_default();
        let cause = sandbox_cause(&last);
        let nodes: BTreeSet<&str> = g
            .members()
            .iter()
            .filter_map(|hit| hit.pod.node())
            .collect();
        let node_list = nodes.iter().copied().collect::<Vec<_>>().join(", ");
        let mut d = g.draft(RuleId::PodSandboxCreationFailed);
        for n in &nodes {
            d = d.scope(ObjRef::cluster(Kind::Node, n));
        }
        if current {
            d = d.message(format!(
                "The container runtime on {node_list} cannot create the sandbox of {}: {cause}. A platform problem: escalate to the platform team",
                g.who(pods)
            ));
        } else {
            d = d.severity(Severity::Info).message(format!(
                "Creating the sandbox of {} failed earlier on {node_list} ({cause}), but the containers have started since: recovered",
                g.who(pods)
            ));
        }
        d = d.evidence(format!(
            "Pod {}: phase={}, node {}",
            p.pod_ref.name,
            p.phase(),
            p.node().unwrap_or("-")
        ));
        d = with_events(d, &g, 2, |e| e.reason == "FailedCreatePodSandBox");
        let node = p.node().unwrap_or("<node>");
        d = d
            .summary(format!("Escalate to the platform team: {cause} on {node_list}. Moving workloads away from the node is a stopgap"))
            .read_only("Read the sandbox errors", p.describe_cmd())
            .read_only(
                "Check the CNI and runtime Pods on the node",
                format!("kubectl get pods -n kube-system -o wide --field-selector spec.nodeName={node}"),
            )
            .read_only("Check the node's conditions", format!("kubectl describe node {node}"))
            .step(
                "Keep new Pods off the node while the platform team investigates",
                Some(format!("kubectl cordon {node}")),
                Risk::Reversible,
            );
        out.push(d);
    }
}

/// HighRestartCount: a container restarted recently (last termination within the
/// hour) at least 3 times, and no failure rule explains it.
pub(crate) fn high_restart_count(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<ContainerView> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live() && !p.terminating()) {
        for c in p.containers().into_iter().filter(|c| !c.init) {
            if c.restarts() < 3 || claims.container(&p.pod_ref, c.name()) {
                continue;
            }
            let recent = c.termination().is_some_and(|(t, _)| {
                t.finished_at
                    .as_ref()
                    .is_some_and(|f| duration::age(ctx.now(), f.0) <= RECENT_SECS)
            });
            if recent {
                groups.add_hit(p, c.name(), c);
            }
        }
    }
    for g in groups.into_groups() {
        let p = g.first_pod();
        let c = *g.first_seen();
        let name = c.name();
        let code = c.termination().map_or(0, |(t, _)| t.exit_code);
        let total: i32 = g.members().iter().map(|hit| hit.seen.restarts()).sum();
        let mut d = g.draft(RuleId::HighRestartCount).message(format!(
            "Container {name} of {} restarted {total} time(s), the last within the hour (exit {code}: {}); it runs again now, but something kills or stops it",
            g.who(pods),
            exit_code_meaning(code)
        ));
        if let Some(e) = c.termination_evidence() {
            d = d.evidence(e);
        }
        d = d.evidence(format!(
            "container {name}: running={}, ready={}",
            c.running(),
            c.ready()
        ));
        let back_off = format!("restarting failed container {name} ");
        d = with_events(d, &g, 2, |e| {
            e.reason == "BackOff" && e.message.contains(&back_off)
        });
        d = d
            .summary(format!(
                "Read the log of the previous run of {name} and its exit code to find why it stops"
            ))
            .read_only("Read the previous run's log", p.logs_cmd(name, true))
            .read_only("Read the container's last state", p.describe_cmd());
        out.push(d);
    }
}

/// PodNotReady: Running, Ready=False, and no other finding explains it.
pub(crate) fn pod_not_ready(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<()> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live() && !p.terminating()) {
        if p.phase() != "Running" || p.ready() || claims.pod(&p.pod_ref) {
            continue;
        }
        if p.condition("Ready").is_none() {
            continue;
        }
        groups.add_hit(p, "", ());
    }
    for g in groups.into_groups() {
        let p = g.first_pod();
        let cond = p.condition("Ready");
        let reason = cond.and_then(|c| c.reason.as_deref()).unwrap_or("");
        let msg = cond.and_then(|c| c.message.as_deref()).unwrap_or("");
        let unready: Vec<String> = p
            .containers()
            .iter()
            .filter(|c| !c.init && !c.ready())
            .map(|c| c.name().to_owned())
            .collect();
        let workload = owners::top_owner(ctx.store, g.controller());
        let mut d = g.draft(RuleId::PodNotReady).message(format!(
            "{} {} Running but not Ready{}: Services send them no traffic",
            g.who(pods),
            if g.members().len() == 1 { "is" } else { "are" },
            if reason == "ReadinessGatesNotReady" {
                " (a readiness gate is not satisfied)".to_owned()
            } else if unready.is_empty() {
                String::new()
            } else {
                format!(" (containers not ready: {})", unready.join(", "))
            }
        ));
        if let Some(c) = cond {
            d = d.evidence(format!(
                "Pod {} condition Ready={} reason={} message={msg:?}{}",
                p.pod_ref.name,
                c.status,
                if reason.is_empty() { "-" } else { reason },
                c.last_transition_time
                    .as_ref()
                    .map(|t| format!(" since {}", t.0))
                    .unwrap_or_default()
            ));
        }
        for c in p.containers().iter().filter(|c| !c.init && !c.ready()) {
            d = d.evidence(format!(
                "container {}: ready=false, running={}, readinessProbe {}",
                c.name(),
                c.running(),
                if c.spec.readiness_probe.is_some() {
                    "defined"
                } else {
                    "none"
                }
            ));
        }
        d = d
            .summary("Find why the containers are not ready: their readiness probes, readiness gates, or the node")
            .read_only("Read the Pod's conditions and events", p.describe_cmd())
            .read_only("Read the Pod's events", p.events_cmd())
            .read_only(
                "Compare with the workload's other Pods",
                format!("kubectl get pods -n {} -o wide", p.pod_ref.ns()),
            );
        let _ = workload;
        out.push(d);
    }
}
