//! Placement checks that need no scheduler event: whether any Node of the cluster
//! could ever take a Pod, from its requests, node selector / required node affinity
//! and tolerations against the Nodes' allocatable, labels and taints.
//!
//! [`Nodes`] summarises the cluster's Nodes once per diagnosis.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec, Taint, Toleration,
};

use crate::k8s::quantity::{self, Quantity, Resources};
use crate::store::Store;

/// The taint every cordoned node carries (and DaemonSet Pods tolerate).
pub(crate) const UNSCHEDULABLE_TAINT: &str = "node.kubernetes.io/unschedulable";

/// Taints the node lifecycle controller and the kubelet put on unhealthy nodes.
pub(crate) const NODE_HEALTH_TAINTS: &[&str] = &[
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
pub(crate) const CONTROL_PLANE_TAINTS: &[&str] = &[
    "node-role.kubernetes.io/control-plane",
    "node-role.kubernetes.io/master",
];

/// One Node as the placement checks see it.
pub(crate) struct NodeView<'a> {
    /// The Node's name.
    pub(crate) name: &'a str,
    /// Its labels.
    pub(crate) labels: Option<&'a BTreeMap<String, String>>,
    /// Its taints.
    pub(crate) taints: &'a [Taint],
    /// Cordoned (`spec.unschedulable`).
    pub(crate) unschedulable: bool,
    /// What it can allocate (`status.allocatable`).
    pub(crate) allocatable: Resources,
}

/// The cluster's Nodes, summarised once.
pub(crate) struct Nodes<'a> {
    /// Every Node of the store.
    pub(crate) nodes: Vec<NodeView<'a>>,
    store: &'a Store,
    /// node -> (sum of requests of the non-terminated Pods bound to it, Pod count)
    requested: OnceCell<BTreeMap<String, (Resources, usize)>>,
}

impl<'a> Nodes<'a> {
    /// Every Node of the store.
    pub(crate) fn new(store: &'a Store) -> Nodes<'a> {
        let nodes = store
            .all::<Node>()
            .filter_map(|node| {
                let name = node.metadata.name.as_deref()?;
                let spec = node.spec.as_ref();
                Some(NodeView {
                    name,
                    labels: node.metadata.labels.as_ref(),
                    taints: spec.and_then(|s| s.taints.as_deref()).unwrap_or(&[]),
                    unschedulable: spec.and_then(|s| s.unschedulable).unwrap_or(false),
                    allocatable: quantity::resources(
                        node.status.as_ref().and_then(|s| s.allocatable.as_ref()),
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
    pub(crate) fn none(store: &'a Store) -> Nodes<'a> {
        Nodes {
            nodes: Vec::new(),
            store,
            requested: OnceCell::new(),
        }
    }

    /// A node's Ready condition when it is not True, as evidence:
    /// `condition Ready=False reason KubeletNotReady since T: message`.
    pub(crate) fn not_ready(&self, name: &str) -> Option<String> {
        let node = self.store.get::<Node>("", name)?;
        let ready = node
            .status
            .as_ref()?
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Ready")?;
        (ready.status != "True").then(|| {
            format!(
                "condition Ready={} reason {}{}: {}",
                ready.status,
                ready.reason.as_deref().unwrap_or("-"),
                ready
                    .last_transition_time
                    .as_ref()
                    .map(|t| format!(" since {}", t.0))
                    .unwrap_or_default(),
                ready.message.as_deref().unwrap_or("")
            )
        })
    }

    /// No Node at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The largest allocatable of a resource among the nodes `filter` keeps.
    pub(crate) fn largest<'n>(
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
    pub(crate) fn reports(&self, resource: &str) -> bool {
        self.nodes
            .iter()
            .any(|n| n.allocatable.contains_key(resource))
    }

    /// What the Pods bound to a node request (only the Pods the store holds), and how many.
    pub(crate) fn requested_on(&self, node: &str) -> Option<&(Resources, usize)> {
        self.requested
            .get_or_init(|| {
                let mut by_node = BTreeMap::new();
                for node in &self.nodes {
                    let mut sum = Resources::new();
                    let mut count = 0;
                    for pod_ref in self.store.pods_on_node(node.name) {
                        let Some(pod) = self.store.get_ref::<Pod>(pod_ref) else {
                            continue;
                        };
                        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
                        if matches!(phase, Some("Succeeded" | "Failed")) {
                            continue;
                        }
                        count += 1;
                        if let Some(spec) = &pod.spec {
                            for (resource, quantity) in quantity::pod_requests(spec) {
                                *sum.entry(resource).or_default() += quantity;
                            }
                        }
                    }
                    by_node.insert(node.name.to_owned(), (sum, count));
                }
                by_node
            })
            .get(node)
    }

    /// The most free of a resource on the nodes `filter` keeps (allocatable minus what
    /// the known Pods there request), with the node's name.
    pub(crate) fn most_free(
        &self,
        resource: &str,
        filter: impl Fn(&NodeView) -> bool,
    ) -> Option<(Quantity, &str)> {
        self.nodes
            .iter()
            .filter(|n| filter(n))
            .filter_map(|node| {
                let alloc = *node.allocatable.get(resource)?;
                let used = if resource == "pods" {
                    Quantity::from_units(self.requested_on(node.name)?.1 as i64)
                } else {
                    self.requested_on(node.name)?
                        .0
                        .get(resource)
                        .copied()
                        .unwrap_or_default()
                };
                Some((alloc - used, node.name))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
    }
}

// ---- tolerations ------------------------------------------------------------------

/// Whether a toleration tolerates a taint (Kubernetes' `ToleratesTaint`).
pub(crate) fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "" | "Equal" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// Whether the Pod may use the node at all (capacity aside): not cordoned for it,
/// selected by its node constraints, no untolerated taint.
pub(crate) fn may_use(spec: &PodSpec, node: &NodeView) -> bool {
    schedulable_for(spec, node)
        && selects_node(spec, node)
        && untolerated(spec, node.taints).is_empty()
}

/// The NoSchedule / NoExecute taints of a node the Pod does not tolerate.
pub(crate) fn untolerated<'t>(spec: &PodSpec, taints: &'t [Taint]) -> Vec<&'t Taint> {
    let tolerations = spec.tolerations.as_deref().unwrap_or(&[]);
    taints
        .iter()
        .filter(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
        .filter(|t| !tolerations.iter().any(|tol| tolerates(tol, t)))
        .collect()
}

/// `key=value:Effect` as kubectl prints a taint.
pub(crate) fn taint_string(taint: &Taint) -> String {
    match taint.value.as_deref().filter(|v| !v.is_empty()) {
        Some(value) => format!("{}={value}:{}", taint.key, taint.effect),
        None => format!("{}:{}", taint.key, taint.effect),
    }
}

/// Whether the node accepts new Pods of this spec: not cordoned, or the Pod tolerates
/// the cordon (DaemonSet Pods do).
pub(crate) fn schedulable_for(spec: &PodSpec, node: &NodeView) -> bool {
    if !node.unschedulable {
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
pub(crate) fn requirement_matches(
    requirement: &NodeSelectorRequirement,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let value = labels.and_then(|l| l.get(&requirement.key));
    let values = requirement.values.as_deref().unwrap_or(&[]);
    match requirement.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(value), [bound]) = (value, values) else {
                return false;
            };
            match (value.trim().parse::<i64>(), bound.trim().parse::<i64>()) {
                (Ok(value), Ok(bound)) => {
                    if requirement.operator == "Gt" {
                        value > bound
                    } else {
                        value < bound
                    }
                }
                _ => false,
            }
        }
        _ => false,
    }
}

/// matchFields: only `metadata.name` is defined (In / NotIn).
fn field_matches(requirement: &NodeSelectorRequirement, node_name: &str) -> bool {
    if requirement.key != "metadata.name" {
        return false;
    }
    let values = requirement.values.as_deref().unwrap_or(&[]);
    match requirement.operator.as_str() {
        "In" => values.iter().any(|v| v == node_name),
        "NotIn" => !values.iter().any(|v| v == node_name),
        _ => false,
    }
}

/// A term matches when all its expressions and fields do; an empty term matches nothing.
pub(crate) fn term_matches(term: &NodeSelectorTerm, node: &NodeView) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|r| requirement_matches(r, node.labels))
        && fields.iter().all(|r| field_matches(r, node.name))
}

/// Whether a node selector (required node affinity, a PV's node affinity) accepts the
/// node: terms are ORed.
pub(crate) fn node_selector_matches(selector: &NodeSelector, node: &NodeView) -> bool {
    selector
        .node_selector_terms
        .iter()
        .any(|term| term_matches(term, node))
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
pub(crate) fn selects_node(spec: &PodSpec, node: &NodeView) -> bool {
    let selector_ok = spec
        .node_selector
        .iter()
        .flatten()
        .all(|(k, v)| node.labels.and_then(|l| l.get(k)) == Some(v));
    selector_ok && required_affinity(spec).is_none_or(|s| node_selector_matches(s, node))
}

/// Whether the Pod constrains nodes at all (nodeSelector or required node affinity).
pub(crate) fn has_node_constraints(spec: &PodSpec) -> bool {
    spec.node_selector.as_ref().is_some_and(|m| !m.is_empty()) || required_affinity(spec).is_some()
}

/// A requirement as a label selector string: `zone in (a,b)`, `!spot`.
fn requirement_string(requirement: &NodeSelectorRequirement) -> String {
    let key = &requirement.key;
    let vals = requirement.values.as_deref().unwrap_or(&[]).join(",");
    match requirement.operator.as_str() {
        "In" => format!("{key} in ({vals})"),
        "NotIn" => format!("{key} notin ({vals})"),
        "Exists" => key.clone(),
        "DoesNotExist" => format!("!{key}"),
        "Gt" => format!("{key} > {vals}"),
        "Lt" => format!("{key} < {vals}"),
        op => format!("{key} {op} ({vals})"),
    }
}

/// The Pod's node constraints as evidence lines.
pub(crate) fn describe_node_constraints(spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(sel) = spec.node_selector.as_ref().filter(|m| !m.is_empty()) {
        let pairs: Vec<String> = sel.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(format!("nodeSelector {}", pairs.join(",")));
    }
    if let Some(req) = required_affinity(spec) {
        let terms: Vec<String> = req
            .node_selector_terms
            .iter()
            .map(|term| {
                let mut parts: Vec<String> = term
                    .match_expressions
                    .iter()
                    .flatten()
                    .map(requirement_string)
                    .collect();
                parts.extend(
                    term.match_fields
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
pub(crate) fn constraint_keys(spec: &PodSpec) -> BTreeSet<String> {
    let mut keys: BTreeSet<String> = spec
        .node_selector
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect();
    for term in required_affinity(spec)
        .map(|s| s.node_selector_terms.as_slice())
        .unwrap_or(&[])
    {
        keys.extend(
            term.match_expressions
                .iter()
                .flatten()
                .map(|r| r.key.clone()),
        );
    }
    keys
}

/// `disktype on nodes: hdd (2), unset (1)`: what the nodes have for a label key.
pub(crate) fn label_census(nodes: &Nodes, key: &str) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for node in &nodes.nodes {
        let value = node
            .labels
            .and_then(|l| l.get(key))
            .map_or_else(|| "<unset>".to_owned(), |v| format!("{v:?}"));
        *counts.entry(value).or_default() += 1;
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
pub(crate) struct Excess {
    /// The resource (`cpu`, `nvidia.com/gpu`).
    pub(crate) resource: String,
    /// What the Pod requests of it.
    pub(crate) requested: Quantity,
    /// The largest allocatable and the node that has it (None: no node offers it).
    pub(crate) largest: Option<(Quantity, String)>,
}

/// What the placement checks prove about a Pod that is not scheduled.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// Requests exceed the allocatable of every node (`restricted`: of every node its
    /// selector allows, larger nodes exist elsewhere).
    ExceedsCapacity {
        /// The resources requested beyond any node.
        excess: Vec<Excess>,
        /// Judged among the nodes the selector allows only.
        restricted: bool,
    },
    /// No node's labels satisfy the nodeSelector / required node affinity.
    NoNodeMatches,
    /// Every node that fits otherwise carries a taint the Pod does not tolerate:
    /// taint (`key=value:Effect`) -> nodes.
    AllTainted {
        /// `key=value:Effect` -> the nodes carrying it.
        taints: BTreeMap<String, Vec<String>>,
        /// Some taint is a node-health taint.
        health: bool,
        /// How many nodes would fit but for the taints.
        fitting: usize,
        /// The Pod's nodeSelector / required node affinity narrowed the nodes to these
        /// tainted ones: the constraint, not the taint, is the cause (when no taint is
        /// a node-health taint).
        constrained: bool,
    },
}

/// The requested resources no node `filter` keeps can allocate.
fn excess_over(
    requests: &Resources,
    nodes: &Nodes,
    filter: impl Fn(&NodeView) -> bool,
) -> Vec<Excess> {
    let mut out = Vec::new();
    for (resource, requested) in requests {
        if !requested.is_positive() {
            continue;
        }
        let standard = matches!(
            resource.as_str(),
            "cpu" | "memory" | "ephemeral-storage" | "pods"
        );
        if standard && !nodes.reports(resource) {
            continue; // nodes without status: unknown, not zero
        }
        let largest = nodes.largest(resource, &filter);
        let exceeds = match largest {
            Some((allocatable, _)) => *requested > allocatable,
            None => !standard,
        };
        if exceeds {
            out.push(Excess {
                resource: resource.clone(),
                requested: *requested,
                largest: largest.map(|(allocatable, node)| (allocatable, node.to_owned())),
            });
        }
    }
    out
}

/// Whether the node can allocate the requests (a standard resource it does not
/// report counts as fitting).
fn fits(requests: &Resources, node: &NodeView) -> bool {
    requests.iter().all(
        |(resource, requested)| match node.allocatable.get(resource) {
            Some(allocatable) => requested <= allocatable,
            None => matches!(
                resource.as_str(),
                "cpu" | "memory" | "ephemeral-storage" | "pods"
            ),
        },
    )
}

/// Runs the checks on a Pod that is not scheduled. Empty when some node could take it
/// (or when there are no nodes to judge by).
pub(crate) fn check(spec: &PodSpec, nodes: &Nodes) -> Vec<Verdict> {
    let mut out = Vec::new();
    if nodes.is_empty() {
        return out;
    }
    let requests = quantity::pod_requests(spec);
    let usable = |node: &NodeView| schedulable_for(spec, node);
    let excess = excess_over(&requests, nodes, usable);
    if !excess.is_empty() && nodes.nodes.iter().any(usable) {
        out.push(Verdict::ExceedsCapacity {
            excess,
            restricted: false,
        });
        return out;
    }
    if has_node_constraints(spec) && !nodes.nodes.iter().any(|node| selects_node(spec, node)) {
        out.push(Verdict::NoNodeMatches);
        return out;
    }
    let allowed = |node: &NodeView| usable(node) && selects_node(spec, node);
    if has_node_constraints(spec) && nodes.nodes.iter().any(allowed) {
        let excess = excess_over(&requests, nodes, allowed);
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
        .filter(|node| allowed(node) && fits(&requests, node))
        .collect();
    if fitting.is_empty() {
        return out;
    }
    let mut taints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut health = false;
    for node in &fitting {
        let bad = untolerated(spec, node.taints);
        if bad.is_empty() {
            return out; // this node would take it
        }
        for taint in bad {
            health |= NODE_HEALTH_TAINTS.contains(&taint.key.as_str());
            taints
                .entry(taint_string(taint))
                .or_default()
                .push(node.name.to_owned());
        }
    }
    out.push(Verdict::AllTainted {
        taints,
        health,
        fitting: fitting.len(),
        constrained: has_node_constraints(spec),
    });
    out
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

    fn requirement(key: &str, op: &str, values: &[&str]) -> NodeSelectorRequirement {
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
        let node = view("node-1", &labels);
        let term = |rs: Vec<NodeSelectorRequirement>| NodeSelectorTerm {
            match_expressions: Some(rs),
            match_fields: None,
        };
        assert!(term_matches(
            &term(vec![requirement("zone", "In", &["a", "b"])]),
            &node
        ));
        assert!(!term_matches(
            &term(vec![requirement("zone", "NotIn", &["a"])]),
            &node
        ));
        assert!(term_matches(
            &term(vec![requirement("missing", "NotIn", &["a"])]),
            &node
        ));
        assert!(term_matches(
            &term(vec![requirement("gpu", "Exists", &[])]),
            &node
        ));
        assert!(term_matches(
            &term(vec![requirement("spot", "DoesNotExist", &[])]),
            &node
        ));
        assert!(term_matches(
            &term(vec![requirement("cores", "Gt", &["8"])]),
            &node
        ));
        assert!(!term_matches(
            &term(vec![requirement("cores", "Lt", &["8"])]),
            &node
        ));
        assert!(!term_matches(
            &term(vec![requirement("zone", "Gt", &["1"])]),
            &node
        ));
        assert!(!term_matches(
            &term(vec![requirement("zone", "Bogus", &["a"])]),
            &node
        ));
        // AND within a term
        assert!(!term_matches(
            &term(vec![
                requirement("zone", "In", &["a"]),
                requirement("gpu", "DoesNotExist", &[])
            ]),
            &node
        ));
        // empty term matches nothing
        assert!(!term_matches(&NodeSelectorTerm::default(), &node));
        // matchFields metadata.name (DaemonSet Pods)
        let on_node_1 = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![requirement("metadata.name", "In", &["node-1"])]),
        };
        assert!(term_matches(&on_node_1, &node));
        let on_node_9 = NodeSelectorTerm {
            match_expressions: None,
            match_fields: Some(vec![requirement("metadata.name", "In", &["node-9"])]),
        };
        assert!(!term_matches(&on_node_9, &node));
        // OR across terms
        let sel = NodeSelector {
            node_selector_terms: vec![on_node_9, term(vec![requirement("zone", "In", &["a"])])],
        };
        assert!(node_selector_matches(&sel, &node));
    }
}
