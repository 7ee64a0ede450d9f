//! Real kube-apiserver v1.37.2 responses (`tests/data/realkube-v1.37.2`, see its README):
//! each protobuf answer decodes to the object of the JSON answer to the same GET, and
//! encoding that JSON gives kube's message byte for byte — including the empty
//! value-type fields Go writes and its JSON leaves out, so objects as they are stored
//! and served, not only fully populated fixtures.

use std::io::Read;
use std::path::{Path, PathBuf};

use ferrokube_apimachinery::protobuf::{decode_body, encode_body, encode_message, message_key, MAGIC};
use serde_json::Value;

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut out).unwrap();
    out
}

/// The envelope's apiVersion and raw message.
fn unwrap_envelope(body: &[u8]) -> (String, Vec<u8>) {
    fn field(b: &mut &[u8]) -> (u64, Vec<u8>) {
        let mut read = || {
            let mut v = 0u64;
            for i in 0.. {
                let x = b[0];
                *b = &b[1..];
                v |= u64::from(x & 0x7f) << (7 * i);
                if x < 0x80 {
                    break;
                }
            }
            v
        };
        let key = read();
        let len = read() as usize;
        let data = b[..len].to_vec();
        *b = &b[len..];
        (key >> 3, data)
    }
    let mut rest = body.strip_prefix(MAGIC).unwrap();
    let (mut api_version, mut raw) = (String::new(), Vec::new());
    while !rest.is_empty() {
        match field(&mut rest) {
            (1, type_meta) => {
                let mut t = &type_meta[..];
                while !t.is_empty() {
                    if let (1, av) = field(&mut t) {
                        api_version = String::from_utf8(av).unwrap();
                    }
                }
            }
            (2, r) => raw = r,
            _ => {}
        }
    }
    (api_version, raw)
}

/// Go's JSON writes `null` for nil slices and `[]` for empty ones where a field has no
/// omitempty; protobuf has neither. Both mean "none": dropped before comparing. List
/// items carry no type fields in protobuf.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, v| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()));
            m.values_mut().for_each(normalize);
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

#[test]
fn real_kube_apiserver_responses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/realkube-v1.37.2");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".pb.gz"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 30);
    let mut failures = Vec::new();
    for pb_path in &names {
        let name = pb_path.file_name().unwrap().to_string_lossy().trim_end_matches(".pb.gz").to_owned();
        let pb = gunzip(pb_path);
        let json: Value = serde_json::from_slice(&gunzip(&dir.join(format!("{name}.json.gz")))).unwrap();
        let (envelope_version, raw) = unwrap_envelope(&pb);
        let kind = json["kind"].as_str().unwrap().to_owned();

        // Decoding kube's protobuf gives kube's JSON.
        let mut decoded = decode_body(&pb).unwrap();
        let mut expected = json.clone();
        if let Some(items) = expected.get_mut("items").and_then(Value::as_array_mut) {
            for item in items.iter_mut().filter_map(Value::as_object_mut) {
                item.remove("kind");
                item.remove("apiVersion");
            }
        }
        // The core group's discovery documents travel with an empty envelope apiVersion.
        for v in [&mut decoded, &mut expected] {
            v.as_object_mut().unwrap().remove("apiVersion");
            normalize(v);
        }
        if decoded != expected {
            failures.push(format!("{name}: decoded {decoded} != {expected}"));
        }

        // Encoding kube's JSON gives kube's bytes.
        let json_version = json.get("apiVersion").and_then(Value::as_str).unwrap_or("v1");
        let key = message_key(json_version, &kind).unwrap();
        if encode_message(key, &json).unwrap() != raw {
            failures.push(format!("{name}: the encoded message differs from kube's"));
        }
        if envelope_version == json_version && encode_body(json_version, &kind, &json).unwrap() != pb {
            failures.push(format!("{name}: the enveloped body differs from kube's"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
