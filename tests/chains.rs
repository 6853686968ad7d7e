//! Cross-family chains: one root cause, its symptoms linked to it (issue 4).
//!
//! Each chain is realistic object state (tests/fixtures/chains/, on top of the
//! networking fixtures' cluster). For each: the expected finding ids fire, `top()`
//! is the root cause, every symptom is `explained_by` it, and no Warning or Critical
//! finding stands unexplained beside it.

use kubedx::api::{Finding, Severity};
use kubedx::engine::Report;
use kubedx::testing::{describe, diagnose_yaml, explained_by, findings, top};

fn fixture(path: &str) -> String {
    let path = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn snapshot(files: &[&str]) -> String {
    files
        .iter()
        .map(|f| fixture(f))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// The one finding of `rule` (about `object` when given).
fn one<'a>(r: &'a Report, rule: &str, object: Option<&str>) -> &'a Finding {
    let f: Vec<&Finding> = findings(r, rule)
        .into_iter()
        .filter(|f| object.is_none_or(|o| f.object.name == o))
        .collect();
    assert_eq!(
        f.len(),
        1,
        "expected one {rule}{} finding: {}",
        object.map(|o| format!(" on {o}")).unwrap_or_default(),
        describe(r)
    );
    f[0]
}

/// The chain's assertions: `root` is the top finding and a root cause, each symptom
/// fires and is explained by it, and every other Warning/Critical finding is too.
fn assert_chain(r: &Report, root: &str, symptoms: &[(&str, Option<&str>)]) {
    let t = top(r);
    assert_eq!(t.rule_id, root, "top finding: {}", describe(r));
    assert!(t.root_cause, "{}", describe(r));
    for (s, o) in symptoms {
        let f = one(r, s, *o);
        assert!(
            explained_by(r, f, t),
            "{s} is not explained by {root}: {}",
            describe(r)
        );
        assert!(
            !f.root_cause,
            "{s} should not be a root cause: {}",
            describe(r)
        );
    }
    let unexplained: Vec<String> = r
        .status
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning && f.id != t.id)
        .filter(|f| !explained_by(r, f, t))
        .map(|f| format!("{} on {}/{}", f.rule_id, f.object.kind, f.object.name))
        .collect();
    assert!(
        unexplained.is_empty(),
        "Warnings/Criticals not explained by {root}: {unexplained:?}: {}",
        describe(r)
    );
}

const CLUSTER: &str = "networking/cluster.yaml";
const WEB: &str = "networking/web.yaml";

/// Chain 1: unreachable Node → Pods not ready → Service with no ready endpoints → Ingress (503).
#[test]
fn unreachable_node_to_ingress() {
    let y = snapshot(&[CLUSTER, WEB, "chains/node_unreachable.yaml"]);
    let r = diagnose_yaml(&y, "Ingress/shop/web");
    let node = one(&r, "NodeUnreachable", Some("worker-2"));
    assert_eq!(node.severity, Severity::Critical);
    assert_chain(
        &r,
        "NodeUnreachable",
        &[("ServiceNoReadyEndpoints", Some("web"))],
    );
    // and from the Service itself
    let r = diagnose_yaml(&y, "Service/shop/web");
    assert_chain(
        &r,
        "NodeUnreachable",
        &[("ServiceNoReadyEndpoints", Some("web"))],
    );
}

/// Chain 2a: NetworkPolicy blocking DNS → readiness failures that say "could not resolve"
/// → Service without ready endpoints.
#[test]
fn network_policy_blocking_dns_to_service() {
    let y = snapshot(&[
        CLUSTER,
        WEB,
        "chains/api_dns_readiness.yaml",
        "networking/deny_egress.yaml",
    ]);
    let r = diagnose_yaml(&y, "Service/shop/api");
    let rp = findings(&r, "ReadinessProbeFailing");
    assert!(!rp.is_empty(), "no ReadinessProbeFailing: {}", describe(&r));
    assert_chain(
        &r,
        "NetworkPolicyBlocksDNS",
        &[
            ("ReadinessProbeFailing", None),
            ("ServiceNoReadyEndpoints", Some("api")),
        ],
    );
    // the healthy look-alike: the same readiness failures with DNS allowed are not
    // the policy's doing
    let y = snapshot(&[
        CLUSTER,
        WEB,
        "chains/api_dns_readiness.yaml",
        "networking/deny_egress.yaml",
        "networking/allow_dns_seed.yaml",
    ]);
    let r = diagnose_yaml(&y, "Service/shop/api");
    assert!(
        findings(&r, "NetworkPolicyBlocksDNS").is_empty(),
        "{}",
        describe(&r)
    );
    assert!(
        findings(&r, "ClusterDNSUnavailable").is_empty(),
        "{}",
        describe(&r)
    );
}

/// Chain 2b: the cluster DNS down (CoreDNS Pods not ready) → the same readiness failures →
/// Service without ready endpoints.
#[test]
fn cluster_dns_down_to_service() {
    let y = snapshot(&[
        CLUSTER,
        WEB,
        "chains/api_dns_readiness.yaml",
        "networking/coredns_down.yaml",
    ]);
    let r = diagnose_yaml(&y, "Service/shop/api");
    assert_chain(
        &r,
        "ClusterDNSUnavailable",
        &[
            ("ReadinessProbeFailing", None),
            ("ServiceNoReadyEndpoints", Some("api")),
        ],
    );
    assert!(findings(&r, "NetworkPolicyBlocksDNS").is_empty());
}

/// Chain 3: missing ConfigMap → CreateContainerConfigError → Service without
/// ready endpoints → Ingress.
#[test]
fn missing_configmap_to_ingress() {
    let y = snapshot(&[CLUSTER, WEB, "chains/configmap_missing.yaml"]);
    let r = diagnose_yaml(&y, "Ingress/shop/web");
    let cm = one(&r, "ConfigMapNotFound", None);
    assert!(cm.message.contains("web-config"), "{}", cm.message);
    assert_chain(
        &r,
        "ConfigMapNotFound",
        &[
            ("CreateContainerConfigError", None),
            ("ServiceNoReadyEndpoints", Some("web")),
        ],
    );
}

/// Chain 4: missing StorageClass → PVC Pending → unbound claim → Pod Pending →
/// StatefulSet unavailable.
#[test]
fn missing_storage_class_to_statefulset() {
    let y = snapshot(&[CLUSTER, "chains/storageclass_missing.yaml"]);
    let r = diagnose_yaml(&y, "StatefulSet/shop/db");
    let sc = one(&r, "StorageClassNotFound", None);
    assert!(sc.message.contains("fast-ssd"), "{}", sc.message);
    assert_chain(
        &r,
        "StorageClassNotFound",
        &[
            ("PVCPending", None),
            ("UnboundPersistentVolumeClaim", None),
            ("ReplicasUnavailable", Some("db")),
        ],
    );
}

const DB: &str = "networking/db_service.yaml";

/// Chain 5: the database crash-loops → its Service has no ready endpoint → the API
/// whose readiness probe names it (DependencyUnavailable) is not ready → the API's
/// Service has no ready endpoints. The database's crash loop comes first.
#[test]
fn crashing_dependency_to_callers_service() {
    let y = snapshot(&[
        CLUSTER,
        WEB,
        DB,
        "networking/db_crashing.yaml",
        "networking/api_probe_names_db.yaml",
    ]);
    for target in [
        "Deployment/shop/api",
        "Service/shop/api",
        "Pod/shop/api-7c9d8b6f5d-k4m2n",
    ] {
        let r = diagnose_yaml(&y, target);
        assert_eq!(
            top(&r).object.name,
            "postgres-6f7d8c9b5d",
            "{target}: {}",
            describe(&r)
        );
        assert_chain(
            &r,
            "ContainerCrashing",
            &[
                ("ServiceNoReadyEndpoints", Some("postgres")),
                ("DependencyUnavailable", None),
                ("ReadinessProbeFailing", None),
                ("ServiceNoReadyEndpoints", Some("api")),
            ],
        );
    }
}

/// Two findings of one workload are linked when one explains the other, whether both
/// are on its ReplicaSet or the cause is on the Deployment above it.
#[test]
fn two_root_findings_of_one_workload_are_linked() {
    let y = snapshot(&[
        CLUSTER,
        WEB,
        DB,
        "networking/db_crashing.yaml",
        "networking/api_probe_names_db.yaml",
    ]);
    let r = diagnose_yaml(&y, "Deployment/shop/api");
    let dep = one(&r, "DependencyUnavailable", None);
    let readiness = one(&r, "ReadinessProbeFailing", None);
    assert_eq!(dep.object, readiness.object);
    assert!(
        !readiness.root_cause && readiness.caused_by == [dep.id.clone()],
        "{}",
        describe(&r)
    );
}

fn diagnose_cli(target: &str, snapshots: &[&str]) -> serde_json::Value {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_kubedx"));
    let (kind_name, ns) = target.rsplit_once(" -n ").expect("target -n ns");
    command.args(["diagnose", kind_name, "-n", ns, "--logs", "-o", "json"]);
    for snapshot in snapshots {
        command.arg("--snapshot").arg(format!(
            "{}/tests/fixtures/{snapshot}",
            env!("CARGO_MANIFEST_DIR")
        ));
    }
    let out = command.env("NO_COLOR", "1").output().expect("run kubedx");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON report")
}

fn findings_of<'a>(report: &'a serde_json::Value, rule: &str) -> Vec<&'a serde_json::Value> {
    report["status"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["ruleId"] == rule)
        .collect()
}

/// Chain 6: the API crash-loops because it cannot connect to the database, as its
/// log says (shipped with the snapshot: logs/shop/<pod>/api.previous.log). The log
/// line names the dependency; the database's crash loop is the root cause.
#[test]
fn dependency_named_by_a_log_line() {
    let report = diagnose_cli(
        "deploy/api -n shop",
        &[
            "networking/api_log_names_db",
            CLUSTER,
            WEB,
            DB,
            "networking/db_crashing.yaml",
        ],
    );
    let first = &report["status"]["findings"][0];
    assert_eq!(first["ruleId"], "ContainerCrashing", "{report:#}");
    assert_eq!(first["object"]["name"], "postgres-6f7d8c9b5d", "{report:#}");
    let dep = findings_of(&report, "DependencyUnavailable");
    assert_eq!(dep.len(), 1, "{report:#}");
    let dep = dep[0];
    assert!(
        dep["message"]
            .as_str()
            .unwrap()
            .ends_with("named in previous log of container api"),
        "{dep:#}"
    );
    assert!(
        dep["evidence"].as_array().unwrap().iter().any(|e| e
            .as_str()
            .unwrap()
            .contains("failed to connect to `host=postgres.db user=app database=app`")),
        "{dep:#}"
    );
    // the log finding and the API's crash loop hang under it
    let refused = findings_of(&report, "LogsConnectionRefused");
    assert_eq!(
        refused[0]["causedBy"],
        serde_json::json!([dep["id"]]),
        "{report:#}"
    );
    let api_crash: Vec<_> = findings_of(&report, "ContainerCrashing")
        .into_iter()
        .filter(|f| f["object"]["name"] == "api-7c9d8b6f5d")
        .collect();
    assert_eq!(
        api_crash[0]["causedBy"],
        serde_json::json!([refused[0]["id"]]),
        "{report:#}"
    );
}

/// The look-alike: a log line says the name of a Service without endpoints only as
/// a word, not as an address (`cache warmup failed ...: connection refused`).
#[test]
fn a_service_name_as_a_word_in_a_log_line_names_nothing() {
    let report = diagnose_cli(
        "deploy/api -n shop",
        &["networking/api_log_word_only", CLUSTER, WEB],
    );
    assert!(
        findings_of(&report, "DependencyUnavailable").is_empty(),
        "{report:#}"
    );
    assert!(
        findings_of(&report, "ServiceSelectorMatchesNoPods").is_empty(),
        "the cache Service is not walked into: {report:#}"
    );
    assert!(
        !findings_of(&report, "LogsConnectionRefused").is_empty(),
        "{report:#}"
    );
}

/// Chain 7: a StatefulSet whose serviceName names no Service → its Pods cannot
/// resolve their peers' stable names (`etcd-1.etcd-headless.shop.svc.cluster.local:
/// no such host`) → readiness fails → the StatefulSet is unavailable.
#[test]
fn missing_governing_service_to_peer_dns_failures() {
    let y = snapshot(&[CLUSTER, WEB, "networking/sts_peer_dns.yaml"]);
    let r = diagnose_yaml(&y, "StatefulSet/shop/etcd");
    assert_chain(
        &r,
        "StatefulSetServiceNotFound",
        &[
            ("ReadinessProbeFailing", Some("etcd")),
            ("ReplicasUnavailable", Some("etcd")),
        ],
    );
    // the look-alike: DNS failures for an external name are not the missing
    // Service's doing
    let y = snapshot(&[CLUSTER, WEB, "networking/sts_external_dns.yaml"]);
    let r = diagnose_yaml(&y, "StatefulSet/shop/etcd");
    let missing = one(&r, "StatefulSetServiceNotFound", None);
    let readiness = one(&r, "ReadinessProbeFailing", None);
    assert!(readiness.root_cause, "{}", describe(&r));
    assert!(!explained_by(&r, readiness, missing), "{}", describe(&r));
}
