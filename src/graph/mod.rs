//! The object graph of a target: every object whose state can explain the target's,
//! linked by typed edges. Edges point from the dependent to its dependency
//! (`Ingress -> Service -> Pod -> ConfigMap`), so "what can explain X" is "what X
//! reaches". A reference to an object that does not exist is kept as a node with
//! `exists == Existence::Missing`: that is the broken edge.
//!
//! The walk only follows indexes of the [`Store`] (owner UID, label index, node,
//! claim, service name) or lists one namespace of one kind; it never scans the cluster.
//!
//! A Node is walked down to its Pods when it is the target, or when it shows node
//! pressure (a pressure condition, Pods it evicted for it): then the other Pods bound
//! to it join as context ([`ObjectGraph::neighbours`]), so that a victim's graph
//! reaches the neighbours that may cause its evictions.

pub mod evidence;
pub mod refs;
pub mod webhooks;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::BuildHasher;
use std::rc::Rc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::DynamicObject;

pub use refs::{PodReference, Via, pod_references};

use crate::k8s::classes::{default_storage_class, ingress_class_name};
use crate::k8s::eviction;
use crate::k8s::{owners, pod as pods};
use crate::model::{Kind, ObjRef};
use crate::rules::LogSource;
use crate::selector::Selector;
use crate::store::{FastHash, Object, Store};

/// Bounds of a walk: the graph of a namespace of a large cluster stays small enough
/// to diagnose and to print.
pub const MAX_NODES: usize = 4000;
pub const MAX_DEPTH: u32 = 12;

/// The cluster DNS Service every Pod depends on.
pub const CLUSTER_DNS_NAMESPACE: &str = "kube-system";
pub const CLUSTER_DNS_SERVICE: &str = "kube-dns";

/// How one object depends on another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// owner -> owned (Deployment -> ReplicaSet -> Pod, CronJob -> Job)
    Owns,
    /// Service/PDB -> Pod chosen by a label selector
    Selects,
    /// Service -> EndpointSlice
    Endpoints,
    /// Ingress/HTTPRoute -> backend Service
    Backend,
    /// HTTPRoute -> Gateway
    Parent,
    /// Ingress -> IngressClass, Gateway -> GatewayClass, PVC/PV -> StorageClass
    Class,
    /// Pod -> ConfigMap / Secret (env, envFrom, volume, projected, pull secret, TLS)
    References,
    /// Pod -> ServiceAccount
    ServiceAccount,
    /// Pod -> PersistentVolumeClaim
    Mounts,
    /// PVC -> PersistentVolume
    Binds,
    /// Pod -> Node
    RunsOn,
    /// Pod -> NetworkPolicy selecting it
    Policy,
    /// Pod -> PodDisruptionBudget selecting it
    Budget,
    /// Pod -> the cluster DNS Service
    Dns,
    /// workload -> HorizontalPodAutoscaler scaling it; HPA -> its scale target
    Scales,
    /// StatefulSet -> its governing Service
    Governs,
    /// workload controller -> ResourceQuota of its namespace
    Quota,
    /// Namespace -> the objects it holds (Namespace targets)
    Contains,
    /// Pod -> a Service its evidence names (a probe message, a log line, an env or
    /// ConfigMap value: `evidence`); the detail says where
    Names,
    /// workload controller -> the Validating/MutatingWebhookConfiguration whose
    /// webhook refused or could not admit its Pods (or, when no configuration is in
    /// the input, the Service the failed call went to)
    Admission,
    /// webhook configuration -> the Service its webhook calls (`clientConfig.service`)
    Webhook,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Owns => "owns",
            EdgeKind::Selects => "selects",
            EdgeKind::Endpoints => "endpoints",
            EdgeKind::Backend => "backend",
            EdgeKind::Parent => "parent",
            EdgeKind::Class => "class",
            EdgeKind::References => "references",
            EdgeKind::ServiceAccount => "serviceAccount",
            EdgeKind::Mounts => "mounts",
            EdgeKind::Binds => "binds",
            EdgeKind::RunsOn => "runs on",
            EdgeKind::Policy => "policy",
            EdgeKind::Budget => "budget",
            EdgeKind::Dns => "dns",
            EdgeKind::Scales => "scales",
            EdgeKind::Governs => "governs",
            EdgeKind::Quota => "quota",
            EdgeKind::Contains => "contains",
            EdgeKind::Names => "names",
            EdgeKind::Admission => "admission",
            EdgeKind::Webhook => "webhook",
        }
    }
}

pub use crate::store::Existence;

/// Why an object is in the graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// The target itself.
    Target,
    /// Part of the target's own workload or traffic path (its ReplicaSets, Pods, Services...).
    Member,
    /// Something the members depend on (ConfigMaps, PVCs, Nodes, policies...).
    Dependency,
    /// Context read to explain the rest, not diagnosed for itself (owners above the
    /// target, the cluster DNS and its Pods).
    Context,
}

#[derive(Clone, Debug)]
pub struct GraphNode {
    pub depth: u32,
    pub exists: Existence,
    pub role: Role,
}

/// `from` depends on `to`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edge {
    pub from: ObjRef,
    pub to: ObjRef,
    pub kind: EdgeKind,
    /// The reference may be absent without harm (`optional: true`, a pull secret).
    pub optional: bool,
    /// Where the reference is (`env DB_URL of container app`, `backend /api`, ...).
    pub detail: Option<String>,
}

impl Edge {
    /// `"Service -> Pod"`, as findings name broken edges.
    pub fn label(&self) -> String {
        format!("{} -> {}", self.from.kind.name(), self.to.kind.name())
    }
}

/// The graph of one target.
#[derive(Clone, Debug)]
pub struct ObjectGraph {
    pub target: ObjRef,
    pub nodes: BTreeMap<ObjRef, GraphNode>,
    pub edges: Vec<Edge>,
    /// The walk stopped at [`MAX_NODES`] or [`MAX_DEPTH`].
    pub truncated: bool,
    /// Pods in the graph only because they share a Node under node pressure with
    /// the graph's Pods (context, `RunsOn` that Node): the neighbours that may
    /// cause the pressure.
    pub neighbours: BTreeSet<ObjRef>,
    out: HashMap<ObjRef, Vec<usize>, FastHash>,
    inc: HashMap<ObjRef, Vec<usize>, FastHash>,
}

impl ObjectGraph {
    /// Walks the graph of `target` through the store's indexes.
    pub fn build(store: &Store, target: &ObjRef) -> ObjectGraph {
        ObjectGraph::build_with_logs(store, target, None)
    }

    /// Like [`ObjectGraph::build`], also reading the logs of failing containers for
    /// the Services they name (the `Names` edges).
    pub fn build_with_logs(
        store: &Store,
        target: &ObjRef,
        logs: Option<&dyn LogSource>,
    ) -> ObjectGraph {
        let mut walker = Walker {
            store,
            scanner: evidence::Scanner::new(store, logs),
            beyond: HashSet::default(),
            graph: ObjectGraph {
                target: target.clone(),
                nodes: BTreeMap::new(),
                edges: Vec::new(),
                truncated: false,
                neighbours: BTreeSet::new(),
                out: HashMap::default(),
                inc: HashMap::default(),
            },
            queue: VecDeque::new(),
            edge_hashes: HashSet::default(),
            fronts: BTreeSet::new(),
            pod_selectors: HashMap::new(),
        };
        let exists = if store.contains(target) {
            Existence::Exists
        } else {
            Existence::Missing
        };
        walker.graph.nodes.insert(
            target.clone(),
            GraphNode {
                depth: 0,
                exists,
                role: Role::Target,
            },
        );
        if exists == Existence::Exists {
            walker.owners_above(target, 0);
            walker.queue.push_back(target.clone());
            walker.run();
        }
        walker.graph
    }

    pub fn target_exists(&self) -> bool {
        self.nodes
            .get(&self.target)
            .is_some_and(|n| n.exists == Existence::Exists)
    }

    pub fn contains(&self, object: &ObjRef) -> bool {
        self.nodes.contains_key(object)
    }

    pub fn node(&self, object: &ObjRef) -> Option<&GraphNode> {
        self.nodes.get(object)
    }

    /// Objects of a kind in the graph, optionally only those with a role at most `max_role`
    /// (Target < Member < Dependency < Context).
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = (&ObjRef, &GraphNode)> {
        // ObjRefs order by kind first: the kind's objects are one range of the map
        let first = ObjRef {
            kind,
            namespace: None,
            name: String::new(),
        };
        self.nodes
            .range(first..)
            .take_while(move |(r, _)| r.kind == kind)
    }

    /// Existing objects of a kind that are diagnosed for themselves (not mere context).
    pub fn subjects(&self, kind: Kind) -> impl Iterator<Item = &ObjRef> {
        self.of_kind(kind)
            .filter(|(_, n)| n.exists == Existence::Exists && n.role != Role::Context)
            .map(|(r, _)| r)
    }

    /// Edges leaving `r` (what `r` depends on).
    pub fn dependencies(&self, object: &ObjRef) -> impl Iterator<Item = &Edge> {
        self.out
            .get(object)
            .into_iter()
            .flatten()
            .map(|&i| &self.edges[i])
    }

    /// Edges entering `r` (what depends on `r`).
    pub fn dependents(&self, object: &ObjRef) -> impl Iterator<Item = &Edge> {
        self.inc
            .get(object)
            .into_iter()
            .flatten()
            .map(|&i| &self.edges[i])
    }

    /// Whether `from` reaches `to` along dependency edges (`from` depends on `to`, maybe
    /// through other objects). `from == to` counts.
    pub fn reaches(&self, from: &ObjRef, to: &ObjRef) -> bool {
        if from == to {
            return true;
        }
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(current) = stack.pop() {
            for edge in self.dependencies(current) {
                if &edge.to == to {
                    return true;
                }
                if seen.insert(&edge.to) {
                    stack.push(&edge.to);
                }
            }
        }
        false
    }

    fn edge_between_kind(&self, from: &ObjRef, to: &ObjRef, kind: EdgeKind) -> bool {
        self.dependencies(from)
            .any(|e| &e.to == to && e.kind == kind)
    }

    /// The first edge from `from` to `to`, if they are adjacent.
    pub fn edge_between(&self, from: &ObjRef, to: &ObjRef) -> Option<&Edge> {
        self.dependencies(from).find(|e| &e.to == to)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// The NetworkPolicies or PDBs of one namespace, with their parsed Pod selectors.
type PodSelectors = Rc<Vec<(String, Selector)>>;

struct Walker<'a> {
    store: &'a Store,
    /// The graph being built.
    graph: ObjectGraph,
    queue: VecDeque<ObjRef>,
    /// Hashes of the edges added (from, to, kind): a new edge is told from a
    /// duplicate without cloning its ends; a hash seen before is checked exactly.
    edge_hashes: HashSet<u64, FastHash>,
    /// Per namespace and kind (NetworkPolicy, PodDisruptionBudget), parsed once per walk.
    pod_selectors: HashMap<(Kind, String), PodSelectors>,
    /// Ingresses/HTTPRoutes reached from a Service they front: their other backends
    /// belong to other workloads and are not walked.
    fronts: BTreeSet<ObjRef>,
    /// Finds the Services the Pods' evidence names.
    scanner: evidence::Scanner<'a>,
    /// Objects reached only through a `Names` edge (a named Service, its Pods and
    /// their workloads): walked one hop, their own evidence and fronts are not.
    beyond: HashSet<ObjRef, FastHash>,
}

impl<'a> Walker<'a> {
    fn run(&mut self) {
        while let Some(current) = self.queue.pop_front() {
            let depth = self.graph.nodes[&current].depth;
            if depth >= MAX_DEPTH {
                self.graph.truncated = true;
                continue;
            }
            if self.graph.nodes[&current].role == Role::Context && current.kind != Kind::Service {
                continue;
            }
            let Some(obj) = self.store.object(&current) else {
                continue;
            };
            self.expand(&current, obj, depth);
        }
    }

    /// Adds a node (if new) and the edge `from -> to`. New existing nodes are queued.
    fn link(
        &mut self,
        from: &ObjRef,
        to: ObjRef,
        kind: EdgeKind,
        role: Role,
        optional: bool,
        detail: Option<String>,
    ) {
        let from_depth = self.graph.nodes.get(from).map_or(0, |n| n.depth);
        if !self.graph.nodes.contains_key(&to) {
            if self.graph.nodes.len() >= MAX_NODES {
                self.graph.truncated = true;
                return;
            }
            if self.beyond.contains(from) {
                self.beyond.insert(to.clone());
            }
            let exists = self.store.existence(&to);
            self.graph.nodes.insert(
                to.clone(),
                GraphNode {
                    depth: from_depth + 1,
                    exists,
                    role,
                },
            );
            if exists == Existence::Exists {
                self.queue.push_back(to.clone());
            }
        }
        self.add_edge(from.clone(), to, kind, optional, detail);
    }

    /// Like `link`, for an object that depends on `on` (edge `dependent -> on`).
    fn link_dependent(&mut self, dependent: ObjRef, on: &ObjRef, kind: EdgeKind, role: Role) {
        if !self.graph.nodes.contains_key(&dependent) {
            if self.graph.nodes.len() >= MAX_NODES {
                self.graph.truncated = true;
                return;
            }
            let depth = self.graph.nodes.get(on).map_or(0, |n| n.depth) + 1;
            if self.beyond.contains(on) {
                self.beyond.insert(dependent.clone());
            }
            self.graph.nodes.insert(
                dependent.clone(),
                GraphNode {
                    depth,
                    exists: Existence::Exists,
                    role,
                },
            );
            self.queue.push_back(dependent.clone());
        }
        self.add_edge(dependent, on.clone(), kind, false, None);
    }

    fn add_edge(
        &mut self,
        from: ObjRef,
        to: ObjRef,
        kind: EdgeKind,
        optional: bool,
        detail: Option<String>,
    ) {
        let edge_hash = self.edge_hashes.hasher().hash_one((&from, &to, kind));
        if !self.edge_hashes.insert(edge_hash) && self.graph.edge_between_kind(&from, &to, kind) {
            return;
        }
        let index = self.graph.edges.len();
        match self.graph.out.get_mut(&from) {
            Some(edges) => edges.push(index),
            None => {
                self.graph.out.insert(from.clone(), vec![index]);
            }
        }
        match self.graph.inc.get_mut(&to) {
            Some(edges) => edges.push(index),
            None => {
                self.graph.inc.insert(to.clone(), vec![index]);
            }
        }
        self.graph.edges.push(Edge {
            from,
            to,
            kind,
            optional,
            detail,
        });
    }

    /// Owners of the target (and their owners), as context: they are not walked down.
    fn owners_above(&mut self, object: &ObjRef, depth: u32) {
        let Some(meta) = self.store.object(object).and_then(Object::meta) else {
            return;
        };
        for owner_reference in meta.owner_references.iter().flatten() {
            let owner = match self.store.by_uid(&owner_reference.uid) {
                Some(owner_ref) => owner_ref.clone(),
                None => match Kind::from_api_kind(&owner_reference.kind) {
                    Some(kind) => {
                        ObjRef::new(kind, object.namespace.as_deref(), &owner_reference.name)
                    }
                    None => continue,
                },
            };
            if self.graph.nodes.contains_key(&owner) || depth > 4 {
                continue;
            }
            let exists = if self.store.contains(&owner) {
                Existence::Exists
            } else {
                Existence::Missing
            };
            self.graph.nodes.insert(
                owner.clone(),
                GraphNode {
                    depth: 1,
                    exists,
                    role: Role::Context,
                },
            );
            self.add_edge(owner.clone(), object.clone(), EdgeKind::Owns, false, None);
            self.owners_above(&owner, depth + 1);
        }
    }

    fn role_for_members(&self, object: &ObjRef) -> Role {
        if self.beyond.contains(object) {
            return Role::Dependency;
        }
        match self.graph.nodes.get(object).map(|n| n.role) {
            Some(Role::Context) => Role::Context,
            _ => Role::Member,
        }
    }

    fn expand(&mut self, object_ref: &ObjRef, obj: &'a Object, _depth: u32) {
        let ns = object_ref.ns().to_owned();
        let member = self.role_for_members(object_ref);
        match obj {
            Object::Deployment(_)
            | Object::ReplicaSet(_)
            | Object::StatefulSet(_)
            | Object::DaemonSet(_)
            | Object::Job(_)
            | Object::CronJob(_) => {
                if let Some(uid) = obj.meta().and_then(|m| m.uid.clone()) {
                    let owned: Vec<ObjRef> = self.store.owned_by(&uid).cloned().collect();
                    for owned_ref in owned {
                        self.link(object_ref, owned_ref, EdgeKind::Owns, member, false, None);
                    }
                }
                if matches!(obj, Object::Deployment(_) | Object::StatefulSet(_)) {
                    self.scalers(object_ref, &ns);
                }
                if !matches!(obj, Object::Deployment(_) | Object::CronJob(_)) {
                    // controllers that create Pods are subject to the namespace's quotas
                    let quotas: Vec<ObjRef> = self
                        .store
                        .list::<ResourceQuota>(&ns)
                        .filter_map(|q| q.metadata.name.clone())
                        .map(|n| ObjRef::namespaced(Kind::ResourceQuota, &ns, &n))
                        .collect();
                    for quota_ref in quotas {
                        self.link(
                            object_ref,
                            quota_ref,
                            EdgeKind::Quota,
                            Role::Dependency,
                            false,
                            None,
                        );
                    }
                }
                if let Object::StatefulSet(sts) = obj {
                    self.governing_service(object_ref, sts);
                }
                if self.beyond.contains(object_ref) {
                    // a named Service's workload: up to its controller (RS -> Deployment)
                    self.controller_above(object_ref);
                }
                if !matches!(obj, Object::Deployment(_) | Object::CronJob(_)) {
                    self.admission_webhooks(object_ref);
                }
            }
            Object::Pod(pod) => self.expand_pod(object_ref, pod, member),
            Object::Service(svc) => self.expand_service(object_ref, svc, member),
            Object::Ingress(ingress) => self.expand_ingress(object_ref, ingress, member),
            Object::HttpRoute(route) => self.expand_route(object_ref, route, member),
            Object::Gateway(gw) => {
                if let Some(class) = gw
                    .data
                    .pointer("/spec/gatewayClassName")
                    .and_then(|v| v.as_str())
                {
                    let to = ObjRef::cluster(Kind::GatewayClass, class);
                    self.link(
                        object_ref,
                        to,
                        EdgeKind::Class,
                        Role::Dependency,
                        false,
                        None,
                    );
                }
            }
            Object::PersistentVolumeClaim(claim) => self.expand_claim(object_ref, claim),
            Object::PersistentVolume(pv) => {
                if let Some(sc) = pv
                    .spec
                    .as_ref()
                    .and_then(|s| s.storage_class_name.as_deref())
                    .filter(|s| !s.is_empty())
                {
                    let to = ObjRef::cluster(Kind::StorageClass, sc);
                    self.link(
                        object_ref,
                        to,
                        EdgeKind::Class,
                        Role::Dependency,
                        false,
                        None,
                    );
                }
            }
            Object::Node(_) if object_ref == &self.graph.target => {
                let pods: Vec<ObjRef> =
                    self.store.pods_on_node(&object_ref.name).cloned().collect();
                for pod_ref in pods {
                    // the Pods on a Node are context: a Node diagnosis is about the Node and what
                    // it affects, not about problems of the Pods' own making
                    self.link_dependent(pod_ref, object_ref, EdgeKind::RunsOn, Role::Context);
                }
            }
            Object::Node(_) if eviction::pressure_evidence(self.store, &object_ref.name) => {
                // a Node the graph's Pods run (or ran) on, under node pressure: the other
                // Pods bound to it are context, the neighbours that may cause it
                let pods: Vec<ObjRef> = self
                    .store
                    .pods_on_node(&object_ref.name)
                    .filter(|pod_ref| !self.graph.nodes.contains_key(*pod_ref))
                    .cloned()
                    .collect();
                for pod_ref in pods {
                    self.graph.neighbours.insert(pod_ref.clone());
                    self.link_dependent(pod_ref, object_ref, EdgeKind::RunsOn, Role::Context);
                }
            }
            Object::Namespace(_) if object_ref == &self.graph.target => {
                self.expand_namespace(object_ref)
            }
            Object::HorizontalPodAutoscaler(hpa) => {
                let scale_target = &hpa.spec.scale_target_ref;
                {
                    if let Some(kind) = Kind::from_api_kind(&scale_target.kind) {
                        let to = ObjRef::new(kind, Some(&ns), &scale_target.name);
                        if !self.graph.nodes.contains_key(&to) {
                            self.link(
                                object_ref,
                                to,
                                EdgeKind::Scales,
                                Role::Dependency,
                                false,
                                None,
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn scalers(&mut self, workload: &ObjRef, ns: &str) {
        let hpas: Vec<ObjRef> = self
            .store
            .list::<HorizontalPodAutoscaler>(ns)
            .filter(|hpa| {
                hpa.spec.scale_target_ref.kind == workload.kind.name()
                    && hpa.spec.scale_target_ref.name == workload.name
            })
            .filter_map(|h| h.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::HorizontalPodAutoscaler, ns, &n))
            .collect();
        for hpa_ref in hpas {
            self.link(
                workload,
                hpa_ref,
                EdgeKind::Scales,
                Role::Dependency,
                false,
                None,
            );
        }
    }

    /// The webhook configurations whose webhooks refused the controller's Pods (named
    /// by its FailedCreate events or ReplicaFailure condition), and for a webhook that
    /// could not be called, the Service it calls: the backend whose own findings say why.
    fn admission_webhooks(&mut self, controller: &ObjRef) {
        for (name, named) in webhooks::refusing_webhooks(self.store, controller) {
            let detail = Some(format!("webhook {name}"));
            let entries = webhooks::webhooks_named(self.store, &name);
            for entry in &entries {
                self.link(
                    controller,
                    entry.configuration.clone(),
                    EdgeKind::Admission,
                    Role::Dependency,
                    false,
                    detail.clone(),
                );
                if let Some(backend) = entry.service.as_ref().filter(|_| !named.denied) {
                    self.link(
                        &entry.configuration,
                        backend.service.clone(),
                        EdgeKind::Webhook,
                        Role::Dependency,
                        false,
                        detail.clone(),
                    );
                }
            }
            if entries.is_empty()
                && !named.denied
                && let Some((svc, ns)) = webhooks::service_in_message(&named.detail)
            {
                self.link(
                    controller,
                    ObjRef::namespaced(Kind::Service, &ns, &svc),
                    EdgeKind::Admission,
                    Role::Dependency,
                    false,
                    detail,
                );
            }
        }
    }

    fn governing_service(&mut self, sts_ref: &ObjRef, sts: &StatefulSet) {
        if let Some(svc) = sts
            .spec
            .service_name
            .as_deref()
            .filter(|name| !name.is_empty())
        {
            let to = ObjRef::namespaced(Kind::Service, sts_ref.ns(), svc);
            self.link(
                sts_ref,
                to,
                EdgeKind::Governs,
                Role::Dependency,
                false,
                None,
            );
        }
    }

    fn expand_pod(&mut self, pod_ref: &ObjRef, pod: &Pod, member: Role) {
        let ns = pod_ref.ns().to_owned();
        let Some(spec) = &pod.spec else { return };
        let dep_role = if member == Role::Context {
            Role::Context
        } else {
            Role::Dependency
        };
        if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
            self.link(
                pod_ref,
                ObjRef::cluster(Kind::Node, node),
                EdgeKind::RunsOn,
                dep_role,
                false,
                None,
            );
        }
        if member == Role::Context {
            return;
        }
        let beyond = self.beyond.contains(pod_ref);
        if beyond {
            self.controller_above(pod_ref);
        } else {
            self.named_services(pod_ref, pod);
        }
        for pr in pod_references(spec) {
            let kind = match pr.kind {
                Kind::PersistentVolumeClaim => EdgeKind::Mounts,
                Kind::ServiceAccount => EdgeKind::ServiceAccount,
                _ => EdgeKind::References,
            };
            if pr.key.is_some() {
                // key references share the edge of their object; the rules read keys
                continue;
            }
            self.link(
                pod_ref,
                ObjRef::namespaced(pr.kind, &ns, pr.name),
                kind,
                Role::Dependency,
                pr.optional,
                Some(pr.via.to_string()),
            );
        }
        let labels = pod.metadata.labels.as_ref();
        // NetworkPolicies and PDBs that select the Pod: their selectors are parsed once
        // per namespace and walk.
        let policies: Vec<ObjRef> = self
            .pod_selectors_of(Kind::NetworkPolicy, &ns)
            .iter()
            .filter(|(_, sel)| sel.matches(labels))
            .map(|(n, _)| ObjRef::namespaced(Kind::NetworkPolicy, &ns, n))
            .collect();
        for np in policies {
            self.link(pod_ref, np, EdgeKind::Policy, Role::Dependency, false, None);
        }
        let pdbs: Vec<ObjRef> = self
            .pod_selectors_of(Kind::PodDisruptionBudget, &ns)
            .iter()
            .filter(|(_, sel)| sel.matches(labels))
            .map(|(n, _)| ObjRef::namespaced(Kind::PodDisruptionBudget, &ns, n))
            .collect();
        for pdb_ref in pdbs {
            self.link(
                pod_ref,
                pdb_ref,
                EdgeKind::Budget,
                Role::Dependency,
                false,
                None,
            );
        }
        // Services that select the Pod depend on it (found through the store's index
        // of Service selectors, in name order). Not for a named Service's Pods: their
        // other Services are not the target's.
        let services: Vec<ObjRef> = if beyond {
            Vec::new()
        } else {
            self.store
                .services_selecting(&ns, labels)
                .into_iter()
                .filter_map(|s| s.metadata.name.as_deref())
                .map(|n| ObjRef::namespaced(Kind::Service, &ns, n))
                .collect()
        };
        for svc_ref in services {
            self.link_dependent(svc_ref, pod_ref, EdgeKind::Selects, Role::Member);
        }
        // Every Pod resolves names through the cluster DNS.
        let dns = ObjRef::namespaced(Kind::Service, CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE);
        if pod_ref.ns() != CLUSTER_DNS_NAMESPACE || !self.graph.nodes.contains_key(&dns) {
            let dns_policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
            let host_net = spec.host_network.unwrap_or(false);
            let uses_cluster_dns = match dns_policy {
                "ClusterFirst" => !host_net,
                "ClusterFirstWithHostNet" => true,
                _ => false,
            };
            if uses_cluster_dns && self.store.contains(&dns) {
                self.link(pod_ref, dns, EdgeKind::Dns, Role::Context, false, None);
            }
        }
    }

    /// `Pod -> Service` for each Service the Pod's evidence names; a Service new to
    /// the graph is walked one hop only (`beyond`).
    fn named_services(&mut self, pod_ref: &ObjRef, pod: &Pod) {
        let mentions = self.scanner.pod_mentions(pod_ref, pod);
        for mention in mentions {
            let new = !self.graph.nodes.contains_key(&mention.service);
            let service = mention.service.clone();
            self.link(
                pod_ref,
                mention.service,
                EdgeKind::Names,
                Role::Dependency,
                false,
                Some(mention.source.to_string()),
            );
            if new && self.graph.nodes.contains_key(&service) {
                self.beyond.insert(service);
            }
        }
    }

    /// The controller of an object reached beyond a named Service (a Pod's
    /// ReplicaSet, a ReplicaSet's Deployment), so the workload's own findings are seen.
    fn controller_above(&mut self, object_ref: &ObjRef) {
        let Some(meta) = self.store.object(object_ref).and_then(Object::meta) else {
            return;
        };
        let Some(owner) = owners::controller_in_store(self.store, meta) else {
            return;
        };
        if self.graph.nodes.contains_key(&owner) {
            return;
        }
        self.link_dependent(owner, object_ref, EdgeKind::Owns, Role::Dependency);
    }

    /// A named Service that selects no Pod: the workloads whose Pod template it
    /// matches (scaled to zero, or unable to create Pods) are what explain it.
    fn template_matches(&mut self, svc_ref: &ObjRef, sel: &Selector) {
        let ns = svc_ref.ns().to_owned();
        if sel.matches_nothing() || !self.store.select_pods(&ns, sel).is_empty() {
            return;
        }
        let workloads: Vec<ObjRef> = self
            .store
            .template_matches(&ns, sel)
            .into_iter()
            .map(|(workload, _)| workload)
            .collect();
        for workload in workloads {
            self.link(
                svc_ref,
                workload,
                EdgeKind::Selects,
                Role::Dependency,
                false,
                Some("Pod template".to_owned()),
            );
        }
    }

    /// The NetworkPolicies or PodDisruptionBudgets of a namespace with their Pod
    /// selectors, in name order, parsed once per walk.
    fn pod_selectors_of(&mut self, kind: Kind, ns: &str) -> PodSelectors {
        if let Some(cached) = self.pod_selectors.get(&(kind, ns.to_owned())) {
            return cached.clone();
        }
        let parsed: Vec<(String, Selector)> = match kind {
            Kind::NetworkPolicy => self
                .store
                .list::<NetworkPolicy>(ns)
                .filter_map(|np| {
                    let sel = np.spec.as_ref().and_then(|s| s.pod_selector.as_ref());
                    Some((
                        np.metadata.name.clone()?,
                        Selector::from_label_selector(sel),
                    ))
                })
                .collect(),
            _ => self
                .store
                .list::<PodDisruptionBudget>(ns)
                .filter_map(|pdb| {
                    let sel = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
                    Some((
                        pdb.metadata.name.clone()?,
                        Selector::from_label_selector(sel),
                    ))
                })
                .collect(),
        };
        let shared = Rc::new(parsed);
        self.pod_selectors
            .insert((kind, ns.to_owned()), shared.clone());
        shared
    }

    fn expand_service(&mut self, svc_ref: &ObjRef, service: &Service, member: Role) {
        let ns = svc_ref.ns().to_owned();
        let beyond = self.beyond.contains(svc_ref);
        if beyond && serving(self.store, svc_ref, service) {
            // a named Service that serves explains nothing: not walked
            return;
        }
        let sel = Selector::from_service_selector(
            service
                .spec
                .as_ref()
                .and_then(|spec| spec.selector.as_ref()),
        );
        let pods: Vec<ObjRef> = self
            .store
            .select_pods(&ns, &sel)
            .into_iter()
            .filter_map(|p| p.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::Pod, &ns, &n))
            .collect();
        for pod_ref in pods {
            self.link(svc_ref, pod_ref, EdgeKind::Selects, member, false, None);
        }
        let slices: Vec<ObjRef> = self
            .store
            .endpoint_slices(&ns, &svc_ref.name)
            .filter_map(|e| e.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::EndpointSlice, &ns, &n))
            .collect();
        for slice_ref in slices {
            self.link(svc_ref, slice_ref, EdgeKind::Endpoints, member, false, None);
        }
        if beyond {
            self.template_matches(svc_ref, &sel);
            return;
        }
        if member == Role::Context {
            return;
        }
        // What fronts the Service: Ingresses and HTTPRoutes of its namespace.
        let ingresses: Vec<ObjRef> = self
            .store
            .list::<Ingress>(&ns)
            .filter(|ingress| {
                ingress_backends(ingress)
                    .iter()
                    .any(|(svc, _, _)| svc == &svc_ref.name)
            })
            .filter_map(|i| i.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::Ingress, &ns, &n))
            .collect();
        for ingress_ref in ingresses {
            self.fronts.insert(ingress_ref.clone());
            self.link_dependent(ingress_ref, svc_ref, EdgeKind::Backend, Role::Member);
        }
        let routes: Vec<ObjRef> = self
            .store
            .list_objects(Kind::HttpRoute, &ns)
            .filter_map(|(_, o)| match o {
                Object::HttpRoute(h) => Some(h),
                _ => None,
            })
            .filter(|route| {
                route_backends(route).iter().any(|(bns, svc, _)| {
                    svc == &svc_ref.name && bns.as_deref().unwrap_or(&ns) == ns
                })
            })
            .filter_map(|h| h.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::HttpRoute, &ns, &n))
            .collect();
        for route_ref in routes {
            self.fronts.insert(route_ref.clone());
            self.link_dependent(route_ref, svc_ref, EdgeKind::Backend, Role::Member);
        }
    }

    fn expand_ingress(&mut self, ingress_ref: &ObjRef, ingress: &Ingress, member: Role) {
        let ns = ingress_ref.ns().to_owned();
        if let Some(class) = ingress_class_name(self.store, ingress) {
            self.link(
                ingress_ref,
                ObjRef::cluster(Kind::IngressClass, &class),
                EdgeKind::Class,
                Role::Dependency,
                false,
                None,
            );
        }
        for (svc, port, path) in ingress_backends(ingress) {
            let to = ObjRef::namespaced(Kind::Service, &ns, &svc);
            if self.fronts.contains(ingress_ref) && !self.graph.nodes.contains_key(&to) {
                continue;
            }
            self.link(
                ingress_ref,
                to,
                EdgeKind::Backend,
                member,
                false,
                Some(format!("{path} -> {svc}:{port}")),
            );
        }
        for tls in ingress.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
            if let Some(secret) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) {
                self.link(
                    ingress_ref,
                    ObjRef::namespaced(Kind::Secret, &ns, secret),
                    EdgeKind::References,
                    Role::Dependency,
                    false,
                    Some("tls".to_owned()),
                );
            }
        }
    }

    fn expand_route(&mut self, route_ref: &ObjRef, route: &DynamicObject, member: Role) {
        let ns = route_ref.ns().to_owned();
        for parent in route
            .data
            .pointer("/spec/parentRefs")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let kind = parent
                .get("kind")
                .and_then(|v| v.as_str())
                .unwrap_or("Gateway");
            if kind != "Gateway" {
                continue;
            }
            let Some(name) = parent.get("name").and_then(|v| v.as_str()) else {
                continue;
            };
            let pns = parent
                .get("namespace")
                .and_then(|v| v.as_str())
                .unwrap_or(&ns);
            self.link(
                route_ref,
                ObjRef::namespaced(Kind::Gateway, pns, name),
                EdgeKind::Parent,
                Role::Dependency,
                false,
                None,
            );
        }
        for (bns, svc, port) in route_backends(route) {
            let bns = bns.unwrap_or_else(|| ns.clone());
            let to = ObjRef::namespaced(Kind::Service, &bns, &svc);
            if self.fronts.contains(route_ref) && !self.graph.nodes.contains_key(&to) {
                continue;
            }
            self.link(
                route_ref,
                to,
                EdgeKind::Backend,
                member,
                false,
                port.map(|number| format!("port {number}")),
            );
        }
    }

    fn expand_claim(&mut self, claim_ref: &ObjRef, claim: &PersistentVolumeClaim) {
        let ns = claim_ref.ns().to_owned();
        let spec = claim.spec.as_ref();
        if let Some(pv) = spec
            .and_then(|s| s.volume_name.as_deref())
            .filter(|s| !s.is_empty())
        {
            self.link(
                claim_ref,
                ObjRef::cluster(Kind::PersistentVolume, pv),
                EdgeKind::Binds,
                Role::Dependency,
                false,
                None,
            );
        }
        let class = match spec.and_then(|s| s.storage_class_name.clone()) {
            Some(class) => Some(class).filter(|class| !class.is_empty()),
            None => default_storage_class(self.store),
        };
        if let Some(class) = class {
            self.link(
                claim_ref,
                ObjRef::cluster(Kind::StorageClass, &class),
                EdgeKind::Class,
                Role::Dependency,
                false,
                None,
            );
        }
        if claim_ref == &self.graph.target {
            let users: Vec<ObjRef> = self
                .store
                .pods_using_claim(&ns, &claim_ref.name)
                .filter_map(|p| p.metadata.name.clone())
                .map(|n| ObjRef::namespaced(Kind::Pod, &ns, &n))
                .collect();
            for pod_ref in users {
                self.link_dependent(pod_ref, claim_ref, EdgeKind::Mounts, Role::Member);
            }
        }
    }

    fn expand_namespace(&mut self, ns_ref: &ObjRef) {
        let ns = ns_ref.name.clone();
        let mut members: Vec<ObjRef> = Vec::new();
        for kind in [
            Kind::Deployment,
            Kind::StatefulSet,
            Kind::DaemonSet,
            Kind::CronJob,
            Kind::Job,
            Kind::ReplicaSet,
            Kind::Pod,
            Kind::Service,
            Kind::Ingress,
            Kind::HttpRoute,
            Kind::PersistentVolumeClaim,
            Kind::HorizontalPodAutoscaler,
            Kind::ResourceQuota,
            Kind::NetworkPolicy,
        ] {
            for (_, object) in self.store.list_objects(kind, &ns) {
                let Some(meta) = object.meta() else { continue };
                // owned objects are reached through their owners
                let has_owner = meta
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|owner| owner.controller == Some(true));
                if has_owner && matches!(kind, Kind::Job | Kind::ReplicaSet | Kind::Pod) {
                    continue;
                }
                if let Some(name) = &meta.name {
                    members.push(ObjRef::namespaced(kind, &ns, name));
                }
            }
        }
        for member_ref in members {
            self.link(
                ns_ref,
                member_ref,
                EdgeKind::Contains,
                Role::Member,
                false,
                None,
            );
        }
    }
}

/// Whether a Service serves: an EndpointSlice lists a ready endpoint, or (without
/// slices) a selected Pod is ready. ExternalName Services count as serving.
fn serving(store: &Store, svc_ref: &ObjRef, service: &Service) -> bool {
    let spec = service.spec.as_ref();
    if spec.and_then(|s| s.type_.as_deref()) == Some("ExternalName") {
        return true;
    }
    let ns = svc_ref.ns();
    let mut slices = store.endpoint_slices(ns, &svc_ref.name).peekable();
    let has_slices = slices.peek().is_some();
    let ready_endpoint = slices.any(|slice| {
        slice
            .endpoints
            .iter()
            .flatten()
            .any(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
    });
    if ready_endpoint {
        return true;
    }
    let sel = Selector::from_service_selector(spec.and_then(|s| s.selector.as_ref()));
    if sel.matches_nothing() {
        // endpoints managed by hand: the slices are all there is
        return !has_slices;
    }
    let publish_not_ready = spec.and_then(|s| s.publish_not_ready_addresses) == Some(true);
    store
        .select_pods(ns, &sel)
        .into_iter()
        .filter(|p| !pods::is_terminal(p))
        .any(|p| publish_not_ready || (!has_slices && pods::is_ready(p)))
}

/// The backends of an Ingress: (service, port as written, path).
pub fn ingress_backends(ingress: &Ingress) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Some(spec) = &ingress.spec else {
        return out;
    };
    let port_of =
        |written: Option<&k8s_openapi::api::networking::v1::ServiceBackendPort>| match written {
            Some(port) => port
                .name
                .clone()
                .or_else(|| port.number.map(|n| n.to_string()))
                .unwrap_or_default(),
            None => String::new(),
        };
    if let Some(svc) = spec
        .default_backend
        .as_ref()
        .and_then(|b| b.service.as_ref())
    {
        out.push((
            svc.name.clone(),
            port_of(svc.port.as_ref()),
            "default backend".to_owned(),
        ));
    }
    for rule in spec.rules.iter().flatten() {
        let host = rule.host.clone().unwrap_or_else(|| "*".to_owned());
        for path in rule.http.iter().flat_map(|h| h.paths.iter()) {
            if let Some(svc) = &path.backend.service {
                out.push((
                    svc.name.clone(),
                    port_of(svc.port.as_ref()),
                    format!("{host}{}", path.path.as_deref().unwrap_or("/")),
                ));
            }
        }
    }
    out
}

/// The backendRefs of an HTTPRoute: (namespace, service, port).
pub fn route_backends(route: &DynamicObject) -> Vec<(Option<String>, String, Option<i64>)> {
    let mut out = Vec::new();
    for rule in route
        .data
        .pointer("/spec/rules")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        for backend in rule
            .get("backendRefs")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let kind = backend
                .get("kind")
                .and_then(|v| v.as_str())
                .unwrap_or("Service");
            let group = backend.get("group").and_then(|v| v.as_str()).unwrap_or("");
            if kind != "Service" || !group.is_empty() {
                continue;
            }
            let Some(name) = backend.get("name").and_then(|v| v.as_str()) else {
                continue;
            };
            out.push((
                backend
                    .get("namespace")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                name.to_owned(),
                backend.get("port").and_then(|v| v.as_i64()),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::store_from_str;

    const TWO_BACKENDS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {containers: [{name: app, image: web:1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-1, namespace: shop, labels: {app: cart}}
spec: {containers: [{name: app, image: cart:1}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {selector: {app: cart}, ports: [{port: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
  - http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /cart, pathType: Prefix, backend: {service: {name: cart, port: {number: 80}}}}
"#;

    #[test]
    fn an_ingress_in_front_is_in_the_graph_but_not_its_other_backends() {
        let store = store_from_str(TWO_BACKENDS).unwrap();
        let graph = ObjectGraph::build(&store, &ObjRef::namespaced(Kind::Pod, "shop", "web-1"));
        let ing = ObjRef::namespaced(Kind::Ingress, "shop", "shop");
        assert!(graph.contains(&ing));
        assert!(graph.contains(&ObjRef::namespaced(Kind::Service, "shop", "web")));
        assert!(!graph.contains(&ObjRef::namespaced(Kind::Service, "shop", "cart")));
        assert!(!graph.contains(&ObjRef::namespaced(Kind::Pod, "shop", "cart-1")));
        // from the Ingress itself, every backend is walked
        let graph = ObjectGraph::build(&store, &ing);
        assert!(graph.contains(&ObjRef::namespaced(Kind::Pod, "shop", "cart-1")));
        assert!(graph.contains(&ObjRef::namespaced(Kind::Pod, "shop", "web-1")));
        assert!(graph.reaches(&ing, &ObjRef::namespaced(Kind::Pod, "shop", "web-1")));
    }
}
