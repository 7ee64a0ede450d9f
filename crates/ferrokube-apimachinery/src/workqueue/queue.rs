//! `util::workqueue::queue`: the basic work queue (client-go `workqueue.Typed`).
//!
//! A [`Queue`] hands items to workers with three guarantees, the ones controllers are
//! built on:
//!
//! * **fair**: items are handed out in the order they were added;
//! * **stingy**: an item added several times before a worker picks it up is handed out
//!   once (adds are merged: the *dirty* set);
//! * **never concurrent**: an item being processed (between [`get`](Queue::get) and
//!   [`done`](Queue::done): the *processing* set) is not handed to a second worker; if it
//!   is added meanwhile, it is queued again when `done` is called.
//!
//! The same state also holds the items waiting for a delay (see
//! [`DelayingQueue`](super::DelayingQueue)): they enter the queue when they are due. No
//! background task is needed for that: a worker waiting in `get` sleeps until the first
//! delayed item is due, and every queue operation first moves the due items in, so a
//! queue can be created outside a runtime and leaks nothing when dropped. (The one
//! background task, spawned only for a queue with metrics, publishes the unfinished-work
//! gauges every 500 ms, as client-go does.)
//!
//! Shutting down ([`shut_down`](Queue::shut_down)) makes the queue ignore new adds;
//! workers still get the items already queued and then `None`.
//! [`shut_down_with_drain`](Queue::shut_down_with_drain) additionally waits until every
//! queued item has been handed out and marked done.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::metrics::{MetricsProvider, QueueMetrics};

/// How often the unfinished-work gauges are published (client-go's default).
pub const UNFINISHED_WORK_UPDATE_PERIOD: Duration = Duration::from_millis(500);

/// The bounds of a queue item: a small value compared and hashed to merge adds. Keys
/// (`String`s such as `namespace/name`) are the usual choice. Implemented for every such
/// type.
pub trait QueueItem: Clone + Eq + Hash + Send + Sync + 'static {}

impl<T: Clone + Eq + Hash + Send + Sync + 'static> QueueItem for T {}

/// Options of a queue (client-go `TypedQueueConfig`).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct QueueConfig {
    /// The queue's name, passed to the metrics provider. Without a name the queue
    /// reports no metrics.
    pub name: String,
    /// Where metrics go; `None` (the default) reports none.
    pub metrics_provider: Option<Arc<dyn MetricsProvider>>,
}

impl fmt::Debug for QueueConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueConfig")
            .field("name", &self.name)
            .field("metrics_provider", &self.metrics_provider.as_ref().map(|_| "<provider>"))
            .finish()
    }
}

impl QueueConfig {
    /// A configuration naming the queue `name`.
    pub fn named(name: impl Into<String>) -> Self {
        QueueConfig { name: name.into(), metrics_provider: None }
    }

    /// Sets the name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Sets the metrics provider (used only if the queue has a name).
    pub fn metrics_provider(mut self, provider: Arc<dyn MetricsProvider>) -> Self {
        self.metrics_provider = Some(provider);
        self
    }

    /// The provider to use, if metrics are on (a name and a provider).
    pub(crate) fn active_provider(&self) -> Option<&dyn MetricsProvider> {
        self.metrics_provider.as_deref().filter(|_| !self.name.is_empty())
    }
}

/// An item waiting for its delay, ordered by due time, then by insertion.
struct Waiting<T> {
    due: Instant,
    seq: u64,
    item: T,
}

impl<T> PartialEq for Waiting<T> {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due && self.seq == other.seq
    }
}

impl<T> Eq for Waiting<T> {}

impl<T> PartialOrd for Waiting<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Waiting<T> {
    // Reversed: BinaryHeap is a max-heap, the earliest due item must be on top.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

struct State<T> {
    /// The order of work; every item here is in `dirty` and not in `processing`.
    queue: VecDeque<T>,
    /// Items that need processing.
    dirty: HashSet<T>,
    /// Items handed out and not yet done.
    processing: HashSet<T>,
    /// Delayed items; an entry is live only if `waiting_by_item` has its (due, seq).
    waiting: BinaryHeap<Waiting<T>>,
    waiting_by_item: HashMap<T, (Instant, u64)>,
    next_seq: u64,
    shutting_down: bool,
    drain: bool,
    metrics: Option<QueueMetrics<T>>,
}

impl<T: QueueItem> State<T> {
    /// client-go `Add`; returns whether the item was pushed onto the queue.
    fn add(&mut self, item: T) -> bool {
        if self.shutting_down || self.dirty.contains(&item) {
            return false;
        }
        if let Some(m) = &mut self.metrics {
            m.add(&item);
        }
        self.dirty.insert(item.clone());
        if self.processing.contains(&item) {
            return false;
        }
        self.queue.push_back(item);
        true
    }

    /// Drops heap entries superseded by an earlier due time for the same item.
    fn drop_stale_top(&mut self) {
        while let Some(top) = self.waiting.peek() {
            if self.waiting_by_item.get(&top.item) == Some(&(top.due, top.seq)) {
                return;
            }
            self.waiting.pop();
        }
    }

    /// Moves the delayed items due at `now` into the queue; returns how many were pushed.
    fn promote_due(&mut self, now: Instant) -> usize {
        let mut pushed = 0;
        loop {
            self.drop_stale_top();
            match self.waiting.peek() {
                Some(top) if top.due <= now => {}
                _ => return pushed,
            }
            if let Some(w) = self.waiting.pop() {
                self.waiting_by_item.remove(&w.item);
                pushed += usize::from(self.add(w.item));
            }
        }
    }

    /// When the first delayed item is due.
    fn next_due(&mut self) -> Option<Instant> {
        self.drop_stale_top();
        self.waiting.peek().map(|w| w.due)
    }

    /// Schedules `item` at `due`, unless it is already scheduled earlier (client-go keeps
    /// the earlier time). Returns whether the schedule changed.
    fn schedule(&mut self, item: T, due: Instant) -> bool {
        if let Some(&(existing, _)) = self.waiting_by_item.get(&item) {
            if existing <= due {
                return false;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.waiting_by_item.insert(item.clone(), (due, seq));
        self.waiting.push(Waiting { due, seq, item });
        true
    }

    fn idle(&self) -> bool {
        self.queue.is_empty() && self.processing.is_empty()
    }
}

pub(crate) struct Inner<T> {
    state: Mutex<State<T>>,
    /// Woken when items are queued, when the delay schedule changes and at shutdown.
    ready: Notify,
    /// Woken when the queue becomes idle (nothing queued or processing) and at shutdown.
    idle: Notify,
    name: String,
}

impl<T> Inner<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self, pushed: usize) {
        for _ in 0..pushed {
            self.ready.notify_one();
        }
    }
}

/// A work queue of `T` (client-go `workqueue.TypedInterface`); see the
/// [module docs](self) for its guarantees. Cheap to clone: clones share the queue.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use ferrokube_apimachinery::workqueue::Queue;
/// let queue = Queue::new();
/// queue.add("default/web".to_owned());
/// queue.add("default/web".to_owned()); // merged with the first add
/// assert_eq!(queue.len(), 1);
/// let key = queue.get().await.unwrap();
/// // ... process key ...
/// queue.done(&key);
/// queue.shut_down();
/// assert_eq!(queue.get().await, None);
/// # }
/// ```
pub struct Queue<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Queue<T> {
    fn clone(&self) -> Self {
        Queue { inner: Arc::clone(&self.inner) }
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("Queue")
            .field("name", &self.inner.name)
            .field("len", &st.queue.len())
            .field("processing", &st.processing.len())
            .field("waiting", &st.waiting_by_item.len())
            .field("shutting_down", &st.shutting_down)
            .finish()
    }
}

impl<T: QueueItem> Default for Queue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: QueueItem> Queue<T> {
    /// An unnamed queue without metrics (client-go `NewTyped`).
    pub fn new() -> Self {
        Self::with_config(QueueConfig::default())
    }

    /// A queue with a name and metrics (client-go `NewTypedWithConfig`). With metrics on
    /// and a tokio runtime running, a task publishes the unfinished-work gauges every
    /// [`UNFINISHED_WORK_UPDATE_PERIOD`] until the queue shuts down or is dropped.
    pub fn with_config(config: QueueConfig) -> Self {
        let metrics = config.active_provider().map(|p| QueueMetrics::new(p, &config.name));
        let has_metrics = metrics.is_some();
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                waiting: BinaryHeap::new(),
                waiting_by_item: HashMap::new(),
                next_seq: 0,
                shutting_down: false,
                drain: false,
                metrics,
            }),
            ready: Notify::new(),
            idle: Notify::new(),
            name: config.name,
        });
        if has_metrics {
            spawn_unfinished_work_loop(Arc::downgrade(&inner));
        }
        Queue { inner }
    }

    /// The queue's name (`""` if unnamed).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Marks `item` as needing processing (client-go `Add`). Ignored once the queue is
    /// shutting down; merged with an earlier add not yet handed out; deferred until
    /// [`done`](Self::done) if the item is being processed.
    pub fn add(&self, item: T) {
        let pushed = {
            let mut st = self.inner.lock();
            st.promote_due(Instant::now()) + usize::from(st.add(item))
        };
        self.inner.wake(pushed);
    }

    /// How many items are queued, for information (client-go `Len`): items being
    /// processed and items waiting for a delay are not counted.
    pub fn len(&self) -> usize {
        let (pushed, len) = {
            let mut st = self.inner.lock();
            let pushed = st.promote_due(Instant::now());
            (pushed, st.queue.len())
        };
        self.inner.wake(pushed);
        len
    }

    /// Whether no item is queued (see [`len`](Self::len)).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for the next item and marks it as being processed (client-go `Get`).
    /// Returns `None` once the queue is shutting down and no item is left. Call
    /// [`done`](Self::done) with the item when finished with it.
    ///
    /// Cancel safe: dropping the future before it completes takes no item.
    pub async fn get(&self) -> Option<T> {
        loop {
            let notified = self.inner.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next_due = {
                let mut st = self.inner.lock();
                let pushed = st.promote_due(Instant::now());
                if let Some(item) = st.queue.pop_front() {
                    if let Some(m) = &mut st.metrics {
                        m.get(&item);
                    }
                    st.dirty.remove(&item);
                    st.processing.insert(item.clone());
                    drop(st);
                    // Items promoted here beyond the one taken may have other takers.
                    self.inner.wake(pushed.saturating_sub(1));
                    return Some(item);
                }
                if st.shutting_down {
                    return None;
                }
                st.next_due()
            };
            match next_due {
                Some(due) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(due) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks `item` as processed (client-go `Done`). If it was added again while being
    /// processed, it is queued now.
    pub fn done(&self, item: &T) {
        let (pushed, idle) = {
            let mut st = self.inner.lock();
            if let Some(m) = &mut st.metrics {
                m.done(item);
            }
            // An item that was not handed out (a stray `done`) changes nothing.
            let mut pushed = 0;
            if st.processing.remove(item) && st.dirty.contains(item) {
                st.queue.push_back(item.clone());
                pushed += 1;
            }
            pushed += st.promote_due(Instant::now());
            (pushed, st.idle())
        };
        self.inner.wake(pushed);
        if idle {
            self.inner.idle.notify_waiters();
        }
    }

    /// Stops accepting items (client-go `ShutDown`): later adds are ignored, delayed
    /// items are dropped, workers get the items still queued and then `None`. Also stops
    /// a pending [`shut_down_with_drain`](Self::shut_down_with_drain) from waiting.
    pub fn shut_down(&self) {
        {
            let mut st = self.inner.lock();
            st.shutting_down = true;
            st.drain = false;
            st.waiting.clear();
            st.waiting_by_item.clear();
        }
        self.inner.ready.notify_waiters();
        self.inner.idle.notify_waiters();
    }

    /// Shuts down as [`shut_down`](Self::shut_down), then waits until every queued item
    /// has been handed out and every item handed out is [`done`](Self::done) (client-go
    /// `ShutDownWithDrain`). Workers must keep calling `get` and `done`; a later
    /// `shut_down` stops the wait.
    pub async fn shut_down_with_drain(&self) {
        {
            let mut st = self.inner.lock();
            st.shutting_down = true;
            st.drain = true;
            st.waiting.clear();
            st.waiting_by_item.clear();
        }
        self.inner.ready.notify_waiters();
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let st = self.inner.lock();
                if !st.drain || st.idle() {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Whether [`shut_down`](Self::shut_down) or
    /// [`shut_down_with_drain`](Self::shut_down_with_drain) was called (client-go
    /// `ShuttingDown`).
    pub fn shutting_down(&self) -> bool {
        self.inner.lock().shutting_down
    }

    /// How many items are being processed (handed out, not yet done).
    pub fn processing_len(&self) -> usize {
        self.inner.lock().processing.len()
    }

    /// Queues `item` once `delay` has passed; the delaying queue's `add_after`.
    pub(crate) fn add_after(&self, item: T, delay: Duration) {
        if delay.is_zero() {
            return self.add(item);
        }
        let now = Instant::now();
        // A delay too long to represent is as good as forever; keep it far but finite.
        let due = now.checked_add(delay).unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
        let (pushed, changed) = {
            let mut st = self.inner.lock();
            if st.shutting_down {
                return;
            }
            let pushed = st.promote_due(now);
            (pushed, st.schedule(item, due))
        };
        self.inner.wake(pushed);
        if changed {
            // Sleeping workers recompute when to wake up.
            self.inner.ready.notify_waiters();
        }
    }

    /// How many items wait for a delay.
    pub(crate) fn waiting_len(&self) -> usize {
        self.inner.lock().waiting_by_item.len()
    }

    /// Publishes the unfinished-work gauges; false once shutting down.
    fn update_unfinished_work(inner: &Inner<T>) -> bool {
        let st = inner.lock();
        if st.shutting_down {
            return false;
        }
        if let Some(m) = &st.metrics {
            m.update_unfinished_work();
        }
        true
    }
}

fn spawn_unfinished_work_loop<T: QueueItem>(inner: Weak<Inner<T>>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("work queue created outside a tokio runtime: unfinished-work metrics will not be published");
        return;
    };
    // The period counts from the queue's creation, not from the task's first poll.
    let start = Instant::now() + UNFINISHED_WORK_UPDATE_PERIOD;
    runtime.spawn(async move {
        let mut tick = tokio::time::interval_at(start, UNFINISHED_WORK_UPDATE_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(inner) = inner.upgrade() else { return };
            if !Queue::update_unfinished_work(&inner) {
                return;
            }
        }
    });
}
