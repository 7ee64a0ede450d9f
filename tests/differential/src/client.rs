//! Raw HTTPS requests to one server: exactly the method, path, headers and body bytes
//! a corpus step names (malformed bodies included), and the response as received:
//! status, headers, body bytes, or for a watch the first events of its stream. No
//! Kubernetes client sits in between, so nothing is corrected or retried.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A request could not be sent or its response not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// TLS set-up failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The request could not be built.
    #[error("request: {0}")]
    Request(String),
    /// Sending or receiving failed.
    #[error("HTTP: {0}")]
    Http(String),
}

/// One server's HTTP client.
#[derive(Clone)]
pub struct ServerClient {
    base: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// What came back.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Response headers (lower-case names), in order.
    pub headers: Vec<(String, String)>,
    /// The body; for a watch, empty.
    pub body: Bytes,
    /// For a watch: the events read, each one JSON document.
    pub events: Option<Vec<serde_json::Value>>,
}

impl RawResponse {
    /// The values of header `name` (lower case).
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.clone()).collect()
    }
}

impl ServerClient {
    /// A client trusting `ca_pem` for `base` (`https://HOST:PORT`).
    pub fn new(base: &str, ca_pem: &str) -> Result<ServerClient, ClientError> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| ClientError::Tls(format!("CA PEM: {e}")))?;
            roots.add(cert).map_err(|e| ClientError::Tls(format!("CA: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(ServerClient { base: base.trim_end_matches('/').to_owned(), client })
    }

    /// Sends a request. `watch` = Some((events, timeout)) reads a stream of JSON events
    /// until that many arrived, the stream ended, or the time ran out.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(String, String)],
        body: Bytes,
        watch: Option<(usize, Duration)>,
    ) -> Result<RawResponse, ClientError> {
        let uri = format!("{}{}", self.base, path_and_query);
        let method = http::Method::from_bytes(method.as_bytes()).map_err(|e| ClientError::Request(e.to_string()))?;
        let mut builder = http::Request::builder().method(method).uri(&uri);
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let request = builder.body(Full::new(body)).map_err(|e| ClientError::Request(format!("{uri}: {e}")))?;
        let response = tokio::time::timeout(Duration::from_secs(60), self.client.request(request))
            .await
            .map_err(|_| ClientError::Http(format!("{uri}: no response in 60 s")))?
            .map_err(|e| ClientError::Http(format!("{uri}: {e:?}")))?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        let mut body = response.into_body();
        match watch {
            Some((wanted, limit)) if status == 200 => {
                let mut events = Vec::new();
                let mut buffer: Vec<u8> = Vec::new();
                let deadline = tokio::time::Instant::now() + limit;
                while events.len() < wanted {
                    let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                        Err(_) | Ok(None) => break,
                        Ok(Some(Err(e))) => return Err(ClientError::Http(format!("{uri}: stream: {e}"))),
                        Ok(Some(Ok(frame))) => frame,
                    };
                    if let Ok(data) = frame.into_data() {
                        buffer.extend_from_slice(&data);
                    }
                    let mut stream = serde_json::Deserializer::from_slice(&buffer).into_iter::<serde_json::Value>();
                    let mut consumed = 0;
                    while let Some(Ok(v)) = stream.next() {
                        events.push(v);
                        consumed = stream.byte_offset();
                    }
                    buffer.drain(..consumed);
                }
                // The first `wanted` events: one read may bring more, as many as happened
                // to share its chunk, which differs from run to run.
                events.truncate(wanted);
                Ok(RawResponse { status, headers, body: Bytes::new(), events: Some(events) })
            }
            _ => {
                let collected = tokio::time::timeout(Duration::from_secs(60), body.collect())
                    .await
                    .map_err(|_| ClientError::Http(format!("{uri}: body not complete in 60 s")))?
                    .map_err(|e| ClientError::Http(format!("{uri}: body: {e}")))?;
                Ok(RawResponse { status, headers, body: collected.to_bytes(), events: None })
            }
        }
    }
}
