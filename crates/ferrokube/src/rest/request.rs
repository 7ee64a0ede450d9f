//! `rest::request`: the [`Request`] builder and the send loop (client-go
//! `rest/request.go`).
//!
//! A request is built from a [`RESTClient`] with the same vocabulary as client-go —
//! verb, namespace, resource, name, subresource, suffix or absolute path, query
//! parameters (plain or typed options), headers, body, timeout — and sent with
//! [`Request::send`], [`Request::do_raw`], [`Request::stream`] or [`Request::watch`].
//! Builder mistakes (an invalid path segment, a field set twice) are remembered and
//! reported when the request is sent, so calls chain without `?`.
//!
//! Sending takes a token from the rate limiter, stamps credentials and impersonation
//! headers, goes through the transport, hands `Warning` headers to the warning
//! handler, and retries per [`backoff`](super::backoff): 429s and 5xx with
//! `Retry-After`, connection errors of GET/HEAD, and one re-authentication after a 401
//! when a credential provider is configured.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tower::ServiceExt;

use super::backoff::{is_idempotent, parse_retry_after, should_retry_status, Backoff};
use super::client::{versioned_path, RESTClient};
use super::errors::{error_chain, BoxError, Error, RequestInfo};
use super::rate_limit::LOG_WAIT_THRESHOLD;
use super::request_url::{assemble, clean_join, lowercase};
use super::response::{BodyStream, Response};
use super::transport_hooks::{RequestBody, ResponseBody};
use super::warnings::handle_warning_headers;
use crate::watch::WatchStream;

/// A request being built (client-go `rest.Request`).
pub struct Request {
    client: RESTClient,
    verb: Method,
    path_prefix: String,
    namespace: Option<String>,
    resource: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
    subpath: String,
    params: BTreeMap<String, Vec<String>>,
    headers: HeaderMap,
    content_type: Option<String>,
    body: Option<Bytes>,
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    err: Option<String>,
}

impl std::fmt::Debug for Request {
    /// Shows the verb, URL and header names; never header values or the body, which
    /// may carry credentials or secret data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("verb", &self.verb)
            .field("url", &super::request_url::redact(&self.build_url(Mode::Timed)))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body_len", &self.body.as_ref().map(Bytes::len))
            .field("timeout", &self.timeout)
            .field("error", &self.err)
            .finish()
    }
}

/// Why a name cannot be a path segment, as apimachinery's `IsValidPathSegmentName`.
pub fn validate_path_segment(name: &str) -> Result<(), String> {
    if name == "." || name == ".." {
        return Err(format!("may not be '{name}'"));
    }
    for bad in ['/', '%'] {
        if name.contains(bad) {
            return Err(format!("may not contain '{bad}'"));
        }
    }
    Ok(())
}

/// Formats a duration the way Go's `time.Duration.String` would for whole seconds or
/// milliseconds (`30s`, `1500ms`), which the API server's `timeout` parameter parses.
fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}

/// Whether the client-side deadline applies.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A request whose response is read whole: the timeout covers everything.
    Timed,
    /// Watches and streams: no client-side timeout.
    Streaming,
}

impl Request {
    pub(crate) fn new(client: RESTClient, verb: Method) -> Self {
        let path_prefix = client.versioned_api_path();
        Request {
            client,
            verb,
            path_prefix,
            namespace: None,
            resource: None,
            name: None,
            subresource: None,
            subpath: String::new(),
            params: BTreeMap::new(),
            headers: HeaderMap::new(),
            content_type: None,
            body: None,
            timeout: None,
            max_retries: None,
            err: None,
        }
    }

    fn fail(mut self, msg: String) -> Self {
        if self.err.is_none() {
            self.err = Some(msg);
        }
        self
    }

    /// The HTTP method.
    pub fn verb(&self) -> &Method {
        &self.verb
    }

    /// Sends the request to `group`/`version` instead of the client's configured
    /// group/version (the path becomes `/api/<version>` or `/apis/<group>/<version>`).
    pub fn group_version(mut self, group: &str, version: &str) -> Self {
        // The API root follows the group (`/api` for core, `/apis` otherwise).
        self.path_prefix = versioned_path(&self.client.inner.host_prefix, "", Some((group, version)));
        self
    }

    /// Scopes the request to a namespace (`/namespaces/<ns>`); an empty namespace means
    /// all namespaces. Setting it twice is an error.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        let ns = namespace.into();
        if let Some(prev) = &self.namespace {
            let msg = format!("namespace already set to {prev:?}, cannot change to {ns:?}");
            return self.fail(msg);
        }
        if let Err(e) = validate_path_segment(&ns) {
            return self.fail(format!("invalid namespace {ns:?}: {e}"));
        }
        self.namespace = Some(ns);
        self
    }

    /// The resource, e.g. `pods` (lower-cased, as client-go does). Setting it twice
    /// is an error.
    pub fn resource(mut self, resource: impl Into<String>) -> Self {
        let r = resource.into();
        if let Some(prev) = &self.resource {
            let msg = format!("resource already set to {prev:?}, cannot change to {r:?}");
            return self.fail(msg);
        }
        if let Err(e) = validate_path_segment(&r) {
            return self.fail(format!("invalid resource {r:?}: {e}"));
        }
        self.resource = Some(r);
        self
    }

    /// The object's name. Empty names and setting it twice are errors.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        let n = name.into();
        if n.is_empty() {
            return self.fail("resource name may not be empty".to_owned());
        }
        if let Some(prev) = &self.name {
            let msg = format!("resource name already set to {prev:?}, cannot change to {n:?}");
            return self.fail(msg);
        }
        if let Err(e) = validate_path_segment(&n) {
            return self.fail(format!("invalid resource name {n:?}: {e}"));
        }
        self.name = Some(n);
        self
    }

    /// A subresource, e.g. `status`, `scale`, `log`. Setting it twice is an error.
    pub fn subresource(mut self, subresource: impl Into<String>) -> Self {
        let s = subresource.into();
        if let Some(prev) = &self.subresource {
            let msg = format!("subresource already set to {prev:?}, cannot change to {s:?}");
            return self.fail(msg);
        }
        if let Err(e) = validate_path_segment(&s) {
            return self.fail(format!("invalid subresource {s:?}: {e}"));
        }
        self.subresource = Some(s);
        self
    }

    /// Appends path segments after resource/name/subresource (client-go `Suffix`).
    pub fn suffix(mut self, segments: impl AsRef<str>) -> Self {
        self.subpath = clean_join(&[&self.subpath, segments.as_ref()]);
        self
    }

    /// Replaces the group/version path with an absolute path under the host
    /// (client-go `AbsPath`), e.g. `/healthz` or `/apis`.
    pub fn abs_path(mut self, path: impl AsRef<str>) -> Self {
        let p = path.as_ref();
        let mut joined = clean_join(&["/", &self.client.inner.host_prefix, p]);
        if p.ends_with('/') && !joined.ends_with('/') {
            joined.push('/');
        }
        self.path_prefix = joined;
        self
    }

    /// Adds a query parameter (repeated calls with the same name add values).
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.entry(name.into()).or_default().push(value.into());
        self
    }

    /// Adds the fields of a typed options struct ([`ListOptions`](super::options::ListOptions),
    /// [`GetOptions`](super::options::GetOptions), ...) as query parameters
    /// (client-go `VersionedParams`).
    pub fn versioned_params<T: Serialize + ?Sized>(mut self, options: &T) -> Self {
        match super::options::to_query_pairs(options) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    self.params.entry(k).or_default().push(v);
                }
                self
            }
            Err(e) => self.fail(e),
        }
    }

    /// Adds a header (repeated calls with the same name add values). Headers set here
    /// win over the client's `User-Agent` and credentials.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let Ok(n) = HeaderName::from_bytes(name.as_bytes()) else {
            return self.fail(format!("invalid header name {name:?}"));
        };
        let Ok(mut v) = HeaderValue::from_str(value) else {
            return self.fail(format!("invalid value for header {name:?}"));
        };
        if n == http::header::AUTHORIZATION || n == http::header::PROXY_AUTHORIZATION {
            v.set_sensitive(true);
        }
        self.headers.append(n, v);
        self
    }

    /// Sets the `Content-Type` of the body (default: the client's content type).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Sets the body to these bytes.
    pub fn body_bytes(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets the body to this JSON value.
    pub fn body_json(self, body: &serde_json::Value) -> Self {
        self.body(body)
    }

    /// Sets the body to the JSON serialization of `body` (an object, `DeleteOptions`, a
    /// patch).
    pub fn body<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(b) => {
                self.body = Some(Bytes::from(b));
                self
            }
            Err(e) => self.fail(format!("the body could not be serialized: {e}")),
        }
    }

    /// Limits how long this request may take, overriding `Config::timeout`; also sent
    /// to the server as the `timeout` parameter. Not applied to watches and streams.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Most attempts for this request, overriding `Config::max_retries` (1: no retry).
    pub fn max_retries(mut self, attempts: u32) -> Self {
        self.max_retries = Some(attempts.max(1));
        self
    }

    fn effective_timeout(&self) -> Option<Duration> {
        self.timeout.or(self.client.inner.timeout).filter(|d| !d.is_zero())
    }

    /// The URL this request will be sent to (client-go `Request.URL`).
    pub fn url(&self) -> String {
        self.build_url(Mode::Timed)
    }

    fn build_url(&self, mode: Mode) -> String {
        let ns = self.namespace.as_deref().filter(|n| !n.is_empty());
        let resource = self.resource.as_deref().map(lowercase).unwrap_or_default();
        let name = self.name.as_deref().unwrap_or("");
        let sub = self.subresource.as_deref().unwrap_or("");
        // One join of every part: `path.Join` of joins is the join of all parts. With
        // none set the prefix is used as it is (an `abs_path` may end in `/`).
        let path = if ns.is_some()
            || !resource.is_empty()
            || !name.is_empty()
            || !sub.is_empty()
            || !self.subpath.is_empty()
        {
            let (namespaces, ns) = ns.map_or(("", ""), |ns| ("namespaces", ns));
            Cow::Owned(clean_join(&[&self.path_prefix, namespaces, ns, &resource, name, sub, &self.subpath]))
        } else {
            Cow::Borrowed(self.path_prefix.as_str())
        };
        let timeout_param = match (mode, self.effective_timeout()) {
            (Mode::Timed, Some(t)) if !self.params.contains_key("timeout") => Some(go_duration(t)),
            _ => None,
        };
        let mut params: Vec<(&str, &str)> =
            self.params.iter().flat_map(|(k, vs)| vs.iter().map(move |v| (k.as_str(), v.as_str()))).collect();
        if let Some(t) = &timeout_param {
            params.push(("timeout", t));
            params.sort_by_key(|(k, _)| *k);
        }
        assemble(&self.client.inner.base, &path, &params)
    }

    /// Builds one attempt's HTTP request.
    fn http_request(&self, url: &str) -> Result<http::Request<RequestBody>, String> {
        let inner = &self.client.inner;
        let mut builder = http::Request::builder().method(self.verb.clone()).uri(url);
        let Some(headers) = builder.headers_mut() else {
            return Err(format!("invalid URL {url:?}"));
        };
        *headers = self.headers.clone();
        if !headers.contains_key(http::header::ACCEPT) && !inner.content.accept_content_types.is_empty() {
            if let Ok(v) = HeaderValue::from_str(&inner.content.accept_content_types) {
                headers.insert(http::header::ACCEPT, v);
            }
        }
        if inner.compression && !is_loopback_url(url) && !headers.contains_key(http::header::ACCEPT_ENCODING) {
            headers.insert(http::header::ACCEPT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if self.body.is_some() && !headers.contains_key(http::header::CONTENT_TYPE) {
            let ct = self.content_type.as_deref().unwrap_or(&inner.content.content_type);
            let v = HeaderValue::from_str(ct).map_err(|_| format!("invalid content type {ct:?}"))?;
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        let body = self.body.clone().unwrap_or_default();
        builder.body(RequestBody::new(body)).map_err(|e| format!("could not build the HTTP request: {e}"))
    }

    /// Runs the attempt loop and returns the final HTTP response, whatever its status.
    async fn execute(&self, mode: Mode) -> Result<(http::Response<ResponseBody>, RequestInfo), Error> {
        let url = self.build_url(mode);
        let info = RequestInfo::new(&self.verb, &url);
        if let Some(message) = &self.err {
            return Err(Error::InvalidRequest { request: info, message: message.clone() });
        }
        let timeout = if mode == Mode::Timed { self.effective_timeout() } else { None };
        let attempts = async {
            let inner = &self.client.inner;
            let max_attempts = self.max_retries.unwrap_or(inner.max_retries).max(1);
            let mut backoff = Backoff::default();
            let mut attempt = 0u32;
            let mut reauthenticated = false;
            loop {
                attempt += 1;
                if let Some(limiter) = &inner.rate_limiter {
                    let waited = limiter.accept().await;
                    if waited > LOG_WAIT_THRESHOLD {
                        tracing::info!(
                            "Waited for {:?} due to client-side throttling, not priority and fairness, request: {}:{}",
                            waited,
                            info.verb,
                            info.url
                        );
                    }
                }
                let mut req = self
                    .http_request(&url)
                    .map_err(|message| Error::InvalidRequest { request: info.clone(), message })?;
                let cert_changed = inner
                    .auth
                    .apply(req.headers_mut())
                    .await
                    .map_err(|source| Error::Credential { request: info.clone(), source })?;
                if cert_changed {
                    tracing::debug!("client certificate changed: starting new connections");
                    inner.reset_connections();
                }

                let result = inner.service().oneshot(req).await;
                let resp = match result {
                    Ok(resp) => resp,
                    Err(e) => {
                        if is_idempotent(&self.verb) && attempt < max_attempts && is_retryable_transport_error(&*e) {
                            let wait = backoff.next_delay();
                            tracing::debug!(request = %info, attempt, ?wait, "retrying after connection error: {}", error_chain(&*e));
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                        return Err(transport_error(info.clone(), e));
                    }
                };
                handle_warning_headers(resp.headers(), &*inner.warnings);
                let code = resp.status().as_u16();
                if code == 401 {
                    let can_retry = inner.auth.unauthorized();
                    if can_retry && !reauthenticated {
                        reauthenticated = true;
                        attempt -= 1;
                        tracing::debug!(request = %info, "401 Unauthorized: refreshing credentials and retrying once");
                        continue;
                    }
                }
                let retry_after = resp
                    .headers()
                    .get(http::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
                if should_retry_status(code, retry_after.is_some()) && attempt < max_attempts {
                    let wait = retry_after.unwrap_or_else(|| backoff.next_delay());
                    tracing::debug!(request = %info, attempt, code, ?wait, "retrying");
                    drop(resp);
                    tokio::time::sleep(wait).await;
                    continue;
                }
                return Ok(resp);
            }
        };
        let resp = match timeout {
            Some(t) => tokio::time::timeout(t, attempts)
                .await
                .map_err(|_| Error::Timeout { request: info.clone(), after: t })??,
            None => attempts.await?,
        };
        Ok((resp, info))
    }

    async fn checked(self, mode: Mode) -> Result<Response, Error> {
        let deadline = match mode {
            Mode::Timed => self.effective_timeout().map(|t| (Instant::now() + t, t)),
            Mode::Streaming => None,
        };
        let (resp, info) = self.execute(mode).await?;
        let resp = Response::new(resp, info, deadline);
        let code = resp.status().as_u16();
        if !(200..=206).contains(&code) {
            return Err(resp.into_error().await);
        }
        Ok(resp)
    }

    /// Sends the request. A 2xx answer gives a [`Response`] to decode; any other status
    /// gives an [`Error`] carrying the server's `Status`.
    pub async fn send(self) -> Result<Response, Error> {
        self.checked(Mode::Timed).await
    }

    /// Sends the request and returns the (decompressed) response body (client-go `DoRaw`).
    pub async fn do_raw(self) -> Result<Bytes, Error> {
        self.send().await?.into_bytes().await
    }

    /// Sends the request and decodes the JSON response into `T`.
    pub async fn into_object<T: DeserializeOwned>(self) -> Result<T, Error> {
        self.send().await?.into_object().await
    }

    /// Sends the request and decodes the JSON list it returns, the items of a large
    /// list on several threads (see [`list_decode`](super::list_decode)).
    pub async fn into_list<L: super::list_decode::ItemList>(self) -> Result<L, Error> {
        self.send().await?.into_list().await
    }

    /// Sends the request and returns the response body as a stream of byte chunks, as
    /// they arrive (pod logs with `follow=true`, port-forward-less proxies). No
    /// client-side timeout applies (client-go `Stream`).
    pub async fn stream(self) -> Result<BodyStream, Error> {
        Ok(self.checked(Mode::Streaming).await?.into_stream())
    }

    /// Starts a watch and returns its events as they arrive (client-go `Watch`). Adds
    /// `watch=true` unless a `watch` parameter is already set. No client-side timeout
    /// applies; use `ListOptions::timeout_seconds` for a server-side one. Use
    /// `T = serde_json::Value` for untyped events.
    pub async fn watch<T: DeserializeOwned>(mut self) -> Result<WatchStream<T>, Error> {
        self.params.entry("watch".to_owned()).or_insert_with(|| vec!["true".to_owned()]);
        let resp = self.checked(Mode::Streaming).await?;
        let request = resp.request().clone();
        Ok(WatchStream::new(resp.into_stream(), request))
    }
}

/// Walks an error chain (including the inner errors of `io::Error`s) for a rustls error.
fn find_tls_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<rustls::Error>() {
            return Some(t);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(t) = find_tls_error(inner) {
                    return Some(t);
                }
            }
        }
        cur = e.source();
    }
    None
}

/// Connection-level failures worth another try for idempotent requests (client-go
/// retries connection resets, refused connections and unexpected EOFs of GETs). TLS and
/// protocol errors are not: they will not go away by retrying.
fn is_retryable_transport_error(err: &(dyn std::error::Error + 'static)) -> bool {
    if find_tls_error(err).is_some() {
        return false;
    }
    let mut retryable = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(le) = e.downcast_ref::<hyper_util::client::legacy::Error>() {
            retryable |= le.is_connect();
        }
        if let Some(he) = e.downcast_ref::<hyper::Error>() {
            retryable |= he.is_incomplete_message() || he.is_closed() || he.is_canceled();
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                InvalidData => return false,
                ConnectionRefused | ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected => {
                    retryable = true
                }
                _ => {}
            }
        }
        cur = e.source();
    }
    retryable
}

fn transport_error(request: RequestInfo, err: BoxError) -> Error {
    let mut message = error_chain(&*err);
    if let Some(tls) = find_tls_error(&*err) {
        let hint = match tls {
            rustls::Error::InvalidCertificate(_) => {
                "TLS: the server's certificate could not be verified; check the CA (certificate-authority) \
                 and the server name"
            }
            _ => "TLS handshake failed",
        };
        message = format!("{hint}: {tls} ({message})");
    } else if ["CertificateRequired", "BadCertificate", "UnknownCA", "CertificateUnknown"]
        .iter()
        .any(|a| message.contains(&format!("alert: {a}")))
    {
        message = format!("TLS: the server rejected the client certificate, or none was sent ({message})");
    }
    Error::Transport { request, message, source: err }
}

/// True when `url`'s host is a loopback address (`localhost`, 127.0.0.0/8, `::1`).
///
/// gzip is not requested from such servers: on loopback there is no bandwidth to save,
/// and compressing a large LIST costs the server far more CPU than it saves (measured:
/// a 5 MB list of 500 pods, 117 ms to gzip at the fastest level on the server and
/// 7–11 ms to inflate on the client, against ~60 ms to decode it).
fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {

    #[test]
    fn loopback_hosts_are_not_asked_for_gzip() {
        for url in ["https://127.0.0.1:6443/api", "http://localhost/x", "https://[::1]:443/", "https://u@127.9.0.1/a?b"]
        {
            assert!(super::is_loopback_url(url), "{url}");
        }
        for url in [
            "https://10.0.0.1:6443/api",
            "https://example.com/",
            "https://[fe80::1]/",
            "https://localhost.example.com/",
        ] {
            assert!(!super::is_loopback_url(url), "{url}");
        }
    }

    use super::*;
    use crate::rest::Config;

    fn client(group: &str, version: &str) -> RESTClient {
        let mut c = Config::new("http://127.0.0.1:1");
        c.content.group_version = Some((group.to_owned(), version.to_owned()));
        RESTClient::new(&c).unwrap()
    }

    #[test]
    fn core_group_urls() {
        let c = client("", "v1");
        assert_eq!(c.get().resource("pods").url(), "http://127.0.0.1:1/api/v1/pods");
        assert_eq!(
            c.get().namespace("default").resource("Pods").name("web-0").url(),
            "http://127.0.0.1:1/api/v1/namespaces/default/pods/web-0"
        );
        assert_eq!(
            c.get().namespace("ns").resource("pods").name("p").subresource("log").param("follow", "true").url(),
            "http://127.0.0.1:1/api/v1/namespaces/ns/pods/p/log?follow=true"
        );
        // An empty namespace means all namespaces.
        assert_eq!(c.get().namespace("").resource("pods").url(), "http://127.0.0.1:1/api/v1/pods");
    }

    #[test]
    fn group_cluster_scoped_and_suffix_urls() {
        let c = client("apps", "v1");
        assert_eq!(
            c.put().namespace("ns").resource("deployments").name("d").subresource("scale").url(),
            "http://127.0.0.1:1/apis/apps/v1/namespaces/ns/deployments/d/scale"
        );
        let c = client("rbac.authorization.k8s.io", "v1");
        assert_eq!(
            c.get().resource("clusterroles").name("admin").url(),
            "http://127.0.0.1:1/apis/rbac.authorization.k8s.io/v1/clusterroles/admin"
        );
        let c = client("", "v1");
        assert_eq!(
            c.get().resource("nodes").name("n1").subresource("proxy").suffix("metrics/cadvisor").url(),
            "http://127.0.0.1:1/api/v1/nodes/n1/proxy/metrics/cadvisor"
        );
        assert_eq!(c.get().abs_path("/healthz").url(), "http://127.0.0.1:1/healthz");
        assert_eq!(
            c.get().group_version("batch", "v1").namespace("x").resource("jobs").url(),
            "http://127.0.0.1:1/apis/batch/v1/namespaces/x/jobs"
        );
    }

    #[test]
    fn host_prefix_is_kept() {
        let mut cfg = Config::new("https://proxy.example/k8s/clusters/c1");
        cfg.content.group_version = Some((String::new(), "v1".into()));
        cfg.tls.insecure = true;
        let c = RESTClient::new(&cfg).unwrap();
        assert_eq!(c.get().resource("pods").url(), "https://proxy.example/k8s/clusters/c1/api/v1/pods");
        assert_eq!(c.get().abs_path("/version").url(), "https://proxy.example/k8s/clusters/c1/version");
    }

    #[test]
    fn query_params_sorted_and_encoded() {
        let c = client("", "v1");
        let opts = crate::rest::options::ListOptions {
            label_selector: Some("app in (a,b)".into()),
            limit: Some(10),
            ..Default::default()
        };
        let url = c.get().resource("pods").versioned_params(&opts).timeout(Duration::from_millis(1500)).url();
        assert_eq!(url, "http://127.0.0.1:1/api/v1/pods?labelSelector=app+in+%28a%2Cb%29&limit=10&timeout=1500ms");
    }

    #[test]
    fn path_segment_validation() {
        for bad in [".", "..", "a/b", "50%"] {
            assert!(validate_path_segment(bad).is_err(), "{bad}");
        }
        assert!(validate_path_segment("web-0.x").is_ok());
    }

    #[tokio::test]
    async fn builder_errors_surface_on_send() {
        let c = client("", "v1");
        let cases: Vec<(Request, &str)> = vec![
            (c.get().namespace("a").namespace("b"), "namespace already set"),
            (c.get().resource("pods").resource("nodes"), "resource already set"),
            (c.get().resource("pods").name("a").name("b"), "resource name already set"),
            (c.get().resource("pods").name(""), "may not be empty"),
            (c.get().resource("pods").name("a/b"), "may not contain '/'"),
            (c.get().namespace(".."), "invalid namespace"),
            (c.get().resource("pods").name("x").subresource("a").subresource("b"), "subresource already set"),
            (c.get().resource("pods").name("x").subresource("%2F"), "invalid subresource"),
            (c.get().header("bad header", "x"), "invalid header name"),
        ];
        for (req, want) in cases {
            let err = req.send().await.unwrap_err();
            assert!(matches!(err, Error::InvalidRequest { .. }), "{err}");
            assert!(err.to_string().contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn futures_and_types_are_send() {
        fn is_send<T: Send>(_: &T) {}
        fn is_send_sync<T: Send + Sync + 'static>() {}
        is_send_sync::<RESTClient>();
        is_send_sync::<Error>();
        let c = client("", "v1");
        is_send(&c.get().send());
        is_send(&c.get().watch::<k8s_openapi::api::core::v1::Pod>());
        is_send(&c.get().stream());
    }

    #[test]
    fn debug_hides_header_values() {
        let c = client("", "v1");
        let r = c.get().resource("pods").header("Authorization", "Bearer abc-secret");
        let d = format!("{r:?}");
        assert!(d.contains("authorization") && !d.contains("abc-secret"), "{d}");
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(250)), "250ms");
    }
}
