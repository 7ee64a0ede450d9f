//! A minimal HTTPS client for the server integration tests: rustls (ring) + hyper's
//! connection-level client, HTTP/2 or HTTP/1.1 by ALPN. Deliberately independent of the
//! ferrokube client crate.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How to reach the server.
#[derive(Clone)]
pub struct Client {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub token: Option<String>,
    pub client_cert: Option<(String, String)>,
    pub alpn: Vec<Vec<u8>>,
}

/// A complete response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub alpn: Option<Vec<u8>>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

impl Client {
    pub fn new(server: &ferrokube_apiserver::EmbeddedServer) -> Client {
        Client {
            addr: server.local_addr(),
            ca_pem: server.ca_certificate_pem().to_owned(),
            token: Some(server.admin_token().expose().to_owned()),
            client_cert: None,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }

    pub fn anonymous(mut self) -> Client {
        self.token = None;
        self.client_cert = None;
        self
    }

    pub fn with_token(mut self, token: &str) -> Client {
        self.token = Some(token.to_owned());
        self
    }

    pub fn with_cert(mut self, cert_pem: &str, key_pem: &str) -> Client {
        self.token = None;
        self.client_cert = Some((cert_pem.to_owned(), key_pem.to_owned()));
        self
    }

    pub fn http1_only(mut self) -> Client {
        self.alpn = vec![b"http/1.1".to_vec()];
        self
    }

    fn tls_config(&self) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match &self.client_cert {
            Some((cert, key)) => {
                let chain: Vec<_> = CertificateDer::pem_slice_iter(cert.as_bytes()).map(|c| c.unwrap()).collect();
                let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        config
    }

    /// A raw TLS connection (ALPN as configured), for sending malformed bytes.
    pub async fn raw(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let connector = TlsConnector::from(Arc::new(self.tls_config()));
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap()
    }

    /// Send a request and return the streaming response.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<(http::Response<Incoming>, Option<Vec<u8>>), Box<dyn std::error::Error + Send + Sync>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let connector = TlsConnector::from(Arc::new(self.tls_config()));
        let tls = connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await?;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        let io = TokioIo::new(tls);
        let mut builder = Request::builder().method(method);
        let h2 = alpn.as_deref() == Some(b"h2");
        builder = if h2 {
            builder.uri(format!("https://localhost:{}{}", self.addr.port(), path))
        } else {
            builder.uri(path).header("host", format!("localhost:{}", self.addr.port()))
        };
        if let Some(t) = &self.token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let req = builder.body(Full::new(body.into()))?;
        let resp = if h2 {
            let (mut sender, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            sender.send_request(req).await?
        } else {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
            tokio::spawn(conn);
            sender.send_request(req).await?
        };
        Ok((resp, alpn))
    }

    /// Send a request and read the whole response.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Resp, Box<dyn std::error::Error + Send + Sync>> {
        let (resp, alpn) = self.send(method, path, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Resp { status: parts.status.as_u16(), headers: parts.headers, body, alpn })
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, &[], Bytes::new()).await.unwrap()
    }

    pub async fn get_accept(&self, path: &str, accept: &str) -> Resp {
        self.request(Method::GET, path, &[("accept", accept)], Bytes::new()).await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Resp {
        let body = serde_json::to_vec(body).unwrap();
        self.request(Method::POST, path, &[("content-type", "application/json")], body).await.unwrap()
    }
}

/// Assert `resp` is a `Status` failure with `code` and `reason`.
pub fn assert_status(resp: &Resp, code: u16, reason: &str) {
    assert_eq!(resp.status, code, "body: {}", String::from_utf8_lossy(&resp.body));
    assert_eq!(resp.header("content-type"), "application/json");
    let s = resp.json();
    assert_eq!(s["kind"], "Status");
    assert_eq!(s["apiVersion"], "v1");
    assert_eq!(s["status"], "Failure");
    assert_eq!(s["code"], code);
    assert_eq!(s["reason"], reason, "{s}");
}
