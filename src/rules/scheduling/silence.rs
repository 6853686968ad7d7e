//! SchedulerNotRunning: Pods Pending for a while that no scheduler has looked at (no
//! PodScheduled condition, no scheduling event), one finding per scheduler name.

use std::collections::BTreeMap;

use crate::api::Risk;
use crate::k8s::duration;
use crate::model::ObjRef;
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::selector::Selector;

/// A Pod no scheduler has looked at.
pub(super) struct UnseenPod {
    /// The Pod.
    pub(super) pod: ObjRef,
    /// Its controller, else the Pod.
    pub(super) group: ObjRef,
    /// How long it has existed, in seconds.
    pub(super) age_secs: i64,
}

/// Unseen Pods by the scheduler they name (`spec.schedulerName`).
pub(super) type UnseenPods = BTreeMap<String, Vec<UnseenPod>>;

/// One finding per scheduler that has not looked at its Pods.
pub(super) fn scheduler_not_running(ctx: &RuleContext, unseen: UnseenPods, out: &mut Vec<Draft>) {
    for (scheduler, pods) in unseen {
        let Some(first) = pods.first() else {
            continue;
        };
        let refs: Vec<ObjRef> = pods.iter().map(|unseen| unseen.pod.clone()).collect();
        let oldest = pods.iter().map(|unseen| unseen.age_secs).max().unwrap_or(0);
        let default = scheduler == "default-scheduler";
        let who = if default {
            "the scheduler".to_owned()
        } else {
            format!("scheduler {scheduler:?}")
        };
        let mut draft = Draft::new(RuleId::SchedulerNotRunning, first.group.clone())
            .discriminator(scheduler.clone())
            .message(format!(
                "{} Pod(s) have been Pending for up to {} and {who} has not looked at them (no PodScheduled condition, no scheduling event): is {who} running?",
                refs.len(),
                duration::compact(oldest)
            ))
            .affected(&refs)
            .evidence(format!(
                "spec.schedulerName {scheduler}; no nodeName, no PodScheduled condition, no FailedScheduling/Scheduled event"
            ))
            .summary(if default {
                "Check kube-scheduler: its Pods (static Pods on the control plane), its logs and its leader-election lease. On managed clusters, contact the provider."
            } else {
                "The Pods name a custom scheduler: check that it is deployed and running, or remove schedulerName to use the default scheduler."
            });
        if default {
            let scheduler_pods: Vec<String> = ctx
                .store
                .select_pods(
                    "kube-system",
                    &Selector::from_map([("component", "kube-scheduler")]),
                )
                .into_iter()
                .map(|pod| {
                    let ready = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                        .map(|c| c.status.clone())
                        .unwrap_or_else(|| "?".to_owned());
                    format!(
                        "{}: phase {}, Ready={ready}",
                        pod.metadata.name.as_deref().unwrap_or(""),
                        pod.status
                            .as_ref()
                            .and_then(|s| s.phase.as_deref())
                            .unwrap_or("?")
                    )
                })
                .collect();
            for scheduler_pod in scheduler_pods {
                draft = draft.evidence(format!("kube-scheduler Pod {scheduler_pod}"));
            }
            draft = draft
                .step(
                    "Check the scheduler Pods",
                    Some(
                        "kubectl get pods -n kube-system -l component=kube-scheduler -o wide"
                            .to_owned(),
                    ),
                    Risk::ReadOnly,
                )
                .step(
                    "Read the scheduler's logs",
                    Some(
                        "kubectl logs -n kube-system -l component=kube-scheduler --tail=100"
                            .to_owned(),
                    ),
                    Risk::ReadOnly,
                )
                .step(
                    "Check who holds the scheduler's leader lease and when it was renewed",
                    Some("kubectl get lease kube-scheduler -n kube-system -o yaml".to_owned()),
                    Risk::ReadOnly,
                );
        } else {
            draft = draft.step(
                format!("Find the {scheduler} deployment"),
                Some(format!("kubectl get pods -A | grep -i {scheduler}")),
                Risk::ReadOnly,
            );
        }
        out.push(draft);
    }
}
