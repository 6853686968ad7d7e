//! Helpers for tests: diagnose a YAML snapshot and look findings up.
//! Behind the `testing` feature (the crate's own tests enable it); not part of the
//! stable API.

use crate::api::{Finding, Severity};
use crate::engine::{Report, diagnose, snapshot_now};
use crate::model::{Kind, ObjRef};
use crate::rules::{DiagnoseOptions, RuleId};
use crate::snapshot::store_from_str;
use crate::store::Store;

/// Parses `"Kind/namespace/name"` or `"Kind/name"` (cluster-scoped) with API kind names
/// or kubectl short names.
pub fn target(s: &str) -> ObjRef {
    let parts: Vec<&str> = s.split('/').collect();
    let kind = Kind::from_api_kind(parts[0])
        .or_else(|| Kind::parse_cli(parts[0]))
        .unwrap_or_else(|| panic!("unknown kind in {s}"));
    match parts.as_slice() {
        [_, ns, name] => ObjRef::new(kind, Some(ns), name),
        [_, name] => ObjRef::new(kind, None, name),
        _ => panic!("target must be Kind/ns/name or Kind/name: {s}"),
    }
}

/// Loads YAML (or JSON) into a store; panics with the loader's error.
pub fn store(yaml: &str) -> Store {
    store_from_str(yaml).unwrap_or_else(|e| panic!("fixture does not load: {e}"))
}

/// Applies the objects of `yaml` to `store` as the controller's watches deliver
/// updates seen at `at` (RFC 3339): the change journal records what they changed.
pub fn watch_update(store: &mut Store, yaml: &str, at: &str) {
    let updates = self::store(yaml);
    let at: jiff::Timestamp = at.parse().expect("an RFC 3339 time");
    for kind in Kind::ALL {
        let refs: Vec<ObjRef> = updates.refs_of(kind).collect();
        for object in refs {
            let object = updates.object(&object).expect("listed").clone();
            crate::changes::facets::apply_observed(store, object, at);
        }
    }
}

/// Deletes `object` (`"Kind/namespace/name"`) from `store` as the controller's watch
/// delivers a deletion seen at `at`.
pub fn watch_delete(store: &mut Store, object: &str, at: &str) {
    let at: jiff::Timestamp = at.parse().expect("an RFC 3339 time");
    crate::changes::facets::delete_observed(store, &target(object), at)
        .unwrap_or_else(|| panic!("{object} is not in the store"));
}

/// Diagnoses `target` in `store` with default options and `--now` = newest timestamp.
pub fn diagnose_store(store: &Store, target_spec: &str) -> Report {
    let opts = DiagnoseOptions::new(snapshot_now(store));
    diagnose(store, &target(target_spec), &opts, None)
}

/// Diagnoses `target` in the snapshot with default options and `--now` = newest timestamp.
pub fn diagnose_yaml(yaml: &str, target_spec: &str) -> Report {
    let s = store(yaml);
    let opts = DiagnoseOptions::new(snapshot_now(&s));
    diagnose(&s, &target(target_spec), &opts, None)
}

/// Like [`diagnose_yaml`], with the options adjusted by `f`.
pub fn diagnose_with(
    yaml: &str,
    target_spec: &str,
    f: impl FnOnce(&mut DiagnoseOptions),
) -> Report {
    let s = store(yaml);
    let mut opts = DiagnoseOptions::new(snapshot_now(&s));
    f(&mut opts);
    diagnose(&s, &target(target_spec), &opts, None)
}

/// Panics unless `rule_id` names a rule: a misspelt id in a test must fail the
/// test, not make `!has(...)` pass.
fn known(rule_id: &str) -> &str {
    if let Err(e) = rule_id.parse::<RuleId>() {
        panic!("{e}");
    }
    rule_id
}

/// Findings of a rule.
pub fn findings<'a>(r: &'a Report, rule_id: &str) -> Vec<&'a Finding> {
    let rule_id = known(rule_id);
    r.status
        .findings
        .iter()
        .filter(|f| f.rule_id == rule_id)
        .collect()
}

/// The single finding of a rule; panics listing what was found otherwise.
pub fn finding<'a>(r: &'a Report, rule_id: &str) -> &'a Finding {
    let f = findings(r, rule_id);
    assert_eq!(
        f.len(),
        1,
        "expected one {rule_id} finding, got: {}",
        describe(r)
    );
    f[0]
}

/// Whether the report has a finding of the rule.
pub fn has(r: &Report, rule_id: &str) -> bool {
    let rule_id = known(rule_id);
    r.status.findings.iter().any(|f| f.rule_id == rule_id)
}

/// Rule ids of the findings at Warning or above.
pub fn warnings(r: &Report) -> Vec<String> {
    r.status
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| f.rule_id.clone())
        .collect()
}

/// The first finding (the answer to "what is wrong").
pub fn top(r: &Report) -> &Finding {
    r.status
        .findings
        .first()
        .unwrap_or_else(|| panic!("no findings: {}", describe(r)))
}

/// Whether `symptom` lists `cause` in causedBy, directly or through other findings.
pub fn explained_by(r: &Report, symptom: &Finding, cause: &Finding) -> bool {
    let mut stack: Vec<&str> = symptom.caused_by.iter().map(String::as_str).collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(id) = stack.pop() {
        if id == cause.id {
            return true;
        }
        if seen.insert(id)
            && let Some(f) = r.status.findings.iter().find(|f| f.id == id)
        {
            stack.extend(f.caused_by.iter().map(String::as_str));
        }
    }
    false
}

/// One line per finding, for assertion messages.
pub fn describe(r: &Report) -> String {
    let lines: Vec<String> = r
        .status
        .findings
        .iter()
        .map(|f| {
            format!(
                "\n  {} {} {:?} {}/{} root={} causedBy={:?}: {}",
                f.id,
                f.rule_id,
                f.severity,
                f.object.kind,
                f.object.name,
                f.root_cause,
                f.caused_by,
                f.message
            )
        })
        .collect();
    lines.concat()
}
