//! `kubedx diagnose` against a live cluster (the real test control plane): the same
//! report as offline, clear exit 1 on forbidden, PermissionDenied for kinds it
//! could not read.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use support::controller::token_kubeconfig;
use support::*;

fn kubedx(kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .output()
        .expect("run kubedx")
}

fn broken_web() -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"},
                "annotations": {"kubedx.io/simulate": "image-not-found"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/web:v2"}]}}}
    }))
    .unwrap()
}

async fn broken_namespace(prefix: &str) -> String {
    let ns = namespace(prefix).await;
    let client = client().await;
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);
    deployments
        .create(&PostParams::default(), &broken_web())
        .await
        .unwrap();
    // wait until the kubelet (kwok) reports the pull failure of both Pods
    eventually(
        "ImagePullBackOff of both Pods",
        Duration::from_secs(60),
        || {
            let ns = ns.clone();
            async move {
                let out = kubectl_ok(&["get", "pods", "-n", &ns, "-o", "json"]);
                let pods: Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
                let backing_off = pods["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| {
                        p["status"]["containerStatuses"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|c| c["state"]["waiting"]["reason"] == "ImagePullBackOff")
                    })
                    .count();
                if backing_off == 2 {
                    Ok(())
                } else {
                    Err(format!(
                        "{backing_off} of 2 Pods in ImagePullBackOff: {out}"
                    ))
                }
            }
        },
    )
    .await;
    ns
}

fn json_out(o: &Output) -> Value {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn live_diagnosis_names_the_root_cause_like_offline() {
    let ns = broken_namespace("live").await;
    let kc = cluster().kubeconfig.clone();
    let live = json_out(&kubedx(
        &kc,
        &["diagnose", "deploy/web", "-n", &ns, "-o", "json"],
    ));
    let findings = live["status"]["findings"].as_array().unwrap();
    assert_eq!(findings[0]["ruleId"], "ImagePullNotFound", "{live:#}");
    assert_eq!(findings[0]["affected"]["count"], 2);

    // the same objects as a snapshot give the same findings (with the same --now)
    let dir = tempfile::tempdir().unwrap();
    for (file, args) in [
        (
            "ns.yaml",
            vec![
                "get",
                "deploy,rs,pods,svc,endpointslices,configmaps,serviceaccounts,events",
                "-n",
                &ns,
                "-o",
                "yaml",
            ],
        ),
        (
            "cluster.yaml",
            vec!["get", "nodes,storageclasses,namespaces", "-o", "yaml"],
        ),
        (
            "dns.yaml",
            vec![
                "get",
                "svc,endpointslices,pods",
                "-n",
                "kube-system",
                "-o",
                "yaml",
            ],
        ),
    ] {
        std::fs::write(dir.path().join(file), kubectl_ok(&args)).unwrap();
    }
    let now = live["status"]["lastDiagnosedTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let offline = json_out(&kubedx(
        &kc,
        &[
            "diagnose",
            "deploy/web",
            "-n",
            &ns,
            "-o",
            "json",
            "--now",
            &now,
            "--snapshot",
            dir.path().to_str().unwrap(),
        ],
    ));
    let ids = |v: &Value| -> Vec<(String, String)> {
        v["status"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "Info")
            .map(|f| {
                (
                    f["ruleId"].as_str().unwrap().to_owned(),
                    f["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        ids(&live),
        ids(&offline),
        "live:\n{live:#}\noffline:\n{offline:#}"
    );

    // the table names the root cause first
    let o = kubedx(&kc, &["diagnose", "deploy/web", "-n", &ns]);
    let table = String::from_utf8_lossy(&o.stdout);
    let root = table.find("ROOT CAUSE").expect("a ROOT CAUSE section");
    assert!(table[root..].contains("ImagePullNotFound"), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_everywhere_exits_1_with_the_api_reason() {
    let ns = namespace("live-denied").await;
    let token = service_account_token(&ns, "nobody", &Access::Nothing).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = token_kubeconfig(&cluster().kubeconfig, &token, &dir.path().join("kc"));
    let o = kubedx(&kc, &["diagnose", "deploy/web", "-n", &ns]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("forbidden"), "{err}");
    assert!(
        err.contains("cannot list resource"),
        "the API's reason: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kinds_it_cannot_read_become_a_permission_denied_finding() {
    let ns = broken_namespace("live-partial").await;
    // the "view" role in the namespace: no Secrets, no cluster-scoped kinds (Nodes...)
    let token = service_account_token(&ns, "viewer", &Access::ClusterRole("view".into())).await;
    let dir = tempfile::tempdir().unwrap();
    let kc = token_kubeconfig(&cluster().kubeconfig, &token, &dir.path().join("kc"));
    let v = json_out(&kubedx(
        &kc,
        &["diagnose", "deploy/web", "-n", &ns, "-o", "json"],
    ));
    let findings = v["status"]["findings"].as_array().unwrap();
    assert_eq!(findings[0]["ruleId"], "ImagePullNotFound", "{v:#}");
    let denied: Vec<&Value> = findings
        .iter()
        .filter(|f| f["ruleId"] == "PermissionDenied")
        .collect();
    let text = serde_json::to_string(&denied).unwrap();
    assert!(text.contains("nodes"), "{text}");
    assert!(text.contains("secrets"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_selector_written_after_creation_is_named_from_managed_fields() {
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{Patch, PatchParams};
    let ns = namespace("live-changed").await;
    let client = client().await;
    let services: Api<Service> = Api::namespaced(client, &ns);
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    // managedFields times have a resolution of a second: the edit comes well after
    tokio::time::sleep(Duration::from_secs(3)).await;
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    let edited = services
        .patch(
            "web",
            &edit,
            &Patch::Merge(json!({"spec": {"selector": {"app": "webapp"}}})),
        )
        .await
        .unwrap();
    let written = edited
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|entry| entry.manager.as_deref() == Some("kubectl-edit"))
        .and_then(|entry| entry.time.as_ref())
        .map(|time| time.0.to_string())
        .expect("the edit's managedFields entry");
    let kc = cluster().kubeconfig.clone();
    let live = json_out(&kubedx(
        &kc,
        &["diagnose", "svc/web", "-n", &ns, "-o", "json"],
    ));
    let changes = live["status"]["changes"].as_array().expect("changes");
    let change = changes
        .iter()
        .find(|change| change["object"]["kind"] == "Service")
        .unwrap_or_else(|| panic!("the selector write: {live:#}"));
    assert_eq!(change["time"], written.as_str(), "{change:#}");
    assert_eq!(change["fields"][0]["path"], "spec.selector");
    assert_eq!(change["fields"][0]["to"], "app=webapp");
    assert!(
        change["summary"]
            .as_str()
            .unwrap()
            .contains("(last written by kubectl-edit, from managedFields)"),
        "{change:#}"
    );
    let selects = live["status"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ruleId"] == "ServiceSelectorMatchesNoPods")
        .unwrap_or_else(|| panic!("{live:#}"));
    assert_eq!(change["findings"][0], selects["id"]);
}
