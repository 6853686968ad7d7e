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

pub mod controller;
pub mod cron;
pub mod daemonset;
pub mod deployment;
pub mod hpa;
pub mod jobs;
pub mod pdb;
pub mod replicaset;
pub mod statefulset;
pub mod util;

use crate::rules::{Draft, RuleContext};

pub fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    deployment::evaluate(ctx, out);
    replicaset::evaluate(ctx, out);
    statefulset::evaluate(ctx, out);
    daemonset::evaluate(ctx, out);
    jobs::evaluate(ctx, out);
    hpa::evaluate(ctx, out);
    pdb::evaluate(ctx, out);
    controller::evaluate(ctx, out);
}
