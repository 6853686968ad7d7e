//! Ingress: the class (explicit, legacy annotation or the default), backend Services
//! and ports, TLS Secrets.

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::Risk;
use crate::graph::ingress_backends;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::text::edit_distance;

/// The legacy annotation naming an Ingress's class.
pub(crate) const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
/// The annotation marking an IngressClass the default (`"true"`).
pub(crate) const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// IngressClassNotFound, IngressBackendServiceNotFound, IngressBackendPortNotFound and
/// IngressTLSSecretNotFound for each Ingress of the graph.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for ingress_ref in ctx.graph.subjects(Kind::Ingress) {
        let Some(ing) = ctx.store.get_ref::<Ingress>(ingress_ref) else {
            continue;
        };
        class_not_found(ctx, ingress_ref, ing, out);
        backends(ctx, ingress_ref, ing, out);
        tls(ctx, ingress_ref, ing, out);
    }
}

fn is_default(class: &IngressClass) -> bool {
    class
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
        .is_some_and(|v| v == "true")
}

fn class_not_found(ctx: &RuleContext, ingress_ref: &ObjRef, ing: &Ingress, out: &mut Vec<Draft>) {
    if !ctx.store.kind_listed(Kind::IngressClass, "") {
        // IngressClasses were not read: we cannot tell.
        return;
    }
    let classes: Vec<&IngressClass> = ctx
        .store
        .all::<IngressClass>()
        .map(|c| c.as_ref())
        .collect();
    let existing: Vec<String> = classes
        .iter()
        .map(|c| {
            format!(
                "{} ({}{})",
                c.metadata.name.as_deref().unwrap_or_default(),
                c.spec
                    .as_ref()
                    .and_then(|s| s.controller.as_deref())
                    .unwrap_or("no controller"),
                if is_default(c) { ", default" } else { "" }
            )
        })
        .collect();
    let existing_text = if existing.is_empty() {
        "none".to_owned()
    } else {
        existing.join(", ")
    };
    let explicit = ing.spec.as_ref().and_then(|s| s.ingress_class_name.clone());
    let annotation = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(CLASS_ANNOTATION))
        .cloned();
    let ns = ingress_ref.ns();
    let (name, source) = match (&explicit, &annotation) {
        (Some(class), _) => (Some(class.clone()), "spec.ingressClassName"),
        (None, Some(class)) => (
            Some(class.clone()),
            "annotation kubernetes.io/ingress.class",
        ),
        (None, None) => (None, ""),
    };
    let mut draft;
    match name {
        Some(name) => {
            if classes
                .iter()
                .any(|c| c.metadata.name.as_deref() == Some(name.as_str()))
            {
                return;
            }
            let near: Vec<&str> = classes
                .iter()
                .filter_map(|c| c.metadata.name.as_deref())
                .filter(|c| edit_distance(c, &name) <= 3)
                .collect();
            draft = Draft::new(RuleId::IngressClassNotFound, ingress_ref.clone())
                .edge("Ingress -> IngressClass")
                .message(format!(
                    "Ingress {} uses IngressClass {name} ({source}), which does not exist: no controller serves it{}",
                    ingress_ref.name,
                    if near.is_empty() {
                        String::new()
                    } else {
                        format!(" (did you mean {}?)", near.join(", "))
                    }
                ))
                .evidence(format!("{source}: {name}"))
                .evidence(format!("IngressClasses: {existing_text}"))
                .scope(ObjRef::cluster(Kind::IngressClass, &name));
            if explicit.is_none() {
                draft = draft.evidence(
                    "the kubernetes.io/ingress.class annotation is deprecated; controllers that still read it match it against their own class name".to_owned(),
                );
            }
        }
        None => {
            if classes.iter().any(|c| is_default(c)) {
                return;
            }
            draft = Draft::new(RuleId::IngressClassNotFound, ingress_ref.clone())
                .edge("Ingress -> IngressClass")
                .message(format!(
                    "Ingress {} names no IngressClass and no IngressClass is marked default: no controller is bound to serve it",
                    ingress_ref.name
                ))
                .evidence("no spec.ingressClassName and no kubernetes.io/ingress.class annotation".to_owned())
                .evidence(format!(
                    "IngressClasses: {existing_text}; none has {DEFAULT_CLASS_ANNOTATION}: \"true\""
                ));
        }
    }
    draft = draft
        .summary("Set spec.ingressClassName to an existing IngressClass (or mark one class default).")
        .read_only("List the IngressClasses and their controllers", "kubectl get ingressclass")
        .step(
            "Set the Ingress's class",
            Some(format!(
                "kubectl patch ingress -n {ns} {} --type=merge -p '{{\"spec\":{{\"ingressClassName\":\"<class>\"}}}}'",
                ingress_ref.name
            )),
            Risk::Reversible,
        );
    out.push(draft);
}

fn backends(ctx: &RuleContext, ingress_ref: &ObjRef, ing: &Ingress, out: &mut Vec<Draft>) {
    let ns = ingress_ref.ns();
    for (svc_name, port, path) in ingress_backends(ing) {
        let svc_ref = ObjRef::namespaced(Kind::Service, ns, &svc_name);
        match ctx.store.get::<Service>(ns, &svc_name) {
            None => {
                if !ctx.store.kind_listed(Kind::Service, ns) {
                    continue;
                }
                let near: Vec<String> = ctx
                    .store
                    .list::<Service>(ns)
                    .filter_map(|s| s.metadata.name.clone())
                    .filter(|n| {
                        edit_distance(n, &svc_name) <= 3
                            || svc_name.starts_with(n.as_str())
                            || n.starts_with(svc_name.as_str())
                    })
                    .take(3)
                    .collect();
                let draft = Draft::new(RuleId::IngressBackendServiceNotFound, ingress_ref.clone())
                    .discriminator(svc_name.clone())
                    .edge("Ingress -> Service")
                    .message(format!(
                        "Ingress {} routes {path} to Service {svc_name}, which does not exist in namespace {ns}: those requests get 503{}",
                        ingress_ref.name,
                        if near.is_empty() {
                            String::new()
                        } else {
                            format!(" (similar Services: {})", near.join(", "))
                        }
                    ))
                    .evidence(format!("backend {path} -> {svc_name}:{port}"))
                    .scope(svc_ref)
                    .summary("Point the backend at an existing Service, or create the Service.")
                    .read_only("List the Services of the namespace", format!("kubectl get services -n {ns}"))
                    .step(
                        "Fix the Ingress's backend",
                        Some(format!("kubectl edit ingress -n {ns} {}", ingress_ref.name)),
                        Risk::Reversible,
                    );
                out.push(draft);
            }
            Some(svc) => {
                if port.is_empty() {
                    continue;
                }
                let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref());
                let by_number = port.parse::<i32>().ok();
                let found = ports.into_iter().flatten().any(|p| match by_number {
                    Some(number) => p.port == number,
                    None => p.name.as_deref() == Some(port.as_str()),
                });
                if found {
                    continue;
                }
                let exposed: Vec<String> = ports
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        let target = match &p.target_port {
                            Some(IntOrString::Int(number)) => number.to_string(),
                            Some(IntOrString::String(name)) => name.clone(),
                            None => p.port.to_string(),
                        };
                        match &p.name {
                            Some(name) => format!("{name}: {} -> {target}", p.port),
                            None => format!("{} -> {target}", p.port),
                        }
                    })
                    .collect();
                let mut draft = Draft::new(RuleId::IngressBackendPortNotFound, ingress_ref.clone())
                    .discriminator(format!("{svc_name}:{port}"))
                    .edge("Ingress -> Service")
                    .message(format!(
                        "Ingress {} routes {path} to port {port} of Service {svc_name}, which the Service does not expose: those requests get 503",
                        ingress_ref.name
                    ))
                    .evidence(format!("backend {path} -> {svc_name}:{port}"))
                    .evidence(format!(
                        "Service {svc_name} ports: {}",
                        if exposed.is_empty() { "none".to_owned() } else { exposed.join(", ") }
                    ))
                    .scope(svc_ref);
                if let Some(number) = by_number {
                    let is_target = ports.into_iter().flatten().any(|p| {
                        matches!(&p.target_port, Some(IntOrString::Int(target)) if *target == number)
                    });
                    if is_target {
                        draft = draft.evidence(format!(
                            "{number} is a targetPort (the container's port); an Ingress backend names the Service's port"
                        ));
                    }
                }
                draft = draft
                    .summary("Use a port the Service exposes (its `port` number or its name), not the container's port.")
                    .read_only(
                        "Read the Service's ports",
                        format!("kubectl get service -n {ns} {svc_name} -o jsonpath='{{.spec.ports}}'"),
                    )
                    .step(
                        "Fix the backend port of the Ingress",
                        Some(format!("kubectl edit ingress -n {ns} {}", ingress_ref.name)),
                        Risk::Reversible,
                    );
                out.push(draft);
            }
        }
    }
}

/// Where kubedx may not read Secrets (an install without Secret access, or a
/// denial) or the input holds none of the namespace (a snapshot without Secrets), an
/// Ingress's TLS Secrets are unverified, never missing and never passed over in
/// silence: one Info SecretUnverified per Secret, with why and what to check.
fn tls_unverified(ctx: &RuleContext, ingress_ref: &ObjRef, ing: &Ingress, out: &mut Vec<Draft>) {
    let ns = ingress_ref.ns();
    let (reason, why) = match ctx.store.unverified_reason(Kind::Secret, ns) {
        Some(reason) => (
            reason.to_owned(),
            format!("kubedx may not read Secrets in {ns}"),
        ),
        None => (
            format!("the input holds no Secret of namespace {ns} (Secrets were not captured)"),
            format!("the input holds no Secrets of {ns}"),
        ),
    };
    for tls_spec in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
        let Some(secret) = tls_spec.secret_name.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        let secret_ref = ObjRef::namespaced(Kind::Secret, ns, secret);
        if ctx.store.get::<Secret>(ns, secret).is_some()
            || out
                .iter()
                .any(|d| d.rule.id == RuleId::SecretUnverified && d.object == secret_ref)
        {
            continue;
        }
        let draft = Draft::new(RuleId::SecretUnverified, secret_ref.clone())
            .edge("Ingress -> Secret")
            .scope(ingress_ref.clone())
            .message(format!(
                "Secret {ns}/{secret}, the TLS certificate of Ingress {}, could not be verified: {why}",
                ingress_ref.name
            ))
            .evidence(format!("unverified: {reason}"))
            .evidence(format!("spec.tls secretName: {secret} of Ingress {}", ingress_ref.name))
            .summary("Check that the Secret exists, or grant kubedx Secret access in this namespace.")
            .read_only(
                "Check that the Secret exists (names only)",
                format!("kubectl get secret {secret} -n {ns} -o name"),
            );
        out.push(draft);
    }
}

fn tls(ctx: &RuleContext, ingress_ref: &ObjRef, ing: &Ingress, out: &mut Vec<Draft>) {
    let ns = ingress_ref.ns();
    if !ctx.store.kind_listed(Kind::Secret, ns) {
        tls_unverified(ctx, ingress_ref, ing, out);
        return;
    }
    for tls_spec in ing.spec.iter().flat_map(|s| s.tls.iter().flatten()) {
        let Some(secret) = tls_spec.secret_name.as_deref().filter(|s| !s.is_empty()) else {
            continue;
        };
        if ctx.store.get::<Secret>(ns, secret).is_some() {
            continue;
        }
        let hosts = tls_spec.hosts.clone().unwrap_or_default();
        let draft = Draft::new(RuleId::IngressTLSSecretNotFound, ingress_ref.clone())
            .discriminator(secret.to_owned())
            .edge("Ingress -> Secret")
            .message(format!(
                "Ingress {} terminates TLS for {} with Secret {secret}, which does not exist: the controller serves its default (self-signed) certificate or drops the TLS host",
                ingress_ref.name,
                if hosts.is_empty() { "its hosts".to_owned() } else { hosts.join(", ") }
            ))
            .evidence(format!("spec.tls secretName: {secret}"))
            .scope(ObjRef::namespaced(Kind::Secret, ns, secret))
            .summary("Create the TLS Secret (kubernetes.io/tls) or fix secretName; with cert-manager, check the Certificate.")
            .read_only(
                "List the Secrets of the namespace (with cert-manager, also its Certificates)",
                format!("kubectl get secrets -n {ns}"),
            )
            .step(
                "Create the TLS Secret",
                Some(format!(
                    "kubectl create secret tls {secret} -n {ns} --cert=tls.crt --key=tls.key"
                )),
                Risk::Reversible,
            );
        out.push(draft);
    }
}
