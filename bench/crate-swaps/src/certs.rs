//! Client-certificate subjects: ours (`ferrokube_apimachinery::x509`: `Certificate::parse`
//! then `subject_identity`, as the server's authenticator calls it)
//! against `x509-parser` and `x509-cert`, on real certificates (rcgen's, and the
//! server's `tls::CertAuthority`), on certificates whose subject is crafted (multi-valued
//! RDNs, string types, v1), and on malformed input (every truncation, bit flips, bytes
//! set to 0xff, random bytes).
//!
//! Every side answers kube-apiserver's way (Go's `pkix.Name`): the user is the last CN,
//! the groups are every O, in order; a value that is not a string is skipped.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ferrokube_apiserver::tls::CertAuthority;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// `(CN, [O...])`, or `None` when the certificate cannot be read.
pub type Identity = Option<(String, Vec<String>)>;

/// Ours, as the server's authenticator calls it.
pub fn ours(der: &[u8]) -> Identity {
    ferrokube_apimachinery::x509::Certificate::parse(der).and_then(|c| c.subject_identity()).ok()
}

/// x509-parser: parse the certificate (its default, deep parser), read the subject.
pub fn x509_parser(der: &[u8]) -> Identity {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject();
    let cn = subject.iter_common_name().filter_map(|a| a.as_str().ok()).last().unwrap_or("").to_string();
    let orgs = subject.iter_organization().filter_map(|a| a.as_str().ok()).map(str::to_string).collect();
    Some((cn, orgs))
}

/// x509-cert: decode the certificate, read the subject's DirectoryStrings.
pub fn x509_cert(der: &[u8]) -> Identity {
    use x509_cert::der::asn1::ObjectIdentifier;
    use x509_cert::der::Decode;
    use x509_cert::ext::pkix::name::DirectoryString;
    const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
    const O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let mut cn = String::new();
    let mut orgs = Vec::new();
    for atv in cert.tbs_certificate().subject().iter() {
        let Ok(value) = atv.value.decode_as::<DirectoryString>() else { continue };
        let value = match value {
            DirectoryString::PrintableString(s) => s.to_string(),
            DirectoryString::TeletexString(s) => s.to_string(),
            DirectoryString::Utf8String(s) => s,
            DirectoryString::BmpString(s) => s.to_string(),
        };
        if atv.oid == CN {
            cn = value;
        } else if atv.oid == O {
            orgs.push(value);
        }
    }
    Some((cn, orgs))
}

/// A certificate reader: DER in, identity out.
pub type Reader = fn(&[u8]) -> Identity;

/// The three readers, by name, for the tables.
pub const READERS: [(&str, Reader); 3] = [("ours", ours), ("x509-parser", x509_parser), ("x509-cert", x509_cert)];

/// A named certificate and the identity kube-apiserver (Go's crypto/x509) reads from it.
#[derive(Debug, Clone)]
pub struct RealCert {
    /// What it is.
    pub name: String,
    /// The DER.
    pub der: Vec<u8>,
    /// Go's answer: `None` where `x509.ParseCertificate` refuses the certificate.
    pub go: Identity,
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM").to_vec()
}

fn rcgen_cert(dn: &[(rcgen::DnType, &str)]) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(vec!["client.example".to_string()]).expect("params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    for (ty, value) in dn {
        params.distinguished_name.push(ty.clone(), *value);
    }
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("cert").der().to_vec()
}

/// Real certificates: the server's CA and what it issues, and rcgen certificates.
pub fn real_certs() -> Vec<RealCert> {
    let o2 = rcgen::DnType::CustomDnType(vec![2, 5, 4, 10]);
    let some = |cn: &str, orgs: &[&str]| Some((cn.to_string(), orgs.iter().map(|s| s.to_string()).collect()));
    let ca = CertAuthority::generate("ferrokube-client-ca").expect("CA");
    let (admin, _) = ca.issue_client("admin", &["system:masters"]).expect("admin");
    let (alice, _) = ca.issue_client("alice", &["dev", "ops"]).expect("alice");
    let (nobody, _) = ca.issue_client("system:serviceaccount:default:builder", &[]).expect("sa");
    let (serving, _) = ca.issue_serving(&["localhost".into(), "127.0.0.1".into()]).expect("serving");
    let long_cn = "u".repeat(300);
    vec![
        RealCert { name: "CertAuthority CA".into(), der: ca.cert_der().to_vec(), go: some("ferrokube-client-ca", &[]) },
        RealCert { name: "issue_client admin".into(), der: pem_to_der(&admin), go: some("admin", &["system:masters"]) },
        RealCert { name: "issue_client 2 groups".into(), der: pem_to_der(&alice), go: some("alice", &["dev", "ops"]) },
        RealCert {
            name: "issue_client no group".into(),
            der: pem_to_der(&nobody),
            go: some("system:serviceaccount:default:builder", &[]),
        },
        RealCert { name: "issue_serving".into(), der: pem_to_der(&serving), go: some("ferrokube-apiserver", &[]) },
        RealCert {
            name: "rcgen O before CN".into(),
            der: rcgen_cert(&[(rcgen::DnType::OrganizationName, "g1"), (rcgen::DnType::CommonName, "bob")]),
            go: some("bob", &["g1"]),
        },
        RealCert {
            name: "rcgen C, L, OU, CN, 2 O".into(),
            der: rcgen_cert(&[
                (rcgen::DnType::CountryName, "DE"),
                (rcgen::DnType::LocalityName, "Berlin"),
                (rcgen::DnType::OrganizationalUnitName, "unit"),
                (rcgen::DnType::CommonName, "carol"),
                (rcgen::DnType::OrganizationName, "g1"),
                (o2.clone(), "g2"),
            ]),
            go: some("carol", &["g1", "g2"]),
        },
        RealCert {
            name: "rcgen unicode CN".into(),
            der: rcgen_cert(&[(rcgen::DnType::CommonName, "zoë-ü-日本")]),
            go: some("zoë-ü-日本", &[]),
        },
        RealCert {
            name: "rcgen 300-char CN".into(),
            der: rcgen_cert(&[(rcgen::DnType::CommonName, &long_cn)]),
            go: some(&long_cn, &[]),
        },
        RealCert { name: "rcgen empty subject".into(), der: rcgen_cert(&[]), go: some("", &[]) },
    ]
}

/// DER: one TLV with a definite length.
pub fn tlv(tag: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// The TLVs (whole encodings) of a DER SEQUENCE's contents.
fn elements(mut contents: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !contents.is_empty() {
        let (len, header) = match contents[1] {
            n if n < 0x80 => (n as usize, 2),
            n => {
                let k = (n & 0x7f) as usize;
                (contents[2..2 + k].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), 2 + k)
            }
        };
        out.push(contents[..header + len].to_vec());
        contents = &contents[header + len..];
    }
    out
}

fn contents(der: &[u8]) -> &[u8] {
    let first = der[1];
    let header = if first < 0x80 { 2 } else { 2 + (first & 0x7f) as usize };
    &der[header..]
}

/// `der` with its subject replaced by `subject` (a Name's DER); `v1` drops the version
/// and the extensions. The signature no longer matches: these are parse-only cases.
pub fn with_subject(der: &[u8], subject: &[u8], v1: bool) -> Vec<u8> {
    let cert = elements(contents(der));
    let mut tbs = elements(contents(&cert[0]));
    let has_version = tbs[0][0] == 0xa0;
    let subject_at = if has_version { 5 } else { 4 };
    tbs[subject_at] = subject.to_vec();
    if v1 {
        tbs.retain(|e| e[0] != 0xa0 && e[0] != 0xa3);
    }
    let tbs = tlv(0x30, &tbs.concat());
    tlv(0x30, &[tbs, cert[1].clone(), cert[2].clone()].concat())
}

/// One attribute (type and value) with a string tag.
fn atv(oid_last: u8, tag: u8, value: &[u8]) -> Vec<u8> {
    tlv(0x30, &[tlv(0x06, &[0x55, 0x04, oid_last]), tlv(tag, value)].concat())
}

const CN: u8 = 3;
const O: u8 = 10;
const UTF8: u8 = 0x0c;
const PRINTABLE: u8 = 0x13;
const BMP: u8 = 0x1e;
const T61: u8 = 0x14;
const IA5: u8 = 0x16;
const NUMERIC: u8 = 0x12;

fn name(rdns: &[Vec<Vec<u8>>]) -> Vec<u8> {
    tlv(0x30, &rdns.iter().map(|rdn| tlv(0x31, &rdn.concat())).collect::<Vec<_>>().concat())
}

/// Certificates whose subject is crafted (multi-valued RDNs, string types, v1), made
/// from a fresh rcgen certificate; `examples/write_certs.rs` stores them in
/// `cases/certs.json` for the Go oracle, which gives their `go` answers.
pub fn crafted_certs() -> Vec<(String, Vec<u8>)> {
    let base = rcgen_cert(&[(rcgen::DnType::CommonName, "base")]);
    let bmp = |s: &str| s.encode_utf16().flat_map(u16::to_be_bytes).collect::<Vec<u8>>();
    let case = |name_: &str, subject: Vec<u8>, v1: bool| (name_.to_string(), with_subject(&base, &subject, v1));
    vec![
        case(
            "multi-valued RDN {CN,O} + O",
            name(&[vec![atv(CN, UTF8, b"alice"), atv(O, UTF8, b"team-a")], vec![atv(O, UTF8, b"team-b")]]),
            false,
        ),
        case(
            "PrintableString CN and O",
            name(&[vec![atv(O, PRINTABLE, b"ops")], vec![atv(CN, PRINTABLE, b"dave")]]),
            false,
        ),
        case("two CNs", name(&[vec![atv(CN, UTF8, b"first")], vec![atv(CN, UTF8, b"second")]]), false),
        case("BMPString CN", name(&[vec![atv(CN, BMP, &bmp("erin"))]]), false),
        case("T61String CN (Latin-1)", name(&[vec![atv(CN, T61, &[0x7a, 0x6f, 0xeb])]]), false),
        case("IA5String O, NumericString CN", name(&[vec![atv(O, IA5, b"a@b")], vec![atv(CN, NUMERIC, b"42")]]), false),
        case("CN not a string (INTEGER)", name(&[vec![atv(CN, 0x02, &[0x05])], vec![atv(O, UTF8, b"g")]]), false),
        case("invalid UTF-8 in UTF8String CN", name(&[vec![atv(CN, UTF8, &[0x66, 0xff, 0x6f])]]), false),
        case("'_' in PrintableString O", name(&[vec![atv(CN, UTF8, b"u")], vec![atv(O, PRINTABLE, b"a_b")]]), false),
        case(
            "invalid UTF-8 in another attribute (OU)",
            name(&[vec![atv(CN, UTF8, b"u")], vec![atv(11, UTF8, &[0xc3])]]),
            false,
        ),
        case("v1 certificate (no version, no extensions)", name(&[vec![atv(CN, UTF8, b"old")]]), true),
        case("trailing byte after the certificate", name(&[vec![atv(CN, UTF8, b"t")]]), false),
    ]
    .into_iter()
    .map(|(n, mut der)| {
        if n.starts_with("trailing") {
            der.push(0);
        }
        (n, der)
    })
    .collect()
}

/// The stored certificates (`cases/certs.json`: the server's admin client certificate
/// first, then the crafted ones) with Go's answers (`cases/kube_certs.json`).
pub fn stored_certs() -> Vec<RealCert> {
    let certs: serde_json::Value = serde_json::from_str(include_str!("../cases/certs.json")).expect("certs.json");
    let kube: serde_json::Value =
        serde_json::from_str(include_str!("../cases/kube_certs.json")).expect("kube_certs.json");
    certs
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            let name = c["name"].as_str().expect("name").to_string();
            RealCert { der: unhex(c["der"].as_str().expect("der")), go: identity(&kube["certs"][&name]), name }
        })
        .collect()
}

/// Go's answers on [`malformed`] of the stored admin certificate, in order.
pub fn go_malformed() -> Vec<Identity> {
    let kube: serde_json::Value =
        serde_json::from_str(include_str!("../cases/kube_certs.json")).expect("kube_certs.json");
    kube["malformed"].as_array().expect("malformed").iter().map(identity).collect()
}

fn identity(v: &serde_json::Value) -> Identity {
    let cn = v.get("cn")?.as_str()?.to_string();
    let orgs = v
        .get("o")
        .and_then(|o| o.as_array())
        .map_or(vec![], |o| o.iter().filter_map(|s| s.as_str().map(str::to_string)).collect());
    Some((cn, orgs))
}

/// Hex text to bytes.
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

/// Bytes to hex text.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How one reader's answer on a malformed input relates to another's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Agreement {
    /// Inputs tried.
    pub inputs: usize,
    /// Both refused, or both read the same identity.
    pub same: usize,
    /// Ours (the first reader) read an identity, the other refused.
    pub ours_only: usize,
    /// The other read an identity, ours (the first reader) refused.
    pub crate_only: usize,
    /// Both read an identity, a different one.
    pub different: usize,
    /// Ours (the first reader) panicked (must be 0 for ours).
    pub ours_panics: usize,
    /// The other panicked.
    pub crate_panics: usize,
}

fn guarded(reader: fn(&[u8]) -> Identity, der: &[u8]) -> Result<Identity, ()> {
    catch_unwind(AssertUnwindSafe(|| reader(der))).map_err(drop)
}

/// Malformed variants of `der`: every truncation, one bit flipped at every byte, every
/// byte set to 0xff, and `random` random inputs (a fixed seed).
pub fn malformed(der: &[u8], random: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..der.len()).map(|n| der[..n].to_vec()).collect();
    for i in 0..der.len() {
        let mut flipped = der.to_vec();
        flipped[i] ^= 1 << (i % 8);
        out.push(flipped);
        let mut ff = der.to_vec();
        ff[i] = 0xff;
        out.push(ff);
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..random {
        let len = (next() % 600) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = bytes.first_mut() {
            *first = 0x30; // look like a SEQUENCE, so readers go past the first byte
        }
        out.push(bytes);
    }
    out
}

/// Compares ours with `krate` on `inputs`.
pub fn agreement(inputs: &[Vec<u8>], krate: fn(&[u8]) -> Identity) -> Agreement {
    agreement_with(inputs, ours, |_, input| guarded(krate, input))
}

/// Compares `reader` with Go's answers `go` (one per input).
pub fn agreement_go(inputs: &[Vec<u8>], reader: fn(&[u8]) -> Identity, go: &[Identity]) -> Agreement {
    agreement_with(inputs, reader, |i, _| Ok(go[i].clone()))
}

fn agreement_with(
    inputs: &[Vec<u8>],
    first: fn(&[u8]) -> Identity,
    second: impl Fn(usize, &[u8]) -> Result<Identity, ()>,
) -> Agreement {
    let mut a = Agreement { inputs: inputs.len(), ..Agreement::default() };
    // Keep the default panic hook's output out of the tables.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for (i, input) in inputs.iter().enumerate() {
        let o = guarded(first, input);
        let k = second(i, input);
        a.ours_panics += usize::from(o.is_err());
        a.crate_panics += usize::from(k.is_err());
        match (o.ok().flatten(), k.ok().flatten()) {
            (None, None) => a.same += 1,
            (Some(x), Some(y)) if x == y => a.same += 1,
            (Some(_), Some(_)) => a.different += 1,
            (Some(_), None) => a.ours_only += 1,
            (None, Some(_)) => a.crate_only += 1,
        }
    }
    std::panic::set_hook(hook);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_and_the_crates_read_real_certificates_as_go_does() {
        for cert in real_certs() {
            for (reader, read) in READERS {
                assert_eq!(read(&cert.der), cert.go, "{reader} on {}", cert.name);
            }
        }
    }

    #[test]
    fn stored_certificates_as_go_reads_them() {
        let certs = stored_certs();
        // Ours reads every stored certificate as Go does.
        for cert in &certs {
            assert_eq!(ours(&cert.der), cert.go, "ours on {}", cert.name);
        }
        // The crates do not: x509-parser skips a BMPString CN, neither refuses
        // a certificate whose subject Go refuses.
        let by = |name: &str| certs.iter().find(|c| c.name.starts_with(name)).unwrap();
        assert_eq!(x509_parser(&by("BMPString").der), Some((String::new(), vec![])));
        assert_ne!(by("invalid UTF-8 in UTF8String").go, x509_cert(&by("invalid UTF-8 in UTF8String").der));
    }

    #[test]
    fn stored_admin_is_the_server_admin_and_go_answers_every_mutation() {
        let admin = &stored_certs()[0];
        assert_eq!(admin.go, Some(("admin".to_string(), vec!["system:masters".to_string()])));
        assert_eq!(malformed(&admin.der, 2000).len(), go_malformed().len());
    }

    #[test]
    fn malformed_input_never_panics_ours_and_never_reads_another_identity() {
        let admin = &stored_certs()[0];
        let inputs = malformed(&admin.der, 2000);
        let go = go_malformed();
        let vs_go = agreement_go(&inputs, ours, &go);
        assert_eq!(vs_go.ours_panics, 0);
        // Ours never reads an identity other than Go's, and never refuses what Go reads.
        assert_eq!((vs_go.different, vs_go.crate_only), (0, 0), "{vs_go:?}");
        for (reader, read) in &READERS[1..] {
            let a = agreement(&inputs, *read);
            assert_eq!(a.ours_panics, 0, "vs {reader}: {a:?}");
        }
    }
}
