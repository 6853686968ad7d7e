//! Where a diagnosis spends its time on a synthetic cluster (a probe for profiling;
//! `cargo test --release --test perf_probe -- --ignored --nocapture`).

use std::time::Instant;

use kubedx::engine::diagnose;
use kubedx::graph::ObjectGraph;
use kubedx::model::{Kind, ObjRef};
use kubedx::rules::{self, DiagnoseOptions, RuleContext};
use kubedx::synth::{self, Config};

#[test]
#[ignore]
fn phases() {
    let pods: usize = std::env::var("PROBE_PODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let cfg = Config::with_pods(pods);
    let s = synth::generate(&cfg);
    let store = s.store();
    let opts = DiagnoseOptions::new(cfg.now);
    let mut targets: Vec<ObjRef> = s
        .namespaces
        .keys()
        .map(|n| ObjRef::cluster(Kind::Namespace, n))
        .collect();
    let nss = targets.len();
    targets.extend(s.nodes.iter().map(|n| ObjRef::cluster(Kind::Node, n)));
    for (label, ts) in [("namespaces", &targets[..nss]), ("nodes", &targets[nss..])] {
        let t0 = Instant::now();
        let mut n = 0;
        for t in ts {
            n += ObjectGraph::build(&store, t).len();
        }
        let graph = t0.elapsed();
        let t0 = Instant::now();
        for t in ts {
            let g = ObjectGraph::build(&store, t);
            let ctx = RuleContext {
                store: &store,
                graph: &g,
                options: &opts,
                logs: None,
            };
            let _ = rules::evaluate(&ctx);
        }
        let rules_t = t0.elapsed() - graph;
        let t0 = Instant::now();
        for t in ts {
            let _ = diagnose(&store, t, &opts, None);
        }
        let all = t0.elapsed();
        println!(
            "{label}: {} targets, {n} graph nodes: graph {graph:?}, rules {rules_t:?}, whole diagnose {all:?}",
            ts.len()
        );
    }
    if std::env::var_os("PROBE_SHORT").is_some() {
        return;
    }
    // per rule set
    for set in kubedx::api::RuleSetName::ALL {
        let mut o = opts.clone();
        o.rule_sets = [set].into_iter().collect();
        let t0 = Instant::now();
        for t in &targets {
            let g = ObjectGraph::build(&store, t);
            let ctx = RuleContext {
                store: &store,
                graph: &g,
                options: &o,
                logs: None,
            };
            let _ = rules::evaluate(&ctx);
        }
        println!("  {set:?}: {:?} (incl. graphs)", t0.elapsed());
    }
}

/// Writes every report of a synthetic cluster (every Deployment, Namespace and Node
/// target) as JSON lines to $PROBE_DUMP: run before and after an optimization and
/// diff, to prove the optimization changed no output.
#[test]
#[ignore]
fn dump() {
    let Some(path) = std::env::var_os("PROBE_DUMP") else {
        return;
    };
    let pods: usize = std::env::var("PROBE_PODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000);
    let cfg = Config {
        broken: 0.3,
        ..Config::with_pods(pods)
    };
    let s = synth::generate(&cfg);
    let store = s.store();
    let opts = DiagnoseOptions::new(cfg.now);
    let mut targets: Vec<ObjRef> = s.workloads.iter().map(|w| w.target()).collect();
    targets.extend(
        s.namespaces
            .keys()
            .map(|n| ObjRef::cluster(Kind::Namespace, n)),
    );
    targets.extend(s.nodes.iter().map(|n| ObjRef::cluster(Kind::Node, n)));
    targets.push(ObjRef::namespaced(Kind::Service, "kube-system", "kube-dns"));
    let mut out = String::new();
    for t in &targets {
        let r = diagnose(&store, t, &opts, None);
        let edges: Vec<String> = r
            .graph
            .edges
            .iter()
            .map(|e| format!("{}>{}:{:?}", e.from, e.to, e.kind))
            .collect();
        out.push_str(
            &serde_json::to_string(
                &serde_json::json!({"target": t.to_string(), "status": r.status, "edges": edges}),
            )
            .unwrap(),
        );
        out.push('\n');
    }
    std::fs::write(path, out).unwrap();
}

/// Heap bytes the store holds per kind for a synthetic cluster (glibc's
/// `mallinfo2`): where the controller's cache memory goes.
#[test]
#[ignore]
fn memory_by_kind() {
    fn heap() -> i64 {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        unsafe { libc::mallinfo2().uordblks as i64 }
    }
    let pods: usize = std::env::var("PROBE_PODS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let s = synth::generate(&Config::with_pods(pods));
    let mut by_kind: std::collections::BTreeMap<String, Vec<&serde_json::Value>> =
        Default::default();
    for o in s.objects() {
        by_kind
            .entry(o["kind"].as_str().unwrap_or("?").to_owned())
            .or_default()
            .push(o);
    }
    let mut rows = Vec::new();
    let mut store = kubedx::store::Store::new();
    for (kind, objs) in &by_kind {
        let values: Vec<serde_json::Value> = objs.iter().map(|v| (*v).clone()).collect();
        let json: usize = values.iter().map(|v| v.to_string().len()).sum();
        let h0 = heap();
        let before = heap();
        let values_heap = {
            let copy = values.clone();
            let with = heap();
            drop(copy);
            with - before
        };
        let _ = h0;
        let base = heap();
        for v in values {
            store.insert_value(v).unwrap();
        }
        // the Values were consumed: what remains is the store's share, minus them
        let grown = heap() - base + values_heap;
        rows.push((grown, kind.clone(), objs.len(), json));
    }
    rows.sort();
    rows.reverse();
    let total: i64 = rows.iter().map(|r| r.0).sum();
    for (grown, kind, n, json) in rows {
        println!(
            "{kind:<24} {n:>7} objects  {:>8.1} MiB in the store  {:>6} B/object  ({:>5} B of JSON/object)",
            grown as f64 / 1048576.0,
            grown / n as i64,
            json / n
        );
    }
    println!("total {:.1} MiB", total as f64 / 1048576.0);
}

/// Heap bytes per object decoded from JSON text as a watch decodes it, before and
/// after `controller::compact` (spare `Vec` capacity).
#[test]
#[ignore]
fn memory_of_decoded_objects() {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
    use k8s_openapi::api::core::v1::{Node, Pod, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    fn heap() -> i64 {
        // SAFETY: mallinfo2 only reads the allocator's statistics.
        unsafe { libc::mallinfo2().uordblks as i64 }
    }
    fn measure<T: serde::de::DeserializeOwned + 'static>(s: &synth::Synth, kind: &str) {
        let texts: Vec<String> = s
            .objects()
            .filter(|o| o["kind"] == kind)
            .map(|o| o.to_string())
            .collect();
        let base = heap();
        let mut objs: Vec<T> = texts
            .iter()
            .map(|t| serde_json::from_str(t).unwrap())
            .collect();
        let decoded = heap() - base;
        for o in &mut objs {
            kubedx::controller::compact::compact(o);
        }
        let compacted = heap() - base;
        let n = objs.len().max(1) as i64;
        println!(
            "{kind:<14} {n:>6}: {:>6} B/object decoded, {:>6} after compact ({:.0}%)",
            decoded / n,
            compacted / n,
            100.0 * (decoded - compacted) as f64 / decoded as f64
        );
    }
    let s = synth::generate(&Config::with_pods(2_000));
    measure::<Pod>(&s, "Pod");
    measure::<ReplicaSet>(&s, "ReplicaSet");
    measure::<Deployment>(&s, "Deployment");
    measure::<EndpointSlice>(&s, "EndpointSlice");
    measure::<Service>(&s, "Service");
    measure::<Node>(&s, "Node");
}
