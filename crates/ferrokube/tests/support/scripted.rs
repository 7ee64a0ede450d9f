//! A plain HTTP/1.1 server that answers a script, one step per request, and can also
//! drop the connection instead of answering (for connection-loss retries). It records
//! each request with the (tokio) time it arrived, so tests on a paused clock can check
//! the waits between attempts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tokio::time::Instant;

use super::{Reply, Seen};

/// What the server does with one request.
#[derive(Clone, Debug)]
pub enum Step {
    /// Answer with this reply.
    Reply(Reply),
    /// Close the connection without answering.
    Abort,
}

/// How an [`Step::Abort`] closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortMode {
    /// A normal close: the client sees an unexpected EOF.
    Eof,
    /// A reset (`SO_LINGER` 0): the client sees "connection reset by peer".
    Reset,
}

/// One recorded request and when it arrived.
#[derive(Clone, Debug)]
pub struct Hit {
    pub seen: Seen,
    pub at: Instant,
}

pub struct ScriptedServer {
    pub url: String,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ScriptedServer {
    /// Serves `steps` in order; the last step repeats forever.
    pub async fn start(steps: Vec<Step>, abort: AbortMode) -> ScriptedServer {
        assert!(!steps.is_empty());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(Mutex::new(Vec::new()));
        let steps = Arc::new(steps);
        let next = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                if abort == AbortMode::Reset {
                    #[allow(deprecated)]
                    let _ = tcp.set_linger(Some(Duration::ZERO));
                }
                let (steps, next, hits) = (steps.clone(), next.clone(), h.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (steps, next, hits) = (steps.clone(), next.clone(), hits.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            let seen = Seen {
                                method: parts.method,
                                path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                                headers: parts.headers,
                                version: parts.version,
                                body,
                                client_cert: None,
                            };
                            hits.lock().unwrap().push(Hit { seen, at: Instant::now() });
                            let i = next.fetch_add(1, Ordering::SeqCst).min(steps.len() - 1);
                            let reply = match &steps[i] {
                                Step::Abort => return Err("abort: closing the connection"),
                                Step::Reply(r) => r.clone(),
                            };
                            if let Some(d) = reply.delay {
                                tokio::time::sleep(d).await;
                            }
                            let mut resp = http::Response::builder().status(reply.status);
                            for (k, v) in &reply.headers {
                                resp = resp.header(k, v);
                            }
                            let body: Bytes = reply.chunks.concat().into();
                            Ok::<_, &'static str>(resp.body(Full::new(body)).unwrap())
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        ScriptedServer { url, hits, task }
    }

    /// Every request seen so far.
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn count(&self) -> usize {
        self.hits.lock().unwrap().len()
    }

    /// The time between consecutive requests.
    pub fn gaps(&self) -> Vec<Duration> {
        let hits = self.hits();
        hits.windows(2).map(|w| w[1].at - w[0].at).collect()
    }

    /// A config for this server, core group v1.
    pub fn config(&self) -> ferrokube::rest::Config {
        let mut c = ferrokube::rest::Config::new(self.url.clone());
        c.content.group_version = Some((String::new(), "v1".to_owned()));
        c
    }
}
