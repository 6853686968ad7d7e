//! Services: selectors that match nothing (with the nearest-miss Pods), no ready
//! endpoints, target ports no Pod declares, a single endpoint for a replicated workload.
//!
//! Services without a selector (manual EndpointSlices) and ExternalName Services
//! have no Pods to check; headless Services are checked for selection and readiness
//! but not for target ports (clients reach the Pods' ports directly).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::Risk;
use crate::k8s::pod;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::{
    MAX_PODS_SCANNED, container_ports, fmt_map, name_list, pod_state, resolve_named_port,
};
use crate::rules::{Draft, RuleContext};
use crate::selector::{Requirement, Selector};

/// ServiceSelectorMatchesNoPods, ServiceNoReadyEndpoints, ServiceSingleEndpoint and
/// ServiceTargetPortMismatch for each Service of the graph.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for svc_ref in ctx.graph.subjects(Kind::Service) {
        let Some(svc) = ctx.store.get_ref::<Service>(svc_ref) else {
            continue;
        };
        let Some(spec) = &svc.spec else { continue };
        if spec.type_.as_deref() == Some("ExternalName") {
            continue;
        }
        let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
            // no selector: endpoints are managed by hand (or by another controller)
            continue;
        };
        let sel = Selector::from_map(selector.iter());
        let pods: Vec<&Pod> = ctx
            .store
            .select_pods(svc_ref.ns(), &sel)
            .into_iter()
            .map(|p| p.as_ref())
            .collect();
        let live: Vec<&Pod> = pods
            .iter()
            .copied()
            .filter(|p| !pod::is_terminal(p))
            .collect();
        if pods.is_empty() {
            selector_matches_no_pods(ctx, svc_ref, selector, &sel, out);
            continue;
        }
        if live.is_empty() {
            continue;
        }
        let slices: Vec<&EndpointSlice> = ctx
            .store
            .endpoint_slices(svc_ref.ns(), &svc_ref.name)
            .map(|s| s.as_ref())
            .collect();
        let ready: Vec<&Pod> = live.iter().copied().filter(|p| pod::is_ready(p)).collect();
        let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
        if ready.is_empty() && !publish_not_ready {
            no_ready_endpoints(ctx, svc_ref, &live, &slices, out);
        } else if ready.len() == 1 && !publish_not_ready {
            single_endpoint(ctx, svc_ref, &live, ready[0], out);
        }
        let headless = spec.cluster_ip.as_deref() == Some("None");
        if !headless {
            target_port_mismatch(svc_ref, svc, &live, out);
        }
    }
}

/// How a requirement a Pod fails reads: `app.kubernetes.io/name: "payments" vs "payment"`.
pub(crate) fn describe_unmet(
    requirement: &Requirement,
    labels: Option<&BTreeMap<String, String>>,
) -> String {
    let get = |k: &str| labels.and_then(|l| l.get(k));
    match requirement {
        Requirement::Equals(k, v) => match get(k) {
            Some(have) => format!("{k}: \"{v}\" vs \"{have}\""),
            None => format!("label {k} missing (selector wants {k}={v})"),
        },
        Requirement::In(k, vs) => match get(k) {
            Some(have) => format!("{k}: \"{have}\" not in ({})", vs.join(", ")),
            None => format!(
                "label {k} missing (selector wants {k} in ({}))",
                vs.join(", ")
            ),
        },
        Requirement::NotIn(k, vs) => format!(
            "{k}: \"{}\" is in ({})",
            get(k).map(String::as_str).unwrap_or_default(),
            vs.join(", ")
        ),
        Requirement::Exists(k) => format!("label {k} missing"),
        Requirement::DoesNotExist(k) => format!("label {k} present"),
        Requirement::Invalid(s) => format!("invalid requirement {s}"),
    }
}

fn selector_matches_no_pods(
    ctx: &RuleContext,
    svc_ref: &ObjRef,
    selector: &BTreeMap<String, String>,
    sel: &Selector,
    out: &mut Vec<Draft>,
) {
    let ns = svc_ref.ns();
    if !ctx.store.kind_listed(Kind::Pod, ns) {
        // Pods of the namespace were not read: absence proves nothing.
        return;
    }
    let sel_text = fmt_map(selector);
    let mut draft = Draft::new(RuleId::ServiceSelectorMatchesNoPods, svc_ref.clone())
        .edge("Service -> Pod")
        .evidence(format!("selector {sel_text}"));
    // Nearest misses: the Pods failing the fewest requirements, grouped by how they differ.
    let mut best = usize::MAX;
    let mut near: BTreeMap<String, Vec<&Pod>> = BTreeMap::new();
    let mut scanned = 0usize;
    for pod in ctx.store.list::<Pod>(ns).take(MAX_PODS_SCANNED) {
        scanned += 1;
        let unmet = sel.unmet(pod.metadata.labels.as_ref());
        // A Pod sharing no label with the selector is not a near miss.
        if unmet.len() >= sel.requirements().len() && sel.requirements().len() > 1 {
            continue;
        }
        let how: Vec<String> = unmet
            .iter()
            .map(|u| describe_unmet(u, pod.metadata.labels.as_ref()))
            .collect();
        let how = how.join("; ");
        if unmet.len() < best {
            best = unmet.len();
            near.clear();
        }
        if unmet.len() == best {
            near.entry(how).or_default().push(pod);
        }
    }
    let mut message = format!(
        "Service {} selects no Pods: no Pod of namespace {ns} has the labels {sel_text}",
        svc_ref.name
    );
    // Workloads whose Pod template matches: the Service is right, the Pods are missing.
    let templates = ctx.store.template_matches(ns, sel);
    if templates.is_empty() {
        if let Some((how, pods)) = near.iter().max_by_key(|(_, v)| v.len()) {
            let names: Vec<&str> = pods.iter().map(|p| pod::name(p)).collect();
            message.push_str(&format!(
                "; nearest Pods ({}) differ in {how}",
                name_list(&names, 2)
            ));
            for (how, pods) in near.iter().take(3) {
                let names: Vec<&str> = pods.iter().map(|p| pod::name(p)).collect();
                draft = draft.evidence(format!(
                    "{} Pod(s) {} differ from the selector only in {how}",
                    pods.len(),
                    name_list(&names, 3)
                ));
            }
            // near misses are evidence, not the Service's Pods: they stay out of the scope
        } else if scanned == 0 {
            message.push_str(" (the namespace has no Pods)");
        } else {
            draft = draft.evidence(format!(
                "none of the {scanned} Pods of the namespace shares the selector's labels"
            ));
        }
    }
    for (workload, replicas) in &templates {
        match replicas {
            Some(0) => {
                message.push_str(&format!(
                    "; {} {} matches but is scaled to 0",
                    workload.kind, workload.name
                ));
                draft = draft.evidence(format!(
                    "{} {} has replicas: 0",
                    workload.kind, workload.name
                ));
            }
            _ => {
                message.push_str(&format!(
                    "; {} {}'s Pod template matches but it has no Pods",
                    workload.kind, workload.name
                ));
                draft = draft.evidence(format!(
                    "{} {}'s Pod template matches the selector but none of its Pods exist",
                    workload.kind, workload.name
                ));
            }
        }
        // the workload (and what it owns) may explain why there are no Pods
        draft = draft.scope(workload.clone());
        if let Some(uid) = ctx
            .store
            .object(workload)
            .and_then(|o| o.meta())
            .and_then(|m| m.uid.clone())
        {
            for owned in ctx.store.owned_by(&uid) {
                if owned.kind == Kind::ReplicaSet {
                    draft = draft.scope(owned.clone());
                }
            }
        }
    }
    let selector_args: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let scaled_to_zero = templates.iter().find(|(_, replicas)| *replicas == Some(0));
    draft = draft.message(message).summary(
        "Make the Service's selector and the Pods' labels agree (fix whichever is wrong).",
    );
    if let Some((workload, _)) = scaled_to_zero {
        // the selector is right: the workload behind it was scaled to zero
        draft = draft
            .summary(format!(
                "Scale {} {} back up (it matches the Service's selector and runs no Pods), or find out who scaled it to 0 (an incident, an autoscaler, a GitOps sync)",
                workload.kind, workload.name
            ))
            .step(
                format!("Scale {} {} back up", workload.kind, workload.name),
                Some(format!(
                    "kubectl scale {} -n {ns} {} --replicas=<n>",
                    workload.kind.to_string().to_ascii_lowercase(),
                    workload.name
                )),
                Risk::Reversible,
            );
    }
    draft = draft
        .read_only(
            "List the Pods the selector matches (none) and the Pods' labels",
            format!(
                "kubectl get pods -n {ns} -l {} ; kubectl get pods -n {ns} --show-labels",
                selector_args.join(",")
            ),
        )
        .read_only(
            "Check the Service's EndpointSlices",
            format!(
                "kubectl get endpointslice -n {ns} -l kubernetes.io/service-name={}",
                svc_ref.name
            ),
        )
        .step(
            "Fix the selector of the Service (or the labels of the workload's Pod template)",
            Some(format!("kubectl edit service -n {ns} {}", svc_ref.name)),
            Risk::Reversible,
        );
    out.push(draft);
}

fn slice_summary(slices: &[&EndpointSlice]) -> (usize, usize) {
    let mut total = 0;
    let mut ready = 0;
    for slice in slices {
        for endpoint in slice.endpoints.iter().flatten() {
            total += 1;
            // nil `ready` is to be read as ready
            if endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(false) {
                ready += 1;
            }
        }
    }
    (total, ready)
}

fn no_ready_endpoints(
    ctx: &RuleContext,
    svc_ref: &ObjRef,
    live: &[&Pod],
    slices: &[&EndpointSlice],
    out: &mut Vec<Draft>,
) {
    let (total, ready) = slice_summary(slices);
    if !slices.is_empty() && ready > 0 {
        // The EndpointSlices still route to ready endpoints: trust them.
        return;
    }
    let ns = svc_ref.ns();
    let refs: Vec<ObjRef> = live.iter().map(|p| pod::reference(p)).collect();
    let mut draft = Draft::new(RuleId::ServiceNoReadyEndpoints, svc_ref.clone())
        .edge("Service -> Pod")
        .message(format!(
            "Service {} has no ready endpoints: none of its {} Pod(s) is ready, so requests to it fail (an Ingress or Gateway in front answers 503)",
            svc_ref.name,
            live.len()
        ))
        .affected(&refs);
    if live.iter().all(|p| pod::is_starting(p, ctx.now())) {
        // in progress is not broken: every Pod behind it is young and still starting
        draft = draft.severity(crate::api::Severity::Info).message(format!(
            "In progress: Service {} has no ready endpoint yet: its {} Pod(s) are still starting (created less than {}s ago, no container failing)",
            svc_ref.name,
            live.len(),
            pod::STARTING_GRACE_SECS
        ));
    }
    for pod in live.iter().take(5) {
        draft = draft.evidence(format!("Pod {}: {}", pod::name(pod), pod_state(pod)));
    }
    if slices.is_empty() {
        draft =
            draft.evidence("no EndpointSlice lists a ready endpoint for the Service".to_owned());
    } else {
        let names: Vec<&str> = slices
            .iter()
            .map(|s| s.metadata.name.as_deref().unwrap_or_default())
            .collect();
        draft = draft.evidence(format!(
            "EndpointSlice {}: {total} endpoint(s), {ready} ready",
            name_list(&names, 3)
        ));
        for slice in slices {
            draft = draft.scope(ObjRef::namespaced(
                Kind::EndpointSlice,
                ns,
                slice.metadata.name.as_deref().unwrap_or_default(),
            ));
        }
    }
    draft = draft
        .summary("Find out why the Pods are not ready: the findings that explain this one say why.")
        .read_only(
            "Check the endpoints and their readiness",
            format!(
                "kubectl get endpointslice -n {ns} -l kubernetes.io/service-name={} -o wide",
                svc_ref.name
            ),
        )
        .read_only(
            "Look at the Pods' readiness and events",
            format!(
                "kubectl describe pods -n {ns} {}",
                name_list(&refs.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), 3)
                    .replace(", ", " ")
            ),
        );
    out.push(draft);
}

/// The replicas a Pod's controlling workload wants (Deployment, StatefulSet, ReplicaSet).
fn desired_replicas(ctx: &RuleContext, pod: &Pod) -> Option<(ObjRef, i32)> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))?;
    match owner.kind.as_str() {
        "ReplicaSet" => {
            let rs = ctx.store.get::<ReplicaSet>(ns, &owner.name)?;
            let dep = rs
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.controller == Some(true) && o.kind == "Deployment")
                .and_then(|o| ctx.store.get::<Deployment>(ns, &o.name));
            match dep {
                Some(deployment) => Some((
                    ObjRef::namespaced(
                        Kind::Deployment,
                        ns,
                        deployment.metadata.name.as_deref().unwrap_or_default(),
                    ),
                    deployment.spec.replicas.unwrap_or(1),
                )),
                None => Some((
                    ObjRef::namespaced(Kind::ReplicaSet, ns, &owner.name),
                    rs.spec.replicas.unwrap_or(1),
                )),
            }
        }
        "StatefulSet" => {
            let statefulset = ctx.store.get::<StatefulSet>(ns, &owner.name)?;
            Some((
                ObjRef::namespaced(Kind::StatefulSet, ns, &owner.name),
                statefulset.spec.replicas.unwrap_or(1),
            ))
        }
        _ => None,
    }
}

fn single_endpoint(
    ctx: &RuleContext,
    svc_ref: &ObjRef,
    live: &[&Pod],
    ready: &Pod,
    out: &mut Vec<Draft>,
) {
    let Some((workload, replicas)) = live.iter().find_map(|p| desired_replicas(ctx, p)) else {
        return;
    };
    if replicas <= 1 {
        return;
    }
    let not_ready: Vec<ObjRef> = live
        .iter()
        .filter(|p| !pod::is_ready(p))
        .map(|p| pod::reference(p))
        .collect();
    let mut draft = Draft::new(RuleId::ServiceSingleEndpoint, svc_ref.clone())
        .edge("Service -> Pod")
        .message(format!(
            "Service {} has a single ready endpoint ({}) although {} {} wants {replicas} replicas: one more failure and it serves nothing",
            svc_ref.name,
            pod::name(ready),
            workload.kind,
            workload.name
        ))
        .evidence(format!("{} of {} selected Pod(s) ready", 1, live.len()))
        .scope(pod::reference(ready))
        .summary("Find out why the other replicas are not ready (or not running).")
        .read_only(
            "Check the endpoints",
            format!(
                "kubectl get endpointslice -n {} -l kubernetes.io/service-name={}",
                svc_ref.ns(),
                svc_ref.name
            ),
        );
    for pod in live.iter().filter(|p| !pod::is_ready(p)).take(5) {
        draft = draft.evidence(format!("Pod {}: {}", pod::name(pod), pod_state(pod)));
    }
    if !not_ready.is_empty() {
        draft = draft.affected(&not_ready);
    }
    out.push(draft);
}

fn target_port_mismatch(svc_ref: &ObjRef, svc: &Service, live: &[&Pod], out: &mut Vec<Draft>) {
    let Some(spec) = &svc.spec else { return };
    let ns = svc_ref.ns();
    for service_port in spec.ports.iter().flatten() {
        let protocol = service_port.protocol.as_deref().unwrap_or("TCP");
        let port_label = match &service_port.name {
            Some(n) if !n.is_empty() => format!("{n} ({}/{protocol})", service_port.port),
            _ => format!("{}/{protocol}", service_port.port),
        };
        let (target, problem): (String, Option<String>) = match &service_port.target_port {
            Some(IntOrString::String(name)) => {
                let resolved = live
                    .iter()
                    .filter(|p| resolve_named_port(p, name, protocol).is_some())
                    .count();
                if resolved > 0 {
                    (name.clone(), None)
                } else {
                    let declared: Vec<String> = live
                        .iter()
                        .flat_map(|p| container_ports(p))
                        .map(|cp| match &cp.name {
                            Some(n) => format!(
                                "{n}={}/{}",
                                cp.container_port,
                                cp.protocol.as_deref().unwrap_or("TCP")
                            ),
                            None => format!(
                                "{}/{}",
                                cp.container_port,
                                cp.protocol.as_deref().unwrap_or("TCP")
                            ),
                        })
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    (
                        name.clone(),
                        Some(format!(
                            "targetPort \"{name}\" is a port name no container of the selected Pods declares ({protocol}); they declare: {}",
                            if declared.is_empty() {
                                "no ports".to_owned()
                            } else {
                                declared.join(", ")
                            }
                        )),
                    )
                }
            }
            other => {
                let number = match other {
                    Some(IntOrString::Int(number)) => *number,
                    _ => service_port.port,
                };
                let declared: Vec<(i32, String)> = live
                    .iter()
                    .flat_map(|p| container_ports(p))
                    .map(|cp| {
                        (
                            cp.container_port,
                            cp.protocol.clone().unwrap_or_else(|| "TCP".to_owned()),
                        )
                    })
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if declared.is_empty()
                    || declared
                        .iter()
                        .any(|(p, proto)| *p == number && proto == protocol)
                {
                    (number.to_string(), None)
                } else {
                    let list: Vec<String> =
                        declared.iter().map(|(p, pr)| format!("{p}/{pr}")).collect();
                    (
                        number.to_string(),
                        Some(format!(
                            "targetPort {number}/{protocol} is not among the container ports the selected Pods declare: {}",
                            list.join(", ")
                        )),
                    )
                }
            }
        };
        let Some(problem) = problem else { continue };
        let refs: Vec<ObjRef> = live.iter().map(|p| pod::reference(p)).collect();
        let draft = Draft::new(RuleId::ServiceTargetPortMismatch, svc_ref.clone())
            .discriminator(service_port.name.clone().unwrap_or_else(|| service_port.port.to_string()))
            .edge("Service -> Pod")
            .message(format!(
                "Service {} port {port_label} sends traffic to target port {target}, which the selected Pods do not expose: connections are refused",
                svc_ref.name
            ))
            .evidence(problem)
            .affected(&refs)
            .summary("Point targetPort at the port the container listens on (its number or its declared name).")
            .read_only(
                "Compare the Service's ports with the Pods' container ports",
                format!(
                    "kubectl get service -n {ns} {} -o jsonpath='{{.spec.ports}}' ; kubectl get pod -n {ns} {} -o jsonpath='{{.spec.containers[*].ports}}'",
                    svc_ref.name, refs[0].name
                ),
            )
            .step(
                "Fix the Service's targetPort",
                Some(format!("kubectl edit service -n {ns} {}", svc_ref.name)),
                Risk::Reversible,
            );
        out.push(draft);
    }
}

/// Why a Service has no ready endpoint, for the findings of the Pods that depend on
/// it (DependencyUnavailable). The same verdicts as ServiceSelectorMatchesNoPods and
/// ServiceNoReadyEndpoints: EndpointSlices with a ready endpoint are trusted.
pub(crate) struct Unavailable {
    /// `selects no Pods; Deployment postgres is scaled to 0`, `none of its 1 Pod(s) is ready`.
    pub(crate) why: String,
    pub(crate) evidence: Vec<String>,
    /// Every Pod behind it is still starting (in progress, not broken).
    pub(crate) starting: bool,
}

/// `Some` when the existing Service `svc_ref` has no ready endpoint; `None` when it
/// serves, or when what was read cannot tell (ExternalName, Pods not read).
pub(crate) fn unavailable(ctx: &RuleContext, svc_ref: &ObjRef) -> Option<Unavailable> {
    let svc = ctx.store.get_ref::<Service>(svc_ref)?;
    let spec = svc.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    let ns = svc_ref.ns();
    let slices: Vec<&EndpointSlice> = ctx
        .store
        .endpoint_slices(ns, &svc_ref.name)
        .map(|s| s.as_ref())
        .collect();
    let (total, ready_eps) = slice_summary(&slices);
    let slice_line = || {
        if slices.is_empty() {
            "no EndpointSlice lists a ready endpoint".to_owned()
        } else {
            format!("its EndpointSlices list {total} endpoint(s), {ready_eps} ready")
        }
    };
    let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
        // endpoints managed by hand: the slices are all there is
        return (!slices.is_empty() && ready_eps == 0).then(|| Unavailable {
            why: "its EndpointSlices list no ready endpoint".to_owned(),
            evidence: vec![slice_line()],
            starting: false,
        });
    };
    let sel = Selector::from_map(selector.iter());
    let pods: Vec<&Pod> = ctx
        .store
        .select_pods(ns, &sel)
        .into_iter()
        .map(|p| p.as_ref())
        .collect();
    if pods.is_empty() {
        if !ctx.store.kind_listed(Kind::Pod, ns) {
            return None;
        }
        let mut why = format!("its selector {} matches no Pod", fmt_map(selector));
        let mut evidence = vec![format!(
            "Service {}/{}: selector {} matches no Pod",
            ns,
            svc_ref.name,
            fmt_map(selector)
        )];
        for (workload, replicas) in ctx.store.template_matches(ns, &sel) {
            let (kind, name) = (workload.kind, &workload.name);
            match replicas {
                Some(0) => {
                    why.push_str(&format!("; {kind} {name} is scaled to 0"));
                    evidence.push(format!("{kind} {ns}/{name} has replicas: 0"));
                }
                _ => evidence.push(format!(
                    "{kind} {ns}/{name}'s Pod template matches but none of its Pods exist"
                )),
            }
        }
        return Some(Unavailable {
            why,
            evidence,
            starting: false,
        });
    }
    let live: Vec<&Pod> = pods
        .iter()
        .copied()
        .filter(|p| !pod::is_terminal(p))
        .collect();
    if live.is_empty() {
        return Some(Unavailable {
            why: format!("all of its {} Pod(s) have terminated", pods.len()),
            evidence: vec![slice_line()],
            starting: false,
        });
    }
    if spec.publish_not_ready_addresses == Some(true)
        || live.iter().any(|p| pod::is_ready(p))
        || (!slices.is_empty() && ready_eps > 0)
    {
        return None;
    }
    let mut evidence: Vec<String> = live
        .iter()
        .take(3)
        .map(|p| format!("Pod {}: {}", pod::name(p), pod_state(p)))
        .collect();
    evidence.push(slice_line());
    Some(Unavailable {
        why: format!("none of its {} Pod(s) is ready", live.len()),
        evidence,
        starting: live.iter().all(|p| pod::is_starting(p, ctx.now())),
    })
}
