//! Controllers that cannot create their Pods: ReplicaSetCreateFailed, and its two
//! explained causes QuotaExceeded and AdmissionDenied. Also ReplicasUnavailable for
//! ReplicaSets not managed by a Deployment.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{LimitRange, Namespace, ResourceQuota};

use super::util::{not_ready_lines, pods_of, selector_arg};
use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::graph::webhooks::{self, WebhookEntry};
use crate::k8s::{duration, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::store::Existence;

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

fn after<'a>(text: &'a str, pat: &str) -> Option<&'a str> {
    text.find(pat).map(|i| &text[i + pat.len()..])
}

fn quoted(text: &str) -> Option<String> {
    let rest = text.strip_prefix('"')?;
    rest.split('"').next().map(str::to_owned)
}

fn pairs(list: &str) -> Vec<(String, String)> {
    list.split(',')
        .filter_map(|kv| kv.trim().split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Classifies a FailedCreate / ReplicaFailure message.
pub(crate) fn classify(msg: &str) -> CreateCause {
    if let Some(rest) = after(msg, "exceeded quota: ") {
        let mut quota = String::new();
        let (mut requested, mut used, mut limited) = (Vec::new(), Vec::new(), Vec::new());
        for (index, part) in rest.split(", ").enumerate() {
            if index == 0 {
                quota = part.trim().to_owned();
            } else if let Some(list) = part.strip_prefix("requested: ") {
                requested = pairs(list);
            } else if let Some(list) = part.strip_prefix("used: ") {
                used = pairs(list);
            } else if let Some(list) = part.strip_prefix("limited: ") {
                limited = pairs(list);
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
    if let Some(named) = webhooks::named_webhook(msg) {
        return if named.denied {
            CreateCause::WebhookDenied {
                webhook: named.name,
                detail: named.detail,
            }
        } else {
            CreateCause::WebhookUnreachable {
                webhook: named.name,
                detail: named.detail,
            }
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
    if msg.contains(" usage per Container is ")
        || msg.contains(" usage per Pod is ")
        || msg.contains(" max limit to request ratio per ")
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
fn split_violations(message: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for ch in message.chars() {
        match ch {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth <= 0 {
            let violation = cur.trim();
            if !violation.is_empty() {
                out.push(violation.to_owned());
            }
            cur.clear();
        } else {
            cur.push(ch);
        }
    }
    let violation = cur.trim();
    if !violation.is_empty() {
        out.push(violation.to_owned());
    }
    out
}

/// A controller that creates Pods, with how to tell whether it still misses some.
struct Creator<'a> {
    controller: ObjRef,
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
    for rs_ref in ctx.graph.subjects(Kind::ReplicaSet) {
        let Some(rs) = ctx.store.get_ref::<ReplicaSet>(rs_ref) else {
            continue;
        };
        let owner = rs
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        let label = match owner {
            Some(owner) => format!(
                "ReplicaSet {} ({} {}{})",
                rs_ref.name,
                owner.kind,
                owner.name,
                super::util::annotation(&rs.metadata, super::util::REVISION)
                    .map(|v| format!(", revision {v}"))
                    .unwrap_or_default()
            ),
            None => format!("ReplicaSet {}", rs_ref.name),
        };
        let desired = rs.spec.replicas.unwrap_or(1);
        let current = rs.status.as_ref().map_or(0, |s| s.replicas);
        let condition = rs
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| {
                cs.iter().find(|condition| {
                    condition.type_.as_deref() == Some("ReplicaFailure")
                        && condition.status.as_deref() == Some("True")
                })
            })
            .map(|condition| {
                (
                    condition.message.clone().unwrap_or_default(),
                    duration::time(condition.last_transition_time.as_ref()),
                )
            });
        creators.push(Creator {
            controller: rs_ref.clone(),
            label,
            short: current < desired || condition.is_some(),
            condition,
            events: failed_creates(ctx, rs_ref),
        });
        if owner.is_none() || rs_ref == &ctx.graph.target {
            replicaset_unavailable(ctx, rs_ref, rs, out);
        }
    }
    for sts_ref in ctx.graph.subjects(Kind::StatefulSet) {
        let Some(sts) = ctx.store.get_ref::<StatefulSet>(sts_ref) else {
            continue;
        };
        let desired = sts.spec.replicas.unwrap_or(1);
        let current = sts.status.as_ref().map_or(0, |status| status.replicas);
        creators.push(Creator {
            controller: sts_ref.clone(),
            label: format!("StatefulSet {}", sts_ref.name),
            short: current < desired,
            condition: None,
            events: failed_creates(ctx, sts_ref),
        });
    }
    for ds_ref in ctx.graph.subjects(Kind::DaemonSet) {
        let Some(ds) = ctx.store.get_ref::<DaemonSet>(ds_ref) else {
            continue;
        };
        let short = ds.status.as_ref().is_some_and(|status| {
            status.current_number_scheduled < status.desired_number_scheduled
                || status.number_ready < status.desired_number_scheduled
        });
        creators.push(Creator {
            controller: ds_ref.clone(),
            label: format!("DaemonSet {}", ds_ref.name),
            short,
            condition: None,
            events: failed_creates(ctx, ds_ref),
        });
    }
    for job_ref in ctx.graph.subjects(Kind::Job) {
        let Some(job) = ctx.store.get_ref::<Job>(job_ref) else {
            continue;
        };
        let complete = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Complete" && c.status == "True")
            });
        creators.push(Creator {
            controller: job_ref.clone(),
            label: format!("Job {}", job_ref.name),
            short: !complete,
            condition: None,
            events: failed_creates(ctx, job_ref),
        });
    }
    let creators: Vec<Creator> = creators
        .into_iter()
        .filter(|c| c.condition.is_some() || !c.events.is_empty())
        .collect();
    // Controllers refused by each quota (to decide whether the quota may join a scope).
    let mut quota_users: BTreeSet<(String, ObjRef)> = BTreeSet::new();
    for creator in &creators {
        if let CreateCause::Quota { quota, .. } | CreateCause::QuotaNeedsResources { quota, .. } =
            classify(&current_message(ctx, creator).0)
        {
            quota_users.insert((quota, creator.controller.clone()));
        }
    }
    for creator in &creators {
        report(ctx, creator, &quota_users, out);
    }
}

fn failed_creates<'a>(ctx: &RuleContext<'a>, controller: &ObjRef) -> Vec<&'a Arc<EventRecord>> {
    ctx.events(controller)
        .into_iter()
        .filter(|e| e.is_warning() && e.reason == "FailedCreate")
        .collect()
}

/// The message that describes the failure now: the condition's, else the newest event's.
fn current_message(ctx: &RuleContext, creator: &Creator) -> (String, bool) {
    let newest = creator.events.last();
    let stale = newest
        .and_then(|e| e.time)
        .is_some_and(|t| duration::seconds(t, ctx.now()) > STALE_SECS);
    match (&creator.condition, newest) {
        (Some((message, _)), _) if !message.is_empty() => (message.clone(), creator.short),
        (_, Some(event)) => (event.message.clone(), creator.short && !stale),
        (Some((message, _)), None) => (message.clone(), creator.short),
        (None, None) => (String::new(), false),
    }
}

fn report(
    ctx: &RuleContext,
    creator: &Creator,
    quota_users: &BTreeSet<(String, ObjRef)>,
    out: &mut Vec<Draft>,
) {
    let (msg, current) = current_message(ctx, creator);
    let cause = classify(&msg);
    let ns = creator.controller.ns();
    let kind = creator.controller.kind.name().to_ascii_lowercase();
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
    let mut draft = Draft::new(RuleId::ReplicaSetCreateFailed, creator.controller.clone()).summary(
        "The controller cannot create Pods, so none of the missing replicas can start. Fix the refusal quoted in the evidence; the controller retries on its own.",
    );
    draft = if current {
        draft.message(format!("{} cannot create Pods: {what}", creator.label))
    } else {
        draft.severity(Severity::Info).message(format!(
            "{} failed to create Pods earlier ({what}); it has all its Pods now or the failure is old",
            creator.label
        ))
    };
    if let Some((message, since)) = &creator.condition {
        draft = draft
            .evidence(format!(
                "condition ReplicaFailure=True reason FailedCreate{}: {message}",
                since.map(|t| format!(" since {t}")).unwrap_or_default()
            ))
            .seen(*since, None);
    }
    if let Some(newest) = creator.events.last() {
        draft = draft.event(newest);
    }
    for event in &creator.events {
        draft = draft.account(event).seen(event.first_time, event.time);
    }
    draft = draft
        .read_only(
            format!("Read the {kind}'s events"),
            format!(
                "kubectl describe {kind} {} -n {ns}",
                creator.controller.name
            ),
        )
        .edge(format!("{} -> Pod", creator.controller.kind.name()));
    out.push(draft);
    if !current {
        return;
    }
    let first = creator.events.first().and_then(|e| e.first_time.or(e.time));
    let last = creator.events.last().and_then(|e| e.time);
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
                .map(|(resource, amount)| {
                    let used_amount = used
                        .iter()
                        .find(|(x, _)| x == resource)
                        .map(|(_, value)| value.as_str());
                    let limit = limited
                        .iter()
                        .find(|(x, _)| x == resource)
                        .map(|(_, value)| value.as_str());
                    format!(
                        "{resource}: requested {amount}, used {}, limited {}",
                        used_amount.unwrap_or("?"),
                        limit.unwrap_or("?")
                    )
                })
                .collect();
            let mut cause_draft = quota_draft(ctx, creator, &quota, quota_users)
                .message(format!(
                    "{} cannot create Pods: exceeded quota {quota} ({})",
                    creator.label,
                    detail.join("; ")
                ))
                .seen(first, last);
            cause_draft = quota_evidence(ctx, cause_draft, ns, &quota, &names);
            cause_draft = cause_draft.step(
                format!(
                    "Lower the Pod template's {} or free quota by scaling down something else in {ns}",
                    names.join(", ")
                ),
                None,
                Risk::Reversible,
            );
            out.push(surge_hint(ctx, creator, cause_draft));
        }
        CreateCause::QuotaNeedsResources { quota, detail } => {
            let mut cause_draft = quota_draft(ctx, creator, &quota, quota_users)
                .message(format!(
                    "{} cannot create Pods: the ResourceQuota {quota} requires requests/limits the Pod template does not set ({detail})",
                    creator.label
                ))
                .seen(first, last);
            cause_draft = quota_evidence(ctx, cause_draft, ns, &quota, &[]);
            cause_draft = cause_draft.step(
                format!("Set the missing requests/limits in the Pod template ({detail}), or add a LimitRange with defaults"),
                None,
                Risk::Reversible,
            );
            out.push(cause_draft);
        }
        CreateCause::WebhookDenied { webhook, detail } => {
            let (mut cause_draft, entries) = configurations(
                ctx,
                Draft::new(RuleId::AdmissionDenied, creator.controller.clone()),
                &webhook,
            );
            let holder = holders(&entries);
            cause_draft = cause_draft
                .discriminator(webhook.clone())
                .message(format!(
                    "{} cannot create Pods: the admission webhook {webhook}{holder} denies them",
                    creator.label
                ))
                .evidence(format!("webhook {webhook}: {}", detail.trim()))
                .seen(first, last)
                .summary(
                    "A policy refuses the Pod template. Change the template to comply (the webhook's message says what it requires) or get a policy exception from its owner; do not disable the webhook to get through.",
                );
            cause_draft = match entries.first() {
                Some(entry) => cause_draft.read_only(
                    format!(
                        "Read the {} that holds this webhook",
                        entry.configuration.kind.name()
                    ),
                    format!(
                        "kubectl get {} {} -o yaml",
                        entry.configuration.kind.name().to_ascii_lowercase(),
                        entry.configuration.name
                    ),
                ),
                None => cause_draft.read_only(
                    "Find the webhook configuration that holds this webhook",
                    "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",
                ),
            };
            if webhook.contains("kyverno") {
                cause_draft = cause_draft.read_only(
                    "List the Kyverno policies and their reports for the namespace",
                    format!(
                        "kubectl get clusterpolicies,policies -A; kubectl get policyreports -n {ns}"
                    ),
                );
            } else if webhook.contains("gatekeeper") {
                cause_draft = cause_draft
                    .read_only("List the Gatekeeper constraints", "kubectl get constraints");
            }
            cause_draft = cause_draft.step(
                "Change the Pod template so that it satisfies the policy",
                None,
                Risk::Reversible,
            );
            out.push(cause_draft);
        }
        CreateCause::WebhookUnreachable { webhook, detail } => {
            out.push(webhook_unavailable(
                ctx, creator, &webhook, &detail, first, last,
            ));
        }
        CreateCause::LimitRange { detail } => {
            let mut cause_draft =
                Draft::new(RuleId::LimitRangeViolation, creator.controller.clone())
                    .message(format!(
                        "{} cannot create Pods: a LimitRange of namespace {ns} refuses them ({detail})",
                        creator.label
                    ))
                    .evidence(format!("LimitRanger: {detail}"))
                    .seen(first, last)
                    .summary(
                        "The namespace's LimitRange bounds what a container or Pod may request or limit. Bring the Pod template within those bounds (the message names the resource and the bound), or ask the namespace owner to change the LimitRange.",
                    )
                    .read_only(
                        "See the namespace's LimitRanges",
                        format!("kubectl describe limitrange -n {ns}"),
                    );
            for range in ctx.store.list::<LimitRange>(ns) {
                let Some(name) = range.metadata.name.as_deref() else {
                    continue;
                };
                let range_ref = ObjRef::namespaced(Kind::LimitRange, ns, name);
                cause_draft = cause_draft
                    .scope(range_ref)
                    .edge(format!("{} -> LimitRange", creator.controller.kind.name()));
                for limit in range.spec.iter().flat_map(|spec| &spec.limits) {
                    let parts: Vec<String> = [
                        ("max", &limit.max),
                        ("min", &limit.min),
                        ("maxLimitRequestRatio", &limit.max_limit_request_ratio),
                    ]
                    .into_iter()
                    .flat_map(|(what, values)| {
                        values.iter().flatten().map(move |(resource, amount)| {
                            format!("{what} {resource} {}", amount.0)
                        })
                    })
                    .collect();
                    if !parts.is_empty() {
                        cause_draft = cause_draft.evidence(format!(
                            "LimitRange {name} ({}): {}",
                            limit.type_,
                            parts.join(", ")
                        ));
                    }
                }
            }
            cause_draft = cause_draft.step(
                "Set the container's requests and limits within the LimitRange's bounds in the Pod template",
                None,
                Risk::Reversible,
            );
            out.push(cause_draft);
        }
        CreateCause::PodSecurity { level, violations } => {
            let mut cause_draft = Draft::new(RuleId::AdmissionDenied, creator.controller.clone())
                .discriminator("PodSecurity")
                .message(format!(
                    "{} cannot create Pods: they violate PodSecurity \"{level}\" enforced on namespace {ns}",
                    creator.label
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
                for (label, value) in nsobj.metadata.labels.iter().flatten() {
                    if label.starts_with("pod-security.kubernetes.io/") {
                        cause_draft =
                            cause_draft.evidence(format!("namespace {ns} label {label}={value}"));
                    }
                }
            }
            for violation in &violations {
                cause_draft = cause_draft.evidence(format!("violation: {violation}"));
            }
            cause_draft = cause_draft.step(
                format!(
                    "Set the securityContext fields the violations name in the Pod template ({} violation(s))",
                    violations.len()
                ),
                None,
                Risk::Reversible,
            );
            out.push(cause_draft);
        }
        _ => {}
    }
}

/// The webhook configurations holding `webhook`, as evidence (kind, name,
/// failurePolicy, backend, namespaceSelector), with them in the finding's scope; or
/// why none is shown (not in the input, or no configuration holds the name).
fn configurations(
    ctx: &RuleContext,
    mut draft: Draft,
    webhook: &str,
) -> (Draft, Vec<WebhookEntry>) {
    let entries = webhooks::webhooks_named(ctx.store, webhook);
    for entry in &entries {
        let mut line = format!(
            "{} {}: webhook {}, failurePolicy {}",
            entry.configuration.kind.name(),
            entry.configuration.name,
            entry.webhook,
            entry.failure_policy
        );
        match (&entry.service, &entry.url) {
            (Some(backend), _) => line.push_str(&format!(", service {}", backend.describe())),
            (None, Some(url)) => line.push_str(&format!(", url {url}")),
            (None, None) => {}
        }
        if let Some(selector) = &entry.namespace_selector {
            line.push_str(&format!(", namespaceSelector {selector}"));
        }
        if let Some(timeout) = entry.timeout_seconds {
            line.push_str(&format!(", timeoutSeconds {timeout}"));
        }
        draft = draft.evidence(line).scope(entry.configuration.clone());
    }
    if entries.is_empty() {
        let read = [
            Kind::ValidatingWebhookConfiguration,
            Kind::MutatingWebhookConfiguration,
        ]
        .into_iter()
        .any(|kind| ctx.store.kind_listed(kind, ""));
        draft = draft.evidence(if read {
            format!(
                "no ValidatingWebhookConfiguration or MutatingWebhookConfiguration of the input holds a webhook named {webhook} (renamed or removed since the refusal?)"
            )
        } else {
            format!(
                "webhook configurations: not in the input (unverified) — find the one that holds {webhook}"
            )
        });
    }
    (draft, entries)
}

/// ` (ValidatingWebhookConfiguration policy-validator)`, or nothing.
fn holders(entries: &[WebhookEntry]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let names: Vec<String> = entries
        .iter()
        .map(|e| format!("{} {}", e.configuration.kind.name(), e.configuration.name))
        .collect();
    format!(" ({})", names.join(", "))
}

/// AdmissionWebhookUnavailable: the webhook could not answer. Names its
/// configuration, failurePolicy and backend Service; the backend Service is in the
/// graph (creator -> configuration -> Service), so its own findings explain this one.
fn webhook_unavailable(
    ctx: &RuleContext,
    creator: &Creator,
    webhook: &str,
    detail: &str,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
) -> Draft {
    let why = webhook_failure(detail);
    let (mut draft, entries) = configurations(
        ctx,
        Draft::new(
            RuleId::AdmissionWebhookUnavailable,
            creator.controller.clone(),
        ),
        webhook,
    );
    let holder = holders(&entries);
    let fails_open = !entries.is_empty() && entries.iter().all(|e| !e.fails_closed());
    draft = draft
        .discriminator(webhook)
        .evidence(format!("webhook {webhook}: {detail}"))
        .seen(first, last)
        .summary(
            "The webhook could not answer — it did not say no: its backend is down, unreachable or presents a certificate the API server does not trust, and its failurePolicy is Fail, so every Pod creation it matches is refused. Fix the backend (its Service's and Pods' own findings say why it does not answer) or its certificate. Only as a temporary measure, with the webhook owner's consent, set its failurePolicy to Ignore or narrow its namespaceSelector; do not delete the webhook configuration to get through.",
        );
    draft = if fails_open {
        draft.severity(Severity::Warning).message(format!(
            "{} could not create Pods: the admission webhook {webhook}{holder} could not be called ({why}); its failurePolicy is Ignore now, so it can no longer block creates and the controller's next retry should get through",
            creator.label
        ))
        .evidence(format!(
            "failurePolicy Ignore: a failed call to {webhook} no longer refuses the request (the refusals predate the change)"
        ))
    } else {
        draft.message(format!(
            "{} cannot create Pods: the admission webhook {webhook}{holder} cannot be called ({why}) and its failurePolicy Fail rejects the request",
            creator.label
        ))
    };
    // the backend: the configuration's clientConfig.service, else the error's URL
    let backend = entries
        .iter()
        .find_map(|e| e.service.as_ref())
        .map(|b| (b.service.name.clone(), b.service.ns().to_owned()))
        .or_else(|| webhooks::service_in_message(detail));
    if let Some((svc, svc_ns)) = &backend {
        draft = backend_evidence(ctx, draft, svc, svc_ns)
            .edge(match entries.first() {
                Some(entry) => format!("{} -> Service", entry.configuration.kind.name()),
                None => format!("{} -> Service", creator.controller.kind.name()),
            })
            .read_only(
                format!("Check the webhook backend {svc_ns}/{svc}"),
                format!("kubectl get endpointslices -n {svc_ns} -l kubernetes.io/service-name={svc}; kubectl get pods -n {svc_ns}"),
            );
        if svc_ns == creator.controller.ns() {
            draft = draft.evidence(format!(
                "the webhook's backend runs in namespace {svc_ns}, which the webhook admits too: its own Pods cannot be recreated while it is down"
            ));
        }
    }
    match entries.first() {
        Some(entry) => {
            let kind = entry.configuration.kind.name().to_ascii_lowercase();
            let config = &entry.configuration.name;
            draft = draft.read_only(
                format!(
                    "Read the {} that holds the webhook",
                    entry.configuration.kind.name()
                ),
                format!("kubectl get {kind} {config} -o yaml"),
            );
            if !fails_open {
                draft = draft
                    .step(
                        match &backend {
                            Some((svc, svc_ns)) => format!(
                                "Fix the webhook's backend first: make the Pods behind Service {svc_ns}/{svc} ready (see that Service's findings)"
                            ),
                            None => "Fix the webhook's backend first (or its certificate)".to_owned(),
                        },
                        None,
                        Risk::Reversible,
                    )
                    .step(
                        format!(
                            "Temporary, with the webhook owner's consent: let Pods through unchecked while the backend is down by setting failurePolicy Ignore on {webhook} (revert once it answers again)"
                        ),
                        Some(format!(
                            "kubectl patch {kind} {config} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/webhooks/{}/failurePolicy\",\"value\":\"Ignore\"}}]'",
                            entry.index
                        )),
                        Risk::Disruptive,
                    )
                    .step(
                        format!(
                            "Or scope the webhook's namespaceSelector so that it does not apply to namespace {} (nor to the webhook's own namespace)",
                            creator.controller.ns()
                        ),
                        Some(format!("kubectl edit {kind} {config}")),
                        Risk::Disruptive,
                    );
            }
        }
        None => {
            draft = draft.read_only(
                "Find the webhook configuration, its failurePolicy and its Service",
                "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations -o custom-columns=NAME:.metadata.name,WEBHOOKS:.webhooks[*].name,POLICY:.webhooks[*].failurePolicy,SERVICE:.webhooks[*].clientConfig.service.name",
            );
        }
    }
    draft
}

/// Why a webhook could not be called, in a few words.
fn webhook_failure(detail: &str) -> &'static str {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("no endpoints available") {
        "its Service has no ready endpoints"
    } else if lower.contains("connection refused") {
        "connection refused"
    } else if lower.contains("x509") || lower.contains("tls:") {
        "the API server does not trust its certificate"
    } else if lower.contains("context deadline exceeded")
        || lower.contains("client.timeout exceeded")
        || lower.contains("i/o timeout")
    {
        "it did not answer in time"
    } else if lower.contains("no such host") {
        "its Service's name does not resolve"
    } else if lower.contains("invalid webhook response") {
        "it answered something that is not an AdmissionReview"
    } else {
        "the call failed"
    }
}

/// What the store says of a webhook's backend Service: missing, or its endpoints.
fn backend_evidence(ctx: &RuleContext, mut draft: Draft, svc: &str, svc_ns: &str) -> Draft {
    let service = ObjRef::namespaced(Kind::Service, svc_ns, svc);
    match ctx.existence(&service) {
        Existence::Missing => {
            draft = draft.evidence(format!(
                "webhook backend Service {svc_ns}/{svc} does not exist"
            ));
        }
        Existence::Unknown => {
            draft = draft.evidence(format!(
                "webhook backend Service {svc_ns}/{svc}: not in the input (unverified)"
            ));
        }
        Existence::Exists => {
            let (mut ready, mut total) = (0, 0);
            for slice in ctx.store.endpoint_slices(svc_ns, svc) {
                for endpoint in slice.endpoints.iter().flatten() {
                    total += 1;
                    if endpoint
                        .conditions
                        .as_ref()
                        .and_then(|c| c.ready)
                        .unwrap_or(true)
                    {
                        ready += 1;
                    }
                }
            }
            draft = draft.evidence(format!(
                "webhook backend Service {svc_ns}/{svc}: {ready} of {total} endpoint(s) ready"
            ));
        }
    }
    draft
}

fn quota_draft(
    ctx: &RuleContext,
    creator: &Creator,
    quota: &str,
    quota_users: &BTreeSet<(String, ObjRef)>,
) -> Draft {
    let quota_ref = ObjRef::namespaced(Kind::ResourceQuota, creator.controller.ns(), quota);
    let mut draft = Draft::new(RuleId::QuotaExceeded, creator.controller.clone())
        .discriminator(quota)
        .edge(format!("{} -> ResourceQuota", creator.controller.kind.name()))
        .summary("The namespace's ResourceQuota has no room for the new Pods. Make the Pods smaller, free quota, or ask the namespace owner to raise it.");
    // The quota joins the scope only when every controller of the graph that depends on
    // it is refused by it: otherwise unrelated workloads of the namespace would be
    // "explained" by this finding through their own quota edge.
    let only_refused = ctx.graph.dependents(&quota_ref).all(|edge| {
        quota_users.contains(&(quota.to_owned(), edge.from.clone()))
            || edge.from.kind == Kind::Namespace
    });
    if only_refused {
        draft = draft.scope(quota_ref);
    }
    draft
}

fn quota_evidence(
    ctx: &RuleContext,
    mut draft: Draft,
    ns: &str,
    quota: &str,
    names: &[String],
) -> Draft {
    if let Some(resource_quota) = ctx.store.get::<ResourceQuota>(ns, quota) {
        let st = resource_quota.status.as_ref();
        let hard = st.and_then(|s| s.hard.as_ref());
        let used = st.and_then(|s| s.used.as_ref());
        for (resource, hard_amount) in hard.into_iter().flatten() {
            if !names.is_empty() && !names.contains(resource) {
                continue;
            }
            let used_amount = used
                .and_then(|u| u.get(resource))
                .map(|amount| amount.0.as_str())
                .unwrap_or("0");
            draft = draft.evidence(format!(
                "ResourceQuota {quota}: {resource} used {used_amount} of {} hard",
                hard_amount.0
            ));
        }
    } else {
        draft = draft.evidence(format!("ResourceQuota {quota} is not in the snapshot"));
    }
    draft.read_only(
        "See the quota's used and hard amounts",
        format!("kubectl describe resourcequota {quota} -n {ns}"),
    )
}

/// A rolling update needs quota room for its surge Pods.
fn surge_hint(ctx: &RuleContext, creator: &Creator, draft: Draft) -> Draft {
    if creator.controller.kind != Kind::ReplicaSet {
        return draft;
    }
    let Some(rs) = ctx.store.get_ref::<ReplicaSet>(&creator.controller) else {
        return draft;
    };
    let Some(owner) = rs
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true) && o.kind == "Deployment")
    else {
        return draft;
    };
    let Some(dep) = ctx
        .store
        .get::<k8s_openapi::api::apps::v1::Deployment>(creator.controller.ns(), &owner.name)
    else {
        return draft;
    };
    let old_running = super::util::owned::<ReplicaSet>(ctx.store, dep.metadata.uid.as_deref())
        .into_iter()
        .any(|(r, o)| r != creator.controller && o.status.as_ref().is_some_and(|s| s.replicas > 0));
    let recreate = dep.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    if old_running && !recreate {
        draft.evidence(format!(
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
                creator.controller.ns()
            )),
            Risk::Reversible,
        )
    } else {
        draft
    }
}

/// ReplicasUnavailable for a ReplicaSet that no Deployment manages (or that is the target).
fn replicaset_unavailable(
    ctx: &RuleContext,
    rs_ref: &ObjRef,
    rs: &ReplicaSet,
    out: &mut Vec<Draft>,
) {
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
    let mut draft = Draft::new(RuleId::ReplicasUnavailable, rs_ref.clone())
        .message(format!(
            "ReplicaSet {} has {available} of {desired} replicas available{}",
            rs_ref.name,
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
                rs_ref.ns(),
                selector_arg(&rs.spec.selector)
            ),
        );
    if starting {
        draft = draft.severity(Severity::Info);
    }
    for line in not_ready_lines(&unready, 5) {
        draft = draft.evidence(line);
    }
    for (pr, _) in &unready {
        draft = draft.scope(pr.clone());
    }
    out.push(draft);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_quota_messages() {
        let message = r#"Error creating: pods "web-7d4f-x2" is forbidden: exceeded quota: compute-quota, requested: limits.memory=2Gi, used: limits.memory=7Gi, limited: limits.memory=8Gi"#;
        assert_eq!(
            classify(message),
            CreateCause::Quota {
                quota: "compute-quota".into(),
                requested: vec![("limits.memory".into(), "2Gi".into())],
                used: vec![("limits.memory".into(), "7Gi".into())],
                limited: vec![("limits.memory".into(), "8Gi".into())],
            }
        );
        let message = r#"pods "a" is forbidden: exceeded quota: q, requested: limits.cpu=1,pods=1, used: limits.cpu=3,pods=9, limited: limits.cpu=4,pods=10"#;
        match classify(message) {
            CreateCause::Quota { requested, .. } => assert_eq!(requested.len(), 2),
            c => panic!("{c:?}"),
        }
        let message = r#"Error creating: pods "a" is forbidden: failed quota: compute: must specify limits.cpu for: app; limits.memory for: app"#;
        assert!(
            matches!(classify(message), CreateCause::QuotaNeedsResources { quota, .. } if quota == "compute")
        );
    }

    #[test]
    fn classifies_admission_messages() {
        let message = r#"Error creating: admission webhook "validate.kyverno.svc-fail" denied the request: resource Pod/shop/web-x was blocked"#;
        assert!(
            matches!(classify(message), CreateCause::WebhookDenied { webhook, .. } if webhook == "validate.kyverno.svc-fail")
        );
        let message = r#"Error creating: pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)"#;
        match classify(message) {
            CreateCause::PodSecurity { level, violations } => {
                assert_eq!(level, "restricted:latest");
                assert_eq!(violations.len(), 3, "{violations:?}");
            }
            c => panic!("{c:?}"),
        }
        let message = r#"Error creating: Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=10s": dial tcp 10.96.12.4:443: connect: connection refused"#;
        match classify(message) {
            CreateCause::WebhookUnreachable { webhook, detail } => {
                assert_eq!(webhook, "validate.kyverno.svc-fail");
                assert_eq!(
                    webhooks::service_in_message(&detail),
                    Some(("kyverno-svc".into(), "kyverno".into()))
                );
            }
            c => panic!("{c:?}"),
        }
        let message = r#"Error creating: pods "x" is forbidden: error looking up service account shop/builder: serviceaccount "builder" not found"#;
        assert_eq!(
            classify(message),
            CreateCause::ServiceAccount {
                name: "builder".into()
            }
        );
        assert_eq!(classify("something else"), CreateCause::Other);
    }

    #[test]
    fn names_why_a_webhook_could_not_be_called() {
        let no_endpoints = r#"Internal error occurred: failed calling webhook "mutate.policy.example.invalid": failed to call webhook: Post "https://policy-webhook.policy.svc:443/mutate?timeout=10s": no endpoints available for service "policy/policy-webhook""#;
        assert_eq!(
            webhook_failure(no_endpoints),
            "its Service has no ready endpoints"
        );
        assert_eq!(
            webhooks::service_in_message(no_endpoints),
            Some(("policy-webhook".into(), "policy".into()))
        );
        let x509 = r#"failed calling webhook "v.example.invalid": failed to call webhook: Post "https://hook.system.svc:443/validate?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority"#;
        assert_eq!(
            webhook_failure(x509),
            "the API server does not trust its certificate"
        );
        let deadline = r#"failed calling webhook "v.example.invalid": failed to call webhook: Post "https://hook.system.svc:443/validate?timeout=10s": context deadline exceeded"#;
        assert_eq!(webhook_failure(deadline), "it did not answer in time");
    }

    #[test]
    fn classifies_limit_ranger_messages() {
        let message = r#"Error creating: pods "api-6f9c-abcde" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi"#;
        assert_eq!(
            classify(message),
            CreateCause::LimitRange {
                detail: "maximum memory usage per Container is 1Gi, but limit is 2Gi".into()
            }
        );
        let message = r#"Error creating: pods "api-6f9c-abcde" is forbidden: [minimum cpu usage per Container is 100m, but request is 50m, cpu max limit to request ratio per Container is 2, but provided ratio is 10.000000]"#;
        assert!(matches!(classify(message), CreateCause::LimitRange { .. }));
    }
}
