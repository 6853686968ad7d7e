//! kubedx-synth: synthetic clusters for benchmarks (see `kubedx::synth`).
//!
//! ```text
//! kubedx-synth snapshot --pods 10000 --out target/synth/10k      # kubectl-get-shaped YAML
//! kubedx-synth load --pods 10000 --kubeconfig /tmp/dx/kubeconfig # into a live (kwok) cluster
//! kubedx-synth measure-load target/synth/10k                     # snapshot load MB/s, peak RSS
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use kubedx::synth::{self, Config};

#[derive(Parser)]
#[command(
    name = "kubedx-synth",
    about = "Synthetic Kubernetes clusters for kubedx benchmarks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct Plan {
    /// Pods (in Deployments of 1..=8 replicas), besides the 2 CoreDNS Pods.
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// Nodes (0: one per 50 Pods, at least 3).
    #[arg(long, default_value_t = 0)]
    nodes: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of broken Deployments.
    #[arg(long, default_value_t = 0.1)]
    broken: f64,
    #[arg(long, default_value_t = 250)]
    pods_per_namespace: usize,
    /// Share of Deployments whose Pod mounts a PVC (snapshot only).
    #[arg(long, default_value_t = 0.05)]
    claims: f64,
}

impl Plan {
    fn config(&self) -> Config {
        Config {
            seed: self.seed,
            pods: self.pods,
            nodes: self.nodes,
            broken: self.broken,
            pods_per_namespace: self.pods_per_namespace,
            with_claims: self.claims,
            ..Config::default()
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Writes a snapshot: DIR/cluster.yaml and DIR/<namespace>.yaml.
    Snapshot {
        #[command(flatten)]
        plan: Plan,
        #[arg(long)]
        out: PathBuf,
    },
    /// Creates Nodes (kwok), Namespaces, ConfigMaps, Services and Deployments in a
    /// live cluster; with --wait, waits for the Pods.
    Load {
        #[command(flatten)]
        plan: Plan,
        #[arg(long, env = "KUBECONFIG")]
        kubeconfig: PathBuf,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Wait up to this many seconds for every Pod to exist and be decided.
        #[arg(long, default_value_t = 0)]
        wait: u64,
    },
    /// Loads a snapshot directory into a Store and reports MB/s and memory
    /// (VmHWM/VmRSS from /proc/self/status) as one JSON line.
    MeasureLoad { dir: PathBuf },
    /// Prints the plan's Deployments (namespace/name fault) as TSV.
    List {
        #[command(flatten)]
        plan: Plan,
    },
}

/// A field of /proc/self/status in KiB.
fn proc_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match Cli::parse().cmd {
        Cmd::Snapshot { plan, out } => {
            let t0 = Instant::now();
            let cluster = synth::generate(&plan.config());
            let bytes = cluster.write_snapshot(&out)?;
            eprintln!(
                "kubedx-synth: {} objects ({} Pods, {} Nodes, {} namespaces), {:.1} MB in {} in {:.1}s",
                cluster.objects().count(),
                cluster.pod_count(),
                cluster.nodes.len(),
                cluster.namespaces.len(),
                bytes as f64 / 1e6,
                out.display(),
                t0.elapsed().as_secs_f64()
            );
        }
        Cmd::Load {
            plan,
            kubeconfig,
            concurrency,
            wait,
        } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let cluster = synth::generate(&plan.config());
                let client = synth::live::client(&kubeconfig).await?;
                let report = synth::live::load(&client, &cluster, concurrency).await?;
                eprintln!(
                    "kubedx-synth: {} created, {} existed in {:.1}s",
                    report.created, report.existed, report.seconds
                );
                if wait > 0 {
                    let want = cluster.pod_count();
                    let phases = synth::live::wait_pods(
                        &client,
                        want,
                        |p| !p.contains_key("Unknown"),
                        Duration::from_secs(wait),
                    )
                    .await?;
                    println!("{}", serde_json::to_string(&phases)?);
                }
                anyhow::Ok(())
            })?;
        }
        Cmd::MeasureLoad { dir } => {
            let rss0 = proc_kib("VmRSS:");
            let t0 = Instant::now();
            let mut store = kubedx::store::Store::new();
            let stats = kubedx::snapshot::load_paths(&[dir], &mut store)?;
            let secs = t0.elapsed().as_secs_f64();
            let pods = store.count(kubedx::model::Kind::Pod);
            let line = serde_json::json!({
                "bytes": stats.bytes,
                "objects": stats.objects,
                "pods": pods,
                "seconds": secs,
                "mb_per_s": stats.bytes as f64 / 1e6 / secs,
                "objects_per_s": stats.objects as f64 / secs,
                "rss_before_kib": rss0,
                "rss_after_kib": proc_kib("VmRSS:"),
                "peak_rss_kib": proc_kib("VmHWM:"),
                "store_kib_per_1k_pods": (proc_kib("VmRSS:").saturating_sub(rss0)) as f64 / (pods.max(1) as f64 / 1000.0),
            });
            println!("{line}");
            drop(store);
        }
        Cmd::List { plan } => {
            let cluster = synth::generate(&plan.config());
            for workload in &cluster.workloads {
                println!(
                    "{}\t{}\t{}\t{}",
                    workload.namespace,
                    workload.name,
                    workload.replicas,
                    workload
                        .fault
                        .map(|fault| format!("{fault:?}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}
