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
