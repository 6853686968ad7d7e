//! Faults of the control plane while the controller runs (docs/reliability.md):
//! kube-apiserver stopped for 30 s, then etcd stopped for 30 s. The controller
//! recovers by itself (no panic, no restart), diagnoses resume, statuses update
//! again, and no storm of duplicate Events follows.
//!
//! One test on purpose: the outages hit the whole plane of this test binary.

#[path = "reliability_common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event as NewEvent;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use kubedx::api::{Diagnosis, Phase};

use common::*;
use support::controller::ControllerProcess;
use support::*;

const OUTAGE: Duration = Duration::from_secs(30);

fn degraded_by(rule: &'static str) -> impl Fn(&Diagnosis) -> bool {
    move |d: &Diagnosis| {
        d.status.as_ref().is_some_and(|s| {
            s.phase == Phase::Degraded && s.findings.first().is_some_and(|f| f.rule_id == rule)
        })
    }
}

/// The Nodes' Ready conditions and the CoreDNS Pods' readiness, to tell a second
/// fault of the plane (Nodes marked Unknown after the outage) from a kubedx defect.
async fn plane_health() -> String {
    let client = client().await;
    let mut out = Vec::new();
    for n in Api::<Node>::all(client.clone())
        .list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let ready = n
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| format!("{} ({})", c.status, c.reason.unwrap_or_default()));
        out.push(format!(
            "node {}: Ready={ready:?}",
            n.metadata.name.unwrap_or_default()
        ));
    }
    for p in Api::<Pod>::namespaced(client, "kube-system")
        .list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let ready = p
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status);
        out.push(format!(
            "pod kube-system/{}: Ready={ready:?}",
            p.metadata.name.unwrap_or_default()
        ));
    }
    out.join("; ")
}

fn metric(ctl: &ControllerProcess, name: &str) -> f64 {
    parse_metric(&ctl.metrics(), name)
        .iter()
        .map(|s| s.value)
        .sum()
}

/// One outage of `component`: stop, wait OUTAGE, start; then the controller must
/// diagnose a new Diagnosis, and the old one must not publish its Events again.
async fn outage(ctl: &ControllerProcess, component: &str, ns: &str, round: &str) {
    let client = client().await;
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), ns);
    let events: Api<NewEvent> = Api::namespaced(client.clone(), ns);
    let before = diagnosis_events(&events).await;
    let watch_errors_before = metric(ctl, "kubedx_watch_errors_total");
    let status_before = dxs.get("web").await.unwrap().status.unwrap();

    let t0 = Instant::now();
    cluster().stop_component(component);
    eprintln!("{component} stopped ({:?})", t0.elapsed());
    tokio::time::sleep(OUTAGE).await;
    assert_eq!(
        ctl.get("/healthz").map(|r| r.0),
        Some(200),
        "the controller stays up during the outage"
    );
    cluster().start_component(component);
    let back = Instant::now();
    eprintln!("{component} back after {:?}", t0.elapsed());

    // diagnoses resume: a Diagnosis created after the outage gets its status
    let name = format!("after-{round}");
    let dxs = Api::<Diagnosis>::namespaced(support::client().await, ns);
    eventually("creating a Diagnosis", Duration::from_secs(30), || async {
        dxs.create(
            &PostParams::default(),
            &diagnosis(&name, target("Deployment", "absent")),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
    })
    .await;
    wait_for(
        &dxs,
        &name,
        "a Diagnosis created after the outage to be diagnosed",
        Duration::from_secs(90),
        degraded_by("TargetNotFound"),
    )
    .await;
    eprintln!(
        "{component}: first diagnosis {:?} after the component was back",
        back.elapsed()
    );
    // the watches re-listed and every Continuous diagnosis re-ran: give them time
    tokio::time::sleep(Duration::from_secs(5)).await;
    let status_after = dxs.get("web").await.unwrap().status.unwrap();
    assert_eq!(
        status_after.findings.first().map(|f| f.id.clone()),
        status_before.findings.first().map(|f| f.id.clone()),
        "the same root cause before and after"
    );
    let after = diagnosis_events(&events).await;
    for (reason, (objects, occurrences)) in &before {
        let (o2, n2) = after.get(reason).copied().unwrap_or_default();
        assert_eq!(
            (o2, n2),
            (*objects, *occurrences),
            "{component} outage: Events with reason {reason} were published again: before {before:?}, after {after:?}"
        );
    }
    let new_reasons: Vec<&String> = after
        .keys()
        .filter(|r| !before.contains_key(*r) && !r.starts_with("after-"))
        .collect();
    if !new_reasons.is_empty() {
        panic!(
            "{component} outage: unexpected new Events {new_reasons:?}: {after:?}\nthe plane now: {}",
            plane_health().await
        );
    }
    let watch_errors = metric(ctl, "kubedx_watch_errors_total") - watch_errors_before;
    let reconcile_errors = metric(ctl, "kubedx_reconcile_errors_total");
    eprintln!(
        "{component} outage: {watch_errors} watch errors, {reconcile_errors} reconcile errors in total; events {after:?}"
    );
    // A stopped kube-apiserver cuts every watch. A stopped etcd may go unnoticed by
    // the watches: the apiserver keeps their connections open and its watch cache
    // resumes from etcd's preserved revision; only a watch re-opened during the
    // outage gets an error. So only the first is required.
    if component == "kube-apiserver" {
        assert!(
            watch_errors >= 1.0,
            "the watches noticed the {component} outage"
        );
    }
    assert!(panics(&ctl.log_text()).is_empty(), "{}", ctl.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_rides_out_apiserver_and_etcd_outages() {
    let started = Instant::now();
    let ctl = ControllerProcess::start(
        "faults",
        &[
            "--leader-election",
            "--lease-duration",
            "6",
            "--lease-name",
            "kubedx-faults",
        ],
    );
    let ns = namespace("dx-faults").await;
    let client = client().await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    deployments
        .create(
            &PostParams::default(),
            &deployment(
                "web",
                "registry.example.com/shop/web:v2",
                Some("image-not-found"),
            ),
        )
        .await
        .unwrap();
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    dxs.create(
        &PostParams::default(),
        &diagnosis("web", target("Deployment", "web")),
    )
    .await
    .unwrap();
    wait_for(
        &dxs,
        "web",
        "ImagePullNotFound",
        Duration::from_secs(90),
        degraded_by("ImagePullNotFound"),
    )
    .await;
    let events: Api<NewEvent> = Api::namespaced(client.clone(), &ns);
    eventually("the Warning event", Duration::from_secs(30), || async {
        let e = diagnosis_events(&events).await;
        if e.contains_key("web/ImagePullNotFound") {
            Ok(())
        } else {
            Err(format!("{e:?}"))
        }
    })
    .await;

    outage(&ctl, "kube-apiserver", &ns, "apiserver").await;
    outage(&ctl, "etcd", &ns, "etcd").await;

    // statuses update again: the fix heals the diagnosis, with its transition Events
    let client = support::client().await;
    Api::<Deployment>::namespaced(client.clone(), &ns)
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
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    wait_for(
        &dxs,
        "web",
        "Healthy after the fix",
        Duration::from_secs(90),
        |d| d.status.as_ref().is_some_and(|s| s.phase == Phase::Healthy),
    )
    .await;
    let events: Api<NewEvent> = Api::namespaced(client.clone(), &ns);
    let e = eventually("DiagnosisHealthy once", Duration::from_secs(30), || async {
        let e = diagnosis_events(&events).await;
        if e.contains_key("web/DiagnosisHealthy") {
            Ok(e)
        } else {
            Err(format!("{e:?}"))
        }
    })
    .await;
    assert_eq!(e["web/DiagnosisHealthy"], (1, 1), "{e:?}");
    assert_eq!(e["web/ImagePullNotFound"], (1, 1), "{e:?}");
    assert_eq!(
        ctl.get("/healthz").map(|r| r.0),
        Some(200),
        "the same process, up"
    );
    let log = ctl.log_text();
    assert!(panics(&log).is_empty(), "{log}");
    eprintln!(
        "faults: whole test {:?}; controller log: {} lines",
        started.elapsed(),
        log.lines().count()
    );
}
