//! Least privilege on the real test control plane: a tenant install of the chart
//! (`scope: namespace`, Roles only) diagnoses its namespace and is denied
//! elsewhere; without Secret access the apiserver's audit log holds not one Secret
//! request of kubedx, with per-namespace access only requests in those namespaces;
//! references to Secrets kubedx may not read are proven by the kubelet or reported
//! unverified, never missing; the live CLI with a Role-only identity; a watched
//! namespace that does not exist yet.
//!
//! The controllers here reconcile Diagnoses of several namespaces: the tests take
//! turns (`SERIAL`).

#[path = "reliability_common/mod.rs"]
mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde::Deserialize;
use serde_json::{Value, json};

use kubedx::api::{Diagnosis, Phase};

use common::*;
use support::controller::{ControllerProcess, Identity, install, token_kubeconfig};
use support::*;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// helm, built by tests/tools/build.
fn helm() -> PathBuf {
    let status = Command::new(repo_root().join("tests/tools/build"))
        .stdin(Stdio::null())
        .status()
        .expect("run tests/tools/build");
    assert!(status.success(), "tests/tools/build failed");
    std::env::var_os("KUBEDX_TOOLS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/tools"))
        .join("bin/helm")
}

/// The chart rendered into `namespace` with `sets`.
fn render(namespace: &str, sets: &[&str]) -> Vec<Value> {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(helm());
    cmd.args(["template", "kx", "charts/kubedx", "-n", namespace])
        .current_dir(repo_root())
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .stdin(Stdio::null());
    for set in sets {
        cmd.args(["--set", set]);
    }
    let out = cmd.output().expect("run helm");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_norway::Deserializer::from_str(&String::from_utf8_lossy(&out.stdout))
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// A tenant install: the chart's ServiceAccount and RBAC applied for real (the
/// Deployment's Pod is replaced by a controller process with the same identity and
/// the same scope arguments).
struct Install {
    identity: Identity,
    user: String,
    args: Vec<String>,
}

fn install_chart(namespace: &str, sets: &[&str]) -> Install {
    install(); // the CRD
    let docs = render(namespace, sets);
    let rbac: Vec<&Value> = docs
        .iter()
        .filter(|d| {
            matches!(
                d["kind"].as_str(),
                Some(
                    "ServiceAccount"
                        | "Role"
                        | "RoleBinding"
                        | "ClusterRole"
                        | "ClusterRoleBinding"
                )
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rbac.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "List", "items": rbac})).unwrap(),
    )
    .unwrap();
    kubectl_ok(&["apply", "-f", file.to_str().unwrap()]);
    let deployment = docs.iter().find(|d| d["kind"] == "Deployment").unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .filter(|a| {
            [
                "--watch-namespaces=",
                "--secrets=",
                "--secret-namespaces=",
                "--allow-logs",
            ]
            .iter()
            .any(|flag| a.starts_with(flag))
        })
        .collect();
    let sa = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = kubectl_ok(&["create", "token", &sa, "-n", namespace, "--duration=1h"]);
    let kubeconfig = cluster()
        .dir
        .join("kubedx")
        .join(format!("{namespace}.kubeconfig"));
    std::fs::create_dir_all(kubeconfig.parent().unwrap()).unwrap();
    token_kubeconfig(&cluster().kubeconfig, token.trim(), &kubeconfig);
    let user = format!("system:serviceaccount:{namespace}:{sa}");
    // the RBAC authorizer learns of new bindings through its informers
    let probe = format!("--as={user}");
    let _ = eventually_sync("the tenant's Role is in effect", || {
        kubectl(&["auth", "can-i", "list", "pods", "-n", namespace, &probe])
            .status
            .success()
    });
    Install {
        identity: Identity {
            kubeconfig,
            namespace: namespace.to_owned(),
        },
        user,
        args,
    }
}

fn eventually_sync(what: &str, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what}: not within 30 s");
}

/// Deployment `name` failing with `simulate`, its container needing Secret `secret`
/// (an env var from a key).
fn needs_secret(name: &str, simulate: &str, secret: &str) -> Deployment {
    let mut d = deployment(name, "registry.example.invalid/shop/web:v2", Some(simulate));
    let spec = d.spec.template.spec.as_mut().unwrap();
    spec.containers[0].env = Some(vec![
        serde_json::from_value(json!({
            "name": "PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}
        }))
        .unwrap(),
    ]);
    d
}

async fn create_deployment(ns: &str, d: &Deployment) {
    Api::<Deployment>::namespaced(client().await, ns)
        .create(&PostParams::default(), d)
        .await
        .unwrap();
}

async fn create_diagnosis(ns: &str, name: &str, spec: Value) -> Api<Diagnosis> {
    let dxs: Api<Diagnosis> = Api::namespaced(client().await, ns);
    dxs.create(&PostParams::default(), &diagnosis(name, spec))
        .await
        .unwrap();
    dxs
}

fn in_namespace(kind: &str, name: &str, namespace: &str) -> Value {
    json!({"target": {"kind": kind, "name": name, "namespace": namespace}})
}

fn rule<'a>(d: &'a Diagnosis, rule_id: &str) -> Option<&'a kubedx::api::Finding> {
    d.status
        .as_ref()?
        .findings
        .iter()
        .find(|f| f.rule_id == rule_id)
}

fn diagnosed(d: &Diagnosis) -> bool {
    d.status
        .as_ref()
        .is_some_and(|s| s.phase == Phase::Degraded && !s.findings.is_empty())
}

/// The audit log's requests of `user`.
fn requests_of(user: &str) -> Vec<Audited> {
    audit(&cluster().audit_log())
        .into_iter()
        .filter(|e| e.user == user)
        .collect()
}

fn kubedx_cli(kubeconfig: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_install_diagnoses_its_namespace_is_denied_elsewhere_and_reads_no_secret() {
    let _turn = SERIAL.lock().await;
    let tenant = namespace("dx-tenant").await;
    let other = namespace("dx-other").await;
    let chart = install_chart(&tenant, &["scope=namespace", "replicas=1"]);
    assert_eq!(
        chart.args,
        [
            format!("--watch-namespaces={tenant}"),
            "--secrets=none".into()
        ]
    );
    // a Role only: nothing elsewhere, nothing cluster-wide, no Secret
    for (verb, what, ns) in [
        ("list", "pods", other.as_str()),
        ("list", "nodes", ""),
        ("list", "secrets", tenant.as_str()),
    ] {
        let mut args = vec!["auth", "can-i", verb, what];
        let as_user = format!("--as={}", chart.user);
        if !ns.is_empty() {
            args.extend(["-n", ns]);
        }
        args.push(&as_user);
        let out = kubectl(&args);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "no",
            "{verb} {what} {ns}"
        );
    }

    // tenant: a pull failure whose Pods need a Secret nobody proved missing, and a
    // Secret the kubelet says is missing
    create_deployment(
        &tenant,
        &needs_secret("web", "image-not-found", "web-credentials"),
    )
    .await;
    create_deployment(
        &tenant,
        &needs_secret("db", "missing-secret", "db-credentials"),
    )
    .await;
    let web = create_diagnosis(&tenant, "web", target("Deployment", "web")).await;
    create_diagnosis(&tenant, "db", target("Deployment", "db")).await;
    // from the tenant (its admin namespace) into a namespace it does not watch
    create_diagnosis(&tenant, "peek", in_namespace("Deployment", "web", &other)).await;
    // other: a Diagnosis the tenant install cannot even see
    create_deployment(
        &other,
        &needs_secret("web", "image-not-found", "web-credentials"),
    )
    .await;
    let elsewhere = create_diagnosis(&other, "web", target("Deployment", "web")).await;

    let args: Vec<&str> = chart.args.iter().map(String::as_str).collect();
    let ctl = ControllerProcess::start_as("tenant", &chart.identity, &args);

    let d = wait_for(&web, "web", "web diagnosed", Duration::from_secs(90), |d| {
        rule(d, "SecretUnverified").is_some() && rule(d, "ImagePullNotFound").is_some()
    })
    .await;
    let s = d.status.as_ref().unwrap();
    assert_eq!(s.findings[0].rule_id, "ImagePullNotFound", "{s:#?}");
    assert!(s.findings[0].root_cause);
    let unverified = rule(&d, "SecretUnverified").unwrap();
    assert_eq!(unverified.object.name, "web-credentials");
    assert!(
        unverified
            .evidence
            .iter()
            .any(|e| e
                == "unverified: kubedx runs without Secret access (controller --secrets none)"),
        "{unverified:#?}"
    );
    assert!(
        rule(&d, "SecretNotFound").is_none(),
        "never missing without proof"
    );
    // cluster-scoped kinds a Role cannot grant: said, not guessed
    let denied: Vec<&str> = s
        .findings
        .iter()
        .filter(|f| f.rule_id == "PermissionDenied")
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        denied.iter().any(|m| m.starts_with("Could not read nodes")),
        "{denied:?}"
    );
    assert!(!denied.iter().any(|m| m.contains("secrets")), "{denied:?}");

    let dbs: Api<Diagnosis> = Api::namespaced(client().await, &tenant);
    let d = wait_for(&dbs, "db", "db diagnosed", Duration::from_secs(60), |d| {
        rule(d, "SecretNotFound").is_some()
    })
    .await;
    let missing = rule(&d, "SecretNotFound").unwrap();
    assert_eq!(missing.object.name, "db-credentials");
    assert!(
        missing
            .evidence
            .iter()
            .any(|e| e.contains("the kubelet's messages prove db-credentials is missing")),
        "{missing:#?}"
    );
    assert!(rule(&d, "SecretUnverified").is_none());

    let d = wait_for(&dbs, "peek", "peek refused", Duration::from_secs(60), |d| {
        d.status.as_ref().is_some_and(|s| s.phase == Phase::Error)
    })
    .await;
    let (status, reason, message) = condition(&d, "Ready").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "NamespaceNotWatched")
    );
    assert!(
        message.contains(&other) && message.contains(&tenant),
        "{message}"
    );
    assert!(d.status.as_ref().unwrap().findings.is_empty());

    // the Diagnosis outside its namespaces: untouched
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(elsewhere.get("web").await.unwrap().status.is_none());

    // the live CLI with the same Role-only identity
    let out = kubedx_cli(
        &chart.identity.kubeconfig,
        &["diagnose", "deploy/web", "-n", &tenant, "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = report["status"]["findings"].as_array().unwrap();
    assert_eq!(findings[0]["ruleId"], "ImagePullNotFound", "{report:#}");
    let cli_unverified = findings
        .iter()
        .find(|f| f["ruleId"] == "SecretUnverified")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert_eq!(cli_unverified["object"]["name"], "web-credentials");
    assert!(
        cli_unverified["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().contains("forbidden")),
        "the API's refusal is the reason: {cli_unverified:#}"
    );
    assert!(!findings.iter().any(|f| f["ruleId"] == "SecretNotFound"));
    let out = kubedx_cli(
        &chart.identity.kubeconfig,
        &["diagnose", "deploy/web", "-n", &other, "-o", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let log = ctl.log_text();
    assert!(panics(&log).is_empty(), "{log}");
    drop(ctl);

    // the audit log: the controller (not the CLI) asked for no Secret, and read
    // nothing in another namespace
    let controller: Vec<Audited> = requests_of(&chart.user)
        .into_iter()
        .filter(|e| e.user_agent.contains("(controller tenant)"))
        .collect();
    assert!(controller.len() > 20, "{} requests", controller.len());
    let secrets: Vec<&Audited> = controller
        .iter()
        .filter(|e| e.resource == "secrets")
        .collect();
    assert!(secrets.is_empty(), "Secret requests: {secrets:#?}");
    let elsewhere: Vec<&Audited> = controller
        .iter()
        .filter(|e| !e.namespace.is_empty() && e.namespace != tenant)
        .collect();
    assert!(elsewhere.is_empty(), "{elsewhere:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_access_per_namespace_reads_secrets_there_only() {
    let _turn = SERIAL.lock().await;
    let tenant = namespace("dx-secrets").await;
    let team = namespace("dx-team").await;
    let team_set = format!("watchNamespaces={{{team}}}");
    let secret_set = format!("rbac.secretNamespaces={{{tenant}}}");
    let chart = install_chart(
        &tenant,
        &[
            "scope=namespace",
            "replicas=1",
            &team_set,
            "rbac.secrets=namespaces",
            &secret_set,
        ],
    );
    let mut watched = [tenant.clone(), team.clone()];
    watched.sort();
    assert_eq!(
        chart.args,
        [
            format!("--watch-namespaces={}", watched.join(",")),
            "--secrets=namespaces".into(),
            format!("--secret-namespaces={tenant}"),
        ]
    );
    // tenant: one Secret exists, one does not
    Api::<Secret>::namespaced(client().await, &tenant)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "present"},
                "stringData": {"password": "kubedx-canary-5e1f"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    create_deployment(&tenant, &needs_secret("ok", "image-not-found", "present")).await;
    create_deployment(&tenant, &needs_secret("bad", "image-not-found", "absent")).await;
    create_deployment(&team, &needs_secret("web", "image-not-found", "absent")).await;
    let tenant_dxs = create_diagnosis(&tenant, "ok", target("Deployment", "ok")).await;
    create_diagnosis(&tenant, "bad", target("Deployment", "bad")).await;
    let team_dxs = create_diagnosis(&team, "web", target("Deployment", "web")).await;

    let args: Vec<&str> = chart.args.iter().map(String::as_str).collect();
    let ctl = ControllerProcess::start_as("secrets-ns", &chart.identity, &args);

    // where Secrets are read: absence is a fact
    let d = wait_for(
        &tenant_dxs,
        "bad",
        "bad diagnosed",
        Duration::from_secs(90),
        |d| rule(d, "SecretNotFound").is_some(),
    )
    .await;
    let missing = rule(&d, "SecretNotFound").unwrap();
    assert_eq!(missing.object.name, "absent");
    assert!(
        missing
            .evidence
            .iter()
            .any(|e| e.contains("the namespace's secrets were read")),
        "{missing:#?}"
    );
    let d = wait_for(
        &tenant_dxs,
        "ok",
        "ok diagnosed",
        Duration::from_secs(60),
        diagnosed,
    )
    .await;
    assert!(rule(&d, "SecretNotFound").is_none() && rule(&d, "SecretUnverified").is_none());
    // elsewhere: unverified, with why
    let d = wait_for(
        &team_dxs,
        "web",
        "team diagnosed",
        Duration::from_secs(60),
        |d| rule(d, "SecretUnverified").is_some(),
    )
    .await;
    let unverified = rule(&d, "SecretUnverified").unwrap();
    assert!(
        unverified.evidence.iter().any(|e| e
            == &format!(
                "unverified: kubedx reads Secrets only in {tenant} (controller --secrets namespaces)"
            )),
        "{unverified:#?}"
    );
    assert!(rule(&d, "SecretNotFound").is_none());
    let status = serde_json::to_string(&tenant_dxs.get("ok").await.unwrap().status).unwrap();
    assert!(!status.contains("kubedx-canary-5e1f"));
    drop(ctl);

    let secrets: Vec<Audited> = requests_of(&chart.user)
        .into_iter()
        .filter(|e| e.resource == "secrets")
        .collect();
    assert!(
        secrets
            .iter()
            .any(|e| e.verb == "list" || e.verb == "watch"),
        "the controller lists the tenant's Secrets: {secrets:#?}"
    );
    for e in &secrets {
        assert_eq!(
            e.namespace, tenant,
            "a Secret request outside {tenant}: {e:#?}"
        );
        assert!(e.verb == "list" || e.verb == "watch", "{e:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_access_asked_for_but_not_granted_is_unverified_not_a_crash() {
    let _turn = SERIAL.lock().await;
    let tenant = namespace("dx-nogrant").await;
    // the chart grants no Secret; the controller is told it may read them
    let chart = install_chart(&tenant, &["scope=namespace", "replicas=1"]);
    create_deployment(
        &tenant,
        &needs_secret("web", "image-not-found", "web-credentials"),
    )
    .await;
    let dxs = create_diagnosis(&tenant, "web", target("Deployment", "web")).await;
    // and to watch a namespace it has no Role in (that does not even exist yet):
    // refused there, which leaves its own namespace served in full
    let watch = format!("--watch-namespaces={tenant},{tenant}-elsewhere");
    let mut ctl = ControllerProcess::start_as(
        "secrets-denied",
        &chart.identity,
        &[&watch, "--secrets=cluster"],
    );
    let d = wait_for(&dxs, "web", "web diagnosed", Duration::from_secs(90), |d| {
        rule(d, "SecretUnverified").is_some() && rule(d, "ImagePullNotFound").is_some()
    })
    .await;
    let unverified = rule(&d, "SecretUnverified").unwrap();
    assert!(
        unverified
            .evidence
            .iter()
            .any(|e| e.starts_with("unverified: ") && e.contains("forbidden")),
        "{unverified:#?}"
    );
    assert!(rule(&d, "SecretNotFound").is_none());
    assert!(d.status.as_ref().unwrap().findings.iter().any(
        |f| f.rule_id == "PermissionDenied" && f.message.starts_with("Could not read secrets")
    ),);
    let denied: Vec<&str> = d
        .status
        .as_ref()
        .unwrap()
        .findings
        .iter()
        .filter(|f| f.rule_id == "PermissionDenied")
        .map(|f| f.message.as_str())
        .collect();
    assert!(
        !denied
            .iter()
            .any(|m| m.starts_with("Could not read pods")
                || m.starts_with("Could not read deployments")),
        "a refusal in another namespace does not blind this one: {denied:?}"
    );
    assert_eq!(
        d.status.as_ref().unwrap().findings[0].rule_id,
        "ImagePullNotFound"
    );
    assert_eq!(ctl.get("/readyz").map(|r| r.0), Some(200));
    assert!(ctl.exited().is_none(), "the controller keeps running");
    let log = ctl.log_text();
    assert!(panics(&log).is_empty(), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watched_namespace_that_does_not_exist_yet_is_served_once_created() {
    let _turn = SERIAL.lock().await;
    install();
    let present = namespace("dx-present").await;
    let ghost = format!("{present}-later");
    let watch = format!("--watch-namespaces={present},{ghost}");
    let ctl = ControllerProcess::start("ghost", &[&watch]);
    eventually_sync("the missing namespace is logged", || {
        ctl.log_text().contains("watched namespace does not exist")
    });
    assert!(ctl.log_text().contains(&ghost));
    create_deployment(
        &present,
        &deployment(
            "web",
            "registry.example.invalid/web:v1",
            Some("image-not-found"),
        ),
    )
    .await;
    let dxs = create_diagnosis(&present, "web", target("Deployment", "web")).await;
    wait_for(
        &dxs,
        "web",
        "the existing namespace is served",
        Duration::from_secs(60),
        diagnosed,
    )
    .await;
    // a namespace not watched at all: refused
    let unwatched = namespace("dx-unwatched").await;
    let refused = create_diagnosis(&unwatched, "web", target("Deployment", "web")).await;
    let d = wait_for(&refused, "web", "refused", Duration::from_secs(60), |d| {
        d.status.as_ref().is_some_and(|s| s.phase == Phase::Error)
    })
    .await;
    assert_eq!(condition(&d, "Ready").unwrap().1, "NamespaceNotWatched");

    kubectl_ok(&["create", "namespace", &ghost]);
    eventually_sync("the default ServiceAccount", || {
        kubectl(&["get", "serviceaccount", "default", "-n", &ghost])
            .status
            .success()
    });
    create_deployment(
        &ghost,
        &deployment(
            "web",
            "registry.example.invalid/web:v1",
            Some("image-not-found"),
        ),
    )
    .await;
    let late = create_diagnosis(&ghost, "web", target("Deployment", "web")).await;
    let d = wait_for(
        &late,
        "web",
        "the new namespace is served",
        Duration::from_secs(90),
        diagnosed,
    )
    .await;
    assert_eq!(d.status.unwrap().findings[0].rule_id, "ImagePullNotFound");
    let log = ctl.log_text();
    assert!(panics(&log).is_empty(), "{log}");
}

/// Resident memory (VmRSS) of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// docs/performance.md, "Memory follows what is watched": 2,000 synthetic Pods in 40
/// namespaces; one controller watching 1 of them, one watching all 40, side by side.
/// A measurement (minutes of load), run on purpose:
/// `cargo test --release --test scopes -- --ignored memory_follows --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement: loads 2,000 Pods (minutes); see docs/performance.md"]
async fn memory_follows_what_is_watched() {
    let _turn = SERIAL.lock().await;
    install();
    let cfg = kubedx::synth::Config {
        pods: 2000,
        pods_per_namespace: 50,
        ..Default::default()
    };
    let synth = kubedx::synth::generate(&cfg);
    let namespaces: Vec<String> = synth
        .namespaces
        .keys()
        .filter(|ns| *ns != "kube-system")
        .cloned()
        .collect();
    assert_eq!(namespaces.len(), 40, "{namespaces:?}");
    let client = client().await;
    let t0 = std::time::Instant::now();
    kubedx::synth::live::load(&client, &synth, 32)
        .await
        .unwrap();
    kubedx::synth::live::wait_pods(
        &client,
        cfg.pods,
        |phases| !phases.contains_key("Unknown"),
        Duration::from_secs(900),
    )
    .await
    .unwrap();
    eprintln!(
        "memory_follows: loaded in {:.0}s",
        t0.elapsed().as_secs_f64()
    );
    let one = format!("--watch-namespaces={}", namespaces[0]);
    let all = format!("--watch-namespaces={}", namespaces.join(","));
    let whole = ControllerProcess::start("rss-cluster", &[]);
    let forty = ControllerProcess::start("rss-40", &[&all]);
    let single = ControllerProcess::start("rss-1", &[&one]);
    // let the caches fill and the allocator settle
    tokio::time::sleep(Duration::from_secs(20)).await;
    let pods = |ctl: &ControllerProcess| {
        parse_metric(&ctl.metrics(), "kubedx_cache_objects")
            .iter()
            .filter(|s| s.labels.get("kind").map(String::as_str) == Some("Pod"))
            .map(|s| s.value)
            .sum::<f64>()
    };
    let mut rows = Vec::new();
    for (what, ctl) in [
        ("whole cluster", &whole),
        ("40 of 40 namespaces", &forty),
        ("1 of 40 namespaces", &single),
    ] {
        let rss = rss_kib(ctl.pid());
        rows.push((what, rss, pods(ctl)));
        eprintln!(
            "memory_follows: {what}: VmRSS {} MiB, {} Pods cached",
            rss / 1024,
            pods(ctl)
        );
    }
    let (_, rss_all, pods_all) = rows[1];
    let (_, rss_one, pods_one) = rows[2];
    assert!(pods_all >= cfg.pods as f64, "{rows:?}");
    assert!(pods_one <= pods_all / 20.0, "{rows:?}");
    assert!(
        rss_one * 2 < rss_all,
        "memory does not follow what is watched: {rows:?}"
    );
}
