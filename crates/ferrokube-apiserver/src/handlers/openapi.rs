//! `GET /openapi/v2` and `/openapi/v3[/...]` over HTTP: content negotiation of the v2
//! document (JSON, or gnostic protobuf for kubectl), ETags and `If-None-Match` (304),
//! caching headers, kube's 301 to a document's current hash and its bare 404. What the
//! documents are is `crate::openapi`'s business ([`OpenApi::answer`]).

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode, Uri};

use super::{full, ResponseBody};
use crate::api::ApiError;
use crate::catalog::Catalog;
use crate::openapi::{Answer, OpenApi, V2_PROTOBUF, V2_PROTOBUF_CONTENT_TYPE};

/// Answers an OpenAPI request (`headers` are the request's: `Accept`, `If-None-Match`).
pub fn serve(
    openapi: &OpenApi,
    catalog: &Catalog,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response<ResponseBody>, ApiError> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let wants_v2_protobuf = accept.contains(V2_PROTOBUF) || accept.contains(V2_PROTOBUF_CONTENT_TYPE);
    let if_none_match = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    Ok(match openapi.answer(catalog, uri.path(), uri.query(), wants_v2_protobuf)? {
        Answer::Document { bytes, content_type, etag, immutable } => {
            respond(bytes, content_type, &etag, if_none_match, immutable)
        }
        Answer::MovedTo(location) => {
            let mut resp = Response::new(full(Bytes::new()));
            *resp.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(v) = HeaderValue::from_str(&location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            resp
        }
        Answer::NotFound => {
            // No body, no Content-Type, as kube's OpenAPI v3 handler answers.
            let mut resp = Response::new(full(Bytes::new()));
            *resp.status_mut() = StatusCode::NOT_FOUND;
            resp
        }
    })
}

/// A 200 (or 304 when `if_none_match` matches the ETag) with caching headers; no ETag
/// when `etag` is empty.
fn respond(
    bytes: Bytes,
    content_type: &'static str,
    etag: &str,
    if_none_match: Option<&str>,
    immutable: bool,
) -> Response<ResponseBody> {
    let quoted = format!("\"{etag}\"");
    let not_modified =
        !etag.is_empty() && if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == quoted || t.trim() == "*"));
    let mut resp = if not_modified {
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let mut r = Response::new(full(bytes));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    if !etag.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&quoted) {
            resp.headers_mut().insert(header::ETAG, v);
        }
    }
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, immutable" } else { "no-cache, private" }),
    );
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    resp
}

/// Adds one `Warning: 299 - "<text>"` header per warning to `resp` (field validation's
/// unknown and duplicate fields, as kube-apiserver sends them).
pub fn add_warnings<B>(resp: &mut Response<B>, warnings: &[String]) {
    for w in warnings {
        let quoted = w.replace('\\', "\\\\").replace('"', "\\\"");
        if let Ok(v) = HeaderValue::from_str(&format!("299 - \"{quoted}\"")) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
}
