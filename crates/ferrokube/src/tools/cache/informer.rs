//! `tools::cache::informer`: [`SharedInformer`] — a [`Reflector`] feeding a [`Store`]
//! (indexer) plus event handlers — and the [`Lister`] read view (client-go
//! `shared_informer.go`, listers).
//!
//! Each change the reflector applies to the store is handed to every registered
//! [`ResourceEventHandler`], in registration order, right after the store changed:
//!
//! * ADDED, or MODIFIED of an unknown object: `on_add(new, false)`;
//! * MODIFIED, or ADDED of a known object: `on_update(old, new)`;
//! * DELETED: `on_delete(final state)`;
//! * a (re)list: `on_add(new, is_in_initial_list)` for objects not stored before,
//!   `on_update(old, new)` for objects already stored, `on_delete(last known state)`
//!   for stored objects missing from the list;
//! * every resync period (optional): `on_update(obj, obj)` for every stored object.
//!
//! Handlers are called on the informer's task, one event at a time, so a handler sees
//! events of one object in order and the store already reflects the event. They must
//! be quick and must not block or register handlers themselves: do real work
//! elsewhere (send the key to a channel or work queue). A handler added while the
//! informer runs first gets `on_add(obj, true)` for every stored object.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;

use super::index::NAMESPACE_INDEX;
use super::reflector::{CachedResource, Reflector, ReflectorOptions, SyncState};
use super::selector::Selector;
use super::store::{key_of, meta_namespace_key, CacheError, Replaced, Store};
use crate::rest::RESTClient;

/// Receives the changes an informer applies to its store (client-go
/// `ResourceEventHandler`). Every method has an empty default.
pub trait ResourceEventHandler<K>: Send + Sync {
    /// An object entered the store. `is_in_initial_list` is true for objects of the
    /// first list (and for existing objects replayed to a handler added later).
    fn on_add(&self, obj: &Arc<K>, is_in_initial_list: bool) {
        let _ = (obj, is_in_initial_list);
    }
    /// An object changed (or was resynced: then `old` and `new` are the same `Arc`).
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        let _ = (old, new);
    }
    /// An object left the store; its final (or last known) state.
    fn on_delete(&self, obj: &Arc<K>) {
        let _ = obj;
    }
}

type AddFn<K> = Box<dyn Fn(&Arc<K>) + Send + Sync>;
type UpdateFn<K> = Box<dyn Fn(&Arc<K>, &Arc<K>) + Send + Sync>;

/// A [`ResourceEventHandler`] made of closures (client-go `ResourceEventHandlerFuncs`).
///
/// ```
/// use ferrokube::tools::cache::ResourceEventHandlerFuncs;
/// use k8s_openapi::api::core::v1::Pod;
/// let h = ResourceEventHandlerFuncs::<Pod>::new()
///     .on_add(|p| println!("add {:?}", p.metadata.name))
///     .on_update(|old, new| println!("{:?} -> {:?}", old.metadata.resource_version, new.metadata.resource_version))
///     .on_delete(|p| println!("delete {:?}", p.metadata.name));
/// # drop(h);
/// ```
pub struct ResourceEventHandlerFuncs<K> {
    add: Option<AddFn<K>>,
    update: Option<UpdateFn<K>>,
    delete: Option<AddFn<K>>,
}

impl<K> Default for ResourceEventHandlerFuncs<K> {
    fn default() -> Self {
        ResourceEventHandlerFuncs { add: None, update: None, delete: None }
    }
}

impl<K> ResourceEventHandlerFuncs<K> {
    /// No callbacks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Called on add.
    pub fn on_add(mut self, f: impl Fn(&Arc<K>) + Send + Sync + 'static) -> Self {
        self.add = Some(Box::new(f));
        self
    }

    /// Called on update with the old and new object.
    pub fn on_update(mut self, f: impl Fn(&Arc<K>, &Arc<K>) + Send + Sync + 'static) -> Self {
        self.update = Some(Box::new(f));
        self
    }

    /// Called on delete.
    pub fn on_delete(mut self, f: impl Fn(&Arc<K>) + Send + Sync + 'static) -> Self {
        self.delete = Some(Box::new(f));
        self
    }
}

impl<K: Send + Sync> ResourceEventHandler<K> for ResourceEventHandlerFuncs<K> {
    fn on_add(&self, obj: &Arc<K>, _: bool) {
        if let Some(f) = &self.add {
            f(obj)
        }
    }
    fn on_update(&self, old: &Arc<K>, new: &Arc<K>) {
        if let Some(f) = &self.update {
            f(old, new)
        }
    }
    fn on_delete(&self, obj: &Arc<K>) {
        if let Some(f) = &self.delete {
            f(obj)
        }
    }
}

type Handlers<K> = Vec<(u64, Arc<dyn ResourceEventHandler<K>>)>;

/// Applies changes to a store and notifies handlers, serialized by one lock so every
/// handler sees changes in store order.
pub(crate) struct Processor<K> {
    handlers: Mutex<Handlers<K>>,
    next_id: AtomicU64,
}

impl<K: CachedResource> Processor<K> {
    pub(crate) fn new() -> Self {
        Processor { handlers: Mutex::new(Vec::new()), next_id: AtomicU64::new(1) }
    }

    fn lock(&self) -> MutexGuard<'_, Handlers<K>> {
        self.handlers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn upsert(&self, store: &Store<K>, obj: K) -> Result<Arc<K>, CacheError> {
        let handlers = self.lock();
        let u = store.upsert(obj)?;
        for (_, h) in handlers.iter() {
            match &u.old {
                Some(old) => h.on_update(old, &u.new),
                None => h.on_add(&u.new, false),
            }
        }
        Ok(u.new)
    }

    pub(crate) fn delete(&self, store: &Store<K>, obj: K) -> Result<Arc<K>, CacheError> {
        let handlers = self.lock();
        let obj = store.transform_obj(obj);
        let key = meta_namespace_key(&obj)?;
        store.delete_by_key(&key);
        let obj = Arc::new(obj);
        for (_, h) in handlers.iter() {
            h.on_delete(&obj);
        }
        Ok(obj)
    }

    /// Replaces the store with already transformed `items`.
    pub(crate) fn replace(&self, store: &Store<K>, items: Vec<K>, initial: bool) {
        let handlers = self.lock();
        let Replaced { old, new } = store.replace_returning_old(items, !handlers.is_empty(), true);
        if handlers.is_empty() {
            return;
        }
        for (key, obj) in &new {
            for (_, h) in handlers.iter() {
                match old.get(key) {
                    Some(prev) => h.on_update(prev, obj),
                    None => h.on_add(obj, initial),
                }
            }
        }
        let kept: std::collections::HashSet<&str> = new.iter().map(|(k, _)| &**k).collect();
        for (key, prev) in &old {
            if !kept.contains(&**key) {
                for (_, h) in handlers.iter() {
                    h.on_delete(prev);
                }
            }
        }
    }

    pub(crate) fn resync(&self, store: &Store<K>) {
        let handlers = self.lock();
        if handlers.is_empty() {
            return;
        }
        for obj in store.list() {
            for (_, h) in handlers.iter() {
                h.on_update(&obj, &obj);
            }
        }
    }

    pub(crate) fn add_handler(&self, store: &Store<K>, handler: Arc<dyn ResourceEventHandler<K>>) -> u64 {
        let mut handlers = self.lock();
        for obj in store.list() {
            handler.on_add(&obj, true);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        handlers.push((id, handler));
        id
    }

    pub(crate) fn remove_handler(&self, id: u64) -> bool {
        let mut handlers = self.lock();
        let before = handlers.len();
        handlers.retain(|(i, _)| *i != id);
        handlers.len() != before
    }
}

/// Identifies a registered handler, for [`SharedInformer::remove_event_handler`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandlerId(u64);

struct InformerInner<K> {
    reflector: Reflector<K>,
    processor: Arc<Processor<K>>,
    resync: Mutex<Option<Duration>>,
}

/// A reflector, its indexed store and the event handlers fed from it (client-go
/// `SharedIndexInformer`). Cheap to clone; clones share everything.
pub struct SharedInformer<K> {
    inner: Arc<InformerInner<K>>,
}

impl<K> Clone for SharedInformer<K> {
    fn clone(&self) -> Self {
        SharedInformer { inner: Arc::clone(&self.inner) }
    }
}

impl<K> std::fmt::Debug for SharedInformer<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedInformer").field("reflector", &self.inner.reflector).finish()
    }
}

impl<K: CachedResource> SharedInformer<K> {
    /// An informer of `K` over a new store (with the namespace index). Configure it
    /// (transform, indexers, handlers, resync) and then [`run`](Self::run) or
    /// [`start`](Self::start) it.
    pub fn new(client: RESTClient, options: ReflectorOptions) -> Self {
        Self::with_store(client, Store::new(), options)
    }

    /// An informer filling an existing store.
    pub fn with_store(client: RESTClient, store: Store<K>, options: ReflectorOptions) -> Self {
        let processor = Arc::new(Processor::new());
        let reflector = Reflector::with_processor(client, store, options, Arc::clone(&processor));
        SharedInformer { inner: Arc::new(InformerInner { reflector, processor, resync: Mutex::new(None) }) }
    }

    /// Sets the transform applied to objects before they are stored and handed to
    /// handlers (client-go `SetTransform`); call before starting. See
    /// [`strip_managed_fields`](super::strip_managed_fields).
    pub fn set_transform(&self, transform: impl Fn(K) -> K + Send + Sync + 'static) {
        self.inner.reflector.store().set_transform(transform);
    }

    /// Adds an index to the store (client-go `AddIndexers`).
    pub fn add_indexer(
        &self,
        name: impl Into<String>,
        func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<(), CacheError> {
        self.inner.reflector.store().add_indexer(name, func)
    }

    /// Every `period`, calls `on_update(obj, obj)` for every stored object (client-go
    /// resync); `None` (the default) disables it. Takes effect when the informer starts.
    pub fn set_resync_period(&self, period: Option<Duration>) {
        *self.inner.resync.lock().unwrap_or_else(PoisonError::into_inner) = period.filter(|p| !p.is_zero());
    }

    /// Registers a handler; it first receives `on_add(obj, true)` for each object
    /// already stored.
    pub fn add_event_handler(&self, handler: impl ResourceEventHandler<K> + 'static) -> HandlerId {
        HandlerId(self.inner.processor.add_handler(self.store(), Arc::new(handler)))
    }

    /// Unregisters a handler; false if it was not registered.
    pub fn remove_event_handler(&self, id: HandlerId) -> bool {
        self.inner.processor.remove_handler(id.0)
    }

    /// The store (client-go `GetIndexer` / `GetStore`).
    pub fn store(&self) -> &Store<K> {
        self.inner.reflector.store()
    }

    /// A read view of the store.
    pub fn lister(&self) -> Lister<K> {
        Lister::new(self.store().clone())
    }

    /// Whether the first list has been stored and handed to handlers.
    pub fn has_synced(&self) -> bool {
        self.inner.reflector.has_synced()
    }

    /// Waits until [`has_synced`](Self::has_synced).
    pub async fn wait_for_sync(&self) {
        self.inner.reflector.wait_for_sync().await
    }

    /// The last resourceVersion seen (client-go `LastSyncResourceVersion`).
    pub fn last_sync_resource_version(&self) -> String {
        self.inner.reflector.last_sync_resource_version()
    }

    /// How many full lists have been stored (1 after the first sync; more after
    /// relists).
    pub fn list_count(&self) -> u64 {
        self.inner.reflector.list_count()
    }

    /// Why the last list or watch attempt failed, until the next success.
    pub fn last_error(&self) -> Option<String> {
        self.inner.reflector.last_error()
    }

    /// Runs the reflector and the resync timer. Never returns; drop the future to stop.
    /// Run an informer once at a time: two runs would both write its store.
    pub async fn run(&self) {
        let period = *self.inner.resync.lock().unwrap_or_else(PoisonError::into_inner);
        let resync = async {
            let Some(period) = period else { return std::future::pending::<()>().await };
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if self.has_synced() {
                    self.inner.processor.resync(self.store());
                }
            }
        };
        tokio::join!(self.inner.reflector.run(), resync);
    }

    /// Runs [`run`](Self::run) on a new tokio task, stopped when the returned handle is
    /// dropped or [stopped](InformerHandle::stop).
    pub fn start(&self) -> InformerHandle {
        let me = self.clone();
        let state = Arc::clone(self.inner.reflector.state());
        InformerHandle { task: tokio::spawn(async move { me.run().await }), state }
    }
}

/// A running informer. Dropping the handle stops it.
#[derive(Debug)]
pub struct InformerHandle {
    task: tokio::task::JoinHandle<()>,
    state: Arc<SyncState>,
}

impl InformerHandle {
    /// Whether the first list has been stored.
    pub fn has_synced(&self) -> bool {
        self.state.has_synced()
    }

    /// Waits until the first list has been stored.
    pub async fn wait_for_sync(&self) {
        self.state.wait_for_sync().await
    }

    /// Why the last list or watch attempt failed, until the next success.
    pub fn last_error(&self) -> Option<String> {
        self.state.last_error()
    }

    /// Stops the informer (same as dropping the handle).
    pub fn stop(self) {}
}

impl Drop for InformerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A cheap, cloneable read view of a store (client-go generated listers). Returns
/// `Arc<K>`s shared with the store.
pub struct Lister<K> {
    store: Store<K>,
}

impl<K> Clone for Lister<K> {
    fn clone(&self) -> Self {
        Lister { store: self.store.clone() }
    }
}

impl<K> std::fmt::Debug for Lister<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lister").field("store", &self.store).finish()
    }
}

fn selected<K: Metadata<Ty = ObjectMeta>>(selector: Option<&Selector>) -> impl Fn(&Arc<K>) -> bool + '_ {
    move |o| selector.is_none_or(|s| s.matches(o.metadata().labels.as_ref()))
}

impl<K: Metadata<Ty = ObjectMeta> + Send + Sync + 'static> Lister<K> {
    /// A lister over `store`.
    pub fn new(store: Store<K>) -> Self {
        Lister { store }
    }

    /// All objects whose labels match `selector` (all of them for `None`).
    pub fn list(&self, selector: Option<&Selector>) -> Vec<Arc<K>> {
        let keep = selected::<K>(selector);
        let mut out = Vec::new();
        self.store.for_each(|o| {
            if keep(o) {
                out.push(Arc::clone(o))
            }
        });
        out
    }

    /// The objects of `namespace` whose labels match `selector`, via the namespace index
    /// (`""`: all namespaces, as [`list`](Self::list)).
    pub fn list_namespace(&self, namespace: &str, selector: Option<&Selector>) -> Vec<Arc<K>> {
        if namespace.is_empty() {
            return self.list(selector);
        }
        let mut objs = self.store.by_index(NAMESPACE_INDEX, namespace).unwrap_or_default();
        objs.retain(selected::<K>(selector));
        objs
    }

    /// The object `name` in `namespace` (`""` for cluster-scoped objects).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.store.get_by_key(&key_of(namespace, name))
    }

    /// The underlying store.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(ns: &str, name: &str, rv: &str, app: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                labels: Some([("app".to_owned(), app.to_owned())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    impl ResourceEventHandler<ConfigMap> for Arc<Log> {
        fn on_add(&self, o: &Arc<ConfigMap>, initial: bool) {
            self.0.lock().unwrap().push(format!("add {} {initial}", o.metadata.name.as_deref().unwrap_or("")));
        }
        fn on_update(&self, old: &Arc<ConfigMap>, new: &Arc<ConfigMap>) {
            let rv = |o: &ConfigMap| o.metadata.resource_version.clone().unwrap_or_default();
            self.0.lock().unwrap().push(format!(
                "update {} {}->{}",
                new.metadata.name.as_deref().unwrap_or(""),
                rv(old),
                rv(new)
            ));
        }
        fn on_delete(&self, o: &Arc<ConfigMap>) {
            self.0.lock().unwrap().push(format!("delete {}", o.metadata.name.as_deref().unwrap_or("")));
        }
    }

    fn take(log: &Log) -> Vec<String> {
        let mut v = std::mem::take(&mut *log.0.lock().unwrap());
        v.sort();
        v
    }

    #[test]
    fn processor_notifies_in_store_order() {
        let store = Store::<ConfigMap>::new();
        let p = Processor::<ConfigMap>::new();
        store.add(cm("a", "pre", "1", "x")).unwrap();
        let log = Arc::new(Log::default());
        let id = p.add_handler(&store, Arc::new(Arc::clone(&log)));
        assert_eq!(take(&log), ["add pre true"]);

        p.replace(&store, vec![cm("a", "pre", "2", "x"), cm("a", "new", "2", "x")], true);
        assert_eq!(take(&log), ["add new true", "update pre 1->2"]);
        p.upsert(&store, cm("a", "new", "3", "x")).unwrap();
        p.upsert(&store, cm("a", "third", "4", "x")).unwrap();
        p.delete(&store, cm("a", "pre", "5", "x")).unwrap();
        assert_eq!(take(&log), ["add third false", "delete pre", "update new 2->3"]);
        p.replace(&store, vec![cm("a", "third", "4", "x")], false);
        assert_eq!(take(&log), ["delete new", "update third 4->4"]);
        p.resync(&store);
        assert_eq!(take(&log), ["update third 4->4"]);
        assert!(p.remove_handler(id));
        p.upsert(&store, cm("a", "x", "6", "x")).unwrap();
        assert!(take(&log).is_empty());
    }

    #[test]
    fn lister_reads_with_selectors() {
        let store = Store::<ConfigMap>::new();
        store.add(cm("a", "one", "1", "web")).unwrap();
        store.add(cm("a", "two", "1", "db")).unwrap();
        store.add(cm("b", "three", "1", "web")).unwrap();
        let l = Lister::new(store);
        let web = Selector::parse("app=web").unwrap();
        assert_eq!(l.list(None).len(), 3);
        assert_eq!(l.list(Some(&web)).len(), 2);
        assert_eq!(l.list_namespace("a", None).len(), 2);
        assert_eq!(l.list_namespace("a", Some(&web)).len(), 1);
        assert!(l.list_namespace("zzz", None).is_empty());
        assert_eq!(l.get("b", "three").unwrap().metadata.name.as_deref(), Some("three"));
        assert!(l.get("a", "three").is_none());
    }
}
