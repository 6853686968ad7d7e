//! Deployments: revisions (new and old ReplicaSets), RolloutStuck, ReplicasUnavailable.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};

use super::util::{REVISION, annotation, images, not_ready_lines, owned, pods_of, selector_arg};
use crate::api::{Risk, Severity};
use crate::k8s::{duration, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

/// One ReplicaSet of a Deployment, with its revision.
#[derive(Clone)]
pub(crate) struct Revision<'a> {
    pub r: ObjRef,
    pub rs: &'a Arc<ReplicaSet>,
    /// `deployment.kubernetes.io/revision`, 0 when absent or unparsable.
    pub revision: i64,
    pub pods: Vec<(ObjRef, &'a Arc<Pod>)>,
}

impl Revision<'_> {
    pub(crate) fn desired(&self) -> i32 {
        self.rs.spec.replicas.unwrap_or(1)
    }
    pub(crate) fn available(&self) -> i32 {
        self.rs
            .status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
    }
    pub(crate) fn ready(&self) -> i32 {
        self.rs
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
    }
    pub(crate) fn current(&self) -> i32 {
        self.rs.status.as_ref().map_or(0, |s| s.replicas)
    }
    fn describe(&self) -> String {
        format!(
            "ReplicaSet {} (revision {}): {} desired, {} current, {} ready, {} available",
            self.r.name,
            self.revision,
            self.desired(),
            self.current(),
            self.ready(),
            self.available()
        )
    }
}

/// The ReplicaSets of a Deployment, oldest revision first.
pub(crate) fn revisions<'a>(ctx: &RuleContext<'a>, d: &Deployment) -> Vec<Revision<'a>> {
    let mut out: Vec<Revision<'a>> = owned::<ReplicaSet>(ctx.store, d.metadata.uid.as_deref())
        .into_iter()
        .map(|(r, rs)| Revision {
            revision: annotation(&rs.metadata, REVISION)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            pods: pods_of(ctx.store, rs.metadata.uid.as_deref()),
            r,
            rs,
        })
        .collect();
    out.sort_by(|a, b| a.revision.cmp(&b.revision).then(a.r.cmp(&b.r)));
    out
}

/// The template without the `pod-template-hash` label the controller adds to ReplicaSets.
fn normalized(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(l) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        l.remove("pod-template-hash");
    }
    t
}

/// The index of the new ReplicaSet: the one of the Deployment's current revision,
/// else the one whose template is the Deployment's, else the one the Progressing
/// condition names, else the newest.
pub(crate) fn new_revision(
    d: &Deployment,
    revs: &[Revision],
    progressing: Option<&str>,
) -> Option<usize> {
    if revs.is_empty() {
        return None;
    }
    if let Some(rev) = annotation(&d.metadata, REVISION).and_then(|v| v.parse::<i64>().ok())
        && let Some(i) = revs.iter().position(|r| r.revision == rev)
    {
        return Some(i);
    }
    let want = normalized(&d.spec.template);
    if let Some(i) = revs.iter().position(|r| {
        r.rs.spec
            .template
            .as_ref()
            .is_some_and(|t| normalized(t) == want)
    }) {
        return Some(i);
    }
    if let Some(name) = progressing.and_then(quoted_replicaset)
        && let Some(i) = revs.iter().position(|r| r.r.name == name)
    {
        return Some(i);
    }
    Some(revs.len() - 1)
}

/// `ReplicaSet "web-7d4f" has timed out progressing.` → `web-7d4f`.
fn quoted_replicaset(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("ReplicaSet \"")?;
    rest.split('"').next().filter(|s| !s.is_empty())
}

pub(crate) fn condition<'a>(d: &'a Deployment, type_: &str) -> Option<&'a DeploymentCondition> {
    d.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_.as_deref() == Some(type_))
}

fn cond_line(c: &DeploymentCondition) -> String {
    let since = duration::time(c.last_transition_time.as_ref())
        .map(|t| format!(" since {t}"))
        .unwrap_or_default();
    format!(
        "condition {}={} reason {}{since}: {}",
        c.type_.as_deref().unwrap_or("?"),
        c.status.as_deref().unwrap_or("?"),
        c.reason.as_deref().unwrap_or("-"),
        c.message.as_deref().unwrap_or("")
    )
}

/// Whether the previous revision is known to have run well: its Pods are (still)
/// all available. A revision scaled to zero cannot be judged from the cluster.
pub(crate) enum PreviousHealth {
    Healthy,
    Unhealthy(String),
    Unknown(String),
}

pub(crate) fn previous_health(prev: &Revision) -> PreviousHealth {
    let desired = prev.desired();
    let available = prev.available();
    if desired == 0 || prev.current() == 0 {
        return PreviousHealth::Unknown(format!(
            "revision {} ({}) is scaled to 0, so its health cannot be read from the cluster",
            prev.revision, prev.r.name
        ));
    }
    let crashing = prev.pods.iter().any(|(_, p)| {
        p.status
            .iter()
            .flat_map(|s| s.container_statuses.iter().flatten())
            .any(|c| {
                c.state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("CrashLoopBackOff")
            })
    });
    if available >= desired && available > 0 && !crashing {
        PreviousHealth::Healthy
    } else {
        PreviousHealth::Unhealthy(format!(
            "revision {} ({}) has {available} of {desired} Pods available",
            prev.revision, prev.r.name
        ))
    }
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for r in ctx.graph.subjects(Kind::Deployment) {
        let Some(d) = ctx.store.get_ref::<Deployment>(r) else {
            continue;
        };
        let revs = revisions(ctx, d);
        rollout_stuck(r, d, &revs, out);
        replicas_unavailable(ctx, r, d, &revs, out);
    }
}

fn image_changes(prev: &Revision, new: &Revision) -> Vec<String> {
    let (Some(pt), Some(nt)) = (
        prev.rs.spec.template.as_ref(),
        new.rs.spec.template.as_ref(),
    ) else {
        return Vec::new();
    };
    let old = images(pt);
    let mut out = Vec::new();
    for (c, img) in images(nt) {
        match old.iter().find(|(oc, _)| oc == &c) {
            Some((_, oimg)) if oimg != &img => out.push(format!(
                "container {c}: image {oimg} (revision {}) -> {img} (revision {})",
                prev.revision, new.revision
            )),
            None => out.push(format!(
                "container {c} ({img}) is new in revision {}",
                new.revision
            )),
            _ => {}
        }
    }
    if out.is_empty() && normalized(pt) != normalized(nt) {
        out.push(format!(
            "revision {} changed the Pod template but not the images (configuration, env, probes, resources...)",
            new.revision
        ));
    }
    out
}

fn rollout_stuck(r: &ObjRef, d: &Deployment, revs: &[Revision], out: &mut Vec<Draft>) {
    let Some(c) = condition(d, "Progressing") else {
        return;
    };
    if c.status.as_deref() != Some("False")
        || c.reason.as_deref() != Some("ProgressDeadlineExceeded")
    {
        return;
    }
    let ns = r.ns();
    let deadline = d.spec.progress_deadline_seconds.unwrap_or(600);
    let new_i = new_revision(d, revs, c.message.as_deref());
    let new = new_i.map(|i| &revs[i]);
    let prev = new.and_then(|n| {
        revs.iter()
            .filter(|x| x.revision < n.revision && x.r != n.r)
            .max_by_key(|x| x.revision)
    });
    let desired = d.spec.replicas.unwrap_or(1);
    let st = d.status.as_ref();
    let get = |f: fn(&k8s_openapi::api::apps::v1::DeploymentStatus) -> Option<i32>| {
        st.and_then(f).unwrap_or(0)
    };
    let mut msg = format!(
        "Deployment {} exceeded its progress deadline ({deadline}s)",
        r.name
    );
    if let Some(n) = new {
        msg.push_str(&format!(
            ": new ReplicaSet {} (revision {}) has {} of {} Pods available",
            n.r.name,
            n.revision,
            n.available(),
            desired
        ));
    }
    let health = prev.map(previous_health);
    match (prev, &health) {
        (Some(p), Some(PreviousHealth::Healthy)) => msg.push_str(&format!(
            "; previous revision {} ({}) is healthy with {} available Pods and is a rollback candidate",
            p.revision,
            p.r.name,
            p.available()
        )),
        (Some(_), Some(PreviousHealth::Unhealthy(why))) => {
            msg.push_str(&format!("; the previous revision is not healthy either: {why}"))
        }
        (Some(_), Some(PreviousHealth::Unknown(why))) => msg.push_str(&format!("; {why}")),
        _ => msg.push_str("; there is no previous revision to roll back to"),
    }
    let mut dr = Draft::new(RuleId::RolloutStuck, r.clone())
        .message(msg)
        .evidence(cond_line(c))
        .evidence(format!(
            "spec.replicas {desired}, progressDeadlineSeconds {deadline}; status: {} updated, {} ready, {} available, {} unavailable",
            get(|s| s.updated_replicas),
            get(|s| s.ready_replicas),
            get(|s| s.available_replicas),
            get(|s| s.unavailable_replicas),
        ))
        .seen(duration::time(c.last_transition_time.as_ref()), duration::time(c.last_update_time.as_ref()))
        .edge("Deployment -> ReplicaSet")
        .summary(
            "The new revision's Pods never became available. Exceeding the deadline does not stop the rollout: fix what keeps the new Pods from becoming ready, or roll back to a revision known to be good.",
        );
    if let Some(n) = new {
        dr = dr
            .evidence(format!("new {}", n.describe()))
            .scope(n.r.clone());
        for (pr, _) in n.pods.iter().filter(|(_, p)| pod::is_active(p)) {
            dr = dr.scope(pr.clone());
        }
        for l in not_ready_lines(&n.pods, 4) {
            dr = dr.evidence(l);
        }
        if let Some(p) = prev {
            dr = dr.evidence(format!("previous {}", p.describe()));
            for l in image_changes(p, n) {
                dr = dr.evidence(l);
            }
        }
    }
    if let Some(Some(PreviousHealth::Unhealthy(why) | PreviousHealth::Unknown(why))) =
        prev.map(|_| &health).map(Option::as_ref)
    {
        dr = dr.evidence(format!("no rollback offered: {why}"));
    }
    let target = r.kubectl();
    dr = dr
        .read_only(
            "Watch the rollout's state",
            format!("kubectl rollout status {target} -n {ns} --timeout=10s"),
        )
        .read_only(
            "List the revisions and what changed",
            format!("kubectl rollout history {target} -n {ns}"),
        );
    if let Some(n) = new {
        dr = dr.read_only(
            format!(
                "See why the Pods of revision {} are not available",
                n.revision
            ),
            format!("kubectl describe replicaset {} -n {ns}", n.r.name),
        );
    }
    match (prev, health) {
        (Some(p), Some(PreviousHealth::Healthy)) => {
            dr = dr.step(
                format!(
                    "Roll back to revision {} ({}), which is running healthy Pods. A rollback only changes the Pod template: it cannot undo data migrations or other side effects of the new version",
                    p.revision, p.r.name
                ),
                Some(format!(
                    "kubectl rollout undo {target} -n {ns} --to-revision={}",
                    p.revision
                )),
                Risk::Reversible,
            );
        }
        (Some(p), Some(_)) => {
            dr = dr.read_only(
                format!(
                    "Inspect revision {} before considering a rollback: it is not known to be good",
                    p.revision
                ),
                format!(
                    "kubectl rollout history {target} -n {ns} --revision={}",
                    p.revision
                ),
            );
        }
        _ => {}
    }
    out.push(dr);
}

fn replicas_unavailable(
    ctx: &RuleContext,
    r: &ObjRef,
    d: &Deployment,
    revs: &[Revision],
    out: &mut Vec<Draft>,
) {
    let desired = d.spec.replicas.unwrap_or(1);
    let st = d.status.as_ref();
    let available = st.and_then(|s| s.available_replicas).unwrap_or(0);
    if desired == 0 || available >= desired {
        return;
    }
    let ns = r.ns();
    let now = ctx.now();
    let pods: Vec<(ObjRef, &Arc<Pod>)> = revs.iter().flat_map(|x| x.pods.clone()).collect();
    let unready: Vec<&(ObjRef, &Arc<Pod>)> = pods
        .iter()
        .filter(|(_, p)| pod::is_active(p) && !pod::is_ready(p))
        .collect();
    let progressing = condition(d, "Progressing");
    let available_cond = condition(d, "Available");
    let rolling = progressing.is_some_and(|c| {
        c.status.as_deref() == Some("True")
            && matches!(
                c.reason.as_deref(),
                Some("ReplicaSetUpdated" | "NewReplicaSetCreated" | "FoundNewReplicaSet")
            )
    });
    let min_available = available_cond.is_some_and(|c| c.status.as_deref() == Some("True"));
    let missing = desired - available;
    let all_starting = !unready.is_empty()
        && unready.iter().all(|(_, p)| pod::is_starting(p, now))
        && (unready.len() as i32) >= missing;
    let paused = d.spec.paused.unwrap_or(false);
    let (severity, why) = if rolling && min_available {
        (
            Severity::Info,
            " while a rollout is in progress within its deadline and minimum availability holds",
        )
    } else if all_starting {
        (Severity::Info, ": the missing Pods are still starting")
    } else {
        (Severity::Warning, "")
    };
    let mut dr = Draft::new(RuleId::ReplicasUnavailable, r.clone())
        .severity(severity)
        .message(format!(
            "Deployment {} has {available} of {desired} replicas available{why}",
            r.name
        ))
        .evidence(format!(
            "spec.replicas {desired}; status: {} current, {} updated, {} ready, {available} available, {} unavailable",
            st.and_then(|s| s.replicas).unwrap_or(0),
            st.and_then(|s| s.updated_replicas).unwrap_or(0),
            st.and_then(|s| s.ready_replicas).unwrap_or(0),
            st.and_then(|s| s.unavailable_replicas).unwrap_or(missing),
        ))
        .summary("The Pods' own findings say why they are not available.");
    if paused {
        dr = dr.evidence("spec.paused is true: the rollout is paused");
    }
    for c in [available_cond, progressing].into_iter().flatten() {
        dr = dr.evidence(cond_line(c));
    }
    if let Some(c) = condition(d, "ReplicaFailure") {
        dr = dr.evidence(cond_line(c));
    }
    for x in revs.iter().filter(|x| x.current() > 0 || x.desired() > 0) {
        dr = dr.scope(x.r.clone());
    }
    let owned_pods: Vec<(ObjRef, &Arc<Pod>)> = unready.iter().map(|x| (*x).clone()).collect();
    for l in not_ready_lines(&owned_pods, 5) {
        dr = dr.evidence(l);
    }
    for (pr, _) in &unready {
        dr = dr.scope(pr.clone());
    }
    if severity > Severity::Info
        && let Some(c) = available_cond.filter(|c| c.status.as_deref() == Some("False"))
    {
        dr = dr.seen(duration::time(c.last_transition_time.as_ref()), None);
    }
    dr = dr
        .read_only(
            "List the Deployment's Pods and where they run",
            format!(
                "kubectl get pods -n {ns} -l {} -o wide",
                selector_arg(&d.spec.selector)
            ),
        )
        .read_only(
            "Read the Deployment's conditions and events",
            format!("kubectl describe deployment {} -n {ns}", r.name),
        );
    out.push(dr);
}
