//! Facts about Kubernetes objects that the object graph and every rule family share:
//! a Pod's conditions, readiness and phase, a Node's conditions, ownership (the
//! controller of an object, the workload a person edits), the default classes of a
//! cluster, quantities, the kubelet's node-pressure evictions, and durations as
//! kubedx writes them. Pure functions of the
//! objects (and the store, for ownership); no rule logic.

pub mod classes;
pub mod duration;
pub mod eviction;
pub mod node;
pub mod owners;
pub mod pod;
pub mod quantity;
