//! JSON patch (RFC 6902), the `application/json-patch+json` content type.
//!
//! A JSON patch is an array of operations (`add`, `remove`, `replace`, `move`, `copy`,
//! `test`) addressed by JSON pointers (RFC 6901: `/spec/containers/0/image`, with `~1`
//! for `/` and `~0` for `~` inside a reference token, and `-` for "after the last
//! element" of an array in `add`). The operations apply in order; if one fails the whole
//! patch fails and the original document is left untouched (the functions here never
//! modify their input).
//!
//! ```
//! use ferrokube_apiserver::patch::json_patch::apply_json_patch;
//! use serde_json::json;
//! let doc = json!({"spec": {"replicas": 1}});
//! let patch = json!([{"op": "replace", "path": "/spec/replicas", "value": 3}]);
//! assert_eq!(apply_json_patch(&doc, &patch).unwrap(), json!({"spec": {"replicas": 3}}));
//! ```

use serde_json::Value;

use super::{json_eq, short, PatchError};

/// Applies a JSON patch document (an array of operations) to `doc` and returns the
/// patched document.
///
/// Errors: [`PatchError::Malformed`] when `patch` is not an array of operation objects
/// with the members their `op` requires; [`PatchError::JsonPatchOperation`] naming the
/// operation's index and path when an operation cannot be applied (missing path,
/// index out of bounds, moving a value into itself); [`PatchError::TestFailed`] when a
/// `test` operation finds a different value.
pub fn apply_json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = patch.as_array().ok_or_else(|| PatchError::Malformed {
        kind: "json",
        message: "a JSON patch must be an array of operations".into(),
    })?;
    let mut doc = doc.clone();
    for (index, op) in ops.iter().enumerate() {
        apply_op(&mut doc, index, op)?;
    }
    Ok(doc)
}

/// Splits a JSON pointer into its unescaped reference tokens. `""` is the whole
/// document (no tokens).
pub fn parse_pointer(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest =
        pointer.strip_prefix('/').ok_or_else(|| format!("JSON pointer {pointer:?} must be empty or start with '/'"))?;
    rest.split('/').map(unescape_token).collect()
}

fn unescape_token(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => {
                    return Err(format!(
                        "invalid escape in JSON pointer token {token:?}: '~' must be followed by '0' or '1'"
                    ))
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn apply_op(doc: &mut Value, index: usize, op: &Value) -> Result<(), PatchError> {
    let obj = op.as_object().ok_or_else(|| PatchError::Malformed {
        kind: "json",
        message: format!("operation {index} is not a JSON object"),
    })?;
    let name = obj.get("op").and_then(Value::as_str).unwrap_or("?").to_string();
    let path = obj.get("path").and_then(Value::as_str);
    let fail = |path: &str, message: String| PatchError::JsonPatchOperation {
        index,
        op: name.clone(),
        path: path.to_string(),
        message,
    };
    let Some(path) = path else {
        return Err(fail("", "missing or non-string \"path\" member".into()));
    };
    let tokens = parse_pointer(path).map_err(|m| fail(path, m))?;
    let value = || obj.get("value").cloned().ok_or_else(|| fail(path, "missing \"value\" member".into()));
    let from = || -> Result<(String, Vec<String>), PatchError> {
        let from = obj
            .get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| fail(path, "missing or non-string \"from\" member".into()))?;
        let tokens = parse_pointer(from).map_err(|m| fail(path, format!("from: {m}")))?;
        Ok((from.to_string(), tokens))
    };
    match name.as_str() {
        "add" => add(doc, &tokens, value()?).map_err(|m| fail(path, m)),
        "remove" => remove(doc, &tokens).map(drop).map_err(|m| fail(path, m)),
        "replace" => {
            let v = value()?;
            let target = get_mut(doc, &tokens).map_err(|m| fail(path, m))?;
            *target = v;
            Ok(())
        }
        "move" => {
            let (from_str, from_tokens) = from()?;
            if tokens.len() > from_tokens.len() && tokens[..from_tokens.len()] == from_tokens[..] {
                return Err(fail(path, format!("cannot move {from_str:?} into its own child")));
            }
            let v = remove(doc, &from_tokens).map_err(|m| fail(path, format!("from {from_str:?}: {m}")))?;
            add(doc, &tokens, v).map_err(|m| fail(path, m))
        }
        "copy" => {
            let (from_str, from_tokens) = from()?;
            let v = get(doc, &from_tokens).map_err(|m| fail(path, format!("from {from_str:?}: {m}")))?.clone();
            add(doc, &tokens, v).map_err(|m| fail(path, m))
        }
        "test" => {
            let expected = value()?;
            let actual = get(doc, &tokens).map_err(|m| fail(path, m))?;
            if json_eq(actual, &expected) {
                Ok(())
            } else {
                Err(PatchError::TestFailed {
                    index,
                    path: path.to_string(),
                    message: format!("expected {}, found {}", short(&expected), short(actual)),
                })
            }
        }
        "?" => Err(fail(path, "missing or non-string \"op\" member".into())),
        other => Err(fail(path, format!("unknown operation {other:?}"))),
    }
}

/// Parses an array index token for reading or replacing: `0`, `1`, ... without leading
/// zeros, and `< len`.
fn array_index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let valid =
        !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) && (token == "0" || !token.starts_with('0'));
    let idx: usize = if valid {
        token.parse().map_err(|_| format!("array index {token:?} is too large"))?
    } else {
        return Err(format!("{token:?} is not a valid array index"));
    };
    let max = if allow_end { len } else { len.saturating_sub(1) };
    if idx > max || (!allow_end && len == 0) {
        return Err(format!("array index {idx} is out of bounds (length {len})"));
    }
    Ok(idx)
}

fn get<'a>(doc: &'a Value, tokens: &[String]) -> Result<&'a Value, String> {
    let mut cur = doc;
    for (depth, t) in tokens.iter().enumerate() {
        cur = match cur {
            Value::Object(m) => m.get(t).ok_or_else(|| missing(tokens, depth))?,
            Value::Array(a) => &a[array_index(t, a.len(), false)?],
            _ => return Err(missing(tokens, depth)),
        };
    }
    Ok(cur)
}

fn get_mut<'a>(doc: &'a mut Value, tokens: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = doc;
    for (depth, t) in tokens.iter().enumerate() {
        cur = match cur {
            Value::Object(m) => m.get_mut(t).ok_or_else(|| missing(tokens, depth))?,
            Value::Array(a) => {
                let i = array_index(t, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(missing(tokens, depth)),
        };
    }
    Ok(cur)
}

fn missing(tokens: &[String], depth: usize) -> String {
    let prefix: Vec<String> = tokens[..=depth].iter().map(|t| t.replace('~', "~0").replace('/', "~1")).collect();
    format!("path /{} does not exist", prefix.join("/"))
}

fn add(doc: &mut Value, tokens: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent_tokens)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err("the parent of the target is not an object or array".into()),
    }
}

fn remove(doc: &mut Value, tokens: &[String]) -> Result<Value, String> {
    let Some((last, parent_tokens)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match get_mut(doc, parent_tokens)? {
        Value::Object(m) => m.remove(last).ok_or_else(|| missing(tokens, tokens.len() - 1)),
        Value::Array(a) => {
            let i = array_index(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(missing(tokens, tokens.len() - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(doc: Value, patch: Value) -> Result<Value, PatchError> {
        apply_json_patch(&doc, &patch)
    }

    #[test]
    fn add_to_object_and_array() {
        let doc = json!({"a": {"b": [1, 2]}});
        assert_eq!(
            run(doc.clone(), json!([{"op": "add", "path": "/a/c", "value": "x"}])).unwrap(),
            json!({"a": {"b": [1, 2], "c": "x"}})
        );
        assert_eq!(
            run(doc.clone(), json!([{"op": "add", "path": "/a/b/1", "value": 9}])).unwrap(),
            json!({"a": {"b": [1, 9, 2]}})
        );
        assert_eq!(
            run(doc.clone(), json!([{"op": "add", "path": "/a/b/-", "value": 3}])).unwrap(),
            json!({"a": {"b": [1, 2, 3]}})
        );
        assert_eq!(run(doc, json!([{"op": "add", "path": "", "value": 1}])).unwrap(), json!(1));
    }

    #[test]
    fn remove_replace_move_copy() {
        let doc = json!({"a": 1, "b": [1, 2, 3], "c": {"d": "e"}});
        assert_eq!(
            run(doc.clone(), json!([{"op": "remove", "path": "/b/1"}, {"op": "remove", "path": "/a"}])).unwrap(),
            json!({"b": [1, 3], "c": {"d": "e"}})
        );
        assert_eq!(
            run(doc.clone(), json!([{"op": "replace", "path": "/c/d", "value": null}])).unwrap(),
            json!({"a": 1, "b": [1, 2, 3], "c": {"d": null}})
        );
        assert_eq!(
            run(doc.clone(), json!([{"op": "move", "from": "/c/d", "path": "/z"}])).unwrap(),
            json!({"a": 1, "b": [1, 2, 3], "c": {}, "z": "e"})
        );
        assert_eq!(
            run(doc.clone(), json!([{"op": "copy", "from": "/b", "path": "/c/b"}])).unwrap(),
            json!({"a": 1, "b": [1, 2, 3], "c": {"d": "e", "b": [1, 2, 3]}})
        );
        assert_eq!(run(doc, json!([{"op": "move", "from": "/b/0", "path": "/b/-"}])).unwrap()["b"], json!([2, 3, 1]));
    }

    #[test]
    fn pointer_escapes() {
        let doc = json!({"metadata": {"annotations": {"example.com/x": "1", "a~b": "2"}}});
        let out = run(
            doc,
            json!([
                {"op": "replace", "path": "/metadata/annotations/example.com~1x", "value": "3"},
                {"op": "remove", "path": "/metadata/annotations/a~0b"}
            ]),
        )
        .unwrap();
        assert_eq!(out, json!({"metadata": {"annotations": {"example.com/x": "3"}}}));
        assert!(parse_pointer("/a~2").is_err());
        assert!(parse_pointer("a").is_err());
    }

    #[test]
    fn test_op_passes_and_fails() {
        let doc = json!({"spec": {"replicas": 2}});
        assert!(run(doc.clone(), json!([{"op": "test", "path": "/spec/replicas", "value": 2.0}])).is_ok());
        let err = run(
            doc,
            json!([{"op": "add", "path": "/x", "value": 1}, {"op": "test", "path": "/spec/replicas", "value": 3}]),
        )
        .unwrap_err();
        assert!(matches!(err, PatchError::TestFailed { index: 1, .. }), "{err:?}");
        assert!(err.to_string().contains("operation 1"));
        assert!(err.to_string().contains("/spec/replicas"));
        assert_eq!(err.http_status(), 422);
    }

    #[test]
    fn errors_name_operation_and_path() {
        let doc = json!({"a": [1]});
        let err = run(doc.clone(), json!([{"op": "replace", "path": "/missing/x", "value": 1}])).unwrap_err();
        assert_eq!(
            err,
            PatchError::JsonPatchOperation {
                index: 0,
                op: "replace".into(),
                path: "/missing/x".into(),
                message: "path /missing does not exist".into()
            }
        );
        assert!(run(doc.clone(), json!([{"op": "remove", "path": "/a/5"}])).is_err());
        assert!(run(doc.clone(), json!([{"op": "add", "path": "/a/01", "value": 1}])).is_err());
        assert!(run(doc.clone(), json!([{"op": "add", "path": "/a/2", "value": 1}])).is_err());
        assert!(run(doc.clone(), json!([{"op": "add", "path": "/a"}])).is_err());
        assert!(run(doc.clone(), json!([{"op": "frobnicate", "path": "/a"}])).is_err());
        assert!(run(doc.clone(), json!([{"op": "move", "from": "/a", "path": "/a/0"}])).is_err());
        assert!(run(doc.clone(), json!([{"path": "/a"}])).is_err());
        assert!(run(doc.clone(), json!([7])).is_err());
        let err = run(doc, json!({"op": "add"})).unwrap_err();
        assert!(matches!(err, PatchError::Malformed { .. }));
        assert_eq!(err.http_status(), 400);
    }
}
