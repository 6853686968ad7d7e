//! What changed: the changes of a target's object graph that a diagnosis can see —
//! workload revisions and what their Pod templates changed — and the findings whose
//! broken edge a change introduced.

pub mod revisions;
pub mod template;
