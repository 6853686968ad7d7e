//! The bodies sent to the sinks: the [`Notification`] itself for `--notify-webhook`,
//! Slack's incoming-webhook message (text plus blocks) for `--notify-slack`. Pure.

use serde_json::{Value, json};

use crate::api::Phase;
use crate::text::clip;

use super::Notification;

/// The body of a `--notify-webhook` POST: the notification as JSON.
pub fn webhook(notification: &Notification) -> Value {
    serde_json::to_value(notification).unwrap_or(Value::Null)
}

/// `Kind namespace/name` (or `Kind name`).
fn object(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{kind} {namespace}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// The one line that says what happened (Slack's `text`, shown in notifications).
pub fn headline(notification: &Notification) -> String {
    let target = object(
        &notification.target.kind,
        notification.target.namespace.as_deref(),
        &notification.target.name,
    );
    match (&notification.phase, &notification.root_cause) {
        (Phase::Healthy, Some(cause)) => format!("Resolved on {target}: {}", cause.rule_id),
        (Phase::Healthy, None) => format!("Resolved on {target}"),
        (_, Some(cause)) => format!(
            "Root cause on {target}: {} — {}",
            cause.rule_id, cause.message
        ),
        (_, None) => format!("{target}: {:?}", notification.phase),
    }
}

/// Slack's section text limit is 3000 characters; a header's 150.
const SECTION: usize = 2900;
/// See [`SECTION`].
const HEADER: usize = 150;

/// The body of a `--notify-slack` POST: `text` (the headline) and `blocks`: a header,
/// the root cause with its object, its evidence, the safest next step, and the alert
/// that triggered the diagnosis.
pub fn slack(notification: &Notification) -> Value {
    let text = headline(notification);
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": clip(&text, HEADER)},
    })];
    if let Some(cause) = &notification.root_cause {
        let verb = if notification.phase == Phase::Healthy {
            "Resolved root cause"
        } else {
            "Root cause"
        };
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&format!(
                "*{verb}:* `{}` ({:?}) on {}\n{}",
                cause.rule_id,
                cause.severity,
                object(&cause.object.kind, cause.object.namespace.as_deref(), &cause.object.name),
                cause.message
            ), SECTION)},
        }));
        if !cause.evidence.is_empty() {
            let lines: Vec<String> = cause
                .evidence
                .iter()
                .map(|line| format!("• {line}"))
                .collect();
            blocks.push(json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": clip(&format!("*Evidence:*\n{}", lines.join("\n")), SECTION)},
            }));
        }
    }
    if let Some(step) = &notification.next_step {
        let command = step
            .command
            .as_ref()
            .map(|command| format!("\n```{command}```"))
            .unwrap_or_default();
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&format!(
                "*Safest next step* ({:?}): {}{command}",
                step.risk, step.description
            ), SECTION)},
        }));
    }
    let mut context = vec![format!(
        "Diagnosis {}/{}",
        notification.diagnosis.namespace, notification.diagnosis.name
    )];
    if let Some(alert) = &notification.alert {
        let link = match &notification.url {
            Some(url) if !url.is_empty() => format!("<{url}|{}>", alert.name),
            _ => alert.name.clone(),
        };
        context.push(format!("triggered by alert {link} ({})", alert.fingerprint));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(&context.join(" · "), SECTION)}],
    }));
    json!({"text": text, "blocks": blocks})
}

#[cfg(test)]
mod tests {
    use super::super::{AlertName, DiagnosisName, NextStep, RootCause, TargetName};
    use super::*;
    use crate::api::{ObjectReference, Risk, Severity};

    fn notification(phase: Phase) -> Notification {
        Notification {
            kind: "DiagnosisNotification",
            diagnosis: DiagnosisName {
                namespace: "shop".into(),
                name: "alert-deployment-web".into(),
            },
            target: TargetName {
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "web".into(),
            },
            phase,
            root_cause: Some(RootCause {
                rule_id: "ContainerCrashLooping".into(),
                severity: Severity::Critical,
                message: "container app exits with code 1".into(),
                object: ObjectReference {
                    api_version: "v1".into(),
                    kind: "Pod".into(),
                    namespace: Some("shop".into()),
                    name: "web-1".into(),
                },
                evidence: vec!["lastState.terminated.exitCode=1".into()],
            }),
            next_step: Some(NextStep {
                description: "Read the previous logs".into(),
                command: Some("kubectl logs -n shop web-1 --previous".into()),
                risk: Risk::ReadOnly,
            }),
            alert: Some(AlertName {
                name: "KubePodCrashLooping".into(),
                fingerprint: "1b6e".into(),
            }),
            url: Some("http://127.0.0.1:9090/graph".into()),
        }
    }

    #[test]
    fn the_slack_message_carries_cause_evidence_step_and_alert() {
        let body = slack(&notification(Phase::Degraded));
        let text = body["text"].as_str().unwrap();
        assert!(
            text.starts_with("Root cause on Deployment shop/web: ContainerCrashLooping"),
            "{text}"
        );
        let all = body["blocks"].to_string();
        for needle in [
            "ContainerCrashLooping",
            "Pod shop/web-1",
            "lastState.terminated.exitCode=1",
            "kubectl logs -n shop web-1 --previous",
            "ReadOnly",
            "<http://127.0.0.1:9090/graph|KubePodCrashLooping>",
        ] {
            assert!(all.contains(needle), "{needle} missing in {all}");
        }
        assert_eq!(body["blocks"][0]["type"], "header");
        let resolved = slack(&notification(Phase::Healthy));
        assert!(
            resolved["text"]
                .as_str()
                .unwrap()
                .starts_with("Resolved on Deployment shop/web")
        );
    }

    #[test]
    fn the_webhook_body_is_the_notification() {
        let body = webhook(&notification(Phase::Degraded));
        assert_eq!(body["kind"], "DiagnosisNotification");
        assert_eq!(body["phase"], "Degraded");
        assert_eq!(body["rootCause"]["object"]["name"], "web-1");
        assert_eq!(body["nextStep"]["risk"], "ReadOnly");
        assert_eq!(body["alert"]["fingerprint"], "1b6e");
        assert_eq!(body["url"], "http://127.0.0.1:9090/graph");
    }
}
