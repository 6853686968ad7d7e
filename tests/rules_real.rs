//! The Pod failure catalogue offline, on what the real node's kubelet wrote
//! (tests/fixtures/real/, recorded by tests/cluster/record-real from the cases of
//! tests/real_node.rs): each recording must give the root cause the live
//! diagnosis gave, with no Warning the root cause does not explain.

use std::path::PathBuf;
use std::process::Command;

use kubedx::api::Severity;
use kubedx::testing::{describe, diagnose_yaml, explained_by, top};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real")
}

fn recording(case: &str) -> String {
    let path = dir().join(format!("{case}.yaml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every recording, and the root cause its diagnosis must name: (case, target,
/// rule, object kind, object name).
const CATALOGUE: &[(&str, &str, &str, &str, &str)] = &[
    (
        "image-not-found",
        "Pod/real/image-not-found",
        "ImagePullNotFound",
        "Pod",
        "image-not-found",
    ),
    (
        "image-unauthorized",
        "Pod/real/image-unauthorized",
        "ImagePullUnauthorized",
        "Pod",
        "image-unauthorized",
    ),
    (
        "registry-unreachable",
        "Pod/real/registry-unreachable",
        "ImagePullNetworkError",
        "Pod",
        "registry-unreachable",
    ),
    (
        "pull-secret-missing",
        "Pod/real/pull-secret-missing",
        "SecretNotFound",
        "Secret",
        "registry-creds",
    ),
    (
        "crash-exit-1",
        "Pod/real/crash-exit-1",
        "ContainerCrashing",
        "Pod",
        "crash-exit-1",
    ),
    (
        "exit-zero",
        "Deployment/real/exit-zero",
        "ContainerExitedZero",
        "ReplicaSet",
        "exit-zero-5d8f7c9b6d",
    ),
    (
        "command-not-found",
        "Pod/real/command-not-found",
        "ContainerCommandNotFound",
        "Pod",
        "command-not-found",
    ),
    // without its log the exec format error is an exit 1 like any other (see
    // exec_format_error_with_its_log below)
    (
        "exec-format-error/snapshot",
        "Pod/real/exec-format-error",
        "ContainerCrashing",
        "Pod",
        "exec-format-error",
    ),
    (
        "oom-killed",
        "Pod/real/oom-killed",
        "ContainerOOMKilled",
        "Pod",
        "oom-killed",
    ),
    (
        "liveness-http",
        "Pod/real/liveness-http",
        "LivenessProbeFailing",
        "Pod",
        "liveness-http",
    ),
    (
        "liveness-exec",
        "Pod/real/liveness-exec",
        "LivenessProbeFailing",
        "Pod",
        "liveness-exec",
    ),
    (
        "readiness",
        "Pod/real/readiness",
        "ReadinessProbeFailing",
        "Pod",
        "readiness",
    ),
    (
        "startup",
        "Pod/real/startup",
        "StartupProbeFailing",
        "Pod",
        "startup",
    ),
    (
        "configmap-env-missing",
        "Pod/real/configmap-env-missing",
        "ConfigMapNotFound",
        "ConfigMap",
        "app-config",
    ),
    (
        "secret-env-missing",
        "Pod/real/secret-env-missing",
        "SecretNotFound",
        "Secret",
        "db-creds",
    ),
    (
        "secret-key-missing",
        "Pod/real/secret-key-missing",
        "SecretKeyNotFound",
        "Secret",
        "db-creds",
    ),
    (
        "configmap-volume-missing",
        "Pod/real/configmap-volume-missing",
        "ConfigMapNotFound",
        "ConfigMap",
        "app-config",
    ),
    (
        "secret-volume-missing",
        "Pod/real/secret-volume-missing",
        "SecretNotFound",
        "Secret",
        "app-tls",
    ),
    (
        "init-container-failing",
        "Pod/real/init-container-failing",
        "InitContainerFailing",
        "Pod",
        "init-container-failing",
    ),
    (
        "create-container-error",
        "Pod/real/create-container-error",
        "ContainerCreateFailed",
        "Pod",
        "create-container-error",
    ),
    (
        "ephemeral-storage",
        "Pod/real/ephemeral-storage",
        "EphemeralStorageExceeded",
        "Pod",
        "ephemeral-storage",
    ),
];

#[test]
fn every_recording_gives_its_root_cause() {
    let mut failures = Vec::new();
    for &(case, target, rule, kind, name) in CATALOGUE {
        let r = diagnose_yaml(&recording(case), target);
        let first = top(&r);
        if first.rule_id != rule || first.object.kind != kind || first.object.name != name {
            failures.push(format!(
                "{case}: want {rule} on {kind}/{name}:{}",
                describe(&r)
            ));
            continue;
        }
        let unexplained: Vec<String> = r.status.findings[1..]
            .iter()
            .filter(|f| f.severity >= Severity::Warning && !explained_by(&r, f, first))
            .map(|f| f.rule_id.to_string())
            .collect();
        if !unexplained.is_empty() {
            failures.push(format!(
                "{case}: {rule} does not explain {unexplained:?}:{}",
                describe(&r)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_healthy_recording_has_no_warning() {
    let r = diagnose_yaml(&recording("healthy"), "Pod/real/healthy");
    let loud: Vec<_> = r
        .status
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .collect();
    assert!(loud.is_empty(), "{}", describe(&r));
}

#[test]
fn every_recording_is_in_the_catalogue() {
    let known: Vec<&str> = CATALOGUE
        .iter()
        .map(|c| c.0.split('/').next().unwrap())
        .chain(["healthy"])
        .collect();
    for entry in std::fs::read_dir(dir()).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let case = name.strip_suffix(".yaml").unwrap_or(&name);
        assert!(
            known.contains(&case),
            "tests/fixtures/real/{name} is not diagnosed by this test"
        );
    }
}

/// With its log (what `kubectl logs --previous` shows, shipped with the snapshot),
/// the same recording is an exec format error: a binary the node's kernel cannot
/// execute (ImagePlatformMismatch).
#[test]
fn exec_format_error_with_its_log() {
    let snapshot = dir().join("exec-format-error");
    let out = Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args([
            "diagnose",
            "pod/exec-format-error",
            "-n",
            "real",
            "--logs",
            "-o",
            "json",
            "--snapshot",
        ])
        .arg(&snapshot)
        .env("NO_COLOR", "1")
        .output()
        .expect("run kubedx");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &report["status"]["findings"][0];
    assert_eq!(first["ruleId"], "ImagePlatformMismatch", "{report:#}");
    assert!(
        first["message"]
            .as_str()
            .is_some_and(|m| m.contains("exec format error")),
        "{first:#}"
    );
    assert!(
        first["evidence"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .is_some_and(|e| e.contains("exec /bin/not-an-executable: exec format error"))),
        "{first:#}"
    );
}
