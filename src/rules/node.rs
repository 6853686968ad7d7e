//! The `node` rule set (docs/rules.md): the health of the Nodes the graph's Pods run on
//! (or the Node target), from the Node's conditions, taints and spec.
//!
//! A node finding's scope holds the Node and the graph's Pods bound to it, so that
//! Pod-level symptoms (not ready, probe failures, replicas unavailable...) are linked
//! to it. It also holds the Pending Pods of the graph that the scheduler keeps off
//! the other nodes because of this node's health taints (`node.kubernetes.io/unreachable`
//! ...), so the Node explains their `UntoleratedTaint` too.
//!
//! `neighbour.rs`: NoisyNeighbor, the Pods of a Node under pressure that use most of
//! what runs out.

mod neighbour;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod};

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::graph::{Existence, Role};
use crate::k8s::quantity::Quantity;
use crate::k8s::{duration, node, owners, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::scheduling::{self, message::Reason, placement};
use crate::rules::{Draft, RuleContext};

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let pods_on = graph_pods_by_node(ctx);
    let no_pods = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (node_ref, entry) in ctx.graph.of_kind(Kind::Node) {
        if entry.exists != Existence::Exists {
            continue;
        }
        // nodes reached only through context Pods (the cluster DNS...) matter when
        // those Pods suffer
        if entry.role == Role::Context
            && !pods_on
                .get(node_ref.name.as_str())
                .unwrap_or(&no_pods)
                .iter()
                .any(|pod_ref| {
                    !ctx.store
                        .get_ref::<Pod>(pod_ref)
                        .is_some_and(|pod| pod::is_ready(pod))
                })
        {
            continue;
        }
        names.insert(node_ref.name.clone());
    }
    let blocked = pending_pods_blocked_by_node_taints(ctx);
    names.extend(blocked.keys().cloned());
    for name in names {
        let Some(node) = ctx.store.get::<Node>("", &name) else {
            continue;
        };
        let pods = pods_on.get(name.as_str()).unwrap_or(&no_pods);
        evaluate_node(ctx, node, pods, blocked.get(&name).unwrap_or(&no_pods), out);
    }
}

/// The Pods of the graph by the node they are bound to, in the graph's order: one
/// pass over the graph's Pods (a Namespace's graph reaches hundreds of Nodes; asking
/// the store for each Node's Pods and the graph for each of those costs ~50 lookups
/// per Node).
fn graph_pods_by_node<'g>(ctx: &RuleContext<'g>) -> HashMap<&'g str, Vec<ObjRef>> {
    let mut out: HashMap<&'g str, Vec<ObjRef>> = HashMap::new();
    for (pod_ref, _) in ctx.graph.of_kind(Kind::Pod) {
        // the neighbours on a pressured node are NoisyNeighbor's, not the graph's Pods
        if ctx.graph.neighbours.contains(pod_ref) {
            continue;
        }
        if let Some(node) = ctx
            .store
            .get_ref::<Pod>(pod_ref)
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.node_name.as_deref())
            .filter(|n| !n.is_empty())
        {
            out.entry(node).or_default().push(pod_ref.clone());
        }
    }
    out
}

/// node name -> Pending Pods of the graph the scheduler keeps off other nodes because
/// this node carries a node-health taint the scheduler named.
fn pending_pods_blocked_by_node_taints(ctx: &RuleContext) -> BTreeMap<String, Vec<ObjRef>> {
    let mut keys_by_pod: Vec<(ObjRef, BTreeSet<String>)> = Vec::new();
    for pod_ref in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(pod_ref) else {
            continue;
        };
        if pod::is_scheduled(pod) || pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let Some(message) = scheduling::scheduler_says(ctx, pod_ref, pod) else {
            continue;
        };
        let keys: BTreeSet<String> = message
            .parts
            .iter()
            .filter_map(|p| match &p.reason {
                Reason::Taint(ts) => Some(ts),
                _ => None,
            })
            .flatten()
            .filter(|t| placement::NODE_HEALTH_TAINTS.contains(&t.key.as_str()))
            .map(|t| t.key.clone())
            .collect();
        if !keys.is_empty() {
            keys_by_pod.push((pod_ref.clone(), keys));
        }
    }
    let mut out: BTreeMap<String, Vec<ObjRef>> = BTreeMap::new();
    if keys_by_pod.is_empty() {
        return out;
    }
    for node in ctx.store.all::<Node>() {
        let Some(name) = node.metadata.name.as_deref() else {
            continue;
        };
        let taints = node
            .spec
            .as_ref()
            .and_then(|s| s.taints.as_deref())
            .unwrap_or(&[]);
        for (pod, keys) in &keys_by_pod {
            if taints.iter().any(|t| keys.contains(&t.key)) {
                out.entry(name.to_owned()).or_default().push(pod.clone());
            }
        }
    }
    out
}

fn describe_condition(condition: &NodeCondition, now: jiff::Timestamp) -> String {
    let since = condition
        .last_transition_time
        .as_ref()
        .map(|time| {
            format!(
                " since {} ({} ago)",
                time.0,
                duration::compact(now.as_second() - time.0.as_second())
            )
        })
        .unwrap_or_default();
    let reason = condition
        .reason
        .as_deref()
        .map(|r| format!(" reason {r}"))
        .unwrap_or_default();
    let msg = condition
        .message
        .as_deref()
        .filter(|m| !m.is_empty())
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    format!(
        "condition {}={}{reason}{since}{msg}",
        condition.type_, condition.status
    )
}

/// Node events that tell the story of a condition, newest last.
fn node_events<'a>(
    ctx: &RuleContext<'a>,
    r: &ObjRef,
    reasons: &[&str],
) -> Vec<&'a Arc<EventRecord>> {
    ctx.events(r)
        .into_iter()
        .filter(|e| reasons.contains(&e.reason.as_str()))
        .collect()
}

struct NodeScope {
    pods: Vec<ObjRef>,
    blocked: Vec<ObjRef>,
}

fn base(rule: RuleId, target: &ObjRef, scope: &NodeScope) -> Draft {
    let mut draft = Draft::new(rule, target.clone());
    for pod_ref in scope.pods.iter().chain(scope.blocked.iter()) {
        draft = draft.scope(pod_ref.clone());
    }
    if !scope.pods.is_empty() {
        let names: Vec<&str> = scope.pods.iter().take(5).map(|p| p.name.as_str()).collect();
        let more = scope.pods.len().saturating_sub(5);
        draft = draft.evidence(format!(
            "{} Pod(s) of the graph run on it: {}{}",
            scope.pods.len(),
            names.join(", "),
            if more > 0 {
                format!(" (+{more} more)")
            } else {
                String::new()
            }
        ));
    }
    if !scope.blocked.is_empty() {
        let names: Vec<&str> = scope
            .blocked
            .iter()
            .take(5)
            .map(|p| p.name.as_str())
            .collect();
        draft = draft.evidence(format!(
            "{} Pending Pod(s) of the graph are kept off by its taints: {}",
            scope.blocked.len(),
            names.join(", ")
        ));
    }
    draft
}

fn inspect_steps(draft: Draft, name: &str, reachable: bool) -> Draft {
    let draft = draft
        .read_only(
            "Describe the node: conditions, taints, events",
            format!("kubectl describe node {name}"),
        )
        .read_only(
            "List the Pods bound to it",
            format!("kubectl get pods -A -o wide --field-selector spec.nodeName={name}"),
        );
    if reachable {
        draft.read_only(
            "Read the kubelet's and the container runtime's logs on the node",
            format!(
                "kubectl debug node/{name} -it --image=busybox -- chroot /host journalctl -u kubelet -u containerd --since '30 min ago'"
            ),
        )
    } else {
        draft.step(
            "The node does not answer: check the machine from the cloud console or over SSH (is it running? `systemctl status kubelet`, `journalctl -u kubelet`)",
            None,
            Risk::ReadOnly,
        )
    }
}

fn cordon_drain_steps(draft: Draft, name: &str) -> Draft {
    draft.step(
        "Cordon it so that no new Pods land there (running Pods stay)",
        Some(format!("kubectl cordon {name}")),
        Risk::Reversible,
    )
    .step(
        "Drain it to move its Pods elsewhere. Not blindly during a capacity incident: draining removes capacity before the cluster is healthy; check spare capacity and PodDisruptionBudgets first",
        Some(format!(
            "kubectl drain {name} --ignore-daemonsets --delete-emptydir-data"
        )),
        Risk::Disruptive,
    )
}

/// A hint from the kubelet's NotReady message.
fn not_ready_hint(msg: &str) -> Option<&'static str> {
    let lower = msg.to_ascii_lowercase();
    if lower.contains("cni")
        || lower.contains("networkpluginnotready")
        || lower.contains("network plugin")
    {
        Some(
            "the CNI plugin is not ready on this node: check the network DaemonSet's Pod there (calico-node, cilium, aws-node, kube-flannel...) and its logs",
        )
    } else if lower.contains("pleg is not healthy") {
        Some(
            "the kubelet's pod lifecycle event generator is stuck: the container runtime is hung or overloaded",
        )
    } else if lower.contains("container runtime") || lower.contains("runtimeready=false") {
        Some("the container runtime (containerd / CRI-O) is down or not responding on this node")
    } else if lower.contains("csinode") || lower.contains("csi") {
        Some("a CSI node plugin is not registered on this node")
    } else {
        None
    }
}

fn evaluate_node(
    ctx: &RuleContext,
    node: &Node,
    pods: &[ObjRef],
    blocked: &[ObjRef],
    out: &mut Vec<Draft>,
) {
    let Some(name) = node.metadata.name.as_deref() else {
        return;
    };
    let node_ref = ObjRef::cluster(Kind::Node, name);
    let now = ctx.now();
    let scope = NodeScope {
        pods: pods.to_vec(),
        blocked: blocked.to_vec(),
    };
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or(&[]);
    let unreachable_taint = taints
        .iter()
        .find(|t| t.key == "node.kubernetes.io/unreachable");
    let ready = node::condition(node, "Ready");
    let ready_status = ready.map(|c| c.status.as_str());

    if ready_status == Some("Unknown") || unreachable_taint.is_some() {
        let mut draft = base(RuleId::NodeUnreachable, &node_ref, &scope);
        let since = ready
            .and_then(|c| c.last_transition_time.as_ref())
            .map(|t| {
                format!(
                    " for {}",
                    duration::compact(now.as_second() - t.0.as_second())
                )
            })
            .unwrap_or_default();
        draft = draft.message(format!(
            "Node {name} is unreachable{since}: the kubelet stopped posting node status; its Pods are not ready and will be evicted, their replacements need room elsewhere"
        ));
        if let Some(condition) = ready {
            draft = draft.evidence(describe_condition(condition, now));
            if let Some(hb) = &condition.last_heartbeat_time {
                draft = draft.evidence(format!(
                    "last heartbeat {} ({} ago)",
                    hb.0,
                    duration::compact(now.as_second() - hb.0.as_second())
                ));
            }
            draft = draft.seen(condition.last_transition_time.as_ref().map(|t| t.0), None);
        }
        for taint in taints
            .iter()
            .filter(|t| t.key.starts_with("node.kubernetes.io/"))
        {
            draft = draft.evidence(format!("taint {}", placement::taint_string(taint)));
        }
        for event in node_events(
            ctx,
            &node_ref,
            &["NodeNotReady", "NodeNotSchedulable", "Rebooted"],
        ) {
            draft = draft.event(event);
        }
        draft = draft.summary(
            "Bring the node back (machine, network, kubelet) or replace it. Pods on an unreachable node stay Terminating until the node returns or its Node object is deleted.",
        );
        draft = inspect_steps(draft, name, false);
        draft = cordon_drain_steps(draft, name);
        // StatefulSet Pods are not replaced while the old instance might still run
        let sts_pods: Vec<ObjRef> = scope
            .pods
            .iter()
            .filter(|pod_ref| {
                ctx.store
                    .get_ref::<Pod>(pod_ref)
                    .and_then(|pod| owners::controller_of(ctx.store, &pod.metadata))
                    .is_some_and(|owner| {
                        owner.kind == Kind::StatefulSet
                            && ctx.store.get_ref::<StatefulSet>(&owner).is_some()
                    })
            })
            .cloned()
            .collect();
        for pod_ref in &sts_pods {
            draft = draft.step(
                format!(
                    "StatefulSet Pod {} is not recreated elsewhere until the node is confirmed gone. Force-delete it only once the machine is known to be off, or two instances may write the same data",
                    pod_ref.name
                ),
                Some(format!("kubectl delete pod {}{} --force --grace-period=0", pod_ref.name, pod_ref.ns_flag())),
                Risk::Destructive,
            );
        }
        draft = draft.step(
            "If the machine is gone for good, delete the Node object so its Pods are released",
            Some(format!("kubectl delete node {name}")),
            Risk::Destructive,
        );
        out.push(draft);
    } else if ready_status == Some("False") {
        let ready_cond = ready.expect("ready condition present");
        let msg = ready_cond.message.as_deref().unwrap_or("");
        let mut draft = base(RuleId::NodeNotReady, &node_ref, &scope)
            .message(format!(
                "Node {name} is NotReady ({}): {}",
                ready_cond.reason.as_deref().unwrap_or("no reason"),
                if msg.is_empty() { "no message" } else { msg }
            ))
            .evidence(describe_condition(ready_cond, now))
            .seen(ready_cond.last_transition_time.as_ref().map(|t| t.0), None);
        if let Some(hint) = not_ready_hint(msg) {
            draft = draft.evidence(format!("hint: {hint}"));
        }
        for event in node_events(
            ctx,
            &node_ref,
            &["NodeNotReady", "Rebooted", "ContainerGCFailed"],
        ) {
            draft = draft.event(event);
        }
        draft = draft.summary(
            "The kubelet reports the node cannot run Pods: fix what its message names (network plugin, container runtime, kubelet), or replace the node.",
        );
        draft = inspect_steps(draft, name, true);
        if not_ready_hint(msg).is_some_and(|h| h.contains("CNI")) {
            draft = draft.read_only(
                "Check the network plugin's Pod on the node",
                format!(
                    "kubectl get pods -n kube-system -o wide --field-selector spec.nodeName={name}"
                ),
            );
        }
        draft = cordon_drain_steps(draft, name);
        out.push(draft);
    }

    let reachable = ready_status != Some("Unknown") && unreachable_taint.is_none();
    if reachable {
        pressure(ctx, node, &node_ref, &scope, out);
        neighbour::evaluate(ctx, node, &node_ref, out);
    }
    if node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false)
    {
        let running = scope.pods.len();
        let draft = Draft::new(RuleId::NodeCordoned, node_ref.clone())
            .severity(Severity::Info)
            .message(format!(
                "Node {name} is cordoned (spec.unschedulable): no new Pods are scheduled on it{}",
                if running > 0 {
                    format!("; {running} Pod(s) of the graph still run there")
                } else {
                    String::new()
                }
            ))
            .evidence("spec.unschedulable: true")
            .summary("Expected during maintenance or a drain; uncordon it once the work is done, or it silently shrinks the cluster's capacity.")
            .read_only("Describe the node", format!("kubectl describe node {name}"))
            .step(
                "Uncordon it when its maintenance is over",
                Some(format!("kubectl uncordon {name}")),
                Risk::Reversible,
            );
        out.push(draft);
    }
}

fn pressure(
    ctx: &RuleContext,
    node: &Node,
    node_ref: &ObjRef,
    scope: &NodeScope,
    out: &mut Vec<Draft>,
) {
    let name = &node_ref.name;
    let now = ctx.now();
    let alloc = |res: &str| {
        node.status
            .as_ref()
            .and_then(|s| s.allocatable.as_ref())
            .and_then(|a| a.get(res))
            .and_then(Quantity::from_k8s)
            .map(|q| q.display_for(res))
    };
    let checks: [(&str, RuleId, &str, &[&str]); 4] = [
        (
            "MemoryPressure",
            RuleId::NodeMemoryPressure,
            "is under memory pressure: the kubelet evicts Pods (BestEffort first, then those above their memory requests)",
            &[
                "EvictionThresholdMet",
                "SystemOOM",
                "NodeHasInsufficientMemory",
            ],
        ),
        (
            "DiskPressure",
            RuleId::NodeDiskPressure,
            "is under disk pressure: the kubelet garbage-collects images and evicts Pods",
            &[
                "EvictionThresholdMet",
                "FreeDiskSpaceFailed",
                "ImageGCFailed",
                "NodeHasDiskPressure",
            ],
        ),
        (
            "PIDPressure",
            RuleId::NodePIDPressure,
            "is running out of process ids: new processes fail and the kubelet evicts Pods",
            &["EvictionThresholdMet", "NodeHasInsufficientPID"],
        ),
        (
            "NetworkUnavailable",
            RuleId::NodeNetworkUnavailable,
            "has no configured network (NetworkUnavailable): Pods there cannot get a working network",
            &[],
        ),
    ];
    for (cond, rule, what, reasons) in checks {
        let Some(condition) = node::condition(node, cond).filter(|c| c.status == "True") else {
            continue;
        };
        let mut draft = base(rule, node_ref, scope)
            .message(format!("Node {name} {what}"))
            .evidence(describe_condition(condition, now))
            .seen(condition.last_transition_time.as_ref().map(|t| t.0), None);
        for event in node_events(ctx, node_ref, reasons) {
            draft = draft.event(event);
        }
        draft = match cond {
            "MemoryPressure" => {
                if let Some(amount) = alloc("memory") {
                    draft = draft.evidence(format!("allocatable memory {amount}"));
                }
                draft.summary("Find what uses the memory (Pods without limits, a leak) and give Pods realistic requests and limits; add capacity if the node is simply full.")
                    .read_only("See the node's memory use", format!("kubectl top node {name}"))
            }
            "DiskPressure" => {
                if let Some(amount) = alloc("ephemeral-storage") {
                    draft = draft.evidence(format!("allocatable ephemeral-storage {amount}"));
                }
                draft.summary("Free disk on the node: unused images, container logs, emptyDir volumes; set ephemeral-storage requests/limits on Pods that write a lot.")
                    .read_only(
                        "Check disk use on the node",
                        format!("kubectl debug node/{name} -it --image=busybox -- df -h /host/var/lib/kubelet /host/var/lib/containerd"),
                    )
            }
            "PIDPressure" => draft
                .summary("Find the Pod forking processes without bound (a fork bomb, leaked threads); set a pod PID limit in the kubelet configuration.")
                .read_only("Describe the node", format!("kubectl describe node {name}")),
            _ => draft
                .summary("The node's network is not set up (cloud routes, CNI): until it is, Pods there cannot communicate.")
                .read_only(
                    "Check the network plugin's Pods on the node",
                    format!("kubectl get pods -n kube-system -o wide --field-selector spec.nodeName={name}"),
                ),
        };
        draft = draft.read_only(
            "List the Pods bound to it",
            format!("kubectl get pods -A -o wide --field-selector spec.nodeName={name}"),
        );
        draft = cordon_drain_steps(draft, name);
        out.push(draft);
    }
}
