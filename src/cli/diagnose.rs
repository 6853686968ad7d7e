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
    let target_kind = Kind::parse_cli(kind).ok_or_else(|| {
        format!(
            "unknown kind {kind:?}: use deploy, sts, ds, rs, job, cj, po, svc, ing, httproute, pvc, no or ns"
        )
    })?;
    if name.is_empty() || name.contains('/') {
        return Err(format!("invalid name {name:?}"));
    }
    Ok(ObjRef::new(target_kind, Some(namespace), name))
}

pub fn run(args: &DiagnoseArgs) -> i32 {
    let live = args.snapshots.is_empty();
    // usage first, so that a bad command line is exit 2 whatever else is wrong
    if !args.all_namespaces
        && let Err(error) =
            parse_target(&args.target, args.namespace.as_deref().unwrap_or("default"))
    {
        return usage_error("diagnose", error);
    }
    if live {
        return run_live(args);
    }
    if args.kubeconfig.is_some() || args.context.is_some() {
        tracing::warn!(
            "--kubeconfig and --context are ignored with --snapshot: no cluster is contacted"
        );
    }
    let target = (!args.all_namespaces).then(|| {
        parse_target(&args.target, args.namespace.as_deref().unwrap_or("default"))
            .expect("checked above")
    });
    let mut store = Store::new();
    let stats = match snapshot::load_paths(&args.snapshots, &mut store) {
        Ok(stats) => stats,
        Err(error) => return fatal(format!("could not load the snapshot: {error}")),
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
    let log_dir = if args.logs {
        let dir = args
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
    let now = args.now.unwrap_or_else(|| snapshot_now(&store));
    let logs = log_dir.as_ref().map(|l| l as &dyn crate::rules::LogSource);
    finish(args, &mut store, target, now, logs)
}

/// Reads the live cluster (only what the target's graph needs), then diagnoses.
fn run_live(args: &DiagnoseArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(error) => return fatal(format!("cannot start the runtime: {error}")),
    };
    let spinner = Spinner::start("reading the cluster");
    let read = rt.block_on(async {
        let client =
            crate::live::client(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
        let ns = args
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_owned());
        let target = if args.all_namespaces {
            None
        } else {
            Some(parse_target(&args.target, &ns).expect("checked above"))
        };
        let scope = match &target {
            Some(target_ref) => crate::live::Scope::for_target(target_ref),
            None => crate::live::Scope::All,
        };
        let (store, report) = crate::live::read(&client, &scope).await?;
        let logs = match (&target, args.logs) {
            (Some(target_ref), true) => {
                let wanted = {
                    let graph = crate::graph::ObjectGraph::build(&store, target_ref);
                    crate::live::failing_containers(&store, &graph)
                };
                match crate::live::fetch_logs(&client, wanted, 100).await {
                    Ok(logs) => Some(logs),
                    Err(error) => {
                        tracing::warn!("could not read logs: {error}");
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
        Ok(outcome) => outcome,
        Err(error) => return fatal(error),
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
    let now = args.now.unwrap_or_else(jiff::Timestamp::now);
    let logs = logs.as_ref().map(|l| l as &dyn crate::rules::LogSource);
    finish(args, &mut store, target, now, logs)
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
        Some(target_ref) => {
            tracing::info!(target = %target_ref, now = %now, "diagnosing");
            Document::single(engine::diagnose(store, &target_ref, &options, logs))
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
            let mut frame = 0;
            loop {
                eprint!("\r{} {what}...", frames[frame % frames.len()]);
                frame += 1;
                if rx
                    .recv_timeout(std::time::Duration::from_millis(100))
                    .is_ok()
                {
                    break;
                }
                if frame > 6000 {
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
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(words: &[&str], ns: &str) -> Result<ObjRef, String> {
        parse_target(
            &words.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            ns,
        )
    }

    #[test]
    fn targets_take_kubectl_names_any_case() {
        let deployment = ObjRef::namespaced(Kind::Deployment, "shop", "web");
        assert_eq!(target(&["deploy/web"], "shop").unwrap(), deployment);
        assert_eq!(target(&["Deployment/web"], "shop").unwrap(), deployment);
        assert_eq!(target(&["DEPLOY", "web"], "shop").unwrap(), deployment);
        assert_eq!(target(&["deployments.apps/web"], "shop").ok(), None);
        assert_eq!(
            target(&["deployment.apps/web"], "shop").unwrap(),
            deployment
        );
        // cluster-scoped kinds drop the namespace
        assert_eq!(
            target(&["no/worker-1"], "shop").unwrap(),
            ObjRef::cluster(Kind::Node, "worker-1")
        );
        assert_eq!(
            target(&["ns", "shop"], "default").unwrap(),
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
            assert_eq!(target(&words, "n").unwrap().kind, kind, "{words:?}");
        }
        assert!(
            target(&["configmap/x"], "n")
                .unwrap_err()
                .contains("unknown kind")
        );
        assert!(target(&["web"], "n").unwrap_err().contains("KIND/NAME"));
        assert!(target(&["deploy", "a/b"], "n").is_err());
        assert!(target(&["deploy/"], "n").is_err());
    }
}
