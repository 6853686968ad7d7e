//! `-o dot`: the object graph as Graphviz DOT (`kubedx diagnose ... -o dot | dot -Tsvg > g.svg`).
//!
//! One node per object of the graph, labelled `Kind\nname` (`Kind\nnamespace/name`
//! when the namespace differs from the target's); missing objects dashed red,
//! objects whose kind was not read dashed grey; edges point from the dependent to its
//! dependency and are labelled with their kind. Broken edges (to missing objects, and
//! the edge each finding names on its object) are red and bold; objects with
//! Critical or Warning findings are filled red or yellow.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::Document;
use crate::api::{Finding, ObjectReference, Severity};
use crate::graph::{Edge, Existence, GraphNode, Role};
use crate::model::ObjRef;

/// Escapes a string for a double-quoted DOT id or label.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            '\r' => {}
            c => o.push(c),
        }
    }
    o
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", escape(s))
}

/// `Kind/namespace/name` (or `Kind/name`), the key of an object in findings and graph alike.
fn ref_key(o: &ObjectReference) -> String {
    match &o.namespace {
        Some(ns) => format!("{}/{}/{}", o.kind, ns, o.name),
        None => format!("{}/{}", o.kind, o.name),
    }
}

/// Whether `e` is the edge a finding names (`edge: "Pod -> ConfigMap"`) at its object:
/// an edge of that label that starts or ends at the finding's object.
fn finding_edge(f: &Finding, e: &Edge) -> bool {
    let Some(label) = &f.edge else { return false };
    if *label != e.label() {
        return false;
    }
    let key = ref_key(&f.object);
    e.from.to_string() == key || e.to.to_string() == key
}

pub fn render(doc: &Document) -> String {
    // union of the graphs (one per target; several for --all-namespaces)
    let mut nodes: BTreeMap<&ObjRef, &GraphNode> = BTreeMap::new();
    let mut edges: Vec<&Edge> = Vec::new();
    let mut edge_seen: BTreeSet<(&ObjRef, &ObjRef, &str)> = BTreeSet::new();
    for g in &doc.graphs {
        for (r, n) in &g.nodes {
            nodes
                .entry(r)
                .and_modify(|old| {
                    if n.role < old.role {
                        *old = n;
                    }
                })
                .or_insert(n);
        }
        for e in &g.edges {
            if edge_seen.insert((&e.from, &e.to, e.kind.as_str())) {
                edges.push(e);
            }
        }
    }
    let target_ns: Option<&str> = match doc.targets.as_slice() {
        [one] => one.namespace.as_deref(),
        _ => None,
    };
    let mut severity: BTreeMap<String, (Severity, Vec<&str>)> = BTreeMap::new();
    for f in doc.findings() {
        let e = severity
            .entry(ref_key(&f.object))
            .or_insert((f.severity, Vec::new()));
        e.0 = e.0.max(f.severity);
        if !e.1.contains(&f.rule_id.as_str()) {
            e.1.push(&f.rule_id);
        }
    }

    let mut out = String::new();
    let _ = writeln!(out, "digraph kubedx {{");
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, fontname=\"Helvetica\", label={}, labelloc=t];",
        quoted(&format!("{}: {}", doc.title(), doc.status.phase.as_str()))
    );
    let _ = writeln!(
        out,
        "  node [shape=box, style=\"rounded\", fontname=\"Helvetica\", fontsize=11];"
    );
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];");
    for (r, n) in &nodes {
        let name = match (&r.namespace, target_ns) {
            (Some(ns), Some(t)) if ns == t => r.name.clone(),
            (Some(ns), _) => format!("{ns}/{}", r.name),
            (None, _) => r.name.clone(),
        };
        let mut label = format!("{}\\n{}", escape(r.kind.name()), escape(&name));
        let mut attrs: Vec<String> = Vec::new();
        let mut style = vec!["rounded"];
        match n.exists {
            Existence::Exists => {}
            Existence::Missing => {
                label.push_str("\\n(missing)");
                style.push("dashed");
                attrs.push("color=red".into());
                attrs.push("fontcolor=red".into());
            }
            Existence::Unknown => {
                label.push_str("\\n(not read)");
                style.push("dashed");
                attrs.push("color=grey50".into());
                attrs.push("fontcolor=grey50".into());
            }
        }
        if n.role == Role::Target {
            attrs.push("penwidth=2".into());
            style.push("bold");
        }
        if let Some((sev, rules)) = severity.get(&r.to_string()) {
            match sev {
                Severity::Critical => {
                    style.push("filled");
                    attrs.push("fillcolor=\"#f8d7da\"".into());
                    if n.exists == Existence::Exists {
                        attrs.push("color=\"#c0392b\"".into());
                    }
                }
                Severity::Warning => {
                    style.push("filled");
                    attrs.push("fillcolor=\"#fff3cd\"".into());
                    if n.exists == Existence::Exists {
                        attrs.push("color=\"#b7950b\"".into());
                    }
                }
                Severity::Info => {}
            }
            attrs.push(format!("tooltip={}", quoted(&rules.join(", "))));
        }
        attrs.insert(0, format!("style={}", quoted(&style.join(","))));
        attrs.insert(0, format!("label=\"{label}\""));
        let _ = writeln!(out, "  {} [{}];", quoted(&r.to_string()), attrs.join(", "));
    }
    for e in edges {
        let to_missing = nodes
            .get(&e.to)
            .is_some_and(|n| n.exists == Existence::Missing);
        let broken =
            (to_missing && !e.optional) || doc.findings().iter().any(|f| finding_edge(f, e));
        let mut attrs = vec![format!("label={}", quoted(e.kind.as_str()))];
        if broken {
            attrs.push("color=red".into());
            attrs.push("fontcolor=red".into());
            attrs.push("penwidth=2".into());
            attrs.push("style=bold".into());
        } else if e.optional {
            attrs.push("style=dashed".into());
        }
        if let Some(d) = &e.detail {
            attrs.push(format!("tooltip={}", quoted(d)));
        }
        let _ = writeln!(
            out,
            "  {} -> {} [{}];",
            quoted(&e.from.to_string()),
            quoted(&e.to.to_string()),
            attrs.join(", ")
        );
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_backslashes_and_newlines() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("a\nb"), "a\\nb");
    }
}
