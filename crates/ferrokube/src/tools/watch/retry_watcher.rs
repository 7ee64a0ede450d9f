//! [`RetryWatcher`]: a watch that resumes where it left off (client-go
//! `tools/watch/retrywatcher.go`).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

use super::{is_gone_status, WatchError};
use crate::rest::ListOptions;
use crate::tools::cache::{CacheObject, WatchEventStream, Watcher};
use crate::watch::WatchEvent;

/// The least time between two watch starts (client-go's `minRestartDelay`), so a
/// server that closes watches at once is not hammered.
pub const DEFAULT_MIN_RESTART_DELAY: Duration = Duration::from_secs(1);

/// A watch from a resourceVersion that restarts itself (client-go `RetryWatcher`).
///
/// Each watch is started with `resourceVersion` = the last one seen and
/// `allowWatchBookmarks=true`. The stream yields the ADDED, MODIFIED and DELETED
/// events, in order and each once; BOOKMARKs only move the resume point. Then:
///
/// | what happens | what the watcher does |
/// |---|---|
/// | the server ends the stream, a connection error, a watch request failing with 5xx/429/... | starts a new watch from the last resourceVersion, at most once per second |
/// | an ERROR event other than 410 (e.g. 500, 504) | the same, after the status' `retryAfterSeconds` if any |
/// | an ERROR event 410 Gone / Expired, or a watch request answered 410 | yields `Err(`[`WatchError::Gone`]`)` and ends |
/// | a watch request answered 401 / 403 | yields `Err(`[`WatchError::Request`]`)` and ends |
/// | an event without a resourceVersion | yields `Err(`[`WatchError::MissingResourceVersion`]`)` and ends |
/// | an event that cannot be decoded | yields `Err(`[`WatchError::Decode`]`)` and goes on with the same stream |
///
/// Unlike client-go, a 410 on the watch *request* also ends the watcher (client-go
/// retries it; the history will not come back), and an undecodable event is shown
/// to the consumer instead of restarting the watch (which would hit it again).
///
/// The stream does nothing unless polled; drop it to stop.
#[must_use = "streams do nothing unless polled"]
pub struct RetryWatcher<K> {
    events: BoxStream<'static, Result<WatchEvent<K>, WatchError>>,
    last_rv: Arc<Mutex<String>>,
}

impl<K> std::fmt::Debug for RetryWatcher<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryWatcher").field("last_resource_version", &self.last_resource_version()).finish()
    }
}

struct Machine<K, W> {
    watcher: W,
    last_rv: Arc<Mutex<String>>,
    current: Option<WatchEventStream<K>>,
    min_restart_delay: Duration,
    last_start: Option<Instant>,
    retry_after: Duration,
    done: bool,
}

impl<K: CacheObject + Send + 'static> RetryWatcher<K> {
    /// A watcher starting after `initial_resource_version` (from a list, or an
    /// object), watching through `watcher`: a [`ListWatch`](crate::tools::cache::ListWatch)
    /// or a closure (see [`Watcher`]). `""` and `"0"` are refused, as in client-go.
    pub fn new(initial_resource_version: &str, watcher: impl Watcher<K> + 'static) -> Result<Self, WatchError> {
        Self::with_min_restart_delay(initial_resource_version, watcher, DEFAULT_MIN_RESTART_DELAY)
    }

    /// [`new`](Self::new) with another least time between watch starts.
    pub fn with_min_restart_delay(
        initial_resource_version: &str,
        watcher: impl Watcher<K> + 'static,
        min_restart_delay: Duration,
    ) -> Result<Self, WatchError> {
        if matches!(initial_resource_version, "" | "0") {
            return Err(WatchError::InvalidResourceVersion(initial_resource_version.to_owned()));
        }
        let last_rv = Arc::new(Mutex::new(initial_resource_version.to_owned()));
        let machine = Machine {
            watcher,
            last_rv: Arc::clone(&last_rv),
            current: None,
            min_restart_delay,
            last_start: None,
            retry_after: Duration::ZERO,
            done: false,
        };
        let events = futures_util::stream::unfold(machine, |mut m| async move {
            let item = m.next().await?;
            Some((item, m))
        })
        .boxed();
        Ok(RetryWatcher { events, last_rv })
    }
}

impl<K> RetryWatcher<K> {
    /// The resourceVersion the next watch would start from: the last one seen in an
    /// event or bookmark.
    pub fn last_resource_version(&self) -> String {
        self.last_rv.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl<K> Stream for RetryWatcher<K> {
    type Item = Result<WatchEvent<K>, WatchError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_next_unpin(cx)
    }
}

impl<K: CacheObject + Send + 'static, W: Watcher<K>> Machine<K, W> {
    fn set_rv(&self, rv: &str) {
        let mut last = self.last_rv.lock().unwrap_or_else(PoisonError::into_inner);
        last.clear();
        last.push_str(rv);
    }

    fn finish(&mut self, err: WatchError) -> Option<Result<WatchEvent<K>, WatchError>> {
        self.done = true;
        self.current = None;
        Some(Err(err))
    }

    /// The next item, or `None` once done.
    async fn next(&mut self) -> Option<Result<WatchEvent<K>, WatchError>> {
        loop {
            if self.done {
                return None;
            }
            let Some(stream) = self.current.as_mut() else {
                if let Err(e) = self.start().await {
                    return self.finish(e);
                }
                continue;
            };
            match stream.next().await {
                None => {
                    tracing::debug!("watch closed; resuming");
                    self.current = None;
                }
                Some(Ok(WatchEvent::Bookmark(b))) => {
                    if b.resource_version.is_empty() {
                        return self.finish(WatchError::MissingResourceVersion { event_type: "BOOKMARK" });
                    }
                    self.set_rv(&b.resource_version);
                }
                Some(Ok(WatchEvent::Error(status))) => {
                    if is_gone_status(&status) {
                        return self.finish(WatchError::Gone(status));
                    }
                    let after = status.details.as_ref().and_then(|d| d.retry_after_seconds).unwrap_or(0);
                    self.retry_after = Duration::from_secs(u64::try_from(after).unwrap_or(0));
                    tracing::debug!(code = ?status.code, message = ?status.message, "watch ERROR event; resuming");
                    self.current = None;
                }
                Some(Ok(event)) => {
                    let Some(rv) = event.object().and_then(|o| o.resource_version()).filter(|v| !v.is_empty()) else {
                        return self.finish(WatchError::MissingResourceVersion { event_type: event.event_type() });
                    };
                    self.set_rv(rv);
                    return Some(Ok(event));
                }
                Some(Err(e)) => match WatchError::from(e) {
                    decode @ WatchError::Decode(_) => return Some(Err(decode)),
                    other => {
                        // The body broke off: the stream ends next; resume then.
                        tracing::debug!("watch stream failed: {other}; resuming");
                        self.current = None;
                    }
                },
            }
        }
    }

    /// Starts the next watch, waiting first so that watches start at most once per
    /// `min_restart_delay` (and not before a requested retry-after). `Err` ends the
    /// watcher.
    async fn start(&mut self) -> Result<(), WatchError> {
        if let Some(started) = self.last_start {
            let at = (started + self.min_restart_delay).max(Instant::now() + self.retry_after);
            tokio::time::sleep_until(at).await;
        }
        self.retry_after = Duration::ZERO;
        self.last_start = Some(Instant::now());
        let rv = self.last_rv.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let options =
            ListOptions { resource_version: Some(rv), allow_watch_bookmarks: Some(true), ..Default::default() };
        match self.watcher.watch(options).await {
            Ok(s) => {
                self.current = Some(s);
                Ok(())
            }
            Err(e) if e.is_gone() => {
                let status =
                    e.status().cloned().unwrap_or_else(|| k8s_openapi::apimachinery::pkg::apis::meta::v1::Status {
                        code: Some(410),
                        message: Some(e.to_string()),
                        reason: Some("Gone".to_owned()),
                        ..Default::default()
                    });
                Err(WatchError::Gone(Box::new(status)))
            }
            Err(e) if e.is_forbidden() || e.is_unauthorized() => {
                tracing::error!("watch failed: {e}; check the client's credentials and watch permission");
                Err(WatchError::Request(e))
            }
            Err(e) => {
                tracing::warn!("watch failed: {e}; retrying");
                Ok(())
            }
        }
    }
}
