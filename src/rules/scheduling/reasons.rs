//! Hits from the reasons of the scheduler's message: the message is tallied per kind
//! of reason ([`Tally`]), then each cause it shows becomes a hit whose texts come
//! from the table of [`super::causes`].
//!
//! A placement verdict already found for the Pod (requests larger than any node, a
//! selector no node matches, taints on every node) is not repeated from the message.
//! Context every hit of the message carries: the nodes excluded by the selector or
//! cordoned, control-plane taints, user taints next to harder constraints, whether
//! preemption may help.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, PersistentVolume, PersistentVolumeClaim, PodSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::k8s::quantity::{self, Quantity};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleContext;
use crate::rules::RuleId;
use crate::selector::Selector;
use crate::store::Store;

use super::causes::{Cause, INSPECT_VOLUME_TOPOLOGY};
use super::claims::pod_claims;
use super::hit::{Hit, PodFacts, requests_line};
use super::message::{AffinityKind, PrintedTaint, Reason, SchedulerMessage};
use super::placement::{self, NodeView, Nodes};

/// The reasons of one message, by kind, with how many nodes each excludes.
#[derive(Default)]
struct Tally {
    /// (resource, nodes).
    insufficient: Vec<(String, u32)>,
    /// Taints that reserve nodes for some workloads.
    user_taints: Vec<(PrintedTaint, u32)>,
    /// Taints of unhealthy nodes.
    health_taints: Vec<(PrintedTaint, u32)>,
    /// Taints that keep workloads off control-plane nodes.
    control_plane_taints: Vec<(PrintedTaint, u32)>,
    /// Nodes with taints the message does not name.
    unnamed_taints: u32,
    /// Nodes the node selector / affinity excludes.
    selector: u32,
    /// Cordoned nodes.
    cordoned: u32,
    /// (which inter-Pod constraint, nodes).
    affinity: Vec<(AffinityKind, u32)>,
    /// Nodes outside the topology of a bound volume.
    volume_conflict: u32,
    /// Reasons quoted as written (host ports, unknown ones).
    other: Vec<String>,
    /// The message names unbound or missing claims (the claims' own hit covers them).
    claims: bool,
}

impl Tally {
    fn of(message: &SchedulerMessage) -> Tally {
        let mut tally = Tally::default();
        for part in &message.parts {
            let count = part.count.unwrap_or(0);
            match &part.reason {
                Reason::Insufficient(resource) => {
                    tally.insufficient.push((resource.clone(), count))
                }
                Reason::Taint(taints) if taints.is_empty() => tally.unnamed_taints += count,
                Reason::Taint(taints) => {
                    for taint in taints {
                        let key = taint.key.as_str();
                        let bucket = if placement::CONTROL_PLANE_TAINTS.contains(&key) {
                            &mut tally.control_plane_taints
                        } else if placement::NODE_HEALTH_TAINTS.contains(&key) {
                            &mut tally.health_taints
                        } else {
                            &mut tally.user_taints
                        };
                        bucket.push((taint.clone(), count));
                    }
                }
                Reason::NodeSelector => tally.selector += count,
                Reason::Unschedulable => tally.cordoned += count,
                Reason::PodAffinity(kind) => tally.affinity.push((*kind, count)),
                Reason::VolumeNodeAffinity => tally.volume_conflict += count,
                Reason::UnboundClaims | Reason::ClaimNotFound(_) => {} // claim_hits
                Reason::Ports | Reason::Other => tally.other.push(part.text.clone()),
            }
        }
        tally.claims = message
            .has(|reason| matches!(reason, Reason::UnboundClaims | Reason::ClaimNotFound(_)));
        tally
    }

    /// Constraints other than taints; a user taint next to them reserves nodes the Pod
    /// is not meant for (context), alone it is the cause.
    fn hard(&self) -> bool {
        !self.insufficient.is_empty()
            || !self.affinity.is_empty()
            || self.volume_conflict > 0
            || self.claims
            || !self.other.is_empty()
    }

    /// Something besides the selector, cordons and control-plane taints keeps the Pod
    /// off the nodes.
    fn main(&self) -> bool {
        self.hard()
            || !self.user_taints.is_empty()
            || !self.health_taints.is_empty()
            || self.unnamed_taints > 0
    }

    /// The node selector excludes some nodes and named reserving taints (a dedicated
    /// pool's, the control plane's) keep the Pod off all the others, with nothing else
    /// in the way: the placement constraint is the cause.
    fn constrained_to_reserved(&self) -> bool {
        self.selector > 0
            && !self.hard()
            && self.cordoned == 0
            && self.health_taints.is_empty()
            && self.unnamed_taints == 0
            && (!self.user_taints.is_empty() || !self.control_plane_taints.is_empty())
    }

    /// Only control-plane taints stand in the way: there is no worker node.
    fn only_control_plane(&self) -> bool {
        !self.main()
            && self.selector == 0
            && self.cordoned == 0
            && !self.control_plane_taints.is_empty()
    }
}

/// Findings from what the scheduler said, after the hits already in `out` (the
/// placement verdicts and the claims of the Pod); every hit of the Pod then quotes
/// its FailedScheduling events.
pub(super) fn message_hits(
    ctx: &RuleContext,
    nodes: &Nodes,
    facts: &PodFacts,
    message: &SchedulerMessage,
    text: &str,
    out: &mut Vec<Hit>,
) {
    let found = |hits: &[Hit], rule: RuleId| hits.iter().any(|hit| hit.rule == rule);
    let tally = Tally::of(message);
    let total = message
        .total
        .map(|total| total.to_string())
        .unwrap_or_else(|| "?".to_owned());
    let context = context_lines(&tally, message, &total);
    let mut new_hits: Vec<Hit> = Vec::new();

    // insufficient resources (unless the placement check proved requests exceed every node)
    if !tally.insufficient.is_empty() && !found(out, RuleId::RequestsExceedNodeCapacity) {
        new_hits.push(insufficient_hit(nodes, facts, &tally, &total));
    }
    // a selector that leaves only reserved nodes: the constraint is the cause, whichever
    // of the reserved nodes the selector would match (the scheduler reports a tainted
    // node as tainted before it checks the selector)
    let constrained = tally.constrained_to_reserved();
    if constrained
        && !found(out, RuleId::NodeSelectorMatchesNoNode)
        && !found(out, RuleId::UntoleratedTaint)
    {
        new_hits.push(reserved_hit(nodes, facts, &tally, &total));
    }
    if !constrained
        && !found(out, RuleId::UntoleratedTaint)
        && !found(out, RuleId::NodeSelectorMatchesNoNode)
        && let Some(hit) = taint_hit(nodes, facts, &tally)
    {
        new_hits.push(hit);
    }
    if !tally.affinity.is_empty() {
        new_hits.push(affinity_hit(ctx, nodes, facts, &tally, &total));
    }
    if tally.volume_conflict > 0 {
        new_hits.push(volume_hit(ctx, nodes, facts, &tally, &total));
    }
    // the selector alone
    if !constrained
        && !tally.main()
        && !tally.only_control_plane()
        && tally.selector > 0
        && tally.cordoned == 0
        && !found(out, RuleId::NodeSelectorMatchesNoNode)
    {
        new_hits.push(selector_hit(nodes, facts, &tally, &total));
    }
    // nothing specific: cordons, no nodes, or an unknown reason
    let specific = !new_hits.is_empty() || tally.claims || !out.is_empty();
    if !tally.other.is_empty() || !specific {
        new_hits.push(scheduler_message_hit(facts, message, &tally, &total, text));
    }
    for mut hit in new_hits {
        hit.evidence.extend(context.iter().cloned());
        out.push(hit);
    }
    // every hit from this Pod quotes the scheduler's event
    for hit in out.iter_mut() {
        hit.events.extend(facts.failed.iter().cloned());
    }
}

/// The lines every hit of the message carries.
fn context_lines(tally: &Tally, message: &SchedulerMessage, total: &str) -> Vec<String> {
    let mut context: Vec<String> = Vec::new();
    if tally.selector > 0 {
        context.push(format!(
            "{} of {total} node(s) excluded by its node selector/affinity",
            tally.selector
        ));
    }
    if tally.cordoned > 0 {
        context.push(format!(
            "{} of {total} node(s) cordoned (unschedulable)",
            tally.cordoned
        ));
    }
    for (taint, count) in &tally.control_plane_taints {
        context.push(format!(
            "{count} control-plane node(s) ({taint}) keep workloads off, as intended"
        ));
    }
    if tally.hard() {
        for (taint, count) in &tally.user_taints {
            context.push(format!(
                "{count} node(s) reserved by taint {taint}, not tolerated"
            ));
        }
    }
    if message.preemption_helps() {
        context.push("preemption may make room by evicting lower-priority Pods".to_owned());
    }
    context
}

/// InsufficientResources: per resource, how many nodes lack it, against what the Pod
/// requests and the largest and freest nodes it may use.
fn insufficient_hit(nodes: &Nodes, facts: &PodFacts, tally: &Tally, total: &str) -> Hit {
    let requests = quantity::pod_requests(facts.spec);
    let mut evidence = vec![requests_line(facts.spec)];
    let mut names = Vec::new();
    for (resource, count) in &tally.insufficient {
        names.push(resource.clone());
        let requested = if resource == "pods" {
            Quantity::from_units(1)
        } else {
            requests.get(resource).copied().unwrap_or_default()
        };
        let mut line = format!(
            "{count} of {total} node(s) lack {resource}: the Pod requests {}",
            requested.display_for(resource)
        );
        // judge by the nodes the Pod may use; all nodes when it may use none
        let any_usable = nodes
            .nodes
            .iter()
            .any(|node| placement::may_use(facts.spec, node));
        let usable = |node: &NodeView| !any_usable || placement::may_use(facts.spec, node);
        if let Some((largest, node)) = nodes.largest(resource, usable) {
            line.push_str(&format!(
                "; largest allocatable {} on {node}",
                largest.display_for(resource)
            ));
        }
        if let Some((free, node)) = nodes.most_free(resource, usable) {
            line.push_str(&format!(
                "; most unrequested {} on {node} (by the Pods kubedx sees)",
                free.display_for(resource)
            ));
        }
        evidence.push(line);
    }
    let first = names.first().cloned().unwrap_or_default();
    Hit::of(
        Cause::InsufficientResources,
        facts,
        &[("resources", &names.join(", ")), ("resource", &first)],
    )
    .evidence_lines(evidence)
}

/// UntoleratedTaint: the taints that keep the Pod off the nodes it could use, or the
/// control-plane taints when there is nothing else; `None` when taints are not the
/// cause.
fn taint_hit(nodes: &Nodes, facts: &PodFacts, tally: &Tally) -> Option<Hit> {
    let hard = tally.hard();
    let named_bad: Vec<&(PrintedTaint, u32)> = if hard {
        tally.health_taints.iter().collect()
    } else {
        tally
            .user_taints
            .iter()
            .chain(tally.health_taints.iter())
            .collect()
    };
    let only_control_plane = tally.only_control_plane();
    let taint_cause =
        !named_bad.is_empty() || (tally.unnamed_taints > 0 && !hard) || only_control_plane;
    if !taint_cause {
        return None;
    }
    let list: Vec<(PrintedTaint, u32)> = if only_control_plane {
        tally.control_plane_taints.clone()
    } else {
        named_bad.iter().map(|named| (*named).clone()).collect()
    };
    let names: Vec<String> = list
        .iter()
        .map(|(taint, count)| format!("{taint} ({count} node(s))"))
        .collect();
    let cause = if only_control_plane {
        Cause::OnlyControlPlane
    } else if !tally.health_taints.is_empty() {
        Cause::UnhealthyNodes
    } else if names.is_empty() {
        Cause::UnnamedTaints
    } else {
        Cause::UntoleratedTaints
    };
    let mut hit = Hit::of(
        cause,
        facts,
        &[
            ("taints", &names.join(", ")),
            ("count", &tally.unnamed_taints.to_string()),
        ],
    );
    // name the actual taints (with effects) of the nodes carrying them
    for (taint, _) in &list {
        let carriers: Vec<String> = nodes
            .nodes
            .iter()
            .filter(|node| node.taints.iter().any(|carried| carried.key == taint.key))
            .map(|node| node.name.to_owned())
            .collect();
        if !carriers.is_empty() {
            hit = hit.evidence_line(format!(
                "taint {} on node(s) {}",
                taint.key,
                carriers.join(", ")
            ));
        }
    }
    Some(hit)
}

/// PodAffinityUnsatisfiable: which inter-Pod constraints fail on how many nodes, with
/// the Pod's required terms.
fn affinity_hit(
    ctx: &RuleContext,
    nodes: &Nodes,
    facts: &PodFacts,
    tally: &Tally,
    total: &str,
) -> Hit {
    let kinds: BTreeSet<&str> = tally
        .affinity
        .iter()
        .map(|(kind, _)| kind.describe())
        .collect();
    let counts: Vec<String> = tally
        .affinity
        .iter()
        .map(|(kind, count)| format!("{count} of {total} node(s) fail {}", kind.describe()))
        .collect();
    Hit::of(
        Cause::AffinityUnsatisfiable,
        facts,
        &[(
            "kinds",
            &kinds.into_iter().collect::<Vec<_>>().join(" and "),
        )],
    )
    .evidence_lines(counts)
    .evidence_lines(affinity_evidence(ctx, nodes, facts))
}

/// VolumeNodeAffinityConflict: the Pod's bound volumes, their topology and the nodes
/// inside it.
fn volume_hit(
    ctx: &RuleContext,
    nodes: &Nodes,
    facts: &PodFacts,
    tally: &Tally,
    total: &str,
) -> Hit {
    let ns = facts.pod_ref.ns();
    let mut hit = Hit::of(
        Cause::VolumeTopology,
        facts,
        &[
            ("count", &tally.volume_conflict.to_string()),
            ("total", total),
        ],
    );
    for claim in pod_claims(facts.pod_ref, facts.spec) {
        let Some(pvc) = ctx.store.get::<PersistentVolumeClaim>(ns, &claim) else {
            continue;
        };
        hit.scope
            .push(ObjRef::namespaced(Kind::PersistentVolumeClaim, ns, &claim));
        let Some(pv_name) = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
            continue;
        };
        hit.scope
            .push(ObjRef::cluster(Kind::PersistentVolume, &pv_name));
        if let Some(pv) = ctx.store.get::<PersistentVolume>("", &pv_name)
            && let Some(required) = pv
                .spec
                .as_ref()
                .and_then(|s| s.node_affinity.as_ref())
                .and_then(|affinity| affinity.required.as_ref())
        {
            // the volume's node affinity, described as a Pod's would be
            let as_pod = PodSpec {
                affinity: Some(Affinity {
                    node_affinity: Some(NodeAffinity {
                        required_during_scheduling_ignored_during_execution: Some(required.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let topology = placement::describe_node_constraints(&as_pod).join(" ");
            let inside: Vec<String> = nodes
                .nodes
                .iter()
                .filter(|node| placement::node_selector_matches(required, node))
                .map(|node| {
                    if node.unschedulable {
                        format!("{} (cordoned)", node.name)
                    } else {
                        node.name.to_owned()
                    }
                })
                .collect();
            hit = hit
                .evidence_line(format!(
                    "PV {pv_name} (claim {claim}) {}; node(s) inside it: {}",
                    topology.replace("required node affinity", "requires"),
                    if inside.is_empty() {
                        "none".to_owned()
                    } else {
                        inside.join(", ")
                    }
                ))
                .with_step(&INSPECT_VOLUME_TOPOLOGY, facts, &[("volume", &pv_name)]);
        }
    }
    hit
}

/// NodeSelectorMatchesNoNode from the message: the selector excludes some nodes and
/// nothing else is named for the others.
fn selector_hit(nodes: &Nodes, facts: &PodFacts, tally: &Tally, total: &str) -> Hit {
    let keys = placement::constraint_keys(facts.spec);
    Hit::of(
        Cause::NodeSelectorExcludes,
        facts,
        &[
            ("count", &tally.selector.to_string()),
            ("total", total),
            ("keys", &keys.iter().cloned().collect::<Vec<_>>().join(",")),
        ],
    )
    .evidence_lines(placement::describe_node_constraints(facts.spec))
    .evidence_lines(keys.iter().map(|key| placement::label_census(nodes, key)))
}

/// NodeSelectorMatchesNoNode from the message alone: the selector excludes some
/// nodes and the rest are reserved by taints the Pod does not tolerate.
fn reserved_hit(nodes: &Nodes, facts: &PodFacts, tally: &Tally, total: &str) -> Hit {
    let keys = placement::constraint_keys(facts.spec);
    let taints: Vec<String> = tally
        .user_taints
        .iter()
        .chain(&tally.control_plane_taints)
        .map(|(taint, count)| format!("{taint} ({count} node(s))"))
        .collect();
    Hit::of(
        Cause::SelectorThenReservedTaints,
        facts,
        &[
            ("count", &tally.selector.to_string()),
            ("total", total),
            ("taints", &taints.join(", ")),
            ("keys", &keys.iter().cloned().collect::<Vec<_>>().join(",")),
        ],
    )
    .evidence_lines(placement::describe_node_constraints(facts.spec))
    .evidence_lines(keys.iter().map(|key| placement::label_census(nodes, key)))
}

/// FailedScheduling: no node at all, the usable nodes cordoned, or the scheduler's
/// message as written, with the reasons quoted.
fn scheduler_message_hit(
    facts: &PodFacts,
    message: &SchedulerMessage,
    tally: &Tally,
    total: &str,
    text: &str,
) -> Hit {
    let cause = if message.no_nodes {
        Cause::NoNodes
    } else if !tally.main() && tally.cordoned > 0 {
        Cause::Cordoned
    } else {
        Cause::SchedulerMessage
    };
    Hit::of(
        cause,
        facts,
        &[
            ("count", &tally.cordoned.to_string()),
            ("total", total),
            ("text", text.trim()),
        ],
    )
    .evidence_lines(
        tally
            .other
            .iter()
            .map(|quoted| format!("scheduler: {quoted}")),
    )
}

/// Evidence for affinity findings: the Pod's required terms and spread constraints,
/// and replicas against nodes for hostname anti-affinity.
fn affinity_evidence(ctx: &RuleContext, nodes: &Nodes, facts: &PodFacts) -> Vec<String> {
    let mut out = Vec::new();
    let Some(affinity) = facts.spec.affinity.as_ref() else {
        return spread_evidence(facts.spec, out);
    };
    let selector =
        |labels: Option<&LabelSelector>| Selector::from_label_selector(labels).to_string();
    for term in affinity.pod_affinity.iter().flat_map(|pod_affinity| {
        pod_affinity
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        out.push(format!(
            "required pod affinity: with Pods {} per {}",
            selector(term.label_selector.as_ref()),
            term.topology_key
        ));
    }
    for term in affinity.pod_anti_affinity.iter().flat_map(|anti_affinity| {
        anti_affinity
            .required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        out.push(format!(
            "required pod anti-affinity: not with Pods {} per {}",
            selector(term.label_selector.as_ref()),
            term.topology_key
        ));
        if term.topology_key == "kubernetes.io/hostname" {
            let schedulable = nodes
                .nodes
                .iter()
                .filter(|node| placement::may_use(facts.spec, node))
                .count();
            if let Some(replicas) = replicas_of(ctx.store, &facts.owner)
                && replicas as usize > schedulable
            {
                out.push(format!(
                    "{} wants {replicas} replicas with one per node, and only {schedulable} node(s) can take its Pods",
                    facts.owner.short()
                ));
            }
        }
    }
    spread_evidence(facts.spec, out)
}

/// The Pod's topology spread constraints, after `out`.
fn spread_evidence(spec: &PodSpec, mut out: Vec<String>) -> Vec<String> {
    for constraint in spec.topology_spread_constraints.iter().flatten() {
        out.push(format!(
            "topology spread: maxSkew {} per {}, whenUnsatisfiable {}, Pods {}",
            constraint.max_skew,
            constraint.topology_key,
            constraint.when_unsatisfiable,
            Selector::from_label_selector(constraint.label_selector.as_ref())
        ));
    }
    out
}

/// The replicas a workload wants.
fn replicas_of(store: &Store, workload: &ObjRef) -> Option<i32> {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
    match workload.kind {
        Kind::Deployment => store.get_ref::<Deployment>(workload)?.spec.replicas,
        Kind::StatefulSet => store.get_ref::<StatefulSet>(workload)?.spec.replicas,
        Kind::ReplicaSet => store.get_ref::<ReplicaSet>(workload)?.spec.replicas,
        _ => None,
    }
}
