//! Notifications: on a diagnosis's transitions only — a new root cause, a resolved
//! diagnosis — a [`Notification`] goes to every sink of `--notify-webhook` (the JSON
//! object itself) and `--notify-slack` (Slack's incoming-webhook format).
//!
//! - `format`: the two bodies (pure).
//! - `sink`: one bounded queue and one sender per sink, with retries and backoff.
//!
//! [`Notifier::notify`] never waits: a full queue drops the notification (counted),
//! so a slow or dead sink never holds a reconcile back.

pub mod format;
mod sink;

use kube::ResourceExt;
use serde::Serialize;

use crate::api::{Diagnosis, DiagnosisStatus, Finding, ObjectReference, Phase, Severity};
use crate::model::ObjRef;

use super::Metrics;
use super::alerts::diagnoses::{ALERT_NAME, ALERT_URL, FINGERPRINT_LABEL};

pub use sink::{Sink, SinkType};

/// What a sink is told about a diagnosis's transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Always `DiagnosisNotification`.
    pub kind: &'static str,
    /// The Diagnosis.
    pub diagnosis: DiagnosisName,
    /// Its target.
    pub target: TargetName,
    /// The Diagnosis's phase: Degraded for a new root cause, Healthy once resolved.
    pub phase: Phase,
    /// The new root cause, or (phase Healthy) the one that resolved.
    pub root_cause: Option<RootCause>,
    /// The safest next step of the root cause (its least risky remediation step).
    pub next_step: Option<NextStep>,
    /// The alert that made the Diagnosis, when an alert did.
    pub alert: Option<AlertName>,
    /// The alert's link (`generatorURL`), when an alert made the Diagnosis.
    pub url: Option<String>,
}

/// The namespace and name of a Diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiagnosisName {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// A diagnosis's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetName {
    /// Its kind.
    pub kind: String,
    /// Its namespace; None for cluster-scoped targets.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

/// The root cause: the diagnosis's first finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RootCause {
    /// The rule that fired.
    pub rule_id: String,
    /// Its severity.
    pub severity: Severity,
    /// What is wrong, in one line.
    pub message: String,
    /// The object it is about.
    pub object: ObjectReference,
    /// What proves it.
    pub evidence: Vec<String>,
}

/// A remediation step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NextStep {
    /// What to do.
    pub description: String,
    /// The command a person may run.
    pub command: Option<String>,
    /// How risky it is.
    pub risk: crate::api::Risk,
}

/// The alert that made a Diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertName {
    /// Its `alertname`.
    pub name: String,
    /// Its fingerprint.
    pub fingerprint: String,
}

/// The root cause of a status: its first finding when that is a Warning or Critical
/// root cause.
fn root_cause(status: &DiagnosisStatus) -> Option<&Finding> {
    status
        .findings
        .first()
        .filter(|finding| finding.root_cause && finding.severity >= Severity::Warning)
}

/// The notification of the transition from `prev` to `next`, if it is one: a root
/// cause that is new (none before, or another finding), or a Degraded diagnosis
/// that turned Healthy. None for anything else (the same root cause again, a
/// refused spec, a first diagnosis that is healthy).
pub fn transition(
    diagnosis: &Diagnosis,
    target: &ObjRef,
    prev: &DiagnosisStatus,
    next: &DiagnosisStatus,
) -> Option<Notification> {
    let finding = match (root_cause(prev), root_cause(next)) {
        (before, Some(after)) if next.phase == Phase::Degraded => {
            if before.is_some_and(|before| before.id == after.id) {
                return None;
            }
            Some(after)
        }
        (before, _) if prev.phase == Phase::Degraded && next.phase == Phase::Healthy => before,
        _ => return None,
    };
    let alert = diagnosis
        .labels()
        .get(FINGERPRINT_LABEL)
        .map(|fingerprint| AlertName {
            name: diagnosis
                .annotations()
                .get(ALERT_NAME)
                .cloned()
                .unwrap_or_default(),
            fingerprint: fingerprint.clone(),
        });
    Some(Notification {
        kind: "DiagnosisNotification",
        diagnosis: DiagnosisName {
            namespace: diagnosis.namespace().unwrap_or_default(),
            name: diagnosis.name_any(),
        },
        target: TargetName {
            kind: target.kind.name().to_owned(),
            namespace: target.namespace.clone(),
            name: target.name.clone(),
        },
        phase: next.phase,
        root_cause: finding.map(|finding| RootCause {
            rule_id: finding.rule_id.clone(),
            severity: finding.severity,
            message: finding.message.clone(),
            object: finding.object.clone(),
            evidence: finding.evidence.clone(),
        }),
        next_step: finding
            .and_then(|finding| finding.remediation.steps.first())
            .map(|step| NextStep {
                description: step.description.clone(),
                command: step.command.clone(),
                risk: step.risk,
            }),
        url: alert
            .as_ref()
            .and_then(|_| diagnosis.annotations().get(ALERT_URL).cloned()),
        alert,
    })
}

/// Hands notifications to the sinks' queues; clones share them.
#[derive(Clone, Default)]
pub(crate) struct Notifier {
    /// One queue per sink.
    sinks: Vec<sink::Queue>,
}

impl Notifier {
    /// Starts a sender for each sink; their results are counted in `metrics`.
    pub(crate) fn start(sinks: Vec<Sink>, metrics: &Metrics) -> Result<Notifier, sink::SinkError> {
        let client = sink::http_client()?;
        let sinks = sinks
            .into_iter()
            .map(|s| sink::Queue::start(s, client.clone(), metrics.clone()))
            .collect();
        Ok(Notifier { sinks })
    }

    /// Queues `notification` for every sink without waiting.
    pub(crate) fn notify(&self, notification: &Notification) {
        for queue in &self.sinks {
            queue.push(notification);
        }
    }

    /// Whether any sink is configured.
    pub(crate) fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Risk;
    use crate::model::Kind;
    use serde_json::json;

    fn status(rule: Option<(&str, Severity)>, phase: Phase) -> DiagnosisStatus {
        let findings = rule
            .map(|(rule_id, severity)| {
                serde_json::from_value::<Finding>(json!({
                    "id": format!("f-{rule_id}"), "ruleId": rule_id, "ruleSet": "workload",
                    "severity": severity, "layer": "Pod",
                    "object": {"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "web-1"},
                    "message": format!("{rule_id} on web-1"),
                    "evidence": ["state.waiting.reason=CrashLoopBackOff"],
                    "remediation": {"summary": "fix", "steps": [
                        {"description": "Read the logs", "command": "kubectl logs -n shop web-1 --previous", "risk": "ReadOnly"},
                        {"description": "Roll back", "command": "kubectl rollout undo", "risk": "Reversible"}
                    ]},
                    "rootCause": true
                }))
                .unwrap()
            })
            .into_iter()
            .collect();
        DiagnosisStatus {
            phase,
            findings,
            ..Default::default()
        }
    }

    fn alert_diagnosis() -> Diagnosis {
        serde_json::from_value(json!({
            "apiVersion": "kubedx.io/v1alpha1", "kind": "Diagnosis",
            "metadata": {"name": "alert-deployment-web", "namespace": "shop",
                "labels": {FINGERPRINT_LABEL: "1b6e"},
                "annotations": {ALERT_NAME: "KubePodCrashLooping", ALERT_URL: "http://127.0.0.1:9090/graph"}},
            "spec": {"target": {"kind": "Deployment", "name": "web"}, "mode": "Once"}
        }))
        .unwrap()
    }

    #[test]
    fn a_new_root_cause_notifies_once_and_its_resolution_once() {
        let d = alert_diagnosis();
        let target = ObjRef::namespaced(Kind::Deployment, "shop", "web");
        let pending = DiagnosisStatus::default();
        let crash = status(
            Some(("CrashLoopBackOff", Severity::Critical)),
            Phase::Degraded,
        );
        let healthy = status(None, Phase::Healthy);

        let n = transition(&d, &target, &pending, &crash).expect("a new root cause");
        assert_eq!(n.phase, Phase::Degraded);
        let cause = n.root_cause.as_ref().unwrap();
        assert_eq!(cause.rule_id, "CrashLoopBackOff");
        assert_eq!(cause.evidence, ["state.waiting.reason=CrashLoopBackOff"]);
        assert_eq!(
            n.next_step.as_ref().unwrap().risk,
            Risk::ReadOnly,
            "the safest step"
        );
        assert_eq!(
            n.alert,
            Some(AlertName {
                name: "KubePodCrashLooping".into(),
                fingerprint: "1b6e".into()
            })
        );
        assert_eq!(n.url.as_deref(), Some("http://127.0.0.1:9090/graph"));

        assert_eq!(
            transition(&d, &target, &crash, &crash),
            None,
            "the same root cause again"
        );
        let other = status(
            Some(("ImagePullNotFound", Severity::Critical)),
            Phase::Degraded,
        );
        assert_eq!(
            transition(&d, &target, &crash, &other)
                .unwrap()
                .root_cause
                .unwrap()
                .rule_id,
            "ImagePullNotFound"
        );
        let resolved = transition(&d, &target, &crash, &healthy).expect("resolved");
        assert_eq!(resolved.phase, Phase::Healthy);
        assert_eq!(
            resolved.root_cause.unwrap().rule_id,
            "CrashLoopBackOff",
            "what resolved"
        );
        assert_eq!(transition(&d, &target, &pending, &healthy), None);
        assert_eq!(transition(&d, &target, &healthy, &healthy), None);
        let info = status(Some(("ImageTagMutable", Severity::Info)), Phase::Healthy);
        assert_eq!(transition(&d, &target, &pending, &info), None);
    }

    #[test]
    fn a_diagnosis_applied_by_hand_has_no_alert() {
        let mut d = alert_diagnosis();
        d.metadata.labels = None;
        let target = ObjRef::namespaced(Kind::Deployment, "shop", "web");
        let crash = status(
            Some(("CrashLoopBackOff", Severity::Critical)),
            Phase::Degraded,
        );
        let n = transition(&d, &target, &DiagnosisStatus::default(), &crash).unwrap();
        assert_eq!((n.alert, n.url), (None, None));
        let body = serde_json::to_value(
            transition(&d, &target, &DiagnosisStatus::default(), &crash).unwrap(),
        )
        .unwrap();
        assert_eq!(body["alert"], serde_json::Value::Null);
        assert_eq!(body["kind"], "DiagnosisNotification");
        assert_eq!(
            body["diagnosis"],
            json!({"namespace": "shop", "name": "alert-deployment-web"})
        );
        assert_eq!(
            body["target"],
            json!({"kind": "Deployment", "namespace": "shop", "name": "web"})
        );
        assert_eq!(body["rootCause"]["ruleId"], "CrashLoopBackOff");
        assert_eq!(
            body["nextStep"]["command"],
            "kubectl logs -n shop web-1 --previous"
        );
    }
}
