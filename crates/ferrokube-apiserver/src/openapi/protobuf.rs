//! The OpenAPI v2 document in gnostic's protobuf encoding (`openapi_v2.Document`).
//!
//! client-go's discovery client (and so every kubectl, 1.20 as much as 1.33) asks for
//! `/openapi/v2` as `application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and
//! decodes the answer as protobuf only: a JSON answer fails to decode. This module turns
//! the Swagger 2.0 JSON document built by [`super`] into that message, field by field
//! (field numbers from gnostic's `OpenAPIv2.proto`). Vendor extensions
//! (`x-kubernetes-...`) are carried as YAML text, as gnostic does; JSON is valid YAML,
//! so each extension's JSON serialization is used. Schema keywords gnostic's `Schema`
//! message has no field for (`oneOf`) are left out. The wire-format writing itself is
//! `ferrokube_apimachinery::protobuf::wire`'s (one writer for every protobuf we send).

use serde_json::{Map, Value};

use ferrokube_apimachinery::protobuf::wire;

/// A length-delimited field (string, bytes or embedded message), always written.
fn bytes(buf: &mut Vec<u8>, field: u32, data: &[u8]) {
    wire::put_bytes(buf, field, data);
}

/// A string field, omitted when empty (proto3 default).
fn string(buf: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        bytes(buf, field, s.as_bytes());
    }
}

fn boolean(buf: &mut Vec<u8>, field: u32, b: bool) {
    if b {
        wire::put_varint_field(buf, field, 1);
    }
}

fn int64(buf: &mut Vec<u8>, field: u32, v: Option<i64>) {
    if let Some(v) = v.filter(|v| *v != 0) {
        wire::put_varint_field(buf, field, v as u64);
    }
}

fn double(buf: &mut Vec<u8>, field: u32, v: Option<f64>) {
    if let Some(v) = v.filter(|v| *v != 0.0) {
        wire::put_fixed64(buf, field, v.to_bits());
    }
}

fn str_of<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// `Any { yaml }` for a JSON value.
fn any(v: &Value) -> Vec<u8> {
    let mut b = Vec::new();
    string(&mut b, 2, &serde_json::to_string(v).unwrap_or_default());
    b
}

/// `repeated NamedAny vendor_extension` entries for the `x-` keys of `m`.
fn vendor_extensions(buf: &mut Vec<u8>, field: u32, m: &Map<String, Value>) {
    for (k, v) in m.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Vec::new();
        string(&mut named, 1, k);
        bytes(&mut named, 2, &any(v));
        bytes(buf, field, &named);
    }
}

/// `openapi_v2.Schema`.
fn schema(v: &Value) -> Vec<u8> {
    let mut b = Vec::new();
    let Some(m) = v.as_object() else {
        return b;
    };
    string(&mut b, 1, str_of(m, "$ref"));
    string(&mut b, 2, str_of(m, "format"));
    string(&mut b, 3, str_of(m, "title"));
    string(&mut b, 4, str_of(m, "description"));
    if let Some(d) = m.get("default") {
        bytes(&mut b, 5, &any(d));
    }
    double(&mut b, 6, m.get("multipleOf").and_then(Value::as_f64));
    double(&mut b, 7, m.get("maximum").and_then(Value::as_f64));
    boolean(&mut b, 8, m.get("exclusiveMaximum").and_then(Value::as_bool).unwrap_or(false));
    double(&mut b, 9, m.get("minimum").and_then(Value::as_f64));
    boolean(&mut b, 10, m.get("exclusiveMinimum").and_then(Value::as_bool).unwrap_or(false));
    int64(&mut b, 11, m.get("maxLength").and_then(Value::as_i64));
    int64(&mut b, 12, m.get("minLength").and_then(Value::as_i64));
    string(&mut b, 13, str_of(m, "pattern"));
    int64(&mut b, 14, m.get("maxItems").and_then(Value::as_i64));
    int64(&mut b, 15, m.get("minItems").and_then(Value::as_i64));
    boolean(&mut b, 16, m.get("uniqueItems").and_then(Value::as_bool).unwrap_or(false));
    int64(&mut b, 17, m.get("maxProperties").and_then(Value::as_i64));
    int64(&mut b, 18, m.get("minProperties").and_then(Value::as_i64));
    for r in m.get("required").and_then(Value::as_array).into_iter().flatten() {
        if let Some(s) = r.as_str() {
            bytes(&mut b, 19, s.as_bytes());
        }
    }
    for e in m.get("enum").and_then(Value::as_array).into_iter().flatten() {
        bytes(&mut b, 20, &any(e));
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(flag)) => {
            let mut item = Vec::new();
            wire::put_varint_field(&mut item, 2, u64::from(*flag));
            bytes(&mut b, 21, &item);
        }
        Some(s @ Value::Object(_)) => {
            let mut item = Vec::new();
            bytes(&mut item, 1, &schema(s));
            bytes(&mut b, 21, &item);
        }
        _ => {}
    }
    let types: Vec<&str> = match m.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let mut item = Vec::new();
        for t in types {
            bytes(&mut item, 1, t.as_bytes());
        }
        bytes(&mut b, 22, &item);
    }
    match m.get("items") {
        Some(s @ Value::Object(_)) => {
            let mut item = Vec::new();
            bytes(&mut item, 1, &schema(s));
            bytes(&mut b, 23, &item);
        }
        Some(Value::Array(a)) => {
            let mut item = Vec::new();
            for s in a {
                bytes(&mut item, 1, &schema(s));
            }
            bytes(&mut b, 23, &item);
        }
        _ => {}
    }
    for s in m.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        bytes(&mut b, 24, &schema(s));
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        bytes(&mut b, 25, &named_schemas(props));
    }
    boolean(&mut b, 27, m.get("readOnly").and_then(Value::as_bool).unwrap_or(false));
    vendor_extensions(&mut b, 31, m);
    b
}

/// A message of `repeated NamedSchema additional_properties = 1` (Properties, Definitions).
fn named_schemas(m: &Map<String, Value>) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, s) in m {
        let mut named = Vec::new();
        string(&mut named, 1, name);
        bytes(&mut named, 2, &schema(s));
        bytes(&mut b, 1, &named);
    }
    b
}

/// `openapi_v2.ParametersItem` for one parameter object.
fn parameter(p: &Map<String, Value>) -> Vec<u8> {
    // A reference to one of the document's shared parameters (kube's
    // `{"$ref": "#/parameters/body-2Y1dVQaQ"}`): the item's `JsonReference` (field 2).
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        let mut reference = Vec::new();
        string(&mut reference, 1, r);
        let mut item = Vec::new();
        bytes(&mut item, 2, &reference);
        return item;
    }
    let mut param = Vec::new();
    let place = str_of(p, "in");
    if place == "body" {
        let mut body = Vec::new();
        string(&mut body, 1, str_of(p, "description"));
        string(&mut body, 2, str_of(p, "name"));
        string(&mut body, 3, place);
        boolean(&mut body, 4, p.get("required").and_then(Value::as_bool).unwrap_or(false));
        if let Some(s) = p.get("schema") {
            bytes(&mut body, 5, &schema(s));
        }
        bytes(&mut param, 1, &body);
    } else {
        // Query (3) and path (4) sub-schemas share the first fields; `type` is field 6
        // for query parameters and 5 for path parameters, `uniqueItems` 20 and 19.
        let (oneof, type_field, unique_field) = if place == "path" { (4, 5, 19) } else { (3, 6, 20) };
        let mut sub = Vec::new();
        boolean(&mut sub, 1, p.get("required").and_then(Value::as_bool).unwrap_or(false));
        string(&mut sub, 2, place);
        string(&mut sub, 3, str_of(p, "description"));
        string(&mut sub, 4, str_of(p, "name"));
        string(&mut sub, type_field, str_of(p, "type"));
        boolean(&mut sub, unique_field, p.get("uniqueItems").and_then(Value::as_bool).unwrap_or(false));
        let mut non_body = Vec::new();
        bytes(&mut non_body, oneof, &sub);
        bytes(&mut param, 2, &non_body);
    }
    let mut item = Vec::new();
    bytes(&mut item, 1, &param);
    item
}

fn strings(buf: &mut Vec<u8>, field: u32, v: Option<&Value>) {
    for s in v.and_then(Value::as_array).into_iter().flatten() {
        if let Some(s) = s.as_str() {
            bytes(buf, field, s.as_bytes());
        }
    }
}

/// `openapi_v2.Operation`.
fn operation(o: &Map<String, Value>) -> Vec<u8> {
    let mut b = Vec::new();
    strings(&mut b, 1, o.get("tags"));
    string(&mut b, 3, str_of(o, "description"));
    string(&mut b, 5, str_of(o, "operationId"));
    strings(&mut b, 6, o.get("produces"));
    strings(&mut b, 7, o.get("consumes"));
    for p in o.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        if let Some(p) = p.as_object() {
            bytes(&mut b, 8, &parameter(p));
        }
    }
    if let Some(responses) = o.get("responses").and_then(Value::as_object) {
        let mut rs = Vec::new();
        for (code, r) in responses {
            let Some(r) = r.as_object() else { continue };
            let mut resp = Vec::new();
            string(&mut resp, 1, str_of(r, "description"));
            if let Some(s) = r.get("schema") {
                let mut item = Vec::new();
                bytes(&mut item, 1, &schema(s));
                bytes(&mut resp, 2, &item);
            }
            let mut value = Vec::new();
            bytes(&mut value, 1, &resp);
            let mut named = Vec::new();
            string(&mut named, 1, code);
            bytes(&mut named, 2, &value);
            bytes(&mut rs, 1, &named);
        }
        bytes(&mut b, 9, &rs);
    }
    strings(&mut b, 10, o.get("schemes"));
    vendor_extensions(&mut b, 13, o);
    b
}

/// `openapi_v2.PathItem`.
fn path_item(m: &Map<String, Value>) -> Vec<u8> {
    let mut b = Vec::new();
    for (method, field) in
        [("get", 2), ("put", 3), ("post", 4), ("delete", 5), ("options", 6), ("head", 7), ("patch", 8)]
    {
        if let Some(o) = m.get(method).and_then(Value::as_object) {
            bytes(&mut b, field, &operation(o));
        }
    }
    for p in m.get("parameters").and_then(Value::as_array).into_iter().flatten() {
        if let Some(p) = p.as_object() {
            bytes(&mut b, 9, &parameter(p));
        }
    }
    vendor_extensions(&mut b, 10, m);
    b
}

/// Encode a Swagger 2.0 JSON document as `openapi_v2.Document`.
pub fn encode_document(doc: &Value) -> Vec<u8> {
    let mut b = Vec::new();
    let Some(m) = doc.as_object() else {
        return b;
    };
    string(&mut b, 1, str_of(m, "swagger"));
    if let Some(info) = m.get("info").and_then(Value::as_object) {
        let mut i = Vec::new();
        string(&mut i, 1, str_of(info, "title"));
        string(&mut i, 2, str_of(info, "version"));
        bytes(&mut b, 2, &i);
    }
    if let Some(paths) = m.get("paths").and_then(Value::as_object) {
        let mut p = Vec::new();
        for (path, item) in paths {
            let Some(item) = item.as_object() else {
                continue;
            };
            let mut named = Vec::new();
            string(&mut named, 1, path);
            bytes(&mut named, 2, &path_item(item));
            bytes(&mut p, 2, &named);
        }
        bytes(&mut b, 8, &p);
    }
    if let Some(defs) = m.get("definitions").and_then(Value::as_object) {
        bytes(&mut b, 9, &named_schemas(defs));
    }
    vendor_extensions(&mut b, 16, m);
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Read one length-delimited field's payloads from a message (test decoder).
    fn fields(mut buf: &[u8]) -> Vec<(u64, Vec<u8>)> {
        fn read_varint(buf: &mut &[u8]) -> u64 {
            let mut v = 0u64;
            let mut shift = 0;
            while let Some((&b, rest)) = buf.split_first() {
                *buf = rest;
                v |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            v
        }
        let mut out = Vec::new();
        while !buf.is_empty() {
            let k = read_varint(&mut buf);
            match k & 7 {
                0 => {
                    let v = read_varint(&mut buf);
                    out.push((k >> 3, v.to_le_bytes().to_vec()));
                }
                1 => {
                    out.push((k >> 3, buf[..8].to_vec()));
                    buf = &buf[8..];
                }
                2 => {
                    let n = read_varint(&mut buf) as usize;
                    out.push((k >> 3, buf[..n].to_vec()));
                    buf = &buf[n..];
                }
                w => panic!("unexpected wire type {w}"),
            }
        }
        out
    }

    #[test]
    fn document_round_trips_through_a_decoder() {
        let doc = json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": "v1"},
            "definitions": {
                "a.B": {
                    "type": "object",
                    "properties": {"x": {"type": "array", "items": {"$ref": "#/definitions/a.C"},
                                         "x-kubernetes-patch-merge-key": "name"}},
                    "x-kubernetes-group-version-kind": [{"group": "", "kind": "B", "version": "v1"}],
                }
            }
        });
        let pb = encode_document(&doc);
        let top = fields(&pb);
        assert_eq!(top[0], (1, b"2.0".to_vec()));
        let defs = top.iter().find(|(f, _)| *f == 9).unwrap();
        let named = fields(&defs.1);
        let entry = fields(&named[0].1);
        assert_eq!(entry[0], (1, b"a.B".to_vec()));
        let schema = fields(&entry[1].1);
        let ext = schema.iter().find(|(f, _)| *f == 31).unwrap();
        let ext = fields(&ext.1);
        assert_eq!(ext[0].1, b"x-kubernetes-group-version-kind");
        let any = fields(&ext[1].1);
        assert_eq!(any[0].0, 2, "Any.yaml");
        let yaml: serde_json::Value = serde_json::from_slice(&any[0].1).unwrap();
        assert_eq!(yaml[0]["kind"], "B");
        let props = schema.iter().find(|(f, _)| *f == 25).unwrap();
        let x = fields(&fields(&props.1)[0].1);
        assert_eq!(x[0].1, b"x");
    }
}
