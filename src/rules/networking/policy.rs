//! NetworkPolicy evaluation and the rules built on it.
//!
//! The evaluator is pure and three-valued: for a connection (source, destination,
//! protocol, port) it answers `Yes` (some rule allows it, or no policy isolates that
//! direction), `No` (the direction is isolated and no rule allows it) or `Maybe`
//! (it depends on something we did not read: a Namespace's labels, a destination
//! Pod's labels or ports, an IP). Rules fire only on a certain `No`.
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

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::networking::v1::{
    IPBlock, IngressClass, NetworkPolicy, NetworkPolicyPeer, NetworkPolicyPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::Risk;
use crate::graph::{CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE, EdgeKind};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::{container_ports, fmt_map, name_list, pod_ref, pod_terminal};
use crate::rules::{Draft, RuleContext};
use crate::selector::{Requirement, Selector};
use crate::store::Store;

type Labels = BTreeMap<String, String>;

/// The peers and ports of one rule (`to`/`from`, `ports`).
type RuleParts<'a> = (
    Option<&'a Vec<NetworkPolicyPeer>>,
    Option<&'a Vec<NetworkPolicyPort>>,
);

/// Pods behind a Service grouped by the policies isolating them: (Pods, reasons, scope).
type IngressGroup = (Vec<ObjRef>, Vec<String>, Vec<ObjRef>);

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

    fn any(it: impl IntoIterator<Item = Tri>) -> Tri {
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

/// The Namespace's labels from the store, if the Namespace was read.
pub fn namespace_labels(store: &Store, ns: &str) -> Option<Labels> {
    store.get::<Namespace>("", ns).map(|n| {
        let mut l = n.metadata.labels.clone().unwrap_or_default();
        l.entry(NAMESPACE_NAME_LABEL.to_owned())
            .or_insert_with(|| ns.to_owned());
        l
    })
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

/// Policies of the Pod's namespace that select it.
pub fn selecting_policies<'a>(store: &'a Store, p: &Pod) -> Vec<&'a NetworkPolicy> {
    let ns = p.metadata.namespace.as_deref().unwrap_or_default();
    store
        .list::<NetworkPolicy>(ns)
        .filter(|np| selects(np, p))
        .map(|np| np.as_ref())
        .collect()
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

// ---- the cluster DNS as a destination ------------------------------------------------

/// The cluster DNS as egress destinations: one endpoint per CoreDNS Pod (with the
/// Service's ClusterIPs), or, when its Pods were not read, one endpoint with what
/// the Service (or the convention `k8s-app: kube-dns`) says about them.
pub fn dns_destinations(store: &Store) -> (Vec<Endpoint>, String) {
    let ns = CLUSTER_DNS_NAMESPACE;
    let svc = store.get::<Service>(ns, CLUSTER_DNS_SERVICE);
    let ns_labels = namespace_labels(store, ns);
    let cluster_ips: Vec<IpAddr> = svc
        .and_then(|s| s.spec.as_ref())
        .map(|s| {
            s.cluster_ips
                .iter()
                .flatten()
                .chain(s.cluster_ip.iter())
                .filter_map(|ip| ip.parse().ok())
                .collect::<BTreeSet<IpAddr>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    let selector: Labels = svc
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.selector.clone())
        .unwrap_or_else(|| [("k8s-app".to_owned(), "kube-dns".to_owned())].into());
    let pods: Vec<&Pod> = store
        .select_pods(ns, &Selector::from_map(selector.iter()))
        .into_iter()
        .map(|p| p.as_ref())
        .filter(|p| !pod_terminal(p))
        .collect();
    let ips_text = if cluster_ips.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            cluster_ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut desc = format!("the cluster DNS {ns}/{CLUSTER_DNS_SERVICE}{ips_text}");
    if pods.is_empty() {
        desc.push_str(&format!(", Pods labelled {}", fmt_map(&selector)));
        return (
            vec![Endpoint {
                label: format!("Service {ns}/{CLUSTER_DNS_SERVICE}"),
                namespace: ns.to_owned(),
                namespace_labels: ns_labels,
                pod_labels: selector,
                labels_complete: false,
                ips: cluster_ips,
                named_ports: None,
            }],
            desc,
        );
    }
    let names: Vec<&str> = pods
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap_or_default())
        .collect();
    desc.push_str(&format!(
        ", Pods {} labelled {}",
        name_list(&names, 3),
        fmt_map(&selector)
    ));
    let eps = pods
        .into_iter()
        .map(|p| {
            let mut e = Endpoint::pod(p, ns_labels.clone());
            e.ips.extend(cluster_ips.iter().copied());
            e
        })
        .collect();
    (eps, desc)
}

/// Whether egress from `src` (with the policies selecting it) reaches the cluster DNS
/// on `protocol`/53: allowed if it reaches any of its Pods.
pub fn dns_egress(
    selecting: &[&NetworkPolicy],
    src: &Endpoint,
    dns: &[Endpoint],
    protocol: &str,
) -> Verdict {
    let mut out: Option<Verdict> = None;
    for d in dns {
        let v = evaluate_connection(selecting, Direction::Egress, src, d, protocol, 53);
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

// ---- rules ----------------------------------------------------------------------------

pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    blocks_dns(ctx, out);
    blocks_ingress(ctx, out);
    selects_no_pods(ctx, out);
}

/// Whether the Pod resolves names through the cluster DNS.
fn uses_cluster_dns(p: &Pod) -> bool {
    let Some(spec) = &p.spec else { return false };
    let host_net = spec.host_network.unwrap_or(false);
    match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "ClusterFirst" => !host_net,
        "ClusterFirstWithHostNet" => true,
        _ => false,
    }
}

fn blocks_dns(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let pods: Vec<&Pod> = ctx
        .graph
        .subjects(Kind::Pod)
        .filter_map(|r| ctx.store.get_ref::<Pod>(r))
        .map(|p| p.as_ref())
        .filter(|p| !pod_terminal(p) && uses_cluster_dns(p))
        .filter(|p| p.spec.as_ref().and_then(|s| s.host_network) != Some(true))
        .collect();
    if pods.is_empty() {
        return;
    }
    let (dns, dns_desc) = dns_destinations(ctx.store);
    // Pods selected by the same policies are one finding.
    let mut groups: BTreeMap<Vec<String>, (Vec<ObjRef>, Verdict, Verdict)> = BTreeMap::new();
    for p in pods {
        let selecting = selecting_policies(ctx.store, p);
        if !selecting.iter().any(|np| applies(np, Direction::Egress)) {
            continue;
        }
        let ns = p.metadata.namespace.as_deref().unwrap_or_default();
        let src = Endpoint::pod(p, namespace_labels(ctx.store, ns));
        let udp = dns_egress(&selecting, &src, &dns, "UDP");
        if udp.allowed != Tri::No {
            continue;
        }
        let tcp = dns_egress(&selecting, &src, &dns, "TCP");
        let mut key: Vec<String> = selecting
            .iter()
            .filter_map(|np| np.metadata.name.clone())
            .collect();
        key.sort();
        key.insert(0, ns.to_owned());
        let g = groups
            .entry(key)
            .or_insert_with(|| (Vec::new(), udp.clone(), tcp.clone()));
        g.0.push(pod_ref(p));
    }
    for (key, (pods, udp, tcp)) in groups {
        let ns = &key[0];
        let policies: Vec<&NetworkPolicy> = key[1..]
            .iter()
            .filter_map(|n| ctx.store.get::<NetworkPolicy>(ns, n).map(|a| a.as_ref()))
            .collect();
        let egress_policies: Vec<&NetworkPolicy> = policies
            .iter()
            .copied()
            .filter(|np| applies(np, Direction::Egress))
            .collect();
        let Some(first) = egress_policies.first() else {
            continue;
        };
        let first_name = first.metadata.name.clone().unwrap_or_default();
        let object = ObjRef::namespaced(Kind::NetworkPolicy, ns, &first_name);
        let pod_names: Vec<&str> = pods.iter().map(|r| r.name.as_str()).collect();
        let names: Vec<String> = udp.isolating.clone();
        let tcp_note = if tcp.allowed == Tri::Yes {
            " (TCP/53 is allowed, but resolvers query over UDP first and time out)"
        } else {
            ""
        };
        let mut d = Draft::new(RuleId::NetworkPolicyBlocksDNS, object.clone())
            .message(format!(
                "NetworkPolicy {} isolate{} egress of {} Pod(s) ({}) and no egress rule allows UDP/53 to {}: name resolution times out{tcp_note}",
                names.join(", "),
                if names.len() == 1 { "s" } else { "" },
                pods.len(),
                name_list(&pod_names, 3),
                dns_desc
            ))
            .edge("Pod -> NetworkPolicy")
            .affected(&pods)
            .evidence(format!("DNS destination: {dns_desc}"));
        for np in &egress_policies {
            d = d.evidence(describe_rules(np, Direction::Egress));
            d = d.scope(ObjRef::namespaced(
                Kind::NetworkPolicy,
                ns,
                np.metadata.name.as_deref().unwrap_or_default(),
            ));
        }
        d = d.evidence(format!(
            "UDP/53 to the cluster DNS: denied{}; TCP/53: {}",
            if udp.maybe.is_empty() {
                ""
            } else {
                " (some rules undecidable)"
            },
            match tcp.allowed {
                Tri::Yes => format!("allowed by {}", tcp.allowing.join(", ")),
                Tri::No => "denied".to_owned(),
                Tri::Maybe => "undecided".to_owned(),
            }
        ));
        let dns_svc = ObjRef::namespaced(Kind::Service, CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE);
        if ctx.graph.contains(&dns_svc) {
            d = d.scope(dns_svc);
        }
        let allow_dns = format!(
            "kubectl apply -n {ns} -f - <<'YAML'\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-dns\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: {CLUSTER_DNS_NAMESPACE}\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n    ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53\nYAML"
        );
        d = d
            .summary("Allow egress to the cluster DNS (UDP and TCP 53 to the kube-dns Pods in kube-system) for the Pods this policy isolates.")
            .read_only(
                "Read the policies that select the Pods",
                format!("kubectl describe networkpolicy -n {ns} {}", names.join(" ")),
            )
            .read_only(
                "Check the labels of the DNS Pods and of kube-system",
                format!("kubectl get pods -n {CLUSTER_DNS_NAMESPACE} -l k8s-app=kube-dns --show-labels && kubectl get ns {CLUSTER_DNS_NAMESPACE} --show-labels"),
            )
            .step(
                "Add a policy allowing DNS egress (adjust the labels to your DNS Pods)",
                Some(allow_dns),
                Risk::Reversible,
            )
            .step(
                "Verify resolution from a Pod with the same labels",
                Some(format!(
                    "kubectl debug -n {ns} {} -it --image=busybox:1.36 -- nslookup kubernetes.default",
                    pods[0].kubectl()
                )),
                Risk::Reversible,
            );
        out.push(d);
    }
}

/// What fronts a Service: the sources its Pods must admit, as far as the graph says.
struct Front {
    /// `Ingress shop/web via IngressClass nginx (controller Pods ingress-nginx/...)`.
    what: String,
    scope: Vec<ObjRef>,
    sources: Vec<Endpoint>,
}

/// Pods of the controller of an IngressClass, found by the conventions of the common
/// controllers (ingress-nginx, Traefik, HAProxy, Contour, Kong, ...). `None` when the
/// controller is not one we know how to find: we then say nothing about it.
fn ingress_controller_pods<'a>(ctx: &RuleContext<'a>, class: &IngressClass) -> Vec<&'a Pod> {
    let controller = class
        .spec
        .as_ref()
        .and_then(|s| s.controller.as_deref())
        .unwrap_or_default();
    let names: &[&str] = match controller {
        "k8s.io/ingress-nginx" => &["ingress-nginx"],
        "traefik.io/ingress-controller" => &["traefik"],
        "haproxy.org/ingress-controller" | "haproxy-ingress.github.io/controller" => {
            &["kubernetes-ingress", "haproxy-ingress"]
        }
        "projectcontour.io/ingress-controller" | "projectcontour.io/contour" => &["contour"],
        "ingress-controllers.konghq.com/kong" => &["kong", "ingress"],
        _ => &[],
    };
    let mut out = Vec::new();
    for name in names {
        let sel = Selector::from_map([("app.kubernetes.io/name", *name)]);
        for ns in ctx.store.namespaces_with(Kind::Pod).iter().take(500) {
            out.extend(
                ctx.store
                    .select_pods(ns, &sel)
                    .into_iter()
                    .map(|p| p.as_ref())
                    .filter(|p| !pod_terminal(p))
                    .filter(|p| {
                        // the data-plane Pods, not admission jobs
                        p.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("app.kubernetes.io/component"))
                            .is_none_or(|c| {
                                c == "controller" || c == "envoy" || c == "proxy" || c == "app"
                            })
                    }),
            );
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

fn fronts_of_service(ctx: &RuleContext, svc: &ObjRef) -> Vec<Front> {
    let mut fronts = Vec::new();
    for e in ctx.graph.dependents(svc) {
        if e.kind != EdgeKind::Backend {
            continue;
        }
        match e.from.kind {
            Kind::Ingress => {
                let Some(ing) = ctx
                    .store
                    .get_ref::<k8s_openapi::api::networking::v1::Ingress>(&e.from)
                else {
                    continue;
                };
                let Some(class_name) = crate::k8s::classes::ingress_class_name(ctx.store, ing)
                else {
                    continue;
                };
                let Some(class) = ctx.store.get::<IngressClass>("", &class_name) else {
                    continue;
                };
                let pods = ingress_controller_pods(ctx, class);
                if pods.is_empty() {
                    continue;
                }
                let names: Vec<String> = pods.iter().map(|p| pod_ref(p).to_string()).collect();
                fronts.push(Front {
                    what: format!(
                        "Ingress {} (IngressClass {class_name}, controller Pods {})",
                        e.from.name,
                        name_list(&names, 2)
                    ),
                    scope: vec![e.from.clone()],
                    sources: pods
                        .iter()
                        .map(|p| {
                            Endpoint::pod(
                                p,
                                namespace_labels(
                                    ctx.store,
                                    p.metadata.namespace.as_deref().unwrap_or_default(),
                                ),
                            )
                        })
                        .collect(),
                });
            }
            Kind::HttpRoute => {
                // Gateways deployed in-cluster label their Pods with the Gateway's name (GEP-1762).
                for pe in ctx.graph.dependencies(&e.from) {
                    if pe.kind != EdgeKind::Parent {
                        continue;
                    }
                    let gw = &pe.to;
                    let sel = Selector::from_map([(
                        "gateway.networking.k8s.io/gateway-name",
                        gw.name.as_str(),
                    )]);
                    let pods: Vec<&Pod> = ctx
                        .store
                        .select_pods(gw.ns(), &sel)
                        .into_iter()
                        .map(|p| p.as_ref())
                        .filter(|p| !pod_terminal(p))
                        .collect();
                    if pods.is_empty() {
                        continue;
                    }
                    let names: Vec<String> = pods.iter().map(|p| pod_ref(p).to_string()).collect();
                    fronts.push(Front {
                        what: format!(
                            "HTTPRoute {} (Gateway {}/{}, Pods {})",
                            e.from.name,
                            gw.ns(),
                            gw.name,
                            name_list(&names, 2)
                        ),
                        scope: vec![e.from.clone(), gw.clone()],
                        sources: pods
                            .iter()
                            .map(|p| Endpoint::pod(p, namespace_labels(ctx.store, gw.ns())))
                            .collect(),
                    });
                }
            }
            _ => {}
        }
    }
    fronts
}

fn blocks_ingress(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for svc_ref in ctx.graph.subjects(Kind::Service) {
        let Some(svc) = ctx.store.get_ref::<Service>(svc_ref) else {
            continue;
        };
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let sel = Selector::from_service_selector(spec.selector.as_ref());
        if sel.matches_nothing() {
            continue;
        }
        let pods: Vec<&Pod> = ctx
            .store
            .select_pods(svc_ref.ns(), &sel)
            .into_iter()
            .map(|p| p.as_ref())
            .filter(|p| !pod_terminal(p))
            .collect();
        if pods.is_empty() {
            continue;
        }
        let fronts = fronts_of_service(ctx, svc_ref);
        let ns = svc_ref.ns();
        let ns_labels = namespace_labels(ctx.store, ns);
        // (policies) -> (pods, reasons)
        let mut groups: BTreeMap<Vec<String>, IngressGroup> = BTreeMap::new();
        for p in &pods {
            let selecting = selecting_policies(ctx.store, p);
            if !selecting.iter().any(|np| applies(np, Direction::Ingress)) {
                continue;
            }
            let dst = Endpoint::pod(p, ns_labels.clone());
            let mut reasons = Vec::new();
            let mut scope = Vec::new();
            for sp in spec.ports.iter().flatten() {
                let protocol = sp.protocol.as_deref().unwrap_or("TCP");
                let port = match &sp.target_port {
                    None => Some(sp.port),
                    Some(IntOrString::Int(n)) => Some(*n),
                    Some(IntOrString::String(name)) => super::resolve_named_port(p, name, protocol),
                };
                let Some(port) = port else { continue };
                let port_name = sp
                    .name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                if fronts.is_empty() {
                    // Nothing we can name fronts the Pods: report only a policy that admits
                    // nobody at all on the port.
                    let v = anyone_admitted(&selecting, &dst, protocol, port);
                    if v == Tri::No {
                        reasons.push(format!(
                            "no ingress rule admits any client on {protocol}/{port}{port_name}, the Service's target port"
                        ));
                    }
                    continue;
                }
                for f in &fronts {
                    let verdict = Tri::any(f.sources.iter().map(|s| {
                        evaluate_connection(&selecting, Direction::Ingress, s, &dst, protocol, port)
                            .allowed
                    }));
                    if verdict == Tri::No {
                        reasons.push(format!(
                            "no ingress rule admits {} on {protocol}/{port}{port_name}",
                            f.what
                        ));
                        scope.extend(f.scope.iter().cloned());
                    }
                }
            }
            if reasons.is_empty() {
                continue;
            }
            let mut key: Vec<String> = selecting
                .iter()
                .filter(|np| applies(np, Direction::Ingress))
                .filter_map(|np| np.metadata.name.clone())
                .collect();
            key.sort();
            let g = groups.entry(key).or_default();
            g.0.push(pod_ref(p));
            for r in reasons {
                if !g.1.contains(&r) {
                    g.1.push(r);
                }
            }
            g.2.extend(scope);
        }
        for (names, (pods, reasons, scope)) in groups {
            let object = ObjRef::namespaced(Kind::NetworkPolicy, ns, &names[0]);
            let pod_names: Vec<&str> = pods.iter().map(|r| r.name.as_str()).collect();
            let mut d = Draft::new(RuleId::NetworkPolicyBlocksIngress, object)
                .discriminator(svc_ref.name.clone())
                .edge("Pod -> NetworkPolicy")
                .message(format!(
                    "NetworkPolicy {} isolate{} ingress of the {} Pod(s) behind Service {} ({}) and {}: connections time out",
                    names.join(", "),
                    if names.len() == 1 { "s" } else { "" },
                    pods.len(),
                    svc_ref.name,
                    name_list(&pod_names, 3),
                    reasons[0]
                ))
                .affected(&pods)
                .scope(svc_ref.clone());
            for r in &reasons {
                d = d.evidence(r.clone());
            }
            for n in &names {
                if let Some(np) = ctx.store.get::<NetworkPolicy>(ns, n) {
                    d = d.evidence(describe_rules(np, Direction::Ingress));
                }
                d = d.scope(ObjRef::namespaced(Kind::NetworkPolicy, ns, n));
            }
            for s in scope {
                d = d.scope(s);
            }
            d = d
                .summary("Add an ingress rule admitting what fronts the Service (the ingress controller's namespace and Pods, the Service's clients) on the target port.")
                .read_only(
                    "Read the policies that select the Pods",
                    format!("kubectl describe networkpolicy -n {ns} {}", names.join(" ")),
                )
                .read_only(
                    "Check the labels of the namespaces and Pods that must reach the Service",
                    "kubectl get ns --show-labels".to_owned(),
                )
                .step(
                    "Add an ingress rule (namespaceSelector/podSelector of the clients, the target port) to the policy",
                    Some(format!("kubectl edit networkpolicy -n {ns} {}", names[0])),
                    Risk::Reversible,
                );
            out.push(d);
        }
    }
}

/// Whether any client at all could be admitted on the port: the rules' ports decide,
/// peers are assumed to match when they could.
fn anyone_admitted(selecting: &[&NetworkPolicy], dst: &Endpoint, protocol: &str, port: i32) -> Tri {
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

fn selects_no_pods(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let t = &ctx.graph.target;
    let Some(ns) = t
        .namespace
        .as_deref()
        .or_else(|| (t.kind == Kind::Namespace).then_some(t.name.as_str()))
    else {
        return;
    };
    if !ctx.graph.target_exists() || !ctx.store.kind_listed(Kind::Pod, ns) {
        return;
    }
    let pods: Vec<&Pod> = ctx
        .store
        .list::<Pod>(ns)
        .take(super::MAX_PODS_SCANNED)
        .map(|p| p.as_ref())
        .collect();
    if pods.is_empty() {
        return;
    }
    for np in ctx.store.list::<NetworkPolicy>(ns).take(50) {
        let sel = pod_selector(np);
        if pods.iter().any(|p| sel.matches(p.metadata.labels.as_ref())) {
            continue;
        }
        let name = np.metadata.name.clone().unwrap_or_default();
        let r = ObjRef::namespaced(Kind::NetworkPolicy, ns, &name);
        let mut d = Draft::new(RuleId::NetworkPolicySelectsNoPods, r)
            .message(format!(
                "NetworkPolicy {name} selects no Pod of namespace {ns} (podSelector {sel}): it has no effect"
            ))
            .evidence(format!("podSelector {sel}; {} Pods in the namespace", pods.len()))
            .summary("Fix the podSelector if the policy was meant to protect some Pods, or delete the policy.");
        // the nearest miss, for a label typo
        let mut best: Option<(usize, &Pod)> = None;
        for p in &pods {
            let n = sel.unmet(p.metadata.labels.as_ref()).len();
            if best.is_none_or(|(b, _)| n < b) {
                best = Some((n, p));
            }
        }
        if let Some((_, p)) = best {
            let unmet: Vec<String> = sel
                .unmet(p.metadata.labels.as_ref())
                .iter()
                .map(|r| super::service::describe_unmet(r, p.metadata.labels.as_ref()))
                .collect();
            d = d.evidence(format!(
                "nearest Pod {}: {}",
                p.metadata.name.as_deref().unwrap_or_default(),
                unmet.join("; ")
            ));
        }
        d = d.read_only(
            "Compare the policy's selector with the Pods' labels",
            format!("kubectl get pods -n {ns} --show-labels"),
        );
        out.push(d);
    }
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
        dns_egress(&sel, &src, &[coredns()], proto).allowed
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
        assert_eq!(dns_egress(&sel, &src, &[dns], "UDP").allowed, Tri::Maybe);
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
