//! Field paths and field sets: how server-side apply names a field
//! (`.spec.template.spec.containers[name="nginx"].image`), the set of fields an object
//! sets ([`FieldSet`], encoded as `fieldsV1`), and reading, removing and comparing the
//! value at a path.
//!
//! This is the vocabulary of the other parts of [`super`]: managed-fields entries hold
//! field sets, conflicts are found between them, and the merge writes the values they
//! name. Nothing here knows managers or conflicts.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::super::json_eq;
use super::super::schema::{FieldKind, ListStrategy, MapStrategy, Member, ObjectSchema, TypeSchema};
use super::super::PatchError;
use super::invalid;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// An object member (`f:name`).
    Field(String),
    /// An item of a keyed list, identified by its key fields: the canonical JSON of an
    /// object such as `{"name":"nginx"}` (`k:{"name":"nginx"}`).
    Key(String),
    /// An item of a set of primitives: its canonical JSON (`v:"foo"`).
    Value(String),
    /// An item by index (`i:0`), only read from existing managedFields.
    Index(usize),
}

/// A path from the object's root to a field.
pub type FieldPath = Vec<PathElement>;

/// Renders a path the way kube-apiserver does in conflict messages:
/// `.spec.template.spec.containers[name="nginx"].image`.
pub fn path_to_string(path: &[PathElement]) -> String {
    let mut s = String::new();
    for e in path {
        match e {
            PathElement::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            PathElement::Key(k) => {
                let parts: Vec<String> = match serde_json::from_str::<Map<String, Value>>(k) {
                    Ok(m) => m.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                    Err(_) => vec![k.clone()],
                };
                s.push('[');
                s.push_str(&parts.join(","));
                s.push(']');
            }
            PathElement::Value(v) => {
                s.push_str("[=");
                s.push_str(v);
                s.push(']');
            }
            PathElement::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// A set of owned field paths (what one managedFields entry records).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    paths: BTreeSet<FieldPath>,
}

impl FieldSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a path.
    pub fn insert(&mut self, path: FieldPath) {
        self.paths.insert(path);
    }

    /// Whether the path itself is in the set.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        self.paths.contains(path)
    }

    /// Removes a path (not its descendants); returns whether it was present.
    pub fn remove(&mut self, path: &[PathElement]) -> bool {
        self.paths.remove(path)
    }

    /// Whether the set holds `path` or any path below it.
    pub fn contains_prefix(&self, path: &[PathElement]) -> bool {
        self.paths.range(path.to_vec()..).next().is_some_and(|p| p.starts_with(path))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The number of paths.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// The paths, in order (a path comes before its descendants).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &FieldPath> {
        self.paths.iter()
    }

    /// The `fieldsV1` JSON encoding of the set.
    pub fn to_fields_v1(&self) -> Value {
        let mut root = Map::new();
        for path in &self.paths {
            let mut node = &mut root;
            for (i, e) in path.iter().enumerate() {
                let key = encode_element(e);
                let entry = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                let Value::Object(child) = entry else { break };
                if i + 1 == path.len() {
                    // This path is a member; mark it if it has (or will get) children.
                    if self.contains_prefix_strict(path) {
                        child.insert(".".into(), json!({}));
                    }
                }
                node = child;
            }
        }
        Value::Object(root)
    }

    fn contains_prefix_strict(&self, path: &[PathElement]) -> bool {
        use std::ops::Bound;
        self.paths.range((Bound::Excluded(path.to_vec()), Bound::Unbounded)).next().is_some_and(|p| p.starts_with(path))
    }

    /// Decodes a `fieldsV1` JSON tree.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, String> {
        fn walk(node: &Map<String, Value>, prefix: &mut FieldPath, out: &mut FieldSet) -> Result<(), String> {
            for (k, child) in node {
                if k == "." {
                    if !prefix.is_empty() {
                        out.insert(prefix.clone());
                    }
                    continue;
                }
                let e = decode_element(k)?;
                let Value::Object(child) = child else {
                    return Err(format!("fieldsV1 entry {k:?} is not an object"));
                };
                prefix.push(e);
                if child.is_empty() {
                    out.insert(prefix.clone());
                } else {
                    walk(child, prefix, out)?;
                }
                prefix.pop();
            }
            Ok(())
        }
        let Value::Object(root) = value else {
            return Err("fieldsV1 must be a JSON object".into());
        };
        let mut out = FieldSet::new();
        walk(root, &mut Vec::new(), &mut out)?;
        Ok(out)
    }
}

fn encode_element(e: &PathElement) -> String {
    match e {
        PathElement::Field(f) => format!("f:{f}"),
        PathElement::Key(k) => format!("k:{k}"),
        PathElement::Value(v) => format!("v:{v}"),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

fn decode_element(s: &str) -> Result<PathElement, String> {
    let canonical = |json: &str| -> Result<String, String> {
        serde_json::from_str::<Value>(json)
            .map(|v| v.to_string())
            .map_err(|e| format!("invalid JSON in fieldsV1 key {s:?}: {e}"))
    };
    match s.split_once(':') {
        Some(("f", name)) => Ok(PathElement::Field(name.to_string())),
        Some(("k", json)) => Ok(PathElement::Key(canonical(json)?)),
        Some(("v", json)) => Ok(PathElement::Value(canonical(json)?)),
        Some(("i", n)) => n.parse().map(PathElement::Index).map_err(|_| format!("invalid index in fieldsV1 key {s:?}")),
        _ => Err(format!("unknown fieldsV1 key {s:?}")),
    }
}

/// The object without the fields nobody owns (identity and server-set metadata), and
/// without `status` when `reset_status`.
pub(super) fn stripped(obj: &Value, reset_status: bool) -> Value {
    let Value::Object(o) = obj else {
        return Value::Object(Map::new());
    };
    let mut o = o.clone();
    o.remove("apiVersion");
    o.remove("kind");
    if reset_status {
        o.remove("status");
    }
    if let Some(Value::Object(meta)) = o.get_mut("metadata") {
        for k in [
            "name",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "selfLink",
            "managedFields",
        ] {
            meta.remove(k);
        }
        if meta.is_empty() {
            o.remove("metadata");
        }
    }
    Value::Object(o)
}

/// The field set of an object. `strict` (apply): keyed-list items without keys or with
/// duplicate keys are errors; otherwise such lists count as one atomic field.
pub(super) fn field_set(obj: &Value, ctx: ObjectSchema<'_>, strict: bool) -> Result<FieldSet, PatchError> {
    let mut out = FieldSet::new();
    if let Value::Object(o) = obj {
        collect_object(o, ctx, &mut Vec::new(), &mut out, strict)?;
    }
    Ok(out)
}

fn collect_object(
    o: &Map<String, Value>,
    ctx: ObjectSchema<'_>,
    prefix: &mut FieldPath,
    out: &mut FieldSet,
    strict: bool,
) -> Result<(), PatchError> {
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        prefix.push(PathElement::Field(k.clone()));
        collect_member(v, ctx.member(k), prefix, out, strict)?;
        prefix.pop();
    }
    Ok(())
}

fn collect_member(
    v: &Value,
    member: Option<Member<'_>>,
    prefix: &mut FieldPath,
    out: &mut FieldSet,
    strict: bool,
) -> Result<(), PatchError> {
    let kind = member.map(|m| m.kind);
    // An atomic struct (metav1.LabelSelector, RoleRef, ...) is owned as one field.
    if let (Some(Member { kind: FieldKind::Struct, elem: Some(t), .. }), Value::Object(_)) = (member, v) {
        if t.atomic() {
            out.insert(prefix.clone());
            return Ok(());
        }
    }
    match (v, kind) {
        (Value::Object(o), None | Some(FieldKind::Struct) | Some(FieldKind::Map(MapStrategy::Granular))) => {
            if o.values().all(Value::is_null) {
                out.insert(prefix.clone());
                return Ok(());
            }
            collect_object(o, Member::object(member), prefix, out, strict)
        }
        (Value::Array(items), Some(FieldKind::List(ListStrategy::Map))) if !items.is_empty() => {
            let keys = member.map(|m| m.keys).unwrap_or_default();
            let elem = member.and_then(|m| m.elem);
            let mut item_keys = Vec::with_capacity(items.len());
            let mut problem = None;
            for (i, item) in items.iter().enumerate() {
                match item_key(item, keys, elem) {
                    Some(k) if item_keys.contains(&k) => {
                        problem = Some(format!("duplicate entries for key {k}"));
                    }
                    Some(k) => item_keys.push(k),
                    None => problem = Some(format!("item {i} lacks the key fields {keys:?} of this list")),
                }
            }
            if let Some(message) = problem {
                if strict {
                    return Err(invalid(&path_to_string(prefix), message));
                }
                out.insert(prefix.clone());
                return Ok(());
            }
            for (item, key) in items.iter().zip(item_keys) {
                prefix.push(PathElement::Key(key));
                out.insert(prefix.clone());
                // Items of an atomic type (ownerReferences) are owned as a whole.
                let atomic_items = member.and_then(|m| m.elem).is_some_and(|t| t.atomic());
                if let (Value::Object(o), false) = (item, atomic_items) {
                    collect_object(o, Member::item(member), prefix, out, strict)?;
                }
                prefix.pop();
            }
            Ok(())
        }
        (Value::Array(items), Some(FieldKind::List(ListStrategy::Set)))
            if !items.is_empty() && items.iter().all(|i| !i.is_object() && !i.is_array()) =>
        {
            for item in items {
                prefix.push(PathElement::Value(item.to_string()));
                out.insert(prefix.clone());
                prefix.pop();
            }
            Ok(())
        }
        _ => {
            out.insert(prefix.clone());
            Ok(())
        }
    }
}

/// The canonical JSON of an item's key fields (those present, and the defaults of
/// missing ones that have a default in `elem`, the item type), or `None` when the item
/// is not an object or has none of them.
pub(super) fn item_key(item: &Value, keys: &[&str], elem: Option<&TypeSchema>) -> Option<String> {
    let o = item.as_object()?;
    let mut k = Map::new();
    let mut present = false;
    for name in keys {
        if let Some(v) = o.get(*name).filter(|v| !v.is_null()) {
            k.insert((*name).to_string(), v.clone());
            present = true;
        } else if let Some(d) = elem.and_then(|t| t.key_default(name)) {
            k.insert((*name).to_string(), d);
        }
    }
    if !present {
        return None;
    }
    if k.is_empty() {
        None
    } else {
        Some(Value::Object(k).to_string())
    }
}

pub(super) fn key_matches(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter().all(|(k, v)| item.get(k).is_some_and(|iv| json_eq(iv, v)))
}

/// The value at a field path, if present (and not null).
pub(super) fn get_at<'a>(v: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
    let mut cur = v;
    for e in path {
        cur = match e {
            PathElement::Field(f) => cur.as_object()?.get(f)?,
            PathElement::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array()?.iter().find(|i| key_matches(i, &key))?
            }
            PathElement::Value(s) => {
                let want: Value = serde_json::from_str(s).ok()?;
                cur.as_array()?.iter().find(|i| json_eq(i, &want))?
            }
            PathElement::Index(i) => cur.as_array()?.get(*i)?,
        };
        if cur.is_null() {
            return None;
        }
    }
    Some(cur)
}

fn get_at_mut<'a>(v: &'a mut Value, path: &[PathElement]) -> Option<&'a mut Value> {
    let mut cur = v;
    for e in path {
        cur = match e {
            PathElement::Field(f) => cur.as_object_mut()?.get_mut(f)?,
            PathElement::Key(k) => {
                let key: Map<String, Value> = serde_json::from_str(k).ok()?;
                cur.as_array_mut()?.iter_mut().find(|i| key_matches(i, &key))?
            }
            PathElement::Value(s) => {
                let want: Value = serde_json::from_str(s).ok()?;
                cur.as_array_mut()?.iter_mut().find(|i| json_eq(i, &want))?
            }
            PathElement::Index(i) => cur.as_array_mut()?.get_mut(*i)?,
        };
    }
    Some(cur)
}

/// Whether the path is a key field of a keyed-list item (`...[name="x"].name`): those
/// go with their item, never alone.
pub(super) fn is_key_field(path: &[PathElement]) -> bool {
    match path {
        [.., PathElement::Key(k), PathElement::Field(f)] => {
            serde_json::from_str::<Map<String, Value>>(k).is_ok_and(|key| key.contains_key(f))
        }
        _ => false,
    }
}

/// Removes the field or list item at `path` (no-op when absent).
pub(super) fn remove_at(v: &mut Value, path: &[PathElement]) {
    remove_one(v, path);
    // As structured-merge-diff prunes: a map or list that the removal left empty goes
    // too (for a typed object an empty `labels` is dropped, not kept as `{}`), up to
    // the nearest ancestor that still has something in it.
    for len in (1..path.len()).rev() {
        let prefix = &path[..len];
        let empty = match get_at(v, prefix) {
            Some(Value::Object(o)) => o.is_empty(),
            Some(Value::Array(a)) => a.is_empty(),
            _ => false,
        };
        if !empty {
            break;
        }
        remove_one(v, prefix);
    }
}

fn remove_one(v: &mut Value, path: &[PathElement]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let Some(parent) = get_at_mut(v, parent) else {
        return;
    };
    match last {
        PathElement::Field(f) => {
            if let Some(o) = parent.as_object_mut() {
                o.remove(f);
            }
        }
        PathElement::Key(k) => {
            if let (Ok(key), Some(a)) = (serde_json::from_str::<Map<String, Value>>(k), parent.as_array_mut()) {
                a.retain(|i| !key_matches(i, &key));
            }
        }
        PathElement::Value(s) => {
            if let (Ok(want), Some(a)) = (serde_json::from_str::<Value>(s), parent.as_array_mut()) {
                a.retain(|i| !json_eq(i, &want));
            }
        }
        PathElement::Index(i) => {
            if let Some(a) = parent.as_array_mut() {
                if *i < a.len() {
                    a.remove(*i);
                }
            }
        }
    }
}

/// Whether the write from `old` to `new` changed the owned path: list items by their
/// presence (their fields are tracked separately), everything else by value.
pub(super) fn is_changed(old: &Value, new: &Value, path: &[PathElement]) -> bool {
    match path.last() {
        Some(PathElement::Key(_)) | Some(PathElement::Value(_)) => get_at(old, path).is_none(),
        _ => match (get_at(old, path), get_at(new, path)) {
            (Some(a), Some(b)) => !json_eq(a, b),
            (None, None) => false,
            _ => true,
        },
    }
}
