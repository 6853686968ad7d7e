//! Images: pull failures (ImagePullNotFound, ImagePullUnauthorized,
//! ImagePullNetworkError, ImagePullRateLimited, ImagePlatformMismatch,
//! ImagePullBackOff), InvalidImageName, ImageDigestMismatch,
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
    /// The registry refuses more pulls for now (HTTP 429, `toomanyrequests`).
    RateLimited,
    /// The image has no variant for the node's platform.
    PlatformMismatch,
    /// Anything else (disk full, runtime errors...).
    Other,
}

/// Classifies a pull error message (kubelet/containerd/CRI-O/Docker wording).
pub(crate) fn classify_pull(message: &str) -> PullClass {
    let lowercase = message.to_ascii_lowercase();
    let has = |fragment: &str| lowercase.contains(fragment);
    // The registry answered, and said "later": before "not found" and the network
    // forms (Docker Hub's message also says "You have reached your pull rate limit").
    if has("429 too many requests")
        || has("toomanyrequests")
        || has("too many requests to registry")
        || has("pull rate limit")
    {
        return PullClass::RateLimited;
    }
    // containerd: "no match for platform in manifest: not found"; CRI-O
    // (containers/image): "no image found in manifest list for architecture ..."
    if has("no match for platform in manifest")
        || has("no image found in manifest list for architecture")
        || has("no image found in image index for architecture")
    {
        return PullClass::PlatformMismatch;
    }
    // Network first: a lookup or TLS failure may also mention the reference. The
    // kubelet's wording of CRI-O's RegistryUnavailable says so without details.
    if has("because the registry is unavailable")
        || has("i/o timeout")
        || has("dial tcp")
        || has("no such host")
        || has("x509:")
        || has("tls handshake timeout")
        || has("connection refused")
        || has("connection reset by peer")
        || has("network is unreachable")
        || has("no route to host")
        || has("server gave http response to https client")
        || has_tls_error(&lowercase)
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
fn has_tls_error(lowercase: &str) -> bool {
    lowercase
        .match_indices("tls: ")
        .any(|(at, _)| at == 0 || !lowercase.as_bytes()[at - 1].is_ascii_alphanumeric())
}

/// The image a kubelet event is about: `Failed to pull image "X": ...`, `Back-off pulling image "X"`.
pub(crate) fn event_image(message: &str) -> Option<&str> {
    for prefix in [
        "Failed to pull image \"",
        "Back-off pulling image \"",
        "pulling image \"",
    ] {
        if let Some(at) = message.find(prefix) {
            return message[at + prefix.len()..].split('"').next();
        }
    }
    None
}

/// A kubelet event about pulling an image that fails.
fn is_pull_event(event: &EventRecord) -> bool {
    (event.reason == "Failed"
        && (event.message.starts_with("Failed to pull image")
            || event.message == "Error: ErrImagePull"
            || event.message == "Error: ImagePullBackOff"))
        || (event.reason == "BackOff" && event.message.starts_with("Back-off pulling image"))
}

/// One container's pull failure.
pub(crate) struct PullFailure<'a> {
    /// The container whose image does not pull.
    pub container: ContainerView<'a>,
    /// What the registry's error says.
    pub class: PullClass,
    /// The message classified (the waiting message or the newest pull event).
    pub message: String,
    /// Still failing (the container is not running).
    pub current: bool,
}

/// The pull failures of a Pod's containers, current or healed.
pub(crate) fn pod_pull_failures<'a>(pod: &PodView<'a>) -> Vec<PullFailure<'a>> {
    let mut out = Vec::new();
    for container in pod.containers() {
        let image = container.image();
        let events: Vec<&Arc<EventRecord>> = pod
            .events
            .iter()
            .filter(|event| {
                is_pull_event(event)
                    && event_image(&event.message).is_none_or(|pulled| pulled == image)
            })
            .copied()
            .collect();
        let failing_events: Vec<&&Arc<EventRecord>> = events
            .iter()
            .filter(|event| event.message.starts_with("Failed to pull image"))
            .collect();
        let waiting = container.waiting();
        let pulling_failed = matches!(
            waiting.map(|(reason, _)| reason),
            Some(
                "ErrImagePull"
                    | "ImagePullBackOff"
                    | "RegistryUnavailable"
                    | "SignatureValidationFailed"
                    | "ErrImageNeverPull"
                    | "ImageInspectError"
            )
        );
        // Events only: still creating (a retry is under way) is current; a container
        // that has run since (running, terminated, crash-looping) pulled its image.
        let creating =
            container.status.is_none() || container.waiting_reason() == "ContainerCreating";
        let current = pulling_failed || (creating && !failing_events.is_empty());
        if !current && failing_events.is_empty() {
            continue;
        }
        let waiting_message = waiting.map(|(_, message)| message).unwrap_or("");
        let mut message = waiting_message.to_owned();
        let mut class = classify_pull(&message);
        if class == PullClass::Other
            && let Some(newest) = failing_events.last()
        {
            message = newest.message.clone();
            class = classify_pull(&message);
        }
        if message.is_empty() {
            message = container.waiting_reason().to_owned();
        }
        out.push(PullFailure {
            container,
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
    on_pod: Vec<(String, Existence)>,
    /// The Pod's ServiceAccount.
    service_account: String,
    /// The ServiceAccount's imagePullSecrets, when it was read.
    of_service_account: Option<Vec<String>>,
}

impl PullSecrets {
    /// The pull secrets of a Pod and of its ServiceAccount.
    fn of(ctx: &RuleContext, pod: &PodView) -> PullSecrets {
        let ns = pod.pod_ref.ns();
        let on_pod = pod
            .spec
            .image_pull_secrets
            .iter()
            .flatten()
            .filter(|secret| !secret.name.is_empty())
            .map(|secret| {
                let secret_ref = ObjRef::namespaced(Kind::Secret, ns, &secret.name);
                (secret.name.clone(), ctx.existence(&secret_ref))
            })
            .collect();
        let service_account = pod
            .spec
            .service_account_name
            .clone()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        let of_service_account =
            ctx.store
                .get::<ServiceAccount>(ns, &service_account)
                .map(|account| {
                    account
                        .image_pull_secrets
                        .iter()
                        .flatten()
                        .map(|secret| secret.name.clone())
                        .collect()
                });
        PullSecrets {
            on_pod,
            service_account,
            of_service_account,
        }
    }

    /// At least one pull secret that exists is presented.
    fn usable(&self) -> bool {
        self.on_pod
            .iter()
            .any(|(_, existence)| *existence != Existence::Missing)
    }

    /// What the Pod and its ServiceAccount present, for a credentials finding.
    fn evidence(&self) -> Vec<String> {
        let mut evidence = Vec::new();
        if self.on_pod.is_empty() {
            evidence.push("the Pod has no imagePullSecrets: the pull is anonymous".to_owned());
        } else {
            let list: Vec<String> = self
                .on_pod
                .iter()
                .map(|(name, existence)| {
                    format!(
                        "{name} ({})",
                        match existence {
                            Existence::Exists => "exists",
                            Existence::Missing => "Secret does not exist",
                            Existence::Unknown => "Secrets not read",
                        }
                    )
                })
                .collect();
            evidence.push(format!("Pod imagePullSecrets: {}", list.join(", ")));
        }
        match &self.of_service_account {
            Some(secrets) if secrets.is_empty() => evidence.push(format!(
                "ServiceAccount {} has no imagePullSecrets",
                self.service_account
            )),
            Some(secrets) => {
                evidence.push(format!(
                    "ServiceAccount {} imagePullSecrets: {}",
                    self.service_account,
                    secrets.join(", ")
                ));
                let missing_on_pod: Vec<&String> = secrets
                    .iter()
                    .filter(|name| !self.on_pod.iter().any(|(on_pod, _)| on_pod == *name))
                    .collect();
                if !missing_on_pod.is_empty() {
                    evidence.push(format!(
                        "the ServiceAccount's pull secret(s) {} are not on the Pod: they were added after the Pod was created (Pods get them only at creation)",
                        missing_on_pod
                            .iter()
                            .map(|name| name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
            None => evidence.push(format!(
                "ServiceAccount {} was not read (its imagePullSecrets are unknown)",
                self.service_account
            )),
        }
        evidence
    }
}

/// The pull rule a failure falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PullRule {
    /// ImagePullNotFound.
    NotFound,
    /// ImagePullUnauthorized.
    Unauthorized,
    /// ImagePullNetworkError.
    NetworkError,
    /// ImagePullRateLimited.
    RateLimited,
    /// ImagePlatformMismatch.
    PlatformMismatch,
    /// ImagePullBackOff: any other pull failure.
    BackOff,
}

impl PullRule {
    /// The rule of a failure of `class`, for a Pod that presents a usable pull secret
    /// or not ("pull access denied" is resolved with the pull secrets).
    fn of(class: PullClass, usable_secret: bool) -> PullRule {
        match class {
            PullClass::NotFound => PullRule::NotFound,
            PullClass::Unauthorized => PullRule::Unauthorized,
            PullClass::AccessDenied if usable_secret => PullRule::NotFound,
            PullClass::AccessDenied => PullRule::Unauthorized,
            PullClass::Network => PullRule::NetworkError,
            PullClass::RateLimited => PullRule::RateLimited,
            PullClass::PlatformMismatch => PullRule::PlatformMismatch,
            PullClass::Other => PullRule::BackOff,
        }
    }

    /// The rule's id.
    fn id(self) -> RuleId {
        match self {
            PullRule::NotFound => RuleId::ImagePullNotFound,
            PullRule::Unauthorized => RuleId::ImagePullUnauthorized,
            PullRule::NetworkError => RuleId::ImagePullNetworkError,
            PullRule::RateLimited => RuleId::ImagePullRateLimited,
            PullRule::PlatformMismatch => RuleId::ImagePlatformMismatch,
            PullRule::BackOff => RuleId::ImagePullBackOff,
        }
    }
}

/// A container's pull failure, with its rule.
struct PullHit<'a> {
    rule: PullRule,
    failure: PullFailure<'a>,
}

/// The pull rules (ImagePullNotFound, ImagePullUnauthorized, ImagePullNetworkError,
/// ImagePullBackOff) and InvalidImageName.
pub(crate) fn evaluate_pulls(
    ctx: &RuleContext,
    pods: &[PodView],
    claims: &mut Claims,
    out: &mut Vec<Draft>,
) {
    let mut groups: Groups<PullHit> = Groups::by_controller();
    let mut invalid: Groups<ContainerView> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live()) {
        for container in pod.containers() {
            if container.waiting_reason() == "InvalidImageName" {
                invalid.add_hit(pod, container.name(), container);
                claims.claim(&pod.pod_ref, Some(container.name()));
            }
        }
        let secrets = PullSecrets::of(ctx, pod);
        for failure in pod_pull_failures(pod) {
            let rule = PullRule::of(failure.class, secrets.usable());
            if failure.current {
                claims.claim(&pod.pod_ref, Some(failure.container.name()));
            }
            // current and healed failures are different findings
            let discriminator = format!(
                "{}{}",
                failure.container.name(),
                if failure.current { "" } else { "#recovered" }
            );
            groups.add_hit(pod, discriminator, PullHit { rule, failure });
        }
    }
    // one finding per (controller, container, state); the rule of the first Pod wins
    for group in groups.into_groups() {
        let PullHit { rule, failure } = group.first_seen();
        let rule = *rule;
        let container = failure.container;
        let pod = group.first_pod();
        let image = container.image();
        let who = group.who(pods);
        // current and healed failures are two groups, and both findings are on the container
        let mut draft = group.draft(rule.id()).discriminator(container.name());
        let detail = short_error(&failure.message);
        let message = match (rule, failure.class) {
            (PullRule::NotFound, PullClass::AccessDenied) => format!(
                "Image {image} was not found: the registry answers \"pull access denied, repository does not exist or may require authorization\" although the Pod presents pull credentials, so the repository or tag most likely does not exist (or those credentials lack access to it); container {} of {who} cannot start",
                container.name()
            ),
            (PullRule::NotFound, _) => format!(
                "Image {image} does not exist in the registry (wrong tag, digest or repository): container {} of {who} cannot start",
                container.name()
            ),
            (PullRule::Unauthorized, PullClass::AccessDenied) => format!(
                "The registry denies pulling {image} without credentials (\"pull access denied\"): the repository is private and the Pod has no usable imagePullSecret, or the repository does not exist; container {} of {who} cannot start",
                container.name()
            ),
            (PullRule::Unauthorized, _) => format!(
                "The registry refuses to pull {image}: missing or wrong credentials; container {} of {who} cannot start",
                container.name()
            ),
            (PullRule::NetworkError, _) => format!(
                "The node cannot reach or trust the registry of {image} ({detail}): container {} of {who} cannot start",
                container.name()
            ),
            (PullRule::RateLimited, _) => format!(
                "The registry {} rate-limits the pulls of {image} ({detail}): container {} of {who} cannot start until the limit resets, and every retry counts against it",
                registry(image),
                container.name()
            ),
            (PullRule::PlatformMismatch, _) => format!(
                "Image {image} has no variant for the platform of {} ({detail}): container {} of {who} cannot start",
                node_platform(ctx, pod.node()),
                container.name()
            ),
            (PullRule::BackOff, _) => format!(
                "Pulling {image} fails ({detail}): container {} of {who} cannot start",
                container.name()
            ),
        };
        if failure.current {
            draft = draft.message(message);
        } else {
            draft = draft.severity(Severity::Info).message(format!(
                "Pulling {image} failed earlier for container {} of {who}, but the image has since been pulled and the container runs: recovered",
                container.name()
            ));
        }
        draft = draft.evidence(format!("container {}: image {image}", container.name()));
        if let Some(waiting) = container.waiting_evidence() {
            draft = draft.evidence(waiting);
        } else if !failure.current && container.running() {
            draft = draft.evidence(format!(
                "container {}: now running{}, ready={}",
                container.name(),
                container
                    .running_since()
                    .map(|since| format!(" since {since}"))
                    .unwrap_or_default(),
                container.ready()
            ));
        }
        if rule == PullRule::Unauthorized || failure.class == PullClass::AccessDenied {
            for secrets in PullSecrets::of(ctx, pod).evidence() {
                draft = draft.evidence(secrets);
            }
        }
        if rule == PullRule::NetworkError {
            let nodes: BTreeSet<&str> = group
                .members()
                .iter()
                .filter_map(|hit| hit.pod.node())
                .collect();
            if !nodes.is_empty() {
                draft = draft.evidence(format!(
                    "pulls fail on node(s): {}",
                    nodes.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if rule == PullRule::PlatformMismatch
            && let Some(node) = pod.node()
        {
            draft = draft.evidence(format!("node {node}: {}", node_platform(ctx, Some(node))));
        }
        draft = with_events(draft, &group, 3, |event| {
            is_pull_event(event) && event_image(&event.message).is_none_or(|pulled| pulled == image)
        });
        draft = pull_remediation(ctx, draft, rule, failure, pod, group.controller(), image);
        out.push(draft);
    }
    for group in invalid.into_groups() {
        let container = *group.first_seen();
        let pod = group.first_pod();
        let who = group.who(pods);
        let workload = owners::top_owner(ctx.store, group.controller());
        let mut draft = group
            .draft(RuleId::InvalidImageName)
            .message(format!(
                "The image reference {:?} of container {} cannot be parsed (uppercase letters, spaces, a bad tag or digest): {who} cannot start",
                container.image(),
                container.name()
            ))
            .evidence(container.waiting_evidence().unwrap_or_default());
        draft = with_events(draft, &group, 2, |event| {
            event.reason == "InspectFailed"
                || (event.reason == "Failed" && event.message.contains("InvalidImageName"))
                || event.message.contains("couldn't parse image")
                || event.message.contains("invalid reference format")
        });
        draft = draft
            .summary(format!(
                "Fix the image reference of container {} (lowercase repository, one tag or @sha256 digest, no spaces)",
                container.name()
            ))
            .read_only("Read the kubelet's message", pod.describe_cmd())
            .step(
                "Set a valid image",
                Some(format!(
                    "kubectl set image {} {}=<registry>/<repository>:<tag>",
                    kubectl_ref(&workload),
                    container.name()
                )),
                Risk::Reversible,
            );
        out.push(draft);
    }
}

/// The registry's words, without the runtime's wrapping.
fn short_error(message: &str) -> String {
    let trimmed = message.trim();
    // containerd: "... desc = failed to pull and unpack image ...: <cause>"
    // the last link of the chain that says something: runc and containerd end theirs
    // with the gRPC code (`...: no space left on device: unknown`)
    let tail = trimmed
        .rsplit(": ")
        .find(|link| !matches!(*link, "unknown" | "Unknown" | "not found"))
        .unwrap_or(trimmed);
    let lower = trimmed.to_ascii_lowercase();
    for key in [
        "no such host",
        "i/o timeout",
        "connection refused",
        "tls handshake timeout",
        "x509: certificate signed by unknown authority",
        "x509: certificate has expired or is not yet valid",
        "x509:",
        "toomanyrequests",
        "no match for platform in manifest",
        "no space left on device",
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

/// The summary and steps of a pull finding.
fn pull_remediation(
    ctx: &RuleContext,
    mut draft: Draft,
    rule: PullRule,
    failure: &PullFailure,
    pod: &PodView,
    owner: &ObjRef,
    image: &str,
) -> Draft {
    let workload = owners::top_owner(ctx.store, owner);
    let ns = pod.pod_ref.ns();
    let container = failure.container.name();
    draft = draft.read_only("Read the kubelet's pull errors", pod.describe_cmd());
    match rule {
        PullRule::NotFound => {
            draft = draft
                .summary(format!(
                    "Point container {container} at an image that exists (check the tag/digest was pushed), or roll back"
                ))
                .read_only(
                    "Check from a workstation which tags exist in the registry",
                    format!("crane ls {}", repository(image)),
                )
                .step(
                    "Set an image that exists",
                    Some(format!(
                        "kubectl set image {} {container}={}:<existing-tag>",
                        kubectl_ref(&workload),
                        repository(image)
                    )),
                    Risk::Reversible,
                );
            if workload.kind == Kind::Deployment {
                draft = draft.step(
                    "Or roll back to the previous revision",
                    Some(format!("kubectl rollout undo {}", kubectl_ref(&workload))),
                    Risk::Reversible,
                );
            }
        }
        PullRule::Unauthorized => {
            let service_account = pod
                .spec
                .service_account_name
                .clone()
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| "default".to_owned());
            // a pull secret the Pod names but that does not exist is the one to create
            let secret = PullSecrets::of(ctx, pod)
                .on_pod
                .into_iter()
                .find(|(_, existence)| *existence == Existence::Missing)
                .map_or_else(|| "regcred".to_owned(), |(name, _)| name);
            draft = draft
                .summary(format!(
                    "Give the Pods credentials for {}: a docker-registry Secret in imagePullSecrets (Pod template or ServiceAccount {service_account}), or node/workload identity",
                    registry(image)
                ))
                .read_only(
                    "See which pull secrets the Pod presents",
                    format!(
                        "kubectl get pod {} -n {ns} -o jsonpath='{{.spec.imagePullSecrets}}'",
                        pod.pod_ref.name
                    ),
                )
                .read_only(
                    "See the ServiceAccount's pull secrets",
                    format!("kubectl get serviceaccount {service_account} -n {ns} -o yaml"),
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
                    format!("Attach it to ServiceAccount {service_account} (new Pods get it)"),
                    Some(format!(
                        "kubectl patch serviceaccount {service_account} -n {ns} -p '{{\"imagePullSecrets\":[{{\"name\":\"{secret}\"}}]}}'"
                    )),
                    Risk::Reversible,
                )
                .step(
                    "Recreate the Pods so they carry the pull secret",
                    Some(format!("kubectl rollout restart {}", kubectl_ref(&workload))),
                    Risk::Disruptive,
                );
        }
        PullRule::NetworkError => {
            let node = pod.node().unwrap_or("<node>");
            draft = draft
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
        PullRule::RateLimited => {
            draft = draft
                .summary(format!(
                    "Authenticate the pulls from {} (an imagePullSecret of an account with a higher limit), or pull through a mirror or pull-through cache; the limit resets on its own, so waiting also works",
                    registry(image)
                ))
                .read_only(
                    "See how many nodes and Pods hit the limit",
                    format!("kubectl get events -n {ns} --field-selector reason=Failed"),
                )
                .step(
                    "Create a pull Secret for an authenticated account and reference it in imagePullSecrets",
                    Some(format!(
                        "kubectl create secret docker-registry regcred -n {ns} --docker-server={} --docker-username=<user> --docker-password=<token>",
                        registry(image)
                    )),
                    Risk::Reversible,
                );
        }
        PullRule::PlatformMismatch => {
            draft = draft
                .summary(format!(
                    "Build and push {} for the nodes' platform (a multi-arch image: docker buildx build --platform linux/amd64,linux/arm64), or schedule the Pods onto nodes of the image's architecture (nodeSelector kubernetes.io/arch)",
                    repository(image)
                ))
                .read_only(
                    "See the platforms the image offers",
                    format!("crane manifest {image}"),
                )
                .read_only(
                    "See the nodes' architectures",
                    "kubectl get nodes -L kubernetes.io/arch,kubernetes.io/os".to_owned(),
                );
        }
        PullRule::BackOff if failure.container.waiting_reason() == "ErrImageNeverPull" => {
            draft = draft
                .summary(format!(
                    "Container {container} has imagePullPolicy Never and {image} is not on the node (or not for these credentials): load the image onto the node, or let the kubelet pull it"
                ))
                .step(
                    "Let the kubelet pull the image",
                    Some(format!(
                        "kubectl patch {} --type=json -p '[{{\"op\":\"replace\",\"path\":\"/spec/template/spec/containers/{}/imagePullPolicy\",\"value\":\"IfNotPresent\"}}]'",
                        kubectl_ref(&workload),
                        container_index(pod, container)
                    )),
                    Risk::Reversible,
                )
                .read_only(
                    "Or check which images the node holds",
                    format!("crictl images | grep {}", repository(image)),
                );
        }
        PullRule::BackOff if failure.container.waiting_reason() == "SignatureValidationFailed" => {
            draft = draft
                .summary(format!(
                    "The node's signature policy refuses {image} (its signature does not validate): sign the image with a key the policy trusts, or pull a signed image"
                ))
                .read_only("Read the runtime's verdict", pod.events_cmd())
                .read_only(
                    "Check the node's signature policy",
                    "cat /etc/containers/policy.json",
                );
        }
        PullRule::BackOff => {
            draft = draft
                .summary(format!(
                    "Read the pull error of container {container} and fix its cause (registry, runtime or node)"
                ))
                .read_only("Read the events of the Pod", pod.events_cmd());
        }
    }
    draft
}

/// The index of a container in the Pod spec (for JSON patches of the template).
fn container_index(pod: &PodView, container: &str) -> usize {
    pod.spec
        .containers
        .iter()
        .position(|c| c.name == container)
        .unwrap_or(0)
}

/// The CPU architecture of a node (its `kubernetes.io/arch` label, else nodeInfo).
pub(crate) fn node_arch<'a>(ctx: &RuleContext<'a>, node: Option<&str>) -> Option<&'a str> {
    let node = ctx
        .store
        .get::<k8s_openapi::api::core::v1::Node>("", node?)?;
    node.metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get("kubernetes.io/arch"))
        .or_else(|| {
            node.status
                .as_ref()
                .and_then(|s| s.node_info.as_ref())
                .map(|i| &i.architecture)
        })
        .map(String::as_str)
}

/// `node worker-1 (linux/arm64)`: a node and its platform, from its labels or
/// nodeInfo; `its node` when unknown.
pub(crate) fn node_platform(ctx: &RuleContext, node: Option<&str>) -> String {
    let Some(name) = node else {
        return "its node".to_owned();
    };
    let Some(node) = ctx.store.get::<k8s_openapi::api::core::v1::Node>("", name) else {
        return format!("node {name}");
    };
    let label = |key: &str| {
        node.metadata
            .labels
            .as_ref()
            .and_then(|labels| labels.get(key))
            .cloned()
    };
    let info = node.status.as_ref().and_then(|s| s.node_info.as_ref());
    let os = label("kubernetes.io/os").or_else(|| info.map(|i| i.operating_system.clone()));
    let arch = label("kubernetes.io/arch").or_else(|| info.map(|i| i.architecture.clone()));
    match (os, arch) {
        (Some(os), Some(arch)) => format!("node {name} ({os}/{arch})"),
        (None, Some(arch)) => format!("node {name} ({arch})"),
        _ => format!("node {name}"),
    }
}

/// `registry.example.com/shop/web` of `registry.example.com/shop/web:v2`.
pub(crate) fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(colon) if !no_digest[colon..].contains('/') => &no_digest[..colon],
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
    let colon = no_digest.rfind(':')?;
    let tag = &no_digest[colon + 1..];
    (!tag.contains('/')).then_some(tag)
}

/// Whether an image reference names its digest (`image@sha256:...`).
pub(crate) fn is_pinned(image: &str) -> bool {
    image.contains("@sha256:")
}

/// A container that runs another digest than the expected one.
struct DigestHit {
    /// The digest `expectedImages` names.
    expected: String,
    /// The digest of the running imageID.
    running: String,
    /// The running imageID.
    image_id: String,
}

/// ImageDigestMismatch: `expectedImages` names the digest a container must run; the
/// running imageID's digest differs.
pub(crate) fn digest_mismatch(ctx: &RuleContext, pods: &[PodView], out: &mut Vec<Draft>) {
    if ctx.options.expected_images.is_empty() {
        return;
    }
    let mut groups: Groups<DigestHit> = Groups::by_controller();
    for pod in pods.iter().filter(|pod| pod.live() && !pod.terminating()) {
        for container in pod.containers() {
            let Some(expected) = ctx
                .options
                .expected_images
                .iter()
                .find(|expected| expected.container == container.name())
            else {
                continue;
            };
            let Some(status) = container.status else {
                continue;
            };
            let Some((_, running)) = status.image_id.rsplit_once('@') else {
                // not started yet, or an image id without a repository digest
                continue;
            };
            if running != expected.digest {
                let hit = DigestHit {
                    expected: expected.digest.clone(),
                    running: running.to_owned(),
                    image_id: status.image_id.clone(),
                };
                groups.add_hit(pod, container.name(), hit);
            }
        }
    }
    for group in groups.into_groups() {
        let pod = group.first_pod();
        let DigestHit {
            expected,
            running,
            image_id,
        } = group.first_seen();
        let workload = owners::top_owner(ctx.store, group.controller());
        let container = group.discriminator().to_owned();
        let image = pod
            .spec
            .containers
            .iter()
            .chain(pod.spec.init_containers.iter().flatten())
            .find(|spec| spec.name == container)
            .and_then(|spec| spec.image.clone())
            .unwrap_or_default();
        let running_digests: BTreeSet<&str> = group
            .members()
            .iter()
            .map(|hit| hit.seen.running.as_str())
            .collect();
        let mut draft = group
            .draft(RuleId::ImageDigestMismatch)
            .message(format!(
                "Container {container} of {} runs {running}, not the expected {expected}: the rollout did not reach these Pods or the tag {image} points elsewhere",
                group.who(pods)
            ))
            .evidence(format!("expected digest {expected} (expectedImages)"))
            .evidence(format!("container {container}: imageID {image_id}, image {image}"));
        if running_digests.len() > 1 {
            draft = draft.evidence(format!(
                "the Pods run {} different digests",
                running_digests.len()
            ));
        }
        draft = draft
            .summary(format!(
                "Roll {} out to the expected digest (pin the image by digest)",
                workload.short()
            ))
            .read_only(
                "See which image each Pod runs",
                format!(
                    "kubectl get pods -n {} -o custom-columns=POD:.metadata.name,IMAGE:.status.containerStatuses[*].imageID",
                    pod.pod_ref.ns()
                ),
            )
            .read_only(
                "Check the rollout's progress",
                format!("kubectl rollout status {}", kubectl_ref(&workload)),
            )
            .step(
                "Pin the expected digest",
                Some(format!(
                    "kubectl set image {} {container}={}@{expected}",
                    kubectl_ref(&workload),
                    repository(&image)
                )),
                Risk::Reversible,
            );
        out.push(draft);
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
        for controller in ctx.graph.subjects(kind) {
            workloads.insert(owners::top_owner(ctx.store, controller));
        }
    }
    for pod in pods {
        workloads.insert(owners::top_owner(ctx.store, &pod.owner));
    }
    for workload in workloads {
        let Some(spec) = crate::k8s::owners::template_spec(ctx.store, &workload) else {
            continue;
        };
        let mut by_container: BTreeMap<String, String> = BTreeMap::new();
        for container in spec
            .init_containers
            .iter()
            .flatten()
            .chain(spec.containers.iter())
        {
            let image = container.image.clone().unwrap_or_default();
            if image.is_empty() || is_pinned(&image) {
                continue;
            }
            by_container.insert(container.name.clone(), image);
        }
        for (container, image) in by_container {
            let how = match image_tag(&image) {
                None => "no tag (which means :latest)".to_owned(),
                Some("latest") => "the tag :latest".to_owned(),
                Some(tag) => format!("the tag :{tag}"),
            };
            let draft = Draft::new(RuleId::ImageTagMutable, workload.clone())
                .discriminator(container.clone())
                .message(format!(
                    "Container {container} of {} references {image} by {how}, not by digest: a tag can be moved, so Pods may run different content after a push or a reschedule, and a rollback may not restore the old binary",
                    workload.short()
                ))
                .evidence(format!("container {container}: image {image} (no @sha256 digest)"))
                .summary("Reference images by digest (image@sha256:...) in production, e.g. by resolving tags in CI")
                .read_only(
                    "See the digest the Pods run",
                    format!(
                        "kubectl get pods -n {} -o jsonpath='{{range .items[*]}}{{.metadata.name}} {{.status.containerStatuses[*].imageID}}{{\"\\n\"}}{{end}}'",
                        workload.ns()
                    ),
                )
                .step(
                    "Pin the digest the Pods run",
                    Some(format!(
                        "kubectl set image {} {container}={}@sha256:<digest>",
                        kubectl_ref(&workload),
                        repository(&image)
                    )),
                    Risk::Reversible,
                );
            out.push(draft);
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
            PullClass::RateLimited
        );
        // CRI-O's (containers/image) form
        assert_eq!(
            classify_pull(
                "initializing source docker://docker.io/library/nginx:1.27: reading manifest 1.27 in docker.io/library/nginx: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
            ),
            PullClass::RateLimited
        );
        assert_eq!(
            classify_pull(
                "failed to pull and unpack image \"registry.example.com/app:1\": no match for platform in manifest: not found"
            ),
            PullClass::PlatformMismatch
        );
        assert_eq!(
            classify_pull(
                "choosing image instance: no image found in manifest list for architecture \"arm64\", variant \"v8\", OS \"linux\""
            ),
            PullClass::PlatformMismatch
        );
        assert_eq!(
            classify_pull(
                "choosing image instance: no image found in image index for architecture \"arm64\", variant \"\", OS \"linux\""
            ),
            PullClass::PlatformMismatch
        );
        assert_eq!(
            classify_pull(
                "pinging container registry registry.example.com: too many requests to registry"
            ),
            PullClass::RateLimited
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
