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
//! Sending follows client-go's `request()`: read a file body, take a token from the rate
//! limiter (not for watches, as in client-go), start the timeout clock, then for each
//! attempt wait what the [`BackoffManager`] says (and
//! before a retry at least the server's `Retry-After`, then take another token), stamp
//! credentials and impersonation headers, go through the transport, tell the backoff
//! manager and the [metrics](crate::tools::metrics) how it went, and ask
//! [`with_retry`](super::with_retry) whether to go again. The final response's
//! `Warning` headers go to the warning handler. One extra attempt, not counted as a
//! retry, follows a 401 when a credential provider can refresh its credential. The
//! whole send runs in a `request` tracing span with the verb and the URL (no query).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::Instant;
use tower::ServiceExt;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures_util::Stream;
use tokio::io::AsyncRead;
use tracing::Instrument;

use super::backoff::BackoffManager;
use super::body::{reader_stream, BodySource, PreparedBody};
use super::client::{versioned_path, RESTClient};
use super::errors::{error_chain, BoxError, Error, PathPart, PathSegmentError, RequestBuildError, RequestInfo};
use super::rate_limit::log_wait;
use super::request_url::{assemble, clean_join, lowercase};
use super::response::{BodyStream, Response};
use super::warnings::handle_warning_headers;
use super::with_retry::{classify, find_tls_error, ErrorRetry, Outcome, WithRetry};
use crate::dynamic::Unstructured;
use crate::tools::metrics::code_label;
use crate::transport::body::{ChunkStream, RequestBody};
use crate::transport::hooks::ResponseBody;
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
    body: Option<BodySource>,
    timeout: Option<Duration>,
    max_retries: Option<u32>,
    backoff: Option<Arc<dyn BackoffManager>>,
    err: Option<RequestBuildError>,
}

impl std::fmt::Debug for Request {
    /// Shows the verb, URL and header names; never header values or the body, which
    /// may carry credentials or secret data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("verb", &self.verb)
            .field("url", &super::request_url::redact(&self.build_url(Mode::Timed)))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body)
            .field("timeout", &self.timeout)
            .field("error", &self.err)
            .finish()
    }
}

/// Why a name cannot be a path segment, as apimachinery's `IsValidPathSegmentName`.
pub fn validate_path_segment(name: &str) -> Result<(), PathSegmentError> {
    match name {
        "." => return Err(PathSegmentError::Dots(".")),
        ".." => return Err(PathSegmentError::Dots("..")),
        _ => {}
    }
    for bad in ['/', '%'] {
        if name.contains(bad) {
            return Err(PathSegmentError::Contains(bad));
        }
    }
    Ok(())
}

/// The kind of call, which decides the timeout, throttling and retry rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `send`/`do_raw` (client-go `Do`/`DoRaw`): the timeout covers everything, GETs
    /// retry lost connections.
    Timed,
    /// `stream` (client-go `Stream`): no client-side timeout, transport errors are not
    /// retried.
    Stream,
    /// `watch` (client-go `Watch`): no client-side timeout, no rate limiting of the
    /// first attempt, EOFs and timeouts are retried.
    Watch,
}

impl Mode {
    fn error_retry(self) -> ErrorRetry {
        match self {
            Mode::Timed => ErrorRetry::GetOnConnectionLoss,
            Mode::Stream => ErrorRetry::Never,
            Mode::Watch => ErrorRetry::EofOrTimeout,
        }
    }
}

/// The deadline of a timed request and its timeout.
type Deadline = Option<(Instant, Duration)>;

/// Runs `f`, giving up at the deadline (`Err(())`).
async fn bounded<F: Future>(deadline: Deadline, f: F) -> Result<F::Output, ()> {
    match deadline {
        Some((at, _)) => tokio::time::timeout_at(at, f).await.map_err(|_| ()),
        None => Ok(f.await),
    }
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
            backoff: None,
            err: None,
        }
    }

    fn fail(mut self, err: RequestBuildError) -> Self {
        if self.err.is_none() {
            self.err = Some(err);
        }
        self
    }

    /// Sets a path part that may be set once and must be a valid path segment.
    fn set_part(self, part: PathPart, value: String) -> Self {
        let slot = match part {
            PathPart::Namespace => &self.namespace,
            PathPart::Resource => &self.resource,
            PathPart::Name => &self.name,
            PathPart::Subresource => &self.subresource,
        };
        if let Some(previous) = slot {
            let previous = previous.clone();
            return self.fail(RequestBuildError::SetTwice { part, previous, new: value });
        }
        if let Err(reason) = validate_path_segment(&value) {
            return self.fail(RequestBuildError::InvalidSegment { part, value, reason });
        }
        let mut this = self;
        let slot = match part {
            PathPart::Namespace => &mut this.namespace,
            PathPart::Resource => &mut this.resource,
            PathPart::Name => &mut this.name,
            PathPart::Subresource => &mut this.subresource,
        };
        *slot = Some(value);
        this
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
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        self.set_part(PathPart::Namespace, namespace.into())
    }

    /// The resource, e.g. `pods` (lower-cased, as client-go does). Setting it twice
    /// is an error.
    pub fn resource(self, resource: impl Into<String>) -> Self {
        self.set_part(PathPart::Resource, resource.into())
    }

    /// The object's name. Empty names and setting it twice are errors.
    pub fn name(self, name: impl Into<String>) -> Self {
        let n = name.into();
        if n.is_empty() {
            return self.fail(RequestBuildError::EmptyName);
        }
        self.set_part(PathPart::Name, n)
    }

    /// A subresource, e.g. `status`, `scale`, `log`. Setting it twice is an error.
    pub fn subresource(self, subresource: impl Into<String>) -> Self {
        self.set_part(PathPart::Subresource, subresource.into())
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
            Err(e) => self.fail(e.into()),
        }
    }

    /// Adds a header (repeated calls with the same name add values). Headers set here
    /// win over the client's `User-Agent` and credentials.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let Ok(n) = HeaderName::from_bytes(name.as_bytes()) else {
            return self.fail(RequestBuildError::HeaderName { name: name.to_owned() });
        };
        let Ok(mut v) = HeaderValue::from_str(value) else {
            return self.fail(RequestBuildError::HeaderValue { name: name.to_owned() });
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

    /// Sets the body to these bytes (client-go `Body([]byte)`).
    pub fn body_bytes(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(BodySource::Bytes(body.into()));
        self
    }

    /// Sets the body to this JSON value.
    pub fn body_json(self, body: &serde_json::Value) -> Self {
        self.body(body)
    }

    /// Sets the body to the JSON serialization of `body` (an object, `DeleteOptions`, a
    /// patch; client-go `Body(runtime.Object)`).
    pub fn body<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(b) => {
                self.body = Some(BodySource::Bytes(Bytes::from(b)));
                self
            }
            Err(e) => self.fail(RequestBuildError::Body(std::sync::Arc::new(e))),
        }
    }

    /// Sets the body to an unstructured object, serialized as JSON.
    pub fn body_unstructured(self, object: &Unstructured) -> Self {
        self.body(object)
    }

    /// Sets the body to the content of a file, read when the request is sent (client-go
    /// `Body(string)`). A file that cannot be read fails the request with an
    /// [`Error::InvalidRequest`] naming it; nothing is sent.
    pub fn body_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.body = Some(BodySource::File(path.into()));
        self
    }

    /// Sends what `reader` yields as the body, as it is read, without buffering it
    /// whole (client-go `Body(io.Reader)`). The body cannot be replayed, so the request
    /// is not retried: the first failure is returned.
    pub fn body_reader<R: AsyncRead + Send + 'static>(mut self, reader: R) -> Self {
        self.body = Some(BodySource::OneShot(Mutex::new(Some(reader_stream(reader)))));
        self
    }

    /// Sends the chunks of `stream` as the body, as they come. Like
    /// [`body_reader`](Self::body_reader), the request is not retried.
    pub fn body_stream<S, E>(mut self, stream: S) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        use futures_util::TryStreamExt;
        let stream: ChunkStream = Box::pin(stream.map_err(Into::into));
        self.body = Some(BodySource::OneShot(Mutex::new(Some(stream))));
        self
    }

    /// Sends what a reader made by `make` yields, streaming as
    /// [`body_reader`](Self::body_reader) does; since `make` gives a fresh reader for
    /// each attempt (reopening a file, say), the request is retried as usual.
    pub fn body_reader_fn<R, F>(mut self, make: F) -> Self
    where
        R: AsyncRead + Send + 'static,
        F: Fn() -> R + Send + Sync + 'static,
    {
        self.body = Some(BodySource::Replayable(Arc::new(move || reader_stream(make()))));
        self
    }

    /// Limits how long this request may take, overriding `Config::timeout` (client-go
    /// `Request.Timeout`): sent to the server as the `timeout` parameter, and the
    /// request — retries and reading the response included — fails with
    /// [`Error::Timeout`] when it is not done in time. Zero means no limit. Not applied
    /// to watches and streams.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Most retries for this request, overriding `Config::max_retries` (client-go
    /// `Request.MaxRetries`; 0: no retry).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = Some(retries);
        self
    }

    /// Uses `manager` for this request instead of the client's (client-go
    /// `Request.BackOff`).
    pub fn backoff(mut self, manager: Arc<dyn BackoffManager>) -> Self {
        self.backoff = Some(manager);
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
        let path = self.build_path(false);
        let timeout_param = match (mode, self.effective_timeout()) {
            (Mode::Timed, Some(t)) if !self.params.contains_key("timeout") => {
                Some(ferrokube_apimachinery::duration::format(t))
            }
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

    /// The request path; with `template`, the namespace and name are `{namespace}` and
    /// `{name}` (client-go `finalURLTemplate`, for metric labels).
    fn build_path(&self, template: bool) -> Cow<'_, str> {
        let ns = self.namespace.as_deref().filter(|n| !n.is_empty());
        let resource = self.resource.as_deref().map(lowercase).unwrap_or_default();
        let name = self.name.as_deref().unwrap_or("");
        let sub = self.subresource.as_deref().unwrap_or("");
        // One join of every part: `path.Join` of joins is the join of all parts. With
        // none set the prefix is used as it is (an `abs_path` may end in `/`).
        if ns.is_some() || !resource.is_empty() || !name.is_empty() || !sub.is_empty() || !self.subpath.is_empty() {
            let (namespaces, ns) = ns.map_or(("", ""), |ns| ("namespaces", if template { "{namespace}" } else { ns }));
            let name = if template && !name.is_empty() { "{name}" } else { name };
            Cow::Owned(clean_join(&[&self.path_prefix, namespaces, ns, &resource, name, sub, &self.subpath]))
        } else {
            Cow::Borrowed(self.path_prefix.as_str())
        }
    }

    /// Builds one attempt's HTTP request.
    fn http_request(
        &self,
        url: &str,
        body: RequestBody,
        has_body: bool,
    ) -> Result<http::Request<RequestBody>, RequestBuildError> {
        let inner = &self.client.inner;
        let bad_url = || RequestBuildError::Url { url: super::request_url::redact(url) };
        let mut builder = http::Request::builder().method(self.verb.clone()).uri(url);
        let Some(headers) = builder.headers_mut() else {
            return Err(bad_url());
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
        if has_body && !headers.contains_key(http::header::CONTENT_TYPE) {
            let ct = self.content_type.as_deref().unwrap_or(&inner.content.content_type);
            let v = HeaderValue::from_str(ct)
                .map_err(|_| RequestBuildError::ContentType { content_type: ct.to_owned() })?;
            headers.insert(http::header::CONTENT_TYPE, v);
        }
        builder.body(body).map_err(|_| bad_url())
    }

    /// Waits for the client-side rate limiter, logs a long wait as client-go does and
    /// reports it to the metrics.
    async fn throttle(&self, info: &RequestInfo, reason: Option<&str>) {
        let inner = &self.client.inner;
        let Some(limiter) = &inner.rate_limiter else { return };
        let waited = limiter.accept().await;
        log_wait(waited, reason, info);
        inner.metrics.rate_limiter_latency(self.verb.as_str(), &inner.host_label, &self.build_path(true), waited);
    }

    /// Sends the request: the attempt loop inside a `request` span, timed for the
    /// latency metric. Returns the final HTTP response, whatever its status, and the
    /// deadline that still applies to reading its body.
    async fn execute(&self, mode: Mode) -> Result<(http::Response<ResponseBody>, RequestInfo, Deadline), Error> {
        let url = self.build_url(mode);
        let info = RequestInfo::new(&self.verb, &url);
        let span = tracing::info_span!("request", verb = %self.verb, url = %info.url);
        let start = Instant::now();
        let result = self.attempts(mode, &url, &info).instrument(span).await;
        let inner = &self.client.inner;
        inner.metrics.request_latency(self.verb.as_str(), &inner.host_label, &self.build_path(true), start.elapsed());
        result.map(|(resp, deadline)| (resp, info, deadline))
    }

    /// The attempt loop (client-go `request()` with `withRetry`).
    async fn attempts(
        &self,
        mode: Mode,
        url: &str,
        info: &RequestInfo,
    ) -> Result<(http::Response<ResponseBody>, Deadline), Error> {
        let invalid = |source: RequestBuildError| Error::InvalidRequest { request: info.clone(), source };
        if let Some(err) = &self.err {
            return Err(invalid(err.clone()));
        }
        let inner = &self.client.inner;
        let mut body = PreparedBody::prepare(self.body.as_ref()).await.map_err(invalid)?;
        // The first token is taken before the timeout starts, so a throttled client does
        // not time out before it sent anything (client-go); watches are not throttled.
        if mode != Mode::Watch {
            self.throttle(info, None).await;
        }
        let deadline: Deadline = match mode {
            Mode::Timed => self.effective_timeout().map(|t| (Instant::now() + t, t)),
            Mode::Stream | Mode::Watch => None,
        };
        // The default (client-go's NoBackoff) costs nothing: no manager, no URL parse.
        let backoff = self.backoff.clone().or_else(|| inner.backoff.manager()).map(|manager| {
            let url = url::Url::parse(url).unwrap_or_else(|_| inner.base.clone());
            (manager, url)
        });
        let mut retry = WithRetry::new(self.max_retries.unwrap_or(inner.max_retries));
        let timed_out = |retry: &mut WithRetry| {
            let after = deadline.map_or(Duration::ZERO, |(_, t)| t);
            let message = format!("timed out after {after:?}");
            retry.track_previous_error(Some(&message));
            Error::Timeout { request: info.clone(), after, previous: retry.previous_error_for(&message) }
        };
        let verb = self.verb.as_str();
        let mut reauthenticated = false;
        let mut reauthenticating = false;
        loop {
            // Before the attempt: the backoff manager's delay, at least the server's
            // Retry-After before a retry, and a token for every retry.
            let mut wait = backoff.as_ref().map_or(Duration::ZERO, |(m, url)| m.calculate_backoff(url));
            let retry_reason = retry.retry_after().map(|r| {
                wait = wait.max(r.wait);
                r.reason.clone()
            });
            if !wait.is_zero() && bounded(deadline, tokio::time::sleep(wait)).await.is_err() {
                return Err(timed_out(&mut retry));
            }
            if let Some(reason) = &retry_reason {
                if bounded(deadline, self.throttle(info, Some(reason))).await.is_err() {
                    return Err(timed_out(&mut retry));
                }
                tracing::debug!(request = %info, ?wait, "Got a Retry-After response: {reason}");
            } else if std::mem::take(&mut reauthenticating)
                && bounded(deadline, self.throttle(info, None)).await.is_err()
            {
                // The attempt after a 401 is another request to the server: it takes a token too.
                return Err(timed_out(&mut retry));
            }

            let Some(request_body) = body.next() else {
                return Err(invalid(RequestBuildError::BodyConsumed));
            };
            let mut req = self.http_request(url, request_body, body.is_some()).map_err(invalid)?;
            let cert_changed = match bounded(deadline, inner.transport.authenticator().apply(req.headers_mut())).await {
                Err(()) => return Err(timed_out(&mut retry)),
                Ok(r) => r.map_err(|source| Error::Credential { request: info.clone(), source })?,
            };
            if cert_changed {
                tracing::debug!("client certificate changed: starting new connections");
                inner.transport.reset_connections();
            }
            let result = match bounded(deadline, inner.transport.service().oneshot(req)).await {
                Ok(r) => r,
                Err(()) => return Err(timed_out(&mut retry)),
            };

            // After the attempt: metrics and the backoff manager.
            let was_retry = retry.after_attempt();
            let code = result.as_ref().ok().map(|r| r.status().as_u16());
            let label = code_label(code);
            inner.metrics.request_result(&label, verb, &inner.host_label);
            if was_retry {
                inner.metrics.request_retry(&label, verb, &inner.host_label);
            }
            if let Some((manager, url)) = &backoff {
                manager.update_backoff(url, code);
            }

            let resp = match result {
                Ok(resp) => resp,
                Err(e) => {
                    let kind = classify(&*e);
                    let (message, err) = transport_error(info.clone(), e);
                    let outcome = Outcome::Error { message: &message, kind };
                    if retry.is_next_retry(&self.verb, body.replayable(), &outcome, mode.error_retry()) {
                        tracing::debug!(request = %info, "retrying after a connection error: {message}");
                        continue;
                    }
                    return Err(with_previous(err, retry.previous_error_for(&message)));
                }
            };
            let code = resp.status().as_u16();
            if code == 401 {
                // Always tell the credential provider, so the next request refreshes.
                let can_retry = inner.transport.authenticator().unauthorized();
                if can_retry && !reauthenticated && body.replayable() {
                    reauthenticated = true;
                    reauthenticating = true;
                    tracing::debug!(request = %info, "401 Unauthorized: refreshing credentials and retrying once");
                    continue;
                }
            }
            let outcome = Outcome::Response { code, headers: resp.headers() };
            if retry.is_next_retry(&self.verb, body.replayable(), &outcome, mode.error_retry()) {
                tracing::debug!(request = %info, code, "retrying");
                continue;
            }
            handle_warning_headers(resp.headers(), &*inner.warnings);
            return Ok((resp, deadline));
        }
    }

    async fn checked(self, mode: Mode) -> Result<Response, Error> {
        let (resp, info, deadline) = self.execute(mode).await?;
        let resp = Response::new(resp, info, deadline).with_list_decode_threads(self.client.inner.list_decode_threads);
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
        Ok(self.checked(Mode::Stream).await?.into_stream())
    }

    /// Starts a watch and returns its events as they arrive (client-go `Watch`). Adds
    /// `watch=true` unless a `watch` parameter is already set. No client-side timeout
    /// applies; use `ListOptions::timeout_seconds` for a server-side one. Use
    /// `T = serde_json::Value` for untyped events.
    pub async fn watch<T: DeserializeOwned>(mut self) -> Result<WatchStream<T>, Error> {
        self.params.entry("watch".to_owned()).or_insert_with(|| vec!["true".to_owned()]);
        let resp = self.checked(Mode::Watch).await?;
        let request = resp.request().clone();
        if resp.is_protobuf() {
            return Ok(WatchStream::new_protobuf(resp.into_stream(), request));
        }
        Ok(WatchStream::new(resp.into_stream(), request))
    }
}

/// The error of an attempt that got no response, and its message (without the
/// request) for naming it in a later error.
fn transport_error(request: RequestInfo, err: BoxError) -> (String, Error) {
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
    (message.clone(), Error::Transport { request, message, previous: None, source: err })
}

/// Names the error of an earlier attempt in the final one (client-go `WrapPreviousError`).
fn with_previous(err: Error, previous: Option<String>) -> Error {
    match err {
        Error::Transport { request, message, source, .. } => Error::Transport { request, message, previous, source },
        Error::Timeout { request, after, .. } => Error::Timeout { request, after, previous },
        other => other,
    }
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
        assert_eq!(url, "http://127.0.0.1:1/api/v1/pods?labelSelector=app+in+%28a%2Cb%29&limit=10&timeout=1.5s");
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
    fn timeouts_are_written_as_go_durations() {
        // client-go writes `timeout=` with Go's Duration.String().
        let f = ferrokube_apimachinery::duration::format;
        assert_eq!(f(Duration::from_secs(30)), "30s");
        assert_eq!(f(Duration::from_secs(90)), "1m30s");
        assert_eq!(f(Duration::from_millis(250)), "250ms");
        assert_eq!(f(Duration::from_millis(1500)), "1.5s");
    }
}
