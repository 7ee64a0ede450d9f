//! `rest`: the request path from a [`Config`] to a decoded object (client-go `rest`).
//!
//! `clientcmd` (or your code) produces a [`Config`]; [`RESTClient::new`] turns it into a
//! client with a pooled TLS transport ([`crate::transport`]), a rate limiter
//! ([`rate_limit`]) and user middleware ([`transport_hooks`]). Each call such as
//! [`RESTClient::get`] starts a [`Request`] builder ([`request`]; its URL is put together
//! by `request_url`); sending it goes
//! through the rate limiter, the retry rules ([`backoff`]) and the transport, and comes
//! back as a [`Response`] ([`response`]; large lists decode on several cores,
//! [`list_decode`]), an [`Error`] carrying the server's `Status`
//! ([`errors`]), a byte stream, or a [`watch`](crate::watch) event stream. Typed query
//! options live in [`options`]; `Warning` headers go to [`warnings`].
pub mod backoff;
pub mod body;
pub mod client;
pub mod config;
pub mod errors;
pub mod list_decode;
pub mod metrics;
pub mod options;
pub mod rate_limit;
pub mod request;
mod request_url;
pub mod response;
pub mod transport_hooks;
pub mod warnings;
pub mod with_retry;

pub use backoff::{BackoffChoice, BackoffManager, NoBackoff, URLBackoff};
pub use client::RESTClient;
pub use config::{Config, ContentConfig, ImpersonationConfig, RateLimiterChoice, TlsClientConfig};
pub use errors::{ConfigError, Error, RequestInfo};
pub use metrics::RequestMetrics;
pub use options::{
    CreateOptions, DeleteOptions, GetOptions, ListOptions, PatchOptions, PatchType, Preconditions, PropagationPolicy,
    UpdateOptions,
};
pub use request::Request;
pub use response::{BodyStream, Response};
