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

pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for r in ctx.graph.subjects(Kind::HttpRoute) {
        let Some(Object::HttpRoute(h)) = ctx.store.object(r) else {
            continue;
        };
        route(ctx, r, h, out);
    }
    for r in ctx.graph.subjects(Kind::Gateway) {
        let Some(Object::Gateway(g)) = ctx.store.object(r) else {
            continue;
        };
        gateway_not_programmed(ctx, r, g, out);
    }
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

/// (type, status, reason, message) of the conditions in `v["conditions"]`.
fn conditions(v: &Value) -> Vec<(&str, &str, &str, &str)> {
    v.get("conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            (
                s(c, "type").unwrap_or_default(),
                s(c, "status").unwrap_or_default(),
                s(c, "reason").unwrap_or_default(),
                s(c, "message").unwrap_or_default(),
            )
        })
        .collect()
}

/// parentRefs that name Gateways: (namespace, name, sectionName).
fn gateway_parents(h: &DynamicObject, ns: &str) -> Vec<(String, String, Option<String>)> {
    h.data
        .pointer("/spec/parentRefs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| s(p, "kind").unwrap_or("Gateway") == "Gateway")
        .filter(|p| {
            s(p, "group").unwrap_or("gateway.networking.k8s.io") == "gateway.networking.k8s.io"
        })
        .filter_map(|p| {
            Some((
                s(p, "namespace").unwrap_or(ns).to_owned(),
                s(p, "name")?.to_owned(),
                s(p, "sectionName").map(str::to_owned),
            ))
        })
        .collect()
}

fn route(ctx: &RuleContext, r: &ObjRef, h: &DynamicObject, out: &mut Vec<Draft>) {
    let ns = r.ns();
    // GatewayNotFound
    for (pns, name, _) in gateway_parents(h, ns) {
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
        let d = Draft::new(RuleId::GatewayNotFound, r.clone())
            .discriminator(format!("{pns}/{name}"))
            .edge("HTTPRoute -> Gateway")
            .message(format!(
                "HTTPRoute {} attaches to Gateway {pns}/{name}, which does not exist: the route serves no traffic",
                r.name
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
                Some(format!("kubectl edit httproute -n {ns} {}", r.name)),
                Risk::Reversible,
            );
        out.push(d);
    }
    let parents_status: Vec<&Value> = h
        .data
        .pointer("/status/parents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    // HTTPRouteNotAccepted
    for p in &parents_status {
        let pref = p.get("parentRef").cloned().unwrap_or(Value::Null);
        let pname = s(&pref, "name").unwrap_or_default().to_owned();
        let pns = s(&pref, "namespace").unwrap_or(ns).to_owned();
        let conds = conditions(p);
        let Some((_, _, reason, message)) = conds
            .iter()
            .find(|(t, st, _, _)| *t == "Accepted" && *st == "False")
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
        let mut d = Draft::new(RuleId::HTTPRouteNotAccepted, r.clone())
            .discriminator(format!("{pns}/{pname}"))
            .edge("HTTPRoute -> Gateway")
            .message(format!(
                "Gateway {pns}/{pname} did not accept HTTPRoute {}: {reason}{hint}",
                r.name
            ))
            .evidence(format!("status.parents[{pns}/{pname}] Accepted=False reason {reason}: {message}"))
            .summary("Make the route attachable: listener allowedRoutes, hostnames, sectionName/port.")
            .read_only(
                "Read the route's status and the Gateway's listeners",
                format!(
                    "kubectl get httproute -n {ns} {} -o yaml ; kubectl get gateway -n {pns} {pname} -o yaml",
                    r.name
                ),
            )
            .step(
                "Fix the route (hostnames, parentRefs) or the Gateway's listeners",
                Some(format!("kubectl edit httproute -n {ns} {}", r.name)),
                Risk::Reversible,
            );
        if ctx.store.contains(&gw) {
            d = d.scope(gw);
        }
        if let Some(c) = s(p, "controllerName") {
            d = d.evidence(format!("reported by {c}"));
        }
        out.push(d);
    }
    // HTTPRouteBackendNotFound: status and spec together, one finding per route
    let mut evidence: Vec<String> = Vec::new();
    let mut missing: Vec<ObjRef> = Vec::new();
    let mut first_reason: Option<String> = None;
    for p in &parents_status {
        for (t, st, reason, message) in conditions(p) {
            if t == "ResolvedRefs" && st == "False" {
                first_reason.get_or_insert_with(|| reason.to_owned());
                let pname = p
                    .get("parentRef")
                    .and_then(|x| s(x, "name"))
                    .unwrap_or_default();
                let e = format!(
                    "status.parents[{pname}] ResolvedRefs=False reason {reason}: {message}"
                );
                if !evidence.contains(&e) {
                    evidence.push(e);
                }
                if reason == "RefNotPermitted" {
                    let e = "a backendRef in another namespace needs a ReferenceGrant in that namespace".to_owned();
                    if !evidence.contains(&e) {
                        evidence.push(e);
                    }
                }
            }
        }
    }
    for (bns, svc, port) in route_backends(h) {
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
        let reason = first_reason.map(|r| format!(" ({r})")).unwrap_or_default();
        let mut d = Draft::new(RuleId::HTTPRouteBackendNotFound, r.clone())
            .edge("HTTPRoute -> Service")
            .message(format!(
                "HTTPRoute {} has backendRefs that do not resolve{reason}: requests matching those rules get 500/503",
                r.name
            ))
            .summary("Point backendRefs at existing Services and ports (and add a ReferenceGrant for other namespaces).")
            .read_only(
                "Read the route's status",
                format!("kubectl get httproute -n {ns} {} -o yaml", r.name),
            )
            .step(
                "Fix the backendRefs",
                Some(format!("kubectl edit httproute -n {ns} {}", r.name)),
                Risk::Reversible,
            );
        for e in evidence {
            d = d.evidence(e);
        }
        for m in missing {
            d = d.scope(m);
        }
        out.push(d);
    }
}

fn gateway_not_programmed(ctx: &RuleContext, r: &ObjRef, g: &DynamicObject, out: &mut Vec<Draft>) {
    let Some(status) = g.data.get("status") else {
        return;
    };
    let conds = conditions(status);
    let bad: Vec<&(&str, &str, &str, &str)> = conds
        .iter()
        .filter(|(t, st, _, _)| (*t == "Accepted" || *t == "Programmed") && *st != "True")
        .collect();
    if bad.is_empty() {
        return;
    }
    let ns = r.ns();
    let class = g
        .data
        .pointer("/spec/gatewayClassName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let first = bad[0];
    let mut d = Draft::new(RuleId::GatewayNotProgrammed, r.clone())
        .message(format!(
            "Gateway {} is not {}: {}={} reason {}{}",
            r.name,
            if first.0 == "Accepted" { "accepted" } else { "programmed" },
            first.0,
            first.1,
            first.2,
            if first.3.is_empty() { String::new() } else { format!(" ({})", first.3) }
        ))
        .summary("Fix what the Gateway's controller reports (class, listeners, addresses), or check that the controller runs.")
        .read_only(
            "Read the Gateway's conditions",
            format!("kubectl get gateway -n {ns} {} -o yaml", r.name),
        )
        .read_only("Check the GatewayClass and its controller", "kubectl get gatewayclass".to_owned());
    for (t, st, reason, message) in &bad {
        d = d.evidence(format!("{t}={st} reason {reason}: {message}"));
    }
    for l in status
        .get("listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for (t, st, reason, message) in conditions(l) {
            let bad_listener = (t == "Programmed" || t == "Accepted" || t == "ResolvedRefs")
                && st != "True"
                || (t == "Conflicted" && st == "True");
            if bad_listener {
                d = d.evidence(format!(
                    "listener {}: {t}={st} reason {reason}: {message}",
                    s(l, "name").unwrap_or_default()
                ));
            }
        }
    }
    if !class.is_empty() {
        let cref = ObjRef::cluster(Kind::GatewayClass, &class);
        match ctx.store.object(&cref) {
            Some(Object::GatewayClass(c)) => {
                for (t, st, reason, message) in
                    c.data.get("status").map(conditions).unwrap_or_default()
                {
                    if t == "Accepted" && st != "True" {
                        d = d.evidence(format!(
                            "GatewayClass {class} Accepted={st} reason {reason}: {message}"
                        ));
                    }
                }
                d = d.scope(cref);
            }
            _ if ctx.store.kind_listed(Kind::GatewayClass, "") => {
                d = d
                    .evidence(format!("GatewayClass {class} does not exist"))
                    .scope(cref);
            }
            _ => {}
        }
    }
    out.push(d);
}
