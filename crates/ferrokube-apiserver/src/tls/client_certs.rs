//! Client-certificate verification at the handshake, as kube-apiserver's: webpki for
//! X.509 v3 certificates (chains through intermediates included), and for X.509
//! **version 1** certificates, which webpki refuses outright but Go's crypto/x509 (and so
//! kube-apiserver) accepts, a check of our own: the certificate is within its validity,
//! its issuer is one of the client CAs and the CA's key verifies its signature; the
//! handshake signature is checked with the certificate's public key. `openssl x509 -req`
//! without an extensions file, the usual recipe for making a Kubernetes user, produces
//! such a certificate. A v1 certificate must be issued by a client CA directly (v1
//! certificates carry no basic constraints, so none can be an intermediate).
//!
//! The certificate's parts come from `ferrokube_apimachinery::x509`.

use std::sync::Arc;

use ferrokube_apimachinery::x509::Certificate;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, Error, PeerMisbehaved, SignatureScheme};

/// webpki's client verifier, with X.509 v1 certificates checked here.
#[derive(Debug)]
pub(crate) struct ClientCerts {
    webpki: Arc<dyn ClientCertVerifier>,
    /// The client CAs, DER.
    cas: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCerts {
    pub(crate) fn new(
        webpki: Arc<dyn ClientCertVerifier>,
        cas: Vec<CertificateDer<'static>>,
        algorithms: WebPkiSupportedAlgorithms,
    ) -> ClientCerts {
        ClientCerts { webpki, cas, algorithms }
    }

    /// Validity, issuer and signature of a v1 certificate.
    fn verify_v1(&self, cert: &Certificate<'_>, now: UnixTime) -> Result<ClientCertVerified, Error> {
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        if now < cert.not_before {
            return Err(CertificateError::NotValidYet.into());
        }
        if now > cert.not_after {
            return Err(CertificateError::Expired.into());
        }
        let mut issuer_found = false;
        for ca_der in &self.cas {
            let Ok(ca) = Certificate::parse(ca_der) else { continue };
            if ca.subject != cert.issuer {
                continue;
            }
            issuer_found = true;
            let (Ok(ca_key), Ok(ca_key_alg)) = (ca.public_key(), ca.public_key_algorithm()) else { continue };
            let signed_by_ca = self.algorithms.all.iter().any(|alg| {
                alg.signature_alg_id().as_ref() == cert.signature_algorithm
                    && alg.public_key_alg_id().as_ref() == ca_key_alg
                    && alg.verify_signature(ca_key, cert.tbs, cert.signature).is_ok()
            });
            if signed_by_ca {
                return Ok(ClientCertVerified::assertion());
            }
        }
        Err(if issuer_found { CertificateError::BadSignature } else { CertificateError::UnknownIssuer }.into())
    }

    /// The handshake signature made with a v1 certificate's key.
    fn verify_v1_signature(
        &self,
        message: &[u8],
        cert: &Certificate<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let bad = || Error::InvalidCertificate(CertificateError::BadSignature);
        let key = cert.public_key().map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let key_alg =
            cert.public_key_algorithm().map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let candidates: &[&dyn SignatureVerificationAlgorithm] = self
            .algorithms
            .mapping
            .iter()
            .find(|(scheme, _)| *scheme == dss.scheme)
            .map(|(_, algs)| *algs)
            .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme)?;
        let verified = candidates
            .iter()
            .filter(|alg| alg.public_key_alg_id().as_ref() == key_alg)
            .any(|alg| alg.verify_signature(key, message, dss.signature()).is_ok());
        verified.then(HandshakeSignatureValid::assertion).ok_or_else(bad)
    }
}

/// The certificate when it is a readable X.509 v1 certificate.
fn version_1<'a>(der: &'a CertificateDer<'_>) -> Option<Certificate<'a>> {
    Certificate::parse(der).ok().filter(|c| c.version == 1)
}

/// Whether TLS 1.3 allows `scheme` for handshake signatures (RFC 8446 4.2.3: no
/// PKCS#1 v1.5 and no SHA-1).
fn tls13_scheme(scheme: SignatureScheme) -> bool {
    matches!(
        scheme,
        SignatureScheme::ECDSA_NISTP256_SHA256
            | SignatureScheme::ECDSA_NISTP384_SHA384
            | SignatureScheme::ECDSA_NISTP521_SHA512
            | SignatureScheme::RSA_PSS_SHA256
            | SignatureScheme::RSA_PSS_SHA384
            | SignatureScheme::RSA_PSS_SHA512
            | SignatureScheme::ED25519
            | SignatureScheme::ED448
    )
}

impl ClientCertVerifier for ClientCerts {
    fn offer_client_auth(&self) -> bool {
        self.webpki.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.webpki.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        match version_1(end_entity) {
            Some(cert) => self.verify_v1(&cert, now),
            None => self.webpki.verify_client_cert(end_entity, intermediates, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match version_1(cert) {
            Some(parsed) => self.verify_v1_signature(message, &parsed, dss),
            None => self.webpki.verify_tls12_signature(message, cert, dss),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        match version_1(cert) {
            Some(_) if !tls13_scheme(dss.scheme) => {
                Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
            }
            Some(parsed) => self.verify_v1_signature(message, &parsed, dss),
            None => self.webpki.verify_tls13_signature(message, cert, dss),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
