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
    let i = msg.find("volume \"")?;
    let rest = &msg[i + 8..];
    rest.split('"').next().map(str::to_owned)
}

/// `unmounted volumes=[a b]` → [a, b].
fn list_after(msg: &str, key: &str) -> Vec<String> {
    let Some(i) = msg.find(key) else {
        return Vec::new();
    };
    let rest = &msg[i + key.len()..];
    let inner = rest
        .strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .unwrap_or("");
    inner.split_whitespace().map(str::to_owned).collect()
}

/// Whether a mount failure is about a missing ConfigMap/Secret (the workload rules' business)
/// or a kubelet cache race.
fn belongs_to_workload(msg: &str, spec: Option<&PodSpec>) -> bool {
    let l = msg.to_ascii_lowercase();
    if (l.contains("configmap \"") || l.contains("secret \"")) && l.contains("not found")
        || l.contains("couldn't find key")
        || l.contains("not registered")
    {
        return true;
    }
    // "Unable to attach or mount volumes: unmounted volumes=[config], ...: timed out":
    // when every volume it waits for is a ConfigMap/Secret/projected one, it is the same story.
    let waiting = list_after(msg, "unmounted volumes=");
    if !waiting.is_empty()
        && let Some(spec) = spec
    {
        return waiting.iter().all(|v| {
            spec.volumes
                .iter()
                .flatten()
                .find(|x| &x.name == v)
                .is_some_and(is_config_volume)
        });
    }
    false
}

fn is_config_volume(v: &Volume) -> bool {
    v.config_map.is_some()
        || v.secret.is_some()
        || v.projected.is_some()
        || v.downward_api.is_some()
}

/// The claim a failing volume name refers to: a Pod volume name, or a PV name.
fn claim_for(ctx: &RuleContext, pod: &Pod, ns: &str, volume: &str) -> Option<ObjRef> {
    let spec = pod.spec.as_ref()?;
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.persistent_volume_claim {
            if v.name == volume {
                return Some(ObjRef::namespaced(
                    Kind::PersistentVolumeClaim,
                    ns,
                    &c.claim_name,
                ));
            }
            let bound = ctx
                .store
                .get::<PersistentVolumeClaim>(ns, &c.claim_name)
                .and_then(|p| p.spec.as_ref().and_then(|s| s.volume_name.clone()));
            if bound.as_deref() == Some(volume) {
                return Some(ObjRef::namespaced(
                    Kind::PersistentVolumeClaim,
                    ns,
                    &c.claim_name,
                ));
            }
        }
    }
    None
}

/// The Pod has not started all its containers (the mount failure is current).
fn still_blocked(p: &Pod) -> bool {
    !(matches!(pod::phase(p), "Succeeded" | "Failed")
        || pod::phase(p) == "Running" && pod::is_ready(p))
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
    for r in ctx.graph.subjects(Kind::Pod) {
        let Some(p) = ctx.store.get_ref::<Pod>(r) else {
            continue;
        };
        let ns = r.ns();
        for e in ctx.events(r) {
            if !e.is_warning() || !matches!(e.reason.as_str(), "FailedMount" | "FailedAttachVolume")
            {
                continue;
            }
            if belongs_to_workload(&e.message, p.spec.as_ref()) {
                continue;
            }
            let multi = e.message.contains("Multi-Attach error");
            let volume = volume_in(&e.message)
                .or_else(|| {
                    list_after(&e.message, "unmounted volumes=")
                        .into_iter()
                        .next()
                })
                .unwrap_or_default();
            let claim = claim_for(ctx, p, ns, &volume);
            let key = (
                multi,
                claim
                    .as_ref()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| format!("{r}/{volume}")),
            );
            let g = groups.entry(key).or_default();
            if !g.pods.iter().any(|(x, _)| x == r) {
                g.pods.push((r.clone(), p));
            }
            g.events.push(e);
            g.claim = g.claim.take().or(claim);
            if g.volume.is_empty() {
                g.volume = volume;
            }
            g.current |= still_blocked(p);
        }
    }
    // The kubelet's "Unable to attach or mount volumes ... timed out" that follows a
    // Multi-Attach error on the same claim is the same failure.
    let multi_keys: Vec<String> = groups
        .keys()
        .filter(|(m, _)| *m)
        .map(|(_, k)| k.clone())
        .collect();
    for k in multi_keys {
        if let Some(g) = groups.remove(&(false, k.clone()))
            && let Some(m) = groups.get_mut(&(true, k))
        {
            for (r, p) in g.pods {
                if !m.pods.iter().any(|(x, _)| x == &r) {
                    m.pods.push((r, p));
                }
            }
            m.events.extend(g.events);
            m.current |= g.current;
        }
    }
    for ((multi, _), mut g) in groups {
        g.events.sort_by_key(|a| a.time);
        if multi {
            out.push(multi_attach(ctx, &g));
        } else {
            out.push(mount_failed(ctx, &g));
        }
    }
}

fn base_draft<'a>(
    ctx: &RuleContext<'a>,
    rule: RuleId,
    g: &Group<'a>,
) -> (Draft, Option<Claim<'a>>) {
    let claim = g.claim.as_ref().and_then(|c| {
        ctx.store
            .get_ref::<PersistentVolumeClaim>(c)
            .map(|pvc| Claim::new(ctx, c, pvc))
    });
    let mut d = match (&claim, &g.claim) {
        (Some(c), _) => c.draft(rule),
        (None, Some(r)) => Draft::new(rule, r.clone()),
        (None, None) => Draft::new(rule, g.pods[0].0.clone()).discriminator(g.volume.clone()),
    };
    let pods: Vec<ObjRef> = g.pods.iter().map(|(r, _)| r.clone()).collect();
    d = d.affected(&pods);
    if let Some(last) = g.events.last() {
        d = d.event(last);
    }
    for e in &g.events {
        d = d.account(e).seen(e.first_time, e.time);
    }
    if !g.current {
        d = d.severity(Severity::Info);
    }
    (d, claim)
}

fn node_of(p: &Pod) -> Option<&str> {
    p.spec.as_ref().and_then(|s| s.node_name.as_deref())
}

fn node_ready(ctx: &RuleContext, node: &str) -> Option<bool> {
    ctx.store
        .get::<Node>("", node)
        .map(|node| node::is_ready(node))
}

fn multi_attach(ctx: &RuleContext, g: &Group) -> Draft {
    let (mut d, claim) = base_draft(ctx, RuleId::VolumeMultiAttach, g);
    let ns = g.pods[0].0.ns();
    let waiting: Vec<String> = g
        .pods
        .iter()
        .map(|(r, p)| format!("{} (node {})", r.name, node_of(p).unwrap_or("?")))
        .collect();
    let claim_name = g.claim.as_ref().map(|c| c.name.clone());
    d = d
        .message(format!(
            "Volume {} {}is attached to another node, and a ReadWriteOnce volume attaches to one node at a time: Pod(s) {} cannot start{}",
            g.volume,
            claim_name
                .as_ref()
                .map(|c| format!("(claim {c}) "))
                .unwrap_or_default(),
            waiting.join(", "),
            if g.current { "" } else { " (they run now: the conflict resolved)" }
        ))
        .edge("Pod -> PersistentVolumeClaim")
        .summary("Let the Pod holding the volume go first: for single-replica workloads on ReadWriteOnce storage use the Recreate strategy (or a StatefulSet); a volume held by a dead node is force-detached by the attach/detach controller after about 6 minutes, or at once when the node is marked out-of-service. Never delete the claim to get past this.")
        .read_only(
            "See which node the volume is attached to",
            format!("kubectl get volumeattachments -o wide | grep {}", g.volume),
        )
        .read_only("See where the Pods using the claim run", format!("kubectl get pods -n {ns} -o wide"));
    // Who holds it: other Pods using the claim on another node.
    if let Some(c) = &claim {
        let waiting_nodes: Vec<&str> = g.pods.iter().filter_map(|(_, p)| node_of(p)).collect();
        for (r, p) in &c.pods {
            if g.pods.iter().any(|(x, _)| x == r) {
                continue;
            }
            let Some(node) = node_of(p) else { continue };
            if waiting_nodes.contains(&node) {
                continue;
            }
            let ready = node_ready(ctx, node);
            d = d.evidence(format!(
                "Pod {} uses the claim on node {node} ({}{})",
                r.name,
                pod::describe_state(p),
                match ready {
                    Some(false) => ", node NOT Ready",
                    _ => "",
                }
            ));
            if ready == Some(false) {
                d = d
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
                        format!("Or delete Pod {} stuck on the dead node so the volume can move", r.name),
                        Some(format!("kubectl delete pod {} -n {ns} --grace-period=0 --force", r.name)),
                        Risk::Disruptive,
                    );
            }
        }
        let modes = c.access_modes();
        if !modes.is_empty() {
            d = d.evidence(format!(
                "claim {} accessModes {}",
                c.r.name,
                modes.join(",")
            ));
        }
    }
    // A single-replica Deployment on RWO storage with RollingUpdate: the classic cause.
    if let Some(dep) = owning_deployment(ctx, g.pods[0].1) {
        let strategy = dep
            .spec
            .strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate");
        if strategy == "RollingUpdate" {
            let name = dep.metadata.name.clone().unwrap_or_default();
            d = d
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
    d
}

fn owning_deployment<'a>(ctx: &RuleContext<'a>, p: &Pod) -> Option<&'a Arc<Deployment>> {
    let ns = p.metadata.namespace.as_deref()?;
    let rs_name = p
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
    let l = msg.to_ascii_lowercase();
    if let Some(i) = msg.find("driver name ")
        && l.contains("not found in the list of registered csi drivers")
    {
        let driver = msg[i + 12..].split_whitespace().next().unwrap_or("");
        return Some(format!(
            "the CSI driver {driver} is not registered on the node: its node plugin (a DaemonSet Pod) is not running there"
        ));
    }
    if l.contains("mount.nfs") || (l.contains("nfs") && l.contains("exit status 32")) {
        return Some(
            "the NFS mount fails: server unreachable from the node, or the export refuses it"
                .to_owned(),
        );
    }
    if l.contains("wrong fs type") || l.contains("bad superblock") {
        return Some("the filesystem cannot be mounted (wrong fsType or a damaged filesystem): do not format it; snapshot it and check it".to_owned());
    }
    if l.contains("hostpath type check failed") {
        return Some("the hostPath does not exist on the node with the expected type".to_owned());
    }
    if l.contains("attachvolume.attach failed") || l.contains("attachvolume") {
        return Some("the volume cannot be attached to the node (cloud API error, node volume limit, or a zone mismatch)".to_owned());
    }
    if l.contains("max volume count") || l.contains("attachable") {
        return Some("the node reached its limit of attached volumes".to_owned());
    }
    if l.contains("permission denied") {
        return Some("permission denied while mounting".to_owned());
    }
    if l.contains("deadlineexceeded") || l.contains("timed out") {
        return Some("attaching or mounting timed out (CSI controller or node plugin, or the storage backend)".to_owned());
    }
    None
}

fn mount_failed(ctx: &RuleContext, g: &Group) -> Draft {
    let (mut d, claim) = base_draft(ctx, RuleId::VolumeMountFailed, g);
    let ns = g.pods[0].0.ns();
    let last = g
        .events
        .last()
        .map(|e| e.message.clone())
        .unwrap_or_default();
    let hint = mount_hint(&last);
    let nodes: Vec<&str> = g.pods.iter().filter_map(|(_, p)| node_of(p)).collect();
    d = d
        .message(format!(
            "Volume {}{} cannot be {} for Pod(s) {}{}{}",
            g.volume,
            g.claim
                .as_ref()
                .map(|c| format!(" (claim {})", c.name))
                .unwrap_or_default(),
            if g.events.iter().any(|e| e.reason == "FailedAttachVolume") {
                "attached"
            } else {
                "mounted"
            },
            g.pods
                .iter()
                .map(|(r, _)| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default(),
            if g.current { "" } else { " (the Pods run now)" }
        ))
        .edge("Pod -> PersistentVolumeClaim")
        .summary("Read the kubelet's and the CSI driver's messages for the node; fix the driver or the backend. Restarting Pods or deleting the claim does not fix a mount and can lose data.")
        .read_only("Read the Pod's events", format!("kubectl describe pod {} -n {ns}", g.pods[0].0.name));
    if !nodes.is_empty() {
        d = d.evidence(format!("node(s): {}", nodes.join(", ")));
        d = d.read_only(
            "See which CSI drivers the node has registered",
            format!("kubectl get csinode {} -o yaml", nodes[0]),
        );
    }
    if let Some(c) = &claim {
        d = d
            .evidence(format!(
                "claim {} phase {}, volume {}",
                c.r.name,
                c.phase(),
                c.volume_name().unwrap_or("-")
            ))
            .read_only("Read the claim and its volume", c.describe_cmd());
    }
    d.read_only(
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
    for k in [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
    ] {
        candidates.extend(
            ctx.graph
                .of_kind(k)
                .filter(|(_, n)| n.exists == crate::graph::Existence::Exists)
                .map(|(r, _)| r.clone()),
        );
    }
    for c in ctx.graph.subjects(Kind::PersistentVolumeClaim) {
        for p in ctx.store.pods_using_claim(c.ns(), &c.name) {
            let pod = pod::reference(p);
            candidates.push(owners::top_owner(ctx.store, &pod));
        }
    }
    candidates.sort();
    candidates.dedup();
    for r in candidates {
        let entry = match r.kind {
            Kind::Deployment => ctx.store.get_ref::<Deployment>(&r).and_then(|d| {
                d.spec
                    .template
                    .spec
                    .as_ref()
                    .map(|s| (d.spec.replicas.unwrap_or(1), s))
            }),
            Kind::StatefulSet => ctx.store.get_ref::<StatefulSet>(&r).and_then(|d| {
                d.spec
                    .template
                    .spec
                    .as_ref()
                    .map(|s| (d.spec.replicas.unwrap_or(1), s))
            }),
            Kind::DaemonSet => ctx.store.get_ref::<DaemonSet>(&r).and_then(|d| {
                d.spec.template.spec.as_ref().map(|s| {
                    (
                        d.status
                            .as_ref()
                            .map_or(2, |st| st.desired_number_scheduled),
                        s,
                    )
                })
            }),
            Kind::ReplicaSet => ctx.store.get_ref::<ReplicaSet>(&r).and_then(|d| {
                // ReplicaSets of a Deployment are judged through the Deployment.
                let owned = d
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.controller == Some(true));
                if owned {
                    return None;
                }
                d.spec
                    .template
                    .as_ref()
                    .and_then(|t| t.spec.as_ref())
                    .map(|s| (d.spec.replicas.unwrap_or(1), s))
            }),
            _ => None,
        };
        if let Some(e) = entry {
            workloads.insert(r, e);
        }
    }
    for (w, (replicas, spec)) in workloads {
        if replicas <= 1 || pinned_to_one_node(spec) {
            continue;
        }
        let ns = w.ns();
        for v in spec.volumes.iter().flatten() {
            let Some(src) = &v.persistent_volume_claim else {
                continue;
            };
            let cr = ObjRef::namespaced(Kind::PersistentVolumeClaim, ns, &src.claim_name);
            let Some(pvc) = ctx.store.get_ref::<PersistentVolumeClaim>(&cr) else {
                continue;
            };
            let c = Claim::new(ctx, &cr, pvc);
            let modes = c.access_modes();
            let shared_ok = modes
                .iter()
                .any(|m| m == "ReadWriteMany" || m == "ReadOnlyMany");
            if shared_ok || modes.is_empty() {
                continue;
            }
            let mut nodes: Vec<&str> = c.pods.iter().filter_map(|(_, p)| node_of(p)).collect();
            nodes.sort();
            nodes.dedup();
            let mut d = c
                .draft(RuleId::ReadWriteOnceShared)
                .discriminator(w.to_string())
                .message(format!(
                    "{} {} runs {replicas} replicas that all mount claim {} ({}): the volume attaches to one node, so replicas scheduled elsewhere cannot start{}",
                    w.kind,
                    w.name,
                    c.r.name,
                    modes.join(","),
                    if modes.iter().any(|m| m == "ReadWriteOncePod") {
                        " (ReadWriteOncePod: only one Pod at all)"
                    } else {
                        ""
                    }
                ))
                .evidence(format!(
                    "{} {}: replicas {replicas}, volume {} -> claim {}",
                    w.kind, w.name, v.name, c.r.name
                ))
                .evidence(format!("claim {} accessModes {}", c.r.name, modes.join(",")))
                .scope(w.clone())
                .summary("Give each replica its own volume (a StatefulSet with volumeClaimTemplates), use ReadWriteMany storage, or run a single replica.")
                .read_only("See where the replicas run", format!("kubectl get pods -n {ns} -o wide"));
            if !nodes.is_empty() {
                d = d.evidence(format!(
                    "Pods using the claim run on node(s): {}",
                    nodes.join(", ")
                ));
            }
            if w.kind == Kind::Deployment {
                d = d.step(
                    "Convert the workload to a StatefulSet with volumeClaimTemplates so each replica gets its own claim",
                    None,
                    Risk::Reversible,
                );
            }
            out.push(d);
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
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .is_some_and(|req| {
            !req.node_selector_terms.is_empty()
                && req.node_selector_terms.iter().all(|t| {
                    t.match_expressions.iter().flatten().any(|e| {
                        e.key == "kubernetes.io/hostname"
                            && e.operator == "In"
                            && e.values.as_ref().is_some_and(|v| v.len() == 1)
                    })
                })
        });
    let colocated = aff
        .and_then(|a| a.pod_affinity.as_ref())
        .and_then(|p| {
            p.required_during_scheduling_ignored_during_execution
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
