//! Services a Pod's evidence names: its probe failure messages (kubelet `Unhealthy`
//! events), the failure lines of its logs, its env values and the values of the
//! ConfigMaps it reads. Secrets are never read.
//!
//! A name counts only in a form that is an address: a URL's host, `host:port`, a
//! name the cluster DNS qualifies (`svc.ns`, `svc.ns.svc`, `svc.ns.svc.cluster.local`,
//! `pod.svc.ns.svc.cluster.local`), a resolver's `lookup svc`, `ClusterIP:port`,
//! `SVC_SERVICE_HOST`, or (in configuration only) the whole value of a setting whose
//! name says it holds an address (`REDIS_HOST=redis`). A candidate names a Service
//! only when that Service exists in the store, resolved the way the Pod's DNS search
//! path resolves it; the one exception is the peer name of a StatefulSet Pod
//! (`web-0.web.ns.svc.cluster.local`) whose governing Service is missing.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Service};

use crate::graph::{CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE};
use crate::model::{Kind, ObjRef};
use crate::rules::LogSource;
use crate::store::Store;

/// How many bytes of one ConfigMap value are read.
const MAX_VALUE_BYTES: usize = 64 * 1024;
/// How many keys of one ConfigMap are read.
const MAX_KEYS: usize = 100;
/// How many Services one Pod's evidence may name (the graph stays bounded).
pub const MAX_NAMED: usize = 16;

/// Where a Pod names a Service.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// A kubelet `Unhealthy` event: `readiness`, `liveness` or `startup`.
    Probe { kind: &'static str },
    /// A failure line of a container's log.
    Log { container: String, previous: bool },
    /// A literal env value of a container (only the variable's name is shown).
    Env { var: String, container: String },
    /// A value of a ConfigMap the Pod reads (only the key is shown).
    ConfigMap { name: String, key: String },
}

impl Source {
    /// Whether the Service was named in a log line.
    pub fn is_log(&self) -> bool {
        matches!(self, Source::Log { .. })
    }
}

/// The prefix of an edge detail that says the name came from a log.
const LOG_DETAIL: &str = "log of container ";

/// Whether an edge detail (a [`Source`] as displayed) is a log line's.
pub fn detail_is_log(detail: &str) -> bool {
    detail.starts_with(LOG_DETAIL) || detail.starts_with("previous log of container ")
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Probe { kind } => write!(f, "{kind} probe failures"),
            Source::Log {
                container,
                previous,
            } => {
                if *previous {
                    f.write_str("previous ")?;
                }
                write!(f, "{LOG_DETAIL}{container}")
            }
            Source::Env { var, container } => write!(f, "env {var} of container {container}"),
            Source::ConfigMap { name, key } => write!(f, "ConfigMap {name} key {key}"),
        }
    }
}

/// One Service named by one piece of evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mention {
    /// The Service (it exists, or it is a StatefulSet's missing governing Service).
    pub service: ObjRef,
    pub source: Source,
    /// The address as written (`postgres.db:5432`, `10.96.12.4:5432`).
    pub written: String,
    /// The probe message or log line that names it; never a configuration value.
    pub quote: Option<String>,
}

/// An address found in a text, before it is resolved to a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Candidate {
    /// Lowercased host (a name or an IPv4 address), without a trailing dot.
    host: String,
    /// The address as written.
    written: String,
    /// The key of the setting it is the value of (bare names need one that says "host").
    key: Option<String>,
    /// In an address form (URL, host:port, resolver cue, qualified name, service env).
    addressed: bool,
}

/// The address candidates of a ConfigMap, each with its key.
type KeyedCandidates = Rc<Vec<(String, Candidate)>>;

/// Finds the Services Pods name. One per walk: it caches what ConfigMaps hold and
/// the ClusterIPs of the store's Services.
pub struct Scanner<'a> {
    store: &'a Store,
    logs: Option<&'a dyn LogSource>,
    cluster_ips: OnceCell<HashMap<String, ObjRef>>,
    configmaps: RefCell<HashMap<(String, String), KeyedCandidates>>,
}

impl<'a> Scanner<'a> {
    /// A scanner reading the store (and the logs, when given).
    pub fn new(store: &'a Store, logs: Option<&'a dyn LogSource>) -> Scanner<'a> {
        Scanner {
            store,
            logs,
            cluster_ips: OnceCell::new(),
            configmaps: RefCell::new(HashMap::new()),
        }
    }

    /// Every Service the Pod's evidence names, one mention per Service and source,
    /// in the order found (probes, logs, env, ConfigMaps); at most [`MAX_NAMED`]
    /// Services.
    pub fn pod_mentions(&self, pod_ref: &ObjRef, pod: &Pod) -> Vec<Mention> {
        let ns = pod_ref.ns();
        let Some(spec) = &pod.spec else {
            return Vec::new();
        };
        // the Pod's own Services are not its dependencies
        let own: Vec<String> = self
            .store
            .services_selecting(ns, pod.metadata.labels.as_ref())
            .into_iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        let mut out: Vec<Mention> = Vec::new();
        let push = |out: &mut Vec<Mention>,
                    candidate: &Candidate,
                    source: &Source,
                    quote: Option<&str>| {
            let Some(service) = self.resolve(ns, candidate) else {
                return;
            };
            if service.ns() == ns && own.contains(&service.name) {
                return;
            }
            if service.ns() == CLUSTER_DNS_NAMESPACE && service.name == CLUSTER_DNS_SERVICE {
                return;
            }
            if out
                .iter()
                .any(|m| m.service == service && &m.source == source)
            {
                return;
            }
            if !out.iter().any(|m| m.service == service) {
                let named: std::collections::BTreeSet<&ObjRef> =
                    out.iter().map(|m| &m.service).collect();
                if named.len() >= MAX_NAMED {
                    return;
                }
            }
            out.push(Mention {
                service,
                source: source.clone(),
                written: candidate.written.clone(),
                quote: quote.map(str::to_owned),
            });
        };
        // probe failures
        for event in self.store.events_for(pod_ref) {
            if event.reason != "Unhealthy" {
                continue;
            }
            let Some(kind) = probe_kind(&event.message) else {
                continue;
            };
            let source = Source::Probe { kind };
            for candidate in text_candidates(&event.message) {
                push(&mut out, &candidate, &source, Some(event.message.trim()));
            }
        }
        // logs of the failing containers
        if let Some(logs) = self.logs {
            for (container, previous) in failing_containers(pod) {
                let Some(lines) = logs.tail(pod_ref, &container, previous) else {
                    continue;
                };
                let source = Source::Log {
                    container: container.clone(),
                    previous,
                };
                for line in lines.iter().filter(|l| is_failure_line(l)) {
                    for candidate in text_candidates(line) {
                        push(&mut out, &candidate, &source, Some(line.trim()));
                    }
                }
            }
        }
        // env values and the ConfigMaps the containers read
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter());
        let mut configmaps: Vec<(String, Option<String>)> = Vec::new();
        for container in containers {
            for (var, candidate) in env_candidates(container) {
                let source = Source::Env {
                    var,
                    container: container.name.clone(),
                };
                push(&mut out, &candidate, &source, None);
            }
            for env_from in container.env_from.iter().flatten() {
                if let Some(cm) = &env_from.config_map_ref {
                    configmaps.push((cm.name.clone(), None));
                }
            }
            for env in container.env.iter().flatten() {
                if let Some(key_ref) = env
                    .value_from
                    .as_ref()
                    .and_then(|v| v.config_map_key_ref.as_ref())
                {
                    configmaps.push((key_ref.name.clone(), Some(key_ref.key.clone())));
                }
            }
        }
        for volume in spec.volumes.iter().flatten() {
            if let Some(cm) = &volume.config_map {
                configmaps.push((cm.name.clone(), None));
            }
            for source in volume
                .projected
                .iter()
                .flat_map(|p| p.sources.iter().flatten())
            {
                if let Some(cm) = &source.config_map {
                    configmaps.push((cm.name.clone(), None));
                }
            }
        }
        configmaps.sort();
        configmaps.dedup();
        for (name, only_key) in configmaps {
            for (key, candidate) in self.configmap_candidates(ns, &name).iter() {
                if only_key.as_ref().is_some_and(|k| k != key) {
                    continue;
                }
                let source = Source::ConfigMap {
                    name: name.clone(),
                    key: key.clone(),
                };
                push(&mut out, candidate, &source, None);
            }
        }
        out
    }

    /// The address candidates of a ConfigMap's values, read once per walk.
    fn configmap_candidates(&self, ns: &str, name: &str) -> KeyedCandidates {
        let cache_key = (ns.to_owned(), name.to_owned());
        if let Some(found) = self.configmaps.borrow().get(&cache_key) {
            return found.clone();
        }
        let mut found: Vec<(String, Candidate)> = Vec::new();
        if let Some(cm) = self.store.get::<ConfigMap>(ns, name) {
            for (key, value) in cm.data.iter().flatten().take(MAX_KEYS) {
                let value = clip_bytes(value, MAX_VALUE_BYTES);
                for candidate in config_candidates(key, value) {
                    found.push((key.clone(), candidate));
                }
            }
        }
        let found = Rc::new(found);
        self.configmaps
            .borrow_mut()
            .insert(cache_key, found.clone());
        found
    }

    /// The Service a candidate names from a Pod of namespace `ns`, if any.
    fn resolve(&self, ns: &str, candidate: &Candidate) -> Option<ObjRef> {
        let host = candidate.host.as_str();
        if is_ipv4(host) {
            return self.cluster_ip(host);
        }
        let labels: Vec<&str> = host.split('.').collect();
        if labels.iter().any(|l| !is_dns_label(l)) {
            return None;
        }
        // (namespace, service, hostname of a Pod under it)
        let mut tries: Vec<(&str, &str, Option<&str>)> = Vec::new();
        if let Some(k) = labels.iter().position(|l| *l == "svc") {
            match k {
                2 => tries.push((labels[1], labels[0], None)),
                3 => tries.push((labels[2], labels[1], Some(labels[0]))),
                _ => return None,
            }
        } else {
            match labels.len() {
                1 => {
                    let bare_ok = candidate.addressed
                        || candidate.key.as_deref().is_some_and(key_holds_address);
                    if !bare_ok {
                        return None;
                    }
                    tries.push((ns, labels[0], None));
                }
                2 => {
                    tries.push((labels[1], labels[0], None));
                    tries.push((ns, labels[1], Some(labels[0])));
                }
                3 => tries.push((labels[2], labels[1], Some(labels[0]))),
                _ => return None,
            }
        }
        for (service_ns, service, hostname) in tries {
            if !is_dns1035_label(service) {
                continue;
            }
            let service_ref = ObjRef::namespaced(Kind::Service, service_ns, service);
            if self.store.contains(&service_ref) {
                return Some(service_ref);
            }
            if let Some(hostname) = hostname
                && self.governing_service_of_peer(service_ns, service, hostname)
            {
                return Some(service_ref);
            }
        }
        None
    }

    /// Whether `hostname` is a Pod of a StatefulSet of `ns` governed by `service`
    /// (`web-0` of StatefulSet `web` with serviceName `web`).
    fn governing_service_of_peer(&self, ns: &str, service: &str, hostname: &str) -> bool {
        self.store.list::<StatefulSet>(ns).take(200).any(|sts| {
            let name = sts.metadata.name.as_deref().unwrap_or_default();
            sts.spec.service_name.as_deref() == Some(service)
                && hostname
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|ordinal| {
                        !ordinal.is_empty() && ordinal.bytes().all(|b| b.is_ascii_digit())
                    })
        })
    }

    fn cluster_ip(&self, ip: &str) -> Option<ObjRef> {
        self.cluster_ips
            .get_or_init(|| {
                let mut index = HashMap::new();
                for svc in self.store.all::<Service>() {
                    let Some(spec) = &svc.spec else { continue };
                    let (Some(ns), Some(name)) = (
                        svc.metadata.namespace.as_deref(),
                        svc.metadata.name.as_deref(),
                    ) else {
                        continue;
                    };
                    for ip in spec
                        .cluster_ips
                        .iter()
                        .flatten()
                        .chain(spec.cluster_ip.iter())
                    {
                        if ip != "None" && !ip.is_empty() {
                            index
                                .entry(ip.clone())
                                .or_insert_with(|| ObjRef::namespaced(Kind::Service, ns, name));
                        }
                    }
                }
                index
            })
            .get(ip)
            .cloned()
    }
}

/// `readiness` for "Readiness probe failed: ..." / "... probe errored ...".
fn probe_kind(message: &str) -> Option<&'static str> {
    for (prefix, kind) in [
        ("Readiness probe ", "readiness"),
        ("Liveness probe ", "liveness"),
        ("Startup probe ", "startup"),
    ] {
        if let Some(rest) = message.strip_prefix(prefix)
            && (rest.starts_with("failed") || rest.starts_with("errored"))
        {
            return Some(kind);
        }
    }
    None
}

/// Containers whose logs can tell why they fail: `(name, previous)`.
fn failing_containers(pod: &Pod) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for status in pod.status.iter().flat_map(|s| {
        s.init_container_statuses
            .iter()
            .flatten()
            .chain(s.container_statuses.iter().flatten())
    }) {
        if status.restart_count > 0 {
            out.push((status.name.clone(), true));
        }
        let terminated_ok = status
            .state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code == 0);
        if !status.ready && !terminated_ok {
            out.push((status.name.clone(), false));
        }
    }
    out
}

/// Whether a log line reports a failure to reach something.
pub fn is_failure_line(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [
        "refused",
        "econnrefused",
        "no such host",
        "name resolution",
        "could not resolve",
        "could not translate host",
        "failed to resolve",
        "name or service not known",
        "enotfound",
        "eai_again",
        "unknownhostexception",
        "server misbehaving",
        "i/o timeout",
        "timed out",
        "timeout",
        "no route to host",
        "connection reset",
        "unreachable",
        "could not connect",
        "failed to connect",
        "cannot connect",
        "can't connect",
        "unable to connect",
        "error connecting",
        "connect failed",
        "connection failed",
        "no endpoints available",
    ]
    .iter()
    .any(|fragment| lower.contains(fragment))
}

/// Whether a setting's name says its value is an address (`REDIS_HOST`, `DB_ADDR`,
/// `PGHOST`, `KAFKA_BROKERS`, `api.upstream`).
fn key_holds_address(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    [
        "HOST", "ADDR", "SERVER", "ENDPOINT", "URL", "URI", "DSN", "BROKER", "UPSTREAM", "BACKEND",
        "PEERS", "SEEDS",
    ]
    .iter()
    .any(|word| upper.contains(word))
}

fn clip_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn is_host_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

/// An RFC 1123 label.
fn is_dns_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// An RFC 1035 label, what a Service name is.
fn is_dns1035_label(label: &str) -> bool {
    is_dns_label(label) && label.as_bytes()[0].is_ascii_lowercase()
}

fn is_ipv4(host: &str) -> bool {
    let parts: Vec<&str> = host.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.parse::<u8>().is_ok())
}

/// Phrases after which a resolver or client writes a host name.
const HOST_CUES: &[&str] = &[
    "lookup ",
    "resolve host: ",
    "resolve host ",
    "host name \"",
    "host name '",
    "enotfound ",
    "eai_again ",
    "unknownhostexception: ",
    "failed to resolve '",
    "failed to resolve \"",
    "host=",
    "host=\"",
    "host='",
];

/// Address candidates in a probe message or a log line: only address forms.
fn text_candidates(text: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    let lower = text.to_ascii_lowercase();
    let chars: Vec<(usize, char)> = lower.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if !is_host_char(c) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && is_host_char(chars[j].1) {
            j += 1;
        }
        let end = chars.get(j).map_or(lower.len(), |(at, _)| *at);
        let run = &lower[start..end];
        i = j;
        let host = run.trim_end_matches('.').trim_start_matches(['.', '-']);
        // a name starts with a letter (Service names, StatefulSet Pod names)
        if host.is_empty() || (!host.as_bytes()[0].is_ascii_lowercase() && !is_ipv4(host)) {
            continue;
        }
        let before = &lower[..start];
        let after = &lower[end..];
        // `:port` right after
        let port = after
            .strip_prefix(':')
            .map(|rest| rest.bytes().take_while(u8::is_ascii_digit).count())
            .filter(|digits| (1..=5).contains(digits))
            .filter(|digits| {
                after[1 + digits..]
                    .chars()
                    .next()
                    .is_none_or(|c| !c.is_ascii_alphanumeric())
            });
        if before.ends_with("://") && is_userinfo(after) {
            // `scheme://user:password@host`: the user is no host (and nothing of it is kept)
            continue;
        }
        let in_url = before.ends_with("://") || (before.ends_with('@') && url_userinfo(before));
        let after_path = before.ends_with('/') && !before.ends_with("//");
        let cued = HOST_CUES.iter().any(|cue| before.ends_with(cue));
        let qualified = host.split('.').any(|l| l == "svc");
        let written = match port {
            Some(digits) => text[start..end + 1 + digits].to_owned(),
            None => text[start..end].trim_end_matches('.').to_owned(),
        };
        let addressed = in_url || cued || (port.is_some() && !after_path) || qualified;
        if !addressed {
            continue;
        }
        if is_ipv4(host) && port.is_none() && !in_url {
            continue;
        }
        out.push(Candidate {
            host: host.to_owned(),
            written,
            key: None,
            addressed: true,
        });
    }
    out.extend(service_env_candidates(text));
    out
}

/// Whether what follows a URL's `scheme://user` is the rest of a userinfo (`:pw@host`).
fn is_userinfo(after: &str) -> bool {
    let authority = after
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or_default();
    authority.contains('@')
}

/// Whether the `@` that ends `before` ends a URL's userinfo (`scheme://user:pw@`).
fn url_userinfo(before: &str) -> bool {
    let Some(scheme_end) = before.rfind("://") else {
        return false;
    };
    !before[scheme_end + 3..].contains(|c: char| c.is_whitespace() || c == '/')
}

/// `POSTGRES_SERVICE_HOST` / `$(REDIS_SERVICE_PORT)`: the env the kubelet injects
/// for each Service of the Pod's namespace.
fn service_env_candidates(text: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
        let Some(prefix) = word
            .strip_suffix("_SERVICE_HOST")
            .or_else(|| word.strip_suffix("_SERVICE_PORT"))
        else {
            continue;
        };
        if prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        out.push(Candidate {
            host: prefix.to_ascii_lowercase().replace('_', "-"),
            written: word.to_owned(),
            key: None,
            addressed: true,
        });
    }
    out
}

/// Candidates of a configuration value (`key` is the setting's name): the address
/// forms of a text, the whole value as a host list, and per line `key: value` pairs
/// of a configuration file.
fn config_candidates(key: &str, value: &str) -> Vec<Candidate> {
    let mut out = text_candidates(value);
    let mut pairs: Vec<(&str, &str)> = vec![(key, value)];
    if value.contains('\n') {
        for line in value.lines().take(2000) {
            let line = line.trim().trim_start_matches("- ");
            let split = line
                .split_once(": ")
                .or_else(|| line.split_once(" = "))
                .or_else(|| line.split_once('='));
            if let Some((k, v)) = split {
                pairs.push((k.trim().trim_matches('"'), v));
            }
        }
    }
    for (k, v) in pairs {
        let v = v.trim().trim_end_matches(',').trim_matches(['"', '\'']);
        if v.is_empty() || (v.contains(char::is_whitespace) && !v.contains(',')) {
            continue;
        }
        for item in v.split(',') {
            let item = item.trim();
            let (host, port) = match item.rsplit_once(':') {
                Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                    (h, Some(p))
                }
                _ => (item, None),
            };
            let host_lower = host.to_ascii_lowercase();
            let host_lower = host_lower.trim_end_matches('.');
            if host_lower.is_empty()
                || !host_lower.chars().all(is_host_char)
                || (!host_lower.as_bytes()[0].is_ascii_lowercase() && !is_ipv4(host_lower))
            {
                continue;
            }
            let candidate = Candidate {
                host: host_lower.to_owned(),
                written: item.to_owned(),
                key: Some(k.to_owned()),
                addressed: port.is_some() || host_lower.contains('.'),
            };
            if !out.iter().any(|c| c.host == candidate.host) {
                out.push(candidate);
            }
        }
    }
    out
}

/// `(variable, candidate)` for each literal env value of a container.
fn env_candidates(container: &Container) -> Vec<(String, Candidate)> {
    let mut out = Vec::new();
    for env in container.env.iter().flatten() {
        let Some(value) = env.value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        for candidate in config_candidates(&env.name, value) {
            out.push((env.name.clone(), candidate));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(text: &str) -> Vec<String> {
        text_candidates(text).into_iter().map(|c| c.host).collect()
    }

    #[test]
    fn address_forms_in_messages() {
        assert_eq!(
            hosts("dial tcp: lookup postgres.db.svc.cluster.local on 10.96.0.10:53: no such host"),
            ["postgres.db.svc.cluster.local", "10.96.0.10"]
        );
        assert_eq!(
            hosts("connect to redis:6379 failed: Connection refused"),
            ["redis"]
        );
        assert_eq!(
            hosts(
                r#"Get "http://10.1.2.3:8080/healthz": dial tcp 10.1.2.3:8080: connect: connection refused"#
            ),
            ["10.1.2.3", "10.1.2.3"]
        );
        assert_eq!(
            hosts(
                "psql: error: could not translate host name \"postgres\" to address: Name or service not known"
            ),
            ["postgres"]
        );
        assert_eq!(hosts("Error: getaddrinfo ENOTFOUND redis"), ["redis"]);
        // a word that happens to be a Service name is not an address
        assert!(
            hosts("cache miss for redis key session:42x, retrying: connection refused").is_empty()
        );
        assert!(hosts("panic at src/main.rs:10: connection refused").is_empty());
        assert!(hosts("2026-11-21T09:40:00Z connection refused").is_empty());
        assert_eq!(hosts("POSTGRES_SERVICE_HOST unreachable"), ["postgres"]);
    }

    #[test]
    fn configuration_values() {
        let hosts = |key: &str, value: &str| -> Vec<(String, bool)> {
            config_candidates(key, value)
                .into_iter()
                .map(|c| (c.host, c.addressed))
                .collect()
        };
        assert_eq!(
            hosts(
                "DATABASE_URL",
                "postgres://user:s3cret@postgres.db:5432/app"
            ),
            [("postgres.db".to_owned(), true)]
        );
        assert_eq!(hosts("REDIS_HOST", "redis"), [("redis".to_owned(), false)]);
        assert_eq!(
            hosts("KAFKA_BROKERS", "kafka-0.kafka:9092,kafka-1.kafka:9092"),
            [
                ("kafka-0.kafka".to_owned(), true),
                ("kafka-1.kafka".to_owned(), true)
            ]
        );
        assert_eq!(
            hosts("app.yaml", "database:\n  host: postgres\n  port: 5432\n"),
            [("postgres".to_owned(), false)]
        );
        assert!(hosts("GREETING", "hello world").is_empty());
        assert!(key_holds_address("PGHOST") && key_holds_address("host"));
        assert!(!key_holds_address("DB_NAME") && !key_holds_address("POSTGRES_USER"));
    }
}
