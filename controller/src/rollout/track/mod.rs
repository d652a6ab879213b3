//! Turning watch events into timeline events.
//!
//! Each watched kind is reduced to a small snapshot of the fields that
//! matter ([`pod::PodSnap`], [`replicaset::ReplicaSetSnap`],
//! [`slice::SliceSnap`]); a [`Tracker`] keeps the last snapshot of every
//! object and emits the difference when a new one arrives. That makes the
//! output independent of how often the API server repeats itself: an object
//! seen again with the same (uid, resourceVersion) or with no change in the
//! tracked fields yields nothing, so the re-list a watcher does after a lost
//! connection adds no duplicate events, and objects missing from that
//! re-list are reported deleted.
//!
//! The first list of every watcher (before the patch) is the baseline: it is
//! stored, not reported.

pub mod pod;
pub mod replicaset;
pub mod slice;

use std::collections::{BTreeMap, BTreeSet};

use kube::runtime::watcher;
use seamless_proto::timeline::{Event, EventKind, ObjectRef};

/// A tracked object's state.
pub trait Snapshot: Clone {
    /// metadata.uid.
    fn uid(&self) -> &str;
    /// metadata.resourceVersion.
    fn resource_version(&self) -> &str;
    /// Events for the change `prev -> cur`; `prev` is `None` for an object
    /// that appeared after the baseline. Timestamps are left at 0.
    fn diff(prev: Option<&Self>, cur: &Self) -> Vec<Event>;
    /// Events for the object's deletion.
    fn deleted(last: &Self) -> Vec<Event>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// The first list: stored silently.
    Baseline,
    /// Watching.
    Live,
    /// A re-list after the watch was lost: what is not in it was deleted.
    Relisting(BTreeSet<String>),
}

/// The last known state of every object of one kind.
#[derive(Debug, Clone)]
pub struct Tracker<S> {
    objects: BTreeMap<String, S>,
    phase: Phase,
    synced: bool,
}

impl<S: Snapshot> Default for Tracker<S> {
    fn default() -> Self {
        Tracker {
            objects: BTreeMap::new(),
            phase: Phase::Baseline,
            synced: false,
        }
    }
}

impl<S: Snapshot> Tracker<S> {
    /// Feeds one watcher event; `snap` reduces an object to its snapshot, or
    /// `None` to ignore it. Returns the timeline events it causes.
    pub fn handle<K>(
        &mut self,
        event: watcher::Event<K>,
        snap: impl Fn(&K) -> Option<S>,
    ) -> Vec<Event> {
        match event {
            watcher::Event::Init => {
                if self.synced {
                    self.phase = Phase::Relisting(BTreeSet::new());
                } else {
                    self.objects.clear();
                    self.phase = Phase::Baseline;
                }
                Vec::new()
            }
            watcher::Event::InitApply(obj) => {
                let Some(s) = snap(&obj) else {
                    return Vec::new();
                };
                match &mut self.phase {
                    Phase::Baseline => {
                        self.objects.insert(s.uid().to_owned(), s);
                        Vec::new()
                    }
                    Phase::Relisting(seen) => {
                        seen.insert(s.uid().to_owned());
                        self.apply(s)
                    }
                    Phase::Live => self.apply(s),
                }
            }
            watcher::Event::InitDone => {
                let phase = std::mem::replace(&mut self.phase, Phase::Live);
                self.synced = true;
                match phase {
                    Phase::Relisting(seen) => {
                        let gone: Vec<String> = self
                            .objects
                            .keys()
                            .filter(|uid| !seen.contains(*uid))
                            .cloned()
                            .collect();
                        let mut events = Vec::new();
                        for uid in gone {
                            if let Some(last) = self.objects.remove(&uid) {
                                events.extend(S::deleted(&last));
                            }
                        }
                        events
                    }
                    Phase::Baseline | Phase::Live => Vec::new(),
                }
            }
            watcher::Event::Apply(obj) => match snap(&obj) {
                Some(s) => self.apply(s),
                None => Vec::new(),
            },
            watcher::Event::Delete(obj) => match snap(&obj) {
                Some(s) => {
                    let uid = s.uid().to_owned();
                    let mut events = self.apply(s);
                    if let Some(last) = self.objects.remove(&uid) {
                        events.extend(S::deleted(&last));
                    }
                    events
                }
                None => Vec::new(),
            },
        }
    }

    /// Records a new state; returns what changed.
    fn apply(&mut self, s: S) -> Vec<Event> {
        let prev = self.objects.get(s.uid());
        if prev.is_some_and(|p| p.resource_version() == s.resource_version()) {
            return Vec::new();
        }
        let events = S::diff(prev, &s);
        self.objects.insert(s.uid().to_owned(), s);
        events
    }

    /// Has the first list completed?
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// The objects as last seen, by uid.
    pub fn objects(&self) -> &BTreeMap<String, S> {
        &self.objects
    }
}

/// An event about an object, timestamp left at 0 (set when written).
pub fn event(kind: EventKind, object: ObjectRef) -> Event {
    Event::new(0, kind).with_object(object)
}

/// A reference to an object of a kind, with uid and resourceVersion.
pub fn object_ref(
    kind: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> ObjectRef {
    ObjectRef {
        kind: kind.to_owned(),
        namespace: None,
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
    }
}
