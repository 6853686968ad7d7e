//! kubedx at cluster scale on the real test control plane (issue 7), and side by side
//! with k8sgpt and kube-state-metrics on the same cluster in the same run.
//!
//! ```text
//! cargo bench --bench scale -- --pods 10000 --nodes 200     # the full run (tens of minutes)
//! cargo bench --bench scale -- --pods 2000 --nodes 50       # a smaller one
//! ```
//!
//! Options: `--pods N` `--nodes N` `--churn N` (Ready flips measured, default 20)
//! `--diagnoses N` (Continuous Diagnoses, default 30) `--concurrency N` (loader)
//! `--runs N` (CLI runs per tool, default 3) `--no-compare` (skip k8sgpt / kube-state-metrics).
//! KUBEDX_TEST_KUBECONFIG reuses a running plane (see tests/cluster/README.md).
//!
//! What it measures, in order:
//! 1. a controller started on the empty plane (baseline VmRSS); the synthetic
//!    cluster loaded (`kubedx::synth::live`: kwok Nodes, Deployments with kwok's
//!    simulate annotations for the broken share); the same controller's VmRSS once
//!    its caches hold every Pod → RSS per 1k cached Pods;
//! 2. Continuous Diagnoses of N Deployments; a second controller started: time
//!    from process start to caches synced (/readyz) and to every Diagnosis having
//!    a status;
//! 3. churn: a Pod of a diagnosed Deployment is set not Ready through the status
//!    subresource (what kwok, playing the kubelet, does when a probe fails) and back,
//!    while other diagnosed Deployments' Pods flap in the background; latency from
//!    the patch to the Diagnosis status carrying / dropping `PodNotReady`
//!    (p50/p99), reconcile duration from the controller's histogram, and API
//!    requests per reconcile from the apiserver's audit log (by user);
//! 4. `kubedx diagnose` (live) vs `k8sgpt analyze`, one namespace and the whole
//!    cluster, each with its own ServiceAccount (same read-everything ClusterRole):
//!    wall time and API requests from the audit log;
//! 5. kubedx controller VmRSS vs kube-state-metrics VmRSS watching the same kinds.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use kubedx::api::Diagnosis;
use kubedx::synth::{self, Config, Fault};

use support::controller::{CONTROLLER_NAMESPACE, ControllerProcess, token_kubeconfig};

struct Args {
    pods: usize,
    nodes: usize,
    churn: usize,
    diagnoses: usize,
    concurrency: usize,
    runs: usize,
    compare: bool,
}

fn args() -> Args {
    let a: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: usize| {
        a.iter()
            .position(|x| x == name)
            .and_then(|i| a.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let pods = get("--pods", 2000);
    Args {
        pods,
        nodes: get("--nodes", (pods / 50).max(3)),
        churn: get("--churn", 20),
        diagnoses: get("--diagnoses", 30),
        concurrency: get("--concurrency", 48),
        runs: get("--runs", 3),
        compare: !a.iter().any(|x| x == "--no-compare"),
    }
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Requests of `user` in the audit log between `since` and `until` (RFC 3339), by
/// "verb resource[/sub]". Long-running watches count once, when they start.
fn audit_requests(log: &Path, user: &str, since: &str, until: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let needle = format!("\"username\":\"{user}\"");
    let Ok(f) = std::fs::File::open(log) else {
        return out;
    };
    for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
        if !line.contains(&needle) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let stage = v["stage"].as_str().unwrap_or("");
        let verb = v["verb"].as_str().unwrap_or("?");
        let counted = match stage {
            "ResponseStarted" => verb == "watch",
            "ResponseComplete" => verb != "watch",
            _ => false,
        };
        if !counted {
            continue;
        }
        let ts = v["requestReceivedTimestamp"].as_str().unwrap_or("");
        if ts < since || ts > until {
            continue;
        }
        let res = v["objectRef"]["resource"].as_str().unwrap_or("");
        let sub = v["objectRef"]["subresource"]
            .as_str()
            .map(|s| format!("/{s}"))
            .unwrap_or_default();
        let key = if res.is_empty() {
            format!("{verb} {}", v["requestURI"].as_str().unwrap_or("?"))
        } else {
            format!("{verb} {res}{sub}")
        };
        *out.entry(key).or_insert(0) += 1;
    }
    out
}

fn now_rfc3339() -> String {
    // the audit log writes microseconds: compare as strings of the same shape
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

/// (p50, p99) upper bounds from a Prometheus histogram's cumulative buckets, over
/// the difference between two scrapes.
fn histogram_quantiles(before: &str, after: &str, name: &str) -> (f64, f64, f64) {
    let buckets = |text: &str| -> Vec<(f64, f64)> {
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix(&format!("{name}_bucket{{le=\""))?;
                let (le, v) = rest.split_once("\"}")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, v.trim().parse().ok()?))
            })
            .collect()
    };
    let b0 = buckets(before);
    let b1 = buckets(after);
    let diff: Vec<(f64, f64)> = b1
        .iter()
        .map(|(le, v)| {
            let v0 = b0.iter().find(|(l, _)| l == le).map_or(0.0, |x| x.1);
            (*le, v - v0)
        })
        .collect();
    let total = diff.last().map_or(0.0, |x| x.1);
    let q = |p: f64| {
        diff.iter()
            .find(|(_, c)| *c >= p * total)
            .map_or(f64::NAN, |x| x.0)
    };
    (q(0.5), q(0.99), total)
}

fn kubectl_apply_stdin(yaml: &str) {
    let c = support::cluster();
    let mut child = Command::new(c.bin_dir.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("kubectl");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success(), "kubectl apply failed");
}

/// A kubeconfig for a new ServiceAccount `kubedx-bench/<sa>` bound to a read-everything ClusterRole.
async fn reader_kubeconfig(sa: &str) -> PathBuf {
    kubectl_apply_stdin(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: kubedx-bench}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: kubedx-bench-read-all}
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["get", "list", "watch"]
- nonResourceURLs: ["*"]
  verbs: ["get"]
"#,
    );
    let token = support::service_account_token(
        "kubedx-bench",
        sa,
        &support::Access::ClusterRoleClusterWide("kubedx-bench-read-all".into()),
    )
    .await;
    let dir = support::cluster().dir.join("kubedx");
    std::fs::create_dir_all(&dir).unwrap();
    token_kubeconfig(
        &support::cluster().kubeconfig,
        &token,
        &dir.join(format!("{sa}.kubeconfig")),
    )
}

/// A comparison tool: `$KUBEDX_K8SGPT` / `$KUBEDX_KSM`, else target/k8sgpt/bin/<name>,
/// built from its Go module if missing (see docs/performance.md).
fn tool(name: &str, env: &str, module: &str, version: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let root = support::repo_root().join("target").join("k8sgpt");
    let bin = root.join("bin").join(name);
    if bin.is_file() {
        return Some(bin);
    }
    eprintln!("scale: building {name} from {module}@{version} (Go module proxy) ...");
    let out = Command::new("go")
        .args(["mod", "download", "-json", &format!("{module}@{version}")])
        .env("GONOSUMDB", module)
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let dir = PathBuf::from(v["Dir"].as_str()?);
    let src = root.join(format!("{name}-src"));
    let _ = std::fs::remove_dir_all(&src);
    let ok = Command::new("cp")
        .arg("-r")
        .arg(&dir)
        .arg(&src)
        .status()
        .ok()?
        .success()
        && Command::new("chmod")
            .args(["-R", "u+w"])
            .arg(&src)
            .status()
            .ok()?
            .success()
        && Command::new("go")
            .args(["build", "-trimpath", "-ldflags=-s -w", "-o"])
            .arg(&bin)
            .arg(".")
            .current_dir(&src)
            .env("GOFLAGS", "-buildvcs=false")
            .env("GONOSUMDB", module)
            .status()
            .ok()?
            .success();
    ok.then_some(bin)
}

struct Run {
    seconds: Vec<f64>,
    requests: BTreeMap<String, u64>,
    output_bytes: usize,
}

fn time_runs(runs: usize, user: &str, mut cmd: impl FnMut() -> Command) -> Run {
    let since = now_rfc3339();
    let mut seconds = Vec::new();
    let mut output_bytes = 0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let out = cmd().stdin(Stdio::null()).output().expect("run tool");
        seconds.push(t0.elapsed().as_secs_f64());
        output_bytes = out.stdout.len();
        if !out.status.success() && out.status.code() != Some(3) {
            eprintln!(
                "scale: {:?} exited {}: {}",
                cmd(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    std::thread::sleep(Duration::from_secs(2)); // audit log flush (blocking mode: already written)
    let until = now_rfc3339();
    let requests = audit_requests(&support::cluster().audit_log(), user, &since, &until);
    seconds.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Run {
        seconds,
        requests,
        output_bytes,
    }
}

fn summarize(name: &str, runs: usize, r: &Run) {
    let total: u64 = r.requests.values().sum();
    println!(
        "  {name}: wall median {:.2}s (min {:.2}s, max {:.2}s); {:.0} API requests per run; output {} bytes",
        percentile(&r.seconds, 50.0),
        r.seconds.first().copied().unwrap_or(f64::NAN),
        r.seconds.last().copied().unwrap_or(f64::NAN),
        total as f64 / runs as f64,
        r.output_bytes
    );
    for (k, n) in &r.requests {
        println!("      {k}: {:.1}", *n as f64 / runs as f64);
    }
}

fn set_ready(ready: bool) -> serde_json::Value {
    let s = if ready { "True" } else { "False" };
    json!({"status": {"conditions": [
        {"type": "Ready", "status": s},
        {"type": "ContainersReady", "status": s}]}})
}

#[tokio::main]
async fn main() {
    let a = args();
    let cluster = support::cluster();
    let admin = support::client().await;
    println!(
        "scale benchmark: {} Pods on {} Nodes (load average {:?})",
        a.pods,
        a.nodes,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    // 1. baseline controller, load, RSS per 1k cached Pods
    let mut ctl_a = ControllerProcess::start("scale-a", &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss0 = proc_kib(ctl_a.pid(), "VmRSS:");
    let pods0 = metric_value(&ctl_a.metrics(), "kubedx_cache_objects{kind=\"Pod\"}").unwrap_or(0.0);

    let cfg = Config {
        nodes: a.nodes,
        ..Config::with_pods(a.pods)
    };
    let plan = synth::generate(&cfg);
    let t_load = Instant::now();
    let loaded = synth::live::load(&admin, &plan, a.concurrency)
        .await
        .expect("load the synthetic cluster");
    let want = plan.pod_count(); // includes the plane's own 2 CoreDNS Pods
    let running_expected: usize = plan
        .workloads
        .iter()
        .filter(|w| {
            matches!(
                w.fault,
                None | Some(Fault::CrashLoop) | Some(Fault::ReadinessFail)
            )
        })
        .map(|w| w.replicas)
        .sum();
    let phases = synth::live::wait_pods(
        &admin,
        want,
        |p| p.get("Running").copied().unwrap_or(0) >= running_expected,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let load_secs = t_load.elapsed().as_secs_f64();
    println!(
        "loaded: {} objects created ({} existed) in {:.0}s; Pods settled after {:.0}s: {:?}",
        loaded.created, loaded.existed, loaded.seconds, load_secs, phases
    );
    let total_pods: f64 = phases.values().sum::<usize>() as f64;
    // wait until the controller's cache holds them
    let t_cache = Instant::now();
    loop {
        let n = metric_value(&ctl_a.metrics(), "kubedx_cache_objects{kind=\"Pod\"}").unwrap_or(0.0);
        if n >= total_pods || t_cache.elapsed() > Duration::from_secs(300) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    let pods1 = metric_value(&ctl_a.metrics(), "kubedx_cache_objects{kind=\"Pod\"}").unwrap_or(0.0);
    let objects1: f64 = ctl_a
        .metrics()
        .lines()
        .filter(|l| l.starts_with("kubedx_cache_objects{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let rss1 = proc_kib(ctl_a.pid(), "VmRSS:");
    let hwm1 = proc_kib(ctl_a.pid(), "VmHWM:");
    println!("\n## controller memory");
    println!(
        "  VmRSS {} MiB with {pods0} Pods cached -> {} MiB with {pods1} Pods ({objects1} objects of all kinds); peak {} MiB",
        rss0 / 1024,
        rss1 / 1024,
        hwm1 / 1024
    );
    println!(
        "  RSS per 1k cached Pods (with their ReplicaSets, Services, EndpointSlices, Events...): {:.1} MiB",
        (rss1.saturating_sub(rss0)) as f64 / 1024.0 / ((pods1 - pods0).max(1.0) / 1000.0)
    );
    ctl_a.stop();

    // 2. Diagnoses, a fresh controller: start -> synced -> first status
    let mut targets: Vec<&synth::Workload> = plan
        .workloads
        .iter()
        .filter(|w| w.fault.is_none() && w.replicas >= 2)
        .take(a.diagnoses)
        .collect();
    for f in Fault::ALL {
        if let Some(w) = plan.workloads.iter().find(|w| w.fault == Some(f)) {
            targets.push(w);
        }
    }
    for (i, w) in targets.iter().enumerate() {
        let dxs: Api<Diagnosis> = Api::namespaced(admin.clone(), &w.namespace);
        let _ = dxs
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": "kubedx.io/v1alpha1", "kind": "Diagnosis",
                    "metadata": {"name": format!("dx-{i}-{}", w.name)},
                    "spec": {"target": {"kind": "Deployment", "name": w.name}},
                }))
                .unwrap(),
            )
            .await;
    }
    let all_dx: Api<Diagnosis> = Api::all(admin.clone());
    let t_start = Instant::now();
    let ctl = ControllerProcess::start("scale-b", &[]);
    let synced = t_start.elapsed().as_secs_f64();
    let mut first_status = f64::NAN;
    loop {
        let l = all_dx.list(&ListParams::default()).await.unwrap();
        let done = l.items.iter().filter(|d| d.status.is_some()).count();
        if done >= targets.len() {
            first_status = t_start.elapsed().as_secs_f64();
            break;
        }
        if t_start.elapsed() > Duration::from_secs(300) {
            eprintln!(
                "scale: only {done}/{} Diagnoses have a status after 300s",
                targets.len()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut roots = BTreeMap::new();
    for d in all_dx.list(&ListParams::default()).await.unwrap().items {
        let top = d
            .status
            .as_ref()
            .and_then(|s| s.findings.first().map(|f| f.rule_id.clone()))
            .unwrap_or_else(|| "-".into());
        *roots.entry(top).or_insert(0) += 1;
    }
    println!("\n## controller start");
    println!(
        "  process start -> caches synced (/readyz): {synced:.1}s; -> all {} Diagnoses have a status: {first_status:.1}s",
        targets.len()
    );
    println!("  top finding of each Diagnosis: {roots:?}");
    println!(
        "  VmRSS after the first diagnoses: {} MiB",
        proc_kib(ctl.pid(), "VmRSS:") / 1024
    );

    // 3. churn
    let healthy: Vec<(usize, &synth::Workload)> = targets
        .iter()
        .enumerate()
        .filter(|(_, w)| w.fault.is_none())
        .map(|(i, w)| (i, *w))
        .collect();
    let pod_of = |w: &synth::Workload| {
        let api: Api<Pod> = Api::namespaced(admin.clone(), &w.namespace);
        let app = w.name.clone();
        async move {
            api.list(&ListParams::default().labels(&format!("app={app}")))
                .await
                .unwrap()
                .items
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect::<Vec<_>>()
        }
    };
    // background flapping of other diagnosed Deployments' Pods
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut bg_pods = Vec::new();
    for (_, w) in healthy.iter().skip(a.churn.min(healthy.len() / 2).max(1)) {
        for p in pod_of(w).await {
            bg_pods.push((w.namespace.clone(), p));
        }
    }
    let bg = {
        let stop = stop.clone();
        let admin = admin.clone();
        tokio::spawn(async move {
            let mut i = 0usize;
            let mut flips = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && !bg_pods.is_empty() {
                let (ns, p) = &bg_pods[i % bg_pods.len()];
                let api: Api<Pod> = Api::namespaced(admin.clone(), ns);
                let ready = (i / bg_pods.len()) % 2 == 1;
                let _ = api
                    .patch_status(
                        p,
                        &PatchParams::default(),
                        &Patch::Strategic(set_ready(ready)),
                    )
                    .await;
                flips += 1;
                i += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            flips
        })
    };
    let metrics_before = ctl.metrics();
    let reconciles_before = metric_value(
        &metrics_before,
        "kubedx_reconciliations_total{result=\"success\"}",
    )
    .unwrap_or(0.0);
    let since = now_rfc3339();
    let t_churn = Instant::now();
    let mut latencies = Vec::new();
    let mut timeouts = 0usize;
    let fg: Vec<(usize, &synth::Workload)> = healthy
        .iter()
        .take(a.churn.min(healthy.len() / 2).max(1))
        .cloned()
        .collect();
    for k in 0..a.churn {
        let (i, w) = fg[k % fg.len()];
        let name = format!("dx-{i}-{}", w.name);
        let dxs: Api<Diagnosis> = Api::namespaced(admin.clone(), &w.namespace);
        let pods = pod_of(w).await;
        let Some(p) = pods.first() else { continue };
        let api: Api<Pod> = Api::namespaced(admin.clone(), &w.namespace);
        for ready in [false, true] {
            let t0 = Instant::now();
            api.patch_status(
                p,
                &PatchParams::default(),
                &Patch::Strategic(set_ready(ready)),
            )
            .await
            .unwrap();
            loop {
                let d = dxs.get(&name).await.unwrap();
                let has = d
                    .status
                    .as_ref()
                    .is_some_and(|s| s.findings.iter().any(|f| f.rule_id == "PodNotReady"));
                if has != ready {
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                if t0.elapsed() > Duration::from_secs(60) {
                    eprintln!("scale: {name}: PodNotReady={} not reached in 60s", !ready);
                    timeouts += 1;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let churn_secs = t_churn.elapsed().as_secs_f64();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let bg_flips = bg.await.unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let until = now_rfc3339();
    let metrics_after = ctl.metrics();
    let reconciles = metric_value(
        &metrics_after,
        "kubedx_reconciliations_total{result=\"success\"}",
    )
    .unwrap_or(0.0)
        - reconciles_before;
    let (r50, r99, rn) = histogram_quantiles(
        &metrics_before,
        &metrics_after,
        "kubedx_reconcile_duration_seconds",
    );
    let requests = audit_requests(
        &cluster.audit_log(),
        &format!("system:serviceaccount:{CONTROLLER_NAMESPACE}:kubedx"),
        &since,
        &until,
    );
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "\n## churn ({churn_secs:.0}s; {} measured flips, {timeouts} not seen within 60 s, {bg_flips} background flips at 5/s)",
        latencies.len()
    );
    println!(
        "  Pod Ready flip -> Diagnosis status changed: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms (debounce 200 ms)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "  reconcile duration (controller histogram, {rn} reconciles): p50 <= {:.1} ms, p99 <= {:.1} ms",
        r50 * 1000.0,
        r99 * 1000.0
    );
    println!("  successful reconciles in the window: {reconciles}");
    let total: u64 = requests.values().sum();
    println!(
        "  API requests by the controller: {total} ({:.2} per reconcile)",
        total as f64 / reconciles.max(1.0)
    );
    for (k, n) in &requests {
        println!(
            "      {k}: {n} ({:.2} per reconcile)",
            *n as f64 / reconciles.max(1.0)
        );
    }

    if !a.compare {
        return;
    }

    // 4. kubedx diagnose (live) vs k8sgpt analyze
    let ns = targets
        .iter()
        .find(|w| w.fault.is_some())
        .map(|w| w.namespace.clone())
        .unwrap_or_else(|| plan.workloads[0].namespace.clone());
    let ns_pods = plan
        .workloads
        .iter()
        .filter(|w| w.namespace == ns)
        .map(|w| w.replicas)
        .sum::<usize>();
    let kubedx_kc = reader_kubeconfig("kubedx-cli").await;
    let k8sgpt_kc = reader_kubeconfig("k8sgpt").await;
    let kubedx_bin = PathBuf::from(env!("CARGO_BIN_EXE_kubedx"));
    let k8sgpt = tool(
        "k8sgpt",
        "KUBEDX_K8SGPT",
        "github.com/k8sgpt-ai/k8sgpt",
        "v0.3.41",
    );
    let home = cluster.dir.join("kubedx").join("k8sgpt-home");
    std::fs::create_dir_all(&home).unwrap();
    println!(
        "\n## kubedx diagnose (live) vs k8sgpt analyze ({} runs each, same cluster)",
        a.runs
    );
    for (label, ns_arg) in [
        (format!("namespace {ns} ({ns_pods} Pods)"), Some(ns.clone())),
        ("whole cluster".to_string(), None),
    ] {
        println!(" {label}:");
        let r = time_runs(
            a.runs,
            "system:serviceaccount:kubedx-bench:kubedx-cli",
            || {
                let mut c = Command::new(&kubedx_bin);
                c.args(["diagnose", "-o", "json", "--kubeconfig"])
                    .arg(&kubedx_kc);
                match &ns_arg {
                    Some(ns) => c.arg(format!("ns/{ns}")),
                    None => c.arg("--all-namespaces"),
                };
                c.env("RUST_LOG", "error");
                c
            },
        );
        summarize("kubedx diagnose", a.runs, &r);
        match &k8sgpt {
            Some(bin) => {
                let r = time_runs(a.runs, "system:serviceaccount:kubedx-bench:k8sgpt", || {
                    let mut c = Command::new(bin);
                    c.args(["analyze", "--output", "json", "--kubeconfig"])
                        .arg(&k8sgpt_kc);
                    if let Some(ns) = &ns_arg {
                        c.args(["--namespace", ns]);
                    }
                    c.env("HOME", &home)
                        .env("XDG_CONFIG_HOME", home.join(".config"));
                    c
                });
                summarize("k8sgpt analyze", a.runs, &r);
            }
            None => {
                println!("  k8sgpt: not available (could not be built; see docs/performance.md)")
            }
        }
    }

    // 5. controller RSS vs kube-state-metrics on the same objects
    let ksm = tool(
        "kube-state-metrics",
        "KUBEDX_KSM",
        "k8s.io/kube-state-metrics/v2",
        "v2.15.0",
    );
    println!("\n## memory: kubedx controller vs kube-state-metrics (same cluster, same kinds)");
    let ctl_rss = proc_kib(ctl.pid(), "VmRSS:");
    let ctl_hwm = proc_kib(ctl.pid(), "VmHWM:");
    println!(
        "  kubedx controller: VmRSS {} MiB (peak {} MiB), {} Diagnoses",
        ctl_rss / 1024,
        ctl_hwm / 1024,
        targets.len()
    );
    if let Some(bin) = ksm {
        let kc = reader_kubeconfig("kube-state-metrics").await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tport = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = cluster.dir.join("kubedx").join("kube-state-metrics.log");
        let mut child = Command::new(bin)
            .arg(format!("--kubeconfig={}", kc.display()))
            .args(["--host=127.0.0.1", "--telemetry-host=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--telemetry-port={tport}"))
            .arg("--resources=configmaps,cronjobs,daemonsets,deployments,endpointslices,horizontalpodautoscalers,ingresses,ingressclasses,jobs,limitranges,namespaces,networkpolicies,nodes,persistentvolumeclaims,persistentvolumes,poddisruptionbudgets,pods,replicasets,resourcequotas,secrets,serviceaccounts,services,statefulsets,storageclasses")
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(log.with_extension("err")).unwrap())
            .spawn()
            .expect("start kube-state-metrics");
        let http = |path: &str| -> Option<String> {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
            write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
            let mut buf = String::new();
            s.read_to_string(&mut buf).ok()?;
            Some(buf)
        };
        let t0 = Instant::now();
        let mut pods_seen = 0;
        while t0.elapsed() < Duration::from_secs(300) {
            if let Some(body) = http("/metrics") {
                pods_seen = body
                    .lines()
                    .filter(|l| l.starts_with("kube_pod_info{"))
                    .count();
                if pods_seen as f64 >= total_pods {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
        let rss = proc_kib(child.id(), "VmRSS:");
        let _ = http("/metrics");
        let rss_scraped = proc_kib(child.id(), "VmRSS:");
        let hwm = proc_kib(child.id(), "VmHWM:");
        println!(
            "  kube-state-metrics v2.15.0: VmRSS {} MiB synced ({pods_seen} kube_pod_info series, after {:.0}s), {} MiB after a /metrics scrape, peak {} MiB",
            rss / 1024,
            t0.elapsed().as_secs_f64(),
            rss_scraped / 1024,
            hwm / 1024
        );
        println!(
            "  ratio kubedx / kube-state-metrics (VmRSS): {:.2}",
            ctl_rss as f64 / rss_scraped.max(1) as f64
        );
        let _ = child.kill();
        let _ = child.wait();
    } else {
        println!("  kube-state-metrics: not available (could not be built)");
    }
    drop(ctl);
}
