//! The classes an object uses when it names none: the cluster's default
//! IngressClass and StorageClass.

use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::store::Store;

/// The IngressClass an Ingress uses: `spec.ingressClassName`, else the legacy
/// annotation, else the cluster's default class.
pub fn ingress_class_name(store: &Store, ingress: &Ingress) -> Option<String> {
    if let Some(class) = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.clone())
    {
        return Some(class);
    }
    if let Some(class) = ingress
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubernetes.io/ingress.class"))
    {
        return Some(class.clone());
    }
    store
        .all::<IngressClass>()
        .find(|class| {
            class
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("ingressclass.kubernetes.io/is-default-class"))
                .is_some_and(|v| v == "true")
        })
        .and_then(|class| class.metadata.name.clone())
}

/// The default StorageClass, if exactly one is marked default (the newest wins when several are).
pub fn default_storage_class(store: &Store) -> Option<String> {
    store
        .all::<StorageClass>()
        .filter(|class| is_default_class(&class.metadata))
        .max_by_key(|class| class.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .and_then(|class| class.metadata.name.clone())
}

/// Whether a StorageClass is marked as the default (current or beta annotation).
pub fn is_default_class(meta: &ObjectMeta) -> bool {
    meta.annotations.as_ref().is_some_and(|a| {
        a.get("storageclass.kubernetes.io/is-default-class")
            .or_else(|| a.get("storageclass.beta.kubernetes.io/is-default-class"))
            .is_some_and(|v| v == "true")
    })
}
