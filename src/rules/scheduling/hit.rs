//! A hit: one rule firing on one Pod, before grouping per controller; the facts about
//! an unscheduled Pod that every hit reads, and the steps and evidence hits share.

use std::sync::Arc;

use k8s_openapi::api::core::v1::PodSpec;

use crate::api::{Risk, Severity};
use crate::event::EventRecord;
use crate::model::{Kind, ObjRef};
use crate::quantity;
use crate::rules::RuleId;

/// One rule firing on one Pod, before grouping per controller.
pub(super) struct Hit {
    pub(super) rule: RuleId,
    /// The controller of the Pod, else the Pod: the finding's object.
    pub(super) group: ObjRef,
    pub(super) pod: ObjRef,
    /// What is wrong, after the subject ("cannot be scheduled: ...").
    pub(super) what: String,
    pub(super) evidence: Vec<String>,
    /// Events the finding quotes (the newest) or accounts for.
    pub(super) events: Vec<Arc<EventRecord>>,
    pub(super) scope: Vec<ObjRef>,
    pub(super) severity: Option<Severity>,
    /// A healed problem: explains nothing.
    pub(super) healed: bool,
    pub(super) summary: String,
    pub(super) steps: Vec<(String, Option<String>, Risk)>,
}

impl Hit {
    pub(super) fn new(rule: RuleId, group: &ObjRef, pod: &ObjRef, what: impl Into<String>) -> Hit {
        Hit {
            rule,
            group: group.clone(),
            pod: pod.clone(),
            what: what.into(),
            evidence: Vec::new(),
            events: Vec::new(),
            scope: Vec::new(),
            severity: None,
            healed: false,
            summary: String::new(),
            steps: Vec::new(),
        }
    }

    pub(super) fn ev(mut self, e: impl Into<String>) -> Hit {
        let e = e.into();
        if !self.evidence.contains(&e) {
            self.evidence.push(e);
        }
        self
    }

    pub(super) fn evs(mut self, es: impl IntoIterator<Item = String>) -> Hit {
        for e in es {
            self = self.ev(e);
        }
        self
    }

    pub(super) fn step(mut self, d: impl Into<String>, cmd: Option<String>, risk: Risk) -> Hit {
        self.steps.push((d.into(), cmd, risk));
        self
    }

    pub(super) fn summary(mut self, s: impl Into<String>) -> Hit {
        self.summary = s.into();
        self
    }
}

/// Facts about one unscheduled Pod that every rule's hit reads.
pub(super) struct PodFacts<'a> {
    pub(super) r: &'a ObjRef,
    pub(super) spec: &'a PodSpec,
    pub(super) group: ObjRef,
    /// The template owner, for commands (`deployment/web`).
    pub(super) owner: ObjRef,
    pub(super) failed: Vec<Arc<EventRecord>>,
}

pub(super) fn requests_line(spec: &PodSpec) -> String {
    let req = quantity::pod_requests(spec);
    if req.is_empty() {
        "the Pod requests nothing".to_owned()
    } else {
        format!(
            "Pod requests {} (containers summed, init containers maxed, overhead added)",
            quantity::describe(&req)
        )
    }
}

pub(super) fn describe_cmd(f: &PodFacts) -> (String, Option<String>, Risk) {
    (
        "Read the Pod's scheduling events".to_owned(),
        Some(format!(
            "kubectl describe pod {}{}",
            f.r.name,
            f.r.ns_flag()
        )),
        Risk::ReadOnly,
    )
}

pub(super) fn set_resources_cmd(f: &PodFacts, resource: &str) -> Option<String> {
    matches!(
        f.owner.kind,
        Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet | Kind::ReplicaSet
    )
    .then(|| {
        format!(
            "kubectl set resources {}{} --requests={resource}=<value>",
            f.owner.kubectl(),
            f.owner.ns_flag()
        )
    })
}

pub(super) fn taint_hit(f: &PodFacts, what: String, health: bool) -> Hit {
    let h = Hit::new(RuleId::UntoleratedTaint, &f.group, f.r, what).step(
        "List the nodes' taints",
        Some(
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints[*].key,EFFECTS:.spec.taints[*].effect"
                .to_owned(),
        ),
        Risk::ReadOnly,
    );
    if health {
        h.summary(
            "The nodes are unhealthy (not ready / unreachable / under pressure): fix the nodes or add capacity. Do not add tolerations for node-health taints.",
        )
        .step(
            "Check the nodes' conditions",
            Some("kubectl describe nodes | grep -A 8 Conditions".to_owned()),
            Risk::ReadOnly,
        )
    } else {
        h.summary(
            "The taints reserve those nodes: add a toleration to the workload only if it is meant to run there; otherwise give it nodes without the taint.",
        )
        .step(
            "If the workload belongs on those nodes, add the matching toleration to its Pod template",
            None,
            Risk::Reversible,
        )
    }
}
