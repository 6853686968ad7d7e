//! Correlation: which findings explain which, along the object graph.
//!
//! A finding C explains a finding S when C's rule lists S's rule among what it
//! explains (the catalog's "explains", docs/rules.md) and S's objects reach C's objects
//! along dependency edges (S depends on what C is about). A finding nothing explains
//! is a root cause. Findings are then ordered: root causes first, most severe first,
//! those explaining the most findings first; then the symptoms.
//!
//! Cause by evidence: a finding whose scope holds a Service its Pods name (a `Names`
//! edge: a probe message, a log line, an env or ConfigMap value naming it) points at
//! that Service. The Service's own findings explain it, whatever the explains table
//! says; and it explains (along the table) only symptoms of the Pods that name the
//! Service — a log-derived symptom only when a log line names it. The same holds for
//! the rules in [`BY_EVIDENCE`], whose causes must be named by the symptom's Pods
//! (a StatefulSet's missing governing Service, named by its Pods' peer DNS names).
//! Objects are connected upward too: a finding about a workload's controller reaches
//! its owners, so two findings of one workload are linked when one explains the other.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::api::{RuleSetName, Severity};
use crate::graph::evidence::detail_is_log;
use crate::graph::{EdgeKind, ObjectGraph};
use crate::model::ObjRef;
use crate::rules::{Draft, RuleId};
use crate::store::FastHash;

/// The result of correlating drafts: direct causes of each draft, and an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// `causes[i]`: indexes of the drafts that directly explain draft `i`.
    pub causes: Vec<Vec<usize>>,
    /// Draft indexes, most important first.
    pub order: Vec<usize>,
}

/// The hygiene rules: how a workload is written (a mutable tag, no requests, no memory
/// limit, no startup probe), not a failure. Such a finding is a root cause only when it
/// explains an active problem (a missing cpu request that blinds an autoscaler).
pub const HYGIENE: &[crate::rules::RuleId] = &[
    crate::rules::RuleId::ImageTagMutable,
    crate::rules::RuleId::NoResourceRequests,
    crate::rules::RuleId::NoMemoryLimit,
    crate::rules::RuleId::MissingStartupProbe,
];

/// Whether a rule is a hygiene note (Info unless it explains an active problem).
pub fn is_hygiene(rule: crate::rules::RuleId) -> bool {
    HYGIENE.contains(&rule)
}

/// Whether a finding is a root cause: nothing explains it, and it is not a hygiene
/// note that explains nothing.
pub fn is_root(
    rule: crate::rules::RuleId,
    caused_by_nothing: bool,
    explains_something: bool,
) -> bool {
    caused_by_nothing && (explains_something || !is_hygiene(rule))
}

/// Whether `cause`'s rule explains `symptom`'s rule (honouring tagged entries).
pub fn rule_explains(cause: &Draft, symptom: &Draft) -> bool {
    cause
        .rule
        .explains
        .iter()
        .any(|explained| explained.covers(symptom.rule.id, &symptom.tags))
}

/// Rules whose findings explain a symptom only when the symptom's Pods name (a
/// `Names` edge) an object of the cause's scope.
const BY_EVIDENCE: &[RuleId] = &[RuleId::StatefulSetServiceNotFound];

/// The objects of a draft's scope that other objects of its scope name by evidence
/// (the Service a DependencyUnavailable points at).
fn named<'a>(graph: &'a ObjectGraph, draft: &'a Draft) -> Vec<&'a ObjRef> {
    draft
        .scope
        .iter()
        .filter(|object| {
            graph
                .dependents(object)
                .any(|edge| edge.kind == EdgeKind::Names && draft.scope.contains(&edge.from))
        })
        .collect()
}

/// Whether an object of the symptom's scope names an object of the cause's scope
/// (for a log-derived symptom: in a log line).
fn named_by_symptom(graph: &ObjectGraph, symptom: &Draft, cause: &Draft) -> bool {
    let from_logs = symptom.rule.set == RuleSetName::Logs;
    symptom.scope.iter().any(|object| {
        graph.dependencies(object).any(|edge| {
            edge.kind == EdgeKind::Names
                && cause.scope.contains(&edge.to)
                && (!from_logs || edge.detail.as_deref().is_some_and(detail_is_log))
        })
    })
}

/// Everything the scope of a draft reaches along dependency edges (the scope
/// included), and the owners above the scope (its workload's controllers).
fn reach<'a>(graph: &'a ObjectGraph, scope: &'a [ObjRef]) -> HashSet<&'a ObjRef, FastHash> {
    let mut seen: HashSet<&ObjRef, FastHash> = scope.iter().collect();
    let mut up: Vec<&ObjRef> = scope.iter().collect();
    while let Some(current) = up.pop() {
        for edge in graph.dependents(current) {
            if edge.kind == EdgeKind::Owns && seen.insert(&edge.from) {
                up.push(&edge.from);
            }
        }
    }
    let mut stack: Vec<&ObjRef> = scope.iter().collect();
    while let Some(current) = stack.pop() {
        for edge in graph.dependencies(current) {
            if seen.insert(&edge.to) {
                stack.push(&edge.to);
            }
        }
    }
    seen
}

pub fn correlate(graph: &ObjectGraph, drafts: &[Draft]) -> Correlation {
    let count = drafts.len();
    // the reach of a draft matters only if another draft's rule may explain it
    let reaches: Vec<Option<HashSet<&ObjRef, FastHash>>> = drafts
        .iter()
        .enumerate()
        .map(|(symptom_index, symptom)| {
            drafts
                .iter()
                .enumerate()
                .any(|(cause_index, cause)| {
                    cause_index != symptom_index && rule_explains(cause, symptom)
                })
                .then(|| reach(graph, &symptom.scope))
        })
        .collect();
    let named: Vec<Vec<&ObjRef>> = drafts.iter().map(|d| named(graph, d)).collect();
    // candidate links cause -> symptom
    let mut links: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (cause_index, cause) in drafts.iter().enumerate() {
        let by_evidence = !named[cause_index].is_empty() || BY_EVIDENCE.contains(&cause.rule.id);
        for (symptom_index, symptom) in drafts.iter().enumerate() {
            if cause_index == symptom_index || !rule_explains(cause, symptom) {
                continue;
            }
            // the objects a cause points at are not what it is about
            if let Some(reach) = &reaches[symptom_index]
                && cause
                    .scope
                    .iter()
                    .filter(|o| !named[cause_index].contains(o))
                    .any(|o| reach.contains(o))
                && (!by_evidence || named_by_symptom(graph, symptom, cause))
            {
                links.insert((cause_index, symptom_index));
            }
        }
    }
    // cause by evidence: the findings about a named object explain the finding
    // pointing at it (and not the other way round)
    for (symptom_index, pointed) in named.iter().enumerate() {
        for (cause_index, cause) in drafts.iter().enumerate() {
            if cause_index != symptom_index
                && cause.severity >= Severity::Warning
                && pointed.contains(&&cause.object)
            {
                links.remove(&(symptom_index, cause_index));
                links.insert((cause_index, symptom_index));
            }
        }
    }
    // Break mutual explanations: keep the link from the more severe finding, then the
    // one earlier in the catalog.
    let rank = |i: usize| (std::cmp::Reverse(drafts[i].severity), drafts[i].rule.id);
    let mutual: Vec<(usize, usize)> = links
        .iter()
        .filter(|(c, s)| c < s && links.contains(&(*s, *c)))
        .copied()
        .collect();
    for (first, second) in mutual {
        if rank(first) <= rank(second) {
            links.remove(&(second, first));
        } else {
            links.remove(&(first, second));
        }
    }
    let mut causes: Vec<Vec<usize>> = vec![Vec::new(); count];
    for &(cause_index, symptom_index) in &links {
        causes[symptom_index].push(cause_index);
    }
    break_cycles(&mut causes);
    // transitive reduction: drop a direct cause that is also an ancestor of another cause
    let ancestors: Vec<BTreeSet<usize>> = (0..count).map(|i| ancestors_of(&causes, i)).collect();
    for direct in causes.iter_mut() {
        let all = direct.clone();
        direct.retain(|&c| !all.iter().any(|&o| o != c && ancestors[o].contains(&c)));
    }
    // order
    let explained_count: Vec<usize> = (0..count)
        .map(|i| (0..count).filter(|&j| ancestors[j].contains(&i)).count())
        .collect();
    let mut order: Vec<usize> = (0..count).collect();
    order.sort_by(|&a, &b| {
        let root_a = causes[a].is_empty();
        let root_b = causes[b].is_empty();
        root_b
            .cmp(&root_a)
            .then(drafts[b].severity.cmp(&drafts[a].severity))
            .then(explained_count[b].cmp(&explained_count[a]))
            .then(ancestors[a].len().cmp(&ancestors[b].len()))
            .then(drafts[a].rule.id.cmp(&drafts[b].rule.id))
            .then(drafts[a].object.cmp(&drafts[b].object))
            .then(drafts[a].discriminator.cmp(&drafts[b].discriminator))
    });
    Correlation { causes, order }
}

fn ancestors_of(causes: &[Vec<usize>], finding: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = causes[finding].clone();
    while let Some(cause) = stack.pop() {
        if cause != finding && seen.insert(cause) {
            stack.extend(causes[cause].iter().copied());
        }
    }
    seen
}

/// Removes links that close a cycle (longer than two), so some finding of every
/// connected group stays a root cause.
fn break_cycles(causes: &mut [Vec<usize>]) {
    // DFS over "symptom -> cause" edges; drop back edges.
    let count = causes.len();
    let mut state = vec![0u8; count]; // 0 new, 1 on stack, 2 done
    let mut drop: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    fn visit(
        finding: usize,
        causes: &[Vec<usize>],
        state: &mut [u8],
        drop: &mut BTreeMap<usize, BTreeSet<usize>>,
    ) {
        state[finding] = 1;
        for &cause in &causes[finding] {
            match state[cause] {
                0 => visit(cause, causes, state, drop),
                1 => {
                    drop.entry(finding).or_default().insert(cause);
                }
                _ => {}
            }
        }
        state[finding] = 2;
    }
    for finding in 0..count {
        if state[finding] == 0 {
            visit(finding, causes, &mut state, &mut drop);
        }
    }
    for (finding, dropped) in drop {
        causes[finding].retain(|c| !dropped.contains(c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::rules::{RuleId, Tag};
    use crate::snapshot::store_from_str;

    const SHOP: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, uid: d1}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: web:1}]}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-1
  namespace: shop
  uid: r1
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: d1, controller: true}]
spec:
  selector: {matchLabels: {app: web}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1-a
  namespace: shop
  uid: p1
  labels: {app: web}
  ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-1, uid: r1, controller: true}]
spec:
  containers:
  - name: app
    image: web:1
    envFrom: [{configMapRef: {name: web-config}}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: kube-root-ca.crt, namespace: shop}
"#;

    fn r(kind: Kind, name: &str) -> ObjRef {
        ObjRef::namespaced(kind, "shop", name)
    }

    #[test]
    fn deepest_broken_edge_is_the_root_and_links_are_reduced() {
        let store = store_from_str(SHOP).unwrap();
        let graph = ObjectGraph::build(&store, &r(Kind::Deployment, "web"));
        let cm = r(Kind::ConfigMap, "web-config");
        assert_eq!(
            graph.node(&cm).map(|n| n.exists),
            Some(crate::graph::Existence::Missing)
        );
        let pod = r(Kind::Pod, "web-1-a");
        let drafts = vec![
            Draft::new(RuleId::ReplicasUnavailable, r(Kind::Deployment, "web")),
            Draft::new(RuleId::ImageTagMutable, r(Kind::ReplicaSet, "web-1")),
            Draft::new(
                RuleId::CreateContainerConfigError,
                r(Kind::ReplicaSet, "web-1"),
            )
            .affected(std::slice::from_ref(&pod)),
            Draft::new(RuleId::ConfigMapNotFound, cm.clone()).affected(std::slice::from_ref(&pod)),
        ];
        let correlation = correlate(&graph, &drafts);
        assert_eq!(correlation.order[0], 3, "the missing ConfigMap comes first");
        assert_eq!(
            correlation.causes[2],
            vec![3],
            "CreateContainerConfigError <- ConfigMapNotFound"
        );
        assert_eq!(
            correlation.causes[0],
            vec![2],
            "ReplicasUnavailable <- CreateContainerConfigError only (reduced)"
        );
        assert!(correlation.causes[1].is_empty() && correlation.causes[3].is_empty());
        // roots: ConfigMapNotFound (Critical) before ImageTagMutable (Info); then symptoms
        assert_eq!(correlation.order, vec![3, 1, 2, 0]);
    }

    #[test]
    fn unrelated_objects_are_not_linked() {
        let store = store_from_str(SHOP).unwrap();
        let graph = ObjectGraph::build(&store, &r(Kind::Deployment, "web"));
        // a missing ConfigMap no Pod of the graph references explains nothing
        let drafts = vec![
            Draft::new(RuleId::ReplicasUnavailable, r(Kind::Deployment, "web")),
            Draft::new(RuleId::ConfigMapNotFound, r(Kind::ConfigMap, "other")),
        ];
        let correlation = correlate(&graph, &drafts);
        assert!(correlation.causes[0].is_empty());
    }

    #[test]
    fn two_root_findings_of_one_workload_are_linked() {
        let store = store_from_str(SHOP).unwrap();
        let graph = ObjectGraph::build(&store, &r(Kind::Deployment, "web"));
        let pod = r(Kind::Pod, "web-1-a");
        // both on the ReplicaSet
        let drafts = vec![
            Draft::new(RuleId::ReadinessProbeFailing, r(Kind::ReplicaSet, "web-1"))
                .affected(std::slice::from_ref(&pod)),
            Draft::new(RuleId::ContainerOOMKilled, r(Kind::ReplicaSet, "web-1"))
                .affected(std::slice::from_ref(&pod)),
        ];
        let correlation = correlate(&graph, &drafts);
        assert_eq!(correlation.causes[0], vec![1]);
        assert_eq!(correlation.order[0], 1);
        // the cause on the Deployment, the symptom on its ReplicaSet's Pods
        let drafts = vec![
            Draft::new(RuleId::ReadinessProbeFailing, r(Kind::ReplicaSet, "web-1"))
                .affected(std::slice::from_ref(&pod)),
            Draft::new(RuleId::ProbePortMismatch, r(Kind::Deployment, "web")),
        ];
        let correlation = correlate(&graph, &drafts);
        assert_eq!(correlation.causes[0], vec![1]);
        assert!(correlation.causes[1].is_empty());
    }

    #[test]
    fn tagged_explanations_need_the_tag() {
        let store = store_from_str(SHOP).unwrap();
        let graph = ObjectGraph::build(&store, &r(Kind::Deployment, "web"));
        let pod = r(Kind::Pod, "web-1-a");
        let plain = Draft::new(RuleId::ReadinessProbeFailing, pod.clone());
        let dns = Draft::new(RuleId::ReadinessProbeFailing, pod.clone()).tag(Tag::Dns);
        let cause = Draft::new(RuleId::NetworkPolicyBlocksDNS, pod.clone());
        assert!(!rule_explains(&cause, &plain));
        assert!(rule_explains(&cause, &dns));
        let correlation = correlate(&graph, &[plain, dns, cause]);
        assert!(correlation.causes[0].is_empty());
        assert_eq!(correlation.causes[1], vec![2]);
    }
}
