//! Bounded per-resource history of the store's writes.
//!
//! The history answers two questions for a past resourceVersion `rv`: "which events
//! happened after it?" (watch resume) and "what did the resource look like at it?"
//! (consistent paging, `resourceVersionMatch=Exact`). Both can be answered only while
//! no event newer than `rv` has been dropped: [`History::covers`]. Each [`Recorded`]
//! write holds its versions as [`StoredObject`]s (bytes, and a tree only while someone
//! holds it), shared with the store's current objects and with the neighbouring
//! entries, so a full history of a busy resource costs its bytes, not decoded trees.

use std::collections::VecDeque;
use std::sync::Arc;

use super::stored::StoredObject;
use super::watch::{EventType, StoredEvent};

/// One write as the history keeps it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) event_type: EventType,
    pub(crate) key: String,
    pub(crate) rv: u64,
    /// The version written (for a deletion, the tombstone).
    pub(crate) object: Arc<StoredObject>,
    /// The version it replaced.
    pub(crate) prev: Option<Arc<StoredObject>>,
}

impl Recorded {
    /// The write as watchers see it, with decoded (or still shared) trees.
    pub(crate) fn event(&self) -> StoredEvent {
        StoredEvent {
            event_type: self.event_type,
            key: self.key.clone(),
            object: self.object.value(),
            prev: self.prev.as_ref().map(|p| p.value()),
            rv: self.rv,
        }
    }
}

/// The last `capacity` writes of one resource.
#[derive(Debug)]
pub(crate) struct History {
    events: VecDeque<Recorded>,
    capacity: usize,
    /// resourceVersion of the newest event dropped (0 when none was).
    compacted_rv: u64,
}

impl History {
    /// An empty history that reaches back to `rv` only (a store restored at `rv`: what
    /// happened before it is gone, as after an etcd compaction).
    pub fn compacted_at(capacity: usize, rv: u64) -> Self {
        History { events: VecDeque::new(), capacity: capacity.max(1), compacted_rv: rv }
    }

    /// Appends an event (events arrive in increasing resourceVersion order), dropping
    /// the oldest one when full.
    pub fn push(&mut self, event: Recorded) {
        if self.events.len() >= self.capacity {
            if let Some(dropped) = self.events.pop_front() {
                self.compacted_rv = dropped.rv;
            }
        }
        self.events.push_back(event);
    }

    /// Whether every event after `rv` is still held.
    pub fn covers(&self, rv: u64) -> bool {
        rv >= self.compacted_rv
    }

    /// resourceVersion of the newest dropped event: the oldest `rv` still covered.
    pub fn compacted_rv(&self) -> u64 {
        self.compacted_rv
    }

    /// resourceVersion of the newest event held (of the newest dropped one when none is
    /// held): every change of the resource up to it has been recorded.
    pub fn newest_rv(&self) -> u64 {
        self.events.back().map_or(self.compacted_rv, |e| e.rv)
    }

    /// Events with a resourceVersion greater than `rv`, oldest first.
    pub fn since(&self, rv: u64) -> impl DoubleEndedIterator<Item = &Recorded> {
        let start = self.events.partition_point(|e| e.rv <= rv);
        self.events.range(start..)
    }

    /// Number of events held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.events.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(rv: u64) -> Recorded {
        let object = Arc::new(StoredObject::new(&Arc::new(json!({})), rv, &mut Default::default()));
        Recorded { event_type: EventType::Added, key: format!("k{rv}"), object, prev: None, rv }
    }

    #[test]
    fn bounded_and_covers() {
        let mut h = History::compacted_at(3, 0);
        for rv in [2, 4, 6, 8] {
            h.push(ev(rv));
        }
        assert_eq!(h.len(), 3);
        assert_eq!(h.compacted_rv(), 2);
        assert!(!h.covers(1));
        assert!(h.covers(2));
        assert!(h.covers(7));
        let after: Vec<u64> = h.since(4).map(|e| e.rv).collect();
        assert_eq!(after, vec![6, 8]);
        let after: Vec<u64> = h.since(5).map(|e| e.rv).collect();
        assert_eq!(after, vec![6, 8]);
    }
}
