//! Builders for the [`ApiError`]s the registry returns, phrased as kube-apiserver
//! phrases them (`k8s.io/apimachinery/pkg/api/errors`).

use serde_json::{json, Map, Value};

use crate::api::{ApiError, ResourceInfo};

/// `plural.group` (or `plural` for the core group), as in `deployments.apps "x" not found`.
pub fn qualified_resource(info: &ResourceInfo) -> String {
    if info.group.is_empty() {
        info.plural.clone()
    } else {
        format!("{}.{}", info.plural, info.group)
    }
}

fn details(name: &str, group: &str, kind: &str) -> Map<String, Value> {
    let mut d = Map::new();
    if !name.is_empty() {
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    if !kind.is_empty() {
        d.insert("kind".into(), json!(kind));
    }
    d
}

/// 404 `pods "x" not found`.
pub fn not_found(info: &ResourceInfo, name: &str) -> ApiError {
    not_found_in(&info.group, &info.plural, name)
}

/// 404 for a resource named by group and plural, e.g. `namespaces "x" not found`.
pub fn not_found_in(group: &str, plural: &str, name: &str) -> ApiError {
    let qr = if group.is_empty() { plural.to_owned() } else { format!("{plural}.{group}") };
    let mut e = ApiError::new(404, "NotFound", format!("{qr} \"{name}\" not found"));
    e.details = Some(Value::Object(details(name, group, plural)));
    e
}

/// 404 for a path the resource does not serve (e.g. an unknown subresource).
pub fn no_such_path() -> ApiError {
    with_empty_details(ApiError::new(404, "NotFound", "the server could not find the requested resource"))
}

/// 409 `deployments.apps "x" already exists`.
pub fn already_exists(info: &ResourceInfo, name: &str) -> ApiError {
    let mut e = ApiError::new(409, "AlreadyExists", format!("{} \"{name}\" already exists", qualified_resource(info)));
    e.details = Some(Value::Object(details(name, &info.group, &info.plural)));
    e
}

/// 409 `Operation cannot be fulfilled on deployments.apps "x": <why>`.
pub fn conflict(info: &ResourceInfo, name: &str, why: &str) -> ApiError {
    let mut e = ApiError::new(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on {} \"{name}\": {why}", qualified_resource(info)),
    );
    e.details = Some(Value::Object(details(name, &info.group, &info.plural)));
    e
}

/// 409 naming the kind instead of the resource (`ConfigMap "x"`, `Deployment.apps "x"`),
/// as kube-apiserver's delete preconditions word it.
pub fn conflict_on_kind(info: &ResourceInfo, name: &str, why: &str) -> ApiError {
    let qualified = if info.group.is_empty() { info.kind.clone() } else { format!("{}.{}", info.kind, info.group) };
    let mut e =
        ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on {qualified} \"{name}\": {why}"));
    e.details = Some(Value::Object(details(name, &info.group, &info.kind)));
    e
}

/// The optimistic-concurrency conflict message.
pub const MODIFIED: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// 400 BadRequest with `message`.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadRequest", message)
}

/// 405 MethodNotAllowed.
pub fn method_not_allowed() -> ApiError {
    with_empty_details(ApiError::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    ))
}

/// kube-apiserver's generic errors (unknown path, wrong method) carry `details: {}`: a
/// StatusDetails with every field empty.
fn with_empty_details(mut e: ApiError) -> ApiError {
    e.details = Some(Value::Object(Map::new()));
    e
}

/// 410 Gone, reason Expired.
pub fn expired(message: impl Into<String>) -> ApiError {
    ApiError::new(410, "Expired", message)
}

/// 500 InternalError `Internal error occurred: <message>`.
pub fn internal(message: &str) -> ApiError {
    let mut e = ApiError::new(500, "InternalError", format!("Internal error occurred: {message}"));
    e.details = Some(json!({"causes": [{"message": message}]}));
    e
}

/// 504 Timeout for a resourceVersion newer than the store's.
pub fn too_large_rv(requested: u64, current: u64) -> ApiError {
    let mut e = ApiError::new(504, "Timeout", format!("Too large resource version: {requested}, current: {current}"));
    e.details = Some(
        json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
    );
    e
}

/// 403 Forbidden `pods "x" is forbidden: <why>`.
pub fn forbidden(info: &ResourceInfo, name: &str, why: &str) -> ApiError {
    let mut e = ApiError::new(403, "Forbidden", format!("{} \"{name}\" is forbidden: {why}", qualified_resource(info)));
    e.details = Some(Value::Object(details(name, &info.group, &info.plural)));
    e
}

/// 415 for a body (usually a patch) of an unsupported media type.
pub fn unsupported_media_type(content_type: &str) -> ApiError {
    let _ = content_type;
    ApiError::new(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, \
         application/strategic-merge-patch+json",
    )
}

/// 422 with a generic message and the underlying error as a cause, as kube-apiserver
/// reports a failed JSON patch.
pub fn unprocessable(message: &str) -> ApiError {
    let mut e = ApiError::new(422, "Invalid", "the server rejected our request due to an error in our request");
    e.details = Some(json!({"causes": [{"reason": "UnexpectedServerResponse", "message": message}]}));
    e
}

/// 422 as kube-apiserver answers a JSON patch that does not apply: its generic text
/// and empty `details` (`NewGenericServerResponse` with no cause).
pub fn generic_unprocessable() -> ApiError {
    with_empty_details(ApiError::new(422, "Invalid", "the server rejected our request due to an error in our request"))
}

/// One field validation error (`k8s.io/apimachinery/pkg/util/validation/field.Error`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueForbidden`, ...
    pub reason: &'static str,
    /// Path of the field, e.g. `metadata.name`.
    pub field: String,
    /// The error body, e.g. `Invalid value: "x": must be ...`.
    pub body: String,
}

impl FieldError {
    /// `field: Invalid value: <value>: detail`.
    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        FieldError {
            reason: "FieldValueInvalid",
            field: field.to_owned(),
            body: format!("Invalid value: {value}: {detail}"),
        }
    }

    /// `field: Required value: detail`.
    pub fn required(field: &str, detail: &str) -> Self {
        let body = if detail.is_empty() { "Required value".to_owned() } else { format!("Required value: {detail}") };
        FieldError { reason: "FieldValueRequired", field: field.to_owned(), body }
    }

    /// `field: Duplicate value: <value>`.
    pub fn duplicate(field: &str, value: &Value) -> Self {
        FieldError { reason: "FieldValueDuplicate", field: field.to_owned(), body: format!("Duplicate value: {value}") }
    }

    /// `field: Forbidden: detail`.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        FieldError { reason: "FieldValueForbidden", field: field.to_owned(), body: format!("Forbidden: {detail}") }
    }

    /// `field: Unsupported value: "v": supported values: "a", "b"`.
    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            reason: "FieldValueNotSupported",
            field: field.to_owned(),
            body: format!("Unsupported value: {value:?}: supported values: {}", list.join(", ")),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body)
    }
}

/// 422 Invalid `Kind.group "name" is invalid: <errors>` with field causes.
pub fn invalid(info: &ResourceInfo, name: &str, errors: &[FieldError]) -> ApiError {
    invalid_kind(&info.group, &info.kind, name, errors)
}

/// 422 Invalid for an arbitrary group and kind (e.g. `ListOptions.meta.k8s.io`).
pub fn invalid_kind(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let qk = if group.is_empty() { kind.to_owned() } else { format!("{kind}.{group}") };
    let list = match errors {
        [one] => one.to_string(),
        many => format!("[{}]", many.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")),
    };
    let mut e = ApiError::new(422, "Invalid", format!("{qk} \"{name}\" is invalid: {list}"));
    let mut d = Map::new();
    if !name.is_empty() {
        // kube's StatusDetails.name is omitempty.
        d.insert("name".into(), json!(name));
    }
    if !group.is_empty() {
        d.insert("group".into(), json!(group));
    }
    d.insert("kind".into(), json!(kind));
    let causes: Vec<Value> =
        errors.iter().map(|fe| json!({"reason": fe.reason, "message": fe.body, "field": fe.field})).collect();
    d.insert("causes".into(), Value::Array(causes));
    e.details = Some(Value::Object(d));
    e
}
