//! Where, in the certificate, are the mutations that ours reads and Go refuses? (The
//! malformed-input table of README.md, broken down by the field the mutated byte is in.)
//!
//! `cargo run --release --manifest-path bench/crate-swaps/Cargo.toml --example regions`

use std::collections::BTreeMap;

use crate_swaps::certs;

/// `(start, end, name)` of the top-level fields of a certificate's DER.
fn regions(der: &[u8]) -> Vec<(usize, usize, String)> {
    fn header(der: &[u8], at: usize) -> (usize, usize) {
        let first = der[at + 1];
        if first < 0x80 {
            (2, first as usize)
        } else {
            let n = (first & 0x7f) as usize;
            (2 + n, der[at + 2..at + 2 + n].iter().fold(0, |a, b| (a << 8) | *b as usize))
        }
    }
    let mut out = vec![(0, 0, "certificate header".to_string())];
    let (h, _) = header(der, 0);
    out[0].1 = h;
    let (th, tlen) = header(der, h);
    out.push((h, h + th, "TBS header".into()));
    let names =
        ["version", "serial", "signature algorithm", "issuer", "validity", "subject", "public key", "extensions"];
    let mut at = h + th;
    for name in names {
        let (fh, flen) = header(der, at);
        out.push((at, at + fh + flen, name.to_string()));
        at += fh + flen;
    }
    let _ = tlen;
    for name in ["outer signature algorithm", "signature"] {
        let (fh, flen) = header(der, at);
        out.push((at, at + fh + flen, name.to_string()));
        at += fh + flen;
    }
    out
}

fn main() {
    let admin = &certs::stored_certs()[0];
    let der = &admin.der;
    let n = der.len();
    let inputs = certs::malformed(der, 2000);
    let go = certs::go_malformed();
    let regions = regions(der);
    let mut counts: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        let place = if i < n {
            "truncated".to_string()
        } else if i < 3 * n {
            let at = (i - n) / 2;
            regions.iter().find(|(s, e, _)| (*s..*e).contains(&at)).map_or("?".into(), |r| r.2.clone())
        } else {
            "random".to_string()
        };
        let ours = certs::ours(input);
        let c = counts.entry(place).or_default();
        c[0] += 1;
        c[1] += usize::from(ours.is_some() && go[i].is_none());
        c[2] += usize::from(certs::x509_parser(input).is_some() && go[i].is_none());
        c[3] += usize::from(certs::x509_cert(input).is_some() && go[i].is_none());
    }
    println!("| mutated field | inputs | ours reads, Go refuses | x509-parser reads, Go refuses | x509-cert reads, Go refuses |");
    println!("|---|---|---|---|---|");
    for (start, _, name) in &regions {
        if let Some(c) = counts.remove(name) {
            println!("| {name} (from byte {start}) | {} | {} | {} | {} |", c[0], c[1], c[2], c[3]);
        }
    }
    for (name, c) in counts {
        println!("| {name} | {} | {} | {} | {} |", c[0], c[1], c[2], c[3]);
    }
}
