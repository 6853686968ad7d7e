//! What a Pod spec refers to: ConfigMaps, Secrets, PVCs, the ServiceAccount.

use k8s_openapi::api::core::v1::{Container, PodSpec};

use crate::model::Kind;

/// One reference from a Pod spec to another object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodReference {
    pub kind: Kind,
    pub name: String,
    /// A single key of a ConfigMap/Secret (env `valueFrom`, or an `items` entry of a volume).
    pub key: Option<String>,
    /// `optional: true` on the reference: its absence does not stop the Pod.
    pub optional: bool,
    /// Where the reference is, e.g. `env DB_URL of container app`, `volume config`.
    pub via: String,
    /// The container the reference belongs to (None for volumes and pull secrets).
    pub container: Option<String>,
}

/// All references of a Pod spec, in spec order.
pub fn pod_references(spec: &PodSpec) -> Vec<PodReference> {
    let mut out = Vec::new();
    let containers = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter());
    for c in containers {
        container_references(c, &mut out);
    }
    for v in spec.volumes.iter().flatten() {
        let via = format!("volume {}", v.name);
        if let Some(cm) = &v.config_map {
            push_volume_items(
                &mut out,
                Kind::ConfigMap,
                &cm.name,
                cm.optional,
                cm.items.iter().flatten().map(|i| i.key.as_str()),
                &via,
            );
        }
        if let Some(s) = &v.secret
            && let Some(name) = &s.secret_name
        {
            push_volume_items(
                &mut out,
                Kind::Secret,
                name,
                s.optional,
                s.items.iter().flatten().map(|i| i.key.as_str()),
                &via,
            );
        }
        if let Some(p) = &v.projected {
            for src in p.sources.iter().flatten() {
                if let Some(cm) = &src.config_map {
                    push_volume_items(
                        &mut out,
                        Kind::ConfigMap,
                        &cm.name,
                        cm.optional,
                        cm.items.iter().flatten().map(|i| i.key.as_str()),
                        &format!("projected {via}"),
                    );
                }
                if let Some(s) = &src.secret {
                    push_volume_items(
                        &mut out,
                        Kind::Secret,
                        &s.name,
                        s.optional,
                        s.items.iter().flatten().map(|i| i.key.as_str()),
                        &format!("projected {via}"),
                    );
                }
            }
        }
        if let Some(c) = &v.persistent_volume_claim {
            out.push(PodReference {
                kind: Kind::PersistentVolumeClaim,
                name: c.claim_name.clone(),
                key: None,
                optional: false,
                via: via.clone(),
                container: None,
            });
        }
    }
    for s in spec.image_pull_secrets.iter().flatten() {
        if !s.name.is_empty() {
            out.push(PodReference {
                kind: Kind::Secret,
                name: s.name.clone(),
                key: None,
                // a missing pull secret does not stop the Pod by itself: the pull fails
                // only if the registry needs it.
                optional: true,
                via: "imagePullSecrets".to_owned(),
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
        name: sa.to_owned(),
        key: None,
        optional: false,
        via: "serviceAccountName".to_owned(),
        container: None,
    });
    out
}

fn push_volume_items<'a>(
    out: &mut Vec<PodReference>,
    kind: Kind,
    name: &str,
    optional: Option<bool>,
    keys: impl Iterator<Item = &'a str>,
    via: &str,
) {
    if name.is_empty() {
        return;
    }
    let optional = optional.unwrap_or(false);
    out.push(PodReference {
        kind,
        name: name.to_owned(),
        key: None,
        optional,
        via: via.to_owned(),
        container: None,
    });
    for k in keys {
        out.push(PodReference {
            kind,
            name: name.to_owned(),
            key: Some(k.to_owned()),
            optional,
            via: format!("{via} item {k}"),
            container: None,
        });
    }
}

fn container_references(c: &Container, out: &mut Vec<PodReference>) {
    for ef in c.env_from.iter().flatten() {
        if let Some(cm) = &ef.config_map_ref {
            out.push(PodReference {
                kind: Kind::ConfigMap,
                name: cm.name.clone(),
                key: None,
                optional: cm.optional.unwrap_or(false),
                via: format!("envFrom of container {}", c.name),
                container: Some(c.name.clone()),
            });
        }
        if let Some(s) = &ef.secret_ref {
            out.push(PodReference {
                kind: Kind::Secret,
                name: s.name.clone(),
                key: None,
                optional: s.optional.unwrap_or(false),
                via: format!("envFrom of container {}", c.name),
                container: Some(c.name.clone()),
            });
        }
    }
    for e in c.env.iter().flatten() {
        let Some(vf) = &e.value_from else { continue };
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
                    name: name.clone(),
                    key: None,
                    optional: optional.unwrap_or(false),
                    via: format!("env {} of container {}", e.name, c.name),
                    container: Some(c.name.clone()),
                });
            }
        }
        if let Some(k) = &vf.config_map_key_ref {
            out.push(PodReference {
                kind: Kind::ConfigMap,
                name: k.name.clone(),
                key: Some(k.key.clone()),
                optional: k.optional.unwrap_or(false),
                via: format!("env {} of container {}", e.name, c.name),
                container: Some(c.name.clone()),
            });
        }
        if let Some(k) = &vf.secret_key_ref {
            out.push(PodReference {
                kind: Kind::Secret,
                name: k.name.clone(),
                key: Some(k.key.clone()),
                optional: k.optional.unwrap_or(false),
                via: format!("env {} of container {}", e.name, c.name),
                container: Some(c.name.clone()),
            });
        }
    }
}
