//! Images: pull failures (ImagePullNotFound, ImagePullUnauthorized,
//! ImagePullNetworkError, ImagePullBackOff), InvalidImageName, ImageDigestMismatch,
//! ImageTagMutable.
//!
//! A pull failure is read from the container's `state.waiting` (ErrImagePull /
//! ImagePullBackOff and its message) and from the kubelet's events (`Failed` "Failed
//! to pull image ...", `BackOff` "Back-off pulling image ..."), and classified by the
//! registry's message. `pull access denied, repository does not exist or may require
//! authorization` is what Docker Hub (and registries modelled on it) answer both for
//! a repository that does not exist and for one that needs credentials: it is
//! reported as ImagePullUnauthorized when the Pod presents no usable pull secret, and
//! as ImagePullNotFound when it does (the credentials were sent, so the repository
//! or tag most likely does not exist); both messages name the other possibility.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::core::v1::ServiceAccount;

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::graph::Existence;
use crate::k8s::owners;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::references::existence;
use super::{Claims, ContainerView, Groups, PodView, kubectl_ref, with_events};

/// What a registry's pull error says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PullClass {
    /// The tag, digest or repository does not exist.
    NotFound,
    /// The registry refused the credentials (or their absence).
    Unauthorized,
    /// "pull access denied, repository does not exist or may require authorization":
    /// either; resolved with the Pod's pull secrets.
    AccessDenied,
    /// The node cannot reach or trust the registry.
    Network,
    /// Anything else (rate limits, disk full, runtime errors...).
    Other,
}

/// Classifies a pull error message (kubelet/containerd/CRI-O/Docker wording).
pub(crate) fn classify_pull(msg: &str) -> PullClass {
    let m = msg.to_ascii_lowercase();
    let has = |s: &str| m.contains(s);
    // Network first: a lookup or TLS failure may also mention the reference.
    if has("i/o timeout")
        || has("dial tcp")
        || has("no such host")
        || has("x509:")
        || has("tls handshake timeout")
        || has("connection refused")
        || has("connection reset by peer")
        || has("network is unreachable")
        || has("no route to host")
        || has("server gave http response to https client")
        || has_tls_error(&m)
    {
        return PullClass::Network;
    }
    if has("pull access denied") && (has("does not exist") || has("may require authorization")) {
        return PullClass::AccessDenied;
    }
    if has("unauthorized")
        || has("no basic auth credentials")
        || has("pull access denied")
        || has("authentication required")
        || has("403 forbidden")
        || has("denied: requested access to the resource is denied")
        || has("failed to authorize")
        || has("insufficient_scope")
    {
        return PullClass::Unauthorized;
    }
    if has("manifest unknown")
        || has("not found")
        || has("repository does not exist")
        || has("name unknown")
        || has("does not exist")
    {
        return PullClass::NotFound;
    }
    PullClass::Other
}

/// `tls: ...` as Go's crypto/tls prints its errors (not `...details:`).
fn has_tls_error(m: &str) -> bool {
    m.match_indices("tls: ")
        .any(|(i, _)| i == 0 || !m.as_bytes()[i - 1].is_ascii_alphanumeric())
}

/// The image a kubelet event is about: `Failed to pull image "X": ...`, `Back-off pulling image "X"`.
pub(crate) fn event_image(msg: &str) -> Option<&str> {
    for p in [
        "Failed to pull image \"",
        "Back-off pulling image \"",
        "pulling image \"",
    ] {
        if let Some(i) = msg.find(p) {
            return msg[i + p.len()..].split('"').next();
        }
    }
    None
}

fn is_pull_event(e: &EventRecord) -> bool {
    (e.reason == "Failed"
        && (e.message.starts_with("Failed to pull image")
            || e.message == "Error: ErrImagePull"
            || e.message == "Error: ImagePullBackOff"))
        || (e.reason == "BackOff" && e.message.starts_with("Back-off pulling image"))
}

/// One container's pull failure.
pub(crate) struct PullFailure<'a> {
    pub container: ContainerView<'a>,
    pub class: PullClass,
    /// The message classified (the waiting message or the newest pull event).
    pub message: String,
    /// Still failing (the container is not running).
    pub current: bool,
}

/// The pull failures of a Pod's containers, current or healed.
pub(crate) fn pod_pull_failures<'a>(p: &PodView<'a>) -> Vec<PullFailure<'a>> {
    let mut out = Vec::new();
    for c in p.containers() {
        let image = c.image();
        let events: Vec<&Arc<EventRecord>> = p
            .events
            .iter()
            .filter(|e| is_pull_event(e) && event_image(&e.message).is_none_or(|i| i == image))
            .copied()
            .collect();
        let failing_events: Vec<&&Arc<EventRecord>> = events
            .iter()
            .filter(|e| e.message.starts_with("Failed to pull image"))
            .collect();
        let waiting = c.waiting();
        let pulling_failed = matches!(
            waiting.map(|(r, _)| r),
            Some("ErrImagePull" | "ImagePullBackOff")
        );
        // Events only: still creating (a retry is under way) is current; a container
        // that has run since (running, terminated, crash-looping) pulled its image.
        let creating = c.status.is_none() || c.waiting_reason() == "ContainerCreating";
        let current = pulling_failed || (creating && !failing_events.is_empty());
        if !current && failing_events.is_empty() {
            continue;
        }
        let waiting_msg = waiting.map(|(_, m)| m).unwrap_or("");
        let mut message = waiting_msg.to_owned();
        let mut class = classify_pull(&message);
        if class == PullClass::Other
            && let Some(e) = failing_events.last()
        {
            message = e.message.clone();
            class = classify_pull(&message);
        }
        if message.is_empty() {
            message = c.waiting_reason().to_owned();
        }
        out.push(PullFailure {
            container: c,
            class,
            message,
            current,
        });
    }
    out
}

/// What the Pod presents as registry credentials: its imagePullSecrets (which the
/// ServiceAccount admission copies from the ServiceAccount when the Pod is created).
struct PullSecrets {
    /// (name, existence) of the Pod's imagePullSecrets.
    pod: Vec<(String, Existence)>,
    sa_name: String,
    /// The ServiceAccount's imagePullSecrets, when it was read.
    sa: Option<Vec<String>>,
}

impl PullSecrets {
    fn of(ctx: &RuleContext, p: &PodView) -> PullSecrets {
        let ns = p.pod_ref.ns();
        let pod = p
            .spec
            .image_pull_secrets
            .iter()
            .flatten()
            .filter(|s| !s.name.is_empty())
            .map(|s| {
                let r = ObjRef::namespaced(Kind::Secret, ns, &s.name);
                (s.name.clone(), existence(ctx, &r))
            })
            .collect();
        let sa_name = p
            .spec
            .service_account_name
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let sa = ctx.store.get::<ServiceAccount>(ns, &sa_name).map(|sa| {
            sa.image_pull_secrets
                .iter()
                .flatten()
                .map(|s| s.name.clone())
                .collect()
        });
        PullSecrets { pod, sa_name, sa }
    }

    /// At least one pull secret that exists is presented.
    fn usable(&self) -> bool {
        self.pod.iter().any(|(_, e)| *e != Existence::Missing)
    }

    fn evidence(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.pod.is_empty() {
            v.push("the Pod has no imagePullSecrets: the pull is anonymous".to_owned());
        } else {
            let list: Vec<String> = self
                .pod
                .iter()
                .map(|(n, e)| {
                    format!(
                        "{n} ({})",
                        match e {
                            Existence::Exists => "exists",
                            Existence::Missing => "Secret does not exist",
                            Existence::Unknown => "Secrets not read",
                        }
                    )
                })
                .collect();
            v.push(format!("Pod imagePullSecrets: {}", list.join(", ")));
        }
        match &self.sa {
            Some(s) if s.is_empty() => v.push(format!(
                "ServiceAccount {} has no imagePullSecrets",
                self.sa_name
            )),
            Some(s) => {
                v.push(format!(
                    "ServiceAccount {} imagePullSecrets: {}",
                    self.sa_name,
                    s.join(", ")
                ));
                let missing_on_pod: Vec<&String> = s
                    .iter()
                    .filter(|n| !self.pod.iter().any(|(p, _)| p == *n))
                    .collect();
                if !missing_on_pod.is_empty() {
                    v.push(format!(
                        "the ServiceAccount's pull secret(s) {} are not on the Pod: they were added after the Pod was created (Pods get them only at creation)",
                        missing_on_pod
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            None => v.push(format!(
                "ServiceAccount {} was not read (its imagePullSecrets are unknown)",
                self.sa_name
            )),
        }
        v
    }
}

struct PullHit<'a> {
    failure: PullFailure<'a>,
}

pub(crate) fn evaluate_pulls(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<(RuleId, PullHit)> = Groups::by_controller();
    let mut invalid: Groups<ContainerView> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live()) {
        for c in p.containers() {
            if c.waiting_reason() == "InvalidImageName" {
                invalid.add_hit(p, c.name(), c);
                claims.claim(&p.pod_ref, Some(c.name()));
            }
        }
        let secrets = PullSecrets::of(ctx, p);
        for f in pod_pull_failures(p) {
            let rule = match f.class {
                PullClass::NotFound => RuleId::ImagePullNotFound,
                PullClass::Unauthorized => RuleId::ImagePullUnauthorized,
                PullClass::AccessDenied if secrets.usable() => RuleId::ImagePullNotFound,
                PullClass::AccessDenied => RuleId::ImagePullUnauthorized,
                PullClass::Network => RuleId::ImagePullNetworkError,
                PullClass::Other => RuleId::ImagePullBackOff,
            };
            if f.current {
                claims.claim(&p.pod_ref, Some(f.container.name()));
            }
            // current and healed failures are different findings
            let disc = format!(
                "{}{}",
                f.container.name(),
                if f.current { "" } else { "#recovered" }
            );
            groups.add_hit(p, disc, (rule, PullHit { failure: f }));
        }
    }
    // one finding per (controller, container, state); the rule of the first Pod wins
    for g in groups.into_groups() {
        let (rule, hit) = g.first_seen();
        let f = &hit.failure;
        let c = f.container;
        let p = g.first_pod();
        let image = c.image();
        let who = g.who(pods);
        // current and healed failures are two groups, and both findings are on the container
        let mut d = g.draft(*rule).discriminator(c.name());
        let detail = short_error(&f.message);
        let message = match (*rule, f.class) {
            (RuleId::ImagePullNotFound, PullClass::AccessDenied) => format!(
                "Image {image} was not found: the registry answers \"pull access denied, repository does not exist or may require authorization\" although the Pod presents pull credentials, so the repository or tag most likely does not exist (or those credentials lack access to it); container {} of {who} cannot start",
                c.name()
            ),
            (RuleId::ImagePullNotFound, _) => format!(
                "Image {image} does not exist in the registry (wrong tag, digest or repository): container {} of {who} cannot start",
                c.name()
            ),
            (RuleId::ImagePullUnauthorized, PullClass::AccessDenied) => format!(
                "The registry denies pulling {image} without credentials (\"pull access denied\"): the repository is private and the Pod has no usable imagePullSecret, or the repository does not exist; container {} of {who} cannot start",
                c.name()
            ),
            (RuleId::ImagePullUnauthorized, _) => format!(
                "The registry refuses to pull {image}: missing or wrong credentials; container {} of {who} cannot start",
                c.name()
            ),
            (RuleId::ImagePullNetworkError, _) => format!(
                "The node cannot reach or trust the registry of {image} ({detail}): container {} of {who} cannot start",
                c.name()
            ),
            _ => format!(
                "Pulling {image} fails ({detail}): container {} of {who} cannot start",
                c.name()
            ),
        };
        if f.current {
            d = d.message(message);
        } else {
            d = d.severity(Severity::Info).message(format!(
                "Pulling {image} failed earlier for container {} of {who}, but the image has since been pulled and the container runs: recovered",
                c.name()
            ));
        }
        d = d.evidence(format!("container {}: image {image}", c.name()));
        if let Some(w) = c.waiting_evidence() {
            d = d.evidence(w);
        } else if !f.current && c.running() {
            d = d.evidence(format!(
                "container {}: now running{}, ready={}",
                c.name(),
                c.running_since()
                    .map(|t| format!(" since {t}"))
                    .unwrap_or_default(),
                c.ready()
            ));
        }
        if *rule == RuleId::ImagePullUnauthorized || f.class == PullClass::AccessDenied {
            for e in PullSecrets::of(ctx, p).evidence() {
                d = d.evidence(e);
            }
        }
        if *rule == RuleId::ImagePullNetworkError {
            let nodes: BTreeSet<&str> = g
                .members()
                .iter()
                .filter_map(|hit| hit.pod.node())
                .collect();
            if !nodes.is_empty() {
                d = d.evidence(format!(
                    "pulls fail on node(s): {}",
                    nodes.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if PullClass::Other == f.class && f.message.to_ascii_lowercase().contains("toomanyrequests")
        {
            d = d.evidence("the registry rate-limits pulls (toomanyrequests): authenticate the pulls or use a mirror");
        }
        d = with_events(d, &g, 3, |e| {
            is_pull_event(e) && event_image(&e.message).is_none_or(|i| i == image)
        });
        d = pull_remediation(ctx, d, *rule, f, p, g.controller(), image);
        out.push(d);
    }
    for g in invalid.into_groups() {
        let c = *g.first_seen();
        let p = g.first_pod();
        let who = g.who(pods);
        let workload = owners::top_owner(ctx.store, g.controller());
        let mut d = g
            .draft(RuleId::InvalidImageName)
            .message(format!(
                "The image reference {:?} of container {} cannot be parsed (uppercase letters, spaces, a bad tag or digest): {who} cannot start",
                c.image(),
                c.name()
            ))
            .evidence(c.waiting_evidence().unwrap_or_default());
        d = with_events(d, &g, 2, |e| {
            e.reason == "InspectFailed"
                || (e.reason == "Failed" && e.message.contains("InvalidImageName"))
                || e.message.contains("couldn't parse image")
                || e.message.contains("invalid reference format")
        });
        d = d
            .summary(format!(
                "Fix the image reference of container {} (lowercase repository, one tag or @sha256 digest, no spaces)",
                c.name()
            ))
            .read_only("Read the kubelet's message", p.describe_cmd())
            .step(
                "Set a valid image",
                Some(format!(
                    "kubectl set image {} {}=<registry>/<repository>:<tag>",
                    kubectl_ref(&workload),
                    c.name()
                )),
                Risk::Reversible,
            );
        out.push(d);
    }
}

/// The registry's words, without the runtime's wrapping.
fn short_error(msg: &str) -> String {
    let m = msg.trim();
    // containerd: "... desc = failed to pull and unpack image ...: <cause>"
    let tail = m.rsplit(": ").next().unwrap_or(m);
    let lower = m.to_ascii_lowercase();
    for key in [
        "no such host",
        "i/o timeout",
        "connection refused",
        "tls handshake timeout",
        "x509: certificate signed by unknown authority",
        "x509: certificate has expired or is not yet valid",
        "x509:",
        "toomanyrequests",
    ] {
        if lower.contains(key) {
            return key.to_owned();
        }
    }
    if tail.len() > 160 {
        let mut end = 160;
        while !tail.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &tail[..end])
    } else {
        tail.to_owned()
    }
}

fn pull_remediation(
    ctx: &RuleContext,
    mut d: Draft,
    rule: RuleId,
    f: &PullFailure,
    p: &PodView,
    owner: &ObjRef,
    image: &str,
) -> Draft {
    let workload = owners::top_owner(ctx.store, owner);
    let ns = p.pod_ref.ns();
    let c = f.container.name();
    d = d.read_only("Read the kubelet's pull errors", p.describe_cmd());
    match rule {
        RuleId::ImagePullNotFound => {
            d = d
                .summary(format!(
                    "Point container {c} at an image that exists (check the tag/digest was pushed), or roll back"
                ))
                .read_only(
                    "Check from a workstation which tags exist in the registry",
                    format!("crane ls {}", repository(image)),
                )
                .step(
                    "Set an image that exists",
                    Some(format!(
                        "kubectl set image {} {c}={}:<existing-tag>",
                        kubectl_ref(&workload),
                        repository(image)
                    )),
                    Risk::Reversible,
                );
            if workload.kind == Kind::Deployment {
                d = d.step(
                    "Or roll back to the previous revision",
                    Some(format!("kubectl rollout undo {}", kubectl_ref(&workload))),
                    Risk::Reversible,
                );
            }
        }
        RuleId::ImagePullUnauthorized => {
            let sa = p
                .spec
                .service_account_name
                .clone()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "default".to_owned());
            // a pull secret the Pod names but that does not exist is the one to create
            let secret = PullSecrets::of(ctx, p)
                .pod
                .into_iter()
                .find(|(_, e)| *e == Existence::Missing)
                .map_or_else(|| "regcred".to_owned(), |(n, _)| n);
            d = d
                .summary(format!(
                    "Give the Pods credentials for {}: a docker-registry Secret in imagePullSecrets (Pod template or ServiceAccount {sa}), or node/workload identity",
                    registry(image)
                ))
                .read_only(
                    "See which pull secrets the Pod presents",
                    format!(
                        "kubectl get pod {} -n {ns} -o jsonpath='{{.spec.imagePullSecrets}}'",
                        p.pod_ref.name
                    ),
                )
                .read_only(
                    "See the ServiceAccount's pull secrets",
                    format!("kubectl get serviceaccount {sa} -n {ns} -o yaml"),
                )
                .step(
                    "Create a pull Secret for the registry",
                    Some(format!(
                        "kubectl create secret docker-registry {secret} -n {ns} --docker-server={} --docker-username=<user> --docker-password=<token>",
                        registry(image)
                    )),
                    Risk::Reversible,
                )
                .step(
                    format!("Attach it to ServiceAccount {sa} (new Pods get it)"),
                    Some(format!(
                        "kubectl patch serviceaccount {sa} -n {ns} -p '{{\"imagePullSecrets\":[{{\"name\":\"{secret}\"}}]}}'"
                    )),
                    Risk::Reversible,
                )
                .step(
                    "Recreate the Pods so they carry the pull secret",
                    Some(format!("kubectl rollout restart {}", kubectl_ref(&workload))),
                    Risk::Disruptive,
                );
        }
        RuleId::ImagePullNetworkError => {
            let node = p.node().unwrap_or("<node>");
            d = d
                .summary(format!(
                    "A platform problem: the nodes cannot resolve, reach or trust {} (DNS, egress firewall/proxy, registry CA). Escalate to the platform team with the error",
                    registry(image)
                ))
                .read_only(
                    "Test name resolution and reachability of the registry from the node",
                    format!(
                        "kubectl debug node/{node} -it --image=busybox:1.36 -- sh -c 'nslookup {} && wget -S -O- https://{}/v2/'",
                        registry(image),
                        registry(image)
                    ),
                )
                .read_only(
                    "Check whether other Pods on the node pull images",
                    format!("kubectl get events -A --field-selector reason=Failed,source={node}"),
                );
        }
        _ => {
            d = d
                .summary(format!(
                    "Read the pull error of container {c} and fix its cause (registry, runtime or node)"
                ))
                .read_only("Read the events of the Pod", p.events_cmd());
        }
    }
    d
}

/// `registry.example.com/shop/web` of `registry.example.com/shop/web:v2`.
pub(crate) fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

/// The registry host of an image (`docker.io` when none is named).
pub(crate) fn registry(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// The tag of an image reference: `Some("v2")`, `None` when it has none; digests are
/// reported by [`is_pinned`].
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    let no_digest = image.split('@').next().unwrap_or(image);
    let i = no_digest.rfind(':')?;
    let tag = &no_digest[i + 1..];
    (!tag.contains('/')).then_some(tag)
}

pub(crate) fn is_pinned(image: &str) -> bool {
    image.contains("@sha256:")
}

/// ImageDigestMismatch: `expectedImages` names the digest a container must run; the
/// running imageID's digest differs.
pub(crate) fn digest_mismatch(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    if ctx.options.expected_images.is_empty() {
        return;
    }
    let mut groups: Groups<(String, String, String)> = Groups::by_controller();
    for p in pods.iter().filter(|p| p.live() && !p.terminating()) {
        for c in p.containers() {
            let Some(expected) = ctx
                .options
                .expected_images
                .iter()
                .find(|e| e.container == c.name())
            else {
                continue;
            };
            let Some(st) = c.status else { continue };
            let Some((_, running)) = st.image_id.rsplit_once('@') else {
                // not started yet, or an image id without a repository digest
                continue;
            };
            if running != expected.digest {
                groups.add_hit(
                    p,
                    c.name(),
                    (
                        expected.digest.clone(),
                        running.to_owned(),
                        st.image_id.clone(),
                    ),
                );
            }
        }
    }
    for g in groups.into_groups() {
        let p = g.first_pod();
        let (expected, running, image_id) = g.first_seen();
        let workload = owners::top_owner(ctx.store, g.controller());
        let c = g.discriminator().to_owned();
        let image = p
            .spec
            .containers
            .iter()
            .chain(p.spec.init_containers.iter().flatten())
            .find(|x| x.name == c)
            .and_then(|x| x.image.clone())
            .unwrap_or_default();
        let running_digests: BTreeSet<&str> =
            g.members().iter().map(|hit| hit.seen.1.as_str()).collect();
        let mut d = g
            .draft(RuleId::ImageDigestMismatch)
            .message(format!(
                "Container {c} of {} runs {running}, not the expected {expected}: the rollout did not reach these Pods or the tag {image} points elsewhere",
                g.who(pods)
            ))
            .evidence(format!("expected digest {expected} (expectedImages)"))
            .evidence(format!("container {c}: imageID {image_id}, image {image}"));
        if running_digests.len() > 1 {
            d = d.evidence(format!(
                "the Pods run {} different digests",
                running_digests.len()
            ));
        }
        d = d
            .summary(format!(
                "Roll {} out to the expected digest (pin the image by digest)",
                workload.short()
            ))
            .read_only(
                "See which image each Pod runs",
                format!(
                    "kubectl get pods -n {} -o custom-columns=POD:.metadata.name,IMAGE:.status.containerStatuses[*].imageID",
                    p.pod_ref.ns()
                ),
            )
            .read_only(
                "Check the rollout's progress",
                format!("kubectl rollout status {}", kubectl_ref(&workload)),
            )
            .step(
                "Pin the expected digest",
                Some(format!(
                    "kubectl set image {} {c}={}@{expected}",
                    kubectl_ref(&workload),
                    repository(&image)
                )),
                Risk::Reversible,
            );
        out.push(d);
    }
}

/// ImageTagMutable: one Info finding per workload template container whose image is
/// referenced by tag (or `:latest`, or no tag) rather than by digest.
pub(crate) fn tag_mutable(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    let mut workloads: BTreeSet<ObjRef> = BTreeSet::new();
    for kind in [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::CronJob,
        Kind::Job,
        Kind::ReplicaSet,
    ] {
        for r in ctx.graph.subjects(kind) {
            workloads.insert(owners::top_owner(ctx.store, r));
        }
    }
    for p in pods {
        workloads.insert(owners::top_owner(ctx.store, &p.owner));
    }
    for w in workloads {
        let Some(spec) = crate::k8s::owners::template_spec(ctx.store, &w) else {
            continue;
        };
        let mut by_container: BTreeMap<String, String> = BTreeMap::new();
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
        {
            let image = c.image.clone().unwrap_or_default();
            if image.is_empty() || is_pinned(&image) {
                continue;
            }
            by_container.insert(c.name.clone(), image);
        }
        for (c, image) in by_container {
            let how = match image_tag(&image) {
                None => "no tag (which means :latest)".to_owned(),
                Some("latest") => "the tag :latest".to_owned(),
                Some(t) => format!("the tag :{t}"),
            };
            let d = Draft::new(RuleId::ImageTagMutable, w.clone())
                .discriminator(c.clone())
                .message(format!(
                    "Container {c} of {} references {image} by {how}, not by digest: a tag can be moved, so Pods may run different content after a push or a reschedule, and a rollback may not restore the old binary",
                    w.short()
                ))
                .evidence(format!("container {c}: image {image} (no @sha256 digest)"))
                .summary("Reference images by digest (image@sha256:...) in production, e.g. by resolving tags in CI")
                .read_only(
                    "See the digest the Pods run",
                    format!(
                        "kubectl get pods -n {} -o jsonpath='{{range .items[*]}}{{.metadata.name}} {{.status.containerStatuses[*].imageID}}{{\"\\n\"}}{{end}}'",
                        w.ns()
                    ),
                )
                .step(
                    "Pin the digest the Pods run",
                    Some(format!(
                        "kubectl set image {} {c}={}@sha256:<digest>",
                        kubectl_ref(&w),
                        repository(&image)
                    )),
                    Risk::Reversible,
                );
            out.push(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_pull_errors() {
        let nf = r#"Failed to pull image "registry.example.com/shop/web:v2": rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/shop/web:v2": failed to resolve reference "registry.example.com/shop/web:v2": registry.example.com/shop/web:v2: not found"#;
        assert_eq!(classify_pull(nf), PullClass::NotFound);
        let mu = r#"rpc error: code = Unknown desc = Error response from daemon: manifest for nginx:1.99 not found: manifest unknown: manifest unknown"#;
        assert_eq!(classify_pull(mu), PullClass::NotFound);
        let hub = r#"Failed to pull image "acme/private-api:1.4": rpc error: code = Unknown desc = failed to pull and unpack image "docker.io/acme/private-api:1.4": failed to resolve reference "docker.io/acme/private-api:1.4": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"#;
        assert_eq!(classify_pull(hub), PullClass::AccessDenied);
        let unauth = r#"Failed to pull image "ghcr.io/acme/api:1.0": rpc error: code = Unknown desc = failed to pull and unpack image "ghcr.io/acme/api:1.0": failed to resolve reference "ghcr.io/acme/api:1.0": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://ghcr.io/token?scope=repository%3Aacme%2Fapi%3Apull&service=ghcr.io: 401 Unauthorized"#;
        assert_eq!(classify_pull(unauth), PullClass::Unauthorized);
        assert_eq!(
            classify_pull(
                "Error response from daemon: Get https://123.dkr.ecr.eu-west-1.amazonaws.com/v2/app/manifests/1: no basic auth credentials"
            ),
            PullClass::Unauthorized
        );
        assert_eq!(
            classify_pull(
                "failed to resolve reference \"gcr.io/p/app:1\": unexpected status from HEAD request: 403 Forbidden"
            ),
            PullClass::Unauthorized
        );
        let dns = r#"Failed to pull image "registry.internal:5000/app:1": rpc error: code = Unknown desc = failed to pull and unpack image "registry.internal:5000/app:1": failed to resolve reference "registry.internal:5000/app:1": failed to do request: Head "https://registry.internal:5000/v2/app/manifests/1": dial tcp: lookup registry.internal on 10.0.0.2:53: no such host"#;
        assert_eq!(classify_pull(dns), PullClass::Network);
        assert_eq!(
            classify_pull(
                "failed to do request: Head \"https://r.example.com/v2/a/manifests/1\": tls: failed to verify certificate: x509: certificate signed by unknown authority"
            ),
            PullClass::Network
        );
        assert_eq!(
            classify_pull("Head \"https://r.example.com/v2/\": net/http: TLS handshake timeout"),
            PullClass::Network
        );
        assert_eq!(
            classify_pull("dial tcp 10.1.2.3:443: i/o timeout"),
            PullClass::Network
        );
        assert_eq!(
            classify_pull(
                "failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/nginx/manifests/sha256:abc: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit."
            ),
            PullClass::Other
        );
        assert_eq!(
            classify_pull("Back-off pulling image \"nginx:1.25\""),
            PullClass::Other
        );
        // "details:" is not a TLS error
        assert_eq!(
            classify_pull("unexpected error, details: foo"),
            PullClass::Other
        );
    }

    #[test]
    fn image_reference_parts() {
        assert_eq!(image_tag("nginx"), None);
        assert_eq!(image_tag("nginx:1.25"), Some("1.25"));
        assert_eq!(image_tag("registry:5000/app"), None);
        assert_eq!(image_tag("registry:5000/app:v2"), Some("v2"));
        assert!(is_pinned("nginx@sha256:0123"));
        assert_eq!(repository("registry:5000/app:v2"), "registry:5000/app");
        assert_eq!(repository("nginx"), "nginx");
        assert_eq!(
            registry("registry.example.com/shop/web:v2"),
            "registry.example.com"
        );
        assert_eq!(registry("acme/api:1"), "docker.io");
        assert_eq!(
            event_image("Failed to pull image \"nginx:1.99\": rpc error"),
            Some("nginx:1.99")
        );
    }
}
