//! `transport::errors`: why the HTTP client stack could not be built from a config —
//! the host URL, CA and certificate files, PEM data, TLS and authentication settings,
//! the proxy, header values, a Cargo feature this build left out.
//!
//! These are the transport's own errors: [`transport::Transport`](super::Transport)
//! returns them, and [`rest::Error::Config`](crate::rest::Error::Config) carries them to
//! callers (`rest` re-exports each type, so `ferrokube::rest::ConfigError` names the same
//! type). None of them carries a credential or key material.

use std::path::PathBuf;

/// A boxed error from the HTTP stack or a transport layer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a [`RESTClient`](crate::rest::RESTClient) could not be built from a
/// [`Config`](crate::rest::Config). Each variant says which setting was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `host` is empty or not a URL / `host:port`.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The configured host.
        host: String,
        /// What is wrong with it.
        reason: HostError,
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
        reason: PemError,
    },
    /// TLS settings that cannot be combined or that rustls rejected.
    #[error("invalid TLS configuration: {0}")]
    Tls(#[source] TlsConfigError),
    /// Authentication settings that cannot be combined or used.
    #[error("invalid authentication configuration: {0}")]
    Auth(#[source] AuthConfigError),
    /// The proxy URL is invalid or uses an unsupported scheme.
    #[error("invalid proxy {proxy:?}: {reason}")]
    Proxy {
        /// The proxy URL without user info.
        proxy: String,
        /// What is wrong.
        reason: ProxyError,
    },
    /// The config asks for something whose code this build of ferrokube left out (a
    /// `socks5://` proxy without the `socks5` feature, the system's root certificates
    /// without `native-roots`).
    #[error("{needed_for} needs ferrokube's {feature:?} Cargo feature, which this build does not have{}", hint_suffix(.hint))]
    MissingFeature {
        /// The Cargo feature that is off.
        feature: &'static str,
        /// What needs it, e.g. `the SOCKS5 proxy socks5://proxy:1080`.
        needed_for: String,
        /// What else would work, if anything.
        hint: Option<&'static str>,
    },
    /// A header value (user agent, impersonation) cannot be sent over HTTP.
    #[error("invalid value for header {header}: {reason}")]
    Header {
        /// Header name.
        header: String,
        /// What is wrong.
        reason: HeaderError,
    },
}

/// What is wrong with a [`Config`](crate::rest::Config)'s `host` ([`ConfigError::InvalidHost`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The host is empty.
    #[error("host must be a URL or a host:port pair, got an empty string")]
    Empty,
    /// A URL with a scheme other than http or https.
    #[error("unsupported scheme {0:?} (expected http or https)")]
    UnsupportedScheme(String),
    /// Neither a URL nor a `host:port`.
    #[error("not a URL or host:port: {0}")]
    NotAUrl(url::ParseError),
    /// A URL without a host.
    #[error("the URL has no host")]
    NoHost,
    /// A URL with a query or fragment.
    #[error("the URL must not have a query or fragment")]
    QueryOrFragment,
    /// A URL with user info: credentials belong in `username`/`password`.
    #[error("credentials in the host URL are not supported; use username/password")]
    Credentials,
    /// A URL that is not a valid HTTP URI.
    #[error("{0}")]
    InvalidUri(String),
}

/// What is wrong with PEM data ([`ConfigError::Pem`]). Never carries key material.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PemError {
    /// The PEM text itself is malformed.
    #[error("{0}")]
    Malformed(String),
    /// No `CERTIFICATE` block.
    #[error("no CERTIFICATE block found")]
    NoCertificate,
    /// rustls refused a CA certificate.
    #[error("certificate rejected: {0}")]
    CertificateRejected(rustls::Error),
    /// No `PRIVATE KEY` block.
    #[error("no PRIVATE KEY block found")]
    NoPrivateKey,
    /// A private key block that does not parse.
    #[error("the private key could not be parsed")]
    UnparsableKey,
    /// A key that does not fit the client certificate (or a certificate rustls cannot use).
    #[error("unusable key for the client certificate: {0}")]
    UnusableKey(rustls::Error),
}

/// What is wrong with a proxy URL ([`ConfigError::Proxy`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// Not a URL a proxy can be reached at.
    #[error("not a valid proxy URL (expected http://, socks5:// or socks5h://)")]
    NotAProxyUrl,
    /// A scheme no proxy connector handles.
    #[error("unsupported proxy scheme {0:?} (supported: http, socks5, socks5h); set proxy_url or NO_PROXY")]
    UnsupportedScheme(String),
}

/// Why a header cannot be sent ([`ConfigError::Header`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// The value (user agent, impersonated user, group or extra) has characters HTTP
    /// headers cannot carry; the value is named (it is never a credential).
    #[error("{0:?} contains characters not allowed in a header")]
    InvalidValue(String),
    /// The basic-auth username or password has characters a header cannot carry (neither
    /// is shown).
    #[error("username or password contains characters not allowed in a header")]
    InvalidCredentials,
    /// An impersonation extra's key makes no valid header name.
    #[error("not a valid header name")]
    InvalidName,
}

/// What is wrong with the TLS settings of a [`Config`](crate::rest::Config)
/// ([`ConfigError::Tls`]). Never carries key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// Neither a crypto provider feature nor a process-wide provider.
    #[error(
        "no rustls crypto provider: enable ferrokube's `aws-lc-rs` or `ring` feature, \
         or install one with rustls::crypto::CryptoProvider::install_default"
    )]
    NoCryptoProvider,
    /// `insecure` together with a CA.
    #[error("specifying a root certificates file with the insecure flag is not allowed")]
    InsecureWithCa,
    /// No CA configured, and the system has no usable root certificates.
    #[error("no CA configured and no system root certificates found {details}")]
    NoSystemRoots {
        /// What the system's certificate store reported, if anything.
        details: String,
    },
    /// A client certificate without its key.
    #[error("a client certificate is configured without its key (client-key / client-key-data)")]
    CertificateWithoutKey,
    /// A client key without its certificate.
    #[error("a client key is configured without its certificate (client-certificate / client-certificate-data)")]
    KeyWithoutCertificate,
    /// `tls.next_protos` names a protocol other than `h2` and `http/1.1`.
    #[error("tls.next_protos: unsupported protocol {protocol:?} (expected \"h2\" or \"http/1.1\")")]
    UnsupportedProtocol {
        /// The protocol given.
        protocol: String,
    },
    /// `tls.server_name` is not a DNS name or IP address.
    #[error("invalid server name {name:?}: {source}")]
    ServerName {
        /// The name given.
        name: String,
        /// Why rustls rejects it.
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    /// rustls rejected the configuration.
    #[error("{0}")]
    Rustls(#[source] rustls::Error),
}

/// What is wrong with the authentication settings of a [`Config`](crate::rest::Config)
/// ([`ConfigError::Auth`]). Never carries a credential.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthConfigError {
    /// Both basic auth and a bearer token.
    #[error("username/password or bearer token may be set, but not both")]
    BasicAndBearer,
}

fn hint_suffix(hint: &Option<&'static str>) -> String {
    hint.map(|h| format!(" ({h})")).unwrap_or_default()
}

fn source_hint(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => format!(" in {}", p.display()),
        None => String::new(),
    }
}
