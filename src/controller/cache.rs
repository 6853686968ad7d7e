//! The controller's cache: one watch per kind the graph reads, feeding the engine's
//! indexed [`Store`]. A diagnosis then costs no API request.
//!
//! - What no rule reads is dropped before storing ([`slim`]: managedFields, kubectl's
//!   last-applied annotation, ConfigMap values, Node image lists); Secrets are
//!   watched as metadata only.
//! - A re-list (`Init` … `InitDone`) replaces the kind's objects, so deletions missed
//!   while disconnected disappear.
//! - A kind the identity may not read (403) is recorded as denied: the diagnoses say
//!   what they could not see (`PermissionDenied`) instead of failing.
//! - `metrics.k8s.io` (PodMetrics, NodeMetrics) is not read: it serves no watch.
//! - Namespaced kinds are watched in the namespaces of the [`WatchScope`] (one watch
//!   per kind and namespace with `--watch-namespaces`, else one per kind); Secrets
//!   only where Secret access is granted (`--secrets`), and where they are not read
//!   the store says why, so references to them are unverified, never missing.
//! - Every change is published as the [`ObjRef`] it touched, so Continuous
//!   diagnoses whose graph holds it re-run; what it changed of the tracked fields
//!   (selectors, ports, keys, taints, ...) goes into the store's change journal
//!   (`changes::journal`), with the time it was seen.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, RwLock};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Event as CoreEvent, Namespace, Node};
use kube::api::{Api, ApiResource, DynamicObject, PartialObjectMeta};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Resource};
use tokio::sync::{broadcast, watch};

use crate::changes::facets;
use crate::event::EventRecord;
use crate::kinds::{self, KindVisitor, Listed, Scoped, visit_kinds};
use crate::live::gateway_resource;
use crate::model::{Kind, ObjRef};
use crate::store::{Object, Store, object_ref};

use super::metrics::Metrics;
use super::scope::WatchScope;

/// One watch: a kind, in a namespace or ("") everywhere.
type WatchKey = (Kind, String);

fn watch_key(kind: Kind, namespace: Option<&str>) -> WatchKey {
    (kind, namespace.unwrap_or_default().to_owned())
}

/// The shared cache.
#[derive(Clone)]
pub struct Cache {
    pub store: Arc<RwLock<Store>>,
    changes: broadcast::Sender<ObjRef>,
    synced: Arc<watch::Sender<BTreeSet<WatchKey>>>,
    expected: Arc<RwLock<BTreeSet<WatchKey>>>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache::new()
    }
}

impl Cache {
    pub fn new() -> Cache {
        let (changes, _) = broadcast::channel(65536);
        let (synced, _) = watch::channel(BTreeSet::new());
        Cache {
            store: Arc::new(RwLock::new(Store::new())),
            changes,
            synced: Arc::new(synced),
            expected: Arc::new(RwLock::new(BTreeSet::new())),
        }
    }

    /// Changed objects (an Event's change is published as the object it is about).
    pub fn subscribe(&self) -> broadcast::Receiver<ObjRef> {
        self.changes.subscribe()
    }

    /// Whether every started watch has listed its kind once (or been denied).
    pub fn is_synced(&self) -> bool {
        let expected = self.expected.read().expect("lock");
        let synced = self.synced.borrow();
        !expected.is_empty() && expected.iter().all(|k| synced.contains(k))
    }

    /// Waits until [`Cache::is_synced`].
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.subscribe();
        loop {
            if self.is_synced() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    fn mark_synced(&self, key: &WatchKey) {
        self.synced.send_modify(|synced| {
            synced.insert(key.clone());
        });
    }

    /// Starts one watch per kind of the kind table (per kind and namespace for the
    /// namespaced kinds of a namespace-scoped `scope`); returns their tasks. Gateway
    /// API kinds are watched only when the cluster serves them.
    pub async fn start(
        &self,
        client: Client,
        metrics: Metrics,
        scope: &WatchScope,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let (secret_namespaces, ignored) = scope.secret_watches();
        if !ignored.is_empty() {
            tracing::warn!(
                namespaces = %ignored.join(","),
                "--secret-namespaces names namespaces that are not watched: their Secrets are not read"
            );
        }
        for namespace in scope.namespaces.iter().flatten() {
            warn_if_absent(&client, namespace).await;
        }
        if let Some(reason) = scope.secrets_unread_reason() {
            self.store
                .write()
                .expect("lock")
                .mark_unread(Kind::Secret, reason);
        }
        let mut watches = Watches {
            cache: self,
            client: &client,
            metrics: &metrics,
            namespaces: scope.namespaced_watches(),
            secret_namespaces,
            tasks: Vec::new(),
            discovered: Vec::new(),
        };
        visit_kinds(&mut watches);
        let Watches {
            mut tasks,
            discovered,
            ..
        } = watches;
        for kind in discovered {
            if let Some(resource) = gateway_resource(&client, kind).await {
                let namespaces = if kind.namespaced() {
                    scope.namespaced_watches()
                } else {
                    vec![None]
                };
                for namespace in namespaces {
                    tasks.push(self.spawn_dynamic(
                        client.clone(),
                        metrics.clone(),
                        kind,
                        resource.clone(),
                        namespace,
                    ));
                }
            }
        }
        tasks
    }

    fn expect(&self, kind: Kind, namespace: Option<&str>) -> WatchKey {
        let key = watch_key(kind, namespace);
        self.expected.write().expect("lock").insert(key.clone());
        key
    }

    fn spawn_typed<K: Listed>(
        &self,
        client: Client,
        metrics: Metrics,
        namespace: Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let key = self.expect(K::KIND, namespace.as_deref());
        let cache = self.clone();
        tokio::spawn(async move {
            let api: Api<K> = kinds::api(client, namespace.as_deref());
            let stream = watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .boxed();
            cache
                .consume(key, stream, &metrics, |object: K| {
                    let mut object = object;
                    slim(&mut object);
                    Some(Arc::new(object).into_object())
                })
                .await;
        })
    }

    /// Objects as metadata only (Secrets): their data is never requested.
    fn spawn_metadata<K: Listed + Default>(
        &self,
        client: Client,
        metrics: Metrics,
        namespace: Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let key = self.expect(K::KIND, namespace.as_deref());
        let cache = self.clone();
        tokio::spawn(async move {
            let api: Api<PartialObjectMeta<K>> =
                <K::Scope as Scoped>::api(client, namespace.as_deref());
            let stream = watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .boxed();
            cache
                .consume(key, stream, &metrics, |partial| {
                    let mut metadata = partial.metadata;
                    metadata.managed_fields = None;
                    let mut object = K::default();
                    *object.meta_mut() = metadata;
                    Some(Arc::new(object).into_object())
                })
                .await;
        })
    }

    fn spawn_events(
        &self,
        client: Client,
        metrics: Metrics,
        namespace: Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let key = self.expect(Kind::Event, namespace.as_deref());
        let cache = self.clone();
        tokio::spawn(async move {
            let api: Api<CoreEvent> = match &namespace {
                Some(namespace) => Api::namespaced(client, namespace),
                None => Api::all(client),
            };
            let stream = watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .boxed();
            cache
                .consume(key, stream, &metrics, |event: CoreEvent| {
                    let mut value = serde_json::to_value(&event).ok()?;
                    if let Some(fields) = value.as_object_mut() {
                        fields.insert("apiVersion".into(), "v1".into());
                        fields.insert("kind".into(), "Event".into());
                    }
                    EventRecord::from_value(&value).map(|record| Object::Event(Arc::new(record)))
                })
                .await;
        })
    }

    fn spawn_dynamic(
        &self,
        client: Client,
        metrics: Metrics,
        kind: Kind,
        ar: ApiResource,
        namespace: Option<String>,
    ) -> tokio::task::JoinHandle<()> {
        let key = self.expect(kind, namespace.as_deref());
        let cache = self.clone();
        tokio::spawn(async move {
            let api: Api<DynamicObject> = match &namespace {
                Some(namespace) => Api::namespaced_with(client, namespace, &ar),
                None => Api::all_with(client, &ar),
            };
            let stream = watcher(api, watcher::Config::default().any_semantic())
                .default_backoff()
                .boxed();
            cache
                .consume(key, stream, &metrics, move |mut o: DynamicObject| {
                    o.metadata.managed_fields = None;
                    Some(match kind {
                        Kind::GatewayClass => Object::GatewayClass(Arc::new(o)),
                        Kind::Gateway => Object::Gateway(Arc::new(o)),
                        _ => Object::HttpRoute(Arc::new(o)),
                    })
                })
                .await;
        })
    }

    /// Applies the watch stream of one kind (in one namespace, or "" everywhere) to
    /// the store until it ends.
    async fn consume<T>(
        &self,
        key: WatchKey,
        mut stream: futures::stream::BoxStream<'static, Result<Event<T>, watcher::Error>>,
        metrics: &Metrics,
        convert: impl Fn(T) -> Option<Object>,
    ) {
        let kind = key.0;
        let namespace = (!key.1.is_empty()).then_some(key.1.as_str());
        let mut relist: Option<HashSet<ObjRef>> = None;
        // A 403 after the kind was listed once is believed only when it lasts: a
        // restarting kube-apiserver answers 403 until its RBAC caches are filled.
        let mut listed_once = false;
        let mut forbidden_since: Option<std::time::Instant> = None;
        while let Some(ev) = stream.next().await {
            if ev.is_ok() {
                forbidden_since = None;
            }
            match ev {
                Ok(Event::Init) => relist = Some(HashSet::new()),
                Ok(Event::InitApply(resource)) => {
                    if let Some(obj) = convert(resource) {
                        let obj_ref = object_ref(&obj);
                        self.store.write().expect("lock").apply(obj);
                        if let Some(seen) = relist.as_mut() {
                            seen.insert(obj_ref);
                        }
                    }
                }
                Ok(Event::InitDone) => {
                    let seen = relist.take().unwrap_or_default();
                    let changed = {
                        let mut store = self.store.write().expect("lock");
                        let stale: Vec<ObjRef> = store
                            .refs_of(kind)
                            .filter(|r| namespace.is_none_or(|ns| r.ns() == ns))
                            .filter(|r| !seen.contains(r))
                            .collect();
                        for stale_ref in &stale {
                            store.delete(stale_ref);
                        }
                        match namespace {
                            Some(ns) => store.clear_denied_in(kind, ns),
                            None => store.clear_denied(kind),
                        }
                        store.mark_listed(kind, namespace);
                        stale.into_iter().chain(seen).collect::<Vec<_>>()
                    };
                    for changed_ref in changed {
                        self.publish(changed_ref);
                    }
                    metrics.set_cache_objects(kind, self.count(kind));
                    self.mark_synced(&key);
                    listed_once = true;
                }
                Ok(Event::Apply(resource)) => {
                    if let Some(obj) = convert(resource) {
                        let touched = self.touched(&obj);
                        let quiet = {
                            let mut store = self.store.write().expect("lock");
                            let quiet = match &obj {
                                Object::Node(new) => store
                                    .get_ref::<Node>(&object_ref(&obj))
                                    .is_some_and(|old| heartbeat_only(old, new)),
                                _ => false,
                            };
                            if quiet {
                                store.apply(obj);
                            } else {
                                facets::apply_observed(&mut store, obj, jiff::Timestamp::now());
                            }
                            quiet
                        };
                        if let Some(changed) = touched.filter(|_| !quiet) {
                            self.publish(changed);
                        }
                        metrics.set_cache_objects(kind, self.count(kind));
                    }
                }
                Ok(Event::Delete(resource)) => {
                    if let Some(obj) = convert(resource) {
                        let touched = self.touched(&obj);
                        facets::delete_observed(
                            &mut self.store.write().expect("lock"),
                            &object_ref(&obj),
                            jiff::Timestamp::now(),
                        );
                        if let Some(changed) = touched {
                            self.publish(changed);
                        }
                        metrics.set_cache_objects(kind, self.count(kind));
                    }
                }
                Err(error) => {
                    metrics.watch_error(kind);
                    if let Some(reason) = forbidden(&error) {
                        let since = *forbidden_since.get_or_insert_with(std::time::Instant::now);
                        if !listed_once || since.elapsed() >= DENIED_AFTER {
                            tracing::warn!(kind = kind.name(), namespace = namespace.unwrap_or("*"), %reason, "watch forbidden");
                            let mut store = self.store.write().expect("lock");
                            match namespace {
                                // the other namespaces' watches may well be allowed
                                Some(ns) => store.mark_denied_in(kind, ns, reason),
                                None => store.mark_denied(kind, reason),
                            }
                            drop(store);
                            // a denied kind does not hold readiness back
                            self.mark_synced(&key);
                        } else {
                            tracing::warn!(kind = kind.name(), %reason, "watch forbidden; keeping what was listed unless it lasts");
                        }
                    } else {
                        tracing::warn!(kind = kind.name(), error = %error, "watch error, retrying");
                    }
                }
            }
        }
    }

    /// The object a change is about: for an Event, the object it regards. An Event
    /// about a kind the engine does not read (a Diagnosis: kubedx's own Events) is
    /// about nothing a diagnosis holds: without this, every Event kubedx published
    /// re-ran every Continuous diagnosis of its namespace (1000 Diagnoses in one
    /// namespace: a million reconciles).
    fn touched(&self, obj: &Object) -> Option<ObjRef> {
        match obj {
            Object::Event(e) => e.regarding(),
            _ => Some(object_ref(obj)),
        }
    }

    fn publish(&self, r: ObjRef) {
        // no receiver (no Continuous diagnosis yet) is fine
        let _ = self.changes.send(r);
    }

    fn count(&self, kind: Kind) -> usize {
        self.store.read().expect("lock").count(kind)
    }
}

/// Logs a watched namespace that does not exist: its watches run all the same and
/// serve its objects once it is created. (An identity that may not read the
/// Namespace cannot tell; its watches say what they may not read.)
async fn warn_if_absent(client: &Client, namespace: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    match namespaces.get_opt(namespace).await {
        Ok(None) => tracing::warn!(
            namespace,
            "watched namespace does not exist (yet): the others are served, and it is once it is created"
        ),
        Ok(Some(_)) => {}
        Err(error) => {
            tracing::debug!(namespace, %error, "cannot tell whether the watched namespace exists")
        }
    }
}

/// Starts the watch of each kind of the kind table.
struct Watches<'a> {
    cache: &'a Cache,
    client: &'a Client,
    metrics: &'a Metrics,
    /// Where namespaced kinds are watched (`None`: everywhere).
    namespaces: Vec<Option<String>>,
    /// Where Secrets are watched (empty: nowhere).
    secret_namespaces: Vec<Option<String>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Gateway API kinds, watched once discovery says they are served.
    discovered: Vec<Kind>,
}

impl KindVisitor for Watches<'_> {
    fn full<K: Listed>(&mut self) {
        for namespace in self.namespaces_of(K::KIND) {
            let task =
                self.cache
                    .spawn_typed::<K>(self.client.clone(), self.metrics.clone(), namespace);
            self.tasks.push(task);
        }
    }

    fn metadata<K: Listed + Default>(&mut self) {
        for namespace in self.namespaces_of(K::KIND) {
            let task = self.cache.spawn_metadata::<K>(
                self.client.clone(),
                self.metrics.clone(),
                namespace,
            );
            self.tasks.push(task);
        }
    }

    fn events(&mut self) {
        for namespace in self.namespaces_of(Kind::Event) {
            let task =
                self.cache
                    .spawn_events(self.client.clone(), self.metrics.clone(), namespace);
            self.tasks.push(task);
        }
    }

    fn discovered(&mut self, kind: Kind) {
        self.discovered.push(kind);
    }

    /// `metrics.k8s.io` serves no watch, and a usage sample is not state to keep in
    /// sync: the controller does not read it. Its diagnoses rank a node's heavy
    /// users from eviction messages and requests/limits instead (`NoisyNeighbor`).
    fn metrics(&mut self, _kind: Kind) {}
}

impl Watches<'_> {
    /// Where a kind is watched: Secrets where Secret access is granted, other
    /// namespaced kinds in the watched namespaces, cluster-scoped kinds whole.
    fn namespaces_of(&self, kind: Kind) -> Vec<Option<String>> {
        if kind == Kind::Secret {
            self.secret_namespaces.clone()
        } else if kind.namespaced() {
            self.namespaces.clone()
        } else {
            vec![None]
        }
    }
}

/// The annotation `kubectl apply` (client-side) keeps a full copy of the object in.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no rule reads before an object is cached: managedFields, kubectl's
/// last-applied copy of the object, ConfigMap values (the rules check which keys
/// exist, never what they hold — and a values-free cache cannot leak them: each is
/// replaced by a short hash, by which the change journal sees a key change), and
/// the image lists of Nodes.
fn slim<K: Resource + 'static>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.remove(LAST_APPLIED);
    }
    let any = object as &mut dyn std::any::Any;
    super::compact::compact(any);
    if let Some(cm) = any.downcast_mut::<ConfigMap>() {
        // a short hash in place of each value: the change journal sees a key change
        for value in cm.data.iter_mut().flat_map(|d| d.values_mut()) {
            *value = facets::value_hash(value.as_bytes());
        }
        for value in cm.binary_data.iter_mut().flat_map(|d| d.values_mut()) {
            value.0 = facets::value_hash(&value.0).into_bytes();
        }
    } else if let Some(node) = any.downcast_mut::<Node>()
        && let Some(status) = node.status.as_mut()
    {
        status.images = None;
    }
}

/// Whether a Node update only moves heartbeat timestamps (the kubelet's periodic
/// status report, or kwok's): stored, but not published, so it re-runs no diagnosis
/// — every graph holds the Nodes of its Pods, and a cluster of a few hundred Nodes
/// reports several times a second.
fn heartbeat_only(old: &Node, new: &Node) -> bool {
    fn without_heartbeats(node: &Node) -> Node {
        let mut copy = node.clone();
        copy.metadata.resource_version = None;
        copy.metadata.managed_fields = None;
        if let Some(conditions) = copy.status.as_mut().and_then(|s| s.conditions.as_mut()) {
            for condition in conditions {
                condition.last_heartbeat_time = None;
            }
        }
        copy
    }
    without_heartbeats(old) == without_heartbeats(new)
}

/// How long a kind that was readable must stay forbidden before diagnoses say so.
pub const DENIED_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

fn forbidden(error: &watcher::Error) -> Option<String> {
    let status = match error {
        watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s))
        | watcher::Error::WatchFailed(kube::Error::Api(s)) => s,
        watcher::Error::WatchError(s) => s,
        _ => return None,
    };
    (status.code == 403).then(|| status.message.clone())
}

use kube::runtime::watcher::watcher;

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: &str, heartbeat: &str, rv: &str) -> Node {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "worker-1", "resourceVersion": rv,
                         "labels": {"kubernetes.io/hostname": "worker-1"}},
            "spec": {},
            "status": {
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                     "message": "kubelet has sufficient memory available",
                     "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-11-20T08:00:00Z"},
                    {"type": "Ready", "status": ready, "reason": "KubeletReady",
                     "message": "kubelet is posting ready status",
                     "lastHeartbeatTime": heartbeat, "lastTransitionTime": "2026-11-20T08:00:00Z"}
                ],
                "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}
            }
        }))
        .unwrap()
    }

    #[test]
    fn cached_objects_keep_what_rules_read_and_nothing_else() {
        let mut cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app-config", "namespace": "shop",
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"apiVersion\":\"v1\"}",
                    "team": "payments"},
                "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
            "data": {"DATABASE_URL": "postgres://shop:hunter2@db/shop", "LOG_LEVEL": "info"},
            "binaryData": {"cert.der": "AAEC"}
        }))
        .unwrap();
        slim(&mut cm);
        let data = cm.data.as_ref().unwrap();
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            ["DATABASE_URL", "LOG_LEVEL"]
        );
        // each value is replaced by a short hash: never the value, but a change shows
        assert!(
            data.values()
                .all(|value| value.starts_with("sha256:") && value.len() == 19),
            "{data:?}"
        );
        assert!(!data.values().any(|value| value.contains("hunter2")));
        assert_ne!(data["DATABASE_URL"], data["LOG_LEVEL"]);
        let binary = &cm.binary_data.as_ref().unwrap()["cert.der"].0;
        assert!(binary.starts_with(b"sha256:") && binary.len() == 19);
        let annotations = cm.metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.keys().collect::<Vec<_>>(), ["team"]);
        assert!(cm.metadata.managed_fields.is_none());

        let mut node_obj = node("True", "2026-11-21T10:00:00Z", "1");
        node_obj.status.as_mut().unwrap().images =
            Some(vec![serde_json::from_value(
            serde_json::json!({"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 320368}),
        )
        .unwrap()]);
        slim(&mut node_obj);
        let status = node_obj.status.as_ref().unwrap();
        assert!(status.images.is_none());
        assert_eq!(
            status.conditions.as_ref().unwrap().len(),
            2,
            "conditions stay"
        );
    }

    #[test]
    fn a_node_heartbeat_is_not_a_change() {
        let old = node("True", "2026-11-21T10:00:00Z", "100");
        assert!(heartbeat_only(
            &old,
            &node("True", "2026-11-21T10:00:40Z", "101")
        ));
        // a condition that flips is
        assert!(!heartbeat_only(
            &old,
            &node("False", "2026-11-21T10:00:40Z", "101")
        ));
        // so is a taint, a label, or allocatable
        let mut tainted = node("True", "2026-11-21T10:00:40Z", "102");
        tainted.spec.as_mut().unwrap().taints = Some(vec![serde_json::from_value(
            serde_json::json!({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}),
        )
        .unwrap()]);
        assert!(!heartbeat_only(&old, &tainted));
        let mut relabelled = node("True", "2026-11-21T10:00:40Z", "103");
        relabelled
            .metadata
            .labels
            .as_mut()
            .unwrap()
            .insert("topology.kubernetes.io/zone".into(), "zone-b".into());
        assert!(!heartbeat_only(&old, &relabelled));
    }
}
