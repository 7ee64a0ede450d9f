//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded
//! into the JSON the registry works with.
//!
//! kubectl 1.33's typed commands (`kubectl create namespace`, `create deployment`, ...)
//! send protobuf and do not retry in JSON after a 415, so the server must read it. The
//! body is kube's envelope: the magic `k8s\0`, then a `runtime.Unknown` whose
//! `typeMeta` names apiVersion and kind and whose `raw` is the object's message. The
//! object is decoded by walking the wire format with the field tables in
//! [`generated`] (field number → JSON name and type, generated from k8s-pb and
//! k8s-openapi by `gen/gen_protobuf.py`); the types whose JSON is not their message
//! shape (Time, Quantity, IntOrString, RawExtension, ...) are special-cased. Responses
//! are never protobuf: clients that ask for it also accept JSON.

#[rustfmt::skip]
pub mod generated;

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::{Map, Value};

/// The protobuf envelope's magic prefix.
pub const MAGIC: &[u8] = b"k8s\0";

/// One message type: its key (`<module path>/<name>`, e.g. `api/core/v1/Pod`) and fields.
#[derive(Debug)]
pub struct MessageDef {
    /// Key, e.g. `api/apps/v1/Deployment`.
    pub key: &'static str,
    /// Fields, in declaration order.
    pub fields: &'static [FieldDef],
}

/// One field of a message.
#[derive(Debug)]
pub struct FieldDef {
    /// Field number.
    pub tag: u32,
    /// JSON name.
    pub json: &'static str,
    /// Value type.
    pub kind: Kind,
    /// Whether the field repeats (a JSON array).
    pub repeated: bool,
}

/// A field's value type.
#[derive(Debug)]
pub enum Kind {
    /// UTF-8 string.
    String,
    /// Bytes (base64 in JSON).
    Bytes,
    /// Boolean.
    Bool,
    /// 32-bit integer.
    Int32,
    /// 64-bit integer.
    Int64,
    /// Double.
    Double,
    /// A nested message, by key.
    Message(&'static str),
    /// `map<string, V>` (a JSON object).
    Map(&'static Kind),
}

/// Why a protobuf body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The envelope names a kind with no protobuf form here (e.g. a custom resource).
    #[error("no protobuf serialization for {0}")]
    UnknownKind(String),
    /// The bytes are not a valid message.
    #[error("invalid protobuf body: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> DecodeError {
    DecodeError::Invalid(msg.into())
}

fn messages() -> &'static HashMap<&'static str, &'static MessageDef> {
    static INDEX: OnceLock<HashMap<&'static str, &'static MessageDef>> = OnceLock::new();
    INDEX.get_or_init(|| generated::MESSAGES.iter().map(|m| (m.key, m)).collect())
}

/// Decode an enveloped protobuf body into the object's JSON (with apiVersion and kind).
pub fn decode_body(bytes: &[u8]) -> Result<Value, DecodeError> {
    let rest = bytes.strip_prefix(MAGIC).ok_or_else(|| invalid("missing k8s protobuf envelope"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    let mut r = Reader { buf: rest };
    while let Some((tag, value)) = r.field()? {
        match (tag, value) {
            (1, Wire::Len(type_meta)) => {
                let mut t = Reader { buf: type_meta };
                while let Some((tag, value)) = t.field()? {
                    match (tag, value) {
                        (1, Wire::Len(s)) => api_version = utf8(s)?,
                        (2, Wire::Len(s)) => kind = utf8(s)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(bytes)) => raw = bytes,
            (3, Wire::Len(enc)) if !enc.is_empty() => {
                return Err(invalid(format!("unsupported contentEncoding {:?}", String::from_utf8_lossy(enc))))
            }
            _ => {}
        }
    }
    let key = generated::KINDS
        .iter()
        .find(|(av, k, _)| *av == api_version && *k == kind)
        .or_else(|| generated::KINDS.iter().find(|(_, k, _)| *k == kind))
        .map(|(_, _, key)| *key)
        .ok_or_else(|| DecodeError::UnknownKind(format!("{api_version}, Kind={kind}")))?;
    let mut obj = decode_message(key, raw, 0)?;
    if let Value::Object(map) = &mut obj {
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(obj)
}

const MAX_DEPTH: usize = 64;

/// Decode one message of type `key` into JSON.
pub fn decode_message(key: &str, bytes: &[u8], depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(invalid("nesting too deep"));
    }
    if let Some(v) = special(key, bytes, depth)? {
        return Ok(v);
    }
    let def = messages().get(key).ok_or_else(|| invalid(format!("unknown message {key}")))?;
    let mut out = Map::new();
    let mut r = Reader { buf: bytes };
    while let Some((tag, wire)) = r.field()? {
        let Some(field) = def.fields.iter().find(|f| f.tag == tag) else {
            continue;
        };
        if let Kind::Map(value_kind) = &field.kind {
            let Wire::Len(entry) = wire else {
                return Err(invalid(format!("{key}.{}: bad map entry", field.json)));
            };
            let (k, v) = map_entry(value_kind, entry, depth)?;
            let slot = out.entry(field.json).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = slot {
                m.insert(k, v);
            }
            continue;
        }
        if field.repeated {
            let slot = out.entry(field.json).or_insert_with(|| Value::Array(Vec::new()));
            let Value::Array(items) = slot else { continue };
            match (&field.kind, wire) {
                (Kind::Int32 | Kind::Int64 | Kind::Bool, Wire::Len(packed)) => {
                    let mut p = Reader { buf: packed };
                    while !p.buf.is_empty() {
                        let v = p.varint()?;
                        items.push(scalar(&field.kind, Wire::Varint(v))?);
                    }
                }
                (kind, wire) => items.push(value(kind, wire, depth)?),
            }
        } else {
            let v = value(&field.kind, wire, depth)?;
            if !matches!(field.kind, Kind::Message(_)) && is_go_zero(field.json, &v) {
                out.remove(field.json);
            } else {
                out.insert(field.json.to_owned(), v);
            }
        }
    }
    Ok(Value::Object(out))
}

/// Fields whose zero value is meaningful (Go pointers: set to 0/false/"" on purpose).
const KEEP_ZERO: &[&str] = &[
    "activeDeadlineSeconds",
    "allowPrivilegeEscalation",
    "automountServiceAccountToken",
    "backoffLimit",
    "completions",
    "enableServiceLinks",
    "failedJobsHistoryLimit",
    "fsGroup",
    "holderIdentity",
    "hostUsers",
    "immutable",
    "leaseDurationSeconds",
    "leaseTransitions",
    "optional",
    "parallelism",
    "privileged",
    "progressDeadlineSeconds",
    "readOnlyRootFilesystem",
    "replicas",
    "revisionHistoryLimit",
    "runAsGroup",
    "runAsNonRoot",
    "runAsUser",
    "setHostnameAsFQDN",
    "shareProcessNamespace",
    "startingDeadlineSeconds",
    "storageClassName",
    "successfulJobsHistoryLimit",
    "suspend",
    "terminationGracePeriodSeconds",
    "ttlSecondsAfterFinished",
];

/// Go's protobuf encoder writes non-pointer fields even when zero, while its JSON
/// encoder omits them (`omitempty`); drop such zeros so the JSON matches what the client
/// would have sent as JSON. Known pointer fields keep an explicit zero.
fn is_go_zero(json: &str, v: &Value) -> bool {
    let zero = match v {
        Value::String(s) => s.is_empty(),
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_i64() == Some(0),
        _ => false,
    };
    zero && !KEEP_ZERO.contains(&json)
}

fn map_entry(value_kind: &Kind, entry: &[u8], depth: usize) -> Result<(String, Value), DecodeError> {
    let mut r = Reader { buf: entry };
    let (mut k, mut v) = (String::new(), None);
    while let Some((tag, wire)) = r.field()? {
        match (tag, wire) {
            (1, Wire::Len(s)) => k = utf8(s)?,
            (2, wire) => v = Some(value(value_kind, wire, depth)?),
            _ => {}
        }
    }
    let v = match v {
        Some(v) => v,
        None => match value_kind {
            Kind::String | Kind::Bytes => Value::String(String::new()),
            Kind::Message(key) => decode_message(key, &[], depth + 1)?,
            _ => Value::Null,
        },
    };
    Ok((k, v))
}

fn value(kind: &Kind, wire: Wire<'_>, depth: usize) -> Result<Value, DecodeError> {
    match (kind, wire) {
        (Kind::Message(key), Wire::Len(bytes)) => decode_message(key, bytes, depth + 1),
        (Kind::Message(key), _) => Err(invalid(format!("{key}: expected a length-delimited message"))),
        (kind, wire) => scalar(kind, wire),
    }
}

fn scalar(kind: &Kind, wire: Wire<'_>) -> Result<Value, DecodeError> {
    Ok(match (kind, wire) {
        (Kind::String, Wire::Len(s)) => Value::String(utf8(s)?),
        (Kind::Bytes, Wire::Len(b)) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        (Kind::Bool, Wire::Varint(v)) => Value::Bool(v != 0),
        (Kind::Int32, Wire::Varint(v)) => Value::from(v as i64 as i32),
        (Kind::Int64, Wire::Varint(v)) => Value::from(v as i64),
        (Kind::Double, Wire::Fixed64(v)) => {
            serde_json::Number::from_f64(f64::from_bits(v)).map_or(Value::Null, Value::Number)
        }
        (kind, _) => return Err(invalid(format!("wire type does not match field type {kind:?}"))),
    })
}

/// Types whose JSON form is not their message shape.
fn special(key: &str, bytes: &[u8], depth: usize) -> Result<Option<Value>, DecodeError> {
    let fields = || -> Result<Vec<(u32, Wire<'_>)>, DecodeError> {
        let mut r = Reader { buf: bytes };
        let mut out = Vec::new();
        while let Some(f) = r.field()? {
            out.push(f);
        }
        Ok(out)
    };
    let name = key.rsplit('/').next().unwrap_or("");
    Ok(Some(match key {
        "apimachinery/pkg/apis/meta/v1/Time" | "apimachinery/pkg/apis/meta/v1/MicroTime" => {
            let (mut secs, mut nanos, mut any) = (0i64, 0i32, false);
            for (tag, w) in fields()? {
                match (tag, w) {
                    (1, Wire::Varint(v)) => {
                        secs = v as i64;
                        any = true;
                    }
                    (2, Wire::Varint(v)) => {
                        nanos = v as i64 as i32;
                        any = true;
                    }
                    _ => {}
                }
            }
            if !any {
                return Ok(Some(Value::Null));
            }
            let ts = jiff::Timestamp::new(secs, if name == "MicroTime" { nanos } else { 0 })
                .map_err(|e| invalid(format!("bad time: {e}")))?;
            let text = if name == "MicroTime" {
                ts.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
            } else {
                ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
            };
            Value::String(text)
        }
        "apimachinery/pkg/apis/meta/v1/Duration" => {
            let mut nanos = 0i64;
            for (tag, w) in fields()? {
                if let (1, Wire::Varint(v)) = (tag, w) {
                    nanos = v as i64;
                }
            }
            Value::String(go_duration(nanos))
        }
        "apimachinery/pkg/api/resource/Quantity" | "apimachinery/pkg/api/resource/QuantityValue" => {
            let mut s = String::new();
            for (tag, w) in fields()? {
                if let (1, Wire::Len(b)) = (tag, w) {
                    s = utf8(b)?;
                }
            }
            Value::String(s)
        }
        "apimachinery/pkg/util/intstr/IntOrString" => {
            let (mut ty, mut int, mut s) = (0u64, 0i64, String::new());
            for (tag, w) in fields()? {
                match (tag, w) {
                    (1, Wire::Varint(v)) => ty = v,
                    (2, Wire::Varint(v)) => int = v as i64 as i32 as i64,
                    (3, Wire::Len(b)) => s = utf8(b)?,
                    _ => {}
                }
            }
            if ty == 1 {
                Value::String(s)
            } else {
                Value::from(int)
            }
        }
        "apimachinery/pkg/runtime/RawExtension" | "apimachinery/pkg/apis/meta/v1/FieldsV1" => raw_json(fields()?)?,
        _ if name == "Json" && key.starts_with("apiextensions_apiserver/") => raw_json(fields()?)?,
        _ if name == "ExtraValue" => {
            let mut items = Vec::new();
            for (tag, w) in fields()? {
                if let (1, Wire::Len(b)) = (tag, w) {
                    items.push(Value::String(utf8(b)?));
                }
            }
            Value::Array(items)
        }
        _ if key.starts_with("apiextensions_apiserver/") && name.starts_with("JsonSchemaPropsOr") => {
            let schema_key = key.replace(name, "JsonSchemaProps");
            let mut schema = None;
            let mut list = Vec::new();
            let mut allows = None;
            for (tag, w) in fields()? {
                match (name, tag, w) {
                    (_, 1, Wire::Len(b)) if name != "JsonSchemaPropsOrBool" => {
                        schema = Some(decode_message(&schema_key, b, depth + 1)?)
                    }
                    ("JsonSchemaPropsOrBool", 1, Wire::Varint(v)) => allows = Some(v != 0),
                    ("JsonSchemaPropsOrBool", 2, Wire::Len(b)) => {
                        schema = Some(decode_message(&schema_key, b, depth + 1)?)
                    }
                    ("JsonSchemaPropsOrArray", 2, Wire::Len(b)) => {
                        list.push(decode_message(&schema_key, b, depth + 1)?)
                    }
                    ("JsonSchemaPropsOrStringArray", 2, Wire::Len(b)) => list.push(Value::String(utf8(b)?)),
                    _ => {}
                }
            }
            match (schema, allows) {
                (Some(s), _) => s,
                (None, Some(a)) => Value::Bool(a),
                (None, None) => Value::Array(list),
            }
        }
        _ => return Ok(None),
    }))
}

fn raw_json(fields: Vec<(u32, Wire<'_>)>) -> Result<Value, DecodeError> {
    for (tag, w) in fields {
        if let (1, Wire::Len(b)) = (tag, w) {
            return serde_json::from_slice(b).map_err(|e| invalid(format!("embedded JSON: {e}")));
        }
    }
    Ok(Value::Null)
}

/// Go's `time.Duration.String()` for whole units (e.g. `1h2m3s`, `1.5s`, `0s`).
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let (h, m) = (n / 3_600_000_000_000, (n / 60_000_000_000) % 60);
    let s = (n % 60_000_000_000) as f64 / 1e9;
    let mut out = String::from(sign);
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{s}s"));
    out
}

fn utf8(b: &[u8]) -> Result<String, DecodeError> {
    String::from_utf8(b.to_vec()).map_err(|_| invalid("string field is not UTF-8"))
}

/// A field's raw value by wire type.
#[derive(Clone, Copy, Debug)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    /// A 32-bit field (no Kubernetes type uses one; skipped).
    Fixed32,
    Len(&'a [u8]),
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| invalid("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(invalid("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(invalid("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn field(&mut self) -> Result<Option<(u32, Wire<'a>)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| invalid("field number too large"))?;
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                Wire::Fixed64(u64::from_le_bytes(b.try_into().map_err(|_| invalid("fixed64"))?))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| invalid("length too large"))?;
                Wire::Len(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            other => return Err(invalid(format!("unsupported wire type {other}"))),
        };
        if tag == 0 {
            return Err(invalid("field number 0"));
        }
        Ok(Some((tag, wire)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A tiny encoder for building test messages.
    #[derive(Default)]
    struct Enc(Vec<u8>);
    impl Enc {
        fn varint(&mut self, mut v: u64) {
            loop {
                if v < 0x80 {
                    self.0.push(v as u8);
                    return;
                }
                self.0.push((v as u8 & 0x7f) | 0x80);
                v >>= 7;
            }
        }
        fn int(mut self, tag: u32, v: i64) -> Self {
            self.varint(u64::from(tag) << 3);
            self.varint(v as u64);
            self
        }
        fn bytes(mut self, tag: u32, b: &[u8]) -> Self {
            self.varint((u64::from(tag) << 3) | 2);
            self.varint(b.len() as u64);
            self.0.extend_from_slice(b);
            self
        }
        fn str(self, tag: u32, s: &str) -> Self {
            self.bytes(tag, s.as_bytes())
        }
        fn msg(self, tag: u32, m: Enc) -> Self {
            self.bytes(tag, &m.0)
        }
    }

    fn envelope(api_version: &str, kind: &str, raw: Enc) -> Vec<u8> {
        let unknown =
            Enc::default().msg(1, Enc::default().str(1, api_version).str(2, kind)).msg(2, raw).str(3, "").str(4, "");
        let mut out = MAGIC.to_vec();
        out.extend(unknown.0);
        out
    }

    #[test]
    fn namespace() {
        // ObjectMeta{name=1, labels=11 map, creationTimestamp=8 (zero Time: empty)}
        let meta =
            Enc::default().str(1, "foo").msg(8, Enc::default()).msg(11, Enc::default().str(1, "team").str(2, "a"));
        let ns = Enc::default().msg(1, meta).msg(2, Enc::default()).msg(3, Enc::default());
        let v = decode_body(&envelope("v1", "Namespace", ns)).unwrap();
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "foo", "creationTimestamp": null, "labels": {"team": "a"}},
                   "spec": {}, "status": {}})
        );
    }

    #[test]
    fn deployment_with_special_types() {
        let container = Enc::default()
            .str(1, "nginx")
            .str(2, "nginx:1")
            .msg(8, Enc::default().msg(1, Enc::default().str(1, "cpu").msg(2, Enc::default().str(1, "100m"))));
        let template = Enc::default()
            .msg(1, Enc::default().msg(11, Enc::default().str(1, "app").str(2, "web")))
            .msg(2, Enc::default().msg(2, container));
        let strategy = Enc::default().str(1, "RollingUpdate").msg(
            2,
            Enc::default().msg(1, Enc::default().int(1, 1).str(3, "25%")).msg(2, Enc::default().int(1, 0).int(2, 1)),
        );
        let spec = Enc::default()
            .int(1, 3)
            .msg(2, Enc::default().msg(1, Enc::default().str(1, "app").str(2, "web")))
            .msg(3, template)
            .msg(4, strategy);
        let meta = Enc::default().str(1, "web").msg(8, Enc::default().int(1, 1_700_000_000));
        let d = Enc::default().msg(1, meta).msg(2, spec);
        let v = decode_body(&envelope("apps/v1", "Deployment", d)).unwrap();
        assert_eq!(v["spec"]["replicas"], 3);
        assert_eq!(v["spec"]["selector"]["matchLabels"]["app"], "web");
        assert_eq!(v["metadata"]["creationTimestamp"], "2023-11-14T22:13:20Z");
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["name"], "nginx");
        assert_eq!(c["image"], "nginx:1");
        assert_eq!(c["resources"]["limits"]["cpu"], "100m");
        let ru = &v["spec"]["strategy"]["rollingUpdate"];
        assert_eq!(ru["maxUnavailable"], "25%");
        assert_eq!(ru["maxSurge"], 1);
    }

    #[test]
    fn errors_never_panic() {
        assert!(decode_body(b"").is_err());
        assert!(decode_body(b"k8s\0\xff\xff\xff").is_err());
        assert!(matches!(
            decode_body(&envelope("example.com/v1", "Widget", Enc::default())),
            Err(DecodeError::UnknownKind(_))
        ));
        let mut deep = Enc::default();
        for _ in 0..200 {
            deep = Enc::default().msg(1, deep);
        }
        let _ = decode_body(&envelope("v1", "Namespace", deep));
        // Random garbage after the magic.
        let mut x: u32 = 12345;
        for len in 0..200 {
            let mut b = MAGIC.to_vec();
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b.push((x >> 16) as u8);
            }
            let _ = decode_body(&b);
        }
    }

    #[test]
    fn go_zero_values_are_dropped_unless_meaningful() {
        // ObjectMeta with name, empty generateName (2), generation 0 (7); spec.replicas 0;
        // minReadySeconds 0 (5).
        let meta = Enc::default().str(1, "d").str(2, "").int(7, 0);
        let spec = Enc::default().int(1, 0).int(5, 0);
        let v = decode_body(&envelope("apps/v1", "Deployment", Enc::default().msg(1, meta).msg(2, spec))).unwrap();
        assert_eq!(v["metadata"], json!({"name": "d"}));
        assert_eq!(v["spec"], json!({"replicas": 0}));
        // A PodDisruptionBudget's minAvailable (IntOrString) of 0 is kept.
        let spec = Enc::default().msg(1, Enc::default().int(1, 0).int(2, 0));
        let v = decode_body(&envelope("policy/v1", "PodDisruptionBudget", Enc::default().msg(2, spec))).unwrap();
        assert_eq!(v["spec"]["minAvailable"], 0);
    }

    #[test]
    fn lease_pointer_zeros_are_kept() {
        // client-go's leader election writes a Lease in protobuf with leaseTransitions 0
        // on acquiring and holderIdentity "" on releasing (both *T in Go): kept, as JSON
        // would have sent them.
        let spec = Enc::default().str(1, "").int(2, 1).int(5, 0);
        let v = decode_body(&envelope("coordination.k8s.io/v1", "Lease", Enc::default().msg(2, spec))).unwrap();
        assert_eq!(v["spec"], json!({"holderIdentity": "", "leaseDurationSeconds": 1, "leaseTransitions": 0}));
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
    }
}
