//! Hits from what the placement checks prove without any scheduler event.

use crate::api::Risk;
use crate::rules::RuleId;

use super::hit::{Hit, PodFacts, requests_line, set_resources_cmd, taint_hit};
use super::placement::{self, Nodes, Verdict};

pub(super) fn verdict_hit(nodes: &Nodes, f: &PodFacts, v: Verdict) -> Hit {
    match v {
        Verdict::ExceedsCapacity { excess, restricted } => {
            let parts: Vec<String> = excess
                .iter()
                .map(|x| match &x.largest {
                    Some((q, n)) => format!(
                        "{} {} (largest allocatable: {} on {n})",
                        x.resource,
                        x.requested.display_for(&x.resource),
                        q.display_for(&x.resource)
                    ),
                    None => format!(
                        "{} {} (no node offers {})",
                        x.resource,
                        x.requested.display_for(&x.resource),
                        x.resource
                    ),
                })
                .collect();
            let among = if restricted {
                "every node its node selector allows"
            } else {
                "every schedulable node"
            };
            let res = excess
                .first()
                .map(|x| x.resource.clone())
                .unwrap_or_default();
            let mut h = Hit::new(
                RuleId::RequestsExceedNodeCapacity,
                &f.group,
                f.r,
                format!(
                    "can never be scheduled: it requests more than {among} can allocate: {}",
                    parts.join("; ")
                ),
            )
            .ev(requests_line(f.spec))
            .evs(parts.iter().map(|p| format!("requested {p}")))
            .summary(
                "A Pod runs on one node: lower the requests to what the app really uses, or add a node pool with larger nodes. Recreating the Pods changes nothing.",
            )
            .step(
                "Compare with the nodes' allocatable",
                Some(format!(
                    "kubectl get nodes -o custom-columns=NAME:.metadata.name,CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory{}",
                    if excess.iter().any(|x| x.resource.contains('/')) {
                        format!(",{}:.status.allocatable.{}", res.to_ascii_uppercase(), res.replace('.', "\\."))
                    } else {
                        String::new()
                    }
                )),
                Risk::ReadOnly,
            )
            .step(
                format!("Lower the {res} request in the workload template to what the container uses"),
                set_resources_cmd(f, &res),
                Risk::Reversible,
            );
            if restricted {
                h = h.evs(placement::describe_node_constraints(f.spec));
            }
            h
        }
        Verdict::NoNodeMatches => {
            let constraints = placement::describe_node_constraints(f.spec);
            let keys = placement::constraint_keys(f.spec);
            let mut h = Hit::new(
                RuleId::NodeSelectorMatchesNoNode,
                &f.group,
                f.r,
                format!(
                    "can never be scheduled: no node's labels satisfy its {}",
                    constraints.join(" and ")
                ),
            )
            .evs(constraints)
            .evs(keys.iter().map(|k| placement::label_census(nodes, k)))
            .summary(
                "Fix the selector in the workload template, or label the nodes that are meant to run it. If a cluster autoscaler should create such nodes, check its node groups carry the label.",
            )
            .step(
                "Show the nodes with the labels the Pod selects on",
                Some(format!(
                    "kubectl get nodes -L {}",
                    keys.iter().cloned().collect::<Vec<_>>().join(",")
                )),
                Risk::ReadOnly,
            );
            h = h.step(
                "Correct the nodeSelector / node affinity in the workload's manifest (a typo in a key or value is the usual cause)",
                None,
                Risk::Reversible,
            );
            if let Some((k, v)) = f.spec.node_selector.iter().flatten().next() {
                h = h.step(
                    "Or label the node(s) meant to run it",
                    Some(format!("kubectl label node <node> {k}={v}")),
                    Risk::Reversible,
                );
            }
            h
        }
        Verdict::AllTainted {
            taints,
            health,
            fitting,
        } => {
            let list: Vec<String> = taints
                .iter()
                .map(|(t, ns)| format!("{t} on {}", ns.join(", ")))
                .collect();
            let names: Vec<&str> = taints.keys().map(String::as_str).collect();
            let what = if health {
                format!(
                    "cannot be scheduled: the {fitting} node(s) that could take it carry taints of unhealthy nodes it does not tolerate ({})",
                    names.join(", ")
                )
            } else {
                format!(
                    "cannot be scheduled: each of the {fitting} node(s) that could take it has a taint it does not tolerate ({})",
                    names.join(", ")
                )
            };
            taint_hit(f, what, health).evs(list)
        }
    }
}
