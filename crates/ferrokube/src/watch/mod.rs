//! `watch`: the watch path's first step — turning the bytes of a watch response into
//! typed [`WatchEvent`]s as they arrive.
//!
//! [`Request::watch`](crate::rest::Request::watch) sends the request and wraps the
//! response body in a [`WatchStream`]; the [`decoder`] frames JSON objects incrementally
//! (memory bounded by one event) and [`event`] decodes each into ADDED, MODIFIED,
//! DELETED, BOOKMARK or ERROR. Reflectors and informers consume these streams.
//!
//! ```no_run
//! # async fn run(client: ferrokube::RESTClient) -> Result<(), ferrokube::rest::Error> {
//! use futures_util::StreamExt;
//! use k8s_openapi::api::core::v1::Pod;
//! use ferrokube::watch::WatchEvent;
//!
//! let mut events = client.get().namespace("default").resource("pods").watch::<Pod>().await?;
//! while let Some(event) = events.next().await {
//!     match event? {
//!         WatchEvent::Added(pod) => println!("added {:?}", pod.metadata.name),
//!         WatchEvent::Bookmark(b) => println!("at {}", b.resource_version),
//!         other => println!("{}", other.event_type()),
//!     }
//! }
//! # Ok(()) }
//! ```
pub mod decoder;
pub mod event;
pub mod stream;

pub use decoder::{DecodeError, FrameError, JsonFramer, LengthDelimitedFramer, WatchDecoder};
pub use event::{Bookmark, DynamicWatchEvent, EventDecodeError, WatchEvent};
pub use stream::WatchStream;
