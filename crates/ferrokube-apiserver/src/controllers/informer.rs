//! Wake-ups for level-triggered controllers: a list-then-watch loop per resource
//! (a minimal reflector) that pokes a [`Notify`] on every change, and a [`Waiter`]
//! that sleeps until a poke, a requested requeue, the resync period or shutdown.
//!
//! Controllers here are level-triggered: when woken they list what they own and
//! reconcile all of it, so they never need an event's content, only the fact that
//! something changed. The watch loop follows client-go's reflector: list to learn the
//! resourceVersion, watch from it, resume from the last seen resourceVersion when the
//! stream ends, and re-list on a `410 Gone` ERROR event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::kube_api::KubeApi;
use crate::api::ResourceInfo;

/// Spawns a list+watch loop over `res` (all namespaces) that notifies `notify` on
/// every ADDED, MODIFIED or DELETED event, and once after each (re-)list.
pub fn spawn_watch<A: KubeApi>(
    client: A,
    res: Arc<ResourceInfo>,
    notify: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut rv: Option<String> = None;
        let backoff = Duration::from_millis(200);
        loop {
            if *shutdown.borrow() {
                return;
            }
            if rv.is_none() {
                match client.list(&res, None).await {
                    Ok((_, list_rv)) => {
                        rv = Some(list_rv);
                        notify.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(resource = %res.plural, error = %e.message, "controller list failed");
                        if sleep_or_shutdown(backoff, &mut shutdown).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let mut stream = match client.watch(&res, None, rv.as_deref()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(resource = %res.plural, error = %e.message, "controller watch failed");
                    rv = None;
                    if sleep_or_shutdown(backoff, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
            };
            loop {
                let ev = tokio::select! {
                    _ = shutdown.changed() => return,
                    ev = stream.next() => ev,
                };
                let Some(ev) = ev else { break };
                if ev.event_type == "ERROR" {
                    let code = ev.object.get("code").and_then(Value::as_i64).unwrap_or(0);
                    tracing::debug!(resource = %res.plural, code, "watch error event; re-listing");
                    rv = None;
                    break;
                }
                if let Some(new_rv) = ev.object.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
                    rv = Some(new_rv.to_owned());
                }
                if ev.event_type != "BOOKMARK" {
                    notify.notify_one();
                }
            }
        }
    })
}

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
