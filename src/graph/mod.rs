//! The object graph of a target: every object whose state can explain the target's,
//! linked by typed edges. Edges point from the dependent to its dependency
//! (`Ingress -> Service -> Pod -> ConfigMap`), so "what can explain X" is "what X
//! reaches". A reference to an object that does not exist is kept as a node with
//! `exists == Existence::Missing`: that is the broken edge.
//!
//! The walk only follows indexes of the [`Store`] (owner UID, label index, node,
//! claim, service name) or lists one namespace of one kind; it never scans the cluster.

pub mod refs;

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
use crate::model::{Kind, ObjRef};
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
    out: HashMap<ObjRef, Vec<usize>, FastHash>,
    inc: HashMap<ObjRef, Vec<usize>, FastHash>,
}

impl ObjectGraph {
    /// Walks the graph of `target` through the store's indexes.
    pub fn build(store: &Store, target: &ObjRef) -> ObjectGraph {
        let mut w = Walker {
            store,
            g: ObjectGraph {
                target: target.clone(),
                nodes: BTreeMap::new(),
                edges: Vec::new(),
                truncated: false,
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
        w.g.nodes.insert(
            target.clone(),
            GraphNode {
                depth: 0,
                exists,
                role: Role::Target,
            },
        );
        if exists == Existence::Exists {
            w.owners_above(target, 0);
            w.queue.push_back(target.clone());
            w.run();
        }
        w.g
    }

    pub fn target_exists(&self) -> bool {
        self.nodes
            .get(&self.target)
            .is_some_and(|n| n.exists == Existence::Exists)
    }

    pub fn contains(&self, r: &ObjRef) -> bool {
        self.nodes.contains_key(r)
    }

    pub fn node(&self, r: &ObjRef) -> Option<&GraphNode> {
        self.nodes.get(r)
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
    pub fn dependencies(&self, r: &ObjRef) -> impl Iterator<Item = &Edge> {
        self.out
            .get(r)
            .into_iter()
            .flatten()
            .map(|&i| &self.edges[i])
    }

    /// Edges entering `r` (what depends on `r`).
    pub fn dependents(&self, r: &ObjRef) -> impl Iterator<Item = &Edge> {
        self.inc
            .get(r)
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
        while let Some(r) = stack.pop() {
            for e in self.dependencies(r) {
                if &e.to == to {
                    return true;
                }
                if seen.insert(&e.to) {
                    stack.push(&e.to);
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
    g: ObjectGraph,
    queue: VecDeque<ObjRef>,
    /// Hashes of the edges added (from, to, kind): a new edge is told from a
    /// duplicate without cloning its ends; a hash seen before is checked exactly.
    edge_hashes: HashSet<u64, FastHash>,
    /// Per namespace and kind (NetworkPolicy, PodDisruptionBudget), parsed once per walk.
    pod_selectors: HashMap<(Kind, String), PodSelectors>,
    /// Ingresses/HTTPRoutes reached from a Service they front: their other backends
    /// belong to other workloads and are not walked.
    fronts: BTreeSet<ObjRef>,
}

impl<'a> Walker<'a> {
    fn run(&mut self) {
        while let Some(r) = self.queue.pop_front() {
            let depth = self.g.nodes[&r].depth;
            if depth >= MAX_DEPTH {
                self.g.truncated = true;
                continue;
            }
            if self.g.nodes[&r].role == Role::Context && r.kind != Kind::Service {
                continue;
            }
            let Some(obj) = self.store.object(&r) else {
                continue;
            };
            self.expand(&r, obj, depth);
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
        let from_depth = self.g.nodes.get(from).map_or(0, |n| n.depth);
        if !self.g.nodes.contains_key(&to) {
            if self.g.nodes.len() >= MAX_NODES {
                self.g.truncated = true;
                return;
            }
            let exists = self.store.existence(&to);
            self.g.nodes.insert(
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
        if !self.g.nodes.contains_key(&dependent) {
            if self.g.nodes.len() >= MAX_NODES {
                self.g.truncated = true;
                return;
            }
            let depth = self.g.nodes.get(on).map_or(0, |n| n.depth) + 1;
            self.g.nodes.insert(
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
        if !self.edge_hashes.insert(edge_hash) && self.g.edge_between_kind(&from, &to, kind) {
            return;
        }
        let i = self.g.edges.len();
        match self.g.out.get_mut(&from) {
            Some(v) => v.push(i),
            None => {
                self.g.out.insert(from.clone(), vec![i]);
            }
        }
        match self.g.inc.get_mut(&to) {
            Some(v) => v.push(i),
            None => {
                self.g.inc.insert(to.clone(), vec![i]);
            }
        }
        self.g.edges.push(Edge {
            from,
            to,
            kind,
            optional,
            detail,
        });
    }

    /// Owners of the target (and their owners), as context: they are not walked down.
    fn owners_above(&mut self, r: &ObjRef, depth: u32) {
        let Some(meta) = self.store.object(r).and_then(Object::meta) else {
            return;
        };
        for o in meta.owner_references.iter().flatten() {
            let owner = match self.store.by_uid(&o.uid) {
                Some(x) => x.clone(),
                None => match Kind::from_api_kind(&o.kind) {
                    Some(k) => ObjRef::new(k, r.namespace.as_deref(), &o.name),
                    None => continue,
                },
            };
            if self.g.nodes.contains_key(&owner) || depth > 4 {
                continue;
            }
            let exists = if self.store.contains(&owner) {
                Existence::Exists
            } else {
                Existence::Missing
            };
            self.g.nodes.insert(
                owner.clone(),
                GraphNode {
                    depth: 1,
                    exists,
                    role: Role::Context,
                },
            );
            self.add_edge(owner.clone(), r.clone(), EdgeKind::Owns, false, None);
            self.owners_above(&owner, depth + 1);
        }
    }

    fn role_for_members(&self, r: &ObjRef) -> Role {
        match self.g.nodes.get(r).map(|n| n.role) {
            Some(Role::Context) => Role::Context,
            _ => Role::Member,
        }
    }

    fn expand(&mut self, r: &ObjRef, obj: &'a Object, _depth: u32) {
        let ns = r.ns().to_owned();
        let member = self.role_for_members(r);
        match obj {
            Object::Deployment(_)
            | Object::ReplicaSet(_)
            | Object::StatefulSet(_)
            | Object::DaemonSet(_)
            | Object::Job(_)
            | Object::CronJob(_) => {
                if let Some(uid) = obj.meta().and_then(|m| m.uid.clone()) {
                    let owned: Vec<ObjRef> = self.store.owned_by(&uid).cloned().collect();
                    for o in owned {
                        self.link(r, o, EdgeKind::Owns, member, false, None);
                    }
                }
                if matches!(obj, Object::Deployment(_) | Object::StatefulSet(_)) {
                    self.scalers(r, &ns);
                }
                if !matches!(obj, Object::Deployment(_) | Object::CronJob(_)) {
                    // controllers that create Pods are subject to the namespace's quotas
                    let quotas: Vec<ObjRef> = self
                        .store
                        .list::<ResourceQuota>(&ns)
                        .filter_map(|q| q.metadata.name.clone())
                        .map(|n| ObjRef::namespaced(Kind::ResourceQuota, &ns, &n))
                        .collect();
                    for q in quotas {
                        self.link(r, q, EdgeKind::Quota, Role::Dependency, false, None);
                    }
                }
                if let Object::StatefulSet(s) = obj {
                    self.governing_service(r, s);
                }
            }
            Object::Pod(p) => self.expand_pod(r, p, member),
            Object::Service(s) => self.expand_service(r, s, member),
            Object::Ingress(i) => self.expand_ingress(r, i, member),
            Object::HttpRoute(h) => self.expand_route(r, h, member),
            Object::Gateway(gw) => {
                if let Some(class) = gw
                    .data
                    .pointer("/spec/gatewayClassName")
                    .and_then(|v| v.as_str())
                {
                    let to = ObjRef::cluster(Kind::GatewayClass, class);
                    self.link(r, to, EdgeKind::Class, Role::Dependency, false, None);
                }
            }
            Object::PersistentVolumeClaim(c) => self.expand_claim(r, c),
            Object::PersistentVolume(pv) => {
                if let Some(sc) = pv
                    .spec
                    .as_ref()
                    .and_then(|s| s.storage_class_name.as_deref())
                    .filter(|s| !s.is_empty())
                {
                    let to = ObjRef::cluster(Kind::StorageClass, sc);
                    self.link(r, to, EdgeKind::Class, Role::Dependency, false, None);
                }
            }
            Object::Node(_) if r == &self.g.target => {
                let pods: Vec<ObjRef> = self.store.pods_on_node(&r.name).cloned().collect();
                for p in pods {
                    // the Pods on a Node are context: a Node diagnosis is about the Node and what
                    // it affects, not about problems of the Pods' own making
                    self.link_dependent(p, r, EdgeKind::RunsOn, Role::Context);
                }
            }
            Object::Namespace(_) if r == &self.g.target => self.expand_namespace(r),
            Object::HorizontalPodAutoscaler(h) => {
                let t = &h.spec.scale_target_ref;
                {
                    if let Some(k) = Kind::from_api_kind(&t.kind) {
                        let to = ObjRef::new(k, Some(&ns), &t.name);
                        if !self.g.nodes.contains_key(&to) {
                            self.link(r, to, EdgeKind::Scales, Role::Dependency, false, None);
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn scalers(&mut self, r: &ObjRef, ns: &str) {
        let hpas: Vec<ObjRef> = self
            .store
            .list::<HorizontalPodAutoscaler>(ns)
            .filter(|h| {
                h.spec.scale_target_ref.kind == r.kind.name()
                    && h.spec.scale_target_ref.name == r.name
            })
            .filter_map(|h| h.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::HorizontalPodAutoscaler, ns, &n))
            .collect();
        for h in hpas {
            self.link(r, h, EdgeKind::Scales, Role::Dependency, false, None);
        }
    }

    fn governing_service(&mut self, r: &ObjRef, s: &StatefulSet) {
        if let Some(svc) = s.spec.service_name.as_deref().filter(|s| !s.is_empty()) {
            let to = ObjRef::namespaced(Kind::Service, r.ns(), svc);
            self.link(r, to, EdgeKind::Governs, Role::Dependency, false, None);
        }
    }

    fn expand_pod(&mut self, r: &ObjRef, p: &Pod, member: Role) {
        let ns = r.ns().to_owned();
        let Some(spec) = &p.spec else { return };
        let dep_role = if member == Role::Context {
            Role::Context
        } else {
            Role::Dependency
        };
        if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
            self.link(
                r,
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
                r,
                ObjRef::namespaced(pr.kind, &ns, pr.name),
                kind,
                Role::Dependency,
                pr.optional,
                Some(pr.via.to_string()),
            );
        }
        let labels = p.metadata.labels.as_ref();
        // NetworkPolicies and PDBs that select the Pod: their selectors are parsed once
        // per namespace and walk.
        let policies: Vec<ObjRef> = self
            .pod_selectors_of(Kind::NetworkPolicy, &ns)
            .iter()
            .filter(|(_, sel)| sel.matches(labels))
            .map(|(n, _)| ObjRef::namespaced(Kind::NetworkPolicy, &ns, n))
            .collect();
        for np in policies {
            self.link(r, np, EdgeKind::Policy, Role::Dependency, false, None);
        }
        let pdbs: Vec<ObjRef> = self
            .pod_selectors_of(Kind::PodDisruptionBudget, &ns)
            .iter()
            .filter(|(_, sel)| sel.matches(labels))
            .map(|(n, _)| ObjRef::namespaced(Kind::PodDisruptionBudget, &ns, n))
            .collect();
        for b in pdbs {
            self.link(r, b, EdgeKind::Budget, Role::Dependency, false, None);
        }
        // Services that select the Pod depend on it (found through the store's index
        // of Service selectors, in name order).
        let services: Vec<ObjRef> = self
            .store
            .services_selecting(&ns, labels)
            .into_iter()
            .filter_map(|s| s.metadata.name.as_deref())
            .map(|n| ObjRef::namespaced(Kind::Service, &ns, n))
            .collect();
        for s in services {
            self.link_dependent(s, r, EdgeKind::Selects, Role::Member);
        }
        // Every Pod resolves names through the cluster DNS.
        let dns = ObjRef::namespaced(Kind::Service, CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE);
        if r.ns() != CLUSTER_DNS_NAMESPACE || !self.g.nodes.contains_key(&dns) {
            let dns_policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
            let host_net = spec.host_network.unwrap_or(false);
            let uses_cluster_dns = match dns_policy {
                "ClusterFirst" => !host_net,
                "ClusterFirstWithHostNet" => true,
                _ => false,
            };
            if uses_cluster_dns && self.store.contains(&dns) {
                self.link(r, dns, EdgeKind::Dns, Role::Context, false, None);
            }
        }
    }

    /// The NetworkPolicies or PodDisruptionBudgets of a namespace with their Pod
    /// selectors, in name order, parsed once per walk.
    fn pod_selectors_of(&mut self, kind: Kind, ns: &str) -> PodSelectors {
        if let Some(v) = self.pod_selectors.get(&(kind, ns.to_owned())) {
            return v.clone();
        }
        let v: Vec<(String, Selector)> = match kind {
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
                .filter_map(|b| {
                    let sel = b.spec.as_ref().and_then(|s| s.selector.as_ref());
                    Some((b.metadata.name.clone()?, Selector::from_label_selector(sel)))
                })
                .collect(),
        };
        let v = Rc::new(v);
        self.pod_selectors.insert((kind, ns.to_owned()), v.clone());
        v
    }

    fn expand_service(&mut self, r: &ObjRef, s: &Service, member: Role) {
        let ns = r.ns().to_owned();
        let sel =
            Selector::from_service_selector(s.spec.as_ref().and_then(|s| s.selector.as_ref()));
        let pods: Vec<ObjRef> = self
            .store
            .select_pods(&ns, &sel)
            .into_iter()
            .filter_map(|p| p.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::Pod, &ns, &n))
            .collect();
        for p in pods {
            self.link(r, p, EdgeKind::Selects, member, false, None);
        }
        let slices: Vec<ObjRef> = self
            .store
            .endpoint_slices(&ns, &r.name)
            .filter_map(|e| e.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::EndpointSlice, &ns, &n))
            .collect();
        for e in slices {
            self.link(r, e, EdgeKind::Endpoints, member, false, None);
        }
        if member == Role::Context {
            return;
        }
        // What fronts the Service: Ingresses and HTTPRoutes of its namespace.
        let ingresses: Vec<ObjRef> = self
            .store
            .list::<Ingress>(&ns)
            .filter(|i| ingress_backends(i).iter().any(|(svc, _, _)| svc == &r.name))
            .filter_map(|i| i.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::Ingress, &ns, &n))
            .collect();
        for i in ingresses {
            self.fronts.insert(i.clone());
            self.link_dependent(i, r, EdgeKind::Backend, Role::Member);
        }
        let routes: Vec<ObjRef> = self
            .store
            .list_objects(Kind::HttpRoute, &ns)
            .filter_map(|(_, o)| match o {
                Object::HttpRoute(h) => Some(h),
                _ => None,
            })
            .filter(|h| {
                route_backends(h)
                    .iter()
                    .any(|(bns, svc, _)| svc == &r.name && bns.as_deref().unwrap_or(&ns) == ns)
            })
            .filter_map(|h| h.metadata.name.clone())
            .map(|n| ObjRef::namespaced(Kind::HttpRoute, &ns, &n))
            .collect();
        for h in routes {
            self.fronts.insert(h.clone());
            self.link_dependent(h, r, EdgeKind::Backend, Role::Member);
        }
    }

    fn expand_ingress(&mut self, r: &ObjRef, i: &Ingress, member: Role) {
        let ns = r.ns().to_owned();
        if let Some(class) = ingress_class_name(self.store, i) {
            self.link(
                r,
                ObjRef::cluster(Kind::IngressClass, &class),
                EdgeKind::Class,
                Role::Dependency,
                false,
                None,
            );
        }
        for (svc, port, path) in ingress_backends(i) {
            let to = ObjRef::namespaced(Kind::Service, &ns, &svc);
            if self.fronts.contains(r) && !self.g.nodes.contains_key(&to) {
                continue;
            }
            self.link(
                r,
                to,
                EdgeKind::Backend,
                member,
                false,
                Some(format!("{path} -> {svc}:{port}")),
            );
        }
        for tls in i.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
            if let Some(secret) = tls.secret_name.as_deref().filter(|s| !s.is_empty()) {
                self.link(
                    r,
                    ObjRef::namespaced(Kind::Secret, &ns, secret),
                    EdgeKind::References,
                    Role::Dependency,
                    false,
                    Some("tls".to_owned()),
                );
            }
        }
    }

    fn expand_route(&mut self, r: &ObjRef, h: &DynamicObject, member: Role) {
        let ns = r.ns().to_owned();
        for p in h
            .data
            .pointer("/spec/parentRefs")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let kind = p.get("kind").and_then(|v| v.as_str()).unwrap_or("Gateway");
            if kind != "Gateway" {
                continue;
            }
            let Some(name) = p.get("name").and_then(|v| v.as_str()) else {
                continue;
            };
            let pns = p.get("namespace").and_then(|v| v.as_str()).unwrap_or(&ns);
            self.link(
                r,
                ObjRef::namespaced(Kind::Gateway, pns, name),
                EdgeKind::Parent,
                Role::Dependency,
                false,
                None,
            );
        }
        for (bns, svc, port) in route_backends(h) {
            let bns = bns.unwrap_or_else(|| ns.clone());
            let to = ObjRef::namespaced(Kind::Service, &bns, &svc);
            if self.fronts.contains(r) && !self.g.nodes.contains_key(&to) {
                continue;
            }
            self.link(
                r,
                to,
                EdgeKind::Backend,
                member,
                false,
                port.map(|p| format!("port {p}")),
            );
        }
    }

    fn expand_claim(&mut self, r: &ObjRef, c: &PersistentVolumeClaim) {
        let ns = r.ns().to_owned();
        let spec = c.spec.as_ref();
        if let Some(pv) = spec
            .and_then(|s| s.volume_name.as_deref())
            .filter(|s| !s.is_empty())
        {
            self.link(
                r,
                ObjRef::cluster(Kind::PersistentVolume, pv),
                EdgeKind::Binds,
                Role::Dependency,
                false,
                None,
            );
        }
        let class = match spec.and_then(|s| s.storage_class_name.clone()) {
            Some(c) => Some(c).filter(|c| !c.is_empty()),
            None => default_storage_class(self.store),
        };
        if let Some(class) = class {
            self.link(
                r,
                ObjRef::cluster(Kind::StorageClass, &class),
                EdgeKind::Class,
                Role::Dependency,
                false,
                None,
            );
        }
        if r == &self.g.target {
            let users: Vec<ObjRef> = self
                .store
                .pods_using_claim(&ns, &r.name)
                .filter_map(|p| p.metadata.name.clone())
                .map(|n| ObjRef::namespaced(Kind::Pod, &ns, &n))
                .collect();
            for p in users {
                self.link_dependent(p, r, EdgeKind::Mounts, Role::Member);
            }
        }
    }

    fn expand_namespace(&mut self, r: &ObjRef) {
        let ns = r.name.clone();
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
            for (_, o) in self.store.list_objects(kind, &ns) {
                let Some(meta) = o.meta() else { continue };
                // owned objects are reached through their owners
                let has_owner = meta
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.controller == Some(true));
                if has_owner && matches!(kind, Kind::Job | Kind::ReplicaSet | Kind::Pod) {
                    continue;
                }
                if let Some(n) = &meta.name {
                    members.push(ObjRef::namespaced(kind, &ns, n));
                }
            }
        }
        for m in members {
            self.link(r, m, EdgeKind::Contains, Role::Member, false, None);
        }
    }
}

/// The backends of an Ingress: (service, port as written, path).
pub fn ingress_backends(i: &Ingress) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let Some(spec) = &i.spec else { return out };
    let port_of = |p: Option<&k8s_openapi::api::networking::v1::ServiceBackendPort>| match p {
        Some(p) => p
            .name
            .clone()
            .or_else(|| p.number.map(|n| n.to_string()))
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
        for p in rule.http.iter().flat_map(|h| h.paths.iter()) {
            if let Some(svc) = &p.backend.service {
                out.push((
                    svc.name.clone(),
                    port_of(svc.port.as_ref()),
                    format!("{host}{}", p.path.as_deref().unwrap_or("/")),
                ));
            }
        }
    }
    out
}

/// The backendRefs of an HTTPRoute: (namespace, service, port).
pub fn route_backends(h: &DynamicObject) -> Vec<(Option<String>, String, Option<i64>)> {
    let mut out = Vec::new();
    for rule in h
        .data
        .pointer("/spec/rules")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        for b in rule
            .get("backendRefs")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
        {
            let kind = b.get("kind").and_then(|v| v.as_str()).unwrap_or("Service");
            let group = b.get("group").and_then(|v| v.as_str()).unwrap_or("");
            if kind != "Service" || !group.is_empty() {
                continue;
            }
            let Some(name) = b.get("name").and_then(|v| v.as_str()) else {
                continue;
            };
            out.push((
                b.get("namespace")
                    .and_then(|v| v.as_str())
                    .map(str::to_owned),
                name.to_owned(),
                b.get("port").and_then(|v| v.as_i64()),
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
        let g = ObjectGraph::build(&store, &ObjRef::namespaced(Kind::Pod, "shop", "web-1"));
        let ing = ObjRef::namespaced(Kind::Ingress, "shop", "shop");
        assert!(g.contains(&ing));
        assert!(g.contains(&ObjRef::namespaced(Kind::Service, "shop", "web")));
        assert!(!g.contains(&ObjRef::namespaced(Kind::Service, "shop", "cart")));
        assert!(!g.contains(&ObjRef::namespaced(Kind::Pod, "shop", "cart-1")));
        // from the Ingress itself, every backend is walked
        let g = ObjectGraph::build(&store, &ing);
        assert!(g.contains(&ObjRef::namespaced(Kind::Pod, "shop", "cart-1")));
        assert!(g.contains(&ObjRef::namespaced(Kind::Pod, "shop", "web-1")));
        assert!(g.reaches(&ing, &ObjRef::namespaced(Kind::Pod, "shop", "web-1")));
    }
}
