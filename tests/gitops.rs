//! GitOps and alerting integration: the Argo CD health check (run as Lua 5.1, the
//! dialect of Argo CD's gopher-lua) against Diagnoses of every phase, the copy in
//! argocd-cm.yaml, the example Diagnoses, and the Grafana dashboard (valid JSON
//! whose queries use only the metric names docs/reference.md documents).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mlua::serde::SerializeOptions;
use mlua::{Lua, LuaSerdeExt};
use serde::Deserialize;
use serde_json::{Value, json};

use kubedx::api::{Diagnosis, Mode, Severity, TargetKind};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

/// Runs an Argo CD health script on `obj` the way Argo CD does: `obj` as a global
/// table (JSON null as nil), the script's returned table as (status, message).
fn argocd_health(script: &str, obj: &Value) -> (String, String) {
    let lua = Lua::new();
    let opts = SerializeOptions::new()
        .serialize_none_to_null(false)
        .serialize_unit_to_null(false);
    let table = lua.to_value_with(obj, opts).expect("obj to Lua");
    lua.globals().set("obj", table).expect("set obj");
    let hs: mlua::Table = lua
        .load(script)
        .set_name("health.lua")
        .eval()
        .unwrap_or_else(|e| panic!("health.lua failed on {obj}: {e}"));
    let status: String = hs.get("status").expect("hs.status");
    let message: Option<String> = hs.get("message").expect("hs.message");
    (status, message.unwrap_or_default())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str, generation: i64) -> Value {
    json!({
        "type": type_, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-11-21T10:00:00Z", "observedGeneration": generation,
    })
}

fn diagnosis(generation: i64, status: Option<Value>) -> Value {
    let mut d = json!({
        "apiVersion": "kubedx.io/v1alpha1",
        "kind": "Diagnosis",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": generation,
                      "uid": "0f6d4e0c-4c1f-4f43-9d0e-2d6f1b1f8a11"},
        "spec": {"target": {"kind": "Deployment", "name": "checkout"}},
    });
    if let Some(s) = status {
        d["status"] = s;
    }
    // every sample is a valid Diagnosis of the Rust types (and so of the CRD)
    serde_json::from_value::<Diagnosis>(d.clone())
        .unwrap_or_else(|e| panic!("sample is not a Diagnosis: {e}\n{d}"));
    d
}

fn status(phase: &str, observed: i64, conditions: Vec<Value>, root_cause: Option<&str>) -> Value {
    let mut s = json!({
        "phase": phase,
        "observedGeneration": observed,
        "lastDiagnosedTime": "2026-11-21T10:00:00Z",
        "conditions": conditions,
        "summary": {"critical": 1, "warning": 2, "info": 0, "objectsExamined": 14, "rulesEvaluated": 61},
        "findings": [],
        "timeline": [],
    });
    if let Some(rc) = root_cause {
        s["rootCause"] = json!(rc);
    }
    s
}

#[test]
fn argocd_health_check_maps_every_phase() {
    let script = read("examples/gitops/argocd/health.lua");
    let rc = "ConfigMap shop/checkout-config does not exist, so the kubelet cannot start the containers of 3 Pod(s)";
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "no status yet",
            diagnosis(1, None),
            "Progressing",
            "Waiting for the kubedx controller",
        ),
        (
            "pending, no observedGeneration",
            diagnosis(1, Some(json!({"phase": "Pending"}))),
            "Progressing",
            "Waiting",
        ),
        (
            "a new generation not yet diagnosed",
            diagnosis(
                3,
                Some(status(
                    "Healthy",
                    2,
                    vec![
                        condition("Ready", "True", "Diagnosed", "", 2),
                        condition("Healthy", "True", "NoFindings", "", 2),
                    ],
                    None,
                )),
            ),
            "Progressing",
            "generation 3",
        ),
        (
            "healthy",
            diagnosis(
                2,
                Some(status(
                    "Healthy",
                    2,
                    vec![
                        condition("Ready", "True", "Diagnosed", "", 2),
                        condition("Healthy", "True", "NoFindings", "", 2),
                    ],
                    None,
                )),
            ),
            "Healthy",
            "",
        ),
        (
            "degraded target",
            diagnosis(
                2,
                Some(status(
                    "Degraded",
                    2,
                    vec![
                        condition("Ready", "True", "Diagnosed", "", 2),
                        condition("Healthy", "False", "ConfigMapNotFound", rc, 2),
                    ],
                    Some(rc),
                )),
            ),
            "Degraded",
            rc,
        ),
        (
            "refused spec",
            diagnosis(
                1,
                Some(status(
                    "Error",
                    1,
                    vec![
                        condition(
                            "Ready",
                            "False",
                            "CrossNamespaceTargetDenied",
                            "a Diagnosis in namespace shop may target only objects in shop, not in bank",
                            1,
                        ),
                        condition("Healthy", "Unknown", "CrossNamespaceTargetDenied", "", 1),
                    ],
                    Some(
                        "a Diagnosis in namespace shop may target only objects in shop, not in bank",
                    ),
                )),
            ),
            "Degraded",
            "CrossNamespaceTargetDenied: a Diagnosis in namespace shop may target only objects in shop",
        ),
        (
            "an old status with no conditions",
            diagnosis(
                1,
                Some(json!({"phase": "Pending", "observedGeneration": 1})),
            ),
            "Progressing",
            "Waiting",
        ),
    ];
    for (what, obj, want_status, want_message) in cases {
        let (status, message) = argocd_health(&script, &obj);
        assert_eq!(status, want_status, "{what}: message {message:?}");
        assert!(
            message.contains(want_message),
            "{what}: message {message:?} lacks {want_message:?}"
        );
    }
}

#[test]
fn argocd_cm_embeds_the_health_check_verbatim() {
    let script = read("examples/gitops/argocd/health.lua");
    let docs = yaml_docs(&read("examples/gitops/argocd/argocd-cm.yaml"));
    assert_eq!(docs.len(), 1);
    let cm = &docs[0];
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(cm["metadata"]["name"], "argocd-cm");
    let embedded = cm["data"]["resource.customizations.health.kubedx.io_Diagnosis"]
        .as_str()
        .expect("the health key of group kubedx.io, kind Diagnosis");
    assert_eq!(
        embedded, script,
        "examples/gitops/argocd/argocd-cm.yaml must embed health.lua verbatim (indented by 4)"
    );
}

#[test]
fn example_diagnoses_are_valid_and_say_what_they_claim() {
    let dir = root().join("examples/gitops/diagnoses");
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap() == "kustomization.yaml" {
            continue;
        }
        for doc in yaml_docs(&std::fs::read_to_string(&path).unwrap()) {
            let d: Diagnosis = serde_json::from_value(doc.clone())
                .unwrap_or_else(|e| panic!("{}: not a Diagnosis: {e}", path.display()));
            found.insert(d.metadata.name.clone().unwrap());
            match d.metadata.name.as_deref() {
                Some("payments-debug") => {
                    assert_eq!(d.spec.mode, Some(Mode::Once));
                    assert_eq!(d.spec.target.kind, TargetKind::Deployment);
                }
                Some("checkout") => {
                    assert_eq!(d.spec.mode, Some(Mode::Continuous));
                    assert_eq!(d.spec.target.kind, TargetKind::Service);
                    assert_eq!(d.spec.min_severity, Some(Severity::Warning));
                    assert_eq!(d.spec.events_on_target, Some(true));
                    for id in d.spec.suppress.iter().flatten() {
                        assert!(
                            id.parse::<kubedx::rules::RuleId>().is_ok(),
                            "suppress names unknown rule {id}"
                        );
                    }
                }
                other => panic!("unexpected example {other:?}"),
            }
        }
    }
    assert_eq!(
        found,
        BTreeSet::from(["checkout".to_string(), "payments-debug".to_string()])
    );
    let k = yaml_docs(&read("examples/gitops/diagnoses/kustomization.yaml"));
    let listed: Vec<&str> = k[0]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for f in &listed {
        assert!(dir.join(f).is_file(), "kustomization lists missing {f}");
    }
    assert_eq!(listed.len(), 2);
}

/// The metrics a dashboard may query, all of which it shows: those of the metrics
/// table of docs/reference.md, less `kubedx_watch_errors_total` and the internal ones.
const CONTRACT_METRICS: &[&str] = &[
    "kubedx_diagnosis_findings",
    "kubedx_finding_active",
    "kubedx_diagnosis_healthy",
    "kubedx_diagnosis_last_run_timestamp_seconds",
    "kubedx_reconcile_duration_seconds",
    "kubedx_reconciliations_total",
    "kubedx_reconcile_errors_total",
    "kubedx_cache_objects",
];

/// Every `kubedx_...` identifier of a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("kubedx_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

/// Whether `name` is a contract metric (a histogram's _bucket/_sum/_count included).
fn is_contract_metric(name: &str) -> bool {
    CONTRACT_METRICS.contains(&name)
        || ["_bucket", "_sum", "_count"].iter().any(|s| {
            name.strip_suffix(s)
                .is_some_and(|base| base == "kubedx_reconcile_duration_seconds")
        })
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if (k == "expr" || k == "query" || k == "definition")
                    && let Some(s) = x.as_str()
                {
                    out.push(s.to_string());
                }
                exprs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

#[test]
fn grafana_dashboard_uses_only_contract_metrics() {
    // the list names metrics the controller serves
    let served: Vec<String> = kubedx::controller::metrics::describe()
        .into_iter()
        .map(|m| m.name)
        .collect();
    for m in CONTRACT_METRICS {
        assert!(
            served.iter().any(|s| s == m),
            "{m} is not a metric of the controller's registry"
        );
    }
    let path = "charts/kubedx/dashboards/kubedx.json";
    let d: Value = serde_json::from_str(&read(path)).expect("the dashboard is valid JSON");
    assert_eq!(d["uid"], "kubedx");
    assert!(d["title"].is_string());
    let panels = d["panels"].as_array().expect("panels");
    assert!(panels.len() >= 8, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_i64().expect("panel id")),
            "duplicate id"
        );
        assert!(p["title"].as_str().is_some_and(|t| !t.is_empty()));
        let g = &p["gridPos"];
        assert!(
            g["w"].as_i64().unwrap() > 0
                && g["x"].as_i64().unwrap() + g["w"].as_i64().unwrap() <= 24
        );
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            let expr = t["expr"].as_str().expect("expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr} uses no kubedx metric");
            assert_eq!(
                expr.matches('(').count(),
                expr.matches(')').count(),
                "{expr}"
            );
            assert_eq!(
                expr.matches('{').count(),
                expr.matches('}').count(),
                "{expr}"
            );
            used.extend(names);
        }
    }
    let mut all = Vec::new();
    exprs(&d, &mut all);
    for e in &all {
        for n in metric_names(e) {
            assert!(
                is_contract_metric(&n),
                "{n} (in {e}) is not a metric of docs/reference.md"
            );
        }
    }
    // every contract metric has a panel
    for m in CONTRACT_METRICS {
        assert!(
            used.iter()
                .any(|u| u == m || u.starts_with(&format!("{m}_"))),
            "no panel shows {m}"
        );
    }
}

#[test]
fn contract_metrics_are_those_the_controller_registers() {
    let source = include_str!("../src/controller/metrics.rs");
    for m in CONTRACT_METRICS {
        assert!(
            source.contains(&format!("\"{m}\"")),
            "src/controller/metrics.rs does not register {m}"
        );
    }
}

#[test]
fn gitops_docs_show_kubectl_wait() {
    let readme = read("examples/gitops/README.md");
    assert!(readme.contains("kubectl wait --for=condition=Ready diagnosis/"));
    for f in [
        "argocd/health.lua",
        "flux/kustomization.yaml",
        "diagnoses/debug-once.yaml",
    ] {
        assert!(
            Path::new(&root().join("examples/gitops").join(f)).is_file(),
            "{f}"
        );
        assert!(readme.contains(f), "README.md does not mention {f}");
    }
}
