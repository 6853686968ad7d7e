//! The indexed object store: every object the engine reads, indexed so that walking
//! an edge of the object graph never scans the whole cluster.
//!
//! Indexes: by kind, then namespace (hashed), then name (ordered), by UID, by
//! owner UID, by Pod labels (for selector matching), Pods by Node, Pods by the PVCs
//! they mount, EndpointSlices by Service, and Events by the object they are about.
//! The store is filled by the snapshot loader, and later by watch reflectors
//! ([`Store::apply`] / [`Store::delete`] keep every index consistent).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::changes::journal::Journal;
use crate::event::EventRecord;
use crate::kinds::kind_table;
use crate::model::{Kind, ObjRef};
use crate::selector::Selector;

/// Why an object could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object has no kind")]
    MissingKind,
    #[error("{kind} object has no metadata.name")]
    MissingName { kind: String },
    #[error("{kind} {name}: {source}")]
    Decode {
        kind: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Typed access to stored objects: `store.get::<Pod>(ns, name)`.
pub trait Stored: Sized {
    /// The kind objects of this type are.
    const KIND: Kind;
    /// The object, if `stored` is one of this type.
    fn from_object(stored: &Object) -> Option<&Arc<Self>>;
    /// Wraps the object for storing.
    fn into_object(self: Arc<Self>) -> Object;
}

/// Generates [`Object`] and the [`Stored`] impls from the kind table (`crate::kinds`).
macro_rules! define_objects {
    ($(
        $variant:ident {
            resource: $resource:ty,
            object: $object:ty,
            read: $read:ident,
            $(cli: [$($cli:literal),*],)?
            $(kubectl: $kubectl:literal,)?
            $(groups: [$($group:literal),*],)?
        }
    )*) => {
        /// One stored object.
        #[derive(Clone, Debug)]
        pub enum Object {
            $(
                #[doc = concat!("A ", stringify!($variant), ".")]
                $variant(Arc<$object>),
            )*
        }

        $( define_objects!(@stored $variant, $object, $read); )*

        impl Object {
            /// The object's kind.
            pub fn kind(&self) -> Kind {
                match self {
                    $(Object::$variant(_) => Kind::$variant,)*
                }
            }

            /// The object's metadata (`None` for events, which are stored normalized).
            pub fn meta(&self) -> Option<&ObjectMeta> {
                match self {
                    $(Object::$variant(object) => define_objects!(@meta object, $read),)*
                }
            }

            fn decode(kind: Kind, v: Value) -> Result<Object, serde_json::Error> {
                Ok(match kind {
                    $(Kind::$variant => define_objects!(@decode $variant, v, $read),)*
                })
            }
        }
    };
    // Gateway API and metrics.k8s.io kinds share DynamicObject: they are reached
    // through `Object` only.
    (@stored $variant:ident, $object:ty, Discovered) => {};
    (@stored $variant:ident, $object:ty, Metrics) => {};
    (@stored $variant:ident, $object:ty, $read:ident) => {
        impl Stored for $object {
            const KIND: Kind = Kind::$variant;
            fn from_object(stored: &Object) -> Option<&Arc<Self>> {
                match stored {
                    Object::$variant(object) => Some(object),
                    _ => None,
                }
            }
            fn into_object(self: Arc<Self>) -> Object {
                Object::$variant(self)
            }
        }
    };
    (@meta $object:ident, Events) => {{
        let _ = $object;
        None
    }};
    (@meta $object:ident, $read:ident) => { Some(&$object.metadata) };
    (@decode $variant:ident, $value:ident, Events) => {
        unreachable!("events are normalized before decoding")
    };
    (@decode $variant:ident, $value:ident, $read:ident) => {
        Object::$variant(Arc::new(serde_json::from_value($value)?))
    };
}

kind_table!(define_objects);

impl Object {
    /// A dynamic object of a kind the store keeps as one (Gateway API,
    /// `metrics.k8s.io`); `None` for the other kinds.
    pub fn from_dynamic(kind: Kind, object: kube::api::DynamicObject) -> Option<Object> {
        let object = Arc::new(object);
        Some(match kind {
            Kind::GatewayClass => Object::GatewayClass(object),
            Kind::Gateway => Object::Gateway(object),
            Kind::HttpRoute => Object::HttpRoute(object),
            Kind::PodMetrics => Object::PodMetrics(object),
            Kind::NodeMetrics => Object::NodeMetrics(object),
            _ => return None,
        })
    }
}

/// Whether an object is known to exist: absence is a fact only where its kind was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existence {
    /// The store holds it.
    Exists,
    /// Referenced, and its kind was read in its namespace, but it is not there.
    Missing,
    /// Referenced, but its kind was not read (not in the snapshot, or forbidden).
    Unknown,
}

/// (namespace, name); namespace is "" for cluster-scoped objects.
type Key = (String, String);

/// A (namespace, name) seen through a reference, so that the maps keyed by [`Key`]
/// are searched with borrowed strings (`&(ns, name) as &dyn KeyView`) instead of
/// allocating two Strings per lookup. Orders and hashes exactly like `(String, String)`.
#[doc(hidden)]
pub trait KeyView {
    fn parts(&self) -> (&str, &str);
}

impl KeyView for (String, String) {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl KeyView for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl std::hash::Hash for dyn KeyView + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // as (String, String) hashes: each str in turn
        let (ns, name) = self.parts();
        ns.hash(state);
        name.hash(state);
    }
}

fn key<'k>(ns: &'k str, name: &'k str) -> (&'k str, &'k str) {
    (ns, name)
}

/// namespace -> label key -> label value -> names
type LabelIndex = Map<String, Map<String, Map<String, BTreeSet<String>>>>;

/// The hasher of the engine's hash maps: foldhash (fast on short strings such as
/// object references, seeded per process). Nothing iterates these maps in hash
/// order, so reports do not depend on the seed.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// The store's hash maps.
type Map<K, V> = HashMap<K, V, FastHash>;

fn label_index_set(
    index: &mut LabelIndex,
    ns: &str,
    key: &str,
    value: &str,
    name: &str,
    add: bool,
) {
    if add {
        index
            .entry(ns.to_owned())
            .or_default()
            .entry(key.to_owned())
            .or_default()
            .entry(value.to_owned())
            .or_default()
            .insert(name.to_owned());
        return;
    }
    let Some(by_key) = index.get_mut(ns) else {
        return;
    };
    if let Some(by_value) = by_key.get_mut(key) {
        if let Some(names) = by_value.get_mut(value) {
            names.remove(name);
            if names.is_empty() {
                by_value.remove(value);
            }
        }
        if by_value.is_empty() {
            by_key.remove(key);
        }
    }
    if by_key.is_empty() {
        index.remove(ns);
    }
}

fn label_index_get<'m>(
    m: &'m LabelIndex,
    ns: &str,
    k: &str,
    v: &str,
) -> Option<&'m BTreeSet<String>> {
    m.get(ns)?.get(k)?.get(v)
}

/// The objects of one kind: namespace ("" for cluster-scoped) -> name -> object.
/// A point lookup hashes the namespace and searches the names of that namespace
/// only; listing a namespace is an ordered walk of its names; the whole kind is
/// walked namespace by namespace in order.
#[derive(Default, Debug)]
struct Bucket {
    by_ns: Map<String, BTreeMap<String, Object>>,
    len: usize,
}

impl Bucket {
    fn get(&self, ns: &str, name: &str) -> Option<&Object> {
        self.by_ns.get(ns)?.get(name)
    }

    fn insert(&mut self, ns: &str, name: &str, obj: Object) {
        let names = match self.by_ns.get_mut(ns) {
            Some(names) => names,
            None => self.by_ns.entry(ns.to_owned()).or_default(),
        };
        if names.insert(name.to_owned(), obj).is_none() {
            self.len += 1;
        }
    }

    fn remove(&mut self, ns: &str, name: &str) -> Option<Object> {
        let names = self.by_ns.get_mut(ns)?;
        let old = names.remove(name)?;
        if names.is_empty() {
            self.by_ns.remove(ns);
        }
        self.len -= 1;
        Some(old)
    }

    /// Namespaces holding objects, in order.
    fn namespaces(&self) -> Vec<&String> {
        let mut namespaces: Vec<&String> = self.by_ns.keys().collect();
        namespaces.sort_unstable();
        namespaces
    }

    /// Every object, ordered by (namespace, name).
    fn values(&self) -> impl Iterator<Item = &Object> {
        self.namespaces()
            .into_iter()
            .flat_map(|ns| self.by_ns[ns].values())
    }
}

/// The store. Cheap to read from many places; mutated only through `apply`/`delete`.
#[derive(Default, Debug)]
pub struct Store {
    buckets: Map<Kind, Bucket>,
    by_uid: Map<String, ObjRef>,
    /// owner UID -> objects whose ownerReferences name it
    owned: Map<String, BTreeSet<ObjRef>>,
    /// (namespace, label key, label value) -> Pod names
    pod_labels: LabelIndex,
    /// (namespace, first pair of the selector) -> Services with that selector: the
    /// Services that may select a Pod are found from the Pod's labels.
    service_selectors: LabelIndex,
    /// node name -> Pods bound to it
    pods_by_node: Map<String, BTreeSet<ObjRef>>,
    /// (namespace, claim name) -> Pods mounting it
    pods_by_claim: Map<Key, BTreeSet<String>>,
    /// (namespace, service name) -> EndpointSlice names
    slices_by_service: Map<Key, BTreeSet<String>>,
    /// the object an event is about -> event keys
    events_by_object: Map<ObjRef, BTreeSet<Key>>,
    /// newest timestamp seen in any stored object (the default `--now` of a snapshot)
    newest: Option<Timestamp>,
    /// kinds that could not be read (RBAC), with the reason
    denied: BTreeMap<Kind, String>,
    /// kinds read completely (a LIST or watch of the whole cluster): absence means non-existence
    listed: BTreeSet<Kind>,
    /// kinds read completely in some namespaces
    listed_in: BTreeSet<(Kind, String)>,
    /// what was seen to change, and when (the controller's watches; a snapshot's managedFields)
    journal: Journal,
    /// kinds that could not be read in one namespace (a watch per namespace was
    /// refused there), with the reason
    denied_in: BTreeMap<(Kind, String), String>,
    /// kinds not read by choice (an install without Secret access), with why: where
    /// they were not listed, their absence proves nothing and references to them are
    /// unverified
    unread: BTreeMap<Kind, String>,
}

impl Store {
    /// The change journal: what was seen to change on the stored objects, and when.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The change journal, to record in.
    pub fn journal_mut(&mut self) -> &mut Journal {
        &mut self.journal
    }

    pub fn new() -> Store {
        Store::default()
    }

    /// Decodes an object of any API shape (`apiVersion`, `kind`, `metadata`, ...) and stores it.
    /// Returns `Ok(None)` for kinds the engine does not use, `Ok(Some(ref))` once stored.
    pub fn insert_value(&mut self, mut v: Value) -> Result<Option<ObjRef>, StoreError> {
        let kind_name = v
            .get("kind")
            .and_then(Value::as_str)
            .ok_or(StoreError::MissingKind)?
            .to_owned();
        let api_version = v
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let Some(kind) = Kind::from_api_kind(&kind_name) else {
            return Ok(None);
        };
        if !kind.api_version_matches(&api_version) {
            return Ok(None);
        }
        let name = v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if kind == Kind::Event {
            let Some(ev) = EventRecord::from_value(&v) else {
                return Err(StoreError::MissingName { kind: kind_name });
            };
            if ev.name.is_empty() {
                return Err(StoreError::MissingName { kind: kind_name });
            }
            let event_ref = ObjRef::namespaced(Kind::Event, &ev.namespace, &ev.name);
            self.apply(Object::Event(Arc::new(ev)));
            return Ok(Some(event_ref));
        }
        let Some(name) = name else {
            return Err(StoreError::MissingName { kind: kind_name });
        };
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        if kind == Kind::Secret {
            // Secret data is never kept: only metadata and the type.
            if let Some(fields) = v.as_object_mut() {
                fields.remove("data");
                fields.remove("stringData");
            }
        }
        let obj = Object::decode(kind, v).map_err(|source| StoreError::Decode {
            kind: kind_name,
            name,
            source,
        })?;
        let obj_ref = object_ref(&obj);
        self.apply(obj);
        Ok(Some(obj_ref))
    }

    /// Inserts or replaces an object, keeping every index consistent.
    pub fn apply(&mut self, obj: Object) {
        let obj_ref = object_ref(&obj);
        self.delete(&obj_ref);
        self.index(&obj_ref, &obj, true);
        self.observe_times(&obj);
        self.buckets
            .entry(obj_ref.kind)
            .or_default()
            .insert(obj_ref.ns(), &obj_ref.name, obj);
    }

    /// Removes an object and its index entries. Returns the removed object.
    pub fn delete(&mut self, target: &ObjRef) -> Option<Object> {
        let old = self
            .buckets
            .get_mut(&target.kind)?
            .remove(target.ns(), &target.name)?;
        self.index(target, &old, false);
        Some(old)
    }

    /// Stores a typed object.
    pub fn put<T: Stored>(&mut self, obj: T) {
        self.apply(Arc::new(obj).into_object());
    }

    fn index(&mut self, obj_ref: &ObjRef, obj: &Object, add: bool) {
        fn set<K: std::hash::Hash + Eq, V: Ord>(
            index: &mut Map<K, BTreeSet<V>>,
            key: K,
            value: V,
            add: bool,
        ) {
            if add {
                index.entry(key).or_default().insert(value);
            } else if let Some(values) = index.get_mut(&key) {
                values.remove(&value);
                if values.is_empty() {
                    index.remove(&key);
                }
            }
        }
        if let Some(meta) = obj.meta() {
            if let Some(uid) = &meta.uid {
                if add {
                    self.by_uid.insert(uid.clone(), obj_ref.clone());
                } else {
                    self.by_uid.remove(uid);
                }
            }
            for owner in meta.owner_references.iter().flatten() {
                set(&mut self.owned, owner.uid.clone(), obj_ref.clone(), add);
            }
        }
        match obj {
            Object::Service(svc) => {
                if let Some((key, value)) = svc
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.as_ref())
                    .and_then(|m| m.iter().next())
                {
                    label_index_set(
                        &mut self.service_selectors,
                        obj_ref.ns(),
                        key,
                        value,
                        &obj_ref.name,
                        add,
                    );
                }
            }
            Object::Pod(pod) => {
                let ns = obj_ref.ns().to_owned();
                for (key, value) in pod.metadata.labels.iter().flatten() {
                    label_index_set(&mut self.pod_labels, &ns, key, value, &obj_ref.name, add);
                }
                if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                    set(&mut self.pods_by_node, node, obj_ref.clone(), add);
                }
                for vol in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
                    if let Some(claim) = &vol.persistent_volume_claim {
                        set(
                            &mut self.pods_by_claim,
                            (ns.clone(), claim.claim_name.clone()),
                            obj_ref.name.clone(),
                            add,
                        );
                    }
                }
            }
            Object::EndpointSlice(slice) => {
                if let Some(svc) = slice
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("kubernetes.io/service-name"))
                {
                    set(
                        &mut self.slices_by_service,
                        (obj_ref.ns().to_owned(), svc.clone()),
                        obj_ref.name.clone(),
                        add,
                    );
                }
            }
            Object::Event(event) => {
                if let Some(about) = event.regarding() {
                    set(&mut self.events_by_object, about, event.key(), add);
                }
            }
            _ => {}
        }
    }

    fn observe_times(&mut self, obj: &Object) {
        let mut newest = self.newest;
        let mut see = |candidate: Option<Timestamp>| {
            if let Some(time) = candidate
                && newest.is_none_or(|n| time > n)
            {
                newest = Some(time);
            }
        };
        if let Some(meta) = obj.meta() {
            see(meta.creation_timestamp.as_ref().map(|t| t.0));
            see(meta.deletion_timestamp.as_ref().map(|t| t.0));
        }
        match obj {
            Object::Event(e) => see(e.time),
            Object::Pod(pod) => {
                if let Some(st) = &pod.status {
                    for condition in st.conditions.iter().flatten() {
                        see(condition.last_transition_time.as_ref().map(|t| t.0));
                    }
                    for cs in st
                        .container_statuses
                        .iter()
                        .flatten()
                        .chain(st.init_container_statuses.iter().flatten())
                    {
                        for state in [cs.state.as_ref(), cs.last_state.as_ref()]
                            .into_iter()
                            .flatten()
                        {
                            if let Some(running) = &state.running {
                                see(running.started_at.as_ref().map(|t| t.0));
                            }
                            if let Some(terminated) = &state.terminated {
                                see(terminated.finished_at.as_ref().map(|time| time.0));
                            }
                        }
                    }
                }
            }
            Object::Deployment(deployment) => {
                for condition in deployment
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten())
                {
                    see(condition.last_update_time.as_ref().map(|t| t.0));
                    see(condition.last_transition_time.as_ref().map(|t| t.0));
                }
            }
            Object::Node(node) => {
                for condition in node
                    .status
                    .iter()
                    .flat_map(|s| s.conditions.iter().flatten())
                {
                    see(condition.last_heartbeat_time.as_ref().map(|t| t.0));
                    see(condition.last_transition_time.as_ref().map(|t| t.0));
                }
            }
            _ => {}
        }
        self.newest = newest;
    }

    /// The newest timestamp in any stored object: `--now` for a snapshot.
    pub fn newest_timestamp(&self) -> Option<Timestamp> {
        self.newest
    }

    /// Records that a kind could not be read (e.g. RBAC), so the diagnosis can say so.
    pub fn mark_denied(&mut self, kind: Kind, reason: impl Into<String>) {
        self.denied.insert(kind, reason.into());
    }

    pub fn denied(&self) -> &BTreeMap<Kind, String> {
        &self.denied
    }

    /// Forgets that a kind was denied (it could be read again).
    pub fn clear_denied(&mut self, kind: Kind) {
        self.denied.remove(&kind);
    }

    /// Records that a kind could not be read in one namespace (its other namespaces
    /// may well have been).
    pub fn mark_denied_in(&mut self, kind: Kind, namespace: &str, reason: impl Into<String>) {
        self.denied_in
            .insert((kind, namespace.to_owned()), reason.into());
    }

    /// Forgets that a kind was denied in a namespace (it could be read there again).
    pub fn clear_denied_in(&mut self, kind: Kind, namespace: &str) {
        self.denied_in.remove(&(kind, namespace.to_owned()));
    }

    /// Why a kind could not be read in a namespace, if it could not (there, or everywhere).
    pub fn denied_reason(&self, kind: Kind, namespace: &str) -> Option<&str> {
        self.denied
            .get(&kind)
            .or_else(|| self.denied_in.get(&(kind, namespace.to_owned())))
            .map(String::as_str)
    }

    /// The kinds that could not be read in one namespace each, with the reason.
    pub fn denied_in(&self) -> &BTreeMap<(Kind, String), String> {
        &self.denied_in
    }

    /// Records that a kind is not read by choice, except where [`Store::mark_listed`]
    /// says it was (Secret access granted in some namespaces only, or not at all).
    pub fn mark_unread(&mut self, kind: Kind, reason: impl Into<String>) {
        self.unread.insert(kind, reason.into());
    }

    /// Why an object of `kind` in `namespace` could not be verified: the kind was
    /// denied, or not read there by choice. `None` where the kind was read.
    pub fn unverified_reason(&self, kind: Kind, namespace: &str) -> Option<&str> {
        if let Some(reason) = self.denied_reason(kind, namespace) {
            return Some(reason);
        }
        if self.kind_listed(kind, namespace) {
            return None;
        }
        self.unread.get(&kind).map(String::as_str)
    }

    /// References of every stored object of a kind.
    pub fn refs_of(&self, kind: Kind) -> impl Iterator<Item = ObjRef> + '_ {
        self.buckets
            .get(&kind)
            .into_iter()
            .flat_map(Bucket::values)
            .map(object_ref)
    }

    /// Records that every object of `kind` was read (in `namespace`, or everywhere when `None`).
    pub fn mark_listed(&mut self, kind: Kind, namespace: Option<&str>) {
        match namespace {
            Some(ns) => {
                self.listed_in.insert((kind, ns.to_owned()));
            }
            None => {
                self.listed.insert(kind);
            }
        }
    }

    /// Whether the absence of an object of `kind` in `namespace` means it does not exist:
    /// the kind was listed there, or the store holds other objects of that kind there
    /// (a snapshot that captured the namespace's ConfigMaps captured all of them).
    pub fn kind_listed(&self, kind: Kind, namespace: &str) -> bool {
        let ns = if kind.namespaced() { namespace } else { "" };
        if self.denied_reason(kind, ns).is_some() {
            return false;
        }
        self.listed.contains(&kind)
            || (!self.listed_in.is_empty() && self.listed_in.contains(&(kind, ns.to_owned())))
            || self.holds_any(kind, ns)
    }

    /// Whether the object exists, is known to be missing (its kind was read where it
    /// would be), or is unknown.
    pub fn existence(&self, target: &ObjRef) -> Existence {
        if self.contains(target) {
            Existence::Exists
        } else if self.kind_listed(target.kind, target.ns()) {
            Existence::Missing
        } else {
            Existence::Unknown
        }
    }

    // ---- lookups -------------------------------------------------------------------

    pub fn object(&self, target: &ObjRef) -> Option<&Object> {
        self.buckets
            .get(&target.kind)?
            .get(target.ns(), &target.name)
    }

    pub fn contains(&self, target: &ObjRef) -> bool {
        self.object(target).is_some()
    }

    /// A typed object by namespace ("" for cluster-scoped) and name.
    pub fn get<T: Stored>(&self, namespace: &str, name: &str) -> Option<&Arc<T>> {
        let ns = if T::KIND.namespaced() { namespace } else { "" };
        self.buckets
            .get(&T::KIND)?
            .get(ns, name)
            .and_then(T::from_object)
    }

    pub fn get_ref<T: Stored>(&self, target: &ObjRef) -> Option<&Arc<T>> {
        self.get::<T>(target.ns(), &target.name)
    }

    /// Every object of a kind in one namespace, by name.
    pub fn list<'a, T: Stored + 'a>(&'a self, namespace: &str) -> impl Iterator<Item = &'a Arc<T>> {
        self.list_objects(T::KIND, namespace)
            .filter_map(|(_, o)| T::from_object(o))
    }

    /// Every object of a kind in the whole store.
    pub fn all<'a, T: Stored + 'a>(&'a self) -> impl Iterator<Item = &'a Arc<T>> {
        self.buckets
            .get(&T::KIND)
            .into_iter()
            .flat_map(Bucket::values)
            .filter_map(T::from_object)
    }

    /// Objects of a kind in a namespace, with their names, by name.
    pub fn list_objects<'a>(
        &'a self,
        kind: Kind,
        namespace: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Object)> + use<'a> {
        let ns = if kind.namespaced() { namespace } else { "" };
        self.buckets
            .get(&kind)
            .and_then(|b| b.by_ns.get(ns))
            .into_iter()
            .flatten()
    }

    /// Whether the store holds an object of `kind` in `ns` (no allocation).
    fn holds_any(&self, kind: Kind, ns: &str) -> bool {
        self.buckets
            .get(&kind)
            .is_some_and(|b| b.by_ns.contains_key(ns))
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.buckets.get(&kind).map_or(0, |b| b.len)
    }

    pub fn total(&self) -> usize {
        self.buckets.values().map(|b| b.len).sum()
    }

    /// Namespaces that hold at least one object of `kind`.
    pub fn namespaces_with(&self, kind: Kind) -> BTreeSet<String> {
        self.buckets
            .get(&kind)
            .map(|b| b.by_ns.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn by_uid(&self, uid: &str) -> Option<&ObjRef> {
        self.by_uid.get(uid)
    }

    /// Objects whose ownerReferences name `owner_uid`.
    pub fn owned_by(&self, owner_uid: &str) -> impl Iterator<Item = &ObjRef> {
        self.owned.get(owner_uid).into_iter().flatten()
    }

    /// Pods bound to a node.
    pub fn pods_on_node(&self, node: &str) -> impl Iterator<Item = &ObjRef> {
        self.pods_by_node.get(node).into_iter().flatten()
    }

    /// Pods in `namespace` that mount the claim.
    pub fn pods_using_claim<'a>(
        &'a self,
        namespace: &'a str,
        claim: &str,
    ) -> impl Iterator<Item = &'a Arc<Pod>> {
        self.pods_by_claim
            .get(&key(namespace, claim) as &dyn KeyView)
            .into_iter()
            .flatten()
            .filter_map(move |n| self.get::<Pod>(namespace, n))
    }

    /// EndpointSlices of a Service (by the `kubernetes.io/service-name` label).
    pub fn endpoint_slices<'a>(
        &'a self,
        namespace: &'a str,
        service: &str,
    ) -> impl Iterator<Item = &'a Arc<EndpointSlice>> {
        self.slices_by_service
            .get(&key(namespace, service) as &dyn KeyView)
            .into_iter()
            .flatten()
            .filter_map(move |n| self.get::<EndpointSlice>(namespace, n))
    }

    /// The Deployments, StatefulSets and DaemonSets of `namespace` whose Pod template a
    /// selector matches, with the replicas they want (`None` for a DaemonSet; an unset
    /// `replicas` is 1): what a Service that selects no Pod would select.
    pub fn template_matches(&self, namespace: &str, sel: &Selector) -> Vec<(ObjRef, Option<i32>)> {
        use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
        use k8s_openapi::api::core::v1::PodTemplateSpec;
        let matches = |template: &PodTemplateSpec| {
            sel.matches(template.metadata.as_ref().and_then(|m| m.labels.as_ref()))
        };
        let named = |kind: Kind, meta: &ObjectMeta| {
            ObjRef::namespaced(kind, namespace, meta.name.as_deref().unwrap_or_default())
        };
        let mut out = Vec::new();
        for deployment in self.list::<Deployment>(namespace).take(200) {
            if matches(&deployment.spec.template) {
                let replicas = deployment.spec.replicas.or(Some(1));
                out.push((named(Kind::Deployment, &deployment.metadata), replicas));
            }
        }
        for statefulset in self.list::<StatefulSet>(namespace).take(200) {
            if matches(&statefulset.spec.template) {
                let replicas = statefulset.spec.replicas.or(Some(1));
                out.push((named(Kind::StatefulSet, &statefulset.metadata), replicas));
            }
        }
        for daemonset in self.list::<DaemonSet>(namespace).take(200) {
            if matches(&daemonset.spec.template) {
                out.push((named(Kind::DaemonSet, &daemonset.metadata), None));
            }
        }
        out
    }

    /// Pods in `namespace` matching a selector. Uses the label index for equality
    /// requirements; only a selector without any falls back to the namespace's Pods.
    pub fn select_pods<'a>(&'a self, namespace: &str, sel: &Selector) -> Vec<&'a Arc<Pod>> {
        if sel.matches_nothing() {
            return Vec::new();
        }
        let mut candidates: Option<&BTreeSet<String>> = None;
        for (key, value) in sel.equalities() {
            match label_index_get(&self.pod_labels, namespace, key, value) {
                // a required label no Pod has: nothing matches
                None => return Vec::new(),
                Some(s) if candidates.is_none_or(|c| s.len() < c.len()) => candidates = Some(s),
                Some(_) => {}
            }
        }
        match candidates {
            Some(names) => names
                .iter()
                .filter_map(|n| self.get::<Pod>(namespace, n))
                .filter(|p| sel.matches(p.metadata.labels.as_ref()))
                .collect(),
            None => self
                .list::<Pod>(namespace)
                .filter(|p| sel.matches(p.metadata.labels.as_ref()))
                .collect(),
        }
    }

    /// The Services of `namespace` whose selector selects a Pod with these labels,
    /// by name. Found through the index of the Services' selectors (one probe per
    /// label of the Pod), never by listing the namespace's Services.
    pub fn services_selecting<'a>(
        &'a self,
        namespace: &str,
        labels: Option<&std::collections::BTreeMap<String, String>>,
    ) -> Vec<&'a Arc<Service>> {
        let Some(labels) = labels else {
            return Vec::new();
        };
        let mut names: BTreeSet<&'a str> = BTreeSet::new();
        let Some(by_key) = self.service_selectors.get(namespace) else {
            return Vec::new();
        };
        for (key, value) in labels {
            if let Some(svcs) = by_key.get(key).and_then(|m| m.get(value)) {
                names.extend(svcs.iter().map(String::as_str));
            }
        }
        names
            .into_iter()
            .filter_map(|n| self.get::<Service>(namespace, n))
            .filter(|svc| {
                Selector::from_service_selector(
                    svc.spec.as_ref().and_then(|spec| spec.selector.as_ref()),
                )
                .matches(Some(labels))
            })
            .collect()
    }

    /// Events about an object, oldest first.
    pub fn events_for(&self, object: &ObjRef) -> Vec<&Arc<EventRecord>> {
        let mut events: Vec<&Arc<EventRecord>> = self
            .events_by_object
            .get(object)
            .into_iter()
            .flatten()
            .filter_map(|(ns, n)| self.get::<EventRecord>(ns, n))
            .collect();
        if events.len() < 2 {
            return events;
        }
        events.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.name.cmp(&b.name)));
        events
    }
}

/// The reference of a stored object.
pub fn object_ref(obj: &Object) -> ObjRef {
    match obj {
        Object::Event(e) => ObjRef::namespaced(Kind::Event, &e.namespace, &e.name),
        o => {
            let meta = o.meta().expect("non-event objects have metadata");
            ObjRef::new(
                o.kind(),
                meta.namespace.as_deref(),
                meta.name.as_deref().unwrap_or_default(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use serde_json::json;

    fn pod(ns: &str, name: &str, labels: Value, node: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels,
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid", "controller": true}],
                            "managedFields": [{"manager": "kubectl"}]},
               "spec": {"nodeName": node, "containers": [{"name": "app", "image": "nginx"}],
                        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]}})
    }

    #[test]
    fn indexes_follow_updates_and_deletes() {
        let mut store = Store::new();
        store
            .insert_value(pod("shop", "a", json!({"app": "web"}), "n1"))
            .unwrap();
        store
            .insert_value(pod("shop", "b", json!({"app": "web", "tier": "api"}), "n2"))
            .unwrap();
        store
            .insert_value(pod("other", "c", json!({"app": "web"}), "n1"))
            .unwrap();
        let sel = Selector::from_map([("app", "web")]);
        assert_eq!(store.select_pods("shop", &sel).len(), 2);
        assert_eq!(store.pods_on_node("n1").count(), 2);
        assert_eq!(store.owned_by("rs-uid").count(), 3);
        assert_eq!(store.pods_using_claim("shop", "data").count(), 2);
        // relabel b: the old label entry must go away
        store
            .insert_value(pod("shop", "b", json!({"app": "api"}), "n3"))
            .unwrap();
        assert_eq!(store.select_pods("shop", &sel).len(), 1);
        assert_eq!(store.pods_on_node("n2").count(), 0);
        store.delete(&ObjRef::namespaced(Kind::Pod, "shop", "a"));
        assert!(store.select_pods("shop", &sel).is_empty());
        assert_eq!(store.owned_by("rs-uid").count(), 2);
        assert!(store.by_uid("uid-a").is_none());
        assert!(
            store
                .get::<Pod>("shop", "b")
                .unwrap()
                .metadata
                .managed_fields
                .is_none()
        );
    }

    #[test]
    fn a_denial_in_one_namespace_leaves_the_others_listed() {
        let mut store = Store::new();
        store.mark_listed(Kind::Pod, Some("shop"));
        store.mark_denied_in(Kind::Pod, "bank", "pods is forbidden");
        store.mark_unread(Kind::Secret, "no Secret access");
        store.mark_listed(Kind::Secret, Some("shop"));
        let pod = |ns: &str| ObjRef::namespaced(Kind::Pod, ns, "web");
        assert_eq!(store.existence(&pod("shop")), Existence::Missing);
        assert_eq!(store.existence(&pod("bank")), Existence::Unknown);
        assert_eq!(
            store.denied_reason(Kind::Pod, "bank"),
            Some("pods is forbidden")
        );
        assert_eq!(store.denied_reason(Kind::Pod, "shop"), None);
        assert_eq!(store.unverified_reason(Kind::Secret, "shop"), None);
        assert_eq!(
            store.unverified_reason(Kind::Secret, "bank"),
            Some("no Secret access")
        );
        store.clear_denied_in(Kind::Pod, "bank");
        store.mark_listed(Kind::Pod, Some("bank"));
        assert_eq!(store.existence(&pod("bank")), Existence::Missing);
        // a denial everywhere wins
        store.mark_denied(Kind::Pod, "forbidden");
        assert_eq!(store.existence(&pod("shop")), Existence::Unknown);
    }

    #[test]
    fn namespace_listing_is_a_range() {
        let mut store = Store::new();
        for (ns, name) in [("a", "1"), ("b", "1"), ("b", "2"), ("c", "1")] {
            store.insert_value(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}}))
                .unwrap();
        }
        assert_eq!(store.list::<ConfigMap>("b").count(), 2);
        assert_eq!(store.list::<ConfigMap>("zz").count(), 0);
        assert_eq!(
            store
                .namespaces_with(Kind::ConfigMap)
                .into_iter()
                .collect::<Vec<_>>(),
            vec!["a", "b", "c"]
        );
    }

    #[test]
    fn secrets_keep_no_data_and_unknown_kinds_are_ignored() {
        let mut store = Store::new();
        store.insert_value(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tls", "namespace": "x"}, "data": {"k": "c2VjcmV0"}, "type": "kubernetes.io/tls"}))
            .unwrap();
        let sec = store.get::<Secret>("x", "tls").unwrap();
        assert!(sec.data.is_none());
        assert_eq!(
            store.insert_value(
                json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
            )
            .unwrap(),
            None
        );
        assert!(matches!(
            store.insert_value(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {}})),
            Err(StoreError::MissingName { .. })
        ));
    }

    #[test]
    fn events_are_indexed_by_the_object_they_are_about() {
        let mut store = Store::new();
        store.insert_value(json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "a", "namespace": "shop"}, "reason": "BackOff", "message": "m", "type": "Warning",
            "lastTimestamp": "2026-11-21T10:00:00Z"})).unwrap();
        let evs = store.events_for(&ObjRef::namespaced(Kind::Pod, "shop", "a"));
        assert_eq!(evs.len(), 1);
        assert_eq!(
            store.newest_timestamp().unwrap().to_string(),
            "2026-11-21T10:00:00Z"
        );
    }
}
