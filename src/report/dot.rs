//! `-o dot`: the object graph as Graphviz DOT (`kubedx diagnose ... -o dot | dot -Tsvg > g.svg`).
//!
//! One node per object of the graph, labelled `Kind\nname` (`Kind\nnamespace/name`
//! when the namespace differs from the target's); missing objects dashed red,
//! objects whose kind was not read dashed grey; edges point from the dependent to its
//! dependency and are labelled with their kind. Broken edges (to missing objects, and
//! the edge each finding names on its object) are red and bold; objects with
//! Critical or Warning findings are filled red or yellow. An edge a change introduced
//! (a revision that replaced a reference, a NetworkPolicy created) says so in its
//! label (`envFrom (introduced by revision 7)`), with the change in its tooltip.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::Document;
use crate::api::{Change, Finding, ObjectReference, Severity};
use crate::graph::{Edge, Existence, GraphNode, Role};
use crate::model::ObjRef;

/// Escapes a string for a double-quoted DOT id or label.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            '\r' => {}
            ch => escaped.push(ch),
        }
    }
    escaped
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", escape(text))
}

/// `Kind/namespace/name` (or `Kind/name`), the key of an object in findings and graph alike.
fn ref_key(object: &ObjectReference) -> String {
    match &object.namespace {
        Some(ns) => format!("{}/{}/{}", object.kind, ns, object.name),
        None => format!("{}/{}", object.kind, object.name),
    }
}

/// Whether `edge` is the edge a finding names (`edge: "Pod -> ConfigMap"`) at its object:
/// an edge of that label that starts or ends at the finding's object.
fn finding_edge(finding: &Finding, edge: &Edge) -> bool {
    let Some(label) = &finding.edge else {
        return false;
    };
    if *label != edge.label() {
        return false;
    }
    let key = ref_key(&finding.object);
    edge.from.to_string() == key || edge.to.to_string() == key
}

/// The change that introduced an edge: one that introduced the finding of that edge,
/// or a revision whose template changed a reference to the edge's end.
fn introducing_change<'a>(doc: &'a Document, edge: &Edge) -> Option<&'a Change> {
    doc.status.changes.iter().find(|change| {
        if change.findings.is_empty() {
            return false;
        }
        let of_edge = doc
            .findings()
            .iter()
            .filter(|finding| change.findings.contains(&finding.id))
            .any(|finding| finding_edge(finding, edge));
        let reference = change.fields.iter().any(|field| {
            crate::changes::referenced_kind(&field.path) == Some(edge.to.kind)
                && field.to.as_deref() == Some(edge.to.name.as_str())
                && edge.to.namespace == change.object.namespace
        });
        of_edge || reference
    })
}

/// `revision 7` or `NetworkPolicy default-deny`.
fn change_name(change: &Change) -> String {
    match change.revision {
        Some(revision) => format!("revision {revision}"),
        None => format!("{} {}", change.object.kind, change.object.name),
    }
}

pub fn render(doc: &Document) -> String {
    // union of the graphs (one per target; several for --all-namespaces)
    let mut nodes: BTreeMap<&ObjRef, &GraphNode> = BTreeMap::new();
    let mut edges: Vec<&Edge> = Vec::new();
    let mut edge_seen: BTreeSet<(&ObjRef, &ObjRef, &str)> = BTreeSet::new();
    for graph in &doc.graphs {
        for (object, node) in &graph.nodes {
            nodes
                .entry(object)
                .and_modify(|old| {
                    if node.role < old.role {
                        *old = node;
                    }
                })
                .or_insert(node);
        }
        for edge in &graph.edges {
            if edge_seen.insert((&edge.from, &edge.to, edge.kind.as_str())) {
                edges.push(edge);
            }
        }
    }
    let target_ns: Option<&str> = match doc.targets.as_slice() {
        [one] => one.namespace.as_deref(),
        _ => None,
    };
    let mut severity: BTreeMap<String, (Severity, Vec<&str>)> = BTreeMap::new();
    for finding in doc.findings() {
        let entry = severity
            .entry(ref_key(&finding.object))
            .or_insert((finding.severity, Vec::new()));
        entry.0 = entry.0.max(finding.severity);
        if !entry.1.contains(&finding.rule_id.as_str()) {
            entry.1.push(&finding.rule_id);
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
    for (object, node) in &nodes {
        let name = match (&object.namespace, target_ns) {
            (Some(ns), Some(target)) if ns == target => object.name.clone(),
            (Some(ns), _) => format!("{ns}/{}", object.name),
            (None, _) => object.name.clone(),
        };
        let mut label = format!("{}\\n{}", escape(object.kind.name()), escape(&name));
        let mut attrs: Vec<String> = Vec::new();
        let mut style = vec!["rounded"];
        match node.exists {
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
        if node.role == Role::Target {
            attrs.push("penwidth=2".into());
            style.push("bold");
        }
        if let Some((sev, rules)) = severity.get(&object.to_string()) {
            match sev {
                Severity::Critical => {
                    style.push("filled");
                    attrs.push("fillcolor=\"#f8d7da\"".into());
                    if node.exists == Existence::Exists {
                        attrs.push("color=\"#c0392b\"".into());
                    }
                }
                Severity::Warning => {
                    style.push("filled");
                    attrs.push("fillcolor=\"#fff3cd\"".into());
                    if node.exists == Existence::Exists {
                        attrs.push("color=\"#b7950b\"".into());
                    }
                }
                Severity::Info => {}
            }
            attrs.push(format!("tooltip={}", quoted(&rules.join(", "))));
        }
        attrs.insert(0, format!("style={}", quoted(&style.join(","))));
        attrs.insert(0, format!("label=\"{label}\""));
        let _ = writeln!(
            out,
            "  {} [{}];",
            quoted(&object.to_string()),
            attrs.join(", ")
        );
    }
    for edge in edges {
        let to_missing = nodes
            .get(&edge.to)
            .is_some_and(|n| n.exists == Existence::Missing);
        let broken =
            (to_missing && !edge.optional) || doc.findings().iter().any(|f| finding_edge(f, edge));
        let introduced_by = introducing_change(doc, edge);
        let label = match introduced_by {
            Some(change) => format!(
                "{}\n(introduced by {})",
                edge.kind.as_str(),
                change_name(change)
            ),
            None => edge.kind.as_str().to_owned(),
        };
        let mut attrs = vec![format!("label={}", quoted(&label))];
        if broken {
            attrs.push("color=red".into());
            attrs.push("fontcolor=red".into());
            attrs.push("penwidth=2".into());
            attrs.push("style=bold".into());
        } else if edge.optional {
            attrs.push("style=dashed".into());
        }
        if let Some(change) = introduced_by {
            attrs.push(format!(
                "tooltip={}",
                quoted(&format!("{} {}", change.time, change.summary))
            ));
        } else if let Some(detail) = &edge.detail {
            attrs.push(format!("tooltip={}", quoted(detail)));
        }
        let _ = writeln!(
            out,
            "  {} -> {} [{}];",
            quoted(&edge.from.to_string()),
            quoted(&edge.to.to_string()),
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
