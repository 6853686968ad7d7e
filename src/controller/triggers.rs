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
pub(crate) struct TriggerIndex {
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
    pub(crate) fn watch(&mut self, diagnosis: ObjectRef<Diagnosis>, graph: &ObjectGraph) {
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
    pub(crate) fn forget(&mut self, diagnosis: &ObjectRef<Diagnosis>) {
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
    pub(crate) fn affected(
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
    pub(crate) fn all(&self) -> Vec<ObjectRef<Diagnosis>> {
        self.watched.keys().cloned().collect()
    }

    /// How many Diagnoses are indexed.
    pub(crate) fn len(&self) -> usize {
        self.watched.len()
    }
}

/// Forwards cache changes to the controller as reconcile requests for the Continuous
/// diagnoses they affect, batched by a [`Debouncer`] of `window` (`--debounce-ms`):
/// each affected diagnosis is requested once per batch, and every indexed one when
/// the batch could not keep every change. Returns when the cache or the controller
/// is gone.
pub(crate) async fn forward_changes(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// Worker-1 unreachable: Deployment shop/checkout, its ReplicaSet, Service and
    /// Pods on worker-1 and worker-2.
    fn snapshot() -> Store {
        crate::testing::store(include_str!("../../tests/fixtures/node/unreachable.yaml"))
    }

    fn diagnosis(name: &str) -> ObjectRef<Diagnosis> {
        ObjectRef::new(name).within("kubedx-system")
    }

    fn only(diagnosis: &ObjectRef<Diagnosis>) -> HashSet<ObjectRef<Diagnosis>> {
        HashSet::from([diagnosis.clone()])
    }

    fn deployment() -> ObjRef {
        ObjRef::namespaced(Kind::Deployment, "shop", "checkout")
    }

    /// A Pod of the Deployment, on worker-1.
    fn pod_on_worker_1() -> ObjRef {
        ObjRef::namespaced(Kind::Pod, "shop", "checkout-7b8c9d6f5-b5xk9")
    }

    #[test]
    fn a_change_reruns_the_diagnoses_whose_graph_or_namespace_holds_it() {
        let store = snapshot();
        let graph = ObjectGraph::build(&store, &deployment());
        assert!(graph.nodes.contains_key(&pod_on_worker_1()));
        let checkout = diagnosis("checkout");
        let mut index = TriggerIndex::default();
        index.watch(checkout.clone(), &graph);
        assert_eq!(index.len(), 1);
        assert_eq!(index.affected(&pod_on_worker_1(), None), only(&checkout));
        assert_eq!(index.affected(&deployment(), None), only(&checkout));
        // a new object of the target's namespace may join the graph (selectors, owners)
        let newcomer = ObjRef::namespaced(Kind::ConfigMap, "shop", "checkout-flags");
        assert!(!graph.nodes.contains_key(&newcomer));
        assert_eq!(index.affected(&newcomer, None), only(&checkout));
        // objects of other namespaces, and Nodes outside the graph, re-run nothing
        let elsewhere = ObjRef::namespaced(Kind::ConfigMap, "bank", "checkout-flags");
        assert!(index.affected(&elsewhere, None).is_empty());
        let other_node = ObjRef::cluster(Kind::Node, "cp-1");
        assert!(!graph.nodes.contains_key(&other_node));
        assert!(index.affected(&other_node, None).is_empty());
    }

    #[test]
    fn a_node_diagnosis_reruns_on_the_pods_bound_to_its_node() {
        let store = snapshot();
        let node = ObjRef::cluster(Kind::Node, "worker-2");
        let graph = ObjectGraph::build(&store, &node);
        let worker_2 = diagnosis("worker-2");
        let mut index = TriggerIndex::default();
        index.watch(worker_2.clone(), &graph);
        assert_eq!(index.affected(&node, None), only(&worker_2));
        // a Pod just bound to worker-2 is in no graph yet
        let bound = ObjRef::namespaced(Kind::Pod, "bank", "ledger-0");
        assert!(!graph.nodes.contains_key(&bound));
        assert_eq!(index.affected(&bound, Some("worker-2")), only(&worker_2));
        assert!(index.affected(&bound, Some("cp-1")).is_empty());
        // a Node's diagnosis watches no namespace
        assert!(index.affected(&bound, None).is_empty());
        assert!(index.by_namespace.is_empty());
    }

    #[test]
    fn a_namespace_diagnosis_reruns_on_anything_in_it() {
        let store = snapshot();
        let graph = ObjectGraph::build(&store, &ObjRef::cluster(Kind::Namespace, "shop"));
        let shop = diagnosis("shop");
        let mut index = TriggerIndex::default();
        index.watch(shop.clone(), &graph);
        let newcomer = ObjRef::namespaced(Kind::Secret, "shop", "checkout-tls");
        assert_eq!(index.affected(&newcomer, None), only(&shop));
        let elsewhere = ObjRef::namespaced(Kind::Secret, "bank", "checkout-tls");
        assert!(index.affected(&elsewhere, None).is_empty());
    }

    #[test]
    fn watching_again_replaces_what_a_diagnosis_was_indexed_under() {
        // a Diagnosis whose target changed from the Deployment to Node worker-2
        let store = snapshot();
        let retargeted = diagnosis("retargeted");
        let mut index = TriggerIndex::default();
        index.watch(
            retargeted.clone(),
            &ObjectGraph::build(&store, &deployment()),
        );
        let node_graph = ObjectGraph::build(&store, &ObjRef::cluster(Kind::Node, "worker-2"));
        assert!(!node_graph.nodes.contains_key(&pod_on_worker_1()));
        index.watch(retargeted.clone(), &node_graph);
        assert_eq!(index.len(), 1);
        assert!(index.affected(&pod_on_worker_1(), None).is_empty());
        let newcomer = ObjRef::namespaced(Kind::ConfigMap, "shop", "checkout-flags");
        assert!(index.affected(&newcomer, None).is_empty());
        assert_eq!(
            index.affected(&ObjRef::cluster(Kind::Node, "worker-2"), None),
            only(&retargeted)
        );
    }

    #[test]
    fn forgetting_a_diagnosis_leaves_nothing_of_it_behind() {
        let store = snapshot();
        let checkout = diagnosis("checkout");
        let shop = diagnosis("shop");
        let mut index = TriggerIndex::default();
        index.watch(checkout.clone(), &ObjectGraph::build(&store, &deployment()));
        index.watch(
            shop.clone(),
            &ObjectGraph::build(&store, &ObjRef::cluster(Kind::Namespace, "shop")),
        );
        assert_eq!(
            index.affected(&pod_on_worker_1(), None),
            HashSet::from([checkout.clone(), shop.clone()])
        );
        // deleted: the other Diagnosis still re-runs
        index.forget(&checkout);
        assert_eq!(index.affected(&pod_on_worker_1(), None), only(&shop));
        assert_eq!(index.all(), vec![shop.clone()]);
        index.forget(&shop);
        index.forget(&shop); // forgetting twice is harmless
        assert_eq!(index.len(), 0);
        assert!(index.all().is_empty());
        assert!(index.affected(&pod_on_worker_1(), None).is_empty());
        assert!(index.by_object.is_empty(), "no empty entry is kept");
        assert!(index.by_namespace.is_empty(), "no empty entry is kept");
    }
}
