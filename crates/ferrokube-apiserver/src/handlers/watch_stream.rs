//! Watch responses: a [`WatchStream`] from the registry as an HTTP body of one JSON
//! event per line (`{"type":"ADDED","object":{...}}\n`), or, for a client that
//! negotiated protobuf (`application/vnd.kubernetes.protobuf;stream=watch`), of
//! length-delimited frames as kube's protobuf stream serializer writes them: a 4-byte
//! big-endian length, then a `meta.v1.WatchEvent` message (no envelope) whose `object`
//! is a `RawExtension` holding the object's enveloped protobuf (`k8s\0` + `Unknown`).
//! Events are sent as soon as they come (chunked on HTTP/1.1, DATA frames on HTTP/2),
//! cut as kube-apiserver's are: it flushes its watch response only when no further
//! event is queued, and Go's net/http sends what is written in 2 KiB pieces before
//! that, so the initial events of a watch arrive as full 2 KiB frames and a last
//! smaller one (a client reading "the first events" sees the same ones). The body ends
//! when the registry's stream ends, at `timeoutSeconds` (default: 30 minutes, kube's
//! `--min-request-timeout`), at server shutdown, or when the client goes away (hyper
//! drops the body, which drops the registry's stream).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use serde_json::Value;

use super::negotiate::IncludeObject;
use super::table;
use crate::api::{ResourceInfo, WatchEvent, WatchStream};

/// Events already waiting are written in one go up to about this many bytes.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// The buffer Go's net/http keeps in front of a response (`bufferBeforeChunkingSize`):
/// kube-apiserver's watch output reaches the client in pieces of this size, plus the
/// rest at each flush.
const WRITE_BUFFER_BYTES: usize = 2048;

/// Watch length when the client sets no `timeoutSeconds`.
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How events are encoded.
#[derive(Clone, Debug)]
pub enum EventFormat {
    /// Objects as they are.
    Json,
    /// Each object as a one-row Table (`kubectl get -w`).
    Table {
        /// The watched resource.
        resource: Arc<ResourceInfo>,
        /// `includeObject`.
        include: IncludeObject,
        /// `meta.k8s.io` version.
        version: String,
        /// A custom resource's printer columns.
        printer: Option<Vec<crate::apiextensions::printer::PrinterColumn>>,
    },
    /// Each object as a `PartialObjectMetadata` (client-go's metadata informers).
    PartialMetadata {
        /// `meta.k8s.io` version.
        version: String,
        /// As protobuf frames rather than JSON lines.
        protobuf: bool,
    },
    /// Length-delimited protobuf `WatchEvent` frames (built-in types).
    Protobuf {
        /// The watched resource's apiVersion, for objects that do not name theirs.
        api_version: String,
        /// The watched resource's kind, likewise.
        kind: String,
    },
}

/// The streaming body of a watch response.
pub struct WatchBody {
    events: WatchStream,
    deadline: Pin<Box<tokio::time::Sleep>>,
    shutdown: Pin<Box<dyn Future<Output = ()> + Send>>,
    format: EventFormat,
    sent_columns: bool,
    done: bool,
    /// Written bytes not yet sent (Go's `bufio.Writer` of [`WRITE_BUFFER_BYTES`]).
    buffer: Vec<u8>,
    /// Frames cut and not yet sent.
    ready: std::collections::VecDeque<Bytes>,
}

impl WatchBody {
    /// A body streaming `events` for at most `timeout`, ending when `shutdown` completes.
    pub fn new(
        events: WatchStream,
        timeout: Duration,
        shutdown: impl Future<Output = ()> + Send + 'static,
        format: EventFormat,
    ) -> WatchBody {
        WatchBody {
            events,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            shutdown: Box::pin(shutdown),
            format,
            sent_columns: false,
            done: false,
            buffer: Vec::new(),
            ready: std::collections::VecDeque::new(),
        }
    }

    /// One event written the way Go's net/http writes a response (a 2 KiB buffer in
    /// front of the connection): bytes fill the buffer and each full buffer is sent;
    /// an event larger than what is free, arriving at an empty buffer, goes out whole.
    fn write(&mut self, bytes: Bytes) {
        let mut rest = &bytes[..];
        while rest.len() > WRITE_BUFFER_BYTES - self.buffer.len() {
            if self.buffer.is_empty() {
                self.ready.push_back(bytes.slice_ref(rest));
                return;
            }
            let n = WRITE_BUFFER_BYTES - self.buffer.len();
            self.buffer.extend_from_slice(&rest[..n]);
            let full = std::mem::replace(&mut self.buffer, Vec::with_capacity(WRITE_BUFFER_BYTES));
            self.ready.push_back(Bytes::from(full));
            rest = &rest[n..];
        }
        self.buffer.extend_from_slice(rest);
    }

    fn encode(&mut self, event: WatchEvent) -> Bytes {
        let object = match &self.format {
            EventFormat::Table { resource, include, version, printer }
                if matches!(event.event_type, "ADDED" | "MODIFIED" | "DELETED") =>
            {
                let t = table::render_with(
                    resource,
                    printer.as_deref(),
                    &event.object,
                    *include,
                    version,
                    !self.sent_columns,
                );
                self.sent_columns = true;
                t
            }
            EventFormat::PartialMetadata { version, protobuf }
                if matches!(event.event_type, "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK") =>
            {
                let partial = table::partial_metadata(&event.object, version);
                if *protobuf {
                    let partial = Arc::new(partial);
                    return protobuf_frame(event.event_type, &partial, "meta.k8s.io/v1", "PartialObjectMetadata");
                }
                partial
            }
            // An ERROR event's Status, in the stream's own encoding.
            EventFormat::PartialMetadata { protobuf: true, .. } => {
                return protobuf_frame(event.event_type, &event.object, "v1", "Status")
            }
            EventFormat::Protobuf { api_version, kind } => {
                return protobuf_frame(event.event_type, &event.object, api_version, kind)
            }
            // The object's JSON, serialized once and shared by every watcher.
            _ => return event_line(event.event_type, &crate::storage::encoded::json(&event.object)),
        };
        event_line(event.event_type, &serde_json::to_vec(&object).unwrap_or_default())
    }
}

/// `{"type":"<type>","object":<object>}\n` (`type` first, as kube sends it).
fn event_line(event_type: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + event_type.len() + 24);
    line.extend_from_slice(b"{\"type\":");
    line.extend(serde_json::to_vec(event_type).unwrap_or_default());
    line.extend_from_slice(b",\"object\":");
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

/// One protobuf watch frame: a 4-byte big-endian length, then `WatchEvent{type, object:
/// RawExtension{raw: enveloped object}}`. An object that cannot be encoded (never
/// expected of a built-in type) becomes an `ERROR` event carrying a 500 `Status`.
fn protobuf_frame(event_type: &str, object: &Arc<Value>, api_version: &str, kind: &str) -> Bytes {
    use ferrokube_apimachinery::protobuf::{encode_body, envelope, wire};
    let field = |k: &str| object.get(k).and_then(Value::as_str);
    let encoded = match (field("apiVersion"), field("kind")) {
        // A stored object: its message is encoded once and shared by every watcher.
        (Some(av), Some(k)) => match crate::storage::encoded::protobuf(object) {
            Some(raw) => Ok(envelope(av, k, &raw)),
            None => encode_body(av, k, object),
        },
        // A bookmark names no type: the watched resource's.
        _ => encode_body(api_version, kind, object),
    };
    let (event_type, raw) = match encoded {
        Ok(raw) => (event_type, raw),
        Err(e) => {
            let status = crate::api::ApiError::new(500, "InternalError", format!("encoding a watch event: {e}"));
            ("ERROR", encode_body("v1", "Status", &status.to_status()).unwrap_or_default())
        }
    };
    let mut raw_extension = Vec::with_capacity(raw.len() + 8);
    wire::put_bytes(&mut raw_extension, 1, &raw);
    let mut event = Vec::with_capacity(raw_extension.len() + event_type.len() + 16);
    wire::put_bytes(&mut event, 1, event_type.as_bytes());
    wire::put_bytes(&mut event, 2, &raw_extension);
    let mut frame = Vec::with_capacity(event.len() + 4);
    frame.extend_from_slice(&u32::try_from(event.len()).unwrap_or(u32::MAX).to_be_bytes());
    frame.extend_from_slice(&event);
    Bytes::from(frame)
}

impl http_body::Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(frame) = self.ready.pop_front() {
            return Poll::Ready(Some(Ok(Frame::data(frame))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        if self.shutdown.as_mut().poll(cx).is_ready() || self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(None);
        }
        // Every event already waiting is written (up to a bound); what the writes leave
        // in the buffer goes out once no further event is queued.
        let mut queued = 0usize;
        loop {
            match self.events.as_mut().poll_next(cx) {
                Poll::Ready(Some(event)) => {
                    let bytes = self.encode(event);
                    queued += bytes.len();
                    self.write(bytes);
                    if queued >= MAX_BATCH_BYTES {
                        break;
                    }
                }
                Poll::Ready(None) => {
                    self.done = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        if !self.buffer.is_empty() {
            let rest = Bytes::from(std::mem::take(&mut self.buffer));
            self.ready.push_back(rest);
        }
        match self.ready.pop_front() {
            Some(frame) => Poll::Ready(Some(Ok(Frame::data(frame)))),
            None if self.done => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.ready.is_empty()
    }
}

/// The watch length for a `timeoutSeconds` query value.
pub fn timeout(timeout_seconds: Option<&str>) -> Duration {
    match timeout_seconds.and_then(|s| s.parse::<u64>().ok()) {
        Some(secs) if secs > 0 => Duration::from_secs(secs.min(24 * 3600)),
        _ => DEFAULT_WATCH_TIMEOUT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::json;

    #[tokio::test]
    async fn lines_and_end() {
        let ev = |t| WatchEvent { event_type: t, object: Arc::new(json!({"metadata": {"name": "a"}})) };
        let stream: WatchStream = Box::pin(futures_util::stream::iter(vec![ev("ADDED"), ev("DELETED")]));
        let mut body = WatchBody::new(stream, Duration::from_secs(5), std::future::pending(), EventFormat::Json);
        // Events already waiting go out in one frame.
        let bytes = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert!(body.frame().await.is_none());
        // ... in 2 KiB pieces, as Go writes them; an event larger than what is left
        // free at an empty buffer goes out whole.
        let big = |n: usize| WatchEvent { event_type: "ADDED", object: Arc::new(json!({"d": "x".repeat(n)})) };
        let stream: WatchStream = Box::pin(futures_util::stream::iter(vec![big(1500), big(1500), big(5000)]));
        let mut body = WatchBody::new(stream, Duration::from_secs(5), std::future::pending(), EventFormat::Json);
        let mut sizes = Vec::new();
        while let Some(frame) = body.frame().await {
            sizes.push(frame.unwrap().into_data().unwrap().len());
        }
        // Lines of 1535, 1535 and 5035 bytes: a full buffer, another, then the big
        // line's rest written straight through.
        assert_eq!(sizes, vec![2048, 2048, 4009]);
        let text = std::str::from_utf8(&bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], r#"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"#);
    }

    #[tokio::test]
    async fn protobuf_frames() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}});
        let bookmark = json!({"metadata": {"resourceVersion": "9"}});
        let events = vec![
            WatchEvent { event_type: "ADDED", object: Arc::new(pod.clone()) },
            WatchEvent { event_type: "BOOKMARK", object: Arc::new(bookmark) },
        ];
        let stream: WatchStream = Box::pin(futures_util::stream::iter(events));
        let format = EventFormat::Protobuf { api_version: "v1".into(), kind: "Pod".into() };
        let body = WatchBody::new(stream, Duration::from_secs(5), std::future::pending(), format);
        let bytes = body.collect().await.unwrap().to_bytes();
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        let event = &bytes[4..4 + len];
        // WatchEvent: type (1) "ADDED", object (2) RawExtension { raw (1): envelope }.
        assert_eq!(&event[..7], b"\x0a\x05ADDED");
        let envelope = ferrokube_apimachinery::protobuf::encode_body("v1", "Pod", &pod).unwrap();
        assert!(event.ends_with(&envelope));
        let back = ferrokube_apimachinery::protobuf::decode_body(&envelope).unwrap();
        // spec and status are Go value types: written empty, decoded as `{}`.
        assert_eq!(
            back,
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}, "spec": {}, "status": {}})
        );
        // The bookmark names no kind: the watched resource's is used.
        let rest = &bytes[4 + len..];
        let len2 = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert_eq!(rest.len(), 4 + len2);
        let tail = &rest[4..];
        let at = tail.windows(4).position(|w| w == b"k8s\0").unwrap();
        let obj = ferrokube_apimachinery::protobuf::decode_body(&tail[at..]).unwrap();
        assert_eq!(obj["kind"], "Pod");
        assert_eq!(obj["metadata"]["resourceVersion"], "9");
    }

    #[tokio::test]
    async fn ends_on_timeout_and_shutdown() {
        let stream: WatchStream = Box::pin(futures_util::stream::pending());
        let body = WatchBody::new(stream, Duration::from_millis(20), std::future::pending(), EventFormat::Json);
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
        let stream: WatchStream = Box::pin(futures_util::stream::pending());
        let body = WatchBody::new(stream, Duration::from_secs(60), std::future::ready(()), EventFormat::Json);
        assert!(body.collect().await.unwrap().to_bytes().is_empty());
        assert_eq!(timeout(Some("7")), Duration::from_secs(7));
        assert_eq!(timeout(Some("x")), DEFAULT_WATCH_TIMEOUT);
    }
}
