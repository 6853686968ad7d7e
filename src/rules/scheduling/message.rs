//! The scheduler's FailedScheduling message, read into its parts.
//!
//! The scheduler writes one line per attempt, e.g.
//!
//! ```text
//! 0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: },
//! 3 Insufficient memory. preemption: 0/4 nodes are available: 1 Preemption is not helpful for
//! scheduling, 3 No preemption victims found for incoming pod.
//! ```
//!
//! i.e. `<available>/<total> nodes are available: <count> <reason>, ...` (reasons sorted,
//! one node may count under several reasons of one plugin), then what preemption
//! found. Older schedulers wrote `node(s) had taint {k: v}, that the pod didn't
//! tolerate` and `No nodes are available that match all of the following predicates::
//! Insufficient cpu (3)`. Some messages have no counts at all (`pod has unbound
//! immediate PersistentVolumeClaims`, `no nodes available to schedule pods`).
//!
//! [`parse`] is pure and total: any input gives a [`SchedulerMessage`], never a panic.

/// A taint as the scheduler prints it: `{key: value}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PrintedTaint {
    /// The taint's key.
    pub key: String,
    /// Its value, empty when it has none.
    pub value: String,
}

impl std::fmt::Display for PrintedTaint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}", self.key)
        } else {
            write!(f, "{}={}", self.key, self.value)
        }
    }
}

/// What kept some nodes from fitting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// `Insufficient cpu`, `Insufficient nvidia.com/gpu`, `Too many pods` (resource `pods`).
    Insufficient(String),
    /// `didn't match Pod's node affinity/selector`, `didn't match node selector`,
    /// `didn't satisfy plugin(s) [NodeAffinity]`.
    NodeSelector,
    /// `had untolerated taint {k: v}`, `had taint {k: v}, that the pod didn't tolerate`,
    /// `had taints that the pod didn't tolerate` (no taint named).
    Taint(Vec<PrintedTaint>),
    /// `were unschedulable`: cordoned.
    Unschedulable,
    /// Pod affinity / anti-affinity / topology spread; the text says which.
    PodAffinity(AffinityKind),
    /// `had volume node affinity conflict`, `had no available volume zone`, v1.37's
    /// `didn't match PersistentVolume's node affinity`.
    VolumeNodeAffinity,
    /// `pod has unbound immediate PersistentVolumeClaims`,
    /// `didn't find available persistent volumes to bind`.
    UnboundClaims,
    /// `persistentvolumeclaim "x" not found`.
    ClaimNotFound(String),
    /// `didn't have free ports for the requested pod ports`.
    Ports,
    /// Anything else (quoted as is).
    Other,
}

/// Which inter-Pod constraint a reason names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffinityKind {
    /// `didn't match pod affinity rules`: required pod affinity.
    Affinity,
    /// `didn't match pod anti-affinity rules`: the Pod's own required anti-affinity.
    AntiAffinity,
    /// `didn't satisfy existing pods anti-affinity rules`: other Pods repel this one.
    ExistingAntiAffinity,
    /// `didn't match pod topology spread constraints`.
    TopologySpread,
}

impl AffinityKind {
    /// How a message names it: `pod anti-affinity`, `topology spread constraints`...
    pub(crate) fn describe(self) -> &'static str {
        match self {
            AffinityKind::Affinity => "pod affinity",
            AffinityKind::AntiAffinity => "pod anti-affinity",
            AffinityKind::ExistingAntiAffinity => "the anti-affinity of Pods already running",
            AffinityKind::TopologySpread => "topology spread constraints",
        }
    }
}

/// One `<count> <reason>` of the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// How many nodes failed for this reason; `None` for reasons stated about the Pod.
    pub count: Option<u32>,
    /// The reason as written.
    pub text: String,
    /// What the reason means.
    pub reason: Reason,
}

/// A parsed FailedScheduling message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchedulerMessage {
    /// Nodes that fit (`0` in `0/4 nodes are available`).
    pub available: Option<u32>,
    /// Nodes considered (`4`).
    pub total: Option<u32>,
    /// The reasons, in the order written.
    pub parts: Vec<Part>,
    /// What the preemption attempt found (`Preemption is not helpful for scheduling`...).
    pub preemption: Vec<Part>,
    /// `no nodes available to schedule pods`: the cluster has no (ready) node at all.
    pub no_nodes: bool,
}

impl SchedulerMessage {
    /// Whether a reason of this kind is in the message.
    pub(crate) fn has(&self, is_kind: impl Fn(&Reason) -> bool) -> bool {
        self.parts.iter().any(|part| is_kind(&part.reason))
    }

    /// Whether preemption could make room (some node had victims to evict).
    pub fn preemption_helps(&self) -> bool {
        !self.preemption.is_empty()
            && self.preemption.iter().any(|part| {
                let text = part.text.to_ascii_lowercase();
                !text.contains("not helpful") && !text.contains("no preemption victims")
            })
    }
}

/// Reads a FailedScheduling message. Never panics; unknown text becomes
/// [`Reason::Other`] parts or an empty message.
pub fn parse(msg: &str) -> SchedulerMessage {
    let mut out = SchedulerMessage::default();
    // bound the work on absurd inputs; real messages are well under this
    let msg = clip_chars(msg.trim(), 8192);
    let lower = msg.to_ascii_lowercase();
    if lower.starts_with("no nodes available to schedule pods") {
        out.no_nodes = true;
        out.total = Some(0);
        out.available = Some(0);
        return out;
    }
    // old form: "No nodes are available that match all of the following predicates:: Insufficient cpu (3), ..."
    if let Some(start) = lower.find("following predicates:") {
        let rest = msg[start..]
            .split_once(':')
            .map(|(_, r)| r.trim_start_matches(':'))
            .unwrap_or("");
        out.parts = split_parts(trim_end(rest))
            .into_iter()
            .map(|part| predicate_part(&part))
            .collect();
        out.available = Some(0);
        return out;
    }
    let (main, preemption) = match find_ci(msg, "preemption:") {
        Some(start) => (&msg[..start], Some(&msg[start + "preemption:".len()..])),
        None => (msg, None),
    };
    let (head, body) = split_head(main);
    if let Some((avail, total)) = head {
        out.available = Some(avail);
        out.total = Some(total);
    }
    out.parts = parts_of(body);
    if let Some(preemption) = preemption {
        let (_, preemption_body) = split_head(preemption);
        out.preemption = parts_of(preemption_body);
    }
    out
}

/// `0/4 nodes are available: rest` -> (Some((0, 4)), rest). Without the head, the whole text.
fn split_head(text: &str) -> (Option<(u32, u32)>, &str) {
    let Some(start) = find_ci(text, "nodes are available") else {
        return (None, text);
    };
    let before = text[..start].trim();
    let counts = before
        .rsplit(char::is_whitespace)
        .next()
        .and_then(|tok| tok.split_once('/'))
        .and_then(|(available, total)| {
            Some((available.trim().parse().ok()?, total.trim().parse().ok()?))
        });
    let after = &text[start + "nodes are available".len()..];
    let after = after.trim_start().strip_prefix(':').unwrap_or(after);
    (counts, after)
}

fn parts_of(body: &str) -> Vec<Part> {
    let body = trim_end(body);
    let mut parts: Vec<Part> = Vec::new();
    for raw in split_parts(body) {
        let (count, text) = leading_count(&raw);
        // "had taint {k: v}, that the pod didn't tolerate": the tail belongs to the previous part
        if count.is_none()
            && let Some(prev) = parts.last_mut()
            && text.to_ascii_lowercase().starts_with("that the pod")
        {
            prev.text.push_str(", ");
            prev.text.push_str(text);
            prev.reason = classify(&prev.text);
            continue;
        }
        if text.is_empty() {
            continue;
        }
        parts.push(Part {
            count,
            text: text.to_owned(),
            reason: classify(text),
        });
    }
    parts
}

/// `Insufficient cpu (3)` (old predicate form).
fn predicate_part(raw: &str) -> Part {
    let trimmed = raw.trim();
    let (text, count) = match trimmed.rsplit_once('(') {
        Some((reason, count)) => match count.trim_end_matches(')').trim().parse::<u32>() {
            Ok(count) => (reason.trim(), Some(count)),
            Err(_) => (trimmed, None),
        },
        None => (trimmed, None),
    };
    Part {
        count,
        text: text.to_owned(),
        reason: classify(text),
    }
}

/// Splits on `, ` outside braces, brackets and quotes.
fn split_parts(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth: i32 = 0;
    let mut quoted = false;
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => quoted = !quoted,
            '{' | '[' | '(' if !quoted => depth += 1,
            '}' | ']' | ')' if !quoted => depth = (depth - 1).max(0),
            _ => {}
        }
        if ch == ','
            && depth == 0
            && !quoted
            && chars.peek().is_none_or(|next| next.is_whitespace())
        {
            out.push(current.trim().to_owned());
            current.clear();
            continue;
        }
        current.push(ch);
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_owned());
    }
    out.retain(|part| !part.is_empty());
    out
}

/// `3 Insufficient cpu` -> (Some(3), `Insufficient cpu`).
fn leading_count(text: &str) -> (Option<u32>, &str) {
    let text = text.trim();
    match text.split_once(char::is_whitespace) {
        Some((count, rest)) if !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()) => {
            (count.parse().ok(), rest.trim())
        }
        _ => (None, text),
    }
}

/// What a reason text means.
pub fn classify(text: &str) -> Reason {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    if let Some(resource) = trimmed.strip_prefix("Insufficient ") {
        return Reason::Insufficient(resource.trim().trim_end_matches('.').to_owned());
    }
    if lower.starts_with("too many pods") {
        return Reason::Insufficient("pods".to_owned());
    }
    if lower.contains("untolerated taint")
        || (lower.contains("taint") && lower.contains("didn't tolerate"))
    {
        return Reason::Taint(taints_in(trimmed));
    }
    if lower.contains("didn't match pod's node affinity")
        || lower.contains("didn't match node selector")
        || lower.contains("didn't match pod's node selector")
        || lower.contains("matchnodeselector")
        || lower.contains("[nodeaffinity]")
    {
        return Reason::NodeSelector;
    }
    if lower.contains("were unschedulable") || lower.contains("was unschedulable") {
        return Reason::Unschedulable;
    }
    if lower.contains("topology spread") || lower.contains("[podtopologyspread]") {
        return Reason::PodAffinity(AffinityKind::TopologySpread);
    }
    if lower.contains("existing pods anti-affinity") {
        return Reason::PodAffinity(AffinityKind::ExistingAntiAffinity);
    }
    if lower.contains("anti-affinity") {
        return Reason::PodAffinity(AffinityKind::AntiAffinity);
    }
    if lower.contains("pod affinity") || lower.contains("[interpodaffinity]") {
        return Reason::PodAffinity(AffinityKind::Affinity);
    }
    // v1.37's volumebinding plugin: "didn't match PersistentVolume's node affinity"
    if lower.contains("volume node affinity conflict")
        || lower.contains("no available volume zone")
        || lower.contains("didn't match persistentvolume's node affinity")
    {
        return Reason::VolumeNodeAffinity;
    }
    if lower.contains("unbound immediate persistentvolumeclaims")
        || lower.contains("didn't find available persistent volumes to bind")
    {
        return Reason::UnboundClaims;
    }
    if lower.starts_with("persistentvolumeclaim") && lower.contains("not found") {
        let name = trimmed.split('"').nth(1).unwrap_or_default().to_owned();
        return Reason::ClaimNotFound(name);
    }
    if lower.contains("free ports") {
        return Reason::Ports;
    }
    Reason::Other
}

/// The `{key: value}` groups of a taint reason.
fn taints_in(text: &str) -> Vec<PrintedTaint> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let inner = &after[..close];
        for pair in inner.split(", ") {
            let (key, value) = pair.split_once(':').unwrap_or((pair, ""));
            let key = key.trim();
            if !key.is_empty() {
                out.push(PrintedTaint {
                    key: key.to_owned(),
                    value: value.trim().to_owned(),
                });
            }
        }
        rest = &after[close + 1..];
    }
    out
}

/// Without surrounding blanks and a final period.
fn trim_end(text: &str) -> &str {
    text.trim().trim_end_matches('.').trim()
}

/// Case-insensitive find of an ASCII needle; the index is a char boundary of `s`.
fn find_ci(text: &str, needle: &str) -> Option<usize> {
    let len = needle.len();
    text.char_indices().map(|(i, _)| i).find(|&i| {
        text.get(i..i + len)
            .is_some_and(|window| window.eq_ignore_ascii_case(needle))
    })
}

/// The first `max` characters.
fn clip_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(message: &SchedulerMessage) -> Vec<(Option<u32>, Reason)> {
        message
            .parts
            .iter()
            .map(|p| (p.count, p.reason.clone()))
            .collect()
    }

    fn taint(key: &str) -> PrintedTaint {
        PrintedTaint {
            key: key.into(),
            value: String::new(),
        }
    }

    #[test]
    fn taint_and_memory_with_preemption() {
        let message = parse(
            "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient memory. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.",
        );
        assert_eq!(message.available, Some(0));
        assert_eq!(message.total, Some(4));
        assert_eq!(
            reasons(&message),
            vec![
                (
                    Some(1),
                    Reason::Taint(vec![taint("node-role.kubernetes.io/control-plane")])
                ),
                (Some(3), Reason::Insufficient("memory".into())),
            ]
        );
        assert_eq!(message.preemption.len(), 2);
        assert_eq!(message.preemption[1].count, Some(3));
        assert!(!message.preemption_helps());
    }

    /// (message, total nodes, expected (count, reason) parts)
    type Case = (&'static str, Option<u32>, Vec<(Option<u32>, Reason)>);

    #[test]
    fn every_common_form() {
        let cases: Vec<Case> = vec![
            (
                "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
                Some(3),
                vec![(Some(3), Reason::NodeSelector)],
            ),
            (
                "0/5 nodes are available: 2 node(s) had volume node affinity conflict, 3 node(s) didn't match pod anti-affinity rules.",
                Some(5),
                vec![
                    (Some(2), Reason::VolumeNodeAffinity),
                    (Some(3), Reason::PodAffinity(AffinityKind::AntiAffinity)),
                ],
            ),
            (
                "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
                Some(3),
                vec![(None, Reason::UnboundClaims)],
            ),
            (
                "0/3 nodes are available: 3 node(s) didn't match pod topology spread constraints.",
                Some(3),
                vec![(Some(3), Reason::PodAffinity(AffinityKind::TopologySpread))],
            ),
            (
                "0/3 nodes are available: 1 Insufficient cpu, 2 Too many pods.",
                Some(3),
                vec![
                    (Some(1), Reason::Insufficient("cpu".into())),
                    (Some(2), Reason::Insufficient("pods".into())),
                ],
            ),
            (
                "0/6 nodes are available: 6 Insufficient nvidia.com/gpu.",
                Some(6),
                vec![(Some(6), Reason::Insufficient("nvidia.com/gpu".into()))],
            ),
            (
                "0/3 nodes are available: 3 node(s) were unschedulable.",
                Some(3),
                vec![(Some(3), Reason::Unschedulable)],
            ),
            (
                "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }, 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
                Some(2),
                vec![
                    (
                        Some(1),
                        Reason::Taint(vec![taint("node.kubernetes.io/unreachable")]),
                    ),
                    (
                        Some(1),
                        Reason::Taint(vec![taint("node-role.kubernetes.io/control-plane")]),
                    ),
                ],
            ),
            (
                "0/3 nodes are available: 1 node(s) had taint {node-role.kubernetes.io/master: }, that the pod didn't tolerate, 2 Insufficient cpu.",
                Some(3),
                vec![
                    (
                        Some(1),
                        Reason::Taint(vec![taint("node-role.kubernetes.io/master")]),
                    ),
                    (Some(2), Reason::Insufficient("cpu".into())),
                ],
            ),
            (
                "0/3 nodes are available: 3 node(s) didn't match pod affinity rules, 3 node(s) didn't match pod affinity/anti-affinity.",
                Some(3),
                vec![
                    (Some(3), Reason::PodAffinity(AffinityKind::Affinity)),
                    (Some(3), Reason::PodAffinity(AffinityKind::AntiAffinity)),
                ],
            ),
            (
                "0/4 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules, 2 node(s) didn't have free ports for the requested pod ports.",
                Some(4),
                vec![
                    (
                        Some(2),
                        Reason::PodAffinity(AffinityKind::ExistingAntiAffinity),
                    ),
                    (Some(2), Reason::Ports),
                ],
            ),
            (
                "0/1 nodes are available: persistentvolumeclaim \"data-db-0\" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
                Some(1),
                vec![(None, Reason::ClaimNotFound("data-db-0".into()))],
            ),
            (
                "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) didn't satisfy plugin(s) [NodeAffinity].",
                Some(3),
                vec![
                    (Some(1), Reason::NodeSelector),
                    (Some(2), Reason::NodeSelector),
                ],
            ),
            (
                "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: gpu}.",
                Some(3),
                vec![(
                    Some(3),
                    Reason::Taint(vec![PrintedTaint {
                        key: "dedicated".into(),
                        value: "gpu".into(),
                    }]),
                )],
            ),
            (
                "0/2 nodes are available: 2 node(s) had no available volume zone.",
                Some(2),
                vec![(Some(2), Reason::VolumeNodeAffinity)],
            ),
            (
                "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind.",
                Some(3),
                vec![(Some(3), Reason::UnboundClaims)],
            ),
            (
                "0/3 nodes are available: 3 node(s) had taints that the pod didn't tolerate.",
                Some(3),
                vec![(Some(3), Reason::Taint(vec![]))],
            ),
        ];
        for (msg, total, want) in cases {
            let message = parse(msg);
            assert_eq!(message.total, total, "{msg}");
            assert_eq!(reasons(&message), want, "{msg}");
        }
    }

    #[test]
    fn no_nodes_and_old_predicates_and_free_text() {
        let message = parse("no nodes available to schedule pods");
        assert!(message.no_nodes);
        assert_eq!(message.total, Some(0));
        let message = parse(
            "No nodes are available that match all of the following predicates:: Insufficient cpu (3), MatchNodeSelector (2).",
        );
        assert_eq!(
            reasons(&message),
            vec![
                (Some(3), Reason::Insufficient("cpu".into())),
                (Some(2), Reason::NodeSelector),
            ]
        );
        let message = parse(
            "running PreBind plugin \"VolumeBinding\": binding volumes: timed out waiting for the condition",
        );
        assert_eq!(message.total, None);
        assert_eq!(reasons(&message), vec![(None, Reason::Other)]);
        let message = parse("");
        assert!(message.parts.is_empty());
        let message = parse(
            "0/3 nodes are available: 3 node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
        );
        assert_eq!(
            reasons(&message),
            vec![(
                Some(3),
                Reason::Taint(vec![taint("node.kubernetes.io/not-ready")])
            )]
        );
    }

    #[test]
    fn preemption_that_can_help_is_recognised() {
        let message = parse(
            "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 Insufficient cpu.",
        );
        assert!(message.preemption_helps());
    }

    #[test]
    fn mangled_messages_never_panic() {
        let seeds = [
            "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient memory. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.",
            "No nodes are available that match all of the following predicates:: Insufficient cpu (3).",
            "0/1 nodes are available: persistentvolumeclaim \"x\" not found.",
            "no nodes available to schedule pods",
        ];
        let inserts = [
            "",
            "{",
            "}",
            "\"",
            ":",
            ",",
            ", ",
            "/",
            "99999999999999999999",
            "é",
            "ünïcødé{",
            "\u{0}",
            "nodes are available",
            "preemption:",
            "(",
            ")",
            "  ",
            ".",
            "-1/-2 ",
        ];
        let mut parsed = 0usize;
        for seed in seeds {
            let chars: Vec<char> = seed.chars().collect();
            // cut at every position, and insert noise at a spread of positions
            for cut in 0..=chars.len() {
                let head: String = chars[..cut].iter().collect();
                let tail: String = chars[cut..].iter().collect();
                let _ = parse(&head);
                let _ = parse(&tail);
                if cut % 7 == 0 {
                    for noise in inserts {
                        let _ = parse(&format!("{head}{noise}{tail}"));
                        let _ = parse(&format!("{head}{noise}{noise}"));
                        parsed += 2;
                    }
                }
            }
        }
        // a pseudo-random walk over bytes that happen to be valid UTF-8
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let mut text = String::new();
            for _ in 0..(state % 120) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let alphabet = "0123456789/ :,.{}()\"nodesareavilbpmtInsufficientcpuéü";
                let chars: Vec<char> = alphabet.chars().collect();
                text.push(chars[(state % chars.len() as u64) as usize]);
            }
            let _ = parse(&text);
            parsed += 1;
        }
        assert!(parsed > 1000);
    }
}
