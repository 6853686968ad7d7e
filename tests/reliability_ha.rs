//! Leader failover (docs/reliability.md): two replicas share one ServiceAccount and
//! tell themselves apart in the audit log by their User-Agent
//! (`kubedx/VERSION (controller NAME)`). Only the lease holder writes statuses —
//! never both at once — and the follower takes over within the lease duration
//! plus its grace after the leader is killed.

#[path = "reliability_common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, PostParams};

use kubedx::api::{Diagnosis, Phase};

use common::*;
use support::controller::{CONTROLLER_NAMESPACE, ControllerProcess};
use support::*;

const LEASE: u64 = 6;
/// What the controller makes of --lease-duration 6: a renewal 2 s before expiry.
const GRACE: u64 = 2;

async fn holder(leases: &Api<Lease>, name: &str) -> String {
    leases
        .get(name)
        .await
        .ok()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_writer_at_a_time_and_takeover_within_the_lease() {
    let args = [
        "--leader-election",
        "--lease-duration",
        "6",
        "--lease-name",
        "kubedx-ha-reliability",
    ];
    let mut a = ControllerProcess::start("ha-a", &args);
    let mut b = ControllerProcess::start("ha-b", &args);
    let client = client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), CONTROLLER_NAMESPACE);
    let first = eventually("a lease holder", Duration::from_secs(30), || async {
        let h = holder(&leases, "kubedx-ha-reliability").await;
        if h.is_empty() {
            Err("none".to_string())
        } else {
            Ok(h)
        }
    })
    .await;
    let (leader, follower, follower_name) = if first == "ha-a" {
        (&mut a, &mut b, "ha-b")
    } else {
        (&mut b, &mut a, "ha-a")
    };

    // a crash loop: its Pods change every ~10 s, so statuses are written again and again
    let ns = namespace("dx-ha-rel").await;
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &deployment(
                "web",
                "registry.example.com/shop/web:v2",
                Some("crash-exit-1"),
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
    wait_for(&dxs, "web", "Degraded", Duration::from_secs(90), |d| {
        d.status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Degraded)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;

    // the leader crashes, holding the lease
    leader.kill();
    let killed = Instant::now();
    let killed_at = jiff::Timestamp::now();
    let took = eventually(
        "the follower to hold the lease",
        Duration::from_secs(60),
        || async {
            if holder(&leases, "kubedx-ha-reliability").await == follower_name {
                Ok(killed.elapsed())
            } else {
                Err("not yet".to_string())
            }
        },
    )
    .await;
    eprintln!("takeover: the follower held the lease {took:?} after the leader was killed");
    assert!(
        took <= Duration::from_secs(LEASE + GRACE + 3),
        "takeover took {took:?}, more than the lease duration ({LEASE} s) + grace ({GRACE} s) + 3 s"
    );
    // the new leader writes: a Diagnosis created now is diagnosed
    dxs.create(
        &PostParams::default(),
        &diagnosis("second", target("Deployment", "absent")),
    )
    .await
    .unwrap();
    wait_for(
        &dxs,
        "second",
        "diagnosed by the new leader",
        Duration::from_secs(60),
        |d| {
            d.status
                .as_ref()
                .is_some_and(|s| s.phase == Phase::Degraded)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    follower.stop();

    // the audit log: status writes by replica
    let writes: Vec<(jiff::Timestamp, String)> = audit(&cluster().audit_log())
        .into_iter()
        .filter(|e| e.resource == "diagnoses" && e.subresource == "status" && e.verb == "patch")
        .filter(|e| e.user_agent.contains("(controller ha-"))
        .map(|e| (e.time.parse().unwrap(), e.user_agent))
        .collect();
    let by = |who: &str| -> Vec<jiff::Timestamp> {
        writes
            .iter()
            .filter(|(_, ua)| ua.contains(&format!("(controller {who})")))
            .map(|(t, _)| *t)
            .collect()
    };
    let (old, new) = (by(&first), by(follower_name));
    eprintln!(
        "status writes: {} by the first leader, {} by the second",
        old.len(),
        new.len()
    );
    assert!(old.len() >= 2 && !new.is_empty(), "{writes:#?}");
    let last_old = *old.iter().max().unwrap();
    let first_new = *new.iter().min().unwrap();
    assert!(
        last_old <= killed_at,
        "the killed leader wrote after its death?"
    );
    assert!(
        first_new > killed_at,
        "the follower wrote while the leader held the lease: {first_new} <= {killed_at}"
    );
}
