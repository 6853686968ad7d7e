//! The `node` rule set on realistic node states, and the chain from a lost node to
//! its Pods and their Pending replacements.

use kubedx::api::{Risk, Severity};
use kubedx::testing::{describe, diagnose_yaml, explained_by, finding, has, top, warnings};

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

// ---- NoisyNeighbor ----

const NEIGHBOUR: &str = include_str!("fixtures/node/noisy-neighbour.yaml");
const NEIGHBOUR_METRICS: &str = include_str!("fixtures/node/noisy-neighbour-podmetrics.yaml");

/// The cluster with the PodMetrics of `kubectl get --raw .../pods`.
fn with_metrics() -> String {
    format!("{NEIGHBOUR}\n---\n{NEIGHBOUR_METRICS}")
}

const DISK_PIDS: &str = include_str!("fixtures/node/noisy-neighbour-disk-pids.yaml");
const LOOKALIKES: &str = include_str!("fixtures/node/noisy-neighbour-lookalikes.yaml");

fn step_commands(f: &kubedx::api::Finding) -> Vec<&str> {
    f.remediation
        .steps
        .iter()
        .filter_map(|s| s.command.as_deref())
        .collect()
}

#[test]
fn a_neighbour_without_memory_limit_gets_the_victims_evicted_with_podmetrics() {
    let r = diagnose_yaml(&with_metrics(), "Deployment/shop/web");
    let noisy = finding(&r, "NoisyNeighbor");
    assert_eq!(noisy.severity, Severity::Warning);
    assert_eq!(noisy.object.kind, "Node");
    assert_eq!(noisy.object.name, "worker-7");
    assert!(noisy.root_cause, "{}", describe(&r));
    assert_eq!(top(&r).rule_id, "NoisyNeighbor", "{}", describe(&r));
    assert!(
        noisy.message.starts_with(
            "Deployment/batch/report-builder uses most of node worker-7's memory (report-builder-7c9f5d8b4-q8x2z uses 11Gi against a request of 512Mi, no memory limit): 2 Pod(s) of Deployment/shop/web were evicted"
        ),
        "{}",
        noisy.message
    );
    assert!(
        has_evidence(
            noisy,
            "Pod batch/report-builder-7c9f5d8b4-q8x2z (Deployment batch/report-builder): memory usage 11Gi (PodMetrics at 2026-03-10T10:29:52Z window 20.012s), request 512Mi, no memory limit (container builder), priority 100000 (batch-high): the kubelet evicts lower priorities first"
        ),
        "{:#?}",
        noisy.evidence
    );
    assert!(has_evidence(
        noisy,
        "hurt: Deployment shop/web (2 evicted while within their requests): web-6f9d8c7b5-h7k2p, web-6f9d8c7b5-q4r9t"
    ));
    assert!(has_evidence(noisy, "allocatable memory 15.16Gi"));
    // the node-exporter (47Mi of a 64Mi request) is no heavy user
    assert!(
        !noisy
            .evidence
            .iter()
            .any(|e| e.starts_with("Pod batch/node-exporter")),
        "{:#?}",
        noisy.evidence
    );
    // the victims' evictions and the pressure hang under it
    let evicted = finding(&r, "PodEvicted");
    assert!(explained_by(&r, evicted, noisy), "{}", describe(&r));
    let pressure = finding(&r, "NodeMemoryPressure");
    assert!(explained_by(&r, pressure, noisy), "{}", describe(&r));
    assert!(explained_by(&r, finding(&r, "ReplicasUnavailable"), noisy));
    // remediation: bound the neighbour, or move it
    let commands = step_commands(noisy);
    assert!(commands.contains(
        &"kubectl set resources deployment/report-builder -n batch -c builder --requests=memory=11Gi --limits=memory=11Gi"
    ), "{commands:#?}");
    assert!(commands.contains(&"kubectl top pods -A --sort-by=memory"));
    assert!(
        commands.contains(&"kubectl get pods -A -o wide --field-selector spec.nodeName=worker-7")
    );
    assert_eq!(noisy.remediation.steps[0].risk, Risk::ReadOnly);
}

#[test]
fn without_podmetrics_the_neighbour_without_limit_is_the_suspect() {
    let r = diagnose_yaml(NEIGHBOUR, "Deployment/shop/web");
    let noisy = finding(&r, "NoisyNeighbor");
    assert!(noisy.root_cause, "{}", describe(&r));
    assert!(
        noisy.message.starts_with(
            "Node worker-7 runs low on memory and nothing measures what uses it; Deployment/batch/report-builder can grow without bound (no memory limit): 2 Pod(s) of Deployment/shop/web were evicted"
        ),
        "{}",
        noisy.message
    );
    assert!(
        has_evidence(
            noisy,
            "Pod batch/report-builder-7c9f5d8b4-q8x2z (Deployment batch/report-builder): usage not measured, request 512Mi, no memory limit (container builder), priority 100000 (batch-high): the kubelet evicts lower priorities first"
        ),
        "{:#?}",
        noisy.evidence
    );
    assert!(has_evidence(
        noisy,
        "no usage measured: no PodMetrics (metrics.k8s.io)"
    ));
    // a limit twice the request is bounded: not a suspect
    assert!(
        !noisy
            .evidence
            .iter()
            .any(|e| e.starts_with("Pod batch/node-exporter"))
    );
    assert!(explained_by(&r, finding(&r, "PodEvicted"), noisy));
    assert!(
        step_commands(noisy).contains(
            &"kubectl set resources deployment/report-builder -n batch -c builder --requests=memory=<observed-usage> --limits=memory=<observed-usage>"
        ),
        "{:#?}",
        step_commands(noisy)
    );
}

#[test]
fn node_target_ranks_the_neighbour_with_the_pressure_condition() {
    let r = diagnose_yaml(&with_metrics(), "Node/worker-7");
    let noisy = finding(&r, "NoisyNeighbor");
    let pressure = finding(&r, "NodeMemoryPressure");
    assert!(noisy.root_cause, "{}", describe(&r));
    assert!(!pressure.root_cause);
    assert!(explained_by(&r, pressure, noisy));
    assert_eq!(top(&r).rule_id, "NoisyNeighbor", "{}", describe(&r));
    assert!(has_evidence(noisy, "memory usage 11Gi"));
    assert!(has_evidence(
        noisy,
        "event Warning EvictionThresholdMet: Attempting to reclaim memory (x9)"
    ));
}

#[test]
fn the_neighbours_missing_memory_limit_explains_the_pressure_it_causes() {
    // diagnosing the neighbour itself: its hygiene finding is the root of the story
    let r = diagnose_yaml(&with_metrics(), "Deployment/batch/report-builder");
    let noisy = finding(&r, "NoisyNeighbor");
    let no_limit = finding(&r, "NoMemoryLimit");
    assert!(explained_by(&r, noisy, no_limit), "{}", describe(&r));
    assert!(no_limit.root_cause);
    assert!(!noisy.root_cause);
    assert!(explained_by(
        &r,
        finding(&r, "NodeMemoryPressure"),
        no_limit
    ));
    // the victims are named in the neighbour's diagnosis
    assert!(has_evidence(noisy, "hurt: Deployment shop/web (2 evicted"));
    // elsewhere a missing memory limit stays hygiene
    let calm = diagnose_yaml(LOOKALIKES, "Deployment/batch/warehouse-sync");
    let no_limit = finding(&calm, "NoMemoryLimit");
    assert_eq!(no_limit.severity, Severity::Info);
    assert!(no_limit.caused_by.is_empty());
    assert!(!has(&calm, "NoisyNeighbor"));
}

#[test]
fn disk_pressure_names_the_writer_from_its_eviction_message() {
    let r = diagnose_yaml(DISK_PIDS, "Deployment/shop/api");
    let noisy = finding(&r, "NoisyNeighbor");
    assert_eq!(noisy.object.name, "worker-9");
    assert!(noisy.root_cause, "{}", describe(&r));
    assert!(
        noisy.message.starts_with(
            "Deployment/batch/scratch-writer uses most of node worker-9's disk (scratch-writer-5b7d9f1c3-k4j8n uses 39Gi against a request of none, no ephemeral-storage limit): 1 Pod(s) of Deployment/shop/api was evicted"
        ),
        "{}",
        noisy.message
    );
    assert!(
        has_evidence(
            noisy,
            "Pod batch/scratch-writer-5b7d9f1c3-k4j8n (Deployment batch/scratch-writer): was using 39Gi when the kubelet evicted it, request none, no ephemeral-storage limit (container writer), emptyDir without sizeLimit: scratch"
        ),
        "{:#?}",
        noisy.evidence
    );
    assert!(has_evidence(
        noisy,
        "eviction threshold 9549128114, available 9102336Ki (ephemeral-storage)"
    ));
    assert!(explained_by(&r, finding(&r, "PodEvicted"), noisy));
    assert!(explained_by(&r, finding(&r, "NodeDiskPressure"), noisy));
    assert!(step_commands(noisy).contains(
        &"kubectl set resources deployment/scratch-writer -n batch -c writer --requests=ephemeral-storage=39Gi --limits=ephemeral-storage=39Gi"
    ));
}

#[test]
fn pid_pressure_names_the_pod_the_kubelet_evicted_first() {
    let r = diagnose_yaml(DISK_PIDS, "Deployment/shop/cart");
    let noisy = finding(&r, "NoisyNeighbor");
    assert_eq!(noisy.object.name, "worker-10");
    assert!(noisy.root_cause, "{}", describe(&r));
    assert!(
        noisy.message.starts_with(
            "Deployment/media/thumbnailer was the first evicted from node worker-10 for process ids"
        ),
        "{}",
        noisy.message
    );
    assert!(has_evidence(
        noisy,
        "Pod media/thumbnailer-6d4b2f8e1-w3q6z (Deployment media/thumbnailer): evicted first for pids at 2026-03-10T10:19:05Z"
    ));
    assert!(has_evidence(
        noisy,
        "hurt: Deployment shop/cart (1 evicted while within their requests): cart-8e2a4c6f0-n6b2s"
    ));
    assert!(explained_by(&r, finding(&r, "PodEvicted"), noisy));
    assert!(explained_by(&r, finding(&r, "NodePIDPressure"), noisy));
    assert!(noisy.remediation.summary.contains("pod PID limit"));
    // the forker's own diagnosis names it too
    let r = diagnose_yaml(DISK_PIDS, "Deployment/media/thumbnailer");
    assert!(has(&r, "NoisyNeighbor"), "{}", describe(&r));
}

#[test]
fn podmetrics_lists_are_read_from_snapshot_files() {
    use kubedx::model::{Kind, ObjRef};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node");
    let mut store = kubedx::store::Store::new();
    let stats = kubedx::snapshot::load_paths(
        &[
            dir.join("noisy-neighbour.yaml"),
            dir.join("noisy-neighbour-podmetrics.yaml"),
        ],
        &mut store,
    )
    .unwrap();
    assert_eq!(stats.ignored, 0, "{stats:?}");
    let metrics = ObjRef::namespaced(Kind::PodMetrics, "batch", "report-builder-7c9f5d8b4-q8x2z");
    assert!(store.contains(&metrics));
    assert_eq!(store.count(Kind::PodMetrics), 3);
    let r = kubedx::testing::diagnose_store(&store, "Deployment/shop/web");
    assert!(has_evidence(finding(&r, "NoisyNeighbor"), "(PodMetrics at"));
    // `kubectl get podmetrics -A -o yaml`, and NodeMetrics
    let listed = r#"
apiVersion: v1
kind: List
items:
- apiVersion: metrics.k8s.io/v1beta1
  kind: PodMetrics
  metadata: {name: web-1, namespace: shop, creationTimestamp: '2026-03-10T10:30:00Z'}
  timestamp: '2026-03-10T10:29:52Z'
  window: 20.012s
  containers:
  - name: web
    usage: {cpu: 21894120n, memory: 181244Ki}
- apiVersion: metrics.k8s.io/v1beta1
  kind: NodeMetrics
  metadata: {name: worker-7, creationTimestamp: '2026-03-10T10:30:00Z'}
  timestamp: '2026-03-10T10:29:48Z'
  window: 20.05s
  usage: {cpu: 3120m, memory: 15728640Ki}
- apiVersion: custom.metrics.k8s.io/v1beta1
  kind: PodMetrics
  metadata: {name: other, namespace: shop}
"#;
    let store = kubedx::testing::store(listed);
    assert!(store.contains(&ObjRef::namespaced(Kind::PodMetrics, "shop", "web-1")));
    assert!(store.contains(&ObjRef::cluster(Kind::NodeMetrics, "worker-7")));
    assert!(!store.contains(&ObjRef::namespaced(Kind::PodMetrics, "shop", "other")));
}

#[test]
fn no_pressure_no_noisy_neighbour() {
    // a neighbour without memory limit using 6Gi on a node that is fine
    let r = diagnose_yaml(LOOKALIKES, "Deployment/calm/web");
    assert!(!has(&r, "NoisyNeighbor"), "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    let r = diagnose_yaml(LOOKALIKES, "Node/worker-11");
    assert!(!has(&r, "NoisyNeighbor"), "{}", describe(&r));
    // the neighbours of a node without pressure do not join the graph
    let graph = kubedx::graph::ObjectGraph::build(
        &kubedx::testing::store(LOOKALIKES),
        &kubedx::testing::target("Deployment/calm/web"),
    );
    assert!(graph.neighbours.is_empty());
}

#[test]
fn a_pod_evicted_for_its_own_limit_is_no_neighbours_doing() {
    let r = diagnose_yaml(LOOKALIKES, "Deployment/calm/uploader");
    assert!(has(&r, "PodEvicted"), "{}", describe(&r));
    assert!(!has(&r, "NoisyNeighbor"), "{}", describe(&r));
    let r = diagnose_yaml(LOOKALIKES, "Node/worker-12");
    assert!(!has(&r, "NoisyNeighbor"), "{}", describe(&r));
}

#[test]
fn a_pod_evicted_for_its_own_usage_alone_is_no_neighbours_doing() {
    // the kubelet names the Pod's own container above its request, and no other
    // workload is hurt: PodEvicted's story
    let yaml = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/workload/pod_evicted.yaml"),
    )
    .unwrap();
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    assert!(has(&r, "PodEvicted"), "{}", describe(&r));
    assert!(!has(&r, "NoisyNeighbor"), "{}", describe(&r));
}

#[test]
fn a_victim_evicted_within_its_requests_is_no_suspect() {
    // the victim's Pods have no memory limit either, and one still runs on worker-7:
    // evicted while within its requests, it is a victim, not a suspect
    let yaml = NEIGHBOUR
        .replace(
            "      resources:\n        limits:\n          memory: 256Mi\n        requests:",
            "      resources:\n        requests:",
        )
        .replace("nodeName: worker-8", "nodeName: worker-7");
    let r = diagnose_yaml(&yaml, "Deployment/shop/web");
    let noisy = finding(&r, "NoisyNeighbor");
    assert!(
        noisy
            .evidence
            .iter()
            .any(|e| e.starts_with("Pod batch/report-builder-7c9f5d8b4-q8x2z")),
        "{:#?}",
        noisy.evidence
    );
    assert!(
        !noisy.evidence.iter().any(|e| e.starts_with("Pod shop/web")),
        "{:#?}",
        noisy.evidence
    );
    assert!(has_evidence(noisy, "hurt: Deployment shop/web"));
}
