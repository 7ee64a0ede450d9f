//! Test helpers shared by the `rest_*` integration tests: a throw-away PKI made with
//! rcgen, a small HTTPS (or HTTP) server built on hyper + tokio-rustls that records
//! what it saw and answers through a test-supplied handler, and an HTTP CONNECT proxy.
#![allow(dead_code)]

pub mod cluster;
pub mod fault_proxy;
pub mod numbers;
pub mod scripted;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Every request URI a [`recording_client`] sent, in order.
pub type RequestLog = Arc<Mutex<Vec<String>>>;

/// A client of `config` that records the URI of every request it sends (a transport
/// layer, as a user's `wrap_transport` would be), for tests that check which requests
/// a component made.
pub fn recording_client(mut config: ferrokube::rest::Config) -> (ferrokube::RESTClient, RequestLog) {
    use ferrokube::transport::hooks::{RequestBody, TransportLayer};
    let uris: RequestLog = Arc::default();
    let seen = Arc::clone(&uris);
    config.wrap_transport.push(TransportLayer::new(tower::layer::layer_fn(move |inner| {
        let seen = Arc::clone(&seen);
        tower::util::MapRequest::new(inner, move |req: http::Request<RequestBody>| {
            seen.lock().unwrap().push(req.uri().to_string());
            req
        })
    })));
    (ferrokube::RESTClient::new(&config).expect("client"), uris)
}

/// A CA that can issue server and client certificates.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, PEM encoded.
#[derive(Clone)]
pub struct CertKey {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        Pki { ca: CertifiedIssuer::self_signed(params, key).unwrap() }
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    pub fn issue(&self, common_name: &str, sans: &[&str]) -> CertKey {
        let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &*self.ca).unwrap();
        CertKey { cert_pem: cert.pem(), key_pem: key.serialize_pem(), cert_der: cert.der().to_vec() }
    }

    pub fn server_cert(&self) -> CertKey {
        self.issue("test-apiserver", &["localhost", "127.0.0.1", "kubernetes.default.svc"])
    }
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: http::Method,
    pub path_and_query: String,
    pub headers: http::HeaderMap,
    pub version: http::Version,
    pub body: Bytes,
    pub client_cert: Option<Vec<u8>>,
}

/// What the handler answers.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Written one after another as separate body frames, with a short pause between.
    pub chunks: Vec<Bytes>,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn json(status: u16, body: serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![Bytes::from(body.to_string())],
            delay: None,
        }
    }
    pub fn text(status: u16, body: &str) -> Reply {
        Reply { status, headers: vec![], chunks: vec![Bytes::from(body.to_owned())], delay: None }
    }
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn status_error(code: u16, reason: &str, message: &str) -> Reply {
        Reply::json(
            code,
            serde_json::json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                "message":message,"reason":reason,"code":code}),
        )
    }
}

pub type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// TLS settings of the test server.
pub struct ServerTls {
    pub cert: CertKey,
    /// CA that client certificates must chain to; `None`: no client auth.
    pub client_ca: Option<String>,
    /// Refuse clients without a certificate (only with `client_ca`).
    pub require_client_cert: bool,
    /// ALPN protocols offered, e.g. `[b"h2", b"http/1.1"]`.
    pub alpn: Vec<Vec<u8>>,
}

impl ServerTls {
    pub fn new(cert: CertKey) -> Self {
        ServerTls {
            cert,
            client_ca: None,
            require_client_cert: false,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

fn tls_acceptor(tls: &ServerTls) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let certs = vec![CertificateDer::from_pem_slice(tls.cert.cert_pem.as_bytes()).unwrap()];
    let key = PrivateKeyDer::from_pem_slice(tls.cert.key_pem.as_bytes()).unwrap();
    let builder =
        rustls::ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions().unwrap();
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(ca.as_bytes()).unwrap()).unwrap();
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let v = if tls.require_client_cert { v } else { v.allow_unauthenticated() };
            builder.with_client_cert_verifier(v.build().unwrap())
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).unwrap();
    config.alpn_protocols = tls.alpn.clone();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// Starts a server on a loopback port. `tls: None` serves plain HTTP.
pub async fn start(tls: Option<ServerTls>, handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{addr}");
    let acceptor = tls.as_ref().map(tls_acceptor);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler: Handler = Arc::new(handler);
    let seen2 = seen.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            let seen = seen2.clone();
            tokio::spawn(async move {
                match acceptor {
                    Some(acc) => {
                        let Ok(stream) = acc.accept(tcp).await else { return };
                        let cert = stream.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec());
                        serve(hyper_util::rt::TokioIo::new(stream), handler, seen, cert).await;
                    }
                    None => serve(hyper_util::rt::TokioIo::new(tcp), handler, seen, None).await,
                }
            });
        }
    });
    TestServer { addr, url, seen, task }
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

async fn serve<I>(io: I, handler: Handler, seen: Arc<Mutex<Vec<Seen>>>, cert: Option<Vec<u8>>)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let handler = handler.clone();
        let seen = seen.clone();
        let cert = cert.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let s = Seen {
                method: parts.method,
                path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
                headers: parts.headers,
                version: parts.version,
                body,
                client_cert: cert,
            };
            seen.lock().unwrap().push(s.clone());
            let reply = handler(&s);
            if let Some(d) = reply.delay {
                tokio::time::sleep(d).await;
            }
            let mut resp = http::Response::builder().status(reply.status);
            for (k, v) in &reply.headers {
                resp = resp.header(k, v);
            }
            let chunks = reply.chunks.clone();
            let body: BoxBody = if chunks.len() <= 1 {
                http_body_util::Full::new(chunks.into_iter().next().unwrap_or_default()).boxed()
            } else {
                let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
                tokio::spawn(async move {
                    for c in chunks {
                        if tx.send(Ok(Frame::data(c))).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                });
                StreamBody::new(tokio_stream_from(rx)).boxed()
            };
            Ok::<_, Infallible>(resp.body(body).unwrap())
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
        .serve_connection(io, svc)
        .await;
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_util::Stream<Item = T> + Send + Sync + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// A minimal HTTP CONNECT proxy; counts tunnels it opened.
pub struct ConnectProxy {
    pub url: String,
    pub tunnels: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn start_connect_proxy() -> ConnectProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let tunnels = Arc::new(Mutex::new(Vec::new()));
    let t2 = tunnels.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { return };
            let tunnels = t2.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read_exact(&mut byte).await.is_err() || head.len() > 8192 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let mut parts = head.split_whitespace();
                let (Some("CONNECT"), Some(target)) = (parts.next(), parts.next()) else {
                    let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n").await;
                    return;
                };
                tunnels.lock().unwrap().push(target.to_owned());
                let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                if client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await.is_err() {
                    return;
                }
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    ConnectProxy { url, tunnels, task }
}

/// A config for `server` trusting `pki`'s CA, for the core group v1.
pub fn config_for(server: &TestServer, pki: &Pki) -> ferrokube::rest::Config {
    let mut c = ferrokube::rest::Config::new(server.url.clone());
    c.tls.ca_data = Some(pki.ca_pem().into_bytes());
    c.content.group_version = Some((String::new(), "v1".to_owned()));
    c
}

pub fn pod_json(name: &str, rv: &str) -> serde_json::Value {
    serde_json::json!({"kind":"Pod","apiVersion":"v1","metadata":{"name":name,"namespace":"default","resourceVersion":rv}})
}
