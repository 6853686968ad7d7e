//! DependencyUnavailable: the Pods' evidence (probe failure messages, log lines, env
//! and ConfigMap values) names an in-cluster Service that has no ready endpoints.
//!
//! The graph holds the names as `Names` edges (crate::graph::evidence finds them);
//! this rule judges the named Services and quotes where they were named. The
//! finding's scope holds the named Service, so correlation links the Service's own
//! findings (and through them its root cause) under it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, Service};

use crate::api::{Risk, Severity};
use crate::graph::EdgeKind;
use crate::graph::evidence::{Mention, Scanner, Source};
use crate::k8s::{owners, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::name_list;
use crate::rules::networking::service::{Unavailable, unavailable};
use crate::rules::{Draft, RuleContext};
use crate::text::clip;

/// How long a quoted probe message or log line may be.
const MAX_QUOTE: usize = 220;

/// One finding per (controller of the calling Pods, named Service) whose Service
/// has no ready endpoint.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // (caller controller, dependency Service) -> the calling Pods
    let mut groups: BTreeMap<(ObjRef, ObjRef), Vec<ObjRef>> = BTreeMap::new();
    for pod_ref in ctx.graph.subjects(Kind::Pod) {
        let named: Vec<&ObjRef> = ctx
            .graph
            .dependencies(pod_ref)
            .filter(|edge| edge.kind == EdgeKind::Names && edge.to.kind == Kind::Service)
            .map(|edge| &edge.to)
            .filter(|service| ctx.store.contains(service))
            .collect();
        if named.is_empty() {
            continue;
        }
        let Some(caller) = ctx.store.get_ref::<Pod>(pod_ref) else {
            continue;
        };
        if pod::is_terminal(caller) {
            continue;
        }
        let controller =
            owners::controller_of(ctx.store, &caller.metadata).unwrap_or_else(|| pod_ref.clone());
        for service in named {
            let pods = groups
                .entry((controller.clone(), service.clone()))
                .or_default();
            if !pods.contains(pod_ref) {
                pods.push(pod_ref.clone());
            }
        }
    }
    if groups.is_empty() {
        return;
    }
    let scanner = Scanner::new(ctx.store, ctx.logs);
    let mut verdicts: BTreeMap<ObjRef, Option<Unavailable>> = BTreeMap::new();
    for ((controller, service), callers) in groups {
        let verdict = verdicts
            .entry(service.clone())
            .or_insert_with(|| unavailable(ctx, &service));
        let Some(down) = verdict.as_ref() else {
            continue;
        };
        out.push(finding(
            ctx,
            &scanner,
            &controller,
            &service,
            &callers,
            down,
        ));
    }
}

fn finding(
    ctx: &RuleContext,
    scanner: &Scanner,
    controller: &ObjRef,
    service: &ObjRef,
    callers: &[ObjRef],
    down: &Unavailable,
) -> Draft {
    let ns = service.ns();
    let workload = owners::top_owner(ctx.store, controller);
    let who = format!("{} {}", workload.kind.name(), workload.name);
    // where the Service is named, from the first Pods (quotes from probes and logs only)
    let mut mentions: Vec<(ObjRef, Mention)> = Vec::new();
    for caller in callers.iter().take(3) {
        let Some(caller_pod) = ctx.store.get_ref::<Pod>(caller) else {
            continue;
        };
        for mention in scanner.pod_mentions(caller, caller_pod) {
            if &mention.service == service
                && !mentions.iter().any(|(_, m)| m.source == mention.source)
            {
                mentions.push((caller.clone(), mention));
            }
        }
    }
    mentions.sort_by(|a, b| a.1.source.cmp(&b.1.source));
    let mut sources: Vec<String> = mentions.iter().map(|(_, m)| m.source.to_string()).collect();
    sources.dedup();
    let failing: Vec<&ObjRef> = callers
        .iter()
        .filter(|caller| {
            ctx.store
                .get_ref::<Pod>(caller)
                .is_some_and(|p| !pod::is_ready(p))
        })
        .collect();
    let in_failure = mentions
        .iter()
        .any(|(_, m)| matches!(m.source, Source::Probe { .. } | Source::Log { .. }));
    let service_name = if ns == controller.ns() {
        service.name.clone()
    } else {
        format!("{}.{ns}", service.name)
    };
    let mut message = format!(
        "{who} depends on Service {service_name}, which has no ready endpoints ({}); named in {}",
        down.why,
        if sources.is_empty() {
            "the Pods' evidence".to_owned()
        } else {
            name_list(&sources, 3)
        }
    );
    let mut severity = Severity::Critical;
    if failing.is_empty() && !in_failure {
        severity = Severity::Info;
        message.push_str("; the Pods are ready for now");
    } else if down.starting {
        severity = Severity::Info;
        message.push_str("; its Pods are still starting");
    }
    let mut draft = Draft::new(RuleId::DependencyUnavailable, controller.clone())
        .severity(severity)
        .discriminator(format!("{ns}/{}", service.name))
        .edge("Pod -> Service")
        .message(message)
        .affected(callers)
        .scope(service.clone());
    for (caller, mention) in mentions.iter().take(4) {
        let line = match &mention.quote {
            Some(quote) => format!(
                "{} {}: {}",
                caller.name,
                mention.source,
                clip(&one_line(quote), MAX_QUOTE)
            ),
            // a configuration value is not quoted (it may hold credentials): its
            // name and the address it holds
            None => format!(
                "{} {} names {}",
                caller.name, mention.source, mention.written
            ),
        };
        draft = draft.evidence(line);
    }
    for line in &down.evidence {
        draft = draft.evidence(line.clone());
    }
    draft = draft
        .summary(format!(
            "Bring Service {ns}/{} back: its own findings say why it has no ready endpoints; {who} recovers once it serves.",
            service.name
        ))
        .read_only(
            "Check the dependency's endpoints",
            format!(
                "kubectl get endpointslice -n {ns} -l kubernetes.io/service-name={} -o wide",
                service.name
            ),
        );
    if let Some(selector) = ctx
        .store
        .get_ref::<Service>(service)
        .and_then(|s| s.spec.as_ref())
        .and_then(|s| s.selector.as_ref())
        .filter(|s| !s.is_empty())
    {
        let args: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
        draft = draft.read_only(
            "Check the Pods behind it",
            format!("kubectl get pods -n {ns} -l {} -o wide", args.join(",")),
        );
    }
    draft.step(
        "Diagnose the dependency itself",
        Some(format!("kubedx diagnose service/{} -n {ns}", service.name)),
        Risk::ReadOnly,
    )
}

/// A multi-line probe output as one line.
fn one_line(text: &str) -> String {
    text.split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ")
}
