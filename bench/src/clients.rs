//! The three clients every workload runs: ferrokube, kube-rs, and a raw hyper client
//! (HTTP/2 when the server negotiates it, no decoding) that measures the server alone.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A ferrokube RESTClient for core/v1 built from the server's kubeconfig the way a
/// user's program would (`clientcmd`), with the client-side rate limiter disabled
/// (kube-rs has none; leaving client-go's default 5 QPS on would measure the limiter).
pub fn ferrokube(kubeconfig: &Path) -> Result<ferrokube::RESTClient, String> {
    ferrokube_with_protos(kubeconfig, &[])
}

/// The same client offering only HTTP/1.1 in ALPN (`tls.next_protos`, client-go
/// `TLSClientConfig.NextProtos`), as kube-rs speaks.
pub fn ferrokube_http1(kubeconfig: &Path) -> Result<ferrokube::RESTClient, String> {
    ferrokube_with_protos(kubeconfig, &["http/1.1"])
}

fn ferrokube_with_protos(kubeconfig: &Path, next_protos: &[&str]) -> Result<ferrokube::RESTClient, String> {
    let mut cfg = ferrokube::clientcmd::client_config::build_config_from_flags(None, Some(kubeconfig))
        .map_err(|e| format!("ferrokube kubeconfig: {e}"))?;
    cfg.tls.next_protos = next_protos.iter().map(|p| p.to_string()).collect();
    cfg.rate_limiter = ferrokube::rest::RateLimiterChoice::Disabled;
    cfg.content.group_version = Some((String::new(), "v1".to_owned()));
    ferrokube::RESTClient::new(&cfg).map_err(|e| format!("ferrokube client: {e}"))
}

/// A kube-rs client from the same kubeconfig, default options.
pub async fn kube_rs(kubeconfig_yaml: &str) -> Result<kube::Client, String> {
    let kc = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml).map_err(|e| format!("kube-rs kubeconfig: {e}"))?;
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|e| format!("kube-rs config: {e}"))?;
    kube::Client::try_from(cfg).map_err(|e| format!("kube-rs client: {e}"))
}

/// A raw hyper client: TLS with the server's CA, ALPN h2 + http/1.1, bearer token,
/// bodies read as bytes and never decoded.
#[derive(Clone)]
pub struct Raw {
    client: hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    base: String,
    auth: Arc<http::HeaderValue>,
}

impl Raw {
    /// A raw client for `base` (`https://127.0.0.1:port`).
    pub fn new(base: &str, ca_pem: &str, token: &str) -> Result<Raw, String> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pemfile::certs(&mut ca_pem.as_bytes()) {
            roots.add(cert.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_only().enable_all_versions().build();
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https);
        let auth = http::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?;
        Ok(Raw { client, base: base.trim_end_matches('/').to_owned(), auth: Arc::new(auth) })
    }

    /// Sends a GET for `path_and_query`; returns the response body.
    pub async fn get_bytes(&self, path_and_query: &str) -> Result<Bytes, String> {
        let resp = self.send(path_and_query).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        if !status.is_success() {
            return Err(format!(
                "GET {path_and_query}: {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ));
        }
        Ok(body)
    }

    /// Sends a GET and returns the streaming response.
    pub async fn send(&self, path_and_query: &str) -> Result<http::Response<hyper::body::Incoming>, String> {
        let req = http::Request::get(format!("{}{}", self.base, path_and_query))
            .header(http::header::AUTHORIZATION, (*self.auth).clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| e.to_string())?;
        self.client.request(req).await.map_err(|e| format!("GET {path_and_query}: {e:?}"))
    }
}
