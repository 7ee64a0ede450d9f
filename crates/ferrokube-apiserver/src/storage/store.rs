//! The [`Store`]: objects, the global resourceVersion, history and watchers.
//!
//! All state sits behind one mutex held only for map operations and channel
//! `try_send`s; callers build and serialize objects outside of it. Writes are
//! compare-and-swap operations ([`Store::create`], [`Store::update`], [`Store::delete`])
//! so the registry can implement kube-apiserver's optimistic concurrency (read, compute,
//! write if unchanged, retry or 409 otherwise).

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::Value;
use tokio::sync::mpsc;

use super::history::{History, Recorded};
use super::stored::{Packer, StoredObject};
use super::watch::{EventType, StoredEvent, WatcherSender};

/// Tunables of a [`Store`].
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Events kept per resource for watch resume and snapshot lists (default 10 000).
    pub history_capacity: usize,
    /// Events buffered per watcher before it is considered too slow and closed
    /// (default 1 024).
    pub watch_buffer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { history_capacity: 10_000, watch_buffer: 1024 }
    }
}

/// Why a store operation did not happen.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// No object under that key.
    #[error("not found")]
    NotFound,
    /// An object already exists under that key.
    #[error("already exists")]
    AlreadyExists,
    /// The object changed since the caller read it; `current` is its present state.
    #[error("conflict: object is at resourceVersion {current_rv}")]
    Conflict {
        /// The stored object now.
        current: Arc<Value>,
        /// Its resourceVersion.
        current_rv: u64,
    },
    /// The history no longer reaches back to the requested resourceVersion.
    #[error("too old resource version: {requested} ({oldest})")]
    Expired {
        /// The resourceVersion asked for.
        requested: u64,
        /// The oldest resourceVersion still served.
        oldest: u64,
    },
    /// The requested resourceVersion is newer than the store's.
    #[error("Too large resource version: {requested}, current: {current}")]
    TooLarge {
        /// The resourceVersion asked for.
        requested: u64,
        /// The store's resourceVersion.
        current: u64,
    },
    /// The durable storage could not keep the write, so it did not happen.
    #[error("storage failed: {0}")]
    Storage(String),
}

/// Where a durable store keeps each write before acknowledging it (see
/// `storage::durable`, SQLite under `--data-dir`). Called with the store's lock held,
/// before memory changes; an error makes the write fail.
pub trait Persistence: Send {
    /// Keep `bytes` (the object's JSON) under `(resource, key)`, written at `rv`.
    fn put(&mut self, resource: &str, key: &str, rv: u64, bytes: &[u8]) -> Result<(), String>;
    /// Forget `(resource, key)`, deleted at `rv`.
    fn remove(&mut self, resource: &str, key: &str, rv: u64) -> Result<(), String>;
}

/// The object key of an object: `namespace/name`, or `name` when cluster-scoped.
pub fn object_key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    }
}

/// `metadata.resourceVersion` of a stored object (0 when absent or not a number).
pub fn object_rv(obj: &Value) -> u64 {
    obj.get("metadata")
        .and_then(|m| m.get("resourceVersion"))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn stamp_rv(obj: &mut Value, rv: u64) {
    if let Some(map) = obj.as_object_mut() {
        let meta = map.entry("metadata").or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
    }
}

/// What to list: see [`Store::list`].
pub struct ListQuery<'a> {
    /// Only keys with this prefix (e.g. `ns/` for one namespace).
    pub prefix: Option<&'a str>,
    /// Start at this key (inclusive); used by `continue`.
    pub start: Option<&'a str>,
    /// List the state as of this resourceVersion (`None`: the current state).
    pub at_rv: Option<u64>,
    /// Return at most this many items.
    pub limit: Option<usize>,
    /// Keep only objects for which this returns true.
    pub filter: &'a dyn Fn(&Value) -> bool,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Objects in key order.
    pub items: Vec<Arc<Value>>,
    /// resourceVersion the page reflects.
    pub rv: u64,
    /// When the page is not the last: the key of its last item (the next page starts
    /// right after it).
    pub last_key: Option<String>,
    /// Number of keys (matching or not) after this page, when there are more.
    pub remaining: Option<u64>,
}

/// Where a watch starts: see [`Store::watch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// Return the current objects, then live events.
    Snapshot,
    /// Return the held events after this resourceVersion, then live events.
    After(u64),
    /// Live events only.
    Now,
}

/// A watch registered with the store.
pub struct WatchRegistration {
    /// The store's resourceVersion at registration.
    pub rv: u64,
    /// For [`WatchStart::Snapshot`]: the objects at `rv`, in key order.
    pub snapshot: Snapshot,
    /// For [`WatchStart::After`]: events already recorded, oldest first.
    pub backlog: Backlog,
    /// Live events after `rv`. Ends when the store drops a watcher that fell behind.
    pub receiver: mpsc::Receiver<Arc<StoredEvent>>,
}

struct ResourceState {
    /// Keys are shared (`Arc<str>`), so a list gathers its range without copying them.
    objects: BTreeMap<Arc<str>, Arc<StoredObject>>,
    history: History,
    watchers: Vec<WatcherSender>,
    /// Compresses the versions kept (see `storage::stored`).
    packer: Packer,
}

struct State {
    rv: u64,
    resources: HashMap<String, ResourceState>,
}

/// An object key and the version stored under it.
type KeyedVersion = (Arc<str>, Arc<StoredObject>);

/// The objects a watch starts from ([`WatchRegistration::snapshot`]): each tree is
/// shared or decoded when the iterator reaches it, so a watcher that sends them one at
/// a time never holds them all decoded.
pub struct Snapshot(std::vec::IntoIter<Arc<StoredObject>>);

impl Iterator for Snapshot {
    type Item = Arc<Value>;

    fn next(&mut self) -> Option<Arc<Value>> {
        self.0.next().map(|s| s.value())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Snapshot {}

/// The recorded events a watch resumes with ([`WatchRegistration::backlog`]), decoded
/// one at a time like a [`Snapshot`].
pub struct Backlog(std::vec::IntoIter<Recorded>);

impl Iterator for Backlog {
    type Item = StoredEvent;

    fn next(&mut self) -> Option<StoredEvent> {
        self.0.next().map(|r| r.event())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Backlog {}

/// An in-memory, versioned object store, optionally backed by [`Persistence`]. Cheap to
/// share behind an `Arc`.
pub struct Store {
    state: RwLock<State>,
    /// Mirror of `State::rv`, published after events are dispatched.
    current_rv: AtomicU64,
    config: StoreConfig,
    /// Where writes are kept before they are acknowledged, for a durable store.
    persistence: Option<Mutex<Box<dyn Persistence>>>,
    /// The resourceVersion the store was restored at: no history reaches before it.
    restored_rv: u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

impl Store {
    /// An empty store with the default [`StoreConfig`].
    pub fn new() -> Self {
        Store::with_config(StoreConfig::default())
    }

    /// An empty store with the given tunables.
    pub fn with_config(config: StoreConfig) -> Self {
        Store {
            state: RwLock::new(State { rv: 1, resources: HashMap::new() }),
            current_rv: AtomicU64::new(1),
            config,
            persistence: None,
            restored_rv: 0,
        }
    }

    /// A store restored from `persistence`'s content (`rv`, the newest resourceVersion
    /// it handed out, and every object), which keeps every later write. Its watch
    /// history starts empty at `rv`: a watch or list from before it gets `Expired`.
    pub fn restored(
        config: StoreConfig,
        persistence: Box<dyn Persistence>,
        rv: u64,
        objects: impl IntoIterator<Item = (String, String, Value)>,
    ) -> Self {
        let rv = rv.max(1);
        let mut store = Store::with_config(config);
        store.restored_rv = rv;
        {
            let mut state = store.lock();
            state.rv = rv;
            for (resource, key, object) in objects {
                // Kept as bytes: the tree is dropped here and decoded again on first use.
                let rv = object_rv(&object);
                let res = store.resource_mut(&mut state, &resource);
                let stored = Arc::new(StoredObject::new(&Arc::new(object), rv, &mut res.packer));
                res.objects.insert(Arc::from(key), stored);
            }
        }
        store.current_rv.store(rv, Ordering::Release);
        store.persistence = Some(Mutex::new(persistence));
        store
    }

    /// Keeps a write in the persistence, if any (called with the lock held).
    fn persist(&self, resource: &str, key: &str, rv: u64, object: Option<&StoredObject>) -> Result<(), StoreError> {
        let Some(p) = &self.persistence else { return Ok(()) };
        let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
        let result = match object {
            Some(obj) => p.put(resource, key, rv, &obj.json()),
            None => p.remove(resource, key, rv),
        };
        result.map_err(StoreError::Storage)
    }

    // A panic while holding the lock cannot leave the maps half-updated in a way that
    // matters more than losing the server: keep serving after poisoning.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn lock(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The newest resourceVersion handed out.
    pub fn current_rv(&self) -> u64 {
        self.current_rv.load(Ordering::Acquire)
    }

    /// resourceVersion of the newest write to `resource` (0 when it never had one): a
    /// watcher of the resource that has seen an event or bookmark at least this new has
    /// seen every write made so far.
    pub fn resource_rv(&self, resource: &str) -> u64 {
        self.read().resources.get(resource).map_or(0, |r| r.history.newest_rv())
    }

    /// Resource keys that hold or held objects or watchers.
    pub fn resource_keys(&self) -> Vec<String> {
        self.read().resources.keys().cloned().collect()
    }

    /// The object under `key`, if any.
    pub fn get(&self, resource: &str, key: &str) -> Option<Arc<Value>> {
        let stored = self.read().resources.get(resource).and_then(|r| r.objects.get(key)).cloned();
        stored.map(|s| s.value())
    }

    /// Keys of all objects of `resource` under `prefix`.
    pub fn keys(&self, resource: &str, prefix: Option<&str>) -> Vec<String> {
        let state = self.read();
        let Some(res) = state.resources.get(resource) else {
            return Vec::new();
        };
        let p = prefix.unwrap_or("");
        res.objects
            .range::<str, _>((Bound::Included(p), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(p))
            .map(|(k, _)| k.to_string())
            .collect()
    }

    fn resource_mut<'s>(&self, state: &'s mut State, resource: &str) -> &'s mut ResourceState {
        let cap = self.config.history_capacity;
        let restored_rv = self.restored_rv;
        state.resources.entry(resource.to_owned()).or_insert_with(|| ResourceState {
            objects: BTreeMap::new(),
            history: History::compacted_at(cap, restored_rv),
            watchers: Vec::new(),
            packer: Packer::default(),
        })
    }

    /// Records a write and fans it out to the resource's watchers; called with the lock
    /// held. `object` is the tree just written: watchers get it, the history its bytes.
    fn commit(&self, state: &mut State, resource: &str, recorded: Recorded, object: &Arc<Value>) {
        let rv = recorded.rv;
        let res = self.resource_mut(state, resource);
        if !res.watchers.is_empty() {
            let event = Arc::new(StoredEvent {
                event_type: recorded.event_type,
                key: recorded.key.clone(),
                object: Arc::clone(object),
                prev: recorded.prev.as_ref().map(|p| p.value()),
                rv,
            });
            res.watchers.retain(|w| w.offer(&event));
        }
        res.history.push(recorded);
        state.rv = rv;
        self.current_rv.store(rv, Ordering::Release);
    }

    /// Stores a new object under `key`, stamping the next resourceVersion.
    pub fn create(&self, resource: &str, key: &str, mut obj: Value) -> Result<Arc<Value>, StoreError> {
        let mut state = self.lock();
        let rv = state.rv + 1;
        let res = self.resource_mut(&mut state, resource);
        if res.objects.contains_key(key) {
            return Err(StoreError::AlreadyExists);
        }
        stamp_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        let stored = Arc::new(StoredObject::new(&obj, rv, &mut res.packer));
        self.persist(resource, key, rv, Some(&stored))?;
        let res = self.resource_mut(&mut state, resource);
        res.objects.insert(Arc::from(key), Arc::clone(&stored));
        let recorded = Recorded { event_type: EventType::Added, key: key.to_owned(), rv, object: stored, prev: None };
        self.commit(&mut state, resource, recorded, &obj);
        Ok(obj)
    }

    fn check_current(
        &self,
        state: &mut State,
        resource: &str,
        key: &str,
        expected_rv: u64,
    ) -> Result<Arc<StoredObject>, StoreError> {
        let current =
            state.resources.get(resource).and_then(|r| r.objects.get(key)).cloned().ok_or(StoreError::NotFound)?;
        if current.rv != expected_rv {
            return Err(StoreError::Conflict { current: current.value(), current_rv: current.rv });
        }
        Ok(current)
    }

    /// Replaces the object under `key` if it is still at `expected_rv`, stamping the
    /// next resourceVersion.
    pub fn update(
        &self,
        resource: &str,
        key: &str,
        mut obj: Value,
        expected_rv: u64,
    ) -> Result<Arc<Value>, StoreError> {
        let mut state = self.lock();
        let prev = self.check_current(&mut state, resource, key, expected_rv)?;
        let rv = state.rv + 1;
        stamp_rv(&mut obj, rv);
        let obj = Arc::new(obj);
        let stored = Arc::new(StoredObject::new(&obj, rv, &mut self.resource_mut(&mut state, resource).packer));
        self.persist(resource, key, rv, Some(&stored))?;
        let res = self.resource_mut(&mut state, resource);
        res.objects.insert(Arc::from(key), Arc::clone(&stored));
        let recorded =
            Recorded { event_type: EventType::Modified, key: key.to_owned(), rv, object: stored, prev: Some(prev) };
        self.commit(&mut state, resource, recorded, &obj);
        Ok(obj)
    }

    /// Removes the object under `key` if it is still at `expected_rv`. `tombstone` is
    /// the object as the DELETED event shows it (normally the last state); it is
    /// stamped with the deletion's resourceVersion and returned.
    pub fn delete(
        &self,
        resource: &str,
        key: &str,
        mut tombstone: Value,
        expected_rv: u64,
    ) -> Result<Arc<Value>, StoreError> {
        let mut state = self.lock();
        let prev = self.check_current(&mut state, resource, key, expected_rv)?;
        let rv = state.rv + 1;
        stamp_rv(&mut tombstone, rv);
        let tombstone = Arc::new(tombstone);
        self.persist(resource, key, rv, None)?;
        let res = self.resource_mut(&mut state, resource);
        res.objects.remove(key);
        let stored = Arc::new(StoredObject::new(&tombstone, rv, &mut res.packer));
        let recorded =
            Recorded { event_type: EventType::Deleted, key: key.to_owned(), rv, object: stored, prev: Some(prev) };
        self.commit(&mut state, resource, recorded, &tombstone);
        Ok(tombstone)
    }

    /// One page of the objects of `resource`, as of now or as of a past
    /// resourceVersion still covered by the history.
    pub fn list(&self, resource: &str, query: &ListQuery<'_>) -> Result<ListPage, StoreError> {
        // The versions in range are gathered under the lock; trees are decoded (or
        // shared) and filtered after it is released, so a long list never holds up writes.
        let (versions, rv) = self.versions_in_range(resource, query)?;
        let mut p = page(versions, query);
        p.rv = rv;
        Ok(p)
    }

    /// The versions of `resource` a list covers, in key order, and the resourceVersion
    /// they are the state at.
    fn versions_in_range(&self, resource: &str, query: &ListQuery<'_>) -> Result<(Vec<KeyedVersion>, u64), StoreError> {
        let state = self.read();
        let current = state.rv;
        let at = query.at_rv.unwrap_or(current);
        if at > current {
            return Err(StoreError::TooLarge { requested: at, current });
        }
        let Some(res) = state.resources.get(resource) else {
            return Ok((Vec::new(), at));
        };
        let prefix = query.prefix.unwrap_or("");
        let start = match query.start {
            Some(s) if s > prefix => s,
            _ => prefix,
        };
        let in_range = |k: &str| k >= start && k.starts_with(prefix);
        if at == current {
            let versions = res
                .objects
                .range::<str, _>((Bound::Included(start), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (Arc::clone(k), Arc::clone(v)))
                .collect();
            return Ok((versions, current));
        }
        if !res.history.covers(at) {
            return Err(StoreError::Expired { requested: at, oldest: res.history.compacted_rv() });
        }
        // Rebuild the range as of `at`: start from now and undo newer events.
        let mut view: BTreeMap<&str, &Arc<StoredObject>> = res
            .objects
            .range::<str, _>((Bound::Included(start), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (&**k, v))
            .collect();
        for event in res.history.since(at).rev() {
            if !in_range(&event.key) {
                continue;
            }
            match (&event.event_type, &event.prev) {
                (EventType::Added, _) | (_, None) => {
                    view.remove(event.key.as_str());
                }
                (_, Some(prev)) => {
                    view.insert(event.key.as_str(), prev);
                }
            }
        }
        let versions = view.into_iter().map(|(k, v)| (Arc::from(k), Arc::clone(v))).collect();
        Ok((versions, at))
    }

    /// Registers a watcher of `resource` (keys under `prefix` only, if given).
    pub fn watch(
        &self,
        resource: &str,
        prefix: Option<&str>,
        start: WatchStart,
    ) -> Result<WatchRegistration, StoreError> {
        let (tx, receiver) = mpsc::channel(self.config.watch_buffer.max(1));
        let mut state = self.lock();
        let rv = state.rv;
        let res = self.resource_mut(&mut state, resource);
        let p = prefix.unwrap_or("");
        let mut snapshot = Vec::new();
        let mut backlog = Vec::new();
        match start {
            WatchStart::Snapshot => {
                snapshot = res
                    .objects
                    .range::<str, _>((Bound::Included(p), Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(p))
                    .map(|(_, v)| Arc::clone(v))
                    .collect::<Vec<_>>();
            }
            WatchStart::After(from) => {
                if !res.history.covers(from) {
                    return Err(StoreError::Expired { requested: from, oldest: res.history.compacted_rv() });
                }
                backlog = res.history.since(from).filter(|e| e.key.starts_with(p)).cloned().collect::<Vec<_>>();
            }
            WatchStart::Now => {}
        }
        res.watchers.push(WatcherSender { prefix: prefix.map(str::to_owned), tx });
        // Registered atomically with what it starts from; trees are decoded as sent.
        Ok(WatchRegistration {
            rv,
            snapshot: Snapshot(snapshot.into_iter()),
            backlog: Backlog(backlog.into_iter()),
            receiver,
        })
    }

    /// Whether any object of any resource has a key starting with `prefix` (e.g.
    /// `ns/`: whether namespace `ns` has content).
    pub fn any_key_with_prefix(&self, prefix: &str) -> bool {
        self.read().resources.values().any(|r| {
            r.objects
                .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                .next()
                .is_some_and(|(k, _)| k.starts_with(prefix))
        })
    }

    /// Number of live watchers of `resource` (closed ones are pruned on the next write).
    pub fn watcher_count(&self, resource: &str) -> usize {
        self.read()
            .resources
            .get(resource)
            .map(|r| r.watchers.iter().filter(|w| !w.tx.is_closed()).count())
            .unwrap_or(0)
    }
}

/// Filters `versions` (decoding each tree only until the page is full) into a page.
fn page(versions: Vec<KeyedVersion>, query: &ListQuery<'_>) -> ListPage {
    let limit = query.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let mut items = Vec::new();
    let mut last_key = None;
    let mut remaining = 0u64;
    let mut full = false;
    for (k, stored) in versions {
        if full {
            remaining += 1;
            continue;
        }
        let v = stored.value();
        if (query.filter)(&v) {
            items.push(v);
            if items.len() >= limit {
                full = true;
                last_key = Some(k.to_string());
            }
        }
    }
    if remaining == 0 {
        last_key = None;
    }
    ListPage { items, rv: 0, last_key, remaining: (remaining > 0).then_some(remaining) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(_: &Value) -> bool {
        true
    }

    fn q(limit: Option<usize>) -> ListQuery<'static> {
        ListQuery { prefix: None, start: None, at_rv: None, limit, filter: &all }
    }

    /// A persistence that records writes and refuses them once `full` is set.
    struct Disk {
        writes: Arc<std::sync::Mutex<Vec<(String, u64)>>>,
        full: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Persistence for Disk {
        fn put(&mut self, _: &str, key: &str, rv: u64, _: &[u8]) -> Result<(), String> {
            if self.full.load(Ordering::SeqCst) {
                return Err("disk full".into());
            }
            self.writes.lock().unwrap().push((key.to_owned(), rv));
            Ok(())
        }
        fn remove(&mut self, resource: &str, key: &str, rv: u64) -> Result<(), String> {
            self.put(resource, key, rv, &[])
        }
    }

    #[test]
    fn a_restored_store_keeps_writes_and_a_refused_write_changes_nothing() {
        let writes = Arc::default();
        let full = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let disk = Disk { writes: Arc::clone(&writes), full: Arc::clone(&full) };
        let s = Store::restored(StoreConfig::default(), Box::new(disk), 41, [("/cm".into(), "ns/a".into(), json!({}))]);
        assert_eq!(s.current_rv(), 41);
        assert!(s.get("/cm", "ns/a").is_some());
        // No history before the restore: a watch from before it is told to relist.
        assert!(matches!(s.watch("/cm", None, WatchStart::After(40)), Err(StoreError::Expired { .. })));
        assert!(s.watch("/cm", None, WatchStart::After(41)).is_ok());
        let created = s.create("/cm", "ns/b", json!({})).unwrap();
        assert_eq!(object_rv(&created), 42);
        assert_eq!(*writes.lock().unwrap(), [("ns/b".to_owned(), 42)]);
        full.store(true, Ordering::SeqCst);
        assert!(matches!(s.create("/cm", "ns/c", json!({})), Err(StoreError::Storage(_))));
        let a = s.get("/cm", "ns/a").unwrap();
        assert!(matches!(s.update("/cm", "ns/a", json!({"x": 1}), object_rv(&a)), Err(StoreError::Storage(_))));
        assert!(s.get("/cm", "ns/c").is_none(), "a refused create is not in memory");
        assert_eq!(s.get("/cm", "ns/a").unwrap(), a, "a refused update changed nothing");
        assert_eq!(s.current_rv(), 42, "a refused write takes no resourceVersion");
    }

    #[test]
    fn rv_is_monotonic_and_cas_works() {
        let s = Store::new();
        let r0 = s.current_rv();
        let a = s.create("/pods", "ns/a", json!({"metadata": {"name": "a"}})).unwrap();
        let rv_a = object_rv(&a);
        assert!(rv_a > r0);
        assert_eq!(s.create("/pods", "ns/a", json!({})), Err(StoreError::AlreadyExists));
        let b = s.update("/pods", "ns/a", json!({"metadata": {"name": "a"}, "x": 1}), rv_a).unwrap();
        assert!(object_rv(&b) > rv_a);
        assert!(matches!(s.update("/pods", "ns/a", json!({}), rv_a), Err(StoreError::Conflict { .. })));
        assert_eq!(s.update("/pods", "ns/zz", json!({}), 1), Err(StoreError::NotFound));
        let d = s.delete("/pods", "ns/a", (*b).clone(), object_rv(&b)).unwrap();
        assert!(object_rv(&d) > object_rv(&b));
        assert_eq!(s.current_rv(), object_rv(&d));
        assert!(s.get("/pods", "ns/a").is_none());
    }

    #[test]
    fn snapshot_list_undoes_newer_events() {
        let s = Store::new();
        for n in ["a", "b", "c"] {
            s.create("/cm", &format!("ns/{n}"), json!({"n": n})).unwrap();
        }
        let at = s.current_rv();
        let b = s.get("/cm", "ns/b").unwrap();
        s.delete("/cm", "ns/b", (*b).clone(), object_rv(&b)).unwrap();
        s.create("/cm", "ns/d", json!({"n": "d"})).unwrap();
        let a = s.get("/cm", "ns/a").unwrap();
        s.update("/cm", "ns/a", json!({"n": "a2"}), object_rv(&a)).unwrap();
        let mut query = q(None);
        query.at_rv = Some(at);
        let page = s.list("/cm", &query).unwrap();
        let names: Vec<&str> = page.items.iter().map(|o| o["n"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["a", "b", "c"]);
        assert_eq!(page.rv, at);
        let now = s.list("/cm", &q(None)).unwrap();
        let names: Vec<&str> = now.items.iter().map(|o| o["n"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["a2", "c", "d"]);
        assert_eq!(now.rv, s.current_rv());
        query.at_rv = Some(s.current_rv() + 5);
        assert!(matches!(s.list("/cm", &query), Err(StoreError::TooLarge { .. })));
    }

    #[test]
    fn paging_and_remaining() {
        let s = Store::new();
        for n in 0..5 {
            s.create("/cm", &format!("ns/{n}"), json!({"n": n})).unwrap();
        }
        let p = s.list("/cm", &q(Some(2))).unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.last_key.as_deref(), Some("ns/1"));
        assert_eq!(p.remaining, Some(3));
        let p = s.list("/cm", &q(Some(5))).unwrap();
        assert_eq!(p.last_key, None);
        assert_eq!(p.remaining, None);
    }

    #[test]
    fn expired_when_history_is_short() {
        let s = Store::with_config(StoreConfig { history_capacity: 2, watch_buffer: 4 });
        let start = s.current_rv();
        for n in 0..4 {
            s.create("/cm", &format!("ns/{n}"), json!({})).unwrap();
        }
        let mut query = q(None);
        query.at_rv = Some(start);
        assert!(matches!(s.list("/cm", &query), Err(StoreError::Expired { .. })));
        assert!(matches!(s.watch("/cm", None, WatchStart::After(start)), Err(StoreError::Expired { .. })));
        let ok = s.watch("/cm", None, WatchStart::After(s.current_rv() - 1)).unwrap();
        assert_eq!(ok.backlog.len(), 1);
    }

    #[tokio::test]
    async fn slow_watcher_is_dropped_not_blocking() {
        let s = Store::with_config(StoreConfig { history_capacity: 100, watch_buffer: 2 });
        let mut w = s.watch("/cm", Some("ns/"), WatchStart::Now).unwrap();
        for n in 0..10 {
            s.create("/cm", &format!("ns/{n}"), json!({})).unwrap();
        }
        s.create("/cm", "other/x", json!({})).unwrap();
        let mut got = 0;
        while let Some(ev) = w.receiver.recv().await {
            assert!(ev.key.starts_with("ns/"));
            got += 1;
        }
        assert_eq!(got, 2, "buffered events are delivered, then the stream ends");
        assert_eq!(s.watcher_count("/cm"), 0);
    }
}
