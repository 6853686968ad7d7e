//! Rendering a diagnosis: table (a person's view), json, yaml (the
//! `DiagnosisReport` object of docs/reference.md), markdown (an incident report) and
//! dot (the object graph for Graphviz).
//!
//! Every renderer reads a [`Document`]: the status of one diagnosis (or of several
//! merged, for `--all-namespaces`, see [`merge`]) and the object graph(s) it walked.

mod changes;
pub mod dot;
pub mod json;
pub mod markdown;
pub mod merge;
pub mod table;
mod text;
pub mod yaml;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::api::{DiagnosisStatus, Finding, ObjectReference, Severity, TargetRef};
use crate::engine::Report;
use crate::graph::ObjectGraph;
use crate::model::ObjRef;

pub use merge::merge;
pub use text::{md_cell, width_from_env as text_width};

/// Wraps text at word boundaries to `width` columns (no indent).
pub fn wrap_text(text: &str, width: usize) -> Vec<String> {
    text::wrap(text, width, "", "")
}

/// `apiVersion` of the `DiagnosisReport` that `-o json|yaml` print.
pub const API_VERSION: &str = "kubedx.io/v1alpha1";
/// `kind` of the object that `-o json|yaml` print.
pub const REPORT_KIND: &str = "DiagnosisReport";

/// Output formats of `kubedx diagnose -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Table,
    Json,
    Yaml,
    Markdown,
    Dot,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Table,
        Format::Json,
        Format::Yaml,
        Format::Markdown,
        Format::Dot,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Yaml => "yaml",
            Format::Markdown => "markdown",
            Format::Dot => "dot",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(text: &str) -> Result<Format, String> {
        let lower = text.trim().to_ascii_lowercase();
        match lower.as_str() {
            "md" => return Ok(Format::Markdown),
            "yml" => return Ok(Format::Yaml),
            "graphviz" => return Ok(Format::Dot),
            _ => {}
        }
        Format::ALL
            .into_iter()
            .find(|f| f.as_str() == lower)
            .ok_or_else(|| {
                format!("unknown output format {text:?} (table, json, yaml, markdown, dot)")
            })
    }
}

/// The `target` of a `DiagnosisReport`.
///
/// One target serializes as a Diagnosis' `spec.target`:
/// `{"kind": "Deployment", "name": "storefront", "namespace": "shop"}`.
/// `--all-namespaces` serializes as
/// `{"allNamespaces": true, "targets": [{"kind": "Namespace", "name": "shop"}, {"kind": "Node", ...}, ...]}`:
/// every target that was diagnosed, in the order they were diagnosed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReportTarget {
    All(AllTargets),
    One(TargetRef),
}

/// The targets of an `--all-namespaces` diagnosis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllTargets {
    pub all_namespaces: bool,
    pub targets: Vec<TargetRef>,
}

/// A target reference as a Diagnosis spec writes it. Panics for kinds that cannot
/// be targets (the command line only builds targets from target kinds).
pub fn target_ref(target: &ObjRef) -> TargetRef {
    TargetRef {
        kind: target
            .kind
            .to_target()
            .unwrap_or_else(|| panic!("{} cannot be a diagnosis target", target.kind)),
        name: target.name.clone(),
        namespace: target.namespace.clone(),
    }
}

/// What the renderers print.
#[derive(Clone, Debug)]
pub struct Document {
    pub target: ReportTarget,
    /// The targets diagnosed (one, or many for `--all-namespaces`).
    pub targets: Vec<ObjRef>,
    pub status: DiagnosisStatus,
    /// The object graph of each target.
    pub graphs: Vec<ObjectGraph>,
}

impl Document {
    /// The document of one diagnosis.
    pub fn single(report: Report) -> Document {
        Document {
            target: ReportTarget::One(target_ref(&report.target)),
            targets: vec![report.target],
            status: report.status,
            graphs: vec![report.graph],
        }
    }

    /// Whether this is the merged diagnosis of `--all-namespaces`.
    pub fn is_all_namespaces(&self) -> bool {
        matches!(self.target, ReportTarget::All(_))
    }

    /// `Deployment shop/storefront`, or `all namespaces (...)`.
    pub fn title(&self) -> String {
        match &self.target {
            ReportTarget::One(_) => self
                .targets
                .first()
                .map(ref_text)
                .unwrap_or_else(|| "?".to_owned()),
            ReportTarget::All(all) => {
                let count =
                    |k: crate::api::TargetKind| all.targets.iter().filter(|t| t.kind == k).count();
                format!(
                    "all namespaces ({} namespaces, {} nodes, cluster DNS)",
                    count(crate::api::TargetKind::Namespace),
                    count(crate::api::TargetKind::Node)
                )
            }
        }
    }

    pub fn findings(&self) -> &[Finding] {
        &self.status.findings
    }

    /// Whether a Warning or Critical finding is present.
    pub fn unhealthy(&self) -> bool {
        self.findings()
            .iter()
            .any(|f| f.severity >= Severity::Warning)
    }

    /// The findings grouped under the root causes they lead to.
    pub fn groups(&self) -> Groups<'_> {
        Groups::new(self.findings())
    }
}

/// Renders a document in a format. `colour` and `width` only matter for `table`.
pub fn render(doc: &Document, format: Format, style: &table::Style) -> String {
    match format {
        Format::Table => table::render(doc, style),
        Format::Json => json::render(doc),
        Format::Yaml => yaml::render(doc),
        Format::Markdown => markdown::render(doc),
        Format::Dot => dot::render(doc),
    }
}

/// `Kind namespace/name` (or `Kind name` for cluster-scoped objects).
pub fn object_text(object: &ObjectReference) -> String {
    match &object.namespace {
        Some(ns) => format!("{} {}/{}", object.kind, ns, object.name),
        None => format!("{} {}", object.kind, object.name),
    }
}

/// `Kind namespace/name` of an [`ObjRef`].
pub fn ref_text(target: &ObjRef) -> String {
    object_text(&target.to_reference())
}

/// Root causes and the findings each one explains.
#[derive(Debug)]
pub struct Groups<'a> {
    /// Root causes in the order of the findings, each with the findings whose
    /// `causedBy` chain leads to it (in the order of the findings).
    pub roots: Vec<(&'a Finding, Vec<&'a Finding>)>,
    /// Findings that are neither a root cause nor explained by one that is present.
    pub orphans: Vec<&'a Finding>,
}

impl<'a> Groups<'a> {
    pub fn new(findings: &'a [Finding]) -> Groups<'a> {
        let by_id: BTreeMap<&str, &Finding> = findings.iter().map(|f| (f.id.as_str(), f)).collect();
        let mut roots_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for finding in findings {
            if finding.root_cause {
                continue;
            }
            // walk the causedBy chains up to root causes
            let mut seen: BTreeSet<&str> = BTreeSet::new();
            let mut stack: Vec<&str> = finding.caused_by.iter().map(String::as_str).collect();
            let mut roots = BTreeSet::new();
            while let Some(id) = stack.pop() {
                if !seen.insert(id) {
                    continue;
                }
                let Some(cause) = by_id.get(id) else { continue };
                if cause.root_cause || cause.caused_by.is_empty() {
                    roots.insert(cause.id.as_str());
                } else {
                    stack.extend(cause.caused_by.iter().map(String::as_str));
                }
            }
            roots_of.insert(finding.id.as_str(), roots);
        }
        let mut roots = Vec::new();
        let mut placed: BTreeSet<&str> = BTreeSet::new();
        for root in findings.iter().filter(|f| f.root_cause) {
            let symptoms: Vec<&Finding> = findings
                .iter()
                .filter(|candidate| {
                    roots_of
                        .get(candidate.id.as_str())
                        .is_some_and(|rs| rs.contains(root.id.as_str()))
                })
                .collect();
            placed.insert(root.id.as_str());
            placed.extend(symptoms.iter().map(|f| f.id.as_str()));
            roots.push((root, symptoms));
        }
        let orphans = findings
            .iter()
            .filter(|f| !placed.contains(f.id.as_str()))
            .collect();
        Groups { roots, orphans }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::{Layer, Remediation, RuleSetName};

    pub(crate) fn finding(id: &str, rule: &str, sev: Severity, caused_by: &[&str]) -> Finding {
        Finding {
            id: id.to_owned(),
            rule_id: rule.to_owned(),
            rule_set: RuleSetName::Workload,
            severity: sev,
            layer: Layer::Pod,
            object: ObjectReference {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some("shop".into()),
                name: format!("pod-{id}"),
            },
            edge: None,
            affected: None,
            message: format!("message of {id}"),
            evidence: vec![],
            remediation: Remediation::default(),
            root_cause: caused_by.is_empty(),
            caused_by: caused_by.iter().map(|s| (*s).to_owned()).collect(),
            first_seen: None,
            last_seen: None,
        }
    }

    #[test]
    fn groups_follow_caused_by_chains_to_roots() {
        use Severity::*;
        let fs = vec![
            finding("a", "ConfigMapNotFound", Critical, &[]),
            finding("b", "ImagePullNotFound", Critical, &[]),
            finding("c", "NoResourceRequests", Info, &[]),
            finding("d", "CreateContainerConfigError", Critical, &["a"]),
            finding("e", "ReplicasUnavailable", Warning, &["d"]),
            finding("f", "RolloutStuck", Critical, &["a", "b"]),
        ];
        let groups = Groups::new(&fs);
        let ids = |v: &[&Finding]| v.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
        assert_eq!(groups.roots.len(), 3);
        assert_eq!(groups.roots[0].0.id, "a");
        assert_eq!(ids(&groups.roots[0].1), ["d", "e", "f"]);
        assert_eq!(ids(&groups.roots[1].1), ["f"]);
        assert!(groups.roots[2].1.is_empty());
        assert!(groups.orphans.is_empty());
    }

    #[test]
    fn formats_parse_any_case() {
        assert_eq!("JSON".parse::<Format>().unwrap(), Format::Json);
        assert_eq!("md".parse::<Format>().unwrap(), Format::Markdown);
        assert!("xml".parse::<Format>().is_err());
    }
}
