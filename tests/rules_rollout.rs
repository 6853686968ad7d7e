//! The `rollout` rule set on realistic object state (tests/fixtures/rollout/).

use kubedx::api::{Risk, Severity};
use kubedx::testing::{
    describe, diagnose_yaml, explained_by, finding, findings, has, top, warnings,
};

fn fixture(name: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/rollout/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn evidence_has(f: &kubedx::api::Finding, needle: &str) -> bool {
    f.evidence.iter().any(|e| e.contains(needle))
}

fn step_with<'a>(
    f: &'a kubedx::api::Finding,
    needle: &str,
) -> Option<&'a kubedx::api::RemediationStep> {
    f.remediation
        .steps
        .iter()
        .find(|s| s.command.as_deref().is_some_and(|c| c.contains(needle)))
}

#[test]
fn rollout_stuck_offers_rollback_to_healthy_previous_revision() {
    let r = diagnose_yaml(&fixture("rollout-stuck.yaml"), "Deployment/shop/web");
    let f = finding(&r, "RolloutStuck");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "Deployment");
    assert_eq!(f.object.name, "web");
    assert!(f.message.contains("web-7d4f8b6c5"), "{}", f.message);
    assert!(f.message.contains("revision 4"), "{}", f.message);
    assert!(f.message.contains("previous revision 3"), "{}", f.message);
    assert!(
        evidence_has(f, "has timed out progressing"),
        "{:?}",
        f.evidence
    );
    assert!(
        evidence_has(
            f,
            "registry.example.com/shop/web:1.4.2 (revision 3) -> registry.example.com/shop/web:1.5.0 (revision 4)"
        ),
        "{:?}",
        f.evidence
    );
    // Read-only steps first, then the rollback.
    let undo = step_with(f, "kubectl rollout undo deployment/web -n shop").expect("rollback step");
    assert_eq!(undo.risk, Risk::Reversible);
    assert!(undo.command.as_deref().unwrap().contains("--to-revision=3"));
    assert!(step_with(f, "kubectl rollout history deployment/web -n shop").is_some());
    assert!(step_with(f, "kubectl rollout status deployment/web -n shop").is_some());
    assert_eq!(f.remediation.steps[0].risk, Risk::ReadOnly);
    // The old revision still serves all 3 replicas: nothing is unavailable.
    assert!(!has(&r, "ReplicasUnavailable"), "{}", describe(&r));
    // RolloutStuck is the answer unless a Pod-level finding about the new Pod explains it.
    if !f.root_cause {
        let causes: Vec<_> = r
            .status
            .findings
            .iter()
            .filter(|c| f.caused_by.contains(&c.id))
            .collect();
        assert!(
            causes
                .iter()
                .all(|c| c.object.name.starts_with("web-7d4f8b6c5")
                    || c.object.name == "web-7d4f8b6c5"),
            "{}",
            describe(&r)
        );
    }
}

#[test]
fn rollout_stuck_without_healthy_previous_revision_offers_no_rollback() {
    let r = diagnose_yaml(
        &fixture("rollout-stuck-previous-unhealthy.yaml"),
        "Deployment/shop/api",
    );
    let f = finding(&r, "RolloutStuck");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("api-6c9f7d8b4"), "{}", f.message);
    assert!(f.message.contains("not healthy"), "{}", f.message);
    assert!(
        step_with(f, "rollout undo").is_none(),
        "{:?}",
        f.remediation.steps
    );
    assert!(f.remediation.steps.iter().all(|s| s.risk == Risk::ReadOnly));
    assert!(
        step_with(f, "--revision=6").is_some(),
        "{:?}",
        f.remediation.steps
    );
    assert!(evidence_has(f, "no rollback offered"), "{:?}", f.evidence);
    // 0 of 2 available: a Warning symptom explained by the stuck rollout (or the crash).
    let u = finding(&r, "ReplicasUnavailable");
    assert_eq!(u.severity, Severity::Warning);
    assert!(u.message.contains("0 of 2"), "{}", u.message);
    assert!(!u.root_cause, "{}", describe(&r));
    assert!(explained_by(&r, u, f) || !f.root_cause, "{}", describe(&r));
}

#[test]
fn rollout_within_deadline_is_silent() {
    let r = diagnose_yaml(
        &fixture("rollout-in-progress.yaml"),
        "Deployment/shop/catalog",
    );
    assert!(!has(&r, "RolloutStuck"), "{}", describe(&r));
    let w = warnings(&r);
    assert!(
        w.is_empty(),
        "healthy rollout raised {w:?}: {}",
        describe(&r)
    );
    for f in findings(&r, "ReplicasUnavailable") {
        assert_eq!(f.severity, Severity::Info);
    }
}

#[test]
fn quota_exceeded_is_the_root_cause_of_a_stuck_rollout() {
    let r = diagnose_yaml(&fixture("quota-exceeded.yaml"), "Deployment/shop/checkout");
    let q = finding(&r, "QuotaExceeded");
    assert_eq!(q.severity, Severity::Critical);
    assert_eq!(q.object.kind, "ReplicaSet");
    assert_eq!(q.object.name, "checkout-7d4f9c8b6");
    assert!(q.root_cause, "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "QuotaExceeded", "{}", describe(&r));
    assert!(q.message.contains("compute-quota"), "{}", q.message);
    assert!(
        q.message
            .contains("limits.memory: requested 2Gi, used 7Gi, limited 8Gi"),
        "{}",
        q.message
    );
    assert!(
        evidence_has(
            q,
            "ResourceQuota compute-quota: limits.memory used 7Gi of 8Gi hard"
        ),
        "{:?}",
        q.evidence
    );
    assert!(step_with(q, "kubectl describe resourcequota compute-quota -n shop").is_some());
    // the surge of the rolling update needs room in the quota
    assert!(
        step_with(q, "maxSurge").is_some(),
        "{:?}",
        q.remediation.steps
    );
    let c = finding(&r, "ReplicaSetCreateFailed");
    assert_eq!(c.severity, Severity::Critical);
    assert!(explained_by(&r, c, q), "{}", describe(&r));
    let s = finding(&r, "RolloutStuck");
    assert!(explained_by(&r, s, q), "{}", describe(&r));
    // revision 1 runs 3 healthy Pods: a rollback is offered
    assert!(step_with(s, "--to-revision=1").is_some());
    // the FailedCreate events are accounted for
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn pod_security_violation_is_admission_denied() {
    let r = diagnose_yaml(&fixture("pod-security.yaml"), "Deployment/agents/agent");
    let a = finding(&r, "AdmissionDenied");
    assert_eq!(a.severity, Severity::Critical);
    assert_eq!(a.object.name, "agent-6b7c9d5f8");
    assert!(a.root_cause, "{}", describe(&r));
    assert!(a.message.contains("restricted:latest"), "{}", a.message);
    assert!(
        evidence_has(a, "allowPrivilegeEscalation != false"),
        "{:?}",
        a.evidence
    );
    assert!(evidence_has(a, "seccompProfile"), "{:?}", a.evidence);
    assert!(
        evidence_has(a, "pod-security.kubernetes.io/enforce=restricted"),
        "{:?}",
        a.evidence
    );
    let u = finding(&r, "ReplicasUnavailable");
    assert_eq!(u.severity, Severity::Warning);
    assert!(explained_by(&r, u, a), "{}", describe(&r));
    let c = finding(&r, "ReplicaSetCreateFailed");
    assert!(explained_by(&r, c, a), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "AdmissionDenied");
}

#[test]
fn admission_webhook_denial_on_a_statefulset() {
    let r = diagnose_yaml(&fixture("admission-webhook.yaml"), "StatefulSet/data/db");
    let a = finding(&r, "AdmissionDenied");
    assert_eq!(a.object.kind, "StatefulSet");
    assert!(
        a.message.contains("validate.kyverno.svc-fail"),
        "{}",
        a.message
    );
    assert!(
        evidence_has(
            a,
            "CPU and memory resource requests and limits are required"
        ),
        "{:?}",
        a.evidence
    );
    assert!(a.root_cause);
    let u = finding(&r, "ReplicasUnavailable");
    assert!(explained_by(&r, u, a), "{}", describe(&r));
    assert!(!has(&r, "StatefulSetServiceNotFound"));
}

#[test]
fn statefulset_missing_service_and_failing_ordinal() {
    let r = diagnose_yaml(&fixture("statefulsets.yaml"), "StatefulSet/infra/cache");
    let s = finding(&r, "StatefulSetServiceNotFound");
    assert_eq!(s.severity, Severity::Warning);
    assert_eq!(s.object.name, "cache");
    assert!(s.message.contains("cache-headless"), "{}", s.message);
    assert!(
        s.message.contains("cache-0.cache-headless.infra.svc"),
        "{}",
        s.message
    );
    let u = finding(&r, "ReplicasUnavailable");
    assert_eq!(u.severity, Severity::Warning);
    assert!(u.message.contains("1 of 3"), "{}", u.message);
    assert!(u.message.contains("cache-1 (ordinal 1)"), "{}", u.message);
    assert!(u.message.contains("CrashLoopBackOff"), "{}", u.message);
    assert!(
        evidence_has(u, "ordinal(s) 2 not created"),
        "{:?}",
        u.evidence
    );
    // a Pod-level finding about cache-1, if the workload rules report one, explains it
    if let Some(c) = r
        .status
        .findings
        .iter()
        .find(|f| f.object.name == "cache-1" && f.severity == Severity::Critical)
    {
        assert!(explained_by(&r, u, c), "{}", describe(&r));
    }
    // no rolling update: no Pod deletion is suggested
    assert!(
        f_steps_risk(u, Risk::Disruptive).is_empty(),
        "{:?}",
        u.remediation.steps
    );
}

fn f_steps_risk(f: &kubedx::api::Finding, risk: Risk) -> Vec<&kubedx::api::RemediationStep> {
    f.remediation
        .steps
        .iter()
        .filter(|s| s.risk == risk)
        .collect()
}

#[test]
fn statefulset_rolling_update_stuck_on_new_revision() {
    let r = diagnose_yaml(&fixture("statefulsets.yaml"), "StatefulSet/infra/queue");
    assert!(!has(&r, "StatefulSetServiceNotFound"), "{}", describe(&r));
    let u = finding(&r, "ReplicasUnavailable");
    assert!(u.message.contains("queue-1 (ordinal 1)"), "{}", u.message);
    assert!(
        evidence_has(
            u,
            "rolling update to queue-8c7b6d5f9 is stuck at Pod queue-1"
        ),
        "{:?}",
        u.evidence
    );
    let del = step_with(u, "kubectl delete pod queue-1 -n infra").expect("delete step");
    assert_eq!(del.risk, Risk::Disruptive);
    assert_eq!(u.remediation.steps.last().unwrap().risk, Risk::Disruptive);
}

#[test]
fn daemonset_pods_unavailable_and_misscheduled() {
    let r = diagnose_yaml(
        &fixture("daemonset.yaml"),
        "DaemonSet/monitoring/node-exporter",
    );
    let d = finding(&r, "DaemonSetPodsUnavailable");
    assert_eq!(d.severity, Severity::Warning);
    assert!(
        d.message.contains("2 of 3 scheduled Pods are ready"),
        "{}",
        d.message
    );
    assert!(
        d.message
            .contains("1 Pod(s) run on nodes that should not run it"),
        "{}",
        d.message
    );
    assert!(
        evidence_has(d, "node-exporter-c7t5w on node-c"),
        "{:?}",
        d.evidence
    );
    assert!(
        evidence_has(
            d,
            "node-exporter-z3r8n runs on node node-d, which lacks the nodeSelector label(s) monitoring=enabled"
        ),
        "{:?}",
        d.evidence
    );
    // one finding for the DaemonSet, not a second generic one
    assert!(!has(&r, "ReplicasUnavailable"), "{}", describe(&r));
}

#[test]
fn job_failed_backoff_limit_and_deadline() {
    let r = diagnose_yaml(&fixture("jobs.yaml"), "Job/shop/db-migrate");
    let j = finding(&r, "JobFailed");
    assert_eq!(j.severity, Severity::Critical);
    assert_eq!(j.object.name, "db-migrate");
    assert!(
        j.message
            .contains("failed 4 time(s), reaching backoffLimit 3"),
        "{}",
        j.message
    );
    assert!(
        evidence_has(j, "Job has reached the specified backoff limit"),
        "{:?}",
        j.evidence
    );
    assert!(evidence_has(j, "4 failed"), "{:?}", j.evidence);
    assert!(evidence_has(j, "exit 1"), "{:?}", j.evidence);
    assert!(step_with(j, "batch.kubernetes.io/job-name=db-migrate").is_some());
    // a stand-alone Job cannot be retried in place: recreating it is the riskiest step, last
    assert_eq!(j.remediation.steps.last().unwrap().risk, Risk::Disruptive);
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
    // the Pods' own failure, when the workload rules report it, is the root cause
    if let Some(c) = findings(&r, "ContainerCrashing").first() {
        assert!(explained_by(&r, j, c), "{}", describe(&r));
    } else {
        assert!(j.root_cause, "{}", describe(&r));
    }

    let r = diagnose_yaml(&fixture("jobs.yaml"), "Job/shop/nightly-report");
    let j = finding(&r, "JobFailed");
    assert!(
        j.message.contains("activeDeadlineSeconds 600"),
        "{}",
        j.message
    );
    assert!(
        evidence_has(j, "Job was active longer than specified deadline"),
        "{:?}",
        j.evidence
    );
}

#[test]
fn cronjob_failing_is_explained_by_its_latest_failed_job() {
    let r = diagnose_yaml(&fixture("cronjobs.yaml"), "CronJob/ops/backup");
    let c = finding(&r, "CronJobFailing");
    assert_eq!(c.severity, Severity::Warning);
    assert!(c.message.contains("2 most recent"), "{}", c.message);
    assert!(c.message.contains("2026-11-19T02:41:12Z"), "{}", c.message);
    let jobs = findings(&r, "JobFailed");
    assert_eq!(jobs.len(), 2, "{}", describe(&r));
    let newest = jobs
        .iter()
        .find(|j| j.object.name == "backup-29292130")
        .unwrap();
    let older = jobs
        .iter()
        .find(|j| j.object.name == "backup-29292030")
        .unwrap();
    assert_eq!(newest.severity, Severity::Critical);
    assert_eq!(
        older.severity,
        Severity::Info,
        "an older failure of a CronJob that ran again is history"
    );
    assert!(explained_by(&r, c, newest), "{}", describe(&r));
    assert!(step_with(newest, "kubectl create job --from=cronjob/backup").is_some());
    assert!(!has(&r, "CronJobSuspended"));
    assert!(!has(&r, "CronJobInvalidSchedule"));
}

#[test]
fn suspended_cronjob_is_only_info() {
    let r = diagnose_yaml(&fixture("cronjobs.yaml"), "CronJob/ops/cleanup");
    let s = finding(&r, "CronJobSuspended");
    assert_eq!(s.severity, Severity::Info);
    assert!(step_with(s, "\"suspend\":false").is_some());
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn every_descriptor_is_an_invalid_cronjob_schedule() {
    let r = diagnose_yaml(&fixture("cronjobs.yaml"), "CronJob/ops/digest");
    let s = finding(&r, "CronJobInvalidSchedule");
    assert_eq!(s.severity, Severity::Critical);
    assert!(s.message.contains("@every 1h"), "{}", s.message);
    assert!(
        evidence_has(s, "@every is not supported"),
        "{:?}",
        s.evidence
    );
    assert!(s.root_cause);
    assert!(
        !has(&r, "WarningEvents"),
        "the controller's event is quoted: {}",
        describe(&r)
    );
}

#[test]
fn exotic_but_valid_schedule_is_silent() {
    let r = diagnose_yaml(&fixture("cronjobs.yaml"), "CronJob/ops/quarterly");
    assert!(!has(&r, "CronJobInvalidSchedule"), "{}", describe(&r));
    assert!(!has(&r, "CronJobFailing"), "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn hpa_at_max_replicas() {
    let r = diagnose_yaml(&fixture("hpa.yaml"), "Deployment/web/frontend");
    let h = finding(&r, "HPAMaxedOut");
    assert_eq!(h.severity, Severity::Warning);
    assert_eq!(h.object.kind, "HorizontalPodAutoscaler");
    assert!(h.message.contains("maximum of 10"), "{}", h.message);
    assert!(evidence_has(h, "TooManyReplicas"), "{:?}", h.evidence);
    assert!(
        evidence_has(h, "cpu metric: current 182%, target 70% of requests"),
        "{:?}",
        h.evidence
    );
    assert!(step_with(h, "maxReplicas").is_some_and(|s| s.risk == Risk::Reversible));
    assert!(!has(&r, "HPAMetricsUnavailable"));
}

#[test]
fn hpa_without_cpu_requests_cannot_scale() {
    let r = diagnose_yaml(&fixture("hpa.yaml"), "Deployment/web/worker");
    let h = finding(&r, "HPAMetricsUnavailable");
    assert_eq!(h.severity, Severity::Warning);
    assert!(
        h.message
            .contains("container worker of Deployment/worker has no cpu request"),
        "{}",
        h.message
    );
    // the missing request is the cause, and what the diagnosis shows first
    let n = finding(&r, "NoResourceRequests");
    assert_eq!(n.severity, Severity::Warning);
    assert!(explained_by(&r, h, n), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "NoResourceRequests", "{}", describe(&r));
    assert!(
        evidence_has(h, "FailedGetResourceMetric"),
        "{:?}",
        h.evidence
    );
    assert!(
        evidence_has(
            h,
            "container worker of Deployment/worker has no cpu request"
        ),
        "{:?}",
        h.evidence
    );
    assert!(!has(&r, "HPAMaxedOut"));
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn hpa_target_not_found() {
    let r = diagnose_yaml(&fixture("hpa.yaml"), "Namespace/web");
    let h = finding(&r, "HPATargetNotFound");
    assert_eq!(h.severity, Severity::Critical);
    assert_eq!(h.object.name, "legacy-api");
    assert!(
        h.message
            .contains("Deployment legacy-api, which does not exist"),
        "{}",
        h.message
    );
    assert!(evidence_has(h, "FailedGetScale"), "{:?}", h.evidence);
    // the other autoscalers' targets exist
    assert_eq!(findings(&r, "HPATargetNotFound").len(), 1);
}

#[test]
fn pdb_blocking_every_eviction() {
    let r = diagnose_yaml(&fixture("pdb.yaml"), "Deployment/shop/payments");
    let p = finding(&r, "PDBBlocksDisruption");
    assert_eq!(p.severity, Severity::Warning);
    assert_eq!(p.object.name, "payments");
    assert!(
        p.message.contains("all 2 of its Pods are healthy"),
        "{}",
        p.message
    );
    assert!(p.message.contains("minAvailable 2"), "{}", p.message);
    assert!(p.message.contains("drain"), "{}", p.message);
    assert!(step_with(p, "maxUnavailable").is_some_and(|s| s.risk == Risk::Reversible));
    assert!(p.root_cause);
}

#[test]
fn pdb_blocking_because_a_pod_is_unhealthy_is_silent() {
    let r = diagnose_yaml(&fixture("pdb.yaml"), "Deployment/shop/search");
    assert!(!has(&r, "PDBBlocksDisruption"), "{}", describe(&r));
}

#[test]
fn controller_not_progressing() {
    let r = diagnose_yaml(
        &fixture("controller-not-progressing.yaml"),
        "Deployment/shop/storefront",
    );
    let c = finding(&r, "ControllerNotProgressing");
    assert_eq!(c.severity, Severity::Critical);
    assert!(c.message.contains("generation 9"), "{}", c.message);
    assert!(c.message.contains("observed generation 8"), "{}", c.message);
    assert!(c.message.contains("40m"), "{}", c.message);
    assert!(evidence_has(c, "2026-11-21T09:20:00Z"), "{:?}", c.evidence);
    assert!(
        evidence_has(c, "kube-system/kube-controller-manager-cp-1 is not Ready"),
        "{:?}",
        c.evidence
    );
    assert_eq!(top(&r).rule_id, "ControllerNotProgressing");
}

#[test]
fn controller_catching_up_is_silent() {
    let r = diagnose_yaml(
        &fixture("controller-catching-up.yaml"),
        "Deployment/shop/backend",
    );
    assert!(!has(&r, "ControllerNotProgressing"), "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn a_webhook_whose_backend_has_no_ready_endpoint_is_unavailable_not_a_denial() {
    let r = diagnose_yaml(
        &fixture("webhook-unavailable.yaml"),
        "Deployment/shop/checkout",
    );
    let w = finding(&r, "AdmissionWebhookUnavailable");
    assert_eq!(w.severity, Severity::Critical);
    assert_eq!(w.object.name, "checkout-7d4f9c8b6");
    assert!(w.root_cause, "{}", describe(&r));
    assert_eq!(
        top(&r).rule_id,
        "AdmissionWebhookUnavailable",
        "{}",
        describe(&r)
    );
    assert!(
        w.message.contains("mutate.policy.example.invalid")
            && w.message.contains("its Service has no ready endpoints"),
        "{}",
        w.message
    );
    // the backend, as the input shows it: the Service exists, its one endpoint is not ready
    assert!(
        evidence_has(
            w,
            "webhook backend Service policy/policy-webhook: 0 of 1 endpoint(s) ready"
        ),
        "{:?}",
        w.evidence
    );
    assert!(
        step_with(w, "kubernetes.io/service-name=policy-webhook").is_some(),
        "{:?}",
        w.remediation
    );
    // the webhook did not say no: no AdmissionDenied
    assert!(!has(&r, "AdmissionDenied"), "{}", describe(&r));
    let c = finding(&r, "ReplicaSetCreateFailed");
    assert!(explained_by(&r, c, w), "{}", describe(&r));
}

#[test]
fn a_webhook_backend_missing_from_the_input_is_unverified() {
    let yaml = fixture("webhook-unavailable.yaml");
    // the same incident captured without the policy namespace
    let cut = yaml.find("- apiVersion: v1\n  kind: Service").unwrap();
    let rest = yaml[cut..].find("- apiVersion: v1\n  count: 1\n").unwrap();
    let without = format!("{}{}", &yaml[..cut], &yaml[cut + rest..]);
    let r = diagnose_yaml(&without, "Deployment/shop/checkout");
    let w = finding(&r, "AdmissionWebhookUnavailable");
    assert!(
        evidence_has(
            w,
            "webhook backend Service policy/policy-webhook: not in the input (unverified)"
        ),
        "{:?}",
        w.evidence
    );
}

#[test]
fn a_limit_range_refusal_names_the_range_and_its_bounds() {
    let r = diagnose_yaml(
        &fixture("limitrange-violation.yaml"),
        "Deployment/shop/checkout",
    );
    let l = finding(&r, "LimitRangeViolation");
    assert_eq!(l.severity, Severity::Critical);
    assert!(l.root_cause, "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "LimitRangeViolation", "{}", describe(&r));
    assert!(
        l.message
            .contains("maximum memory usage per Container is 1Gi, but limit is 2Gi"),
        "{}",
        l.message
    );
    assert!(
        evidence_has(
            l,
            "LimitRange container-bounds (Container): max memory 1Gi, min cpu 50m"
        ),
        "{:?}",
        l.evidence
    );
    assert!(
        step_with(l, "kubectl describe limitrange -n shop").is_some(),
        "{:?}",
        l.remediation
    );
    assert_eq!(l.edge.as_deref(), Some("ReplicaSet -> LimitRange"));
    assert!(!has(&r, "QuotaExceeded"));
    let c = finding(&r, "ReplicaSetCreateFailed");
    assert!(explained_by(&r, c, l), "{}", describe(&r));
}

/// In progress is not broken: 20 s into its first rollout, with its image being
/// pulled, a Deployment has no Warning; past its progress deadline, still without
/// a ready Pod, it has.
#[test]
fn a_first_rollout_still_pulling_is_in_progress_until_its_deadline() {
    let yaml = fixture("first-rollout-pulling.yaml");
    let at = |now: &str| {
        let now: jiff::Timestamp = now.parse().unwrap();
        kubedx::testing::diagnose_with(&yaml, "Deployment/shop/reports", |o| o.now = now)
    };
    let early = at("2026-11-21T10:00:20Z");
    assert!(warnings(&early).is_empty(), "{}", describe(&early));
    let u = finding(&early, "ReplicasUnavailable");
    assert_eq!(u.severity, Severity::Info);
    assert!(u.message.contains("still starting"), "{}", u.message);
    // and so is the Service in front of it
    let s = finding(&early, "ServiceNoReadyEndpoints");
    assert_eq!(s.severity, Severity::Info);
    assert!(s.message.starts_with("In progress: "), "{}", s.message);
    let late = at("2026-11-21T10:15:00Z");
    let u = finding(&late, "ReplicasUnavailable");
    assert!(u.severity >= Severity::Warning, "{}", describe(&late));
    // past its deadline the Service in front of it is down, not in progress
    let s = finding(&late, "ServiceNoReadyEndpoints");
    assert_eq!(s.severity, Severity::Critical, "{}", describe(&late));
    assert!(!s.message.starts_with("In progress"), "{}", s.message);
}

#[test]
fn a_crash_looping_webhook_backend_is_the_root_of_pods_the_webhook_cannot_admit() {
    let r = diagnose_yaml(
        &fixture("webhook-backend-crashloop.yaml"),
        "Deployment/shop/web",
    );
    let w = finding(&r, "AdmissionWebhookUnavailable");
    assert_eq!(w.severity, Severity::Critical);
    assert!(
        w.message.contains("validate.example.io")
            && w.message
                .contains("ValidatingWebhookConfiguration policy-validator")
            && w.message.contains("connection refused")
            && w.message.contains("failurePolicy Fail"),
        "{}",
        w.message
    );
    // the configuration, as evidence: kind, name, failurePolicy, its clientConfig.service
    assert!(
        evidence_has(
            w,
            "ValidatingWebhookConfiguration policy-validator: webhook validate.example.io, failurePolicy Fail, service policy/webhook-svc:443/validate, namespaceSelector kubernetes.io/metadata.name notin (kube-system,policy), timeoutSeconds 10"
        ),
        "{:?}",
        w.evidence
    );
    assert!(
        evidence_has(
            w,
            "webhook backend Service policy/webhook-svc: 0 of 1 endpoint(s) ready"
        ),
        "{:?}",
        w.evidence
    );
    // the graph walk reaches the backend: its Service's and Pods' own findings explain it
    let backend = findings(&r, "ServiceNoReadyEndpoints")
        .into_iter()
        .find(|f| f.object.name == "webhook-svc")
        .unwrap_or_else(|| panic!("{}", describe(&r)));
    assert_eq!(backend.object.namespace.as_deref(), Some("policy"));
    assert!(explained_by(&r, w, backend), "{}", describe(&r));
    let crash = finding(&r, "ContainerCrashing");
    assert_eq!(crash.object.namespace.as_deref(), Some("policy"));
    assert!(explained_by(&r, backend, crash), "{}", describe(&r));
    assert!(!w.root_cause, "{}", describe(&r));
    // what a senior engineer reads first: the backend that does not answer
    assert_eq!(top(&r).id, crash.id, "{}", describe(&r));
    let created = finding(&r, "ReplicaSetCreateFailed");
    assert!(explained_by(&r, created, crash), "{}", describe(&r));
    // remediation: fix the backend; the temporary bypass is riskier, and named as such
    let bypass = step_with(w, "/webhooks/0/failurePolicy").expect("the failurePolicy patch");
    assert_eq!(bypass.risk, Risk::Disruptive);
    assert!(
        bypass.command.as_deref().unwrap().starts_with(
            "kubectl patch validatingwebhookconfiguration policy-validator --type=json"
        ),
        "{bypass:?}"
    );
    assert!(
        w.remediation.steps.iter().any(|s| s
            .description
            .contains("Fix the webhook's backend first")
            && s.risk == Risk::Reversible),
        "{:?}",
        w.remediation
    );
}

#[test]
fn a_webhook_that_fails_open_now_cannot_block_creates() {
    let yaml = fixture("webhook-backend-crashloop.yaml")
        .replace("    failurePolicy: Fail\n", "    failurePolicy: Ignore\n");
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    let w = finding(&r, "AdmissionWebhookUnavailable");
    assert_eq!(w.severity, Severity::Warning, "{}", describe(&r));
    assert!(
        w.message.contains("failurePolicy is Ignore now")
            && w.message.contains("can no longer block creates"),
        "{}",
        w.message
    );
    assert!(
        step_with(w, "/failurePolicy").is_none(),
        "{:?}",
        w.remediation
    );
}

#[test]
fn a_denial_names_the_webhook_configuration_that_holds_the_webhook() {
    let r = diagnose_yaml(&fixture("admission-webhook.yaml"), "StatefulSet/data/db");
    let a = finding(&r, "AdmissionDenied");
    assert!(
        a.message.contains(
            "validate.kyverno.svc-fail (ValidatingWebhookConfiguration kyverno-resource-validating-webhook-cfg) denies them"
        ),
        "{}",
        a.message
    );
    assert!(
        evidence_has(
            a,
            "ValidatingWebhookConfiguration kyverno-resource-validating-webhook-cfg: webhook validate.kyverno.svc-fail, failurePolicy Fail, service kyverno/kyverno-svc:443/validate/fail"
        ),
        "{:?}",
        a.evidence
    );
    assert!(
        step_with(
            a,
            "kubectl get validatingwebhookconfiguration kyverno-resource-validating-webhook-cfg -o yaml"
        )
        .is_some(),
        "{:?}",
        a.remediation
    );
    // it answered: its backend is not what is wrong, and is not walked
    assert!(!has(&r, "AdmissionWebhookUnavailable"));
    assert!(a.root_cause, "{}", describe(&r));
}

#[test]
fn a_configured_webhook_that_answers_is_not_in_the_diagnosis() {
    let r = diagnose_yaml(&fixture("webhook-healthy.yaml"), "Deployment/shop/web");
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    assert!(!has(&r, "AdmissionWebhookUnavailable") && !has(&r, "AdmissionDenied"));
    // nothing refused the workload: the webhook's configuration is not part of its graph
    assert!(
        !r.status
            .findings
            .iter()
            .any(|f| f.object.namespace.as_deref() == Some("policy")),
        "{}",
        describe(&r)
    );
}
