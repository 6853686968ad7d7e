//! Grouping hits per controller into findings.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::event::EventRecord;
use crate::model::ObjRef;
use crate::rules::Draft;
use crate::rules::RuleId;

use super::hit::Hit;

pub(super) fn emit(hits: Vec<Hit>, out: &mut Vec<Draft>) {
    let mut groups: BTreeMap<(RuleId, ObjRef), Vec<Hit>> = BTreeMap::new();
    for h in hits {
        groups.entry((h.rule, h.group.clone())).or_default().push(h);
    }
    for ((rule, group), hs) in groups {
        let mut pods: Vec<ObjRef> = hs.iter().map(|h| h.pod.clone()).collect();
        pods.sort();
        pods.dedup();
        let first = &hs[0];
        let subject = if pods.len() == 1 {
            if group == pods[0] {
                format!("Pod {}", pods[0].name)
            } else {
                format!("Pod {} ({})", pods[0].name, group.short())
            }
        } else {
            format!("{} Pods of {}", pods.len(), group.short())
        };
        let mut d = Draft::new(rule, group.clone())
            .message(format!("{subject} {}", first.what))
            .summary(first.summary.clone())
            .affected(&pods);
        if let Some(s) = first.severity {
            d = d.severity(s);
        }
        for h in &hs {
            for e in &h.evidence {
                d = d.evidence(e.clone());
            }
            for s in &h.scope {
                d = d.scope(s.clone());
            }
        }
        // quote the newest event, account for the others
        let mut events: Vec<&Arc<EventRecord>> = hs.iter().flat_map(|h| h.events.iter()).collect();
        events.sort_by(|a, b| a.time.cmp(&b.time).then(a.name.cmp(&b.name)));
        events.dedup_by(|a, b| a.key() == b.key());
        if let Some(newest) = events.iter().rev().find(|e| e.reason == "FailedScheduling") {
            d = d.event(newest);
        }
        for e in &events {
            d = d.account(e).seen(e.first_time, e.time);
        }
        let mut seen_steps = BTreeSet::new();
        for (desc, cmd, risk) in &first.steps {
            if seen_steps.insert(desc.clone()) {
                d = d.step(desc.clone(), cmd.clone(), *risk);
            }
        }
        if hs.iter().all(|h| h.healed) {
            d.scope.clear();
        }
        out.push(d);
    }
}
