//! The `until` helpers (client-go `tools/watch/until.go`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};

use super::{RetryWatcher, WatchError};
use crate::tools::cache::processor::{Notification, Queue};
use crate::tools::cache::{CacheObject, ListWatch, ReflectedObject, ReflectorOptions, SharedInformer, Store, Watcher};
use crate::watch::WatchEvent;

/// Why an `until` helper returned without its conditions met.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UntilError<E> {
    /// The watch ended before the conditions were met (client-go `ErrWatchClosed`).
    #[error("watch closed before the conditions were met")]
    WatchClosed,
    /// The watch failed (see [`WatchError`]).
    #[error(transparent)]
    Watch(WatchError),
    /// A condition returned an error.
    #[error("condition failed: {0}")]
    Condition(E),
    /// The precondition of [`until_with_sync`] returned an error.
    #[error("precondition failed: {0}")]
    Precondition(E),
}

/// Consumes `watcher` until each condition in turn returns `Ok(true)` (client-go
/// `UntilWithoutRetry`); returns the last event seen.
///
/// Each condition is first tried on the event that satisfied the previous one, then
/// on new events. The watch is not restarted: if it ends first, the result is
/// [`UntilError::WatchClosed`]; an `Err` item ends the call with
/// [`UntilError::Watch`]. ERROR events are handed to the conditions, as in client-go.
/// With no conditions, returns `Ok(None)` at once. No timeout: wrap the call in
/// [`tokio::time::timeout`].
pub async fn until_without_retry<K, S, Er, C, E>(
    mut watcher: S,
    conditions: impl IntoIterator<Item = C>,
) -> Result<Option<WatchEvent<K>>, UntilError<E>>
where
    S: Stream<Item = Result<WatchEvent<K>, Er>> + Unpin,
    Er: Into<WatchError>,
    C: FnMut(&WatchEvent<K>) -> Result<bool, E>,
{
    let mut last: Option<WatchEvent<K>> = None;
    for mut condition in conditions {
        if let Some(event) = &last {
            if condition(event).map_err(UntilError::Condition)? {
                continue;
            }
        }
        loop {
            let event = match watcher.next().await {
                None => return Err(UntilError::WatchClosed),
                Some(Err(e)) => return Err(UntilError::Watch(e.into())),
                Some(Ok(event)) => event,
            };
            let done = condition(&event).map_err(UntilError::Condition)?;
            last = Some(event);
            if done {
                break;
            }
        }
    }
    Ok(last)
}

/// [`until_without_retry`] over a [`RetryWatcher`] from `initial_resource_version`
/// (client-go `Until`): survives closed watches and connection errors, sees every
/// event in order, and fails with [`WatchError::Gone`] when the history no longer
/// reaches back (use [`until_with_sync`] to recover from that too). The returned
/// future does not borrow `initial_resource_version`.
pub fn until<K, C, E, I>(
    initial_resource_version: &str,
    watcher: impl Watcher<K> + 'static,
    conditions: I,
) -> impl Future<Output = Result<Option<WatchEvent<K>>, UntilError<E>>>
where
    K: CacheObject + Send + 'static,
    C: FnMut(&WatchEvent<K>) -> Result<bool, E>,
    I: IntoIterator<Item = C>,
{
    let watcher = RetryWatcher::new(initial_resource_version, watcher);
    async move { until_without_retry(watcher.map_err(UntilError::Watch)?, conditions).await }
}

/// Runs an informer over `lw` until the conditions hold (client-go `UntilWithSync`).
///
/// If `precondition` is given, waits for the informer's first list and calls it with
/// the synced store: `Ok(true)` returns `Ok(None)` at once (the state is already
/// reached). Then the informer's changes are handed to the conditions as watch events
/// — the first list as ADDED, then ADDED / MODIFIED / DELETED, a relist as the
/// difference — as [`until_without_retry`] does. The informer recovers from
/// everything the reflector does, 410 Gone included, at the price of possibly
/// merging intermediate states; an event it cannot decode ends the call with
/// [`WatchError::Informer`]. Other informer errors are retried. No timeout: wrap the
/// call in [`tokio::time::timeout`]; the informer stops when the call returns or is
/// dropped.
pub async fn until_with_sync<K, P, C, E>(
    lw: ListWatch<K>,
    precondition: Option<P>,
    conditions: impl IntoIterator<Item = C>,
) -> Result<Option<WatchEvent<K>>, UntilError<E>>
where
    K: ReflectedObject + Clone,
    P: FnOnce(&Store<K>) -> Result<bool, E>,
    C: FnMut(&WatchEvent<K>) -> Result<bool, E>,
{
    let informer = SharedInformer::with_list_watch(lw, ReflectorOptions::default());
    let (id, queue) = informer.add_polled_handler();
    let events = InformerEvents { queue, unregister: Some(informer.remover(id.0)) };
    let _running = informer.start();
    if let Some(precondition) = precondition {
        informer.wait_for_sync().await;
        if precondition(informer.store()).map_err(UntilError::Precondition)? {
            return Ok(None);
        }
    }
    until_without_retry(events, conditions).await
}

/// An informer's handler-mode queue as watch events.
struct InformerEvents<K> {
    queue: Arc<Queue<K>>,
    unregister: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl<K> Drop for InformerEvents<K> {
    fn drop(&mut self) {
        if let Some(unregister) = self.unregister.take() {
            unregister();
        }
    }
}

impl<K: Clone> Stream for InformerEvents<K> {
    type Item = Result<WatchEvent<K>, WatchError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let n = match self.queue.poll_pop(cx) {
                Poll::Ready(Some(n)) => n,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            return Poll::Ready(Some(match n {
                Notification::Add(o, _) => Ok(WatchEvent::Added(K::clone(&o))),
                Notification::Update(_, new) => Ok(WatchEvent::Modified(K::clone(&new))),
                Notification::Delete(o) => Ok(WatchEvent::Deleted(K::clone(&o))),
                Notification::Error(e) if e.is_decode() => Err(WatchError::Informer(e)),
                Notification::Error(_)
                | Notification::Resync(_)
                | Notification::Synced
                | Notification::Apply(_)
                | Notification::InitStart
                | Notification::InitApply(_)
                | Notification::InitDone => continue,
            }));
        }
    }
}
