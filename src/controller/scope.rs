//! What the controller watches: the whole cluster or a list of namespaces
//! (`--watch-namespaces`), and whether it reads Secrets (`--secrets`,
//! `--secret-namespaces`). Secret access is an install choice, off by default:
//! RBAC cannot restrict a grant to metadata, so whoever holds a token that may list
//! Secrets may read their values.

use std::collections::BTreeSet;

/// Whether, and where, the controller watches Secrets (as metadata only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SecretAccess {
    /// Never: references to Secrets are checked from the kubelet's evidence only.
    #[default]
    None,
    /// In the namespaces of `--secret-namespaces` only.
    Namespaces,
    /// In every watched namespace.
    Cluster,
}

/// Why the options of the scope are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// `--secrets namespaces` without `--secret-namespaces`.
    #[error("--secrets namespaces needs --secret-namespaces LIST")]
    NoSecretNamespaces,
    /// `--secret-namespaces` without `--secrets namespaces`.
    #[error("--secret-namespaces is only meaningful with --secrets namespaces")]
    SecretNamespacesWithoutMode,
    /// A namespace name that Kubernetes would refuse.
    #[error("{flag}: {name:?} is not a namespace name (lowercase RFC 1123 label)")]
    InvalidNamespace {
        /// The flag that named it.
        flag: &'static str,
        /// The name as given.
        name: String,
    },
}

/// The namespaces and Secrets the controller watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchScope {
    /// The watched namespaces; `None`: the whole cluster.
    pub namespaces: Option<BTreeSet<String>>,
    /// Whether Secrets are watched.
    pub secrets: SecretAccess,
    /// With [`SecretAccess::Namespaces`], where.
    pub secret_namespaces: BTreeSet<String>,
}

impl WatchScope {
    /// The scope of the flags: `--watch-namespaces` (empty: the whole cluster),
    /// `--secrets` and `--secret-namespaces`.
    pub fn new(
        watch_namespaces: &[String],
        secrets: SecretAccess,
        secret_namespaces: &[String],
    ) -> Result<WatchScope, ScopeError> {
        let watched = names("--watch-namespaces", watch_namespaces)?;
        let secret_namespaces = names("--secret-namespaces", secret_namespaces)?;
        match secrets {
            SecretAccess::Namespaces if secret_namespaces.is_empty() => {
                return Err(ScopeError::NoSecretNamespaces);
            }
            SecretAccess::None | SecretAccess::Cluster if !secret_namespaces.is_empty() => {
                return Err(ScopeError::SecretNamespacesWithoutMode);
            }
            _ => {}
        }
        Ok(WatchScope {
            namespaces: (!watched.is_empty()).then_some(watched),
            secrets,
            secret_namespaces,
        })
    }

    /// Whether objects of `namespace` are watched.
    pub fn watches(&self, namespace: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|watched| watched.contains(namespace))
    }

    /// Where namespaced kinds other than Secrets are watched: `[None]` for the whole
    /// cluster, else one `Some(namespace)` per watched namespace.
    pub fn namespaced_watches(&self) -> Vec<Option<String>> {
        match &self.namespaces {
            None => vec![None],
            Some(watched) => watched.iter().cloned().map(Some).collect(),
        }
    }

    /// Where Secrets are watched (none, the whole cluster, or namespaces), and the
    /// secret namespaces that are not watched at all (ignored).
    pub fn secret_watches(&self) -> (Vec<Option<String>>, Vec<String>) {
        match self.secrets {
            SecretAccess::None => (Vec::new(), Vec::new()),
            SecretAccess::Cluster => (self.namespaced_watches(), Vec::new()),
            SecretAccess::Namespaces => {
                let (watched, ignored): (Vec<&String>, Vec<&String>) = self
                    .secret_namespaces
                    .iter()
                    .partition(|namespace| self.watches(namespace));
                (
                    watched.into_iter().cloned().map(Some).collect(),
                    ignored.into_iter().cloned().collect(),
                )
            }
        }
    }

    /// Why Secrets are not read where they are not, for the findings that could not
    /// verify a reference (`None`: Secrets are read wherever objects are).
    pub fn secrets_unread_reason(&self) -> Option<String> {
        match self.secrets {
            SecretAccess::Cluster => None,
            SecretAccess::None => {
                Some("kubedx runs without Secret access (controller --secrets none)".to_owned())
            }
            SecretAccess::Namespaces => Some(format!(
                "kubedx reads Secrets only in {} (controller --secrets namespaces)",
                self.secret_namespaces
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// The trimmed, non-empty names of a list flag, each a valid namespace name.
fn names(flag: &'static str, values: &[String]) -> Result<BTreeSet<String>, ScopeError> {
    let mut out = BTreeSet::new();
    for value in values.iter().map(|value| value.trim()) {
        if value.is_empty() {
            continue;
        }
        let valid = value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if !valid {
            return Err(ScopeError::InvalidNamespace {
                flag,
                name: value.to_owned(),
            });
        }
        out.insert(value.to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn the_whole_cluster_without_secrets_by_default() {
        let scope = WatchScope::new(&[], SecretAccess::default(), &[]).unwrap();
        assert_eq!(scope.namespaces, None);
        assert!(scope.watches("anything"));
        assert_eq!(scope.namespaced_watches(), vec![None]);
        assert_eq!(scope.secret_watches(), (vec![], vec![]));
        assert!(
            scope
                .secrets_unread_reason()
                .unwrap()
                .contains("--secrets none")
        );
    }

    #[test]
    fn namespaces_and_secret_namespaces() {
        let scope = WatchScope::new(
            &list(&["shop", " bank ", ""]),
            SecretAccess::Namespaces,
            &list(&["bank", "elsewhere"]),
        )
        .unwrap();
        assert!(scope.watches("shop") && scope.watches("bank") && !scope.watches("other"));
        assert_eq!(
            scope.namespaced_watches(),
            vec![Some("bank".to_owned()), Some("shop".to_owned())]
        );
        assert_eq!(
            scope.secret_watches(),
            (vec![Some("bank".to_owned())], vec!["elsewhere".to_owned()])
        );
        let cluster = WatchScope::new(&list(&["shop"]), SecretAccess::Cluster, &[]).unwrap();
        assert_eq!(cluster.secret_watches().0, vec![Some("shop".to_owned())]);
        assert_eq!(cluster.secrets_unread_reason(), None);
    }

    #[test]
    fn bad_flags_are_refused() {
        assert_eq!(
            WatchScope::new(&[], SecretAccess::Namespaces, &[]).unwrap_err(),
            ScopeError::NoSecretNamespaces
        );
        assert_eq!(
            WatchScope::new(&[], SecretAccess::Cluster, &list(&["a"])).unwrap_err(),
            ScopeError::SecretNamespacesWithoutMode
        );
        assert_eq!(
            WatchScope::new(&list(&["Shop"]), SecretAccess::None, &[])
                .unwrap_err()
                .to_string(),
            "--watch-namespaces: \"Shop\" is not a namespace name (lowercase RFC 1123 label)"
        );
    }
}
