//! `transport::body`: the body type of requests on their way through the transport
//! (and any [`TransportLayer`](super::hooks::TransportLayer)): bytes in memory, length
//! known and replayable, or a stream of chunks sent as it is read.
//!
//! The request builder's body kinds (`rest::body`) become one of these for each attempt.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;

use super::errors::BoxError;

/// A boxed stream of body chunks.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Bytes, BoxError>> + Send>>;

/// Body of requests going through the transport: in memory (replayable, length known)
/// or a stream of chunks.
pub struct RequestBody {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(ChunkStream),
}

impl RequestBody {
    /// A body of these bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        RequestBody { kind: Kind::Full((!bytes.is_empty()).then_some(bytes)) }
    }

    /// No body.
    pub fn empty() -> Self {
        RequestBody { kind: Kind::Full(None) }
    }

    /// A body sent chunk by chunk as `stream` yields them.
    pub fn from_stream<S, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures_util::TryStreamExt;
        RequestBody { kind: Kind::Stream(Box::pin(stream.map_err(Into::into))) }
    }

    /// A body of this already boxed stream of chunks.
    pub fn from_chunk_stream(stream: ChunkStream) -> Self {
        RequestBody { kind: Kind::Stream(stream) }
    }

    /// The whole body when it is in memory (`None` for a stream); empty for no body.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Full(b) => Some(b.as_deref().unwrap_or_default()),
            Kind::Stream(_) => None,
        }
    }
}

impl Default for RequestBody {
    fn default() -> Self {
        RequestBody::empty()
    }
}

impl From<Bytes> for RequestBody {
    fn from(b: Bytes) -> Self {
        RequestBody::new(b)
    }
}

impl fmt::Debug for RequestBody {
    /// The size, never the content (bodies carry Secrets).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(b) => write!(f, "RequestBody({} bytes)", b.as_ref().map_or(0, Bytes::len)),
            Kind::Stream(_) => f.write_str("RequestBody(stream)"),
        }
    }
}

impl http_body::Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(http_body::Frame::data(b)))),
            Kind::Stream(s) => s.as_mut().poll_next(cx).map(|o| o.map(|r| r.map(http_body::Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.kind {
            Kind::Full(b) => http_body::SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => http_body::SizeHint::default(),
        }
    }
}
