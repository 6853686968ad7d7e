//! Hits from what the placement checks prove without any scheduler event.

use super::causes::{Cause, LABEL_A_NODE};
use super::hit::{Hit, PodFacts, requests_line};
use super::placement::{self, Nodes, Verdict};

/// The hit of one placement verdict on the Pod.
pub(super) fn verdict_hit(nodes: &Nodes, facts: &PodFacts, verdict: Verdict) -> Hit {
    match verdict {
        Verdict::ExceedsCapacity { excess, restricted } => {
            let parts: Vec<String> = excess
                .iter()
                .map(|over| match &over.largest {
                    Some((largest, node)) => format!(
                        "{} {} (largest allocatable: {} on {node})",
                        over.resource,
                        over.requested.display_for(&over.resource),
                        largest.display_for(&over.resource)
                    ),
                    None => format!(
                        "{} {} (no node offers {})",
                        over.resource,
                        over.requested.display_for(&over.resource),
                        over.resource
                    ),
                })
                .collect();
            let among = if restricted {
                "every node its node selector allows"
            } else {
                "every schedulable node"
            };
            let resource = excess
                .first()
                .map(|over| over.resource.clone())
                .unwrap_or_default();
            let extra_column = if excess.iter().any(|over| over.resource.contains('/')) {
                format!(
                    ",{}:.status.allocatable.{}",
                    resource.to_ascii_uppercase(),
                    resource.replace('.', "\\.")
                )
            } else {
                String::new()
            };
            let mut hit = Hit::of(
                Cause::RequestsExceedCapacity,
                facts,
                &[
                    ("among", among),
                    ("requests", &parts.join("; ")),
                    ("resource", &resource),
                    ("extra_column", &extra_column),
                ],
            )
            .evidence_line(requests_line(facts.spec))
            .evidence_lines(parts.iter().map(|part| format!("requested {part}")));
            if restricted {
                hit = hit.evidence_lines(placement::describe_node_constraints(facts.spec));
            }
            hit
        }
        Verdict::NoNodeMatches => {
            let constraints = placement::describe_node_constraints(facts.spec);
            let keys = placement::constraint_keys(facts.spec);
            let key_list = keys.iter().cloned().collect::<Vec<_>>().join(",");
            let mut hit = Hit::of(
                Cause::NoNodeMatches,
                facts,
                &[
                    ("constraints", &constraints.join(" and ")),
                    ("keys", &key_list),
                ],
            )
            .evidence_lines(constraints)
            .evidence_lines(keys.iter().map(|key| placement::label_census(nodes, key)));
            if let Some((key, value)) = facts.spec.node_selector.iter().flatten().next() {
                hit = hit.with_step(
                    &LABEL_A_NODE,
                    facts,
                    &[("label", &format!("{key}={value}"))],
                );
            }
            hit
        }
        Verdict::AllTainted {
            taints,
            health,
            fitting,
        } => {
            let carriers: Vec<String> = taints
                .iter()
                .map(|(taint, nodes)| format!("{taint} on {}", nodes.join(", ")))
                .collect();
            let names: Vec<&str> = taints.keys().map(String::as_str).collect();
            let cause = if health {
                Cause::TaintedUnhealthyNodes
            } else {
                Cause::TaintedNodes
            };
            Hit::of(
                cause,
                facts,
                &[
                    ("fitting", &fitting.to_string()),
                    ("taints", &names.join(", ")),
                ],
            )
            .evidence_lines(carriers)
        }
    }
}
