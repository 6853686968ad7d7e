//! deploy/: the plain manifests, against the real test control plane.
//!
//! - The ClusterRole and the Lease Role are exactly the reviewed allowlist below,
//!   cover exactly the kinds the graph reads, and hold no write verb on any workload.
//! - The Deployment is hardened, and the real kube-apiserver accepts every manifest
//!   (`kubectl apply --dry-run=server`, no Pod Security warning).
//! - The controller works with exactly deploy/'s RBAC: root cause in the status,
//!   Events, metrics, the Lease.
//! - Every rule is needed: for each rule, a controller bound to a copy of the roles
//!   minus that rule visibly loses something (a `PermissionDenied` finding naming
//!   the kind, no status, no Event, no leadership).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event as NewEvent;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kube::api::{Api, ListParams, PostParams};
use serde::Deserialize;
use serde_json::{Value, json};

use kubedx::api::{Diagnosis, Phase};
use kubedx::kinds::Read;
use kubedx::model::Kind;

use support::controller::{ControllerProcess, Identity, install, token_kubeconfig};
use support::*;

const RBAC: &str = include_str!("../deploy/10-rbac.yaml");
const DEPLOYMENT: &str = include_str!("../deploy/20-deployment.yaml");
const SERVICE: &str = include_str!("../deploy/30-service.yaml");
const NAMESPACE: &str = include_str!("../deploy/00-namespace.yaml");

/// Controllers reconcile every Diagnosis of the cluster: tests that run one which
/// writes status take turns.
static WRITERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in deploy/"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().expect("string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A rule as (apiGroups, resources, resourceNames, verbs), each sorted.
type Rule = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

fn rule_of(r: &Value) -> Rule {
    let sorted = |v: &Value| {
        let mut s = strs(v);
        s.sort();
        s
    };
    (
        sorted(&r["apiGroups"]),
        sorted(&r["resources"]),
        sorted(&r["resourceNames"]),
        sorted(&r["verbs"]),
    )
}

fn rules_of(role: &Value) -> Vec<Rule> {
    role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(rule_of)
        .collect()
}

fn allow(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Rule {
    let own = |s: &[&str]| {
        let mut v: Vec<String> = s.iter().map(|x| x.to_string()).collect();
        v.sort();
        v
    };
    (own(groups), own(resources), vec![], own(verbs))
}

/// The reviewed rules of the ClusterRole. A change of deploy/10-rbac.yaml fails
/// this test until the change is reviewed here.
fn reviewed_cluster_role() -> Vec<Rule> {
    let read = &["get", "list", "watch"][..];
    vec![
        allow(
            &[""],
            &[
                "namespaces",
                "nodes",
                "pods",
                "services",
                "configmaps",
                "serviceaccounts",
                "persistentvolumeclaims",
                "persistentvolumes",
                "resourcequotas",
                "limitranges",
                "events",
            ],
            read,
        ),
        allow(
            &["apps"],
            &[
                "deployments",
                "replicasets",
                "statefulsets",
                "daemonsets",
                "controllerrevisions",
            ],
            read,
        ),
        allow(&["batch"], &["jobs", "cronjobs"], read),
        allow(&["discovery.k8s.io"], &["endpointslices"], read),
        allow(
            &["networking.k8s.io"],
            &["ingresses", "ingressclasses", "networkpolicies"],
            read,
        ),
        allow(&["storage.k8s.io"], &["storageclasses"], read),
        allow(&["autoscaling"], &["horizontalpodautoscalers"], read),
        allow(&["policy"], &["poddisruptionbudgets"], read),
        allow(
            &["admissionregistration.k8s.io"],
            &[
                "validatingwebhookconfigurations",
                "mutatingwebhookconfigurations",
            ],
            read,
        ),
        allow(
            &["gateway.networking.k8s.io"],
            &["gatewayclasses", "gateways", "httproutes"],
            read,
        ),
        allow(&["kubedx.io"], &["diagnoses"], read),
        allow(&["kubedx.io"], &["diagnoses/status"], &["get", "patch"]),
        allow(
            &["kubedx.io"],
            &["diagnoses"],
            &["create", "patch", "delete"],
        ),
        allow(&["events.k8s.io"], &["events"], &["create", "patch"]),
    ]
}

fn reviewed_lease_role() -> Vec<Rule> {
    vec![allow(
        &["coordination.k8s.io"],
        &["leases"],
        &["get", "create", "patch"],
    )]
}

/// The only (group, resource) kubedx may write.
const WRITABLE: &[(&str, &str)] = &[
    ("kubedx.io", "diagnoses/status"),
    // the alert receiver's Diagnoses
    ("kubedx.io", "diagnoses"),
    ("events.k8s.io", "events"),
    ("coordination.k8s.io", "leases"),
];

#[test]
fn rbac_is_the_reviewed_allowlist() {
    let d = docs(RBAC);
    let cluster_role = find(&d, "ClusterRole");
    let role = find(&d, "Role");
    assert_eq!(
        rules_of(cluster_role),
        reviewed_cluster_role(),
        "deploy/10-rbac.yaml's ClusterRole is not the reviewed allowlist of tests/deploy.rs"
    );
    assert_eq!(
        rules_of(role),
        reviewed_lease_role(),
        "deploy/10-rbac.yaml's leader-election Role is not the reviewed allowlist of tests/deploy.rs"
    );
    // no wildcard, no non-resource URL, no write verb outside WRITABLE
    for (groups, resources, _, verbs) in rules_of(cluster_role).iter().chain(&rules_of(role)) {
        for x in groups.iter().chain(resources).chain(verbs) {
            assert!(
                !x.contains('*'),
                "wildcard in {groups:?} {resources:?} {verbs:?}"
            );
        }
        for v in verbs.iter().filter(|v| WRITE_VERBS.contains(&v.as_str())) {
            for g in groups {
                for r in resources {
                    assert!(
                        WRITABLE.contains(&(g.as_str(), r.as_str())),
                        "write verb {v} on {g}/{r}: kubedx never writes workloads"
                    );
                }
            }
        }
    }
    for r in cluster_role["rules"].as_array().unwrap() {
        assert!(r.get("nonResourceURLs").is_none(), "{r}");
    }
    // Secrets: never `get` (their data is never read)
    for (groups, resources, _, verbs) in rules_of(cluster_role) {
        if groups == [""] && resources.contains(&"secrets".to_string()) {
            assert!(!verbs.contains(&"get".to_string()), "secrets get");
        }
    }
    // no Secret access: an install choice (deploy/optional/secrets.yaml)
    for (groups, resources, _, _) in rules_of(cluster_role).iter().chain(&rules_of(role)) {
        assert!(
            !(groups.contains(&String::new()) && resources.contains(&"secrets".to_string())),
            "deploy/ grants Secrets: {resources:?}"
        );
    }
    // exactly the kinds the graph reads (src/controller/cache.rs watches Kind::ALL),
    // Secrets aside, and metrics.k8s.io, which serves no watch: the controller does
    // not read it (only the live CLI LISTs it)
    let readable: BTreeSet<(String, String)> = rules_of(cluster_role)
        .into_iter()
        .filter(|(_, _, _, verbs)| {
            verbs.contains(&"list".into()) && verbs.contains(&"watch".into())
        })
        .flat_map(|(groups, resources, _, _)| {
            groups
                .into_iter()
                .flat_map(move |g| resources.clone().into_iter().map(move |r| (g.clone(), r)))
        })
        .filter(|(g, _)| g != "kubedx.io")
        .collect();
    let graph: BTreeSet<(String, String)> = Kind::ALL
        .iter()
        .filter(|k| **k != Kind::Secret && k.read() != Read::Metrics)
        .map(|k| (k.group().to_string(), k.plural().to_string()))
        .collect();
    assert_eq!(
        readable, graph,
        "the ClusterRole's list/watch grants differ from the kinds the graph reads"
    );
    // the bindings bind deploy/'s ServiceAccount
    let sa = find(&d, "ServiceAccount");
    assert_eq!(sa["metadata"]["namespace"], "kubedx-system");
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        let b = find(&d, kind);
        assert_eq!(b["subjects"][0]["kind"], "ServiceAccount");
        assert_eq!(b["subjects"][0]["name"], sa["metadata"]["name"]);
        assert_eq!(b["subjects"][0]["namespace"], "kubedx-system");
    }
    assert_eq!(
        find(&d, "ClusterRoleBinding")["roleRef"]["name"],
        cluster_role["metadata"]["name"]
    );
    assert_eq!(
        find(&d, "RoleBinding")["roleRef"]["name"],
        role["metadata"]["name"]
    );
    assert_eq!(role["metadata"]["namespace"], "kubedx-system");
}

const OPTIONAL_SECRETS: &str = include_str!("../deploy/optional/secrets.yaml");

#[test]
fn optional_secret_access_is_list_and_watch_of_secrets_for_deploys_service_account() {
    let d = docs(OPTIONAL_SECRETS);
    assert_eq!(d.len(), 2, "a ClusterRole and its binding");
    let role = find(&d, "ClusterRole");
    assert_eq!(
        rules_of(role),
        vec![allow(&[""], &["secrets"], &["list", "watch"])],
        "existence only, as metadata: no get"
    );
    let binding = find(&d, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    let sa = find(&docs(RBAC), "ServiceAccount").clone();
    assert_eq!(binding["subjects"][0]["name"], sa["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        sa["metadata"]["namespace"]
    );
    // deploy/'s controller runs without Secret access, and says so
    let args = strs(
        &find(&docs(DEPLOYMENT), "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"],
    );
    assert!(args.contains(&"--secrets=none".to_string()), "{args:?}");
}

/// The security settings every kubedx Pod template must have (deploy/ and the chart).
pub fn assert_hardened(deployment: &Value) {
    let spec = &deployment["spec"]["template"]["spec"];
    let pod = &spec["securityContext"];
    assert_eq!(pod["runAsNonRoot"], true, "{pod}");
    assert_eq!(pod["runAsUser"], 65532);
    assert_eq!(pod["seccompProfile"]["type"], "RuntimeDefault");
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let sc = &c["securityContext"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{sc}");
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["privileged"], false);
    assert_eq!(strs(&sc["capabilities"]["drop"]), ["ALL"]);
    assert!(sc["capabilities"].get("add").is_none());
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    for k in ["cpu", "memory"] {
        assert!(c["resources"]["requests"][k].is_string(), "requests.{k}");
    }
    assert!(
        c["resources"]["limits"]["memory"].is_string(),
        "limits.memory"
    );
    let args = strs(&c["args"]);
    assert_eq!(args[0], "controller");
    let env: Vec<String> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    for e in ["POD_NAME", "POD_NAMESPACE", "RUST_LOG"] {
        assert!(env.contains(&e.to_string()), "env {e}");
    }
    assert!(spec.get("hostNetwork").is_none() && spec.get("hostPID").is_none());
}

#[test]
fn deployment_is_hardened() {
    let d = docs(DEPLOYMENT);
    let dep = find(&d, "Deployment");
    assert_hardened(dep);
    let c = &dep["spec"]["template"]["spec"]["containers"][0];
    let args = strs(&c["args"]);
    assert!(args.contains(&"--leader-election".to_string()), "{args:?}");
    assert!(dep["spec"]["replicas"].as_i64().unwrap() > 1);
    assert_eq!(
        dep["spec"]["template"]["spec"]["serviceAccountName"],
        "kubedx"
    );
    let ns = docs(NAMESPACE);
    assert_eq!(
        ns[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );
    let svc = docs(SERVICE);
    assert_eq!(svc[0]["spec"]["ports"][0]["targetPort"], "metrics");
    assert_eq!(
        svc[0]["spec"]["selector"], dep["spec"]["selector"]["matchLabels"],
        "the metrics Service selects the controller's Pods"
    );
}

fn metric_sum(ctl: &ControllerProcess, metric: &str, filter: &[(&str, &str)]) -> f64 {
    sum_samples(&parse_metric(&ctl.metrics(), metric), filter)
}

fn dx(name: &str, target: &str) -> Diagnosis {
    serde_json::from_value(json!({
        "apiVersion": "kubedx.io/v1alpha1",
        "kind": "Diagnosis",
        "metadata": {"name": name},
        "spec": {"target": {"kind": "Deployment", "name": target}},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_apply_and_the_controller_works_with_their_rbac() {
    install(); // the CRD, deploy/'s Namespace and RBAC (for real)
    let root = repo_root().join("deploy");
    // the real apiserver accepts every manifest, Pod Security `restricted` included
    let out = kubectl(&[
        "apply",
        "--dry-run=server",
        "-f",
        root.to_str().unwrap(),
        "-f",
        root.join("optional").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kubectl apply --dry-run=server -f deploy/: {stderr}"
    );
    assert!(
        !stderr.contains("Warning"),
        "the apiserver warns about deploy/: {stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for o in [
        "deployment.apps/kubedx-controller",
        "service/kubedx-metrics",
        "clusterrole.rbac.authorization.k8s.io/kubedx",
        "clusterrole.rbac.authorization.k8s.io/kubedx-secrets",
    ] {
        assert!(stdout.contains(o), "{stdout}");
    }

    let _turn = WRITERS.lock().await;
    let ctl = ControllerProcess::start("deploy-rbac", &["--leader-election"]);
    let ns = namespace("dx-deploy").await;
    let client = client().await;
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"},
                             "annotations": {"kubedx.io/simulate": "image-not-found"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/web:v2"}]}
            }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    dxs.create(&PostParams::default(), &dx("web", "web"))
        .await
        .unwrap();

    // the status: the root cause
    let d = eventually(
        "ImagePullNotFound as the root cause",
        Duration::from_secs(90),
        || async {
            let d = dxs.get("web").await.map_err(|e| e.to_string())?;
            let ok = d.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Degraded
                    && s.findings
                        .first()
                        .is_some_and(|f| f.rule_id == "ImagePullNotFound" && f.root_cause)
            });
            if ok {
                Ok(d)
            } else {
                Err(serde_json::to_string(&d.status).unwrap())
            }
        },
    )
    .await;
    let s = d.status.unwrap();
    assert_eq!(s.observed_generation, d.metadata.generation);
    assert_eq!(
        s.root_cause.as_deref(),
        Some(s.findings[0].message.as_str())
    );
    assert!(
        !s.findings.iter().any(|f| f.rule_id == "PermissionDenied"),
        "deploy/'s RBAC lets the controller read every kind: {:?}",
        s.findings.iter().map(|f| &f.message).collect::<Vec<_>>()
    );

    // the Events, published by this controller
    let events: Api<NewEvent> = Api::namespaced(client.clone(), &ns);
    eventually(
        "the ImagePullNotFound Event",
        Duration::from_secs(30),
        || async {
            let l = events
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let found = l.items.iter().any(|e| {
                e.reason.as_deref() == Some("ImagePullNotFound")
                    && e.type_.as_deref() == Some("Warning")
                    && e.reporting_controller.as_deref() == Some("kubedx")
                    && e.reporting_instance.as_deref() == Some("deploy-rbac")
                    && e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Diagnosis")
            });
            if found {
                Ok(())
            } else {
                Err(format!("{} events", l.items.len()))
            }
        },
    )
    .await;

    // the metrics
    eventually("the diagnosis' metrics", Duration::from_secs(20), || async {
        let f = [("namespace", ns.as_str()), ("diagnosis", "web")];
        let active = metric_sum(&ctl, "kubedx_finding_active", &[f[0], f[1], ("rule", "ImagePullNotFound"), ("severity", "Critical")]);
        let healthy = parse_metric(&ctl.metrics(), "kubedx_diagnosis_healthy");
        let last_run = metric_sum(&ctl, "kubedx_diagnosis_last_run_timestamp_seconds", &f);
        let critical = metric_sum(&ctl, "kubedx_diagnosis_findings", &[f[0], f[1], ("severity", "Critical")]);
        let unhealthy = healthy.iter().any(|s| {
            s.labels.get("namespace") == Some(&ns) && s.labels.get("target_name").map(String::as_str) == Some("web") && s.value == 0.0
        });
        if active == 1.0 && unhealthy && last_run > 1.0e9 && critical >= 1.0 {
            Ok(())
        } else {
            Err(format!("active {active}, unhealthy {unhealthy}, last_run {last_run}, critical {critical}"))
        }
    })
    .await;
    assert_eq!(
        metric_sum(&ctl, "kubedx_reconcile_errors_total", &[]),
        0.0,
        "no reconcile error with deploy/'s RBAC:\n{}",
        ctl.log_text()
    );

    // the Lease: deploy/'s Role lets it lead
    let leases: Api<Lease> =
        Api::namespaced(client.clone(), support::controller::CONTROLLER_NAMESPACE);
    let lease = leases.get("kubedx-controller").await.unwrap();
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some("deploy-rbac")
    );
    drop(ctl);
}

// ---------------------------------------------------------------------------------
// Every rule is needed.

/// Minimal Gateway API CRDs, so that the controller watches those kinds (it does
/// only where the cluster serves them) and the gateway rule has something to grant.
fn install_gateway_crds() {
    let crd = |plural: &str, kind: &str, scope: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": format!("{plural}.gateway.networking.k8s.io"),
                "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/2466"},
            },
            "spec": {
                "group": "gateway.networking.k8s.io",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
                "scope": scope,
                "versions": [{
                    "name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                }],
            },
        })
    };
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        crd("gatewayclasses", "GatewayClass", "Cluster"),
        crd("gateways", "Gateway", "Namespaced"),
        crd("httproutes", "HTTPRoute", "Namespaced"),
    ]});
    let file = cluster().dir.join("kubedx").join("gateway-crds.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, serde_json::to_vec(&list).unwrap()).unwrap();
    kubectl_ok(&["apply", "--server-side", "-f", file.to_str().unwrap()]);
    for p in ["gatewayclasses", "gateways", "httproutes"] {
        kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{p}.gateway.networking.k8s.io"),
            "--timeout=60s",
        ]);
    }
}

/// What removing a rule must visibly take away.
#[derive(Debug, Clone)]
enum Effect {
    /// The kinds become unreadable: the status has a PermissionDenied finding naming each.
    Denied(Vec<String>),
    /// Diagnoses cannot be read: nothing is ever reconciled, no status.
    NoDiagnoses,
    /// The status cannot be written: never written, status_patch errors.
    NoStatus,
    /// Events cannot be published: no Event, event_publish errors (and no status,
    /// since a reconcile publishes its Events first).
    NoEvents,
    /// The Lease cannot be taken: never leads, never reconciles.
    NoLease,
    /// The alert receiver cannot make Diagnoses: an alert's apply is denied.
    NoAlertDiagnoses,
}

fn effect_of(rule: &Rule, in_cluster_role: bool) -> Effect {
    let (groups, resources, _, verbs) = rule;
    if !in_cluster_role {
        assert_eq!(
            groups,
            &["coordination.k8s.io"],
            "unreviewed Role rule {rule:?}"
        );
        return Effect::NoLease;
    }
    match (groups[0].as_str(), resources[0].as_str()) {
        ("kubedx.io", "diagnoses") if verbs.iter().any(|v| v == "create") => {
            Effect::NoAlertDiagnoses
        }
        ("kubedx.io", "diagnoses") => Effect::NoDiagnoses,
        ("kubedx.io", "diagnoses/status") => Effect::NoStatus,
        ("events.k8s.io", "events") => Effect::NoEvents,
        _ => {
            let kinds: Vec<String> = resources.clone();
            for r in &kinds {
                assert!(
                    Kind::ALL
                        .iter()
                        .any(|k| k.plural() == r && groups.contains(&k.group().to_string())),
                    "rule {rule:?} grants {r}, which the graph does not read: review it"
                );
            }
            Effect::Denied(kinds)
        }
    }
}

#[derive(Clone)]
struct Variant {
    /// e.g. "no-apps"
    label: String,
    namespace: String,
    effect: Effect,
    identity: Identity,
}

fn rule_label(rule: &Rule) -> String {
    let (groups, resources, _, _) = rule;
    let g = if groups[0].is_empty() {
        "core"
    } else {
        groups[0].as_str()
    };
    let more = match resources.len() {
        1 => String::new(),
        n => format!("-and-{}", n - 1),
    };
    format!(
        "no-{}-{}{more}",
        g.split('.').next().unwrap(),
        resources[0].replace('/', "-")
    )
}

/// Creates a namespace, a ServiceAccount bound to copies of deploy/'s roles minus
/// one rule, a token kubeconfig for it, and a Diagnosis of a missing Deployment.
async fn make_variant(
    label: &str,
    drop_cluster_rule: Option<usize>,
    drop_role_rule: Option<usize>,
    effect: Effect,
) -> Variant {
    let d = docs(RBAC);
    let ns = namespace(&format!("dx-rbac-{label}")).await;
    let admin = client().await;
    let pp = PostParams::default();
    let sa_name = "kubedx";
    let mut cr = find(&d, "ClusterRole").clone();
    if let Some(i) = drop_cluster_rule {
        cr["rules"].as_array_mut().unwrap().remove(i);
    }
    let cr_name = format!("kubedx-rbac-{ns}");
    cr["metadata"] = json!({"name": cr_name});
    let mut role = find(&d, "Role").clone();
    if let Some(i) = drop_role_rule {
        role["rules"].as_array_mut().unwrap().remove(i);
    }
    role["metadata"] = json!({"name": "kubedx-leader-election", "namespace": ns});
    let subject = json!([{"kind": "ServiceAccount", "name": sa_name, "namespace": ns}]);
    kubectl_ok(&["create", "serviceaccount", sa_name, "-n", &ns]);
    Api::<ClusterRole>::all(admin.clone())
        .create(&pp, &serde_json::from_value(cr).unwrap())
        .await
        .unwrap();
    Api::<ClusterRoleBinding>::all(admin.clone())
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": cr_name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cr_name},
                "subjects": subject,
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    Api::<Role>::namespaced(admin.clone(), &ns)
        .create(&pp, &serde_json::from_value(role).unwrap())
        .await
        .unwrap();
    Api::<RoleBinding>::namespaced(admin.clone(), &ns)
        .create(
            &pp,
            &serde_json::from_value(json!({
                "metadata": {"name": "kubedx-leader-election", "namespace": ns},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "kubedx-leader-election"},
                "subjects": subject,
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let token = kubectl_ok(&["create", "token", sa_name, "-n", &ns, "--duration=2h"]);
    let kubeconfig = token_kubeconfig(
        &cluster().kubeconfig,
        token.trim(),
        &cluster()
            .dir
            .join("kubedx")
            .join(format!("{ns}.kubeconfig")),
    );
    Api::<Diagnosis>::namespaced(admin.clone(), &ns)
        .create(&pp, &dx("probe", "web"))
        .await
        .unwrap();
    Variant {
        label: label.to_string(),
        namespace: ns.clone(),
        effect,
        identity: Identity {
            kubeconfig,
            namespace: ns,
        },
    }
}

/// Waits until RBAC grants the variant what its roles still hold (one probe per role).
fn wait_rbac(v: &Variant) {
    let user = format!("system:serviceaccount:{}:kubedx", v.namespace);
    let probe: Vec<Vec<String>> = match v.effect {
        Effect::NoLease => vec![vec!["list".into(), "pods".into(), "-A".into()]],
        Effect::Denied(ref kinds) if kinds.contains(&"pods".to_string()) => vec![
            vec!["list".into(), "deployments.apps".into(), "-A".into()],
            vec![
                "get".into(),
                "leases.coordination.k8s.io".into(),
                "-n".into(),
                v.namespace.clone(),
            ],
        ],
        _ => vec![
            vec!["list".into(), "pods".into(), "-A".into()],
            vec![
                "get".into(),
                "leases.coordination.k8s.io".into(),
                "-n".into(),
                v.namespace.clone(),
            ],
        ],
    };
    for p in probe {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut args = vec!["auth", "can-i"];
            args.extend(p.iter().map(String::as_str));
            args.extend(["--as", &user]);
            let out = kubectl(&args);
            if String::from_utf8_lossy(&out.stdout).trim() == "yes" {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "RBAC of {} not effective: {p:?}",
                v.label
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Whether the audit log records a 403 for `user` on `resource` (`verb` if given).
fn audit_denied(user: &str, resource: &str, subresource: Option<&str>) -> bool {
    let text = std::fs::read_to_string(cluster().audit_log()).unwrap_or_default();
    text.lines().any(|l| {
        if !l.contains(user) || !l.contains("403") {
            return false;
        }
        let Ok(v) = serde_json::from_str::<Value>(l) else {
            return false;
        };
        v["user"]["username"] == user
            && v["responseStatus"]["code"] == 403
            && v["objectRef"]["resource"] == resource
            && v["objectRef"]["subresource"].as_str() == subresource
    })
}

async fn status_of(ns: &str) -> Option<kubedx::api::DiagnosisStatus> {
    let dxs: Api<Diagnosis> = Api::namespaced(client().await, ns);
    dxs.get("probe").await.unwrap().status
}

async fn events_by(ns: &str, instance: &str) -> Vec<NewEvent> {
    let events: Api<NewEvent> = Api::namespaced(client().await, ns);
    events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reporting_instance.as_deref() == Some(instance))
        .collect()
}

/// The negative variants: none of them writes a status, so they run together.
async fn check_negative(variants: &[Variant]) {
    let mut procs: Vec<(&Variant, ControllerProcess)> = variants
        .iter()
        .map(|v| {
            let name = format!("rbac-{}", v.label);
            let lease_name = format!("kubedx-{}", v.label);
            let extra: Vec<&str> = match v.effect {
                Effect::NoLease => vec!["--leader-election", "--lease-name", &lease_name],
                _ => vec![],
            };
            (v, ControllerProcess::spawn_as(&name, &v.identity, &extra))
        })
        .collect();
    // positive signs first (each within 30 s), then a quiet period for the negative ones
    let started = Instant::now();
    for (v, p) in procs.iter_mut() {
        let user = format!("system:serviceaccount:{}:kubedx", v.namespace);
        let what = format!("{} ({:?})", v.label, v.effect);
        match v.effect {
            Effect::NoLease => {
                // it either fails outright on the Lease or runs without ever leading
                let deadline = Instant::now() + Duration::from_secs(30);
                while !audit_denied(&user, "leases", None) {
                    assert!(
                        Instant::now() < deadline,
                        "{what}: no denied Lease request\n{}",
                        p.log_text()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            _ => {
                p.wait_ready(Duration::from_secs(60))
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                let (metric, filter, resource, sub): (&str, Vec<(&str, &str)>, &str, Option<&str>) =
                    match v.effect {
                        Effect::NoDiagnoses => ("", vec![], "diagnoses", None),
                        Effect::NoStatus => (
                            "kubedx_reconcile_errors_total",
                            vec![("error", "status_patch")],
                            "diagnoses",
                            Some("status"),
                        ),
                        Effect::NoEvents => (
                            "kubedx_reconcile_errors_total",
                            vec![("error", "event_publish")],
                            "events",
                            None,
                        ),
                        _ => unreachable!(),
                    };
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let counted = metric.is_empty() || metric_sum(p, metric, &filter) >= 1.0;
                    if counted && audit_denied(&user, resource, sub) {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{what}: expected a denied {resource} request{}\n{}",
                        if metric.is_empty() {
                            String::new()
                        } else {
                            format!(" and {metric}{filter:?} >= 1")
                        },
                        p.log_text()
                    );
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }
    // let the quiet ones have every chance to (wrongly) succeed
    let quiet = Duration::from_secs(6);
    if started.elapsed() < quiet {
        std::thread::sleep(quiet - started.elapsed());
    }
    for (v, p) in procs.iter_mut() {
        let what = format!("{} ({:?})", v.label, v.effect);
        let name = format!("rbac-{}", v.label);
        let status = status_of(&v.namespace).await;
        assert!(
            status.is_none(),
            "{what}: the status was written: {}",
            serde_json::to_string(&status).unwrap()
        );
        let running = p.exited().is_none();
        if running {
            assert_eq!(
                metric_sum(p, "kubedx_reconciliations_total", &[("result", "success")]),
                0.0,
                "{what}: a reconcile succeeded"
            );
        }
        match v.effect {
            Effect::NoEvents => {
                assert!(
                    events_by(&v.namespace, &name).await.is_empty(),
                    "{what}: an Event was published"
                );
            }
            Effect::NoLease => {
                let leases: Api<Lease> = Api::namespaced(client().await, &v.namespace);
                let holder = leases
                    .get_opt(&format!("kubedx-{}", v.label))
                    .await
                    .unwrap()
                    .and_then(|l| l.spec)
                    .and_then(|s| s.holder_identity);
                assert_eq!(holder, None, "{what}: it took the Lease");
                assert!(!p.log_text().contains("became leader"), "{what}: it led");
            }
            Effect::NoDiagnoses => {
                assert_eq!(
                    metric_sum(p, "kubedx_reconciliations_total", &[]),
                    0.0,
                    "{what}: it reconciled without reading Diagnoses"
                );
            }
            _ => {}
        }
    }
}

/// A variant without the alert receiver's writes: an alert's Diagnosis is denied
/// (and so never made).
async fn check_no_alert_diagnoses(v: &Variant) {
    let name = format!("rbac-{}", v.label);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let token = cluster().dir.join("kubedx").join(format!("{name}.token"));
    std::fs::write(&token, "t0ken").unwrap();
    let addr = format!("127.0.0.1:{port}");
    let ctl = ControllerProcess::start_as(
        &name,
        &v.identity,
        &[
            "--alert-receiver-addr",
            &addr,
            "--alert-token-file",
            token.to_str().unwrap(),
        ],
    );
    let body = json!({"version": "4", "status": "firing", "alerts": [{
        "status": "firing", "fingerprint": "rbac",
        "labels": {"alertname": "KubeDeploymentReplicasMismatch", "namespace": v.namespace, "deployment": "web"},
    }]})
    .to_string();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST /v1/alertmanager HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer t0ken\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let user = format!("system:serviceaccount:{}:kubedx", v.namespace);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !audit_denied(&user, "diagnoses", None) {
        assert!(
            Instant::now() < deadline,
            "{}: no denied Diagnosis apply\n{}",
            v.label,
            ctl.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dxs: Api<Diagnosis> = Api::namespaced(client().await, &v.namespace);
    assert!(
        dxs.get_opt("alert-deployment-web").await.unwrap().is_none(),
        "{}: the alert's Diagnosis was made",
        v.label
    );
    drop(ctl);
}

/// A variant that cannot read some kinds: its own status names each of them.
async fn check_denied(v: &Variant, kinds: &[String]) {
    let name = format!("rbac-{}", v.label);
    let ctl = ControllerProcess::start_as(&name, &v.identity, &[]);
    let dxs: Api<Diagnosis> = Api::namespaced(client().await, &v.namespace);
    let want: BTreeSet<String> = kinds.iter().cloned().collect();
    let status = eventually(
        &format!("{}: PermissionDenied findings for {want:?}", v.label),
        Duration::from_secs(30),
        || async {
            let d = dxs.get("probe").await.map_err(|e| e.to_string())?;
            let s = d.status.ok_or("no status")?;
            let denied: BTreeSet<String> = s
                .findings
                .iter()
                .filter(|f| f.rule_id == "PermissionDenied")
                .filter_map(|f| {
                    f.message
                        .strip_prefix("Could not read ")
                        .and_then(|m| m.split(':').next())
                        .map(str::to_string)
                })
                .collect();
            if denied == want {
                Ok(s)
            } else {
                Err(format!("denied {denied:?}"))
            }
        },
    )
    .await;
    for k in kinds {
        let f = status
            .findings
            .iter()
            .find(|f| {
                f.rule_id == "PermissionDenied"
                    && f.message.starts_with(&format!("Could not read {k}:"))
            })
            .unwrap();
        assert!(
            f.evidence
                .iter()
                .any(|e| e.contains(&format!("resource \"{k}\"")) && e.contains("forbidden")),
            "{}: the evidence quotes the apiserver's refusal for {k}: {:?}",
            v.label,
            f.evidence
        );
        let kind = Kind::ALL.iter().find(|x| x.plural() == k).unwrap();
        assert!(
            metric_sum(&ctl, "kubedx_watch_errors_total", &[("kind", kind.name())]) >= 1.0,
            "{}: no watch error counted for {}",
            v.label,
            kind.name()
        );
    }
    // a denied kind does not hold readiness back
    assert_eq!(ctl.get("/readyz").map(|r| r.0), Some(200));
    drop(ctl);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rbac_rule_is_needed() {
    let t0 = Instant::now();
    // no other controller may write the status of the Diagnoses made below
    let _turn = WRITERS.lock().await;
    install();
    install_gateway_crds();
    let d = docs(RBAC);
    let cluster_rules = rules_of(find(&d, "ClusterRole"));
    let role_rules = rules_of(find(&d, "Role"));
    let mut plans = Vec::new();
    for (i, r) in cluster_rules.iter().enumerate() {
        plans.push((rule_label(r), Some(i), None, effect_of(r, true)));
    }
    for (i, r) in role_rules.iter().enumerate() {
        plans.push((
            format!("{}-{i}", rule_label(r)),
            None,
            Some(i),
            effect_of(r, false),
        ));
    }
    let variants: Vec<Variant> = futures::future::join_all(
        plans
            .into_iter()
            .map(|(label, c, r, e)| async move { make_variant(&label, c, r, e).await }),
    )
    .await;
    for v in &variants {
        wait_rbac(v);
    }
    eprintln!(
        "every_rbac_rule_is_needed: {} variants set up in {:.1}s",
        variants.len(),
        t0.elapsed().as_secs_f64()
    );

    let (negative, denied): (Vec<Variant>, Vec<Variant>) = variants
        .iter()
        .filter(|v| !matches!(v.effect, Effect::NoAlertDiagnoses))
        .cloned()
        .partition(|v| !matches!(v.effect, Effect::Denied(_)));
    check_negative(&negative).await;
    eprintln!(
        "every_rbac_rule_is_needed: {} negative variants checked at {:.1}s",
        negative.len(),
        t0.elapsed().as_secs_f64()
    );
    // the variants that write status take turns (each reconciles every Diagnosis)
    let mut checked = BTreeMap::new();
    for v in &denied {
        let Effect::Denied(kinds) = &v.effect else {
            unreachable!()
        };
        let t = Instant::now();
        check_denied(v, kinds).await;
        checked.insert(v.label.clone(), t.elapsed().as_secs_f64());
    }
    for v in variants
        .iter()
        .filter(|v| matches!(v.effect, Effect::NoAlertDiagnoses))
    {
        check_no_alert_diagnoses(v).await;
    }
    eprintln!(
        "every_rbac_rule_is_needed: done in {:.1}s (denied variants: {checked:?})",
        t0.elapsed().as_secs_f64()
    );
    assert_eq!(
        variants.len(),
        cluster_rules.len() + role_rules.len(),
        "one variant per rule"
    );
}
