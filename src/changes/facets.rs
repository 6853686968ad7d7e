//! The fields of an object whose change the journal records, flattened to
//! `path → value`: a Service's selector and ports, a NetworkPolicy's rules, a
//! ConfigMap's keys (by a hash of each value, never the value), a Node's taints and
//! conditions, an HPA's bounds and targets, a PVC's size, class and phase, a
//! StorageClass' default mark, quotas and limits, a workload's replicas. Two
//! objects' facets compared give the journal's field changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::journal::{Entry, Happening, Journal, Source};
use super::template::FieldDiff;
use crate::model::ObjRef;
use crate::store::{Object, Store, object_ref};

/// `path → value` of the tracked fields of one object.
pub type Facets = BTreeMap<String, String>;

/// The annotation that marks the default StorageClass.
const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// `sha256:` and the first 12 hex digits of the SHA-256 of a value: enough to see
/// that a value changed, too short to hold it.
pub fn value_hash(value: &[u8]) -> String {
    let digest = Sha256::digest(value);
    let hex: String = digest
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The tracked fields of an object; `None` for kinds the journal does not follow.
pub fn of(object: &Object) -> Option<Facets> {
    let mut facets = Facets::new();
    let mut put = |path: String, value: String| {
        facets.insert(path, value);
    };
    match object {
        Object::Service(service) => {
            let spec = service.spec.as_ref()?;
            if let Some(selector) = &spec.selector {
                let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
                put("spec.selector".into(), pairs.join(","));
            }
            for (index, port) in spec.ports.iter().flatten().enumerate() {
                let name = port.name.clone().unwrap_or_else(|| index.to_string());
                let target = port
                    .target_port
                    .as_ref()
                    .map(|target| match target {
                        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => {
                            n.to_string()
                        }
                        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => {
                            s.clone()
                        }
                    })
                    .unwrap_or_else(|| port.port.to_string());
                put(
                    format!("spec.ports[{name}]"),
                    format!(
                        "{}/{} targetPort {target}",
                        port.port,
                        port.protocol.as_deref().unwrap_or("TCP")
                    ),
                );
            }
            if let Some(kind) = &spec.type_ {
                put("spec.type".into(), kind.clone());
            }
        }
        Object::NetworkPolicy(policy) => {
            let spec = policy.spec.as_ref()?;
            put("spec.podSelector".into(), json(&spec.pod_selector));
            if let Some(types) = &spec.policy_types {
                put("spec.policyTypes".into(), types.join(","));
            }
            if let Some(ingress) = &spec.ingress {
                put("spec.ingress".into(), json(ingress));
            }
            if let Some(egress) = &spec.egress {
                put("spec.egress".into(), json(egress));
            }
        }
        Object::ConfigMap(config) => {
            for (key, value) in config.data.iter().flatten() {
                put(format!("data[{key}]"), value_hash(value.as_bytes()));
            }
            for (key, value) in config.binary_data.iter().flatten() {
                put(format!("binaryData[{key}]"), value_hash(&value.0));
            }
        }
        Object::Secret(secret) => secret_facets(secret, &mut put),
        Object::Node(node) => {
            let spec = node.spec.as_ref();
            let taints: Vec<String> = spec
                .and_then(|spec| spec.taints.as_ref())
                .into_iter()
                .flatten()
                .map(|taint| {
                    format!(
                        "{}{}:{}",
                        taint.key,
                        taint
                            .value
                            .as_ref()
                            .map(|value| format!("={value}"))
                            .unwrap_or_default(),
                        taint.effect
                    )
                })
                .collect();
            if !taints.is_empty() {
                put("spec.taints".into(), taints.join(","));
            }
            if spec.and_then(|spec| spec.unschedulable) == Some(true) {
                put("spec.unschedulable".into(), "true".into());
            }
            let conditions = node.status.as_ref().and_then(|s| s.conditions.as_ref());
            for condition in conditions.into_iter().flatten() {
                put(
                    format!("status.conditions[{}]", condition.type_),
                    condition.status.clone(),
                );
            }
        }
        Object::HorizontalPodAutoscaler(hpa) => {
            let spec = &hpa.spec;
            if let Some(min) = spec.min_replicas {
                put("spec.minReplicas".into(), min.to_string());
            }
            put("spec.maxReplicas".into(), spec.max_replicas.to_string());
            if let Some(metrics) = &spec.metrics {
                put("spec.metrics".into(), json(metrics));
            }
        }
        Object::PersistentVolumeClaim(claim) => {
            let spec = claim.spec.as_ref();
            if let Some(size) = spec
                .and_then(|spec| spec.resources.as_ref())
                .and_then(|resources| resources.requests.as_ref())
                .and_then(|requests| requests.get("storage"))
            {
                put("spec.resources.requests.storage".into(), size.0.clone());
            }
            if let Some(class) = spec.and_then(|spec| spec.storage_class_name.as_ref()) {
                put("spec.storageClassName".into(), class.clone());
            }
            if let Some(phase) = claim.status.as_ref().and_then(|s| s.phase.as_ref()) {
                put("status.phase".into(), phase.clone());
            }
        }
        Object::StorageClass(class) => {
            if let Some(default) = class
                .metadata
                .annotations
                .as_ref()
                .and_then(|annotations| annotations.get(DEFAULT_CLASS))
            {
                put(
                    format!("metadata.annotations[{DEFAULT_CLASS}]"),
                    default.clone(),
                );
            }
            put("provisioner".into(), class.provisioner.clone());
        }
        Object::ResourceQuota(quota) => {
            let hard = quota.spec.as_ref().and_then(|spec| spec.hard.as_ref());
            for (resource, quantity) in hard.into_iter().flatten() {
                put(format!("spec.hard[{resource}]"), quantity.0.clone());
            }
        }
        Object::LimitRange(range) => {
            put(
                "spec.limits".into(),
                json(&range.spec.as_ref().map(|spec| &spec.limits)),
            );
        }
        Object::Deployment(deployment) => {
            let replicas = deployment.spec.replicas;
            put("spec.replicas".into(), replicas.unwrap_or(1).to_string());
        }
        Object::StatefulSet(set) => {
            let replicas = set.spec.replicas;
            put("spec.replicas".into(), replicas.unwrap_or(1).to_string());
        }
        _ => return None,
    }
    Some(facets)
}

/// A Secret is read as metadata only: its keys and values are unknown, but an update
/// of its data moves its resourceVersion.
fn secret_facets(secret: &Secret, put: &mut impl FnMut(String, String)) {
    if let Some(version) = &secret.metadata.resource_version {
        put(
            "data".into(),
            format!("(not read; resourceVersion {version})"),
        );
    }
}

/// The fields that differ between two facet maps, in path order.
pub fn diff(old: &Facets, new: &Facets) -> Vec<FieldDiff> {
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (from, to) = (old.get(path), new.get(path));
            (from != to).then(|| FieldDiff {
                path: path.clone(),
                from: from.cloned(),
                to: to.cloned(),
            })
        })
        .collect()
}

/// Records in `journal` what an update of an object (`old` → `new`) changed, or its
/// creation (`old` is `None`), seen at `now`.
pub fn observe(journal: &mut Journal, old: Option<&Object>, new: &Object, now: jiff::Timestamp) {
    let Some(after) = of(new) else {
        return;
    };
    let object = object_ref(new);
    match old.and_then(of) {
        Some(before) => {
            let fields = diff(&before, &after);
            if !fields.is_empty() {
                journal.record(Entry::new(
                    now,
                    object,
                    Happening::Changed,
                    fields,
                    Source::Observed,
                ));
            }
        }
        None => journal.record(Entry::new(
            now,
            object,
            Happening::Created,
            Vec::new(),
            Source::Observed,
        )),
    }
}

/// Stores an object as a watch update delivers it, seen at `now`: the change journal
/// records what it changed of the tracked fields (or its creation).
pub fn apply_observed(store: &mut Store, object: Object, now: jiff::Timestamp) {
    let old = store.object(&object_ref(&object)).cloned();
    observe(store.journal_mut(), old.as_ref(), &object, now);
    store.apply(object);
}

/// Deletes an object as a watch delivers its deletion, seen at `now`: the change
/// journal records it. Returns the deleted object.
pub fn delete_observed(store: &mut Store, object: &ObjRef, now: jiff::Timestamp) -> Option<Object> {
    let old = store.delete(object)?;
    observe_deletion(store.journal_mut(), &old, now);
    Some(old)
}

/// Records in `journal` the deletion of an object, seen at `now`.
pub fn observe_deletion(journal: &mut Journal, old: &Object, now: jiff::Timestamp) {
    if of(old).is_some() {
        journal.record(Entry::new(
            now,
            object_ref(old),
            Happening::Deleted,
            Vec::new(),
            Source::Observed,
        ));
    }
}
