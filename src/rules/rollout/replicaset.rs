//! Controllers that cannot create their Pods: ReplicaSetCreateFailed, and its two
//! explained causes QuotaExceeded and AdmissionDenied. Also ReplicasUnavailable for
//! ReplicaSets not managed by a Deployment.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, ResourceQuota};

use super::util::{not_ready_lines, pods_of, selector_arg};
use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::k8s::{duration, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

/// A FailedCreate older than this, with no ReplicaFailure condition, is history:
/// controllers retry failed creations at least every ~17 minutes.
const STALE_SECS: i64 = 3600;

/// Why the API server refused a Pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CreateCause {
    /// `exceeded quota: NAME, requested: ..., used: ..., limited: ...`
    Quota {
        quota: String,
        requested: Vec<(String, String)>,
        used: Vec<(String, String)>,
        limited: Vec<(String, String)>,
    },
    /// `failed quota: NAME: must specify limits.cpu for: app; ...`
    QuotaNeedsResources {
        quota: String,
        detail: String,
    },
    /// `admission webhook "NAME" denied the request: ...`
    WebhookDenied {
        webhook: String,
        detail: String,
    },
    /// `failed calling webhook "NAME": ...` (backend down, failurePolicy Fail)
    WebhookUnreachable {
        webhook: String,
        detail: String,
    },
    /// `violates PodSecurity "restricted:latest": ...`
    PodSecurity {
        level: String,
        violations: Vec<String>,
    },
    /// `error looking up service account NS/NAME: serviceaccount "NAME" not found`
    ServiceAccount {
        name: String,
    },
    /// LimitRanger: `maximum memory usage per Container is 1Gi, but limit is 2Gi`
    LimitRange {
        detail: String,
    },
    Other,
}

fn after<'a>(s: &'a str, pat: &str) -> Option<&'a str> {
    s.find(pat).map(|i| &s[i + pat.len()..])
}

fn quoted(s: &str) -> Option<String> {
    let rest = s.strip_prefix('"')?;
    rest.split('"').next().map(str::to_owned)
}

fn pairs(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Classifies a FailedCreate / ReplicaFailure message.
pub(crate) fn classify(msg: &str) -> CreateCause {
    if let Some(rest) = after(msg, "exceeded quota: ") {
        let mut quota = String::new();
        let (mut requested, mut used, mut limited) = (Vec::new(), Vec::new(), Vec::new());
        for (i, part) in rest.split(", ").enumerate() {
            if i == 0 {
                quota = part.trim().to_owned();
            } else if let Some(v) = part.strip_prefix("requested: ") {
                requested = pairs(v);
            } else if let Some(v) = part.strip_prefix("used: ") {
                used = pairs(v);
            } else if let Some(v) = part.strip_prefix("limited: ") {
                limited = pairs(v);
            }
        }
        return CreateCause::Quota {
            quota,
            requested,
            used,
            limited,
        };
    }
    if let Some(rest) = after(msg, "failed quota: ") {
        let (quota, detail) = rest.split_once(':').unwrap_or((rest, ""));
        return CreateCause::QuotaNeedsResources {
            quota: quota.trim().to_owned(),
            detail: detail.trim().to_owned(),
        };
    }
    if let Some(rest) = after(msg, "admission webhook ")
        && let Some(name) = quoted(rest)
        && rest.contains("denied the request")
    {
        let detail = after(rest, "denied the request:").unwrap_or("").trim();
        return CreateCause::WebhookDenied {
            webhook: name,
            detail: detail.to_owned(),
        };
    }
    if let Some(rest) = after(msg, "failed calling webhook ")
        && let Some(name) = quoted(rest)
    {
        let detail = rest[name.len() + 2..]
            .trim_start_matches(':')
            .trim()
            .to_owned();
        return CreateCause::WebhookUnreachable {
            webhook: name,
            detail,
        };
    }
    if let Some(rest) = after(msg, "violates PodSecurity ")
        && let Some(level) = quoted(rest)
    {
        let list = rest[level.len() + 2..].trim_start_matches(':').trim();
        return CreateCause::PodSecurity {
            level,
            violations: split_violations(list),
        };
    }
    if msg.contains("serviceaccount \"") && msg.contains("not found") {
        let name = after(msg, "serviceaccount ")
            .and_then(quoted)
            .unwrap_or_default();
        return CreateCause::ServiceAccount { name };
    }
    if (msg.contains(" usage per Container is ") || msg.contains(" usage per Pod is "))
        || msg.contains("LimitRange")
    {
        let detail = after(msg, "is forbidden: ")
            .unwrap_or(msg)
            .trim()
            .to_owned();
        return CreateCause::LimitRange { detail };
    }
    CreateCause::Other
}

/// `a (container "x" must ...), b (...)` → `["a (container \"x\" must ...)", "b (...)"]`:
/// commas inside parentheses and brackets do not split.
fn split_violations(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth <= 0 {
            let t = cur.trim();
            if !t.is_empty() {
                out.push(t.to_owned());
            }
            cur.clear();
        } else {
            cur.push(ch);
        }
    }
    let t = cur.trim();
    if !t.is_empty() {
        out.push(t.to_owned());
    }
    out
}

/// A controller that creates Pods, with how to tell whether it still misses some.
struct Creator<'a> {
    r: ObjRef,
    /// "ReplicaSet web-7d4f (Deployment web, revision 4)"
    label: String,
    /// Still fewer Pods than wanted (the failure is current).
    short: bool,
    /// The ReplicaFailure condition: (message, since).
    condition: Option<(String, Option<Timestamp>)>,
    events: Vec<&'a Arc<EventRecord>>,
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let mut creators: Vec<Creator> = Vec::new();
    for r in ctx.graph.subjects(Kind::ReplicaSet) {
        let Some(rs) = ctx.store.get_ref::<ReplicaSet>(r) else {
            continue;
        };
        let owner = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        let label = match owner {
            Some(o) => format!(
                "ReplicaSet {} ({} {}{})",
                r.name,
                o.kind,
                o.name,
                super::util::annotation(&rs.metadata, super::util::REVISION)
                    .map(|v| format!(", revision {v}"))
                    .unwrap_or_default()
            ),
            None => format!("ReplicaSet {}", r.name),
        };
        let desired = rs.spec.replicas.unwrap_or(1);
        let current = rs.status.as_ref().map_or(0, |s| s.replicas);
        let condition = rs
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter().find(|c| {
                    c.type_.as_deref() == Some("ReplicaFailure")
                        && c.status.as_deref() == Some("True")
                })
            })
            .map(|c| {
                (
                    c.message.clone().unwrap_or_default(),
                    duration::time(c.last_transition_time.as_ref()),
                )
            });
        creators.push(Creator {
            r: r.clone(),
            label,
            short: current < desired || condition.is_some(),
            condition,
            events: failed_creates(ctx, r),
        });
        if owner.is_none() || r == &ctx.graph.target {
            replicaset_unavailable(ctx, r, rs, out);
        }
    }
    for r in ctx.graph.subjects(Kind::StatefulSet) {
        let Some(s) = ctx.store.get_ref::<StatefulSet>(r) else {
            continue;
        };
        let desired = s.spec.replicas.unwrap_or(1);
        let current = s.status.as_ref().map_or(0, |s| s.replicas);
        creators.push(Creator {
            r: r.clone(),
            label: format!("StatefulSet {}", r.name),
            short: current < desired,
            condition: None,
            events: failed_creates(ctx, r),
        });
    }
    for r in ctx.graph.subjects(Kind::DaemonSet) {
        let Some(ds) = ctx.store.get_ref::<DaemonSet>(r) else {
            continue;
        };
        let short = ds.status.as_ref().is_some_and(|s| {
            s.current_number_scheduled < s.desired_number_scheduled
                || s.number_ready < s.desired_number_scheduled
        });
        creators.push(Creator {
            r: r.clone(),
            label: format!("DaemonSet {}", r.name),
            short,
            condition: None,
            events: failed_creates(ctx, r),
        });
    }
    for r in ctx.graph.subjects(Kind::Job) {
        let Some(j) = ctx.store.get_ref::<Job>(r) else {
            continue;
        };
        let complete = j
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Complete" && c.status == "True")
            });
        creators.push(Creator {
            r: r.clone(),
            label: format!("Job {}", r.name),
            short: !complete,
            condition: None,
            events: failed_creates(ctx, r),
        });
    }
    let creators: Vec<Creator> = creators
        .into_iter()
        .filter(|c| c.condition.is_some() || !c.events.is_empty())
        .collect();
    // Controllers refused by each quota (to decide whether the quota may join a scope).
    let mut quota_users: BTreeSet<(String, ObjRef)> = BTreeSet::new();
    for c in &creators {
        if let CreateCause::Quota { quota, .. } | CreateCause::QuotaNeedsResources { quota, .. } =
            classify(&current_message(ctx, c).0)
        {
            quota_users.insert((quota, c.r.clone()));
        }
    }
    for c in &creators {
        report(ctx, c, &quota_users, out);
    }
}

fn failed_creates<'a>(ctx: &RuleContext<'a>, r: &ObjRef) -> Vec<&'a Arc<EventRecord>> {
    ctx.events(r)
        .into_iter()
        .filter(|e| e.is_warning() && e.reason == "FailedCreate")
        .collect()
}

/// The message that describes the failure now: the condition's, else the newest event's.
fn current_message(ctx: &RuleContext, c: &Creator) -> (String, bool) {
    let newest = c.events.last();
    let stale = newest
        .and_then(|e| e.time)
        .is_some_and(|t| duration::seconds(t, ctx.now()) > STALE_SECS);
    match (&c.condition, newest) {
        (Some((m, _)), _) if !m.is_empty() => (m.clone(), c.short),
        (_, Some(e)) => (e.message.clone(), c.short && !stale),
        (Some((m, _)), None) => (m.clone(), c.short),
        (None, None) => (String::new(), false),
    }
}

fn report(
    ctx: &RuleContext,
    c: &Creator,
    quota_users: &BTreeSet<(String, ObjRef)>,
    out: &mut Vec<Draft>,
) {
    let (msg, current) = current_message(ctx, c);
    let cause = classify(&msg);
    let ns = c.r.ns();
    let kind = c.r.kind.name().to_ascii_lowercase();
    let what = match &cause {
        CreateCause::Quota { quota, .. } | CreateCause::QuotaNeedsResources { quota, .. } => {
            format!("the ResourceQuota {quota} refuses them")
        }
        CreateCause::WebhookDenied { webhook, .. } => {
            format!("the admission webhook {webhook} denies them")
        }
        CreateCause::WebhookUnreachable { webhook, .. } => format!(
            "the admission webhook {webhook} cannot be called and its failurePolicy rejects the request"
        ),
        CreateCause::PodSecurity { level, .. } => {
            format!("they violate the namespace's Pod Security level {level}")
        }
        CreateCause::ServiceAccount { name } => {
            format!("their ServiceAccount {name} does not exist")
        }
        CreateCause::LimitRange { .. } => "a LimitRange of the namespace refuses them".to_owned(),
        CreateCause::Other => "the API server refuses them".to_owned(),
    };
    let mut d = Draft::new(RuleId::ReplicaSetCreateFailed, c.r.clone()).summary(
        "The controller cannot create Pods, so none of the missing replicas can start. Fix the refusal quoted in the evidence; the controller retries on its own.",
    );
    d = if current {
        d.message(format!("{} cannot create Pods: {what}", c.label))
    } else {
        d.severity(Severity::Info).message(format!(
            "{} failed to create Pods earlier ({what}); it has all its Pods now or the failure is old",
            c.label
        ))
    };
    if let Some((m, since)) = &c.condition {
        d = d
            .evidence(format!(
                "condition ReplicaFailure=True reason FailedCreate{}: {m}",
                since.map(|t| format!(" since {t}")).unwrap_or_default()
            ))
            .seen(*since, None);
    }
    if let Some(e) = c.events.last() {
        d = d.event(e);
    }
    for e in &c.events {
        d = d.account(e).seen(e.first_time, e.time);
    }
    d = d
        .read_only(
            format!("Read the {kind}'s events"),
            format!("kubectl describe {kind} {} -n {ns}", c.r.name),
        )
        .edge(format!("{} -> Pod", c.r.kind.name()));
    out.push(d);
    if !current {
        return;
    }
    let first = c.events.first().and_then(|e| e.first_time.or(e.time));
    let last = c.events.last().and_then(|e| e.time);
    match cause {
        CreateCause::Quota {
            quota,
            requested,
            used,
            limited,
        } => {
            let names: Vec<String> = requested.iter().map(|(k, _)| k.clone()).collect();
            let detail: Vec<String> = requested
                .iter()
                .map(|(k, v)| {
                    let u = used.iter().find(|(x, _)| x == k).map(|(_, v)| v.as_str());
                    let l = limited
                        .iter()
                        .find(|(x, _)| x == k)
                        .map(|(_, v)| v.as_str());
                    format!(
                        "{k}: requested {v}, used {}, limited {}",
                        u.unwrap_or("?"),
                        l.unwrap_or("?")
                    )
                })
                .collect();
            let mut d = quota_draft(ctx, c, &quota, quota_users)
                .message(format!(
                    "{} cannot create Pods: exceeded quota {quota} ({})",
                    c.label,
                    detail.join("; ")
                ))
                .seen(first, last);
            d = quota_evidence(ctx, d, ns, &quota, &names);
            d = d.step(
                format!(
                    "Lower the Pod template's {} or free quota by scaling down something else in {ns}",
                    names.join(", ")
                ),
                None,
                Risk::Reversible,
            );
            out.push(surge_hint(ctx, c, d));
        }
        CreateCause::QuotaNeedsResources { quota, detail } => {
            let mut d = quota_draft(ctx, c, &quota, quota_users)
                .message(format!(
                    "{} cannot create Pods: the ResourceQuota {quota} requires requests/limits the Pod template does not set ({detail})",
                    c.label
                ))
                .seen(first, last);
            d = quota_evidence(ctx, d, ns, &quota, &[]);
            d = d.step(
                format!("Set the missing requests/limits in the Pod template ({detail}), or add a LimitRange with defaults"),
                None,
                Risk::Reversible,
            );
            out.push(d);
        }
        CreateCause::WebhookDenied { webhook, detail } => {
            let mut d = Draft::new(RuleId::AdmissionDenied, c.r.clone())
                .discriminator(webhook.clone())
                .message(format!(
                    "{} cannot create Pods: the admission webhook {webhook} denies them",
                    c.label
                ))
                .evidence(format!("webhook {webhook}: {}", detail.trim()))
                .seen(first, last)
                .summary(
                    "A policy refuses the Pod template. Change the template to comply (the webhook's message says what it requires) or get a policy exception from its owner; do not disable the webhook to get through.",
                )
                .read_only(
                    "Find the webhook configuration that holds this webhook",
                    "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",
                );
            if webhook.contains("kyverno") {
                d = d.read_only(
                    "List the Kyverno policies and their reports for the namespace",
                    format!(
                        "kubectl get clusterpolicies,policies -A; kubectl get policyreports -n {ns}"
                    ),
                );
            } else if webhook.contains("gatekeeper") {
                d = d.read_only("List the Gatekeeper constraints", "kubectl get constraints");
            }
            d = d.step(
                "Change the Pod template so that it satisfies the policy",
                None,
                Risk::Reversible,
            );
            out.push(d);
        }
        CreateCause::WebhookUnreachable { webhook, detail } => {
            let mut d = Draft::new(RuleId::AdmissionDenied, c.r.clone())
                .discriminator(webhook.clone())
                .message(format!(
                    "{} cannot create Pods: the admission webhook {webhook} is unreachable and fails closed",
                    c.label
                ))
                .evidence(format!("webhook {webhook}: {detail}"))
                .seen(first, last)
                .summary(
                    "The webhook's backend is down and its failurePolicy is Fail: every matching Pod creation in the cluster is refused. Restore the webhook's Service and Pods.",
                )
                .read_only(
                    "Find the webhook configuration and its Service",
                    "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",
                );
            if let Some((svc, svc_ns)) = webhook_service(&detail) {
                d = d.read_only(
                    format!("Check the webhook backend {svc_ns}/{svc}"),
                    format!("kubectl get endpointslices,pods -n {svc_ns} -l kubernetes.io/service-name={svc}; kubectl get pods -n {svc_ns}"),
                );
            }
            out.push(d);
        }
        CreateCause::PodSecurity { level, violations } => {
            let mut d = Draft::new(RuleId::AdmissionDenied, c.r.clone())
                .discriminator("PodSecurity")
                .message(format!(
                    "{} cannot create Pods: they violate PodSecurity \"{level}\" enforced on namespace {ns}",
                    c.label
                ))
                .seen(first, last)
                .summary(
                    "Make the Pod template comply with the namespace's Pod Security level. Lowering the namespace's enforce label weakens isolation for every workload in it and needs the platform owner's approval.",
                )
                .read_only(
                    "See the namespace's Pod Security labels",
                    format!("kubectl get namespace {ns} --show-labels"),
                );
            if let Some(nsobj) = ctx.store.get::<Namespace>("", ns) {
                for (k, v) in nsobj.metadata.labels.iter().flatten() {
                    if k.starts_with("pod-security.kubernetes.io/") {
                        d = d.evidence(format!("namespace {ns} label {k}={v}"));
                    }
                }
            }
            for v in &violations {
                d = d.evidence(format!("violation: {v}"));
            }
            d = d.step(
                format!(
                    "Set the securityContext fields the violations name in the Pod template ({} violation(s))",
                    violations.len()
                ),
                None,
                Risk::Reversible,
            );
            out.push(d);
        }
        _ => {}
    }
}

fn webhook_service(detail: &str) -> Option<(String, String)> {
    let url = after(detail, "https://")?;
    let host = url.split(['/', ':', '"']).next()?;
    let mut parts = host.split('.');
    let svc = parts.next()?;
    let ns = parts.next()?;
    if parts.next() == Some("svc") {
        Some((svc.to_owned(), ns.to_owned()))
    } else {
        None
    }
}

fn quota_draft(
    ctx: &RuleContext,
    c: &Creator,
    quota: &str,
    quota_users: &BTreeSet<(String, ObjRef)>,
) -> Draft {
    let q = ObjRef::namespaced(Kind::ResourceQuota, c.r.ns(), quota);
    let mut d = Draft::new(RuleId::QuotaExceeded, c.r.clone())
        .discriminator(quota)
        .edge(format!("{} -> ResourceQuota", c.r.kind.name()))
        .summary("The namespace's ResourceQuota has no room for the new Pods. Make the Pods smaller, free quota, or ask the namespace owner to raise it.");
    // The quota joins the scope only when every controller of the graph that depends on
    // it is refused by it: otherwise unrelated workloads of the namespace would be
    // "explained" by this finding through their own quota edge.
    let only_refused = ctx.graph.dependents(&q).all(|e| {
        quota_users.contains(&(quota.to_owned(), e.from.clone())) || e.from.kind == Kind::Namespace
    });
    if only_refused {
        d = d.scope(q);
    }
    d
}

fn quota_evidence(
    ctx: &RuleContext,
    mut d: Draft,
    ns: &str,
    quota: &str,
    names: &[String],
) -> Draft {
    if let Some(q) = ctx.store.get::<ResourceQuota>(ns, quota) {
        let st = q.status.as_ref();
        let hard = st.and_then(|s| s.hard.as_ref());
        let used = st.and_then(|s| s.used.as_ref());
        for (k, h) in hard.into_iter().flatten() {
            if !names.is_empty() && !names.contains(k) {
                continue;
            }
            let u = used
                .and_then(|u| u.get(k))
                .map(|q| q.0.as_str())
                .unwrap_or("0");
            d = d.evidence(format!(
                "ResourceQuota {quota}: {k} used {u} of {} hard",
                h.0
            ));
        }
    } else {
        d = d.evidence(format!("ResourceQuota {quota} is not in the snapshot"));
    }
    d.read_only(
        "See the quota's used and hard amounts",
        format!("kubectl describe resourcequota {quota} -n {ns}"),
    )
}

/// A rolling update needs quota room for its surge Pods.
fn surge_hint(ctx: &RuleContext, c: &Creator, d: Draft) -> Draft {
    if c.r.kind != Kind::ReplicaSet {
        return d;
    }
    let Some(rs) = ctx.store.get_ref::<ReplicaSet>(&c.r) else {
        return d;
    };
    let Some(owner) = rs
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "Deployment")
    else {
        return d;
    };
    let Some(dep) = ctx
        .store
        .get::<k8s_openapi::api::apps::v1::Deployment>(c.r.ns(), &owner.name)
    else {
        return d;
    };
    let old_running = super::util::owned::<ReplicaSet>(ctx.store, dep.metadata.uid.as_deref())
        .into_iter()
        .any(|(r, o)| r != c.r && o.status.as_ref().is_some_and(|s| s.replicas > 0));
    let recreate = dep.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    if old_running && !recreate {
        d.evidence(format!(
            "Deployment {} is rolling out while the old revision still holds its quota: the surge Pods of a rolling update need room in the quota",
            owner.name
        ))
        .step(
            format!(
                "Let the update replace Pods instead of adding them: set maxSurge to 0 and maxUnavailable to at least 1 on Deployment {}",
                owner.name
            ),
            Some(format!(
                "kubectl patch deployment {} -n {} -p '{{\"spec\":{{\"strategy\":{{\"rollingUpdate\":{{\"maxSurge\":0,\"maxUnavailable\":1}}}}}}}}'",
                owner.name,
                c.r.ns()
            )),
            Risk::Reversible,
        )
    } else {
        d
    }
}

/// ReplicasUnavailable for a ReplicaSet that no Deployment manages (or that is the target).
fn replicaset_unavailable(ctx: &RuleContext, r: &ObjRef, rs: &ReplicaSet, out: &mut Vec<Draft>) {
    let desired = rs.spec.replicas.unwrap_or(1);
    let st = rs.status.as_ref();
    let available = st.and_then(|s| s.available_replicas).unwrap_or(0);
    if desired == 0 || available >= desired {
        return;
    }
    let pods = pods_of(ctx.store, rs.metadata.uid.as_deref());
    let unready: Vec<_> = pods
        .iter()
        .filter(|(_, p)| pod::is_active(p) && !pod::is_ready(p))
        .cloned()
        .collect();
    let now = ctx.now();
    let starting = !unready.is_empty()
        && unready.iter().all(|(_, p)| pod::is_starting(p, now))
        && unready.len() as i32 >= desired - available;
    let mut d = Draft::new(RuleId::ReplicasUnavailable, r.clone())
        .message(format!(
            "ReplicaSet {} has {available} of {desired} replicas available{}",
            r.name,
            if starting {
                ": the missing Pods are still starting"
            } else {
                ""
            }
        ))
        .evidence(format!(
            "spec.replicas {desired}; status: {} current, {} ready, {available} available",
            st.map_or(0, |s| s.replicas),
            st.and_then(|s| s.ready_replicas).unwrap_or(0)
        ))
        .summary("The Pods' own findings say why they are not available.")
        .read_only(
            "List the ReplicaSet's Pods",
            format!(
                "kubectl get pods -n {} -l {} -o wide",
                r.ns(),
                selector_arg(&rs.spec.selector)
            ),
        );
    if starting {
        d = d.severity(Severity::Info);
    }
    for l in not_ready_lines(&unready, 5) {
        d = d.evidence(l);
    }
    for (pr, _) in &unready {
        d = d.scope(pr.clone());
    }
    out.push(d);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_quota_messages() {
        let m = r#"Error creating: pods "web-7d4f-x2" is forbidden: exceeded quota: compute-quota, requested: limits.memory=2Gi, used: limits.memory=7Gi, limited: limits.memory=8Gi"#;
        assert_eq!(
            classify(m),
            CreateCause::Quota {
                quota: "compute-quota".into(),
                requested: vec![("limits.memory".into(), "2Gi".into())],
                used: vec![("limits.memory".into(), "7Gi".into())],
                limited: vec![("limits.memory".into(), "8Gi".into())],
            }
        );
        let m = r#"pods "a" is forbidden: exceeded quota: q, requested: limits.cpu=1,pods=1, used: limits.cpu=3,pods=9, limited: limits.cpu=4,pods=10"#;
        match classify(m) {
            CreateCause::Quota { requested, .. } => assert_eq!(requested.len(), 2),
            c => panic!("{c:?}"),
        }
        let m = r#"Error creating: pods "a" is forbidden: failed quota: compute: must specify limits.cpu for: app; limits.memory for: app"#;
        assert!(
            matches!(classify(m), CreateCause::QuotaNeedsResources { quota, .. } if quota == "compute")
        );
    }

    #[test]
    fn classifies_admission_messages() {
        let m = r#"Error creating: admission webhook "validate.kyverno.svc-fail" denied the request: resource Pod/shop/web-x was blocked"#;
        assert!(
            matches!(classify(m), CreateCause::WebhookDenied { webhook, .. } if webhook == "validate.kyverno.svc-fail")
        );
        let m = r#"Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)"#;
        match classify(m) {
            CreateCause::PodSecurity { level, violations } => {
                assert_eq!(level, "restricted:latest");
                assert_eq!(violations.len(), 3, "{violations:?}");
            }
            c => panic!("{c:?}"),
        }
        let m = r#"Error creating: Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=10s": dial tcp 10.96.12.4:443: connect: connection refused"#;
        match classify(m) {
            CreateCause::WebhookUnreachable { webhook, detail } => {
                assert_eq!(webhook, "validate.kyverno.svc-fail");
                assert_eq!(
                    webhook_service(&detail),
                    Some(("kyverno-svc".into(), "kyverno".into()))
                );
            }
            c => panic!("{c:?}"),
        }
        let m = r#"Error creating: pods "x" is forbidden: error looking up service account shop/builder: serviceaccount "builder" not found"#;
        assert_eq!(
            classify(m),
            CreateCause::ServiceAccount {
                name: "builder".into()
            }
        );
        assert_eq!(classify("something else"), CreateCause::Other);
    }
}
