//! The timeline of a diagnosis: events and changes of the object graph, oldest first,
//! bounded to the most recent entries.

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;

use crate::api::TimelineEntry;
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

/// Builds the timeline; returns the entries and whether older ones were dropped.
pub fn build(store: &Store, graph: &ObjectGraph, now: Timestamp) -> (Vec<TimelineEntry>, bool) {
    let mut raw: Vec<Raw> = Vec::new();
    for (r, node) in &graph.nodes {
        if node.role == Role::Context && r != &graph.target {
            continue;
        }
        for e in store.events_for(r) {
            let Some(t) = e.time else { continue };
            raw.push(Raw {
                time: t,
                type_: if e.is_warning() { "Warning" } else { "Normal" },
                object: r.clone(),
                reason: e.reason.clone(),
                message: e.message.clone(),
                count: Some(e.count),
            });
        }
        match r.kind {
            Kind::ReplicaSet => {
                if let Some(rs) = store.get_ref::<ReplicaSet>(r) {
                    replica_set_changes(r, rs, &mut raw);
                }
            }
            Kind::Pod => {
                if let Some(p) = store.get_ref::<Pod>(r) {
                    pod_changes(r, p, &mut raw);
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

fn replica_set_changes(r: &ObjRef, rs: &ReplicaSet, raw: &mut Vec<Raw>) {
    let Some(t) = rs.metadata.creation_timestamp.as_ref().map(|t| t.0) else {
        return;
    };
    let rev = rs
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("deployment.kubernetes.io/revision"))
        .map(|r| format!(" (revision {r})"))
        .unwrap_or_default();
    let images: Vec<String> = rs
        .spec
        .template
        .as_ref()
        .and_then(|t| t.spec.as_ref())
        .map(|s| {
            s.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect()
        })
        .unwrap_or_default();
    raw.push(Raw {
        time: t,
        type_: "Change",
        object: r.clone(),
        reason: "ReplicaSetCreated".to_owned(),
        message: format!(
            "ReplicaSet {}{rev} created with image {}",
            r.name,
            images.join(", ")
        ),
        count: None,
    });
}

fn pod_changes(r: &ObjRef, p: &Pod, raw: &mut Vec<Raw>) {
    let Some(st) = &p.status else { return };
    if let Some(t) = st.start_time.as_ref().map(|t| t.0) {
        raw.push(Raw {
            time: t,
            type_: "Change",
            object: r.clone(),
            reason: "PodStarted".to_owned(),
            message: format!(
                "Pod started{}",
                p.spec
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
        if let Some(t) = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref())
            && let Some(at) = t.finished_at.as_ref().map(|t| t.0)
        {
            raw.push(Raw {
                time: at,
                type_: "Change",
                object: r.clone(),
                reason: "ContainerTerminated".to_owned(),
                message: format!(
                    "container {} terminated: {} (exit code {}), restart count {}",
                    cs.name,
                    t.reason.as_deref().unwrap_or("Error"),
                    t.exit_code,
                    cs.restart_count
                ),
                count: None,
            });
        }
    }
}
