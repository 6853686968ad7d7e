//! Stage 2, read logs: the last lines of the target's failing containers, for the
//! rules that read them, when the spec enables `spec.logs` and the controller runs
//! with `--allow-logs`. Logs that cannot be read do not fail the reconcile: the
//! diagnosis goes on without them and its `Logs` condition says why.

use kube::Client;

use crate::api::Diagnosis;
use crate::graph::ObjectGraph;
use crate::live::FetchedLogs;
use crate::model::ObjRef;
use crate::text::clip;

use super::super::cache::Cache;
use super::super::metrics::ErrorKind;
use super::Context;

/// How many lines of each container are read when `spec.logs.tailLines` is not set.
const DEFAULT_TAIL_LINES: i64 = 50;

/// What the stage read, and the `Logs` condition that tells the user.
pub(crate) struct LogsRead {
    /// The logs read, for the rules; none when none were wanted, allowed or readable.
    pub(crate) logs: Option<FetchedLogs>,
    /// The `Logs` condition; none when the spec does not enable logs.
    pub(crate) condition: Option<LogsCondition>,
}

/// The `Logs` condition of the status.
pub(crate) struct LogsCondition {
    /// `True` when the logs were read, else `False`.
    pub(crate) status: &'static str,
    /// `LogsRead`, `LogsNotAllowed` or `LogsUnreadable`.
    pub(crate) reason: &'static str,
    /// What was read, or why nothing was.
    pub(crate) message: String,
}

/// Why the logs could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadLogsError {
    /// The API refused or failed a log request.
    #[error("reading container logs failed: {0}")]
    Fetch(#[source] kube::Error),
}

impl ReadLogsError {
    /// The error's kind in the metrics.
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            ReadLogsError::Fetch(_) => ErrorKind::Logs,
        }
    }
}

/// Reads the logs of the failing containers of `target`'s graph, if the spec wants
/// them and the controller allows it.
pub(crate) async fn read_logs(ctx: &Context, diagnosis: &Diagnosis, target: &ObjRef) -> LogsRead {
    let Some(spec) = diagnosis.spec.logs.as_ref().filter(|logs| logs.enabled) else {
        return LogsRead {
            logs: None,
            condition: None,
        };
    };
    if !ctx.settings.logs_allowed {
        return LogsRead {
            logs: None,
            condition: Some(LogsCondition {
                status: "False",
                reason: "LogsNotAllowed",
                message: "spec.logs.enabled is set, but this controller runs without --allow-logs: no container log was read".to_owned(),
            }),
        };
    }
    let tail_lines = spec.tail_lines.unwrap_or(DEFAULT_TAIL_LINES);
    match fetch(&ctx.client, &ctx.cache, target, tail_lines).await {
        Ok((logs, containers)) => LogsRead {
            logs: Some(logs),
            condition: Some(LogsCondition {
                status: "True",
                reason: "LogsRead",
                message: format!("read the logs of {containers} failing container(s)"),
            }),
        },
        Err(error) => {
            let ReadLogsError::Fetch(source) = &error;
            tracing::warn!(error = %source, "reading logs failed");
            ctx.metrics.error(error.kind());
            LogsRead {
                logs: None,
                condition: Some(LogsCondition {
                    status: "False",
                    reason: "LogsUnreadable",
                    message: clip(&error.to_string(), 1024),
                }),
            }
        }
    }
}

/// Fetches the last `tail_lines` of each failing container of `target`'s graph in
/// the cache; returns them with how many containers were read.
async fn fetch(
    client: &Client,
    cache: &Cache,
    target: &ObjRef,
    tail_lines: i64,
) -> Result<(FetchedLogs, usize), ReadLogsError> {
    let wanted = {
        let store = cache.store.read().expect("lock");
        let graph = ObjectGraph::build(&store, target);
        crate::live::failing_containers(&store, &graph)
    };
    let containers = wanted.len();
    let logs = crate::live::fetch_logs(client, wanted, tail_lines)
        .await
        .map_err(ReadLogsError::Fetch)?;
    Ok((logs, containers))
}
