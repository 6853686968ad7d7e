//! The diagnosis engine: store → graph → rules → correlate → status. Pure: the same
//! store, target and options always give the same report.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use sha2::{Digest, Sha256};

use crate::api::{
    Affected, Change, DiagnosisStatus, Finding, Phase, RemediationStep, Severity, Summary,
};
use crate::changes;
use crate::correlate::correlate;
use crate::graph::{CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE, ObjectGraph};
use crate::model::{Kind, ObjRef};
use crate::rules::{self, DiagnoseOptions, Draft, LogSource, RuleContext, RuleId};
use crate::store::Store;
use crate::text::clip;

/// Bounds that keep a Diagnosis far below etcd's object size limit.
pub const MAX_FINDINGS: usize = 100;
pub const MAX_EVIDENCE: usize = 12;
pub const MAX_LINE: usize = 1024;
pub const MAX_STEPS: usize = 8;
/// The serialized findings of one status stay under this many bytes (the least
/// important are left out beyond it), and the whole status under
/// [`MAX_STATUS_BYTES`]: far below etcd's 1.5 MiB object limit whatever the cluster
/// holds (100 findings of 12 evidence lines of 1 KiB would be 1.3 MiB otherwise).
pub const MAX_FINDINGS_BYTES: usize = 160 * 1024;
/// Upper bound of a serialized status (findings + timeline + changes + the rest).
pub const MAX_STATUS_BYTES: usize = 256 * 1024;
/// The serialized changes of one status stay under this many bytes.
pub const MAX_CHANGES_BYTES: usize = 32 * 1024;
/// Timeline entries: reason and message bounds.
pub const MAX_REASON: usize = 128;

/// The outcome of one diagnosis.
#[derive(Clone, Debug)]
pub struct Report {
    pub target: ObjRef,
    pub status: DiagnosisStatus,
    pub graph: ObjectGraph,
}

/// Every target of `--all-namespaces`: each Namespace, each Node, and the cluster DNS
/// Service when the snapshot holds the Services of its namespace.
///
/// A namespace that holds objects but whose Namespace object is not in the input
/// (e.g. `kubectl get all -A -o yaml`) is given a bare Namespace object, with a
/// warning, so that its workloads are diagnosed too.
pub fn all_targets(store: &mut Store) -> Vec<ObjRef> {
    let mut namespaces: BTreeSet<String> = store
        .all::<Namespace>()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let mut held: BTreeSet<String> = BTreeSet::new();
    for kind in Kind::ALL {
        if kind.namespaced() && kind != Kind::Event {
            held.extend(store.namespaces_with(kind));
        }
    }
    for ns in held.difference(&namespaces.clone()) {
        tracing::warn!(
            "namespace {ns} holds objects but the input has no Namespace object for it: \
             diagnosing it as if it existed (add `kubectl get namespace {ns} -o yaml` to the snapshot)"
        );
        let namespace = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns},
        });
        if let Err(error) = store.insert_value(namespace) {
            tracing::warn!("namespace {ns}: {error}");
            continue;
        }
        namespaces.insert(ns.clone());
    }
    let mut targets: Vec<ObjRef> = namespaces
        .iter()
        .map(|n| ObjRef::cluster(Kind::Namespace, n))
        .collect();
    let mut nodes: Vec<String> = store
        .all::<Node>()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    nodes.sort();
    targets.extend(nodes.iter().map(|n| ObjRef::cluster(Kind::Node, n)));
    if store.kind_listed(Kind::Service, CLUSTER_DNS_NAMESPACE) {
        targets.push(ObjRef::namespaced(
            Kind::Service,
            CLUSTER_DNS_NAMESPACE,
            CLUSTER_DNS_SERVICE,
        ));
    } else {
        tracing::warn!(
            "the input holds no Service of namespace {CLUSTER_DNS_NAMESPACE}: the cluster DNS is not diagnosed"
        );
    }
    targets
}

/// Diagnoses each of `targets` (independent: the store is only read), on as many
/// threads as the machine has cores; the reports come back in the order of
/// `targets`. What `--all-namespaces` runs.
pub fn diagnose_many(
    store: &Store,
    targets: &[ObjRef],
    options: &DiagnoseOptions,
    logs: Option<&dyn LogSource>,
) -> Vec<Report> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(targets.len());
    if threads <= 1 {
        return targets
            .iter()
            .map(|t| diagnose(store, t, options, logs))
            .collect();
    }
    // targets differ widely in cost (a Namespace of 600 objects, a Node of 50 Pods,
    // the DNS): threads take the next target from a shared counter
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, Report)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(target) = targets.get(index) else {
                            break;
                        };
                        out.push((index, diagnose(store, target, options, logs)));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a diagnosis thread panicked"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// Diagnoses `target` from what `store` holds.
pub fn diagnose(
    store: &Store,
    target: &ObjRef,
    options: &DiagnoseOptions,
    logs: Option<&dyn LogSource>,
) -> Report {
    let graph = ObjectGraph::build_with_logs(store, target, logs);
    let ctx = RuleContext {
        store,
        graph: &graph,
        options,
        logs,
    };
    let drafts = rules::evaluate(&ctx);
    let mut drafts = merge_same_findings(
        drafts
            .into_iter()
            .filter(|d| !options.suppress.contains(&d.rule.id))
            .collect(),
    );
    // what changed, and which broken edges the changes introduced
    let mut observed = changes::collect(store, &graph, &drafts, options.now);
    changes::link(store, &mut observed, &mut drafts);
    let ids: Vec<String> = drafts
        .iter()
        .map(|d| finding_id(d.rule.id, &d.object, &d.discriminator))
        .collect();
    let findings = build_findings(&graph, &drafts);
    let mut findings: Vec<Finding> = findings
        .into_iter()
        .filter(|f| f.severity >= options.min_severity)
        .collect();
    // Findings filtered out cannot be named as causes.
    let kept: std::collections::BTreeSet<String> = findings.iter().map(|f| f.id.clone()).collect();
    for finding in &mut findings {
        finding.caused_by.retain(|c| kept.contains(c));
    }
    let causes: std::collections::BTreeSet<String> = findings
        .iter()
        .flat_map(|f| f.caused_by.iter().cloned())
        .collect();
    for finding in &mut findings {
        let rule = finding.rule_id.parse().expect("a catalog id");
        finding.root_cause = crate::correlate::is_root(
            rule,
            finding.caused_by.is_empty(),
            causes.contains(&finding.id),
        );
    }
    lift_active_causes(&mut findings);
    let status = build_status(
        store,
        &graph,
        options,
        logs.is_some(),
        findings,
        observed,
        &ids,
    );
    Report {
        target: target.clone(),
        status,
        graph,
    }
}

/// The stable id of a finding: the same rule on the same object gives the same id across runs.
pub fn finding_id(rule_id: RuleId, object: &ObjRef, discriminator: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule_id.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(object.to_string().as_bytes());
    hasher.update([0]);
    hasher.update(discriminator.as_bytes());
    let digest = hasher.finalize();
    format!(
        "f-{:02x}{:02x}{:02x}{:02x}",
        digest[0], digest[1], digest[2], digest[3]
    )
}

/// Drafts of the same rule on the same object (and discriminator) become one.
fn merge_same_findings(drafts: Vec<Draft>) -> Vec<Draft> {
    let mut out: Vec<Draft> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for draft in drafts {
        let id = finding_id(draft.rule.id, &draft.object, &draft.discriminator);
        match index.get(&id) {
            Some(&position) => {
                let merged = &mut out[position];
                for line in draft.evidence {
                    if !merged.evidence.contains(&line) {
                        merged.evidence.push(line);
                    }
                }
                for object in draft.scope {
                    if !merged.scope.contains(&object) {
                        merged.scope.push(object);
                    }
                }
                merged.events.extend(draft.events);
                merged.severity = merged.severity.max(draft.severity);
            }
            None => {
                index.insert(id, out.len());
                out.push(draft);
            }
        }
    }
    out
}

fn build_findings(graph: &ObjectGraph, drafts: &[Draft]) -> Vec<Finding> {
    let corr = correlate(graph, drafts);
    let ids: Vec<String> = drafts
        .iter()
        .map(|d| finding_id(d.rule.id, &d.object, &d.discriminator))
        .collect();
    corr.order
        .iter()
        .map(|&i| {
            let draft = &drafts[i];
            let mut steps: Vec<RemediationStep> = draft.remediation.steps.clone();
            steps.sort_by_key(|s| s.risk); // stable: keeps the rule's order within a risk
            steps.truncate(MAX_STEPS);
            for step in &mut steps {
                step.description = clip(&step.description, MAX_LINE);
                if let Some(command) = &mut step.command {
                    *command = clip(command, MAX_LINE);
                }
            }
            let mut evidence: Vec<String> =
                draft.evidence.iter().map(|e| clip(e, MAX_LINE)).collect();
            if evidence.len() > MAX_EVIDENCE {
                let more = evidence.len() - MAX_EVIDENCE + 1;
                evidence.truncate(MAX_EVIDENCE - 1);
                evidence.push(format!("... {more} more evidence line(s) not shown"));
            }
            let mut caused_by: Vec<String> =
                corr.causes[i].iter().map(|&c| ids[c].clone()).collect();
            caused_by.sort();
            caused_by.dedup();
            Finding {
                id: ids[i].clone(),
                rule_id: draft.rule.id.to_string(),
                rule_set: draft.rule.set,
                severity: draft.severity,
                layer: draft.rule.layer,
                object: draft.object.to_reference(),
                edge: draft.edge.as_deref().map(|e| clip(e, 256)),
                affected: (draft.affected_count > 1).then(|| Affected {
                    count: draft.affected_count,
                    sample: draft
                        .affected
                        .iter()
                        .take(5)
                        .map(|n| clip(n, 253))
                        .collect(),
                }),
                message: clip(&draft.message, MAX_LINE),
                evidence,
                remediation: crate::api::Remediation {
                    summary: clip(&draft.remediation.summary, MAX_LINE),
                    steps,
                },
                root_cause: caused_by.is_empty(),
                caused_by,
                first_seen: draft.first_seen.map(|t| t.to_string()),
                last_seen: draft.last_seen.map(|t| t.to_string()),
            }
        })
        .collect()
}

fn build_status(
    store: &Store,
    graph: &ObjectGraph,
    options: &DiagnoseOptions,
    with_logs: bool,
    mut findings: Vec<Finding>,
    observed: Vec<changes::ObservedChange>,
    draft_ids: &[String],
) -> DiagnosisStatus {
    let mut truncated = Vec::new();
    if findings.len() > MAX_FINDINGS {
        truncated.push(format!(
            "{} findings, the {MAX_FINDINGS} most important shown",
            findings.len()
        ));
        findings.truncate(MAX_FINDINGS);
    }
    let fit = fit_findings(&findings, MAX_FINDINGS_BYTES);
    if fit < findings.len() {
        truncated.push(format!(
            "{} findings left out to keep the status small",
            findings.len() - fit
        ));
        findings.truncate(fit);
    }
    if graph.truncated {
        truncated.push(format!("object graph cut at {} objects", graph.nodes.len()));
    }
    let (mut timeline, tl_cut) = crate::timeline::build(store, graph, &observed, options.now);
    for entry in &mut timeline {
        entry.reason = clip(&entry.reason, MAX_REASON);
        entry.message = clip(&entry.message, 512);
    }
    if tl_cut {
        truncated.push(format!(
            "timeline limited to the newest {} entries",
            crate::timeline::MAX_ENTRIES
        ));
    }
    let shown: BTreeSet<&str> = findings.iter().map(|f| f.id.as_str()).collect();
    let kept: Vec<bool> = draft_ids
        .iter()
        .map(|id| shown.contains(id.as_str()))
        .collect();
    let first = findings
        .first()
        .and_then(|f| draft_ids.iter().position(|id| *id == f.id));
    let mut changes = changes::to_status(observed, draft_ids, &kept, first);
    let fit = fit_changes(&changes, MAX_CHANGES_BYTES);
    if fit < changes.len() {
        truncated.push(format!(
            "{} changes left out to keep the status small",
            changes.len() - fit
        ));
        changes.truncate(fit);
    }
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count() as u32;
    let summary = Summary {
        critical: count(Severity::Critical),
        warning: count(Severity::Warning),
        info: count(Severity::Info),
        objects_examined: graph.nodes.len() as u32,
        rules_evaluated: rules::rules_evaluated(options, with_logs),
        truncated: (!truncated.is_empty()).then(|| truncated.join("; ")),
    };
    let unhealthy = summary.critical + summary.warning > 0;
    let phase = if unhealthy {
        Phase::Degraded
    } else {
        Phase::Healthy
    };
    let now = Time(options.now);
    let conditions = conditions(
        format!("Diagnosed {} objects", summary.objects_examined),
        &summary,
        &findings,
        now,
    );
    DiagnosisStatus {
        phase,
        observed_generation: None,
        last_diagnosed_time: Some(options.now.to_string()),
        conditions,
        target_ref: Some(format!("{}/{}", graph.target.kind, graph.target.name)),
        root_cause: findings
            .first()
            .filter(|f| f.severity > Severity::Info)
            .map(|f| clip(&f.message, 256)),
        summary: Some(summary),
        findings,
        timeline,
        changes,
    }
}

/// How many of the first changes fit in `budget` bytes of JSON (at least one).
pub(crate) fn fit_changes(changes: &[Change], budget: usize) -> usize {
    let mut used = 0;
    for (index, change) in changes.iter().enumerate() {
        used += serde_json::to_vec(change).map_or(0, |bytes| bytes.len());
        if used > budget && index > 0 {
            return index;
        }
    }
    changes.len()
}

/// How many of the first findings fit in `budget` bytes of JSON (at least one).
fn fit_findings(findings: &[Finding], budget: usize) -> usize {
    let mut used = 0;
    for (count, finding) in findings.iter().enumerate() {
        used += serde_json::to_vec(finding).map(|v| v.len()).unwrap_or(0) + 1;
        if used > budget && count > 0 {
            return count;
        }
    }
    findings.len()
}

/// The `Ready` and `Healthy` conditions of a diagnosed status (kstatus-compatible).
pub fn conditions(
    ready_message: String,
    summary: &Summary,
    findings: &[Finding],
    at: Time,
) -> Vec<Condition> {
    let unhealthy = summary.critical + summary.warning > 0;
    vec![
        Condition {
            type_: "Ready".to_owned(),
            status: "True".to_owned(),
            reason: "Diagnosed".to_owned(),
            message: ready_message,
            last_transition_time: at.clone(),
            observed_generation: None,
        },
        Condition {
            type_: "Healthy".to_owned(),
            status: if unhealthy { "False" } else { "True" }.to_owned(),
            reason: if unhealthy {
                findings
                    .first()
                    .map(|f| f.rule_id.clone())
                    .unwrap_or_else(|| "FindingsActive".to_owned())
            } else {
                "NoFindings".to_owned()
            },
            message: if unhealthy {
                format!(
                    "{} critical, {} warning finding(s)",
                    summary.critical, summary.warning
                )
            } else {
                "No Warning or Critical finding is active".to_owned()
            },
            last_transition_time: at,
            observed_generation: None,
        },
    ]
}

/// The newest timestamp a snapshot holds, or the Unix epoch for an empty one.
pub fn snapshot_now(store: &Store) -> Timestamp {
    store.newest_timestamp().unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A hygiene note (Info) that is the root cause of a Warning or Critical finding
/// explains an active problem (a missing startup probe behind liveness kills, a
/// neighbour without a memory limit behind evictions): it is raised to Warning and
/// listed with the root causes it now ranks among.
fn lift_active_causes(findings: &mut [Finding]) {
    let active: std::collections::BTreeSet<String> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .flat_map(|f| f.caused_by.iter().cloned())
        .collect();
    let mut lifted = false;
    for finding in findings.iter_mut() {
        let hygiene = finding
            .rule_id
            .parse()
            .is_ok_and(crate::correlate::is_hygiene);
        if hygiene
            && finding.root_cause
            && finding.severity == Severity::Info
            && active.contains(&finding.id)
        {
            finding.severity = Severity::Warning;
            lifted = true;
        }
    }
    if lifted {
        // root causes first, the more severe first; otherwise the order stays
        findings.sort_by_key(|f| (!f.root_cause, std::cmp::Reverse(f.severity)));
    }
}
