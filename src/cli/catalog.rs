//! `kubedx rules`: the rule catalog as a table, JSON or Markdown.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;

use crate::api::{Layer, RuleSetName, Severity};
use crate::rules::{CATALOG, Explains};

/// Output formats of `kubedx rules -o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CatalogFormat {
    #[default]
    Table,
    Json,
    Markdown,
}

impl CatalogFormat {
    pub const ALL: [CatalogFormat; 3] = [
        CatalogFormat::Table,
        CatalogFormat::Json,
        CatalogFormat::Markdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CatalogFormat::Table => "table",
            CatalogFormat::Json => "json",
            CatalogFormat::Markdown => "markdown",
        }
    }
}

impl FromStr for CatalogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<CatalogFormat, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "table" => Ok(CatalogFormat::Table),
            "json" => Ok(CatalogFormat::Json),
            "markdown" | "md" => Ok(CatalogFormat::Markdown),
            _ => Err(format!(
                "unknown output format {s:?} (table, json, markdown)"
            )),
        }
    }
}

/// One rule as `rules -o json` prints it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleOut {
    id: &'static str,
    rule_set: RuleSetName,
    severity: Severity,
    layer: Layer,
    summary: &'static str,
    explains: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CatalogOut {
    api_version: &'static str,
    kind: &'static str,
    rules: Vec<RuleOut>,
}

pub fn render(format: CatalogFormat) -> String {
    match format {
        CatalogFormat::Json => json(),
        CatalogFormat::Markdown => markdown(),
        CatalogFormat::Table => table(crate::report::text_width()),
    }
}

fn json() -> String {
    let out = CatalogOut {
        api_version: crate::report::API_VERSION,
        kind: "RuleCatalog",
        rules: CATALOG
            .iter()
            .map(|r| RuleOut {
                id: r.id.as_str(),
                rule_set: r.set,
                severity: r.severity,
                layer: r.layer,
                summary: r.summary,
                explains: r.explains.iter().map(ToString::to_string).collect(),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&out).expect("the catalog serializes");
    s.push('\n');
    s
}

fn table(width: usize) -> String {
    let id_w = CATALOG
        .iter()
        .map(|r| r.id.as_str().len())
        .max()
        .unwrap_or(2)
        .max(2);
    let set_w = "networking".len().max(3);
    let sev_w = "SEVERITY".len();
    let layer_w = CATALOG
        .iter()
        .map(|r| r.layer.as_str().len())
        .max()
        .unwrap_or(5)
        .max(5);
    let indent = id_w + set_w + sev_w + layer_w + 8;
    let col = width.saturating_sub(indent).max(30);
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:id_w$}  {:set_w$}  {:sev_w$}  {:layer_w$}  SUMMARY",
        "ID", "SET", "SEVERITY", "LAYER"
    );
    for r in CATALOG {
        let mut lines = crate::report::wrap_text(r.summary, col);
        if !r.explains.is_empty() {
            lines.extend(crate::report::wrap_text(
                &format!("explains: {}", explains_text(r.explains)),
                col,
            ));
        }
        for (i, l) in lines.iter().enumerate() {
            if i == 0 {
                let _ = writeln!(
                    out,
                    "{:id_w$}  {:set_w$}  {:sev_w$}  {:layer_w$}  {l}",
                    r.id,
                    r.set.as_str(),
                    r.severity.as_str(),
                    r.layer.as_str()
                );
            } else {
                let _ = writeln!(out, "{pad}{l}");
            }
        }
    }
    out
}

/// `A, B#dns, C`.
fn explains_text(explains: &[Explains]) -> String {
    explains
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn markdown() -> String {
    let mut out = String::from("# kubedx rule catalog\n");
    for set in RuleSetName::ALL {
        let rules: Vec<_> = CATALOG.iter().filter(|r| r.set == set).collect();
        if rules.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n## {}\n", set.as_str());
        let _ = writeln!(out, "| id | severity | layer | summary | explains |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for r in rules {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.id,
                r.severity.as_str(),
                r.layer.as_str(),
                crate::report::md_cell(r.summary),
                crate::report::md_cell(&explains_text(r.explains))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_format_parses_by_its_name() {
        for format in CatalogFormat::ALL {
            assert_eq!(format.as_str().parse::<CatalogFormat>(), Ok(format));
        }
    }

    #[test]
    fn every_format_lists_every_rule() {
        let t = table(120);
        let m = markdown();
        let j: serde_json::Value = serde_json::from_str(&json()).unwrap();
        assert_eq!(j["rules"].as_array().unwrap().len(), CATALOG.len());
        for r in CATALOG {
            assert!(t.contains(r.id.as_str()), "{}", r.id);
            assert!(m.contains(&format!("| {} |", r.id)), "{}", r.id);
        }
    }
}
