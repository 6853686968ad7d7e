//! Missing references: ConfigMapNotFound, ConfigMapKeyNotFound, SecretNotFound,
//! SecretKeyNotFound, ServiceAccountNotFound.
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

pub(crate) fn evaluate(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    missing_objects(ctx, pods, claims, out);
    missing_keys(ctx, pods, claims, out);
}

/// Whether an object exists: the graph's verdict, else the store's.
pub(crate) fn existence(ctx: &RuleContext, r: &ObjRef) -> Existence {
    match ctx.graph.node(r) {
        Some(node) => node.exists,
        None => ctx.store.existence(r),
    }
}

/// Objects the kubelet says are missing: `configmap "x" not found`, `secret "y" not found`.
pub(crate) fn kubelet_not_found(msg: &str) -> Vec<(Kind, String)> {
    let mut out = Vec::new();
    for (prefix, kind) in [
        ("configmap \"", Kind::ConfigMap),
        ("configmaps \"", Kind::ConfigMap),
        ("secret \"", Kind::Secret),
        ("secrets \"", Kind::Secret),
    ] {
        let mut rest = msg;
        while let Some(i) = rest.find(prefix) {
            let after = &rest[i + prefix.len()..];
            if let Some(j) = after.find('"') {
                let name = &after[..j];
                if after[j + 1..].trim_start().starts_with("not found") && !name.is_empty() {
                    let v = (kind, name.to_owned());
                    if !out.contains(&v) {
                        out.push(v);
                    }
                }
                rest = &after[j + 1..];
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
pub(crate) fn kubelet_missing_key(msg: &str) -> Option<(Kind, Option<String>, String)> {
    if let Some(i) = msg.find("couldn't find key ") {
        let rest = &msg[i + "couldn't find key ".len()..];
        let (key, rest) = rest.split_once(" in ")?;
        let (kind, rest) = if let Some(r) = rest.strip_prefix("ConfigMap ") {
            (Kind::ConfigMap, r)
        } else if let Some(r) = rest.strip_prefix("Secret ") {
            (Kind::Secret, r)
        } else {
            return None;
        };
        let obj = rest
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '"')
            .next()
            .unwrap_or("");
        let name = obj.rsplit('/').next().unwrap_or(obj);
        return Some((kind, Some(name.to_owned()), key.to_owned()));
    }
    for (marker, kind) in [
        (
            "configmap references non-existent config key: ",
            Kind::ConfigMap,
        ),
        ("secret references non-existent secret key: ", Kind::Secret),
    ] {
        if let Some(i) = msg.find(marker) {
            let key = msg[i + marker.len()..]
                .split(|c: char| c.is_whitespace() || c == ',' || c == '"')
                .next()
                .unwrap_or("");
            return Some((kind, None, key.to_owned()));
        }
    }
    None
}

/// The volume a `MountVolume.SetUp failed for volume "V"` message is about.
fn volume_of(msg: &str) -> Option<&str> {
    let i = msg.find("for volume \"")?;
    let rest = &msg[i + "for volume \"".len()..];
    rest.split('"').next()
}

/// What a Pod is stuck on: a container waiting to be created, or not started at all.
fn pod_blocked(p: &PodView) -> bool {
    if p.phase() == "Pending" {
        return true;
    }
    p.containers().iter().any(|c| {
        matches!(
            c.waiting_reason(),
            "CreateContainerConfigError" | "CreateContainerError" | "ContainerCreating"
        )
    })
}

/// The kubelet's messages about a Pod: waiting messages and events, with the events.
fn kubelet_messages<'a>(p: &PodView<'a>) -> Vec<(String, Option<&'a crate::event::EventRecord>)> {
    let mut v: Vec<(String, Option<&crate::event::EventRecord>)> = Vec::new();
    for c in p.containers() {
        if let Some((_, m)) = c.waiting()
            && !m.is_empty()
        {
            v.push((m.to_owned(), None));
        }
    }
    for e in &p.events {
        if matches!(
            e.reason.as_str(),
            "Failed" | "FailedMount" | "FailedCreatePodContainer"
        ) {
            v.push((e.message.clone(), Some(e)));
        }
    }
    v
}

struct MissingHit<'p, 'a> {
    pod: &'p PodView<'a>,
    vias: Vec<String>,
    pull_secret: bool,
}

fn missing_objects(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    // missing object -> Pods referencing it
    let mut hits: BTreeMap<ObjRef, Vec<MissingHit>> = BTreeMap::new();
    for p in pods.iter().filter(|p| p.live()) {
        let ns = p.pod_ref.ns();
        let said: BTreeSet<(Kind, String)> = kubelet_messages(p)
            .iter()
            .flat_map(|(m, _)| kubelet_not_found(m))
            .collect();
        let retrieve_failed = p
            .events_with("FailedToRetrieveImagePullSecret")
            .iter()
            .map(|e| e.message.clone())
            .collect::<Vec<_>>();
        let mut per_obj: BTreeMap<ObjRef, MissingHit> = BTreeMap::new();
        for pr in pod_references(p.spec) {
            if !matches!(pr.kind, Kind::ConfigMap | Kind::Secret) || pr.key.is_some() {
                continue;
            }
            let pull_secret = pr.via == Via::ImagePullSecrets;
            if pr.optional && !pull_secret {
                continue;
            }
            let r = ObjRef::namespaced(pr.kind, ns, pr.name);
            let by_graph = existence(ctx, &r) == Existence::Missing;
            let by_kubelet = (!said.is_empty() && said.contains(&(pr.kind, pr.name.to_owned())))
                || (pull_secret
                    && retrieve_failed
                        .iter()
                        .any(|m| m.contains(&format!("({})", pr.name)) || m.contains(pr.name)));
            if existence(ctx, &r) == Existence::Exists || !(by_graph || by_kubelet) {
                continue;
            }
            let h = per_obj.entry(r).or_insert(MissingHit {
                pod: p,
                vias: Vec::new(),
                pull_secret,
            });
            let via = pr.via.to_string();
            if !h.vias.contains(&via) {
                h.vias.push(via);
            }
            h.pull_secret &= pull_secret;
        }
        for (r, h) in per_obj {
            hits.entry(r).or_default().push(h);
        }
    }
    for (obj, hs) in hits {
        let rule = match obj.kind {
            Kind::ConfigMap => RuleId::ConfigMapNotFound,
            _ => RuleId::SecretNotFound,
        };
        let pod_refs: Vec<ObjRef> = hs.iter().map(|h| h.pod.pod_ref.clone()).collect();
        let first = hs[0].pod;
        let pull_only = hs.iter().all(|h| h.pull_secret);
        let mut d = Draft::new(rule, obj.clone())
            .edge(format!("Pod -> {}", obj.kind))
            .affected(&pod_refs);
        // Severity: is anything stuck on it now?
        let severity;
        let mut message;
        if pull_only {
            let failing: Vec<&PodView> = hs
                .iter()
                .map(|h| h.pod)
                .filter(|p| {
                    pod_pull_failures(p).iter().any(|f| {
                        matches!(f.class, PullClass::Unauthorized | PullClass::AccessDenied)
                    })
                })
                .collect();
            if failing.is_empty() {
                severity = Severity::Info;
                message = format!(
                    "imagePullSecret {} of {} Pod(s) does not exist; harmless while their images are public, but a private image would fail to pull",
                    obj.name,
                    hs.len()
                );
            } else {
                severity = Severity::Critical;
                message = format!(
                    "imagePullSecret {} does not exist, and the registry refuses the image pull of {} Pod(s) for lack of credentials",
                    obj.name,
                    failing.len()
                );
            }
        } else {
            let blocked: Vec<&PodView> = hs
                .iter()
                .map(|h| h.pod)
                .filter(|p| pod_blocked(p))
                .collect();
            if blocked.is_empty() {
                severity = Severity::Warning;
                message = format!(
                    "{} {}/{} does not exist; the {} Pod(s) referencing it started before it disappeared and keep running, but any restart or new Pod will fail",
                    obj.kind,
                    obj.ns(),
                    obj.name,
                    hs.len()
                );
            } else {
                severity = Severity::Critical;
                message = format!(
                    "{} {}/{} does not exist, so the kubelet cannot start the containers of {} Pod(s) that need it",
                    obj.kind,
                    obj.ns(),
                    obj.name,
                    blocked.len()
                );
            }
        }
        let owners: BTreeSet<String> = hs.iter().map(|h| h.pod.owner.short()).collect();
        message.push_str(&format!(
            " ({})",
            owners.into_iter().collect::<Vec<_>>().join(", ")
        ));
        d = d.severity(severity).message(message);
        match existence(ctx, &obj) {
            Existence::Missing => {
                d = d.evidence(format!(
                    "no {} named {} in namespace {} (the namespace's {} were read)",
                    obj.kind,
                    obj.name,
                    obj.ns(),
                    obj.kind.plural()
                ))
            }
            _ => {
                d = d.evidence(format!(
                    "{} {} were not read; the kubelet's messages prove {} is missing",
                    obj.ns(),
                    obj.kind.plural(),
                    obj.name
                ))
            }
        }
        for h in &hs[..1] {
            d = d.evidence(format!(
                "referenced by {} of Pod {} (not optional)",
                h.vias.join(", "),
                h.pod.pod_ref.name
            ));
        }
        for c in first.containers() {
            if let Some((_, m)) = c.waiting()
                && kubelet_not_found(m).contains(&(obj.kind, obj.name.clone()))
            {
                d = d.evidence(c.waiting_evidence().unwrap_or_default());
            }
        }
        // Quote the kubelet's events about it (first Pod), account for the others'.
        let mut quoted = 0;
        for (i, h) in hs.iter().enumerate() {
            for e in h.pod.events.iter().rev() {
                let about = kubelet_not_found(&e.message).contains(&(obj.kind, obj.name.clone()))
                    || (e.reason == "FailedToRetrieveImagePullSecret"
                        && e.message.contains(&obj.name));
                if !about {
                    continue;
                }
                if i == 0 && quoted < 3 {
                    d = d.event(e);
                    quoted += 1;
                } else {
                    d = d.account(e).seen(e.first_time, e.time);
                }
            }
        }
        for h in &hs {
            if severity > Severity::Info {
                claims.claim(&h.pod.pod_ref, None);
                for c in h.pod.containers() {
                    if c.waiting_reason() == "CreateContainerConfigError" {
                        claims.claim(&h.pod.pod_ref, Some(c.name()));
                    }
                }
            }
        }
        let ns = obj.ns();
        let workload = owners::top_owner(ctx.store, &first.owner);
        d = d
            .read_only(
                format!("List the {} of namespace {ns}", obj.kind.plural()),
                format!("kubectl get {} -n {ns}", obj.kind.plural()),
            )
            .read_only(
                "Read the kubelet's messages about the Pod",
                first.describe_cmd(),
            );
        d = if obj.kind == Kind::ConfigMap {
            d.summary(format!(
                "Create ConfigMap {} (from the same source as the workload's manifests), or fix the reference",
                obj.name
            ))
            .step(
                format!("Create the ConfigMap {} with the keys the workload expects", obj.name),
                Some(format!(
                    "kubectl create configmap {} -n {ns} --from-file=<dir-or-file>",
                    obj.name
                )),
                Risk::Reversible,
            )
        } else if pull_only {
            d.summary(format!(
                "Create the docker-registry Secret {} with credentials for the registry, or remove it from imagePullSecrets",
                obj.name
            ))
            .step(
                format!("Create the pull Secret {}", obj.name),
                Some(format!(
                    "kubectl create secret docker-registry {} -n {ns} --docker-server=<registry> --docker-username=<user> --docker-password=<token>",
                    obj.name
                )),
                Risk::Reversible,
            )
        } else {
            d.summary(format!(
                "Create Secret {} (from your secret manager / sealed secret source), or fix the reference",
                obj.name
            ))
            .step(
                format!("Create the Secret {} with the keys the workload expects", obj.name),
                Some(format!(
                    "kubectl create secret generic {} -n {ns} --from-literal=<key>=<value>",
                    obj.name
                )),
                Risk::Reversible,
            )
        };
        d = d.step(
            format!(
                "If the name is wrong, correct it in {} (or mark the reference optional: true if the app can run without it); the Pods are recreated",
                workload.short()
            ),
            Some(format!("kubectl edit {}", super::kubectl_ref(&workload))),
            Risk::Disruptive,
        );
        out.push(d);
    }
}

struct KeyHit<'p, 'a> {
    pod: &'p PodView<'a>,
    via: String,
    by_kubelet: bool,
}

fn missing_keys(ctx: &RuleContext, pods: &[PodView], claims: &mut Claims, out: &mut Vec<Draft>) {
    // (object, key) -> Pods
    let mut hits: BTreeMap<(ObjRef, String), Vec<KeyHit>> = BTreeMap::new();
    for p in pods.iter().filter(|p| p.live()) {
        let ns = p.pod_ref.ns();
        let mut said: BTreeSet<(Kind, String, String)> = BTreeSet::new();
        for (m, _) in kubelet_messages(p) {
            if let Some((kind, name, key)) = kubelet_missing_key(&m) {
                let name = match name {
                    Some(n) => Some(n),
                    // a volume's item: the volume names the object
                    None => volume_of(&m).and_then(|v| {
                        p.spec
                            .volumes
                            .iter()
                            .flatten()
                            .find(|x| x.name == v)
                            .and_then(|x| match kind {
                                Kind::ConfigMap => x.config_map.as_ref().map(|c| c.name.clone()),
                                _ => x.secret.as_ref().and_then(|s| s.secret_name.clone()),
                            })
                    }),
                };
                if let Some(n) = name {
                    said.insert((kind, n, key));
                }
            }
        }
        let mut seen: BTreeSet<(ObjRef, String)> = BTreeSet::new();
        for pr in pod_references(p.spec) {
            let Some(key) = pr.key else { continue };
            if pr.optional || !matches!(pr.kind, Kind::ConfigMap | Kind::Secret) {
                continue;
            }
            let r = ObjRef::namespaced(pr.kind, ns, pr.name);
            let by_kubelet =
                !said.is_empty() && said.contains(&(pr.kind, pr.name.to_owned(), key.to_owned()));
            let by_data = pr.kind == Kind::ConfigMap
                && ctx.store.get_ref::<ConfigMap>(&r).is_some_and(|cm| {
                    !cm.data.as_ref().is_some_and(|d| d.contains_key(key))
                        && !cm.binary_data.as_ref().is_some_and(|d| d.contains_key(key))
                });
            if !(by_kubelet || by_data) || !seen.insert((r.clone(), key.to_owned())) {
                continue;
            }
            hits.entry((r, key.to_owned())).or_default().push(KeyHit {
                pod: p,
                via: pr.via.to_string(),
                by_kubelet,
            });
        }
    }
    for ((obj, key), hs) in hits {
        let rule = match obj.kind {
            Kind::ConfigMap => RuleId::ConfigMapKeyNotFound,
            _ => RuleId::SecretKeyNotFound,
        };
        let pod_refs: Vec<ObjRef> = hs.iter().map(|h| h.pod.pod_ref.clone()).collect();
        let first = hs[0].pod;
        let blocked = hs.iter().filter(|h| pod_blocked(h.pod)).count();
        let ns = obj.ns();
        let mut d = Draft::new(rule, obj.clone())
            .discriminator(key.clone())
            .edge(format!("Pod -> {}", obj.kind))
            .affected(&pod_refs);
        if blocked == 0 {
            d = d.severity(Severity::Warning).message(format!(
                "{} {}/{} has no key {key}; the {} Pod(s) using it run on values resolved before the key disappeared, any restart or new Pod will fail",
                obj.kind,
                ns,
                obj.name,
                hs.len()
            ));
        } else {
            d = d.message(format!(
                "{} {}/{} exists but has no key {key}, so the kubelet cannot start the containers of {blocked} Pod(s) ({})",
                obj.kind, ns, obj.name, first.owner.short()
            ));
        }
        d = d.evidence(format!(
            "key {key} referenced by {} of Pod {} (not optional)",
            hs[0].via, first.pod_ref.name
        ));
        if obj.kind == Kind::ConfigMap {
            if let Some(cm) = ctx.store.get_ref::<ConfigMap>(&obj) {
                let keys: Vec<String> = cm
                    .data
                    .iter()
                    .flat_map(|m| m.keys().cloned())
                    .chain(cm.binary_data.iter().flat_map(|m| m.keys().cloned()))
                    .collect();
                d = d.evidence(format!(
                    "ConfigMap {} has keys: {}",
                    obj.name,
                    if keys.is_empty() {
                        "(none)".to_owned()
                    } else {
                        keys.join(", ")
                    }
                ));
            }
        } else {
            d = d.evidence("Secret data is never read by kubedx: the kubelet's message proves the key is missing");
        }
        for c in first.containers() {
            if let Some((_, m)) = c.waiting()
                && kubelet_missing_key(m).is_some_and(|(_, _, k)| k == key)
            {
                d = d.evidence(c.waiting_evidence().unwrap_or_default());
            }
        }
        let mut quoted = 0;
        for (i, h) in hs.iter().enumerate() {
            for e in h.pod.events.iter().rev() {
                if kubelet_missing_key(&e.message).is_none_or(|(_, _, k)| k != key) {
                    continue;
                }
                if i == 0 && quoted < 3 {
                    d = d.event(e);
                    quoted += 1;
                } else {
                    d = d.account(e).seen(e.first_time, e.time);
                }
            }
        }
        if obj.kind == Kind::ConfigMap && hs.iter().any(|h| h.by_kubelet) {
            d = d.evidence("the kubelet reports the key missing");
        }
        for h in &hs {
            claims.claim(&h.pod.pod_ref, None);
            for c in h.pod.containers() {
                if c.waiting_reason() == "CreateContainerConfigError" {
                    claims.claim(&h.pod.pod_ref, Some(c.name()));
                }
            }
        }
        let workload = owners::top_owner(ctx.store, &first.owner);
        let (get, add) = if obj.kind == Kind::ConfigMap {
            (
                format!("kubectl get configmap {} -n {ns} -o yaml", obj.name),
                format!(
                    "kubectl patch configmap {} -n {ns} --type merge -p '{{\"data\":{{\"{key}\":\"<value>\"}}}}'",
                    obj.name
                ),
            )
        } else {
            (
                format!(
                    "kubectl get secret {} -n {ns} -o jsonpath='{{.data}}' | jq 'keys'",
                    obj.name
                ),
                format!(
                    "kubectl patch secret {} -n {ns} --type merge -p '{{\"stringData\":{{\"{key}\":\"<value>\"}}}}'",
                    obj.name
                ),
            )
        };
        d = d
            .summary(format!(
                "Add key {key} to {} {}, or fix the key name in {}",
                obj.kind,
                obj.name,
                workload.short()
            ))
            .read_only(format!("List the keys of {} {}", obj.kind, obj.name), get)
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
        out.push(d);
    }
}

/// ServiceAccountNotFound: a Pod template names a ServiceAccount that does not exist,
/// so the controller cannot create Pods (the admission plugin refuses them).
pub(crate) fn service_account_not_found(ctx: &RuleContext, out: &mut Vec<Draft>) {
    // ServiceAccount -> (controllers, events, template-only?)
    struct SaHit<'a> {
        controllers: Vec<ObjRef>,
        events: Vec<&'a std::sync::Arc<crate::event::EventRecord>>,
        short: bool,
    }
    let mut hits: BTreeMap<ObjRef, SaHit> = BTreeMap::new();
    for kind in [
        Kind::ReplicaSet,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
    ] {
        for r in ctx.graph.subjects(kind) {
            let Some((template, desired, have)) = template_of(ctx, r) else {
                continue;
            };
            let Some(spec) = template.spec.as_ref() else {
                continue;
            };
            #[allow(deprecated)]
            let sa = spec
                .service_account_name
                .as_deref()
                .or(spec.service_account.as_deref())
                .filter(|s| !s.is_empty())
                .unwrap_or("default");
            let sa_ref = ObjRef::namespaced(Kind::ServiceAccount, r.ns(), sa);
            let events: Vec<_> = ctx
                .events(r)
                .into_iter()
                .filter(|e| {
                    e.reason == "FailedCreate"
                        && e.message
                            .contains(&format!("serviceaccount \"{sa}\" not found"))
                })
                .collect();
            let listed_missing = sa != "default"
                && !ctx.store.contains(&sa_ref)
                && ctx.store.kind_listed(Kind::ServiceAccount, r.ns());
            if events.is_empty() && !(listed_missing && desired > 0) {
                continue;
            }
            let h = hits.entry(sa_ref).or_insert(SaHit {
                controllers: Vec::new(),
                events: Vec::new(),
                short: false,
            });
            h.controllers.push(r.clone());
            h.short |= !events.is_empty() || have < desired;
            h.events.extend(events);
        }
    }
    for (sa, h) in hits {
        let ns = sa.ns();
        let first = &h.controllers[0];
        let workload = owners::top_owner(ctx.store, first);
        let mut d = Draft::new(RuleId::ServiceAccountNotFound, sa.clone())
            .edge("Pod -> ServiceAccount")
            .affected(&h.controllers)
            .scope(first.clone());
        if h.short {
            d = d.message(format!(
                "ServiceAccount {ns}/{} does not exist, so {} cannot create its Pods",
                sa.name,
                first.short()
            ));
        } else {
            d = d.severity(Severity::Warning).message(format!(
                "ServiceAccount {ns}/{} named by the Pod template of {} does not exist: its running Pods were created before, but no new Pod can be created",
                sa.name,
                first.short()
            ));
        }
        d = d.evidence(format!(
            "spec.template.spec.serviceAccountName={} in {}",
            sa.name,
            h.controllers
                .iter()
                .map(|c| c.short())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if ctx.store.kind_listed(Kind::ServiceAccount, ns) && !ctx.store.contains(&sa) {
            d = d.evidence(format!(
                "no ServiceAccount named {} in namespace {ns} (the namespace's serviceaccounts were read)",
                sa.name
            ));
        }
        for e in h.events.iter().rev().take(3) {
            d = d.event(e);
        }
        for e in h.events.iter() {
            d = d.account(e);
        }
        d = d
            .summary(format!(
                "Create ServiceAccount {} (with the RBAC bindings the workload needs), or point the template at an existing one",
                sa.name
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
                format!("Create the ServiceAccount {}", sa.name),
                Some(format!("kubectl create serviceaccount {} -n {ns}", sa.name)),
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
        out.push(d);
    }
}

/// The Pod template of a controller, with its desired and current Pod counts.
fn template_of<'a>(ctx: &RuleContext<'a>, r: &ObjRef) -> Option<(&'a PodTemplateSpec, i32, i32)> {
    match r.kind {
        Kind::ReplicaSet => {
            let x = ctx.store.get_ref::<ReplicaSet>(r)?;
            let have = x.status.as_ref().map_or(0, |s| s.replicas);
            Some((
                x.spec.template.as_ref()?,
                x.spec.replicas.unwrap_or(1),
                have,
            ))
        }
        Kind::StatefulSet => {
            let x = ctx.store.get_ref::<StatefulSet>(r)?;
            let have = x.status.as_ref().map_or(0, |s| s.replicas);
            Some((&x.spec.template, x.spec.replicas.unwrap_or(1), have))
        }
        Kind::DaemonSet => {
            let x = ctx.store.get_ref::<DaemonSet>(r)?;
            let st = x.status.as_ref();
            let desired = st.map_or(1, |s| s.desired_number_scheduled);
            let have = st.map_or(0, |s| s.current_number_scheduled);
            Some((&x.spec.template, desired, have))
        }
        Kind::Job => {
            let x = ctx.store.get_ref::<Job>(r)?;
            let spec = x.spec.as_ref()?;
            let st = x.status.as_ref();
            let finished = st
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True");
            let desired = if finished || spec.suspend == Some(true) {
                0
            } else {
                spec.parallelism.unwrap_or(1)
            };
            let have = st.and_then(|s| s.active).unwrap_or(0);
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
