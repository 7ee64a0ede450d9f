//! `rest::body`: what a request sends (client-go `Request.Body`), and the body type of
//! the transport.
//!
//! client-go's `Body(obj)` takes a file name, bytes, an `io.Reader` or an object. The
//! Rust forms, all on [`Request`](super::Request):
//!
//! | body | method | replayed on retry |
//! |---|---|---|
//! | bytes | [`body_bytes`](super::Request::body_bytes) | yes |
//! | a typed object, JSON | [`body`](super::Request::body), [`body_json`](super::Request::body_json) | yes |
//! | an [`Unstructured`](crate::dynamic::Unstructured) | [`body_unstructured`](super::Request::body_unstructured) | yes |
//! | a file, read when the request is sent | [`body_file`](super::Request::body_file) | yes |
//! | an `AsyncRead` or a byte stream, sent as it is read | [`body_reader`](super::Request::body_reader), [`body_stream`](super::Request::body_stream) | no: the first failure is returned |
//! | a reader made anew for each attempt | [`body_reader_fn`](super::Request::body_reader_fn) | yes |
//!
//! Bytes, objects and files are held in memory once and every attempt sends the same
//! bytes. A reader or stream is sent as it is read, never buffered whole; since it
//! cannot be read twice, a request with one is not retried at all (as client-go does
//! for an `io.Reader`), unless it comes from a function that makes a fresh reader for
//! each attempt.
//!
//! Each attempt hands the transport a
//! [`crate::transport::body::RequestBody`]: a body in
//! memory, with its length known, or a stream.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::rest::errors::RequestBuildError;
use crate::transport::body::{ChunkStream, RequestBody};
use crate::transport::errors::BoxError;

/// Size of the chunks a reader body is read in.
const READ_CHUNK: usize = 64 * 1024;

/// Turns a reader into a stream of chunks of at most [`READ_CHUNK`] bytes.
pub(crate) fn reader_stream<R: AsyncRead + Send + 'static>(reader: R) -> ChunkStream {
    let state = (Box::pin(reader), BytesMut::new(), false);
    Box::pin(futures_util::stream::unfold(state, |(mut reader, mut buf, failed)| async move {
        if failed {
            return None;
        }
        buf.reserve(READ_CHUNK);
        match reader.read_buf(&mut buf).await {
            Ok(0) => None,
            Ok(_) => {
                let chunk = buf.split().freeze();
                Some((Ok(chunk), (reader, buf, false)))
            }
            Err(e) => Some((Err(Box::new(e) as BoxError), (reader, buf, true))),
        }
    }))
}

/// A function making a fresh stream for each attempt.
pub(crate) type StreamFactory = Arc<dyn Fn() -> ChunkStream + Send + Sync>;

/// The body a [`Request`](super::Request) was given.
pub(crate) enum BodySource {
    /// In memory: bytes, a serialized object.
    Bytes(Bytes),
    /// A file read when the request is sent.
    File(PathBuf),
    /// A one-shot stream (taken by the first attempt).
    OneShot(Mutex<Option<ChunkStream>>),
    /// A stream made anew for each attempt.
    Replayable(StreamFactory),
}

impl fmt::Debug for BodySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodySource::Bytes(b) => write!(f, "{} bytes", b.len()),
            BodySource::File(p) => write!(f, "file {}", p.display()),
            BodySource::OneShot(_) => f.write_str("stream"),
            BodySource::Replayable(_) => f.write_str("replayable stream"),
        }
    }
}

/// A body ready for the attempts of one send.
pub(crate) enum PreparedBody {
    None,
    Bytes(Bytes),
    OneShot(Option<ChunkStream>),
    Replayable(StreamFactory),
}

impl PreparedBody {
    /// Reads a file body and takes a one-shot stream; `Err` names the file that could
    /// not be read.
    pub(crate) async fn prepare(source: Option<&BodySource>) -> Result<PreparedBody, RequestBuildError> {
        Ok(match source {
            None => PreparedBody::None,
            Some(BodySource::Bytes(b)) => PreparedBody::Bytes(b.clone()),
            Some(BodySource::File(path)) => match tokio::fs::read(path).await {
                Ok(data) => PreparedBody::Bytes(Bytes::from(data)),
                Err(e) => {
                    return Err(RequestBuildError::BodyFile { path: path.clone(), source: std::sync::Arc::new(e) })
                }
            },
            Some(BodySource::OneShot(s)) => PreparedBody::OneShot(s.lock().unwrap_or_else(|p| p.into_inner()).take()),
            Some(BodySource::Replayable(f)) => PreparedBody::Replayable(f.clone()),
        })
    }

    /// Whether another attempt can send the body again.
    pub(crate) fn replayable(&self) -> bool {
        !matches!(self, PreparedBody::OneShot(_))
    }

    /// Whether there is a body (for the `Content-Type` header).
    pub(crate) fn is_some(&self) -> bool {
        !matches!(self, PreparedBody::None)
    }

    /// The body of the next attempt. A one-shot stream is given once; `None` after.
    pub(crate) fn next(&mut self) -> Option<RequestBody> {
        match self {
            PreparedBody::None => Some(RequestBody::empty()),
            PreparedBody::Bytes(b) => Some(RequestBody::new(b.clone())),
            PreparedBody::OneShot(s) => s.take().map(RequestBody::from_chunk_stream),
            PreparedBody::Replayable(f) => Some(RequestBody::from_chunk_stream(f())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn reader_bodies_stream_in_chunks() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let body = RequestBody::from_stream(reader_stream(std::io::Cursor::new(data.clone())));
        assert!(body.as_bytes().is_none());
        assert_eq!(http_body::Body::size_hint(&body).exact(), None);
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got, data);
    }

    #[tokio::test]
    async fn full_bodies_know_their_length() {
        let body = RequestBody::new(Bytes::from_static(b"abc"));
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(3));
        assert_eq!(body.as_bytes(), Some(&b"abc"[..]));
        assert_eq!(format!("{body:?}"), "RequestBody(3 bytes)");
        assert!(http_body::Body::is_end_stream(&RequestBody::empty()));
    }

    #[tokio::test]
    async fn prepared_bodies() {
        let missing = BodySource::File("/does/not/exist.json".into());
        let err = PreparedBody::prepare(Some(&missing)).await.err().unwrap();
        assert!(matches!(&err, RequestBuildError::BodyFile { path, .. } if path.ends_with("exist.json")), "{err}");
        assert!(err.to_string().contains("/does/not/exist.json"), "{err}");

        let one_shot = BodySource::OneShot(Mutex::new(Some(reader_stream(std::io::Cursor::new(b"x".to_vec())))));
        let mut p = PreparedBody::prepare(Some(&one_shot)).await.unwrap();
        assert!(!p.replayable());
        assert!(p.next().is_some());
        assert!(p.next().is_none(), "a one-shot stream is given once");

        let f: StreamFactory = Arc::new(|| reader_stream(std::io::Cursor::new(b"again".to_vec())));
        let mut p = PreparedBody::prepare(Some(&BodySource::Replayable(f))).await.unwrap();
        assert!(p.replayable());
        for _ in 0..2 {
            let b = p.next().unwrap().collect().await.unwrap().to_bytes();
            assert_eq!(b, "again");
        }
    }
}
