//! PodDisruptionBudgets that block every voluntary eviction.

use std::collections::BTreeMap;

use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::Risk;
use crate::graph::EdgeKind;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

fn intstr(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for r in ctx.graph.subjects(Kind::PodDisruptionBudget) {
        let Some(b) = ctx.store.get_ref::<PodDisruptionBudget>(r) else {
            continue;
        };
        let Some(st) = b.status.as_ref() else {
            continue;
        };
        let allowed = st.disruptions_allowed.unwrap_or(0);
        let healthy = st.current_healthy.unwrap_or(0);
        let expected = st.expected_pods.unwrap_or(0);
        // Only a budget that blocks although nothing is unhealthy is a problem of the
        // budget: with an unhealthy Pod, refusing evictions is what it is for.
        if allowed > 0 || expected == 0 || healthy < expected {
            continue;
        }
        let ns = r.ns();
        let spec = b.spec.as_ref();
        let rule = match (
            spec.and_then(|s| s.min_available.as_ref()),
            spec.and_then(|s| s.max_unavailable.as_ref()),
        ) {
            (Some(m), _) => format!("minAvailable {}", intstr(m)),
            (None, Some(m)) => format!("maxUnavailable {}", intstr(m)),
            (None, None) => "neither minAvailable nor maxUnavailable".to_owned(),
        };
        let mut d = Draft::new(RuleId::PDBBlocksDisruption, r.clone())
            .message(format!(
                "PodDisruptionBudget {} allows 0 disruptions although all {expected} of its Pods are healthy ({rule}): every eviction is refused, so kubectl drain, node upgrades and cluster-autoscaler scale-down hang",
                r.name
            ))
            .evidence(format!("spec: {rule}"))
            .evidence(format!(
                "status: currentHealthy {healthy}, desiredHealthy {}, expectedPods {expected}, disruptionsAllowed {allowed}",
                st.desired_healthy.unwrap_or(0)
            ))
            .summary("A budget must leave room for at least one eviction when every Pod is healthy: use maxUnavailable: 1 (or minAvailable below the replica count), or run more replicas.")
            .read_only("Read the budget", format!("kubectl get pdb {} -n {ns} -o yaml", r.name))
            .step(
                format!("Allow one voluntary disruption at a time on PodDisruptionBudget {}", r.name),
                Some(format!(
                    "kubectl patch pdb {} -n {ns} --type merge -p '{{\"spec\":{{\"minAvailable\":null,\"maxUnavailable\":1}}}}'",
                    r.name
                )),
                Risk::Reversible,
            )
            .step(
                "Or scale the workload above the budget's minimum so that one Pod may be evicted",
                None,
                Risk::Reversible,
            );
        if expected == 1 {
            d = d.evidence("the budget covers a single Pod: a single-replica workload cannot be both always available and evictable");
        }
        for e in ctx
            .graph
            .dependents(r)
            .filter(|e| e.kind == EdgeKind::Budget)
        {
            d = d.scope(e.from.clone());
        }
        out.push(d);
    }
    overlapping(ctx, out);
}

/// Pods selected by more than one budget cannot be evicted at all.
fn overlapping(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let mut groups: BTreeMap<Vec<ObjRef>, Vec<ObjRef>> = BTreeMap::new();
    for p in ctx.graph.subjects(Kind::Pod) {
        let budgets: Vec<ObjRef> = ctx
            .graph
            .dependencies(p)
            .filter(|e| e.kind == EdgeKind::Budget)
            .map(|e| e.to.clone())
            .collect();
        if budgets.len() > 1 {
            groups.entry(budgets).or_default().push(p.clone());
        }
    }
    for (budgets, pods) in groups {
        let names: Vec<&str> = budgets.iter().map(|b| b.name.as_str()).collect();
        let mut d = Draft::new(RuleId::PDBBlocksDisruption, budgets[0].clone())
            .discriminator("overlap")
            .message(format!(
                "{} Pod(s) are selected by {} PodDisruptionBudgets ({}): the eviction API refuses to evict a Pod covered by more than one budget, so drains hang",
                pods.len(),
                budgets.len(),
                names.join(", ")
            ))
            .affected(&pods)
            .summary("Make the budgets' selectors disjoint so that each Pod has at most one budget.")
            .read_only(
                "Compare the budgets' selectors",
                format!("kubectl get pdb -n {} -o wide", budgets[0].ns()),
            );
        for b in &budgets {
            d = d.scope(b.clone());
        }
        out.push(d);
    }
}
