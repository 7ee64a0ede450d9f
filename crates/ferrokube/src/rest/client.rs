//! `rest::client`: [`RESTClient`], the object that turns a [`Config`] into requests.
//!
//! Building a client does all the expensive and fallible work once: parse the host URL,
//! build the [`crate::transport::Transport`] from
//! [`Config::transport_config`] (CA and client certificates, the proxy route, the pooled
//! HTTP/1.1 + HTTP/2 connector wrapped in the user's
//! [`TransportLayer`](crate::transport::hooks::TransportLayer)s, the credential headers),
//! and create the shared rate limiter. A client is cheap to clone (one `Arc`);
//! clones share the connection pool, the rate limiter and the credential caches.
//! Requests are started with [`RESTClient::get`], [`RESTClient::post`], ... which return
//! a [`Request`] builder.
//!
//! ```no_run
//! # async fn run() -> Result<(), ferrokube::rest::Error> {
//! use ferrokube::rest::{Config, RESTClient};
//! use k8s_openapi::api::core::v1::Pod;
//!
//! let mut config = Config::new("https://127.0.0.1:6443");
//! config.content.group_version = Some((String::new(), "v1".to_owned()));
//! let client = RESTClient::new(&config)?;
//! let pod: Pod = client.get().namespace("default").resource("pods").name("web-0")
//!     .send().await?.into_object().await?;
//! # let _ = pod; Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::backoff::BackoffFactory;
use super::config::{Config, ContentConfig, RateLimiterChoice, DEFAULT_BURST, DEFAULT_QPS};
use super::errors::{ConfigError, Error, HostError};
use super::options::PatchType;
use super::rate_limit::TokenBucket;
use super::request::Request;
use super::request_url::clean_join;
use super::warnings::{LogOnceWarningHandler, WarningHandler};
use crate::tools::metrics::{NoMetrics, RequestMetrics};
use crate::transport::Transport;

/// A client for one API server, group and version (client-go `rest.RESTClient`).
#[derive(Clone)]
pub struct RESTClient {
    pub(crate) inner: Arc<ClientInner>,
}

pub(crate) struct ClientInner {
    /// Scheme, host and port; the path is empty.
    pub(crate) base: url::Url,
    /// Path prefix of the host URL without a trailing slash (often empty).
    pub(crate) host_prefix: String,
    /// `/api`, `/apis` or empty.
    pub(crate) api_path: String,
    pub(crate) group_version: Option<(String, String)>,
    pub(crate) content: ContentConfig,
    /// Connection pool, TLS, proxy, middleware and the headers every request carries.
    pub(crate) transport: Transport,
    pub(crate) rate_limiter: Option<Arc<TokenBucket>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_retries: u32,
    /// `Config::list_decode_threads`.
    pub(crate) list_decode_threads: usize,
    pub(crate) warnings: Arc<dyn WarningHandler>,
    pub(crate) compression: bool,
    pub(crate) backoff: BackoffFactory,
    pub(crate) metrics: Arc<dyn RequestMetrics>,
    /// `host:port` of `base`, the host label of metrics.
    pub(crate) host_label: String,
}

impl std::fmt::Debug for RESTClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("RESTClient")
            .field("base", &i.base.as_str())
            .field("versioned_api_path", &self.versioned_api_path())
            .field("transport", &i.transport)
            .field("rate_limiter", &i.rate_limiter.as_ref().map(|r| (r.qps(), r.burst())))
            .field("timeout", &i.timeout)
            .field("max_retries", &i.max_retries)
            .field("compression", &i.compression)
            .field("backoff", &i.backoff)
            .finish_non_exhaustive()
    }
}

/// Parses `host` the way client-go's `DefaultServerURL` does: a full URL, or a
/// `host:port` that gets `https://` when TLS settings are present and `http://`
/// otherwise. Returns the URL without path and the path prefix.
pub(crate) fn parse_host(host: &str, default_tls: bool) -> Result<(url::Url, String), ConfigError> {
    let bad = |reason: HostError| ConfigError::InvalidHost { host: host.to_owned(), reason };
    let host = host.trim();
    if host.is_empty() {
        return Err(bad(HostError::Empty));
    }
    let parsed = match url::Url::parse(host) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => u,
        Ok(u) if host.contains("://") => return Err(bad(HostError::UnsupportedScheme(u.scheme().to_owned()))),
        Err(e) if host.contains("://") => return Err(bad(HostError::NotAUrl(e))),
        _ => {
            let scheme = if default_tls { "https" } else { "http" };
            url::Url::parse(&format!("{scheme}://{host}")).map_err(|e| bad(HostError::NotAUrl(e)))?
        }
    };
    if !parsed.has_host() {
        return Err(bad(HostError::NoHost));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad(HostError::QueryOrFragment));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad(HostError::Credentials));
    }
    let prefix = parsed.path().trim_end_matches('/').to_owned();
    let mut base = parsed;
    base.set_path("");
    Ok((base, prefix))
}

/// client-go's `DefaultVersionedAPIPath`: `api_path/group/version` (core group:
/// `api_path/version`). An empty `api_path` is derived from the group.
pub(crate) fn versioned_path(host_prefix: &str, api_path: &str, gv: Option<(&str, &str)>) -> String {
    let derived;
    let api_path = if api_path.is_empty() {
        derived = match gv {
            Some(("", _)) => "/api",
            Some(_) => "/apis",
            None => "",
        };
        derived
    } else {
        api_path
    };
    let (group, version) = gv.unwrap_or(("", ""));
    let joined = clean_join(&["/", host_prefix, api_path, group, version]);
    if joined == "/" {
        String::new()
    } else {
        joined
    }
}

impl RESTClient {
    /// Builds a client from `config` (client-go `rest.RESTClientFor`). Fails with a
    /// [`ConfigError`] naming the setting when the host URL, a CA or certificate file,
    /// PEM data, the proxy or the auth settings are unusable.
    pub fn new(config: &Config) -> Result<Self, Error> {
        let tls = &config.tls;
        let default_tls = tls.insecure
            || tls.ca_data.is_some()
            || tls.ca_file.is_some()
            || tls.cert_data.is_some()
            || tls.cert_file.is_some();
        let (base, host_prefix) = parse_host(&config.host, default_tls)?;

        let server_uri: http::Uri = base.as_str().parse().map_err(|e: http::uri::InvalidUri| {
            ConfigError::InvalidHost { host: config.host.clone(), reason: HostError::InvalidUri(e.to_string()) }
        })?;
        let transport = Transport::new(&config.transport_config(), &server_uri)?;
        tracing::debug!(host = %base, "building REST client");

        let rate_limiter = match &config.rate_limiter {
            RateLimiterChoice::Disabled => None,
            RateLimiterChoice::Shared(l) => Some(l.clone()),
            RateLimiterChoice::FromQpsBurst => {
                let qps = if config.qps == 0.0 { DEFAULT_QPS } else { config.qps };
                let burst = if config.burst == 0 { DEFAULT_BURST } else { config.burst };
                (qps > 0.0).then(|| Arc::new(TokenBucket::new(qps, burst)))
            }
        };
        let warnings: Arc<dyn WarningHandler> = match &config.warning_handler {
            Some(h) => h.clone(),
            None => Arc::new(LogOnceWarningHandler::new()),
        };
        let host_label = base[url::Position::BeforeHost..url::Position::AfterPort].to_owned();
        let metrics: Arc<dyn RequestMetrics> = match &config.metrics {
            Some(m) => m.clone(),
            None => Arc::new(NoMetrics),
        };
        if let (Some(m), Some(provider)) = (&config.metrics, &config.credential_provider) {
            provider.attach_metrics(m.clone());
        }
        Ok(RESTClient {
            inner: Arc::new(ClientInner {
                host_label,
                backoff: BackoffFactory::new(&config.backoff),
                metrics,
                base,
                host_prefix,
                api_path: config.api_path.clone(),
                group_version: config.content.group_version.clone(),
                content: config.content.clone(),
                transport,
                rate_limiter,
                timeout: config.timeout,
                max_retries: config.max_retries,
                list_decode_threads: config.list_decode_threads,
                warnings,
                // Without the `gzip` feature no response is asked to be compressed.
                compression: cfg!(feature = "gzip") && !config.disable_compression,
            }),
        })
    }

    /// Same as [`RESTClient::new`], named after client-go's `RESTClientFor`.
    pub fn for_config(config: &Config) -> Result<Self, Error> {
        Self::new(config)
    }

    /// The server's base URL (scheme, host, port, and host path prefix).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.inner.base.as_str().trim_end_matches('/'), self.inner.host_prefix)
    }

    /// The path every request starts from, e.g. `/api/v1` or `/apis/apps/v1`.
    pub fn versioned_api_path(&self) -> String {
        let gv = self.inner.group_version.as_ref().map(|(g, v)| (g.as_str(), v.as_str()));
        versioned_path(&self.inner.host_prefix, &self.inner.api_path, gv)
    }

    /// The content negotiation settings this client was built with.
    pub fn content_config(&self) -> &ContentConfig {
        &self.inner.content
    }

    /// The client-side rate limiter, if limiting is enabled; share it with
    /// [`RateLimiterChoice::Shared`].
    pub fn rate_limiter(&self) -> Option<Arc<TokenBucket>> {
        self.inner.rate_limiter.clone()
    }

    /// Starts a request with any HTTP method.
    pub fn request(&self, verb: http::Method) -> Request {
        Request::new(self.clone(), verb)
    }
    /// Starts a GET request.
    pub fn get(&self) -> Request {
        self.request(http::Method::GET)
    }
    /// Starts a POST request.
    pub fn post(&self) -> Request {
        self.request(http::Method::POST)
    }
    /// Starts a PUT request.
    pub fn put(&self) -> Request {
        self.request(http::Method::PUT)
    }
    /// Starts a PATCH request whose body is of `patch_type`.
    pub fn patch(&self, patch_type: PatchType) -> Request {
        self.request(http::Method::PATCH).content_type(patch_type.content_type())
    }
    /// Starts a DELETE request.
    pub fn delete(&self) -> Request {
        self.request(http::Method::DELETE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_parsing_like_client_go() {
        let (u, p) = parse_host("https://10.0.0.1:6443", false).unwrap();
        assert_eq!((u.as_str(), p.as_str()), ("https://10.0.0.1:6443/", ""));
        let (u, _) = parse_host("10.0.0.1:6443", true).unwrap();
        assert_eq!(u.scheme(), "https");
        let (u, _) = parse_host("localhost:8080", false).unwrap();
        assert_eq!((u.scheme(), u.port()), ("http", Some(8080)));
        let (_, p) = parse_host("https://rancher.example/k8s/clusters/c-1/", false).unwrap();
        assert_eq!(p, "/k8s/clusters/c-1");
        for bad in ["", "ftp://x", "https://x/?a=b", "http://"] {
            let err = parse_host(bad, false).unwrap_err();
            assert!(err.to_string().contains("invalid host"), "{bad}: {err}");
        }
        // The reason is typed, for callers that act on it.
        let reason = |host| match parse_host(host, false) {
            Err(ConfigError::InvalidHost { reason, .. }) => reason,
            other => panic!("{host}: {other:?}"),
        };
        assert_eq!(reason(""), HostError::Empty);
        assert_eq!(reason("ftp://x"), HostError::UnsupportedScheme("ftp".into()));
        assert_eq!(reason("https://x/?a=b"), HostError::QueryOrFragment);
        assert_eq!(reason("https://u:p@x"), HostError::Credentials);
    }

    #[test]
    fn versioned_paths() {
        assert_eq!(versioned_path("", "/api", Some(("", "v1"))), "/api/v1");
        assert_eq!(versioned_path("", "", Some(("", "v1"))), "/api/v1");
        assert_eq!(versioned_path("", "/apis", Some(("apps", "v1"))), "/apis/apps/v1");
        assert_eq!(versioned_path("", "", Some(("apps", "v1"))), "/apis/apps/v1");
        assert_eq!(versioned_path("/prefix", "/api", Some(("", "v1"))), "/prefix/api/v1");
        assert_eq!(versioned_path("", "", None), "");
    }

    #[tokio::test]
    async fn bad_config_errors_are_clear() {
        let mut c = Config::new("https://127.0.0.1:6443");
        c.tls.ca_file = Some("/does/not/exist.pem".into());
        let err = RESTClient::new(&c).unwrap_err().to_string();
        assert!(err.contains("/does/not/exist.pem"), "{err}");
        let err = RESTClient::new(&Config::new("")).unwrap_err().to_string();
        assert!(err.contains("invalid host"), "{err}");
    }
}
