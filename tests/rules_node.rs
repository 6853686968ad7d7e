//! The `node` rule set on realistic node states, and the chain from a lost node to
//! its Pods and their Pending replacements.

use kubedx::api::{Risk, Severity};
use kubedx::testing::{describe, diagnose_yaml, explained_by, finding, has, warnings};

const UNREACHABLE: &str = include_str!("fixtures/node/unreachable.yaml");
const NOT_READY: &str = include_str!("fixtures/node/not-ready-cni.yaml");
const CONDITIONS: &str = include_str!("fixtures/node/conditions.yaml");

fn has_evidence(f: &kubedx::api::Finding, needle: &str) -> bool {
    f.evidence.iter().any(|e| e.contains(needle))
}

#[test]
fn unreachable_node_explains_its_pods_and_the_pending_replacements() {
    let r = diagnose_yaml(UNREACHABLE, "Deployment/shop/checkout");
    let node = finding(&r, "NodeUnreachable");
    assert_eq!(node.severity, Severity::Critical);
    assert_eq!(node.object.kind, "Node");
    assert_eq!(node.object.name, "worker-1");
    assert!(node.root_cause, "{}", describe(&r));
    assert!(node.message.contains("for 18m"), "{}", node.message);
    assert!(
        has_evidence(
            node,
            "condition Ready=Unknown reason NodeStatusUnknown since 2026-03-10T10:11:40Z (18m ago): Kubelet stopped posting node status."
        ),
        "{:#?}",
        node.evidence
    );
    assert!(has_evidence(
        node,
        "last heartbeat 2026-03-10T10:10:58Z (19m ago)"
    ));
    assert!(has_evidence(
        node,
        "taint node.kubernetes.io/unreachable:NoExecute"
    ));
    assert!(
        has_evidence(
            node,
            "2 Pod(s) of the graph run on it: checkout-7b8c9d6f5-b5xk9, checkout-7b8c9d6f5-d2m7q"
        ),
        "{:#?}",
        node.evidence
    );
    assert!(has_evidence(
        node,
        "2 Pending Pod(s) of the graph are kept off by its taints"
    ));
    // remediation: read first, cordon reversible, drain disruptive with the warning
    let steps = &node.remediation.steps;
    assert_eq!(steps[0].risk, Risk::ReadOnly);
    let drain = steps
        .iter()
        .find(|s| {
            s.command
                .as_deref()
                .is_some_and(|c| c.starts_with("kubectl drain worker-1"))
        })
        .expect("a drain step");
    assert_eq!(drain.risk, Risk::Disruptive);
    assert!(drain.description.contains("capacity incident"));
    assert!(
        steps
            .iter()
            .any(|s| s.command.as_deref() == Some("kubectl cordon worker-1")
                && s.risk == Risk::Reversible)
    );

    // the replacements: no cpu on worker-2, and worker-1 is tainted unreachable
    let taint = finding(&r, "UntoleratedTaint");
    assert!(
        taint.message.contains("node.kubernetes.io/unreachable"),
        "{}",
        taint.message
    );
    assert!(explained_by(&r, taint, node), "{}", describe(&r));
    let cpu = finding(&r, "InsufficientResources");
    assert_eq!(cpu.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        has_evidence(cpu, "lack cpu: the Pod requests 700m"),
        "{:#?}",
        cpu.evidence
    );
    // Pod-level symptoms other rule sets report about the lost Pods are caused by the node
    let lost = ["checkout-7b8c9d6f5-b5xk9", "checkout-7b8c9d6f5-d2m7q"];
    for f in &r.status.findings {
        let on_lost_pod = f.object.kind == "Pod" && lost.contains(&f.object.name.as_str())
            || f.affected
                .as_ref()
                .is_some_and(|a| a.sample.iter().any(|s| lost.contains(&s.as_str())));
        let symptom = [
            "PodNotReady",
            "ReadinessProbeFailing",
            "PodStuckTerminating",
            "HighRestartCount",
        ]
        .contains(&f.rule_id.as_str());
        if on_lost_pod && symptom {
            assert!(
                explained_by(&r, f, node),
                "{} not explained by the node:{}",
                f.rule_id,
                describe(&r)
            );
        }
        if ["ReplicasUnavailable", "ServiceNoReadyEndpoints"].contains(&f.rule_id.as_str()) {
            assert!(!f.root_cause, "{}", describe(&r));
        }
    }
    // the node's NotReady event is quoted
    assert!(has_evidence(
        node,
        "Node worker-1 status is now: NodeNotReady"
    ));
}

#[test]
fn pod_on_the_unreachable_node_as_target() {
    let r = diagnose_yaml(UNREACHABLE, "Pod/shop/checkout-7b8c9d6f5-b5xk9");
    let node = finding(&r, "NodeUnreachable");
    assert!(node.root_cause);
    // the healthy worker-2 is not reported
    assert!(!has(&r, "NodeNotReady"), "{}", describe(&r));
}

#[test]
fn not_ready_node_quotes_the_kubelet_and_hints_at_cni() {
    let r = diagnose_yaml(NOT_READY, "Node/worker-2");
    let f = finding(&r, "NodeNotReady");
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.message.contains("KubeletNotReady"), "{}", f.message);
    assert!(
        f.message.contains("cni plugin not initialized"),
        "{}",
        f.message
    );
    assert!(
        has_evidence(f, "hint: the CNI plugin is not ready on this node"),
        "{:#?}",
        f.evidence
    );
    assert!(has_evidence(
        f,
        "1 Pod(s) of the graph run on it: api-58d9c7b6f4-zx7c2"
    ));
    assert!(!has(&r, "NodeUnreachable"));
    // a sandbox failure of a Pod on it, when reported, is explained by the node
    for s in r
        .status
        .findings
        .iter()
        .filter(|s| s.rule_id == "PodSandboxCreationFailed")
    {
        assert!(explained_by(&r, s, f), "{}", describe(&r));
    }
    // the Pod as target sees the node too
    let r = diagnose_yaml(NOT_READY, "Pod/shop/api-58d9c7b6f4-zx7c2");
    assert!(finding(&r, "NodeNotReady").root_cause, "{}", describe(&r));
}

#[test]
fn pressure_conditions() {
    let r = diagnose_yaml(CONDITIONS, "Node/worker-3");
    let m = finding(&r, "NodeMemoryPressure");
    assert_eq!(m.severity, Severity::Warning);
    assert!(has_evidence(
        m,
        "condition MemoryPressure=True reason KubeletHasInsufficientMemory"
    ));
    assert!(
        has_evidence(m, "Attempting to reclaim memory"),
        "{:#?}",
        m.evidence
    );
    assert!(has_evidence(m, "allocatable memory 15.16Gi"));
    let d = finding(&r, "NodeDiskPressure");
    assert!(
        has_evidence(d, "Failed to garbage collect required amount of images"),
        "{:#?}",
        d.evidence
    );
    assert!(!has(&r, "NodePIDPressure"));
    assert!(!has(&r, "NodeNotReady"));
    // events quoted by node findings are not repeated
    assert!(!has(&r, "WarningEvents"), "{}", describe(&r));
}

#[test]
fn network_unavailable() {
    let r = diagnose_yaml(CONDITIONS, "Node/worker-4");
    let f = finding(&r, "NodeNetworkUnavailable");
    assert_eq!(f.severity, Severity::Critical);
    assert!(
        has_evidence(f, "reason NoRouteCreated"),
        "{:#?}",
        f.evidence
    );
    assert!(has_evidence(f, "RouteController failed to create a route"));
}

#[test]
fn a_cordoned_node_with_nothing_pending_is_only_info() {
    let r = diagnose_yaml(CONDITIONS, "Node/worker-5");
    let f = finding(&r, "NodeCordoned");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref() == Some("kubectl uncordon worker-5"))
    );
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn a_healthy_node_is_silent() {
    let r = diagnose_yaml(CONDITIONS, "Node/worker-6");
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    for rule in [
        "NodeNotReady",
        "NodeUnreachable",
        "NodeMemoryPressure",
        "NodeDiskPressure",
        "NodeCordoned",
    ] {
        assert!(!has(&r, rule), "{}", describe(&r));
    }
    let r = diagnose_yaml(CONDITIONS, "Pod/shop/web-85c7d9f6b-k2m4p");
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}
