//! NetworkPolicySelectsNoPods: a policy whose podSelector matches no Pod of its
//! namespace has no effect (often a label typo: the nearest Pod is named).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::MAX_PODS_SCANNED;
use crate::rules::networking::service::describe_unmet;
use crate::rules::{Draft, RuleContext};

use super::eval::pod_selector;

/// One finding per policy of the target's namespace that selects none of its Pods.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let target = &ctx.graph.target;
    let Some(ns) = target
        .namespace
        .as_deref()
        .or_else(|| (target.kind == Kind::Namespace).then_some(target.name.as_str()))
    else {
        return;
    };
    if !ctx.graph.target_exists() || !ctx.store.kind_listed(Kind::Pod, ns) {
        return;
    }
    let pods: Vec<&Pod> = ctx
        .store
        .list::<Pod>(ns)
        .take(MAX_PODS_SCANNED)
        .map(|p| p.as_ref())
        .collect();
    if pods.is_empty() {
        return;
    }
    for policy in ctx.store.list::<NetworkPolicy>(ns).take(50) {
        let selector = pod_selector(policy);
        if pods
            .iter()
            .any(|pod| selector.matches(pod.metadata.labels.as_ref()))
        {
            continue;
        }
        let name = policy.metadata.name.clone().unwrap_or_default();
        let policy_ref = ObjRef::namespaced(Kind::NetworkPolicy, ns, &name);
        let mut draft = Draft::new(RuleId::NetworkPolicySelectsNoPods, policy_ref)
            .message(format!(
                "NetworkPolicy {name} selects no Pod of namespace {ns} (podSelector {selector}): it has no effect"
            ))
            .evidence(format!("podSelector {selector}; {} Pods in the namespace", pods.len()))
            .summary("Fix the podSelector if the policy was meant to protect some Pods, or delete the policy.");
        // the nearest miss, for a label typo
        let mut nearest: Option<(usize, &Pod)> = None;
        for pod in &pods {
            let unmet = selector.unmet(pod.metadata.labels.as_ref()).len();
            if nearest.is_none_or(|(fewest, _)| unmet < fewest) {
                nearest = Some((unmet, pod));
            }
        }
        if let Some((_, pod)) = nearest {
            let unmet: Vec<String> = selector
                .unmet(pod.metadata.labels.as_ref())
                .iter()
                .map(|requirement| describe_unmet(requirement, pod.metadata.labels.as_ref()))
                .collect();
            draft = draft.evidence(format!(
                "nearest Pod {}: {}",
                pod.metadata.name.as_deref().unwrap_or_default(),
                unmet.join("; ")
            ));
        }
        draft = draft.read_only(
            "Compare the policy's selector with the Pods' labels",
            format!("kubectl get pods -n {ns} --show-labels"),
        );
        out.push(draft);
    }
}
