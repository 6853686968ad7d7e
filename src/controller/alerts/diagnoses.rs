//! The Diagnoses alerts make: one per target, named after it, applied (server-side)
//! by the field manager `kubedx-alerts`; refreshed when its alert repeats or
//! resolves; deleted a retention after its alert resolved.

use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::api::{Diagnosis, DiagnosisStatus, TargetKind};

use super::payload::{AlertStatus, AlertTarget};

/// The label holding the fingerprint of the alert that made (or last refreshed) a
/// Diagnosis.
pub const FINGERPRINT_LABEL: &str = "kubedx.io/alert-fingerprint";
/// The annotation holding the alert's name.
pub const ALERT_NAME: &str = "kubedx.io/alert-name";
/// The annotation holding the alert's `generatorURL`.
pub const ALERT_URL: &str = "kubedx.io/alert-url";
/// The annotation holding the alert's status: firing or resolved.
pub const ALERT_STATUS: &str = "kubedx.io/alert-status";
/// The annotation holding when the alert resolved (RFC 3339).
pub const RESOLVED_AT: &str = "kubedx.io/alert-resolved-at";
/// The annotation asking a Once Diagnosis to run again (RFC 3339): it does when this
/// is later than its `status.lastDiagnosedTime`.
pub const REFRESH_REQUESTED: &str = "kubedx.io/refresh-requested";
/// The field manager of the Diagnoses alerts make.
const FIELD_MANAGER: &str = "kubedx-alerts";

/// What an alert asks of its target's Diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    /// The Diagnosis's target (a Pod already resolved to its top controller).
    pub target: AlertTarget,
    /// The namespace of the Diagnosis: the target's, or for a Node the controller's.
    pub namespace: String,
    /// The alert's name.
    pub alert_name: String,
    /// The alert's fingerprint.
    pub fingerprint: String,
    /// The alert's `generatorURL`.
    pub url: String,
    /// Firing or resolved.
    pub status: AlertStatus,
}

impl Work {
    /// The name of the Diagnosis: `alert-<kind>-<target name>`, cut to 253 bytes with
    /// a hash of the whole when longer.
    pub fn diagnosis_name(&self) -> String {
        let kind = target_kind_name(self.target.kind).to_ascii_lowercase();
        let full = format!("alert-{kind}-{}", self.target.name);
        if full.len() <= 253 {
            return full;
        }
        use sha2::{Digest, Sha256};
        let hash: String = Sha256::digest(full.as_bytes())[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let head = full[..243].trim_end_matches(['-', '.']);
        format!("{head}-{hash}")
    }

    /// The object applied for this work at `now`.
    fn manifest(&self, now: Timestamp) -> serde_json::Value {
        let mut annotations = json!({
            ALERT_NAME: self.alert_name,
            ALERT_STATUS: match self.status {
                AlertStatus::Firing => "firing",
                AlertStatus::Resolved => "resolved",
            },
            REFRESH_REQUESTED: now.to_string(),
        });
        if !self.url.is_empty() {
            annotations[ALERT_URL] = json!(self.url);
        }
        if self.status == AlertStatus::Resolved {
            annotations[RESOLVED_AT] = json!(now.to_string());
        }
        let mut target = json!({
            "kind": target_kind_name(self.target.kind),
            "name": self.target.name,
        });
        if let Some(namespace) = &self.target.namespace {
            target["namespace"] = json!(namespace);
        }
        json!({
            "apiVersion": "kubedx.io/v1alpha1",
            "kind": "Diagnosis",
            "metadata": {
                "name": self.diagnosis_name(),
                "namespace": self.namespace,
                "labels": {FINGERPRINT_LABEL: self.fingerprint},
                "annotations": annotations,
            },
            "spec": {"target": target, "mode": "Once"},
        })
    }
}

/// The kind's name as the CRD spells it.
fn target_kind_name(kind: TargetKind) -> &'static str {
    crate::model::Kind::from_target(kind).name()
}

/// Applies `work`: a firing alert creates its target's Diagnosis or refreshes it; a
/// resolved one marks it resolved (and refreshes it, so it sees the recovery), when
/// the Diagnosis exists and was made by that alert.
pub async fn apply(client: &Client, work: &Work, now: Timestamp) -> Result<(), kube::Error> {
    let api: Api<Diagnosis> = Api::namespaced(client.clone(), &work.namespace);
    let name = work.diagnosis_name();
    if work.status == AlertStatus::Resolved {
        let Some(existing) = api.get_opt(&name).await? else {
            return Ok(());
        };
        if existing.labels().get(FINGERPRINT_LABEL) != Some(&work.fingerprint) {
            return Ok(());
        }
    }
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&work.manifest(now)),
    )
    .await?;
    Ok(())
}

/// Whether `diagnosis` asks to run again: its [`REFRESH_REQUESTED`] annotation is
/// later than the last time it was diagnosed (`prev`).
pub(crate) fn refresh_pending(diagnosis: &Diagnosis, prev: &DiagnosisStatus) -> bool {
    let Some(requested) = diagnosis
        .annotations()
        .get(REFRESH_REQUESTED)
        .and_then(|t| t.parse::<Timestamp>().ok())
    else {
        return false;
    };
    match prev
        .last_diagnosed_time
        .as_deref()
        .and_then(|t| t.parse::<Timestamp>().ok())
    {
        Some(diagnosed) => requested > diagnosed,
        None => true,
    }
}

/// Whether `diagnosis` is one whose alert resolved longer than `retention` before `now`.
pub fn expired(diagnosis: &Diagnosis, now: Timestamp, retention: Duration) -> bool {
    if !diagnosis.labels().contains_key(FINGERPRINT_LABEL)
        || diagnosis
            .annotations()
            .get(ALERT_STATUS)
            .map(String::as_str)
            != Some("resolved")
    {
        return false;
    }
    let Some(resolved) = diagnosis
        .annotations()
        .get(RESOLVED_AT)
        .and_then(|t| t.parse::<Timestamp>().ok())
    else {
        return false;
    };
    let age = now.duration_since(resolved);
    age.as_secs_f64() >= retention.as_secs_f64()
}

/// Deletes the alert-made Diagnoses whose alert resolved more than `retention` ago,
/// in `namespaces` (`None`: the whole cluster; a Role-only install may list them
/// only where it has a Role); returns how many.
pub async fn sweep(
    client: &Client,
    retention: Duration,
    namespaces: Option<&std::collections::BTreeSet<String>>,
) -> Result<usize, kube::Error> {
    let params = ListParams::default().labels(FINGERPRINT_LABEL);
    let mut items = Vec::new();
    match namespaces {
        None => items.extend(
            Api::<Diagnosis>::all(client.clone())
                .list(&params)
                .await?
                .items,
        ),
        Some(namespaces) => {
            for namespace in namespaces {
                let api: Api<Diagnosis> = Api::namespaced(client.clone(), namespace);
                items.extend(api.list(&params).await?.items);
            }
        }
    }
    let now = Timestamp::now();
    let mut deleted = 0;
    for diagnosis in items.iter().filter(|d| expired(d, now, retention)) {
        let namespaced: Api<Diagnosis> =
            Api::namespaced(client.clone(), &diagnosis.namespace().unwrap_or_default());
        match namespaced
            .delete(&diagnosis.name_any(), &DeleteParams::default())
            .await
        {
            Ok(_) => deleted += 1,
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(error) => return Err(error),
        }
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(kind: TargetKind, name: &str, status: AlertStatus) -> Work {
        Work {
            target: AlertTarget {
                kind,
                namespace: Some("shop".into()),
                name: name.into(),
            },
            namespace: "shop".into(),
            alert_name: "KubeDeploymentReplicasMismatch".into(),
            fingerprint: "abc123".into(),
            url: "http://127.0.0.1:9090/graph".into(),
            status,
        }
    }

    #[test]
    fn one_name_per_target_within_the_limit() {
        let w = work(TargetKind::Deployment, "web", AlertStatus::Firing);
        assert_eq!(w.diagnosis_name(), "alert-deployment-web");
        let long = "a".repeat(253);
        let name = work(
            TargetKind::PersistentVolumeClaim,
            &long,
            AlertStatus::Firing,
        )
        .diagnosis_name();
        assert!(name.len() <= 253, "{}", name.len());
        assert!(name.starts_with("alert-persistentvolumeclaim-aaa"));
        let other = work(
            TargetKind::PersistentVolumeClaim,
            &format!("{}b", &long[1..]),
            AlertStatus::Firing,
        );
        assert_ne!(name, other.diagnosis_name());
    }

    #[test]
    fn the_manifest_is_a_once_diagnosis_owned_by_nothing() {
        let now: Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
        let m = work(TargetKind::Deployment, "web", AlertStatus::Firing).manifest(now);
        assert_eq!(m["spec"]["mode"], "Once");
        assert_eq!(
            m["spec"]["target"],
            json!({"kind": "Deployment", "name": "web", "namespace": "shop"})
        );
        assert_eq!(m["metadata"]["labels"][FINGERPRINT_LABEL], "abc123");
        assert!(m["metadata"].get("ownerReferences").is_none());
        assert!(m["metadata"]["annotations"].get(RESOLVED_AT).is_none());
        let diagnosis: Diagnosis = serde_json::from_value(m).unwrap();
        assert_eq!(diagnosis.spec.target.kind, TargetKind::Deployment);
        let resolved = work(TargetKind::Deployment, "web", AlertStatus::Resolved).manifest(now);
        assert_eq!(
            resolved["metadata"]["annotations"][RESOLVED_AT],
            "2026-12-03T12:00:00Z"
        );
        assert_eq!(
            resolved["metadata"]["annotations"][ALERT_STATUS],
            "resolved"
        );
    }

    #[test]
    fn expiry_and_refresh_follow_the_annotations() {
        let now: Timestamp = "2026-12-03T12:00:00Z".parse().unwrap();
        let resolved_at: Timestamp = "2026-12-02T11:00:00Z".parse().unwrap();
        let mut d: Diagnosis = serde_json::from_value(
            work(TargetKind::Deployment, "web", AlertStatus::Resolved).manifest(resolved_at),
        )
        .unwrap();
        let day = Duration::from_secs(24 * 3600);
        assert!(expired(&d, now, day));
        assert!(!expired(&d, "2026-12-03T10:00:00Z".parse().unwrap(), day));
        d.annotations_mut()
            .insert(ALERT_STATUS.into(), "firing".into());
        assert!(!expired(&d, now, day), "a firing alert's Diagnosis stays");

        let mut prev = DiagnosisStatus::default();
        assert!(refresh_pending(&d, &prev), "never diagnosed");
        prev.last_diagnosed_time = Some("2026-12-02T11:00:01Z".into());
        assert!(!refresh_pending(&d, &prev), "diagnosed after the request");
        prev.last_diagnosed_time = Some("2026-12-02T10:59:59Z".into());
        assert!(refresh_pending(&d, &prev));
        d.annotations_mut().remove(REFRESH_REQUESTED);
        assert!(!refresh_pending(&d, &prev), "no request, no refresh");
    }
}
