//! Alertmanager's webhook payload (version 4) and the target an alert's labels name.
//! Pure: no I/O, no clock.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::api::TargetKind;

/// Why a request body is not an Alertmanager webhook payload of version 4.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The body is not JSON of the payload's shape.
    #[error("malformed payload: {0}")]
    Json(#[from] serde_json::Error),
    /// The payload's `version` is not "4".
    #[error("unsupported payload version {0:?}: only Alertmanager's version \"4\" is accepted")]
    Version(String),
}

/// The webhook payload Alertmanager POSTs to a `webhook_configs` receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// The payload version; always "4".
    pub version: String,
    /// The key of the alert group.
    #[serde(default)]
    pub group_key: String,
    /// The group's status: firing or resolved.
    #[serde(default)]
    pub status: String,
    /// The name of the receiver.
    #[serde(default)]
    pub receiver: String,
    /// Alertmanager's external URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// The alerts of the group.
    pub alerts: Vec<Alert>,
}

/// One alert of a [`Webhook`].
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// firing or resolved.
    pub status: AlertStatus,
    /// The alert's labels (`alertname`, `namespace`, `deployment`, ...).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The alert's annotations (`summary`, `description`, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    #[serde(default)]
    pub starts_at: String,
    /// When it resolved (RFC 3339; a zero time while firing).
    #[serde(default)]
    pub ends_at: String,
    /// The link to the expression that fired.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's fingerprint of the labels; computed from them when absent.
    #[serde(default)]
    pub fingerprint: String,
}

/// Whether an alert fires or has resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The alert fires.
    Firing,
    /// The alert has resolved.
    Resolved,
}

impl Alert {
    /// The alert's name (label `alertname`), or "" when it has none.
    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Alertmanager's fingerprint, or (when the payload has none) 16 hex digits of a
    /// hash of the sorted labels: the same alert always gets the same one.
    pub fn fingerprint(&self) -> String {
        let given: String = self
            .fingerprint
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(63)
            .collect();
        if !given.is_empty() {
            return given;
        }
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        for (key, value) in &self.labels {
            hash.update(key.as_bytes());
            hash.update([0xff]);
            hash.update(value.as_bytes());
            hash.update([0xff]);
        }
        hash.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Parses a request body as a version 4 payload.
pub fn parse(body: &[u8]) -> Result<Webhook, PayloadError> {
    let webhook: Webhook = serde_json::from_slice(body)?;
    if webhook.version != "4" {
        return Err(PayloadError::Version(webhook.version));
    }
    Ok(webhook)
}

/// The object an alert is about, as its labels name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlertTarget {
    /// Its kind.
    pub kind: TargetKind,
    /// Its namespace; None for a Node.
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

/// The labels that name a target, most specific first: kube-state-metrics' series
/// also carry the `service` of the exporter that was scraped and sometimes the
/// `node` a Pod runs on, so those two come last.
const TARGET_LABELS: [(&str, TargetKind); 10] = [
    ("deployment", TargetKind::Deployment),
    ("statefulset", TargetKind::StatefulSet),
    ("daemonset", TargetKind::DaemonSet),
    ("job_name", TargetKind::Job),
    ("cronjob", TargetKind::CronJob),
    ("pod", TargetKind::Pod),
    ("persistentvolumeclaim", TargetKind::PersistentVolumeClaim),
    ("ingress", TargetKind::Ingress),
    ("service", TargetKind::Service),
    ("node", TargetKind::Node),
];

/// The target `labels` name: the first of `deployment`, `statefulset`, `daemonset`,
/// `job_name`, `cronjob`, `pod`, `persistentvolumeclaim`, `ingress`, `service` (with
/// `namespace`), else `node`. None when no label names one, or a namespaced kind's
/// `namespace` is missing, or a name is not a valid object name.
pub fn target(labels: &BTreeMap<String, String>) -> Option<AlertTarget> {
    let namespace = labels
        .get("namespace")
        .map(|ns| ns.trim())
        .filter(|ns| valid_name(ns));
    for (label, kind) in TARGET_LABELS {
        let Some(name) = labels.get(label).map(|n| n.trim()) else {
            continue;
        };
        if !valid_name(name) {
            continue;
        }
        if kind == TargetKind::Node {
            return Some(AlertTarget {
                kind,
                namespace: None,
                name: name.to_owned(),
            });
        }
        let Some(namespace) = namespace else {
            continue;
        };
        return Some(AlertTarget {
            kind,
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        });
    }
    None
}

/// Whether `name` can be an object's name (a DNS subdomain: lowercase alphanumerics,
/// `-` and `.`, at most 253 bytes, alphanumeric at both ends).
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A payload as Alertmanager v0.35 sends it (notify/webhook: version 4).
    const PAYLOAD: &str = r#"{
      "receiver": "kubedx", "status": "firing", "version": "4",
      "groupKey": "{}:{alertname=\"KubePodCrashLooping\"}", "truncatedAlerts": 0,
      "groupLabels": {"alertname": "KubePodCrashLooping"},
      "commonLabels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
      "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "KubePodCrashLooping", "container": "app",
                   "job": "kube-state-metrics", "namespace": "shop",
                   "pod": "web-7d4b9c-x2x9z", "reason": "CrashLoopBackOff",
                   "service": "kube-state-metrics", "severity": "warning"},
        "annotations": {"summary": "Pod is crash looping."},
        "startsAt": "2026-12-03T12:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=x",
        "fingerprint": "1b6e4c1e2d3f4a5b"
      }]
    }"#;

    #[test]
    fn an_alertmanager_payload_parses_and_its_pod_label_wins_over_service() {
        let webhook = parse(PAYLOAD.as_bytes()).unwrap();
        assert_eq!(webhook.alerts.len(), 1);
        let alert = &webhook.alerts[0];
        assert_eq!(alert.status, AlertStatus::Firing);
        assert_eq!(alert.name(), "KubePodCrashLooping");
        assert_eq!(alert.fingerprint(), "1b6e4c1e2d3f4a5b");
        assert_eq!(
            target(&alert.labels),
            Some(AlertTarget {
                kind: TargetKind::Pod,
                namespace: Some("shop".into()),
                name: "web-7d4b9c-x2x9z".into()
            })
        );
    }

    #[test]
    fn kube_prometheus_stack_labels_name_their_workloads() {
        let cases = [
            (
                &[("namespace", "shop"), ("deployment", "web")][..],
                TargetKind::Deployment,
                "web",
            ),
            (
                &[("namespace", "shop"), ("job_name", "nightly-1")][..],
                TargetKind::Job,
                "nightly-1",
            ),
            (
                &[("namespace", "shop"), ("statefulset", "db")][..],
                TargetKind::StatefulSet,
                "db",
            ),
            (
                &[("namespace", "shop"), ("daemonset", "agent")][..],
                TargetKind::DaemonSet,
                "agent",
            ),
            (
                &[("namespace", "shop"), ("cronjob", "nightly")][..],
                TargetKind::CronJob,
                "nightly",
            ),
            (
                &[("namespace", "shop"), ("persistentvolumeclaim", "data")][..],
                TargetKind::PersistentVolumeClaim,
                "data",
            ),
            (
                &[("namespace", "shop"), ("ingress", "web")][..],
                TargetKind::Ingress,
                "web",
            ),
            (
                &[("namespace", "shop"), ("service", "web")][..],
                TargetKind::Service,
                "web",
            ),
        ];
        for (pairs, kind, name) in cases {
            let got = target(&labels(pairs)).unwrap();
            assert_eq!((got.kind, got.name.as_str()), (kind, name), "{pairs:?}");
            assert_eq!(got.namespace.as_deref(), Some("shop"));
        }
        let node = target(&labels(&[("node", "kwok-1"), ("namespace", "x")])).unwrap();
        assert_eq!(
            (node.kind, node.namespace, node.name.as_str()),
            (TargetKind::Node, None, "kwok-1")
        );
    }

    #[test]
    fn labels_that_name_no_target_give_none() {
        assert_eq!(target(&labels(&[("alertname", "Watchdog")])), None);
        // a namespaced kind without its namespace
        assert_eq!(target(&labels(&[("deployment", "web")])), None);
        // not an object name
        assert_eq!(
            target(&labels(&[("namespace", "shop"), ("pod", "Web_1")])),
            None
        );
        assert_eq!(
            target(&labels(&[("namespace", "Shop!"), ("pod", "web")])),
            None
        );
    }

    #[test]
    fn bad_payloads_say_why() {
        let err = parse(b"{not json").unwrap_err();
        assert!(err.to_string().starts_with("malformed payload: "), "{err}");
        let err = parse(br#"{"version": "3", "alerts": []}"#).unwrap_err();
        assert!(err.to_string().contains("\"3\""), "{err}");
        let err = parse(br#"{"version": "4"}"#).unwrap_err();
        assert!(err.to_string().contains("alerts"), "{err}");
        let err = parse(br#"{"version": "4", "alerts": [{"status": "pending"}]}"#).unwrap_err();
        assert!(err.to_string().contains("pending"), "{err}");
    }

    #[test]
    fn a_missing_fingerprint_is_a_stable_hash_of_the_labels() {
        let alert = |pairs: &[(&str, &str)]| Alert {
            status: AlertStatus::Firing,
            labels: labels(pairs),
            annotations: BTreeMap::new(),
            starts_at: String::new(),
            ends_at: String::new(),
            generator_url: String::new(),
            fingerprint: String::new(),
        };
        let a = alert(&[("alertname", "A"), ("pod", "p")]).fingerprint();
        assert_eq!(a.len(), 16);
        assert_eq!(a, alert(&[("pod", "p"), ("alertname", "A")]).fingerprint());
        assert_ne!(a, alert(&[("alertname", "A"), ("pod", "q")]).fingerprint());
    }
}
