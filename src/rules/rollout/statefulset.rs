//! StatefulSets: the governing Service, ordinals, partitions and stuck rolling updates.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;

use super::util::{known_missing, label, pods_of, selector_arg};
use crate::api::{Risk, Severity};
use crate::k8s::pod;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

/// A Pod with its reference.
type PodEntry<'a> = (ObjRef, &'a Arc<Pod>);

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for r in ctx.graph.subjects(Kind::StatefulSet) {
        let Some(s) = ctx.store.get_ref::<StatefulSet>(r) else {
            continue;
        };
        service_not_found(ctx, r, s, out);
        unavailable(ctx, r, s, out);
    }
}

fn service_not_found(ctx: &RuleContext, r: &ObjRef, s: &StatefulSet, out: &mut Vec<Draft>) {
    let Some(svc) = s.spec.service_name.as_deref().filter(|n| !n.is_empty()) else {
        return;
    };
    let ns = r.ns();
    let svc_ref = ObjRef::namespaced(Kind::Service, ns, svc);
    if !known_missing(ctx, &svc_ref) {
        return;
    }
    let replicas = s.spec.replicas.unwrap_or(1);
    let example = format!("{}-0.{svc}.{ns}.svc", r.name);
    out.push(
        Draft::new(RuleId::StatefulSetServiceNotFound, r.clone())
            .message(format!(
                "StatefulSet {} names serviceName {svc}, which does not exist: its Pods get no stable DNS names ({example} does not resolve)",
                r.name
            ))
            .evidence(format!("spec.serviceName: {svc}"))
            .evidence(format!("no Service {svc} in namespace {ns}"))
            .evidence(format!("spec.replicas {replicas}"))
            .scope(svc_ref)
            .edge("StatefulSet -> Service")
            .summary(format!(
                "Create the headless Service {svc} (clusterIP: None) selecting the StatefulSet's Pods, or correct spec.serviceName. Peers that find each other by {example} fail until then."
            ))
            .read_only("List the Services of the namespace", format!("kubectl get services -n {ns}"))
            .step(
                format!(
                    "Create a headless Service {svc} with clusterIP: None and the selector {}",
                    selector_arg(&s.spec.selector)
                ),
                None,
                Risk::Reversible,
            ),
    );
}

/// The ordinal of a StatefulSet Pod from its name (`web-2` → 2).
pub(crate) fn ordinal(sts: &str, pod: &str) -> Option<i32> {
    pod.strip_prefix(sts)?.strip_prefix('-')?.parse().ok()
}

fn unavailable(ctx: &RuleContext, r: &ObjRef, s: &StatefulSet, out: &mut Vec<Draft>) {
    let desired = s.spec.replicas.unwrap_or(1);
    let st = s.status.as_ref();
    let ready = st.and_then(|s| s.ready_replicas).unwrap_or(0);
    let available = st.and_then(|s| s.available_replicas).unwrap_or(ready);
    if desired == 0 || available >= desired {
        return;
    }
    let ns = r.ns();
    let now = ctx.now();
    let pods: Vec<(ObjRef, &Arc<Pod>)> = pods_of(ctx.store, s.metadata.uid.as_deref());
    let start = s.spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let policy = s
        .spec
        .pod_management_policy
        .as_deref()
        .unwrap_or("OrderedReady");
    let strategy = s.spec.update_strategy.as_ref();
    let partition = strategy
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|ru| ru.partition)
        .unwrap_or(0);
    let current_rev = st.and_then(|s| s.current_revision.clone());
    let update_rev = st.and_then(|s| s.update_revision.clone());
    let updating = matches!((&current_rev, &update_rev), (Some(c), Some(u)) if c != u);

    // The first ordinal that is missing or not ready.
    let mut failing: Option<(i32, Option<PodEntry>)> = None;
    let mut missing: Vec<i32> = Vec::new();
    for o in start..start + desired {
        let pod = pods
            .iter()
            .find(|(pr, p)| ordinal(&r.name, &pr.name) == Some(o) && pod::is_active(p))
            .cloned();
        match &pod {
            None => missing.push(o),
            Some((_, p)) if pod::is_ready(p) => continue,
            Some(_) => {}
        }
        if failing.is_none() {
            failing = Some((o, pod));
        }
    }
    let unready: Vec<&(ObjRef, &Arc<Pod>)> = pods
        .iter()
        .filter(|(_, p)| pod::is_active(p) && !pod::is_ready(p))
        .collect();
    let starting = !unready.is_empty()
        && missing.is_empty()
        && unready.iter().all(|(_, p)| pod::is_starting(p, now));
    let mut msg = format!(
        "StatefulSet {} has {available} of {desired} replicas available",
        r.name
    );
    match &failing {
        Some((o, Some((pr, p)))) => msg.push_str(&format!(
            "; Pod {} (ordinal {o}) is {}",
            pr.name,
            pod::describe_state(p)
        )),
        Some((o, None)) => msg.push_str(&format!(
            "; Pod {}-{o} (ordinal {o}) does not exist",
            r.name
        )),
        None => {}
    }
    let mut d = Draft::new(RuleId::ReplicasUnavailable, r.clone())
        .message(msg)
        .evidence(format!(
            "spec.replicas {desired}; status: {} current, {ready} ready, {} updated, {available} available",
            st.and_then(|s| s.current_replicas).unwrap_or(0),
            st.and_then(|s| s.updated_replicas).unwrap_or(0),
        ))
        .evidence(format!(
            "podManagementPolicy {policy}; updateStrategy {} (partition {partition}); currentRevision {}, updateRevision {}",
            strategy.and_then(|u| u.type_.as_deref()).unwrap_or("RollingUpdate"),
            current_rev.as_deref().unwrap_or("-"),
            update_rev.as_deref().unwrap_or("-")
        ))
        .summary("The failing ordinal's own findings say why it is not ready; a StatefulSet does not work around a broken Pod.");
    if starting {
        d = d
            .severity(Severity::Info)
            .message(format!(
                "StatefulSet {} has {available} of {desired} replicas available: the missing Pods are still starting",
                r.name
            ));
    }
    if policy == "OrderedReady" && !missing.is_empty() {
        if let Some((o, _)) = &failing {
            let later: Vec<String> = missing
                .iter()
                .filter(|m| *m > o)
                .map(|m| m.to_string())
                .collect();
            if !later.is_empty() {
                d = d.evidence(format!(
                    "ordinal(s) {} not created: with podManagementPolicy OrderedReady the controller waits for ordinal {o} to be Running and Ready first",
                    later.join(", ")
                ));
            }
        }
    } else if !missing.is_empty() {
        d = d.evidence(format!(
            "ordinal(s) {} have no Pod",
            missing
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (pr, p) in unready.iter().take(5) {
        let rev = label(&p.metadata, "controller-revision-hash")
            .map(|h| format!(" [revision {h}]"))
            .unwrap_or_default();
        d = d
            .evidence(format!("Pod {}{rev}: {}", pr.name, pod::describe_state(p)))
            .scope(pr.clone());
    }
    for (pr, _) in unready.iter().skip(5) {
        d = d.scope(pr.clone());
    }
    d = d
        .read_only(
            "List the StatefulSet's Pods in ordinal order",
            format!(
                "kubectl get pods -n {ns} -l {} -o wide",
                selector_arg(&s.spec.selector)
            ),
        )
        .read_only(
            "Watch the rolling update",
            format!(
                "kubectl rollout status statefulset/{} -n {ns} --timeout=10s",
                r.name
            ),
        );
    if updating
        && let Some((_, Some((pr, p)))) = &failing
        && label(&p.metadata, "controller-revision-hash") == update_rev.as_deref()
    {
        d = d
            .evidence(format!(
                "the rolling update to {} is stuck at Pod {}: a StatefulSet does not replace a Pod of the new revision that never became ready, even after the template is reverted",
                update_rev.as_deref().unwrap_or("?"),
                pr.name
            ))
            .step(
                format!(
                    "After fixing or reverting the Pod template, delete Pod {} so the controller recreates it from the corrected revision (it is not serving now)",
                    pr.name
                ),
                Some(format!("kubectl delete pod {} -n {ns}", pr.name)),
                Risk::Disruptive,
            );
    }
    if partition > 0 {
        d = d.evidence(format!(
            "partition {partition}: only ordinals >= {partition} are updated to the new revision"
        ));
    }
    out.push(d);
}

#[cfg(test)]
mod tests {
    use super::ordinal;

    #[test]
    fn ordinals_from_names() {
        assert_eq!(ordinal("web", "web-0"), Some(0));
        assert_eq!(ordinal("web", "web-12"), Some(12));
        assert_eq!(ordinal("web", "web-api-1"), None);
        assert_eq!(ordinal("web", "webx-1"), None);
    }
}
