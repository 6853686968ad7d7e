//! The `scheduling` rule set (docs/rules.md): why a Pod has no node.
//!
//! Two sources of truth, used together:
//!
//! - what the scheduler said: the newest FailedScheduling event of the Pod, else the
//!   message of its `PodScheduled=False` condition (events expire after an hour, the
//!   condition does not), read by [`message::parse`] into per-node reasons;
//! - what the objects prove without any event ([`placement`]): requests larger than
//!   any node, a node selector no node satisfies, taints on every node that would
//!   otherwise fit. These name a Pod that can never be placed even before the
//!   scheduler speaks (or when it is not running).
//!
//! A Pod that was unschedulable and is now bound to a node is history: reported at
//! most as Info, with an empty scope so that it explains nothing. Findings are grouped
//! per controller (the ReplicaSet, StatefulSet, ... owning the Pods).

pub mod message;
pub mod placement;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{
    PersistentVolume, PersistentVolumeClaim, Pod, PodCondition, PodSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::k8s::quantity::{self, Quantity};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::store::Store;

use message::{AffinityKind, PrintedTaint, Reason, SchedulerMessage};
use placement::{Nodes, Verdict};

/// Pods Pending this long with nobody scheduling them point at the scheduler.
pub const SCHEDULER_SILENCE_SECS: i64 = 5 * 60;

pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // The cluster's Nodes are summarised only when some Pod waits for one: a graph of
    // scheduled Pods costs nothing proportional to the cluster's size.
    let unscheduled = ctx.graph.subjects(Kind::Pod).any(|r| {
        ctx.store
            .get_ref::<Pod>(r)
            .is_some_and(|p| !is_scheduled(p))
    });
    let nodes = if unscheduled {
        Nodes::new(ctx.store)
    } else {
        Nodes::none(ctx.store)
    };
    let mut hits: Vec<Hit> = Vec::new();
    let mut silent: BTreeMap<String, Vec<(ObjRef, ObjRef, i64)>> = BTreeMap::new();
    for r in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(r) else {
            continue;
        };
        analyze_pod(ctx, &nodes, r, pod, &mut hits, &mut silent);
    }
    emit(hits, out);
    scheduler_not_running(ctx, silent, out);
}

// ---- shared helpers (also used by the node and resources rule sets) ---------------

pub use crate::k8s::owners::{controller_of, top_owner};

/// A condition of a Pod by type.
pub fn pod_condition<'p>(pod: &'p Pod, type_: &str) -> Option<&'p PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// What the scheduler last said about a Pod that is not scheduled: the newest
/// FailedScheduling event, else the PodScheduled=False condition's message.
pub fn scheduler_says(ctx: &RuleContext, r: &ObjRef, pod: &Pod) -> Option<SchedulerMessage> {
    let events = ctx.events(r);
    let text = events
        .iter()
        .rev()
        .find(|e| e.reason == "FailedScheduling")
        .map(|e| e.message.clone())
        .or_else(|| {
            pod_condition(pod, "PodScheduled")
                .filter(|c| c.status == "False")
                .and_then(|c| c.message.clone())
        })?;
    Some(message::parse(&text))
}

/// Whether a Pod is bound to a node (or the scheduler says it is).
pub fn is_scheduled(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty())
        || pod_condition(pod, "PodScheduled").is_some_and(|c| c.status == "True")
}

/// `5m`, `2h10m`, `3d4h`.
pub fn human_age(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86400 {
        match (s % 3600) / 60 {
            0 => format!("{}h", s / 3600),
            m => format!("{}h{m}m", s / 3600),
        }
    } else {
        match (s % 86400) / 3600 {
            0 => format!("{}d", s / 86400),
            h => format!("{}d{h}h", s / 86400),
        }
    }
}

fn secs_between(from: Timestamp, to: Timestamp) -> i64 {
    to.as_second() - from.as_second()
}

// ---- per-Pod analysis -------------------------------------------------------------

/// One rule firing on one Pod, before grouping per controller.
struct Hit {
    rule: RuleId,
    /// The controller of the Pod, else the Pod: the finding's object.
    group: ObjRef,
    pod: ObjRef,
    /// What is wrong, after the subject ("cannot be scheduled: ...").
    what: String,
    evidence: Vec<String>,
    /// Events the finding quotes (the newest) or accounts for.
    events: Vec<Arc<EventRecord>>,
    scope: Vec<ObjRef>,
    severity: Option<Severity>,
    /// A healed problem: explains nothing.
    healed: bool,
    summary: String,
    steps: Vec<(String, Option<String>, Risk)>,
}

impl Hit {
    fn new(rule: RuleId, group: &ObjRef, pod: &ObjRef, what: impl Into<String>) -> Hit {
        Hit {
            rule,
            group: group.clone(),
            pod: pod.clone(),
            what: what.into(),
            evidence: Vec::new(),
            events: Vec::new(),
            scope: Vec::new(),
            severity: None,
            healed: false,
            summary: String::new(),
            steps: Vec::new(),
        }
    }

    fn ev(mut self, e: impl Into<String>) -> Hit {
        let e = e.into();
        if !self.evidence.contains(&e) {
            self.evidence.push(e);
        }
        self
    }

    fn evs(mut self, es: impl IntoIterator<Item = String>) -> Hit {
        for e in es {
            self = self.ev(e);
        }
        self
    }

    fn step(mut self, d: impl Into<String>, cmd: Option<String>, risk: Risk) -> Hit {
        self.steps.push((d.into(), cmd, risk));
        self
    }

    fn summary(mut self, s: impl Into<String>) -> Hit {
        self.summary = s.into();
        self
    }
}

/// Facts about one unscheduled Pod that every rule's hit reads.
struct PodFacts<'a> {
    r: &'a ObjRef,
    spec: &'a PodSpec,
    group: ObjRef,
    /// The template owner, for commands (`deployment/web`).
    owner: ObjRef,
    failed: Vec<Arc<EventRecord>>,
}

fn analyze_pod(
    ctx: &RuleContext,
    nodes: &Nodes,
    r: &ObjRef,
    pod: &Pod,
    hits: &mut Vec<Hit>,
    silent: &mut BTreeMap<String, Vec<(ObjRef, ObjRef, i64)>>,
) {
    let Some(spec) = pod.spec.as_ref() else {
        return;
    };
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if matches!(phase, Some("Succeeded" | "Failed")) || pod.metadata.deletion_timestamp.is_some() {
        return;
    }
    let events = ctx.events(r);
    let failed: Vec<Arc<EventRecord>> = events
        .iter()
        .filter(|e| e.reason == "FailedScheduling")
        .map(|e| (*e).clone())
        .collect();
    let group = controller_of(ctx.store, &pod.metadata).unwrap_or_else(|| r.clone());
    let owner = top_owner(ctx.store, r);
    let cond = pod_condition(pod, "PodScheduled");

    if is_scheduled(pod) {
        if let Some(last) = failed.last() {
            hits.push(healed(r, pod, &group, &failed, last, &events));
        }
        return;
    }
    let facts = PodFacts {
        r,
        spec,
        group: group.clone(),
        owner,
        failed: failed.clone(),
    };
    let gated = cond.is_some_and(|c| c.reason.as_deref() == Some("SchedulingGated"))
        || spec
            .scheduling_gates
            .as_ref()
            .is_some_and(|g| !g.is_empty());
    if gated {
        hits.push(scheduling_gated(&facts, cond));
        return;
    }

    // nobody has looked at the Pod: the scheduler may not be running
    let scheduler_spoke = cond.is_some()
        || events
            .iter()
            .any(|e| matches!(e.reason.as_str(), "FailedScheduling" | "Scheduled"));
    if !scheduler_spoke && let Some(created) = pod.metadata.creation_timestamp.as_ref() {
        let age = secs_between(created.0, ctx.now());
        if age > SCHEDULER_SILENCE_SECS {
            let name = spec
                .scheduler_name
                .clone()
                .unwrap_or_else(|| "default-scheduler".to_owned());
            silent
                .entry(name)
                .or_default()
                .push((r.clone(), group.clone(), age));
        }
    }

    let said = scheduler_says(ctx, r, pod);
    let said_text = failed.last().map(|e| e.message.clone()).or_else(|| {
        cond.filter(|c| c.status == "False")
            .and_then(|c| c.message.clone())
    });
    // a cluster autoscaler adding a node makes the event-less verdicts premature
    let scale_up = events
        .iter()
        .rev()
        .find(|e| matches!(e.reason.as_str(), "TriggeredScaleUp" | "Nominated"));
    let no_scale_up = events
        .iter()
        .rev()
        .find(|e| e.reason == "NotTriggerScaleUp");

    let mut pod_hits: Vec<Hit> = Vec::new();
    if scale_up.is_none() {
        for v in placement::check(spec, nodes) {
            pod_hits.push(verdict_hit(nodes, &facts, v));
        }
    }
    pod_hits.extend(claim_hits(ctx, &facts, said.as_ref()));
    if let Some(m) = &said {
        message_hits(
            ctx,
            nodes,
            &facts,
            m,
            said_text.as_deref().unwrap_or(""),
            &mut pod_hits,
        );
    }
    // common evidence and the events
    for h in &mut pod_hits {
        if let Some(e) = scale_up {
            h.evidence.push(format!(
                "the cluster autoscaler is adding capacity: {}",
                e.describe()
            ));
        }
        if let Some(e) = no_scale_up {
            h.evidence.push(format!(
                "the cluster autoscaler cannot help: {}",
                e.describe()
            ));
            h.events.push((*e).clone());
        }
        if let Some(n) = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|n| !n.is_empty())
        {
            h.evidence.push(format!(
                "nominated node {n}: the scheduler is preempting lower-priority Pods there"
            ));
        }
        if failed.is_empty()
            && let Some(t) = &said_text
        {
            h.evidence
                .push(format!("condition PodScheduled=False (Unschedulable): {t}"));
        }
    }
    hits.extend(pod_hits);
}

fn healed(
    r: &ObjRef,
    pod: &Pod,
    group: &ObjRef,
    failed: &[Arc<EventRecord>],
    last: &Arc<EventRecord>,
    events: &[&Arc<EventRecord>],
) -> Hit {
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let scheduled = events.iter().rev().find(|e| e.reason == "Scheduled");
    let waited = match (
        failed.first().and_then(|e| e.first_time.or(e.time)),
        scheduled.and_then(|e| e.time).or_else(|| {
            pod_condition(pod, "PodScheduled")
                .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
        }),
    ) {
        (Some(a), Some(b)) if b >= a => format!(" for {}", human_age(secs_between(a, b))),
        _ => String::new(),
    };
    let mut h = Hit::new(
        RuleId::FailedScheduling,
        group,
        r,
        format!("could not be scheduled{waited}, then was scheduled on {node}: healed"),
    )
    .ev(format!("last FailedScheduling: {}", last.message.trim()))
    .summary(
        "Nothing to do now; if Pods often wait for a node, review requests and cluster capacity.",
    )
    .step(
        "Review the Pod's scheduling history",
        Some(format!(
            "kubectl events{} --for pod/{}",
            r.ns_flag(),
            r.name
        )),
        Risk::ReadOnly,
    );
    if let Some(s) = scheduled {
        h = h.ev(format!("event {}", s.describe()));
    }
    h.severity = Some(Severity::Info);
    h.healed = true;
    h.events = failed.to_vec();
    h
}

fn scheduling_gated(f: &PodFacts, cond: Option<&PodCondition>) -> Hit {
    let gates: Vec<String> = f
        .spec
        .scheduling_gates
        .iter()
        .flatten()
        .map(|g| g.name.clone())
        .collect();
    let mut h = Hit::new(
        RuleId::SchedulingGated,
        &f.group,
        f.r,
        format!(
            "is held back by scheduling gate(s) {}: it is not scheduled until whoever added them removes them",
            if gates.is_empty() {
                "(none listed)".to_owned()
            } else {
                gates.join(", ")
            }
        ),
    )
    .summary("Find the controller that owns the gates (a queueing system such as Kueue, a quota manager) and why it holds the Pod.")
    .step(
        "Show the Pod's scheduling gates",
        Some(format!(
            "kubectl get pod {}{} -o jsonpath='{{.spec.schedulingGates}}'",
            f.r.name,
            f.r.ns_flag()
        )),
        Risk::ReadOnly,
    );
    if let Some(c) = cond {
        h = h.ev(format!(
            "condition PodScheduled={} reason {}{}",
            c.status,
            c.reason.as_deref().unwrap_or(""),
            c.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ));
    }
    h.evs(gates.iter().map(|g| format!("schedulingGates: {g}")))
}

fn requests_line(spec: &PodSpec) -> String {
    let req = quantity::pod_requests(spec);
    if req.is_empty() {
        "the Pod requests nothing".to_owned()
    } else {
        format!(
            "Pod requests {} (containers summed, init containers maxed, overhead added)",
            quantity::describe(&req)
        )
    }
}

fn describe_cmd(f: &PodFacts) -> (String, Option<String>, Risk) {
    (
        "Read the Pod's scheduling events".to_owned(),
        Some(format!(
            "kubectl describe pod {}{}",
            f.r.name,
            f.r.ns_flag()
        )),
        Risk::ReadOnly,
    )
}

fn set_resources_cmd(f: &PodFacts, resource: &str) -> Option<String> {
    matches!(
        f.owner.kind,
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet
    )
    .then(|| {
        format!(
            "kubectl set resources {}{} --requests={resource}=<value>",
            f.owner.kubectl(),
            f.owner.ns_flag()
        )
    })
}

fn verdict_hit(nodes: &Nodes, f: &PodFacts, v: Verdict) -> Hit {
    match v {
        Verdict::ExceedsCapacity { excess, restricted } => {
            let parts: Vec<String> = excess
                .iter()
                .map(|x| match &x.largest {
                    Some((q, n)) => format!(
                        "{} {} (largest allocatable: {} on {n})",
                        x.resource,
                        x.requested.display_for(&x.resource),
                        q.display_for(&x.resource)
                    ),
                    None => format!(
                        "{} {} (no node offers {})",
                        x.resource,
                        x.requested.display_for(&x.resource),
                        x.resource
                    ),
                })
                .collect();
            let among = if restricted {
                "every node its node selector allows"
            } else {
                "every schedulable node"
            };
            let res = excess
                .first()
                .map(|x| x.resource.clone())
                .unwrap_or_default();
            let mut h = Hit::new(
                RuleId::RequestsExceedNodeCapacity,
                &f.group,
                f.r,
                format!(
                    "can never be scheduled: it requests more than {among} can allocate: {}",
                    parts.join("; ")
                ),
            )
            .ev(requests_line(f.spec))
            .evs(parts.iter().map(|p| format!("requested {p}")))
            .summary(
                "A Pod runs on one node: lower the requests to what the app really uses, or add a node pool with larger nodes. Recreating the Pods changes nothing.",
            )
            .step(
                "Compare with the nodes' allocatable",
                Some(format!(
                    "kubectl get nodes -o custom-columns=NAME:.metadata.name,CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory{}",
                    if excess.iter().any(|x| x.resource.contains('/')) {
                        format!(",{}:.status.allocatable.{}", res.to_ascii_uppercase(), res.replace('.', "\\."))
                    } else {
                        String::new()
                    }
                )),
                Risk::ReadOnly,
            )
            .step(
                format!("Lower the {res} request in the workload template to what the container uses"),
                set_resources_cmd(f, &res),
                Risk::Reversible,
            );
            if restricted {
                h = h.evs(placement::describe_node_constraints(f.spec));
            }
            h
        }
        Verdict::NoNodeMatches => {
            let constraints = placement::describe_node_constraints(f.spec);
            let keys = placement::constraint_keys(f.spec);
            let mut h = Hit::new(
                RuleId::NodeSelectorMatchesNoNode,
                &f.group,
                f.r,
                format!(
                    "can never be scheduled: no node's labels satisfy its {}",
                    constraints.join(" and ")
                ),
            )
            .evs(constraints)
            .evs(keys.iter().map(|k| placement::label_census(nodes, k)))
            .summary(
                "Fix the selector in the workload template, or label the nodes that are meant to run it. If a cluster autoscaler should create such nodes, check its node groups carry the label.",
            )
            .step(
                "Show the nodes with the labels the Pod selects on",
                Some(format!(
                    "kubectl get nodes -L {}",
                    keys.iter().cloned().collect::<Vec<_>>().join(",")
                )),
                Risk::ReadOnly,
            );
            h = h.step(
                "Correct the nodeSelector / node affinity in the workload's manifest (a typo in a key or value is the usual cause)",
                None,
                Risk::Reversible,
            );
            if let Some((k, v)) = f.spec.node_selector.iter().flatten().next() {
                h = h.step(
                    "Or label the node(s) meant to run it",
                    Some(format!("kubectl label node <node> {k}={v}")),
                    Risk::Reversible,
                );
            }
            h
        }
        Verdict::AllTainted {
            taints,
            health,
            fitting,
        } => {
            let list: Vec<String> = taints
                .iter()
                .map(|(t, ns)| format!("{t} on {}", ns.join(", ")))
                .collect();
            let names: Vec<&str> = taints.keys().map(String::as_str).collect();
            let what = if health {
                format!(
                    "cannot be scheduled: the {fitting} node(s) that could take it carry taints of unhealthy nodes it does not tolerate ({})",
                    names.join(", ")
                )
            } else {
                format!(
                    "cannot be scheduled: each of the {fitting} node(s) that could take it has a taint it does not tolerate ({})",
                    names.join(", ")
                )
            };
            taint_hit(f, what, health).evs(list)
        }
    }
}

fn taint_hit(f: &PodFacts, what: String, health: bool) -> Hit {
    let h = Hit::new(RuleId::UntoleratedTaint, &f.group, f.r, what).step(
        "List the nodes' taints",
        Some(
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints[*].key,EFFECTS:.spec.taints[*].effect"
                .to_owned(),
        ),
        Risk::ReadOnly,
    );
    if health {
        h.summary(
            "The nodes are unhealthy (not ready / unreachable / under pressure): fix the nodes or add capacity. Do not add tolerations for node-health taints.",
        )
        .step(
            "Check the nodes' conditions",
            Some("kubectl describe nodes | grep -A 8 Conditions".to_owned()),
            Risk::ReadOnly,
        )
    } else {
        h.summary(
            "The taints reserve those nodes: add a toleration to the workload only if it is meant to run there; otherwise give it nodes without the taint.",
        )
        .step(
            "If the workload belongs on those nodes, add the matching toleration to its Pod template",
            None,
            Risk::Reversible,
        )
    }
}

/// The PVCs a Pod mounts (by claim name, including generic ephemeral volumes).
fn pod_claims(r: &ObjRef, spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.persistent_volume_claim {
            out.push(c.claim_name.clone());
        } else if v.ephemeral.is_some() {
            out.push(format!("{}-{}", r.name, v.name));
        }
    }
    out
}

fn binding_mode(store: &Store, pvc: &PersistentVolumeClaim) -> String {
    let class = match pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()) {
        Some(c) => Some(c),
        None => crate::k8s::classes::default_storage_class(store),
    };
    class
        .as_deref()
        .and_then(|c| store.get::<StorageClass>("", c))
        .and_then(|sc| sc.volume_binding_mode.clone())
        .unwrap_or_else(|| "Immediate".to_owned())
}

/// UnboundPersistentVolumeClaim: the scheduler says so, or (event-less) a PVC with
/// Immediate binding is Pending / a PVC does not exist.
fn claim_hits(ctx: &RuleContext, f: &PodFacts, said: Option<&SchedulerMessage>) -> Vec<Hit> {
    let said_unbound = said
        .is_some_and(|m| m.has(|r| matches!(r, Reason::UnboundClaims | Reason::ClaimNotFound(_))));
    let mut bad: Vec<(ObjRef, String)> = Vec::new();
    for c in pod_claims(f.r, f.spec) {
        let cr = ObjRef::namespaced(Kind::PersistentVolumeClaim, f.r.ns(), &c);
        match ctx.store.get::<PersistentVolumeClaim>(f.r.ns(), &c) {
            Some(pvc) => {
                let phase = pvc
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .unwrap_or("Pending");
                if phase == "Bound" {
                    continue;
                }
                let mode = binding_mode(ctx.store, pvc);
                let class = pvc
                    .spec
                    .as_ref()
                    .and_then(|s| s.storage_class_name.clone())
                    .unwrap_or_else(|| "<default>".to_owned());
                // WaitForFirstConsumer claims bind once the Pod is scheduled: not a cause
                if mode == "WaitForFirstConsumer" && !said_unbound {
                    continue;
                }
                bad.push((
                    cr,
                    format!(
                        "PVC {c}: phase {phase}, storageClass {class} (volumeBindingMode {mode})"
                    ),
                ));
            }
            None if ctx.store.kind_listed(Kind::PersistentVolumeClaim, f.r.ns())
                || said_unbound =>
            {
                bad.push((cr, format!("PVC {c} does not exist")));
            }
            None => {}
        }
    }
    if bad.is_empty() && !said_unbound {
        return Vec::new();
    }
    let names: Vec<&str> = bad.iter().map(|(r, _)| r.name.as_str()).collect();
    let what = if names.is_empty() {
        "cannot be scheduled: it waits for PersistentVolumeClaims that are not bound".to_owned()
    } else {
        format!(
            "cannot be scheduled: PersistentVolumeClaim {} is not bound",
            names.join(", ")
        )
    };
    let mut h = Hit::new(RuleId::UnboundPersistentVolumeClaim, &f.group, f.r, what)
        .evs(bad.iter().map(|(_, e)| e.clone()))
        .summary(
            "The claim must bind before the Pod can be placed: see why the PVC is Pending (StorageClass, provisioner, quota, no matching PV). Never delete a PVC without checking its data and reclaim policy.",
        );
    for (c, _) in &bad {
        h.scope.push(c.clone());
        h = h.step(
            format!("See why PVC {} is not bound", c.name),
            Some(format!("kubectl describe pvc {}{}", c.name, c.ns_flag())),
            Risk::ReadOnly,
        );
    }
    vec![h]
}

/// Findings from what the scheduler said.
fn message_hits(
    ctx: &RuleContext,
    nodes: &Nodes,
    f: &PodFacts,
    m: &SchedulerMessage,
    text: &str,
    out: &mut Vec<Hit>,
) {
    let have = |out: &Vec<Hit>, rule: RuleId| out.iter().any(|h| h.rule == rule);
    let total = m
        .total
        .map(|t| t.to_string())
        .unwrap_or_else(|| "?".to_owned());
    let mut insufficient: Vec<(String, u32)> = Vec::new();
    let mut user_taints: Vec<(PrintedTaint, u32)> = Vec::new();
    let mut health_taints: Vec<(PrintedTaint, u32)> = Vec::new();
    let mut cp_taints: Vec<(PrintedTaint, u32)> = Vec::new();
    let mut unnamed_taints = 0u32;
    let mut selector = 0u32;
    let mut cordoned = 0u32;
    let mut affinity: Vec<(AffinityKind, u32)> = Vec::new();
    let mut volume_conflict = 0u32;
    let mut other: Vec<String> = Vec::new();
    for p in &m.parts {
        let c = p.count.unwrap_or(0);
        match &p.reason {
            Reason::Insufficient(r) => insufficient.push((r.clone(), c)),
            Reason::Taint(ts) if ts.is_empty() => unnamed_taints += c,
            Reason::Taint(ts) => {
                for t in ts {
                    let bucket = if placement::CONTROL_PLANE_TAINTS.contains(&t.key.as_str()) {
                        &mut cp_taints
                    } else if placement::NODE_HEALTH_TAINTS.contains(&t.key.as_str()) {
                        &mut health_taints
                    } else {
                        &mut user_taints
                    };
                    bucket.push((t.clone(), c));
                }
            }
            Reason::NodeSelector => selector += c,
            Reason::Unschedulable => cordoned += c,
            Reason::PodAffinity(k) => affinity.push((*k, c)),
            Reason::VolumeNodeAffinity => volume_conflict += c,
            Reason::UnboundClaims | Reason::ClaimNotFound(_) => {} // claim_hits
            Reason::Ports | Reason::Other => other.push(p.text.clone()),
        }
    }
    let claims = m.has(|r| matches!(r, Reason::UnboundClaims | Reason::ClaimNotFound(_)));
    // constraints other than taints; a user taint next to them reserves nodes the Pod is
    // not meant for (context), alone it is the cause
    let hard = !insufficient.is_empty()
        || !affinity.is_empty()
        || volume_conflict > 0
        || claims
        || !other.is_empty();
    let main = hard || !user_taints.is_empty() || !health_taints.is_empty() || unnamed_taints > 0;
    // context lines every hit from this message carries
    let mut context: Vec<String> = Vec::new();
    if selector > 0 {
        context.push(format!(
            "{selector} of {total} node(s) excluded by its node selector/affinity"
        ));
    }
    if cordoned > 0 {
        context.push(format!(
            "{cordoned} of {total} node(s) cordoned (unschedulable)"
        ));
    }
    for (t, c) in &cp_taints {
        context.push(format!(
            "{c} control-plane node(s) ({}) keep workloads off, as intended",
            t
        ));
    }
    if hard {
        for (t, c) in &user_taints {
            context.push(format!("{c} node(s) reserved by taint {t}, not tolerated"));
        }
    }
    if m.preemption_helps() {
        context.push("preemption may make room by evicting lower-priority Pods".to_owned());
    }
    let mut new_hits: Vec<Hit> = Vec::new();

    // insufficient resources (unless the placement check proved requests exceed every node)
    if !insufficient.is_empty() && !have(out, RuleId::RequestsExceedNodeCapacity) {
        let req = quantity::pod_requests(f.spec);
        let mut ev = vec![requests_line(f.spec)];
        let mut names = Vec::new();
        for (res, c) in &insufficient {
            names.push(res.clone());
            let requested = if res == "pods" {
                Quantity::from_units(1)
            } else {
                req.get(res).copied().unwrap_or_default()
            };
            let mut line = format!(
                "{c} of {total} node(s) lack {res}: the Pod requests {}",
                requested.display_for(res)
            );
            // judge by the nodes the Pod may use; all nodes when it may use none
            let any_usable = nodes.nodes.iter().any(|n| placement::may_use(f.spec, n));
            let usable = |n: &placement::NodeView| !any_usable || placement::may_use(f.spec, n);
            if let Some((q, n)) = nodes.largest(res, usable) {
                line.push_str(&format!(
                    "; largest allocatable {} on {n}",
                    q.display_for(res)
                ));
            }
            if let Some((free, n)) = nodes.most_free(res, usable) {
                line.push_str(&format!(
                    "; most unrequested {} on {n} (by the Pods kubedx sees)",
                    free.display_for(res)
                ));
            }
            ev.push(line);
        }
        let first = names.first().cloned().unwrap_or_default();
        let h = Hit::new(
            RuleId::InsufficientResources,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: no node has enough free {} for its requests",
                names.join(", ")
            ),
        )
        .evs(ev)
        .summary(
            "The nodes are full for this Pod's requests: lower the requests to real usage, free capacity (scale down what is idle), or add nodes. Draining or deleting Pods does not create capacity.",
        )
        .step(
            "See what is allocated on each node",
            Some("kubectl describe nodes | grep -A 10 'Allocated resources'".to_owned()),
            Risk::ReadOnly,
        )
        .step(
            "Compare requests with real usage",
            Some(format!("kubectl top pods{} --containers", f.r.ns_flag())),
            Risk::ReadOnly,
        )
        .step(
            format!("Lower the {first} request if it is larger than the app needs"),
            set_resources_cmd(f, &first),
            Risk::Reversible,
        );
        new_hits.push(h);
    }

    // taints
    let named_bad: Vec<&(PrintedTaint, u32)> = if hard {
        health_taints.iter().collect()
    } else {
        user_taints.iter().chain(health_taints.iter()).collect()
    };
    let only_cp = !main && selector == 0 && cordoned == 0 && !cp_taints.is_empty();
    let taint_cause = !named_bad.is_empty() || (unnamed_taints > 0 && !hard) || only_cp;
    if taint_cause && !have(out, RuleId::UntoleratedTaint) {
        let health = !health_taints.is_empty();
        let list: Vec<(PrintedTaint, u32)> = if only_cp {
            cp_taints.clone()
        } else {
            named_bad.iter().map(|x| (*x).clone()).collect()
        };
        let names: Vec<String> = list
            .iter()
            .map(|(t, c)| format!("{t} ({c} node(s))"))
            .collect();
        let what = if only_cp {
            format!(
                "cannot be scheduled: the only node(s) are control-plane nodes tainted {}; the cluster has no worker node for it",
                names.join(", ")
            )
        } else if health {
            format!(
                "cannot be scheduled: node(s) it could use are unhealthy and tainted {}",
                names.join(", ")
            )
        } else if names.is_empty() {
            format!(
                "cannot be scheduled: {unnamed_taints} node(s) have taints it does not tolerate"
            )
        } else {
            format!(
                "cannot be scheduled: untolerated taint(s) {}",
                names.join(", ")
            )
        };
        let mut h = taint_hit(f, what, health);
        // name the actual taints (with effects) of the nodes carrying them
        for (t, _) in &list {
            let carriers: Vec<String> = nodes
                .nodes
                .iter()
                .filter(|n| n.taints.iter().any(|nt| nt.key == t.key))
                .map(|n| n.name.to_owned())
                .collect();
            if !carriers.is_empty() {
                h = h.ev(format!(
                    "taint {} on node(s) {}",
                    t.key,
                    carriers.join(", ")
                ));
            }
        }
        new_hits.push(h);
    }

    // affinity / anti-affinity / topology spread
    if !affinity.is_empty() {
        let kinds: BTreeSet<&str> = affinity.iter().map(|(k, _)| k.describe()).collect();
        let counts: Vec<String> = affinity
            .iter()
            .map(|(k, c)| format!("{c} of {total} node(s) fail {}", k.describe()))
            .collect();
        let mut h = Hit::new(
            RuleId::PodAffinityUnsatisfiable,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: its {} cannot be met on any node",
                kinds.into_iter().collect::<Vec<_>>().join(" and ")
            ),
        )
        .evs(counts)
        .evs(affinity_evidence(ctx, nodes, f))
        .summary(
            "Required (anti-)affinity and DoNotSchedule spread constraints can make placement impossible: relax them to preferred / ScheduleAnyway, or add nodes in the missing topology domains.",
        )
        .step(
            "See where the Pods it must (not) be near run",
            Some(format!("kubectl get pods{} -o wide --show-labels", f.r.ns_flag())),
            Risk::ReadOnly,
        )
        .step(
            "List the nodes' topology labels",
            Some("kubectl get nodes -L topology.kubernetes.io/zone,kubernetes.io/hostname".to_owned()),
            Risk::ReadOnly,
        );
        h = h.step(
            "Relax requiredDuringScheduling terms to preferredDuringScheduling, or whenUnsatisfiable to ScheduleAnyway, in the workload's manifest",
            None,
            Risk::Reversible,
        );
        new_hits.push(h);
    }

    // volume node affinity
    if volume_conflict > 0 {
        let mut h = Hit::new(
            RuleId::VolumeNodeAffinityConflict,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: {volume_conflict} of {total} node(s) are outside the topology of its bound volume(s), and no node in it can take the Pod"
            ),
        )
        .summary(
            "A bound volume lives in one zone/node: the Pod must run there. Make room in that zone (or let the autoscaler add a node there); use volumeBindingMode WaitForFirstConsumer for new claims. Moving the data takes a snapshot and restore; never delete the PVC to 'fix' it.",
        );
        for c in pod_claims(f.r, f.spec) {
            let Some(pvc) = ctx.store.get::<PersistentVolumeClaim>(f.r.ns(), &c) else {
                continue;
            };
            let cr = ObjRef::namespaced(Kind::PersistentVolumeClaim, f.r.ns(), &c);
            h.scope.push(cr);
            let Some(pv_name) = pvc.spec.as_ref().and_then(|s| s.volume_name.clone()) else {
                continue;
            };
            h.scope
                .push(ObjRef::cluster(Kind::PersistentVolume, &pv_name));
            if let Some(pv) = ctx.store.get::<PersistentVolume>("", &pv_name)
                && let Some(req) = pv
                    .spec
                    .as_ref()
                    .and_then(|s| s.node_affinity.as_ref())
                    .and_then(|a| a.required.as_ref())
            {
                let spec = PodSpec {
                    affinity: Some(k8s_openapi::api::core::v1::Affinity {
                        node_affinity: Some(k8s_openapi::api::core::v1::NodeAffinity {
                            required_during_scheduling_ignored_during_execution: Some(req.clone()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let desc = placement::describe_node_constraints(&spec).join(" ");
                let inside: Vec<String> = nodes
                    .nodes
                    .iter()
                    .filter(|n| placement::node_selector_matches(req, n))
                    .map(|n| {
                        if n.unschedulable {
                            format!("{} (cordoned)", n.name)
                        } else {
                            n.name.to_owned()
                        }
                    })
                    .collect();
                h = h.ev(format!(
                    "PV {pv_name} (claim {c}) {}; node(s) inside it: {}",
                    desc.replace("required node affinity", "requires"),
                    if inside.is_empty() {
                        "none".to_owned()
                    } else {
                        inside.join(", ")
                    }
                ));
                h = h.step(
                    format!("Inspect the topology of PV {pv_name}"),
                    Some(format!(
                        "kubectl get pv {pv_name} -o jsonpath='{{.spec.nodeAffinity}}'"
                    )),
                    Risk::ReadOnly,
                );
            }
        }
        new_hits.push(h);
    }

    // nothing specific: the selector alone, cordons, no nodes, or an unknown reason
    if !main
        && !only_cp
        && selector > 0
        && cordoned == 0
        && !have(out, RuleId::NodeSelectorMatchesNoNode)
    {
        let keys = placement::constraint_keys(f.spec);
        let h = Hit::new(
            RuleId::NodeSelectorMatchesNoNode,
            &f.group,
            f.r,
            format!(
                "cannot be scheduled: {selector} of {total} node(s) do not match its node selector/affinity and the others cannot take it"
            ),
        )
        .evs(placement::describe_node_constraints(f.spec))
        .evs(keys.iter().map(|k| placement::label_census(nodes, k)))
        .summary("Fix the selector in the workload template, or label the nodes that are meant to run it.")
        .step(
            "Show the nodes with the labels the Pod selects on",
            Some(format!(
                "kubectl get nodes -L {}",
                keys.iter().cloned().collect::<Vec<_>>().join(",")
            )),
            Risk::ReadOnly,
        );
        new_hits.push(h);
    }
    let specific = !new_hits.is_empty() || claims || !out.is_empty();
    if !other.is_empty() || !specific {
        let what = if m.no_nodes {
            "cannot be scheduled: the scheduler sees no node at all".to_owned()
        } else if !main && cordoned > 0 {
            format!(
                "cannot be scheduled: the node(s) it could use are cordoned ({cordoned} of {total} unschedulable)"
            )
        } else {
            format!("cannot be scheduled: {}", text.trim())
        };
        let (d, c, r) = describe_cmd(f);
        let mut h = Hit::new(RuleId::FailedScheduling, &f.group, f.r, what)
            .summary("Read the scheduler's message: it lists, per node, why the Pod does not fit.")
            .step(d, c, r);
        if !main && cordoned > 0 {
            h = h
                .step(
                    "List cordoned nodes",
                    Some("kubectl get nodes --field-selector spec.unschedulable=true".to_owned()),
                    Risk::ReadOnly,
                )
                .step(
                    "Uncordon a node once its maintenance is over",
                    Some("kubectl uncordon <node>".to_owned()),
                    Risk::Reversible,
                );
        }
        if m.no_nodes {
            h = h.step(
                "List the nodes",
                Some("kubectl get nodes".to_owned()),
                Risk::ReadOnly,
            );
        }
        for o in &other {
            h = h.ev(format!("scheduler: {o}"));
        }
        new_hits.push(h);
    }
    for mut h in new_hits {
        h.evidence.extend(context.iter().cloned());
        out.push(h);
    }
    // every hit from this Pod quotes the scheduler's event
    for h in out.iter_mut() {
        h.events.extend(f.failed.iter().cloned());
    }
}

/// Evidence for affinity findings: the Pod's required terms and spread constraints,
/// and replicas against nodes for hostname anti-affinity.
fn affinity_evidence(ctx: &RuleContext, nodes: &Nodes, f: &PodFacts) -> Vec<String> {
    let mut out = Vec::new();
    let Some(a) = f.spec.affinity.as_ref() else {
        return spread_evidence(f.spec, out);
    };
    let sel = |ls: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>| {
        crate::selector::Selector::from_label_selector(ls).to_string()
    };
    for t in a.pod_affinity.iter().flat_map(|p| {
        p.required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        out.push(format!(
            "required pod affinity: with Pods {} per {}",
            sel(t.label_selector.as_ref()),
            t.topology_key
        ));
    }
    for t in a.pod_anti_affinity.iter().flat_map(|p| {
        p.required_during_scheduling_ignored_during_execution
            .iter()
            .flatten()
    }) {
        out.push(format!(
            "required pod anti-affinity: not with Pods {} per {}",
            sel(t.label_selector.as_ref()),
            t.topology_key
        ));
        if t.topology_key == "kubernetes.io/hostname" {
            let schedulable = nodes
                .nodes
                .iter()
                .filter(|n| placement::may_use(f.spec, n))
                .count();
            if let Some(replicas) = replicas_of(ctx.store, &f.owner)
                && replicas as usize > schedulable
            {
                out.push(format!(
                    "{} wants {replicas} replicas with one per node, and only {schedulable} node(s) can take its Pods",
                    f.owner.short()
                ));
            }
        }
    }
    spread_evidence(f.spec, out)
}

fn spread_evidence(spec: &PodSpec, mut out: Vec<String>) -> Vec<String> {
    for c in spec.topology_spread_constraints.iter().flatten() {
        out.push(format!(
            "topology spread: maxSkew {} per {}, whenUnsatisfiable {}, Pods {}",
            c.max_skew,
            c.topology_key,
            c.when_unsatisfiable,
            crate::selector::Selector::from_label_selector(c.label_selector.as_ref())
        ));
    }
    out
}

fn replicas_of(store: &Store, r: &ObjRef) -> Option<i32> {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
    match r.kind {
        Kind::Deployment => store.get_ref::<Deployment>(r)?.spec.replicas,
        Kind::StatefulSet => store.get_ref::<StatefulSet>(r)?.spec.replicas,
        Kind::ReplicaSet => store.get_ref::<ReplicaSet>(r)?.spec.replicas,
        _ => None,
    }
}

// ---- grouping and emission --------------------------------------------------------

fn emit(hits: Vec<Hit>, out: &mut Vec<Draft>) {
    let mut groups: BTreeMap<(RuleId, ObjRef), Vec<Hit>> = BTreeMap::new();
    for h in hits {
        groups.entry((h.rule, h.group.clone())).or_default().push(h);
    }
    for ((rule, group), hs) in groups {
        let mut pods: Vec<ObjRef> = hs.iter().map(|h| h.pod.clone()).collect();
        pods.sort();
        pods.dedup();
        let first = &hs[0];
        let subject = if pods.len() == 1 {
            if group == pods[0] {
                format!("Pod {}", pods[0].name)
            } else {
                format!("Pod {} ({})", pods[0].name, group.short())
            }
        } else {
            format!("{} Pods of {}", pods.len(), group.short())
        };
        let mut d = Draft::new(rule, group.clone())
            .message(format!("{subject} {}", first.what))
            .summary(first.summary.clone())
            .affected(&pods);
        if let Some(s) = first.severity {
            d = d.severity(s);
        }
        for h in &hs {
            for e in &h.evidence {
                d = d.evidence(e.clone());
            }
            for s in &h.scope {
                d = d.scope(s.clone());
            }
        }
        // quote the newest event, account for the others
        let mut events: Vec<&Arc<EventRecord>> = hs.iter().flat_map(|h| h.events.iter()).collect();
        events.sort_by(|a, b| a.time.cmp(&b.time).then(a.name.cmp(&b.name)));
        events.dedup_by(|a, b| a.key() == b.key());
        if let Some(newest) = events.iter().rev().find(|e| e.reason == "FailedScheduling") {
            d = d.event(newest);
        }
        for e in &events {
            d = d.account(e).seen(e.first_time, e.time);
        }
        let mut seen_steps = BTreeSet::new();
        for (desc, cmd, risk) in &first.steps {
            if seen_steps.insert(desc.clone()) {
                d = d.step(desc.clone(), cmd.clone(), *risk);
            }
        }
        if hs.iter().all(|h| h.healed) {
            d.scope.clear();
        }
        out.push(d);
    }
}

fn scheduler_not_running(
    ctx: &RuleContext,
    silent: BTreeMap<String, Vec<(ObjRef, ObjRef, i64)>>,
    out: &mut Vec<Draft>,
) {
    for (scheduler, pods) in silent {
        let Some((_, group, _)) = pods.first() else {
            continue;
        };
        let refs: Vec<ObjRef> = pods.iter().map(|(p, _, _)| p.clone()).collect();
        let oldest = pods.iter().map(|(_, _, a)| *a).max().unwrap_or(0);
        let default = scheduler == "default-scheduler";
        let who = if default {
            "the scheduler".to_owned()
        } else {
            format!("scheduler {scheduler:?}")
        };
        let mut d = Draft::new(RuleId::SchedulerNotRunning, group.clone())
            .discriminator(scheduler.clone())
            .message(format!(
                "{} Pod(s) have been Pending for up to {} and {who} has not looked at them (no PodScheduled condition, no scheduling event): is {who} running?",
                refs.len(),
                human_age(oldest)
            ))
            .affected(&refs)
            .evidence(format!(
                "spec.schedulerName {scheduler}; no nodeName, no PodScheduled condition, no FailedScheduling/Scheduled event"
            ))
            .summary(if default {
                "Check kube-scheduler: its Pods (static Pods on the control plane), its logs and its leader-election lease. On managed clusters, contact the provider."
            } else {
                "The Pods name a custom scheduler: check that it is deployed and running, or remove schedulerName to use the default scheduler."
            });
        if default {
            let sched_pods: Vec<String> = ctx
                .store
                .select_pods(
                    "kube-system",
                    &crate::selector::Selector::from_map([("component", "kube-scheduler")]),
                )
                .into_iter()
                .map(|p| {
                    let ready = p
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                        .map(|c| c.status.clone())
                        .unwrap_or_else(|| "?".to_owned());
                    format!(
                        "{}: phase {}, Ready={ready}",
                        p.metadata.name.as_deref().unwrap_or(""),
                        p.status
                            .as_ref()
                            .and_then(|s| s.phase.as_deref())
                            .unwrap_or("?")
                    )
                })
                .collect();
            for s in sched_pods {
                d = d.evidence(format!("kube-scheduler Pod {s}"));
            }
            d = d
                .step(
                    "Check the scheduler Pods",
                    Some(
                        "kubectl get pods -n kube-system -l component=kube-scheduler -o wide"
                            .to_owned(),
                    ),
                    Risk::ReadOnly,
                )
                .step(
                    "Read the scheduler's logs",
                    Some(
                        "kubectl logs -n kube-system -l component=kube-scheduler --tail=100"
                            .to_owned(),
                    ),
                    Risk::ReadOnly,
                )
                .step(
                    "Check who holds the scheduler's leader lease and when it was renewed",
                    Some("kubectl get lease kube-scheduler -n kube-system -o yaml".to_owned()),
                    Risk::ReadOnly,
                );
        } else {
            d = d.step(
                format!("Find the {scheduler} deployment"),
                Some(format!("kubectl get pods -A | grep -i {scheduler}")),
                Risk::ReadOnly,
            );
        }
        out.push(d);
    }
}
