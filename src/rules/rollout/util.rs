//! Helpers shared by the rollout (and storage) rules: Pod state, owned objects,
//! times and conditions.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, Time};

use crate::model::ObjRef;
use crate::rules::RuleContext;
use crate::selector::Selector;
use crate::store::Store;

/// The annotation the Deployment controller writes on a Deployment and its ReplicaSets.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// Pods younger than this that are still being created count as "starting".
pub const STARTING_GRACE_SECS: i64 = 300;

pub fn ts(t: Option<&Time>) -> Option<Timestamp> {
    t.map(|t| t.0)
}

/// Seconds from `from` to `to` (negative when `to` is earlier).
pub fn secs(from: Timestamp, to: Timestamp) -> i64 {
    to.as_second() - from.as_second()
}

/// A short human duration: `45s`, `12m`, `3h10m`, `2d3h`.
pub fn human(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86400 {
        let m = (s % 3600) / 60;
        if m == 0 {
            format!("{}h", s / 3600)
        } else {
            format!("{}h{}m", s / 3600, m)
        }
    } else {
        let h = (s % 86400) / 3600;
        if h == 0 {
            format!("{}d", s / 86400)
        } else {
            format!("{}d{}h", s / 86400, h)
        }
    }
}

pub fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

pub fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

pub fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Objects of `kind` whose controller ownerReference names `owner_uid`.
pub fn owned<'a, T: crate::store::Stored + HasMeta + 'a>(
    store: &'a Store,
    owner_uid: Option<&str>,
) -> Vec<(ObjRef, &'a Arc<T>)> {
    let Some(uid) = owner_uid else {
        return Vec::new();
    };
    let mut out: Vec<(ObjRef, &Arc<T>)> = store
        .owned_by(uid)
        .filter(|r| r.kind == T::KIND)
        .filter_map(|r| store.get_ref::<T>(r).map(|o| (r.clone(), o)))
        .filter(|(_, o)| {
            o.meta()
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller != Some(false))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Access to `metadata` of typed objects.
pub trait HasMeta {
    fn meta(&self) -> &ObjectMeta;
}

macro_rules! has_meta {
    ($($t:ty),*) => { $(impl HasMeta for $t { fn meta(&self) -> &ObjectMeta { &self.metadata } })* };
}
has_meta!(
    Pod,
    k8s_openapi::api::apps::v1::ReplicaSet,
    k8s_openapi::api::batch::v1::Job,
    k8s_openapi::api::core::v1::PersistentVolumeClaim
);

/// Whether the Pod's Ready condition is True.
pub fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

pub fn pod_phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Unknown")
}

/// Pods that count for a controller: not terminal, not being deleted.
pub fn pod_active(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none() && !matches!(pod_phase(p), "Succeeded" | "Failed")
}

/// A Pod still being created: young, no container in an error state, no restarts,
/// not unschedulable.
pub fn pod_starting(p: &Pod, now: Timestamp) -> bool {
    let Some(created) = ts(p.metadata.creation_timestamp.as_ref()) else {
        return false;
    };
    if secs(created, now) > STARTING_GRACE_SECS || !pod_active(p) {
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
pub fn pod_state(p: &Pod) -> String {
    let phase = pod_phase(p);
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
        s.push_str(if pod_ready(p) {
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

/// A `-l` argument for kubectl from a LabelSelector (quoted when it holds spaces).
pub fn selector_arg(ls: &LabelSelector) -> String {
    let s = Selector::from_label_selector(Some(ls)).to_string();
    if s.contains(' ') || s.contains('!') || s.contains('(') {
        format!("'{s}'")
    } else {
        s
    }
}

/// Images of the template's containers, `container=image`.
pub fn images(t: &PodTemplateSpec) -> Vec<(String, String)> {
    t.spec
        .iter()
        .flat_map(|s| {
            s.init_containers
                .iter()
                .flatten()
                .chain(s.containers.iter())
        })
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect()
}

/// Pods of a controller (by controller ownerReference).
pub fn pods_of<'a>(store: &'a Store, owner_uid: Option<&str>) -> Vec<(ObjRef, &'a Arc<Pod>)> {
    owned::<Pod>(store, owner_uid)
}

/// Up to `n` lines describing the Pods that are not ready.
pub fn not_ready_lines(pods: &[(ObjRef, &Arc<Pod>)], n: usize) -> Vec<String> {
    pods.iter()
        .filter(|(_, p)| pod_active(p) && !pod_ready(p))
        .take(n)
        .map(|(r, p)| {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            format!("Pod {}{node}: {}", r.name, pod_state(p))
        })
        .collect()
}

/// Whether the object was read and is absent (so its absence is a fact).
pub fn known_missing(ctx: &RuleContext, r: &ObjRef) -> bool {
    !ctx.store.contains(r) && ctx.store.kind_listed(r.kind, r.ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human(-5), "0s");
        assert_eq!(human(59), "59s");
        assert_eq!(human(600), "10m");
        assert_eq!(human(3600), "1h");
        assert_eq!(human(3700), "1h1m");
        assert_eq!(human(86400 * 2 + 3600 * 3), "2d3h");
    }
}
