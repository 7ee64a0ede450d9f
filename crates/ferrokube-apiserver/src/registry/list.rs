//! GET of one object and of a collection: selectors, `limit`/`continue` paging over a
//! consistent snapshot, `resourceVersion`/`resourceVersionMatch`.

use base64::Engine;
use serde_json::{json, Value};

use super::errors::{self, FieldError};
use super::meta::resource_key;
use super::selectors::Filter;
use super::{namespace_prefix, request_key, Registry};
use crate::api::{ApiError, ApiRequest, ServedResponse, SharedList};
use crate::storage::{ListQuery, StoreError};

const CONTINUE_EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.";

/// Encodes a continue token: the list's resourceVersion and the key to start after,
/// in kube-apiserver's format (base64url of `{"v","rv","start"}`).
pub(crate) fn encode_continue(rv: u64, last_key: &str) -> String {
    let raw = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{last_key}\u{0}")});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw.to_string())
}

/// Decodes a continue token into (resourceVersion, start key), refusing a bad one with
/// kube-apiserver's words: `invalid continue token: continue key is not valid...`, the
/// base64 and JSON errors as Go's decoders phrase them.
pub(crate) fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    const INVALID: &str = "continue key is not valid";
    let bad = |why: String| errors::bad_request(format!("invalid continue token: {why}"));
    // Go's base64.RawURLEncoding: no padding, and it names the first byte it cannot use.
    let alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if let Some(at) = token.bytes().position(|b| !alphabet(b)) {
        return Err(bad(format!("{INVALID}: illegal base64 data at input byte {at}")));
    }
    if token.len() % 4 == 1 {
        return Err(bad(format!("{INVALID}: illegal base64 data at input byte {}", token.len() - 1)));
    }
    // Go's decoder ignores the unused bits of the last character.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    let raw = lenient.decode(token).map_err(|e| bad(format!("{INVALID}: {e}")))?;
    if let Err(syntax) = crate::object::decode_errors::check_json_syntax(&raw) {
        return Err(bad(format!("{INVALID}: {syntax}")));
    }
    let v: Value = serde_json::from_slice(&raw).map_err(|e| bad(format!("{INVALID}: {e}")))?;
    let go_type = |v: &Value| match v {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) | Value::Null => "object",
    };
    let Some(fields) = v.as_object() else {
        if v.is_null() {
            return Err(bad(format!("{INVALID}: server does not recognize this encoded version ")));
        }
        return Err(bad(format!(
            "{INVALID}: json: cannot unmarshal {} into Go value of type storage.continueToken",
            go_type(&v)
        )));
    };
    for (field, want) in [("v", "string"), ("rv", "int64"), ("start", "string")] {
        let Some(value) = fields.get(field).filter(|v| !v.is_null()) else { continue };
        let fits = if want == "string" { value.is_string() } else { value.is_i64() };
        if !fits {
            return Err(bad(format!(
                "{INVALID}: json: cannot unmarshal {} into Go struct field continueToken.{field} of type {want}",
                go_type(value)
            )));
        }
    }
    let version = fields.get("v").and_then(Value::as_str).unwrap_or("");
    if version != "meta.k8s.io/v1" {
        return Err(bad(format!("{INVALID}: server does not recognize this encoded version {version}")));
    }
    let rv = fields.get("rv").and_then(Value::as_i64).unwrap_or(0);
    if rv == 0 {
        return Err(bad(format!("{INVALID}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")));
    }
    let start = fields.get("start").and_then(Value::as_str).unwrap_or("");
    if start.is_empty() {
        return Err(bad(format!("{INVALID}: encoded start key empty (version meta.k8s.io/v1)")));
    }
    // kube refuses a start key that path cleaning would change (no `..`, `//`, ...).
    let rooted = if start.starts_with('/') { start.to_owned() } else { format!("/{start}") };
    let unclean = rooted.len() > 1 && rooted.ends_with('/')
        || rooted.contains("//")
        || rooted.split('/').any(|seg| seg == "." || seg == "..");
    if unclean {
        return Err(bad(format!("{INVALID}: {start}")));
    }
    let rv = u64::try_from(rv)
        .map_err(|_| bad(format!("{INVALID}: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")))?;
    Ok((rv, rooted[1..].to_owned()))
}

/// Parses a resourceVersion query value.
pub(crate) fn parse_rv(s: &str) -> Result<u64, ApiError> {
    s.parse::<u64>().map_err(|_| {
        errors::invalid_kind(
            "meta.k8s.io",
            "ListOptions",
            "",
            &[FieldError::invalid("resourceVersion", &json!(s), "must be a non-negative integer")],
        )
    })
}

/// Parses a watch's resourceVersion as kube's storage does: Go's `strconv.ParseUint`,
/// whose error kube reports as a 500 with no reason.
pub(crate) fn parse_watch_rv(s: &str) -> Result<u64, ApiError> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match s.parse::<u64>() {
        Ok(rv) if digits => Ok(rv),
        _ => {
            let why = if digits { "value out of range" } else { "invalid syntax" };
            let q = go_quote(s);
            Err(ApiError::new(
                500,
                "",
                format!("resourceVersion: Invalid value: {q}: strconv.ParseUint: parsing {q}: {why}"),
            ))
        }
    }
}

/// `metav1.ListOptions` validation of kube-apiserver (list and watch differ).
/// A query parameter as kube's parameter codec reads an `int64`
/// (`runtime.Convert_Slice_string_To_int64`): Go's `strconv.ParseInt`, its error text the
/// 400's message. `None` when the parameter is absent.
pub(crate) fn query_int64(req: &ApiRequest, key: &str) -> Result<Option<i64>, ApiError> {
    let Some(value) = req.query_param(key) else { return Ok(None) };
    value.parse::<i64>().map(Some).map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
            _ => "invalid syntax",
        };
        errors::bad_request(format!("strconv.ParseInt: parsing {}: {why}", go_quote(value)))
    })
}

/// A query parameter as kube's parameter codec reads a `bool`
/// (`runtime.Convert_Slice_string_To_bool`): false only when absent, `0` or `false` (any
/// case); `watch=maybe` watches.
pub(crate) fn query_bool(req: &ApiRequest, key: &str) -> Option<bool> {
    req.query_param(key).map(|v| !(v == "0" || v.eq_ignore_ascii_case("false")))
}

/// Go's `%q` of a string (enough for the ASCII a query carries).
fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

pub(crate) fn validate_list_options(req: &ApiRequest, watch: bool) -> Result<(), ApiError> {
    // Decoding the options fails first, as in kube's parameter codec.
    query_int64(req, "limit")?;
    query_int64(req, "timeoutSeconds")?;
    let rv = req.query_param("resourceVersion").unwrap_or("");
    let m = req.query_param("resourceVersionMatch").unwrap_or("");
    let cont = req.query_param("continue").unwrap_or("");
    let sie = req.query_param("sendInitialEvents");
    let mut errs = Vec::new();
    if watch {
        if sie.is_some() && m != "NotOlderThan" {
            errs.push(FieldError::forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        if !m.is_empty() {
            if sie.is_none() {
                errs.push(FieldError::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if m != "NotOlderThan" {
                errs.push(FieldError::not_supported("resourceVersionMatch", m, &["NotOlderThan"]));
            }
            if !cont.is_empty() {
                errs.push(FieldError::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
    } else {
        if !m.is_empty() {
            if rv.is_empty() {
                errs.push(FieldError::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !cont.is_empty() {
                errs.push(FieldError::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            match m {
                "Exact" if rv == "0" => errs.push(FieldError::forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                )),
                "Exact" | "NotOlderThan" => {}
                other => {
                    errs.push(FieldError::not_supported("resourceVersionMatch", other, &["Exact", "NotOlderThan", ""]))
                }
            }
        }
        if sie.is_some() {
            errs.push(FieldError::forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list"));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errors::invalid_kind("meta.k8s.io", "ListOptions", "", &errs))
    }
}

impl Registry {
    /// GET of one object, shared with the store when reading changes nothing.
    pub(crate) fn get(&self, req: &ApiRequest) -> Result<ServedResponse, ApiError> {
        let info = &*req.resource;
        match req.subresource.as_deref() {
            None => {}
            Some("status") if info.has_status => {}
            Some("approval") if super::update::is_csr(info) => {}
            Some("scale") if info.has_scale => return self.get_scale(req).map(ServedResponse::Api),
            Some(_) => return Err(errors::no_such_path()),
        }
        let (name, key) = request_key(req)?;
        let obj = self.store.get(&resource_key(info), &key).ok_or_else(|| errors::not_found(info, &name))?;
        Ok(ServedResponse::Object {
            code: 200,
            object: Self::read_shared(info, self.read_defaults(info).as_deref(), &obj),
        })
    }

    /// LIST; the items are shared with the store when reading changes nothing.
    pub(crate) fn list(&self, req: &ApiRequest) -> Result<ServedResponse, ApiError> {
        let info = &*req.resource;
        if req.subresource.is_some() {
            return Err(errors::method_not_allowed());
        }
        validate_list_options(req, false)?;
        let filter = Filter::from_request(req)?;
        let limit = query_int64(req, "limit")?.filter(|l| *l > 0).map(|l| l as usize);
        let rv = req.query_param("resourceVersion").unwrap_or("");
        let rv_match = req.query_param("resourceVersionMatch").unwrap_or("");
        let cont = req.query_param("continue").unwrap_or("");
        let current = self.store.current_rv();
        let (at_rv, start) = if !cont.is_empty() {
            if !rv.is_empty() && rv != "0" {
                return Err(errors::bad_request("specifying resource version is not allowed when using continue"));
            }
            let (crv, start) = decode_continue(cont)?;
            (Some(crv), Some(start))
        } else {
            match (rv, rv_match) {
                ("", _) | ("0", _) => (None, None),
                (r, "NotOlderThan") => {
                    let r = parse_rv(r)?;
                    if r > current {
                        return Err(errors::too_large_rv(r, current));
                    }
                    (None, None)
                }
                (r, "Exact") => (Some(parse_rv(r)?), None),
                // Unset match: "not older than" without limit, "exact" with one.
                (r, _) => {
                    let r = parse_rv(r)?;
                    if limit.is_some() {
                        (Some(r), None)
                    } else {
                        if r > current {
                            return Err(errors::too_large_rv(r, current));
                        }
                        (None, None)
                    }
                }
            }
        };
        let prefix = namespace_prefix(req);
        let matches = |o: &serde_json::Value| filter.matches(o);
        let query = ListQuery { prefix: prefix.as_deref(), start: start.as_deref(), at_rv, limit, filter: &matches };
        let page = match self.store.list(&resource_key(info), &query) {
            Ok(p) => p,
            Err(StoreError::Expired { requested, oldest }) => {
                return Err(if cont.is_empty() {
                    errors::expired(format!("too old resource version: {requested} ({oldest})"))
                } else {
                    errors::expired(CONTINUE_EXPIRED)
                })
            }
            Err(StoreError::TooLarge { requested, current }) => return Err(errors::too_large_rv(requested, current)),
            Err(e) => return Err(errors::internal(&e.to_string())),
        };
        let read_defaults = self.read_defaults(info);
        let items: Vec<_> = page.items.iter().map(|o| Self::read_shared(info, read_defaults.as_deref(), o)).collect();
        let mut md = serde_json::Map::new();
        md.insert("resourceVersion".into(), json!(page.rv.to_string()));
        if let Some(last) = &page.last_key {
            md.insert("continue".into(), json!(encode_continue(page.rv, last)));
            if filter.is_empty() {
                if let Some(r) = page.remaining {
                    md.insert("remainingItemCount".into(), json!(r));
                }
            }
        } else if read_defaults.is_some() || self.custom_version(info).is_some() {
            // A custom resource list is unstructured in kube: its `continue` is always
            // written, empty on the last page.
            md.insert("continue".into(), json!(""));
        }
        Ok(ServedResponse::List(SharedList {
            kind: format!("{}List", info.kind),
            api_version: info.api_version(),
            metadata: Value::Object(md),
            items,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_roundtrip() {
        let t = encode_continue(42, "ns/a");
        assert_eq!(decode_continue(&t).unwrap(), (42, "ns/a\u{0}".to_owned()));
        assert_eq!(decode_continue("!!!").unwrap_err().code, 400);
        assert_eq!(decode_continue("e30").unwrap_err().code, 400);
        assert_eq!(
            decode_continue("not-a-token").unwrap_err().message,
            "invalid continue token: continue key is not valid: invalid character '\\u009e' looking for beginning of value"
        );
        assert_eq!(
            decode_continue("!!!").unwrap_err().message,
            "invalid continue token: continue key is not valid: illegal base64 data at input byte 0"
        );
    }
}
