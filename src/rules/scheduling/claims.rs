//! UnboundPersistentVolumeClaim: the claims a Pod waits for.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodSpec};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::model::{Kind, ObjRef};
use crate::rules::RuleContext;
use crate::store::Store;

use super::causes::{Cause, WHY_CLAIM_UNBOUND};
use super::hit::{Hit, PodFacts};
use super::message::{Reason, SchedulerMessage};

/// The PVCs a Pod mounts (by claim name, including generic ephemeral volumes).
pub(super) fn pod_claims(pod_ref: &ObjRef, spec: &PodSpec) -> Vec<String> {
    let mut out = Vec::new();
    for volume in spec.volumes.iter().flatten() {
        if let Some(claim) = &volume.persistent_volume_claim {
            out.push(claim.claim_name.clone());
        } else if volume.ephemeral.is_some() {
            out.push(format!("{}-{}", pod_ref.name, volume.name));
        }
    }
    out
}

/// The volumeBindingMode of the claim's StorageClass (or the default class).
fn binding_mode(store: &Store, pvc: &PersistentVolumeClaim) -> String {
    let class = match pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()) {
        Some(class) => Some(class),
        None => crate::k8s::classes::default_storage_class(store),
    };
    class
        .as_deref()
        .and_then(|class| store.get::<StorageClass>("", class))
        .and_then(|sc| sc.volume_binding_mode.clone())
        .unwrap_or_else(|| "Immediate".to_owned())
}

/// UnboundPersistentVolumeClaim: the scheduler says so, or (event-less) a PVC with
/// Immediate binding is Pending / a PVC does not exist.
pub(super) fn claim_hits(
    ctx: &RuleContext,
    facts: &PodFacts,
    said: Option<&SchedulerMessage>,
) -> Vec<Hit> {
    let said_unbound = said.is_some_and(|message| {
        message.has(|reason| matches!(reason, Reason::UnboundClaims | Reason::ClaimNotFound(_)))
    });
    let ns = facts.pod_ref.ns();
    let mut unbound: Vec<(ObjRef, String)> = Vec::new();
    for claim in pod_claims(facts.pod_ref, facts.spec) {
        let claim_ref = ObjRef::namespaced(Kind::PersistentVolumeClaim, ns, &claim);
        match ctx.store.get::<PersistentVolumeClaim>(ns, &claim) {
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
                unbound.push((
                    claim_ref,
                    format!(
                        "PVC {claim}: phase {phase}, storageClass {class} (volumeBindingMode {mode})"
                    ),
                ));
            }
            None if ctx.store.kind_listed(Kind::PersistentVolumeClaim, ns) || said_unbound => {
                unbound.push((claim_ref, format!("PVC {claim} does not exist")));
            }
            None => {}
        }
    }
    if unbound.is_empty() && !said_unbound {
        return Vec::new();
    }
    let names: Vec<&str> = unbound
        .iter()
        .map(|(claim_ref, _)| claim_ref.name.as_str())
        .collect();
    let mut hit = if names.is_empty() {
        Hit::of(Cause::UnboundClaims, facts, &[])
    } else {
        Hit::of(
            Cause::UnboundNamedClaims,
            facts,
            &[("claims", &names.join(", "))],
        )
    }
    .evidence_lines(unbound.iter().map(|(_, line)| line.clone()));
    for (claim_ref, _) in &unbound {
        hit.scope.push(claim_ref.clone());
        hit = hit.with_step(
            &WHY_CLAIM_UNBOUND,
            facts,
            &[
                ("claim", &claim_ref.name),
                ("claim_ns_flag", &claim_ref.ns_flag()),
            ],
        );
    }
    vec![hit]
}
