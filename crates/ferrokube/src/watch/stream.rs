//! `watch::stream`: [`WatchStream`], the `Stream` of events returned by
//! [`Request::watch`](crate::rest::Request::watch).
//!
//! It pulls body chunks from the HTTP response (already gzip-decoded), feeds them to a
//! [`WatchDecoder`] and yields each event as soon as its last byte arrives. The stream
//! ends when the server closes the response; a body that ends in the middle of an event,
//! or bytes that are not JSON objects, yield one final error.

use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::decoder::WatchDecoder;
use super::event::WatchEvent;
use crate::rest::errors::{Error, RequestInfo};
use crate::rest::response::BodyStream;

/// Events of one watch request, decoded incrementally.
pub struct WatchStream<T> {
    body: BodyStream,
    decoder: WatchDecoder,
    request: RequestInfo,
    done: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for WatchStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").field("request", &self.request).field("done", &self.done).finish()
    }
}

impl<T> WatchStream<T> {
    pub(crate) fn new(body: BodyStream, request: RequestInfo) -> Self {
        WatchStream { body, decoder: WatchDecoder::new(), request, done: false, _type: PhantomData }
    }

    /// The watch request.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    fn error(&self, message: String) -> Error {
        Error::Watch { request: self.request.clone(), message }
    }
}

impl<T: DeserializeOwned> Stream for WatchStream<T> {
    type Item = Result<WatchEvent<T>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(result) = self.decoder.next_event::<T>() {
                return Poll::Ready(Some(match result {
                    Ok(event) => Ok(event),
                    Err(e) => {
                        if e.fatal {
                            self.done = true;
                        }
                        Err(self.error(e.message))
                    }
                }));
            }
            if self.done {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => self.decoder.push(&chunk),
                Poll::Ready(Some(Err(e))) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    self.done = true;
                    if self.decoder.has_partial() {
                        return Poll::Ready(Some(Err(self.error("the stream ended in the middle of an event".to_owned()))));
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }
}
