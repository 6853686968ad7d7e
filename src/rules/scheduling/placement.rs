//! Placement checks that need no scheduler event: whether any Node of the cluster
//! could ever take a Pod, from its requests, node selector / required node affinity
//! and tolerations against the Nodes' allocatable, labels and taints.
//!
//! [`Nodes`] summarises the cluster's Nodes once per diagnosis.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Taint, Toleration,
};

use crate::k8s::quantity::{self, Quantity, Resources};
use crate::store::Store;

/// The taint every cordoned node carries (and DaemonSet Pods tolerate).
pub const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Taints the node lifecycle controller and the kubelet put on unhealthy nodes.
pub const NODE_HEALTH_TAINTS: &[&str] = &[
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/network-unavailable",
    "node.kubernetes.io/memory-pressure",
    "node.kubernetes.io/disk-pressure",
    "node.kubernetes.io/pid-pressure",
    "node.kubernetes.io/out-of-service",
    "node.cloudprovider.kubernetes.io/uninitialized",
];

/// Taints that keep workloads off control-plane nodes: expected, not a problem.
pub const CONTROL_PLANE_TAINTS: &[&str] = &[
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// One Node as the placement checks see it.
pub struct NodeView<'a> {
    pub name: &'a str,
    pub labels: Option<&'a BTreeMap<String, String>>,
    pub taints: &'a [Taint],
    pub unschedulable: bool,
    pub allocatable: Resources,
}

/// The cluster's Nodes, summarised once.
pub struct Nodes<'a> {
    pub nodes: Vec<NodeView<'a>>,
    store: &'a Store,
    /// node -> (sum of requests of the non-terminated Pods bound to it, Pod count)
    requested: OnceCell<BTreeMap<String, (Resources, usize)>>,
}

impl<'a> Nodes<'a> {
    pub fn new(store: &'a Store) -> Nodes<'a> {
        let nodes = store
            .all::<Node>()
            .filter_map(|n| {
                let name = n.metadata.name.as_deref()?;
                let spec = n.spec.as_ref();
                Some(NodeView {
                    name,
                    labels: n.metadata.labels.as_ref(),
                    taints: spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]),
                    unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
                    allocatable: quantity::resources(
                        n.status.as_ref().and_then(|s| s.allocatable.as_ref()),
                    ),
                })
            })
            .collect();
        Nodes {
            nodes,
            store,
            requested: OnceCell::new(),
        }
    }

    /// No Node read: for graphs whose Pods are all scheduled (nothing asks).
    pub fn none(store: &'a Store) -> Nodes<'a> {
        Nodes {
            nodes: Vec::new(),
            store,
            requested: OnceCell::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&NodeView<'a>> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The largest allocatable of a resource among the nodes `filter` keeps.
    pub fn largest<'n>(
        &'n self,
        resource: &str,
        filter: impl Fn(&NodeView) -> bool,
    ) -> Option<(Quantity, &'n str)> {
        self.nodes
            .iter()
            .filter(|n| filter(n))
            .filter_map(|n| n.allocatable.get(resource).map(|q| (*q, n.name)))
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
    }

    /// Whether any node reports the resource at all.
    pub fn reports(&self, resource: &str) -> bool {
        self.nodes
            .iter()
            .any(|n| n.allocatable.contains_key(resource))
    }

    /// What the Pods bound to a node request (only the Pods the store holds), and how many.
    pub fn requested_on(&self, node: &str) -> Option<&(Resources, usize)> {
        self.requested
            .get_or_init(|| {
                let mut m = BTreeMap::new();
                for n in &self.nodes {
                    let mut sum = Resources::new();
                    let mut count = 0;
                    for r in self.store.pods_on_node(n.name) {
                        let Some(p) = self.store.get_ref::<Pod>(r) else {
                            continue;
                        };
                        let phase = p.status.as_ref().and_then(|s| s.phase.as_deref());
                        if matches!(phase, Some("Succeeded" | "Failed")) {
                            continue;
                        }
                        count += 1;
                        if let Some(spec) = &p.spec {
                            for (k, v) in quantity::pod_requests(spec) {
                                *sum.entry(k).or_default() += v;
                            }
                        }
                    }
                    m.insert(n.name.to_owned(), (sum, count));
                }
                m
            })
            .get(node)
    }

    /// The most free of a resource on the nodes `filter` keeps (allocatable minus what
    /// the known Pods there request), with the node's name.
    pub fn most_free(
        &self,
        resource: &str,
        filter: impl Fn(&NodeView) -> bool,
    ) -> Option<(Quantity, &str)> {
        self.nodes
            .iter()
            .filter(|n| filter(n))
            .filter_map(|n| {
                let alloc = *n.allocatable.get(resource)?;
                let used = if resource == "pods" {
                    Quantity::from_units(self.requested_on(n.name)?.1 as i64)
                } else {
                    self.requested_on(n.name)?
                        .0
                        .get(resource)
                        .copied()
                        .unwrap_or_default()
                };
                Some((alloc - used, n.name))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
    }
}

// ---- tolerations ------------------------------------------------------------------

/// Whether a toleration tolerates a taint (Kubernetes' `ToleratesTaint`).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty())
        && e != taint.effect
    {
        return false;
    }
    if let Some(k) = t.key.as_deref().filter(|k| !k.is_empty())
        && k != taint.key
    {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// Whether the Pod may use the node at all (capacity aside): not cordoned for it,
/// selected by its node constraints, no untolerated taint.
pub fn may_use(spec: &PodSpec, n: &NodeView) -> bool {
    schedulable_for(spec, n) && selects_node(spec, n) && untolerated(spec, n.taints).is_empty()
}

/// The NoSchedule / NoExecute taints of a node the Pod does not tolerate.
pub fn untolerated<'t>(spec: &PodSpec, taints: &'t [Taint]) -> Vec<&'t Taint> {
    let tols = spec.tolerations.as_deref().unwrap_or(&[]);
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .filter(|t| !tols.iter().any(|tol| tolerates(tol, t)))
        .collect()
}

/// `key=value:Effect` as kubectl prints a taint.
pub fn taint_string(t: &Taint) -> String {
    match t.value.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => format!("{}={v}:{}", t.key, t.effect),
        None => format!("{}:{}", t.key, t.effect),
    }
}

/// Whether the node accepts new Pods of this spec: not cordoned, or the Pod tolerates
/// the cordon (DaemonSet Pods do).
pub fn schedulable_for(spec: &PodSpec, n: &NodeView) -> bool {
    if !n.unschedulable {
        return true;
    }
    let cordon = Taint {
        key: UNSCHEDULABLE_TAINT.to_owned(),
        effect: "NoSchedule".to_owned(),
        ..Default::default()
    };
    spec.tolerations
        .iter()
        .flatten()
        .any(|t| tolerates(t, &cordon))
}

// ---- node selection ---------------------------------------------------------------

/// Whether a node selector requirement matches a node's labels (matchExpressions).
pub fn requirement_matches(
    r: &NodeSelectorRequirement,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let value = labels.and_then(|l| l.get(&r.key));
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [bound]) = (value, values) else {
                return false;
            };
            match (v.trim().parse::<i64>(), bound.trim().parse::<i64>()) {
                (Ok(v), Ok(b)) => {
                    if r.operator == "Gt" {
                        v > b
                    } else {
                        v < b
                    }
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// matchFields: only `metadata.name` is defined (In / NotIn).
fn field_matches(r: &NodeSelectorRequirement, node_name: &str) -> bool {
    if r.key != "metadata.name" {
        return false;
    }
    let values = r.values.as_deref().unwrap_or(&[]);
    match r.operator.as_str() {
        "In" => values.iter().any(|v| v == node_name),
        "NotIn" => !values.iter().any(|v| v == node_name),
        _ => false,
    }
}

/// A term matches when all its expressions and fields do; an empty term matches nothing.
pub fn term_matches(t: &NodeSelectorTerm, n: &NodeView) -> bool {
    let exprs = t.match_expressions.as_deref().unwrap_or(&[]);
    let fields = t.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, n.labels))
        && fields.iter().all(|r| field_matches(r, n.name))
}

/// Terms are ORed.
pub fn node_selector_matches(s: &NodeSelector, n: &NodeView) -> bool {
    s.node_selector_terms.iter().any(|t| term_matches(t, n))
}

fn required_affinity(spec: &PodSpec) -> Option<&NodeSelector> {
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()
}

/// Whether the Pod's nodeSelector and required node affinity accept the node.
pub fn selects_node(spec: &PodSpec, n: &NodeView) -> bool {
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| n.labels.and_then(|l| l.get(k)) == Some(v));
    selector_ok && required_affinity(spec).is_none_or(|s| node_selector_matches(s, n))
}

/// Whether the Pod constrains nodes at all (nodeSelector or required node affinity).
pub fn has_node_constraints(spec: &PodSpec) -> bool {
    spec.node_selector.as_ref().is_some_and(|m| !m.is_empty()) || required_affinity(spec).is_some()
}

fn requirement_string(r: &NodeSelectorRequirement) -> String {
    let vals = r.values.as_deref().unwrap_or(&[]).join(",");
    match r.operator.as_str() {
        "In" => format!("{} in ({vals})", r.key),
        "NotIn" => format!("{} notin ({vals})", r.key),
        "Exists" => r.key.clone(),
        "DoesNotExist" => format!("!{}", r.key),
        "Gt" => format!("{} > {vals}", r.key),
        "Lt" => format!("{} < {vals}", r.key),
        op => format!("{} {op} ({vals})", r.key),
    }
}

/// The Pod's node constraints as evidence lines.
pub fn describe_node_constraints(spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sel) = spec.node_selector.as_ref().filter(|m| !m.is_empty()) {
        let pairs: Vec<String> = sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(format!("nodeSelector {}", pairs.join(",")));
    }
    if let Some(req) = required_affinity(spec) {
        let terms: Vec<String> = req
            .node_selector_terms
            .iter()
            .map(|t| {
                let mut parts: Vec<String> = t
                    .match_expressions
                    .iter()
                    .flatten()
                    .map(requirement_string)
                    .collect();
                parts.extend(
                    t.match_fields
                        .iter()
                        .flatten()
                        .map(|r| format!("field {}", requirement_string(r))),
                );
                format!("[{}]", parts.join(", "))
            })
            .collect();
        out.push(format!(
            "required node affinity {}",
            if terms.is_empty() {
                "with no terms (matches no node)".to_owned()
            } else {
                terms.join(" or ")
            }
        ));
    }
    out
}

/// The label keys the Pod's node constraints read.
pub fn constraint_keys(spec: &PodSpec) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = spec
        .node_selector
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    for t in required_affinity(spec)
        .map(|s| s.node_selector_terms.as_slice())
        .unwrap_or(&[])
    {
        keys.extend(t.match_expressions.iter().flatten().map(|r| r.key.clone()));
    }
    keys
}

/// `disktype on nodes: hdd (2), unset (1)`: what the nodes have for a label key.
pub fn label_census(nodes: &Nodes, key: &str) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in &nodes.nodes {
        let v = n
            .labels
            .and_then(|l| l.get(key))
            .map_or_else(|| "<unset>".to_owned(), |v| format!("{v:?}"));
        *counts.entry(v).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(v, c)| format!("{v} ({c})")).collect();
    format!(
        "label {key} on the {} node(s): {}",
        nodes.nodes.len(),
        parts.join(", ")
    )
}

// ---- the checks -------------------------------------------------------------------

/// A resource the Pod requests more of than the nodes allocate.
#[derive(Clone, Debug)]
pub struct Excess {
    pub resource: String,
    pub requested: Quantity,
    /// The largest allocatable and the node that has it (None: no node offers it).
    pub largest: Option<(Quantity, String)>,
}

/// What the placement checks prove about a Pod that is not scheduled.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Requests exceed the allocatable of every node (`restricted`: of every node its
    /// selector allows, larger nodes exist elsewhere).
    ExceedsCapacity {
        excess: Vec<Excess>,
        restricted: bool,
    },
    /// No node's labels satisfy the nodeSelector / required node affinity.
    NoNodeMatches,
    /// Every node that fits otherwise carries a taint the Pod does not tolerate:
    /// taint (`key=value:Effect`) -> nodes.
    AllTainted {
        taints: BTreeMap<String, Vec<String>>,
        health: bool,
        fitting: usize,
    },
}

fn excess_over(req: &Resources, nodes: &Nodes, filter: impl Fn(&NodeView) -> bool) -> Vec<Excess> {
    let mut out = Vec::new();
    for (res, q) in req {
        if !q.is_positive() {
            continue;
        }
        let standard = matches!(
            res.as_str(),
            "cpu" | "memory" | "ephemeral-storage" | "pods"
        );
        if standard && !nodes.reports(res) {
            continue; // nodes without status: unknown, not zero
        }
        let largest = nodes.largest(res, &filter);
        let exceeds = match largest {
            Some((a, _)) => *q > a,
            None => !standard,
        };
        if exceeds {
            out.push(Excess {
                resource: res.clone(),
                requested: *q,
                largest: largest.map(|(a, n)| (a, n.to_owned())),
            });
        }
    }
    out
}

fn fits(req: &Resources, n: &NodeView) -> bool {
    req.iter().all(|(res, q)| match n.allocatable.get(res) {
        Some(a) => q <= a,
        None => matches!(
            res.as_str(),
            "cpu" | "memory" | "ephemeral-storage" | "pods"
        ),
    })
}

/// Runs the checks on a Pod that is not scheduled. Empty when some node could take it
/// (or when there are no nodes to judge by).
pub fn check(spec: &PodSpec, nodes: &Nodes) -> Vec<Verdict> {
    let mut out = Vec::new();
    if nodes.is_empty() {
        return out;
    }
    let req = quantity::pod_requests(spec);
    let usable = |n: &NodeView| schedulable_for(spec, n);
    let excess = excess_over(&req, nodes, usable);
    if !excess.is_empty() && nodes.nodes.iter().any(usable) {
        out.push(Verdict::ExceedsCapacity {
            excess,
            restricted: false,
        });
        return out;
    }
    if has_node_constraints(spec) && !nodes.nodes.iter().any(|n| selects_node(spec, n)) {
        out.push(Verdict::NoNodeMatches);
        return out;
    }
    let allowed = |n: &NodeView| usable(n) && selects_node(spec, n);
    if has_node_constraints(spec) && nodes.nodes.iter().any(allowed) {
        let excess = excess_over(&req, nodes, allowed);
        if !excess.is_empty() {
            out.push(Verdict::ExceedsCapacity {
                excess,
                restricted: true,
            });
            return out;
        }
    }
    let fitting: Vec<&NodeView> = nodes
        .nodes
        .iter()
        .filter(|n| allowed(n) && fits(&req, n))
        .collect();
    if fitting.is_empty() {
        return out;
    }
    let mut taints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut health = false;
    for n in &fitting {
        let bad = untolerated(spec, n.taints);
        if bad.is_empty() {
            return out; // this node would take it
        }
        for t in bad {
            health |= NODE_HEALTH_TAINTS.contains(&t.key.as_str());
            taints
                .entry(taint_string(t))
                .or_default()
                .push(n.name.to_owned());
        }
    }
    out.push(Verdict::AllTainted {
        taints,
        health,
        fitting: fitting.len(),
    });
    out
}

/// The Pods of the store bound to a node (for evidence), as Arcs.
pub fn pods_on<'s>(store: &'s Store, node: &str) -> Vec<&'s Arc<Pod>> {
    store
        .pods_on_node(node)
        .filter_map(|r| store.get_ref::<Pod>(r))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tol(
        key: Option<&str>,
        op: Option<&str>,
        value: Option<&str>,
        effect: Option<&str>,
    ) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        }
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.into(),
            value: value.map(Into::into),
            effect: effect.into(),
            time_added: None,
        }
    }

    #[test]
    fn toleration_semantics() {
        let gpu = taint("dedicated", Some("gpu"), "NoSchedule");
        assert!(tolerates(
            &tol(
                Some("dedicated"),
                Some("Equal"),
                Some("gpu"),
                Some("NoSchedule")
            ),
            &gpu
        ));
        assert!(tolerates(
            &tol(Some("dedicated"), None, Some("gpu"), None),
            &gpu
        ));
        assert!(!tolerates(
            &tol(Some("dedicated"), Some("Equal"), Some("cpu"), None),
            &gpu
        ));
        assert!(tolerates(
            &tol(Some("dedicated"), Some("Exists"), None, None),
            &gpu
        ));
        assert!(!tolerates(
            &tol(Some("dedicated"), Some("Exists"), None, Some("NoExecute")),
            &gpu
        ));
        // empty key with Exists tolerates everything
        assert!(tolerates(&tol(None, Some("Exists"), None, None), &gpu));
        assert!(!tolerates(
            &tol(Some("other"), Some("Exists"), None, None),
            &gpu
        ));
        let unreachable = taint("node.kubernetes.io/unreachable", None, "NoExecute");
        assert!(tolerates(
            &tol(
                Some("node.kubernetes.io/unreachable"),
                Some("Exists"),
                None,
                Some("NoExecute")
            ),
            &unreachable
        ));
        let spec = PodSpec {
            tolerations: Some(vec![tol(Some("dedicated"), Some("Exists"), None, None)]),
            ..Default::default()
        };
        let taints = [
            gpu.clone(),
            unreachable.clone(),
            taint("soft", None, "PreferNoSchedule"),
        ];
        let bad = untolerated(&spec, &taints);
        assert_eq!(bad.len(), 1);
        assert_eq!(
            taint_string(bad[0]),
            "node.kubernetes.io/unreachable:NoExecute"
        );
    }

    fn view<'a>(name: &'a str, labels: &'a BTreeMap<String, String>) -> NodeView<'a> {
        NodeView {
            name,
            labels: Some(labels),
            taints: &[],
            unschedulable: false,
            allocatable: Resources::new(),
        }
    }

    fn req(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
        NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn node_affinity_operators() {
        let labels: BTreeMap<String, String> = [("zone", "a"), ("cores", "16"), ("gpu", "true")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let n = view("node-1", &labels);
        let term = |rs: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
            match_expressions: Some(rs),
            match_fields: None,
        };
        assert!(term_matches(
            &term(vec![req("zone", "In", &["a", "b"])]),
            &n
        ));
        assert!(!term_matches(&term(vec![req("zone", "NotIn", &["a"])]), &n));
        assert!(term_matches(
            &term(vec![req("missing", "NotIn", &["a"])]),
            &n
        ));
        assert!(term_matches(&term(vec![req("gpu", "Exists", &[])]), &n));
        assert!(term_matches(
            &term(vec![req("spot", "DoesNotExist", &[])]),
            &n
        ));
        assert!(term_matches(&term(vec![req("cores", "Gt", &["8"])]), &n));
        assert!(!term_matches(&term(vec![req("cores", "Lt", &["8"])]), &n));
        assert!(!term_matches(&term(vec![req("zone", "Gt", &["1"])]), &n));
        assert!(!term_matches(&term(vec![req("zone", "Bogus", &["a"])]), &n));
        // AND within a term
        assert!(!term_matches(
            &term(vec![
                req("zone", "In", &["a"]),
                req("gpu", "DoesNotExist", &[])
            ]),
            &n
        ));
        // empty term matches nothing
        assert!(!term_matches(&NodeSelectorTerm::default(), &n));
        // matchFields metadata.name (DaemonSet Pods)
        let f = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![req("metadata.name", "In", &["node-1"])]),
        };
        assert!(term_matches(&f, &n));
        let f2 = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![req("metadata.name", "In", &["node-9"])]),
        };
        assert!(!term_matches(&f2, &n));
        // OR across terms
        let sel = NodeSelector {
            node_selector_terms: vec![f2, term(vec![req("zone", "In", &["a"])])],
        };
        assert!(node_selector_matches(&sel, &n));
    }
}
