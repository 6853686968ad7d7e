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

use k8s_openapi::api::core::v1::Pod;

use crate::k8s::pod;
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
            .is_some_and(|pod| !pod::is_scheduled(pod))
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
            pod::condition(pod, "PodScheduled")
                .filter(|c| c.status == "False")
                .and_then(|c| c.message.clone())
        })?;
    Some(message::parse(&text))
}
