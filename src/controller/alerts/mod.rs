//! The alert receiver: `POST /v1/alertmanager` on `--alert-receiver-addr` takes
//! Alertmanager's webhook payload (version 4) and gives each firing alert whose
//! labels name a target a Diagnosis (mode Once) of that target.
//!
//! - `payload`: the payload and the target an alert's labels name (pure).
//! - `receiver`: the HTTP handler (token, size, payload) and the bounded queue of
//!   pending work, one entry per Diagnosis.
//! - `diagnoses`: the Diagnoses applied, refreshed and swept.
//!
//! The handler only queues; one worker applies, so a storm of alerts never holds a
//! reconcile back and makes at most one Diagnosis per target.

pub mod diagnoses;
pub mod payload;
mod receiver;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use kube::Client;
use tokio::sync::watch;

use super::{Cache, Metrics};

pub(crate) use diagnoses::refresh_pending;
pub use receiver::{MAX_BODY, MAX_PENDING};

/// How long after its alert resolved a Diagnosis is deleted.
pub const RETENTION: Duration = Duration::from_secs(24 * 3600);
/// A repeat of the same alert (same fingerprint and status) within this long of the
/// last apply of its Diagnosis is not applied again.
const MIN_REFRESH: Duration = Duration::from_secs(5);
/// How long the worker waits after an apply failed before it tries the rest again.
const RETRY: Duration = Duration::from_secs(2);

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The token file cannot be read.
    #[error("reading the alert token file {0}: {1}")]
    TokenFile(String, #[source] std::io::Error),
    /// The token file is empty.
    #[error("the alert token file {0} is empty")]
    EmptyToken(String),
    /// The address cannot be bound.
    #[error("binding the alert receiver on {0}: {1}")]
    Bind(SocketAddr, #[source] std::io::Error),
}

/// How the receiver runs.
#[derive(Clone, Debug)]
pub(crate) struct ReceiverOptions {
    /// The address of `POST /v1/alertmanager`.
    pub(crate) addr: SocketAddr,
    /// The file holding the bearer token.
    pub(crate) token_file: std::path::PathBuf,
    /// The namespace of Node Diagnoses (the controller's own).
    pub(crate) own_namespace: String,
    /// How long after its alert resolved a Diagnosis is deleted.
    pub(crate) retention: Duration,
    /// The namespaces the controller watches (`--watch-namespaces`); `None`: all.
    /// Alerts on targets elsewhere are ignored, and the sweep lists only these.
    pub(crate) watched: Option<std::collections::BTreeSet<String>>,
}

/// The running receiver.
pub(crate) struct Receiver {
    /// The address it listens on.
    pub(crate) local_addr: SocketAddr,
    /// The server, the worker and the sweeper.
    pub(crate) tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Reads the token, binds the address, and starts the server, the worker that
/// applies the queued work and the sweeper of resolved alerts' Diagnoses.
pub(crate) async fn start(
    client: Client,
    cache: Cache,
    metrics: Metrics,
    opts: ReceiverOptions,
    stop: watch::Receiver<bool>,
) -> Result<Receiver, ReceiverError> {
    let token = read_token(&opts.token_file)?;
    let pending = Arc::new(receiver::Pending::default());
    let app = receiver::router(receiver::ReceiverState {
        token: token.into(),
        pending: pending.clone(),
        cache,
        metrics,
        own_namespace: opts.own_namespace.clone(),
        watched: opts.watched.clone(),
    });
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|error| ReceiverError::Bind(opts.addr, error))?;
    let local_addr = listener
        .local_addr()
        .map_err(|error| ReceiverError::Bind(opts.addr, error))?;
    let server = super::server::serve_until_stopped(listener, app, stop, "alert receiver");
    let worker = tokio::spawn(apply_pending(client.clone(), pending));
    let sweep_in = opts.watched.clone().map(|mut namespaces| {
        namespaces.insert(opts.own_namespace.clone());
        namespaces
    });
    let sweeper = tokio::spawn(sweep_periodically(client, opts.retention, sweep_in));
    Ok(Receiver {
        local_addr,
        tasks: vec![server, worker, sweeper],
    })
}

/// The token of `path`, trimmed.
fn read_token(path: &Path) -> Result<String, ReceiverError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|error| ReceiverError::TokenFile(shown.clone(), error))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ReceiverError::EmptyToken(shown));
    }
    Ok(token.to_owned())
}

/// Applies the queued work as it comes, one Diagnosis at a time; work that fails is
/// queued again (unless newer work replaced it) and retried after [`RETRY`].
async fn apply_pending(client: Client, pending: Arc<receiver::Pending>) {
    let mut applied: HashMap<(String, String), (String, payload::AlertStatus, Instant)> =
        HashMap::new();
    loop {
        pending.wake.notified().await;
        let mut failed = false;
        for work in pending.take() {
            let key = (work.namespace.clone(), work.diagnosis_name());
            if applied.get(&key).is_some_and(|(fingerprint, status, at)| {
                *fingerprint == work.fingerprint
                    && *status == work.status
                    && at.elapsed() < MIN_REFRESH
            }) {
                continue;
            }
            match diagnoses::apply(&client, &work, Timestamp::now()).await {
                Ok(()) => {
                    tracing::info!(diagnosis = %format!("{}/{}", key.0, key.1), alert = %work.alert_name, status = ?work.status, "applied the Diagnosis of an alert");
                    applied.insert(key, (work.fingerprint.clone(), work.status, Instant::now()));
                }
                Err(error) => {
                    tracing::warn!(diagnosis = %format!("{}/{}", key.0, key.1), error = %error, "applying the Diagnosis of an alert failed; retrying");
                    failed = true;
                    pending.requeue(work);
                }
            }
        }
        applied.retain(|_, (_, _, at)| at.elapsed() < MIN_REFRESH);
        if failed {
            tokio::time::sleep(RETRY).await;
            pending.wake.notify_one();
        }
    }
}

/// How often the resolved alerts' Diagnoses are swept: every 10 minutes, or a
/// quarter of the retention when that is shorter.
fn sweep_period(retention: Duration) -> Duration {
    (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(600))
}

/// Deletes resolved alerts' Diagnoses past the retention, now and periodically.
async fn sweep_periodically(
    client: Client,
    retention: Duration,
    namespaces: Option<std::collections::BTreeSet<String>>,
) {
    let mut tick = tokio::time::interval(sweep_period(retention));
    loop {
        tick.tick().await;
        match diagnoses::sweep(&client, retention, namespaces.as_ref()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(
                deleted,
                "deleted the Diagnoses of alerts resolved a retention ago"
            ),
            Err(error) => {
                tracing::warn!(error = %error, "sweeping the Diagnoses of resolved alerts")
            }
        }
    }
}
