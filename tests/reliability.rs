//! Hostile and odd input, and bounded output (docs/reliability.md), without a
//! cluster: owner-reference cycles, selectors that match everything, 10k Events on
//! one object, objects near the 1.5 MiB limit, deep and self-multiplying YAML, and
//! randomized inputs for the parsers (the CI part of fuzzing; `fuzz/` holds the
//! cargo-fuzz targets for longer runs). No panic, no hang, bounded output.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use kubedx::api::{DiagnosisStatus, Severity};
use kubedx::engine::{self, MAX_EVIDENCE, MAX_FINDINGS, MAX_LINE, Report};
use kubedx::rules::DiagnoseOptions;
use kubedx::store::Store;
use kubedx::testing::target;

/// The serialized status must stay far below etcd's 1.5 MiB.
const STATUS_LIMIT: usize = 256 * 1024;

/// Runs `f` on its own thread (the default 2 MiB stack of a test thread), failing
/// if it takes longer than `limit`: no hang, no stack overflow.
fn bounded<T: Send + 'static>(
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = mpsc::channel();
    let started = Instant::now();
    std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(v) => {
            eprintln!("{what}: {:?}", started.elapsed());
            v
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{what}: no answer after {limit:?}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: panicked"),
    }
}

fn load(items: Vec<Value>) -> Store {
    let text = serde_json::to_string(&json!({"apiVersion": "v1", "kind": "List", "items": items}))
        .unwrap();
    let mut store = Store::new();
    kubedx::snapshot::load_str(&text, "generated", &mut store).unwrap();
    store
}

fn diagnose(store: &Store, t: &str) -> Report {
    let opts = DiagnoseOptions::new(engine::snapshot_now(store));
    engine::diagnose(store, &target(t), &opts, None)
}

/// Asserts every bound of a status and returns its serialized size.
fn assert_bounded(what: &str, s: &DiagnosisStatus) -> usize {
    let bytes = serde_json::to_vec(s).unwrap().len();
    assert!(bytes < STATUS_LIMIT, "{what}: status of {bytes} bytes");
    assert!(s.findings.len() <= MAX_FINDINGS, "{what}");
    assert!(s.timeline.len() <= kubedx::timeline::MAX_ENTRIES, "{what}");
    for f in &s.findings {
        assert!(
            f.message.len() <= MAX_LINE,
            "{what}: message of {}",
            f.message.len()
        );
        assert!(f.evidence.len() <= MAX_EVIDENCE, "{what}");
        assert!(f.evidence.iter().all(|e| e.len() <= MAX_LINE), "{what}");
        assert!(
            f.affected.as_ref().is_none_or(|a| a.sample.len() <= 5),
            "{what}"
        );
    }
    for e in &s.timeline {
        assert!(e.message.len() <= 512 && e.reason.len() <= 128, "{what}");
    }
    if let Some(rc) = &s.root_cause {
        assert!(rc.len() <= 256, "{what}");
    }
    eprintln!(
        "{what}: {} findings, {} timeline entries, {bytes} bytes, truncated: {:?}",
        s.findings.len(),
        s.timeline.len(),
        s.summary.as_ref().and_then(|x| x.truncated.clone())
    );
    bytes
}

const T0: &str = "2026-03-01T10:00:00Z";

fn meta(name: &str, ns: &str, uid: &str) -> Value {
    json!({"name": name, "namespace": ns, "uid": uid, "creationTimestamp": T0})
}

fn owner(kind: &str, api: &str, name: &str, uid: &str) -> Value {
    json!([{"apiVersion": api, "kind": kind, "name": name, "uid": uid, "controller": true}])
}

/// A Pod failing to pull its image, with `message` as the kubelet's words.
fn failing_pod(name: &str, ns: &str, labels: Value, owners: Option<Value>, message: &str) -> Value {
    let mut m = meta(name, ns, &format!("uid-{name}"));
    m["labels"] = labels;
    if let Some(o) = owners {
        m["ownerReferences"] = o;
    }
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": m,
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "registry.example.com/app:v1"}]},
        "status": {"phase": "Pending",
            "conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": T0}],
            "containerStatuses": [{"name": "app", "image": "registry.example.com/app:v1", "imageID": "",
                "ready": false, "restartCount": 0,
                "state": {"waiting": {"reason": "ImagePullBackOff", "message": message}}}]}
    })
}

fn event(i: usize, ns: &str, kind: &str, name: &str, reason: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{i:06}"), "namespace": ns},
        "involvedObject": {"kind": kind, "name": name, "namespace": ns, "uid": format!("uid-{name}")},
        "reason": reason, "message": message, "type": "Warning", "count": 1,
        "firstTimestamp": T0,
        "lastTimestamp": format!("2026-03-01T10:{:02}:{:02}Z", (i / 60) % 60, i % 60),
        "source": {"component": "kubelet"}
    })
}

// ---- owner references that form a cycle -----------------------------------------

#[test]
fn owner_reference_cycles_terminate() {
    let report = bounded("owner cycle", Duration::from_secs(30), || {
        let ns = "loop";
        let mut pod = failing_pod(
            "p",
            ns,
            json!({"app": "x"}),
            Some(owner("Deployment", "apps/v1", "d", "uid-d")),
            "x",
        );
        pod["metadata"]["uid"] = json!("uid-p");
        let mut rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("r", ns, "uid-r"),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "app", "image": "i"}]}}}});
        rs["metadata"]["ownerReferences"] = owner("Pod", "v1", "p", "uid-p");
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("d", ns, "uid-d"),
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "app", "image": "i"}]}}}});
        d["metadata"]["ownerReferences"] = owner("ReplicaSet", "apps/v1", "r", "uid-r");
        // an object that owns itself, and two that own each other
        let mut selfish = rs.clone();
        selfish["metadata"] = meta("self", ns, "uid-self");
        selfish["metadata"]["ownerReferences"] = owner("ReplicaSet", "apps/v1", "self", "uid-self");
        let mut a = selfish.clone();
        a["metadata"] = meta("a", ns, "uid-a");
        a["metadata"]["ownerReferences"] = owner("ReplicaSet", "apps/v1", "b", "uid-b");
        let mut b = selfish.clone();
        b["metadata"] = meta("b", ns, "uid-b");
        b["metadata"]["ownerReferences"] = owner("ReplicaSet", "apps/v1", "a", "uid-a");
        let store = load(vec![pod, rs, d, selfish, a, b]);
        let mut out = Vec::new();
        for t in [
            "Deployment/loop/d",
            "ReplicaSet/loop/r",
            "Pod/loop/p",
            "ReplicaSet/loop/self",
            "ReplicaSet/loop/a",
            "Namespace/loop",
        ] {
            out.push((t, diagnose(&store, t).status));
        }
        out
    });
    for (t, s) in &report {
        assert_bounded(t, s);
    }
}

// ---- selectors that match everything ----------------------------------------------

#[test]
fn selectors_that_match_everything_stay_bounded() {
    let statuses = bounded(
        "match-everything selectors",
        Duration::from_secs(60),
        || {
            let ns = "all";
            let mut items = Vec::new();
            for i in 0..2000 {
                items.push(failing_pod(
                    &format!("pod-{i:04}"),
                    ns,
                    json!({"app": format!("a{}", i % 7)}),
                    None,
                    "rpc error: code = NotFound desc = failed to pull and unpack image",
                ));
            }
            items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("everything", ns, "uid-dep"),
            "spec": {"replicas": 3, "selector": {}, "template": {"metadata": {"labels": {}}, "spec": {"containers": [{"name": "app", "image": "i"}]}}}}));
            items.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("everything", ns, "uid-svc"),
            "spec": {"selector": {}, "ports": [{"port": 80}]}}));
            items.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("deny-all", ns, "uid-np"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}));
            items.push(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta("all", ns, "uid-pdb"),
            "spec": {"selector": {}, "maxUnavailable": 0}}));
            items.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "uid": "uid-ns"}}));
            let store = load(items);
            [
                "Deployment/all/everything",
                "Service/all/everything",
                "Namespace/all",
            ]
            .into_iter()
            .map(|t| (t, diagnose(&store, t).status))
            .collect::<Vec<_>>()
        },
    );
    for (t, s) in &statuses {
        assert_bounded(t, s);
    }
}

// ---- 10k Events on one object -------------------------------------------------------

#[test]
fn ten_thousand_events_on_one_object() {
    let s = bounded("10k events", Duration::from_secs(60), || {
        let ns = "noisy";
        let mut items = vec![failing_pod(
            "p",
            ns,
            json!({"app": "p"}),
            None,
            "pull failed",
        )];
        for i in 0..10_000 {
            items.push(event(
                i,
                ns,
                "Pod",
                "p",
                &format!("Reason{}{}", i % 50, "R".repeat(200)),
                &format!("{i}: {}", "m".repeat(900)),
            ));
        }
        let store = load(items);
        diagnose(&store, "Pod/noisy/p").status
    });
    assert_bounded("10k events", &s);
    assert_eq!(s.timeline.len(), kubedx::timeline::MAX_ENTRIES);
    assert!(
        s.summary
            .as_ref()
            .unwrap()
            .truncated
            .as_deref()
            .unwrap_or("")
            .contains("timeline")
    );
}

// ---- objects near the 1.5 MiB limit -------------------------------------------------

#[test]
fn objects_near_the_size_limit() {
    let s = bounded("1.4 MiB objects", Duration::from_secs(60), || {
        let ns = "big";
        let huge = "x".repeat(1400 * 1024);
        let mut pod = failing_pod("p", ns, json!({"app": "p"}), None, &huge);
        pod["metadata"]["annotations"] = json!({"big": huge});
        pod["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]);
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg", ns, "uid-cfg"), "data": {"k": huge}});
        let ev = event(
            0,
            ns,
            "Pod",
            "p",
            "Failed",
            &format!("Failed to pull image \"{huge}\": {huge}"),
        );
        let store = load(vec![pod, cm, ev]);
        diagnose(&store, "Pod/big/p").status
    });
    let bytes = assert_bounded("1.4 MiB objects", &s);
    assert!(bytes < 64 * 1024, "{bytes}");
}

// ---- deep and huge YAML / JSON ------------------------------------------------------

fn load_text(what: &str, text: String) -> Result<(), String> {
    bounded(what, Duration::from_secs(30), move || {
        let mut store = Store::new();
        kubedx::snapshot::load_str(&text, "hostile.yaml", &mut store)
            .map(|_| ())
            .map_err(|e| kubedx::text::clip(&e.to_string(), 300))
    })
}

#[test]
fn deep_and_self_multiplying_documents_are_refused_without_a_crash() {
    for (what, text) in [
        ("deep YAML flow sequence", "[".repeat(200_000)),
        ("deep YAML flow mapping", "{a: ".repeat(100_000)),
        (
            "deep YAML block mapping",
            (0..5_000)
                .map(|i| format!("{}a:\n", " ".repeat(i)))
                .collect(),
        ),
        ("deep JSON", format!("{{\"kind\": {}", "[".repeat(200_000))),
        ("deep JSON object", "{\"a\":".repeat(200_000)),
    ] {
        let r = load_text(what, text);
        eprintln!("{what}: {r:?}");
        assert!(r.is_err(), "{what} was accepted");
    }
    // billion laughs: 9 levels of 9 aliases each would expand to 9^9 strings
    let mut laughs = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol, namespace: x}\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for w in names.windows(2) {
        let (prev, next) = (w[0], w[1]);
        laughs.push_str(&format!(
            "  {next}: &{next} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    let r = load_text("billion laughs", laughs);
    eprintln!("billion laughs: {r:?}");
    assert!(r.is_err(), "the alias bomb was expanded");
    // many documents and a long line are fine, and bounded in time
    let many: String = (0..20_000)
        .map(|i| {
            format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}, namespace: x}}\n"
            )
        })
        .collect();
    assert!(load_text("20k documents", many).is_ok());
}

// ---- bounded output of a pathological namespace --------------------------------------

#[test]
fn a_pathological_namespace_gives_a_bounded_status() {
    let (s, findings_before_cut) = bounded(
        "pathological namespace",
        Duration::from_secs(120),
        || {
            let ns = "chaos";
            let mut items = vec![
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "uid": "uid-ns"}}),
            ];
            let long = "why ".repeat(20_000);
            for d in 0..300 {
                let name = format!("deploy-{d:03}-{}", "n".repeat(40));
                let labels = json!({"app": name.clone()});
                items.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(&name, ns, &format!("uid-{name}")),
                "spec": {"replicas": 2, "selector": {"matchLabels": labels.clone()},
                    "template": {"metadata": {"labels": labels.clone()}, "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:v1"}]}}},
                "status": {"replicas": 2, "unavailableReplicas": 2, "observedGeneration": 1,
                    "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": long, "lastTransitionTime": T0, "lastUpdateTime": T0},
                                   {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": long, "lastTransitionTime": T0, "lastUpdateTime": T0}]}}));
                for p in 0..2 {
                    let pod = format!("{name}-{p}");
                    items.push(failing_pod(
                        &pod,
                        ns,
                        labels.clone(),
                        Some(owner(
                            "Deployment",
                            "apps/v1",
                            &name,
                            &format!("uid-{name}"),
                        )),
                        &format!("rpc error: code = NotFound desc = {long}"),
                    ));
                    for e in 0..20 {
                        items.push(event(
                            d * 100 + p * 20 + e,
                            ns,
                            "Pod",
                            &pod,
                            "Failed",
                            &format!("Failed to pull image {e}: {}", "y".repeat(2000)),
                        ));
                    }
                }
            }
            let store = load(items);
            let r = diagnose(&store, "Namespace/chaos");
            let total: usize = r
                .status
                .summary
                .as_ref()
                .map(|s| (s.critical + s.warning + s.info) as usize)
                .unwrap_or(0);
            (r.status, total)
        },
    );
    let bytes = assert_bounded("pathological namespace", &s);
    eprintln!(
        "pathological namespace: {findings_before_cut} findings shown of more, {bytes} bytes"
    );
    let truncated = s
        .summary
        .as_ref()
        .and_then(|x| x.truncated.clone())
        .unwrap_or_default();
    assert!(
        truncated.contains("findings"),
        "the cut is said: {truncated:?}"
    );
    assert!(s.findings.iter().any(|f| f.severity == Severity::Critical));
}

// ---- Event notes and reasons within the API's limits ---------------------------------

#[test]
fn event_notes_and_reasons_fit_the_events_api() {
    use kubedx::controller::reconcile::transitions;
    for r in kubedx::rules::catalog::CATALOG {
        assert!(
            r.id.as_str().len() <= 128,
            "rule id {} is longer than an Event reason may be",
            r.id
        );
    }
    let s = bounded("huge findings", Duration::from_secs(30), || {
        let huge = "z".repeat(1400 * 1024);
        let store = load(vec![failing_pod(
            &"p".repeat(253),
            "ns",
            json!({}),
            None,
            &huge,
        )]);
        diagnose(&store, &format!("Pod/ns/{}", "p".repeat(253))).status
    });
    let mut healthy = s.clone();
    healthy.findings.clear();
    healthy.phase = kubedx::api::Phase::Healthy;
    let mut all = transitions(&DiagnosisStatus::default(), &s);
    all.extend(transitions(&s, &healthy));
    assert!(!all.is_empty());
    for ev in &all {
        assert!(
            ev.note.as_ref().is_none_or(|n| n.len() <= 1024),
            "note of {} bytes",
            ev.note.as_ref().unwrap().len()
        );
        assert!(ev.reason.len() <= 128);
        assert!(ev.action.len() <= 128);
    }
}

// ---- randomized input for the parsers (deterministic; CI's fuzzing) ------------------

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    /// Text made of `tokens` and odd characters.
    fn text(&mut self, tokens: &[&str], max: usize) -> String {
        const ODD: &[&str] = &[
            "",
            " ",
            ",",
            ".",
            ":",
            "/",
            "-",
            "*",
            "{",
            "}",
            "(",
            ")",
            "\"",
            "\n",
            "\t",
            "0",
            "9",
            "18446744073709551616",
            "-1",
            "é",
            "\u{202e}",
            "\u{0}",
            "日本",
            "🦀",
            "%",
            "\\",
        ];
        let n = self.below(max);
        let mut s = String::new();
        for _ in 0..n {
            if self.below(3) == 0 {
                s.push_str(self.pick(ODD));
            } else {
                s.push_str(self.pick(tokens));
            }
        }
        s
    }
}

/// Runs `f` on `n` generated inputs, within `limit` in total.
fn randomized(what: &str, n: usize, limit: Duration, mut f: impl FnMut(&mut Rng)) {
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ what.len() as u64);
    for _ in 0..n {
        f(&mut rng);
        assert!(started.elapsed() < limit, "{what}: too slow");
    }
    eprintln!("{what}: {n} inputs in {:?}", started.elapsed());
}

#[test]
fn scheduler_messages_never_panic() {
    use kubedx::rules::scheduling::message::{classify, parse};
    const TOKENS: &[&str] = &[
        "0/4 nodes are available: ",
        "1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
        "3 Insufficient cpu",
        "2 Insufficient memory",
        "node(s) didn't match Pod's node affinity/selector",
        "preemption: ",
        "0/4 nodes are available: 4 No preemption victims found for incoming pod.",
        "1 node(s) had volume node affinity conflict",
        "node(s) didn't match pod anti-affinity rules",
        "persistentvolumeclaim \"data\" not found",
        "pod has unbound immediate PersistentVolumeClaims",
        "Preemption is not helpful for scheduling",
        "node(s) were unschedulable",
        "Too many pods",
        "1 ",
        "2 ",
        "100 ",
        "{",
        "}",
        ": ",
        ", ",
        ".",
        "node(s) had taint {a: b}, that the pod didn't tolerate",
    ];
    randomized(
        "scheduler messages",
        30_000,
        Duration::from_secs(30),
        |rng| {
            let m = rng.text(TOKENS, 24);
            let _ = parse(&m);
            let _ = classify(&m);
        },
    );
}

#[test]
fn cron_schedules_never_panic() {
    use kubedx::rules::rollout::cron::parse;
    const TOKENS: &[&str] = &[
        "*",
        "?",
        "*/5",
        "0",
        "59",
        "60",
        "1-5",
        "5-1",
        "MON-FRI",
        "jan",
        "DEC",
        "sun",
        "/",
        "/0",
        "-",
        ",",
        " ",
        "@hourly",
        "@daily",
        "@every 5m",
        "@yearly",
        "CRON_TZ=Europe/Berlin ",
        "TZ=",
        "TZ=UTC ",
        "L",
        "W",
        "#",
        "7",
        "31",
        "32",
        "4294967296",
        "1-60/7",
        "*/100000000000",
    ];
    randomized("cron schedules", 50_000, Duration::from_secs(30), |rng| {
        let s = rng.text(TOKENS, 12);
        if let Ok(sc) = parse(&s) {
            assert!(
                sc.minutes >> 60 == 0 && sc.hours >> 24 == 0,
                "{s:?}: {sc:?}"
            );
        }
    });
}

#[test]
fn image_pull_messages_never_panic() {
    // classify_pull and event_image are private to the workload rules: they are
    // reached through the engine, as the kubelet's words on a Pod and an Event.
    const TOKENS: &[&str] = &[
        "rpc error: code = NotFound desc = ",
        "rpc error: code = Unknown desc = ",
        "failed to pull and unpack image \"docker.io/library/nginx:1\"",
        "failed to resolve reference ",
        "pull access denied, repository does not exist or may require authorization",
        "401 Unauthorized",
        "403 Forbidden",
        "i/o timeout",
        "dial tcp 10.0.0.1:443: ",
        "no such host",
        "manifest unknown",
        "x509: certificate signed by unknown authority",
        "toomanyrequests",
        "Back-off pulling image \"",
        "\": ErrImagePull: ",
        "Failed to pull image \"",
        "\"",
        ":",
        "@sha256:",
        "registry.example.com/a/b:v1",
        "not found",
        "http: server gave HTTP response to HTTPS client",
    ];
    randomized(
        "image pull messages",
        1_500,
        Duration::from_secs(60),
        |rng| {
            let waiting = rng.text(TOKENS, 16);
            let ev = rng.text(TOKENS, 16);
            let reason = rng.pick(&[
                "ImagePullBackOff",
                "ErrImagePull",
                "InvalidImageName",
                "ErrImageNeverPull",
            ]);
            let mut pod = failing_pod("p", "ns", json!({"app": "p"}), None, &waiting);
            pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] = json!(reason);
            let store = load(vec![pod, event(0, "ns", "Pod", "p", "Failed", &ev)]);
            let s = diagnose(&store, "Pod/ns/p").status;
            assert!(serde_json::to_vec(&s).unwrap().len() < STATUS_LIMIT);
        },
    );
}

#[test]
fn mutated_snapshots_never_panic() {
    // every fixture, damaged: bytes flipped, cut, spliced with another; each that
    // still loads is diagnosed (its first workload, or its first object's namespace)
    let mut fixtures = Vec::new();
    let mut stack =
        vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "json") {
                fixtures.push(std::fs::read(&p).unwrap());
            }
        }
    }
    fixtures.sort();
    assert!(fixtures.len() > 20);
    let mut loaded = 0;
    randomized("mutated snapshots", 1_500, Duration::from_secs(90), |rng| {
        let mut bytes = fixtures[rng.below(fixtures.len())].clone();
        for _ in 0..=rng.below(4) {
            let at = rng.below(bytes.len());
            match rng.below(5) {
                0 => bytes.truncate(at),
                1 => {
                    if !bytes.is_empty() {
                        let i = at.min(bytes.len() - 1);
                        bytes[i] = rng.next() as u8;
                    }
                }
                2 => {
                    let other = &fixtures[rng.below(fixtures.len())];
                    let from = rng.below(other.len());
                    let to = (from + rng.below(400)).min(other.len());
                    bytes.splice(at..at, other[from..to].iter().copied());
                }
                3 => {
                    let tok = rng.pick(&[
                        "&a ",
                        "*a",
                        "!!binary ",
                        "<<: *a\n",
                        "{",
                        "[",
                        "\n---\n",
                        "items: 3\n",
                        "kind: List\n",
                        ": :",
                        "'",
                        "\t",
                    ]);
                    bytes.splice(at..at, tok.bytes());
                }
                _ => {
                    let to = (at + rng.below(200)).min(bytes.len());
                    bytes.drain(at..to);
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut store = Store::new();
        if kubedx::snapshot::load_str(&text, "mutated.yaml", &mut store).is_ok() {
            loaded += 1;
            let now = engine::snapshot_now(&store);
            for kind in [
                kubedx::model::Kind::Deployment,
                kubedx::model::Kind::Pod,
                kubedx::model::Kind::Service,
            ] {
                if let Some(r) = store.refs_of(kind).next() {
                    let s = engine::diagnose(&store, &r, &DiagnoseOptions::new(now), None).status;
                    assert!(serde_json::to_vec(&s).unwrap().len() < STATUS_LIMIT);
                    break;
                }
            }
        }
    });
    eprintln!("mutated snapshots: {loaded} still loaded and were diagnosed");
}
