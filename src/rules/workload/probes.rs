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

/// The three kinds of container probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum ProbeKind {
    /// `livenessProbe`: the kubelet restarts the container when it fails.
    Liveness,
    /// `readinessProbe`: the Pod gets no Service traffic while it fails.
    Readiness,
    /// `startupProbe`: holds the other probes off until the container has started.
    Startup,
}

impl ProbeKind {
    /// Every kind, in the order the rules look at them.
    pub(crate) const ALL: [ProbeKind; 3] = [
        ProbeKind::Liveness,
        ProbeKind::Readiness,
        ProbeKind::Startup,
    ];

    /// `liveness`, as messages write it.
    fn word(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Startup => "startup",
        }
    }

    /// `livenessProbe`, the container's field.
    fn field(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
            ProbeKind::Startup => "startupProbe",
        }
    }

    /// The rule of a failing probe of this kind.
    fn rule(self) -> RuleId {
        match self {
            ProbeKind::Liveness => RuleId::LivenessProbeFailing,
            ProbeKind::Readiness => RuleId::ReadinessProbeFailing,
            ProbeKind::Startup => RuleId::StartupProbeFailing,
        }
    }

    /// The container's probe of this kind.
    fn of(self, container: &Container) -> Option<&Probe> {
        match self {
            ProbeKind::Liveness => container.liveness_probe.as_ref(),
            ProbeKind::Readiness => container.readiness_probe.as_ref(),
            ProbeKind::Startup => container.startup_probe.as_ref(),
        }
    }

    /// The kind an `Unhealthy` event is about.
    pub(crate) fn of_event(message: &str) -> Option<ProbeKind> {
        for kind in ProbeKind::ALL {
            let prefix = match kind {
                ProbeKind::Liveness => "Liveness probe ",
                ProbeKind::Readiness => "Readiness probe ",
                ProbeKind::Startup => "Startup probe ",
            };
            if message.starts_with(prefix) {
                return Some(kind);
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
pub(crate) fn is_dns_failure(message: &str) -> bool {
    let lowercase = message.to_ascii_lowercase();
    let has = |fragment: &str| lowercase.contains(fragment);
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
        return has("lookup ") || has(":53:") || has(":53->") || lowercase.contains(":53 ");
    }
    false
}

/// `httpGet :8080/healthz (periodSeconds=10, timeoutSeconds=1, failureThreshold=3)`
fn describe_probe(kind: ProbeKind, probe: &Probe) -> String {
    let action = if let Some(http_get) = &probe.http_get {
        format!(
            "httpGet {}:{}{}",
            http_get
                .scheme
                .as_deref()
                .unwrap_or("HTTP")
                .to_ascii_lowercase(),
            port_str(&http_get.port),
            http_get.path.as_deref().unwrap_or("/")
        )
    } else if let Some(tcp_socket) = &probe.tcp_socket {
        format!("tcpSocket :{}", port_str(&tcp_socket.port))
    } else if let Some(grpc) = &probe.grpc {
        format!("grpc :{}", grpc.port)
    } else if let Some(exec) = &probe.exec {
        format!("exec {:?}", exec.command.clone().unwrap_or_default())
    } else {
        "no handler".to_owned()
    };
    format!(
        "{}: {action} (initialDelaySeconds={}, periodSeconds={}, timeoutSeconds={}, failureThreshold={})",
        kind.field(),
        probe.initial_delay_seconds.unwrap_or(0),
        probe.period_seconds.unwrap_or(10),
        probe.timeout_seconds.unwrap_or(1),
        probe.failure_threshold.unwrap_or(3)
    )
}

/// A port as the spec writes it: `8080` or `http`.
fn port_str(port: &IntOrString) -> String {
    match port {
        IntOrString::Int(number) => number.to_string(),
        IntOrString::String(name) => name.clone(),
    }
}

/// How long a probe tolerates failures before acting: initialDelay + period × threshold.
pub(crate) fn window_secs(probe: &Probe) -> i64 {
    probe.initial_delay_seconds.unwrap_or(0) as i64
        + probe.period_seconds.unwrap_or(10) as i64 * probe.failure_threshold.unwrap_or(3) as i64
}

/// How long a container that started at `since` may take to become ready before
/// its probes say it failed: the startup probe's window, then the readiness probe's
/// (none without a readiness probe: a container without one is ready once running).
pub(crate) fn readiness_budget_secs(container: &ContainerView) -> i64 {
    let startup = container.spec.startup_probe.as_ref().map_or(0, window_secs);
    let readiness = container
        .spec
        .readiness_probe
        .as_ref()
        .map_or(0, window_secs);
    startup + readiness
}

/// The probe events of one container (Unhealthy of that kind; Killing naming it).
fn probe_events<'a>(
    pod: &PodView<'a>,
    container: &ContainerView,
    kind: ProbeKind,
) -> (Vec<&'a Arc<EventRecord>>, Vec<&'a Arc<EventRecord>>) {
    let candidates: Vec<ContainerView> = pod
        .containers()
        .into_iter()
        .filter(|candidate| !candidate.init && kind.of(candidate.spec).is_some())
        .collect();
    // Unhealthy events do not name the container: with several candidates, the one
    // showing the symptom gets them (else the first).
    let owner_of_events = if candidates.len() <= 1 {
        candidates.first().map(|candidate| candidate.name())
    } else {
        candidates
            .iter()
            .find(|candidate| match kind {
                ProbeKind::Readiness => candidate.running() && !candidate.ready(),
                ProbeKind::Liveness | ProbeKind::Startup => candidate.restarts() > 0,
            })
            .or(candidates.first())
            .map(|candidate| candidate.name())
    };
    let unhealthy = if owner_of_events == Some(container.name()) {
        pod.events
            .iter()
            .filter(|event| {
                event.reason == "Unhealthy" && ProbeKind::of_event(&event.message) == Some(kind)
            })
            .copied()
            .collect()
    } else {
        Vec::new()
    };
    let killing_prefix = format!(
        "Container {} failed {} probe",
        container.name(),
        kind.word()
    );
    let killing = pod
        .events
        .iter()
        .filter(|event| event.reason == "Killing" && event.message.starts_with(&killing_prefix))
        .copied()
        .collect();
    (unhealthy, killing)
}

/// A failing (or healed) probe of a container.
struct ProbeHit<'a> {
    container: ContainerView<'a>,
    kind: ProbeKind,
    /// Failing now (else healed: reported as Info).
    current: bool,
    /// The failure is a name-resolution error.
    dns: bool,
    /// The container's Unhealthy events of that kind.
    unhealthy: Vec<&'a Arc<EventRecord>>,
}

/// The probe rules: failing probes, probe ports the container does not declare, and
/// a missing startup probe.
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

/// LivenessProbeFailing, ReadinessProbeFailing, StartupProbeFailing: one finding per
/// controller, probe kind, container and state (current or recovered).
fn failing(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    let mut groups: Groups<ProbeHit> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live() && !pod.terminating()) {
        for container in pod
            .containers()
            .into_iter()
            .filter(|container| !container.init)
        {
            for kind in ProbeKind::ALL {
                let Some(probe) = kind.of(container.spec) else {
                    continue;
                };
                let (unhealthy, killing) = probe_events(pod, &container, kind);
                let recent = |event: &&Arc<EventRecord>| {
                    event.time.is_some_and(|time| {
                        duration::age(ctx.now(), time) <= window_secs(probe).max(60) * 3 + 600
                    })
                };
                let current = match kind {
                    ProbeKind::Readiness => container.running() && !container.ready(),
                    ProbeKind::Liveness => {
                        if unhealthy.is_empty() && killing.is_empty() {
                            continue;
                        }
                        (container.restarts() > 0 && termination_is_current(ctx, &container))
                            || killing.iter().any(recent)
                            || (unhealthy.iter().any(recent) && !container.ready())
                    }
                    ProbeKind::Startup => {
                        if unhealthy.is_empty() && killing.is_empty() {
                            continue;
                        }
                        container.status.and_then(|status| status.started) == Some(false)
                            || (container.restarts() > 0 && termination_is_current(ctx, &container))
                    }
                };
                if !current && unhealthy.is_empty() && killing.is_empty() {
                    continue;
                }
                if kind == ProbeKind::Readiness && current && unhealthy.is_empty() {
                    // not ready without probe events: still starting (startup probe
                    // pending, initial delay) is not a readiness failure
                    if container.status.and_then(|status| status.started) == Some(false)
                        || container.running_since().is_some_and(|since| {
                            duration::age(ctx.now(), since) < window_secs(probe)
                        })
                    {
                        continue;
                    }
                }
                let dns = unhealthy.iter().any(|event| is_dns_failure(&event.message));
                if current {
                    claims.claim(&pod.pod_ref, Some(container.name()));
                }
                let state = if current { "" } else { "#recovered" };
                let discriminator = format!("{}/{}{state}", kind.word(), container.name());
                let hit = ProbeHit {
                    container,
                    kind,
                    current,
                    dns,
                    unhealthy,
                };
                groups.add_hit(pod, discriminator, hit);
            }
        }
    }
    for group in groups.into_groups() {
        let hit = group.first_seen();
        let pod = group.first_pod();
        let container = hit.container;
        let name = container.name();
        let kind = hit.kind;
        let probe = kind.of(container.spec).expect("probe exists");
        let who = group.who(pods);
        let workload = owners::top_owner(ctx.store, group.controller());
        let last_message = hit.unhealthy.last().map(|event| {
            event
                .message
                .split_once(": ")
                .map_or(event.message.as_str(), |(_, failure)| failure)
                .trim()
                .to_owned()
        });
        // the group is per probe kind; the finding's discriminator is the container
        // (and its state)
        let container_state = group
            .discriminator()
            .split_once('/')
            .map_or("", |(_, container_state)| container_state)
            .to_owned();
        let mut draft = group.draft(kind.rule()).discriminator(container_state);
        let why = last_message
            .clone()
            .map(|failure| format!(" ({failure})"))
            .unwrap_or_default();
        let mut message = match kind {
            ProbeKind::Liveness => format!(
                "The liveness probe of container {name} of {who} fails{why}, so the kubelet kills and restarts it ({} restarts)",
                container.restarts()
            ),
            ProbeKind::Readiness => format!(
                "The readiness probe of container {name} of {who} fails{why}: the Pods run but Services send them no traffic"
            ),
            ProbeKind::Startup => format!(
                "The startup probe of container {name} of {who} fails{why}: the container is restarted before it finishes starting ({} restarts)",
                container.restarts()
            ),
        };
        if group.members().iter().any(|member| member.seen.dns) {
            message.push_str("; the failure is a name-resolution (DNS) error");
            draft = draft.tag(Tag::Dns);
        }
        if !hit.current {
            message = format!(
                "Recovered: the {} probe of container {name} of {who} failed earlier{why}, but the container is {} now",
                kind.word(),
                if container.ready() {
                    "ready"
                } else {
                    "running"
                }
            );
            draft = draft.severity(Severity::Info);
        }
        draft = draft
            .message(message)
            .evidence(format!("container {name}: {}", describe_probe(kind, probe)));
        if let Some(status) = container.status {
            draft = draft.evidence(format!(
                "container {name}: ready={}, started={}, restartCount={}",
                status.ready,
                status
                    .started
                    .map_or("-".to_owned(), |started| started.to_string()),
                status.restart_count
            ));
        }
        if kind == ProbeKind::Readiness {
            if let Some(ready) = pod.condition("Ready") {
                draft = draft.evidence(format!(
                    "Pod {} condition Ready={}{}{}",
                    pod.pod_ref.name,
                    ready.status,
                    ready
                        .reason
                        .as_deref()
                        .map(|reason| format!(" reason={reason}"))
                        .unwrap_or_default(),
                    ready
                        .last_transition_time
                        .as_ref()
                        .map(|time| format!(" since {}", time.0))
                        .unwrap_or_default()
                ));
            }
            if hit.unhealthy.is_empty() {
                draft = draft.evidence("no Unhealthy events retained (events expire after an hour); the container has run past the probe's initial window without becoming ready");
            }
        }
        if kind != ProbeKind::Readiness
            && let Some(termination) = container.termination_evidence()
        {
            draft = draft.evidence(termination);
        }
        let killing_prefix = format!("Container {name} failed {} probe", kind.word());
        draft = with_events(draft, &group, 3, |event| {
            (event.reason == "Unhealthy" && ProbeKind::of_event(&event.message) == Some(kind))
                || (event.reason == "Killing" && event.message.starts_with(&killing_prefix))
        });
        draft = draft.read_only(
            "Read the probe failures and the container's state",
            pod.describe_cmd(),
        );
        if kind != ProbeKind::Readiness {
            draft = draft.read_only(
                "Read the output of the killed run",
                pod.logs_cmd(name, true),
            );
        } else {
            draft = draft.read_only("Read the container's log", pod.logs_cmd(name, false));
        }
        if let Some(http_get) = &probe.http_get {
            draft = draft.read_only(
                "Call the probe endpoint from inside the Pod",
                format!(
                    "kubectl exec {} -n {} -c {name} -- wget -qO- -T 2 http://localhost:{}{}",
                    pod.pod_ref.name,
                    pod.pod_ref.ns(),
                    port_str(&http_get.port),
                    http_get.path.as_deref().unwrap_or("/")
                ),
            );
        }
        if draft.tags.contains(&Tag::Dns) {
            draft = draft.read_only(
                "Check name resolution from the Pod",
                format!(
                    "kubectl exec {} -n {} -c {name} -- cat /etc/resolv.conf",
                    pod.pod_ref.name,
                    pod.pod_ref.ns()
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
        draft = draft.summary(fix).step(
            format!("Adjust the {} of container {name}", kind.field()),
            Some(format!("kubectl edit {}", kubectl_ref(&workload))),
            Risk::Reversible,
        );
        out.push(draft);
    }
}

/// A probe whose port the container does not declare.
struct PortHit<'a> {
    container: ContainerView<'a>,
    kind: ProbeKind,
    /// The port as the probe names it.
    port: String,
    /// The port is a name (the kubelet cannot resolve it).
    named: bool,
    /// The probe fails.
    failing: bool,
}

/// ProbePortMismatch: a named probe port the container does not declare (the kubelet
/// cannot resolve it: the probe always fails); a numbered port when the container
/// declares ports and none is it (many images declare none: silent then).
fn port_mismatch(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    let mut groups: Groups<PortHit> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live()) {
        for container in pod
            .containers()
            .into_iter()
            .filter(|container| !container.init)
        {
            let ports = container.spec.ports.as_deref().unwrap_or(&[]);
            let declares = |number: i32| ports.iter().any(|port| port.container_port == number);
            for kind in ProbeKind::ALL {
                let Some(probe) = kind.of(container.spec) else {
                    continue;
                };
                let port = if let Some(http_get) = &probe.http_get {
                    http_get.port.clone()
                } else if let Some(tcp_socket) = &probe.tcp_socket {
                    tcp_socket.port.clone()
                } else if let Some(grpc) = &probe.grpc {
                    IntOrString::Int(grpc.port)
                } else {
                    continue;
                };
                let (mismatch, named) = match &port {
                    IntOrString::String(name) => {
                        if let Ok(number) = name.parse::<i32>() {
                            (!ports.is_empty() && !declares(number), false)
                        } else {
                            let declared =
                                ports.iter().any(|port| port.name.as_deref() == Some(name));
                            (!declared, true)
                        }
                    }
                    IntOrString::Int(number) => (!ports.is_empty() && !declares(*number), false),
                };
                if !mismatch {
                    continue;
                }
                let (unhealthy, killing) = probe_events(pod, &container, kind);
                let failing = named
                    || !unhealthy.is_empty()
                    || !killing.is_empty()
                    || (kind == ProbeKind::Readiness && container.running() && !container.ready());
                if failing {
                    claims.claim(&pod.pod_ref, Some(container.name()));
                }
                let discriminator = format!("{}/{}", container.name(), kind.word());
                let hit = PortHit {
                    container,
                    kind,
                    port: port_str(&port),
                    named,
                    failing,
                };
                groups.add_hit(pod, discriminator, hit);
            }
        }
    }
    for group in groups.into_groups() {
        let hit = group.first_seen();
        let pod = group.first_pod();
        let name = hit.container.name();
        let workload = owners::top_owner(ctx.store, group.controller());
        let declared: Vec<String> = hit
            .container
            .spec
            .ports
            .iter()
            .flatten()
            .map(|port| match &port.name {
                Some(port_name) => format!("{port_name}({})", port.container_port),
                None => port.container_port.to_string(),
            })
            .collect();
        let declared = if declared.is_empty() {
            "none".to_owned()
        } else {
            declared.join(", ")
        };
        let mut draft = group.draft(RuleId::ProbePortMismatch);
        let probe = hit.kind.of(hit.container.spec).expect("probe exists");
        if hit.named {
            draft = draft.message(format!(
                "The {} probe of container {name} ({}) targets the port named {:?}, which the container does not declare (ports: {declared}): the kubelet cannot resolve it and the probe always fails",
                hit.kind.word(),
                workload.short(),
                hit.port
            ));
        } else if hit.failing {
            draft = draft.message(format!(
                "The {} probe of container {name} ({}) targets port {}, which the container does not declare (ports: {declared}), and the probe fails: the application most likely listens elsewhere",
                hit.kind.word(),
                workload.short(),
                hit.port
            ));
        } else {
            draft = draft.severity(Severity::Info).message(format!(
                "The {} probe of container {name} ({}) targets port {}, which the container does not declare (ports: {declared}); the probe passes, so the declared ports are merely incomplete",
                hit.kind.word(),
                workload.short(),
                hit.port
            ));
        }
        draft = draft
            .evidence(format!("container {name}: {}", describe_probe(hit.kind, probe)))
            .evidence(format!("container {name}: declared ports {declared}"))
            .summary(format!(
                "Point the {} at the port the application listens on (or declare that port with its name)",
                hit.kind.field()
            ))
            .read_only("Read the probe failures", pod.describe_cmd())
            .read_only(
                "See which ports the process listens on",
                format!(
                    "kubectl debug {} -n {} -it --image=busybox:1.36 --target={name} -- netstat -tlnp",
                    pod.pod_ref.name,
                    pod.pod_ref.ns()
                ),
            )
            .step(
                format!("Fix the probe port in {}", workload.short()),
                Some(format!("kubectl edit {}", kubectl_ref(&workload))),
                Risk::Reversible,
            );
        out.push(draft);
    }
}

/// MissingStartupProbe: the liveness probe kills the container while it is still
/// starting (its runs are no longer than the liveness window) and no startupProbe
/// protects the start-up.
fn missing_startup_probe(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    // (container, how long its last run lasted, the liveness window), in seconds
    let mut groups: Groups<(ContainerView, i64, i64)> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live()) {
        for container in pod
            .containers()
            .into_iter()
            .filter(|container| !container.init)
        {
            let Some(liveness) = container.spec.liveness_probe.as_ref() else {
                continue;
            };
            if container.spec.startup_probe.is_some() || container.restarts() == 0 {
                continue;
            }
            let (unhealthy, killing) = probe_events(pod, &container, ProbeKind::Liveness);
            if unhealthy.is_empty() && killing.is_empty() {
                continue;
            }
            let Some((terminated, _)) = container.termination() else {
                continue;
            };
            let (Some(started), Some(finished)) = (&terminated.started_at, &terminated.finished_at)
            else {
                continue;
            };
            let ran = duration::age(finished.0, started.0);
            let window = window_secs(liveness);
            // killed within (about) the liveness window of starting, never ready
            if ran <= window + liveness.period_seconds.unwrap_or(10) as i64 * 2
                && !container.ready()
            {
                groups.add_hit(pod, container.name(), (container, ran, window));
            }
        }
    }
    for group in groups.into_groups() {
        let (container, ran, window) = *group.first_seen();
        let pod = group.first_pod();
        let name = container.name();
        let liveness = container
            .spec
            .liveness_probe
            .as_ref()
            .expect("liveness probe");
        let workload = owners::top_owner(ctx.store, group.controller());
        let draft = group
            .draft(RuleId::MissingStartupProbe)
            .message(format!(
                "Container {name} ({}) is killed by its liveness probe while still starting (its last run lasted {ran}s; liveness allows {window}s) and has no startupProbe",
                workload.short()
            ))
            .evidence(format!(
                "container {name}: {}",
                describe_probe(ProbeKind::Liveness, liveness)
            ))
            .evidence(format!("container {name}: no startupProbe"))
            .evidence(container.termination_evidence().unwrap_or_default())
            .summary(format!(
                "Add a startupProbe to {name} (same check, failureThreshold × periodSeconds above the slowest start-up) so liveness only applies once it has started"
            ))
            .read_only("Read how long start-up takes", pod.logs_cmd(name, true))
            .step(
                "Add a startupProbe",
                Some(format!("kubectl edit {}", kubectl_ref(&workload))),
                Risk::Reversible,
            );
        out.push(draft);
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
