//! The `logs` rule set: evidence from container logs, only when logs are enabled
//! (`spec.logs.enabled`, `--logs`). Logs come through [`LogSource`](super::LogSource).

use crate::rules::{Draft, RuleContext};

pub fn evaluate(ctx: &RuleContext, _out: &mut Vec<Draft>) {
    let Some(_logs) = ctx.logs else { return };
}
