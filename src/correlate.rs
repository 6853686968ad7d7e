//! Correlation: which findings explain which, along the object graph.
//!
//! A finding C explains a finding S when C's rule lists S's rule among what it
//! explains (the catalog's "explains", docs/rules.md) and S's objects reach C's objects
//! along dependency edges (S depends on what C is about). A finding nothing explains
//! is a root cause. Findings are then ordered: root causes first, most severe first,
//! those explaining the most findings first; then the symptoms.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::graph::ObjectGraph;
use crate::model::ObjRef;
use crate::rules::Draft;
use crate::store::FastHash;

/// The result of correlating drafts: direct causes of each draft, and an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// `causes[i]`: indexes of the drafts that directly explain draft `i`.
    pub causes: Vec<Vec<usize>>,
    /// Draft indexes, most important first.
    pub order: Vec<usize>,
}

/// Whether `cause`'s rule explains `symptom`'s rule (honouring tagged entries).
pub fn rule_explains(cause: &Draft, symptom: &Draft) -> bool {
    cause
        .rule
        .explains
        .iter()
        .any(|explained| explained.covers(symptom.rule.id, &symptom.tags))
}

/// Everything the scope of a draft reaches along dependency edges (the scope included).
fn reach<'a>(graph: &'a ObjectGraph, scope: &'a [ObjRef]) -> HashSet<&'a ObjRef, FastHash> {
    let mut seen: HashSet<&ObjRef, FastHash> = scope.iter().collect();
    let mut stack: Vec<&ObjRef> = scope.iter().collect();
    while let Some(r) = stack.pop() {
        for e in graph.dependencies(r) {
            if seen.insert(&e.to) {
                stack.push(&e.to);
            }
        }
    }
    seen
}

pub fn correlate(graph: &ObjectGraph, drafts: &[Draft]) -> Correlation {
    let n = drafts.len();
    // the reach of a draft matters only if another draft's rule may explain it
    let reaches: Vec<Option<HashSet<&ObjRef, FastHash>>> = drafts
        .iter()
        .enumerate()
        .map(|(s, symptom)| {
            drafts
                .iter()
                .enumerate()
                .any(|(c, cause)| c != s && rule_explains(cause, symptom))
                .then(|| reach(graph, &symptom.scope))
        })
        .collect();
    // candidate links cause -> symptom
    let mut links: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (c, cause) in drafts.iter().enumerate() {
        for (s, symptom) in drafts.iter().enumerate() {
            if c == s || !rule_explains(cause, symptom) {
                continue;
            }
            if let Some(reach) = &reaches[s]
                && cause.scope.iter().any(|o| reach.contains(o))
            {
                links.insert((c, s));
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
    for (a, b) in mutual {
        if rank(a) <= rank(b) {
            links.remove(&(b, a));
        } else {
            links.remove(&(a, b));
        }
    }
    let mut causes: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(c, s) in &links {
        causes[s].push(c);
    }
    break_cycles(&mut causes);
    // transitive reduction: drop a direct cause that is also an ancestor of another cause
    let ancestors: Vec<BTreeSet<usize>> = (0..n).map(|i| ancestors_of(&causes, i)).collect();
    for direct in causes.iter_mut() {
        let all = direct.clone();
        direct.retain(|&c| !all.iter().any(|&o| o != c && ancestors[o].contains(&c)));
    }
    // order
    let explained_count: Vec<usize> = (0..n)
        .map(|i| (0..n).filter(|&j| ancestors[j].contains(&i)).count())
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
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

fn ancestors_of(causes: &[Vec<usize>], i: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = causes[i].clone();
    while let Some(c) = stack.pop() {
        if c != i && seen.insert(c) {
            stack.extend(causes[c].iter().copied());
        }
    }
    seen
}

/// Removes links that close a cycle (longer than two), so some finding of every
/// connected group stays a root cause.
fn break_cycles(causes: &mut [Vec<usize>]) {
    // DFS over "symptom -> cause" edges; drop back edges.
    let n = causes.len();
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut drop: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    fn visit(
        i: usize,
        causes: &[Vec<usize>],
        state: &mut [u8],
        drop: &mut BTreeMap<usize, BTreeSet<usize>>,
    ) {
        state[i] = 1;
        for &c in &causes[i] {
            match state[c] {
                0 => visit(c, causes, state, drop),
                1 => {
                    drop.entry(i).or_default().insert(c);
                }
                _ => {}
            }
        }
        state[i] = 2;
    }
    for i in 0..n {
        if state[i] == 0 {
            visit(i, causes, &mut state, &mut drop);
        }
    }
    for (i, cs) in drop {
        causes[i].retain(|c| !cs.contains(c));
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
        let c = correlate(&graph, &drafts);
        assert_eq!(c.order[0], 3, "the missing ConfigMap comes first");
        assert_eq!(
            c.causes[2],
            vec![3],
            "CreateContainerConfigError <- ConfigMapNotFound"
        );
        assert_eq!(
            c.causes[0],
            vec![2],
            "ReplicasUnavailable <- CreateContainerConfigError only (reduced)"
        );
        assert!(c.causes[1].is_empty() && c.causes[3].is_empty());
        // roots: ConfigMapNotFound (Critical) before ImageTagMutable (Info); then symptoms
        assert_eq!(c.order, vec![3, 1, 2, 0]);
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
        let c = correlate(&graph, &drafts);
        assert!(c.causes[0].is_empty());
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
        let c = correlate(&graph, &[plain, dns, cause]);
        assert!(c.causes[0].is_empty());
        assert_eq!(c.causes[1], vec![2]);
    }
}
