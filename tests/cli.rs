//! The offline command line (docs/reference.md), run as a real process on the example
//! snapshot `examples/shop`: output formats, exit codes, flags.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kubedx::api::DiagnosisStatus;
use serde_json::{Value, json};

const SHOP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/shop");

fn kubedx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .env("COLUMNS", "100")
        .output()
        .expect("run kubedx")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs kubedx and checks its exit code.
fn run(args: &[&str], code: i32) -> Output {
    let o = kubedx(args);
    assert_eq!(
        o.status.code(),
        Some(code),
        "kubedx {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        stdout(&o),
        stderr(&o)
    );
    o
}

fn storefront(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "diagnose",
        "deploy/storefront",
        "-n",
        "shop",
        "--snapshot",
        SHOP,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn json_of(extra: &[&str]) -> Value {
    let a = storefront(&[&["-o", "json"], extra].concat());
    let o = run(&args(&a), 0);
    serde_json::from_str(&stdout(&o)).expect("-o json prints JSON")
}

fn findings(report: &Value) -> &Vec<Value> {
    report["status"]["findings"].as_array().expect("findings")
}

fn rule_ids(report: &Value) -> Vec<&str> {
    findings(report)
        .iter()
        .map(|f| f["ruleId"].as_str().unwrap())
        .collect()
}

// ---- the CRD's status schema, to check `-o json` against ---------------------------

fn status_schema() -> Value {
    let crd: Value = serde_norway::from_str(include_str!("../crds/diagnosis.yaml")).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"].clone()
}

/// Validates a value against a structural schema (the subset the CRD uses).
fn validate(path: &str, v: &Value, schema: &Value, problems: &mut Vec<String>) {
    if v.is_null() {
        if schema["nullable"] != true {
            problems.push(format!("{path}: null where not nullable"));
        }
        return;
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        problems.push(format!("{path}: {v} not in {e:?}"));
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(o) = v.as_object() else {
                problems.push(format!("{path}: not an object"));
                return;
            };
            let props = schema["properties"].as_object();
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => validate(&format!("{path}.{k}"), x, s, problems),
                    None => problems.push(format!("{path}.{k}: not in the schema")),
                }
            }
            for r in schema["required"].as_array().into_iter().flatten() {
                if !o.contains_key(r.as_str().unwrap()) {
                    problems.push(format!("{path}.{r}: required, missing"));
                }
            }
        }
        Some("array") => match v.as_array() {
            Some(a) => {
                for (i, x) in a.iter().enumerate() {
                    validate(&format!("{path}[{i}]"), x, &schema["items"], problems);
                }
            }
            None => problems.push(format!("{path}: not an array")),
        },
        Some("string") if !v.is_string() => problems.push(format!("{path}: not a string")),
        Some("integer") if !(v.is_i64() || v.is_u64()) => {
            problems.push(format!("{path}: not an integer"))
        }
        Some("boolean") if !v.is_boolean() => problems.push(format!("{path}: not a boolean")),
        _ => {}
    }
}

// ---- output formats ---------------------------------------------------------------------

#[test]
fn json_is_one_diagnosis_report_with_the_status_schema() {
    let j = json_of(&[]);
    let keys: BTreeSet<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        BTreeSet::from(["apiVersion", "kind", "target", "status"]),
        "top level"
    );
    assert_eq!(j["apiVersion"], "kubedx.io/v1alpha1");
    assert_eq!(j["kind"], "DiagnosisReport");
    assert_eq!(
        j["target"],
        json!({"kind": "Deployment", "name": "storefront", "namespace": "shop"})
    );
    // `status` is exactly a DiagnosisStatus: it round-trips through the Rust type...
    let status: DiagnosisStatus =
        serde_json::from_value(j["status"].clone()).expect("status is a DiagnosisStatus");
    assert_eq!(serde_json::to_value(&status).unwrap(), j["status"]);
    // ...and validates against the CRD's status schema, field by field.
    let mut problems = Vec::new();
    validate("status", &j["status"], &status_schema(), &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    assert_eq!(j["status"]["phase"], "Degraded");
    assert_eq!(j["status"]["targetRef"], "Deployment/storefront");
    assert_eq!(j["status"]["lastDiagnosedTime"], "2026-03-12T14:31:05Z");
    let s = &j["status"]["summary"];
    assert!(s["critical"].as_u64().unwrap() >= 1, "{s}");
    assert!(s["objectsExamined"].as_u64().unwrap() >= 10, "{s}");
    let types: Vec<&str> = j["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["Ready", "Healthy"]);
    assert!(!j["status"]["timeline"].as_array().unwrap().is_empty());
}

/// Depends on the workload rules (src/rules/workload*): the missing ConfigMap is the
/// root cause, and the symptoms name it as their cause.
#[test]
fn the_missing_configmap_is_the_root_cause() {
    let j = json_of(&[]);
    let fs = findings(&j);
    let top = &fs[0];
    assert_eq!(
        top["ruleId"],
        "ConfigMapNotFound",
        "root cause: {:?}",
        rule_ids(&j)
    );
    assert_eq!(
        top["object"],
        json!({"apiVersion": "v1", "kind": "ConfigMap", "namespace": "shop", "name": "storefront-config"})
    );
    assert_eq!(top["rootCause"], true);
    assert_eq!(top["severity"], "Critical");
    assert!(
        j["status"]["rootCause"]
            .as_str()
            .unwrap()
            .contains("storefront-config"),
        "{}",
        j["status"]["rootCause"]
    );
    // every Warning/Critical symptom of the storefront leads back to it
    let id = top["id"].as_str().unwrap();
    let by_id: std::collections::BTreeMap<&str, &Value> =
        fs.iter().map(|f| (f["id"].as_str().unwrap(), f)).collect();
    let leads_to_root = |f: &Value| {
        let mut stack: Vec<&str> = f["causedBy"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(c) = stack.pop() {
            if c == id {
                return true;
            }
            if seen.insert(c)
                && let Some(x) = by_id.get(c)
            {
                stack.extend(
                    x["causedBy"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                );
            }
        }
        false
    };
    for rule in ["CreateContainerConfigError", "ReplicasUnavailable"] {
        let f = fs
            .iter()
            .find(|f| f["ruleId"] == rule)
            .unwrap_or_else(|| panic!("no {rule} in {:?}", rule_ids(&j)));
        assert!(
            leads_to_root(f),
            "{rule} is not explained by the missing ConfigMap: {f}"
        );
    }
    let roots_serious: Vec<&str> = fs
        .iter()
        .filter(|f| f["rootCause"] == true && f["severity"] != "Info")
        .map(|f| f["ruleId"].as_str().unwrap())
        .collect();
    assert_eq!(roots_serious, ["ConfigMapNotFound"], "other root causes");
}

#[test]
fn yaml_is_the_same_object_as_json() {
    let a = storefront(&["-o", "yaml"]);
    let o = run(&args(&a), 0);
    let y: Value = serde_norway::from_str(&stdout(&o)).expect("-o yaml prints YAML");
    assert_eq!(y, json_of(&[]));
}

#[test]
fn markdown_is_an_incident_report() {
    let a = storefront(&["-o", "markdown"]);
    let md = stdout(&run(&args(&a), 0));
    let mut last = 0;
    for h in [
        "# Deployment shop/storefront: ",
        "\n## Summary\n",
        "\n## Root cause\n",
        "\n## Evidence\n",
        "\n## Affected objects\n",
        "\n## Timeline\n",
        "\n## Next steps\n",
        "\n## Other findings\n",
    ] {
        let p = md.find(h).unwrap_or_else(|| panic!("{h:?} missing:\n{md}"));
        assert!(p >= last, "{h:?} out of order:\n{md}");
        last = p;
    }
    let section = |name: &str| {
        let start = md.find(&format!("## {name}\n")).unwrap();
        let rest = &md[start + 3..];
        let end = rest.find("\n## ").map_or(rest.len(), |e| e);
        rest[..end].to_owned()
    };
    assert!(section("Root cause").contains("storefront-config"), "{md}");
    assert!(
        section("Summary").contains("| Phase | **Degraded** |"),
        "{md}"
    );
    assert!(section("Timeline").contains("| Time | Type | Object | Reason | Message |"));
    assert!(section("Timeline").contains("configmap \"storefront-config\" not found"));
    let steps = section("Next steps");
    assert!(steps.contains("1. **ReadOnly**"), "{steps}");
    assert!(steps.contains("```sh\n   kubectl "), "{steps}");
    // steps are ordered by risk
    let order = ["ReadOnly", "Reversible", "Disruptive", "Destructive"];
    let risks: Vec<usize> = steps
        .lines()
        .filter_map(|l| order.iter().position(|r| l.contains(&format!(". **{r}**"))))
        .collect();
    assert!(risks.windows(2).all(|w| w[0] <= w[1]), "{steps}");
}

#[test]
fn table_shows_the_root_cause_first_without_colour_off_a_terminal() {
    let a = storefront(&[]);
    let out = stdout(&run(&args(&a), 0));
    assert!(
        out.starts_with("Deployment shop/storefront: Degraded · "),
        "{out}"
    );
    assert!(
        out.lines()
            .next()
            .unwrap()
            .contains("now 2026-03-12T14:31:05Z")
    );
    assert!(!out.contains('\u{1b}'), "colour on a pipe:\n{out}");
    let pos = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("{s:?} missing:\n{out}"))
    };
    assert!(pos("ROOT CAUSE") < pos("ConfigMapNotFound"));
    assert!(pos("ConfigMapNotFound") < pos("ConfigMap shop/storefront-config"));
    assert!(pos("next step (ReadOnly)") < pos("    $ kubectl "));
    assert!(pos("explains:") > pos("next step"));
    assert!(pos("explains:") < pos("ReplicasUnavailable"));
    for l in out.lines().skip(1) {
        assert!(l.chars().count() <= 100, "longer than COLUMNS=100: {l:?}");
    }
}

#[test]
fn table_of_a_healthy_target_says_healthy() {
    let o = run(
        &[
            "diagnose",
            "svc/kube-dns",
            "-n",
            "kube-system",
            "--snapshot",
            SHOP,
            "--fail-on",
            "Warning",
        ],
        0,
    );
    let out = stdout(&o);
    assert!(out.contains(": Healthy · 0 critical, 0 warning"), "{out}");
    assert!(
        out.contains("Healthy: no Warning or Critical finding"),
        "{out}"
    );
}

/// A minimal reader of the DOT this renderer writes: statements one per line.
struct Dot {
    nodes: Vec<(String, String)>,
    edges: Vec<(String, String, String)>,
}

fn parse_dot(s: &str) -> Dot {
    let mut lines = s.lines();
    assert_eq!(lines.next(), Some("digraph kubedx {"), "{s}");
    assert_eq!(s.lines().last(), Some("}"), "{s}");
    let quoted = |x: &str| -> (String, usize) {
        assert!(x.starts_with('"'), "not quoted: {x}");
        let mut out = String::new();
        let mut esc = false;
        for (i, c) in x.char_indices().skip(1) {
            if esc {
                out.push(c);
                esc = false;
            } else if c == '\\' {
                esc = true;
                out.push(c);
            } else if c == '"' {
                return (out, i + 1);
            } else {
                out.push(c);
            }
        }
        panic!("unterminated string: {x}");
    };
    let mut dot = Dot {
        nodes: Vec::new(),
        edges: Vec::new(),
    };
    for l in s.lines().skip(1) {
        let l = l.trim();
        if l == "}"
            || l.starts_with("graph [")
            || l.starts_with("node [")
            || l.starts_with("edge [")
        {
            continue;
        }
        assert!(l.ends_with("];"), "statement without attributes: {l}");
        let (a, end) = quoted(l);
        let rest = l[end..].trim_start();
        if let Some(r) = rest.strip_prefix("-> ") {
            let (b, end) = quoted(r);
            let attrs = r[end..].trim();
            assert!(attrs.starts_with('[') && attrs.ends_with("];"), "{l}");
            dot.edges.push((a, b, attrs.to_owned()));
        } else {
            assert!(rest.starts_with('[') && rest.ends_with("];"), "{l}");
            dot.nodes.push((a, rest.to_owned()));
        }
    }
    dot
}

#[test]
fn dot_is_the_object_graph_with_the_broken_edge_in_red() {
    let a = storefront(&["-o", "dot"]);
    let text = stdout(&run(&args(&a), 0));
    let dot = parse_dot(&text);
    let j = json_of(&[]);
    assert_eq!(
        dot.nodes.len() as u64,
        j["status"]["summary"]["objectsExamined"].as_u64().unwrap(),
        "one DOT node per object examined"
    );
    let ids: BTreeSet<&str> = dot.nodes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(ids.len(), dot.nodes.len(), "node ids are unique");
    for (a, b, _) in &dot.edges {
        assert!(
            ids.contains(a.as_str()) && ids.contains(b.as_str()),
            "{a} -> {b}: undeclared node"
        );
    }
    let node = |id: &str| {
        dot.nodes
            .iter()
            .find(|(n, _)| n == id)
            .map(|(_, a)| a.as_str())
            .unwrap_or_else(|| panic!("no node {id}:\n{text}"))
    };
    let missing = node("ConfigMap/shop/storefront-config");
    assert!(
        missing.contains("label=\"ConfigMap\\nstorefront-config\\n(missing)\""),
        "{missing}"
    );
    assert!(
        missing.contains("dashed") && missing.contains("color=red"),
        "{missing}"
    );
    let target = node("Deployment/shop/storefront");
    assert!(
        target.contains("penwidth=2") && target.contains("fillcolor"),
        "{target}"
    );
    assert!(
        node("ConfigMap/shop/kube-root-ca.crt")
            .starts_with("[label=\"ConfigMap\\nkube-root-ca.crt\", style=\"rounded\"]")
    );
    let broken: Vec<&(String, String, String)> = dot
        .edges
        .iter()
        .filter(|(_, b, _)| b == "ConfigMap/shop/storefront-config")
        .collect();
    assert_eq!(broken.len(), 3, "one edge per Pod to the missing ConfigMap");
    for (a, _, attrs) in broken {
        assert!(a.starts_with("Pod/shop/storefront-"), "{a}");
        assert!(
            attrs.contains("label=\"references\\n(introduced by revision 7)\"")
                && attrs.contains("color=red")
                && attrs.contains("style=bold"),
            "{attrs}"
        );
    }
    for (a, b, attrs) in &dot.edges {
        if b == "ConfigMap/shop/kube-root-ca.crt" {
            assert!(
                !attrs.contains("color=red"),
                "{a} -> {b} is not broken: {attrs}"
            );
        }
    }
    // Graphviz itself, where installed: the DOT must render.
    if let Ok(mut child) = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "dot -Tsvg failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let svg = String::from_utf8_lossy(&out.stdout);
        assert!(
            svg.contains("<svg") && svg.contains("storefront&#45;config"),
            "{svg}"
        );
    } else {
        eprintln!("graphviz `dot` not installed: checked the DOT structure only");
    }
}

// ---- exit codes ---------------------------------------------------------------------------

#[test]
fn fail_on_exits_3_when_a_finding_reaches_it() {
    let a = storefront(&["--fail-on", "Warning"]);
    let o = run(&args(&a), 3);
    assert!(
        stdout(&o).contains("ROOT CAUSE"),
        "the report is still printed"
    );
    let a = storefront(&["--fail-on", "critical", "-o", "json"]);
    run(&args(&a), 3);
    // the healthy cluster DNS: Info findings only
    let dns = [
        "diagnose",
        "svc/kube-dns",
        "-n",
        "kube-system",
        "--snapshot",
        SHOP,
    ];
    run(&[&dns[..], &["--fail-on", "Warning"]].concat(), 0);
    run(&[&dns[..], &["--fail-on", "Info"]].concat(), 3);
    run(&dns, 0);
}

#[test]
fn malformed_snapshot_exits_1_naming_file_and_document() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(SHOP).join("cluster.yaml"),
        dir.path().join("a-cluster.yaml"),
    )
    .unwrap();
    let bad = dir.path().join("b-pods.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: shop}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n",
    )
    .unwrap();
    let o = run(
        &[
            "diagnose",
            "deploy/x",
            "--snapshot",
            dir.path().to_str().unwrap(),
        ],
        1,
    );
    let err = stderr(&o);
    assert!(err.contains(&bad.display().to_string()), "{err}");
    assert!(err.contains("document 2"), "{err}");
    assert!(stdout(&o).is_empty(), "nothing on stdout: {}", stdout(&o));

    // a path that does not exist
    let o = run(
        &["diagnose", "deploy/x", "--snapshot", "/nonexistent/snap"],
        1,
    );
    assert!(stderr(&o).contains("/nonexistent/snap"), "{}", stderr(&o));
    // a directory without snapshot files
    let empty = tempfile::tempdir().unwrap();
    let o = run(
        &[
            "diagnose",
            "deploy/x",
            "--snapshot",
            empty.path().to_str().unwrap(),
        ],
        1,
    );
    assert!(stderr(&o).contains("no *.yaml"), "{}", stderr(&o));
}

#[test]
fn live_mode_without_a_reachable_cluster_exits_1_with_the_reason() {
    // no kubeconfig at all
    let o = run(
        &[
            "diagnose",
            "deploy/storefront",
            "-n",
            "shop",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ],
        1,
    );
    let err = stderr(&o);
    assert!(err.contains("kubeconfig"), "{err}");
    // a kubeconfig whose server refuses connections
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: shop}\ncurrent-context: x\n",
    )
    .unwrap();
    let o = run(
        &[
            "diagnose",
            "deploy/storefront",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ],
        1,
    );
    let err = stderr(&o);
    assert!(err.contains("cannot reach the cluster"), "{err}");
    // an unknown context is a kubeconfig error
    let o = run(
        &[
            "diagnose",
            "deploy/storefront",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--context",
            "prod",
        ],
        1,
    );
    assert!(stderr(&o).contains("kubeconfig"), "{}", stderr(&o));
}

#[test]
fn usage_errors_exit_2() {
    for a in [
        &["diagnose", "configmap/x", "--snapshot", SHOP][..],
        &["diagnose", "widget", "x", "--snapshot", SHOP],
        &["diagnose", "storefront", "--snapshot", SHOP],
        &["diagnose", "--snapshot", SHOP],
        &["diagnose", "deploy/x", "-A", "--snapshot", SHOP],
        &[
            "diagnose",
            "deploy/x",
            "--rule-sets",
            "workload,bogus",
            "--snapshot",
            SHOP,
        ],
        &[
            "diagnose",
            "deploy/x",
            "--min-severity",
            "Severe",
            "--snapshot",
            SHOP,
        ],
        &["diagnose", "deploy/x", "--fail-on", "x", "--snapshot", SHOP],
        &[
            "diagnose",
            "deploy/x",
            "--now",
            "yesterday",
            "--snapshot",
            SHOP,
        ],
        &["diagnose", "deploy/x", "-o", "xml", "--snapshot", SHOP],
        &[
            "diagnose",
            "deploy/x",
            "--expected-image",
            "app",
            "--snapshot",
            SHOP,
        ],
        &["diagnose", "deploy/x", "--bogus-flag"],
        &["rules", "-o", "yaml"],
        &["frobnicate"],
        &[],
    ] {
        let o = run(a, 2);
        assert!(
            stdout(&o).is_empty(),
            "{a:?}: usage errors print nothing on stdout"
        );
        assert!(!stderr(&o).is_empty(), "{a:?}: says why on stderr");
    }
    // the unknown kind is named
    let o = run(&["diagnose", "configmap/x", "--snapshot", SHOP], 2);
    assert!(
        stderr(&o).contains("unknown kind \"configmap\""),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_missing_target_is_a_finding_not_an_error() {
    let o = run(
        &[
            "diagnose",
            "deploy/storefrnt",
            "-n",
            "shop",
            "--snapshot",
            SHOP,
            "-o",
            "json",
        ],
        0,
    );
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rule_ids(&j), ["TargetNotFound"]);
    let f = &findings(&j)[0];
    assert!(
        f["evidence"][0].as_str().unwrap().contains("storefront"),
        "nearest names: {f}"
    );
}

// ---- flags ----------------------------------------------------------------------------------

#[test]
fn target_forms_and_kind_names_are_equivalent() {
    let base = stdout(&run(&args(&storefront(&["-o", "json"])), 0));
    for form in [
        &["diagnose", "Deployment/storefront"][..],
        &["diagnose", "DEPLOY", "storefront"],
        &["diagnose", "deployments", "storefront"],
        &["diagnose", "deployment.apps/storefront"],
    ] {
        let a = [form, &["-n", "shop", "--snapshot", SHOP, "-o", "json"][..]].concat();
        assert_eq!(stdout(&run(&a, 0)), base, "{form:?}");
    }
}

#[test]
fn now_defaults_to_the_newest_timestamp_of_the_snapshot() {
    let base = stdout(&run(&args(&storefront(&["-o", "json"])), 0));
    let same = stdout(&run(
        &args(&storefront(&[
            "-o",
            "json",
            "--now",
            "2026-03-12T14:31:05Z",
        ])),
        0,
    ));
    assert_eq!(base, same, "--now equal to the default changes nothing");
    let later: Value = serde_json::from_str(&stdout(&run(
        &args(&storefront(&[
            "-o",
            "json",
            "--now",
            "2026-03-12T16:00:00+01:00",
        ])),
        0,
    )))
    .unwrap();
    assert_eq!(later["status"]["lastDiagnosedTime"], "2026-03-12T15:00:00Z");
    // running again gives the same bytes: nothing depends on the clock
    assert_eq!(stdout(&run(&args(&storefront(&["-o", "json"])), 0)), base);
}

#[test]
fn rule_sets_limit_the_rules_evaluated() {
    let catalog: Value = serde_json::from_str(&stdout(&run(&["rules", "-o", "json"], 0))).unwrap();
    let workload_rules = catalog["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleSet"] == "workload")
        .count() as u64;
    let j = json_of(&["--rule-sets", "workload"]);
    assert_eq!(j["status"]["summary"]["rulesEvaluated"], workload_rules);
    assert!(!findings(&j).is_empty());
    for f in findings(&j) {
        assert_eq!(f["ruleSet"], "workload", "{f}");
    }
    let two = json_of(&["--rule-sets", "workload,rollout"]);
    let sets: BTreeSet<&str> = findings(&two)
        .iter()
        .map(|f| f["ruleSet"].as_str().unwrap())
        .collect();
    assert!(
        sets.is_subset(&BTreeSet::from(["workload", "rollout"])),
        "{sets:?}"
    );
    assert!(sets.contains("rollout"), "{sets:?}");
}

#[test]
fn min_severity_drops_findings_below_it() {
    let all = json_of(&[]);
    assert!(rule_ids(&all).contains(&"ImageTagMutable"));
    let j = json_of(&["--min-severity", "Warning"]);
    assert!(!findings(&j).is_empty());
    for f in findings(&j) {
        assert_ne!(f["severity"], "Info", "{f}");
    }
    assert_eq!(j["status"]["summary"]["info"], 0);
}

#[test]
fn expected_images_are_accepted() {
    let digest = format!("storefront=sha256:{}", "ab".repeat(32));
    let j = json_of(&["--expected-image", &digest, "--expected-image", &digest]);
    assert_eq!(j["status"]["phase"], "Degraded");
}

#[test]
fn diagnostics_go_to_stderr_only() {
    let a = storefront(&["-o", "json", "--logs"]);
    let o = Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args(args(&a))
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let _: Value = serde_json::from_slice(&o.stdout).expect("stdout is only the JSON");
    let err = stderr(&o);
    assert!(err.contains("snapshot loaded"), "{err}");
    assert!(err.contains("--logs: no logs/ directory"), "{err}");
}

#[test]
fn all_namespaces_merges_every_namespace_node_and_the_cluster_dns() {
    let o = run(
        &[
            "diagnose",
            "--all-namespaces",
            "--snapshot",
            SHOP,
            "-o",
            "json",
        ],
        0,
    );
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["kind"], "DiagnosisReport");
    assert_eq!(j["target"]["allNamespaces"], true);
    let targets: Vec<String> = j["target"]["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}/{}{}",
                t["kind"].as_str().unwrap(),
                t["namespace"]
                    .as_str()
                    .map(|n| format!("{n}/"))
                    .unwrap_or_default(),
                t["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            "Namespace/default",
            "Namespace/kube-system",
            "Namespace/shop",
            "Node/worker-1",
            "Node/worker-2",
            "Node/worker-3",
            "Service/kube-system/kube-dns"
        ]
    );
    let mut problems = Vec::new();
    validate("status", &j["status"], &status_schema(), &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(j["status"]["targetRef"], "all-namespaces");
    let ids: Vec<&str> = findings(&j)
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let unique: BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "findings merged by id");
    // both problems of the shop, as root causes, before any symptom
    let rules = rule_ids(&j);
    for r in ["ConfigMapNotFound", "ImagePullNotFound"] {
        let f = findings(&j)
            .iter()
            .find(|f| f["ruleId"] == r)
            .unwrap_or_else(|| panic!("no {r}: {rules:?}"));
        assert_eq!(f["rootCause"], true, "{f}");
    }
    let first_symptom = findings(&j)
        .iter()
        .position(|f| f["rootCause"] == false)
        .unwrap_or(ids.len());
    assert!(
        findings(&j)[first_symptom..]
            .iter()
            .all(|f| f["rootCause"] == false),
        "root causes first: {rules:?}"
    );
    let sev = |f: &Value| match f["severity"].as_str().unwrap() {
        "Critical" => 2,
        "Warning" => 1,
        _ => 0,
    };
    let roots: Vec<i32> = findings(&j)[..first_symptom].iter().map(sev).collect();
    assert!(
        roots.windows(2).all(|w| w[0] >= w[1]),
        "roots by severity: {rules:?}"
    );
    let s = &j["status"]["summary"];
    let count = |name: &str| {
        findings(&j)
            .iter()
            .filter(|f| f["severity"] == name)
            .count() as u64
    };
    assert_eq!(s["critical"], count("Critical"));
    assert_eq!(s["warning"], count("Warning"));
    assert_eq!(s["info"], count("Info"));

    // the other formats render the merged report too
    let table = stdout(&run(&["diagnose", "-A", "--snapshot", SHOP], 0));
    assert!(
        table.starts_with("all namespaces (3 namespaces, 3 nodes, cluster DNS): Degraded"),
        "{table}"
    );
    assert!(table.contains("OTHER ROOT CAUSE"), "{table}");
    let dot = stdout(&run(
        &["diagnose", "-A", "--snapshot", SHOP, "-o", "dot"],
        0,
    ));
    let d = parse_dot(&dot);
    assert!(
        d.nodes
            .iter()
            .any(|(n, _)| n == "Pod/shop/payments-84c6b7d9f-q5hkt")
    );
    run(&["diagnose", "-A", "--snapshot", SHOP, "-o", "markdown"], 0);
    run(
        &[
            "diagnose",
            "-A",
            "--snapshot",
            SHOP,
            "--fail-on",
            "Critical",
        ],
        3,
    );
}

#[test]
fn several_snapshot_paths_are_read_together() {
    let files: Vec<PathBuf> = [
        "cluster.yaml",
        "kube-system.yaml",
        "shop.yaml",
        "shop-events.yaml",
    ]
    .iter()
    .map(|f| Path::new(SHOP).join(f))
    .collect();
    let mut a = vec!["diagnose", "deploy/storefront", "-n", "shop", "-o", "json"];
    for f in &files {
        a.push("--snapshot");
        a.push(f.to_str().unwrap());
    }
    assert_eq!(
        stdout(&run(&a, 0)),
        stdout(&run(&args(&storefront(&["-o", "json"])), 0))
    );
}

// ---- rules, crd ---------------------------------------------------------------------------

#[test]
fn rules_lists_the_whole_catalog() {
    let j: Value = serde_json::from_str(&stdout(&run(&["rules", "-o", "json"], 0))).unwrap();
    let ids: Vec<&str> = j["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let catalog: Vec<&str> = kubedx::rules::CATALOG
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(ids, catalog);
    let first = &j["rules"][0];
    for k in ["id", "ruleSet", "severity", "layer", "summary", "explains"] {
        assert!(
            first.get(k).is_some(),
            "rules -o json: {k} missing in {first}"
        );
    }
    let table = stdout(&run(&["rules"], 0));
    let md = stdout(&run(&["rules", "-o", "markdown"], 0));
    assert!(table.starts_with("ID "), "{table}");
    for id in &catalog {
        assert!(table.contains(id), "table lacks {id}");
        assert!(md.contains(&format!("| {id} |")), "markdown lacks {id}");
    }
}

#[test]
fn crd_prints_the_committed_crd() {
    let out = stdout(&run(&["crd"], 0));
    assert_eq!(out, include_str!("../crds/diagnosis.yaml"));
}
