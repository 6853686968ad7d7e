//! What changed: workload revisions as evidence of the findings they caused.
//!
//! Each scenario is a Deployment with a healthy older revision (its ReplicaSet still
//! runs available Pods, or served for days before it was replaced) and a new
//! revision whose Pods fail, as `kubectl get deploy,rs,pods,events -o yaml` shows it.

use kubedx::api::{Finding, Risk};
use kubedx::engine::Report;
use kubedx::testing::{describe, diagnose_yaml, finding, top};

/// The Deployment `web` of namespace `shop` at revision `new_revision`, its ReplicaSets
/// (the old one running `old_replicas` available Pods), one Pod of the new revision
/// with `new_pod_status`, and `events`.
struct Rollout<'a> {
    old_container: &'a str,
    new_container: &'a str,
    old_replicas: i32,
    new_pod_status: &'a str,
    events: &'a str,
    extra: &'a str,
}

const DEPLOYMENT_UID: &str = "3b0d5c2e-61f1-4f55-9a4b-0d6f2c1a7e01";

impl Rollout<'_> {
    fn yaml(&self) -> String {
        let Rollout {
            old_container,
            new_container,
            old_replicas,
            new_pod_status,
            events,
            extra,
        } = self;
        let indent = |text: &str, by: usize| {
            text.lines()
                .map(|line| format!("{}{line}", " ".repeat(by)))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let old_template = indent(old_container, 10);
        let new_template = indent(new_container, 10);
        let new_pod = indent(new_container, 6);
        let status = indent(new_pod_status, 4);
        format!(
            r#"apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    annotations: {{deployment.kubernetes.io/revision: "4"}}
    creationTimestamp: "2026-10-02T08:11:40Z"
    generation: 7
    name: web
    namespace: shop
    uid: {DEPLOYMENT_UID}
  spec:
    progressDeadlineSeconds: 600
    replicas: 3
    selector: {{matchLabels: {{app: web}}}}
    strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 25%, maxUnavailable: 25%}}}}
    template:
      metadata: {{labels: {{app: web}}}}
      spec:
        containers:
{new_template}
  status:
    availableReplicas: {old_replicas}
    observedGeneration: 7
    replicas: {total}
    updatedReplicas: 1
    conditions:
    - {{lastTransitionTime: "2026-11-21T09:31:02Z", lastUpdateTime: "2026-11-21T09:31:02Z", message: ReplicaSet "web-7d4f8b6c5" is progressing., reason: ReplicaSetUpdated, status: "True", type: Progressing}}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    annotations: {{deployment.kubernetes.io/desired-replicas: "3", deployment.kubernetes.io/max-replicas: "4", deployment.kubernetes.io/revision: "3"}}
    creationTimestamp: "2026-11-12T10:20:05Z"
    labels: {{app: web, pod-template-hash: 5b8c9d7f4}}
    name: web-5b8c9d7f4
    namespace: shop
    ownerReferences:
    - {{apiVersion: apps/v1, blockOwnerDeletion: true, controller: true, kind: Deployment, name: web, uid: {DEPLOYMENT_UID}}}
    uid: 8f1e2d3c-0b9a-4c8d-9e7f-5a4b3c2d1e03
  spec:
    replicas: {old_replicas}
    selector: {{matchLabels: {{app: web, pod-template-hash: 5b8c9d7f4}}}}
    template:
      metadata: {{labels: {{app: web, pod-template-hash: 5b8c9d7f4}}}}
      spec:
        containers:
{old_template}
  status: {{availableReplicas: {old_replicas}, fullyLabeledReplicas: {old_replicas}, observedGeneration: 5, readyReplicas: {old_replicas}, replicas: {old_replicas}}}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata:
    annotations: {{deployment.kubernetes.io/desired-replicas: "3", deployment.kubernetes.io/max-replicas: "4", deployment.kubernetes.io/revision: "4"}}
    creationTimestamp: "2026-11-21T09:31:02Z"
    labels: {{app: web, pod-template-hash: 7d4f8b6c5}}
    name: web-7d4f8b6c5
    namespace: shop
    ownerReferences:
    - {{apiVersion: apps/v1, blockOwnerDeletion: true, controller: true, kind: Deployment, name: web, uid: {DEPLOYMENT_UID}}}
    uid: 2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e04
  spec:
    replicas: 1
    selector: {{matchLabels: {{app: web, pod-template-hash: 7d4f8b6c5}}}}
    template:
      metadata: {{labels: {{app: web, pod-template-hash: 7d4f8b6c5}}}}
      spec:
        containers:
{new_template}
  status: {{fullyLabeledReplicas: 1, observedGeneration: 1, replicas: 1}}
{old_pods}- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2026-11-21T09:31:02Z"
    labels: {{app: web, pod-template-hash: 7d4f8b6c5}}
    name: web-7d4f8b6c5-x2m4k
    namespace: shop
    ownerReferences:
    - {{apiVersion: apps/v1, blockOwnerDeletion: true, controller: true, kind: ReplicaSet, name: web-7d4f8b6c5, uid: 2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e04}}
    uid: 0a000001-0000-4000-8000-000000000004
  spec:
    nodeName: node-a
    restartPolicy: Always
    containers:
{new_pod}
  status:
{status}
{events}
{extra}"#,
            total = old_replicas + 1,
            old_pods = (0..*old_replicas)
                .map(|index| format!(
                    r#"- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2026-11-12T10:20:0{index}Z"
    labels: {{app: web, pod-template-hash: 5b8c9d7f4}}
    name: web-5b8c9d7f4-old{index}
    namespace: shop
    ownerReferences:
    - {{apiVersion: apps/v1, blockOwnerDeletion: true, controller: true, kind: ReplicaSet, name: web-5b8c9d7f4, uid: 8f1e2d3c-0b9a-4c8d-9e7f-5a4b3c2d1e03}}
    uid: 0a000001-0000-4000-8000-00000000010{index}
  spec:
    nodeName: node-a
    containers:
{old_pod}
  status:
    phase: Running
    conditions:
    - {{lastTransitionTime: "2026-11-12T10:20:14Z", status: "True", type: Ready}}
    - {{lastTransitionTime: "2026-11-12T10:20:06Z", status: "True", type: PodScheduled}}
    containerStatuses:
    - {{name: web, image: "registry.example.com/shop/web:1.4.2", imageID: "registry.example.com/shop/web@sha256:1c2b", ready: true, restartCount: 0, started: true, state: {{running: {{startedAt: "2026-11-12T10:20:09Z"}}}}}}
"#,
                    old_pod = indent(old_container, 4),
                ))
                .collect::<String>(),
        )
    }
}

const PROBE_FAILING: &str = r#"phase: Running
conditions:
- {lastTransitionTime: "2026-11-21T09:31:02Z", status: "True", type: PodScheduled}
- {lastTransitionTime: "2026-11-21T09:31:02Z", message: "containers with unready status: [web]", reason: ContainersNotReady, status: "False", type: Ready}
containerStatuses:
- {name: web, image: "registry.example.com/shop/web:1.4.2", imageID: "registry.example.com/shop/web@sha256:1c2b", ready: false, restartCount: 0, started: true, state: {running: {startedAt: "2026-11-21T09:31:05Z"}}}"#;

const PROBE_EVENTS: &str = r#"- apiVersion: v1
  kind: Event
  metadata: {name: web-7d4f8b6c5-x2m4k.187a1, namespace: shop}
  involvedObject: {apiVersion: v1, kind: Pod, name: web-7d4f8b6c5-x2m4k, namespace: shop, uid: 0a000001-0000-4000-8000-000000000004, fieldPath: "spec.containers{web}"}
  reason: Unhealthy
  message: 'Readiness probe failed: HTTP probe failed with statuscode: 404'
  type: Warning
  count: 178
  firstTimestamp: "2026-11-21T09:31:15Z"
  lastTimestamp: "2026-11-21T10:00:55Z"
  source: {component: kubelet, host: node-a}"#;

fn container(image: &str, probe_path: &str, memory: &str) -> String {
    format!(
        r#"- image: registry.example.com/shop/web:{image}
  imagePullPolicy: IfNotPresent
  name: web
  ports:
  - {{containerPort: 8080, name: http, protocol: TCP}}
  readinessProbe: {{failureThreshold: 3, httpGet: {{path: {probe_path}, port: http, scheme: HTTP}}, periodSeconds: 10, successThreshold: 1, timeoutSeconds: 1}}
  resources: {{limits: {{memory: {memory}}}, requests: {{cpu: 100m, memory: 128Mi}}}}"#
    )
}

fn changes_of(report: &Report) -> &[kubedx::api::Change] {
    &report.status.changes
}

fn rollback_step(finding: &Finding) -> Option<&kubedx::api::RemediationStep> {
    finding.remediation.steps.iter().find(|step| {
        step.command
            .as_deref()
            .is_some_and(|c| c.contains("rollout undo"))
    })
}

#[test]
fn the_shop_example_names_revision_7s_envfrom_replacement_and_offers_revision_6() {
    let mut yaml = String::new();
    for file in [
        "cluster.yaml",
        "kube-system.yaml",
        "shop.yaml",
        "shop-events.yaml",
    ] {
        yaml.push_str(&std::fs::read_to_string(format!("examples/shop/{file}")).unwrap());
        yaml.push_str("\n---\n");
    }
    let report = diagnose_yaml(&yaml, "Deployment/shop/storefront");
    let root = top(&report);
    assert_eq!(root.rule_id, "ConfigMapNotFound", "{}", describe(&report));
    assert!(
        root.evidence.iter().any(|line| line.contains("revision 7")
            && line.contains(
                "envFrom[0].configMapRef.name: storefront-settings -> storefront-config"
            )),
        "{:#?}",
        root.evidence
    );
    let rollback = rollback_step(root).expect("a rollback step");
    assert_eq!(
        rollback.command.as_deref(),
        Some("kubectl rollout undo deployment/storefront -n shop --to-revision=6")
    );
    assert_eq!(rollback.risk, Risk::Reversible);
    let change = &changes_of(&report)[0];
    assert_eq!(change.revision, Some(7));
    assert_eq!(change.previous_revision, Some(6));
    assert_eq!(change.object.kind, "ReplicaSet");
    assert_eq!(
        change.summary,
        "revision 7 replaced envFrom configMapRef storefront-settings with storefront-config and the image 1.8.2 with 1.9.0"
    );
    assert_eq!(change.findings, vec![root.id.clone()]);
    assert!(change.fields.iter().any(|field| field.path
        == "spec.containers[storefront].envFrom[0].configMapRef.name"
        && field.from.as_deref() == Some("storefront-settings")
        && field.to.as_deref() == Some("storefront-config")));
}

#[test]
fn a_changed_probe_path_is_named_by_the_readiness_failure_it_caused() {
    let yaml = Rollout {
        old_container: &container("1.4.2", "/healthz", "256Mi"),
        new_container: &container("1.4.2", "/ready", "256Mi"),
        old_replicas: 3,
        new_pod_status: PROBE_FAILING,
        events: PROBE_EVENTS,
        extra: "",
    }
    .yaml();
    let report = diagnose_yaml(&yaml, "Deployment/shop/web");
    let readiness = finding(&report, "ReadinessProbeFailing");
    assert!(
        readiness.evidence.iter().any(|line| line.contains(
            "revision 4 of Deployment/web at 2026-11-21T09:31:02Z changed spec.containers[web].readinessProbe.httpGet.path: /healthz -> /ready"
        )),
        "{:#?}",
        readiness.evidence
    );
    let rollback = rollback_step(readiness).expect("a rollback to the healthy revision");
    assert!(
        rollback
            .command
            .as_deref()
            .unwrap()
            .ends_with("--to-revision=3")
    );
    assert!(
        rollback.description.contains("runs healthy"),
        "{}",
        rollback.description
    );
    let change = &changes_of(&report)[0];
    assert_eq!(change.findings, vec![readiness.id.clone()]);
    assert_eq!(
        change.summary,
        "revision 4 replaced readinessProbe httpGet path /healthz with /ready"
    );
}

#[test]
fn a_lowered_memory_limit_is_named_by_the_oom_kills_and_a_raised_one_would_not_be() {
    let oom = r#"phase: Running
conditions:
- {lastTransitionTime: "2026-11-21T09:31:02Z", status: "True", type: PodScheduled}
- {lastTransitionTime: "2026-11-21T09:31:02Z", message: "containers with unready status: [web]", reason: ContainersNotReady, status: "False", type: Ready}
containerStatuses:
- name: web
  image: "registry.example.com/shop/web:1.4.2"
  imageID: "registry.example.com/shop/web@sha256:1c2b"
  ready: false
  restartCount: 6
  started: false
  state: {waiting: {reason: CrashLoopBackOff, message: "back-off 2m40s restarting failed container=web pod=web-7d4f8b6c5-x2m4k_shop(0a000001-0000-4000-8000-000000000004)"}}
  lastState: {terminated: {exitCode: 137, reason: OOMKilled, startedAt: "2026-11-21T09:58:01Z", finishedAt: "2026-11-21T09:58:40Z", containerID: "containerd://4f1a"}}"#;
    let backoff = r#"- apiVersion: v1
  kind: Event
  metadata: {name: web-7d4f8b6c5-x2m4k.187a2, namespace: shop}
  involvedObject: {apiVersion: v1, kind: Pod, name: web-7d4f8b6c5-x2m4k, namespace: shop, uid: 0a000001-0000-4000-8000-000000000004, fieldPath: "spec.containers{web}"}
  reason: BackOff
  message: Back-off restarting failed container web in pod web-7d4f8b6c5-x2m4k_shop(0a000001-0000-4000-8000-000000000004)
  type: Warning
  count: 31
  firstTimestamp: "2026-11-21T09:33:15Z"
  lastTimestamp: "2026-11-21T10:00:55Z"
  source: {component: kubelet, host: node-a}"#;
    let lowered = Rollout {
        old_container: &container("1.4.2", "/healthz", "512Mi"),
        new_container: &container("1.4.2", "/healthz", "128Mi"),
        old_replicas: 3,
        new_pod_status: oom,
        events: backoff,
        extra: "",
    }
    .yaml();
    let report = diagnose_yaml(&lowered, "Deployment/shop/web");
    let killed = finding(&report, "ContainerOOMKilled");
    assert!(
        killed
            .evidence
            .iter()
            .any(|line| line.contains("resources.limits.memory: 512Mi -> 128Mi")),
        "{:#?}",
        killed.evidence
    );
    assert!(rollback_step(killed).is_some());
    // the same kills after a raised limit: the change is not what broke it
    let raised = Rollout {
        old_container: &container("1.4.2", "/healthz", "64Mi"),
        new_container: &container("1.4.2", "/healthz", "128Mi"),
        old_replicas: 3,
        new_pod_status: oom,
        events: backoff,
        extra: "",
    }
    .yaml();
    let report = diagnose_yaml(&raised, "Deployment/shop/web");
    let killed = finding(&report, "ContainerOOMKilled");
    assert!(
        !killed
            .evidence
            .iter()
            .any(|line| line.starts_with("change:")),
        "{:#?}",
        killed.evidence
    );
    assert!(rollback_step(killed).is_none());
    assert!(changes_of(&report)[0].findings.is_empty());
}

#[test]
fn a_change_that_is_not_the_cause_is_not_blamed() {
    // revision 4 only changed the memory limit; its Pod cannot pull its image because
    // the pull secret is gone: a pull failure is not the limit's doing
    let pull = r#"phase: Pending
conditions:
- {lastTransitionTime: "2026-11-21T09:31:02Z", status: "True", type: PodScheduled}
- {lastTransitionTime: "2026-11-21T09:31:02Z", message: "containers with unready status: [web]", reason: ContainersNotReady, status: "False", type: Ready}
containerStatuses:
- name: web
  image: "registry.example.com/shop/web:1.4.2"
  imageID: ""
  ready: false
  restartCount: 0
  started: false
  state: {waiting: {reason: ImagePullBackOff, message: "Back-off pulling image \"registry.example.com/shop/web:1.4.2\": ErrImagePull: failed to pull and unpack image \"registry.example.com/shop/web:1.4.2\": failed to resolve reference \"registry.example.com/shop/web:1.4.2\": pulling from host registry.example.com failed with status code [manifests 1.4.2]: 401 Unauthorized"}}"#;
    let yaml = Rollout {
        old_container: &container("1.4.2", "/healthz", "512Mi"),
        new_container: &container("1.4.2", "/healthz", "768Mi"),
        old_replicas: 3,
        new_pod_status: pull,
        events: "",
        extra: "",
    }
    .yaml();
    let report = diagnose_yaml(&yaml, "Deployment/shop/web");
    let root = top(&report);
    assert_eq!(
        root.rule_id,
        "ImagePullUnauthorized",
        "{}",
        describe(&report)
    );
    assert!(
        !root.evidence.iter().any(|line| line.starts_with("change:")),
        "{:#?}",
        root.evidence
    );
    let change = &changes_of(&report)[0];
    assert_eq!(
        change.summary,
        "revision 4 replaced resources limits memory 512Mi with 768Mi"
    );
    assert!(change.findings.is_empty());
}

/// The networking fixtures' shop (cluster, web) with a default-deny egress policy
/// created at `created`.
fn deny_egress_created(created: &str) -> String {
    let read =
        |name: &str| std::fs::read_to_string(format!("tests/fixtures/networking/{name}")).unwrap();
    let policies = read("deny_egress.yaml").replace(
        "metadata: {name: default-deny-egress, namespace: shop, generation: 1}",
        &format!(
            "metadata: {{name: default-deny-egress, namespace: shop, generation: 1, creationTimestamp: \"{created}\"}}"
        ),
    );
    assert!(
        policies.contains(created),
        "the fixture changed: {policies}"
    );
    [read("cluster.yaml"), read("web.yaml"), policies].join("\n---\n")
}

#[test]
fn a_network_policy_created_before_the_failure_is_a_change_linked_to_it() {
    let now = diagnose_yaml(
        &deny_egress_created("2000-01-01T00:00:00Z"),
        "Deployment/shop/web",
    )
    .status
    .last_diagnosed_time
    .unwrap();
    let now: jiff::Timestamp = now.parse().unwrap();
    let four_minutes_before = (now - jiff::SignedDuration::from_secs(240)).to_string();
    let report = diagnose_yaml(
        &deny_egress_created(&four_minutes_before),
        "Deployment/shop/web",
    );
    let blocked = finding(&report, "NetworkPolicyBlocksDNS");
    assert!(
        blocked.evidence.iter().any(|line| line
            == &format!(
                "change: NetworkPolicy/default-deny-egress was created at {four_minutes_before}"
            )),
        "{:#?}",
        blocked.evidence
    );
    let change = report
        .status
        .changes
        .iter()
        .find(|change| change.object.name == "default-deny-egress")
        .expect("the policy's creation is a change");
    assert_eq!(
        change.summary,
        "NetworkPolicy/default-deny-egress was created"
    );
    assert_eq!(change.time, four_minutes_before);
    assert_eq!(change.findings, vec![blocked.id.clone()]);
    // created long before: not a change of this incident
    let old = diagnose_yaml(
        &deny_egress_created("2000-01-01T00:00:00Z"),
        "Deployment/shop/web",
    );
    assert!(
        !old.status
            .changes
            .iter()
            .any(|change| change.object.name == "default-deny-egress"),
        "{:#?}",
        old.status.changes
    );
}

#[test]
fn many_revisions_and_revisions_without_numbers_stay_bounded_and_never_panic() {
    let mut yaml = Rollout {
        old_container: &container("1.4.2", "/healthz", "256Mi"),
        new_container: &container("1.4.2", "/ready", "256Mi"),
        old_replicas: 3,
        new_pod_status: PROBE_FAILING,
        events: PROBE_EVENTS,
        extra: "",
    }
    .yaml();
    for revision in 0..100 {
        let annotation = if revision % 7 == 0 {
            "not-a-number".to_owned()
        } else {
            format!("{}", 100 + revision)
        };
        yaml.push_str(&format!(
            r#"
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  annotations: {{deployment.kubernetes.io/revision: "{annotation}"}}
  creationTimestamp: "2026-11-0{day}T10:00:00Z"
  name: web-old-{revision}
  namespace: shop
  ownerReferences:
  - {{apiVersion: apps/v1, blockOwnerDeletion: true, controller: true, kind: Deployment, name: web, uid: {DEPLOYMENT_UID}}}
  uid: 9f000000-0000-4000-8000-{revision:012}
spec:
  replicas: 0
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - {{name: web, image: "registry.example.com/shop/web:0.{revision}", env: [{{name: BUILD, value: "{long}"}}]}}
status: {{replicas: 0}}
"#,
            day = 1 + revision % 9,
            long = "x".repeat(3000),
        ));
    }
    let report = diagnose_yaml(&yaml, "Deployment/shop/web");
    let json = serde_json::to_vec(&report.status.changes).unwrap();
    assert!(json.len() <= 32 * 1024, "{} bytes of changes", json.len());
    assert!(report.status.changes.len() <= 20);
    for change in &report.status.changes {
        assert!(change.fields.len() <= 20);
        for field in &change.fields {
            assert!(field.from.as_ref().map_or(0, String::len) <= 200);
            assert!(field.to.as_ref().map_or(0, String::len) <= 200);
        }
    }
}
