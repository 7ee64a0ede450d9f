//! Proof of equality with Kubernetes' own API test data
//! (`k8s.io/api/testdata/<release>/*.pb` and their `.json` twins, the round-trip
//! fixtures kube's own serialization tests hold every release to).
//!
//! For every `.pb` fixture: decoding it gives the object of its JSON twin; encoding the
//! JSON twin decodes back to the same object; and the encoded bytes are compared with
//! kube's, byte for byte. The counts are printed (run with `--nocapture`); on the HEAD
//! fixtures every encoding is byte-identical and the test holds that (other release
//! folders are counted, not held: older fixtures may carry fields 1.37 dropped). With
//! `FIXTURE_DUMP=<dir>` the two encodings of each differing fixture are written there
//! for inspection.
//!
//! The fixtures are vendored at `tests/fixtures/k8s-api-testdata` (see its README);
//! `K8S_API_TESTDATA` names another copy.

use std::path::{Path, PathBuf};

use ferrokube_apimachinery::protobuf::{self, decode_message, encode_message, generated, MAGIC};
use serde_json::Value;

/// Kubernetes' API test data (vendored at `tests/fixtures/k8s-api-testdata`, see its
/// README); `K8S_API_TESTDATA` names another copy of the folder that holds `HEAD`.
fn testdata_root() -> PathBuf {
    std::env::var_os("K8S_API_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/k8s-api-testdata"))
}

/// A minimal reader of the envelope: (apiVersion, kind, raw).
fn split_envelope(bytes: &[u8]) -> (String, String, Vec<u8>) {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for i in 0.. {
            let (&x, rest) = b.split_first().expect("truncated");
            *b = rest;
            v |= u64::from(x & 0x7f) << (7 * i);
            if x < 0x80 {
                break;
            }
        }
        v
    }
    fn fields(mut b: &[u8]) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while !b.is_empty() {
            let key = varint(&mut b);
            assert_eq!(key & 7, 2, "envelope fields are length-delimited");
            let len = varint(&mut b) as usize;
            out.push((key >> 3, b[..len].to_vec()));
            b = &b[len..];
        }
        out
    }
    let rest = bytes.strip_prefix(MAGIC).expect("k8s envelope");
    let (mut av, mut kind, mut raw) = (String::new(), String::new(), Vec::new());
    for (tag, v) in fields(rest) {
        match tag {
            1 => {
                for (t, s) in fields(&v) {
                    let s = String::from_utf8(s).unwrap();
                    if t == 1 {
                        av = s;
                    } else if t == 2 {
                        kind = s;
                    }
                }
            }
            2 => raw = v,
            _ => {}
        }
    }
    (av, kind, raw)
}

/// The message key of a fixture's apiVersion/kind: a served kind, else the message of
/// that name in the group's package (options and review types), else meta/v1.
fn key_of(api_version: &str, kind: &str) -> Option<&'static str> {
    if let Some(k) = protobuf::message_key(api_version, kind) {
        return Some(k);
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("core", api_version));
    let label = group.split('.').next().unwrap_or(group);
    let suffix = format!("/{version}/{kind}");
    let in_group = generated::MESSAGES
        .iter()
        .find(|m| m.key.ends_with(&suffix) && m.key.contains(&format!("/{label}/")))
        .map(|m| m.key);
    in_group.or_else(|| {
        let meta = format!("apimachinery/pkg/apis/meta/v1/{kind}");
        generated::MESSAGES.iter().find(|m| m.key == meta).map(|m| m.key)
    })
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The first path where `a` and `b` differ, for failure messages.
fn first_difference(a: &Value, b: &Value, path: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                match (x.get(k), y.get(k)) {
                    (Some(v), Some(w)) if same(v, w) => {}
                    (Some(v), Some(w)) => return first_difference(v, w, &format!("{path}.{k}")),
                    (v, w) => return format!("{path}.{k}: {v:?} vs {w:?}"),
                }
            }
            format!("{path}: ?")
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                if !same(v, w) {
                    return first_difference(v, w, &format!("{path}[{i}]"));
                }
            }
            format!("{path}: ?")
        }
        _ => format!("{path}: {a} vs {b}"),
    }
}

#[test]
fn kubernetes_api_testdata_round_trips() {
    let root = testdata_root();
    let mut releases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    releases.sort();
    assert!(!releases.is_empty(), "no release folders under {}", root.display());
    let (mut total, mut decoded_equal, mut encoded_equal, mut identical) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    let mut not_identical = Vec::new();
    let mut no_message = Vec::new();
    for release in &releases {
        let mut files: Vec<PathBuf> = std::fs::read_dir(release)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "pb"))
            .collect();
        files.sort();
        for pb_path in files {
            let name = format!(
                "{}/{}",
                release.file_name().unwrap().to_string_lossy(),
                pb_path.file_stem().unwrap().to_string_lossy()
            );
            let pb = std::fs::read(&pb_path).unwrap();
            let json: Value = serde_json::from_slice(&std::fs::read(pb_path.with_extension("json")).unwrap()).unwrap();
            total += 1;
            let (av, kind, raw) = split_envelope(&pb);
            // A WatchEvent is written with an empty typeMeta: its type is the file's.
            let stem = pb_path.file_stem().unwrap().to_string_lossy().into_owned();
            let (file_version, file_kind) = {
                let mut parts = stem.rsplitn(3, '.');
                let k = parts.next().unwrap_or("").to_owned();
                (parts.next().unwrap_or("").to_owned(), k)
            };
            let found = if kind.is_empty() { key_of(&file_version, &file_kind) } else { key_of(&av, &kind) };
            let Some(key) = found else {
                no_message.push(format!("{name} ({av}, {kind})"));
                continue;
            };
            // The JSON twin without the type fields the envelope carries (unless the
            // message has them as fields, as review types do not).
            let mut expected = json.clone();
            let has_type_fields = generated::MESSAGES
                .iter()
                .find(|m| m.key == key)
                .is_some_and(|m| m.fields.iter().any(|f| f.json == "kind"));
            if !has_type_fields {
                if let Value::Object(m) = &mut expected {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
            }
            match decode_message(key, &raw, 0) {
                Ok(decoded) if same(&decoded, &expected) => decoded_equal += 1,
                Ok(decoded) => failures.push(format!("{name}: decode: {}", first_difference(&decoded, &expected, ""))),
                Err(e) => failures.push(format!("{name}: decode: {e}")),
            }
            let encoded = match encode_message(key, &expected) {
                Ok(e) => e,
                Err(e) => {
                    failures.push(format!("{name}: encode: {e}"));
                    continue;
                }
            };
            match decode_message(key, &encoded, 0) {
                Ok(back) if same(&back, &expected) => encoded_equal += 1,
                Ok(back) => failures.push(format!("{name}: re-decode: {}", first_difference(&back, &expected, ""))),
                Err(e) => failures.push(format!("{name}: re-decode: {e}")),
            }
            if encoded == raw && protobuf::envelope(&av, &kind, &encoded) == pb {
                identical += 1;
            } else {
                if release.ends_with("HEAD") {
                    failures.push(format!("{name}: not byte-identical to kube's encoding"));
                }
                if let Ok(dir) = std::env::var("FIXTURE_DUMP") {
                    std::fs::write(format!("{dir}/{stem}.ours"), &encoded).unwrap();
                    std::fs::write(format!("{dir}/{stem}.kube"), &raw).unwrap();
                }
                not_identical.push(format!("{name} ({} vs {} bytes)", encoded.len(), raw.len()));
            }
        }
    }
    println!("fixtures: {total} in {} release folder(s)", releases.len());
    println!("decoded equal to the JSON twin: {decoded_equal}/{total}");
    println!("encoded JSON decodes back equal: {encoded_equal}/{total}");
    println!("encoded to kube's bytes exactly: {identical}/{total}");
    for n in &not_identical {
        println!("  not byte-identical: {n}");
    }
    for n in &no_message {
        println!("  no protobuf message: {n}");
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    assert!(no_message.is_empty(), "fixtures with no message: {no_message:?}");
    assert!(total > 0);
}
