//! Per-key reconciling, as kube-controller-manager's controllers are built (client-go's
//! controller pattern), on the work queue the client's controller toolkit uses
//! (`ferrokube_apimachinery::workqueue`):
//!
//! ```text
//! Cache::on_change (object -> keys it concerns) -> RateLimitingQueue<key>
//!   -> worker: get(key) -> sync(key) -> Done:      forget
//!                                      -> After(d):  forget, add_after(key, d)
//!                                      -> Retry:     add_rate_limited(key)
//!                                   -> done(key)
//! resync (every resync period): every key of the controller added again
//! ```
//!
//! A key is synced by one worker at a time and merged while queued, so a burst of
//! changes to one object is one sync. A controller built this way reconciles only what
//! changed, instead of a pass over all it owns on every wake.
//!
//! Passes, for tests that wait until a controller has looked at the current state
//! (`ControllerHandle::reconcile_passes`): one each time the queue runs empty after a
//! sync, and one per resync that found no key.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrokube_apimachinery::workqueue::{default_controller_rate_limiter, QueueConfig, RateLimitingQueue};
use tokio::sync::watch;

use super::informer::sleep_or_shutdown;

/// What a sync asks of the queue next.
pub enum Synced {
    /// Nothing more until the next change.
    Done,
    /// Sync again after this long (a timer such as `minReadySeconds`).
    After(Duration),
    /// It failed: again after the rate limiter's backoff.
    Retry,
}

/// The keys of one controller (`namespace/name`), cheap to clone into its handlers.
#[derive(Clone)]
pub struct Keys {
    queue: RateLimitingQueue<String>,
}

impl Keys {
    /// A queue named after its controller, with client-go's default controller rate
    /// limiter (5 ms doubling to 1000 s per key, at most 10 retries/s with bursts of 100).
    pub fn new(name: &str) -> Keys {
        Keys { queue: RateLimitingQueue::with_config(default_controller_rate_limiter(), QueueConfig::named(name)) }
    }

    /// Queues `key` (merged with a queued one).
    pub fn add(&self, key: String) {
        self.queue.add(key);
    }
}

/// Runs the worker and the resync of `keys` until `shutdown`: `sync` reconciles one
/// key, `all` lists every key (for the resync).
pub async fn run<S, Fut, A>(
    keys: Keys,
    mut shutdown: watch::Receiver<bool>,
    resync: Duration,
    passes: Arc<AtomicU64>,
    all: A,
    sync: S,
) where
    S: Fn(String) -> Fut,
    Fut: Future<Output = Synced>,
    A: Fn() -> Vec<String> + Send + 'static,
{
    let queue = keys.queue.clone();
    let resync_passes = Arc::clone(&passes);
    let mut resync_shutdown = shutdown.clone();
    let resync_task = tokio::spawn(async move {
        loop {
            let every = all();
            if every.is_empty() {
                resync_passes.fetch_add(1, Ordering::Relaxed);
            }
            for key in every {
                queue.add(key);
            }
            if sleep_or_shutdown(resync, &mut resync_shutdown).await {
                queue.shut_down();
                return;
            }
        }
    });
    let queue = keys.queue;
    loop {
        let next = tokio::select! {
            key = queue.get() => key,
            _ = shutdown.wait_for(|stop| *stop) => None,
        };
        let Some(key) = next else { break };
        match sync(key.clone()).await {
            Synced::Done => queue.forget(&key),
            Synced::After(d) => {
                queue.forget(&key);
                queue.add_after(key.clone(), d);
            }
            Synced::Retry => queue.add_rate_limited(key.clone()),
        }
        queue.done(&key);
        if queue.is_empty() {
            passes.fetch_add(1, Ordering::Relaxed);
        }
    }
    queue.shut_down();
    resync_task.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test(start_paused = true)]
    async fn keys_merge_requeue_after_their_delay_and_retry_with_backoff() {
        let keys = Keys::new("test");
        let (stop, shutdown) = watch::channel(false);
        let passes = Arc::new(AtomicU64::new(0));
        let synced: Arc<Mutex<Vec<(String, tokio::time::Instant)>>> = Arc::default();
        // Queued before the worker runs: "a" twice is one sync.
        keys.add("a".into());
        keys.add("a".into());
        keys.add("b".into());
        let log = Arc::clone(&synced);
        let worker = tokio::spawn(run(
            keys.clone(),
            shutdown,
            Duration::from_secs(3600),
            Arc::clone(&passes),
            Vec::new,
            move |key: String| {
                let log = Arc::clone(&log);
                async move {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    let seen = log.iter().filter(|(k, _)| *k == key).count();
                    log.push((key.clone(), tokio::time::Instant::now()));
                    match (key.as_str(), seen) {
                        ("a", 0) => Synced::After(Duration::from_secs(5)),
                        ("b", 0 | 1) => Synced::Retry,
                        _ => Synced::Done,
                    }
                }
            },
        ));
        let start = tokio::time::Instant::now();
        while synced.lock().map(|l| l.len()).unwrap_or(0) < 5 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let log = synced.lock().map(|l| l.clone()).unwrap_or_default();
        let at = |k: &str, n: usize| log.iter().filter(|(key, _)| key == k).nth(n).map(|(_, t)| *t - start);
        assert_eq!(log.iter().filter(|(k, _)| k == "a").count(), 2, "{log:?}");
        assert!(at("a", 1) >= Some(Duration::from_secs(5)), "after its delay: {log:?}");
        // The rate limiter's per-key backoff: 5 ms, then 10 ms.
        assert!(
            at("b", 1) >= Some(Duration::from_millis(5)) && at("b", 2) >= Some(Duration::from_millis(15)),
            "{log:?}"
        );
        // One for the first resync (no key), one at least for the queue running empty.
        assert!(passes.load(Ordering::Relaxed) >= 2, "the queue ran empty");
        let _ = stop.send(true);
        worker.await.unwrap_or_else(|e| panic!("{e}"));
    }
}
