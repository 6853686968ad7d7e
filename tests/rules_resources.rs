//! The `resources` rule set: requests and memory limits per template container,
//! judged on what the API server admitted, and ResourceQuota pressure.

use kubedx::api::Severity;
use kubedx::testing::{describe, diagnose_yaml, finding, findings, has, warnings};

const CLUSTER: &str = include_str!("fixtures/resources/cluster.yaml");

fn has_evidence(f: &kubedx::api::Finding, needle: &str) -> bool {
    f.evidence.iter().any(|e| e.contains(needle))
}

#[test]
fn best_effort_container_is_one_finding_per_template_container_not_per_pod() {
    let r = diagnose_yaml(CLUSTER, "Deployment/shop/legacy");
    let f = finding(&r, "NoResourceRequests");
    assert_eq!(f.severity, Severity::Info);
    assert_eq!(f.object.kind, "Deployment");
    assert_eq!(f.object.name, "legacy");
    assert!(f.message.contains("Container legacy"), "{}", f.message);
    assert!(f.message.contains("cpu/memory"), "{}", f.message);
    assert!(f.message.contains("BestEffort"), "{}", f.message);
    assert!(
        has_evidence(f, "requests none; limits none"),
        "{:#?}",
        f.evidence
    );
    assert!(has_evidence(f, "qosClass BestEffort"));
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref().is_some_and(|c| c.starts_with(
                "kubectl set resources deployment/legacy -n shop -c legacy --requests="
            )))
    );
    let m = finding(&r, "NoMemoryLimit");
    assert_eq!(m.severity, Severity::Info);
    // the same holds when one Pod is the target: still reported on the template
    let r = diagnose_yaml(CLUSTER, "Pod/shop/legacy-6f7d8c9b5-a1b2c");
    assert_eq!(finding(&r, "NoResourceRequests").object.name, "legacy");
}

#[test]
fn sized_containers_are_silent() {
    let r = diagnose_yaml(CLUSTER, "Deployment/shop/api");
    assert!(!has(&r, "NoResourceRequests"), "{}", describe(&r));
    assert!(!has(&r, "NoMemoryLimit"), "{}", describe(&r));
}

#[test]
fn limit_range_defaults_count_as_requests_and_limits() {
    let r = diagnose_yaml(CLUSTER, "Deployment/tools/tool");
    assert!(!has(&r, "NoResourceRequests"), "{}", describe(&r));
    assert!(!has(&r, "NoMemoryLimit"), "{}", describe(&r));
    // and the quota of tools at 50% is silent
    assert!(!has(&r, "LimitRangeOrQuotaPressure"), "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
}

#[test]
fn quota_at_95_percent_is_a_warning_with_used_and_hard() {
    let r = diagnose_yaml(CLUSTER, "Deployment/shop/api");
    let f = finding(&r, "LimitRangeOrQuotaPressure");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.object.kind, "ResourceQuota");
    assert_eq!(f.object.name, "compute");
    assert_eq!(f.object.namespace.as_deref(), Some("shop"));
    assert!(
        f.message.contains("95% of its pods limit")
            || f.message.contains("95% of its requests.cpu limit"),
        "{}",
        f.message
    );
    assert!(
        has_evidence(f, "requests.cpu: used 3.8 of 4 (95%)"),
        "{:#?}",
        f.evidence
    );
    assert!(
        has_evidence(f, "pods: used 19 of 20 (95%)"),
        "{:#?}",
        f.evidence
    );
    // under 90 %, and a hard limit of 0 (a ban), are not pressure
    assert!(!has_evidence(f, "limits.memory"), "{:#?}", f.evidence);
    assert!(
        !has_evidence(f, "services.loadbalancers"),
        "{:#?}",
        f.evidence
    );
    assert_eq!(findings(&r, "LimitRangeOrQuotaPressure").len(), 1);
}

const HPA_NO_CPU_REQUEST: &str = include_str!("fixtures/resources/hpa-no-cpu-request.yaml");

/// The missing request is what a senior engineer reads first, whether the autoscaler or
/// its workload is diagnosed: a Warning naming the container, the autoscaler linked.
#[test]
fn a_missing_cpu_request_is_the_cause_of_an_autoscaler_that_cannot_scale() {
    for target in ["Deployment/shop/web", "HorizontalPodAutoscaler/shop/web"] {
        let r = diagnose_yaml(HPA_NO_CPU_REQUEST, target);
        let n = finding(&r, "NoResourceRequests");
        assert_eq!(n.severity, Severity::Warning, "{target}: {}", describe(&r));
        assert!(
            n.message
                .contains("Container app of Deployment/web has no cpu request")
                && n.message
                    .contains("HorizontalPodAutoscaler web cannot compute cpu utilization"),
            "{}",
            n.message
        );
        assert!(
            has_evidence(
                n,
                "missing request for cpu in container app of Pod web-6f7d8c9b5-abc12"
            ),
            "{:#?}",
            n.evidence
        );
        let top = &r.status.findings[0];
        assert_eq!(top.id, n.id, "{target}: {}", describe(&r));
        assert!(n.root_cause);
        let h = finding(&r, "HPAMetricsUnavailable");
        assert!(h.caused_by.contains(&n.id), "{target}: {}", describe(&r));
        assert!(!h.root_cause);
        // the fix, ready to run (a starting value to size from usage)
        let fix = "kubectl set resources deployment/web -n shop -c app --requests=cpu=100m";
        for f in [n, h] {
            assert!(
                f.remediation
                    .steps
                    .iter()
                    .any(|s| s.command.as_deref() == Some(fix)),
                "{:#?}",
                f.remediation
            );
        }
    }
    // the sidecar has its cpu request: nothing about it
    let r = diagnose_yaml(HPA_NO_CPU_REQUEST, "Deployment/shop/web");
    assert_eq!(
        findings(&r, "NoResourceRequests").len(),
        1,
        "{}",
        describe(&r)
    );
}

#[test]
fn an_autoscaler_that_has_its_requests_or_scales_on_values_is_not_blinded() {
    // the look-alike: the same workload with a cpu request on app
    let sized = HPA_NO_CPU_REQUEST.replace(
        "            requests:\n              memory: 512Mi\n",
        "            requests:\n              cpu: 250m\n              memory: 512Mi\n",
    );
    let sized = sized.replace(
        "        requests:\n          memory: 512Mi\n",
        "        requests:\n          cpu: 250m\n          memory: 512Mi\n",
    );
    let healthy = sized
        .replace(
            "status: 'False'\n      type: ScalingActive",
            "status: 'True'\n      type: ScalingActive",
        )
        .replace(
            "reason: FailedGetResourceMetric\n      status",
            "reason: ValidMetricFound\n      status",
        );
    let cut = healthy.find("- apiVersion: v1\n  count: 1436").unwrap();
    let r = diagnose_yaml(&healthy[..cut], "Deployment/shop/web");
    assert!(!has(&r, "NoResourceRequests"), "{}", describe(&r));
    assert!(warnings(&r).is_empty(), "{}", describe(&r));
    // an autoscaler on an averageValue target needs no request: the hygiene stays Info
    let by_value = HPA_NO_CPU_REQUEST.replace(
        "          averageUtilization: 70\n          type: Utilization",
        "          averageValue: 300m\n          type: AverageValue",
    );
    let cut = by_value.find("- apiVersion: v1\n  count: 1436").unwrap();
    let by_value = by_value[..cut].replace(
        "status: 'False'\n      type: ScalingActive",
        "status: 'True'\n      type: ScalingActive",
    );
    let r = diagnose_yaml(&by_value, "Deployment/shop/web");
    let n = finding(&r, "NoResourceRequests");
    assert_eq!(n.severity, Severity::Info, "{}", describe(&r));
    assert!(!has(&r, "HPAMetricsUnavailable"), "{}", describe(&r));
}

/// The Info hygiene rules: findings about how a workload is written, not about a
/// failure.
const HYGIENE: &[&str] = &[
    "ImageTagMutable",
    "NoResourceRequests",
    "NoMemoryLimit",
    "MissingStartupProbe",
];

/// Every fixture snapshot of the repository, each with what it is diagnosed with
/// (the scheduling scenarios on their nodes, the networking ones on their cluster).
fn fixture_snapshots() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap();
    let nodes = read(&root.join("scheduling/nodes.yaml"));
    let network = format!(
        "{}\n---\n{}",
        read(&root.join("networking/cluster.yaml")),
        read(&root.join("networking/web.yaml"))
    );
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if !rel.ends_with(".yaml") || rel.starts_with("prometheus/") {
                continue;
            }
            let text = read(&path);
            let yaml = if rel.starts_with("scheduling/") && rel != "scheduling/nodes.yaml" {
                // the scenarios that bring their own Nodes stand alone
                if text.contains("kind: Node\n") {
                    text
                } else {
                    format!("{nodes}\n---\n{text}")
                }
            } else if rel.starts_with("networking/") || rel.starts_with("chains/") {
                format!("{network}\n---\n{text}")
            } else {
                text
            };
            out.push((rel, yaml));
        }
    }
    out
}

/// Hygiene is not a root cause: across the fixtures, an Info hygiene finding is never
/// flagged rootCause next to a Warning or Critical finding, unless it explains one
/// (a missing cpu request that blinds an autoscaler is a Warning, and the cause).
#[test]
fn hygiene_is_never_the_root_cause_of_a_problem_it_does_not_explain() {
    let targets = [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
        "Ingress",
        "HorizontalPodAutoscaler",
    ];
    let mut diagnosed = 0;
    let mut with_problems = 0;
    for (rel, yaml) in fixture_snapshots() {
        let Ok(store) = kubedx::snapshot::store_from_str(&yaml) else {
            continue;
        };
        for kind in targets {
            let kind = kubedx::model::Kind::from_api_kind(kind).unwrap();
            let objects: Vec<_> = store.refs_of(kind).collect();
            for object in objects {
                let target = format!("{}/{}/{}", kind.name(), object.ns(), object.name);
                let r = kubedx::testing::diagnose_store(&store, &target);
                diagnosed += 1;
                let active = r
                    .status
                    .findings
                    .iter()
                    .any(|f| f.severity >= Severity::Warning);
                if !active {
                    continue;
                }
                with_problems += 1;
                for f in &r.status.findings {
                    if f.severity != Severity::Info || !HYGIENE.contains(&f.rule_id.as_str()) {
                        continue;
                    }
                    let explains = r
                        .status
                        .findings
                        .iter()
                        .any(|s| s.caused_by.contains(&f.id));
                    assert!(
                        !f.root_cause || explains,
                        "{rel} {target}: hygiene {} {} is a root cause next to a problem it does not explain:{}",
                        f.rule_id,
                        f.object.name,
                        describe(&r)
                    );
                }
                // the answer to "what is wrong" is never a note that explains nothing
                let top = &r.status.findings[0];
                let top_explains = r
                    .status
                    .findings
                    .iter()
                    .any(|s| s.caused_by.contains(&top.id));
                assert!(
                    top.severity >= Severity::Warning || top_explains,
                    "{rel} {target}: the first finding is {} ({:?}):{}",
                    top.rule_id,
                    top.severity,
                    describe(&r)
                );
            }
        }
    }
    assert!(
        diagnosed > 100 && with_problems > 50,
        "{diagnosed} diagnosed, {with_problems} with problems"
    );
}
