//! What each scheduling finding says and advises, as data: per cause, the rule it
//! reports, the message (what is wrong, after the Pod it is about), the summary and
//! the remediation steps.
//!
//! The code that walks a Pod, its claims, the placement checks and the scheduler's
//! message ([`super::analysis`], [`super::claims`], [`super::verdicts`],
//! [`super::reasons`]) decides which cause applies and fills the `{name}` placeholders
//! of its texts; evidence stays with that code, since it quotes what was found.
//!
//! Every text may use `{pod}` (the Pod's name) and `{ns_flag}` (` -n <namespace>`);
//! the others are listed with each cause. Braces that name no placeholder
//! (`jsonpath='{.spec.x}'`) are written as they are.

use crate::api::Risk;
use crate::rules::RuleId;

/// A cause the scheduling rules name for one Pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cause {
    /// It could not be scheduled, then was: `{waited}` (` for 5m` or empty), `{node}`.
    Healed,
    /// Scheduling gates hold it back: `{gates}`.
    Gated,
    /// It requests more than any node can allocate: `{among}` (which nodes),
    /// `{requests}` (what exceeds them), `{resource}` (the first of them),
    /// `{extra_column}` (a `custom-columns` column for an extended resource, or empty).
    RequestsExceedCapacity,
    /// No node's labels satisfy its node selector / required node affinity:
    /// `{constraints}`, `{keys}` (the label keys, comma-separated).
    NoNodeMatches,
    /// The nodes that would fit carry taints of unhealthy nodes: `{fitting}` (how many
    /// nodes), `{taints}`.
    TaintedUnhealthyNodes,
    /// The nodes that would fit carry taints it does not tolerate: `{fitting}`, `{taints}`.
    TaintedNodes,
    /// It waits for claims that are not bound, none named.
    UnboundClaims,
    /// It waits for the claims `{claims}`, not bound.
    UnboundNamedClaims,
    /// The scheduler found no node with enough free `{resources}`; `{resource}` is the
    /// first of them.
    InsufficientResources,
    /// The only nodes are control-plane nodes, tainted `{taints}`.
    OnlyControlPlane,
    /// The nodes it could use are unhealthy, tainted `{taints}`.
    UnhealthyNodes,
    /// `{count}` nodes have taints it does not tolerate, none named.
    UnnamedTaints,
    /// Taints it does not tolerate: `{taints}`.
    UntoleratedTaints,
    /// Its `{kinds}` (pod affinity, anti-affinity, topology spread) cannot be met.
    AffinityUnsatisfiable,
    /// `{count}` of `{total}` nodes are outside the topology of its bound volumes.
    VolumeTopology,
    /// `{count}` of `{total}` nodes do not match its node selector, the others cannot
    /// take it: `{keys}`.
    NodeSelectorExcludes,
    /// The scheduler sees no node at all.
    NoNodes,
    /// The nodes it could use are cordoned: `{count}` of `{total}`.
    Cordoned,
    /// Nothing more specific: the scheduler's `{text}`.
    SchedulerMessage,
    /// Its node selector / required node affinity (`{constraints}`, `{keys}`) selects
    /// only node(s) `{nodes}`, whose taints `{taints}` reserve them: the constraint is
    /// the cause.
    ConstrainedToTaintedNodes,
    /// The same, for control-plane nodes.
    ConstrainedToControlPlane,
    /// From the scheduler's message alone: `{count}` of `{total}` nodes excluded by its
    /// node selector, the others reserved by taints `{taints}`; `{keys}`.
    SelectorThenReservedTaints,
}

/// What a cause says and advises.
#[derive(Debug)]
pub(super) struct CauseText {
    /// The rule the finding reports.
    pub(super) rule: RuleId,
    /// What is wrong, after the subject (`Pod web-1 (ReplicaSet/web-5d4f) ...`).
    pub(super) message: &'static str,
    /// The safest next step, in a sentence.
    pub(super) summary: &'static str,
    /// The remediation steps, in order.
    pub(super) steps: &'static [Step],
}

/// A remediation step as the table writes it.
#[derive(Debug)]
pub(super) struct Step {
    /// What to do.
    pub(super) what: &'static str,
    /// The command, if there is one.
    pub(super) command: Command,
    /// What running it risks.
    pub(super) risk: Risk,
}

/// The command of a step.
#[derive(Debug)]
pub(super) enum Command {
    /// No command: an edit of the workload's manifest.
    None,
    /// A command line.
    Line(&'static str),
    /// `kubectl set resources` on the workload owning the Pod, for `{resource}`; none
    /// when no Deployment, StatefulSet, DaemonSet or ReplicaSet owns it.
    SetRequest,
}

const fn read_only(what: &'static str, command: &'static str) -> Step {
    Step {
        what,
        command: Command::Line(command),
        risk: Risk::ReadOnly,
    }
}

const fn reversible(what: &'static str, command: Command) -> Step {
    Step {
        what,
        command,
        risk: Risk::Reversible,
    }
}

const SELECTOR_SUMMARY: &str =
    "Fix the selector in the workload template, or label the nodes that are meant to run it.";

const UNHEALTHY_SUMMARY: &str = "The nodes are unhealthy (not ready / unreachable / under pressure): fix the nodes or add capacity. Do not add tolerations for node-health taints.";

const RESERVED_SUMMARY: &str = "The taints reserve those nodes: add a toleration to the workload only if it is meant to run there; otherwise give it nodes without the taint.";

const UNBOUND_SUMMARY: &str = "The claim must bind before the Pod can be placed: see why the PVC is Pending (StorageClass, provisioner, quota, no matching PV). Never delete a PVC without checking its data and reclaim policy.";

const FAILED_SCHEDULING_SUMMARY: &str =
    "Read the scheduler's message: it lists, per node, why the Pod does not fit.";

const SHOW_SELECTED_LABELS: Step = read_only(
    "Show the nodes with the labels the Pod selects on",
    "kubectl get nodes -L {keys}",
);

const LIST_TAINTS: Step = read_only(
    "List the nodes' taints",
    "kubectl get nodes -o custom-columns=NAME:.metadata.name,TAINTS:.spec.taints[*].key,EFFECTS:.spec.taints[*].effect",
);

const UNHEALTHY_STEPS: &[Step] = &[
    LIST_TAINTS,
    read_only(
        "Check the nodes' conditions",
        "kubectl describe nodes | grep -A 8 Conditions",
    ),
];

const RESERVED_STEPS: &[Step] = &[
    LIST_TAINTS,
    reversible(
        "If the workload belongs on those nodes, add the matching toleration to its Pod template",
        Command::None,
    ),
];

const READ_EVENTS: Step = read_only(
    "Read the Pod's scheduling events",
    "kubectl describe pod {pod}{ns_flag}",
);

/// When the Pod has a nodeSelector: label a node with its first `{label}` (`key=value`).
pub(super) const LABEL_A_NODE: Step = reversible(
    "Or label the node(s) meant to run it",
    Command::Line("kubectl label node <node> {label}"),
);

/// For each claim that is not bound: `{claim}`, `{claim_ns_flag}`.
pub(super) const WHY_CLAIM_UNBOUND: Step = read_only(
    "See why PVC {claim} is not bound",
    "kubectl describe pvc {claim}{claim_ns_flag}",
);

/// For each bound volume with a node affinity: `{volume}`.
pub(super) const INSPECT_VOLUME_TOPOLOGY: Step = read_only(
    "Inspect the topology of PV {volume}",
    "kubectl get pv {volume} -o jsonpath='{.spec.nodeAffinity}'",
);

/// What the cause says and advises.
pub(super) const fn text(cause: Cause) -> &'static CauseText {
    match cause {
        Cause::Healed => &HEALED,
        Cause::Gated => &GATED,
        Cause::RequestsExceedCapacity => &REQUESTS_EXCEED_CAPACITY,
        Cause::NoNodeMatches => &NO_NODE_MATCHES,
        Cause::TaintedUnhealthyNodes => &TAINTED_UNHEALTHY_NODES,
        Cause::TaintedNodes => &TAINTED_NODES,
        Cause::UnboundClaims => &UNBOUND_CLAIMS,
        Cause::UnboundNamedClaims => &UNBOUND_NAMED_CLAIMS,
        Cause::InsufficientResources => &INSUFFICIENT_RESOURCES,
        Cause::OnlyControlPlane => &ONLY_CONTROL_PLANE,
        Cause::UnhealthyNodes => &UNHEALTHY_NODES,
        Cause::UnnamedTaints => &UNNAMED_TAINTS,
        Cause::UntoleratedTaints => &UNTOLERATED_TAINTS,
        Cause::AffinityUnsatisfiable => &AFFINITY_UNSATISFIABLE,
        Cause::VolumeTopology => &VOLUME_TOPOLOGY,
        Cause::NodeSelectorExcludes => &NODE_SELECTOR_EXCLUDES,
        Cause::NoNodes => &NO_NODES,
        Cause::Cordoned => &CORDONED,
        Cause::SchedulerMessage => &SCHEDULER_MESSAGE,
        Cause::ConstrainedToTaintedNodes => &CONSTRAINED_TO_TAINTED_NODES,
        Cause::ConstrainedToControlPlane => &CONSTRAINED_TO_CONTROL_PLANE,
        Cause::SelectorThenReservedTaints => &SELECTOR_THEN_RESERVED_TAINTS,
    }
}

const CONSTRAINED_SUMMARY: &str = "The taint reserves those nodes and works as intended: the Pod's placement constraint is what to fix. If the workload belongs on those nodes, add a toleration for the taint to its Pod template; otherwise change its nodeSelector / node affinity to nodes it may use. Do not remove the taint from the nodes.";

const CONSTRAINED_STEPS: &[Step] = &[
    SHOW_SELECTED_LABELS,
    LIST_TAINTS,
    reversible(
        "Change the nodeSelector / required node affinity in the workload's manifest to nodes it may use",
        Command::None,
    ),
    reversible(
        "Or, if it is meant to run on the reserved nodes, add the matching toleration to its Pod template",
        Command::None,
    ),
];

const CONSTRAINED_TO_TAINTED_NODES: CauseText = CauseText {
    rule: RuleId::NodeSelectorMatchesNoNode,
    message: "cannot be scheduled: its {constraints} select(s) only node(s) {nodes}, reserved by taint(s) {taints} it does not tolerate: the placement constraint, not the taint, keeps it from every node",
    summary: CONSTRAINED_SUMMARY,
    steps: CONSTRAINED_STEPS,
};

const CONSTRAINED_TO_CONTROL_PLANE: CauseText = CauseText {
    rule: RuleId::NodeSelectorMatchesNoNode,
    message: "cannot be scheduled: its {constraints} select(s) only the control-plane node(s) {nodes}, whose taint(s) {taints} keep workloads off as intended: the placement constraint is the cause",
    summary: "Control-plane nodes are tainted to keep workloads off them. Point the nodeSelector / node affinity at worker nodes; add a toleration for the control-plane taint only for a component that must run there (a node agent, a control-plane add-on).",
    steps: CONSTRAINED_STEPS,
};

const SELECTOR_THEN_RESERVED_TAINTS: CauseText = CauseText {
    rule: RuleId::NodeSelectorMatchesNoNode,
    message: "cannot be scheduled: its node selector/affinity excludes {count} of {total} node(s) and the others are reserved by taint(s) {taints} it does not tolerate: the placement constraint, not the taint, keeps it from every node",
    summary: CONSTRAINED_SUMMARY,
    steps: CONSTRAINED_STEPS,
};

const HEALED: CauseText = CauseText {
    rule: RuleId::FailedScheduling,
    message: "could not be scheduled{waited}, then was scheduled on {node}: healed",
    summary: "Nothing to do now; if Pods often wait for a node, review requests and cluster capacity.",
    steps: &[read_only(
        "Review the Pod's scheduling history",
        "kubectl events{ns_flag} --for pod/{pod}",
    )],
};

const GATED: CauseText = CauseText {
    rule: RuleId::SchedulingGated,
    message: "is held back by scheduling gate(s) {gates}: it is not scheduled until whoever added them removes them",
    summary: "Find the controller that owns the gates (a queueing system such as Kueue, a quota manager) and why it holds the Pod.",
    steps: &[read_only(
        "Show the Pod's scheduling gates",
        "kubectl get pod {pod}{ns_flag} -o jsonpath='{.spec.schedulingGates}'",
    )],
};

const REQUESTS_EXCEED_CAPACITY: CauseText = CauseText {
    rule: RuleId::RequestsExceedNodeCapacity,
    message: "can never be scheduled: it requests more than {among} can allocate: {requests}",
    summary: "A Pod runs on one node: lower the requests to what the app really uses, or add a node pool with larger nodes. Recreating the Pods changes nothing.",
    steps: &[
        read_only(
            "Compare with the nodes' allocatable",
            "kubectl get nodes -o custom-columns=NAME:.metadata.name,CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory{extra_column}",
        ),
        reversible(
            "Lower the {resource} request in the workload template to what the container uses",
            Command::SetRequest,
        ),
    ],
};

const NO_NODE_MATCHES: CauseText = CauseText {
    rule: RuleId::NodeSelectorMatchesNoNode,
    message: "can never be scheduled: no node's labels satisfy its {constraints}",
    summary: "Fix the selector in the workload template, or label the nodes that are meant to run it. If a cluster autoscaler should create such nodes, check its node groups carry the label.",
    steps: &[
        SHOW_SELECTED_LABELS,
        reversible(
            "Correct the nodeSelector / node affinity in the workload's manifest (a typo in a key or value is the usual cause)",
            Command::None,
        ),
    ],
};

const TAINTED_UNHEALTHY_NODES: CauseText = CauseText {
    rule: RuleId::UntoleratedTaint,
    message: "cannot be scheduled: the {fitting} node(s) that could take it carry taints of unhealthy nodes it does not tolerate ({taints})",
    summary: UNHEALTHY_SUMMARY,
    steps: UNHEALTHY_STEPS,
};

const TAINTED_NODES: CauseText = CauseText {
    rule: RuleId::UntoleratedTaint,
    message: "cannot be scheduled: each of the {fitting} node(s) that could take it has a taint it does not tolerate ({taints})",
    summary: RESERVED_SUMMARY,
    steps: RESERVED_STEPS,
};

const UNBOUND_CLAIMS: CauseText = CauseText {
    rule: RuleId::UnboundPersistentVolumeClaim,
    message: "cannot be scheduled: it waits for PersistentVolumeClaims that are not bound",
    summary: UNBOUND_SUMMARY,
    steps: &[],
};

const UNBOUND_NAMED_CLAIMS: CauseText = CauseText {
    rule: RuleId::UnboundPersistentVolumeClaim,
    message: "cannot be scheduled: PersistentVolumeClaim {claims} is not bound",
    summary: UNBOUND_SUMMARY,
    steps: &[],
};

const INSUFFICIENT_RESOURCES: CauseText = CauseText {
    rule: RuleId::InsufficientResources,
    message: "cannot be scheduled: no node has enough free {resources} for its requests",
    summary: "The nodes are full for this Pod's requests: lower the requests to real usage, free capacity (scale down what is idle), or add nodes. Draining or deleting Pods does not create capacity.",
    steps: &[
        read_only(
            "See what is allocated on each node",
            "kubectl describe nodes | grep -A 10 'Allocated resources'",
        ),
        read_only(
            "Compare requests with real usage",
            "kubectl top pods{ns_flag} --containers",
        ),
        reversible(
            "Lower the {resource} request if it is larger than the app needs",
            Command::SetRequest,
        ),
    ],
};

const ONLY_CONTROL_PLANE: CauseText = CauseText {
    rule: RuleId::UntoleratedTaint,
    message: "cannot be scheduled: the only node(s) are control-plane nodes tainted {taints}; the cluster has no worker node for it",
    summary: RESERVED_SUMMARY,
    steps: RESERVED_STEPS,
};

const UNHEALTHY_NODES: CauseText = CauseText {
    rule: RuleId::UntoleratedTaint,
    message: "cannot be scheduled: node(s) it could use are unhealthy and tainted {taints}",
    summary: UNHEALTHY_SUMMARY,
    steps: UNHEALTHY_STEPS,
};

const UNNAMED_TAINTS: CauseText = CauseText {
    rule: RuleId::UntoleratedTaint,
    message: "cannot be scheduled: {count} node(s) have taints it does not tolerate",
    summary: RESERVED_SUMMARY,
    steps: RESERVED_STEPS,
};

const UNTOLERATED_TAINTS: CauseText = CauseText {
    rule: RuleId::UntoleratedTaint,
    message: "cannot be scheduled: untolerated taint(s) {taints}",
    summary: RESERVED_SUMMARY,
    steps: RESERVED_STEPS,
};

const AFFINITY_UNSATISFIABLE: CauseText = CauseText {
    rule: RuleId::PodAffinityUnsatisfiable,
    message: "cannot be scheduled: its {kinds} cannot be met on any node",
    summary: "Required (anti-)affinity and DoNotSchedule spread constraints can make placement impossible: relax them to preferred / ScheduleAnyway, or add nodes in the missing topology domains.",
    steps: &[
        read_only(
            "See where the Pods it must (not) be near run",
            "kubectl get pods{ns_flag} -o wide --show-labels",
        ),
        read_only(
            "List the nodes' topology labels",
            "kubectl get nodes -L topology.kubernetes.io/zone,kubernetes.io/hostname",
        ),
        reversible(
            "Relax requiredDuringScheduling terms to preferredDuringScheduling, or whenUnsatisfiable to ScheduleAnyway, in the workload's manifest",
            Command::None,
        ),
    ],
};

const VOLUME_TOPOLOGY: CauseText = CauseText {
    rule: RuleId::VolumeNodeAffinityConflict,
    message: "cannot be scheduled: {count} of {total} node(s) are outside the topology of its bound volume(s), and no node in it can take the Pod",
    summary: "A bound volume lives in one zone/node: the Pod must run there. Make room in that zone (or let the autoscaler add a node there); use volumeBindingMode WaitForFirstConsumer for new claims. Moving the data takes a snapshot and restore; never delete the PVC to 'fix' it.",
    steps: &[],
};

const NODE_SELECTOR_EXCLUDES: CauseText = CauseText {
    rule: RuleId::NodeSelectorMatchesNoNode,
    message: "cannot be scheduled: {count} of {total} node(s) do not match its node selector/affinity and the others cannot take it",
    summary: SELECTOR_SUMMARY,
    steps: &[SHOW_SELECTED_LABELS],
};

const NO_NODES: CauseText = CauseText {
    rule: RuleId::FailedScheduling,
    message: "cannot be scheduled: the scheduler sees no node at all",
    summary: FAILED_SCHEDULING_SUMMARY,
    steps: &[
        READ_EVENTS,
        read_only("List the nodes", "kubectl get nodes"),
    ],
};

const CORDONED: CauseText = CauseText {
    rule: RuleId::FailedScheduling,
    message: "cannot be scheduled: the node(s) it could use are cordoned ({count} of {total} unschedulable)",
    summary: FAILED_SCHEDULING_SUMMARY,
    steps: &[
        READ_EVENTS,
        read_only(
            "List cordoned nodes",
            "kubectl get nodes --field-selector spec.unschedulable=true",
        ),
        reversible(
            "Uncordon a node once its maintenance is over",
            Command::Line("kubectl uncordon <node>"),
        ),
    ],
};

const SCHEDULER_MESSAGE: CauseText = CauseText {
    rule: RuleId::FailedScheduling,
    message: "cannot be scheduled: {text}",
    summary: FAILED_SCHEDULING_SUMMARY,
    steps: &[READ_EVENTS],
};

/// The template with its `{name}` placeholders replaced by the values of `vars`, in
/// one pass: a value is never read as a template, and braces that name no variable
/// stay as written.
pub(super) fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let value = after.find('}').and_then(|close| {
            let name = &after[..close];
            vars.iter()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| (close, *value))
        });
        match value {
            Some((close, value)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                debug_assert!(
                    !is_placeholder(after),
                    "no value for a placeholder of {template:?}"
                );
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether text after a `{` starts a `{name}` placeholder (lower case and `_`).
fn is_placeholder(after_brace: &str) -> bool {
    after_brace.find('}').is_some_and(|close| {
        close > 0
            && after_brace[..close]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAUSES: &[Cause] = &[
        Cause::Healed,
        Cause::Gated,
        Cause::RequestsExceedCapacity,
        Cause::NoNodeMatches,
        Cause::TaintedUnhealthyNodes,
        Cause::TaintedNodes,
        Cause::UnboundClaims,
        Cause::UnboundNamedClaims,
        Cause::InsufficientResources,
        Cause::OnlyControlPlane,
        Cause::UnhealthyNodes,
        Cause::UnnamedTaints,
        Cause::UntoleratedTaints,
        Cause::AffinityUnsatisfiable,
        Cause::VolumeTopology,
        Cause::NodeSelectorExcludes,
        Cause::NoNodes,
        Cause::Cordoned,
        Cause::SchedulerMessage,
        Cause::ConstrainedToTaintedNodes,
        Cause::ConstrainedToControlPlane,
        Cause::SelectorThenReservedTaints,
    ];

    /// The placeholders a text may use: the Pod's and each cause's (its doc).
    const PLACEHOLDERS: &[&str] = &[
        "pod",
        "ns_flag",
        "waited",
        "node",
        "gates",
        "among",
        "requests",
        "resource",
        "extra_column",
        "constraints",
        "keys",
        "fitting",
        "taints",
        "claims",
        "resources",
        "count",
        "total",
        "kinds",
        "text",
        "label",
        "claim",
        "claim_ns_flag",
        "volume",
        "nodes",
    ];

    fn placeholders(template: &str) -> Vec<&str> {
        template
            .match_indices('{')
            .map(|(open, _)| &template[open + 1..])
            .filter(|after| is_placeholder(after))
            .map(|after| &after[..after.find('}').unwrap_or_default()])
            .collect()
    }

    fn texts(cause: Cause) -> Vec<&'static str> {
        let text = text(cause);
        let mut out = vec![text.message, text.summary];
        for step in text.steps {
            out.push(step.what);
            if let Command::Line(line) = step.command {
                out.push(line);
            }
        }
        out
    }

    #[test]
    fn every_placeholder_of_the_table_is_a_known_one() {
        let extra = [&LABEL_A_NODE, &WHY_CLAIM_UNBOUND, &INSPECT_VOLUME_TOPOLOGY];
        let mut all: Vec<&str> = CAUSES.iter().flat_map(|cause| texts(*cause)).collect();
        for step in extra {
            all.push(step.what);
            if let Command::Line(line) = step.command {
                all.push(line);
            }
        }
        let mut used = Vec::new();
        for template in all {
            for name in placeholders(template) {
                assert!(
                    PLACEHOLDERS.contains(&name),
                    "{{{name}}} in {template:?} is not a placeholder the code fills"
                );
                used.push(name);
            }
        }
        for name in PLACEHOLDERS {
            assert!(used.contains(name), "{{{name}}} is used by no text");
        }
    }

    #[test]
    fn the_table_reports_the_scheduling_rules() {
        use crate::api::RuleSetName;
        use crate::rules::CATALOG;
        let reported: Vec<RuleId> = CAUSES.iter().map(|cause| text(*cause).rule).collect();
        for rule in &reported {
            assert_eq!(rule.meta().set, RuleSetName::Scheduling, "{rule}");
        }
        // SchedulerNotRunning is about the scheduler, not one Pod: silence.rs reports it
        for meta in CATALOG
            .iter()
            .filter(|meta| meta.set == RuleSetName::Scheduling)
        {
            assert!(
                reported.contains(&meta.id) || meta.id == RuleId::SchedulerNotRunning,
                "no cause reports {}",
                meta.id
            );
        }
    }

    #[test]
    fn fill_replaces_placeholders_once_and_keeps_other_braces() {
        assert_eq!(
            fill(
                "kubectl get pod {pod}{ns_flag} -o jsonpath='{.spec.schedulingGates}'",
                &[("pod", "web-1"), ("ns_flag", " -n shop")]
            ),
            "kubectl get pod web-1 -n shop -o jsonpath='{.spec.schedulingGates}'"
        );
        // a value that looks like a placeholder is not read again
        assert_eq!(
            fill(
                "cannot be scheduled: {text}",
                &[
                    ("text", "1 node(s) had untolerated taint {pod}"),
                    ("pod", "web-1")
                ]
            ),
            "cannot be scheduled: 1 node(s) had untolerated taint {pod}"
        );
        assert_eq!(fill("{} {{x}} {", &[("x", "1")]), "{} {1} {");
        assert_eq!(fill("no braces", &[]), "no braces");
    }
}
