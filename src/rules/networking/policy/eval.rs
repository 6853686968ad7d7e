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
pub type Labels = BTreeMap<String, String>;

/// The peers and ports of one rule (`to`/`from`, `ports`).
type RuleParts<'a> = (
    Option<&'a Vec<NetworkPolicyPeer>>,
    Option<&'a Vec<NetworkPolicyPort>>,
);

/// The label the API server puts on every Namespace.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// A three-valued answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tri {
    Yes,
    No,
    Maybe,
}

impl Tri {
    pub fn and(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, Tri::Yes) => Tri::Yes,
            _ => Tri::Maybe,
        }
    }

    pub fn or(self, o: Tri) -> Tri {
        match (self, o) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::No, Tri::No) => Tri::No,
            _ => Tri::Maybe,
        }
    }

    pub fn any(it: impl IntoIterator<Item = Tri>) -> Tri {
        it.into_iter().fold(Tri::No, Tri::or)
    }

    fn from_bool(b: bool) -> Tri {
        if b { Tri::Yes } else { Tri::No }
    }
}

/// A named container port: (name, protocol, number).
pub type NamedPort = (String, String, i32);

/// What is known of one end of a connection: a Pod (or a Service's address).
#[derive(Clone, Debug, Default)]
pub struct Endpoint {
    /// How evidence names it (`Pod kube-system/coredns-5d78c9869d-8xk2p`).
    pub label: String,
    pub namespace: String,
    /// The Namespace's labels; `None` when the Namespace was not read (then only
    /// `kubernetes.io/metadata.name` is known).
    pub namespace_labels: Option<Labels>,
    /// The Pod's labels that are known...
    pub pod_labels: Labels,
    /// ... and whether they are all of them.
    pub labels_complete: bool,
    /// Addresses (Pod IPs, a Service's ClusterIPs); empty when unknown.
    pub ips: Vec<IpAddr>,
    /// Container ports with names, `None` when the Pod's spec is unknown.
    pub named_ports: Option<Vec<NamedPort>>,
}

impl Endpoint {
    /// An endpoint for a Pod whose object we hold.
    pub fn pod(p: &Pod, namespace_labels: Option<Labels>) -> Endpoint {
        let ns = p.metadata.namespace.clone().unwrap_or_default();
        let ips = p
            .status
            .iter()
            .flat_map(|s| {
                s.pod_ips
                    .iter()
                    .flatten()
                    .map(|i| i.ip.clone())
                    .chain(s.pod_ip.clone())
            })
            .filter_map(|s| s.parse().ok())
            .collect::<BTreeSet<IpAddr>>()
            .into_iter()
            .collect();
        Endpoint {
            label: format!(
                "Pod {ns}/{}",
                p.metadata.name.as_deref().unwrap_or_default()
            ),
            namespace: ns,
            namespace_labels,
            pod_labels: p.metadata.labels.clone().unwrap_or_default(),
            labels_complete: true,
            ips,
            named_ports: Some(
                container_ports(p)
                    .into_iter()
                    .filter_map(|cp| {
                        cp.name.clone().map(|n| {
                            (
                                n,
                                cp.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                                cp.container_port,
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
pub enum Direction {
    Ingress,
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
pub fn policy_types(np: &NetworkPolicy) -> (bool, bool) {
    let Some(spec) = &np.spec else {
        return (true, false);
    };
    match spec.policy_types.as_ref().filter(|t| !t.is_empty()) {
        Some(t) => (
            t.iter().any(|x| x == "Ingress"),
            t.iter().any(|x| x == "Egress"),
        ),
        None => (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
    }
}

pub fn applies(np: &NetworkPolicy, dir: Direction) -> bool {
    let (i, e) = policy_types(np);
    match dir {
        Direction::Ingress => i,
        Direction::Egress => e,
    }
}

/// The policy's podSelector (a missing one is `{}`: every Pod of the namespace).
pub fn pod_selector(np: &NetworkPolicy) -> Selector {
    match np.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) {
        Some(ls) => Selector::from_label_selector(Some(ls)),
        None => Selector::everything(),
    }
}

/// Whether the policy (of the Pod's namespace) selects the Pod.
pub fn selects(np: &NetworkPolicy, p: &Pod) -> bool {
    np.metadata.namespace == p.metadata.namespace
        && pod_selector(np).matches(p.metadata.labels.as_ref())
}

/// A label selector evaluated against labels that may be partly unknown.
pub fn selector_matches(sel: &Selector, labels: &Labels, complete: bool) -> Tri {
    if sel.matches_nothing() {
        return Tri::No;
    }
    let mut out = Tri::Yes;
    for r in sel.requirements() {
        let key = match r {
            Requirement::Equals(k, _)
            | Requirement::In(k, _)
            | Requirement::NotIn(k, _)
            | Requirement::Exists(k)
            | Requirement::DoesNotExist(k) => k,
            Requirement::Invalid(_) => return Tri::No,
        };
        let v = labels.get(key);
        if v.is_none() && !complete {
            out = out.and(Tri::Maybe);
            continue;
        }
        let ok = match r {
            Requirement::Equals(_, want) => v == Some(want),
            Requirement::In(_, vs) => v.is_some_and(|x| vs.contains(x)),
            Requirement::NotIn(_, vs) => v.is_none_or(|x| !vs.contains(x)),
            Requirement::Exists(_) => v.is_some(),
            Requirement::DoesNotExist(_) => v.is_none(),
            Requirement::Invalid(_) => false,
        };
        out = out.and(Tri::from_bool(ok));
    }
    out
}

fn label_selector(ls: &LabelSelector) -> Selector {
    Selector::from_label_selector(Some(ls))
}

/// Whether a peer of a policy in `policy_ns` matches an endpoint.
pub fn peer_matches(peer: &NetworkPolicyPeer, policy_ns: &str, other: &Endpoint) -> Tri {
    if let Some(b) = &peer.ip_block {
        return ip_block_matches(b, &other.ips);
    }
    if peer.namespace_selector.is_none() && peer.pod_selector.is_none() {
        return Tri::No;
    }
    let ns_ok = match &peer.namespace_selector {
        None => Tri::from_bool(other.namespace == policy_ns),
        Some(ls) => {
            let (labels, complete) = match &other.namespace_labels {
                Some(l) => (l.clone(), true),
                None => (
                    [(NAMESPACE_NAME_LABEL.to_owned(), other.namespace.clone())].into(),
                    false,
                ),
            };
            selector_matches(&label_selector(ls), &labels, complete)
        }
    };
    let pod_ok = match &peer.pod_selector {
        None => Tri::Yes,
        Some(ls) => selector_matches(
            &label_selector(ls),
            &other.pod_labels,
            other.labels_complete,
        ),
    };
    ns_ok.and(pod_ok)
}

/// An IPv4/IPv6 CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.trim().split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: &IpAddr) -> bool {
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

    pub fn is_everything(&self) -> bool {
        self.prefix == 0
    }
}

pub fn ip_block_matches(b: &IPBlock, ips: &[IpAddr]) -> Tri {
    let Some(cidr) = Cidr::parse(&b.cidr) else {
        return Tri::No;
    };
    let excepts: Vec<Cidr> = b
        .except
        .iter()
        .flatten()
        .filter_map(|e| Cidr::parse(e))
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
            .any(|ip| cidr.contains(ip) && !excepts.iter().any(|e| e.contains(ip))),
    )
}

/// Whether a rule's ports admit `protocol`/`port` on the destination.
pub fn ports_match(
    ports: Option<&Vec<NetworkPolicyPort>>,
    protocol: &str,
    port: i32,
    dest: &Endpoint,
) -> Tri {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return Tri::Yes;
    };
    Tri::any(ports.iter().map(|p| {
        if p.protocol.as_deref().unwrap_or("TCP") != protocol {
            return Tri::No;
        }
        match &p.port {
            None => Tri::Yes,
            Some(IntOrString::Int(n)) => {
                Tri::from_bool(*n <= port && port <= p.end_port.unwrap_or(*n).max(*n))
            }
            Some(IntOrString::String(name)) => match &dest.named_ports {
                None => Tri::Maybe,
                Some(named) => Tri::from_bool(
                    named
                        .iter()
                        .any(|(n, proto, num)| n == name && proto == protocol && *num == port),
                ),
            },
        }
    }))
}

/// The verdict on one connection, with what decided it.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub allowed: Tri,
    /// Policies selecting the Pod for the direction (empty: the direction is not isolated).
    pub isolating: Vec<String>,
    /// `policy rule N` entries that allow (Yes) or may allow (Maybe) the connection.
    pub allowing: Vec<String>,
    pub maybe: Vec<String>,
}

/// Evaluates a connection `src -> dst` on `protocol`/`port` in `dir`: the policies
/// are those of the namespace of the Pod the direction is about (the source for
/// egress, the destination for ingress), already filtered to the ones selecting it.
pub fn evaluate_connection(
    selecting: &[&NetworkPolicy],
    dir: Direction,
    src: &Endpoint,
    dst: &Endpoint,
    protocol: &str,
    port: i32,
) -> Verdict {
    let mut v = Verdict {
        allowed: Tri::No,
        isolating: Vec::new(),
        allowing: Vec::new(),
        maybe: Vec::new(),
    };
    let mut any_isolating = false;
    for np in selecting {
        if !applies(np, dir) {
            continue;
        }
        any_isolating = true;
        let name = np.metadata.name.clone().unwrap_or_default();
        v.isolating.push(name.clone());
        let ns = np.metadata.namespace.as_deref().unwrap_or_default();
        let Some(spec) = &np.spec else { continue };
        let rules: Vec<RuleParts> = match dir {
            Direction::Egress => spec
                .egress
                .iter()
                .flatten()
                .map(|r| (r.to.as_ref(), r.ports.as_ref()))
                .collect(),
            Direction::Ingress => spec
                .ingress
                .iter()
                .flatten()
                .map(|r| (r.from.as_ref(), r.ports.as_ref()))
                .collect(),
        };
        let other = match dir {
            Direction::Egress => dst,
            Direction::Ingress => src,
        };
        for (i, (peers, ports)) in rules.into_iter().enumerate() {
            let peer_ok = match peers.filter(|p| !p.is_empty()) {
                None => Tri::Yes,
                Some(peers) => Tri::any(peers.iter().map(|p| peer_matches(p, ns, other))),
            };
            let t = peer_ok.and(ports_match(ports, protocol, port, dst));
            match t {
                Tri::Yes => v.allowing.push(format!(
                    "{name} {} rule {}",
                    dir.as_str().to_lowercase(),
                    i + 1
                )),
                Tri::Maybe => v.maybe.push(format!(
                    "{name} {} rule {}",
                    dir.as_str().to_lowercase(),
                    i + 1
                )),
                Tri::No => {}
            }
            v.allowed = v.allowed.or(t);
        }
    }
    if !any_isolating {
        v.allowed = Tri::Yes;
    }
    v
}

/// One line describing a policy's rules for a direction, for evidence.
pub fn describe_rules(np: &NetworkPolicy, dir: Direction) -> String {
    let name = np.metadata.name.as_deref().unwrap_or_default();
    let sel = match np.spec.as_ref().and_then(|s| s.pod_selector.as_ref()) {
        Some(ls) => label_selector(ls).to_string(),
        None => "<everything>".to_owned(),
    };
    let sel = if sel == "<everything>" {
        "{}".to_owned()
    } else {
        sel
    };
    let spec = np.spec.as_ref();
    let (count, rules): (usize, Vec<String>) = match dir {
        Direction::Egress => {
            let rs = spec.and_then(|s| s.egress.as_ref());
            (
                rs.map_or(0, Vec::len),
                rs.into_iter()
                    .flatten()
                    .map(|r| {
                        format!(
                            "to {} ports {}",
                            describe_peers(r.to.as_ref()),
                            describe_ports(r.ports.as_ref())
                        )
                    })
                    .collect(),
            )
        }
        Direction::Ingress => {
            let rs = spec.and_then(|s| s.ingress.as_ref());
            (
                rs.map_or(0, Vec::len),
                rs.into_iter()
                    .flatten()
                    .map(|r| {
                        format!(
                            "from {} ports {}",
                            describe_peers(r.from.as_ref()),
                            describe_ports(r.ports.as_ref())
                        )
                    })
                    .collect(),
            )
        }
    };
    let d = dir.as_str();
    if count == 0 {
        format!(
            "NetworkPolicy {name} (podSelector {sel}, policyTypes includes {d}) has no {} rule: it denies all {} traffic",
            d.to_lowercase(),
            d.to_lowercase()
        )
    } else {
        format!(
            "NetworkPolicy {name} (podSelector {sel}) {} rules: {}",
            d.to_lowercase(),
            rules
                .iter()
                .enumerate()
                .map(|(i, r)| format!("[{}] {r}", i + 1))
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

fn describe_peers(peers: Option<&Vec<NetworkPolicyPeer>>) -> String {
    let Some(peers) = peers.filter(|p| !p.is_empty()) else {
        return "anywhere".to_owned();
    };
    let parts: Vec<String> = peers
        .iter()
        .map(|p| {
            if let Some(b) = &p.ip_block {
                let ex = b.except.as_ref().filter(|e| !e.is_empty());
                return match ex {
                    Some(e) => format!("ipBlock {} except {}", b.cidr, e.join(",")),
                    None => format!("ipBlock {}", b.cidr),
                };
            }
            let mut s = Vec::new();
            if let Some(ns) = &p.namespace_selector {
                s.push(format!("namespaceSelector {}", show_selector(ns)));
            }
            if let Some(ps) = &p.pod_selector {
                s.push(format!("podSelector {}", show_selector(ps)));
            }
            s.join(" AND ")
        })
        .collect();
    format!("[{}]", parts.join(" | "))
}

fn show_selector(ls: &LabelSelector) -> String {
    let s = label_selector(ls);
    if s.is_everything() {
        "{}".to_owned()
    } else {
        s.to_string()
    }
}

fn describe_ports(ports: Option<&Vec<NetworkPolicyPort>>) -> String {
    let Some(ports) = ports.filter(|p| !p.is_empty()) else {
        return "all".to_owned();
    };
    ports
        .iter()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match (&p.port, p.end_port) {
                (None, _) => format!("{proto}/*"),
                (Some(IntOrString::Int(n)), Some(e)) => format!("{proto}/{n}-{e}"),
                (Some(IntOrString::Int(n)), None) => format!("{proto}/{n}"),
                (Some(IntOrString::String(s)), _) => format!("{proto}/{s}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether egress from `src` (with the policies selecting it) reaches any of the
/// destinations on `protocol`/`port`: allowed if it reaches one of them. The verdict
/// lists the allowing rules of every destination once; with no destination at all
/// it is `Maybe`.
pub fn egress_to_any(
    selecting: &[&NetworkPolicy],
    src: &Endpoint,
    destinations: &[Endpoint],
    protocol: &str,
    port: i32,
) -> Verdict {
    let mut out: Option<Verdict> = None;
    for d in destinations {
        let v = evaluate_connection(selecting, Direction::Egress, src, d, protocol, port);
        out = Some(match out {
            None => v,
            Some(mut o) => {
                o.allowed = o.allowed.or(v.allowed);
                for a in v.allowing {
                    if !o.allowing.contains(&a) {
                        o.allowing.push(a);
                    }
                }
                for a in v.maybe {
                    if !o.maybe.contains(&a) {
                        o.maybe.push(a);
                    }
                }
                o
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
pub fn anyone_admitted(
    selecting: &[&NetworkPolicy],
    dst: &Endpoint,
    protocol: &str,
    port: i32,
) -> Tri {
    let mut out = Tri::No;
    let mut isolated = false;
    for np in selecting {
        if !applies(np, Direction::Ingress) {
            continue;
        }
        isolated = true;
        for r in np.spec.iter().flat_map(|s| s.ingress.iter().flatten()) {
            // an ipBlock or selector can always match some client
            out = out.or(ports_match(r.ports.as_ref(), protocol, port, dst));
        }
    }
    if isolated { out } else { Tri::Yes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn np(v: serde_json::Value) -> NetworkPolicy {
        let mut v = v;
        v["apiVersion"] = json!("networking.k8s.io/v1");
        v["kind"] = json!("NetworkPolicy");
        serde_json::from_value(v).unwrap()
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
        let p = pod(
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
        let mut e = Endpoint::pod(
            &p,
            Some([(NAMESPACE_NAME_LABEL.to_owned(), "kube-system".to_owned())].into()),
        );
        e.ips.push("10.96.0.10".parse().unwrap());
        e
    }

    fn app() -> (Pod, Endpoint) {
        let p = pod(
            "shop",
            "web-1",
            json!({"app": "web"}),
            json!([{"name": "http", "containerPort": 8080}]),
            "10.244.1.7",
        );
        let e = Endpoint::pod(&p, None);
        (p, e)
    }

    fn dns_verdict(policies: &[NetworkPolicy], proto: &str) -> Tri {
        let (p, src) = app();
        let sel: Vec<&NetworkPolicy> = policies.iter().filter(|n| selects(n, &p)).collect();
        egress_to_any(&sel, &src, &[coredns()], proto, 53).allowed
    }

    fn deny_egress() -> NetworkPolicy {
        np(
            json!({"metadata": {"name": "default-deny-egress", "namespace": "shop"},
                  "spec": {"podSelector": {}, "policyTypes": ["Egress"]}}),
        )
    }

    #[test]
    fn policy_types_are_implied() {
        let ingress_only = np(json!({"metadata": {"name": "a", "namespace": "shop"},
            "spec": {"podSelector": {}, "ingress": [{}]}}));
        assert_eq!(policy_types(&ingress_only), (true, false));
        let with_egress = np(json!({"metadata": {"name": "a", "namespace": "shop"},
            "spec": {"podSelector": {}, "egress": [{"ports": [{"port": 443}]}]}}));
        assert_eq!(policy_types(&with_egress), (true, true));
        assert_eq!(policy_types(&deny_egress()), (false, true));
        let empty_egress = np(json!({"metadata": {"name": "a", "namespace": "shop"},
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
        let allow = np(
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
        let allow = np(
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
        let allow = np(
            json!({"metadata": {"name": "allow-dns", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                "ports": [{"protocol": "UDP", "port": "dns"}, {"port": "dns-tcp"}]}]}}),
        );
        assert_eq!(dns_verdict(std::slice::from_ref(&allow), "UDP"), Tri::Yes);
        assert_eq!(dns_verdict(&[allow], "TCP"), Tri::Yes);
        // a name the DNS Pods do not declare, or the right name with the wrong protocol
        let wrong = np(
            json!({"metadata": {"name": "allow-dns", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "ports": [{"port": "dns"}, {"protocol": "UDP", "port": "domain"}]}]}}),
        );
        assert_eq!(dns_verdict(&[wrong], "UDP"), Tri::No);
    }

    #[test]
    fn pod_selector_alone_means_the_policy_namespace() {
        // podSelector k8s-app=kube-dns without namespaceSelector: Pods of *shop*, not kube-system
        let allow = np(
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
        let and = np(json!({"metadata": {"name": "p", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                        "podSelector": {"matchLabels": {"app": "dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}));
        assert_eq!(dns_verdict(&[and], "UDP"), Tri::No);
        // OR: either peer matching is enough
        let or = np(json!({"metadata": {"name": "p", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}},
                       {"podSelector": {"matchLabels": {"app": "dns"}}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}));
        assert_eq!(dns_verdict(&[or], "UDP"), Tri::Yes);
    }

    #[test]
    fn ip_blocks_with_except_and_everything() {
        let mk = |cidr: &str, except: serde_json::Value| {
            np(json!({"metadata": {"name": "p", "namespace": "shop"},
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
            np(json!({"metadata": {"name": "p", "namespace": "shop"},
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
        let allow = np(json!({"metadata": {"name": "p", "namespace": "shop"},
            "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {"team": "platform"}}}],
                "ports": [{"protocol": "UDP", "port": 53}]}]}}));
        let (p, src) = app();
        let mut dns = coredns();
        dns.namespace_labels = None;
        let sel: Vec<&NetworkPolicy> = vec![&allow];
        assert!(selects(&allow, &p));
        assert_eq!(
            egress_to_any(&sel, &src, &[dns], "UDP", 53).allowed,
            Tri::Maybe
        );
    }

    #[test]
    fn ingress_from_a_controller_namespace() {
        let (p, dst) = app();
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
        let deny = np(
            json!({"metadata": {"name": "deny", "namespace": "shop"}, "spec": {"podSelector": {}}}),
        );
        let same_ns = np(json!({"metadata": {"name": "same-ns", "namespace": "shop"},
            "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}}));
        let from_ctrl = np(
            json!({"metadata": {"name": "from-ingress", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
                "ports": [{"port": "http"}]}]}}),
        );
        let run = |ps: &[&NetworkPolicy]| {
            let sel: Vec<&NetworkPolicy> = ps.iter().copied().filter(|n| selects(n, &p)).collect();
            evaluate_connection(&sel, Direction::Ingress, &src, &dst, "TCP", 8080).allowed
        };
        assert_eq!(run(&[]), Tri::Yes);
        assert_eq!(run(&[&deny]), Tri::No);
        assert_eq!(run(&[&deny, &same_ns]), Tri::No);
        assert_eq!(run(&[&deny, &same_ns, &from_ctrl]), Tri::Yes);
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.96.0.0/12").unwrap();
        assert!(c.contains(&"10.96.0.10".parse().unwrap()));
        assert!(c.contains(&"10.111.255.255".parse().unwrap()));
        assert!(!c.contains(&"10.112.0.1".parse().unwrap()));
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
