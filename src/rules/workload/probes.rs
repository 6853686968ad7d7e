//! Probes: LivenessProbeFailing, ReadinessProbeFailing, StartupProbeFailing,
//! ProbePortMismatch, MissingStartupProbe.
//!
//! Failures come from the kubelet's `Unhealthy` events ("Liveness probe failed: ...",
//! "... errored: ..."), its `Killing` events ("Container app failed liveness probe,
//! will be restarted") and the container's state (Ready=False while running for a
//! readiness probe). A failure whose message is a name-resolution error is tagged
//! `dns`, so ClusterDNSUnavailable / NetworkPolicyBlocksDNS can explain it.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Container, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::k8s::{duration, owners};
use crate::rules::{Draft, RuleContext};
use crate::rules::{RuleId, Tag};

use super::{
    Claims, ContainerView, Groups, PodView, kubectl_ref, termination_is_current, with_events,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeKind {
    pub(crate) const ALL: [ProbeKind; 3] = [
        ProbeKind::Liveness,
        ProbeKind::Readiness,
        ProbeKind::Startup,
    ];

    fn word(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Startup => "startup",
        }
    }

    fn field(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }

    fn rule(self) -> RuleId {
        match self {
            ProbeKind::Liveness => RuleId::LivenessProbeFailing,
            ProbeKind::Readiness => RuleId::ReadinessProbeFailing,
            ProbeKind::Startup => RuleId::StartupProbeFailing,
        }
    }

    fn of(self, c: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
            ProbeKind::Startup => c.startup_probe.as_ref(),
        }
    }

    /// The kind an `Unhealthy` event is about.
    pub(crate) fn of_event(msg: &str) -> Option<ProbeKind> {
        for k in ProbeKind::ALL {
            let cap = match k {
                ProbeKind::Liveness => "Liveness probe ",
                ProbeKind::Readiness => "Readiness probe ",
                ProbeKind::Startup => "Startup probe ",
            };
            if msg.starts_with(cap) {
                return Some(k);
            }
        }
        None
    }
}

/// Whether a probe (or log) message shows a name-resolution failure, as opposed to a
/// plain connection timeout: `lookup db on 10.96.0.10:53: no such host`, `could not
/// resolve host`, `Temporary failure in name resolution`, `server misbehaving`,
/// `getaddrinfo ENOTFOUND`, or an i/o timeout talking to a DNS server (`lookup ...`
/// or `...:53: i/o timeout`). `dial tcp 10.0.0.5:8080: i/o timeout` is not DNS.
pub(crate) fn is_dns_failure(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    let has = |s: &str| m.contains(s);
    if has("no such host")
        || has("could not resolve")
        || has("couldn't resolve")
        || has("can't resolve")
        || has("cannot resolve")
        || has("name resolution")
        || has("server misbehaving")
        || has("enotfound")
        || has("eai_again")
        || has("name or service not known")
        || has("nodename nor servname")
        || has("unknownhostexception")
    {
        return true;
    }
    if has("i/o timeout") || has("timed out") || has("timeout") {
        // a timeout is DNS only when it is a lookup or talks to port 53
        return has("lookup ") || has(":53:") || has(":53->") || m.contains(":53 ");
    }
    false
}

/// `httpGet :8080/healthz (periodSeconds=10, timeoutSeconds=1, failureThreshold=3)`
fn describe_probe(kind: ProbeKind, p: &Probe) -> String {
    let action = if let Some(h) = &p.http_get {
        format!(
            "httpGet {}:{}{}",
            h.scheme.as_deref().unwrap_or("HTTP").to_ascii_lowercase(),
            port_str(&h.port),
            h.path.as_deref().unwrap_or("/")
        )
    } else if let Some(t) = &p.tcp_socket {
        format!("tcpSocket :{}", port_str(&t.port))
    } else if let Some(g) = &p.grpc {
        format!("grpc :{}", g.port)
    } else if let Some(e) = &p.exec {
        format!("exec {:?}", e.command.clone().unwrap_or_default())
    } else {
        "no handler".to_owned()
    };
    format!(
        "{}: {action} (initialDelaySeconds={}, periodSeconds={}, timeoutSeconds={}, failureThreshold={})",
        kind.field(),
        p.initial_delay_seconds.unwrap_or(0),
        p.period_seconds.unwrap_or(10),
        p.timeout_seconds.unwrap_or(1),
        p.failure_threshold.unwrap_or(3)
    )
}

fn port_str(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// How long a probe tolerates failures before acting: initialDelay + period × threshold.
fn window_secs(p: &Probe) -> i64 {
    p.initial_delay_seconds.unwrap_or(0) as i64
        + p.period_seconds.unwrap_or(10) as i64 * p.failure_threshold.unwrap_or(3) as i64
}

/// The probe events of one container (Unhealthy of that kind; Killing naming it).
fn probe_events<'a>(
    p: &PodView<'a>,
    c: &ContainerView,
    kind: ProbeKind,
) -> (Vec<&'a Arc<EventRecord>>, Vec<&'a Arc<EventRecord>>) {
    let candidates: Vec<ContainerView> = p
        .containers()
        .into_iter()
        .filter(|x| !x.init && kind.of(x.spec).is_some())
        .collect();
    // Unhealthy events do not name the container: with several candidates, the one
    // showing the symptom gets them (else the first).
    let owner_of_events = if candidates.len() <= 1 {
        candidates.first().map(|x| x.name())
    } else {
        candidates
            .iter()
            .find(|x| match kind {
                ProbeKind::Readiness => x.running() && !x.ready(),
                _ => x.restarts() > 0,
            })
            .or(candidates.first())
            .map(|x| x.name())
    };
    let unhealthy = if owner_of_events == Some(c.name()) {
        p.events
            .iter()
            .filter(|e| e.reason == "Unhealthy" && ProbeKind::of_event(&e.message) == Some(kind))
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    let killing_msg = format!("Container {} failed {} probe", c.name(), kind.word());
    let killing = p
        .events
        .iter()
        .filter(|e| e.reason == "Killing" && e.message.starts_with(&killing_msg))
        .copied()
        .collect();
    (unhealthy, killing)
}

struct ProbeHit<'a> {
    c: ContainerView<'a>,
    kind: ProbeKind,
    current: bool,
    dns: bool,
    unhealthy: Vec<&'a Arc<EventRecord>>,
}

pub(crate) fn evaluate(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    failing(ctx, pods, claims, out);
    port_mismatch(ctx, pods, claims, out);
    missing_startup_probe(ctx, pods, out);
}

fn failing(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    let mut groups: Groups<ProbeHit> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live() && !p.terminating()) {
        for c in p.containers().into_iter().filter(|c| !c.init) {
            for kind in ProbeKind::ALL {
                let Some(probe) = kind.of(c.spec) else {
                    continue;
                };
                let (unhealthy, killing) = probe_events(p, &c, kind);
                let recent = |e: &&Arc<EventRecord>| {
                    e.time.is_some_and(|t| {
                        duration::age(ctx.now(), t) <= window_secs(probe).max(60) * 3 + 600
                    })
                };
                let current = match kind {
                    ProbeKind::Readiness => c.running() && !c.ready(),
                    ProbeKind::Liveness => {
                        if unhealthy.is_empty() && killing.is_empty() {
                            continue;
                        }
                        (c.restarts() > 0 && termination_is_current(ctx, &c))
                            || killing.iter().any(recent)
                            || (unhealthy.iter().any(recent) && !c.ready())
                    }
                    ProbeKind::Startup => {
                        if unhealthy.is_empty() && killing.is_empty() {
                            continue;
                        }
                        c.status.and_then(|s| s.started) == Some(false)
                            || (c.restarts() > 0 && termination_is_current(ctx, &c))
                    }
                };
                if !current && unhealthy.is_empty() && killing.is_empty() {
                    continue;
                }
                if kind == ProbeKind::Readiness && current && unhealthy.is_empty() {
                    // not ready without probe events: still starting (startup probe
                    // pending, initial delay) is not a readiness failure
                    if c.status.and_then(|s| s.started) == Some(false)
                        || c.running_since()
                            .is_some_and(|t| duration::age(ctx.now(), t) < window_secs(probe))
                    {
                        continue;
                    }
                }
                let dns = unhealthy.iter().any(|e| is_dns_failure(&e.message));
                if current {
                    claims.claim(&p.pod_ref, Some(c.name()));
                }
                let disc = format!("{}{}", c.name(), if current { "" } else { "#recovered" });
                groups.add_hit(
                    p,
                    format!("{}/{disc}", kind.word()),
                    ProbeHit {
                        c,
                        kind,
                        current,
                        dns,
                        unhealthy,
                    },
                );
            }
        }
    }
    for g in groups.into_groups() {
        let h = g.first_seen();
        let p = g.first_pod();
        let c = h.c;
        let name = c.name();
        let kind = h.kind;
        let probe = kind.of(c.spec).expect("probe exists");
        let who = g.who(pods);
        let workload = owners::top_owner(ctx.store, g.controller());
        let last_msg = h.unhealthy.last().map(|e| {
            e.message
                .split_once(": ")
                .map_or(e.message.as_str(), |(_, m)| m)
                .trim()
                .to_owned()
        });
        let disc = g
            .discriminator()
            .split_once('/')
            .map_or("", |(_, d)| d)
            .to_owned();
        // the group is per probe kind; the finding's discriminator is the container
        let mut d = g.draft(kind.rule()).discriminator(disc);
        let why = last_msg
            .clone()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default();
        let mut message = match kind {
            ProbeKind::Liveness => format!(
                "The liveness probe of container {name} of {who} fails{why}, so the kubelet kills and restarts it ({} restarts)",
                c.restarts()
            ),
            ProbeKind::Readiness => format!(
                "The readiness probe of container {name} of {who} fails{why}: the Pods run but Services send them no traffic"
            ),
            ProbeKind::Startup => format!(
                "The startup probe of container {name} of {who} fails{why}: the container is restarted before it finishes starting ({} restarts)",
                c.restarts()
            ),
        };
        if g.members().iter().any(|hit| hit.seen.dns) {
            message.push_str("; the failure is a name-resolution (DNS) error");
            d = d.tag(Tag::Dns);
        }
        if !h.current {
            message = format!(
                "Recovered: the {} probe of container {name} of {who} failed earlier{why}, but the container is {} now",
                kind.word(),
                if c.ready() { "ready" } else { "running" }
            );
            d = d.severity(Severity::Info);
        }
        d = d
            .message(message)
            .evidence(format!("container {name}: {}", describe_probe(kind, probe)));
        if let Some(st) = c.status {
            d = d.evidence(format!(
                "container {name}: ready={}, started={}, restartCount={}",
                st.ready,
                st.started.map_or("-".to_owned(), |s| s.to_string()),
                st.restart_count
            ));
        }
        if kind == ProbeKind::Readiness {
            if let Some(cond) = p.condition("Ready") {
                d = d.evidence(format!(
                    "Pod {} condition Ready={}{}{}",
                    p.pod_ref.name,
                    cond.status,
                    cond.reason
                        .as_deref()
                        .map(|r| format!(" reason={r}"))
                        .unwrap_or_default(),
                    cond.last_transition_time
                        .as_ref()
                        .map(|t| format!(" since {}", t.0))
                        .unwrap_or_default()
                ));
            }
            if h.unhealthy.is_empty() {
                d = d.evidence("no Unhealthy events retained (events expire after an hour); the container has run past the probe's initial window without becoming ready");
            }
        }
        if kind != ProbeKind::Readiness
            && let Some(t) = c.termination_evidence()
        {
            d = d.evidence(t);
        }
        let killing_prefix = format!("Container {name} failed {} probe", kind.word());
        d = with_events(d, &g, 3, |e| {
            (e.reason == "Unhealthy" && ProbeKind::of_event(&e.message) == Some(kind))
                || (e.reason == "Killing" && e.message.starts_with(&killing_prefix))
        });
        d = d.read_only(
            "Read the probe failures and the container's state",
            p.describe_cmd(),
        );
        if kind != ProbeKind::Readiness {
            d = d.read_only("Read the output of the killed run", p.logs_cmd(name, true));
        } else {
            d = d.read_only("Read the container's log", p.logs_cmd(name, false));
        }
        if let Some(hg) = &probe.http_get {
            d = d.read_only(
                "Call the probe endpoint from inside the Pod",
                format!(
                    "kubectl exec {} -n {} -c {name} -- wget -qO- -T 2 http://localhost:{}{}",
                    p.pod_ref.name,
                    p.pod_ref.ns(),
                    port_str(&hg.port),
                    hg.path.as_deref().unwrap_or("/")
                ),
            );
        }
        if d.tags.contains(&Tag::Dns) {
            d = d.read_only(
                "Check name resolution from the Pod",
                format!(
                    "kubectl exec {} -n {} -c {name} -- cat /etc/resolv.conf",
                    p.pod_ref.name,
                    p.pod_ref.ns()
                ),
            );
        }
        let fix = match kind {
            ProbeKind::Liveness => {
                "Make the liveness probe check only the process itself (not dependencies), with a timeout and threshold that tolerate load; add a startupProbe for slow starts"
            }
            ProbeKind::Readiness => {
                "Fix what the readiness endpoint reports (a dependency, the port or path), or the probe itself if it checks the wrong thing"
            }
            ProbeKind::Startup => {
                "Give the start-up enough time: raise startupProbe.failureThreshold × periodSeconds above the real start-up time"
            }
        };
        d = d.summary(fix).step(
            format!("Adjust the {} of container {name}", kind.field()),
            Some(format!("kubectl edit {}", kubectl_ref(&workload))),
            Risk::Reversible,
        );
        out.push(d);
    }
}

struct PortHit<'a> {
    c: ContainerView<'a>,
    kind: ProbeKind,
    port: String,
    named: bool,
    failing: bool,
}

/// ProbePortMismatch: a named probe port the container does not declare (the kubelet
/// cannot resolve it: the probe always fails); a numbered port when the container
/// declares ports and none is it (many images declare none: silent then).
fn port_mismatch(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    let mut groups: Groups<PortHit> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live()) {
        for c in p.containers().into_iter().filter(|c| !c.init) {
            let ports = c.spec.ports.as_deref().unwrap_or(&[]);
            for kind in ProbeKind::ALL {
                let Some(probe) = kind.of(c.spec) else {
                    continue;
                };
                let port = if let Some(h) = &probe.http_get {
                    h.port.clone()
                } else if let Some(t) = &probe.tcp_socket {
                    t.port.clone()
                } else if let Some(g) = &probe.grpc {
                    IntOrString::Int(g.port)
                } else {
                    continue;
                };
                let (mismatch, named) = match &port {
                    IntOrString::String(name) => {
                        if let Ok(n) = name.parse::<i32>() {
                            (
                                !ports.is_empty() && !ports.iter().any(|x| x.container_port == n),
                                false,
                            )
                        } else {
                            (!ports.iter().any(|x| x.name.as_deref() == Some(name)), true)
                        }
                    }
                    IntOrString::Int(n) => (
                        !ports.is_empty() && !ports.iter().any(|x| x.container_port == *n),
                        false,
                    ),
                };
                if !mismatch {
                    continue;
                }
                let (unhealthy, killing) = probe_events(p, &c, kind);
                let failing = named
                    || !unhealthy.is_empty()
                    || !killing.is_empty()
                    || (kind == ProbeKind::Readiness && c.running() && !c.ready());
                if failing {
                    claims.claim(&p.pod_ref, Some(c.name()));
                }
                groups.add_hit(
                    p,
                    format!("{}/{}", c.name(), kind.word()),
                    PortHit {
                        c,
                        kind,
                        port: port_str(&port),
                        named,
                        failing,
                    },
                );
            }
        }
    }
    for g in groups.into_groups() {
        let h = g.first_seen();
        let p = g.first_pod();
        let name = h.c.name();
        let workload = owners::top_owner(ctx.store, g.controller());
        let declared: Vec<String> =
            h.c.spec
                .ports
                .iter()
                .flatten()
                .map(|x| match &x.name {
                    Some(n) => format!("{n}({})", x.container_port),
                    None => x.container_port.to_string(),
                })
                .collect();
        let declared = if declared.is_empty() {
            "none".to_owned()
        } else {
            declared.join(", ")
        };
        let mut d = g.draft(RuleId::ProbePortMismatch);
        let probe = h.kind.of(h.c.spec).expect("probe exists");
        if h.named {
            d = d.message(format!(
                "The {} probe of container {name} ({}) targets the port named {:?}, which the container does not declare (ports: {declared}): the kubelet cannot resolve it and the probe always fails",
                h.kind.word(),
                workload.short(),
                h.port
            ));
        } else if h.failing {
            d = d.message(format!(
                "The {} probe of container {name} ({}) targets port {}, which the container does not declare (ports: {declared}), and the probe fails: the application most likely listens elsewhere",
                h.kind.word(),
                workload.short(),
                h.port
            ));
        } else {
            d = d.severity(Severity::Info).message(format!(
                "The {} probe of container {name} ({}) targets port {}, which the container does not declare (ports: {declared}); the probe passes, so the declared ports are merely incomplete",
                h.kind.word(),
                workload.short(),
                h.port
            ));
        }
        d = d
            .evidence(format!("container {name}: {}", describe_probe(h.kind, probe)))
            .evidence(format!("container {name}: declared ports {declared}"))
            .summary(format!(
                "Point the {} at the port the application listens on (or declare that port with its name)",
                h.kind.field()
            ))
            .read_only("Read the probe failures", p.describe_cmd())
            .read_only(
                "See which ports the process listens on",
                format!(
                    "kubectl debug {} -n {} -it --image=busybox:1.36 --target={name} -- netstat -tlnp",
                    p.pod_ref.name,
                    p.pod_ref.ns()
                ),
            )
            .step(
                format!("Fix the probe port in {}", workload.short()),
                Some(format!("kubectl edit {}", kubectl_ref(&workload))),
                Risk::Reversible,
            );
        out.push(d);
    }
}

/// MissingStartupProbe: the liveness probe kills the container while it is still
/// starting (its runs are no longer than the liveness window) and no startupProbe
/// protects the start-up.
fn missing_startup_probe(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    let mut groups: Groups<(ContainerView, i64, i64)> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live()) {
        for c in p.containers().into_iter().filter(|c| !c.init) {
            let Some(live) = c.spec.liveness_probe.as_ref() else {
                continue;
            };
            if c.spec.startup_probe.is_some() || c.restarts() == 0 {
                continue;
            }
            let (unhealthy, killing) = probe_events(p, &c, ProbeKind::Liveness);
            if unhealthy.is_empty() && killing.is_empty() {
                continue;
            }
            let Some((t, _)) = c.termination() else {
                continue;
            };
            let (Some(s), Some(f)) = (&t.started_at, &t.finished_at) else {
                continue;
            };
            let ran = duration::age(f.0, s.0);
            let window = window_secs(live);
            // killed within (about) the liveness window of starting, never ready
            if ran <= window + live.period_seconds.unwrap_or(10) as i64 * 2 && !c.ready() {
                groups.add_hit(p, c.name(), (c, ran, window));
            }
        }
    }
    let _ = ctx;
    for g in groups.into_groups() {
        let (c, ran, window) = *g.first_seen();
        let p = g.first_pod();
        let name = c.name();
        let live = c.spec.liveness_probe.as_ref().expect("liveness probe");
        let workload = owners::top_owner(ctx.store, g.controller());
        let d = g
            .draft(RuleId::MissingStartupProbe)
            .message(format!(
                "Container {name} ({}) is killed by its liveness probe while still starting (its last run lasted {ran}s; liveness allows {window}s) and has no startupProbe",
                workload.short()
            ))
            .evidence(format!(
                "container {name}: {}",
                describe_probe(ProbeKind::Liveness, live)
            ))
            .evidence(format!("container {name}: no startupProbe"))
            .evidence(c.termination_evidence().unwrap_or_default())
            .summary(format!(
                "Add a startupProbe to {name} (same check, failureThreshold × periodSeconds above the slowest start-up) so liveness only applies once it has started"
            ))
            .read_only("Read how long start-up takes", p.logs_cmd(name, true))
            .step(
                "Add a startupProbe",
                Some(format!("kubectl edit {}", kubectl_ref(&workload))),
                Risk::Reversible,
            );
        out.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_failures_are_told_from_timeouts() {
        assert!(is_dns_failure(
            "Get \"http://db.shop.svc:8080/health\": dial tcp: lookup db.shop.svc on 10.96.0.10:53: no such host"
        ));
        assert!(is_dns_failure(
            "Get \"http://api:80/\": dial tcp: lookup api on 10.96.0.10:53: read udp 10.244.1.5:40152->10.96.0.10:53: i/o timeout"
        ));
        assert!(is_dns_failure("curl: (6) Could not resolve host: payments"));
        assert!(is_dns_failure(
            "ping: bad address: Temporary failure in name resolution"
        ));
        assert!(is_dns_failure(
            "lookup redis on 10.96.0.10:53: server misbehaving"
        ));
        assert!(is_dns_failure("Error: getaddrinfo ENOTFOUND postgres"));
        assert!(!is_dns_failure(
            "Get \"http://10.244.1.5:8080/healthz\": dial tcp 10.244.1.5:8080: i/o timeout"
        ));
        assert!(!is_dns_failure(
            "Get \"http://10.244.1.5:8080/ready\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ));
        assert!(!is_dns_failure("HTTP probe failed with statuscode: 503"));
        assert!(!is_dns_failure(
            "dial tcp 10.244.1.5:8080: connect: connection refused"
        ));
    }

    #[test]
    fn probe_kind_of_events() {
        assert_eq!(
            ProbeKind::of_event("Liveness probe failed: HTTP probe failed with statuscode: 500"),
            Some(ProbeKind::Liveness)
        );
        assert_eq!(
            ProbeKind::of_event("Readiness probe errored: rpc error"),
            Some(ProbeKind::Readiness)
        );
        assert_eq!(
            ProbeKind::of_event("Startup probe failed: dial tcp"),
            Some(ProbeKind::Startup)
        );
        assert_eq!(ProbeKind::of_event("Back-off restarting"), None);
    }
}
