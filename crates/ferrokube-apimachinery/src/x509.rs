//! X.509 certificates as Kubernetes uses them: who a client certificate names, and the
//! parts a TLS peer needs to check one that the usual verifier refuses.
//!
//! kube-apiserver's x509 authenticator takes the user from the subject's common name
//! (CN) and the groups from its organization (O) values ([`Certificate::subject_identity`]).
//! Both ends must also accept X.509 **version 1** certificates: `openssl x509 -req`
//! without an extensions file, the most common recipe for making a Kubernetes user,
//! produces one, and Go's crypto/x509 takes it. webpki (under rustls) refuses v1
//! outright, so the client reads its own certificate's public key here
//! ([`Certificate::spki`]) to check it matches the key, and the embedded server checks a
//! v1 client certificate's signature, issuer and validity from these parts.
//!
//! The reader is small and bounds-checked: malformed input is an [`X509Error`], never a
//! panic. It reads DER as RFC 5280 lays out a certificate and keeps every part as the
//! exact bytes it came from (a signature is over the bytes of `tbsCertificate`).

/// Why a certificate could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum X509Error {
    /// The bytes are not the DER structure of a certificate; names the part.
    #[error("malformed certificate: {0}")]
    Malformed(&'static str),
}

/// A parsed certificate: borrowed slices of the DER it was read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate<'a> {
    /// The whole `tbsCertificate` element (tag and length included): what the issuer signed.
    pub tbs: &'a [u8],
    /// 1, 2 or 3 (the encoded value plus one; absent means 1).
    pub version: u8,
    /// The contents of the outer `signatureAlgorithm` AlgorithmIdentifier (OID and
    /// parameters, without the SEQUENCE header), as rustls names algorithms.
    pub signature_algorithm: &'a [u8],
    /// The signature bits (the BIT STRING without its unused-bits byte).
    pub signature: &'a [u8],
    /// The issuer Name, whole element (compare with a CA's [`subject`](Self::subject)).
    pub issuer: &'a [u8],
    /// The subject Name, whole element.
    pub subject: &'a [u8],
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// The SubjectPublicKeyInfo, whole element (as rustls' `SubjectPublicKeyInfoDer`).
    pub spki: &'a [u8],
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const VERSION_TAG: u8 = 0xa0;
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];

impl<'a> Certificate<'a> {
    /// Reads a DER certificate.
    pub fn parse(der: &'a [u8]) -> Result<Certificate<'a>, X509Error> {
        let (cert, rest) = expect(der, SEQUENCE, "certificate")?;
        if !rest.is_empty() {
            return Err(X509Error::Malformed("bytes after the certificate"));
        }
        let (tbs_content, after_tbs) = expect(cert, SEQUENCE, "tbsCertificate")?;
        let tbs = &cert[..cert.len() - after_tbs.len()];
        let (signature_algorithm, after_alg) = expect(after_tbs, SEQUENCE, "signatureAlgorithm")?;
        let (signature, after_sig) = expect(after_alg, BIT_STRING, "signatureValue")?;
        if !after_sig.is_empty() {
            return Err(X509Error::Malformed("bytes after signatureValue"));
        }
        let signature = bit_string_bytes(signature, "signatureValue")?;

        let mut fields = tbs_content;
        let mut version = 1;
        if let Some((VERSION_TAG, explicit, rest)) = read_tlv(fields) {
            let (v, _) = expect(explicit, INTEGER, "version")?;
            version = match v {
                [0] => 1,
                [1] => 2,
                [2] => 3,
                _ => return Err(X509Error::Malformed("version")),
            };
            fields = rest;
        }
        let (_serial, fields) = expect(fields, INTEGER, "serialNumber")?;
        let (_inner_alg, fields) = expect(fields, SEQUENCE, "signature")?;
        let (issuer, fields) = element(fields, SEQUENCE, "issuer")?;
        let (validity, fields) = expect(fields, SEQUENCE, "validity")?;
        let (subject, fields) = element(fields, SEQUENCE, "subject")?;
        let (spki, _extensions) = element(fields, SEQUENCE, "subjectPublicKeyInfo")?;
        let (not_before, validity) = time(validity, "notBefore")?;
        let (not_after, _) = time(validity, "notAfter")?;
        Ok(Certificate { tbs, version, signature_algorithm, signature, issuer, subject, not_before, not_after, spki })
    }

    /// The contents of the public key's AlgorithmIdentifier (OID and parameters).
    pub fn public_key_algorithm(&self) -> Result<&'a [u8], X509Error> {
        let (spki, _) = expect(self.spki, SEQUENCE, "subjectPublicKeyInfo")?;
        Ok(expect(spki, SEQUENCE, "algorithm")?.0)
    }

    /// The public key bits (the BIT STRING without its unused-bits byte).
    pub fn public_key(&self) -> Result<&'a [u8], X509Error> {
        let (spki, _) = expect(self.spki, SEQUENCE, "subjectPublicKeyInfo")?;
        let (_, rest) = expect(spki, SEQUENCE, "algorithm")?;
        let (bits, _) = expect(rest, BIT_STRING, "subjectPublicKey")?;
        bit_string_bytes(bits, "subjectPublicKey")
    }

    /// The Kubernetes identity the subject names: `(CN, [O...])`, as kube-apiserver's
    /// x509 authenticator reads it (the last CN wins; every O is a group).
    pub fn subject_identity(&self) -> Result<(String, Vec<String>), X509Error> {
        let (mut name, _) = expect(self.subject, SEQUENCE, "subject")?;
        let mut cn = String::new();
        let mut orgs = Vec::new();
        while !name.is_empty() {
            let (mut set, rest) = expect(name, SET, "subject RDN")?;
            name = rest;
            while !set.is_empty() {
                let (atv, rest) = expect(set, SEQUENCE, "subject attribute")?;
                set = rest;
                let (oid, value) = expect(atv, OID, "subject attribute type")?;
                let (_, value, _) = read_tlv(value).ok_or(X509Error::Malformed("subject attribute value"))?;
                let value = String::from_utf8_lossy(value).into_owned();
                if oid == OID_CN {
                    cn = value;
                } else if oid == OID_O {
                    orgs.push(value);
                }
            }
        }
        Ok((cn, orgs))
    }
}

/// One DER element: `(tag, contents, rest)`, or `None` when it does not fit in `input`.
/// Only definite lengths of up to four bytes, as DER allows for certificates.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7f);
            if rest.len() < n {
                return None;
            }
            let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, &rest[n..])
        }
        _ => return None,
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The contents of an element with tag `tag`, and what follows it.
fn expect<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<(&'a [u8], &'a [u8]), X509Error> {
    match read_tlv(input) {
        Some((t, contents, rest)) if t == tag => Ok((contents, rest)),
        _ => Err(X509Error::Malformed(what)),
    }
}

/// The whole element (tag and length included) with tag `tag`, and what follows it.
fn element<'a>(input: &'a [u8], tag: u8, what: &'static str) -> Result<(&'a [u8], &'a [u8]), X509Error> {
    let (_, rest) = expect(input, tag, what)?;
    Ok((&input[..input.len() - rest.len()], rest))
}

/// A BIT STRING's bytes; only whole bytes (no unused bits), as keys and signatures are.
fn bit_string_bytes<'a>(contents: &'a [u8], what: &'static str) -> Result<&'a [u8], X509Error> {
    match contents.split_first() {
        Some((0, bytes)) => Ok(bytes),
        _ => Err(X509Error::Malformed(what)),
    }
}

/// A UTCTime (`YYMMDDHHMMSSZ`, years 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`)
/// as seconds since the Unix epoch, and what follows it.
fn time<'a>(input: &'a [u8], what: &'static str) -> Result<(i64, &'a [u8]), X509Error> {
    let bad = X509Error::Malformed(what);
    let (tag, text, rest) = read_tlv(input).ok_or(bad.clone())?;
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0')))
    };
    let (year, rest_text) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&text[..2]).ok_or(bad.clone())?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&text[..4]).ok_or(bad.clone())?, &text[4..]),
        _ => return Err(bad),
    };
    if rest_text.last() != Some(&b'Z') {
        return Err(bad);
    }
    let field = |i: usize| digits(&rest_text[i..i + 2]).ok_or(bad.clone());
    let (month, day, hour, minute, second) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return Err(bad);
    }
    Ok((days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2049, 12, 31), 29_219);
    }

    #[test]
    fn times_in_both_forms() {
        let utc = [&[UTC_TIME, 13][..], b"250102030405Z"].concat();
        assert_eq!(time(&utc, "t").unwrap().0, 1_735_787_045);
        let generalized = [&[GENERALIZED_TIME, 15][..], b"20250102030405Z"].concat();
        assert_eq!(time(&generalized, "t").unwrap().0, 1_735_787_045);
        let old = [&[UTC_TIME, 13][..], b"700101000000Z"].concat();
        assert_eq!(time(&old, "t").unwrap().0, 0);
        let local = [&[UTC_TIME, 13][..], b"2501020304051"].concat();
        assert!(time(&local, "t").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [&[][..], &[0x30], &[0x30, 0x80], &[0x30, 0x85, 1, 2, 3, 4, 5], &[0x30, 0x02, 0x02, 0x00]] {
            assert!(Certificate::parse(input).is_err(), "{input:?}");
        }
    }
}
