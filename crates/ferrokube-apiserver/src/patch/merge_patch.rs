//! JSON merge patch (RFC 7386), the `application/merge-patch+json` content type.
//!
//! The patch mirrors the object: members present in the patch replace those in the
//! object, nested objects merge recursively, `null` removes a member, and arrays are
//! replaced as a whole (no per-item merging; that is what strategic merge patch adds).
//!
//! ```
//! use ferrokube_apiserver::patch::merge_patch::apply_merge_patch;
//! use serde_json::json;
//! let live = json!({"metadata": {"labels": {"app": "web", "tier": "x"}}});
//! let patch = json!({"metadata": {"labels": {"tier": null, "env": "prod"}}});
//! let out = apply_merge_patch(&live, &patch).unwrap();
//! assert_eq!(out, json!({"metadata": {"labels": {"app": "web", "env": "prod"}}}));
//! ```

use serde_json::{Map, Value};

use super::PatchError;

/// Applies a merge patch to an API object. Both must be JSON objects (a patch that is
/// not an object would replace the whole object, which is never a valid patch of a
/// Kubernetes resource): otherwise [`PatchError::Malformed`].
pub fn apply_merge_patch(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::Malformed {
            kind: "merge",
            message: "a merge patch of an object must be a JSON object".into(),
        });
    }
    Ok(merge_patch(original, patch))
}

/// The RFC 7386 `MergePatch(target, patch)` function, for any JSON values.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(t) => t.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The examples of RFC 7386, appendix A.
    #[test]
    fn rfc7386_appendix_a() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (json!({"a":"b","b":"c"}), json!({"a":null}), json!({"b":"c"})),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (json!({"a":{"b":"c"}}), json!({"a":{"b":"d","c":null}}), json!({"a":{"b":"d"}})),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a":"b"}), json!(["c"]), json!(["c"])),
            (json!({"a":"foo"}), json!(null), json!(null)),
            (json!({"a":"foo"}), json!("bar"), json!("bar")),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (json!([1, 2]), json!({"a":"b","c":null}), json!({"a":"b"})),
            (json!({}), json!({"a":{"bb":{"ccc":null}}}), json!({"a":{"bb":{}}})),
        ];
        for (target, patch, expected) in cases {
            assert_eq!(merge_patch(&target, &patch), expected, "{target} + {patch}");
        }
    }

    #[test]
    fn object_patch_required_for_resources() {
        assert!(apply_merge_patch(&json!({"a": 1}), &json!([1])).is_err());
        assert_eq!(
            apply_merge_patch(&json!({"spec": {"replicas": 1, "paused": true}}), &json!({"spec": {"replicas": 5}}))
                .unwrap(),
            json!({"spec": {"replicas": 5, "paused": true}})
        );
    }
}
