//! Wake-ups for level-triggered controllers: a [`Waiter`] sleeps until one of the
//! caches a controller subscribed to changes ([`super::cache`] pokes its [`Notify`]),
//! a requested requeue, the resync period or shutdown.
//!
//! Controllers here are level-triggered: when woken they read what they own from the
//! caches and reconcile all of it, so they never need an event's content, only the
//! fact that something changed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

/// Sleeps for `d`; true when shutdown was asked for meanwhile.
pub async fn sleep_or_shutdown(d: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        r = shutdown.changed() => r.is_err() || *shutdown.borrow(),
        _ = tokio::time::sleep(d) => false,
    }
}

/// What a controller loop waits on between reconcile passes.
pub struct Waiter {
    notify: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    resync: Duration,
    passes: Arc<AtomicU64>,
}

impl Waiter {
    /// A waiter woken by `notify`, at least every `resync`, and ended by `shutdown`.
    pub fn new(notify: Arc<Notify>, shutdown: watch::Receiver<bool>, resync: Duration) -> Waiter {
        Waiter { notify, shutdown, resync, passes: Arc::new(AtomicU64::new(0)) }
    }

    /// The number of reconcile passes the loop has finished (each call of
    /// [`wait`](Self::wait) ends one): what tests wait on to know the loop had its
    /// chance to act, instead of sleeping.
    pub fn passes(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.passes)
    }

    /// Waits for a change, `requeue` (when earlier than the resync period) or the
    /// resync period. Returns false when the controllers are shutting down.
    pub async fn wait(&mut self, requeue: Option<Duration>) -> bool {
        self.passes.fetch_add(1, Ordering::Relaxed);
        if *self.shutdown.borrow() {
            return false;
        }
        let d = requeue.map_or(self.resync, |r| r.min(self.resync));
        tokio::select! {
            r = self.shutdown.changed() => r.is_ok() && !*self.shutdown.borrow(),
            _ = self.notify.notified() => true,
            _ = tokio::time::sleep(d) => true,
        }
    }
}
