//! NetworkPolicyBlocksIngress: policies isolate the ingress of the Pods behind a
//! Service and no ingress rule admits what fronts it (an ingress controller's Pods,
//! a Gateway's Pods) or, when nothing we can name fronts it, any client at all.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::{IngressClass, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::Risk;
use crate::graph::EdgeKind;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::{name_list, pod_ref, pod_terminal};
use crate::rules::{Draft, RuleContext};
use crate::selector::Selector;

use super::eval::{
    Direction, Endpoint, Tri, anyone_admitted, applies, describe_rules, evaluate_connection,
};
use super::{namespace_labels, selecting_policies};

/// Pods behind a Service grouped by the policies isolating them: (Pods, reasons, scope).
type IngressGroup = (Vec<ObjRef>, Vec<String>, Vec<ObjRef>);

/// What fronts a Service: the sources its Pods must admit, as far as the graph says.
struct Front {
    /// `Ingress shop/web via IngressClass nginx (controller Pods ingress-nginx/...)`.
    what: String,
    scope: Vec<ObjRef>,
    sources: Vec<Endpoint>,
}

/// Pods of the controller of an IngressClass, found by the conventions of the common
/// controllers (ingress-nginx, Traefik, HAProxy, Contour, Kong, ...). `None` when the
/// controller is not one we know how to find: we then say nothing about it.
fn ingress_controller_pods<'a>(ctx: &RuleContext<'a>, class: &IngressClass) -> Vec<&'a Pod> {
    let controller = class
        .spec
        .as_ref()
        .and_then(|s| s.controller.as_deref())
        .unwrap_or_default();
    let names: &[&str] = match controller {
        "k8s.io/ingress-nginx" => &["ingress-nginx"],
        "traefik.io/ingress-controller" => &["traefik"],
        "haproxy.org/ingress-controller" | "haproxy-ingress.github.io/controller" => {
            &["kubernetes-ingress", "haproxy-ingress"]
        }
        "projectcontour.io/ingress-controller" | "projectcontour.io/contour" => &["contour"],
        "ingress-controllers.konghq.com/kong" => &["kong", "ingress"],
        _ => &[],
    };
    let mut out = Vec::new();
    for name in names {
        let sel = Selector::from_map([("app.kubernetes.io/name", *name)]);
        for ns in ctx.store.namespaces_with(Kind::Pod).iter().take(500) {
            out.extend(
                ctx.store
                    .select_pods(ns, &sel)
                    .into_iter()
                    .map(|p| p.as_ref())
                    .filter(|p| !pod_terminal(p))
                    .filter(|p| {
                        // the data-plane Pods, not admission jobs
                        p.metadata
                            .labels
                            .as_ref()
                            .and_then(|l| l.get("app.kubernetes.io/component"))
                            .is_none_or(|c| {
                                c == "controller" || c == "envoy" || c == "proxy" || c == "app"
                            })
                    }),
            );
        }
        if !out.is_empty() {
            break;
        }
    }
    out
}

fn fronts_of_service(ctx: &RuleContext, svc: &ObjRef) -> Vec<Front> {
    let mut fronts = Vec::new();
    for e in ctx.graph.dependents(svc) {
        if e.kind != EdgeKind::Backend {
            continue;
        }
        match e.from.kind {
            Kind::Ingress => {
                let Some(ing) = ctx
                    .store
                    .get_ref::<k8s_openapi::api::networking::v1::Ingress>(&e.from)
                else {
                    continue;
                };
                let Some(class_name) = crate::graph::ingress_class_name(ctx.store, ing) else {
                    continue;
                };
                let Some(class) = ctx.store.get::<IngressClass>("", &class_name) else {
                    continue;
                };
                let pods = ingress_controller_pods(ctx, class);
                if pods.is_empty() {
                    continue;
                }
                let names: Vec<String> = pods.iter().map(|p| pod_ref(p).to_string()).collect();
                fronts.push(Front {
                    what: format!(
                        "Ingress {} (IngressClass {class_name}, controller Pods {})",
                        e.from.name,
                        name_list(&names, 2)
                    ),
                    scope: vec![e.from.clone()],
                    sources: pods
                        .iter()
                        .map(|p| {
                            Endpoint::pod(
                                p,
                                namespace_labels(
                                    ctx.store,
                                    p.metadata.namespace.as_deref().unwrap_or_default(),
                                ),
                            )
                        })
                        .collect(),
                });
            }
            Kind::HttpRoute => {
                // Gateways deployed in-cluster label their Pods with the Gateway's name (GEP-1762).
                for pe in ctx.graph.dependencies(&e.from) {
                    if pe.kind != EdgeKind::Parent {
                        continue;
                    }
                    let gw = &pe.to;
                    let sel = Selector::from_map([(
                        "gateway.networking.k8s.io/gateway-name",
                        gw.name.as_str(),
                    )]);
                    let pods: Vec<&Pod> = ctx
                        .store
                        .select_pods(gw.ns(), &sel)
                        .into_iter()
                        .map(|p| p.as_ref())
                        .filter(|p| !pod_terminal(p))
                        .collect();
                    if pods.is_empty() {
                        continue;
                    }
                    let names: Vec<String> = pods.iter().map(|p| pod_ref(p).to_string()).collect();
                    fronts.push(Front {
                        what: format!(
                            "HTTPRoute {} (Gateway {}/{}, Pods {})",
                            e.from.name,
                            gw.ns(),
                            gw.name,
                            name_list(&names, 2)
                        ),
                        scope: vec![e.from.clone(), gw.clone()],
                        sources: pods
                            .iter()
                            .map(|p| Endpoint::pod(p, namespace_labels(ctx.store, gw.ns())))
                            .collect(),
                    });
                }
            }
            _ => {}
        }
    }
    fronts
}

pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for svc_ref in ctx.graph.subjects(Kind::Service) {
        let Some(svc) = ctx.store.get_ref::<Service>(svc_ref) else {
            continue;
        };
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let sel = Selector::from_service_selector(spec.selector.as_ref());
        if sel.matches_nothing() {
            continue;
        }
        let pods: Vec<&Pod> = ctx
            .store
            .select_pods(svc_ref.ns(), &sel)
            .into_iter()
            .map(|p| p.as_ref())
            .filter(|p| !pod_terminal(p))
            .collect();
        if pods.is_empty() {
            continue;
        }
        let fronts = fronts_of_service(ctx, svc_ref);
        let ns = svc_ref.ns();
        let ns_labels = namespace_labels(ctx.store, ns);
        // (policies) -> (pods, reasons)
        let mut groups: BTreeMap<Vec<String>, IngressGroup> = BTreeMap::new();
        for p in &pods {
            let selecting = selecting_policies(ctx.store, p);
            if !selecting.iter().any(|np| applies(np, Direction::Ingress)) {
                continue;
            }
            let dst = Endpoint::pod(p, ns_labels.clone());
            let mut reasons = Vec::new();
            let mut scope = Vec::new();
            for sp in spec.ports.iter().flatten() {
                let protocol = sp.protocol.as_deref().unwrap_or("TCP");
                let port = match &sp.target_port {
                    None => Some(sp.port),
                    Some(IntOrString::Int(n)) => Some(*n),
                    Some(IntOrString::String(name)) => {
                        crate::rules::networking::resolve_named_port(p, name, protocol)
                    }
                };
                let Some(port) = port else { continue };
                let port_name = sp
                    .name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                if fronts.is_empty() {
                    // Nothing we can name fronts the Pods: report only a policy that admits
                    // nobody at all on the port.
                    let v = anyone_admitted(&selecting, &dst, protocol, port);
                    if v == Tri::No {
                        reasons.push(format!(
                            "no ingress rule admits any client on {protocol}/{port}{port_name}, the Service's target port"
                        ));
                    }
                    continue;
                }
                for f in &fronts {
                    let verdict = Tri::any(f.sources.iter().map(|s| {
                        evaluate_connection(&selecting, Direction::Ingress, s, &dst, protocol, port)
                            .allowed
                    }));
                    if verdict == Tri::No {
                        reasons.push(format!(
                            "no ingress rule admits {} on {protocol}/{port}{port_name}",
                            f.what
                        ));
                        scope.extend(f.scope.iter().cloned());
                    }
                }
            }
            if reasons.is_empty() {
                continue;
            }
            let mut key: Vec<String> = selecting
                .iter()
                .filter(|np| applies(np, Direction::Ingress))
                .filter_map(|np| np.metadata.name.clone())
                .collect();
            key.sort();
            let g = groups.entry(key).or_default();
            g.0.push(pod_ref(p));
            for r in reasons {
                if !g.1.contains(&r) {
                    g.1.push(r);
                }
            }
            g.2.extend(scope);
        }
        for (names, (pods, reasons, scope)) in groups {
            let object = ObjRef::namespaced(Kind::NetworkPolicy, ns, &names[0]);
            let pod_names: Vec<&str> = pods.iter().map(|r| r.name.as_str()).collect();
            let mut d = Draft::new(RuleId::NetworkPolicyBlocksIngress, object)
                .discriminator(svc_ref.name.clone())
                .edge("Pod -> NetworkPolicy")
                .message(format!(
                    "NetworkPolicy {} isolate{} ingress of the {} Pod(s) behind Service {} ({}) and {}: connections time out",
                    names.join(", "),
                    if names.len() == 1 { "s" } else { "" },
                    pods.len(),
                    svc_ref.name,
                    name_list(&pod_names, 3),
                    reasons[0]
                ))
                .affected(&pods)
                .scope(svc_ref.clone());
            for r in &reasons {
                d = d.evidence(r.clone());
            }
            for n in &names {
                if let Some(np) = ctx.store.get::<NetworkPolicy>(ns, n) {
                    d = d.evidence(describe_rules(np, Direction::Ingress));
                }
                d = d.scope(ObjRef::namespaced(Kind::NetworkPolicy, ns, n));
            }
            for s in scope {
                d = d.scope(s);
            }
            d = d
                .summary("Add an ingress rule admitting what fronts the Service (the ingress controller's namespace and Pods, the Service's clients) on the target port.")
                .read_only(
                    "Read the policies that select the Pods",
                    format!("kubectl describe networkpolicy -n {ns} {}", names.join(" ")),
                )
                .read_only(
                    "Check the labels of the namespaces and Pods that must reach the Service",
                    "kubectl get ns --show-labels".to_owned(),
                )
                .step(
                    "Add an ingress rule (namespaceSelector/podSelector of the clients, the target port) to the policy",
                    Some(format!("kubectl edit networkpolicy -n {ns} {}", names[0])),
                    Risk::Reversible,
                );
            out.push(d);
        }
    }
}
