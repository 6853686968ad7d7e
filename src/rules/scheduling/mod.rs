//! The `scheduling` rule set (docs/rules.md): why a Pod has no node.
//!
//! Two sources of truth, used together:
//!
//! - what the scheduler said: the newest FailedScheduling event of the Pod, else the
//!   message of its `PodScheduled=False` condition (events expire after an hour, the
//!   condition does not), read by [`message::parse`] into per-node reasons;
//! - what the objects prove without any event (`placement`): requests larger than
//!   any node, a node selector no node satisfies, taints on every node that would
//!   otherwise fit. These name a Pod that can never be placed even before the
//!   scheduler speaks (or when it is not running).
//!
//! A Pod that was unschedulable and is now bound to a node is history: reported at
//! most as Info, with an empty scope so that it explains nothing. Findings are grouped
//! per controller (the ReplicaSet, StatefulSet, ... owning the Pods).
//!
//! - [`message`]: the FailedScheduling message parser (pure, total);
//! - `placement`: the event-less placement checks and the Nodes summary;
//! - `analysis`: the walk over one Pod, which picks the checks that apply;
//! - `verdicts`, `claims`, `reasons`: the hits of the placement verdicts, of the
//!   Pod's claims and of the reasons of the scheduler's message;
//! - `causes`: the table of what each cause says and advises (rule, message,
//!   summary, steps), which those hits read;
//! - `hit`: a hit and the facts about a Pod it reads; `emit`: hits grouped per
//!   controller into findings; `silence`: SchedulerNotRunning.

pub mod message;
pub(crate) mod placement;

mod analysis;
mod causes;
mod claims;
mod emit;
mod hit;
mod reasons;
mod silence;
mod verdicts;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition};

use crate::model::{Kind, ObjRef};
use crate::rules::{Draft, RuleContext};

use hit::Hit;
use message::SchedulerMessage;
use placement::Nodes;
use silence::UnseenPods;

/// Pods Pending this long with nobody scheduling them point at the scheduler.
pub(crate) const SCHEDULER_SILENCE_SECS: i64 = 5 * 60;

/// The rule set on the graph's Pods.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // The cluster's Nodes are summarised only when some Pod waits for one: a graph of
    // scheduled Pods costs nothing proportional to the cluster's size.
    let unscheduled = ctx.graph.subjects(Kind::Pod).any(|pod_ref| {
        ctx.store
            .get_ref::<Pod>(pod_ref)
            .is_some_and(|pod| !is_scheduled(pod))
    });
    let nodes = if unscheduled {
        Nodes::new(ctx.store)
    } else {
        Nodes::none(ctx.store)
    };
    let mut hits: Vec<Hit> = Vec::new();
    let mut unseen = UnseenPods::new();
    for pod_ref in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(pod_ref) else {
            continue;
        };
        analysis::analyze_pod(ctx, &nodes, pod_ref, pod, &mut hits, &mut unseen);
    }
    emit::emit(hits, out);
    silence::scheduler_not_running(ctx, unseen, out);
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

pub(super) fn secs_between(from: Timestamp, to: Timestamp) -> i64 {
    to.as_second() - from.as_second()
}
