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
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

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

fn cond_line(c: &HorizontalPodAutoscalerCondition) -> String {
    format!(
        "condition {}={} reason {}{}: {}",
        c.type_,
        c.status,
        c.reason.as_deref().unwrap_or("-"),
        duration::time(c.last_transition_time.as_ref())
            .map(|t| format!(" since {t}"))
            .unwrap_or_default(),
        c.message.as_deref().unwrap_or("")
    )
}

fn target_ref(h: &HorizontalPodAutoscaler, ns: &str) -> Option<ObjRef> {
    let t = &h.spec.scale_target_ref;
    Kind::from_api_kind(&t.kind).map(|k| ObjRef::new(k, Some(ns), &t.name))
}

fn template<'a>(ctx: &RuleContext<'a>, r: &ObjRef) -> Option<&'a PodTemplateSpec> {
    match r.kind {
        Kind::Deployment => ctx.store.get_ref::<Deployment>(r).map(|d| &d.spec.template),
        Kind::StatefulSet => ctx
            .store
            .get_ref::<StatefulSet>(r)
            .map(|d| &d.spec.template),
        Kind::ReplicaSet => ctx
            .store
            .get_ref::<ReplicaSet>(r)
            .and_then(|d| d.spec.template.as_ref()),
        _ => None,
    }
}

/// A short description of current vs target metrics.
fn metrics_lines(h: &HorizontalPodAutoscaler) -> Vec<String> {
    let mut out = Vec::new();
    let current = h.status.as_ref().and_then(|s| s.current_metrics.as_ref());
    for m in h.spec.metrics.iter().flatten() {
        if let Some(res) = &m.resource {
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
                .map(
                    |c| match (&c.current.average_utilization, &c.current.average_value) {
                        (Some(u), _) => format!("{u}%"),
                        (None, Some(v)) => v.0.clone(),
                        _ => "unknown".to_owned(),
                    },
                )
                .unwrap_or_else(|| "unknown".to_owned());
            out.push(format!(
                "{} metric: current {cur}, target {target}",
                res.name
            ));
        } else {
            out.push(format!("{} metric", m.type_));
        }
    }
    out
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for r in ctx.graph.subjects(Kind::HorizontalPodAutoscaler) {
        let Some(h) = ctx.store.get_ref::<HorizontalPodAutoscaler>(r) else {
            continue;
        };
        let ns = r.ns();
        let t = &h.spec.scale_target_ref;
        let target = target_ref(h, ns);
        // HPATargetNotFound
        let able = condition(h, "AbleToScale");
        let scale_failed = able.filter(|c| {
            c.status == "False"
                && c.reason.as_deref() == Some("FailedGetScale")
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.contains("not found"))
        });
        let missing = target.as_ref().is_some_and(|t| known_missing(ctx, t));
        if missing || scale_failed.is_some() {
            let mut d = Draft::new(RuleId::HPATargetNotFound, r.clone())
                .message(format!(
                    "HorizontalPodAutoscaler {} scales {} {}, which does not exist: it scales nothing",
                    r.name, t.kind, t.name
                ))
                .evidence(format!(
                    "spec.scaleTargetRef: {} {} ({})",
                    t.kind,
                    t.name,
                    t.api_version.as_deref().unwrap_or("")
                ))
                .edge("HorizontalPodAutoscaler -> scale target")
                .summary("Point scaleTargetRef at the workload (kind, name and apiVersion as the workload declares them), or delete the leftover autoscaler.")
                .read_only(
                    "List the workloads of the namespace",
                    format!("kubectl get deployments,statefulsets -n {ns}"),
                );
            if let Some(c) = scale_failed {
                d = d.evidence(cond_line(c));
            }
            if let Some(t) = target {
                d = d.scope(t);
            }
            for e in ctx.events(r) {
                if e.is_warning() && e.reason == "FailedGetScale" {
                    d = d.account(e);
                }
            }
            out.push(d);
            continue;
        }
        metrics_unavailable(ctx, r, h, target.as_ref(), out);
        maxed_out(r, h, out);
    }
}

fn metrics_unavailable(
    ctx: &RuleContext,
    r: &ObjRef,
    h: &HorizontalPodAutoscaler,
    target: Option<&ObjRef>,
    out: &mut Vec<Draft>,
) {
    let ns = r.ns();
    let active = condition(h, "ScalingActive").filter(|c| {
        c.status == "False"
            && c.reason
                .as_deref()
                .is_some_and(|r| r.starts_with("FailedGet") || r.starts_with("Invalid"))
    });
    // Resource metrics measured against requests need requests on every container.
    let mut missing_requests: Vec<String> = Vec::new();
    if let Some(tpl) = target.and_then(|t| template(ctx, t))
        && let Some(spec) = &tpl.spec
    {
        for m in h.spec.metrics.iter().flatten() {
            let (name, only, utilization) = if let Some(res) = &m.resource {
                (
                    &res.name,
                    None,
                    res.target.average_utilization.is_some() || res.target.type_ == "Utilization",
                )
            } else if let Some(cr) = &m.container_resource {
                (
                    &cr.name,
                    Some(&cr.container),
                    cr.target.average_utilization.is_some() || cr.target.type_ == "Utilization",
                )
            } else {
                continue;
            };
            if !utilization {
                continue;
            }
            for c in &spec.containers {
                if only.is_some_and(|o| o != &c.name) {
                    continue;
                }
                let has = c
                    .resources
                    .as_ref()
                    .and_then(|r| r.requests.as_ref())
                    .is_some_and(|req| req.contains_key(name.as_str()))
                    || c.resources
                        .as_ref()
                        .and_then(|r| r.limits.as_ref())
                        .is_some_and(|l| l.contains_key(name.as_str()));
                if !has {
                    missing_requests.push(format!(
                        "container {} of {} has no {name} request, so {name} utilization cannot be computed",
                        c.name,
                        target.map(|t| t.short()).unwrap_or_default()
                    ));
                }
            }
        }
    }
    let events: Vec<_> = ctx
        .events(r)
        .into_iter()
        .filter(|e| {
            e.is_warning()
                && (e.reason.starts_with("FailedGet") || e.reason == "FailedComputeMetricsReplicas")
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
    } else if text.contains("missing request for") {
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
    let mut d = Draft::new(RuleId::HPAMetricsUnavailable, r.clone())
        .message(format!(
            "HorizontalPodAutoscaler {} cannot compute a replica count{}: it will not scale",
            r.name,
            hint.map(|h| format!(": {h}")).unwrap_or_default()
        ))
        .summary("Until its metrics are readable the autoscaler holds the current replica count, whatever the load.")
        .read_only("Read the autoscaler's conditions and events", format!("kubectl describe hpa {} -n {ns}", r.name))
        .read_only("Check that the resource metrics API is available", "kubectl get apiservice v1beta1.metrics.k8s.io");
    if let Some(c) = active {
        d = d
            .evidence(cond_line(c))
            .seen(duration::time(c.last_transition_time.as_ref()), None);
    }
    for l in &missing_requests {
        d = d.evidence(l.clone());
    }
    if !missing_requests.is_empty() {
        d = d.step(
            "Set requests for the metric's resource on every container of the target's Pod template",
            None,
            Risk::Reversible,
        );
    }
    if let Some(e) = events.last() {
        d = d.event(e);
    }
    for e in &events {
        d = d.account(e);
    }
    if let Some(t) = target {
        d = d.scope(t.clone());
    }
    out.push(d);
}

fn maxed_out(r: &ObjRef, h: &HorizontalPodAutoscaler, out: &mut Vec<Draft>) {
    let max = h.spec.max_replicas;
    let st = h.status.as_ref();
    let current = st.and_then(|s| s.current_replicas).unwrap_or(0);
    let desired = st.map_or(0, |s| s.desired_replicas);
    let limited = condition(h, "ScalingLimited")
        .filter(|c| c.status == "True" && c.reason.as_deref() != Some("TooFewReplicas"));
    let Some(c) = limited else { return };
    if current < max {
        return;
    }
    let ns = r.ns();
    let t = &h.spec.scale_target_ref;
    let mut d = Draft::new(RuleId::HPAMaxedOut, r.clone())
        .message(format!(
            "HorizontalPodAutoscaler {} runs {} {} at its maximum of {max} replicas and wants more: load above this level is not absorbed",
            r.name, t.kind, t.name
        ))
        .evidence(format!(
            "spec: minReplicas {}, maxReplicas {max}; status: currentReplicas {current}, desiredReplicas {desired}",
            h.spec.min_replicas.unwrap_or(1)
        ))
        .evidence(cond_line(c))
        .seen(duration::time(c.last_transition_time.as_ref()), None)
        .summary("Raise maxReplicas if the cluster (nodes, quota, downstream dependencies) can take more Pods, or make each Pod handle more load.")
        .read_only("Read the autoscaler's metrics and events", format!("kubectl describe hpa {} -n {ns}", r.name))
        .step(
            format!("Raise maxReplicas of {} after checking node capacity and quota", r.name),
            Some(format!(
                "kubectl patch hpa {} -n {ns} -p '{{\"spec\":{{\"maxReplicas\":{}}}}}'",
                r.name,
                max + (max / 2).max(1)
            )),
            Risk::Reversible,
        );
    for l in metrics_lines(h) {
        d = d.evidence(l);
    }
    out.push(d);
}
