//! The `scheduling` rule set on realistic snapshots: five nodes (a tainted
//! control-plane node, three workers mostly taken by a batch job, a dedicated search
//! node) and one scenario per file, with the scheduler's real messages in
//! `eventTime`/`series` events.

use kubedx::api::Severity;
use kubedx::testing::{describe, diagnose_yaml, explained_by, finding, findings, has, warnings};

const NODES: &str = include_str!("fixtures/scheduling/nodes.yaml");

fn cluster(scenario: &str) -> String {
    format!("{NODES}\n---\n{scenario}")
}

fn has_evidence(f: &kubedx::api::Finding, needle: &str) -> bool {
    f.evidence.iter().any(|e| e.contains(needle))
}

#[test]
fn insufficient_memory_is_one_finding_per_replicaset_with_requests_and_largest_node() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/insufficient-memory.yaml")),
        "Deployment/shop/api",
    );
    let f = finding(&r, "InsufficientResources");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "ReplicaSet");
    assert_eq!(f.object.name, "api-6d5f7c8b9d");
    assert_eq!(
        f.affected.as_ref().map(|a| a.count),
        Some(2),
        "{}",
        describe(&r)
    );
    assert!(f.root_cause, "{}", describe(&r));
    assert!(f.message.contains("memory"), "{}", f.message);
    assert!(has_evidence(f, "memory=6Gi"), "{:#?}", f.evidence);
    assert!(
        has_evidence(f, "largest allocatable 15.16Gi on worker-1"),
        "{:#?}",
        f.evidence
    );
    assert!(
        has_evidence(f, "most unrequested 4.16Gi on worker-1"),
        "{:#?}",
        f.evidence
    );
    // the scheduler's own words are quoted
    assert!(
        has_evidence(f, "3 Insufficient memory"),
        "{:#?}",
        f.evidence
    );
    // the control-plane and dedicated taints are context, not causes
    assert!(!has(&r, "UntoleratedTaint"), "{}", describe(&r));
    assert!(
        has_evidence(f, "control-plane node(s)"),
        "{:#?}",
        f.evidence
    );
    assert!(
        has_evidence(f, "reserved by taint dedicated=search"),
        "{:#?}",
        f.evidence
    );
    // 6Gi fits an empty worker: not a capacity problem of the node size
    assert!(!has(&r, "RequestsExceedNodeCapacity"), "{}", describe(&r));
    // the event is accounted for
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
    assert_eq!(f.remediation.steps[0].risk, kubedx::api::Risk::ReadOnly);
}

#[test]
fn requests_larger_than_any_node_are_named_whatever_the_event_says() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/requests-exceed.yaml")),
        "Deployment/shop/reports",
    );
    let f = finding(&r, "RequestsExceedNodeCapacity");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "reports-5c8d9f7b6a");
    assert!(f.message.contains("memory 32Gi"), "{}", f.message);
    assert!(
        f.message.contains("largest allocatable: 15.16Gi"),
        "{}",
        f.message
    );
    assert!(f.root_cause);
    // the Insufficient memory event is explained by it, not reported twice
    assert!(!has(&r, "InsufficientResources"), "{}", describe(&r));
    assert!(has_evidence(f, "FailedScheduling"), "{:#?}", f.evidence);
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn requests_exceed_capacity_without_any_event() {
    // the same Deployment before the scheduler said anything
    let mut list: serde_json::Value =
        serde_norway::from_str(include_str!("fixtures/scheduling/requests-exceed.yaml")).unwrap();
    let items = list["items"].as_array_mut().unwrap();
    items.retain(|o| o["kind"] != "Event");
    for o in items.iter_mut().filter(|o| o["kind"] == "Pod") {
        o["status"] = serde_json::json!({"phase": "Pending", "qosClass": "Burstable"});
    }
    let r = diagnose_yaml(&cluster(&list.to_string()), "Deployment/shop/reports");
    let f = finding(&r, "RequestsExceedNodeCapacity");
    assert!(
        f.message.contains("can never be scheduled"),
        "{}",
        f.message
    );
}

#[test]
fn a_gpu_nobody_offers() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/gpu.yaml")),
        "Pod/ml/trainer",
    );
    let f = finding(&r, "RequestsExceedNodeCapacity");
    assert_eq!(f.object.kind, "Pod");
    assert!(
        f.message.contains("no node offers nvidia.com/gpu"),
        "{}",
        f.message
    );
    assert!(!has(&r, "InsufficientResources"), "{}", describe(&r));
}

#[test]
fn node_selector_no_node_satisfies() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/node-selector.yaml")),
        "Deployment/shop/indexer",
    );
    let f = finding(&r, "NodeSelectorMatchesNoNode");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "indexer-7f9c6d5b4");
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        has_evidence(f, "nodeSelector disktype=ssd"),
        "{:#?}",
        f.evidence
    );
    assert!(
        has_evidence(
            f,
            "label disktype on the 5 node(s): \"hdd\" (3), <unset> (2)"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(f.root_cause);
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref() == Some("kubectl get nodes -L disktype")),
        "{:#?}",
        f.remediation
    );
    assert!(!has(&r, "UntoleratedTaint"), "{}", describe(&r));
}

#[test]
fn a_node_selector_a_node_satisfies_is_silent() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/node-selector.yaml")),
        "Deployment/shop/web",
    );
    for rule in [
        "NodeSelectorMatchesNoNode",
        "FailedScheduling",
        "UntoleratedTaint",
        "InsufficientResources",
    ] {
        assert!(!has(&r, rule), "{}", describe(&r));
    }
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn dedicated_nodes_without_toleration() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/taints.yaml")),
        "Deployment/shop/search",
    );
    // the affinity narrows to the search node, whose taint reserves it as intended: the
    // placement constraint is the root cause, not the taint
    let f = finding(&r, "NodeSelectorMatchesNoNode");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "search-66b8c9d7f5");
    assert!(
        f.message.contains("dedicated=search:NoSchedule")
            && f.message.contains("select(s) only node(s) search-1"),
        "{}",
        f.message
    );
    assert!(
        has_evidence(
            f,
            "taint dedicated=search:NoSchedule on search-1, not tolerated"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(!has(&r, "UntoleratedTaint"), "{}", describe(&r));
    assert!(f.root_cause);
}

#[test]
fn a_pod_that_tolerates_the_taint_is_silent() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/taints.yaml")),
        "Deployment/shop/search-ok",
    );
    assert!(!has(&r, "UntoleratedTaint"), "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn unbound_immediate_claim_names_the_pvc() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/unbound-pvc.yaml")),
        "StatefulSet/shop/db",
    );
    let f = finding(&r, "UnboundPersistentVolumeClaim");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "StatefulSet");
    assert!(f.message.contains("data-db-0"), "{}", f.message);
    assert!(
        has_evidence(
            f,
            "PVC data-db-0: phase Pending, storageClass fast-immediate (volumeBindingMode Immediate)"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(!has(&r, "FailedScheduling"), "{}", describe(&r));
    // a storage finding on the claim, when that rule set reports one, explains it
    for cause in ["PVCPending", "ProvisioningFailed"] {
        for c in findings(&r, cause) {
            if c.object.name == "data-db-0" {
                assert!(explained_by(&r, f, c), "{}", describe(&r));
            }
        }
    }
}

#[test]
fn required_anti_affinity_with_more_replicas_than_nodes() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/anti-affinity.yaml")),
        "Deployment/shop/cache",
    );
    let f = finding(&r, "PodAffinityUnsatisfiable");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("pod anti-affinity"), "{}", f.message);
    assert!(
        has_evidence(
            f,
            "Deployment/cache wants 5 replicas with one per node, and only 3 node(s) can take its Pods"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(
        has_evidence(f, "not with Pods app=cache per kubernetes.io/hostname"),
        "{:#?}",
        f.evidence
    );
}

#[test]
fn volume_in_a_zone_without_nodes() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/volume-zone.yaml")),
        "StatefulSet/shop/pg",
    );
    let f = finding(&r, "VolumeNodeAffinityConflict");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        has_evidence(
            f,
            "topology.kubernetes.io/zone in (eu-west-1d)]; node(s) inside it: none"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(
        f.remediation.steps.iter().any(|s| s
            .command
            .as_deref()
            .is_some_and(|c| c.contains("kubectl get pv pvc-9e8d7c6b"))),
        "{:#?}",
        f.remediation
    );
    assert!(!has(&r, "UnboundPersistentVolumeClaim"), "{}", describe(&r));
}

#[test]
fn scheduling_gates_are_info() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/gated-and-healed.yaml")),
        "Pod/shop/export-28411230-9xk2v",
    );
    let f = finding(&r, "SchedulingGated");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.contains("kueue.x-k8s.io/admission"),
        "{}",
        f.message
    );
    assert!(!has(&r, "SchedulerNotRunning"), "{}", describe(&r));
    assert!(!has(&r, "FailedScheduling"), "{}", describe(&r));
}

#[test]
fn recovered_scheduling_is_history_not_a_warning() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/gated-and-healed.yaml")),
        "Deployment/shop/frontend",
    );
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    let f = finding(&r, "FailedScheduling");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.contains("healed"), "{}", f.message);
    assert!(f.message.contains("for 6m"), "{}", f.message);
    // it explains nothing, and its events are not repeated as WarningEvents
    assert!(
        r.status
            .findings
            .iter()
            .all(|o| !o.caused_by.contains(&f.id)),
        "{}",
        describe(&r)
    );
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn pods_nobody_schedules_point_at_the_scheduler() {
    let r = diagnose_yaml(
        &cluster(include_str!("fixtures/scheduling/scheduler-down.yaml")),
        "Deployment/shop/worker",
    );
    let f = finding(&r, "SchedulerNotRunning");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("26m"), "{}", f.message);
    assert!(
        has_evidence(
            f,
            "kube-scheduler Pod kube-scheduler-cp-1: phase Running, Ready=False"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(f.root_cause, "{}", describe(&r));
    assert!(
        f.remediation.steps.iter().any(|s| s.command.as_deref()
            == Some("kubectl get lease kube-scheduler -n kube-system -o yaml"))
    );
    // Pod/controller symptoms the other rule sets report are explained by it
    for f2 in &r.status.findings {
        if ["PodNotReady", "ReplicasUnavailable"].contains(&f2.rule_id.as_str()) {
            assert!(explained_by(&r, f2, f), "{}", describe(&r));
        }
    }
}

#[test]
fn fresh_pending_pods_are_not_blamed_on_the_scheduler() {
    // the same Pods, one minute old
    let yaml = include_str!("fixtures/scheduling/scheduler-down.yaml").replace(
        "creationTimestamp: '2026-03-10T10:04:00Z'",
        "creationTimestamp: '2026-03-10T10:29:00Z'",
    );
    let r = diagnose_yaml(&cluster(&yaml), "Deployment/shop/worker");
    assert!(!has(&r, "SchedulerNotRunning"), "{}", describe(&r));
}

const CONTROL_PLANE_SELECTOR: &str =
    include_str!("fixtures/scheduling/control-plane-selector.yaml");
const DEDICATED_POOL: &str = include_str!("fixtures/scheduling/dedicated-pool.yaml");

/// A nodeSelector that only the control plane satisfies: its taint keeps workloads off
/// as intended, so the selector is the root cause, not the taint.
#[test]
fn a_selector_for_the_control_plane_is_the_cause_not_its_taint() {
    let r = diagnose_yaml(CONTROL_PLANE_SELECTOR, "Deployment/ops/etcd-defrag");
    let f = finding(&r, "NodeSelectorMatchesNoNode");
    assert!(f.root_cause, "{}", describe(&r));
    assert_eq!(kubedx::testing::top(&r).id, f.id, "{}", describe(&r));
    assert!(
        f.message
            .contains("nodeSelector node-role.kubernetes.io/control-plane=")
            && f.message.contains("only the control-plane node(s) cp-1")
            && f.message.contains("as intended"),
        "{}",
        f.message
    );
    assert!(
        has_evidence(
            f,
            "its constraints exclude the other 2 node(s): worker-1, worker-2"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(!has(&r, "UntoleratedTaint"), "{}", describe(&r));
    assert!(
        f.remediation
            .summary
            .contains("Point the nodeSelector / node affinity at worker nodes"),
        "{}",
        f.remediation.summary
    );
    let stuck = finding(&r, "RolloutStuck");
    assert!(explained_by(&r, stuck, f), "{}", describe(&r));
}

/// The same from the scheduler's message alone (a snapshot without Nodes): the
/// selector excludes two nodes, the third is the control plane's.
#[test]
fn a_selector_then_reserved_taints_from_the_message_alone() {
    let cut = CONTROL_PLANE_SELECTOR
        .find("- apiVersion: apps/v1")
        .unwrap();
    let start = CONTROL_PLANE_SELECTOR.find("items:\n").unwrap() + "items:\n".len();
    let without_nodes = format!(
        "{}{}",
        &CONTROL_PLANE_SELECTOR[..start],
        &CONTROL_PLANE_SELECTOR[cut..]
    );
    let r = diagnose_yaml(&without_nodes, "Deployment/ops/etcd-defrag");
    let f = finding(&r, "NodeSelectorMatchesNoNode");
    assert!(
        f.message
            .contains("excludes 2 of 3 node(s) and the others are reserved by taint(s) node-role.kubernetes.io/control-plane (1 node(s))"),
        "{}",
        f.message
    );
    assert!(f.root_cause, "{}", describe(&r));
    assert!(!has(&r, "UntoleratedTaint"), "{}", describe(&r));
}

/// A dedicated pool asked for without its toleration (the v1.37 scheduler names no
/// taint): the affinity is the cause.
#[test]
fn an_affinity_for_a_dedicated_pool_without_its_toleration_is_the_cause() {
    let r = diagnose_yaml(DEDICATED_POOL, "Deployment/ml/trainer");
    let f = finding(&r, "NodeSelectorMatchesNoNode");
    assert!(
        f.message.contains("required node affinity [pool in (gpu)]")
            && f.message
                .contains("only node(s) gpu-1, reserved by taint(s) dedicated=gpu:NoSchedule"),
        "{}",
        f.message
    );
    assert!(f.root_cause, "{}", describe(&r));
    assert!(!has(&r, "UntoleratedTaint"), "{}", describe(&r));
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.description.contains("add the matching toleration")),
        "{:#?}",
        f.remediation
    );
}

/// The look-alike: the same affinity with the toleration schedules on the pool.
#[test]
fn a_pod_with_the_pools_toleration_and_affinity_schedules() {
    let r = diagnose_yaml(DEDICATED_POOL, "Deployment/ml/trainer-ok");
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    assert!(!has(&r, "NodeSelectorMatchesNoNode") && !has(&r, "UntoleratedTaint"));
}

/// A condition taint is not a placement choice: it points at the node.
#[test]
fn a_condition_taint_points_at_the_node_not_the_selector() {
    let r = diagnose_yaml(DEDICATED_POOL, "Deployment/ml/inference");
    let f = finding(&r, "UntoleratedTaint");
    assert!(
        f.message.contains("unhealthy") && f.message.contains("node.kubernetes.io/not-ready"),
        "{}",
        f.message
    );
    assert!(
        has_evidence(
            f,
            "node gpu-2: condition Ready=False reason KubeletNotReady"
        ),
        "{:#?}",
        f.evidence
    );
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref() == Some("kubectl describe node gpu-2")),
        "{:#?}",
        f.remediation
    );
    assert!(!has(&r, "NodeSelectorMatchesNoNode"), "{}", describe(&r));
    assert!(f.root_cause, "{}", describe(&r));
}

/// A toleration meant for the pool's taint that does not match it (a typo in its
/// value): the Pod means to run there, so the untolerated taint is the cause, and the
/// near-miss toleration is its evidence.
#[test]
fn a_toleration_with_a_typo_is_an_untolerated_taint() {
    let mut list: serde_json::Value = serde_norway::from_str(DEDICATED_POOL).unwrap();
    for item in list["items"].as_array_mut().unwrap() {
        let name = item["metadata"]["name"].as_str().unwrap_or("").to_owned();
        let spec = match item["kind"].as_str() {
            Some("Pod") if name.starts_with("trainer-") && !name.starts_with("trainer-ok") => {
                &mut item["spec"]
            }
            Some("Deployment" | "ReplicaSet")
                if name.starts_with("trainer") && !name.starts_with("trainer-ok") =>
            {
                &mut item["spec"]["template"]["spec"]
            }
            _ => continue,
        };
        let typo = serde_json::json!({"key": "dedicated", "operator": "Equal", "value": "gpus", "effect": "NoSchedule"});
        match spec["tolerations"].as_array_mut() {
            Some(tolerations) => tolerations.push(typo),
            None => spec["tolerations"] = serde_json::json!([typo]),
        }
    }
    let r = diagnose_yaml(&list.to_string(), "Deployment/ml/trainer");
    let f = kubedx::testing::top(&r);
    assert_eq!(f.rule_id, "UntoleratedTaint", "{}", describe(&r));
    assert!(
        f.evidence.iter().any(|e| e.contains(
            "toleration dedicated=gpus:NoSchedule (its value differs) does not match taint dedicated=gpu:NoSchedule"
        )),
        "{:#?}",
        f.evidence
    );
    assert!(!has(&r, "NodeSelectorMatchesNoNode"), "{}", describe(&r));
}
