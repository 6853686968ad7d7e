//! The `resources` rule set (docs/rules.md): resource hygiene of the graph's workloads
//! (requests and memory limits, one finding per template container) and quota
//! pressure in their namespaces.
//!
//! Requests and limits are judged on what the API server admits: a Pod of the
//! workload when one exists (a LimitRange may have injected defaults), else the
//! template with the namespace's LimitRange defaults applied.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, LimitRange, Pod, PodSpec, ResourceQuota};

use crate::api::{Risk, Severity};
use crate::graph::{Existence, Role};
use crate::k8s::owners::top_owner;
use crate::k8s::quantity::{self, Quantity, Resources};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::rollout::hpa;
use crate::rules::{Draft, RuleContext};
use crate::store::Store;

/// A quota used at this fraction of a hard limit or more is under pressure.
pub(crate) const QUOTA_PRESSURE: f64 = 0.9;

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    container_hygiene(ctx, out);
    quota_pressure(ctx, out);
}

const WORKLOAD_KINDS: [Kind; 7] = [
    Kind::Pod,
    Kind::Deployment,
    Kind::StatefulSet,
    Kind::DaemonSet,
    Kind::ReplicaSet,
    Kind::Job,
    Kind::CronJob,
];

use crate::k8s::owners::template_spec;

/// The containers that run alongside the app: regular containers and sidecars.
fn long_running(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers.iter().chain(
        spec.init_containers
            .iter()
            .flatten()
            .filter(|c| quantity::is_sidecar(c)),
    )
}

/// The namespace's LimitRange container defaults: (default requests, default limits).
fn limit_range_defaults(store: &Store, ns: &str) -> (Resources, Resources) {
    let mut req = Resources::new();
    let mut lim = Resources::new();
    for lr in store.list::<LimitRange>(ns) {
        for item in lr.spec.iter().flat_map(|s| s.limits.iter()) {
            if item.type_ != "Container" {
                continue;
            }
            let limits = quantity::resources(item.default.as_ref());
            let requests = quantity::resources(item.default_request.as_ref());
            // defaultRequest defaults to default (the limit) when unset
            for (resource, amount) in &limits {
                lim.insert(resource.clone(), *amount);
                req.insert(resource.clone(), *amount);
            }
            for (resource, amount) in requests {
                req.insert(resource, amount);
            }
        }
    }
    (req, lim)
}

/// (requests, limits) of a container as admitted.
fn effective(
    container: &Container,
    defaults: Option<&(Resources, Resources)>,
) -> (Resources, Resources) {
    let res = container.resources.as_ref();
    let mut lim = quantity::resources(res.and_then(|r| r.limits.as_ref()));
    let mut req = quantity::container_requests(container);
    if let Some((dreq, dlim)) = defaults {
        for (resource, amount) in dlim {
            lim.entry(resource.clone()).or_insert(*amount);
        }
        for (resource, amount) in dreq {
            req.entry(resource.clone()).or_insert(*amount);
        }
    }
    (req, lim)
}

fn container_hygiene(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // template holder -> an admitted Pod of it (if any)
    let mut holders: BTreeMap<ObjRef, Option<ObjRef>> = BTreeMap::new();
    for kind in WORKLOAD_KINDS {
        for object in ctx.graph.subjects(kind) {
            let holder = top_owner(ctx.store, object);
            let pod = (kind == Kind::Pod).then(|| object.clone());
            let slot = holders.entry(holder).or_insert(None);
            if slot.is_none() {
                *slot = pod;
            }
        }
    }
    for (holder, pod) in holders {
        let Some(template) = template_spec(ctx.store, &holder) else {
            continue;
        };
        let admitted: Option<&PodSpec> = pod
            .as_ref()
            .and_then(|p| ctx.store.get_ref::<Pod>(p))
            .and_then(|p| p.spec.as_ref());
        let qos = pod
            .as_ref()
            .and_then(|p| ctx.store.get_ref::<Pod>(p))
            .and_then(|p| p.status.as_ref())
            .and_then(|s| s.qos_class.clone());
        let defaults = limit_range_defaults(ctx.store, holder.ns());
        for container in long_running(template) {
            let admitted_c =
                admitted.and_then(|s| long_running(s).find(|x| x.name == container.name));
            let (req, lim) = match admitted_c {
                Some(ac) => effective(ac, None),
                None => effective(container, Some(&defaults)),
            };
            let missing: Vec<&str> = ["cpu", "memory"]
                .into_iter()
                .filter(|k| !req.contains_key(*k))
                .collect();
            let cmd_target = format!("{}{}", holder.kubectl(), holder.ns_flag());
            let settable = !matches!(holder.kind, Kind::Pod | Kind::Job | Kind::CronJob);
            if !missing.is_empty() {
                let best_effort = req.is_empty() && lim.is_empty();
                let mut draft = Draft::new(RuleId::NoResourceRequests, holder.clone())
                    .discriminator(container.name.clone())
                    .message(format!(
                        "Container {} of {} has no {} request: the scheduler places it as if it used nothing{}",
                        container.name,
                        holder.short(),
                        missing.join("/"),
                        if best_effort {
                            ", and with no limits either it is BestEffort, the first evicted under node pressure"
                        } else {
                            ""
                        }
                    ))
                    .evidence(format!(
                        "container {}: requests {}; limits {}",
                        container.name,
                        if req.is_empty() { "none".to_owned() } else { quantity::describe(&req) },
                        if lim.is_empty() { "none".to_owned() } else { quantity::describe(&lim) }
                    ))
                    .summary("Set cpu and memory requests from observed usage (kubectl top, VPA recommendations) so the scheduler reserves room and the HPA can compute utilisation.")
                    .read_only(
                        "See what the containers really use",
                        format!("kubectl top pods{} --containers", holder.ns_flag()),
                    );
                if let Some(qos_class) = &qos {
                    draft = draft.evidence(format!("qosClass {qos_class}"));
                }
                // An autoscaler that computes utilization of a missing request cannot
                // scale the workload: then the missing request is a cause, not hygiene.
                let mut blinded: Option<(String, String)> = None;
                for hpa in hpa::scalers_of(ctx, &holder) {
                    let Some(hpa_name) = hpa.metadata.name.as_deref() else {
                        continue;
                    };
                    let needed: Vec<String> = hpa::utilization_resources(hpa, &container.name)
                        .into_iter()
                        .filter(|resource| missing.contains(&resource.as_str()))
                        .collect();
                    let Some(resource) = needed.first() else {
                        continue;
                    };
                    draft = draft
                        .evidence(format!(
                            "HorizontalPodAutoscaler {hpa_name} scales {} on {} utilization, a percentage of requests",
                            holder.short(),
                            needed.join("/")
                        ))
                        .scope(ObjRef::namespaced(
                            Kind::HorizontalPodAutoscaler,
                            holder.ns(),
                            hpa_name,
                        ))
                        .edge("HorizontalPodAutoscaler -> scale target");
                    if let Some(line) = hpa::scaling_inactive(hpa) {
                        draft =
                            draft.evidence(format!("HorizontalPodAutoscaler {hpa_name}: {line}"));
                    }
                    blinded.get_or_insert((hpa_name.to_owned(), resource.clone()));
                }
                if let Some((hpa_name, resource)) = &blinded {
                    draft = draft
                        .severity(Severity::Warning)
                        .message(format!(
                            "Container {} of {} has no {resource} request, so HorizontalPodAutoscaler {hpa_name} cannot compute {resource} utilization and does not scale the workload, whatever the load",
                            container.name,
                            holder.short(),
                        ))
                        .summary(format!(
                            "Set a {resource} request on the container, sized from observed usage: the autoscaler measures {resource} utilization as a percentage of requests and holds the replica count until every container has one."
                        ));
                    if settable {
                        draft = draft.step(
                            format!(
                                "Set a {resource} request on container {} (a starting value: size it from kubectl top)",
                                container.name
                            ),
                            Some(hpa::set_request_command(&holder, &container.name, resource)),
                            Risk::Reversible,
                        );
                    }
                }
                if settable && blinded.is_none() {
                    draft = draft.step(
                        "Set requests in the workload template",
                        Some(format!(
                            "kubectl set resources {cmd_target} -c {} --requests=cpu=<cpu>,memory=<memory>",
                            container.name
                        )),
                        Risk::Reversible,
                    );
                }
                out.push(draft);
            }
            if !lim.contains_key("memory") {
                let mut draft = Draft::new(RuleId::NoMemoryLimit, holder.clone())
                    .discriminator(container.name.clone())
                    .message(format!(
                        "Container {} of {} has no memory limit: a leak or spike can take the node's memory and get other Pods evicted",
                        container.name,
                        holder.short()
                    ))
                    .evidence(format!(
                        "container {}: memory request {}, no memory limit",
                        container.name,
                        req.get("memory").map_or_else(|| "none".to_owned(), |q| q.display_for("memory"))
                    ))
                    .summary("Set a memory limit (commonly equal to the request for predictable behaviour); memory is not compressible, unlike cpu.");
                if settable {
                    draft = draft.step(
                        "Set a memory limit in the workload template",
                        Some(format!(
                            "kubectl set resources {cmd_target} -c {} --limits=memory=<memory>",
                            container.name
                        )),
                        Risk::Reversible,
                    );
                }
                out.push(draft);
            }
        }
    }
}

fn quota_pressure(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    for (object, entry) in &ctx.graph.nodes {
        if entry.exists != Existence::Exists || entry.role == Role::Context {
            continue;
        }
        if WORKLOAD_KINDS.contains(&object.kind) || object.kind == Kind::ResourceQuota {
            namespaces.insert(object.ns().to_owned());
        }
        if object.kind == Kind::Namespace {
            namespaces.insert(object.name.clone());
        }
    }
    for ns in namespaces {
        for quota in ctx.store.list::<ResourceQuota>(&ns) {
            let Some(name) = quota.metadata.name.as_deref() else {
                continue;
            };
            let status = quota.status.as_ref();
            let hard = quantity::resources(
                status
                    .and_then(|s| s.hard.as_ref())
                    .or_else(|| quota.spec.as_ref().and_then(|s| s.hard.as_ref())),
            );
            let used = quantity::resources(status.and_then(|s| s.used.as_ref()));
            let mut lines: Vec<(f64, String, String)> = Vec::new();
            for (res, hard_amount) in &hard {
                // a hard limit of 0 forbids the resource on purpose: not pressure
                if !hard_amount.is_positive() {
                    continue;
                }
                let used_amount = used.get(res).copied().unwrap_or(Quantity::ZERO);
                let Some(ratio) = used_amount.ratio(*hard_amount) else {
                    continue;
                };
                if ratio >= QUOTA_PRESSURE {
                    lines.push((
                        ratio,
                        res.clone(),
                        format!(
                            "{res}: used {} of {} ({:.0}%){}",
                            used_amount.display_for(res),
                            hard_amount.display_for(res),
                            ratio * 100.0,
                            if ratio >= 1.0 { ", exhausted" } else { "" }
                        ),
                    ));
                }
            }
            if lines.is_empty() {
                continue;
            }
            lines.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let (top_ratio, top_res, _) = &lines[0];
            let quota_ref = ObjRef::namespaced(Kind::ResourceQuota, &ns, name);
            let mut draft = Draft::new(RuleId::LimitRangeOrQuotaPressure, quota_ref.clone())
                .message(format!(
                    "ResourceQuota {ns}/{name} is at {:.0}% of its {top_res} limit{}",
                    top_ratio * 100.0,
                    if *top_ratio >= 1.0 {
                        ": new Pods or objects that need more are refused (FailedCreate: exceeded quota)"
                    } else {
                        ": the next scale-up or rollout surge may be refused"
                    }
                ))
                .summary("Free quota (scale down or remove idle workloads, right-size requests) or have the namespace's quota raised; rollouts need headroom for surge Pods.")
                .read_only(
                    "Show the quota's used and hard values",
                    format!("kubectl describe resourcequota {name} -n {ns}"),
                )
                .read_only(
                    "See which Pods hold the quota",
                    format!(
                        "kubectl get pods -n {ns} -o custom-columns=NAME:.metadata.name,CPU:.spec.containers[*].resources.requests.cpu,MEMORY:.spec.containers[*].resources.requests.memory"
                    ),
                );
            for (_, _, l) in &lines {
                draft = draft.evidence(l.clone());
            }
            if let Some(scopes) = quota
                .spec
                .as_ref()
                .and_then(|s| s.scopes.as_ref())
                .filter(|s| !s.is_empty())
            {
                draft = draft.evidence(format!("applies only to scopes {}", scopes.join(", ")));
            }
            if quota
                .spec
                .as_ref()
                .and_then(|s| s.scope_selector.as_ref())
                .is_some()
            {
                draft = draft.evidence("applies only to objects its scopeSelector matches");
            }
            out.push(draft);
        }
    }
}
