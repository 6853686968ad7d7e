//! The generated sections of `docs/reference.md`.
//!
//! Where the code is the source, the reference is rendered from it: the CRD's
//! names, printer columns and field tables from the generated CRD (so from the
//! types and doc comments of [`crate::api`]), the command line from clap's command
//! model, the exit codes from [`crate::cli::EXIT_CODES`], the metrics from the
//! metrics registry, the kinds from [`crate::model::Kind`] and the rule ids from
//! the catalog. In the document each section sits between two markers:
//!
//! ```text
//! <!-- generated: metrics -->
//! ...
//! <!-- end generated: metrics -->
//! ```
//!
//! [`update`] re-renders every section and keeps the hand-written text around them;
//! `tests/reference.rs` fails when the committed file is not current, and
//! `KUBEDX_UPDATE_REFERENCE=1 cargo test --test reference` rewrites it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use clap::CommandFactory;
use serde_json::Value;

use crate::api::RuleSetName;
use crate::cli::{CatalogFormat, Cli, EXIT_CODES};
use crate::controller::metrics::{
    ALERT_RESULTS, ErrorKind, MetricDescription, Metrics, NOTIFICATION_RESULTS, RESULT_ERROR,
    RESULT_SUCCESS, SINK_TYPES,
};
use crate::model::Kind;
use crate::report::{Format, md_cell};

/// One generated section: its name in the markers and how it is rendered.
pub struct Section {
    pub name: &'static str,
    render: fn() -> Result<String, ReferenceError>,
}

/// The generated sections, in the order the document holds them.
pub const SECTIONS: [Section; 10] = [
    Section {
        name: "crd-resource",
        render: || Ok(crd_resource()),
    },
    Section {
        name: "crd-printer-columns",
        render: || Ok(printer_columns()),
    },
    Section {
        name: "crd-spec",
        render: || Ok(field_table(&crd_schema()["properties"]["spec"], "spec")),
    },
    Section {
        name: "crd-status",
        render: || Ok(field_table(&crd_schema()["properties"]["status"], "status")),
    },
    Section {
        name: "cli",
        render: cli,
    },
    Section {
        name: "exit-codes",
        render: || Ok(exit_codes()),
    },
    Section {
        name: "metrics",
        render: || Ok(metrics()),
    },
    Section {
        name: "metric-labels",
        render: metric_labels,
    },
    Section {
        name: "kinds",
        render: || Ok(kinds()),
    },
    Section {
        name: "rules",
        render: || Ok(rules()),
    },
];

const BEGIN: &str = "<!-- generated: ";
const END: &str = "<!-- end generated: ";
const CLOSE: &str = " -->";

/// Why the generated sections could not be rendered into a document.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("line {line}: unknown generated section {name:?} (known: {known})", known = section_names().join(", "))]
    UnknownSection { line: usize, name: String },
    #[error("line {line}: generated section {name:?} has no `{END}{name}{CLOSE}` line")]
    Unclosed { line: usize, name: String },
    #[error("line {line}: `{END}{name}{CLOSE}` closes no open section")]
    StrayEnd { line: usize, name: String },
    #[error("generated section {name:?} appears more than once")]
    Duplicate { name: String },
    #[error(
        "generated section {name:?} is missing: add `{BEGIN}{name}{CLOSE}` and `{END}{name}{CLOSE}` lines"
    )]
    Missing { name: String },
    #[error("{0}")]
    Source(String),
}

/// The names of the generated sections, in order.
pub fn section_names() -> Vec<&'static str> {
    SECTIONS.iter().map(|section| section.name).collect()
}

impl Section {
    /// The section's text between its markers (with a blank line before and after).
    pub fn body(&self) -> Result<String, ReferenceError> {
        Ok(format!("\n{}\n", (self.render)()?.trim_end()))
    }
}

/// Re-renders every generated section of `document` (the text of
/// docs/reference.md), keeping everything outside the markers as it is.
pub fn update(document: &str) -> Result<String, ReferenceError> {
    let mut out = String::with_capacity(document.len());
    let mut seen: Vec<&str> = Vec::new();
    let mut open: Option<(usize, &Section)> = None;
    for (index, line) in document.split_inclusive('\n').enumerate() {
        let number = index + 1;
        let text = line.trim_end();
        if let Some(name) = marker(text, END) {
            match open.take() {
                Some((_, section)) if section.name == name => {
                    out.push_str(&section.body()?);
                    out.push_str(line);
                }
                _ => {
                    return Err(ReferenceError::StrayEnd {
                        line: number,
                        name: name.to_owned(),
                    });
                }
            }
        } else if let Some(name) = marker(text, BEGIN) {
            if let Some((line, section)) = open {
                return Err(ReferenceError::Unclosed {
                    line,
                    name: section.name.to_owned(),
                });
            }
            let Some(section) = SECTIONS.iter().find(|section| section.name == name) else {
                return Err(ReferenceError::UnknownSection {
                    line: number,
                    name: name.to_owned(),
                });
            };
            if seen.contains(&section.name) {
                return Err(ReferenceError::Duplicate {
                    name: name.to_owned(),
                });
            }
            seen.push(section.name);
            out.push_str(line);
            open = Some((number, section));
        } else if open.is_none() {
            out.push_str(line);
        }
    }
    if let Some((line, section)) = open {
        return Err(ReferenceError::Unclosed {
            line,
            name: section.name.to_owned(),
        });
    }
    if let Some(section) = SECTIONS
        .iter()
        .find(|section| !seen.contains(&section.name))
    {
        return Err(ReferenceError::Missing {
            name: section.name.to_owned(),
        });
    }
    Ok(out)
}

/// The section name of a marker line (`<!-- generated: NAME -->`).
fn marker<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    line.strip_prefix(prefix)?.strip_suffix(CLOSE)
}

// ---- the custom resource ----

/// The generated CRD, as JSON.
fn crd() -> Value {
    use kube::CustomResourceExt;
    serde_json::to_value(crate::api::Diagnosis::crd()).expect("the CRD serializes")
}

/// The served version of the CRD (the only one).
fn crd_version() -> Value {
    crd()["spec"]["versions"][0].clone()
}

fn crd_schema() -> Value {
    crd_version()["schema"]["openAPIV3Schema"].clone()
}

fn crd_resource() -> String {
    let crd = crd();
    let spec = &crd["spec"];
    let version = crd_version();
    let names = &spec["names"];
    let short_names = strings(&names["shortNames"]);
    let subresources: Vec<&String> = version["subresources"]
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    let mut out = String::from("| | |\n|---|---|\n");
    for (what, value) in [
        (
            "apiVersion",
            format!("`{}/{}`", text(&spec["group"]), text(&version["name"])),
        ),
        ("kind", code(text(&names["kind"]))),
        (
            "plural / singular",
            format!(
                "{} / {}",
                code(text(&names["plural"])),
                code(text(&names["singular"]))
            ),
        ),
        (
            "short names",
            short_names
                .iter()
                .map(|s| code(s))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("scope", text(&spec["scope"]).to_owned()),
        (
            "subresources",
            subresources
                .iter()
                .map(|s| code(s))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("CRD object", code(text(&crd["metadata"]["name"]))),
    ] {
        let _ = writeln!(out, "| {what} | {value} |");
    }
    out
}

fn printer_columns() -> String {
    let mut out =
        String::from("| column | value | type | shown by | description |\n|---|---|---|---|---|\n");
    for column in version_array(&crd_version(), "additionalPrinterColumns") {
        let shown = match column["priority"].as_i64().unwrap_or(0) {
            0 => "`kubectl get`",
            _ => "`kubectl get -o wide`",
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {shown} | {} |",
            text(&column["name"]),
            text(&column["jsonPath"]),
            text(&column["type"]),
            md_cell(text(&column["description"])),
        );
    }
    out
}

fn version_array(version: &Value, key: &str) -> Vec<Value> {
    version[key].as_array().cloned().unwrap_or_default()
}

/// One row per field of an object schema, depth first: `spec.target.kind`,
/// `status.findings[].object.name`.
fn field_table(schema: &Value, root: &str) -> String {
    let mut out = String::from(
        "| field | type | required | default | description |\n|---|---|---|---|---|\n",
    );
    let mut rows = Vec::new();
    fields(schema, root, &mut rows);
    for row in rows {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            row.path,
            row.type_text,
            if row.required { "yes" } else { "" },
            row.default.map(|d| code(&d)).unwrap_or_default(),
            md_cell(&row.description),
        );
    }
    out
}

struct FieldRow {
    path: String,
    type_text: String,
    required: bool,
    default: Option<String>,
    description: String,
}

/// The fields of one object schema (and of the objects inside it).
fn fields(schema: &Value, path: &str, rows: &mut Vec<FieldRow>) {
    let required = strings(&schema["required"]);
    let Some(properties) = schema["properties"].as_object() else {
        return;
    };
    for (name, field) in properties {
        let field_path = format!("{path}.{name}");
        rows.push(FieldRow {
            path: field_path.clone(),
            type_text: type_text(field),
            required: required.contains(name),
            default: field.get("default").map(|d| match d {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }),
            description: text(&field["description"]).to_owned(),
        });
        if field["type"] == "array" {
            fields(&field["items"], &format!("{field_path}[]"), rows);
        } else {
            fields(field, &field_path, rows);
        }
    }
}

/// A field's type as a person reads it: `string`, `one of A, B`, `list of objects`.
fn type_text(schema: &Value) -> String {
    match text(&schema["type"]) {
        "array" => match text(&schema["items"]["type"]) {
            "object" => "list of objects".to_owned(),
            _ if schema["items"].get("enum").is_some() => {
                format!("list, each {}", type_text(&schema["items"]))
            }
            item => format!("list of {item}s"),
        },
        "string" => {
            if let Some(values) = schema.get("enum") {
                let values: Vec<String> = strings(values).iter().map(|v| code(v)).collect();
                return format!("one of {}", values.join(", "));
            }
            let mut described = String::from("string");
            if let Some(pattern) = schema["pattern"].as_str() {
                let _ = write!(described, " matching `{pattern}`");
            }
            if let (Some(min), Some(max)) =
                (schema["minLength"].as_u64(), schema["maxLength"].as_u64())
            {
                let _ = write!(described, ", {min} to {max} characters");
            }
            if schema["format"] == "date-time" {
                described = "date-time (RFC 3339)".to_owned();
            }
            described
        }
        "integer" => match (schema["minimum"].as_f64(), schema["maximum"].as_f64()) {
            (Some(min), Some(max)) => format!("integer, {min} to {max}"),
            (Some(min), None) => format!("integer ≥ {min}"),
            _ => "integer".to_owned(),
        },
        other => other.to_owned(),
    }
}

// ---- the command line ----

/// Values of flags whose parser is a function (clap's model does not know them),
/// by subcommand and argument id.
fn flag_values() -> Vec<((&'static str, &'static str), Vec<String>)> {
    let owned = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect();
    let severities = severities();
    vec![
        (
            ("diagnose", "output"),
            owned(&Format::ALL.map(Format::as_str)),
        ),
        (
            ("diagnose", "rule_sets"),
            owned(&RuleSetName::ALL.map(RuleSetName::as_str)),
        ),
        (("diagnose", "min_severity"), severities.clone()),
        (("diagnose", "fail_on"), severities),
        (
            ("rules", "output"),
            owned(&CatalogFormat::ALL.map(CatalogFormat::as_str)),
        ),
    ]
}

/// The severities, as the CRD's `spec.minSeverity` lists them.
fn severities() -> Vec<String> {
    strings(&crd_schema()["properties"]["spec"]["properties"]["minSeverity"]["enum"])
}

/// The kinds a Diagnosis can target, as the CRD's `spec.target.kind` lists them.
fn target_kinds() -> Vec<String> {
    let spec = &crd_schema()["properties"]["spec"];
    strings(&spec["properties"]["target"]["properties"]["kind"]["enum"])
}

fn cli() -> Result<String, ReferenceError> {
    let mut root = Cli::command().bin_name("kubedx");
    root.build();
    let values = flag_values();
    for ((sub, id), _) in &values {
        let found = root
            .find_subcommand(sub)
            .is_some_and(|c| c.get_arguments().any(|a| a.get_id() == *id));
        if !found {
            return Err(ReferenceError::Source(format!(
                "src/reference.rs names the values of `kubedx {sub}` argument {id:?}, which clap does not know"
            )));
        }
    }
    let mut out = String::new();
    // clap's own `help` subcommand is left out: `kubedx help X` is `kubedx X --help`
    let mut subcommands: Vec<clap::Command> = root
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .cloned()
        .collect();
    for sub in &mut subcommands {
        let name = sub.get_name().to_owned();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let usage = sub.render_usage().to_string();
        let _ = writeln!(
            out,
            "### `kubedx {name}`\n\n{about}.\n\n```text\n{}\n```\n",
            usage.trim()
        );
        let args: Vec<&clap::Arg> = sub
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"))
            .collect();
        if args.is_empty() {
            let _ = writeln!(out, "No flags.\n");
            continue;
        }
        let _ = writeln!(
            out,
            "| flag | value | default | meaning |\n|---|---|---|---|"
        );
        for arg in args {
            let id = arg.get_id().as_str();
            let mut meaning = arg
                .get_long_help()
                .or(arg.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            let possible: Vec<String> =
                match values.iter().find(|(key, _)| *key == (name.as_str(), id)) {
                    Some((_, v)) => v.clone(),
                    None => arg
                        .get_possible_values()
                        .iter()
                        .map(|v| v.get_name().to_owned())
                        .collect(),
                };
            let mut value = value_text(arg);
            if !possible.is_empty() {
                let listed: Vec<String> = possible.iter().map(|v| code(v)).collect();
                let _ = write!(value, ": {}", listed.join(", "));
            }
            if matches!(arg.get_action(), clap::ArgAction::Append) && !arg.is_positional() {
                let said = meaning.to_ascii_lowercase();
                let mut notes = Vec::new();
                if arg.get_value_delimiter().is_some() && !said.contains("comma separated") {
                    notes.push("comma separated");
                }
                if !said.contains("repeatable") {
                    notes.push("repeatable");
                }
                if !notes.is_empty() {
                    let note = notes.join("; ");
                    let _ = write!(meaning, " ({note})");
                }
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                flag_text(arg),
                value,
                arg.get_default_values()
                    .iter()
                    .map(|v| code(&v.to_string_lossy()))
                    .collect::<Vec<_>>()
                    .join(", "),
                md_cell(&meaning),
            );
        }
        out.push('\n');
    }
    Ok(out)
}

fn flag_text(arg: &clap::Arg) -> String {
    if arg.is_positional() {
        return "(positional)".to_owned();
    }
    let mut names = Vec::new();
    if let Some(short) = arg.get_short() {
        names.push(format!("`-{short}`"));
    }
    if let Some(long) = arg.get_long() {
        names.push(format!("`--{long}`"));
    }
    names.join(", ")
}

fn value_text(arg: &clap::Arg) -> String {
    let Some(count) = arg.get_num_args().filter(|n| n.takes_values()) else {
        return String::new();
    };
    let name = match arg.get_value_names() {
        Some(names) if !names.is_empty() => names
            .iter()
            .map(|n| code(n.as_str()))
            .collect::<Vec<_>>()
            .join(" "),
        _ => code(&arg.get_id().as_str().to_ascii_uppercase()),
    };
    if arg.is_positional() && count.max_values() > count.min_values() {
        return format!(
            "{name} ({} to {} words)",
            count.min_values(),
            count.max_values()
        );
    }
    name
}

fn exit_codes() -> String {
    let mut out = String::from("| code | meaning |\n|---|---|\n");
    for (code_value, meaning) in EXIT_CODES {
        let _ = writeln!(out, "| {code_value} | {} |", md_cell(meaning));
    }
    out
}

// ---- metrics ----

fn metrics() -> String {
    let mut out = String::from("| metric | type | labels | help |\n|---|---|---|---|\n");
    for metric in Metrics::new().describe() {
        let labels: Vec<String> = metric.labels.iter().map(|l| code(l)).collect();
        let internal = if metric.name.starts_with("kubedx_internal_") {
            " (internal: may change without notice)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {}{internal} |",
            metric.name,
            metric.metric_type,
            labels.join(", "),
            md_cell(&metric.help),
        );
    }
    out
}

/// The values each label takes. Every label of the registry must have an entry.
fn label_values(label: &str) -> Option<String> {
    let listed = |values: &[String]| {
        values
            .iter()
            .map(|v| code(v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let owned = |values: &[&str]| values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>();
    Some(match label {
        "namespace" => "the namespace of the Diagnosis".to_owned(),
        "diagnosis" => "the name of the Diagnosis".to_owned(),
        "severity" => listed(&severities()),
        "rule" => "a rule id (see [Rules](#rules)): the rule of an active finding".to_owned(),
        "target_kind" => listed(&target_kinds()),
        "target_name" => "the name of the Diagnosis' target".to_owned(),
        "result" => format!(
            "{} (`kubedx_reconciliations_total`); {} (`kubedx_alerts_received_total`); {} (`kubedx_notifications_total`)",
            listed(&owned(&[RESULT_SUCCESS, RESULT_ERROR])),
            listed(&owned(&ALERT_RESULTS)),
            listed(&owned(&NOTIFICATION_RESULTS)),
        ),
        "sink_type" => listed(&owned(&SINK_TYPES)),
        "error" => listed(&owned(&ErrorKind::ALL.map(ErrorKind::as_str))),
        "kind" => "a kind the controller watches (see [Kinds](#kinds))".to_owned(),
        _ => return None,
    })
}

fn metric_labels() -> Result<String, ReferenceError> {
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for MetricDescription { name, labels, .. } in Metrics::new().describe() {
        for label in labels {
            used.entry(label).or_default().push(name.clone());
        }
    }
    let mut out = String::from("| label | values | on |\n|---|---|---|\n");
    for (label, metrics) in used {
        let values = label_values(&label).ok_or_else(|| {
            ReferenceError::Source(format!(
                "metric label {label:?} has no documented value set: add it to label_values in src/reference.rs"
            ))
        })?;
        let on: Vec<String> = metrics.iter().map(|m| code(m)).collect();
        let _ = writeln!(out, "| `{label}` | {values} | {} |", on.join(", "));
    }
    Ok(out)
}

// ---- kinds and rules ----

fn kinds() -> String {
    let mut out = String::from("| kind | apiVersion | scope | target |\n|---|---|---|---|\n");
    let targets = target_kinds();
    for kind in Kind::ALL {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            kind.name(),
            kind.api_version(),
            if kind.namespaced() {
                "Namespaced"
            } else {
                "Cluster"
            },
            if targets.iter().any(|t| t == kind.name()) {
                "yes"
            } else {
                ""
            },
        );
    }
    out
}

/// Rule ids by rule set, in catalog order (the one place this module reads the catalog).
fn rule_ids() -> Vec<(RuleSetName, Vec<String>)> {
    RuleSetName::ALL
        .into_iter()
        .map(|set| {
            let ids = crate::rules::CATALOG
                .iter()
                .filter(|rule| rule.set == set)
                .map(|rule| rule.id.to_string())
                .collect();
            (set, ids)
        })
        .filter(|(_, ids): &(RuleSetName, Vec<String>)| !ids.is_empty())
        .collect()
}

fn rules() -> String {
    let sets = rule_ids();
    let total: usize = sets.iter().map(|(_, ids)| ids.len()).sum();
    let mut out = format!(
        "{total} rules in {} rule sets; [docs/rules.md](rules.md) gives each one's severity, layer, summary and what it explains.\n\n| rule set | rule ids |\n|---|---|\n",
        sets.len()
    );
    for (set, ids) in sets {
        let ids: Vec<String> = ids.iter().map(|id| code(id)).collect();
        let _ = writeln!(
            out,
            "| [`{name}`](rules.md#{name}) | {} |",
            ids.join(", "),
            name = set.as_str()
        );
    }
    out
}

// ---- helpers ----

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Inline code (the values here hold no backquote).
fn code(literal: &str) -> String {
    format!("`{literal}`")
}
