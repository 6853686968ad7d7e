//! ContainerCreateFailed: the container runtime cannot create or start a container,
//! for a reason that is neither a missing reference (ConfigMapNotFound...), a missing
//! or non-executable command (ContainerCommandNotFound / NotExecutable) nor another
//! platform's binary (`exec format error`).
//!
//! Signals: `state.waiting` CreateContainerError / RunContainerError with the
//! runtime's message; `state.terminated` / `lastState.terminated` StartError (runc's
//! start failures, exit 128) or ContainerCannotRun (Docker's); the kubelet's `Failed`
//! events `Error: MESSAGE` when the status carries no message. The message is a chain
//! of wrapped errors (`failed to create containerd task: failed to create shim task:
//! OCI runtime create failed: runc create failed: unable to start container process:
//! ...`): the finding quotes it with the container ids shortened, and names its last
//! meaningful link. A container that runs again after such a failure has recovered
//! (Info).

use k8s_openapi::api::core::v1::{ConfigMap, Node, Volume, VolumeMount};

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::k8s::owners;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::containers::{command_not_executable, command_not_found};
use super::references::{kubelet_missing_key, kubelet_not_found};
use super::{ContainerView, Group, PodView, kubectl_ref, with_events};

/// What the runtime's create or start error says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CreateCause {
    /// The image has no ENTRYPOINT/CMD and the container no command (`no command
    /// specified`).
    NoCommand,
    /// A volume (or a subPath of it) cannot be mounted into the container's root
    /// filesystem (`error mounting "SRC" to rootfs at "DST": ...`, `failed to mount
    /// container ...`).
    Mount,
    /// The runtime still holds a container of that name (`failed to reserve
    /// container name ...: name ... is reserved for ...`).
    NameReserved,
    /// The runtime cannot set up the container's cgroup (`unable to apply cgroup
    /// configuration: ...`).
    Cgroup,
    /// Any other runtime error.
    Other,
}

/// Classifies a create or start error of the runtime.
pub(crate) fn create_cause(message: &str) -> CreateCause {
    let lowercase = message.to_ascii_lowercase();
    if lowercase.contains("no command specified") {
        CreateCause::NoCommand
    } else if lowercase.contains("failed to reserve container name")
        || lowercase.contains("is reserved for")
    {
        CreateCause::NameReserved
    } else if lowercase.contains("error mounting")
        || lowercase.contains("failed to mount container")
        || lowercase.contains("to rootfs at")
    {
        CreateCause::Mount
    } else if lowercase.contains("cgroup") {
        CreateCause::Cgroup
    } else {
        CreateCause::Other
    }
}

/// Whether another rule explains a create or start error: a missing ConfigMap,
/// Secret or key (the reference rules), a command that does not exist or is not
/// executable (the command rules), or a binary for another platform.
pub(crate) fn explained_elsewhere(message: &str) -> bool {
    !kubelet_not_found(message).is_empty()
        || kubelet_missing_key(message).is_some()
        || command_not_found(message)
        || command_not_executable(message)
        || message.to_ascii_lowercase().contains("exec format error")
}

/// A create or start error this rule classifies (the forms it names are never
/// another rule's; an unknown one only when no other rule explains it).
fn is_create_failure(message: &str) -> bool {
    create_cause(message) != CreateCause::Other || !explained_elsewhere(message)
}

/// The Failed events of a Pod that carry a runtime's create or start error
/// (`Error: MESSAGE`), newest first, with the message.
fn create_events<'a>(pod: &PodView<'a>) -> Vec<(&'a EventRecord, &'a str)> {
    pod.events
        .iter()
        .rev()
        .copied()
        .filter_map(|event| {
            let event: &'a EventRecord = event.as_ref();
            let message = failed_event_message(event)?;
            is_create_failure(message).then_some((event, message))
        })
        .collect()
}

/// The message of a kubelet `Failed` event `Error: MESSAGE` that is not a pull
/// failure's (`Error: ErrImagePull`, `Error: ImagePullBackOff`...).
fn failed_event_message(event: &EventRecord) -> Option<&str> {
    if event.reason != "Failed" {
        return None;
    }
    let message = event.message.strip_prefix("Error: ")?;
    let pull = [
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "ImageInspectError",
    ];
    (!pull.iter().any(|reason| message.starts_with(reason))).then_some(message)
}

/// A container the runtime cannot create or start.
#[derive(Clone)]
pub(crate) struct CreateFailure<'a> {
    /// The container.
    pub container: ContainerView<'a>,
    /// What the runtime says, as written.
    pub message: String,
    /// Where the message was read: `state.waiting reason=CreateContainerError`,
    /// `lastState.terminated reason=StartError exitCode=128`, or the event.
    pub field: String,
    /// The runtime failed creating the container (else starting it).
    pub create: bool,
    /// Still failing (else it runs again: recovered, reported as Info).
    pub current: bool,
}

impl CreateFailure<'_> {
    /// What the message says.
    fn cause(&self) -> CreateCause {
        create_cause(&self.message)
    }
}

/// The create or start failure of a container, when it has one this rule names.
pub(crate) fn failure<'a>(
    pod: &PodView<'a>,
    container: &ContainerView<'a>,
) -> Option<CreateFailure<'a>> {
    let newest_event = || {
        create_events(pod)
            .first()
            .map(|(_, message)| (*message).to_owned())
    };
    let start_error = || {
        container
            .termination()
            .filter(|(terminated, _)| {
                matches!(
                    terminated.reason.as_deref(),
                    Some("StartError" | "ContainerCannotRun")
                )
            })
            .and_then(|(terminated, _)| terminated.message.as_deref())
            .map(str::trim)
            .filter(|message| !message.is_empty())
            .map(str::to_owned)
    };
    let (waiting_reason, waiting_message) = container.waiting().unwrap_or(("", ""));
    if matches!(waiting_reason, "CreateContainerError" | "RunContainerError") {
        let message = if waiting_message.is_empty() {
            start_error().or_else(newest_event).unwrap_or_default()
        } else {
            waiting_message.to_owned()
        };
        if !message.is_empty() && !is_create_failure(&message) {
            return None;
        }
        return Some(CreateFailure {
            container: *container,
            message,
            field: format!("state.waiting reason={waiting_reason}"),
            create: waiting_reason == "CreateContainerError",
            current: true,
        });
    }
    if let Some((terminated, field)) = container.termination() {
        let reason = terminated.reason.as_deref().unwrap_or("");
        if matches!(reason, "StartError" | "ContainerCannotRun") {
            let message = start_error().or_else(newest_event).unwrap_or_default();
            if !message.is_empty() && !is_create_failure(&message) {
                return None;
            }
            return Some(CreateFailure {
                container: *container,
                message,
                field: format!("{field} reason={reason} exitCode={}", terminated.exit_code),
                create: false,
                current: !container.running(),
            });
        }
    }
    // The status lags behind (or was not recorded): a container still creating
    // whose kubelet events say the runtime failed, in one of the forms named here.
    let creating = waiting_reason == "ContainerCreating" || container.state().is_none();
    if creating && pod.phase() == "Pending" && !container.running() && !container.init {
        let (event, message) = create_events(pod)
            .into_iter()
            .find(|(_, message)| create_cause(message) != CreateCause::Other)?;
        return Some(CreateFailure {
            container: *container,
            message: message.to_owned(),
            field: format!(
                "kubelet event Failed at {}",
                event
                    .time
                    .map(|time| time.to_string())
                    .unwrap_or_else(|| "-".to_owned())
            ),
            create: true,
            current: true,
        });
    }
    None
}

/// The message with its noise removed: the `rpc error: code = X desc = ` prefix,
/// the trailing `: unknown` of the shim, and container ids cut to 12 characters.
pub(crate) fn clean_message(message: &str) -> String {
    let mut text = message.trim();
    if text.starts_with("rpc error: code = ")
        && let Some((_, rest)) = text.split_once(" desc = ")
    {
        text = rest;
    }
    let text = text.strip_suffix(": unknown").unwrap_or(text);
    shorten_ids(text)
}

/// Cuts every run of 32 or more hex digits (a container or sandbox id) to its first
/// 12, as `crictl ps` shows them.
fn shorten_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= 32 {
            out.push_str(&run[..12]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for character in text.chars() {
        if character.is_ascii_hexdigit() {
            run.push(character);
        } else {
            flush(&mut run, &mut out);
            out.push(character);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// The meaningful end of the chain: the cleaned message without the links that
/// only say which layer passed the error on (`failed to create containerd task:`,
/// `OCI runtime create failed:`, `runc create failed:`, `unable to start container
/// process:`, `failed to generate container "ID" spec:`...).
pub(crate) fn last_link(message: &str) -> String {
    const WRAPPERS: &[&str] = &[
        "failed to create containerd task: ",
        "failed to create shim task: ",
        "OCI runtime create failed: ",
        "OCI runtime start failed: ",
        "runc create failed: ",
        "runc run failed: ",
        "unable to start container process: ",
        "error during container init: ",
        "failed to generate spec: ",
    ];
    // wrappers that name an id: `PREFIX"ID"SUFFIX`
    const NAMED: &[(&str, &str)] = &[
        ("failed to start containerd task \"", "\": "),
        ("failed to generate container \"", "\" spec: "),
        ("failed to create container \"", "\": "),
    ];
    let cleaned = clean_message(message);
    let mut text = cleaned.as_str();
    loop {
        if let Some(rest) = WRAPPERS.iter().find_map(|prefix| text.strip_prefix(prefix)) {
            text = rest;
            continue;
        }
        let named = NAMED.iter().find_map(|(prefix, suffix)| {
            let rest = text.strip_prefix(prefix)?;
            let end = rest.find(suffix)?;
            Some(&rest[end + suffix.len()..])
        });
        match named {
            Some(rest) => text = rest,
            None => break,
        }
    }
    text.to_owned()
}

/// The quoted text after `marker` up to the next `"`: `error mounting "SRC"`.
fn quoted_after<'m>(message: &'m str, marker: &str) -> Option<&'m str> {
    let at = message.find(marker)?;
    let rest = &message[at + marker.len()..];
    rest.split('"').next().filter(|value| !value.is_empty())
}

/// What kind of volume it is, with the object it names: `configMap app-config`.
fn volume_source(volume: &Volume) -> String {
    if let Some(config_map) = &volume.config_map {
        return format!("configMap {}", config_map.name);
    }
    if let Some(secret) = &volume.secret {
        return format!("secret {}", secret.secret_name.as_deref().unwrap_or("-"));
    }
    if let Some(claim) = &volume.persistent_volume_claim {
        return format!("persistentVolumeClaim {}", claim.claim_name);
    }
    if let Some(host_path) = &volume.host_path {
        return format!(
            "hostPath {}{}",
            host_path.path,
            host_path
                .type_
                .as_deref()
                .filter(|type_| !type_.is_empty())
                .map(|type_| format!(" (type {type_})"))
                .unwrap_or_default()
        );
    }
    if volume.empty_dir.is_some() {
        return "emptyDir".to_owned();
    }
    if volume.projected.is_some() {
        return "projected".to_owned();
    }
    if volume.downward_api.is_some() {
        return "downwardAPI".to_owned();
    }
    if volume.csi.is_some() {
        return "csi".to_owned();
    }
    if volume.ephemeral.is_some() {
        return "ephemeral".to_owned();
    }
    "volume".to_owned()
}

/// The container's volumeMount a mount error is about: the one mounted at the
/// error's target (`to rootfs at "DST"`).
fn failed_mount<'a>(container: &ContainerView<'a>, message: &str) -> Option<&'a VolumeMount> {
    let target = quoted_after(message, "to rootfs at \"")?;
    let target = target.trim_end_matches('/');
    container
        .spec
        .volume_mounts
        .iter()
        .flatten()
        .find(|mount| mount.mount_path.trim_end_matches('/') == target)
}

/// What the final error of a mount says about the paths.
fn mount_hint(message: &str, sub_path: bool) -> &'static str {
    let lowercase = message.to_ascii_lowercase();
    if lowercase.contains("not a directory") {
        "a file is mounted onto a directory or a directory onto a file: the mountPath must have the type of what is mounted (a file key onto a file path, a directory onto a directory)"
    } else if lowercase.contains("no such file or directory") {
        if sub_path {
            "the subPath does not exist in the volume"
        } else {
            "the source path does not exist on the node"
        }
    } else if lowercase.contains("permission denied") {
        "the runtime may not read the source path (permissions or SELinux labels)"
    } else if lowercase.contains("read-only file system") {
        "the mountPath lies on a read-only file system (readOnlyRootFilesystem or a read-only parent mount)"
    } else if lowercase.contains("too many levels of symbolic links")
        || lowercase.contains("symlink")
    {
        "the subPath is a symbolic link that leads out of the volume"
    } else {
        "the runtime cannot mount it"
    }
}

/// A mount error in a few words: `error mounting at "/etc/app/config.yaml": not a
/// directory` (the source is a kubelet path of the Pod's volume, in the evidence).
fn mount_phrase(link: &str) -> Option<String> {
    let target = quoted_after(link, "to rootfs at \"")?;
    let errno = link.rsplit(": ").next().filter(|errno| !errno.is_empty())?;
    Some(format!("error mounting at \"{target}\": {errno}"))
}

/// For a subPath of a ConfigMap volume: the ConfigMap and what the subPath should
/// name but does not (the volume's paths: its keys, or its `items` paths).
fn missing_sub_path(
    ctx: &RuleContext,
    namespace: &str,
    volume: &Volume,
    sub_path: &str,
) -> Option<(String, Vec<String>)> {
    let source = volume.config_map.as_ref()?;
    let config_map = ctx.store.get::<ConfigMap>(namespace, &source.name)?;
    let paths: Vec<String> = match &source.items {
        Some(items) if !items.is_empty() => items.iter().map(|item| item.path.clone()).collect(),
        _ => config_map
            .data
            .iter()
            .flat_map(|data| data.keys())
            .chain(config_map.binary_data.iter().flat_map(|data| data.keys()))
            .cloned()
            .collect(),
    };
    let first = sub_path
        .trim_start_matches("./")
        .split('/')
        .next()
        .unwrap_or(sub_path);
    (!paths
        .iter()
        .any(|path| path == sub_path || path.split('/').next() == Some(first)))
    .then(|| (source.name.clone(), paths))
}

/// Groups of create failures become findings.
pub(crate) fn finding(ctx: &RuleContext, pods: &[PodView], group: &Group<CreateFailure>) -> Draft {
    let pod = group.first_pod();
    let hit = group.first_seen();
    let container = hit.container;
    let name = container.name();
    let who = group.who(pods);
    let cause = hit.cause();
    let workload = owners::top_owner(ctx.store, group.controller());
    let kubectl_workload = kubectl_ref(&workload);
    let cleaned = clean_message(&hit.message);
    let link = last_link(&hit.message);
    let node = pod.node();
    let verb = if hit.create { "create" } else { "start" };
    let mut draft = group
        .draft(RuleId::ContainerCreateFailed)
        .discriminator(name);

    let mount = (cause == CreateCause::Mount)
        .then(|| failed_mount(&container, &hit.message))
        .flatten();
    let volume = mount.and_then(|mount| {
        pod.spec
            .volumes
            .iter()
            .flatten()
            .find(|volume| volume.name == mount.name)
    });
    let sub_path = mount
        .and_then(|mount| mount.sub_path.as_deref().or(mount.sub_path_expr.as_deref()))
        .filter(|sub_path| !sub_path.is_empty())
        .or_else(|| {
            quoted_after(&hit.message, "error mounting \"")
                .filter(|source| source.contains("/volume-subpaths/"))
                .map(|_| "")
        });
    let missing = match (volume, sub_path) {
        (Some(volume), Some(sub_path)) if !sub_path.is_empty() => {
            missing_sub_path(ctx, pod.pod_ref.ns(), volume, sub_path)
        }
        _ => None,
    };
    let hint = match cause {
        CreateCause::NoCommand => format!(
            "image {} has no ENTRYPOINT or CMD and the container sets no command",
            container.image()
        ),
        CreateCause::Mount => {
            let what = match (mount, sub_path) {
                (Some(mount), Some(sub_path)) if !sub_path.is_empty() => format!(
                    "subPath {sub_path} of volume {} cannot be mounted at {}",
                    mount.name, mount.mount_path
                ),
                (Some(mount), _) => format!(
                    "volume {} cannot be mounted at {}",
                    mount.name, mount.mount_path
                ),
                (None, Some(_)) => "a subPath of a volume cannot be mounted".to_owned(),
                (None, None) => "a volume cannot be mounted".to_owned(),
            };
            match &missing {
                Some((config_map, _)) => format!(
                    "{what}: ConfigMap {config_map} has no key {}, so the kubelet made an empty directory for it",
                    sub_path.unwrap_or_default()
                ),
                None => format!("{what}: {}", mount_hint(&link, sub_path.is_some())),
            }
        }
        CreateCause::NameReserved => "the runtime still holds an earlier container of that name (a slow or restarted runtime); usually transient: the kubelet retries".to_owned(),
        CreateCause::Cgroup => format!(
            "the runtime on {} cannot set up the container's cgroup: a node problem",
            node.map_or_else(|| "its node".to_owned(), |node| format!("node {node}"))
        ),
        CreateCause::Other => String::new(),
    };
    let said = if link.is_empty() {
        "no message".to_owned()
    } else if cause == CreateCause::Mount {
        mount_phrase(&link).unwrap_or_else(|| link.clone())
    } else {
        link.clone()
    };
    let kind = if container.init {
        "init container"
    } else {
        "container"
    };
    let mut message = if hint.is_empty() {
        format!("The container runtime cannot {verb} {kind} {name} of {who}: {said}")
    } else {
        format!("The container runtime cannot {verb} {kind} {name} of {who}: {said} ({hint})")
    };
    if container.init {
        message.push_str(", so the Pods never start");
    }
    if hit.current {
        draft = draft.message(message);
    } else {
        draft = draft.severity(Severity::Info).message(format!(
            "Recovered: the container runtime failed to {verb} {kind} {name} of {who} earlier ({said}); it runs now{}",
            container
                .running_since()
                .map(|since| format!(" since {since}"))
                .unwrap_or_default()
        ));
    }
    draft = draft.evidence(if cleaned.is_empty() {
        format!("container {name}: {} (no message)", hit.field)
    } else {
        format!("container {name}: {} message={cleaned:?}", hit.field)
    });
    if container.restarts() > 0 {
        draft = draft.evidence(format!(
            "container {name}: restartCount={}",
            container.restarts()
        ));
    }
    match cause {
        CreateCause::NoCommand => {
            draft = draft.evidence(format!(
                "container {name}: image {}, command {}, args {}",
                container.image(),
                container.spec.command.as_ref().map_or_else(
                    || "(image ENTRYPOINT)".to_owned(),
                    |words| format!("{words:?}")
                ),
                container
                    .spec
                    .args
                    .as_ref()
                    .map_or_else(|| "(image CMD)".to_owned(), |words| format!("{words:?}"))
            ));
        }
        CreateCause::Mount => {
            if let Some(mount) = mount {
                draft = draft.evidence(format!(
                    "container {name}: volumeMount {} at {}{}{}",
                    mount.name,
                    mount.mount_path,
                    sub_path
                        .filter(|sub_path| !sub_path.is_empty())
                        .map(|sub_path| format!(", subPath {sub_path}"))
                        .unwrap_or_default(),
                    volume
                        .map(|volume| format!(
                            " (volume {}: {})",
                            volume.name,
                            volume_source(volume)
                        ))
                        .unwrap_or_else(|| " (no such volume in the Pod)".to_owned())
                ));
            }
            if let Some((config_map, paths)) = &missing {
                draft = draft.scope(ObjRef::namespaced(
                    Kind::ConfigMap,
                    pod.pod_ref.ns(),
                    config_map,
                ));
                draft = draft.evidence(format!(
                    "ConfigMap {config_map} has no key {}: its keys are {}",
                    sub_path.unwrap_or_default(),
                    if paths.is_empty() {
                        "none".to_owned()
                    } else {
                        paths.join(", ")
                    }
                ));
            }
        }
        CreateCause::NameReserved | CreateCause::Cgroup => {
            if let Some(node_name) = node {
                draft = draft.scope(ObjRef::cluster(Kind::Node, node_name));
                if let Some(info) = ctx
                    .store
                    .get::<Node>("", node_name)
                    .and_then(|node| node.status.as_ref())
                    .and_then(|status| status.node_info.as_ref())
                {
                    draft = draft.evidence(format!(
                        "node {node_name}: runtime {}, kubelet {}, kernel {}",
                        info.container_runtime_version, info.kubelet_version, info.kernel_version
                    ));
                }
            }
        }
        CreateCause::Other => {}
    }
    if group.members().len() > 1 {
        draft = draft.evidence(format!(
            "{} Pods fail alike: {}",
            group.members().len(),
            group
                .members()
                .iter()
                .map(|member| member.pod.pod_ref.name.as_str())
                .take(5)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let back_off = format!("restarting failed container {name} ");
    draft = with_events(draft, group, 2, |event| {
        failed_event_message(event).is_some_and(is_create_failure)
            || (event.reason == "BackOff" && event.message.contains(&back_off))
    });
    draft = draft
        .read_only(
            "Read the runtime's message and the Pod's events",
            pod.describe_cmd(),
        )
        .read_only("Read the Pod's events, oldest first", pod.events_cmd());
    let node_name = node.unwrap_or("<node>");
    match cause {
        CreateCause::NoCommand => {
            draft = draft
                .summary(format!(
                    "Give container {name} a command: set `command:` (and `args:`) in the Pod spec, or build image {} with an ENTRYPOINT or CMD",
                    container.image()
                ))
                .read_only(
                    "See the image's ENTRYPOINT and CMD",
                    format!(
                        "docker image inspect {} --format '{{{{.Config.Entrypoint}}}} {{{{.Config.Cmd}}}}'",
                        container.image()
                    ),
                );
            draft = edit_step(
                draft,
                &workload,
                &kubectl_workload,
                format!("Set command: for container {name}"),
            );
            if workload.kind == Kind::Deployment {
                draft = draft.step(
                    "Roll back if a new image without an ENTRYPOINT caused it",
                    Some(format!("kubectl rollout undo {kubectl_workload}")),
                    Risk::Reversible,
                );
            }
        }
        CreateCause::Mount => {
            let about = mount.map_or_else(
                || "the container's volumeMounts".to_owned(),
                |mount| format!("volumeMount {} of container {name}", mount.name),
            );
            draft = draft.summary(match &missing {
                Some((config_map, paths)) => format!(
                    "Fix {about}: subPath {} names no key of ConfigMap {config_map} (keys: {}); name an existing key, or add the key to the ConfigMap",
                    sub_path.unwrap_or_default(),
                    paths.join(", ")
                ),
                None => format!(
                    "Fix {about}: check that the path exists in the volume and has the type the mountPath expects (a file onto a file, a directory onto a directory){}",
                    if sub_path.is_some() {
                        "; for a subPath, the key or directory it names must exist in the volume"
                    } else {
                        ""
                    }
                ),
            });
            if let Some(volume) = volume {
                if let Some(config_map) = &volume.config_map {
                    draft = draft.read_only(
                        format!("See the keys of ConfigMap {}", config_map.name),
                        format!(
                            "kubectl get configmap {} -n {} -o yaml",
                            config_map.name,
                            pod.pod_ref.ns()
                        ),
                    );
                } else if let Some(secret) = volume
                    .secret
                    .as_ref()
                    .and_then(|secret| secret.secret_name.as_deref())
                {
                    draft = draft.read_only(
                        format!("See the keys of Secret {secret}"),
                        format!("kubectl describe secret {secret} -n {}", pod.pod_ref.ns()),
                    );
                }
            }
            draft = edit_step(
                draft,
                &workload,
                &kubectl_workload,
                format!("Correct the mountPath or subPath of {about}"),
            );
        }
        CreateCause::NameReserved => {
            draft = draft
                .summary(format!(
                    "Usually transient: the kubelet retries and the runtime frees the name once the earlier container is removed; if it persists for minutes, containerd on node {node_name} is slow or stuck (disk I/O, a hung shim): check it and restart it"
                ))
                .step(
                    format!("On node {node_name}: list the runtime's containers of that name and read containerd's log"),
                    Some(format!("crictl ps -a --name {name}; journalctl -u containerd --since -1h")),
                    Risk::ReadOnly,
                )
                .step(
                    "Delete the Pod so that its controller creates a fresh one (a bare Pod is gone for good)",
                    Some(format!("kubectl delete pod {} -n {}", pod.pod_ref.name, pod.pod_ref.ns())),
                    Risk::Disruptive,
                );
        }
        CreateCause::Cgroup => {
            draft = draft
                .summary(format!(
                    "A node problem: the runtime on {node_name} cannot create the container's cgroup (the kubelet's cgroupDriver and containerd's SystemdCgroup must agree; kernel memory for cgroups; a cgroup v1/v2 mix-up): escalate to the platform team; moving the Pods off the node is a stopgap"
                ))
                .read_only("Check the node's conditions and runtime", format!("kubectl describe node {node_name}"))
                .step(
                    "Keep new Pods off the node while the platform team investigates",
                    Some(format!("kubectl cordon {node_name}")),
                    Risk::Reversible,
                );
        }
        CreateCause::Other => {
            draft = draft.summary(format!(
                "Read the runtime's message: it cannot {verb} container {name}; fix what it names in the container spec, or on the node if the spec is fine"
            ));
            draft = edit_step(
                draft,
                &workload,
                &kubectl_workload,
                format!("Correct container {name}"),
            );
        }
    }
    draft
}

/// The step that edits the workload a person maintains.
fn edit_step(
    draft: Draft,
    workload: &ObjRef,
    kubectl_workload: &str,
    description: String,
) -> Draft {
    draft.step(
        format!("{description} in {}", workload.short()),
        Some(format!("kubectl edit {kubectl_workload}")),
        Risk::Disruptive,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_COMMAND: &str = r#"failed to generate container "0000000000000000000000000000000000000000000000000000000000000001" spec: failed to generate spec: no command specified"#;
    const MOUNT: &str = r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting "/var/lib/kubelet/pods/6b1e/volume-subpaths/config/app/0" to rootfs at "/etc/app/config.yaml": mount /var/lib/kubelet/pods/6b1e/volume-subpaths/config/app/0:/etc/app/config.yaml (via /proc/self/fd/6), flags: 0x5001: not a directory: unknown"#;
    const CGROUP: &str = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod6b1e/0f3a: cannot allocate memory: unknown";
    const RESERVED: &str = r#"failed to reserve container name "app_web-7d4f9c8b6-x2k9p_shop_6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b_0": name "app_web-7d4f9c8b6-x2k9p_shop_6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b_0" is reserved for "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d""#;

    #[test]
    fn classifies_the_runtimes_forms() {
        assert_eq!(create_cause(NO_COMMAND), CreateCause::NoCommand);
        assert_eq!(create_cause("no command specified"), CreateCause::NoCommand);
        assert_eq!(create_cause(MOUNT), CreateCause::Mount);
        assert_eq!(create_cause(CGROUP), CreateCause::Cgroup);
        assert_eq!(create_cause(RESERVED), CreateCause::NameReserved);
        assert_eq!(
            create_cause(
                "failed to mount container k8s_app_web-1_shop_6b1e_0(3f2a9c1b0d8e): mount overlay: no space left on device"
            ),
            CreateCause::Mount
        );
        for message in [NO_COMMAND, MOUNT, CGROUP, RESERVED] {
            assert!(is_create_failure(message), "{message}");
        }
    }

    #[test]
    fn leaves_other_rules_their_forms() {
        for message in [
            r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "pythonn": executable file not found in $PATH: unknown"#,
            r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app/start.sh": permission denied: unknown"#,
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec /app/server: exec format error: unknown",
            r#"configmap "app-config" not found"#,
            "couldn't find key DB_HOST in ConfigMap shop/app-config",
        ] {
            assert!(!is_create_failure(message), "{message}");
        }
    }

    #[test]
    fn says_a_mount_error_in_a_few_words() {
        assert_eq!(
            mount_phrase(&last_link(MOUNT)).as_deref(),
            Some(r#"error mounting at "/etc/app/config.yaml": not a directory"#)
        );
    }

    #[test]
    fn quotes_the_meaningful_last_link() {
        assert_eq!(last_link(NO_COMMAND), "no command specified");
        assert_eq!(
            clean_message(NO_COMMAND),
            r#"failed to generate container "000000000000" spec: failed to generate spec: no command specified"#
        );
        assert!(last_link(MOUNT).starts_with(
            r#"error mounting "/var/lib/kubelet/pods/6b1e/volume-subpaths/config/app/0" to rootfs at "/etc/app/config.yaml""#
        ));
        assert!(last_link(MOUNT).ends_with("not a directory"));
        assert_eq!(
            last_link(CGROUP),
            "unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod6b1e/0f3a: cannot allocate memory"
        );
        assert!(last_link(RESERVED).ends_with(r#"is reserved for "9e8d7c6b5a4f""#));
        assert_eq!(
            last_link(&format!("rpc error: code = Unknown desc = {NO_COMMAND}")),
            "no command specified"
        );
        assert_eq!(
            last_link(
                r#"failed to start containerd task "3f2a9c1b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a": cannot start a stopped process: unknown"#
            ),
            "cannot start a stopped process"
        );
    }
}
