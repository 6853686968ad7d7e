//! The walk over one Pod: healed, gated, unseen by the scheduler, then the hits of
//! the placement checks, of its claims and of the scheduler's message, with the
//! evidence they all carry.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodCondition};

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::model::ObjRef;
use crate::rules::RuleContext;
use crate::rules::RuleId;

use super::claims::claim_hits;
use super::hit::{Hit, PodFacts};
use super::placement::{self, Nodes};
use super::reasons::message_hits;
use super::silence::{UnseenPod, UnseenPods};
use super::verdicts::verdict_hit;
use super::{
    SCHEDULER_SILENCE_SECS, controller_of, human_age, is_scheduled, pod_condition, scheduler_says,
    secs_between, top_owner,
};

pub(super) fn analyze_pod(
    ctx: &RuleContext,
    nodes: &Nodes,
    r: &ObjRef,
    pod: &Pod,
    hits: &mut Vec<Hit>,
    unseen: &mut UnseenPods,
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
            unseen.entry(name).or_default().push(UnseenPod {
                pod: r.clone(),
                group: group.clone(),
                age_secs: age,
            });
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
