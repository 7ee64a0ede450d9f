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
//! exact bytes it came from (a signature is over the bytes of `tbsCertificate`). Names
//! (issuer and subject) are read as Go's crypto/x509 reads them: every attribute value
//! must be one of Go's string types and valid for it, or the certificate is refused.
//! It is kept instead of an X.509 crate on measured grounds (`bench/crate-swaps/README.md`:
//! it answers as Go where `x509-parser` and `x509-cert` do not, is faster, and adds no
//! dependency).

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
        let (serial, fields) = expect(fields, INTEGER, "serialNumber")?;
        // A minimal, non-negative INTEGER, as Go requires of a serial number.
        let minimal_non_negative = match serial {
            [] => false,
            [first, ..] if *first >= 0x80 => false,
            [0, second, ..] => *second >= 0x80,
            _ => true,
        };
        if !minimal_non_negative {
            return Err(X509Error::Malformed("serialNumber"));
        }
        let (_inner_alg, fields) = expect(fields, SEQUENCE, "signature")?;
        let (issuer, fields) = element(fields, SEQUENCE, "issuer")?;
        let (validity, fields) = expect(fields, SEQUENCE, "validity")?;
        let (subject, fields) = element(fields, SEQUENCE, "subject")?;
        let (spki, _extensions) = element(fields, SEQUENCE, "subjectPublicKeyInfo")?;
        // Go refuses a certificate whose issuer or subject it cannot read.
        name_identity(issuer, "issuer")?;
        name_identity(subject, "subject")?;
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
        name_identity(self.subject, "subject")
    }
}

/// The `(CN, [O...])` of a Name element, every attribute read as Go's crypto/x509 reads
/// a Name: a well-formed OID, and a value of one of the string types Go accepts, valid
/// for its type (see [`directory_string`]); anything else is an error, as Go refuses
/// such a certificate.
fn name_identity(name: &[u8], what: &'static str) -> Result<(String, Vec<String>), X509Error> {
    let bad = X509Error::Malformed(what);
    let (mut name, _) = expect(name, SEQUENCE, what)?;
    let mut cn = String::new();
    let mut orgs = Vec::new();
    while !name.is_empty() {
        let (mut set, rest) = expect(name, SET, what)?;
        name = rest;
        while !set.is_empty() {
            let (atv, rest) = expect(set, SEQUENCE, what)?;
            set = rest;
            let (oid, value) = expect(atv, OID, what)?;
            let (tag, value, rest) = read_tlv(value).ok_or(bad.clone())?;
            if !rest.is_empty() || !valid_oid(oid) {
                return Err(bad);
            }
            let value = directory_string(tag, value).ok_or(bad.clone())?;
            if oid == OID_CN {
                cn = value;
            } else if oid == OID_O {
                orgs.push(value);
            }
        }
    }
    Ok((cn, orgs))
}

/// An attribute value as text, for the string types Go's crypto/x509 accepts in a Name:
/// UTF8String (valid UTF-8), PrintableString (its character set, plus `*` and `&` as Go
/// allows), IA5String (ASCII), NumericString (digits and space), T61String (read as
/// Latin-1) and BMPString (UCS-2: no surrogates or noncharacters; a trailing NUL is
/// dropped). `None` for another type or an invalid value.
fn directory_string(tag: u8, value: &[u8]) -> Option<String> {
    const UTF8_STRING: u8 = 0x0c;
    const NUMERIC_STRING: u8 = 0x12;
    const PRINTABLE_STRING: u8 = 0x13;
    const T61_STRING: u8 = 0x14;
    const IA5_STRING: u8 = 0x16;
    const BMP_STRING: u8 = 0x1e;
    let latin1 =
        |ok: fn(u8) -> bool| value.iter().all(|&b| ok(b)).then(|| value.iter().map(|&b| char::from(b)).collect());
    match tag {
        UTF8_STRING => std::str::from_utf8(value).ok().map(str::to_owned),
        NUMERIC_STRING => latin1(|b| b.is_ascii_digit() || b == b' '),
        PRINTABLE_STRING => latin1(|b| b.is_ascii_alphanumeric() || b" '()+,-./:=?*&".contains(&b)),
        IA5_STRING => latin1(|b| b.is_ascii()),
        T61_STRING => latin1(|_| true),
        BMP_STRING => {
            if !value.len().is_multiple_of(2) {
                return None;
            }
            let value = value.strip_suffix(&[0, 0]).unwrap_or(value);
            value
                .chunks_exact(2)
                .map(|pair| match u16::from_be_bytes([pair[0], pair[1]]) {
                    0xd800..=0xdfff | 0xfdd0..=0xfdef | 0xfffe | 0xffff => None,
                    unit => char::from_u32(u32::from(unit)),
                })
                .collect()
        }
        _ => None,
    }
}

/// An OBJECT IDENTIFIER's contents: base-128 numbers, each minimal (no leading 0x80
/// byte) and ending with a byte below 0x80.
fn valid_oid(oid: &[u8]) -> bool {
    let mut at_start = true;
    for &b in oid {
        if at_start && b == 0x80 {
            return false;
        }
        at_start = b < 0x80;
    }
    !oid.is_empty() && at_start
}

/// One DER element: `(tag, contents, rest)`, or `None` when it does not fit in `input`.
/// Only definite lengths of up to four bytes, minimally encoded (DER, as Go's parser
/// requires).
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
            if rest[0] == 0 || len < 0x80 {
                return None;
            }
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
    fn name_strings_as_go_reads_them() {
        assert_eq!(directory_string(0x0c, "zoë".as_bytes()).as_deref(), Some("zoë"));
        assert_eq!(directory_string(0x0c, &[0x66, 0xff]), None);
        assert_eq!(directory_string(0x13, b"Ops Team (EU)").as_deref(), Some("Ops Team (EU)"));
        assert_eq!(directory_string(0x13, b"a_b"), None);
        assert_eq!(directory_string(0x12, b"12 34").as_deref(), Some("12 34"));
        assert_eq!(directory_string(0x12, b"12a"), None);
        assert_eq!(directory_string(0x16, b"a@b").as_deref(), Some("a@b"));
        assert_eq!(directory_string(0x14, &[0x7a, 0xeb]).as_deref(), Some("zë"));
        assert_eq!(directory_string(0x1e, &[0, b'h', 0, b'i', 0, 0]).as_deref(), Some("hi"));
        assert_eq!(directory_string(0x1e, &[0, b'h', 0]), None);
        assert_eq!(directory_string(0x1e, &[0xd8, 0x00]), None);
        assert_eq!(directory_string(0x02, &[5]), None);
        assert!(valid_oid(&[0x55, 0x04, 0x03]) && valid_oid(&[0x2a, 0x86, 0x48, 0x01]));
        assert!(!valid_oid(&[]) && !valid_oid(&[0x55, 0x84]) && !valid_oid(&[0x55, 0x80, 0x01]));
    }

    #[test]
    fn names_read_every_attribute() {
        let atv = |oid: u8, tag: u8, value: &[u8]| {
            [&[SEQUENCE, (7 + value.len()) as u8, OID, 3, 0x55, 0x04, oid, tag, value.len() as u8][..], value].concat()
        };
        let name = |atvs: &[Vec<u8>]| {
            let sets: Vec<u8> = atvs.iter().flat_map(|a| [&[SET, a.len() as u8][..], a].concat()).collect();
            [&[SEQUENCE, sets.len() as u8][..], &sets].concat()
        };
        let good = name(&[atv(10, 0x13, b"g1"), atv(3, 0x0c, b"first"), atv(3, 0x0c, b"last"), atv(10, 0x0c, b"g2")]);
        assert_eq!(name_identity(&good, "subject"), Ok(("last".into(), vec!["g1".into(), "g2".into()])));
        // An attribute that is neither CN nor O still has to be a valid string.
        let bad_ou = name(&[atv(3, 0x0c, b"u"), atv(11, 0x0c, &[0xc3])]);
        assert!(name_identity(&bad_ou, "subject").is_err());
        let integer_cn = name(&[atv(3, 0x02, &[5])]);
        assert!(name_identity(&integer_cn, "subject").is_err());
    }

    #[test]
    fn lengths_must_be_minimal() {
        assert!(Certificate::parse(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0]).is_err());
        assert_eq!(read_tlv(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]), None);
        assert_eq!(read_tlv(&[0x04, 0x82, 0x00, 0x80]), None);
        assert_eq!(read_tlv(&[0x04, 0x05, 1, 2, 3, 4, 5]), Some((0x04, &[1u8, 2, 3, 4, 5][..], &[][..])));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for input in [&[][..], &[0x30], &[0x30, 0x80], &[0x30, 0x85, 1, 2, 3, 4, 5], &[0x30, 0x02, 0x02, 0x00]] {
            assert!(Certificate::parse(input).is_err(), "{input:?}");
        }
    }
}
