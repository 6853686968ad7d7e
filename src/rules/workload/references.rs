//! Missing references: ConfigMapNotFound, ConfigMapKeyNotFound, SecretNotFound,
//! SecretKeyNotFound, ServiceAccountNotFound; SecretUnverified where Secrets are not
//! read and nothing proves them either way.
//!
//! A reference is proven missing either by the graph (the kind was read in the
//! namespace and the object is not there) or by the kubelet's own words
//! (`configmap "app-config" not found`, `couldn't find key K in Secret ns/name`).
//! Optional references never fire. A missing imagePullSecret is harmless while the
//! image is public: it is a Critical SecretNotFound only when a pull of that Pod fails
//! for credentials, else Info.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::{DaemonSet, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec};

use crate::api::{Risk, Severity};
use crate::graph::{Existence, Via, pod_references};
use crate::k8s::owners;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::images::{PullClass, pod_pull_failures};
use super::{Claims, PodView};

/// The missing-reference rules on the Pods (ServiceAccountNotFound runs apart, on the
/// controllers).
pub(crate) fn evaluate(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    missing_objects(ctx, pods, claims, out);
    missing_keys(ctx, pods, claims, out);
    unverified_secrets(ctx, pods, out);
}

/// A Pod and how it references an object (`env`, `volume tls`...).
type Referencing = (ObjRef, Vec<String>);

/// SecretUnverified: Secrets that Pods the kubelet has not started need, where kubedx
/// may not read Secrets (an install without Secret access, or a denial) or the input
/// holds none (a snapshot without Secrets), and the
/// kubelet's own words (`secret "x" not found`, `Unable to retrieve some image pull
/// secrets`) did not already prove them missing. A Running Pod is the kubelet's
/// evidence that what it needed was there. Never reported as missing: one Info
/// finding per Secret, with why it could not be checked.
fn unverified_secrets(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    let proven: BTreeSet<ObjRef> = out
        .iter()
        .filter(|draft| {
            matches!(
                draft.rule.id,
                RuleId::SecretNotFound | RuleId::SecretKeyNotFound
            )
        })
        .map(|draft| draft.object.clone())
        .collect();
    // Secret -> ((why it is unverified, the short form), Pods with how they reference it)
    let mut by_secret: BTreeMap<ObjRef, ((String, String), Vec<Referencing>)> = BTreeMap::new();
    for pod in pods.iter().filter(|pod| pod.live()) {
        if !pod_blocked(pod) {
            continue;
        }
        let ns = pod.pod_ref.ns();
        for reference in pod_references(pod.spec) {
            if reference.kind != Kind::Secret
                || (reference.optional && reference.via != Via::ImagePullSecrets)
            {
                continue;
            }
            let secret = ObjRef::namespaced(Kind::Secret, ns, reference.name);
            if proven.contains(&secret) || ctx.existence(&secret) != Existence::Unknown {
                continue;
            }
            // denied or not granted, or simply not in the input (a snapshot without
            // Secrets): unverified either way, never missing and never silent
            let (reason, why) = match ctx.store.unverified_reason(Kind::Secret, ns) {
                Some(reason) => (
                    reason.to_owned(),
                    format!("kubedx may not read Secrets in {ns}"),
                ),
                None => (
                    format!(
                        "the input holds no Secret of namespace {ns} (Secrets were not captured)"
                    ),
                    format!("the input holds no Secrets of {ns}"),
                ),
            };
            let (_, users) = by_secret
                .entry(secret)
                .or_insert_with(|| ((reason, why), Vec::new()));
            let via = reference.via.to_string();
            match users
                .iter_mut()
                .find(|(pod_ref, _)| *pod_ref == pod.pod_ref)
            {
                Some((_, vias)) if !vias.contains(&via) => vias.push(via),
                Some(_) => {}
                None => users.push((pod.pod_ref.clone(), vec![via])),
            }
        }
    }
    for (secret, ((reason, why), users)) in by_secret {
        let pod_refs: Vec<ObjRef> = users.iter().map(|(pod_ref, _)| pod_ref.clone()).collect();
        let (first, vias) = &users[0];
        let draft = Draft::new(RuleId::SecretUnverified, secret.clone())
            .edge("Pod -> Secret")
            .affected(&pod_refs)
            .message(format!(
                "Secret {}/{} could not be verified: {} Pod(s) not yet started need it, and {why} (neither the kubelet nor the API says whether it exists)",
                secret.ns(),
                secret.name,
                pod_refs.len(),
            ))
            .evidence(format!("unverified: {reason}"))
            .evidence(format!(
                "referenced by {} of Pod {}",
                vias.join(", "),
                first.name
            ))
            .summary("Check that the Secret exists, or grant kubedx Secret access in this namespace.")
            .read_only(
                "Check that the Secret exists (names only)",
                format!(
                    "kubectl get secret {} -n {} -o name",
                    secret.name,
                    secret.ns()
                ),
            );
        out.push(draft);
    }
}

/// Objects the kubelet says are missing: `configmap "x" not found`, `secret "y" not found`.
pub(crate) fn kubelet_not_found(message: &str) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    for (prefix, kind) in [
        ("configmap \"", Kind::ConfigMap),
        ("configmaps \"", Kind::ConfigMap),
        ("secret \"", Kind::Secret),
        ("secrets \"", Kind::Secret),
    ] {
        let mut rest = message;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            if let Some(quote) = after.find('"') {
                let name = &after[..quote];
                if after[quote + 1..].trim_start().starts_with("not found") && !name.is_empty() {
                    let missing = (kind, name.to_owned());
                    if !out.contains(&missing) {
                        out.push(missing);
                    }
                }
                rest = &after[quote + 1..];
            } else {
                break;
            }
        }
    }
    out
}

/// Keys the kubelet says are missing: `couldn't find key K in ConfigMap ns/name`
/// gives (kind, Some(name), key); a volume's `configmap references non-existent config
/// key: K` gives (kind, None, key) (the volume names the object).
pub(crate) fn kubelet_missing_key(message: &str) -> Option<(Kind, Option<String>, String)> {
    if let Some(at) = message.find("couldn't find key ") {
        let rest = &message[at + "couldn't find key ".len()..];
        let (key, rest) = rest.split_once(" in ")?;
        let (kind, rest) = if let Some(object) = rest.strip_prefix("ConfigMap ") {
            (Kind::ConfigMap, object)
        } else if let Some(object) = rest.strip_prefix("Secret ") {
            (Kind::Secret, object)
        } else {
            return None;
        };
        let object = rest
            .split(|separator: char| {
                separator.is_whitespace()
                    || separator == ','
                    || separator == ';'
                    || separator == '"'
            })
            .next()
            .unwrap_or("");
        let name = object.rsplit('/').next().unwrap_or(object);
        return Some((kind, Some(name.to_owned()), key.to_owned()));
    }
    for (marker, kind) in [
        (
            "configmap references non-existent config key: ",
            Kind::ConfigMap,
        ),
        ("secret references non-existent secret key: ", Kind::Secret),
    ] {
        if let Some(at) = message.find(marker) {
            let key = message[at + marker.len()..]
                .split(|separator: char| {
                    separator.is_whitespace() || separator == ',' || separator == '"'
                })
                .next()
                .unwrap_or("");
            return Some((kind, None, key.to_owned()));
        }
    }
    None
}

/// The volume a `MountVolume.SetUp failed for volume "V"` message is about.
fn volume_of(message: &str) -> Option<&str> {
    let at = message.find("for volume \"")?;
    let rest = &message[at + "for volume \"".len()..];
    rest.split('"').next()
}

/// What a Pod is stuck on: a container waiting to be created, or not started at all.
fn pod_blocked(pod: &PodView) -> bool {
    if pod.phase() == "Pending" {
        return true;
    }
    pod.containers().iter().any(|container| {
        matches!(
            container.waiting_reason(),
            "CreateContainerConfigError" | "CreateContainerError" | "ContainerCreating"
        )
    })
}

/// The kubelet's messages about a Pod: waiting messages and events, with the events.
fn kubelet_messages<'a>(pod: &PodView<'a>) -> Vec<(String, Option<&'a crate::event::EventRecord>)> {
    let mut messages: Vec<(String, Option<&crate::event::EventRecord>)> = Vec::new();
    for container in pod.containers() {
        if let Some((_, message)) = container.waiting()
            && !message.is_empty()
        {
            messages.push((message.to_owned(), None));
        }
    }
    for event in &pod.events {
        if matches!(
            event.reason.as_str(),
            "Failed" | "FailedMount" | "FailedCreatePodContainer"
        ) {
            messages.push((event.message.clone(), Some(event)));
        }
    }
    messages
}

/// A Pod that references a missing ConfigMap or Secret.
struct MissingHit<'p, 'a> {
    pod: &'p PodView<'a>,
    /// How the Pod references it (`env`, `volume cfg`...).
    vias: Vec<String>,
    /// Only as an imagePullSecret.
    pull_secret: bool,
}

/// ConfigMapNotFound, SecretNotFound: one finding per missing object, on the object,
/// with the Pods that reference it.
fn missing_objects(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    // missing object -> Pods referencing it
    let mut by_object: BTreeMap<ObjRef, Vec<MissingHit>> = BTreeMap::new();
    for pod in pods.iter().filter(|pod| pod.live()) {
        let ns = pod.pod_ref.ns();
        let said: BTreeSet<(Kind, String)> = kubelet_messages(pod)
            .iter()
            .flat_map(|(message, _)| kubelet_not_found(message))
            .collect();
        let retrieve_failed = pod
            .events_with("FailedToRetrieveImagePullSecret")
            .iter()
            .map(|event| event.message.clone())
            .collect::<Vec<_>>();
        let mut per_object: BTreeMap<ObjRef, MissingHit> = BTreeMap::new();
        for reference in pod_references(pod.spec) {
            if !matches!(reference.kind, Kind::ConfigMap | Kind::Secret) || reference.key.is_some()
            {
                continue;
            }
            let pull_secret = reference.via == Via::ImagePullSecrets;
            if reference.optional && !pull_secret {
                continue;
            }
            let referenced = ObjRef::namespaced(reference.kind, ns, reference.name);
            let by_graph = ctx.existence(&referenced) == Existence::Missing;
            let by_kubelet = (!said.is_empty()
                && said.contains(&(reference.kind, reference.name.to_owned())))
                || (pull_secret
                    && retrieve_failed.iter().any(|message| {
                        message.contains(&format!("({})", reference.name))
                            || message.contains(reference.name)
                    }));
            if ctx.existence(&referenced) == Existence::Exists || !(by_graph || by_kubelet) {
                continue;
            }
            let hit = per_object.entry(referenced).or_insert(MissingHit {
                pod,
                vias: Vec::new(),
                pull_secret,
            });
            let via = reference.via.to_string();
            if !hit.vias.contains(&via) {
                hit.vias.push(via);
            }
            hit.pull_secret &= pull_secret;
        }
        for (referenced, hit) in per_object {
            by_object.entry(referenced).or_default().push(hit);
        }
    }
    for (missing, hits) in by_object {
        let rule = match missing.kind {
            Kind::ConfigMap => RuleId::ConfigMapNotFound,
            _ => RuleId::SecretNotFound,
        };
        let pod_refs: Vec<ObjRef> = hits.iter().map(|hit| hit.pod.pod_ref.clone()).collect();
        let first = hits[0].pod;
        let pull_only = hits.iter().all(|hit| hit.pull_secret);
        let mut draft = Draft::new(rule, missing.clone())
            .edge(format!("Pod -> {}", missing.kind))
            .affected(&pod_refs);
        // Severity: is anything stuck on it now?
        let severity;
        let mut message;
        if pull_only {
            let failing: Vec<&PodView> = hits
                .iter()
                .map(|hit| hit.pod)
                .filter(|pod| {
                    pod_pull_failures(pod).iter().any(|failure| {
                        matches!(
                            failure.class,
                            PullClass::Unauthorized | PullClass::AccessDenied
                        )
                    })
                })
                .collect();
            if failing.is_empty() {
                severity = Severity::Info;
                message = format!(
                    "imagePullSecret {} of {} Pod(s) does not exist; harmless while their images are public, but a private image would fail to pull",
                    missing.name,
                    hits.len()
                );
            } else {
                severity = Severity::Critical;
                message = format!(
                    "imagePullSecret {} does not exist, and the registry refuses the image pull of {} Pod(s) for lack of credentials",
                    missing.name,
                    failing.len()
                );
            }
        } else {
            let blocked: Vec<&PodView> = hits
                .iter()
                .map(|hit| hit.pod)
                .filter(|pod| pod_blocked(pod))
                .collect();
            if blocked.is_empty() {
                severity = Severity::Warning;
                message = format!(
                    "{} {}/{} does not exist; the {} Pod(s) referencing it started before it disappeared and keep running, but any restart or new Pod will fail",
                    missing.kind,
                    missing.ns(),
                    missing.name,
                    hits.len()
                );
            } else {
                severity = Severity::Critical;
                message = format!(
                    "{} {}/{} does not exist, so the kubelet cannot start the containers of {} Pod(s) that need it",
                    missing.kind,
                    missing.ns(),
                    missing.name,
                    blocked.len()
                );
            }
        }
        let controllers: BTreeSet<String> = hits.iter().map(|hit| hit.pod.owner.short()).collect();
        message.push_str(&format!(
            " ({})",
            controllers.into_iter().collect::<Vec<_>>().join(", ")
        ));
        draft = draft.severity(severity).message(message);
        match ctx.existence(&missing) {
            Existence::Missing => {
                draft = draft.evidence(format!(
                    "no {} named {} in namespace {} (the namespace's {} were read)",
                    missing.kind,
                    missing.name,
                    missing.ns(),
                    missing.kind.plural()
                ))
            }
            _ => {
                draft = draft.evidence(format!(
                    "{} {} were not read; the kubelet's messages prove {} is missing",
                    missing.ns(),
                    missing.kind.plural(),
                    missing.name
                ))
            }
        }
        for hit in &hits[..1] {
            draft = draft.evidence(format!(
                "referenced by {} of Pod {} (not optional)",
                hit.vias.join(", "),
                hit.pod.pod_ref.name
            ));
        }
        for container in first.containers() {
            if let Some((_, waiting_message)) = container.waiting()
                && kubelet_not_found(waiting_message)
                    .contains(&(missing.kind, missing.name.clone()))
            {
                draft = draft.evidence(container.waiting_evidence().unwrap_or_default());
            }
        }
        // Quote the kubelet's events about it (first Pod), account for the others'.
        let mut quoted = 0;
        for (index, hit) in hits.iter().enumerate() {
            for event in hit.pod.events.iter().rev() {
                let about = kubelet_not_found(&event.message)
                    .contains(&(missing.kind, missing.name.clone()))
                    || (event.reason == "FailedToRetrieveImagePullSecret"
                        && event.message.contains(&missing.name));
                if !about {
                    continue;
                }
                if index == 0 && quoted < 3 {
                    draft = draft.event(event);
                    quoted += 1;
                } else {
                    draft = draft.account(event).seen(event.first_time, event.time);
                }
            }
        }
        for hit in &hits {
            if severity > Severity::Info {
                claims.claim(&hit.pod.pod_ref, None);
                for container in hit.pod.containers() {
                    if container.waiting_reason() == "CreateContainerConfigError" {
                        claims.claim(&hit.pod.pod_ref, Some(container.name()));
                    }
                }
            }
        }
        let ns = missing.ns();
        let workload = owners::top_owner(ctx.store, &first.owner);
        draft = draft
            .read_only(
                format!("List the {} of namespace {ns}", missing.kind.plural()),
                format!("kubectl get {} -n {ns}", missing.kind.plural()),
            )
            .read_only(
                "Read the kubelet's messages about the Pod",
                first.describe_cmd(),
            );
        draft = if missing.kind == Kind::ConfigMap {
            draft.summary(format!(
                "Create ConfigMap {} (from the same source as the workload's manifests), or fix the reference",
                missing.name
            ))
            .step(
                format!("Create the ConfigMap {} with the keys the workload expects", missing.name),
                Some(format!(
                    "kubectl create configmap {} -n {ns} --from-file=<dir-or-file>",
                    missing.name
                )),
                Risk::Reversible,
            )
        } else if pull_only {
            draft.summary(format!(
                "Create the docker-registry Secret {} with credentials for the registry, or remove it from imagePullSecrets",
                missing.name
            ))
            .step(
                format!("Create the pull Secret {}", missing.name),
                Some(format!(
                    "kubectl create secret docker-registry {} -n {ns} --docker-server=<registry> --docker-username=<user> --docker-password=<token>",
                    missing.name
                )),
                Risk::Reversible,
            )
        } else {
            draft.summary(format!(
                "Create Secret {} (from your secret manager / sealed secret source), or fix the reference",
                missing.name
            ))
            .step(
                format!("Create the Secret {} with the keys the workload expects", missing.name),
                Some(format!(
                    "kubectl create secret generic {} -n {ns} --from-literal=<key>=<value>",
                    missing.name
                )),
                Risk::Reversible,
            )
        };
        draft = draft.step(
            format!(
                "If the name is wrong, correct it in {} (or mark the reference optional: true if the app can run without it); the Pods are recreated",
                workload.short()
            ),
            Some(format!("kubectl edit {}", super::kubectl_ref(&workload))),
            Risk::Disruptive,
        );
        out.push(draft);
    }
}

/// A Pod that references a missing key of a ConfigMap or Secret.
struct KeyHit<'p, 'a> {
    pod: &'p PodView<'a>,
    /// How the Pod references it.
    via: String,
    /// The kubelet says the key is missing.
    by_kubelet: bool,
}

/// ConfigMapKeyNotFound, SecretKeyNotFound: one finding per missing key, on the
/// object, with the Pods that reference it.
fn missing_keys(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    // (object, key) -> Pods
    let mut by_key: BTreeMap<(ObjRef, String), Vec<KeyHit>> = BTreeMap::new();
    for pod in pods.iter().filter(|pod| pod.live()) {
        let ns = pod.pod_ref.ns();
        let mut said: BTreeSet<(Kind, String, String)> = BTreeSet::new();
        for (message, _) in kubelet_messages(pod) {
            if let Some((kind, name, key)) = kubelet_missing_key(&message) {
                let name = match name {
                    Some(name) => Some(name),
                    // a volume's item: the volume names the object
                    None => volume_of(&message).and_then(|volume_name| {
                        pod.spec
                            .volumes
                            .iter()
                            .flatten()
                            .find(|volume| volume.name == volume_name)
                            .and_then(|volume| match kind {
                                Kind::ConfigMap => {
                                    volume.config_map.as_ref().map(|source| source.name.clone())
                                }
                                _ => volume
                                    .secret
                                    .as_ref()
                                    .and_then(|source| source.secret_name.clone()),
                            })
                    }),
                };
                if let Some(name) = name {
                    said.insert((kind, name, key));
                }
            }
        }
        let mut seen: BTreeSet<(ObjRef, String)> = BTreeSet::new();
        for reference in pod_references(pod.spec) {
            let Some(key) = reference.key else { continue };
            if reference.optional || !matches!(reference.kind, Kind::ConfigMap | Kind::Secret) {
                continue;
            }
            let referenced = ObjRef::namespaced(reference.kind, ns, reference.name);
            let by_kubelet = !said.is_empty()
                && said.contains(&(reference.kind, reference.name.to_owned(), key.to_owned()));
            let by_data = reference.kind == Kind::ConfigMap
                && ctx
                    .store
                    .get_ref::<ConfigMap>(&referenced)
                    .is_some_and(|config_map| {
                        !config_map
                            .data
                            .as_ref()
                            .is_some_and(|data| data.contains_key(key))
                            && !config_map
                                .binary_data
                                .as_ref()
                                .is_some_and(|data| data.contains_key(key))
                    });
            if !(by_kubelet || by_data) || !seen.insert((referenced.clone(), key.to_owned())) {
                continue;
            }
            by_key
                .entry((referenced, key.to_owned()))
                .or_default()
                .push(KeyHit {
                    pod,
                    via: reference.via.to_string(),
                    by_kubelet,
                });
        }
    }
    for ((missing, key), hits) in by_key {
        let rule = match missing.kind {
            Kind::ConfigMap => RuleId::ConfigMapKeyNotFound,
            _ => RuleId::SecretKeyNotFound,
        };
        let pod_refs: Vec<ObjRef> = hits.iter().map(|hit| hit.pod.pod_ref.clone()).collect();
        let first = hits[0].pod;
        let blocked = hits.iter().filter(|hit| pod_blocked(hit.pod)).count();
        let ns = missing.ns();
        let mut draft = Draft::new(rule, missing.clone())
            .discriminator(key.clone())
            .edge(format!("Pod -> {}", missing.kind))
            .affected(&pod_refs);
        if blocked == 0 {
            draft = draft.severity(Severity::Warning).message(format!(
                "{} {}/{} has no key {key}; the {} Pod(s) using it run on values resolved before the key disappeared, any restart or new Pod will fail",
                missing.kind,
                ns,
                missing.name,
                hits.len()
            ));
        } else {
            draft = draft.message(format!(
                "{} {}/{} exists but has no key {key}, so the kubelet cannot start the containers of {blocked} Pod(s) ({})",
                missing.kind, ns, missing.name, first.owner.short()
            ));
        }
        draft = draft.evidence(format!(
            "key {key} referenced by {} of Pod {} (not optional)",
            hits[0].via, first.pod_ref.name
        ));
        if missing.kind == Kind::ConfigMap {
            if let Some(config_map) = ctx.store.get_ref::<ConfigMap>(&missing) {
                let keys: Vec<String> = config_map
                    .data
                    .iter()
                    .flat_map(|data| data.keys().cloned())
                    .chain(
                        config_map
                            .binary_data
                            .iter()
                            .flat_map(|data| data.keys().cloned()),
                    )
                    .collect();
                draft = draft.evidence(format!(
                    "ConfigMap {} has keys: {}",
                    missing.name,
                    if keys.is_empty() {
                        "(none)".to_owned()
                    } else {
                        keys.join(", ")
                    }
                ));
            }
        } else {
            draft = draft.evidence("Secret data is never read by kubedx: the kubelet's message proves the key is missing");
        }
        for container in first.containers() {
            if let Some((_, message)) = container.waiting()
                && kubelet_missing_key(message)
                    .is_some_and(|(_, _, missing_key)| missing_key == key)
            {
                draft = draft.evidence(container.waiting_evidence().unwrap_or_default());
            }
        }
        let mut quoted = 0;
        for (index, hit) in hits.iter().enumerate() {
            for event in hit.pod.events.iter().rev() {
                if kubelet_missing_key(&event.message)
                    .is_none_or(|(_, _, missing_key)| missing_key != key)
                {
                    continue;
                }
                if index == 0 && quoted < 3 {
                    draft = draft.event(event);
                    quoted += 1;
                } else {
                    draft = draft.account(event).seen(event.first_time, event.time);
                }
            }
        }
        if missing.kind == Kind::ConfigMap && hits.iter().any(|hit| hit.by_kubelet) {
            draft = draft.evidence("the kubelet reports the key missing");
        }
        for hit in &hits {
            claims.claim(&hit.pod.pod_ref, None);
            for container in hit.pod.containers() {
                if container.waiting_reason() == "CreateContainerConfigError" {
                    claims.claim(&hit.pod.pod_ref, Some(container.name()));
                }
            }
        }
        let workload = owners::top_owner(ctx.store, &first.owner);
        let (get, add) = if missing.kind == Kind::ConfigMap {
            (
                format!("kubectl get configmap {} -n {ns} -o yaml", missing.name),
                format!(
                    "kubectl patch configmap {} -n {ns} --type merge -p '{{\"data\":{{\"{key}\":\"<value>\"}}}}'",
                    missing.name
                ),
            )
        } else {
            (
                format!(
                    "kubectl get secret {} -n {ns} -o jsonpath='{{.data}}' | jq 'keys'",
                    missing.name
                ),
                format!(
                    "kubectl patch secret {} -n {ns} --type merge -p '{{\"stringData\":{{\"{key}\":\"<value>\"}}}}'",
                    missing.name
                ),
            )
        };
        draft = draft
            .summary(format!(
                "Add key {key} to {} {}, or fix the key name in {}",
                missing.kind,
                missing.name,
                workload.short()
            ))
            .read_only(
                format!("List the keys of {} {}", missing.kind, missing.name),
                get,
            )
            .read_only("Read the kubelet's message", first.describe_cmd())
            .step(format!("Add the key {key}"), Some(add), Risk::Reversible)
            .step(
                format!(
                    "Or correct the key name in {} (the Pods are recreated)",
                    workload.short()
                ),
                Some(format!("kubectl edit {}", super::kubectl_ref(&workload))),
                Risk::Disruptive,
            );
        out.push(draft);
    }
}

/// ServiceAccountNotFound: a Pod template names a ServiceAccount that does not exist,
/// so the controller cannot create Pods (the admission plugin refuses them).
pub(crate) fn service_account_not_found(ctx: &RuleContext, out: &mut Vec<Draft>) {
    /// The controllers whose Pod template names a missing ServiceAccount.
    struct AccountHit<'a> {
        controllers: Vec<ObjRef>,
        /// Their FailedCreate events about it.
        events: Vec<&'a std::sync::Arc<crate::event::EventRecord>>,
        /// Some controller has fewer Pods than it wants (else only the template names it).
        short: bool,
    }
    let mut by_account: BTreeMap<ObjRef, AccountHit> = BTreeMap::new();
    for kind in [
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
    ] {
        for controller in ctx.graph.subjects(kind) {
            let Some((template, desired, have)) = template_of(ctx, controller) else {
                continue;
            };
            let Some(spec) = template.spec.as_ref() else {
                continue;
            };
            #[allow(deprecated)]
            let account = spec
                .service_account_name
                .as_deref()
                .or(spec.service_account.as_deref())
                .filter(|name| !name.is_empty())
                .unwrap_or("default");
            let account_ref = ObjRef::namespaced(Kind::ServiceAccount, controller.ns(), account);
            let events: Vec<_> = ctx
                .events(controller)
                .into_iter()
                .filter(|event| {
                    event.reason == "FailedCreate"
                        && event
                            .message
                            .contains(&format!("serviceaccount \"{account}\" not found"))
                })
                .collect();
            let listed_missing = account != "default"
                && !ctx.store.contains(&account_ref)
                && ctx.store.kind_listed(Kind::ServiceAccount, controller.ns());
            if events.is_empty() && !(listed_missing && desired > 0) {
                continue;
            }
            let hit = by_account.entry(account_ref).or_insert(AccountHit {
                controllers: Vec::new(),
                events: Vec::new(),
                short: false,
            });
            hit.controllers.push(controller.clone());
            hit.short |= !events.is_empty() || have < desired;
            hit.events.extend(events);
        }
    }
    for (account, hit) in by_account {
        let ns = account.ns();
        let first = &hit.controllers[0];
        let workload = owners::top_owner(ctx.store, first);
        let mut draft = Draft::new(RuleId::ServiceAccountNotFound, account.clone())
            .edge("Pod -> ServiceAccount")
            .affected(&hit.controllers)
            .scope(first.clone());
        if hit.short {
            draft = draft.message(format!(
                "ServiceAccount {ns}/{} does not exist, so {} cannot create its Pods",
                account.name,
                first.short()
            ));
        } else {
            draft = draft.severity(Severity::Warning).message(format!(
                "ServiceAccount {ns}/{} named by the Pod template of {} does not exist: its running Pods were created before, but no new Pod can be created",
                account.name,
                first.short()
            ));
        }
        draft = draft.evidence(format!(
            "spec.template.spec.serviceAccountName={} in {}",
            account.name,
            hit.controllers
                .iter()
                .map(|controller| controller.short())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if ctx.store.kind_listed(Kind::ServiceAccount, ns) && !ctx.store.contains(&account) {
            draft = draft.evidence(format!(
                "no ServiceAccount named {} in namespace {ns} (the namespace's serviceaccounts were read)",
                account.name
            ));
        }
        for event in hit.events.iter().rev().take(3) {
            draft = draft.event(event);
        }
        for event in hit.events.iter() {
            draft = draft.account(event);
        }
        draft = draft
            .summary(format!(
                "Create ServiceAccount {} (with the RBAC bindings the workload needs), or point the template at an existing one",
                account.name
            ))
            .read_only(
                "List the ServiceAccounts of the namespace",
                format!("kubectl get serviceaccounts -n {ns}"),
            )
            .read_only(
                "Read the controller's FailedCreate events",
                format!("kubectl describe {} -n {ns}", first.kubectl()),
            )
            .step(
                format!("Create the ServiceAccount {}", account.name),
                Some(format!("kubectl create serviceaccount {} -n {ns}", account.name)),
                Risk::Reversible,
            )
            .step(
                format!("Or use an existing ServiceAccount in {}", workload.short()),
                Some(format!(
                    "kubectl set serviceaccount {} <existing-serviceaccount> -n {ns}",
                    workload.kubectl()
                )),
                Risk::Disruptive,
            );
        out.push(draft);
    }
}

/// The Pod template of a controller, with its desired and current Pod counts.
fn template_of<'a>(
    ctx: &RuleContext<'a>,
    controller: &ObjRef,
) -> Option<(&'a PodTemplateSpec, i32, i32)> {
    match controller.kind {
        Kind::ReplicaSet => {
            let replica_set = ctx.store.get_ref::<ReplicaSet>(controller)?;
            let have = replica_set
                .status
                .as_ref()
                .map_or(0, |status| status.replicas);
            Some((
                replica_set.spec.template.as_ref()?,
                replica_set.spec.replicas.unwrap_or(1),
                have,
            ))
        }
        Kind::StatefulSet => {
            let stateful_set = ctx.store.get_ref::<StatefulSet>(controller)?;
            let have = stateful_set
                .status
                .as_ref()
                .map_or(0, |status| status.replicas);
            Some((
                &stateful_set.spec.template,
                stateful_set.spec.replicas.unwrap_or(1),
                have,
            ))
        }
        Kind::DaemonSet => {
            let daemon_set = ctx.store.get_ref::<DaemonSet>(controller)?;
            let status = daemon_set.status.as_ref();
            let desired = status.map_or(1, |status| status.desired_number_scheduled);
            let have = status.map_or(0, |status| status.current_number_scheduled);
            Some((&daemon_set.spec.template, desired, have))
        }
        Kind::Job => {
            let job = ctx.store.get_ref::<Job>(controller)?;
            let spec = job.spec.as_ref()?;
            let status = job.status.as_ref();
            let finished = status
                .and_then(|status| status.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|condition| {
                    (condition.type_ == "Complete" || condition.type_ == "Failed")
                        && condition.status == "True"
                });
            let desired = if finished || spec.suspend == Some(true) {
                0
            } else {
                spec.parallelism.unwrap_or(1)
            };
            let have = status.and_then(|status| status.active).unwrap_or(0);
            Some((&spec.template, desired, have))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_not_found_messages() {
        assert_eq!(
            kubelet_not_found("Error: configmap \"app-config\" not found"),
            vec![(Kind::ConfigMap, "app-config".to_owned())]
        );
        assert_eq!(
            kubelet_not_found(
                "MountVolume.SetUp failed for volume \"creds\" : secret \"db\" not found"
            ),
            vec![(Kind::Secret, "db".to_owned())]
        );
        assert!(kubelet_not_found("secret \"db\" is forbidden").is_empty());
    }

    #[test]
    fn kubelet_missing_key_messages() {
        assert_eq!(
            kubelet_missing_key("Error: couldn't find key db-url in ConfigMap shop/app-config"),
            Some((
                Kind::ConfigMap,
                Some("app-config".to_owned()),
                "db-url".to_owned()
            ))
        );
        assert_eq!(
            kubelet_missing_key("couldn't find key password in Secret shop/db"),
            Some((Kind::Secret, Some("db".to_owned()), "password".to_owned()))
        );
        assert_eq!(
            kubelet_missing_key(
                "MountVolume.SetUp failed for volume \"cfg\" : configmap references non-existent config key: app.yaml"
            ),
            Some((Kind::ConfigMap, None, "app.yaml".to_owned()))
        );
        assert_eq!(
            kubelet_missing_key("Back-off restarting failed container"),
            None
        );
    }
}
