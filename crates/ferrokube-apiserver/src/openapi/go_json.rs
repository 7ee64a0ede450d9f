//! Reading a request body the way kube-apiserver's Go decoder reads it into a typed
//! object, for what serde's `Value` hides: a key given twice in one object (Go decodes
//! the second into what the first left, so two `data` maps merge, and its strict
//! decoder reports `duplicate field "data"`), a scalar of the wrong JSON type for its
//! field (`json: cannot unmarshal number into Go struct field ConfigMap.data of type
//! string`, always a 400), and the fields a Go struct has no place for (dropped).
//! [`super::field_validation`] uses these on built-in kinds.

use std::cell::RefCell;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::Definitions;

/// A body parsed with Go's handling of repeated keys: the value, and the paths
/// (`data`, `metadata.labels.a`, `spec.containers[0].name`) of keys given twice.
pub fn parse(body: &[u8]) -> Result<(Value, Vec<String>), serde_json::Error> {
    let dups = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Seed { path: String::new(), dups: &dups }.deserialize(&mut de)?;
    de.end()?;
    Ok((value, dups.into_inner()))
}

struct Seed<'a> {
    path: String,
    dups: &'a RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let path = format!("{}[{}]", self.path, out.len());
            match seq.next_element_seed(Seed { path, dups: self.dups })? {
                Some(v) => out.push(v),
                None => return Ok(Value::Array(out)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            let value = map.next_value_seed(Seed { path: path.clone(), dups: self.dups })?;
            match out.get_mut(&key) {
                Some(first) => {
                    self.dups.borrow_mut().push(path);
                    merge_into(first, value);
                }
                None => {
                    out.insert(key, value);
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// Go decoding a repeated key into what the first left: objects merge member by
/// member, anything else is replaced.
fn merge_into(first: &mut Value, second: Value) {
    match (first, second) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) => merge_into(existing, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (first, second) => *first = second,
    }
}

fn resolve<'a>(defs: &'a Definitions, mut schema: &'a Value) -> (&'a Value, Option<&'a str>) {
    let mut name = None;
    for _ in 0..8 {
        let target = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/definitions/"));
        match target.and_then(|n| defs.get(n).map(|s| (n, s))) {
            Some((n, s)) => {
                name = Some(n);
                schema = s;
            }
            None => break,
        }
    }
    (schema, name)
}

/// Removes from `value` the members `schema` does not declare (what a Go struct drops);
/// with `patch`, strategic-merge directives (`$...`) stay.
pub fn prune_unknown(defs: &Definitions, schema: &Value, value: &mut Value, patch: bool, depth: usize) {
    if depth > 64 || !(value.is_object() || value.is_array()) {
        return;
    }
    let (schema, _) = resolve(defs, schema);
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    match value {
        Value::Object(obj) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                obj.retain(|k, _| (patch && k.starts_with('$')) || props.contains_key(k));
                for (k, v) in obj.iter_mut() {
                    if let Some(s) = props.get(k) {
                        prune_unknown(defs, s, v, patch, depth + 1);
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, v) in obj.iter_mut() {
                    if !(patch && k.starts_with('$')) {
                        prune_unknown(defs, ap, v, patch, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for item in items {
                    prune_unknown(defs, s, item, patch, depth + 1);
                }
            }
        }
        _ => {}
    }
}

/// Go's type error for the first scalar field of `value` whose JSON type its schema
/// does not allow: `json: cannot unmarshal <json type> into Go struct field
/// <Struct>.<json path> of type <Go type>` (the innermost struct's name; the path of
/// field names from the root, without list indexes or map keys, as Go gives them).
/// Only plain string, integer and boolean fields are checked.
/// `kind` names the root struct.
pub fn type_error(defs: &Definitions, schema: &Value, value: &Value, kind: &str) -> Option<String> {
    let mut stack = Vec::new();
    check(defs, schema, value, kind, &mut stack, 0)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn check<'a>(
    defs: &Definitions,
    schema: &Value,
    value: &'a Value,
    struct_name: &str,
    stack: &mut Vec<&'a str>,
    depth: usize,
) -> Option<String> {
    if depth > 64 || value.is_null() {
        return None;
    }
    let (schema, name) = resolve(defs, schema);
    let struct_name = match name {
        Some(n) if schema.get("properties").is_some() => n.rsplit('.').next().unwrap_or(n),
        _ => struct_name,
    };
    // Named types without fields (Quantity, IntOrString, Time, ...) decode themselves
    // and take more than one JSON type.
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || (name.is_some() && schema.get("properties").is_none())
    {
        return None;
    }
    let want = schema.get("type").and_then(Value::as_str);
    let go_type = match (want, schema.get("format").and_then(Value::as_str)) {
        (Some("string"), None) => Some("string"),
        (Some("boolean"), _) => Some("bool"),
        (Some("integer"), Some("int32")) => Some("int32"),
        (Some("integer"), _) => Some("int64"),
        _ => None,
    };
    if let Some(go_type) = go_type {
        let fits = match go_type {
            "string" => value.is_string(),
            "bool" => value.is_boolean(),
            _ => value.is_i64() || value.is_u64(),
        };
        if fits || (go_type.starts_with("int") && value.is_number()) || struct_name.is_empty() {
            return None;
        }
        return Some(format!(
            "json: cannot unmarshal {} into Go struct field {struct_name}.{} of type {go_type}",
            json_type(value),
            stack.join(".")
        ));
    }
    match value {
        Value::Object(obj) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in obj {
                    let Some(s) = props.get(k) else { continue };
                    stack.push(k);
                    let found = check(defs, s, v, struct_name, stack, depth + 1);
                    stack.pop();
                    if found.is_some() {
                        return found;
                    }
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for v in obj.values() {
                    if let Some(found) = check(defs, ap, v, struct_name, stack, depth + 1) {
                        return Some(found);
                    }
                }
            }
            None
        }
        Value::Array(items) => {
            let s = schema.get("items")?;
            items.iter().find_map(|item| check(defs, s, item, struct_name, stack, depth + 1))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeated_keys_merge_and_are_reported() {
        let (v, dups) = parse(br#"{"data":{"a":"1"},"data":{"b":"2"},"m":{"x":[{"k":1,"k":2}]}}"#).unwrap();
        assert_eq!(v, json!({"data": {"a": "1", "b": "2"}, "m": {"x": [{"k": 2}]}}));
        assert_eq!(dups, ["data", "m.x[0].k"]);
    }

    #[test]
    fn type_errors_and_pruning_follow_the_schema() {
        let defs = super::super::definitions().unwrap();
        let cm = defs.get("io.k8s.api.core.v1.ConfigMap").unwrap();
        assert_eq!(
            type_error(defs, cm, &json!({"metadata": {"name": "x"}, "data": {"a": 1}}), "ConfigMap").unwrap(),
            "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
        );
        assert!(type_error(defs, cm, &json!({"metadata": {"name": "x"}, "data": {"a": "1"}}), "ConfigMap").is_none());
        let pod = defs.get("io.k8s.api.core.v1.Pod").unwrap();
        assert_eq!(
            type_error(defs, pod, &json!({"spec": {"containers": [{"name": 5}]}}), "Pod").unwrap(),
            "json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string"
        );
        let mut v = json!({"metadata": {"name": "x", "bogus": 1}, "data": {"a": "b"}, "extra": true});
        prune_unknown(defs, cm, &mut v, false, 0);
        assert_eq!(v, json!({"metadata": {"name": "x"}, "data": {"a": "b"}}));
    }
}
