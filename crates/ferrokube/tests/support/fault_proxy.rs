//! A fault-injection proxy between the ferrokube client and the embedded API server,
//! for tests that prove informers and controllers converge when the network and the
//! server misbehave (tests/faults.rs).
//!
//! ```text
//! client (rest::Config from FaultCluster::config)
//!   --HTTPS (h2 or http/1.1, the proxy's certificate)-->  FaultProxy  (fixed address)
//!        decides per request, from a script or a seeded random draw, whether to
//!        cut the answer, stall it, answer 410 Gone or 429 itself
//!   --HTTPS (http/1.1)-->  EmbeddedServer  (real server; durable data dir; its port
//!                          changes on every FaultCluster::restart, the proxy's does not)
//! ```
//!
//! [`FaultCluster::start`] makes a throw-away CA (rcgen, [`Pki`]), one serving
//! certificate for `localhost`/`127.0.0.1` used by both the server
//! (`--tls-cert-file`) and the proxy, a static admin token (`--token-auth-file`) and a
//! data directory (`--data-dir`, SQLite). Because certificate and token are files, a
//! restarted server accepts the same client credentials and is trusted by the same CA:
//! the client only notices a restart through the connections it cuts.
//!
//! Faults ([`Fault`]), each applied to a request class ([`Target`]):
//! * [`Fault::CutAfterBytes`] / [`Fault::CutAfterEvents`]: forward the answer, then
//!   abort the connection after that many body bytes or complete watch events (JSON
//!   lines or protobuf frames), as a dropped connection would (20 ms after the last
//!   bytes let through, so that they reach the client: HTTP/2 discards what a reset
//!   stream still has queued);
//! * [`Fault::Stall`]: hold the request that long before forwarding it;
//! * [`Fault::Gone`]: a watch gets `200` and one `ERROR` event carrying a 410 `Expired`
//!   Status, as kube-apiserver sends when the resourceVersion was compacted
//!   ([`Fault::GoneAfterEvents`]: the same after some events of an open watch); a list
//!   with a `continue` token or a resourceVersion gets a 410 `Expired` answer (a
//!   scripted 410 waits for such a list: a list of the latest state never gets one);
//! * [`Fault::TooManyRequests`]: a 429 `TooManyRequests` Status with `Retry-After`,
//!   as priority and fairness answers under load;
//! * restarts: [`FaultCluster::restart`] stops the server (open watches end, requests
//!   in flight fail) and starts a new one on the same data directory.
//!
//! Injection is deterministic: [`FaultProxy::script`] queues faults for the next
//! matching requests, and [`FaultProxy::random`] draws from a xorshift generator
//! seeded by the test, so a seed names one sequence of decisions (the order in which
//! concurrent requests reach the proxy still varies from run to run).
//! [`FaultProxy::injected`] counts what was actually injected, so a test can assert
//! that its faults happened.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use ferrokube::rest::{Config, RateLimiterChoice};
use ferrokube::secret::SecretString;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};

use super::{CertKey, Pki};

/// The static admin token of every server a [`FaultCluster`] starts.
pub const TOKEN: &str = "fault-proxy-admin-token";

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every request.
    Any,
    /// `GET` with `watch=true` (or a `/watch/` path).
    Watch,
    /// `GET` of a collection, not a watch.
    List,
    /// `POST`, `PUT`, `PATCH`, `DELETE`.
    Write,
}

/// What the proxy does to a request (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward, then abort the connection after this many body bytes.
    CutAfterBytes(usize),
    /// Forward, then abort the connection after this many complete watch events.
    CutAfterEvents(usize),
    /// Watch: forward this many events, then send an ERROR event with a 410 Status and
    /// end the stream, as kube-apiserver does when a watcher fell too far behind (a JSON
    /// line or a protobuf frame, as the stream is). Applied to watches only.
    GoneAfterEvents(usize),
    /// Hold the request this long, then forward it.
    Stall(Duration),
    /// Watch: an ERROR event with a 410 Status. List with `continue` or a
    /// resourceVersion: a 410 answer. Not applied to other requests (a scripted one
    /// waits for a request it applies to).
    Gone,
    /// A 429 answer with this `Retry-After`.
    TooManyRequests {
        /// Seconds in the `Retry-After` header (and the Status details).
        retry_after_seconds: u32,
    },
}

/// How many faults were injected, by kind (each counted when it took effect: a cut
/// when the connection was cut, not when the request was chosen).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// Connections cut after some bytes or events.
    pub cuts: u64,
    /// Requests held back.
    pub stalls: u64,
    /// 410 answers and ERROR events.
    pub gone: u64,
    /// 429 answers.
    pub too_many_requests: u64,
    /// Server restarts.
    pub restarts: u64,
    /// Requests the proxy saw.
    pub requests: u64,
}

#[derive(Default)]
struct Counters {
    cuts: AtomicU64,
    stalls: AtomicU64,
    gone: AtomicU64,
    too_many_requests: AtomicU64,
    restarts: AtomicU64,
    requests: AtomicU64,
}

/// A random rule: requests of `target` get `fault` with probability `probability`.
#[derive(Clone, Debug)]
pub struct RandomRule {
    /// Which requests.
    pub target: Target,
    /// What happens to them.
    pub fault: Fault,
    /// How often, in `[0, 1]`.
    pub probability: f64,
}

impl RandomRule {
    /// `fault` for requests of `target`, with `probability`.
    pub fn new(target: Target, fault: Fault, probability: f64) -> Self {
        RandomRule { target, fault, probability }
    }
}

/// A small deterministic generator (xorshift64*): the same seed, the same draws.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A draw in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Default)]
struct Plan {
    /// Faults for the next matching requests, in order.
    scripted: VecDeque<(Target, Fault)>,
    /// Rules drawn for every request not taken by the script.
    random: Vec<RandomRule>,
    rng: Option<XorShift>,
}

impl Plan {
    /// The fault for a request of `class`; `gone_ok`: whether a 410 makes sense for it
    /// (a watch, or a list with `continue` or a resourceVersion). A fault that does
    /// not apply to the request is left for a later one.
    fn decide(&mut self, class: Target, gone_ok: bool) -> Option<Fault> {
        let applies = |target: Target, fault: &Fault| {
            matches(target, class)
                && match fault {
                    Fault::Gone => gone_ok,
                    Fault::GoneAfterEvents(_) => class == Target::Watch,
                    _ => true,
                }
        };
        if let Some(i) = self.scripted.iter().position(|(t, f)| applies(*t, f)) {
            return self.scripted.remove(i).map(|(_, f)| f);
        }
        let rng = self.rng.as_mut()?;
        for rule in &self.random {
            if applies(rule.target, &rule.fault) && rng.unit() < rule.probability {
                return Some(rule.fault.clone());
            }
        }
        None
    }
}

fn matches(target: Target, class: Target) -> bool {
    target == Target::Any || target == class
}

type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;
type ProxyBody = UnsyncBoxBody<Bytes, io::Error>;

struct Shared {
    /// `https://127.0.0.1:PORT` of the current server.
    upstream: Mutex<String>,
    client: UpstreamClient,
    plan: Mutex<Plan>,
    counters: Counters,
}

/// The proxy: an HTTPS server on a fixed loopback port forwarding to the current
/// upstream. Stops when dropped.
pub struct FaultProxy {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Serves with `cert` and forwards to `upstream` (`https://host:port`), trusting
    /// `upstream_ca_pem`.
    pub async fn start(cert: &CertKey, upstream: String, upstream_ca_pem: &str) -> FaultProxy {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());

        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from_pem_slice(upstream_ca_pem.as_bytes()).unwrap()).unwrap();
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);

        let certs = vec![CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).unwrap();
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            client,
            plan: Mutex::new(Plan::default()),
            counters: Counters::default(),
        });
        let accept_shared = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let acceptor = acceptor.clone();
                let shared = Arc::clone(&accept_shared);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let svc = hyper::service::service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { handle(shared, req).await }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        FaultProxy { url: format!("https://{addr}"), shared, task }
    }

    /// Points the proxy at another server (after a restart).
    pub fn set_upstream(&self, upstream: String) {
        *self.shared.upstream.lock().unwrap() = upstream;
    }

    /// The next `times` requests of `target` get `fault` (before any random rule).
    pub fn script(&self, target: Target, fault: Fault, times: usize) {
        let mut plan = self.shared.plan.lock().unwrap();
        plan.scripted.extend(std::iter::repeat_n((target, fault), times));
    }

    /// From now on, every request is matched against `rules` in order, drawing from a
    /// generator seeded with `seed`; the first rule whose draw succeeds applies.
    pub fn random(&self, seed: u64, rules: Vec<RandomRule>) {
        let mut plan = self.shared.plan.lock().unwrap();
        plan.random = rules;
        plan.rng = Some(XorShift::new(seed));
    }

    /// Stops injecting: forgets the script and the random rules.
    pub fn clear(&self) {
        *self.shared.plan.lock().unwrap() = Plan::default();
    }

    /// What was injected so far.
    pub fn injected(&self) -> Injected {
        let c = &self.shared.counters;
        Injected {
            cuts: c.cuts.load(Ordering::Relaxed),
            stalls: c.stalls.load(Ordering::Relaxed),
            gone: c.gone.load(Ordering::Relaxed),
            too_many_requests: c.too_many_requests.load(Ordering::Relaxed),
            restarts: c.restarts.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
        }
    }
}

/// The class of a request, from its method, path and query.
fn classify(req: &http::Request<Incoming>) -> Target {
    if req.method() != http::Method::GET {
        return if req.method() == http::Method::HEAD || req.method() == http::Method::OPTIONS {
            Target::Any
        } else {
            Target::Write
        };
    }
    let query = req.uri().query().unwrap_or("");
    let path = req.uri().path();
    if query.split('&').any(|kv| kv == "watch=true" || kv == "watch=1") || path.contains("/watch/") {
        return Target::Watch;
    }
    // /api/v1/... or /apis/GROUP/VERSION/...; then namespaces/NS/ for namespaced ones.
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest = match segments.first() {
        Some(&"api") if segments.len() >= 2 => &segments[2..],
        Some(&"apis") if segments.len() >= 3 => &segments[3..],
        _ => return Target::Any,
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() >= 3 { &rest[2..] } else { rest };
    if rest.len() == 1 {
        Target::List
    } else {
        Target::Any
    }
}

fn query_param<'a>(req: &'a http::Request<Incoming>, name: &str) -> Option<&'a str> {
    req.uri().query()?.split('&').find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn status_json(code: u16, reason: &str, message: &str, retry_after: Option<u32>) -> serde_json::Value {
    let mut status = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    if let Some(s) = retry_after {
        status["details"] = serde_json::json!({"retryAfterSeconds": s});
    }
    status
}

/// A watch ERROR event carrying a 410 `Expired` Status, as one JSON line.
fn gone_event() -> Bytes {
    let status = status_json(410, "Expired", "fault proxy: too old resource version", None);
    Bytes::from(format!("{}\n", serde_json::json!({"type": "ERROR", "object": status})))
}

/// The same event as one protobuf watch frame.
fn gone_event_protobuf() -> Bytes {
    use ferrokube_apimachinery::protobuf::encode::encode_body;
    use ferrokube_apimachinery::protobuf::envelope::encode_watch_frame;
    let status = status_json(410, "Expired", "fault proxy: too old resource version", None);
    let object = encode_body("v1", "Status", &status).expect("a Status encodes");
    Bytes::from(encode_watch_frame("ERROR", &object))
}

fn full(body: impl Into<Bytes>) -> ProxyBody {
    Full::new(body.into()).map_err(|e: Infallible| match e {}).boxed_unsync()
}

fn json_answer(code: u16, body: &serde_json::Value) -> http::Response<ProxyBody> {
    http::Response::builder()
        .status(code)
        .header("content-type", "application/json")
        .body(full(body.to_string()))
        .unwrap()
}

/// Answers one request: a fault the proxy makes up, or the server's answer (maybe cut).
async fn handle(shared: Arc<Shared>, req: http::Request<Incoming>) -> Result<http::Response<ProxyBody>, io::Error> {
    shared.counters.requests.fetch_add(1, Ordering::Relaxed);
    let class = classify(&req);
    let continued = query_param(&req, "continue").is_some_and(|c| !c.is_empty());
    let pinned = query_param(&req, "resourceVersion").is_some_and(|v| !v.is_empty() && v != "0");
    let gone_ok = class == Target::Watch || (class == Target::List && (continued || pinned));
    let fault = shared.plan.lock().unwrap().decide(class, gone_ok);
    let mut cut = None;
    match fault {
        None => {}
        Some(Fault::Stall(d)) => {
            shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(d).await;
        }
        Some(Fault::TooManyRequests { retry_after_seconds }) => {
            shared.counters.too_many_requests.fetch_add(1, Ordering::Relaxed);
            let body = status_json(
                429,
                "TooManyRequests",
                "fault proxy: too many requests, please try again later",
                Some(retry_after_seconds),
            );
            let mut resp = json_answer(429, &body);
            resp.headers_mut().insert("retry-after", retry_after_seconds.into());
            return Ok(resp);
        }
        Some(Fault::Gone) if class == Target::Watch => {
            shared.counters.gone.fetch_add(1, Ordering::Relaxed);
            // In the format asked for, as the server would answer.
            let protobuf = req
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/vnd.kubernetes.protobuf"));
            let (content_type, event) = if protobuf {
                ("application/vnd.kubernetes.protobuf;stream=watch", gone_event_protobuf())
            } else {
                ("application/json", gone_event())
            };
            let resp =
                http::Response::builder().status(200).header("content-type", content_type).body(full(event)).unwrap();
            return Ok(resp);
        }
        Some(Fault::Gone) => {
            shared.counters.gone.fetch_add(1, Ordering::Relaxed);
            let message = if continued {
                "fault proxy: the provided continue parameter is too old to display a consistent list result"
            } else {
                "fault proxy: too old resource version"
            };
            return Ok(json_answer(410, &status_json(410, "Expired", message, None)));
        }
        Some(Fault::CutAfterBytes(n)) => cut = Some((Cut::Bytes(n), Then::Abort)),
        Some(Fault::CutAfterEvents(n)) => cut = Some((Cut::Events(n), Then::Abort)),
        Some(Fault::GoneAfterEvents(n)) => cut = Some((Cut::Events(n), Then::Gone)),
    }

    let (mut parts, body) = req.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    let upstream = shared.upstream.lock().unwrap().clone();
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    parts.uri = format!("{upstream}{path}").parse().map_err(io::Error::other)?;
    parts.version = http::Version::HTTP_11;
    parts.headers.remove(http::header::HOST);
    parts.headers.remove(http::header::CONNECTION);
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    let upstream_req = http::Request::from_parts(parts, Full::new(body));
    // A server that is down (restarting) makes the proxy drop the request: the client
    // sees its connection fail, as it would talking to the server itself.
    let resp = shared.client.request(upstream_req).await.map_err(io::Error::other)?;
    let (mut parts, body) = resp.into_parts();
    parts.headers.remove(http::header::CONNECTION);
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    let protobuf = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("protobuf"));
    let body = match cut {
        None => body.map_err(io::Error::other).boxed_unsync(),
        Some((cut, then)) => FaultBody {
            inner: body,
            cut,
            then,
            protobuf,
            sent: 0,
            frames: FrameCounter::new(protobuf),
            shared,
            cut_done: false,
            flush: None,
        }
        .boxed_unsync(),
    };
    Ok(http::Response::from_parts(parts, body))
}

/// Where a cut happens.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Bytes(usize),
    Events(usize),
}

/// What happens at the cut point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// The connection is aborted.
    Abort,
    /// A 410 ERROR event, then the stream ends normally.
    Gone,
}

/// Counts complete watch events in a byte stream: JSON lines, or protobuf frames
/// (4-byte big-endian length, then that many bytes).
struct FrameCounter {
    protobuf: bool,
    complete: usize,
    /// Protobuf: bytes of the length prefix read so far, and the frame bytes left.
    header: Vec<u8>,
    left: usize,
}

impl FrameCounter {
    fn new(protobuf: bool) -> Self {
        FrameCounter { protobuf, complete: 0, header: Vec::new(), left: 0 }
    }

    /// Feeds `data`; returns the offset just after the event that makes `target`
    /// complete events, if it is in `data`.
    fn feed(&mut self, data: &[u8], target: usize) -> Option<usize> {
        if self.complete >= target {
            return Some(0);
        }
        let mut i = 0;
        while i < data.len() {
            if !self.protobuf {
                let pos = memchr_newline(&data[i..])?;
                i += pos + 1;
                self.complete += 1;
            } else if self.left > 0 {
                let take = self.left.min(data.len() - i);
                self.left -= take;
                i += take;
                if self.left == 0 {
                    self.complete += 1;
                } else {
                    continue;
                }
            } else {
                self.header.push(data[i]);
                i += 1;
                if self.header.len() == 4 {
                    let len = u32::from_be_bytes([self.header[0], self.header[1], self.header[2], self.header[3]]);
                    self.header.clear();
                    self.left = len as usize;
                    if self.left == 0 {
                        self.complete += 1;
                    } else {
                        continue;
                    }
                } else {
                    continue;
                }
            }
            if self.complete >= target {
                return Some(i);
            }
        }
        None
    }
}

fn memchr_newline(data: &[u8]) -> Option<usize> {
    data.iter().position(|b| *b == b'\n')
}

/// The server's answer, aborted with an error at the cut point.
struct FaultBody {
    inner: Incoming,
    cut: Cut,
    then: Then,
    protobuf: bool,
    sent: usize,
    frames: FrameCounter,
    shared: Arc<Shared>,
    cut_done: bool,
    /// Started at the cut point: the connection is aborted when it fires.
    flush: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// How long a cut waits after the last bytes it lets through.
const FLUSH_BEFORE_CUT: Duration = Duration::from_millis(20);

impl FaultBody {
    /// At the cut point: abort, or end with a 410 ERROR event.
    fn abort(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if self.then == Then::Gone {
            self.cut_done = true;
            self.shared.counters.gone.fetch_add(1, Ordering::Relaxed);
            let event = if self.protobuf { gone_event_protobuf() } else { gone_event() };
            return Poll::Ready(Some(Ok(Frame::data(event))));
        }
        // Abort only once what was sent had time to leave: HTTP/2 drops the frames a
        // reset stream still has queued, and the client would see no answer at all.
        let flushed = self.flush.get_or_insert_with(|| Box::pin(tokio::time::sleep(FLUSH_BEFORE_CUT)));
        if flushed.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.cut_done = true;
        self.shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
        Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::ConnectionAborted, "fault proxy: connection cut"))))
    }
}

impl Body for FaultBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.cut_done {
            return Poll::Ready(None);
        }
        // A cut at 0 bytes / 0 events: abort before anything is sent.
        let at_start = match this.cut {
            Cut::Bytes(n) => this.sent >= n,
            Cut::Events(n) => this.frames.complete >= n,
        };
        if at_start {
            return this.abort(cx);
        }
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(io::Error::other(e)))),
            Poll::Ready(Some(Ok(frame))) => frame,
        };
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => return Poll::Ready(Some(Ok(frame))),
        };
        let keep = match this.cut {
            Cut::Bytes(n) => (n - this.sent < data.len()).then_some(n - this.sent),
            Cut::Events(n) => this.frames.feed(&data, n),
        };
        this.sent += data.len();
        match keep {
            // The cut point is inside this chunk: send up to it; the next poll aborts.
            Some(k) if k > 0 => {
                this.sent = usize::MAX;
                this.frames.complete = usize::MAX;
                Poll::Ready(Some(Ok(Frame::data(data.slice(..k)))))
            }
            Some(_) => this.abort(cx),
            None => Poll::Ready(Some(Ok(Frame::data(data)))),
        }
    }
}

/// An embedded server on a durable data directory behind a [`FaultProxy`]; see the
/// [module docs](self).
pub struct FaultCluster {
    /// The proxy the client talks to.
    pub proxy: FaultProxy,
    server: tokio::sync::Mutex<Option<EmbeddedServer>>,
    options: ServerOptions,
    pki: Pki,
    _dir: tempfile::TempDir,
}

impl FaultCluster {
    /// A server (controllers off: only the test writes) and a proxy in front of it.
    pub async fn start() -> FaultCluster {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new("fault-proxy-ca");
        let cert = pki.server_cert();
        let path = |name: &str| -> PathBuf { dir.path().join(name) };
        std::fs::write(path("tls.crt"), &cert.cert_pem).unwrap();
        std::fs::write(path("tls.key"), &cert.key_pem).unwrap();
        std::fs::write(path("tokens.csv"), format!("{TOKEN},fault-admin,fault-admin,\"system:masters\"\n")).unwrap();
        let options = ServerOptions {
            tls_cert_file: Some(path("tls.crt")),
            tls_private_key_file: Some(path("tls.key")),
            token_auth_file: Some(path("tokens.csv")),
            data_dir: Some(path("data")),
            controllers: false,
            ..ServerOptions::default()
        };
        let server = EmbeddedServer::start(options.clone()).await.expect("the embedded server starts");
        let proxy = FaultProxy::start(&cert, server.url().to_owned(), &pki.ca_pem()).await;
        FaultCluster { proxy, server: tokio::sync::Mutex::new(Some(server)), options, pki, _dir: dir }
    }

    /// A client config for the proxy: its CA, the admin token, no client-side rate
    /// limit.
    pub fn config(&self) -> Config {
        let mut config = Config::new(self.proxy.url.clone());
        config.tls.ca_data = Some(self.pki.ca_pem().into_bytes());
        config.bearer_token = Some(SecretString::new(TOKEN));
        config.rate_limiter = RateLimiterChoice::Disabled;
        config
    }

    /// Stops the server (watches end, requests in flight fail, new requests fail until
    /// it is back) and starts it again on the same data directory; the proxy then
    /// forwards to the new one.
    pub async fn restart(&self) {
        let mut slot = self.server.lock().await;
        if let Some(old) = slot.take() {
            old.shutdown().await;
        }
        let server = EmbeddedServer::start(self.options.clone()).await.expect("the embedded server restarts");
        self.proxy.set_upstream(server.url().to_owned());
        *slot = Some(server);
        self.proxy.shared.counters.restarts.fetch_add(1, Ordering::Relaxed);
    }
}
