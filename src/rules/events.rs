//! The `events` rule set: Warning events on objects of the graph that no other rule
//! accounted for, grouped by reason, so that nothing the cluster said is hidden.

use std::collections::{BTreeMap, BTreeSet};

use crate::api::Risk;
use crate::graph::Role;
use crate::model::ObjRef;
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

/// How many messages of one group are quoted as evidence.
const MAX_QUOTED: usize = 5;

pub(crate) fn evaluate(
    ctx: &RuleContext,
    accounted: &BTreeSet<(String, String)>,
    out: &mut Vec<Draft>,
) {
    // reason -> (objects, events)
    let mut groups: BTreeMap<String, Vec<(ObjRef, std::sync::Arc<crate::event::EventRecord>)>> =
        BTreeMap::new();
    for (r, node) in &ctx.graph.nodes {
        if node.role == Role::Context {
            continue;
        }
        for e in ctx.events(r) {
            if e.is_warning() && !accounted.contains(&e.key()) {
                groups
                    .entry(e.reason.clone())
                    .or_default()
                    .push((r.clone(), e.clone()));
            }
        }
    }
    for (reason, evs) in groups {
        let mut objects: Vec<ObjRef> = evs.iter().map(|(r, _)| r.clone()).collect();
        objects.dedup();
        let total: i64 = evs.iter().map(|(_, e)| e.count as i64).sum();
        let first = &objects[0];
        let mut d = Draft::new(RuleId::WarningEvents, first.clone())
            .discriminator(reason.clone())
            .message(format!(
                "{total} Warning event(s) {reason} on {} object(s) that no other rule explains",
                objects.len()
            ))
            .summary("Read the events: they are what the cluster said about these objects.");
        if objects.len() > 1 {
            d = d.affected(&objects);
        }
        // newest first: the most recent messages are the most relevant
        let mut sorted = evs.clone();
        sorted.sort_by_key(|x| std::cmp::Reverse(x.1.time));
        let mut quoted = BTreeSet::new();
        for (r, e) in &sorted {
            if quoted.len() < MAX_QUOTED && quoted.insert(e.message.clone()) {
                d = d.evidence(format!("{}: {}", r.short(), e.describe()));
            }
            d = d.account(e).seen(e.first_time, e.time);
        }
        let ns_flag = first.ns_flag();
        d = d.step(
            "List the events of the object",
            Some(format!(
                "kubectl events{ns_flag} --for {} --types=Warning",
                first.kubectl()
            )),
            Risk::ReadOnly,
        );
        out.push(d);
    }
}
