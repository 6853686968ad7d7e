//! Volumes of Pods: attach and mount failures, and ReadWriteOnce claims shared by
//! replicas that may run on several nodes.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, PodSpec, Volume};

use super::Claim;
use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::k8s::{node, owners, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    attach_and_mount(ctx, out);
    rwo_shared(ctx, out);
}

/// `... for volume "NAME" ...` → NAME.
fn volume_in(msg: &str) -> Option<String> {
    let start = msg.find("volume \"")?;
    let rest = &msg[start + 8..];
    rest.split('"').next().map(str::to_owned)
}

/// `unmounted volumes=[a b]` → [a, b].
fn list_after(msg: &str, key: &str) -> Vec<String> {
    let Some(start) = msg.find(key) else {
        return Vec::new();
    };
    let rest = &msg[start + key.len()..];
    let inner = rest
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .unwrap_or("");
    inner.split_whitespace().map(str::to_owned).collect()
}

/// Whether a mount failure is about a missing ConfigMap/Secret (the workload rules' business)
/// or a kubelet cache race.
fn belongs_to_workload(msg: &str, spec: Option<&PodSpec>) -> bool {
    let lower = msg.to_ascii_lowercase();
    if (lower.contains("configmap \"") || lower.contains("secret \""))
        && lower.contains("not found")
        || lower.contains("couldn't find key")
        || lower.contains("not registered")
    {
        return true;
    }
    // "Unable to attach or mount volumes: unmounted volumes=[config], ...: timed out":
    // when every volume it waits for is a ConfigMap/Secret/projected one, it is the same story.
    let waiting = list_after(msg, "unmounted volumes=");
    if !waiting.is_empty()
        && let Some(spec) = spec
    {
        return waiting.iter().all(|volume_name| {
            spec.volumes
                .iter()
                .flatten()
                .find(|x| &x.name == volume_name)
                .is_some_and(is_config_volume)
        });
    }
    false
}

fn is_config_volume(volume: &Volume) -> bool {
    volume.config_map.is_some()
        || volume.secret.is_some()
        || volume.projected.is_some()
        || volume.downward_api.is_some()
}

/// The claim a failing volume name refers to: a Pod volume name, or a PV name.
fn claim_for(ctx: &RuleContext, pod: &Pod, ns: &str, volume: &str) -> Option<ObjRef> {
    let spec = pod.spec.as_ref()?;
    for candidate in spec.volumes.iter().flatten() {
        if let Some(source) = &candidate.persistent_volume_claim {
            if candidate.name == volume {
                return Some(ObjRef::namespaced(
                    Kind::PersistentVolumeClaim,
                    ns,
                    &source.claim_name,
                ));
            }
            let bound = ctx
                .store
                .get::<PersistentVolumeClaim>(ns, &source.claim_name)
                .and_then(|p| p.spec.as_ref().and_then(|s| s.volume_name.clone()));
            if bound.as_deref() == Some(volume) {
                return Some(ObjRef::namespaced(
                    Kind::PersistentVolumeClaim,
                    ns,
                    &source.claim_name,
                ));
            }
        }
    }
    None
}

/// The Pod has not started all its containers (the mount failure is current).
fn still_blocked(pod: &Pod) -> bool {
    !(matches!(pod::phase(pod), "Succeeded" | "Failed")
        || pod::phase(pod) == "Running" && pod::is_ready(pod))
}

#[derive(Default)]
struct Group<'a> {
    pods: Vec<(ObjRef, &'a Arc<Pod>)>,
    events: Vec<&'a Arc<EventRecord>>,
    claim: Option<ObjRef>,
    volume: String,
    current: bool,
}

fn attach_and_mount(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // (multi-attach?, claim or volume) -> group
    let mut groups: BTreeMap<(bool, String), Group> = BTreeMap::new();
    for pod_ref in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(pod_ref) else {
            continue;
        };
        let ns = pod_ref.ns();
        for event in ctx.events(pod_ref) {
            if !event.is_warning()
                || !matches!(event.reason.as_str(), "FailedMount" | "FailedAttachVolume")
            {
                continue;
            }
            if belongs_to_workload(&event.message, pod.spec.as_ref()) {
                continue;
            }
            // v1.37's attach-detach controller says "Waiting for detach for volume
            // ..." where earlier releases said "Multi-Attach error for volume ..."
            let multi = event.message.contains("Multi-Attach error")
                || (event.reason == "FailedAttachVolume"
                    && event.message.starts_with("Waiting for detach for volume"));
            let volume = volume_in(&event.message)
                .or_else(|| {
                    list_after(&event.message, "unmounted volumes=")
                        .into_iter()
                        .next()
                })
                .unwrap_or_default();
            let claim = claim_for(ctx, pod, ns, &volume);
            let key = (
                multi,
                claim
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| format!("{pod_ref}/{volume}")),
            );
            let group = groups.entry(key).or_default();
            if !group.pods.iter().any(|(x, _)| x == pod_ref) {
                group.pods.push((pod_ref.clone(), pod));
            }
            group.events.push(event);
            group.claim = group.claim.take().or(claim);
            if group.volume.is_empty() {
                group.volume = volume;
            }
            group.current |= still_blocked(pod);
        }
    }
    // The kubelet's "Unable to attach or mount volumes ... timed out" that follows a
    // Multi-Attach error on the same claim is the same failure.
    let multi_keys: Vec<String> = groups
        .keys()
        .filter(|(m, _)| *m)
        .map(|(_, k)| k.clone())
        .collect();
    for key in multi_keys {
        if let Some(timeout_group) = groups.remove(&(false, key.clone()))
            && let Some(multi_group) = groups.get_mut(&(true, key))
        {
            for (pod_ref, pod) in timeout_group.pods {
                if !multi_group.pods.iter().any(|(x, _)| x == &pod_ref) {
                    multi_group.pods.push((pod_ref, pod));
                }
            }
            multi_group.events.extend(timeout_group.events);
            multi_group.current |= timeout_group.current;
        }
    }
    for ((multi, _), mut group) in groups {
        group.events.sort_by_key(|a| a.time);
        if multi {
            out.push(multi_attach(ctx, &group));
        } else {
            out.push(mount_failed(ctx, &group));
        }
    }
}

fn base_draft<'a>(
    ctx: &RuleContext<'a>,
    rule: RuleId,
    group: &Group<'a>,
) -> (Draft, Option<Claim<'a>>) {
    let claim = group.claim.as_ref().and_then(|claim_ref| {
        ctx.store
            .get_ref::<PersistentVolumeClaim>(claim_ref)
            .map(|pvc| Claim::new(ctx, claim_ref, pvc))
    });
    let mut draft = match (&claim, &group.claim) {
        (Some(claim), _) => claim.draft(rule),
        (None, Some(claim_ref)) => Draft::new(rule, claim_ref.clone()),
        (None, None) => {
            Draft::new(rule, group.pods[0].0.clone()).discriminator(group.volume.clone())
        }
    };
    let pods: Vec<ObjRef> = group.pods.iter().map(|(r, _)| r.clone()).collect();
    draft = draft.affected(&pods);
    if let Some(last) = group.events.last() {
        draft = draft.event(last);
    }
    for event in &group.events {
        draft = draft.account(event).seen(event.first_time, event.time);
    }
    if !group.current {
        draft = draft.severity(Severity::Info);
    }
    (draft, claim)
}

fn node_of(pod: &Pod) -> Option<&str> {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

fn node_ready(ctx: &RuleContext, node: &str) -> Option<bool> {
    ctx.store
        .get::<Node>("", node)
        .map(|node| node::is_ready(node))
}

fn multi_attach(ctx: &RuleContext, group: &Group) -> Draft {
    let (mut draft, claim) = base_draft(ctx, RuleId::VolumeMultiAttach, group);
    let ns = group.pods[0].0.ns();
    let waiting: Vec<String> = group
        .pods
        .iter()
        .map(|(r, p)| format!("{} (node {})", r.name, node_of(p).unwrap_or("?")))
        .collect();
    let claim_name = group.claim.as_ref().map(|c| c.name.clone());
    draft = draft
        .message(format!(
            "Volume {} {}is attached to another node, and a ReadWriteOnce volume attaches to one node at a time: Pod(s) {} cannot start{}",
            group.volume,
            claim_name
                .as_ref()
                .map(|c| format!("(claim {c}) "))
                .unwrap_or_default(),
            waiting.join(", "),
            if group.current { "" } else { " (they run now: the conflict resolved)" }
        ))
        .edge("Pod -> PersistentVolumeClaim")
        .summary("Let the Pod holding the volume go first: for single-replica workloads on ReadWriteOnce storage use the Recreate strategy (or a StatefulSet); a volume held by a dead node is force-detached by the attach/detach controller after about 6 minutes, or at once when the node is marked out-of-service. Never delete the claim to get past this.")
        .read_only(
            "See which node the volume is attached to",
            format!("kubectl get volumeattachments -o wide | grep {}", group.volume),
        )
        .read_only("See where the Pods using the claim run", format!("kubectl get pods -n {ns} -o wide"));
    // Who holds it: other Pods using the claim on another node.
    if let Some(claim) = &claim {
        let waiting_nodes: Vec<&str> = group.pods.iter().filter_map(|(_, p)| node_of(p)).collect();
        for (pod_ref, pod) in &claim.pods {
            if group.pods.iter().any(|(x, _)| x == pod_ref) {
                continue;
            }
            let Some(node) = node_of(pod) else { continue };
            if waiting_nodes.contains(&node) {
                continue;
            }
            let ready = node_ready(ctx, node);
            draft = draft.evidence(format!(
                "Pod {} uses the claim on node {node} ({}{})",
                pod_ref.name,
                pod::describe_state(pod),
                match ready {
                    Some(false) => ", node NOT Ready",
                    _ => "",
                }
            ));
            if ready == Some(false) {
                draft = draft
                    .step(
                        format!(
                            "Node {node} is down: once it is confirmed powered off, mark it out-of-service so the volume is detached at once"
                        ),
                        Some(format!(
                            "kubectl taint node {node} node.kubernetes.io/out-of-service=nodeshutdown:NoExecute"
                        )),
                        Risk::Disruptive,
                    )
                    .step(
                        format!("Or delete Pod {} stuck on the dead node so the volume can move", pod_ref.name),
                        Some(format!("kubectl delete pod {} -n {ns} --grace-period=0 --force", pod_ref.name)),
                        Risk::Disruptive,
                    );
            }
        }
        let modes = claim.access_modes();
        if !modes.is_empty() {
            draft = draft.evidence(format!(
                "claim {} accessModes {}",
                claim.pvc_ref.name,
                modes.join(",")
            ));
        }
    }
    // A single-replica Deployment on RWO storage with RollingUpdate: the classic cause.
    if let Some(dep) = owning_deployment(ctx, group.pods[0].1) {
        let strategy = dep
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate");
        if strategy == "RollingUpdate" {
            let name = dep.metadata.name.clone().unwrap_or_default();
            draft = draft
                .evidence(format!(
                    "Deployment {name} uses strategy RollingUpdate: its new Pod starts before the old one releases the volume, and may land on another node"
                ))
                .step(
                    format!("Switch Deployment {name} to the Recreate strategy so the old Pod releases the volume first"),
                    Some(format!(
                        "kubectl patch deployment {name} -n {ns} --type merge -p '{{\"spec\":{{\"strategy\":{{\"type\":\"Recreate\",\"rollingUpdate\":null}}}}}}'"
                    )),
                    Risk::Reversible,
                );
        }
    }
    draft
}

fn owning_deployment<'a>(ctx: &RuleContext<'a>, pod: &Pod) -> Option<&'a Arc<Deployment>> {
    let ns = pod.metadata.namespace.as_deref()?;
    let rs_name = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "ReplicaSet" && o.controller == Some(true))?
        .name
        .clone();
    let rs = ctx.store.get::<ReplicaSet>(ns, &rs_name)?;
    let dep = rs
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "Deployment" && o.controller == Some(true))?;
    ctx.store.get::<Deployment>(ns, &dep.name)
}

fn mount_hint(msg: &str) -> Option<String> {
    let lower = msg.to_ascii_lowercase();
    if let Some(start) = msg.find("driver name ")
        && lower.contains("not found in the list of registered csi drivers")
    {
        let driver = msg[start + 12..].split_whitespace().next().unwrap_or("");
        return Some(format!(
            "the CSI driver {driver} is not registered on the node: its node plugin (a DaemonSet Pod) is not running there"
        ));
    }
    if lower.contains("mount.nfs") || (lower.contains("nfs") && lower.contains("exit status 32")) {
        return Some(
            "the NFS mount fails: server unreachable from the node, or the export refuses it"
                .to_owned(),
        );
    }
    if lower.contains("wrong fs type") || lower.contains("bad superblock") {
        return Some("the filesystem cannot be mounted (wrong fsType or a damaged filesystem): do not format it; snapshot it and check it".to_owned());
    }
    if lower.contains("hostpath type check failed") {
        return Some("the hostPath does not exist on the node with the expected type".to_owned());
    }
    if lower.contains("attachvolume.attach failed") || lower.contains("attachvolume") {
        return Some("the volume cannot be attached to the node (cloud API error, node volume limit, or a zone mismatch)".to_owned());
    }
    if lower.contains("max volume count") || lower.contains("attachable") {
        return Some("the node reached its limit of attached volumes".to_owned());
    }
    if lower.contains("permission denied") {
        return Some("permission denied while mounting".to_owned());
    }
    if lower.contains("deadlineexceeded") || lower.contains("timed out") {
        return Some("attaching or mounting timed out (CSI controller or node plugin, or the storage backend)".to_owned());
    }
    None
}

fn mount_failed(ctx: &RuleContext, group: &Group) -> Draft {
    let (mut draft, claim) = base_draft(ctx, RuleId::VolumeMountFailed, group);
    let ns = group.pods[0].0.ns();
    let last = group
        .events
        .last()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    let hint = mount_hint(&last);
    let nodes: Vec<&str> = group.pods.iter().filter_map(|(_, p)| node_of(p)).collect();
    draft = draft
        .message(format!(
            "Volume {}{} cannot be {} for Pod(s) {}{}{}",
            group.volume,
            group.claim
                .as_ref()
                .map(|c| format!(" (claim {})", c.name))
                .unwrap_or_default(),
            if group.events.iter().any(|e| e.reason == "FailedAttachVolume") {
                "attached"
            } else {
                "mounted"
            },
            group.pods
                .iter()
                .map(|(r, _)| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default(),
            if group.current { "" } else { " (the Pods run now)" }
        ))
        .edge("Pod -> PersistentVolumeClaim")
        .summary("Read the kubelet's and the CSI driver's messages for the node; fix the driver or the backend. Restarting Pods or deleting the claim does not fix a mount and can lose data.")
        .read_only("Read the Pod's events", format!("kubectl describe pod {} -n {ns}", group.pods[0].0.name));
    if !nodes.is_empty() {
        draft = draft.evidence(format!("node(s): {}", nodes.join(", ")));
        draft = draft.read_only(
            "See which CSI drivers the node has registered",
            format!("kubectl get csinode {} -o yaml", nodes[0]),
        );
    }
    if let Some(claim) = &claim {
        draft = draft
            .evidence(format!(
                "claim {} phase {}, volume {}",
                claim.pvc_ref.name,
                claim.phase(),
                claim.volume_name().unwrap_or("-")
            ))
            .read_only("Read the claim and its volume", claim.describe_cmd());
    }
    draft.read_only(
        "Read the CSI driver's logs on that node",
        "kubectl get pods -A -o wide | grep -i csi",
    )
}

/// The workloads of the graph whose Pods share one ReadWriteOnce claim across nodes.
fn rwo_shared(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // (workload, replicas, template spec) from the graph and from the owners of Pods
    // mounting the graph's claims.
    let mut workloads: BTreeMap<ObjRef, (i32, &PodSpec)> = BTreeMap::new();
    let mut candidates: Vec<ObjRef> = Vec::new();
    for kind in [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
    ] {
        candidates.extend(
            ctx.graph
                .of_kind(kind)
                .filter(|(_, n)| n.exists == crate::graph::Existence::Exists)
                .map(|(r, _)| r.clone()),
        );
    }
    for pvc_ref in ctx.graph.subjects(Kind::PersistentVolumeClaim) {
        for pod_obj in ctx.store.pods_using_claim(pvc_ref.ns(), &pvc_ref.name) {
            let pod = pod::reference(pod_obj);
            candidates.push(owners::top_owner(ctx.store, &pod));
        }
    }
    candidates.sort();
    candidates.dedup();
    for workload in candidates {
        let entry = match workload.kind {
            Kind::Deployment => ctx
                .store
                .get_ref::<Deployment>(&workload)
                .and_then(|deployment| {
                    deployment
                        .spec
                        .template
                        .spec
                        .as_ref()
                        .map(|spec| (deployment.spec.replicas.unwrap_or(1), spec))
                }),
            Kind::StatefulSet => ctx.store.get_ref::<StatefulSet>(&workload).and_then(|sts| {
                sts.spec
                    .template
                    .spec
                    .as_ref()
                    .map(|spec| (sts.spec.replicas.unwrap_or(1), spec))
            }),
            Kind::DaemonSet => ctx.store.get_ref::<DaemonSet>(&workload).and_then(|ds| {
                ds.spec.template.spec.as_ref().map(|spec| {
                    (
                        ds.status
                            .as_ref()
                            .map_or(2, |st| st.desired_number_scheduled),
                        spec,
                    )
                })
            }),
            Kind::ReplicaSet => ctx.store.get_ref::<ReplicaSet>(&workload).and_then(|rs| {
                // ReplicaSets of a Deployment are judged through the Deployment.
                let owned = rs
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.controller == Some(true));
                if owned {
                    return None;
                }
                rs.spec
                    .template
                    .as_ref()
                    .and_then(|t| t.spec.as_ref())
                    .map(|spec| (rs.spec.replicas.unwrap_or(1), spec))
            }),
            _ => None,
        };
        if let Some(entry) = entry {
            workloads.insert(workload, entry);
        }
    }
    for (workload, (replicas, spec)) in workloads {
        if replicas <= 1 || pinned_to_one_node(spec) {
            continue;
        }
        let ns = workload.ns();
        for volume in spec.volumes.iter().flatten() {
            let Some(src) = &volume.persistent_volume_claim else {
                continue;
            };
            let cr = ObjRef::namespaced(Kind::PersistentVolumeClaim, ns, &src.claim_name);
            let Some(pvc) = ctx.store.get_ref::<PersistentVolumeClaim>(&cr) else {
                continue;
            };
            let claim = Claim::new(ctx, &cr, pvc);
            let modes = claim.access_modes();
            let shared_ok = modes
                .iter()
                .any(|m| m == "ReadWriteMany" || m == "ReadOnlyMany");
            if shared_ok || modes.is_empty() {
                continue;
            }
            let mut nodes: Vec<&str> = claim.pods.iter().filter_map(|(_, p)| node_of(p)).collect();
            nodes.sort();
            nodes.dedup();
            let mut draft = claim
                .draft(RuleId::ReadWriteOnceShared)
                .discriminator(workload.to_string())
                .message(format!(
                    "{} {} runs {replicas} replicas that all mount claim {} ({}): the volume attaches to one node, so replicas scheduled elsewhere cannot start{}",
                    workload.kind,
                    workload.name,
                    claim.pvc_ref.name,
                    modes.join(","),
                    if modes.iter().any(|m| m == "ReadWriteOncePod") {
                        " (ReadWriteOncePod: only one Pod at all)"
                    } else {
                        ""
                    }
                ))
                .evidence(format!(
                    "{} {}: replicas {replicas}, volume {} -> claim {}",
                    workload.kind, workload.name, volume.name, claim.pvc_ref.name
                ))
                .evidence(format!("claim {} accessModes {}", claim.pvc_ref.name, modes.join(",")))
                .scope(workload.clone())
                .summary("Give each replica its own volume (a StatefulSet with volumeClaimTemplates), use ReadWriteMany storage, or run a single replica.")
                .read_only("See where the replicas run", format!("kubectl get pods -n {ns} -o wide"));
            if !nodes.is_empty() {
                draft = draft.evidence(format!(
                    "Pods using the claim run on node(s): {}",
                    nodes.join(", ")
                ));
            }
            if workload.kind == Kind::Deployment {
                draft = draft.step(
                    "Convert the workload to a StatefulSet with volumeClaimTemplates so each replica gets its own claim",
                    None,
                    Risk::Reversible,
                );
            }
            out.push(draft);
        }
    }
}

/// Whether a Pod template can only run on one node (nodeName, a hostname selector,
/// or required affinity to a hostname), so that all replicas share the node.
fn pinned_to_one_node(spec: &PodSpec) -> bool {
    if spec.node_name.as_deref().is_some_and(|n| !n.is_empty()) {
        return true;
    }
    if spec
        .node_selector
        .as_ref()
        .is_some_and(|s| s.contains_key("kubernetes.io/hostname"))
    {
        return true;
    }
    let aff = spec.affinity.as_ref();
    let node_pinned = aff
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|node_affinity| {
            node_affinity
                .required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_some_and(|req| {
            !req.node_selector_terms.is_empty()
                && req.node_selector_terms.iter().all(|term| {
                    term.match_expressions.iter().flatten().any(|expression| {
                        expression.key == "kubernetes.io/hostname"
                            && expression.operator == "In"
                            && expression.values.as_ref().is_some_and(|v| v.len() == 1)
                    })
                })
        });
    let colocated = aff
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|pod_affinity| {
            pod_affinity
                .required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_some_and(|terms| {
            terms
                .iter()
                .any(|t| t.topology_key == "kubernetes.io/hostname")
        });
    node_pinned || colocated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_volume_names_and_lists() {
        assert_eq!(
            volume_in(r#"Multi-Attach error for volume "pvc-0a1b" Volume is already exclusively attached to one node and can't be attached to another"#).as_deref(),
            Some("pvc-0a1b")
        );
        assert_eq!(
            list_after(
                "Unable to attach or mount volumes: unmounted volumes=[data config], unattached volumes=[], failed to process volumes=[]: timed out waiting for the condition",
                "unmounted volumes="
            ),
            vec!["data", "config"]
        );
        assert!(belongs_to_workload(
            r#"MountVolume.SetUp failed for volume "config" : configmap "app-config" not found"#,
            None
        ));
        assert!(!belongs_to_workload(
            r#"MountVolume.MountDevice failed for volume "pvc-1" : kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: driver name ebs.csi.aws.com not found in the list of registered CSI drivers"#,
            None
        ));
        assert!(
            mount_hint(
                "driver name ebs.csi.aws.com not found in the list of registered CSI drivers"
            )
            .unwrap()
            .contains("ebs.csi.aws.com")
        );
    }
}
