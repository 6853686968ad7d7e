//! Correlation: which findings explain which, along the object graph.
//!
//! A finding C explains a finding S when C's rule lists S's rule among what it
//! explains (rules.md "explains", see the catalog) and S's objects reach C's objects
//! along dependency edges (S depends on what C is about). A finding nothing explains
//! is a root cause. Findings are then ordered: root causes first, most severe first,
//! those explaining the most findings first; then the symptoms.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::graph::ObjectGraph;
use crate::model::ObjRef;
use crate::rules::Draft;

/// The result of correlating drafts: direct causes of each draft, and an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correlation {
    /// `causes[i]`: indexes of the drafts that directly explain draft `i`.
    pub causes: Vec<Vec<usize>>,
    /// Draft indexes, most important first.
    pub order: Vec<usize>,
}

/// Whether `cause`'s rule explains `symptom`'s rule (honouring `Id#tag` entries).
pub fn rule_explains(cause: &Draft, symptom: &Draft) -> bool {
    cause.rule.explains.iter().any(|e| match e.split_once('#') {
        Some((id, tag)) => id == symptom.rule.id && symptom.tags.contains(&tag),
        None => *e == symptom.rule.id,
    })
}

/// Everything the scope of a draft reaches along dependency edges (the scope included).
fn reach(graph: &ObjectGraph, scope: &[ObjRef]) -> HashSet<ObjRef> {
    let mut seen: HashSet<ObjRef> = scope.iter().cloned().collect();
    let mut stack: Vec<ObjRef> = scope.to_vec();
    while let Some(r) = stack.pop() {
        for e in graph.dependencies(&r) {
            if seen.insert(e.to.clone()) {
                stack.push(e.to.clone());
            }
        }
    }
    seen
}

pub fn correlate(graph: &ObjectGraph, drafts: &[Draft]) -> Correlation {
    let n = drafts.len();
    let reaches: Vec<HashSet<ObjRef>> = drafts.iter().map(|d| reach(graph, &d.scope)).collect();
    // candidate links cause -> symptom
    let mut links: BTreeSet<(usize, usize)> = BTreeSet::new();
    for (c, cause) in drafts.iter().enumerate() {
        for (s, symptom) in drafts.iter().enumerate() {
            if c == s || !rule_explains(cause, symptom) {
                continue;
            }
            if cause.scope.iter().any(|o| reaches[s].contains(o)) {
                links.insert((c, s));
            }
        }
    }
    // Break mutual explanations: keep the link from the more severe finding, then the
    // one earlier in the catalog.
    let rank = |i: usize| {
        let idx = crate::rules::CATALOG
            .iter()
            .position(|r| r.id == drafts[i].rule.id)
            .unwrap_or(usize::MAX);
        (std::cmp::Reverse(drafts[i].severity), idx)
    };
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
    for i in 0..n {
        let direct = causes[i].clone();
        causes[i].retain(|&c| !direct.iter().any(|&o| o != c && ancestors[o].contains(&c)));
    }
    // order
    let explained_count: Vec<usize> = (0..n)
        .map(|i| (0..n).filter(|&j| ancestors[j].contains(&i)).count())
        .collect();
    let catalog_index = |i: usize| {
        crate::rules::CATALOG
            .iter()
            .position(|r| r.id == drafts[i].rule.id)
            .unwrap_or(usize::MAX)
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        let root_a = causes[a].is_empty();
        let root_b = causes[b].is_empty();
        root_b
            .cmp(&root_a)
            .then(drafts[b].severity.cmp(&drafts[a].severity))
            .then(explained_count[b].cmp(&explained_count[a]))
            .then(ancestors[a].len().cmp(&ancestors[b].len()))
            .then(catalog_index(a).cmp(&catalog_index(b)))
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
