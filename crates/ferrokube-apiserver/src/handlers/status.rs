//! `metav1.Status` errors as HTTP responses (JSON, or protobuf for a request on a
//! built-in resource that negotiated it), and the errors the HTTP layer itself raises
//! (unknown path, wrong method, unauthenticated, body too large, ...).

use bytes::Bytes;
use http::{header, Response, StatusCode};

use super::ResponseBody;
use crate::api::ApiError;

/// 404 for a path no handler serves, phrased as kube-apiserver does (with its empty
/// `details: {}`).
pub fn not_found_path() -> ApiError {
    crate::registry::errors::no_such_path()
}

/// 405 for a method the path does not serve.
pub fn method_not_allowed() -> ApiError {
    crate::registry::errors::method_not_allowed()
}

/// 401 for anonymous requests and unknown credentials.
pub fn unauthorized() -> ApiError {
    ApiError::new(401, "Unauthorized", "Unauthorized")
}

/// 400 with `message`.
pub fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "BadRequest", message)
}

/// 413 for a request body over the limit.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(413, "RequestEntityTooLarge", format!("Request entity too large: limit is {limit}"))
}

/// 406 when no acceptable representation exists.
pub fn not_acceptable(accept: &str) -> ApiError {
    ApiError::new(
        406,
        "NotAcceptable",
        format!(
            "the server was unable to respond with a content type that the client supports ({accept}); \
             supported: application/json, application/yaml, application/vnd.kubernetes.protobuf \
             (built-in types), application/json;as=Table;v=v1;g=meta.k8s.io"
        ),
    )
}

/// 406 of the router in front of kube-apiserver's built-in resources (go-restful),
/// when no `Accept` entry names a type the route produces: its own wording, wrapped
/// in a `Status` with empty `details`.
pub fn route_not_acceptable(available: &[&str]) -> ApiError {
    let mut e = ApiError::new(
        406,
        "NotAcceptable",
        format!("406: Not Acceptable\n\nAvailable representations: {}", available.join(", ")),
    );
    e.details = Some(serde_json::Value::Object(serde_json::Map::new()));
    e
}

/// 415 of the router in front of kube-apiserver's built-in resources (go-restful),
/// when the `Content-Type` of a patch is none the route consumes.
pub fn route_unsupported_media_type() -> ApiError {
    let mut e = ApiError::new(415, "UnsupportedMediaType", "415: Unsupported Media Type");
    e.details = Some(serde_json::Value::Object(serde_json::Map::new()));
    e
}

/// 406 of kube-apiserver's own negotiation (`negotiation.NewNotAcceptableError`): the
/// route matched but no `Accept` entry names a representation it can write.
pub fn only_accepted(accepted: &[&str]) -> ApiError {
    ApiError::new(406, "NotAcceptable", format!("only the following media types are accepted: {}", accepted.join(", ")))
}

/// 415 of kube-apiserver's own body decoding (`negotiation.NewUnsupportedMediaTypeError`).
pub fn unknown_body_format(accepted: &[&str]) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: {}",
            accepted.join(", ")
        ),
    )
}

/// 415 for a request body type the endpoint does not accept.
pub fn unsupported_media_type(content_type: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type:?})"),
    )
}

/// 500 for a bug on our side (never a panic).
pub fn internal(message: impl Into<String>) -> ApiError {
    ApiError::new(500, "InternalError", message)
}

/// Render `err` as a JSON `Status` response with its HTTP code.
pub fn error_response(err: &ApiError) -> Response<ResponseBody> {
    error_response_as(err, false)
}

/// Render `err` as a `Status` response with its HTTP code: in protobuf (a `v1 Status`
/// in kube's envelope, as kube-apiserver answers a client that negotiated protobuf) when
/// `protobuf`, else JSON.
pub fn error_response_as(err: &ApiError, protobuf: bool) -> Response<ResponseBody> {
    let status = err.to_status();
    let encoded =
        protobuf.then(|| ferrokube_apimachinery::protobuf::encode_body("v1", "Status", &status).ok()).flatten();
    let (body, ct) = match encoded {
        Some(pb) => (pb, super::negotiate::PROTOBUF),
        None => (serde_json::to_vec(&status).unwrap_or_default(), "application/json"),
    };
    let code = StatusCode::from_u16(err.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = Response::new(super::full(Bytes::from(body)));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, http::HeaderValue::from_static(ct));
    if let Some(secs) = err.details.as_ref().and_then(|d| d.get("retryAfterSeconds")).and_then(|v| v.as_u64()) {
        if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    resp
}
