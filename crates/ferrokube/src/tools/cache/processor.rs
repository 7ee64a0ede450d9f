//! `tools::cache::processor`: hands an informer's changes to its listeners, each
//! through its own queue (client-go `sharedProcessor` / `processorListener`).
//!
//! The reflector applies every change to the store *through* the processor, which
//! under one lock updates the store and appends a notification to the queue of every
//! listener. Appending never waits: each queue is an unbounded `VecDeque` (client-go
//! uses a growing ring buffer, also unbounded), so a slow or blocked listener never
//! stalls the watch, the store or the other listeners — it only falls behind, and its
//! backlog is visible in [`HandlerStats`] (and logged at each doubling from 1024
//! pending notifications).
//!
//! Listeners come in two modes:
//!
//! * **handler** listeners get the store's changes as add / update / delete (and
//!   resync) notifications; a (re)list becomes the difference with the previous
//!   content: objects added, objects gone, and objects whose resourceVersion changed
//!   (an object relisted unchanged is not an update, as in client-go, where such an
//!   update counts as a resync and reaches only listeners due for one; here the
//!   informer's resync timer replays it). [`ResourceEventHandler`]s are such
//!   listeners, each called from its own thread (the counterpart of a listener's
//!   goroutine in client-go) while the informer runs, so a handler may block without
//!   holding up the async runtime;
//! * **snapshot** listeners (the [`event_stream`](super::SharedInformer::event_stream))
//!   get `Apply` / `Delete`, and every (re)list as `Init`, `InitApply` per object,
//!   `InitDone` (kube-runtime's watcher events), plus the reflector's errors.
//!
//! Either kind is consumed by a thread (handlers) or polled by an async consumer.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::task::{Context, Poll, Waker};

use tokio::sync::watch;

use super::object::CacheObject;
use super::reflector::ReflectorError;
use super::store::{meta_namespace_key, CacheError, Replaced, Store};

/// Receives the changes an informer applies to its store (client-go
/// `ResourceEventHandler`). Every method has an empty default.
///
/// Each registered handler is called from its own thread, one notification at a time
/// and in store order; it may take its time (other handlers and the store do not wait
/// for it) but should hand real work to a queue. A tokio runtime context is entered on
/// that thread when the informer was started from one, so `tokio::spawn` works inside.
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

/// One entry of a listener's queue.
pub(crate) enum Notification<K> {
    /// Handler mode: an object entered the store.
    Add(Arc<K>, bool),
    /// Handler mode: an object changed.
    Update(Arc<K>, Arc<K>),
    /// Both modes: an object left the store.
    Delete(Arc<K>),
    /// Handler mode: a resync of a stored object.
    Resync(Arc<K>),
    /// Handler mode: every notification of the first list came before this one.
    Synced,
    /// Snapshot mode: an object was added or changed.
    Apply(Arc<K>),
    /// Snapshot mode: a full list starts.
    InitStart,
    /// Snapshot mode: an object of the list.
    InitApply(Arc<K>),
    /// Snapshot mode: the list is complete.
    InitDone,
    /// A list or watch attempt failed (listeners that asked for errors).
    Error(ReflectorError),
}

/// How a listener wants changes (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Handler,
    Snapshot,
}

/// A listener's backlog (client-go keeps the equivalent in each listener's ring
/// buffer, unexposed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HandlerStats {
    /// Notifications queued and not yet handed to the handler (counting the internal
    /// end-of-first-list marker while it waits).
    pub pending: usize,
    /// The most notifications ever pending at once.
    pub max_pending: usize,
    /// Notifications taken from the queue so far (handed to the handler, plus one
    /// internal marker at the end of the first list).
    pub delivered: u64,
}

struct QueueState<K> {
    items: VecDeque<Notification<K>>,
    closed: bool,
    waker: Option<Waker>,
    stats: HandlerStats,
    /// Log again when `pending` reaches this.
    warn_at: usize,
}

/// One listener's unbounded FIFO, popped by a thread or by an async consumer.
pub(crate) struct Queue<K> {
    state: Mutex<QueueState<K>>,
    ready: Condvar,
    /// Held by the thread delivering from this queue, so two delivery threads (an old
    /// run's still finishing a call, a new run's) never interleave.
    delivering: Mutex<()>,
    /// Set once the listener got every notification of the first list.
    synced: watch::Sender<bool>,
    name: String,
}

const FIRST_WARNING: usize = 1024;

impl<K> Queue<K> {
    fn new(name: String) -> Self {
        Queue {
            state: Mutex::new(QueueState {
                items: VecDeque::new(),
                closed: false,
                waker: None,
                stats: HandlerStats::default(),
                warn_at: FIRST_WARNING,
            }),
            ready: Condvar::new(),
            delivering: Mutex::new(()),
            synced: watch::Sender::new(false),
            name,
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, n: Notification<K>) {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            s.items.push_back(n);
            let pending = s.items.len();
            s.stats.pending = pending;
            s.stats.max_pending = s.stats.max_pending.max(pending);
            if pending >= s.warn_at {
                s.warn_at = s.warn_at.saturating_mul(2);
                tracing::warn!(listener = %self.name, pending, "an informer listener is falling behind");
            }
            s.waker.take()
        };
        self.ready.notify_one();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn take(s: &mut QueueState<K>) -> Option<Notification<K>> {
        let n = s.items.pop_front()?;
        s.stats.pending = s.items.len();
        s.stats.delivered += 1;
        Some(n)
    }

    /// The next notification, waiting for one; `None` once the queue is closed or
    /// `stop` is set.
    fn pop_blocking(&self, stop: &AtomicBool) -> Option<Notification<K>> {
        let mut s = self.lock();
        loop {
            if s.closed || stop.load(Ordering::Acquire) {
                return None;
            }
            if let Some(n) = Self::take(&mut s) {
                return Some(n);
            }
            s = self.ready.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The next notification for an async consumer; `Ready(None)` once closed.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Notification<K>>> {
        let mut s = self.lock();
        if let Some(n) = Self::take(&mut s) {
            return Poll::Ready(Some(n));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Wakes every consumer so it re-checks `closed` / its stop flag.
    fn wake_all(&self) {
        let waker = {
            let mut s = self.lock();
            s.waker.take()
        };
        self.ready.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake_all();
    }

    pub(crate) fn stats(&self) -> HandlerStats {
        self.lock().stats
    }

    /// Records that the first list's notifications were all consumed.
    pub(crate) fn mark_synced(&self) {
        self.synced.send_replace(true);
    }

    pub(crate) fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    pub(crate) async fn wait_for_sync(&self) {
        let mut rx = self.synced.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Who consumes a listener's queue.
enum Consumer<K> {
    /// A handler, called from a delivery thread while the informer runs.
    Handler(Arc<dyn ResourceEventHandler<K>>),
    /// An async consumer polls [`Queue::poll_pop`].
    Polled,
}

struct Listener<K> {
    id: u64,
    mode: Mode,
    errors: bool,
    queue: Arc<Queue<K>>,
    consumer: Consumer<K>,
    /// Whether the listener already got a full content (a list or a replay).
    initialized: bool,
}

/// The current run: its stop flag and the runtime handlers run in.
struct Run {
    stop: Arc<AtomicBool>,
    runtime: Option<tokio::runtime::Handle>,
}

struct State<K> {
    listeners: Vec<Listener<K>>,
    /// The store has been filled by a list at least once.
    synced: bool,
    run: Option<Run>,
}

/// Called with every failed list or watch attempt (client-go `WatchErrorHandler`).
pub type WatchErrorHandler = Arc<dyn Fn(&ReflectorError) + Send + Sync>;

/// Applies changes to a store and queues notifications for the listeners, serialized
/// by one lock so every listener sees changes in store order.
pub(crate) struct Processor<K> {
    state: Mutex<State<K>>,
    next_id: AtomicU64,
    error_handler: RwLock<Option<WatchErrorHandler>>,
    kind: String,
}

impl<K> Processor<K> {
    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a relisted object is the one already stored: same non-empty
/// resourceVersion.
fn same_version<K: CacheObject>(old: &K, new: &K) -> bool {
    matches!((old.resource_version(), new.resource_version()), (Some(a), Some(b)) if !a.is_empty() && a == b)
}

impl<K: CacheObject + Send + Sync + 'static> Processor<K> {
    pub(crate) fn new(kind: &str) -> Self {
        Processor {
            state: Mutex::new(State { listeners: Vec::new(), synced: false, run: None }),
            next_id: AtomicU64::new(1),
            error_handler: RwLock::new(None),
            kind: kind.to_owned(),
        }
    }

    pub(crate) fn upsert(&self, store: &Store<K>, obj: K) -> Result<Arc<K>, CacheError> {
        let state = self.lock();
        let u = store.upsert(obj)?;
        for l in &state.listeners {
            l.queue.push(match (l.mode, &u.old) {
                (Mode::Snapshot, _) => Notification::Apply(Arc::clone(&u.new)),
                (Mode::Handler, Some(old)) => Notification::Update(Arc::clone(old), Arc::clone(&u.new)),
                (Mode::Handler, None) => Notification::Add(Arc::clone(&u.new), false),
            });
        }
        Ok(u.new)
    }

    pub(crate) fn delete(&self, store: &Store<K>, obj: K) -> Result<Arc<K>, CacheError> {
        let state = self.lock();
        let obj = store.transform_obj(obj);
        let key = meta_namespace_key(&obj)?;
        store.delete_by_key(&key);
        let obj = Arc::new(obj);
        for l in &state.listeners {
            l.queue.push(Notification::Delete(Arc::clone(&obj)));
        }
        Ok(obj)
    }

    /// Replaces the store with already transformed `items`.
    pub(crate) fn replace(&self, store: &Store<K>, items: Vec<K>, initial: bool) {
        let mut state = self.lock();
        state.synced = true;
        let any = !state.listeners.is_empty();
        let Replaced { old, new } = store.replace_returning_old(items, any, true);
        if !any {
            return;
        }
        let kept: std::collections::HashSet<&str> = new.iter().map(|(k, _)| &**k).collect();
        for l in &mut state.listeners {
            match l.mode {
                Mode::Handler => {
                    for (key, obj) in &new {
                        match old.get(key) {
                            // Unchanged since the last list or event: nothing to tell
                            // (a resync, if one is configured, replays it).
                            Some(prev) if same_version(&**prev, &**obj) => {}
                            Some(prev) => l.queue.push(Notification::Update(Arc::clone(prev), Arc::clone(obj))),
                            None => l.queue.push(Notification::Add(Arc::clone(obj), initial || !l.initialized)),
                        }
                    }
                    for (key, prev) in &old {
                        if !kept.contains(&**key) {
                            l.queue.push(Notification::Delete(Arc::clone(prev)));
                        }
                    }
                    if !l.initialized {
                        l.queue.push(Notification::Synced);
                    }
                }
                Mode::Snapshot => {
                    l.queue.push(Notification::InitStart);
                    for (_, obj) in &new {
                        l.queue.push(Notification::InitApply(Arc::clone(obj)));
                    }
                    l.queue.push(Notification::InitDone);
                }
            }
            l.initialized = true;
        }
    }

    pub(crate) fn resync(&self, store: &Store<K>) {
        let state = self.lock();
        if !state.listeners.iter().any(|l| l.mode == Mode::Handler) {
            return;
        }
        for obj in store.list() {
            for l in state.listeners.iter().filter(|l| l.mode == Mode::Handler) {
                l.queue.push(Notification::Resync(Arc::clone(&obj)));
            }
        }
    }

    /// Reports a failed list or watch attempt to the error handler and the listeners
    /// that asked for errors.
    pub(crate) fn error(&self, err: &ReflectorError) {
        {
            let state = self.lock();
            for l in state.listeners.iter().filter(|l| l.errors) {
                l.queue.push(Notification::Error(err.clone()));
            }
        }
        let handler = self.error_handler.read().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(h) = handler {
            h(err);
        }
    }

    pub(crate) fn set_error_handler(&self, handler: Option<WatchErrorHandler>) {
        *self.error_handler.write().unwrap_or_else(PoisonError::into_inner) = handler;
    }

    /// Registers a listener; if the store has been synced, it first gets the current
    /// content (handlers: `Add(obj, true)` each, then `Synced`; snapshots: `InitStart`,
    /// `InitApply` each, `InitDone`).
    fn add(&self, store: &Store<K>, mode: Mode, errors: bool, consumer: Consumer<K>) -> (u64, Arc<Queue<K>>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let queue = Arc::new(Queue::new(format!("{}#{id}", self.kind)));
        let mut state = self.lock();
        let initialized = state.synced;
        if initialized {
            let objs = store.list();
            match mode {
                Mode::Handler => {
                    for obj in objs {
                        queue.push(Notification::Add(obj, true));
                    }
                    queue.push(Notification::Synced);
                }
                Mode::Snapshot => {
                    queue.push(Notification::InitStart);
                    for obj in objs {
                        queue.push(Notification::InitApply(obj));
                    }
                    queue.push(Notification::InitDone);
                }
            }
        }
        if let (Consumer::Handler(handler), Some(run)) = (&consumer, &state.run) {
            spawn_delivery(&queue, handler, run);
        }
        state.listeners.push(Listener { id, mode, errors, queue: Arc::clone(&queue), consumer, initialized });
        (id, queue)
    }

    pub(crate) fn add_handler(&self, store: &Store<K>, handler: Arc<dyn ResourceEventHandler<K>>) -> u64 {
        self.add(store, Mode::Handler, false, Consumer::Handler(handler)).0
    }

    /// A listener consumed by polling its queue.
    pub(crate) fn add_polled(&self, store: &Store<K>, mode: Mode, errors: bool) -> (u64, Arc<Queue<K>>) {
        self.add(store, mode, errors, Consumer::Polled)
    }

    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut state = self.lock();
        let Some(i) = state.listeners.iter().position(|l| l.id == id) else { return false };
        let l = state.listeners.remove(i);
        l.queue.close();
        true
    }

    pub(crate) fn queue(&self, id: u64) -> Option<Arc<Queue<K>>> {
        self.lock().listeners.iter().find(|l| l.id == id).map(|l| Arc::clone(&l.queue))
    }

    /// Starts a delivery thread per handler; they stop when the guard is dropped.
    pub(crate) fn start(self: &Arc<Self>) -> RunGuard<K> {
        let mut state = self.lock();
        if let Some(old) = state.run.take() {
            old.stop.store(true, Ordering::Release);
        }
        let run = Run { stop: Arc::new(AtomicBool::new(false)), runtime: tokio::runtime::Handle::try_current().ok() };
        for l in &state.listeners {
            if let Consumer::Handler(h) = &l.consumer {
                spawn_delivery(&l.queue, h, &run);
            }
        }
        let stop = Arc::clone(&run.stop);
        state.run = Some(run);
        RunGuard { processor: Arc::clone(self), stop }
    }
}

/// Stops the delivery threads of one run when dropped (they finish the call in
/// progress; queued notifications stay for the next run).
pub(crate) struct RunGuard<K> {
    processor: Arc<Processor<K>>,
    stop: Arc<AtomicBool>,
}

impl<K> Drop for RunGuard<K> {
    fn drop(&mut self) {
        let mut state = self.processor.lock();
        self.stop.store(true, Ordering::Release);
        if state.run.as_ref().is_some_and(|r| Arc::ptr_eq(&r.stop, &self.stop)) {
            state.run = None;
        }
        for l in &state.listeners {
            l.queue.wake_all();
        }
    }
}

fn deliver<K>(handler: &dyn ResourceEventHandler<K>, queue: &Queue<K>, n: Notification<K>) {
    match n {
        Notification::Add(o, initial) => handler.on_add(&o, initial),
        Notification::Update(old, new) => handler.on_update(&old, &new),
        Notification::Delete(o) => handler.on_delete(&o),
        Notification::Resync(o) => handler.on_update(&o, &o),
        Notification::Synced => queue.mark_synced(),
        Notification::Apply(_)
        | Notification::InitStart
        | Notification::InitApply(_)
        | Notification::InitDone
        | Notification::Error(_) => {}
    }
}

fn spawn_delivery<K: Send + Sync + 'static>(
    queue: &Arc<Queue<K>>,
    handler: &Arc<dyn ResourceEventHandler<K>>,
    run: &Run,
) {
    let (queue, handler, stop, runtime) =
        (Arc::clone(queue), Arc::clone(handler), Arc::clone(&run.stop), run.runtime.clone());
    let spawned = std::thread::Builder::new().name(format!("handler {}", queue.name)).spawn(move || {
        let _runtime = runtime.as_ref().map(|r| r.enter());
        let _only_me = queue.delivering.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(n) = queue.pop_blocking(&stop) {
            let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver(&*handler, &queue, n)));
            if call.is_err() {
                tracing::error!(listener = %queue.name, "an informer event handler panicked; it keeps receiving events");
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the thread of an informer event handler: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn cm(ns: &str, name: &str, rv: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn drain(q: &Queue<ConfigMap>) -> Vec<String> {
        let name = |o: &ConfigMap| o.metadata.name.clone().unwrap_or_default();
        let rv = |o: &ConfigMap| o.metadata.resource_version.clone().unwrap_or_default();
        let mut out = Vec::new();
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        while let Poll::Ready(Some(n)) = q.poll_pop(&mut cx) {
            out.push(match n {
                Notification::Add(o, i) => format!("add {} {i}", name(&o)),
                Notification::Update(a, b) => format!("update {} {}->{}", name(&b), rv(&a), rv(&b)),
                Notification::Delete(o) => format!("delete {}", name(&o)),
                Notification::Resync(o) => format!("resync {}", name(&o)),
                Notification::Synced => "synced".to_owned(),
                Notification::Apply(o) => format!("apply {}", name(&o)),
                Notification::InitStart => "init".to_owned(),
                Notification::InitApply(o) => format!("init-apply {}", name(&o)),
                Notification::InitDone => "init-done".to_owned(),
                Notification::Error(e) => format!("error {e}"),
            });
        }
        out
    }

    #[test]
    fn handler_and_snapshot_listeners_see_the_store_in_order() {
        let store = Store::<ConfigMap>::new();
        let p = Arc::new(Processor::<ConfigMap>::new("ConfigMap"));
        let (h, hq) = p.add_polled(&store, Mode::Handler, false);
        let (_, sq) = p.add_polled(&store, Mode::Snapshot, true);
        p.replace(&store, vec![cm("a", "one", "1"), cm("a", "two", "1")], true);
        let mut first = drain(&hq);
        first[..2].sort();
        assert_eq!(first, ["add one true", "add two true", "synced"]);
        let mut snap = drain(&sq);
        snap[1..3].sort();
        assert_eq!(snap, ["init", "init-apply one", "init-apply two", "init-done"]);

        p.upsert(&store, cm("a", "one", "2")).unwrap();
        p.upsert(&store, cm("a", "three", "3")).unwrap();
        p.delete(&store, cm("a", "two", "4")).unwrap();
        p.resync(&store);
        p.error(&ReflectorError::Store(CacheError::MissingName));
        let mut got = drain(&hq);
        got[3..].sort();
        assert_eq!(got, ["update one 1->2", "add three false", "delete two", "resync one", "resync three"]);
        assert_eq!(
            drain(&sq),
            [
                "apply one",
                "apply three",
                "delete two",
                "error an object could not be stored: object has no metadata.name; cannot compute its key"
            ]
        );

        // A relist: the difference for handlers, the whole list for snapshots.
        p.replace(&store, vec![cm("a", "three", "3"), cm("a", "four", "5")], false);
        let mut got = drain(&hq);
        got.sort();
        assert_eq!(got, ["add four false", "delete one"], "three is unchanged (3->3): not an update");
        assert_eq!(drain(&sq).len(), 4);

        // A late listener gets the content first.
        let (_, late) = p.add_polled(&store, Mode::Handler, false);
        let mut got = drain(&late);
        got[..2].sort();
        assert_eq!(got, ["add four true", "add three true", "synced"]);
        assert!(p.remove(h));
        assert!(!p.remove(h));
        p.upsert(&store, cm("a", "five", "6")).unwrap();
        let waker = futures_util::task::noop_waker();
        assert!(matches!(hq.poll_pop(&mut Context::from_waker(&waker)), Poll::Ready(None)), "closed");
        let stats = late.stats();
        assert_eq!((stats.pending, stats.max_pending, stats.delivered), (1, 3, 3));
    }
}
