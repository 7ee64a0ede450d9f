//! Versioned, in-memory object storage with a bounded watch history.
//!
//! This is the bottom of the request path:
//!
//! ```text
//! handlers -> api::ApiRequest -> registry (semantics) -> storage (this module)
//! ```
//!
//! The [`Store`] knows nothing about Kubernetes semantics beyond `metadata.resourceVersion`:
//! it hands out objects as shared [`serde_json::Value`]s and keeps each version as its
//! JSON bytes, with the decoded tree shared only while someone holds it (`stored`: a
//! tree costs about nine times its JSON), keyed by *resource key*
//! (`group/plural`, e.g. `apps/deployments` or `/pods`, so that every served version of
//! a resource shares its objects) and *object key* (`namespace/name`, or `name` for
//! cluster-scoped objects; byte order of these keys is etcd's key order). Every write is
//! a compare-and-swap against the resourceVersion the caller read, takes the next value
//! of one global, monotonically increasing resourceVersion, and records the write in
//! the resource's bounded history (`history`). The history serves watches
//! from a past resourceVersion and lists of a past snapshot (paging with `continue`);
//! watchers get live events through bounded per-watcher channels, and a watcher that
//! falls too far behind is closed rather than allowed to block writers — exactly what a
//! client sees from kube-apiserver's watch cache.
//!
//! With `--data-dir` (the `durable` Cargo feature) every write is also kept in SQLite
//! before it is acknowledged, and a restarted server restores objects and
//! resourceVersion from there (`durable`).
//!
//! The registry ([`crate::registry`]) builds the objects (uids, timestamps, generation,
//! validation) and uses the store's read-modify-write primitives; in-process controllers
//! can use the same [`Store`] directly.

#[cfg(feature = "durable")]
pub mod durable;
pub mod encoded;
mod history;
mod store;
mod stored;
mod watch;

pub use store::{
    object_key, object_rv, Backlog, ListPage, ListQuery, Persistence, Snapshot, Store, StoreConfig, StoreError,
    WatchRegistration, WatchStart,
};
pub use watch::{EventType, StoredEvent};
