//! `util::workqueue`: the work queues controllers hand keys through (client-go
//! `util/workqueue`).
//!
//! On the watch path this sits between the informer and the user's sync code:
//!
//! ```text
//! SharedInformer handlers (on_add / on_update / on_delete)
//!   -> queue.add(key)                 merged while queued, deferred while processing
//!   -> worker: queue.get().await      never two workers on one key
//!   -> sync(key) -> Ok:  queue.forget(&key)
//!                   Err: queue.add_rate_limited(key)   back in 5 ms, 10 ms, 20 ms, ...
//!   -> queue.done(&key)
//! ```
//!
//! Three layers, each a cheap-to-clone handle over one shared queue, each dereferencing
//! to the one below:
//!
//! * [`Queue`]: fair, merging, never-concurrent queue with shutdown and drain
//!   ([`queue`]);
//! * [`DelayingQueue`]: adds [`add_after`](DelayingQueue::add_after) ([`delaying_queue`]);
//! * [`RateLimitingQueue`]: adds [`add_rate_limited`](RateLimitingQueue::add_rate_limited),
//!   [`forget`](RateLimitingQueue::forget) and [`num_requeues`](RateLimitingQueue::num_requeues)
//!   with a [`RateLimiter`] ([`rate_limiting_queue`], [`default_rate_limiters`]).
//!
//! Named queues report through a [`MetricsProvider`] ([`metrics`]).
//!
//! Differences from client-go, on purpose:
//! * `get` is async and returns `Option<T>` (`None`: shut down and empty) instead of
//!   `(item, shutdown)`.
//! * Timers use tokio's clock instead of an injected `clock.Clock`: tests pause and
//!   advance tokio time. Delayed items need no goroutine of their own: they move into
//!   the queue when due, driven by waiting workers and by every queue operation (see
//!   [`queue`]).
//! * The underlying FIFO and delaying queue cannot be swapped for custom ones, and
//!   there is no global metrics provider (`SetProvider`): each queue takes its provider
//!   from its [`QueueConfig`].
//! * `shut_down_with_drain` waits until the queue is empty *and* nothing is processing,
//!   as client-go documents it (client-go's loop only waits for the processing set).
//! * `ParallelizeUntil` (client-go `parallelizer.go`) is not part of this module.

pub mod default_rate_limiters;
pub mod delaying_queue;
pub mod metrics;
pub mod queue;
pub mod rate_limiting_queue;

#[cfg(test)]
mod tests;

pub use default_rate_limiters::{
    default_controller_rate_limiter, default_item_based_rate_limiter, BucketRateLimiter,
    ItemExponentialFailureRateLimiter, ItemFastSlowRateLimiter, MaxOfRateLimiter, RateLimiter, WithMaxWaitRateLimiter,
};
pub use delaying_queue::DelayingQueue;
pub use metrics::{
    CounterMetric, GaugeMetric, HistogramMetric, MetricsProvider, NoopMetric, NoopMetricsProvider, SettableGaugeMetric,
};
pub use queue::{Queue, QueueConfig, QueueItem, UNFINISHED_WORK_UPDATE_PERIOD};
pub use rate_limiting_queue::RateLimitingQueue;
