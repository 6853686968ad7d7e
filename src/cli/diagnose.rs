//! `kubedx diagnose`: load the objects, diagnose the target(s), render, exit.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Namespace, Node};

use super::{DiagnoseArgs, EXIT_FAIL_ON, EXIT_OK, emit, fatal, usage_error};
use crate::api::RuleSetName;
use crate::engine::{self, snapshot_now};
use crate::graph::{CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE};
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

/// Every target of `--all-namespaces`: each Namespace, each Node, and the cluster DNS
/// Service when the snapshot holds the Services of its namespace.
///
/// A namespace that holds objects but whose Namespace object is not in the input
/// (e.g. `kubectl get all -A -o yaml`) is given a bare Namespace object, with a
/// warning, so that its workloads are diagnosed too.
pub fn all_targets(store: &mut Store) -> Vec<ObjRef> {
    let mut namespaces: BTreeSet<String> = store
        .all::<Namespace>()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    let mut held: BTreeSet<String> = BTreeSet::new();
    for k in Kind::ALL {
        if k.namespaced() && k != Kind::Event {
            held.extend(store.namespaces_with(k));
        }
    }
    for ns in held.difference(&namespaces.clone()) {
        tracing::warn!(
            "namespace {ns} holds objects but the input has no Namespace object for it: \
             diagnosing it as if it existed (add `kubectl get namespace {ns} -o yaml` to the snapshot)"
        );
        let v = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns},
        });
        if let Err(e) = store.insert_value(v) {
            tracing::warn!("namespace {ns}: {e}");
            continue;
        }
        namespaces.insert(ns.clone());
    }
    let mut targets: Vec<ObjRef> = namespaces
        .iter()
        .map(|n| ObjRef::cluster(Kind::Namespace, n))
        .collect();
    let mut nodes: Vec<String> = store
        .all::<Node>()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    nodes.sort();
    targets.extend(nodes.iter().map(|n| ObjRef::cluster(Kind::Node, n)));
    if store.kind_listed(Kind::Service, CLUSTER_DNS_NAMESPACE) {
        targets.push(ObjRef::namespaced(
            Kind::Service,
            CLUSTER_DNS_NAMESPACE,
            CLUSTER_DNS_SERVICE,
        ));
    } else {
        tracing::warn!(
            "the input holds no Service of namespace {CLUSTER_DNS_NAMESPACE}: the cluster DNS is not diagnosed"
        );
    }
    targets
}

pub fn run(a: &DiagnoseArgs) -> i32 {
    // usage first, so that a bad command line is exit 2 whatever else is wrong
    let target = if a.all_namespaces {
        None
    } else {
        match parse_target(&a.target, &a.namespace) {
            Ok(t) => Some(t),
            Err(e) => return usage_error("diagnose", e),
        }
    };
    if a.snapshots.is_empty() {
        return fatal(
            "live mode (reading a cluster) is not available in this build of kubedx: \
             pass --snapshot PATH with the output of `kubectl get ... -o yaml` (a file or a directory)",
        );
    }
    if a.kubeconfig.is_some() || a.context.is_some() {
        tracing::warn!(
            "--kubeconfig and --context are ignored with --snapshot: no cluster is contacted"
        );
    }
    if a.logs {
        tracing::warn!("--logs has no effect with --snapshot: a snapshot holds no container logs");
    }

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

    let now = a.now.unwrap_or_else(|| snapshot_now(&store));
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
            Document::single(engine::diagnose(&store, &t, &options, None))
        }
        None => {
            let targets = all_targets(&mut store);
            tracing::info!(targets = targets.len(), now = %now, "diagnosing all namespaces");
            let reports = targets
                .iter()
                .map(|t| engine::diagnose(&store, t, &options, None))
                .collect();
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
