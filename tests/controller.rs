//! The controller end to end against the real test control plane: the CRD applied,
//! the controller running as a process with exactly the RBAC of `deploy/`, broken
//! workloads made by kwok's kubelet stages.

mod support;

use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event as NewEvent;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use kubedx::api::{Diagnosis, Phase};

use support::controller::ControllerProcess;
use support::*;

/// The controller process shared by the tests of this binary.
static CONTROLLER: OnceLock<ControllerProcess> = OnceLock::new();

fn controller() -> &'static ControllerProcess {
    CONTROLLER.get_or_init(|| ControllerProcess::start("controller", &[]))
}

fn metrics(ctl: &ControllerProcess) -> String {
    ctl.metrics()
}

fn diagnosis(name: &str, target_kind: &str, target: &str, target_ns: Option<&str>) -> Diagnosis {
    let mut spec = json!({"target": {"kind": target_kind, "name": target}});
    if let Some(ns) = target_ns {
        spec["target"]["namespace"] = json!(ns);
    }
    serde_json::from_value(json!({
        "apiVersion": "kubedx.io/v1alpha1",
        "kind": "Diagnosis",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

fn web_deployment(image: &str, simulate: Option<&str>) -> Deployment {
    let mut annotations = serde_json::Map::new();
    if let Some(m) = simulate {
        annotations.insert("kubedx.io/simulate".into(), json!(m));
    }
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    }))
    .unwrap()
}

async fn wait_for_status(
    api: &Api<Diagnosis>,
    name: &str,
    what: &str,
    pred: impl Fn(&Diagnosis) -> bool,
) -> Diagnosis {
    eventually(what, Duration::from_secs(90), || async {
        let d = api.get(name).await.map_err(|e| e.to_string())?;
        if pred(&d) {
            Ok(d)
        } else {
            Err(format!(
                "status: {}",
                serde_json::to_string(&d.status).unwrap()
            ))
        }
    })
    .await
}

fn condition(d: &Diagnosis, type_: &str) -> Option<(String, String)> {
    d.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_deployment_is_diagnosed_and_the_fix_resolves_it() {
    let ctl = controller();
    let ns = namespace("dx-e2e").await;
    let client = client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &web_deployment("registry.example.com/shop/web:v2", Some("image-not-found")),
        )
        .await
        .unwrap();
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    dxs.create(
        &PostParams::default(),
        &diagnosis("web", "Deployment", "web", None),
    )
    .await
    .unwrap();

    // the root cause reaches the status (first diagnosed while kwok fails the first
    // Pod: the status follows until both Pods fail)
    let d = wait_for_status(
        &dxs,
        "web",
        "ImagePullNotFound as the root cause, for both Pods",
        |d| {
            d.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Degraded
                    && s.findings.first().is_some_and(|f| {
                        f.rule_id == "ImagePullNotFound"
                            && f.root_cause
                            && f.affected.as_ref().is_some_and(|a| a.count == 2)
                    })
            })
        },
    )
    .await;
    let status = d.status.clone().unwrap();
    let top = &status.findings[0];
    assert_eq!(top.affected.as_ref().map(|a| a.count), Some(2), "{top:?}");
    assert!(
        top.evidence.iter().any(|e| e.contains("not found")),
        "{:?}",
        top.evidence
    );
    assert_eq!(status.root_cause.as_deref(), Some(top.message.as_str()));
    assert_eq!(status.observed_generation, d.metadata.generation);
    assert_eq!(condition(&d, "Ready").map(|c| c.0), Some("True".into()));
    assert_eq!(condition(&d, "Healthy").map(|c| c.0), Some("False".into()));
    assert!(status.summary.as_ref().unwrap().critical >= 1);

    // kubectl wait works on the Ready condition
    kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "diagnosis/web",
        "-n",
        &ns,
        "--timeout=30s",
    ]);

    // a Warning Event with the rule id as reason, on the Diagnosis
    let events: Api<NewEvent> = Api::namespaced(client.clone(), &ns);
    let evs = eventually(
        "the ImagePullNotFound event",
        Duration::from_secs(30),
        || async {
            let l = events
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let mine: Vec<NewEvent> = l
                .items
                .into_iter()
                .filter(|e| {
                    e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Diagnosis")
                })
                .collect();
            if mine
                .iter()
                .any(|e| e.reason.as_deref() == Some("ImagePullNotFound"))
            {
                Ok(mine)
            } else {
                Err(format!("{} diagnosis events", mine.len()))
            }
        },
    )
    .await;
    let ev = evs
        .iter()
        .find(|e| e.reason.as_deref() == Some("ImagePullNotFound"))
        .unwrap();
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    assert_eq!(ev.reporting_controller.as_deref(), Some("kubedx"));

    // metrics
    let text = eventually("metrics of the diagnosis", Duration::from_secs(10), || async {
        let t = metrics(ctl);
        if t.contains(&format!(
            r#"kubedx_finding_active{{diagnosis="web",namespace="{ns}",rule="ImagePullNotFound",severity="Critical"}} 1"#
        )) {
            Ok(t)
        } else {
            Err(t)
        }
    })
    .await;
    assert!(text.contains(&format!(
        r#"kubedx_diagnosis_healthy{{diagnosis="web",namespace="{ns}",target_kind="Deployment",target_name="web"}} 0"#
    )));
    assert!(text.contains("kubedx_reconciliations_total{result=\"success\"}"));
    assert!(text.contains("kubedx_cache_objects{kind=\"Pod\"}"));

    // fix: a good image, no failure stage
    deployments
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {
                "metadata": {"annotations": {"kubedx.io/simulate": null}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }}})),
        )
        .await
        .unwrap();
    let d = wait_for_status(&dxs, "web", "the diagnosis to become Healthy", |d| {
        d.status.as_ref().is_some_and(|s| s.phase == Phase::Healthy)
    })
    .await;
    assert_eq!(condition(&d, "Healthy").map(|c| c.0), Some("True".into()));
    eventually(
        "FindingResolved and DiagnosisHealthy events",
        Duration::from_secs(30),
        || async {
            let l = events
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let reasons: Vec<String> = l.items.iter().filter_map(|e| e.reason.clone()).collect();
            if reasons.iter().any(|r| r == "FindingResolved")
                && reasons.iter().any(|r| r == "DiagnosisHealthy")
            {
                Ok(())
            } else {
                Err(format!("{reasons:?}"))
            }
        },
    )
    .await;
    eventually("healthy gauge 1", Duration::from_secs(10), || async {
        let t = metrics(ctl);
        if t.contains(&format!(
            r#"kubedx_diagnosis_healthy{{diagnosis="web",namespace="{ns}",target_kind="Deployment",target_name="web"}} 1"#
        )) {
            Ok(())
        } else {
            Err(t)
        }
    })
    .await;

    // delete: no series left behind
    dxs.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(
        "series of the deleted diagnosis to go",
        Duration::from_secs(20),
        || async {
            let t = metrics(ctl);
            let leftover: Vec<&str> = t
                .lines()
                .filter(|l| l.contains(&format!("namespace=\"{ns}\"")))
                .collect();
            if leftover.is_empty() {
                Ok(())
            } else {
                Err(leftover.join("\n"))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_namespace_target_is_denied() {
    let _ctl = controller();
    let a = namespace("dx-tenant-a").await;
    let b = namespace("dx-tenant-b").await;
    let client = client().await;
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &a);
    dxs.create(
        &PostParams::default(),
        &diagnosis("peek", "Deployment", "web", Some(&b)),
    )
    .await
    .unwrap();
    let d = wait_for_status(&dxs, "peek", "phase Error", |d| {
        d.status.as_ref().is_some_and(|s| s.phase == Phase::Error)
    })
    .await;
    assert_eq!(
        condition(&d, "Ready"),
        Some(("False".into(), "CrossNamespaceTargetDenied".into()))
    );
    assert!(d.status.unwrap().findings.is_empty());
    // a Node target is refused outside the admin namespaces too
    dxs.create(
        &PostParams::default(),
        &diagnosis("node", "Node", "kubedx-worker-1", None),
    )
    .await
    .unwrap();
    let d = wait_for_status(&dxs, "node", "phase Error", |d| {
        d.status.as_ref().is_some_and(|s| s.phase == Phase::Error)
    })
    .await;
    assert_eq!(
        condition(&d, "Ready").unwrap().1,
        "CrossNamespaceTargetDenied"
    );
    let _ = d.name_any();
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_namespace_may_diagnose_a_node() {
    let _ctl = controller();
    let client = client().await;
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), "kubedx-system");
    dxs.create(
        &PostParams::default(),
        &diagnosis("cp", "Node", "kubedx-control-plane", None),
    )
    .await
    .unwrap();
    let d = wait_for_status(&dxs, "cp", "a healthy node", |d| {
        d.status.as_ref().is_some_and(|s| s.phase == Phase::Healthy)
    })
    .await;
    let s = d.status.unwrap();
    assert!(s.summary.unwrap().objects_examined >= 1);
    assert_eq!(s.target_ref.as_deref(), Some("Node/kubedx-control-plane"));
    dxs.delete("cp", &DeleteParams::default()).await.unwrap();
}

/// A ConfigMap of the graph that changes every 50 ms (an annotation a sidecar bumps,
/// a Deployment's Pods flapping: a busy cluster never goes quiet) must not hold a
/// re-diagnosis back: the debounce window (200 ms here) bounds the delay. With a
/// trailing debounce each change restarted the window and the new finding waited for
/// the noise to stop.
#[tokio::test(flavor = "multi_thread")]
async fn a_steady_stream_of_changes_does_not_hold_a_rediagnosis_back() {
    use k8s_openapi::api::core::v1::ConfigMap;
    let _ctl = controller();
    let ns = namespace("dx-busy").await;
    let client = client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for name in ["web-config", "web-flags"] {
        cms.create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name}, "data": {"MODE": "on"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                            "envFrom": [{"configMapRef": {"name": "web-config"}},
                                        {"configMapRef": {"name": "web-flags"}}]}]}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    dxs.create(
        &PostParams::default(),
        &diagnosis("web", "Deployment", "web", None),
    )
    .await
    .unwrap();
    wait_for_status(&dxs, "web", "the Deployment diagnosed healthy", |d| {
        d.status.as_ref().is_some_and(|s| s.phase == Phase::Healthy)
    })
    .await;

    // the noise: web-flags changes every 50 ms until the test ends
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let noise = {
        let (cms, stop) = (cms.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let patch =
                    json!({"metadata": {"annotations": {"example.com/tick": i.to_string()}}});
                cms.patch("web-flags", &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            i
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deleted = std::time::Instant::now();
    cms.delete("web-config", &DeleteParams::default())
        .await
        .unwrap();
    let seen = eventually(
        "ConfigMapNotFound while web-flags keeps changing",
        Duration::from_secs(15),
        || async {
            let d = dxs.get("web").await.map_err(|e| e.to_string())?;
            let found = d
                .status
                .as_ref()
                .is_some_and(|s| s.findings.iter().any(|f| f.rule_id == "ConfigMapNotFound"));
            if found {
                Ok(deleted.elapsed())
            } else {
                Err(format!(
                    "status: {}",
                    serde_json::to_string(&d.status).unwrap()
                ))
            }
        },
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ticks = noise.await.unwrap();
    eprintln!("ConfigMapNotFound {seen:?} after the delete, under {ticks} changes of web-flags");
    assert!(
        ticks >= 20,
        "the noise did not run while the finding was awaited ({ticks} changes)"
    );
}

/// The change of `object` named in a status, if any.
fn change_of<'a>(
    d: &'a Diagnosis,
    kind: &str,
    name: &str,
    summary_has: &str,
) -> Option<&'a kubedx::api::Change> {
    d.status.as_ref()?.changes.iter().find(|change| {
        change.object.kind == kind
            && change.object.name == name
            && change.summary.contains(summary_has)
    })
}

/// Whether an RFC 3339 time lies within a window of wall-clock times (with 2 s of
/// slack for the watch's delay and clock granularity).
fn within(time: &str, from: jiff::Timestamp, to: jiff::Timestamp) -> bool {
    let slack = jiff::SignedDuration::from_secs(2);
    time.parse::<jiff::Timestamp>()
        .is_ok_and(|time| time >= from - slack && time <= to + slack)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_change_journal_names_a_key_a_policy_and_a_selector_with_their_times() {
    use k8s_openapi::api::core::v1::{ConfigMap, Service};
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    let _ctl = controller();
    let ns = namespace("dx-journal").await;
    let client = client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app-config"},
            "data": {"DATABASE_URL": "postgres://shop@db-primary:5432/shop", "LOG_LEVEL": "info"}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "app", "image": "localhost/kubedx/web:1",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "DATABASE_URL", "valueFrom": {"configMapKeyRef":
                                {"name": "app-config", "key": "DATABASE_URL"}}}]}]}}}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web"},
                "spec": {"selector": {"app": "web"},
                         "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    for (name, kind) in [("app", "Deployment"), ("svc", "Service")] {
        dxs.create(&PostParams::default(), &diagnosis(name, kind, "web", None))
            .await
            .unwrap();
    }
    for name in ["app", "svc"] {
        wait_for_status(&dxs, name, "diagnosed healthy", |d| {
            d.status.as_ref().is_some_and(|s| s.phase == Phase::Healthy)
        })
        .await;
    }

    // a ConfigMap key changes: by a hash, never the value
    let before = jiff::Timestamp::now();
    let patch = json!({"data": {"DATABASE_URL": "postgres://shop@db-replica:5432/shop"}});
    cms.patch("app-config", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let after = jiff::Timestamp::now();
    let d = wait_for_status(&dxs, "app", "the key change in status.changes", |d| {
        change_of(d, "ConfigMap", "app-config", "key DATABASE_URL changed").is_some()
    })
    .await;
    let change = change_of(&d, "ConfigMap", "app-config", "key DATABASE_URL changed").unwrap();
    assert!(within(&change.time, before, after), "{change:?}");
    let field = &change.fields[0];
    assert_eq!(field.path, "data[DATABASE_URL]");
    let status = serde_json::to_string(&d.status).unwrap();
    assert!(
        !status.contains("db-replica") && !status.contains("db-primary"),
        "{status}"
    );
    assert!(
        field
            .to
            .as_deref()
            .is_some_and(|to| to.starts_with("sha256:"))
    );

    // a NetworkPolicy is created, then changed
    let policies: Api<NetworkPolicy> = Api::namespaced(client.clone(), &ns);
    let before = jiff::Timestamp::now();
    policies
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": {"name": "default-deny"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let created = jiff::Timestamp::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let patch = json!({"spec": {"ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}]}]}});
    policies
        .patch(
            "default-deny",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .unwrap();
    let changed = jiff::Timestamp::now();
    let d = wait_for_status(&dxs, "app", "the policy's creation and change", |d| {
        change_of(d, "NetworkPolicy", "default-deny", "was created").is_some()
            && change_of(d, "NetworkPolicy", "default-deny", "spec.ingress").is_some()
    })
    .await;
    let creation = change_of(&d, "NetworkPolicy", "default-deny", "was created").unwrap();
    assert!(within(&creation.time, before, created), "{creation:?}");
    let rules = change_of(&d, "NetworkPolicy", "default-deny", "spec.ingress").unwrap();
    assert!(within(&rules.time, created, changed), "{rules:?}");

    // the Service's selector changes: the change behind "selects no Pod"
    let before = jiff::Timestamp::now();
    let patch = json!({"spec": {"selector": {"app": "webapp"}}});
    services
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let after = jiff::Timestamp::now();
    let d = wait_for_status(
        &dxs,
        "svc",
        "the selector change linked to the finding",
        |d| {
            let Some(status) = d.status.as_ref() else {
                return false;
            };
            let Some(finding) = status
                .findings
                .iter()
                .find(|f| f.rule_id == "ServiceSelectorMatchesNoPods")
            else {
                return false;
            };
            change_of(d, "Service", "web", "spec.selector app=web -> app=webapp")
                .is_some_and(|change| change.findings.contains(&finding.id))
        },
    )
    .await;
    let change = change_of(&d, "Service", "web", "spec.selector").unwrap();
    assert!(within(&change.time, before, after), "{change:?}");
    let status = d.status.as_ref().unwrap();
    assert_eq!(
        status.changes[0].object.name, "web",
        "the change behind the root cause comes first: {:#?}",
        status.changes
    );
    let finding = status
        .findings
        .iter()
        .find(|f| f.rule_id == "ServiceSelectorMatchesNoPods")
        .unwrap();
    assert!(
        finding
            .evidence
            .iter()
            .any(|line| line
                .starts_with("change: Service/web: spec.selector app=web -> app=webapp at ")),
        "{:#?}",
        finding.evidence
    );
}
