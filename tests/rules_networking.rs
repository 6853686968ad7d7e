//! The `networking` rule set on realistic object state (tests/fixtures/networking/).
//!
//! Scenarios are layered: `cluster.yaml` (a node, kube-system with CoreDNS behind
//! kube-dns) + `web.yaml` (a healthy shop/web behind a Service and an Ingress) +
//! the files of the scenario; a later object replaces an earlier one of the same name.

use kubedx::api::{RuleSetName, Severity};
use kubedx::model::Kind;
use kubedx::testing::{describe, diagnose_yaml, explained_by, finding, findings, has, top};

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/networking/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// cluster.yaml + web.yaml + the given files, as one snapshot.
fn scenario(files: &[&str]) -> String {
    let mut docs = vec![fixture("cluster.yaml"), fixture("web.yaml")];
    docs.extend(files.iter().map(|f| fixture(f)));
    docs.join("\n---\n")
}

/// Networking findings at Warning or above.
fn net_warnings(r: &kubedx::engine::Report) -> Vec<String> {
    r.status
        .findings
        .iter()
        .filter(|f| f.rule_set == RuleSetName::Networking && f.severity >= Severity::Warning)
        .map(|f| format!("{} on {}/{}", f.rule_id, f.object.kind, f.object.name))
        .collect()
}

fn assert_net_silent(r: &kubedx::engine::Report) {
    assert!(
        net_warnings(r).is_empty(),
        "expected no networking Warning/Critical: {}",
        describe(r)
    );
}

/// The single finding of a rule about the object named `name`.
fn on<'a>(r: &'a kubedx::engine::Report, rule: &str, name: &str) -> &'a kubedx::api::Finding {
    let f: Vec<_> = findings(r, rule)
        .into_iter()
        .filter(|f| f.object.name == name)
        .collect();
    assert_eq!(f.len(), 1, "expected one {rule} on {name}: {}", describe(r));
    f[0]
}

fn has_on(r: &kubedx::engine::Report, rule: &str, name: &str) -> bool {
    findings(r, rule).iter().any(|f| f.object.name == name)
}

/// Networking Warning/Critical findings about the named objects. (The graph of a
/// target holds its whole traffic path: sibling Services of the same Pods and what
/// fronts them, whose own problems are reported too.)
fn assert_net_silent_on(r: &kubedx::engine::Report, names: &[&str]) {
    let bad: Vec<_> = r
        .status
        .findings
        .iter()
        .filter(|f| f.rule_set == RuleSetName::Networking && f.severity >= Severity::Warning)
        .filter(|f| names.contains(&f.object.name.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "expected no networking Warning/Critical on {names:?}: {}",
        describe(r)
    );
}

/// Drops the documents that contain any of `needles`.
fn without(y: &str, needles: &[&str]) -> String {
    y.split("\n---\n")
        .filter(|d| !needles.iter().any(|n| d.contains(n)))
        .collect::<Vec<_>>()
        .join("\n---\n")
}

// ---- healthy ---------------------------------------------------------------------------

#[test]
fn healthy_web_is_silent_from_every_angle() {
    let y = scenario(&[]);
    for t in [
        "Deployment/shop/web",
        "Service/shop/web",
        "Ingress/shop/web",
        "Pod/shop/web-7c9f8d6b5-abcde",
        "Namespace/shop",
    ] {
        let r = diagnose_yaml(&y, t);
        assert_net_silent(&r);
        assert!(!has(&r, "ServiceSingleEndpoint"), "{t}: {}", describe(&r));
    }
}

// ---- Services --------------------------------------------------------------------------

#[test]
fn selector_typo_names_the_nearest_pods_and_the_differing_label() {
    let r = diagnose_yaml(&scenario(&["selector_typo.yaml"]), "Service/shop/payments");
    let f = finding(&r, "ServiceSelectorMatchesNoPods");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.edge.as_deref(), Some("Service -> Pod"));
    assert!(
        f.message.contains(r#""payments" vs "payment""#),
        "{}",
        f.message
    );
    assert!(f.message.contains("payment-6f7d9c8b4-"), "{}", f.message);
    assert!(
        f.evidence.iter().any(|e| e.contains("2 Pod(s)")
            && e.contains(r#"app.kubernetes.io/name: "payments" vs "payment""#)),
        "{:?}",
        f.evidence
    );
    // the component label matches: it is not reported as a difference
    assert!(
        !f.message
            .split("differ in")
            .nth(1)
            .unwrap()
            .contains("component"),
        "{}",
        f.message
    );
    assert!(!has(&r, "ServiceNoReadyEndpoints"));
    assert_eq!(top(&r).rule_id, "ServiceSelectorMatchesNoPods");
}

#[test]
fn selector_matching_a_workload_scaled_to_zero_says_so() {
    let y = scenario(&["ports.yaml"]).replace(
        "  replicas: 2\n  selector:\n    matchLabels: {app: web}",
        "  replicas: 0\n  selector:\n    matchLabels: {app: web}",
    );
    // no Pods left
    let y: String = y
        .split("\n---\n")
        .filter(|d| !(d.contains("kind: Pod\n") && d.contains("app: web")))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let r = diagnose_yaml(&y, "Service/shop/web");
    let f = finding(&r, "ServiceSelectorMatchesNoPods");
    assert!(
        f.message
            .contains("Deployment web matches but is scaled to 0"),
        "{}",
        f.message
    );
}

#[test]
fn no_ready_endpoints_when_every_selected_pod_is_unready() {
    let r = diagnose_yaml(&scenario(&["api_not_ready.yaml"]), "Service/shop/api");
    let f = finding(&r, "ServiceNoReadyEndpoints");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("2 endpoint(s), 0 ready")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("api-5b6c7d8e9f-k4m2n")
                && e.contains("not ready (ContainersNotReady)")),
        "{:?}",
        f.evidence
    );
    assert!(!has(&r, "ServiceSelectorMatchesNoPods"));
    assert!(!has(&r, "ServiceTargetPortMismatch"));
}

#[test]
fn publish_not_ready_addresses_is_not_a_missing_endpoint() {
    let y = scenario(&["api_not_ready.yaml"]).replace(
        "  selector: {app: api}\n  type: ClusterIP",
        "  selector: {app: api}\n  publishNotReadyAddresses: true\n  type: ClusterIP",
    );
    let r = diagnose_yaml(&y, "Service/shop/api");
    assert!(!has(&r, "ServiceNoReadyEndpoints"), "{}", describe(&r));
}

#[test]
fn target_port_name_and_number_that_no_container_declares() {
    let y = scenario(&["ports.yaml"]);
    let r = diagnose_yaml(&y, "Service/shop/web-named-typo");
    let f = on(&r, "ServiceTargetPortMismatch", "web-named-typo");
    assert!(
        f.evidence[0].contains(r#"targetPort "web-http""#),
        "{:?}",
        f.evidence
    );
    assert!(f.evidence[0].contains("http=8080/TCP"), "{:?}", f.evidence);
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));

    let r = diagnose_yaml(&y, "Service/shop/web-wrong-number");
    let f = on(&r, "ServiceTargetPortMismatch", "web-wrong-number");
    assert!(
        f.evidence[0].contains("targetPort 8081/TCP"),
        "{:?}",
        f.evidence
    );
}

#[test]
fn target_port_look_alikes_stay_silent() {
    let y = scenario(&["ports.yaml"]);
    for t in [
        // named port that resolves (web.yaml's Service web: targetPort http)
        "Service/shop/web",
        // numeric port that the Pods declare
        "Service/shop/web-by-number",
        // numeric targetPort on Pods that declare no ports at all
        "Service/shop/legacy",
        // headless: clients reach the Pods' ports directly
        "Service/shop/web-headless",
        // no selector: endpoints managed by hand
        "Service/shop/external-db",
        // ExternalName: a DNS alias
        "Service/shop/billing",
    ] {
        let r = diagnose_yaml(&y, t);
        let name = t.rsplit('/').next().unwrap();
        assert_net_silent_on(&r, &[name]);
        assert!(
            !has_on(&r, "ServiceTargetPortMismatch", name),
            "{t}: {}",
            describe(&r)
        );
        assert!(
            !has_on(&r, "ServiceSelectorMatchesNoPods", name),
            "{t}: {}",
            describe(&r)
        );
    }
}

#[test]
fn single_ready_endpoint_of_a_replicated_workload_is_info() {
    let y = scenario(&[]).replace(
        r#"{type: Ready, status: "True", lastTransitionTime: "2026-11-20T09:00:21Z"}"#,
        r#"{type: Ready, status: "False", reason: ContainersNotReady, message: "containers with unready status: [web]", lastTransitionTime: "2026-11-21T09:50:00Z"}"#,
    );
    let r = diagnose_yaml(&y, "Service/shop/web");
    let f = finding(&r, "ServiceSingleEndpoint");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.contains("web-7c9f8d6b5-abcde"), "{}", f.message);
    assert!(f.message.contains("wants 2 replicas"), "{}", f.message);
    assert!(!has(&r, "ServiceNoReadyEndpoints"));
}

// ---- Ingress ---------------------------------------------------------------------------

#[test]
fn ingress_class_missing_explicit_and_legacy_annotation() {
    let y = scenario(&["ingress.yaml"]);
    let r = diagnose_yaml(&y, "Ingress/shop/web-class-typo");
    let f = on(&r, "IngressClassNotFound", "web-class-typo");
    assert!(f.message.contains("ngnix"), "{}", f.message);
    assert!(f.message.contains("did you mean nginx"), "{}", f.message);
    assert_eq!(f.edge.as_deref(), Some("Ingress -> IngressClass"));

    let r = diagnose_yaml(&y, "Ingress/shop/web-legacy-annotation");
    let f = on(&r, "IngressClassNotFound", "web-legacy-annotation");
    assert!(
        f.message.contains("kubernetes.io/ingress.class"),
        "{}",
        f.message
    );

    // no class, but nginx is the default: fine
    let r = diagnose_yaml(&y, "Ingress/shop/web-no-class");
    assert!(
        !has_on(&r, "IngressClassNotFound", "web-no-class"),
        "{}",
        describe(&r)
    );
    assert_net_silent_on(&r, &["web-no-class", "web"]);
}

#[test]
fn ingress_without_class_and_without_default_class() {
    let y = scenario(&["ingress.yaml"]).replace(
        "  annotations: {ingressclass.kubernetes.io/is-default-class: \"true\"}\n",
        "",
    );
    let r = diagnose_yaml(&y, "Ingress/shop/web-no-class");
    let f = on(&r, "IngressClassNotFound", "web-no-class");
    assert!(
        f.message.contains("no IngressClass is marked default"),
        "{}",
        f.message
    );
}

#[test]
fn ingress_backend_service_not_found() {
    let r = diagnose_yaml(&scenario(&["ingress.yaml"]), "Ingress/shop/web-api");
    let f = on(&r, "IngressBackendServiceNotFound", "web-api");
    assert_eq!(f.object.kind, "Ingress");
    assert_eq!(f.edge.as_deref(), Some("Ingress -> Service"));
    assert!(f.message.contains("web-api"), "{}", f.message);
    assert!(f.message.contains("d.example.com/api"), "{}", f.message);
    assert!(f.message.contains("similar Services: web"), "{}", f.message);
}

#[test]
fn ingress_backend_port_not_exposed_by_the_service() {
    let y = scenario(&["ingress.yaml"]);
    let r = diagnose_yaml(&y, "Ingress/shop/web-container-port");
    let f = on(&r, "IngressBackendPortNotFound", "web-container-port");
    assert!(f.message.contains("port 8080"), "{}", f.message);
    assert!(
        f.evidence.iter().any(|e| e.contains("http: 80 -> http")),
        "{:?}",
        f.evidence
    );
    let r = diagnose_yaml(&y, "Ingress/shop/web-port-name-typo");
    let f = on(&r, "IngressBackendPortNotFound", "web-port-name-typo");
    assert!(f.message.contains("port https"), "{}", f.message);
    // by name or number, the right port is silent
    let r = diagnose_yaml(&y, "Ingress/shop/web");
    assert!(!has_on(&r, "IngressBackendPortNotFound", "web"));
}

#[test]
fn ingress_tls_secret_not_found_only_when_secrets_were_read() {
    let y = scenario(&["ingress.yaml"]);
    let r = diagnose_yaml(&y, "Ingress/shop/web-tls");
    let f = on(&r, "IngressTLSSecretNotFound", "web-tls");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("f-example-com-tls"), "{}", f.message);
    // a snapshot without any Secret of the namespace proves nothing: unverified, with
    // what to check, never missing and never silent
    let y: String = y
        .split("\n---\n")
        .filter(|d| !d.contains("kind: Secret"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let r = diagnose_yaml(&y, "Ingress/shop/web-tls");
    assert!(!has(&r, "IngressTLSSecretNotFound"), "{}", describe(&r));
    let f = on(&r, "SecretUnverified", "f-example-com-tls");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.message.contains("the input holds no Secrets of shop")
            && f.remediation.steps.iter().any(|s| s.command.as_deref()
                == Some("kubectl get secret f-example-com-tls -n shop -o name")),
        "{f:#?}"
    );
    // an install without Secret access: unverified, with why, never missing
    let mut store = kubedx::testing::store(&y);
    store.mark_unread(
        kubedx::model::Kind::Secret,
        "kubedx runs without Secret access (controller --secrets none)",
    );
    let opts = kubedx::rules::DiagnoseOptions::new(kubedx::engine::snapshot_now(&store));
    let r = kubedx::engine::diagnose(
        &store,
        &kubedx::testing::target("Ingress/shop/web-tls"),
        &opts,
        None,
    );
    assert!(!has(&r, "IngressTLSSecretNotFound"), "{}", describe(&r));
    let f = on(&r, "SecretUnverified", "f-example-com-tls");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.evidence
            .iter()
            .any(|e| e
                == "unverified: kubedx runs without Secret access (controller --secrets none)"),
        "{f:#?}"
    );
}

#[test]
fn an_ingress_whose_tls_secret_is_in_the_input_is_verified() {
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: f-example-com-tls, namespace: shop}\ntype: kubernetes.io/tls\n";
    let y = format!("{}\n---\n{secret}", scenario(&["ingress.yaml"]));
    let r = diagnose_yaml(&y, "Ingress/shop/web-tls");
    assert!(!has(&r, "IngressTLSSecretNotFound"), "{}", describe(&r));
    assert!(!has(&r, "SecretUnverified"), "{}", describe(&r));
}

#[test]
fn ingress_over_a_service_with_no_ready_endpoints_is_explained_by_it() {
    let r = diagnose_yaml(&scenario(&["api_not_ready.yaml"]), "Ingress/shop/api");
    assert!(has(&r, "ServiceNoReadyEndpoints"), "{}", describe(&r));
    assert!(!has(&r, "IngressBackendServiceNotFound"));
    assert!(!has(&r, "IngressBackendPortNotFound"));
}

// ---- Gateway API -----------------------------------------------------------------------

#[test]
fn gateway_api_healthy_route_is_silent() {
    // only the healthy route and its Gateway
    let y = without(
        &scenario(&["gateway.yaml"]),
        &[
            "name: internal",
            "name: web-other-host",
            "name: web-gateway-typo",
            "name: web-v2",
        ],
    );
    let r = diagnose_yaml(&y, "HTTPRoute/shop/web");
    assert_net_silent(&r);
}

#[test]
fn httproute_not_accepted_shows_the_reason() {
    let r = diagnose_yaml(
        &scenario(&["gateway.yaml"]),
        "HTTPRoute/shop/web-other-host",
    );
    let f = on(&r, "HTTPRouteNotAccepted", "web-other-host");
    assert!(
        f.message.contains("NoMatchingListenerHostname"),
        "{}",
        f.message
    );
    assert!(f.message.contains("shop/public"), "{}", f.message);
    assert!(!has_on(&r, "GatewayNotProgrammed", "public"));
}

#[test]
fn gateway_not_found_when_gateways_were_read() {
    let y = scenario(&["gateway.yaml"]);
    let r = diagnose_yaml(&y, "HTTPRoute/shop/web-gateway-typo");
    let f = on(&r, "GatewayNotFound", "web-gateway-typo");
    assert!(f.message.contains("shop/pubilc"), "{}", f.message);
    assert!(
        f.evidence.iter().any(|e| e.contains("internal, public")),
        "{:?}",
        f.evidence
    );
    // a snapshot holding no Gateway at all (no CRDs, or not captured): nothing to say
    let y: String = y
        .split("\n---\n")
        .filter(|d| !d.contains("kind: Gateway\n"))
        .collect::<Vec<_>>()
        .join("\n---\n");
    let r = diagnose_yaml(&y, "HTTPRoute/shop/web-gateway-typo");
    assert!(!has(&r, "GatewayNotFound"), "{}", describe(&r));
}

#[test]
fn httproute_backend_not_found_from_status_and_spec() {
    let r = diagnose_yaml(&scenario(&["gateway.yaml"]), "HTTPRoute/shop/web-v2");
    let f = on(&r, "HTTPRouteBackendNotFound", "web-v2");
    assert!(f.message.contains("BackendNotFound"), "{}", f.message);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("Service shop/web-v2 does not exist")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn gateway_not_programmed_explains_its_routes() {
    let r = diagnose_yaml(&scenario(&["gateway.yaml"]), "HTTPRoute/shop/web-internal");
    let f = on(&r, "GatewayNotProgrammed", "internal");
    // the route is accepted; its Gateway has no address: the Gateway is the finding
    assert!(!has_on(&r, "HTTPRouteNotAccepted", "web-internal"));
    assert!(f.message.contains("AddressNotAssigned"), "{}", f.message);
}

// ---- NetworkPolicy ---------------------------------------------------------------------

#[test]
fn default_deny_egress_without_dns_blocks_dns() {
    let r = diagnose_yaml(&scenario(&["deny_egress.yaml"]), "Deployment/shop/web");
    let f = finding(&r, "NetworkPolicyBlocksDNS");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "NetworkPolicy");
    assert_eq!(f.affected.as_ref().map(|a| a.count), Some(2));
    assert!(f.message.contains("default-deny-egress"), "{}", f.message);
    assert!(f.message.contains("10.96.0.10"), "{}", f.message);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("web-to-postgres") && e.contains("TCP/5432")),
        "{:?}",
        f.evidence
    );
    assert!(
        f.remediation
            .steps
            .iter()
            .any(|s| s.command.as_deref().is_some_and(|c| c.contains("port: 53")))
    );
}

#[test]
fn dns_allowing_look_alikes_stay_silent() {
    for allow in [
        "allow_dns_seed.yaml",
        "allow_dns_any_namespace.yaml",
        "allow_dns_named_port.yaml",
    ] {
        let r = diagnose_yaml(
            &scenario(&["deny_egress.yaml", allow]),
            "Deployment/shop/web",
        );
        assert!(
            !has(&r, "NetworkPolicyBlocksDNS"),
            "{allow}: {}",
            describe(&r)
        );
        assert_net_silent(&r);
    }
}

#[test]
fn pod_selector_without_namespace_selector_does_not_reach_kube_system() {
    let r = diagnose_yaml(
        &scenario(&["deny_egress.yaml", "allow_dns_wrong_namespace.yaml"]),
        "Deployment/shop/web",
    );
    let f = finding(&r, "NetworkPolicyBlocksDNS");
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains("allow-dns") && e.contains("podSelector k8s-app=kube-dns")),
        "{:?}",
        f.evidence
    );
}

#[test]
fn ingress_controller_blocked_by_a_namespace_only_policy() {
    let r = diagnose_yaml(
        &scenario(&["ingress_nginx.yaml", "deny_ingress.yaml"]),
        "Ingress/shop/web",
    );
    let f = finding(&r, "NetworkPolicyBlocksIngress");
    assert_eq!(f.severity, Severity::Warning);
    assert!(
        f.message
            .contains("ingress-nginx-controller-6b9d4f5c7-2mz8v"),
        "{}",
        f.message
    );
    assert!(f.message.contains("TCP/8080"), "{}", f.message);
    // admitting the controller's namespace and Pods on the named port fixes it
    let r = diagnose_yaml(
        &scenario(&[
            "ingress_nginx.yaml",
            "deny_ingress.yaml",
            "allow_from_ingress_nginx.yaml",
        ]),
        "Ingress/shop/web",
    );
    assert!(!has(&r, "NetworkPolicyBlocksIngress"), "{}", describe(&r));
    assert_net_silent(&r);
}

#[test]
fn unknown_ingress_controller_is_not_guessed() {
    // Without controller Pods we can find, a policy that admits the namespace's own
    // Pods may well be right: say nothing.
    let r = diagnose_yaml(&scenario(&["deny_ingress.yaml"]), "Ingress/shop/web");
    assert!(!has(&r, "NetworkPolicyBlocksIngress"), "{}", describe(&r));
}

#[test]
fn deny_all_ingress_on_pods_behind_a_service() {
    let r = diagnose_yaml(
        &(scenario(&[])
            + "\n---\n"
            + fixture("deny_ingress.yaml")
                .split("\n---\n")
                .next()
                .unwrap()),
        "Service/shop/web",
    );
    let f = finding(&r, "NetworkPolicyBlocksIngress");
    assert!(
        f.message
            .contains("no ingress rule admits any client on TCP/8080"),
        "{}",
        f.message
    );
}

#[test]
fn policy_selecting_no_pods_is_info_with_the_nearest_miss() {
    let r = diagnose_yaml(
        &scenario(&["policy_selects_nothing.yaml"]),
        "Deployment/shop/web",
    );
    let f = finding(&r, "NetworkPolicySelectsNoPods");
    assert_eq!(f.severity, Severity::Info);
    assert!(
        f.evidence
            .iter()
            .any(|e| e.contains(r#"app: "wbe" vs "web""#)),
        "{:?}",
        f.evidence
    );
    assert_net_silent(&r);
}

// ---- cluster DNS -----------------------------------------------------------------------

#[test]
fn cluster_dns_down_when_coredns_crashloops() {
    let r = diagnose_yaml(&scenario(&["coredns_down.yaml"]), "Deployment/shop/web");
    let f = finding(&r, "ClusterDNSUnavailable");
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(f.object.kind, "Service");
    assert_eq!(f.object.name, "kube-dns");
    assert!(
        f.message.contains("none of the 2 CoreDNS Pod(s)"),
        "{}",
        f.message
    );
    assert!(
        f.evidence.iter().any(|e| e.contains("plugin/loop: Loop")),
        "{:?}",
        f.evidence
    );
    assert_eq!(top(&r).rule_id, "ClusterDNSUnavailable");
}

#[test]
fn cluster_dns_partly_down_is_a_warning() {
    let down = fixture("coredns_down.yaml");
    // keep only the first (broken) CoreDNS Pod
    let one: Vec<&str> = down
        .split("\n---\n")
        .filter(|d| {
            !d.contains("name: coredns-5d78c9869d-q7wzt\n") && !d.contains("kind: EndpointSlice")
        })
        .collect();
    let y = scenario(&[]) + "\n---\n" + &one.join("\n---\n");
    let r = diagnose_yaml(&y, "Deployment/shop/web");
    let f = finding(&r, "ClusterDNSUnavailable");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("1 of 2"), "{}", f.message);
}

#[test]
fn findings_name_real_objects() {
    // every networking finding of every scenario is about an object of a known kind
    let y = scenario(&[
        "selector_typo.yaml",
        "ports.yaml",
        "ingress.yaml",
        "gateway.yaml",
        "deny_egress.yaml",
    ]);
    let r = diagnose_yaml(&y, "Namespace/shop");
    for f in findings(&r, "NetworkPolicyBlocksDNS") {
        assert!(Kind::from_api_kind(&f.object.kind).is_some());
    }
    assert!(has(&r, "ServiceSelectorMatchesNoPods"), "{}", describe(&r));
    assert!(has(&r, "IngressBackendServiceNotFound"), "{}", describe(&r));
    assert!(has(&r, "HTTPRouteNotAccepted"), "{}", describe(&r));
    let dns = finding(&r, "NetworkPolicyBlocksDNS");
    let _ = explained_by(&r, dns, dns);
}

// ---- dependencies named by evidence ------------------------------------------------------

/// shop/api's evidence (one of the `api_*_names_db.yaml` files) names db/postgres,
/// whose Pods are behind `db` (a `db_*.yaml` file).
fn calling_db(caller: &str, db: &str) -> kubedx::engine::Report {
    diagnose_yaml(
        &scenario(&["db_service.yaml", db, caller]),
        "Deployment/shop/api",
    )
}

/// The DependencyUnavailable of shop/api on db/postgres: Critical, on the callers'
/// ReplicaSet, explaining their readiness failures and explained by the database's
/// own crash loop, which is the first finding.
fn assert_points_at_crashing_db(r: &kubedx::engine::Report) -> &kubedx::api::Finding {
    let dep = finding(r, "DependencyUnavailable");
    assert_eq!(dep.severity, Severity::Critical, "{}", describe(r));
    assert_eq!(dep.object.name, "api-7c9d8b6f5d");
    assert_eq!(dep.edge.as_deref(), Some("Pod -> Service"));
    assert!(
        dep.message
            .starts_with("Deployment api depends on Service postgres.db, which has no ready endpoints (none of its 1 Pod(s) is ready)"),
        "{}",
        dep.message
    );
    assert!(
        dep.evidence
            .iter()
            .any(|e| e.contains("postgres-6f7d8c9b5d-h2x7q") && e.contains("CrashLoopBackOff")),
        "{:?}",
        dep.evidence
    );
    let crash = on(r, "ContainerCrashing", "postgres-6f7d8c9b5d");
    assert_eq!(top(r).id, crash.id, "{}", describe(r));
    assert!(explained_by(r, dep, crash), "{}", describe(r));
    assert!(
        explained_by(r, dep, on(r, "ServiceNoReadyEndpoints", "postgres")),
        "{}",
        describe(r)
    );
    let readiness = finding(r, "ReadinessProbeFailing");
    assert!(explained_by(r, readiness, dep), "{}", describe(r));
    assert!(
        explained_by(r, on(r, "ServiceNoReadyEndpoints", "api"), dep),
        "{}",
        describe(r)
    );
    dep
}

#[test]
fn dependency_named_by_a_probe_message() {
    let r = calling_db("api_probe_names_db.yaml", "db_crashing.yaml");
    let dep = assert_points_at_crashing_db(&r);
    assert!(
        dep.message.ends_with("named in readiness probe failures"),
        "{}",
        dep.message
    );
    assert!(
        dep.evidence.iter().any(|e| e.starts_with("api-7c9d8b6f5d-k4m2n readiness probe failures: Readiness probe failed: psql: error: connection to server at \"postgres.db.svc.cluster.local\" (10.96.40.12), port 5432 failed: Connection refused | Is the server running")),
        "{:?}",
        dep.evidence
    );
}

#[test]
fn dependency_named_by_an_env_url_shows_the_variable_not_its_value() {
    let r = calling_db("api_env_names_db.yaml", "db_crashing.yaml");
    let dep = assert_points_at_crashing_db(&r);
    assert!(
        dep.evidence.contains(
            &"api-7c9d8b6f5d-k4m2n env DATABASE_URL of container api names postgres.db:5432"
                .to_owned()
        ),
        "{:?}",
        dep.evidence
    );
    // neither the URL (its user) nor the Secret the password comes from is shown
    let all = format!("{} {:?}", dep.message, dep.evidence);
    for secret in [
        "app@",
        "sslmode",
        "czNjcmV0LXBn",
        "s3cret",
        "PGPASSWORD",
        "api-db",
    ] {
        assert!(!all.contains(secret), "{secret} in {all}");
    }
}

#[test]
fn dependency_named_by_a_configmap_value() {
    let r = calling_db("api_configmap_names_db.yaml", "db_crashing.yaml");
    let dep = assert_points_at_crashing_db(&r);
    assert_eq!(
        dep.evidence[0],
        "api-7c9d8b6f5d-k4m2n ConfigMap api-config key DB_HOST names postgres.db"
    );
    // DB_NAME: postgres is a database name, not an address
    assert!(
        !dep.evidence.iter().any(|e| e.contains("DB_NAME")),
        "{:?}",
        dep.evidence
    );
}

#[test]
fn dependency_named_by_its_cluster_ip() {
    let r = calling_db("api_clusterip_names_db.yaml", "db_crashing.yaml");
    let dep = assert_points_at_crashing_db(&r);
    assert!(
        dep.evidence
            .iter()
            .any(|e| e.contains("dial tcp 10.96.40.12:5432: connect: connection refused")),
        "{:?}",
        dep.evidence
    );
}

#[test]
fn dependency_scaled_to_zero_is_the_root_cause() {
    let r = calling_db("api_env_names_db.yaml", "db_scaled_zero.yaml");
    let dep = finding(&r, "DependencyUnavailable");
    assert!(
        dep.message.contains("Deployment postgres is scaled to 0"),
        "{}",
        dep.message
    );
    let root = top(&r);
    assert_eq!(
        root.rule_id,
        "ServiceSelectorMatchesNoPods",
        "{}",
        describe(&r)
    );
    assert_eq!(root.object.name, "postgres");
    assert!(root.message.contains("scaled to 0"), "{}", root.message);
    // the selector is right: no near-miss Pods, the fix is to scale it back up
    assert!(!root.message.contains("nearest Pods"), "{}", root.message);
    assert!(
        root.remediation
            .summary
            .starts_with("Scale Deployment postgres back up"),
        "{:?}",
        root.remediation
    );
    assert!(
        root.remediation.steps.iter().any(|s| s
            .command
            .as_deref()
            .is_some_and(|c| c.starts_with("kubectl scale deployment -n ")
                && c.contains("postgres --replicas="))),
        "{:#?}",
        root.remediation.steps
    );
    assert!(explained_by(&r, dep, root), "{}", describe(&r));
    assert!(
        explained_by(&r, finding(&r, "ReadinessProbeFailing"), root),
        "{}",
        describe(&r)
    );
}

#[test]
fn a_healthy_dependency_in_another_namespace_is_no_finding() {
    for caller in [
        "api_probe_names_db.yaml",
        "api_env_names_db.yaml",
        "api_configmap_names_db.yaml",
        "api_clusterip_names_db.yaml",
    ] {
        let r = calling_db(caller, "db_healthy.yaml");
        assert!(
            !has(&r, "DependencyUnavailable"),
            "{caller}: {}",
            describe(&r)
        );
        // the healthy database is not walked into: nothing about it is reported
        assert!(
            r.status
                .findings
                .iter()
                .all(|f| f.object.namespace.as_deref() != Some("db")),
            "{caller}: {}",
            describe(&r)
        );
        assert_eq!(
            top(&r).rule_id,
            "ReadinessProbeFailing",
            "{caller}: {}",
            describe(&r)
        );
    }
}

#[test]
fn a_named_service_that_does_not_exist_is_not_unavailable() {
    let r = calling_db("api_env_names_missing.yaml", "db_crashing.yaml");
    assert!(!has(&r, "DependencyUnavailable"), "{}", describe(&r));
    assert!(
        r.status
            .findings
            .iter()
            .all(|f| f.object.namespace.as_deref() != Some("db")),
        "{}",
        describe(&r)
    );
}

#[test]
fn ready_callers_of_an_unavailable_dependency_get_only_an_info() {
    // the same configuration naming the crash-looping database, but the API's Pods
    // are ready (the database is optional to it): nothing broken on its side
    let y = scenario(&["db_service.yaml", "db_crashing.yaml", "api_configmap_names_db.yaml"])
        .replace("ready: false, restartCount: 0", "ready: true, restartCount: 0")
        .replace(
            r#"{type: Ready, status: "False", reason: ContainersNotReady, message: "containers with unready status: [api]""#,
            r#"{type: Ready, status: "True""#,
        );
    let r = diagnose_yaml(&y, "Deployment/shop/api");
    let dep = finding(&r, "DependencyUnavailable");
    assert_eq!(dep.severity, Severity::Info, "{}", describe(&r));
    assert!(
        dep.message.ends_with("the Pods are ready for now"),
        "{}",
        dep.message
    );
}
