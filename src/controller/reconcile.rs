//! The reconcile of one `Diagnosis`, as a pipeline of named stages:
//! dereference → validate (tenancy, spec) → diagnose (from the cache) → transitions
//! (Events) → update status (server-side apply, only when it changed) → metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use tokio::sync::mpsc;

use crate::api::{Diagnosis, DiagnosisStatus, Finding, Mode, Phase, Severity, TargetKind};
use crate::engine::{self, clip};
use crate::graph::ObjectGraph;
use crate::model::{Kind, ObjRef};
use crate::rules::{DiagnoseOptions, catalog};

use super::cache::Cache;
use super::metrics::{ErrorKind, Metrics};

/// The field manager of status writes.
pub const FIELD_MANAGER: &str = "kubedx";
/// How often a Continuous diagnosis re-runs with no change (age-based rules).
pub const RESYNC: Duration = Duration::from_secs(300);

/// Controller settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespaces whose Diagnoses may target any namespace, Nodes and Namespaces.
    pub admin_namespaces: BTreeSet<String>,
    /// Pod logs may be read for Diagnoses that enable them.
    pub logs_allowed: bool,
}

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub cache: Cache,
    pub metrics: Metrics,
    pub recorder: Recorder,
    pub settings: Settings,
    pub triggers: Mutex<TriggerIndex>,
}

/// Why a reconcile failed (the error policy retries it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("writing the status of {0}: {1}")]
    StatusPatch(String, #[source] kube::Error),
    #[error("publishing an event on {0}: {1}")]
    EventPublish(String, #[source] kube::Error),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::StatusPatch(..) => ErrorKind::StatusPatch,
            Error::EventPublish(..) => ErrorKind::EventPublish,
        }
    }
}

/// A spec the controller refuses: phase Error with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

pub async fn reconcile(dx: Arc<Diagnosis>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = run(&dx, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics.reconciled(result.is_ok());
    result
}

pub fn error_policy(_dx: Arc<Diagnosis>, err: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %err, "reconcile failed");
    ctx.metrics.error(err.kind());
    Action::requeue(Duration::from_secs(10))
}

async fn run(dx: &Diagnosis, ctx: &Context) -> Result<Action, Error> {
    let ns = dx.namespace().unwrap_or_default();
    let name = dx.name_any();
    let generation = dx.metadata.generation;
    let mode = dx.spec.mode.unwrap_or_default();
    let prev = dx.status.clone().unwrap_or_default();
    if mode == Mode::Once
        && prev.observed_generation.is_some()
        && prev.observed_generation == generation
        && prev.phase != Phase::Pending
    {
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    // dereference + validate
    let target = match dereference(dx, &ctx.settings) {
        Ok(t) => t,
        Err(refusal) => {
            let status = error_status(&prev, generation, now, &refusal);
            write_status(ctx, dx, &prev, status).await?;
            let mut triggers = ctx.triggers.lock().expect("lock");
            triggers.forget(&ObjectRef::from_obj(dx));
            ctx.metrics.set_tracked(triggers.len());
            return Ok(Action::await_change());
        }
    };
    // diagnose from the cache
    let options = options(dx, now);
    let logs_wanted = dx.spec.logs.as_ref().is_some_and(|l| l.enabled);
    let mut logs_condition: Option<(&str, &str, String)> = None;
    if logs_wanted && !ctx.settings.logs_allowed {
        logs_condition = Some((
            "False",
            "LogsNotAllowed",
            "spec.logs.enabled is set, but this controller runs without --allow-logs: no container log was read".to_owned(),
        ));
    }
    let logs = if logs_wanted && ctx.settings.logs_allowed {
        let tail = dx
            .spec
            .logs
            .as_ref()
            .and_then(|l| l.tail_lines)
            .unwrap_or(50);
        let wanted = {
            let store = ctx.cache.store.read().expect("lock");
            let graph = ObjectGraph::build(&store, &target);
            crate::live::failing_containers(&store, &graph)
        };
        let n = wanted.len();
        match crate::live::fetch_logs(&ctx.client, wanted, tail).await {
            Ok(l) => {
                logs_condition = Some((
                    "True",
                    "LogsRead",
                    format!("read the logs of {n} failing container(s)"),
                ));
                Some(l)
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading logs failed");
                ctx.metrics.error(ErrorKind::Logs);
                logs_condition = Some((
                    "False",
                    "LogsUnreadable",
                    clip(&format!("reading container logs failed: {e}"), 1024),
                ));
                None
            }
        }
    } else {
        None
    };
    let report = {
        let store = ctx.cache.store.read().expect("lock");
        engine::diagnose(
            &store,
            &target,
            &options,
            logs.as_ref().map(|l| l as &dyn crate::rules::LogSource),
        )
    };
    let mut status = report.status;
    if let Some((st, reason, message)) = logs_condition {
        status.conditions.push(Condition {
            type_: "Logs".to_owned(),
            status: st.to_owned(),
            reason: reason.to_owned(),
            message,
            last_transition_time: Time(now),
            observed_generation: None,
        });
    }
    let status = settle(&prev, status, generation);
    // transitions → Events
    for ev in transitions(&prev, &status) {
        publish(ctx, dx, &target, ev).await?;
    }
    write_status(ctx, dx, &prev, status.clone()).await?;
    ctx.metrics.record(
        &ns,
        &name,
        dx.metadata.uid.as_deref(),
        target.kind.name(),
        &target.name,
        &status,
        now.as_millisecond() as f64 / 1000.0,
    );
    let me = ObjectRef::from_obj(dx);
    let mut triggers = ctx.triggers.lock().expect("lock");
    let action = match mode {
        // deleted while this reconcile ran: its Delete already cleaned the index
        Mode::Continuous if ctx.metrics.is_deleted(dx.metadata.uid.as_deref()) => {
            Action::await_change()
        }
        Mode::Continuous => {
            triggers.watch(me, &report.graph);
            Action::requeue(RESYNC)
        }
        Mode::Once => {
            triggers.forget(&me);
            Action::await_change()
        }
    };
    ctx.metrics.set_tracked(triggers.len());
    tracing::debug!(diagnosis = %format!("{ns}/{name}"), phase = ?status.phase, findings = status.findings.len(), "diagnosed");
    Ok(action)
}

/// The target as an [`ObjRef`], after the tenancy check (docs/reference.md, "Tenancy"): a Diagnosis
/// may target only its own namespace, unless it lives in an admin namespace.
pub fn dereference(dx: &Diagnosis, settings: &Settings) -> Result<ObjRef, Refusal> {
    let own = dx.namespace().unwrap_or_default();
    let t = &dx.spec.target;
    let admin = settings.admin_namespaces.contains(&own);
    let kind = Kind::from_target(t.kind);
    let target = match t.kind {
        TargetKind::Node | TargetKind::Namespace => {
            if !admin {
                return Err(Refusal {
                    reason: "CrossNamespaceTargetDenied",
                    message: format!(
                        "a Diagnosis in namespace {own} may not target a {}: only Diagnoses in {} may",
                        kind.name(),
                        list(&settings.admin_namespaces)
                    ),
                });
            }
            ObjRef::cluster(kind, &t.name)
        }
        _ => {
            let target_ns = t.namespace.clone().unwrap_or_else(|| own.clone());
            if target_ns != own && !admin {
                return Err(Refusal {
                    reason: "CrossNamespaceTargetDenied",
                    message: format!(
                        "a Diagnosis in namespace {own} may target only objects in {own}, not in {target_ns}; \
                         create it in {target_ns}, or in an admin namespace ({})",
                        list(&settings.admin_namespaces)
                    ),
                });
            }
            ObjRef::namespaced(kind, &target_ns, &t.name)
        }
    };
    if t.name.trim().is_empty() {
        return Err(Refusal {
            reason: "InvalidSpec",
            message: "spec.target.name is empty".to_owned(),
        });
    }
    let mut seen = BTreeSet::new();
    let dup: BTreeSet<&str> = dx
        .spec
        .expected_images
        .iter()
        .flatten()
        .filter(|e| !seen.insert(e.container.as_str()))
        .map(|e| e.container.as_str())
        .collect();
    if !dup.is_empty() {
        return Err(Refusal {
            reason: "InvalidSpec",
            message: format!(
                "spec.expectedImages names container(s) more than once: {}",
                dup.into_iter().collect::<Vec<_>>().join(", ")
            ),
        });
    }
    if let Some(t) = dx.spec.logs.as_ref().and_then(|l| l.tail_lines)
        && !(1..=1000).contains(&t)
    {
        return Err(Refusal {
            reason: "InvalidSpec",
            message: format!("spec.logs.tailLines is {t}: it must be within 1..1000"),
        });
    }
    if dx.spec.rule_sets.as_ref().is_some_and(Vec::is_empty) {
        return Err(Refusal {
            reason: "InvalidSpec",
            message: "spec.ruleSets is empty: no rule would run (omit it for every rule set)"
                .to_owned(),
        });
    }
    let unknown: Vec<&String> = dx
        .spec
        .suppress
        .iter()
        .flatten()
        .filter(|id| catalog::find(id).is_none())
        .collect();
    if !unknown.is_empty() {
        return Err(Refusal {
            reason: "InvalidSpec",
            message: format!(
                "spec.suppress names unknown rule ids: {} (see `kubedx rules`)",
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(target)
}

fn list(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// Engine options from a spec.
pub fn options(dx: &Diagnosis, now: Timestamp) -> DiagnoseOptions {
    let mut o = DiagnoseOptions::new(now);
    if let Some(sets) = &dx.spec.rule_sets {
        o.rule_sets = sets.iter().copied().collect();
    }
    if let Some(s) = dx.spec.min_severity {
        o.min_severity = s;
    }
    o.suppress = dx.spec.suppress.iter().flatten().cloned().collect();
    o.expected_images = dx.spec.expected_images.clone().unwrap_or_default();
    o
}

/// Carries over what must survive between runs: each finding's firstSeen, and each
/// condition's lastTransitionTime while its status is unchanged (kstatus).
pub fn settle(
    prev: &DiagnosisStatus,
    mut next: DiagnosisStatus,
    generation: Option<i64>,
) -> DiagnosisStatus {
    next.observed_generation = generation;
    let before: HashMap<&str, &Finding> =
        prev.findings.iter().map(|f| (f.id.as_str(), f)).collect();
    for f in &mut next.findings {
        if let Some(p) = before.get(f.id.as_str()) {
            if p.first_seen.is_some() && (f.first_seen.is_none() || p.first_seen < f.first_seen) {
                f.first_seen = p.first_seen.clone();
            }
        } else if f.first_seen.is_none() {
            f.first_seen = next.last_diagnosed_time.clone();
        }
        if f.last_seen.is_none() {
            f.last_seen = next.last_diagnosed_time.clone();
        }
    }
    for c in &mut next.conditions {
        c.observed_generation = generation;
        if let Some(p) = prev.conditions.iter().find(|p| p.type_ == c.type_)
            && p.status == c.status
        {
            c.last_transition_time = p.last_transition_time.clone();
        }
    }
    next
}

fn error_status(
    prev: &DiagnosisStatus,
    generation: Option<i64>,
    now: Timestamp,
    refusal: &Refusal,
) -> DiagnosisStatus {
    // A refusal quotes the spec (unknown rule ids ...): bounded, like every message.
    let refusal = &Refusal {
        reason: refusal.reason,
        message: clip(&refusal.message, engine::MAX_LINE),
    };
    let cond = |type_: &str, status: &str| Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: refusal.reason.to_owned(),
        message: refusal.message.clone(),
        last_transition_time: Time(now),
        observed_generation: generation,
    };
    let next = DiagnosisStatus {
        phase: Phase::Error,
        observed_generation: generation,
        last_diagnosed_time: Some(now.to_string()),
        conditions: vec![cond("Ready", "False"), cond("Healthy", "Unknown")],
        target_ref: None,
        summary: None,
        root_cause: Some(refusal.message.clone()),
        findings: Vec::new(),
        timeline: Vec::new(),
    };
    settle(prev, next, generation)
}

/// What is new since the last status: a new Warning/Critical finding publishes a
/// Warning event (reason = rule id), a finding that disappeared publishes
/// `FindingResolved`, becoming healthy publishes `DiagnosisHealthy`. Nothing else.
///
/// A finding's events carry its id in `action` (`Diagnose/f-…`): kube's `Recorder`
/// folds events of equal type, reason, action and object into one series within six
/// minutes whatever their notes say, so two findings of one rule (two images not
/// found), or two different findings resolved, must not share an action.
pub fn transitions(prev: &DiagnosisStatus, next: &DiagnosisStatus) -> Vec<Event> {
    let mut out = Vec::new();
    let before: BTreeMap<&str, &Finding> =
        prev.findings.iter().map(|f| (f.id.as_str(), f)).collect();
    let after: BTreeMap<&str, &Finding> =
        next.findings.iter().map(|f| (f.id.as_str(), f)).collect();
    for (id, f) in &after {
        if f.severity >= Severity::Warning && !before.contains_key(id) {
            out.push(Event {
                type_: EventType::Warning,
                reason: f.rule_id.clone(),
                note: Some(clip(&format!("{}: {}", object_name(f), f.message), 1000)),
                action: finding_action(f),
                secondary: None,
            });
        }
    }
    for (id, f) in &before {
        if f.severity >= Severity::Warning && !after.contains_key(id) {
            out.push(Event {
                type_: EventType::Normal,
                reason: "FindingResolved".to_owned(),
                note: Some(clip(
                    &format!(
                        "{} on {} resolved: {}",
                        f.rule_id,
                        object_name(f),
                        f.message
                    ),
                    1000,
                )),
                action: finding_action(f),
                secondary: None,
            });
        }
    }
    if next.phase == Phase::Healthy && prev.phase == Phase::Degraded {
        out.push(Event {
            type_: EventType::Normal,
            reason: "DiagnosisHealthy".to_owned(),
            note: Some("No Warning or Critical finding is active".to_owned()),
            action: "Diagnose".to_owned(),
            secondary: None,
        });
    }
    out
}

fn finding_action(f: &Finding) -> String {
    clip(&format!("Diagnose/{}", f.id), 128)
}

fn object_name(f: &Finding) -> String {
    match &f.object.namespace {
        Some(ns) => format!("{} {ns}/{}", f.object.kind, f.object.name),
        None => format!("{} {}", f.object.kind, f.object.name),
    }
}

async fn publish(ctx: &Context, dx: &Diagnosis, target: &ObjRef, ev: Event) -> Result<(), Error> {
    let reference = dx.object_ref(&());
    ctx.recorder
        .publish(&ev, &reference)
        .await
        .map_err(|e| Error::EventPublish(dx.name_any(), e))?;
    if dx.spec.events_on_target == Some(true) {
        let mut r = k8s_openapi::api::core::v1::ObjectReference {
            api_version: Some(target.kind.api_version().to_owned()),
            kind: Some(target.kind.name().to_owned()),
            name: Some(target.name.clone()),
            namespace: target.namespace.clone(),
            ..Default::default()
        };
        r.uid = {
            let store = ctx.cache.store.read().expect("lock");
            store
                .object(target)
                .and_then(|o| o.meta())
                .and_then(|m| m.uid.clone())
        };
        ctx.recorder
            .publish(&ev, &r)
            .await
            .map_err(|e| Error::EventPublish(dx.name_any(), e))?;
    }
    Ok(())
}

/// Whether two statuses differ in anything but the time of the run.
pub fn changed(prev: &DiagnosisStatus, next: &DiagnosisStatus) -> bool {
    let mut a = prev.clone();
    let mut b = next.clone();
    a.last_diagnosed_time = None;
    b.last_diagnosed_time = None;
    for f in a.findings.iter_mut().chain(b.findings.iter_mut()) {
        f.last_seen = None;
    }
    a != b
}

async fn write_status(
    ctx: &Context,
    dx: &Diagnosis,
    prev: &DiagnosisStatus,
    next: DiagnosisStatus,
) -> Result<(), Error> {
    if !changed(prev, &next) {
        return Ok(());
    }
    let api: Api<Diagnosis> =
        Api::namespaced(ctx.client.clone(), &dx.namespace().unwrap_or_default());
    let patch = serde_json::json!({
        "apiVersion": "kubedx.io/v1alpha1",
        "kind": "Diagnosis",
        "status": next,
    });
    api.patch_status(
        &dx.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|e| Error::StatusPatch(dx.name_any(), e))?;
    Ok(())
}

/// Which Continuous diagnoses to re-run when an object changes: those whose last
/// graph held it, and those whose target namespace holds it (new objects join graphs
/// through selectors and owners).
#[derive(Default)]
pub struct TriggerIndex {
    by_object: HashMap<ObjRef, HashSet<ObjectRef<Diagnosis>>>,
    by_namespace: HashMap<String, HashSet<ObjectRef<Diagnosis>>>,
    of: HashMap<ObjectRef<Diagnosis>, (Vec<ObjRef>, BTreeSet<String>)>,
}

impl TriggerIndex {
    pub fn watch(&mut self, dx: ObjectRef<Diagnosis>, graph: &ObjectGraph) {
        self.forget(&dx);
        let objects: Vec<ObjRef> = graph.nodes.keys().cloned().collect();
        let mut namespaces: BTreeSet<String> = BTreeSet::new();
        match graph.target.kind {
            Kind::Namespace => {
                namespaces.insert(graph.target.name.clone());
            }
            Kind::Node => {}
            _ => {
                namespaces.insert(graph.target.ns().to_owned());
            }
        }
        for o in &objects {
            self.by_object
                .entry(o.clone())
                .or_default()
                .insert(dx.clone());
        }
        for n in &namespaces {
            self.by_namespace
                .entry(n.clone())
                .or_default()
                .insert(dx.clone());
        }
        self.of.insert(dx, (objects, namespaces));
    }

    pub fn forget(&mut self, dx: &ObjectRef<Diagnosis>) {
        if let Some((objects, namespaces)) = self.of.remove(dx) {
            for o in objects {
                if let Some(s) = self.by_object.get_mut(&o) {
                    s.remove(dx);
                    if s.is_empty() {
                        self.by_object.remove(&o);
                    }
                }
            }
            for n in namespaces {
                if let Some(s) = self.by_namespace.get_mut(&n) {
                    s.remove(dx);
                    if s.is_empty() {
                        self.by_namespace.remove(&n);
                    }
                }
            }
        }
    }

    pub fn affected(
        &self,
        changed: &ObjRef,
        node_of_pod: Option<&str>,
    ) -> HashSet<ObjectRef<Diagnosis>> {
        let mut out: HashSet<ObjectRef<Diagnosis>> =
            self.by_object.get(changed).cloned().unwrap_or_default();
        if let Some(ns) = &changed.namespace
            && let Some(s) = self.by_namespace.get(ns)
        {
            out.extend(s.iter().cloned());
        }
        if let Some(node) = node_of_pod
            && let Some(s) = self.by_object.get(&ObjRef::cluster(Kind::Node, node))
        {
            out.extend(s.iter().cloned());
        }
        out
    }

    pub fn all(&self) -> Vec<ObjectRef<Diagnosis>> {
        self.of.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.of.is_empty()
    }
}

/// Forwards cache changes to the controller as reconcile requests for the Continuous
/// diagnoses they affect, debounced with a bounded delay: the first change opens a
/// window of `window` (`--debounce-ms`); everything that changes within it is
/// collected, and when it closes each affected diagnosis is requested once. A steady
/// stream of changes (Pods flipping, Events counting up) therefore delays a
/// re-diagnosis by at most one window — a trailing debounce would wait for a quiet
/// moment that a busy cluster never has.
pub async fn forward_changes(
    ctx: Arc<Context>,
    tx: mpsc::Sender<ObjectRef<Diagnosis>>,
    window: Duration,
) {
    let mut rx = ctx.cache.subscribe();
    loop {
        let mut changed: HashSet<ObjRef> = HashSet::new();
        let mut everything = false;
        match rx.recv().await {
            Ok(r) => {
                changed.insert(r);
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => everything = true,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
        let closes = tokio::time::Instant::now() + window;
        loop {
            tokio::select! {
                r = rx.recv() => match r {
                    Ok(r) => {
                        if changed.len() < 65536 {
                            changed.insert(r);
                        } else {
                            everything = true;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => everything = true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(closes) => break,
            }
        }
        if everything {
            changed.clear();
        }
        let targets: HashSet<ObjectRef<Diagnosis>> = if everything {
            ctx.triggers
                .lock()
                .expect("lock")
                .all()
                .into_iter()
                .collect()
        } else {
            let nodes: Vec<Option<String>> = {
                let store = ctx.cache.store.read().expect("lock");
                changed
                    .iter()
                    .map(|r| {
                        (r.kind == Kind::Pod)
                            .then(|| {
                                store
                                    .get_ref::<k8s_openapi::api::core::v1::Pod>(r)
                                    .and_then(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
                            })
                            .flatten()
                    })
                    .collect()
            };
            let triggers = ctx.triggers.lock().expect("lock");
            changed
                .iter()
                .zip(&nodes)
                .flat_map(|(r, node)| triggers.affected(r, node.as_deref()))
                .collect()
        };
        for t in targets {
            if tx.send(t).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DiagnosisSpec, TargetRef};

    fn dx(ns: &str, kind: TargetKind, target_ns: Option<&str>) -> Diagnosis {
        let mut d = Diagnosis::new(
            "d",
            DiagnosisSpec {
                target: TargetRef {
                    kind,
                    name: "web".into(),
                    namespace: target_ns.map(str::to_owned),
                },
                rule_sets: None,
                mode: None,
                min_severity: None,
                suppress: None,
                expected_images: None,
                logs: None,
                events_on_target: None,
            },
        );
        d.metadata.namespace = Some(ns.into());
        d
    }

    fn settings() -> Settings {
        Settings {
            admin_namespaces: ["kubedx-system".to_owned()].into(),
            logs_allowed: false,
        }
    }

    #[test]
    fn tenancy() {
        let s = settings();
        assert_eq!(
            dereference(&dx("shop", TargetKind::Deployment, None), &s).unwrap(),
            ObjRef::namespaced(Kind::Deployment, "shop", "web")
        );
        let r = dereference(&dx("shop", TargetKind::Deployment, Some("bank")), &s).unwrap_err();
        assert_eq!(r.reason, "CrossNamespaceTargetDenied");
        assert!(r.message.contains("bank"));
        assert_eq!(
            dereference(&dx("shop", TargetKind::Node, None), &s)
                .unwrap_err()
                .reason,
            "CrossNamespaceTargetDenied"
        );
        assert!(
            dereference(
                &dx("kubedx-system", TargetKind::Deployment, Some("bank")),
                &s
            )
            .is_ok()
        );
        assert_eq!(
            dereference(&dx("kubedx-system", TargetKind::Node, Some("ignored")), &s).unwrap(),
            ObjRef::cluster(Kind::Node, "web")
        );
        let mut bad = dx("shop", TargetKind::Deployment, None);
        bad.spec.suppress = Some(vec!["NoSuchRule".into()]);
        assert_eq!(dereference(&bad, &s).unwrap_err().reason, "InvalidSpec");
    }

    #[test]
    fn invalid_specs_the_schema_cannot_refuse() {
        let s = settings();
        let digest = format!("sha256:{}", "a".repeat(64));
        let mut d = dx("shop", TargetKind::Deployment, None);
        d.spec.expected_images = Some(vec![
            crate::api::ExpectedImage {
                container: "app".into(),
                digest: digest.clone(),
            },
            crate::api::ExpectedImage {
                container: "app".into(),
                digest,
            },
        ]);
        let r = dereference(&d, &s).unwrap_err();
        assert_eq!(r.reason, "InvalidSpec");
        assert!(r.message.contains("app"), "{}", r.message);
        let mut d = dx("shop", TargetKind::Deployment, None);
        d.spec.logs = Some(crate::api::LogsSpec {
            enabled: true,
            tail_lines: Some(0),
        });
        assert_eq!(dereference(&d, &s).unwrap_err().reason, "InvalidSpec");
        let mut d = dx("shop", TargetKind::Deployment, None);
        d.spec.rule_sets = Some(vec![]);
        assert_eq!(dereference(&d, &s).unwrap_err().reason, "InvalidSpec");
        // a refusal quoting a huge spec stays bounded
        let mut d = dx("shop", TargetKind::Deployment, None);
        d.spec.suppress = Some((0..5000).map(|i| format!("NoSuchRule{i}")).collect());
        let r = dereference(&d, &s).unwrap_err();
        let st = error_status(&DiagnosisStatus::default(), Some(1), Timestamp::now(), &r);
        assert!(
            st.conditions
                .iter()
                .all(|c| c.message.len() <= engine::MAX_LINE)
        );
        assert!(st.root_cause.unwrap().len() <= engine::MAX_LINE);
    }

    fn status(findings: &[(&str, Severity)], phase: Phase) -> DiagnosisStatus {
        DiagnosisStatus {
            phase,
            findings: findings
                .iter()
                .map(|(id, sev)| Finding {
                    id: format!("f-{id}"),
                    rule_id: id.to_string(),
                    rule_set: crate::api::RuleSetName::Workload,
                    severity: *sev,
                    layer: crate::api::Layer::Pod,
                    object: ObjRef::namespaced(Kind::Pod, "shop", "p").to_reference(),
                    edge: None,
                    affected: None,
                    message: "m".into(),
                    evidence: vec![],
                    remediation: Default::default(),
                    root_cause: true,
                    caused_by: vec![],
                    first_seen: None,
                    last_seen: None,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn only_transitions_publish() {
        let a = status(
            &[
                ("ConfigMapNotFound", Severity::Critical),
                ("ImageTagMutable", Severity::Info),
            ],
            Phase::Degraded,
        );
        let evs = transitions(&DiagnosisStatus::default(), &a);
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].reason, "ConfigMapNotFound");
        assert_eq!(evs[0].type_, EventType::Warning);
        assert!(
            transitions(&a, &a).is_empty(),
            "unchanged diagnosis publishes nothing"
        );
        let healed = status(&[("ImageTagMutable", Severity::Info)], Phase::Healthy);
        let evs = transitions(&a, &healed);
        let reasons: Vec<&str> = evs.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["FindingResolved", "DiagnosisHealthy"]);
    }

    #[test]
    fn every_finding_has_its_own_event_series() {
        // two findings of one rule (two containers' images not found), then each
        // resolved: four events the Recorder must not fold into two series
        let mut two = status(
            &[
                ("ImagePullNotFound", Severity::Critical),
                ("ImagePullNotFound", Severity::Critical),
            ],
            Phase::Degraded,
        );
        two.findings[1].id = "f-other".into();
        let mut evs = transitions(&DiagnosisStatus::default(), &two);
        evs.extend(transitions(&two, &status(&[], Phase::Healthy)));
        let keys: BTreeSet<(String, String)> = evs
            .iter()
            .map(|e| (e.reason.clone(), e.action.clone()))
            .collect();
        assert_eq!(evs.len(), 5, "{keys:?}");
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert_eq!(evs[0].action, "Diagnose/f-ImagePullNotFound");
    }

    #[test]
    fn settle_keeps_first_seen_and_transition_times() {
        let mut prev = status(
            &[("ConfigMapNotFound", Severity::Critical)],
            Phase::Degraded,
        );
        prev.findings[0].first_seen = Some("2026-11-21T09:00:00Z".into());
        prev.conditions = vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Diagnosed".into(),
            message: "x".into(),
            last_transition_time: Time("2026-11-21T09:00:00Z".parse().unwrap()),
            observed_generation: Some(1),
        }];
        let mut next = status(
            &[("ConfigMapNotFound", Severity::Critical)],
            Phase::Degraded,
        );
        next.last_diagnosed_time = Some("2026-11-21T10:00:00Z".into());
        next.conditions = vec![Condition {
            last_transition_time: Time("2026-11-21T10:00:00Z".parse().unwrap()),
            ..prev.conditions[0].clone()
        }];
        let s = settle(&prev, next, Some(2));
        assert_eq!(
            s.findings[0].first_seen.as_deref(),
            Some("2026-11-21T09:00:00Z")
        );
        assert_eq!(
            s.conditions[0].last_transition_time.0.to_string(),
            "2026-11-21T09:00:00Z"
        );
        assert_eq!(s.conditions[0].observed_generation, Some(2));
        assert_eq!(s.observed_generation, Some(2));
    }
}
