//! The `status` and `scale` subresources, and PATCH (of the main resource and of both
//! subresources).
//!
//! `status` reads and writes the whole object but only `status` changes through it
//! (see [`super::update::Mode`]). `scale` presents deployments, replicasets,
//! statefulsets and replicationcontrollers as an `autoscaling/v1` `Scale`; writing it
//! sets `spec.replicas`.

use std::sync::Arc;

use serde_json::{json, Value};

use super::errors::{self, FieldError};
use super::managed_fields::FieldTracking;
use super::meta;
use super::patch::{self, ApplyRequest, PatchType};
use super::selectors::LabelSelector;
use super::update::{Mode, Target};
use super::{dry_run, namespace_of, parse_body, request_key, Registry};
use crate::api::{ApiError, ApiRequest, ApiResponse, ApiResult, ResourceInfo};

/// The `autoscaling/v1` Scale of an object.
pub(crate) fn scale_of(info: &ResourceInfo, obj: &Value) -> Value {
    let mut md = serde_json::Map::new();
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = obj.get("metadata").and_then(|m| m.get(k)) {
            md.insert(k.into(), v.clone());
        }
    }
    let replicas = obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let status_replicas = obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0);
    let selector = match obj.pointer("/spec/selector") {
        Some(Value::Object(m)) if info.plural == "replicationcontrollers" => {
            let mut parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect();
            parts.sort();
            parts.join(",")
        }
        Some(sel) => LabelSelector::from_label_selector(sel).ok().flatten().map(|s| s.to_string()).unwrap_or_default(),
        None => String::new(),
    };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": Value::Object(md),
        // ScaleSpec.replicas is `omitempty` in Go: 0 is left out, as kube-apiserver does.
        "spec": if replicas == 0 { json!({}) } else { json!({"replicas": replicas}) },
        "status": {"replicas": status_replicas, "selector": selector},
    })
}

impl Registry {
    pub(crate) fn get_scale(&self, req: &ApiRequest) -> ApiResult {
        let info = &*req.resource;
        let (name, key) = request_key(req)?;
        let obj = self.store.get(&meta::resource_key(info), &key).ok_or_else(|| errors::not_found(info, &name))?;
        Ok(ApiResponse::Object { code: 200, body: self.scale_view(info, &obj) })
    }

    /// Writes a Scale (from `make_scale`, given the current Scale) onto the object.
    fn write_scale(&self, req: &ApiRequest, mut make_scale: impl FnMut(Value) -> Result<Value, ApiError>) -> ApiResult {
        let info = &*req.resource;
        let (name, key) = request_key(req)?;
        let ns = namespace_of(req)?;
        let dry = dry_run(req)?;
        let target = Target { info, namespace: ns, name: &name, key: &key };
        let tracking = FieldTracking::for_request(req, Some("scale"), None);
        let out = self.guaranteed_update(&target, dry, Mode::Main, Some(&tracking), |current: &Arc<Value>| {
            let scale = make_scale(self.scale_view(info, current))?;
            if let Some(n) = meta::meta_str(&scale, "name").filter(|n| !n.is_empty()) {
                if n != name {
                    return Err(errors::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
            }
            let replicas = match scale.pointer("/spec/replicas") {
                None | Some(Value::Null) => 0,
                Some(v) => v.as_i64().filter(|r| *r >= 0 && *r <= i64::from(i32::MAX)).ok_or_else(|| {
                    errors::invalid_kind(
                        "autoscaling",
                        "Scale",
                        &name,
                        &[FieldError::invalid("spec.replicas", v, "must be greater than or equal to 0")],
                    )
                })?,
            };
            let mut obj = meta::owned_for(current, info);
            self.set_replicas(info, &mut obj, replicas);
            // The Scale's resourceVersion, when set, is the precondition.
            let rv = meta::meta_str(&scale, "resourceVersion").unwrap_or("").to_owned();
            meta::meta_mut(&mut obj).insert("resourceVersion".into(), json!(rv));
            Ok(obj)
        })?;
        Ok(ApiResponse::Object { code: 200, body: self.scale_view(info, &out.object) })
    }

    pub(crate) fn update_scale(&self, req: &ApiRequest) -> ApiResult {
        let body = parse_body(req)?;
        if let Some(kind) = body.get("kind").and_then(Value::as_str) {
            if !kind.is_empty() && kind != "Scale" {
                return Err(errors::bad_request(format!(
                    "the kind in the data ({kind}) does not match the expected kind (Scale)"
                )));
            }
        }
        self.write_scale(req, |_| Ok(body.clone()))
    }

    pub(crate) fn patch(&self, req: &ApiRequest) -> ApiResult {
        let info = &*req.resource;
        let pt = patch::patch_type_of(req.content_type.as_deref())?;
        patch::validate_patch_options(req, pt)?;
        let root = patch::root_schema(info);
        let mode = match (req.subresource.as_deref(), Mode::of(info, req.subresource.as_deref())) {
            (_, Some(mode)) => mode,
            (Some("scale"), None) if info.has_scale && pt != PatchType::Apply => {
                return self.write_scale(req, |scale| patch::apply_to(pt, &scale, &req.body, None));
            }
            _ => return Err(errors::no_such_path()),
        };
        self.check_patch_type(info, pt)?;
        let (name, key) = request_key(req)?;
        let ns = namespace_of(req)?;
        let dry = dry_run(req)?;
        let target = Target { info, namespace: ns, name: &name, key: &key };
        if pt == PatchType::Apply {
            return self.server_side_apply(req, &target, dry, mode, root);
        }
        let tracking = FieldTracking::for_request(req, mode.subresource(), root);
        let out = self.guaranteed_update(&target, dry, mode, Some(&tracking), |current| {
            patch::apply_to(pt, &meta::owned_for(current, info), &req.body, root)
        })?;
        Ok(ApiResponse::Object { code: 200, body: meta::owned_for(&out.object, info) })
    }

    /// Server-side apply: updates the object, or creates it when it does not exist
    /// (201, as kube-apiserver answers an apply that creates).
    fn server_side_apply(
        &self,
        req: &ApiRequest,
        target: &Target<'_>,
        dry: bool,
        mode: Mode,
        root: Option<&'static crate::patch::schema::TypeSchema>,
    ) -> ApiResult {
        let info = target.info;
        let apply = ApplyRequest::from_request(req)?;
        if let Some(name) = meta::meta_str(&apply.config, "name") {
            if name != target.name {
                return Err(errors::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    target.name
                )));
            }
        }
        let exists = self.store.get(&meta::resource_key(info), target.key).is_some();
        if !exists && mode == Mode::Main {
            let created = apply.apply(None, root)?;
            let mut create = req.clone();
            create.verb = crate::api::Verb::Create;
            create.name = None;
            create.content_type = Some("application/json".to_owned());
            create.body = serde_json::to_vec(&created).map_err(|e| errors::internal(&e.to_string()))?.into();
            return self.create(&create);
        }
        let out = self.guaranteed_update(target, dry, mode, None, |current| {
            let live = meta::owned_for(current, info);
            match mode {
                Mode::Main => apply.apply(Some(&live), root),
                Mode::Status => apply.apply_status(&live, root),
                // kube's approval subresource takes no apply configuration either.
                Mode::Approval => Err(errors::unsupported_media_type("application/apply-patch+yaml")),
            }
        })?;
        Ok(ApiResponse::Object { code: 200, body: meta::owned_for(&out.object, info) })
    }
}
