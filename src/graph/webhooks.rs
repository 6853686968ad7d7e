//! Admission webhooks as the object graph and the rules see them: which webhook a
//! refusal of the API server names, which Validating/MutatingWebhookConfiguration
//! holds a webhook of that name, how it fails (`failurePolicy`), what it applies to
//! (`namespaceSelector`) and which Service answers for it (`clientConfig.service`).
//!
//! The API server writes `admission webhook "NAME" denied the request: ...` when a
//! webhook answered no, and `failed calling webhook "NAME": ...` when it could not be
//! called at all (k8s.io/apiserver pkg/admission/plugin/webhook/errors/statuserror.go,
//! pkg/util/webhook/error.go). Neither says whether the webhook is a validating or a
//! mutating one, so a name is looked up in both kinds.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ServiceReference, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::model::{Kind, ObjRef};
use crate::store::Store;

/// What a refusal says of a webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedWebhook {
    /// The webhook's name (`validate.example.io`).
    pub name: String,
    /// It answered no (`denied the request`); otherwise it could not be called.
    pub denied: bool,
    /// The rest of the message: the denial's reason, or why the call failed.
    pub detail: String,
}

fn after<'a>(text: &'a str, pat: &str) -> Option<&'a str> {
    text.find(pat).map(|i| &text[i + pat.len()..])
}

fn quoted(text: &str) -> Option<&str> {
    text.strip_prefix('"')?.split('"').next()
}

/// The webhook a FailedCreate / ReplicaFailure message names, if it names one.
pub fn named_webhook(message: &str) -> Option<NamedWebhook> {
    if let Some(rest) = after(message, "admission webhook ")
        && let Some(name) = quoted(rest)
        && rest.contains("denied the request")
    {
        let detail = after(rest, "denied the request:").unwrap_or("").trim();
        return Some(NamedWebhook {
            name: name.to_owned(),
            denied: true,
            detail: detail.to_owned(),
        });
    }
    let rest = after(message, "failed calling webhook ")?;
    let name = quoted(rest)?;
    let detail = rest[name.len() + 2..].trim_start_matches([':', ';']).trim();
    Some(NamedWebhook {
        name: name.to_owned(),
        denied: false,
        detail: detail.to_owned(),
    })
}

/// The Service a webhook call went to, from the error: `no endpoints available for
/// service "ns/svc"`, else the URL's host `https://svc.ns.svc:443/...`. Returns
/// (service, namespace).
pub fn service_in_message(detail: &str) -> Option<(String, String)> {
    if let Some(rest) = after(detail, "no endpoints available for service ")
        && let Some(name) = quoted(rest)
        && let Some((ns, svc)) = name.split_once('/')
    {
        return Some((svc.to_owned(), ns.to_owned()));
    }
    let url = after(detail, "https://")?;
    let host = url.split(['/', ':', '"']).next()?;
    let mut parts = host.split('.');
    let svc = parts.next()?;
    let ns = parts.next()?;
    if parts.next() == Some("svc") {
        Some((svc.to_owned(), ns.to_owned()))
    } else {
        None
    }
}

/// The backend Service of a webhook, as its configuration names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookService {
    /// The Service.
    pub service: ObjRef,
    /// Its port (443 when the configuration leaves it out).
    pub port: i32,
    /// The path the API server posts to, if any.
    pub path: Option<String>,
}

impl WebhookService {
    /// `policy/webhook-svc:443/validate`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}:{}{}",
            self.service.ns(),
            self.service.name,
            self.port,
            self.path.as_deref().unwrap_or_default()
        )
    }
}

/// One webhook of a configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEntry {
    /// The ValidatingWebhookConfiguration or MutatingWebhookConfiguration.
    pub configuration: ObjRef,
    /// The webhook's name.
    pub webhook: String,
    /// Its index in the configuration's `webhooks` (for a JSON patch).
    pub index: usize,
    /// `Fail` (the default of admissionregistration.k8s.io/v1) or `Ignore`.
    pub failure_policy: String,
    /// The in-cluster Service it calls, if it calls one.
    pub service: Option<WebhookService>,
    /// The URL it calls instead of a Service.
    pub url: Option<String>,
    /// Its namespaceSelector, written as labels (`None` when it matches every namespace).
    pub namespace_selector: Option<String>,
    /// Its timeoutSeconds.
    pub timeout_seconds: Option<i32>,
}

impl WebhookEntry {
    /// Whether a failure to call it refuses the request (`failurePolicy: Fail`).
    pub fn fails_closed(&self) -> bool {
        self.failure_policy != "Ignore"
    }
}

fn service_of(config: &WebhookClientConfig) -> Option<WebhookService> {
    let ServiceReference {
        name,
        namespace,
        path,
        port,
    } = config.service.as_ref()?;
    Some(WebhookService {
        service: ObjRef::namespaced(Kind::Service, namespace, name),
        port: port.unwrap_or(443),
        path: path.clone(),
    })
}

fn selector_text(selector: Option<&LabelSelector>) -> Option<String> {
    let selector = selector?;
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for expression in selector.match_expressions.iter().flatten() {
        let values = expression.values.as_deref().unwrap_or_default().join(",");
        parts.push(match expression.operator.as_str() {
            "In" => format!("{} in ({values})", expression.key),
            "NotIn" => format!("{} notin ({values})", expression.key),
            "Exists" => expression.key.clone(),
            "DoesNotExist" => format!("!{}", expression.key),
            other => format!("{} {other} ({values})", expression.key),
        });
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

#[allow(clippy::too_many_arguments)]
fn entry(
    kind: Kind,
    configuration: &str,
    (index, webhook): (usize, &str),
    failure_policy: Option<&str>,
    client: &WebhookClientConfig,
    namespace_selector: Option<&LabelSelector>,
    timeout_seconds: Option<i32>,
) -> WebhookEntry {
    WebhookEntry {
        configuration: ObjRef::cluster(kind, configuration),
        webhook: webhook.to_owned(),
        index,
        failure_policy: failure_policy.unwrap_or("Fail").to_owned(),
        service: service_of(client),
        url: client.url.clone(),
        namespace_selector: selector_text(namespace_selector),
        timeout_seconds,
    }
}

/// Every webhook named `name` in the stored configurations, validating ones first,
/// each kind in name order.
pub fn webhooks_named(store: &Store, name: &str) -> Vec<WebhookEntry> {
    let mut out = Vec::new();
    for config in store.all::<ValidatingWebhookConfiguration>() {
        let Some(config_name) = config.metadata.name.as_deref() else {
            continue;
        };
        for (index, hook) in config.webhooks.iter().flatten().enumerate() {
            if hook.name != name {
                continue;
            }
            out.push(entry(
                Kind::ValidatingWebhookConfiguration,
                config_name,
                (index, &hook.name),
                hook.failure_policy.as_deref(),
                &hook.client_config,
                hook.namespace_selector.as_ref(),
                hook.timeout_seconds,
            ));
        }
    }
    for config in store.all::<MutatingWebhookConfiguration>() {
        let Some(config_name) = config.metadata.name.as_deref() else {
            continue;
        };
        for (index, hook) in config.webhooks.iter().flatten().enumerate() {
            if hook.name != name {
                continue;
            }
            out.push(entry(
                Kind::MutatingWebhookConfiguration,
                config_name,
                (index, &hook.name),
                hook.failure_policy.as_deref(),
                &hook.client_config,
                hook.namespace_selector.as_ref(),
                hook.timeout_seconds,
            ));
        }
    }
    out
}

/// The webhooks named by the creation failures of a controller (its FailedCreate
/// Warning events and, for a ReplicaSet, its ReplicaFailure condition), by name; a
/// webhook that could not be called wins over a denial of the same name.
pub fn refusing_webhooks(store: &Store, controller: &ObjRef) -> BTreeMap<String, NamedWebhook> {
    let mut messages: Vec<String> = store
        .events_for(controller)
        .into_iter()
        .filter(|e| e.is_warning() && e.reason == "FailedCreate")
        .map(|e| e.message.clone())
        .collect();
    if let Some(rs) = store.get_ref::<k8s_openapi::api::apps::v1::ReplicaSet>(controller) {
        messages.extend(
            rs.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
                .filter(|c| {
                    c.type_.as_deref() == Some("ReplicaFailure")
                        && c.status.as_deref() == Some("True")
                })
                .filter_map(|c| c.message.clone()),
        );
    }
    let mut out: BTreeMap<String, NamedWebhook> = BTreeMap::new();
    for named in messages.iter().filter_map(|m| named_webhook(m)) {
        match out.get(&named.name) {
            Some(seen) if !seen.denied || named.denied => {}
            _ => {
                out.insert(named.name.clone(), named);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::store_from_str;

    const CONFIGS: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: policy-validator}
webhooks:
- name: validate.example.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {namespace: policy, name: webhook-svc, path: /validate}
  namespaceSelector:
    matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [kube-system, policy]}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: defaults}
webhooks:
- name: validate.example.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Ignore
  clientConfig: {url: "https://hooks.example.invalid/mutate"}
"#;

    #[test]
    fn a_webhook_name_is_found_in_both_kinds_with_its_policy_and_backend() {
        let store = store_from_str(CONFIGS).unwrap();
        let found = webhooks_named(&store, "validate.example.io");
        assert_eq!(found.len(), 2);
        let validating = &found[0];
        assert_eq!(
            validating.configuration,
            ObjRef::cluster(Kind::ValidatingWebhookConfiguration, "policy-validator")
        );
        assert_eq!(validating.failure_policy, "Fail", "the v1 default");
        assert!(validating.fails_closed());
        assert_eq!(
            validating.service.as_ref().map(WebhookService::describe),
            Some("policy/webhook-svc:443/validate".to_owned())
        );
        assert_eq!(
            validating.namespace_selector.as_deref(),
            Some("kubernetes.io/metadata.name notin (kube-system,policy)")
        );
        let mutating = &found[1];
        assert!(!mutating.fails_closed());
        assert_eq!(mutating.service, None);
        assert_eq!(
            mutating.url.as_deref(),
            Some("https://hooks.example.invalid/mutate")
        );
        assert!(webhooks_named(&store, "other.example.io").is_empty());
    }

    #[test]
    fn refusals_name_their_webhook() {
        let refused = r#"Error creating: Internal error occurred: failed calling webhook "validate.example.io": failed to call webhook: Post "https://webhook-svc.policy.svc:443/validate?timeout=10s": dial tcp 10.96.1.2:443: connect: connection refused"#;
        let named = named_webhook(refused).unwrap();
        assert_eq!(named.name, "validate.example.io");
        assert!(!named.denied);
        assert_eq!(
            service_in_message(&named.detail),
            Some(("webhook-svc".into(), "policy".into()))
        );
        let denied = r#"admission webhook "validate.example.io" denied the request: image must come from the internal registry"#;
        let named = named_webhook(denied).unwrap();
        assert!(named.denied);
        assert_eq!(named.detail, "image must come from the internal registry");
        assert_eq!(named_webhook("exceeded quota: compute"), None);
    }
}
