//! ControllerNotProgressing: a workload whose spec changed but whose controller has
//! not observed the change (metadata.generation > status.observedGeneration).

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::Risk;
use crate::k8s::{duration, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};
use crate::selector::Selector;

/// A lag shorter than this is a controller at work, not a stuck one.
pub(crate) const LAG_SECS: i64 = 300;

struct Lag {
    generation: i64,
    observed: Option<i64>,
    /// The newest timestamp on the workload: its status was last written then at the latest.
    since: Option<Timestamp>,
    controller: &'static str,
}

fn newest(
    meta: &ObjectMeta,
    more: impl IntoIterator<Item = Option<Timestamp>>,
) -> Option<Timestamp> {
    std::iter::once(duration::time(meta.creation_timestamp.as_ref()))
        .chain(more)
        .flatten()
        .max()
}

fn lag_of(ctx: &RuleContext, r: &ObjRef) -> Option<Lag> {
    let (meta, observed, times, controller): (
        &ObjectMeta,
        Option<i64>,
        Vec<Option<Timestamp>>,
        &str,
    ) = match r.kind {
        Kind::Deployment => {
            let d = ctx.store.get_ref::<Deployment>(r)?;
            let st = d.status.as_ref();
            let times = st
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .flat_map(|c| {
                    [
                        duration::time(c.last_update_time.as_ref()),
                        duration::time(c.last_transition_time.as_ref()),
                    ]
                })
                .collect();
            (
                &d.metadata,
                st.and_then(|s| s.observed_generation),
                times,
                "deployment",
            )
        }
        Kind::StatefulSet => {
            let s = ctx.store.get_ref::<StatefulSet>(r)?;
            let st = s.status.as_ref();
            let times = st
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .map(|c| duration::time(c.last_transition_time.as_ref()))
                .collect();
            (
                &s.metadata,
                st.and_then(|s| s.observed_generation),
                times,
                "statefulset",
            )
        }
        Kind::DaemonSet => {
            let s = ctx.store.get_ref::<DaemonSet>(r)?;
            let st = s.status.as_ref();
            let times = st
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .map(|c| duration::time(c.last_transition_time.as_ref()))
                .collect();
            (
                &s.metadata,
                st.and_then(|s| s.observed_generation),
                times,
                "daemonset",
            )
        }
        Kind::ReplicaSet => {
            let s = ctx.store.get_ref::<ReplicaSet>(r)?;
            let st = s.status.as_ref();
            let times = st
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .map(|c| duration::time(c.last_transition_time.as_ref()))
                .collect();
            (
                &s.metadata,
                st.and_then(|s| s.observed_generation),
                times,
                "replicaset",
            )
        }
        _ => return None,
    };
    let generation = meta.generation?;
    if observed.is_some_and(|o| o >= generation) {
        return None;
    }
    // Events about the workload are controller activity too.
    let event_times = ctx.events(r).into_iter().map(|e| e.time);
    Some(Lag {
        generation,
        observed,
        since: newest(meta, times.into_iter().chain(event_times)),
        controller,
    })
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let now = ctx.now();
    let kinds = [
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::ReplicaSet,
    ];
    let refs: Vec<ObjRef> = kinds
        .iter()
        .flat_map(|k| ctx.graph.subjects(*k).cloned().collect::<Vec<_>>())
        .collect();
    for r in refs {
        let Some(lag) = lag_of(ctx, &r) else { continue };
        let Some(since) = lag.since else { continue };
        let age = duration::seconds(since, now);
        if age <= LAG_SECS {
            continue;
        }
        let observed = lag.observed.map_or("none".to_owned(), |o| o.to_string());
        let mut d = Draft::new(RuleId::ControllerNotProgressing, r.clone())
            .message(format!(
                "{} {} has generation {} but its controller last observed generation {observed}, and nothing about it changed for {}: the {} controller in kube-controller-manager is not running or is stuck",
                r.kind, r.name, lag.generation, duration::compact(age), lag.controller
            ))
            .evidence(format!(
                "metadata.generation {}, status.observedGeneration {observed}",
                lag.generation
            ))
            .evidence(format!(
                "newest timestamp on the object: {since} ({} before {now})",
                duration::compact(age)
            ))
            .seen(Some(since), None)
            .summary("No controller is acting on the object, so nothing about it will change until kube-controller-manager runs (and holds its leader lease) again. On managed clusters this is the provider's control plane: escalate.")
            .read_only(
                "Check the controller-manager Pods (self-managed control planes)",
                "kubectl get pods -n kube-system -l component=kube-controller-manager -o wide",
            )
            .read_only(
                "See which controller-manager holds the leader lease and when it renewed it",
                "kubectl get lease kube-controller-manager -n kube-system -o yaml",
            )
            .step(
                "Escalate to whoever runs the control plane with this evidence",
                None,
                Risk::ReadOnly,
            );
        let cm = Selector::from_map([("component", "kube-controller-manager")]);
        let cms: Vec<&std::sync::Arc<Pod>> = ctx.store.select_pods("kube-system", &cm);
        for p in cms {
            let name = p.metadata.name.as_deref().unwrap_or("");
            let state = if pod::is_ready(p) {
                "Ready"
            } else {
                "not Ready"
            };
            d = d.evidence(format!("kube-system/{name} is {state}"));
        }
        out.push(d);
    }
}
