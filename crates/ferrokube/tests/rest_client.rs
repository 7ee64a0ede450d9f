//! Integration tests of the request path over real HTTPS on loopback: retries, gzip,
//! warnings, transport layers, Status errors, timeouts and watch streams.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferrokube::rest::warnings::WarningHandler;
use ferrokube::rest::{errors, DeleteOptions, Error, ListOptions, PatchType, RESTClient};
use ferrokube::transport::hooks::{RequestBody, TransportLayer};
use ferrokube::watch::WatchEvent;
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use support::*;

async fn tls_server(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> (TestServer, Pki) {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), handler).await;
    (server, pki)
}

/// Answers with `replies[i]` for the i-th request, then the last one forever.
fn sequence(replies: Vec<Reply>) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    let n = AtomicUsize::new(0);
    move |_| {
        let i = n.fetch_add(1, Ordering::SeqCst).min(replies.len() - 1);
        replies[i].clone()
    }
}

#[tokio::test]
async fn too_many_requests_is_retried_after_retry_after() {
    let (server, pki) = tls_server(sequence(vec![
        Reply::status_error(429, "TooManyRequests", "slow down").header("retry-after", "0"),
        Reply::status_error(429, "TooManyRequests", "slow down").header("retry-after", "1"),
        Reply::json(200, pod_json("p", "1")),
    ]))
    .await;
    let client = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let pod: Pod = client.get().resource("pods").name("p").into_object().await.unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("p"));
    assert_eq!(server.count(), 3);
}

#[tokio::test]
async fn retries_stop_at_max_retries() {
    let (server, pki) =
        tls_server(sequence(vec![Reply::status_error(429, "TooManyRequests", "slow down").header("retry-after", "0")]))
            .await;
    let mut cfg = config_for(&server, &pki);
    cfg.max_retries = 3;
    let err = RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap_err();
    assert!(err.is_too_many_requests(), "{err}");
    assert!(errors::is_too_many_requests(&err));
    assert_eq!(server.count(), 4, "max_retries counts retries: 1 + 3 attempts");
}

#[tokio::test]
async fn server_errors_are_retried_only_with_retry_after() {
    let (server, pki) = tls_server(sequence(vec![
        Reply::status_error(503, "ServiceUnavailable", "starting").header("retry-after", "0"),
        Reply::json(201, pod_json("p", "2")),
    ]))
    .await;
    let client = RESTClient::new(&config_for(&server, &pki)).unwrap();
    // POST is retried too: the server said when to come back, so it did not process it.
    let resp = client.post().resource("pods").body(&pod_json("p", "")).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, seen[1].body, "the body is replayed");
    assert_eq!(seen[1].headers[http::header::CONTENT_TYPE], "application/json");

    let (server, pki) = tls_server(|_: &Seen| Reply::status_error(500, "InternalError", "boom")).await;
    let err = RESTClient::new(&config_for(&server, &pki)).unwrap().get().resource("pods").do_raw().await.unwrap_err();
    assert_eq!(err.code(), Some(500));
    assert_eq!(server.count(), 1);
}

fn counting_layer(counter: Arc<AtomicUsize>) -> TransportLayer {
    TransportLayer::new(tower::layer::layer_fn(move |inner| {
        let counter = counter.clone();
        tower::util::MapRequest::new(inner, move |mut req: http::Request<RequestBody>| {
            counter.fetch_add(1, Ordering::SeqCst);
            req.headers_mut().insert("x-injected", http::HeaderValue::from_static("yes"));
            req
        })
    }))
}

#[tokio::test]
async fn transport_layers_see_every_attempt() {
    let (server, pki) = tls_server(sequence(vec![
        Reply::status_error(429, "TooManyRequests", "x").header("retry-after", "0"),
        Reply::json(200, pod_json("p", "1")),
    ]))
    .await;
    let counter = Arc::new(AtomicUsize::new(0));
    let mut cfg = config_for(&server, &pki);
    cfg.wrap_transport.push(counting_layer(counter.clone()));
    let client = RESTClient::new(&cfg).unwrap();
    client.get().resource("pods").do_raw().await.unwrap();
    client.clone().get().resource("pods").do_raw().await.unwrap();
    assert_eq!(counter.load(Ordering::SeqCst), 3);
    assert!(server.requests().iter().all(|s| s.headers["x-injected"] == "yes"));
}

/// client-go retries lost connections (reset, EOF) of GETs, not refused ones: see
/// `rest_retry.rs` for the retried kinds.
#[tokio::test]
async fn refused_connections_are_not_retried() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let counter = Arc::new(AtomicUsize::new(0));
    let mut cfg = ferrokube::Config::new(format!("http://{addr}"));
    cfg.max_retries = 3;
    cfg.wrap_transport.push(counting_layer(counter.clone()));
    let client = RESTClient::new(&cfg).unwrap();
    let err = client.get().abs_path("/healthz").do_raw().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(counter.load(Ordering::SeqCst), 1);
    counter.store(0, Ordering::SeqCst);
    let err = client.post().abs_path("/healthz").do_raw().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(counter.load(Ordering::SeqCst), 1);
}

#[cfg(feature = "gzip")]
fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn gzip_responses_are_decoded_unless_disabled() {
    let body = pod_json("zipped", "9").to_string();
    let compressed = gzip(body.as_bytes());
    let (server, pki) = tls_server(move |s: &Seen| {
        let wants = s.headers.get(http::header::ACCEPT_ENCODING).is_some_and(|v| v.to_str().unwrap().contains("gzip"));
        if wants {
            let mut r = Reply::text(200, "").header("content-encoding", "gzip");
            // Several writes so decoding happens across chunks.
            r.chunks = compressed.chunks(10).map(Bytes::copy_from_slice).collect();
            r
        } else {
            Reply::json(200, pod_json("plain", "9"))
        }
    })
    .await;
    // The server is on loopback, where gzip is not requested by default (no bandwidth
    // to save); an explicit Accept-Encoding still asks for it.
    let client = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let pod: Pod = client.get().resource("pods").header("accept-encoding", "gzip").into_object().await.unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("zipped"));
    let pod: Pod = client.get().resource("pods").into_object().await.unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("plain"));

    let mut cfg = config_for(&server, &pki);
    cfg.disable_compression = true;
    let pod: Pod = RESTClient::new(&cfg).unwrap().get().resource("pods").into_object().await.unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("plain"));
}

#[tokio::test]
async fn byte_streams_arrive_in_pieces() {
    let (server, pki) = tls_server(|_: &Seen| {
        let mut r = Reply::text(200, "");
        r.chunks = vec![Bytes::from("line 1\n"), Bytes::from("line 2\n"), Bytes::from("line 3\n")];
        r
    })
    .await;
    let client = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let stream = client
        .get()
        .namespace("default")
        .resource("pods")
        .name("p")
        .subresource("log")
        .param("follow", "true")
        .stream()
        .await
        .unwrap();
    let chunks: Vec<Bytes> = stream.try_collect().await.unwrap();
    assert_eq!(chunks.concat(), b"line 1\nline 2\nline 3\n");
    assert_eq!(server.requests()[0].path_and_query, "/api/v1/namespaces/default/pods/p/log?follow=true");
}

#[derive(Default)]
struct Collect(Mutex<Vec<String>>);
impl WarningHandler for Collect {
    fn handle_warning(&self, code: u16, _agent: &str, text: &str) {
        assert_eq!(code, 299);
        self.0.lock().unwrap().push(text.to_owned());
    }
}

#[tokio::test]
async fn warnings_reach_the_handler() {
    let (server, pki) = tls_server(|_: &Seen| {
        Reply::json(200, pod_json("p", "1"))
            .header("warning", r#"299 - "policy/v1beta1 PodSecurityPolicy is deprecated""#)
            .header("warning", r#"299 - "second warning""#)
    })
    .await;
    let handler = Arc::new(Collect::default());
    let mut cfg = config_for(&server, &pki);
    cfg.warning_handler = Some(handler.clone());
    RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap();
    assert_eq!(
        *handler.0.lock().unwrap(),
        vec!["policy/v1beta1 PodSecurityPolicy is deprecated".to_owned(), "second warning".to_owned()]
    );
}

#[tokio::test]
async fn status_errors_are_decoded_and_classified() {
    let (server, pki) = tls_server(|s: &Seen| match s.method {
        http::Method::GET => Reply::status_error(404, "NotFound", r#"pods "nope" not found"#),
        http::Method::POST => Reply::status_error(409, "AlreadyExists", r#"pods "p" already exists"#),
        http::Method::PUT => Reply::status_error(409, "Conflict", "the object has been modified"),
        http::Method::PATCH => Reply::status_error(422, "Invalid", "spec is invalid"),
        http::Method::DELETE => Reply::text(403, "forbidden by proxy"),
        _ => Reply::text(500, ""),
    })
    .await;
    let c = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let err = c.get().namespace("default").resource("pods").name("nope").do_raw().await.unwrap_err();
    assert!(err.is_not_found() && errors::is_not_found(&err), "{err}");
    assert_eq!(err.reason(), Some("NotFound"));
    let msg = err.to_string();
    assert!(msg.contains(&format!("GET {}/api/v1/namespaces/default/pods/nope", server.url)), "{msg}");
    assert!(msg.contains(r#"pods "nope" not found"#), "{msg}");

    let err = c.post().resource("pods").body(&pod_json("p", "")).do_raw().await.unwrap_err();
    assert!(err.is_already_exists() && !err.is_not_found(), "{err}");
    let err = c.put().resource("pods").name("p").body(&pod_json("p", "")).do_raw().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    let err = c
        .patch(PatchType::Merge)
        .resource("pods")
        .name("p")
        .body_json(&serde_json::json!({"metadata":{"labels":{"a":"b"}}}))
        .do_raw()
        .await
        .unwrap_err();
    assert!(err.is_invalid(), "{err}");
    let err = c
        .delete()
        .resource("pods")
        .name("p")
        .body(&DeleteOptions { grace_period_seconds: Some(0), ..Default::default() })
        .do_raw()
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert!(err.to_string().contains("forbidden by proxy"), "{err}");

    let seen = server.requests();
    assert_eq!(seen[3].headers[http::header::CONTENT_TYPE], "application/merge-patch+json");
    assert_eq!(seen[4].body, Bytes::from(r#"{"gracePeriodSeconds":0}"#));
}

#[tokio::test]
async fn request_timeout_applies() {
    let (server, pki) = tls_server(|_: &Seen| {
        let mut r = Reply::json(200, pod_json("p", "1"));
        r.delay = Some(Duration::from_secs(30));
        r
    })
    .await;
    let c = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let err = c.get().resource("pods").timeout(Duration::from_millis(200)).do_raw().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(server.requests()[0].path_and_query.contains("timeout=200ms"));
}

fn watch_body() -> Vec<u8> {
    let events = [
        serde_json::json!({"type":"ADDED","object":pod_json("a","10")}),
        serde_json::json!({"type":"MODIFIED","object":pod_json("a","11")}),
        serde_json::json!({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"12"}}}),
        serde_json::json!({"type":"DELETED","object":pod_json("a","13")}),
        serde_json::json!({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Expired","code":410,"message":"too old resource version"}}),
    ];
    let mut out = Vec::new();
    for e in events {
        out.extend_from_slice(e.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

#[tokio::test]
async fn watch_events_split_across_writes() {
    let body = watch_body();
    let (server, pki) = tls_server(move |_: &Seen| {
        let mut r = Reply::text(200, "").header("content-type", "application/json");
        // Odd-sized writes: events split across chunks and several per chunk.
        let mut chunks = Vec::new();
        let mut rest = body.as_slice();
        for size in [5usize, 90, 3, 200, 17, 1, 400].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).min(rest.len());
            chunks.push(Bytes::copy_from_slice(&rest[..n]));
            rest = &rest[n..];
        }
        r.chunks = chunks;
        r
    })
    .await;
    let c = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let opts =
        ListOptions { resource_version: Some("9".into()), allow_watch_bookmarks: Some(true), ..Default::default() };
    let events: Vec<WatchEvent<Pod>> = c
        .get()
        .namespace("default")
        .resource("pods")
        .versioned_params(&opts)
        .watch::<Pod>()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(kinds, ["ADDED", "MODIFIED", "BOOKMARK", "DELETED", "ERROR"]);
    assert_eq!(events[1].object().unwrap().metadata.resource_version.as_deref(), Some("11"));
    match (&events[2], &events[4]) {
        (WatchEvent::Bookmark(b), WatchEvent::Error(s)) => {
            assert_eq!(b.resource_version, "12");
            assert_eq!(s.code, Some(410));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        server.requests()[0].path_and_query,
        "/api/v1/namespaces/default/pods?allowWatchBookmarks=true&resourceVersion=9&watch=true"
    );
}

#[cfg(feature = "gzip")]
#[tokio::test]
async fn untyped_and_gzipped_watch() {
    let compressed = gzip(&watch_body());
    let (server, pki) = tls_server(move |_: &Seen| {
        let mut r = Reply::text(200, "").header("content-encoding", "gzip");
        r.chunks = compressed.chunks(13).map(Bytes::copy_from_slice).collect();
        r
    })
    .await;
    let c = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let mut stream = c.get().resource("pods").watch::<serde_json::Value>().await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.object().unwrap()["metadata"]["name"], "a");
    assert_eq!(stream.count().await, 4);
}

#[tokio::test]
async fn watch_ending_mid_event_is_an_error() {
    let (server, pki) = tls_server(|_: &Seen| Reply::text(200, r#"{"type":"ADDED","object":{"kind":"Pod""#)).await;
    let c = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let results: Vec<_> = c.get().resource("pods").watch::<Pod>().await.unwrap().collect().await;
    assert_eq!(results.len(), 1);
    let err = results.into_iter().next().unwrap().unwrap_err();
    assert!(matches!(err, Error::Watch { .. }), "{err}");
}

#[tokio::test]
async fn clones_share_the_rate_limiter() {
    let (server, pki) = tls_server(|_: &Seen| Reply::json(200, pod_json("p", "1"))).await;
    let mut cfg = config_for(&server, &pki);
    cfg.qps = 1000.0;
    cfg.burst = 7;
    let a = RESTClient::new(&cfg).unwrap();
    let b = a.clone();
    let limiter = a.rate_limiter().unwrap();
    assert!(Arc::ptr_eq(&limiter, &b.rate_limiter().unwrap()));
    assert_eq!(limiter.burst(), 7);
    cfg.rate_limiter = ferrokube::rest::RateLimiterChoice::Disabled;
    assert!(RESTClient::new(&cfg).unwrap().rate_limiter().is_none());
    cfg.rate_limiter = ferrokube::rest::RateLimiterChoice::Shared(limiter.clone());
    let c = RESTClient::new(&cfg).unwrap();
    assert!(Arc::ptr_eq(&limiter, &c.rate_limiter().unwrap()));
    c.get().resource("pods").do_raw().await.unwrap();
}
