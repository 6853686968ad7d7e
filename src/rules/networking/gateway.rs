//! Gateway API (GatewayClass, Gateway, HTTPRoute), read dynamically: a cluster
//! without the CRDs simply has none of these objects, and a snapshot that did not
//! capture Gateways proves nothing about them (`kind_listed`).

use k8s_openapi::api::core::v1::Service;
use kube::api::DynamicObject;
use serde_json::Value;

use crate::api::Risk;
use crate::graph::route_backends;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::store::Object;

/// GatewayNotFound, HTTPRouteNotAccepted and HTTPRouteBackendNotFound for each
/// HTTPRoute of the graph, GatewayNotProgrammed for each Gateway.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for route_ref in ctx.graph.subjects(Kind::HttpRoute) {
        let Some(Object::HttpRoute(route_object)) = ctx.store.object(route_ref) else {
            continue;
        };
        route(ctx, route_ref, route_object, out);
    }
    for gateway_ref in ctx.graph.subjects(Kind::Gateway) {
        let Some(Object::Gateway(gateway)) = ctx.store.object(gateway_ref) else {
            continue;
        };
        gateway_not_programmed(ctx, gateway_ref, gateway, out);
    }
}

/// The string at `key` of a JSON object.
fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// (type, status, reason, message) of the conditions in `value["conditions"]`.
fn conditions(value: &Value) -> Vec<(&str, &str, &str, &str)> {
    value
        .get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                text(c, "type").unwrap_or_default(),
                text(c, "status").unwrap_or_default(),
                text(c, "reason").unwrap_or_default(),
                text(c, "message").unwrap_or_default(),
            )
        })
        .collect()
}

/// parentRefs that name Gateways: (namespace, name, sectionName).
fn gateway_parents(route: &DynamicObject, ns: &str) -> Vec<(String, String, Option<String>)> {
    route
        .data
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| text(p, "kind").unwrap_or("Gateway") == "Gateway")
        .filter(|p| {
            text(p, "group").unwrap_or("gateway.networking.k8s.io") == "gateway.networking.k8s.io"
        })
        .filter_map(|p| {
            Some((
                text(p, "namespace").unwrap_or(ns).to_owned(),
                text(p, "name")?.to_owned(),
                text(p, "sectionName").map(str::to_owned),
            ))
        })
        .collect()
}

/// The route's parents that do not exist or did not accept it, and its backends that
/// do not resolve.
fn route(ctx: &RuleContext, route_ref: &ObjRef, route: &DynamicObject, out: &mut Vec<Draft>) {
    let ns = route_ref.ns();
    // GatewayNotFound
    for (pns, name, _) in gateway_parents(route, ns) {
        let gw = ObjRef::namespaced(Kind::Gateway, &pns, &name);
        if ctx.store.contains(&gw) || !ctx.store.kind_listed(Kind::Gateway, &pns) {
            continue;
        }
        let existing: Vec<String> = ctx
            .store
            .list_objects(Kind::Gateway, &pns)
            .filter_map(|(_, o)| o.meta().and_then(|m| m.name.clone()))
            .take(5)
            .collect();
        let draft = Draft::new(RuleId::GatewayNotFound, route_ref.clone())
            .discriminator(format!("{pns}/{name}"))
            .edge("HTTPRoute -> Gateway")
            .message(format!(
                "HTTPRoute {} attaches to Gateway {pns}/{name}, which does not exist: the route serves no traffic",
                route_ref.name
            ))
            .evidence(format!("parentRef: Gateway {pns}/{name}"))
            .evidence(format!(
                "Gateways in {pns}: {}",
                if existing.is_empty() { "none".to_owned() } else { existing.join(", ") }
            ))
            .scope(gw)
            .summary("Point parentRefs at an existing Gateway (name and namespace).")
            .read_only("List the Gateways", "kubectl get gateways -A".to_owned())
            .step(
                "Fix the HTTPRoute's parentRefs",
                Some(format!("kubectl edit httproute -n {ns} {}", route_ref.name)),
                Risk::Reversible,
            );
        out.push(draft);
    }
    let parents_status: Vec<&Value> = route
        .data
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    // HTTPRouteNotAccepted
    for parent in &parents_status {
        let pref = parent.get("parentRef").cloned().unwrap_or(Value::Null);
        let pname = text(&pref, "name").unwrap_or_default().to_owned();
        let pns = text(&pref, "namespace").unwrap_or(ns).to_owned();
        let conds = conditions(parent);
        let Some((_, _, reason, message)) = conds
            .iter()
            .find(|(type_, st, _, _)| *type_ == "Accepted" && *st == "False")
        else {
            continue;
        };
        let gw = ObjRef::namespaced(Kind::Gateway, &pns, &pname);
        let hint = match *reason {
            "NotAllowedByListeners" => {
                " (no listener of the Gateway allows routes from this namespace/kind: check listeners[].allowedRoutes)"
            }
            "NoMatchingListenerHostname" => " (the route's hostnames match no listener's hostname)",
            "NoMatchingParent" => " (no listener matches sectionName/port)",
            "UnsupportedValue" => {
                " (the route uses a field value the implementation does not support)"
            }
            _ => "",
        };
        let mut draft = Draft::new(RuleId::HTTPRouteNotAccepted, route_ref.clone())
            .discriminator(format!("{pns}/{pname}"))
            .edge("HTTPRoute -> Gateway")
            .message(format!(
                "Gateway {pns}/{pname} did not accept HTTPRoute {}: {reason}{hint}",
                route_ref.name
            ))
            .evidence(format!("status.parents[{pns}/{pname}] Accepted=False reason {reason}: {message}"))
            .summary("Make the route attachable: listener allowedRoutes, hostnames, sectionName/port.")
            .read_only(
                "Read the route's status and the Gateway's listeners",
                format!(
                    "kubectl get httproute -n {ns} {} -o yaml ; kubectl get gateway -n {pns} {pname} -o yaml",
                    route_ref.name
                ),
            )
            .step(
                "Fix the route (hostnames, parentRefs) or the Gateway's listeners",
                Some(format!("kubectl edit httproute -n {ns} {}", route_ref.name)),
                Risk::Reversible,
            );
        if ctx.store.contains(&gw) {
            draft = draft.scope(gw);
        }
        if let Some(controller) = text(parent, "controllerName") {
            draft = draft.evidence(format!("reported by {controller}"));
        }
        out.push(draft);
    }
    // HTTPRouteBackendNotFound: status and spec together, one finding per route
    let mut evidence: Vec<String> = Vec::new();
    let mut missing: Vec<ObjRef> = Vec::new();
    let mut first_reason: Option<String> = None;
    for parent in &parents_status {
        for (type_, st, reason, message) in conditions(parent) {
            if type_ == "ResolvedRefs" && st == "False" {
                first_reason.get_or_insert_with(|| reason.to_owned());
                let pname = parent
                    .get("parentRef")
                    .and_then(|x| text(x, "name"))
                    .unwrap_or_default();
                let line = format!(
                    "status.parents[{pname}] ResolvedRefs=False reason {reason}: {message}"
                );
                if !evidence.contains(&line) {
                    evidence.push(line);
                }
                if reason == "RefNotPermitted" {
                    let line = "a backendRef in another namespace needs a ReferenceGrant in that namespace".to_owned();
                    if !evidence.contains(&line) {
                        evidence.push(line);
                    }
                }
            }
        }
    }
    for (bns, svc, port) in route_backends(route) {
        let bns = bns.unwrap_or_else(|| ns.to_owned());
        let sref = ObjRef::namespaced(Kind::Service, &bns, &svc);
        match ctx.store.get::<Service>(&bns, &svc) {
            None => {
                if ctx.store.kind_listed(Kind::Service, &bns) {
                    evidence.push(format!("backendRef Service {bns}/{svc} does not exist"));
                    missing.push(sref);
                }
            }
            Some(sv) => {
                if let Some(port) = port {
                    let exposed: Vec<i32> = sv
                        .spec
                        .as_ref()
                        .and_then(|s| s.ports.as_ref())
                        .into_iter()
                        .flatten()
                        .map(|p| p.port)
                        .collect();
                    if !exposed.is_empty() && !exposed.iter().any(|p| i64::from(*p) == port) {
                        evidence.push(format!(
                            "backendRef {bns}/{svc} port {port} is not a port of the Service (it exposes {})",
                            exposed.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                        ));
                        missing.push(sref);
                    }
                }
            }
        }
    }
    if !evidence.is_empty() {
        let reason = first_reason
            .map(|reason| format!(" ({reason})"))
            .unwrap_or_default();
        let mut draft = Draft::new(RuleId::HTTPRouteBackendNotFound, route_ref.clone())
            .edge("HTTPRoute -> Service")
            .message(format!(
                "HTTPRoute {} has backendRefs that do not resolve{reason}: requests matching those rules get 500/503",
                route_ref.name
            ))
            .summary("Point backendRefs at existing Services and ports (and add a ReferenceGrant for other namespaces).")
            .read_only(
                "Read the route's status",
                format!("kubectl get httproute -n {ns} {} -o yaml", route_ref.name),
            )
            .step(
                "Fix the backendRefs",
                Some(format!("kubectl edit httproute -n {ns} {}", route_ref.name)),
                Risk::Reversible,
            );
        for line in evidence {
            draft = draft.evidence(line);
        }
        for backend in missing {
            draft = draft.scope(backend);
        }
        out.push(draft);
    }
}

/// A Gateway whose Accepted or Programmed condition is not True, with its listeners'
/// and its class's conditions.
fn gateway_not_programmed(
    ctx: &RuleContext,
    gateway_ref: &ObjRef,
    gateway: &DynamicObject,
    out: &mut Vec<Draft>,
) {
    let Some(status) = gateway.data.get("status") else {
        return;
    };
    let conds = conditions(status);
    let bad: Vec<&(&str, &str, &str, &str)> = conds
        .iter()
        .filter(|(type_, st, _, _)| {
            (*type_ == "Accepted" || *type_ == "Programmed") && *st != "True"
        })
        .collect();
    if bad.is_empty() {
        return;
    }
    let ns = gateway_ref.ns();
    let class = gateway
        .data
        .pointer("/spec/gatewayClassName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let first = bad[0];
    let mut draft = Draft::new(RuleId::GatewayNotProgrammed, gateway_ref.clone())
        .message(format!(
            "Gateway {} is not {}: {}={} reason {}{}",
            gateway_ref.name,
            if first.0 == "Accepted" { "accepted" } else { "programmed" },
            first.0,
            first.1,
            first.2,
            if first.3.is_empty() { String::new() } else { format!(" ({})", first.3) }
        ))
        .summary("Fix what the Gateway's controller reports (class, listeners, addresses), or check that the controller runs.")
        .read_only(
            "Read the Gateway's conditions",
            format!("kubectl get gateway -n {ns} {} -o yaml", gateway_ref.name),
        )
        .read_only("Check the GatewayClass and its controller", "kubectl get gatewayclass".to_owned());
    for (type_, st, reason, message) in &bad {
        draft = draft.evidence(format!("{type_}={st} reason {reason}: {message}"));
    }
    for listener in status
        .get("listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (type_, st, reason, message) in conditions(listener) {
            let bad_listener =
                (type_ == "Programmed" || type_ == "Accepted" || type_ == "ResolvedRefs")
                    && st != "True"
                    || (type_ == "Conflicted" && st == "True");
            if bad_listener {
                draft = draft.evidence(format!(
                    "listener {}: {type_}={st} reason {reason}: {message}",
                    text(listener, "name").unwrap_or_default()
                ));
            }
        }
    }
    if !class.is_empty() {
        let cref = ObjRef::cluster(Kind::GatewayClass, &class);
        match ctx.store.object(&cref) {
            Some(Object::GatewayClass(gateway_class)) => {
                for (type_, st, reason, message) in gateway_class
                    .data
                    .get("status")
                    .map(conditions)
                    .unwrap_or_default()
                {
                    if type_ == "Accepted" && st != "True" {
                        draft = draft.evidence(format!(
                            "GatewayClass {class} Accepted={st} reason {reason}: {message}"
                        ));
                    }
                }
                draft = draft.scope(cref);
            }
            _ if ctx.store.kind_listed(Kind::GatewayClass, "") => {
                draft = draft
                    .evidence(format!("GatewayClass {class} does not exist"))
                    .scope(cref);
            }
            _ => {}
        }
    }
    out.push(draft);
}
