//! Prints the correctness tables and the speed table of README.md.
//!
//! `cargo run --release --manifest-path bench/crate-swaps/Cargo.toml [-- --quick]`

use std::hint::black_box;

use crate_swaps::certs::{self, Identity};
use crate_swaps::patches::{self, Outcome, Row};
use crate_swaps::timing::{compare, Comparison};
use crate_swaps::workload;
use serde_json::Value;

fn show(o: &Outcome) -> String {
    match o {
        Outcome::Doc(d) => {
            let s = d.to_string();
            if s.len() > 40 {
                format!("{}…", &s[..s.char_indices().nth(39).map_or(s.len(), |(i, _)| i)])
            } else {
                s
            }
        }
        Outcome::Error(t) if t.is_empty() => "error".into(),
        Outcome::Error(t) => format!("error: {t}"),
    }
}

fn mark(got: &Outcome, want: &Outcome) -> &'static str {
    if got.same_text(want) {
        "yes"
    } else if got.agrees(want) {
        "yes (other text)"
    } else {
        "NO"
    }
}

fn patch_table(title: &str, rows: &[Row]) {
    println!("\n### {title}\n");
    println!("| case | what | kube-apiserver | ours = kube | crate = kube | ours = RFC | crate = RFC |");
    println!("|---|---|---|---|---|---|---|");
    for r in rows {
        let rfc = |got: &Outcome| {
            if r.case.id.starts_with("kube") && !got.agrees(&r.case.rfc) {
                "no"
            } else if got.agrees(&r.case.rfc) {
                "yes"
            } else {
                "NO"
            }
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.case.id,
            r.case.what,
            show(&r.case.kube).replace('|', "\\|"),
            mark(&r.ours, &r.case.kube),
            mark(&r.krate, &r.case.kube),
            rfc(&r.ours),
            rfc(&r.krate)
        );
    }
    let o = patches::score(rows, |r| &r.ours);
    let k = patches::score(rows, |r| &r.krate);
    println!("\n| side | RFC appendix examples right | same outcome as kube | kube's error text |");
    println!("|---|---|---|---|");
    for (side, s) in [("ours", o), ("json-patch crate", k)] {
        println!(
            "| {side} | {}/{} | {}/{} | {}/{} |",
            s.rfc_ok, s.rfc_total, s.kube_ok, s.total, s.kube_text, s.kube_errors
        );
    }
    let diffs: Vec<String> = rows
        .iter()
        .filter(|r| !r.ours.agrees(&r.case.kube))
        .map(|r| format!("{} (kube {}, ours {})", r.case.id, show(&r.case.kube), show(&r.ours)))
        .collect();
    if !diffs.is_empty() {
        println!("\nOurs differs from kube on: {}", diffs.join("; "));
    }
}

fn ident(i: &Identity) -> String {
    match i {
        None => "refused".into(),
        Some((cn, orgs)) => format!("{cn:?} {orgs:?}"),
    }
}

fn cert_tables() {
    println!("\n### Client-certificate subject: real and crafted certificates\n");
    println!("Go = what kube-apiserver reads (crypto/x509, by kube-oracle/); \"same\" = the reader answers as Go.\n");
    println!("| certificate | Go (kube) reads | ours | x509-parser | x509-cert |");
    println!("|---|---|---|---|---|");
    let stored = certs::stored_certs();
    for cert in certs::real_certs().into_iter().chain(stored.iter().skip(1).cloned()) {
        let cells: Vec<String> = certs::READERS
            .iter()
            .map(|(_, read)| {
                let got = read(&cert.der);
                if got == cert.go {
                    "same".to_string()
                } else {
                    format!("**{}**", ident(&got))
                }
            })
            .collect();
        let go = ident(&cert.go);
        let go = if go.chars().count() > 40 { format!("{}…", go.chars().take(40).collect::<String>()) } else { go };
        println!("| {} | {} | {} |", cert.name, go, cells.join(" | "));
    }
    println!("\n### Client-certificate subject: malformed input (the stored admin client certificate, mutated)\n");
    let admin = &stored[0];
    let inputs = certs::malformed(&admin.der, 2000);
    let go = certs::go_malformed();
    println!(
        "{} inputs: {} truncations, {} one-bit flips, {} bytes set to 0xff, 2000 random.\n",
        inputs.len(),
        admin.der.len(),
        admin.der.len(),
        admin.der.len()
    );
    println!("| reader vs other | same answer | reader reads, other refuses | other reads, reader refuses | different identity | reader panics | other panics |");
    println!("|---|---|---|---|---|---|---|");
    let row = |label: String, a: certs::Agreement| {
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} |",
            a.same, a.ours_only, a.crate_only, a.different, a.ours_panics, a.crate_panics
        )
    };
    for (name, read) in certs::READERS {
        row(format!("{name} vs Go"), certs::agreement_go(&inputs, read, &go));
    }
    for (name, read) in &certs::READERS[1..] {
        row(format!("ours vs {name}"), certs::agreement(&inputs, *read));
    }
}

fn speed_row(job: &str, crate_name: &str, c: Comparison) {
    println!("| {job} | {crate_name} | {:.2} µs | {:.2} µs | {:.2} |", c.a_ns / 1000.0, c.b_ns / 1000.0, c.ratio);
}

fn speed_table(quick: bool) {
    let rounds = if quick { 5 } else { 31 };
    let scale = if quick { 10 } else { 1 };
    let pod = workload::pod();
    let json_body = workload::json_patch_body();
    let merge_body = workload::merge_patch_body();
    let json_value: Value = serde_json::from_str(&json_body).unwrap();
    let json_parsed: json_patch::Patch = serde_json::from_str(&json_body).unwrap();
    let merge_value: Value = serde_json::from_str(&merge_body).unwrap();
    let admin = certs::stored_certs().swap_remove(0).der;
    println!(
        "\n### Speed ({rounds} rounds, alternating order, medians; ratio = median of per-round ours/crate)\n\nPod: {} bytes of JSON; JSON patch: {} ops; certificate: {} bytes.\n",
        pod.to_string().len(),
        json_value.as_array().unwrap().len(),
        admin.len()
    );
    println!("| job | crate | ours | crate | ours/crate |");
    println!("|---|---|---|---|---|");
    speed_row(
        "JSON patch, decoded",
        "json-patch",
        compare(
            rounds,
            2000 / scale,
            || ferrokube_apiserver::patch::json_patch::apply_json_patch(&pod, &json_value).unwrap(),
            || {
                let mut doc = pod.clone();
                json_patch::patch(&mut doc, &json_parsed).unwrap();
                doc
            },
        ),
    );
    speed_row(
        "JSON patch, from the body",
        "json-patch",
        compare(
            rounds,
            2000 / scale,
            || {
                let patch: Value = serde_json::from_str(black_box(&json_body)).unwrap();
                ferrokube_apiserver::patch::json_patch::apply_json_patch(&pod, &patch).unwrap()
            },
            || {
                let patch: json_patch::Patch = serde_json::from_str(black_box(&json_body)).unwrap();
                let mut doc = pod.clone();
                json_patch::patch(&mut doc, &patch).unwrap();
                doc
            },
        ),
    );
    speed_row(
        "merge patch",
        "json-patch",
        compare(
            rounds,
            2000 / scale,
            || ferrokube_apiserver::patch::merge_patch::apply_merge_patch(&pod, &merge_value).unwrap(),
            || {
                let mut doc = pod.clone();
                json_patch::merge(&mut doc, &merge_value);
                doc
            },
        ),
    );
    speed_row(
        "merge patch, in place (proposed for ours)",
        "json-patch",
        compare(
            rounds,
            2000 / scale,
            || {
                let mut doc = pod.clone();
                patches::merge_in_place(&mut doc, &merge_value);
                doc
            },
            || {
                let mut doc = pod.clone();
                json_patch::merge(&mut doc, &merge_value);
                doc
            },
        ),
    );
    speed_row(
        "certificate subject",
        "x509-parser",
        compare(rounds, 20000 / scale, || certs::ours(black_box(&admin)), || certs::x509_parser(black_box(&admin))),
    );
    speed_row(
        "certificate subject",
        "x509-cert",
        compare(rounds, 20000 / scale, || certs::ours(black_box(&admin)), || certs::x509_cert(black_box(&admin))),
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    patch_table(
        "JSON patch (RFC 6902): ours vs json-patch",
        &patches::run(patches::json_patch_cases(), patches::ours_json_patch, patches::crate_json_patch),
    );
    patch_table(
        "Merge patch (RFC 7386): ours vs json-patch",
        &patches::run(patches::merge_patch_cases(), patches::ours_merge_patch, patches::crate_merge_patch),
    );
    cert_tables();
    speed_table(quick);
}
