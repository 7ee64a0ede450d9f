//! `fieldValidation`: reject (`Strict`) or warn about (`Warn`, the default) fields of a
//! request body that the schema does not know.
//!
//! kubectl (1.27 and later) sees the `fieldValidation` parameter in the OpenAPI v3
//! document and then leaves validation to the server: it sends `fieldValidation=Strict`
//! and expects a 400 naming the unknown fields, as kube-apiserver answers
//! (`strict decoding error: unknown field "spec.foo"`). [`check`] does this for create,
//! update and patch bodies (JSON merge, strategic merge and apply patches; the
//! strategic-merge directives `$patch`, `$setElementOrder/...` and the like are not
//! fields) against the generated schemas of [`super::definitions`], or for custom
//! resources against their CRD's schema ([`super::custom_definition`]; fields under
//! `x-kubernetes-preserve-unknown-fields` are all known). Kinds with no schema at all
//! are not checked. With `Warn` (also when the parameter is absent, kube's default) the
//! request proceeds and the response carries one `Warning: 299 - "unknown field ..."`
//! header per field (`handlers::openapi::add_warnings`), which kubectl prints; `Ignore` checks nothing.
//!
//! As kube-apiserver, the request options come first (`dryRun` other than `All`, or a
//! `fieldValidation` other than `Ignore`/`Strict`/`Warn`, is a 422 on
//! `CreateOptions.meta.k8s.io` and its siblings), a key repeated in one JSON object is
//! a `duplicate field` (error or warning, the values merged as Go merges them), and for
//! built-in kinds, whose Go structs have no room for them, unknown fields are dropped
//! from the body the registry stores and a scalar of the wrong JSON type is a 400 with
//! Go's unmarshal error ([`super::go_json`]). Custom resources keep their own pruning.

use serde_json::Value;

use super::Definitions;
use crate::api::{ApiError, ApiRequest, Verb};
use crate::catalog::Catalog;
use crate::object::errors;

/// kube-apiserver's validation of the request options (`CreateOptions`,
/// `UpdateOptions`, `PatchOptions`, `DeleteOptions`): `dryRun` may only be `All`,
/// `fieldValidation` only `Ignore`, `Strict` or `Warn`; else a 422 naming the options.
fn validate_options(req: &ApiRequest) -> Result<(), ApiError> {
    use crate::object::errors::{invalid_kind, FieldError};
    let kind = match req.verb {
        Verb::Create => "CreateOptions",
        Verb::Update => "UpdateOptions",
        Verb::Patch => "PatchOptions",
        Verb::Delete | Verb::DeleteCollection => "DeleteOptions",
        _ => return Ok(()),
    };
    let mut errors = Vec::new();
    if let Some(values) = req.query.get("dryRun").filter(|v| v.iter().any(|v| !v.is_empty() && v != "All")) {
        let list = serde_json::to_string(values).unwrap_or_default();
        errors.push(FieldError {
            reason: "FieldValueNotSupported",
            field: "dryRun".to_owned(),
            body: format!("Unsupported value: {list}: supported values: \"All\""),
        });
    }
    if kind != "DeleteOptions" {
        if let Some(v) = req.query_param("fieldValidation").filter(|v| !matches!(*v, "" | "Ignore" | "Strict" | "Warn"))
        {
            errors.push(FieldError::not_supported("fieldValidation", v, &["", "Ignore", "Strict", "Warn"]));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid_kind("meta.k8s.io", kind, "", &errors))
    }
}

/// Check the body of `req` as its `fieldValidation` asks: for `Strict`, a 400 error
/// lists the unknown (and repeated) fields; for `Warn` (or no parameter) the warnings to
/// send are returned; `Ignore`, and requests without a checkable body, give no
/// warnings. The request options are validated first (422). For a built-in kind, as
/// its Go types would, a field of the wrong scalar type is a 400 whatever the mode, and
/// the body the registry gets has the unknown fields dropped and repeated keys merged
/// ([`super::go_json`]).
pub fn check(req: &mut ApiRequest, catalog: &Catalog) -> Result<Vec<String>, ApiError> {
    validate_options(req)?;
    let (strict, ignore) = match req.query_param("fieldValidation") {
        Some("Strict") => (true, false),
        Some("Ignore") => (false, true),
        _ => (false, false),
    };
    if !matches!(req.verb, Verb::Create | Verb::Update | Verb::Patch) || req.body.is_empty() {
        return Ok(Vec::new());
    }
    if req.subresource.as_deref().is_some_and(|s| s != "status") {
        return Ok(Vec::new());
    }
    let Some(defs) = super::definitions() else {
        return Ok(Vec::new());
    };
    let r = std::sync::Arc::clone(&req.resource);
    let custom = super::custom_schema(catalog, &r).map(|s| super::custom_definition(s, &r.group, &r.version, &r.kind));
    let generated = || defs.name_of(&r.group, &r.version, &r.kind).and_then(|n| defs.get(n));
    let built_in = custom.is_none();
    let Some(root) = custom.as_ref().or_else(generated) else {
        return Ok(Vec::new());
    };
    let content_type = req.content_type.as_deref().unwrap_or("application/json").to_owned();
    let patch = content_type.ends_with("merge-patch+json");
    let json_body = matches!(
        content_type.as_str(),
        "application/json" | "application/merge-patch+json" | "application/strategic-merge-patch+json"
    );
    // Bodies that do not parse pass: the registry reports the syntax error.
    let (mut body, repeated): (Value, Vec<String>) = match content_type.as_str() {
        _ if json_body => match super::go_json::parse(&req.body) {
            Ok(parsed) => parsed,
            Err(_) => return Ok(Vec::new()),
        },
        "application/apply-patch+yaml" => match serde_yaml_ng::from_slice(&req.body) {
            Ok(v) => (v, Vec::new()),
            Err(_) => return Ok(Vec::new()),
        },
        _ => return Ok(Vec::new()),
    };
    // A body of another kind (a TokenRequest posted to `serviceaccounts/<name>/token`,
    // or a mismatch the registry refuses) is not checked against this kind's schema.
    if body.get("kind").and_then(Value::as_str).is_some_and(|k| !k.is_empty() && k != r.kind) {
        return Ok(Vec::new());
    }
    let cannot_handle = |why: &str| {
        format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: {why}",
            kind = r.kind,
            version = r.version
        )
    };
    if built_in && req.verb != Verb::Patch && json_body {
        if let Some(e) = super::go_json::type_error(defs, root, &body, &r.kind) {
            return Err(errors::bad_request(cannot_handle(&e)));
        }
    }
    let unknown = if ignore { Vec::new() } else { unknown_fields(defs, root, &body, patch) };
    // A built-in kind keeps only what its Go type has room for.
    let rewrite = built_in && json_body && (!repeated.is_empty() || ignore || !unknown.is_empty());
    let mut messages: Vec<String> = unknown.iter().map(|f| format!("unknown field {f:?}")).collect();
    if !ignore {
        messages.extend(repeated.iter().map(|f| format!("duplicate field {f:?}")));
    }
    if strict && !messages.is_empty() {
        let list = messages.join(", ");
        let message = if req.verb == Verb::Patch {
            format!("strict decoding error: {list}")
        } else {
            cannot_handle(&format!("strict decoding error: {list}"))
        };
        return Err(errors::bad_request(message));
    }
    if rewrite {
        super::go_json::prune_unknown(defs, root, &mut body, patch, 0);
        if let Ok(bytes) = serde_json::to_vec(&body) {
            req.body = bytes.into();
        }
    }
    Ok(messages)
}

/// The paths (`spec.template.spec.containers[0].foo`) of the fields of `value` that
/// `schema` does not declare. With `patch`, keys starting with `$` (strategic merge
/// directives) are skipped and `null` values (deletions) are not descended into.
pub fn unknown_fields(defs: &Definitions, schema: &Value, value: &Value, patch: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut path = String::new();
    walk(defs, schema, value, &mut path, patch, &mut out, 0);
    out
}

fn resolve<'a>(defs: &'a Definitions, mut schema: &'a Value) -> &'a Value {
    for _ in 0..8 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/definitions/"))
            .and_then(|n| defs.get(n))
        {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// Appends `.key` (or `key` at the root) to `path`.
fn push_key(path: &mut String, key: &str) {
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(key);
}

/// Walks `value` against `schema`; `path` is the path of `value`, a buffer extended and
/// restored on the way down (paths are only copied for unknown fields).
fn walk(
    defs: &Definitions,
    schema: &Value,
    value: &Value,
    path: &mut String,
    patch: bool,
    out: &mut Vec<String>,
    depth: usize,
) {
    // Scalars have no fields: nothing to resolve.
    if depth > 64 || !(value.is_object() || value.is_array()) {
        return;
    }
    let schema = resolve(defs, schema);
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        return;
    }
    let len = path.len();
    match value {
        Value::Object(obj) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in obj {
                    if patch && k.starts_with('$') {
                        continue;
                    }
                    push_key(path, k);
                    match props.get(k) {
                        Some(s) => walk(defs, s, v, path, patch, out, depth + 1),
                        None => out.push(path.clone()),
                    }
                    path.truncate(len);
                }
            } else if let Some(ap) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                for (k, v) in obj {
                    if !(patch && k.starts_with('$')) {
                        push_key(path, k);
                        walk(defs, ap, v, path, patch, out, depth + 1);
                        path.truncate(len);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    use std::fmt::Write as _;
                    let _ = write!(path, "[{i}]");
                    walk(defs, s, item, path, patch, out, depth + 1);
                    path.truncate(len);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_with_kube_paths() {
        let defs = super::super::definitions().unwrap();
        let root = defs.get("io.k8s.api.apps.v1.Deployment").unwrap();
        let obj = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"a": "b"}, "bogus": 1},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {
                "containers": [{"name": "c", "image": "i", "imagePullPolicy": "Always", "colour": "red"}]
            }}}
        });
        assert_eq!(
            unknown_fields(defs, root, &obj, false),
            ["metadata.bogus", "spec.template.spec.containers[0].colour"]
        );
        let patch = json!({"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "c"}],
            "containers": [{"name": "c", "image": "j"}]}}}});
        assert!(unknown_fields(defs, root, &patch, true).is_empty());
    }
}
