//! docs/reference.md: its generated sections are what the code says now
//! (`kubedx::reference`), its examples are valid Diagnoses, and its hand-written
//! sections name every reason, output format and error kind the code has. And the
//! repository refers only to documents inside itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn committed() -> String {
    std::fs::read_to_string(root().join("docs/reference.md")).expect("read docs/reference.md")
}

/// The document without its generated sections: what a person wrote.
fn hand_written(document: &str) -> String {
    let mut out = String::new();
    let mut generated = false;
    for line in document.lines() {
        if line.starts_with("<!-- generated: ") {
            generated = true;
        } else if line.starts_with("<!-- end generated: ") {
            generated = false;
        } else if !generated {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn generated_sections_are_current() {
    let committed = committed();
    let generated =
        kubedx::reference::update(&committed).unwrap_or_else(|e| panic!("docs/reference.md: {e}"));
    if std::env::var_os("KUBEDX_UPDATE_REFERENCE").is_some() {
        if generated != committed {
            std::fs::write(root().join("docs/reference.md"), &generated)
                .expect("write docs/reference.md");
        }
        return;
    }
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
        panic!(
            "docs/reference.md is not what the code generates (first difference at line {}).\n\
             Regenerate its generated sections with:\n\n    \
             KUBEDX_UPDATE_REFERENCE=1 cargo test --test reference\n",
            line + 1
        );
    }
}

#[test]
fn update_refuses_broken_markers() {
    use kubedx::reference::{ReferenceError, section_names, update};
    let complete: String = section_names()
        .iter()
        .map(|s| format!("<!-- generated: {s} -->\n<!-- end generated: {s} -->\n"))
        .collect();
    let filled = update(&complete).expect("every section present");
    assert!(
        filled.contains("| `kubedx_finding_active` | gauge |"),
        "{filled}"
    );
    // the text around the sections is kept, and updating twice changes nothing
    let with_prose = format!("# title\n\nprose\n{complete}tail\n");
    let once = update(&with_prose).unwrap();
    assert!(once.starts_with("# title\n\nprose\n<!-- generated: "));
    assert!(once.ends_with("-->\ntail\n"));
    assert_eq!(update(&once).unwrap(), once);

    let missing = complete.replace(
        "<!-- generated: metrics -->\n<!-- end generated: metrics -->\n",
        "",
    );
    assert_eq!(
        update(&missing),
        Err(ReferenceError::Missing {
            name: "metrics".into()
        })
    );
    let unknown = format!("{complete}<!-- generated: bogus -->\n<!-- end generated: bogus -->\n");
    assert!(matches!(
        update(&unknown),
        Err(ReferenceError::UnknownSection { name, .. }) if name == "bogus"
    ));
    let unclosed = complete.replace("<!-- end generated: cli -->\n", "");
    assert!(matches!(
        update(&unclosed),
        Err(ReferenceError::Unclosed { name, .. }) if name == "cli"
    ));
    let twice = format!("{complete}<!-- generated: cli -->\n<!-- end generated: cli -->\n");
    assert_eq!(
        update(&twice),
        Err(ReferenceError::Duplicate { name: "cli".into() })
    );
    let stray = format!("<!-- end generated: rules -->\n{complete}");
    assert!(matches!(
        update(&stray),
        Err(ReferenceError::StrayEnd { .. })
    ));
}

/// The optional fields of a schema (and of the objects in it) without a
/// `default` in the schema or a "Default:" in their description.
fn defaults_unsaid(schema: &Value, path: &str, out: &mut Vec<String>) {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, field) in schema["properties"].as_object().into_iter().flatten() {
        let field_path = format!("{path}.{name}");
        let said = field.get("default").is_some()
            || field["description"]
                .as_str()
                .is_some_and(|d| d.contains("Default:"));
        if !required.contains(&name.as_str()) && !said {
            out.push(field_path.clone());
        }
        match field["type"].as_str() {
            Some("array") => defaults_unsaid(&field["items"], &format!("{field_path}[]"), out),
            _ => defaults_unsaid(field, &field_path, out),
        }
    }
}

#[test]
fn every_optional_spec_field_states_its_default() {
    let crd: Value = serde_norway::from_str(&kubedx::cli::crd_yaml()).unwrap();
    let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
    let mut unsaid = Vec::new();
    defaults_unsaid(spec, "spec", &mut unsaid);
    assert!(
        unsaid.is_empty(),
        "say the default in the doc comment (src/api.rs) of: {}",
        unsaid.join(", ")
    );
}

/// The fenced blocks of a language in a Markdown text.
fn code_blocks<'a>(text: &'a str, language: &str) -> Vec<&'a str> {
    let fence = format!("```{language}\n");
    text.split(&fence)
        .skip(1)
        .filter_map(|rest| rest.split("\n```").next())
        .collect()
}

/// `value` without its nulls, so that it compares with what serde writes back.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Deserializes `value` as `T` and back: a field `T` does not have (a typo in the
/// reference) is lost on the way and the two differ.
fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(what: &str, value: Value) {
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("the reference's {what} example does not decode: {e}"));
    let back = without_nulls(serde_json::to_value(&typed).unwrap());
    assert_eq!(
        back,
        without_nulls(value),
        "the reference's {what} example has fields the types do not"
    );
}

#[test]
fn examples_are_valid_diagnoses() {
    let document = committed();
    let blocks = code_blocks(&document, "yaml");
    let spec = blocks
        .iter()
        .find(|b| b.contains("kind: Diagnosis"))
        .expect("a Diagnosis example");
    let spec: Value = serde_norway::from_str(spec).expect("the Diagnosis example is YAML");
    let digest = spec["spec"]["expectedImages"][0]["digest"]
        .as_str()
        .unwrap_or("");
    let hex = digest.strip_prefix("sha256:").unwrap_or("");
    assert!(
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "the example's digest {digest:?} does not match the CRD's pattern"
    );
    round_trips::<kubedx::api::Diagnosis>("Diagnosis", spec);

    let status = blocks
        .iter()
        .find(|b| b.starts_with("status:"))
        .expect("a status example");
    let status: Value = serde_norway::from_str(status).expect("the status example is YAML");
    round_trips::<kubedx::api::DiagnosisStatus>("status", status["status"].clone());
}

/// What `kubedx` prints for `args`, which must succeed.
fn kubedx(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run kubedx");
    assert!(
        out.status.success(),
        "kubedx {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn the_json_report_and_its_conditions_are_documented() {
    let prose = hand_written(&committed());
    let report: Value = serde_json::from_str(&kubedx(&[
        "diagnose",
        "deploy/storefront",
        "-n",
        "shop",
        "--snapshot",
        "examples/shop",
        "-o",
        "json",
    ]))
    .expect("the report is JSON");
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["apiVersion", "kind", "status", "target"]);
    for key in keys
        .iter()
        .copied()
        .chain(report["target"].as_object().unwrap().keys())
    {
        assert!(
            prose.contains(&format!("`{key}`")),
            "the JSON report's {key} is not in the hand-written reference"
        );
    }
    assert!(prose.contains(&format!("`{}`", report["kind"].as_str().unwrap())));
    for condition in report["status"]["conditions"].as_array().unwrap() {
        for field in ["type", "status"] {
            let value = condition[field].as_str().unwrap();
            assert!(
                prose.contains(&format!("| `{value}` |")),
                "condition {field} {value} is not in the conditions table"
            );
        }
    }
}

/// Reason-like string literals (CamelCase of two words or more) in the code, not
/// the comments or tests, of `files`.
fn reason_literals(files: &[PathBuf]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        for line in text.lines() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or("");
            for (index, piece) in code.split('"').enumerate() {
                let literal = index % 2 == 1;
                let humps = piece.chars().filter(char::is_ascii_uppercase).count();
                if literal
                    && humps >= 2
                    && piece.starts_with(|c: char| c.is_ascii_uppercase())
                    && piece.chars().all(|c| c.is_ascii_alphanumeric())
                {
                    found.insert(piece.to_owned());
                }
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_condition_and_event_reason_is_documented() {
    let prose = hand_written(&committed());
    let mut files = vec![root().join("src/engine.rs")];
    rust_files(&root().join("src/controller"), &mut files);
    let reasons = reason_literals(&files);
    // the scan finds what the controller and the engine write
    for known in [
        "FindingResolved",
        "DiagnosisHealthy",
        "InvalidSpec",
        "NoFindings",
    ] {
        assert!(reasons.contains(known), "{known} not found in {reasons:?}");
    }
    for reason in &reasons {
        assert!(
            prose.contains(&format!("`{reason}`")),
            "reason {reason} (src/controller, src/engine.rs) is not in docs/reference.md's hand-written text"
        );
    }
    assert!(prose.contains("`Diagnosed`"), "the Ready reason Diagnosed");
}

#[test]
fn every_output_format_and_error_kind_is_documented() {
    let prose = hand_written(&committed());
    for format in kubedx::report::Format::ALL {
        assert!(
            prose.contains(&format!("| `{format}` |")),
            "-o {format} has no row in the outputs table"
        );
    }
    for format in kubedx::cli::CatalogFormat::ALL {
        assert!(
            prose.contains(&format!("`{}`", format.as_str())),
            "rules -o {} is not described",
            format.as_str()
        );
    }
    for kind in kubedx::controller::metrics::ErrorKind::ALL {
        assert!(
            prose.contains(&format!("`{}`,", kind.as_str())),
            "the error kind {} is not explained",
            kind.as_str()
        );
    }
}

/// The repository's text files under `dir`.
fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            text_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn the_repository_cites_only_itself() {
    // built from pieces, so that this file does not cite them itself
    let outside = [
        ["contract", ".md"].concat(),
        ["shared", "/spec"].concat(),
        ["..", "/shared"].concat(),
        '\u{a7}'.to_string(),
        ["\\u", "00a7"].concat(),
    ];
    let spec_rules = ["rules", ".md"].concat();
    let mut files = vec![root().join("README.md")];
    for dir in [
        "src", "tests", "docs", "charts", "examples", "crds", "deploy", "benches", "scripts",
    ] {
        text_files(&root().join(dir), &mut files);
    }
    let mut problems = Vec::new();
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue; // not text
        };
        let shown = file
            .strip_prefix(root())
            .unwrap_or(file)
            .display()
            .to_string();
        let in_docs = shown.starts_with("docs/");
        for (number, line) in text.lines().enumerate() {
            let cites_outside = outside.iter().any(|needle| line.contains(needle.as_str()));
            // docs/rules.md is the repository's own: named with its directory, or by a
            // link relative to docs/ (what src/reference.rs writes into docs/reference.md)
            let cites_spec_rules = !in_docs
                && line.match_indices(spec_rules.as_str()).any(|(at, _)| {
                    let before = &line[..at];
                    !before.ends_with("docs/") && !before.ends_with("](")
                });
            if cites_outside || cites_spec_rules {
                problems.push(format!("{shown}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "these lines cite documents outside the repository; say it in the repository's \
         own words or point at docs/reference.md:\n{}",
        problems.join("\n")
    );
}
