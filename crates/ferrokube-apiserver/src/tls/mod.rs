//! TLS for the server: certificates (generated at start or loaded from files) and the
//! rustls configuration (aws-lc-rs provider, ALPN `h2` + `http/1.1`, optional client
//! certificates verified against the client CAs).
//!
//! At start the server generates, with ECDSA P-256 keys (fast: a few milliseconds):
//! a serving CA and a serving certificate for `localhost`, `127.0.0.1`, `::1` and the
//! bind address (unless `--tls-cert-file`/`--tls-private-key-file` are given), and a
//! client CA that issues the admin client certificate (CN `admin`, O `system:masters`)
//! and any certificate a test asks for. A client certificate is verified here, at the
//! handshake, against that client CA plus `--client-ca-file`; a certificate from
//! another CA fails the handshake. X.509 v1 client certificates are accepted as
//! kube-apiserver accepts them (`tls::client_certs`). A client without a certificate is let
//! through, to authenticate with a bearer token (the server's `auth` module).

mod client_certs;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Errors building the TLS setup; file errors name the flag and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing usable.
    #[error("{flag} {path}: {message}")]
    File {
        /// The flag that named the file, e.g. `--tls-cert-file`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Certificate generation failed.
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    /// A client certificate was asked for with more groups than fit.
    #[error("at most two groups fit in a generated client certificate, got {0}")]
    TooManyGroups(usize),
    /// rustls rejected the configuration (e.g. key does not match certificate).
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// A generated certificate authority that can issue certificates.
pub struct CertAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAuthority").finish_non_exhaustive()
    }
}

impl CertAuthority {
    /// A new self-signed CA named `common_name`.
    pub fn generate(common_name: &str) -> Result<CertAuthority, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(CertAuthority { cert_pem: cert.pem(), cert_der: cert.der().clone(), issuer: Issuer::new(params, key) })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Issue a serving certificate for `hosts` (DNS names or IP addresses):
    /// `(cert_pem, key_pem)`.
    pub fn issue_serving(&self, hosts: &[String]) -> Result<(String, String), rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, "ferrokube-apiserver");
        for host in hosts {
            let san = match host.parse::<IpAddr>() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName(host.clone().try_into()?),
            };
            if !params.subject_alt_names.contains(&san) {
                params.subject_alt_names.push(san);
            }
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Issue a client certificate for `user` (CN) in `groups` (O values):
    /// `(cert_pem, key_pem)`. At most two groups fit (a limit of rcgen's subject
    /// builder); more is an error.
    pub fn issue_client(&self, user: &str, groups: &[&str]) -> Result<(String, String), TlsError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = DistinguishedName::new();
        let o_types = [DnType::OrganizationName, DnType::CustomDnType(vec![2, 5, 4, 10])];
        if groups.len() > o_types.len() {
            return Err(TlsError::TooManyGroups(groups.len()));
        }
        for (group, ty) in groups.iter().zip(o_types) {
            params.distinguished_name.push(ty, *group);
        }
        params.distinguished_name.push(DnType::CommonName, user);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// Read every certificate of a PEM file.
pub fn load_certs(flag: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_err = |message: String| TlsError::File { flag, path: path.to_owned(), message };
    let bytes = std::fs::read(path).map_err(|e| file_err(e.to_string()))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(format!("invalid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_err("no CERTIFICATE found".into()));
    }
    Ok(certs)
}

/// Read the private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(flag: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes =
        std::fs::read(path).map_err(|e| TlsError::File { flag, path: path.to_owned(), message: e.to_string() })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::File {
        flag,
        path: path.to_owned(),
        message: format!("no usable private key: {e}"),
    })
}

/// Parse PEM text (certificate chain + key) generated in memory.
pub fn parse_pem_pair(
    cert_pem: &str,
    key_pem: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| TlsError::Config(e.to_string()))?;
    Ok((certs, key))
}

/// The rustls server configuration: aws-lc-rs provider, TLS 1.2/1.3, ALPN `h2` and
/// `http/1.1`, client certificates optional but verified against `client_cas`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_cas: &[CertificateDer<'static>],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in client_cas {
        roots.add(ca.clone()).map_err(|e| TlsError::Config(format!("client CA: {e}")))?;
    }
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let verifier = Arc::new(client_certs::ClientCerts::new(
        webpki,
        client_cas.to_vec(),
        provider.signature_verification_algorithms,
    ));
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokube_apimachinery::x509::Certificate;

    #[test]
    fn subject_identity_reads_every_organization() {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "system:masters");
        params.distinguished_name.push(DnType::CommonName, "admin");
        params.distinguished_name.push(DnType::CustomDnType(vec![2, 5, 4, 10]), "dev");
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let parsed = Certificate::parse(cert.der()).unwrap();
        assert_eq!(parsed.version, 3);
        let (cn, orgs) = parsed.subject_identity().unwrap();
        assert_eq!(cn, "admin");
        assert_eq!(orgs.len(), 2);
        assert!(orgs.contains(&"system:masters".to_owned()) && orgs.contains(&"dev".to_owned()));
    }

    #[test]
    fn generate_and_configure() {
        let ca = CertAuthority::generate("test-ca").unwrap();
        let (cert, key) = ca.issue_serving(&["localhost".into(), "127.0.0.1".into()]).unwrap();
        let (chain, key) = parse_pem_pair(&cert, &key).unwrap();
        let client_ca = CertAuthority::generate("client-ca").unwrap();
        server_config(chain, key, &[client_ca.cert_der().clone()]).unwrap();
        let (cert, _) = client_ca.issue_client("admin", &["system:masters"]).unwrap();
        let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let (cn, o) = Certificate::parse(&der).unwrap().subject_identity().unwrap();
        assert_eq!((cn.as_str(), o), ("admin", vec!["system:masters".to_owned()]));
        assert!(client_ca.issue_client("x", &["a", "b", "c"]).is_err());
    }

    #[test]
    fn missing_file_names_flag_and_path() {
        let e = load_certs("--tls-cert-file", Path::new("/nonexistent/x.pem")).unwrap_err();
        let s = e.to_string();
        assert!(s.contains("--tls-cert-file") && s.contains("/nonexistent/x.pem"), "{s}");
    }
}
