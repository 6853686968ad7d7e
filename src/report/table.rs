//! `-o table` (the default): a person's view of a diagnosis.
//!
//! A header line (target, phase, counts, objects examined, the time compared with),
//! then the root cause first (its message, object, edge, evidence and safest next
//! step with the command), the symptoms it explains indented under it, the other
//! root causes, and a compact list of the remaining findings. Coloured on a
//! terminal unless `NO_COLOR` is set.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anstyle::{AnsiColor, Effects};

use super::changes;
use super::text::wrap;
use super::{Document, object_text};
use crate::api::{Finding, Phase, Severity};

/// How to print: colours and the width to wrap at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
    pub width: usize,
}

impl Default for Style {
    fn default() -> Style {
        Style {
            colour: false,
            width: 100,
        }
    }
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty; the width
    /// from `COLUMNS` (default 100).
    pub fn for_stdout() -> Style {
        use is_terminal::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            colour: !no_color && std::io::stdout().is_terminal(),
            width: super::text::width_from_env(),
        }
    }

    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.colour {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_owned()
        }
    }

    fn bold(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().effects(Effects::BOLD), text)
    }

    fn dim(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().effects(Effects::DIMMED), text)
    }

    fn severity(&self, severity: Severity) -> String {
        let (label, colour) = match severity {
            Severity::Critical => ("CRITICAL", AnsiColor::Red),
            Severity::Warning => ("WARNING ", AnsiColor::Yellow),
            Severity::Info => ("INFO    ", AnsiColor::Blue),
        };
        let mut st = anstyle::Style::new().fg_color(Some(colour.into()));
        if severity == Severity::Critical {
            st = st.effects(Effects::BOLD);
        }
        self.paint(st, label)
    }

    fn phase(&self, phase: Phase) -> String {
        let colour = match phase {
            Phase::Healthy => AnsiColor::Green,
            Phase::Degraded | Phase::Error => AnsiColor::Red,
            Phase::Pending => AnsiColor::Yellow,
        };
        self.paint(
            anstyle::Style::new()
                .fg_color(Some(colour.into()))
                .effects(Effects::BOLD),
            phase.as_str(),
        )
    }
}

pub fn render(doc: &Document, style: &Style) -> String {
    let mut out = String::new();
    let width = style.width;
    let st = &doc.status;
    let summary = st.summary.clone().unwrap_or_default();
    // header
    let now = st.last_diagnosed_time.as_deref().unwrap_or("-");
    let header = format!(
        "{}: {} · {} critical, {} warning, {} info · {} objects examined · now {}",
        style.bold(&doc.title()),
        style.phase(st.phase),
        summary.critical,
        summary.warning,
        summary.info,
        summary.objects_examined,
        now
    );
    out.push_str(&header);
    out.push('\n');
    if let Some(truncated) = &summary.truncated {
        for line in wrap(&format!("(truncated: {truncated})"), width, "", "  ") {
            let _ = writeln!(out, "{}", style.dim(&line));
        }
    }
    out.push('\n');

    let groups = doc.groups();
    // "what changed" comes right after the (first) root cause
    let mut changes_shown = false;
    let mut shown: BTreeSet<&str> = BTreeSet::new();
    let serious: Vec<&(&Finding, Vec<&Finding>)> = groups
        .roots
        .iter()
        .filter(|(r, _)| r.severity >= Severity::Warning)
        .collect();

    if !doc.unhealthy() {
        let _ = writeln!(
            out,
            "{} no Warning or Critical finding{}.",
            style.paint(
                anstyle::Style::new()
                    .fg_color(Some(AnsiColor::Green.into()))
                    .effects(Effects::BOLD),
                "Healthy:"
            ),
            if doc.findings().is_empty() {
                ""
            } else {
                " (informational findings below)"
            }
        );
    } else if serious.is_empty() {
        // Warning/Critical findings whose causes are only Info findings: list them all below.
    } else {
        for (position, (root, symptoms)) in serious.iter().enumerate() {
            if position == 1 && !changes_shown {
                what_changed(&mut out, style, doc);
                changes_shown = true;
            }
            let title = match (position, serious.len()) {
                (0, _) => "ROOT CAUSE".to_owned(),
                (1, 2) => "OTHER ROOT CAUSE".to_owned(),
                (1, _) => "OTHER ROOT CAUSES".to_owned(),
                _ => String::new(),
            };
            if !title.is_empty() {
                if position > 0 {
                    out.push('\n');
                }
                let _ = writeln!(out, "{}", style.bold(&title));
            } else {
                out.push('\n');
            }
            cause(&mut out, style, root);
            shown.insert(root.id.as_str());
            let fresh: Vec<&&Finding> = symptoms
                .iter()
                .filter(|f| !shown.contains(f.id.as_str()))
                .collect();
            let repeated = symptoms.len() - fresh.len();
            if !fresh.is_empty() || repeated > 0 {
                let _ = writeln!(out, "  {}", style.bold("explains:"));
            }
            for finding in &fresh {
                symptom(&mut out, style, finding, "    ");
                shown.insert(finding.id.as_str());
            }
            if repeated > 0 {
                let _ = writeln!(
                    out,
                    "    {}",
                    style.dim(&format!(
                        "and {repeated} finding(s) listed under a root cause above"
                    ))
                );
            }
        }
    }

    if !changes_shown {
        what_changed(&mut out, style, doc);
    }

    let rest: Vec<&Finding> = doc
        .findings()
        .iter()
        .filter(|f| !shown.contains(f.id.as_str()))
        .collect();
    if !rest.is_empty() {
        out.push('\n');
        let title = if shown.is_empty() {
            "FINDINGS"
        } else {
            "OTHER FINDINGS"
        };
        let _ = writeln!(out, "{}", style.bold(title));
        for finding in rest {
            compact(&mut out, style, finding, width);
        }
    }
    out
}

/// At most this many changes in the table; `-o markdown` and `-o json` list them all.
const CHANGES_SHOWN: usize = 5;

/// The changes of the graph, those that introduced the root cause first: when, what,
/// and the findings each introduced.
fn what_changed(out: &mut String, style: &Style, doc: &Document) {
    let changes = &doc.status.changes;
    if changes.is_empty() {
        return;
    }
    out.push('\n');
    let _ = writeln!(out, "{}", style.bold("WHAT CHANGED"));
    for change in changes.iter().take(CHANGES_SHOWN) {
        let view = changes::view(change, doc.findings());
        let _ = writeln!(out, "  {}  {}", style.bold(view.time), view.object);
        for line in wrap(view.summary, style.width, "    ", "    ") {
            let _ = writeln!(out, "{line}");
        }
        for introduced in &view.introduced {
            for line in wrap(introduced, style.width, "    introduced: ", "      ") {
                let _ = writeln!(
                    out,
                    "{}",
                    line.replacen("introduced:", &style.bold("introduced:"), 1)
                );
            }
        }
    }
    if changes.len() > CHANGES_SHOWN {
        let _ = writeln!(
            out,
            "  {}",
            style.dim(&format!(
                "{} more change(s): see -o markdown or -o json",
                changes.len() - CHANGES_SHOWN
            ))
        );
    }
}

/// A root cause in full: what, where, why we know, what to do first.
fn cause(out: &mut String, style: &Style, finding: &Finding) {
    let width = style.width;
    let edge = finding
        .edge
        .as_ref()
        .map(|e| format!("  (edge {e})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {} {}  {}{}",
        style.severity(finding.severity),
        style.bold(&finding.rule_id),
        object_text(&finding.object),
        edge
    );
    for line in wrap(&finding.message, width, "  ", "  ") {
        let _ = writeln!(out, "{line}");
    }
    if !finding.evidence.is_empty() {
        let _ = writeln!(out, "  {}", style.bold("evidence:"));
        for evidence in &finding.evidence {
            for line in wrap(evidence, width, "    - ", "      ") {
                let _ = writeln!(out, "{line}");
            }
        }
    }
    if let Some(affected) = &finding.affected {
        let more = affected.count as usize - affected.sample.len().min(affected.count as usize);
        let mut text = format!("{} objects: {}", affected.count, affected.sample.join(", "));
        if more > 0 {
            text.push_str(&format!(" and {more} more"));
        }
        for line in wrap(&text, width, "  affected: ", "    ") {
            let _ = writeln!(
                out,
                "{}",
                line.replacen("affected:", &style.bold("affected:"), 1)
            );
        }
    }
    if !finding.remediation.summary.is_empty() {
        for line in wrap(&finding.remediation.summary, width, "  fix: ", "    ") {
            let _ = writeln!(out, "{}", line.replacen("fix:", &style.bold("fix:"), 1));
        }
    }
    if let Some(step) = finding.remediation.steps.first() {
        let head = format!("  next step ({}): ", step.risk.as_str());
        for (position, line) in wrap(&step.description, width, &head, "    ")
            .into_iter()
            .enumerate()
        {
            if position == 0 {
                let _ = writeln!(
                    out,
                    "{}",
                    line.replacen(head.trim_start(), &style.bold(head.trim_start()), 1)
                );
            } else {
                let _ = writeln!(out, "{line}");
            }
        }
        if let Some(command) = &step.command {
            let _ = writeln!(out, "    $ {}", style.bold(command));
        }
        let more = finding.remediation.steps.len() - 1;
        if more > 0 {
            let _ = writeln!(
                out,
                "    {}",
                style.dim(&format!(
                    "{more} more step(s), riskier: see -o markdown or -o json"
                ))
            );
        }
    }
}

/// A symptom under its root cause: severity, rule, object, then the message.
fn symptom(out: &mut String, style: &Style, finding: &Finding, indent: &str) {
    let affected = finding
        .affected
        .as_ref()
        .map(|a| format!(" ({} objects)", a.count))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{indent}{} {}  {}{}",
        style.severity(finding.severity),
        finding.rule_id,
        object_text(&finding.object),
        affected
    );
    let rest = format!("{indent}  ");
    for line in wrap(&finding.message, style.width, &rest, &rest) {
        let _ = writeln!(out, "{}", style.dim(&line));
    }
}

/// One finding per line: severity, rule, object, then the message (wrapped when long).
fn compact(out: &mut String, style: &Style, finding: &Finding, width: usize) {
    let label = style.severity(finding.severity);
    let plain = match finding.severity {
        Severity::Critical => "CRITICAL",
        Severity::Warning => "WARNING ",
        Severity::Info => "INFO    ",
    };
    let head = format!(
        "  {plain} {}  {}: ",
        finding.rule_id,
        object_text(&finding.object)
    );
    for (position, line) in wrap(&finding.message, width, &head, "             ")
        .into_iter()
        .enumerate()
    {
        if position == 0 {
            let _ = writeln!(out, "{}", line.replacen(plain, &label, 1));
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DiagnosisStatus, RemediationStep, Risk, Summary};
    use crate::report::tests::finding;
    use crate::report::{Document, ReportTarget};

    fn doc(findings: Vec<Finding>) -> Document {
        let summary = Summary {
            critical: findings
                .iter()
                .filter(|f| f.severity == Severity::Critical)
                .count() as u32,
            warning: findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count() as u32,
            info: findings
                .iter()
                .filter(|f| f.severity == Severity::Info)
                .count() as u32,
            objects_examined: 7,
            rules_evaluated: 10,
            truncated: None,
        };
        let target =
            crate::model::ObjRef::namespaced(crate::model::Kind::Deployment, "shop", "web");
        Document {
            target: ReportTarget::One(crate::report::target_ref(&target)),
            targets: vec![target],
            status: DiagnosisStatus {
                phase: if summary.critical + summary.warning > 0 {
                    Phase::Degraded
                } else {
                    Phase::Healthy
                },
                last_diagnosed_time: Some("2026-03-12T14:31:05Z".into()),
                summary: Some(summary),
                findings,
                ..Default::default()
            },
            graphs: vec![],
        }
    }

    #[test]
    fn root_cause_first_then_symptoms_then_the_rest() {
        use Severity::*;
        let mut root = finding("a", "ConfigMapNotFound", Critical, &[]);
        root.edge = Some("Pod -> ConfigMap".into());
        root.evidence = vec!["envFrom configMapRef storefront-config of container app".into()];
        root.remediation.steps = vec![
            RemediationStep {
                description: "See which ConfigMaps exist".into(),
                command: Some("kubectl get configmaps -n shop".into()),
                risk: Risk::ReadOnly,
            },
            RemediationStep {
                description: "Create it".into(),
                command: None,
                risk: Risk::Reversible,
            },
        ];
        let fs = vec![
            root,
            finding("c", "ImageTagMutable", Info, &[]),
            finding("b", "ReplicasUnavailable", Warning, &["a"]),
        ];
        let out = render(&doc(fs), &Style::default());
        let pos = |needle: &str| {
            out.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing in:\n{out}"))
        };
        assert!(out.starts_with("Deployment shop/web: Degraded · 1 critical, 1 warning, 1 info"));
        assert!(pos("ROOT CAUSE") < pos("ConfigMapNotFound"));
        assert!(pos("(edge Pod -> ConfigMap)") > pos("ConfigMapNotFound"));
        assert!(pos("next step (ReadOnly): See which ConfigMaps exist") > pos("evidence:"));
        assert!(pos("$ kubectl get configmaps -n shop") > pos("next step"));
        assert!(pos("explains:") < pos("ReplicasUnavailable"));
        assert!(pos("OTHER FINDINGS") > pos("ReplicasUnavailable"));
        assert!(pos("OTHER FINDINGS") < pos("ImageTagMutable"));
        assert!(!out.contains('\u{1b}'), "no colour unless asked");
        let coloured = render(
            &doc(vec![finding("a", "ConfigMapNotFound", Critical, &[])]),
            &Style {
                colour: true,
                width: 100,
            },
        );
        assert!(coloured.contains("\u{1b}["));
    }

    #[test]
    fn healthy_target_says_so() {
        let out = render(
            &doc(vec![finding("c", "ImageTagMutable", Severity::Info, &[])]),
            &Style::default(),
        );
        assert!(
            out.contains("Healthy: no Warning or Critical finding"),
            "{out}"
        );
        assert!(
            out.contains("FINDINGS\n  INFO     ImageTagMutable  Pod shop/pod-c: message of c"),
            "{out}"
        );
        let empty = render(&doc(vec![]), &Style::default());
        assert!(
            empty.contains("Healthy: no Warning or Critical finding."),
            "{empty}"
        );
    }

    #[test]
    fn long_lines_wrap_to_the_width() {
        let mut finding = finding("a", "ConfigMapNotFound", Severity::Critical, &[]);
        finding.message = "word ".repeat(60);
        finding.evidence = vec!["evidence ".repeat(30)];
        let out = render(
            &doc(vec![finding]),
            &Style {
                colour: false,
                width: 60,
            },
        );
        for line in out.lines().skip(1) {
            assert!(line.chars().count() <= 60, "{line:?} is longer than 60");
        }
    }
}
