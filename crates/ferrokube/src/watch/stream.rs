//! `watch::stream`: [`WatchStream`], the `Stream` of events returned by
//! [`Request::watch`](crate::rest::Request::watch).
//!
//! It pulls body chunks from the HTTP response (already gzip-decoded), feeds them to a
//! [`WatchDecoder`] and yields each event as soon as it is complete (its line has ended,
//! for a newline-delimited stream such as the API server's). The stream
//! ends when the server closes the response; a body that ends in the middle of an event,
//! or bytes that are not JSON objects, yield one final error.
//!
//! A protobuf watch (the response's `Content-Type` is
//! `application/vnd.kubernetes.protobuf;stream=watch`, which the typed clients ask for
//! for built-in types) is split by a [`LengthDelimitedFramer`] instead, and each frame
//! decoded with [`decode_protobuf_event`](super::event::decode_protobuf_event).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::decoder::{DecodeError, FrameError, LengthDelimitedFramer, WatchDecoder};
use super::event::WatchEvent;
use crate::rest::errors::{Error, RequestInfo};
use crate::rest::response::BodyStream;

/// Most bytes pulled from the body before decoding: bounds the batch a burst of events
/// (a reflector's initial events, a replay after reconnecting) is decoded in.
const MAX_BATCH_BYTES: usize = 4 << 20;

/// Events of one watch request, decoded incrementally.
///
/// Every poll takes all the body chunks already received (up to `MAX_BATCH_BYTES`, 4 MiB);
/// when they hold many complete events, as in a burst, the events are decoded on
/// several threads at once ([`WatchDecoder::decode_buffered_lines`]) and yielded in
/// order; a single event is decoded on the spot.
pub struct WatchStream<T> {
    body: BodyStream,
    decoder: WatchDecoder,
    /// Set for a protobuf stream: its frames (the JSON decoder is then unused).
    protobuf: Option<LengthDelimitedFramer>,
    /// Events decoded in a batch, not yet yielded.
    ready: VecDeque<WatchEvent<T>>,
    /// A body error met while pulling a batch, yielded after the events before it.
    body_error: Option<Error>,
    request: RequestInfo,
    /// The server closed the response; buffered events are being drained.
    body_ended: bool,
    /// Nothing more will be yielded (drained, or a fatal error).
    done: bool,
}

// No field is structurally pinned: the stream only ever moves its events by value.
impl<T> Unpin for WatchStream<T> {}

impl<T> std::fmt::Debug for WatchStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchStream").field("request", &self.request).field("done", &self.done).finish()
    }
}

impl<T> WatchStream<T> {
    pub(crate) fn new(body: BodyStream, request: RequestInfo) -> Self {
        WatchStream {
            body,
            decoder: WatchDecoder::new(),
            protobuf: None,
            ready: VecDeque::new(),
            body_error: None,
            request,
            body_ended: false,
            done: false,
        }
    }

    /// A stream of a protobuf watch body (length-delimited `WatchEvent` frames).
    pub(crate) fn new_protobuf(body: BodyStream, request: RequestInfo) -> Self {
        WatchStream { protobuf: Some(LengthDelimitedFramer::new()), ..Self::new(body, request) }
    }

    /// Whether the server answers this watch in protobuf.
    pub fn is_protobuf(&self) -> bool {
        self.protobuf.is_some()
    }

    /// The watch request.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    fn error(&self, source: DecodeError) -> Error {
        Error::Watch { request: self.request.clone(), source }
    }

    /// Pushes every chunk the body has ready (up to [`MAX_BATCH_BYTES`], but always at
    /// least one, so an event larger than the batch still completes) into the decoder.
    /// Returns false when nothing new arrived and the body is still open (the body has
    /// then registered the task to be woken when it has more).
    fn pull_ready_chunks(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progressed = false;
        loop {
            let buffered = match &self.protobuf {
                Some(f) => f.buffered(),
                None => self.decoder.buffered(),
            };
            if progressed && buffered >= MAX_BATCH_BYTES {
                break;
            }
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(chunk))) => match &mut self.protobuf {
                    Some(f) => f.push(&chunk),
                    None => self.decoder.push(&chunk),
                },
                Poll::Ready(Some(Err(e))) => {
                    self.body_error = Some(e);
                    self.body_ended = true;
                    return true;
                }
                Poll::Ready(None) => {
                    // Events still waiting for a newline are framed now.
                    self.decoder.finish();
                    self.body_ended = true;
                    return true;
                }
            }
            progressed = true;
        }
        progressed
    }
}

impl<T: DeserializeOwned + Send> WatchStream<T> {
    /// `poll_next` of a protobuf stream: frames are decoded one by one as they complete.
    fn poll_protobuf(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<WatchEvent<T>, Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let Some(framer) = self.protobuf.as_mut() else { return Poll::Ready(None) };
            match framer.next_frame() {
                Ok(Some(frame)) => {
                    let event = super::event::decode_protobuf_event::<T>(&frame);
                    return Poll::Ready(Some(event.map_err(|e| self.error(DecodeError::Event(e)))));
                }
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Some(Err(self.error(e.into()))));
                }
            }
            if self.body_ended {
                self.done = true;
                if let Some(e) = self.body_error.take() {
                    return Poll::Ready(Some(Err(e)));
                }
                if self.protobuf.as_ref().is_some_and(LengthDelimitedFramer::has_partial) {
                    return Poll::Ready(Some(Err(self.error(FrameError::Truncated.into()))));
                }
                return Poll::Ready(None);
            }
            if !self.pull_ready_chunks(cx) {
                return Poll::Pending;
            }
        }
    }
}

impl<T: DeserializeOwned + Send> Stream for WatchStream<T> {
    type Item = Result<WatchEvent<T>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.protobuf.is_some() {
            return this.poll_protobuf(cx);
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(result) = this.decoder.next_event::<T>() {
                return Poll::Ready(Some(match result {
                    Ok(event) => Ok(event),
                    Err(e) => {
                        if e.is_fatal() {
                            this.done = true;
                        }
                        Err(this.error(e))
                    }
                }));
            }
            if this.body_ended {
                // Every complete event has been yielded.
                this.done = true;
                if let Some(e) = this.body_error.take() {
                    return Poll::Ready(Some(Err(e)));
                }
                if this.decoder.has_partial() {
                    return Poll::Ready(Some(Err(this.error(FrameError::Truncated.into()))));
                }
                return Poll::Ready(None);
            }
            if !this.pull_ready_chunks(cx) {
                return Poll::Pending;
            }
            this.decoder.decode_buffered_lines(&mut this.ready);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::hooks::boxed_response_body;
    use bytes::Bytes;
    use futures_util::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;

    /// A watch stream whose body delivers `chunks` one by one.
    fn stream_of(chunks: Vec<Bytes>) -> WatchStream<ConfigMap> {
        let frames =
            futures_util::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(c))));
        let body = boxed_response_body(http_body_util::StreamBody::new(frames));
        let request = RequestInfo::new(&http::Method::GET, "https://h/api/v1/configmaps?watch=1");
        WatchStream::new(BodyStream::new(body, false, request.clone()), request)
    }

    fn event(name: &str, data_len: usize) -> String {
        let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "resourceVersion": "1"}, "data": {"k": "x".repeat(data_len)}});
        format!("{{\"type\":\"ADDED\",\"object\":{cm}}}\n")
    }

    #[tokio::test]
    async fn an_event_larger_than_a_batch_completes() {
        // A small event, one of 5 MiB (more than MAX_BATCH_BYTES), another small one,
        // all cut into 64 KiB chunks.
        let all = [event("a", 10), event("big", 5 << 20), event("c", 10)].concat();
        let chunks: Vec<Bytes> = all.as_bytes().chunks(64 << 10).map(Bytes::copy_from_slice).collect();
        let names = stream_of(chunks).map(|e| match e.expect("event") {
            WatchEvent::Added(cm) => cm.metadata.name.unwrap_or_default(),
            other => panic!("unexpected {other:?}"),
        });
        // A stream that stops pulling once its buffer is full would wait forever.
        let names: Vec<String> = tokio::time::timeout(std::time::Duration::from_secs(60), names.collect())
            .await
            .expect("the stream stalled on an event larger than a batch");
        assert_eq!(names, ["a", "big", "c"]);
    }

    #[tokio::test]
    async fn a_body_ending_mid_event_is_an_error_after_the_complete_ones() {
        let all = [event("a", 10), event("b", 10)].concat();
        let cut = &all.as_bytes()[..all.len() - 20];
        let results: Vec<_> = stream_of(vec![Bytes::copy_from_slice(cut)]).collect().await;
        assert_eq!(results.len(), 2);
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err().to_string();
        assert!(err.contains("in the middle of an event"), "{err}");
    }
}
