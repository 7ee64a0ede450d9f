//! `rest::errors`: the one error type of the request path and the helpers that classify it.
//!
//! Everything between [`rest::Config`](super::Config) and a decoded object can fail here:
//! building the client (bad CA file, bad host URL), building a request (invalid path
//! segment), talking to the server (TLS, connection refused, timeout), and the server's
//! answer (an HTTP error carrying a `metav1.Status`). Each [`Error`] names the request
//! it belongs to (verb and URL without the query string) and never contains credentials.
//!
//! The classification helpers mirror apimachinery's `k8s.io/apimachinery/pkg/api/errors`
//! (`IsNotFound`, `IsConflict`, ...): they look at the `Status.reason` the server sent
//! and fall back to the HTTP code when the reason is missing or the body was not a
//! `Status`. They exist both as free functions and as methods on [`Error`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

use crate::transport::auth::CredentialError;

/// A boxed error from the HTTP stack or a transport layer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The verb and URL of a request, for error messages. The URL has no query string and
/// no user info, so it never carries secrets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// HTTP method, e.g. `GET`.
    pub verb: String,
    /// Scheme, host, port and path of the request.
    pub url: String,
}

impl RequestInfo {
    /// Describes a request from its verb and full URL; query and user info are dropped.
    pub fn new(verb: &http::Method, url: &str) -> Self {
        RequestInfo { verb: verb.as_str().to_owned(), url: super::request_url::redact(url) }
    }
}

impl fmt::Display for RequestInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.url)
    }
}

/// Why a [`RESTClient`](super::RESTClient) could not be built from a
/// [`Config`](super::Config). Each variant says which setting was wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `host` is empty or not a URL / `host:port`.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The configured host.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file named in the config could not be read.
    #[error("could not read {what} file {}: {source}", path.display())]
    ReadFile {
        /// Which setting named the file (`CA`, `client certificate`, ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// PEM data (from a file or inline) is not usable.
    #[error("invalid {what} PEM data{}: {reason}", source_hint(.path))]
    Pem {
        /// Which setting held it.
        what: &'static str,
        /// The file it came from, if any.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },
    /// TLS settings that cannot be combined or that rustls rejected.
    #[error("invalid TLS configuration: {0}")]
    Tls(String),
    /// Authentication settings that cannot be combined or used.
    #[error("invalid authentication configuration: {0}")]
    Auth(String),
    /// The proxy URL is invalid or uses an unsupported scheme.
    #[error("invalid proxy {proxy:?}: {reason}")]
    Proxy {
        /// The proxy URL without user info.
        proxy: String,
        /// What is wrong.
        reason: String,
    },
    /// A header value (user agent, impersonation) cannot be sent over HTTP.
    #[error("invalid value for header {header}: {reason}")]
    Header {
        /// Header name.
        header: String,
        /// What is wrong.
        reason: String,
    },
}

fn source_hint(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" in {}", p.display()),
        None => String::new(),
    }
}

/// The error of every operation of [`RESTClient`](super::RESTClient) and
/// [`Request`](super::Request).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The client could not be built from its config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request was built wrongly (invalid path segment, a field set twice, a body
    /// that could not be serialized). Nothing was sent.
    #[error("{request}: invalid request: {message}")]
    InvalidRequest {
        /// The request.
        request: RequestInfo,
        /// What is wrong.
        message: String,
    },
    /// The server answered with an error and a `metav1.Status` body.
    #[error("{request}: {}", describe_status(status, *code))]
    Api {
        /// The request.
        request: RequestInfo,
        /// HTTP status code of the response.
        code: u16,
        /// The decoded `Status`.
        status: Box<Status>,
    },
    /// The server answered with an error whose body is not a `Status`.
    #[error("{request}: the server responded with HTTP {code} ({}): {body}", reason_for_code(*code).unwrap_or("Unknown"))]
    Http {
        /// The request.
        request: RequestInfo,
        /// HTTP status code.
        code: u16,
        /// The start of the response body (lossy UTF-8, at most 1 KiB).
        body: String,
    },
    /// The request could not be delivered or the response not received (DNS,
    /// connection refused, TLS handshake, certificate verification, proxy).
    #[error("{request}: {message}")]
    Transport {
        /// The request.
        request: RequestInfo,
        /// The error and its causes, one after another.
        message: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The request did not finish within its timeout.
    #[error("{request}: timed out after {after:?}")]
    Timeout {
        /// The request.
        request: RequestInfo,
        /// The configured timeout.
        after: Duration,
    },
    /// The credential provider failed to produce a credential.
    #[error("{request}: getting credentials failed: {source}")]
    Credential {
        /// The request.
        request: RequestInfo,
        /// The provider's (secret-free) error.
        #[source]
        source: CredentialError,
    },
    /// The response body is not the expected JSON.
    #[error("{request}: decoding the response as {target} failed: {source}")]
    Decode {
        /// The request.
        request: RequestInfo,
        /// The Rust type that was expected.
        target: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Reading or decompressing the response body failed.
    #[error("{request}: reading the response body failed: {message}")]
    Body {
        /// The request.
        request: RequestInfo,
        /// What happened.
        message: String,
    },
    /// A watch stream carried data that is not a watch event.
    #[error("{request}: watch stream: {message}")]
    Watch {
        /// The request.
        request: RequestInfo,
        /// What happened.
        message: String,
    },
}

fn describe_status(status: &Status, code: u16) -> String {
    let reason = status.reason.as_deref().filter(|r| !r.is_empty()).or(reason_for_code(code));
    let message = status.message.as_deref().unwrap_or("");
    match reason {
        Some(r) if message.is_empty() => format!("{r} (HTTP {code})"),
        Some(r) => format!("{message} ({r}, HTTP {code})"),
        None if message.is_empty() => format!("HTTP {code}"),
        None => format!("{message} (HTTP {code})"),
    }
}

/// The `metav1.StatusReason` apimachinery assigns to an HTTP code when the server did not
/// say (`NewGenericServerResponse`).
pub fn reason_for_code(code: u16) -> Option<&'static str> {
    Some(match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => return None,
    })
}

impl Error {
    /// The request this error belongs to, if any (config errors have none).
    pub fn request(&self) -> Option<&RequestInfo> {
        match self {
            Error::Config(_) => None,
            Error::InvalidRequest { request, .. }
            | Error::Api { request, .. }
            | Error::Http { request, .. }
            | Error::Transport { request, .. }
            | Error::Timeout { request, .. }
            | Error::Credential { request, .. }
            | Error::Decode { request, .. }
            | Error::Body { request, .. }
            | Error::Watch { request, .. } => Some(request),
        }
    }

    /// The server's `Status`, when the server answered with one.
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Api { status, .. } => Some(status),
            _ => None,
        }
    }

    /// The HTTP status code, when the server answered.
    pub fn code(&self) -> Option<u16> {
        match self {
            Error::Api { code, status, .. } => {
                Some(status.code.and_then(|c| u16::try_from(c).ok()).filter(|c| *c != 0).unwrap_or(*code))
            }
            Error::Http { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The `metav1.StatusReason`: the server's when it sent one, otherwise the one
    /// implied by the HTTP code.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Api { status, .. } => {
                status.reason.as_deref().filter(|r| !r.is_empty()).or_else(|| self.code().and_then(reason_for_code))
            }
            Error::Http { code, .. } => reason_for_code(*code),
            _ => None,
        }
    }

    /// `Status.details` (name, group, kind, causes), when the server sent them.
    pub fn details(&self) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusDetails> {
        self.status().and_then(|s| s.details.as_ref())
    }

    fn reason_is(&self, reason: &str, code: u16) -> bool {
        match self.reason() {
            Some(r) => r == reason,
            None => self.code() == Some(code),
        }
    }

    /// The object does not exist (`NotFound`, 404).
    pub fn is_not_found(&self) -> bool {
        self.reason_is("NotFound", 404)
    }
    /// The object already exists (`AlreadyExists`, 409 on create).
    pub fn is_already_exists(&self) -> bool {
        self.reason() == Some("AlreadyExists")
    }
    /// The write conflicted with another (`Conflict`, 409): re-read and retry.
    pub fn is_conflict(&self) -> bool {
        self.reason_is("Conflict", 409)
    }
    /// The object is invalid (`Invalid`, 422); see [`details`](Self::details) for causes.
    pub fn is_invalid(&self) -> bool {
        self.reason_is("Invalid", 422)
    }
    /// The resource version is too old (`Expired`/`Gone`, 410): relist.
    pub fn is_gone(&self) -> bool {
        matches!(self.reason(), Some("Gone") | Some("Expired")) || self.code() == Some(410)
    }
    /// Not allowed (`Forbidden`, 403).
    pub fn is_forbidden(&self) -> bool {
        self.reason_is("Forbidden", 403)
    }
    /// Not authenticated (`Unauthorized`, 401).
    pub fn is_unauthorized(&self) -> bool {
        self.reason_is("Unauthorized", 401)
    }
    /// Throttled by the server (`TooManyRequests`, 429).
    pub fn is_too_many_requests(&self) -> bool {
        self.reason_is("TooManyRequests", 429) || self.code() == Some(429)
    }
    /// The operation timed out: the server said `Timeout` (504) or the client's own
    /// request timeout expired.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. }) || self.reason_is("Timeout", 504)
    }
}

/// See [`Error::is_not_found`].
pub fn is_not_found(err: &Error) -> bool {
    err.is_not_found()
}
/// See [`Error::is_already_exists`].
pub fn is_already_exists(err: &Error) -> bool {
    err.is_already_exists()
}
/// See [`Error::is_conflict`].
pub fn is_conflict(err: &Error) -> bool {
    err.is_conflict()
}
/// See [`Error::is_invalid`].
pub fn is_invalid(err: &Error) -> bool {
    err.is_invalid()
}
/// See [`Error::is_gone`].
pub fn is_gone(err: &Error) -> bool {
    err.is_gone()
}
/// See [`Error::is_forbidden`].
pub fn is_forbidden(err: &Error) -> bool {
    err.is_forbidden()
}
/// See [`Error::is_unauthorized`].
pub fn is_unauthorized(err: &Error) -> bool {
    err.is_unauthorized()
}
/// See [`Error::is_too_many_requests`].
pub fn is_too_many_requests(err: &Error) -> bool {
    err.is_too_many_requests()
}
/// See [`Error::is_timeout`].
pub fn is_timeout(err: &Error) -> bool {
    err.is_timeout()
}

/// Formats an error and its chain of causes as `a: b: c`, skipping repeats.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

/// Builds the error for a non-success response body: a `Status` if the body is one,
/// otherwise an [`Error::Http`] with a body excerpt.
pub(crate) fn error_from_response(request: RequestInfo, code: u16, body: &[u8]) -> Error {
    let is_status = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(|k| k == "Status"))
        .unwrap_or(false);
    if is_status {
        if let Ok(status) = serde_json::from_slice::<Status>(body) {
            return Error::Api { request, code, status: Box::new(status) };
        }
    }
    Error::Http { request, code, body: excerpt(body) }
}

/// At most 1 KiB of a body as lossy UTF-8, trimmed.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 1024;
    let cut = &body[..body.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).trim().to_owned();
    if body.len() > MAX {
        s.push_str("...");
    }
    if s.is_empty() {
        s.push_str("<empty body>");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RequestInfo {
        RequestInfo::new(&http::Method::GET, "https://u:p@h:6443/api/v1/pods?labelSelector=a")
    }

    #[test]
    fn request_info_drops_query_and_userinfo() {
        let i = info();
        assert_eq!(i.to_string(), "GET https://h:6443/api/v1/pods");
    }

    #[test]
    fn status_errors_classify_by_reason() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"x\" already exists","reason":"AlreadyExists","code":409}"#;
        let err = error_from_response(info(), 409, body);
        assert!(err.is_already_exists());
        assert!(!err.is_conflict());
        assert!(is_already_exists(&err));
        assert_eq!(err.code(), Some(409));
        let msg = err.to_string();
        assert!(msg.contains("GET https://h:6443/api/v1/pods"), "{msg}");
        assert!(msg.contains("already exists"), "{msg}");
    }

    #[test]
    fn non_status_body_uses_code() {
        let err = error_from_response(info(), 404, b"404 page not found\n");
        assert!(err.is_not_found());
        assert!(matches!(err, Error::Http { .. }));
        assert!(err.to_string().contains("404 page not found"));
        let err = error_from_response(info(), 410, b"{}");
        assert!(err.is_gone());
        let err = error_from_response(info(), 504, b"");
        assert!(err.is_timeout());
        assert!(err.to_string().contains("<empty body>"));
    }

    #[test]
    fn status_without_reason_falls_back_to_code() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":403}"#;
        let err = error_from_response(info(), 403, body);
        assert!(err.is_forbidden());
        assert!(is_forbidden(&err));
        assert!(!err.is_not_found());
    }
}
