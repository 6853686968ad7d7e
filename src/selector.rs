//! Label selectors: Service selectors (a plain map) and `metav1.LabelSelector`
//! (matchLabels + matchExpressions), with Kubernetes' exact semantics.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
    /// An operator Kubernetes does not know: the selector matches nothing.
    Invalid(String),
}

/// A parsed label selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    reqs: Vec<Requirement>,
    /// `true` for a selector that selects nothing (a Service without selector, a nil LabelSelector).
    nothing: bool,
}

impl Selector {
    /// A Service-style selector: every pair must match. An empty map selects nothing
    /// (a Service without a selector does not select Pods).
    pub fn from_map<K: AsRef<str>, V: AsRef<str>>(m: impl IntoIterator<Item = (K, V)>) -> Selector {
        let reqs: Vec<Requirement> = m
            .into_iter()
            .map(|(k, v)| Requirement::Equals(k.as_ref().to_owned(), v.as_ref().to_owned()))
            .collect();
        let nothing = reqs.is_empty();
        Selector { reqs, nothing }
    }

    /// A Service's `spec.selector`.
    pub fn from_service_selector(labels: Option<&BTreeMap<String, String>>) -> Selector {
        match labels {
            Some(labels) => Selector::from_map(labels.iter()),
            None => Selector::nothing(),
        }
    }

    /// A `metav1.LabelSelector`: `{}` selects everything, `None` selects nothing.
    pub fn from_label_selector(ls: Option<&LabelSelector>) -> Selector {
        let Some(ls) = ls else {
            return Selector::nothing();
        };
        let mut reqs = Vec::new();
        for (key, value) in ls.match_labels.iter().flatten() {
            reqs.push(Requirement::Equals(key.clone(), value.clone()));
        }
        for expression in ls.match_expressions.iter().flatten() {
            let vals = expression.values.clone().unwrap_or_default();
            reqs.push(match expression.operator.as_str() {
                "In" => Requirement::In(expression.key.clone(), vals),
                "NotIn" => Requirement::NotIn(expression.key.clone(), vals),
                "Exists" => Requirement::Exists(expression.key.clone()),
                "DoesNotExist" => Requirement::DoesNotExist(expression.key.clone()),
                other => Requirement::Invalid(format!("{} {}", expression.key, other)),
            });
        }
        Selector {
            reqs,
            nothing: false,
        }
    }

    /// `{}`: selects everything.
    pub fn everything() -> Selector {
        Selector {
            reqs: Vec::new(),
            nothing: false,
        }
    }

    pub fn nothing() -> Selector {
        Selector {
            reqs: Vec::new(),
            nothing: true,
        }
    }

    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    pub fn is_everything(&self) -> bool {
        !self.nothing && self.reqs.is_empty()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.reqs
    }

    /// The `key=value` requirements (usable with a label index).
    pub fn equalities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.reqs.iter().filter_map(|r| match r {
            Requirement::Equals(k, v) => Some((k.as_str(), v.as_str())),
            Requirement::In(k, vs) if vs.len() == 1 => Some((k.as_str(), vs[0].as_str())),
            _ => None,
        })
    }

    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        if self.nothing {
            return false;
        }
        self.reqs.iter().all(|r| requirement_matches(r, labels))
    }

    /// The requirements a label set fails, for "nearest miss" evidence.
    pub fn unmet<'a>(&'a self, labels: Option<&BTreeMap<String, String>>) -> Vec<&'a Requirement> {
        self.reqs
            .iter()
            .filter(|r| !requirement_matches(r, labels))
            .collect()
    }
}

fn requirement_matches(
    requirement: &Requirement,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k));
    match requirement {
        Requirement::Equals(k, v) => get(k) == Some(v),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.contains(x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(x)),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::DoesNotExist(k) => get(k).is_none(),
        Requirement::Invalid(_) => false,
    }
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Requirement::Equals(k, v) => write!(f, "{k}={v}"),
            Requirement::In(k, vs) => write!(f, "{k} in ({})", vs.join(",")),
            Requirement::NotIn(k, vs) => write!(f, "{k} notin ({})", vs.join(",")),
            Requirement::Exists(k) => write!(f, "{k}"),
            Requirement::DoesNotExist(k) => write!(f, "!{k}"),
            Requirement::Invalid(s) => write!(f, "invalid({s})"),
        }
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.nothing {
            return f.write_str("<none>");
        }
        if self.reqs.is_empty() {
            return f.write_str("<everything>");
        }
        let parts: Vec<String> = self.reqs.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn service_selector_semantics() {
        let selector = Selector::from_map([("app", "payments"), ("tier", "api")]);
        assert!(selector.matches(Some(&labels(&[
            ("app", "payments"),
            ("tier", "api"),
            ("x", "y")
        ]))));
        let near_miss = labels(&[("app", "payment"), ("tier", "api")]);
        assert!(!selector.matches(Some(&near_miss)));
        assert_eq!(selector.unmet(Some(&near_miss)).len(), 1);
        assert!(Selector::from_service_selector(None).matches_nothing());
        assert!(!Selector::from_map(Vec::<(&str, &str)>::new()).matches(Some(&near_miss)));
    }

    #[test]
    fn label_selector_expressions() {
        let ls = LabelSelector {
            match_labels: Some([("app".to_string(), "web".to_string())].into()),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "env".into(),
                    operator: "In".into(),
                    values: Some(vec!["prod".into(), "stage".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        let selector = Selector::from_label_selector(Some(&ls));
        assert!(selector.matches(Some(&labels(&[("app", "web"), ("env", "prod")]))));
        assert!(!selector.matches(Some(&labels(&[("app", "web"), ("env", "dev")]))));
        assert!(!selector.matches(Some(&labels(&[
            ("app", "web"),
            ("env", "prod"),
            ("canary", "1")
        ]))));
        assert!(Selector::from_label_selector(Some(&LabelSelector::default())).is_everything());
        assert!(Selector::from_label_selector(None).matches_nothing());
        assert_eq!(selector.to_string(), "app=web,env in (prod,stage),!canary");
    }
}
