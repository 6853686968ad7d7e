//! The cluster DNS: the `kube-system/kube-dns` Service every ClusterFirst Pod
//! depends on (the graph's `Dns` edge), and the CoreDNS Pods behind it.

use k8s_openapi::api::core::v1::{Pod, Service};

use crate::api::{Risk, Severity};
use crate::graph::{CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE};
use crate::k8s::pod;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::{name_list, pod_state};
use crate::rules::{Draft, RuleContext};
use crate::selector::Selector;

/// ClusterDNSUnavailable: the cluster DNS Service is in the graph and its CoreDNS Pods
/// (or, when they were not read, its endpoints) are down or failing.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let svc_ref = ObjRef::namespaced(Kind::Service, CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE);
    if !ctx.graph.contains(&svc_ref) {
        return;
    }
    let Some(svc) = ctx.store.get_ref::<Service>(&svc_ref) else {
        return;
    };
    let ns = CLUSTER_DNS_NAMESPACE;
    let sel = Selector::from_service_selector(svc.spec.as_ref().and_then(|s| s.selector.as_ref()));
    let pods: Vec<&Pod> = ctx
        .store
        .select_pods(ns, &sel)
        .into_iter()
        .map(|p| p.as_ref())
        .filter(|p| !pod::is_terminal(p))
        .collect();
    let slices: Vec<_> = ctx.store.endpoint_slices(ns, CLUSTER_DNS_SERVICE).collect();
    let (mut total, mut ready_eps) = (0usize, 0usize);
    for slice in &slices {
        for endpoint in slice.endpoints.iter().flatten() {
            total += 1;
            if endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(false) {
                ready_eps += 1;
            }
        }
    }
    let ready: Vec<&Pod> = pods.iter().copied().filter(|p| pod::is_ready(p)).collect();
    let crashing = |p: &Pod| {
        p.status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
            .any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
            })
    };
    let failing: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| !pod::is_ready(p) || crashing(p))
        .collect();
    let (severity, message) = if !pods.is_empty() {
        if ready.is_empty() {
            (
                Severity::Critical,
                format!(
                    "The cluster DNS is down: none of the {} CoreDNS Pod(s) behind {ns}/{CLUSTER_DNS_SERVICE} is ready, so name resolution fails in every Pod",
                    pods.len()
                ),
            )
        } else if !failing.is_empty() {
            (
                Severity::Warning,
                format!(
                    "The cluster DNS is degraded: {} of {} CoreDNS Pod(s) behind {ns}/{CLUSTER_DNS_SERVICE} failing; lookups sent to them time out",
                    failing.len(),
                    pods.len()
                ),
            )
        } else {
            return;
        }
    } else if !slices.is_empty() {
        if ready_eps > 0 {
            return;
        }
        (
            Severity::Critical,
            format!(
                "The cluster DNS is down: Service {ns}/{CLUSTER_DNS_SERVICE} has no ready endpoint ({total} endpoint(s), none ready)"
            ),
        )
    } else if !sel.matches_nothing() && ctx.store.kind_listed(Kind::Pod, ns) {
        (
            Severity::Critical,
            format!(
                "The cluster DNS is down: no Pod of {ns} matches Service {CLUSTER_DNS_SERVICE}'s selector {sel}"
            ),
        )
    } else {
        return;
    };
    let mut draft = Draft::new(RuleId::ClusterDNSUnavailable, svc_ref.clone())
        .severity(severity)
        .edge("Service -> Pod")
        .message(message);
    if !pods.is_empty() {
        draft = draft.evidence(format!(
            "{} of {} CoreDNS Pod(s) ready",
            ready.len(),
            pods.len()
        ));
    }
    if !slices.is_empty() {
        draft = draft.evidence(format!(
            "EndpointSlices of {CLUSTER_DNS_SERVICE}: {total} endpoint(s), {ready_eps} ready"
        ));
        for slice in &slices {
            draft = draft.scope(ObjRef::namespaced(
                Kind::EndpointSlice,
                ns,
                slice.metadata.name.as_deref().unwrap_or_default(),
            ));
        }
    }
    let failing_refs: Vec<ObjRef> = failing.iter().map(|p| pod::reference(p)).collect();
    for pod in failing.iter().take(4) {
        draft = draft.evidence(format!("Pod {}: {}", pod::name(pod), pod_state(pod)));
        for container in pod
            .status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
        {
            if let Some(terminated) = container
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                && let Some(message) = terminated.message.as_deref().filter(|m| !m.is_empty())
            {
                draft = draft.evidence(format!(
                    "{} container {} last terminated (exit {}): {}",
                    pod::name(pod),
                    container.name,
                    terminated.exit_code,
                    message.lines().last().unwrap_or(message)
                ));
            }
        }
        let failing_ref = pod::reference(pod);
        let mut quoted = 0;
        for event in ctx.events(&failing_ref).into_iter().rev() {
            if event.is_warning() && quoted < 2 {
                draft = draft.event(event);
                quoted += 1;
            }
        }
    }
    // Every CoreDNS Pod is part of what failed (the Node they run on may explain it).
    let all: Vec<ObjRef> = pods.iter().map(|p| pod::reference(p)).collect();
    for coredns in all {
        draft = draft.scope(coredns);
    }
    if !failing_refs.is_empty() {
        draft = draft.affected(&failing_refs);
    }
    let names: Vec<&str> = failing_refs.iter().map(|r| r.name.as_str()).collect();
    draft = draft
        .summary("Bring CoreDNS back (its logs say why it is not ready: Corefile errors, loop detection, upstream unreachable, OOM).")
        .read_only(
            "Check the CoreDNS Pods",
            format!("kubectl get pods -n {ns} -l k8s-app=kube-dns -o wide"),
        )
        .read_only(
            "Read the CoreDNS logs",
            format!("kubectl logs -n {ns} -l k8s-app=kube-dns --tail=200"),
        )
        .read_only(
            "Read the Corefile",
            format!("kubectl get configmap coredns -n {ns} -o yaml"),
        )
        .step(
            format!(
                "Once the cause is fixed, restart CoreDNS{}",
                if names.is_empty() { String::new() } else { format!(" ({})", name_list(&names, 3)) }
            ),
            Some(format!("kubectl rollout restart deployment/coredns -n {ns}")),
            Risk::Disruptive,
        );
    out.push(draft);
}
