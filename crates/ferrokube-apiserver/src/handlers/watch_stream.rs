//! Watch responses: a [`WatchStream`] from the registry as an HTTP body of one JSON
//! event per line (`{"type":"ADDED","object":{...}}\n`), each sent as its own frame so
//! it is flushed at once (chunked on HTTP/1.1, DATA frames on HTTP/2). The body ends
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

use super::negotiate::IncludeObject;
use super::table;
use crate::api::{ResourceInfo, WatchEvent, WatchStream};

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
        }
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
            EventFormat::PartialMetadata { version }
                if matches!(event.event_type, "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK") =>
            {
                table::partial_metadata(&event.object, version)
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

impl http_body::Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.shutdown.as_mut().poll(cx).is_ready() || self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(None);
        }
        match self.events.as_mut().poll_next(cx) {
            Poll::Ready(Some(event)) => {
                let bytes = self.encode(event);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
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
        let body = WatchBody::new(stream, Duration::from_secs(5), std::future::pending(), EventFormat::Json);
        let bytes = body.collect().await.unwrap().to_bytes();
        let text = std::str::from_utf8(&bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], r#"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"#);
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
