//! Helpers of the rollout rules: owned objects, revisions, selectors and
//! the not-ready Pods of a workload.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::k8s::pod;
use crate::model::ObjRef;
use crate::rules::RuleContext;
use crate::selector::Selector;
use crate::store::{Existence, Store};

/// The annotation the Deployment controller writes on a Deployment and its ReplicaSets.
pub(crate) const REVISION: &str = "deployment.kubernetes.io/revision";

pub(crate) fn annotation<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

pub(crate) fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels
        .as_ref()
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

/// Objects of `kind` whose controller ownerReference names `owner_uid`.
pub(crate) fn owned<'a, T: crate::store::Stored + HasMeta + 'a>(
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
pub(crate) trait HasMeta {
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

/// A `-l` argument for kubectl from a LabelSelector (quoted when it holds spaces).
pub(crate) fn selector_arg(ls: &LabelSelector) -> String {
    let s = Selector::from_label_selector(Some(ls)).to_string();
    if s.contains(' ') || s.contains('!') || s.contains('(') {
        format!("'{s}'")
    } else {
        s
    }
}

/// Images of the template's containers, `container=image`.
pub(crate) fn images(t: &PodTemplateSpec) -> Vec<(String, String)> {
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
pub(crate) fn pods_of<'a>(
    store: &'a Store,
    owner_uid: Option<&str>,
) -> Vec<(ObjRef, &'a Arc<Pod>)> {
    owned::<Pod>(store, owner_uid)
}

/// Up to `n` lines describing the Pods that are not ready.
pub(crate) fn not_ready_lines(pods: &[(ObjRef, &Arc<Pod>)], n: usize) -> Vec<String> {
    pods.iter()
        .filter(|(_, p)| pod::is_active(p) && !pod::is_ready(p))
        .take(n)
        .map(|(r, p)| {
            let node = p
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_deref())
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            format!("Pod {}{node}: {}", r.name, pod::describe_state(p))
        })
        .collect()
}

/// Whether the object was read and is absent (so its absence is a fact).
pub(crate) fn known_missing(ctx: &RuleContext, r: &ObjRef) -> bool {
    ctx.store.existence(r) == Existence::Missing
}
