//! What changed: the changes of a target's object graph that a diagnosis can see —
//! workload revisions and what their Pod templates changed, objects created in the
//! day before — and the findings whose broken edge a change introduced.
//!
//! [`collect`] finds the changes, [`link`] ties each to the drafts whose broken edge
//! it introduced (adding the change to their evidence and, where the revision before
//! was healthy, the rollback to it), and [`to_status`] orders and bounds them for
//! `status.changes`: those linked to the first finding first, then newest first.

pub mod facets;
pub mod journal;
pub mod managed;
pub mod objects;
pub mod revisions;
pub mod template;

use jiff::Timestamp;

use crate::api::{Change, FieldChange, RemediationStep, Risk};
use crate::graph::ObjectGraph;
use crate::k8s::owners;
use crate::k8s::quantity::Quantity;
use crate::model::{Kind, ObjRef};
use crate::rules::{Draft, RuleId};
use crate::store::{Existence, Store};
use crate::text::clip;

use journal::Happening;
use revisions::Health;
use template::FieldDiff;

/// At most this many changes in a status.
pub const MAX_CHANGES: usize = 20;

/// At most this many fields per change.
const MAX_FIELDS: usize = 20;

/// Objects created this long before `now` count as changes.
const CREATED_WITHIN_SECS: i64 = 24 * 3600;

/// Why an earlier revision is a safe target for a rollback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RollbackBasis {
    /// Its Pods run and are all available now.
    Healthy,
    /// Nothing runs it any more, but it ran this many seconds before the next
    /// revision replaced it: long enough to have served.
    RanFor(i64),
}

/// A revision that ran this long before the next replaced it counts as having served.
const SERVED_SECS: i64 = 3600;

/// One change of the graph, before it is written into a status.
#[derive(Clone, Debug)]
pub struct ObservedChange {
    /// When it happened, when known.
    pub time: Option<Timestamp>,
    /// The object that changed (a workload's revision: its ReplicaSet or ControllerRevision).
    pub object: ObjRef,
    /// The workload whose revision it is.
    pub workload: Option<ObjRef>,
    /// The revision it made.
    pub revision: Option<i64>,
    /// The revision it is compared with.
    pub previous_revision: Option<i64>,
    /// Why that revision is a rollback candidate, if it is one.
    pub rollback: Option<RollbackBasis>,
    /// The changed fields.
    pub fields: Vec<FieldDiff>,
    /// What changed, in one line.
    pub summary: String,
    /// The drafts whose broken edge the change introduced (indexes).
    pub linked: Vec<usize>,
    /// For a change of an object other than a revision (from the change journal, or
    /// an object's creation time): what happened to it.
    pub happening: Option<Happening>,
}

impl ObservedChange {
    /// The timeline's reason for it: `TemplateChanged`, `ObjectCreated`,
    /// `ObjectChanged` or `ObjectDeleted`.
    pub fn reason(&self) -> &'static str {
        match self.happening {
            None => "TemplateChanged",
            Some(Happening::Created) => "ObjectCreated",
            Some(Happening::Changed) => "ObjectChanged",
            Some(Happening::Deleted) => "ObjectDeleted",
        }
    }
}

/// The changes the store shows for the graph's objects (and the objects the
/// drafts hold in their scope, such as the tainted Nodes a Pending Pod cannot use),
/// newest first.
pub fn collect(
    store: &Store,
    graph: &ObjectGraph,
    drafts: &[Draft],
    now: Timestamp,
) -> Vec<ObservedChange> {
    let mut changes = Vec::new();
    for (workload, node) in graph.nodes.iter() {
        if node.exists != Existence::Exists || !revisions::has_revisions(workload.kind) {
            continue;
        }
        if let Some(change) = revision_change(store, workload) {
            changes.push(change);
        }
    }
    // what the change journal saw happen to the graph's objects (and NetworkPolicies
    // deleted in its namespaces)
    let namespaces: std::collections::BTreeSet<&str> = graph
        .nodes
        .keys()
        .filter_map(|object| object.namespace.as_deref())
        .collect();
    let journal = store.journal();
    let mut journaled: std::collections::BTreeSet<(ObjRef, Happening)> = Default::default();
    let deleted_policies = namespaces.iter().flat_map(|namespace| {
        journal.of_namespace(namespace).filter(|entry| {
            entry.object.kind == Kind::NetworkPolicy
                && entry.happening == Happening::Deleted
                && !graph.nodes.contains_key(&entry.object)
        })
    });
    let mut objects: std::collections::BTreeSet<&ObjRef> = graph.nodes.keys().collect();
    objects.extend(drafts.iter().flat_map(|draft| &draft.scope));
    // Nodes tainted recently, when Pods cannot be scheduled for a taint
    let tainted_nodes = journal.of_namespace("").filter(|entry| {
        entry.object.kind == Kind::Node
            && drafts
                .iter()
                .any(|draft| objects::taint_named(draft, &entry.fields))
    });
    // what the drafts concern beyond their scope: the quota a refusal names, the
    // StorageClasses of the default-class rules
    let concerned = namespaces
        .iter()
        .copied()
        .chain(std::iter::once(""))
        .flat_map(|namespace| journal.of_namespace(namespace))
        .filter(|entry| {
            drafts
                .iter()
                .any(|draft| objects::concerns(draft, &entry.object))
        });
    let mut seen: std::collections::BTreeSet<*const journal::Entry> = Default::default();
    let entries = objects
        .into_iter()
        .flat_map(|object| journal.of_object(object))
        .chain(deleted_policies)
        .chain(tainted_nodes)
        .chain(concerned)
        .filter(|entry| seen.insert(*entry as *const journal::Entry));
    for entry in entries {
        let age = crate::k8s::duration::age(now, entry.time);
        if !(0..=CREATED_WITHIN_SECS).contains(&age) {
            continue;
        }
        journaled.insert((entry.object.clone(), entry.happening));
        changes.push(ObservedChange {
            time: Some(entry.time),
            object: entry.object.clone(),
            workload: None,
            revision: None,
            previous_revision: None,
            rollback: None,
            fields: entry.fields.clone(),
            summary: objects::summary(entry),
            linked: Vec::new(),
            happening: Some(entry.happening),
        });
    }
    for (object, node) in graph.nodes.iter() {
        if journaled.contains(&(object.clone(), Happening::Created)) {
            continue;
        }
        if node.exists != Existence::Exists
            || !matches!(
                object.kind,
                Kind::NetworkPolicy | Kind::ResourceQuota | Kind::LimitRange
            )
        {
            continue;
        }
        let Some(created) = store
            .object(object)
            .and_then(|stored| stored.meta())
            .and_then(|meta| meta.creation_timestamp.as_ref())
            .map(|time| time.0)
        else {
            continue;
        };
        let age = crate::k8s::duration::age(now, created);
        if (0..=CREATED_WITHIN_SECS).contains(&age) {
            changes.push(ObservedChange {
                time: Some(created),
                object: object.clone(),
                workload: None,
                revision: None,
                previous_revision: None,
                rollback: None,
                fields: Vec::new(),
                summary: format!("{} was created", object.short()),
                linked: Vec::new(),
                happening: Some(Happening::Created),
            });
        }
    }
    changes.sort_by(|a, b| b.time.cmp(&a.time).then(a.object.cmp(&b.object)));
    changes
}

/// The current revision of a workload against the last healthy one before it (else
/// the one just before).
fn revision_change(store: &Store, workload: &ObjRef) -> Option<ObservedChange> {
    let all = revisions::of_workload(store, workload);
    let (current, earlier) = all.split_last()?;
    if earlier.is_empty() {
        return None;
    }
    let baseline_index = earlier
        .iter()
        .rposition(|revision| revision.health == Health::Healthy)
        .unwrap_or(earlier.len() - 1);
    let baseline = &earlier[baseline_index];
    // how long the baseline ran before the revision after it replaced it
    let successor = all.get(baseline_index + 1).unwrap_or(current);
    let rollback = match (&baseline.health, baseline.created, successor.created) {
        (Health::Healthy, _, _) => Some(RollbackBasis::Healthy),
        (Health::Unknown(_), Some(from), Some(until)) => {
            let ran = crate::k8s::duration::seconds(from, until);
            (ran >= SERVED_SECS).then_some(RollbackBasis::RanFor(ran))
        }
        _ => None,
    };
    let mut fields = template::diff(&baseline.template, &current.template);
    if fields.is_empty() {
        return None;
    }
    fields.truncate(MAX_FIELDS);
    Some(ObservedChange {
        time: current.created,
        object: current.object.clone(),
        workload: Some(workload.clone()),
        revision: Some(current.number),
        previous_revision: Some(baseline.number),
        rollback,
        summary: String::new(),
        fields,
        linked: Vec::new(),
        happening: None,
    })
}

/// Ties each change to the drafts whose broken edge it introduced: the draft's
/// evidence names the change, and where the revision before was healthy its
/// remediation offers the rollback. Then writes each change's summary, the fields
/// that introduced a finding first.
pub fn link(store: &Store, changes: &mut [ObservedChange], drafts: &mut [Draft]) {
    for change in changes.iter_mut() {
        let mut introducing: Vec<usize> = Vec::new();
        if let Some(workload) = change.workload.clone() {
            for (index, draft) in drafts.iter_mut().enumerate() {
                if !about_revision(store, draft, &workload, &change.object) {
                    continue;
                }
                let fields: Vec<usize> = (0..change.fields.len())
                    .filter(|&field| introduced(draft, &change.fields[field]))
                    .collect();
                if fields.is_empty() {
                    continue;
                }
                attach_revision(store, draft, change, &workload, &fields);
                change.linked.push(index);
                introducing.extend(fields);
            }
        } else if let Some(happening) = change.happening {
            for (index, draft) in drafts.iter_mut().enumerate() {
                if !objects::introduced(
                    store,
                    &change.object,
                    happening,
                    &change.fields,
                    change.time,
                    draft,
                ) {
                    continue;
                }
                let when = change.time.map(|t| format!(" at {t}")).unwrap_or_default();
                let lead = match (change.time, draft.first_seen) {
                    (Some(changed), Some(began)) if began >= changed => format!(
                        ", {} before the failure began",
                        crate::k8s::duration::compact(crate::k8s::duration::seconds(
                            changed, began
                        ))
                    ),
                    _ => String::new(),
                };
                let line = if happening == Happening::Changed {
                    format!("change: {}{when}{lead}", change.summary)
                } else {
                    format!(
                        "change: {} was {}{when}{lead}",
                        change.object.short(),
                        happening.as_str()
                    )
                };
                add_evidence(draft, clip(&line, crate::engine::MAX_LINE));
                change.linked.push(index);
            }
        }
        introducing.sort_unstable();
        introducing.dedup();
        change.summary = summarize(change, &introducing);
    }
}

/// Whether a draft is about the revision: for a Deployment, the revision's ReplicaSet
/// or its Pods (a failure of Pods of an older revision is not the new one's doing);
/// for a StatefulSet or DaemonSet, whose Pods its controller owns directly, the
/// workload or its Pods.
fn about_revision(store: &Store, draft: &Draft, workload: &ObjRef, revision: &ObjRef) -> bool {
    let mut objects = std::iter::once(&draft.object).chain(draft.scope.iter());
    if revision.kind == Kind::ReplicaSet {
        objects.any(|object| {
            object == revision
                || store
                    .object(object)
                    .and_then(|stored| stored.meta())
                    .and_then(|meta| owners::controller_of(store, meta))
                    .is_some_and(|owner| owner == *revision)
        })
    } else {
        objects.any(|object| object == workload || owners::top_owner(store, object) == *workload)
    }
}

/// The kind of object a template field names: `...configMapRef.name` a ConfigMap.
pub(crate) fn referenced_kind(path: &str) -> Option<Kind> {
    const REFERENCES: &[(&str, Kind)] = &[
        (".configMapRef.name", Kind::ConfigMap),
        (".configMapKeyRef.name", Kind::ConfigMap),
        (".configMap.name", Kind::ConfigMap),
        (".secretRef.name", Kind::Secret),
        (".secretKeyRef.name", Kind::Secret),
        (".secret.secretName", Kind::Secret),
        (
            ".persistentVolumeClaim.claimName",
            Kind::PersistentVolumeClaim,
        ),
        ("spec.serviceAccountName", Kind::ServiceAccount),
    ];
    if path.starts_with("spec.imagePullSecrets[") {
        return Some(Kind::Secret);
    }
    REFERENCES
        .iter()
        .find(|(suffix, _)| path.ends_with(suffix))
        .map(|(_, kind)| *kind)
}

/// `spec.containers[app].livenessProbe.httpGet.path` → (`app`, `livenessProbe`).
fn container_field(path: &str) -> Option<(&str, &str)> {
    let rest = path
        .strip_prefix("spec.containers[")
        .or_else(|| path.strip_prefix("spec.initContainers["))?;
    let (container, after) = rest.split_once(']')?;
    let field = after.strip_prefix('.')?.split(['.', '[']).next()?;
    Some((container, field))
}

/// The rules a change of a container field can cause.
fn rules_of_container_field(field: &str) -> &'static [RuleId] {
    use RuleId::*;
    match field {
        "image" => &[
            LivenessProbeFailing,
            ReadinessProbeFailing,
            StartupProbeFailing,
            ContainerOOMKilled,
            ImagePullNotFound,
            ImagePullUnauthorized,
            ImagePullNetworkError,
            ImagePullBackOff,
            InvalidImageName,
            ContainerCommandNotFound,
            ContainerCommandNotExecutable,
            ContainerCrashing,
            ContainerExitedZero,
            ImageDigestMismatch,
        ],
        "command" | "args" => &[
            LivenessProbeFailing,
            ReadinessProbeFailing,
            StartupProbeFailing,
            ContainerCommandNotFound,
            ContainerCommandNotExecutable,
            ContainerCrashing,
            ContainerExitedZero,
        ],
        "env" | "envFrom" | "volumeMounts" => &[
            CreateContainerConfigError,
            ContainerCrashing,
            VolumeMountFailed,
            ReadinessProbeFailing,
            LivenessProbeFailing,
        ],
        "livenessProbe" => &[LivenessProbeFailing, ProbePortMismatch, MissingStartupProbe],
        "readinessProbe" => &[ReadinessProbeFailing, ProbePortMismatch],
        "startupProbe" => &[StartupProbeFailing, ProbePortMismatch],
        "ports" => &[ProbePortMismatch, ServiceTargetPortMismatch],
        "securityContext" => &[
            ContainerCrashing,
            AdmissionDenied,
            CreateContainerConfigError,
        ],
        _ => &[],
    }
}

/// Whether the change of `field` introduced the broken edge `draft` reports.
fn introduced(draft: &Draft, field: &FieldDiff) -> bool {
    let rule = draft.rule.id;
    if let Some(kind) = referenced_kind(&field.path) {
        return field.to.as_deref().is_some_and(|name| {
            draft
                .scope
                .iter()
                .any(|object| object.kind == kind && object.name == name)
        });
    }
    if let Some((container, name)) = container_field(&field.path) {
        let same_container = draft.discriminator == container
            || draft.discriminator.split('/').any(|part| part == container);
        if !same_container {
            return false;
        }
        if name == "resources" {
            return resources_cause(rule, field);
        }
        return rules_of_container_field(name).contains(&rule);
    }
    let pod_field = field.path.strip_prefix("spec.").unwrap_or_default();
    let pod_field = pod_field.split(['.', '[']).next().unwrap_or_default();
    use RuleId::*;
    match pod_field {
        "nodeSelector" | "affinity" | "tolerations" | "topologySpreadConstraints" => matches!(
            rule,
            NodeSelectorMatchesNoNode
                | UntoleratedTaint
                | PodAffinityUnsatisfiable
                | FailedScheduling
        ),
        _ => false,
    }
}

/// A lowered memory limit causes OOM kills; raised requests cause unschedulable Pods.
fn resources_cause(rule: RuleId, field: &FieldDiff) -> bool {
    let quantity =
        |value: &Option<String>| value.as_deref().and_then(|text| Quantity::parse(text).ok());
    let (from, to) = (quantity(&field.from), quantity(&field.to));
    let lowered = match (from, to) {
        (Some(from), Some(to)) => to < from,
        (None, Some(_)) => true,
        _ => false,
    };
    let raised = match (from, to) {
        (Some(from), Some(to)) => to > from,
        (None, Some(_)) => true,
        _ => false,
    };
    match rule {
        RuleId::ContainerOOMKilled => field.path.ends_with(".limits.memory") && lowered,
        RuleId::InsufficientResources | RuleId::RequestsExceedNodeCapacity => {
            field.path.contains(".requests.") && raised
        }
        _ => false,
    }
}

/// Adds the revision that introduced the draft's broken edge to its evidence, and the
/// rollback where the revision before was healthy.
fn attach_revision(
    store: &Store,
    draft: &mut Draft,
    change: &ObservedChange,
    workload: &ObjRef,
    fields: &[usize],
) {
    let revision = change.revision.unwrap_or(0);
    let when = change.time.map(|t| format!(" at {t}")).unwrap_or_default();
    for &field in fields {
        let diff = &change.fields[field];
        add_evidence(
            draft,
            clip(
                &format!(
                    "change: revision {revision} of {}{when} changed {}: {} -> {}",
                    workload.short(),
                    diff.path,
                    diff.from.as_deref().unwrap_or("(unset)"),
                    diff.to.as_deref().unwrap_or("(unset)"),
                ),
                crate::engine::MAX_LINE,
            ),
        );
    }
    // the earlier revision had it right: it ran well, and what it referenced exists
    let restores = fields.iter().all(|&field| {
        let diff = &change.fields[field];
        match (referenced_kind(&diff.path), diff.from.as_deref()) {
            (Some(kind), Some(name)) => {
                let namespace = workload.namespace.as_deref();
                store.existence(&ObjRef::new(kind, namespace, name)) == Existence::Exists
            }
            (Some(_), None) => true,
            (None, _) => true,
        }
    });
    if let (Some(basis), Some(previous), true) =
        (&change.rollback, change.previous_revision, restores)
    {
        let what: Vec<&FieldDiff> = fields.iter().map(|&field| &change.fields[field]).collect();
        let why = match basis {
            RollbackBasis::Healthy => "the last revision that runs healthy".to_owned(),
            RollbackBasis::RanFor(secs) => format!(
                "which ran {} before revision {revision} replaced it",
                crate::k8s::duration::compact(*secs)
            ),
        };
        let step = RemediationStep {
            description: format!(
                "Roll back {} to revision {previous}, {why} (revision {revision} {}). A rollback changes only the Pod template",
                workload.short(),
                template::describe_all(&what)
            ),
            command: Some(revisions::rollback_command(workload, previous)),
            risk: Risk::Reversible,
        };
        if !draft.remediation.steps.contains(&step) {
            draft.remediation.steps.push(step);
        }
    }
}

/// Adds an evidence line to a draft (once).
fn add_evidence(draft: &mut Draft, line: String) {
    if !draft.evidence.contains(&line) {
        draft.evidence.push(line);
    }
}

/// `revision 7 replaced envFrom configMapRef storefront-settings with storefront-config
/// and the image 1.8.2 with 1.9.0`: the fields that introduced a finding first.
fn summarize(change: &ObservedChange, introducing: &[usize]) -> String {
    let Some(revision) = change.revision else {
        return change.summary.clone();
    };
    let mut order: Vec<usize> = introducing.to_vec();
    order.extend((0..change.fields.len()).filter(|field| !introducing.contains(field)));
    const SHOWN: usize = 3;
    let shown: Vec<&FieldDiff> = order
        .iter()
        .take(SHOWN)
        .map(|&field| &change.fields[field])
        .collect();
    let mut text = format!("revision {revision} {}", template::describe_all(&shown));
    if order.len() > SHOWN {
        text.push_str(&format!(", and {} more field(s)", order.len() - SHOWN));
    }
    clip(&text, 512)
}

/// The changes as `status.changes`: those linked to the first finding first, then
/// newest first; at most [`MAX_CHANGES`]. `ids` are the drafts' finding ids, `kept`
/// whether the draft's finding is in the status (a filtered finding is not named),
/// `first` the draft of the first finding.
pub fn to_status(
    mut changes: Vec<ObservedChange>,
    ids: &[String],
    kept: &[bool],
    first: Option<usize>,
) -> Vec<Change> {
    changes.sort_by(|a, b| {
        let touches = |change: &ObservedChange| first.is_some_and(|f| change.linked.contains(&f));
        touches(b)
            .cmp(&touches(a))
            .then(b.time.cmp(&a.time))
            .then(a.object.cmp(&b.object))
    });
    changes
        .into_iter()
        .take(MAX_CHANGES)
        .map(|change| {
            let mut findings: Vec<String> = change
                .linked
                .iter()
                .filter(|&&index| kept[index])
                .map(|&index| ids[index].clone())
                .collect();
            findings.sort();
            findings.dedup();
            Change {
                time: change.time.map(|t| t.to_string()).unwrap_or_default(),
                object: change.object.to_reference(),
                revision: change.revision,
                previous_revision: change.previous_revision,
                summary: change.summary,
                fields: change
                    .fields
                    .into_iter()
                    .map(|field| FieldChange {
                        path: field.path,
                        from: field.from,
                        to: field.to,
                    })
                    .collect(),
                findings,
            }
        })
        .collect()
}
