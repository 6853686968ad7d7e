//! Field-level differences between two Pod templates: what a new workload revision
//! changed.
//!
//! Compared: per container (matched by name, init containers too) the image,
//! command, args, env, envFrom, volumeMounts, resources, probes, ports and
//! securityContext; of the Pod, volumes, serviceAccountName, imagePullSecrets,
//! nodeSelector, affinity, tolerations and topologySpreadConstraints. Lists whose
//! items have a `name` are matched by name (`env[DATABASE_URL]`), others by
//! position (`envFrom[0]`). Paths read like the object: `spec.containers[app].image`.

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use serde_json::Value;

/// The container fields a revision diff compares, as the API names them.
const CONTAINER_FIELDS: &[&str] = &[
    "image",
    "command",
    "args",
    "env",
    "envFrom",
    "volumeMounts",
    "resources",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "ports",
    "securityContext",
];

/// The Pod fields a revision diff compares, as the API names them.
const POD_FIELDS: &[&str] = &[
    "volumes",
    "serviceAccountName",
    "imagePullSecrets",
    "nodeSelector",
    "affinity",
    "tolerations",
    "topologySpreadConstraints",
];

/// Longest rendering of one value in a diff entry: a whole probe or volume added
/// stays readable, and a status stays within its budget.
const MAX_VALUE: usize = 200;

/// One changed field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDiff {
    /// Where, e.g. `spec.containers[storefront].envFrom[0].configMapRef.name`.
    pub path: String,
    /// The value before (`None`: the field was not set).
    pub from: Option<String>,
    /// The value after (`None`: the field was removed).
    pub to: Option<String>,
}

/// The fields that differ from `old` to `new`, in template order.
pub fn diff(old: &PodTemplateSpec, new: &PodTemplateSpec) -> Vec<FieldDiff> {
    let empty = PodSpec::default();
    let old_spec = old.spec.as_ref().unwrap_or(&empty);
    let new_spec = new.spec.as_ref().unwrap_or(&empty);
    let mut out = Vec::new();
    for (list, old_containers, new_containers) in [
        (
            "initContainers",
            old_spec.init_containers.as_deref().unwrap_or_default(),
            new_spec.init_containers.as_deref().unwrap_or_default(),
        ),
        (
            "containers",
            old_spec.containers.as_slice(),
            new_spec.containers.as_slice(),
        ),
    ] {
        diff_containers(list, old_containers, new_containers, &mut out);
    }
    let old_pod = fields_of(old_spec, POD_FIELDS);
    let new_pod = fields_of(new_spec, POD_FIELDS);
    for field in POD_FIELDS {
        diff_value(
            &format!("spec.{field}"),
            old_pod.get(*field),
            new_pod.get(*field),
            &mut out,
        );
    }
    out
}

fn diff_containers(list: &str, old: &[Container], new: &[Container], out: &mut Vec<FieldDiff>) {
    for container in new {
        let path = format!("spec.{list}[{}]", container.name);
        match old.iter().find(|before| before.name == container.name) {
            Some(before) => {
                let old_fields = fields_of(before, CONTAINER_FIELDS);
                let new_fields = fields_of(container, CONTAINER_FIELDS);
                for field in CONTAINER_FIELDS {
                    diff_value(
                        &format!("{path}.{field}"),
                        old_fields.get(*field),
                        new_fields.get(*field),
                        out,
                    );
                }
            }
            None => out.push(FieldDiff {
                path,
                from: None,
                to: Some(format!("container added (image {})", image_of(container))),
            }),
        }
    }
    for before in old {
        if !new.iter().any(|container| container.name == before.name) {
            out.push(FieldDiff {
                path: format!("spec.{list}[{}]", before.name),
                from: Some(format!("container (image {})", image_of(before))),
                to: None,
            });
        }
    }
}

fn image_of(container: &Container) -> &str {
    container.image.as_deref().unwrap_or("none")
}

/// The named fields of an object as JSON (absent ones left out).
fn fields_of(object: &impl serde::Serialize, fields: &[&str]) -> serde_json::Map<String, Value> {
    let Ok(Value::Object(all)) = serde_json::to_value(object) else {
        return serde_json::Map::new();
    };
    all.into_iter()
        .filter(|(key, value)| fields.contains(&key.as_str()) && !is_empty(value))
        .collect()
}

/// Unset and empty are the same to the API server's defaults.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::String(text) => text.is_empty(),
        _ => false,
    }
}

fn diff_value(path: &str, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<FieldDiff>) {
    let old = old.filter(|value| !is_empty(value));
    let new = new.filter(|value| !is_empty(value));
    match (old, new) {
        (None, None) => {}
        (Some(Value::Object(before)), Some(Value::Object(after))) => {
            let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                diff_value(
                    &format!("{path}.{key}"),
                    before.get(key),
                    after.get(key),
                    out,
                );
            }
        }
        (Some(Value::Array(before)), Some(Value::Array(after))) => {
            diff_list(path, before, after, out)
        }
        (before, after) if before != after => out.push(FieldDiff {
            path: path.to_owned(),
            from: before.map(render),
            to: after.map(render),
        }),
        _ => {}
    }
}

/// Lists of named items (env, volumes, ports...) by name; others by position.
fn diff_list(path: &str, before: &[Value], after: &[Value], out: &mut Vec<FieldDiff>) {
    let name_of = |item: &Value| item.get("name").and_then(Value::as_str).map(str::to_owned);
    let named = before
        .iter()
        .chain(after)
        .all(|item| name_of(item).is_some());
    if !named {
        if before.iter().chain(after).all(|item| !item.is_object()) {
            // a list of scalars (command, args): one change of the whole list
            if before != after {
                out.push(FieldDiff {
                    path: path.to_owned(),
                    from: Some(render(&Value::Array(before.to_vec()))),
                    to: Some(render(&Value::Array(after.to_vec()))),
                });
            }
            return;
        }
        for index in 0..before.len().max(after.len()) {
            diff_value(
                &format!("{path}[{index}]"),
                before.get(index),
                after.get(index),
                out,
            );
        }
        return;
    }
    for item in after {
        let name = name_of(item).unwrap_or_default();
        let previous = before
            .iter()
            .find(|old| name_of(old).as_deref() == Some(&name));
        diff_value(&format!("{path}[{name}]"), previous, Some(item), out);
    }
    for item in before {
        let name = name_of(item).unwrap_or_default();
        if !after
            .iter()
            .any(|new| name_of(new).as_deref() == Some(&name))
        {
            diff_value(&format!("{path}[{name}]"), Some(item), None, out);
        }
    }
}

/// A value as a diff shows it: strings bare, the rest as compact JSON, bounded.
fn render(value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    crate::text::clip(&text, MAX_VALUE)
}

/// What a change did, as a verb and its object: (`replaced`, `envFrom configMapRef
/// storefront-settings with storefront-config`), (`replaced`, `the image 1.8.2 with
/// 1.9.0`), (`added`, `env DEBUG ...`), (`removed`, ...).
pub fn describe_parts(change: &FieldDiff) -> (&'static str, String) {
    let field = field_words(&change.path);
    match (&change.from, &change.to) {
        (Some(from), Some(to)) if change.path.ends_with(".image") => {
            let (from, to) = shorten_images(from, to);
            ("replaced", format!("the image {from} with {to}"))
        }
        (Some(from), Some(to)) => ("replaced", format!("{field} {from} with {to}")),
        (None, Some(to)) => ("added", format!("{field} {to}")),
        (Some(from), None) => ("removed", format!("{field} {from}")),
        (None, None) => ("changed", field),
    }
}

/// What a change did, in words: `replaced the image 1.8.2 with 1.9.0`.
pub fn describe(change: &FieldDiff) -> String {
    let (verb, object) = describe_parts(change);
    format!("{verb} {object}")
}

/// Several changes in one phrase, a verb said once for a run of the same verb:
/// `replaced A with B and the image 1 with 2, added C`.
pub fn describe_all(changes: &[&FieldDiff]) -> String {
    let mut out = String::new();
    let mut previous_verb = "";
    for (index, change) in changes.iter().enumerate() {
        let (verb, object) = describe_parts(change);
        if index > 0 {
            out.push_str(if index + 1 == changes.len() {
                " and "
            } else {
                ", "
            });
        }
        if verb != previous_verb {
            out.push_str(verb);
            out.push(' ');
        }
        out.push_str(&object);
        previous_verb = verb;
    }
    out
}

/// `spec.containers[app].envFrom[0].configMapRef.name` → `envFrom configMapRef`.
fn field_words(path: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for segment in path.split('.').skip(1) {
        let bare = segment.split('[').next().unwrap_or(segment);
        if matches!(bare, "containers" | "initContainers" | "name") {
            continue;
        }
        words.push(bare.to_owned());
    }
    if words.is_empty() {
        path.to_owned()
    } else {
        words.join(" ")
    }
}

/// Two references of the same repository shown by their tags alone.
fn shorten_images<'a>(from: &'a str, to: &'a str) -> (&'a str, &'a str) {
    match (from.rsplit_once(':'), to.rsplit_once(':')) {
        (Some((repo_from, tag_from)), Some((repo_to, tag_to)))
            if repo_from == repo_to && !tag_from.contains('/') && !tag_to.contains('/') =>
        {
            (tag_from, tag_to)
        }
        _ => (from, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(spec: Value) -> PodTemplateSpec {
        serde_json::from_value(json!({"metadata": {"labels": {"app": "web"}}, "spec": spec}))
            .unwrap()
    }

    #[test]
    fn a_replaced_config_map_reference_and_image_are_two_entries() {
        let old = template(json!({"containers": [{"name": "storefront",
            "image": "registry.example.com/shop/storefront:1.8.2",
            "envFrom": [{"configMapRef": {"name": "storefront-settings"}}]}]}));
        let new = template(json!({"containers": [{"name": "storefront",
            "image": "registry.example.com/shop/storefront:1.9.0",
            "envFrom": [{"configMapRef": {"name": "storefront-config"}}]}]}));
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                FieldDiff {
                    path: "spec.containers[storefront].image".into(),
                    from: Some("registry.example.com/shop/storefront:1.8.2".into()),
                    to: Some("registry.example.com/shop/storefront:1.9.0".into()),
                },
                FieldDiff {
                    path: "spec.containers[storefront].envFrom[0].configMapRef.name".into(),
                    from: Some("storefront-settings".into()),
                    to: Some("storefront-config".into()),
                },
            ]
        );
        assert_eq!(describe(&changes[0]), "replaced the image 1.8.2 with 1.9.0");
        assert_eq!(
            describe_all(&[&changes[1], &changes[0]]),
            "replaced envFrom configMapRef storefront-settings with storefront-config and the image 1.8.2 with 1.9.0"
        );
    }

    #[test]
    fn named_lists_match_by_name_and_report_what_was_added_or_removed() {
        let old = template(json!({"containers": [{"name": "app", "image": "app:1",
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "resources": {"limits": {"memory": "512Mi"}}}],
            "volumes": [{"name": "cfg", "configMap": {"name": "app-config"}}]}));
        let new = template(json!({"containers": [{"name": "app", "image": "app:1",
            "env": [{"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
            "resources": {"limits": {"memory": "256Mi"}}}],
            "volumes": [{"name": "cfg", "configMap": {"name": "app-config-v2"}}]}));
        let paths: Vec<(String, Option<String>, Option<String>)> = diff(&old, &new)
            .into_iter()
            .map(|change| (change.path, change.from, change.to))
            .collect();
        assert_eq!(
            paths,
            vec![
                (
                    "spec.containers[app].env[C]".into(),
                    None,
                    Some(r#"{"name":"C","value":"3"}"#.into())
                ),
                (
                    "spec.containers[app].env[A]".into(),
                    Some(r#"{"name":"A","value":"1"}"#.into()),
                    None
                ),
                (
                    "spec.containers[app].resources.limits.memory".into(),
                    Some("512Mi".into()),
                    Some("256Mi".into())
                ),
                (
                    "spec.volumes[cfg].configMap.name".into(),
                    Some("app-config".into()),
                    Some("app-config-v2".into())
                ),
            ]
        );
    }

    #[test]
    fn identical_templates_and_unset_versus_empty_fields_differ_in_nothing() {
        let old = template(json!({"containers": [{"name": "app", "image": "app:1", "env": []}]}));
        let new = template(
            json!({"containers": [{"name": "app", "image": "app:1"}], "nodeSelector": {}}),
        );
        assert!(diff(&old, &new).is_empty());
    }

    #[test]
    fn containers_added_and_removed_and_commands() {
        let old = template(
            json!({"containers": [{"name": "app", "image": "app:1", "command": ["/app"]},
            {"name": "sidecar", "image": "proxy:1"}]}),
        );
        let new = template(
            json!({"containers": [{"name": "app", "image": "app:1", "command": ["/app", "--fast"]},
            {"name": "agent", "image": "agent:2"}]}),
        );
        let changes = diff(&old, &new);
        assert_eq!(changes[0].path, "spec.containers[app].command");
        assert_eq!(changes[0].from.as_deref(), Some(r#"["/app"]"#));
        assert_eq!(changes[0].to.as_deref(), Some(r#"["/app","--fast"]"#));
        assert_eq!(changes[1].path, "spec.containers[agent]");
        assert_eq!(
            changes[1].to.as_deref(),
            Some("container added (image agent:2)")
        );
        assert_eq!(changes[2].path, "spec.containers[sidecar]");
        assert_eq!(changes[2].to, None);
    }

    #[test]
    fn long_values_are_bounded() {
        let long = "x".repeat(5000);
        let old =
            template(json!({"containers": [{"name": "app", "image": "app:1", "args": [long]}]}));
        let new = template(json!({"containers": [{"name": "app", "image": "app:1"}]}));
        let changes = diff(&old, &new);
        assert!(changes[0].from.as_ref().unwrap().len() <= MAX_VALUE);
    }
}
