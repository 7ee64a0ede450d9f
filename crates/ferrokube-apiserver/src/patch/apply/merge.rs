//! The merge of an apply configuration into the live object: objects merge member by
//! member, keyed lists (containers by `name`) merge item by item, sets are unioned, and
//! everything else (scalars, atomic lists and maps, atomic structs) is replaced. Nulls
//! in the configuration are omitted, as kube-apiserver omits them.
//!
//! Ownership plays no part here: [`super::server_side_apply`] merges first, then
//! compares the result with the live object to find what changed.

use serde_json::{Map, Value};

use super::super::json_eq;
use super::super::schema::{FieldKind, ListStrategy, MapStrategy, Member, ObjectSchema};
use super::fields::{item_key, key_matches};

/// A value with its null members removed (nulls in an apply configuration are omitted).
pub(super) fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Merges an apply configuration object into a live object.
pub(super) fn merge_object(live: &mut Map<String, Value>, config: &Map<String, Value>, ctx: ObjectSchema<'_>) {
    for (k, cv) in config {
        if cv.is_null() {
            continue;
        }
        let member = ctx.member(k);
        match live.get_mut(k) {
            Some(lv) => merge_value(lv, cv, member),
            None => {
                live.insert(k.clone(), without_nulls(cv));
            }
        }
    }
}

fn merge_value(live: &mut Value, config: &Value, member: Option<Member<'_>>) {
    let kind = member.map(|m| m.kind);
    let atomic = member.and_then(|m| m.elem).is_some_and(|t| t.atomic());
    match (live, config, kind) {
        (live, config, Some(FieldKind::Struct)) if atomic => *live = without_nulls(config),
        (
            Value::Object(l),
            Value::Object(c),
            None | Some(FieldKind::Struct) | Some(FieldKind::Map(MapStrategy::Granular)),
        ) => merge_object(l, c, Member::object(member)),
        (Value::Array(l), Value::Array(c), Some(FieldKind::List(ListStrategy::Map))) => {
            let keys = member.map(|m| m.keys).unwrap_or_default();
            for item in c {
                let key = item_key(item, keys, member.and_then(|m| m.elem))
                    .and_then(|k| serde_json::from_str::<Map<String, Value>>(&k).ok());
                let found = key.as_ref().and_then(|k| l.iter_mut().find(|i| key_matches(i, k)));
                match (found, item) {
                    (Some(Value::Object(li)), Value::Object(ci)) if !atomic => {
                        merge_object(li, ci, Member::item(member))
                    }
                    (Some(li), _) => *li = without_nulls(item),
                    (None, _) => l.push(without_nulls(item)),
                }
            }
        }
        (Value::Array(l), Value::Array(c), Some(FieldKind::List(ListStrategy::Set))) => {
            for item in c {
                if !l.iter().any(|i| json_eq(i, item)) {
                    l.push(without_nulls(item));
                }
            }
        }
        (live, config, _) => *live = without_nulls(config),
    }
}
