//! The `workload` rule set: Pods and containers.

use crate::rules::{Draft, RuleContext};

pub fn evaluate(_ctx: &RuleContext, _out: &mut Vec<Draft>) {}
