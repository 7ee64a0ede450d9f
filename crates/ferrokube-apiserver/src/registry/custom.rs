//! CustomResourceDefinitions and custom resources in the registry: the hooks that tie
//! [`crate::apiextensions`] into the generic request paths.
//!
//! ```text
//! CRD request  -> handle_crd -> generic create/update/patch (write hook: crd::prepare)
//!              -> establish_new_crds (after a create: the controllers' status write)
//!              -> sync_custom_resources -> SharedCatalog::set_custom (serving starts/changes)
//! CRD DELETE   -> delete its custom resources -> (finalizer while some remain) -> generic
//!                 delete -> sync (serving stops, leftover objects purged)
//! CR write     -> generic create/update/patch (write hook: prune, defaults, validate,
//!                 generation) ; scale through the CRD's paths ; strategic merge -> 415
//! ```

use std::collections::HashSet;
use std::sync::{Arc, PoisonError};

use serde_json::{json, Value};

use super::delete::DeleteOptions;
use super::errors;
use super::meta::{self, resource_key};
use super::update::{Mode, Target};
use super::{request_key, Registry};
use crate::api::{ApiError, ApiRequest, ApiResult, ResourceInfo, Verb};
use crate::apiextensions::{crd, is_crd_resource, CustomResourceVersion, ScalePaths, CLEANUP_FINALIZER};
use crate::storage::object_rv;

const CRD_KEY: &str = "apiextensions.k8s.io/customresourcedefinitions";

/// Whether anything but `metadata` (and `status`, when it has its own subresource)
/// differs: the rule by which kube bumps a custom resource's `generation`.
fn changed_outside_metadata(old: &Value, new: &Value, skip_status: bool) -> bool {
    let skip = |k: &str| k == "metadata" || k == "kind" || k == "apiVersion" || (skip_status && k == "status");
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        return old != new;
    };
    o.iter().filter(|(k, _)| !skip(k)).any(|(k, v)| n.get(k) != Some(v))
        || n.keys().filter(|k| !skip(k)).any(|k| !o.contains_key(k))
}

/// The `autoscaling/v1` Scale of a custom resource, read through the CRD's paths.
pub(crate) fn custom_scale_of(paths: &ScalePaths, obj: &Value) -> Value {
    let at = |path: &str| crate::apiextensions::json_path_to_pointer(path).and_then(|p| obj.pointer(&p));
    let mut md = serde_json::Map::new();
    for k in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if let Some(v) = obj.get("metadata").and_then(|m| m.get(k)) {
            md.insert(k.into(), v.clone());
        }
    }
    let replicas = at(&paths.spec_replicas).and_then(Value::as_i64).unwrap_or(0);
    let status_replicas = at(&paths.status_replicas).and_then(Value::as_i64).unwrap_or(0);
    let mut status = json!({"replicas": status_replicas});
    if let Some(sel) = paths.label_selector.as_deref().and_then(at).and_then(Value::as_str) {
        status["selector"] = json!(sel);
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": Value::Object(md),
        "spec": {"replicas": replicas},
        "status": status,
    })
}

/// Sets the value at a `.a.b` path, creating objects on the way (no-op on a path that
/// runs into a non-object).
pub(crate) fn set_at_path(obj: &mut Value, path: &str, value: Value) {
    let Some(rest) = path.strip_prefix('.') else {
        return;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    let mut cur = obj;
    for (i, part) in parts.iter().enumerate() {
        let Some(map) = cur.as_object_mut() else {
            return;
        };
        if i + 1 == parts.len() {
            map.insert((*part).to_owned(), value);
            return;
        }
        let next = map.entry((*part).to_owned()).or_insert_with(|| json!({}));
        if next.is_null() {
            *next = json!({});
        }
        cur = next;
    }
}

/// 415 for a strategic merge patch of a custom resource, as kube-apiserver answers.
fn strategic_not_supported() -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: \
         application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )
}

impl Registry {
    /// The custom resource version behind `info`, when `info` is a custom resource.
    pub(crate) fn custom_version(&self, info: &ResourceInfo) -> Option<Arc<CustomResourceVersion>> {
        if info.group.is_empty() || !info.group.contains('.') {
            return None;
        }
        self.catalog.snapshot().custom(&info.group, &info.version, &info.plural).cloned()
    }

    /// 415 for strategic merge patches of custom resources.
    pub(crate) fn check_patch_type(&self, info: &ResourceInfo, pt: super::patch::PatchType) -> Result<(), ApiError> {
        if pt == super::patch::PatchType::StrategicMergePatch && self.custom_version(info).is_some() {
            return Err(strategic_not_supported());
        }
        Ok(())
    }

    /// The Scale of `obj`: the CRD's paths for custom resources, the built-in rules
    /// otherwise.
    pub(crate) fn scale_view(&self, info: &ResourceInfo, obj: &Value) -> Value {
        match self.custom_version(info).and_then(|c| c.scale.clone()) {
            Some(paths) => custom_scale_of(&paths, obj),
            None => super::subresources::scale_of(info, obj),
        }
    }

    /// Writes `replicas` where the resource keeps its desired replica count.
    pub(crate) fn set_replicas(&self, info: &ResourceInfo, obj: &mut Value, replicas: i64) {
        let path = self
            .custom_version(info)
            .and_then(|c| c.scale.clone())
            .map(|p| p.spec_replicas)
            .unwrap_or_else(|| ".spec.replicas".to_owned());
        set_at_path(obj, &path, json!(replicas));
    }

    /// The schema whose defaults apply when reading objects of `info` (custom
    /// resources only: like kube, defaults added to a CRD later show on old objects).
    pub(crate) fn read_defaults(&self, info: &ResourceInfo) -> Option<Arc<crate::apiextensions::schema::Schema>> {
        self.custom_version(info).and_then(|c| c.schema.clone())
    }

    /// A stored object as served at `info`'s version, with read-time defaults.
    pub(crate) fn read_view(
        info: &ResourceInfo,
        defaults: Option<&crate::apiextensions::schema::Schema>,
        obj: &Arc<Value>,
    ) -> Value {
        let mut v = meta::owned_for(obj, info);
        if let Some(schema) = defaults {
            schema.apply_defaults(&mut v);
        }
        v
    }

    /// A stored object as served at `info`'s version, with read-time defaults: the
    /// stored `Arc` itself when that changes nothing.
    pub(crate) fn read_shared(
        info: &ResourceInfo,
        defaults: Option<&crate::apiextensions::schema::Schema>,
        obj: &Arc<Value>,
    ) -> Arc<Value> {
        match defaults {
            Some(_) => Arc::new(Self::read_view(info, defaults, obj)),
            None => meta::shared_for(obj, info),
        }
    }

    /// Every stored CRD.
    fn all_crds(&self) -> Vec<Arc<Value>> {
        self.store.keys(CRD_KEY, None).iter().filter_map(|k| self.store.get(CRD_KEY, k)).collect()
    }

    /// The write hook of create (`old` = `None`) and of every update: CRDs are
    /// validated and get their status; custom resources are pruned, defaulted and
    /// validated against their schema, and their generation follows kube's rule.
    pub(crate) fn custom_on_write(
        &self,
        info: &ResourceInfo,
        old: Option<&Value>,
        obj: &mut Value,
        mode: Mode,
    ) -> Result<(), ApiError> {
        let name = meta::meta_str(obj, "name").unwrap_or("").to_owned();
        if is_crd_resource(info) {
            let others = self.all_crds();
            let builtin = self.catalog.snapshot().builtin_resources().to_vec();
            return crd::prepare(obj, old, &others, &builtin).map_err(|e| errors::invalid(info, &name, &e));
        }
        let Some(cr) = self.custom_version(info) else {
            return Ok(());
        };
        if old.is_none() && self.store.get(CRD_KEY, &cr.crd_name).is_some_and(|c| meta::is_deleting(&c)) {
            return Err(ApiError::new(
                405,
                "MethodNotAllowed",
                "create not allowed while custom resource definition is terminating",
            ));
        }
        let mut problems = cr.normalize(obj);
        problems.extend(cr.scale_errors(obj, mode == Mode::Main));
        if !problems.is_empty() {
            return Err(errors::invalid(info, &name, &problems));
        }
        if let (Some(old), Mode::Main) = (old, mode) {
            let gen = meta::generation(old).max(1);
            let bump = i64::from(changed_outside_metadata(old, obj, info.has_status));
            meta::meta_mut(obj).insert("generation".into(), json!(gen + bump));
        }
        Ok(())
    }

    /// Rebuilds the custom part of the catalog from the stored CRDs, and purges the
    /// objects of custom resources no CRD defines any more.
    pub fn sync_custom_resources(&self) {
        let _guard = self.crd_sync.lock().unwrap_or_else(PoisonError::into_inner);
        let before: HashSet<String> =
            self.catalog.snapshot().custom_versions().map(|c| resource_key(&c.resource)).collect();
        let crds = self.all_crds();
        let defined: HashSet<String> = crds.iter().map(|c| crd::resource_key_of(c)).collect();
        let served: Vec<Arc<CustomResourceVersion>> =
            crds.iter().flat_map(|c| crd::served_versions(c)).map(Arc::new).collect();
        self.catalog.set_custom(served);
        for res in before.difference(&defined) {
            for key in self.store.keys(res, None) {
                if let Some(obj) = self.store.get(res, &key) {
                    let _ = self.store.delete(res, &key, (*obj).clone(), object_rv(&obj));
                }
            }
        }
    }

    /// Requests on `customresourcedefinitions`: the generic paths, then the catalog
    /// follows the stored CRDs.
    pub(crate) fn handle_crd(&self, req: &ApiRequest) -> ApiResult {
        if req.verb == Verb::Delete && req.subresource.is_none() {
            return self.delete_crd(req);
        }
        let result = self.dispatch(req);
        if result.is_ok() && matches!(req.verb, Verb::Create | Verb::Update | Verb::Patch | Verb::DeleteCollection) {
            if matches!(req.verb, Verb::Create | Verb::Patch) {
                self.establish_new_crds();
            }
            self.sync_custom_resources();
        }
        result
    }

    /// kube's naming and establishing controllers, run right after a write: every CRD
    /// still with its create-time status ([`crd::awaits_controllers`]) gets its status
    /// (accepted names, `NamesAccepted`, `Established`) written through `/status` by
    /// field manager [`crd::CONTROLLER_MANAGER`].
    fn establish_new_crds(&self) {
        let Some(info) =
            self.catalog.snapshot().lookup(crate::apiextensions::GROUP, "v1", "customresourcedefinitions").cloned()
        else {
            return;
        };
        for obj in self.all_crds().into_iter().filter(|c| crd::awaits_controllers(c)) {
            let name = meta::meta_str(&obj, "name").unwrap_or("").to_owned();
            let target = Target { info: &info, namespace: None, name: &name, key: &name };
            let tracking = super::managed_fields::FieldTracking::controller(
                crd::CONTROLLER_MANAGER,
                Some("status"),
                super::patch::root_schema(&info),
            );
            // Nothing to do if it went meanwhile; a failure leaves it unestablished,
            // as a controller that has not caught up would.
            let _ = self.guaranteed_update(&target, false, Mode::Status, Some(&tracking), |current| {
                Ok(meta::owned_for(current, &info))
            });
        }
    }

    /// DELETE of a CRD: its custom resources are deleted first; while some remain
    /// (finalizers), the CRD stays, Terminating, with the cleanup finalizer.
    fn delete_crd(&self, req: &ApiRequest) -> ApiResult {
        let info = &*req.resource;
        let (name, key) = request_key(req)?;
        let opts = DeleteOptions::from_request(req)?;
        let current = self.store.get(CRD_KEY, &key).ok_or_else(|| errors::not_found(info, &name))?;
        if opts.dry_run {
            return self.dispatch(req);
        }
        if let Err(f) = self.check_preconditions(&current, &opts) {
            return Err(Self::delete_failure(info, &name, f));
        }
        let res = crd::resource_key_of(&current);
        let mut remaining = 0;
        if crd::is_established(&current) {
            for k in self.store.keys(&res, None) {
                if let Ok(d) = self.delete_stored(&res, &k, &DeleteOptions::default()) {
                    if !d.gone {
                        remaining += 1;
                    }
                }
            }
        }
        if remaining > 0 && !crd::has_cleanup_finalizer(&current) {
            self.update_crd(info, &name, &key, |crd| {
                let m = meta::meta_mut(crd);
                let list = m.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(a) = list.as_array_mut() {
                    a.push(json!(CLEANUP_FINALIZER));
                }
            })?;
        }
        let result = self.dispatch(req);
        if remaining > 0 {
            // Recompute the status: Terminating.
            let _ = self.update_crd(info, &name, &key, |_| {});
        }
        self.sync_custom_resources();
        result
    }

    /// Read-modify-write of a stored CRD through the generic update path.
    fn update_crd(
        &self,
        info: &ResourceInfo,
        name: &str,
        key: &str,
        change: impl Fn(&mut Value),
    ) -> Result<Arc<Value>, ApiError> {
        let target = Target { info, namespace: None, name, key };
        let out = self.guaranteed_update(&target, false, Mode::Main, None, |current| {
            let mut v = meta::owned_for(current, info);
            change(&mut v);
            Ok(v)
        })?;
        Ok(out.object)
    }

    /// Called when an object's last finalizer went and the object was removed: when it
    /// was the last custom resource of a CRD being deleted, the CRD's cleanup
    /// finalizer is removed (and the CRD goes).
    pub(crate) fn custom_object_finalized(&self, info: &ResourceInfo) {
        let Some(cr) = self.custom_version(info) else {
            return;
        };
        if !self.store.keys(&resource_key(info), None).is_empty() {
            return;
        }
        let Some(crd_obj) = self.store.get(CRD_KEY, &cr.crd_name) else {
            return;
        };
        if !meta::is_deleting(&crd_obj) || !crd::has_cleanup_finalizer(&crd_obj) {
            return;
        }
        let catalog = self.catalog.snapshot();
        let Some(crd_info) = catalog.lookup(crate::apiextensions::GROUP, "v1", "customresourcedefinitions") else {
            return;
        };
        let _ = self.update_crd(crd_info, &cr.crd_name, &cr.crd_name, |crd| {
            if let Some(a) = crd.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
                a.retain(|f| f.as_str() != Some(CLEANUP_FINALIZER));
            }
        });
        self.sync_custom_resources();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_rule_for_custom_resources() {
        let old = json!({"metadata": {"generation": 1}, "spec": {"a": 1}, "status": {"s": 1}});
        let status_only = json!({"metadata": {"generation": 1}, "spec": {"a": 1}, "status": {"s": 2}});
        assert!(!changed_outside_metadata(&old, &status_only, true));
        assert!(changed_outside_metadata(&old, &status_only, false));
        let labels = json!({"metadata": {"labels": {"x": "y"}}, "spec": {"a": 1}, "status": {"s": 1}});
        assert!(!changed_outside_metadata(&old, &labels, false));
    }

    #[test]
    fn scale_paths() {
        let paths = ScalePaths {
            spec_replicas: ".spec.size".into(),
            status_replicas: ".status.ready".into(),
            label_selector: Some(".status.selector".into()),
        };
        let obj = json!({"metadata": {"name": "a"}, "spec": {"size": 3}, "status": {"ready": 2, "selector": "app=x"}});
        let s = custom_scale_of(&paths, &obj);
        assert_eq!((s["spec"]["replicas"].as_i64(), s["status"]["replicas"].as_i64()), (Some(3), Some(2)));
        assert_eq!(s["status"]["selector"], "app=x");
        let mut o = json!({"metadata": {}});
        set_at_path(&mut o, ".spec.deep.size", json!(5));
        assert_eq!(o["spec"]["deep"]["size"], 5);
        let mut o = json!({"spec": 3});
        set_at_path(&mut o, ".spec.size", json!(5));
        assert_eq!(o["spec"], 3);
    }
}
