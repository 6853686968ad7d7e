//! The `networking` rule set (docs/rules.md): Services and their endpoints, Ingress,
//! Gateway API routes, NetworkPolicy evaluation and the cluster DNS.
//!
//! - `service`: selectors, ready endpoints, target ports, single endpoints;
//! - `ingress`: classes, backends, ports, TLS Secrets;
//! - `gateway`: HTTPRoute parents and backends, Gateway status (read dynamically);
//! - `policy`: a pure NetworkPolicy evaluator (`policy::eval`) and the rules built on it;
//! - `dns`: the cluster DNS Service and its Pods;
//! - `dependency`: Services the Pods' evidence names that have no ready endpoints.

pub(crate) mod dependency;
pub(crate) mod dns;
pub(crate) mod gateway;
pub(crate) mod ingress;
pub(crate) mod policy;
pub(crate) mod service;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ContainerPort, Pod};

use crate::rules::{Draft, RuleContext};

/// The rule set on the graph: Services, Ingresses, Gateway API routes, NetworkPolicies,
/// the cluster DNS.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    service::evaluate(ctx, out);
    ingress::evaluate(ctx, out);
    gateway::evaluate(ctx, out);
    policy::evaluate(ctx, out);
    dns::evaluate(ctx, out);
    dependency::evaluate(ctx, out);
}

/// How many Pods of a namespace a rule looks at when it has to list them.
pub(crate) const MAX_PODS_SCANNED: usize = 2000;

/// A short description of why a Pod is not serving: `Pending (Unschedulable)`,
/// `Running, not ready (ContainersNotReady)`, `CrashLoopBackOff`...
pub(crate) fn pod_state(p: &Pod) -> String {
    let st = p.status.as_ref();
    let phase = st.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    let mut parts: Vec<String> = vec![phase.to_owned()];
    if p.metadata.deletion_timestamp.is_some() {
        parts.push("terminating".to_owned());
    }
    if let Some(reason) = st.and_then(|s| s.reason.as_deref()) {
        parts.push(reason.to_owned());
    }
    let waiting: Vec<String> = st
        .into_iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .filter_map(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone())
                .map(|r| format!("{} {r}", c.name))
        })
        .collect();
    parts.extend(waiting);
    for c in st.and_then(|s| s.conditions.as_ref()).into_iter().flatten() {
        if c.status == "True" {
            continue;
        }
        match c.type_.as_str() {
            "PodScheduled" => parts.push(format!(
                "not scheduled{}",
                c.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )),
            "Ready" if phase == "Running" => parts.push(format!(
                "not ready{}",
                c.reason
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )),
            _ => {}
        }
    }
    if let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        parts.push(format!("on node {node}"));
    }
    parts.join(", ")
}

/// Every container port the Pod declares (regular containers and restartable init
/// containers, i.e. sidecars).
pub(crate) fn container_ports(pod: &Pod) -> Vec<&ContainerPort> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .chain(
            spec.init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always")),
        )
        .flat_map(|c| c.ports.iter().flatten())
        .collect()
}

/// The number a named port resolves to in the Pod (name and protocol must match).
pub(crate) fn resolve_named_port(pod: &Pod, name: &str, protocol: &str) -> Option<i32> {
    container_ports(pod)
        .into_iter()
        .find(|port| {
            port.name.as_deref() == Some(name)
                && port.protocol.as_deref().unwrap_or("TCP") == protocol
        })
        .map(|port| port.container_port)
}

/// `{k: v, k2: v2}` as a selector is usually written.
pub(crate) fn fmt_map(labels: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// `a, b, c (+N more)`.
pub(crate) fn name_list<S: AsRef<str>>(names: &[S], max: usize) -> String {
    let shown: Vec<&str> = names.iter().take(max).map(AsRef::as_ref).collect();
    let mut list = shown.join(", ");
    if names.len() > max {
        list.push_str(&format!(" (+{} more)", names.len() - max));
    }
    list
}
