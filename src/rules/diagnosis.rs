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
    let target = &ctx.graph.target;
    let Some(node) = ctx.graph.node(target) else {
        return;
    };
    if node.exists == Existence::Exists {
        return;
    }
    if ctx.store.denied_reason(target.kind, target.ns()).is_some() {
        // We could not read the kind: PermissionDenied says so; the target may well exist.
        return;
    }
    let where_ = match &target.namespace {
        Some(ns) => format!(" in namespace {ns}"),
        None => String::new(),
    };
    let mut draft = Draft::new(RuleId::TargetNotFound, target.clone())
        .message(format!(
            "{} {} does not exist{where_}",
            target.kind, target.name
        ))
        .summary("Check the target's kind, name and namespace.");
    // Nearest names of the same kind help with typos.
    let near = nearest_names(ctx, target.kind, target.ns(), &target.name);
    if near.is_empty() {
        draft = draft.evidence(format!("no {} named {}{where_}", target.kind, target.name));
    } else {
        draft = draft.evidence(format!(
            "no {} named {}{where_}; similar names: {}",
            target.kind,
            target.name,
            near.join(", ")
        ));
    }
    let list = if target.kind.namespaced() {
        format!("kubectl get {} -n {}", target.kind.plural(), target.ns())
    } else {
        format!("kubectl get {}", target.kind.plural())
    };
    draft = draft.step(
        format!("List the {} that exist", target.kind.plural()),
        Some(list),
        Risk::ReadOnly,
    );
    if target.kind.namespaced() {
        draft = draft.step(
            "Look for the object in every namespace",
            Some(format!(
                "kubectl get {} -A --field-selector metadata.name={}",
                target.kind.plural(),
                target.name
            )),
            Risk::ReadOnly,
        );
    }
    out.push(draft);
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
    let target = &ctx.graph.target;
    // kinds refused in one namespace: said where the graph reads them (the target's
    // namespace, or a Namespace target)
    let graph_namespace = match target.kind {
        Kind::Namespace => target.name.as_str(),
        _ => target.ns(),
    };
    for ((kind, namespace), reason) in ctx.store.denied_in() {
        if namespace != graph_namespace || ctx.store.denied().contains_key(kind) {
            continue;
        }
        let draft = Draft::new(RuleId::PermissionDenied, target.clone())
            .discriminator(kind.name())
            .message(format!(
                "Could not read {} in namespace {namespace}: the diagnosis does not see them and may miss what they would explain",
                kind.plural()
            ))
            .evidence(reason.clone())
            .summary("Grant get/list/watch on the kind in the namespace to the identity kubedx runs as.")
            .step(
                "Check what the identity may do",
                Some(format!("kubectl auth can-i list {} -n {namespace}", kind.plural())),
                Risk::ReadOnly,
            );
        out.push(draft);
    }
    for (kind, reason) in ctx.store.denied() {
        let draft = Draft::new(RuleId::PermissionDenied, target.clone())
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
        out.push(draft);
    }
}
