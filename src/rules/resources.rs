//! The `resources` rule set (docs/rules.md): resource hygiene of the graph's workloads
//! (requests and memory limits, one finding per template container) and quota
//! pressure in their namespaces.
//!
//! Requests and limits are judged on what the API server admits: a Pod of the
//! workload when one exists (a LimitRange may have injected defaults), else the
//! template with the namespace's LimitRange defaults applied.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Container, LimitRange, Pod, PodSpec, ResourceQuota};

use crate::api::Risk;
use crate::graph::{Existence, Role};
use crate::k8s::owners::top_owner;
use crate::k8s::quantity::{self, Quantity, Resources};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
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
            let d = quantity::resources(item.default.as_ref());
            let dr = quantity::resources(item.default_request.as_ref());
            // defaultRequest defaults to default (the limit) when unset
            for (k, v) in &d {
                lim.insert(k.clone(), *v);
                req.insert(k.clone(), *v);
            }
            for (k, v) in dr {
                req.insert(k, v);
            }
        }
    }
    (req, lim)
}

/// (requests, limits) of a container as admitted.
fn effective(c: &Container, defaults: Option<&(Resources, Resources)>) -> (Resources, Resources) {
    let res = c.resources.as_ref();
    let mut lim = quantity::resources(res.and_then(|r| r.limits.as_ref()));
    let mut req = quantity::container_requests(c);
    if let Some((dreq, dlim)) = defaults {
        for (k, v) in dlim {
            lim.entry(k.clone()).or_insert(*v);
        }
        for (k, v) in dreq {
            req.entry(k.clone()).or_insert(*v);
        }
    }
    (req, lim)
}

fn container_hygiene(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // template holder -> an admitted Pod of it (if any)
    let mut holders: BTreeMap<ObjRef, Option<ObjRef>> = BTreeMap::new();
    for kind in WORKLOAD_KINDS {
        for r in ctx.graph.subjects(kind) {
            let h = top_owner(ctx.store, r);
            let pod = (kind == Kind::Pod).then(|| r.clone());
            let e = holders.entry(h).or_insert(None);
            if e.is_none() {
                *e = pod;
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
        for c in long_running(template) {
            let admitted_c = admitted.and_then(|s| long_running(s).find(|x| x.name == c.name));
            let (req, lim) = match admitted_c {
                Some(ac) => effective(ac, None),
                None => effective(c, Some(&defaults)),
            };
            let missing: Vec<&str> = ["cpu", "memory"]
                .into_iter()
                .filter(|k| !req.contains_key(*k))
                .collect();
            let cmd_target = format!("{}{}", holder.kubectl(), holder.ns_flag());
            let settable = !matches!(holder.kind, Kind::Pod | Kind::Job | Kind::CronJob);
            if !missing.is_empty() {
                let best_effort = req.is_empty() && lim.is_empty();
                let mut d = Draft::new(RuleId::NoResourceRequests, holder.clone())
                    .discriminator(c.name.clone())
                    .message(format!(
                        "Container {} of {} has no {} request: the scheduler places it as if it used nothing{}",
                        c.name,
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
                        c.name,
                        if req.is_empty() { "none".to_owned() } else { quantity::describe(&req) },
                        if lim.is_empty() { "none".to_owned() } else { quantity::describe(&lim) }
                    ))
                    .summary("Set cpu and memory requests from observed usage (kubectl top, VPA recommendations) so the scheduler reserves room and the HPA can compute utilisation.")
                    .read_only(
                        "See what the containers really use",
                        format!("kubectl top pods{} --containers", holder.ns_flag()),
                    );
                if let Some(q) = &qos {
                    d = d.evidence(format!("qosClass {q}"));
                }
                if settable {
                    d = d.step(
                        "Set requests in the workload template",
                        Some(format!(
                            "kubectl set resources {cmd_target} -c {} --requests=cpu=<cpu>,memory=<memory>",
                            c.name
                        )),
                        Risk::Reversible,
                    );
                }
                out.push(d);
            }
            if !lim.contains_key("memory") {
                let mut d = Draft::new(RuleId::NoMemoryLimit, holder.clone())
                    .discriminator(c.name.clone())
                    .message(format!(
                        "Container {} of {} has no memory limit: a leak or spike can take the node's memory and get other Pods evicted",
                        c.name,
                        holder.short()
                    ))
                    .evidence(format!(
                        "container {}: memory request {}, no memory limit",
                        c.name,
                        req.get("memory").map_or_else(|| "none".to_owned(), |q| q.display_for("memory"))
                    ))
                    .summary("Set a memory limit (commonly equal to the request for predictable behaviour); memory is not compressible, unlike cpu.");
                if settable {
                    d = d.step(
                        "Set a memory limit in the workload template",
                        Some(format!(
                            "kubectl set resources {cmd_target} -c {} --limits=memory=<memory>",
                            c.name
                        )),
                        Risk::Reversible,
                    );
                }
                out.push(d);
            }
        }
    }
}

fn quota_pressure(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let mut namespaces: BTreeSet<String> = BTreeSet::new();
    for (r, n) in &ctx.graph.nodes {
        if n.exists != Existence::Exists || n.role == Role::Context {
            continue;
        }
        if WORKLOAD_KINDS.contains(&r.kind) || r.kind == Kind::ResourceQuota {
            namespaces.insert(r.ns().to_owned());
        }
        if r.kind == Kind::Namespace {
            namespaces.insert(r.name.clone());
        }
    }
    for ns in namespaces {
        for q in ctx.store.list::<ResourceQuota>(&ns) {
            let Some(name) = q.metadata.name.as_deref() else {
                continue;
            };
            let status = q.status.as_ref();
            let hard = quantity::resources(
                status
                    .and_then(|s| s.hard.as_ref())
                    .or_else(|| q.spec.as_ref().and_then(|s| s.hard.as_ref())),
            );
            let used = quantity::resources(status.and_then(|s| s.used.as_ref()));
            let mut lines: Vec<(f64, String, String)> = Vec::new();
            for (res, h) in &hard {
                // a hard limit of 0 forbids the resource on purpose: not pressure
                if !h.is_positive() {
                    continue;
                }
                let u = used.get(res).copied().unwrap_or(Quantity::ZERO);
                let Some(ratio) = u.ratio(*h) else { continue };
                if ratio >= QUOTA_PRESSURE {
                    lines.push((
                        ratio,
                        res.clone(),
                        format!(
                            "{res}: used {} of {} ({:.0}%){}",
                            u.display_for(res),
                            h.display_for(res),
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
            let r = ObjRef::namespaced(Kind::ResourceQuota, &ns, name);
            let mut d = Draft::new(RuleId::LimitRangeOrQuotaPressure, r.clone())
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
                d = d.evidence(l.clone());
            }
            if let Some(scopes) = q
                .spec
                .as_ref()
                .and_then(|s| s.scopes.as_ref())
                .filter(|s| !s.is_empty())
            {
                d = d.evidence(format!("applies only to scopes {}", scopes.join(", ")));
            }
            if q.spec
                .as_ref()
                .and_then(|s| s.scope_selector.as_ref())
                .is_some()
            {
                d = d.evidence("applies only to objects its scopeSelector matches");
            }
            out.push(d);
        }
    }
}
