//! The Pod failure catalogue on the real node (Node real-1 of `testcluster up
//! --real-node`: a real kubelet v1.37 with containerd and runc): every failure
//! really happens, and kubedx must name its root cause (rule id and object)
//! through the live CLI and through the controller (a Diagnosis's
//! status.findings[0]), without an unexplained Warning beside it.
//!
//! All cases run at once, one namespace each. With `KUBEDX_RECORD_REAL=1` the
//! test also writes what the kubelet wrote (the Pods, their Events, the objects
//! they reference, the Node) to tests/fixtures/real/, normalised
//! (tests/cluster/record-real runs it): the offline tests (tests/rules_real.rs)
//! and the kwok stages' test (tests/cluster/cmd/testcluster) hold kubedx and kwok
//! to those recordings.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use support::controller::ControllerProcess;
use support::*;

const TESTBOX: &str = "localhost/kubedx/testbox:1";

/// What is diagnosed: a Pod, or a Deployment.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Pod,
    Deployment,
}

/// One failure of the catalogue.
struct Case {
    /// The Pod's (or Deployment's) name, the namespace's prefix, the recording's name.
    name: &'static str,
    target: Target,
    /// The Pod spec (without the real node's nodeSelector and toleration).
    spec: Value,
    /// Other objects of the namespace (ConfigMaps, Secrets), created first.
    extra: Vec<Value>,
    /// Whether the kubelet has shown the failure (on a Pod's JSON and the namespace's Events).
    shown: fn(&Value, &[Value]) -> Result<(), String>,
    /// The root cause: rule id and the finding's object (kind, name; "" = the Pod or Deployment's name).
    root: Option<(&'static str, &'static str, &'static str)>,
    /// Diagnose with the containers' logs (`--logs`; the controller with spec.logs).
    logs: bool,
}

fn pod_spec(containers: Value) -> Value {
    json!({"containers": containers, "terminationGracePeriodSeconds": 1})
}

fn with_init(init: Value, containers: Value) -> Value {
    json!({"initContainers": init, "containers": containers, "terminationGracePeriodSeconds": 1})
}

fn resources() -> Value {
    json!({"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}})
}

fn container(command: Value) -> Value {
    json!({"name": "app", "image": TESTBOX, "command": command, "resources": resources()})
}

// ---------------------------------------------------------------- what "shown" means

fn statuses(pod: &Value) -> Vec<&Value> {
    let s = &pod["status"];
    s["initContainerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(s["containerStatuses"].as_array().into_iter().flatten())
        .collect()
}

fn waiting(reasons: &'static [&'static str]) -> impl Fn(&Value) -> bool {
    move |pod| {
        statuses(pod).iter().any(|c| {
            c["state"]["waiting"]["reason"]
                .as_str()
                .is_some_and(|r| reasons.contains(&r))
        })
    }
}

fn event(events: &[Value], reason: &str) -> bool {
    events.iter().any(|e| e["reason"] == reason)
}

fn restarted(pod: &Value, times: i64) -> bool {
    statuses(pod)
        .iter()
        .any(|c| c["restartCount"].as_i64().unwrap_or(0) >= times)
}

fn last_exit(pod: &Value) -> Option<(i64, String)> {
    statuses(pod).iter().find_map(|c| {
        let t = &c["lastState"]["terminated"];
        Some((t["exitCode"].as_i64()?, t["reason"].as_str()?.to_string()))
    })
}

fn describe_pod(pod: &Value, events: &[Value]) -> String {
    let states: Vec<String> = statuses(pod)
        .iter()
        .map(|c| {
            format!(
                "{} restarts={} state={} last={}",
                c["name"], c["restartCount"], c["state"], c["lastState"]
            )
        })
        .collect();
    let evs: Vec<String> = events
        .iter()
        .map(|e| {
            format!(
                "{} {} x{}: {}",
                e["type"], e["reason"], e["count"], e["message"]
            )
        })
        .collect();
    format!(
        "phase={} reason={} {}\n  events:\n    {}",
        pod["status"]["phase"],
        pod["status"]["reason"],
        states.join("; "),
        evs.join("\n    ")
    )
}

fn pull_failed(pod: &Value, events: &[Value]) -> Result<(), String> {
    if waiting(&["ErrImagePull", "ImagePullBackOff"])(pod)
        && events.iter().any(|e| {
            e["reason"] == "Failed"
                && e["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Failed to pull image"))
        })
        && event(events, "BackOff")
    {
        Ok(())
    } else {
        Err("no pull failure and back-off yet".into())
    }
}

fn crash_looping(pod: &Value, _: &[Value]) -> Result<(), String> {
    if restarted(pod, 2) && last_exit(pod).is_some() {
        Ok(())
    } else {
        Err("fewer than 2 restarts".into())
    }
}

fn config_error(pod: &Value, events: &[Value]) -> Result<(), String> {
    if waiting(&["CreateContainerConfigError"])(pod) && event(events, "Failed") {
        Ok(())
    } else {
        Err("no CreateContainerConfigError yet".into())
    }
}

fn mount_failed(_: &Value, events: &[Value]) -> Result<(), String> {
    if events
        .iter()
        .any(|e| e["reason"] == "FailedMount" && e["count"].as_i64().unwrap_or(0) >= 2)
    {
        Ok(())
    } else {
        Err("no repeated FailedMount yet".into())
    }
}

fn cases(registry: &str, closed_port: u16) -> Vec<Case> {
    let present_secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db-creds"}, "type": "Opaque", "stringData": {"username": "app"}});
    vec![
        Case {
            name: "healthy",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "web",
                // pulled from the local registry: the pull path works
                "image": format!("{registry}/kubedx/web:1"),
                "command": ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 2},
                "livenessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
                "resources": resources(),
            }])),
            extra: vec![],
            shown: |pod, events| {
                let ready = pod["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                if ready && event(events, "Pulled") && event(events, "Started") {
                    Ok(())
                } else {
                    Err("not Ready yet".into())
                }
            },
            root: None,
            logs: false,
        },
        Case {
            name: "image-not-found",
            target: Target::Pod,
            spec: pod_spec(
                json!([{"name": "app", "image": format!("{registry}/kubedx/no-such-image:1"), "resources": resources()}]),
            ),
            extra: vec![],
            shown: pull_failed,
            root: Some(("ImagePullNotFound", "Pod", "")),
            logs: false,
        },
        Case {
            name: "image-unauthorized",
            target: Target::Pod,
            spec: pod_spec(
                json!([{"name": "app", "image": format!("{registry}/private/web:1"), "resources": resources()}]),
            ),
            extra: vec![],
            shown: pull_failed,
            root: Some(("ImagePullUnauthorized", "Pod", "")),
            logs: false,
        },
        Case {
            name: "registry-unreachable",
            target: Target::Pod,
            // a loopback port where nothing listens
            spec: pod_spec(
                json!([{"name": "app", "image": format!("127.0.0.1:{closed_port}/kubedx/testbox:1"), "resources": resources()}]),
            ),
            extra: vec![],
            shown: pull_failed,
            root: Some(("ImagePullNetworkError", "Pod", "")),
            logs: false,
        },
        Case {
            name: "pull-secret-missing",
            target: Target::Pod,
            spec: json!({
                "imagePullSecrets": [{"name": "registry-creds"}],
                "containers": [{"name": "app", "image": format!("{registry}/private/web:1"), "resources": resources()}],
                "terminationGracePeriodSeconds": 1,
            }),
            extra: vec![],
            shown: |pod, events| {
                pull_failed(pod, events)?;
                if event(events, "FailedToRetrieveImagePullSecret") {
                    Ok(())
                } else {
                    Err("no FailedToRetrieveImagePullSecret yet".into())
                }
            },
            root: Some(("SecretNotFound", "Secret", "registry-creds")),
            logs: false,
        },
        Case {
            name: "crash-exit-1",
            target: Target::Pod,
            spec: pod_spec(json!([container(json!([
                "sh",
                "-c",
                "echo starting; echo 'fatal: cannot open database' >&2; exit 1"
            ]))])),
            extra: vec![],
            shown: |pod, events| {
                crash_looping(pod, events)?;
                match last_exit(pod) {
                    Some((1, _)) => Ok(()),
                    other => Err(format!("last exit {other:?}")),
                }
            },
            root: Some(("ContainerCrashing", "Pod", "")),
            logs: false,
        },
        Case {
            name: "exit-zero",
            target: Target::Deployment,
            spec: pod_spec(json!([container(json!(["sh", "-c", "echo job done"]))])),
            extra: vec![],
            shown: |pod, events| {
                crash_looping(pod, events)?;
                match last_exit(pod) {
                    Some((0, _)) => Ok(()),
                    other => Err(format!("last exit {other:?}")),
                }
            },
            root: Some(("ContainerExitedZero", "ReplicaSet", "")),
            logs: false,
        },
        Case {
            name: "command-not-found",
            target: Target::Pod,
            spec: pod_spec(json!([container(json!(["kubedx-server", "--port=8080"]))])),
            extra: vec![],
            shown: |pod, _| match last_exit(pod) {
                Some((128, r)) if r == "StartError" && restarted(pod, 1) => Ok(()),
                other => Err(format!("last exit {other:?}")),
            },
            root: Some(("ContainerCommandNotFound", "Pod", "")),
            logs: false,
        },
        Case {
            name: "exec-format-error",
            target: Target::Pod,
            // a script without an interpreter line: execve fails with ENOEXEC
            spec: pod_spec(json!([container(json!(["/bin/not-an-executable"]))])),
            extra: vec![],
            shown: crash_looping,
            root: Some(("ImagePlatformMismatch", "Pod", "")),
            logs: true,
        },
        Case {
            name: "oom-killed",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX,
                "command": ["sh", "-c", "head -c 200m /dev/zero | tail"],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "32Mi"}},
            }])),
            extra: vec![],
            shown: |pod, _| match last_exit(pod) {
                Some((137, r)) if r == "OOMKilled" && restarted(pod, 2) => Ok(()),
                other => Err(format!("last exit {other:?}")),
            },
            root: Some(("ContainerOOMKilled", "Pod", "")),
            logs: false,
        },
        Case {
            name: "liveness-http",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX,
                // serves /, but the probe asks for /healthz
                "command": ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 2, "failureThreshold": 2},
                "resources": resources(),
            }])),
            extra: vec![],
            shown: |pod, events| {
                if restarted(pod, 2) && event(events, "Unhealthy") {
                    Ok(())
                } else {
                    Err("fewer than 2 liveness restarts".into())
                }
            },
            root: Some(("LivenessProbeFailing", "Pod", "")),
            logs: false,
        },
        Case {
            name: "liveness-exec",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX,
                "command": ["sleep", "3600"],
                "livenessProbe": {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 2, "failureThreshold": 2},
                "resources": resources(),
            }])),
            extra: vec![],
            shown: |pod, events| {
                if restarted(pod, 2) && event(events, "Unhealthy") {
                    Ok(())
                } else {
                    Err("fewer than 2 liveness restarts".into())
                }
            },
            root: Some(("LivenessProbeFailing", "Pod", "")),
            logs: false,
        },
        Case {
            name: "readiness",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX,
                "command": ["httpd", "-f", "-p", "8080", "-h", "/var/www"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 2},
                "resources": resources(),
            }])),
            extra: vec![],
            shown: |_, events| {
                if events.iter().any(|e| {
                    e["reason"] == "Unhealthy"
                        && e["message"]
                            .as_str()
                            .is_some_and(|m| m.contains("statuscode: 404"))
                }) {
                    Ok(())
                } else {
                    Err("no 404 readiness failure yet".into())
                }
            },
            root: Some(("ReadinessProbeFailing", "Pod", "")),
            logs: false,
        },
        Case {
            name: "startup",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX,
                // never listens on 8080
                "command": ["sleep", "3600"],
                "ports": [{"name": "http", "containerPort": 8080}],
                "startupProbe": {"tcpSocket": {"port": "http"}, "periodSeconds": 2, "failureThreshold": 2},
                "resources": resources(),
            }])),
            extra: vec![],
            shown: |pod, events| {
                if restarted(pod, 2) && event(events, "Unhealthy") {
                    Ok(())
                } else {
                    Err("fewer than 2 startup-probe restarts".into())
                }
            },
            root: Some(("StartupProbeFailing", "Pod", "")),
            logs: false,
        },
        Case {
            name: "configmap-env-missing",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX, "command": ["sleep", "3600"],
                "envFrom": [{"configMapRef": {"name": "app-config"}}],
                "resources": resources(),
            }])),
            extra: vec![],
            shown: config_error,
            root: Some(("ConfigMapNotFound", "ConfigMap", "app-config")),
            logs: false,
        },
        Case {
            name: "secret-env-missing",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX, "command": ["sleep", "3600"],
                "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}],
                "resources": resources(),
            }])),
            extra: vec![],
            shown: config_error,
            root: Some(("SecretNotFound", "Secret", "db-creds")),
            logs: false,
        },
        Case {
            name: "secret-key-missing",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX, "command": ["sleep", "3600"],
                "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}}],
                "resources": resources(),
            }])),
            extra: vec![present_secret.clone()],
            shown: config_error,
            root: Some(("SecretKeyNotFound", "Secret", "db-creds")),
            logs: false,
        },
        Case {
            name: "configmap-volume-missing",
            target: Target::Pod,
            spec: json!({
                "containers": [{"name": "app", "image": TESTBOX, "command": ["sleep", "3600"],
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}], "resources": resources()}],
                "volumes": [{"name": "config", "configMap": {"name": "app-config"}}],
                "terminationGracePeriodSeconds": 1,
            }),
            extra: vec![],
            shown: mount_failed,
            root: Some(("ConfigMapNotFound", "ConfigMap", "app-config")),
            logs: false,
        },
        Case {
            name: "secret-volume-missing",
            target: Target::Pod,
            spec: json!({
                "containers": [{"name": "app", "image": TESTBOX, "command": ["sleep", "3600"],
                    "volumeMounts": [{"name": "tls", "mountPath": "/etc/tls"}], "resources": resources()}],
                "volumes": [{"name": "tls", "secret": {"secretName": "app-tls"}}],
                "terminationGracePeriodSeconds": 1,
            }),
            extra: vec![],
            shown: mount_failed,
            root: Some(("SecretNotFound", "Secret", "app-tls")),
            logs: false,
        },
        Case {
            name: "init-container-failing",
            target: Target::Pod,
            spec: with_init(
                json!([{"name": "migrate", "image": TESTBOX, "command": ["sh", "-c", "echo 'migration failed' >&2; exit 3"], "resources": resources()}]),
                json!([container(json!(["sleep", "3600"]))]),
            ),
            extra: vec![],
            shown: |pod, _| {
                if restarted(pod, 2) && waiting(&["CrashLoopBackOff", "PodInitializing"])(pod) {
                    Ok(())
                } else {
                    Err("init container restarted fewer than 2 times".into())
                }
            },
            root: Some(("InitContainerFailing", "Pod", "")),
            logs: false,
        },
        Case {
            name: "create-container-error",
            target: Target::Pod,
            // an image with neither Entrypoint nor Cmd, and no command in the Pod
            spec: pod_spec(
                json!([{"name": "app", "image": "localhost/kubedx/testbox:nocmd", "resources": resources()}]),
            ),
            extra: vec![],
            shown: |pod, _| {
                if waiting(&["CreateContainerError"])(pod) {
                    Ok(())
                } else {
                    Err("no CreateContainerError yet".into())
                }
            },
            root: Some(("ContainerCreateFailed", "Pod", "")),
            logs: false,
        },
        Case {
            name: "ephemeral-storage",
            target: Target::Pod,
            spec: pod_spec(json!([{
                "name": "app", "image": TESTBOX,
                "command": ["sh", "-c", "dd if=/dev/zero of=/tmp/fill bs=1M count=40; sleep 3600"],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "5Mi"},
                    "limits": {"cpu": "200m", "memory": "64Mi", "ephemeral-storage": "10Mi"}},
            }])),
            extra: vec![],
            shown: |pod, _| {
                if pod["status"]["phase"] == "Failed" && pod["status"]["reason"] == "Evicted" {
                    Ok(())
                } else {
                    Err("not evicted yet".into())
                }
            },
            root: Some(("EphemeralStorageExceeded", "Pod", "")),
            logs: false,
        },
    ]
}

// ---------------------------------------------------------------- running a case

struct Env {
    kubeconfig: PathBuf,
    work: PathBuf,
}

fn on_real_node(spec: &Value) -> Value {
    let mut spec = spec.clone();
    spec["nodeSelector"] = json!({"kubedx.io/real-node": "true"});
    spec["tolerations"] =
        json!([{"key": "kubedx.io/real-node", "operator": "Exists", "effect": "NoSchedule"}]);
    spec
}

fn manifests(case: &Case, ns: &str) -> Vec<Value> {
    let mut out: Vec<Value> = case
        .extra
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o["metadata"]["namespace"] = json!(ns);
            o
        })
        .collect();
    let labels = json!({"app": case.name});
    let spec = on_real_node(&case.spec);
    out.push(match case.target {
        Target::Pod => json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": case.name, "namespace": ns, "labels": labels}, "spec": spec}),
        Target::Deployment => json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": case.name, "namespace": ns, "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": spec}}}),
    });
    out
}

fn kubectl_json(args: &[&str]) -> Result<Value, String> {
    let out = kubectl(args);
    if !out.status.success() {
        return Err(format!(
            "kubectl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The case's Pod (of the Deployment: the first) and the namespace's Events.
fn observe(case: &Case, ns: &str) -> Result<(Value, Vec<Value>), String> {
    let pods = items(&kubectl_json(&[
        "get",
        "pods",
        "-n",
        ns,
        "-l",
        &format!("app={}", case.name),
        "-o",
        "json",
    ])?);
    let pod = pods.into_iter().next().ok_or("no Pod yet")?;
    let events = items(&kubectl_json(&["get", "events", "-n", ns, "-o", "json"])?);
    Ok((pod, events))
}

fn kubedx_json(env: &Env, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_kubedx"))
        .args(args)
        .env("KUBECONFIG", &env.kubeconfig)
        .env("NO_COLOR", "1")
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "kubedx {} exited {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("kubedx output: {e}"))
}

fn is_warning(f: &Value) -> bool {
    matches!(f["severity"].as_str(), Some("Warning" | "Critical"))
}

fn summary(findings: &[Value]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "\n    {} {} {}/{} root={} causedBy={}: {}",
                f["ruleId"].as_str().unwrap_or(""),
                f["severity"].as_str().unwrap_or(""),
                f["object"]["kind"].as_str().unwrap_or(""),
                f["object"]["name"].as_str().unwrap_or(""),
                f["rootCause"],
                f["causedBy"],
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Whether the findings name the case's root cause first, and every other
/// Warning or Critical finding is explained by it (its causedBy chain reaches it).
fn judge(case: &Case, findings: &[Value]) -> Result<(), String> {
    let Some((rule, kind, name)) = case.root else {
        let loud: Vec<Value> = findings.iter().filter(|f| is_warning(f)).cloned().collect();
        return if loud.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "a healthy Pod has Warning findings:{}",
                summary(&loud)
            ))
        };
    };
    let name = if name.is_empty() { case.name } else { name };
    let top = findings.first().ok_or("no findings")?;
    let top_kind = top["object"]["kind"].as_str().unwrap_or("");
    let top_name = top["object"]["name"].as_str().unwrap_or("");
    // a Deployment's Pods are grouped under their ReplicaSet (NAME-<hash>)
    let name_ok = top_name == name
        || (case.target == Target::Deployment && top_name.starts_with(&format!("{name}-")));
    if top["ruleId"] != rule || top_kind != kind || !name_ok {
        return Err(format!(
            "root cause: want {rule} on {kind}/{name}, got:{}",
            summary(findings)
        ));
    }
    let by_id: BTreeMap<&str, &Value> = findings
        .iter()
        .filter_map(|f| Some((f["id"].as_str()?, f)))
        .collect();
    let top_id = top["id"].as_str().unwrap_or("");
    let explained = |f: &Value| {
        let mut stack: Vec<&str> = f["causedBy"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut seen = BTreeSet::new();
        while let Some(id) = stack.pop() {
            if id == top_id {
                return true;
            }
            if seen.insert(id)
                && let Some(g) = by_id.get(id)
            {
                stack.extend(
                    g["causedBy"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                );
            }
        }
        false
    };
    let unexplained: Vec<Value> = findings[1..]
        .iter()
        .filter(|f| is_warning(f) && !explained(f))
        .cloned()
        .collect();
    if unexplained.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "Warning findings the root cause {rule} does not explain:{}",
            summary(&unexplained)
        ))
    }
}

fn target_arg(case: &Case) -> String {
    match case.target {
        Target::Pod => format!("pod/{}", case.name),
        Target::Deployment => format!("deploy/{}", case.name),
    }
}

/// Waits for the failure, then asks the live CLI until its answer holds (or the
/// time is up); returns the last observation.
async fn run_cli(env: &Env, case: &Case, ns: &str) -> Result<(Value, Vec<Value>), String> {
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut last;
    loop {
        match observe(case, ns) {
            Ok((pod, events)) => match (case.shown)(&pod, &events) {
                Ok(()) => {
                    let target = target_arg(case);
                    let mut args = vec!["diagnose", target.as_str(), "-n", ns, "-o", "json"];
                    if case.logs {
                        args.push("--logs");
                    }
                    match kubedx_json(env, &args) {
                        Ok(report) => {
                            let findings = report["status"]["findings"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default();
                            match judge(case, &findings) {
                                Ok(()) => return Ok((pod, events)),
                                Err(e) => last = format!("live CLI: {e}"),
                            }
                        }
                        Err(e) => last = e,
                    }
                }
                Err(e) => last = format!("{e}: {}", describe_pod(&pod, &events)),
            },
            Err(e) => last = e,
        }
        if Instant::now() > deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn diagnosis(case: &Case) -> Value {
    let kind = match case.target {
        Target::Pod => "Pod",
        Target::Deployment => "Deployment",
    };
    let mut spec = json!({"target": {"kind": kind, "name": case.name}});
    if case.logs {
        spec["logs"] = json!({"enabled": true});
    }
    json!({"apiVersion": "kubedx.io/v1alpha1", "kind": "Diagnosis",
        "metadata": {"name": case.name}, "spec": spec})
}

async fn run_controller(env: &Env, case: &Case, ns: &str) -> Result<(), String> {
    let mut d = diagnosis(case);
    d["metadata"]["namespace"] = json!(ns);
    apply(env, &format!("{ns}-dx"), &[d])?;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last;
    loop {
        let dx = kubectl_json(&["get", "diagnosis", case.name, "-n", ns, "-o", "json"])?;
        let findings = dx["status"]["findings"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let phase = dx["status"]["phase"].as_str().unwrap_or("").to_string();
        let verdict = if case.root.is_none() && phase != "Healthy" {
            Err(format!("phase {phase:?}, want Healthy"))
        } else if phase.is_empty() || phase == "Pending" {
            Err(format!("phase {phase:?}"))
        } else {
            judge(case, &findings)
        };
        match verdict {
            Ok(()) => return Ok(()),
            Err(e) => last = format!("controller (Diagnosis {ns}/{}): {e}", case.name),
        }
        if Instant::now() > deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn apply(env: &Env, file: &str, objects: &[Value]) -> Result<(), String> {
    let path = env.work.join(format!("{file}.json"));
    let list = json!({"apiVersion": "v1", "kind": "List", "items": objects});
    std::fs::write(&path, serde_json::to_vec_pretty(&list).unwrap()).map_err(|e| e.to_string())?;
    let out = kubectl(&["apply", "-f", path.to_str().unwrap()]);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "kubectl apply {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

async fn run_case(env: &Env, case: &Case, record: Option<&Recorder>) -> Result<(), String> {
    let ns = namespace(&format!("real-{}", case.name)).await;
    let started = Instant::now();
    apply(env, &ns, &manifests(case, &ns))?;
    run_cli(env, case, &ns)
        .await
        .map_err(|e| format!("{}: {e}", case.name))?;
    let cli = started.elapsed();
    run_controller(env, case, &ns)
        .await
        .map_err(|e| format!("{}: {e}", case.name))?;
    eprintln!(
        "real_node: {} ok (live CLI after {:.0}s, controller after {:.0}s)",
        case.name,
        cli.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    if let Some(r) = record {
        r.record(case, &ns)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pod_failure_catalogue_on_the_real_node() {
    let cluster = real_node_cluster();
    let registry = cluster.env("REGISTRY").expect("REGISTRY in cluster.env");
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // bound, then closed: nothing listens there
    let env = Env {
        kubeconfig: cluster.kubeconfig.clone(),
        work: cluster.dir.join("real-node-cases"),
    };
    std::fs::create_dir_all(&env.work).unwrap();
    // logs as evidence (the exec-format case): what the chart grants with logs.enabled
    let _controller = {
        support::controller::install();
        apply(
            &env,
            "kubedx-pod-logs",
            &[
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                    "metadata": {"name": "kubedx-pod-logs"},
                    "rules": [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}]}),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": "kubedx-pod-logs"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "kubedx-pod-logs"},
                    "subjects": [{"kind": "ServiceAccount", "name": "kubedx", "namespace": "kubedx-system"}]}),
            ],
        )
        .unwrap();
        ControllerProcess::start("real-node", &["--allow-logs"])
    };
    let recorder = std::env::var_os("KUBEDX_RECORD_REAL").map(|_| Recorder {
        dir: repo_root().join("tests").join("fixtures").join("real"),
        registry: registry.clone(),
        closed_port,
    });
    let cases = cases(&registry, closed_port);
    let results = futures::future::join_all(
        cases
            .iter()
            .map(|case| run_case(&env, case, recorder.as_ref())),
    )
    .await;
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// The real node's Pods reach 198.18.0.0/15 and nothing else: a connection to the
/// machine's own address outside that range (a listener of this test) is refused
/// by the plane's iptables chain, one to the node address is not.
#[tokio::test(flavor = "multi_thread")]
async fn pods_reach_nothing_outside_the_benchmarking_range() {
    let cluster = real_node_cluster();
    // one of the machine's own global addresses outside 198.18.0.0/15
    let addrs = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .expect("ip addr");
    let host_ip = String::from_utf8_lossy(&addrs.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .split('/')
                .next()
                .map(str::to_string)
        })
        .find(|a| !a.starts_with("198.18.") && !a.starts_with("198.19."))
        .expect("a global IPv4 address of this machine");
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // answers and closes, so that nc returns at once
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let _ = std::io::Write::write_all(&mut conn, b"ok\n");
        }
    });
    let node_ip = cluster.env("REAL_NODE_IP").unwrap();
    let ns = namespace("real-egress").await;
    let script = format!(
        "if nc -w 2 {host_ip} {port} </dev/null; then echo host-reachable; else echo host-blocked; fi; \
         if nc -w 2 {node_ip} {port} </dev/null; then echo node-reachable; else echo node-blocked; fi; sleep 3600"
    );
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "egress", "namespace": ns},
        "spec": on_real_node(&pod_spec(json!([container(json!(["sh", "-c", script]))])))});
    let env = Env {
        kubeconfig: cluster.kubeconfig.clone(),
        work: cluster.dir.join("real-node-cases"),
    };
    std::fs::create_dir_all(&env.work).unwrap();
    apply(&env, &ns, &[pod]).unwrap();
    let log = eventually(
        "the egress Pod's verdicts",
        Duration::from_secs(90),
        || async {
            let out = kubectl(&["logs", "egress", "-n", &ns]);
            let log = String::from_utf8_lossy(&out.stdout).into_owned();
            if log.contains("host-") && log.contains("node-") {
                Ok(log)
            } else {
                Err(format!(
                    "log so far {log:?} {}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        },
    )
    .await;
    assert!(
        log.contains("host-blocked"),
        "a Pod reached {host_ip}:{port}: {log}"
    );
    // the node address is in the range: the listener (on 0.0.0.0) accepts it
    assert!(
        log.contains("node-reachable"),
        "a Pod could not reach the node {node_ip}:{port}: {log}"
    );
}

// ---------------------------------------------------------------- recordings

/// Writes a case's objects, normalised, to tests/fixtures/real/CASE.yaml.
struct Recorder {
    dir: PathBuf,
    registry: String,
    closed_port: u16,
}

impl Recorder {
    fn record(&self, case: &Case, ns: &str) -> Result<(), String> {
        let mut objects = Vec::new();
        let node = kubectl_json(&["get", "node", "real-1", "-o", "json"])?;
        objects.push(node);
        for kind in [
            "deployments",
            "replicasets",
            "pods",
            "configmaps",
            "secrets",
        ] {
            for o in items(&kubectl_json(&["get", kind, "-n", ns, "-o", "json"])?) {
                if kind == "configmaps" && o["metadata"]["name"] == "kube-root-ca.crt" {
                    continue;
                }
                objects.push(o);
            }
        }
        // what the cluster wrote about the Pods (not the controller's Events on its Diagnosis)
        let events = items(&kubectl_json(&["get", "events", "-n", ns, "-o", "json"])?);
        objects.extend(
            events
                .into_iter()
                .filter(|e| e["involvedObject"]["kind"] != "Diagnosis"),
        );
        // the containers' logs, where the case is diagnosed with them
        let mut logs = Vec::new();
        if case.logs {
            for pod in objects.iter().filter(|o| o["kind"] == "Pod") {
                let name = pod["metadata"]["name"].as_str().unwrap_or("");
                for c in statuses(pod) {
                    let container = c["name"].as_str().unwrap_or("");
                    for previous in [false, true] {
                        let mut args = vec!["logs", name, "-n", ns, "-c", container];
                        if previous {
                            args.push("--previous");
                        }
                        let out = kubectl(&args);
                        if out.status.success() {
                            let file = format!(
                                "{container}{}.log",
                                if previous { ".previous" } else { "" }
                            );
                            logs.push((
                                name.to_string(),
                                file,
                                String::from_utf8_lossy(&out.stdout).into_owned(),
                            ));
                        }
                    }
                }
            }
        }
        let mut normaliser = Normaliser::new(ns, &self.registry, self.closed_port, &objects);
        let logs: Vec<(String, String, String)> = logs
            .into_iter()
            .map(|(pod, file, text)| (normaliser.string(&pod), file, normaliser.string(&text)))
            .collect();
        let normalised = normaliser.run(objects);
        // a case with logs is a snapshot directory: CASE/snapshot.yaml and
        // CASE/logs/NAMESPACE/POD/CONTAINER[.previous].log
        let case_dir = self.dir.join(case.name);
        for (pod, file, text) in logs {
            let dir = case_dir.join("logs").join("real").join(&pod);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            std::fs::write(dir.join(file), text).map_err(|e| e.to_string())?;
        }
        let list = json!({"apiVersion": "v1", "kind": "List", "items": normalised});
        let yaml = serde_norway::to_string(&list).map_err(|e| e.to_string())?;
        let header = format!(
            "# Recorded on the real node (kubelet v1.37.1, containerd 1.6, runc) by\n\
             # tests/cluster/record-real: case {:?} of tests/real_node.rs. Normalised:\n\
             # namespace, uids, times (from 2026-03-01T10:00:00Z on), Pod IPs, container\n\
             # and Event ids, ports. Do not edit: record again.\n",
            case.name
        );
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        let path = if case.logs {
            case_dir.join("snapshot.yaml")
        } else {
            self.dir.join(format!("{}.yaml", case.name))
        };
        std::fs::write(&path, header + &yaml).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Replaces what differs from one run to the next by stable values.
struct Normaliser {
    replacements: Vec<(String, String)>,
    t0: Option<jiff::Timestamp>,
    uids: BTreeMap<String, String>,
    ids: BTreeMap<String, String>,
    short_ids: BTreeMap<String, String>,
    ips: BTreeMap<String, String>,
}

const BASE_TIME: &str = "2026-03-01T10:00:00Z";

impl Normaliser {
    fn new(ns: &str, registry: &str, closed_port: u16, objects: &[Value]) -> Normaliser {
        let mut replacements = vec![
            (ns.to_string(), "real".to_string()),
            (registry.to_string(), "127.0.0.1:5000".to_string()),
            (
                format!("127.0.0.1:{closed_port}"),
                "127.0.0.1:5001".to_string(),
            ),
        ];
        // generated names: the ReplicaSet's pod-template-hash and the Pods' suffixes
        for o in objects {
            if let Some(hash) = o["metadata"]["labels"]["pod-template-hash"].as_str() {
                replacements.push((hash.to_string(), "5d8f7c9b6d".to_string()));
            }
            if o["kind"] == "Pod"
                && let (Some(name), Some(base)) = (
                    o["metadata"]["name"].as_str(),
                    o["metadata"]["generateName"].as_str(),
                )
            {
                replacements.push((name.to_string(), format!("{base}x7k2q")));
            }
        }
        // longest first, so that a Pod name is replaced before its ReplicaSet's hash
        replacements.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        let mut times = Vec::new();
        for o in objects {
            collect_times(o, &mut times);
        }
        let t0 = times.into_iter().min();
        Normaliser {
            replacements,
            t0,
            uids: BTreeMap::new(),
            ids: BTreeMap::new(),
            short_ids: BTreeMap::new(),
            ips: BTreeMap::new(),
        }
    }

    fn run(&mut self, objects: Vec<Value>) -> Vec<Value> {
        objects
            .into_iter()
            .map(|mut o| {
                strip(&mut o);
                self.value(o)
            })
            .collect()
    }

    fn value(&mut self, v: Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.string(&s)),
            Value::Array(a) => Value::Array(a.into_iter().map(|x| self.value(x)).collect()),
            Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, x)| (k, self.value(x))).collect())
            }
            other => other,
        }
    }

    fn string(&mut self, s: &str) -> String {
        let mut s = s.to_string();
        for (from, to) in &self.replacements {
            s = s.replace(from.as_str(), to);
        }
        let b = s.as_bytes();
        let mut out = String::with_capacity(s.len());
        let mut i = 0;
        while i < b.len() {
            if let Some(n) = uuid_at(b, i) {
                let next = format!("00000000-0000-4000-8000-{:012}", self.uids.len() + 1);
                out.push_str(self.uids.entry(s[i..i + n].to_string()).or_insert(next));
                i += n;
            } else if let Some(n) = time_at(b, i) {
                out.push_str(&self.time(&s[i..i + n]));
                i += n;
            } else if let Some(n) = hex_at(b, i, 64) {
                if s[..i].ends_with("sha256:") {
                    out.push_str(&s[i..i + n]);
                } else {
                    let next = format!("{:064x}", self.ids.len() + 1);
                    out.push_str(self.ids.entry(s[i..i + n].to_string()).or_insert(next));
                }
                i += n;
            } else if i > 0 && b[i - 1] == b'.' && hex_at(b, i, 16).is_some() {
                // an Event's name: POD.<16 hex>
                let next = format!("{:016x}", self.short_ids.len() + 1);
                out.push_str(
                    self.short_ids
                        .entry(s[i..i + 16].to_string())
                        .or_insert(next),
                );
                i += 16;
            } else if let Some(n) = pod_ip_at(b, i) {
                let next = format!("198.19.0.{}", 10 + self.ips.len());
                out.push_str(self.ips.entry(s[i..i + n].to_string()).or_insert(next));
                i += n;
            } else {
                let ch = s[i..].chars().next().unwrap();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }

    fn time(&self, t: &str) -> String {
        let Ok(ts) = t.parse::<jiff::Timestamp>() else {
            return t.to_string();
        };
        if ts.as_second() <= 0 {
            return t.to_string(); // 1970-01-01: a StartError's startedAt
        }
        let base: jiff::Timestamp = BASE_TIME.parse().unwrap();
        let offset = self
            .t0
            .map(|t0| ts.as_second() - t0.as_second())
            .unwrap_or(0);
        let out = jiff::Timestamp::from_second(base.as_second() + offset).unwrap();
        let text = out.strftime("%Y-%m-%dT%H:%M:%S").to_string();
        if t.contains('.') {
            format!("{text}.000000Z")
        } else {
            format!("{text}Z")
        }
    }
}

fn strip(o: &mut Value) {
    if let Some(m) = o["metadata"].as_object_mut() {
        for k in ["managedFields", "resourceVersion", "selfLink"] {
            m.remove(k);
        }
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
    }
    if o["kind"] == "Node" {
        // the kubelet's port is picked free at start
        if o["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"].is_number() {
            o["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] = json!(10250);
        }
        // machine-specific and long: the images list and the host's identity
        if let Some(st) = o["status"].as_object_mut() {
            st.remove("images");
            if let Some(info) = st.get_mut("nodeInfo").and_then(Value::as_object_mut) {
                for k in ["bootID", "machineID", "systemUUID", "kernelVersion"] {
                    info.remove(k);
                }
            }
        }
        if let Some(a) = o["metadata"]["annotations"].as_object_mut() {
            a.retain(|k, _| !k.starts_with("csi.") && !k.starts_with("node.alpha"));
        }
    }
    if o["kind"] == "Secret" {
        // values never leave: keys only
        if let Some(d) = o["data"].as_object_mut() {
            for v in d.values_mut() {
                *v = json!("cmVkYWN0ZWQ=");
            }
        }
    }
}

fn collect_times(v: &Value, out: &mut Vec<jiff::Timestamp>) {
    match v {
        Value::String(s) => {
            let b = s.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if let Some(n) = time_at(b, i) {
                    if let Ok(t) = s[i..i + n].parse::<jiff::Timestamp>()
                        && t.as_second() > 0
                    {
                        out.push(t);
                    }
                    i += n;
                } else {
                    i += 1;
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_times(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_times(x, out)),
        _ => {}
    }
}

fn is_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// A run of exactly `len` lowercase hex digits at i (not part of a longer one).
fn hex_at(b: &[u8], i: usize, len: usize) -> Option<usize> {
    if i + len > b.len() || (i > 0 && is_hex(b[i - 1])) {
        return None;
    }
    if b[i..i + len].iter().all(|&c| is_hex(c)) && (i + len == b.len() || !is_hex(b[i + len])) {
        Some(len)
    } else {
        None
    }
}

fn uuid_at(b: &[u8], i: usize) -> Option<usize> {
    let groups = [8, 4, 4, 4, 12];
    if i > 0 && is_hex(b[i - 1]) {
        return None;
    }
    let mut j = i;
    for (k, g) in groups.iter().enumerate() {
        if j + g > b.len() || !b[j..j + g].iter().all(|&c| is_hex(c)) {
            return None;
        }
        j += g;
        if k < 4 {
            if b.get(j) != Some(&b'-') {
                return None;
            }
            j += 1;
        }
    }
    if j < b.len() && is_hex(b[j]) {
        return None;
    }
    Some(j - i)
}

/// An RFC 3339 UTC time at i: YYYY-MM-DDTHH:MM:SS[.fraction]Z.
fn time_at(b: &[u8], i: usize) -> Option<usize> {
    let pat = b"dddd-dd-ddTdd:dd:dd";
    if i + pat.len() > b.len() {
        return None;
    }
    for (k, &p) in pat.iter().enumerate() {
        let c = b[i + k];
        let ok = if p == b'd' {
            c.is_ascii_digit()
        } else {
            c == p
        };
        if !ok {
            return None;
        }
    }
    let mut j = i + pat.len();
    if b.get(j) == Some(&b'.') {
        j += 1;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
    }
    if b.get(j) == Some(&b'Z') {
        Some(j + 1 - i)
    } else {
        None
    }
}

/// A Pod address of the real node (198.19.0.N) at i.
fn pod_ip_at(b: &[u8], i: usize) -> Option<usize> {
    let prefix = b"198.19.0.";
    if i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
        return None;
    }
    if !b[i..].starts_with(prefix) {
        return None;
    }
    let mut j = i + prefix.len();
    let start = j;
    while j < b.len() && b[j].is_ascii_digit() {
        j += 1;
    }
    // the bridge's own address (the gateway, .1) is stable
    if j == start || &b[start..j] == b"1" {
        return None;
    }
    Some(j - i)
}
