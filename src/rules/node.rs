//! The `node` rule set (rules.md).

use crate::rules::{Draft, RuleContext};

pub fn evaluate(_ctx: &RuleContext, _out: &mut Vec<Draft>) {}
