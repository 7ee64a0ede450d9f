//! Client-certificate identities: the user is the subject's common name (CN), the
//! groups its organization (O) values, as in kube-apiserver's x509 authenticator.
//!
//! The certificate chain has already been verified by the TLS layer; this module only
//! reads the subject out of the DER, with a small, bounds-checked DER reader (no panics
//! on malformed input).

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_O: &[u8] = &[0x55, 0x04, 0x0a];

/// The `(CN, [O...])` of a DER certificate's subject, or `None` if it cannot be read.
pub fn subject_identity(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (tag, cert, _) = read_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, mut tbs, _) = read_tlv(cert)?;
    if tag != 0x30 {
        return None;
    }
    // Skip the optional [0] version, serial, signature algorithm, issuer, validity.
    let (tag, _, rest) = read_tlv(tbs)?;
    if tag == 0xa0 {
        tbs = rest;
    }
    for _ in 0..4 {
        let (_, _, rest) = read_tlv(tbs)?;
        tbs = rest;
    }
    let (tag, mut name, _) = read_tlv(tbs)?;
    if tag != 0x30 {
        return None;
    }
    let mut cn = String::new();
    let mut orgs = Vec::new();
    while !name.is_empty() {
        let (tag, mut set, rest) = read_tlv(name)?;
        name = rest;
        if tag != 0x31 {
            return None;
        }
        while !set.is_empty() {
            let (_, atv, rest) = read_tlv(set)?;
            set = rest;
            let (tag, oid, value) = read_tlv(atv)?;
            if tag != 0x06 {
                return None;
            }
            let (_, value, _) = read_tlv(value)?;
            let value = String::from_utf8_lossy(value).into_owned();
            if oid == OID_CN {
                cn = value;
            } else if oid == OID_O {
                orgs.push(value);
            }
        }
    }
    Some((cn, orgs))
}

/// Read one DER TLV: `(tag, contents, rest)`.
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | b as usize;
        }
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cn_and_orgs() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "system:masters");
        params.distinguished_name.push(rcgen::DnType::CommonName, "admin");
        params.distinguished_name.push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 10]), "dev");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let (cn, orgs) = subject_identity(cert.der()).unwrap();
        assert_eq!(cn, "admin");
        assert_eq!(orgs.len(), 2);
        assert!(orgs.contains(&"system:masters".to_owned()) && orgs.contains(&"dev".to_owned()));
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(subject_identity(&[]), None);
        assert_eq!(subject_identity(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject_identity(&[0x30, 0x03, 0x30, 0x01]), None);
    }
}
