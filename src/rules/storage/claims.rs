//! Claims that do not bind or lost their volume, and the classes behind them.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;

use super::{Claim, pv_node_affinity};
use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::graph::EdgeKind;
use crate::k8s::classes::is_default_class;
use crate::k8s::{duration, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::text::edit_distance;

/// A claim younger than this with no warning is still being provisioned.
const PROVISIONING_GRACE_SECS: i64 = 120;

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let refs: Vec<ObjRef> = ctx
        .graph
        .subjects(Kind::PersistentVolumeClaim)
        .cloned()
        .collect();
    for r in &refs {
        let Some(pvc) = ctx.store.get_ref::<PersistentVolumeClaim>(r) else {
            continue;
        };
        let c = Claim::new(ctx, r, pvc);
        match c.phase() {
            "Pending" => pending(ctx, &c, out),
            "Lost" => lost(ctx, &c, out),
            _ => {}
        }
    }
    released_volumes(ctx, out);
    multiple_defaults(ctx, !refs.is_empty(), out);
}

fn is_class_not_found(e: &EventRecord) -> bool {
    e.message.contains("storageclass.storage.k8s.io \"") && e.message.contains("not found")
}

/// Whether a PersistentVolume could bind statically to a claim of this class.
fn static_volume_for(ctx: &RuleContext, class: &str) -> Option<String> {
    ctx.store
        .all::<PersistentVolume>()
        .filter(|pv| {
            pv.spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref())
                .unwrap_or("")
                == class
                && pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Available")
        })
        .find_map(|pv| pv.metadata.name.clone())
}

fn consumer_unscheduled(p: &Pod) -> Option<String> {
    if p.spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some()
    {
        return None;
    }
    let c = p
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some(c.message.clone().unwrap_or_else(|| {
        c.reason
            .clone()
            .unwrap_or_else(|| "not scheduled".to_owned())
    }))
}

fn pending(ctx: &RuleContext, c: &Claim, out: &mut Vec<Draft>) {
    let ns = c.r.ns();
    let now = ctx.now();
    let events = ctx.events(&c.r);
    let warnings: Vec<&Arc<EventRecord>> =
        events.iter().filter(|e| e.is_warning()).copied().collect();
    let age = duration::time(c.pvc.metadata.creation_timestamp.as_ref())
        .map(|t| duration::seconds(t, now));
    let classes_read = ctx.store.kind_listed(Kind::StorageClass, "");
    let mut explained = false;
    let class_line = match &c.written_class {
        Some(x) if x.is_empty() => "storageClassName \"\" (no dynamic provisioning)".to_owned(),
        Some(x) => format!("storageClassName {x}"),
        None => match &c.class_ref {
            Some(d) => format!("no storageClassName (the default class is {})", d.name),
            None => "no storageClassName".to_owned(),
        },
    };
    let accesses = c.access_modes().join(",");
    let size = c
        .pvc
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone())
        .unwrap_or_default();
    let claim_line = format!(
        "PVC {} phase Pending; {class_line}; accessModes {accesses}; requests storage {size}",
        c.r.name
    );

    // StorageClassNotFound
    if let Some(x) = c.written_class.as_deref().filter(|x| !x.is_empty())
        && c.class.is_none()
        && classes_read
        && c.volume_name().is_none()
        && static_volume_for(ctx, x).is_none()
    {
        explained = true;
        let mut near: Vec<(usize, String)> = ctx
            .store
            .all::<StorageClass>()
            .filter_map(|s| s.metadata.name.clone())
            .map(|n| (edit_distance(&n, x), n))
            .collect();
        near.sort();
        let existing: Vec<String> = near.iter().map(|(_, n)| n.clone()).collect();
        let similar: Vec<&String> = near
            .iter()
            .filter(|(d, n)| *d <= 3 || n.starts_with(x) || x.starts_with(n.as_str()))
            .map(|(_, n)| n)
            .collect();
        let mut d = c
            .draft(RuleId::StorageClassNotFound)
            .message(format!(
                "PVC {} names StorageClass {x}, which does not exist: no volume can be provisioned for it",
                c.r.name
            ))
            .evidence(claim_line.clone())
            .evidence(format!(
                "StorageClasses in the cluster: {}",
                if existing.is_empty() {
                    "none".to_owned()
                } else {
                    existing.join(", ")
                }
            ))
            .edge("PersistentVolumeClaim -> StorageClass")
            .summary("Create the StorageClass the claim names, or recreate the claim with an existing class (storageClassName cannot be changed on a claim). A claim that never bound holds no data.")
            .read_only("List the StorageClasses", "kubectl get storageclass");
        if !similar.is_empty() {
            d = d.evidence(format!(
                "similar class name(s): {}",
                similar
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for e in events.iter().filter(|e| is_class_not_found(e)) {
            d = d.event(e);
        }
        d = d.step(
            format!(
                "Create StorageClass {x} for the cluster's provisioner (if the name is intended)"
            ),
            None,
            Risk::Reversible,
        );
        d = recreate_claim_step(c, d, "with an existing storageClassName");
        out.push(d);
    }

    // NoDefaultStorageClass
    if c.written_class.is_none()
        && c.class_ref.is_none()
        && classes_read
        && c.volume_name().is_none()
        && static_volume_for(ctx, "").is_none()
    {
        explained = true;
        let names: Vec<String> = ctx
            .store
            .all::<StorageClass>()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        let mut d = c
            .draft(RuleId::NoDefaultStorageClass)
            .message(format!(
                "PVC {} names no StorageClass and the cluster has no default class: it waits for a matching PersistentVolume that nobody creates",
                c.r.name
            ))
            .evidence(claim_line.clone())
            .evidence(format!(
                "StorageClasses: {} (none annotated storageclass.kubernetes.io/is-default-class=true)",
                names.join(", ")
            ))
            .summary("Mark one StorageClass as default (claims without a class get it, retroactively since Kubernetes 1.28), or set storageClassName on the claim.")
            .read_only("List the StorageClasses and which is default", "kubectl get storageclass");
        if let Some(first) = names.first() {
            d = d.step(
                format!("Mark a StorageClass as the default, e.g. {first}"),
                Some(format!(
                    "kubectl annotate storageclass {first} storageclass.kubernetes.io/is-default-class=true"
                )),
                Risk::Reversible,
            );
        }
        for e in warnings.iter().filter(|e| e.reason == "FailedBinding") {
            d = d.event(e);
        }
        out.push(d);
    }

    // ProvisioningFailed
    let prov: Vec<&Arc<EventRecord>> = warnings
        .iter()
        .filter(|e| e.reason == "ProvisioningFailed" && !is_class_not_found(e))
        .copied()
        .collect();
    if let Some(last) = prov.last() {
        explained = true;
        let provisioner = c
            .class
            .map(|s| s.provisioner.clone())
            .or_else(|| {
                c.pvc
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| {
                        a.get("volume.kubernetes.io/storage-provisioner")
                            .or_else(|| a.get("volume.beta.kubernetes.io/storage-provisioner"))
                    })
                    .cloned()
            })
            .unwrap_or_else(|| "the provisioner".to_owned());
        let hint = provisioning_hint(&last.message);
        let mut d = c
            .draft(RuleId::ProvisioningFailed)
            .message(format!(
                "{provisioner} fails to provision a volume for PVC {}{}",
                c.r.name,
                hint.map(|h| format!(": {h}")).unwrap_or_default()
            ))
            .evidence(claim_line.clone())
            .event(last)
            .summary("The provisioner's message says why the volume cannot be created (cloud quota, permissions, topology, parameters); fix that and the provisioner retries on its own.")
            .read_only("Read the claim's events", c.describe_cmd());
        if let Some(sc) = c.class {
            d = d.evidence(format!(
                "StorageClass {}: provisioner {}, volumeBindingMode {}, parameters {}",
                sc.metadata.name.as_deref().unwrap_or(""),
                sc.provisioner,
                sc.volume_binding_mode.as_deref().unwrap_or("Immediate"),
                sc.parameters
                    .as_ref()
                    .map(|p| p
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","))
                    .unwrap_or_else(|| "none".to_owned())
            ));
        }
        for e in &prov {
            d = d.account(e).seen(e.first_time, e.time);
        }
        if provisioner.contains("csi") || provisioner.contains('.') {
            d = d.read_only(
                format!("Read the logs of {provisioner}'s controller (csi-provisioner sidecar)"),
                "kubectl get pods -A -o wide | grep -i csi",
            );
        }
        out.push(d);
    }

    // PVCPending
    // A claim pre-bound with spec.volumeName binds to that volume at once.
    let wffc = c.volume_name().is_none()
        && c.class.and_then(|s| s.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer")
        || c.volume_name().is_none() && events.iter().any(|e| e.reason == "WaitForFirstConsumer");
    let consumers: Vec<&(ObjRef, &Arc<Pod>)> =
        c.pods.iter().filter(|(_, p)| pod::is_active(p)).collect();
    let mut d = c
        .draft(RuleId::PVCPending)
        .evidence(claim_line)
        .read_only("Read the claim's status and events", c.describe_cmd())
        .read_only(
            "List the PersistentVolumes and their claims",
            "kubectl get pv",
        );
    for e in &warnings {
        if e.reason == "FailedBinding" {
            d = d.event(e);
        }
    }
    let age_txt = age
        .map(|a| format!(" for {}", duration::compact(a)))
        .unwrap_or_default();
    if wffc && !explained {
        if consumers.is_empty() {
            // Nothing to bind for yet: binding waits for a Pod, by design.
            if c.r == ctx.graph.target {
                out.push(
                    d.severity(Severity::Info)
                        .message(format!(
                            "PVC {} waits for its first consumer (volumeBindingMode WaitForFirstConsumer): it binds when a Pod that mounts it is scheduled",
                            c.r.name
                        ))
                        .summary("Nothing to fix: the volume is provisioned in the topology of the first Pod that uses the claim."),
                );
            }
            return;
        }
        let unscheduled: Vec<(String, String)> = consumers
            .iter()
            .filter_map(|(r, p)| consumer_unscheduled(p).map(|m| (r.name.clone(), m)))
            .collect();
        if !unscheduled.is_empty() {
            let storage_reason = unscheduled.iter().any(|(_, m)| {
                let l = m.to_ascii_lowercase();
                l.contains("volume") || l.contains("persistentvolumeclaim") || l.contains("storage")
            });
            d = d.message(format!(
                "PVC {} waits for its consumer Pod {} to be scheduled (volumeBindingMode WaitForFirstConsumer)",
                c.r.name, unscheduled[0].0
            ));
            for (p, m) in &unscheduled {
                d = d.evidence(format!("Pod {p} is not scheduled: {m}"));
            }
            if storage_reason {
                d = d.summary("The scheduler finds no node where a volume for this claim can be provisioned: check the class's allowedTopologies and the zones of the nodes the Pod may use.");
            } else {
                d = d
                    .severity(Severity::Info)
                    .summary("The claim binds once the Pod is scheduled: the scheduling findings say why it is not.");
            }
            out.push(d);
            return;
        }
    }
    if explained {
        d = d.message(format!(
            "PVC {} is Pending{age_txt}: no PersistentVolume is bound to it",
            c.r.name
        ));
        out.push(d);
        return;
    }
    // Pending with no cause found above.
    let mut msg = format!("PVC {} is Pending{age_txt}", c.r.name);
    let waiting = events
        .iter()
        .rev()
        .find(|e| e.reason == "ExternalProvisioning");
    if let Some(pv) = c.volume_name() {
        msg.push_str(&format!(
            ": it is pre-bound to PersistentVolume {pv}, which {}",
            match ctx.store.get::<PersistentVolume>("", pv) {
                None => "does not exist".to_owned(),
                Some(v) => match v.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                    Some(cr)
                        if cr.name.as_deref() != Some(c.r.name.as_str())
                            || cr.namespace.as_deref() != Some(ns) =>
                        format!(
                            "is bound to another claim ({}/{})",
                            cr.namespace.as_deref().unwrap_or(""),
                            cr.name.as_deref().unwrap_or("")
                        ),
                    _ => format!(
                        "is in phase {}",
                        v.status
                            .as_ref()
                            .and_then(|s| s.phase.as_deref())
                            .unwrap_or("?")
                    ),
                },
            }
        ));
    } else if c.written_class.as_deref() == Some("") {
        msg.push_str(": storageClassName \"\" disables dynamic provisioning and no PersistentVolume without a class matches it");
    } else if let Some(e) = waiting {
        msg.push_str(&format!(
            ": nobody has provisioned a volume yet ({})",
            e.message.trim()
        ));
        d = d
            .evidence(format!("event {}", e.describe()))
            .read_only(
                "The external provisioner has not acted: check that its controller runs",
                "kubectl get pods -A -o wide | grep -i -e csi -e provisioner",
            )
            .read_only("List the CSI drivers installed", "kubectl get csidrivers");
    } else if c.class.is_none() && !ctx.store.kind_listed(Kind::StorageClass, "") {
        msg.push_str(" (the StorageClasses were not read, so the class cannot be checked)");
    }
    let fresh = age.is_some_and(|a| a < PROVISIONING_GRACE_SECS) && warnings.is_empty();
    if fresh {
        d = d.severity(Severity::Info);
        msg.push_str("; it was just created and may still be provisioning");
    }
    if let Some(sc) = c.class {
        d = d.evidence(format!(
            "StorageClass {}: provisioner {}, volumeBindingMode {}",
            sc.metadata.name.as_deref().unwrap_or(""),
            sc.provisioner,
            sc.volume_binding_mode.as_deref().unwrap_or("Immediate")
        ));
    }
    out.push(d.message(msg).summary(
        "Find out why no volume binds: the claim's events, the class's provisioner, or a pre-bound volume. Do not delete the claim to retry before knowing why.",
    ));
}

fn provisioning_hint(msg: &str) -> Option<&'static str> {
    let m = msg.to_ascii_lowercase();
    if m.contains("unauthorized")
        || m.contains("accessdenied")
        || m.contains("forbidden")
        || m.contains("permission")
    {
        Some("the provisioner's cloud identity is not allowed to create volumes")
    } else if m.contains("quota") || m.contains("limitexceeded") || m.contains("resourceexhausted")
    {
        Some("the storage backend's quota is exhausted")
    } else if m.contains("zone") || m.contains("topology") || m.contains("accessibility") {
        Some("the requested topology cannot be satisfied")
    } else if m.contains("invalid") || m.contains("parameter") {
        Some("the StorageClass parameters are rejected")
    } else if m.contains("deadlineexceeded") || m.contains("timed out") || m.contains("timeout") {
        Some("the provisioner times out talking to the storage backend")
    } else {
        None
    }
}

/// The last-resort step for a claim that never bound: recreate it. Destructive, last,
/// and only after checking that it holds no data.
fn recreate_claim_step(c: &Claim, d: Draft, how: &str) -> Draft {
    let ns = c.r.ns();
    let sts = c.pods.iter().find_map(|(_, p)| {
        p.metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "StatefulSet" && o.controller == Some(true))
            .map(|o| o.name.clone())
    });
    let extra = match &sts {
        Some(s) => format!(
            " It comes from the volumeClaimTemplates of StatefulSet {s}, which cannot be changed in place: fix the template and recreate the StatefulSet with `kubectl delete statefulset {s} -n {ns} --cascade=orphan` (its Pods keep running) before recreating the claim."
        ),
        None => String::new(),
    };
    d.read_only(
        "Confirm the claim never bound (STATUS Pending, no VOLUME): only then does it hold no data",
        format!("kubectl get pvc {} -n {ns} -o wide", c.r.name),
    )
    .step(
        format!("Last resort: delete the Pending claim and recreate it {how}.{extra}"),
        Some(format!("kubectl delete pvc {} -n {ns}", c.r.name)),
        Risk::Destructive,
    )
}

fn lost(ctx: &RuleContext, c: &Claim, out: &mut Vec<Draft>) {
    let ns = c.r.ns();
    let pv_name = c.volume_name().unwrap_or("");
    let pv = ctx.store.get::<PersistentVolume>("", pv_name);
    let state = match pv {
        None if ctx.store.kind_listed(Kind::PersistentVolume, "") => {
            "does not exist any more".to_owned()
        }
        None => "was not read".to_owned(),
        Some(v) => format!(
            "is in phase {} and bound to {}",
            v.status
                .as_ref()
                .and_then(|s| s.phase.as_deref())
                .unwrap_or("?"),
            v.spec
                .as_ref()
                .and_then(|s| s.claim_ref.as_ref())
                .map(|r| format!(
                    "{}/{}",
                    r.namespace.as_deref().unwrap_or(""),
                    r.name.as_deref().unwrap_or("")
                ))
                .unwrap_or_else(|| "nothing".to_owned())
        ),
    };
    let mut d = c
        .draft(RuleId::PVCLost)
        .message(format!(
            "PVC {} is Lost: its PersistentVolume {pv_name} {state}; Pods that mount the claim cannot start",
            c.r.name
        ))
        .evidence(format!("PVC {} phase Lost; spec.volumeName {pv_name}", c.r.name))
        .edge("PersistentVolumeClaim -> PersistentVolume")
        .summary("The data may still exist in the storage backend even though the PersistentVolume object is gone. Find the backing disk or a backup and recreate the PersistentVolume object for it; do not delete the claim before that.")
        .read_only("Look for the PersistentVolume", format!("kubectl get pv {pv_name} -o yaml"))
        .read_only(
            "Look for snapshots of the volume",
            format!("kubectl get volumesnapshots -n {ns}"),
        )
        .step(
            format!(
                "Recreate PersistentVolume {pv_name} pointing at the same backing disk, with claimRef {ns}/{} (from a backup of the PV object if you have one)",
                c.r.name
            ),
            None,
            Risk::Reversible,
        )
        .step(
            "Only after the backing data is recovered or confirmed gone (check backups and the reclaim policy): delete the Lost claim and let it be provisioned anew",
            Some(format!("kubectl delete pvc {} -n {ns}", c.r.name)),
            Risk::Destructive,
        );
    if let Some(v) = pv {
        d = d.evidence(format!(
            "PersistentVolume {pv_name}: reclaimPolicy {}",
            v.spec
                .as_ref()
                .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
                .unwrap_or("?")
        ));
    }
    for e in ctx.events(&c.r) {
        if e.is_warning() && (e.reason == "ClaimLost" || e.reason == "ClaimMisbound") {
            d = d.event(e);
        }
    }
    out.push(d);
}

/// PersistentVolumes of the graph that are Released or Failed.
fn released_volumes(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let pvs: Vec<ObjRef> = ctx
        .graph
        .subjects(Kind::PersistentVolume)
        .cloned()
        .collect();
    for r in pvs {
        let Some(pv) = ctx.store.get_ref::<PersistentVolume>(&r) else {
            continue;
        };
        let st = pv.status.as_ref();
        let phase = st.and_then(|s| s.phase.as_deref()).unwrap_or("");
        if phase != "Released" && phase != "Failed" {
            continue;
        }
        let spec = pv.spec.as_ref();
        let policy = spec
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
            .unwrap_or("Retain");
        let claim = spec.and_then(|s| s.claim_ref.as_ref());
        let claim_txt = claim
            .map(|c| {
                format!(
                    "{}/{} (uid {})",
                    c.namespace.as_deref().unwrap_or(""),
                    c.name.as_deref().unwrap_or(""),
                    c.uid.as_deref().unwrap_or("-")
                )
            })
            .unwrap_or_else(|| "none".to_owned());
        let why = match phase {
            "Released" => format!(
                "its claim {claim_txt} was deleted; with reclaimPolicy {policy} the volume and its data stay but it binds to no new claim until an administrator clears spec.claimRef"
            ),
            _ => format!(
                "the reclaim ({policy}) failed: {}",
                st.and_then(|s| s.message.as_deref())
                    .unwrap_or("no message")
            ),
        };
        let mut d = Draft::new(RuleId::PVReleasedOrFailed, r.clone())
            .message(format!("PersistentVolume {} is {phase}: {why}", r.name))
            .evidence(format!(
                "PersistentVolume {}: phase {phase}, reclaimPolicy {policy}, claimRef {claim_txt}",
                r.name
            ))
            .summary("The data of a Released volume is still there. Back it up before anything else; to reuse it, clear the stale claimRef so that the claim that names it can bind.")
            .read_only("Read the volume", format!("kubectl get pv {} -o yaml", r.name))
            .step(
                "After backing the data up: let the claim that names this volume bind to it by removing the stale claimRef uid",
                Some(format!(
                    "kubectl patch pv {} --type json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef/uid\"}}]'",
                    r.name
                )),
                Risk::Disruptive,
            );
        if let Some(reason) = st.and_then(|s| s.reason.as_deref()) {
            d = d.evidence(format!("status.reason {reason}"));
        }
        for l in pv_node_affinity(pv) {
            d = d.evidence(format!("node affinity: {l}"));
        }
        // The claims that name it, and their Pods.
        for e in ctx
            .graph
            .dependents(&r)
            .filter(|e| e.kind == EdgeKind::Binds)
        {
            d = d.scope(e.from.clone());
            for p in ctx
                .graph
                .dependents(&e.from)
                .filter(|e| e.kind == EdgeKind::Mounts)
            {
                d = d.scope(p.from.clone());
            }
        }
        for e in ctx.events(&r) {
            if e.is_warning() {
                d = d.event(e);
            }
        }
        out.push(d);
    }
}

fn multiple_defaults(ctx: &RuleContext, has_claims: bool, out: &mut Vec<Draft>) {
    let has_class_node = ctx.graph.of_kind(Kind::StorageClass).next().is_some();
    if !has_claims && !has_class_node {
        return;
    }
    let mut defaults: Vec<&Arc<StorageClass>> = ctx
        .store
        .all::<StorageClass>()
        .filter(|c| is_default_class(&c.metadata))
        .collect();
    if defaults.len() < 2 {
        return;
    }
    defaults
        .sort_by_key(|c| std::cmp::Reverse(c.metadata.creation_timestamp.as_ref().map(|t| t.0)));
    let names: Vec<String> = defaults
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let winner = names[0].clone();
    let refs: Vec<ObjRef> = names
        .iter()
        .map(|n| ObjRef::cluster(Kind::StorageClass, n))
        .collect();
    let mut d = Draft::new(RuleId::MultipleDefaultStorageClasses, refs[0].clone())
        .message(format!(
            "{} StorageClasses are marked default ({}): claims without a class get the newest one, {winner}, which may not be the one intended",
            names.len(),
            names.join(", ")
        ))
        .affected(&refs)
        .summary("Keep exactly one default StorageClass: remove the default annotation from the others.")
        .read_only("List the StorageClasses", "kubectl get storageclass");
    for c in &defaults {
        d = d.evidence(format!(
            "StorageClass {} (provisioner {}, created {}) is annotated is-default-class=true",
            c.metadata.name.as_deref().unwrap_or(""),
            c.provisioner,
            c.metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default()
        ));
    }
    for n in names.iter().skip(1) {
        d = d.step(
            format!("Unmark {n} as default if {winner} is the intended default"),
            Some(format!(
                "kubectl annotate storageclass {n} storageclass.kubernetes.io/is-default-class=false --overwrite"
            )),
            Risk::Reversible,
        );
    }
    out.push(d);
}
