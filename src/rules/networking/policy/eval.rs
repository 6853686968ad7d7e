//! The NetworkPolicy evaluator: pure and three-valued, with no rule logic.
//!
//! For a connection (source, destination, protocol, port) it answers `Yes` (some rule
//! allows it, or no policy isolates that direction), `No` (the direction is isolated
//! and no rule allows it) or `Maybe` (it depends on something we did not read: a
//! Namespace's labels, a destination Pod's labels or ports, an IP). The rules built on
//! it ([`super`]) fire only on a certain `No`.
//!
//! Semantics (networking.k8s.io/v1):
//! - `policyTypes` when set; otherwise `Ingress` always, `Egress` when `egress` has rules;
//! - `podSelector: {}` selects every Pod of the policy's namespace;
//! - a peer with only `podSelector` means Pods of the policy's namespace; with only
//!   `namespaceSelector` every Pod of the matching namespaces; with both, the Pods
//!   matching `podSelector` in the matching namespaces (AND); separate peers are OR;
//! - Namespace labels include `kubernetes.io/metadata.name` (set by the API server);
//! - `ipBlock`: the address must be in `cidr` and in no `except` range;
//! - ports: `protocol` defaults to TCP; no `port` means every port of the protocol;
//!   `endPort` makes a range; a named port is resolved against the destination Pod's
//!   container ports (name and protocol);
//! - an empty `to`/`from` matches every peer; empty `ports` every port;
//! - policies are additive: a connection is allowed when any rule of any policy
//!   selecting the Pod for that direction allows it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::rules::networking::container_ports;
use crate::selector::{Requirement, Selector};

/// Labels of a Pod or a Namespace.
pub(crate) type Labels = BTreeMap<String, String>;

/// The peers and ports of one rule (`to`/`from`, `ports`).
type RuleParts<'a> = (
    Option<&'a Vec<NetworkPolicyPeer>>,
    Option<&'a Vec<NetworkPolicyPort>>,
);

/// The label the API server puts on every Namespace.
pub(crate) const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A three-valued answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tri {
    /// Certainly.
    Yes,
    /// Certainly not.
    No,
    /// It depends on something that was not read.
    Maybe,
}

impl Tri {
    /// Both: `No` wins, then `Maybe`.
    pub(crate) fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, Tri::Yes) => Tri::Yes,
            _ => Tri::Maybe,
        }
    }

    /// Either: `Yes` wins, then `Maybe`.
    pub(crate) fn or(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::No, Tri::No) => Tri::No,
            _ => Tri::Maybe,
        }
    }

    /// Any of them (`No` when there are none).
    pub(crate) fn any(answers: impl IntoIterator<Item = Tri>) -> Tri {
        answers.into_iter().fold(Tri::No, Tri::or)
    }

    fn from_bool(certain: bool) -> Tri {
        if certain { Tri::Yes } else { Tri::No }
    }
}

/// A named container port: (name, protocol, number).
pub(crate) type NamedPort = (String, String, i32);

/// What is known of one end of a connection: a Pod (or a Service's address).
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoint {
    /// The namespace of the Pod (or Service).
    pub(crate) namespace: String,
    /// The Namespace's labels; `None` when the Namespace was not read (then only
    /// `kubernetes.io/metadata.name` is known).
    pub(crate) namespace_labels: Option<Labels>,
    /// The Pod's labels that are known...
    pub(crate) pod_labels: Labels,
    /// ... and whether they are all of them.
    pub(crate) labels_complete: bool,
    /// Addresses (Pod IPs, a Service's ClusterIPs); empty when unknown.
    pub(crate) ips: Vec<IpAddr>,
    /// Container ports with names, `None` when the Pod's spec is unknown.
    pub(crate) named_ports: Option<Vec<NamedPort>>,
}

impl Endpoint {
    /// An endpoint for a Pod whose object we hold.
    pub(crate) fn pod(pod: &Pod, namespace_labels: Option<Labels>) -> Endpoint {
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let ips = pod
            .status
            .iter()
            .flat_map(|status| {
                status
                    .pod_ips
                    .iter()
                    .flatten()
                    .map(|pod_ip| pod_ip.ip.clone())
                    .chain(status.pod_ip.clone())
            })
            .filter_map(|ip| ip.parse().ok())
            .collect::<BTreeSet<IpAddr>>()
            .into_iter()
            .collect();
        Endpoint {
            namespace,
            namespace_labels,
            pod_labels: pod.metadata.labels.clone().unwrap_or_default(),
            labels_complete: true,
            ips,
            named_ports: Some(
                container_ports(pod)
                    .into_iter()
                    .filter_map(|port| {
                        port.name.clone().map(|name| {
                            (
                                name,
                                port.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                                port.container_port,
                            )
                        })
                    })
                    .collect(),
            ),
        }
    }
}

/// The direction of a policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Traffic to the selected Pods.
    Ingress,
    /// Traffic from the selected Pods.
    Egress,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "Ingress",
            Direction::Egress => "Egress",
        }
    }
}

/// (applies to ingress, applies to egress).
pub(crate) fn policy_types(policy: &NetworkPolicy) -> (bool, bool) {
    let Some(spec) = &policy.spec else {
        return (true, false);
    };
    match spec.policy_types.as_ref().filter(|types| !types.is_empty()) {
        Some(types) => (
            types.iter().any(|t| t == "Ingress"),
            types.iter().any(|t| t == "Egress"),
        ),
        None => (
            true,
            spec.egress.as_ref().is_some_and(|rules| !rules.is_empty()),
        ),
    }
}

/// Whether the policy isolates the Pods it selects in that direction.
pub(crate) fn applies(policy: &NetworkPolicy, direction: Direction) -> bool {
    let (ingress, egress) = policy_types(policy);
    match direction {
        Direction::Ingress => ingress,
        Direction::Egress => egress,
    }
}

/// The policy's podSelector (a missing one is `{}`: every Pod of the namespace).
pub(crate) fn pod_selector(policy: &NetworkPolicy) -> Selector {
    match policy.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) {
        Some(selector) => Selector::from_label_selector(Some(selector)),
        None => Selector::everything(),
    }
}

/// Whether the policy (of the Pod's namespace) selects the Pod.
pub(crate) fn selects(policy: &NetworkPolicy, pod: &Pod) -> bool {
    policy.metadata.namespace == pod.metadata.namespace
        && pod_selector(policy).matches(pod.metadata.labels.as_ref())
}

/// A label selector evaluated against labels that may be partly unknown.
pub(crate) fn selector_matches(selector: &Selector, labels: &Labels, complete: bool) -> Tri {
    if selector.matches_nothing() {
        return Tri::No;
    }
    let mut out = Tri::Yes;
    for requirement in selector.requirements() {
        let key = match requirement {
            Requirement::Equals(key, _)
            | Requirement::In(key, _)
            | Requirement::NotIn(key, _)
            | Requirement::Exists(key)
            | Requirement::DoesNotExist(key) => key,
            Requirement::Invalid(_) => return Tri::No,
        };
        let value = labels.get(key);
        if value.is_none() && !complete {
            out = out.and(Tri::Maybe);
            continue;
        }
        let met = match requirement {
            Requirement::Equals(_, want) => value == Some(want),
            Requirement::In(_, values) => value.is_some_and(|v| values.contains(v)),
            Requirement::NotIn(_, values) => value.is_none_or(|v| !values.contains(v)),
            Requirement::Exists(_) => value.is_some(),
            Requirement::DoesNotExist(_) => value.is_none(),
            Requirement::Invalid(_) => false,
        };
        out = out.and(Tri::from_bool(met));
    }
    out
}

fn label_selector(selector: &LabelSelector) -> Selector {
    Selector::from_label_selector(Some(selector))
}

/// Whether a peer of a policy in `policy_ns` matches an endpoint.
pub(crate) fn peer_matches(peer: &NetworkPolicyPeer, policy_ns: &str, other: &Endpoint) -> Tri {
    if let Some(block) = &peer.ip_block {
        return ip_block_matches(block, &other.ips);
    }
    if peer.namespace_selector.is_none() && peer.pod_selector.is_none() {
        return Tri::No;
    }
    let namespace_ok = match &peer.namespace_selector {
        None => Tri::from_bool(other.namespace == policy_ns),
        Some(selector) => {
            let (labels, complete) = match &other.namespace_labels {
                Some(labels) => (labels.clone(), true),
                None => (
                    [(NAMESPACE_NAME_LABEL.to_owned(), other.namespace.clone())].into(),
                    false,
                ),
            };
            selector_matches(&label_selector(selector), &labels, complete)
        }
    };
    let pod_ok = match &peer.pod_selector {
        None => Tri::Yes,
        Some(selector) => selector_matches(
            &label_selector(selector),
            &other.pod_labels,
            other.labels_complete,
        ),
    };
    namespace_ok.and(pod_ok)
}

/// An IPv4/IPv6 CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.96.0.0/12`, `fd00::/8`; `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<Cidr> {
        let (addr, prefix) = text.trim().split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether the address is in the range (never across IPv4 and IPv6).
    pub(crate) fn contains(&self, ip: &IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                u32::from(net) & mask == u32::from(*ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                u128::from(net) & mask == u128::from(*ip) & mask
            }
            _ => false,
        }
    }

    /// `0.0.0.0/0` or `::/0`.
    pub(crate) fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

/// Whether one of the addresses is in the block (in `cidr`, in no `except` range);
/// unknown addresses are `Maybe` unless the block is everything.
pub(crate) fn ip_block_matches(block: &IPBlock, ips: &[IpAddr]) -> Tri {
    let Some(cidr) = Cidr::parse(&block.cidr) else {
        return Tri::No;
    };
    let excepts: Vec<Cidr> = block
        .except
        .iter()
        .flatten()
        .filter_map(|except| Cidr::parse(except))
        .collect();
    if ips.is_empty() {
        // An unknown address is in 0.0.0.0/0 (or ::/0), unless some range is excepted.
        return if cidr.is_everything() && excepts.is_empty() {
            Tri::Yes
        } else {
            Tri::Maybe
        };
    }
    Tri::from_bool(
        ips.iter()
            .any(|ip| cidr.contains(ip) && !excepts.iter().any(|except| except.contains(ip))),
    )
}

/// Whether a rule's ports admit `protocol`/`port` on the destination.
pub(crate) fn ports_match(
    ports: Option<&Vec<NetworkPolicyPort>>,
    protocol: &str,
    port: i32,
    dest: &Endpoint,
) -> Tri {
    let Some(ports) = ports.filter(|ports| !ports.is_empty()) else {
        return Tri::Yes;
    };
    Tri::any(ports.iter().map(|allowed| {
        if allowed.protocol.as_deref().unwrap_or("TCP") != protocol {
            return Tri::No;
        }
        match &allowed.port {
            None => Tri::Yes,
            Some(IntOrString::Int(first)) => Tri::from_bool(
                *first <= port && port <= allowed.end_port.unwrap_or(*first).max(*first),
            ),
            Some(IntOrString::String(name)) => match &dest.named_ports {
                None => Tri::Maybe,
                Some(named) => Tri::from_bool(named.iter().any(|(port_name, proto, number)| {
                    port_name == name && proto == protocol && *number == port
                })),
            },
        }
    }))
}

/// The verdict on one connection, with what decided it.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    /// Whether the connection is allowed.
    pub(crate) allowed: Tri,
    /// Policies selecting the Pod for the direction (empty: the direction is not isolated).
    pub(crate) isolating: Vec<String>,
    /// `policy rule N` entries that allow (Yes) or may allow (Maybe) the connection.
    pub(crate) allowing: Vec<String>,
    /// `policy rule N` entries that may allow it, depending on what was not read.
    pub(crate) maybe: Vec<String>,
}

/// Evaluates a connection `src -> dst` on `protocol`/`port` in `direction`: the
/// policies are those of the namespace of the Pod the direction is about (the source
/// for egress, the destination for ingress), already filtered to the ones selecting it.
pub(crate) fn evaluate_connection(
    selecting: &[&NetworkPolicy],
    direction: Direction,
    src: &Endpoint,
    dst: &Endpoint,
    protocol: &str,
    port: i32,
) -> Verdict {
    let mut verdict = Verdict {
        allowed: Tri::No,
        isolating: Vec::new(),
        allowing: Vec::new(),
        maybe: Vec::new(),
    };
    let mut any_isolating = false;
    for policy in selecting {
        if !applies(policy, direction) {
            continue;
        }
        any_isolating = true;
        let name = policy.metadata.name.clone().unwrap_or_default();
        verdict.isolating.push(name.clone());
        let policy_ns = policy.metadata.namespace.as_deref().unwrap_or_default();
        let Some(spec) = &policy.spec else { continue };
        let rules: Vec<RuleParts> = match direction {
            Direction::Egress => spec
                .egress
                .iter()
                .flatten()
                .map(|rule| (rule.to.as_ref(), rule.ports.as_ref()))
                .collect(),
            Direction::Ingress => spec
                .ingress
                .iter()
                .flatten()
                .map(|rule| (rule.from.as_ref(), rule.ports.as_ref()))
                .collect(),
        };
        let other = match direction {
            Direction::Egress => dst,
            Direction::Ingress => src,
        };
        for (index, (peers, ports)) in rules.into_iter().enumerate() {
            let peer_ok = match peers.filter(|peers| !peers.is_empty()) {
                None => Tri::Yes,
                Some(peers) => Tri::any(
                    peers
                        .iter()
                        .map(|peer| peer_matches(peer, policy_ns, other)),
                ),
            };
            let rule_allows = peer_ok.and(ports_match(ports, protocol, port, dst));
            let entry = || {
                format!(
                    "{name} {} rule {}",
                    direction.as_str().to_lowercase(),
                    index + 1
                )
            };
            match rule_allows {
                Tri::Yes => verdict.allowing.push(entry()),
                Tri::Maybe => verdict.maybe.push(entry()),
                Tri::No => {}
            }
            verdict.allowed = verdict.allowed.or(rule_allows);
        }
    }
    if !any_isolating {
        verdict.allowed = Tri::Yes;
    }
    verdict
}

/// Whether egress from `src` (with the policies selecting it) reaches any of the
/// destinations on `protocol`/`port`: allowed if it reaches one of them. The verdict
/// lists the allowing rules of every destination once; with no destination at all
/// it is `Maybe`.
pub(crate) fn egress_to_any(
    selecting: &[&NetworkPolicy],
    src: &Endpoint,
    destinations: &[Endpoint],
    protocol: &str,
    port: i32,
) -> Verdict {
    let mut out: Option<Verdict> = None;
    for destination in destinations {
        let verdict = evaluate_connection(
            selecting,
            Direction::Egress,
            src,
            destination,
            protocol,
            port,
        );
        out = Some(match out {
            None => verdict,
            Some(mut merged) => {
                merged.allowed = merged.allowed.or(verdict.allowed);
                for entry in verdict.allowing {
                    if !merged.allowing.contains(&entry) {
                        merged.allowing.push(entry);
                    }
                }
                for entry in verdict.maybe {
                    if !merged.maybe.contains(&entry) {
                        merged.maybe.push(entry);
                    }
                }
                merged
            }
        });
    }
    out.unwrap_or(Verdict {
        allowed: Tri::Maybe,
        isolating: Vec::new(),
        allowing: Vec::new(),
        maybe: Vec::new(),
    })
}

/// Whether any client at all could be admitted on the port: the rules' ports decide,
/// peers are assumed to match when they could.
pub(crate) fn anyone_admitted(
    selecting: &[&NetworkPolicy],
    dst: &Endpoint,
    protocol: &str,
    port: i32,
) -> Tri {
    let mut out = Tri::No;
    let mut isolated = false;
    for policy in selecting {
        if !applies(policy, Direction::Ingress) {
            continue;
        }
        isolated = true;
        for rule in policy.spec.iter().flat_map(|s| s.ingress.iter().flatten()) {
            // an ipBlock or selector can always match some client
            out = out.or(ports_match(rule.ports.as_ref(), protocol, port, dst));
        }
    }
    if isolated { out } else { Tri::Yes }
}

// ---- describing policies for evidence --------------------------------------------

/// One line describing a policy's rules for a direction, for evidence.
pub(crate) fn describe_rules(policy: &NetworkPolicy, direction: Direction) -> String {
    let name = policy.metadata.name.as_deref().unwrap_or_default();
    let selector = match policy.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) {
        Some(selector) => label_selector(selector).to_string(),
        None => "<everything>".to_owned(),
    };
    let selector = if selector == "<everything>" {
        "{}".to_owned()
    } else {
        selector
    };
    let spec = policy.spec.as_ref();
    let (count, rules): (usize, Vec<String>) = match direction {
        Direction::Egress => {
            let egress = spec.and_then(|s| s.egress.as_ref());
            (
                egress.map_or(0, Vec::len),
                egress
                    .into_iter()
                    .flatten()
                    .map(|rule| {
                        format!(
                            "to {} ports {}",
                            describe_peers(rule.to.as_ref()),
                            describe_ports(rule.ports.as_ref())
                        )
                    })
                    .collect(),
            )
        }
        Direction::Ingress => {
            let ingress = spec.and_then(|s| s.ingress.as_ref());
            (
                ingress.map_or(0, Vec::len),
                ingress
                    .into_iter()
                    .flatten()
                    .map(|rule| {
                        format!(
                            "from {} ports {}",
                            describe_peers(rule.from.as_ref()),
                            describe_ports(rule.ports.as_ref())
                        )
                    })
                    .collect(),
            )
        }
    };
    let types = direction.as_str();
    let lower = types.to_lowercase();
    if count == 0 {
        format!(
            "NetworkPolicy {name} (podSelector {selector}, policyTypes includes {types}) has no {lower} rule: it denies all {lower} traffic"
        )
    } else {
        format!(
            "NetworkPolicy {name} (podSelector {selector}) {lower} rules: {}",
            rules
                .iter()
                .enumerate()
                .map(|(index, rule)| format!("[{}] {rule}", index + 1))
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

fn describe_peers(peers: Option<&Vec<NetworkPolicyPeer>>) -> String {
    let Some(peers) = peers.filter(|peers| !peers.is_empty()) else {
        return "anywhere".to_owned();
    };
    let parts: Vec<String> = peers
        .iter()
        .map(|peer| {
            if let Some(block) = &peer.ip_block {
                let except = block.except.as_ref().filter(|except| !except.is_empty());
                return match except {
                    Some(except) => format!("ipBlock {} except {}", block.cidr, except.join(",")),
                    None => format!("ipBlock {}", block.cidr),
                };
            }
            let mut selectors = Vec::new();
            if let Some(selector) = &peer.namespace_selector {
                selectors.push(format!("namespaceSelector {}", show_selector(selector)));
            }
            if let Some(selector) = &peer.pod_selector {
                selectors.push(format!("podSelector {}", show_selector(selector)));
            }
            selectors.join(" AND ")
        })
        .collect();
    format!("[{}]", parts.join(" | "))
}

fn show_selector(selector: &LabelSelector) -> String {
    let selector = label_selector(selector);
    if selector.is_everything() {
        "{}".to_owned()
    } else {
        selector.to_string()
    }
}

fn describe_ports(ports: Option<&Vec<NetworkPolicyPort>>) -> String {
    let Some(ports) = ports.filter(|ports| !ports.is_empty()) else {
        return "all".to_owned();
    };
    ports
        .iter()
        .map(|allowed| {
            let proto = allowed.protocol.as_deref().unwrap_or("TCP");
            match (&allowed.port, allowed.end_port) {
                (None, _) => format!("{proto}/*"),
                (Some(IntOrString::Int(first)), Some(last)) => format!("{proto}/{first}-{last}"),
                (Some(IntOrString::Int(number)), None) => format!("{proto}/{number}"),
                (Some(IntOrString::String(name)), _) => format!("{proto}/{name}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(manifest: serde_json::Value) -> NetworkPolicy {
        let mut manifest = manifest;
        manifest["apiVersion"] = json!("networking.k8s.io/v1");
        manifest["kind"] = json!("NetworkPolicy");
        serde_json::from_value(manifest).unwrap()
    }

    fn pod(
        ns: &str,
        name: &str,
        labels: serde_json::Value,
        ports: serde_json::Value,
        ip: &str,
    ) -> Pod {
        serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "x", "ports": ports}]},
            "status": {"podIP": ip, "podIPs": [{"ip": ip}]}
        }))
        .unwrap()
    }

    fn coredns() -> Endpoint {
        let coredns = pod(
            "kube-system",
            "coredns-1",
            json!({"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"}),
            json!([
                {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}
            ]),
            "10.244.0.3",
        );
        let mut endpoint = Endpoint::pod(
            &coredns,
            Some([(NAMESPACE_NAME_LABEL.to_owned(), "kube-system".to_owned())].into()),
        );
        endpoint.ips.push("10.96.0.10".parse().unwrap());
        endpoint
    }

    fn app() -> (Pod, Endpoint) {
        let web = pod(
            "shop",
            "web-1",
            json!({"app": "web"}),
            json!([{"name": "http", "containerPort": 8080}]),
            "10.244.1.7",
        );
        let endpoint = Endpoint::pod(&web, None);
        (web, endpoint)
    }

    fn dns_verdict(policies: &[NetworkPolicy], proto: &str) -> Tri {
        let (web, src) = app();
        let selecting: Vec<&NetworkPolicy> = policies.iter().filter(|p| selects(p, &web)).collect();
        egress_to_any(&selecting, &src, &[coredns()], proto, 53).allowed
    }

    fn deny_egress() -> NetworkPolicy {
        policy(
            json!({"metadata": {"name": "default-deny-egress", "namespace": "shop"},
                  "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}),
        )
    }

    #[test]
    fn policy_types_are_implied() {
        let ingress_only = policy(json!({"metadata": {"name": "a", "namespace": "shop"},
            "spec": {"podSelector": {}, "ingress": [{}]}}));
        assert_eq!(policy_types(&ingress_only), (true, false));
        let with_egress = policy(json!({"metadata": {"name": "a", "namespace": "shop"},
            "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 443}]}]}}));
        assert_eq!(policy_types(&with_egress), (true, true));
        assert_eq!(policy_types(&deny_egress()), (false, true));
        let empty_egress = policy(json!({"metadata": {"name": "a", "namespace": "shop"},
            "spec": {"podSelector": {}, "egress": []}}));
        assert_eq!(policy_types(&empty_egress), (true, false));
    }

    #[test]
    fn default_deny_egress_blocks_dns_and_no_policy_allows() {
        assert_eq!(dns_verdict(&[], "UDP"), Tri::Yes);
        assert_eq!(dns_verdict(&[deny_egress()], "UDP"), Tri::No);
        assert_eq!(dns_verdict(&[deny_egress()], "TCP"), Tri::No);
    }

    #[test]
    fn the_seed_allow_dns_policy_allows_dns() {
        let allow = policy(
            json!({"metadata": {"name": "allow-dns", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}]}}),
        );
        assert_eq!(
            dns_verdict(&[deny_egress(), allow.clone()], "UDP"),
            Tri::Yes
        );
        assert_eq!(dns_verdict(&[deny_egress(), allow], "TCP"), Tri::Yes);
    }

    #[test]
    fn namespace_selector_everything_with_port_53() {
        let allow = policy(
            json!({"metadata": {"name": "allow-dns", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}),
        );
        assert_eq!(dns_verdict(std::slice::from_ref(&allow), "UDP"), Tri::Yes);
        assert_eq!(dns_verdict(&[allow], "TCP"), Tri::No);
    }

    #[test]
    fn named_ports_resolve_against_the_dns_pods() {
        let allow = policy(
            json!({"metadata": {"name": "allow-dns", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": "dns"}, {"port": "dns-tcp"}]}]}}),
        );
        assert_eq!(dns_verdict(std::slice::from_ref(&allow), "UDP"), Tri::Yes);
        assert_eq!(dns_verdict(&[allow], "TCP"), Tri::Yes);
        // a name the DNS Pods do not declare, or the right name with the wrong protocol
        let wrong = policy(
            json!({"metadata": {"name": "allow-dns", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "ports": [{"port": "dns"}, {"protocol": "UDP", "port": "domain"}]}]}}),
        );
        assert_eq!(dns_verdict(&[wrong], "UDP"), Tri::No);
    }

    #[test]
    fn pod_selector_alone_means_the_policy_namespace() {
        // podSelector k8s-app=kube-dns without namespaceSelector: Pods of *shop*, not kube-system
        let allow = policy(
            json!({"metadata": {"name": "allow-dns", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}),
        );
        assert_eq!(dns_verdict(&[allow], "UDP"), Tri::No);
    }

    #[test]
    fn and_within_a_peer_or_across_peers() {
        // AND: kube-system namespace AND app=dns Pods: CoreDNS is k8s-app=kube-dns, no match
        let and = policy(json!({"metadata": {"name": "p", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"app": "dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}));
        assert_eq!(dns_verdict(&[and], "UDP"), Tri::No);
        // OR: either peer matching is enough
        let or = policy(json!({"metadata": {"name": "p", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}},
                       {"podSelector": {"matchLabels": {"app": "dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}));
        assert_eq!(dns_verdict(&[or], "UDP"), Tri::Yes);
    }

    #[test]
    fn ip_blocks_with_except_and_everything() {
        let mk = |cidr: &str, except: serde_json::Value| {
            policy(json!({"metadata": {"name": "p", "namespace": "shop"},
                "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                    "to": [{"ipBlock": {"cidr": cidr, "except": except}}],
                    "ports": [{"protocol": "UDP", "port": 53}]}]}}))
        };
        assert_eq!(dns_verdict(&[mk("0.0.0.0/0", json!([]))], "UDP"), Tri::Yes);
        assert_eq!(
            dns_verdict(&[mk("10.96.0.10/32", json!([]))], "UDP"),
            Tri::Yes
        );
        assert_eq!(
            dns_verdict(&[mk("10.96.0.0/12", json!([]))], "UDP"),
            Tri::Yes
        );
        // the Service range excepted, Pod range not included: denied
        assert_eq!(
            dns_verdict(
                &[mk("10.0.0.0/8", json!(["10.96.0.0/12", "10.244.0.0/16"]))],
                "UDP"
            ),
            Tri::No
        );
        assert_eq!(
            dns_verdict(&[mk("192.168.0.0/16", json!([]))], "UDP"),
            Tri::No
        );
    }

    #[test]
    fn port_ranges_and_protocols() {
        let mk = |ports: serde_json::Value| {
            policy(json!({"metadata": {"name": "p", "namespace": "shop"},
                "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"ports": ports}]}}))
        };
        assert_eq!(
            dns_verdict(
                &[mk(json!([{"protocol": "UDP", "port": 1, "endPort": 1024}]))],
                "UDP"
            ),
            Tri::Yes
        );
        assert_eq!(
            dns_verdict(
                &[mk(
                    json!([{"protocol": "UDP", "port": 54, "endPort": 1024}])
                )],
                "UDP"
            ),
            Tri::No
        );
        // protocol defaults to TCP
        assert_eq!(dns_verdict(&[mk(json!([{"port": 53}]))], "UDP"), Tri::No);
        assert_eq!(dns_verdict(&[mk(json!([{"port": 53}]))], "TCP"), Tri::Yes);
        // no port: every port of the protocol
        assert_eq!(
            dns_verdict(&[mk(json!([{"protocol": "UDP"}]))], "UDP"),
            Tri::Yes
        );
    }

    #[test]
    fn unknown_namespace_labels_are_maybe() {
        let allow = policy(json!({"metadata": {"name": "p", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"team": "platform"}}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}));
        let (web, src) = app();
        let mut dns = coredns();
        dns.namespace_labels = None;
        let selecting: Vec<&NetworkPolicy> = vec![&allow];
        assert!(selects(&allow, &web));
        assert_eq!(
            egress_to_any(&selecting, &src, &[dns], "UDP", 53).allowed,
            Tri::Maybe
        );
    }

    #[test]
    fn ingress_from_a_controller_namespace() {
        let (web, dst) = app();
        let ctrl = pod(
            "ingress-nginx",
            "ingress-nginx-controller-1",
            json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}),
            json!([]),
            "10.244.2.9",
        );
        let src = Endpoint::pod(
            &ctrl,
            Some([(NAMESPACE_NAME_LABEL.to_owned(), "ingress-nginx".to_owned())].into()),
        );
        let deny = policy(
            json!({"metadata": {"name": "deny", "namespace": "shop"}, "spec": {"podSelector": {}}}),
        );
        let same_ns = policy(json!({"metadata": {"name": "same-ns", "namespace": "shop"},
            "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}}));
        let from_ctrl = policy(
            json!({"metadata": {"name": "from-ingress", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                "ports": [{"port": "http"}]}]}}),
        );
        let run = |policies: &[&NetworkPolicy]| {
            let selecting: Vec<&NetworkPolicy> = policies
                .iter()
                .copied()
                .filter(|p| selects(p, &web))
                .collect();
            evaluate_connection(&selecting, Direction::Ingress, &src, &dst, "TCP", 8080).allowed
        };
        assert_eq!(run(&[]), Tri::Yes);
        assert_eq!(run(&[&deny]), Tri::No);
        assert_eq!(run(&[&deny, &same_ns]), Tri::No);
        assert_eq!(run(&[&deny, &same_ns, &from_ctrl]), Tri::Yes);
    }

    #[test]
    fn cidrs() {
        let services = Cidr::parse("10.96.0.0/12").unwrap();
        assert!(services.contains(&"10.96.0.10".parse().unwrap()));
        assert!(services.contains(&"10.111.255.255".parse().unwrap()));
        assert!(!services.contains(&"10.112.0.1".parse().unwrap()));
        assert!(
            Cidr::parse("::/0")
                .unwrap()
                .contains(&"fd00::a".parse().unwrap())
        );
        assert!(
            !Cidr::parse("::/0")
                .unwrap()
                .contains(&"10.0.0.1".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
    }
}
