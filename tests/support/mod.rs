//! Test support: a real Kubernetes control plane for integration tests.
//!
//! Include it from an integration test with `mod support;`. The first test that
//! asks for the plane starts it (`tests/cluster/testcluster up`, which builds the
//! pinned components first if needed); every other test of the same binary
//! shares it. The plane runs under `target/testcluster/run-<pid>` and is tied to
//! this process (`--owner-pid`): it is stopped at exit (`atexit`) and, should the
//! test binary crash, by its own watchdog.
//!
//! Each `#[tokio::test]` has its own runtime, so kube `Client`s are made per test
//! ([`client`], [`restricted_client`]); only the [`Cluster`] handle is shared.
//!
//! `KUBEDX_TEST_KUBECONFIG=/path/to/kubeconfig` makes the tests use an already
//! running plane (e.g. one started by hand with `testcluster up`) instead.
#![allow(dead_code)]

pub mod controller;

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{SelfSubjectRulesReview, SelfSubjectRulesReviewSpec};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::api::rbac::v1::{
    ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// The shared control plane of this test binary.
#[derive(Debug)]
pub struct Cluster {
    /// The plane's directory: logs/, audit.log, pki/, etcd/ ...
    pub dir: PathBuf,
    /// Admin kubeconfig (client certificate, group system:masters).
    pub kubeconfig: PathBuf,
    /// Where kubectl, kube-apiserver, ... are.
    pub bin_dir: PathBuf,
    /// Whether this process started the plane (and so stops it).
    owned: bool,
}

impl Cluster {
    /// The apiserver's audit log (Metadata level, every request).
    pub fn audit_log(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    /// The log file of one component: etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler, kwok or supervisor.
    pub fn log(&self, component: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{component}.log"))
    }

    /// Stops one component (etcd, kube-apiserver, kube-controller-manager,
    /// kube-scheduler, kwok) on purpose, a fault to test against; the plane's
    /// supervisor does not count it as a failure. Undo with [`Cluster::start_component`].
    pub fn stop_component(&self, component: &str) {
        let dir = self.dir.to_string_lossy().into_owned();
        run_script(&["stop", &dir, component]).unwrap_or_else(|e| panic!("{e}"));
    }

    /// A value of the plane's `cluster.env` (APISERVER, REGISTRY, REAL_NODE, ...).
    pub fn env(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("cluster.env")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('=').map(str::to_string))
    }

    /// Starts a component stopped with [`Cluster::stop_component`] again (same
    /// arguments, ports and data); returns once it serves again.
    pub fn start_component(&self, component: &str) {
        let dir = self.dir.to_string_lossy().into_owned();
        run_script(&["start", &dir, component]).unwrap_or_else(|e| panic!("{e}"));
    }
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static WITH_REAL_NODE: AtomicBool = AtomicBool::new(false);

/// The shared plane with the real node (`testcluster up --real-node`: Node real-1,
/// a real kubelet and containerd, the local registry in `cluster.env` REGISTRY).
/// Use it instead of [`cluster`] in the test binaries that need real Pods: the
/// first call of either in a binary decides whether its plane has the real node.
pub fn real_node_cluster() -> &'static Cluster {
    WITH_REAL_NODE.store(true, Ordering::SeqCst);
    let c = cluster();
    assert!(
        c.env("REGISTRY").is_some(),
        "the test plane of this binary has no real node (cluster() was called first, or KUBEDX_TEST_KUBECONFIG names a plane started without --real-node)"
    );
    c
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn out_dir() -> PathBuf {
    std::env::var_os("KUBEDX_TESTCLUSTER_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target").join("testcluster"))
}

fn script() -> PathBuf {
    repo_root()
        .join("tests")
        .join("cluster")
        .join("testcluster")
}

/// The shared plane, started on first use. Panics (in every test that asks) if it
/// cannot be started: the real-apiserver tests are never skipped.
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(start) {
        Ok(c) => c,
        Err(e) => panic!("the test control plane could not be started:\n{e}"),
    }
}

fn start() -> Result<Cluster, String> {
    let bin_dir = out_dir().join("bin");
    if let Some(kc) = std::env::var_os("KUBEDX_TEST_KUBECONFIG") {
        let kubeconfig = PathBuf::from(kc);
        let dir = kubeconfig
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if !kubeconfig.is_file() {
            return Err(format!(
                "KUBEDX_TEST_KUBECONFIG={} is not a file",
                kubeconfig.display()
            ));
        }
        // kubectl is needed by the helpers: build it if missing.
        if !bin_dir.join("kubectl").is_file() {
            run_script(&["build"])?;
        }
        return Ok(Cluster {
            dir,
            kubeconfig,
            bin_dir,
            owned: false,
        });
    }

    reap_stale_runs();
    let pid = std::process::id();
    let dir = out_dir().join(format!("run-{pid}"));
    let started = Instant::now();
    let pid_arg = pid.to_string();
    let dir_arg = dir.to_string_lossy().into_owned();
    let mut up = vec!["up", dir_arg.as_str(), "--owner-pid", pid_arg.as_str()];
    if WITH_REAL_NODE.load(Ordering::SeqCst) {
        up.push("--real-node");
    }
    run_script(&up).map_err(|e| {
        format!(
            "{e}\nstate: {}\nlogs: {}",
            std::fs::read_to_string(dir.join("state"))
                .unwrap_or_default()
                .trim(),
            dir.join("logs").display()
        )
    })?;
    eprintln!(
        "support: test control plane up in {:.1}s at {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    // SAFETY: registering a plain extern "C" fn without captured state.
    unsafe {
        libc::atexit(teardown);
    }
    Ok(Cluster {
        kubeconfig: dir.join("kubeconfig"),
        dir,
        bin_dir,
        owned: true,
    })
}

/// Runs tests/cluster/testcluster; its progress goes to stderr.
fn run_script(args: &[&str]) -> Result<(), String> {
    let status = Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{} {}` failed ({status}); its error is printed above",
            script().display(),
            args.join(" ")
        ))
    }
}

extern "C" fn teardown() {
    let Some(Ok(c)) = CLUSTER.get() else { return };
    if !c.owned {
        return;
    }
    let _ = Command::new(script())
        .arg("down")
        .arg(&c.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status();
    if std::env::var_os("KUBEDX_TEST_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&c.dir);
    }
}

/// Stops and removes planes of test binaries that are gone (their watchdog normally
/// did already; this also collects their directories).
fn reap_stale_runs() {
    let Ok(entries) = std::fs::read_dir(out_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("run-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let _ = Command::new(script())
            .arg("down")
            .arg(e.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// Admin client configuration (client certificate from the admin kubeconfig).
pub async fn config() -> Config {
    let kc = Kubeconfig::read_from(&cluster().kubeconfig).expect("read admin kubeconfig");
    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("admin kubeconfig")
}

/// An admin `kube::Client` (group system:masters). Make one per test.
pub async fn client() -> Client {
    Client::try_from(config().await).expect("admin client")
}

fn random_suffix() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:06x}", h.finish() & 0xff_ffff)
}

/// Creates a fresh namespace named `<prefix>-<random>` and waits until its
/// `default` ServiceAccount exists (Pods can be created). Returns its name.
pub async fn namespace(prefix: &str) -> String {
    let prefix: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let name = format!("{}-{}", prefix.trim_matches('-'), random_suffix());
    let client = client().await;
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some([("kubedx.io/test".to_string(), "true".to_string())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    let sas: Api<ServiceAccount> = Api::namespaced(client, &name);
    eventually(
        &format!("ServiceAccount {name}/default"),
        Duration::from_secs(60),
        || async {
            match sas.get_opt("default").await {
                Ok(Some(_)) => Ok(()),
                Ok(None) => Err("not yet created".to_string()),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    name
}

/// What a restricted identity may do.
#[derive(Clone, Debug)]
pub enum Access {
    /// Nothing beyond what every authenticated user may do.
    Nothing,
    /// These rules, in the namespace only (a Role and a RoleBinding).
    Rules(Vec<PolicyRule>),
    /// A ClusterRole (e.g. "view", "edit"), bound in the namespace only (RoleBinding).
    ClusterRole(String),
    /// A ClusterRole bound cluster-wide (ClusterRoleBinding), e.g. to read Nodes.
    ClusterRoleClusterWide(String),
}

/// A PolicyRule: `rule(&[""], &["pods"], &["get", "list", "watch"])`.
pub fn rule(api_groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let v = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
    PolicyRule {
        api_groups: v(api_groups),
        resources: v(resources),
        verbs: verbs.iter().map(|x| x.to_string()).collect(),
        ..Default::default()
    }
}

/// Creates ServiceAccount `ns/sa_name`, grants it `access`, and mints a bearer
/// token for it through the TokenRequest API (1 h).
pub async fn service_account_token(ns: &str, sa_name: &str, access: &Access) -> String {
    let admin = client().await;
    let pp = PostParams::default();
    let meta = |name: &str| ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(ns.to_string()),
        ..Default::default()
    };
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), ns);
    if sas
        .get_opt(sa_name)
        .await
        .expect("get ServiceAccount")
        .is_none()
    {
        sas.create(
            &pp,
            &ServiceAccount {
                metadata: meta(sa_name),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create ServiceAccount {ns}/{sa_name}: {e}"));
    }
    let subject = Subject {
        kind: "ServiceAccount".into(),
        name: sa_name.into(),
        namespace: Some(ns.into()),
        ..Default::default()
    };
    let binding = format!("{sa_name}-kubedx-test");
    match access {
        Access::Nothing => {}
        Access::Rules(rules) => {
            Api::<Role>::namespaced(admin.clone(), ns)
                .create(
                    &pp,
                    &Role {
                        metadata: meta(&binding),
                        rules: Some(rules.clone()),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("create Role {ns}/{binding}: {e}"));
            create_role_binding(&admin, ns, &binding, "Role", &binding, &subject).await;
        }
        Access::ClusterRole(role) => {
            create_role_binding(&admin, ns, &binding, "ClusterRole", role, &subject).await;
        }
        Access::ClusterRoleClusterWide(role) => {
            let name = format!("{ns}-{binding}");
            Api::<ClusterRoleBinding>::all(admin.clone())
                .create(
                    &pp,
                    &ClusterRoleBinding {
                        metadata: ObjectMeta {
                            name: Some(name.clone()),
                            ..Default::default()
                        },
                        role_ref: RoleRef {
                            api_group: Some("rbac.authorization.k8s.io".into()),
                            kind: "ClusterRole".into(),
                            name: role.clone(),
                        },
                        subjects: Some(vec![subject.clone()]),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("create ClusterRoleBinding {name}: {e}"));
        }
    }
    let tr = sas
        .create_token_request(
            sa_name,
            &pp,
            &TokenRequest {
                spec: Some(TokenRequestSpec {
                    expiration_seconds: Some(3600),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("TokenRequest for {ns}/{sa_name}: {e}"));
    tr.status
        .and_then(|s| s.token)
        .expect("TokenRequest returned no token")
}

async fn create_role_binding(
    admin: &Client,
    ns: &str,
    name: &str,
    kind: &str,
    role: &str,
    subject: &Subject,
) {
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(ns.to_string()),
                    ..Default::default()
                },
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: kind.into(),
                    name: role.into(),
                },
                subjects: Some(vec![subject.clone()]),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("create RoleBinding {ns}/{name}: {e}"));
}

/// A kube Config authenticating with a bearer token (and nothing else).
pub async fn config_with_token(token: &str) -> Config {
    let mut kc = Kubeconfig::read_from(&cluster().kubeconfig).expect("read admin kubeconfig");
    let auth: kube::config::AuthInfo =
        serde_json::from_value(serde_json::json!({ "token": token })).expect("AuthInfo");
    for named in &mut kc.auth_infos {
        named.auth_info = Some(auth.clone());
    }
    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("token kubeconfig")
}

/// A Client for ServiceAccount `ns/sa_name` (created if missing) holding `access`,
/// authenticated with a TokenRequest token. Waits until RBAC grants are in effect.
pub async fn restricted_client(ns: &str, sa_name: &str, access: Access) -> Client {
    let token = service_account_token(ns, sa_name, &access).await;
    let client = Client::try_from(config_with_token(&token).await).expect("restricted client");
    if !matches!(access, Access::Nothing) {
        // The RBAC authorizer learns of new bindings through its informers.
        let reviews: Api<SelfSubjectRulesReview> = Api::all(client.clone());
        eventually(
            &format!("RBAC grants of {ns}/{sa_name}"),
            Duration::from_secs(30),
            || async {
                let r = reviews
                    .create(
                        &PostParams::default(),
                        &SelfSubjectRulesReview {
                            spec: SelfSubjectRulesReviewSpec {
                                namespace: Some(ns.to_string()),
                            },
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                let granted = r.status.map(|s| s.resource_rules).unwrap_or_default();
                let beyond_defaults = granted.iter().any(|rule| {
                    rule.api_groups.as_ref().is_none_or(|g| {
                        g.iter()
                            .any(|g| g != "authorization.k8s.io" && g != "authentication.k8s.io")
                    })
                });
                if beyond_defaults {
                    Ok(())
                } else {
                    Err("bindings not yet effective".to_string())
                }
            },
        )
        .await;
    }
    client
}

/// Runs kubectl against the plane (admin), returning its output whatever the exit status.
pub fn kubectl(args: &[&str]) -> Output {
    let c = cluster();
    Command::new(c.bin_dir.join("kubectl"))
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl")
}

/// Runs kubectl and returns its stdout; panics with its stderr if it fails.
pub fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl(args);
    if !out.status.success() {
        panic!(
            "kubectl {} failed ({}):\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One sample of a Prometheus counter.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// The apiserver's `apiserver_request_total` counters, read from `/metrics`
/// (labels: verb, group, version, resource, subresource, scope, component, code, dry_run).
pub async fn apiserver_request_total(client: &Client) -> Vec<Sample> {
    let text = client
        .request_text(
            http::Request::get("/metrics")
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect("GET /metrics");
    parse_metric(&text, "apiserver_request_total")
}

/// Sums the samples whose labels include every `(name, value)` of `filter`.
pub fn sum_samples(samples: &[Sample], filter: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            filter
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Parses the samples of one metric from Prometheus text exposition format.
pub fn parse_metric(text: &str, metric: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        let (labels, value) = if let Some(body) = rest.strip_prefix('{') {
            let Some(end) = find_label_end(body) else {
                continue;
            };
            (parse_labels(&body[..end]), body[end + 1..].trim())
        } else if rest.starts_with(' ') {
            (BTreeMap::new(), rest.trim())
        } else {
            continue; // another metric sharing the prefix
        };
        let value = value.split_whitespace().next().unwrap_or("");
        if let Ok(v) = value.parse::<f64>() {
            out.push(Sample { labels, value: v });
        }
    }
    out
}

fn find_label_end(s: &str) -> Option<usize> {
    let mut in_str = false;
    let mut esc = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if esc => esc = false,
            '\\' if in_str => esc = true,
            '"' => in_str = !in_str,
            '}' if !in_str => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].trim().trim_start_matches(',').trim().to_string();
        let after = &rest[eq + 1..];
        let Some(body) = after.strip_prefix('"') else {
            break;
        };
        let mut val = String::new();
        let mut chars = body.char_indices();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => val.push('\n'),
                    Some((_, c)) => val.push(c),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => val.push(c),
            }
        }
        out.insert(key, val);
        rest = &body[end..];
    }
    out
}

/// Polls `check` every 250 ms until it returns `Ok`, panicking with its last
/// error after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The RBAC verbs that write (or grant): what the least-privilege checks of
/// deploy/ and of the chart's renders allow only on kubedx's own objects.
pub const WRITE_VERBS: &[&str] = &[
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "escalate",
    "bind",
    "impersonate",
    "approve",
    "sign",
    "*",
];
