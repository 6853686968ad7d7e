//! `-o markdown`: an incident report a person pastes into a ticket.
//!
//! Sections: title, Summary, Root cause, What changed, Evidence, Affected objects, Timeline,
//! Next steps (ordered by risk, commands in code blocks), Other findings.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::text::{md_block, md_cell, md_code};
use super::{Document, object_text};
use crate::api::{Finding, Severity};

pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    let st = &doc.status;
    let summary = st.summary.clone().unwrap_or_default();
    let groups = doc.groups();
    let primary = groups
        .roots
        .iter()
        .find(|(r, _)| r.severity >= Severity::Warning)
        .filter(|_| doc.unhealthy());

    // title
    let headline = match primary {
        Some((root, _)) => format!("{}: {}", doc.title(), root.rule_id),
        None => format!("{}: {}", doc.title(), st.phase.as_str()),
    };
    let _ = writeln!(out, "# {}\n", md_cell(&headline));

    // summary
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Target | {} |", md_cell(&doc.title()));
    let _ = writeln!(out, "| Phase | **{}** |", st.phase.as_str());
    let _ = writeln!(
        out,
        "| Findings | {} critical, {} warning, {} info |",
        summary.critical, summary.warning, summary.info
    );
    let _ = writeln!(out, "| Objects examined | {} |", summary.objects_examined);
    let _ = writeln!(out, "| Rules evaluated | {} |", summary.rules_evaluated);
    let _ = writeln!(
        out,
        "| Diagnosed at | {} |",
        st.last_diagnosed_time.as_deref().unwrap_or("-")
    );
    if let Some(truncated) = &summary.truncated {
        let _ = writeln!(out, "| Truncated | {} |", md_cell(truncated));
    }
    out.push('\n');

    // root cause
    let _ = writeln!(out, "## Root cause\n");
    match primary {
        None => {
            let _ = writeln!(
                out,
                "No Warning or Critical finding: the target is healthy.\n"
            );
        }
        Some((root, _)) => {
            let _ = writeln!(
                out,
                "**{}** ({}, {} layer) on {}{}\n",
                root.rule_id,
                root.severity.as_str(),
                root.layer.as_str(),
                md_code(&object_text(&root.object)),
                root.edge
                    .as_ref()
                    .map(|e| format!(", broken edge {}", md_code(e)))
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "{}\n", quote(&root.message));
            let others: Vec<&Finding> = groups
                .roots
                .iter()
                .map(|(f, _)| *f)
                .filter(|f| f.id != root.id && f.severity >= Severity::Warning)
                .collect();
            if !others.is_empty() {
                let _ = writeln!(out, "Other root causes:\n");
                for other in others {
                    let _ = writeln!(
                        out,
                        "- **{}** ({}) on {}: {}",
                        other.rule_id,
                        other.severity.as_str(),
                        md_code(&object_text(&other.object)),
                        one_line(&other.message)
                    );
                }
                out.push('\n');
            }
        }
    }

    // what changed
    let _ = writeln!(out, "## What changed\n");
    if st.changes.is_empty() {
        let _ = writeln!(out, "No change of the graph recorded.\n");
    } else {
        for change in &st.changes {
            let view = super::changes::view(change, doc.findings());
            let _ = writeln!(
                out,
                "- **{}** {}: {}",
                md_cell(view.time),
                md_code(&view.object),
                one_line(view.summary)
            );
            for introduced in &view.introduced {
                let _ = writeln!(out, "  - introduced {}", md_code(introduced));
            }
            for field in &view.fields {
                let _ = writeln!(out, "  - {}", md_code(&one_line(field)));
            }
        }
        out.push('\n');
    }

    // evidence
    let _ = writeln!(out, "## Evidence\n");
    match primary {
        Some((root, _)) if !root.evidence.is_empty() => {
            for line in &root.evidence {
                let _ = writeln!(out, "- {}", md_code(&one_line(line)));
            }
            out.push('\n');
        }
        _ => {
            let _ = writeln!(out, "None.\n");
        }
    }

    // affected objects
    let _ = writeln!(out, "## Affected objects\n");
    match primary {
        Some((root, symptoms)) => {
            let _ = writeln!(out, "| Object | Finding | Severity | Affected |");
            let _ = writeln!(out, "|---|---|---|---|");
            for finding in std::iter::once(root).chain(symptoms.iter()) {
                let affected = finding
                    .affected
                    .as_ref()
                    .map(|affected| {
                        let mut text =
                            format!("{}: {}", affected.count, affected.sample.join(", "));
                        if (affected.count as usize) > affected.sample.len() {
                            text.push_str(", ...");
                        }
                        text
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} |",
                    md_cell(&object_text(&finding.object)),
                    md_cell(&finding.rule_id),
                    finding.severity.as_str(),
                    md_cell(&affected)
                );
            }
            out.push('\n');
        }
        None => {
            let _ = writeln!(out, "None.\n");
        }
    }

    // timeline
    let _ = writeln!(out, "## Timeline\n");
    if st.timeline.is_empty() {
        let _ = writeln!(out, "No events or changes recorded.\n");
    } else {
        let _ = writeln!(out, "| Time | Type | Object | Reason | Message |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for entry in &st.timeline {
            let count = match entry.count {
                Some(c) if c > 1 => format!(" (x{c})"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {}{} |",
                md_cell(&entry.time),
                md_cell(&entry.type_),
                md_cell(&object_text(&entry.object)),
                md_cell(&entry.reason),
                md_cell(&entry.message),
                count
            );
        }
        out.push('\n');
    }

    // next steps
    let _ = writeln!(out, "## Next steps\n");
    match primary {
        Some((root, _))
            if !root.remediation.steps.is_empty() || !root.remediation.summary.is_empty() =>
        {
            if !root.remediation.summary.is_empty() {
                let _ = writeln!(out, "{}\n", root.remediation.summary);
            }
            let mut steps = root.remediation.steps.clone();
            steps.sort_by_key(|s| s.risk); // already sorted by the engine; stable
            for (position, step) in steps.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "{}. **{}**: {}",
                    position + 1,
                    step.risk.as_str(),
                    one_line(&step.description)
                );
                if let Some(command) = &step.command {
                    out.push('\n');
                    for line in md_block("sh", command).lines() {
                        let _ = writeln!(out, "   {line}");
                    }
                }
                out.push('\n');
            }
        }
        _ => {
            let _ = writeln!(out, "Nothing to do.\n");
        }
    }

    // other findings
    let _ = writeln!(out, "## Other findings\n");
    let mut listed: BTreeSet<&str> = BTreeSet::new();
    if let Some((root, symptoms)) = primary {
        listed.insert(root.id.as_str());
        listed.extend(symptoms.iter().map(|f| f.id.as_str()));
    }
    let rest: Vec<&Finding> = doc
        .findings()
        .iter()
        .filter(|f| !listed.contains(f.id.as_str()))
        .collect();
    if rest.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        let _ = writeln!(
            out,
            "| Severity | Rule | Object | Root cause | Message |\n|---|---|---|---|---|"
        );
        for finding in rest {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                finding.severity.as_str(),
                md_cell(&finding.rule_id),
                md_cell(&object_text(&finding.object)),
                if finding.root_cause { "yes" } else { "no" },
                md_cell(&finding.message)
            );
        }
    }
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn quote(text: &str) -> String {
    text.lines()
        .map(|l| format!("> {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DiagnosisStatus, RemediationStep, Risk, Summary};
    use crate::report::tests::finding;
    use crate::report::{Document, ReportTarget};

    #[test]
    fn sections_in_order_and_cells_escaped() {
        use Severity::*;
        let mut root = finding("a", "ConfigMapNotFound", Critical, &[]);
        root.evidence = vec!["key a|b".into()];
        root.remediation.steps = vec![
            RemediationStep {
                description: "Look".into(),
                command: Some("kubectl get cm -n shop".into()),
                risk: Risk::ReadOnly,
            },
            RemediationStep {
                description: "Create".into(),
                command: Some("kubectl create configmap x -n shop".into()),
                risk: Risk::Reversible,
            },
        ];
        let mut other = finding("c", "ImageTagMutable", Info, &[]);
        other.message = "tag | latest".into();
        let target = crate::model::ObjRef::namespaced(crate::model::Kind::Pod, "shop", "p");
        let doc = Document {
            target: ReportTarget::One(crate::report::target_ref(&target)),
            targets: vec![target],
            status: DiagnosisStatus {
                summary: Some(Summary {
                    critical: 1,
                    info: 1,
                    ..Default::default()
                }),
                findings: vec![root, other],
                ..Default::default()
            },
            graphs: vec![],
        };
        let md = render(&doc);
        let mut last = 0;
        for heading in [
            "# Pod shop/p: ConfigMapNotFound",
            "## Summary",
            "## Root cause",
            "## What changed",
            "## Evidence",
            "## Affected objects",
            "## Timeline",
            "## Next steps",
            "## Other findings",
        ] {
            let position = md
                .find(heading)
                .unwrap_or_else(|| panic!("{heading} missing:\n{md}"));
            assert!(position >= last, "{heading} out of order:\n{md}");
            last = position;
        }
        assert!(
            md.contains("1. **ReadOnly**: Look\n\n   ```sh\n   kubectl get cm -n shop\n   ```")
        );
        assert!(md.find("**ReadOnly**").unwrap() < md.find("**Reversible**").unwrap());
        assert!(md.contains("tag \\| latest"), "{md}");
    }
}
