//! docs/coverage.md and the rules in step.
//!
//! The map lists every failure reason and message form Kubernetes v1.37 and its
//! runtimes write, each with the rule that classifies it and the test that proves it.
//! This test keeps the two honest:
//!
//! - every rule id the map names is a catalog rule, except second-round ids on rows
//!   marked `planned:`; a planned id that has reached the catalog must be moved into
//!   the row's rule (the map must say what kubedx does today);
//! - every catalog rule appears in the map, or in its "Rules with no message form"
//!   table with a reason;
//! - every test the map names exists (a `#[test]` function in tests/*.rs, or a unit
//!   test under src/);
//! - the counts at the top of the map are the counts of its rows;
//! - and, for the message forms the crate can diagnose offline (pull errors, container
//!   start and create errors, evictions and other Pod failures, FailedCreate
//!   rejections), a realistic object built from the real node's recordings with a
//!   concrete instance of the form is diagnosed, and its first finding must be the
//!   row's rule. Each such row names the check below that proves it, and each check's
//!   instance must be an instance of its row's form.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kubedx::api::Severity;
use kubedx::rules::{CATALOG, RuleId};
use kubedx::testing::{describe, diagnose_yaml};
use serde_json::{Value, json};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------
// The map
// ---------------------------------------------------------------------------

/// What a row says classifies its form.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Classification {
    /// A rule that names the cause.
    Specific(String),
    /// No rule names the cause: a catch-all rule reports it (`Some`), or nothing does.
    Generic {
        rule: Option<String>,
        reason: String,
    },
    /// A second-round rule will classify it; `today` is what reports it now.
    Planned { rule: String, today: Option<String> },
}

#[derive(Debug, Clone)]
struct Row {
    section: String,
    line: usize,
    form: String,
    source: String,
    rule: Classification,
    tests: Vec<String>,
}

struct Map {
    rows: Vec<Row>,
    /// "Rules with no message form": (rule, why).
    formless: Vec<(String, String, usize)>,
    /// The counts table: label -> number.
    counts: BTreeMap<String, usize>,
}

const FORM_HEADER: &str = "| form | source | rule | test |";
const FORMLESS_HEADER: &str = "| rule | why |";
const COUNTS_HEADER: &str = "| forms | specific | generic | planned |";

/// The cells of a markdown table row (`\|` is a literal bar inside a cell).
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|');
    let inner = inner.strip_suffix('|').unwrap_or(inner);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if chars.peek() == Some(&'|') => {
                cur.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(ch),
        }
    }
    out.push(cur.trim().to_owned());
    out
}

/// `` `text` `` or ``` `` text `` ``` -> `text`.
fn unquote(cell: &str) -> String {
    let cell = cell.trim();
    let ticks = cell.len() - cell.trim_start_matches('`').len();
    if ticks == 0 {
        return cell.to_owned();
    }
    let fence = &cell[..ticks];
    cell[ticks..]
        .strip_suffix(fence)
        .unwrap_or(&cell[ticks..])
        .trim()
        .to_owned()
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `Id` | `generic: Id — reason` | `generic: none — reason` |
/// `planned: Id (second round; today Id)` | `planned: Id (second round; today none)`.
fn classification(cell: &str) -> Result<Classification, String> {
    let cell = cell.trim();
    if let Some(rest) = cell.strip_prefix("generic:") {
        let (rule, reason) = rest
            .split_once('—')
            .ok_or_else(|| format!("generic without a reason (`generic: Id — why`): {cell}"))?;
        let rule = rule.trim();
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(format!("generic without a reason: {cell}"));
        }
        return match rule {
            "none" => Ok(Classification::Generic {
                rule: None,
                reason: reason.to_owned(),
            }),
            id if is_id(id) => Ok(Classification::Generic {
                rule: Some(id.to_owned()),
                reason: reason.to_owned(),
            }),
            _ => Err(format!("generic names no rule id or `none`: {cell}")),
        };
    }
    if let Some(rest) = cell.strip_prefix("planned:") {
        let (rule, tail) = rest
            .trim()
            .split_once(" (second round; today ")
            .ok_or_else(|| {
                format!("planned rows read `planned: Id (second round; today X)`: {cell}")
            })?;
        let today = tail
            .strip_suffix(')')
            .ok_or_else(|| format!("planned row without `)`: {cell}"))?
            .trim();
        if !is_id(rule) {
            return Err(format!("planned names no rule id: {cell}"));
        }
        let today = match today {
            "none" => None,
            id if is_id(id) => Some(id.to_owned()),
            _ => return Err(format!("planned `today` is no rule id or `none`: {cell}")),
        };
        return Ok(Classification::Planned {
            rule: rule.to_owned(),
            today,
        });
    }
    if is_id(cell) {
        return Ok(Classification::Specific(cell.to_owned()));
    }
    Err(format!("not a rule cell: {cell}"))
}

fn load_map() -> Map {
    let text = read(&root().join("docs/coverage.md"));
    let mut rows = Vec::new();
    let mut formless = Vec::new();
    let mut counts = BTreeMap::new();
    let mut errors = Vec::new();
    let mut section = String::new();
    let mut table: Option<&str> = None;
    let mut counts_header: Vec<String> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_owned();
            table = None;
            continue;
        }
        let t = line.trim();
        if !t.starts_with('|') {
            table = None;
            continue;
        }
        if t == FORM_HEADER || t == FORMLESS_HEADER || t == COUNTS_HEADER {
            table = Some(if t == FORM_HEADER {
                "form"
            } else if t == FORMLESS_HEADER {
                "formless"
            } else {
                counts_header = cells(t);
                "counts"
            });
            continue;
        }
        if t.starts_with("|---") || t.starts_with("| ---") {
            continue;
        }
        let c = cells(t);
        match table {
            Some("form") => {
                if c.len() != 4 {
                    errors.push(format!("line {line_no}: {} cells, want 4", c.len()));
                    continue;
                }
                let rule = match classification(&c[2]) {
                    Ok(r) => r,
                    Err(e) => {
                        errors.push(format!("line {line_no}: {e}"));
                        continue;
                    }
                };
                let tests: Vec<String> = if matches!(c[3].as_str(), "" | "—") {
                    Vec::new()
                } else {
                    c[3].split(',').map(|s| unquote(s.trim())).collect()
                };
                rows.push(Row {
                    section: section.clone(),
                    line: line_no,
                    form: unquote(&c[0]),
                    source: c[1].clone(),
                    rule,
                    tests,
                });
            }
            Some("formless") => {
                if c.len() != 2 || c[1].trim().is_empty() {
                    errors.push(format!("line {line_no}: want | rule | why |"));
                    continue;
                }
                formless.push((c[0].clone(), c[1].clone(), line_no));
            }
            Some("counts") => {
                for (label, value) in counts_header.iter().zip(&c) {
                    match value.parse::<usize>() {
                        Ok(n) => {
                            counts.insert(label.clone(), n);
                        }
                        Err(_) => errors.push(format!("line {line_no}: count {value:?}")),
                    }
                }
            }
            _ => {
                if t.contains(" form ") || t.contains("| rule") {
                    errors.push(format!(
                        "line {line_no}: a table whose header is none of {FORM_HEADER:?}, {FORMLESS_HEADER:?}, {COUNTS_HEADER:?}"
                    ));
                }
            }
        }
    }
    assert!(
        errors.is_empty(),
        "docs/coverage.md:\n{}",
        errors.join("\n")
    );
    Map {
        rows,
        formless,
        counts,
    }
}

fn catalog_ids() -> BTreeSet<String> {
    CATALOG.iter().map(|m| m.id.to_string()).collect()
}

/// The second round's new rules: the only ids a `planned:` row may name.
const SECOND_ROUND: &[&str] = &[
    "ImagePullRateLimited",
    "ImagePlatformMismatch",
    "LimitRangeViolation",
    "AdmissionWebhookUnavailable",
];

/// The rule a check must find as the first finding for a row.
fn expected(row: &Row, catalog: &BTreeSet<String>) -> Result<String, String> {
    match &row.rule {
        Classification::Specific(id) => Ok(id.clone()),
        Classification::Generic { rule: Some(id), .. } => Ok(id.clone()),
        Classification::Generic { rule: None, .. } => Err(format!(
            "line {}: a row no rule reports cannot name a classification check",
            row.line
        )),
        Classification::Planned { rule, .. } if catalog.contains(rule) => Ok(rule.clone()),
        Classification::Planned {
            today: Some(id), ..
        } => Ok(id.clone()),
        Classification::Planned { today: None, .. } => Err(format!(
            "line {}: a planned row with `today none` cannot name a classification check",
            row.line
        )),
    }
}

// ---------------------------------------------------------------------------
// The map against the catalog and the test suite
// ---------------------------------------------------------------------------

#[test]
fn every_rule_id_in_the_map_is_a_catalog_rule_or_planned() {
    let map = load_map();
    let catalog = catalog_ids();
    let mut errors = Vec::new();
    for row in &map.rows {
        match &row.rule {
            Classification::Specific(id) | Classification::Generic { rule: Some(id), .. } => {
                if !catalog.contains(id) {
                    errors.push(format!(
                        "line {}: {id} is not in the catalog (a rule still to come is `planned: {id} (second round; today X)`)",
                        row.line
                    ));
                }
            }
            Classification::Generic { rule: None, .. } => {}
            Classification::Planned { rule, today } => {
                if !SECOND_ROUND.contains(&rule.as_str()) {
                    errors.push(format!(
                        "line {}: {rule} is not a second-round rule",
                        row.line
                    ));
                }
                if catalog.contains(rule) {
                    errors.push(format!(
                        "line {}: {rule} is in the catalog now: name it as the row's rule (and the test that proves it) instead of `planned:`",
                        row.line
                    ));
                }
                if let Some(t) = today
                    && !catalog.contains(t)
                {
                    errors.push(format!(
                        "line {}: today's rule {t} is not in the catalog",
                        row.line
                    ));
                }
            }
        }
    }
    for (id, _, line) in &map.formless {
        if id.parse::<RuleId>().is_err() {
            errors.push(format!(
                "line {line}: {id} (rules with no message form) is not in the catalog"
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_catalog_rule_is_in_the_map() {
    let map = load_map();
    let mut named: BTreeSet<String> = BTreeSet::new();
    for row in &map.rows {
        match &row.rule {
            Classification::Specific(id) | Classification::Generic { rule: Some(id), .. } => {
                named.insert(id.clone());
            }
            Classification::Planned {
                today: Some(id), ..
            } => {
                named.insert(id.clone());
            }
            _ => {}
        }
    }
    let formless: BTreeSet<String> = map.formless.iter().map(|f| f.0.clone()).collect();
    let mut errors = Vec::new();
    for id in RuleId::ALL {
        let id = id.to_string();
        match (named.contains(&id), formless.contains(&id)) {
            (false, false) => errors.push(format!(
                "{id} classifies no form of the map and is not under \"Rules with no message form\""
            )),
            (true, true) => errors.push(format!(
                "{id} classifies forms of the map but is also listed under \"Rules with no message form\""
            )),
            _ => {}
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// `#[test]` (or `#[tokio::test]`) functions of a Rust source.
fn test_functions(src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut pending = false;
    for line in src.lines() {
        let t = line.trim();
        if t.starts_with("#[test]") || t.starts_with("#[tokio::test") {
            pending = true;
            continue;
        }
        if pending {
            if t.starts_with("#[") || t.starts_with("//") {
                continue;
            }
            let sig = t
                .trim_start_matches("pub ")
                .trim_start_matches("async ")
                .strip_prefix("fn ");
            if let Some(sig) = sig {
                let name: String = sig
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.insert(name);
            }
            pending = false;
        }
    }
    out
}

/// Whether a test named in the map exists: `file::fn` of tests/file.rs, or
/// `module::path::tests::fn` of the unit tests under src/.
fn test_exists(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split("::").collect();
    let (func, module) = parts
        .split_last()
        .filter(|(_, m)| !m.is_empty())
        .ok_or_else(|| format!("{name}: want `file::function` or `module::tests::function`"))?;
    let candidates: Vec<PathBuf> = if module.len() == 1 {
        vec![root().join("tests").join(format!("{}.rs", module[0]))]
    } else {
        let modules: Vec<&str> = module.iter().copied().filter(|m| *m != "tests").collect();
        let base = root().join("src").join(modules.join("/"));
        vec![base.with_extension("rs"), base.join("mod.rs")]
    };
    let Some(file) = candidates.iter().find(|p| p.is_file()) else {
        return Err(format!("{name}: no file {}", candidates[0].display()));
    };
    if test_functions(&read(file)).contains(*func) {
        Ok(())
    } else {
        Err(format!(
            "{name}: no #[test] fn {func} in {}",
            file.display()
        ))
    }
}

#[test]
fn every_test_named_in_the_map_exists() {
    let map = load_map();
    let mut errors = Vec::new();
    for row in &map.rows {
        for t in &row.tests {
            if let Err(e) = test_exists(t) {
                errors.push(format!("line {}: {e}", row.line));
            }
        }
        let specific = matches!(row.rule, Classification::Specific(_));
        if specific && row.tests.is_empty() {
            errors.push(format!(
                "line {}: {:?} is classified by a specific rule but names no test",
                row.line, row.form
            ));
        }
        if row.source.is_empty() {
            errors.push(format!("line {}: no source", row.line));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_counts_are_the_rows() {
    let map = load_map();
    let specific = map
        .rows
        .iter()
        .filter(|r| matches!(r.rule, Classification::Specific(_)))
        .count();
    let generic = map
        .rows
        .iter()
        .filter(|r| matches!(r.rule, Classification::Generic { .. }))
        .count();
    let planned = map
        .rows
        .iter()
        .filter(|r| matches!(r.rule, Classification::Planned { .. }))
        .count();
    let want: BTreeMap<String, usize> = [
        ("forms", map.rows.len()),
        ("specific", specific),
        ("generic", generic),
        ("planned", planned),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(map.counts, want, "the counts table of docs/coverage.md");
    let mut seen = BTreeMap::new();
    for row in &map.rows {
        if let Some(first) = seen.insert((row.section.clone(), row.form.clone()), row.line) {
            panic!(
                "line {}: form {:?} is listed twice in section {:?} (first on line {first})",
                row.line, row.form, row.section
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Forms against the classification
// ---------------------------------------------------------------------------

/// Whether `message` is an instance of `form`: the literal text between the
/// placeholders (`%q`, `%s`, `%v`, `%d`, `%w`, `%f`, `%+v`) appears in order.
///
/// Anchored, the message starts and ends as the form does; unanchored, the form may
/// be a part of the message (a scheduler plugin's reason inside FailedScheduling).
fn instance_within(form: &str, message: &str, anchored: bool) -> bool {
    let mut literals = Vec::new();
    let mut cur = String::new();
    let mut chars = form.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '%' {
            if chars.peek() == Some(&'+') {
                chars.next();
            }
            if chars
                .peek()
                .is_some_and(|c| matches!(c, 'q' | 's' | 'v' | 'd' | 'w' | 'f'))
            {
                chars.next();
                literals.push(std::mem::take(&mut cur));
                continue;
            }
        }
        cur.push(ch);
    }
    literals.push(cur);
    // the kubelet keeps the gRPC status of some runtime errors in front of them
    let mut rest = strip_grpc_status(message).trim_end();
    let last = literals.len() - 1;
    for (i, lit) in literals.iter().enumerate() {
        if lit.is_empty() {
            continue;
        }
        if i == 0 && anchored {
            match rest.strip_prefix(lit.as_str()) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if anchored && i == last && !form.ends_with(['q', 's', 'v', 'd', 'w', 'f']) {
            return rest.ends_with(lit.as_str());
        } else {
            match rest.find(lit.as_str()) {
                Some(at) => rest = &rest[at + lit.len()..],
                None => return false,
            }
        }
    }
    true
}

/// `rpc error: code = NotFound desc = MESSAGE` -> `MESSAGE`.
fn strip_grpc_status(message: &str) -> &str {
    message
        .strip_prefix("rpc error: code = ")
        .and_then(|rest| rest.split_once(" desc = "))
        .filter(|(code, _)| code.chars().all(|c| c.is_ascii_alphabetic()))
        .map_or(message, |(_, m)| m)
}

fn recording(case: &str) -> Value {
    let text = read(&root().join(format!("tests/fixtures/real/{case}.yaml")));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{case}: {e}"))
}

fn items(list: &mut Value) -> &mut Vec<Value> {
    list["items"].as_array_mut().expect("a v1 List")
}

fn is_kind(v: &Value, kind: &str) -> bool {
    v["kind"] == kind
}

fn the_pod(list: &mut Value) -> &mut Value {
    items(list)
        .iter_mut()
        .find(|v| is_kind(v, "Pod"))
        .expect("a Pod in the recording")
}

fn status0(pod: &mut Value) -> &mut Value {
    &mut pod["status"]["containerStatuses"][0]
}

/// The events of the recording with `reason` whose message starts with `prefix`.
fn events_mut<'a>(
    list: &'a mut Value,
    reason: &'a str,
    prefix: &'a str,
) -> impl Iterator<Item = &'a mut Value> + 'a {
    items(list).iter_mut().filter(move |v| {
        is_kind(v, "Event")
            && v["reason"] == reason
            && v["message"].as_str().is_some_and(|m| m.starts_with(prefix))
    })
}

/// How a check turns an instance of a form into cluster state.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// A pull error: the container waits with `reason` and the runtime's message;
    /// the kubelet's `Failed` events say `Failed to pull image "IMAGE": MESSAGE`.
    /// (The real node's image-not-found recording.) When the image manager fails
    /// before any pull, its own `event` reason (ErrImageNeverPull, InspectFailed)
    /// carries the message instead.
    Pull {
        reason: &'static str,
        event: &'static str,
    },
    /// A container the runtime could not start: lastState.terminated StartError
    /// (exit 128) with the message, back-off since; the kubelet's `Failed` event says
    /// `Error: MESSAGE`. (The real node's command-not-found recording.)
    Start,
    /// A container the kubelet or the runtime could not create: it waits with
    /// `reason` and the message; `Failed` events say `Error: MESSAGE`. (The real
    /// node's create-container-error recording.)
    Create { reason: &'static str },
    /// The kubelet failed the Pod: status.phase Failed, status.reason `reason` and
    /// the message, and a Warning event of that reason. (The real node's
    /// ephemeral-storage eviction recording.)
    PodFailed { reason: &'static str },
    /// The kubelet refused to admit the Pod: status.phase Failed, status.reason
    /// `reason`, status.message `Pod was rejected: MESSAGE`, no container ran, and
    /// a Warning event of that reason with the message. (The ephemeral-storage
    /// recording, its containers never started.)
    Rejected { reason: &'static str },
    /// The scheduler's FailedScheduling message, as v1.37 writes it, replacing the
    /// one of a scheduling scenario (tests/fixtures/scheduling/, on its five nodes):
    /// the form is a part of that message.
    Scheduling {
        fixture: &'static str,
        target: &'static str,
    },
    /// The API server refused a ReplicaSet's Pods: ReplicaFailure=True (FailedCreate)
    /// and FailedCreate events `Error creating: MESSAGE`.
    FailedCreate,
}

struct Sample {
    form: &'static str,
    scenario: Scenario,
    /// The concrete message (what the source writes for the form's placeholders).
    message: &'static str,
}

const fn sample(form: &'static str, scenario: Scenario, message: &'static str) -> Sample {
    Sample {
        form,
        scenario,
        message,
    }
}

/// The snapshot and the target for a sample.
fn build(s: &Sample) -> (String, &'static str) {
    match s.scenario {
        Scenario::Pull { reason, event } => {
            let mut list = recording("image-not-found");
            let pod = the_pod(&mut list);
            let image = pod["spec"]["containers"][0]["image"]
                .as_str()
                .unwrap()
                .to_owned();
            status0(pod)["state"] = json!({"waiting": {"reason": reason, "message": s.message}});
            if event == "Failed" {
                // the kubelet's event carries the runtime error; the waiting message
                // may wrap it (Back-off pulling image ...: ErrImagePull: ERROR)
                let runtime_error = s
                    .message
                    .split_once("ErrImagePull: ")
                    .map_or(s.message, |(_, e)| e);
                for e in events_mut(&mut list, "Failed", "Failed to pull image") {
                    e["message"] =
                        json!(format!("Failed to pull image \"{image}\": {runtime_error}"));
                }
            } else {
                // no pull was attempted: the image manager's own event, no pull events
                items(&mut list).retain(|v| {
                    !(is_kind(v, "Event")
                        && matches!(v["reason"].as_str(), Some("Pulling" | "BackOff")))
                });
                for e in events_mut(&mut list, "Failed", "Failed to pull image") {
                    e["reason"] = json!(event);
                    e["message"] = json!(s.message);
                }
                for e in events_mut(&mut list, "Failed", "Error: ErrImagePull") {
                    e["message"] = json!(format!("Error: {reason}"));
                }
            }
            (list.to_string(), "Pod/real/image-not-found")
        }
        Scenario::Start => {
            let mut list = recording("command-not-found");
            let pod = the_pod(&mut list);
            status0(pod)["lastState"]["terminated"]["message"] = json!(s.message);
            for e in events_mut(&mut list, "Failed", "Error: ") {
                e["message"] = json!(format!("Error: {}", s.message));
            }
            (list.to_string(), "Pod/real/command-not-found")
        }
        Scenario::Create { reason } => {
            let mut list = recording("create-container-error");
            let pod = the_pod(&mut list);
            status0(pod)["state"] = json!({"waiting": {"reason": reason, "message": s.message}});
            for e in events_mut(&mut list, "Failed", "Error: ") {
                e["message"] = json!(format!("Error: {}", s.message));
            }
            (list.to_string(), "Pod/real/create-container-error")
        }
        Scenario::PodFailed { reason } => {
            let mut list = recording("ephemeral-storage");
            let pod = the_pod(&mut list);
            pod["status"]["reason"] = json!(reason);
            pod["status"]["message"] = json!(s.message);
            for e in events_mut(&mut list, "Evicted", "") {
                e["reason"] = json!(reason);
                e["message"] = json!(s.message);
            }
            (list.to_string(), "Pod/real/ephemeral-storage")
        }
        Scenario::Rejected { reason } => {
            let mut list = recording("ephemeral-storage");
            let pod = the_pod(&mut list);
            pod["status"]["reason"] = json!(reason);
            pod["status"]["message"] = json!(format!("Pod was rejected: {}", s.message));
            let status = pod["status"].as_object_mut().unwrap();
            for key in ["containerStatuses", "podIP", "podIPs", "startTime"] {
                status.remove(key);
            }
            items(&mut list).retain(|v| {
                !(is_kind(v, "Event")
                    && matches!(
                        v["reason"].as_str(),
                        Some("Pulled" | "Created" | "Started" | "Killing")
                    ))
            });
            for e in events_mut(&mut list, "Evicted", "") {
                e["reason"] = json!(reason);
                e["message"] = json!(s.message);
            }
            (list.to_string(), "Pod/real/ephemeral-storage")
        }
        Scenario::Scheduling { fixture, target } => {
            let load = |name: &str| -> Value {
                let path = root().join("tests/fixtures/scheduling").join(name);
                serde_norway::from_str(&read(&path)).unwrap_or_else(|e| panic!("{name}: {e}"))
            };
            let nodes = load("nodes.yaml");
            let mut list = load(fixture);
            for v in items(&mut list) {
                if is_kind(v, "Event") && v["reason"] == "FailedScheduling" {
                    v["message"] = json!(s.message);
                }
                if is_kind(v, "Pod")
                    && let Some(conditions) = v["status"]["conditions"].as_array_mut()
                {
                    for c in conditions {
                        if c["type"] == "PodScheduled" && c["status"] == "False" {
                            c["message"] = json!(s.message);
                        }
                    }
                }
            }
            let yaml = |v: &Value| serde_norway::to_string(v).expect("YAML");
            // a scenario that brings its own Nodes stands alone
            if items(&mut list).iter().any(|v| is_kind(v, "Node")) {
                return (yaml(&list), target);
            }
            (format!("{}\n---\n{}", yaml(&nodes), yaml(&list)), target)
        }
        Scenario::FailedCreate => (failed_create(s.message), "ReplicaSet/shop/web-7d4f9c8b6"),
    }
}

/// A ReplicaSet (of Deployment web) that has created none of its 3 Pods because the
/// API server refuses them with `message`, as the replicaset controller reports it;
/// the namespace's ServiceAccount, ResourceQuota and LimitRange are in the snapshot.
fn failed_create(message: &str) -> String {
    // the ServiceAccount admission names the template's ServiceAccount
    let service_account = message
        .split_once("serviceaccount \"")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or("default");
    let event = |n: u32, count: u32, first: &str, last: &str| {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": format!("web-7d4f9c8b6.18a2b3c4d5e6f7{n:02}"), "namespace": "shop",
                         "creationTimestamp": first},
            "involvedObject": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d4f9c8b6",
                               "namespace": "shop", "uid": "5d9b2c1e-7a3f-4e8b-9c6d-2f1a0b3c4d5e"},
            "reason": "FailedCreate", "type": "Warning", "count": count,
            "firstTimestamp": first, "lastTimestamp": last,
            "message": format!("Error creating: {message}"),
            "source": {"component": "replicaset-controller"},
            "reportingComponent": "replicaset-controller", "reportingInstance": ""
        })
    };
    let template = json!({
        "metadata": {"labels": {"app": "web", "pod-template-hash": "7d4f9c8b6"}},
        "spec": {
            "containers": [{
                "name": "app", "image": "registry.example.com/shop/web:2.4.1",
                "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                              "limits": {"cpu": "2", "memory": "2Gi"}}
            }],
            "serviceAccountName": service_account, "restartPolicy": "Always"
        }
    });
    let list = json!({
        "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
        "items": [
            {
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "generation": 4,
                             "uid": "0e6f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                             "creationTimestamp": "2026-03-01T09:00:00Z",
                             "annotations": {"deployment.kubernetes.io/revision": "4"}},
                "spec": {"replicas": 3, "progressDeadlineSeconds": 600,
                         "selector": {"matchLabels": {"app": "web"}},
                         "template": template},
                "status": {"observedGeneration": 4, "replicas": 0, "updatedReplicas": 0,
                           "unavailableReplicas": 3,
                           "conditions": [
                               {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                                "message": "Deployment does not have minimum availability.",
                                "lastTransitionTime": "2026-03-01T10:00:00Z", "lastUpdateTime": "2026-03-01T10:00:00Z"},
                               {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                "message": message,
                                "lastTransitionTime": "2026-03-01T10:00:01Z", "lastUpdateTime": "2026-03-01T10:00:01Z"},
                               {"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                                "message": "ReplicaSet \"web-7d4f9c8b6\" is progressing.",
                                "lastTransitionTime": "2026-03-01T10:00:00Z", "lastUpdateTime": "2026-03-01T10:00:00Z"}
                           ]}
            },
            {
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": "web-7d4f9c8b6", "namespace": "shop", "generation": 1,
                             "uid": "5d9b2c1e-7a3f-4e8b-9c6d-2f1a0b3c4d5e",
                             "creationTimestamp": "2026-03-01T10:00:00Z",
                             "labels": {"app": "web", "pod-template-hash": "7d4f9c8b6"},
                             "annotations": {"deployment.kubernetes.io/revision": "4",
                                             "deployment.kubernetes.io/desired-replicas": "3",
                                             "deployment.kubernetes.io/max-replicas": "4"},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                  "uid": "0e6f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
                                                  "controller": true, "blockOwnerDeletion": true}]},
                "spec": {"replicas": 3,
                         "selector": {"matchLabels": {"app": "web", "pod-template-hash": "7d4f9c8b6"}},
                         "template": template},
                "status": {"replicas": 0, "observedGeneration": 1,
                           "conditions": [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                           "message": message,
                                           "lastTransitionTime": "2026-03-01T10:00:01Z"}]}
            },
            {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": "shop",
                             "uid": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
                             "creationTimestamp": "2026-03-01T09:00:00Z"}
            },
            {
                "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": "compute", "namespace": "shop",
                             "uid": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
                             "creationTimestamp": "2026-03-01T09:00:00Z"},
                "spec": {"hard": {"limits.memory": "8Gi", "requests.cpu": "8", "pods": "20"}},
                "status": {"hard": {"limits.memory": "8Gi", "requests.cpu": "8", "pods": "20"},
                           "used": {"limits.memory": "7Gi", "requests.cpu": "3500m", "pods": "7"}}
            },
            {
                "apiVersion": "v1", "kind": "LimitRange",
                "metadata": {"name": "limits", "namespace": "shop",
                             "uid": "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f",
                             "creationTimestamp": "2026-03-01T09:00:00Z"},
                "spec": {"limits": [{"type": "Container",
                                     "max": {"cpu": "1", "memory": "1Gi"},
                                     "min": {"cpu": "50m", "memory": "64Mi"},
                                     "maxLimitRequestRatio": {"cpu": "2"}}]}
            },
            event(1, 1, "2026-03-01T10:00:01Z", "2026-03-01T10:00:01Z"),
            event(2, 9, "2026-03-01T10:00:02Z", "2026-03-01T10:04:40Z")
        ]
    });
    list.to_string()
}

/// Runs a check: every sample is an instance of its row's form, the row names this
/// check as its test, and the first finding is the row's rule; every row naming this
/// check has a sample.
fn check(name: &str, samples: &[Sample]) {
    let map = load_map();
    let catalog = catalog_ids();
    let test = format!("coverage::{name}");
    let mut errors = Vec::new();
    let mut covered = BTreeSet::new();
    for s in samples {
        let rows: Vec<&Row> = map.rows.iter().filter(|r| r.form == s.form).collect();
        let Some(row) = rows.first() else {
            errors.push(format!(
                "no row of docs/coverage.md has the form {:?}",
                s.form
            ));
            continue;
        };
        covered.insert(row.line);
        if !row.tests.contains(&test) {
            errors.push(format!(
                "line {}: the row of {:?} does not name {test}",
                row.line, s.form
            ));
        }
        let anchored = !matches!(s.scenario, Scenario::Scheduling { .. });
        if !instance_within(s.form, s.message, anchored) {
            errors.push(format!(
                "the sample {:?} is not an instance of its form {:?}",
                s.message, s.form
            ));
            continue;
        }
        let want = match expected(row, &catalog) {
            Ok(w) => w,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let (yaml, target) = build(s);
        let report = diagnose_yaml(&yaml, target);
        let got = report
            .status
            .findings
            .first()
            .map_or("(no finding)", |f| f.rule_id.as_str())
            .to_owned();
        // a catch-all reports the form somewhere; a rule that names the cause comes first
        let first = report.status.findings.first();
        if matches!(row.rule, Classification::Generic { .. }) {
            if !report.status.findings.iter().any(|f| f.rule_id == want) {
                errors.push(format!(
                    "line {}: {:?}\n  instance {:?}\n  want a {want} finding, got:{}",
                    row.line,
                    s.form,
                    s.message,
                    describe(&report)
                ));
            }
        } else if got != want {
            errors.push(format!(
                "line {}: {:?}\n  instance {:?}\n  want {want} first, got:{}",
                row.line,
                s.form,
                s.message,
                describe(&report)
            ));
        } else if matches!(row.rule, Classification::Specific(_))
            && first.is_some_and(|f| f.severity < Severity::Warning)
        {
            errors.push(format!(
                "line {}: {want} names the cause of {:?} but only as Info:{}",
                row.line,
                s.form,
                describe(&report)
            ));
        }
    }
    for row in map.rows.iter().filter(|r| r.tests.contains(&test)) {
        if !covered.contains(&row.line) {
            errors.push(format!(
                "line {}: the row of {:?} names {test}, which has no sample of it",
                row.line, row.form
            ));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}

// ---------------------------------------------------------------------------
// The checks: instances of the forms, as the sources write them
// ---------------------------------------------------------------------------

const ERR_IMAGE_PULL: Scenario = Scenario::Pull {
    reason: "ErrImagePull",
    event: "Failed",
};

/// Pull errors of containerd 1.6 and 2.x, CRI-O (containers/image) and the kubelet's
/// image manager, as the container's waiting message and the `Failed` event.
#[test]
fn pull_errors_classify_as_mapped() {
    check(
        "pull_errors_classify_as_mapped",
        &[
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: %s: not found",
                ERR_IMAGE_PULL,
                r#"rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/shop/web:2.4.1": failed to resolve reference "registry.example.com/shop/web:2.4.1": registry.example.com/shop/web:2.4.1: not found"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: pulling from host %s failed with status code %v: 401 Unauthorized",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "registry.example.com/private/web:1": failed to resolve reference "registry.example.com/private/web:1": pulling from host registry.example.com failed with status code [manifests 1]: 401 Unauthorized"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: pulling from host %s failed with status code %v: 403 Forbidden",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "europe-docker.pkg.dev/acme/apps/web:1": failed to resolve reference "europe-docker.pkg.dev/acme/apps/web:1": pulling from host europe-docker.pkg.dev failed with status code [manifests 1]: 403 Forbidden"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: pulling from host %s failed with status code %v: 429 Too Many Requests",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "docker.io/library/nginx:1.27": failed to resolve reference "docker.io/library/nginx:1.27": pulling from host registry-1.docker.io failed with status code [manifests 1.27]: 429 Too Many Requests"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to copy: httpReadSeeker: failed open: unexpected status code %v: %s - Server message: toomanyrequests: %s",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "docker.io/library/redis:7.4": failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/redis/blobs/sha256:3f1c2b4a: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: unexpected status from HEAD request to %s: 429 Too Many Requests",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "docker.io/library/nginx:1.27": failed to resolve reference "docker.io/library/nginx:1.27": unexpected status from HEAD request to https://registry-1.docker.io/v2/library/nginx/manifests/1.27: 429 Too Many Requests"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: pull access denied, repository does not exist or may require authorization: %w",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "docker.io/acme/private-api:1.4": failed to resolve reference "docker.io/acme/private-api:1.4": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: failed to authorize: failed to fetch anonymous token: unexpected status from GET request to %s: 401 Unauthorized",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "ghcr.io/acme/api:1.0": failed to resolve reference "ghcr.io/acme/api:1.0": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aacme%2Fapi%3Apull&service=ghcr.io: 401 Unauthorized"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: failed to do request: Head %q: dial tcp %s: connect: connection refused",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "registry.internal:5000/shop/web:1": failed to resolve reference "registry.internal:5000/shop/web:1": failed to do request: Head "https://registry.internal:5000/v2/shop/web/manifests/1": dial tcp 10.20.0.15:5000: connect: connection refused"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: failed to do request: Head %q: dial tcp: lookup %s on %s: no such host",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "registry.internal:5000/shop/web:1": failed to resolve reference "registry.internal:5000/shop/web:1": failed to do request: Head "https://registry.internal:5000/v2/shop/web/manifests/1": dial tcp: lookup registry.internal on 10.96.0.10:53: no such host"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: failed to do request: Head %q: dial tcp %s: i/o timeout",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "registry.internal:5000/shop/web:1": failed to resolve reference "registry.internal:5000/shop/web:1": failed to do request: Head "https://registry.internal:5000/v2/shop/web/manifests/1": dial tcp 10.20.0.15:5000: i/o timeout"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: failed to do request: Head %q: tls: failed to verify certificate: x509: %s",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "registry.internal:5000/shop/web:1": failed to resolve reference "registry.internal:5000/shop/web:1": failed to do request: Head "https://registry.internal:5000/v2/shop/web/manifests/1": tls: failed to verify certificate: x509: certificate signed by unknown authority"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to resolve reference %q: failed to do request: Head %q: http: server gave HTTP response to HTTPS client",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "registry.internal:5000/shop/web:1": failed to resolve reference "registry.internal:5000/shop/web:1": failed to do request: Head "https://registry.internal:5000/v2/shop/web/manifests/1": http: server gave HTTP response to HTTPS client"#,
            ),
            sample(
                "failed to pull and unpack image %q: no match for platform in manifest: not found",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "registry.example.com/shop/worker:3.1": no match for platform in manifest: not found"#,
            ),
            sample(
                "failed to pull and unpack image %q: failed to extract layer (%s %s) to %s as %q: %s: no space left on device",
                ERR_IMAGE_PULL,
                r#"failed to pull and unpack image "docker.io/library/postgres:16.4": failed to extract layer (application/vnd.oci.image.layer.v1.tar+gzip sha256:7c2b1f0e) to overlayfs as "extract-281474976710655-Xk2p sha256:9a0b1c2d": write /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/412/fs/usr/lib/postgresql/16/bin/postgres: no space left on device"#,
            ),
            sample(
                "Back-off pulling image %q: %s",
                Scenario::Pull {
                    reason: "ImagePullBackOff",
                    event: "Failed",
                },
                r#"Back-off pulling image "registry.example.com/shop/web:2.4.1": ErrImagePull: rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/shop/web:2.4.1": failed to resolve reference "registry.example.com/shop/web:2.4.1": registry.example.com/shop/web:2.4.1: not found"#,
            ),
            sample(
                "image pull failed for %s because the registry is unavailable%s",
                Scenario::Pull {
                    reason: "RegistryUnavailable",
                    event: "Failed",
                },
                r#"image pull failed for quay.io/acme/api:1.0 because the registry is unavailable: pinging container registry quay.io: Get "https://quay.io/v2/": dial tcp 10.30.1.7:443: connect: connection refused"#,
            ),
            sample(
                "initializing source %s: reading manifest %s in %s: manifest unknown",
                ERR_IMAGE_PULL,
                r#"initializing source docker://quay.io/acme/api:1.0: reading manifest 1.0 in quay.io/acme/api: manifest unknown"#,
            ),
            sample(
                "initializing source %s: reading manifest %s in %s: toomanyrequests: %s",
                ERR_IMAGE_PULL,
                r#"initializing source docker://nginx:1.27: reading manifest 1.27 in docker.io/library/nginx: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"#,
            ),
            sample(
                "initializing source %s: pinging container registry %s: Get %q: dial tcp: lookup %s: no such host",
                ERR_IMAGE_PULL,
                r#"initializing source docker://registry.internal:5000/shop/web:1: pinging container registry registry.internal:5000: Get "https://registry.internal:5000/v2/": dial tcp: lookup registry.internal: no such host"#,
            ),
            sample(
                "initializing source %s: unable to retrieve auth token: invalid username/password: %s",
                ERR_IMAGE_PULL,
                r#"initializing source docker://quay.io/acme/api:1.0: unable to retrieve auth token: invalid username/password: unauthorized: access to the requested resource is not authorized"#,
            ),
            sample(
                "choosing image instance: no image found in manifest list for architecture %q, variant %q, OS %q",
                ERR_IMAGE_PULL,
                r#"choosing image instance: no image found in manifest list for architecture "arm64", variant "v8", OS "linux""#,
            ),
        ],
    );
}

/// The kubelet's own pull failures: waiting reasons with their messages.
#[test]
fn image_manager_failures_classify_as_mapped() {
    check(
        "image_manager_failures_classify_as_mapped",
        &[
            sample(
                "Container image %q is not present with pull policy of Never",
                Scenario::Pull {
                    reason: "ErrImageNeverPull",
                    event: "ErrImageNeverPull",
                },
                r#"Container image "registry.example.com/shop/web:2.4.1" is not present with pull policy of Never"#,
            ),
            sample(
                "Failed to apply default image tag %q: %v",
                Scenario::Pull {
                    reason: "InvalidImageName",
                    event: "InspectFailed",
                },
                r#"Failed to apply default image tag "registry.example.com/Shop/Web:2.4.1": couldn't parse image name "registry.example.com/Shop/Web:2.4.1": invalid reference format: repository name (Shop/Web) must be lowercase"#,
            ),
            sample(
                "Failed to inspect image %q: %v",
                Scenario::Pull {
                    reason: "ImageInspectError",
                    event: "InspectFailed",
                },
                r#"Failed to inspect image "": rpc error: code = Unknown desc = failed to get image status: context deadline exceeded"#,
            ),
            sample(
                "image pull failed for %s because the signature validation failed%s",
                Scenario::Pull {
                    reason: "SignatureValidationFailed",
                    event: "Failed",
                },
                r#"image pull failed for quay.io/acme/api:1.0 because the signature validation failed: Source image rejected: A signature was required, but no signature exists"#,
            ),
        ],
    );
}

/// runc's and containerd's start errors: lastState.terminated StartError, exit 128.
#[test]
fn start_errors_classify_as_mapped() {
    check(
        "start_errors_classify_as_mapped",
        &[
            sample(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: %q: executable file not found in $PATH: unknown",
                Scenario::Start,
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "kubedx-server": executable file not found in $PATH: unknown"#,
            ),
            sample(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: %q: stat %s: no such file or directory: unknown",
                Scenario::Start,
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app/server": stat /app/server: no such file or directory: unknown"#,
            ),
            sample(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: %q: permission denied: unknown",
                Scenario::Start,
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "/app/start.sh": permission denied: unknown"#,
            ),
            sample(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec %s: permission denied: unknown",
                Scenario::Start,
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec /scripts/run.sh: permission denied: unknown"#,
            ),
            sample(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting %q to rootfs at %q: %s: unknown",
                Scenario::Start,
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting "/var/lib/kubelet/pods/6b1e/volume-subpaths/config/app/0" to rootfs at "/etc/app/config.yaml": mount /var/lib/kubelet/pods/6b1e/volume-subpaths/config/app/0:/etc/app/config.yaml (via /proc/self/fd/6), flags: 0x5001: not a directory: unknown"#,
            ),
            sample(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: %s: unknown",
                Scenario::Start,
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/memory/kubepods/burstable/pod6b1e/0f3a: cannot allocate memory: unknown"#,
            ),
            sample(
                "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec %s: exec format error: unknown",
                Scenario::Start,
                r#"failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec /app/server: exec format error: unknown"#,
            ),
            sample(
                "failed to start containerd task %q: %w",
                Scenario::Start,
                r#"failed to start containerd task "3f2a9c1b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a": cannot start a stopped process: unknown"#,
            ),
        ],
    );
}

/// Containers the kubelet or the runtime cannot create: waiting reasons
/// CreateContainerError / CreateContainerConfigError with the message.
#[test]
fn create_errors_classify_as_mapped() {
    let create = Scenario::Create {
        reason: "CreateContainerError",
    };
    let config = Scenario::Create {
        reason: "CreateContainerConfigError",
    };
    check(
        "create_errors_classify_as_mapped",
        &[
            sample(
                "failed to generate container %q spec: failed to generate spec: no command specified",
                create,
                r#"failed to generate container "3f2a9c1b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a" spec: failed to generate spec: no command specified"#,
            ),
            sample(
                "failed to reserve container name %q: name %q is reserved for %q",
                create,
                r#"failed to reserve container name "app_web-7d4f9c8b6-x2k9p_shop_6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b_0": name "app_web-7d4f9c8b6-x2k9p_shop_6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b_0" is reserved for "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d""#,
            ),
            sample("no command specified", create, "no command specified"),
            sample(
                "failed to mount container %s(%s): %w",
                create,
                "failed to mount container k8s_app_create-container-error_real_00000000-0000-4000-8000-000000000002_0(3f2a9c1b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a): creating overlay mount to /var/lib/containers/storage/overlay/3f2a9c1b0d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a/merged: no space left on device",
            ),
            sample(
                "container has runAsNonRoot and image will run as root (pod: %q, container: %s)",
                config,
                r#"container has runAsNonRoot and image will run as root (pod: "create-container-error_real(00000000-0000-4000-8000-000000000002)", container: app)"#,
            ),
            sample(
                "container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)",
                config,
                r#"container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root (pod: "create-container-error_real(00000000-0000-4000-8000-000000000002)", container: app)"#,
            ),
            sample(
                "failed to prepare subPath for volumeMount %q of container %q",
                config,
                r#"failed to prepare subPath for volumeMount "config" of container "app""#,
            ),
        ],
    );
}

/// The kubelet's evictions and other Pod failures: status.phase Failed with a reason
/// and a message, and the Warning event of that reason.
#[test]
fn pod_failures_classify_as_mapped() {
    let evicted = Scenario::PodFailed { reason: "Evicted" };
    check(
        "pod_failures_classify_as_mapped",
        &[
            sample(
                "The node was low on resource: %v. Threshold quantity: %v, available: %v. Container %s was using %s, request is %s, has larger consumption of %v.",
                evicted,
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 86Mi. Container app was using 1843Mi, request is 16Mi, has larger consumption of memory. ",
            ),
            sample(
                "The node was low on resource: %v. Threshold quantity: %v, available: %v. Pod %s was using %s, request is %s, has larger consumption of %v.",
                evicted,
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91Mi. Pod ephemeral-storage was using 1843Mi, request is 16Mi, has larger consumption of memory. ",
            ),
            sample(
                "The node had condition: %v.",
                evicted,
                "The node had condition: [DiskPressure]. ",
            ),
            sample(
                "Container %s exceeded its local ephemeral storage limit %q.",
                evicted,
                "Container app exceeded its local ephemeral storage limit \"10Mi\". ",
            ),
            sample(
                "Pod ephemeral local storage usage exceeds the total limit of containers %s.",
                evicted,
                "Pod ephemeral local storage usage exceeds the total limit of containers 10Mi. ",
            ),
            sample(
                "Usage of EmptyDir volume %q exceeds the limit %q.",
                evicted,
                "Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Gi\". ",
            ),
            sample(
                "Node didn't have enough resource: %s, requested: %d, used: %d, capacity: %d",
                Scenario::Rejected {
                    reason: "OutOfmemory",
                },
                "Node didn't have enough resource: memory, requested: 2147483648, used: 24696061952, capacity: 25170558976",
            ),
            sample(
                "Predicate %s failed: %s",
                Scenario::Rejected {
                    reason: "NodeAffinity",
                },
                "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector",
            ),
            sample(
                "Pod was rejected as the node is shutting down.",
                Scenario::Rejected {
                    reason: "NodeShutdown",
                },
                "Pod was rejected as the node is shutting down.",
            ),
            sample(
                "Pod was terminated in response to imminent node shutdown.",
                Scenario::PodFailed {
                    reason: "Terminated",
                },
                "Pod was terminated in response to imminent node shutdown.",
            ),
            sample(
                "Preempted in order to admit critical pod",
                Scenario::PodFailed {
                    reason: "Preempting",
                },
                "Preempted in order to admit critical pod",
            ),
        ],
    );
}

/// The API server's rejections of a controller's Pods (LimitRanger, ResourceQuota,
/// PodSecurity, ServiceAccount, admission webhooks), as FailedCreate reports them.
#[test]
fn failed_create_rejections_classify_as_mapped() {
    let fc = Scenario::FailedCreate;
    check(
        "failed_create_rejections_classify_as_mapped",
        &[
            sample(
                "pods %q is forbidden: exceeded quota: %s, requested: %s, used: %s, limited: %s",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: exceeded quota: compute, requested: limits.memory=2Gi, used: limits.memory=7Gi, limited: limits.memory=8Gi"#,
            ),
            sample(
                "pods %q is forbidden: failed quota: %s: must specify %s",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: failed quota: compute: must specify limits.memory for: app; requests.cpu for: app"#,
            ),
            sample(
                "pods %q is forbidden: insufficient quota to consume: %v",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: insufficient quota to consume: count/pods"#,
            ),
            sample(
                "pods %q is forbidden: maximum %s usage per %s is %s, but limit is %s",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi"#,
            ),
            sample(
                "pods %q is forbidden: minimum %s usage per %s is %s, but request is %s",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: minimum cpu usage per Container is 50m, but request is 10m"#,
            ),
            sample(
                "pods %q is forbidden: maximum %s usage per %s is %s.  No limit is specified",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: maximum cpu usage per Pod is 4.  No limit is specified"#,
            ),
            sample(
                "pods %q is forbidden: %s max limit to request ratio per %s is %s, but provided ratio is %f",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"#,
            ),
            sample(
                "pods %q is forbidden: maximum %s usage per %s is %s, but request is %s",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: maximum memory usage per Container is 1Gi, but request is 1536Mi"#,
            ),
            sample(
                "pods %q is forbidden: minimum %s usage per %s is %s, but limit is %s",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: minimum memory usage per Container is 64Mi, but limit is 32Mi"#,
            ),
            sample(
                "pods %q is forbidden: minimum %s usage per %s is %s.  No request is specified",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: minimum cpu usage per Container is 100m.  No request is specified"#,
            ),
            sample(
                "pods %q is forbidden: %s max limit to request ratio per %s is %s, but no request is specified or request is 0",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: memory max limit to request ratio per Container is 2, but no request is specified or request is 0"#,
            ),
            sample(
                "pods %q is forbidden: violates PodSecurity %q: %s",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
            ),
            sample(
                "pods %q is forbidden: error looking up service account %s/%s: serviceaccount %q not found",
                fc,
                r#"pods "web-7d4f9c8b6-x2k9p" is forbidden: error looking up service account shop/builder: serviceaccount "builder" not found"#,
            ),
            sample(
                "admission webhook %q denied the request: %s",
                fc,
                r#"admission webhook "validate.kyverno.svc-fail" denied the request: resource Pod/shop/web-7d4f9c8b6-x2k9p was blocked due to the following policies require-requests-limits: validate-resources: 'validation error: CPU and memory resource requests and limits are required'"#,
            ),
            sample(
                "admission webhook %q denied the request without explanation",
                fc,
                r#"admission webhook "policy.example.com" denied the request without explanation"#,
            ),
            sample(
                "Internal error occurred: failed calling webhook %q: failed to call webhook: Post %q: dial tcp %s: connect: connection refused",
                fc,
                r#"Internal error occurred: failed calling webhook "validate.kyverno.svc-fail": failed to call webhook: Post "https://kyverno-svc.kyverno.svc:443/validate/fail?timeout=10s": dial tcp 10.96.12.4:443: connect: connection refused"#,
            ),
            sample(
                "Internal error occurred: failed calling webhook %q: failed to call webhook: Post %q: context deadline exceeded",
                fc,
                r#"Internal error occurred: failed calling webhook "mpod.elbv2.k8s.aws": failed to call webhook: Post "https://aws-load-balancer-webhook-service.kube-system.svc:443/mutate-v1-pod?timeout=10s": context deadline exceeded"#,
            ),
            sample(
                "Internal error occurred: failed calling webhook %q: failed to call webhook: Post %q: tls: failed to verify certificate: x509: %s",
                fc,
                r#"Internal error occurred: failed calling webhook "webhook.cert-manager.io": failed to call webhook: Post "https://cert-manager-webhook.cert-manager.svc:443/mutate?timeout=10s": tls: failed to verify certificate: x509: certificate signed by unknown authority"#,
            ),
            sample(
                "Internal error occurred: failed calling webhook %q: failed to call webhook: Post %q: no endpoints available for service %q",
                fc,
                r#"Internal error occurred: failed calling webhook "validate.gatekeeper.sh": failed to call webhook: Post "https://gatekeeper-webhook-service.gatekeeper-system.svc:443/v1/admit?timeout=3s": no endpoints available for service "gatekeeper-webhook-service""#,
            ),
            sample(
                "failed calling webhook %q; no further details available",
                fc,
                r#"failed calling webhook "validate.policy.example.invalid"; no further details available"#,
            ),
            sample(
                "Internal error occurred: failed calling webhook %q: received invalid webhook response: %w",
                fc,
                r#"Internal error occurred: failed calling webhook "inject.istio.io": received invalid webhook response: expected response.uid="6b1e0f3a-2c4d-4e5f-8a9b-0c1d2e3f4a5b", got """#,
            ),
        ],
    );
}

/// The scheduler plugins' reasons, inside the FailedScheduling message v1.37 writes
/// (`0/N nodes are available: ...`), on the scheduling scenarios.
#[test]
fn scheduler_reasons_classify_as_mapped() {
    let on = |fixture, target| Scenario::Scheduling { fixture, target };
    check(
        "scheduler_reasons_classify_as_mapped",
        &[
            sample(
                "node(s) had untolerated taint(s)",
                on("dedicated-pool.yaml", "Deployment/ml/inference"),
                "0/5 nodes are available: 2 node(s) had untolerated taint(s), 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
            ),
            sample(
                "node(s) didn't match Pod's node affinity/selector",
                on("node-selector.yaml", "Deployment/shop/indexer"),
                "0/5 nodes are available: 1 node(s) had untolerated taint(s), 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
            ),
            sample(
                "Insufficient %v",
                on("insufficient-memory.yaml", "Deployment/shop/api"),
                "0/5 nodes are available: 2 node(s) had untolerated taint(s), 3 Insufficient memory. preemption: 0/5 nodes are available: 2 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.",
            ),
            sample(
                "node(s) didn't match pod anti-affinity rules",
                on("anti-affinity.yaml", "Deployment/shop/cache"),
                "0/5 nodes are available: 2 node(s) had untolerated taint(s), 3 node(s) didn't match pod anti-affinity rules. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
            ),
            sample(
                "node(s) didn't match PersistentVolume's node affinity",
                on("volume-zone.yaml", "StatefulSet/shop/pg"),
                "0/5 nodes are available: 2 node(s) had untolerated taint(s), 3 node(s) didn't match PersistentVolume's node affinity. preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
            ),
        ],
    );
}
