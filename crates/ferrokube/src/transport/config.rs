//! `transport::config`: what the transport needs to know (client-go `transport.Config`).
//!
//! [`rest::Config::transport_config`](crate::rest::Config::transport_config) makes a
//! [`Config`] from the user's `rest::Config`; [`Transport::new`](super::Transport::new)
//! builds the HTTP client stack from it. [`TlsClientConfig`] and [`ImpersonationConfig`]
//! are fields of both (and re-exported by `rest`, where client-go has them too).

use std::path::PathBuf;
use std::sync::Arc;

use super::auth::CredentialProvider;
use super::hooks::TransportLayer;
use crate::secret::{SecretBytes, SecretString};

/// The transport's settings (client-go `transport.Config`): how to connect (TLS, proxy,
/// middleware) and what every request carries (user agent, credentials, impersonation).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Config {
    /// `User-Agent` header.
    pub user_agent: String,
    /// TLS settings: CA, client certificate, server name, verification, ALPN.
    pub tls: TlsClientConfig,
    /// Static bearer token.
    pub bearer_token: Option<SecretString>,
    /// File to read the bearer token from (wins over `bearer_token`).
    pub bearer_token_file: Option<PathBuf>,
    /// Basic-auth user name.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<SecretString>,
    /// Identity to act as (`Impersonate-*` headers).
    pub impersonate: ImpersonationConfig,
    /// A dynamic credential source (exec plugin, `oidc`).
    pub credential_provider: Option<Arc<dyn CredentialProvider>>,
    /// Proxy URL; `None` means `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`.
    pub proxy_url: Option<String>,
    /// Tower layers wrapped around the HTTP service, innermost first.
    pub wrap_transport: Vec<TransportLayer>,
}

impl std::fmt::Debug for Config {
    /// Names which kinds of credential are set, never the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("user_agent", &self.user_agent)
            .field("tls", &self.tls)
            .field("bearer_token", &self.bearer_token)
            .field("bearer_token_file", &self.bearer_token_file)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("impersonate", &self.impersonate)
            .field("credential_provider", &self.credential_provider.as_ref().map(|_| "<set>"))
            .field("proxy_url", &self.proxy_url.as_deref().map(super::proxy::redact))
            .field("wrap_transport", &self.wrap_transport.len())
            .finish()
    }
}

/// TLS settings (client-go `rest.TLSClientConfig`). `*_data` wins over `*_file`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TlsClientConfig {
    /// Skip verification of the server's certificate. Only ever set explicitly.
    pub insecure: bool,
    /// Name to verify the server certificate against instead of the host's name.
    pub server_name: Option<String>,
    /// PEM file with the CA bundle that signs the server certificate.
    pub ca_file: Option<PathBuf>,
    /// PEM CA bundle.
    pub ca_data: Option<Vec<u8>>,
    /// PEM client certificate file.
    pub cert_file: Option<PathBuf>,
    /// PEM client certificate.
    pub cert_data: Option<Vec<u8>>,
    /// PEM private key file of the client certificate.
    pub key_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    pub key_data: Option<SecretBytes>,
    /// Application protocols offered in TLS ALPN (client-go `TLSClientConfig.NextProtos`):
    /// `"h2"` and/or `"http/1.1"`. Empty (the default) offers both, preferring HTTP/2:
    /// one connection multiplexes every request and watch. `["http/1.1"]` keeps the
    /// client on HTTP/1.1, with a pooled connection per request in flight, which costs
    /// less CPU per small request (see the benchmark README) but holds a connection for
    /// every open watch.
    pub next_protos: Vec<String>,
}

/// Identity to impersonate (client-go `rest.ImpersonationConfig`).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ImpersonationConfig {
    /// `Impersonate-User`.
    pub user_name: Option<String>,
    /// `Impersonate-Uid`.
    pub uid: Option<String>,
    /// `Impersonate-Group`, one header per group.
    pub groups: Vec<String>,
    /// `Impersonate-Extra-<key>`, one header per value.
    pub extra: std::collections::BTreeMap<String, Vec<String>>,
}
