//! Containers that stop: ContainerOOMKilled, ContainerExitedZero,
//! ContainerCommandNotFound, ContainerCommandNotExecutable, ContainerCrashing, and
//! CreateContainerConfigError (the kubelet cannot build the container at all). The
//! runtime's create and start failures are ContainerCreateFailed (create.rs), read
//! here first.
//!
//! Evidence is `lastState.terminated` (reason, exitCode, finishedAt) and restartCount;
//! the first step is always `kubectl logs --previous`. A termination is current when
//! the container is not running, or restarted within the last hour; a container that
//! has run steadily for an hour since is reported as recovered (Info).

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::api::{Risk, Severity};
use crate::k8s::owners;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::create::{self, CreateFailure};
use super::references::{kubelet_missing_key, kubelet_not_found};
use super::{
    Claims, ContainerView, Group, Groups, PodView, exit_code_meaning, kubectl_ref,
    termination_is_current, with_events,
};

/// Which container rule a stopped container falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Killed for exceeding its memory (OOMKilled).
    OomKilled,
    /// Exited 0 under restartPolicy Always: a one-shot program run as a service.
    ExitedZero,
    /// Its command does not exist in the image.
    CommandNotFound,
    /// Its command is not executable.
    CommandNotExecutable,
    /// The kernel cannot execute its binary (`exec format error`): built for another
    /// CPU architecture, or a script without `#!`.
    PlatformMismatch,
    /// Exits non-zero and is not running now.
    Crashing,
}

impl Stop {
    /// The rule the stop falls under.
    fn rule(self) -> RuleId {
        match self {
            Stop::OomKilled => RuleId::ContainerOOMKilled,
            Stop::ExitedZero => RuleId::ContainerExitedZero,
            Stop::CommandNotFound => RuleId::ContainerCommandNotFound,
            Stop::CommandNotExecutable => RuleId::ContainerCommandNotExecutable,
            Stop::PlatformMismatch => RuleId::ImagePlatformMismatch,
            Stop::Crashing => RuleId::ContainerCrashing,
        }
    }
}

/// The runtime could not exec the command: `exec: "x": executable file not found in
/// $PATH`, `exec: "/app/run": stat /app/run: no such file or directory`.
pub(crate) fn command_not_found(message: &str) -> bool {
    let lowercase = message.to_ascii_lowercase();
    lowercase.contains("executable file not found")
        || (lowercase.contains("exec") && lowercase.contains("no such file or directory"))
        || lowercase.contains(": not found")
            && (lowercase.contains("/bin/sh") || lowercase.contains("exec"))
}

/// `exec: "/app/run.sh": permission denied`, `exec format error` is a different problem.
pub(crate) fn command_not_executable(message: &str) -> bool {
    let lowercase = message.to_ascii_lowercase();
    lowercase.contains("exec") && lowercase.contains("permission denied")
}

/// Classifies a container that stopped (or cannot start its process).
pub(crate) fn classify(container: &ContainerView, restart_policy: &str) -> Option<Stop> {
    let (waiting_reason, waiting_message) = container.waiting().unwrap_or(("", ""));
    if matches!(
        waiting_reason,
        "RunContainerError" | "CreateContainerError" | "StartError"
    ) {
        if command_not_found(waiting_message) {
            return Some(Stop::CommandNotFound);
        }
        if waiting_message
            .to_ascii_lowercase()
            .contains("exec format error")
        {
            return Some(Stop::PlatformMismatch);
        }
        if command_not_executable(waiting_message) {
            return Some(Stop::CommandNotExecutable);
        }
    }
    let (terminated, field) = container.termination()?;
    let termination_reason = terminated.reason.as_deref().unwrap_or("");
    let termination_message = terminated.message.as_deref().unwrap_or("");
    let start_failed = matches!(termination_reason, "StartError" | "ContainerCannotRun")
        || terminated.exit_code == 128;
    if termination_reason == "OOMKilled" {
        return Some(Stop::OomKilled);
    }
    if terminated.exit_code == 127 || (start_failed && command_not_found(termination_message)) {
        return Some(Stop::CommandNotFound);
    }
    if terminated.exit_code == 126 || (start_failed && command_not_executable(termination_message))
    {
        return Some(Stop::CommandNotExecutable);
    }
    if terminated.exit_code == 0 {
        return (restart_policy == "Always" && container.restarts() > 0)
            .then_some(Stop::ExitedZero);
    }
    // non-zero: crashing when it is not running now (back-off or terminated)
    let not_running = waiting_reason == "CrashLoopBackOff" || field == "state.terminated";
    not_running.then_some(Stop::Crashing)
}

/// The kubelet killed the container for a failing liveness or startup probe
/// (`Killing`: "Container NAME failed liveness probe, will be restarted").
fn killed_by_probe(pod: &PodView, container: &str) -> bool {
    let liveness = format!("Container {container} failed liveness probe");
    let startup = format!("Container {container} failed startup probe");
    pod.events.iter().any(|event| {
        event.reason == "Killing"
            && (event.message.starts_with(&liveness) || event.message.starts_with(&startup))
    })
}

/// A container that stopped, and how.
struct StopHit<'a> {
    stop: Stop,
    container: ContainerView<'a>,
    /// Still failing (else healed: reported as Info).
    current: bool,
    /// runc's `exec PATH: exec format error` from the container's log.
    exec_format: Option<String>,
}

/// The line of a container's log (previous instance first) where runc says its
/// command could not be executed: `exec /app/run: exec format error` (runc 1.1
/// starts the container, then execve fails: the process exits 1 with only this
/// on stderr).
fn exec_format_error(ctx: &RuleContext, pod: &ObjRef, container: &ContainerView) -> Option<String> {
    let logs = ctx.logs?;
    [true, false].into_iter().find_map(|previous| {
        let lines = logs.tail(pod, container.name(), previous)?;
        lines
            .into_iter()
            .find(|line| {
                line.starts_with("exec ") && line.trim_end().ends_with(": exec format error")
            })
            .map(|line| {
                format!(
                    "container {} ({} log): {}",
                    container.name(),
                    if previous { "previous" } else { "current" },
                    line.trim_end()
                )
            })
    })
}

/// runc 1.2 and later fail the start itself when execve says `exec format error`
/// (StartError, exit 128: `... unable to start container process: exec /app/server:
/// exec format error: unknown`): the same cause as runc 1.1's log line.
fn start_exec_format_error(container: &ContainerView) -> Option<String> {
    let waiting = container
        .waiting()
        .filter(|(reason, _)| matches!(*reason, "RunContainerError" | "StartError"))
        .map(|(_, message)| message);
    let terminated = container.termination().and_then(|(terminated, _)| {
        let start_failed = matches!(
            terminated.reason.as_deref(),
            Some("StartError" | "ContainerCannotRun")
        ) || terminated.exit_code == 128;
        start_failed
            .then_some(terminated.message.as_deref())
            .flatten()
    });
    [waiting, terminated]
        .into_iter()
        .flatten()
        .find(|message| message.to_ascii_lowercase().contains("exec format error"))
        .map(|message| {
            let link = message
                .split(": ")
                .skip_while(|part| !part.starts_with("exec "))
                .take_while(|part| *part != "unknown")
                .collect::<Vec<_>>()
                .join(": ");
            let link = if link.is_empty() { message } else { &link };
            format!("container {} (start error): {link}", container.name())
        })
}

/// Whether a container's command is a script rather than a binary of the image: a
/// file with a script's extension, or one mounted from a ConfigMap or Secret. An
/// `exec format error` of a script is a missing `#!` line, not another platform.
fn runs_a_script(pod: &PodView, container: &ContainerView) -> bool {
    let Some(program) = container
        .spec
        .command
        .as_ref()
        .and_then(|command| command.first())
    else {
        return false;
    };
    let script = [".sh", ".bash", ".py", ".rb", ".pl"]
        .iter()
        .any(|extension| program.ends_with(extension));
    let mounted = container
        .spec
        .volume_mounts
        .iter()
        .flatten()
        .filter(|mount| program.starts_with(mount.mount_path.trim_end_matches('/')))
        .any(|mount| {
            pod.spec.volumes.iter().flatten().any(|volume| {
                volume.name == mount.name
                    && (volume.config_map.is_some()
                        || volume.secret.is_some()
                        || volume.projected.is_some())
            })
        });
    script || mounted
}

/// The container rules: a stopped container's rule by how it stopped (one finding per
/// controller, container and state), and CreateContainerConfigError.
pub(crate) fn evaluate(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut stops: Groups<StopHit> = Groups::by_controller();
    let mut config: Groups<ContainerView> = Groups::by_controller();
    let mut created: Groups<CreateFailure> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live()) {
        let job_done = job_succeeded(ctx, pod);
        for container in pod.containers() {
            // the runtime cannot create or start it (init containers too: then
            // InitContainerFailing stays silent on it)
            let claimed = claims.container(&pod.pod_ref, container.name());
            let runtime_reason = matches!(
                container.waiting_reason(),
                "CreateContainerError" | "RunContainerError"
            );
            if (!claimed || runtime_reason)
                && let Some(mut failure) = create::failure(pod, &container)
            {
                failure.current = failure.current && !job_done;
                if failure.current {
                    claims.claim(&pod.pod_ref, Some(container.name()));
                }
                let state = if failure.current { "" } else { "#recovered" };
                created.add_hit(pod, format!("{}{state}", container.name()), failure);
                continue;
            }
            if container.init {
                continue; // InitContainerFailing (pods.rs)
            }
            if claims.container(&pod.pod_ref, container.name())
                && !matches!(
                    container.waiting_reason(),
                    "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError"
                )
            {
                continue; // an image pull failure: no process has run
            }
            if let Some(mut stop) = classify(&container, pod.restart_policy()) {
                if stop == Stop::ExitedZero && killed_by_probe(pod, container.name()) {
                    // exit 0 is its answer to the kubelet's SIGTERM: the failing
                    // probe (LivenessProbeFailing) is the cause, not the program
                    continue;
                }
                let exec_format = matches!(
                    stop,
                    Stop::Crashing | Stop::CommandNotExecutable | Stop::PlatformMismatch
                )
                .then(|| {
                    start_exec_format_error(&container)
                        .or_else(|| exec_format_error(ctx, &pod.pod_ref, &container))
                })
                .flatten();
                if exec_format.is_some() {
                    stop = if runs_a_script(pod, &container) {
                        Stop::CommandNotExecutable
                    } else {
                        Stop::PlatformMismatch
                    };
                } else if stop == Stop::PlatformMismatch && runs_a_script(pod, &container) {
                    stop = Stop::CommandNotExecutable;
                }
                let current = termination_is_current(ctx, &container) && !job_done;
                if current {
                    claims.claim(&pod.pod_ref, Some(container.name()));
                }
                let state = if current { "" } else { "#recovered" };
                let hit = StopHit {
                    stop,
                    container,
                    current,
                    exec_format,
                };
                stops.add_hit(pod, format!("{}{state}", container.name()), hit);
                continue;
            }
            if matches!(
                container.waiting_reason(),
                "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError"
            ) {
                claims.claim(&pod.pod_ref, Some(container.name()));
                config.add_hit(pod, container.name(), container);
            }
        }
    }
    for group in stops.into_groups() {
        out.push(stop_finding(ctx, pods, &group));
    }
    for group in config.into_groups() {
        out.push(config_error(ctx, pods, &group));
    }
    for group in created.into_groups() {
        out.push(create::finding(ctx, pods, &group));
    }
}

/// A Pod of a Job that has completed: its failed attempts are history.
fn job_succeeded(ctx: &RuleContext, pod: &PodView) -> bool {
    pod.owner.kind == Kind::Job
        && ctx.store.get_ref::<Job>(&pod.owner).is_some_and(|job| {
            job.status
                .iter()
                .flat_map(|status| status.conditions.iter().flatten())
                .any(|condition| condition.type_ == "Complete" && condition.status == "True")
        })
}

/// A memory quantity as written, or `none`.
fn memory(quantity: Option<&Quantity>) -> String {
    quantity.map_or_else(|| "none".to_owned(), |quantity| quantity.0.clone())
}

/// The finding of a group of stopped containers: the first Pod's container tells.
fn stop_finding(ctx: &RuleContext, pods: &[PodView], group: &Group<StopHit>) -> Draft {
    let pod = group.first_pod();
    let hit = group.first_seen();
    let stop = hit.stop;
    let container = hit.container;
    let name = container.name();
    let who = group.who(pods);
    let workload = owners::top_owner(ctx.store, group.controller());
    let code = container
        .termination()
        .map_or(0, |(terminated, _)| terminated.exit_code);
    // current and healed stops are two groups, and both findings are on the container
    let mut draft = group.draft(stop.rule()).discriminator(name);
    let resources = container.spec.resources.as_ref();
    let limit = memory(
        resources
            .and_then(|resources| resources.limits.as_ref())
            .and_then(|limits| limits.get("memory")),
    );
    let request = memory(
        resources
            .and_then(|resources| resources.requests.as_ref())
            .and_then(|requests| requests.get("memory")),
    );
    let restarts = container.restarts();
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
        Stop::CommandNotExecutable if hit.exec_format.is_some() => format!(
            "The command of container {name} of {who} is a script the kernel cannot execute (exit {code}: exec format error): it has no #! line (or its interpreter line is broken)"
        ),
        Stop::PlatformMismatch => format!(
            "The kernel of {} cannot execute the command of container {name} of {who} (exit {code}: exec format error): the image holds a binary built for another CPU architecture (or the command is a script without a #! line)",
            super::images::node_platform(ctx, pod.node())
        ),
        Stop::CommandNotExecutable => format!(
            "The command of container {name} of {who} is not executable (exit {code}: permission denied): missing execute bit, or a noexec mount"
        ),
        Stop::Crashing => format!(
            "Container {name} of {who} keeps exiting with code {code} ({}){}",
            exit_code_meaning(code),
            if container.waiting_reason() == "CrashLoopBackOff" {
                format!(" and is in CrashLoopBackOff after {restarts} restarts")
            } else {
                String::new()
            }
        ),
    };
    if !hit.current {
        message = format!(
            "Recovered: {message}. It has been running steadily since{}",
            container
                .running_since()
                .map(|since| format!(" {since}"))
                .unwrap_or_default()
        );
        if job_succeeded(ctx, pod) {
            message = format!(
                "Earlier attempts of {} failed ({}), but the Job completed: history",
                group.controller().short(),
                stop.rule()
            );
        }
        draft = draft.severity(Severity::Info);
    }
    draft = draft.message(message);
    if let Some(termination) = container.termination_evidence() {
        draft = draft.evidence(termination);
    }
    if let Some(waiting) = container.waiting_evidence() {
        draft = draft.evidence(waiting);
    }
    if let Some(line) = &hit.exec_format {
        draft = draft.evidence(line.clone());
    }
    if stop != Stop::ExitedZero && code != 0 {
        draft = draft.evidence(format!("exit code {code}: {}", exit_code_meaning(code)));
    }
    if stop == Stop::OomKilled {
        draft = draft.evidence(format!(
            "container {name}: resources.limits.memory={limit}, resources.requests.memory={request}"
        ));
    }
    if matches!(
        stop,
        Stop::CommandNotFound
            | Stop::CommandNotExecutable
            | Stop::PlatformMismatch
            | Stop::ExitedZero
    ) {
        let command = container
            .spec
            .command
            .as_ref()
            .map(|words| format!("{words:?}"));
        let args = container
            .spec
            .args
            .as_ref()
            .map(|words| format!("{words:?}"));
        draft = draft.evidence(format!(
            "container {name}: image {}, command {}, args {}",
            container.image(),
            command.unwrap_or_else(|| "(image ENTRYPOINT)".to_owned()),
            args.unwrap_or_else(|| "(image CMD)".to_owned())
        ));
    }
    if restarts > 0 && group.members().len() > 1 {
        let total: i32 = group
            .members()
            .iter()
            .map(|hit| hit.seen.container.restarts())
            .sum();
        draft = draft.evidence(format!(
            "{total} restarts across the {} Pods",
            group.members().len()
        ));
    }
    let back_off = format!("restarting failed container {name} ");
    draft = with_events(draft, group, 2, |event| {
        (event.reason == "BackOff" && event.message.contains(&back_off))
            || (event.reason == "Failed"
                && (command_not_found(&event.message) || command_not_executable(&event.message)))
    });
    draft = draft.read_only(
        format!("Read the output of the container's last run ({name})"),
        pod.logs_cmd(name, true),
    );
    draft = draft.read_only(
        "Read the container's state and the Pod's events",
        pod.describe_cmd(),
    );
    let kubectl_workload = kubectl_ref(&workload);
    draft = match stop {
        Stop::OomKilled => {
            let suggestion = suggest_double(&limit);
            draft.summary(format!(
                "Give container {name} more memory (limit {limit} now) or reduce its usage (leak, concurrency, heap size below the limit)"
            ))
            .read_only(
                "See the memory the containers use now",
                format!("kubectl top pod {} -n {} --containers", pod.pod_ref.name, pod.pod_ref.ns()),
            )
            .step(
                format!("Raise the memory limit of {name}"),
                Some(format!(
                    "kubectl set resources {kubectl_workload} -c {name} --limits=memory={suggestion} --requests=memory={suggestion}"
                )),
                Risk::Reversible,
            )
        }
        Stop::ExitedZero => draft
            .summary(format!(
                "Run the program of {name} as a Job or CronJob, or make the command stay in the foreground (no daemonizing, no one-shot script)"
            ))
            .step(
                "Move the one-shot program to a Job/CronJob and remove it from the long-running workload",
                Some(format!("kubectl create job {}-once -n {} --image={}", workload.name, pod.pod_ref.ns(), container.image())),
                Risk::Disruptive,
            ),
        Stop::CommandNotFound | Stop::CommandNotExecutable => {
            let mut draft = draft
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
                        pod.pod_ref.name,
                        pod.pod_ref.ns(),
                        pod.pod_ref.name
                    ),
                );
            if workload.kind == Kind::Deployment {
                draft = draft.step(
                    "Roll back to the previous revision if a change of image or command caused it",
                    Some(format!("kubectl rollout undo {kubectl_workload}")),
                    Risk::Reversible,
                );
            }
            draft
        }
        Stop::PlatformMismatch => {
            let arch = super::images::node_arch(ctx, pod.node()).unwrap_or("<arch>");
            draft
                .summary(format!(
                    "Run an image built for the node's platform: rebuild {} for linux/{arch} (or multi-arch: docker buildx build --platform linux/amd64,linux/arm64), or keep the Pods on nodes of the image's architecture (nodeSelector kubernetes.io/arch); a script needs a #! line",
                    container.image()
                ))
                .read_only(
                    "See which platforms the image was built for",
                    format!("crane manifest {} | grep -E 'architecture|os'", container.image()),
                )
                .step(
                    "Or keep the Pods on nodes of the image's architecture",
                    Some(format!(
                        "kubectl patch {kubectl_workload} --type=merge -p '{{\"spec\":{{\"template\":{{\"spec\":{{\"nodeSelector\":{{\"kubernetes.io/arch\":\"<image-arch>\"}}}}}}}}}}'"
                    )),
                    Risk::Reversible,
                )
        }
        Stop::Crashing => {
            let mut draft = draft.summary(format!(
                "Read the logs of the last run of {name}: exit {code} ({}) is the application's own failure (configuration, a dependency, a bug)",
                exit_code_meaning(code)
            ));
            if workload.kind == Kind::Deployment {
                draft = draft
                    .read_only(
                        "Compare with the previous revision",
                        format!("kubectl rollout history {kubectl_workload}"),
                    )
                    .step(
                        "Roll back if a recent rollout started the crashes",
                        Some(format!("kubectl rollout undo {kubectl_workload}")),
                        Risk::Reversible,
                    );
            }
            draft
        }
    };
    draft
}

/// Twice a memory quantity (`256Mi` -> `512Mi`), for a suggested new limit.
pub(crate) fn suggest_double(quantity: &str) -> String {
    let digits: String = quantity
        .chars()
        .take_while(|character| character.is_ascii_digit())
        .collect();
    let unit = &quantity[digits.len()..];
    match digits.parse::<u64>() {
        Ok(number) if !digits.is_empty() => format!("{}{unit}", number * 2),
        _ => "<new-limit>".to_owned(),
    }
}

/// What a CreateContainerConfigError / CreateContainerError / RunContainerError means.
fn config_hint(message: &str) -> Option<&'static str> {
    let lowercase = message.to_ascii_lowercase();
    if !kubelet_not_found(message).is_empty() || kubelet_missing_key(message).is_some() {
        return Some("a ConfigMap, Secret or key the container needs is missing");
    }
    if lowercase.contains("runasnonroot") && lowercase.contains("will run as root") {
        return Some(
            "the Pod requires runAsNonRoot but the image runs as root: set securityContext.runAsUser to a non-zero UID, or build the image with a numeric non-root USER",
        );
    }
    if lowercase.contains("non-numeric user") {
        return Some(
            "runAsNonRoot cannot be verified for an image whose USER is a name: set securityContext.runAsUser to a numeric UID",
        );
    }
    if lowercase.contains("subpath") {
        return Some("a volume subPath is invalid or does not exist in the volume");
    }
    if lowercase.contains("no such file or directory") || lowercase.contains("not a directory") {
        return Some(
            "a mount target or source path is wrong (file mounted on a directory or the reverse)",
        );
    }
    None
}

/// CreateContainerConfigError (also CreateContainerError, RunContainerError whose
/// message is a missing reference): the kubelet cannot build the container.
fn config_error(ctx: &RuleContext, pods: &[PodView], group: &Group<ContainerView>) -> Draft {
    let pod = group.first_pod();
    let container = *group.first_seen();
    let (reason, message) = container.waiting().unwrap_or(("", ""));
    let who = group.who(pods);
    let hint = config_hint(message);
    let workload = owners::top_owner(ctx.store, group.controller());
    let mut draft = group
        .draft(RuleId::CreateContainerConfigError)
        .message(format!(
            "The kubelet cannot create container {} of {who} ({reason}: {}){}",
            container.name(),
            if message.is_empty() {
                "no message"
            } else {
                message
            },
            hint.map(|hint| format!(": {hint}")).unwrap_or_default()
        ));
    draft = draft.evidence(container.waiting_evidence().unwrap_or_default());
    draft = with_events(draft, group, 3, |event| {
        event.reason == "Failed"
            && event.message.starts_with("Error: ")
            && !event.message.contains("ErrImagePull")
            && !event.message.contains("ImagePullBackOff")
    });
    draft
        .summary(match hint {
            Some(hint) => format!("Fix the container's configuration: {hint}"),
            None => "Read the kubelet's message and fix the container's configuration".to_owned(),
        })
        .read_only("Read the kubelet's message", pod.describe_cmd())
        .read_only("Read the Pod's events", pod.events_cmd())
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
