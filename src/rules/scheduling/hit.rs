//! A hit: one cause found on one Pod, before grouping per controller; the facts about
//! an unscheduled Pod that every hit reads.

use std::sync::Arc;

use k8s_openapi::api::core::v1::PodSpec;

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::k8s::quantity;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;

use super::causes::{self, Cause, Command, Step, fill};

/// One rule firing on one Pod, before grouping per controller.
pub(super) struct Hit {
    /// The rule of the cause.
    pub(super) rule: RuleId,
    /// The controller of the Pod, else the Pod: the finding's object.
    pub(super) group: ObjRef,
    /// The Pod.
    pub(super) pod: ObjRef,
    /// What is wrong, after the subject ("cannot be scheduled: ...").
    pub(super) what: String,
    /// Evidence lines, each once.
    pub(super) evidence: Vec<String>,
    /// Events the finding quotes (the newest) or accounts for.
    pub(super) events: Vec<Arc<EventRecord>>,
    /// Objects the finding is about besides the Pods.
    pub(super) scope: Vec<ObjRef>,
    /// The severity, when not the rule's.
    pub(super) severity: Option<Severity>,
    /// A healed problem: explains nothing.
    pub(super) healed: bool,
    /// The cause's summary.
    pub(super) summary: String,
    /// (what to do, command, risk).
    pub(super) steps: Vec<(String, Option<String>, Risk)>,
}

impl Hit {
    /// A hit of the cause on the Pod: the rule, message, summary and steps of the
    /// cause's table entry, their placeholders filled from `vars` and the Pod's
    /// `{pod}` and `{ns_flag}`.
    pub(super) fn of(cause: Cause, facts: &PodFacts, vars: &[(&str, &str)]) -> Hit {
        let text = causes::text(cause);
        let ns_flag = facts.pod_ref.ns_flag();
        let all_vars = with_pod_vars(facts, &ns_flag, vars);
        let mut hit = Hit {
            rule: text.rule,
            group: facts.group.clone(),
            pod: facts.pod_ref.clone(),
            what: fill(text.message, &all_vars),
            evidence: Vec::new(),
            events: Vec::new(),
            scope: Vec::new(),
            severity: None,
            healed: false,
            summary: fill(text.summary, &all_vars),
            steps: Vec::new(),
        };
        for step in text.steps {
            hit = hit.with_step(step, facts, vars);
        }
        hit
    }

    /// The hit with one more step of the table, filled as [`Hit::of`] fills its texts.
    pub(super) fn with_step(mut self, step: &Step, facts: &PodFacts, vars: &[(&str, &str)]) -> Hit {
        let ns_flag = facts.pod_ref.ns_flag();
        let all_vars = with_pod_vars(facts, &ns_flag, vars);
        let command = match step.command {
            Command::None => None,
            Command::Line(line) => Some(fill(line, &all_vars)),
            Command::SetRequest => {
                let resource = vars
                    .iter()
                    .find(|(name, _)| *name == "resource")
                    .map_or("", |(_, value)| *value);
                set_resources_cmd(facts, resource)
            }
        };
        self.steps
            .push((fill(step.what, &all_vars), command, step.risk));
        self
    }

    /// The hit with one more evidence line, unless it has it already.
    pub(super) fn evidence_line(mut self, line: impl Into<String>) -> Hit {
        let line = line.into();
        if !self.evidence.contains(&line) {
            self.evidence.push(line);
        }
        self
    }

    /// The hit with more evidence lines, each once.
    pub(super) fn evidence_lines(mut self, lines: impl IntoIterator<Item = String>) -> Hit {
        for line in lines {
            self = self.evidence_line(line);
        }
        self
    }
}

/// `vars` and the Pod's `{pod}` and `{ns_flag}`.
fn with_pod_vars<'v>(
    facts: &'v PodFacts,
    ns_flag: &'v str,
    vars: &[(&'v str, &'v str)],
) -> Vec<(&'v str, &'v str)> {
    let mut all = vec![("pod", facts.pod_ref.name.as_str()), ("ns_flag", ns_flag)];
    all.extend_from_slice(vars);
    all
}

/// Facts about one unscheduled Pod that every rule's hit reads.
pub(super) struct PodFacts<'a> {
    /// The Pod.
    pub(super) pod_ref: &'a ObjRef,
    /// Its spec.
    pub(super) spec: &'a PodSpec,
    /// Its controller, else the Pod.
    pub(super) group: ObjRef,
    /// The template owner, for commands (`deployment/web`).
    pub(super) owner: ObjRef,
    /// Its FailedScheduling events, oldest first.
    pub(super) failed: Vec<Arc<EventRecord>>,
}

/// What the Pod requests, as evidence.
pub(super) fn requests_line(spec: &PodSpec) -> String {
    let requests = quantity::pod_requests(spec);
    if requests.is_empty() {
        "the Pod requests nothing".to_owned()
    } else {
        format!(
            "Pod requests {} (containers summed, init containers maxed, overhead added)",
            quantity::describe(&requests)
        )
    }
}

/// `kubectl set resources` on the workload owning the Pod, for the resource; none
/// when no workload owns it.
fn set_resources_cmd(facts: &PodFacts, resource: &str) -> Option<String> {
    matches!(
        facts.owner.kind,
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet
    )
    .then(|| {
        format!(
            "kubectl set resources {}{} --requests={resource}=<value>",
            facts.owner.kubectl(),
            facts.owner.ns_flag()
        )
    })
}
