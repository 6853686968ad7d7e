//! Helpers shared by the reliability tests (`tests/reliability_*.rs`): Diagnoses,
//! workloads, Events and the apiserver's audit log.
#![allow(dead_code)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::events::v1::Event as NewEvent;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use kubedx::api::Diagnosis;

use crate::support::controller::{CONTROLLER_NAMESPACE, ControllerProcess, Identity};
use crate::support::eventually;

pub fn diagnosis(name: &str, spec: Value) -> Diagnosis {
    serde_json::from_value(json!({
        "apiVersion": "kubedx.io/v1alpha1",
        "kind": "Diagnosis",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .unwrap()
}

pub fn target(kind: &str, name: &str) -> Value {
    json!({"target": {"kind": kind, "name": name}})
}

/// A Deployment `name` with 2 replicas; `simulate` picks a kwok failure mode.
pub fn deployment(name: &str, image: &str, simulate: Option<&str>) -> Deployment {
    let mut annotations = serde_json::Map::new();
    if let Some(m) = simulate {
        annotations.insert("kubedx.io/simulate".into(), json!(m));
    }
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": image}]}
            }
        }
    }))
    .unwrap()
}

pub async fn wait_for(
    api: &Api<Diagnosis>,
    name: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&Diagnosis) -> bool,
) -> Diagnosis {
    eventually(what, timeout, || async {
        let d = api.get(name).await.map_err(|e| e.to_string())?;
        if pred(&d) {
            Ok(d)
        } else {
            Err(format!(
                "{name}: status {}",
                serde_json::to_string(&d.status).unwrap()
            ))
        }
    })
    .await
}

pub fn condition(d: &Diagnosis, type_: &str) -> Option<(String, String, String)> {
    d.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Events about Diagnoses by `diagnosis/reason`: (Event objects, occurrences counting series).
pub async fn diagnosis_events(
    events: &Api<NewEvent>,
) -> std::collections::BTreeMap<String, (usize, i32)> {
    let mut out = std::collections::BTreeMap::new();
    for e in events.list(&ListParams::default()).await.unwrap().items {
        if e.regarding.as_ref().and_then(|r| r.kind.as_deref()) != Some("Diagnosis") {
            continue;
        }
        let n = e.series.as_ref().map(|s| s.count).unwrap_or(1);
        let about = e
            .regarding
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_default();
        let key = format!("{about}/{}", e.reason.unwrap_or_default());
        let entry = out.entry(key).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += n;
    }
    out
}

/// One request of the apiserver's audit log.
#[derive(Debug, Clone)]
pub struct Audited {
    pub user: String,
    pub user_agent: String,
    pub verb: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    pub name: String,
    pub uri: String,
    pub code: i64,
    pub time: String,
    pub response_kind: String,
    pub raw: Value,
}

/// Every request of the audit log (the current file and its rotated backup).
pub fn audit(path: &std::path::Path) -> Vec<Audited> {
    let mut out = Vec::new();
    let mut files = vec![path.to_path_buf()];
    if let Some(dir) = path.parent()
        && let Ok(rd) = std::fs::read_dir(dir)
    {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with("audit-") && n.ends_with(".log") {
                files.push(e.path());
            }
        }
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let s = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            out.push(Audited {
                user: s("/user/username"),
                user_agent: s("/userAgent"),
                verb: s("/verb"),
                resource: s("/objectRef/resource"),
                subresource: s("/objectRef/subresource"),
                namespace: s("/objectRef/namespace"),
                name: s("/objectRef/name"),
                uri: s("/requestURI"),
                code: v
                    .pointer("/responseStatus/code")
                    .and_then(Value::as_i64)
                    .unwrap_or(0),
                time: s("/stageTimestamp"),
                response_kind: s("/responseObject/kind"),
                raw: v,
            });
        }
    }
    out
}

/// Lines of a controller log that report a panic.
pub fn panics(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("panicked") || l.contains("RUST_BACKTRACE"))
        .collect()
}

/// A `kubedx controller` process (`support::controller::ControllerProcess`) with
/// any kubeconfig and deploy/'s namespace, plus what the reliability tests read:
/// summed metrics, resident memory, and a stop that asserts a clean exit.
pub struct Controller {
    pub name: String,
    process: ControllerProcess,
}

impl std::ops::Deref for Controller {
    type Target = ControllerProcess;
    fn deref(&self) -> &ControllerProcess {
        &self.process
    }
}

impl Controller {
    pub fn start(name: &str, kubeconfig: &std::path::Path, extra: &[&str]) -> Controller {
        let identity = Identity {
            kubeconfig: kubeconfig.to_path_buf(),
            namespace: CONTROLLER_NAMESPACE.to_owned(),
        };
        Controller {
            name: name.to_owned(),
            process: ControllerProcess::start_as(name, &identity, extra),
        }
    }

    /// Sum of a metric's samples.
    pub fn metric(&self, name: &str) -> f64 {
        crate::support::parse_metric(&self.metrics(), name)
            .iter()
            .map(|s| s.value)
            .sum()
    }

    /// Resident memory (VmRSS) in KiB.
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Graceful stop (standard input closes, like SIGTERM); asserts a clean exit.
    pub fn stop(mut self) -> String {
        match self.process.stop() {
            Some(st) => assert!(st.success(), "controller {} exited {st}", self.name),
            None => panic!("controller {} did not stop in 20s", self.name),
        }
        self.log_text()
    }
}
