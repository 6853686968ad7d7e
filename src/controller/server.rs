//! `/metrics`, `/healthz` and `/readyz` (ready once every watch cache has synced).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use super::{Cache, Metrics};

/// What the handlers read.
#[derive(Clone)]
struct AppState {
    /// Rendered by `/metrics`.
    metrics: Metrics,
    /// Whether its watches have synced, for `/readyz`.
    cache: Cache,
}

/// The running server.
pub(crate) struct Server {
    /// The address it listens on (the port chosen when `addr` named port 0).
    pub(crate) local_addr: SocketAddr,
    /// The task that serves; it ends when `stop` turns true.
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// Binds `addr` and serves until `stop` turns true.
pub(crate) async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    cache: Cache,
    stop: watch::Receiver<bool>,
) -> std::io::Result<Server> {
    let app = Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready_handler))
        .with_state(AppState { metrics, cache });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    let task = serve_until_stopped(listener, app, stop, "metrics server");
    Ok(Server { local_addr, task })
}

/// Serves `app` on `listener` until `stop` turns true (or its sender is gone),
/// letting requests in flight finish; a failure is logged as `what` failed.
pub(crate) fn serve_until_stopped(
    listener: tokio::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
    what: &'static str,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = async move {
            while !*stop.borrow() {
                if stop.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %error, "{what} failed");
        }
    })
}

/// `/metrics`: the text exposition format.
async fn metrics_handler(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// `/readyz`: 200 once every watch cache has synced, 503 before.
async fn ready_handler(State(state): State<AppState>) -> impl IntoResponse {
    if state.cache.is_synced() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "caches not synced")
    }
}
