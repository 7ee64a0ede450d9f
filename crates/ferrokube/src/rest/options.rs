//! `rest::options`: the typed query options and bodies of the standard verbs, mirroring
//! `metav1.ListOptions`, `GetOptions`, `CreateOptions`, `UpdateOptions`, `PatchOptions`
//! and `DeleteOptions`.
//!
//! The query options are turned into URL parameters by
//! [`Request::versioned_params`](super::Request::versioned_params) (client-go's
//! `VersionedParams`); [`DeleteOptions`] is sent as the JSON body of a DELETE with
//! [`Request::body`](super::Request::body). Field names serialize in the API's camelCase.

use serde::{Deserialize, Serialize};

use super::errors::OptionsError;

/// `dryRun` value that asks the server to run all stages but persist nothing.
pub const DRY_RUN_ALL: &str = "All";

/// Query options of list and watch requests (`metav1.ListOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListOptions {
    /// Only objects whose labels match, e.g. `app=web,tier!=db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
    /// Only objects whose fields match, e.g. `metadata.name=x`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<String>,
    /// Watch for changes instead of listing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<bool>,
    /// Ask for BOOKMARK events on watches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_watch_bookmarks: Option<bool>,
    /// Resource version to list at or watch from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    /// How `resource_version` applies: `NotOlderThan` or `Exact`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version_match: Option<String>,
    /// Server-side timeout of a list or watch, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Page size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Continue token of the previous page.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub continue_token: Option<String>,
    /// Watch-list: start a watch with synthetic ADDED events for the current state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_initial_events: Option<bool>,
}

/// Query options of get requests (`metav1.GetOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetOptions {
    /// Resource version the object must be at least as new as (`"0"`: any cached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// Query options of create requests (`metav1.CreateOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOptions {
    /// Dry-run stages; only [`DRY_RUN_ALL`] is defined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
    /// Name of the actor making the change, for managed fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_manager: Option<String>,
    /// `Ignore`, `Warn` or `Strict` handling of unknown or duplicate fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_validation: Option<String>,
}

/// Query options of update requests (`metav1.UpdateOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateOptions {
    /// Dry-run stages; only [`DRY_RUN_ALL`] is defined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
    /// Name of the actor making the change, for managed fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_manager: Option<String>,
    /// `Ignore`, `Warn` or `Strict` handling of unknown or duplicate fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_validation: Option<String>,
}

/// Query options of patch requests (`metav1.PatchOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchOptions {
    /// Dry-run stages; only [`DRY_RUN_ALL`] is defined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
    /// Take ownership of conflicting fields (server-side apply only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    /// Name of the actor making the change; required for server-side apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_manager: Option<String>,
    /// `Ignore`, `Warn` or `Strict` handling of unknown or duplicate fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_validation: Option<String>,
}

/// Options of a server-side apply (a PATCH with `application/apply-patch+yaml`):
/// `ApplyOptions::new("my-controller").force()`. The field manager is required, as
/// kube-apiserver requires it for apply; `force` takes over fields other managers own
/// (client-go's `metav1.ApplyOptions`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplyOptions {
    /// Name of the actor applying; owns the fields it sends.
    pub field_manager: String,
    /// Take ownership of fields that conflict with other managers.
    pub force: bool,
    /// Dry-run stages; only [`DRY_RUN_ALL`] is defined.
    pub dry_run: Vec<String>,
}

impl ApplyOptions {
    /// Apply as `field_manager`, without force.
    pub fn new(field_manager: impl Into<String>) -> Self {
        ApplyOptions { field_manager: field_manager.into(), force: false, dry_run: Vec::new() }
    }

    /// Take over conflicting fields from other managers (`force=true`).
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// Validate and answer without persisting (`dryRun=All`).
    pub fn dry_run(mut self) -> Self {
        self.dry_run = vec![DRY_RUN_ALL.to_owned()];
        self
    }

    /// The query parameters this apply sends.
    pub(crate) fn patch_options(&self) -> PatchOptions {
        PatchOptions {
            dry_run: self.dry_run.clone(),
            force: self.force.then_some(true),
            field_manager: Some(self.field_manager.clone()),
            field_validation: None,
        }
    }
}

/// How dependents are handled when their owner is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropagationPolicy {
    /// Leave dependents in place, removing the owner reference.
    Orphan,
    /// Delete the owner now and dependents in the background.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
}

/// Conditions that must hold for a delete to proceed (`metav1.Preconditions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The object's UID must be this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// The object's resourceVersion must be this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// The body of a delete request (`metav1.DeleteOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteOptions {
    /// Seconds the object gets to terminate gracefully; 0 deletes immediately.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<i64>,
    /// What happens to dependents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation_policy: Option<PropagationPolicy>,
    /// Conditions that must hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Preconditions>,
    /// Dry-run stages; only [`DRY_RUN_ALL`] is defined.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<String>,
}

/// The kind of a PATCH body; decides its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 JSON merge patch.
    Merge,
    /// Kubernetes strategic merge patch.
    StrategicMerge,
    /// Server-side apply.
    Apply,
}

impl PatchType {
    /// The `Content-Type` of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::Json => "application/json-patch+json",
            PatchType::Merge => "application/merge-patch+json",
            PatchType::StrategicMerge => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Flattens a serializable options struct into query pairs: `null` and missing
/// fields are skipped, arrays become repeated parameters, scalars their text.
pub(crate) fn to_query_pairs<T: Serialize + ?Sized>(opts: &T) -> Result<Vec<(String, String)>, OptionsError> {
    let value = serde_json::to_value(opts).map_err(|e| OptionsError::Serialize(std::sync::Arc::new(e)))?;
    let serde_json::Value::Object(map) = value else {
        return Err(OptionsError::NotAnObject);
    };
    let mut out = Vec::new();
    for (key, v) in map {
        match v {
            serde_json::Value::Null => {}
            serde_json::Value::Array(items) => {
                for item in items {
                    out.push((key.clone(), scalar(&key, item)?));
                }
            }
            other => out.push((key.clone(), scalar(&key, other)?)),
        }
    }
    Ok(out)
}

fn scalar(key: &str, v: serde_json::Value) -> Result<String, OptionsError> {
    match v {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(OptionsError::NotScalar { key: key.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_options_flatten_to_query() {
        let o = ListOptions {
            label_selector: Some("app=web".into()),
            limit: Some(50),
            continue_token: Some("abc".into()),
            allow_watch_bookmarks: Some(true),
            ..Default::default()
        };
        let mut q = to_query_pairs(&o).unwrap();
        q.sort();
        assert_eq!(
            q,
            vec![
                ("allowWatchBookmarks".into(), "true".into()),
                ("continue".into(), "abc".into()),
                ("labelSelector".into(), "app=web".into()),
                ("limit".into(), "50".into()),
            ]
        );
    }

    #[test]
    fn dry_run_repeats_and_delete_body_is_camel_case() {
        let o = PatchOptions { dry_run: vec![DRY_RUN_ALL.into()], force: Some(true), ..Default::default() };
        let q = to_query_pairs(&o).unwrap();
        assert!(q.contains(&("dryRun".into(), "All".into())));
        assert!(q.contains(&("force".into(), "true".into())));
        let d = DeleteOptions {
            grace_period_seconds: Some(0),
            propagation_policy: Some(PropagationPolicy::Foreground),
            preconditions: Some(Preconditions { uid: Some("u1".into()), resource_version: None }),
            dry_run: vec![],
        };
        assert_eq!(
            serde_json::to_value(&d).unwrap(),
            serde_json::json!({"gracePeriodSeconds":0,"propagationPolicy":"Foreground","preconditions":{"uid":"u1"}})
        );
    }

    #[test]
    fn non_object_options_are_rejected() {
        assert!(to_query_pairs(&5).is_err());
    }
}
