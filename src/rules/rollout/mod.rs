//! The `rollout` rule set (docs/rules.md): controllers and what keeps them from reaching
//! their desired state.
//!
//! - [`deployment`] — revisions, RolloutStuck (with a rollback only to a revision known
//!   to be healthy), ReplicasUnavailable of Deployments;
//! - [`replicaset`] — ReplicaSetCreateFailed and its causes QuotaExceeded and
//!   AdmissionDenied (for every controller that creates Pods), ReplicasUnavailable of
//!   stand-alone ReplicaSets;
//! - [`statefulset`] — StatefulSetServiceNotFound, ReplicasUnavailable with the failing ordinal;
//! - [`daemonset`] — DaemonSetPodsUnavailable;
//! - [`jobs`] (+ [`cron`], the schedule parser) — JobFailed, CronJob rules;
//! - [`hpa`], [`pdb`] and [`controller`] (ControllerNotProgressing).
//!
//! Symptom findings (ReplicasUnavailable, RolloutStuck...) put the workload's Pods in
//! their scope, so that Pod-level causes found by other rule sets explain them.

pub(crate) mod controller;
pub mod cron;
pub(crate) mod daemonset;
pub(crate) mod deployment;
pub(crate) mod hpa;
pub(crate) mod jobs;
pub(crate) mod pdb;
pub(crate) mod replicaset;
pub(crate) mod statefulset;
pub(crate) mod util;

use crate::rules::{Draft, RuleContext};

pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    deployment::evaluate(ctx, out);
    replicaset::evaluate(ctx, out);
    statefulset::evaluate(ctx, out);
    daemonset::evaluate(ctx, out);
    jobs::evaluate(ctx, out);
    hpa::evaluate(ctx, out);
    pdb::evaluate(ctx, out);
    controller::evaluate(ctx, out);
}
