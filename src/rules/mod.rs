//! The rule engine: rule sets are pure functions from the object graph (and the
//! store's indexes) to draft findings. One module per rule set (docs/rules.md).
//!
//! A rule family is `fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>)`. It reads
//! only `ctx`, never the clock or the network, so the same inputs give the same findings.

pub mod catalog;
pub mod diagnosis;
pub mod events;
pub(crate) mod grouping;
pub mod logs;
pub mod networking;
pub mod node;
pub mod resources;
pub mod rollout;
pub mod scheduling;
pub mod storage;
pub mod workload;

use std::collections::BTreeSet;

use jiff::Timestamp;

pub use catalog::{CATALOG, Explains, RuleId, RuleMeta, Tag};

use crate::api::{ExpectedImage, Remediation, RemediationStep, Risk, RuleSetName, Severity};
use crate::event::EventRecord;
use crate::graph::ObjectGraph;
use crate::model::ObjRef;
use crate::store::Store;

/// Where container logs come from (live mode reads the API; offline there are none
/// unless a snapshot ships them). The `logs` rules read only through this.
pub trait LogSource: Sync {
    /// The last lines of a container's log; `previous` for the terminated instance.
    /// `None` when not available (not enabled, not found, forbidden).
    fn tail(&self, pod: &ObjRef, container: &str, previous: bool) -> Option<Vec<String>>;
}

/// How to diagnose.
#[derive(Clone, Debug)]
pub struct DiagnoseOptions {
    pub rule_sets: BTreeSet<RuleSetName>,
    pub min_severity: Severity,
    pub suppress: BTreeSet<RuleId>,
    pub expected_images: Vec<ExpectedImage>,
    /// The time age-based rules compare with.
    pub now: Timestamp,
}

impl DiagnoseOptions {
    pub fn new(now: Timestamp) -> DiagnoseOptions {
        DiagnoseOptions {
            rule_sets: RuleSetName::ALL.into_iter().collect(),
            min_severity: Severity::Info,
            suppress: BTreeSet::new(),
            expected_images: Vec::new(),
            now,
        }
    }

    pub fn enabled(&self, set: RuleSetName) -> bool {
        self.rule_sets.contains(&set)
    }
}

/// What a rule family reads.
pub struct RuleContext<'a> {
    pub store: &'a Store,
    pub graph: &'a ObjectGraph,
    pub options: &'a DiagnoseOptions,
    pub logs: Option<&'a dyn LogSource>,
}

impl<'a> RuleContext<'a> {
    pub fn now(&self) -> Timestamp {
        self.options.now
    }

    /// Events about an object, oldest first.
    pub fn events(&self, object: &ObjRef) -> Vec<&'a std::sync::Arc<EventRecord>> {
        self.store.events_for(object)
    }

    /// Whether an object exists: the graph's verdict when the object is in the graph,
    /// else the store's (absence means non-existence only where its kind was read).
    pub fn existence(&self, object: &ObjRef) -> crate::store::Existence {
        match self.graph.node(object) {
            Some(node) => node.exists,
            None => self.store.existence(object),
        }
    }
}

/// A finding before correlation: what a rule saw, on which object, with its evidence.
#[derive(Clone, Debug)]
pub struct Draft {
    pub rule: &'static RuleMeta,
    /// Overrides the rule's default severity (e.g. a healed problem reported as Info).
    pub severity: Severity,
    pub object: ObjRef,
    /// Distinguishes several findings of one rule on one object (a container, a key).
    pub discriminator: String,
    pub edge: Option<String>,
    /// Names of the alike objects one finding covers, and how many there are.
    pub affected: Vec<String>,
    pub affected_count: u32,
    /// The objects the finding is about (the object, the affected Pods, a missing
    /// reference...): correlation links findings whose scopes are connected in the graph.
    pub scope: Vec<ObjRef>,
    pub message: String,
    pub evidence: Vec<String>,
    pub remediation: Remediation,
    pub first_seen: Option<Timestamp>,
    pub last_seen: Option<Timestamp>,
    /// Events this finding accounts for (so `WarningEvents` does not repeat them).
    pub events: Vec<(String, String)>,
    /// Tags symptom findings carry for conditional explanations.
    pub tags: Vec<Tag>,
}

impl Draft {
    pub fn new(rule_id: RuleId, object: ObjRef) -> Draft {
        let rule = rule_id.meta();
        Draft {
            rule,
            severity: rule.severity,
            scope: vec![object.clone()],
            object,
            discriminator: String::new(),
            edge: None,
            affected: Vec::new(),
            affected_count: 0,
            message: String::new(),
            evidence: Vec::new(),
            remediation: Remediation::default(),
            first_seen: None,
            last_seen: None,
            events: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// Sets the finding's one-line message.
    pub fn message(mut self, message: impl Into<String>) -> Draft {
        self.message = message.into();
        self
    }

    /// Overrides the rule's default severity.
    pub fn severity(mut self, severity: Severity) -> Draft {
        self.severity = severity;
        self
    }

    /// Tells apart findings of one rule on one object (a container, a claim...).
    pub fn discriminator(mut self, discriminator: impl Into<String>) -> Draft {
        self.discriminator = discriminator.into();
        self
    }

    /// Names the broken edge of the graph (`Service -> Pod`).
    pub fn edge(mut self, edge: impl Into<String>) -> Draft {
        self.edge = Some(edge.into());
        self
    }

    /// Adds an evidence line (a line already there is not repeated).
    pub fn evidence(mut self, line: impl Into<String>) -> Draft {
        let line = line.into();
        if !self.evidence.contains(&line) {
            self.evidence.push(line);
        }
        self
    }

    /// Adds an event as evidence and marks it accounted for.
    pub fn event(mut self, event: &EventRecord) -> Draft {
        self.events.push(event.key());
        self.first_seen = min_ts(self.first_seen, event.first_time.or(event.time));
        self.last_seen = max_ts(self.last_seen, event.time);
        self.evidence(format!("event {}", event.describe()))
    }

    /// Marks an event accounted for without quoting it.
    pub fn account(mut self, event: &EventRecord) -> Draft {
        self.events.push(event.key());
        self
    }

    /// Adds an object the finding concerns (once).
    pub fn scope(mut self, object: ObjRef) -> Draft {
        if !self.scope.contains(&object) {
            self.scope.push(object);
        }
        self
    }

    /// Records the alike objects one finding covers (Pods of one ReplicaSet...). They join the scope.
    pub fn affected(mut self, objects: &[ObjRef]) -> Draft {
        self.affected_count = objects.len() as u32;
        self.affected = objects.iter().take(5).map(|r| r.name.clone()).collect();
        for object in objects {
            if !self.scope.contains(object) {
                self.scope.push(object.clone());
            }
        }
        self
    }

    /// Adds a tag for conditional explanations (once).
    pub fn tag(mut self, tag: Tag) -> Draft {
        if !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
        self
    }

    /// Widens the time span the finding was observed in.
    pub fn seen(mut self, first: Option<Timestamp>, last: Option<Timestamp>) -> Draft {
        self.first_seen = min_ts(self.first_seen, first);
        self.last_seen = max_ts(self.last_seen, last);
        self
    }

    /// Sets the remediation summary.
    pub fn summary(mut self, summary: impl Into<String>) -> Draft {
        self.remediation.summary = summary.into();
        self
    }

    /// Adds a remediation step; steps are sorted from least to most risky when the
    /// finding is built.
    pub fn step(
        mut self,
        description: impl Into<String>,
        command: Option<String>,
        risk: Risk,
    ) -> Draft {
        self.remediation.steps.push(RemediationStep {
            description: description.into(),
            command,
            risk,
        });
        self
    }

    pub fn read_only(self, description: impl Into<String>, command: impl Into<String>) -> Draft {
        self.step(description, Some(command.into()), Risk::ReadOnly)
    }
}

fn min_ts(left: Option<Timestamp>, right: Option<Timestamp>) -> Option<Timestamp> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.min(right)),
        (left, right) => left.or(right),
    }
}

fn max_ts(left: Option<Timestamp>, right: Option<Timestamp>) -> Option<Timestamp> {
    match (left, right) {
        (Some(left), Some(right)) => Some(left.max(right)),
        (left, right) => left.or(right),
    }
}

/// A rule family's entry point.
type Family = fn(&RuleContext, &mut Vec<Draft>);

/// Runs every enabled rule set on the graph. `events` runs last: it reports the
/// Warning events no other finding accounted for.
pub fn evaluate(ctx: &RuleContext) -> Vec<Draft> {
    let mut out = Vec::new();
    let families: [(RuleSetName, Family); 9] = [
        (RuleSetName::Diagnosis, diagnosis::evaluate),
        (RuleSetName::Workload, workload::evaluate),
        (RuleSetName::Scheduling, scheduling::evaluate),
        (RuleSetName::Rollout, rollout::evaluate),
        (RuleSetName::Networking, networking::evaluate),
        (RuleSetName::Storage, storage::evaluate),
        (RuleSetName::Node, node::evaluate),
        (RuleSetName::Resources, resources::evaluate),
        (RuleSetName::Logs, logs::evaluate),
    ];
    for (set, f) in families {
        if ctx.options.enabled(set) {
            f(ctx, &mut out);
        }
    }
    if ctx.options.enabled(RuleSetName::Events) {
        let accounted: BTreeSet<(String, String)> =
            out.iter().flat_map(|d| d.events.iter().cloned()).collect();
        events::evaluate(ctx, &accounted, &mut out);
    }
    out
}

/// How many rules the enabled rule sets hold (the `rulesEvaluated` of a summary).
/// The `logs` rules count only when a log source is given.
pub fn rules_evaluated(options: &DiagnoseOptions, logs: bool) -> u32 {
    CATALOG
        .iter()
        .filter(|r| options.enabled(r.set) && (r.set != RuleSetName::Logs || logs))
        .filter(|r| !options.suppress.contains(&r.id))
        .count() as u32
}
