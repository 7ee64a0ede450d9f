//! PATCH requests: decoding the body by content type and running the algorithms of
//! [`crate::patch`] (JSON patch, merge patch, strategic merge patch, server-side apply)
//! with the resource's strategic-merge schema, turning their errors into kube-apiserver's
//! Status errors.
//!
//! ```text
//! Registry::patch -> patch_type_of(Content-Type) -> apply_to(current) for json/merge/
//! strategic, or server-side apply (create when missing) -> guaranteed_update -> Store
//! ```

use serde_json::Value;

use super::errors;
use crate::api::{ApiError, ApiRequest, ResourceInfo};
use crate::patch::{self as algorithms, apply as ssa, schema, PatchError};

pub use crate::patch::PatchType;

/// The patch type of a request's `Content-Type`; 415 UnsupportedMediaType otherwise.
pub fn patch_type_of(content_type: Option<&str>) -> Result<PatchType, ApiError> {
    let ct = content_type.unwrap_or("");
    PatchType::from_content_type(ct).ok_or_else(|| errors::unsupported_media_type(ct))
}

/// kube-apiserver's checks of a PATCH's options before anything else (422 Invalid
/// `PatchOptions.meta.k8s.io`): an apply needs a `fieldManager`, and `force` (even
/// `force=false`) is only for apply.
pub fn validate_patch_options(req: &ApiRequest, pt: PatchType) -> Result<(), ApiError> {
    let mut errs = Vec::new();
    if pt == PatchType::Apply {
        if req.query_param("fieldManager").unwrap_or("").is_empty() {
            errs.push(errors::FieldError::required("fieldManager", "is required for apply patch"));
        }
    } else if req.query_param("force").is_some() {
        errs.push(errors::FieldError::forbidden("force", "may not be specified for non-apply patch"));
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid_kind("meta.k8s.io", "PatchOptions", "", &errs))
    }
}

/// The strategic-merge schema of a resource's objects; `None` for types without one
/// (custom resources), for which strategic merge behaves as a merge patch.
pub fn root_schema(info: &ResourceInfo) -> Option<&'static schema::TypeSchema> {
    schema::root_type(&info.group, &info.kind)
}

/// Applies a JSON, merge or strategic merge patch (raw body) to `target`.
pub fn apply_to(
    pt: PatchType,
    target: &Value,
    body: &[u8],
    root: Option<&schema::TypeSchema>,
) -> Result<Value, ApiError> {
    // kube-apiserver first checks the body is JSON at all, then decodes it (with its
    // default field validation, Warn) into the patch's Go type.
    if crate::object::decode_errors::check_json_syntax(body).is_err() {
        return Err(errors::bad_request("invalid JSON patch"));
    }
    let patch: Value =
        serde_json::from_slice(body).map_err(|e| errors::bad_request(format!("error decoding patch: {e}")))?;
    if let Some(why) = decode_error(pt, &patch) {
        return Err(errors::bad_request(format!("error decoding patch: {why}")));
    }
    let patched = algorithms::apply_patch(pt, target, &patch, root).map_err(|e| match pt {
        // Whatever a decoded JSON patch fails on, kube answers the generic 422.
        PatchType::JsonPatch => errors::generic_unprocessable(),
        _ => patch_error(e),
    })?;
    if !patched.is_object() {
        return Err(errors::unprocessable("the patched object is not a JSON object"));
    }
    Ok(patched)
}

/// What Go's `json.Unmarshal` says decoding a JSON or merge patch into the Go type
/// kube-apiserver uses (`[]handlers.jsonPatchOp`, `map[string]interface {}`).
fn decode_error(pt: PatchType, patch: &Value) -> Option<String> {
    let go_type = |v: &Value| match v {
        Value::Null => None,
        Value::Bool(_) => Some("bool"),
        Value::Number(_) => Some("number"),
        Value::String(_) => Some("string"),
        Value::Array(_) => Some("array"),
        Value::Object(_) => Some("object"),
    };
    match pt {
        PatchType::JsonPatch => match patch {
            Value::Array(ops) => ops.iter().find_map(|op| match op {
                Value::Object(fields) => ["op", "path", "from"].iter().find_map(|f| {
                    let v = fields.get(*f)?;
                    let got = go_type(v).filter(|t| *t != "string")?;
                    Some(format!("json: cannot unmarshal {got} into Go struct field jsonPatchOp.{f} of type string"))
                }),
                other => go_type(other)
                    .map(|got| format!("json: cannot unmarshal {got} into Go value of type handlers.jsonPatchOp")),
            }),
            other => go_type(other)
                .map(|got| format!("json: cannot unmarshal {got} into Go value of type []handlers.jsonPatchOp")),
        },
        PatchType::MergePatch => go_type(patch)
            .filter(|t| *t != "object")
            .map(|got| format!("json: cannot unmarshal {got} into Go value of type map[string]interface {{}}")),
        _ => None,
    }
}

/// A patch algorithm's error as the Status kube-apiserver answers with (an unknown
/// `$patch` directive: a 500 with no reason, as kube passes that error on).
pub fn patch_error(err: PatchError) -> ApiError {
    let code = err.http_status();
    let reason = match code {
        422 => "Invalid",
        500 => "",
        _ => "BadRequest",
    };
    ApiError::new(code, reason, err.to_string())
}

/// What a server-side apply request asks for: the configuration and who applies it.
pub struct ApplyRequest {
    /// The applied configuration (YAML or JSON body, as JSON).
    pub config: Value,
    /// `fieldManager` (required for apply).
    pub manager: String,
    /// `force=true`: take ownership of conflicting fields.
    pub force: bool,
}

impl ApplyRequest {
    /// Reads the body and the `fieldManager` / `force` parameters of an apply PATCH.
    pub fn from_request(req: &ApiRequest) -> Result<ApplyRequest, ApiError> {
        let config: Value = serde_yaml_ng::from_slice(&req.body)
            .map_err(|e| errors::bad_request(format!("error decoding YAML: {e}")))?;
        if !config.is_object() {
            return Err(errors::bad_request("error decoding YAML: the applied configuration must be an object"));
        }
        let manager = req.query_param("fieldManager").unwrap_or("").to_owned();
        if manager.is_empty() {
            validate_patch_options(req, PatchType::Apply)?;
        }
        let force = match req.query_param("force") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(errors::bad_request(format!("invalid value for force: {other:?}"))),
        };
        Ok(ApplyRequest { config, manager, force })
    }

    /// Runs server-side apply against `live` (`None` when the object does not exist).
    pub fn apply(&self, live: Option<&Value>, root: Option<&schema::TypeSchema>) -> Result<Value, ApiError> {
        Self::outcome(ssa::server_side_apply(live, &self.config, &self.manager, self.force, root))
    }

    /// Runs server-side apply through the `status` subresource against `live`: only
    /// the configuration's `status` is applied.
    pub fn apply_status(&self, live: &Value, root: Option<&schema::TypeSchema>) -> Result<Value, ApiError> {
        Self::outcome(ssa::server_side_apply_status(live, &self.config, &self.manager, self.force, root))
    }

    fn outcome(result: Result<ssa::ApplyOutcome, ssa::ApplyError>) -> Result<Value, ApiError> {
        match result {
            Ok(outcome) => Ok(outcome.object),
            Err(ssa::ApplyError::Invalid(err)) => Err(patch_error(err)),
            Err(ssa::ApplyError::Conflict(conflict)) => Err(ApiError {
                code: 409,
                reason: "Conflict".to_owned(),
                message: conflict.message(),
                details: Some(serde_json::json!({ "causes": conflict.causes() })),
            }),
        }
    }
}
