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

pub(crate) fn outcome(job: &Job) -> Outcome {
    if condition(job, "Complete").is_some() || condition(job, "SuccessCriteriaMet").is_some() {
        Outcome::Complete
    } else if condition(job, "Failed").is_some() || condition(job, "FailureTarget").is_some() {
        Outcome::Failed
    } else {
        Outcome::Running
    }
}

/// When the Job was scheduled (CronJob annotation), else created.
fn scheduled_at(job: &Job) -> Option<Timestamp> {
    annotation(
        &job.metadata,
        "batch.kubernetes.io/cronjob-scheduled-timestamp",
    )
    .and_then(|v| v.parse::<Timestamp>().ok())
    .or_else(|| duration::time(job.metadata.creation_timestamp.as_ref()))
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
    for job_ref in ctx.graph.subjects(Kind::Job) {
        if let Some(job) = ctx.store.get_ref::<Job>(job_ref) {
            job_failed(ctx, job_ref, job, out);
        }
    }
    for cronjob_ref in ctx.graph.subjects(Kind::CronJob) {
        if let Some(cj) = ctx.store.get_ref::<CronJob>(cronjob_ref) {
            cronjob(ctx, cronjob_ref, cj, out);
        }
    }
}

/// The newest failed Pod's container termination, for evidence.
fn failed_pod_lines(pods: &[(ObjRef, &Arc<Pod>)]) -> Vec<String> {
    let mut failed: Vec<&(ObjRef, &Arc<Pod>)> = pods
        .iter()
        .filter(|(_, pod)| {
            pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Failed")
                || pod
                    .status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
                    .any(|c| c.restart_count > 0)
        })
        .collect();
    failed.sort_by_key(|(_, pod)| {
        std::cmp::Reverse(duration::time(pod.metadata.creation_timestamp.as_ref()))
    });
    failed
        .iter()
        .take(3)
        .map(|(pod_ref, pod)| format!("Pod {}: {}", pod_ref.name, pod::describe_state(pod)))
        .collect()
}

fn job_failed(ctx: &RuleContext, job_ref: &ObjRef, job: &Job, out: &mut Vec<Draft>) {
    let Some(failure) = condition(job, "Failed").or_else(|| condition(job, "FailureTarget")) else {
        return;
    };
    let ns = job_ref.ns();
    let spec = job.spec.as_ref();
    let st = job.status.as_ref();
    let failed = st.and_then(|s| s.failed).unwrap_or(0);
    let succeeded = st.and_then(|s| s.succeeded).unwrap_or(0);
    let reason = failure.reason.as_deref().unwrap_or("Failed");
    let message = failure.message.as_deref().unwrap_or("");
    let backoff = spec.and_then(|s| s.backoff_limit).unwrap_or(6);
    let pods = pods_of(ctx.store, job.metadata.uid.as_deref());
    // A failed Job of a CronJob that has run again since is history.
    let cron_owner = job
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.kind == "CronJob" && o.controller == Some(true));
    let superseded = cron_owner
        .and_then(|o| ctx.store.get::<CronJob>(ns, &o.name))
        .is_some_and(|cj| {
            let mine = scheduled_at(job);
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
    let mut draft = Draft::new(RuleId::JobFailed, job_ref.clone())
        .message(format!("Job {} failed: {why}", job_ref.name))
        .evidence(format!(
            "condition Failed=True reason {reason}{}: {message}",
            duration::time(failure.last_transition_time.as_ref())
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
            duration::time(failure.last_transition_time.as_ref()),
        )
        .summary(match reason {
            "DeadlineExceeded" => "The Job was stopped at its deadline: find out why it runs slowly (or waits), or give it a longer activeDeadlineSeconds.",
            _ => "Read the failed Pods' logs: the Job's Pods exited with errors until the controller gave up.",
        })
        .read_only(
            "Read the logs of the Job's Pods",
            format!("kubectl logs -n {ns} -l batch.kubernetes.io/job-name={} --all-containers --tail=100", job_ref.name),
        )
        .read_only("Read the Job's events", format!("kubectl describe job {} -n {ns}", job_ref.name));
    for event in ctx.events(job_ref) {
        if event.is_warning()
            && matches!(
                event.reason.as_str(),
                "BackoffLimitExceeded"
                    | "DeadlineExceeded"
                    | "PodFailurePolicy"
                    | "MaxFailedIndexesExceeded"
            )
        {
            draft = draft.event(event);
        }
    }
    for line in failed_pod_lines(&pods) {
        draft = draft.evidence(line);
    }
    for (pr, _) in &pods {
        draft = draft.scope(pr.clone());
    }
    if superseded {
        draft = draft.severity(Severity::Info).message(format!(
            "Job {} failed ({why}); its CronJob has run again since",
            job_ref.name
        ));
    }
    match cron_owner {
        Some(cron) => {
            draft = draft.step(
                format!(
                    "After fixing the cause, run the CronJob {} once by hand",
                    cron.name
                ),
                Some(format!(
                    "kubectl create job --from=cronjob/{} {}-manual -n {ns}",
                    cron.name, cron.name
                )),
                Risk::Reversible,
            );
        }
        None => {
            draft = draft.step(
                "A Job's Pod template cannot be changed: after saving the logs and fixing the manifest, delete the failed Job and create it again",
                Some(format!("kubectl delete job {} -n {ns}", job_ref.name)),
                Risk::Disruptive,
            );
        }
    }
    out.push(draft);
}

fn cronjob(ctx: &RuleContext, cronjob_ref: &ObjRef, cj: &CronJob, out: &mut Vec<Draft>) {
    let ns = cronjob_ref.ns();
    let spec = &cj.spec;
    let st = cj.status.as_ref();
    // Schedule.
    let parsed = cron::parse(&spec.schedule);
    let conflict = matches!(&parsed, Ok(s) if s.time_zone.is_some()) && spec.time_zone.is_some();
    let schedule_events: Vec<_> = ctx
        .events(cronjob_ref)
        .into_iter()
        .filter(|event| {
            event.is_warning()
                && matches!(
                    event.reason.as_str(),
                    "UnparseableSchedule" | "InvalidSchedule" | "UnknownTimeZone"
                )
        })
        .collect();
    if parsed.is_err() || conflict {
        let why = match &parsed {
            Err(error) => error.0.clone(),
            Ok(_) => {
                "cannot use both the timeZone field and a TZ/CRON_TZ prefix in schedule".to_owned()
            }
        };
        let mut draft = Draft::new(RuleId::CronJobInvalidSchedule, cronjob_ref.clone())
            .message(format!(
                "CronJob {} has a schedule that does not parse ({:?}): it never creates a Job",
                cronjob_ref.name, spec.schedule
            ))
            .evidence(format!("spec.schedule: {:?}", spec.schedule))
            .evidence(why)
            .summary("Write the schedule as five cron fields (minute hour day-of-month month day-of-week) or one of @hourly/@daily/@weekly/@monthly/@yearly; put the time zone in spec.timeZone.")
            .step(
                "Correct spec.schedule",
                Some(format!(
                    "kubectl patch cronjob {} -n {ns} -p '{{\"spec\":{{\"schedule\":\"*/5 * * * *\"}}}}'  # your schedule",
                    cronjob_ref.name
                )),
                Risk::Reversible,
            );
        if let Some(tz) = &spec.time_zone {
            draft = draft.evidence(format!("spec.timeZone: {tz}"));
        }
        for event in &schedule_events {
            draft = draft.event(event);
        }
        out.push(draft);
    }
    // Suspended.
    if spec.suspend == Some(true) {
        let last = st.and_then(|s| duration::time(s.last_schedule_time.as_ref()));
        out.push(
            Draft::new(RuleId::CronJobSuspended, cronjob_ref.clone())
                .message(format!(
                    "CronJob {} is suspended: no new Jobs are created{}",
                    cronjob_ref.name,
                    last.map(|t| format!(" (last scheduled at {t})"))
                        .unwrap_or_default()
                ))
                .evidence("spec.suspend: true")
                .summary("Resume it when it should run again; with a startingDeadlineSeconds, runs missed while suspended are skipped.")
                .step(
                    "Resume the CronJob",
                    Some(format!(
                        "kubectl patch cronjob {} -n {ns} -p '{{\"spec\":{{\"suspend\":false}}}}'",
                        cronjob_ref.name
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
    let mut draft = Draft::new(RuleId::CronJobFailing, cronjob_ref.clone())
        .message(format!(
            "CronJob {}: the {} most recent finished Job(s) failed{}",
            cronjob_ref.name,
            streak.len(),
            match last_success {
                Some(success) => format!("; last success at {success} ({} before now)", duration::compact(duration::seconds(success, ctx.now()))),
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
    if let Some(scheduled) = st.and_then(|s| duration::time(s.last_schedule_time.as_ref())) {
        draft = draft.evidence(format!("status.lastScheduleTime {scheduled}"));
    }
    for (job_ref, job) in streak.iter().take(5) {
        let failed = condition(job, "Failed").or_else(|| condition(job, "FailureTarget"));
        draft = draft
            .evidence(format!(
                "Job {} failed: {} {}",
                job_ref.name,
                failed
                    .and_then(|condition| condition.reason.as_deref())
                    .unwrap_or(""),
                failed
                    .and_then(|condition| condition.message.as_deref())
                    .unwrap_or("")
            ))
            .scope(job_ref.clone());
        for (pr, _) in pods_of(ctx.store, job.metadata.uid.as_deref()) {
            draft = draft.scope(pr);
        }
    }
    let first = streak.last().and_then(|(_, j)| scheduled_at(j));
    draft = draft.seen(first, streak.first().and_then(|(_, j)| scheduled_at(j)));
    out.push(draft);
}
