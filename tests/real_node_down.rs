//! `testcluster down` undoes everything `up --real-node` did, also after the
//! caller crashed: no process of the plane, no mount under its directory, no CNI
//! bridge, no node address on lo, no iptables chain of the plane or the kubelet,
//! no cgroup, the kernel settings as they were before.
//!
//! This binary starts its own planes (one at a time: the real node is one per
//! machine), not the shared one of tests/support.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::repo_root;

const SYSCTLS: &[&str] = &[
    "kernel/panic",
    "kernel/panic_on_oops",
    "vm/overcommit_memory",
    "net/ipv4/ip_forward",
];

fn sysctls() -> Vec<(String, String)> {
    SYSCTLS
        .iter()
        .map(|k| {
            let v = std::fs::read_to_string(Path::new("/proc/sys").join(k)).unwrap_or_default();
            (k.replace('/', "."), v.trim().to_string())
        })
        .collect()
}

fn script() -> PathBuf {
    repo_root().join("tests/cluster/testcluster")
}

fn testcluster(args: &[&str]) -> std::process::Output {
    Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run testcluster")
}

fn run_dir(name: &str) -> PathBuf {
    let dir = repo_root()
        .join("target/testcluster")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn kubectl(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(repo_root().join("target/testcluster/bin/kubectl"))
        .arg("--kubeconfig")
        .arg(dir.join("kubeconfig"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl")
}

/// A Pod with a Secret volume, an emptyDir and a projected token on the real node:
/// mounts, a sandbox, a veth on the bridge, a shim.
fn start_pod(dir: &Path) {
    let manifest = dir.join("pod.yaml");
    std::fs::write(
        &manifest,
        r#"apiVersion: v1
kind: Secret
metadata: {name: token, namespace: default}
stringData: {token: abc}
---
apiVersion: v1
kind: Pod
metadata: {name: mounts, namespace: default}
spec:
  nodeSelector: {kubedx.io/real-node: "true"}
  tolerations: [{key: kubedx.io/real-node, operator: Exists, effect: NoSchedule}]
  containers:
  - name: app
    image: localhost/kubedx/testbox:1
    command: [sleep, "3600"]
    volumeMounts:
    - {name: token, mountPath: /token}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - {name: token, secret: {secretName: token}}
  - {name: scratch, emptyDir: {medium: Memory}}
"#,
    )
    .unwrap();
    let out = kubectl(dir, &["apply", "-f", manifest.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kubectl(
        dir,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/mounts",
            "--timeout=90s",
        ],
    );
    assert!(
        out.status.success(),
        "the Pod did not become Ready: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What the real node of `dir` left behind, one line per leftover.
fn leftovers(dir: &Path, before: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    let dir_s = dir.to_string_lossy().into_owned();
    let sock = dir.join("containerd/containerd.sock");
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == std::process::id().to_string() {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&dir_s) || cmdline.contains(&*sock.to_string_lossy()) {
            out.push(format!("process {name}: {cmdline}"));
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mountinfo.lines() {
        if let Some(mp) = line.split_whitespace().nth(4)
            && mp.starts_with(&dir_s)
        {
            out.push(format!("mount {mp}"));
        }
    }
    if Path::new("/sys/class/net/kubedx-cni0").exists() {
        out.push("bridge kubedx-cni0".into());
    }
    let lo = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", "lo"])
        .output()
        .unwrap();
    if String::from_utf8_lossy(&lo.stdout).contains("198.18.0.2/") {
        out.push("address 198.18.0.2 on lo".into());
    }
    for ipt in ["iptables", "ip6tables"] {
        for table in ["filter", "nat", "mangle"] {
            let rules = Command::new(ipt)
                .args(["-w", "-t", table, "-S"])
                .output()
                .unwrap();
            for line in String::from_utf8_lossy(&rules.stdout).lines() {
                if line.contains("KUBEDX-REAL-NODE") || line.contains("KUBE-") {
                    out.push(format!("{ipt} -t {table}: {line}"));
                }
            }
        }
    }
    for ctl in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let p = ctl.path().join("kubedx-real-node");
        if p.exists() {
            out.push(format!("cgroup {}", p.display()));
        }
    }
    for (key, value) in sysctls() {
        let was = before
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str());
        if was != Some(value.as_str()) {
            out.push(format!("{key} = {value}, was {was:?}"));
        }
    }
    for p in ["/var/lib/kubelet", "/var/lib/cni", "/var/log/containers"] {
        // absent before this test (the first check of each run asserts it)
        if Path::new(p).exists() {
            out.push(format!("host path {p}"));
        }
    }
    out
}

/// Leftovers disappear within a few seconds (processes killed a moment ago).
fn assert_clean(dir: &Path, before: &[(String, String)], after: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = leftovers(dir, before);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{after}, the real node left behind:\n  {}",
                left.join("\n  ")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn host_paths_absent() {
    for p in ["/var/lib/kubelet", "/var/lib/cni", "/var/log/containers"] {
        assert!(
            !Path::new(p).exists(),
            "{p} exists before the real node started: this test needs a machine where nothing else runs a kubelet"
        );
    }
}

fn up(dir: &Path, owner: Option<u32>) {
    let dir_s = dir.to_string_lossy().into_owned();
    let owner_s = owner.map(|p| p.to_string());
    let mut args = vec!["up", dir_s.as_str(), "--real-node"];
    if let Some(o) = &owner_s {
        args.extend(["--owner-pid", o.as_str()]);
    }
    let out = testcluster(&args);
    assert!(
        out.status.success(),
        "up --real-node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The two tests share the machine's one real node: one after the other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn down_after_a_killed_supervisor_leaves_nothing() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    host_paths_absent();
    let before = sysctls();
    let dir = run_dir("down-killed");
    up(&dir, None);
    start_pod(&dir);
    assert!(
        !leftovers(&dir, &before).is_empty(),
        "the check sees nothing of a running real node"
    );
    // the supervisor dies without cleaning up (its components die with it, the
    // shims and containers do not)
    let pid: i32 = std::fs::read_to_string(dir.join("supervisor.pid"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: a plain kill(2) of the supervisor this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    std::thread::sleep(Duration::from_secs(1));
    let out = testcluster(&["down", dir.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "down failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_clean(&dir, &before, "after SIGKILL of the supervisor and `down`");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_owner_that_exits_takes_the_real_node_with_it() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    host_paths_absent();
    let before = sysctls();
    let dir = run_dir("down-owner");
    let mut owner = Command::new("sleep").arg("600").spawn().unwrap();
    up(&dir, Some(owner.id()));
    start_pod(&dir);
    owner.kill().unwrap();
    owner.wait().unwrap();
    // the supervisor notices within a second and stops everything itself
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(dir.join("state"))
        .unwrap_or_default()
        .trim()
        != "stopped"
    {
        assert!(
            Instant::now() < deadline,
            "the plane did not stop after its owner exited"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_clean(&dir, &before, "after the owner exited");
    let _ = std::fs::remove_dir_all(&dir);
}
