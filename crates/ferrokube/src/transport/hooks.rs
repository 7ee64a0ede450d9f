//! `transport::hooks`: user middleware around the HTTP transport (client-go
//! `Config.WrapTransport`).
//!
//! The [`RESTClient`](crate::rest::RESTClient) sends every finished request — URL, auth and
//! impersonation headers, body all in place — through an [`HttpService`]: a boxed
//! `tower::Service` from `http::Request<RequestBody>` to `http::Response<ResponseBody>`.
//! At the bottom of that service is the pooled hyper client (TLS, proxy, HTTP/2).
//! Each [`TransportLayer`] in `Config::wrap_transport` wraps it, in order, so the last
//! layer is the outermost; a layer sees each attempt of a retried request. Use layers
//! for metrics, tracing, header injection, or to replace the network in tests. Layers
//! are applied again when the client starts a new connection pool (after a credential
//! provider rotates the client certificate), so keep shared state behind an `Arc`.
//!
//! ```
//! use ferrokube::transport::hooks::TransportLayer;
//!
//! let add_header = TransportLayer::new(tower::layer::layer_fn(|inner| {
//!     tower::util::MapRequest::new(inner, |mut req: http::Request<_>| {
//!         req.headers_mut().insert("x-team", http::HeaderValue::from_static("infra"));
//!         req
//!     })
//! }));
//! let mut config = ferrokube::Config::new("https://127.0.0.1:6443");
//! config.wrap_transport.push(add_header);
//! ```

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use tower::{Layer, Service, ServiceExt};

pub use super::errors::BoxError;

pub use super::body::RequestBody;

/// Body of responses coming back through the transport.
pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// The HTTP service a client sends requests through.
pub type HttpService =
    tower::util::BoxCloneSyncService<http::Request<RequestBody>, http::Response<ResponseBody>, BoxError>;

/// A transformation of the [`HttpService`]: usually a `tower::Layer`.
#[derive(Clone)]
pub struct TransportLayer {
    wrap: Arc<dyn Fn(HttpService) -> HttpService + Send + Sync>,
}

impl TransportLayer {
    /// Wraps any `tower::Layer` whose service speaks the transport's request and
    /// response types.
    pub fn new<L>(layer: L) -> Self
    where
        L: Layer<HttpService> + Send + Sync + 'static,
        L::Service: Service<http::Request<RequestBody>, Response = http::Response<ResponseBody>>
            + Clone
            + Send
            + Sync
            + 'static,
        <L::Service as Service<http::Request<RequestBody>>>::Error: Into<BoxError>,
        <L::Service as Service<http::Request<RequestBody>>>::Future: Send + 'static,
    {
        TransportLayer { wrap: Arc::new(move |inner| HttpService::new(layer.layer(inner).map_err(Into::into))) }
    }

    /// A transformation given as a function from service to service.
    pub fn from_fn(f: impl Fn(HttpService) -> HttpService + Send + Sync + 'static) -> Self {
        TransportLayer { wrap: Arc::new(f) }
    }

    /// Applies this layer to `inner`.
    pub fn apply(&self, inner: HttpService) -> HttpService {
        (self.wrap)(inner)
    }
}

impl fmt::Debug for TransportLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportLayer")
    }
}

/// Boxes any body into a [`ResponseBody`].
pub fn boxed_response_body<B>(body: B) -> ResponseBody
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use http_body_util::BodyExt;
    body.map_err(Into::into).boxed_unsync()
}
