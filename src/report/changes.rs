//! "What changed", as the table and Markdown renderers show it: each change of
//! `status.changes` in one headline (when, what, which revision) with the findings
//! it introduced named by rule.

use crate::api::{Change, Finding};
use crate::report::object_text;

/// How a renderer shows one change.
#[derive(Debug)]
pub struct ChangeView<'a> {
    /// When it happened, `-` when unknown.
    pub time: &'a str,
    /// `ReplicaSet shop/storefront-7d4b9c8f5 (revision 7, compared with 6)`.
    pub object: String,
    /// The one-line summary.
    pub summary: &'a str,
    /// The findings it introduced, as `RuleId on Kind ns/name`.
    pub introduced: Vec<String>,
    /// The changed fields as `path: from -> to`.
    pub fields: Vec<String>,
}

/// The view of a change; `findings` are the report's findings (for their rules).
pub fn view<'a>(change: &'a Change, findings: &[Finding]) -> ChangeView<'a> {
    let mut object = object_text(&change.object);
    match (change.revision, change.previous_revision) {
        (Some(revision), Some(previous)) => {
            object.push_str(&format!(" (revision {revision}, compared with {previous})"))
        }
        (Some(revision), None) => object.push_str(&format!(" (revision {revision})")),
        _ => {}
    }
    let introduced = change
        .findings
        .iter()
        .map(
            |id| match findings.iter().find(|finding| &finding.id == id) {
                Some(finding) => format!("{} on {}", finding.rule_id, object_text(&finding.object)),
                None => id.clone(),
            },
        )
        .collect();
    let fields = change
        .fields
        .iter()
        .map(|field| {
            format!(
                "{}: {} -> {}",
                field.path,
                field.from.as_deref().unwrap_or("(unset)"),
                field.to.as_deref().unwrap_or("(unset)")
            )
        })
        .collect();
    ChangeView {
        time: if change.time.is_empty() {
            "-"
        } else {
            change.time.as_str()
        },
        object,
        summary: &change.summary,
        introduced,
        fields,
    }
}
