//! `--all-namespaces`: several diagnoses (each Namespace, each Node, the cluster DNS)
//! merged into one report.
//!
//! Findings with the same id (the same rule on the same object) are one finding:
//! evidence and `causedBy` are united, the highest severity and the widest
//! `affected` are kept. Findings are then ordered by the engine's rules (root causes
//! first; Critical, Warning, Info; those explaining more first) and bounded like a
//! single diagnosis. The timeline is the union, oldest first, bounded.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{AllTargets, Document, ReportTarget, target_ref};
use crate::api::{DiagnosisStatus, Finding, Phase, Severity, Summary, TimelineEntry};
use crate::engine::{MAX_FINDINGS, Report};
use crate::model::ObjRef;
use crate::rules::RuleId;
use crate::text::clip;

/// The `targetRef` of a merged status.
pub const ALL_NAMESPACES_REF: &str = "all-namespaces";

/// Merges the reports of an `--all-namespaces` run (diagnosed at `now`).
pub fn merge(reports: Vec<Report>, now: Timestamp) -> Document {
    let targets: Vec<ObjRef> = reports.iter().map(|r| r.target.clone()).collect();
    let mut by_id: BTreeMap<String, Finding> = BTreeMap::new();
    let mut truncated: Vec<String> = Vec::new();
    let mut rules_evaluated = 0;
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    let mut objects: BTreeSet<&ObjRef> = BTreeSet::new();
    for r in &reports {
        objects.extend(r.graph.nodes.keys());
        if let Some(s) = &r.status.summary {
            rules_evaluated = rules_evaluated.max(s.rules_evaluated);
            if let Some(t) = &s.truncated {
                truncated.push(format!("{}: {t}", super::ref_text(&r.target)));
            }
        }
        timeline.extend(r.status.timeline.iter().cloned());
        for f in &r.status.findings {
            match by_id.get_mut(&f.id) {
                None => {
                    by_id.insert(f.id.clone(), f.clone());
                }
                Some(m) => merge_finding(m, f),
            }
        }
    }
    let objects_examined = objects.len() as u32;
    let mut findings: Vec<Finding> = by_id.into_values().collect();
    break_cycles(&mut findings);
    for f in &mut findings {
        f.caused_by.sort();
        f.caused_by.dedup();
        f.root_cause = f.caused_by.is_empty();
    }
    order(&mut findings);
    if findings.len() > MAX_FINDINGS {
        truncated.push(format!(
            "{} findings, the {MAX_FINDINGS} most important shown",
            findings.len()
        ));
        findings.truncate(MAX_FINDINGS);
        let kept: BTreeSet<String> = findings.iter().map(|f| f.id.clone()).collect();
        for f in &mut findings {
            f.caused_by.retain(|c| kept.contains(c));
        }
    }
    // timeline: union, oldest first, the newest entries within the bound
    timeline.sort_by(|a, b| {
        (&a.time, &a.object, &a.reason, &a.type_, &a.message)
            .cmp(&(&b.time, &b.object, &b.reason, &b.type_, &b.message))
    });
    timeline.dedup();
    if timeline.len() > crate::timeline::MAX_ENTRIES {
        let skip = timeline.len() - crate::timeline::MAX_ENTRIES;
        timeline.drain(..skip);
        truncated.push(format!(
            "timeline limited to the newest {} entries",
            crate::timeline::MAX_ENTRIES
        ));
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count() as u32;
    let summary = Summary {
        critical: count(Severity::Critical),
        warning: count(Severity::Warning),
        info: count(Severity::Info),
        objects_examined,
        rules_evaluated,
        truncated: (!truncated.is_empty()).then(|| truncated.join("; ")),
    };
    let unhealthy = summary.critical + summary.warning > 0;
    let when = Time(now);
    let conditions = crate::engine::conditions(
        format!(
            "Diagnosed {} objects of {} targets",
            summary.objects_examined,
            targets.len()
        ),
        &summary,
        &findings,
        when,
    );
    let status = DiagnosisStatus {
        phase: if unhealthy {
            Phase::Degraded
        } else {
            Phase::Healthy
        },
        observed_generation: None,
        last_diagnosed_time: Some(now.to_string()),
        conditions,
        target_ref: Some(ALL_NAMESPACES_REF.to_owned()),
        root_cause: findings
            .first()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| clip(&f.message, 256)),
        summary: Some(summary),
        findings,
        timeline,
        changes: Vec::new(),
    };
    Document {
        target: ReportTarget::All(AllTargets {
            all_namespaces: true,
            targets: targets.iter().map(target_ref).collect(),
        }),
        targets,
        status,
        graphs: reports.into_iter().map(|r| r.graph).collect(),
    }
}

fn merge_finding(m: &mut Finding, f: &Finding) {
    m.severity = m.severity.max(f.severity);
    for e in &f.evidence {
        if !m.evidence.contains(e) && m.evidence.len() < crate::engine::MAX_EVIDENCE {
            m.evidence.push(e.clone());
        }
    }
    for c in &f.caused_by {
        if !m.caused_by.contains(c) {
            m.caused_by.push(c.clone());
        }
    }
    if let Some(a) = &f.affected
        && m.affected.as_ref().is_none_or(|b| a.count > b.count)
    {
        m.affected = Some(a.clone());
    }
    if m.edge.is_none() {
        m.edge.clone_from(&f.edge);
    }
    m.first_seen = match (m.first_seen.take(), f.first_seen.clone()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    m.last_seen = match (m.last_seen.take(), f.last_seen.clone()) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

/// Links from different diagnoses may close a cycle: drop the back edges of a
/// depth-first walk in id order, so some finding of every group stays a root cause.
fn break_cycles(findings: &mut [Finding]) {
    let index: BTreeMap<String, usize> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.clone(), i))
        .collect();
    let causes: Vec<Vec<usize>> = findings
        .iter()
        .map(|f| {
            let mut v: Vec<usize> = f
                .caused_by
                .iter()
                .filter_map(|c| index.get(c).copied())
                .collect();
            v.sort();
            v
        })
        .collect();
    let n = findings.len();
    let mut state = vec![0u8; n];
    let mut drop: Vec<(usize, usize)> = Vec::new();
    fn visit(i: usize, causes: &[Vec<usize>], state: &mut [u8], drop: &mut Vec<(usize, usize)>) {
        state[i] = 1;
        for &c in &causes[i] {
            match state[c] {
                0 => visit(c, causes, state, drop),
                1 => drop.push((i, c)),
                _ => {}
            }
        }
        state[i] = 2;
    }
    for i in 0..n {
        if state[i] == 0 {
            visit(i, &causes, &mut state, &mut drop);
        }
    }
    for (i, c) in drop {
        let id = findings[c].id.clone();
        findings[i].caused_by.retain(|x| *x != id);
    }
    // causes that are not findings of the merged report cannot be named
    let ids: BTreeSet<String> = index.into_keys().collect();
    for f in findings.iter_mut() {
        f.caused_by.retain(|c| ids.contains(c));
    }
}

/// The engine's order: root causes first, most severe first, those explaining the
/// most findings first, then fewer ancestors, catalog order, object, id.
fn order(findings: &mut [Finding]) {
    let index: BTreeMap<&str, usize> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.as_str(), i))
        .collect();
    let ancestors: Vec<BTreeSet<usize>> = (0..findings.len())
        .map(|i| {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<usize> = findings[i]
                .caused_by
                .iter()
                .filter_map(|c| index.get(c.as_str()).copied())
                .collect();
            while let Some(c) = stack.pop() {
                if c != i && seen.insert(c) {
                    stack.extend(
                        findings[c]
                            .caused_by
                            .iter()
                            .filter_map(|x| index.get(x.as_str()).copied()),
                    );
                }
            }
            seen
        })
        .collect();
    let explained: Vec<usize> = (0..findings.len())
        .map(|i| ancestors.iter().filter(|a| a.contains(&i)).count())
        .collect();
    // unknown ids (from another version's report) sort last
    let catalog = |id: &str| id.parse::<RuleId>().map_or(usize::MAX, |id| id as usize);
    let keys: BTreeMap<String, _> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            (
                f.id.clone(),
                (
                    !f.root_cause,
                    Reverse(f.severity),
                    Reverse(explained[i]),
                    ancestors[i].len(),
                    catalog(&f.rule_id),
                    f.object.clone(),
                    f.id.clone(),
                ),
            )
        })
        .collect();
    findings.sort_by(|a, b| keys[&a.id].cmp(&keys[&b.id]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::finding;

    #[test]
    fn order_puts_roots_first_by_severity_then_breadth() {
        use Severity::*;
        let mut fs = vec![
            finding("s1", "ReplicasUnavailable", Warning, &["r2"]),
            finding("r1", "ImageTagMutable", Info, &[]),
            finding("r2", "ConfigMapNotFound", Critical, &[]),
            finding("r3", "ImagePullNotFound", Critical, &[]),
            finding("s2", "CreateContainerConfigError", Critical, &["r2"]),
        ];
        order(&mut fs);
        let ids: Vec<&str> = fs.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["r2", "r3", "r1", "s2", "s1"]);
    }

    #[test]
    fn cycles_from_different_graphs_are_broken() {
        use Severity::*;
        let mut fs = vec![
            finding("a", "NodeNotReady", Critical, &["b"]),
            finding("b", "PodNotReady", Warning, &["a"]),
        ];
        break_cycles(&mut fs);
        assert!(fs.iter().any(|f| f.caused_by.is_empty()));
        assert!(fs.iter().any(|f| !f.caused_by.is_empty()));
    }

    #[test]
    fn same_id_merges_evidence_and_causes() {
        use Severity::*;
        let mut a = finding("x", "ClusterDNSUnavailable", Warning, &[]);
        a.evidence = vec!["one".into()];
        let mut b = finding("x", "ClusterDNSUnavailable", Critical, &["y"]);
        b.evidence = vec!["one".into(), "two".into()];
        merge_finding(&mut a, &b);
        assert_eq!(a.severity, Critical);
        assert_eq!(a.evidence, ["one", "two"]);
        assert_eq!(a.caused_by, ["y"]);
    }
}
