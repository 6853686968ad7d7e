//! The kubelet's node-pressure evictions (`pkg/kubelet/eviction`): which resource a
//! Node runs or ran low on, from its pressure conditions and from the status of the
//! Pods it evicted, and what those messages say each container used.
//!
//! The forms (`pkg/kubelet/eviction/helpers.go`):
//!
//! - `The node was low on resource: %v. ` then `Threshold quantity: %v, available: %v. `
//!   and, for memory and ephemeral-storage, one `Container %s was using %s, request is
//!   %s, has larger consumption of %v. ` per container above its request (or
//!   `Pod %s was using ...` with pod-level resources);
//! - `The node had condition: %v. ` (`[MemoryPressure]`): a Pod the kubelet refused
//!   to admit because of the condition.
//!
//! Evictions for a Pod's own limits (`exceeds the total limit of containers`,
//! `exceeded its local ephemeral storage limit`, an emptyDir's `sizeLimit`) are not
//! node pressure: they are not read here.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};

use crate::k8s::quantity::Quantity;
use crate::k8s::{node, pod};
use crate::store::Store;

/// A kind of node pressure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pressure {
    /// `MemoryPressure`: the kubelet reclaims `memory`.
    Memory,
    /// `DiskPressure`: the kubelet reclaims `ephemeral-storage` (or inodes).
    Disk,
    /// `PIDPressure`: the kubelet reclaims `pids`.
    Pids,
}

impl Pressure {
    /// Every pressure, in condition order.
    pub const ALL: [Pressure; 3] = [Pressure::Memory, Pressure::Disk, Pressure::Pids];

    /// The Node condition that reports it.
    pub const fn condition(self) -> &'static str {
        match self {
            Pressure::Memory => "MemoryPressure",
            Pressure::Disk => "DiskPressure",
            Pressure::Pids => "PIDPressure",
        }
    }

    /// The resource the kubelet reclaims (as its eviction messages name it).
    pub const fn resource(self) -> &'static str {
        match self {
            Pressure::Memory => "memory",
            Pressure::Disk => "ephemeral-storage",
            Pressure::Pids => "pids",
        }
    }

    /// What runs out, in words.
    pub const fn noun(self) -> &'static str {
        match self {
            Pressure::Memory => "memory",
            Pressure::Disk => "disk",
            Pressure::Pids => "process ids",
        }
    }

    /// The pressure of a resource an eviction message names (`inodes` is disk).
    pub fn from_resource(resource: &str) -> Option<Pressure> {
        match resource {
            "memory" => Some(Pressure::Memory),
            "ephemeral-storage" | "inodes" => Some(Pressure::Disk),
            "pids" => Some(Pressure::Pids),
            _ => None,
        }
    }

    /// The pressure a Node condition type reports.
    pub fn from_condition(condition: &str) -> Option<Pressure> {
        Pressure::ALL
            .into_iter()
            .find(|p| p.condition() == condition)
    }
}

/// What an eviction message says one container (or the Pod) used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Usage {
    /// The container; `None` for the Pod as a whole (pod-level resources).
    pub container: Option<String>,
    /// Its usage when it was evicted.
    pub using: Quantity,
    /// Its request of the resource.
    pub request: Quantity,
}

/// A node-pressure eviction (or admission refusal), read from a Pod's status message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    /// The pressures the message names.
    pub pressures: Vec<Pressure>,
    /// The resource the kubelet reclaimed, as written (`memory`, `inodes`...); `None`
    /// for an admission refusal.
    pub resource: Option<String>,
    /// `Threshold quantity: %v, available: %v`, as written.
    pub threshold: Option<(String, String)>,
    /// The containers (or the Pod) above their requests.
    pub usage: Vec<Usage>,
    /// The Pod was refused at admission (`The node had condition`), not evicted.
    pub refused: bool,
}

impl Eviction {
    /// Parses a kubelet eviction message of node pressure; `None` for other messages.
    pub fn parse(message: &str) -> Option<Eviction> {
        let message = message.trim();
        if let Some(rest) = message.strip_prefix("The node had condition: ") {
            let list = rest.trim_end_matches('.').trim();
            let list = list.trim_start_matches('[').trim_end_matches(']');
            let pressures: Vec<Pressure> = list
                .split([' ', ','])
                .filter_map(Pressure::from_condition)
                .collect();
            return (!pressures.is_empty()).then_some(Eviction {
                pressures,
                resource: None,
                threshold: None,
                usage: Vec::new(),
                refused: true,
            });
        }
        let rest = message.strip_prefix("The node was low on resource: ")?;
        let mut sentences = rest.split(". ").map(|s| s.trim().trim_end_matches('.'));
        let resource = sentences.next()?.trim().to_owned();
        let pressure = Pressure::from_resource(&resource)?;
        let mut eviction = Eviction {
            pressures: vec![pressure],
            resource: Some(resource),
            threshold: None,
            usage: Vec::new(),
            refused: false,
        };
        for sentence in sentences {
            if let Some(threshold) = sentence.strip_prefix("Threshold quantity: ") {
                if let Some((quantity, available)) = threshold.split_once(", available: ") {
                    eviction.threshold = Some((quantity.to_owned(), available.to_owned()));
                }
            } else if let Some(usage) = parse_usage(sentence) {
                eviction.usage.push(usage);
            }
        }
        Some(eviction)
    }

    /// Whether the message names `pressure`.
    pub fn is(&self, pressure: Pressure) -> bool {
        self.pressures.contains(&pressure)
    }

    /// The usage the message reports, summed (containers, or the Pod).
    pub fn total_using(&self) -> Option<(Quantity, Quantity)> {
        if self.usage.is_empty() {
            return None;
        }
        let pod_level = self.usage.iter().find(|u| u.container.is_none());
        if let Some(pod) = pod_level {
            return Some((pod.using, pod.request));
        }
        Some(
            self.usage
                .iter()
                .fold((Quantity::ZERO, Quantity::ZERO), |acc, u| {
                    (
                        acc.0.saturating_add(u.using),
                        acc.1.saturating_add(u.request),
                    )
                }),
        )
    }
}

/// `Container app was using 1200Mi, request is 128Mi, has larger consumption of memory`
/// (or `Pod web-1 was using ...`).
fn parse_usage(sentence: &str) -> Option<Usage> {
    let (subject, rest) = sentence.split_once(" was using ")?;
    let container = if let Some(name) = subject.strip_prefix("Container ") {
        Some(name.trim().to_owned())
    } else if subject.starts_with("Pod ") {
        None
    } else {
        return None;
    };
    let (using, rest) = rest.split_once(", request is ")?;
    let request = rest.split(", has larger consumption of ").next()?;
    Some(Usage {
        container,
        using: Quantity::parse(using).ok()?,
        request: Quantity::parse(request).ok()?,
    })
}

/// A Pod's node-pressure eviction: `status.phase=Failed`, `reason=Evicted` and a
/// message of node pressure.
pub fn of_pod(pod: &Pod) -> Option<Eviction> {
    let status = pod.status.as_ref()?;
    if status.phase.as_deref() != Some("Failed") || status.reason.as_deref() != Some("Evicted") {
        return None;
    }
    Eviction::parse(status.message.as_deref()?)
}

/// When a Pod was evicted: its newest condition transition (the kubelet sets
/// `DisruptionTarget` and `Ready=False` as it evicts).
pub fn evicted_at(pod: &Pod) -> Option<Timestamp> {
    pod.status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
        .max()
}

/// The pressure conditions a Node reports True.
pub fn node_pressures(node: &Node) -> Vec<Pressure> {
    Pressure::ALL
        .into_iter()
        .filter(|p| node::condition(node, p.condition()).is_some_and(|c| c.status == "True"))
        .collect()
}

/// Whether a Node shows node pressure: a pressure condition True, or a Pod bound to
/// it (in the store) evicted or refused for node pressure.
pub fn pressure_evidence(store: &Store, node_name: &str) -> bool {
    if store
        .get::<Node>("", node_name)
        .is_some_and(|node| !node_pressures(node).is_empty())
    {
        return true;
    }
    store.pods_on_node(node_name).any(|pod_ref| {
        store
            .get_ref::<Pod>(pod_ref)
            .is_some_and(|p| pod::is_terminal(p) && of_pod(p).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_eviction_with_containers_above_their_requests() {
        let e = Eviction::parse(
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 80Mi. Container app was using 1200Mi, request is 128Mi, has larger consumption of memory. Container sidecar was using 300Mi, request is 0, has larger consumption of memory. ",
        )
        .unwrap();
        assert_eq!(e.pressures, vec![Pressure::Memory]);
        assert_eq!(e.threshold, Some(("100Mi".into(), "80Mi".into())));
        assert_eq!(e.usage.len(), 2);
        assert_eq!(e.usage[0].container.as_deref(), Some("app"));
        assert_eq!(e.usage[0].using, Quantity::parse("1200Mi").unwrap());
        assert_eq!(e.usage[1].request, Quantity::ZERO);
        let (using, request) = e.total_using().unwrap();
        assert_eq!(using, Quantity::parse("1500Mi").unwrap());
        assert_eq!(request, Quantity::parse("128Mi").unwrap());
    }

    #[test]
    fn the_other_forms() {
        let e = Eviction::parse(
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91Mi. Pod web-1 was using 1843Mi, request is 16Mi, has larger consumption of memory. ",
        )
        .unwrap();
        assert_eq!(e.usage[0].container, None);
        let pids = Eviction::parse(
            "The node was low on resource: pids. Threshold quantity: 1000, available: 830. ",
        )
        .unwrap();
        assert!(pids.is(Pressure::Pids) && pids.usage.is_empty());
        let inodes = Eviction::parse("The node was low on resource: inodes. ").unwrap();
        assert!(inodes.is(Pressure::Disk));
        let refused = Eviction::parse("The node had condition: [DiskPressure]. ").unwrap();
        assert!(refused.refused && refused.is(Pressure::Disk));
        // a Pod's own limits are not node pressure
        for own in [
            "Pod ephemeral local storage usage exceeds the total limit of containers 10Mi. ",
            "Container app exceeded its local ephemeral storage limit \"10Mi\". ",
            "Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Gi\". ",
        ] {
            assert_eq!(Eviction::parse(own), None, "{own}");
        }
    }
}
