//! `--all-namespaces`: several diagnoses (each Namespace, each Node, the cluster DNS)
//! merged into one report.
//!
//! Findings with the same id (the same rule on the same object) are one finding:
//! evidence and `causedBy` are united, the highest severity and the widest
//! `affected` are kept. Findings are then ordered by the engine's rules (root causes
//! first; Critical, Warning, Info; those explaining more first) and bounded like a
//! single diagnosis. The timeline is the union, oldest first, bounded; so are the
//! changes, those that introduced the first finding first.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::{AllTargets, Document, ReportTarget, target_ref};
use crate::api::{
    Change, DiagnosisStatus, Finding, ObjectReference, Phase, Severity, Summary, TimelineEntry,
};
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
    type ChangeKey = (String, ObjectReference, Option<i64>, String);
    let mut changes: BTreeMap<ChangeKey, Change> = BTreeMap::new();
    let mut objects: BTreeSet<&ObjRef> = BTreeSet::new();
    for report in &reports {
        objects.extend(report.graph.nodes.keys());
        if let Some(summary) = &report.status.summary {
            rules_evaluated = rules_evaluated.max(summary.rules_evaluated);
            if let Some(reason) = &summary.truncated {
                truncated.push(format!("{}: {reason}", super::ref_text(&report.target)));
            }
        }
        timeline.extend(report.status.timeline.iter().cloned());
        for change in &report.status.changes {
            let key = (
                change.time.clone(),
                change.object.clone(),
                change.revision,
                change.summary.clone(),
            );
            changes
                .entry(key)
                .and_modify(|merged: &mut Change| {
                    for id in &change.findings {
                        if !merged.findings.contains(id) {
                            merged.findings.push(id.clone());
                        }
                    }
                })
                .or_insert_with(|| change.clone());
        }
        for finding in &report.status.findings {
            match by_id.get_mut(&finding.id) {
                None => {
                    by_id.insert(finding.id.clone(), finding.clone());
                }
                Some(merged) => merge_finding(merged, finding),
            }
        }
    }
    let objects_examined = objects.len() as u32;
    let mut findings: Vec<Finding> = by_id.into_values().collect();
    break_cycles(&mut findings);
    for finding in &mut findings {
        finding.caused_by.sort();
        finding.caused_by.dedup();
        finding.root_cause = finding.caused_by.is_empty();
    }
    order(&mut findings);
    if findings.len() > MAX_FINDINGS {
        truncated.push(format!(
            "{} findings, the {MAX_FINDINGS} most important shown",
            findings.len()
        ));
        findings.truncate(MAX_FINDINGS);
        let kept: BTreeSet<String> = findings.iter().map(|f| f.id.clone()).collect();
        for finding in &mut findings {
            finding.caused_by.retain(|c| kept.contains(c));
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
    let changes = merge_changes(changes.into_values().collect(), &findings, &mut truncated);
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
        changes,
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

/// The changes of all reports: each names only findings the merged report kept;
/// those that introduced the first finding first, then newest first; bounded like
/// a single diagnosis.
fn merge_changes(
    mut changes: Vec<Change>,
    findings: &[Finding],
    truncated: &mut Vec<String>,
) -> Vec<Change> {
    let kept: BTreeSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    for change in &mut changes {
        change.findings.retain(|id| kept.contains(id.as_str()));
        change.findings.sort();
    }
    let first = findings.first().map(|f| f.id.as_str());
    let touches = |change: &Change| first.is_some_and(|id| change.findings.iter().any(|f| f == id));
    changes.sort_by(|a, b| {
        touches(b)
            .cmp(&touches(a))
            .then_with(|| b.time.cmp(&a.time))
            .then_with(|| (&a.object, &a.summary).cmp(&(&b.object, &b.summary)))
    });
    if changes.len() > crate::changes::MAX_CHANGES {
        truncated.push(format!(
            "{} changes, the {} most relevant shown",
            changes.len(),
            crate::changes::MAX_CHANGES
        ));
        changes.truncate(crate::changes::MAX_CHANGES);
    }
    let fit = crate::engine::fit_changes(&changes, crate::engine::MAX_CHANGES_BYTES);
    if fit < changes.len() {
        truncated.push(format!(
            "{} changes left out to keep the status small",
            changes.len() - fit
        ));
        changes.truncate(fit);
    }
    changes
}

fn merge_finding(merged: &mut Finding, finding: &Finding) {
    merged.severity = merged.severity.max(finding.severity);
    for line in &finding.evidence {
        if !merged.evidence.contains(line) && merged.evidence.len() < crate::engine::MAX_EVIDENCE {
            merged.evidence.push(line.clone());
        }
    }
    for cause in &finding.caused_by {
        if !merged.caused_by.contains(cause) {
            merged.caused_by.push(cause.clone());
        }
    }
    if let Some(affected) = &finding.affected
        && merged
            .affected
            .as_ref()
            .is_none_or(|b| affected.count > b.count)
    {
        merged.affected = Some(affected.clone());
    }
    if merged.edge.is_none() {
        merged.edge.clone_from(&finding.edge);
    }
    merged.first_seen = match (merged.first_seen.take(), finding.first_seen.clone()) {
        (Some(left), Some(right)) => Some(left.min(right)),
        (left, right) => left.or(right),
    };
    merged.last_seen = match (merged.last_seen.take(), finding.last_seen.clone()) {
        (Some(left), Some(right)) => Some(left.max(right)),
        (left, right) => left.or(right),
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
        .map(|finding| {
            let mut causes_of: Vec<usize> = finding
                .caused_by
                .iter()
                .filter_map(|c| index.get(c).copied())
                .collect();
            causes_of.sort();
            causes_of
        })
        .collect();
    let count = findings.len();
    let mut state = vec![0u8; count];
    let mut drop: Vec<(usize, usize)> = Vec::new();
    fn visit(
        finding: usize,
        causes: &[Vec<usize>],
        state: &mut [u8],
        drop: &mut Vec<(usize, usize)>,
    ) {
        state[finding] = 1;
        for &cause in &causes[finding] {
            match state[cause] {
                0 => visit(cause, causes, state, drop),
                1 => drop.push((finding, cause)),
                _ => {}
            }
        }
        state[finding] = 2;
    }
    for finding in 0..count {
        if state[finding] == 0 {
            visit(finding, &causes, &mut state, &mut drop);
        }
    }
    for (finding, cause) in drop {
        let id = findings[cause].id.clone();
        findings[finding].caused_by.retain(|x| *x != id);
    }
    // causes that are not findings of the merged report cannot be named
    let ids: BTreeSet<String> = index.into_keys().collect();
    for finding in findings.iter_mut() {
        finding.caused_by.retain(|c| ids.contains(c));
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
        .map(|finding| {
            let mut seen = BTreeSet::new();
            let mut stack: Vec<usize> = findings[finding]
                .caused_by
                .iter()
                .filter_map(|c| index.get(c.as_str()).copied())
                .collect();
            while let Some(cause) = stack.pop() {
                if cause != finding && seen.insert(cause) {
                    stack.extend(
                        findings[cause]
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
        let mut merged = finding("x", "ClusterDNSUnavailable", Warning, &[]);
        merged.evidence = vec!["one".into()];
        let mut other = finding("x", "ClusterDNSUnavailable", Critical, &["y"]);
        other.evidence = vec!["one".into(), "two".into()];
        merge_finding(&mut merged, &other);
        assert_eq!(merged.severity, Critical);
        assert_eq!(merged.evidence, ["one", "two"]);
        assert_eq!(merged.caused_by, ["y"]);
    }
}
