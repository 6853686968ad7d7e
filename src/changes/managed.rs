//! The change journal of a snapshot, from `managedFields` (present in
//! `kubectl get -o yaml --show-managed-fields` and in API responses): each field
//! manager's entry says when it last wrote the fields it owns. An entry written
//! after the object's creation that owns a tracked field (a Service's selector, a
//! ConfigMap's key, a Node's taints, ...) is a change of that field at that time:
//! its value before is unknown, its value now is the object's.
//!
//! Status fields are left out: the kubelet and the controllers rewrite them on
//! every heartbeat, so their write time says nothing about a change.

use jiff::Timestamp;
use serde_json::Value;

use super::facets;
use super::journal::{Entry, Happening, Journal, Source};
use super::template::FieldDiff;
use crate::store::{Object, object_ref};

/// A write this close to the creation is the creation.
const CREATION_SLACK_SECS: i64 = 2;

/// Records in `journal` the changes the `managedFields` of `object` show
/// (`managed` is the object's `metadata.managedFields` as read).
pub fn record(journal: &mut Journal, object: &Object, managed: &Value) {
    let Some(entries) = managed.as_array() else {
        return;
    };
    let Some(now_facets) = facets::of(object) else {
        return;
    };
    let created = object
        .meta()
        .and_then(|meta| meta.creation_timestamp.as_ref())
        .map(|time| time.0);
    for entry in entries {
        let Some(time) = entry
            .get("time")
            .and_then(Value::as_str)
            .and_then(|time| time.parse::<Timestamp>().ok())
        else {
            continue;
        };
        if created.is_some_and(|created| {
            crate::k8s::duration::seconds(created, time) <= CREATION_SLACK_SECS
        }) {
            continue;
        }
        if entry.get("subresource").and_then(Value::as_str) == Some("status") {
            continue;
        }
        let Some(owned) = entry.get("fieldsV1") else {
            continue;
        };
        let fields: Vec<FieldDiff> = now_facets
            .iter()
            .filter(|(path, _)| !path.starts_with("status."))
            .filter(|(path, _)| covers(owned, path))
            .map(|(path, value)| FieldDiff {
                path: path.clone(),
                from: None,
                to: Some(value.clone()),
            })
            .collect();
        if fields.is_empty() {
            continue;
        }
        let mut change = Entry::new(
            time,
            object_ref(object),
            Happening::Changed,
            fields,
            Source::ManagedFields,
        );
        change.manager = entry
            .get("manager")
            .and_then(Value::as_str)
            .map(str::to_owned);
        journal.record(change);
    }
}

/// Whether a `fieldsV1` set owns the field a facet path names: `spec.selector` is
/// `f:spec` / `f:selector`, `data[KEY]` is `f:data` / `f:KEY`, `spec.ports[http]`
/// any of `f:spec` / `f:ports`, `metadata.annotations[KEY]` that annotation.
fn covers(owned: &Value, path: &str) -> bool {
    let (dotted, key) = match path.split_once('[') {
        Some((head, rest)) => (head, rest.strip_suffix(']')),
        None => (path, None),
    };
    let mut node = owned;
    for segment in dotted.split('.') {
        match node.get(format!("f:{segment}")) {
            Some(next) => node = next,
            None => return false,
        }
    }
    match key {
        // a keyed map (data, annotations, quota resources): that key
        Some(key)
            if matches!(dotted, "data" | "binaryData" | "metadata.annotations")
                || dotted == "spec.hard" =>
        {
            node.get(format!("f:{key}")).is_some()
        }
        // a list (ports, conditions): any item
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, ObjRef};
    use crate::store::Store;

    fn service(managed: Value) -> (Store, Value) {
        let mut store = Store::new();
        let value = serde_json::json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop",
                         "creationTimestamp": "2026-03-12T10:00:00Z"},
            "spec": {"selector": {"app": "webapp"}, "ports": [{"port": 80, "targetPort": 8080}]}
        });
        store.insert_value(value).unwrap();
        (store, managed)
    }

    #[test]
    fn a_later_write_of_the_selector_is_a_change() {
        let (store, managed) = service(serde_json::json!([
            {"manager": "kubectl-client-side-apply", "operation": "Update",
             "time": "2026-03-12T10:00:00Z",
             "fieldsV1": {"f:spec": {"f:selector": {}, "f:ports": {}}}},
            {"manager": "kubectl-edit", "operation": "Update",
             "time": "2026-03-12T14:02:00Z",
             "fieldsV1": {"f:spec": {"f:selector": {"f:app": {}}}}}
        ]));
        let object = store
            .object(&ObjRef::namespaced(Kind::Service, "shop", "web"))
            .unwrap()
            .clone();
        let mut journal = Journal::default();
        record(&mut journal, &object, &managed);
        let entries: Vec<&Entry> = journal.of_namespace("shop").collect();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].time.to_string(), "2026-03-12T14:02:00Z");
        assert_eq!(entries[0].manager.as_deref(), Some("kubectl-edit"));
        assert_eq!(entries[0].fields.len(), 1);
        assert_eq!(entries[0].fields[0].path, "spec.selector");
        assert_eq!(entries[0].fields[0].to.as_deref(), Some("app=webapp"));
    }

    #[test]
    fn status_writes_and_untracked_fields_are_not_changes() {
        let (store, managed) = service(serde_json::json!([
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
             "time": "2026-03-12T14:00:00Z", "fieldsV1": {"f:status": {}}},
            {"manager": "someone", "operation": "Update", "time": "2026-03-12T14:00:00Z",
             "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}}},
            {"manager": "broken", "time": "not a time", "fieldsV1": {"f:spec": {"f:selector": {}}}},
            "not an object"
        ]));
        let object = store
            .object(&ObjRef::namespaced(Kind::Service, "shop", "web"))
            .unwrap()
            .clone();
        let mut journal = Journal::default();
        record(&mut journal, &object, &managed);
        assert!(journal.is_empty());
    }
}
