//! The whole alerting loop with no part mocked, on the test control plane: kwok's
//! crash stage makes a Deployment's Pod crash-loop; kube-state-metrics (built from
//! its Go module) exports `kube_pod_container_status_waiting_reason`; Prometheus
//! (built from its Go module) scrapes it and the kubedx controller and evaluates the
//! chart's PrometheusRule groups plus `KubePodCrashLooping` as kube-prometheus-stack
//! writes it; Alertmanager (built from its Go module) routes the alert to kubedx's
//! receiver with the bearer token; kubedx diagnoses the Pod's Deployment and a sink
//! on loopback receives the root cause. The tools come from
//! `tests/tools/build --monitoring-only` (tests/tools/monitoring/go.mod).

mod alerting;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, PostParams};
use serde::Deserialize;
use serde_json::{Value, json};

use kubedx::api::Diagnosis;

use alerting::{Sink, free_port, token_file};
use support::controller::ControllerProcess;
use support::*;

/// `KubePodCrashLooping` as kube-prometheus-stack writes it (its
/// kubernetes-apps group; `runbook_url` left out), with a `for` of 5 s instead of
/// 15 m so that the test does not wait a quarter of an hour.
const KUBE_PROMETHEUS_STACK_RULES: &str = r#"groups:
  - name: kubernetes-apps
    rules:
      - alert: KubePodCrashLooping
        annotations:
          description: 'Pod {{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is in waiting state (reason: "CrashLoopBackOff") on cluster {{ $labels.cluster }}.'
          summary: Pod is crash looping.
        expr: max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff", job="kube-state-metrics", namespace=~".*"}[5m]) >= 1
        for: 5s
        labels:
          severity: warning
"#;

const TOKEN: &str = "loop-test-token";

/// A child process killed when dropped.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(name: &'static str, bin: &Path, args: &[String], dir: &Path) -> Process {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({}): {e}", bin.display()));
        Process { child, log }
    }

    fn log_text(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// prometheus, promtool, alertmanager and kube-state-metrics.
fn monitoring_tools() -> PathBuf {
    let status = Command::new(repo_root().join("tests/tools/build"))
        .arg("--monitoring-only")
        .stdin(Stdio::null())
        .status()
        .expect("run tests/tools/build --monitoring-only");
    assert!(
        status.success(),
        "tests/tools/build --monitoring-only failed (see above)"
    );
    std::env::var_os("KUBEDX_TOOLS_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/tools"))
        .join("bin")
}

/// The chart's PrometheusRule groups, as `helm template` renders them.
fn chart_rules(bin: &Path) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bin.join("helm"))
        .args([
            "template",
            "kubedx",
            "charts/kubedx",
            "-n",
            "kubedx-system",
            "--set",
            "prometheusRule.enabled=true",
            "--show-only",
            "templates/prometheusrule.yaml",
        ])
        .current_dir(repo_root())
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm template: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rule: Value =
        Value::deserialize(serde_norway::Deserializer::from_slice(&out.stdout)).unwrap();
    serde_norway::to_string(&rule["spec"]).unwrap()
}

/// A plain HTTP GET on loopback: the body of a 2xx answer.
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code: u16 = buf.split_whitespace().nth(1)?.parse().ok()?;
    (200..300).contains(&code).then(|| {
        buf.split_once("\r\n\r\n")
            .map(|x| x.1.to_owned())
            .unwrap_or_default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_loop_alert_from_prometheus_and_alertmanager_reaches_the_sink_as_its_root_cause() {
    let bin = monitoring_tools();
    // helm renders the chart's rules: it is among the packaging tools, in the same bin/
    let status = Command::new(repo_root().join("tests/tools/build"))
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let c = cluster();
    let dir = c.dir.join("alert-loop");
    std::fs::create_dir_all(&dir).unwrap();

    // the sink and the controller, with its receiver
    let sink = Sink::start();
    let receiver = free_port();
    let token = token_file(&dir, TOKEN);
    let ctl = ControllerProcess::start(
        "alert-loop",
        &[
            "--alert-receiver-addr",
            &format!("127.0.0.1:{receiver}"),
            "--alert-token-file",
            &token,
            "--notify-webhook",
            &sink.url("/webhook"),
            "--notify-slack",
            &sink.url("/slack"),
        ],
    );

    // kube-state-metrics on the plane
    let ksm_port = free_port();
    let ksm = Process::start(
        "kube-state-metrics",
        &bin.join("kube-state-metrics"),
        &[
            format!("--kubeconfig={}", c.kubeconfig.display()),
            "--host=127.0.0.1".into(),
            "--telemetry-host=127.0.0.1".into(),
            format!("--port={ksm_port}"),
            format!("--telemetry-port={}", free_port()),
            "--resources=pods,deployments,replicasets,jobs,statefulsets,daemonsets,nodes".into(),
        ],
        &dir,
    );

    // Alertmanager with examples/alerting/alertmanager.yaml: its route sends
    // KubePodCrashLooping to kubedx with the token; only the receiver's address and
    // the token's path are this test's, and the group waits are shortened
    let am_port = free_port();
    let example =
        std::fs::read_to_string(repo_root().join("examples/alerting/alertmanager.yaml")).unwrap();
    for needle in [
        "http://kubedx-alerts.kubedx-system.svc:9095",
        "/etc/alertmanager/secrets/kubedx-alerts/token",
        "  group_by: [alertname, namespace]\n",
    ] {
        assert!(
            example.contains(needle),
            "examples/alerting/alertmanager.yaml lacks {needle:?}"
        );
    }
    let config = example
        .replace(
            "http://kubedx-alerts.kubedx-system.svc:9095",
            &format!("http://127.0.0.1:{receiver}"),
        )
        .replace("/etc/alertmanager/secrets/kubedx-alerts/token", &token)
        .replacen(
            "  group_by: [alertname, namespace]\n",
            "  group_by: [alertname, namespace]\n  group_wait: 1s\n  group_interval: 5s\n",
            1,
        );
    std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
    let alertmanager = Process::start(
        "alertmanager",
        &bin.join("alertmanager"),
        &[
            "--config.file=alertmanager.yml".into(),
            format!("--storage.path={}", dir.join("alertmanager-data").display()),
            format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--web.external-url=http://alertmanager.invalid:9093/".into(),
            "--cluster.listen-address=".into(),
        ],
        &dir,
    );

    // Prometheus: scrapes kubedx and kube-state-metrics, evaluates the chart's
    // rules and kube-prometheus-stack's KubePodCrashLooping, alerts Alertmanager
    std::fs::write(dir.join("kubedx-rules.yaml"), chart_rules(&bin)).unwrap();
    std::fs::write(
        dir.join("kube-prometheus-stack-rules.yaml"),
        KUBE_PROMETHEUS_STACK_RULES,
    )
    .unwrap();
    let prom_port = free_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - kubedx-rules.yaml
  - kube-prometheus-stack-rules.yaml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am_port}']
scrape_configs:
  - job_name: kubedx
    static_configs:
      - targets: ['127.0.0.1:{}']
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs:
      - targets: ['127.0.0.1:{ksm_port}']
"#,
            ctl.metrics_port
        ),
    )
    .unwrap();
    let promtool = Command::new(bin.join("promtool"))
        .args(["check", "config", "prometheus.yml"])
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(
        promtool.status.success(),
        "promtool check config:\n{}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
    let prometheus = Process::start(
        "prometheus",
        &bin.join("prometheus"),
        &[
            "--config.file=prometheus.yml".into(),
            format!(
                "--storage.tsdb.path={}",
                dir.join("prometheus-data").display()
            ),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
            // the alerts' generatorURL: a name that resolves nowhere
            "--web.external-url=http://prometheus.invalid:9090/".into(),
        ],
        &dir,
    );
    for (name, port, path, process) in [
        ("kube-state-metrics", ksm_port, "/healthz", &ksm),
        ("alertmanager", am_port, "/-/ready", &alertmanager),
        ("prometheus", prom_port, "/-/ready", &prometheus),
    ] {
        eventually(
            &format!("{name} ready"),
            Duration::from_secs(60),
            || async {
                get(port, path)
                    .map(|_| ())
                    .ok_or_else(|| process.log_text())
            },
        )
        .await;
    }
    eventually("both targets scraped", Duration::from_secs(60), || async {
        let body = get(prom_port, "/api/v1/targets?state=active").ok_or("no answer")?;
        let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let up = v["data"]["activeTargets"]
            .as_array()
            .map(|t| t.iter().filter(|t| t["health"] == "up").count())
            .unwrap_or(0);
        if up == 2 { Ok(()) } else { Err(body) }
    })
    .await;
    eventually(
        "Prometheus loaded the chart's rules and KubePodCrashLooping",
        Duration::from_secs(30),
        || async {
            let body = get(prom_port, "/api/v1/rules").ok_or("no answer")?;
            if [
                "KubedxCriticalFinding",
                "KubedxDiagnosisStale",
                "KubedxReconcileErrors",
                "KubedxNotificationsFailing",
                "KubePodCrashLooping",
            ]
            .iter()
            .all(|a| body.contains(a))
            {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;

    // a Deployment whose Pod crash-loops (kwok's crash stage)
    let ns = namespace("dx-alert-loop").await;
    let client = client().await;
    let deployment: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"kubedx.io/simulate": "crash-exit-1"}},
                "spec": {"containers": [{"name": "app", "image": "registry.kubedx.invalid/shop/web:v1"}]}
            }
        }
    }))
    .unwrap();
    let t0 = Instant::now();
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &deployment)
        .await
        .unwrap();

    // the alert fires in Prometheus ...
    let fired = eventually(
        "KubePodCrashLooping firing in Prometheus",
        Duration::from_secs(180),
        || async {
            let body = get(prom_port, "/api/v1/alerts").ok_or("no answer")?;
            let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            v["data"]["alerts"]
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .find(|a| {
                            a["labels"]["alertname"] == "KubePodCrashLooping"
                                && a["labels"]["namespace"] == ns.as_str()
                                && a["state"] == "firing"
                        })
                        .cloned()
                })
                .map(|a| (a, Instant::now()))
                .ok_or(body)
        },
    )
    .await;
    let (alert, fired_at) = fired;
    let pod = alert["labels"]["pod"].as_str().unwrap().to_string();
    eprintln!(
        "alert loop: KubePodCrashLooping fired {:.1}s after the Deployment was created (pod {pod})",
        t0.elapsed().as_secs_f64()
    );

    // ... Alertmanager routes it to kubedx, which diagnoses the Deployment ...
    let dxs: Api<Diagnosis> = Api::namespaced(client.clone(), &ns);
    let d = eventually(
        "the Deployment's Diagnosis",
        Duration::from_secs(60),
        || async {
            dxs.get_opt("alert-deployment-web")
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| {
                    format!(
                        "none yet\nalertmanager: {}\ncontroller: {}",
                        alertmanager.log_text(),
                        ctl.log_text()
                            .lines()
                            .rev()
                            .take(10)
                            .collect::<Vec<_>>()
                            .join("\n")
                    )
                })
        },
    )
    .await;
    assert_eq!(
        d.annotations()
            .get("kubedx.io/alert-name")
            .map(String::as_str),
        Some("KubePodCrashLooping")
    );
    assert!(d.labels().contains_key("kubedx.io/alert-fingerprint"));

    // ... and the sinks receive the root cause with the alert that triggered it
    let n = eventually(
        "the root cause at the sink",
        Duration::from_secs(90),
        || async {
            sink.on("/webhook")
                .into_iter()
                .find(|r| r.body["diagnosis"]["namespace"] == ns.as_str())
                .ok_or_else(|| "none yet".to_string())
        },
    )
    .await;
    eprintln!(
        "alert loop: root cause at the sink {:.1}s after the alert fired in Prometheus",
        n.at.duration_since(fired_at).as_secs_f64()
    );
    let body = &n.body;
    assert_eq!(
        body["target"],
        json!({"kind": "Deployment", "namespace": ns, "name": "web"})
    );
    assert_eq!(body["alert"]["name"], "KubePodCrashLooping");
    assert_eq!(
        body["alert"]["fingerprint"],
        d.labels()["kubedx.io/alert-fingerprint"].as_str()
    );
    assert!(
        body["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://prometheus.invalid:9090/graph?g0.expr=")),
        "the alert's generatorURL: {body}"
    );
    let status = dxs
        .get("alert-deployment-web")
        .await
        .unwrap()
        .status
        .unwrap();
    let top = &status.findings[0];
    eprintln!("alert loop: root cause at the sink: {}", body["rootCause"]);
    // the crash loop itself is the root cause, as the Diagnosis reports it
    assert_eq!(body["rootCause"]["ruleId"], "ContainerCrashing", "{body}");
    assert_eq!(body["rootCause"]["ruleId"], top.rule_id.as_str());
    assert_eq!(body["rootCause"]["message"], top.message.as_str());
    // the crash, on the Deployment's ReplicaSet (or Pod), with its evidence
    assert!(
        ["ReplicaSet", "Pod"].contains(&body["rootCause"]["object"]["kind"].as_str().unwrap()),
        "{body}"
    );
    assert!(
        body["rootCause"]["evidence"]
            .to_string()
            .contains("CrashLoopBackOff"),
        "{body}"
    );
    assert!(
        body["rootCause"]["message"]
            .as_str()
            .unwrap()
            .contains("app"),
        "{body}"
    );
    let slack = eventually("the Slack message", Duration::from_secs(30), || async {
        sink.on("/slack")
            .into_iter()
            .find(|r| r.body.to_string().contains(&ns))
            .ok_or_else(|| "none yet".to_string())
    })
    .await;
    assert!(
        slack.body["blocks"]
            .to_string()
            .contains("KubePodCrashLooping")
    );
    // counted by the controller, and visible to Prometheus
    assert!(
        ctl.metric(r#"kubedx_alerts_received_total{result="diagnosed"}"#)
            .unwrap_or(0.0)
            >= 1.0
    );
    eventually(
        "Prometheus sees the notifications sent",
        Duration::from_secs(30),
        || async {
            let body = get(
                prom_port,
                "/api/v1/query?query=sum(kubedx_notifications_total%7Bresult%3D%22sent%22%7D)",
            )
            .ok_or("no answer")?;
            let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let sent: f64 = v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
            if sent >= 2.0 { Ok(()) } else { Err(body) }
        },
    )
    .await;
    drop((prometheus, alertmanager, ksm));
}
