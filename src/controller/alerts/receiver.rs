//! `POST /v1/alertmanager`: the HTTP end of the receiver. It checks the bearer token,
//! the size and the payload, turns each alert into [`Work`] for its target's
//! Diagnosis and answers at once; a worker applies the work (see [`super::run`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tokio::sync::Notify;

use crate::api::TargetKind;
use crate::model::{Kind, ObjRef};

use super::super::{Cache, Metrics};
use super::diagnoses::Work;
use super::payload::{self, AlertStatus, AlertTarget};

/// The largest body accepted (1 MiB); larger ones get 413.
pub const MAX_BODY: usize = 1024 * 1024;
/// At most this many Diagnoses wait to be applied; alerts for further targets are
/// dropped (and counted) until the worker catches up.
pub const MAX_PENDING: usize = 1024;

/// The work waiting for the worker, one entry per Diagnosis (namespace, name): a
/// repeat replaces the entry, so a storm of alerts makes one apply per target.
#[derive(Default)]
pub(crate) struct Pending {
    /// The latest work of each Diagnosis.
    work: Mutex<BTreeMap<(String, String), Work>>,
    /// Wakes the worker.
    pub(crate) wake: Notify,
}

impl Pending {
    /// Queues `work`, replacing that of the same Diagnosis; false when the queue is
    /// full and the Diagnosis is not in it.
    fn push(&self, work: Work) -> bool {
        let key = (work.namespace.clone(), work.diagnosis_name());
        let mut pending = self.work.lock().expect("lock");
        if pending.len() >= MAX_PENDING && !pending.contains_key(&key) {
            return false;
        }
        pending.insert(key, work);
        drop(pending);
        self.wake.notify_one();
        true
    }

    /// Queues `work` again after its apply failed, unless newer work for the same
    /// Diagnosis arrived meanwhile (the queue's bound does not apply: it was in it).
    pub(crate) fn requeue(&self, work: Work) {
        let key = (work.namespace.clone(), work.diagnosis_name());
        self.work.lock().expect("lock").entry(key).or_insert(work);
    }

    /// Takes everything queued.
    pub(crate) fn take(&self) -> Vec<Work> {
        std::mem::take(&mut *self.work.lock().expect("lock"))
            .into_values()
            .collect()
    }
}

/// What the handler reads.
#[derive(Clone)]
pub(crate) struct ReceiverState {
    /// The bearer token requests must carry.
    pub(crate) token: Arc<str>,
    /// Where alerts go.
    pub(crate) pending: Arc<Pending>,
    /// The watch caches: a Pod's top controller.
    pub(crate) cache: Cache,
    /// `kubedx_alerts_received_total`.
    pub(crate) metrics: Metrics,
    /// The namespace of Node Diagnoses: the controller's own.
    pub(crate) own_namespace: String,
    /// The watched namespaces (`None`: all): alerts on targets elsewhere are ignored.
    pub(crate) watched: Option<std::collections::BTreeSet<String>>,
}

/// The receiver's routes.
pub(crate) fn router(state: ReceiverState) -> Router {
    Router::new()
        .route("/v1/alertmanager", post(receive))
        .with_state(state)
}

/// Counts of one payload's alerts by result.
#[derive(Debug, Default, serde::Serialize)]
struct Received {
    /// Firing alerts whose target's Diagnosis is created or refreshed.
    diagnosed: u32,
    /// Resolved alerts.
    resolved: u32,
    /// Alerts whose labels name no target, or a target in a namespace the
    /// controller does not watch.
    ignored: u32,
    /// Alerts dropped because too many Diagnoses wait.
    dropped: u32,
}

async fn receive(State(state): State<ReceiverState>, headers: HeaderMap, body: Body) -> Response {
    let count = |result: &str| {
        state
            .metrics
            .alerts_received
            .with_label_values(&[result])
            .inc()
    };
    if !authorized(&headers, &state.token) {
        count("unauthorized");
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token\n").into_response();
    }
    let too_large = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|length| length > MAX_BODY);
    let bytes = match too_large {
        true => None,
        false => axum::body::to_bytes(body, MAX_BODY).await.ok(),
    };
    let Some(bytes) = bytes else {
        count("too_large");
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {MAX_BODY} bytes\n"),
        )
            .into_response();
    };
    let webhook = match payload::parse(&bytes) {
        Ok(webhook) => webhook,
        Err(error) => {
            count("malformed");
            return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response();
        }
    };
    let mut received = Received::default();
    for alert in &webhook.alerts {
        let Some(target) = payload::target(&alert.labels) else {
            received.ignored += 1;
            continue;
        };
        if let (Some(watched), Some(namespace)) = (&state.watched, &target.namespace)
            && !watched.contains(namespace)
        {
            received.ignored += 1;
            continue;
        }
        let target = resolve(&state.cache, target);
        let work = Work {
            namespace: target
                .namespace
                .clone()
                .unwrap_or_else(|| state.own_namespace.clone()),
            target,
            alert_name: alert.name().to_owned(),
            fingerprint: alert.fingerprint(),
            url: alert.generator_url.clone(),
            status: alert.status,
        };
        if !state.pending.push(work) {
            received.dropped += 1;
        } else if alert.status == AlertStatus::Firing {
            received.diagnosed += 1;
        } else {
            received.resolved += 1;
        }
    }
    for (result, n) in [
        ("diagnosed", received.diagnosed),
        ("resolved", received.resolved),
        ("ignored", received.ignored),
        ("dropped", received.dropped),
    ] {
        state
            .metrics
            .alerts_received
            .with_label_values(&[result])
            .inc_by(u64::from(n));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(&received).unwrap_or_default(),
    )
        .into_response()
}

/// Whether the `Authorization` header is `Bearer <token>` (compared in constant time).
fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (given, token) = (given.trim().as_bytes(), token.as_bytes());
    given.len() == token.len()
        && given
            .iter()
            .zip(token)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// A Pod's top controller (its Deployment, StatefulSet, DaemonSet, CronJob or Job)
/// when the cache knows it; any other target as it is.
fn resolve(cache: &Cache, target: AlertTarget) -> AlertTarget {
    if target.kind != TargetKind::Pod {
        return target;
    }
    let pod = ObjRef::new(Kind::Pod, target.namespace.as_deref(), &target.name);
    let top = {
        let store = cache.store.read().expect("lock");
        crate::k8s::owners::top_owner(&store, &pod)
    };
    match top.kind.to_target() {
        Some(kind) => AlertTarget {
            kind,
            namespace: top.namespace.clone(),
            name: top.name.clone(),
        },
        None => target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_is_authorized() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            headers
        };
        assert!(authorized(&with("Bearer s3cret"), "s3cret"));
        assert!(!authorized(&with("Bearer s3cre"), "s3cret"));
        assert!(!authorized(&with("Bearer s3cretx"), "s3cret"));
        assert!(!authorized(&with("Basic s3cret"), "s3cret"));
        assert!(!authorized(&HeaderMap::new(), "s3cret"));
    }

    #[test]
    fn a_storm_on_one_target_is_one_pending_apply_and_the_queue_is_bounded() {
        let pending = Pending::default();
        let work = |name: &str, fingerprint: &str| Work {
            target: AlertTarget {
                kind: TargetKind::Deployment,
                namespace: Some("shop".into()),
                name: name.into(),
            },
            namespace: "shop".into(),
            alert_name: "A".into(),
            fingerprint: fingerprint.into(),
            url: String::new(),
            status: AlertStatus::Firing,
        };
        for i in 0..10_000 {
            assert!(pending.push(work("web", &format!("f{i}"))));
        }
        let taken = pending.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].fingerprint, "f9999", "the latest alert wins");
        for i in 0..MAX_PENDING {
            assert!(pending.push(work(&format!("w{i}"), "f")));
        }
        assert!(!pending.push(work("one-too-many", "f")));
        assert!(
            pending.push(work("w0", "g")),
            "a queued target is still refreshed"
        );
        assert_eq!(pending.take().len(), MAX_PENDING);
    }
}
