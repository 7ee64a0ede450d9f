//! Structural schemas: the `openAPIV3Schema` of a CRD version, parsed once when the
//! CRD is written, then used on every custom-resource write to apply `default`s, prune
//! unknown fields and validate values, as kube-apiserver's apiextensions server does.
//!
//! ```text
//! CRD write -> Schema::parse (422 on a malformed schema)
//! CR write  -> prune (drop fields the schema does not name, unless
//!              x-kubernetes-preserve-unknown-fields) -> apply_defaults -> validate
//!              (type, required, enum, minimum/maximum, lengths, item counts)
//! ```
//!
//! At the root of an object `apiVersion`, `kind` and `metadata` are always kept and not
//! validated here (metadata has its own rules in the registry); the same holds inside
//! `x-kubernetes-embedded-resource` objects. `pattern`, `format`, `oneOf`/`anyOf`/`allOf`/
//! `not` and CEL rules are accepted in schemas but not enforced.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::object::errors::FieldError;

/// How deep a schema may nest; deeper schemas are rejected (and never recursed into).
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// The `type` of a schema node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchemaType {
    /// `object`.
    Object,
    /// `array`.
    Array,
    /// `string`.
    String,
    /// `integer`.
    Integer,
    /// `number`.
    Number,
    /// `boolean`.
    Boolean,
}

impl SchemaType {
    fn parse(s: &str) -> Option<SchemaType> {
        Some(match s {
            "object" => SchemaType::Object,
            "array" => SchemaType::Array,
            "string" => SchemaType::String,
            "integer" => SchemaType::Integer,
            "number" => SchemaType::Number,
            "boolean" => SchemaType::Boolean,
            _ => return None,
        })
    }

    /// The name used in schemas and error messages.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Object => "object",
            SchemaType::Array => "array",
            SchemaType::String => "string",
            SchemaType::Integer => "integer",
            SchemaType::Number => "number",
            SchemaType::Boolean => "boolean",
        }
    }

    fn accepts(self, v: &Value) -> bool {
        match self {
            SchemaType::Object => v.is_object(),
            SchemaType::Array => v.is_array(),
            SchemaType::String => v.is_string(),
            SchemaType::Integer => v.is_i64() || v.is_u64(),
            SchemaType::Number => v.is_number(),
            SchemaType::Boolean => v.is_boolean(),
        }
    }
}

/// One node of a structural schema.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// `type`; `None` only with `x-kubernetes-int-or-string` or
    /// `x-kubernetes-preserve-unknown-fields`.
    pub schema_type: Option<SchemaType>,
    /// `properties` of an object.
    pub properties: BTreeMap<String, Schema>,
    /// `additionalProperties` given as a schema: the object is a map of such values.
    pub additional_properties: Option<Box<Schema>>,
    /// `items` of an array.
    pub items: Option<Box<Schema>>,
    /// `default`.
    pub default: Option<Value>,
    /// `required` property names.
    pub required: Vec<String>,
    /// `enum` values.
    pub enum_values: Vec<Value>,
    /// `minimum`.
    pub minimum: Option<f64>,
    /// `maximum`.
    pub maximum: Option<f64>,
    /// `exclusiveMinimum`.
    pub exclusive_minimum: bool,
    /// `exclusiveMaximum`.
    pub exclusive_maximum: bool,
    /// `minLength` (characters).
    pub min_length: Option<u64>,
    /// `maxLength` (characters).
    pub max_length: Option<u64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `nullable`.
    pub nullable: bool,
    /// `x-kubernetes-preserve-unknown-fields` (or `additionalProperties: true`).
    pub preserve_unknown_fields: bool,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `x-kubernetes-embedded-resource`.
    pub embedded_resource: bool,
}

fn field(path: &str, name: &str) -> String {
    format!("{path}.{name}")
}

fn u64_of(node: &Map<String, Value>, key: &str, path: &str, errs: &mut Vec<FieldError>) -> Option<u64> {
    match node.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) => Some(n),
            None => {
                errs.push(FieldError::invalid(&field(path, key), v, "must be a non-negative integer"));
                None
            }
        },
    }
}

fn f64_of(node: &Map<String, Value>, key: &str, path: &str, errs: &mut Vec<FieldError>) -> Option<f64> {
    match node.get(key) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(n) => Some(n),
            None => {
                errs.push(FieldError::invalid(&field(path, key), v, "must be a number"));
                None
            }
        },
    }
}

fn bool_of(node: &Map<String, Value>, key: &str, path: &str, errs: &mut Vec<FieldError>) -> bool {
    match node.get(key) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            errs.push(FieldError::invalid(&field(path, key), v, "must be a boolean"));
            false
        }
    }
}

impl Schema {
    /// Parses an `openAPIV3Schema`; `path` names it in errors (e.g.
    /// `spec.versions[0].schema.openAPIV3Schema`). Every problem is reported as a field
    /// error; the root must be of type `object`.
    pub fn parse(value: &Value, path: &str) -> Result<Schema, Vec<FieldError>> {
        let mut errs = Vec::new();
        let schema = Schema::parse_node(value, path, 0, &mut errs);
        if errs.is_empty() && schema.schema_type != Some(SchemaType::Object) {
            errs.push(FieldError::invalid(
                &field(path, "type"),
                &Value::String(schema.schema_type.map(SchemaType::name).unwrap_or("").to_owned()),
                "must be object at the root",
            ));
        }
        if errs.is_empty() {
            Ok(schema)
        } else {
            Err(errs)
        }
    }

    fn parse_node(value: &Value, path: &str, depth: usize, errs: &mut Vec<FieldError>) -> Schema {
        let mut s = Schema::default();
        if depth > MAX_SCHEMA_DEPTH {
            errs.push(FieldError::forbidden(path, &format!("must not nest deeper than {MAX_SCHEMA_DEPTH} levels")));
            return s;
        }
        let Some(node) = value.as_object() else {
            errs.push(FieldError::invalid(path, value, "must be a schema object"));
            return s;
        };
        s.preserve_unknown_fields = bool_of(node, "x-kubernetes-preserve-unknown-fields", path, errs);
        s.int_or_string = bool_of(node, "x-kubernetes-int-or-string", path, errs);
        s.embedded_resource = bool_of(node, "x-kubernetes-embedded-resource", path, errs);
        s.nullable = bool_of(node, "nullable", path, errs);
        s.exclusive_minimum = bool_of(node, "exclusiveMinimum", path, errs);
        s.exclusive_maximum = bool_of(node, "exclusiveMaximum", path, errs);
        match node.get("type") {
            None | Some(Value::Null) => {
                if !s.int_or_string && !s.preserve_unknown_fields {
                    errs.push(FieldError::required(
                        &field(path, "type"),
                        "must not be empty for specified object fields",
                    ));
                }
            }
            Some(Value::String(t)) if t.is_empty() && (s.int_or_string || s.preserve_unknown_fields) => {}
            Some(Value::String(t)) => match SchemaType::parse(t) {
                Some(t) => s.schema_type = Some(t),
                None => errs.push(FieldError::not_supported(
                    &field(path, "type"),
                    t,
                    &["array", "boolean", "integer", "number", "object", "string"],
                )),
            },
            Some(other) => errs.push(FieldError::invalid(&field(path, "type"), other, "must be a string")),
        }
        if s.int_or_string && s.schema_type.is_some() {
            errs.push(FieldError::invalid(
                &field(path, "type"),
                &Value::String(s.schema_type.map(SchemaType::name).unwrap_or("").to_owned()),
                "must be empty if x-kubernetes-int-or-string is true",
            ));
        }
        if s.embedded_resource && s.schema_type != Some(SchemaType::Object) {
            errs.push(FieldError::invalid(
                &field(path, "type"),
                node.get("type").unwrap_or(&Value::Null),
                "must be object if x-kubernetes-embedded-resource is true",
            ));
        }
        match node.get("properties") {
            None | Some(Value::Null) => {}
            Some(Value::Object(props)) => {
                if s.schema_type.is_some() && s.schema_type != Some(SchemaType::Object) {
                    errs.push(FieldError::forbidden(&field(path, "properties"), "must only be used with type object"));
                }
                for (name, sub) in props {
                    let p = format!("{path}.properties[{name}]");
                    s.properties.insert(name.clone(), Schema::parse_node(sub, &p, depth + 1, errs));
                }
            }
            Some(other) => errs.push(FieldError::invalid(&field(path, "properties"), other, "must be an object")),
        }
        match node.get("additionalProperties") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(true)) => s.preserve_unknown_fields = true,
            Some(Value::Bool(false)) => errs.push(FieldError::forbidden(
                &field(path, "additionalProperties"),
                "must not be false in structural schemas",
            )),
            Some(sub @ Value::Object(_)) => {
                if !s.properties.is_empty() {
                    errs.push(FieldError::forbidden(
                        &field(path, "additionalProperties"),
                        "additionalProperties and properties are mutual exclusive",
                    ));
                }
                let p = field(path, "additionalProperties");
                s.additional_properties = Some(Box::new(Schema::parse_node(sub, &p, depth + 1, errs)));
            }
            Some(other) => errs.push(FieldError::invalid(
                &field(path, "additionalProperties"),
                other,
                "must be a schema or a boolean",
            )),
        }
        match node.get("items") {
            None | Some(Value::Null) => {
                if s.schema_type == Some(SchemaType::Array) {
                    errs.push(FieldError::required(&field(path, "items"), "must be specified"));
                }
            }
            Some(sub @ Value::Object(_)) => {
                let p = field(path, "items");
                s.items = Some(Box::new(Schema::parse_node(sub, &p, depth + 1, errs)));
            }
            Some(other) => errs.push(FieldError::invalid(&field(path, "items"), other, "must be a schema")),
        }
        match node.get("required") {
            None | Some(Value::Null) => {}
            Some(Value::Array(names)) => {
                for n in names {
                    match n.as_str() {
                        Some(n) => s.required.push(n.to_owned()),
                        None => errs.push(FieldError::invalid(&field(path, "required"), n, "must be a string")),
                    }
                }
            }
            Some(other) => errs.push(FieldError::invalid(&field(path, "required"), other, "must be a list of strings")),
        }
        match node.get("enum") {
            None | Some(Value::Null) => {}
            Some(Value::Array(values)) => s.enum_values = values.clone(),
            Some(other) => errs.push(FieldError::invalid(&field(path, "enum"), other, "must be a list")),
        }
        s.minimum = f64_of(node, "minimum", path, errs);
        s.maximum = f64_of(node, "maximum", path, errs);
        s.min_length = u64_of(node, "minLength", path, errs);
        s.max_length = u64_of(node, "maxLength", path, errs);
        s.min_items = u64_of(node, "minItems", path, errs);
        s.max_items = u64_of(node, "maxItems", path, errs);
        s.min_properties = u64_of(node, "minProperties", path, errs);
        s.max_properties = u64_of(node, "maxProperties", path, errs);
        if let Some(d) = node.get("default") {
            if !d.is_null() || s.nullable {
                s.default = Some(d.clone());
            }
        }
        if let Some(d) = &s.default {
            let mut problems = Vec::new();
            s.validate_node(d, &field(path, "default"), false, &mut problems);
            errs.extend(problems);
        }
        s
    }

    /// Whether a member named `key` of an object described by this node is kept by
    /// pruning.
    fn keeps(&self, key: &str, root: bool) -> bool {
        self.preserve_unknown_fields
            || self.additional_properties.is_some()
            || self.properties.contains_key(key)
            || ((root || self.embedded_resource) && matches!(key, "apiVersion" | "kind" | "metadata"))
    }

    /// The schema of member `key` of an object described by this node.
    fn member(&self, key: &str) -> Option<&Schema> {
        self.properties.get(key).or(self.additional_properties.as_deref())
    }

    /// Removes the members of objects that the schema does not name, recursively;
    /// `apiVersion`, `kind` and `metadata` stay at the root.
    pub fn prune(&self, value: &mut Value) {
        self.prune_node(value, true);
    }

    fn prune_node(&self, value: &mut Value, root: bool) {
        match value {
            Value::Object(map) => {
                map.retain(|k, _| self.keeps(k, root));
                for (k, v) in map.iter_mut() {
                    if (root || self.embedded_resource) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    if let Some(sub) = self.member(k) {
                        sub.prune_node(v, false);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(sub) = &self.items {
                    for v in items {
                        sub.prune_node(v, false);
                    }
                }
            }
            _ => {}
        }
    }

    /// Sets missing (or null, when not nullable) members that have a `default`,
    /// recursively into objects, maps and arrays.
    pub fn apply_defaults(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (k, sub) in &self.properties {
                    let missing = match map.get(k) {
                        None => true,
                        Some(Value::Null) => !sub.nullable,
                        Some(_) => false,
                    };
                    if missing {
                        if let Some(d) = &sub.default {
                            map.insert(k.clone(), d.clone());
                        }
                    }
                }
                for (k, v) in map.iter_mut() {
                    if let Some(sub) = self.properties.get(k) {
                        sub.apply_defaults(v);
                    } else if let Some(sub) = &self.additional_properties {
                        sub.apply_defaults(v);
                    }
                }
            }
            Value::Array(items) => {
                if let Some(sub) = &self.items {
                    for v in items {
                        sub.apply_defaults(v);
                    }
                }
            }
            _ => {}
        }
    }

    /// Validates an object against this (root) schema; errors name fields as kube does
    /// (`spec.replicas`).
    pub fn validate(&self, value: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        self.validate_node(value, "", true, &mut errs);
        errs
    }

    fn validate_node(&self, value: &Value, path: &str, root: bool, errs: &mut Vec<FieldError>) {
        // A value of the wrong type: kube's `field.TypeInvalid` (reason
        // FieldValueTypeInvalid, worded as an invalid value).
        fn type_invalid(field: &str, value: &Value, detail: &str) -> FieldError {
            FieldError { reason: "FieldValueTypeInvalid", ..FieldError::invalid(field, value, detail) }
        }
        let shown = if path.is_empty() { "<root>" } else { path };
        if value.is_null() {
            if !self.nullable && (self.schema_type.is_some() || self.int_or_string) {
                let t = self.schema_type.map(SchemaType::name).unwrap_or("string");
                errs.push(type_invalid(
                    shown,
                    &Value::String("null".into()),
                    &format!("{shown} in body must be of type {t}: \"null\""),
                ));
            }
            return;
        }
        if self.int_or_string {
            if !(value.is_string() || value.is_i64() || value.is_u64()) {
                errs.push(type_invalid(
                    shown,
                    &Value::String(json_type(value).into()),
                    &format!("{shown} in body must be of type integer,string: \"{}\"", json_type(value)),
                ));
                return;
            }
        } else if let Some(t) = self.schema_type {
            if !t.accepts(value) {
                errs.push(type_invalid(
                    shown,
                    &Value::String(json_type(value).into()),
                    &format!("{shown} in body must be of type {}: \"{}\"", t.name(), json_type(value)),
                ));
                return;
            }
        }
        if !self.enum_values.is_empty() && !self.enum_values.iter().any(|e| e == value) {
            let supported: Vec<String> = self
                .enum_values
                .iter()
                .map(|e| match e {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let refs: Vec<&str> = supported.iter().map(String::as_str).collect();
            let shown_value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            errs.push(FieldError::not_supported(shown, &shown_value, &refs));
        }
        match value {
            Value::Number(n) => {
                if let (Some(x), Some(min)) = (n.as_f64(), self.minimum) {
                    if x < min || (self.exclusive_minimum && x <= min) {
                        let rel = if self.exclusive_minimum { "greater than" } else { "greater than or equal to" };
                        errs.push(FieldError::invalid(shown, value, &format!("{shown} in body should be {rel} {min}")));
                    }
                }
                if let (Some(x), Some(max)) = (n.as_f64(), self.maximum) {
                    if x > max || (self.exclusive_maximum && x >= max) {
                        let rel = if self.exclusive_maximum { "less than" } else { "less than or equal to" };
                        errs.push(FieldError::invalid(shown, value, &format!("{shown} in body should be {rel} {max}")));
                    }
                }
            }
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if let Some(min) = self.min_length.filter(|m| len < *m) {
                    errs.push(FieldError::invalid(
                        shown,
                        value,
                        &format!("{shown} in body should be at least {min} chars long"),
                    ));
                }
                if let Some(max) = self.max_length.filter(|m| len > *m) {
                    errs.push(FieldError {
                        reason: "FieldValueTooLong",
                        field: shown.to_owned(),
                        body: format!("Too long: may not be more than {max} bytes"),
                    });
                }
            }
            Value::Array(items) => {
                let len = items.len() as u64;
                if let Some(min) = self.min_items.filter(|m| len < *m) {
                    errs.push(FieldError::invalid(
                        shown,
                        value,
                        &format!("{shown} in body should have at least {min} items"),
                    ));
                }
                if let Some(max) = self.max_items.filter(|m| len > *m) {
                    errs.push(FieldError {
                        reason: "FieldValueTooMany",
                        field: shown.to_owned(),
                        body: format!("Too many: {len}: must have at most {max} items"),
                    });
                }
                if let Some(sub) = &self.items {
                    for (i, v) in items.iter().enumerate() {
                        sub.validate_node(v, &format!("{path}[{i}]"), false, errs);
                    }
                }
            }
            Value::Object(map) => {
                let len = map.len() as u64;
                if let Some(min) = self.min_properties.filter(|m| len < *m) {
                    errs.push(FieldError::invalid(
                        shown,
                        value,
                        &format!("{shown} in body should have at least {min} properties"),
                    ));
                }
                if let Some(max) = self.max_properties.filter(|m| len > *m) {
                    errs.push(FieldError::invalid(
                        shown,
                        value,
                        &format!("{shown} in body should have at most {max} properties"),
                    ));
                }
                for r in &self.required {
                    if !map.contains_key(r) {
                        let p = if path.is_empty() { r.clone() } else { format!("{path}.{r}") };
                        errs.push(FieldError::required(&p, ""));
                    }
                }
                for (k, v) in map {
                    if (root || self.embedded_resource) && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                        continue;
                    }
                    if let Some(sub) = self.member(k) {
                        let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                        sub.validate_node(v, &p, false, errs);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The JSON type name of a value, as kube's validator names it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crontab() -> Schema {
        Schema::parse(
            &json!({
                "type": "object",
                "properties": {
                    "spec": {
                        "type": "object",
                        "required": ["cronSpec"],
                        "properties": {
                            "cronSpec": {"type": "string", "maxLength": 20},
                            "image": {"type": "string", "default": "nginx"},
                            "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                            "mode": {"type": "string", "enum": ["a", "b"]},
                            "ports": {"type": "array", "items": {
                                "type": "object",
                                "properties": {"port": {"type": "integer"}, "proto": {"type": "string", "default": "TCP"}}
                            }},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                            "size": {"x-kubernetes-int-or-string": true},
                        }
                    },
                    "status": {"type": "object", "properties": {"replicas": {"type": "integer"}}}
                }
            }),
            "spec.versions[0].schema.openAPIV3Schema",
        )
        .unwrap()
    }

    #[test]
    fn defaults_are_applied_recursively() {
        let s = crontab();
        let mut v = json!({"spec": {"cronSpec": "* * * * *", "ports": [{"port": 80}], "image": null}});
        s.apply_defaults(&mut v);
        assert_eq!(v["spec"]["image"], "nginx");
        assert_eq!(v["spec"]["replicas"], 1);
        assert_eq!(v["spec"]["ports"][0]["proto"], "TCP");
        assert!(v.get("status").is_none());
    }

    #[test]
    fn unknown_fields_are_pruned() {
        let s = crontab();
        let mut v = json!({
            "apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a", "anything": 1},
            "extra": 1,
            "spec": {"cronSpec": "x", "junk": true, "ports": [{"port": 1, "bad": 2}],
                     "labels": {"a": "b"}, "free": {"keep": {"deep": 1}}}
        });
        s.prune(&mut v);
        assert!(v.get("extra").is_none());
        assert!(v["spec"].get("junk").is_none());
        assert!(v["spec"]["ports"][0].get("bad").is_none());
        assert_eq!(v["spec"]["labels"]["a"], "b");
        assert_eq!(v["spec"]["free"]["keep"]["deep"], 1);
        assert_eq!(v["metadata"]["anything"], 1);
        assert_eq!(v["kind"], "K");
    }

    #[test]
    fn validation_errors_read_like_kube() {
        let s = crontab();
        let errs = s.validate(&json!({"spec": {"cronSpec": "x", "replicas": "string"}}));
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
        );
        let errs = s.validate(&json!({"spec": {"replicas": 20, "mode": "c", "size": true}}));
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(text.contains(&"spec.cronSpec: Required value".to_owned()), "{text:?}");
        assert!(
            text.iter()
                .any(|t| t
                    == "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10"),
            "{text:?}"
        );
        assert!(text.iter().any(|t| t.starts_with("spec.mode: Unsupported value: \"c\"")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("spec.size: Invalid value")), "{text:?}");
        assert!(s.validate(&json!({"spec": {"cronSpec": "x", "size": 3, "labels": {"a": "b"}}})).is_empty());
        assert_eq!(s.validate(&json!({"spec": {"cronSpec": "x", "labels": {"a": 1}}})).len(), 1);
        assert_eq!(s.validate(&json!({"spec": {"cronSpec": "x".repeat(30)}}))[0].reason, "FieldValueTooLong");
    }

    #[test]
    fn odd_values_never_panic() {
        let s = crontab();
        for v in [
            json!(null),
            json!(1),
            json!("x"),
            json!([1, {"a": null}]),
            json!({"spec": "str"}),
            json!({"spec": {"ports": "no", "labels": [1], "free": 3, "size": null, "replicas": 1.5}}),
            json!({"spec": {"ports": [null, 1, {"port": "x"}]}, "status": []}),
        ] {
            let mut v = v;
            s.prune(&mut v);
            s.apply_defaults(&mut v);
            let _ = s.validate(&v);
        }
        let errs = s.validate(&json!({"spec": {"cronSpec": "x", "replicas": 1.5}}));
        assert_eq!(errs[0].field, "spec.replicas");
    }

    #[test]
    fn malformed_schemas_are_errors() {
        let p = "s";
        assert!(Schema::parse(&json!("nope"), p).is_err());
        assert!(Schema::parse(&json!({"type": "string"}), p).is_err());
        assert!(Schema::parse(&json!({"type": "object", "properties": {"a": {}}}), p).is_err());
        assert!(Schema::parse(&json!({"type": "object", "properties": {"a": {"type": "wat"}}}), p).is_err());
        assert!(Schema::parse(&json!({"type": "object", "properties": {"a": {"type": "array"}}}), p).is_err());
        assert!(Schema::parse(&json!({"type": "object", "properties": {"a": {"type": "integer", "default": "x"}}}), p)
            .is_err());
        assert!(Schema::parse(&json!({"type": "object", "properties": {"a": {"type": "integer", "minimum": "x"}}}), p)
            .is_err());
        let mut deep = json!({"type": "object"});
        for _ in 0..100 {
            deep = json!({"type": "object", "properties": {"a": deep}});
        }
        assert!(Schema::parse(&deep, p).is_err());
        assert!(Schema::parse(&json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}), p).is_ok());
    }
}
