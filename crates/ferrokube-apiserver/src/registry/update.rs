//! PUT, and the read-modify-write loop every change of an existing object goes
//! through (update, patch, status, scale, finalizer removal).
//!
//! The loop mirrors kube-apiserver's `GuaranteedUpdate`: read the object, compute the
//! new one, write it if the object is still at the resourceVersion read, otherwise
//! retry — unless the caller pinned a resourceVersion, which then yields 409 Conflict.

use std::sync::Arc;

use serde_json::{json, Value};

use super::errors::{self, FieldError};
use super::managed_fields::FieldTracking;
use super::meta::{self, resource_key};
use super::{check_type, dry_run, parse_body, request_key, validation, Registry};
use crate::api::{ApiError, ApiRequest, ApiResponse, ApiResult, ResourceInfo};
use crate::storage::{object_rv, StoreError};

/// Which part of an object an update may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The main resource: everything but `status` (when the resource has a status
    /// subresource) and system metadata.
    Main,
    /// The `status` subresource: only `status`.
    Status,
    /// A CertificateSigningRequest's `approval` subresource: only
    /// `status.conditions` (approving or denying it, as `kubectl certificate approve`).
    Approval,
}

impl Mode {
    /// The subresource a write in this mode goes through (for managedFields).
    pub(crate) fn subresource(self) -> Option<&'static str> {
        match self {
            Mode::Main => None,
            Mode::Status => Some("status"),
            Mode::Approval => Some("approval"),
        }
    }

    /// The mode of a write to `subresource` of `info` (`None`: not a subresource this
    /// resource has, or scale, which has its own path).
    pub(crate) fn of(info: &ResourceInfo, subresource: Option<&str>) -> Option<Mode> {
        match subresource {
            None => Some(Mode::Main),
            Some("status") if info.has_status => Some(Mode::Status),
            Some("approval") if is_csr(info) => Some(Mode::Approval),
            _ => None,
        }
    }
}

/// Whether `info` is `certificates.k8s.io` CertificateSigningRequests (which have the
/// `approval` subresource).
pub(crate) fn is_csr(info: &ResourceInfo) -> bool {
    info.group == "certificates.k8s.io" && info.plural == "certificatesigningrequests"
}

/// The approval subresource's write: `old` with the conditions of `new` (kube's
/// approval strategy keeps spec and the issued certificate), each condition given
/// `lastUpdateTime` and `lastTransitionTime` when it has none.
fn approval_update(old: &Value, new: &Value) -> Value {
    let mut out = old.clone();
    let mut conditions = new.pointer("/status/conditions").cloned().unwrap_or(Value::Null);
    if let Some(list) = conditions.as_array_mut() {
        let now = meta::now_rfc3339();
        for c in list.iter_mut().filter_map(Value::as_object_mut) {
            for key in ["lastUpdateTime", "lastTransitionTime"] {
                if c.get(key).is_none_or(Value::is_null) {
                    c.insert(key.into(), json!(now));
                }
            }
        }
    }
    if let Some(map) = out.as_object_mut() {
        let status = map.entry("status").or_insert_with(|| json!({}));
        if let Some(st) = status.as_object_mut() {
            if conditions.is_null() {
                st.remove("conditions");
            } else {
                st.insert("conditions".into(), conditions);
            }
        }
    }
    out
}

/// The object an update addresses.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) info: &'a ResourceInfo,
    pub(crate) namespace: Option<&'a str>,
    pub(crate) name: &'a str,
    pub(crate) key: &'a str,
}

/// The result of [`Registry::guaranteed_update`].
pub(crate) struct Updated {
    /// The object as stored (or as it would be, for a dry run); when the update
    /// removed the last finalizer of a deleting object, its final state.
    pub(crate) object: Arc<Value>,
}

/// Top-level fields whose change does not bump `metadata.generation`.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let skip = |k: &str| matches!(k, "metadata" | "status" | "kind" | "apiVersion");
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return true;
    };
    o.iter().filter(|(k, _)| !skip(k)).any(|(k, v)| n.get(k) != Some(v))
        || n.iter().filter(|(k, _)| !skip(k)).any(|(k, _)| !o.contains_key(k))
}

/// Builds the object to store from the stored `old` and the requested `new`.
pub(crate) fn prepare_update(
    registry: &Registry,
    info: &ResourceInfo,
    name: &str,
    namespace: Option<&str>,
    old: &Value,
    mut new: Value,
    mode: Mode,
) -> Result<Value, ApiError> {
    if !new.is_object() {
        return Err(errors::bad_request("the object must be a JSON object"));
    }
    check_type(info, &new)?;
    meta::set_type(&mut new, info);
    match meta::meta_str(&new, "name") {
        Some(n) if !n.is_empty() && n != name => {
            return Err(errors::bad_request(format!(
                "the name of the object ({n}) does not match the name on the URL ({name})"
            )))
        }
        _ => {}
    }
    match (namespace, meta::meta_str(&new, "namespace")) {
        (Some(ns), Some(body)) if !body.is_empty() && body != ns => {
            return Err(errors::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ))
        }
        _ => {}
    }
    let old_meta = old.get("metadata").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out = match mode {
        Mode::Approval => {
            let mut out = approval_update(old, &new);
            meta::set_type(&mut out, info);
            if let Some(mf) = new.pointer("/metadata/managedFields") {
                meta::meta_mut(&mut out).insert("managedFields".into(), mf.clone());
            }
            return Ok(out);
        }
        Mode::Status => {
            let mut out = old.clone();
            meta::set_type(&mut out, info);
            if let Some(map) = out.as_object_mut() {
                match new.get("status") {
                    Some(st) => map.insert("status".into(), st.clone()),
                    None => map.remove("status"),
                };
            }
            // kube's status strategies reset the spec (and some the labels), not the
            // annotations: a status write carries them (the deployment controller
            // records `deployment.kubernetes.io/revision` this way).
            if let Some(new_meta) = new.get("metadata").and_then(Value::as_object) {
                let m = meta::meta_mut(&mut out);
                match new_meta.get("annotations").filter(|a| a.as_object().is_some_and(|o| !o.is_empty())) {
                    Some(a) => m.insert("annotations".into(), a.clone()),
                    None => m.remove("annotations"),
                };
            }
            // managedFields go with the write (server-side apply records its
            // `subresource: status` entry in them), as in kube-apiserver, whose
            // status strategies reset spec but not the field managers' records.
            if let Some(mf) = new.pointer("/metadata/managedFields") {
                meta::meta_mut(&mut out).insert("managedFields".into(), mf.clone());
            }
            return Ok(out);
        }
        Mode::Main => new,
    };
    if let Some(uid) = meta::meta_str(&out, "uid") {
        let old_uid = old_meta.get("uid").and_then(Value::as_str).unwrap_or("");
        if !uid.is_empty() && uid != old_uid {
            return Err(errors::invalid(
                info,
                name,
                &[FieldError::invalid("metadata.uid", &json!(uid), "field is immutable")],
            ));
        }
    }
    let old_finalizers: Vec<String> = meta::finalizers(old).into_iter().map(str::to_owned).collect();
    if meta::is_deleting(old) {
        let added: Vec<String> = meta::finalizers(&out)
            .into_iter()
            .filter(|f| !old_finalizers.iter().any(|o| o == f))
            .map(str::to_owned)
            .collect();
        if !added.is_empty() {
            // Go's %#v of a []string: []string{"a", "b"}.
            let quoted: Vec<String> = added.iter().map(|f| format!("{f:?}")).collect();
            let added = format!("[]string{{{}}}", quoted.join(", "));
            return Err(errors::invalid(
                info,
                name,
                &[FieldError::forbidden(
                    "metadata.finalizers",
                    &format!(
                        "no new finalizers can be added if the object is being deleted, found new finalizers {added}"
                    ),
                )],
            ));
        }
    }
    if info.has_status {
        let old_status = old.get("status").cloned();
        if let Some(map) = out.as_object_mut() {
            match old_status {
                Some(st) => map.insert("status".into(), st),
                None => map.remove("status"),
            };
        }
    }
    let builtin = registry.custom_version(info).is_none();
    super::defaults::on_update(info, builtin, old, &mut out, &registry.alloc);
    let old_gen = meta::generation(old).max(1);
    // An EndpointSlice's generation also counts label changes (kube's strategy).
    let labels_count = info.group == "discovery.k8s.io" && info.plural == "endpointslices";
    let labels_changed = labels_count && old.pointer("/metadata/labels") != out.pointer("/metadata/labels");
    let gen = if spec_changed(old, &out) || labels_changed { old_gen + 1 } else { old_gen };
    {
        let m = meta::meta_mut(&mut out);
        m.insert("name".into(), json!(name));
        match namespace {
            Some(ns) => m.insert("namespace".into(), json!(ns)),
            None => m.remove("namespace"),
        };
        for keep in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"] {
            match old_meta.get(keep) {
                Some(v) => m.insert(keep.into(), v.clone()),
                None => m.remove(keep),
            };
        }
        // Types without a generation (ConfigMaps, Secrets, ...) never get one.
        if meta::generation(old) > 0 {
            m.insert("generation".into(), json!(gen));
        } else {
            m.remove("generation");
        }
    }
    let mut problems = validation::validate_metadata(&out);
    problems.extend(validation::validate_workload_selector(info, &out));
    problems.extend(validation::validate_config_map(info, &out));
    if builtin {
        problems.extend(validation::validate_pod_update(info, old, &out));
    }
    if !problems.is_empty() {
        return Err(errors::invalid(info, name, &problems));
    }
    Ok(out)
}

impl Registry {
    /// Read-modify-write of one object; see the module docs. `mutate` gets the stored
    /// object and returns the requested new state (its `metadata.resourceVersion`,
    /// when set, is a precondition).
    pub(crate) fn guaranteed_update(
        &self,
        target: &Target<'_>,
        dry: bool,
        mode: Mode,
        tracking: Option<&FieldTracking>,
        mut mutate: impl FnMut(&Arc<Value>) -> Result<Value, ApiError>,
    ) -> Result<Updated, ApiError> {
        let Target { info, namespace, name, key } = *target;
        let res = resource_key(info);
        loop {
            let current = self.store.get(&res, key).ok_or_else(|| errors::not_found(info, name))?;
            let current_rv = object_rv(&current);
            let requested = mutate(&current)?;
            if let Some(rv) = meta::meta_str(&requested, "resourceVersion").filter(|rv| !rv.is_empty()) {
                if rv.parse::<u64>().ok() != Some(current_rv) {
                    return Err(errors::conflict(info, name, errors::MODIFIED));
                }
            }
            let mut new = prepare_update(self, info, name, namespace, &current, requested, mode)?;
            self.custom_on_write(info, Some(&current), &mut new, mode)?;
            if new == *current {
                return Ok(Updated { object: current });
            }
            if let Some(tracking) = tracking {
                new = tracking.record(Some(&current), new)?;
            }
            let finalize = meta::is_deleting(&new) && meta::finalizers(&new).is_empty();
            if dry {
                return Ok(Updated { object: Arc::new(new) });
            }
            let result = if finalize {
                self.store.delete(&res, key, new, current_rv)
            } else {
                self.store.update(&res, key, new, current_rv)
            };
            match result {
                Ok(object) => {
                    if finalize {
                        if let Some(ns) = namespace {
                            self.finish_namespace_if_empty(ns);
                        }
                        self.custom_object_finalized(info);
                    }
                    return Ok(Updated { object });
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => return Err(errors::not_found(info, name)),
                Err(e) => return Err(errors::internal(&e.to_string())),
            }
        }
    }

    pub(crate) fn update(&self, req: &ApiRequest) -> ApiResult {
        let info = &*req.resource;
        let mode = match (req.subresource.as_deref(), Mode::of(info, req.subresource.as_deref())) {
            (_, Some(mode)) => mode,
            (Some("scale"), None) if info.has_scale => return self.update_scale(req),
            _ => return Err(errors::no_such_path()),
        };
        let (name, key) = request_key(req)?;
        let dry = dry_run(req)?;
        let body = parse_body(req)?;
        let ns = super::namespace_of(req)?;
        let out = self.guaranteed_update(
            &Target { info, namespace: ns, name: &name, key: &key },
            dry,
            mode,
            Some(&FieldTracking::for_request(req, mode.subresource(), super::patch::root_schema(info))),
            |_| Ok(body.clone()),
        )?;
        Ok(ApiResponse::Object { code: 200, body: meta::owned_for(&out.object, info) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_rules() {
        let old = json!({"metadata": {"generation": 3, "labels": {"a": "1"}}, "spec": {"x": 1}, "status": {"s": 1}});
        assert!(!spec_changed(
            &old,
            &json!({"metadata": {"labels": {"a": "2"}}, "spec": {"x": 1}, "status": {"s": 2}})
        ));
        assert!(spec_changed(&old, &json!({"metadata": {}, "spec": {"x": 2}})));
        assert!(spec_changed(&old, &json!({"metadata": {}, "spec": {"x": 1}, "data": 1})));
        assert!(spec_changed(&old, &json!({"metadata": {}})));
    }
}
