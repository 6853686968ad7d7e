//! The `logs` rule set: evidence from container logs, only when logs are enabled
//! (`spec.logs.enabled`, `--logs`). Logs come through [`LogSource`]: the live API
//! (`pods/log`, bounded tails) or, offline, files shipped with a snapshot.
//!
//! Only Pods that are failing (waiting, restarting, not ready) are read: logs of a
//! healthy Pod explain nothing, and reading fewer logs reads fewer secrets.

use k8s_openapi::api::core::v1::Pod;

use crate::api::Risk;
use crate::k8s::owners;
use crate::model::{Kind, ObjRef};
use crate::rules::grouping::{GroupKey, Grouped, OnPod, PodList};
use crate::rules::workload::probes::is_dns_failure;
use crate::rules::{Draft, LogSource, RuleContext};
use crate::rules::{RuleId, Tag};
use crate::text::clip;

/// How many matching lines of one container are quoted.
const MAX_QUOTED: usize = 3;
/// How long a quoted line may be.
const MAX_LINE: usize = 300;

/// What a container's log can reveal. Each kind of signal feeds one rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Signal {
    /// The application cannot resolve a name.
    DnsResolution,
    /// A dependency refuses the application's connections.
    ConnectionRefused,
    /// The application is denied access to a path.
    PermissionDenied,
    /// The application says a setting it needs is missing.
    MissingConfiguration,
}

impl Signal {
    /// Every signal, in the order a line is classified in.
    const ALL: [Signal; 4] = [
        Signal::DnsResolution,
        Signal::ConnectionRefused,
        Signal::PermissionDenied,
        Signal::MissingConfiguration,
    ];

    /// The rule the signal feeds.
    fn rule(self) -> RuleId {
        match self {
            Signal::DnsResolution => RuleId::LogsDNSResolutionFailure,
            Signal::ConnectionRefused => RuleId::LogsConnectionRefused,
            Signal::PermissionDenied => RuleId::LogsPermissionDenied,
            Signal::MissingConfiguration => RuleId::LogsMissingConfiguration,
        }
    }

    /// The fragments that reveal the signal (matched against the lowercased line).
    fn fragments(self) -> &'static [&'static str] {
        match self {
            Signal::DnsResolution => &[
                "no such host",
                "temporary failure in name resolution",
                "name or service not known",
                "could not resolve host",
                "could not resolve",
                "getaddrinfo enotfound",
                "getaddrinfo eai_again",
                "nodename nor servname provided",
                "server misbehaving",
                "unknownhostexception",
                "name resolution failed",
            ],
            Signal::ConnectionRefused => &["connection refused", "econnrefused"],
            Signal::PermissionDenied => &[
                "permission denied",
                "eacces",
                "operation not permitted",
                "read-only file system",
                "accessdeniedexception",
            ],
            Signal::MissingConfiguration => &[
                "environment variable",
                "env var",
                "is not set",
                "must be set",
                "is required",
                "missing required",
                "config file not found",
                "configuration file not found",
                "no such file or directory",
                "keyerror:",
                "missing config",
                "not configured",
            ],
        }
    }

    /// Whether a lowercased line that holds one of the fragments shows the signal: a
    /// line about a missing variable must also name the configuration and say it is
    /// missing; a refused connection is not a permission problem.
    fn confirmed_by(self, lowercase_line: &str) -> bool {
        let has = |word: &&str| lowercase_line.contains(word);
        match self {
            Signal::DnsResolution | Signal::ConnectionRefused => true,
            Signal::PermissionDenied => !lowercase_line.contains("connection refused"),
            Signal::MissingConfiguration => {
                let names_config = [
                    "env",
                    "config",
                    "variable",
                    "setting",
                    ".yaml",
                    ".yml",
                    ".json",
                    ".toml",
                    ".conf",
                    ".ini",
                    ".properties",
                    "keyerror",
                ]
                .iter()
                .any(has);
                let says_missing = [
                    "not set",
                    "must be set",
                    "is required",
                    "missing",
                    "not found",
                    "no such file",
                    "keyerror",
                    "not configured",
                    "undefined",
                ]
                .iter()
                .any(has);
                names_config && says_missing
            }
        }
    }

    /// What the container does, in the finding's message.
    fn says(self) -> &'static str {
        match self {
            Signal::DnsResolution => "cannot resolve names",
            Signal::ConnectionRefused => "gets connections refused by a dependency",
            Signal::PermissionDenied => "is denied access to a path",
            Signal::MissingConfiguration => "reports missing configuration",
        }
    }

    /// The finding's remediation summary.
    fn summary(self) -> &'static str {
        match self {
            Signal::DnsResolution => {
                "Check the cluster DNS and NetworkPolicy egress to it, and the name the application resolves."
            }
            Signal::ConnectionRefused => {
                "Check that the dependency the application connects to is running and listening on that port."
            }
            Signal::PermissionDenied => {
                "Check the Pod's securityContext (runAsUser, fsGroup) and the volume's ownership and read-only flags."
            }
            Signal::MissingConfiguration => {
                "Provide the configuration the application asks for (ConfigMap, Secret, env)."
            }
        }
    }

    /// The tag the finding carries for conditional explanations.
    fn tag(self) -> Option<Tag> {
        match self {
            Signal::DnsResolution => Some(Tag::Dns),
            Signal::ConnectionRefused | Signal::PermissionDenied | Signal::MissingConfiguration => {
                None
            }
        }
    }
}

/// The signals a line shows, in [`Signal::ALL`]'s order.
fn classify(line: &str) -> Vec<Signal> {
    let lowercase_line = line.to_ascii_lowercase();
    Signal::ALL
        .into_iter()
        .filter(|signal| {
            (signal
                .fragments()
                .iter()
                .any(|fragment| lowercase_line.contains(fragment))
                && signal.confirmed_by(&lowercase_line))
                // a lookup that times out (`lookup db on 10.96.0.10:53: ... i/o
                // timeout`) names no failure word: the probes' DNS reading knows it
                || (*signal == Signal::DnsResolution && is_dns_failure(line))
        })
        .collect()
}

/// A group of log hits: one signal in one container of one controller's Pods.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct LogKey {
    signal: Signal,
    /// The Pods' controller, or the bare Pod.
    controller: ObjRef,
    container: String,
}

impl GroupKey for LogKey {
    fn controller(&self) -> &ObjRef {
        &self.controller
    }

    fn discriminator(&self) -> &str {
        &self.container
    }
}

/// A log line that shows a signal.
struct LogHit {
    pod: ObjRef,
    /// Read from the previous (terminated) container's log.
    previous: bool,
    line: String,
}

impl OnPod for LogHit {
    fn pod(&self) -> &ObjRef {
        &self.pod
    }
}

/// The findings of the logs of the failing containers: one per signal, controller
/// and container, on the Pods whose logs show it.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let Some(logs) = ctx.logs else { return };
    let mut groups: Grouped<LogKey, LogHit> = Grouped::new(PodList::Distinct);
    for pod_ref in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(pod_ref) else {
            continue;
        };
        for (container, previous) in failing_containers(pod) {
            scan(logs, pod_ref, &container, previous, |signal, line| {
                let controller = owners::controller_of(ctx.store, &pod.metadata)
                    .unwrap_or_else(|| pod_ref.clone());
                let key = LogKey {
                    signal,
                    controller,
                    container: container.clone(),
                };
                let hit = LogHit {
                    pod: pod_ref.clone(),
                    previous,
                    line: line.to_owned(),
                };
                groups.add(key, hit);
            });
        }
    }
    for group in groups.into_groups() {
        let LogKey {
            signal,
            controller,
            container,
        } = group.key();
        let first = &group.first().pod;
        let mut draft = group
            .draft(signal.rule())
            .message(format!(
                "Container {container} of {} {} (from its logs)",
                controller.short(),
                signal.says()
            ))
            .summary(signal.summary());
        if let Some(tag) = signal.tag() {
            draft = draft.tag(tag);
        }
        for quote in quotes(container, group.members()) {
            draft = draft.evidence(quote);
        }
        draft = draft.step(
            "Read the previous container's log",
            Some(format!(
                "kubectl logs {} -n {} -c {container} --previous --tail=100",
                first.name,
                first.ns()
            )),
            Risk::ReadOnly,
        );
        if *signal == Signal::DnsResolution {
            draft = draft.step(
                "Test name resolution from the Pod's namespace",
                Some(format!(
                    "kubectl run dns-debug -n {} --rm -it --restart=Never --image=busybox:1.36 -- nslookup kubernetes.default",
                    first.ns()
                )),
                Risk::Reversible,
            );
        }
        out.push(draft);
    }
}

/// The lines a finding quotes, in the order they were found: at most
/// [`MAX_QUOTED`], each clipped to [`MAX_LINE`], without a line already quoted.
fn quotes(container: &str, hits: &[LogHit]) -> Vec<String> {
    let mut quoted: Vec<String> = Vec::new();
    for hit in hits {
        if quoted.len() == MAX_QUOTED {
            break;
        }
        if quoted.iter().any(|quote| quote.ends_with(&hit.line)) {
            continue;
        }
        let which = if hit.previous { "previous" } else { "current" };
        quoted.push(format!(
            "{} container {container} ({which} log): {}",
            hit.pod.name,
            clip(hit.line.trim(), MAX_LINE)
        ));
    }
    quoted
}

/// Containers worth reading: waiting, restarted, or not ready. `true` = read the previous log.
fn failing_containers(pod: &Pod) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let Some(pod_status) = &pod.status else {
        return out;
    };
    for status in pod_status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(pod_status.container_statuses.iter().flatten())
    {
        let state = status.state.as_ref();
        let waiting = state.and_then(|state| state.waiting.as_ref()).is_some();
        let running = state.and_then(|state| state.running.as_ref()).is_some();
        let terminated_bad = state
            .and_then(|state| state.terminated.as_ref())
            .is_some_and(|terminated| terminated.exit_code != 0);
        let restarted = status.restart_count > 0;
        if restarted {
            out.push((status.name.clone(), true));
        }
        if (!status.ready && running) || terminated_bad || (waiting && !restarted) {
            out.push((status.name.clone(), false));
        }
    }
    out
}

/// Reads a container's log tail and reports each signal of each line to `found`.
fn scan(
    logs: &dyn LogSource,
    pod: &ObjRef,
    container: &str,
    previous: bool,
    mut found: impl FnMut(Signal, &str),
) {
    let Some(lines) = logs.tail(pod, container, previous) else {
        return;
    };
    for line in &lines {
        for signal in classify(line) {
            found(signal, line);
        }
    }
}

/// Logs shipped with a snapshot: `DIR/<namespace>/<pod>/<container>.log` and
/// `<container>.previous.log` (what `kubectl logs [--previous]` prints).
pub(crate) struct LogDir {
    /// The `logs/` directory.
    root: std::path::PathBuf,
    /// How many lines of a log's end are read.
    tail_lines: usize,
}

impl LogDir {
    /// Logs under `root`, read `tail_lines` from the end.
    pub(crate) fn new(root: impl Into<std::path::PathBuf>, tail_lines: usize) -> LogDir {
        LogDir {
            root: root.into(),
            tail_lines,
        }
    }
}

impl LogSource for LogDir {
    fn tail(&self, pod: &ObjRef, container: &str, previous: bool) -> Option<Vec<String>> {
        let file = if previous {
            format!("{container}.previous.log")
        } else {
            format!("{container}.log")
        };
        let path = self.root.join(pod.ns()).join(&pod.name).join(file);
        let text = std::fs::read_to_string(path).ok()?;
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let skip = lines.len().saturating_sub(self.tail_lines);
        Some(lines.into_iter().skip(skip).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::engine::snapshot_now;
    use crate::graph::ObjectGraph;
    use crate::rules::DiagnoseOptions;
    use crate::testing::{store, target};

    /// Log tails by (Pod, container, previous).
    struct Tails(BTreeMap<(&'static str, &'static str, bool), Vec<&'static str>>);

    impl LogSource for Tails {
        fn tail(&self, pod: &ObjRef, container: &str, previous: bool) -> Option<Vec<String>> {
            let lines = self.0.get(&(pod.name.as_str(), container, previous))?;
            Some(lines.iter().map(|line| (*line).to_owned()).collect())
        }
    }

    #[test]
    fn one_finding_per_signal_and_container_of_a_controller() {
        // three crash-looping Pods of ReplicaSet web-7d4f9c8b6d: their previous logs are read
        let store = store(include_str!("../../tests/fixtures/workload/crashing.yaml"));
        let graph = ObjectGraph::build(&store, &target("Deployment/shop/web"));
        let options = DiagnoseOptions::new(snapshot_now(&store));
        let tails = Tails(BTreeMap::from([
            (
                ("web-7d4f9c8b6d-bq7wm", "web", true),
                vec![
                    "dial tcp: lookup db on 10.96.0.10:53: no such host",
                    "dial tcp: lookup db on 10.96.0.10:53: no such host",
                    "dial tcp 10.96.12.4:5432: connect: connection refused",
                ],
            ),
            (
                ("web-7d4f9c8b6d-lt4zd", "web", true),
                vec![
                    "dial tcp: lookup cache on 10.96.0.10:53: no such host",
                    "dial tcp: lookup db on 10.96.0.10:53: no such host",
                ],
            ),
            (
                ("web-7d4f9c8b6d-x2k9p", "web", true),
                vec![
                    "dial tcp: lookup queue on 10.96.0.10:53: no such host",
                    "dial tcp: lookup mail on 10.96.0.10:53: no such host",
                ],
            ),
            // not read: the containers restarted, so their previous logs tell
            (
                ("web-7d4f9c8b6d-x2k9p", "web", false),
                vec!["open /data: permission denied"],
            ),
        ]));
        let ctx = RuleContext {
            store: &store,
            graph: &graph,
            options: &options,
            logs: Some(&tails),
        };
        let mut drafts = Vec::new();
        evaluate(&ctx, &mut drafts);
        let rules: Vec<RuleId> = drafts.iter().map(|draft| draft.rule.id).collect();
        assert_eq!(
            rules,
            [
                RuleId::LogsDNSResolutionFailure,
                RuleId::LogsConnectionRefused
            ]
        );
        let dns = &drafts[0];
        assert_eq!(dns.object.name, "web-7d4f9c8b6d");
        assert_eq!(dns.discriminator, "web");
        assert_eq!(dns.tags, [Tag::Dns]);
        // each Pod once, although bq7wm's log shows the signal twice
        assert_eq!(
            dns.affected,
            [
                "web-7d4f9c8b6d-bq7wm",
                "web-7d4f9c8b6d-lt4zd",
                "web-7d4f9c8b6d-x2k9p"
            ]
        );
        // three quotes at most, a line quoted once (whichever Pod logged it)
        assert_eq!(
            dns.evidence,
            [
                "web-7d4f9c8b6d-bq7wm container web (previous log): dial tcp: lookup db on 10.96.0.10:53: no such host",
                "web-7d4f9c8b6d-lt4zd container web (previous log): dial tcp: lookup cache on 10.96.0.10:53: no such host",
                "web-7d4f9c8b6d-x2k9p container web (previous log): dial tcp: lookup queue on 10.96.0.10:53: no such host",
            ]
        );
        assert_eq!(
            dns.message,
            "Container web of ReplicaSet/web-7d4f9c8b6d cannot resolve names (from its logs)"
        );
        let refused = &drafts[1];
        assert_eq!(refused.affected, ["web-7d4f9c8b6d-bq7wm"]);
        assert!(refused.tags.is_empty());
        assert_eq!(
            refused.remediation.steps[0].command.as_deref(),
            Some("kubectl logs web-7d4f9c8b6d-bq7wm -n shop -c web --previous --tail=100")
        );
    }

    #[test]
    fn classifies_real_log_lines() {
        let cases = [
            (
                "dial tcp: lookup postgres.shop.svc.cluster.local on 10.96.0.10:53: no such host",
                Signal::DnsResolution,
            ),
            (
                "psycopg2.OperationalError: could not translate host name \"db\" to address: Temporary failure in name resolution",
                Signal::DnsResolution,
            ),
            ("Error: getaddrinfo ENOTFOUND redis", Signal::DnsResolution),
            (
                // the cluster DNS unreachable (an egress policy without port 53)
                "failed to connect to database: dial tcp: lookup postgres.ledger.svc.cluster.local on 10.96.0.10:53: read udp 10.244.2.7:43127->10.96.0.10:53: i/o timeout",
                Signal::DnsResolution,
            ),
            (
                "dial tcp 10.96.12.4:5432: connect: connection refused",
                Signal::ConnectionRefused,
            ),
            (
                "Error: connect ECONNREFUSED 10.0.0.12:6379",
                Signal::ConnectionRefused,
            ),
            (
                "open /data/db.lock: permission denied",
                Signal::PermissionDenied,
            ),
            (
                "mkdir /var/lib/app: read-only file system",
                Signal::PermissionDenied,
            ),
            (
                "FATAL: environment variable DATABASE_URL is not set",
                Signal::MissingConfiguration,
            ),
            ("KeyError: 'PAYMENT_DB_URL'", Signal::MissingConfiguration),
            (
                "open /etc/app/config.yaml: no such file or directory",
                Signal::MissingConfiguration,
            ),
        ];
        for (line, signal) in cases {
            assert!(
                classify(line).contains(&signal),
                "{line} -> {:?}",
                classify(line)
            );
        }
        for quiet in [
            "GET /healthz 200 1.2ms",
            "listening on :8080",
            "the ENV is production",
            "config loaded from /etc/app/config.yaml",
            // a timeout that is no lookup and not to port 53
            "upstream request timeout after 30s",
        ] {
            assert!(
                classify(quiet).is_empty(),
                "{quiet} -> {:?}",
                classify(quiet)
            );
        }
        // a refused connection is not a permission problem
        assert_eq!(
            classify("upstream connect error: connection refused (permission denied by policy?)"),
            [Signal::ConnectionRefused]
        );
        assert_eq!(
            classify("dial tcp: lookup db: no such host; DB_HOST must be set in config"),
            [Signal::DnsResolution, Signal::MissingConfiguration]
        );
    }

    #[test]
    fn signals_sort_as_their_rules() {
        // findings of the same rank come out in this order
        for first in Signal::ALL {
            for second in Signal::ALL {
                assert_eq!(
                    first.cmp(&second),
                    first.rule().cmp(&second.rule()),
                    "{first:?} {second:?}"
                );
            }
        }
    }
}
