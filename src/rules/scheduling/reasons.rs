//! Hits from the reasons of the scheduler's message.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, PodSpec};

use crate::api::Risk;
use crate::model::{Kind, ObjRef};
use crate::quantity::{self, Quantity};
use crate::rules::RuleContext;
use crate::rules::RuleId;
use crate::store::Store;

use super::claims::pod_claims;
use super::hit::{Hit, PodFacts, describe_cmd, requests_line, set_resources_cmd, taint_hit};
use super::message::{AffinityKind, PrintedTaint, Reason, SchedulerMessage};
use super::placement::{self, Nodes};

/// Findings from what the scheduler said.
pub(super) fn message_hits(
    ctx: &RuleContext,
    nodes: &Nodes,
    f: &PodFacts,
    m: &SchedulerMessage,
    text: &str,
    out: &mut Vec<Hit>,
) {
    let have = |out: &Vec<Hit>, rule: RuleId| out.iter().any(|h| h.rule == rule);
    let total = m
        .total
        .map(|t| t.to_string())
        .unwrap_or_else(|| "?".to_owned());
    let mut insufficient: Vec<(String, u32)> = Vec::new();
    let mut user_taints: Vec<(PrintedTaint, u32)> = Vec::new();
    let mut health_taints: Vec<(PrintedTaint, u32)> = Vec::new();
    let mut cp_taints: Vec<(PrintedTaint, u32)> = Vec::new();
    let mut unnamed_taints = 0u32;
    let mut selector = 0u32;
    let mut cordoned = 0u32;
    let mut affinity: Vec<(AffinityKind, u32)> = Vec::new();
    let mut volume_conflict = 0u32;
    let mut other: Vec<String> = Vec::new();
    for p in &m.parts {
        let c = p.count.unwrap_or(0);
        match &p.reason {
            Reason::Insufficient(r) => insufficient.push((r.clone(), c)),
            Reason::Taint(ts) if ts.is_empty() => unnamed_taints += c,
            Reason::Taint(ts) => {
                for t in ts {
                    let bucket = if placement::CONTROL_PLANE_TAINTS.contains(&t.key.as_str()) {
                        &mut cp_taints
                    } else if placement::NODE_HEALTH_TAINTS.contains(&t.key.as_str()) {
                        &mut health_taints
                    } else {
                        &mut user_taints
                    };
                    bucket.push((t.clone(), c));
                }
            }
            Reason::NodeSelector => selector += c,
            Reason::Unschedulable => cordoned += c,
            Reason::PodAffinity(k) => affinity.push((*k, c)),
            Reason::VolumeNodeAffinity => volume_conflict += c,
            Reason::UnboundClaims | Reason::ClaimNotFound(_) => {} // claim_hits
            Reason::Ports | Reason::Other => other.push(p.text.clone()),
        }
    }
    let claims = m.has(|r| matches!(r, Reason::UnboundClaims | Reason::ClaimNotFound(_)));
    // constraints other than taints; a user taint next to them reserves nodes the Pod is
    // not meant for (context), alone it is the cause
    let hard = !insufficient.is_empty()
        || !affinity.is_empty()
        || volume_conflict > 0
        || claims
        || !other.is_empty();
    let main = hard || !user_taints.is_empty() || !health_taints.is_empty() || unnamed_taints > 0;
    // context lines every hit from this message carries
    let mut context: Vec<String> = Vec::new();
    if selector > 0 {
        context.push(format!(
            "{selector} of {total} node(s) excluded by its node selector/affinity"
        ));
    }
    if cordoned > 0 {
        context.push(format!(
            "{cordoned} of {total} node(s) cordoned (unschedulable)"
        ));
    }
    for (t, c) in &cp_taints {
        context.push(format!(
            "{c} control-plane node(s) ({}) keep workloads off, as intended",
            t
        ));
    }
    if hard {
        for (t, c) in &user_taints {
            context.push(format!("{c} node(s) reserved by taint {t}, not tolerated"));
        }
    }
    if m.preemption_helps() {
        context.push("preemption may make room by evicting lower-priority Pods".to_owned());
    }
    let mut new_hits: Vec<Hit> = Vec::new();

    // insufficient resources (unless the placement check proved requests exceed every node)
    if !insufficient.is_empty() && !have(out, RuleId::RequestsExceedNodeCapacity) {
        let req = quantity::pod_requests(f.spec);
        let mut ev = vec![requests_line(f.spec)];
        let mut names = Vec::new();
        for (res, c) in &insufficient {
            names.push(res.clone());
            let requested = if res == "pods" {
                Quantity::from_units(1)
            } else {
                req.get(res).copied().unwrap_or_default()
            };
            let mut line = format!(
                "{c} of {total} node(s) lack {res}: the Pod requests {}",
                requested.display_for(res)
            );
            // judge by the nodes the Pod may use; all nodes when it may use none
            let any_usable = nodes.nodes.iter().any(|n| placement::may_use(f.spec, n));
            let usable = |n: &placement::NodeView| !any_usable || placement::may_use(f.spec, n);
            if let Some((q, n)) = nodes.largest(res, usable) {
                line.push_str(&format!(
                    "; largest allocatable {} on {n}",
                    q.display_for(res)
                ));
            }
            if let Some((free, n)) = nodes.most_free(res, usable) {
                line.push_str(&format!(
                    "; most unrequested {} on {n} (by the Pods kubedx sees)",
                    free.display_for(res)
                ));
            }
            ev.push(line);
        }
        let first = names.first().cloned().unwrap_or_default();
        let h = Hit::new(
            RuleId::InsufficientResources,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: no node has enough free {} for its requests",
                names.join(", ")
            ),
        )
        .evs(ev)
        .summary(
            "The nodes are full for this Pod's requests: lower the requests to real usage, free capacity (scale down what is idle), or add nodes. Draining or deleting Pods does not create capacity.",
        )
        .step(
            "See what is allocated on each node",
            Some("kubectl describe nodes | grep -A 10 'Allocated resources'".to_owned()),
            Risk::ReadOnly,
        )
        .step(
            "Compare requests with real usage",
            Some(format!("kubectl top pods{} --containers", f.r.ns_flag())),
            Risk::ReadOnly,
        )
        .step(
            format!("Lower the {first} request if it is larger than the app needs"),
            set_resources_cmd(f, &first),
            Risk::Reversible,
        );
        new_hits.push(h);
    }

    // taints
    let named_bad: Vec<&(PrintedTaint, u32)> = if hard {
        health_taints.iter().collect()
    } else {
        user_taints.iter().chain(health_taints.iter()).collect()
    };
    let only_cp = !main && selector == 0 && cordoned == 0 && !cp_taints.is_empty();
    let taint_cause = !named_bad.is_empty() || (unnamed_taints > 0 && !hard) || only_cp;
    if taint_cause && !have(out, RuleId::UntoleratedTaint) {
        let health = !health_taints.is_empty();
        let list: Vec<(PrintedTaint, u32)> = if only_cp {
            cp_taints.clone()
        } else {
            named_bad.iter().map(|x| (*x).clone()).collect()
        };
        let names: Vec<String> = list
            .iter()
            .map(|(t, c)| format!("{t} ({c} node(s))"))
            .collect();
        let what = if only_cp {
            format!(
                "cannot be scheduled: the only node(s) are control-plane nodes tainted {}; the cluster has no worker node for it",
                names.join(", ")
            )
        } else if health {
            format!(
                "cannot be scheduled: node(s) it could use are unhealthy and tainted {}",
                names.join(", ")
            )
        } else if names.is_empty() {
            format!(
                "cannot be scheduled: {unnamed_taints} node(s) have taints it does not tolerate"
            )
        } else {
            format!(
                "cannot be scheduled: untolerated taint(s) {}",
                names.join(", ")
            )
        };
        let mut h = taint_hit(f, what, health);
        // name the actual taints (with effects) of the nodes carrying them
        for (t, _) in &list {
            let carriers: Vec<String> = nodes
                .nodes
                .iter()
                .filter(|n| n.taints.iter().any(|nt| nt.key == t.key))
                .map(|n| n.name.to_owned())
                .collect();
            if !carriers.is_empty() {
                h = h.ev(format!(
                    "taint {} on node(s) {}",
                    t.key,
                    carriers.join(", ")
                ));
            }
        }
        new_hits.push(h);
    }

    // affinity / anti-affinity / topology spread
    if !affinity.is_empty() {
        let kinds: BTreeSet<&str> = affinity.iter().map(|(k, _)| k.describe()).collect();
        let counts: Vec<String> = affinity
            .iter()
            .map(|(k, c)| format!("{c} of {total} node(s) fail {}", k.describe()))
            .collect();
        let mut h = Hit::new(
            RuleId::PodAffinityUnsatisfiable,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: its {} cannot be met on any node",
                kinds.into_iter().collect::<Vec<_>>().join(" and ")
            ),
        )
        .evs(counts)
        .evs(affinity_evidence(ctx, nodes, f))
        .summary(
            "Required (anti-)affinity and DoNotSchedule spread constraints can make placement impossible: relax them to preferred / ScheduleAnyway, or add nodes in the missing topology domains.",
        )
        .step(
            "See where the Pods it must (not) be near run",
            Some(format!("kubectl get pods{} -o wide --show-labels", f.r.ns_flag())),
            Risk::ReadOnly,
        )
        .step(
            "List the nodes' topology labels",
            Some("kubectl get nodes -L topology.kubernetes.io/zone,kubernetes.io/hostname".to_owned()),
            Risk::ReadOnly,
        );
        h = h.step(
            "Relax requiredDuringScheduling terms to preferredDuringScheduling, or whenUnsatisfiable to ScheduleAnyway, in the workload's manifest",
            None,
            Risk::Reversible,
        );
        new_hits.push(h);
    }

    // volume node affinity
    if volume_conflict > 0 {
        let mut h = Hit::new(
            RuleId::VolumeNodeAffinityConflict,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: {volume_conflict} of {total} node(s) are outside the topology of its bound volume(s), and no node in it can take the Pod"
            ),
        )
        .summary(
            "A bound volume lives in one zone/node: the Pod must run there. Make room in that zone (or let the autoscaler add a node there); use volumeBindingMode WaitForFirstConsumer for new claims. Moving the data takes a snapshot and restore; never delete the PVC to 'fix' it.",
        );
        for c in pod_claims(f.r, f.spec) {
            let Some(pvc) = ctx.store.get::<PersistentVolumeClaim>(f.r.ns(), &c) else {
                continue;
            };
            let cr = ObjRef::namespaced(Kind::PersistentVolumeClaim, f.r.ns(), &c);
            h.scope.push(cr);
            let Some(pv_name) = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
                continue;
            };
            h.scope
                .push(ObjRef::cluster(Kind::PersistentVolume, &pv_name));
            if let Some(pv) = ctx.store.get::<PersistentVolume>("", &pv_name)
                && let Some(req) = pv
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_affinity.as_ref())
                    .and_then(|a| a.required.as_ref())
            {
                let spec = PodSpec {
                    affinity: Some(k8s_openapi::api::core::v1::Affinity {
                        node_affinity: Some(k8s_openapi::api::core::v1::NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(req.clone()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let desc = placement::describe_node_constraints(&spec).join(" ");
                let inside: Vec<String> = nodes
                    .nodes
                    .iter()
                    .filter(|n| placement::node_selector_matches(req, n))
                    .map(|n| {
                        if n.unschedulable {
                            format!("{} (cordoned)", n.name)
                        } else {
                            n.name.to_owned()
                        }
                    })
                    .collect();
                h = h.ev(format!(
                    "PV {pv_name} (claim {c}) {}; node(s) inside it: {}",
                    desc.replace("required node affinity", "requires"),
                    if inside.is_empty() {
                        "none".to_owned()
                    } else {
                        inside.join(", ")
                    }
                ));
                h = h.step(
                    format!("Inspect the topology of PV {pv_name}"),
                    Some(format!(
                        "kubectl get pv {pv_name} -o jsonpath='{{.spec.nodeAffinity}}'"
                    )),
                    Risk::ReadOnly,
                );
            }
        }
        new_hits.push(h);
    }

    // nothing specific: the selector alone, cordons, no nodes, or an unknown reason
    if !main
        && !only_cp
        && selector > 0
        && cordoned == 0
        && !have(out, RuleId::NodeSelectorMatchesNoNode)
    {
        let keys = placement::constraint_keys(f.spec);
        let h = Hit::new(
            RuleId::NodeSelectorMatchesNoNode,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: {selector} of {total} node(s) do not match its node selector/affinity and the others cannot take it"
            ),
        )
        .evs(placement::describe_node_constraints(f.spec))
        .evs(keys.iter().map(|k| placement::label_census(nodes, k)))
        .summary("Fix the selector in the workload template, or label the nodes that are meant to run it.")
        .step(
            "Show the nodes with the labels the Pod selects on",
            Some(format!(
                "kubectl get nodes -L {}",
                keys.iter().cloned().collect::<Vec<_>>().join(",")
            )),
            Risk::ReadOnly,
        );
        new_hits.push(h);
    }
    let specific = !new_hits.is_empty() || claims || !out.is_empty();
    if !other.is_empty() || !specific {
        let what = if m.no_nodes {
            "cannot be scheduled: the scheduler sees no node at all".to_owned()
        } else if !main && cordoned > 0 {
            format!(
                "cannot be scheduled: the node(s) it could use are cordoned ({cordoned} of {total} unschedulable)"
            )
        } else {
            format!("cannot be scheduled: {}", text.trim())
        };
        let (d, c, r) = describe_cmd(f);
        let mut h = Hit::new(RuleId::FailedScheduling, &f.group, f.r, what)
            .summary("Read the scheduler's message: it lists, per node, why the Pod does not fit.")
            .step(d, c, r);
        if !main && cordoned > 0 {
            h = h
                .step(
                    "List cordoned nodes",
                    Some("kubectl get nodes --field-selector spec.unschedulable=true".to_owned()),
                    Risk::ReadOnly,
                )
                .step(
                    "Uncordon a node once its maintenance is over",
                    Some("kubectl uncordon <node>".to_owned()),
                    Risk::Reversible,
                );
        }
        if m.no_nodes {
            h = h.step(
                "List the nodes",
                Some("kubectl get nodes".to_owned()),
                Risk::ReadOnly,
            );
        }
        for o in &other {
            h = h.ev(format!("scheduler: {o}"));
        }
        new_hits.push(h);
    }
    for mut h in new_hits {
        h.evidence.extend(context.iter().cloned());
        out.push(h);
    }
    // every hit from this Pod quotes the scheduler's event
    for h in out.iter_mut() {
        h.events.extend(f.failed.iter().cloned());
    }
}

/// Evidence for affinity findings: the Pod's required terms and spread constraints,
/// and replicas against nodes for hostname anti-affinity.
fn affinity_evidence(ctx: &RuleContext, nodes: &Nodes, f: &PodFacts) -> Vec<String> {
    let mut out = Vec::new();
    let Some(a) = f.spec.affinity.as_ref() else {
        return spread_evidence(f.spec, out);
    };
    let sel = |ls: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>| {
        crate::selector::Selector::from_label_selector(ls).to_string()
    };
    for t in a.pod_affinity.iter().flat_map(|p| {
        p.required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        out.push(format!(
            "required pod affinity: with Pods {} per {}",
            sel(t.label_selector.as_ref()),
            t.topology_key
        ));
    }
    for t in a.pod_anti_affinity.iter().flat_map(|p| {
        p.required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        out.push(format!(
            "required pod anti-affinity: not with Pods {} per {}",
            sel(t.label_selector.as_ref()),
            t.topology_key
        ));
        if t.topology_key == "kubernetes.io/hostname" {
            let schedulable = nodes
                .nodes
                .iter()
                .filter(|n| placement::may_use(f.spec, n))
                .count();
            if let Some(replicas) = replicas_of(ctx.store, &f.owner)
                && replicas as usize > schedulable
            {
                out.push(format!(
                    "{} wants {replicas} replicas with one per node, and only {schedulable} node(s) can take its Pods",
                    f.owner.short()
                ));
            }
        }
    }
    spread_evidence(f.spec, out)
}

fn spread_evidence(spec: &PodSpec, mut out: Vec<String>) -> Vec<String> {
    for c in spec.topology_spread_constraints.iter().flatten() {
        out.push(format!(
            "topology spread: maxSkew {} per {}, whenUnsatisfiable {}, Pods {}",
            c.max_skew,
            c.topology_key,
            c.when_unsatisfiable,
            crate::selector::Selector::from_label_selector(c.label_selector.as_ref())
        ));
    }
    out
}

fn replicas_of(store: &Store, r: &ObjRef) -> Option<i32> {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
    match r.kind {
        Kind::Deployment => store.get_ref::<Deployment>(r)?.spec.replicas,
        Kind::StatefulSet => store.get_ref::<StatefulSet>(r)?.spec.replicas,
        Kind::ReplicaSet => store.get_ref::<ReplicaSet>(r)?.spec.replicas,
        _ => None,
    }
}
