//! UnboundPersistentVolumeClaim: the claims a Pod waits for.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodSpec};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::api::Risk;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleContext;
use crate::rules::RuleId;
use crate::store::Store;

use super::hit::{Hit, PodFacts};
use super::message::{Reason, SchedulerMessage};

/// The PVCs a Pod mounts (by claim name, including generic ephemeral volumes).
pub(super) fn pod_claims(r: &ObjRef, spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.persistent_volume_claim {
            out.push(c.claim_name.clone());
        } else if v.ephemeral.is_some() {
            out.push(format!("{}-{}", r.name, v.name));
        }
    }
    out
}

fn binding_mode(store: &Store, pvc: &PersistentVolumeClaim) -> String {
    let class = match pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()) {
        Some(c) => Some(c),
        None => crate::graph::default_storage_class(store),
    };
    class
        .as_deref()
        .and_then(|c| store.get::<StorageClass>("", c))
        .and_then(|sc| sc.volume_binding_mode.clone())
        .unwrap_or_else(|| "Immediate".to_owned())
}

/// UnboundPersistentVolumeClaim: the scheduler says so, or (event-less) a PVC with
/// Immediate binding is Pending / a PVC does not exist.
pub(super) fn claim_hits(
    ctx: &RuleContext,
    f: &PodFacts,
    said: Option<&SchedulerMessage>,
) -> Vec<Hit> {
    let said_unbound = said
        .is_some_and(|m| m.has(|r| matches!(r, Reason::UnboundClaims | Reason::ClaimNotFound(_))));
    let mut bad: Vec<(ObjRef, String)> = Vec::new();
    for c in pod_claims(f.r, f.spec) {
        let cr = ObjRef::namespaced(Kind::PersistentVolumeClaim, f.r.ns(), &c);
        match ctx.store.get::<PersistentVolumeClaim>(f.r.ns(), &c) {
            Some(pvc) => {
                let phase = pvc
                    .status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .unwrap_or("Pending");
                if phase == "Bound" {
                    continue;
                }
                let mode = binding_mode(ctx.store, pvc);
                let class = pvc
                    .spec
                    .as_ref()
                    .and_then(|s| s.storage_class_name.clone())
                    .unwrap_or_else(|| "<default>".to_owned());
                // WaitForFirstConsumer claims bind once the Pod is scheduled: not a cause
                if mode == "WaitForFirstConsumer" && !said_unbound {
                    continue;
                }
                bad.push((
                    cr,
                    format!(
                        "PVC {c}: phase {phase}, storageClass {class} (volumeBindingMode {mode})"
                    ),
                ));
            }
            None if ctx.store.kind_listed(Kind::PersistentVolumeClaim, f.r.ns())
                || said_unbound =>
            {
                bad.push((cr, format!("PVC {c} does not exist")));
            }
            None => {}
        }
    }
    if bad.is_empty() && !said_unbound {
        return Vec::new();
    }
    let names: Vec<&str> = bad.iter().map(|(r, _)| r.name.as_str()).collect();
    let what = if names.is_empty() {
        "cannot be scheduled: it waits for PersistentVolumeClaims that are not bound".to_owned()
    } else {
        format!(
            "cannot be scheduled: PersistentVolumeClaim {} is not bound",
            names.join(", ")
        )
    };
    let mut h = Hit::new(RuleId::UnboundPersistentVolumeClaim, &f.group, f.r, what)
        .evs(bad.iter().map(|(_, e)| e.clone()))
        .summary(
            "The claim must bind before the Pod can be placed: see why the PVC is Pending (StorageClass, provisioner, quota, no matching PV). Never delete a PVC without checking its data and reclaim policy.",
        );
    for (c, _) in &bad {
        h.scope.push(c.clone());
        h = h.step(
            format!("See why PVC {} is not bound", c.name),
            Some(format!("kubectl describe pvc {}{}", c.name, c.ns_flag())),
            Risk::ReadOnly,
        );
    }
    vec![h]
}
