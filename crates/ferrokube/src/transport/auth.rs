//! Dynamic credentials: the seam between credential sources that can change over time
//! (exec plugins, the `oidc` auth-provider, a rotated service-account token file) and
//! the transport that puts them on each request.
//!
//! `clientcmd` builds a [`CredentialProvider`] from a kubeconfig user entry and stores it
//! in `rest::Config::credential_provider`; the transport asks it for a [`Credential`]
//! before every request and calls [`CredentialProvider::invalidate`] when the server
//! answers 401, then retries once with a fresh credential.

use std::future::Future;
use std::pin::Pin;

use crate::secret::{SecretBytes, SecretString};

/// A credential to present on one request.
#[derive(Clone, Debug, Default)]
pub struct Credential {
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    /// A client certificate (PEM) to present in the TLS handshake, with its key.
    pub client_certificate: Option<(Vec<u8>, SecretBytes)>,
}

/// Why a credential could not be obtained. The message names the source (plugin
/// command, kubeconfig user, file) and never contains secret material.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct CredentialError {
    /// Human-readable, secret-free description.
    pub message: String,
}

impl CredentialError {
    /// A credential error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CredentialError { message: message.into() }
    }
}

/// Future returned by [`CredentialProvider::credential`].
pub type CredentialFuture<'a> = Pin<Box<dyn Future<Output = Result<Credential, CredentialError>> + Send + 'a>>;

/// A source of credentials that may change over time. Implementations cache what they
/// can (an exec credential until its `expirationTimestamp`) and are shared by all
/// requests of a client.
pub trait CredentialProvider: Send + Sync {
    /// The credential to use now.
    fn credential(&self) -> CredentialFuture<'_>;
    /// The server rejected the last credential (HTTP 401): drop any cached one so the
    /// next [`credential`](Self::credential) call fetches a fresh one.
    fn invalidate(&self);
    /// Called by [`RESTClient::new`](crate::rest::RESTClient::new) with the config's
    /// request metrics, for providers that report their runs (an exec plugin reports
    /// each call, as client-go's `ExecPluginCalls`). The default ignores them.
    fn attach_metrics(&self, metrics: std::sync::Arc<dyn crate::rest::metrics::RequestMetrics>) {
        let _ = metrics;
    }
}
