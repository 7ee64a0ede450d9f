//! `transport::client`: the HTTP client stack of one `RESTClient` (client-go's
//! `transport.New`, which returns the round tripper).
//!
//! [`Transport::new`] builds, once, the rustls configuration with its client-certificate
//! resolver, the proxy route, the pooled connector wrapped in the user's layers, and the
//! [`Authenticator`] that stamps each request. When a credential provider hands out a new
//! client certificate, [`Transport::reset_connections`] starts a fresh connection pool so
//! new connections present it, as client-go closes its connections on rotation.

use std::sync::{Arc, RwLock};

use super::config::Config;
use super::connector::build_http_service;
use super::errors::ConfigError;
use super::headers::Authenticator;
use super::hooks::HttpService;
use super::tls::{client_config, static_client_cert, ClientCertResolver};

/// The connection pool and request authenticator for one server.
pub struct Transport {
    /// Replaced (a new connection pool) when the client certificate rotates.
    service: RwLock<HttpService>,
    rebuild_service: Box<dyn Fn() -> Result<HttpService, ConfigError> + Send + Sync>,
    auth: Authenticator,
}

impl Transport {
    /// Builds the stack for `server` (scheme, host and port) from `config`.
    pub fn new(config: &Config, server: &http::Uri) -> Result<Self, ConfigError> {
        let tls = &config.tls;
        let resolver = Arc::new(ClientCertResolver::new(static_client_cert(tls)?));
        let rustls_config = client_config(tls, resolver.clone(), server.scheme_str() == Some("https"))?;
        let route = super::proxy::route(server, config.proxy_url.as_deref())?;
        tracing::debug!(host = %server, route = ?route, "building transport");
        let server_name = tls.server_name.clone();
        let next_protos = tls.next_protos.clone();
        let layers = config.wrap_transport.clone();
        let rebuild_service = move || {
            // A fresh session cache: a resumed TLS session would carry the old client
            // certificate into the new connections.
            let mut tls = rustls_config.clone();
            tls.resumption = rustls::client::Resumption::default();
            let mut service = build_http_service(tls, server_name.as_deref(), &next_protos, &route)?;
            for layer in &layers {
                service = layer.apply(service);
            }
            Ok(service)
        };
        let service = rebuild_service()?;
        let auth = Authenticator::new(config, resolver)?;
        Ok(Transport { service: RwLock::new(service), rebuild_service: Box::new(rebuild_service), auth })
    }

    /// The current HTTP service (cheap to clone).
    pub fn service(&self) -> HttpService {
        self.service.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Starts a fresh connection pool, so new connections present the current client
    /// certificate. In-flight requests finish on the old connections.
    pub fn reset_connections(&self) {
        match (self.rebuild_service)() {
            Ok(svc) => *self.service.write().unwrap_or_else(|p| p.into_inner()) = svc,
            Err(e) => tracing::warn!("could not rebuild the transport after a certificate rotation: {e}"),
        }
    }

    /// The headers every request carries (user agent, impersonation, credentials).
    pub fn authenticator(&self) -> &Authenticator {
        &self.auth
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").field("auth", &self.auth).finish_non_exhaustive()
    }
}
