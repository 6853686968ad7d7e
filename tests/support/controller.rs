//! Running `kubedx controller` as a process against the test control plane, with
//! exactly the RBAC of `deploy/` (the CRD applied, deploy/'s ServiceAccount,
//! ClusterRole and Lease Role, and a token minted for that ServiceAccount).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kube::CustomResourceExt;
use serde_json::json;

use kubedx::api::Diagnosis;

use super::{cluster, kubectl_ok, repo_root};

/// The namespace deploy/ installs the controller into.
pub const CONTROLLER_NAMESPACE: &str = "kubedx-system";

static INSTALLED: OnceLock<PathBuf> = OnceLock::new();

/// Applies the CRD and deploy/'s Namespace and RBAC once, and returns a kubeconfig
/// for the controller's ServiceAccount (a TokenRequest token).
pub fn install() -> &'static Path {
    INSTALLED.get_or_init(|| {
        let c = cluster();
        let dir = c.dir.join("kubedx");
        std::fs::create_dir_all(&dir).unwrap();
        let crd = dir.join("crd.json");
        std::fs::write(&crd, serde_json::to_vec(&Diagnosis::crd()).unwrap()).unwrap();
        kubectl_ok(&["apply", "--server-side", "-f", crd.to_str().unwrap()]);
        kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/diagnoses.kubedx.io",
            "--timeout=60s",
        ]);
        let deploy = repo_root().join("deploy");
        kubectl_ok(&[
            "apply",
            "-f",
            deploy.join("00-namespace.yaml").to_str().unwrap(),
            "-f",
            deploy.join("10-rbac.yaml").to_str().unwrap(),
        ]);
        let token = kubectl_ok(&[
            "create",
            "token",
            "kubedx",
            "-n",
            CONTROLLER_NAMESPACE,
            "--duration=2h",
        ]);
        token_kubeconfig(
            &c.kubeconfig,
            token.trim(),
            &dir.join("controller.kubeconfig"),
        )
    })
}

/// A kubeconfig for the same server as `admin`, authenticating with `token`.
pub fn token_kubeconfig(admin: &Path, token: &str, path: &Path) -> PathBuf {
    let text = std::fs::read_to_string(admin).unwrap();
    let v: serde_json::Value = serde_norway::from_str(&text).unwrap();
    let cluster = &v["clusters"][0]["cluster"];
    let kc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": cluster}],
        "users": [{"name": "kubedx", "user": {"token": token}}],
        "contexts": [{"name": "kubedx", "context": {"cluster": "test", "user": "kubedx"}}],
        "current-context": "kubedx",
    });
    std::fs::write(path, serde_json::to_vec_pretty(&kc).unwrap()).unwrap();
    path.to_path_buf()
}

/// A running `kubedx controller`. It stops when this handle is dropped, when the
/// test process exits (its standard input closes), or on [`ControllerProcess::kill`].
pub struct ControllerProcess {
    pub metrics_port: u16,
    pub log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How to run a controller process other than with deploy/'s identity
/// (see [`ControllerProcess::start_as`]).
#[derive(Clone, Debug)]
pub struct Identity {
    /// Kubeconfig the controller authenticates with.
    pub kubeconfig: PathBuf,
    /// Its own namespace (`POD_NAMESPACE`): the Lease's namespace and the default
    /// admin namespace.
    pub namespace: String,
}

impl ControllerProcess {
    /// Starts a controller with deploy/'s identity and `extra` arguments, and waits
    /// until `/readyz` answers 200 (caches synced).
    pub fn start(name: &str, extra: &[&str]) -> ControllerProcess {
        let identity = Identity {
            kubeconfig: install().to_path_buf(),
            namespace: CONTROLLER_NAMESPACE.to_string(),
        };
        ControllerProcess::start_as(name, &identity, extra)
    }

    /// Starts a controller with another identity (its kubeconfig and namespace,
    /// which is also its admin namespace), and waits until `/readyz` answers 200.
    pub fn start_as(name: &str, identity: &Identity, extra: &[&str]) -> ControllerProcess {
        let mut p = ControllerProcess::spawn_as(name, identity, extra);
        if let Err(e) = p.wait_ready(Duration::from_secs(90)) {
            panic!("kubedx controller {name}: {e}");
        }
        p
    }

    /// Spawns a controller like [`ControllerProcess::start_as`] without waiting for
    /// it (it may exit, or never become ready: see [`ControllerProcess::wait_ready`]).
    pub fn spawn_as(name: &str, identity: &Identity, extra: &[&str]) -> ControllerProcess {
        let port = free_port();
        let log = cluster().dir.join("kubedx").join(format!("{name}.log"));
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        let logf = std::fs::File::create(&log).unwrap();
        let mut args = vec![
            "controller".to_string(),
            "--metrics-addr".to_string(),
            format!("127.0.0.1:{port}"),
            "--admin-namespaces".to_string(),
            identity.namespace.clone(),
            "--debounce-ms".to_string(),
            "200".to_string(),
            "--exit-on-stdin-close".to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubedx"))
            .args(&args)
            .env("KUBECONFIG", &identity.kubeconfig)
            .env("POD_NAMESPACE", &identity.namespace)
            .env("POD_NAME", name)
            .env("RUST_LOG", "info,kubedx=debug")
            .stdin(Stdio::piped())
            .stdout(logf.try_clone().unwrap())
            .stderr(logf)
            .spawn()
            .expect("start kubedx controller");
        let stdin = child.stdin.take();
        ControllerProcess {
            metrics_port: port,
            log,
            child,
            stdin,
        }
    }

    /// Waits until `/readyz` answers 200; an error if the process exits first or
    /// `timeout` passes.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("exited ({status}):\n{}", self.log_text()));
            }
            if self.get("/readyz").is_some_and(|(code, _)| code == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {timeout:?}:\n{}", self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A plain HTTP GET on its metrics port: (status code, body).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.metrics_port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        let code = buf.split_whitespace().nth(1)?.parse().ok()?;
        let body = buf
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_owned())
            .unwrap_or_default();
        Some((code, body))
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics").map(|(_, b)| b).unwrap_or_default()
    }

    /// The value of a metric series (exact label set as rendered), if present.
    pub fn metric(&self, series: &str) -> Option<f64> {
        self.metrics()
            .lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: a crash, nothing released.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A graceful stop: close standard input (like SIGTERM) and wait; its exit
    /// status, or None when it did not stop within 20 s (it is then killed).
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        self.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
        None
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.stdin.take();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
