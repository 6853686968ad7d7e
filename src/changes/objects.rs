//! Changes of objects other than workload revisions, from the change journal: a
//! Service's selector or ports, a NetworkPolicy created or changed, a ConfigMap's
//! key, a Node's taints or conditions, an HPA's bounds, a PVC or StorageClass, a
//! quota or LimitRange, a workload's replicas — and which findings each introduced.
//!
//! A change introduced a finding when the finding is about the changed object (or
//! holds it in its scope), its rule is one that change can cause ([`rules_of`]), and
//! the change came before the failure began (when the finding knows when that was).
//! A changed ConfigMap key introduced a crash or a failing probe of Pods only when
//! those Pods use that key (a `configMapKeyRef` of it, or the whole ConfigMap by
//! `envFrom` or a volume) and the failure began within [`KEY_WINDOW_SECS`] after it.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Pod, PodSpec};

use super::journal::{Entry, Happening, Source};
use super::template::FieldDiff;
use crate::k8s::owners;
use crate::model::{Kind, ObjRef};
use crate::rules::{Draft, RuleId};
use crate::store::Store;
use crate::text::clip;

/// A failure that began this long after a ConfigMap key changed may be its doing.
pub const KEY_WINDOW_SECS: i64 = 3600;

/// The first event of a failure may be reported this long before the change that
/// caused it is observed (a watch's delay, clocks).
const SLACK_SECS: i64 = 60;

/// The rules a change of `path` (or the object's creation or deletion) can cause.
pub fn rules_of(kind: Kind, happening: Happening, path: Option<&str>) -> &'static [RuleId] {
    use RuleId::*;
    match (kind, happening) {
        (Kind::NetworkPolicy, Happening::Created | Happening::Changed) => {
            &[NetworkPolicyBlocksDNS, NetworkPolicyBlocksIngress]
        }
        (Kind::ResourceQuota, Happening::Created) => &[QuotaExceeded, LimitRangeOrQuotaPressure],
        (Kind::LimitRange, Happening::Created) => &[LimitRangeOrQuotaPressure, AdmissionDenied],
        (Kind::ConfigMap, Happening::Deleted) => &[ConfigMapNotFound, CreateContainerConfigError],
        (Kind::Secret, Happening::Deleted) => &[SecretNotFound, CreateContainerConfigError],
        (Kind::Service, Happening::Deleted) => &[
            IngressBackendServiceNotFound,
            StatefulSetServiceNotFound,
            HTTPRouteBackendNotFound,
        ],
        (Kind::StorageClass, Happening::Deleted) => &[StorageClassNotFound, PVCPending],
        (_, Happening::Changed) => {
            let path = path.unwrap_or_default();
            match kind {
                Kind::Service if path == "spec.selector" => &[ServiceSelectorMatchesNoPods],
                Kind::Service if path.starts_with("spec.ports") => {
                    &[ServiceTargetPortMismatch, IngressBackendPortNotFound]
                }
                Kind::ConfigMap if path.starts_with("data[") || path.starts_with("binaryData[") => {
                    &[ConfigMapKeyNotFound, CreateContainerConfigError]
                }
                Kind::Node if path == "spec.taints" => {
                    &[UntoleratedTaint, NodeSelectorMatchesNoNode, PodEvicted]
                }
                Kind::Node if path == "spec.unschedulable" => &[NodeCordoned],
                Kind::Node if path == "status.conditions[Ready]" => {
                    &[NodeNotReady, NodeUnreachable]
                }
                Kind::Node if path == "status.conditions[MemoryPressure]" => {
                    &[NodeMemoryPressure, PodEvicted]
                }
                Kind::Node if path == "status.conditions[DiskPressure]" => {
                    &[NodeDiskPressure, PodEvicted]
                }
                Kind::Node if path == "status.conditions[PIDPressure]" => &[NodePIDPressure],
                Kind::Node if path == "status.conditions[NetworkUnavailable]" => {
                    &[NodeNetworkUnavailable]
                }
                Kind::HorizontalPodAutoscaler if path == "spec.maxReplicas" => &[HPAMaxedOut],
                Kind::HorizontalPodAutoscaler if path == "spec.metrics" => &[HPAMetricsUnavailable],
                Kind::PersistentVolumeClaim if path == "spec.storageClassName" => &[
                    StorageClassNotFound,
                    ProvisioningFailed,
                    PVCPending,
                    UnboundPersistentVolumeClaim,
                ],
                Kind::PersistentVolumeClaim if path.starts_with("spec.resources") => {
                    &[ProvisioningFailed, PVCPending]
                }
                Kind::PersistentVolumeClaim if path == "status.phase" => &[PVCLost],
                Kind::StorageClass if path.starts_with("metadata.annotations") => {
                    &[NoDefaultStorageClass, MultipleDefaultStorageClasses]
                }
                Kind::ResourceQuota => &[QuotaExceeded, LimitRangeOrQuotaPressure],
                Kind::LimitRange => &[LimitRangeOrQuotaPressure, AdmissionDenied],
                Kind::NetworkPolicy => &[NetworkPolicyBlocksDNS, NetworkPolicyBlocksIngress],
                _ => &[],
            }
        }
        _ => &[],
    }
}

/// The rules a changed ConfigMap key can cause in the Pods that use it.
const KEY_USER_RULES: &[RuleId] = &[
    RuleId::ContainerCrashing,
    RuleId::ContainerExitedZero,
    RuleId::ReadinessProbeFailing,
    RuleId::LivenessProbeFailing,
    RuleId::StartupProbeFailing,
    RuleId::HighRestartCount,
    RuleId::LogsMissingConfiguration,
    RuleId::LogsConnectionRefused,
    RuleId::LogsDNSResolutionFailure,
];

/// One line: `key DATABASE_URL of ConfigMap shop/app-config changed`, `taints of Node
/// n1 changed: (none) -> dedicated=db:NoSchedule`, `NetworkPolicy shop/deny was created`.
pub fn summary(entry: &Entry) -> String {
    let object = entry.object.short();
    let mut text = match entry.happening {
        Happening::Created => format!("{object} was created"),
        Happening::Deleted => format!("{object} was deleted"),
        Happening::Changed => {
            let parts: Vec<String> = entry.fields.iter().take(3).map(describe).collect();
            let mut text = format!("{object}: {}", parts.join("; "));
            if entry.fields.len() > 3 {
                text.push_str(&format!("; and {} more field(s)", entry.fields.len() - 3));
            }
            text
        }
    };
    if entry.count > 1 {
        text.push_str(&format!(
            " ({} times, the last at {})",
            entry.count, entry.time
        ));
    }
    if entry.source == Source::ManagedFields {
        let by = entry
            .manager
            .as_deref()
            .map(|manager| format!(" by {manager}"))
            .unwrap_or_default();
        text.push_str(&format!(" (last written{by}, from managedFields)"));
    }
    clip(&text, 512)
}

/// `key DATABASE_URL changed`, `selector app=web -> app=webapp`.
fn describe(field: &FieldDiff) -> String {
    let value = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".into());
    if let Some(key) = field
        .path
        .strip_prefix("data[")
        .or_else(|| field.path.strip_prefix("binaryData["))
        .and_then(|rest| rest.strip_suffix(']'))
    {
        let what = match (&field.from, &field.to) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ => "changed",
        };
        return format!("key {key} {what}");
    }
    if field.from.is_none() && field.to.is_some() {
        // read from managedFields: only the value now is known
        return format!("{} set to {}", field.path, value(&field.to));
    }
    format!(
        "{} {} -> {}",
        field.path,
        value(&field.from),
        value(&field.to)
    )
}

/// Whether the change introduced the draft's failure; `time` is when it happened.
pub fn introduced(
    store: &Store,
    object: &ObjRef,
    happening: Happening,
    fields: &[FieldDiff],
    time: Option<Timestamp>,
    draft: &Draft,
) -> bool {
    let before_failure = |slack: i64| match (time, draft.first_seen) {
        (Some(changed), Some(began)) => {
            let lead = crate::k8s::duration::seconds(changed, began);
            (-SLACK_SECS..=slack).contains(&lead)
        }
        _ => true,
    };
    let about = draft.object == *object
        || draft.scope.contains(object)
        || (object.kind == Kind::Node && taint_named(draft, fields))
        || concerns(draft, object);
    let paths: Vec<Option<&str>> = if fields.is_empty() {
        vec![None]
    } else {
        fields
            .iter()
            .map(|field| Some(field.path.as_str()))
            .collect()
    };
    let causes = paths
        .iter()
        .any(|path| rules_of(object.kind, happening, *path).contains(&draft.rule.id));
    if about && causes && before_failure(i64::MAX) {
        return true;
    }
    // a changed key of a ConfigMap the failing Pods use
    if object.kind == Kind::ConfigMap
        && happening == Happening::Changed
        && KEY_USER_RULES.contains(&draft.rule.id)
        && draft.first_seen.is_some()
        && before_failure(KEY_WINDOW_SECS)
    {
        let keys: Vec<&str> = fields
            .iter()
            .filter_map(|field| {
                field
                    .path
                    .strip_prefix("data[")
                    .or_else(|| field.path.strip_prefix("binaryData["))?
                    .strip_suffix(']')
            })
            .collect();
        return specs_of(store, draft)
            .iter()
            .any(|spec| keys.iter().any(|key| uses_key(spec, &object.name, key)));
    }
    false
}

/// Whether a finding concerns an object it does not hold in its scope: the quota a
/// refusal names (its discriminator), every StorageClass for the default-class rules.
pub(crate) fn concerns(draft: &Draft, object: &ObjRef) -> bool {
    match (draft.rule.id, object.kind) {
        (RuleId::QuotaExceeded, Kind::ResourceQuota) => {
            draft.discriminator == object.name && draft.object.namespace == object.namespace
        }
        (
            RuleId::NoDefaultStorageClass | RuleId::MultipleDefaultStorageClasses,
            Kind::StorageClass,
        ) => true,
        _ => false,
    }
}

/// Taints a change added: `dedicated` of `(none) -> dedicated=search:NoSchedule`.
pub fn added_taint_keys(fields: &[FieldDiff]) -> Vec<&str> {
    let keys = |value: &Option<String>| -> Vec<String> {
        value
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .filter(|taint| !taint.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut added = Vec::new();
    for field in fields.iter().filter(|field| field.path == "spec.taints") {
        let before = keys(&field.from);
        for taint in field.to.as_deref().unwrap_or_default().split(',') {
            if !taint.is_empty() && !before.iter().any(|old| old == taint) {
                let key = taint.split(['=', ':']).next().unwrap_or(taint);
                added.push(key);
            }
        }
    }
    added
}

/// Whether an untolerated-taint finding (or a placement constraint that leaves only
/// nodes reserved by taints) names a taint the change added: the scheduler writes
/// `untolerated taint {dedicated: search}`, the placement checks `taint
/// dedicated=search:NoSchedule on search-1`.
pub(crate) fn taint_named(draft: &Draft, fields: &[FieldDiff]) -> bool {
    if !matches!(
        draft.rule.id,
        RuleId::UntoleratedTaint | RuleId::NodeSelectorMatchesNoNode
    ) {
        return false;
    }
    let added = added_taint_keys(fields);
    std::iter::once(&draft.message)
        .chain(&draft.evidence)
        .any(|text| {
            added.iter().any(|key| {
                text.contains(&format!("{{{key}:"))
                    || text.contains(&format!("taint {key}="))
                    || text.contains(&format!("taint {key}:"))
            })
        })
}

/// The Pod specs a draft is about: its Pods, or the template of its workload.
fn specs_of<'s>(store: &'s Store, draft: &Draft) -> Vec<&'s PodSpec> {
    let mut specs = Vec::new();
    for object in std::iter::once(&draft.object).chain(&draft.scope) {
        match object.kind {
            Kind::Pod => {
                if let Some(spec) = store
                    .get_ref::<Pod>(object)
                    .and_then(|pod| pod.spec.as_ref())
                {
                    specs.push(spec);
                }
            }
            Kind::ReplicaSet
            | Kind::Deployment
            | Kind::StatefulSet
            | Kind::DaemonSet
            | Kind::Job => {
                if let Some(spec) = owners::template_spec(store, object) {
                    specs.push(spec);
                }
            }
            _ => {}
        }
    }
    specs
}

/// Whether a Pod uses `key` of ConfigMap `name`: by a `configMapKeyRef` of it, or the
/// whole ConfigMap (`envFrom`, a volume without items, or one whose items list it).
pub fn uses_key(spec: &PodSpec, name: &str, key: &str) -> bool {
    let containers = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    for container in containers {
        for env in container.env.iter().flatten() {
            let reference = env
                .value_from
                .as_ref()
                .and_then(|from| from.config_map_key_ref.as_ref());
            if reference.is_some_and(|r| r.name == name && r.key == key) {
                return true;
            }
        }
        for from in container.env_from.iter().flatten() {
            if from.config_map_ref.as_ref().is_some_and(|r| r.name == name) {
                return true;
            }
        }
    }
    for volume in spec.volumes.iter().flatten() {
        let sources = volume
            .config_map
            .iter()
            .map(|source| (&source.name, &source.items));
        let projected = volume
            .projected
            .iter()
            .flat_map(|projected| projected.sources.iter().flatten())
            .filter_map(|source| source.config_map.as_ref())
            .map(|source| (&source.name, &source.items));
        for (source, items) in sources.chain(projected) {
            if source != name {
                continue;
            }
            match items {
                None => return true,
                Some(items) if items.iter().any(|item| item.key == key) => return true,
                Some(_) => {}
            }
        }
    }
    false
}
