//! The revisions of a workload's Pod template: a Deployment's ReplicaSets (by
//! `deployment.kubernetes.io/revision`), a StatefulSet's or DaemonSet's
//! ControllerRevisions (by `revision`), oldest first, each with what can be said of
//! its health.

use std::borrow::Cow;
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{ControllerRevision, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::{Kind, ObjRef};
use crate::store::Store;

/// The annotation the Deployment controller numbers a Deployment's ReplicaSets with.
pub const DEPLOYMENT_REVISION: &str = "deployment.kubernetes.io/revision";

/// The label the StatefulSet and DaemonSet controllers put on a Pod: the revision it runs.
const REVISION_HASH: &str = "controller-revision-hash";

/// What the cluster says of a revision's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Its Pods run and are all available.
    Healthy,
    /// Its Pods do not all run well (why).
    Unhealthy(String),
    /// Nothing runs it any more (scaled to zero, superseded), so the cluster cannot tell.
    Unknown(String),
}

/// One revision of a workload.
#[derive(Clone, Debug)]
pub struct Revision<'s> {
    /// Its ReplicaSet or ControllerRevision.
    pub object: ObjRef,
    /// Its number; 0 when the annotation is missing or not a number (such revisions
    /// order by creation time).
    pub number: i64,
    /// When it was created.
    pub created: Option<Timestamp>,
    /// Its Pod template.
    pub template: Cow<'s, PodTemplateSpec>,
    /// What the cluster says of its health.
    pub health: Health,
}

/// The revisions of a Deployment, StatefulSet or DaemonSet, oldest first: by number,
/// or by creation time when one has no number. Other kinds have none.
pub fn of_workload<'s>(store: &'s Store, workload: &ObjRef) -> Vec<Revision<'s>> {
    let Some(uid) = store
        .object(workload)
        .and_then(|object| object.meta())
        .and_then(|meta| meta.uid.as_deref())
    else {
        return Vec::new();
    };
    let mut revisions: Vec<Revision<'s>> = match workload.kind {
        Kind::Deployment => owned::<ReplicaSet>(store, uid)
            .filter_map(|(object, replica_set)| replica_set_revision(store, object, replica_set))
            .collect(),
        Kind::StatefulSet | Kind::DaemonSet => {
            let pods: Vec<&Arc<Pod>> = owned::<Pod>(store, uid).map(|(_, pod)| pod).collect();
            owned::<ControllerRevision>(store, uid)
                .filter_map(|(object, revision)| {
                    controller_revision(workload, object, revision, &pods)
                })
                .collect()
        }
        _ => Vec::new(),
    };
    if revisions.iter().all(|revision| revision.number > 0) {
        revisions.sort_by(|a, b| a.number.cmp(&b.number).then(a.object.cmp(&b.object)));
    } else {
        // a revision without a number: creation order is all there is
        revisions.sort_by(|a, b| a.created.cmp(&b.created).then(a.object.cmp(&b.object)));
    }
    revisions
}

/// The objects of kind `T` a controller with `owner_uid` owns (controller reference).
fn owned<'s, T: crate::store::Stored + HasMeta + 's>(
    store: &'s Store,
    owner_uid: &'s str,
) -> impl Iterator<Item = (ObjRef, &'s Arc<T>)> + 's {
    store
        .owned_by(owner_uid)
        .filter(|object| object.kind == T::KIND)
        .filter_map(move |object| {
            store
                .get_ref::<T>(object)
                .map(|item| (object.clone(), item))
        })
        .filter(move |(_, item)| {
            item.meta()
                .owner_references
                .iter()
                .flatten()
                .any(|owner| owner.uid == owner_uid && owner.controller == Some(true))
        })
}

/// Objects with metadata.
trait HasMeta {
    fn meta(&self) -> &ObjectMeta;
}

impl HasMeta for ReplicaSet {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl HasMeta for ControllerRevision {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl HasMeta for Pod {
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

fn replica_set_revision<'s>(
    store: &'s Store,
    object: ObjRef,
    replica_set: &'s ReplicaSet,
) -> Option<Revision<'s>> {
    let template = replica_set.spec.template.as_ref()?;
    let number = replica_set
        .metadata
        .annotations
        .as_ref()
        .and_then(|annotations| annotations.get(DEPLOYMENT_REVISION))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    Some(Revision {
        health: replica_set_health(store, &object, replica_set, number),
        object,
        number,
        created: replica_set
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0),
        template: Cow::Borrowed(template),
    })
}

/// A ReplicaSet is healthy when it runs Pods and all are available, none crash-looping.
fn replica_set_health(
    store: &Store,
    object: &ObjRef,
    replica_set: &ReplicaSet,
    number: i64,
) -> Health {
    let desired = replica_set.spec.replicas.unwrap_or(1);
    let status = replica_set.status.as_ref();
    let current = status.map_or(0, |status| status.replicas);
    let available = status
        .and_then(|status| status.available_replicas)
        .unwrap_or(0);
    if desired == 0 || current == 0 {
        return Health::Unknown(format!(
            "revision {number} ({}) is scaled to 0, so its health cannot be read from the cluster",
            object.name
        ));
    }
    let crash_looping = replica_set
        .metadata
        .uid
        .as_deref()
        .map(|uid| owned::<Pod>(store, uid).any(|(_, pod)| crash_looping(pod)))
        .unwrap_or(false);
    if available >= desired && available > 0 && !crash_looping {
        Health::Healthy
    } else {
        Health::Unhealthy(format!(
            "revision {number} ({}) has {available} of {desired} Pods available",
            object.name
        ))
    }
}

fn crash_looping(pod: &Pod) -> bool {
    pod.status
        .iter()
        .flat_map(|status| status.container_statuses.iter().flatten())
        .any(|container| {
            container
                .state
                .as_ref()
                .and_then(|state| state.waiting.as_ref())
                .and_then(|waiting| waiting.reason.as_deref())
                == Some("CrashLoopBackOff")
        })
}

fn controller_revision<'s>(
    workload: &ObjRef,
    object: ObjRef,
    revision: &ControllerRevision,
    pods: &[&Arc<Pod>],
) -> Option<Revision<'s>> {
    // the controllers store `{"spec": {"template": {...}, "$patch": "replace"}}`
    let template: PodTemplateSpec =
        serde_json::from_value(revision.data.0.get("spec")?.get("template")?.clone()).ok()?;
    let number = revision.revision.unwrap_or(0);
    let running: Vec<&&Arc<Pod>> = pods
        .iter()
        .filter(|pod| {
            pod.metadata
                .labels
                .as_ref()
                .and_then(|labels| labels.get(REVISION_HASH))
                .is_some_and(|hash| {
                    // a StatefulSet's Pods carry the revision's name, a DaemonSet's its hash
                    *hash == object.name || object.name.ends_with(&format!("-{hash}"))
                })
        })
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .collect();
    let health = if running.is_empty() {
        Health::Unknown(format!(
            "no Pod of {} runs revision {number} ({}), so its health cannot be read from the cluster",
            workload.short(),
            object.name
        ))
    } else {
        let ready = running
            .iter()
            .filter(|pod| crate::k8s::pod::is_ready(pod) && !crash_looping(pod))
            .count();
        if ready == running.len() {
            Health::Healthy
        } else {
            Health::Unhealthy(format!(
                "revision {number} ({}) has {ready} of {} Pods ready",
                object.name,
                running.len()
            ))
        }
    };
    Some(Revision {
        object,
        number,
        created: revision.metadata.creation_timestamp.as_ref().map(|t| t.0),
        template: Cow::Owned(template),
        health,
    })
}

/// Whether the workload kind keeps revisions this module reads.
pub fn has_revisions(kind: Kind) -> bool {
    matches!(kind, Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet)
}

/// `kubectl rollout undo KIND/NAME -n NS --to-revision=N`.
pub fn rollback_command(workload: &ObjRef, revision: i64) -> String {
    format!(
        "kubectl rollout undo {}{} --to-revision={revision}",
        workload.kubectl(),
        workload.ns_flag()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::store_from_str;

    const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: d1}
spec: {selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: "web:2"}]}}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-new
  namespace: shop
  uid: rs2
  creationTimestamp: "2026-03-12T14:00:00Z"
  annotations: {deployment.kubernetes.io/revision: "10"}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
spec: {replicas: 1, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: "web:2"}]}}}
status: {replicas: 1, availableReplicas: 0}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-old
  namespace: shop
  uid: rs1
  creationTimestamp: "2026-03-10T14:00:00Z"
  annotations: {deployment.kubernetes.io/revision: "9"}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
spec: {replicas: 2, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: "web:1"}]}}}
status: {replicas: 2, availableReplicas: 2}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-odd
  namespace: shop
  uid: rs0
  creationTimestamp: "2026-03-01T14:00:00Z"
  annotations: {deployment.kubernetes.io/revision: "not-a-number"}
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
spec: {replicas: 0, template: {metadata: {labels: {app: web}}, spec: {containers: [{name: app, image: "web:0"}]}}}
"#;

    #[test]
    fn replica_sets_are_revisions_and_without_numbers_order_by_creation() {
        let store = store_from_str(DEPLOYMENT).unwrap();
        let revisions = of_workload(&store, &ObjRef::namespaced(Kind::Deployment, "shop", "web"));
        let names: Vec<(&str, i64)> = revisions
            .iter()
            .map(|revision| (revision.object.name.as_str(), revision.number))
            .collect();
        assert_eq!(names, [("web-odd", 0), ("web-old", 9), ("web-new", 10)]);
        assert!(matches!(revisions[0].health, Health::Unknown(_)));
        assert_eq!(revisions[1].health, Health::Healthy);
        assert!(matches!(&revisions[2].health, Health::Unhealthy(why) if why.contains("0 of 1")));
        assert_eq!(
            rollback_command(&ObjRef::namespaced(Kind::Deployment, "shop", "web"), 9),
            "kubectl rollout undo deployment/web -n shop --to-revision=9"
        );
    }

    #[test]
    fn controller_revisions_carry_the_template_and_the_pods_that_run_them() {
        let yaml = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: shop, uid: s1}
spec: {serviceName: db, selector: {matchLabels: {app: db}}, template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: "db:2"}]}}}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata: {name: db-5d8f, namespace: shop, creationTimestamp: "2026-03-10T14:00:00Z",
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: s1, controller: true}]}
revision: 1
data: {spec: {template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: "db:1"}]}}, $patch: replace}}
---
apiVersion: apps/v1
kind: ControllerRevision
metadata: {name: db-7c9a, namespace: shop, creationTimestamp: "2026-03-12T14:00:00Z",
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: s1, controller: true}]}
revision: 2
data: {spec: {template: {metadata: {labels: {app: db}}, spec: {containers: [{name: db, image: "db:2"}]}}, $patch: replace}}
---
apiVersion: v1
kind: Pod
metadata: {name: db-0, namespace: shop, labels: {app: db, controller-revision-hash: db-7c9a},
  ownerReferences: [{apiVersion: apps/v1, kind: StatefulSet, name: db, uid: s1, controller: true}]}
spec: {containers: [{name: db, image: "db:2"}]}
status: {phase: Running, conditions: [{type: Ready, status: "False"}]}
"#;
        let store = store_from_str(yaml).unwrap();
        let revisions = of_workload(&store, &ObjRef::namespaced(Kind::StatefulSet, "shop", "db"));
        assert_eq!(revisions.len(), 2);
        assert_eq!(revisions[1].number, 2);
        assert_eq!(
            revisions[1].template.spec.as_ref().unwrap().containers[0]
                .image
                .as_deref(),
            Some("db:2")
        );
        assert!(matches!(revisions[0].health, Health::Unknown(_)));
        assert!(matches!(&revisions[1].health, Health::Unhealthy(why) if why.contains("0 of 1")));
    }
}
