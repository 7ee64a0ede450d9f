//! `tools::cache::informer`: [`SharedInformer`] — a [`Reflector`] feeding a [`Store`]
//! (indexer) plus listeners — and the [`Lister`] read view (client-go
//! `shared_informer.go`, listers).
//!
//! Each change the reflector applies to the store is queued for every registered
//! [`ResourceEventHandler`] right after the store changed, and delivered to each
//! handler from its own queue and thread (see [`processor`](super::processor)):
//!
//! * ADDED, or MODIFIED of an unknown object: `on_add(new, false)`;
//! * MODIFIED, or ADDED of a known object: `on_update(old, new)`;
//! * DELETED: `on_delete(final state)`;
//! * a (re)list: `on_add(new, is_in_initial_list)` for objects not stored before,
//!   `on_update(old, new)` for stored objects whose resourceVersion changed (none for
//!   objects relisted unchanged: client-go counts those as resyncs),
//!   `on_delete(last known state)` for stored objects missing from the list;
//! * every resync period (optional): `on_update(obj, obj)` for every stored object.
//!
//! A handler sees the events of the store in order, never two at once, and a slow one
//! delays only itself: the watch, the store and the other handlers go on (its backlog
//! shows in [`SharedInformer::handler_stats`]). When a handler is called the store
//! already reflects that event, and possibly later ones. A handler added while the
//! informer runs first gets `on_add(obj, true)` for every stored object;
//! [`SharedInformer::handler_has_synced`] tells when a handler got the whole first list
//! (client-go `ResourceEventHandlerRegistration.HasSynced`).
//!
//! Running: [`SharedInformer::start`] returns an [`InformerHandle`]; the informer runs
//! while any handle of it lives, and starting a running informer returns another handle
//! to the same run (client-go ignores a second `Run`), so a [factory](super::factory)
//! and a [controller](crate::controller) can both start the same informer. Besides
//! callbacks, [`SharedInformer::event_stream`] hands the same changes out as a
//! `Stream` (see [`event_stream`](super::event_stream)).

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::event_stream::EventStream;
use super::index::NAMESPACE_INDEX;
use super::listwatch::ListWatch;
use super::object::CacheObject;
use super::processor::{HandlerStats, Mode, Processor, ResourceEventHandler, RunGuard};
use super::reflector::{CachedResource, ReflectedObject, Reflector, ReflectorError, ReflectorOptions, SyncState};
use super::selector::Selector;
use super::store::{key_of, CacheError, Store};
use crate::rest::RESTClient;

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

/// Identifies a registered handler, for [`SharedInformer::remove_event_handler`] and
/// the per-handler queries (client-go `ResourceEventHandlerRegistration`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandlerId(pub(crate) u64);

/// The running task of an informer, shared by its handles; aborted when the last
/// handle goes.
#[derive(Debug)]
struct Lease {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct InformerInner<K> {
    reflector: Reflector<K>,
    processor: Arc<Processor<K>>,
    resync: Mutex<Option<Duration>>,
    running: Mutex<Weak<Lease>>,
}

/// A reflector, its indexed store and the listeners fed from it (client-go
/// `SharedIndexInformer`). Cheap to clone; clones share everything. Nothing runs until
/// [`start`](Self::start) (or a factory's `start`).
#[must_use = "an informer does nothing until it is started"]
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
    /// An informer of `K` over a new store (with the namespace index); namespace and
    /// selectors come from `options`. Configure it (transform, indexers, handlers,
    /// resync) and then [`start`](Self::start) it.
    pub fn new(client: RESTClient, options: ReflectorOptions) -> Self {
        Self::with_store(client, Store::new(), options)
    }

    /// An informer filling an existing store.
    pub fn with_store(client: RESTClient, store: Store<K>, options: ReflectorOptions) -> Self {
        Self::with_list_watch_and_store(options.list_watch(client), store, options)
    }
}

impl<K: ReflectedObject> SharedInformer<K> {
    /// An informer of whatever `lw` lists and watches — any resource by GVR as
    /// [`Unstructured`](crate::dynamic::Unstructured) ([`ListWatch::dynamic`]), its
    /// metadata only ([`ListWatch::metadata`]), or a typed resource — over a new store.
    /// The namespace and selectors of `options` are not used: `lw` has its own.
    pub fn with_list_watch(lw: ListWatch<K>, options: ReflectorOptions) -> Self {
        Self::with_list_watch_and_store(lw, Store::new(), options)
    }

    /// [`with_list_watch`](Self::with_list_watch) filling an existing store.
    pub fn with_list_watch_and_store(lw: ListWatch<K>, store: Store<K>, options: ReflectorOptions) -> Self {
        let processor = Arc::new(Processor::new(lw.kind()));
        let reflector = Reflector::with_processor(lw, store, options, Arc::clone(&processor));
        SharedInformer {
            inner: Arc::new(InformerInner {
                reflector,
                processor,
                resync: Mutex::new(None),
                running: Mutex::new(Weak::new()),
            }),
        }
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

    /// The resync period, if any.
    pub fn resync_period(&self) -> Option<Duration> {
        *self.inner.resync.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `handler` with every failed list or watch attempt, on the informer's task
    /// (client-go `SetWatchErrorHandler`; the reflector retries either way). It must be
    /// quick. Replaces any previous handler.
    pub fn set_watch_error_handler(&self, handler: impl Fn(&ReflectorError) + Send + Sync + 'static) {
        self.inner.processor.set_error_handler(Some(Arc::new(handler)));
    }

    /// Registers a handler with its own queue; it first receives `on_add(obj, true)`
    /// for each object already stored.
    pub fn add_event_handler(&self, handler: impl ResourceEventHandler<K> + 'static) -> HandlerId {
        HandlerId(self.inner.processor.add_handler(self.store(), Arc::new(handler)))
    }

    /// Unregisters a handler or stream; false if it was not registered. Notifications
    /// still queued for it are dropped.
    pub fn remove_event_handler(&self, id: HandlerId) -> bool {
        self.inner.processor.remove(id.0)
    }

    /// Whether the handler has been given every object of the first list (client-go
    /// `ResourceEventHandlerRegistration.HasSynced`); false for unknown ids.
    pub fn handler_has_synced(&self, id: HandlerId) -> bool {
        self.inner.processor.queue(id.0).is_some_and(|q| q.has_synced())
    }

    /// Waits until [`handler_has_synced`](Self::handler_has_synced); returns at once
    /// for unknown ids.
    pub async fn wait_for_handler_sync(&self, id: HandlerId) {
        if let Some(q) = self.inner.processor.queue(id.0) {
            q.wait_for_sync().await
        }
    }

    /// The backlog of a handler's queue; `None` for unknown ids.
    pub fn handler_stats(&self, id: HandlerId) -> Option<HandlerStats> {
        self.inner.processor.queue(id.0).map(|q| q.stats())
    }

    /// The changes of this informer as a stream (see
    /// [`event_stream`](super::event_stream)). The stream has its own queue, like a
    /// handler, and keeps the informer running (starting it if needed: call from
    /// within a tokio runtime) until it is dropped.
    pub fn event_stream(&self) -> EventStream<K> {
        let (id, queue) = self.inner.processor.add_polled(self.store(), Mode::Snapshot, true);
        EventStream::new(queue, self.remover(id), self.start())
    }

    /// A polled listener in handler mode with errors, for `tools::watch`.
    pub(crate) fn add_polled_handler(&self) -> (HandlerId, Arc<super::processor::Queue<K>>) {
        let (id, queue) = self.inner.processor.add_polled(self.store(), Mode::Handler, true);
        (HandlerId(id), queue)
    }

    /// Unregisters listener `id` when called.
    pub(crate) fn remover(&self, id: u64) -> Box<dyn FnOnce() + Send + Sync> {
        let processor = Arc::downgrade(&self.inner.processor);
        Box::new(move || {
            if let Some(p) = processor.upgrade() {
                p.remove(id);
            }
        })
    }

    /// The store (client-go `GetIndexer` / `GetStore`).
    pub fn store(&self) -> &Store<K> {
        self.inner.reflector.store()
    }

    /// What the informer lists and watches.
    pub fn list_watch(&self) -> &ListWatch<K> {
        self.inner.reflector.list_watch()
    }

    /// A read view of the store.
    pub fn lister(&self) -> Lister<K> {
        Lister::new(self.store().clone())
    }

    /// Whether the first list has been stored (client-go `HasSynced`). Handlers may
    /// still be working through it: see [`handler_has_synced`](Self::handler_has_synced).
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
    pub fn last_error(&self) -> Option<ReflectorError> {
        self.inner.reflector.last_error()
    }

    /// Whether the informer is running (some [`InformerHandle`] of it lives).
    pub fn is_running(&self) -> bool {
        self.inner.running.lock().unwrap_or_else(PoisonError::into_inner).strong_count() > 0
    }

    /// Starts the informer and runs until the future is dropped. Equivalent to holding
    /// a [`start`](Self::start) handle.
    pub async fn run(&self) {
        let _running = self.start();
        std::future::pending::<()>().await
    }

    /// The reflector, the resync timer and the handlers' threads.
    async fn run_inner(&self) {
        let _threads: RunGuard<K> = self.inner.processor.start();
        let period = self.resync_period();
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

    /// Starts the informer on a tokio task, unless it runs already, and returns a
    /// handle to the run. The informer runs until every handle is dropped or
    /// [stopped](InformerHandle::stop). Must be called from within a tokio runtime.
    pub fn start(&self) -> InformerHandle {
        let state = Arc::clone(self.inner.reflector.state());
        let mut running = self.inner.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(lease) = running.upgrade() {
            return InformerHandle { _lease: lease, state };
        }
        let me = self.clone();
        let lease = Arc::new(Lease { task: tokio::spawn(async move { me.run_inner().await }) });
        *running = Arc::downgrade(&lease);
        InformerHandle { _lease: lease, state }
    }
}

/// A running informer: it runs while any of its handles lives. Dropping the last one
/// stops it.
#[derive(Debug, Clone)]
#[must_use = "the informer stops when its last handle is dropped"]
pub struct InformerHandle {
    _lease: Arc<Lease>,
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
    pub fn last_error(&self) -> Option<ReflectorError> {
        self.state.last_error()
    }

    /// Gives this handle up (same as dropping it); the informer stops if it was the
    /// last one.
    pub fn stop(self) {}
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

fn selected<K: CacheObject>(selector: Option<&Selector>) -> impl Fn(&Arc<K>) -> bool + '_ {
    move |o| selector.is_none_or(|s| s.matches_with(|key| o.label(key)))
}

impl<K: CacheObject + Send + Sync + 'static> Lister<K> {
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
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

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
