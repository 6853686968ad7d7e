//! The `workload` rule set on realistic object state (tests/fixtures/workload).

use kubedx::api::Severity;
use kubedx::testing::{
    describe, diagnose_with, diagnose_yaml, explained_by, finding, findings, has, top, warnings,
};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/workload/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn evidence_has(f: &kubedx::api::Finding, needle: &str) -> bool {
    f.evidence.iter().any(|e| e.contains(needle))
}

fn assert_evidence(f: &kubedx::api::Finding, needle: &str) {
    assert!(
        evidence_has(f, needle),
        "{} evidence lacks {needle:?}: {:#?}",
        f.rule_id,
        f.evidence
    );
}

// ---------------------------------------------------------------- images

#[test]
fn image_not_found_groups_three_pods_into_one_finding() {
    let r = diagnose_yaml(&fixture("image_pull_not_found.yaml"), "Deployment/shop/web");
    let f = finding(&r, "ImagePullNotFound");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "ReplicaSet");
    assert_eq!(f.object.name, "web-7d4f9c8b6d");
    assert_eq!(
        f.affected.as_ref().map(|a| a.count),
        Some(3),
        "{}",
        describe(&r)
    );
    assert!(f.message.contains("registry.example.com/shop/web:v2"));
    assert!(f.message.contains("3 of 3"), "{}", f.message);
    assert_evidence(f, "state.waiting reason=ImagePullBackOff");
    assert_evidence(f, "Failed to pull image");
    assert_eq!(top(&r).rule_id, "ImagePullNotFound", "{}", describe(&r));
    // read-only first, then the reversible fix on the Deployment
    let steps = &f.remediation.steps;
    assert!(
        steps[0]
            .command
            .as_deref()
            .unwrap()
            .starts_with("kubectl describe pod")
    );
    assert!(
        steps
            .iter()
            .any(|s| s.command.as_deref() == Some("kubectl rollout undo deployment/web -n shop"))
    );
    // the pull events are accounted for: no WarningEvents repeat them
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn pull_access_denied_without_pull_secret_is_unauthorized_or_missing() {
    let r = diagnose_yaml(
        &fixture("image_pull_unauthorized.yaml"),
        "Deployment/shop/web",
    );
    let f = finding(&r, "ImagePullUnauthorized");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        f.message.contains("or the repository does not exist"),
        "{}",
        f.message
    );
    assert_evidence(f, "the Pod has no imagePullSecrets");
    assert_evidence(f, "ServiceAccount default has no imagePullSecrets");
    assert!(!has(&r, "ImagePullNotFound"));
    assert_eq!(top(&r).rule_id, "ImagePullUnauthorized");
}

#[test]
fn missing_pull_secret_is_the_root_of_an_unauthorized_pull() {
    let r = diagnose_yaml(
        &fixture("image_pull_secret_missing.yaml"),
        "Deployment/shop/web",
    );
    let secret = finding(&r, "SecretNotFound");
    assert_eq!(secret.severity, Severity::Critical);
    assert_eq!(secret.object.kind, "Secret");
    assert_eq!(secret.object.name, "ghcr-pull");
    assert_eq!(secret.edge.as_deref(), Some("Pod -> Secret"));
    assert_eq!(secret.affected.as_ref().map(|a| a.count), Some(2));
    let pull = finding(&r, "ImagePullUnauthorized");
    assert_evidence(pull, "ghcr-pull (Secret does not exist)");
    assert!(explained_by(&r, pull, secret), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "SecretNotFound", "{}", describe(&r));
}

#[test]
fn registry_name_resolution_failure_is_a_network_error() {
    let r = diagnose_yaml(&fixture("image_pull_network.yaml"), "Pod/shop/debug-tools");
    let f = finding(&r, "ImagePullNetworkError");
    assert_eq!(f.object.kind, "Pod");
    assert_eq!(f.object.name, "debug-tools");
    assert!(f.message.contains("no such host"), "{}", f.message);
    assert_evidence(f, "pulls fail on node(s): worker-2");
    assert!(f.remediation.summary.contains("platform team"));
    assert_eq!(top(&r).rule_id, "ImagePullNetworkError");
}

#[test]
fn a_rate_limited_pull_is_image_pull_rate_limited() {
    let r = diagnose_yaml(
        &fixture("image_pull_rate_limited.yaml"),
        "Pod/shop/edge-proxy",
    );
    let f = finding(&r, "ImagePullRateLimited");
    assert_eq!(f.severity, Severity::Critical);
    assert_evidence(f, "toomanyrequests");
    assert!(
        f.message.contains("docker.io rate-limits the pulls"),
        "{}",
        f.message
    );
    assert!(
        f.remediation.summary.contains("mirror"),
        "{:?}",
        f.remediation
    );
    assert_eq!(top(&r).rule_id, "ImagePullRateLimited");
    assert!(!has(&r, "ImagePullBackOff") && !has(&r, "ImagePullNotFound"));
}

#[test]
fn unclassified_pull_failure_is_image_pull_backoff() {
    let rate_limited = fixture("image_pull_rate_limited.yaml");
    let error = "failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:9c58fb4d5e0fc3f6ba3e5f1fd3ef1c1a3d27d7f11c79e0e2e3f5d1c7a8b4e6f0: 429 Too Many Requests - Server message: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit";
    assert!(rate_limited.contains(error), "the fixture changed");
    // containerd's words when the node's disk is full while unpacking
    let yaml = rate_limited.replace(
        error,
        "failed to extract layer sha256:4f4fb700ef54461cfa02571ae0db9a0dc1e0cdb5577484a6d75e68dc38e8acc1: write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/412/fs/usr/lib/libssl.so.3: no space left on device: unknown",
    );
    let r = diagnose_yaml(&yaml, "Pod/shop/edge-proxy");
    let f = finding(&r, "ImagePullBackOff");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains("no space left on device"),
        "{}",
        f.message
    );
    assert_eq!(top(&r).rule_id, "ImagePullBackOff");
}

#[test]
fn an_image_without_the_nodes_platform_is_image_platform_mismatch() {
    let rate_limited = fixture("image_pull_rate_limited.yaml");
    let error = "failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:9c58fb4d5e0fc3f6ba3e5f1fd3ef1c1a3d27d7f11c79e0e2e3f5d1c7a8b4e6f0: 429 Too Many Requests - Server message: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit";
    assert!(rate_limited.contains(error), "the fixture changed");
    let yaml = rate_limited.replace(error, "no match for platform in manifest: not found");
    let r = diagnose_yaml(&yaml, "Pod/shop/edge-proxy");
    let f = finding(&r, "ImagePlatformMismatch");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message
            .contains("no variant for the platform of node worker-1"),
        "{}",
        f.message
    );
    assert_evidence(f, "no match for platform in manifest");
    assert_eq!(top(&r).rule_id, "ImagePlatformMismatch");
    assert!(!has(&r, "ImagePullNotFound"), "{}", describe(&r));
}

#[test]
fn invalid_image_name() {
    let r = diagnose_yaml(&fixture("invalid_image_name.yaml"), "Deployment/shop/web");
    let f = finding(&r, "InvalidImageName");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "ReplicaSet");
    assert!(f.message.contains("registry.example.com/Shop/Web:v2"));
    assert_evidence(f, "must be lowercase");
    assert_eq!(top(&r).rule_id, "InvalidImageName");
    assert!(!has(&r, "ImagePullBackOff"));
}

#[test]
fn healed_pull_failures_and_healthy_pods_are_not_warnings() {
    let r = diagnose_yaml(&fixture("healed_image_pull.yaml"), "Deployment/shop/web");
    let ours: Vec<String> = warnings(&r)
        .into_iter()
        .filter(|id| {
            id.parse::<kubedx::rules::RuleId>().unwrap().meta().set
                == kubedx::api::RuleSetName::Workload
        })
        .collect();
    assert!(ours.is_empty(), "{}", describe(&r));
    let healed = finding(&r, "ImagePullNetworkError");
    assert_eq!(healed.severity, Severity::Info);
    assert!(healed.message.contains("recovered"), "{}", healed.message);
    // numeric readiness port on a container that declares no ports: silent
    assert!(!has(&r, "ProbePortMismatch"), "{}", describe(&r));
    // one ImageTagMutable per template container, not per Pod
    let tags = findings(&r, "ImageTagMutable");
    assert_eq!(tags.len(), 1, "{}", describe(&r));
    assert_eq!(tags[0].object.kind, "Deployment");
    assert_eq!(tags[0].severity, Severity::Info);
}

// ---------------------------------------------------------------- containers

#[test]
fn oom_killed_shows_limit_and_request() {
    let r = diagnose_yaml(&fixture("oom_killed.yaml"), "Deployment/shop/web");
    let f = finding(&r, "ContainerOOMKilled");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("256Mi"), "{}", f.message);
    assert_evidence(f, "lastState.terminated reason=OOMKilled exitCode=137");
    assert_evidence(
        f,
        "resources.limits.memory=256Mi, resources.requests.memory=128Mi",
    );
    let first = &f.remediation.steps[0];
    assert!(first.command.as_deref().unwrap().contains("--previous"));
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref().is_some_and(|c| c.contains(
                "kubectl set resources deployment/web -n shop -c web --limits=memory=512Mi"
            )))
    );
    assert!(!has(&r, "ContainerCrashing"), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "ContainerOOMKilled");
}

#[test]
fn exit_zero_under_restart_policy_always() {
    let r = diagnose_yaml(&fixture("exited_zero.yaml"), "Deployment/shop/web");
    let f = finding(&r, "ContainerExitedZero");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "reason=Completed exitCode=0");
    assert!(f.remediation.summary.contains("Job"));
    assert!(!has(&r, "ContainerCrashing"));
    assert_eq!(top(&r).rule_id, "ContainerExitedZero");
}

#[test]
fn command_not_found_from_start_error() {
    let r = diagnose_yaml(&fixture("command_not_found.yaml"), "Deployment/shop/web");
    let f = finding(&r, "ContainerCommandNotFound");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert_evidence(f, "executable file not found in $PATH");
    assert_evidence(f, "command [\"gunicornn\", \"app:app\"]");
    assert!(!has(&r, "ContainerCrashing"));
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "ContainerCommandNotFound");
}

#[test]
fn command_not_executable_exit_126() {
    let r = diagnose_yaml(
        &fixture("command_not_executable.yaml"),
        "Deployment/shop/web",
    );
    let f = finding(&r, "ContainerCommandNotExecutable");
    assert_eq!(f.severity, Severity::Critical);
    assert_evidence(f, "exitCode=126");
    assert!(f.remediation.summary.contains("0755"));
    assert_eq!(top(&r).rule_id, "ContainerCommandNotExecutable");
}

#[test]
fn crashing_three_pods_with_exit_code_meaning() {
    let r = diagnose_yaml(&fixture("crashing.yaml"), "Deployment/shop/web");
    let f = finding(&r, "ContainerCrashing");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "web-7d4f9c8b6d");
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(3));
    assert!(
        f.message.contains("general application error"),
        "{}",
        f.message
    );
    assert!(f.message.contains("CrashLoopBackOff"));
    assert_evidence(f, "lastState.terminated reason=Error exitCode=1");
    assert_evidence(f, "restartCount=8");
    assert_evidence(f, "24 restarts across the 3 Pods");
    assert_evidence(f, "Back-off restarting failed container web");
    assert_eq!(
        f.remediation.steps[0].command.as_deref(),
        Some("kubectl logs web-7d4f9c8b6d-bq7wm -n shop -c web --previous --tail=200")
    );
    assert!(
        !has(&r, "HighRestartCount") && !has(&r, "PodNotReady"),
        "{}",
        describe(&r)
    );
    assert_eq!(top(&r).rule_id, "ContainerCrashing");
}

#[test]
fn create_container_config_error_without_missing_reference() {
    let r = diagnose_yaml(&fixture("run_as_non_root.yaml"), "Deployment/shop/web");
    let f = finding(&r, "CreateContainerConfigError");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("runAsUser"), "{}", f.message);
    assert!(f.caused_by.is_empty());
    assert_eq!(top(&r).rule_id, "CreateContainerConfigError");
}

// ---------------------------------------------------------------- references

#[test]
fn missing_configmap_is_the_root_of_create_container_config_error() {
    let r = diagnose_yaml(&fixture("configmap_not_found.yaml"), "Deployment/shop/web");
    let cm = finding(&r, "ConfigMapNotFound");
    assert_eq!(cm.severity, Severity::Critical);
    assert_eq!(cm.object.kind, "ConfigMap");
    assert_eq!(cm.object.name, "web-config");
    assert_eq!(cm.edge.as_deref(), Some("Pod -> ConfigMap"));
    assert_eq!(cm.affected.as_ref().map(|a| a.count), Some(3));
    assert_evidence(cm, "no ConfigMap named web-config in namespace shop");
    assert_evidence(cm, "envFrom of container web");
    assert_evidence(cm, "configmap \\\"web-config\\\" not found");
    assert!(cm.remediation.steps.iter().any(|s| {
        s.command
            .as_deref()
            .is_some_and(|c| c.starts_with("kubectl create configmap web-config -n shop"))
    }));
    let symptom = finding(&r, "CreateContainerConfigError");
    assert!(explained_by(&r, symptom, cm), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "ConfigMapNotFound", "{}", describe(&r));
    assert!(!has(&r, "PodNotReady"));
}

#[test]
fn optional_missing_references_stay_silent() {
    let r = diagnose_yaml(
        &fixture("optional_configmap_missing.yaml"),
        "Deployment/shop/web",
    );
    assert!(!has(&r, "ConfigMapNotFound"), "{}", describe(&r));
    assert!(!has(&r, "ConfigMapKeyNotFound"), "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn configmap_key_not_found_lists_existing_keys() {
    let r = diagnose_yaml(
        &fixture("configmap_key_not_found.yaml"),
        "Deployment/shop/web",
    );
    let f = finding(&r, "ConfigMapKeyNotFound");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "ConfigMap");
    assert_eq!(f.object.name, "web-config");
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert_evidence(f, "ConfigMap web-config has keys: DATABASE_URL, LOG_LEVEL");
    assert!(!has(&r, "ConfigMapNotFound"));
    let symptom = finding(&r, "CreateContainerConfigError");
    assert!(explained_by(&r, symptom, f));
    assert_eq!(top(&r).rule_id, "ConfigMapKeyNotFound");
}

#[test]
fn missing_secret_volume_proven_by_the_kubelet() {
    let r = diagnose_yaml(&fixture("secret_not_found.yaml"), "Deployment/shop/web");
    let f = finding(&r, "SecretNotFound");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "web-tls");
    assert_eq!(f.edge.as_deref(), Some("Pod -> Secret"));
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert_evidence(f, "volume tls");
    assert_evidence(
        f,
        "MountVolume.SetUp failed for volume \"tls\" : secret \"web-tls\" not found",
    );
    assert_eq!(top(&r).rule_id, "SecretNotFound");
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn secret_key_not_found_from_the_kubelet() {
    let r = diagnose_yaml(&fixture("secret_key_not_found.yaml"), "Deployment/shop/web");
    let f = finding(&r, "SecretKeyNotFound");
    assert_eq!(f.object.kind, "Secret");
    assert_eq!(f.object.name, "db-credentials");
    assert!(f.message.contains("db-password"));
    assert!(!has(&r, "SecretNotFound"));
    let symptom = finding(&r, "CreateContainerConfigError");
    assert!(explained_by(&r, symptom, f));
    assert_eq!(top(&r).rule_id, "SecretKeyNotFound");
}

#[test]
fn service_account_not_found_blocks_pod_creation() {
    let r = diagnose_yaml(
        &fixture("service_account_not_found.yaml"),
        "Deployment/shop/web",
    );
    let f = finding(&r, "ServiceAccountNotFound");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "ServiceAccount");
    assert_eq!(f.object.name, "web-sa");
    assert_evidence(f, "spec.template.spec.serviceAccountName=web-sa");
    assert_evidence(f, "error looking up service account shop/web-sa");
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref() == Some("kubectl create serviceaccount web-sa -n shop"))
    );
    assert_eq!(
        top(&r).rule_id,
        "ServiceAccountNotFound",
        "{}",
        describe(&r)
    );
}

// ---------------------------------------------------------------- probes

/// The drafts of the workload rules (to see what findings do not show, e.g. tags).
fn drafts(yaml: &str, target: &str) -> Vec<kubedx::rules::Draft> {
    let store = kubedx::testing::store(yaml);
    let target = kubedx::testing::target(target);
    let graph = kubedx::graph::ObjectGraph::build(&store, &target);
    let options = kubedx::rules::DiagnoseOptions::new(kubedx::engine::snapshot_now(&store));
    let ctx = kubedx::rules::RuleContext {
        store: &store,
        graph: &graph,
        options: &options,
        logs: None,
    };
    let mut out = Vec::new();
    kubedx::rules::workload::evaluate(&ctx, &mut out);
    out
}

#[test]
fn liveness_probe_failing_restarts_the_container() {
    let r = diagnose_yaml(&fixture("liveness_failing.yaml"), "Deployment/shop/web");
    let f = finding(&r, "LivenessProbeFailing");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message.contains("context deadline exceeded"),
        "{}",
        f.message
    );
    assert_evidence(f, "livenessProbe: httpGet http:http/healthz");
    assert_evidence(f, "Container web failed liveness probe, will be restarted");
    assert_evidence(f, "exitCode=137");
    assert!(!has(&r, "HighRestartCount"), "{}", describe(&r));
    assert!(!has(&r, "MissingStartupProbe"), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "LivenessProbeFailing", "{}", describe(&r));
}

#[test]
fn readiness_probe_failing_on_name_resolution_is_tagged_dns() {
    let yaml = fixture("readiness_failing_dns.yaml");
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    let f = finding(&r, "ReadinessProbeFailing");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("DNS"), "{}", f.message);
    assert_evidence(f, "condition Ready=False reason=ContainersNotReady");
    assert!(!has(&r, "PodNotReady"), "{}", describe(&r));
    let d = drafts(&yaml, "Deployment/shop/web");
    let rd = d
        .iter()
        .find(|d| d.rule.id == kubedx::rules::RuleId::ReadinessProbeFailing)
        .unwrap();
    assert!(rd.tags.contains(&kubedx::rules::Tag::Dns));
    assert_eq!(top(&r).rule_id, "ReadinessProbeFailing");
}

#[test]
fn startup_probe_failing() {
    let r = diagnose_yaml(&fixture("startup_failing.yaml"), "Deployment/shop/web");
    let f = finding(&r, "StartupProbeFailing");
    assert_eq!(f.severity, Severity::Warning);
    assert_evidence(f, "started=false");
    assert_evidence(f, "Container web failed startup probe");
    assert!(
        !has(&r, "HighRestartCount") && !has(&r, "PodNotReady"),
        "{}",
        describe(&r)
    );
    assert_eq!(top(&r).rule_id, "StartupProbeFailing");
}

#[test]
fn named_probe_port_not_declared_explains_the_readiness_failure() {
    let r = diagnose_yaml(&fixture("probe_port_mismatch.yaml"), "Deployment/shop/web");
    let f = finding(&r, "ProbePortMismatch");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("\"metrics\""), "{}", f.message);
    assert_evidence(f, "declared ports http(8080)");
    let rd = finding(&r, "ReadinessProbeFailing");
    assert!(explained_by(&r, rd, f), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "ProbePortMismatch");
}

#[test]
fn liveness_killing_a_slow_start_wants_a_startup_probe() {
    let r = diagnose_yaml(
        &fixture("missing_startup_probe.yaml"),
        "Deployment/shop/web",
    );
    let m = finding(&r, "MissingStartupProbe");
    // a hygiene note that explains an active problem is its cause, at Warning
    assert_eq!(m.severity, Severity::Warning);
    assert!(m.root_cause, "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "MissingStartupProbe", "{}", describe(&r));
    assert!(
        m.message.contains("lasted 42s; liveness allows 40s"),
        "{}",
        m.message
    );
    let l = finding(&r, "LivenessProbeFailing");
    assert!(explained_by(&r, l, m), "{}", describe(&r));
    let c = finding(&r, "ContainerCrashing");
    assert!(explained_by(&r, c, l), "{}", describe(&r));
    assert!(c.message.contains("SIGTERM"));
}

// ---------------------------------------------------------------- pods

#[test]
fn pod_not_ready_with_an_unsatisfied_readiness_gate() {
    let r = diagnose_yaml(&fixture("pod_not_ready_gate.yaml"), "Deployment/shop/web");
    let f = finding(&r, "PodNotReady");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("readiness gate"), "{}", f.message);
    assert_evidence(f, "reason=ReadinessGatesNotReady");
    assert_eq!(top(&r).rule_id, "PodNotReady");
}

#[test]
fn init_container_failing() {
    let r = diagnose_yaml(
        &fixture("init_container_failing.yaml"),
        "Deployment/shop/web",
    );
    let f = finding(&r, "InitContainerFailing");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("migrate") && f.message.contains("Init:CrashLoopBackOff"));
    assert_evidence(
        f,
        "condition Initialized=False reason=ContainersNotInitialized",
    );
    assert!(
        f.remediation.steps[0]
            .command
            .as_deref()
            .unwrap()
            .contains("-c migrate --previous")
    );
    assert!(
        !has(&r, "ContainerCrashing") && !has(&r, "PodNotReady"),
        "{}",
        describe(&r)
    );
    assert_eq!(top(&r).rule_id, "InitContainerFailing");
}

#[test]
fn evicted_pods_are_one_finding_with_the_eviction_message() {
    let r = diagnose_yaml(&fixture("pod_evicted.yaml"), "Deployment/shop/web");
    let f = finding(&r, "PodEvicted");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        f.message.contains("worker-3") && f.message.contains("low on memory"),
        "{}",
        f.message
    );
    assert_evidence(f, "Threshold quantity: 100Mi, available: 91432Ki");
    // evicted Pods are not crash findings
    assert!(!has(&r, "ContainerCrashing"), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "PodEvicted");
}

#[test]
fn pod_stuck_terminating_on_an_unreachable_node() {
    let r = diagnose_yaml(
        &fixture("pod_stuck_terminating.yaml"),
        "Deployment/shop/web",
    );
    let f = finding(&r, "PodStuckTerminating");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("40m"), "{}", f.message);
    assert!(
        f.message.contains("worker-4 is unreachable"),
        "{}",
        f.message
    );
    assert_evidence(f, "metadata.finalizers: example.com/audit-flush");
    assert_evidence(f, "node worker-4: Ready=Unknown (NodeStatusUnknown)");
    let last = f.remediation.steps.last().unwrap();
    assert_eq!(last.risk, kubedx::api::Risk::Destructive);
    assert!(!has(&r, "PodNotReady"), "{}", describe(&r));
}

#[test]
fn sandbox_creation_failure_is_a_platform_problem() {
    let r = diagnose_yaml(&fixture("sandbox_failed.yaml"), "Deployment/shop/web");
    let f = finding(&r, "PodSandboxCreationFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        f.message.contains("credentials") && f.message.contains("escalate"),
        "{}",
        f.message
    );
    assert_evidence(f, "plugin type=\"calico\" failed (add)");
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "PodSandboxCreationFailed");
}

#[test]
fn high_restart_count_without_a_failure_rule() {
    let r = diagnose_yaml(&fixture("high_restart_count.yaml"), "Deployment/shop/web");
    let f = finding(&r, "HighRestartCount");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("exit 2"), "{}", f.message);
    assert_evidence(f, "restartCount=5");
    assert!(!has(&r, "ContainerCrashing"));
}

#[test]
fn image_digest_mismatch_against_expected_images() {
    let yaml = fixture("image_digest.yaml");
    let expected = "sha256:9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";
    let r = diagnose_with(&yaml, "Deployment/shop/web", |o| {
        o.expected_images.push(kubedx::api::ExpectedImage {
            container: "web".into(),
            digest: expected.into(),
        })
    });
    let f = finding(&r, "ImageDigestMismatch");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains(expected));
    assert_evidence(f, "imageID registry.example.com/shop/web@sha256:1b2c3d4e");
    // the running digest is the expected one: silent
    let running = "sha256:1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff001";
    let ok = diagnose_with(&yaml, "Deployment/shop/web", |o| {
        o.expected_images.push(kubedx::api::ExpectedImage {
            container: "web".into(),
            digest: running.into(),
        })
    });
    assert!(!has(&ok, "ImageDigestMismatch"));
    assert!(warnings(&ok).is_empty(), "{}", describe(&ok));
}

#[test]
fn completed_job_pods_are_not_failures() {
    let r = diagnose_yaml(
        &fixture("completed_job.yaml"),
        "Job/shop/nightly-export-29380440",
    );
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    // pinned by digest: no ImageTagMutable either
    assert!(!has(&r, "ImageTagMutable"), "{}", describe(&r));
}

/// The secret_not_found scenario diagnosed from a store where Secrets are not read by
/// choice (an install without Secret access), with or without the kubelet's Event.
fn without_secret_access(keep_kubelet_event: bool) -> kubedx::engine::Report {
    let yaml = fixture("secret_not_found.yaml");
    let mut list: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    if !keep_kubelet_event {
        list["items"]
            .as_array_mut()
            .unwrap()
            .retain(|item| item["kind"] != "Event");
    }
    let mut store = kubedx::testing::store(&serde_json::to_string(&list).unwrap());
    store.mark_unread(
        kubedx::model::Kind::Secret,
        "kubedx runs without Secret access (controller --secrets none)",
    );
    let opts = kubedx::rules::DiagnoseOptions::new(kubedx::engine::snapshot_now(&store));
    kubedx::engine::diagnose(
        &store,
        &kubedx::testing::target("Deployment/shop/web"),
        &opts,
        None,
    )
}

#[test]
fn without_secret_access_an_unproven_secret_is_unverified_never_missing() {
    let r = without_secret_access(false);
    assert!(!has(&r, "SecretNotFound"), "{}", describe(&r));
    let f = finding(&r, "SecretUnverified");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.object.kind, "Secret");
    assert_eq!(f.object.name, "web-tls");
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert_evidence(
        f,
        "unverified: kubedx runs without Secret access (controller --secrets none)",
    );
    assert_evidence(f, "volume tls");
}

#[test]
fn without_secret_access_the_kubelet_still_proves_a_secret_missing() {
    let r = without_secret_access(true);
    let f = finding(&r, "SecretNotFound");
    assert_eq!(f.object.name, "web-tls");
    assert_evidence(f, "the kubelet's messages prove web-tls is missing");
    assert!(!has(&r, "SecretUnverified"), "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "SecretNotFound");
}

/// Known unknowns: a snapshot that did not capture Secrets cannot say whether the
/// Secret a Pod waits for exists: unverified (Info, what to check), never missing and
/// never silent.
#[test]
fn a_snapshot_without_secrets_says_the_secret_is_unverified() {
    let mut list: serde_json::Value =
        serde_norway::from_str(&fixture("secret_not_found.yaml")).unwrap();
    list["items"]
        .as_array_mut()
        .unwrap()
        .retain(|item| item["kind"] != "Event");
    let r = diagnose_yaml(
        &serde_json::to_string(&list).unwrap(),
        "Deployment/shop/web",
    );
    assert!(!has(&r, "SecretNotFound"), "{}", describe(&r));
    let f = finding(&r, "SecretUnverified");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.object.name, "web-tls");
    assert!(
        f.message.contains("the input holds no Secrets of shop"),
        "{}",
        f.message
    );
    assert_evidence(f, "the input holds no Secret of namespace shop");
}

/// A program that handles SIGTERM exits 0 when the kubelet kills it for a failing
/// liveness probe: the probe is the cause, not a program that finishes.
#[test]
fn a_liveness_killed_container_that_exits_zero_is_a_failing_probe() {
    let yaml = fixture("liveness_failing.yaml")
        .replace("exitCode: 137", "exitCode: 0")
        .replace("          reason: Error", "          reason: Completed");
    assert!(yaml.contains("reason: Completed"));
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    assert_eq!(top(&r).rule_id, "LivenessProbeFailing", "{}", describe(&r));
    let f = finding(&r, "LivenessProbeFailing");
    assert!(f.root_cause, "{}", describe(&r));
    assert_evidence(f, "Container web failed liveness probe, will be restarted");
    assert!(!has(&r, "ContainerExitedZero"), "{}", describe(&r));
    assert!(!has(&r, "HighRestartCount"), "{}", describe(&r));
}

// ---------------------------------------------------------------- create and start failures

/// The fixture with every container's create or start error replaced by `message`:
/// in `state.waiting` (CreateContainerError / RunContainerError), in the StartError
/// termination, and in the kubelet's `Failed` events (`Error: MESSAGE`).
fn with_runtime_error(yaml: &str, message: &str) -> String {
    let mut list: serde_json::Value = serde_norway::from_str(yaml).unwrap();
    for item in list["items"].as_array_mut().unwrap() {
        match item["kind"].as_str() {
            Some("Pod") => {
                for status in item["status"]["containerStatuses"].as_array_mut().unwrap() {
                    if status["state"]["waiting"]["reason"]
                        .as_str()
                        .is_some_and(|r| r.ends_with("ContainerError"))
                    {
                        status["state"]["waiting"]["message"] = message.into();
                    }
                    if status["lastState"]["terminated"]["reason"] == "StartError" {
                        status["lastState"]["terminated"]["message"] = message.into();
                    }
                }
            }
            Some("Event") if item["reason"] == "Failed" => {
                item["message"] = format!("Error: {message}").into();
            }
            _ => {}
        }
    }
    list.to_string()
}

#[test]
fn an_image_without_a_command_is_container_create_failed() {
    let r = diagnose_yaml(
        &fixture("create_container_error.yaml"),
        "Deployment/shop/api",
    );
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "api-6c9f7b8d5");
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        f.message
            .contains("cannot create container api of 2 of 2 Pod(s)")
            && f.message.contains(": no command specified (image registry.example.invalid/shop/api:3.0.0 has no ENTRYPOINT or CMD"),
        "{}",
        f.message
    );
    // the runtime's message, its container id cut to 12 characters
    assert_evidence(
        f,
        r#"state.waiting reason=CreateContainerError message="failed to generate container \"f04c9bc4c500\" spec: failed to generate spec: no command specified""#,
    );
    assert_evidence(f, "command (image ENTRYPOINT), args (image CMD)");
    assert!(
        f.remediation.summary.contains("set `command:`"),
        "{}",
        f.remediation.summary
    );
    assert!(f.remediation.summary.contains("ENTRYPOINT or CMD"));
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref() == Some("kubectl rollout undo deployment/api -n shop"))
    );
    assert!(f.caused_by.is_empty());
    assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
    let symptom = finding(&r, "ReplicasUnavailable");
    assert!(explained_by(&r, symptom, f), "{}", describe(&r));
    assert!(!has(&r, "CreateContainerConfigError"), "{}", describe(&r));
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn a_reserved_container_name_is_transient_container_create_failed() {
    let reserved = r#"failed to reserve container name "api_api-6c9f7b8d5-h7x2q_shop_6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b_0": name "api_api-6c9f7b8d5-h7x2q_shop_6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b_0" is reserved for "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d""#;
    let yaml = with_runtime_error(&fixture("create_container_error.yaml"), reserved);
    let r = diagnose_yaml(&yaml, "Deployment/shop/api");
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains(r#"is reserved for "9e8d7c6b5a4f""#),
        "{}",
        f.message
    );
    assert!(f.message.contains("usually transient"), "{}", f.message);
    assert!(f.remediation.summary.starts_with("Usually transient"));
    assert!(
        f.remediation
            .summary
            .contains("containerd on node worker-1")
    );
    assert_evidence(
        f,
        "node worker-1: runtime containerd://1.7.24, kubelet v1.37.1",
    );
    assert!(f.remediation.steps.iter().any(|s| {
        s.command
            .as_deref()
            .is_some_and(|c| c.starts_with("crictl ps -a --name api"))
    }));
    assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
    assert!(!has(&r, "CreateContainerConfigError"), "{}", describe(&r));
}

#[test]
fn crio_create_errors_are_container_create_failed() {
    for (message, says) in [
        (
            "no command specified",
            "image registry.example.invalid/shop/api:3.0.0 has no ENTRYPOINT or CMD",
        ),
        (
            "failed to mount container k8s_api_api-6c9f7b8d5-h7x2q_shop_6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b_0(3f2a9c1b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a): creating overlay mount to /var/lib/containers/storage/overlay/3f2a9c1b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a/merged: no space left on device",
            "(3f2a9c1b0d8e): creating overlay mount",
        ),
    ] {
        let yaml = with_runtime_error(&fixture("create_container_error.yaml"), message);
        let r = diagnose_yaml(&yaml, "Deployment/shop/api");
        let f = finding(&r, "ContainerCreateFailed");
        assert!(f.message.contains(says), "{message}: {}", f.message);
        assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
    }
}

#[test]
fn a_subpath_naming_no_key_is_container_create_failed() {
    let r = diagnose_yaml(&fixture("start_error_subpath.yaml"), "Deployment/shop/web");
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        f.message.contains(r#"cannot start container web of 2 of 2 Pod(s) of ReplicaSet shop/web-7d4f9c8b6d: error mounting at "/etc/app/config.yaml": not a directory (subPath config.yaml of volume config cannot be mounted at /etc/app/config.yaml: ConfigMap web-config has no key config.yaml"#),
        "{}",
        f.message
    );
    assert_evidence(
        f,
        "lastState.terminated reason=StartError exitCode=128 message=\"failed to create containerd task:",
    );
    assert_evidence(
        f,
        "volumeMount config at /etc/app/config.yaml, subPath config.yaml (volume config: configMap web-config)",
    );
    assert_evidence(
        f,
        "ConfigMap web-config has no key config.yaml: its keys are app.yaml",
    );
    assert_evidence(f, "Back-off restarting failed container web");
    assert!(
        f.remediation
            .summary
            .contains("names no key of ConfigMap web-config (keys: app.yaml)"),
        "{}",
        f.remediation.summary
    );
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref()
                == Some("kubectl get configmap web-config -n shop -o yaml"))
    );
    assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
    // exit 128 is not a crash of the program, nor a restart loop of its own
    for other in [
        "ContainerCrashing",
        "HighRestartCount",
        "PodNotReady",
        "WarningEvents",
    ] {
        assert!(!has(&r, other), "{other}: {}", describe(&r));
    }
}

#[test]
fn a_mount_onto_the_wrong_type_without_a_missing_key_says_so() {
    // the key exists: the image's /etc/app/config.yaml is a directory
    let yaml = fixture("start_error_subpath.yaml").replace("app.yaml: ", "config.yaml: ");
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    let f = finding(&r, "ContainerCreateFailed");
    assert!(
        f.message
            .contains("a file is mounted onto a directory or a directory onto a file"),
        "{}",
        f.message
    );
    assert!(!evidence_has(f, "has no key"), "{:#?}", f.evidence);
    assert!(
        f.remediation
            .summary
            .contains("a file onto a file, a directory onto a directory")
    );
}

#[test]
fn a_cgroup_error_at_start_points_at_the_node() {
    let cgroup = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod6b1e/0f3a: cannot allocate memory: unknown";
    let yaml = with_runtime_error(&fixture("start_error_subpath.yaml"), cgroup);
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains(": unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod6b1e/0f3a: cannot allocate memory ("),
        "{}",
        f.message
    );
    assert!(
        f.message
            .contains("cannot set up the container's cgroup: a node problem")
    );
    assert_evidence(
        f,
        "runtime containerd://1.7.24, kubelet v1.37.1, kernel 6.1.0-27-amd64",
    );
    assert!(
        f.remediation.summary.contains("cgroupDriver"),
        "{}",
        f.remediation.summary
    );
    assert!(f.remediation.steps.iter().any(|s| {
        s.command
            .as_deref()
            .is_some_and(|c| c.starts_with("kubectl cordon worker-"))
    }));
    assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
    assert!(!has(&r, "ContainerCrashing"), "{}", describe(&r));
}

/// Look-alike: the same StartError two days ago, the containers running and Ready
/// since: at most Info.
#[test]
fn a_start_error_long_ago_on_a_ready_pod_is_at_most_info() {
    let r = diagnose_yaml(&fixture("start_error_healed.yaml"), "Deployment/shop/web");
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.starts_with("Recovered: "), "{}", f.message);
    assert!(
        f.message.contains("it runs now since 2026-11-19T08:02:3"),
        "{}",
        f.message
    );
}

/// The kubelet's configuration errors, missing references and commands keep their
/// rules; a binary for another platform is not a create failure either.
#[test]
fn other_create_and_start_errors_keep_their_rules() {
    for (name, rule) in [
        ("run_as_non_root.yaml", "CreateContainerConfigError"),
        ("configmap_not_found.yaml", "ConfigMapNotFound"),
        ("configmap_key_not_found.yaml", "ConfigMapKeyNotFound"),
        ("secret_key_not_found.yaml", "SecretKeyNotFound"),
        ("command_not_found.yaml", "ContainerCommandNotFound"),
        (
            "command_not_executable.yaml",
            "ContainerCommandNotExecutable",
        ),
    ] {
        let r = diagnose_yaml(&fixture(name), "Deployment/shop/web");
        assert_eq!(top(&r).rule_id, rule, "{name}: {}", describe(&r));
        assert!(
            !has(&r, "ContainerCreateFailed"),
            "{name}: {}",
            describe(&r)
        );
    }
    let exec_format = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec /app/web: exec format error: unknown";
    let yaml = with_runtime_error(&fixture("start_error_subpath.yaml"), exec_format);
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    assert!(!has(&r, "ContainerCreateFailed"), "{}", describe(&r));
    // runc 1.2 fails the start itself: the same cause as runc 1.1's log line, a
    // binary for another platform (or a script without #!)
    let f = top(&r);
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.remediation.summary.contains("buildx"),
        "{:?}",
        f.remediation
    );
    assert_eq!(f.rule_id, "ImagePlatformMismatch", "{}", describe(&r));
    assert!(f.message.contains("exec format error"), "{}", f.message);
    assert!(
        f.message.contains("another CPU architecture"),
        "{}",
        f.message
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("(start error): exec /app/web: exec format error")),
        "{:?}",
        f.evidence
    );
}

/// An exec format error of a script (a `.sh` command) is a missing `#!` line, not an
/// image for another platform.
#[test]
fn an_exec_format_error_of_a_script_is_not_executable() {
    let message = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec /app/entrypoint.sh: exec format error: unknown";
    let mut list: serde_json::Value = serde_norway::from_str(&with_runtime_error(
        &fixture("start_error_subpath.yaml"),
        message,
    ))
    .unwrap();
    for item in list["items"].as_array_mut().unwrap() {
        let spec = match item["kind"].as_str() {
            Some("Pod") => &mut item["spec"],
            Some("Deployment" | "ReplicaSet") => &mut item["spec"]["template"]["spec"],
            _ => continue,
        };
        for container in spec["containers"].as_array_mut().unwrap() {
            container["command"] = serde_json::json!(["/app/entrypoint.sh"]);
        }
    }
    let r = diagnose_yaml(&list.to_string(), "Deployment/shop/web");
    let f = top(&r);
    assert_eq!(
        f.rule_id,
        "ContainerCommandNotExecutable",
        "{}",
        describe(&r)
    );
    assert!(f.message.contains("no #! line"), "{}", f.message);
    assert!(!has(&r, "ImagePlatformMismatch"), "{}", describe(&r));
}

/// The real node's recording: containerd 1.6's `no command specified`.
#[test]
fn the_real_create_container_error_is_no_command() {
    let path = format!(
        "{}/tests/fixtures/real/create-container-error.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let r = diagnose_yaml(
        &std::fs::read_to_string(path).unwrap(),
        "Pod/real/create-container-error",
    );
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains(": no command specified ("),
        "{}",
        f.message
    );
    assert_evidence(
        f,
        r#"message="failed to generate container \"000000000000\" spec: failed to generate spec: no command specified""#,
    );
    assert!(f.remediation.summary.contains("set `command:`"));
    assert!(!has(&r, "CreateContainerConfigError"), "{}", describe(&r));
}

// ---------------------------------------------------------------- ephemeral storage

#[test]
fn a_container_over_its_ephemeral_storage_limit_is_evicted_again_and_again() {
    let r = diagnose_yaml(
        &fixture("ephemeral_container_limit.yaml"),
        "Deployment/shop/worker",
    );
    let f = finding(&r, "EphemeralStorageExceeded");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.name, "worker-5b7c9d8f4");
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(3));
    assert!(
        f.message.starts_with("3 Pod(s) of ReplicaSet/worker-5b7c9d8f4 were evicted by the kubelet of worker-1, worker-2: container worker wrote more than its ephemeral-storage limit 1Gi"),
        "{}",
        f.message
    );
    assert_evidence(
        f,
        r#"status.phase=Failed reason=Evicted message="Container worker exceeded its local ephemeral storage limit \"1Gi\".""#,
    );
    assert_evidence(
        f,
        "container worker: resources.limits.ephemeral-storage=1Gi, resources.requests.ephemeral-storage=512Mi",
    );
    assert_evidence(
        f,
        "its writable layer (every file written outside its volumes",
    );
    assert_evidence(
        f,
        "it mounts no writable volume; it runs [\"python\", \"-m\", \"worker\", \"--spool-dir\", \"/var/spool/worker\"]",
    );
    assert_evidence(
        f,
        "3 evicted Pod(s) of ReplicaSet/worker-5b7c9d8f4: worker-5b7c9d8f4-q8n2v, worker-5b7c9d8f4-t5j7c, worker-5b7c9d8f4-z3w6h; 2 Pod(s) of it not evicted",
    );
    assert!(
        f.remediation.summary.contains("log less"),
        "{}",
        f.remediation.summary
    );
    assert!(f.remediation.steps.iter().any(|s| s.command.as_deref() == Some("kubectl set resources deployment/worker -n shop -c worker --limits=ephemeral-storage=2Gi")));
    assert_eq!(
        top(&r).rule_id,
        "EphemeralStorageExceeded",
        "{}",
        describe(&r)
    );
    let evicted = finding(&r, "PodEvicted");
    assert!(explained_by(&r, evicted, f), "{}", describe(&r));
    assert!(
        warnings(&r)
            .iter()
            .all(|w| w == "EphemeralStorageExceeded" || w == "PodEvicted"),
        "{}",
        describe(&r)
    );
}

#[test]
fn the_pods_total_ephemeral_storage_limit_counts_every_writer() {
    let yaml = fixture("ephemeral_container_limit.yaml").replace(
        r#"Container worker exceeded its local ephemeral storage limit "1Gi". "#,
        "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi. ",
    );
    assert!(yaml.contains("exceeds the total limit of containers 1Gi"));
    let r = diagnose_yaml(&yaml, "Deployment/shop/worker");
    let f = finding(&r, "EphemeralStorageExceeded");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("the Pod used more local ephemeral storage than its containers' limits allow in total (1Gi"), "{}", f.message);
    assert_evidence(
        f,
        "ephemeral-storage per container: worker: limit 1Gi, request 512Mi",
    );
    assert_evidence(
        f,
        "counted for the Pod: the containers' writable layers and logs; it has no disk-backed emptyDir volume",
    );
    assert_eq!(
        top(&r).rule_id,
        "EphemeralStorageExceeded",
        "{}",
        describe(&r)
    );
    assert!(
        explained_by(&r, finding(&r, "PodEvicted"), f),
        "{}",
        describe(&r)
    );
}

#[test]
fn an_empty_dir_over_its_size_limit_is_ephemeral_storage_exceeded() {
    let r = diagnose_yaml(
        &fixture("ephemeral_empty_dir.yaml"),
        "Deployment/shop/renderer",
    );
    let f = finding(&r, "EphemeralStorageExceeded");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message
            .contains("emptyDir volume cache grew beyond its sizeLimit 1Gi"),
        "{}",
        f.message
    );
    assert_evidence(
        f,
        "volume emptyDir cache (sizeLimit 1Gi), mounted by renderer at /cache",
    );
    assert!(
        f.remediation
            .summary
            .contains("Raise the sizeLimit of emptyDir cache (1Gi now), or move the data to a PVC")
    );
    assert!(f.remediation.steps.iter().any(|s| s.command.as_deref() == Some(r#"kubectl patch deployment/renderer -n shop --type=json -p '[{"op":"replace","path":"/spec/template/spec/volumes/0/emptyDir/sizeLimit","value":"2Gi"}]'"#)));
    assert_eq!(
        top(&r).rule_id,
        "EphemeralStorageExceeded",
        "{}",
        describe(&r)
    );
    assert!(
        explained_by(&r, finding(&r, "PodEvicted"), f),
        "{}",
        describe(&r)
    );
}

/// Hours later the evictions are history: Info, as PodEvicted says of them.
#[test]
fn ephemeral_evictions_hours_ago_are_history() {
    let later: jiff::Timestamp = "2026-11-21T14:00:00Z".parse().unwrap();
    let r = diagnose_with(
        &fixture("ephemeral_container_limit.yaml"),
        "Deployment/shop/worker",
        |o| o.now = later,
    );
    let f = finding(&r, "EphemeralStorageExceeded");
    assert_eq!(f.severity, Severity::Info, "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

/// Look-alikes: evictions for the node's pressure (memory, or the node's own disk)
/// stay PodEvicted.
#[test]
fn node_pressure_evictions_are_not_ephemeral_storage_exceeded() {
    let memory = fixture("pod_evicted.yaml");
    let disk = memory.replace(
        "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91432Ki. Container web was using 1203960Ki, request is 128Mi, has larger consumption of request. ",
        "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 8124Mi. Container web was using 14Gi, request is 0, has larger consumption of ephemeral-storage. ",
    );
    assert!(disk.contains("low on resource: ephemeral-storage"));
    for yaml in [memory, disk] {
        let r = diagnose_yaml(&yaml, "Deployment/shop/web");
        assert!(!has(&r, "EphemeralStorageExceeded"), "{}", describe(&r));
        assert_eq!(top(&r).rule_id, "PodEvicted", "{}", describe(&r));
    }
}

/// The real node's recording: a Pod over the total of its containers' limits.
#[test]
fn the_real_ephemeral_storage_eviction_explains_pod_evicted() {
    let path = format!(
        "{}/tests/fixtures/real/ephemeral-storage.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let r = diagnose_yaml(
        &std::fs::read_to_string(path).unwrap(),
        "Pod/real/ephemeral-storage",
    );
    let f = finding(&r, "EphemeralStorageExceeded");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message
            .starts_with("Pod real/ephemeral-storage was evicted by the kubelet of real-1"),
        "{}",
        f.message
    );
    assert_evidence(
        f,
        "ephemeral-storage per container: app: limit 10Mi, request 5Mi",
    );
    assert_evidence(f, "dd if=/dev/zero of=/tmp/fill bs=1M count=40");
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.is_none() && s.description.contains("Recreate the Pod"))
    );
    assert!(
        explained_by(&r, finding(&r, "PodEvicted"), f),
        "{}",
        describe(&r)
    );
}

/// The moment after runc fails to start the container the kubelet reports
/// RunContainerError with the runtime's message (then StartError and back-off).
#[test]
fn run_container_error_is_container_create_failed() {
    let cgroup = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod6b1e/0f3a: cannot allocate memory: unknown";
    let yaml = fixture("create_container_error.yaml")
        .replace("reason: CreateContainerError", "reason: RunContainerError");
    let yaml = with_runtime_error(&yaml, cgroup);
    let r = diagnose_yaml(&yaml, "Deployment/shop/api");
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains("cannot start container api"),
        "{}",
        f.message
    );
    assert_evidence(
        f,
        "state.waiting reason=RunContainerError message=\"failed to create containerd task:",
    );
    assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
    assert!(!has(&r, "CreateContainerConfigError"), "{}", describe(&r));
}

/// A status without the runtime's message (reported before the kubelet filled it
/// in): the kubelet's `Failed` event tells.
#[test]
fn the_failed_event_tells_when_the_status_has_no_message() {
    let mut list: serde_json::Value =
        serde_norway::from_str(&fixture("create_container_error.yaml")).unwrap();
    for item in list["items"].as_array_mut().unwrap() {
        if item["kind"] == "Pod" {
            item["status"]["containerStatuses"][0]["state"]["waiting"]
                .as_object_mut()
                .unwrap()
                .remove("message");
        }
    }
    let r = diagnose_yaml(&list.to_string(), "Deployment/shop/api");
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains(": no command specified ("),
        "{}",
        f.message
    );
    assert_evidence(
        f,
        "state.waiting reason=CreateContainerError message=\"failed to generate container",
    );
    assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
}

/// An init container the runtime cannot start is ContainerCreateFailed, not a
/// failing init container program.
#[test]
fn an_init_container_that_cannot_start_is_container_create_failed() {
    let mount = r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting "/var/lib/kubelet/pods/d0bdb21d/volumes/kubernetes.io~empty-dir/scratch" to rootfs at "/proc/scratch": mount /var/lib/kubelet/pods/d0bdb21d/volumes/kubernetes.io~empty-dir/scratch:/proc/scratch (via /proc/self/fd/7), flags: 0x5000: operation not permitted: unknown"#;
    let mut list: serde_json::Value =
        serde_norway::from_str(&fixture("init_container_failing.yaml")).unwrap();
    for item in list["items"].as_array_mut().unwrap() {
        if item["kind"] == "Pod" && item["status"]["initContainerStatuses"].is_array() {
            let status = &mut item["status"]["initContainerStatuses"][0];
            status["lastState"]["terminated"] = serde_json::json!({
                "exitCode": 128, "reason": "StartError", "message": mount,
                "startedAt": "1970-01-01T00:00:00Z", "finishedAt": "2026-11-21T09:58:02Z",
            });
        }
    }
    let r = diagnose_yaml(&list.to_string(), "Deployment/shop/web");
    let f = finding(&r, "ContainerCreateFailed");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains(r#"cannot start init container migrate of 2 of 2 Pod(s) of ReplicaSet shop/web-7d4f9c8b6d: error mounting at "/proc/scratch": operation not permitted"#)
            && f.message.ends_with("so the Pods never start"),
        "{}",
        f.message
    );
    assert_eq!(top(&r).rule_id, "ContainerCreateFailed", "{}", describe(&r));
    assert!(!has(&r, "InitContainerFailing"), "{}", describe(&r));
}

// ------------------------------------------------------- CRI-O's pull waiting reasons

/// CRI-O's RegistryUnavailable, SignatureValidationFailed and the kubelet's
/// ErrImageNeverPull keep the container from starting: current pull failures, not
/// recovered ones.
#[test]
fn crio_pull_waiting_reasons_are_current_pull_failures() {
    let yaml = fixture("crio_pull_states.yaml");
    let r = diagnose_yaml(&yaml, "Deployment/shop/catalog");
    let f = top(&r);
    assert_eq!(f.rule_id, "ImagePullNetworkError", "{}", describe(&r));
    assert_eq!(f.severity, Severity::Critical);
    assert_evidence(f, "reason=RegistryUnavailable");
    assert!(f.message.contains("connection refused"), "{}", f.message);

    let r = diagnose_yaml(&yaml, "Deployment/shop/payments");
    let f = top(&r);
    assert_eq!(f.rule_id, "ImagePullBackOff", "{}", describe(&r));
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.message.contains("A signature was required"),
        "{}",
        f.message
    );
    assert!(
        f.remediation.summary.contains("signature policy"),
        "{:?}",
        f.remediation
    );

    let r = diagnose_yaml(&yaml, "Deployment/shop/batch");
    let f = top(&r);
    assert_eq!(f.rule_id, "ImagePullBackOff", "{}", describe(&r));
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        f.remediation.summary.contains("imagePullPolicy Never"),
        "{:?}",
        f.remediation
    );
    assert!(
        f.remediation.steps.iter().any(|s| s
            .command
            .as_deref()
            .is_some_and(|c| c.contains("kubectl patch deployment/batch -n shop")
                && c.contains("IfNotPresent"))),
        "{:#?}",
        f.remediation.steps
    );
}

/// In progress is not broken: a new Pod of a rolling update inside its readiness
/// probe's budget (initialDelaySeconds + periodSeconds x failureThreshold) is
/// PodNotReady at Info, "in progress"; past the budget, still not Ready, a Warning.
#[test]
fn a_new_pod_inside_its_readiness_budget_is_in_progress() {
    let yaml = fixture("rollout_new_pod_starting.yaml");
    let at = |now: &str| {
        let now: jiff::Timestamp = now.parse().unwrap();
        diagnose_with(&yaml, "Deployment/shop/profile", |o| o.now = now)
    };
    let early = at("2026-11-21T10:00:25Z");
    assert!(warnings(&early).is_empty(), "{}", describe(&early));
    let f = finding(&early, "PodNotReady");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.starts_with("In progress: "), "{}", f.message);
    assert!(f.message.contains("50s"), "{}", f.message);

    let late = at("2026-11-21T10:05:00Z");
    assert!(!warnings(&late).is_empty(), "{}", describe(&late));
    assert!(
        top(&late).severity >= Severity::Warning,
        "{}",
        describe(&late)
    );
}

/// The kubelet failing a Pod by itself is not a crash of its containers (exit 137 is
/// the kubelet's kill): refused at admission (OutOfcpu, a Pod moved by hand with
/// spec.nodeName), preempted for a critical Pod, stopped for a graceful node shutdown
/// (Info: it works as intended).
#[test]
fn pods_the_kubelet_fails_itself_are_not_crashes() {
    let r = diagnose_yaml(
        &fixture("failed_by_kubelet.yaml"),
        "Deployment/ops/collector",
    );
    assert!(!has(&r, "ContainerCrashing"), "{}", describe(&r));
    let evicted = findings(&r, "PodEvicted");
    assert_eq!(evicted.len(), 3, "{}", describe(&r));
    let about = |needle: &str| {
        *evicted
            .iter()
            .find(|f| f.message.contains(needle))
            .unwrap_or_else(|| panic!("no PodEvicted saying {needle:?}: {}", describe(&r)))
    };
    let rejected = about("refused by the kubelet of worker-1 at admission (OutOfcpu");
    assert_eq!(rejected.severity, Severity::Warning);
    assert_evidence(
        rejected,
        "spec.nodeName=worker-1 without a PodScheduled condition",
    );
    let preempted = about("to admit a critical Pod (Preempting");
    assert_eq!(preempted.severity, Severity::Warning);
    assert!(
        preempted.message.contains("did not crash"),
        "{}",
        preempted.message
    );
    let shutdown = about("for the node's shutdown (Terminated");
    assert_eq!(shutdown.severity, Severity::Info);
}
