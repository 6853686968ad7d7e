//! The change journal: what was seen to change on the objects a diagnosis reads, and
//! when — a Service's selector, a ConfigMap's key, a Node's taints. The controller
//! records what its watches deliver; a snapshot records what its objects'
//! `managedFields` show. The engine reads it to name the change behind a failure.
//!
//! Bounded: at most [`MAX_PER_NAMESPACE`] entries per namespace (the cluster-scoped
//! objects count as one namespace) and [`MAX_ENTRIES`] in all, [`MAX_FIELDS`] fields per entry and
//! [`MAX_VALUE`] bytes per value; entries older than [`RETENTION_SECS`] are dropped.
//! A change that repeats (a ConfigMap rewritten every second) updates its last entry
//! instead of adding one: the first value before, the last value after, a count.
//! Values of ConfigMaps are never held, only a hash of each (see `facets`).

use std::collections::{BTreeMap, VecDeque};

use jiff::Timestamp;

use super::template::FieldDiff;
use crate::model::ObjRef;
use crate::text::clip;

/// Entries kept per namespace.
pub const MAX_PER_NAMESPACE: usize = 32;

/// Entries kept in all: beyond, the oldest entry of the cluster goes.
pub const MAX_ENTRIES: usize = 4096;

/// Fields kept per entry.
pub const MAX_FIELDS: usize = 12;

/// Longest value of a field kept.
pub const MAX_VALUE: usize = 160;

/// Entries older than this are dropped.
pub const RETENTION_SECS: i64 = 24 * 3600;

/// What happened to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Happening {
    /// It was created.
    Created,
    /// Fields of it changed.
    Changed,
    /// It was deleted.
    Deleted,
}

impl Happening {
    /// `created`, `changed`, `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Happening::Created => "created",
            Happening::Changed => "changed",
            Happening::Deleted => "deleted",
        }
    }
}

/// Where an entry comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Seen by the controller's watch: the time is when it was seen, from and to are known.
    Observed,
    /// Read from the object's `managedFields`: the time is the last write of those
    /// fields, only their value now is known.
    ManagedFields,
}

/// One change of one object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When it happened (the last time, for a repeated change).
    pub time: Timestamp,
    /// The object.
    pub object: ObjRef,
    /// Created, changed or deleted.
    pub happening: Happening,
    /// The fields that changed (for a change).
    pub fields: Vec<FieldDiff>,
    /// How many times this change was seen (the same fields, one after another).
    pub count: u32,
    /// Who wrote it, when known (a managedFields manager).
    pub manager: Option<String>,
    /// Observed or read from managedFields.
    pub source: Source,
}

impl Entry {
    /// An entry for `object`, bounded.
    pub fn new(
        time: Timestamp,
        object: ObjRef,
        happening: Happening,
        mut fields: Vec<FieldDiff>,
        source: Source,
    ) -> Entry {
        fields.truncate(MAX_FIELDS);
        for field in &mut fields {
            for value in [&mut field.from, &mut field.to].into_iter().flatten() {
                if value.len() > MAX_VALUE {
                    *value = clip(value, MAX_VALUE);
                }
            }
        }
        Entry {
            time,
            object,
            happening,
            fields,
            count: 1,
            manager: None,
            source,
        }
    }

    fn same_change(&self, other: &Entry) -> bool {
        self.object == other.object
            && self.happening == other.happening
            && self.fields.len() == other.fields.len()
            && self
                .fields
                .iter()
                .zip(&other.fields)
                .all(|(a, b)| a.path == b.path)
    }
}

/// The journal of a cluster or snapshot.
#[derive(Clone, Debug, Default)]
pub struct Journal {
    by_namespace: BTreeMap<String, VecDeque<Entry>>,
    /// How many entries `by_namespace` holds.
    count: usize,
}

impl Journal {
    /// Records an entry: a repeat of the namespace's last change of the same fields
    /// of the same object updates it; otherwise the entry is added, the oldest
    /// dropped beyond the bound.
    pub fn record(&mut self, entry: Entry) {
        let namespace = entry.object.namespace.clone().unwrap_or_default();
        let entries = self.by_namespace.entry(namespace).or_default();
        let horizon = entry.time - jiff::SignedDuration::from_secs(RETENTION_SECS);
        let held = entries.len();
        entries.retain(|old| old.time >= horizon);
        let mut dropped = held - entries.len();
        if let Some(last) = entries
            .iter_mut()
            .rev()
            .find(|old| old.object == entry.object)
            && last.same_change(&entry)
            && last.source == entry.source
        {
            for (old, new) in last.fields.iter_mut().zip(entry.fields) {
                old.to = new.to;
            }
            last.time = last.time.max(entry.time);
            last.count = last.count.saturating_add(1);
            self.count -= dropped;
            return;
        }
        entries.push_back(entry);
        while entries.len() > MAX_PER_NAMESPACE {
            entries.pop_front();
            dropped += 1;
        }
        self.count = self.count + 1 - dropped;
        while self.count > MAX_ENTRIES {
            // the oldest entry of the cluster goes
            let oldest = self
                .by_namespace
                .iter()
                .filter_map(|(namespace, entries)| Some((entries.front()?.time, namespace)))
                .min()
                .map(|(_, namespace)| namespace.clone());
            let Some(namespace) = oldest else {
                break;
            };
            if let Some(entries) = self.by_namespace.get_mut(&namespace) {
                entries.pop_front();
                if entries.is_empty() {
                    self.by_namespace.remove(&namespace);
                }
            }
            self.count -= 1;
        }
    }

    /// The entries about an object, oldest first.
    pub fn of_object<'a>(&'a self, object: &'a ObjRef) -> impl Iterator<Item = &'a Entry> + 'a {
        self.by_namespace
            .get(object.namespace.as_deref().unwrap_or_default())
            .into_iter()
            .flatten()
            .filter(move |entry| entry.object == *object)
    }

    /// The entries of a namespace (`""`: the cluster-scoped objects), oldest first.
    pub fn of_namespace<'a>(&'a self, namespace: &str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.by_namespace.get(namespace).into_iter().flatten()
    }

    /// Every entry, namespace by namespace, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.by_namespace.values().flatten()
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_773_300_000 + secs).unwrap()
    }

    fn key_change(secs: i64, from: &str, to: &str) -> Entry {
        Entry::new(
            at(secs),
            ObjRef::namespaced(Kind::ConfigMap, "shop", "app-config"),
            Happening::Changed,
            vec![FieldDiff {
                path: "data[DATABASE_URL]".into(),
                from: Some(from.into()),
                to: Some(to.into()),
            }],
            Source::Observed,
        )
    }

    #[test]
    fn a_change_every_second_is_one_entry_with_a_count() {
        let mut journal = Journal::default();
        for second in 0..10_000 {
            journal.record(key_change(
                second,
                &format!("h{second}"),
                &format!("h{}", second + 1),
            ));
        }
        let object = ObjRef::namespaced(Kind::ConfigMap, "shop", "app-config");
        let entries: Vec<&Entry> = journal.of_object(&object).collect();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].count, 10_000);
        assert_eq!(entries[0].time, at(9_999));
        assert_eq!(entries[0].fields[0].from.as_deref(), Some("h0"));
        assert_eq!(entries[0].fields[0].to.as_deref(), Some("h10000"));
    }

    #[test]
    fn bounded_per_namespace_and_in_time() {
        let mut journal = Journal::default();
        for index in 0..100 {
            journal.record(Entry::new(
                at(index),
                ObjRef::namespaced(Kind::Service, "shop", &format!("s{index}")),
                Happening::Changed,
                (0..50)
                    .map(|field| FieldDiff {
                        path: format!("spec.ports[{field}]"),
                        from: None,
                        to: Some("x".repeat(1000)),
                    })
                    .collect(),
                Source::Observed,
            ));
        }
        journal.record(key_change(0, "a", "b"));
        assert_eq!(journal.of_namespace("shop").count(), MAX_PER_NAMESPACE);
        let newest = journal.of_namespace("shop").last().unwrap();
        assert_eq!(newest.fields.len(), 1);
        let service = journal.of_namespace("shop").next().unwrap();
        assert_eq!(service.fields.len(), MAX_FIELDS);
        assert!(service.fields[0].to.as_ref().unwrap().len() <= MAX_VALUE + 4);
        // a day later, the old entries are gone
        journal.record(key_change(RETENTION_SECS + 200, "b", "c"));
        assert_eq!(journal.len(), 1);
    }

    #[test]
    fn bounded_across_namespaces_oldest_first() {
        let mut journal = Journal::default();
        for index in 0..(MAX_ENTRIES as i64 + 100) {
            let namespace = format!("ns-{}", index % 1000);
            journal.record(Entry::new(
                at(index),
                ObjRef::namespaced(Kind::ConfigMap, &namespace, &format!("c{index}")),
                Happening::Created,
                Vec::new(),
                Source::Observed,
            ));
        }
        assert_eq!(journal.len(), MAX_ENTRIES);
        let counted: usize = (0..1000)
            .map(|n| journal.of_namespace(&format!("ns-{n}")).count())
            .sum();
        assert_eq!(counted, MAX_ENTRIES);
        // the 100 oldest went
        let object = ObjRef::namespaced(Kind::ConfigMap, "ns-0", "c0");
        assert_eq!(journal.of_object(&object).count(), 0);
        let kept = ObjRef::namespaced(Kind::ConfigMap, "ns-100", "c100");
        assert_eq!(journal.of_object(&kept).count(), 1);
    }

    #[test]
    fn different_fields_are_different_entries() {
        let mut journal = Journal::default();
        journal.record(key_change(0, "a", "b"));
        let mut other = key_change(1, "a", "b");
        other.fields[0].path = "data[LOG_LEVEL]".into();
        journal.record(other);
        journal.record(key_change(2, "b", "c"));
        assert_eq!(journal.len(), 3);
    }
}
