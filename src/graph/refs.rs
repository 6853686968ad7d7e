//! What a Pod spec refers to: ConfigMaps, Secrets, PVCs, the ServiceAccount.

use std::fmt;

use k8s_openapi::api::core::v1::{Container, PodSpec};

use crate::model::Kind;

/// One reference from a Pod spec to another object, borrowed from the spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodReference<'a> {
    pub kind: Kind,
    pub name: &'a str,
    /// A single key of a ConfigMap/Secret (env `valueFrom`, or an `items` entry of a volume).
    pub key: Option<&'a str>,
    /// `optional: true` on the reference: its absence does not stop the Pod.
    pub optional: bool,
    /// Where the reference is; displayed as `env DB_URL of container app`, `volume config`, ...
    pub via: Via<'a>,
    /// The container the reference belongs to (None for volumes and pull secrets).
    pub container: Option<&'a str>,
}

/// Where in a Pod spec a reference is. Rendered only when shown (an edge's detail,
/// a finding's evidence), so that walking a Pod's references allocates nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via<'a> {
    EnvFrom {
        container: &'a str,
    },
    Env {
        var: &'a str,
        container: &'a str,
    },
    Volume {
        volume: &'a str,
        projected: bool,
        item: Option<&'a str>,
    },
    ImagePullSecrets,
    ServiceAccountName,
}

impl fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::EnvFrom { container } => write!(f, "envFrom of container {container}"),
            Via::Env { var, container } => write!(f, "env {var} of container {container}"),
            Via::Volume {
                volume,
                projected,
                item,
            } => {
                if *projected {
                    f.write_str("projected ")?;
                }
                write!(f, "volume {volume}")?;
                if let Some(key) = item {
                    write!(f, " item {key}")?;
                }
                Ok(())
            }
            Via::ImagePullSecrets => f.write_str("imagePullSecrets"),
            Via::ServiceAccountName => f.write_str("serviceAccountName"),
        }
    }
}

/// All references of a Pod spec, in spec order.
pub fn pod_references(spec: &PodSpec) -> Vec<PodReference<'_>> {
    let mut out = Vec::new();
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for container in containers {
        container_references(container, &mut out);
    }
    for volume in spec.volumes.iter().flatten() {
        if let Some(cm) = &volume.config_map {
            push_volume_items(
                &mut out,
                Kind::ConfigMap,
                &cm.name,
                cm.optional,
                cm.items.iter().flatten().map(|i| i.key.as_str()),
                &volume.name,
                false,
            );
        }
        if let Some(secret) = &volume.secret
            && let Some(name) = &secret.secret_name
        {
            push_volume_items(
                &mut out,
                Kind::Secret,
                name,
                secret.optional,
                secret.items.iter().flatten().map(|i| i.key.as_str()),
                &volume.name,
                false,
            );
        }
        if let Some(projected) = &volume.projected {
            for src in projected.sources.iter().flatten() {
                if let Some(cm) = &src.config_map {
                    push_volume_items(
                        &mut out,
                        Kind::ConfigMap,
                        &cm.name,
                        cm.optional,
                        cm.items.iter().flatten().map(|i| i.key.as_str()),
                        &volume.name,
                        true,
                    );
                }
                if let Some(secret) = &src.secret {
                    push_volume_items(
                        &mut out,
                        Kind::Secret,
                        &secret.name,
                        secret.optional,
                        secret.items.iter().flatten().map(|i| i.key.as_str()),
                        &volume.name,
                        true,
                    );
                }
            }
        }
        if let Some(claim) = &volume.persistent_volume_claim {
            out.push(PodReference {
                kind: Kind::PersistentVolumeClaim,
                name: &claim.claim_name,
                key: None,
                optional: false,
                via: Via::Volume {
                    volume: &volume.name,
                    projected: false,
                    item: None,
                },
                container: None,
            });
        }
    }
    for secret in spec.image_pull_secrets.iter().flatten() {
        if !secret.name.is_empty() {
            out.push(PodReference {
                kind: Kind::Secret,
                name: &secret.name,
                key: None,
                // a missing pull secret does not stop the Pod by itself: the pull fails
                // only if the registry needs it.
                optional: true,
                via: Via::ImagePullSecrets,
                container: None,
            });
        }
    }
    let sa = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("default");
    out.push(PodReference {
        kind: Kind::ServiceAccount,
        name: sa,
        key: None,
        optional: false,
        via: Via::ServiceAccountName,
        container: None,
    });
    out
}

fn push_volume_items<'a>(
    out: &mut Vec<PodReference<'a>>,
    kind: Kind,
    name: &'a str,
    optional: Option<bool>,
    keys: impl Iterator<Item = &'a str>,
    volume: &'a str,
    projected: bool,
) {
    if name.is_empty() {
        return;
    }
    let optional = optional.unwrap_or(false);
    out.push(PodReference {
        kind,
        name,
        key: None,
        optional,
        via: Via::Volume {
            volume,
            projected,
            item: None,
        },
        container: None,
    });
    for key in keys {
        out.push(PodReference {
            kind,
            name,
            key: Some(key),
            optional,
            via: Via::Volume {
                volume,
                projected,
                item: Some(key),
            },
            container: None,
        });
    }
}

fn container_references<'a>(container_spec: &'a Container, out: &mut Vec<PodReference<'a>>) {
    let container = container_spec.name.as_str();
    for ef in container_spec.env_from.iter().flatten() {
        if let Some(cm) = &ef.config_map_ref {
            out.push(PodReference {
                kind: Kind::ConfigMap,
                name: &cm.name,
                key: None,
                optional: cm.optional.unwrap_or(false),
                via: Via::EnvFrom { container },
                container: Some(container),
            });
        }
        if let Some(secret) = &ef.secret_ref {
            out.push(PodReference {
                kind: Kind::Secret,
                name: &secret.name,
                key: None,
                optional: secret.optional.unwrap_or(false),
                via: Via::EnvFrom { container },
                container: Some(container),
            });
        }
    }
    for env in container_spec.env.iter().flatten() {
        let Some(vf) = &env.value_from else { continue };
        let via = Via::Env {
            var: &env.name,
            container,
        };
        // A key reference needs its object first: the object's edge, then the key.
        for (kind, name, optional) in [
            vf.config_map_key_ref
                .as_ref()
                .map(|k| (Kind::ConfigMap, &k.name, k.optional)),
            vf.secret_key_ref
                .as_ref()
                .map(|k| (Kind::Secret, &k.name, k.optional)),
        ]
        .into_iter()
        .flatten()
        {
            if !name.is_empty() {
                out.push(PodReference {
                    kind,
                    name,
                    key: None,
                    optional: optional.unwrap_or(false),
                    via,
                    container: Some(container),
                });
            }
        }
        if let Some(key_ref) = &vf.config_map_key_ref {
            out.push(PodReference {
                kind: Kind::ConfigMap,
                name: &key_ref.name,
                key: Some(&key_ref.key),
                optional: key_ref.optional.unwrap_or(false),
                via,
                container: Some(container),
            });
        }
        if let Some(key_ref) = &vf.secret_key_ref {
            out.push(PodReference {
                kind: Kind::Secret,
                name: &key_ref.name,
                key: Some(&key_ref.key),
                optional: key_ref.optional.unwrap_or(false),
                via,
                container: Some(container),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_place_a_reference_can_be_is_named_as_before() {
        let spec: PodSpec = serde_json::from_value(serde_json::json!({
            "serviceAccountName": "api",
            "imagePullSecrets": [{"name": "regcred"}],
            "containers": [{
                "name": "app",
                "envFrom": [{"configMapRef": {"name": "env"}}],
                "env": [{"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]
            }],
            "volumes": [
                {"name": "config", "configMap": {"name": "cfg", "items": [{"key": "a.yaml", "path": "a"}]}},
                {"name": "all", "projected": {"sources": [{"secret": {"name": "tls"}}]}},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}}
            ]
        }))
        .unwrap();
        let shown: Vec<String> = pod_references(&spec)
            .iter()
            .map(|r| format!("{} {} {:?} {}", r.kind.name(), r.name, r.key, r.via))
            .collect();
        assert_eq!(
            shown,
            [
                "ConfigMap env None envFrom of container app",
                "Secret db None env DB_URL of container app",
                "Secret db Some(\"url\") env DB_URL of container app",
                "ConfigMap cfg None volume config",
                "ConfigMap cfg Some(\"a.yaml\") volume config item a.yaml",
                "Secret tls None projected volume all",
                "PersistentVolumeClaim data None volume data",
                "Secret regcred None imagePullSecrets",
                "ServiceAccount api None serviceAccountName",
            ]
        );
    }
}
