//! Strategic merge patch, the `application/strategic-merge-patch+json` content type,
//! as kubectl sends it (`kubectl patch`, `kubectl apply` client-side, `kubectl edit`,
//! `kubectl set image`).
//!
//! It is a JSON merge patch that knows the types it patches (from [`super::schema`]):
//!
//! - Objects merge recursively; `null` removes a member.
//! - Lists of objects with a merge key (`containers` by `name`, `env` by `name`,
//!   `ports` by `containerPort`) merge item by item: an item of the patch is merged
//!   into the live item with the same key, or added if there is none.
//! - Lists of primitives with the merge strategy (`finalizers`) are unioned.
//! - Other lists are replaced as a whole.
//!
//! Directives kubectl puts in the patch (none of them survives into the result):
//!
//! - `$patch: replace` in an object replaces the object instead of merging; as an item
//!   of a merging list it replaces the whole list with the patch's other items.
//! - `$patch: delete` in an object empties it; as an item of a merging list
//!   (`{"name": "sidecar", "$patch": "delete"}`) it removes the live item with that key.
//! - `$patch: merge` is the default and changes nothing.
//! - `$retainKeys: [a, b]` in an object removes the live object's members not listed
//!   (kubectl sends it for union types such as Deployment `spec.strategy`, so switching
//!   to `Recreate` drops `rollingUpdate`); every non-null member of the patch must be
//!   listed.
//! - `$deleteFromPrimitiveList/<list>: [x]` removes the values from a list of primitives.
//! - `$setElementOrder/<list>: [...]` gives the final relative order of the listed items
//!   (objects by their merge key); live items not listed keep their relative order and
//!   are interleaved by their live positions.
//!
//! Item order without `$setElementOrder` follows kube-apiserver: items named in the
//! patch take the patch's order, live-only items keep theirs, and the two sequences are
//! interleaved using live positions — so an item that is new (not live) is placed
//! *before* the live items that follow it in that interleaving, which for a patch with a
//! single new item means at the front. kubectl always sends `$setElementOrder` with
//! merging lists, so its patches get the order the user wrote.
//!
//! Without a schema (`root_type: None`, custom resources, for which kube-apiserver
//! answers 415) the same function behaves like a JSON merge patch: objects merge, lists
//! are replaced; map-level directives (`$patch`, `$retainKeys`) still apply.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::schema::{ListStrategy, Member, ObjectSchema, TypeSchema};
use super::{go_value, json_eq, PatchError};

const PATCH: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";

/// Applies a strategic merge patch to `original` and returns the patched object.
///
/// `root_type` is the schema of the object's kind ([`super::schema::root_type`]);
/// `None` gives JSON-merge-patch behaviour (see the module documentation).
/// `original` must be a JSON object (or `null`, treated as `{}`), `patch` a JSON object.
///
/// Errors ([`PatchError::Strategic`] or [`PatchError::Malformed`], all 400 Bad Request):
/// a non-object patch, an unknown `$patch` value, an item of a merging list without its
/// merge key, mixed element types in a merging list, malformed `$retainKeys`,
/// `$setElementOrder` or `$deleteFromPrimitiveList` values, a patch member missing from
/// `$retainKeys`.
///
/// ```
/// use ferrokube_apiserver::patch::{schema, strategic::strategic_merge};
/// use serde_json::json;
/// let live = json!({"spec": {"template": {"spec": {"containers": [
///     {"name": "app", "image": "app:1"}, {"name": "log", "image": "log:1"}]}}}});
/// let patch = json!({"spec": {"template": {"spec": {"containers": [
///     {"name": "app", "image": "app:2"}]}}}});
/// let out = strategic_merge(&live, &patch, schema::root_type("apps", "Deployment")).unwrap();
/// assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([
///     {"name": "app", "image": "app:2"}, {"name": "log", "image": "log:1"}]));
/// ```
pub fn strategic_merge(original: &Value, patch: &Value, root_type: Option<&TypeSchema>) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::Malformed {
            kind: "strategic merge",
            message: "the patch must be a JSON object".into(),
        });
    };
    let original = match original {
        Value::Object(o) => o.clone(),
        Value::Null => Map::new(),
        _ => {
            return Err(PatchError::Malformed {
                kind: "strategic merge",
                message: "the patched document must be a JSON object".into(),
            })
        }
    };
    merge_map(original, patch, ObjectSchema::root(root_type), "").map(Value::Object)
}

fn err(path: &str, message: impl Into<String>) -> PatchError {
    PatchError::Strategic { path: if path.is_empty() { ".".into() } else { path.to_string() }, message: message.into() }
}

fn unknown_patch_type(directive: &Value, holder: &Map<String, Value>) -> PatchError {
    PatchError::UnknownPatchType { directive: go_value(directive), map: go_value(&Value::Object(holder.clone())) }
}

fn is_directive_key(k: &str) -> bool {
    k == PATCH || k == RETAIN_KEYS || k.starts_with(SET_ELEMENT_ORDER) || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
}

/// Merges a patch object into an original object of schema `ty`.
fn merge_map(
    mut original: Map<String, Value>,
    patch: &Map<String, Value>,
    ty: ObjectSchema<'_>,
    path: &str,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(PATCH) {
        match directive.as_str() {
            Some("replace") => {
                let mut rest = patch.clone();
                rest.remove(PATCH);
                return merge_map(Map::new(), &rest, ty, path);
            }
            Some("delete") => return Ok(Map::new()),
            Some("merge") => {}
            _ => return Err(unknown_patch_type(directive, patch)),
        }
    }

    if let Some(retain) = patch.get(RETAIN_KEYS) {
        let list = retain.as_array().ok_or_else(|| err(path, "$retainKeys must be a list of field names"))?;
        let mut keep = BTreeSet::new();
        for v in list {
            keep.insert(v.as_str().ok_or_else(|| err(path, "$retainKeys must be a list of field names"))?);
        }
        for (k, v) in patch {
            if !v.is_null() && !is_directive_key(k) && !keep.contains(k.as_str()) {
                return Err(err(path, format!("field {k:?} is in the patch but not in $retainKeys")));
            }
        }
        original.retain(|k, _| keep.contains(k.as_str()));
    }

    // Lists with an explicit order: merge them now, then order them.
    let mut ordered = BTreeSet::new();
    for (k, order) in patch {
        let Some(name) = k.strip_prefix(SET_ELEMENT_ORDER) else {
            continue;
        };
        let lpath = format!("{path}.{name}");
        let order = order.as_array().ok_or_else(|| err(&lpath, format!("{k} must be a list")))?;
        let member = ty.member(name);
        let live = match original.get(name) {
            Some(Value::Array(a)) => Some(a.clone()),
            None | Some(Value::Null) => None,
            Some(_) => return Err(err(&lpath, format!("{k} names a field that is not a list"))),
        };
        let patched = match patch.get(name) {
            Some(Value::Array(a)) => Some(a),
            None => None,
            Some(Value::Null) => continue,
            Some(_) => return Err(err(&lpath, "the patch value of a list must be a list")),
        };
        let server_order = live.clone().unwrap_or_default();
        let merged = match (live, patched) {
            (Some(l), Some(p)) => merge_list(l, p, member, &lpath)?,
            (Some(l), None) => l,
            (None, Some(p)) => merge_list(Vec::new(), p, member, &lpath)?,
            (None, None) => continue,
        };
        let key = merge_key(member);
        let result = if merged.iter().any(Value::is_object) && key.is_none() {
            merged
        } else {
            let (in_order, server_only): (Vec<Value>, Vec<Value>) =
                merged.into_iter().partition(|v| index_of(order, v, key).is_some());
            let in_order = sort_by(in_order, order, key);
            let server_only = sort_by(server_only, &server_order, key);
            interleave(server_only, in_order, &server_order, key)
        };
        original.insert(name.to_string(), Value::Array(result));
        ordered.insert(name);
    }

    for (k, pv) in patch {
        if k == PATCH || k == RETAIN_KEYS || k.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if let Some(name) = k.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            let remove = pv.as_array().ok_or_else(|| err(&format!("{path}.{name}"), format!("{k} must be a list")))?;
            if let Some(Value::Array(live)) = original.get_mut(name) {
                live.retain(|v| !remove.iter().any(|r| json_eq(r, v)));
            }
            continue;
        }
        if ordered.contains(k.as_str()) {
            continue;
        }
        if pv.is_null() {
            original.remove(k);
            continue;
        }
        let member = ty.member(k);
        let cpath = format!("{path}.{k}");
        let merged = match (original.remove(k), pv) {
            (Some(Value::Object(o)), Value::Object(p)) => {
                Value::Object(merge_map(o, p, Member::object(member), &cpath)?)
            }
            (Some(Value::Array(o)), Value::Array(p)) => Value::Array(merge_list(o, p, member, &cpath)?),
            (_, pv) => fresh(pv, member, &cpath)?,
        };
        original.insert(k.clone(), merged);
    }
    Ok(original)
}

/// A patch value placed where the original has nothing (or a value of another type):
/// directives are interpreted against an empty original, nulls dropped.
fn fresh(pv: &Value, member: Option<Member<'_>>, path: &str) -> Result<Value, PatchError> {
    Ok(match pv {
        Value::Object(p) => Value::Object(merge_map(Map::new(), p, Member::object(member), path)?),
        Value::Array(p) => Value::Array(merge_list(Vec::new(), p, member, path)?),
        other => other.clone(),
    })
}

fn merge_key(member: Option<Member<'_>>) -> Option<&str> {
    member.and_then(|m| m.keys.first().copied())
}

/// Merges a patch list into a live list according to the field's list strategy.
fn merge_list(
    mut live: Vec<Value>,
    patch: &[Value],
    member: Option<Member<'_>>,
    path: &str,
) -> Result<Vec<Value>, PatchError> {
    let item_ty = Member::item(member);
    let clean_item = |v: &Value, i: usize| -> Result<Value, PatchError> {
        match v {
            Value::Object(o) => Ok(Value::Object(merge_map(Map::new(), o, item_ty, &format!("{path}[{i}]"))?)),
            other => Ok(other.clone()),
        }
    };

    // Split off the directive elements ({"$patch": ...}).
    let mut replace = false;
    let mut deletes = Vec::new();
    let mut items = Vec::new();
    for (i, item) in patch.iter().enumerate() {
        if let Value::Object(o) = item {
            if let Some(d) = o.get(PATCH) {
                match d.as_str() {
                    Some("replace") => replace = true,
                    Some("delete") => deletes.push((i, o)),
                    Some("merge") => {
                        let mut o = o.clone();
                        o.remove(PATCH);
                        items.push(Value::Object(o));
                    }
                    _ => return Err(unknown_patch_type(d, o)),
                }
                continue;
            }
        }
        items.push(item.clone());
    }

    let strategy = Member::list_strategy(member);
    let merging = matches!(strategy, Some(ListStrategy::Map) | Some(ListStrategy::Set));
    if !merging || replace {
        // Atomic list (or explicit replace): the patch's items are the new list.
        return items.iter().enumerate().map(|(i, v)| clean_item(v, i)).collect();
    }

    if items.iter().chain(live.iter()).any(Value::is_array) {
        return Err(err(path, "lists of lists cannot be merged"));
    }
    let objects = items.iter().chain(live.iter()).filter(|v| v.is_object()).count();
    if objects != 0 && objects != items.len() + live.len() {
        return Err(err(path, "list element types are not identical"));
    }

    if objects == 0 && !(items.is_empty() && live.is_empty()) {
        // A set of primitives: union, keeping first occurrences.
        if !deletes.is_empty() {
            return Err(err(path, "$patch: delete items need a list of objects with a merge key"));
        }
        let server_order = live.clone();
        for v in &items {
            if !live.iter().any(|l| json_eq(l, v)) {
                live.push(v.clone());
            }
        }
        let (from_patch, server_only): (Vec<Value>, Vec<Value>) =
            live.into_iter().partition(|v| index_of(&items, v, None).is_some());
        let from_patch = sort_by(from_patch, &items, None);
        return Ok(interleave(server_only, from_patch, &server_order, None));
    }

    let Some(key) = merge_key(member) else {
        // Objects in a list without a merge key cannot be merged: replace.
        return items.iter().enumerate().map(|(i, v)| clean_item(v, i)).collect();
    };
    for (i, d) in deletes {
        let kv = d
            .get(key)
            .ok_or_else(|| err(&format!("{path}[{i}]"), format!("$patch: delete item has no merge key {key:?}")))?;
        live.retain(|l| !l.get(key).is_some_and(|lv| json_eq(lv, kv)));
    }
    let server_order = live.clone();
    for (i, item) in items.iter().enumerate() {
        let ipath = format!("{path}[{i}]");
        let kv = item.get(key).ok_or_else(|| err(&ipath, format!("item has no merge key {key:?}")))?;
        let Value::Object(p) = item else {
            return Err(mixed(&ipath));
        };
        match live.iter().position(|l| l.get(key).is_some_and(|lv| json_eq(lv, kv))) {
            Some(pos) => {
                let current = std::mem::take(&mut live[pos]);
                let Value::Object(current) = current else {
                    return Err(mixed(&ipath));
                };
                live[pos] = Value::Object(merge_map(current, p, item_ty, &ipath)?);
            }
            None => live.push(clean_item(item, i)?),
        }
    }
    let (from_patch, server_only): (Vec<Value>, Vec<Value>) =
        live.into_iter().partition(|v| index_of(&items, v, Some(key)).is_some());
    let from_patch = sort_by(from_patch, &items, Some(key));
    Ok(interleave(server_only, from_patch, &server_order, Some(key)))
}

/// Element types were checked to be objects; this keeps the code panic-free anyway.
fn mixed(path: &str) -> PatchError {
    err(path, "list element types are not identical")
}

/// The position of `v` in `list`: by merge key for objects, by value for primitives.
fn index_of(list: &[Value], v: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        Some(k) => {
            let kv = v.get(k)?;
            list.iter().position(|x| x.get(k).is_some_and(|xv| json_eq(xv, kv)))
        }
        None => list.iter().position(|x| json_eq(x, v)),
    }
}

/// Stable sort of `items` by their position in `order` (items not in `order` last).
fn sort_by(items: Vec<Value>, order: &[Value], key: Option<&str>) -> Vec<Value> {
    let mut indexed: Vec<(usize, Value)> =
        items.into_iter().map(|v| (index_of(order, &v, key).unwrap_or(usize::MAX), v)).collect();
    indexed.sort_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, v)| v).collect()
}

/// Interleaves two ordered sequences, keeping the relative order of each: a
/// `server_only` item goes first only when both it and the next `from_patch` item are
/// in the live list and it came before it there.
fn interleave(
    server_only: Vec<Value>,
    from_patch: Vec<Value>,
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(server_only.len() + from_patch.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = from_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (index_of(server_order, l, key), index_of(server_order, r, key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::schema::root_type;
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "frontend"}, "finalizers": ["a", "b", "c"]},
            "spec": {
                "replicas": 2,
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                "template": {"spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "busybox"}
                ]}}
            }
        })
    }

    fn smp(live: &Value, patch: Value) -> Value {
        let out = strategic_merge(live, &patch, root_type("apps", "Deployment")).unwrap();
        assert_no_directives(&out);
        out
    }

    fn assert_no_directives(v: &Value) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| {
                assert!(!is_directive_key(k), "directive {k} left in result");
                assert_no_directives(v)
            }),
            Value::Array(a) => a.iter().for_each(assert_no_directives),
            _ => {}
        }
    }

    fn containers(v: &Value) -> &Value {
        &v["spec"]["template"]["spec"]["containers"]
    }

    #[test]
    fn containers_merge_by_name() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}}),
        );
        assert_eq!(containers(&out)[0]["image"], "nginx:1.27");
        assert_eq!(containers(&out)[0]["env"].as_array().unwrap().len(), 2, "other fields kept");
        assert_eq!(containers(&out)[1], json!({"name": "sidecar", "image": "busybox"}));
        assert_eq!(out["spec"]["replicas"], 2);
    }

    #[test]
    fn env_merges_by_name() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "env": [{"name": "B", "value": "20"}, {"name": "C", "value": "3"}]}]}}}}),
        );
        let env = &containers(&out)[0]["env"];
        assert_eq!(env.as_array().unwrap().len(), 3);
        assert!(env.as_array().unwrap().contains(&json!({"name": "A", "value": "1"})));
        assert!(env.as_array().unwrap().contains(&json!({"name": "B", "value": "20"})));
        assert!(env.as_array().unwrap().contains(&json!({"name": "C", "value": "3"})));
    }

    #[test]
    fn patch_delete_removes_item() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
        );
        assert_eq!(containers(&out).as_array().unwrap().len(), 1);
        assert_eq!(containers(&out)[0]["name"], "nginx");
    }

    #[test]
    fn patch_replace_on_list_and_map() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}}}),
        );
        assert_eq!(containers(&out), &json!([{"name": "only", "image": "x"}]));
        let out = smp(&deployment(), json!({"metadata": {"labels": {"$patch": "replace", "new": "1"}}}));
        assert_eq!(out["metadata"]["labels"], json!({"new": "1"}));
        assert_eq!(out["metadata"]["name"], "web");
        let out = smp(&deployment(), json!({"spec": {"strategy": {"$patch": "delete"}}}));
        assert_eq!(out["spec"]["strategy"], json!({}));
    }

    #[test]
    fn set_element_order() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "new"}, {"name": "nginx"}],
                "containers": [{"name": "new", "image": "n"}]
            }}}}),
        );
        let names: Vec<&str> =
            containers(&out).as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["sidecar", "new", "nginx"]);
        assert_eq!(containers(&out)[2]["image"], "nginx:1.25");
        // Primitive list order.
        let out = smp(&deployment(), json!({"metadata": {"$setElementOrder/finalizers": ["c", "a", "b"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["c", "a", "b"]));
    }

    #[test]
    fn new_item_order_without_set_element_order_follows_kube() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n"}]}}}}),
        );
        let names: Vec<&str> =
            containers(&out).as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["new", "nginx", "sidecar"]);
    }

    #[test]
    fn retain_keys_switches_strategy() {
        let out = smp(
            &deployment(),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": null}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let out = smp(&deployment(), json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}));
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let e = strategic_merge(
            &deployment(),
            &json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
            root_type("apps", "Deployment"),
        );
        assert!(e.is_err());
    }

    #[test]
    fn delete_from_primitive_list_and_union() {
        let out = smp(&deployment(), json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}));
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "c"]));
        let out = smp(&deployment(), json!({"metadata": {"finalizers": ["c", "d"]}}));
        let f = out["metadata"]["finalizers"].as_array().unwrap();
        assert_eq!(f.len(), 4);
        for x in ["a", "b", "c", "d"] {
            assert!(f.contains(&json!(x)));
        }
    }

    #[test]
    fn null_deletes_label() {
        let out = smp(&deployment(), json!({"metadata": {"labels": {"tier": null, "env": "prod"}}}));
        assert_eq!(out["metadata"]["labels"], json!({"app": "web", "env": "prod"}));
        // A null for an absent field is dropped, not stored.
        let out =
            smp(&deployment(), json!({"spec": {"paused": null, "template": {"metadata": {"labels": {"x": null}}}}}));
        assert!(out["spec"].get("paused").is_none());
        assert_eq!(out["spec"]["template"]["metadata"]["labels"], json!({}));
    }

    #[test]
    fn atomic_lists_are_replaced() {
        let live = json!({"spec": {"containers": [{"name": "c", "args": ["a", "b"], "ports": [{"containerPort": 80, "name": "http"}]}]}});
        let out = strategic_merge(
            &live,
            &json!({"spec": {"containers": [{"name": "c", "args": ["z"], "ports": [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]}]}}),
            root_type("", "Pod"),
        )
        .unwrap();
        assert_eq!(out["spec"]["containers"][0]["args"], json!(["z"]));
        let ports = out["spec"]["containers"][0]["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 2);
        assert!(ports.contains(&json!({"containerPort": 80, "name": "http", "protocol": "TCP"})));
    }

    #[test]
    fn unknown_kind_falls_back_to_merge_semantics() {
        let live = json!({"spec": {"items": [{"name": "a", "v": 1}, {"name": "b"}], "keep": true, "drop": 1}});
        let out =
            strategic_merge(&live, &json!({"spec": {"items": [{"name": "a", "v": 2}], "drop": null}}), None).unwrap();
        assert_eq!(out, json!({"spec": {"items": [{"name": "a", "v": 2}], "keep": true}}));
    }

    #[test]
    fn malformed_patches_are_errors() {
        let d = deployment();
        let rt = root_type("apps", "Deployment");
        for bad in [
            json!([1]),
            json!({"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "b"}}),
            json!({"metadata": {"$setElementOrder/finalizers": 3}}),
            json!({"metadata": {"$retainKeys": "name"}}),
            json!({"metadata": {"finalizers": [["nested"]]}}),
            json!({"spec": {"template": {"spec": {"containers": [1, {"name": "x"}]}}}}),
        ] {
            let e = strategic_merge(&d, &bad, rt).unwrap_err();
            assert_eq!(e.http_status(), 400, "{e}");
        }
        // An unknown directive is kube's 500, the map printed as Go prints it.
        let e = strategic_merge(&d, &json!({"spec": {"$patch": "explode", "paused": true}}), rt).unwrap_err();
        assert_eq!(e.http_status(), 500);
        assert_eq!(e.to_string(), "unknown patch type: explode in map: map[$patch:explode paused:true]");
    }

    #[test]
    fn new_subtrees_are_cleaned() {
        let live = json!({"metadata": {"name": "p"}});
        let out = strategic_merge(
            &live,
            &json!({"spec": {"containers": [{"name": "a", "image": "i", "env": [{"name": "x", "$patch": "delete"}], "tty": null}], "$setElementOrder/containers": [{"name": "a"}]}}),
            root_type("", "Pod"),
        )
        .unwrap();
        assert_eq!(out["spec"], json!({"containers": [{"name": "a", "image": "i", "env": []}]}));
        assert_no_directives(&out);
    }
}
