//! SchedulerNotRunning: Pods nobody has looked at.

use std::collections::BTreeMap;

use crate::api::Risk;
use crate::model::ObjRef;
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

use super::human_age;

pub(super) fn scheduler_not_running(
    ctx: &RuleContext,
    silent: BTreeMap<String, Vec<(ObjRef, ObjRef, i64)>>,
    out: &mut Vec<Draft>,
) {
    for (scheduler, pods) in silent {
        let Some((_, group, _)) = pods.first() else {
            continue;
        };
        let refs: Vec<ObjRef> = pods.iter().map(|(p, _, _)| p.clone()).collect();
        let oldest = pods.iter().map(|(_, _, a)| *a).max().unwrap_or(0);
        let default = scheduler == "default-scheduler";
        let who = if default {
            "the scheduler".to_owned()
        } else {
            format!("scheduler {scheduler:?}")
        };
        let mut d = Draft::new(RuleId::SchedulerNotRunning, group.clone())
            .discriminator(scheduler.clone())
            .message(format!(
                "{} Pod(s) have been Pending for up to {} and {who} has not looked at them (no PodScheduled condition, no scheduling event): is {who} running?",
                refs.len(),
                human_age(oldest)
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
            let sched_pods: Vec<String> = ctx
                .store
                .select_pods(
                    "kube-system",
                    &crate::selector::Selector::from_map([("component", "kube-scheduler")]),
                )
                .into_iter()
                .map(|p| {
                    let ready = p
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"))
                        .map(|c| c.status.clone())
                        .unwrap_or_else(|| "?".to_owned());
                    format!(
                        "{}: phase {}, Ready={ready}",
                        p.metadata.name.as_deref().unwrap_or(""),
                        p.status
                            .as_ref()
                            .and_then(|s| s.phase.as_deref())
                            .unwrap_or("?")
                    )
                })
                .collect();
            for s in sched_pods {
                d = d.evidence(format!("kube-scheduler Pod {s}"));
            }
            d = d
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
            d = d.step(
                format!("Find the {scheduler} deployment"),
                Some(format!("kubectl get pods -A | grep -i {scheduler}")),
                Risk::ReadOnly,
            );
        }
        out.push(d);
    }
}
