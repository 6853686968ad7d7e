//! A Pod's conditions, readiness and phase.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodCondition};

use crate::model::{Kind, ObjRef};

/// A condition of a Pod by type (`Ready`, `PodScheduled`, ...).
pub fn condition<'p>(pod: &'p Pod, type_: &str) -> Option<&'p PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// Whether the Pod's Ready condition is True.
pub fn is_ready(pod: &Pod) -> bool {
    condition(pod, "Ready").is_some_and(|c| c.status == "True")
}

/// The Pod's phase; `Unknown` when the status has none.
pub fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown")
}

/// Succeeded or Failed: the Pod's containers will not run again (the endpoints
/// controller ignores such Pods).
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The reference of a Pod.
pub fn reference(pod: &Pod) -> ObjRef {
    ObjRef::namespaced(
        Kind::Pod,
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        name(pod),
    )
}

/// The Pod's name (empty when it has none).
pub fn name(pod: &Pod) -> &str {
    pod.metadata.name.as_deref().unwrap_or_default()
}

/// The Node the Pod is bound to, if any.
pub fn node_name(pod: &Pod) -> Option<&str> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .filter(|n| !n.is_empty())
}

/// Pods younger than this that are still being created count as starting.
pub const STARTING_GRACE_SECS: i64 = 300;

/// Pods that count for a controller: not terminal, not being deleted.
pub fn is_active(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && !matches!(phase(p), "Succeeded" | "Failed")
}

/// A Pod still being created: young, no container in an error state, no restarts,
/// not unschedulable.
pub fn is_starting(p: &Pod, now: Timestamp) -> bool {
    let Some(created) = p.metadata.creation_timestamp.as_ref().map(|t| t.0) else {
        return false;
    };
    if super::duration::seconds(created, now) > STARTING_GRACE_SECS || !is_active(p) {
        return false;
    }
    let Some(st) = &p.status else { return true };
    if st
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        return false;
    }
    st.container_statuses
        .iter()
        .flatten()
        .chain(st.init_container_statuses.iter().flatten())
        .all(|cs| {
            cs.restart_count == 0
                && cs
                    .state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    .is_none_or(|r| matches!(r, "ContainerCreating" | "PodInitializing"))
        })
}

/// One line saying what state a Pod is in: `Pending (Unschedulable)`,
/// `Running, not ready (container app: CrashLoopBackOff, 7 restarts)`.
pub fn describe_state(p: &Pod) -> String {
    let phase = phase(p);
    let mut s = phase.to_owned();
    if p.metadata.deletion_timestamp.is_some() {
        s.push_str(", terminating");
    }
    let Some(st) = &p.status else { return s };
    if let Some(r) = st.reason.as_deref() {
        s.push_str(&format!(" ({r})"));
    }
    if let Some(c) = st
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
    {
        s.push_str(&format!(
            " ({})",
            c.reason.as_deref().unwrap_or("not scheduled")
        ));
        return s;
    }
    if phase == "Running" {
        s.push_str(if is_ready(p) {
            ", ready"
        } else {
            ", not ready"
        });
    }
    let mut details = Vec::new();
    for cs in st
        .init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
    {
        let waiting = cs
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.clone());
        let terminated = cs.state.as_ref().and_then(|s| s.terminated.as_ref());
        let what = match (waiting, terminated) {
            (Some(w), _) => Some(w),
            (None, Some(t)) if t.exit_code != 0 => Some(format!(
                "terminated {} (exit {})",
                t.reason.as_deref().unwrap_or(""),
                t.exit_code
            )),
            _ if !cs.ready && phase == "Running" => Some("not ready".to_owned()),
            _ => None,
        };
        if let Some(w) = what {
            let restarts = if cs.restart_count > 0 {
                format!(", {} restarts", cs.restart_count)
            } else {
                String::new()
            };
            details.push(format!("container {}: {w}{restarts}", cs.name));
        }
    }
    if !details.is_empty() {
        s.push_str(&format!(" ({})", details.join("; ")));
    }
    s
}

/// Whether a Pod is bound to a node (or the scheduler says it is).
pub fn is_scheduled(pod: &Pod) -> bool {
    node_name(pod).is_some() || condition(pod, "PodScheduled").is_some_and(|c| c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(status: serde_json::Value) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": "web-1"}, "spec": {"containers": [], "nodeName": "n1"}, "status": status})).unwrap()
    }

    #[test]
    fn readiness_and_phase_come_from_the_status() {
        let ready =
            pod(json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}));
        assert!(is_ready(&ready));
        assert_eq!(phase(&ready), "Running");
        assert!(!is_terminal(&ready));
        assert_eq!(name(&ready), "web-1");
        assert_eq!(node_name(&ready), Some("n1"));
        let done = pod(
            json!({"phase": "Succeeded", "conditions": [{"type": "Ready", "status": "False"}]}),
        );
        assert!(!is_ready(&done));
        assert!(is_terminal(&done));
        let bare = pod(json!(null));
        assert_eq!(phase(&bare), "Unknown");
        assert!(condition(&bare, "Ready").is_none());
    }
}
