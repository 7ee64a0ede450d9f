//! `util::workqueue::default_rate_limiters`: how long a re-added item waits (client-go
//! `default_rate_limiters.go`).
//!
//! A [`RateLimiter`] answers [`when`](RateLimiter::when) an item may be processed again;
//! per-item limiters count the item's failures until [`forget`](RateLimiter::forget).
//!
//! | limiter | delay |
//! | --- | --- |
//! | [`ItemExponentialFailureRateLimiter`] | `base × 2^failures`, capped: 5 ms, 10 ms, 20 ms, ... 1000 s by default |
//! | [`BucketRateLimiter`] | overall: a token bucket, 10 qps with bursts of 100 by default; per-item counts are 0 |
//! | [`ItemFastSlowRateLimiter`] | `fast` for the first `max_fast_attempts` failures, `slow` after |
//! | [`MaxOfRateLimiter`] | the longest delay of several limiters |
//! | [`WithMaxWaitRateLimiter`] | another limiter's delay, capped |
//!
//! [`default_controller_rate_limiter`] is client-go's `DefaultControllerRateLimiter`:
//! the max of the exponential per-item limiter (5 ms .. 1000 s) and the overall bucket
//! (10 qps, burst 100). The bucket is [`TokenBucket`] (`flowcontrol`), the same
//! mechanism that paces the client's requests.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::queue::QueueItem;
use crate::flowcontrol::TokenBucket;
use crate::wait::Backoff;

/// Decides how long an item waits before it is processed again (client-go
/// `TypedRateLimiter`).
pub trait RateLimiter<T>: Send + Sync {
    /// How long `item` should wait now; counts a failure for per-item limiters.
    fn when(&self, item: &T) -> Duration;
    /// Stops tracking `item` (its failure count starts again from zero).
    fn forget(&self, item: &T);
    /// How many failures `item` has had since it was last forgotten.
    fn num_requeues(&self, item: &T) -> usize;
}

impl<T, R: RateLimiter<T> + ?Sized> RateLimiter<T> for Arc<R> {
    fn when(&self, item: &T) -> Duration {
        (**self).when(item)
    }
    fn forget(&self, item: &T) {
        (**self).forget(item)
    }
    fn num_requeues(&self, item: &T) -> usize {
        (**self).num_requeues(item)
    }
}

impl<T, R: RateLimiter<T> + ?Sized> RateLimiter<T> for Box<R> {
    fn when(&self, item: &T) -> Duration {
        (**self).when(item)
    }
    fn forget(&self, item: &T) {
        (**self).forget(item)
    }
    fn num_requeues(&self, item: &T) -> usize {
        (**self).num_requeues(item)
    }
}

/// client-go's `DefaultControllerRateLimiter`: the worse of
/// [`ItemExponentialFailureRateLimiter`] (5 ms doubling up to 1000 s) and a
/// [`BucketRateLimiter`] of 10 qps with bursts of 100.
pub fn default_controller_rate_limiter<T: QueueItem>() -> MaxOfRateLimiter<T> {
    MaxOfRateLimiter::new(vec![
        Box::new(ItemExponentialFailureRateLimiter::new(Duration::from_millis(5), Duration::from_secs(1000))),
        Box::new(BucketRateLimiter::new(10.0, 100)),
    ])
}

/// client-go's `DefaultItemBasedRateLimiter`: exponential from 1 ms up to 1000 s.
pub fn default_item_based_rate_limiter<T: QueueItem>() -> ItemExponentialFailureRateLimiter<T> {
    ItemExponentialFailureRateLimiter::new(Duration::from_millis(1), Duration::from_secs(1000))
}

/// Failure counts per item.
struct Failures<T>(Mutex<HashMap<T, usize>>);

impl<T: QueueItem> Failures<T> {
    fn new() -> Self {
        Failures(Mutex::new(HashMap::new()))
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<T, usize>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more failure; returns the count before it.
    fn bump(&self, item: &T) -> usize {
        let mut map = self.lock();
        let n = map.entry(item.clone()).or_insert(0);
        let before = *n;
        *n = n.saturating_add(1);
        before
    }

    fn get(&self, item: &T) -> usize {
        self.lock().get(item).copied().unwrap_or(0)
    }

    fn forget(&self, item: &T) {
        self.lock().remove(item);
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// `base_delay × 2^failures`, capped at `max_delay` (client-go
/// `ItemExponentialFailureRateLimiter`). Giving up after some number of failures is
/// the caller's business (see [`num_requeues`](RateLimiter::num_requeues)).
pub struct ItemExponentialFailureRateLimiter<T> {
    failures: Failures<T>,
    base_delay: Duration,
    max_delay: Duration,
}

impl<T: QueueItem> fmt::Debug for ItemExponentialFailureRateLimiter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemExponentialFailureRateLimiter")
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .field("tracked_items", &self.failures.len())
            .finish()
    }
}

impl<T: QueueItem> ItemExponentialFailureRateLimiter<T> {
    /// Delays of `base_delay`, twice that, four times, ... never more than `max_delay`.
    pub fn new(base_delay: Duration, max_delay: Duration) -> Self {
        ItemExponentialFailureRateLimiter { failures: Failures::new(), base_delay, max_delay }
    }
}

impl<T: QueueItem> RateLimiter<T> for ItemExponentialFailureRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        let exp = self.failures.bump(item);
        // The shared formula (floating point, so no failure count overflows).
        let exp = u32::try_from(exp).unwrap_or(u32::MAX);
        Backoff::doubling(self.base_delay, self.max_delay).base_delay(exp)
    }

    fn forget(&self, item: &T) {
        self.failures.forget(item)
    }

    fn num_requeues(&self, item: &T) -> usize {
        self.failures.get(item)
    }
}

/// An overall token bucket, not per item (client-go `BucketRateLimiter`): each `when`
/// takes a token and returns how long until it is available. Counts no failures.
#[derive(Clone, Debug)]
pub struct BucketRateLimiter {
    bucket: Arc<TokenBucket>,
}

impl BucketRateLimiter {
    /// A full bucket of `burst` tokens refilled at `qps` per second.
    pub fn new(qps: f32, burst: u32) -> Self {
        BucketRateLimiter { bucket: Arc::new(TokenBucket::new(qps, burst)) }
    }

    /// A limiter drawing from an existing (possibly shared) bucket.
    pub fn from_bucket(bucket: Arc<TokenBucket>) -> Self {
        BucketRateLimiter { bucket }
    }

    /// The bucket.
    pub fn bucket(&self) -> &Arc<TokenBucket> {
        &self.bucket
    }
}

impl<T> RateLimiter<T> for BucketRateLimiter {
    fn when(&self, _: &T) -> Duration {
        self.bucket.reserve()
    }

    fn forget(&self, _: &T) {}

    fn num_requeues(&self, _: &T) -> usize {
        0
    }
}

/// `fast_delay` for an item's first `max_fast_attempts` failures, `slow_delay` after
/// (client-go `ItemFastSlowRateLimiter`).
pub struct ItemFastSlowRateLimiter<T> {
    failures: Failures<T>,
    fast_delay: Duration,
    slow_delay: Duration,
    max_fast_attempts: usize,
}

impl<T: QueueItem> fmt::Debug for ItemFastSlowRateLimiter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItemFastSlowRateLimiter")
            .field("fast_delay", &self.fast_delay)
            .field("slow_delay", &self.slow_delay)
            .field("max_fast_attempts", &self.max_fast_attempts)
            .field("tracked_items", &self.failures.len())
            .finish()
    }
}

impl<T: QueueItem> ItemFastSlowRateLimiter<T> {
    /// Quick retries first, slow ones after `max_fast_attempts`.
    pub fn new(fast_delay: Duration, slow_delay: Duration, max_fast_attempts: usize) -> Self {
        ItemFastSlowRateLimiter { failures: Failures::new(), fast_delay, slow_delay, max_fast_attempts }
    }
}

impl<T: QueueItem> RateLimiter<T> for ItemFastSlowRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        let failures = self.failures.bump(item) + 1;
        if failures <= self.max_fast_attempts {
            self.fast_delay
        } else {
            self.slow_delay
        }
    }

    fn forget(&self, item: &T) {
        self.failures.forget(item)
    }

    fn num_requeues(&self, item: &T) -> usize {
        self.failures.get(item)
    }
}

/// Asks every limiter and keeps the longest delay (client-go `MaxOfRateLimiter`). Every
/// limiter is asked, so all of them count the failure. With a bucket among them the
/// burst can appear exceeded when single items were delayed longer by another limiter.
pub struct MaxOfRateLimiter<T> {
    limiters: Vec<Box<dyn RateLimiter<T>>>,
}

impl<T> fmt::Debug for MaxOfRateLimiter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxOfRateLimiter").field("limiters", &self.limiters.len()).finish()
    }
}

impl<T> MaxOfRateLimiter<T> {
    /// The max of `limiters` (no limiter: no delay).
    pub fn new(limiters: Vec<Box<dyn RateLimiter<T>>>) -> Self {
        MaxOfRateLimiter { limiters }
    }
}

impl<T> RateLimiter<T> for MaxOfRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        self.limiters.iter().map(|l| l.when(item)).max().unwrap_or(Duration::ZERO)
    }

    fn forget(&self, item: &T) {
        for l in &self.limiters {
            l.forget(item);
        }
    }

    fn num_requeues(&self, item: &T) -> usize {
        self.limiters.iter().map(|l| l.num_requeues(item)).max().unwrap_or(0)
    }
}

/// Another limiter's delay, never more than `max_delay` (client-go
/// `WithMaxWaitRateLimiter`).
pub struct WithMaxWaitRateLimiter<T> {
    limiter: Box<dyn RateLimiter<T>>,
    max_delay: Duration,
}

impl<T> fmt::Debug for WithMaxWaitRateLimiter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithMaxWaitRateLimiter").field("max_delay", &self.max_delay).finish()
    }
}

impl<T> WithMaxWaitRateLimiter<T> {
    /// `limiter`, capped at `max_delay`.
    pub fn new(limiter: impl RateLimiter<T> + 'static, max_delay: Duration) -> Self {
        WithMaxWaitRateLimiter { limiter: Box::new(limiter), max_delay }
    }
}

impl<T> RateLimiter<T> for WithMaxWaitRateLimiter<T> {
    fn when(&self, item: &T) -> Duration {
        self.limiter.when(item).min(self.max_delay)
    }

    fn forget(&self, item: &T) {
        self.limiter.forget(item)
    }

    fn num_requeues(&self, item: &T) -> usize {
        self.limiter.num_requeues(item)
    }
}
