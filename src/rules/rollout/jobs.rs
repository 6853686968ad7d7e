//! Jobs and CronJobs: JobFailed, CronJobFailing, CronJobSuspended, CronJobInvalidSchedule.

use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{CronJob, Job, JobCondition};
use k8s_openapi::api::core::v1::Pod;

use super::cron;
use super::util::{annotation, owned, pods_of};
use crate::api::{Risk, Severity};
use crate::k8s::{duration, pod};
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::{Draft, RuleContext};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Complete,
    Failed,
    Running,
}

fn condition<'a>(j: &'a Job, type_: &str) -> Option<&'a JobCondition> {
    j.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

pub(crate) fn outcome(j: &Job) -> Outcome {
    if condition(j, "Complete").is_some() || condition(j, "SuccessCriteriaMet").is_some() {
        Outcome::Complete
    } else if condition(j, "Failed").is_some() || condition(j, "FailureTarget").is_some() {
        Outcome::Failed
    } else {
        Outcome::Running
    }
}

/// When the Job was scheduled (CronJob annotation), else created.
fn scheduled_at(j: &Job) -> Option<Timestamp> {
    annotation(
        &j.metadata,
        "batch.kubernetes.io/cronjob-scheduled-timestamp",
    )
    .and_then(|v| v.parse::<Timestamp>().ok())
    .or_else(|| duration::time(j.metadata.creation_timestamp.as_ref()))
}

/// The Jobs of a CronJob, newest first.
fn jobs_of<'a>(ctx: &RuleContext<'a>, cj: &CronJob) -> Vec<(ObjRef, &'a Arc<Job>)> {
    let mut jobs = owned::<Job>(ctx.store, cj.metadata.uid.as_deref());
    jobs.sort_by(|a, b| {
        scheduled_at(b.1)
            .cmp(&scheduled_at(a.1))
            .then(b.0.name.cmp(&a.0.name))
    });
    jobs
}

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    for r in ctx.graph.subjects(Kind::Job) {
        if let Some(j) = ctx.store.get_ref::<Job>(r) {
            job_failed(ctx, r, j, out);
        }
    }
    for r in ctx.graph.subjects(Kind::CronJob) {
        if let Some(cj) = ctx.store.get_ref::<CronJob>(r) {
            cronjob(ctx, r, cj, out);
        }
    }
}

/// The newest failed Pod's container termination, for evidence.
fn failed_pod_lines(pods: &[(ObjRef, &Arc<Pod>)]) -> Vec<String> {
    let mut failed: Vec<&(ObjRef, &Arc<Pod>)> = pods
        .iter()
        .filter(|(_, p)| {
            p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
                || p.status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
                    .any(|c| c.restart_count > 0)
        })
        .collect();
    failed.sort_by_key(|(_, p)| {
        std::cmp::Reverse(duration::time(p.metadata.creation_timestamp.as_ref()))
    });
    failed
        .iter()
        .take(3)
        .map(|(r, p)| format!("Pod {}: {}", r.name, pod::describe_state(p)))
        .collect()
}

fn job_failed(ctx: &RuleContext, r: &ObjRef, j: &Job, out: &mut Vec<Draft>) {
    let Some(c) = condition(j, "Failed").or_else(|| condition(j, "FailureTarget")) else {
        return;
    };
    let ns = r.ns();
    let spec = j.spec.as_ref();
    let st = j.status.as_ref();
    let failed = st.and_then(|s| s.failed).unwrap_or(0);
    let succeeded = st.and_then(|s| s.succeeded).unwrap_or(0);
    let reason = c.reason.as_deref().unwrap_or("Failed");
    let message = c.message.as_deref().unwrap_or("");
    let backoff = spec.and_then(|s| s.backoff_limit).unwrap_or(6);
    let pods = pods_of(ctx.store, j.metadata.uid.as_deref());
    // A failed Job of a CronJob that has run again since is history.
    let cron_owner = j
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "CronJob" && o.controller == Some(true));
    let superseded = cron_owner
        .and_then(|o| ctx.store.get::<CronJob>(ns, &o.name))
        .is_some_and(|cj| {
            let mine = scheduled_at(j);
            jobs_of(ctx, cj)
                .iter()
                .any(|(_, other)| scheduled_at(other) > mine && outcome(other) != Outcome::Running)
        });
    let why = match reason {
        "BackoffLimitExceeded" => {
            format!("its Pods failed {failed} time(s), reaching backoffLimit {backoff}")
        }
        "DeadlineExceeded" => format!(
            "it ran longer than activeDeadlineSeconds {}",
            spec.and_then(|s| s.active_deadline_seconds)
                .map_or("?".to_owned(), |d| d.to_string())
        ),
        "PodFailurePolicy" => {
            "a Pod failure matched a FailJob rule of its podFailurePolicy".to_owned()
        }
        "MaxFailedIndexesExceeded" | "FailedIndexes" => "too many of its indexes failed".to_owned(),
        other => format!("reason {other}"),
    };
    let mut d = Draft::new(RuleId::JobFailed, r.clone())
        .message(format!("Job {} failed: {why}", r.name))
        .evidence(format!(
            "condition Failed=True reason {reason}{}: {message}",
            duration::time(c.last_transition_time.as_ref())
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ))
        .evidence(format!(
            "status: {failed} failed, {succeeded} succeeded; spec: backoffLimit {backoff}, completions {}, parallelism {}{}",
            spec.and_then(|s| s.completions).unwrap_or(1),
            spec.and_then(|s| s.parallelism).unwrap_or(1),
            spec.and_then(|s| s.active_deadline_seconds)
                .map(|d| format!(", activeDeadlineSeconds {d}"))
                .unwrap_or_default()
        ))
        .seen(
            st.and_then(|s| duration::time(s.start_time.as_ref())),
            duration::time(c.last_transition_time.as_ref()),
        )
        .summary(match reason {
            "DeadlineExceeded" => "The Job was stopped at its deadline: find out why it runs slowly (or waits), or give it a longer activeDeadlineSeconds.",
            _ => "Read the failed Pods' logs: the Job's Pods exited with errors until the controller gave up.",
        })
        .read_only(
            "Read the logs of the Job's Pods",
            format!("kubectl logs -n {ns} -l batch.kubernetes.io/job-name={} --all-containers --tail=100", r.name),
        )
        .read_only("Read the Job's events", format!("kubectl describe job {} -n {ns}", r.name));
    for e in ctx.events(r) {
        if e.is_warning()
            && matches!(
                e.reason.as_str(),
                "BackoffLimitExceeded"
                    | "DeadlineExceeded"
                    | "PodFailurePolicy"
                    | "MaxFailedIndexesExceeded"
            )
        {
            d = d.event(e);
        }
    }
    for l in failed_pod_lines(&pods) {
        d = d.evidence(l);
    }
    for (pr, _) in &pods {
        d = d.scope(pr.clone());
    }
    if superseded {
        d = d.severity(Severity::Info).message(format!(
            "Job {} failed ({why}); its CronJob has run again since",
            r.name
        ));
    }
    match cron_owner {
        Some(o) => {
            d = d.step(
                format!(
                    "After fixing the cause, run the CronJob {} once by hand",
                    o.name
                ),
                Some(format!(
                    "kubectl create job --from=cronjob/{} {}-manual -n {ns}",
                    o.name, o.name
                )),
                Risk::Reversible,
            );
        }
        None => {
            d = d.step(
                "A Job's Pod template cannot be changed: after saving the logs and fixing the manifest, delete the failed Job and create it again",
                Some(format!("kubectl delete job {} -n {ns}", r.name)),
                Risk::Disruptive,
            );
        }
    }
    out.push(d);
}

fn cronjob(ctx: &RuleContext, r: &ObjRef, cj: &CronJob, out: &mut Vec<Draft>) {
    let ns = r.ns();
    let spec = &cj.spec;
    let st = cj.status.as_ref();
    // Schedule.
    let parsed = cron::parse(&spec.schedule);
    let conflict = matches!(&parsed, Ok(s) if s.time_zone.is_some()) && spec.time_zone.is_some();
    let schedule_events: Vec<_> = ctx
        .events(r)
        .into_iter()
        .filter(|e| {
            e.is_warning()
                && matches!(
                    e.reason.as_str(),
                    "UnparseableSchedule" | "InvalidSchedule" | "UnknownTimeZone"
                )
        })
        .collect();
    if parsed.is_err() || conflict {
        let why = match &parsed {
            Err(e) => e.0.clone(),
            Ok(_) => {
                "cannot use both the timeZone field and a TZ/CRON_TZ prefix in schedule".to_owned()
            }
        };
        let mut d = Draft::new(RuleId::CronJobInvalidSchedule, r.clone())
            .message(format!(
                "CronJob {} has a schedule that does not parse ({:?}): it never creates a Job",
                r.name, spec.schedule
            ))
            .evidence(format!("spec.schedule: {:?}", spec.schedule))
            .evidence(why)
            .summary("Write the schedule as five cron fields (minute hour day-of-month month day-of-week) or one of @hourly/@daily/@weekly/@monthly/@yearly; put the time zone in spec.timeZone.")
            .step(
                "Correct spec.schedule",
                Some(format!(
                    "kubectl patch cronjob {} -n {ns} -p '{{\"spec\":{{\"schedule\":\"*/5 * * * *\"}}}}'  # your schedule",
                    r.name
                )),
                Risk::Reversible,
            );
        if let Some(tz) = &spec.time_zone {
            d = d.evidence(format!("spec.timeZone: {tz}"));
        }
        for e in &schedule_events {
            d = d.event(e);
        }
        out.push(d);
    }
    // Suspended.
    if spec.suspend == Some(true) {
        let last = st.and_then(|s| duration::time(s.last_schedule_time.as_ref()));
        out.push(
            Draft::new(RuleId::CronJobSuspended, r.clone())
                .message(format!(
                    "CronJob {} is suspended: no new Jobs are created{}",
                    r.name,
                    last.map(|t| format!(" (last scheduled at {t})"))
                        .unwrap_or_default()
                ))
                .evidence("spec.suspend: true")
                .summary("Resume it when it should run again; with a startingDeadlineSeconds, runs missed while suspended are skipped.")
                .step(
                    "Resume the CronJob",
                    Some(format!(
                        "kubectl patch cronjob {} -n {ns} -p '{{\"spec\":{{\"suspend\":false}}}}'",
                        r.name
                    )),
                    Risk::Reversible,
                ),
        );
    }
    // Failing: the most recent finished Jobs failed.
    let jobs = jobs_of(ctx, cj);
    let finished: Vec<&(ObjRef, &Arc<Job>)> = jobs
        .iter()
        .filter(|(_, j)| outcome(j) != Outcome::Running)
        .collect();
    let streak: Vec<&&(ObjRef, &Arc<Job>)> = finished
        .iter()
        .take_while(|(_, j)| outcome(j) == Outcome::Failed)
        .collect();
    if streak.is_empty() {
        return;
    }
    let last_success = st.and_then(|s| duration::time(s.last_successful_time.as_ref()));
    let mut d = Draft::new(RuleId::CronJobFailing, r.clone())
        .message(format!(
            "CronJob {}: the {} most recent finished Job(s) failed{}",
            r.name,
            streak.len(),
            match last_success {
                Some(t) => format!("; last success at {t} ({} before now)", duration::compact(duration::seconds(t, ctx.now()))),
                None => "; no successful run is recorded".to_owned(),
            }
        ))
        .evidence(format!(
            "schedule {:?}{}, concurrencyPolicy {}, failedJobsHistoryLimit {}",
            spec.schedule,
            spec.time_zone
                .as_ref()
                .map(|t| format!(" ({t})"))
                .unwrap_or_default(),
            spec.concurrency_policy.as_deref().unwrap_or("Allow"),
            spec.failed_jobs_history_limit.unwrap_or(1)
        ))
        .summary("The Jobs' own findings say why they fail; the schedule will keep creating failing Jobs until the cause is fixed.")
        .read_only("List the CronJob's Jobs", format!("kubectl get jobs -n {ns} -o wide"));
    if let Some(t) = st.and_then(|s| duration::time(s.last_schedule_time.as_ref())) {
        d = d.evidence(format!("status.lastScheduleTime {t}"));
    }
    for (jr, j) in streak.iter().take(5) {
        let c = condition(j, "Failed").or_else(|| condition(j, "FailureTarget"));
        d = d
            .evidence(format!(
                "Job {} failed: {} {}",
                jr.name,
                c.and_then(|c| c.reason.as_deref()).unwrap_or(""),
                c.and_then(|c| c.message.as_deref()).unwrap_or("")
            ))
            .scope(jr.clone());
        for (pr, _) in pods_of(ctx.store, j.metadata.uid.as_deref()) {
            d = d.scope(pr);
        }
    }
    let first = streak.last().and_then(|(_, j)| scheduled_at(j));
    d = d.seen(first, streak.first().and_then(|(_, j)| scheduled_at(j)));
    out.push(d);
}
