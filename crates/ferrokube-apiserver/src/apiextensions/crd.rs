//! The CustomResourceDefinition object: validation and defaulting as kube-apiserver
//! does them, the status the naming and establishing controllers would write, and the
//! served versions a CRD yields.
//!
//! kube sets `NamesAccepted` and `Established` from controllers shortly after the
//! write. Here a create stores the status kube's create answers with (no conditions,
//! empty accepted names, [`initial_status`]), and the registry then immediately writes
//! the status the naming and establishing controllers would (through `/status`, as
//! field manager [`CONTROLLER_MANAGER`]; [`prepare`] computes it on every update), so a
//! CRD is Established (and served) as soon as its create returns.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::schema::Schema;
use super::{json_path_to_pointer, CustomResourceVersion, ScalePaths, CLEANUP_FINALIZER, CUSTOM_RESOURCE_VERBS, GROUP};
use crate::api::ResourceInfo;
use crate::object::errors::FieldError;
use crate::object::meta;
use crate::object::validation::is_subdomain_syntax;

fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn str_at<'v>(v: &'v Value, pointer: &str) -> &'v str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings_at(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// `(group, plural)` of a CRD object (empty strings when unset).
pub fn group_plural(crd: &Value) -> (String, String) {
    (str_at(crd, "/spec/group").to_owned(), str_at(crd, "/spec/names/plural").to_owned())
}

/// The store key of a CRD's custom resources (`group/plural`).
pub fn resource_key_of(crd: &Value) -> String {
    let (group, plural) = group_plural(crd);
    format!("{group}/{plural}")
}

/// The field manager of the status kube-apiserver's own CRD controllers write (a
/// real cluster's kube-apiserver names them after its binary).
pub const CONTROLLER_MANAGER: &str = "kube-apiserver";

/// Fills in kube's defaults: `names.singular` (lowercased kind), `names.listKind`
/// (kind + `List`), `conversion.strategy: None`, and `served`/`storage` false when
/// unset. `preserveUnknownFields: false` is left out, as Go's `omitempty` does.
pub fn set_defaults(crd: &mut Value) {
    let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(names) = spec.get_mut("names").and_then(Value::as_object_mut) {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or("").to_owned();
        if names.get("singular").and_then(Value::as_str).unwrap_or("").is_empty() && !kind.is_empty() {
            names.insert("singular".into(), json!(kind.to_lowercase()));
        }
        if names.get("listKind").and_then(Value::as_str).unwrap_or("").is_empty() && !kind.is_empty() {
            names.insert("listKind".into(), json!(format!("{kind}List")));
        }
    }
    if !spec.get("conversion").is_some_and(Value::is_object) {
        spec.insert("conversion".into(), json!({"strategy": "None"}));
    }
    if spec.get("preserveUnknownFields").is_some_and(|v| v == &json!(false) || v.is_null()) {
        spec.remove("preserveUnknownFields");
    }
    if let Some(versions) = spec.get_mut("versions").and_then(Value::as_array_mut) {
        for v in versions.iter_mut().filter_map(Value::as_object_mut) {
            for flag in ["served", "storage"] {
                if !v.get(flag).is_some_and(Value::is_boolean) {
                    v.insert(flag.into(), json!(false));
                }
            }
        }
    }
}

/// Validates a (defaulted) CRD as kube-apiserver does; each problem is a field error.
pub fn validate(crd: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = meta::meta_str(crd, "name").unwrap_or("");
    let (group, plural) = group_plural(crd);
    if group.is_empty() {
        errs.push(FieldError::required("spec.group", ""));
    } else if !group.contains('.') || !is_subdomain_syntax(&group) {
        errs.push(FieldError::invalid("spec.group", &json!(group), "should be a domain with at least one dot"));
    } else if (group == "k8s.io"
        || group.ends_with(".k8s.io")
        || group == "kubernetes.io"
        || group.ends_with(".kubernetes.io"))
        && crd
            .pointer("/metadata/annotations/api-approved.kubernetes.io")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        errs.push(FieldError::required(
            "metadata.annotations[api-approved.kubernetes.io]",
            "protected groups must have approval annotation \"api-approved.kubernetes.io\", see https://github.com/kubernetes/enhancements/pull/1111",
        ));
    }
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        errs.push(FieldError::invalid("metadata.name", &json!(name), "must be spec.names.plural+\".\"+spec.group"));
    }
    match str_at(crd, "/spec/scope") {
        "Namespaced" | "Cluster" => {}
        "" => errs.push(FieldError::required("spec.scope", "")),
        other => errs.push(FieldError::not_supported("spec.scope", other, &["Cluster", "Namespaced"])),
    }
    // Names.
    let kind = str_at(crd, "/spec/names/kind");
    if plural.is_empty() {
        errs.push(FieldError::required("spec.names.plural", ""));
    } else if !is_dns_label(&plural) {
        errs.push(FieldError::invalid("spec.names.plural", &json!(plural), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"));
    }
    let singular = str_at(crd, "/spec/names/singular");
    if !singular.is_empty() && !is_dns_label(singular) {
        errs.push(FieldError::invalid("spec.names.singular", &json!(singular), "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"));
    }
    if kind.is_empty() {
        errs.push(FieldError::required("spec.names.kind", ""));
    } else if !kind.chars().all(|c| c.is_ascii_alphanumeric()) || !kind.starts_with(|c: char| c.is_ascii_alphabetic()) {
        errs.push(FieldError::invalid(
            "spec.names.kind",
            &json!(kind),
            "may have mixed case, but should otherwise match: [a-z]([-a-z0-9]*[a-z0-9])?",
        ));
    }
    let list_kind = str_at(crd, "/spec/names/listKind");
    if !list_kind.is_empty() && list_kind == kind {
        errs.push(FieldError::invalid(
            "spec.names.listKind",
            &json!(list_kind),
            "kind and listKind may not be the same",
        ));
    }
    for (i, s) in strings_at(crd, "/spec/names/shortNames").iter().enumerate() {
        if !is_dns_label(s) {
            errs.push(FieldError::invalid(
                &format!("spec.names.shortNames[{i}]"),
                &json!(s),
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            ));
        }
    }
    for (i, s) in strings_at(crd, "/spec/names/categories").iter().enumerate() {
        if !is_dns_label(s) {
            errs.push(FieldError::invalid(
                &format!("spec.names.categories[{i}]"),
                &json!(s),
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
            ));
        }
    }
    // Versions.
    let versions = crd.pointer("/spec/versions").and_then(Value::as_array);
    // Without a storage version a new CRD has no stored version either (kube's status
    // check follows the spec's).
    let no_stored_version = |errs: &mut Vec<FieldError>| {
        if strings_at(crd, "/status/storedVersions").is_empty() {
            errs.push(FieldError::invalid(
                "status.storedVersions",
                &Value::Null,
                "must have at least one stored version",
            ));
        }
    };
    let Some(versions) = versions.filter(|v| !v.is_empty()) else {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!([]),
            "must have exactly one version marked as storage version",
        ));
        no_stored_version(&mut errs);
        return errs;
    };
    let mut seen = BTreeSet::new();
    let mut storage = 0;
    let mut served = 0;
    for (i, v) in versions.iter().enumerate() {
        let p = format!("spec.versions[{i}]");
        let vname = v.get("name").and_then(Value::as_str).unwrap_or("");
        if vname.is_empty() {
            errs.push(FieldError::required(&format!("{p}.name"), ""));
        } else if !is_dns1035_label(vname) {
            errs.push(FieldError::invalid(&format!("{p}.name"), &json!(vname), "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"));
        } else if !seen.insert(vname.to_owned()) {
            errs.push(FieldError {
                reason: "FieldValueDuplicate",
                field: format!("{p}.name"),
                body: format!("Duplicate value: {vname:?}"),
            });
        }
        if v.get("storage").and_then(Value::as_bool) == Some(true) {
            storage += 1;
        }
        if v.get("served").and_then(Value::as_bool) == Some(true) {
            served += 1;
        }
        match v.pointer("/schema/openAPIV3Schema") {
            None | Some(Value::Null) => {
                errs.push(FieldError::required(&format!("{p}.schema.openAPIV3Schema"), "schemas are required"))
            }
            Some(s) => {
                if let Err(problems) = Schema::parse(s, &format!("{p}.schema.openAPIV3Schema")) {
                    errs.extend(problems);
                }
            }
        }
        match v.get("subresources") {
            None | Some(Value::Null) => {}
            Some(Value::Object(sub)) => {
                if let Some(scale) = sub.get("scale").filter(|s| !s.is_null()) {
                    let sp = format!("{p}.subresources.scale");
                    let spec_path = scale.get("specReplicasPath").and_then(Value::as_str).unwrap_or("");
                    if spec_path.is_empty() {
                        errs.push(FieldError::required(&format!("{sp}.specReplicasPath"), ""));
                    } else if !spec_path.starts_with(".spec.") || json_path_to_pointer(spec_path).is_none() {
                        errs.push(FieldError::invalid(
                            &format!("{sp}.specReplicasPath"),
                            &json!(spec_path),
                            "should be a json path under .spec",
                        ));
                    }
                    let status_path = scale.get("statusReplicasPath").and_then(Value::as_str).unwrap_or("");
                    if status_path.is_empty() {
                        errs.push(FieldError::required(&format!("{sp}.statusReplicasPath"), ""));
                    } else if !status_path.starts_with(".status.") || json_path_to_pointer(status_path).is_none() {
                        errs.push(FieldError::invalid(
                            &format!("{sp}.statusReplicasPath"),
                            &json!(status_path),
                            "should be a json path under .status",
                        ));
                    }
                    if let Some(sel) = scale.get("labelSelectorPath").and_then(Value::as_str).filter(|s| !s.is_empty())
                    {
                        if !(sel.starts_with(".spec.") || sel.starts_with(".status."))
                            || json_path_to_pointer(sel).is_none()
                        {
                            errs.push(FieldError::invalid(
                                &format!("{sp}.labelSelectorPath"),
                                &json!(sel),
                                "should be a json path under either .spec or .status",
                            ));
                        }
                    }
                }
            }
            Some(other) => errs.push(FieldError::invalid(&format!("{p}.subresources"), other, "must be an object")),
        }
    }
    if storage != 1 {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!(versions.iter().filter_map(|v| v.get("name")).collect::<Vec<_>>()),
            "must have exactly one version marked as storage version",
        ));
    }
    if served == 0 {
        errs.push(FieldError::invalid(
            "spec.versions",
            &json!(versions.iter().filter_map(|v| v.get("name")).collect::<Vec<_>>()),
            "must have at least one served version",
        ));
    }
    if crd.pointer("/spec/preserveUnknownFields").and_then(Value::as_bool) == Some(true) {
        errs.push(FieldError::invalid(
            "spec.preserveUnknownFields",
            &json!(true),
            "cannot set to true, set x-kubernetes-preserve-unknown-fields to true in spec.versions[*].schema instead",
        ));
    }
    if let Some(strategy) = crd.pointer("/spec/conversion/strategy").and_then(Value::as_str) {
        if strategy != "None" {
            errs.push(FieldError::not_supported("spec.conversion.strategy", strategy, &["None"]));
        }
    }
    if storage == 0 {
        no_stored_version(&mut errs);
    }
    errs
}

fn names_of(crd: &Value, from: &str) -> (String, String, String, String, Vec<String>) {
    (
        str_at(crd, &format!("{from}/plural")).to_owned(),
        str_at(crd, &format!("{from}/singular")).to_owned(),
        str_at(crd, &format!("{from}/kind")).to_owned(),
        str_at(crd, &format!("{from}/listKind")).to_owned(),
        strings_at(crd, &format!("{from}/shortNames")),
    )
}

/// The names conflict of `crd` with the accepted names of `others` in its group (the
/// naming controller's check): `(reason, message)`.
fn name_conflict(crd: &Value, others: &[Arc<Value>], builtin: &[Arc<ResourceInfo>]) -> Option<(&'static str, String)> {
    let (group, _) = group_plural(crd);
    let name = meta::meta_str(crd, "name").unwrap_or("");
    let (plural, singular, kind, list_kind, shorts) = names_of(crd, "/spec/names");
    for other in others {
        if meta::meta_str(other, "name") == Some(name) || str_at(other, "/spec/group") != group {
            continue;
        }
        let (op, os, ok, olk, oshorts) = names_of(other, "/status/acceptedNames");
        if !plural.is_empty() && (plural == op || plural == os) {
            return Some(("PluralConflict", format!("{plural:?} is already in use")));
        }
        if !singular.is_empty() && (singular == op || singular == os) {
            return Some(("SingularConflict", format!("{singular:?} is already in use")));
        }
        if let Some(s) = shorts.iter().find(|s| oshorts.contains(s) || **s == op || **s == os) {
            return Some(("ShortNamesConflict", format!("{s:?} is already in use")));
        }
        if !kind.is_empty() && (kind == ok || kind == olk) {
            return Some(("KindConflict", format!("{kind:?} is already in use")));
        }
        if !list_kind.is_empty() && (list_kind == ok || list_kind == olk) {
            return Some(("ListKindConflict", format!("{list_kind:?} is already in use")));
        }
    }
    if builtin.iter().any(|r| r.group == group && r.plural == plural) {
        return Some(("PluralConflict", format!("{plural:?} is already in use")));
    }
    None
}

fn condition(kind: &str, ok: bool, reason: &str, message: &str, old: Option<&Value>) -> Value {
    let status = if ok { "True" } else { "False" };
    let previous = old
        .and_then(|o| o.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(kind)));
    let time = match previous {
        Some(p) if p.get("status").and_then(Value::as_str) == Some(status) => {
            p.get("lastTransitionTime").cloned().unwrap_or_else(|| json!(meta::now_rfc3339()))
        }
        _ => json!(meta::now_rfc3339()),
    };
    json!({"type": kind, "status": status, "lastTransitionTime": time, "reason": reason, "message": message})
}

/// Validates and defaults a CRD being written and sets its status: `acceptedNames`,
/// conditions `NamesAccepted` and `Established` (and `Terminating` while it is being
/// deleted), `storedVersions`. `old` is the stored CRD on updates; `others` every
/// stored CRD (the one being written may be among them); `builtin` the built-in
/// resources, whose names a CRD cannot take.
pub fn prepare(
    crd: &mut Value,
    old: Option<&Value>,
    others: &[Arc<Value>],
    builtin: &[Arc<ResourceInfo>],
) -> Result<(), Vec<FieldError>> {
    set_defaults(crd);
    let mut errs = validate(crd);
    if let Some(old) = old {
        let (og, op) = group_plural(old);
        let (g, p) = group_plural(crd);
        if og != g {
            errs.push(FieldError::invalid("spec.group", &json!(g), "field is immutable"));
        }
        if op != p {
            errs.push(FieldError::invalid("spec.names.plural", &json!(p), "field is immutable"));
        }
        if str_at(old, "/spec/scope") != str_at(crd, "/spec/scope") {
            errs.push(FieldError::invalid("spec.scope", &json!(str_at(crd, "/spec/scope")), "field is immutable"));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let Some(old) = old else {
        initial_status(crd);
        return Ok(());
    };
    let old = Some(old);
    let conflict = name_conflict(crd, others, builtin);
    let accepted = match (&conflict, old) {
        (None, _) => crd.pointer("/spec/names").cloned().unwrap_or_else(|| json!({})),
        (Some(_), Some(old)) => old.pointer("/status/acceptedNames").cloned().unwrap_or_else(|| json!({})),
        (Some(_), None) => json!({"plural": "", "kind": ""}),
    };
    let names_ok = conflict.is_none();
    let was_established = old
        .and_then(|o| o.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"));
    let established = names_ok || was_established;
    let mut conditions = vec![
        match &conflict {
            None => condition("NamesAccepted", true, "NoConflicts", "no conflicts found", old),
            Some((reason, message)) => condition("NamesAccepted", false, reason, message, old),
        },
        if established {
            condition("Established", true, "InitialNamesAccepted", "the initial names have been accepted", old)
        } else {
            condition("Established", false, "NotAccepted", "not all names are accepted", old)
        },
    ];
    if meta::is_deleting(crd) {
        conditions.push(condition(
            "Terminating",
            true,
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
            old,
        ));
    }
    let storage_version = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    // On updates the status being written holds the stored versions: the old ones for
    // the main resource, the client's through `/status` (which may drop migrated ones).
    let mut stored: Vec<String> = if old.is_some() { strings_at(crd, "/status/storedVersions") } else { Vec::new() };
    if !stored.contains(&storage_version) {
        stored.push(storage_version);
    }
    let mut status = Map::new();
    status.insert("conditions".into(), Value::Array(conditions));
    status.insert("acceptedNames".into(), accepted);
    status.insert("storedVersions".into(), json!(stored));
    if let Some(map) = crd.as_object_mut() {
        map.insert("status".into(), Value::Object(status));
    }
    Ok(())
}

/// The status of a CRD just created, before kube's controllers have looked at it:
/// no conditions, empty accepted names, and the storage version as the one stored.
pub fn initial_status(crd: &mut Value) {
    let storage_version = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .and_then(|v| v.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if let Some(map) = crd.as_object_mut() {
        map.insert(
            "status".into(),
            json!({"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": [storage_version]}),
        );
    }
}

/// Whether the CRD still has the status of its create ([`initial_status`]): kube's
/// controllers have yet to accept its names.
pub fn awaits_controllers(crd: &Value) -> bool {
    crd.pointer("/status/conditions").is_none_or(Value::is_null)
}

/// Whether the CRD's `Established` condition is `True`.
pub fn is_established(crd: &Value) -> bool {
    crd.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Established" && c["status"] == "True"))
}

/// Whether the CRD carries the cleanup finalizer.
pub fn has_cleanup_finalizer(crd: &Value) -> bool {
    meta::finalizers(crd).contains(&CLEANUP_FINALIZER)
}

/// The versions an (established) CRD serves, storage version's schema included; empty
/// when it is not established. Served with the accepted names.
pub fn served_versions(crd: &Value) -> Vec<CustomResourceVersion> {
    if !is_established(crd) {
        return Vec::new();
    }
    let crd_name = meta::meta_str(crd, "name").unwrap_or("").to_owned();
    let group = str_at(crd, "/spec/group").to_owned();
    if group == GROUP {
        return Vec::new();
    }
    let names =
        if str_at(crd, "/status/acceptedNames/plural").is_empty() { "/spec/names" } else { "/status/acceptedNames" };
    let (plural, singular, kind, _list_kind, short_names) = names_of(crd, names);
    if plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let singular = if singular.is_empty() { kind.to_lowercase() } else { singular };
    let categories = strings_at(crd, &format!("{names}/categories"));
    let namespaced = str_at(crd, "/spec/scope") != "Cluster";
    let mut out = Vec::new();
    for v in crd.pointer("/spec/versions").and_then(Value::as_array).into_iter().flatten() {
        if v.get("served").and_then(Value::as_bool) != Some(true) {
            continue;
        }
        let Some(version) = v.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
            continue;
        };
        let has_status = v.pointer("/subresources/status").is_some_and(|s| !s.is_null());
        let scale = v.pointer("/subresources/scale").filter(|s| !s.is_null()).and_then(|s| {
            Some(ScalePaths {
                spec_replicas: s.get("specReplicasPath")?.as_str()?.to_owned(),
                status_replicas: s.get("statusReplicasPath")?.as_str()?.to_owned(),
                label_selector: s
                    .get("labelSelectorPath")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            })
        });
        let openapi_schema = v.pointer("/schema/openAPIV3Schema").filter(|s| !s.is_null()).cloned();
        let schema = openapi_schema.as_ref().and_then(|s| Schema::parse(s, "openAPIV3Schema").ok()).map(Arc::new);
        out.push(CustomResourceVersion {
            crd_name: crd_name.clone(),
            resource: Arc::new(ResourceInfo {
                group: group.clone(),
                version: version.to_owned(),
                plural: plural.clone(),
                singular: singular.clone(),
                kind: kind.clone(),
                namespaced,
                short_names: short_names.clone(),
                categories: categories.clone(),
                verbs: CUSTOM_RESOURCE_VERBS.iter().map(|v| (*v).to_owned()).collect(),
                has_status,
                has_scale: scale.is_some(),
            }),
            storage: v.get("storage").and_then(Value::as_bool) == Some(true),
            deprecated: v.get("deprecated").and_then(Value::as_bool) == Some(true),
            schema,
            openapi_schema,
            scale,
            printer_columns: super::printer::columns_of(v),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crd() -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "crontabs.stable.example.com"},
            "spec": {
                "group": "stable.example.com",
                "scope": "Namespaced",
                "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"]},
                "versions": [
                    {"name": "v1", "served": true, "storage": true,
                     "schema": {"openAPIV3Schema": {"type": "object"}},
                     "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}},
                    {"name": "v1beta1", "served": true, "storage": false,
                     "schema": {"openAPIV3Schema": {"type": "object"}}}
                ]
            }
        })
    }

    /// A CRD created, then written once more as kube's controllers would.
    fn established(mut c: Value, others: &[Arc<Value>]) -> Value {
        prepare(&mut c, None, others, &[]).unwrap();
        let created = c.clone();
        prepare(&mut c, Some(&created), others, &[]).unwrap();
        c
    }

    #[test]
    fn defaults_and_status() {
        let mut c = crd();
        prepare(&mut c, None, &[], &[]).unwrap();
        // As kube's create answers, before its controllers have run.
        assert!(awaits_controllers(&c));
        assert_eq!(
            c["status"],
            json!({"conditions": null, "acceptedNames": {"plural": "", "kind": ""}, "storedVersions": ["v1"]})
        );
        assert!(c["spec"].get("preserveUnknownFields").is_none());
        let c = established(c, &[]);
        assert!(!awaits_controllers(&c));
        assert_eq!(c["spec"]["names"]["singular"], "crontab");
        assert_eq!(c["spec"]["names"]["listKind"], "CronTabList");
        assert_eq!(c["status"]["storedVersions"], json!(["v1"]));
        assert_eq!(c["status"]["acceptedNames"]["kind"], "CronTab");
        let conds = c["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds[0]["reason"], "NoConflicts");
        assert_eq!(conds[1]["type"], "Established");
        assert_eq!(conds[1]["reason"], "InitialNamesAccepted");
        let served = served_versions(&c);
        assert_eq!(served.len(), 2);
        assert!(served[0].resource.has_status && served[0].resource.has_scale);
        assert!(!served[1].resource.has_status);
        assert_eq!(served[0].resource.short_names, ["ct"]);
    }

    #[test]
    fn invalid_crds() {
        let msgs = |c: &Value| validate(c).iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
        let mut c = crd();
        c["metadata"]["name"] = json!("wrong");
        assert!(
            msgs(&c).contains("metadata.name: Invalid value: \"wrong\": must be spec.names.plural+\".\"+spec.group")
        );
        let mut c = crd();
        c["spec"]["versions"][1]["storage"] = json!(true);
        assert!(msgs(&c).contains("must have exactly one version marked as storage version"));
        let mut c = crd();
        c["spec"]["scope"] = json!("Galaxy");
        assert!(msgs(&c).contains("spec.scope: Unsupported value"));
        let mut c = crd();
        c["spec"]["versions"] = json!([]);
        assert!(!validate(&c).is_empty());
        let mut c = crd();
        c["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({"type": "object", "properties": {"x": 3}});
        assert!(msgs(&c).contains("spec.versions[0].schema.openAPIV3Schema.properties[x]"));
        let mut c = crd();
        c["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"] = json!("replicas");
        assert!(msgs(&c).contains("specReplicasPath"));
        let mut c = crd();
        c["spec"] = json!("nonsense");
        assert!(!validate(&c).is_empty());
        assert!(!validate(&json!({})).is_empty());
        let mut c = crd();
        c["spec"]["preserveUnknownFields"] = json!(true);
        assert!(msgs(&c).contains("spec.preserveUnknownFields"));
        // Odd shapes anywhere are errors, never panics.
        for spec in [
            json!(null),
            json!([]),
            json!({"names": 1, "versions": [1, "x", null]}),
            json!({"versions": [{"name": 3, "schema": {"openAPIV3Schema": {"type": 1}}, "subresources": {"scale": 1}}]}),
        ] {
            let mut c = crd();
            c["spec"] = spec;
            let _ = prepare(&mut c, None, &[], &[]);
            assert!(!validate(&c).is_empty());
        }
        assert!(prepare(&mut json!(null), None, &[], &[]).is_err());
    }

    #[test]
    fn stored_versions_follow_the_storage_version() {
        let first = established(crd(), &[]);
        let mut next = first.clone();
        next["spec"]["versions"][0]["storage"] = json!(false);
        next["spec"]["versions"][1]["storage"] = json!(true);
        prepare(&mut next, Some(&first), &[], &[]).unwrap();
        assert_eq!(next["status"]["storedVersions"], json!(["v1", "v1beta1"]));
        // A status write may drop migrated versions, never the storage version.
        let mut migrated = next.clone();
        migrated["status"]["storedVersions"] = json!([]);
        prepare(&mut migrated, Some(&next), &[], &[]).unwrap();
        assert_eq!(migrated["status"]["storedVersions"], json!(["v1beta1"]));
        // Immutable fields.
        let mut moved = next.clone();
        moved["spec"]["scope"] = json!("Cluster");
        assert!(prepare(&mut moved, Some(&next), &[], &[]).is_err());
    }

    #[test]
    fn scale_paths_are_checked_as_kube_does() {
        let c = established(crd(), &[]);
        let v = &served_versions(&c)[0];
        let obj = json!({"spec": {"replicas": -1}, "status": {"replicas": "three"}});
        let errs: Vec<String> = v.scale_errors(&obj, true).iter().map(ToString::to_string).collect();
        assert_eq!(
            errs,
            [
                ".spec.replicas: Invalid value: -1: should be a non-negative integer",
                ".status.replicas: Invalid value: 0: .status.replicas accessor error: three is of the type string, \
                 expected int64",
            ]
        );
        // Through /status only the status path counts.
        assert_eq!(v.scale_errors(&obj, false).len(), 1);
        assert!(v.scale_errors(&json!({"spec": {"replicas": 2}}), true).is_empty());
    }

    #[test]
    fn conflicting_names_are_not_accepted() {
        let first = established(crd(), &[]);
        let mut second = crd();
        second["metadata"]["name"] = json!("crontabz.stable.example.com");
        second["spec"]["names"]["plural"] = json!("crontabz");
        let second = established(second, &[Arc::new(first)]);
        let conds = second["status"]["conditions"].as_array().unwrap();
        assert_eq!(conds[0]["status"], "False");
        assert_eq!(conds[0]["reason"], "SingularConflict");
        assert_eq!(conds[1]["status"], "False");
        assert!(served_versions(&second).is_empty());
    }
}
