//! Patch application for PATCH requests: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902) and, until the proper implementation of part 2, an approximation of
//! strategic merge patch: a merge patch that merges the well-known lists of the
//! built-in types by their merge key (`containers` by `name`, `volumeMounts` by
//! `mountPath`, ...; `finalizers` as a union), honours `$patch: delete`/`replace` and
//! `$deleteFromPrimitiveList`, and ignores the other `$` directives — enough for
//! `kubectl apply` to keep the container fields it does not mention.

use serde_json::{Map, Value};

use super::errors;
use crate::api::ApiError;

/// The patch formats served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json` (approximated).
    Strategic,
}

impl PatchType {
    /// The patch type of a `Content-Type` (415 UnsupportedMediaType otherwise).
    pub fn from_content_type(ct: Option<&str>) -> Result<PatchType, ApiError> {
        let ct = ct.unwrap_or("");
        let base = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match base.as_str() {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            _ => Err(errors::unsupported_media_type(ct)),
        }
    }
}

/// Applies `patch` (raw body) of type `pt` to `target`.
pub fn apply(pt: PatchType, target: Value, patch: &[u8]) -> Result<Value, ApiError> {
    let patch: Value = serde_json::from_slice(patch)
        .map_err(|e| errors::bad_request(format!("error decoding patch: {e}")))?;
    match pt {
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(errors::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            Ok(merge_patch(target, &patch))
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(errors::bad_request(
                    "error decoding patch: a strategic merge patch must be a JSON object",
                ));
            }
            Ok(strategic_merge(target, &patch))
        }
        PatchType::Json => {
            let ops = patch.as_array().ok_or_else(|| {
                errors::bad_request(
                    "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
                )
            })?;
            json_patch(target, ops)
        }
    }
}

/// RFC 7386 merge: objects merge recursively, `null` removes, anything else replaces.
pub fn merge_patch(target: Value, patch: &Value) -> Value {
    let Value::Object(pmap) = patch else {
        return patch.clone();
    };
    let mut tmap = match target {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (k, pv) in pmap {
        if pv.is_null() {
            tmap.remove(k);
        } else {
            let old = tmap.remove(k).unwrap_or(Value::Null);
            tmap.insert(k.clone(), merge_patch(old, pv));
        }
    }
    Value::Object(tmap)
}

/// How strategic merge treats a list field of the built-in types, by field name.
enum ListStrategy {
    /// Merge object items by this key (`patchMergeKey`).
    MergeBy(&'static str),
    /// Union of primitive items (`patchStrategy: merge` on a list of strings).
    Union,
    /// Replace the whole list (no patch strategy).
    Replace,
}

fn list_strategy(field: &str, items: &[&Value]) -> ListStrategy {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "secrets"
        | "resourceClaims"
        | "schedulingGates" => ListStrategy::MergeBy("name"),
        "volumeMounts" => ListStrategy::MergeBy("mountPath"),
        "volumeDevices" => ListStrategy::MergeBy("devicePath"),
        "ownerReferences" => ListStrategy::MergeBy("uid"),
        "conditions" => ListStrategy::MergeBy("type"),
        "hostAliases" => ListStrategy::MergeBy("ip"),
        "topologySpreadConstraints" => ListStrategy::MergeBy("topologyKey"),
        "ports" if items.iter().all(|i| i.get("containerPort").is_some()) => {
            ListStrategy::MergeBy("containerPort")
        }
        "ports" if items.iter().all(|i| i.get("port").is_some()) => ListStrategy::MergeBy("port"),
        "finalizers" => ListStrategy::Union,
        _ => ListStrategy::Replace,
    }
}

/// Approximate strategic merge: see the module docs.
pub fn strategic_merge(target: Value, patch: &Value) -> Value {
    let Value::Object(pmap) = patch else {
        return patch.clone();
    };
    if pmap.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut m = pmap.clone();
        m.remove("$patch");
        return Value::Object(m);
    }
    let mut tmap = match target {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    for (k, pv) in pmap {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(have)), Some(del)) = (tmap.get_mut(field), pv.as_array()) {
                have.retain(|v| !del.contains(v));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match pv {
            Value::Null => {
                tmap.remove(k);
            }
            Value::Object(_) => {
                let old = tmap.remove(k).unwrap_or(Value::Null);
                tmap.insert(k.clone(), strategic_merge(old, pv));
            }
            Value::Array(parr) => {
                let old = tmap.remove(k);
                let merged = match old {
                    Some(Value::Array(tarr)) => merge_lists(k, tarr, parr),
                    _ => Value::Array(
                        parr.iter()
                            .filter(|i| i.get("$patch").and_then(Value::as_str).is_none())
                            .map(|i| strip_directives(i.clone()))
                            .collect(),
                    ),
                };
                tmap.insert(k.clone(), merged);
            }
            other => {
                tmap.insert(k.clone(), other.clone());
            }
        }
    }
    Value::Object(tmap)
}

fn strip_directives(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k, strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_directives).collect()),
        other => other,
    }
}

fn merge_lists(field: &str, tarr: Vec<Value>, parr: &[Value]) -> Value {
    let directive = |i: &Value| i.get("$patch").and_then(Value::as_str).map(str::to_owned);
    let plain = |items: &[Value]| -> Vec<Value> {
        items
            .iter()
            .filter(|i| directive(i).is_none())
            .map(|i| strip_directives(i.clone()))
            .collect()
    };
    // `{"$patch": "replace"}` as an item: the list is exactly the other items.
    if parr.iter().any(|i| {
        i.as_object().is_some_and(|m| m.len() == 1) && directive(i).as_deref() == Some("replace")
    }) {
        return Value::Array(plain(parr));
    }
    let refs: Vec<&Value> = tarr.iter().chain(parr.iter()).collect();
    match list_strategy(field, &refs) {
        ListStrategy::Replace => Value::Array(plain(parr)),
        ListStrategy::Union => {
            let mut out = tarr;
            for p in parr {
                if !out.contains(p) {
                    out.push(p.clone());
                }
            }
            Value::Array(out)
        }
        ListStrategy::MergeBy(key) => {
            let mut out = tarr;
            for p in parr {
                let kv = p.get(key);
                let pos = kv.and_then(|kv| out.iter().position(|t| t.get(key) == Some(kv)));
                let delete = directive(p).as_deref() == Some("delete");
                match (pos, delete) {
                    (Some(i), true) => {
                        out.remove(i);
                    }
                    (None, true) => {}
                    (Some(i), false) => {
                        let old = std::mem::take(&mut out[i]);
                        out[i] = strategic_merge(old, p);
                    }
                    (None, false) => out.push(strip_directives(p.clone())),
                }
            }
            Value::Array(out)
        }
    }
}

fn unescape_token(t: &str) -> String {
    t.replace("~1", "/").replace("~0", "~")
}

fn parse_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    if !p.starts_with('/') {
        return Err(format!("invalid JSON pointer {p:?}"));
    }
    Ok(p[1..].split('/').map(unescape_token).collect())
}

fn index_of(tok: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && tok == "-" {
        return Ok(len);
    }
    if tok.is_empty()
        || (tok.len() > 1 && tok.starts_with('0'))
        || !tok.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(format!("invalid array index {tok:?}"));
    }
    let i: usize = tok
        .parse()
        .map_err(|_| format!("invalid array index {tok:?}"))?;
    let max = if allow_end {
        len
    } else {
        len.saturating_sub(1)
    };
    if i > max || (!allow_end && len == 0) {
        return Err(format!("array index {i} out of bounds"));
    }
    Ok(i)
}

fn get_mut<'v>(doc: &'v mut Value, path: &[String]) -> Result<&'v mut Value, String> {
    let mut cur = doc;
    for tok in path {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(tok)
                .ok_or_else(|| format!("missing value at /{}", path.join("/")))?,
            Value::Array(a) => {
                let i = index_of(tok, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(format!("missing value at /{}", path.join("/"))),
        };
    }
    Ok(cur)
}

fn get_ref<'v>(doc: &'v Value, path: &[String]) -> Result<&'v Value, String> {
    let mut cur = doc;
    for tok in path {
        cur = match cur {
            Value::Object(m) => m
                .get(tok)
                .ok_or_else(|| format!("missing value at /{}", path.join("/")))?,
            Value::Array(a) => &a[index_of(tok, a.len(), false)?],
            _ => return Err(format!("missing value at /{}", path.join("/"))),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            let i = index_of(last, a.len(), true)?;
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!(
            "cannot add at /{}: parent is not a container",
            path.join("/")
        )),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = path.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match get_mut(doc, parent)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("unable to remove nonexistent key: {last}: missing value")),
        Value::Array(a) => {
            let i = index_of(last, a.len(), false)?;
            Ok(a.remove(i))
        }
        _ => Err(format!("cannot remove /{}", path.join("/"))),
    }
}

/// RFC 6902: applies `ops` in order; a failed `test` or a missing path is a 422.
pub fn json_patch(mut doc: Value, ops: &[Value]) -> Result<Value, ApiError> {
    for (n, op) in ops.iter().enumerate() {
        let bad = |m: &str| errors::bad_request(format!("invalid JSON patch operation {n}: {m}"));
        let name = op
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing \"op\""))?;
        let path_s = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing \"path\""))?;
        let path = parse_pointer(path_s).map_err(|e| bad(&e))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| bad("missing \"value\""))
        };
        let from = || -> Result<Vec<String>, ApiError> {
            let f = op
                .get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("missing \"from\""))?;
            parse_pointer(f).map_err(|e| bad(&e))
        };
        let res: Result<(), String> = match name {
            "add" => add(&mut doc, &path, value()?),
            "remove" => remove(&mut doc, &path).map(|_| ()),
            "replace" => {
                let v = value()?;
                match get_mut(&mut doc, &path) {
                    Ok(slot) => {
                        *slot = v;
                        Ok(())
                    }
                    Err(_) => Err(format!("replace operation does not apply: doc is missing key: {path_s}: missing value")),
                }
            }
            "move" => {
                let f = from()?;
                if path.len() > f.len() && path[..f.len()] == f[..] {
                    Err("cannot move a value into one of its children".into())
                } else {
                    remove(&mut doc, &f).and_then(|v| add(&mut doc, &path, v))
                }
            }
            "copy" => {
                let f = from()?;
                get_ref(&doc, &f)
                    .cloned()
                    .and_then(|v| add(&mut doc, &path, v))
            }
            "test" => {
                let v = value()?;
                match get_ref(&doc, &path) {
                    Ok(have) if *have == v => Ok(()),
                    _ => Err(format!("testing value {path_s} failed: test failed")),
                }
            }
            other => return Err(bad(&format!("unsupported operation {other:?}"))),
        };
        res.map_err(|e| errors::unprocessable(&e))?;
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge() {
        let t = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]});
        let p = json!({"a": null, "b": {"c": 5}, "l": [3], "n": "x"});
        assert_eq!(
            merge_patch(t, &p),
            json!({"b": {"c": 5, "d": 3}, "l": [3], "n": "x"})
        );
    }

    #[test]
    fn json_ops() {
        let t = json!({"spec": {"replicas": 1, "list": ["a", "b"]}});
        let ops = json!([
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/spec/list/-", "value": "c"},
            {"op": "add", "path": "/spec/list/0", "value": "z"},
            {"op": "remove", "path": "/spec/list/1"},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copy"},
            {"op": "move", "from": "/spec/copy", "path": "/moved"},
            {"op": "add", "path": "/metadata", "value": {"labels": {"a/b": "x"}}},
            {"op": "test", "path": "/metadata/labels/a~1b", "value": "x"}
        ]);
        let out = json_patch(t, ops.as_array().unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"spec": {"replicas": 3, "list": ["z", "b", "c"]}, "moved": 3, "metadata": {"labels": {"a/b": "x"}}})
        );
    }

    #[test]
    fn json_errors() {
        let t = json!({"a": 1});
        let e = json_patch(
            t.clone(),
            json!([{"op": "test", "path": "/a", "value": 2}])
                .as_array()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        let e = json_patch(
            t.clone(),
            json!([{"op": "replace", "path": "/zz", "value": 2}])
                .as_array()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        let e = json_patch(
            t.clone(),
            json!([{"op": "bogus", "path": "/a"}]).as_array().unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, 400);
        let e = json_patch(
            t,
            json!([{"op": "add", "path": "/a/b/c", "value": 1}])
                .as_array()
                .unwrap(),
        )
        .unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            apply(PatchType::Json, json!({}), b"{not json")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(
            PatchType::from_content_type(Some("text/plain"))
                .unwrap_err()
                .code,
            415
        );
    }

    #[test]
    fn strategic_lists() {
        let t = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"volumeMounts": [{"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/b"}], "args": ["x"]}});
        let p = json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]}, "spec": {"volumeMounts": [{"mountPath": "/b", "readOnly": true}], "args": ["y"]}});
        assert_eq!(
            strategic_merge(t, &p),
            json!({"metadata": {"finalizers": ["b", "c"]}, "spec": {"volumeMounts": [{"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/b", "readOnly": true}], "args": ["y"]}})
        );
        let t = json!({"containers": [{"name": "a"}, {"name": "b"}]});
        let p = json!({"containers": [{"$patch": "replace"}, {"name": "c"}]});
        assert_eq!(
            strategic_merge(t, &p),
            json!({"containers": [{"name": "c"}]})
        );
    }

    #[test]
    fn strategic_by_name() {
        let t = json!({"spec": {"containers": [{"name": "a", "image": "x:1", "ports": [{"containerPort": 80}]}, {"name": "b", "image": "y"}]}});
        let p = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}], "containers": [{"name": "a", "image": "x:2"}, {"name": "b", "$patch": "delete"}]}});
        assert_eq!(
            strategic_merge(t, &p),
            json!({"spec": {"containers": [{"name": "a", "image": "x:2", "ports": [{"containerPort": 80}]}]}})
        );
    }
}
