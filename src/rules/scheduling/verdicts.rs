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
            constrained,
        } => {
            let carriers: Vec<String> = taints
                .iter()
                .map(|(taint, nodes)| format!("{taint} on {}", nodes.join(", ")))
                .collect();
            let names: Vec<&str> = taints.keys().map(String::as_str).collect();
            let near_tolerations = near_tolerations(facts, &taints);
            if constrained && !health && near_tolerations.is_empty() {
                return constrained_to_tainted(nodes, facts, &taints, carriers);
            }
            let cause = if health {
                Cause::TaintedUnhealthyNodes
            } else {
                Cause::TaintedNodes
            };
            let mut hit = Hit::of(
                cause,
                facts,
                &[
                    ("fitting", &fitting.to_string()),
                    ("taints", &names.join(", ")),
                ],
            )
            .evidence_lines(carriers)
            // a toleration meant for the taint that does not match it: the typo is the cause
            .evidence_lines(near_tolerations);
            if health {
                // a condition taint points at the node: say what is wrong with it
                let mut unhealthy: Vec<&str> = taints
                    .iter()
                    .filter(|(taint, _)| {
                        placement::NODE_HEALTH_TAINTS
                            .iter()
                            .any(|key| taint.starts_with(&format!("{key}:")))
                    })
                    .flat_map(|(_, carriers)| carriers.iter().map(String::as_str))
                    .collect();
                unhealthy.sort_unstable();
                unhealthy.dedup();
                for node in unhealthy {
                    if let Some(line) = nodes.not_ready(node) {
                        hit = hit.evidence_line(format!("node {node}: {line}"));
                    }
                    hit.steps.push((
                        format!(
                            "See what is wrong with node {node}: the node, not the Pod, is to fix"
                        ),
                        Some(format!("kubectl describe node {node}")),
                        crate::api::Risk::ReadOnly,
                    ));
                }
            }
            hit
        }
    }
}

/// The Pod's tolerations that name a reserving taint's key but do not match it (another
/// value, operator or effect): the Pod means to run there, so the taint it fails to
/// tolerate is the cause, not its placement constraint.
fn near_tolerations(
    facts: &PodFacts,
    taints: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    for taint in taints.keys() {
        let key = taint.split(['=', ':']).next().unwrap_or(taint);
        for toleration in facts.spec.tolerations.iter().flatten() {
            if toleration.key.as_deref() != Some(key) {
                continue;
            }
            out.push(format!(
                "toleration {key}{}{}{} does not match taint {taint}",
                match toleration.operator.as_deref() {
                    Some("Exists") => " Exists".to_owned(),
                    _ => format!("={}", toleration.value.as_deref().unwrap_or("")),
                },
                toleration
                    .effect
                    .as_deref()
                    .map(|effect| format!(":{effect}"))
                    .unwrap_or_default(),
                if toleration.value.as_deref().is_some()
                    && !taint.contains(&format!("={}:", toleration.value.as_deref().unwrap_or("")))
                {
                    " (its value differs)"
                } else {
                    ""
                }
            ));
        }
    }
    out
}

/// NodeSelectorMatchesNoNode: the Pod's nodeSelector / required node affinity selects
/// only nodes whose taints reserve them (a dedicated pool, the control plane). The taint
/// works as intended; the placement constraint is the cause.
fn constrained_to_tainted(
    nodes: &Nodes,
    facts: &PodFacts,
    taints: &std::collections::BTreeMap<String, Vec<String>>,
    carriers: Vec<String>,
) -> Hit {
    let constraints = placement::describe_node_constraints(facts.spec);
    let keys = placement::constraint_keys(facts.spec);
    let key_list = keys.iter().cloned().collect::<Vec<_>>().join(",");
    let mut selected: Vec<&str> = taints.values().flatten().map(String::as_str).collect();
    selected.sort_unstable();
    selected.dedup();
    let names: Vec<&str> = taints.keys().map(String::as_str).collect();
    let control_plane = taints.keys().all(|t| {
        placement::CONTROL_PLANE_TAINTS
            .iter()
            .any(|k| t.starts_with(k))
    });
    let others: Vec<&str> = nodes
        .nodes
        .iter()
        .filter(|node| !placement::selects_node(facts.spec, node))
        .map(|node| node.name)
        .collect();
    let cause = if control_plane {
        Cause::ConstrainedToControlPlane
    } else {
        Cause::ConstrainedToTaintedNodes
    };
    let mut hit = Hit::of(
        cause,
        facts,
        &[
            ("constraints", &constraints.join(" and ")),
            ("nodes", &selected.join(", ")),
            ("taints", &names.join(", ")),
            ("keys", &key_list),
        ],
    )
    .evidence_lines(constraints)
    .evidence_lines(
        carriers
            .into_iter()
            .map(|c| format!("taint {c}, not tolerated")),
    );
    if !others.is_empty() {
        hit = hit.evidence_line(format!(
            "its constraints exclude the other {} node(s): {}",
            others.len(),
            others.join(", ")
        ));
    }
    hit.evidence_lines(keys.iter().map(|key| placement::label_census(nodes, key)))
}
