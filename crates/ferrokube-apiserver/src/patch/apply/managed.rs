//! Managed-fields bookkeeping: the `metadata.managedFields` entries (one per manager,
//! operation and subresource, each with its [`FieldSet`]), reading and writing them on
//! an object, the default field manager of a non-apply write, and how an ordinary
//! write (create, update, json/merge/strategic patch) moves the fields it changed to
//! its writer's `Update` entry ([`update_managed_fields`]).
//!
//! Server-side apply ([`super::server_side_apply`]) reads and rewrites the same
//! entries; the conflicts between them are found in `conflicts`.

use serde_json::{json, Map, Value};

use super::super::json_eq;
use super::super::schema::{FieldKind, MapStrategy, Member, ObjectSchema, TypeSchema};
use super::super::PatchError;
use super::fields::{field_set, get_at, is_changed, stripped, FieldPath, FieldSet, PathElement};
use super::{invalid, now};

/// The operation a managedFields entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write (create, update, patch).
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `metadata.managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct ManagedFieldsEntry {
    /// The field manager.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The apiVersion the write used (`apps/v1`).
    pub api_version: String,
    /// When the entry last changed (RFC 3339, seconds).
    pub time: Option<String>,
    /// The subresource written (`status`), if any.
    pub subresource: Option<String>,
    /// The owned fields.
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation.as_str()));
        m.insert("apiVersion".into(), json!(self.api_version));
        if let Some(t) = &self.time {
            m.insert("time".into(), json!(t));
        }
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), json!(s));
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Self> {
        let operation = match v.get("operation")?.as_str()? {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        Some(ManagedFieldsEntry {
            manager: v.get("manager").and_then(Value::as_str).unwrap_or_default().to_string(),
            operation,
            api_version: v.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string(),
            time: v.get("time").and_then(Value::as_str).map(str::to_string),
            subresource: v.get("subresource").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string),
            fields: match v.get("fieldsV1") {
                Some(f) => FieldSet::from_fields_v1(f).ok()?,
                None => FieldSet::new(),
            },
        })
    }
}

/// The managedFields entries of an object. Entries that cannot be decoded are skipped
/// (kube-apiserver likewise resets managedFields it cannot read).
pub fn managed_fields(obj: &Value) -> Vec<ManagedFieldsEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(ManagedFieldsEntry::from_json).collect())
        .unwrap_or_default()
}

pub(super) fn set_managed_fields(obj: &mut Value, entries: &[ManagedFieldsEntry]) {
    let Value::Object(o) = obj else { return };
    let meta = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else { return };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        // kube-apiserver's order: Apply before Update, then oldest first (an entry
        // without time first), then by manager, apiVersion and subresource.
        let mut sorted: Vec<&ManagedFieldsEntry> = entries.iter().collect();
        sorted.sort_by(|p, q| {
            (p.operation.as_str(), p.time.as_deref().unwrap_or(""), &p.manager, &p.api_version)
                .cmp(&(q.operation.as_str(), q.time.as_deref().unwrap_or(""), &q.manager, &q.api_version))
                .then_with(|| p.subresource.as_deref().unwrap_or("").cmp(q.subresource.as_deref().unwrap_or("")))
        });
        meta.insert(
            "managedFields".into(),
            Value::Array(sorted.into_iter().map(ManagedFieldsEntry::to_json).collect()),
        );
    }
}

/// The field manager name kube-apiserver uses for a non-apply write without a
/// `fieldManager` parameter: the User-Agent up to its first `/` (`kubectl/v1.33.0 (...)`
/// gives `kubectl`), at most 128 characters; `unknown` without a User-Agent.
pub fn default_field_manager(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or("").split('/').next().unwrap_or("").trim();
    if ua.is_empty() {
        return "unknown".into();
    }
    ua.chars().take(128).collect()
}

/// Records a non-apply write (create, update, json/merge/strategic patch) by `manager`
/// in the managedFields of `new`, given the object before the write (`None` for a
/// create), and returns `new` with the updated `metadata.managedFields`.
///
/// The fields whose values changed (or were added) move to `manager`'s `Update` entry
/// and are taken from every other manager; fields that no longer exist are dropped from
/// all entries. If `new` carries managedFields different from `old`'s (the client
/// rewrote them), those are the starting point, as in kube-apiserver. Keyed lists whose
/// items lack their keys are recorded as one atomic field instead of failing: an
/// ordinary write is never rejected for ownership bookkeeping.
pub fn update_managed_fields(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    root_type: Option<&TypeSchema>,
) -> Result<Value, PatchError> {
    update_at(old, new, manager, None, root_type, &now())
}

/// Like [`update_managed_fields`], for a write through a subresource (`status`,
/// `scale`): the writer's entry records the subresource, as kube-apiserver does
/// (`{manager: "kube-controller-manager", operation: Update, subresource: "status"}`).
pub fn update_managed_fields_subresource(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: &str,
    root_type: Option<&TypeSchema>,
) -> Result<Value, PatchError> {
    let sub = Some(subresource).filter(|s| !s.is_empty());
    update_at(old, new, manager, sub, root_type, &now())
}

pub(super) fn update_at(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    subresource: Option<&str>,
    root_type: Option<&TypeSchema>,
    time: &str,
) -> Result<Value, PatchError> {
    if !new.is_object() {
        return Err(invalid("", "the object is not a JSON object"));
    }
    let ctx = ObjectSchema::root(root_type);
    let old_mf = old.and_then(|o| o.pointer("/metadata/managedFields"));
    let new_mf = new.pointer("/metadata/managedFields");
    let mut entries = match (new_mf, old) {
        (Some(n), _) if old_mf.is_none_or(|o| !json_eq(o, n)) => managed_fields(new),
        (_, Some(o)) => managed_fields(o),
        _ => Vec::new(),
    };
    let old_view = stripped(old.unwrap_or(&Value::Null), false);
    let new_view = stripped(new, false);
    let new_set = field_set(&new_view, ctx, false)?;
    let mut changed: Vec<FieldPath> = new_set.iter().filter(|p| is_changed(&old_view, &new_view, p)).cloned().collect();
    changed.extend(added_containers(&changed, &old_view, &new_view, ctx));
    let changed: Vec<&FieldPath> = changed.iter().collect();
    let mine = |e: &ManagedFieldsEntry| {
        e.manager == manager && e.operation == Operation::Update && e.subresource.as_deref() == subresource
    };
    for e in entries.iter_mut() {
        let gone: Vec<FieldPath> = e.fields.iter().filter(|p| get_at(&new_view, p).is_none()).cloned().collect();
        for p in gone {
            e.fields.remove(&p);
        }
        if !mine(e) {
            for p in &changed {
                e.fields.remove(p);
            }
        }
    }
    let scale = subresource == Some("scale");
    if !changed.is_empty() {
        let api_version = new.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        match entries.iter_mut().find(|e| mine(e)) {
            Some(e) => {
                for p in &changed {
                    e.fields.insert((*p).clone());
                }
                e.api_version = api_version;
                if !scale {
                    e.time = Some(time.to_string());
                }
            }
            None => entries.push(ManagedFieldsEntry {
                manager: manager.to_string(),
                operation: Operation::Update,
                api_version,
                // kube-apiserver's scale handler gives a scale writer's entry the time
                // of the manager's entry it had before (none for a new one), and keeps it.
                time: (!scale).then(|| time.to_string()),
                subresource: subresource.map(str::to_string),
                fields: changed.iter().map(|p| (*p).clone()).fold(FieldSet::new(), |mut s, p| {
                    s.insert(p);
                    s
                }),
            }),
        }
    }
    entries.retain(|e| !e.fields.is_empty());
    let mut out = new.clone();
    set_managed_fields(&mut out, &entries);
    Ok(out)
}

/// The maps that an Update added as a whole: kube-apiserver compares the new object
/// with the old one (on create, the type's zero value) and owns every path that was
/// absent before, so a map, list or optional struct that did not exist (`labels`,
/// `data`, `finalizers`, `ports`, a `rollingUpdate`: omitted from the zero value's
/// JSON) is owned itself besides its entries and shows as `".": {}`. Fields that the
/// zero value always writes (`spec`, `strategy`, `template`, `containers`) are not.
fn added_containers(changed: &[FieldPath], old: &Value, new: &Value, ctx: ObjectSchema<'_>) -> Vec<FieldPath> {
    let mut out: Vec<FieldPath> = Vec::new();
    for path in changed {
        for len in 1..path.len() {
            let prefix = &path[..len];
            if out.iter().any(|p| p.as_slice() == prefix) || changed.iter().any(|p| p.as_slice() == prefix) {
                continue;
            }
            // Maps, structs and (granular) lists alike: `f:ports`, `f:env`,
            // `f:finalizers`, `f:ownerReferences` are owned themselves when new.
            let is_new_object = get_at(new, prefix).is_some_and(|v| v.is_object() || v.is_array())
                && get_at(old, prefix).is_none_or(Value::is_null);
            if is_new_object && !in_zero_value(prefix, ctx) {
                out.push(prefix.to_vec());
            }
        }
    }
    out
}

/// Whether the node at `path` exists in the JSON of the type's zero value: reached
/// through struct fields only, none of them a map, list or optional struct. A custom
/// resource's zero value is an empty object (only its `metadata` is a struct).
fn in_zero_value(path: &[PathElement], ctx: ObjectSchema<'_>) -> bool {
    if matches!(ctx, ObjectSchema::Unknown) {
        return matches!(path, [PathElement::Field(f)] if f == "metadata");
    }
    (1..=path.len()).all(|len| matches!(path[len - 1], PathElement::Field(_)) && !nil_in_zero_value(&path[..len], ctx))
}

/// Whether the node at `path` is a map (or a pointer struct known as such) rather than
/// a struct that a Go zero value holds.
fn nil_in_zero_value(path: &[PathElement], ctx: ObjectSchema<'_>) -> bool {
    let mut object = ctx;
    let mut member: Option<Member<'_>> = None;
    let mut parent = ctx;
    for (i, element) in path.iter().enumerate() {
        match element {
            PathElement::Field(name) => {
                parent = object;
                member = object.member(name);
                if i + 1 < path.len() {
                    object = Member::object(member);
                }
            }
            PathElement::Key(_) | PathElement::Value(_) | PathElement::Index(_) => {
                object = Member::item(member);
            }
        }
    }
    let name = match path.last() {
        Some(PathElement::Field(name)) => name.as_str(),
        _ => "",
    };
    if let (ObjectSchema::Struct(t), Some(_)) = (parent, member) {
        // Known from the Go types (generated from their sources).
        return t.omitted_when_empty(name);
    }
    match member.map(|m| m.kind) {
        Some(FieldKind::Map(MapStrategy::Granular)) => true,
        // Slices are omitted when empty, except the few a type always writes.
        Some(FieldKind::List(_)) => !matches!(name, "containers" | "rules" | "versions"),
        // Optional (pointer) structs commonly set.
        _ => matches!(
            name,
            "rollingUpdate"
                | "securityContext"
                | "livenessProbe"
                | "readinessProbe"
                | "startupProbe"
                | "affinity"
                | "lifecycle"
                | "httpGet"
                | "exec"
                | "tcpSocket"
                | "valueFrom"
                | "fieldRef"
                | "configMapKeyRef"
                | "secretKeyRef"
                | "configMap"
                | "secret"
                | "emptyDir"
                | "hostPath"
                | "persistentVolumeClaim"
                | "projected"
                | "serviceAccountToken"
        ),
    }
}
