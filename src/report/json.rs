//! `-o json`: one `DiagnosisReport` object (docs/reference.md, "The JSON report"):
//! `{"apiVersion": "kubedx.io/v1alpha1", "kind": "DiagnosisReport", "target": {...}, "status": {...}}`
//! where `status` is exactly a Diagnosis' status.

use serde::Serialize;

use super::{API_VERSION, Document, REPORT_KIND, ReportTarget};
use crate::api::DiagnosisStatus;

/// The object `-o json` and `-o yaml` print.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosisReport<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub target: &'a ReportTarget,
    pub status: &'a DiagnosisStatus,
}

impl<'a> DiagnosisReport<'a> {
    pub fn of(doc: &'a Document) -> DiagnosisReport<'a> {
        DiagnosisReport {
            api_version: API_VERSION,
            kind: REPORT_KIND,
            target: &doc.target,
            status: &doc.status,
        }
    }
}

/// Pretty-printed JSON with a final newline.
pub fn render(doc: &Document) -> String {
    let mut s = serde_json::to_string_pretty(&DiagnosisReport::of(doc))
        .expect("a DiagnosisReport always serializes");
    s.push('\n');
    s
}
