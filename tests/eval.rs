//! The evaluation corpus (docs/evaluation.md): production-like failure cases and
//! healthy look-alikes under `tests/fixtures/cases/`, scored on the CLI's JSON report.
//!
//! Every case runs `kubedx diagnose TARGET --snapshot DIR --now T -o json [--logs]`
//! (the binary of this build, or `KUBEDX_EVAL_BIN`) and is scored as
//! `scripts/eval-corpus` scores it: found, top-1, false positive. A case passes when
//! its first Warning+ finding is an accepted answer (failure case), or when it has no
//! Warning+ finding and its expected Info findings (healthy case). Every case without
//! `known_miss` must pass, so a regression fails this test; `cargo test --test eval --
//! --nocapture` prints the table and the totals.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

/// One `expect.json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    /// One line: what is wrong (or what looks wrong and is not).
    description: String,
    /// `Kind/namespace/name`, or `Kind/name` for a cluster-scoped target.
    target: String,
    /// The `--now` of the diagnosis (RFC 3339).
    now: String,
    /// Whether the case ships container logs (`snapshot/logs/`): run with `--logs`.
    #[serde(default)]
    logs: bool,
    /// No Warning or Critical finding is the right answer.
    #[serde(default)]
    healthy: bool,
    /// The answers a senior engineer accepts as the root cause (failure cases).
    #[serde(default)]
    accept: Vec<Accept>,
    /// Rule ids that must be among the findings at any severity (healthy cases).
    #[serde(default)]
    info: Vec<String>,
    /// Why the case fails today; such a case is scored but not asserted.
    #[serde(default)]
    known_miss: Option<String>,
    /// Why an expectation is what it is.
    #[serde(default)]
    #[allow(dead_code)]
    notes: Option<String>,
}

/// An accepted root cause: the rule, on one of the objects (`Kind/name`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Accept {
    rule: String,
    objects: Vec<String>,
    /// A text the finding's message or evidence must contain (case-insensitive).
    #[serde(default)]
    mentions: Option<String>,
}

/// A case's score.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Score {
    case: String,
    healthy: bool,
    found: bool,
    top1: bool,
    false_positive: bool,
    info_ok: bool,
    pass: bool,
    first: String,
    known_miss: Option<String>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cases")
}

fn binary() -> PathBuf {
    std::env::var_os("KUBEDX_EVAL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_kubedx")))
}

fn cases() -> Vec<(String, PathBuf, Expect)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(cases_dir()).expect("tests/fixtures/cases") {
        let dir = entry.expect("a case directory").path();
        let expect_file = dir.join("expect.json");
        if !expect_file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&expect_file).expect("expect.json");
        let expect: Expect = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", expect_file.display()));
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, dir, expect));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The CLI's arguments for a case.
fn args(dir: &Path, expect: &Expect) -> Vec<String> {
    let (kind, rest) = expect.target.split_once('/').expect("Kind/...");
    let mut args = vec!["diagnose".to_owned()];
    match rest.split_once('/') {
        Some((namespace, name)) => {
            args.push(format!("{kind}/{name}"));
            args.push("-n".into());
            args.push(namespace.into());
        }
        None => args.push(format!("{kind}/{rest}")),
    }
    args.push("--snapshot".into());
    args.push(dir.join("snapshot").display().to_string());
    args.push("--now".into());
    args.push(expect.now.clone());
    args.push("-o".into());
    args.push("json".into());
    if expect.logs {
        args.push("--logs".into());
    }
    args
}

fn run(bin: &Path, dir: &Path, expect: &Expect) -> Value {
    let args = args(dir, expect);
    let out = Command::new(bin)
        .args(&args)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} {}: exit {:?}\n{}",
        bin.display(),
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a JSON DiagnosisReport")
}

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_owned()
}

fn acceptable(finding: &Value, expect: &Expect) -> bool {
    let object = &finding["object"];
    let on = format!("{}/{}", text(object, "kind"), text(object, "name"));
    let rule = text(finding, "ruleId");
    expect.accept.iter().any(|a| {
        a.rule == rule
            && a.objects.contains(&on)
            && a.mentions.as_ref().is_none_or(|m| {
                let mut all = text(finding, "message");
                for e in finding["evidence"].as_array().into_iter().flatten() {
                    all.push('\n');
                    all.push_str(e.as_str().unwrap_or(""));
                }
                all.to_lowercase().contains(&m.to_lowercase())
            })
    })
}

/// The definitions of docs/evaluation.md, on one report.
fn score(case: &str, expect: &Expect, report: &Value) -> Score {
    let findings: Vec<&Value> = report["status"]["findings"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let serious: Vec<&Value> = findings
        .iter()
        .copied()
        .filter(|f| matches!(text(f, "severity").as_str(), "Warning" | "Critical"))
        .collect();
    let first = serious.first().map(|f| {
        format!(
            "{} on {}/{}",
            text(f, "ruleId"),
            text(&f["object"], "kind"),
            text(&f["object"], "name")
        )
    });
    let info_ok = expect
        .info
        .iter()
        .all(|rule| findings.iter().any(|f| &text(f, "ruleId") == rule));
    let (found, top1, false_positive, pass) = if expect.healthy {
        let flagged = !serious.is_empty();
        (false, false, flagged, !flagged && info_ok)
    } else {
        let found = serious.iter().any(|f| acceptable(f, expect));
        let top1 = serious.first().is_some_and(|f| acceptable(f, expect));
        let wrong_first = serious.first().is_some_and(|f| !acceptable(f, expect));
        (found, top1, wrong_first, top1)
    };
    Score {
        case: case.to_owned(),
        healthy: expect.healthy,
        found,
        top1,
        false_positive,
        info_ok,
        pass,
        first: first.unwrap_or_else(|| "-".into()),
        known_miss: expect.known_miss.clone(),
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn print_table(scores: &[Score]) {
    println!(
        "{:<42} {:<7} {:<5} {:<5} {:<3} {:<5} first Warning+ finding",
        "case", "kind", "found", "top-1", "FP", "pass"
    );
    for s in scores {
        let (found, top1) = if s.healthy {
            ("-", "-")
        } else {
            (yes(s.found), yes(s.top1))
        };
        let pass = match (s.pass, &s.known_miss) {
            (true, _) => "yes",
            (false, Some(_)) => "known",
            (false, None) => "NO",
        };
        println!(
            "{:<42} {:<7} {:<5} {:<5} {:<3} {:<5} {}",
            s.case,
            if s.healthy { "healthy" } else { "failure" },
            found,
            top1,
            if s.false_positive { "FP" } else { "-" },
            pass,
            s.first
        );
    }
    let failures: Vec<&Score> = scores.iter().filter(|s| !s.healthy).collect();
    let healthy: Vec<&Score> = scores.iter().filter(|s| s.healthy).collect();
    println!(
        "\nfailure cases: {}  found: {}  top-1: {}  wrong first finding: {}",
        failures.len(),
        failures.iter().filter(|s| s.found).count(),
        failures.iter().filter(|s| s.top1).count(),
        failures.iter().filter(|s| s.false_positive).count()
    );
    println!(
        "healthy cases: {}  flagged (Warning+): {}",
        healthy.len(),
        healthy.iter().filter(|s| s.false_positive).count()
    );
    println!(
        "passing: {}/{}",
        scores.iter().filter(|s| s.pass).count(),
        scores.len()
    );
}

#[test]
fn corpus_scores_and_no_case_regresses() {
    let bin = binary();
    let cases = cases();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut scores = Vec::new();
    for (name, dir, expect) in &cases {
        assert!(!expect.description.is_empty(), "{name}: no description");
        assert_eq!(
            expect.healthy,
            expect.accept.is_empty(),
            "{name}: a failure case names what it accepts, a healthy one accepts nothing"
        );
        assert!(
            dir.join("snapshot").is_dir(),
            "{name}: no snapshot/ directory"
        );
        assert_eq!(
            expect.logs,
            dir.join("snapshot/logs").is_dir(),
            "{name}: `logs` says whether snapshot/logs/ exists"
        );
        let report = run(&bin, dir, expect);
        scores.push(score(name, expect, &report));
    }
    print_table(&scores);
    for s in scores.iter().filter(|s| s.pass && s.known_miss.is_some()) {
        println!(
            "note: {} passes now: remove its known_miss ({})",
            s.case,
            s.known_miss.as_deref().unwrap_or("")
        );
    }
    let regressions: Vec<&Score> = scores
        .iter()
        .filter(|s| !s.pass && s.known_miss.is_none())
        .collect();
    assert!(
        regressions.is_empty(),
        "cases that no longer pass: {regressions:#?}"
    );
}

/// `scripts/eval-corpus` scores what this test scores (when jq is there to run it).
#[test]
fn the_script_scores_as_this_test_does() {
    let has_jq = Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_jq {
        println!("jq is not installed: scripts/eval-corpus not compared");
        return;
    }
    let bin = binary();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/eval-corpus");
    let out = Command::new("bash")
        .arg(&script)
        .arg("--json")
        .arg(&bin)
        .arg(cases_dir())
        .output()
        .expect("bash scripts/eval-corpus");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    let cases = cases();
    assert_eq!(
        lines.len(),
        cases.len() + 1,
        "one line a case and the totals"
    );
    for ((name, dir, expect), line) in cases.iter().zip(&lines) {
        let mine = score(name, expect, &run(&bin, dir, expect));
        let theirs = Score {
            case: text(line, "case"),
            healthy: line["healthy"].as_bool().unwrap_or(false),
            found: line["found"].as_bool().unwrap_or(false),
            top1: line["top1"].as_bool().unwrap_or(false),
            false_positive: line["false_positive"].as_bool().unwrap_or(false),
            info_ok: line["info_ok"].as_bool().unwrap_or(false),
            pass: line["pass"].as_bool().unwrap_or(false),
            first: text(line, "first"),
            known_miss: line["known_miss"].as_str().map(str::to_owned),
        };
        assert_eq!(mine, theirs, "{name}");
    }
}
