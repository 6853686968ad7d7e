//! `kubedx controller` arguments and entry point.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::scope::{SecretAccess, WatchScope};
use super::{Options, own_namespace, run};

/// `kubedx controller [--metrics-addr ADDR] [--leader-election] [--admin-namespaces LIST]
/// [--alert-receiver-addr ADDR] [--alert-token-file FILE] [--notify-webhook URL]...
/// [--notify-slack URL]...`
#[derive(clap::Args, Debug, Clone)]
pub struct ControllerArgs {
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader on a Lease so several replicas can run; only the leader writes.
    #[arg(long)]
    pub leader_election: bool,
    /// Namespaces whose Diagnoses may target any namespace, Nodes and Namespaces
    /// (comma separated; default: the controller's own namespace).
    #[arg(long, value_delimiter = ',')]
    pub admin_namespaces: Vec<String>,
    /// Allow Diagnoses that enable `spec.logs` to read container logs (needs pods/log).
    #[arg(long)]
    pub allow_logs: bool,
    /// Name of the leader-election Lease (in the controller's namespace).
    #[arg(long, default_value = "kubedx-controller")]
    pub lease_name: String,
    /// Lease duration in seconds.
    #[arg(long, default_value_t = 15)]
    pub lease_duration: u64,
    /// Debounce of change-triggered re-diagnoses, in milliseconds: a Continuous
    /// diagnosis re-runs at most this long after the first change of its graph.
    #[arg(long, default_value_t = 500)]
    pub debounce_ms: u64,
    /// Kubeconfig file (default: in-cluster config, then $KUBECONFIG / ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long)]
    pub context: Option<String>,
    /// Watch only these namespaces (comma separated), plus the cluster-scoped kinds
    /// the identity may read; default: the whole cluster.
    #[arg(long, value_delimiter = ',')]
    pub watch_namespaces: Vec<String>,
    /// Secret access (metadata only): none, the namespaces of `--secret-namespaces`,
    /// or every watched namespace. Without it, references to Secrets are checked
    /// from the kubelet's evidence, otherwise reported unverified.
    #[arg(long, value_enum, default_value_t = SecretAccess::None)]
    pub secrets: SecretAccess,
    /// With `--secrets namespaces`: the namespaces whose Secrets are watched (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub secret_namespaces: Vec<String>,
    /// Address of the alert receiver, `POST /v1/alertmanager` (Alertmanager's webhook
    /// payload, version 4): each firing alert whose labels name a target gets a
    /// Diagnosis (mode Once) of it. Off unless set; needs --alert-token-file.
    #[arg(long, value_name = "ADDR")]
    pub alert_receiver_addr: Option<SocketAddr>,
    /// File holding the bearer token the alert receiver's requests must carry
    /// (`Authorization: Bearer TOKEN`).
    #[arg(long, value_name = "FILE", requires = "alert_receiver_addr")]
    pub alert_token_file: Option<PathBuf>,
    /// POST a JSON notification (kind DiagnosisNotification) to this URL on each new
    /// root cause and each resolved diagnosis (repeatable).
    #[arg(long, value_name = "URL")]
    pub notify_webhook: Vec<String>,
    /// POST a Slack incoming-webhook message (text and blocks) to this URL on each new
    /// root cause and each resolved diagnosis (repeatable).
    #[arg(long, value_name = "URL")]
    pub notify_slack: Vec<String>,
    /// Seconds after its alert resolved that an alert's Diagnosis is deleted (tests).
    #[arg(long, hide = true, default_value_t = 86_400)]
    pub alert_retention_seconds: u64,
    /// Stop when standard input closes (lets a supervising process tie our lifetime to its own).
    #[arg(long, hide = true)]
    pub exit_on_stdin_close: bool,
}

/// Runs the controller; returns the process exit code.
pub fn main(args: ControllerArgs) -> i32 {
    super::memory::tune();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return 1;
        }
    };
    let scope = match WatchScope::new(
        &args.watch_namespaces,
        args.secrets,
        &args.secret_namespaces,
    ) {
        Ok(scope) => scope,
        Err(error) => {
            eprintln!("error: {error}");
            return crate::cli::EXIT_USAGE;
        }
    };
    runtime.block_on(async move {
        let identity = std::env::var("POD_NAME")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("kubedx-{}", std::process::id()));
        let user_agent = crate::live::user_agent(&format!("controller {identity}"));
        let client = match crate::live::client_as(
            args.kubeconfig.as_deref(),
            args.context.as_deref(),
            &user_agent,
        )
        .await
        {
            Ok(client) => client,
            Err(error) => {
                eprintln!("error: {error}");
                return 1;
            }
        };
        let namespace = own_namespace();
        let mut admin: BTreeSet<String> = args
            .admin_namespaces
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if admin.is_empty() {
            admin.insert(namespace.clone());
        }
        let opts = Options {
            metrics_addr: args.metrics_addr,
            leader_election: args.leader_election,
            namespace,
            admin_namespaces: admin,
            logs_allowed: args.allow_logs,
            identity,
            lease_name: args.lease_name,
            lease_duration: args.lease_duration.max(4),
            lease_grace: (args.lease_duration / 3).max(2),
            debounce: Duration::from_millis(args.debounce_ms),
            scope,
            alerts: None,
            sinks: Vec::new(),
        };
        let alerts = match (&args.alert_receiver_addr, &args.alert_token_file) {
            (Some(addr), Some(token_file)) => Some(super::alerts::ReceiverOptions {
                addr: *addr,
                token_file: token_file.clone(),
                own_namespace: opts.namespace.clone(),
                retention: Duration::from_secs(args.alert_retention_seconds),
                watched: opts.scope.namespaces.clone(),
            }),
            (Some(_), None) => {
                eprintln!("error: --alert-receiver-addr needs --alert-token-file");
                return 2;
            }
            _ => None,
        };
        let mut sinks = Vec::new();
        for (urls, sink_type) in [
            (&args.notify_webhook, super::notify::SinkType::Webhook),
            (&args.notify_slack, super::notify::SinkType::Slack),
        ] {
            for url in urls {
                let valid = url.parse::<hyper::Uri>().ok().is_some_and(|uri| {
                    matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some()
                });
                if !valid {
                    eprintln!(
                        "error: --notify-{} {url:?} is not an http(s) URL",
                        sink_type.as_str()
                    );
                    return 2;
                }
                sinks.push(super::notify::Sink {
                    sink_type,
                    url: url.clone(),
                });
            }
        }
        let opts = Options {
            alerts,
            sinks,
            ..opts
        };
        let exit_on_stdin = args.exit_on_stdin_close;
        let shutdown = async move {
            let stdin_closed = async {
                if exit_on_stdin {
                    let _ = tokio::task::spawn_blocking(|| {
                        let mut buf = [0u8; 64];
                        use std::io::Read;
                        let mut stdin = std::io::stdin();
                        while let Ok(read) = stdin.read(&mut buf) {
                            if read == 0 {
                                break;
                            }
                        }
                    })
                    .await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = signal() => tracing::info!("signal received, shutting down"),
                _ = stdin_closed => tracing::info!("standard input closed, shutting down"),
            }
        };
        match run(client, opts, shutdown).await {
            Ok(()) => 0,
            Err(error) => {
                eprintln!("error: {error:#}");
                1
            }
        }
    })
}

async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
