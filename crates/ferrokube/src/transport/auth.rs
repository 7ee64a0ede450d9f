//! Dynamic credentials: the seam between credential sources that can change over time
//! (exec plugins, the `oidc` auth-provider, a rotated service-account token file) and
//! the transport that puts them on each request.
//!
//! `clientcmd` builds a [`CredentialProvider`] from a kubeconfig user entry and stores it
//! in `rest::Config::credential_provider`; the transport asks it for a [`Credential`]
//! before every request and calls [`CredentialProvider::invalidate`] when the server
//! answers 401, then retries once with a fresh credential.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use super::errors::BoxError;
use crate::secret::{SecretBytes, SecretString};

/// A credential to present on one request.
#[derive(Clone, Debug, Default)]
pub struct Credential {
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    /// A client certificate (PEM) to present in the TLS handshake, with its key.
    pub client_certificate: Option<(Vec<u8>, SecretBytes)>,
}

/// Why the credential for a request could not be obtained. Messages name the source
/// (token file, plugin command, kubeconfig user) and never contain secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// `bearer_token_file` could not be read, and no earlier token of it is cached.
    #[error("could not read token file {}: {source}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `bearer_token_file` is empty, and no earlier token of it is cached.
    #[error("token file {} is empty", path.display())]
    EmptyTokenFile {
        /// The file.
        path: PathBuf,
    },
    /// The bearer token has characters an HTTP header cannot carry (it is not shown).
    #[error("the bearer token contains characters not allowed in a header")]
    TokenNotAHeaderValue,
    /// The credential provider handed out a client certificate that cannot be used.
    #[error("the credential provider returned an unusable client certificate: {0}")]
    UnusableClientCertificate(#[source] Box<super::errors::ConfigError>),
    /// The credential provider failed (an exec plugin, the `oidc` auth-provider, or an
    /// application's own provider); its error says which and why.
    #[error(transparent)]
    Provider(BoxError),
}

impl CredentialError {
    /// A failure of a [`CredentialProvider`], e.g. its own error type or a message.
    pub fn provider(error: impl Into<BoxError>) -> Self {
        CredentialError::Provider(error.into())
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
    fn attach_metrics(&self, metrics: std::sync::Arc<dyn crate::tools::metrics::RequestMetrics>) {
        let _ = metrics;
    }
}
