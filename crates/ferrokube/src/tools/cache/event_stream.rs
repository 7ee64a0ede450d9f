//! `tools::cache::event_stream`: an informer's changes as a `Stream`, beside the
//! callbacks (the shape of kube-runtime's `watcher`).
//!
//! [`SharedInformer::event_stream`](super::SharedInformer::event_stream) registers a
//! listener with its own queue (like a handler: a slow consumer delays nobody else)
//! and returns an [`EventStream`] of `Result<Event<K>, ReflectorError>`:
//!
//! * each full list — the first one, every relist after 410 Gone, and for a stream
//!   created after the informer synced, the store's content at that moment — arrives as
//!   [`Event::Init`], one [`Event::InitApply`] per object, [`Event::InitDone`]. After
//!   `InitDone` the objects of that list are the whole state: anything known before and
//!   not in it is gone (no `Delete` is sent for it);
//! * between lists, watch events arrive as [`Event::Apply`] (added or modified) and
//!   [`Event::Delete`] (the last state);
//! * every failed list or watch attempt arrives as an `Err` — including a watch event
//!   that could not be decoded ([`ReflectorError::Decode`]). Errors are not fatal: the
//!   informer retries on its own and the stream goes on. Stop on the errors you
//!   consider fatal.
//!
//! Resyncs are not sent (they re-deliver unchanged objects, which a stream consumer can
//! do itself). Objects are the informer's `Arc`s, shared with its store.
//!
//! The stream keeps the informer running while it lives (it holds an
//! [`InformerHandle`]) and never ends by itself; drop it to stop listening.
//!
//! ```no_run
//! # async fn run(client: ferrokube::RESTClient) {
//! use futures_util::StreamExt;
//! use ferrokube::tools::cache::{Event, ReflectorOptions, SharedInformer};
//! use k8s_openapi::api::core::v1::Pod;
//!
//! let informer = SharedInformer::<Pod>::new(client, ReflectorOptions::default().namespace("default"));
//! let mut events = informer.event_stream();
//! while let Some(event) = events.next().await {
//!     match event {
//!         Ok(Event::Apply(pod)) | Ok(Event::InitApply(pod)) => println!("pod {:?}", pod.metadata.name),
//!         Ok(Event::Delete(pod)) => println!("gone {:?}", pod.metadata.name),
//!         Ok(Event::Init) | Ok(Event::InitDone) => {}
//!         Err(e) if e.is_decode() => eprintln!("undecodable event: {e}"),
//!         Err(e) => eprintln!("retrying: {e}"),
//!     }
//! }
//! # }
//! ```

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::Stream;

use super::informer::InformerHandle;
use super::processor::{Notification, Queue};
use super::reflector::ReflectorError;

/// One change of an informer's content (kube-runtime's `watcher::Event`).
#[derive(Debug)]
pub enum Event<K> {
    /// An object was added or modified.
    Apply(Arc<K>),
    /// An object was deleted; its last state.
    Delete(Arc<K>),
    /// A full list starts.
    Init,
    /// An object of the list in progress.
    InitApply(Arc<K>),
    /// The list is complete: its objects are the whole state.
    InitDone,
}

impl<K> Clone for Event<K> {
    fn clone(&self) -> Self {
        match self {
            Event::Apply(o) => Event::Apply(Arc::clone(o)),
            Event::Delete(o) => Event::Delete(Arc::clone(o)),
            Event::Init => Event::Init,
            Event::InitApply(o) => Event::InitApply(Arc::clone(o)),
            Event::InitDone => Event::InitDone,
        }
    }
}

impl<K> Event<K> {
    /// The object of `Apply`, `Delete` and `InitApply`.
    pub fn object(&self) -> Option<&Arc<K>> {
        match self {
            Event::Apply(o) | Event::Delete(o) | Event::InitApply(o) => Some(o),
            Event::Init | Event::InitDone => None,
        }
    }
}

/// The stream of [`SharedInformer::event_stream`](super::SharedInformer::event_stream)
/// (see the [module docs](self)). Never ends; dropping it unregisters its listener.
#[must_use = "streams do nothing unless polled"]
pub struct EventStream<K> {
    queue: Arc<Queue<K>>,
    unregister: Option<Box<dyn FnOnce() + Send + Sync>>,
    _running: InformerHandle,
}

impl<K> std::fmt::Debug for EventStream<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("pending", &self.queue.stats().pending).finish()
    }
}

impl<K> EventStream<K> {
    pub(crate) fn new(
        queue: Arc<Queue<K>>,
        unregister: Box<dyn FnOnce() + Send + Sync>,
        running: InformerHandle,
    ) -> Self {
        EventStream { queue, unregister: Some(unregister), _running: running }
    }

    /// Events queued and not yet taken.
    pub fn pending(&self) -> usize {
        self.queue.stats().pending
    }
}

impl<K> Drop for EventStream<K> {
    fn drop(&mut self) {
        if let Some(unregister) = self.unregister.take() {
            unregister();
        }
    }
}

impl<K> Stream for EventStream<K> {
    type Item = Result<Event<K>, ReflectorError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let n = match self.queue.poll_pop(cx) {
                Poll::Ready(Some(n)) => n,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            return Poll::Ready(Some(match n {
                Notification::Apply(o) => Ok(Event::Apply(o)),
                Notification::Delete(o) => Ok(Event::Delete(o)),
                Notification::InitStart => Ok(Event::Init),
                Notification::InitApply(o) => Ok(Event::InitApply(o)),
                Notification::InitDone => Ok(Event::InitDone),
                Notification::Error(e) => Err(e),
                Notification::Add(..) | Notification::Update(..) | Notification::Resync(_) | Notification::Synced => {
                    continue
                }
            }));
        }
    }
}
