//! The `storage` rule set on realistic object state (tests/fixtures/storage/).

use kubedx::api::{Finding, RemediationStep, Risk, Severity};
use kubedx::testing::{
    describe, diagnose_yaml, explained_by, finding, findings, has, top, warnings,
};

fn fixture(name: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/storage/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn evidence_has(f: &Finding, needle: &str) -> bool {
    f.evidence.iter().any(|e| e.contains(needle))
}

fn step_with<'a>(f: &'a Finding, needle: &str) -> Option<&'a RemediationStep> {
    f.remediation
        .steps
        .iter()
        .find(|s| s.command.as_deref().is_some_and(|c| c.contains(needle)))
}

/// The seed's rule: no deletion of a claim or volume unless it is Destructive, last, and
/// preceded by a read-only check.
fn deletion_is_last_and_destructive(f: &Finding) {
    let steps = &f.remediation.steps;
    for (i, s) in steps.iter().enumerate() {
        let cmd = s.command.as_deref().unwrap_or("");
        if cmd.contains("delete pvc") || cmd.contains("delete pv ") {
            assert_eq!(s.risk, Risk::Destructive, "{s:?}");
            assert!(
                steps[i..].iter().all(|x| x.risk == Risk::Destructive),
                "{steps:?}"
            );
            assert!(
                steps[..i].iter().any(|x| x.risk == Risk::ReadOnly),
                "{steps:?}"
            );
        }
    }
}

#[test]
fn missing_storage_class_is_the_root_of_the_statefulset_outage() {
    let yaml = fixture("missing-storageclass.yaml");
    let r = diagnose_yaml(&yaml, "StatefulSet/data/db");
    let sc = finding(&r, "StorageClassNotFound");
    assert_eq!(sc.severity, Severity::Critical);
    assert_eq!(sc.object.kind, "PersistentVolumeClaim");
    assert_eq!(sc.object.name, "data-db-0");
    assert!(sc.message.contains("fast-ssd"), "{}", sc.message);
    assert!(
        evidence_has(sc, "StorageClasses in the cluster: fast, standard"),
        "{:?}",
        sc.evidence
    );
    assert!(
        evidence_has(sc, "similar class name(s): fast"),
        "{:?}",
        sc.evidence
    );
    assert!(
        evidence_has(sc, "storageclass.storage.k8s.io \"fast-ssd\" not found"),
        "{:?}",
        sc.evidence
    );
    assert!(sc.root_cause, "{}", describe(&r));
    assert_eq!(top(&r).id, sc.id, "{}", describe(&r));
    deletion_is_last_and_destructive(sc);
    assert!(
        sc.remediation
            .steps
            .iter()
            .any(|s| s.description.contains("--cascade=orphan")),
        "a claim of a volumeClaimTemplate needs the StatefulSet recreated: {:?}",
        sc.remediation.steps
    );
    let pending = finding(&r, "PVCPending");
    assert!(!pending.root_cause);
    assert!(explained_by(&r, pending, sc), "{}", describe(&r));
    let unavailable = finding(&r, "ReplicasUnavailable");
    assert_eq!(unavailable.object.kind, "StatefulSet");
    assert!(explained_by(&r, unavailable, sc), "{}", describe(&r));
    // every Critical/Warning finding of the chain leads back to the missing class
    for f in &r.status.findings {
        if f.id != sc.id && f.severity >= Severity::Warning {
            assert!(
                explained_by(&r, f, sc),
                "{} not explained: {}",
                f.rule_id,
                describe(&r)
            );
        }
    }
    // the class-not-found event is quoted, not left to WarningEvents; no generic ProvisioningFailed
    assert!(!has(&r, "ProvisioningFailed"), "{}", describe(&r));
    assert!(
        findings(&r, "WarningEvents")
            .iter()
            .all(|w| !w.message.contains("ProvisioningFailed"))
    );

    // The same answer when diagnosing the claim or the Pod.
    let r = diagnose_yaml(&yaml, "PersistentVolumeClaim/data/data-db-0");
    assert_eq!(top(&r).rule_id, "StorageClassNotFound", "{}", describe(&r));
    let r = diagnose_yaml(&yaml, "Pod/data/db-0");
    assert_eq!(top(&r).rule_id, "StorageClassNotFound", "{}", describe(&r));
}

#[test]
fn claim_without_class_and_no_default() {
    let r = diagnose_yaml(
        &fixture("no-default-storageclass.yaml"),
        "PersistentVolumeClaim/media/uploads",
    );
    let f = finding(&r, "NoDefaultStorageClass");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.root_cause);
    assert!(
        evidence_has(f, "StorageClasses: io2, standard"),
        "{:?}",
        f.evidence
    );
    assert!(
        evidence_has(f, "no storage class is set"),
        "{:?}",
        f.evidence
    );
    assert!(step_with(f, "is-default-class=true").is_some_and(|s| s.risk == Risk::Reversible));
    let p = finding(&r, "PVCPending");
    assert!(explained_by(&r, p, f), "{}", describe(&r));
    assert!(!has(&r, "StorageClassNotFound"));
}

#[test]
fn several_default_classes() {
    let r = diagnose_yaml(
        &fixture("multiple-default-storageclasses.yaml"),
        "PersistentVolumeClaim/media/reports",
    );
    let f = finding(&r, "MultipleDefaultStorageClasses");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.object.name, "gp3", "the newest default wins");
    assert!(f.message.contains("gp3, standard"), "{}", f.message);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(step_with(f, "annotate storageclass standard").is_some());
    assert_eq!(
        warnings(&r),
        vec!["MultipleDefaultStorageClasses".to_owned()],
        "{}",
        describe(&r)
    );
}

#[test]
fn provisioner_error_is_quoted() {
    let r = diagnose_yaml(
        &fixture("provisioning-failed.yaml"),
        "PersistentVolumeClaim/shop/orders-db",
    );
    let f = finding(&r, "ProvisioningFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.root_cause);
    assert!(f.message.contains("ebs.csi.aws.com"), "{}", f.message);
    assert!(
        f.message.contains("not allowed to create volumes"),
        "{}",
        f.message
    );
    assert!(evidence_has(f, "UnauthorizedOperation"), "{:?}", f.evidence);
    assert!(evidence_has(f, "(x14)"), "{:?}", f.evidence);
    let p = finding(&r, "PVCPending");
    assert!(explained_by(&r, p, f), "{}", describe(&r));
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
    for f in &r.status.findings {
        deletion_is_last_and_destructive(f);
    }
}

#[test]
fn wait_for_first_consumer_without_consumer_is_not_a_problem() {
    let r = diagnose_yaml(
        &fixture("wait-for-first-consumer.yaml"),
        "PersistentVolumeClaim/lab/scratch",
    );
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    let p = finding(&r, "PVCPending");
    assert_eq!(p.severity, Severity::Info);
    assert!(p.message.contains("WaitForFirstConsumer"), "{}", p.message);
}

#[test]
fn wait_for_first_consumer_blocked_by_scheduling_is_not_a_storage_problem() {
    let r = diagnose_yaml(
        &fixture("wait-for-first-consumer.yaml"),
        "PersistentVolumeClaim/lab/analytics-data",
    );
    for f in findings(&r, "PVCPending") {
        assert_eq!(f.severity, Severity::Info, "{}", describe(&r));
        assert!(evidence_has(f, "Insufficient cpu"), "{:?}", f.evidence);
    }
    for id in [
        "StorageClassNotFound",
        "NoDefaultStorageClass",
        "ProvisioningFailed",
    ] {
        assert!(!has(&r, id), "{}", describe(&r));
    }
}

#[test]
fn lost_claim_never_suggests_deleting_first() {
    let r = diagnose_yaml(
        &fixture("pvc-lost.yaml"),
        "PersistentVolumeClaim/finance/ledger",
    );
    let f = finding(&r, "PVCLost");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message
            .contains("pvc-1f2e3d4c-5b6a-4798-8a9b-0c1d2e3f4a5b does not exist any more"),
        "{}",
        f.message
    );
    assert!(
        evidence_has(f, "Data on the volume is lost"),
        "{:?}",
        f.evidence
    );
    assert_eq!(f.remediation.steps.first().unwrap().risk, Risk::ReadOnly);
    assert!(step_with(f, "volumesnapshots").is_some());
    deletion_is_last_and_destructive(f);
    assert!(step_with(f, "kubectl delete pvc ledger").is_some());
}

#[test]
fn multi_attach_during_a_rolling_update() {
    let r = diagnose_yaml(
        &fixture("multi-attach-rolling-update.yaml"),
        "Deployment/monitoring/grafana",
    );
    let f = finding(&r, "VolumeMultiAttach");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "grafana-data");
    assert!(
        f.message.contains("grafana-7c8d9f6b5-xyz89 (node node-b)"),
        "{}",
        f.message
    );
    assert!(
        evidence_has(
            f,
            "Pod grafana-6d5f8c7b9-abc12 uses the claim on node node-a"
        ),
        "{:?}",
        f.evidence
    );
    assert!(
        evidence_has(f, "strategy RollingUpdate"),
        "{:?}",
        f.evidence
    );
    assert!(step_with(f, "\"type\":\"Recreate\"").is_some_and(|s| s.risk == Risk::Reversible));
    assert!(step_with(f, "delete pvc").is_none());
    // the kubelet's mount timeout is the same failure, not a second finding
    assert!(!has(&r, "VolumeMountFailed"), "{}", describe(&r));
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
    // one replica: the claim is not shared by replicas
    assert!(!has(&r, "ReadWriteOnceShared"));
}

/// v1.37's attach-detach controller writes "Waiting for detach" for the same state
/// (both of its forms: the Pods that hold the volume, or only its node).
#[test]
fn multi_attach_in_v1_37_words() {
    let yaml = fixture("multi-attach-rolling-update.yaml");
    let old = "Multi-Attach error for volume \"pvc-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\" Volume is already used by pod(s) grafana-6d5f8c7b9-abc12";
    assert!(yaml.contains(old), "the fixture changed");
    for new in [
        "Waiting for detach for volume \"pvc-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\" Volume is already used by pod(s) grafana-6d5f8c7b9-abc12",
        "Waiting for detach for volume \"pvc-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d\" Volume is already exclusively attached to one node, waiting on detach before it can be attached to another node",
    ] {
        let r = diagnose_yaml(&yaml.replace(old, new), "Deployment/monitoring/grafana");
        let f = top(&r);
        assert_eq!(f.rule_id, "VolumeMultiAttach", "{new}: {}", describe(&r));
        assert_eq!(f.object.name, "grafana-data");
        assert!(!has(&r, "VolumeMountFailed"), "{}", describe(&r));
    }
}

#[test]
fn rwo_claim_shared_by_replicas_explains_the_multi_attach() {
    let r = diagnose_yaml(&fixture("rwo-shared.yaml"), "Deployment/media/uploader");
    let s = finding(&r, "ReadWriteOnceShared");
    assert_eq!(s.severity, Severity::Warning);
    assert_eq!(s.object.name, "shared-uploads");
    assert!(s.message.contains("runs 3 replicas"), "{}", s.message);
    assert!(
        evidence_has(s, "node(s): node-a, node-b"),
        "{:?}",
        s.evidence
    );
    assert!(s.root_cause, "{}", describe(&r));
    let m = finding(&r, "VolumeMultiAttach");
    assert!(explained_by(&r, m, s), "{}", describe(&r));
    let u = finding(&r, "ReplicasUnavailable");
    assert!(explained_by(&r, u, m), "{}", describe(&r));
}

#[test]
fn csi_driver_missing_on_node_is_a_mount_failure() {
    let r = diagnose_yaml(&fixture("mount-failed.yaml"), "Pod/shop/reports");
    let f = finding(&r, "VolumeMountFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "reports-data");
    assert!(
        f.message
            .contains("CSI driver ebs.csi.aws.com is not registered"),
        "{}",
        f.message
    );
    assert!(evidence_has(f, "node(s): node-c"), "{:?}", f.evidence);
    assert!(step_with(f, "kubectl get csinode node-c").is_some());
    assert!(f.remediation.steps.iter().all(|s| s.risk == Risk::ReadOnly));
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn missing_configmap_mount_is_not_a_storage_finding() {
    let r = diagnose_yaml(&fixture("mount-failed.yaml"), "Pod/shop/web-config");
    assert!(!has(&r, "VolumeMountFailed"), "{}", describe(&r));
    assert!(!has(&r, "VolumeMultiAttach"));
}

#[test]
fn released_volume_blocks_the_recreated_claim() {
    let r = diagnose_yaml(
        &fixture("pv-released.yaml"),
        "PersistentVolumeClaim/finance/archive",
    );
    let pv = finding(&r, "PVReleasedOrFailed");
    assert_eq!(pv.severity, Severity::Warning);
    assert_eq!(pv.object.name, "pv-archive-01");
    assert!(
        pv.message.contains("reclaimPolicy Retain"),
        "{}",
        pv.message
    );
    assert!(
        evidence_has(pv, "uid 6c1d2e3f-0000-4a4b-8c5d-6e7f8a9b0c1d"),
        "{:?}",
        pv.evidence
    );
    assert!(pv.root_cause);
    assert_eq!(top(&r).id, pv.id, "{}", describe(&r));
    let p = finding(&r, "PVCPending");
    assert!(
        p.message
            .contains("pre-bound to PersistentVolume pv-archive-01"),
        "{}",
        p.message
    );
    assert!(
        evidence_has(p, "already bound to a different claim"),
        "{:?}",
        p.evidence
    );
    assert!(explained_by(&r, p, pv), "{}", describe(&r));
    // reusing the volume is not a read-only action, and nothing is deleted
    assert!(step_with(pv, "/spec/claimRef/uid").is_some_and(|s| s.risk >= Risk::Disruptive));
    assert!(step_with(pv, "delete").is_none());
}
