//! `kubedx controller`: reconciles every `Diagnosis` with the engine, fed by watch
//! caches. Status by server-side apply, Events on transitions, Prometheus metrics,
//! leader election on a Lease, graceful shutdown on SIGTERM.

pub mod alerts;
pub(crate) mod cache;
pub(crate) mod cmd;
pub mod compact;
mod debounce;
mod diagnoses;
mod memory;
pub mod metrics;
pub mod notify;
pub mod reconcile;
pub mod scope;
mod server;
mod triggers;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::Event;
use kube::{Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;

use crate::api::Diagnosis;

use cache::Cache;
use metrics::Metrics;
use reconcile::{Context, Settings};
use triggers::TriggerIndex;

/// How the controller runs.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    /// Address of `/metrics`, `/healthz` and `/readyz`.
    pub(crate) metrics_addr: SocketAddr,
    /// Lead on a Lease before reconciling, so that several replicas can run.
    pub(crate) leader_election: bool,
    /// Namespace of the Lease (and default admin namespace): the controller's own.
    pub(crate) namespace: String,
    /// Namespaces whose Diagnoses may target any namespace, Nodes and Namespaces.
    pub(crate) admin_namespaces: BTreeSet<String>,
    /// Container logs may be read for Diagnoses that enable them.
    pub(crate) logs_allowed: bool,
    /// Identity of this replica (the Pod name).
    pub(crate) identity: String,
    /// Name of the leader-election Lease.
    pub(crate) lease_name: String,
    /// Lease duration, in seconds.
    pub(crate) lease_duration: u64,
    /// How long before the lease expires the lease manager renews it, in seconds.
    pub(crate) lease_grace: u64,
    /// Debounce window of change-triggered reconciles.
    pub(crate) debounce: Duration,
    /// The namespaces and Secrets watched.
    pub(crate) scope: scope::WatchScope,
    /// The alert receiver, when `--alert-receiver-addr` is set.
    pub(crate) alerts: Option<alerts::ReceiverOptions>,
    /// Where notifications go (`--notify-webhook`, `--notify-slack`).
    pub(crate) sinks: Vec<notify::Sink>,
}

/// The controller's own namespace: `POD_NAMESPACE`, the service account's namespace
/// file, else `default`.
pub(crate) fn own_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "default".to_owned())
}

/// Runs until SIGTERM/SIGINT (or `shutdown` resolves).
pub(crate) async fn run(
    client: Client,
    opts: Options,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let cache = Cache::new();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let server = server::serve(
        opts.metrics_addr,
        metrics.clone(),
        cache.clone(),
        stop_rx.clone(),
    )
    .await?;
    tracing::info!(addr = %server.local_addr, "serving /metrics, /healthz, /readyz");
    // bound before the caches sync, so that it serves once /readyz says ready
    let receiver = match opts.alerts.clone() {
        Some(receiver) => {
            let receiver = alerts::start(
                client.clone(),
                cache.clone(),
                metrics.clone(),
                receiver,
                stop_rx.clone(),
            )
            .await?;
            tracing::info!(addr = %receiver.local_addr, "serving POST /v1/alertmanager");
            receiver.tasks
        }
        None => Vec::new(),
    };
    let mut watches = cache
        .start(client.clone(), metrics.clone(), &opts.scope)
        .await;
    watches.extend(receiver);
    watches.push(tokio::spawn(memory::trim_periodically()));
    let reporter = Reporter {
        controller: "kubedx".into(),
        instance: Some(opts.identity.clone()),
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        cache: cache.clone(),
        metrics: metrics.clone(),
        recorder: Recorder::new(client.clone(), reporter),
        settings: Settings {
            admin_namespaces: opts.admin_namespaces.clone(),
            logs_allowed: opts.logs_allowed,
            watched_namespaces: opts.scope.namespaces.clone(),
        },
        triggers: Arc::new(Mutex::new(TriggerIndex::default())),
        notifier: notify::Notifier::start(opts.sinks.clone(), &metrics)?,
    });
    let result = if opts.leader_election {
        run_with_leader_election(client, opts, ctx, stop_rx).await
    } else {
        run_controller(client, opts, ctx, stop_rx).await;
        Ok(())
    };
    for watch_task in watches {
        watch_task.abort();
    }
    server.task.abort();
    result
}

async fn run_with_leader_election(
    client: Client,
    opts: Options,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let manager = kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &opts.lease_name)
        .with_namespace(&opts.namespace)
        .with_identity(&opts.identity)
        .with_duration(opts.lease_duration)
        .with_grace(opts.lease_grace)
        .build()
        .await?;
    let (mut leader, task) = manager.watch().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), &opts.namespace);
    loop {
        // wait to lead (or stop)
        while !*leader.borrow_and_update() {
            tokio::select! {
                r = leader.changed() => if r.is_err() { return Ok(()) },
                _ = stop.changed() => { drop(leader); let _ = task.await; return Ok(()); }
            }
        }
        // The lease manager keeps believing it leads while the API is unreachable;
        // lead only on a Lease that says so and is fresh.
        let confirmed = tokio::select! {
            c = confirm_lease(&leases, &opts) => c,
            r = leader.changed() => { if r.is_err() { return Ok(()) } continue; }
            _ = stop.changed() => { drop(leader); let _ = task.await; return Ok(()); }
        };
        tracing::info!(identity = %opts.identity, "became leader");
        // lead until the lease is lost or we stop
        let (lost_tx, lost_rx) = watch::channel(false);
        let mut still_leader = leader.clone();
        let lost_by_manager = lost_tx.clone();
        let watcher_task = tokio::spawn(async move {
            loop {
                if still_leader.changed().await.is_err() || !*still_leader.borrow() {
                    let _ = lost_by_manager.send(true);
                    return;
                }
            }
        });
        let checker = tokio::spawn(check_lease(
            leases.clone(),
            opts.clone(),
            confirmed,
            lost_tx,
        ));
        let combined = merge_stops(stop.clone(), lost_rx);
        run_controller(client.clone(), opts.clone(), ctx.clone(), combined).await;
        watcher_task.abort();
        checker.abort();
        if *stop.borrow() {
            drop(leader);
            // releases the lease so a follower takes over at once
            let _ = task.await;
            return Ok(());
        }
        tracing::warn!(identity = %opts.identity, "lost leadership");
        // the new leader owns the Diagnoses now: stop exporting their series
        ctx.metrics.forget_all();
        let mut triggers = ctx.triggers.lock().expect("lock");
        *triggers = TriggerIndex::default();
        ctx.metrics.set_tracked(0);
        drop(triggers);
    }
}

/// When our hold on the Lease expires (local clock), if the Lease names us as holder.
async fn lease_expiry(leases: &Api<Lease>, opts: &Options) -> Result<Option<Instant>, kube::Error> {
    let lease = leases.get(&opts.lease_name).await?;
    let Some(spec) = lease.spec else {
        return Ok(None);
    };
    if spec.holder_identity.as_deref() != Some(opts.identity.as_str()) {
        return Ok(None);
    }
    let Some(renewed) = spec.renew_time.map(|t| t.0) else {
        return Ok(None);
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(0));
    let expires = renewed.as_millisecond() + duration * 1000;
    let left = expires - jiff::Timestamp::now().as_millisecond();
    Ok((left > 0).then(|| Instant::now() + Duration::from_millis(left as u64)))
}

/// Waits until the Lease names us as holder and is fresh; returns its expiry.
async fn confirm_lease(leases: &Api<Lease>, opts: &Options) -> Instant {
    loop {
        match lease_expiry(leases, opts).await {
            Ok(Some(expiry)) if expiry > Instant::now() + LEASE_MARGIN => return expiry,
            Ok(_) => {}
            Err(error) => tracing::debug!(error = %error, "reading the lease"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Steps down (sends on `lost`) shortly before our hold on the Lease would expire
/// unless a renewal is seen: with the API unreachable the lease manager cannot tell,
/// and another replica may take over once the API is back.
async fn check_lease(
    leases: Api<Lease>,
    opts: Options,
    mut expiry: Instant,
    lost: watch::Sender<bool>,
) {
    loop {
        tokio::time::sleep(LEASE_CHECK).await;
        match lease_expiry(&leases, &opts).await {
            Ok(Some(renewed_expiry)) => expiry = renewed_expiry,
            Ok(None) => {
                tracing::warn!(identity = %opts.identity, "the Lease names another holder or expired");
                let _ = lost.send(true);
                return;
            }
            Err(error) => tracing::debug!(error = %error, "reading the lease"),
        }
        if Instant::now() + LEASE_MARGIN >= expiry {
            tracing::warn!(identity = %opts.identity, "lease not renewed in time: stepping down");
            let _ = lost.send(true);
            return;
        }
    }
}

/// Stop leading this long before the lease would expire (more than a check period
/// plus a request; less than the lease manager's grace, when it renews).
const LEASE_MARGIN: Duration = Duration::from_millis(1000);
/// How often the leader reads its Lease.
const LEASE_CHECK: Duration = Duration::from_millis(500);

/// A stop that turns true when either of two does (or either's sender is gone).
fn merge_stops(
    mut first: watch::Receiver<bool>,
    mut second: watch::Receiver<bool>,
) -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(*first.borrow() || *second.borrow());
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = first.changed() => if changed.is_err() || *first.borrow() { let _ = tx.send(true); return; },
                changed = second.changed() => if changed.is_err() || *second.borrow() { let _ = tx.send(true); return; },
            }
        }
    });
    rx
}

/// Runs the Diagnosis controller until `stop` turns true.
async fn run_controller(
    client: Client,
    opts: Options,
    ctx: Arc<Context>,
    mut stop: watch::Receiver<bool>,
) {
    ctx.cache.wait_synced().await;
    tracing::info!("caches synced; reconciling");
    // Diagnoses are watched where they can be served: everywhere if the identity may,
    // else in the watched and the admin namespaces
    let served: BTreeSet<String> = opts
        .scope
        .namespaces
        .iter()
        .flatten()
        .chain(&opts.admin_namespaces)
        .cloned()
        .collect();
    let diagnosis_events = diagnoses::watch(client, &served).await;
    let (reader, writer) = reflector::store::<Diagnosis>();
    let metrics = ctx.metrics.clone();
    let ctx_for_delete = ctx.clone();
    let stream = reflector(writer, diagnosis_events)
    .default_backoff()
    .inspect(move |ev| {
        if let Ok(Event::Delete(deleted)) = ev {
            let ns = deleted.namespace().unwrap_or_default();
            tracing::debug!(diagnosis = %format!("{ns}/{}", deleted.name_any()), "deleted; forgetting it");
            metrics.forget(&ns, &deleted.name_any(), deleted.metadata.uid.as_deref());
            ctx_for_delete.untrack(&ObjectRef::from_obj(deleted));
        }
    })
    .applied_objects();
    let (tx, rx) = mpsc::channel::<ObjectRef<Diagnosis>>(4096);
    let forward = tokio::spawn(triggers::forward_changes(
        ctx.cache.clone(),
        ctx.triggers.clone(),
        tx,
        opts.debounce,
    ));
    let gc = tokio::spawn(collect_garbage(reader.clone(), ctx.clone()));
    let shutdown = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    Controller::for_stream(stream, reader)
        .with_config(
            // no debounce here: kube-runtime's restarts with every request, so under
            // a steady stream of changes a diagnosis would wait for a lull; changes
            // are debounced with a bounded delay by forward_changes instead
            ControllerConfig::default().concurrency(8),
        )
        .reconcile_on(ReceiverStream::new(rx))
        .graceful_shutdown_on(shutdown)
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
    forward.abort();
    gc.abort();
}

/// How often series and triggers are checked against the Diagnoses that exist.
const GC_PERIOD: Duration = Duration::from_secs(15);

/// Series and triggers of Diagnoses deleted while a watch was down (no Delete event
/// seen) are dropped periodically.
async fn collect_garbage(reader: reflector::Store<Diagnosis>, ctx: Arc<Context>) {
    // before the first list, every Diagnosis would look deleted
    if reader.wait_until_ready().await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(GC_PERIOD);
    loop {
        tick.tick().await;
        let live: std::collections::HashSet<ObjectRef<Diagnosis>> = reader
            .state()
            .iter()
            .map(|d| ObjectRef::from_obj(d.as_ref()))
            .collect();
        let stale: Vec<ObjectRef<Diagnosis>> = ctx
            .triggers
            .lock()
            .expect("lock")
            .all()
            .into_iter()
            .filter(|diagnosis| !live.contains(diagnosis))
            .collect();
        {
            let mut triggers = ctx.triggers.lock().expect("lock");
            for diagnosis in stale {
                tracing::debug!(%diagnosis, "gone without a Delete event; forgetting its triggers");
                triggers.forget(&diagnosis);
            }
            ctx.metrics.set_tracked(triggers.len());
        }
        for (ns, name) in ctx.metrics.known() {
            let diagnosis = ObjectRef::<Diagnosis>::new(&name).within(&ns);
            if !live.contains(&diagnosis) {
                tracing::debug!(%diagnosis, "gone without a Delete event; forgetting its series");
                ctx.metrics.forget(&ns, &name, None);
            }
        }
    }
}

use kube::runtime::reflector::reflector;
