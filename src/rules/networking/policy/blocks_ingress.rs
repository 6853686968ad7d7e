//! NetworkPolicyBlocksIngress: policies isolate the ingress of the Pods behind a
//! Service and no ingress rule admits what fronts it (an ingress controller's Pods,
//! a Gateway's Pods) or, when nothing we can name fronts it, any client at all.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass, NetworkPolicy};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::Risk;
use crate::graph::EdgeKind;
use crate::k8s::pod;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::{name_list, resolve_named_port};
use crate::rules::{Draft, RuleContext};
use crate::selector::Selector;

use super::eval::{
    Direction, Endpoint, Tri, anyone_admitted, applies, describe_rules, evaluate_connection,
};
use super::{namespace_labels, selecting_policies};

/// Pods behind a Service that the same policies shut out.
#[derive(Default)]
struct BlockedPods {
    pods: Vec<ObjRef>,
    /// Why, one line per port and front, each once.
    reasons: Vec<String>,
    /// The fronts that cannot reach the Pods.
    scope: Vec<ObjRef>,
}

/// What fronts a Service: the sources its Pods must admit, as far as the graph says.
struct Front {
    /// `Ingress shop/web via IngressClass nginx (controller Pods ingress-nginx/...)`.
    what: String,
    scope: Vec<ObjRef>,
    sources: Vec<Endpoint>,
}

/// Pods of the controller of an IngressClass, found by the conventions of the common
/// controllers (ingress-nginx, Traefik, HAProxy, Contour, Kong, ...). Empty when the
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
        let selector = Selector::from_map([("app.kubernetes.io/name", *name)]);
        for ns in ctx.store.namespaces_with(Kind::Pod).iter().take(500) {
            out.extend(
                ctx.store
                    .select_pods(ns, &selector)
                    .into_iter()
                    .map(|p| p.as_ref())
                    .filter(|p| !pod::is_terminal(p))
                    .filter(|p| {
                        // the data-plane Pods, not admission jobs
                        p.metadata
                            .labels
                            .as_ref()
                            .and_then(|labels| labels.get("app.kubernetes.io/component"))
                            .is_none_or(|component| {
                                component == "controller"
                                    || component == "envoy"
                                    || component == "proxy"
                                    || component == "app"
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

/// The Ingresses (through their class's controller Pods) and HTTPRoutes (through
/// their Gateways' Pods) that send traffic to the Service.
fn fronts_of_service(ctx: &RuleContext, svc: &ObjRef) -> Vec<Front> {
    let mut fronts = Vec::new();
    for edge in ctx.graph.dependents(svc) {
        if edge.kind != EdgeKind::Backend {
            continue;
        }
        match edge.from.kind {
            Kind::Ingress => {
                let Some(ingress) = ctx.store.get_ref::<Ingress>(&edge.from) else {
                    continue;
                };
                let Some(class_name) = crate::k8s::classes::ingress_class_name(ctx.store, ingress)
                else {
                    continue;
                };
                let Some(class) = ctx.store.get::<IngressClass>("", &class_name) else {
                    continue;
                };
                let pods = ingress_controller_pods(ctx, class);
                if pods.is_empty() {
                    continue;
                }
                let names: Vec<String> =
                    pods.iter().map(|p| pod::reference(p).to_string()).collect();
                fronts.push(Front {
                    what: format!(
                        "Ingress {} (IngressClass {class_name}, controller Pods {})",
                        edge.from.name,
                        name_list(&names, 2)
                    ),
                    scope: vec![edge.from.clone()],
                    sources: pods
                        .iter()
                        .map(|pod| {
                            Endpoint::pod(
                                pod,
                                namespace_labels(
                                    ctx.store,
                                    pod.metadata.namespace.as_deref().unwrap_or_default(),
                                ),
                            )
                        })
                        .collect(),
                });
            }
            Kind::HttpRoute => {
                // Gateways deployed in-cluster label their Pods with the Gateway's name (GEP-1762).
                for parent in ctx.graph.dependencies(&edge.from) {
                    if parent.kind != EdgeKind::Parent {
                        continue;
                    }
                    let gateway = &parent.to;
                    let selector = Selector::from_map([(
                        "gateway.networking.k8s.io/gateway-name",
                        gateway.name.as_str(),
                    )]);
                    let pods: Vec<&Pod> = ctx
                        .store
                        .select_pods(gateway.ns(), &selector)
                        .into_iter()
                        .map(|p| p.as_ref())
                        .filter(|p| !pod::is_terminal(p))
                        .collect();
                    if pods.is_empty() {
                        continue;
                    }
                    let names: Vec<String> =
                        pods.iter().map(|p| pod::reference(p).to_string()).collect();
                    fronts.push(Front {
                        what: format!(
                            "HTTPRoute {} (Gateway {}/{}, Pods {})",
                            edge.from.name,
                            gateway.ns(),
                            gateway.name,
                            name_list(&names, 2)
                        ),
                        scope: vec![edge.from.clone(), gateway.clone()],
                        sources: pods
                            .iter()
                            .map(|pod| {
                                Endpoint::pod(pod, namespace_labels(ctx.store, gateway.ns()))
                            })
                            .collect(),
                    });
                }
            }
            _ => {}
        }
    }
    fronts
}

/// One finding per Service of the graph and set of policies shutting out its fronts.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for svc_ref in ctx.graph.subjects(Kind::Service) {
        let Some(svc) = ctx.store.get_ref::<Service>(svc_ref) else {
            continue;
        };
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let selector = Selector::from_service_selector(spec.selector.as_ref());
        if selector.matches_nothing() {
            continue;
        }
        let pods: Vec<&Pod> = ctx
            .store
            .select_pods(svc_ref.ns(), &selector)
            .into_iter()
            .map(|p| p.as_ref())
            .filter(|p| !pod::is_terminal(p))
            .collect();
        if pods.is_empty() {
            continue;
        }
        let fronts = fronts_of_service(ctx, svc_ref);
        let ns = svc_ref.ns();
        let ns_labels = namespace_labels(ctx.store, ns);
        // the names of the isolating policies -> the Pods they shut out
        let mut groups: BTreeMap<Vec<String>, BlockedPods> = BTreeMap::new();
        for pod in &pods {
            let selecting = selecting_policies(ctx.store, pod);
            if !selecting
                .iter()
                .any(|policy| applies(policy, Direction::Ingress))
            {
                continue;
            }
            let dst = Endpoint::pod(pod, ns_labels.clone());
            let mut reasons = Vec::new();
            let mut scope = Vec::new();
            for service_port in spec.ports.iter().flatten() {
                let protocol = service_port.protocol.as_deref().unwrap_or("TCP");
                let port = match &service_port.target_port {
                    None => Some(service_port.port),
                    Some(IntOrString::Int(number)) => Some(*number),
                    Some(IntOrString::String(name)) => resolve_named_port(pod, name, protocol),
                };
                let Some(port) = port else { continue };
                let port_name = service_port
                    .name
                    .as_deref()
                    .map(|name| format!(" ({name})"))
                    .unwrap_or_default();
                if fronts.is_empty() {
                    // Nothing we can name fronts the Pods: report only a policy that admits
                    // nobody at all on the port.
                    if anyone_admitted(&selecting, &dst, protocol, port) == Tri::No {
                        reasons.push(format!(
                            "no ingress rule admits any client on {protocol}/{port}{port_name}, the Service's target port"
                        ));
                    }
                    continue;
                }
                for front in &fronts {
                    let verdict = Tri::any(front.sources.iter().map(|source| {
                        evaluate_connection(
                            &selecting,
                            Direction::Ingress,
                            source,
                            &dst,
                            protocol,
                            port,
                        )
                        .allowed
                    }));
                    if verdict == Tri::No {
                        reasons.push(format!(
                            "no ingress rule admits {} on {protocol}/{port}{port_name}",
                            front.what
                        ));
                        scope.extend(front.scope.iter().cloned());
                    }
                }
            }
            if reasons.is_empty() {
                continue;
            }
            let mut key: Vec<String> = selecting
                .iter()
                .filter(|policy| applies(policy, Direction::Ingress))
                .filter_map(|policy| policy.metadata.name.clone())
                .collect();
            key.sort();
            let group = groups.entry(key).or_default();
            group.pods.push(pod::reference(pod));
            for reason in reasons {
                if !group.reasons.contains(&reason) {
                    group.reasons.push(reason);
                }
            }
            group.scope.extend(scope);
        }
        for (
            names,
            BlockedPods {
                pods,
                reasons,
                scope,
            },
        ) in groups
        {
            let object = ObjRef::namespaced(Kind::NetworkPolicy, ns, &names[0]);
            let pod_names: Vec<&str> = pods.iter().map(|pod| pod.name.as_str()).collect();
            let mut draft = Draft::new(RuleId::NetworkPolicyBlocksIngress, object)
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
            for reason in &reasons {
                draft = draft.evidence(reason.clone());
            }
            for name in &names {
                if let Some(policy) = ctx.store.get::<NetworkPolicy>(ns, name) {
                    draft = draft.evidence(describe_rules(policy, Direction::Ingress));
                }
                draft = draft.scope(ObjRef::namespaced(Kind::NetworkPolicy, ns, name));
            }
            for front in scope {
                draft = draft.scope(front);
            }
            draft = draft
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
            out.push(draft);
        }
    }
}
