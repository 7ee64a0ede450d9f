//! `rest::response`: a successful answer and the ways to consume its body.
//!
//! [`Request::send`](super::Request::send) returns a [`Response`] only for 2xx answers
//! (other statuses become [`Error`]s carrying the server's `Status`). Its body can be
//! decoded into a typed object ([`Response::into_object`]), read whole
//! ([`Response::into_bytes`]) or consumed chunk by chunk ([`Response::into_stream`], as
//! pod logs are). gzip-compressed bodies are decompressed on the fly in all three cases,
//! chunk by chunk, so streams stay streams. (gzip is requested only from servers that
//! are not on loopback: see `Request`'s `Accept-Encoding` handling.) Decoding needs the
//! `gzip` Cargo feature (on by default); without it gzip is never requested and a
//! compressed body is an [`Error::Body`] naming the feature.
//!
//! Decoding follows the response's `Content-Type`: JSON, or Kubernetes protobuf
//! (`application/vnd.kubernetes.protobuf`, what the typed clients ask for first for
//! built-in types) decoded with `ferrokube_apimachinery::protobuf` straight into the
//! typed objects. A server that answers JSON to such a request is decoded as JSON.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http_body::Body as _;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::errors::{error_chain, error_from_response, BodyError, Error, RequestInfo};
use super::list_decode::{decode_list_bytes_limited, decode_protobuf_list_limited, ItemList};
use crate::transport::hooks::ResponseBody;

/// Most bytes of an error response that are read to decode its `Status`.
const MAX_ERROR_BODY: usize = 1 << 20;

/// A 2xx response whose body has not been read yet.
pub struct Response {
    status: http::StatusCode,
    headers: http::HeaderMap,
    body: BodyStream,
    deadline: Option<(Instant, Duration)>,
    /// `Config::list_decode_threads` of the client that sent the request.
    list_decode_threads: usize,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Response")
            .field("request", &self.body.request)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Response {
    pub(crate) fn new(
        resp: http::Response<ResponseBody>,
        request: RequestInfo,
        deadline: Option<(Instant, Duration)>,
    ) -> Self {
        let (parts, body) = resp.into_parts();
        let gzip = parts
            .headers
            .get(http::header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        Response {
            status: parts.status,
            headers: parts.headers,
            body: BodyStream::new(body, gzip, request),
            deadline,
            list_decode_threads: 0,
        }
    }

    /// Sets the most threads [`into_list`](Self::into_list) decodes items on
    /// (`Config::list_decode_threads`).
    pub(crate) fn with_list_decode_threads(mut self, threads: usize) -> Self {
        self.list_decode_threads = threads;
        self
    }

    /// The HTTP status.
    pub fn status(&self) -> http::StatusCode {
        self.status
    }

    /// The response headers.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.headers
    }

    /// The request this answers.
    pub fn request(&self) -> &RequestInfo {
        &self.body.request
    }

    async fn read_all(mut self, limit: Option<usize>) -> Result<(Bytes, RequestInfo), Error> {
        let deadline = self.deadline;
        let request = self.body.request.clone();
        let read = async {
            // Chunks are kept as they arrive and copied once into a buffer of the exact
            // size (a body in one chunk is not copied at all), rather than appended to a
            // growing buffer that reallocates and copies as it doubles.
            let mut chunks: Vec<Bytes> = Vec::new();
            let mut len = 0;
            while let Some(chunk) = self.body.next().await {
                let chunk = chunk?;
                len += chunk.len();
                chunks.push(chunk);
                if limit.is_some_and(|l| len >= l) {
                    break;
                }
            }
            Ok::<_, Error>(concat(chunks, len))
        };
        let bytes = match deadline {
            Some((at, after)) => tokio::time::timeout_at(at, read).await.map_err(|_| Error::Timeout {
                request: request.clone(),
                after,
                previous: None,
            })??,
            None => read.await?,
        };
        Ok((bytes, request))
    }

    /// Reads the whole (decompressed) body.
    pub async fn into_bytes(self) -> Result<Bytes, Error> {
        Ok(self.read_all(None).await?.0)
    }

    /// Whether the body is Kubernetes protobuf (`Content-Type:
    /// application/vnd.kubernetes.protobuf`), which only a request that accepted it gets.
    pub fn is_protobuf(&self) -> bool {
        self.headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(ferrokube_apimachinery::protobuf::envelope::is_protobuf)
    }

    /// Reads the body and decodes it into `T`: as JSON, or as Kubernetes protobuf when
    /// the response's `Content-Type` says so (straight into `T`, no JSON in between).
    pub async fn into_object<T: DeserializeOwned>(self) -> Result<T, Error> {
        let protobuf = self.is_protobuf();
        let (bytes, request) = self.read_all(None).await?;
        let target = std::any::type_name::<T>();
        if protobuf {
            return ferrokube_apimachinery::protobuf::decode_object(&bytes).map_err(|source| Error::DecodeProtobuf {
                request,
                target,
                source,
            });
        }
        decode_json(&bytes).map_err(|source| Error::Decode { request, target, source })
    }

    /// Reads the body and decodes it as a list, the items of a large one on several
    /// threads ([`list_decode`](super::list_decode)). The result is the same as
    /// [`into_object`](Self::into_object)'s.
    pub async fn into_list<L: ItemList>(self) -> Result<L, Error> {
        let protobuf = self.is_protobuf();
        let threads = self.list_decode_threads;
        let (bytes, request) = self.read_all(None).await?;
        let parallel = crate::parallel::threads_for_limit(bytes.len(), threads);
        if protobuf {
            return crate::parallel::off_worker(parallel, || decode_protobuf_list_limited(&bytes, threads))
                .map_err(|source| Error::DecodeProtobuf { request, target: std::any::type_name::<L>(), source });
        }
        crate::parallel::off_worker(parallel, || decode_list_bytes_limited(&bytes, threads))
            .map_err(|source| Error::Decode { request, target: std::any::type_name::<L>(), source })
    }

    /// The body as a stream of (decompressed) chunks as they arrive. No client-side
    /// timeout applies to the stream.
    pub fn into_stream(self) -> BodyStream {
        self.body
    }

    /// Turns a non-success response into its error.
    pub(crate) async fn into_error(self) -> Error {
        let code = self.status.as_u16();
        let retry_after = super::with_retry::retry_after_seconds(&self.headers)
            .map(|s| i32::try_from(s).unwrap_or(if s < 0 { i32::MIN } else { i32::MAX }));
        match self.read_all(Some(MAX_ERROR_BODY)).await {
            Ok((body, request)) => error_from_response(request, code, &body, retry_after),
            Err(e) => e,
        }
    }
}

/// Decodes a JSON body. The UTF-8 check is done once over the whole body (a vectorised
/// scan) and serde_json then reads it as `str`, which skips its per-string check: the
/// same result as `serde_json::from_slice`, with less work. A body that is not UTF-8 goes
/// through `from_slice`, so the error names the position.
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(bytes),
    }
}

/// Joins `chunks` (`len` bytes in all) with at most one copy.
fn concat(mut chunks: Vec<Bytes>, len: usize) -> Bytes {
    if chunks.len() <= 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut buf = BytesMut::with_capacity(len);
    for c in &chunks {
        buf.extend_from_slice(c);
    }
    buf.freeze()
}

/// A response body as a stream of byte chunks, gzip-decoded when the server compressed
/// it. Errors name the request.
pub struct BodyStream {
    body: ResponseBody,
    gzip: Option<GzipDecoder>,
    request: RequestInfo,
    done: bool,
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyStream").field("request", &self.request).field("gzip", &self.gzip.is_some()).finish()
    }
}

impl BodyStream {
    pub(crate) fn new(body: ResponseBody, gzip: bool, request: RequestInfo) -> Self {
        BodyStream { body, gzip: gzip.then(GzipDecoder::new), request, done: false }
    }

    /// The request whose body this is.
    pub fn request(&self) -> &RequestInfo {
        &self.request
    }

    fn body_error(&mut self, source: BodyError) -> Poll<Option<Result<Bytes, Error>>> {
        self.done = true;
        Poll::Ready(Some(Err(Error::Body { request: self.request.clone(), source })))
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            let frame = match Pin::new(&mut self.body).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(f) => f,
            };
            match frame {
                None => {
                    self.done = true;
                    if let Some(gz) = self.gzip.take() {
                        match gz.finish() {
                            Err(e) => return self.body_error(e),
                            Ok(rest) if !rest.is_empty() => return Poll::Ready(Some(Ok(Bytes::from(rest)))),
                            Ok(_) => {}
                        }
                    }
                    return Poll::Ready(None);
                }
                Some(Err(e)) => return self.body_error(BodyError::Read { message: error_chain(&*e), source: e }),
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    if data.is_empty() {
                        continue;
                    }
                    let Some(gz) = self.gzip.as_mut() else {
                        return Poll::Ready(Some(Ok(data)));
                    };
                    match gz.decode(&data) {
                        Err(e) => return self.body_error(e),
                        Ok(out) if !out.is_empty() => return Poll::Ready(Some(Ok(Bytes::from(out)))),
                        Ok(_) => {}
                    }
                }
            }
        }
    }
}

/// Inflates a gzip body chunk by chunk (the `gzip` feature).
#[cfg(feature = "gzip")]
struct GzipDecoder(flate2::write::GzDecoder<Vec<u8>>);

#[cfg(feature = "gzip")]
impl GzipDecoder {
    fn new() -> Self {
        GzipDecoder(flate2::write::GzDecoder::new(Vec::new()))
    }

    /// Feeds one compressed chunk; returns what it inflated to so far.
    fn decode(&mut self, data: &[u8]) -> Result<Vec<u8>, BodyError> {
        use std::io::Write as _;
        self.0.write_all(data).map_err(BodyError::Gzip)?;
        Ok(std::mem::take(self.0.get_mut()))
    }

    /// The end of the body: checks the trailer; returns the last inflated bytes.
    fn finish(mut self) -> Result<Vec<u8>, BodyError> {
        self.0.try_finish().map_err(BodyError::Gzip)?;
        Ok(std::mem::take(self.0.get_mut()))
    }
}

/// Without the `gzip` feature gzip is never asked for; a body that comes compressed
/// anyway (a proxy that compresses on its own) is an error naming the feature.
#[cfg(not(feature = "gzip"))]
struct GzipDecoder;

#[cfg(not(feature = "gzip"))]
impl GzipDecoder {
    fn new() -> Self {
        GzipDecoder
    }

    fn decode(&mut self, _data: &[u8]) -> Result<Vec<u8>, BodyError> {
        Err(BodyError::GzipFeatureMissing)
    }

    fn finish(self) -> Result<Vec<u8>, BodyError> {
        Err(BodyError::GzipFeatureMissing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::hooks::boxed_response_body;
    use futures_util::TryStreamExt;
    use std::io::Write as _;

    fn chunked(chunks: Vec<Vec<u8>>) -> ResponseBody {
        let frames = futures_util::stream::iter(
            chunks.into_iter().map(|c| Ok::<_, std::io::Error>(http_body::Frame::data(Bytes::from(c)))),
        );
        boxed_response_body(http_body_util::StreamBody::new(frames))
    }

    fn info() -> RequestInfo {
        RequestInfo::new(&http::Method::GET, "http://h/x")
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn gzip_is_decoded_across_chunks() {
        let text = "line one\nline two\n".repeat(100);
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(text.as_bytes()).unwrap();
        let gz = enc.finish().unwrap();
        let chunks: Vec<Vec<u8>> = gz.chunks(7).map(|c| c.to_vec()).collect();
        let s = BodyStream::new(chunked(chunks), true, info());
        let parts: Vec<Bytes> = s.try_collect().await.unwrap();
        assert_eq!(parts.concat(), text.as_bytes());
    }

    #[cfg(feature = "gzip")]
    #[tokio::test]
    async fn truncated_gzip_is_an_error() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello world hello world").unwrap();
        let gz = enc.finish().unwrap();
        let s = BodyStream::new(chunked(vec![gz[..gz.len() - 4].to_vec()]), true, info());
        let r: Result<Vec<Bytes>, Error> = s.try_collect().await;
        assert!(matches!(r, Err(Error::Body { source: BodyError::Gzip(_), .. })), "{r:?}");
    }

    #[cfg(not(feature = "gzip"))]
    #[tokio::test]
    async fn gzip_body_without_the_feature_names_it() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello world").unwrap();
        let s = BodyStream::new(chunked(vec![enc.finish().unwrap()]), true, info());
        let err = s.try_collect::<Vec<Bytes>>().await.unwrap_err();
        assert!(matches!(err, Error::Body { source: BodyError::GzipFeatureMissing, .. }), "{err:?}");
        assert!(err.to_string().contains("\"gzip\" Cargo feature"), "{err}");
    }
}
