//! Containers that stop: ContainerOOMKilled, ContainerExitedZero,
//! ContainerCommandNotFound, ContainerCommandNotExecutable, ContainerCrashing, and
//! CreateContainerConfigError (the kubelet cannot build the container at all).
//!
//! Evidence is `lastState.terminated` (reason, exitCode, finishedAt) and restartCount;
//! the first step is always `kubectl logs --previous`. A termination is current when
//! the container is not running, or restarted within the last hour; a container that
//! has run steadily for an hour since is reported as recovered (Info).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::{Risk, Severity};
use crate::k8s::owners;
use crate::model::Kind;
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::references::{kubelet_missing_key, kubelet_not_found};
use super::{
    Claims, ContainerView, Group, Groups, PodView, exit_code_meaning, kubectl_ref,
    termination_is_current, with_events,
};

/// Which container rule a stopped container falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    OomKilled,
    ExitedZero,
    CommandNotFound,
    CommandNotExecutable,
    Crashing,
}

impl Stop {
    fn rule(self) -> RuleId {
        match self {
            Stop::OomKilled => RuleId::ContainerOOMKilled,
            Stop::ExitedZero => RuleId::ContainerExitedZero,
            Stop::CommandNotFound => RuleId::ContainerCommandNotFound,
            Stop::CommandNotExecutable => RuleId::ContainerCommandNotExecutable,
            Stop::Crashing => RuleId::ContainerCrashing,
        }
    }
}

/// The runtime could not exec the command: `exec: "x": executable file not found in
/// $PATH`, `exec: "/app/run": stat /app/run: no such file or directory`.
pub(crate) fn command_not_found(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("executable file not found")
        || (m.contains("exec") && m.contains("no such file or directory"))
        || m.contains(": not found") && (m.contains("/bin/sh") || m.contains("exec"))
}

/// `exec: "/app/run.sh": permission denied`, `exec format error` is a different problem.
pub(crate) fn command_not_executable(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("exec") && m.contains("permission denied")
}

/// Classifies a container that stopped (or cannot start its process).
pub(crate) fn classify(c: &ContainerView, restart_policy: &str) -> Option<Stop> {
    let (reason, wmsg) = c.waiting().unwrap_or(("", ""));
    if matches!(
        reason,
        "RunContainerError" | "CreateContainerError" | "StartError"
    ) {
        if command_not_found(wmsg) {
            return Some(Stop::CommandNotFound);
        }
        if command_not_executable(wmsg) {
            return Some(Stop::CommandNotExecutable);
        }
    }
    let (t, field) = c.termination()?;
    let treason = t.reason.as_deref().unwrap_or("");
    let tmsg = t.message.as_deref().unwrap_or("");
    let start_failed = matches!(treason, "StartError" | "ContainerCannotRun") || t.exit_code == 128;
    if treason == "OOMKilled" {
        return Some(Stop::OomKilled);
    }
    if t.exit_code == 127 || (start_failed && command_not_found(tmsg)) {
        return Some(Stop::CommandNotFound);
    }
    if t.exit_code == 126 || (start_failed && command_not_executable(tmsg)) {
        return Some(Stop::CommandNotExecutable);
    }
    if t.exit_code == 0 {
        return (restart_policy == "Always" && c.restarts() > 0).then_some(Stop::ExitedZero);
    }
    // non-zero: crashing when it is not running now (back-off or terminated)
    let not_running = reason == "CrashLoopBackOff" || field == "state.terminated";
    not_running.then_some(Stop::Crashing)
}

struct Hit<'a> {
    c: ContainerView<'a>,
    current: bool,
}

pub(crate) fn evaluate(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<(Stop, Hit)> = Groups::by_controller();
    let mut config: Groups<ContainerView> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live()) {
        let job_done = job_succeeded(ctx, p);
        for c in p.containers() {
            if c.init {
                continue; // InitContainerFailing (pods.rs)
            }
            if claims.container(&p.pod_ref, c.name())
                && !matches!(
                    c.waiting_reason(),
                    "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError"
                )
            {
                continue; // an image pull failure: no process has run
            }
            if let Some(stop) = classify(&c, p.restart_policy()) {
                let current = termination_is_current(ctx, &c) && !job_done;
                if current {
                    claims.claim(&p.pod_ref, Some(c.name()));
                }
                let disc = format!("{}{}", c.name(), if current { "" } else { "#recovered" });
                groups.add_hit(p, disc, (stop, Hit { c, current }));
                continue;
            }
            if matches!(
                c.waiting_reason(),
                "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError"
            ) {
                claims.claim(&p.pod_ref, Some(c.name()));
                config.add_hit(p, c.name(), c);
            }
        }
    }
    for g in groups.into_groups() {
        let (stop, hit) = g.first_seen();
        out.push(stop_finding(ctx, pods, &g, *stop, hit));
    }
    for g in config.into_groups() {
        out.push(config_error(ctx, pods, &g));
    }
}

/// A Pod of a Job that has completed: its failed attempts are history.
fn job_succeeded(ctx: &RuleContext, p: &PodView) -> bool {
    p.owner.kind == Kind::Job
        && ctx.store.get_ref::<Job>(&p.owner).is_some_and(|j| {
            j.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .any(|c| c.type_ == "Complete" && c.status == "True")
        })
}

fn memory(q: Option<&Quantity>) -> String {
    q.map_or_else(|| "none".to_owned(), |q| q.0.clone())
}

fn stop_finding(
    ctx: &RuleContext,
    pods: &[PodView],
    g: &Group<(Stop, Hit)>,
    stop: Stop,
    hit: &Hit,
) -> Draft {
    let p = g.first_pod();
    let c = hit.c;
    let name = c.name();
    let who = g.who(pods);
    let workload = owners::top_owner(ctx.store, g.controller());
    let (t, _) = c
        .termination()
        .map(|(t, f)| (Some(t), f))
        .unwrap_or((None, ""));
    let code = t.map_or(0, |t| t.exit_code);
    // current and healed stops are two groups, and both findings are on the container
    let mut d = g.draft(stop.rule()).discriminator(name);
    let res = c.spec.resources.as_ref();
    let limit = memory(
        res.and_then(|r| r.limits.as_ref())
            .and_then(|l| l.get("memory")),
    );
    let request = memory(
        res.and_then(|r| r.requests.as_ref())
            .and_then(|l| l.get("memory")),
    );
    let restarts = c.restarts();
    let mut message = match stop {
        Stop::OomKilled => {
            if limit == "none" {
                format!(
                    "Container {name} of {who} was OOMKilled (exit 137) with no memory limit: the node ran out of memory and the kernel killed it (restarts: {restarts})"
                )
            } else {
                format!(
                    "Container {name} of {who} is OOMKilled (exit 137): it uses more than its memory limit {limit} (request {request}); restarts: {restarts}"
                )
            }
        }
        Stop::ExitedZero => format!(
            "Container {name} of {who} exits 0 (Completed) and is restarted under restartPolicy Always ({restarts} restarts): a program that finishes is run as a long-running workload"
        ),
        Stop::CommandNotFound => format!(
            "The command of container {name} of {who} does not exist in the image (exit {code}: {}): wrong command/args or image",
            if code == 127 {
                "command not found"
            } else {
                "the runtime could not exec it"
            }
        ),
        Stop::CommandNotExecutable => format!(
            "The command of container {name} of {who} is not executable (exit {code}: permission denied): missing execute bit, a script without a shebang, or a noexec mount"
        ),
        Stop::Crashing => format!(
            "Container {name} of {who} keeps exiting with code {code} ({}){}",
            exit_code_meaning(code),
            if c.waiting_reason() == "CrashLoopBackOff" {
                format!(" and is in CrashLoopBackOff after {restarts} restarts")
            } else {
                String::new()
            }
        ),
    };
    if !hit.current {
        message = format!(
            "Recovered: {message}. It has been running steadily since{}",
            c.running_since()
                .map(|t| format!(" {t}"))
                .unwrap_or_default()
        );
        if job_succeeded(ctx, p) {
            message = format!(
                "Earlier attempts of {} failed ({}), but the Job completed: history",
                g.controller().short(),
                stop.rule()
            );
        }
        d = d.severity(Severity::Info);
    }
    d = d.message(message);
    if let Some(e) = c.termination_evidence() {
        d = d.evidence(e);
    }
    if let Some(w) = c.waiting_evidence() {
        d = d.evidence(w);
    }
    if stop != Stop::ExitedZero && code != 0 {
        d = d.evidence(format!("exit code {code}: {}", exit_code_meaning(code)));
    }
    if stop == Stop::OomKilled {
        d = d.evidence(format!(
            "container {name}: resources.limits.memory={limit}, resources.requests.memory={request}"
        ));
    }
    if matches!(
        stop,
        Stop::CommandNotFound | Stop::CommandNotExecutable | Stop::ExitedZero
    ) {
        let cmd = c.spec.command.as_ref().map(|v| format!("{v:?}"));
        let args = c.spec.args.as_ref().map(|v| format!("{v:?}"));
        d = d.evidence(format!(
            "container {name}: image {}, command {}, args {}",
            c.image(),
            cmd.unwrap_or_else(|| "(image ENTRYPOINT)".to_owned()),
            args.unwrap_or_else(|| "(image CMD)".to_owned())
        ));
    }
    if restarts > 0 && g.members().len() > 1 {
        let total: i32 = g.members().iter().map(|hit| hit.seen.1.c.restarts()).sum();
        d = d.evidence(format!(
            "{total} restarts across the {} Pods",
            g.members().len()
        ));
    }
    let back_off = format!("restarting failed container {name} ");
    d = with_events(d, g, 2, |e| {
        (e.reason == "BackOff" && e.message.contains(&back_off))
            || (e.reason == "Failed"
                && (command_not_found(&e.message) || command_not_executable(&e.message)))
    });
    d = d.read_only(
        format!("Read the output of the container's last run ({name})"),
        p.logs_cmd(name, true),
    );
    d = d.read_only(
        "Read the container's state and the Pod's events",
        p.describe_cmd(),
    );
    let w = kubectl_ref(&workload);
    d = match stop {
        Stop::OomKilled => {
            let suggestion = suggest_double(&limit);
            d.summary(format!(
                "Give container {name} more memory (limit {limit} now) or reduce its usage (leak, concurrency, heap size below the limit)"
            ))
            .read_only(
                "See the memory the containers use now",
                format!("kubectl top pod {} -n {} --containers", p.pod_ref.name, p.pod_ref.ns()),
            )
            .step(
                format!("Raise the memory limit of {name}"),
                Some(format!(
                    "kubectl set resources {w} -c {name} --limits=memory={suggestion} --requests=memory={suggestion}"
                )),
                Risk::Reversible,
            )
        }
        Stop::ExitedZero => d
            .summary(format!(
                "Run the program of {name} as a Job or CronJob, or make the command stay in the foreground (no daemonizing, no one-shot script)"
            ))
            .step(
                "Move the one-shot program to a Job/CronJob and remove it from the long-running workload",
                Some(format!("kubectl create job {}-once -n {} --image={}", workload.name, p.pod_ref.ns(), c.image())),
                Risk::Disruptive,
            ),
        Stop::CommandNotFound | Stop::CommandNotExecutable => {
            let mut d = d
                .summary(format!(
                    "Fix the command/args of {name} to a program that exists in the image and is executable{}",
                    if stop == Stop::CommandNotExecutable {
                        " (chmod +x in the Dockerfile, or run it as `sh script.sh`; for a mounted script use defaultMode: 0755)"
                    } else {
                        ""
                    }
                ))
                .read_only(
                    "Look inside the image for the command",
                    format!(
                        "kubectl debug {} -n {} -it --copy-to={}-debug --container={name} -- sh",
                        p.pod_ref.name,
                        p.pod_ref.ns(),
                        p.pod_ref.name
                    ),
                );
            if workload.kind == Kind::Deployment {
                d = d.step(
                    "Roll back to the previous revision if a change of image or command caused it",
                    Some(format!("kubectl rollout undo {w}")),
                    Risk::Reversible,
                );
            }
            d
        }
        Stop::Crashing => {
            let mut d = d.summary(format!(
                "Read the logs of the last run of {name}: exit {code} ({}) is the application's own failure (configuration, a dependency, a bug)",
                exit_code_meaning(code)
            ));
            if workload.kind == Kind::Deployment {
                d = d
                    .read_only(
                        "Compare with the previous revision",
                        format!("kubectl rollout history {w}"),
                    )
                    .step(
                        "Roll back if a recent rollout started the crashes",
                        Some(format!("kubectl rollout undo {w}")),
                        Risk::Reversible,
                    );
            }
            d
        }
    };
    d
}

/// Twice a memory quantity (`256Mi` -> `512Mi`), for a suggested new limit.
fn suggest_double(q: &str) -> String {
    let digits: String = q.chars().take_while(|c| c.is_ascii_digit()).collect();
    let unit = &q[digits.len()..];
    match digits.parse::<u64>() {
        Ok(n) if !digits.is_empty() => format!("{}{unit}", n * 2),
        _ => "<new-limit>".to_owned(),
    }
}

/// What a CreateContainerConfigError / CreateContainerError / RunContainerError means.
fn config_hint(msg: &str) -> Option<&'static str> {
    let m = msg.to_ascii_lowercase();
    if !kubelet_not_found(msg).is_empty() || kubelet_missing_key(msg).is_some() {
        return Some("a ConfigMap, Secret or key the container needs is missing");
    }
    if m.contains("runasnonroot") && m.contains("will run as root") {
        return Some(
            "the Pod requires runAsNonRoot but the image runs as root: set securityContext.runAsUser to a non-zero UID, or build the image with a numeric non-root USER",
        );
    }
    if m.contains("non-numeric user") {
        return Some(
            "runAsNonRoot cannot be verified for an image whose USER is a name: set securityContext.runAsUser to a numeric UID",
        );
    }
    if m.contains("subpath") {
        return Some("a volume subPath is invalid or does not exist in the volume");
    }
    if m.contains("failed to reserve container name") || m.contains("is reserved for") {
        return Some(
            "the runtime still holds a previous container of that name (slow runtime or node): usually transient; if it persists, the node's container runtime needs attention",
        );
    }
    if m.contains("no such file or directory") || m.contains("not a directory") {
        return Some(
            "a mount target or source path is wrong (file mounted on a directory or the reverse)",
        );
    }
    None
}

fn config_error(ctx: &RuleContext, pods: &[PodView], g: &Group<ContainerView>) -> Draft {
    let p = g.first_pod();
    let c = *g.first_seen();
    let (reason, msg) = c.waiting().unwrap_or(("", ""));
    let who = g.who(pods);
    let hint = config_hint(msg);
    let workload = owners::top_owner(ctx.store, g.controller());
    let mut d = g.draft(RuleId::CreateContainerConfigError).message(format!(
        "The kubelet cannot create container {} of {who} ({reason}: {}){}",
        c.name(),
        if msg.is_empty() { "no message" } else { msg },
        hint.map(|h| format!(": {h}")).unwrap_or_default()
    ));
    d = d.evidence(c.waiting_evidence().unwrap_or_default());
    d = with_events(d, g, 3, |e| {
        e.reason == "Failed"
            && e.message.starts_with("Error: ")
            && !e.message.contains("ErrImagePull")
            && !e.message.contains("ImagePullBackOff")
    });
    d.summary(match hint {
        Some(h) => format!("Fix the container's configuration: {h}"),
        None => "Read the kubelet's message and fix the container's configuration".to_owned(),
    })
    .read_only("Read the kubelet's message", p.describe_cmd())
    .read_only("Read the Pod's events", p.events_cmd())
    .step(
        format!("Correct the container spec in {}", workload.short()),
        Some(format!("kubectl edit {}", kubectl_ref(&workload))),
        Risk::Disruptive,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors() {
        let nf = r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "pythonn": executable file not found in $PATH: unknown"#;
        assert!(command_not_found(nf));
        assert!(!command_not_executable(nf));
        let perm = r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app/start.sh": permission denied: unknown"#;
        assert!(command_not_executable(perm));
        assert!(!command_not_found(perm));
        assert!(command_not_found(
            r#"exec: "/app/server": stat /app/server: no such file or directory: unknown"#
        ));
        assert!(!command_not_found(
            "open /etc/app/config.yaml: no such file or directory"
        ));
    }

    #[test]
    fn doubles_memory() {
        assert_eq!(suggest_double("256Mi"), "512Mi");
        assert_eq!(suggest_double("1Gi"), "2Gi");
        assert_eq!(suggest_double("none"), "<new-limit>");
    }

    #[test]
    fn config_hints() {
        assert!(config_hint("container has runAsNonRoot and image will run as root (pod: \"web-1_shop(1)\", container: app)").unwrap().contains("runAsUser"));
        assert!(
            config_hint("configmap \"app\" not found")
                .unwrap()
                .contains("missing")
        );
        assert_eq!(config_hint("something else"), None);
    }
}
