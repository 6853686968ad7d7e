//! Which Continuous diagnoses a change of the cluster re-runs.
//!
//! After each run a Continuous `Diagnosis` is indexed under the objects of its graph
//! and under its target's namespace ([`TriggerIndex`]); [`forward_changes`] turns the
//! cache's stream of changed objects, batched by the [`debounce`](super::debounce)
//! window, into one reconcile request per affected Diagnosis.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::ObjectRef;
use tokio::sync::mpsc;

use crate::api::Diagnosis;
use crate::graph::ObjectGraph;
use crate::model::{Kind, ObjRef};

use super::cache::Cache;
use super::debounce::{Batch, Debouncer};

/// What one Diagnosis is indexed under, so that forgetting it removes every entry.
struct Watched {
    /// The objects of its last graph.
    objects: Vec<ObjRef>,
    /// Its target's namespace (none for a Node target).
    namespace: Option<String>,
}

/// Which Continuous diagnoses to re-run when an object changes: those whose last
/// graph held it, and those whose target namespace holds it (new objects join graphs
/// through selectors and owners). A Pod's change also re-runs the diagnoses whose
/// graph holds its Node.
#[derive(Default)]
pub struct TriggerIndex {
    /// The Diagnoses whose last graph held each object.
    by_object: HashMap<ObjRef, HashSet<ObjectRef<Diagnosis>>>,
    /// The Diagnoses whose target lies in (or is) each namespace.
    by_namespace: HashMap<String, HashSet<ObjectRef<Diagnosis>>>,
    /// What each indexed Diagnosis is indexed under.
    watched: HashMap<ObjectRef<Diagnosis>, Watched>,
}

impl TriggerIndex {
    /// Indexes `diagnosis` under the objects of `graph` and its target's namespace,
    /// replacing what it was indexed under before.
    pub fn watch(&mut self, diagnosis: ObjectRef<Diagnosis>, graph: &ObjectGraph) {
        self.forget(&diagnosis);
        let objects: Vec<ObjRef> = graph.nodes.keys().cloned().collect();
        let namespace = match graph.target.kind {
            Kind::Namespace => Some(graph.target.name.clone()),
            Kind::Node => None,
            _ => Some(graph.target.ns().to_owned()),
        };
        for object in &objects {
            self.by_object
                .entry(object.clone())
                .or_default()
                .insert(diagnosis.clone());
        }
        if let Some(namespace) = &namespace {
            self.by_namespace
                .entry(namespace.clone())
                .or_default()
                .insert(diagnosis.clone());
        }
        self.watched
            .insert(diagnosis, Watched { objects, namespace });
    }

    /// Removes every entry of `diagnosis` (deleted, refused, or no longer Continuous).
    pub fn forget(&mut self, diagnosis: &ObjectRef<Diagnosis>) {
        let Some(watched) = self.watched.remove(diagnosis) else {
            return;
        };
        for object in watched.objects {
            if let Some(diagnoses) = self.by_object.get_mut(&object) {
                diagnoses.remove(diagnosis);
                if diagnoses.is_empty() {
                    self.by_object.remove(&object);
                }
            }
        }
        if let Some(namespace) = watched.namespace
            && let Some(diagnoses) = self.by_namespace.get_mut(&namespace)
        {
            diagnoses.remove(diagnosis);
            if diagnoses.is_empty() {
                self.by_namespace.remove(&namespace);
            }
        }
    }

    /// The diagnoses a change of `changed` re-runs; `node_of_pod` is the Node a
    /// changed Pod is bound to.
    pub fn affected(
        &self,
        changed: &ObjRef,
        node_of_pod: Option<&str>,
    ) -> HashSet<ObjectRef<Diagnosis>> {
        let mut out: HashSet<ObjectRef<Diagnosis>> =
            self.by_object.get(changed).cloned().unwrap_or_default();
        if let Some(namespace) = &changed.namespace
            && let Some(diagnoses) = self.by_namespace.get(namespace)
        {
            out.extend(diagnoses.iter().cloned());
        }
        if let Some(node) = node_of_pod
            && let Some(diagnoses) = self.by_object.get(&ObjRef::cluster(Kind::Node, node))
        {
            out.extend(diagnoses.iter().cloned());
        }
        out
    }

    /// Every indexed Diagnosis.
    pub fn all(&self) -> Vec<ObjectRef<Diagnosis>> {
        self.watched.keys().cloned().collect()
    }

    /// How many Diagnoses are indexed.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// Whether no Diagnosis is indexed.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }
}

/// Forwards cache changes to the controller as reconcile requests for the Continuous
/// diagnoses they affect, batched by a [`Debouncer`] of `window` (`--debounce-ms`):
/// each affected diagnosis is requested once per batch, and every indexed one when
/// the batch could not keep every change. Returns when the cache or the controller
/// is gone.
pub async fn forward_changes(
    cache: Cache,
    triggers: Arc<Mutex<TriggerIndex>>,
    requests: mpsc::Sender<ObjectRef<Diagnosis>>,
    window: Duration,
) {
    let mut debouncer = Debouncer::new(cache.subscribe(), window);
    while let Some(batch) = debouncer.next_batch().await {
        let affected: HashSet<ObjectRef<Diagnosis>> = match batch {
            Batch::Everything => triggers.lock().expect("lock").all().into_iter().collect(),
            Batch::Changed(changed) => {
                let nodes = nodes_of_pods(&cache, &changed);
                let triggers = triggers.lock().expect("lock");
                changed
                    .iter()
                    .zip(&nodes)
                    .flat_map(|(object, node)| triggers.affected(object, node.as_deref()))
                    .collect()
            }
        };
        for diagnosis in affected {
            if requests.send(diagnosis).await.is_err() {
                return;
            }
        }
    }
}

/// For each of `changed` (in its iteration order), the Node it is bound to if it is
/// a cached Pod.
fn nodes_of_pods(cache: &Cache, changed: &HashSet<ObjRef>) -> Vec<Option<String>> {
    let store = cache.store.read().expect("lock");
    changed
        .iter()
        .map(|object| {
            (object.kind == Kind::Pod)
                .then(|| {
                    store
                        .get_ref::<Pod>(object)
                        .and_then(|pod| pod.spec.as_ref().and_then(|s| s.node_name.clone()))
                })
                .flatten()
        })
        .collect()
}
