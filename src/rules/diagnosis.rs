//! The `diagnosis` rule set: problems of the diagnosis itself (a missing target,
//! kinds it could not read).

use crate::api::Risk;
use crate::graph::Existence;
use crate::model::Kind;
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::text::edit_distance;

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    target_not_found(ctx, out);
    permission_denied(ctx, out);
}

fn target_not_found(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let t = &ctx.graph.target;
    let Some(node) = ctx.graph.node(t) else {
        return;
    };
    if node.exists == Existence::Exists {
        return;
    }
    if ctx.store.denied().contains_key(&t.kind) {
        // We could not read the kind: PermissionDenied says so; the target may well exist.
        return;
    }
    let where_ = match &t.namespace {
        Some(ns) => format!(" in namespace {ns}"),
        None => String::new(),
    };
    let mut d = Draft::new(RuleId::TargetNotFound, t.clone())
        .message(format!("{} {} does not exist{where_}", t.kind, t.name))
        .summary("Check the target's kind, name and namespace.");
    // Nearest names of the same kind help with typos.
    let near = nearest_names(ctx, t.kind, t.ns(), &t.name);
    if near.is_empty() {
        d = d.evidence(format!("no {} named {}{where_}", t.kind, t.name));
    } else {
        d = d.evidence(format!(
            "no {} named {}{where_}; similar names: {}",
            t.kind,
            t.name,
            near.join(", ")
        ));
    }
    let list = if t.kind.namespaced() {
        format!("kubectl get {} -n {}", t.kind.plural(), t.ns())
    } else {
        format!("kubectl get {}", t.kind.plural())
    };
    d = d.step(
        format!("List the {} that exist", t.kind.plural()),
        Some(list),
        Risk::ReadOnly,
    );
    if t.kind.namespaced() {
        d = d.step(
            "Look for the object in every namespace",
            Some(format!(
                "kubectl get {} -A --field-selector metadata.name={}",
                t.kind.plural(),
                t.name
            )),
            Risk::ReadOnly,
        );
    }
    out.push(d);
}

/// Up to three names of `kind` in `ns` closest to `name` (edit distance ≤ 3 or a shared prefix).
fn nearest_names(ctx: &RuleContext, kind: Kind, ns: &str, name: &str) -> Vec<String> {
    let mut cands: Vec<(usize, String)> = ctx
        .store
        .list_objects(kind, ns)
        .filter_map(|(_, o)| o.meta().and_then(|m| m.name.clone()))
        .map(|n| (edit_distance(&n, name), n))
        .filter(|(d, n)| *d <= 3 || n.starts_with(name) || name.starts_with(n.as_str()))
        .collect();
    cands.sort();
    cands.into_iter().take(3).map(|(_, n)| n).collect()
}

fn permission_denied(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for (kind, reason) in ctx.store.denied() {
        let t = &ctx.graph.target;
        let d = Draft::new(RuleId::PermissionDenied, t.clone())
            .discriminator(kind.name())
            .message(format!(
                "Could not read {}: the diagnosis does not see them and may miss what they would explain",
                kind.plural()
            ))
            .evidence(reason.clone())
            .summary("Grant get/list/watch on the kind to the identity kubedx runs as.")
            .step(
                "Check what the identity may do",
                Some(format!("kubectl auth can-i list {} -A", kind.plural())),
                Risk::ReadOnly,
            );
        out.push(d);
    }
}
