//! A Node's conditions.

use k8s_openapi::api::core::v1::{Node, NodeCondition};

/// A condition of a Node by type (`Ready`, `MemoryPressure`, ...).
pub fn condition<'n>(node: &'n Node, type_: &str) -> Option<&'n NodeCondition> {
    node.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == type_)
}

/// Whether the Node's Ready condition is True.
pub fn is_ready(node: &Node) -> bool {
    condition(node, "Ready").is_some_and(|c| c.status == "True")
}
