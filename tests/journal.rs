//! The change journal: what the controller's watches saw change (applied here
//! straight into the store, as the watch cache does) and what a snapshot's
//! managedFields show, named as the change behind a failure — and not blamed where
//! it is not the cause.

use kubedx::api::Change;
use kubedx::engine::Report;
use kubedx::testing::{
    describe, diagnose_store, diagnose_yaml, finding, store, watch_delete, watch_update,
};

fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("tests/fixtures/{path}")).unwrap()
}

fn change_of<'a>(report: &'a Report, name: &str) -> Option<&'a Change> {
    report
        .status
        .changes
        .iter()
        .find(|change| change.object.name == name)
}

const APP_CONFIG: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: shop, creationTimestamp: '2026-11-01T08:00:00Z', resourceVersion: '50377'}
data:
  DATABASE_URL: postgres://shop@db-replica.shop.svc:5432/shop
  LOG_LEVEL: info
"#;

#[test]
fn a_changed_key_the_pod_reads_is_named_minutes_before_the_first_crash() {
    let mut cluster = store(&fixture("changes/configmap_key.yaml"));
    watch_update(&mut cluster, APP_CONFIG, "2026-11-21T10:00:05Z");
    let report = diagnose_store(&cluster, "Pod/shop/web-5c9f7b6d4-k2x7p");
    let crash = finding(&report, "ContainerCrashing");
    assert!(
        crash.evidence.iter().any(|line| line
            == "change: ConfigMap/app-config: key DATABASE_URL changed at 2026-11-21T10:00:05Z, 2m before the failure began"),
        "{}",
        describe(&report)
    );
    let change = change_of(&report, "app-config").expect("the key change is listed");
    assert_eq!(change.findings, vec![crash.id.clone()]);
    assert_eq!(change.time, "2026-11-21T10:00:05Z");
    assert_eq!(change.fields.len(), 1, "{change:?}");
    let field = &change.fields[0];
    assert_eq!(field.path, "data[DATABASE_URL]");
    // the values are hashes, never the values
    for value in [&field.from, &field.to] {
        let value = value.as_deref().unwrap();
        assert!(
            value.starts_with("sha256:") && !value.contains("postgres"),
            "{value}"
        );
    }
    assert_ne!(field.from, field.to);
    // in the timeline too
    assert!(
        report
            .status
            .timeline
            .iter()
            .any(|entry| entry.type_ == "Change"
                && entry.reason == "ObjectChanged"
                && entry.object.name == "app-config"
                && entry.time == "2026-11-21T10:00:05Z"),
        "{:#?}",
        report.status.timeline
    );
}

#[test]
fn a_changed_key_is_not_blamed_where_it_is_not_the_cause() {
    // the worker reads nothing of app-config: its crash is not the key's doing
    let mut cluster = store(&fixture("changes/configmap_key.yaml"));
    watch_update(&mut cluster, APP_CONFIG, "2026-11-21T10:00:05Z");
    let worker = diagnose_store(&cluster, "Pod/shop/worker-7b8d6c5f9-q4m2n");
    let crash = finding(&worker, "ContainerCrashing");
    assert!(
        !crash
            .evidence
            .iter()
            .any(|line| line.starts_with("change:")),
        "{}",
        describe(&worker)
    );
    // a key the Pod does not read (LOG_LEVEL), changed before the crash
    let mut cluster = store(&fixture("changes/configmap_key.yaml"));
    let log_level = APP_CONFIG
        .replace("db-replica", "db-primary")
        .replace("LOG_LEVEL: info", "LOG_LEVEL: debug");
    watch_update(&mut cluster, &log_level, "2026-11-21T10:00:05Z");
    let web = diagnose_store(&cluster, "Pod/shop/web-5c9f7b6d4-k2x7p");
    let change = change_of(&web, "app-config").expect("the change is still listed");
    assert_eq!(change.fields[0].path, "data[LOG_LEVEL]");
    assert!(change.findings.is_empty(), "{change:?}");
    // the key the Pod reads, changed after the crash loop began: not its cause
    let mut cluster = store(&fixture("changes/configmap_key.yaml"));
    watch_update(&mut cluster, APP_CONFIG, "2026-11-21T10:08:00Z");
    let web = diagnose_store(&cluster, "Pod/shop/web-5c9f7b6d4-k2x7p");
    let change = change_of(&web, "app-config").unwrap();
    assert!(change.findings.is_empty(), "{change:?}");
    // and hours before: outside the window
    let mut cluster = store(&fixture("changes/configmap_key.yaml"));
    watch_update(&mut cluster, APP_CONFIG, "2026-11-21T07:00:00Z");
    let web = diagnose_store(&cluster, "Pod/shop/web-5c9f7b6d4-k2x7p");
    assert!(change_of(&web, "app-config").unwrap().findings.is_empty());
}

/// The selector typo scenario: Service payments selects `name=payments`, the Pods
/// are labelled `name=payment`.
fn payments() -> String {
    [
        fixture("networking/cluster.yaml"),
        fixture("networking/selector_typo.yaml"),
    ]
    .join("\n---\n")
}

#[test]
fn a_service_selector_changed_under_watch_is_the_change_behind_no_endpoints() {
    let mut cluster = store(&payments());
    let before = r#"
apiVersion: v1
kind: Service
metadata: {name: payments, namespace: shop}
spec:
  ports:
  - {name: http, port: 80, protocol: TCP, targetPort: 8080}
  selector: {app.kubernetes.io/name: payment, app.kubernetes.io/component: api}
"#;
    let after = before.replace("name: payment,", "name: payments,");
    watch_update(&mut cluster, before, "2026-11-21T09:30:10Z");
    watch_update(&mut cluster, &after, "2026-11-21T09:30:12Z");
    let report = diagnose_store(&cluster, "Service/shop/payments");
    let selects = finding(&report, "ServiceSelectorMatchesNoPods");
    let change = change_of(&report, "payments").expect("the selector change");
    assert_eq!(change.findings, vec![selects.id.clone()], "{change:?}");
    assert_eq!(change.time, "2026-11-21T09:30:12Z");
    assert_eq!(
        change.summary,
        "Service/payments: spec.selector app.kubernetes.io/component=api,app.kubernetes.io/name=payment -> app.kubernetes.io/component=api,app.kubernetes.io/name=payments"
    );
    assert!(
        selects
            .evidence
            .iter()
            .any(|line| line.starts_with("change: Service/payments: spec.selector")),
        "{:#?}",
        selects.evidence
    );
    // the change comes first: it touches the root cause
    assert_eq!(report.status.changes[0].object.name, "payments");
}

#[test]
fn a_selector_written_after_creation_is_a_change_read_from_managed_fields() {
    let yaml = payments().replace(
        "metadata:\n  name: payments\n  namespace: shop\n",
        "metadata:
  name: payments
  namespace: shop
  creationTimestamp: '2026-11-19T08:00:00Z'
  managedFields:
  - manager: kubectl-client-side-apply
    operation: Update
    apiVersion: v1
    time: '2026-11-19T08:00:00Z'
    fieldsType: FieldsV1
    fieldsV1: {'f:spec': {'f:ports': {}, 'f:selector': {}, 'f:type': {}}}
  - manager: kubectl-edit
    operation: Update
    apiVersion: v1
    time: '2026-11-21T09:30:12Z'
    fieldsType: FieldsV1
    fieldsV1: {'f:spec': {'f:selector': {'f:app.kubernetes.io/name': {}}}}
",
    );
    assert!(yaml.contains("kubectl-edit"), "the fixture changed");
    let report = diagnose_yaml(&yaml, "Service/shop/payments");
    let selects = finding(&report, "ServiceSelectorMatchesNoPods");
    let change = change_of(&report, "payments").expect("the selector write");
    assert_eq!(change.time, "2026-11-21T09:30:12Z");
    assert_eq!(change.findings, vec![selects.id.clone()]);
    assert_eq!(
        change.summary,
        "Service/payments: spec.selector set to app.kubernetes.io/component=api,app.kubernetes.io/name=payments (last written by kubectl-edit, from managedFields)"
    );
    // without managedFields: no change is invented
    let plain = diagnose_yaml(&payments(), "Service/shop/payments");
    assert!(change_of(&plain, "payments").is_none());
}

const DENY_ALL: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-egress, namespace: shop, generation: 1}
spec:
  podSelector: {}
  policyTypes: [Egress]
"#;

fn dns_scenario_without_policy() -> String {
    [
        fixture("networking/cluster.yaml"),
        fixture("networking/web.yaml"),
    ]
    .join("\n---\n")
}

#[test]
fn a_network_policy_created_changed_and_deleted_under_watch() {
    let mut cluster = store(&dns_scenario_without_policy());
    let now = diagnose_store(&cluster, "Deployment/shop/web")
        .status
        .last_diagnosed_time
        .unwrap();
    let now: jiff::Timestamp = now.parse().unwrap();
    let at = |before: i64| (now - jiff::SignedDuration::from_secs(before)).to_string();
    // created 4 minutes ago, as an allow-all-egress policy; then changed to deny all
    let allow = DENY_ALL.replace(
        "policyTypes: [Egress]",
        "policyTypes: [Egress]\n  egress: [{}]",
    );
    watch_update(&mut cluster, &allow, &at(300));
    watch_update(&mut cluster, DENY_ALL, &at(240));
    let report = diagnose_store(&cluster, "Deployment/shop/web");
    let blocked = finding(&report, "NetworkPolicyBlocksDNS");
    let changes: Vec<&Change> = report
        .status
        .changes
        .iter()
        .filter(|change| change.object.name == "default-deny-egress")
        .collect();
    assert_eq!(changes.len(), 2, "{changes:#?}");
    let changed = changes
        .iter()
        .find(|change| change.summary.contains("spec.egress"))
        .expect("the rule change");
    assert_eq!(changed.time, at(240));
    assert_eq!(changed.findings, vec![blocked.id.clone()]);
    let created = changes
        .iter()
        .find(|change| change.summary.ends_with("was created"))
        .expect("the creation");
    assert_eq!(created.time, at(300));
    // both are the policy's doing; the root cause's changes come first
    assert!(
        report.status.changes[0].findings.contains(&blocked.id),
        "{:#?}",
        report.status.changes
    );
    // deleted: no longer blocking, and its deletion is in the list
    watch_delete(
        &mut cluster,
        "NetworkPolicy/shop/default-deny-egress",
        &at(60),
    );
    let after = diagnose_store(&cluster, "Deployment/shop/web");
    assert!(
        !after
            .status
            .findings
            .iter()
            .any(|f| f.rule_id == "NetworkPolicyBlocksDNS")
    );
    let deleted = after
        .status
        .changes
        .iter()
        .find(|change| change.summary == "NetworkPolicy/default-deny-egress was deleted")
        .expect("the deletion is a change");
    assert_eq!(deleted.time, at(60));
    assert!(deleted.findings.is_empty());
}

#[test]
fn a_taint_added_to_the_node_is_the_change_behind_the_untolerated_taint() {
    let yaml = [
        fixture("scheduling/nodes.yaml"),
        fixture("scheduling/taints.yaml"),
    ]
    .join("\n---\n");
    let report = diagnose_yaml(&yaml, "Deployment/shop/search");
    // the affinity leaves only the reserved node: the constraint is the finding
    finding(&report, "NodeSelectorMatchesNoNode");
    // the dedicated node search-1 carries the taint dedicated=search:NoSchedule
    let node_name = "search-1".to_owned();
    let mut cluster = store(&yaml);
    let node = cluster
        .object(&kubedx::testing::target(&format!("Node/{node_name}")))
        .unwrap_or_else(|| panic!("no Node {node_name}"))
        .clone();
    let kubedx::store::Object::Node(node) = node else {
        unreachable!()
    };
    let mut untainted = (*node).clone();
    untainted.spec.as_mut().unwrap().taints = None;
    let now: jiff::Timestamp = report.status.last_diagnosed_time.unwrap().parse().unwrap();
    let before = |secs: i64| now - jiff::SignedDuration::from_secs(secs);
    // as the watch saw it: untainted, then tainted
    cluster.apply(kubedx::store::Object::Node(std::sync::Arc::new(untainted)));
    kubedx::changes::facets::apply_observed(
        &mut cluster,
        kubedx::store::Object::Node(node),
        before(3600),
    );
    let report = diagnose_store(&cluster, "Deployment/shop/search");
    let taint = finding(&report, "NodeSelectorMatchesNoNode");
    let change = change_of(&report, &node_name).expect("the taint change");
    assert_eq!(change.findings, vec![taint.id.clone()], "{change:?}");
    assert_eq!(change.fields[0].path, "spec.taints");
    assert_eq!(change.fields[0].from, None);
    // another Node tainted with another key is not the cause, nor listed
    let mut other = cluster
        .object(&kubedx::testing::target("Node/search-1"))
        .map(|object| match object {
            kubedx::store::Object::Node(node) => (**node).clone(),
            _ => unreachable!(),
        })
        .unwrap();
    other.metadata.name = Some("batch-9".into());
    // outside the pool the Pod selects (a node of the pool tainted too would be a reason)
    if let Some(labels) = other.metadata.labels.as_mut() {
        labels.remove("pool");
    }
    other.spec.as_mut().unwrap().taints = None;
    cluster.apply(kubedx::store::Object::Node(std::sync::Arc::new(
        other.clone(),
    )));
    other.spec.as_mut().unwrap().taints = Some(vec![k8s_openapi::api::core::v1::Taint {
        key: "maintenance".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    }]);
    kubedx::changes::facets::apply_observed(
        &mut cluster,
        kubedx::store::Object::Node(std::sync::Arc::new(other)),
        before(1800),
    );
    let report = diagnose_store(&cluster, "Deployment/shop/search");
    assert!(
        change_of(&report, "batch-9").is_none(),
        "{:#?}",
        report.status.changes
    );
    assert!(change_of(&report, &node_name).is_some());
}

#[test]
fn a_statefulset_revision_that_changed_the_image_is_named_with_its_rollback() {
    let report = diagnose_yaml(
        &fixture("changes/statefulset_image.yaml"),
        "StatefulSet/shop/db",
    );
    let pull = finding(&report, "ImagePullNotFound");
    assert!(
        pull.evidence.iter().any(|line| line
            == "change: revision 2 of StatefulSet/db at 2026-11-21T09:40:00Z changed spec.containers[postgres].image: registry.shop.invalid/shop/postgres:16.4-shop -> registry.shop.invalid/shop/postgres:16.5-shop"),
        "{}",
        describe(&report)
    );
    let rollback = pull
        .remediation
        .steps
        .iter()
        .find(|step| {
            step.command
                .as_deref()
                .is_some_and(|c| c.contains("rollout undo"))
        })
        .expect("a rollback step");
    assert_eq!(
        rollback.command.as_deref(),
        Some("kubectl rollout undo statefulset/db -n shop --to-revision=1")
    );
    assert_eq!(rollback.risk, kubedx::api::Risk::Reversible);
    let change = &report.status.changes[0];
    assert_eq!(change.object.kind, "ControllerRevision");
    assert_eq!(
        (change.revision, change.previous_revision),
        (Some(2), Some(1))
    );
    assert_eq!(
        change.summary,
        "revision 2 replaced the image 16.4-shop with 16.5-shop"
    );
    assert_eq!(change.findings, vec![pull.id.clone()]);
}

/// The shop example as one snapshot.
fn shop() -> String {
    [
        "cluster.yaml",
        "kube-system.yaml",
        "shop.yaml",
        "shop-events.yaml",
    ]
    .iter()
    .map(|file| std::fs::read_to_string(format!("examples/shop/{file}")).unwrap())
    .collect::<Vec<_>>()
    .join("\n---\n")
}

#[test]
fn what_changed_follows_the_root_cause_in_table_and_markdown_and_joins_the_timeline() {
    use kubedx::report::{Document, Format, render, table::Style};
    let report = diagnose_yaml(&shop(), "Deployment/shop/storefront");
    assert!(
        report
            .status
            .timeline
            .iter()
            .any(|entry| entry.type_ == "Change"
                && entry.reason == "TemplateChanged"
                && entry.object.name == "storefront-7d4b9c8f5"
                && entry.message.starts_with("revision 7 replaced envFrom")),
        "{:#?}",
        report.status.timeline
    );
    let doc = Document::single(report);
    let table = render(&doc, Format::Table, &Style::default());
    let (root, after) = table
        .split_once("WHAT CHANGED")
        .expect("a What changed section");
    assert!(root.contains("ROOT CAUSE"), "{table}");
    assert!(
        !root.contains("OTHER FINDINGS"),
        "right after the root cause:\n{table}"
    );
    assert!(
        after.contains("ReplicaSet shop/storefront-7d4b9c8f5 (revision 7, compared with 6)")
            && after.contains("introduced: ConfigMapNotFound on ConfigMap shop/storefront-config"),
        "{table}"
    );
    let markdown = render(&doc, Format::Markdown, &Style::default());
    let root_at = markdown.find("## Root cause").unwrap();
    let changed_at = markdown.find("## What changed").expect("the section");
    let evidence_at = markdown.find("## Evidence").unwrap();
    assert!(
        root_at < changed_at && changed_at < evidence_at,
        "{markdown}"
    );
    assert!(
        markdown.contains(
            "`spec.containers[storefront].envFrom[0].configMapRef.name: storefront-settings -> storefront-config`"
        ),
        "{markdown}"
    );
    let dot = render(&doc, Format::Dot, &Style::default());
    assert!(dot.contains("(introduced by revision 7)"), "{dot}");
    // a target with no change: markdown says so, the table shows no section
    let healthy = diagnose_yaml(
        &fixture("changes/configmap_key.yaml"),
        "Pod/shop/worker-7b8d6c5f9-q4m2n",
    );
    assert!(
        healthy.status.changes.is_empty(),
        "{:#?}",
        healthy.status.changes
    );
    let doc = Document::single(healthy);
    assert!(!render(&doc, Format::Table, &Style::default()).contains("WHAT CHANGED"));
    assert!(
        render(&doc, Format::Markdown, &Style::default())
            .contains("## What changed\n\nNo change of the graph recorded.")
    );
}

#[test]
fn all_namespaces_unites_the_changes_of_every_target() {
    let mut cluster = store(&shop());
    let targets = kubedx::engine::all_targets(&mut cluster);
    let now = kubedx::engine::snapshot_now(&cluster);
    let options = kubedx::rules::DiagnoseOptions::new(now);
    let reports = kubedx::engine::diagnose_many(&cluster, &targets, &options, None);
    let doc = kubedx::report::merge::merge(reports, now);
    let revision = doc
        .status
        .changes
        .iter()
        .find(|change| change.revision == Some(7))
        .unwrap_or_else(|| panic!("revision 7 in the merged report: {:#?}", doc.status.changes));
    // it names the merged report's finding for the missing ConfigMap
    let config = doc
        .status
        .findings
        .iter()
        .find(|f| f.rule_id == "ConfigMapNotFound")
        .expect("the root cause");
    assert_eq!(revision.findings, vec![config.id.clone()]);
    // each change once, however many targets saw it
    let sevens = doc
        .status
        .changes
        .iter()
        .filter(|change| change.revision == Some(7))
        .count();
    assert_eq!(sevens, 1);
}

/// The object `object` of `yaml` as JSON (for the kinds these scenarios change).
fn object_json(cluster: &kubedx::store::Store, object: &str) -> serde_json::Value {
    use kubedx::store::Object;
    let stored = cluster
        .object(&kubedx::testing::target(object))
        .unwrap_or_else(|| panic!("{object} is not in the fixture"));
    let (api_version, kind, mut value) = match stored {
        Object::Service(o) => ("v1", "Service", serde_json::to_value(&**o)),
        Object::HorizontalPodAutoscaler(o) => (
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            serde_json::to_value(&**o),
        ),
        Object::ResourceQuota(o) => ("v1", "ResourceQuota", serde_json::to_value(&**o)),
        Object::StorageClass(o) => (
            "storage.k8s.io/v1",
            "StorageClass",
            serde_json::to_value(&**o),
        ),
        _ => panic!("{object}: not a kind of these scenarios"),
    };
    let value = value.as_mut().unwrap();
    value["apiVersion"] = api_version.into();
    value["kind"] = kind.into();
    value.take()
}

/// The finding of `rule` on the target (by name), else the only one.
fn pick(report: &Report, rule: &str, target: &str) -> kubedx::api::Finding {
    let name = target.rsplit('/').next().unwrap();
    report
        .status
        .findings
        .iter()
        .find(|f| f.rule_id == rule && f.object.name == name)
        .cloned()
        .unwrap_or_else(|| finding(report, rule).clone())
}

/// The fixture as the controller saw it: `object` was first as `before(object)`
/// (listed, not a change), then became what the fixture holds — a change seen two
/// minutes before the failure began (ten minutes before the snapshot's time when
/// the finding does not say). Returns the report and the finding of `rule`.
fn changed_before_failure(
    yaml: &str,
    target: &str,
    rule: &str,
    object: &str,
    before: impl Fn(&mut serde_json::Value),
) -> (Report, kubedx::api::Finding) {
    let first = diagnose_yaml(yaml, target);
    let began = pick(&first, rule, target)
        .first_seen
        .clone()
        .or(first.status.last_diagnosed_time.clone())
        .unwrap();
    let began: jiff::Timestamp = began.parse().unwrap();
    let at = began - jiff::SignedDuration::from_secs(120);
    let mut cluster = store(yaml);
    let now = cluster
        .object(&kubedx::testing::target(object))
        .unwrap()
        .clone();
    let mut old = object_json(&cluster, object);
    before(&mut old);
    let listed = store(&serde_json::to_string(&old).unwrap());
    cluster.apply(
        listed
            .object(&kubedx::testing::target(object))
            .unwrap()
            .clone(),
    );
    kubedx::changes::facets::apply_observed(&mut cluster, now, at);
    let report = diagnose_store(&cluster, target);
    let found = pick(&report, rule, target);
    (report, found)
}

#[test]
fn a_service_target_port_changed_is_the_change_behind_the_mismatch() {
    let yaml = [
        fixture("networking/cluster.yaml"),
        fixture("networking/web.yaml"),
        fixture("networking/ports.yaml"),
    ]
    .join("\n---\n");
    let (report, mismatch) = changed_before_failure(
        &yaml,
        "Service/shop/web-wrong-number",
        "ServiceTargetPortMismatch",
        "Service/shop/web-wrong-number",
        |service| service["spec"]["ports"][0]["targetPort"] = 8080.into(),
    );
    let change = change_of(&report, "web-wrong-number").expect("the port change");
    assert_eq!(
        change.findings,
        vec![mismatch.id.clone()],
        "{}",
        describe(&report)
    );
    assert_eq!(
        change.summary,
        "Service/web-wrong-number: spec.ports[http] 80/TCP targetPort 8080 -> 80/TCP targetPort 8081"
    );
}

#[test]
fn a_lowered_hpa_maximum_is_the_change_behind_maxed_out() {
    let (report, maxed) = changed_before_failure(
        &fixture("rollout/hpa.yaml"),
        "Deployment/web/frontend",
        "HPAMaxedOut",
        "HorizontalPodAutoscaler/web/frontend",
        |hpa| hpa["spec"]["maxReplicas"] = 30.into(),
    );
    let change = change_of(&report, "frontend").expect("the bound change");
    assert_eq!(
        change.findings,
        vec![maxed.id.clone()],
        "{}",
        describe(&report)
    );
    assert_eq!(change.fields[0].path, "spec.maxReplicas");
    assert_eq!(
        (
            change.fields[0].from.as_deref(),
            change.fields[0].to.as_deref()
        ),
        (Some("30"), Some("10"))
    );
}

#[test]
fn a_lowered_quota_is_the_change_behind_quota_exceeded() {
    let (report, exceeded) = changed_before_failure(
        &fixture("rollout/quota-exceeded.yaml"),
        "Deployment/shop/checkout",
        "QuotaExceeded",
        "ResourceQuota/shop/compute-quota",
        |quota| quota["spec"]["hard"]["limits.memory"] = "16Gi".into(),
    );
    let change = change_of(&report, "compute-quota").expect("the quota change");
    assert_eq!(
        change.findings,
        vec![exceeded.id.clone()],
        "{}",
        describe(&report)
    );
    assert_eq!(change.fields[0].path, "spec.hard[limits.memory]");
}

#[test]
fn a_default_class_mark_removed_is_the_change_behind_no_default() {
    let (report, none) = changed_before_failure(
        &fixture("storage/no-default-storageclass.yaml"),
        "PersistentVolumeClaim/media/uploads",
        "NoDefaultStorageClass",
        "StorageClass/standard",
        |class| {
            class["metadata"]["annotations"] =
                serde_json::json!({"storageclass.kubernetes.io/is-default-class": "true"})
        },
    );
    let change = change_of(&report, "standard").expect("the mark's removal");
    assert_eq!(
        change.findings,
        vec![none.id.clone()],
        "{}",
        describe(&report)
    );
    assert_eq!(
        change.fields[0].path,
        "metadata.annotations[storageclass.kubernetes.io/is-default-class]"
    );
    assert_eq!(change.fields[0].to, None);
}
