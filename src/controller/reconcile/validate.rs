//! Stage 1, validate: the target, after the tenancy check, and the checks of the
//! spec that its schema cannot express. A spec that fails them is refused: the
//! Diagnosis gets phase Error with the refusal's reason and message, and nothing is
//! diagnosed.

use std::collections::BTreeSet;

use kube::ResourceExt;

use crate::api::{Diagnosis, TargetKind};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;

use super::Settings;

/// Why the controller refuses a spec. Its message is the status's; [`Refusal::reason`]
/// is the reason of its conditions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// A Diagnosis outside the admin namespaces targets a Node or a Namespace.
    #[error(
        "a Diagnosis in namespace {own} may not target a {kind}: only Diagnoses in {} may",
        .admin_namespaces.join(", ")
    )]
    ClusterScopedTarget {
        /// The Diagnosis's namespace.
        own: String,
        /// The kind of its target.
        kind: &'static str,
        /// The namespaces whose Diagnoses may.
        admin_namespaces: Vec<String>,
    },
    /// A Diagnosis outside the admin namespaces targets an object of another namespace.
    #[error(
        "a Diagnosis in namespace {own} may target only objects in {own}, not in {target}; \
         create it in {target}, or in an admin namespace ({})",
        .admin_namespaces.join(", ")
    )]
    OtherNamespaceTarget {
        /// The Diagnosis's namespace.
        own: String,
        /// The namespace of its target.
        target: String,
        /// The namespaces whose Diagnoses may.
        admin_namespaces: Vec<String>,
    },
    /// The target is in a namespace the controller does not watch (`--watch-namespaces`).
    #[error(
        "the target's namespace {namespace} is not watched by this controller: it watches only {}",
        .watched.join(", ")
    )]
    NamespaceNotWatched {
        /// The target's namespace (a Namespace target's name).
        namespace: String,
        /// The namespaces the controller watches.
        watched: Vec<String>,
    },
    /// `spec.target.name` is blank.
    #[error("spec.target.name is empty")]
    EmptyTargetName,
    /// `spec.expectedImages` names a container more than once.
    #[error(
        "spec.expectedImages names container(s) more than once: {}",
        .containers.join(", ")
    )]
    DuplicateExpectedImages {
        /// The containers named more than once, sorted.
        containers: Vec<String>,
    },
    /// `spec.logs.tailLines` is out of its range.
    #[error("spec.logs.tailLines is {tail_lines}: it must be within 1..1000")]
    TailLinesOutOfRange {
        /// The value of the spec.
        tail_lines: i64,
    },
    /// `spec.ruleSets` is an empty list.
    #[error("spec.ruleSets is empty: no rule would run (omit it for every rule set)")]
    NoRuleSets,
    /// `spec.suppress` names rule ids the catalog does not have.
    #[error(
        "spec.suppress names unknown rule ids: {} (see `kubedx rules`)",
        .rule_ids.join(", ")
    )]
    UnknownSuppressedRules {
        /// The unknown ids, in the order of the spec.
        rule_ids: Vec<String>,
    },
}

impl Refusal {
    /// The reason of the refused Diagnosis's conditions.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Refusal::ClusterScopedTarget { .. } | Refusal::OtherNamespaceTarget { .. } => {
                "CrossNamespaceTargetDenied"
            }
            Refusal::NamespaceNotWatched { .. } => "NamespaceNotWatched",
            Refusal::EmptyTargetName
            | Refusal::DuplicateExpectedImages { .. }
            | Refusal::TailLinesOutOfRange { .. }
            | Refusal::NoRuleSets
            | Refusal::UnknownSuppressedRules { .. } => "InvalidSpec",
        }
    }
}

/// The target of `diagnosis` as an [`ObjRef`], after the tenancy check — a Diagnosis
/// may target only objects of its own namespace, unless it lives in one of the
/// admin namespaces of `settings` — and the checks of the spec.
pub(crate) fn validate(diagnosis: &Diagnosis, settings: &Settings) -> Result<ObjRef, Refusal> {
    let target = tenant_target(diagnosis, settings)?;
    watched_target(&target, settings)?;
    let spec = &diagnosis.spec;
    if spec.target.name.trim().is_empty() {
        return Err(Refusal::EmptyTargetName);
    }
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&str> = spec
        .expected_images
        .iter()
        .flatten()
        .filter(|expected| !seen.insert(expected.container.as_str()))
        .map(|expected| expected.container.as_str())
        .collect();
    if !duplicates.is_empty() {
        return Err(Refusal::DuplicateExpectedImages {
            containers: duplicates.into_iter().map(str::to_owned).collect(),
        });
    }
    if let Some(tail_lines) = spec.logs.as_ref().and_then(|logs| logs.tail_lines)
        && !(1..=1000).contains(&tail_lines)
    {
        return Err(Refusal::TailLinesOutOfRange { tail_lines });
    }
    if spec.rule_sets.as_ref().is_some_and(Vec::is_empty) {
        return Err(Refusal::NoRuleSets);
    }
    let unknown: Vec<String> = spec
        .suppress
        .iter()
        .flatten()
        .filter(|rule_id| rule_id.parse::<RuleId>().is_err())
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Refusal::UnknownSuppressedRules { rule_ids: unknown });
    }
    Ok(target)
}

/// Refuses a target outside the watched namespaces: its namespace's objects are not
/// in the cache, and diagnosing them would report everything unknown. A Node target
/// is diagnosed with the Pods of the watched namespaces.
fn watched_target(target: &ObjRef, settings: &Settings) -> Result<(), Refusal> {
    let Some(watched) = &settings.watched_namespaces else {
        return Ok(());
    };
    let namespace = match target.kind {
        Kind::Node => return Ok(()),
        Kind::Namespace => target.name.as_str(),
        _ => target.ns(),
    };
    if watched.contains(namespace) {
        return Ok(());
    }
    Err(Refusal::NamespaceNotWatched {
        namespace: namespace.to_owned(),
        watched: watched.iter().cloned().collect(),
    })
}

/// The target, if the Diagnosis's namespace may target it.
fn tenant_target(diagnosis: &Diagnosis, settings: &Settings) -> Result<ObjRef, Refusal> {
    let own = diagnosis.namespace().unwrap_or_default();
    let target = &diagnosis.spec.target;
    let admin = settings.admin_namespaces.contains(&own);
    let admin_namespaces = || settings.admin_namespaces.iter().cloned().collect();
    let kind = Kind::from_target(target.kind);
    match target.kind {
        TargetKind::Node | TargetKind::Namespace => {
            if !admin {
                return Err(Refusal::ClusterScopedTarget {
                    own,
                    kind: kind.name(),
                    admin_namespaces: admin_namespaces(),
                });
            }
            Ok(ObjRef::cluster(kind, &target.name))
        }
        _ => {
            let target_namespace = target.namespace.clone().unwrap_or_else(|| own.clone());
            if target_namespace != own && !admin {
                return Err(Refusal::OtherNamespaceTarget {
                    own,
                    target: target_namespace,
                    admin_namespaces: admin_namespaces(),
                });
            }
            Ok(ObjRef::namespaced(kind, &target_namespace, &target.name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DiagnosisSpec, TargetRef};

    fn diagnosis(namespace: &str, kind: TargetKind, target_namespace: Option<&str>) -> Diagnosis {
        let mut diagnosis = Diagnosis::new(
            "d",
            DiagnosisSpec {
                target: TargetRef {
                    kind,
                    name: "web".into(),
                    namespace: target_namespace.map(str::to_owned),
                },
                rule_sets: None,
                mode: None,
                min_severity: None,
                suppress: None,
                expected_images: None,
                logs: None,
                events_on_target: None,
            },
        );
        diagnosis.metadata.namespace = Some(namespace.into());
        diagnosis
    }

    fn settings() -> Settings {
        Settings {
            admin_namespaces: ["kubedx-system".to_owned()].into(),
            logs_allowed: false,
            watched_namespaces: None,
        }
    }

    #[test]
    fn targets_outside_the_watched_namespaces_are_refused() {
        let settings = Settings {
            watched_namespaces: Some(["shop".to_owned(), "kubedx-system".to_owned()].into()),
            ..settings()
        };
        assert!(validate(&diagnosis("shop", TargetKind::Deployment, None), &settings).is_ok());
        let refusal = validate(
            &diagnosis("kubedx-system", TargetKind::Deployment, Some("bank")),
            &settings,
        )
        .unwrap_err();
        assert_eq!(refusal.reason(), "NamespaceNotWatched");
        assert_eq!(
            refusal.to_string(),
            "the target's namespace bank is not watched by this controller: it watches only kubedx-system, shop"
        );
        let mut namespace = diagnosis("kubedx-system", TargetKind::Namespace, None);
        namespace.spec.target.name = "bank".into();
        assert_eq!(
            validate(&namespace, &settings).unwrap_err().reason(),
            "NamespaceNotWatched"
        );
        namespace.spec.target.name = "shop".into();
        assert!(validate(&namespace, &settings).is_ok());
        // a Node is diagnosed with the Pods of the watched namespaces
        assert!(
            validate(
                &diagnosis("kubedx-system", TargetKind::Node, None),
                &settings
            )
            .is_ok()
        );
        // a Diagnosis in an unwatched namespace targets its own: refused
        assert_eq!(
            validate(&diagnosis("bank", TargetKind::Deployment, None), &settings)
                .unwrap_err()
                .reason(),
            "NamespaceNotWatched"
        );
    }

    #[test]
    fn tenancy() {
        let settings = settings();
        assert_eq!(
            validate(&diagnosis("shop", TargetKind::Deployment, None), &settings).unwrap(),
            ObjRef::namespaced(Kind::Deployment, "shop", "web")
        );
        let refusal = validate(
            &diagnosis("shop", TargetKind::Deployment, Some("bank")),
            &settings,
        )
        .unwrap_err();
        assert_eq!(refusal.reason(), "CrossNamespaceTargetDenied");
        assert_eq!(
            refusal.to_string(),
            "a Diagnosis in namespace shop may target only objects in shop, not in bank; \
             create it in bank, or in an admin namespace (kubedx-system)"
        );
        let refusal = validate(&diagnosis("shop", TargetKind::Node, None), &settings).unwrap_err();
        assert_eq!(refusal.reason(), "CrossNamespaceTargetDenied");
        assert_eq!(
            refusal.to_string(),
            "a Diagnosis in namespace shop may not target a Node: only Diagnoses in kubedx-system may"
        );
        assert!(
            validate(
                &diagnosis("kubedx-system", TargetKind::Deployment, Some("bank")),
                &settings
            )
            .is_ok()
        );
        assert_eq!(
            validate(
                &diagnosis("kubedx-system", TargetKind::Node, Some("ignored")),
                &settings
            )
            .unwrap(),
            ObjRef::cluster(Kind::Node, "web")
        );
        let mut bad = diagnosis("shop", TargetKind::Deployment, None);
        bad.spec.suppress = Some(vec!["NoSuchRule".into()]);
        assert_eq!(
            validate(&bad, &settings).unwrap_err().reason(),
            "InvalidSpec"
        );
    }

    #[test]
    fn invalid_specs_the_schema_cannot_refuse() {
        let settings = settings();
        let digest = format!("sha256:{}", "a".repeat(64));
        let mut twice = diagnosis("shop", TargetKind::Deployment, None);
        twice.spec.expected_images = Some(vec![
            crate::api::ExpectedImage {
                container: "app".into(),
                digest: digest.clone(),
            },
            crate::api::ExpectedImage {
                container: "app".into(),
                digest,
            },
        ]);
        let refusal = validate(&twice, &settings).unwrap_err();
        assert_eq!(refusal.reason(), "InvalidSpec");
        assert_eq!(
            refusal.to_string(),
            "spec.expectedImages names container(s) more than once: app"
        );
        let mut no_lines = diagnosis("shop", TargetKind::Deployment, None);
        no_lines.spec.logs = Some(crate::api::LogsSpec {
            enabled: true,
            tail_lines: Some(0),
        });
        let refusal = validate(&no_lines, &settings).unwrap_err();
        assert_eq!(refusal.reason(), "InvalidSpec");
        assert_eq!(
            refusal.to_string(),
            "spec.logs.tailLines is 0: it must be within 1..1000"
        );
        let mut no_sets = diagnosis("shop", TargetKind::Deployment, None);
        no_sets.spec.rule_sets = Some(vec![]);
        assert_eq!(
            validate(&no_sets, &settings).unwrap_err().reason(),
            "InvalidSpec"
        );
        let mut blank = diagnosis("shop", TargetKind::Deployment, None);
        blank.spec.target.name = " ".into();
        assert_eq!(
            validate(&blank, &settings).unwrap_err(),
            Refusal::EmptyTargetName
        );
        let mut unknown = diagnosis("shop", TargetKind::Deployment, None);
        unknown.spec.suppress = Some(vec!["NoSuchRule".into(), "NorThis".into()]);
        assert_eq!(
            validate(&unknown, &settings).unwrap_err().to_string(),
            "spec.suppress names unknown rule ids: NoSuchRule, NorThis (see `kubedx rules`)"
        );
    }
}
