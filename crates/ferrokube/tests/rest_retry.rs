//! The retry rules, backoff, timeouts and metrics of the request path,
//! against a scripted HTTP server that counts what it receives. The clock is tokio's
//! paused clock: waits are checked exactly and no test sleeps for real.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube::rest::{BackoffChoice, Error, RESTClient, RateLimiterChoice, RequestMetrics, URLBackoff};
use support::scripted::{AbortMode, ScriptedServer, Step};
use support::{pod_json, Reply};
use tokio::time::Instant;

fn reply(r: Reply) -> Step {
    Step::Reply(r)
}

fn throttled(retry_after: Option<&str>) -> Step {
    let r = Reply::status_error(429, "TooManyRequests", "slow down");
    reply(match retry_after {
        Some(v) => r.header("retry-after", v),
        None => r,
    })
}

fn ok() -> Step {
    reply(Reply::json(200, pod_json("p", "1")))
}

async fn server(steps: Vec<Step>) -> ScriptedServer {
    ScriptedServer::start(steps, AbortMode::Eof).await
}

fn client(s: &ScriptedServer) -> RESTClient {
    let mut c = s.config();
    c.rate_limiter = RateLimiterChoice::Disabled;
    c.backoff = BackoffChoice::Disabled;
    RESTClient::new(&c).unwrap()
}

async fn get(c: &RESTClient) -> Result<bytes::Bytes, Error> {
    c.get().namespace("default").resource("pods").name("p").do_raw().await
}

// ---- The table of the issue: how many requests the server sees. ----

#[tokio::test(start_paused = true)]
async fn too_many_requests_without_retry_after_is_not_retried() {
    let s = server(vec![throttled(None)]).await;
    let err = get(&client(&s)).await.unwrap_err();
    assert!(err.is_too_many_requests(), "{err}");
    assert_eq!(s.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn retry_after_zero_is_retried_ten_times() {
    for code in [429u16, 503] {
        let s = server(vec![reply(Reply::status_error(code, "x", "busy").header("retry-after", "0"))]).await;
        let err = get(&client(&s)).await.unwrap_err();
        assert_eq!(err.code(), Some(code));
        assert_eq!(s.count(), 11, "{code}: 1 attempt + 10 retries");
    }
}

#[tokio::test(start_paused = true)]
async fn non_numeric_retry_after_is_not_retried() {
    for value in ["soon", "Fri, 31 Dec 1999 23:59:59 GMT", "1.5"] {
        let s = server(vec![throttled(Some(value))]).await;
        let err = get(&client(&s)).await.unwrap_err();
        assert!(err.is_too_many_requests(), "{err}");
        assert_eq!(s.count(), 1, "Retry-After: {value}");
    }
}

#[tokio::test(start_paused = true)]
async fn server_error_without_retry_after_is_not_retried() {
    let s = server(vec![reply(Reply::text(500, "boom"))]).await;
    let err = get(&client(&s)).await.unwrap_err();
    assert!(err.is_internal_error() && err.is_unexpected_server_error(), "{err}");
    assert_eq!(s.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn max_retries_zero_and_per_request() {
    let s = server(vec![throttled(Some("0"))]).await;
    let mut c = s.config();
    c.max_retries = 0;
    get(&RESTClient::new(&c).unwrap()).await.unwrap_err();
    assert_eq!(s.count(), 1);
    let s = server(vec![throttled(Some("0"))]).await;
    client(&s).get().resource("pods").max_retries(2).do_raw().await.unwrap_err();
    assert_eq!(s.count(), 3);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_and_the_retry_succeeds() {
    let s =
        server(vec![throttled(Some("3")), reply(Reply::status_error(503, "x", "y").header("retry-after", "2")), ok()])
            .await;
    let start = Instant::now();
    get(&client(&s)).await.unwrap();
    assert_eq!(s.gaps(), [Duration::from_secs(3), Duration::from_secs(2)]);
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn server_suggested_delay_is_exposed() {
    let s = server(vec![reply(Reply::text(503, "busy").header("retry-after", "5"))]).await;
    let err = client(&s).get().resource("pods").max_retries(0).do_raw().await.unwrap_err();
    assert!(err.is_service_unavailable(), "{err}");
    assert_eq!(err.suggests_client_delay(), Some(5));
}

// ---- Connection loss. ----

#[tokio::test(start_paused = true)]
async fn lost_connections_are_retried_for_get_only() {
    for mode in [AbortMode::Eof, AbortMode::Reset] {
        let s = ScriptedServer::start(vec![Step::Abort, ok()], mode).await;
        let c = client(&s);
        let start = Instant::now();
        get(&c).await.unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(s.count(), 2, "{mode:?}");
        assert_eq!(start.elapsed(), Duration::from_secs(1), "{mode:?}: client-go waits 1 s after a lost connection");

        let s = ScriptedServer::start(vec![Step::Abort, ok()], mode).await;
        let err = client(&s).post().resource("pods").body(&pod_json("p", "")).do_raw().await.unwrap_err();
        assert!(matches!(err, Error::Transport { .. }), "{mode:?}: {err}");
        let expected = match mode {
            AbortMode::Eof => "connection closed before message completed",
            AbortMode::Reset => "reset",
        };
        assert!(err.to_string().contains(expected), "{mode:?}: {err}");
        assert_eq!(s.count(), 1, "{mode:?}: a POST is not retried");
    }
}

#[tokio::test(start_paused = true)]
async fn streams_do_not_retry_lost_connections() {
    let s = server(vec![Step::Abort, ok()]).await;
    let err = client(&s).get().resource("pods").stream().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(s.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn watches_retry_lost_connections() {
    let event = serde_json::json!({"type": "ADDED", "object": pod_json("p", "5")}).to_string() + "\n";
    let s = server(vec![Step::Abort, reply(Reply::text(200, &event))]).await;
    let start = Instant::now();
    let events: Vec<_> =
        futures_util::StreamExt::collect(client(&s).get().resource("pods").watch::<serde_json::Value>().await.unwrap())
            .await;
    assert_eq!(events.len(), 1);
    assert_eq!(s.count(), 2);
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    assert_eq!(s.hits()[1].seen.path_and_query, "/api/v1/pods?watch=true");
}

#[tokio::test(start_paused = true)]
async fn the_final_error_names_the_previous_attempts_error() {
    // Attempt 1 loses its connection; attempt 2 hangs until the timeout.
    let mut slow = Reply::json(200, pod_json("p", "1"));
    slow.delay = Some(Duration::from_secs(60));
    let s = server(vec![Step::Abort, reply(slow)]).await;
    let err = client(&s).get().resource("pods").timeout(Duration::from_secs(5)).do_raw().await.unwrap_err();
    assert_eq!(s.count(), 2);
    let Error::Timeout { previous: Some(previous), after, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*after, Duration::from_secs(5));
    let msg = err.to_string();
    assert!(msg.contains("timed out after 5s - error from a previous attempt: "), "{msg}");
    assert!(msg.ends_with(previous.as_str()), "{msg}");
    assert!(previous.contains("connection closed before message completed"), "{previous}");
    assert!(err.is_timeout());

    // Attempts that all fail the same way name it once.
    let s = server(vec![Step::Abort]).await;
    let err = client(&s).get().resource("pods").max_retries(2).do_raw().await.unwrap_err();
    assert_eq!(s.count(), 3);
    assert!(matches!(err, Error::Transport { previous: None, .. }), "{err:?}");
    assert!(!err.to_string().contains("previous attempt"), "{err}");
}

// ---- Backoff managers. ----

#[tokio::test(start_paused = true)]
async fn url_backoff_doubles_between_attempts() {
    let busy = || reply(Reply::status_error(503, "ServiceUnavailable", "busy").header("retry-after", "0"));
    let s = server(vec![busy(), busy(), busy(), busy(), ok()]).await;
    let mut c = s.config();
    c.rate_limiter = RateLimiterChoice::Disabled;
    c.backoff = BackoffChoice::Exponential { base: Duration::from_secs(1), max: Duration::from_secs(4) };
    get(&RESTClient::new(&c).unwrap()).await.unwrap();
    assert_eq!(s.gaps(), [1, 2, 4, 4].map(Duration::from_secs), "base, doubling, capped at max");
}

#[tokio::test(start_paused = true)]
async fn retry_after_longer_than_the_backoff_wins() {
    let s = server(vec![throttled(Some("3")), ok()]).await;
    let mut c = s.config();
    c.rate_limiter = RateLimiterChoice::Disabled;
    c.backoff = BackoffChoice::Exponential { base: Duration::from_secs(1), max: Duration::from_secs(10) };
    get(&RESTClient::new(&c).unwrap()).await.unwrap();
    assert_eq!(s.gaps(), [Duration::from_secs(3)]);
}

#[tokio::test(start_paused = true)]
async fn a_shared_url_backoff_spans_requests_and_resets_on_success() {
    let s = server(vec![reply(Reply::text(502, "bad gateway")), ok(), ok()]).await;
    let shared = Arc::new(URLBackoff::new(Duration::from_secs(2), Duration::from_secs(30)));
    let mut c = s.config();
    c.rate_limiter = RateLimiterChoice::Disabled;
    c.backoff = BackoffChoice::Shared(shared);
    let c = RESTClient::new(&c).unwrap();
    get(&c).await.unwrap_err();
    get(&c).await.unwrap();
    get(&c).await.unwrap();
    assert_eq!(s.gaps(), [Duration::from_secs(2), Duration::ZERO], "the 502 delays the next request; the 200 resets");
}

// ---- Timeouts. ----

#[tokio::test(start_paused = true)]
async fn config_timeout_bounds_the_request_and_is_sent() {
    let mut slow = Reply::json(200, pod_json("p", "1"));
    slow.delay = Some(Duration::from_secs(60));
    let s = server(vec![reply(slow)]).await;
    let mut c = s.config();
    c.timeout = Some(Duration::from_secs(2));
    let start = Instant::now();
    let err = get(&RESTClient::new(&c).unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    assert_eq!(s.hits()[0].seen.path_and_query, "/api/v1/namespaces/default/pods/p?timeout=2s");
}

#[tokio::test(start_paused = true)]
async fn request_timeout_parameter_and_bound() {
    let mut slow = Reply::json(200, pod_json("p", "1"));
    slow.delay = Some(Duration::from_secs(3));
    let s = server(vec![reply(slow)]).await;
    let c = client(&s);
    // Long enough: the answer arrives after 3 s.
    c.get().resource("pods").timeout(Duration::from_secs(4)).do_raw().await.unwrap();
    // Too short.
    let start = Instant::now();
    let err = c.get().resource("pods").timeout(Duration::from_millis(1500)).do_raw().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(start.elapsed(), Duration::from_millis(1500));
    let hits = s.hits();
    assert_eq!(hits[0].seen.path_and_query, "/api/v1/pods?timeout=4s");
    assert_eq!(hits[1].seen.path_and_query, "/api/v1/pods?timeout=1.5s");
    // Without a timeout, no parameter.
    let s = server(vec![ok()]).await;
    client(&s).get().resource("pods").do_raw().await.unwrap();
    assert_eq!(s.hits()[0].seen.path_and_query, "/api/v1/pods");
}

#[tokio::test(start_paused = true)]
async fn the_timeout_covers_retries() {
    let s = server(vec![throttled(Some("10"))]).await;
    let start = Instant::now();
    let err = client(&s).get().resource("pods").timeout(Duration::from_secs(5)).do_raw().await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(start.elapsed(), Duration::from_secs(5), "the 10 s Retry-After wait is cut by the timeout");
    assert_eq!(s.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_first_rate_limiter_wait_is_not_part_of_the_timeout() {
    let s = server(vec![ok()]).await;
    let mut c = s.config();
    c.qps = 1.0;
    c.burst = 1;
    c.backoff = BackoffChoice::Disabled;
    let c = RESTClient::new(&c).unwrap();
    c.get().resource("pods").do_raw().await.unwrap();
    // The bucket is empty: this request waits 1 s for a token, longer than its timeout,
    // and still succeeds, as in client-go.
    let start = Instant::now();
    c.get().resource("pods").timeout(Duration::from_millis(500)).do_raw().await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

// ---- Metrics. ----

#[derive(Default)]
struct Recorded {
    results: Mutex<Vec<(String, String, String)>>,
    retries: Mutex<Vec<String>>,
    latencies: Mutex<Vec<(String, String, Duration)>>,
    limiter: Mutex<Vec<Duration>>,
}

impl RequestMetrics for Recorded {
    fn request_latency(&self, verb: &str, _host: &str, path_template: &str, latency: Duration) {
        self.latencies.lock().unwrap().push((verb.to_owned(), path_template.to_owned(), latency));
    }
    fn request_result(&self, code: &str, method: &str, host: &str) {
        self.results.lock().unwrap().push((code.to_owned(), method.to_owned(), host.to_owned()));
    }
    fn request_retry(&self, code: &str, _method: &str, _host: &str) {
        self.retries.lock().unwrap().push(code.to_owned());
    }
    fn rate_limiter_latency(&self, _verb: &str, _host: &str, _path_template: &str, latency: Duration) {
        self.limiter.lock().unwrap().push(latency);
    }
}

#[tokio::test(start_paused = true)]
async fn metrics_hooks_see_attempts_retries_and_waits() {
    let s = server(vec![throttled(Some("2")), Step::Abort, ok()]).await;
    let m = Arc::new(Recorded::default());
    let mut c = s.config();
    c.metrics = Some(m.clone());
    c.backoff = BackoffChoice::Disabled;
    get(&RESTClient::new(&c).unwrap()).await.unwrap();
    let host = s.url.trim_start_matches("http://").to_owned();
    let results = m.results.lock().unwrap().clone();
    assert_eq!(
        results,
        [("429", "GET"), ("<error>", "GET"), ("200", "GET")]
            .map(|(c, v)| (c.to_owned(), v.to_owned(), host.clone()))
            .to_vec()
    );
    assert_eq!(*m.retries.lock().unwrap(), ["<error>", "200"]);
    let latencies = m.latencies.lock().unwrap().clone();
    assert_eq!(latencies.len(), 1, "one latency per request");
    assert_eq!(latencies[0].0, "GET");
    assert_eq!(latencies[0].1, "/api/v1/namespaces/{namespace}/pods/{name}");
    assert_eq!(latencies[0].2, Duration::from_secs(3), "2 s Retry-After + 1 s after the lost connection");
    assert_eq!(m.limiter.lock().unwrap().len(), 3, "a token before every attempt");
}
