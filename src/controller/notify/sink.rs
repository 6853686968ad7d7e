//! Delivery: each sink has a bounded queue and one sender that POSTs its
//! notifications in order, retrying a failed POST with exponential backoff, and
//! counts every outcome in `kubedx_notifications_total{sink_type,result}`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;

use super::super::Metrics;
use super::{Notification, format};

/// How many notifications wait for one sink; more are dropped.
pub const QUEUE: usize = 256;
/// Attempts of one POST before it is given up.
pub const ATTEMPTS: u32 = 5;
/// The wait before the first retry; it doubles with each retry, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How long one attempt may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Why the sinks' HTTP client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The TLS configuration failed.
    #[error("configuring TLS for the notification sinks: {0}")]
    Tls(#[source] rustls::Error),
}

/// The format a sink takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkType {
    /// `--notify-webhook`: the [`Notification`] as JSON.
    Webhook,
    /// `--notify-slack`: Slack's incoming-webhook message.
    Slack,
}

impl SinkType {
    /// The value of the `sink_type` label.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkType::Webhook => "webhook",
            SinkType::Slack => "slack",
        }
    }
}

/// One sink: where notifications go and in which format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sink {
    /// Its format.
    pub sink_type: SinkType,
    /// The URL POSTed to.
    pub url: String,
}

/// The client every sink shares: HTTP, or HTTPS with the system's roots.
type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The HTTP(S) client of the sinks. Without system roots, HTTPS sinks fail (and are
/// counted) while HTTP ones work.
pub(crate) fn http_client() -> Result<HttpClient, SinkError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_provider_and_native_roots(provider.clone()) {
        Ok(builder) => builder,
        Err(error) => {
            tracing::warn!(error = %error, "no system TLS roots: HTTPS notification sinks will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(SinkError::Tls)?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// A sink's queue; clones share it.
#[derive(Clone)]
pub(crate) struct Queue {
    /// Its format (and label).
    sink_type: SinkType,
    /// The sender's end.
    tx: mpsc::Sender<Notification>,
    /// The counters.
    metrics: Metrics,
}

impl Queue {
    /// Starts the sender of `sink`.
    pub(crate) fn start(sink: Sink, client: HttpClient, metrics: Metrics) -> Queue {
        let (tx, rx) = mpsc::channel(QUEUE);
        let sink_type = sink.sink_type;
        tokio::spawn(send_all(sink, client, metrics.clone(), rx));
        Queue {
            sink_type,
            tx,
            metrics,
        }
    }

    /// Queues `notification` without waiting; a full queue drops it (counted).
    pub(crate) fn push(&self, notification: &Notification) {
        if self.tx.try_send(notification.clone()).is_err() {
            self.count("dropped");
        }
    }

    fn count(&self, result: &str) {
        self.metrics
            .notifications
            .with_label_values(&[self.sink_type.as_str(), result])
            .inc();
    }
}

/// The wait before retry `retry` (1 for the first): [`FIRST_BACKOFF`] doubled each
/// time, at most [`MAX_BACKOFF`].
pub fn backoff(retry: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// Sends the queued notifications of `sink` one after the other.
async fn send_all(
    sink: Sink,
    client: HttpClient,
    metrics: Metrics,
    mut rx: mpsc::Receiver<Notification>,
) {
    let count = |result: &str| {
        metrics
            .notifications
            .with_label_values(&[sink.sink_type.as_str(), result])
            .inc()
    };
    while let Some(notification) = rx.recv().await {
        let body = match sink.sink_type {
            SinkType::Webhook => format::webhook(&notification),
            SinkType::Slack => format::slack(&notification),
        };
        let body = Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
        let mut attempt = 1;
        loop {
            match post(&client, &sink.url, body.clone()).await {
                Ok(()) => {
                    count("sent");
                    tracing::debug!(sink = sink.sink_type.as_str(), diagnosis = %notification.diagnosis.name, "notification sent");
                    break;
                }
                Err(error) if attempt >= ATTEMPTS => {
                    count("failed");
                    tracing::warn!(sink = sink.sink_type.as_str(), error = %error, attempts = attempt, "notification given up");
                    break;
                }
                Err(error) => {
                    count("retried");
                    tracing::debug!(sink = sink.sink_type.as_str(), error = %error, attempt, "notification failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// One POST of `body` to `url`, within [`TIMEOUT`]; Ok on a 2xx answer.
async fn post(client: &HttpClient, url: &str, body: Bytes) -> Result<(), String> {
    let request = Request::post(url)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "kubedx")
        .body(Full::new(body))
        .map_err(|error| format!("bad URL: {error}"))?;
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("no answer within {TIMEOUT:?}"))?
        .map_err(|error| error.to_string())?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(4), Duration::from_secs(2));
        assert_eq!(backoff(7), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
