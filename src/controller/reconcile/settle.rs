//! Stage 4, settle: the status to publish, with what must survive between runs
//! carried over from the previous one. Settling cannot fail.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{DiagnosisStatus, Finding, Phase};
use crate::engine;
use crate::text::clip;

use super::validate::Refusal;

/// Carries over what must survive between runs: each finding's firstSeen, and each
/// condition's lastTransitionTime while its status is unchanged (kstatus).
pub(crate) fn settle(
    prev: &DiagnosisStatus,
    mut next: DiagnosisStatus,
    generation: Option<i64>,
) -> DiagnosisStatus {
    next.observed_generation = generation;
    let before: HashMap<&str, &Finding> = prev
        .findings
        .iter()
        .map(|finding| (finding.id.as_str(), finding))
        .collect();
    for finding in &mut next.findings {
        if let Some(earlier) = before.get(finding.id.as_str()) {
            if earlier.first_seen.is_some()
                && (finding.first_seen.is_none() || earlier.first_seen < finding.first_seen)
            {
                finding.first_seen = earlier.first_seen.clone();
            }
        } else if finding.first_seen.is_none() {
            finding.first_seen = next.last_diagnosed_time.clone();
        }
        if finding.last_seen.is_none() {
            finding.last_seen = next.last_diagnosed_time.clone();
        }
    }
    for condition in &mut next.conditions {
        condition.observed_generation = generation;
        if let Some(earlier) = prev
            .conditions
            .iter()
            .find(|earlier| earlier.type_ == condition.type_)
            && earlier.status == condition.status
        {
            condition.last_transition_time = earlier.last_transition_time.clone();
        }
    }
    next
}

/// The settled status of a refused spec: phase Error, `Ready=False` and
/// `Healthy=Unknown` with the refusal's reason, and its message as the root cause.
pub(crate) fn refused_status(
    prev: &DiagnosisStatus,
    generation: Option<i64>,
    now: Timestamp,
    refusal: &Refusal,
) -> DiagnosisStatus {
    // A refusal quotes the spec (unknown rule ids ...): bounded, like every message.
    let reason = refusal.reason();
    let message = clip(&refusal.to_string(), engine::MAX_LINE);
    let condition = |type_: &str, status: &str| Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: message.clone(),
        last_transition_time: Time(now),
        observed_generation: generation,
    };
    let next = DiagnosisStatus {
        phase: Phase::Error,
        observed_generation: generation,
        last_diagnosed_time: Some(now.to_string()),
        conditions: vec![condition("Ready", "False"), condition("Healthy", "Unknown")],
        target_ref: None,
        summary: None,
        root_cause: Some(message.clone()),
        findings: Vec::new(),
        timeline: Vec::new(),
        changes: Vec::new(),
    };
    settle(prev, next, generation)
}

#[cfg(test)]
mod tests {
    use super::super::tests::status;
    use super::*;
    use crate::api::Severity;

    #[test]
    fn settle_keeps_first_seen_and_transition_times() {
        let mut prev = status(
            &[("ConfigMapNotFound", Severity::Critical)],
            Phase::Degraded,
        );
        prev.findings[0].first_seen = Some("2026-11-21T09:00:00Z".into());
        prev.conditions = vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "Diagnosed".into(),
            message: "x".into(),
            last_transition_time: Time("2026-11-21T09:00:00Z".parse().unwrap()),
            observed_generation: Some(1),
        }];
        let mut next = status(
            &[("ConfigMapNotFound", Severity::Critical)],
            Phase::Degraded,
        );
        next.last_diagnosed_time = Some("2026-11-21T10:00:00Z".into());
        next.conditions = vec![Condition {
            last_transition_time: Time("2026-11-21T10:00:00Z".parse().unwrap()),
            ..prev.conditions[0].clone()
        }];
        let settled = settle(&prev, next, Some(2));
        assert_eq!(
            settled.findings[0].first_seen.as_deref(),
            Some("2026-11-21T09:00:00Z")
        );
        assert_eq!(
            settled.conditions[0].last_transition_time.0.to_string(),
            "2026-11-21T09:00:00Z"
        );
        assert_eq!(settled.conditions[0].observed_generation, Some(2));
        assert_eq!(settled.observed_generation, Some(2));
    }

    #[test]
    fn a_refused_status_names_the_reason_and_stays_bounded() {
        let refusal = Refusal::NoRuleSets;
        let status = refused_status(
            &DiagnosisStatus::default(),
            Some(3),
            Timestamp::now(),
            &refusal,
        );
        assert_eq!(status.phase, Phase::Error);
        assert_eq!(status.observed_generation, Some(3));
        let conditions: Vec<(&str, &str, &str)> = status
            .conditions
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str(), c.reason.as_str()))
            .collect();
        assert_eq!(
            conditions,
            [
                ("Ready", "False", "InvalidSpec"),
                ("Healthy", "Unknown", "InvalidSpec")
            ]
        );
        assert_eq!(status.root_cause, Some(refusal.to_string()));
        // a refusal quoting a huge spec stays bounded
        let huge = Refusal::UnknownSuppressedRules {
            rule_ids: (0..5000).map(|i| format!("NoSuchRule{i}")).collect(),
        };
        assert!(huge.to_string().len() > engine::MAX_LINE);
        let status = refused_status(
            &DiagnosisStatus::default(),
            Some(1),
            Timestamp::now(),
            &huge,
        );
        assert!(
            status
                .conditions
                .iter()
                .all(|c| c.message.len() <= engine::MAX_LINE)
        );
        assert!(status.root_cause.unwrap().len() <= engine::MAX_LINE);
    }
}
