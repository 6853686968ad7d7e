//! Pod-level problems: InitContainerFailing, PodEvicted, PodStuckTerminating,
//! PodSandboxCreationFailed, and the "no clearer cause" rules HighRestartCount and
//! PodNotReady (which run after every other rule and read its claims).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Node;

use crate::api::{Risk, Severity};
use crate::k8s::{duration, node, owners};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::containers::{command_not_executable, command_not_found};
use super::{
    Claims, ContainerView, Groups, KubeletFailure, PodView, RECENT_SECS, exit_code_meaning,
    kubectl_ref, with_events,
};

/// Grace added to a Pod's termination grace period before it counts as stuck.
pub(crate) const STUCK_MARGIN_SECS: i64 = 300;

/// The Pod-level failure rules (they claim what they find for the rules that run later).
pub(crate) fn evaluate_failures(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    init_container_failing(ctx, pods, claims, out);
    pod_evicted(ctx, pods, out);
    failed_by_kubelet(ctx, pods, out);
    stuck_terminating(ctx, pods, claims, out);
    sandbox_failed(ctx, pods, claims, out);
}

/// InitContainerFailing: a classic init container fails, so the app containers never start.
fn init_container_failing(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<ContainerView> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live()) {
        let initialized = pod
            .condition("Initialized")
            .is_some_and(|condition| condition.status == "True");
        if initialized && pod.phase() != "Failed" {
            continue; // init containers done: earlier failures are history
        }
        for container in pod
            .containers()
            .into_iter()
            .filter(|container| container.init)
        {
            if claims.container(&pod.pod_ref, container.name()) {
                continue; // image pull failure of the init container
            }
            let failing = container.waiting_reason() == "CrashLoopBackOff"
                || matches!(
                    container.waiting_reason(),
                    "RunContainerError" | "CreateContainerError"
                )
                || container
                    .termination()
                    .is_some_and(|(terminated, _)| terminated.exit_code != 0)
                    && !container.running();
            if failing {
                claims.claim(&pod.pod_ref, Some(container.name()));
                groups.add_hit(pod, container.name(), container);
                break; // init containers run in order: the first failing one blocks
            }
        }
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        let container = *group.first_seen();
        let name = container.name();
        let workload = owners::top_owner(ctx.store, group.controller());
        let (code, reason, termination_message) =
            container
                .termination()
                .map_or((0, "", ""), |(terminated, _)| {
                    (
                        terminated.exit_code,
                        terminated.reason.as_deref().unwrap_or(""),
                        terminated.message.as_deref().unwrap_or(""),
                    )
                });
        let waiting_message = container.waiting().map_or("", |(_, message)| message);
        let cause = if reason == "OOMKilled" {
            "OOMKilled: it exceeds its memory limit".to_owned()
        } else if code == 127
            || command_not_found(termination_message)
            || command_not_found(waiting_message)
        {
            "its command does not exist in the image".to_owned()
        } else if code == 126
            || command_not_executable(termination_message)
            || command_not_executable(waiting_message)
        {
            "its command is not executable".to_owned()
        } else if code != 0 {
            format!("exit {code}: {}", exit_code_meaning(code))
        } else {
            container.waiting_reason().to_owned()
        };
        let mut draft = group.draft(RuleId::InitContainerFailing).message(format!(
            "Init container {name} of {} fails ({cause}), so the Pods never start{}",
            group.who(pods),
            if container.waiting_reason() == "CrashLoopBackOff" {
                format!(
                    " (Init:CrashLoopBackOff, {} restarts)",
                    container.restarts()
                )
            } else {
                String::new()
            }
        ));
        if let Some(termination) = container.termination_evidence() {
            draft = draft.evidence(termination);
        }
        if let Some(waiting) = container.waiting_evidence() {
            draft = draft.evidence(waiting);
        }
        if let Some(initialized) = pod.condition("Initialized") {
            draft = draft.evidence(format!(
                "Pod {} condition Initialized={}{} phase={}",
                pod.pod_ref.name,
                initialized.status,
                initialized
                    .reason
                    .as_deref()
                    .map(|reason| format!(" reason={reason}"))
                    .unwrap_or_default(),
                pod.phase()
            ));
        }
        let back_off = format!("restarting failed container {name} ");
        draft = with_events(draft, &group, 2, |event| {
            event.reason == "BackOff" && event.message.contains(&back_off)
        });
        draft = draft
            .summary(format!(
                "Read the log of init container {name}: it must exit 0 before the app containers start (migrations, waiting for a dependency, fetching config)"
            ))
            .read_only(
                format!("Read the output of the failed run of {name}"),
                pod.logs_cmd(name, true),
            )
            .read_only("Read the init container's state", pod.describe_cmd())
            .step(
                format!("Fix init container {name} in {}", workload.short()),
                Some(format!("kubectl edit {}", kubectl_ref(&workload))),
                Risk::Disruptive,
            );
        out.push(draft);
    }
}

/// PodEvicted: the kubelet evicted Pods (Info once they are an hour old).
fn pod_evicted(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    let mut groups: Groups<bool> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.evicted()) {
        let recent = pod
            .last_transition()
            .is_none_or(|time| duration::age(ctx.now(), time) <= RECENT_SECS);
        groups.add_hit(pod, if recent { "" } else { "#old" }, recent);
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        let recent = *group.first_seen();
        let message = pod
            .pod
            .status
            .as_ref()
            .and_then(|status| status.message.clone())
            .unwrap_or_default();
        let nodes = group.node_list();
        let resource = message
            .split("low on resource: ")
            .nth(1)
            .and_then(|rest| rest.split(['.', ',']).next())
            .map(str::to_owned);
        let evicted = group.members().len();
        let mut draft = group.draft(RuleId::PodEvicted).message(format!(
            "{evicted} Pod(s) of {} were evicted by the kubelet of {nodes}{}: {}",
            group.controller().short(),
            resource
                .as_ref()
                .map(|resource| format!(" (node low on {resource})"))
                .unwrap_or_default(),
            if message.is_empty() {
                "no message"
            } else {
                message.trim()
            }
        ));
        if !recent {
            draft = draft.severity(Severity::Info).message(format!(
                "{evicted} Pod(s) of {} were evicted from {nodes} more than an hour ago; the controller has replaced them and the Failed Pods remain as history",
                group.controller().short()
            ));
        }
        draft = draft
            .evidence(format!(
                "Pod {}: status.phase=Failed reason=Evicted message={:?}",
                pod.pod_ref.name,
                message.trim()
            ))
            .evidence(format!(
                "QoS class {}",
                pod.pod
                    .status
                    .as_ref()
                    .and_then(|status| status.qos_class.as_deref())
                    .unwrap_or("unknown")
            ));
        if evicted > 1 {
            draft = draft.evidence(format!(
                "evicted Pods: {}",
                group
                    .members()
                    .iter()
                    .map(|hit| hit.pod.pod_ref.name.as_str())
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        draft = with_events(draft, &group, 2, |event| event.reason == "Evicted");
        let node = pod.node().unwrap_or("<node>");
        let workload = owners::top_owner(ctx.store, group.controller());
        draft = draft
            .summary(
                "Set memory/ephemeral-storage requests to the real usage (evictions pick Pods using most above their requests; BestEffort first), and give the nodes headroom",
            )
            .read_only(
                "See the node's pressure conditions and allocations",
                format!("kubectl describe node {node}"),
            )
            .read_only(
                "See the containers' real usage",
                format!("kubectl top pod -n {} --containers", pod.pod_ref.ns()),
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
                    pod.pod_ref.ns()
                )),
                Risk::Destructive,
            );
        out.push(draft);
    }
}

/// PodEvicted for the Pods the kubelet failed by itself: refused at admission,
/// terminated for a node shutdown, preempted for a critical Pod. Their containers did
/// not crash (exit 137 is the kubelet's kill); Info once an hour old.
fn failed_by_kubelet(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    let mut groups: Groups<(KubeletFailure, bool)> = Groups::by_controller();
    for pod in pods {
        let Some(failure) = pod.failed_by_kubelet() else {
            continue;
        };
        let recent = pod
            .last_transition()
            .is_none_or(|time| duration::age(ctx.now(), time) <= RECENT_SECS);
        let key = format!("{failure:?}{}", if recent { "" } else { "#old" });
        groups.add_hit(pod, key, (failure, recent));
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        let (failure, recent) = *group.first_seen();
        let status = pod.pod.status.as_ref();
        let message = status
            .and_then(|status| status.message.as_deref())
            .unwrap_or("")
            .trim()
            .to_owned();
        let reason = pod.reason().to_owned();
        let nodes = group.node_list();
        let count = group.members().len();
        let who = group.controller().short();
        let text = match failure {
            KubeletFailure::Rejected => format!(
                "{count} Pod(s) of {who} were refused by the kubelet of {nodes} at admission ({reason}: {message}): the node could not run what the scheduler placed on it"
            ),
            KubeletFailure::NodeShutdown => format!(
                "{count} Pod(s) of {who} were stopped by the kubelet of {nodes} for the node's shutdown ({reason}: {message}); their containers did not crash"
            ),
            KubeletFailure::Preempted => format!(
                "{count} Pod(s) of {who} were killed by the kubelet of {nodes} to admit a critical Pod ({reason}: {message}); their containers did not crash"
            ),
        };
        let mut draft = group.draft(RuleId::PodEvicted).message(text.clone());
        if failure == KubeletFailure::NodeShutdown {
            // a graceful shutdown works as intended: the controller replaces the Pods
            draft = draft.severity(Severity::Info);
        }
        if !recent {
            draft = draft.severity(Severity::Info).message(format!(
                "History: {text}. It was more than an hour ago; the Failed Pods remain"
            ));
        }
        draft = draft.evidence(format!(
            "Pod {}: status.phase=Failed reason={reason} message={message:?}",
            pod.pod_ref.name
        ));
        if failure == KubeletFailure::Rejected && pod.spec.node_name.is_some() {
            let scheduled = pod
                .condition("PodScheduled")
                .is_some_and(|condition| condition.status == "True");
            if !scheduled {
                draft = draft.evidence(format!(
                    "Pod {}: spec.nodeName={} without a PodScheduled condition: it bypassed the scheduler",
                    pod.pod_ref.name,
                    pod.node().unwrap_or_default()
                ));
            }
        }
        draft = with_events(draft, &group, 2, |event| event.reason == reason);
        let node = pod.node().unwrap_or("<node>");
        draft = match failure {
            KubeletFailure::Rejected => draft.summary(
                "Find why the node refused what the scheduler placed there: Pods with spec.nodeName set bypass the scheduler; static Pods, a changed node capacity or node labels can disagree with its view",
            ),
            KubeletFailure::NodeShutdown => draft.summary(
                "Nothing to fix in the workload if the shutdown was planned; check that replacements run elsewhere and that a PodDisruptionBudget protects the workload",
            ),
            KubeletFailure::Preempted => draft.summary(
                "The node had no room for a critical Pod (system-node-critical, a static Pod): give the node headroom or set requests so the scheduler accounts for it",
            ),
        }
        .read_only(
            "See the node's capacity, allocations and conditions",
            format!("kubectl describe node {node}"),
        )
        .read_only("Read the Pod's status and events", pod.describe_cmd());
        out.push(draft);
    }
}

/// PodStuckTerminating: a Pod deleted longer ago than its grace period and a margin.
fn stuck_terminating(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<(i64, i64)> = Groups::by_controller();
    for pod in pods {
        let Some(deletion) = &pod.pod.metadata.deletion_timestamp else {
            continue;
        };
        let grace = pod
            .pod
            .metadata
            .deletion_grace_period_seconds
            .or(pod.spec.termination_grace_period_seconds)
            .unwrap_or(30);
        let age = duration::age(ctx.now(), deletion.0);
        if age > grace + STUCK_MARGIN_SECS {
            claims.claim(&pod.pod_ref, None);
            groups.add_hit(pod, "", (age, grace));
        }
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        let (age, grace) = *group.first_seen();
        let finalizers: Vec<String> = pod.pod.metadata.finalizers.clone().unwrap_or_default();
        let node_state = pod.node().map(|node| (node, node_ready(ctx, node)));
        let mut causes = Vec::new();
        if !finalizers.is_empty() {
            causes.push(format!(
                "finalizer(s) {} not removed by their controller",
                finalizers.join(", ")
            ));
        }
        if let Some((node, Some((status, _)))) = &node_state
            && status != "True"
        {
            causes.push(format!(
                "node {node} is {} so its kubelet cannot confirm the containers stopped",
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
        let mut draft = group.draft(RuleId::PodStuckTerminating).message(format!(
            "{} has been terminating for {} (grace period {grace}s): {}",
            if group.members().len() == 1 {
                format!("Pod {}/{}", pod.pod_ref.ns(), pod.pod_ref.name)
            } else {
                format!(
                    "{} Pods of {}",
                    group.members().len(),
                    group.controller().short()
                )
            },
            duration::two_units(age),
            causes.join("; ")
        ));
        if let Some(deletion) = &pod.pod.metadata.deletion_timestamp {
            draft = draft.evidence(format!(
                "Pod {}: metadata.deletionTimestamp={} ({} ago), grace period {grace}s",
                pod.pod_ref.name,
                deletion.0,
                duration::two_units(age)
            ));
        }
        draft = draft.evidence(format!(
            "metadata.finalizers: {}",
            if finalizers.is_empty() {
                "none".to_owned()
            } else {
                finalizers.join(", ")
            }
        ));
        match &node_state {
            Some((node, Some((status, reason)))) => {
                draft = draft.evidence(format!("node {node}: Ready={status} ({reason})"));
                draft = draft.scope(ObjRef::cluster(Kind::Node, node));
            }
            Some((node, None)) => draft = draft.evidence(format!("node {node}: not read")),
            None => draft = draft.evidence("the Pod is not bound to a node"),
        }
        draft = with_events(draft, &group, 2, |event| {
            matches!(
                event.reason.as_str(),
                "FailedKillPod" | "FailedPreStopHook" | "FailedUnmount" | "NodeNotReady"
            )
        });
        let ns = pod.pod_ref.ns();
        draft = draft
            .summary("Find what holds the Pod: a finalizer's controller, an unreachable node, or a hung kubelet/runtime; force deletion only once the node is known to be down")
            .read_only("Read the Pod's state and events", pod.describe_cmd());
        if let Some(node) = pod.node() {
            draft = draft.read_only("Check the node", format!("kubectl get node {node} -o wide"));
        }
        if !finalizers.is_empty() {
            draft = draft.step(
                "Remove the finalizers once whatever they protect is handled",
                Some(format!(
                    "kubectl patch pod {} -n {ns} --type=merge -p '{{\"metadata\":{{\"finalizers\":null}}}}'",
                    pod.pod_ref.name
                )),
                Risk::Destructive,
            );
        }
        draft = draft.step(
            "Force-delete the Pod (only if its node is down for good: a StatefulSet Pod may otherwise run twice)",
            Some(format!(
                "kubectl delete pod {} -n {ns} --grace-period=0 --force",
                pod.pod_ref.name
            )),
            Risk::Destructive,
        );
        out.push(draft);
    }
}

/// A node's Ready condition (status, reason), when the node was read.
fn node_ready(ctx: &RuleContext, node: &str) -> Option<(String, String)> {
    let ready = node::condition(ctx.store.get::<Node>("", node)?, "Ready")?;
    Some((
        ready.status.clone(),
        ready
            .reason
            .clone()
            .unwrap_or_else(|| "no reason".to_owned()),
    ))
}

/// The cause of a FailedCreatePodSandBox message, in a few words.
pub(crate) fn sandbox_cause(message: &str) -> &'static str {
    let lowercase = message.to_ascii_lowercase();
    if lowercase.contains("no ip addresses available")
        || lowercase.contains("failed to allocate for range")
        || lowercase.contains("ipam") && lowercase.contains("exhaust")
    {
        "the node's Pod IP range is exhausted (IPAM)"
    } else if lowercase.contains("unauthorized") || lowercase.contains("forbidden") {
        "the CNI plugin's credentials to the API server are refused"
    } else if lowercase.contains("sandbox image")
        || lowercase.contains("pause") && lowercase.contains("pull")
    {
        "the runtime cannot pull the sandbox (pause) image"
    } else if lowercase.contains("failed to setup network")
        || lowercase.contains("plugin type=")
        || lowercase.contains("cni")
    {
        "the CNI plugin fails to set up the Pod network"
    } else {
        "the container runtime fails to create the sandbox"
    }
}

/// PodSandboxCreationFailed: the runtime cannot create the Pod sandbox (Info once the
/// containers have started).
fn sandbox_failed(_ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    let mut groups: Groups<bool> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live()) {
        if pod.events_with("FailedCreatePodSandBox").is_empty() {
            continue;
        }
        let started = pod.containers().iter().any(|container| {
            container.status.is_some_and(|status| {
                status.container_id.is_some()
                    || status
                        .state
                        .as_ref()
                        .is_some_and(|state| state.running.is_some())
            })
        });
        let current = !started && pod.phase() == "Pending";
        if current {
            claims.claim(&pod.pod_ref, None);
        }
        groups.add_hit(pod, if current { "" } else { "#recovered" }, current);
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        let current = *group.first_seen();
        let events = pod.events_with("FailedCreatePodSandBox");
        let last = events
            .last()
            .map(|event| event.message.clone())
            .unwrap_or_default();
        let cause = sandbox_cause(&last);
        let nodes: BTreeSet<&str> = group
            .members()
            .iter()
            .filter_map(|hit| hit.pod.node())
            .collect();
        let node_list = nodes.iter().copied().collect::<Vec<_>>().join(", ");
        let mut draft = group.draft(RuleId::PodSandboxCreationFailed);
        for node_name in &nodes {
            draft = draft.scope(ObjRef::cluster(Kind::Node, node_name));
        }
        if current {
            draft = draft.message(format!(
                "The container runtime on {node_list} cannot create the sandbox of {}: {cause}. A platform problem: escalate to the platform team",
                group.who(pods)
            ));
        } else {
            draft = draft.severity(Severity::Info).message(format!(
                "Creating the sandbox of {} failed earlier on {node_list} ({cause}), but the containers have started since: recovered",
                group.who(pods)
            ));
        }
        draft = draft.evidence(format!(
            "Pod {}: phase={}, node {}",
            pod.pod_ref.name,
            pod.phase(),
            pod.node().unwrap_or("-")
        ));
        draft = with_events(draft, &group, 2, |event| {
            event.reason == "FailedCreatePodSandBox"
        });
        let node = pod.node().unwrap_or("<node>");
        draft = draft
            .summary(format!("Escalate to the platform team: {cause} on {node_list}. Moving workloads away from the node is a stopgap"))
            .read_only("Read the sandbox errors", pod.describe_cmd())
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
        out.push(draft);
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
    for pod in pods.iter().filter(|pod| pod.live() && !pod.terminating()) {
        for container in pod
            .containers()
            .into_iter()
            .filter(|container| !container.init)
        {
            if container.restarts() < 3 || claims.container(&pod.pod_ref, container.name()) {
                continue;
            }
            let recent = container.termination().is_some_and(|(terminated, _)| {
                terminated
                    .finished_at
                    .as_ref()
                    .is_some_and(|finished| duration::age(ctx.now(), finished.0) <= RECENT_SECS)
            });
            if recent {
                groups.add_hit(pod, container.name(), container);
            }
        }
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        let container = *group.first_seen();
        let name = container.name();
        let code = container
            .termination()
            .map_or(0, |(terminated, _)| terminated.exit_code);
        let total: i32 = group.members().iter().map(|hit| hit.seen.restarts()).sum();
        let mut draft = group.draft(RuleId::HighRestartCount).message(format!(
            "Container {name} of {} restarted {total} time(s), the last within the hour (exit {code}: {}); it runs again now, but something kills or stops it",
            group.who(pods),
            exit_code_meaning(code)
        ));
        if let Some(termination) = container.termination_evidence() {
            draft = draft.evidence(termination);
        }
        draft = draft.evidence(format!(
            "container {name}: running={}, ready={}",
            container.running(),
            container.ready()
        ));
        let back_off = format!("restarting failed container {name} ");
        draft = with_events(draft, &group, 2, |event| {
            event.reason == "BackOff" && event.message.contains(&back_off)
        });
        draft = draft
            .summary(format!(
                "Read the log of the previous run of {name} and its exit code to find why it stops"
            ))
            .read_only("Read the previous run's log", pod.logs_cmd(name, true))
            .read_only("Read the container's last state", pod.describe_cmd());
        out.push(draft);
    }
}

/// The probes' budget (seconds) when every unready container of a Pod started
/// within it and has not restarted: the Pod is still starting.
fn starting_for(ctx: &RuleContext, pod: &PodView) -> Option<i64> {
    let unready: Vec<_> = pod
        .containers()
        .into_iter()
        .filter(|container| !container.init && !container.ready())
        .collect();
    let mut budget = 0;
    for container in &unready {
        let since = container.running_since()?;
        let allowed = super::probes::readiness_budget_secs(container);
        if container.restarts() > 0 || duration::age(ctx.now(), since) > allowed {
            return None;
        }
        budget = budget.max(allowed);
    }
    (!unready.is_empty()).then_some(budget)
}

/// PodNotReady: Running, Ready=False, and no other finding explains it (Info while
/// the containers are inside their probes' budget: in progress).
pub(crate) fn pod_not_ready(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<Option<i64>> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live() && !pod.terminating()) {
        if pod.phase() != "Running" || pod.ready() || claims.pod(&pod.pod_ref) {
            continue;
        }
        if pod.condition("Ready").is_none() {
            continue;
        }
        let starting = starting_for(ctx, pod);
        groups.add_hit(
            pod,
            if starting.is_some() { "#starting" } else { "" },
            starting,
        );
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        if let Some(budget) = *group.first_seen() {
            // in progress is not broken: the containers are inside their probes' budget
            let draft = group
                .draft(RuleId::PodNotReady)
                .severity(Severity::Info)
                .message(format!(
                    "In progress: {} started less than {budget}s ago and {} not Ready yet, inside the {budget}s its probes allow (initialDelaySeconds + periodSeconds x failureThreshold)",
                    group.who(pods),
                    if group.members().len() == 1 { "is" } else { "are" },
                ))
                .summary("Nothing to do yet: wait for the probes' budget to pass")
                .read_only("Watch the Pods become ready", format!("kubectl get pods -n {} -w", pod.pod_ref.ns()));
            out.push(draft);
            continue;
        }
        let ready = pod.condition("Ready");
        let reason = ready
            .and_then(|condition| condition.reason.as_deref())
            .unwrap_or("");
        let message = ready
            .and_then(|condition| condition.message.as_deref())
            .unwrap_or("");
        let unready: Vec<String> = pod
            .containers()
            .iter()
            .filter(|container| !container.init && !container.ready())
            .map(|container| container.name().to_owned())
            .collect();
        let mut draft = group.draft(RuleId::PodNotReady).message(format!(
            "{} {} Running but not Ready{}: Services send them no traffic",
            group.who(pods),
            if group.members().len() == 1 {
                "is"
            } else {
                "are"
            },
            if reason == "ReadinessGatesNotReady" {
                " (a readiness gate is not satisfied)".to_owned()
            } else if unready.is_empty() {
                String::new()
            } else {
                format!(" (containers not ready: {})", unready.join(", "))
            }
        ));
        if let Some(ready) = ready {
            draft = draft.evidence(format!(
                "Pod {} condition Ready={} reason={} message={message:?}{}",
                pod.pod_ref.name,
                ready.status,
                if reason.is_empty() { "-" } else { reason },
                ready
                    .last_transition_time
                    .as_ref()
                    .map(|time| format!(" since {}", time.0))
                    .unwrap_or_default()
            ));
        }
        for container in pod
            .containers()
            .iter()
            .filter(|container| !container.init && !container.ready())
        {
            draft = draft.evidence(format!(
                "container {}: ready=false, running={}, readinessProbe {}",
                container.name(),
                container.running(),
                if container.spec.readiness_probe.is_some() {
                    "defined"
                } else {
                    "none"
                }
            ));
        }
        draft = draft
            .summary("Find why the containers are not ready: their readiness probes, readiness gates, or the node")
            .read_only("Read the Pod's conditions and events", pod.describe_cmd())
            .read_only("Read the Pod's events", pod.events_cmd())
            .read_only(
                "Compare with the workload's other Pods",
                format!("kubectl get pods -n {} -o wide", pod.pod_ref.ns()),
            );
        out.push(draft);
    }
}
