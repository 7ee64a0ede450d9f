//! The encoder: an object's JSON (a `serde_json::Value`, as a registry holds it) to its
//! Kubernetes protobuf message and enveloped body — the inverse of
//! [`decode_body`](super::decode_body).
//!
//! It walks the same generated field tables as the decoder. Fields are written in
//! ascending field-number order and map entries sorted by key, as Go's generated
//! marshallers write them; a value-type field (not a pointer, slice or map in Go:
//! [`generated::ALWAYS_WRITTEN`]) that the JSON leaves out or sets to null is written as
//! its zero, as Go writes it (`""`, `0`, `false`, an empty time, a zero struct), so the
//! bytes are kube-apiserver's for the same object: all 193 fixtures of Kubernetes' own
//! round-trip test data (`tests/fixtures.rs`) and all 30 responses captured from a real
//! kube-apiserver v1.37.2 (`tests/realkube_responses.rs`) encode to kube's exact bytes.
//! `Time` and `MicroTime` carry both `seconds` and `nanos`, as Go writes them.
//!
//! The types whose JSON is not their message shape are special-cased as in the decoder:
//! `Time`/`MicroTime` (RFC 3339 text → seconds and nanos), `Duration` (Go duration text
//! → nanoseconds), `Quantity` (text), `IntOrString`, `RawExtension`/`FieldsV1`/
//! apiextensions `JSON` (embedded JSON bytes), `ExtraValue` (a string list) and the
//! apiextensions `JSONSchemaPropsOr*` unions. JSON keys with no field in the table (such
//! as a top-level object's `apiVersion` and `kind`, which travel in the envelope) are
//! skipped; a value of the wrong JSON type is an [`EncodeError`] naming the message and
//! the field.

use std::collections::HashMap;
use std::sync::OnceLock;

use base64::Engine as _;
use serde_json::Value;

use super::wire::{put_bytes, put_fixed64, put_nested, put_varint_field};
use super::{generated, FieldDef, Kind, MAGIC, MAX_DEPTH};

/// Why an object could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// No protobuf message exists for this apiVersion and kind (e.g. a custom resource).
    #[error("no protobuf serialization for {0}")]
    UnknownKind(String),
    /// A field's JSON value does not fit its protobuf type.
    #[error("cannot encode {message} field {field:?}: {reason}")]
    Field {
        /// The message key, e.g. `api/core/v1/PodSpec`.
        message: String,
        /// The field's JSON name.
        field: String,
        /// What was wrong.
        reason: String,
    },
    /// The object nests deeper than the decoder would accept.
    #[error("cannot encode {0}: nesting too deep")]
    TooDeep(String),
}

fn field_error(message: &str, field: &str, reason: impl Into<String>) -> EncodeError {
    EncodeError::Field { message: message.to_owned(), field: field.to_owned(), reason: reason.into() }
}

/// What the encoder needs of one message, indexed once.
struct MessageInfo {
    /// Fields in ascending field-number order (the order Go writes them).
    sorted: Vec<&'static FieldDef>,
    /// Fields by JSON name.
    by_json: HashMap<&'static str, &'static FieldDef, Fnv>,
    /// Embedded structs inlined into this message's JSON.
    inline: Vec<&'static FieldDef>,
    /// Fields Go writes even when zero (value types), other than inlined ones.
    always: Vec<&'static FieldDef>,
    /// Set for the types whose JSON is not their message shape.
    special: Option<Special>,
}

/// FNV-1a: the index's keys are short, trusted strings (message keys, JSON names).
#[derive(Clone, Copy, Default)]
struct Fnv;

struct FnvHasher(u64);

impl std::hash::BuildHasher for Fnv {
    type Hasher = FnvHasher;
    fn build_hasher(&self) -> FnvHasher {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn info(key: &str) -> Option<&'static MessageInfo> {
    static INDEX: OnceLock<HashMap<&'static str, MessageInfo, Fnv>> = OnceLock::new();
    INDEX
        .get_or_init(|| {
            generated::MESSAGES
                .iter()
                .map(|m| {
                    let mut sorted: Vec<&FieldDef> = m.fields.iter().collect();
                    sorted.sort_by_key(|f| f.tag);
                    let inline = sorted
                        .iter()
                        .copied()
                        .filter(|f| matches!(f.kind, Kind::Message(_)) && super::is_inline(m.key, f.tag))
                        .collect();
                    let always = sorted
                        .iter()
                        .copied()
                        .filter(|f| {
                            generated::ALWAYS_WRITTEN.binary_search(&(m.key, f.tag)).is_ok()
                                && !super::is_inline(m.key, f.tag)
                        })
                        .collect();
                    let by_json = sorted.iter().map(|f| (f.json, *f)).collect();
                    (m.key, MessageInfo { sorted, by_json, inline, always, special: Special::of(m.key) })
                })
                .collect()
        })
        .get(key)
}

/// Each message's fields in ascending field-number order (the order Go writes them).
fn sorted_fields(key: &str) -> Option<&'static [&'static FieldDef]> {
    info(key).map(|i| i.sorted.as_slice())
}

/// The message key of a top-level `apiVersion`/`kind`, lists (`<Kind>List`) included;
/// `None` for kinds with no protobuf form here (custom resources, for one).
pub fn message_key(api_version: &str, kind: &str) -> Option<&'static str> {
    let direct = |av: &str, k: &str| generated::KINDS.iter().find(|(a, kk, _)| *a == av && *kk == k).map(|e| e.2);
    let lookup = |av: &str| {
        direct(av, kind).or_else(|| {
            let item = kind.strip_suffix("List")?;
            let item_key = direct(av, item)?;
            let list_key = format!("{item_key}List");
            super::messages().get(list_key.as_str()).map(|m| m.key)
        })
    };
    lookup(api_version).or_else(|| {
        // meta.k8s.io/v1 kinds (Status, PartialObjectMetadata[List], ...): the meta messages.
        (api_version == "meta.k8s.io/v1").then_some(())?;
        lookup("v1").or_else(|| {
            let key = format!("apimachinery/pkg/apis/meta/v1/{kind}");
            super::messages().get(key.as_str()).map(|m| m.key)
        })
    })
}

/// The `k8s\0` + `runtime.Unknown` envelope around an encoded message, as Go writes it:
/// `typeMeta` {apiVersion, kind}, `raw`, and empty `contentEncoding` and `contentType`.
pub fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut type_meta = Vec::with_capacity(api_version.len() + kind.len() + 4);
    put_bytes(&mut type_meta, 1, api_version.as_bytes());
    put_bytes(&mut type_meta, 2, kind.as_bytes());
    let mut out = Vec::with_capacity(MAGIC.len() + type_meta.len() + raw.len() + 16);
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, 1, &type_meta);
    put_bytes(&mut out, 2, raw);
    put_bytes(&mut out, 3, b"");
    put_bytes(&mut out, 4, b"");
    out
}

/// Encode an object's JSON as the enveloped protobuf body of `apiVersion`/`kind`
/// (what kube-apiserver sends for `application/vnd.kubernetes.protobuf`).
pub fn encode_body(api_version: &str, kind: &str, object: &Value) -> Result<Vec<u8>, EncodeError> {
    let key = message_key(api_version, kind)
        .ok_or_else(|| EncodeError::UnknownKind(format!("{api_version}, Kind={kind}")))?;
    let raw = encode_message(key, object)?;
    Ok(envelope(api_version, kind, &raw))
}

/// Encode a list (`<Kind>List`) from its `metadata` and items without assembling the
/// list's JSON first.
pub fn encode_list_body<'a>(
    api_version: &str,
    list_kind: &str,
    metadata: &Value,
    items: impl IntoIterator<Item = &'a Value>,
) -> Result<Vec<u8>, EncodeError> {
    let (key, meta, item_field) = list_fields(api_version, list_kind)?;
    let Kind::Message(item_key) = item_field.kind else {
        return Err(EncodeError::UnknownKind(format!("{api_version}, Kind={list_kind} (not a list)")));
    };
    let mut raw = Vec::new();
    write_field(&mut raw, key, meta, metadata, 0)?;
    for item in items {
        put_nested(&mut raw, item_field.tag, |out| message_into(out, item_key, item, 1))?;
    }
    Ok(envelope(api_version, list_kind, &raw))
}

/// Encode a list (`<Kind>List`) from its `metadata` and its items' already encoded
/// messages (as [`encode_message`] gives them; a server keeps them per object version).
pub fn encode_list_body_of_messages<I>(
    api_version: &str,
    list_kind: &str,
    metadata: &Value,
    items: I,
) -> Result<Vec<u8>, EncodeError>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
{
    let (key, meta, item_field) = list_fields(api_version, list_kind)?;
    let mut raw = Vec::new();
    write_field(&mut raw, key, meta, metadata, 0)?;
    for item in items {
        put_bytes(&mut raw, item_field.tag, item.as_ref());
    }
    Ok(envelope(api_version, list_kind, &raw))
}

/// A list kind's message key and its `metadata` and `items` fields.
fn list_fields(
    api_version: &str,
    list_kind: &str,
) -> Result<(&'static str, &'static FieldDef, &'static FieldDef), EncodeError> {
    let not_a_list = || EncodeError::UnknownKind(format!("{api_version}, Kind={list_kind}"));
    let key = message_key(api_version, list_kind).ok_or_else(not_a_list)?;
    let fields = sorted_fields(key).ok_or_else(not_a_list)?;
    let meta = fields.iter().find(|f| f.json == "metadata").ok_or_else(not_a_list)?;
    let items = fields.iter().find(|f| f.json == "items" && f.repeated).ok_or_else(not_a_list)?;
    Ok((key, meta, items))
}

/// Encode one message of type `key` (e.g. `api/core/v1/Pod`) from its JSON, without
/// the envelope.
pub fn encode_message(key: &str, value: &Value) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    message_into(&mut out, key, value, 0)?;
    Ok(out)
}

fn message_into(out: &mut Vec<u8>, key: &str, value: &Value, depth: usize) -> Result<(), EncodeError> {
    if depth > MAX_DEPTH {
        return Err(EncodeError::TooDeep(key.to_owned()));
    }
    let info = info(key).ok_or_else(|| EncodeError::UnknownKind(key.to_owned()))?;
    if let Some(special) = info.special {
        return special.encode(out, key, value, depth);
    }
    let map = match value {
        Value::Object(map) => map,
        Value::Null => return Ok(()),
        other => return Err(field_error(key, "", format!("expected a JSON object, got {}", type_name(other)))),
    };
    // The fields the object has (objects set few of a message's fields), the inlined
    // structs, and the value-type fields Go writes even when zero, in field-number order.
    let mut present: Vec<(&FieldDef, Slot<'_>)> = Vec::with_capacity(map.len() + info.inline.len() + info.always.len());
    present.extend(
        map.iter()
            .filter(|(_, v)| !v.is_null())
            .filter_map(|(k, v)| info.by_json.get(k.as_str()).map(|f| (*f, Slot::Value(v)))),
    );
    present.extend(info.inline.iter().map(|f| (*f, Slot::Inline)));
    present.extend(info.always.iter().filter(|f| map.get(f.json).is_none_or(Value::is_null)).map(|f| (*f, Slot::Zero)));
    present.sort_unstable_by_key(|(f, _)| f.tag);
    for (field, slot) in present {
        match (slot, &field.kind) {
            (Slot::Value(v), _) => write_field(out, key, field, v, depth)?,
            // An embedded Go struct: encoded from the parent's own JSON object.
            (Slot::Inline, Kind::Message(inner)) => {
                put_nested(out, field.tag, |out| message_into(out, inner, value, depth + 1))?
            }
            (Slot::Zero, kind) => write_zero(out, field.tag, kind, depth)?,
            (Slot::Inline, _) => {}
        }
    }
    Ok(())
}

/// Where a field's value comes from.
#[derive(Clone, Copy)]
enum Slot<'a> {
    /// The object's JSON value.
    Value(&'a Value),
    /// The parent's own object (an inlined embedded struct).
    Inline,
    /// Absent or null in JSON, but a value type Go writes anyway: its zero.
    Zero,
}

/// The zero of a value-type field, as Go writes it: `""`, `0`, `false`, or the zero
/// struct (itself with its value-type fields zero).
pub(crate) fn write_zero(out: &mut Vec<u8>, tag: u32, kind: &Kind, depth: usize) -> Result<(), EncodeError> {
    match kind {
        Kind::String => put_bytes(out, tag, b""),
        Kind::Int32 | Kind::Int64 | Kind::Bool => put_varint_field(out, tag, 0),
        Kind::Double => put_fixed64(out, tag, 0),
        Kind::Bytes | Kind::Map(_) => {}
        Kind::Message(inner) => {
            if depth > MAX_DEPTH {
                return Err(EncodeError::TooDeep((*inner).to_owned()));
            }
            put_nested(out, tag, |out| match info(inner).and_then(|i| i.special) {
                Some(special) => {
                    special.zero(out);
                    Ok(())
                }
                None => message_into(out, inner, &Value::Object(serde_json::Map::new()), depth + 1),
            })?
        }
    }
    Ok(())
}

fn write_field(out: &mut Vec<u8>, key: &str, field: &FieldDef, v: &Value, depth: usize) -> Result<(), EncodeError> {
    if v.is_null() {
        return Ok(());
    }
    if let Kind::Map(value_kind) = &field.kind {
        let Value::Object(entries) = v else {
            return Err(field_error(key, field.json, format!("expected a JSON object, got {}", type_name(v))));
        };
        let mut sorted: Vec<(&String, &Value)> = entries.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (k, val) in sorted {
            put_nested(out, field.tag, |entry| {
                put_bytes(entry, 1, k.as_bytes());
                match (value_kind, val) {
                    (Kind::String | Kind::Bytes, Value::Null) => put_bytes(entry, 2, b""),
                    (Kind::Message(mkey), _) => put_nested(entry, 2, |m| message_into(m, mkey, val, depth + 1))?,
                    (kind, val) => write_scalar(entry, key, field.json, 2, kind, val)?,
                }
                Ok(())
            })?;
        }
        return Ok(());
    }
    if field.repeated {
        let Value::Array(items) = v else {
            return Err(field_error(key, field.json, format!("expected a JSON array, got {}", type_name(v))));
        };
        for item in items {
            write_one(out, key, field, &field.kind, item, depth)?;
        }
        return Ok(());
    }
    write_one(out, key, field, &field.kind, v, depth)
}

fn write_one(
    out: &mut Vec<u8>,
    key: &str,
    field: &FieldDef,
    kind: &Kind,
    v: &Value,
    depth: usize,
) -> Result<(), EncodeError> {
    match kind {
        Kind::Message(mkey) => put_nested(out, field.tag, |out| message_into(out, mkey, v, depth + 1)),
        kind => write_scalar(out, key, field.json, field.tag, kind, v),
    }
}

fn write_scalar(out: &mut Vec<u8>, key: &str, json: &str, tag: u32, kind: &Kind, v: &Value) -> Result<(), EncodeError> {
    let wrong = || field_error(key, json, format!("expected {}, got {}", kind_name(kind), type_name(v)));
    match kind {
        Kind::String => put_bytes(out, tag, v.as_str().ok_or_else(wrong)?.as_bytes()),
        Kind::Bytes => {
            let text = v.as_str().ok_or_else(wrong)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| field_error(key, json, format!("invalid base64: {e}")))?;
            put_bytes(out, tag, &bytes);
        }
        Kind::Bool => put_varint_field(out, tag, u64::from(v.as_bool().ok_or_else(wrong)?)),
        Kind::Int32 => {
            let n = integer(v).ok_or_else(wrong)?;
            let n = i32::try_from(n).map_err(|_| field_error(key, json, format!("{n} is out of range for int32")))?;
            put_varint_field(out, tag, i64::from(n) as u64);
        }
        Kind::Int64 => put_varint_field(out, tag, integer(v).ok_or_else(wrong)? as u64),
        Kind::Double => put_fixed64(out, tag, v.as_f64().ok_or_else(wrong)?.to_bits()),
        Kind::Message(_) | Kind::Map(_) => return Err(wrong()),
    }
    Ok(())
}

/// A JSON number as an integer (integral floats such as `3.0` included).
fn integer(v: &Value) -> Option<i64> {
    let n = v.as_number()?;
    n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::String => "a string",
        Kind::Bytes => "a base64 string",
        Kind::Bool => "a boolean",
        Kind::Int32 | Kind::Int64 => "an integer",
        Kind::Double => "a number",
        Kind::Message(_) => "an object",
        Kind::Map(_) => "an object",
    }
}

/// The message types whose JSON is not their message shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Special {
    Time,
    MicroTime,
    Duration,
    Quantity,
    IntOrString,
    RawJson,
    StringList,
    SchemaOrBool,
    SchemaOrArray,
    SchemaOrStringArray,
}

impl Special {
    fn of(key: &str) -> Option<Special> {
        let name = key.rsplit('/').next().unwrap_or("");
        let apiext = key.starts_with("apiextensions_apiserver/");
        Some(match key {
            "apimachinery/pkg/apis/meta/v1/Time" => Special::Time,
            "apimachinery/pkg/apis/meta/v1/MicroTime" => Special::MicroTime,
            "apimachinery/pkg/apis/meta/v1/Duration" => Special::Duration,
            "apimachinery/pkg/api/resource/Quantity" | "apimachinery/pkg/api/resource/QuantityValue" => {
                Special::Quantity
            }
            "apimachinery/pkg/util/intstr/IntOrString" => Special::IntOrString,
            "apimachinery/pkg/runtime/RawExtension" | "apimachinery/pkg/apis/meta/v1/FieldsV1" => Special::RawJson,
            _ if apiext && name.eq_ignore_ascii_case("json") => Special::RawJson,
            _ if generated::STRING_LISTS.binary_search(&key).is_ok() => Special::StringList,
            _ if apiext && name.eq_ignore_ascii_case("JSONSchemaPropsOrBool") => Special::SchemaOrBool,
            _ if apiext && name.eq_ignore_ascii_case("JSONSchemaPropsOrArray") => Special::SchemaOrArray,
            _ if apiext && name.eq_ignore_ascii_case("JSONSchemaPropsOrStringArray") => Special::SchemaOrStringArray,
            _ => return None,
        })
    }

    fn encode(self, out: &mut Vec<u8>, key: &str, v: &Value, depth: usize) -> Result<(), EncodeError> {
        let bad = |what: &str| field_error(key, "", format!("expected {what}, got {}", type_name(v)));
        match self {
            Special::Time | Special::MicroTime => {
                let Some(text) = v.as_str() else {
                    return if v.is_null() { Ok(()) } else { Err(bad("an RFC 3339 time")) };
                };
                let ts: jiff::Timestamp =
                    text.parse().map_err(|e| field_error(key, "", format!("invalid time {text:?}: {e}")))?;
                let (secs, nanos) = (ts.as_second(), ts.subsec_nanosecond());
                // Go's Timestamp writes both fields, zeros included.
                put_varint_field(out, 1, secs as u64);
                put_varint_field(out, 2, i64::from(nanos) as u64);
            }
            Special::Duration => {
                let text = v.as_str().ok_or_else(|| bad("a duration"))?;
                let nanos = parse_go_duration(text)
                    .ok_or_else(|| field_error(key, "", format!("invalid duration {text:?}")))?;
                put_varint_field(out, 1, nanos as u64);
            }
            Special::Quantity => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err(bad("a quantity")),
                };
                put_bytes(out, 1, text.as_bytes());
            }
            Special::IntOrString => {
                let (ty, int, text) = match v {
                    Value::String(s) => (1u64, 0i64, s.as_str()),
                    Value::Number(_) => {
                        let n = integer(v).ok_or_else(|| bad("an integer or a string"))?;
                        let n = i32::try_from(n)
                            .map_err(|_| field_error(key, "", format!("{n} is out of range for int32")))?;
                        (0, i64::from(n), "")
                    }
                    _ => return Err(bad("an integer or a string")),
                };
                put_varint_field(out, 1, ty);
                put_varint_field(out, 2, int as u64);
                put_bytes(out, 3, text.as_bytes());
            }
            Special::RawJson => {
                let bytes = serde_json::to_vec(v).map_err(|e| field_error(key, "", e.to_string()))?;
                put_bytes(out, 1, &bytes);
            }
            Special::StringList => {
                let Value::Array(items) = v else { return Err(bad("an array of strings")) };
                for item in items {
                    put_bytes(out, 1, item.as_str().ok_or_else(|| bad("an array of strings"))?.as_bytes());
                }
            }
            Special::SchemaOrBool | Special::SchemaOrArray | Special::SchemaOrStringArray => {
                let schema_key = &key[..key.len() - self.suffix_len()];
                let schema = |out: &mut Vec<u8>, tag: u32, s: &Value| -> Result<(), EncodeError> {
                    put_nested(out, tag, |out| message_into(out, schema_key, s, depth + 1))
                };
                match (self, v) {
                    (Special::SchemaOrBool, Value::Bool(b)) => put_varint_field(out, 1, u64::from(*b)),
                    (Special::SchemaOrBool, Value::Object(_)) => {
                        put_varint_field(out, 1, 1);
                        schema(out, 2, v)?;
                    }
                    (Special::SchemaOrArray | Special::SchemaOrStringArray, Value::Object(_)) => schema(out, 1, v)?,
                    (Special::SchemaOrArray, Value::Array(items)) => {
                        for item in items {
                            schema(out, 2, item)?;
                        }
                    }
                    (Special::SchemaOrStringArray, Value::Array(items)) => {
                        for item in items {
                            let s = item.as_str().ok_or_else(|| bad("a schema or an array of strings"))?;
                            put_bytes(out, 2, s.as_bytes());
                        }
                    }
                    _ => return Err(bad("a schema, a boolean or an array")),
                }
            }
        }
        Ok(())
    }

    /// The zero value as Go writes it (a value-type field absent from the JSON).
    fn zero(self, out: &mut Vec<u8>) {
        match self {
            // A zero Time writes nothing; a zero Quantity is "0".
            Special::Time | Special::MicroTime | Special::RawJson | Special::StringList => {}
            Special::Quantity => put_bytes(out, 1, b"0"),
            Special::Duration => put_varint_field(out, 1, 0),
            Special::IntOrString => {
                put_varint_field(out, 1, 0);
                put_varint_field(out, 2, 0);
                put_bytes(out, 3, b"");
            }
            Special::SchemaOrBool => put_varint_field(out, 1, 0),
            Special::SchemaOrArray | Special::SchemaOrStringArray => {}
        }
    }

    /// Length of the `OrBool`/`OrArray`/`OrStringArray` suffix of a union's name.
    fn suffix_len(self) -> usize {
        match self {
            Special::SchemaOrBool => "OrBool".len(),
            Special::SchemaOrArray => "OrArray".len(),
            Special::SchemaOrStringArray => "OrStringArray".len(),
            _ => 0,
        }
    }
}

/// Parse Go's `time.Duration` text (`1h2m3.5s`, `300ms`, `-1.5h`, `0`) into nanoseconds.
pub(crate) fn parse_go_duration(text: &str) -> Option<i64> {
    let (neg, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return None;
        }
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        let whole: i128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
        let mut part = whole.checked_mul(scale)?;
        let mut div: i128 = 1;
        for c in frac.chars().take(18) {
            div *= 10;
            part += i128::from(c.to_digit(10)?) * scale / div;
        }
        total = total.checked_add(part)?;
        if total > i128::from(i64::MAX) + 1 {
            return None;
        }
        rest = tail;
    }
    let total = if neg { -total } else { total };
    i64::try_from(total).ok()
}

#[cfg(test)]
mod tests {
    use super::super::decode_body;
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_a_deployment() {
        let d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"b": "2", "a": "1"},
                         "creationTimestamp": "2023-11-14T22:13:20Z", "generation": 3},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx",
                                           "resources": {"limits": {"cpu": "100m"}},
                                           "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
                                           "terminationGracePeriodSeconds": 30}}},
            "status": {"replicas": 2, "conditions": [{"type": "Available", "status": "True",
                        "lastUpdateTime": "2024-01-01T00:00:00Z"}]}
        });
        let body = encode_body("apps/v1", "Deployment", &d).unwrap();
        assert!(body.starts_with(MAGIC));
        // The condition's lastTransitionTime is a Go value type: written as a zero time
        // and decoded as null (what Go's JSON writes for it too).
        let mut back = decode_body(&body).unwrap();
        assert_eq!(back["status"]["conditions"][0]["lastTransitionTime"], Value::Null);
        back["status"]["conditions"][0].as_object_mut().unwrap().remove("lastTransitionTime");
        assert_eq!(back, d);
    }

    #[test]
    fn zeros_json_writes_survive_a_round_trip() {
        // ContainerStatus.ready, restartCount and imageID have no omitempty: JSON writes
        // their zeros, so the decoder keeps them; started is a pointer; an empty
        // containerID (non-pointer, omitempty), which Go's protobuf writes, is dropped;
        // state and lastState are value-type structs, written by Go (`{}` in its JSON).
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "status": {"containerStatuses": [
            {"name": "c", "ready": false, "restartCount": 0, "started": false, "image": "i", "imageID": "",
             "containerID": ""}]}});
        let back = decode_body(&encode_body("v1", "Pod", &pod).unwrap()).unwrap();
        assert_eq!(
            back["status"]["containerStatuses"][0],
            json!({"name": "c", "ready": false, "restartCount": 0, "started": false, "image": "i", "imageID": "",
                   "state": {}, "lastState": {}})
        );
    }

    #[test]
    fn fields_ascend_and_maps_sort() {
        // ObjectMeta: name (1) before labels (11) whatever the JSON order; labels sorted.
        let raw = encode_message(
            "apimachinery/pkg/apis/meta/v1/ObjectMeta",
            &json!({"labels": {"z": "1", "a": "2"}, "name": "n"}),
        )
        .unwrap();
        assert_eq!(raw[0], 0x0a);
        let a = raw.iter().position(|&b| b == b'a').unwrap();
        let z = raw.iter().position(|&b| b == b'z').unwrap();
        assert!(a < z);
    }

    #[test]
    fn errors_name_type_and_field() {
        let err = encode_body("v1", "Pod", &json!({"spec": {"containers": [{"name": 5}]}})).unwrap_err();
        assert_eq!(
            err,
            EncodeError::Field {
                message: "api/core/v1/Container".into(),
                field: "name".into(),
                reason: "expected a string, got a number".into()
            }
        );
        assert!(err.to_string().contains("api/core/v1/Container"));
        let err = encode_body("v1", "Pod", &json!({"spec": {"priority": 1u64 << 40}})).unwrap_err();
        assert!(matches!(err, EncodeError::Field { ref field, .. } if field == "priority"));
        assert!(matches!(encode_body("example.com/v1", "Widget", &json!({})), Err(EncodeError::UnknownKind(_))));
        let err = encode_body("v1", "Secret", &json!({"data": {"k": "!!"}})).unwrap_err();
        assert!(err.to_string().contains("base64"));
    }

    #[test]
    fn lists_and_status() {
        let items = [json!({"metadata": {"name": "a"}}), json!({"metadata": {"name": "b"}})];
        let body = encode_list_body("v1", "ConfigMapList", &json!({"resourceVersion": "7"}), items.iter()).unwrap();
        let key = message_key("v1", "ConfigMapList").unwrap();
        assert_eq!(key, "api/core/v1/ConfigMapList");
        let raw = &body[body.len() - 4..];
        assert_eq!(raw, [0x1a, 0, 0x22, 0]);
        let status = json!({"status": "Failure", "message": "nope", "reason": "NotFound", "code": 404,
                            "details": {"name": "x", "kind": "pods"}, "metadata": {}});
        let body = encode_body("v1", "Status", &status).unwrap();
        let mut back = decode_body(&body).unwrap();
        back.as_object_mut().unwrap().retain(|k, _| k != "apiVersion" && k != "kind");
        assert_eq!(back, status);
        assert_eq!(message_key("meta.k8s.io/v1", "Status"), Some("apimachinery/pkg/apis/meta/v1/Status"));
        assert_eq!(
            message_key("meta.k8s.io/v1", "PartialObjectMetadataList"),
            Some("apimachinery/pkg/apis/meta/v1/PartialObjectMetadataList")
        );
    }

    #[test]
    fn special_types() {
        for (text, nanos) in
            [("0s", 0), ("1h2m3.5s", 3_723_500_000_000), ("300ms", 300_000_000), ("-1.5h", -5_400_000_000_000)]
        {
            assert_eq!(parse_go_duration(text), Some(nanos), "{text}");
        }
        assert_eq!(parse_go_duration("5x"), None);
        assert_eq!(parse_go_duration(""), None);
        assert_eq!(parse_go_duration("99999999999h"), None);
        let t =
            encode_message("apimachinery/pkg/apis/meta/v1/MicroTime", &json!("2024-01-01T00:00:00.123456Z")).unwrap();
        assert_eq!(t[0], 0x08);
        assert_eq!(t[t.len() - 5..t.len() - 4], [0x10]);
        let t = encode_message("apimachinery/pkg/apis/meta/v1/Time", &json!("2024-01-01T00:00:00Z")).unwrap();
        assert_eq!(t[t.len() - 2..], [0x10, 0]);
        let ios = encode_message("apimachinery/pkg/util/intstr/IntOrString", &json!(-3)).unwrap();
        assert_eq!(ios.len(), 2 + 11 + 2);
    }
}
