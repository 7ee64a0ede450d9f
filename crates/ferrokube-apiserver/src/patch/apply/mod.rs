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
//! essentials: lists are keyed by all their `+listMapKey`s and `+structType=atomic`
//! structs (`LabelSelector`, `OwnerReference`, `RoleRef`) are owned and replaced as one
//! value (both from the Go types' markers, see [`super::schema`]), and a map or list that
//! a removal leaves empty is dropped. Its corner cases (list ordering of merged keyed
//! lists, ownership of defaulted fields, defaults of missing key fields such as a port's
//! `protocol`) are not reproduced exactly.
//!
//! # Layout
//!
//! - `fields`: field paths and field sets ([`PathElement`], [`FieldSet`], `fieldsV1`),
//!   and reading, removing and comparing values at a path.
//! - `managed`: the managedFields entries ([`ManagedFieldsEntry`]) and the bookkeeping
//!   of ordinary writes ([`update_managed_fields`]).
//! - `conflicts`: conflict detection and the 409 ([`ApplyConflict`]).
//! - `merge`: merging a configuration into the live object.
//! - this module: the apply itself ([`server_side_apply`]), tying them together.

mod conflicts;
mod fields;
mod managed;
mod merge;

use serde_json::{Map, Value};

use super::json_eq;
use super::schema::{ObjectSchema, TypeSchema};
use super::PatchError;
use conflicts::{find_conflicts, take_over};
pub use conflicts::{ApplyConflict, FieldConflict};
use fields::{field_set, is_changed, is_key_field, remove_at, stripped};
pub use fields::{path_to_string, FieldPath, FieldSet, PathElement};
use managed::set_managed_fields;
pub use managed::{
    default_field_manager, managed_fields, update_managed_fields, update_managed_fields_subresource,
    ManagedFieldsEntry, Operation,
};
use merge::merge_object;

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

pub(super) fn now() -> String {
    let now = jiff::Timestamp::now();
    jiff::Timestamp::from_second(now.as_second()).unwrap_or(now).to_string()
}

pub(super) fn invalid(path: &str, message: impl Into<String>) -> PatchError {
    PatchError::Apply { path: if path.is_empty() { ".".into() } else { path.to_string() }, message: message.into() }
}

pub(super) fn apply_at(
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
    // kube decodes the configuration into its kind first: without apiVersion and kind
    // it names the group/version and kind it could not resolve.
    let api_version = config.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version.is_empty() || kind.is_empty() {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", &api_version));
        return Err(PatchError::ApplyRejected(format!("invalid object type: {group}/{version}, Kind={kind}")).into());
    }
    if applied
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null() && m.as_array().is_none_or(|a| !a.is_empty()))
    {
        return Err(PatchError::ApplyRejected("metadata.managedFields must be nil".into()).into());
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
    let conflicts = find_conflicts(&entries, manager, &changed);
    if !conflicts.is_empty() {
        if !force {
            return Err(ApplyError::Conflict(ApplyConflict { conflicts }));
        }
        take_over(&mut entries, manager, &changed);
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

#[cfg(test)]
mod tests;
