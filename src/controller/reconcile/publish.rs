//! Stage 5, publish: an Event for each transition since the previous status, the
//! status itself (server-side apply, only when it changed) and the Diagnosis's
//! metric series.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use crate::api::{Diagnosis, DiagnosisStatus, Finding, Phase, Severity};
use crate::model::ObjRef;
use crate::text::clip;

use super::super::metrics::ErrorKind;
use super::{Context, FIELD_MANAGER};

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    /// The status patch of the named Diagnosis failed.
    #[error("writing the status of {0}: {1}")]
    StatusPatch(String, #[source] kube::Error),
    /// An Event on the named Diagnosis (or its target) could not be published.
    #[error("publishing an event on {0}: {1}")]
    EventPublish(String, #[source] kube::Error),
}

impl PublishError {
    /// The error's kind in the metrics.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            PublishError::StatusPatch(..) => ErrorKind::StatusPatch,
            PublishError::EventPublish(..) => ErrorKind::EventPublish,
        }
    }
}

/// Publishes the settled status `next` of `diagnosis` (about `target`): the Events
/// of its transitions from `prev`, the status, then the metric series of a run at
/// `now`.
pub(crate) async fn publish(
    ctx: &Context,
    diagnosis: &Diagnosis,
    target: &ObjRef,
    prev: &DiagnosisStatus,
    next: &DiagnosisStatus,
    now: Timestamp,
) -> Result<(), PublishError> {
    for event in transitions(prev, next) {
        publish_event(ctx, diagnosis, target, event).await?;
    }
    write_status(ctx, diagnosis, prev, next.clone()).await?;
    if !ctx.notifier.is_empty()
        && let Some(notification) =
            crate::controller::notify::transition(diagnosis, target, prev, next)
    {
        ctx.notifier.notify(&notification);
    }
    ctx.metrics.record(
        &diagnosis.namespace().unwrap_or_default(),
        &diagnosis.name_any(),
        diagnosis.metadata.uid.as_deref(),
        target.kind.name(),
        &target.name,
        next,
        now.as_millisecond() as f64 / 1000.0,
    );
    Ok(())
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
    let before: BTreeMap<&str, &Finding> = prev
        .findings
        .iter()
        .map(|finding| (finding.id.as_str(), finding))
        .collect();
    let after: BTreeMap<&str, &Finding> = next
        .findings
        .iter()
        .map(|finding| (finding.id.as_str(), finding))
        .collect();
    for (id, finding) in &after {
        if finding.severity >= Severity::Warning && !before.contains_key(id) {
            out.push(Event {
                type_: EventType::Warning,
                reason: finding.rule_id.clone(),
                note: Some(clip(
                    &format!("{}: {}", object_name(finding), finding.message),
                    1000,
                )),
                action: finding_action(finding),
                secondary: None,
            });
        }
    }
    for (id, finding) in &before {
        if finding.severity >= Severity::Warning && !after.contains_key(id) {
            out.push(Event {
                type_: EventType::Normal,
                reason: "FindingResolved".to_owned(),
                note: Some(clip(
                    &format!(
                        "{} on {} resolved: {}",
                        finding.rule_id,
                        object_name(finding),
                        finding.message
                    ),
                    1000,
                )),
                action: finding_action(finding),
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

/// The `action` of a finding's events: its own, so that no two findings share a series.
fn finding_action(finding: &Finding) -> String {
    clip(&format!("Diagnose/{}", finding.id), 128)
}

/// `Kind namespace/name` (or `Kind name`) of the object a finding is about.
fn object_name(finding: &Finding) -> String {
    match &finding.object.namespace {
        Some(namespace) => format!(
            "{} {namespace}/{}",
            finding.object.kind, finding.object.name
        ),
        None => format!("{} {}", finding.object.kind, finding.object.name),
    }
}

/// Publishes `event` on the Diagnosis, and on its target when the spec asks
/// (`eventsOnTarget`).
async fn publish_event(
    ctx: &Context,
    diagnosis: &Diagnosis,
    target: &ObjRef,
    event: Event,
) -> Result<(), PublishError> {
    let reference = diagnosis.object_ref(&());
    ctx.recorder
        .publish(&event, &reference)
        .await
        .map_err(|error| PublishError::EventPublish(diagnosis.name_any(), error))?;
    if diagnosis.spec.events_on_target == Some(true) {
        let mut on_target = ObjectReference {
            api_version: Some(target.kind.api_version().to_owned()),
            kind: Some(target.kind.name().to_owned()),
            name: Some(target.name.clone()),
            namespace: target.namespace.clone(),
            ..Default::default()
        };
        on_target.uid = {
            let store = ctx.cache.store.read().expect("lock");
            store
                .object(target)
                .and_then(|object| object.meta())
                .and_then(|meta| meta.uid.clone())
        };
        ctx.recorder
            .publish(&event, &on_target)
            .await
            .map_err(|error| PublishError::EventPublish(diagnosis.name_any(), error))?;
    }
    Ok(())
}

/// Whether two statuses differ in anything but the time of the run.
fn changed(prev: &DiagnosisStatus, next: &DiagnosisStatus) -> bool {
    let mut before = prev.clone();
    let mut after = next.clone();
    before.last_diagnosed_time = None;
    after.last_diagnosed_time = None;
    for finding in before.findings.iter_mut().chain(after.findings.iter_mut()) {
        finding.last_seen = None;
    }
    before != after
}

/// Writes `next` as the status of `diagnosis` by server-side apply, unless it differs
/// from `prev` only in the time of the run.
pub(crate) async fn write_status(
    ctx: &Context,
    diagnosis: &Diagnosis,
    prev: &DiagnosisStatus,
    next: DiagnosisStatus,
) -> Result<(), PublishError> {
    // a refresh asked for must be seen to have run (a newer lastDiagnosedTime)
    if !changed(prev, &next) && !crate::controller::alerts::refresh_pending(diagnosis, prev) {
        return Ok(());
    }
    let api: Api<Diagnosis> = Api::namespaced(
        ctx.client.clone(),
        &diagnosis.namespace().unwrap_or_default(),
    );
    let patch = serde_json::json!({
        "apiVersion": "kubedx.io/v1alpha1",
        "kind": "Diagnosis",
        "status": next,
    });
    api.patch_status(
        &diagnosis.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(|error| PublishError::StatusPatch(diagnosis.name_any(), error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::super::tests::status;
    use super::*;

    #[test]
    fn only_transitions_publish() {
        let degraded = status(
            &[
                ("ConfigMapNotFound", Severity::Critical),
                ("ImageTagMutable", Severity::Info),
            ],
            Phase::Degraded,
        );
        let events = transitions(&DiagnosisStatus::default(), &degraded);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, "ConfigMapNotFound");
        assert_eq!(events[0].type_, EventType::Warning);
        assert!(
            transitions(&degraded, &degraded).is_empty(),
            "unchanged diagnosis publishes nothing"
        );
        let healed = status(&[("ImageTagMutable", Severity::Info)], Phase::Healthy);
        let events = transitions(&degraded, &healed);
        let reasons: Vec<&str> = events.iter().map(|event| event.reason.as_str()).collect();
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
        let mut events = transitions(&DiagnosisStatus::default(), &two);
        events.extend(transitions(&two, &status(&[], Phase::Healthy)));
        let keys: BTreeSet<(String, String)> = events
            .iter()
            .map(|event| (event.reason.clone(), event.action.clone()))
            .collect();
        assert_eq!(events.len(), 5, "{keys:?}");
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert_eq!(events[0].action, "Diagnose/f-ImagePullNotFound");
    }

    #[test]
    fn a_status_that_differs_only_in_the_time_of_the_run_is_not_written_again() {
        let mut earlier = status(
            &[("ConfigMapNotFound", Severity::Critical)],
            Phase::Degraded,
        );
        earlier.last_diagnosed_time = Some("2026-11-21T09:00:00Z".into());
        earlier.findings[0].last_seen = Some("2026-11-21T09:00:00Z".into());
        let mut later = earlier.clone();
        later.last_diagnosed_time = Some("2026-11-21T09:05:00Z".into());
        later.findings[0].last_seen = Some("2026-11-21T09:05:00Z".into());
        assert!(!changed(&earlier, &later));
        later.findings[0].message = "configmap \"web-config\" not found".into();
        assert!(changed(&earlier, &later));
    }
}
