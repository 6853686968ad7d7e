//! The `logs` rule set: evidence from container logs, only when logs are enabled
//! (`spec.logs.enabled`, `--logs`). Logs come through [`LogSource`]: the live API
//! (`pods/log`, bounded tails) or, offline, files shipped with a snapshot.
//!
//! Only Pods that are failing (waiting, restarting, not ready) are read: logs of a
//! healthy Pod explain nothing, and reading fewer logs reads fewer secrets.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;

use crate::api::Risk;
use crate::model::{Kind, ObjRef};
use crate::rules::{Draft, LogSource, RuleContext};
use crate::rules::{RuleId, Tag};

/// How many matching lines of one container are quoted.
const MAX_QUOTED: usize = 3;
/// How long a quoted line may be.
const MAX_LINE: usize = 300;

/// One log pattern family: the rule it feeds and the fragments that reveal it
/// (matched case-insensitively).
struct Pattern {
    rule: RuleId,
    fragments: &'static [&'static str],
}

const PATTERNS: &[Pattern] = &[
    Pattern {
        rule: RuleId::LogsDNSResolutionFailure,
        fragments: &[
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
    },
    Pattern {
        rule: RuleId::LogsConnectionRefused,
        fragments: &["connection refused", "econnrefused"],
    },
    Pattern {
        rule: RuleId::LogsPermissionDenied,
        fragments: &[
            "permission denied",
            "eacces",
            "operation not permitted",
            "read-only file system",
            "accessdeniedexception",
        ],
    },
    Pattern {
        rule: RuleId::LogsMissingConfiguration,
        fragments: &[
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
    },
];

/// Rules a line matches. A line about a missing variable must also say it is missing.
fn classify(line: &str) -> Vec<RuleId> {
    let l = line.to_ascii_lowercase();
    let mut out = Vec::new();
    for p in PATTERNS {
        if !p.fragments.iter().any(|f| l.contains(f)) {
            continue;
        }
        if p.rule == RuleId::LogsMissingConfiguration {
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
            .any(|w| l.contains(w));
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
            .any(|w| l.contains(w));
            if !(names_config && says_missing) {
                continue;
            }
        }
        if p.rule == RuleId::LogsPermissionDenied && l.contains("connection refused") {
            continue;
        }
        out.push(p.rule);
    }
    out
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let Some(logs) = ctx.logs else { return };
    // (rule, controller, container) -> (pods, quoted lines)
    type Key = (RuleId, ObjRef, String);
    let mut groups: BTreeMap<Key, (Vec<ObjRef>, Vec<String>)> = BTreeMap::new();
    for r in ctx.graph.subjects(Kind::Pod) {
        let Some(pod) = ctx.store.get_ref::<Pod>(r) else {
            continue;
        };
        for (container, previous) in failing_containers(pod) {
            scan(logs, r, &container, previous, |rule, line| {
                let owner = crate::k8s::owners::controller_of(ctx.store, &pod.metadata)
                    .unwrap_or_else(|| r.clone());
                let e = groups.entry((rule, owner, container.clone())).or_default();
                if !e.0.contains(r) {
                    e.0.push(r.clone());
                }
                if e.1.len() < MAX_QUOTED && !e.1.iter().any(|q| q.ends_with(line)) {
                    let which = if previous { "previous" } else { "current" };
                    e.1.push(format!(
                        "{} container {container} ({which} log): {}",
                        r.name,
                        crate::text::clip(line.trim(), MAX_LINE)
                    ));
                }
            });
        }
    }
    for ((rule, owner, container), (pods, lines)) in groups {
        let first = &pods[0];
        let what = match rule {
            RuleId::LogsDNSResolutionFailure => "cannot resolve names",
            RuleId::LogsConnectionRefused => "gets connections refused by a dependency",
            RuleId::LogsPermissionDenied => "is denied access to a path",
            _ => "reports missing configuration",
        };
        let mut d = Draft::new(rule, owner.clone())
            .discriminator(container.clone())
            .message(format!(
                "Container {container} of {} {what} (from its logs)",
                owner.short()
            ))
            .affected(&pods)
            .summary(match rule {
                RuleId::LogsDNSResolutionFailure => "Check the cluster DNS and NetworkPolicy egress to it, and the name the application resolves.",
                RuleId::LogsConnectionRefused => "Check that the dependency the application connects to is running and listening on that port.",
                RuleId::LogsPermissionDenied => "Check the Pod's securityContext (runAsUser, fsGroup) and the volume's ownership and read-only flags.",
                _ => "Provide the configuration the application asks for (ConfigMap, Secret, env).",
            });
        if rule == RuleId::LogsDNSResolutionFailure {
            d = d.tag(Tag::Dns);
        }
        for l in lines {
            d = d.evidence(l);
        }
        d = d.step(
            "Read the previous container's log",
            Some(format!(
                "kubectl logs {} -n {} -c {container} --previous --tail=100",
                first.name,
                first.ns()
            )),
            Risk::ReadOnly,
        );
        if rule == RuleId::LogsDNSResolutionFailure {
            d = d.step(
                "Test name resolution from the Pod's namespace",
                Some(format!(
                    "kubectl run dns-debug -n {} --rm -it --restart=Never --image=busybox:1.36 -- nslookup kubernetes.default",
                    first.ns()
                )),
                Risk::Reversible,
            );
        }
        out.push(d);
    }
}

/// Containers worth reading: waiting, restarted, or not ready. `true` = read the previous log.
fn failing_containers(pod: &Pod) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let Some(st) = &pod.status else { return out };
    for cs in st
        .init_container_statuses
        .iter()
        .flatten()
        .chain(st.container_statuses.iter().flatten())
    {
        let waiting = cs.state.as_ref().and_then(|s| s.waiting.as_ref()).is_some();
        let terminated_bad = cs
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code != 0);
        let restarted = cs.restart_count > 0;
        if restarted {
            out.push((cs.name.clone(), true));
        }
        if (!cs.ready && cs.state.as_ref().and_then(|s| s.running.as_ref()).is_some())
            || terminated_bad
            || (waiting && !restarted)
        {
            out.push((cs.name.clone(), false));
        }
    }
    out
}

fn scan(
    logs: &dyn LogSource,
    pod: &ObjRef,
    container: &str,
    previous: bool,
    mut found: impl FnMut(RuleId, &str),
) {
    let Some(lines) = logs.tail(pod, container, previous) else {
        return;
    };
    for line in &lines {
        for rule in classify(line) {
            found(rule, line);
        }
    }
}

/// Logs shipped with a snapshot: `DIR/<namespace>/<pod>/<container>.log` and
/// `<container>.previous.log` (what `kubectl logs [--previous]` prints).
pub(crate) struct LogDir {
    root: std::path::PathBuf,
    tail_lines: usize,
}

impl LogDir {
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
    use super::*;

    #[test]
    fn classifies_real_log_lines() {
        let cases = [
            (
                "dial tcp: lookup postgres.shop.svc.cluster.local on 10.96.0.10:53: no such host",
                RuleId::LogsDNSResolutionFailure,
            ),
            (
                "psycopg2.OperationalError: could not translate host name \"db\" to address: Temporary failure in name resolution",
                RuleId::LogsDNSResolutionFailure,
            ),
            (
                "Error: getaddrinfo ENOTFOUND redis",
                RuleId::LogsDNSResolutionFailure,
            ),
            (
                "dial tcp 10.96.12.4:5432: connect: connection refused",
                RuleId::LogsConnectionRefused,
            ),
            (
                "Error: connect ECONNREFUSED 10.0.0.12:6379",
                RuleId::LogsConnectionRefused,
            ),
            (
                "open /data/db.lock: permission denied",
                RuleId::LogsPermissionDenied,
            ),
            (
                "mkdir /var/lib/app: read-only file system",
                RuleId::LogsPermissionDenied,
            ),
            (
                "FATAL: environment variable DATABASE_URL is not set",
                RuleId::LogsMissingConfiguration,
            ),
            (
                "KeyError: 'PAYMENT_DB_URL'",
                RuleId::LogsMissingConfiguration,
            ),
            (
                "open /etc/app/config.yaml: no such file or directory",
                RuleId::LogsMissingConfiguration,
            ),
        ];
        for (line, rule) in cases {
            assert!(
                classify(line).contains(&rule),
                "{line} -> {:?}",
                classify(line)
            );
        }
        for quiet in [
            "GET /healthz 200 1.2ms",
            "listening on :8080",
            "the ENV is production",
            "config loaded from /etc/app/config.yaml",
        ] {
            assert!(
                classify(quiet).is_empty(),
                "{quiet} -> {:?}",
                classify(quiet)
            );
        }
    }
}
