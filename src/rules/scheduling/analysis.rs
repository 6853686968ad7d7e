//! The walk over one Pod: healed, gated, unseen by the scheduler, then the hits of
//! the placement checks, of its claims and of the scheduler's message, with the
//! evidence they all carry.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodCondition};

use crate::api::Severity;
use crate::event::EventRecord;
use crate::k8s::{duration, owners, pod};
use crate::model::ObjRef;
use crate::rules::RuleContext;

use super::causes::Cause;
use super::claims::claim_hits;
use super::hit::{Hit, PodFacts};
use super::placement::{self, Nodes};
use super::reasons::message_hits;
use super::silence::{UnseenPod, UnseenPods};
use super::verdicts::verdict_hit;
use super::{SCHEDULER_SILENCE_SECS, scheduler_says};

/// The hits of one Pod of the graph (none for a terminated or terminating Pod); a Pod
/// no scheduler has looked at for a while goes to `unseen`.
pub(super) fn analyze_pod(
    ctx: &RuleContext,
    nodes: &Nodes,
    pod_ref: &ObjRef,
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
    let events = ctx.events(pod_ref);
    let failed: Vec<Arc<EventRecord>> = events
        .iter()
        .filter(|event| event.reason == "FailedScheduling")
        .map(|event| (*event).clone())
        .collect();
    let group = owners::controller_of(ctx.store, &pod.metadata).unwrap_or_else(|| pod_ref.clone());
    let owner = owners::top_owner(ctx.store, pod_ref);
    let condition = pod::condition(pod, "PodScheduled");
    let facts = PodFacts {
        pod_ref,
        spec,
        group: group.clone(),
        owner,
        failed: failed.clone(),
    };

    if pod::is_scheduled(pod) {
        if let Some(last) = failed.last() {
            hits.push(healed(&facts, pod, last, &events));
        }
        return;
    }
    let gated = condition.is_some_and(|c| c.reason.as_deref() == Some("SchedulingGated"))
        || spec
            .scheduling_gates
            .as_ref()
            .is_some_and(|gates| !gates.is_empty());
    if gated {
        hits.push(scheduling_gated(&facts, condition));
        return;
    }

    // nobody has looked at the Pod: the scheduler may not be running
    let scheduler_spoke = condition.is_some()
        || events
            .iter()
            .any(|event| matches!(event.reason.as_str(), "FailedScheduling" | "Scheduled"));
    if !scheduler_spoke && let Some(created) = pod.metadata.creation_timestamp.as_ref() {
        let age = duration::seconds(created.0, ctx.now());
        if age > SCHEDULER_SILENCE_SECS {
            let name = spec
                .scheduler_name
                .clone()
                .unwrap_or_else(|| "default-scheduler".to_owned());
            unseen.entry(name).or_default().push(UnseenPod {
                pod: pod_ref.clone(),
                group: group.clone(),
                age_secs: age,
            });
        }
    }

    let said = scheduler_says(ctx, pod_ref, pod);
    let said_text = failed
        .last()
        .map(|event| event.message.clone())
        .or_else(|| {
            condition
                .filter(|c| c.status == "False")
                .and_then(|c| c.message.clone())
        });
    // a cluster autoscaler adding a node makes the event-less verdicts premature
    let scale_up = events
        .iter()
        .rev()
        .find(|event| matches!(event.reason.as_str(), "TriggeredScaleUp" | "Nominated"));
    let no_scale_up = events
        .iter()
        .rev()
        .find(|event| event.reason == "NotTriggerScaleUp");

    let mut pod_hits: Vec<Hit> = Vec::new();
    if scale_up.is_none() {
        for verdict in placement::check(spec, nodes) {
            pod_hits.push(verdict_hit(nodes, &facts, verdict));
        }
    }
    pod_hits.extend(claim_hits(ctx, &facts, said.as_ref()));
    if let Some(message) = &said {
        message_hits(
            ctx,
            nodes,
            &facts,
            message,
            said_text.as_deref().unwrap_or(""),
            &mut pod_hits,
        );
    }
    // common evidence and the events
    for hit in &mut pod_hits {
        if let Some(event) = scale_up {
            hit.evidence.push(format!(
                "the cluster autoscaler is adding capacity: {}",
                event.describe()
            ));
        }
        if let Some(event) = no_scale_up {
            hit.evidence.push(format!(
                "the cluster autoscaler cannot help: {}",
                event.describe()
            ));
            hit.events.push((*event).clone());
        }
        if let Some(nominated) = pod
            .status
            .as_ref()
            .and_then(|s| s.nominated_node_name.as_deref())
            .filter(|node| !node.is_empty())
        {
            hit.evidence.push(format!(
                "nominated node {nominated}: the scheduler is preempting lower-priority Pods there"
            ));
        }
        if failed.is_empty()
            && let Some(text) = &said_text
        {
            hit.evidence.push(format!(
                "condition PodScheduled=False (Unschedulable): {text}"
            ));
        }
    }
    hits.extend(pod_hits);
}

/// A Pod that could not be scheduled and now is: history, at most Info.
fn healed(
    facts: &PodFacts,
    pod: &Pod,
    last: &Arc<EventRecord>,
    events: &[&Arc<EventRecord>],
) -> Hit {
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let scheduled = events
        .iter()
        .rev()
        .find(|event| event.reason == "Scheduled");
    let waited = match (
        facts
            .failed
            .first()
            .and_then(|event| event.first_time.or(event.time)),
        scheduled.and_then(|event| event.time).or_else(|| {
            pod::condition(pod, "PodScheduled")
                .and_then(|c| c.last_transition_time.as_ref().map(|t| t.0))
        }),
    ) {
        (Some(failing_since), Some(scheduled_at)) if scheduled_at >= failing_since => format!(
            " for {}",
            duration::compact(duration::seconds(failing_since, scheduled_at))
        ),
        _ => String::new(),
    };
    let mut hit = Hit::of(
        Cause::Healed,
        facts,
        &[("waited", &waited), ("node", &node)],
    )
    .evidence_line(format!("last FailedScheduling: {}", last.message.trim()));
    if let Some(scheduled) = scheduled {
        hit = hit.evidence_line(format!("event {}", scheduled.describe()));
    }
    hit.severity = Some(Severity::Info);
    hit.healed = true;
    hit.events = facts.failed.clone();
    hit
}

/// A Pod held back by scheduling gates.
fn scheduling_gated(facts: &PodFacts, condition: Option<&PodCondition>) -> Hit {
    let gates: Vec<String> = facts
        .spec
        .scheduling_gates
        .iter()
        .flatten()
        .map(|gate| gate.name.clone())
        .collect();
    let gate_list = if gates.is_empty() {
        "(none listed)".to_owned()
    } else {
        gates.join(", ")
    };
    let mut hit = Hit::of(Cause::Gated, facts, &[("gates", &gate_list)]);
    if let Some(condition) = condition {
        hit = hit.evidence_line(format!(
            "condition PodScheduled={} reason {}{}",
            condition.status,
            condition.reason.as_deref().unwrap_or(""),
            condition
                .message
                .as_deref()
                .map(|message| format!(": {message}"))
                .unwrap_or_default()
        ));
    }
    hit.evidence_lines(gates.iter().map(|gate| format!("schedulingGates: {gate}")))
}
