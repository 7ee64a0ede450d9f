//! `util::workqueue::delaying_queue`: a queue that can add an item later (client-go
//! `workqueue.TypedDelayingInterface`).
//!
//! [`DelayingQueue::add_after`] schedules an item; when it is due it is added as by
//! [`Queue::add`] (merged with an add already pending, deferred if the item is being
//! processed). Scheduling an item that is already scheduled keeps the earlier of the two
//! times, as client-go does. Delayed items are ordered by due time in a heap inside the
//! queue and timed with tokio's clock, so `tokio::time::pause` / `advance` drive them in
//! tests. Shutting down drops the items still waiting.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use super::metrics::CounterMetric;
use super::queue::{Queue, QueueConfig, QueueItem};

/// A [`Queue`] with [`add_after`](Self::add_after). Dereferences to the [`Queue`], so
/// `add`, `get`, `done`, `shut_down`, ... are available directly. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use std::time::Duration;
/// use ferrokube_apimachinery::workqueue::DelayingQueue;
/// let queue = DelayingQueue::new();
/// queue.add_after("later", Duration::from_secs(2));
/// queue.add_after("sooner", Duration::from_secs(1));
/// assert_eq!(queue.get().await, Some("sooner")); // the paused clock jumps to t+1s
/// assert_eq!(queue.get().await, Some("later"));
/// # }
/// ```
pub struct DelayingQueue<T> {
    queue: Queue<T>,
    retries: Option<std::sync::Arc<dyn CounterMetric>>,
}

impl<T> Clone for DelayingQueue<T> {
    fn clone(&self) -> Self {
        DelayingQueue { queue: self.queue.clone(), retries: self.retries.clone() }
    }
}

impl<T> fmt::Debug for DelayingQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DelayingQueue").field("queue", &self.queue).finish()
    }
}

impl<T> Deref for DelayingQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.queue
    }
}

impl<T: QueueItem> Default for DelayingQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: QueueItem> DelayingQueue<T> {
    /// An unnamed delaying queue without metrics (client-go `NewTypedDelayingQueue`).
    pub fn new() -> Self {
        Self::with_config(QueueConfig::default())
    }

    /// A delaying queue with a name and metrics (client-go
    /// `NewTypedDelayingQueueWithConfig`); it also reports the retries metric.
    pub fn with_config(config: QueueConfig) -> Self {
        let retries = config.active_provider().map(|p| std::sync::Arc::from(p.new_retries_metric(&config.name)));
        DelayingQueue { queue: Queue::with_config(config), retries }
    }

    /// Adds `item` once `delay` has passed (client-go `AddAfter`); a zero delay adds it
    /// now. Ignored once the queue is shutting down. Counts as a retry in the metrics.
    pub fn add_after(&self, item: T, delay: Duration) {
        if self.queue.shutting_down() {
            return;
        }
        if let Some(retries) = &self.retries {
            retries.inc();
        }
        self.queue.add_after(item, delay);
    }

    /// How many items wait for their delay.
    pub fn waiting_len(&self) -> usize {
        self.queue.waiting_len()
    }

    /// The underlying queue.
    pub fn queue(&self) -> &Queue<T> {
        &self.queue
    }
}
