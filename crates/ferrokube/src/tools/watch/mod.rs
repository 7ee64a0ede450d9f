//! `tools::watch`: watching until something happens (client-go `tools/watch`).
//!
//! Between a raw [`WatchStream`](crate::watch::WatchStream) (one HTTP watch: it ends
//! when the server closes it) and an informer (a full cache that relists when history
//! runs out) sit two tools:
//!
//! * [`RetryWatcher`]: one logical watch from a resourceVersion that survives the
//!   server closing the stream, connection errors and ERROR events other than 410, by
//!   resuming from the last resourceVersion it saw (bookmarks included). It sees every
//!   event in order — and so it cannot recover when that history is gone: on 410 Gone
//!   it yields [`WatchError::Gone`] and ends, as client-go's.
//! * The `until` helpers, which consume a watch until conditions hold:
//!   [`until_without_retry`] over any event stream, [`until`] over a `RetryWatcher`, and
//!   [`until_with_sync`], which runs an informer over a [`ListWatch`] (recovering
//!   from everything, 410 included, by relisting), optionally checks a precondition
//!   on its synced store, then feeds its changes to the conditions.
//!
//! Conditions are `FnMut(&WatchEvent<K>) -> Result<bool, E>` and are satisfied one
//! after the other, each starting with the event that satisfied the previous one. The
//! helpers return the last event seen. They have no timeout of their own (client-go
//! takes a context): wrap the call in [`tokio::time::timeout`]; dropping the future
//! stops the watch.
//!
//! Errors are never skipped silently: an event that cannot be decoded ends the helpers
//! with [`WatchError::Decode`] (the `RetryWatcher` stream yields it as an item and
//! goes on; what to do is the consumer's choice).
//!
//! ```no_run
//! # async fn run(client: ferrokube::RESTClient) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use ferrokube::tools::cache::ListWatch;
//! use ferrokube::tools::watch::until_with_sync;
//! use ferrokube::watch::WatchEvent;
//! use k8s_openapi::api::core::v1::Pod;
//!
//! let lw = ListWatch::<Pod>::new(client).namespace("default").field_selector("metadata.name=web-0");
//! let running = |e: &WatchEvent<Pod>| -> Result<bool, std::convert::Infallible> {
//!     Ok(matches!(e, WatchEvent::Added(p) | WatchEvent::Modified(p)
//!         if p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")))
//! };
//! let event = tokio::time::timeout(
//!     Duration::from_secs(60),
//!     until_with_sync(lw, None::<fn(&_) -> Result<bool, std::convert::Infallible>>, [running]),
//! )
//! .await??;
//! println!("running: {:?}", event.and_then(|e| e.object().and_then(|p| p.metadata.name.clone())));
//! # Ok(()) }
//! ```
//!
//! [`ListWatch`]: crate::tools::cache::ListWatch

mod retry_watcher;
mod until;

pub use retry_watcher::RetryWatcher;
pub use until::{until, until_with_sync, until_without_retry, UntilError};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

use crate::tools::cache::ReflectorError;

/// Why a watch of [`tools::watch`](self) stopped or reported a problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// A [`RetryWatcher`] cannot start from `""` or `"0"`: the server would begin with
    /// a synthetic ADDED event for every existing object (client-go refuses them too).
    #[error("initial resourceVersion {0:?} is not supported: use the resourceVersion of a list or an object")]
    InvalidResourceVersion(String),
    /// The resourceVersion to resume from is older than the server's history (410
    /// Gone / Expired): events were lost. List again, or use an informer.
    #[error("resource version too old (410 Gone): {}", .0.message.as_deref().unwrap_or_default())]
    Gone(Box<Status>),
    /// The watch request failed and retrying will not help (Forbidden, Unauthorized),
    /// or the stream failed inside a helper without retries.
    #[error("watch request failed: {0}")]
    Request(crate::rest::Error),
    /// A watch event could not be decoded (not JSON, not an event, or an object that is
    /// not of the expected type).
    #[error("watch event could not be decoded: {0}")]
    Decode(crate::rest::Error),
    /// An event carried no resourceVersion, so the watch could not be resumed after it.
    #[error("{event_type} event without a resourceVersion: the watch cannot be resumed")]
    MissingResourceVersion {
        /// `ADDED`, `MODIFIED`, `DELETED` or `BOOKMARK`.
        event_type: &'static str,
    },
    /// The informer of [`until_with_sync`] reported an event it could not decode.
    #[error(transparent)]
    Informer(ReflectorError),
}

impl From<crate::rest::Error> for WatchError {
    fn from(e: crate::rest::Error) -> Self {
        match e {
            crate::rest::Error::Watch { .. } => WatchError::Decode(e),
            other => WatchError::Request(other),
        }
    }
}

impl WatchError {
    /// Whether this is [`WatchError::Gone`] (or a request that failed with 410).
    pub fn is_gone(&self) -> bool {
        match self {
            WatchError::Gone(_) => true,
            WatchError::Request(e) => e.is_gone(),
            _ => false,
        }
    }

    /// Whether an event could not be decoded.
    pub fn is_decode(&self) -> bool {
        match self {
            WatchError::Decode(_) => true,
            WatchError::Informer(e) => e.is_decode(),
            _ => false,
        }
    }
}

/// Whether an ERROR event's status means 410 Gone / Expired.
pub(crate) fn is_gone_status(s: &Status) -> bool {
    s.code == Some(410) || matches!(s.reason.as_deref(), Some("Expired") | Some("Gone"))
}
