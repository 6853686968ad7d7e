//! Reading a live cluster for one diagnosis (the live CLI): only what the target's
//! graph can need — namespace-scoped LISTs of the target's namespace, the few
//! cluster-scoped kinds, the cluster DNS, and Events by field selector. Secrets are
//! listed as metadata only. A kind the identity may not read is recorded as denied
//! (the diagnosis reports `PermissionDenied`); nothing readable at all is an error.
//!
//! `metrics.k8s.io` (PodMetrics, NodeMetrics) is LISTed when the cluster serves it;
//! without metrics-server nothing is read and nothing is reported. When the graph's
//! Nodes show node pressure, a second round reads their other Pods (in every
//! namespace, by `spec.nodeName`) and those Pods' usage: the neighbours
//! `NoisyNeighbor` ranks.
//!
//! Also: container logs for the `logs` rules (bounded tails, opt-in).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};

use crate::changes::journal::Journal;
use crate::event::EventRecord;
use crate::graph::{CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE, ObjectGraph};
use crate::k8s::eviction;
use crate::kinds::{self, KindVisitor, Listed, visit_kinds};
use crate::model::{Kind, ObjRef};
use crate::rules::LogSource;
use crate::store::{Object, Store};

/// Why the cluster could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot reach the cluster: {0}")]
    Unreachable(String),
    #[error("forbidden: nothing the diagnosis needs could be read ({0})")]
    Forbidden(String),
    #[error("kubeconfig: {0}")]
    Config(String),
}

/// What a live read did.
#[derive(Debug, Default, Clone)]
pub struct ReadReport {
    /// API requests issued.
    pub requests: usize,
    pub objects: usize,
    /// Kinds that could not be read, with the API's reason.
    pub denied: BTreeMap<Kind, String>,
}

/// Where to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One namespace (a namespaced target, or a Namespace target).
    Namespace(String),
    /// A Node target: the Node and the Pods bound to it.
    Node(String),
    /// Every namespace.
    All,
}

impl Scope {
    pub fn for_target(target: &ObjRef) -> Scope {
        match target.kind {
            Kind::Node => Scope::Node(target.name.clone()),
            Kind::Namespace => Scope::Namespace(target.name.clone()),
            _ => Scope::Namespace(target.ns().to_owned()),
        }
    }
}

/// Builds a client from a kubeconfig file and context (or the defaults).
pub async fn client(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
) -> Result<Client, LiveError> {
    client_as(kubeconfig, context, &user_agent("cli")).await
}

/// `kubedx/VERSION (ROLE)`: the User-Agent of kubedx's requests, so the apiserver's
/// audit log tells the CLI and each controller replica apart.
pub fn user_agent(role: &str) -> String {
    let role: String = role
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect();
    format!("kubedx/{} ({role})", env!("CARGO_PKG_VERSION"))
}

/// Like [`client`], with the given User-Agent.
pub async fn client_as(
    kubeconfig: Option<&std::path::Path>,
    context: Option<&str>,
    user_agent: &str,
) -> Result<Client, LiveError> {
    let opts = kube::config::KubeConfigOptions {
        context: context.map(str::to_owned),
        ..Default::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| LiveError::Config(e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| LiveError::Config(e.to_string()))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&opts)
            .await
            .map_err(|e| LiveError::Config(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| LiveError::Config(e.to_string()))?,
    };
    let mut config = config;
    if let Ok(value) = axum::http::HeaderValue::from_str(user_agent) {
        config
            .headers
            .retain(|(k, _)| k != axum::http::header::USER_AGENT);
        config.headers.push((axum::http::header::USER_AGENT, value));
    }
    Client::try_from(config).map_err(|e| LiveError::Config(e.to_string()))
}

enum Outcome {
    /// The objects of a kind, and the changes their managedFields show.
    Ok(Vec<Object>, Kind, Journal),
    /// Not served by this cluster (Gateway API without its CRDs): nothing to read.
    NotServed,
    Denied(Kind, String),
    Failed(Kind, String),
}

async fn list<K: Listed>(api: Api<K>, lp: ListParams) -> Outcome {
    match api.list(&lp).await {
        Ok(list) => {
            // managedFields say when tracked fields were last written: kept as changes
            let mut journal = Journal::default();
            let objects = list
                .items
                .into_iter()
                .map(|mut object| {
                    let managed = object.meta_mut().managed_fields.take();
                    let object = Arc::new(object).into_object();
                    if let Some(managed) = managed.and_then(|m| serde_json::to_value(m).ok()) {
                        crate::changes::managed::record(&mut journal, &object, &managed);
                    }
                    object
                })
                .collect();
            Outcome::Ok(objects, K::KIND, journal)
        }
        Err(e) => classify(K::KIND, e),
    }
}

fn classify(kind: Kind, error: kube::Error) -> Outcome {
    match error {
        kube::Error::Api(s) if s.code == 403 => Outcome::Denied(kind, s.message.clone()),
        kube::Error::Api(s) if s.code == 404 => Outcome::Ok(Vec::new(), kind, Journal::default()),
        other => Outcome::Failed(kind, other.to_string()),
    }
}

/// Reads what the graph of a target in `scope` can need into a new store.
pub async fn read(client: &Client, scope: &Scope) -> Result<(Store, ReadReport), LiveError> {
    let ns: Option<&str> = match scope {
        Scope::Namespace(n) => Some(n.as_str()),
        _ => None,
    };
    let mut lists = Lists {
        client,
        scope,
        namespace: ns,
        requests: Vec::new(),
    };
    visit_kinds(&mut lists);
    let mut futs = lists.requests;
    // the cluster DNS
    if ns != Some(CLUSTER_DNS_NAMESPACE) && *scope != Scope::All {
        let dns_api: Api<Service> = Api::namespaced(client.clone(), CLUSTER_DNS_NAMESPACE);
        let by_name = ListParams::default().fields(&format!("metadata.name={CLUSTER_DNS_SERVICE}"));
        futs.push(Box::pin(list::<Service>(dns_api, by_name)));
        let slices = ListParams::default()
            .labels(&format!("kubernetes.io/service-name={CLUSTER_DNS_SERVICE}"));
        futs.push(Box::pin(list::<EndpointSlice>(
            Api::namespaced(client.clone(), CLUSTER_DNS_NAMESPACE),
            slices,
        )));
        futs.push(Box::pin(list::<Pod>(
            Api::namespaced(client.clone(), CLUSTER_DNS_NAMESPACE),
            ListParams::default().labels("k8s-app=kube-dns"),
        )));
    }
    let requests = futs.len();
    let outcomes = join_all(futs).await;
    let mut store = Store::new();
    let mut report = ReadReport {
        requests,
        ..Default::default()
    };
    let mut failures = Vec::new();
    let mut any_ok = false;
    for outcome in outcomes {
        match outcome {
            Outcome::Ok(objs, kind, journal) => {
                for entry in journal.entries() {
                    store.journal_mut().record(entry.clone());
                }
                any_ok = true;
                report.objects += objs.len();
                if kind != Kind::Event
                    && kind != Kind::Pod
                    && kind != Kind::Service
                    && kind != Kind::EndpointSlice
                {
                    store.mark_listed(kind, if kind.namespaced() { ns } else { None });
                } else if matches!(kind, Kind::Pod | Kind::Service | Kind::EndpointSlice)
                    && let Some(namespace) = ns
                {
                    store.mark_listed(kind, Some(namespace));
                }
                for obj in objs {
                    store.apply(obj);
                }
            }
            Outcome::Denied(kind, reason) => {
                report.denied.insert(kind, reason.clone());
                store.mark_denied(kind, reason);
            }
            Outcome::NotServed => {}
            Outcome::Failed(kind, reason) => {
                failures.push(format!("{}: {reason}", kind.plural()));
                store.mark_denied(kind, format!("could not be read: {reason}"));
            }
        }
    }
    report.requests += read_neighbours(client, scope, &mut store).await;
    if *scope == Scope::All {
        for kind in Kind::ALL {
            if !store.denied().contains_key(&kind) && kind != Kind::Event {
                store.mark_listed(kind, None);
            }
        }
    }
    if !any_ok {
        if let Some(failure) = failures.first() {
            return Err(LiveError::Unreachable(failure.clone()));
        }
        let reasons: Vec<String> = report.denied.values().take(1).cloned().collect();
        return Err(LiveError::Forbidden(reasons.join("; ")));
    }
    if let Some(failure) = failures.first() {
        // partially readable: report like a denial so the diagnosis says what it missed
        tracing::warn!(failure = %failure, "some kinds could not be read");
    }
    Ok((store, report))
}

/// The LISTs one diagnosis in a scope needs, one or none per kind of the kind table:
/// namespaced kinds in the target's namespace (none for a Node target, but its
/// Pods), cluster-scoped kinds whole.
struct Lists<'a> {
    client: &'a Client,
    scope: &'a Scope,
    /// The namespace of a namespaced scope.
    namespace: Option<&'a str>,
    requests: Vec<futures::future::BoxFuture<'static, Outcome>>,
}

impl Lists<'_> {
    /// Whether the scope reads the namespaced kinds (a Node target reads its Pods only).
    fn reads_namespaces(&self) -> bool {
        !matches!(self.scope, Scope::Node(_))
    }
}

impl KindVisitor for Lists<'_> {
    fn full<K: Listed>(&mut self) {
        let client = self.client.clone();
        match self.scope {
            Scope::Node(node) if K::KIND == Kind::Pod => {
                let pods_on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
                self.requests
                    .push(Box::pin(list::<K>(Api::all(client), pods_on_node)));
            }
            _ if K::KIND.namespaced() && !self.reads_namespaces() => {}
            _ => {
                let api = kinds::api::<K>(client, self.namespace);
                self.requests
                    .push(Box::pin(list::<K>(api, ListParams::default())));
            }
        }
    }

    fn metadata<K: Listed + Default>(&mut self) {
        if self.reads_namespaces() || !K::KIND.namespaced() {
            let api = kinds::api::<K>(self.client.clone(), self.namespace);
            self.requests.push(Box::pin(list_metadata::<K>(api)));
        }
    }

    fn events(&mut self) {
        let client = self.client.clone();
        match self.scope {
            Scope::Node(node) => {
                let node_events = ListParams::default().fields(&format!(
                    "involvedObject.kind=Node,involvedObject.name={node}"
                ));
                self.requests
                    .push(Box::pin(list_events(Api::all(client), node_events)));
            }
            _ => {
                let api = match self.namespace {
                    Some(namespace) => Api::namespaced(client.clone(), namespace),
                    None => Api::all(client.clone()),
                };
                self.requests
                    .push(Box::pin(list_events(api, ListParams::default())));
                if self.namespace.is_some() {
                    // Node events live in the default namespace: ask for them by field.
                    let node_events = ListParams::default().fields("involvedObject.kind=Node");
                    self.requests
                        .push(Box::pin(list_events(Api::all(client), node_events)));
                }
            }
        }
    }

    fn discovered(&mut self, kind: Kind) {
        let client = self.client.clone();
        let namespace = self.namespace.map(str::to_owned);
        self.requests.push(Box::pin(async move {
            match gateway_resource(&client, kind).await {
                Some(resource) => {
                    let api: Api<DynamicObject> = match (&namespace, kind.namespaced()) {
                        (Some(namespace), true) => {
                            Api::namespaced_with(client, namespace, &resource)
                        }
                        _ => Api::all_with(client, &resource),
                    };
                    match api.list(&ListParams::default()).await {
                        Ok(list) => Outcome::Ok(
                            list.items
                                .into_iter()
                                .map(|mut object| {
                                    object.metadata.managed_fields = None;
                                    match kind {
                                        Kind::GatewayClass => {
                                            Object::GatewayClass(Arc::new(object))
                                        }
                                        Kind::Gateway => Object::Gateway(Arc::new(object)),
                                        _ => Object::HttpRoute(Arc::new(object)),
                                    }
                                })
                                .collect(),
                            kind,
                            Journal::default(),
                        ),
                        Err(e) => classify(kind, e),
                    }
                }
                // not served (or discovery failed): absence says nothing
                None => Outcome::NotServed,
            }
        }));
    }

    fn metrics(&mut self, kind: Kind) {
        // a Node target's PodMetrics are read with its neighbours (read_neighbours)
        if kind.namespaced() && !self.reads_namespaces() {
            return;
        }
        let namespace = self.namespace.map(str::to_owned);
        self.requests
            .push(Box::pin(list_metrics(self.client.clone(), kind, namespace)));
    }
}

/// The objects of a `metrics.k8s.io` kind in `namespace` (everywhere when `None`),
/// when the cluster serves the API: not served, forbidden or failing (an
/// unavailable metrics-server), nothing is read and nothing is reported.
async fn list_metrics(client: Client, kind: Kind, namespace: Option<String>) -> Outcome {
    let Some(resource) = metrics_resource(&client, kind).await else {
        return Outcome::NotServed;
    };
    let api: Api<DynamicObject> = match (&namespace, kind.namespaced()) {
        (Some(namespace), true) => Api::namespaced_with(client, namespace, &resource),
        _ => Api::all_with(client, &resource),
    };
    match api.list(&ListParams::default()).await {
        Ok(list) => Outcome::Ok(
            list.items
                .into_iter()
                .filter_map(|mut object| {
                    object.metadata.managed_fields = None;
                    Object::from_dynamic(kind, object)
                })
                .collect(),
            kind,
            Journal::default(),
        ),
        Err(error) => {
            tracing::debug!(kind = %kind, %error, "metrics.k8s.io not readable: usage is not read");
            Outcome::NotServed
        }
    }
}

/// The ApiResource of a `metrics.k8s.io` kind, when the cluster serves it.
pub async fn metrics_resource(client: &Client, kind: Kind) -> Option<ApiResource> {
    let gvk = GroupVersionKind::gvk(kinds::metrics::GROUP, kinds::metrics::VERSION, kind.name());
    kube::discovery::pinned_kind(client, &gvk)
        .await
        .ok()
        .map(|(resource, _)| resource)
}

/// At most this many Nodes under pressure have their other Pods read.
const MAX_PRESSURED_NODES: usize = 8;

/// The second round of a live read: the neighbours of the scope's Pods on Nodes
/// under node pressure (their Pods in every namespace, bound to those Nodes, and
/// the PodMetrics of their namespaces), so that `NoisyNeighbor` can name what
/// uses the Node's memory or disk. Nothing is read when no Node shows pressure.
async fn read_neighbours(client: &Client, scope: &Scope, store: &mut Store) -> usize {
    let mut requests = 0;
    let nodes: Vec<String> = match scope {
        Scope::Namespace(_) => {
            let mut nodes: Vec<String> = store
                .all::<Pod>()
                .filter_map(|p| crate::k8s::pod::node_name(p).map(str::to_owned))
                .collect::<std::collections::BTreeSet<String>>()
                .into_iter()
                .filter(|node| eviction::pressure_evidence(store, node))
                .collect();
            nodes.truncate(MAX_PRESSURED_NODES);
            nodes
        }
        Scope::Node(node) if eviction::pressure_evidence(store, node) => vec![node.clone()],
        _ => Vec::new(),
    };
    if nodes.is_empty() {
        return 0;
    }
    if matches!(scope, Scope::Namespace(_)) {
        let futs = nodes.iter().map(|node| {
            let on_node = ListParams::default().fields(&format!("spec.nodeName={node}"));
            list::<Pod>(Api::all(client.clone()), on_node)
        });
        requests += nodes.len();
        for outcome in join_all(futs).await {
            if let Outcome::Ok(objects, _, _) = outcome {
                for object in objects {
                    let object_ref = crate::store::object_ref(&object);
                    if !store.contains(&object_ref) {
                        store.apply(object);
                    }
                }
            }
        }
    }
    // the usage of the Pods on those Nodes, namespace by namespace
    let listed = match scope {
        Scope::Namespace(namespace) => Some(namespace.clone()),
        _ => None,
    };
    let namespaces: std::collections::BTreeSet<String> = nodes
        .iter()
        .flat_map(|node| store.pods_on_node(node))
        .filter_map(|pod_ref| pod_ref.namespace.clone())
        .filter(|namespace| Some(namespace) != listed.as_ref())
        .collect();
    requests += namespaces.len();
    let futs = namespaces
        .into_iter()
        .map(|namespace| list_metrics(client.clone(), Kind::PodMetrics, Some(namespace)));
    for outcome in join_all(futs).await {
        if let Outcome::Ok(objects, _, _) = outcome {
            for object in objects {
                store.apply(object);
            }
        }
    }
    requests
}

/// Objects of `K` as metadata only (Secrets: their data is never requested).
async fn list_metadata<K: Listed + Default>(api: Api<K>) -> Outcome {
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => Outcome::Ok(
            list.items
                .into_iter()
                .map(|partial| {
                    let mut metadata = partial.metadata;
                    metadata.managed_fields = None;
                    let mut object = K::default();
                    *object.meta_mut() = metadata;
                    Arc::new(object).into_object()
                })
                .collect(),
            K::KIND,
            Journal::default(),
        ),
        Err(e) => classify(K::KIND, e),
    }
}

async fn list_events(api: Api<CoreEvent>, lp: ListParams) -> Outcome {
    match api.list(&lp).await {
        Ok(list) => Outcome::Ok(
            list.items
                .into_iter()
                .filter_map(|event| {
                    let mut value = serde_json::to_value(&event).ok()?;
                    if let Some(fields) = value.as_object_mut() {
                        fields.insert("apiVersion".into(), "v1".into());
                        fields.insert("kind".into(), "Event".into());
                    }
                    EventRecord::from_value(&value).map(|r| Object::Event(Arc::new(r)))
                })
                .collect(),
            Kind::Event,
            Journal::default(),
        ),
        Err(e) => classify(Kind::Event, e),
    }
}

/// The ApiResource of a Gateway API kind, when the cluster serves it.
pub async fn gateway_resource(client: &Client, kind: Kind) -> Option<ApiResource> {
    for version in ["v1", "v1beta1"] {
        let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", version, kind.name());
        if let Ok((ar, _)) = kube::discovery::pinned_kind(client, &gvk).await {
            return Some(ar);
        }
    }
    None
}

// ---- logs -------------------------------------------------------------------------

/// Containers of the graph's Pods worth reading logs of: (pod, container, previous).
pub fn failing_containers(store: &Store, graph: &ObjectGraph) -> Vec<(ObjRef, String, bool)> {
    let mut out = Vec::new();
    for pod_ref in graph.subjects(Kind::Pod) {
        let Some(pod) = store.get_ref::<Pod>(pod_ref) else {
            continue;
        };
        let Some(st) = &pod.status else { continue };
        for cs in st
            .init_container_statuses
            .iter()
            .flatten()
            .chain(st.container_statuses.iter().flatten())
        {
            let running = cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some();
            if cs.restart_count > 0 {
                out.push((pod_ref.clone(), cs.name.clone(), true));
            }
            if (running && !cs.ready) || cs.restart_count > 0 {
                out.push((pod_ref.clone(), cs.name.clone(), false));
            }
        }
    }
    out.truncate(40);
    out
}

/// Log tails read ahead of a diagnosis.
#[derive(Default, Debug, Clone)]
pub struct FetchedLogs {
    tails: HashMap<(ObjRef, String, bool), Vec<String>>,
}

impl LogSource for FetchedLogs {
    fn tail(&self, pod: &ObjRef, container: &str, previous: bool) -> Option<Vec<String>> {
        self.tails
            .get(&(pod.clone(), container.to_owned(), previous))
            .cloned()
    }
}

/// Reads bounded log tails (`pods/log`). A container without a previous instance is skipped.
pub async fn fetch_logs(
    client: &Client,
    wanted: Vec<(ObjRef, String, bool)>,
    tail_lines: i64,
) -> Result<FetchedLogs, kube::Error> {
    let futs = wanted.into_iter().map(|(pod, container, previous)| {
        let api: Api<Pod> = Api::namespaced(client.clone(), pod.ns());
        async move {
            let lp = LogParams {
                container: Some(container.clone()),
                previous,
                tail_lines: Some(tail_lines.clamp(1, 1000)),
                limit_bytes: Some(64 * 1024),
                ..LogParams::default()
            };
            let result = api.logs(&pod.name, &lp).await;
            ((pod, container, previous), result)
        }
    });
    let mut out = FetchedLogs::default();
    for (key, result) in join_all(futs).await {
        match result {
            Ok(text) => {
                out.tails
                    .insert(key, text.lines().map(str::to_owned).collect());
            }
            Err(kube::Error::Api(status)) if status.code == 400 || status.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}
