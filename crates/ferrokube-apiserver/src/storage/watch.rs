//! Events recorded by the store and fanned out to watchers.
//!
//! Each write produces one [`StoredEvent`], shared (`Arc`) between the resource's
//! [`super::History`] and every live watcher's channel, so fan-out costs one pointer
//! copy per watcher.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

/// What a write did to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The object was created.
    Added,
    /// The object was replaced.
    Modified,
    /// The object was removed.
    Deleted,
}

impl EventType {
    /// The watch event type as it appears on the wire: `ADDED`, `MODIFIED`, `DELETED`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change of one object, at one resourceVersion.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// What happened.
    pub event_type: EventType,
    /// Object key (`namespace/name` or `name`).
    pub key: String,
    /// The object after the change. For [`EventType::Deleted`], the last state of the
    /// object stamped with the deletion's resourceVersion.
    pub object: Arc<Value>,
    /// The object before the change (`None` for [`EventType::Added`]).
    pub prev: Option<Arc<Value>>,
    /// The resourceVersion of this change.
    pub rv: u64,
}

/// The store's end of one watcher's channel.
pub(crate) struct WatcherSender {
    /// Only events whose key starts with this prefix are sent (e.g. `ns/`).
    pub(crate) prefix: Option<String>,
    pub(crate) tx: mpsc::Sender<Arc<StoredEvent>>,
}

impl WatcherSender {
    /// Offers `event`; returns false when the watcher is gone or too slow and must be
    /// dropped (dropping the sender ends the watcher's stream once it has drained).
    pub(crate) fn offer(&self, event: &Arc<StoredEvent>) -> bool {
        if let Some(prefix) = &self.prefix {
            if !event.key.starts_with(prefix.as_str()) {
                return !self.tx.is_closed();
            }
        }
        self.tx.try_send(Arc::clone(event)).is_ok()
    }
}
