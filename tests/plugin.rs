//! The binary as a kubectl plugin (`kubectl dx ...` through the real kubectl of the
//! test control plane), shell completions, and the generated docs: docs/rules.md
//! is `kubedx rules -o markdown`, and the README documents what ships.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn kubedx(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .output()
        .expect("run kubedx")
}

fn ok(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// kubectl of the test control plane (built from k8s.io/kubernetes by
/// tests/cluster/testcluster; built here if missing: never skipped).
fn kubectl() -> PathBuf {
    let out = std::env::var_os("KUBEDX_TESTCLUSTER_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/testcluster"));
    let bin = out.join("bin/kubectl");
    if !bin.is_file() {
        let status = Command::new(root().join("tests/cluster/testcluster"))
            .arg("build")
            .stdin(Stdio::null())
            .status()
            .expect("run tests/cluster/testcluster build");
        assert!(status.success(), "tests/cluster/testcluster build failed");
    }
    bin
}

/// A PATH directory holding the built binary as `kubectl-dx`.
fn plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kubedx"), dir.path().join("kubectl-dx"))
        .unwrap();
    dir
}

fn kubectl_with_plugin(dir: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new(kubectl())
        .args(args)
        .current_dir(root())
        .env("PATH", path)
        // no cluster is needed: nothing below may contact one
        .env("KUBECONFIG", dir.join("no-such-kubeconfig"))
        .stdin(Stdio::null())
        .output()
        .expect("run kubectl")
}

#[test]
fn works_as_a_kubectl_plugin() {
    let dir = plugin_dir();
    let list = kubectl_with_plugin(dir.path(), &["plugin", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains(&dir.path().join("kubectl-dx").display().to_string()),
        "kubectl plugin list: {listed}\n{}",
        String::from_utf8_lossy(&list.stderr)
    );

    let rules = ok(
        "kubectl dx rules",
        kubectl_with_plugin(dir.path(), &["dx", "rules"]),
    );
    assert!(rules.contains("ConfigMapNotFound"), "{rules}");
    assert!(rules.contains("PermissionDenied"), "{rules}");

    let report = ok(
        "kubectl dx diagnose",
        kubectl_with_plugin(
            dir.path(),
            &[
                "dx",
                "diagnose",
                "deploy/storefront",
                "-n",
                "shop",
                "--snapshot",
                "examples/shop",
                "-o",
                "json",
            ],
        ),
    );
    let v: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    assert_eq!(v["kind"], "DiagnosisReport");
    assert_eq!(v["status"]["findings"][0]["ruleId"], "ConfigMapNotFound");

    // usage names the plugin the way the user typed it
    let help = ok(
        "kubectl dx --help",
        kubectl_with_plugin(dir.path(), &["dx", "--help"]),
    );
    assert!(help.contains("Usage: kubectl dx"), "{help}");
    let bad = kubectl_with_plugin(dir.path(), &["dx", "diagnose"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "usage errors exit 2 through kubectl"
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("kubectl dx diagnose"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn completion_scripts_for_bash_zsh_and_fish() {
    let bash = ok("completion bash", kubedx(&["completion", "bash"]));
    assert!(bash.contains("_kubedx()"), "{bash}");
    assert!(bash.contains("complete -F _kubedx"), "{bash}");
    // bash parses it, and completing `kubedx di` offers `diagnose`
    let script = root().join("target/tmp-completion-kubedx.bash");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(&script, &bash).unwrap();
    let out = ok(
        "bash completion",
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -e; source {}; COMP_WORDS=(kubedx di); COMP_CWORD=1; COMP_LINE='kubedx di'; COMP_POINT=9; \
                 _kubedx kubedx di kubedx; printf '%s\\n' \"${{COMPREPLY[@]}}\"; \
                 COMP_WORDS=(kubedx rules -o ''); COMP_CWORD=3; _kubedx kubedx '' -o; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display()
            ))
            .output()
            .unwrap(),
    );
    let _ = std::fs::remove_file(&script);
    let words: Vec<&str> = out.lines().collect();
    assert!(words.contains(&"diagnose"), "{words:?}");

    let zsh = ok("completion zsh", kubedx(&["completion", "zsh"]));
    assert!(zsh.starts_with("#compdef kubedx"), "{zsh}");
    assert!(zsh.contains("diagnose") && zsh.contains("--snapshot"));
    let fish = ok("completion fish", kubedx(&["completion", "fish"]));
    assert!(fish.contains("complete -c kubedx"), "{fish}");
    assert!(fish.contains("controller") && fish.contains("min-severity"));

    let bad = kubedx(&["completion", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));

    // as the plugin, the script completes the plugin's own executable
    let dir = plugin_dir();
    let plugin = ok(
        "kubectl-dx completion bash",
        Command::new(dir.path().join("kubectl-dx"))
            .args(["completion", "bash"])
            .output()
            .unwrap(),
    );
    assert!(plugin.contains("kubectl-dx"), "{plugin}");
    assert!(!plugin.contains("kubectl dx()"), "{plugin}");
}

#[test]
fn docs_rules_md_is_the_generated_catalog() {
    let generated = ok(
        "kubedx rules -o markdown",
        kubedx(&["rules", "-o", "markdown"]),
    );
    let committed = std::fs::read_to_string(root().join("docs/rules.md")).unwrap_or_default();
    if generated != committed {
        let line = generated
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| generated.lines().count().min(committed.lines().count()));
        panic!(
            "docs/rules.md is not the catalog of `kubedx rules -o markdown` (first difference at line {}).\n\
             Regenerate it with:\n\n    cargo run -q -- rules -o markdown > docs/rules.md\n",
            line + 1
        );
    }
}

#[test]
fn readme_keeps_its_first_commands_and_documents_what_ships() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks: Vec<&str> = readme.split("```").collect();
    // blocks[1], blocks[3]: the first two code blocks
    assert_eq!(
        blocks[1].trim(),
        "sh\ncargo run -- diagnose deploy/storefront -n shop --snapshot examples/shop"
    );
    assert_eq!(blocks[3].trim(), "sh\nbash scripts/test.sh");
    for needle in [
        "helm install",
        "kubectl apply -f crds/ -f deploy/",
        "kubectl wait --for=condition=Ready",
        "kubectl dx",
        "kubedx completion",
        "observedGeneration",
        "minSeverity",
        "eventsOnTarget",
        "expectedImages",
        "kubedx_finding_active",
        "KubedxCriticalFinding",
        "docs/rules.md",
        "Dockerfile",
        "scripts/static-build.sh",
    ] {
        assert!(
            readme.contains(needle),
            "README.md does not mention {needle}"
        );
    }
    // every spec and status field of the CRD is in the CRD reference
    let crd: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(root().join("crds/diagnosis.yaml")).unwrap(),
    )
    .unwrap();
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"];
    for part in ["spec", "status"] {
        for field in schema[part]["properties"].as_object().unwrap().keys() {
            assert!(
                readme.contains(&format!("`{field}`")),
                "README.md's CRD reference lacks {part}.{field}"
            );
        }
    }
}
