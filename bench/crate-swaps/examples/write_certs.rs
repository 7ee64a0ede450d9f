//! Writes `cases/certs.json`: a fresh admin client certificate from the server's
//! `tls::CertAuthority`, then the crafted certificates, as hex DER. Run once (the file
//! is committed), then `go run .` in `kube-oracle/` for Go's answers.
//!
//! `cargo run --release --manifest-path bench/crate-swaps/Cargo.toml --example write_certs`

use crate_swaps::certs;

fn main() {
    let admin = certs::real_certs().swap_remove(1);
    let mut entries =
        vec![serde_json::json!({"name": "admin (tls::CertAuthority::issue_client)", "der": certs::hex(&admin.der)})];
    for (name, der) in certs::crafted_certs() {
        entries.push(serde_json::json!({"name": name, "der": certs::hex(&der)}));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/cases/certs.json");
    std::fs::write(path, serde_json::to_string_pretty(&entries).unwrap() + "\n").unwrap();
    println!("wrote {} certificates to {path}", entries.len());
}
