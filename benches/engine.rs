//! Engine benchmarks on synthetic clusters (`kubedx::synth`) of 1k, 10k and 100k Pods:
//!
//! - `diagnose_one/<pods>`: `engine::diagnose` of one Deployment (4 Pods) with a warm
//!   store — healthy and broken (missing ConfigMap);
//! - `full_scan/<pods>`: the targets of `diagnose --all-namespaces` (every Namespace,
//!   every Node, the cluster DNS), one after the other;
//! - `store_apply/<pods>`: `Store::apply` of a changed Pod (one watch event);
//! - `snapshot_load`: parsing and storing one namespace file (MB/s).
//!
//! `cargo bench --bench engine`; `KUBEDX_BENCH_SIZES=1000,10000` picks the sizes.
//! Peak memory and whole-snapshot throughput: `kubedx-synth measure-load` (criterion
//! cannot measure memory), see docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use k8s_openapi::api::core::v1::Pod;
use kubedx::engine::{all_targets, diagnose, diagnose_many};
use kubedx::model::{Kind, ObjRef};
use kubedx::rules::DiagnoseOptions;
use kubedx::store::{Object, Store};
use kubedx::synth::{self, Config, Fault};

fn sizes() -> Vec<usize> {
    std::env::var("KUBEDX_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

struct Fixture {
    pods: usize,
    store: Store,
    healthy: ObjRef,
    broken: ObjRef,
    options: DiagnoseOptions,
    /// a Pod of the healthy Deployment
    pod: ObjRef,
}

fn fixture(pods: usize) -> Fixture {
    let cfg = Config::with_pods(pods);
    let s = synth::generate(&cfg);
    let healthy = s
        .workloads
        .iter()
        .find(|w| w.fault.is_none() && w.replicas == 4 && !w.claim)
        .expect("a healthy Deployment of 4")
        .target();
    let broken = s
        .workloads
        .iter()
        .find(|w| w.fault == Some(Fault::MissingConfigMap))
        .expect("a Deployment with a missing ConfigMap")
        .target();
    let store = s.store();
    drop(s);
    let pod = store
        .list::<Pod>(healthy.ns())
        .find(|p| {
            p.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("app"))
                .is_some_and(|a| *a == healthy.name)
        })
        .map(|p| ObjRef::namespaced(Kind::Pod, healthy.ns(), p.metadata.name.as_deref().unwrap()))
        .expect("a Pod of the healthy Deployment");
    Fixture {
        pods,
        store,
        healthy,
        broken,
        options: DiagnoseOptions::new(cfg.now),
        pod,
    }
}

fn config(
    c: &mut Criterion,
    pods: usize,
) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let _ = pods;
    c.benchmark_group("kubedx")
}

fn engine(c: &mut Criterion) {
    for pods in sizes() {
        eprintln!("engine bench: generating {pods} Pods ...");
        let t0 = std::time::Instant::now();
        let f = fixture(pods);
        eprintln!(
            "engine bench: {} objects stored in {:.1}s",
            f.store.total(),
            t0.elapsed().as_secs_f64()
        );
        let mut g = config(c, pods);
        let big = pods >= 50_000;
        g.sample_size(if big { 20 } else { 50 });
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(if big { 5 } else { 3 }));

        g.bench_with_input(
            BenchmarkId::new("diagnose_one_healthy", f.pods),
            &f,
            |b, f| b.iter(|| black_box(diagnose(&f.store, &f.healthy, &f.options, None))),
        );
        g.bench_with_input(
            BenchmarkId::new("diagnose_one_broken", f.pods),
            &f,
            |b, f| b.iter(|| black_box(diagnose(&f.store, &f.broken, &f.options, None))),
        );

        // one watch event: a Pod of the healthy Deployment changes (Ready flips)
        let mut store = f.store;
        let old: Arc<Pod> = store.get_ref::<Pod>(&f.pod).unwrap().clone();
        let mut flipped = (*old).clone();
        if let Some(c) = flipped
            .status
            .as_mut()
            .and_then(|s| s.conditions.as_mut())
            .and_then(|cs| cs.iter_mut().find(|c| c.type_ == "Ready"))
        {
            c.status = "False".into();
        }
        let versions = [Object::Pod(Arc::new(flipped)), Object::Pod(old)];
        let mut i = 0;
        g.bench_function(BenchmarkId::new("store_apply_pod", pods), |b| {
            b.iter(|| {
                i += 1;
                store.apply(versions[i % 2].clone());
            })
        });

        let targets = all_targets(&mut store);
        g.sample_size(10);
        g.measurement_time(Duration::from_secs(if big { 30 } else { 10 }));
        g.bench_with_input(
            BenchmarkId::new(
                format!("full_scan_{}_targets_one_thread", targets.len()),
                pods,
            ),
            &targets,
            |b, targets| {
                b.iter(|| {
                    for t in targets {
                        black_box(diagnose(&store, t, &f.options, None));
                    }
                })
            },
        );
        // what `diagnose --all-namespaces` runs: every core
        g.bench_with_input(
            BenchmarkId::new(format!("full_scan_{}_targets", targets.len()), pods),
            &targets,
            |b, targets| b.iter(|| black_box(diagnose_many(&store, targets, &f.options, None))),
        );
        g.finish();
    }
}

fn snapshot_load(c: &mut Criterion) {
    let s = synth::generate(&Config::with_pods(250));
    let dir = std::env::temp_dir().join(format!("kubedx-bench-{}", std::process::id()));
    s.write_snapshot(&dir).expect("write snapshot");
    let ns = s
        .namespaces
        .keys()
        .find(|n| *n != "kube-system")
        .unwrap()
        .clone();
    let text = std::fs::read_to_string(dir.join(format!("{ns}.yaml"))).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let mut g = c.benchmark_group("kubedx");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.sample_size(20);
    g.bench_function("snapshot_load_namespace_250_pods", |b| {
        b.iter(|| {
            let mut store = Store::new();
            kubedx::snapshot::load_str(&text, "ns.yaml", &mut store).unwrap();
            black_box(store.total())
        })
    });
    g.finish();
}

criterion_group!(benches, engine, snapshot_load);
criterion_main!(benches);
