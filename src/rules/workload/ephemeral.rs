//! EphemeralStorageExceeded: the kubelet evicted Pods for their own use of local
//! ephemeral storage, against a limit their spec sets — not for the node's pressure
//! (that is PodEvicted, and the node's findings).
//!
//! The kubelet's eviction manager (pkg/kubelet/eviction) writes three forms, as
//! `status.message` of the Failed Pod (reason Evicted) and as its `Evicted` event:
//!
//! - `Container NAME exceeded its local ephemeral storage limit "LIMIT". `: the
//!   container's writable layer and its logs exceed `resources.limits.ephemeral-storage`;
//! - `Pod ephemeral local storage usage exceeds the total limit of containers LIMIT. `:
//!   the containers' writable layers and logs plus the disk-backed emptyDir volumes
//!   exceed the sum of the containers' limits;
//! - `Usage of EmptyDir volume "NAME" exceeds the limit "LIMIT". `: an emptyDir
//!   outgrew its `sizeLimit`.
//!
//! Pods of one controller evicted in the same form are one finding; evictions older
//! than an hour are history (Info), as PodEvicted reports them.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Container, Volume};

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::k8s::{duration, owners};
use crate::model::Kind;
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::containers::suggest_double;
use super::{Group, Groups, PodView, RECENT_SECS, kubectl_ref, owned_count, with_events};

/// The limit an eviction message says was exceeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exceeded {
    /// A container's `resources.limits.ephemeral-storage`.
    Container {
        /// The container's name.
        container: String,
        /// The limit, as the kubelet wrote it.
        limit: String,
    },
    /// The sum of the containers' limits, for the whole Pod.
    Pod {
        /// The limit, as the kubelet wrote it.
        limit: String,
    },
    /// An emptyDir volume's `sizeLimit`.
    EmptyDir {
        /// The volume's name.
        volume: String,
        /// The limit, as the kubelet wrote it.
        limit: String,
    },
}

impl Exceeded {
    /// The limit exceeded.
    fn limit(&self) -> &str {
        match self {
            Exceeded::Container { limit, .. }
            | Exceeded::Pod { limit }
            | Exceeded::EmptyDir { limit, .. } => limit,
        }
    }

    /// One finding per controller and form.
    fn discriminator(&self) -> String {
        match self {
            Exceeded::Container { container, .. } => format!("container {container}"),
            Exceeded::Pod { .. } => "pod".to_owned(),
            Exceeded::EmptyDir { volume, .. } => format!("emptyDir {volume}"),
        }
    }
}

/// Reads an eviction message of the kubelet's ephemeral-storage limits.
pub(crate) fn exceeded(message: &str) -> Option<Exceeded> {
    let message = message.trim();
    let quoted = |text: &str| -> Option<String> {
        let rest = text.strip_prefix('"')?;
        rest.split('"')
            .next()
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
    };
    if let Some(at) =
        message.find("Pod ephemeral local storage usage exceeds the total limit of containers ")
    {
        let rest = &message[at
            + "Pod ephemeral local storage usage exceeds the total limit of containers ".len()..];
        let limit = rest
            .split_whitespace()
            .next()?
            .trim_end_matches('.')
            .to_owned();
        return (!limit.is_empty()).then_some(Exceeded::Pod { limit });
    }
    if let Some(at) = message.find(" exceeded its local ephemeral storage limit ") {
        let before = &message[..at];
        let container = before.rsplit("Container ").next()?.trim().to_owned();
        let limit = quoted(&message[at + " exceeded its local ephemeral storage limit ".len()..])?;
        return (!container.is_empty()).then_some(Exceeded::Container { container, limit });
    }
    if let Some(at) = message.find("Usage of EmptyDir volume ") {
        let rest = &message[at + "Usage of EmptyDir volume ".len()..];
        let volume = quoted(rest)?;
        let after = &rest[volume.len() + 2..];
        let limit = quoted(after.strip_prefix(" exceeds the limit ")?)?;
        return Some(Exceeded::EmptyDir { volume, limit });
    }
    None
}

/// An evicted Pod, with what it exceeded and when.
struct Eviction<'a> {
    exceeded: Exceeded,
    /// The message as the kubelet wrote it.
    message: String,
    /// Where it was read (`status.message` or the event).
    field: &'static str,
    /// When (the latest condition transition, or the event's time).
    at: Option<Timestamp>,
    /// The Evicted event, when there is one.
    event: Option<&'a EventRecord>,
}

/// The ephemeral-storage eviction of a Pod: the evicted Pod's `status.message`, or
/// an `Evicted` event of its current incarnation (the status may lag behind).
fn eviction<'a>(pod: &PodView<'a>) -> Option<Eviction<'a>> {
    let created = pod
        .pod
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|time| time.0);
    let event = pod
        .events_with("Evicted")
        .into_iter()
        .rev()
        .find(|event| {
            exceeded(&event.message).is_some()
                && match (created, event.time.or(event.first_time)) {
                    (Some(created), Some(time)) => time >= created,
                    _ => true,
                }
        })
        .map(|event| event.as_ref());
    if pod.evicted() {
        let message = pod
            .pod
            .status
            .as_ref()
            .and_then(|status| status.message.as_deref())
            .unwrap_or("");
        if let Some(found) = exceeded(message) {
            return Some(Eviction {
                exceeded: found,
                message: message.trim().to_owned(),
                field: "status.message",
                at: pod
                    .last_transition()
                    .or_else(|| event.and_then(|event| event.time)),
                event,
            });
        }
        if !message.trim().is_empty() {
            return None; // evicted for something else (the node's pressure)
        }
    }
    let event = event?;
    Some(Eviction {
        exceeded: exceeded(&event.message)?,
        message: event.message.trim().to_owned(),
        field: "event Evicted",
        at: event.time.or(event.first_time),
        event: Some(event),
    })
}

/// `resources.limits.ephemeral-storage` (or requests) of a container.
fn ephemeral(container: &Container, limits: bool) -> Option<&str> {
    let resources = container.resources.as_ref()?;
    let list = if limits {
        resources.limits.as_ref()?
    } else {
        resources.requests.as_ref()?
    };
    list.get("ephemeral-storage")
        .map(|quantity| quantity.0.as_str())
}

/// The Pod's disk-backed emptyDir volumes (a memory-backed one is tmpfs: it counts
/// as memory, not ephemeral storage).
fn disk_empty_dirs<'a>(pod: &PodView<'a>) -> Vec<&'a Volume> {
    pod.spec
        .volumes
        .iter()
        .flatten()
        .filter(|volume| {
            volume
                .empty_dir
                .as_ref()
                .is_some_and(|empty_dir| empty_dir.medium.as_deref() != Some("Memory"))
        })
        .collect()
}

/// `emptyDir cache (sizeLimit 1Gi), mounted by app at /cache`.
fn describe_empty_dir(pod: &PodView, volume: &Volume) -> String {
    let size_limit = volume
        .empty_dir
        .as_ref()
        .and_then(|empty_dir| empty_dir.size_limit.as_ref())
        .map_or_else(
            || "no sizeLimit".to_owned(),
            |limit| format!("sizeLimit {}", limit.0),
        );
    let mounts: Vec<String> = pod
        .containers()
        .iter()
        .flat_map(|container| {
            container
                .spec
                .volume_mounts
                .iter()
                .flatten()
                .filter(|mount| mount.name == volume.name)
                .map(|mount| format!("{} at {}", container.name(), mount.mount_path))
                .collect::<Vec<_>>()
        })
        .collect();
    format!(
        "emptyDir {} ({size_limit}), {}",
        volume.name,
        if mounts.is_empty() {
            "mounted by no container".to_owned()
        } else {
            format!("mounted by {}", mounts.join(", "))
        }
    )
}

/// What the container writes that counts against its own limit: its writable layer
/// (everything outside its volumes) and its logs.
fn container_writes(pod: &PodView, container: &Container) -> String {
    let written_volumes: Vec<String> = container
        .volume_mounts
        .iter()
        .flatten()
        .filter(|mount| !mount.read_only.unwrap_or(false))
        .filter_map(|mount| {
            let volume = pod
                .spec
                .volumes
                .iter()
                .flatten()
                .find(|volume| volume.name == mount.name)?;
            let kind = if volume.empty_dir.is_some() {
                "emptyDir"
            } else if volume.persistent_volume_claim.is_some() || volume.ephemeral.is_some() {
                "PVC"
            } else if volume.host_path.is_some() {
                "hostPath"
            } else {
                return None;
            };
            Some(format!("{} ({kind} {})", mount.mount_path, volume.name))
        })
        .collect();
    let mut text = format!(
        "container {}: counted against its limit are its writable layer (every file written outside its volumes, /tmp included) and its logs",
        container.name
    );
    if written_volumes.is_empty() {
        text.push_str("; it mounts no writable volume");
    } else {
        text.push_str(&format!(
            "; its writable volumes (not counted against the container's limit): {}",
            written_volumes.join(", ")
        ));
    }
    if let Some(command) = &container.command {
        let mut words = command.clone();
        words.extend(container.args.iter().flatten().cloned());
        text.push_str(&format!("; it runs {words:?}"));
    }
    text
}

/// EphemeralStorageExceeded: one finding per controller and exceeded limit.
pub(crate) fn evaluate(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    let mut groups: Groups<(Eviction, bool)> = Groups::by_controller();
    for pod in pods {
        let Some(found) = eviction(pod) else {
            continue;
        };
        let recent = found
            .at
            .is_none_or(|time| duration::age(ctx.now(), time) <= RECENT_SECS);
        let discriminator = format!(
            "{}{}",
            found.exceeded.discriminator(),
            if recent { "" } else { "#old" }
        );
        groups.add_hit(pod, discriminator, (found, recent));
    }
    for group in groups.into_groups() {
        out.push(finding(ctx, pods, &group));
    }
}

/// The finding of a group of evictions: the first Pod's spec tells the limits.
fn finding(ctx: &RuleContext, pods: &[PodView], group: &Group<(Eviction, bool)>) -> Draft {
    let pod = group.first_pod();
    let (found, recent) = group.first_seen();
    let controller = group.controller();
    let workload = owners::top_owner(ctx.store, controller);
    let kubectl_workload = kubectl_ref(&workload);
    let evicted = group.members().len();
    let nodes = group.node_list();
    let who = if controller.kind == Kind::Pod {
        format!("Pod {}/{} was", controller.ns(), controller.name)
    } else {
        format!("{evicted} Pod(s) of {} were", controller.short())
    };
    let limit = found.exceeded.limit();
    let what = match &found.exceeded {
        Exceeded::Container { container, .. } => format!(
            "container {container} wrote more than its ephemeral-storage limit {limit} (its writable layer and logs)"
        ),
        Exceeded::Pod { .. } => format!(
            "the Pod used more local ephemeral storage than its containers' limits allow in total ({limit}: writable layers, logs and emptyDir volumes)"
        ),
        Exceeded::EmptyDir { volume, .. } => {
            format!("emptyDir volume {volume} grew beyond its sizeLimit {limit}")
        }
    };
    let again = if controller.kind == Kind::Pod {
        String::new()
    } else {
        "; the replacements will be evicted again as long as they write as much".to_owned()
    };
    let mut draft = group
        .draft(RuleId::EphemeralStorageExceeded)
        .message(format!(
            "{who} evicted by the kubelet{}: {what}{again}",
            if nodes.is_empty() {
                String::new()
            } else {
                format!(" of {nodes}")
            }
        ));
    if !recent {
        draft = draft.severity(Severity::Info).message(format!(
            "{who} evicted more than an hour ago because {what}; the Failed Pods remain as history"
        ));
    }
    draft = draft.evidence(format!(
        "Pod {}: {}{}",
        pod.pod_ref.name,
        if found.field == "status.message" {
            "status.phase=Failed reason=Evicted message="
        } else {
            "Evicted event: "
        },
        format_args!("{:?}", found.message)
    ));
    // the limits
    let containers: Vec<&Container> = pod.containers().iter().map(|view| view.spec).collect();
    let limits = |container: &Container| {
        format!(
            "{}: limit {}, request {}",
            container.name,
            ephemeral(container, true).unwrap_or("none"),
            ephemeral(container, false).unwrap_or("none")
        )
    };
    let empty_dirs = disk_empty_dirs(pod);
    match &found.exceeded {
        Exceeded::Container { container, .. } => {
            if let Some(spec) = containers.iter().find(|spec| &spec.name == container) {
                draft = draft
                    .evidence(format!(
                        "container {container}: resources.limits.ephemeral-storage={}, resources.requests.ephemeral-storage={}",
                        ephemeral(spec, true).unwrap_or("none"),
                        ephemeral(spec, false).unwrap_or("none")
                    ))
                    .evidence(container_writes(pod, spec));
            } else {
                draft = draft.evidence(format!("container {container}: not in the Pod's spec"));
            }
        }
        Exceeded::Pod { .. } => {
            draft = draft.evidence(format!(
                "ephemeral-storage per container: {}",
                containers
                    .iter()
                    .map(|spec| limits(spec))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
            draft = draft.evidence(if empty_dirs.is_empty() {
                "counted for the Pod: the containers' writable layers and logs; it has no disk-backed emptyDir volume".to_owned()
            } else {
                format!(
                    "counted for the Pod: the containers' writable layers and logs, and {}",
                    empty_dirs
                        .iter()
                        .map(|volume| describe_empty_dir(pod, volume))
                        .collect::<Vec<_>>()
                        .join("; ")
                )
            });
            for spec in &containers {
                draft = draft.evidence(container_writes(pod, spec));
            }
        }
        Exceeded::EmptyDir { volume, .. } => {
            match pod
                .spec
                .volumes
                .iter()
                .flatten()
                .find(|spec| &spec.name == volume)
            {
                Some(spec) => {
                    draft = draft.evidence(format!("volume {}", describe_empty_dir(pod, spec)));
                }
                None => draft = draft.evidence(format!("volume {volume}: not in the Pod's spec")),
            }
        }
    }
    if controller.kind != Kind::Pod {
        let running = owned_count(controller, pods);
        draft = draft.evidence(format!(
            "{evicted} evicted Pod(s) of {}: {}{}; {running} Pod(s) of it not evicted",
            controller.short(),
            group
                .members()
                .iter()
                .map(|hit| hit.pod.pod_ref.name.as_str())
                .take(5)
                .collect::<Vec<_>>()
                .join(", "),
            if evicted > 5 { ", ..." } else { "" }
        ));
    }
    draft = with_events(draft, group, 2, |event| {
        event.reason == "Evicted" && exceeded(&event.message).is_some()
    });
    if let Some(event) = found.event {
        draft = draft.seen(event.first_time, event.time);
    }
    // the remediation
    let bare = workload.kind == Kind::Pod;
    let ns = pod.pod_ref.ns();
    draft = draft.read_only("Read the eviction and the Pod's limits", pod.describe_cmd());
    match &found.exceeded {
        Exceeded::Container { container, .. } => {
            draft = draft.summary(format!(
                "Give container {container} more ephemeral storage (limit {limit} now), or write its data to a volume (an emptyDir with a sizeLimit, a PVC for large data) instead of its writable layer, and log less (its logs count)"
            ));
            draft = raise_limit(draft, bare, &kubectl_workload, container, limit);
        }
        Exceeded::Pod { .. } => {
            let first = containers
                .iter()
                .find(|spec| ephemeral(spec, true).is_some())
                .map(|spec| spec.name.as_str())
                .unwrap_or("<container>");
            let first_limit = containers
                .iter()
                .find_map(|spec| ephemeral(spec, true))
                .unwrap_or(limit);
            draft = draft.summary(format!(
                "Raise the containers' ephemeral-storage limits (together {limit} now: the Pod's limit is their sum), or move what it writes to a PVC (a generic ephemeral volume for per-Pod scratch), and log less (container logs count)"
            ));
            draft = raise_limit(draft, bare, &kubectl_workload, first, first_limit);
        }
        Exceeded::EmptyDir { volume, .. } => {
            draft = draft.summary(format!(
                "Raise the sizeLimit of emptyDir {volume} ({limit} now), or move the data to a PVC (a generic ephemeral volume for per-Pod scratch), or make the application clean up what it writes there"
            ));
            let index = pod
                .spec
                .volumes
                .iter()
                .flatten()
                .position(|spec| &spec.name == volume);
            draft = match (bare, index) {
                (false, Some(index)) => draft.step(
                    format!("Raise the sizeLimit of emptyDir {volume}"),
                    Some(format!(
                        "kubectl patch {} -n {ns} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/spec/template/spec/volumes/{index}/emptyDir/sizeLimit\",\"value\":\"{}\"}}]'",
                        workload.kubectl(),
                        suggest_double(limit)
                    )),
                    Risk::Reversible,
                ),
                _ => draft.step(
                    format!("Recreate the Pod with a larger sizeLimit for emptyDir {volume} (a Pod's volumes cannot be changed)"),
                    None,
                    Risk::Disruptive,
                ),
            };
        }
    }
    draft.step(
        "Clean up the Failed Pods once their evidence is captured",
        Some(format!(
            "kubectl delete pod -n {ns} --field-selector=status.phase==Failed"
        )),
        Risk::Destructive,
    )
}

/// The step that raises a container's ephemeral-storage limit.
fn raise_limit(
    draft: Draft,
    bare: bool,
    kubectl_workload: &str,
    container: &str,
    limit: &str,
) -> Draft {
    if bare {
        return draft.step(
            format!("Recreate the Pod with a larger ephemeral-storage limit for {container} (a Pod's limits cannot be changed)"),
            None,
            Risk::Disruptive,
        );
    }
    draft.step(
        format!("Raise the ephemeral-storage limit of {container}"),
        Some(format!(
            "kubectl set resources {kubectl_workload} -c {container} --limits=ephemeral-storage={}",
            suggest_double(limit)
        )),
        Risk::Reversible,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_kubelets_three_forms() {
        assert_eq!(
            exceeded(
                "Pod ephemeral local storage usage exceeds the total limit of containers 10Mi. "
            ),
            Some(Exceeded::Pod {
                limit: "10Mi".into()
            })
        );
        assert_eq!(
            exceeded("Container app exceeded its local ephemeral storage limit \"1Gi\". "),
            Some(Exceeded::Container {
                container: "app".into(),
                limit: "1Gi".into()
            })
        );
        assert_eq!(
            exceeded("Usage of EmptyDir volume \"cache\" exceeds the limit \"1Gi\". "),
            Some(Exceeded::EmptyDir {
                volume: "cache".into(),
                limit: "1Gi".into()
            })
        );
        assert_eq!(
            exceeded(
                "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9Gi. "
            ),
            None
        );
        assert_eq!(
            exceeded(
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91432Ki. Container web was using 1203960Ki, request is 128Mi, has larger consumption of request. "
            ),
            None
        );
    }
}
