//! DaemonSets: Pods not ready on their nodes, Pods on nodes they should not run on.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;

use super::util::{not_ready_lines, pods_of, selector_arg};
use crate::api::Severity;
use crate::k8s::pod;
use crate::model::Kind;
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for r in ctx.graph.subjects(Kind::DaemonSet) {
        let Some(ds) = ctx.store.get_ref::<DaemonSet>(r) else {
            continue;
        };
        let Some(st) = ds.status.as_ref() else {
            continue;
        };
        let desired = st.desired_number_scheduled;
        let ready = st.number_ready;
        let misscheduled = st.number_misscheduled;
        let current = st.current_number_scheduled;
        if ready >= desired && misscheduled == 0 {
            continue;
        }
        let ns = r.ns();
        let pods = pods_of(ctx.store, ds.metadata.uid.as_deref());
        let unready: Vec<_> = pods
            .iter()
            .filter(|(_, p)| pod::is_active(p) && !pod::is_ready(p))
            .cloned()
            .collect();
        let now = ctx.now();
        let mut parts = Vec::new();
        if ready < desired {
            parts.push(format!("{ready} of {desired} scheduled Pods are ready"));
        }
        if current < desired {
            parts.push(format!(
                "{} node(s) that should run it have no Pod",
                desired - current
            ));
        }
        if misscheduled > 0 {
            parts.push(format!(
                "{misscheduled} Pod(s) run on nodes that should not run it"
            ));
        }
        let starting = misscheduled == 0
            && current >= desired
            && !unready.is_empty()
            && unready.iter().all(|(_, p)| pod::is_starting(p, now));
        let mut d = Draft::new(RuleId::DaemonSetPodsUnavailable, r.clone())
            .message(format!("DaemonSet {}: {}", r.name, parts.join("; ")))
            .evidence(format!(
                "status: desiredNumberScheduled {desired}, currentNumberScheduled {current}, numberReady {ready}, numberAvailable {}, updatedNumberScheduled {}, numberMisscheduled {misscheduled}",
                st.number_available.unwrap_or(0),
                st.updated_number_scheduled.unwrap_or(0),
            ))
            .summary("A node-level agent that is not ready on a node usually means that node misses what the agent provides (logs, metrics, networking, storage). The Pods' own findings say why.")
            .read_only(
                "List the DaemonSet's Pods with their nodes",
                format!("kubectl get pods -n {ns} -l {} -o wide", selector_arg(&ds.spec.selector)),
            )
            .read_only(
                "Read the DaemonSet's events",
                format!("kubectl describe daemonset {} -n {ns}", r.name),
            );
        if starting {
            d = d.severity(Severity::Info);
        }
        for l in not_ready_lines(&unready, 5) {
            d = d.evidence(l);
        }
        for (pr, _) in &unready {
            d = d.scope(pr.clone());
        }
        if misscheduled > 0 {
            // Pods whose node no longer matches the template's nodeSelector.
            let sel = ds
                .spec
                .template
                .spec
                .as_ref()
                .and_then(|s| s.node_selector.clone())
                .unwrap_or_default();
            for (pr, p) in &pods {
                let Some(node) = p.spec.as_ref().and_then(|s| s.node_name.as_deref()) else {
                    continue;
                };
                let Some(n) = ctx.store.get::<Node>("", node) else {
                    continue;
                };
                let labels = n.metadata.labels.clone().unwrap_or_default();
                let unmet: Vec<String> = sel
                    .iter()
                    .filter(|(k, v)| labels.get(*k) != Some(*v))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                if !unmet.is_empty() {
                    d = d.evidence(format!(
                        "Pod {} runs on node {node}, which lacks the nodeSelector label(s) {}",
                        pr.name,
                        unmet.join(", ")
                    ));
                }
            }
        }
        out.push(d);
    }
}
