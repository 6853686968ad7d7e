//! kubedx: a Kubernetes diagnosis engine. Given a target and the objects of a
//! cluster, it walks the target's object graph, evaluates rule sets, links symptoms
//! to their root cause and reports findings with evidence and safe next steps.
//!
//! ```text
//! snapshot/store (indexed objects) → graph (walk from target) → rules (pure fns)
//!       → correlate (root cause) → report (CLI output | CR status, Events, metrics)
//! ```

pub mod api;
pub mod changes;
pub mod cli;
pub mod controller;
pub mod correlate;
pub mod engine;
pub mod event;
pub mod graph;
pub mod k8s;
pub mod kinds;
pub mod live;
pub mod model;
pub mod reference;
pub mod report;
pub mod rules;
pub mod selector;
pub mod snapshot;
pub mod store;
#[cfg(feature = "synth")]
pub mod synth;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod text;
pub mod timeline;
