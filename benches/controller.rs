//! Controller benchmark on the real test control plane (issue 5 "Measure"):
//! latency from a change of the object graph to the status being written (p50/p99),
//! and the API requests the controller makes per reconcile, read from the
//! apiserver's own audit log (every request, by user).
//!
//! `cargo bench --bench controller` (`-- --iterations N` to change the count).
//! The controller runs as a process with deploy/'s RBAC, `--debounce-ms 200`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::watcher::{self, Event};
use serde_json::json;

use kubedx::api::Diagnosis;

use support::controller::{CONTROLLER_NAMESPACE, ControllerProcess};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Requests of `user` in the audit log after `since` (RFC 3339), by "verb resource[/sub]".
fn audit_requests(log: &std::path::Path, user: &str, since: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let text = std::fs::read_to_string(log).unwrap_or_default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["user"]["username"].as_str() != Some(user) {
            continue;
        }
        if v["stage"].as_str() != Some("ResponseComplete")
            && v["stage"].as_str() != Some("ResponseStarted")
        {
            continue;
        }
        let ts = v["requestReceivedTimestamp"].as_str().unwrap_or("");
        if ts < since {
            continue;
        }
        let verb = v["verb"].as_str().unwrap_or("?");
        if verb == "watch" && v["stage"].as_str() == Some("ResponseStarted") {
            // long-running watches are counted once when they start
        } else if v["stage"].as_str() == Some("ResponseStarted") {
            continue;
        }
        let res = v["objectRef"]["resource"].as_str().unwrap_or("");
        let sub = v["objectRef"]["subresource"]
            .as_str()
            .map(|s| format!("/{s}"))
            .unwrap_or_default();
        *out.entry(format!("{verb} {res}{sub}")).or_insert(0) += 1;
    }
    out
}

#[tokio::main]
async fn main() {
    let iterations: usize = std::env::args()
        .skip_while(|a| a != "--iterations")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let cluster = support::cluster();
    let ctl = ControllerProcess::start("bench-controller", &[]);
    let client = support::client().await;
    let ns = support::namespace("bench").await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                            "envFrom": [{"configMapRef": {"name": "web-config"}}]}]}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    dxs.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "kubedx.io/v1alpha1", "kind": "Diagnosis",
            "metadata": {"name": "web"},
            "spec": {"target": {"kind": "Deployment", "name": "web"}, "ruleSets": ["workload"]},
        }))
        .unwrap(),
    )
    .await
    .unwrap();

    // Watch the Diagnosis: record when the ConfigMapNotFound finding appears/disappears.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, Instant)>();
    let watch_api = dxs.clone();
    tokio::spawn(async move {
        let mut s = watcher(
            watch_api,
            watcher::Config::default().fields("metadata.name=web"),
        )
        .boxed();
        while let Some(Ok(ev)) = s.next().await {
            if let Event::Apply(d) | Event::InitApply(d) = ev
                && let Some(st) = d.status
            {
                let missing = st.findings.iter().any(|f| f.rule_id == "ConfigMapNotFound");
                let _ = tx.send((missing, Instant::now()));
            }
        }
    });
    async fn wait_state(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<(bool, Instant)>,
        want: bool,
    ) -> Instant {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((state, at))) if state == want => return at,
                Ok(Some(_)) => continue,
                _ => panic!("status did not reach ConfigMapNotFound={want} within 60s"),
            }
        }
    }
    wait_state(&mut rx, true).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    let reconciles_before = ctl
        .metric("kubedx_reconciliations_total{result=\"success\"}")
        .unwrap_or(0.0);
    let since = jiff::Timestamp::now().to_string();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut latencies = Vec::new();
    for _ in 0..iterations {
        // fix: create the ConfigMap
        let t0 = Instant::now();
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(
                json!({"metadata": {"name": "web-config"}, "data": {"A": "1"}}),
            )
            .unwrap(),
        )
        .await
        .unwrap();
        let at = wait_state(&mut rx, false).await;
        latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
        // break: delete it
        let t0 = Instant::now();
        cms.delete("web-config", &DeleteParams::default())
            .await
            .unwrap();
        let at = wait_state(&mut rx, true).await;
        latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reconciles = ctl
        .metric("kubedx_reconciliations_total{result=\"success\"}")
        .unwrap_or(0.0)
        - reconciles_before;
    let requests = audit_requests(
        &cluster.audit_log(),
        &format!("system:serviceaccount:{CONTROLLER_NAMESPACE}:kubedx"),
        &since,
    );
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "controller benchmark: {} status changes, debounce 200 ms",
        latencies.len()
    );
    println!(
        "graph change -> status written: p50 {:.0} ms, p99 {:.0} ms, min {:.0} ms, max {:.0} ms",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.first().copied().unwrap_or(f64::NAN),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!("reconciles in the window: {reconciles}");
    let total: u64 = requests.values().sum();
    println!("API requests by the controller in the window: {total}");
    for (k, n) in &requests {
        println!(
            "  {k}: {n} ({:.2} per reconcile)",
            *n as f64 / reconciles.max(1.0)
        );
    }
    let other: u64 = requests
        .iter()
        .filter(|(k, _)| {
            !(k.starts_with("patch diagnoses/status")
                || k.ends_with(" events")
                || k.starts_with("watch "))
        })
        .map(|(_, n)| n)
        .sum();
    println!("requests other than status patches, events and long-running watches: {other}");
    drop(ctl);
}

use kube::runtime::watcher::watcher;
