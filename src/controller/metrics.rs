//! Prometheus metrics (docs/reference.md, "Metrics", is generated from this
//! registry), and a few internal gauges. Label values stay bounded: namespaces,
//! Diagnosis names, rule ids, severities, kinds and a fixed set of error kinds; no
//! Pod names, no free text. A deleted Diagnosis leaves no series behind.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::api::{DiagnosisStatus, Severity};
use crate::model::Kind;

/// The bounded set of reconcile error kinds (`kubedx_reconcile_errors_total{error}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Writing the status failed.
    StatusPatch,
    /// Publishing an Event failed.
    EventPublish,
    /// Reading logs failed.
    Logs,
    /// Any other API error.
    Api,
}

impl ErrorKind {
    /// Every error kind: the values of the `error` label.
    pub const ALL: [ErrorKind; 4] = [
        ErrorKind::StatusPatch,
        ErrorKind::EventPublish,
        ErrorKind::Logs,
        ErrorKind::Api,
    ];

    /// The value of the `error` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::StatusPatch => "status_patch",
            ErrorKind::EventPublish => "event_publish",
            ErrorKind::Logs => "logs",
            ErrorKind::Api => "api",
        }
    }
}

/// `kubedx_reconciliations_total{result}` of a reconcile that succeeded.
pub(crate) const RESULT_SUCCESS: &str = "success";
/// `kubedx_reconciliations_total{result}` of a reconcile that failed.
pub(crate) const RESULT_ERROR: &str = "error";

/// The values of `kubedx_alerts_received_total{result}`.
pub(crate) const ALERT_RESULTS: [&str; 7] = [
    "diagnosed",
    "resolved",
    "ignored",
    "dropped",
    "unauthorized",
    "too_large",
    "malformed",
];
/// The values of `kubedx_notifications_total{sink_type}`.
pub(crate) const SINK_TYPES: [&str; 2] = ["webhook", "slack"];
/// The values of `kubedx_notifications_total{result}`.
pub(crate) const NOTIFICATION_RESULTS: [&str; 4] = ["sent", "retried", "failed", "dropped"];

/// One metric family the registry serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricDescription {
    /// The family's name.
    pub name: String,
    /// Its help text.
    pub help: String,
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    pub metric_type: &'static str,
    /// The names of its labels, in order.
    pub labels: Vec<String>,
}

/// Name, help, type and label names of every metric family the controller serves,
/// ordered by name.
pub fn describe() -> Vec<MetricDescription> {
    Metrics::new().describe()
}

/// Series currently set for one Diagnosis, so they can be removed.
#[derive(Default)]
struct Series {
    /// The severities of `kubedx_diagnosis_findings`.
    findings: BTreeSet<&'static str>,
    /// The (rule, severity) of `kubedx_finding_active`.
    active: BTreeSet<(String, &'static str)>,
    /// The (target kind, target name) of `kubedx_diagnosis_healthy`.
    healthy: Option<(String, String)>,
}

/// The controller's metrics; clones share them.
#[derive(Clone)]
pub(crate) struct Metrics {
    /// Every metric below, for the exposition.
    registry: Registry,
    /// `kubedx_diagnosis_findings`.
    findings: IntGaugeVec,
    /// `kubedx_finding_active`.
    finding_active: IntGaugeVec,
    /// `kubedx_diagnosis_healthy`.
    healthy: IntGaugeVec,
    /// `kubedx_diagnosis_last_run_timestamp_seconds`.
    last_run: GaugeVec,
    /// `kubedx_reconcile_duration_seconds`: each reconcile observes its duration.
    pub(crate) reconcile_duration: Histogram,
    /// `kubedx_reconciliations_total`.
    reconciliations: IntCounterVec,
    /// `kubedx_reconcile_errors_total`.
    errors: IntCounterVec,
    /// `kubedx_cache_objects`.
    cache_objects: IntGaugeVec,
    /// `kubedx_watch_errors_total`.
    watch_errors: IntCounterVec,
    /// `kubedx_alerts_received_total`.
    pub(crate) alerts_received: IntCounterVec,
    /// `kubedx_notifications_total`.
    pub(crate) notifications: IntCounterVec,
    /// Internal gauges (not among the documented metrics): what the controller
    /// tracks, to show that nothing leaks as Diagnoses come and go. This one counts
    /// the diagnoses of the trigger index.
    tracked: IntGauge,
    /// Internal: the Diagnoses with series.
    series_diagnoses: IntGauge,
    /// Internal: the runtime's alive tasks.
    tasks: IntGauge,
    /// The series set for each Diagnosis (namespace, name).
    series: Arc<Mutex<BTreeMap<(String, String), Series>>>,
    /// UIDs of deleted Diagnoses: a reconcile still in flight when its Diagnosis was
    /// deleted must not bring its series back.
    deleted: Arc<Mutex<Tombstones>>,
}

/// How many deleted UIDs are remembered.
const TOMBSTONES: usize = 4096;

/// The UIDs of the last [`TOMBSTONES`] deleted Diagnoses: a set to ask, a queue to
/// forget the oldest.
#[derive(Default)]
struct Tombstones {
    /// Oldest first.
    order: std::collections::VecDeque<String>,
    /// The same UIDs.
    uids: std::collections::HashSet<String>,
}

impl Tombstones {
    fn insert(&mut self, uid: &str) {
        if self.uids.insert(uid.to_owned()) {
            self.order.push_back(uid.to_owned());
            if self.order.len() > TOMBSTONES
                && let Some(old) = self.order.pop_front()
            {
                self.uids.remove(&old);
            }
        }
    }

    fn contains(&self, uid: &str) -> bool {
        self.uids.contains(uid)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric, with the label values known up front at zero.
    pub(crate) fn new() -> Metrics {
        let registry = Registry::new();
        let findings = IntGaugeVec::new(
            Opts::new(
                "kubedx_diagnosis_findings",
                "Active findings of a diagnosis by severity",
            ),
            &["namespace", "diagnosis", "severity"],
        )
        .expect("metric");
        let finding_active = IntGaugeVec::new(
            Opts::new(
                "kubedx_finding_active",
                "1 for each rule with an active finding in a diagnosis",
            ),
            &["namespace", "diagnosis", "rule", "severity"],
        )
        .expect("metric");
        let healthy = IntGaugeVec::new(
            Opts::new(
                "kubedx_diagnosis_healthy",
                "1 when the diagnosis has no Warning or Critical finding",
            ),
            &["namespace", "diagnosis", "target_kind", "target_name"],
        )
        .expect("metric");
        let last_run = GaugeVec::new(
            Opts::new(
                "kubedx_diagnosis_last_run_timestamp_seconds",
                "Unix time of the last completed diagnosis",
            ),
            &["namespace", "diagnosis"],
        )
        .expect("metric");
        let reconcile_duration = Histogram::with_opts(
            HistogramOpts::new(
                "kubedx_reconcile_duration_seconds",
                "Duration of a reconcile",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
        )
        .expect("metric");
        let reconciliations = IntCounterVec::new(
            Opts::new("kubedx_reconciliations_total", "Reconciliations by result"),
            &["result"],
        )
        .expect("metric");
        let errors = IntCounterVec::new(
            Opts::new("kubedx_reconcile_errors_total", "Reconcile errors by kind"),
            &["error"],
        )
        .expect("metric");
        let cache_objects = IntGaugeVec::new(
            Opts::new(
                "kubedx_cache_objects",
                "Objects held in the watch cache by kind",
            ),
            &["kind"],
        )
        .expect("metric");
        let watch_errors = IntCounterVec::new(
            Opts::new(
                "kubedx_watch_errors_total",
                "Watch errors by kind (the watch retries with backoff)",
            ),
            &["kind"],
        )
        .expect("metric");
        let alerts_received = IntCounterVec::new(
            Opts::new(
                "kubedx_alerts_received_total",
                "Alerts received from Alertmanager by result: diagnosed (a Diagnosis created or refreshed), resolved, ignored (no target), dropped (too many targets pending); requests refused count once as unauthorized, too_large or malformed",
            ),
            &["result"],
        )
        .expect("metric");
        let notifications = IntCounterVec::new(
            Opts::new(
                "kubedx_notifications_total",
                "Notifications by sink type (webhook, slack) and result: sent, retried (an attempt failed and is retried), failed (given up after the retries), dropped (the queue was full)",
            ),
            &["sink_type", "result"],
        )
        .expect("metric");
        let tracked = IntGauge::new(
            "kubedx_internal_tracked_diagnoses",
            "Continuous diagnoses in the trigger index (re-run on changes)",
        )
        .expect("metric");
        let series_diagnoses = IntGauge::new(
            "kubedx_internal_series_diagnoses",
            "Diagnoses with metric series",
        )
        .expect("metric");
        let tasks = IntGauge::new(
            "kubedx_internal_tasks",
            "Alive tasks of the controller's async runtime",
        )
        .expect("metric");
        for result in [RESULT_SUCCESS, RESULT_ERROR] {
            reconciliations.with_label_values(&[result]);
        }
        for kind in ErrorKind::ALL {
            errors.with_label_values(&[kind.as_str()]);
        }
        for result in ALERT_RESULTS {
            alerts_received.with_label_values(&[result]);
        }
        for sink_type in SINK_TYPES {
            for result in NOTIFICATION_RESULTS {
                notifications.with_label_values(&[sink_type, result]);
            }
        }
        let metrics = Metrics {
            registry,
            findings,
            finding_active,
            healthy,
            last_run,
            reconcile_duration,
            reconciliations,
            errors,
            cache_objects,
            watch_errors,
            alerts_received,
            notifications,
            tracked,
            series_diagnoses,
            tasks,
            series: Arc::new(Mutex::new(BTreeMap::new())),
            deleted: Arc::new(Mutex::new(Tombstones::default())),
        };
        for collector in metrics.collectors() {
            metrics
                .registry
                .register(collector)
                .expect("register metric");
        }
        metrics
    }

    /// Every collector of the registry: [`Metrics::new`] registers exactly these.
    fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.findings.clone()),
            Box::new(self.tracked.clone()),
            Box::new(self.series_diagnoses.clone()),
            Box::new(self.tasks.clone()),
            Box::new(self.finding_active.clone()),
            Box::new(self.healthy.clone()),
            Box::new(self.last_run.clone()),
            Box::new(self.reconcile_duration.clone()),
            Box::new(self.reconciliations.clone()),
            Box::new(self.errors.clone()),
            Box::new(self.cache_objects.clone()),
            Box::new(self.watch_errors.clone()),
            Box::new(self.alerts_received.clone()),
            Box::new(self.notifications.clone()),
        ]
    }

    /// Name, help, type and label names of every metric family the registry serves,
    /// ordered by name (as `/metrics` lists them).
    pub(crate) fn describe(&self) -> Vec<MetricDescription> {
        let mut out = Vec::new();
        for collector in self.collectors() {
            let families = collector.collect();
            for desc in collector.desc() {
                let metric_type = families
                    .iter()
                    .find(|family| family.name() == desc.fq_name)
                    .map_or(MetricType::UNTYPED, |family| family.get_field_type());
                out.push(MetricDescription {
                    name: desc.fq_name.clone(),
                    help: desc.help.clone(),
                    metric_type: match metric_type {
                        MetricType::COUNTER => "counter",
                        MetricType::GAUGE => "gauge",
                        MetricType::HISTOGRAM => "histogram",
                        MetricType::SUMMARY => "summary",
                        MetricType::UNTYPED => "untyped",
                    },
                    labels: desc.variable_labels.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// How many objects of `kind` the watch cache holds.
    pub(crate) fn set_cache_objects(&self, kind: Kind, objects: usize) {
        self.cache_objects
            .with_label_values(&[kind.name()])
            .set(objects as i64);
    }

    /// How many Continuous diagnoses the trigger index holds.
    pub(crate) fn set_tracked(&self, diagnoses: usize) {
        self.tracked.set(diagnoses as i64);
    }

    /// Counts an error of the watch of `kind`.
    pub(crate) fn watch_error(&self, kind: Kind) {
        self.watch_errors.with_label_values(&[kind.name()]).inc();
    }

    /// Counts a reconcile by its result.
    pub(crate) fn reconciled(&self, ok: bool) {
        self.reconciliations
            .with_label_values(&[if ok { RESULT_SUCCESS } else { RESULT_ERROR }])
            .inc();
    }

    /// Counts a reconcile error of `kind`.
    pub(crate) fn error(&self, kind: ErrorKind) {
        self.errors.with_label_values(&[kind.as_str()]).inc();
    }

    /// Sets the series of one Diagnosis (`uid`) from its status, removing series that
    /// no longer apply. Ignored for a Diagnosis already deleted.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record(
        &self,
        ns: &str,
        name: &str,
        uid: Option<&str>,
        target_kind: &str,
        target_name: &str,
        status: &DiagnosisStatus,
        run_at: f64,
    ) {
        let mut all = self.series.lock().expect("lock");
        if let Some(uid) = uid
            && self.deleted.lock().expect("lock").contains(uid)
        {
            return;
        }
        let series = all.entry((ns.to_owned(), name.to_owned())).or_default();
        for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
            let findings = status
                .findings
                .iter()
                .filter(|f| f.severity == severity)
                .count();
            self.findings
                .with_label_values(&[ns, name, severity.as_str()])
                .set(findings as i64);
            series.findings.insert(severity.as_str());
        }
        let active: BTreeSet<(String, &'static str)> = status
            .findings
            .iter()
            .map(|f| (f.rule_id.clone(), f.severity.as_str()))
            .collect();
        for (rule, severity) in series.active.difference(&active) {
            let _ = self
                .finding_active
                .remove_label_values(&[ns, name, rule, severity]);
        }
        for (rule, severity) in &active {
            self.finding_active
                .with_label_values(&[ns, name, rule, severity])
                .set(1);
        }
        series.active = active;
        let target = (target_kind.to_owned(), target_name.to_owned());
        if let Some((old_kind, old_name)) = series.healthy.as_ref().filter(|t| **t != target) {
            let _ = self
                .healthy
                .remove_label_values(&[ns, name, old_kind, old_name]);
        }
        let healthy = status.phase == crate::api::Phase::Healthy;
        self.healthy
            .with_label_values(&[ns, name, target_kind, target_name])
            .set(i64::from(healthy));
        series.healthy = Some(target);
        self.last_run.with_label_values(&[ns, name]).set(run_at);
    }

    /// Removes every series of a deleted Diagnosis (`uid`, when known).
    pub(crate) fn forget(&self, ns: &str, name: &str, uid: Option<&str>) {
        let mut all = self.series.lock().expect("lock");
        if let Some(uid) = uid {
            self.deleted.lock().expect("lock").insert(uid);
        }
        if let Some(series) = all.remove(&(ns.to_owned(), name.to_owned())) {
            for severity in series.findings {
                let _ = self.findings.remove_label_values(&[ns, name, severity]);
            }
            for (rule, severity) in series.active {
                let _ = self
                    .finding_active
                    .remove_label_values(&[ns, name, &rule, severity]);
            }
            if let Some((target_kind, target_name)) = series.healthy {
                let _ = self
                    .healthy
                    .remove_label_values(&[ns, name, &target_kind, &target_name]);
            }
        }
        let _ = self.last_run.remove_label_values(&[ns, name]);
    }

    /// Whether the Diagnosis with this uid was deleted (a Delete event was seen).
    pub(crate) fn is_deleted(&self, uid: Option<&str>) -> bool {
        uid.is_some_and(|uid| self.deleted.lock().expect("lock").contains(uid))
    }

    /// Removes the series of every Diagnosis: a replica that stops leading must not
    /// keep exporting what the new leader now owns.
    pub(crate) fn forget_all(&self) {
        for (ns, name) in self.known() {
            self.forget(&ns, &name, None);
        }
    }

    /// Diagnoses that have series.
    pub(crate) fn known(&self) -> Vec<(String, String)> {
        self.series.lock().expect("lock").keys().cloned().collect()
    }

    /// The text exposition format.
    pub(crate) fn render(&self) -> String {
        self.series_diagnoses
            .set(self.series.lock().expect("lock").len() as i64);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.tasks.set(runtime.metrics().num_alive_tasks() as i64);
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encode metrics");
        String::from_utf8(buf).expect("utf8 metrics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::diagnose_yaml;

    #[test]
    fn tombstones_remember_the_last_deleted_uids_only() {
        let mut tombstones = Tombstones::default();
        for index in 0..TOMBSTONES + 10 {
            tombstones.insert(&format!("uid-{index}"));
        }
        tombstones.insert("uid-20"); // already remembered: not counted twice
        assert_eq!(tombstones.order.len(), TOMBSTONES);
        assert_eq!(tombstones.uids.len(), TOMBSTONES);
        assert!(!tombstones.contains("uid-0") && !tombstones.contains("uid-9"));
        assert!(
            tombstones.contains("uid-10")
                && tombstones.contains(&format!("uid-{}", TOMBSTONES + 9))
        );
    }

    #[test]
    fn describe_lists_every_family_the_registry_serves() {
        let metrics = Metrics::new();
        // a series in every family, so that the registry serves each with its labels
        let report = diagnose_yaml(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
            "Deployment/shop/missing",
        );
        metrics.record(
            "shop",
            "dx1",
            None,
            "Deployment",
            "missing",
            &report.status,
            1.0,
        );
        metrics.set_cache_objects(Kind::Pod, 3);
        metrics.watch_error(Kind::Pod);
        metrics.reconcile_duration.observe(0.01);
        let served: BTreeMap<String, (String, MetricType, Vec<String>)> = metrics
            .registry
            .gather()
            .iter()
            .map(|family| {
                let labels = family.get_metric()[0]
                    .get_label()
                    .iter()
                    .map(|pair| pair.name().to_owned())
                    .collect();
                let entry = (family.help().to_owned(), family.get_field_type(), labels);
                (family.name().to_owned(), entry)
            })
            .collect();
        let described = metrics.describe();
        assert_eq!(
            described
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>(),
            served.keys().map(String::as_str).collect::<Vec<_>>()
        );
        for family in &described {
            let (help, metric_type, labels) = &served[&family.name];
            assert_eq!(&family.help, help, "{}", family.name);
            let expected_type = match metric_type {
                MetricType::COUNTER => "counter",
                MetricType::GAUGE => "gauge",
                MetricType::HISTOGRAM => "histogram",
                other => panic!("{}: unexpected type {other:?}", family.name),
            };
            assert_eq!(family.metric_type, expected_type, "{}", family.name);
            let mut names = family.labels.clone();
            names.sort();
            assert_eq!(&names, labels, "{}", family.name);
        }
        let active = described
            .iter()
            .find(|d| d.name == "kubedx_finding_active")
            .expect("kubedx_finding_active");
        assert_eq!(
            active.labels,
            ["namespace", "diagnosis", "rule", "severity"]
        );
    }

    #[test]
    fn series_of_a_deleted_diagnosis_disappear() {
        let metrics = Metrics::new();
        let report = diagnose_yaml(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n",
            "Deployment/shop/missing",
        );
        metrics.record(
            "shop",
            "dx1",
            Some("u1"),
            "Deployment",
            "missing",
            &report.status,
            1.0,
        );
        let text = metrics.render();
        assert!(text.contains(r#"kubedx_finding_active{diagnosis="dx1",namespace="shop",rule="TargetNotFound",severity="Critical"} 1"#), "{text}");
        assert!(text.contains(r#"kubedx_diagnosis_healthy{diagnosis="dx1",namespace="shop",target_kind="Deployment",target_name="missing"} 0"#));
        metrics.forget("shop", "dx1", Some("u1"));
        let text = metrics.render();
        assert!(!text.contains("dx1"), "{text}");
        // a reconcile still in flight for the deleted Diagnosis changes nothing
        metrics.record(
            "shop",
            "dx1",
            Some("u1"),
            "Deployment",
            "missing",
            &report.status,
            2.0,
        );
        assert!(!metrics.render().contains("dx1"));
        // a new Diagnosis of the same name (another uid) records again
        metrics.record(
            "shop",
            "dx1",
            Some("u2"),
            "Deployment",
            "missing",
            &report.status,
            3.0,
        );
        assert!(metrics.render().contains("dx1"));
        assert!(text.contains("kubedx_reconciliations_total"));
    }
}
