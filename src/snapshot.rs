//! Snapshot input (docs/reference.md, "Snapshots"): exactly what `kubectl get ... -o yaml|json` writes.
//!
//! Files or directories (recursively: `*.yaml`, `*.yml`, `*.json`), YAML with one or
//! many documents, or JSON; `List`s (or any `*List`) with `items`, or single objects.
//! A document that cannot be parsed is an error naming the file and the document's
//! position; nothing is silently skipped. Kinds the engine does not use are ignored.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::model::ObjRef;
use crate::store::{Store, StoreError};

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: document {doc}{line}: {message}")]
    Parse {
        path: String,
        /// 1-based position of the document in the file.
        doc: usize,
        /// ` (line N)` where the parser knows it.
        line: String,
        message: String,
    },
    #[error("{path}: document {doc}{item}: {source}")]
    Object {
        path: String,
        doc: usize,
        /// `, item N` for an item of a List.
        item: String,
        #[source]
        source: StoreError,
    },
    #[error("{path}: no *.yaml, *.yml or *.json file found")]
    Empty { path: String },
}

/// What a load read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadStats {
    pub files: usize,
    pub documents: usize,
    /// Objects stored (of kinds the engine uses).
    pub objects: usize,
    /// Objects of kinds the engine does not use.
    pub ignored: usize,
    pub bytes: u64,
}

/// Loads every path (file or directory) into the store.
pub fn load_paths(paths: &[PathBuf], store: &mut Store) -> Result<LoadStats, SnapshotError> {
    let mut stats = LoadStats::default();
    for input in paths {
        let files = collect_files(input)?;
        if files.is_empty() {
            return Err(SnapshotError::Empty {
                path: input.display().to_string(),
            });
        }
        for file in files {
            let text = std::fs::read(&file).map_err(|source| SnapshotError::Io {
                path: file.display().to_string(),
                source,
            })?;
            stats.bytes += text.len() as u64;
            let text = String::from_utf8_lossy(&text);
            let file_stats = load_str(&text, &file.display().to_string(), store)?;
            stats.files += 1;
            stats.documents += file_stats.documents;
            stats.objects += file_stats.objects;
            stats.ignored += file_stats.ignored;
        }
    }
    Ok(stats)
}

/// Files of a path: the file itself, or the snapshot files under a directory, sorted.
fn collect_files(root: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let meta = std::fs::metadata(root).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            SnapshotError::NotFound {
                path: root.display().to_string(),
            }
        } else {
            SnapshotError::Io {
                path: root.display().to_string(),
                source,
            }
        }
    })?;
    if meta.is_file() {
        return Ok(vec![root.to_owned()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|source| SnapshotError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        for entry in rd {
            let entry = entry.map_err(|source| SnapshotError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|source| SnapshotError::Io {
                path: path.display().to_string(),
                source,
            })?;
            if ft.is_dir() {
                stack.push(path);
            } else if is_snapshot_file(&path) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_snapshot_file(path: &Path) -> bool {
    matches!(
        path.extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("yaml" | "yml" | "json")
    )
}

/// Loads one file's text (YAML documents or JSON). `origin` names it in errors.
pub fn load_str(text: &str, origin: &str, store: &mut Store) -> Result<LoadStats, SnapshotError> {
    let mut stats = LoadStats::default();
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // JSON: one value, or a stream of values (`kubectl get -o json` of several kinds)
        let mut de = serde_json::Deserializer::from_str(trimmed).into_iter::<Value>();
        let mut doc = 0;
        loop {
            doc += 1;
            match de.next() {
                None => break,
                Some(Ok(value)) => {
                    stats.documents += 1;
                    add_document(value, origin, doc, store, &mut stats)?;
                }
                Some(Err(error)) => {
                    return Err(SnapshotError::Parse {
                        path: origin.to_owned(),
                        doc,
                        line: format!(" (line {}, column {})", error.line(), error.column()),
                        message: error.to_string(),
                    });
                }
            }
        }
        return Ok(stats);
    }
    for (index, document) in serde_norway::Deserializer::from_str(text).enumerate() {
        let doc = index + 1;
        let value = match Value::deserialize(document) {
            Ok(value) => value,
            Err(error) => {
                let line = error
                    .location()
                    .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
                    .unwrap_or_default();
                return Err(SnapshotError::Parse {
                    path: origin.to_owned(),
                    doc,
                    line,
                    message: error.to_string(),
                });
            }
        };
        if value.is_null() {
            continue; // an empty document (`---` at the end)
        }
        stats.documents += 1;
        add_document(value, origin, doc, store, &mut stats)?;
    }
    Ok(stats)
}

fn add_document(
    value: Value,
    origin: &str,
    doc: usize,
    store: &mut Store,
    stats: &mut LoadStats,
) -> Result<(), SnapshotError> {
    let Value::Object(mut map) = value else {
        return Err(SnapshotError::Parse {
            path: origin.to_owned(),
            doc,
            line: String::new(),
            message: "expected a Kubernetes object or List (a mapping)".to_owned(),
        });
    };
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let is_list = kind == "List" || (kind.ends_with("List") && map.contains_key("items"));
    if !is_list {
        let obj_err = |source| SnapshotError::Object {
            path: origin.to_owned(),
            doc,
            item: String::new(),
            source,
        };
        let managed = managed_fields(&map);
        return match store.insert_value(Value::Object(map)).map_err(obj_err)? {
            Some(stored) => {
                journal_managed(store, &stored, managed);
                stats.objects += 1;
                Ok(())
            }
            None => {
                stats.ignored += 1;
                Ok(())
            }
        };
    }
    // Items of a typed list (`PodList`) may lack kind/apiVersion: take them from the list.
    let item_kind = kind
        .strip_suffix("List")
        .filter(|k| !k.is_empty())
        .map(str::to_owned);
    let list_api = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let items = match map.remove("items") {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => {
            return Err(SnapshotError::Parse {
                path: origin.to_owned(),
                doc,
                line: String::new(),
                message: format!("{kind}.items is not a list"),
            });
        }
    };
    for (index, mut item) in items.into_iter().enumerate() {
        if let Value::Object(fields) = &mut item {
            if !fields.contains_key("kind")
                && let Some(item_kind) = &item_kind
            {
                fields.insert("kind".into(), Value::String(item_kind.clone()));
            }
            if !fields.contains_key("apiVersion")
                && let Some(api_version) = &list_api
            {
                fields.insert("apiVersion".into(), Value::String(api_version.clone()));
            }
        } else {
            return Err(SnapshotError::Parse {
                path: origin.to_owned(),
                doc,
                line: String::new(),
                message: format!("item {} of the {kind} is not an object", index + 1),
            });
        }
        let managed = item.as_object().and_then(managed_fields);
        match store
            .insert_value(item)
            .map_err(|source| SnapshotError::Object {
                path: origin.to_owned(),
                doc,
                item: format!(", item {}", index + 1),
                source,
            })? {
            Some(stored) => {
                journal_managed(store, &stored, managed);
                stats.objects += 1
            }
            None => stats.ignored += 1,
        }
    }
    Ok(())
}

/// An object's `metadata.managedFields`, when it has some.
fn managed_fields(object: &serde_json::Map<String, Value>) -> Option<Value> {
    object
        .get("metadata")
        .and_then(|metadata| metadata.get("managedFields"))
        .filter(|managed| managed.is_array())
        .cloned()
}

/// Records in the store's change journal what the `managedFields` of a stored
/// object show (the store itself drops them).
fn journal_managed(store: &mut Store, stored: &ObjRef, managed: Option<Value>) {
    let Some(managed) = managed else {
        return;
    };
    if let Some(object) = store.object(stored).cloned() {
        crate::changes::managed::record(store.journal_mut(), &object, &managed);
    }
}

/// Builds a store from YAML or JSON text (tests and examples).
pub fn store_from_str(text: &str) -> Result<Store, SnapshotError> {
    let mut store = Store::new();
    load_str(text, "<input>", &mut store)?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, ObjRef};
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn multi_document_yaml_and_lists() {
        let yaml = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: a, namespace: shop}
  spec: {containers: [{name: app, image: nginx}]}
- apiVersion: example.com/v1
  kind: Widget
  metadata: {name: w}
---
apiVersion: v1
kind: PodList
items:
- metadata: {name: b, namespace: shop}
  spec: {containers: [{name: app, image: nginx}]}
---
"#;
        let mut store = Store::new();
        let st = load_str(yaml, "snap.yaml", &mut store).unwrap();
        assert_eq!(st.documents, 2);
        assert_eq!(st.objects, 2);
        assert_eq!(st.ignored, 1);
        assert!(store.get::<Pod>("shop", "b").is_some());
        assert!(store.contains(&ObjRef::namespaced(Kind::Pod, "shop", "a")));
    }

    #[test]
    fn json_stream() {
        let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"x"},"spec":{"containers":[]}}
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#;
        let store = store_from_str(json).unwrap();
        assert_eq!(store.total(), 2);
    }

    #[test]
    fn malformed_document_names_file_and_position() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n";
        let err = load_str(yaml, "bad.yaml", &mut Store::new()).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("bad.yaml: document 2"), "{msg}");
        let json = "{\"kind\": \"Pod\", ";
        let msg = load_str(json, "bad.json", &mut Store::new())
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("bad.json: document 1 (line 1"), "{msg}");
    }

    #[test]
    fn invalid_object_is_an_error_not_a_skip() {
        let yaml = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n  spec: {containers: 7}\n";
        let msg = load_str(yaml, "pods.yaml", &mut Store::new())
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("pods.yaml: document 1, item 1: Pod a:"),
            "{msg}"
        );
    }
}
