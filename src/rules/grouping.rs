//! Grouping hits into findings: the hits of one rule on the Pods of one controller
//! are ONE finding on the controller, with the Pods as `affected` (three
//! crash-looping Pods of a ReplicaSet are one ContainerCrashing on the ReplicaSet).
//!
//! [`Grouped`] collects a rule family's hits (members, each on one Pod) under keys
//! that name the controller ([`GroupKey`]). Its groups come out in key order, which
//! is the order the findings are emitted in; a group's members keep the order they
//! were added in, and [`Group::draft`] starts the group's finding.

use std::collections::BTreeMap;

use crate::model::ObjRef;
use crate::rules::{Draft, RuleId};

/// What a group is keyed by: the object its finding is reported on and what tells
/// several findings of one rule on that object apart.
pub(crate) trait GroupKey: Ord {
    /// The controller of the group's Pods (ReplicaSet, StatefulSet, DaemonSet, Job),
    /// or the Pod itself when it has none: the object the finding is reported on.
    fn controller(&self) -> &ObjRef;

    /// Tells several findings of one rule on the controller apart (a container, a
    /// probe); empty when the rule reports once per controller.
    fn discriminator(&self) -> &str;
}

/// A member of a group: a hit on one Pod.
pub(crate) trait OnPod {
    /// The Pod the hit is on.
    fn pod(&self) -> &ObjRef;
}

/// How a group lists its Pods, the finding's `affected` (whose order and count the
/// report shows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PodList {
    /// One Pod per member, in the order the members were added: a Pod with two
    /// members is listed twice.
    PerMember,
    /// Each Pod once, in the order it was first added.
    Distinct,
}

/// The usual key: the controller and the discriminator (ordered by the controller,
/// then the discriminator).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ControllerKey {
    /// The controller, or the bare Pod.
    pub controller: ObjRef,
    /// See [`GroupKey::discriminator`].
    pub discriminator: String,
}

impl GroupKey for ControllerKey {
    fn controller(&self) -> &ObjRef {
        &self.controller
    }

    fn discriminator(&self) -> &str {
        &self.discriminator
    }
}

/// Hits grouped by key: each group becomes one finding.
pub(crate) struct Grouped<Key, Member> {
    groups: BTreeMap<Key, Vec<Member>>,
    pod_list: PodList,
}

impl<Key: Ord, Member> Grouped<Key, Member> {
    /// No groups yet; each group will list its Pods as `pod_list` says.
    pub(crate) fn new(pod_list: PodList) -> Self {
        Grouped {
            groups: BTreeMap::new(),
            pod_list,
        }
    }

    /// Adds a member to the group of `key` (created on its first member).
    pub(crate) fn add(&mut self, key: Key, member: Member) {
        self.groups.entry(key).or_default().push(member);
    }

    /// The groups, in key order.
    pub(crate) fn into_groups(self) -> impl Iterator<Item = Group<Key, Member>> {
        let pod_list = self.pod_list;
        self.groups.into_iter().map(move |(key, members)| Group {
            key,
            members,
            pod_list,
        })
    }
}

/// The hits of one key: one finding. Never empty.
pub(crate) struct Group<Key, Member> {
    key: Key,
    members: Vec<Member>,
    pod_list: PodList,
}

impl<Key, Member> Group<Key, Member> {
    /// The group's key.
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    /// The members, in the order they were added.
    pub(crate) fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member added first: the one whose evidence a finding quotes.
    pub(crate) fn first(&self) -> &Member {
        &self.members[0]
    }
}

impl<Key: GroupKey, Member> Group<Key, Member> {
    /// The object the finding is reported on.
    pub(crate) fn controller(&self) -> &ObjRef {
        self.key.controller()
    }

    /// The finding's discriminator.
    pub(crate) fn discriminator(&self) -> &str {
        self.key.discriminator()
    }
}

impl<Key: GroupKey, Member: OnPod> Group<Key, Member> {
    /// The group's Pods, listed as the [`Grouped`] was told ([`PodList`]).
    pub(crate) fn pods(&self) -> Vec<ObjRef> {
        let mut pods: Vec<ObjRef> = Vec::with_capacity(self.members.len());
        for member in &self.members {
            let pod = member.pod();
            if self.pod_list == PodList::PerMember || !pods.contains(pod) {
                pods.push(pod.clone());
            }
        }
        pods
    }

    /// A draft of `rule` on the controller, with the Pods as affected and the key's
    /// discriminator.
    pub(crate) fn draft(&self, rule: RuleId) -> Draft {
        Draft::new(rule, self.controller().clone())
            .affected(&self.pods())
            .discriminator(self.discriminator())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    struct Hit {
        pod: ObjRef,
    }

    impl OnPod for Hit {
        fn pod(&self) -> &ObjRef {
            &self.pod
        }
    }

    fn pod(name: &str) -> ObjRef {
        ObjRef::namespaced(Kind::Pod, "shop", name)
    }

    fn key(controller: &str, discriminator: &str) -> ControllerKey {
        ControllerKey {
            controller: ObjRef::namespaced(Kind::ReplicaSet, "shop", controller),
            discriminator: discriminator.to_owned(),
        }
    }

    fn grouped(pod_list: PodList) -> Grouped<ControllerKey, Hit> {
        let mut grouped = Grouped::new(pod_list);
        for (controller, discriminator, name) in [
            ("web-7d4f", "app", "web-7d4f-b"),
            ("api-5c9d", "", "api-5c9d-x"),
            ("web-7d4f", "app", "web-7d4f-a"),
            ("web-7d4f", "app", "web-7d4f-b"),
            ("web-7d4f", "sidecar", "web-7d4f-a"),
        ] {
            grouped.add(key(controller, discriminator), Hit { pod: pod(name) });
        }
        grouped
    }

    #[test]
    fn groups_come_in_key_order_and_members_in_the_order_added() {
        let groups: Vec<_> = grouped(PodList::PerMember).into_groups().collect();
        let keys: Vec<(&str, &str)> = groups
            .iter()
            .map(|group| (group.controller().name.as_str(), group.discriminator()))
            .collect();
        assert_eq!(
            keys,
            [
                ("api-5c9d", ""),
                ("web-7d4f", "app"),
                ("web-7d4f", "sidecar")
            ]
        );
        assert_eq!(groups[1].first().pod.name, "web-7d4f-b");
        assert_eq!(groups[1].members().len(), 3);
    }

    #[test]
    fn pods_are_listed_per_member_or_once_each() {
        let names = |pod_list| -> Vec<String> {
            let group = grouped(pod_list).into_groups().nth(1).expect("web/app");
            group.pods().into_iter().map(|pod| pod.name).collect()
        };
        assert_eq!(
            names(PodList::PerMember),
            ["web-7d4f-b", "web-7d4f-a", "web-7d4f-b"]
        );
        assert_eq!(names(PodList::Distinct), ["web-7d4f-b", "web-7d4f-a"]);
    }

    #[test]
    fn a_draft_is_on_the_controller_with_the_pods_and_the_discriminator() {
        let groups: Vec<_> = grouped(PodList::Distinct).into_groups().collect();
        let draft = groups[1].draft(RuleId::ContainerCrashing);
        assert_eq!(draft.rule.id, RuleId::ContainerCrashing);
        assert_eq!(draft.object.kind, Kind::ReplicaSet);
        assert_eq!(draft.object.name, "web-7d4f");
        assert_eq!(draft.discriminator, "app");
        assert_eq!(draft.affected, ["web-7d4f-b", "web-7d4f-a"]);
        assert_eq!(draft.affected_count, 2);
        let bare = groups[0].draft(RuleId::PodNotReady);
        assert_eq!(bare.discriminator, "");
    }
}
