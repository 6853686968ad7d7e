//! NetworkPolicySelectsNoPods: a policy whose podSelector matches no Pod of its
//! namespace has no effect (often a label typo: the nearest Pod is named).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::eval::pod_selector;

pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let t = &ctx.graph.target;
    let Some(ns) = t
        .namespace
        .as_deref()
        .or_else(|| (t.kind == Kind::Namespace).then_some(t.name.as_str()))
    else {
        return;
    };
    if !ctx.graph.target_exists() || !ctx.store.kind_listed(Kind::Pod, ns) {
        return;
    }
    let pods: Vec<&Pod> = ctx
        .store
        .list::<Pod>(ns)
        .take(crate::rules::networking::MAX_PODS_SCANNED)
        .map(|p| p.as_ref())
        .collect();
    if pods.is_empty() {
        return;
    }
    for np in ctx.store.list::<NetworkPolicy>(ns).take(50) {
        let sel = pod_selector(np);
        if pods.iter().any(|p| sel.matches(p.metadata.labels.as_ref())) {
            continue;
        }
        let name = np.metadata.name.clone().unwrap_or_default();
        let r = ObjRef::namespaced(Kind::NetworkPolicy, ns, &name);
        let mut d = Draft::new(RuleId::NetworkPolicySelectsNoPods, r)
            .message(format!(
                "NetworkPolicy {name} selects no Pod of namespace {ns} (podSelector {sel}): it has no effect"
            ))
            .evidence(format!("podSelector {sel}; {} Pods in the namespace", pods.len()))
            .summary("Fix the podSelector if the policy was meant to protect some Pods, or delete the policy.");
        // the nearest miss, for a label typo
        let mut best: Option<(usize, &Pod)> = None;
        for p in &pods {
            let n = sel.unmet(p.metadata.labels.as_ref()).len();
            if best.is_none_or(|(b, _)| n < b) {
                best = Some((n, p));
            }
        }
        if let Some((_, p)) = best {
            let unmet: Vec<String> = sel
                .unmet(p.metadata.labels.as_ref())
                .iter()
                .map(|r| {
                    crate::rules::networking::service::describe_unmet(r, p.metadata.labels.as_ref())
                })
                .collect();
            d = d.evidence(format!(
                "nearest Pod {}: {}",
                p.metadata.name.as_deref().unwrap_or_default(),
                unmet.join("; ")
            ));
        }
        d = d.read_only(
            "Compare the policy's selector with the Pods' labels",
            format!("kubectl get pods -n {ns} --show-labels"),
        );
        out.push(d);
    }
}
