//! Request body kinds against a scripted HTTP server: in-memory, typed, unstructured and
//! file bodies are replayed byte for byte on every retry; a streamed body is sent as it
//! is read and, unless made anew per attempt, not retried.

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ferrokube::dynamic::Unstructured;
use ferrokube::rest::{BackoffChoice, Error, RESTClient, RateLimiterChoice};
use support::pod_json;
use support::scripted::{AbortMode, ScriptedServer, Step};
use support::Reply;

fn busy() -> Step {
    Step::Reply(Reply::status_error(503, "ServiceUnavailable", "busy").header("retry-after", "0"))
}

fn created() -> Step {
    Step::Reply(Reply::json(201, pod_json("p", "1")))
}

async fn server(steps: Vec<Step>) -> (ScriptedServer, RESTClient) {
    let s = ScriptedServer::start(steps, AbortMode::Eof).await;
    let mut c = s.config();
    c.rate_limiter = RateLimiterChoice::Disabled;
    c.backoff = BackoffChoice::Disabled;
    let client = RESTClient::new(&c).unwrap();
    (s, client)
}

fn bodies(s: &ScriptedServer) -> Vec<Bytes> {
    s.hits().into_iter().map(|h| h.seen.body).collect()
}

#[tokio::test(start_paused = true)]
async fn in_memory_bodies_are_replayed_on_every_retry() {
    let pod = pod_json("web", "");
    let (s, c) = server(vec![busy(), busy(), created()]).await;
    c.post().resource("pods").body(&pod).send().await.unwrap();
    let want = Bytes::from(serde_json::to_vec(&pod).unwrap());
    assert_eq!(bodies(&s), vec![want.clone(); 3]);
    for h in s.hits() {
        assert_eq!(h.seen.headers[http::header::CONTENT_TYPE], "application/json");
        assert_eq!(h.seen.headers[http::header::CONTENT_LENGTH], want.len().to_string().as_str());
    }

    let (s, c) = server(vec![busy(), created()]).await;
    c.put().resource("pods").name("web").body_bytes(&b"raw bytes"[..]).send().await.unwrap();
    assert_eq!(bodies(&s), vec![Bytes::from_static(b"raw bytes"); 2]);

    let u: Unstructured = serde_json::from_value(pod.clone()).unwrap();
    let (s, c) = server(vec![busy(), created()]).await;
    c.post().resource("pods").body_unstructured(&u).send().await.unwrap();
    let seen: Vec<serde_json::Value> = bodies(&s).iter().map(|b| serde_json::from_slice(b).unwrap()).collect();
    assert_eq!(seen, vec![pod.clone(), pod]);
}

#[tokio::test(start_paused = true)]
async fn file_bodies_are_read_and_replayed() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let content = serde_json::to_vec(&pod_json("from-file", "")).unwrap();
    file.write_all(&content).unwrap();
    let (s, c) = server(vec![busy(), busy(), created()]).await;
    c.post().resource("pods").body_file(file.path()).send().await.unwrap();
    assert_eq!(bodies(&s), vec![Bytes::from(content); 3]);
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_file_is_an_error_naming_it() {
    let (s, c) = server(vec![created()]).await;
    let err = c.post().resource("pods").body_file("/no/such/dir/pod.json").send().await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
    assert!(err.to_string().contains("/no/such/dir/pod.json"), "{err}");
    assert_eq!(s.count(), 0, "nothing was sent");
}

/// A reader that yields `data` in small pieces, so the body cannot be known whole
/// before it is sent.
fn trickle(data: Vec<u8>) -> impl tokio::io::AsyncRead + Send + 'static {
    let chunks: Vec<std::io::Result<Bytes>> = data.chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    chunk_reader(chunks)
}

/// A reader over chunks (tokio-util's `StreamReader`, without its `io` feature).
fn chunk_reader(chunks: Vec<std::io::Result<Bytes>>) -> impl tokio::io::AsyncRead + Send + 'static {
    struct R(std::collections::VecDeque<std::io::Result<Bytes>>);
    impl tokio::io::AsyncRead for R {
        fn poll_read(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            match self.0.pop_front() {
                None => std::task::Poll::Ready(Ok(())),
                Some(Err(e)) => std::task::Poll::Ready(Err(e)),
                Some(Ok(mut b)) => {
                    let n = b.len().min(buf.remaining());
                    buf.put_slice(&b.split_to(n));
                    if !b.is_empty() {
                        self.0.push_front(Ok(b));
                    }
                    std::task::Poll::Ready(Ok(()))
                }
            }
        }
    }
    R(chunks.into())
}

fn payload() -> Vec<u8> {
    (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect()
}

#[tokio::test(start_paused = true)]
async fn a_streamed_body_is_not_buffered_and_not_retried() {
    let (s, c) = server(vec![busy(), created()]).await;
    let err = c.post().resource("pods").body_reader(trickle(payload())).send().await.unwrap_err();
    assert!(err.is_service_unavailable(), "the first failure is returned: {err}");
    assert_eq!(s.count(), 1, "a one-shot body is not sent again");
    let hit = &s.hits()[0].seen;
    assert_eq!(hit.body, payload(), "the server got the whole stream");
    assert!(hit.headers.get(http::header::CONTENT_LENGTH).is_none(), "streamed, length unknown");
    assert_eq!(hit.headers[http::header::TRANSFER_ENCODING], "chunked");

    let (s, c) = server(vec![busy(), created()]).await;
    let chunks = futures_util::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::from("a")), Ok(Bytes::from("b"))]);
    c.post().resource("pods").body_stream(chunks).send().await.unwrap_err();
    assert_eq!(s.count(), 1);
    assert_eq!(s.hits()[0].seen.body, "ab");
}

#[tokio::test(start_paused = true)]
async fn a_stream_made_per_attempt_is_retried() {
    let made = Arc::new(AtomicUsize::new(0));
    let m = made.clone();
    let (s, c) = server(vec![busy(), busy(), created()]).await;
    c.post()
        .resource("pods")
        .body_reader_fn(move || {
            m.fetch_add(1, Ordering::SeqCst);
            trickle(payload())
        })
        .send()
        .await
        .unwrap();
    assert_eq!(made.load(Ordering::SeqCst), 3);
    assert_eq!(bodies(&s), vec![Bytes::from(payload()); 3]);
}

#[tokio::test(start_paused = true)]
async fn a_failing_stream_fails_the_request() {
    let (s, c) = server(vec![created()]).await;
    let chunks = vec![Ok(Bytes::from("partial")), Err(std::io::Error::other("disk on fire"))];
    let err = c.post().resource("pods").body_reader(chunk_reader(chunks)).send().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(err.to_string().contains("disk on fire"), "{err}");
    drop(s);
}
