//! `-o yaml`: the `DiagnosisReport` of `-o json`, as YAML.

use super::Document;
use super::json::DiagnosisReport;

pub fn render(doc: &Document) -> String {
    serde_norway::to_string(&DiagnosisReport::of(doc)).expect("a DiagnosisReport always serializes")
}
