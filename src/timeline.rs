//! The timeline of a diagnosis: events and changes of the object graph, oldest first,
//! bounded to the most recent entries.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;

use crate::api::TimelineEntry;
use crate::changes::ObservedChange;
use crate::graph::{ObjectGraph, Role};
use crate::model::{Kind, ObjRef};
use crate::store::Store;

/// At most this many entries are kept (the newest).
pub const MAX_ENTRIES: usize = 60;

struct Raw {
    time: Timestamp,
    type_: &'static str,
    object: ObjRef,
    reason: String,
    message: String,
    count: Option<i32>,
}

/// Builds the timeline, the `changes` of the graph among its entries; returns the
/// entries and whether older ones were dropped.
pub fn build(
    store: &Store,
    graph: &ObjectGraph,
    changes: &[ObservedChange],
    now: Timestamp,
) -> (Vec<TimelineEntry>, bool) {
    let mut raw: Vec<Raw> = Vec::new();
    for change in changes {
        let Some(time) = change.time else {
            continue;
        };
        raw.push(Raw {
            time,
            type_: "Change",
            object: change.object.clone(),
            reason: change.reason().to_owned(),
            message: change.summary.clone(),
            count: None,
        });
    }
    for (object_ref, node) in &graph.nodes {
        if node.role == Role::Context && object_ref != &graph.target {
            continue;
        }
        for event in store.events_for(object_ref) {
            let Some(event_time) = event.time else {
                continue;
            };
            raw.push(Raw {
                time: event_time,
                type_: if event.is_warning() {
                    "Warning"
                } else {
                    "Normal"
                },
                object: object_ref.clone(),
                reason: event.reason.clone(),
                message: event.message.clone(),
                count: Some(event.count),
            });
        }
        match object_ref.kind {
            Kind::ReplicaSet => {
                if let Some(rs) = store.get_ref::<ReplicaSet>(object_ref) {
                    replica_set_changes(object_ref, rs, &mut raw);
                }
            }
            Kind::Pod => {
                if let Some(pod) = store.get_ref::<Pod>(object_ref) {
                    pod_changes(object_ref, pod, &mut raw);
                }
            }
            _ => {}
        }
    }
    raw.retain(|e| e.time <= now);
    raw.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then_with(|| a.object.cmp(&b.object))
            .then_with(|| a.reason.cmp(&b.reason))
    });
    let truncated = raw.len() > MAX_ENTRIES;
    let skip = raw.len().saturating_sub(MAX_ENTRIES);
    let entries = raw
        .into_iter()
        .skip(skip)
        .map(|e| TimelineEntry {
            time: e.time.to_string(),
            type_: e.type_.to_owned(),
            object: e.object.to_reference(),
            reason: e.reason,
            message: crate::text::clip(&e.message, 512),
            count: e.count,
        })
        .collect();
    (entries, truncated)
}

fn replica_set_changes(rs_ref: &ObjRef, rs: &ReplicaSet, raw: &mut Vec<Raw>) {
    let Some(created) = rs.metadata.creation_timestamp.as_ref().map(|t| t.0) else {
        return;
    };
    let rev = rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .map(|revision| format!(" (revision {revision})"))
        .unwrap_or_default();
    let images: Vec<String> = rs
        .spec
        .template
        .as_ref()
        .and_then(|template| template.spec.as_ref())
        .map(|spec| {
            spec.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect()
        })
        .unwrap_or_default();
    raw.push(Raw {
        time: created,
        type_: "Change",
        object: rs_ref.clone(),
        reason: "ReplicaSetCreated".to_owned(),
        message: format!(
            "ReplicaSet {}{rev} created with image {}",
            rs_ref.name,
            images.join(", ")
        ),
        count: None,
    });
}

fn pod_changes(pod_ref: &ObjRef, pod: &Pod, raw: &mut Vec<Raw>) {
    let Some(st) = &pod.status else { return };
    if let Some(started) = st.start_time.as_ref().map(|t| t.0) {
        raw.push(Raw {
            time: started,
            type_: "Change",
            object: pod_ref.clone(),
            reason: "PodStarted".to_owned(),
            message: format!(
                "Pod started{}",
                pod.spec
                    .as_ref()
                    .and_then(|s| s.node_name.as_ref())
                    .map(|n| format!(" on node {n}"))
                    .unwrap_or_default()
            ),
            count: None,
        });
    }
    for cs in st
        .init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
    {
        if let Some(terminated) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref())
            && let Some(at) = terminated.finished_at.as_ref().map(|time| time.0)
        {
            raw.push(Raw {
                time: at,
                type_: "Change",
                object: pod_ref.clone(),
                reason: "ContainerTerminated".to_owned(),
                message: format!(
                    "container {} terminated: {} (exit code {}), restart count {}",
                    cs.name,
                    terminated.reason.as_deref().unwrap_or("Error"),
                    terminated.exit_code,
                    cs.restart_count
                ),
                count: None,
            });
        }
    }
}
