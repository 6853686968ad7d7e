//! Ownership: which controller made an object, which workload a person edits to
//! change its Pods, and the Pod template that workload creates Pods from.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::{Kind, ObjRef};
use crate::store::Store;

/// The controller owning an object (its ownerReference with `controller: true`), by
/// UID when the store holds it, else by the reference's kind and name.
pub fn controller_of(store: &Store, meta: &ObjectMeta) -> Option<ObjRef> {
    let o = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))?;
    if let Some(r) = store.by_uid(&o.uid) {
        return Some(r.clone());
    }
    let kind = Kind::from_api_kind(&o.kind)?;
    Some(ObjRef::new(kind, meta.namespace.as_deref(), &o.name))
}

/// The controller owning an object, when the store holds that controller.
pub fn controller_in_store(store: &Store, meta: &ObjectMeta) -> Option<ObjRef> {
    controller_of(store, meta).filter(|r| store.contains(r))
}

/// The object whose template made `r`, the one a person edits: a Pod's Deployment
/// (through its ReplicaSet), CronJob (through its Job), StatefulSet, DaemonSet; a
/// ReplicaSet's Deployment; else the object itself.
pub fn top_owner(store: &Store, r: &ObjRef) -> ObjRef {
    let mut cur = r.clone();
    for _ in 0..4 {
        let Some(meta) = store.object(&cur).and_then(|o| o.meta()) else {
            break;
        };
        match controller_of(store, meta) {
            Some(o)
                if matches!(
                    o.kind,
                    Kind::ReplicaSet
                        | Kind::Deployment
                        | Kind::StatefulSet
                        | Kind::DaemonSet
                        | Kind::Job
                        | Kind::CronJob
                ) =>
            {
                cur = o
            }
            _ => break,
        }
    }
    cur
}

/// The Pod spec a workload creates Pods from (a bare Pod's own spec).
pub fn template_spec<'s>(store: &'s Store, r: &ObjRef) -> Option<&'s PodSpec> {
    match r.kind {
        Kind::Pod => store.get_ref::<Pod>(r)?.spec.as_ref(),
        Kind::Deployment => store.get_ref::<Deployment>(r)?.spec.template.spec.as_ref(),
        Kind::StatefulSet => store.get_ref::<StatefulSet>(r)?.spec.template.spec.as_ref(),
        Kind::DaemonSet => store.get_ref::<DaemonSet>(r)?.spec.template.spec.as_ref(),
        Kind::ReplicaSet => store
            .get_ref::<ReplicaSet>(r)?
            .spec
            .template
            .as_ref()?
            .spec
            .as_ref(),
        Kind::Job => store
            .get_ref::<Job>(r)?
            .spec
            .as_ref()?
            .template
            .spec
            .as_ref(),
        Kind::CronJob => store
            .get_ref::<CronJob>(r)?
            .spec
            .job_template
            .spec
            .as_ref()?
            .template
            .spec
            .as_ref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::store_from_str;

    #[test]
    fn pods_belong_to_the_workload_a_person_edits() {
        let s = store_from_str(
            r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: d1}
spec: {selector: {matchLabels: {app: web}}, template: {spec: {containers: [{name: app, image: web:2}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web-1, namespace: shop, uid: r1, ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]}
spec: {selector: {matchLabels: {app: web}}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1-a, namespace: shop, ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: r1, controller: true}]}
spec: {containers: [{name: app, image: web:1}]}
"#,
        )
        .unwrap();
        let pod = ObjRef::namespaced(Kind::Pod, "shop", "web-1-a");
        let dep = ObjRef::namespaced(Kind::Deployment, "shop", "web");
        assert_eq!(top_owner(&s, &pod), dep);
        assert_eq!(
            top_owner(&s, &ObjRef::namespaced(Kind::ReplicaSet, "shop", "web-1")),
            dep
        );
        assert_eq!(
            template_spec(&s, &dep).unwrap().containers[0]
                .image
                .as_deref(),
            Some("web:2")
        );
        let meta = &s.get_ref::<Pod>(&pod).unwrap().metadata;
        assert_eq!(
            controller_of(&s, meta),
            Some(ObjRef::namespaced(Kind::ReplicaSet, "shop", "web-1"))
        );
    }
}
