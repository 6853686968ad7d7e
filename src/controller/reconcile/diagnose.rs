//! Stage 3, diagnose: the engine's report on the target, from the watch cache (no
//! API request), with the logs the previous stage read. Diagnosing cannot fail: what
//! the cache does not hold is a finding, not an error.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::Diagnosis;
use crate::engine::{self, Report};
use crate::model::ObjRef;
use crate::rules::{DiagnoseOptions, LogSource};

use super::super::cache::Cache;
use super::logs::LogsRead;

/// Diagnoses `target` as the spec of `diagnosis` asks; the `Logs` condition of the
/// read logs joins the status.
pub(crate) fn diagnose(
    cache: &Cache,
    diagnosis: &Diagnosis,
    target: &ObjRef,
    now: Timestamp,
    read: LogsRead,
) -> Report {
    let options = options(diagnosis, now);
    let mut report = {
        let store = cache.store.read().expect("lock");
        engine::diagnose(
            &store,
            target,
            &options,
            read.logs.as_ref().map(|logs| logs as &dyn LogSource),
        )
    };
    if let Some(logs) = read.condition {
        report.status.conditions.push(Condition {
            type_: "Logs".to_owned(),
            status: logs.status.to_owned(),
            reason: logs.reason.to_owned(),
            message: logs.message,
            last_transition_time: Time(now),
            observed_generation: None,
        });
    }
    report
}

/// Engine options from a spec.
pub(crate) fn options(diagnosis: &Diagnosis, now: Timestamp) -> DiagnoseOptions {
    let spec = &diagnosis.spec;
    let mut options = DiagnoseOptions::new(now);
    if let Some(rule_sets) = &spec.rule_sets {
        options.rule_sets = rule_sets.iter().copied().collect();
    }
    if let Some(min_severity) = spec.min_severity {
        options.min_severity = min_severity;
    }
    // unknown ids never get here: validation refuses them
    options.suppress = spec
        .suppress
        .iter()
        .flatten()
        .filter_map(|rule_id| rule_id.parse().ok())
        .collect();
    options.expected_images = spec.expected_images.clone().unwrap_or_default();
    options
}
