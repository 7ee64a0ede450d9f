//! `transport::tls`: the rustls client configuration built from
//! [`TlsClientConfig`].
//!
//! The crypto provider comes from [`crypto_provider`]: the process-wide default when the
//! application installed one, otherwise the one of ferrokube's Cargo feature (`aws-lc-rs`,
//! the default, or `ring`), so ferrokube never panics for lack of a default provider.
//! Server certificates are verified against the configured CA bundle, or the system's
//! roots when none is configured (with the `native-roots` Cargo feature, on by default;
//! without it a config with no CA is a [`ConfigError::MissingFeature`]); `insecure` disables verification only when set
//! explicitly. Client certificates come from the config or, per request, from a
//! [`CredentialProvider`](super::auth::CredentialProvider); both go through one
//! [`ClientCertResolver`] that the TLS handshake consults for each new connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::config::TlsClientConfig;
use super::errors::{ConfigError, PemError, TlsConfigError};
use crate::secret::SecretBytes;

/// The crypto provider every ferrokube TLS configuration uses: the process-wide default
/// if the application installed one (`CryptoProvider::install_default`), otherwise the
/// provider of ferrokube's `aws-lc-rs` feature (the default) or `ring` feature.
pub fn crypto_provider() -> Result<Arc<CryptoProvider>, ConfigError> {
    if let Some(installed) = CryptoProvider::get_default() {
        return Ok(installed.clone());
    }
    feature_provider().map(Arc::new).ok_or(ConfigError::Tls(TlsConfigError::NoCryptoProvider))
}

#[cfg(feature = "aws-lc-rs")]
fn feature_provider() -> Option<CryptoProvider> {
    Some(rustls::crypto::aws_lc_rs::default_provider())
}

// rustls 0.23.48 deprecates ring's provider for lacking post-quantum key exchange; the
// `ring` feature is the application's explicit choice, so the warning is not ours to print.
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
#[allow(deprecated)]
fn feature_provider() -> Option<CryptoProvider> {
    Some(rustls::crypto::ring::default_provider())
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "ring")))]
fn feature_provider() -> Option<CryptoProvider> {
    None
}

/// Builds the rustls client configuration (without ALPN, which the connector adds).
/// `https` says whether the server is reached over TLS at all: a plain `http://` server
/// needs no root certificates, so the system's are not loaded for it.
pub(crate) fn client_config(
    tls: &TlsClientConfig,
    resolver: Arc<ClientCertResolver>,
    https: bool,
) -> Result<rustls::ClientConfig, ConfigError> {
    let provider = crypto_provider()?;
    let has_ca = tls.ca_data.is_some() || tls.ca_file.is_some();
    if tls.insecure && has_ca {
        return Err(ConfigError::Tls(TlsConfigError::InsecureWithCa));
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls(TlsConfigError::Rustls(e)))?;
    let builder = if tls.insecure {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification { provider }))
    } else {
        let roots = match (has_ca, https) {
            (true, _) => configured_roots(tls)?,
            (false, true) => system_roots()?,
            (false, false) => rustls::RootCertStore::empty(),
        };
        builder.with_root_certificates(roots)
    };
    Ok(builder.with_client_cert_resolver(resolver))
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::ReadFile { what, path: path.to_owned(), source })
}

fn configured_roots(tls: &TlsClientConfig) -> Result<rustls::RootCertStore, ConfigError> {
    let (pem, path) = match (&tls.ca_data, &tls.ca_file) {
        (Some(data), _) => (data.clone(), None),
        (None, Some(path)) => (read_file("CA", path)?, Some(path.clone())),
        (None, None) => {
            return Err(ConfigError::Tls(TlsConfigError::NoSystemRoots { details: "(no CA given)".to_owned() }))
        }
    };
    let certs = parse_certs("CA", &pem, path.as_deref())?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| ConfigError::Pem {
            what: "CA",
            path: path.clone(),
            reason: PemError::CertificateRejected(e),
        })?;
    }
    Ok(roots)
}

#[cfg(feature = "native-roots")]
fn system_roots() -> Result<rustls::RootCertStore, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found.errors.first().map(|e| e.to_string()).unwrap_or_default();
        return Err(ConfigError::Tls(TlsConfigError::NoSystemRoots { details: why }));
    }
    Ok(roots)
}

#[cfg(not(feature = "native-roots"))]
fn system_roots() -> Result<rustls::RootCertStore, ConfigError> {
    Err(ConfigError::MissingFeature {
        feature: "native-roots",
        needed_for: "verifying the server against the system's root certificates (no CA is configured)".to_owned(),
        hint: Some("or configure the cluster's certificate-authority"),
    })
}

/// Parses every certificate of a PEM bundle; at least one is required.
pub(crate) fn parse_certs(
    what: &'static str,
    pem: &[u8],
    path: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem_err = |reason: PemError| ConfigError::Pem { what, path: path.map(Path::to_owned), reason };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(PemError::Malformed(e.to_string())))?;
    if certs.is_empty() {
        return Err(pem_err(PemError::NoCertificate));
    }
    Ok(certs)
}

/// Builds a certified key from a PEM certificate chain and a PEM private key.
/// Error messages never include key material.
pub(crate) fn certified_key(
    cert_pem: &[u8],
    cert_path: Option<&Path>,
    key_pem: &SecretBytes,
    key_path: Option<&Path>,
) -> Result<CertifiedKey, ConfigError> {
    let certs = parse_certs("client certificate", cert_pem, cert_path)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.expose()).map_err(|e| ConfigError::Pem {
        what: "client key",
        path: key_path.map(Path::to_owned),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => PemError::NoPrivateKey,
            _ => PemError::UnparsableKey,
        },
    })?;
    let unusable = |e: rustls::Error| ConfigError::Pem {
        what: "client key",
        path: key_path.map(Path::to_owned),
        reason: PemError::UnusableKey(e),
    };
    let signing_key = crypto_provider()?.key_provider.load_private_key(key).map_err(unusable)?;
    // rustls' own check (`CertifiedKey::from_der`) parses the certificate with webpki,
    // which refuses X.509 v1 certificates; kube accepts them (`openssl x509 -req` makes
    // them), so the key is matched against the certificate's public key read here.
    let cert = ferrokube_apimachinery::x509::Certificate::parse(&certs[0]).map_err(|e| ConfigError::Pem {
        what: "client certificate",
        path: cert_path.map(Path::to_owned),
        reason: PemError::Malformed(e.to_string()),
    })?;
    if let Some(public) = signing_key.public_key() {
        if public.as_ref() != cert.spki {
            return Err(unusable(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)));
        }
    }
    Ok(CertifiedKey::new(certs, signing_key))
}

/// Loads the static client certificate of the config, if one is configured.
pub(crate) fn static_client_cert(tls: &TlsClientConfig) -> Result<Option<CertifiedKey>, ConfigError> {
    let cert: Option<(Vec<u8>, Option<PathBuf>)> = match (&tls.cert_data, &tls.cert_file) {
        (Some(d), _) => Some((d.clone(), None)),
        (None, Some(p)) => Some((read_file("client certificate", p)?, Some(p.clone()))),
        (None, None) => None,
    };
    let key: Option<(SecretBytes, Option<PathBuf>)> = match (&tls.key_data, &tls.key_file) {
        (Some(d), _) => Some((d.clone(), None)),
        (None, Some(p)) => Some((SecretBytes::new(read_file("client key", p)?), Some(p.clone()))),
        (None, None) => None,
    };
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::Tls(TlsConfigError::CertificateWithoutKey)),
        (None, Some(_)) => Err(ConfigError::Tls(TlsConfigError::KeyWithoutCertificate)),
        (Some((c, cp)), Some((k, kp))) => certified_key(&c, cp.as_deref(), &k, kp.as_deref()).map(Some),
    }
}

/// The client certificate presented in TLS handshakes. It can be replaced at any time
/// (a credential provider returning a rotated certificate); new connections use the
/// current one.
#[derive(Default)]
pub struct ClientCertResolver {
    current: RwLock<Option<(Arc<CertifiedKey>, Vec<u8>)>>,
}

impl std::fmt::Debug for ClientCertResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertResolver").field("has_cert", &self.has_certs()).finish()
    }
}

impl ClientCertResolver {
    /// A resolver presenting `key`, or no certificate.
    pub(crate) fn new(key: Option<CertifiedKey>) -> Self {
        ClientCertResolver { current: RwLock::new(key.map(|k| (Arc::new(k), Vec::new()))) }
    }

    /// Installs a certificate from PEM if it differs from the current one; returns
    /// whether it changed.
    pub(crate) fn update_pem(&self, cert_pem: &[u8], key_pem: &SecretBytes) -> Result<bool, ConfigError> {
        {
            let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
            if let Some((_, pem)) = cur.as_ref() {
                if pem.as_slice() == cert_pem && !pem.is_empty() {
                    return Ok(false);
                }
            }
        }
        let key = certified_key(cert_pem, None, key_pem, None)?;
        let mut cur = self.current.write().unwrap_or_else(|p| p.into_inner());
        *cur = Some((Arc::new(key), cert_pem.to_vec()));
        Ok(true)
    }
}

impl ResolvesClientCert for ClientCertResolver {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
        cur.as_ref().map(|(k, _)| k.clone())
    }

    fn has_certs(&self) -> bool {
        let cur = self.current.read().unwrap_or_else(|p| p.into_inner());
        cur.is_some()
    }
}

/// Accepts any server certificate, still checking handshake signatures. Used only
/// when `insecure` is set explicitly.
#[derive(Debug)]
struct NoVerification {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_names_the_path() {
        let tls = TlsClientConfig { ca_file: Some("/nonexistent/ca.crt".into()), ..Default::default() };
        let err = client_config(&tls, Arc::new(ClientCertResolver::default()), true).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("/nonexistent/ca.crt") && msg.contains("CA"), "{msg}");
    }

    #[cfg(not(feature = "native-roots"))]
    #[test]
    fn no_ca_without_native_roots_names_the_feature() {
        let err =
            client_config(&TlsClientConfig::default(), Arc::new(ClientCertResolver::default()), true).unwrap_err();
        assert!(matches!(err, ConfigError::MissingFeature { feature: "native-roots", .. }), "{err:?}");
        assert!(err.to_string().contains("certificate-authority"), "{err}");
        // A plain http server needs no roots.
        assert!(client_config(&TlsClientConfig::default(), Arc::new(ClientCertResolver::default()), false).is_ok());
    }

    #[test]
    fn bad_pem_is_reported() {
        let tls = TlsClientConfig { ca_data: Some(b"not pem".to_vec()), ..Default::default() };
        let err = client_config(&tls, Arc::new(ClientCertResolver::default()), true).unwrap_err();
        assert!(err.to_string().contains("invalid CA PEM data"), "{err}");
    }

    #[test]
    fn insecure_with_ca_is_rejected() {
        let tls = TlsClientConfig { insecure: true, ca_data: Some(b"x".to_vec()), ..Default::default() };
        assert!(matches!(
            client_config(&tls, Arc::new(ClientCertResolver::default()), true),
            Err(ConfigError::Tls(TlsConfigError::InsecureWithCa))
        ));
    }

    #[test]
    fn cert_without_key_is_rejected() {
        let tls = TlsClientConfig { cert_data: Some(b"x".to_vec()), ..Default::default() };
        let err = static_client_cert(&tls).unwrap_err();
        assert!(matches!(err, ConfigError::Tls(TlsConfigError::CertificateWithoutKey)), "{err:?}");
        assert!(err.to_string().contains("without its key"), "{err}");
    }

    #[test]
    fn bad_key_error_has_no_key_material() {
        let secret = SecretBytes::new(
            b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n".to_vec(),
        );
        let cert = rcgen_free_cert();
        let err = certified_key(&cert, None, &secret, None).unwrap_err().to_string();
        assert!(!err.contains("c2VjcmV0"), "{err}");
    }

    /// A syntactically valid PEM certificate block (content is not a real cert; only
    /// used to reach key parsing).
    fn rcgen_free_cert() -> Vec<u8> {
        b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n".to_vec()
    }
}
