//! `rest`: the request path from a [`Config`] to a decoded object (client-go `rest`).
//!
//! `clientcmd` (or your code) produces a [`Config`]; [`RESTClient::new`] turns it into a
//! client with a pooled TLS transport ([`crate::transport`]), a rate limiter
//! ([`rate_limit`]) and user middleware ([`transport::hooks`](crate::transport::hooks)). Each call such as
//! [`RESTClient::get`] starts a [`Request`] builder ([`request`]; its URL is put together
//! by `request_url`, its body is one of the kinds in [`body`]); sending it goes
//! through the rate limiter, the [`backoff`] manager, the retry rules ([`with_retry`])
//! and the transport, reports to the [`tools::metrics`](crate::tools::metrics) hooks, and comes back as a
//! [`Response`] ([`response`]; large lists decode on several cores, [`list_decode`]), an
//! [`Error`] carrying the server's `Status` ([`errors`]), a byte stream, or a
//! [`watch`](crate::watch) event stream. Typed query options live in [`options`];
//! `Warning` headers go to [`warnings`].
//!
//! # Knobs
//!
//! Every setting that shapes how a request is sent, with client-go's name and default:
//!
//! | setting | client-go | default |
//! |---|---|---|
//! | [`Config::qps`], [`Config::burst`] | `Config.QPS`, `Config.Burst` | 5, 10 |
//! | [`Config::rate_limiter`] | `Config.RateLimiter` | a token bucket from `qps`/`burst` |
//! | [`Config::timeout`] | `Config.Timeout` | none (0) |
//! | [`Request::timeout`] | `Request.Timeout` (also the `timeout` query parameter) | `Config::timeout` |
//! | [`Config::max_retries`], [`Request::max_retries`] | `Request.MaxRetries` (client-go has no config field) | 10 retries (11 attempts) |
//! | [`Config::backoff`] | `readExpBackoffConfig` | [`BackoffChoice::FromEnv`]: [`NoBackoff`] unless the two variables below are set |
//! | `KUBE_CLIENT_BACKOFF_BASE`, `KUBE_CLIENT_BACKOFF_DURATION` | the same variables | unset |
//! | [`Request::backoff`] | `Request.BackOff` | the client's |
//! | [`Config::metrics`] | `tools/metrics.Register` | none |
//! | [`Config::warning_handler`] | `Config.WarningHandler` | log each distinct warning once |
//! | [`Config::wrap_transport`] | `Config.WrapTransport` | none |
//! | [`Config::disable_compression`] | `Config.DisableCompression` | false (loopback servers are never asked for gzip) |
//! | [`Config::user_agent`] | `Config.UserAgent` | `ferrokube/<version> (<os>/<arch>)` |
//! | [`Config::proxy_url`] | `Config.Proxy` | `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` |
//! | [`ContentConfig`] | `ContentConfig` | `application/json` both ways |
//! | [`TlsClientConfig::next_protos`] | `TLSClientConfig.NextProtos` | `h2` and `http/1.1` |
//! | throttling log thresholds ([`rate_limit`]) | `longThrottleLatency`, `extraLongThrottleLatency` | 50 ms (`info`), 1 s (`warn`) |
//!
//! What is retried ([`with_retry`]): 429 and 5xx answers that carry a numeric
//! `Retry-After` (after that many seconds, and at least the backoff manager's delay);
//! lost connections (reset, EOF) of GETs after 1 s; nothing with a one-shot streamed
//! body. Everything else — a 429 without `Retry-After`, a refused connection, a POST
//! whose connection dropped — is returned at once. When the last attempt failed
//! differently from an earlier one, the error names both.
//!
//! # Deliberate differences from client-go
//!
//! - The backoff environment variables are read when the client is built, not for
//!   every request.
//! - Watches and streams get neither a client-side timeout nor the `timeout`
//!   parameter from [`Config::timeout`]; a watch's server-side limit is
//!   `ListOptions::timeout_seconds`.
//! - A watch whose last attempt ended in a retryable error returns that error, where
//!   client-go returns an empty watch.
//! - After a 401, a request is sent once more when a credential provider can refresh
//!   its credential (exec plugins, OIDC); that attempt is not counted as a retry.
//! - The request latency metric runs until the response headers, not until the body
//!   is read.
//! - [`Error::is_gone`] is also true for `Expired`, and [`Error::is_timeout`] for the
//!   client's own timeout (see [`errors`]).
pub mod backoff;
pub mod body;
pub mod client;
pub mod config;
pub mod errors;
pub mod list_decode;
pub mod options;
pub mod rate_limit;
pub mod request;
mod request_url;
pub mod response;
pub mod warnings;
pub mod with_retry;

pub use crate::tools::metrics::RequestMetrics;
pub use backoff::{BackoffChoice, BackoffManager, NoBackoff, URLBackoff};
pub use client::RESTClient;
pub use config::{Config, ContentConfig, ImpersonationConfig, RateLimiterChoice, TlsClientConfig};
pub use errors::{
    AuthConfigError, BodyError, ConfigError, Error, HeaderError, HostError, OptionsError, PathPart, PathSegmentError,
    PemError, ProxyError, RequestBuildError, RequestInfo, TlsConfigError,
};
pub use options::{
    ApplyOptions, CreateOptions, DeleteOptions, GetOptions, ListOptions, PatchOptions, PatchType, Preconditions,
    PropagationPolicy, UpdateOptions,
};
pub use request::Request;
pub use response::{BodyStream, Response};
