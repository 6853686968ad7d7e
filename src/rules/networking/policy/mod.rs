//! NetworkPolicy rules, built on the pure evaluator of [`eval`]:
//!
//! - [`blocks_dns`]: NetworkPolicyBlocksDNS, egress isolation without a rule to the
//!   cluster DNS;
//! - [`blocks_ingress`]: NetworkPolicyBlocksIngress, ingress isolation that shuts out
//!   what fronts a Service (an ingress controller, a Gateway), or every client;
//! - [`selects_no_pods`]: NetworkPolicySelectsNoPods, a policy without effect.

pub(crate) mod eval;

mod blocks_dns;
mod blocks_ingress;
mod selects_no_pods;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::rules::{Draft, RuleContext};
use crate::store::Store;

use eval::{Labels, NAMESPACE_NAME_LABEL, selects};

/// The NetworkPolicy rules on the graph.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    blocks_dns::evaluate(ctx, out);
    blocks_ingress::evaluate(ctx, out);
    selects_no_pods::evaluate(ctx, out);
}

/// The Namespace's labels from the store (with `kubernetes.io/metadata.name`), if the
/// Namespace was read: what a namespaceSelector of a policy is matched against.
fn namespace_labels(store: &Store, ns: &str) -> Option<Labels> {
    store.get::<Namespace>("", ns).map(|namespace| {
        let mut labels = namespace.metadata.labels.clone().unwrap_or_default();
        labels
            .entry(NAMESPACE_NAME_LABEL.to_owned())
            .or_insert_with(|| ns.to_owned());
        labels
    })
}

/// Policies of the Pod's namespace that select it.
fn selecting_policies<'a>(store: &'a Store, pod: &Pod) -> Vec<&'a NetworkPolicy> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    store
        .list::<NetworkPolicy>(ns)
        .filter(|policy| selects(policy, pod))
        .map(|policy| policy.as_ref())
        .collect()
}
