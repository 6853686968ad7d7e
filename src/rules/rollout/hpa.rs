//! HorizontalPodAutoscalers: at their ceiling, blind (no metrics), or aimed at nothing.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::{
    HorizontalPodAutoscaler, HorizontalPodAutoscalerCondition,
};
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::util::known_missing;
use crate::api::Risk;
use crate::k8s::duration;
use crate::model::{Kind, ObjRef};
use crate::rules::{Draft, RuleContext};
use crate::rules::{RuleId, Tag};

fn condition<'a>(
    h: &'a HorizontalPodAutoscaler,
    type_: &str,
) -> Option<&'a HorizontalPodAutoscalerCondition> {
    h.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

fn cond_line(condition: &HorizontalPodAutoscalerCondition) -> String {
    format!(
        "condition {}={} reason {}{}: {}",
        condition.type_,
        condition.status,
        condition.reason.as_deref().unwrap_or("-"),
        duration::time(condition.last_transition_time.as_ref())
            .map(|t| format!(" since {t}"))
            .unwrap_or_default(),
        condition.message.as_deref().unwrap_or("")
    )
}

fn target_ref(hpa: &HorizontalPodAutoscaler, ns: &str) -> Option<ObjRef> {
    let scale_target = &hpa.spec.scale_target_ref;
    Kind::from_api_kind(&scale_target.kind).map(|k| ObjRef::new(k, Some(ns), &scale_target.name))
}

fn template<'a>(ctx: &RuleContext<'a>, target: &ObjRef) -> Option<&'a PodTemplateSpec> {
    match target.kind {
        Kind::Deployment => ctx
            .store
            .get_ref::<Deployment>(target)
            .map(|deployment| &deployment.spec.template),
        Kind::StatefulSet => ctx
            .store
            .get_ref::<StatefulSet>(target)
            .map(|sts| &sts.spec.template),
        Kind::ReplicaSet => ctx
            .store
            .get_ref::<ReplicaSet>(target)
            .and_then(|rs| rs.spec.template.as_ref()),
        _ => None,
    }
}

/// A short description of current vs target metrics.
fn metrics_lines(hpa: &HorizontalPodAutoscaler) -> Vec<String> {
    let mut out = Vec::new();
    let current = hpa.status.as_ref().and_then(|s| s.current_metrics.as_ref());
    for metric in hpa.spec.metrics.iter().flatten() {
        if let Some(res) = &metric.resource {
            let target = match (&res.target.average_utilization, &res.target.average_value) {
                (Some(u), _) => format!("{u}% of requests"),
                (None, Some(v)) => v.0.clone(),
                _ => "?".to_owned(),
            };
            let cur = current
                .into_iter()
                .flatten()
                .filter_map(|c| c.resource.as_ref())
                .find(|c| c.name == res.name)
                .map(|metric_status| {
                    match (
                        &metric_status.current.average_utilization,
                        &metric_status.current.average_value,
                    ) {
                        (Some(u), _) => format!("{u}%"),
                        (None, Some(v)) => v.0.clone(),
                        _ => "unknown".to_owned(),
                    }
                })
                .unwrap_or_else(|| "unknown".to_owned());
            out.push(format!(
                "{} metric: current {cur}, target {target}",
                res.name
            ));
        } else {
            out.push(format!("{} metric", metric.type_));
        }
    }
    out
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for hpa_ref in ctx.graph.subjects(Kind::HorizontalPodAutoscaler) {
        let Some(hpa) = ctx.store.get_ref::<HorizontalPodAutoscaler>(hpa_ref) else {
            continue;
        };
        let ns = hpa_ref.ns();
        let scale_target = &hpa.spec.scale_target_ref;
        let target = target_ref(hpa, ns);
        // HPATargetNotFound
        let able = condition(hpa, "AbleToScale");
        let scale_failed = able.filter(|condition| {
            condition.status == "False"
                && condition.reason.as_deref() == Some("FailedGetScale")
                && condition
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("not found"))
        });
        let missing = target
            .as_ref()
            .is_some_and(|target_ref| known_missing(ctx, target_ref));
        if missing || scale_failed.is_some() {
            let mut draft = Draft::new(RuleId::HPATargetNotFound, hpa_ref.clone())
                .message(format!(
                    "HorizontalPodAutoscaler {} scales {} {}, which does not exist: it scales nothing",
                    hpa_ref.name, scale_target.kind, scale_target.name
                ))
                .evidence(format!(
                    "spec.scaleTargetRef: {} {} ({})",
                    scale_target.kind,
                    scale_target.name,
                    scale_target.api_version.as_deref().unwrap_or("")
                ))
                .edge("HorizontalPodAutoscaler -> scale target")
                .summary("Point scaleTargetRef at the workload (kind, name and apiVersion as the workload declares them), or delete the leftover autoscaler.")
                .read_only(
                    "List the workloads of the namespace",
                    format!("kubectl get deployments,statefulsets -n {ns}"),
                );
            if let Some(condition) = scale_failed {
                draft = draft.evidence(cond_line(condition));
            }
            if let Some(target_ref) = target {
                draft = draft.scope(target_ref);
            }
            for event in ctx.events(hpa_ref) {
                if event.is_warning() && event.reason == "FailedGetScale" {
                    draft = draft.account(event);
                }
            }
            out.push(draft);
            continue;
        }
        metrics_unavailable(ctx, hpa_ref, hpa, target.as_ref(), out);
        maxed_out(hpa_ref, hpa, out);
    }
}

fn metrics_unavailable(
    ctx: &RuleContext,
    hpa_ref: &ObjRef,
    hpa: &HorizontalPodAutoscaler,
    target: Option<&ObjRef>,
    out: &mut Vec<Draft>,
) {
    let ns = hpa_ref.ns();
    let active = condition(hpa, "ScalingActive").filter(|condition| {
        condition.status == "False"
            && condition.reason.as_deref().is_some_and(|reason| {
                reason.starts_with("FailedGet") || reason.starts_with("Invalid")
            })
    });
    // Resource metrics measured against requests need requests on every container.
    let mut missing_requests: Vec<String> = Vec::new();
    // (container, resource) of the first container without the request
    let mut first_missing: Option<(String, String)> = None;
    if let Some(tpl) = target.and_then(|target_ref| template(ctx, target_ref))
        && let Some(spec) = &tpl.spec
    {
        for container in &spec.containers {
            for name in utilization_resources(hpa, &container.name) {
                let has = container
                    .resources
                    .as_ref()
                    .and_then(|resources| resources.requests.as_ref())
                    .is_some_and(|req| req.contains_key(name.as_str()))
                    || container
                        .resources
                        .as_ref()
                        .and_then(|resources| resources.limits.as_ref())
                        .is_some_and(|l| l.contains_key(name.as_str()));
                if !has {
                    missing_requests.push(format!(
                        "container {} of {} has no {name} request, so {name} utilization cannot be computed",
                        container.name,
                        target.map(|target_ref| target_ref.short()).unwrap_or_default()
                    ));
                    first_missing.get_or_insert((container.name.clone(), name));
                }
            }
        }
    }
    let events: Vec<_> = ctx
        .events(hpa_ref)
        .into_iter()
        .filter(|event| {
            event.is_warning()
                && (event.reason.starts_with("FailedGet")
                    || event.reason == "FailedComputeMetricsReplicas")
        })
        .collect();
    if active.is_none() && missing_requests.is_empty() {
        return;
    }
    let text = active
        .and_then(|c| c.message.clone())
        .or_else(|| events.last().map(|e| e.message.clone()))
        .unwrap_or_default();
    let hint = if text.contains("could not find the requested resource")
        || text.contains("unable to fetch metrics from resource metrics API")
        || text.contains("metrics.k8s.io")
    {
        Some(
            "the resource metrics API (metrics-server) is not serving: check `kubectl get apiservice v1beta1.metrics.k8s.io` and the metrics-server Pods",
        )
    } else if text.contains("missing request for") || (text.is_empty() && first_missing.is_some()) {
        Some("a container of the target has no request for the metric's resource")
    } else if text.contains("no metrics returned") || text.contains("did not receive metrics") {
        Some(
            "the metrics pipeline returns nothing for the target's Pods (too young, not running, or not scraped)",
        )
    } else if text.contains("external metrics") || text.contains("custom.metrics.k8s.io") {
        Some("the custom/external metrics adapter is not serving the metric")
    } else {
        None
    };
    let missing_request = hint.is_some_and(|h| h.contains("no request"));
    let hint = match (&first_missing, target) {
        (Some((container, resource)), Some(target_ref)) if missing_request => Some(format!(
            "container {container} of {} has no {resource} request, and {resource} utilization is a percentage of requests",
            target_ref.short()
        )),
        _ => hint.map(str::to_owned),
    };
    let mut draft = Draft::new(RuleId::HPAMetricsUnavailable, hpa_ref.clone())
        .message(format!(
            "HorizontalPodAutoscaler {} cannot compute a replica count{}: it will not scale",
            hpa_ref.name,
            hint.map(|hint_text| format!(": {hint_text}")).unwrap_or_default()
        ))
        .summary("Until its metrics are readable the autoscaler holds the current replica count, whatever the load.")
        .read_only("Read the autoscaler's conditions and events", format!("kubectl describe hpa {} -n {ns}", hpa_ref.name))
        .read_only("Check that the resource metrics API is available", "kubectl get apiservice v1beta1.metrics.k8s.io");
    if let Some(condition) = active {
        draft = draft.evidence(cond_line(condition)).seen(
            duration::time(condition.last_transition_time.as_ref()),
            None,
        );
    }
    for line in &missing_requests {
        draft = draft.evidence(line.clone());
    }
    if missing_request {
        draft = draft.tag(Tag::MissingRequest);
    }
    if let (Some((container, resource)), Some(target_ref)) = (&first_missing, target) {
        draft = draft.step(
            format!(
                "Set a {resource} request on container {container} (and every other container the evidence names), sized from observed usage"
            ),
            Some(set_request_command(target_ref, container, resource)),
            Risk::Reversible,
        );
    }
    if let Some(newest) = events.last() {
        draft = draft.event(newest);
    }
    for event in &events {
        draft = draft.account(event);
    }
    if let Some(target_ref) = target {
        draft = draft.scope(target_ref.clone());
    }
    out.push(draft);
}

/// The resources whose utilization (a percentage of requests) an autoscaler computes
/// over `container`: its `Resource` metrics (every container) and its
/// `ContainerResource` metrics of that container, with a `Utilization` target.
pub(crate) fn utilization_resources(hpa: &HorizontalPodAutoscaler, container: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for metric in hpa.spec.metrics.iter().flatten() {
        let (name, utilization) = if let Some(res) = &metric.resource {
            (
                &res.name,
                res.target.average_utilization.is_some() || res.target.type_ == "Utilization",
            )
        } else if let Some(cr) = metric
            .container_resource
            .as_ref()
            .filter(|cr| cr.container == container)
        {
            (
                &cr.name,
                cr.target.average_utilization.is_some() || cr.target.type_ == "Utilization",
            )
        } else {
            continue;
        };
        if utilization && !out.contains(name) {
            out.push(name.clone());
        }
    }
    out
}

/// The autoscalers of a namespace that scale `workload`.
pub(crate) fn scalers_of<'a>(
    ctx: &RuleContext<'a>,
    workload: &'a ObjRef,
) -> impl Iterator<Item = &'a std::sync::Arc<HorizontalPodAutoscaler>> + 'a {
    ctx.store
        .list::<HorizontalPodAutoscaler>(workload.ns())
        .filter(move |hpa| {
            hpa.spec.scale_target_ref.kind == workload.kind.name()
                && hpa.spec.scale_target_ref.name == workload.name
        })
}

/// The ScalingActive=False condition of an autoscaler, as evidence.
pub(crate) fn scaling_inactive(hpa: &HorizontalPodAutoscaler) -> Option<String> {
    condition(hpa, "ScalingActive")
        .filter(|c| c.status == "False")
        .map(cond_line)
}

/// `kubectl set resources deployment/web -n shop -c app --requests=cpu=100m`: a
/// starting value to size from observed usage.
pub(crate) fn set_request_command(workload: &ObjRef, container: &str, resource: &str) -> String {
    let amount = match resource {
        "cpu" => "100m",
        "memory" => "128Mi",
        _ => "<amount>",
    };
    format!(
        "kubectl set resources {}{} -c {container} --requests={resource}={amount}",
        workload.kubectl(),
        workload.ns_flag()
    )
}

fn maxed_out(hpa_ref: &ObjRef, hpa: &HorizontalPodAutoscaler, out: &mut Vec<Draft>) {
    let max = hpa.spec.max_replicas;
    let st = hpa.status.as_ref();
    let current = st.and_then(|s| s.current_replicas).unwrap_or(0);
    let desired = st.map_or(0, |s| s.desired_replicas);
    let limited = condition(hpa, "ScalingLimited")
        .filter(|c| c.status == "True" && c.reason.as_deref() != Some("TooFewReplicas"));
    let Some(limited) = limited else { return };
    if current < max {
        return;
    }
    let ns = hpa_ref.ns();
    let scale_target = &hpa.spec.scale_target_ref;
    let mut draft = Draft::new(RuleId::HPAMaxedOut, hpa_ref.clone())
        .message(format!(
            "HorizontalPodAutoscaler {} runs {} {} at its maximum of {max} replicas and wants more: load above this level is not absorbed",
            hpa_ref.name, scale_target.kind, scale_target.name
        ))
        .evidence(format!(
            "spec: minReplicas {}, maxReplicas {max}; status: currentReplicas {current}, desiredReplicas {desired}",
            hpa.spec.min_replicas.unwrap_or(1)
        ))
        .evidence(cond_line(limited))
        .seen(duration::time(limited.last_transition_time.as_ref()), None)
        .summary("Raise maxReplicas if the cluster (nodes, quota, downstream dependencies) can take more Pods, or make each Pod handle more load.")
        .read_only("Read the autoscaler's metrics and events", format!("kubectl describe hpa {} -n {ns}", hpa_ref.name))
        .step(
            format!("Raise maxReplicas of {} after checking node capacity and quota", hpa_ref.name),
            Some(format!(
                "kubectl patch hpa {} -n {ns} -p '{{\"spec\":{{\"maxReplicas\":{}}}}}'",
                hpa_ref.name,
                max + (max / 2).max(1)
            )),
            Risk::Reversible,
        );
    for line in metrics_lines(hpa) {
        draft = draft.evidence(line);
    }
    out.push(draft);
}
