//! Server-side apply (`application/apply-patch+yaml`) and field ownership
//! (`metadata.managedFields`).
//!
//! Every write records which fields it set, per *field manager* (the `fieldManager`
//! query parameter, or a name derived from the User-Agent, see
//! [`default_field_manager`]). Ownership is stored in `metadata.managedFields` as a list
//! of entries `{manager, operation: Apply|Update, apiVersion, time, fieldsType:
//! FieldsV1, fieldsV1}`; `fieldsV1` is a tree of path elements (see [`FieldSet`]):
//!
//! ```text
//! {"f:metadata": {"f:labels": {"f:app": {}}},
//!  "f:spec": {"f:replicas": {},
//!             "f:template": {"f:spec": {"f:containers": {
//!                 "k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}
//! ```
//!
//! `f:<name>` is a field, `k:<json>` an item of a keyed list (containers by name),
//! `v:<json>` an item of a set (finalizers), `i:<n>` an item by index, `{}` marks an owned
//! leaf and `".": {}` marks a node that is owned itself and has owned children.
//!
//! # The algorithm ([`server_side_apply`])
//!
//! 1. The applied configuration's field set is computed: every leaf value it sets
//!    (scalars, atomic lists and maps), every item of keyed lists and sets. Granular
//!    objects and maps are not owned themselves, only their members. Identity fields
//!    (`apiVersion`, `kind`, `metadata.name`, `namespace`, `uid`, `resourceVersion`,
//!    `generation`, `creationTimestamp`, `selfLink`, `managedFields`) are never owned,
//!    nor is `status` of kinds that have one (it belongs to the status subresource).
//! 2. The configuration is merged into the live object: objects merge, keyed lists
//!    merge item by item, sets are unioned, everything else is replaced.
//! 3. Conflicts: each field of the configuration whose merged value differs from the
//!    live value, and that another manager owns, is a conflict. Without `force` they are
//!    returned as an [`ApplyConflict`] (HTTP 409); with `force` the other managers lose
//!    those fields. Managers with the same name are not in conflict with each other.
//!    Fields set to the same value are shared: both managers own them.
//! 4. Fields the manager applied last time but no longer has in its configuration are
//!    removed from the object, unless another manager owns them (or something below
//!    them).
//! 5. The manager's `Apply` entry becomes exactly the configuration's field set.
//!
//! Ordinary writes (create, update, json/merge/strategic patch) go through
//! [`update_managed_fields`]: the fields whose values they changed move to the writer's
//! `Update` entry and are taken away from every other manager, so a later apply
//! conflicts with them. This follows kube-apiserver's structured-merge-diff in these
//! essentials; its corner cases (atomic structs such as `LabelSelector`, list ordering
//! of merged keyed lists, ownership of defaulted fields) are not reproduced exactly.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use super::schema::{FieldKind, ListStrategy, MapStrategy, Member, ObjectSchema, TypeSchema};
use super::{json_eq, PatchError};

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

fn set_managed_fields(obj: &mut Value, entries: &[ManagedFieldsEntry]) {
    let Value::Object(o) = obj else { return };
    let meta = o.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(meta) = meta else { return };
    if entries.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(entries.iter().map(ManagedFieldsEntry::to_json).collect()));
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

/// One field another manager owns that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldConflict {
    /// The manager owning the field.
    pub manager: String,
    /// The apiVersion of that manager's entry.
    pub api_version: String,
    /// The subresource of that manager's entry, if any.
    pub subresource: Option<String>,
    /// The field, as `.spec.replicas`.
    pub field: String,
}

impl FieldConflict {
    fn manager_text(&self) -> String {
        match &self.subresource {
            Some(s) => format!("{:?} with subresource {:?} using {}", self.manager, s, self.api_version),
            None => format!("{:?} using {}", self.manager, self.api_version),
        }
    }
}

/// An apply rejected because of conflicts (HTTP 409 Conflict, reason `Conflict`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflict {
    /// The conflicting fields, one per (manager, field).
    pub conflicts: Vec<FieldConflict>,
}

impl ApplyConflict {
    /// The Status message, as kube-apiserver words it:
    /// `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
    pub fn message(&self) -> String {
        let n = self.conflicts.len();
        let body = if n == 1 {
            let c = &self.conflicts[0];
            format!("conflict with {}: {}", c.manager_text(), c.field)
        } else {
            let mut managers: Vec<String> = Vec::new();
            for c in &self.conflicts {
                let t = c.manager_text();
                if !managers.contains(&t) {
                    managers.push(t);
                }
            }
            let mut s = String::from("conflicts with");
            for m in &managers {
                if managers.len() == 1 {
                    s.push_str(&format!(" {m}:"));
                } else {
                    s.push_str(&format!("\n{m}:"));
                }
                for c in self.conflicts.iter().filter(|c| &c.manager_text() == m) {
                    s.push_str(&format!("\n- {}", c.field));
                }
            }
            s
        };
        format!("Apply failed with {n} conflict{}: {body}", if n == 1 { "" } else { "s" })
    }

    /// The Status `details.causes`: `{reason: FieldManagerConflict, message: "conflict
    /// with \"m\" using apps/v1", field: ".spec.replicas"}` per conflict (the JSON name
    /// of a cause's type is `reason`).
    pub fn causes(&self) -> Vec<Value> {
        self.conflicts
            .iter()
            .map(|c| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with {}", c.manager_text()),
                    "field": c.field,
                })
            })
            .collect()
    }

    /// A complete `metav1.Status` object for the 409 response.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": "Conflict",
            "details": {"causes": self.causes()},
            "code": 409,
        })
    }
}

impl std::fmt::Display for ApplyConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// Why a server-side apply failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// The configuration is invalid (400 Bad Request).
    #[error(transparent)]
    Invalid(#[from] PatchError),
    /// Another manager owns fields the configuration changes (409 Conflict; see
    /// [`ApplyConflict::to_status`]).
    #[error("{0}")]
    Conflict(ApplyConflict),
}

/// The result of a successful apply.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyOutcome {
    /// The new object, with `metadata.managedFields` updated. The registry still
    /// validates it, sets server fields (resourceVersion, generation) and stores it.
    pub object: Value,
    /// Whether there was no live object (the apply creates it).
    pub created: bool,
    /// Whether `object` differs from the live object (managedFields included); `false`
    /// for a repeated apply of the same configuration, which needs no write.
    pub changed: bool,
    /// The conflicts that `force` overrode (ownership moved to the applier).
    pub forced: Vec<FieldConflict>,
}

/// Applies `applied` (the user's configuration, already decoded from YAML to JSON) for
/// field manager `manager` onto `live` (`None` when the object does not exist yet).
///
/// `root_type` is the kind's schema ([`super::schema::root_type`]); `None` (custom
/// resources) treats every list as atomic. See the module documentation for the
/// algorithm. Errors: [`ApplyError::Invalid`] for a configuration that is not an object
/// with `apiVersion` and `kind`, that sets `metadata.managedFields`, whose keyed-list items
/// lack their keys or repeat them, or an empty `manager`; [`ApplyError::Conflict`]
/// when `force` is false and other managers own fields the configuration changes.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    root_type: Option<&TypeSchema>,
) -> Result<ApplyOutcome, ApplyError> {
    apply_at(live, applied, manager, force, root_type, &now())
}

/// Like [`server_side_apply`], through the `status` subresource: only the
/// configuration's `status` is applied (everything else it sets but the identity
/// fields is ignored, as kube-apiserver resets it), and the manager's `Apply` entry
/// records `subresource: status`, separate from its entry for the main resource.
pub fn server_side_apply_status(
    live: &Value,
    applied: &Value,
    manager: &str,
    force: bool,
    root_type: Option<&TypeSchema>,
) -> Result<ApplyOutcome, ApplyError> {
    let Value::Object(config) = applied else {
        return Err(invalid("", "the apply configuration must be an object").into());
    };
    let mut only_status = Map::new();
    for k in ["apiVersion", "kind", "status"] {
        if let Some(v) = config.get(k) {
            only_status.insert(k.into(), v.clone());
        }
    }
    if let Some(Value::Object(meta)) = config.get("metadata") {
        let mut m = Map::new();
        for k in ["name", "namespace", "managedFields"] {
            if let Some(v) = meta.get(k) {
                m.insert(k.into(), v.clone());
            }
        }
        only_status.insert("metadata".into(), Value::Object(m));
    }
    apply_sub(Some(live), &Value::Object(only_status), manager, force, root_type, Some("status"), &now())
}

fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}

fn invalid(path: &str, message: impl Into<String>) -> PatchError {
    PatchError::Apply { path: if path.is_empty() { ".".into() } else { path.to_string() }, message: message.into() }
}

fn apply_at(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    root_type: Option<&TypeSchema>,
    time: &str,
) -> Result<ApplyOutcome, ApplyError> {
    apply_sub(live, applied, manager, force, root_type, None, time)
}

/// [`apply_at`] for the main resource (`subresource: None`) or a subresource, whose
/// configuration the caller has already cut down to what the subresource may change.
fn apply_sub(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    root_type: Option<&TypeSchema>,
    subresource: Option<&str>,
    time: &str,
) -> Result<ApplyOutcome, ApplyError> {
    if manager.is_empty() {
        return Err(invalid("", "a field manager is required for apply").into());
    }
    let Value::Object(config) = applied else {
        return Err(invalid("", "the apply configuration must be an object").into());
    };
    let api_version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(".apiVersion", "apiVersion must be set"))?
        .to_string();
    if config.get("kind").and_then(Value::as_str).is_none_or(str::is_empty) {
        return Err(invalid(".kind", "kind must be set").into());
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null() && m.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(invalid(".metadata.managedFields", "metadata.managedFields must be nil").into());
    }
    if live.is_some_and(|l| !l.is_object()) {
        return Err(invalid("", "the live object is not a JSON object").into());
    }
    let ctx = ObjectSchema::root(root_type);
    let reset_status = subresource.is_none() && root_type.is_some_and(|t| t.field("status").is_some());

    let config_set = field_set(&stripped(applied, reset_status), ctx, true)?;
    let mut entries = live.map(managed_fields).unwrap_or_default();
    let me = |e: &ManagedFieldsEntry| {
        e.manager == manager && e.operation == Operation::Apply && e.subresource.as_deref() == subresource
    };
    let previous = entries.iter().find(|e| me(e)).map(|e| e.fields.clone()).unwrap_or_default();

    // Merge the configuration into the live object.
    let mut merged = live.cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Value::Object(m) = &mut merged {
        let mut config = config.clone();
        if reset_status {
            config.remove("status");
        }
        if let Some(Value::Object(meta)) = config.get_mut("metadata") {
            meta.remove("managedFields");
        }
        merge_object(m, &config, ctx);
    }

    // Conflicts: fields the configuration changes that others own.
    let live_view = stripped(live.unwrap_or(&Value::Null), false);
    let merged_view = stripped(&merged, false);
    let changed: Vec<&FieldPath> = config_set.iter().filter(|p| is_changed(&live_view, &merged_view, p)).collect();
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| e.manager != manager) {
        for p in &changed {
            if e.fields.contains(p) {
                conflicts.push(FieldConflict {
                    manager: e.manager.clone(),
                    api_version: e.api_version.clone(),
                    subresource: e.subresource.clone(),
                    field: path_to_string(p),
                });
            }
        }
    }
    if !conflicts.is_empty() {
        if !force {
            return Err(ApplyError::Conflict(ApplyConflict { conflicts }));
        }
        for e in entries.iter_mut().filter(|e| e.manager != manager) {
            for p in &changed {
                e.fields.remove(p);
            }
        }
    }

    // Remove what this manager applied before, dropped now, and nobody else owns.
    // Ancestors come first in the set's order: removing a list item removes its
    // fields, which are then skipped.
    let mut removed: Vec<&FieldPath> = Vec::new();
    for p in previous.iter() {
        if config_set.contains_prefix(p)
            || removed.iter().any(|r| p.starts_with(r))
            || is_key_field(p)
            || entries.iter().any(|e| !me(e) && e.fields.contains_prefix(p))
        {
            continue;
        }
        remove_at(&mut merged, p);
        removed.push(p);
    }

    // Record ownership. A no-op apply keeps the entry (and its time) as it was, so the
    // object stays byte-for-byte equal and the registry can skip the write.
    let object_unchanged = live.is_some_and(|l| json_eq(l, &merged));
    let mut entry = ManagedFieldsEntry {
        manager: manager.to_string(),
        operation: Operation::Apply,
        api_version,
        time: Some(time.to_string()),
        subresource: subresource.map(str::to_string),
        fields: config_set,
    };
    match entries.iter().position(me) {
        Some(i) => {
            let old = &entries[i];
            if object_unchanged && old.fields == entry.fields && old.api_version == entry.api_version {
                entry.time = old.time.clone();
            }
            entries[i] = entry;
        }
        None => entries.push(entry),
    }
    entries.retain(|e| !e.fields.is_empty());
    set_managed_fields(&mut merged, &entries);
    let changed = live.is_none_or(|l| !json_eq(l, &merged));
    Ok(ApplyOutcome {
        object: merged,
        created: live.is_none(),
        changed,
        forced: if force { conflicts } else { Vec::new() },
    })
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

fn update_at(
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
    if !changed.is_empty() {
        let api_version = new.get("apiVersion").and_then(Value::as_str).unwrap_or_default().to_string();
        match entries.iter_mut().find(|e| mine(e)) {
            Some(e) => {
                for p in &changed {
                    e.fields.insert((*p).clone());
                }
                e.api_version = api_version;
                e.time = Some(time.to_string());
            }
            None => entries.push(ManagedFieldsEntry {
                manager: manager.to_string(),
                operation: Operation::Update,
                api_version,
                time: Some(time.to_string()),
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
            let is_new_object =
                get_at(new, prefix).is_some_and(Value::is_object) && get_at(old, prefix).is_none_or(Value::is_null);
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
    for (i, element) in path.iter().enumerate() {
        match element {
            PathElement::Field(name) => {
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

/// The object without the fields nobody owns (identity and server-set metadata), and
/// without `status` when `reset_status`.
fn stripped(obj: &Value, reset_status: bool) -> Value {
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
fn field_set(obj: &Value, ctx: ObjectSchema<'_>, strict: bool) -> Result<FieldSet, PatchError> {
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
    // metav1.LabelSelector is an atomic struct (`selector`, `podSelector`,
    // `namespaceSelector`, ...): owned as one field.
    if let (Some(PathElement::Field(name)), Some(FieldKind::Struct), Value::Object(_)) = (prefix.last(), kind, v) {
        if name.ends_with("Selector") || name == "selector" {
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
            let mut item_keys = Vec::with_capacity(items.len());
            let mut problem = None;
            for (i, item) in items.iter().enumerate() {
                match item_key(item, keys) {
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
                if let Value::Object(o) = item {
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

/// The canonical JSON of an item's key fields (those present), or `None` when the
/// item is not an object or has none of them.
fn item_key(item: &Value, keys: &[&str]) -> Option<String> {
    let o = item.as_object()?;
    let mut k = Map::new();
    for name in keys {
        if let Some(v) = o.get(*name).filter(|v| !v.is_null()) {
            k.insert((*name).to_string(), v.clone());
        }
    }
    if k.is_empty() {
        None
    } else {
        Some(Value::Object(k).to_string())
    }
}

fn key_matches(item: &Value, key: &Map<String, Value>) -> bool {
    key.iter().all(|(k, v)| item.get(k).is_some_and(|iv| json_eq(iv, v)))
}

/// The value at a field path, if present (and not null).
fn get_at<'a>(v: &'a Value, path: &[PathElement]) -> Option<&'a Value> {
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
fn is_key_field(path: &[PathElement]) -> bool {
    match path {
        [.., PathElement::Key(k), PathElement::Field(f)] => {
            serde_json::from_str::<Map<String, Value>>(k).is_ok_and(|key| key.contains_key(f))
        }
        _ => false,
    }
}

/// Removes the field or list item at `path` (no-op when absent).
fn remove_at(v: &mut Value, path: &[PathElement]) {
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
fn is_changed(old: &Value, new: &Value, path: &[PathElement]) -> bool {
    match path.last() {
        Some(PathElement::Key(_)) | Some(PathElement::Value(_)) => get_at(old, path).is_none(),
        _ => match (get_at(old, path), get_at(new, path)) {
            (Some(a), Some(b)) => !json_eq(a, b),
            (None, None) => false,
            _ => true,
        },
    }
}

/// A value with its null members removed (nulls in an apply configuration are omitted).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), without_nulls(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Merges an apply configuration object into a live object.
fn merge_object(live: &mut Map<String, Value>, config: &Map<String, Value>, ctx: ObjectSchema<'_>) {
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
    match (live, config, kind) {
        (
            Value::Object(l),
            Value::Object(c),
            None | Some(FieldKind::Struct) | Some(FieldKind::Map(MapStrategy::Granular)),
        ) => merge_object(l, c, Member::object(member)),
        (Value::Array(l), Value::Array(c), Some(FieldKind::List(ListStrategy::Map))) => {
            let keys = member.map(|m| m.keys).unwrap_or_default();
            for item in c {
                let key = item_key(item, keys).and_then(|k| serde_json::from_str::<Map<String, Value>>(&k).ok());
                let found = key.as_ref().and_then(|k| l.iter_mut().find(|i| key_matches(i, k)));
                match (found, item) {
                    (Some(Value::Object(li)), Value::Object(ci)) => merge_object(li, ci, Member::item(member)),
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

#[cfg(test)]
mod tests {
    use super::super::schema::root_type;
    use super::*;

    const T1: &str = "2026-01-01T00:00:00Z";
    const T2: &str = "2026-01-01T00:01:00Z";

    fn deploy() -> Option<&'static TypeSchema> {
        root_type("apps", "Deployment")
    }

    fn config(replicas: i64, labels: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}]}
                }
            }
        })
    }

    fn entry(obj: &Value, manager: &str) -> Option<ManagedFieldsEntry> {
        managed_fields(obj).into_iter().find(|e| e.manager == manager)
    }

    fn path(s: &[&str]) -> FieldPath {
        s.iter()
            .map(|e| match e.split_once(':') {
                Some(("k", k)) => PathElement::Key(k.to_string()),
                Some(("v", v)) => PathElement::Value(v.to_string()),
                _ => PathElement::Field(e.to_string()),
            })
            .collect()
    }

    #[test]
    fn first_apply_records_manager_fields() {
        let out = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap();
        assert!(out.created);
        let obj = out.object;
        assert_eq!(obj["spec"]["replicas"], 2);
        let mf = obj["metadata"]["managedFields"].as_array().unwrap();
        assert_eq!(mf.len(), 1);
        assert_eq!(mf[0]["manager"], "kubectl");
        assert_eq!(mf[0]["operation"], "Apply");
        assert_eq!(mf[0]["apiVersion"], "apps/v1");
        assert_eq!(mf[0]["time"], T1);
        assert_eq!(mf[0]["fieldsType"], "FieldsV1");
        assert_eq!(
            mf[0]["fieldsV1"],
            json!({
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    // metav1.LabelSelector is atomic, as in kube-apiserver.
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:containers": {"k:{\"name\":\"nginx\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                    }
                }
            })
        );
        // Round trip of the encoding.
        let set = FieldSet::from_fields_v1(&mf[0]["fieldsV1"]).unwrap();
        assert!(set.contains(&path(&["spec", "template", "spec", "containers", "k:{\"name\":\"nginx\"}"])));
        assert!(set.contains(&path(&["spec", "template", "spec", "containers", "k:{\"name\":\"nginx\"}", "image"])));
        assert_eq!(set.to_fields_v1(), mf[0]["fieldsV1"]);
    }

    #[test]
    fn repeated_apply_is_a_no_op() {
        let first = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap();
        assert!(first.changed);
        let again =
            apply_at(Some(&first.object), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
        assert!(!again.changed);
        assert_eq!(again.object, first.object);
        let scaled =
            apply_at(Some(&first.object), &config(3, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
        assert!(scaled.changed);
        assert_eq!(scaled.object["metadata"]["managedFields"][0]["time"], T2);
    }

    #[test]
    fn second_manager_conflicts_on_replicas() {
        let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
        let err =
            apply_at(Some(&live), &config(5, json!({"app": "web"})), "hpa-tool", false, deploy(), T2).unwrap_err();
        let ApplyError::Conflict(c) = err else { panic!("expected a conflict, got {err:?}") };
        assert_eq!(
            c.conflicts,
            vec![FieldConflict {
                manager: "kubectl".into(),
                api_version: "apps/v1".into(),
                subresource: None,
                field: ".spec.replicas".into()
            }]
        );
        assert_eq!(
            c.message(),
            "Apply failed with 1 conflict: conflict with \"kubectl\" using apps/v1: .spec.replicas"
        );
        let status = c.to_status();
        assert_eq!(status["code"], 409);
        assert_eq!(status["reason"], "Conflict");
        assert_eq!(
            status["details"]["causes"][0],
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl\" using apps/v1", "field": ".spec.replicas"})
        );
    }

    #[test]
    fn conflict_with_update_manager() {
        let created =
            update_at(None, &config(2, json!({"app": "web"})), "kubectl-client-side-apply", None, deploy(), T1)
                .unwrap();
        let e = entry(&created, "kubectl-client-side-apply").unwrap();
        assert_eq!(e.operation, Operation::Update);
        assert!(e.fields.contains(&path(&["spec", "replicas"])));
        let err =
            apply_at(Some(&created), &config(3, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap_err();
        let ApplyError::Conflict(c) = err else { panic!("{err:?}") };
        assert_eq!(c.conflicts.len(), 1);
        assert_eq!(c.conflicts[0].manager, "kubectl-client-side-apply");
        assert_eq!(c.conflicts[0].field, ".spec.replicas");
    }

    #[test]
    fn force_transfers_ownership() {
        let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
        let out = apply_at(Some(&live), &config(5, json!({"app": "web"})), "hpa-tool", true, deploy(), T2).unwrap();
        assert_eq!(out.forced.len(), 1);
        assert_eq!(out.object["spec"]["replicas"], 5);
        let replicas = path(&["spec", "replicas"]);
        assert!(!entry(&out.object, "kubectl").unwrap().fields.contains(&replicas));
        assert!(entry(&out.object, "hpa-tool").unwrap().fields.contains(&replicas));
        // The old owner now conflicts in turn.
        let err =
            apply_at(Some(&out.object), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap_err();
        assert!(matches!(err, ApplyError::Conflict(ref c) if c.conflicts[0].manager == "hpa-tool"), "{err:?}");
    }

    #[test]
    fn shared_field_same_value_no_conflict() {
        let live = apply_at(None, &config(2, json!({"app": "web"})), "a", false, deploy(), T1).unwrap().object;
        let out = apply_at(Some(&live), &config(2, json!({"app": "web"})), "b", false, deploy(), T2).unwrap();
        let replicas = path(&["spec", "replicas"]);
        assert!(entry(&out.object, "a").unwrap().fields.contains(&replicas));
        assert!(entry(&out.object, "b").unwrap().fields.contains(&replicas));
        // "b" dropping replicas keeps the value: "a" still owns it.
        let mut cfg = config(2, json!({"app": "web"}));
        cfg["spec"].as_object_mut().unwrap().remove("replicas");
        let out = apply_at(Some(&out.object), &cfg, "b", false, deploy(), T2).unwrap();
        assert_eq!(out.object["spec"]["replicas"], 2);
    }

    #[test]
    fn dropped_fields_are_removed() {
        let live = apply_at(None, &config(2, json!({"app": "web", "tier": "fe"})), "kubectl", false, deploy(), T1)
            .unwrap()
            .object;
        let mut live = live;
        live["status"] = json!({"replicas": 2});
        let out = apply_at(Some(&live), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
        assert_eq!(out.object["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(out.object["status"], json!({"replicas": 2}), "fields nobody applied stay");
        // A dropped container is removed; a label owned by someone else stays.
        let with_other = update_at(
            Some(&out.object),
            &{
                let mut o = out.object.clone();
                o["metadata"]["labels"]["team"] = json!("x");
                o
            },
            "kubectl-label",
            None,
            deploy(),
            T2,
        )
        .unwrap();
        let mut cfg = config(2, json!({"app": "web", "team": "x"}));
        cfg["spec"]["template"]["spec"]["containers"] = json!([{"name": "other", "image": "o"}]);
        let out = apply_at(Some(&with_other), &cfg, "kubectl", false, deploy(), T2).unwrap();
        assert_eq!(out.object["spec"]["template"]["spec"]["containers"], json!([{"name": "other", "image": "o"}]));
        let cfg = config(2, json!({"app": "web"}));
        let out = apply_at(Some(&out.object), &cfg, "kubectl", false, deploy(), T2).unwrap();
        assert_eq!(out.object["metadata"]["labels"]["team"], "x", "co-owned by kubectl-label");
    }

    #[test]
    fn update_takes_ownership_from_others() {
        let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
        let mut new = live.clone();
        new["spec"]["replicas"] = json!(7);
        let out = update_at(Some(&live), &new, "kubectl-scale", None, deploy(), T2).unwrap();
        let replicas = path(&["spec", "replicas"]);
        assert!(!entry(&out, "kubectl").unwrap().fields.contains(&replicas));
        let scale = entry(&out, "kubectl-scale").unwrap();
        assert_eq!(scale.operation, Operation::Update);
        assert_eq!(scale.fields.len(), 1);
        assert_eq!(out["metadata"]["managedFields"][1]["fieldsV1"], json!({"f:spec": {"f:replicas": {}}}));
    }

    #[test]
    fn status_writes_record_the_subresource() {
        let live = apply_at(None, &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T1).unwrap().object;
        let mut new = live.clone();
        new["status"] = json!({"replicas": 2, "readyReplicas": 2});
        let out = update_at(Some(&live), &new, "ferrokube-controllers", Some("status"), deploy(), T2).unwrap();
        let e = entry(&out, "ferrokube-controllers").unwrap();
        assert_eq!(e.subresource.as_deref(), Some("status"));
        assert_eq!(out["metadata"]["managedFields"][1]["subresource"], "status");
        assert!(e.fields.contains(&path(&["status", "readyReplicas"])));
        // Applying the main resource again neither conflicts with nor removes status.
        let again = apply_at(Some(&out), &config(2, json!({"app": "web"})), "kubectl", false, deploy(), T2).unwrap();
        assert_eq!(again.object["status"]["readyReplicas"], 2);
    }

    #[test]
    fn keyed_list_items_owned_per_manager() {
        let live = apply_at(None, &config(2, json!({"app": "web"})), "a", false, deploy(), T1).unwrap().object;
        // "b" applies only a sidecar container (plus the identity it needs).
        let b_cfg = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}}}
        });
        let out = apply_at(Some(&live), &b_cfg, "b", false, deploy(), T2).unwrap().object;
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["nginx", "sidecar"]);
        assert_eq!(
            entry(&out, "b").unwrap().fields.to_fields_v1(),
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"sidecar\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}})
        );
        // "a" re-applying its config (without the sidecar) keeps b's container.
        let out = apply_at(Some(&out), &config(2, json!({"app": "web"})), "a", false, deploy(), T2).unwrap().object;
        assert_eq!(out["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 2);
        // "b" changing nginx's image conflicts with "a" on that item's field.
        let mut b2 = b_cfg.clone();
        b2["spec"]["template"]["spec"]["containers"] =
            json!([{"name": "sidecar", "image": "busybox"}, {"name": "nginx", "image": "nginx:2"}]);
        let err = apply_at(Some(&out), &b2, "b", false, deploy(), T2).unwrap_err();
        let ApplyError::Conflict(c) = err else { panic!("{err:?}") };
        assert_eq!(c.conflicts[0].field, ".spec.template.spec.containers[name=\"nginx\"].image");
        // "b" dropping the sidecar removes it (nobody else owns it).
        let out = apply_at(
            Some(&out),
            &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
            "b",
            false,
            deploy(),
            T2,
        )
        .unwrap()
        .object;
        assert_eq!(out["spec"]["template"]["spec"]["containers"], json!([{"name": "nginx", "image": "nginx:1.25"}]));
        assert!(entry(&out, "b").is_none(), "an empty entry is dropped");
    }

    #[test]
    fn invalid_configurations() {
        let bad = [
            json!([1]),
            json!({"kind": "Deployment"}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"managedFields": [{"manager": "x"}]}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "a"}]}}}}),
        ];
        for b in bad {
            let e = apply_at(None, &b, "m", false, deploy(), T1).unwrap_err();
            assert!(matches!(e, ApplyError::Invalid(_)), "{b}: {e:?}");
        }
        assert!(apply_at(None, &config(1, json!({})), "", false, deploy(), T1).is_err());
    }

    #[test]
    fn custom_resources_without_schema() {
        let cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"sizes": [1, 2], "color": "red"}});
        let out = apply_at(None, &cr, "m", false, None, T1).unwrap();
        assert_eq!(
            out.object["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:spec": {"f:color": {}, "f:sizes": {}}})
        );
    }

    #[test]
    fn sets_and_manager_names() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "finalizers": ["a/b"]}, "data": {"k": "v"}});
        let out = apply_at(None, &cm, "m", false, root_type("", "ConfigMap"), T1).unwrap();
        assert_eq!(
            out.object["metadata"]["managedFields"][0]["fieldsV1"],
            json!({"f:data": {"f:k": {}}, "f:metadata": {"f:finalizers": {"v:\"a/b\"": {}}}})
        );
        assert_eq!(default_field_manager(Some("kubectl/v1.33.0 (linux/amd64) kubernetes/abc")), "kubectl");
        assert_eq!(default_field_manager(None), "unknown");
        assert_eq!(
            path_to_string(&path(&["spec", "containers", "k:{\"name\":\"nginx\"}", "image"])),
            ".spec.containers[name=\"nginx\"].image"
        );
    }

    #[test]
    fn multiple_conflicts_message() {
        let c = ApplyConflict {
            conflicts: vec![
                FieldConflict {
                    manager: "m".into(),
                    api_version: "apps/v1".into(),
                    subresource: None,
                    field: ".spec.replicas".into(),
                },
                FieldConflict {
                    manager: "m".into(),
                    api_version: "apps/v1".into(),
                    subresource: None,
                    field: ".spec.paused".into(),
                },
            ],
        };
        assert_eq!(
            c.message(),
            "Apply failed with 2 conflicts: conflicts with \"m\" using apps/v1:\n- .spec.replicas\n- .spec.paused"
        );
        assert_eq!(c.causes().len(), 2);
    }
}
