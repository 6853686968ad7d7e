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
