//! `kubedx diagnose`: load the objects, diagnose the target(s), render, exit.

use std::collections::BTreeSet;

use super::{DiagnoseArgs, EXIT_FAIL_ON, EXIT_OK, emit, fatal, usage_error};
use crate::api::RuleSetName;
use crate::engine::{self, snapshot_now};
use crate::model::{Kind, ObjRef};
use crate::report::{self, Document};
use crate::rules::DiagnoseOptions;
use crate::snapshot;
use crate::store::Store;

/// Parses `KIND/NAME` or `KIND NAME` into a target in `namespace`.
pub fn parse_target(words: &[String], namespace: &str) -> Result<ObjRef, String> {
    let (kind, name) = match words {
        [one] => one.split_once('/').ok_or_else(|| {
            format!("target {one:?} must be KIND/NAME (e.g. deploy/web) or KIND NAME")
        })?,
        [kind, name] => (kind.as_str(), name.as_str()),
        _ => return Err("expected KIND/NAME or KIND NAME".to_owned()),
    };
    let k = Kind::parse_cli(kind).ok_or_else(|| {
        format!(
            "unknown kind {kind:?}: use deploy, sts, ds, rs, job, cj, po, svc, ing, httproute, pvc, no or ns"
        )
    })?;
    if name.is_empty() || name.contains('/') {
        return Err(format!("invalid name {name:?}"));
    }
    Ok(ObjRef::new(k, Some(namespace), name))
}

pub fn run(a: &DiagnoseArgs) -> i32 {
    let live = a.snapshots.is_empty();
    // usage first, so that a bad command line is exit 2 whatever else is wrong
    if !a.all_namespaces
        && let Err(e) = parse_target(&a.target, a.namespace.as_deref().unwrap_or("default"))
    {
        return usage_error("diagnose", e);
    }
    if live {
        return run_live(a);
    }
    if a.kubeconfig.is_some() || a.context.is_some() {
        tracing::warn!(
            "--kubeconfig and --context are ignored with --snapshot: no cluster is contacted"
        );
    }
    let target = (!a.all_namespaces).then(|| {
        parse_target(&a.target, a.namespace.as_deref().unwrap_or("default")).expect("checked above")
    });
    let mut store = Store::new();
    let stats = match snapshot::load_paths(&a.snapshots, &mut store) {
        Ok(s) => s,
        Err(e) => return fatal(format!("could not load the snapshot: {e}")),
    };
    tracing::info!(
        files = stats.files,
        documents = stats.documents,
        objects = stats.objects,
        ignored = stats.ignored,
        "snapshot loaded"
    );
    if stats.ignored > 0 {
        tracing::debug!(
            "{} object(s) of kinds kubedx does not read were ignored",
            stats.ignored
        );
    }
    // Logs shipped with a snapshot: DIR/logs/<namespace>/<pod>/<container>[.previous].log
    let log_dir = if a.logs {
        let dir = a
            .snapshots
            .iter()
            .map(|p| p.join("logs"))
            .find(|p| p.is_dir());
        if dir.is_none() {
            tracing::warn!(
                "--logs: no logs/ directory in the snapshot (logs/<namespace>/<pod>/<container>.log)"
            );
        }
        dir.map(|d| crate::rules::logs::LogDir::new(d, 200))
    } else {
        None
    };
    let now = a.now.unwrap_or_else(|| snapshot_now(&store));
    let logs = log_dir.as_ref().map(|l| l as &dyn crate::rules::LogSource);
    finish(a, &mut store, target, now, logs)
}

/// Reads the live cluster (only what the target's graph needs), then diagnoses.
fn run_live(a: &DiagnoseArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fatal(format!("cannot start the runtime: {e}")),
    };
    let spinner = Spinner::start("reading the cluster");
    let read = rt.block_on(async {
        let client = crate::live::client(a.kubeconfig.as_deref(), a.context.as_deref()).await?;
        let ns = a
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let target = if a.all_namespaces {
            None
        } else {
            Some(parse_target(&a.target, &ns).expect("checked above"))
        };
        let scope = match &target {
            Some(t) => crate::live::Scope::for_target(t),
            None => crate::live::Scope::All,
        };
        let (store, report) = crate::live::read(&client, &scope).await?;
        let logs = match (&target, a.logs) {
            (Some(t), true) => {
                let wanted = {
                    let graph = crate::graph::ObjectGraph::build(&store, t);
                    crate::live::failing_containers(&store, &graph)
                };
                match crate::live::fetch_logs(&client, wanted, 100).await {
                    Ok(l) => Some(l),
                    Err(e) => {
                        tracing::warn!("could not read logs: {e}");
                        None
                    }
                }
            }
            _ => None,
        };
        Ok::<_, crate::live::LiveError>((store, report, target, logs))
    });
    spinner.stop();
    let (mut store, report, target, logs) = match read {
        Ok(x) => x,
        Err(e) => return fatal(e),
    };
    tracing::info!(
        requests = report.requests,
        objects = report.objects,
        denied = report.denied.len(),
        "cluster read"
    );
    for (kind, reason) in &report.denied {
        tracing::warn!("cannot read {}: {reason}", kind.plural());
    }
    let now = a.now.unwrap_or_else(jiff::Timestamp::now);
    let logs = logs.as_ref().map(|l| l as &dyn crate::rules::LogSource);
    finish(a, &mut store, target, now, logs)
}

/// Diagnoses the target (or every target of `--all-namespaces`), renders, and
/// returns the exit code.
fn finish(
    a: &DiagnoseArgs,
    store: &mut Store,
    target: Option<ObjRef>,
    now: jiff::Timestamp,
    logs: Option<&dyn crate::rules::LogSource>,
) -> i32 {
    let mut options = DiagnoseOptions::new(now);
    if !a.rule_sets.is_empty() {
        options.rule_sets = a
            .rule_sets
            .iter()
            .copied()
            .collect::<BTreeSet<RuleSetName>>();
    }
    options.min_severity = a.min_severity;
    options.expected_images = a.expected_images.clone();

    let doc = match target {
        Some(t) => {
            tracing::info!(target = %t, now = %now, "diagnosing");
            Document::single(engine::diagnose(store, &t, &options, logs))
        }
        None => {
            let targets = engine::all_targets(store);
            tracing::info!(targets = targets.len(), now = %now, "diagnosing all namespaces");
            let reports = engine::diagnose_many(store, &targets, &options, logs);
            report::merge(reports, now)
        }
    };
    let style = report::table::Style::for_stdout();
    let code = emit(&report::render(&doc, a.output, &style));
    if code != EXIT_OK {
        return code;
    }
    match a.fail_on {
        Some(s) if doc.findings().iter().any(|f| f.severity >= s) => EXIT_FAIL_ON,
        _ => EXIT_OK,
    }
}

/// A progress spinner on stderr, only when stderr is a terminal.
struct Spinner {
    stop: Option<std::sync::mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start(what: &'static str) -> Spinner {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return Spinner {
                stop: None,
                handle: None,
            };
        }
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let frames = ['|', '/', '-', '\\'];
            let mut i = 0;
            loop {
                eprint!("\r{} {what}...", frames[i % frames.len()]);
                i += 1;
                if rx
                    .recv_timeout(std::time::Duration::from_millis(100))
                    .is_ok()
                {
                    break;
                }
                if i > 6000 {
                    break;
                }
            }
            eprint!("\r{}\r", " ".repeat(what.len() + 8));
        });
        Spinner {
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(words: &[&str], ns: &str) -> Result<ObjRef, String> {
        parse_target(
            &words.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            ns,
        )
    }

    #[test]
    fn targets_take_kubectl_names_any_case() {
        let d = ObjRef::namespaced(Kind::Deployment, "shop", "web");
        assert_eq!(t(&["deploy/web"], "shop").unwrap(), d);
        assert_eq!(t(&["Deployment/web"], "shop").unwrap(), d);
        assert_eq!(t(&["DEPLOY", "web"], "shop").unwrap(), d);
        assert_eq!(t(&["deployments.apps/web"], "shop").ok(), None);
        assert_eq!(t(&["deployment.apps/web"], "shop").unwrap(), d);
        // cluster-scoped kinds drop the namespace
        assert_eq!(
            t(&["no/worker-1"], "shop").unwrap(),
            ObjRef::cluster(Kind::Node, "worker-1")
        );
        assert_eq!(
            t(&["ns", "shop"], "default").unwrap(),
            ObjRef::cluster(Kind::Namespace, "shop")
        );
        for (words, kind) in [
            (["sts/x"], Kind::StatefulSet),
            (["ds/x"], Kind::DaemonSet),
            (["rs/x"], Kind::ReplicaSet),
            (["po/x"], Kind::Pod),
            (["svc/x"], Kind::Service),
            (["ing/x"], Kind::Ingress),
            (["pvc/x"], Kind::PersistentVolumeClaim),
            (["job/x"], Kind::Job),
            (["cj/x"], Kind::CronJob),
            (["cronjob/x"], Kind::CronJob),
            (["HTTPRoute/x"], Kind::HttpRoute),
        ] {
            assert_eq!(t(&words, "n").unwrap().kind, kind, "{words:?}");
        }
        assert!(
            t(&["configmap/x"], "n")
                .unwrap_err()
                .contains("unknown kind")
        );
        assert!(t(&["web"], "n").unwrap_err().contains("KIND/NAME"));
        assert!(t(&["deploy", "a/b"], "n").is_err());
        assert!(t(&["deploy/"], "n").is_err());
    }
}
