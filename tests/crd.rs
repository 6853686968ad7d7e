//! The committed CRD (`crds/diagnosis.yaml`) is exactly what `kubedx crd` generates
//! from the Rust types, its schema says what docs/reference.md says, and a real
//! kube-apiserver accepts it: it becomes Established, takes valid Diagnoses and
//! refuses invalid ones.

mod support;

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kubedx::api::{Diagnosis, DiagnosisStatus, Phase, Summary};
use serde_json::{Value, json};

const COMMITTED: &str = include_str!("../crds/diagnosis.yaml");

fn generated() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .arg("crd")
        .output()
        .expect("run kubedx crd");
    assert!(
        out.status.success(),
        "kubedx crd failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn committed_crd_matches_the_generated_one() {
    let generated = generated();
    assert_eq!(
        generated,
        kubedx::cli::crd_yaml(),
        "`kubedx crd` prints the library's CRD"
    );
    if generated != COMMITTED {
        let first = generated
            .lines()
            .zip(COMMITTED.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| generated.lines().count().min(COMMITTED.lines().count()));
        panic!(
            "crds/diagnosis.yaml is not the CRD generated from src/api.rs (first difference at line {}).\n\
             Regenerate it with:\n\n    cargo run -- crd > crds/diagnosis.yaml\n",
            first + 1
        );
    }
}

fn crd() -> Value {
    serde_norway::from_str(COMMITTED).expect("crds/diagnosis.yaml is YAML")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

#[test]
fn names_scope_columns_and_subresources() {
    let c = crd();
    assert_eq!(c["apiVersion"], "apiextensions.k8s.io/v1");
    assert_eq!(c["kind"], "CustomResourceDefinition");
    assert_eq!(c["metadata"]["name"], "diagnoses.kubedx.io");
    let spec = &c["spec"];
    assert_eq!(spec["group"], "kubedx.io");
    assert_eq!(spec["scope"], "Namespaced");
    let names = &spec["names"];
    assert_eq!(names["kind"], "Diagnosis");
    assert_eq!(names["plural"], "diagnoses");
    assert_eq!(names["singular"], "diagnosis");
    assert_eq!(strings(&names["shortNames"]), ["dx"]);
    let versions = spec["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    let v = &versions[0];
    assert_eq!(v["name"], "v1alpha1");
    assert_eq!(v["served"], true);
    assert_eq!(v["storage"], true);
    assert_eq!(v["subresources"]["status"], json!({}));
    let cols: Vec<(&str, &str, &str)> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["jsonPath"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        cols,
        [
            ("Target", "string", ".status.targetRef"),
            ("Phase", "string", ".status.phase"),
            ("Critical", "integer", ".status.summary.critical"),
            ("Warning", "integer", ".status.summary.warning"),
            ("Root Cause", "string", ".status.rootCause"),
            ("Age", "date", ".metadata.creationTimestamp"),
        ]
    );
}

#[test]
fn spec_schema_enforces_what_a_schema_can() {
    let c = crd();
    let root = &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    assert_eq!(strings(&root["required"]), ["spec"]);
    let spec = &root["properties"]["spec"];
    assert_eq!(strings(&spec["required"]), ["target"]);
    let p = &spec["properties"];
    let target = &p["target"];
    assert_eq!(strings(&target["required"]), ["kind", "name"]);
    assert_eq!(
        strings(&target["properties"]["kind"]["enum"]),
        [
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "Job",
            "CronJob",
            "Pod",
            "Service",
            "Ingress",
            "HTTPRoute",
            "PersistentVolumeClaim",
            "Node",
            "Namespace"
        ]
    );
    assert_eq!(target["properties"]["name"]["minLength"], 1);
    assert_eq!(target["properties"]["name"]["maxLength"], 253);
    assert_eq!(
        strings(&p["ruleSets"]["items"]["enum"]),
        [
            "workload",
            "scheduling",
            "rollout",
            "networking",
            "storage",
            "node",
            "resources",
            "events",
            "diagnosis",
            "logs"
        ]
    );
    // Optional enums are not nullable: the apiserver drops an explicit null (the
    // field is then absent) instead of refusing it as a value outside the enum.
    for (field, values) in [
        ("mode", &["Continuous", "Once"][..]),
        ("minSeverity", &["Info", "Warning", "Critical"]),
    ] {
        assert_eq!(p[field]["enum"], json!(values), "{field}");
        assert_eq!(p[field]["type"], "string", "{field}");
        assert!(p[field].get("nullable").is_none(), "{field} is nullable");
    }
    let image = &p["expectedImages"]["items"];
    assert_eq!(strings(&image["required"]), ["container", "digest"]);
    assert_eq!(
        image["properties"]["digest"]["pattern"],
        "^sha256:[a-f0-9]{64}$"
    );
    assert_eq!(p["logs"]["properties"]["enabled"]["default"], false);
    assert_eq!(p["logs"]["properties"]["tailLines"]["minimum"], 1.0);
    assert_eq!(p["logs"]["properties"]["tailLines"]["maximum"], 1000.0);
    assert_eq!(p["suppress"]["items"]["type"], "string");
    assert_eq!(p["eventsOnTarget"]["type"], "boolean");

    let status = &root["properties"]["status"]["properties"];
    assert_eq!(
        strings(&status["phase"]["enum"]),
        ["Pending", "Healthy", "Degraded", "Error"]
    );
    let conditions = &status["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(strings(&conditions["x-kubernetes-list-map-keys"]), ["type"]);
    let finding = &status["findings"]["items"];
    assert_eq!(
        strings(&finding["properties"]["severity"]["enum"]),
        ["Info", "Warning", "Critical"]
    );
    assert_eq!(
        strings(
            &finding["properties"]["remediation"]["properties"]["steps"]["items"]["properties"]["risk"]
                ["enum"]
        ),
        ["ReadOnly", "Reversible", "Disruptive", "Destructive"]
    );
    for k in [
        "id", "ruleId", "ruleSet", "severity", "layer", "object", "message",
    ] {
        assert!(
            strings(&finding["required"]).contains(&k),
            "finding.{k} required"
        );
    }
}

/// Structural schema (apiextensions.k8s.io/v1 rules): every node has a type (or
/// x-kubernetes-int-or-string / x-kubernetes-preserve-unknown-fields), no $ref, no
/// type-carrying anyOf/oneOf/allOf/not, enums only inside typed nodes.
#[test]
fn schema_is_structural() {
    fn walk(path: &str, s: &Value, problems: &mut Vec<String>) {
        let Some(o) = s.as_object() else {
            problems.push(format!("{path}: not an object"));
            return;
        };
        let special = o.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true))
            || o.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        if !o.contains_key("type") && !special {
            problems.push(format!("{path}: no type"));
        }
        for bad in ["$ref", "definitions", "$defs", "$schema", "additionalItems"] {
            if o.contains_key(bad) {
                problems.push(format!("{path}: {bad}"));
            }
        }
        for k in ["anyOf", "oneOf", "allOf", "not"] {
            if o.contains_key(k) && !special {
                problems.push(format!("{path}: {k} in a structural schema node"));
            }
        }
        if let Some(t) = o.get("type")
            && !t.is_string()
        {
            problems.push(format!("{path}: type {t} is not a single type"));
        }
        if let Some(props) = o.get("properties").and_then(Value::as_object) {
            if o.get("type") != Some(&json!("object")) {
                problems.push(format!("{path}: properties on a non-object"));
            }
            for (k, v) in props {
                walk(&format!("{path}.{k}"), v, problems);
            }
        }
        if let Some(items) = o.get("items") {
            walk(&format!("{path}[]"), items, problems);
        }
        if let Some(ap) = o.get("additionalProperties")
            && ap.is_object()
        {
            walk(&format!("{path}{{}}"), ap, problems);
        }
    }
    let c = crd();
    let mut problems = Vec::new();
    walk(
        "",
        &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
        &mut problems,
    );
    assert!(
        problems.is_empty(),
        "not structural:\n{}",
        problems.join("\n")
    );
}

// ---- a real kube-apiserver ---------------------------------------------------------

fn dx_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("kubedx.io", "v1alpha1", "Diagnosis"),
        "diagnoses",
    )
}

async fn install_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition =
        serde_norway::from_str(COMMITTED).expect("the CRD deserializes");
    crds.patch(
        "diagnoses.kubedx.io",
        &PatchParams::apply("kubedx-crd-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap_or_else(|e| panic!("the apiserver refuses crds/diagnosis.yaml: {e}"));
    support::eventually(
        "CRD diagnoses.kubedx.io Established",
        Duration::from_secs(60),
        || async {
            let c = crds
                .get("diagnoses.kubedx.io")
                .await
                .map_err(|e| e.to_string())?;
            let conds = c.status.and_then(|s| s.conditions).unwrap_or_default();
            if let Some(ns) = conds
                .iter()
                .find(|c| c.type_ == "NonStructuralSchema" && c.status == "True")
            {
                panic!(
                    "the apiserver finds the schema non-structural: {:?}",
                    ns.message
                );
            }
            if conds
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                Ok(())
            } else {
                Err(format!("conditions {conds:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_real_apiserver_accepts_the_crd_and_validates_diagnoses() {
    let client = support::client().await;
    install_crd(&client).await;
    let ns = support::namespace("crd").await;
    let typed: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    let raw: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &dx_resource());
    let create = |name: &str, spec: Value| {
        let raw = raw.clone();
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "kubedx.io/v1alpha1",
            "kind": "Diagnosis",
            "metadata": {"name": name},
            "spec": spec,
        }))
        .unwrap();
        async move { raw.create(&PostParams::default(), &obj).await }
    };

    // A full, valid spec, read back through the Rust types.
    let digest = format!("sha256:{}", "4f1c".repeat(16));
    create(
        "full",
        json!({
            "target": {"kind": "Deployment", "name": "checkout", "namespace": &ns},
            "ruleSets": ["workload", "networking"],
            "mode": "Once",
            "minSeverity": "Warning",
            "suppress": ["ImageTagMutable"],
            "expectedImages": [{"container": "app", "digest": digest}],
            "logs": {"enabled": false, "tailLines": 50},
            "eventsOnTarget": true,
        }),
    )
    .await
    .unwrap_or_else(|e| panic!("a valid Diagnosis is refused: {e}"));
    let full = typed.get("full").await.unwrap();
    assert_eq!(full.spec.target.name, "checkout");
    assert_eq!(
        full.spec.expected_images.as_ref().unwrap()[0].digest,
        digest
    );
    // The minimal spec; and explicit nulls for the optional enums.
    create(
        "minimal",
        json!({"target": {"kind": "Node", "name": "kubedx-worker-1"}}),
    )
    .await
    .unwrap_or_else(|e| panic!("a minimal Diagnosis is refused: {e}"));
    create(
        "nulls",
        json!({"target": {"kind": "HTTPRoute", "name": "r"}, "mode": null, "minSeverity": null}),
    )
    .await
    .unwrap_or_else(|e| panic!("explicit nulls are refused: {e}"));
    let nulls = typed.get("nulls").await.unwrap();
    assert_eq!((nulls.spec.mode, nulls.spec.min_severity), (None, None));

    // Invalid specs are refused by the schema.
    for (name, spec, expect) in [
        (
            "bad-kind",
            json!({"target": {"kind": "ConfigMap", "name": "x"}}),
            "spec.target.kind",
        ),
        (
            "no-name",
            json!({"target": {"kind": "Pod"}}),
            "spec.target.name",
        ),
        (
            "empty-name",
            json!({"target": {"kind": "Pod", "name": ""}}),
            "spec.target.name",
        ),
        ("no-target", json!({"mode": "Once"}), "spec.target"),
        (
            "bad-mode",
            json!({"target": {"kind": "Pod", "name": "x"}, "mode": "Sometimes"}),
            "spec.mode",
        ),
        (
            "bad-severity",
            json!({"target": {"kind": "Pod", "name": "x"}, "minSeverity": "Fatal"}),
            "spec.minSeverity",
        ),
        (
            "bad-ruleset",
            json!({"target": {"kind": "Pod", "name": "x"}, "ruleSets": ["workload", "bogus"]}),
            "spec.ruleSets",
        ),
        (
            "bad-digest",
            json!({"target": {"kind": "Pod", "name": "x"}, "expectedImages": [{"container": "app", "digest": "sha256:abc"}]}),
            "spec.expectedImages",
        ),
        (
            "bad-tail",
            json!({"target": {"kind": "Pod", "name": "x"}, "logs": {"enabled": true, "tailLines": 5000}}),
            "spec.logs.tailLines",
        ),
    ] {
        match create(name, spec).await {
            Ok(_) => panic!("{name}: an invalid Diagnosis was accepted"),
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{name}: {s:?}");
                assert!(s.message.contains(expect), "{name}: {}", s.message);
            }
            Err(e) => panic!("{name}: {e}"),
        }
    }

    // The status subresource takes a DiagnosisStatus, and the printer columns show it.
    let status = DiagnosisStatus {
        phase: Phase::Degraded,
        target_ref: Some("Deployment/checkout".into()),
        root_cause: Some("ConfigMap shop/checkout-config does not exist".into()),
        summary: Some(Summary {
            critical: 2,
            warning: 1,
            info: 0,
            objects_examined: 14,
            rules_evaluated: 61,
            truncated: None,
        }),
        ..Default::default()
    };
    typed
        .patch_status(
            "full",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap_or_else(|e| panic!("status patch refused: {e}"));
    let back = typed.get_status("full").await.unwrap();
    assert_eq!(back.status.unwrap().summary.unwrap().critical, 2);
    let table = support::kubectl_ok(&["get", "dx", "full", "-n", &ns]);
    let header = table.lines().next().unwrap_or_default();
    for col in [
        "NAME",
        "TARGET",
        "PHASE",
        "CRITICAL",
        "WARNING",
        "ROOT CAUSE",
        "AGE",
    ] {
        assert!(header.contains(col), "column {col} missing: {table}");
    }
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains("Deployment/checkout")
            && row.contains("Degraded")
            && row.contains("ConfigMap shop/checkout-config"),
        "{table}"
    );
}
