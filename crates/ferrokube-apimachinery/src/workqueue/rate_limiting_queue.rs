//! `util::workqueue::rate_limiting_queue`: a delaying queue whose re-adds wait as long
//! as a [`RateLimiter`] says (client-go `workqueue.TypedRateLimitingInterface`).
//!
//! The controller pattern: on a failed sync, [`add_rate_limited`](RateLimitingQueue::add_rate_limited)
//! (the limiter counts the failure and picks the delay, e.g. 5 ms, 10 ms, 20 ms, ...); on
//! success, [`forget`](RateLimitingQueue::forget) (the count starts again from zero).
//! `forget` only clears the limiter's memory: [`done`](super::Queue::done) must still be
//! called.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use super::default_rate_limiters::RateLimiter;
use super::delaying_queue::DelayingQueue;
use super::queue::{QueueConfig, QueueItem};

/// A [`DelayingQueue`] with rate-limited adds. Dereferences to the [`DelayingQueue`]
/// (and through it to the [`Queue`](super::Queue)). Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// use ferrokube_apimachinery::workqueue::{default_controller_rate_limiter, RateLimitingQueue};
/// let queue = RateLimitingQueue::new(default_controller_rate_limiter());
/// let key = "default/web".to_owned();
/// queue.add(key.clone());
/// let key = queue.get().await.unwrap();
/// let synced: Result<(), &str> = Err("conflict"); // sync the object here
/// match synced {
///     Ok(()) => queue.forget(&key),
///     Err(_) => queue.add_rate_limited(key.clone()), // back in 5 ms, then 10 ms, ...
/// }
/// queue.done(&key);
/// assert_eq!(queue.num_requeues(&key), 1);
/// # }
/// ```
pub struct RateLimitingQueue<T> {
    queue: DelayingQueue<T>,
    rate_limiter: Arc<dyn RateLimiter<T>>,
}

impl<T> Clone for RateLimitingQueue<T> {
    fn clone(&self) -> Self {
        RateLimitingQueue { queue: self.queue.clone(), rate_limiter: Arc::clone(&self.rate_limiter) }
    }
}

impl<T> fmt::Debug for RateLimitingQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimitingQueue").field("queue", &self.queue).finish()
    }
}

impl<T> Deref for RateLimitingQueue<T> {
    type Target = DelayingQueue<T>;

    fn deref(&self) -> &DelayingQueue<T> {
        &self.queue
    }
}

impl<T: QueueItem> RateLimitingQueue<T> {
    /// An unnamed queue without metrics using `rate_limiter` (client-go
    /// `NewTypedRateLimitingQueue`). Remember to [`forget`](Self::forget) items.
    pub fn new(rate_limiter: impl RateLimiter<T> + 'static) -> Self {
        Self::with_config(rate_limiter, QueueConfig::default())
    }

    /// A queue with a name and metrics (client-go
    /// `NewTypedRateLimitingQueueWithConfig`).
    pub fn with_config(rate_limiter: impl RateLimiter<T> + 'static, config: QueueConfig) -> Self {
        Self::from_parts(DelayingQueue::with_config(config), Arc::new(rate_limiter))
    }

    /// A queue over an existing delaying queue and a shared limiter.
    pub fn from_parts(queue: DelayingQueue<T>, rate_limiter: Arc<dyn RateLimiter<T>>) -> Self {
        RateLimitingQueue { queue, rate_limiter }
    }

    /// Adds `item` after the delay the rate limiter gives it (client-go
    /// `AddRateLimited`).
    pub fn add_rate_limited(&self, item: T) {
        if self.queue.shutting_down() {
            return;
        }
        let delay = self.rate_limiter.when(&item);
        self.queue.add_after(item, delay);
    }

    /// Makes the rate limiter forget `item`'s failures (client-go `Forget`). Call
    /// [`done`](super::Queue::done) as well.
    pub fn forget(&self, item: &T) {
        self.rate_limiter.forget(item)
    }

    /// How many times `item` was requeued since it was last forgotten (client-go
    /// `NumRequeues`).
    pub fn num_requeues(&self, item: &T) -> usize {
        self.rate_limiter.num_requeues(item)
    }

    /// The rate limiter.
    pub fn rate_limiter(&self) -> &Arc<dyn RateLimiter<T>> {
        &self.rate_limiter
    }
}
