//! The `storage` rule set (docs/rules.md): PVC → PV → StorageClass, and the volumes of Pods.
//!
//! - [`claims`] — StorageClassNotFound, NoDefaultStorageClass, ProvisioningFailed,
//!   PVCPending, PVCLost, PVReleasedOrFailed, MultipleDefaultStorageClasses;
//! - [`volumes`] — VolumeMultiAttach, VolumeMountFailed, ReadWriteOnceShared.
//!
//! Scopes: a finding about a claim holds the claim, its StorageClass node (even a
//! missing one) and the Pods that mount the claim, so that Pod and workload symptoms
//! (Pending Pods, unavailable replicas) are explained by it.
//!
//! Remediation follows the seed's rule for storage: evidence first, never delete a
//! claim or volume without checking its reclaim policy and backups; deleting is always
//! the last step and is marked Destructive.

pub(crate) mod claims;
pub(crate) mod volumes;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{
    NodeSelectorRequirement, PersistentVolume, PersistentVolumeClaim, Pod,
};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    claims::evaluate(ctx, out);
    volumes::evaluate(ctx, out);
}

/// A claim of the graph with what it relates to.
pub(crate) struct Claim<'a> {
    pub r: ObjRef,
    pub pvc: &'a Arc<PersistentVolumeClaim>,
    /// The class as written (`spec.storageClassName`, or the legacy beta annotation):
    /// `None` = unset, `Some("")` = explicitly no class.
    pub written_class: Option<String>,
    /// The class the claim uses: the written one, else the default class.
    pub class_ref: Option<ObjRef>,
    pub class: Option<&'a Arc<StorageClass>>,
    /// Pods mounting the claim.
    pub pods: Vec<(ObjRef, &'a Arc<Pod>)>,
}

impl<'a> Claim<'a> {
    pub(crate) fn new(
        ctx: &RuleContext<'a>,
        r: &ObjRef,
        pvc: &'a Arc<PersistentVolumeClaim>,
    ) -> Claim<'a> {
        let ns = r.ns();
        let written_class = pvc
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
            .cloned()
            .or_else(|| pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()));
        let effective = match &written_class {
            Some(c) if c.is_empty() => None,
            Some(c) => Some(c.clone()),
            None => crate::k8s::classes::default_storage_class(ctx.store),
        };
        let class_ref = effective.map(|c| ObjRef::cluster(Kind::StorageClass, &c));
        let class = class_ref
            .as_ref()
            .and_then(|c| ctx.store.get_ref::<StorageClass>(c));
        let names: Vec<String> = ctx
            .store
            .pods_using_claim(ns, &r.name)
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        let store = ctx.store;
        let mut pods: Vec<(ObjRef, &'a Arc<Pod>)> = names
            .iter()
            .filter_map(|n| {
                store
                    .get::<Pod>(ns, n)
                    .map(|p| (ObjRef::namespaced(Kind::Pod, ns, n), p))
            })
            .collect();
        pods.sort_by(|a, b| a.0.cmp(&b.0));
        Claim {
            r: r.clone(),
            pvc,
            written_class,
            class_ref,
            class,
            pods,
        }
    }

    pub(crate) fn phase(&self) -> &str {
        self.pvc
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("Pending")
    }

    pub(crate) fn volume_name(&self) -> Option<&str> {
        self.pvc
            .spec
            .as_ref()
            .and_then(|s| s.volume_name.as_deref())
            .filter(|s| !s.is_empty())
    }

    pub(crate) fn access_modes(&self) -> Vec<String> {
        self.pvc
            .spec
            .as_ref()
            .and_then(|s| s.access_modes.clone())
            .unwrap_or_default()
    }

    /// A draft about the claim, scoped to the claim, its class node and its Pods.
    pub(crate) fn draft(&self, rule: RuleId) -> Draft {
        let mut d = Draft::new(rule, self.r.clone());
        if let Some(c) = &self.class_ref {
            d = d.scope(c.clone());
        }
        if let Some(pv) = self.volume_name() {
            d = d.scope(ObjRef::cluster(Kind::PersistentVolume, pv));
        }
        for (p, _) in &self.pods {
            d = d.scope(p.clone());
        }
        d
    }

    /// `kubectl describe pvc NAME -n NS`
    pub(crate) fn describe_cmd(&self) -> String {
        format!("kubectl describe pvc {} -n {}", self.r.name, self.r.ns())
    }
}

/// The required node affinity of a PersistentVolume, one line per term
/// (`topology.kubernetes.io/zone in [eu-west-1a]`). Empty when the volume may be used anywhere.
pub(crate) fn pv_node_affinity(pv: &PersistentVolume) -> Vec<String> {
    pv.spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .map(|ns| {
            ns.node_selector_terms
                .iter()
                .map(|t| {
                    t.match_expressions
                        .iter()
                        .flatten()
                        .map(requirement_text)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn requirement_text(r: &NodeSelectorRequirement) -> String {
    let vals = r.values.clone().unwrap_or_default().join(",");
    match r.operator.as_str() {
        "In" => format!("{} in [{vals}]", r.key),
        "NotIn" => format!("{} notin [{vals}]", r.key),
        "Exists" => format!("{} exists", r.key),
        "DoesNotExist" => format!("{} does not exist", r.key),
        "Gt" => format!("{} > {vals}", r.key),
        "Lt" => format!("{} < {vals}", r.key),
        op => format!("{} {op} [{vals}]", r.key),
    }
}
