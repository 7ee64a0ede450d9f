//! The decoder on hostile input: random bytes, truncations and bit flips of real
//! messages never panic, and what it builds stays proportional to its input (it never
//! trusts a declared length beyond the bytes present, and nesting is capped).
//!
//! A deterministic pseudo-random generator drives it (no fuzzing framework needed in the
//! workspace); `fuzz/` holds a cargo-fuzz target for longer runs.

use ferrokube_apimachinery::protobuf::{decode_body, decode_message, encode_body, generated, MAGIC};
use serde_json::{json, Value};

/// xorshift64*: reproducible noise.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Size of a decoded value, counted in JSON nodes and string bytes.
fn weight(v: &Value) -> usize {
    match v {
        Value::String(s) => 1 + s.len(),
        Value::Array(a) => 1 + a.iter().map(weight).sum::<usize>(),
        Value::Object(m) => 1 + m.iter().map(|(k, v)| k.len() + weight(v)).sum::<usize>(),
        _ => 1,
    }
}

fn check(bytes: &[u8]) {
    if let Ok(v) = decode_body(bytes) {
        // Every field costs at least two input bytes; an empty nested message (two bytes)
        // may become an object with its own key, and base64 grows bytes by 4/3.
        assert!(weight(&v) <= 64 * bytes.len() + 256, "{} bytes decoded to weight {}", bytes.len(), weight(&v));
    }
}

fn samples() -> Vec<Vec<u8>> {
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "labels": {"a": "b"}, "creationTimestamp": "2024-01-01T00:00:00Z",
                     "managedFields": [{"manager": "m", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
        "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                                 "resources": {"limits": {"cpu": "1"}},
                                 "livenessProbe": {"httpGet": {"port": "http", "path": "/"}}}],
                 "volumes": [{"name": "v", "secret": {"secretName": "s", "defaultMode": 420}}]},
        "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.1"}]}});
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "a.b"},
        "spec": {"group": "b", "names": {"plural": "a", "kind": "A"}, "scope": "Namespaced",
                 "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema":
                     {"type": "object", "properties": {"x": {"type": "array", "items": {"type": "string"}}},
                      "additionalProperties": false, "default": {"x": []}}}}]}});
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "AAEC"}});
    vec![
        encode_body("v1", "Pod", &pod).unwrap(),
        encode_body("apiextensions.k8s.io/v1", "CustomResourceDefinition", &crd).unwrap(),
        encode_body("v1", "Secret", &secret).unwrap(),
    ]
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..20_000 {
        let len = rng.below(200);
        let mut b: Vec<u8> = if round % 2 == 0 { MAGIC.to_vec() } else { Vec::new() };
        b.extend((0..len).map(|_| rng.next() as u8));
        check(&b);
    }
}

#[test]
fn random_bytes_as_every_message_never_panic() {
    let mut rng = Rng(42);
    for def in generated::MESSAGES {
        for _ in 0..20 {
            let len = rng.below(64);
            let b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = decode_message(def.key, &b, 0);
        }
    }
}

#[test]
fn truncations_and_bit_flips_of_real_messages_never_panic() {
    let mut rng = Rng(7);
    for sample in samples() {
        assert!(decode_body(&sample).is_ok());
        for cut in 0..sample.len() {
            check(&sample[..cut]);
        }
        for _ in 0..5_000 {
            let mut m = sample.clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
            check(&m);
            // An inserted or removed byte shifts every later field.
            let i = rng.below(m.len());
            if rng.below(2) == 0 {
                m.insert(i, rng.next() as u8);
            } else {
                m.remove(i);
            }
            check(&m);
        }
    }
}

#[test]
fn declared_lengths_beyond_the_input_are_errors() {
    // A string field claiming 2^40 bytes: refused, nothing allocated for it.
    let mut b = MAGIC.to_vec();
    b.extend([0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
    assert!(decode_body(&b).is_err());
    // Schemas nested through `not` (field 28): 40 levels decode, 10,000 are refused by
    // the depth cap without exhausting the stack.
    let key = "apiextensions_apiserver/pkg/apis/apiextensions/v1/JSONSchemaProps";
    assert!(decode_message(key, &nested(40), 0).is_ok());
    assert!(decode_message(key, &nested(10_000), 0).is_err());
}

fn nested(levels: usize) -> Vec<u8> {
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..levels {
        let mut outer = vec![0xe2, 0x01];
        let mut n = inner.len();
        while n >= 0x80 {
            outer.push((n as u8) | 0x80);
            n >>= 7;
        }
        outer.push(n as u8);
        outer.extend_from_slice(&inner);
        inner = outer;
    }
    inner
}
