//! Grouping hits into findings: one per rule and controller (else Pod), quoting the
//! newest FailedScheduling event and accounting for the others.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::event::EventRecord;
use crate::model::ObjRef;
use crate::rules::Draft;
use crate::rules::RuleId;

use super::hit::Hit;

/// The findings of the hits, grouped per rule and controller; the first hit of a
/// group gives its message, summary and steps.
pub(super) fn emit(hits: Vec<Hit>, out: &mut Vec<Draft>) {
    let mut groups: BTreeMap<(RuleId, ObjRef), Vec<Hit>> = BTreeMap::new();
    for hit in hits {
        groups
            .entry((hit.rule, hit.group.clone()))
            .or_default()
            .push(hit);
    }
    for ((rule, group), group_hits) in groups {
        let mut pods: Vec<ObjRef> = group_hits.iter().map(|hit| hit.pod.clone()).collect();
        pods.sort();
        pods.dedup();
        let first = &group_hits[0];
        let subject = if pods.len() == 1 {
            if group == pods[0] {
                format!("Pod {}", pods[0].name)
            } else {
                format!("Pod {} ({})", pods[0].name, group.short())
            }
        } else {
            format!("{} Pods of {}", pods.len(), group.short())
        };
        let mut draft = Draft::new(rule, group.clone())
            .message(format!("{subject} {}", first.what))
            .summary(first.summary.clone())
            .affected(&pods);
        if let Some(severity) = first.severity {
            draft = draft.severity(severity);
        }
        for hit in &group_hits {
            for line in &hit.evidence {
                draft = draft.evidence(line.clone());
            }
            for object in &hit.scope {
                draft = draft.scope(object.clone());
            }
        }
        // quote the newest event, account for the others
        let mut events: Vec<&Arc<EventRecord>> = group_hits
            .iter()
            .flat_map(|hit| hit.events.iter())
            .collect();
        events.sort_by(|a, b| a.time.cmp(&b.time).then(a.name.cmp(&b.name)));
        events.dedup_by(|a, b| a.key() == b.key());
        if let Some(newest) = events
            .iter()
            .rev()
            .find(|event| event.reason == "FailedScheduling")
        {
            draft = draft.event(newest);
        }
        for event in &events {
            draft = draft.account(event).seen(event.first_time, event.time);
        }
        let mut seen_steps = BTreeSet::new();
        for (desc, cmd, risk) in &first.steps {
            if seen_steps.insert(desc.clone()) {
                draft = draft.step(desc.clone(), cmd.clone(), *risk);
            }
        }
        if group_hits.iter().all(|hit| hit.healed) {
            draft.scope.clear();
        }
        out.push(draft);
    }
}
