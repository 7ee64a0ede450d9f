//! `rest::errors`: the one error type of the request path and the helpers that classify it.
//!
//! Everything between [`rest::Config`](super::Config) and a decoded object can fail here:
//! building the client (bad CA file, bad host URL), building a request (invalid path
//! segment), talking to the server (TLS, connection refused, timeout), and the server's
//! answer (an HTTP error carrying a `metav1.Status`). Each [`Error`] names the request
//! it belongs to (verb and URL without the query string) and never contains credentials.
//!
//! The classification helpers mirror apimachinery's `k8s.io/apimachinery/pkg/api/errors`
//! one for one, with the same rules:
//!
//! | apimachinery | here | true when |
//! |---|---|---|
//! | `IsNotFound` | [`Error::is_not_found`] | reason `NotFound`, or an unknown reason and code 404 |
//! | `IsAlreadyExists` | [`Error::is_already_exists`] | reason `AlreadyExists` |
//! | `IsConflict` | [`Error::is_conflict`] | reason `Conflict`, or unknown reason and 409 |
//! | `IsInvalid` | [`Error::is_invalid`] | reason `Invalid`, or unknown reason and 422 |
//! | `IsGone` / `IsResourceExpired` | [`Error::is_gone`] | either of the two (see below) |
//! | `IsResourceExpired` | [`Error::is_resource_expired`] | reason `Expired` |
//! | `IsNotAcceptable` | [`Error::is_not_acceptable`] | reason `NotAcceptable`, or unknown reason and 406 |
//! | `IsUnsupportedMediaType` | [`Error::is_unsupported_media_type`] | reason `UnsupportedMediaType`, or unknown reason and 415 |
//! | `IsMethodNotSupported` | [`Error::is_method_not_supported`] | reason `MethodNotAllowed`, or unknown reason and 405 |
//! | `IsServiceUnavailable` | [`Error::is_service_unavailable`] | reason `ServiceUnavailable`, or unknown reason and 503 |
//! | `IsBadRequest` | [`Error::is_bad_request`] | reason `BadRequest`, or unknown reason and 400 |
//! | `IsUnauthorized` | [`Error::is_unauthorized`] | reason `Unauthorized`, or unknown reason and 401 |
//! | `IsForbidden` | [`Error::is_forbidden`] | reason `Forbidden`, or unknown reason and 403 |
//! | `IsTimeout` | [`Error::is_timeout`] | reason `Timeout`, or unknown reason and 504; also the client's own timeout |
//! | `IsServerTimeout` | [`Error::is_server_timeout`] | reason `ServerTimeout` |
//! | `IsInternalError` | [`Error::is_internal_error`] | reason `InternalError`, or unknown reason and 500 |
//! | `IsTooManyRequests` | [`Error::is_too_many_requests`] | reason `TooManyRequests`, or code 429 (whatever the reason) |
//! | `IsRequestEntityTooLargeError` | [`Error::is_request_entity_too_large`] | reason `RequestEntityTooLarge`, or code 413 |
//! | `IsUnexpectedServerError` | [`Error::is_unexpected_server_error`] | a cause of type `UnexpectedServerResponse` |
//! | `IsStoreReadError` | [`Error::is_store_read_error`] | reason `StorageReadError` |
//! | `SuggestsClientDelay` | [`Error::suggests_client_delay`] | `Some(seconds)` as Go returns `(seconds, true)` |
//! | `ReasonForError` | [`Error::reason_for_error`] | the reason, `""` (`StatusReasonUnknown`) when none |
//!
//! "Unknown reason" means a reason that is not one of apimachinery's known reasons (an
//! empty one included). The reason and code are those of the server's `Status`; when
//! the body was not a `Status` ([`Error::Http`]) they are what client-go's
//! `NewGenericServerResponse` makes of the HTTP code and verb (409 on POST is
//! `AlreadyExists`, any other 5xx `InternalError`, ...), with the cause
//! `UnexpectedServerResponse` and the `Retry-After` seconds, so every helper answers as
//! it would in Go. Two deliberate differences: [`Error::is_gone`] is true for `Expired`
//! too (callers relisting after a 410 want both, as client-go's reflector checks both),
//! and [`Error::is_timeout`] is also true for the client-side [`Error::Timeout`]. A
//! `Status` without a `code` takes the HTTP status code. All helpers exist both as
//! methods and as free functions.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;

use crate::transport::auth::CredentialError;
// The transport's errors, re-exported: `rest::Error::Config` carries them, so callers
// of the request path name them from here too. Their home is `transport::errors`.
pub use crate::transport::errors::{
    AuthConfigError, BoxError, ConfigError, HeaderError, HostError, PemError, ProxyError, TlsConfigError,
};

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

/// Why a [`Request`](super::Request) could not be sent: the first mistake made while
/// building it (the builder keeps going, so calls chain; `send` reports this). Values
/// named here are path segments, header names and option keys, never header values.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestBuildError {
    /// A part of the path was set twice.
    #[error("{part} already set to {previous:?}, cannot change to {new:?}")]
    SetTwice {
        /// Which part.
        part: PathPart,
        /// The value set first.
        previous: String,
        /// The value set again.
        new: String,
    },
    /// A part of the path is not a valid path segment.
    #[error("invalid {part} {value:?}: {reason}")]
    InvalidSegment {
        /// Which part.
        part: PathPart,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: PathSegmentError,
    },
    /// `name("")`.
    #[error("resource name may not be empty")]
    EmptyName,
    /// A header name that HTTP does not allow.
    #[error("invalid header name {name:?}")]
    HeaderName {
        /// The name given.
        name: String,
    },
    /// A header value that HTTP does not allow (the value is not shown: it may be a
    /// credential).
    #[error("invalid value for header {name:?}")]
    HeaderValue {
        /// The header's name.
        name: String,
    },
    /// The `Content-Type` cannot be a header value.
    #[error("invalid content type {content_type:?}")]
    ContentType {
        /// The content type given.
        content_type: String,
    },
    /// The body could not be serialized as JSON.
    #[error("the body could not be serialized: {0}")]
    Body(#[source] std::sync::Arc<serde_json::Error>),
    /// The body file could not be read.
    #[error("could not read the body file {}: {source}", path.display())]
    BodyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// A one-shot body stream was already sent by an earlier `send` of this request.
    #[error("the body stream was already sent and cannot be sent again")]
    BodyConsumed,
    /// An options value ([`ListOptions`](super::ListOptions), ...) could not become
    /// query parameters.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// The URL could not be made into an HTTP request.
    #[error("invalid URL {url:?}")]
    Url {
        /// The URL, without query string or user info.
        url: String,
    },
    /// Server-side apply without a field manager.
    #[error("server-side apply needs a field manager")]
    MissingFieldManager,
    /// A call that needs an earlier one first (e.g. a lease lock's update before its
    /// get or create).
    #[error("{0}")]
    Precondition(&'static str),
}

/// Why a response body could not be read ([`Error::Body`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The connection failed while the body was arriving.
    #[error("{message}")]
    Read {
        /// The error and its causes, one after another.
        message: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The gzip-compressed body is corrupt or truncated.
    #[error("gzip: {0}")]
    Gzip(#[source] std::io::Error),
    /// The body is gzip-compressed but ferrokube was built without its `gzip` feature.
    #[error(
        "the body is gzip-compressed (Content-Encoding: gzip), but ferrokube was built \
         without its \"gzip\" Cargo feature"
    )]
    GzipFeatureMissing,
    /// The task fetching a page ahead failed (it panicked or was cancelled).
    #[error("the page request task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}

/// Why an options value could not become query parameters
/// ([`Request::versioned_params`](super::Request::versioned_params)).
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OptionsError {
    /// serde could not serialize it.
    #[error("options could not be serialized: {0}")]
    Serialize(#[source] std::sync::Arc<serde_json::Error>),
    /// It is not a struct or map.
    #[error("options must serialize to a JSON object")]
    NotAnObject,
    /// A field is an object, or a list of something other than scalars.
    #[error("option {key:?} is not a scalar or list of scalars")]
    NotScalar {
        /// The field's (query parameter's) name.
        key: String,
    },
}

/// The parts of a request path that can be set only once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathPart {
    /// `namespace(..)`.
    Namespace,
    /// `resource(..)`.
    Resource,
    /// `name(..)`.
    Name,
    /// `subresource(..)`.
    Subresource,
}

impl fmt::Display for PathPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathPart::Namespace => "namespace",
            PathPart::Resource => "resource",
            PathPart::Name => "resource name",
            PathPart::Subresource => "subresource",
        })
    }
}

/// Why a string cannot be a path segment (apimachinery `IsValidPathSegmentName`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathSegmentError {
    /// `.` or `..`.
    #[error("may not be '{0}'")]
    Dots(&'static str),
    /// Contains `/` or `%`.
    #[error("may not contain '{0}'")]
    Contains(char),
}

/// The error of every operation of [`RESTClient`](super::RESTClient) and
/// [`Request`](super::Request).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client could not be built from its config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The request was built wrongly (invalid path segment, a field set twice, a body
    /// that could not be serialized). Nothing was sent.
    #[error("{request}: invalid request: {source}")]
    InvalidRequest {
        /// The request.
        request: RequestInfo,
        /// What is wrong.
        #[source]
        source: RequestBuildError,
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
    #[error("{request}: the server responded with HTTP {code} ({}): {body}", display_reason(generic_reason(*code, &request.verb)))]
    Http {
        /// The request.
        request: RequestInfo,
        /// HTTP status code.
        code: u16,
        /// The start of the response body (lossy UTF-8, at most 1 KiB).
        body: String,
        /// The response's numeric `Retry-After` header, if any.
        retry_after_seconds: Option<i32>,
    },
    /// The request could not be delivered or the response not received (DNS,
    /// connection refused, TLS handshake, certificate verification, proxy).
    #[error("{request}: {message}{}", previous_suffix(previous))]
    Transport {
        /// The request.
        request: RequestInfo,
        /// The error and its causes, one after another.
        message: String,
        /// The error of an earlier attempt, when the request was retried and that
        /// attempt failed differently (client-go `WrapPreviousError`).
        previous: Option<String>,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The request did not finish within its timeout.
    #[error("{request}: timed out after {after:?}{}", previous_suffix(previous))]
    Timeout {
        /// The request.
        request: RequestInfo,
        /// The configured timeout.
        after: Duration,
        /// The error of an earlier attempt, when one failed before the time ran out
        /// (client-go `WrapPreviousError`).
        previous: Option<String>,
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
    /// The response body is not the expected Kubernetes protobuf.
    #[error("{request}: decoding the protobuf response as {target} failed: {source}")]
    DecodeProtobuf {
        /// The request.
        request: RequestInfo,
        /// The Rust type that was expected.
        target: &'static str,
        /// What was wrong, naming the message type and field.
        #[source]
        source: ferrokube_apimachinery::protobuf::CodecError,
    },
    /// Reading or decompressing the response body failed.
    #[error("{request}: reading the response body failed: {source}")]
    Body {
        /// The request.
        request: RequestInfo,
        /// What happened.
        #[source]
        source: BodyError,
    },
    /// A watch stream carried data that is not a watch event.
    #[error("{request}: watch stream: {source}")]
    Watch {
        /// The request.
        request: RequestInfo,
        /// What is wrong: a broken stream or one bad event.
        #[source]
        source: crate::watch::DecodeError,
    },
}

fn previous_suffix(previous: &Option<String>) -> String {
    match previous {
        Some(p) => format!(" - error from a previous attempt: {p}"),
        None => String::new(),
    }
}

fn display_reason(reason: &str) -> &str {
    if reason.is_empty() {
        "Unknown"
    } else {
        reason
    }
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

/// The reason client-go gives an error response whose body is not a `Status`
/// (apimachinery `NewGenericServerResponse`): 409 is `AlreadyExists` for a POST and
/// `Conflict` otherwise, any 5xx without a reason of its own is `InternalError`, codes
/// without a reason give `""` (`StatusReasonUnknown`).
pub fn generic_reason(code: u16, verb: &str) -> &'static str {
    match code {
        409 if verb.eq_ignore_ascii_case("POST") => "AlreadyExists",
        409 => "Conflict",
        404 => "NotFound",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        406 => "NotAcceptable",
        415 => "UnsupportedMediaType",
        405 => "MethodNotAllowed",
        422 => "Invalid",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        429 => "TooManyRequests",
        c if c >= 500 => "InternalError",
        _ => "",
    }
}

/// apimachinery's `knownReasons`: a reason outside this list (or none) lets the
/// helpers fall back to the HTTP code.
const KNOWN_REASONS: &[&str] = &[
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "AlreadyExists",
    "Conflict",
    "Gone",
    "Invalid",
    "ServerTimeout",
    "StorageReadError",
    "Timeout",
    "TooManyRequests",
    "BadRequest",
    "MethodNotAllowed",
    "NotAcceptable",
    "RequestEntityTooLarge",
    "UnsupportedMediaType",
    "InternalError",
    "Expired",
    "ServiceUnavailable",
];

/// The cause type client-go attaches to errors made from a non-`Status` body.
pub const CAUSE_TYPE_UNEXPECTED_SERVER_RESPONSE: &str = "UnexpectedServerResponse";

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
            | Error::DecodeProtobuf { request, .. }
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

    /// The `metav1.StatusReason` for display: the server's when it sent one, otherwise
    /// the one implied by the HTTP code; `None` when there is neither. The
    /// classification helpers use [`reason_for_error`](Self::reason_for_error), which
    /// is exactly apimachinery's.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Api { status, .. } => {
                status.reason.as_deref().filter(|r| !r.is_empty()).or_else(|| self.code().and_then(reason_for_code))
            }
            Error::Http { code, request, .. } => Some(generic_reason(*code, &request.verb)).filter(|r| !r.is_empty()),
            _ => None,
        }
    }

    /// `Status.details` (name, group, kind, causes), when the server sent them.
    pub fn details(&self) -> Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusDetails> {
        self.status().and_then(|s| s.details.as_ref())
    }

    /// apimachinery's `reasonAndCodeForError`: the `Status` reason (`""` when the
    /// server gave none) and code, or the generic ones for a non-`Status` body; `None`
    /// when the server did not answer.
    fn reason_and_code(&self) -> Option<(&str, u16)> {
        match self {
            Error::Api { .. } => {
                let status = self.status()?;
                Some((status.reason.as_deref().unwrap_or(""), self.code().unwrap_or(0)))
            }
            Error::Http { request, code, .. } => Some((generic_reason(*code, &request.verb), *code)),
            _ => None,
        }
    }

    /// `reason == wanted`, or (the reason is not a known one and the code is `code`).
    fn reason_or_unknown_with_code(&self, wanted: &str, code: u16) -> bool {
        match self.reason_and_code() {
            Some((reason, c)) => reason == wanted || (!KNOWN_REASONS.contains(&reason) && c == code),
            None => false,
        }
    }

    /// The reason alone decides.
    fn reason_equals(&self, wanted: &str) -> bool {
        self.reason_for_error() == wanted
    }

    /// `reason == wanted` or the code is `code`, whatever the reason.
    fn reason_or_code(&self, wanted: &str, code: u16) -> bool {
        self.reason_and_code().is_some_and(|(r, c)| r == wanted || c == code)
    }

    /// The `metav1.StatusReason` (apimachinery `ReasonForError`): the server's, or the
    /// generic one for a body that was not a `Status`; `""` (`StatusReasonUnknown`)
    /// when there is none or the server did not answer.
    pub fn reason_for_error(&self) -> &str {
        self.reason_and_code().map_or("", |(r, _)| r)
    }

    /// The object does not exist (`NotFound`, 404).
    pub fn is_not_found(&self) -> bool {
        self.reason_or_unknown_with_code("NotFound", 404)
    }
    /// The object already exists (`AlreadyExists`; a 409 to a POST without a `Status`).
    pub fn is_already_exists(&self) -> bool {
        self.reason_equals("AlreadyExists")
    }
    /// The write conflicted with another (`Conflict`, 409): re-read and retry.
    pub fn is_conflict(&self) -> bool {
        self.reason_or_unknown_with_code("Conflict", 409)
    }
    /// The object is invalid (`Invalid`, 422); see [`details`](Self::details) for causes.
    pub fn is_invalid(&self) -> bool {
        self.reason_or_unknown_with_code("Invalid", 422)
    }
    /// The resource version is too old: `Gone` (or an unknown reason and 410) as
    /// apimachinery's `IsGone`, or `Expired` as its `IsResourceExpired`. Both mean
    /// "relist"; use [`is_resource_expired`](Self::is_resource_expired) for `Expired` alone.
    pub fn is_gone(&self) -> bool {
        self.reason_or_unknown_with_code("Gone", 410) || self.is_resource_expired()
    }
    /// The resource version or continue token expired (`Expired`).
    pub fn is_resource_expired(&self) -> bool {
        self.reason_equals("Expired")
    }
    /// The server cannot answer in any content type the client accepts
    /// (`NotAcceptable`, 406).
    pub fn is_not_acceptable(&self) -> bool {
        self.reason_or_unknown_with_code("NotAcceptable", 406)
    }
    /// The server does not accept the body's content type (`UnsupportedMediaType`, 415).
    pub fn is_unsupported_media_type(&self) -> bool {
        self.reason_or_unknown_with_code("UnsupportedMediaType", 415)
    }
    /// The verb is not allowed on the resource (`MethodNotAllowed`, 405).
    pub fn is_method_not_supported(&self) -> bool {
        self.reason_or_unknown_with_code("MethodNotAllowed", 405)
    }
    /// The server cannot serve now (`ServiceUnavailable`, 503).
    pub fn is_service_unavailable(&self) -> bool {
        self.reason_or_unknown_with_code("ServiceUnavailable", 503)
    }
    /// The request was malformed (`BadRequest`, 400).
    pub fn is_bad_request(&self) -> bool {
        self.reason_or_unknown_with_code("BadRequest", 400)
    }
    /// Not allowed (`Forbidden`, 403).
    pub fn is_forbidden(&self) -> bool {
        self.reason_or_unknown_with_code("Forbidden", 403)
    }
    /// Not authenticated (`Unauthorized`, 401).
    pub fn is_unauthorized(&self) -> bool {
        self.reason_or_unknown_with_code("Unauthorized", 401)
    }
    /// Throttled by the server (`TooManyRequests`, or code 429 whatever the reason).
    pub fn is_too_many_requests(&self) -> bool {
        self.reason_or_code("TooManyRequests", 429)
    }
    /// The body is too large (`RequestEntityTooLarge`, or code 413 whatever the reason).
    pub fn is_request_entity_too_large(&self) -> bool {
        self.reason_or_code("RequestEntityTooLarge", 413)
    }
    /// The operation timed out: the server said `Timeout` (or an unknown reason with
    /// 504), or the client's own request timeout expired ([`Error::Timeout`]).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. }) || self.reason_or_unknown_with_code("Timeout", 504)
    }
    /// The server could not finish in time and suggests retrying (`ServerTimeout`).
    pub fn is_server_timeout(&self) -> bool {
        self.reason_equals("ServerTimeout")
    }
    /// The server failed internally (`InternalError`, or an unknown reason and 500;
    /// every 5xx without a `Status` body counts, as client-go names them so).
    pub fn is_internal_error(&self) -> bool {
        self.reason_or_unknown_with_code("InternalError", 500)
    }
    /// The storage could not read the object (`StorageReadError`).
    pub fn is_store_read_error(&self) -> bool {
        self.reason_equals("StorageReadError")
    }
    /// The server answered with something that is not a `Status` (apimachinery
    /// `IsUnexpectedServerError`: a cause of type `UnexpectedServerResponse`).
    pub fn is_unexpected_server_error(&self) -> bool {
        match self {
            Error::Http { .. } => true,
            _ => self.details().is_some_and(|d| {
                d.causes.iter().flatten().any(|c| c.reason.as_deref() == Some(CAUSE_TYPE_UNEXPECTED_SERVER_RESPONSE))
            }),
        }
    }
    /// How many seconds the server asked the client to wait (apimachinery
    /// `SuggestsClientDelay`): with a `ServerTimeout` reason the `retryAfterSeconds` of
    /// the details whatever it is, otherwise when it is above zero. For a body that was
    /// not a `Status`, the `Retry-After` header when above zero.
    pub fn suggests_client_delay(&self) -> Option<i32> {
        match self {
            Error::Http { retry_after_seconds, .. } => retry_after_seconds.filter(|s| *s > 0),
            Error::Api { .. } => {
                let status = self.status()?;
                let details = status.details.as_ref()?;
                let seconds = details.retry_after_seconds.unwrap_or(0);
                if status.reason.as_deref() == Some("ServerTimeout") || seconds > 0 {
                    Some(seconds)
                } else {
                    None
                }
            }
            _ => None,
        }
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

/// See [`Error::is_resource_expired`].
pub fn is_resource_expired(err: &Error) -> bool {
    err.is_resource_expired()
}
/// See [`Error::is_not_acceptable`].
pub fn is_not_acceptable(err: &Error) -> bool {
    err.is_not_acceptable()
}
/// See [`Error::is_unsupported_media_type`].
pub fn is_unsupported_media_type(err: &Error) -> bool {
    err.is_unsupported_media_type()
}
/// See [`Error::is_method_not_supported`].
pub fn is_method_not_supported(err: &Error) -> bool {
    err.is_method_not_supported()
}
/// See [`Error::is_service_unavailable`].
pub fn is_service_unavailable(err: &Error) -> bool {
    err.is_service_unavailable()
}
/// See [`Error::is_bad_request`].
pub fn is_bad_request(err: &Error) -> bool {
    err.is_bad_request()
}
/// See [`Error::is_request_entity_too_large`].
pub fn is_request_entity_too_large(err: &Error) -> bool {
    err.is_request_entity_too_large()
}
/// See [`Error::is_server_timeout`].
pub fn is_server_timeout(err: &Error) -> bool {
    err.is_server_timeout()
}
/// See [`Error::is_internal_error`].
pub fn is_internal_error(err: &Error) -> bool {
    err.is_internal_error()
}
/// See [`Error::is_store_read_error`].
pub fn is_store_read_error(err: &Error) -> bool {
    err.is_store_read_error()
}
/// See [`Error::is_unexpected_server_error`].
pub fn is_unexpected_server_error(err: &Error) -> bool {
    err.is_unexpected_server_error()
}
/// See [`Error::suggests_client_delay`].
pub fn suggests_client_delay(err: &Error) -> Option<i32> {
    err.suggests_client_delay()
}
/// See [`Error::reason_for_error`].
pub fn reason_for_error(err: &Error) -> &str {
    err.reason_for_error()
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
pub(crate) fn error_from_response(
    request: RequestInfo,
    code: u16,
    body: &[u8],
    retry_after_seconds: Option<i32>,
) -> Error {
    // A protobuf answer (to a request that accepted protobuf): an enveloped `Status`.
    if body.starts_with(ferrokube_apimachinery::protobuf::MAGIC) {
        if let Ok(status) = ferrokube_apimachinery::protobuf::decode_object::<Status>(body) {
            return Error::Api { request, code, status: Box::new(status) };
        }
    }
    let is_status = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(|k| k == "Status"))
        .unwrap_or(false);
    if is_status {
        if let Ok(status) = serde_json::from_slice::<Status>(body) {
            return Error::Api { request, code, status: Box::new(status) };
        }
    }
    Error::Http { request, code, body: excerpt(body), retry_after_seconds }
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
        let err = error_from_response(info(), 409, body, None);
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
        let err = error_from_response(info(), 404, b"404 page not found\n", None);
        assert!(err.is_not_found());
        assert!(matches!(err, Error::Http { .. }));
        assert!(err.to_string().contains("404 page not found"));
        let err = error_from_response(info(), 410, b"{}", None);
        assert!(err.is_gone());
        let err = error_from_response(info(), 504, b"", None);
        assert!(err.is_timeout());
        assert!(err.to_string().contains("<empty body>"));
    }

    #[test]
    fn status_without_reason_falls_back_to_code() {
        let body = br#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":403}"#;
        let err = error_from_response(info(), 403, body, None);
        assert!(err.is_forbidden());
        assert!(is_forbidden(&err));
        assert!(!err.is_not_found());
    }

    fn status(code: u16, reason: &str, details: serde_json::Value) -> Error {
        let body = serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure",
            "reason":reason,"code":code,"details":details});
        error_from_response(info(), code, body.to_string().as_bytes(), None)
    }

    fn plain(verb: http::Method, code: u16, retry_after: Option<i32>) -> Error {
        error_from_response(RequestInfo::new(&verb, "https://h/api/v1/pods"), code, b"oops", retry_after)
    }

    /// Each helper against its reason, its code with an unknown reason, and its code
    /// with another known reason (which must not count, except for the code-only ones).
    #[test]
    fn helpers_follow_apimachinery_reason_or_code_rules() {
        type Check = fn(&Error) -> bool;
        let reason_or_unknown_code: [(&str, u16, Check); 13] = [
            ("NotFound", 404, Error::is_not_found),
            ("Conflict", 409, Error::is_conflict),
            ("Invalid", 422, Error::is_invalid),
            ("Gone", 410, Error::is_gone),
            ("NotAcceptable", 406, Error::is_not_acceptable),
            ("UnsupportedMediaType", 415, Error::is_unsupported_media_type),
            ("MethodNotAllowed", 405, Error::is_method_not_supported),
            ("ServiceUnavailable", 503, Error::is_service_unavailable),
            ("BadRequest", 400, Error::is_bad_request),
            ("Unauthorized", 401, Error::is_unauthorized),
            ("Forbidden", 403, Error::is_forbidden),
            ("Timeout", 504, Error::is_timeout),
            ("InternalError", 500, Error::is_internal_error),
        ];
        for (reason, code, check) in reason_or_unknown_code {
            assert!(check(&status(418, reason, serde_json::json!({}))), "{reason} by reason");
            assert!(check(&status(code, "", serde_json::json!({}))), "{reason}: empty reason and {code}");
            assert!(check(&status(code, "SomethingNew", serde_json::json!({}))), "{reason}: unknown reason and {code}");
            assert!(!check(&status(code, "AlreadyExists", serde_json::json!({}))), "{reason}: known reason wins");
            assert!(!check(&status(200, "", serde_json::json!({}))), "{reason}: neither");
        }
        let reason_or_code: [(&str, u16, Check); 2] = [
            ("TooManyRequests", 429, Error::is_too_many_requests),
            ("RequestEntityTooLarge", 413, Error::is_request_entity_too_large),
        ];
        for (reason, code, check) in reason_or_code {
            assert!(check(&status(418, reason, serde_json::json!({}))), "{reason} by reason");
            assert!(check(&status(code, "Conflict", serde_json::json!({}))), "{reason}: code alone");
        }
        let reason_only: [(&str, u16, Check); 4] = [
            ("AlreadyExists", 409, Error::is_already_exists),
            ("Expired", 410, Error::is_resource_expired),
            ("ServerTimeout", 500, Error::is_server_timeout),
            ("StorageReadError", 500, Error::is_store_read_error),
        ];
        for (reason, code, check) in reason_only {
            assert!(check(&status(code, reason, serde_json::json!({}))), "{reason}");
            assert!(!check(&status(code, "", serde_json::json!({}))), "{reason} needs the reason");
        }
        // `is_gone` also covers `Expired` (see the module docs).
        assert!(status(410, "Expired", serde_json::json!({})).is_gone());
        assert!(is_resource_expired(&status(410, "Expired", serde_json::json!({}))));
    }

    #[test]
    fn plain_bodies_get_client_go_generic_reasons() {
        let post = plain(http::Method::POST, 409, None);
        assert!(post.is_already_exists() && !post.is_conflict(), "409 to a POST is AlreadyExists");
        let put = plain(http::Method::PUT, 409, None);
        assert!(put.is_conflict() && !put.is_already_exists());
        let bad_gateway = plain(http::Method::GET, 502, None);
        assert_eq!(bad_gateway.reason_for_error(), "InternalError");
        assert!(bad_gateway.is_internal_error() && is_internal_error(&bad_gateway));
        assert!(bad_gateway.to_string().contains("HTTP 502 (InternalError)"), "{bad_gateway}");
        let teapot = plain(http::Method::GET, 418, None);
        assert_eq!(reason_for_error(&teapot), "");
        assert!(teapot.to_string().contains("(Unknown)"), "{teapot}");
        let gone = plain(http::Method::GET, 410, None);
        assert!(gone.is_gone() && !gone.is_resource_expired());
        for e in [&post, &bad_gateway, &teapot] {
            assert!(e.is_unexpected_server_error() && is_unexpected_server_error(e));
        }
        assert!(plain(http::Method::GET, 413, None).is_request_entity_too_large());
        assert!(plain(http::Method::GET, 415, None).is_unsupported_media_type());
        assert!(plain(http::Method::GET, 405, None).is_method_not_supported());
        assert!(plain(http::Method::GET, 400, None).is_bad_request());
        assert!(plain(http::Method::GET, 503, None).is_service_unavailable());
    }

    #[test]
    fn suggests_client_delay_like_go() {
        let server_timeout = status(504, "ServerTimeout", serde_json::json!({"retryAfterSeconds": 0}));
        assert_eq!(server_timeout.suggests_client_delay(), Some(0), "ServerTimeout suggests even 0 s");
        let throttled = status(429, "TooManyRequests", serde_json::json!({"retryAfterSeconds": 7}));
        assert_eq!(suggests_client_delay(&throttled), Some(7));
        let no_delay = status(429, "TooManyRequests", serde_json::json!({}));
        assert_eq!(no_delay.suggests_client_delay(), None);
        let no_details = error_from_response(
            info(),
            504,
            br#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"ServerTimeout","code":504}"#,
            None,
        );
        assert_eq!(no_details.suggests_client_delay(), None, "Go needs details");
        assert_eq!(plain(http::Method::GET, 503, Some(3)).suggests_client_delay(), Some(3));
        assert_eq!(plain(http::Method::GET, 503, Some(0)).suggests_client_delay(), None);
        let cause = status(
            500,
            "InternalError",
            serde_json::json!({"causes":[{"reason":"UnexpectedServerResponse","message":"x"}]}),
        );
        // A cause's `reason` field is its type (`metav1.StatusCause.Type`).
        assert!(cause.is_unexpected_server_error());
        assert!(!status(500, "InternalError", serde_json::json!({})).is_unexpected_server_error());
    }

    #[test]
    fn previous_attempt_error_is_named() {
        let err = Error::Timeout { request: info(), after: Duration::from_secs(1), previous: Some("EOF".into()) };
        assert_eq!(
            err.to_string(),
            "GET https://h:6443/api/v1/pods: timed out after 1s - error from a previous attempt: EOF"
        );
        assert!(err.is_timeout());
    }
}
