//! NoisyNeighbor: the Pods of a Node under node pressure that consume most of the
//! resource that runs out, named with their workloads and their usage against
//! their requests, when the pressure hurts Pods of other workloads.
//!
//! Evidence of pressure: the Node's `MemoryPressure` / `DiskPressure` / `PIDPressure`
//! condition, or Pods bound to it that the kubelet evicted (or refused) for it.
//! What uses the resource, best evidence first:
//!
//! 1. memory: `metrics.k8s.io` PodMetrics of the Pods bound to the Node (their
//!    working set), when the input has them;
//! 2. the kubelet's eviction messages (`Container app was using 1200Mi, request is
//!    128Mi`: the kubelet names the containers above their requests);
//! 3. without any measured usage: memory — the running Pods without a memory limit
//!    or with a limit far above their request (they can grow without bound); disk —
//!    the running Pods writing to an emptyDir without `sizeLimit` and without an
//!    ephemeral-storage limit; process ids — the Pod the kubelet evicted first (it
//!    evicts the largest process users of the lowest priority first).
//!
//! A consumer is named only when the pressure hurts another workload (a Pod of
//! another workload evicted or refused for it, or running on the Node while its
//! condition holds): a Pod evicted for its own usage alone is `PodEvicted`'s story,
//! and one evicted for its own limits is not node pressure at all.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Node, Pod, PodSpec};

use crate::api::{Risk, Severity};
use crate::k8s::eviction::{self, Eviction, Pressure};
use crate::k8s::quantity::{self, Quantity};
use crate::k8s::{duration, node, owners, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::store::{Object, Store};

use super::{describe_condition, node_events};

/// Evictions older than this (and no pressure condition now): the finding is Info.
const RECENT_SECS: i64 = 3600;

/// A limit at least this many times the request is "far above" it.
const FAR_ABOVE: i128 = 4;

/// A measured Pod counts as a heavy user when its usage above its request is at
/// least this fraction of the Node's allocatable amount.
const SIGNIFICANT: f64 = 0.05;

/// At most this many consumers are named.
const NAMED: usize = 3;

/// Where a consumer's usage comes from.
#[derive(Clone, Debug, PartialEq)]
enum Source {
    /// A PodMetrics sample (timestamp, window).
    Metrics(Option<String>, Option<String>),
    /// The kubelet's eviction message of the Pod.
    Eviction,
    /// No measure: the Pod can grow without bound.
    Unbounded,
    /// No measure: the kubelet evicted it first.
    EvictedFirst(Option<Timestamp>),
}

/// A Pod that uses (or may use) the resource.
struct Consumer<'a> {
    pod_ref: ObjRef,
    pod: &'a Pod,
    workload: ObjRef,
    using: Option<Quantity>,
    request: Quantity,
    /// `None`: some container has no limit of the resource.
    limit: Option<Quantity>,
    /// Containers without a limit of the resource.
    unlimited: Vec<String>,
    source: Source,
}

impl Consumer<'_> {
    fn excess(&self) -> Quantity {
        self.using
            .map(|using| using.saturating_sub(self.request))
            .unwrap_or(Quantity::ZERO)
    }
}

/// A Pod bound to the Node, with its eviction for the pressure (if any).
struct Bound<'a> {
    pod_ref: ObjRef,
    pod: &'a Pod,
    workload: ObjRef,
    eviction: Option<Eviction>,
    evicted_at: Option<Timestamp>,
}

pub(super) fn evaluate(ctx: &RuleContext, node: &Node, node_ref: &ObjRef, out: &mut Vec<Draft>) {
    let store = ctx.store;
    let name = node_ref.name.as_str();
    let pressures_now = eviction::node_pressures(node);
    // the Pods bound to the Node, with their node-pressure eviction (if any)
    let bound: Vec<(ObjRef, &Pod, Option<Eviction>)> = store
        .pods_on_node(name)
        .filter_map(|pod_ref| {
            let pod = store.get_ref::<Pod>(pod_ref)?.as_ref();
            let eviction = pod::is_terminal(pod)
                .then(|| eviction::of_pod(pod))
                .flatten();
            Some((pod_ref.clone(), pod, eviction))
        })
        .collect();
    if pressures_now.is_empty() && bound.iter().all(|(_, _, e)| e.is_none()) {
        return;
    }
    let workloads: Vec<ObjRef> = bound
        .iter()
        .map(|(pod_ref, pod, _)| workload_of(store, pod_ref, pod))
        .collect();
    for pressure in Pressure::ALL {
        let condition = pressures_now
            .contains(&pressure)
            .then(|| node::condition(node, pressure.condition()))
            .flatten();
        let pods: Vec<Bound> = bound
            .iter()
            .zip(&workloads)
            .map(|((pod_ref, pod, eviction), workload)| Bound {
                pod_ref: pod_ref.clone(),
                pod,
                workload: workload.clone(),
                eviction: eviction.clone().filter(|e| e.is(pressure)),
                evicted_at: eviction::evicted_at(pod),
            })
            .collect();
        let evicted: Vec<&Bound> = pods.iter().filter(|b| b.eviction.is_some()).collect();
        if condition.is_none() && evicted.is_empty() {
            continue;
        }
        let consumers = consumers(ctx, node, pressure, &pods);
        if consumers.is_empty() {
            continue;
        }
        let heavy: BTreeSet<&ObjRef> = consumers.iter().map(|c| &c.workload).collect();
        // the victims: Pods of other workloads evicted (or refused) for the pressure,
        // or running on the Node while its condition holds
        let victims: Vec<&Bound> = pods
            .iter()
            .filter(|b| !heavy.contains(&b.workload))
            .filter(|b| b.eviction.is_some() || (condition.is_some() && !pod::is_terminal(b.pod)))
            .collect();
        if victims.is_empty() {
            continue;
        }
        let recent = condition.is_some()
            || evicted.iter().any(|b| {
                b.evicted_at
                    .is_none_or(|at| duration::age(ctx.now(), at) <= RECENT_SECS)
            });
        let draft = finding(
            ctx, node, node_ref, pressure, condition, &consumers, &victims, recent,
        );
        out.push(draft);
    }
}

/// The workload a person edits to change a Pod: its top owner; a ReplicaSet the
/// input does not hold is named by the Deployment its name and the Pod's
/// `pod-template-hash` give.
fn workload_of(store: &Store, pod_ref: &ObjRef, pod: &Pod) -> ObjRef {
    let top = owners::top_owner(store, pod_ref);
    if top.kind == Kind::ReplicaSet
        && !store.contains(&top)
        && let Some(hash) = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("pod-template-hash"))
        && let Some(deployment) = top.name.strip_suffix(&format!("-{hash}"))
    {
        return ObjRef::namespaced(Kind::Deployment, top.ns(), deployment);
    }
    if top.kind == Kind::Pod
        && let Some(owner) = owners::controller_of(store, &pod.metadata)
    {
        return owner;
    }
    top
}

/// The containers that run next to each other: app containers and sidecars.
fn long_running(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers.iter().chain(
        spec.init_containers
            .iter()
            .flatten()
            .filter(|c| quantity::is_sidecar(c)),
    )
}

/// (request, limit — `None` when some container has none, containers without one)
/// of a resource, over a Pod's long-running containers.
fn request_and_limit(pod: &Pod, resource: &str) -> (Quantity, Option<Quantity>, Vec<String>) {
    let mut request = Quantity::ZERO;
    let mut limit = Some(Quantity::ZERO);
    let mut unlimited = Vec::new();
    for container in pod.spec.iter().flat_map(long_running) {
        if let Some(amount) = quantity::container_requests(container).get(resource) {
            request = request.saturating_add(*amount);
        }
        let limits =
            quantity::resources(container.resources.as_ref().and_then(|r| r.limits.as_ref()));
        match limits.get(resource) {
            Some(amount) => limit = limit.map(|l| l.saturating_add(*amount)),
            None => {
                limit = None;
                unlimited.push(container.name.clone());
            }
        }
    }
    (request, limit, unlimited)
}

/// A Pod's memory working set from its PodMetrics: (usage, timestamp, window).
fn pod_metrics_memory(
    store: &Store,
    pod_ref: &ObjRef,
) -> Option<(Quantity, Option<String>, Option<String>)> {
    let metrics_ref = ObjRef::namespaced(Kind::PodMetrics, pod_ref.ns(), &pod_ref.name);
    let Some(Object::PodMetrics(metrics)) = store.object(&metrics_ref) else {
        return None;
    };
    let containers = metrics.data.get("containers")?.as_array()?;
    let mut total = Quantity::ZERO;
    let mut any = false;
    for container in containers {
        if let Some(memory) = container
            .pointer("/usage/memory")
            .and_then(|v| v.as_str())
            .and_then(|v| Quantity::parse(v).ok())
        {
            total = total.saturating_add(memory);
            any = true;
        }
    }
    let text = |field: &str| {
        metrics
            .data
            .get(field)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    any.then(|| (total, text("timestamp"), text("window")))
}

fn allocatable(node: &Node, resource: &str) -> Option<Quantity> {
    node.status
        .as_ref()?
        .allocatable
        .as_ref()?
        .get(resource)
        .and_then(Quantity::from_k8s)
}

/// The Pods that use most of the resource, heaviest first.
fn consumers<'a>(
    ctx: &RuleContext,
    node: &Node,
    pressure: Pressure,
    pods: &[Bound<'a>],
) -> Vec<Consumer<'a>> {
    let resource = pressure.resource();
    let consumer = |b: &Bound<'a>, using: Option<Quantity>, source: Source| {
        let (request, limit, unlimited) = request_and_limit(b.pod, resource);
        Consumer {
            pod_ref: b.pod_ref.clone(),
            pod: b.pod,
            workload: b.workload.clone(),
            using,
            request,
            limit,
            unlimited,
            source,
        }
    };
    let mut measured: Vec<Consumer> = Vec::new();
    for b in pods {
        if pressure == Pressure::Memory
            && !pod::is_terminal(b.pod)
            && let Some((using, at, window)) = pod_metrics_memory(ctx.store, &b.pod_ref)
        {
            measured.push(consumer(b, Some(using), Source::Metrics(at, window)));
        } else if pressure != Pressure::Pids
            && let Some((using, request)) = b.eviction.as_ref().and_then(Eviction::total_using)
        {
            let mut c = consumer(b, Some(using), Source::Eviction);
            c.request = request;
            measured.push(c);
        }
    }
    if !measured.is_empty() {
        let floor = allocatable(node, resource).map(|a| a.as_f64() * SIGNIFICANT);
        let mut heavy: Vec<Consumer> = measured
            .into_iter()
            .filter(|c| c.excess().is_positive())
            .filter(|c| {
                c.source == Source::Eviction || floor.is_none_or(|f| c.excess().as_f64() >= f)
            })
            .collect();
        heavy.sort_by(|a, b| b.excess().cmp(&a.excess()).then(a.pod_ref.cmp(&b.pod_ref)));
        heavy.truncate(NAMED);
        return heavy;
    }
    // nothing measures the usage. A workload the kubelet evicted while within its
    // requests is a victim, not a suspect.
    let within: BTreeSet<&ObjRef> = pods
        .iter()
        .filter(|b| {
            b.eviction
                .as_ref()
                .is_some_and(|e| e.usage.is_empty() && !e.refused)
        })
        .map(|b| &b.workload)
        .collect();
    let mut suspects: Vec<Consumer> = match pressure {
        Pressure::Memory => pods
            .iter()
            .filter(|b| !pod::is_terminal(b.pod) && !within.contains(&b.workload))
            .map(|b| consumer(b, None, Source::Unbounded))
            .filter(|c| match c.limit {
                None => true,
                Some(limit) => {
                    c.request.is_positive() && limit.nanos() >= c.request.nanos() * FAR_ABOVE
                }
            })
            .collect(),
        Pressure::Disk => pods
            .iter()
            .filter(|b| {
                !pod::is_terminal(b.pod)
                    && !within.contains(&b.workload)
                    && !unbounded_empty_dirs(b.pod).is_empty()
            })
            .map(|b| consumer(b, None, Source::Unbounded))
            .filter(|c| c.limit.is_none())
            .collect(),
        Pressure::Pids => {
            let mut evicted: Vec<&Bound> = pods.iter().filter(|b| b.eviction.is_some()).collect();
            evicted.sort_by_key(|b| (b.evicted_at, b.pod_ref.clone()));
            // only when the first eviction stands out: later ones are of other workloads
            match evicted.first() {
                Some(first) if evicted.iter().any(|b| b.workload != first.workload) => {
                    vec![consumer(
                        first,
                        None,
                        Source::EvictedFirst(first.evicted_at),
                    )]
                }
                _ => Vec::new(),
            }
        }
    };
    // no limit first, then the widest gap between request and limit
    suspects.sort_by(|a, b| {
        let gap = |c: &Consumer| {
            c.limit
                .map(|l| l.saturating_sub(c.request))
                .unwrap_or(Quantity::from_nanos(i128::MAX))
        };
        gap(b).cmp(&gap(a)).then(a.pod_ref.cmp(&b.pod_ref))
    });
    suspects.truncate(NAMED);
    suspects
}

/// A Pod's emptyDir volumes without `sizeLimit`.
fn unbounded_empty_dirs(pod: &Pod) -> Vec<&str> {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter(|v| {
            v.empty_dir
                .as_ref()
                .is_some_and(|e| e.size_limit.is_none() && e.medium.as_deref() != Some("Memory"))
        })
        .map(|v| v.name.as_str())
        .collect()
}

fn amount(q: Quantity, resource: &str) -> String {
    q.display_for(resource)
}

/// One evidence line per consumer.
fn describe_consumer(c: &Consumer, resource: &str) -> String {
    let mut line = format!("Pod {}/{}", c.pod_ref.ns(), c.pod_ref.name);
    if c.workload != c.pod_ref {
        line.push_str(&format!(
            " ({} {}/{})",
            c.workload.kind,
            c.workload.ns(),
            c.workload.name
        ));
    }
    line.push_str(": ");
    match (&c.source, c.using) {
        (Source::Metrics(at, window), Some(using)) => {
            line.push_str(&format!("{resource} usage {}", amount(using, resource)));
            let mut sample = vec!["PodMetrics".to_owned()];
            if let Some(at) = at {
                sample.push(format!("at {at}"));
            }
            if let Some(window) = window {
                sample.push(format!("window {window}"));
            }
            line.push_str(&format!(" ({})", sample.join(" ")));
        }
        (Source::Eviction, Some(using)) => line.push_str(&format!(
            "was using {} when the kubelet evicted it",
            amount(using, resource)
        )),
        (Source::EvictedFirst(at), _) => line.push_str(&format!(
            "evicted first for {resource}{}",
            at.map(|at| format!(" at {at}")).unwrap_or_default()
        )),
        _ => line.push_str("usage not measured"),
    }
    if resource != "pids" {
        line.push_str(&format!(
            ", request {}",
            if c.request.is_positive() {
                amount(c.request, resource)
            } else {
                "none".to_owned()
            }
        ));
        match c.limit {
            Some(limit) => line.push_str(&format!(", limit {}", amount(limit, resource))),
            None => line.push_str(&format!(
                ", no {resource} limit (container {})",
                c.unlimited.join(", ")
            )),
        }
        if let Some(priority) = c
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.priority)
            .filter(|p| *p > 0)
        {
            let class = c
                .pod
                .spec
                .as_ref()
                .and_then(|s| s.priority_class_name.as_deref())
                .map(|name| format!(" ({name}): the kubelet evicts lower priorities first"))
                .unwrap_or_default();
            line.push_str(&format!(", priority {priority}{class}"));
        }
        if resource == "ephemeral-storage" {
            let dirs = unbounded_empty_dirs(c.pod);
            if !dirs.is_empty() {
                line.push_str(&format!(
                    ", emptyDir without sizeLimit: {}",
                    dirs.join(", ")
                ));
            }
        }
    }
    line
}

/// `Deployment shop/web: web-1, web-2` per victim workload.
fn describe_victims(victims: &[&Bound]) -> Vec<String> {
    let mut by_workload: BTreeMap<&ObjRef, Vec<&Bound>> = BTreeMap::new();
    for victim in victims {
        by_workload
            .entry(&victim.workload)
            .or_default()
            .push(victim);
    }
    by_workload
        .into_iter()
        .map(|(workload, pods)| {
            let evicted = pods.iter().filter(|b| b.eviction.is_some()).count();
            let names: Vec<&str> = pods
                .iter()
                .take(5)
                .map(|b| b.pod_ref.name.as_str())
                .collect();
            let within = pods.iter().all(|b| {
                b.eviction
                    .as_ref()
                    .is_none_or(|e| e.usage.is_empty() && !e.refused)
            });
            let state = if evicted == 0 {
                "running under the pressure".to_owned()
            } else if within {
                format!("{evicted} evicted while within their requests")
            } else {
                format!("{evicted} evicted or refused")
            };
            format!(
                "{} {}/{} ({state}): {}",
                workload.kind,
                workload.ns(),
                workload.name,
                names.join(", ")
            )
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn finding(
    ctx: &RuleContext,
    node: &Node,
    node_ref: &ObjRef,
    pressure: Pressure,
    condition: Option<&k8s_openapi::api::core::v1::NodeCondition>,
    consumers: &[Consumer],
    victims: &[&Bound],
    recent: bool,
) -> Draft {
    let name = node_ref.name.as_str();
    let resource = pressure.resource();
    let noun = pressure.noun();
    let top = &consumers[0];
    let workloads: Vec<String> = consumers
        .iter()
        .map(|c| c.workload.to_string())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let evicted_victims: Vec<&&Bound> = victims.iter().filter(|b| b.eviction.is_some()).collect();
    let victim_workloads: BTreeSet<String> = evicted_victims
        .iter()
        .map(|b| b.workload.to_string())
        .collect();
    let hurt = if !evicted_victims.is_empty() {
        format!(
            "{} Pod(s) of {} {} evicted",
            evicted_victims.len(),
            if victim_workloads.len() <= 2 {
                victim_workloads
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(" and ")
            } else {
                format!("{} other workloads", victim_workloads.len())
            },
            if evicted_victims.len() == 1 {
                "was"
            } else {
                "were"
            }
        )
    } else {
        format!(
            "{} Pod(s) of other workloads run under the pressure and are next to be evicted",
            victims.len()
        )
    };
    let what = match (&top.source, top.using) {
        (Source::Metrics(..) | Source::Eviction, Some(using)) => format!(
            "{} {} most of node {name}'s {noun} ({} uses {} against a request of {}{})",
            workloads.join(", "),
            if workloads.len() == 1 { "uses" } else { "use" },
            top.pod_ref.name,
            amount(using, resource),
            if top.request.is_positive() {
                amount(top.request, resource)
            } else {
                "none".to_owned()
            },
            if top.limit.is_none() {
                format!(", no {resource} limit")
            } else {
                String::new()
            }
        ),
        (Source::EvictedFirst(_), _) => format!(
            "{} was the first evicted from node {name} for {noun}: the kubelet evicts the largest process users of the lowest priority first",
            workloads.join(", ")
        ),
        _ => format!(
            "node {name} runs low on {noun} and nothing measures what uses it; {} can grow without bound ({})",
            workloads.join(", "),
            if pressure == Pressure::Disk {
                "emptyDir without sizeLimit, no ephemeral-storage limit".to_owned()
            } else if top.limit.is_none() {
                format!("no {resource} limit")
            } else {
                format!("{resource} limit far above the request")
            }
        ),
    };
    let message = upper_first(&format!("{what}: {hurt}"));
    let mut draft = Draft::new(RuleId::NoisyNeighbor, node_ref.clone())
        .discriminator(resource)
        .message(message);
    if !recent {
        draft = draft.severity(Severity::Info).message(format!(
            "{} (more than an hour ago; the node shows no {} now)",
            upper_first(&what),
            pressure.condition()
        ));
    }
    for c in consumers {
        draft = draft.scope(c.pod_ref.clone());
        if let Some(controller) = owners::controller_of(ctx.store, &c.pod.metadata) {
            draft = draft.scope(controller);
        }
        draft = draft.scope(c.workload.clone());
    }
    if let Some(condition) = condition {
        draft = draft
            .evidence(describe_condition(condition, ctx.now()))
            .seen(condition.last_transition_time.as_ref().map(|t| t.0), None);
    }
    if let Some(alloc) = allocatable(node, resource) {
        draft = draft.evidence(format!(
            "allocatable {resource} {}",
            amount(alloc, resource)
        ));
    }
    for c in consumers {
        draft = draft.evidence(describe_consumer(c, resource));
    }
    if matches!(top.source, Source::Unbounded) {
        draft = draft.evidence(format!(
            "no usage measured: no PodMetrics (metrics.k8s.io) for the Pods on {name} and no usage in the kubelet's eviction messages"
        ));
    }
    if let Some((threshold, available)) = victims
        .iter()
        .filter_map(|b| b.eviction.as_ref().and_then(|e| e.threshold.clone()))
        .next()
    {
        draft = draft.evidence(format!(
            "eviction threshold {threshold}, available {available} ({resource})"
        ));
    }
    for line in describe_victims(victims) {
        draft = draft.evidence(format!("hurt: {line}"));
    }
    for b in victims.iter().filter(|b| b.eviction.is_some()) {
        draft = draft.seen(b.evicted_at, b.evicted_at);
    }
    let reclaim = format!("Attempting to reclaim {}", resource);
    for event in node_events(ctx, node_ref, &["EvictionThresholdMet"]) {
        if event.message.contains(&reclaim) {
            draft = draft.event(event);
        }
    }
    draft = remediation(draft, name, pressure, top);
    draft
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn remediation(draft: Draft, node: &str, pressure: Pressure, top: &Consumer) -> Draft {
    let workload = &top.workload;
    let settable = matches!(
        workload.kind,
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet
    );
    let container = top
        .unlimited
        .first()
        .cloned()
        .or_else(|| {
            top.pod
                .spec
                .as_ref()
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone())
        })
        .unwrap_or_else(|| "<container>".to_owned());
    let target = format!("{}{}", workload.kubectl(), workload.ns_flag());
    let draft = match pressure {
        Pressure::Memory => draft.summary(format!(
            "Bound the neighbour {}: set its memory request to its real usage and a memory limit (requests = limits makes it Guaranteed: it is no longer evicted for others' sake, and is OOM-killed alone if it outgrows its limit), or move it to nodes of its own. The other workloads' evictions stop with the node's pressure.",
            workload
        )),
        Pressure::Disk => draft.summary(format!(
            "Bound what {} writes: an ephemeral-storage request and limit, a sizeLimit on its emptyDir volumes, log rotation; or move it to nodes of its own.",
            workload
        )),
        Pressure::Pids => draft.summary(format!(
            "Find why {} forks without bound (a fork loop, leaked threads) and set a pod PID limit (the kubelet's podPidsLimit); or move it to nodes of its own.",
            workload
        )),
    };
    let mut draft = draft
        .read_only(
            "See the node's pressure and what its Pods request",
            format!("kubectl describe node {node}"),
        )
        .read_only(
            "List the Pods bound to the node",
            format!("kubectl get pods -A -o wide --field-selector spec.nodeName={node}"),
        );
    if pressure == Pressure::Memory {
        draft = draft.read_only(
            "See what the Pods really use (metrics-server)",
            "kubectl top pods -A --sort-by=memory",
        );
    }
    if settable && pressure != Pressure::Pids {
        let resource = pressure.resource();
        let value = top
            .using
            .map(|u| amount(u, resource))
            .unwrap_or_else(|| "<observed-usage>".to_owned());
        draft = draft.step(
            format!(
                "Set the neighbour's {resource} request and limit to its real usage (requests = limits)"
            ),
            Some(format!(
                "kubectl set resources {target} -c {container} --requests={resource}={value} --limits={resource}={value}"
            )),
            Risk::Reversible,
        );
    }
    draft.step(
        format!(
            "Move {} off the shared nodes: a dedicated node pool (nodeSelector plus a taint it tolerates), or spread it with topologySpreadConstraints",
            workload
        ),
        Some(format!("kubectl edit {target}")),
        Risk::Disruptive,
    )
}
