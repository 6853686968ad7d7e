//! Two controller replicas with leader election on a Lease: only the leader
//! reconciles and writes; when it dies, the follower takes over within the lease
//! duration.

mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};
use serde_json::json;

use kubedx::api::{Diagnosis, Phase};

use support::controller::{CONTROLLER_NAMESPACE, ControllerProcess};
use support::*;

const LEASE_SECONDS: u64 = 6;

fn reconciles(p: &ControllerProcess) -> f64 {
    p.metric("kubedx_reconciliations_total{result=\"success\"}")
        .unwrap_or(0.0)
}

fn diagnosis(name: &str) -> Diagnosis {
    serde_json::from_value(json!({
        "apiVersion": "kubedx.io/v1alpha1",
        "kind": "Diagnosis",
        "metadata": {"name": name},
        "spec": {"target": {"kind": "Deployment", "name": "absent"}},
    }))
    .unwrap()
}

async fn diagnosed(api: &Api<Diagnosis>, name: &str, timeout: Duration) {
    eventually(&format!("{name} to be diagnosed"), timeout, || async {
        let d = api.get(name).await.map_err(|e| e.to_string())?;
        match d.status {
            Some(s) if s.phase == Phase::Degraded => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_leader_writes_and_the_follower_takes_over() {
    let lease_args = [
        "--leader-election",
        "--lease-duration",
        "6",
        "--lease-name",
        "kubedx-ha-test",
    ];
    let mut a = ControllerProcess::start("replica-a", &lease_args);
    let mut b = ControllerProcess::start("replica-b", &lease_args);
    let client = client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), CONTROLLER_NAMESPACE);
    let holder = eventually("a lease holder", Duration::from_secs(30), || async {
        let l = leases
            .get("kubedx-ha-test")
            .await
            .map_err(|e| e.to_string())?;
        l.spec
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| "no holder yet".to_string())
    })
    .await;
    assert!(holder == "replica-a" || holder == "replica-b", "{holder}");
    let (leader, follower) = if holder == "replica-a" {
        (&mut a, &mut b)
    } else {
        (&mut b, &mut a)
    };

    let ns = namespace("dx-ha").await;
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    dxs.create(&PostParams::default(), &diagnosis("first"))
        .await
        .unwrap();
    diagnosed(&dxs, "first", Duration::from_secs(60)).await;
    assert!(
        reconciles(leader) >= 1.0,
        "the leader reconciled:\n{}",
        leader.metrics()
    );
    assert_eq!(
        reconciles(follower),
        0.0,
        "the follower must not reconcile or write:\n{}",
        follower.log_text()
    );

    // the leader crashes without releasing the lease
    leader.kill();
    let killed = Instant::now();
    dxs.create(&PostParams::default(), &diagnosis("second"))
        .await
        .unwrap();
    diagnosed(&dxs, "second", Duration::from_secs(LEASE_SECONDS * 4 + 30)).await;
    let took = killed.elapsed();
    assert!(reconciles(follower) >= 1.0, "{}", follower.log_text());
    let new_holder = leases
        .get("kubedx-ha-test")
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity)
        .unwrap_or_default();
    assert_ne!(new_holder, holder, "the follower holds the lease");
    eprintln!(
        "failover: the follower diagnosed a new Diagnosis {took:?} after the leader was killed"
    );
    follower.stop();
}
