//! The reconcile of one `Diagnosis`, as a pipeline of named stages, one module each:
//!
//! 1. validate (`validate`): the target after the tenancy check, and the spec. A
//!    spec that fails is refused: its status says why, and the pipeline ends there.
//! 2. read logs (`logs`): the failing containers' logs, when enabled and allowed.
//! 3. diagnose (`diagnose`): the engine's report, from the watch cache.
//! 4. settle (`settle`): what survives between runs carried over from the last
//!    status.
//! 5. publish (`publish`): Events for the transitions, the status (only when it
//!    changed), the metric series.
//!
//! Then a Continuous diagnosis is indexed under its graph, to re-run on the next
//! change (and after `RESYNC` without one). Only publishing can fail a reconcile
//! (`Error`, retried by `error_policy`); logs that cannot be read are reported in
//! the status and counted, and the diagnosis goes on without them.

mod diagnose;
mod logs;
mod publish;
mod settle;
mod validate;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use crate::api::{Diagnosis, DiagnosisStatus, Mode, Phase};
use crate::graph::ObjectGraph;

use super::cache::Cache;
use super::metrics::{ErrorKind, Metrics};
use super::triggers::TriggerIndex;

pub use publish::transitions;

/// The field manager of status writes.
pub(crate) const FIELD_MANAGER: &str = "kubedx";
/// How often a Continuous diagnosis re-runs with no change (age-based rules).
pub(crate) const RESYNC: Duration = Duration::from_secs(300);
/// How long a failed reconcile waits before it is retried.
const RETRY: Duration = Duration::from_secs(10);

/// Controller settings.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// Namespaces whose Diagnoses may target any namespace, Nodes and Namespaces.
    pub(crate) admin_namespaces: BTreeSet<String>,
    /// Pod logs may be read for Diagnoses that enable them.
    pub(crate) logs_allowed: bool,
    /// The watched namespaces (`--watch-namespaces`); `None`: the whole cluster.
    pub(crate) watched_namespaces: Option<BTreeSet<String>>,
}

/// What every reconcile shares.
pub(crate) struct Context {
    /// The API client: status writes and log reads.
    pub(crate) client: Client,
    /// The watch caches every diagnosis reads.
    pub(crate) cache: Cache,
    /// The Prometheus metrics.
    pub(crate) metrics: Metrics,
    /// Publishes the Events of transitions.
    pub(crate) recorder: Recorder,
    /// The controller's settings.
    pub(crate) settings: Settings,
    /// The Continuous diagnoses that changes re-run.
    pub(crate) triggers: Arc<Mutex<TriggerIndex>>,
    /// Queues the notifications of transitions.
    pub(crate) notifier: super::notify::Notifier,
}

impl Context {
    /// Drops `diagnosis` from the trigger index (deleted, or refused), and updates the
    /// gauge of tracked diagnoses.
    pub(crate) fn untrack(&self, diagnosis: &ObjectRef<Diagnosis>) {
        let mut triggers = self.triggers.lock().expect("lock");
        triggers.forget(diagnosis);
        self.metrics.set_tracked(triggers.len());
    }
}

/// Why a reconcile failed (the error policy retries it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The publish stage failed (status or Events), also for a refused spec's status.
    #[error(transparent)]
    Publish(#[from] publish::PublishError),
}

impl Error {
    /// The error's kind in the metrics (`kubedx_reconcile_errors_total{error}`).
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            Error::Publish(error) => error.kind(),
        }
    }
}

/// Reconciles one Diagnosis, timing it and counting its result.
pub(crate) async fn reconcile(
    diagnosis: Arc<Diagnosis>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let started = Instant::now();
    let result = run(&diagnosis, &ctx).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    ctx.metrics.reconciled(result.is_ok());
    result
}

/// Counts a failed reconcile by kind and retries it after [`RETRY`].
pub(crate) fn error_policy(_diagnosis: Arc<Diagnosis>, error: &Error, ctx: Arc<Context>) -> Action {
    tracing::warn!(error = %error, "reconcile failed");
    ctx.metrics.error(error.kind());
    Action::requeue(RETRY)
}

/// The pipeline.
async fn run(diagnosis: &Diagnosis, ctx: &Context) -> Result<Action, Error> {
    let generation = diagnosis.metadata.generation;
    let mode = diagnosis.spec.mode.unwrap_or_default();
    let prev = diagnosis.status.clone().unwrap_or_default();
    if mode == Mode::Once
        && diagnosed_already(&prev, generation)
        && !super::alerts::refresh_pending(diagnosis, &prev)
    {
        return Ok(Action::await_change());
    }
    let now = Timestamp::now();
    let target = match validate::validate(diagnosis, &ctx.settings) {
        Ok(target) => target,
        Err(refusal) => {
            let status = settle::refused_status(&prev, generation, now, &refusal);
            publish::write_status(ctx, diagnosis, &prev, status).await?;
            ctx.untrack(&ObjectRef::from_obj(diagnosis));
            return Ok(Action::await_change());
        }
    };
    let logs = logs::read_logs(ctx, diagnosis, &target).await;
    let report = diagnose::diagnose(&ctx.cache, diagnosis, &target, now, logs);
    let status = settle::settle(&prev, report.status, generation);
    publish::publish(ctx, diagnosis, &target, &prev, &status, now).await?;
    let action = next_run(ctx, diagnosis, mode, &report.graph);
    tracing::debug!(
        diagnosis = %format!("{}/{}", diagnosis.namespace().unwrap_or_default(), diagnosis.name_any()),
        phase = ?status.phase,
        findings = status.findings.len(),
        "diagnosed"
    );
    Ok(action)
}

/// Whether a Once diagnosis has a status of its current generation.
fn diagnosed_already(prev: &DiagnosisStatus, generation: Option<i64>) -> bool {
    prev.observed_generation.is_some()
        && prev.observed_generation == generation
        && prev.phase != Phase::Pending
}

/// When the diagnosis runs again: a Continuous one is indexed under `graph` (re-run
/// on its changes) and re-runs after [`RESYNC`]; a Once one only on a change of its
/// own.
fn next_run(ctx: &Context, diagnosis: &Diagnosis, mode: Mode, graph: &ObjectGraph) -> Action {
    let reference = ObjectRef::from_obj(diagnosis);
    let mut triggers = ctx.triggers.lock().expect("lock");
    let action = match mode {
        // deleted while this reconcile ran: its Delete already cleaned the index
        Mode::Continuous if ctx.metrics.is_deleted(diagnosis.metadata.uid.as_deref()) => {
            Action::await_change()
        }
        Mode::Continuous => {
            triggers.watch(reference, graph);
            Action::requeue(RESYNC)
        }
        Mode::Once => {
            triggers.forget(&reference);
            Action::await_change()
        }
    };
    ctx.metrics.set_tracked(triggers.len());
    action
}

#[cfg(test)]
mod tests {
    use crate::api::{DiagnosisStatus, Finding, Phase, Severity};
    use crate::model::{Kind, ObjRef};

    /// A status with one finding of each `(rule id, severity)`, on a Pod.
    pub(super) fn status(findings: &[(&str, Severity)], phase: Phase) -> DiagnosisStatus {
        DiagnosisStatus {
            phase,
            findings: findings
                .iter()
                .map(|(rule_id, severity)| Finding {
                    id: format!("f-{rule_id}"),
                    rule_id: rule_id.to_string(),
                    rule_set: crate::api::RuleSetName::Workload,
                    severity: *severity,
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
}
