//! The Helm chart (charts/kubedx), with helm and kubeconform built from their Go
//! modules (tests/tools/build):
//!
//! - `helm lint --strict` with several value sets; `helm template` renders what each
//!   value promises (leader election with replicas > 1, `logs.enabled` → pods/log and
//!   --allow-logs, monitoring objects, digests, admin namespaces), the ClusterRole is
//!   deploy/'s, the Pod is hardened like deploy/'s, the CRD is crds/'s;
//! - kubeconform validates every rendering, deploy/, crds/ and the example
//!   Diagnoses against JSON schemas generated from the test apiserver's own
//!   OpenAPI (no download). ServiceMonitor and PrometheusRule (prometheus-operator
//!   CRDs, not installed here) are skipped by kubeconform and checked by this test;
//! - `helm install --wait` on the test control plane: kwok runs the Pods, the
//!   Deployment becomes Available, with no Pod Security warning in a `restricted`
//!   namespace.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use support::*;

fn tools() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(repo_root().join("tests/tools/build"))
            .stdin(Stdio::null())
            .status()
            .expect("run tests/tools/build");
        assert!(status.success(), "tests/tools/build failed (see above)");
        let out = std::env::var_os("KUBEDX_TOOLS_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target/tools"));
        out.join("bin")
    })
}

fn helm_home() -> &'static Path {
    static HOME: OnceLock<tempfile::TempDir> = OnceLock::new();
    HOME.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

fn helm(args: &[&str]) -> Output {
    let home = helm_home();
    Command::new(tools().join("helm"))
        .args(args)
        .current_dir(repo_root())
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .stdin(Stdio::null())
        .output()
        .expect("run helm")
}

fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// The value sets the chart is tested with.
const VALUE_SETS: &[(&str, &[&str])] = &[
    ("defaults", &[]),
    ("logs", &["logs.enabled=true"]),
    (
        "monitoring",
        &[
            "serviceMonitor.enabled=true",
            "prometheusRule.enabled=true",
            "dashboards.enabled=true",
            "prometheusRule.staleDiagnosis.selector=namespace!=\"debug\"",
        ],
    ),
    ("single", &["replicas=1", "networkPolicy.enabled=false"]),
    (
        "alerts",
        &[
            "alerts.enabled=true",
            "alerts.token.value=s3cret",
            "notifications.sinks[0].type=slack",
            "notifications.sinks[0].url=https://hooks.slack.invalid/services/T0/B0/x",
            "notifications.sinks[1].type=webhook",
            "notifications.sinks[1].secretName=oncall-webhook",
            "notifications.sinks[1].secretKey=url",
        ],
    ),
    (
        "pinned",
        &[
            "image.digest=sha256:4f1c8a7c2b0f6f0e3f6f4b6d2a9a4a1b0f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "adminNamespaces={ops,platform}",
            "networkPolicy.apiServer.cidrs={10.0.0.1/32}",
            "logLevel=debug",
        ],
    ),
    (
        "tenant",
        &[
            "scope=namespace",
            "watchNamespaces={team-b}",
            "rbac.secrets=namespaces",
            "rbac.secretNamespaces={kubedx-helm}",
            "logs.enabled=true",
        ],
    ),
    (
        "tenant-alerts",
        &[
            "scope=namespace",
            "watchNamespaces={team-b}",
            "alerts.enabled=true",
            "alerts.token.value=s3cret",
        ],
    ),
    (
        "secrets-cluster",
        &["rbac.secrets=cluster", "watchNamespaces={shop,bank}"],
    ),
    (
        "secrets-namespaces",
        &[
            "rbac.secrets=namespaces",
            "rbac.secretNamespaces={shop,bank}",
        ],
    ),
];

fn set_args(sets: &[&str]) -> Vec<String> {
    sets.iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect()
}

fn render(sets: &[&str]) -> Vec<Value> {
    let mut args: Vec<String> = ["template", "kx", "charts/kubedx", "-n", "kubedx-helm"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(set_args(sets));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    docs(&ok(&format!("helm {}", args.join(" ")), helm(&argv)))
}

fn by_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let v = by_kind(docs, kind);
    assert_eq!(v.len(), 1, "{} {kind}", v.len());
    v[0]
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

fn args_of(d: &[Value]) -> Vec<String> {
    strs(&one(d, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"])
}

#[test]
fn helm_lint_passes_for_every_value_set() {
    for (name, sets) in VALUE_SETS {
        let mut args = vec![
            "lint".to_string(),
            "--strict".into(),
            "charts/kubedx".into(),
        ];
        args.extend(set_args(sets));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ok(&format!("helm lint ({name})"), helm(&argv));
        assert!(out.contains("0 chart(s) failed"), "{name}: {out}");
    }
}

#[test]
fn chart_crd_is_the_generated_one() {
    let chart =
        std::fs::read_to_string(repo_root().join("charts/kubedx/crds/diagnosis.yaml")).unwrap();
    let crds = std::fs::read_to_string(repo_root().join("crds/diagnosis.yaml")).unwrap();
    assert!(
        chart == crds,
        "charts/kubedx/crds/diagnosis.yaml differs from crds/diagnosis.yaml. Copy it:\n\n    cp crds/diagnosis.yaml charts/kubedx/crds/diagnosis.yaml\n"
    );
    let c: Value = serde_norway::from_str(
        &std::fs::read_to_string(repo_root().join("charts/kubedx/Chart.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(c["apiVersion"], "v2");
    assert_eq!(c["name"], "kubedx");
    // the chart's appVersion is the crate's version (the default image tag)
    assert_eq!(c["appVersion"], env!("CARGO_PKG_VERSION"));
}

fn rules(role: &Value) -> Vec<Value> {
    role["rules"].as_array().unwrap().clone()
}

fn deploy_docs() -> Vec<Value> {
    docs(&std::fs::read_to_string(repo_root().join("deploy/10-rbac.yaml")).unwrap())
}

/// The alert receiver's rule: it makes, refreshes and deletes alerts' Diagnoses.
fn alert_receiver_rule() -> Value {
    json!({"apiGroups": ["kubedx.io"], "resources": ["diagnoses"], "verbs": ["create", "patch", "delete"]})
}

/// The security settings of deploy/'s Pod, which the chart's must equal.
fn security(d: &Value) -> (Value, Value, Value, Value, Value) {
    let spec = &d["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    (
        spec["securityContext"].clone(),
        c["securityContext"].clone(),
        c["livenessProbe"].clone(),
        c["readinessProbe"].clone(),
        c["resources"].clone(),
    )
}

#[test]
fn defaults_render_deploy_s_rbac_and_hardening() {
    let d = render(&[]);
    let kinds: BTreeSet<&str> = d.iter().map(|x| x["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "NetworkPolicy",
        ])
    );
    // every object has the standard labels
    for o in &d {
        let l = &o["metadata"]["labels"];
        for k in [
            "helm.sh/chart",
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
        ] {
            assert!(
                l[k].is_string(),
                "{} {} lacks {k}",
                o["kind"],
                o["metadata"]["name"]
            );
        }
    }
    // the ClusterRole is deploy/'s, rule for rule, less the alert receiver's writes
    // (the chart grants them only with alerts.enabled)
    let deploy = deploy_docs();
    let deploy_cr = deploy.iter().find(|x| x["kind"] == "ClusterRole").unwrap();
    let without_alerts: Vec<Value> = rules(deploy_cr)
        .into_iter()
        .filter(|r| *r != alert_receiver_rule())
        .collect();
    assert_eq!(rules(one(&d, "ClusterRole")), without_alerts);
    // the Lease Role: create, and get/patch of its own Lease only
    let role = one(&d, "Role");
    assert_eq!(
        Value::Array(rules(role)),
        json!([
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["kx-kubedx"], "verbs": ["get", "patch"]},
        ])
    );
    // the Pod: deploy/'s security settings, probes and resources
    let dep = one(&d, "Deployment");
    let deploy_dep =
        docs(&std::fs::read_to_string(repo_root().join("deploy/20-deployment.yaml")).unwrap());
    assert_eq!(security(dep), security(&deploy_dep[0]));
    assert_eq!(
        dep["spec"]["template"]["spec"]["serviceAccountName"],
        "kx-kubedx"
    );
    let args = args_of(&d);
    assert!(args.contains(&"--leader-election".into()), "{args:?}");
    assert!(args.contains(&"--lease-name=kx-kubedx".into()), "{args:?}");
    assert!(!args.contains(&"--allow-logs".into()));
    assert!(
        !args.iter().any(|a| a.starts_with("--admin-namespaces")),
        "{args:?}"
    );
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["image"],
        format!("ghcr.io/kubedx/kubedx:{}", env!("CARGO_PKG_VERSION"))
    );
    let env: BTreeMap<String, Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e.clone()))
        .collect();
    assert_eq!(env["RUST_LOG"]["value"], "info");
    // the metrics Service and the NetworkPolicy select the controller
    let selector = &dep["spec"]["selector"]["matchLabels"];
    assert_eq!(&one(&d, "Service")["spec"]["selector"], selector);
    let np = one(&d, "NetworkPolicy");
    assert_eq!(&np["spec"]["podSelector"]["matchLabels"], selector);
    assert_eq!(strs(&np["spec"]["policyTypes"]), ["Ingress", "Egress"]);
    assert_eq!(np["spec"]["ingress"][0]["ports"][0]["port"], 8080);
    let egress_ports: Vec<i64> = np["spec"]["egress"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["port"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(egress_ports, [443, 6443, 53, 53]);
    assert_eq!(
        np["spec"]["egress"][1]["to"][0]["podSelector"]["matchLabels"]["k8s-app"],
        "kube-dns"
    );
}

#[test]
fn values_do_what_they_say() {
    // logs.enabled: pods/log get, --allow-logs
    let d = render(&["logs.enabled=true"]);
    let last = rules(one(&d, "ClusterRole")).pop().unwrap();
    assert_eq!(
        last,
        json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]})
    );
    assert!(args_of(&d).contains(&"--allow-logs".into()));
    let defaults = render(&[]);
    assert!(
        !rules(one(&defaults, "ClusterRole"))
            .iter()
            .any(|r| strs(&r["resources"]).contains(&"pods/log".into())),
        "no log access by default"
    );

    // replicas 1: no leader election, no Lease Role, no PDB
    let d = render(&["replicas=1"]);
    assert_eq!(one(&d, "Deployment")["spec"]["replicas"], 1);
    assert!(
        !args_of(&d)
            .iter()
            .any(|a| a.contains("leader") || a.contains("lease"))
    );
    assert!(by_kind(&d, "Role").is_empty() && by_kind(&d, "RoleBinding").is_empty());
    assert!(by_kind(&d, "PodDisruptionBudget").is_empty());
    let d = render(&["replicas=1", "leaderElection.enabled=true"]);
    assert!(args_of(&d).contains(&"--leader-election".into()));
    assert_eq!(by_kind(&d, "Role").len(), 1);

    // pinned image, admin namespaces, log level, API CIDRs
    let (_, pinned) = VALUE_SETS.iter().find(|(n, _)| *n == "pinned").unwrap();
    let d = render(pinned);
    let c = &one(&d, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        c["image"],
        format!(
            "ghcr.io/kubedx/kubedx:{}@sha256:4f1c8a7c2b0f6f0e3f6f4b6d2a9a4a1b0f8e7d6c5b4a39281706f5e4d3c2b1a0",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(args_of(&d).contains(&"--admin-namespaces=ops,platform".into()));
    assert!(
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "RUST_LOG" && e["value"] == "debug")
    );
    assert_eq!(
        one(&d, "NetworkPolicy")["spec"]["egress"][0]["to"],
        json!([{"ipBlock": {"cidr": "10.0.0.1/32"}}])
    );

    // monitoring: ServiceMonitor, PrometheusRule, dashboard ConfigMap
    let (_, monitoring) = VALUE_SETS.iter().find(|(n, _)| *n == "monitoring").unwrap();
    let d = render(monitoring);
    let sm = one(&d, "ServiceMonitor");
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        one(&d, "Service")["metadata"]["labels"]
            .as_object()
            .map(|l| {
                let keys = [
                    "app.kubernetes.io/name",
                    "app.kubernetes.io/instance",
                    "app.kubernetes.io/component",
                ];
                Value::Object(
                    l.iter()
                        .filter(|(k, _)| keys.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect::<Map<_, _>>(),
                )
            })
            .unwrap()
    );
    let pr = one(&d, "PrometheusRule");
    let alerts: BTreeMap<String, Value> = pr["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["alert"].as_str().unwrap().to_string(), r.clone()))
        .collect();
    assert_eq!(
        alerts.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "KubedxCriticalFinding",
            "KubedxDiagnosisStale",
            "KubedxNotificationsFailing",
            "KubedxReconcileErrors"
        ]
    );
    let expr = |a: &str| alerts[a]["expr"].as_str().unwrap().to_string();
    assert_eq!(
        expr("KubedxCriticalFinding"),
        r#"max by (namespace, diagnosis, rule) (kubedx_finding_active{severity="Critical"}) == 1"#
    );
    assert_eq!(alerts["KubedxCriticalFinding"]["for"], "10m");
    assert_eq!(
        alerts["KubedxCriticalFinding"]["labels"]["severity"],
        "critical"
    );
    assert_eq!(
        expr("KubedxDiagnosisStale"),
        r#"time() - max by (namespace, diagnosis) (kubedx_diagnosis_last_run_timestamp_seconds{namespace!="debug"}) > 1800"#
    );
    assert_eq!(
        expr("KubedxReconcileErrors"),
        "rate(kubedx_reconcile_errors_total[5m]) > 0"
    );
    for a in alerts.values() {
        let ann = &a["annotations"];
        assert!(
            ann["summary"].as_str().unwrap().contains("{{ $labels."),
            "{ann}"
        );
        assert!(ann["description"].is_string());
    }
    let cm = by_kind(&d, "ConfigMap");
    assert_eq!(cm.len(), 1);
    assert_eq!(cm[0]["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped: Value =
        serde_json::from_str(cm[0]["data"]["kubedx.json"].as_str().unwrap()).unwrap();
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("charts/kubedx/dashboards/kubedx.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(shipped, file);
}

// ---------------------------------------------------------------------------------
// kubeconform, with schemas from the test apiserver's OpenAPI

/// Definitions reachable from `root` through `$ref`s.
fn reachable(defs: &Map<String, Value>, root: &str) -> BTreeSet<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if k == "$ref"
                        && let Some(r) = x.as_str().and_then(|s| s.strip_prefix("#/definitions/"))
                    {
                        out.push(r.to_string());
                    }
                    refs(x, out);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(d) = todo.pop() {
        if seen.insert(d.clone())
            && let Some(v) = defs.get(&d)
        {
            refs(v, &mut todo);
        }
    }
    seen
}

/// OpenAPI v2 → JSON Schema the way kubeconform's strict schemas are made:
/// int-or-string and quantities accept numbers, objects with properties refuse
/// unknown fields (unless they preserve unknown fields).
fn to_json_schema(v: &mut Value) {
    if let Value::Object(m) = v {
        if m.get("format").and_then(Value::as_str) == Some("int-or-string") {
            *v = json!({"oneOf": [{"type": "string"}, {"type": "integer"}]});
            return;
        }
        if m.contains_key("properties")
            && !m.contains_key("additionalProperties")
            && m.get("x-kubernetes-preserve-unknown-fields") != Some(&Value::Bool(true))
        {
            m.insert("additionalProperties".into(), Value::Bool(false));
        }
        for x in m.values_mut() {
            to_json_schema(x);
        }
    } else if let Value::Array(a) = v {
        a.iter_mut().for_each(to_json_schema);
    }
}

/// Writes one schema file per (group, version, kind) of `wanted`, named the way
/// the `-schema-location` template of [`kubeconform`] finds them.
fn write_schemas(dir: &Path, wanted: &BTreeSet<(String, String)>) {
    let raw = kubectl_ok(&["get", "--raw", "/openapi/v2"]);
    let spec: Value = serde_json::from_str(&raw).unwrap();
    let mut defs = spec["definitions"].as_object().unwrap().clone();
    defs.insert(
        "io.k8s.apimachinery.pkg.api.resource.Quantity".into(),
        json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
    );
    for (api_version, kind) in wanted {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let Some((name, _)) = defs.iter().find(|(_, d)| {
            d["x-kubernetes-group-version-kind"]
                .as_array()
                .is_some_and(|g| {
                    g.iter().any(|g| {
                        g["group"] == group && g["version"] == version && g["kind"] == kind.as_str()
                    })
                })
        }) else {
            continue; // no schema: kubeconform reports it (only the skipped kinds may lack one)
        };
        let mut sub = Map::new();
        for r in reachable(&defs, name) {
            sub.insert(r.clone(), defs[&r].clone());
        }
        let mut schema = json!({"$ref": format!("#/definitions/{name}"), "definitions": sub});
        to_json_schema(&mut schema);
        let tpl_group = api_version.split('/').next().unwrap();
        let file = dir.join(format!(
            "{}_{}_{}.json",
            kind.to_lowercase(),
            tpl_group,
            version
        ));
        std::fs::write(file, serde_json::to_vec(&schema).unwrap()).unwrap();
    }
}

fn kubeconform(schemas: &Path, files: &[PathBuf]) -> Output {
    let location = format!(
        "{}/{{{{ .ResourceKind }}}}_{{{{ .Group }}}}_{{{{ .ResourceAPIVersion }}}}.json",
        schemas.display()
    );
    Command::new(tools().join("kubeconform"))
        .args(["-strict", "-summary", "-output", "text"])
        .args(["-schema-location", &location])
        // prometheus-operator kinds: their CRDs are not installed here (checked above)
        .args(["-skip", "ServiceMonitor,PrometheusRule"])
        .args(files)
        .stdin(Stdio::null())
        .output()
        .expect("run kubeconform")
}

const RELEASE_NS: &str = "kubedx-helm";

/// `helm install --wait` of the chart (CRD from crds/ included) into a `restricted`
/// namespace, once: (stdout, stderr).
fn release() -> &'static (String, String) {
    static DONE: OnceLock<(String, String)> = OnceLock::new();
    DONE.get_or_init(|| {
        let ns = RELEASE_NS;
        kubectl_ok(&["create", "namespace", ns]);
        kubectl_ok(&[
            "label",
            "namespace",
            ns,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/warn=restricted",
        ]);
        let kubeconfig = cluster().kubeconfig.to_str().unwrap().to_string();
        let out = helm(&[
            "install",
            "kx",
            "charts/kubedx",
            "-n",
            ns,
            "--kubeconfig",
            &kubeconfig,
            "--set",
            "logs.enabled=true",
            "--wait",
            "--timeout",
            "3m",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let stdout = ok("helm install --wait", out);
        kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            "crd/diagnoses.kubedx.io",
            "--timeout=60s",
        ]);
        (stdout, stderr)
    })
}

#[test]
fn kubeconform_validates_the_chart_deploy_and_examples() {
    release(); // the Diagnosis CRD, so that the apiserver's OpenAPI has its schema
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, sets) in VALUE_SETS {
        let mut args: Vec<String> = [
            "template",
            "kx",
            "charts/kubedx",
            "-n",
            "kubedx-helm",
            "--include-crds",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(set_args(sets));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let text = ok(&format!("helm template ({name})"), helm(&argv));
        let f = dir.path().join(format!("chart-{name}.yaml"));
        std::fs::write(&f, text).unwrap();
        files.push(f);
    }
    for f in [
        "00-namespace.yaml",
        "10-rbac.yaml",
        "20-deployment.yaml",
        "30-service.yaml",
    ] {
        files.push(repo_root().join("deploy").join(f));
    }
    files.push(repo_root().join("crds/diagnosis.yaml"));
    for f in ["debug-once.yaml", "watch-checkout.yaml"] {
        files.push(repo_root().join("examples/gitops/diagnoses").join(f));
    }
    let mut wanted = BTreeSet::new();
    for f in &files {
        for d in docs(&std::fs::read_to_string(f).unwrap()) {
            wanted.insert((
                d["apiVersion"].as_str().unwrap().to_string(),
                d["kind"].as_str().unwrap().to_string(),
            ));
        }
    }
    let schemas = dir.path().join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    write_schemas(&schemas, &wanted);

    let out = kubeconform(&schemas, &files);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubeconform failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // e.g. "Summary: 60 resources found in 12 files - Valid: 55, Invalid: 0, Errors: 0, Skipped: 5"
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("Summary:"))
        .expect("a summary");
    eprintln!("kubeconform: {summary}");
    assert!(summary.contains("Invalid: 0, Errors: 0"), "{summary}");
    assert!(
        summary.contains("Skipped: 2"),
        "only ServiceMonitor and PrometheusRule are skipped: {summary}"
    );

    // the schemas are strict: a typo is caught
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(repo_root().join("deploy/20-deployment.yaml"))
            .unwrap()
            .replace("readOnlyRootFilesystem", "readOnlyRootFileSystem"),
    )
    .unwrap();
    let out = kubeconform(&schemas, &[bad]);
    assert!(
        !out.status.success(),
        "kubeconform accepted an unknown field"
    );
    let bad_dx = dir.path().join("bad-dx.yaml");
    std::fs::write(
        &bad_dx,
        std::fs::read_to_string(repo_root().join("examples/gitops/diagnoses/debug-once.yaml"))
            .unwrap()
            .replace("mode: Once", "mode: Sometimes"),
    )
    .unwrap();
    let out = kubeconform(&schemas, &[bad_dx]);
    assert!(
        !out.status.success(),
        "kubeconform accepted mode: Sometimes"
    );
}

#[test]
fn helm_install_on_the_test_control_plane_becomes_available() {
    let (stdout, stderr) = release();
    let ns = RELEASE_NS;
    let kubeconfig = cluster().kubeconfig.to_str().unwrap().to_string();
    assert!(stdout.contains("STATUS: deployed"), "{stdout}");
    assert!(
        stdout.contains("kubectl wait --for=condition=Ready"),
        "NOTES.txt: {stdout}"
    );
    assert!(
        !stderr.contains("PodSecurity") && !stderr.contains("would violate"),
        "Pod Security warnings: {stderr}"
    );
    // kwok runs the Pods: the Deployment is Available with both replicas ready
    kubectl_ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/kx-kubedx",
        "-n",
        ns,
        "--timeout=60s",
    ]);
    let dep: Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "deployment",
        "kx-kubedx",
        "-n",
        ns,
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(dep["status"]["readyReplicas"], 2, "{}", dep["status"]);
    let pods: Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        "app.kubernetes.io/instance=kx",
        "-o",
        "json",
    ]))
    .unwrap();
    let pods = pods["items"].as_array().unwrap();
    assert_eq!(pods.len(), 2);
    for p in pods {
        assert_eq!(p["spec"]["securityContext"]["runAsUser"], 65532);
        assert_eq!(p["spec"]["serviceAccountName"], "kx-kubedx");
    }
    // the ServiceAccount may do what the controller needs, and no more
    let sa = format!("system:serviceaccount:{ns}:kx-kubedx");
    let can = |args: &[&str]| {
        let mut a = vec!["auth", "can-i"];
        a.extend(args);
        a.extend(["--as", sa.as_str()]);
        String::from_utf8_lossy(&kubectl(&a).stdout)
            .trim()
            .to_string()
    };
    assert_eq!(can(&["watch", "pods", "-A"]), "yes");
    assert_eq!(
        can(&["get", "pods", "--subresource=log", "-n", "default"]),
        "yes"
    );
    assert_eq!(
        can(&[
            "patch",
            "diagnoses.kubedx.io",
            "--subresource=status",
            "-n",
            "default"
        ]),
        "yes"
    );
    assert_eq!(can(&["get", "secrets", "-n", "default"]), "no");
    assert_eq!(can(&["delete", "pods", "-n", "default"]), "no");
    assert_eq!(can(&["patch", "deployments.apps", "-n", "default"]), "no");
    assert_eq!(
        can(&["patch", "leases.coordination.k8s.io/kx-kubedx", "-n", ns]),
        "yes"
    );
    assert_eq!(
        can(&["patch", "leases.coordination.k8s.io/other", "-n", ns]),
        "no"
    );
    let status = ok(
        "helm status",
        helm(&["status", "kx", "-n", ns, "--kubeconfig", &kubeconfig]),
    );
    assert!(status.contains("STATUS: deployed"));
    ok(
        "helm uninstall",
        helm(&[
            "uninstall",
            "kx",
            "-n",
            ns,
            "--kubeconfig",
            &kubeconfig,
            "--wait",
        ]),
    );
    // Helm keeps CRDs of crds/ on uninstall
    kubectl_ok(&["get", "crd", "diagnoses.kubedx.io"]);
}

/// An accepted exception of tests/lint/kube-score.yaml.
#[derive(Deserialize)]
struct LintException {
    check: String,
    inputs: Vec<String>,
    reason: String,
}

/// tests/lint/kube-score.yaml.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LintConfig {
    kubernetes_version: String,
    optional: Vec<String>,
    exceptions: Vec<LintException>,
}

/// kube-score's findings (Critical or Warning) in `files`: (check id, object, comment).
fn kube_score(config: &LintConfig, files: &[PathBuf]) -> Vec<(String, String, String)> {
    let mut cmd = Command::new(tools().join("kube-score"));
    cmd.args(["score", "-o", "json", "--kubernetes-version"])
        .arg(&config.kubernetes_version);
    for optional in &config.optional {
        cmd.args(["--enable-optional-test", optional]);
    }
    let out = cmd
        .args(files)
        .stdin(Stdio::null())
        .output()
        .expect("run kube-score");
    // kube-score exits 1 when it finds something: the JSON says what
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("kube-score: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut findings = Vec::new();
    for object in report.as_array().expect("kube-score objects") {
        let name = object["object_name"].as_str().unwrap_or("?").to_string();
        for check in object["checks"].as_array().into_iter().flatten() {
            let grade = check["grade"].as_i64().unwrap_or(0);
            if check["skipped"] == true || grade > 5 {
                continue;
            }
            let comments: Vec<String> = check["comments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "{} {}",
                        c["summary"].as_str().unwrap_or(""),
                        c["description"].as_str().unwrap_or("")
                    )
                })
                .collect();
            findings.push((
                check["check"]["id"].as_str().unwrap().to_string(),
                name.clone(),
                comments.join("; "),
            ));
        }
    }
    findings
}

/// The RBAC linter of the tests (kube-score reads no RBAC): every render of every
/// value set grants no wildcard, no non-resource URL, no write verb but on the
/// Diagnoses' status, Events and the Lease (and the Diagnoses themselves only with
/// `alerts.enabled`: the receiver makes them), never `get` on Secrets, Secrets only
/// when `rbac.secrets` asks for them, and no cluster-wide grant with `scope: namespace`.
#[test]
fn every_render_is_least_privilege() {
    const WRITABLE: &[(&str, &str)] = &[
        ("kubedx.io", "diagnoses/status"),
        ("events.k8s.io", "events"),
        ("coordination.k8s.io", "leases"),
    ];
    for (name, sets) in VALUE_SETS {
        let d = render(sets);
        let secrets_wanted = sets
            .iter()
            .any(|s| s.starts_with("rbac.secrets=") && *s != "rbac.secrets=none");
        let namespace_scope = sets.contains(&"scope=namespace");
        let alerts = sets.contains(&"alerts.enabled=true");
        if namespace_scope {
            assert!(
                by_kind(&d, "ClusterRole").is_empty()
                    && by_kind(&d, "ClusterRoleBinding").is_empty(),
                "{name}: scope=namespace renders a cluster-wide grant"
            );
        }
        let mut secret_grants_seen = 0;
        for role in by_kind(&d, "ClusterRole")
            .into_iter()
            .chain(by_kind(&d, "Role"))
        {
            let what = format!("{name}: {} {}", role["kind"], role["metadata"]["name"]);
            for rule in rules(role) {
                assert!(rule.get("nonResourceURLs").is_none(), "{what}: {rule}");
                let groups = strs(&rule["apiGroups"]);
                let resources = strs(&rule["resources"]);
                let verbs = strs(&rule["verbs"]);
                for x in groups.iter().chain(&resources).chain(&verbs) {
                    assert!(!x.contains('*'), "{what}: wildcard in {rule}");
                }
                for group in &groups {
                    for resource in &resources {
                        for verb in verbs.iter().filter(|v| WRITE_VERBS.contains(&v.as_str())) {
                            assert!(
                                WRITABLE.contains(&(group.as_str(), resource.as_str()))
                                    || (alerts
                                        && (group.as_str(), resource.as_str())
                                            == ("kubedx.io", "diagnoses")
                                        && ["create", "patch", "delete"].contains(&verb.as_str())),
                                "{what}: {verb} on {group}/{resource}"
                            );
                        }
                        if group.is_empty() && resource == "secrets" {
                            assert_eq!(
                                verbs,
                                ["list", "watch"],
                                "{what}: Secrets as metadata only"
                            );
                            secret_grants_seen += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(
            secret_grants_seen > 0,
            secrets_wanted,
            "{name}: Secret grants only when rbac.secrets asks for them"
        );
    }
}

#[test]
fn kube_score_finds_nothing_but_the_accepted_exceptions() {
    let config: LintConfig = serde_norway::from_str(
        &std::fs::read_to_string(repo_root().join("tests/lint/kube-score.yaml")).unwrap(),
    )
    .expect("tests/lint/kube-score.yaml");
    for exception in &config.exceptions {
        assert!(
            exception.reason.split_whitespace().count() >= 8,
            "the exception of {} says why",
            exception.check
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<(String, Vec<PathBuf>)> = Vec::new();
    let deploy = repo_root().join("deploy");
    let mut deploy_files: Vec<PathBuf> = ["", "optional"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(deploy.join(sub)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    deploy_files.sort();
    inputs.push(("deploy".into(), deploy_files));
    for (name, sets) in VALUE_SETS {
        let path = dir.path().join(format!("{name}.yaml"));
        let rendered: Vec<String> = render(sets)
            .iter()
            .map(|d| serde_json::to_string(d).unwrap())
            .collect();
        std::fs::write(&path, rendered.join("\n---\n")).unwrap();
        inputs.push((format!("chart:{name}"), vec![path]));
    }
    let mut used = BTreeSet::new();
    let mut unexcused = Vec::new();
    for (input, files) in &inputs {
        for (check, object, comment) in kube_score(&config, files) {
            let excused = config.exceptions.iter().position(|e| {
                e.check == check && e.inputs.iter().any(|i| i == "all" || i == input)
            });
            match excused {
                Some(index) => {
                    used.insert((index, input.clone()));
                }
                None => unexcused.push(format!("{input}: {check} on {object}: {comment}")),
            }
        }
    }
    assert!(
        unexcused.is_empty(),
        "kube-score findings without an accepted exception in tests/lint/kube-score.yaml:\n{}",
        unexcused.join("\n")
    );
    // every exception is still needed, for every input it names
    for (index, exception) in config.exceptions.iter().enumerate() {
        let named: Vec<&String> = if exception.inputs.iter().any(|i| i == "all") {
            vec![]
        } else {
            exception.inputs.iter().collect()
        };
        assert!(
            used.iter().any(|(i, _)| *i == index),
            "the exception of {} matches nothing: remove it",
            exception.check
        );
        for input in named {
            assert!(
                used.contains(&(index, input.clone())),
                "the exception of {} for {input} matches nothing there: remove it",
                exception.check
            );
        }
    }
}

/// The rules of a Role or ClusterRole as (apiGroups, resources, verbs) strings.
fn grants(role: &Value) -> BTreeSet<(String, String, String)> {
    rules(role)
        .iter()
        .flat_map(|r| {
            let verbs = strs(&r["verbs"]).join(",");
            let groups = strs(&r["apiGroups"]);
            strs(&r["resources"]).into_iter().flat_map(move |res| {
                let verbs = verbs.clone();
                groups
                    .clone()
                    .into_iter()
                    .map(move |g| (g, res.clone(), verbs.clone()))
            })
        })
        .collect()
}

fn secret_grants(role: &Value) -> usize {
    grants(role)
        .iter()
        .filter(|(g, r, _)| g.is_empty() && r == "secrets")
        .count()
}

#[test]
fn secrets_are_an_install_choice_off_by_default() {
    // none (default): no Secret grant anywhere, --secrets=none
    let d = render(&[]);
    for role in by_kind(&d, "ClusterRole")
        .into_iter()
        .chain(by_kind(&d, "Role"))
    {
        assert_eq!(secret_grants(role), 0, "{role}");
    }
    assert!(args_of(&d).contains(&"--secrets=none".into()));
    assert!(
        !args_of(&d)
            .iter()
            .any(|a| a.starts_with("--watch-namespaces"))
    );

    // cluster: list/watch (never get) in the ClusterRole
    let d = render(&["rbac.secrets=cluster"]);
    let cluster_role = one(&d, "ClusterRole");
    assert!(grants(cluster_role).contains(&("".into(), "secrets".into(), "list,watch".into())));
    assert_eq!(secret_grants(cluster_role), 1);
    assert!(args_of(&d).contains(&"--secrets=cluster".into()));

    // namespaces: a Role (and its binding) in each, none in the ClusterRole
    let d = render(&[
        "rbac.secrets=namespaces",
        "rbac.secretNamespaces={shop,bank}",
    ]);
    assert_eq!(secret_grants(one(&d, "ClusterRole")), 0);
    let secret_roles: Vec<&Value> = by_kind(&d, "Role")
        .into_iter()
        .filter(|r| secret_grants(r) > 0)
        .collect();
    let namespaces: BTreeSet<String> = secret_roles
        .iter()
        .map(|r| r["metadata"]["namespace"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["bank".into(), "shop".into()]));
    for role in &secret_roles {
        assert_eq!(
            Value::Array(rules(role)),
            json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}])
        );
        let binding = by_kind(&d, "RoleBinding")
            .into_iter()
            .find(|b| {
                b["metadata"]["namespace"] == role["metadata"]["namespace"]
                    && b["roleRef"]["name"] == role["metadata"]["name"]
            })
            .expect("a binding of the Secret Role");
        assert_eq!(binding["subjects"][0]["name"], "kx-kubedx");
        assert_eq!(binding["subjects"][0]["namespace"], "kubedx-helm");
    }
    let args = args_of(&d);
    assert!(args.contains(&"--secrets=namespaces".into()), "{args:?}");
    assert!(
        args.contains(&"--secret-namespaces=bank,shop".into()),
        "{args:?}"
    );

    // what cannot work is refused with a message
    for (sets, message) in [
        (
            &["rbac.secrets=namespaces"][..],
            "rbac.secrets=namespaces needs rbac.secretNamespaces",
        ),
        (
            &["rbac.secretNamespaces={shop}"][..],
            "rbac.secretNamespaces is only used with rbac.secrets=namespaces",
        ),
        (
            &[
                "scope=namespace",
                "rbac.secrets=namespaces",
                "rbac.secretNamespaces={elsewhere}",
            ][..],
            "rbac.secretNamespaces names elsewhere, which is not watched",
        ),
    ] {
        let mut args = vec!["template", "kx", "charts/kubedx", "-n", "kubedx-helm"];
        let set = set_args(sets);
        args.extend(set.iter().map(String::as_str));
        let out = helm(&args);
        assert!(!out.status.success(), "{sets:?} rendered");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{sets:?}: {stderr}");
    }
}

#[test]
fn scope_namespace_renders_roles_only() {
    let d = render(&["scope=namespace", "watchNamespaces={team-b}"]);
    assert!(by_kind(&d, "ClusterRole").is_empty());
    assert!(by_kind(&d, "ClusterRoleBinding").is_empty());
    let args = args_of(&d);
    // the release namespace is watched too
    assert!(
        args.contains(&"--watch-namespaces=kubedx-helm,team-b".into()),
        "{args:?}"
    );
    let read_roles: Vec<&Value> = by_kind(&d, "Role")
        .into_iter()
        .filter(|r| r["metadata"]["name"] == "kx-kubedx")
        .collect();
    let namespaces: BTreeSet<&str> = read_roles
        .iter()
        .map(|r| r["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, BTreeSet::from(["kubedx-helm", "team-b"]));
    // each Role: the ClusterRole's namespaced grants, nothing cluster-scoped, no Secret
    let cluster = render(&[]);
    let cluster_grants = grants(one(&cluster, "ClusterRole"));
    let cluster_scoped = [
        "namespaces",
        "nodes",
        "persistentvolumes",
        "ingressclasses",
        "storageclasses",
        "gatewayclasses",
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
    ];
    let want: BTreeSet<(String, String, String)> = cluster_grants
        .into_iter()
        .filter(|(_, r, _)| !cluster_scoped.contains(&r.as_str()))
        .collect();
    for role in &read_roles {
        assert_eq!(grants(role), want, "{role}");
        let binding = by_kind(&d, "RoleBinding")
            .into_iter()
            .find(|b| {
                b["metadata"]["namespace"] == role["metadata"]["namespace"]
                    && b["roleRef"]["name"] == "kx-kubedx"
            })
            .expect("its binding");
        assert_eq!(binding["roleRef"]["kind"], "Role");
        assert_eq!(binding["subjects"][0]["namespace"], "kubedx-helm");
    }
    // the Kind table's cluster-scoped kinds are exactly those left out
    // (metrics.k8s.io aside: the controller does not read it)
    let kinds_cluster_scoped: BTreeSet<String> = kubedx::model::Kind::ALL
        .iter()
        .filter(|k| !k.namespaced() && k.read() != kubedx::kinds::Read::Metrics)
        .map(|k| k.plural().to_string())
        .collect();
    assert_eq!(
        kinds_cluster_scoped,
        cluster_scoped.iter().map(|s| s.to_string()).collect()
    );
    // a cluster-scoped install limited to namespaces keeps its ClusterRole
    let d = render(&["watchNamespaces={shop,bank}"]);
    assert_eq!(by_kind(&d, "ClusterRole").len(), 1);
    assert!(args_of(&d).contains(&"--watch-namespaces=bank,shop".into()));
}

#[test]
fn values_schema_refuses_typos() {
    for bad in [
        "scope=tenant",
        "rbac.secrets=metadata",
        "watchNamespaces={Team_A}",
        "replica=3",
        "image.pullPolicy=Sometimes",
        "image.digest=latest",
        "logs.enable=true",
    ] {
        let out = helm(&["template", "kx", "charts/kubedx", "--set", bad]);
        assert!(!out.status.success(), "values.schema.json accepted {bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("schema"),
            "{bad}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn alert_values_render_the_receiver_its_service_secrets_sinks_and_rbac() {
    let sets = VALUE_SETS.iter().find(|(n, _)| *n == "alerts").unwrap().1;
    let d = render(sets);
    let args = args_of(&d);
    for arg in [
        "--alert-receiver-addr=0.0.0.0:9095",
        "--alert-token-file=/etc/kubedx/alert-token/token",
        "--notify-slack=$(KUBEDX_NOTIFY_0)",
        "--notify-webhook=$(KUBEDX_NOTIFY_1)",
    ] {
        assert!(args.contains(&arg.to_string()), "{arg} not in {args:?}");
    }
    let pod = &one(&d, "Deployment")["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    // the URLs come from Secrets: the chart's for a `url`, the named one otherwise
    let env: BTreeMap<String, Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["valueFrom"]["secretKeyRef"].clone(),
            )
        })
        .collect();
    assert_eq!(
        env["KUBEDX_NOTIFY_0"],
        json!({"name": "kx-kubedx-notify", "key": "sink-0"})
    );
    assert_eq!(
        env["KUBEDX_NOTIFY_1"],
        json!({"name": "oncall-webhook", "key": "url"})
    );
    assert!(
        !args.iter().any(|a| a.contains("slack.invalid")),
        "a URL in the args: {args:?}"
    );
    let secrets = by_kind(&d, "Secret");
    let named = |name: &str| {
        *secrets
            .iter()
            .find(|x| x["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no Secret {name}"))
    };
    assert_eq!(
        named("kx-kubedx-alerts")["stringData"],
        json!({"token": "s3cret"})
    );
    assert_eq!(
        named("kx-kubedx-notify")["stringData"],
        json!({"sink-0": "https://hooks.slack.invalid/services/T0/B0/x"})
    );
    // the token is a mounted file
    assert_eq!(c["volumeMounts"][0]["mountPath"], "/etc/kubedx/alert-token");
    assert_eq!(
        pod["volumes"][0]["secret"]["secretName"],
        "kx-kubedx-alerts"
    );
    assert!(
        strs(&json!(
            c["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].clone())
                .collect::<Vec<_>>()
        ))
        .contains(&"alerts".into())
    );
    // its Service
    let service = by_kind(&d, "Service")
        .into_iter()
        .find(|x| x["metadata"]["name"] == "kx-kubedx-alerts")
        .expect("the receiver's Service");
    assert_eq!(service["spec"]["ports"][0]["port"], 9095);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "alerts");
    // the ClusterRole is deploy/'s, with the receiver's writes
    let deploy = deploy_docs();
    let deploy_cr = deploy.iter().find(|x| x["kind"] == "ClusterRole").unwrap();
    assert_eq!(rules(one(&d, "ClusterRole")), rules(deploy_cr));
    // the NetworkPolicy lets Alertmanager in and the notifications out
    let np = one(&d, "NetworkPolicy");
    assert!(
        np["spec"]["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ports"][0]["port"] == 9095),
        "{np}"
    );
    assert!(
        np["spec"]["egress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["ports"][0]["port"] == 443 && r.get("to").is_none()),
        "{np}"
    );
    // an existing token Secret: none made
    let d = render(&[
        "alerts.enabled=true",
        "alerts.token.existingSecret=am-token",
        "alerts.token.key=bearer",
    ]);
    assert!(by_kind(&d, "Secret").is_empty());
    let pod = &one(&d, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(
        pod["volumes"][0]["secret"],
        json!({"secretName": "am-token", "items": [{"key": "bearer", "path": "token"}]})
    );
    // without a token, the chart refuses
    let out = helm(&[
        "template",
        "kx",
        "charts/kubedx",
        "--set",
        "alerts.enabled=true",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("alerts.token.value"));
    // the defaults: no receiver, no sinks, no write on diagnoses
    let d = render(&[]);
    assert!(
        !args_of(&d)
            .iter()
            .any(|a| a.starts_with("--alert") || a.starts_with("--notify"))
    );
    assert!(!rules(one(&d, "ClusterRole")).contains(&alert_receiver_rule()));
}

/// prometheus and promtool (and alertmanager, kube-state-metrics), built from their
/// Go modules by `tests/tools/build --monitoring-only`.
fn monitoring_tools() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let status = Command::new(repo_root().join("tests/tools/build"))
            .arg("--monitoring-only")
            .stdin(Stdio::null())
            .status()
            .expect("run tests/tools/build --monitoring-only");
        assert!(
            status.success(),
            "tests/tools/build --monitoring-only failed (see above)"
        );
        tools().to_path_buf()
    })
}

#[test]
fn promtool_checks_the_rendered_rules_and_unit_tests_every_alert() {
    let promtool = monitoring_tools().join("promtool");
    let rendered = docs(&ok(
        "helm template (PrometheusRule)",
        helm(&[
            "template",
            "kubedx",
            "charts/kubedx",
            "-n",
            "kubedx-system",
            "--set",
            "prometheusRule.enabled=true",
        ]),
    ));
    let pr = one(&rendered, "PrometheusRule");
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("kubedx-rules.yaml");
    std::fs::write(&rules_file, serde_norway::to_string(&pr["spec"]).unwrap()).unwrap();
    let tests_file = dir.path().join("kubedx-rules.test.yaml");
    std::fs::copy(
        repo_root().join("tests/fixtures/prometheus/kubedx-rules.test.yaml"),
        &tests_file,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&promtool)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run promtool");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let (passed, text) = run(&["check", "rules", "kubedx-rules.yaml"]);
    assert!(passed, "promtool check rules:\n{text}");
    assert!(text.contains("SUCCESS: 4 rules found"), "{text}");
    let (passed, text) = run(&["test", "rules", "kubedx-rules.test.yaml"]);
    assert!(passed, "promtool test rules:\n{text}");
    // every alert of the chart has a unit test
    let tests = std::fs::read_to_string(&tests_file).unwrap();
    for rule in pr["spec"]["groups"][0]["rules"].as_array().unwrap() {
        let alert = rule["alert"].as_str().unwrap();
        assert!(
            tests.contains(&format!("alertname: {alert}")),
            "no promtool test of {alert}"
        );
    }
    // and the tests can fail: a wrong expectation is caught
    std::fs::write(
        &tests_file,
        tests.replace("diagnosis: stuck", "diagnosis: fresh"),
    )
    .unwrap();
    let (passed, text) = run(&["test", "rules", "kubedx-rules.test.yaml"]);
    assert!(!passed, "a wrong expectation passed:\n{text}");
}

/// A tenant install with the alert receiver: its Roles let it make the alerts'
/// Diagnoses in the watched namespaces, and no ClusterRole appears.
#[test]
fn a_tenant_install_with_alerts_makes_diagnoses_with_roles_only() {
    let d = render(&[
        "scope=namespace",
        "watchNamespaces={team-b}",
        "alerts.enabled=true",
        "alerts.token.value=s3cret",
    ]);
    assert!(by_kind(&d, "ClusterRole").is_empty());
    let role = by_kind(&d, "Role")
        .into_iter()
        .find(|r| r["metadata"]["namespace"] == "team-b")
        .expect("a Role in team-b");
    assert!(
        rules(role).iter().any(|rule| {
            strs(&rule["apiGroups"]) == ["kubedx.io"]
                && strs(&rule["resources"]) == ["diagnoses"]
                && strs(&rule["verbs"]) == ["create", "patch", "delete"]
        }),
        "{role}"
    );
}
