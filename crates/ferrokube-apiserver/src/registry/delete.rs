//! DELETE and DELETE of a collection: preconditions, finalizers (the object stays,
//! marked with `deletionTimestamp`, until they are removed), dry run, and namespace
//! deletion (Terminating, then its content, then the namespace).

use std::sync::Arc;

use serde_json::{json, Value};

use super::errors::{self, FieldError};
use super::meta::{self, resource_key};
use super::selectors::Filter;
use super::{dry_run, namespace_prefix, request_key, Registry, NAMESPACES};
use crate::api::{ApiError, ApiRequest, ApiResponse, ApiResult, ResourceInfo};
use crate::storage::{object_rv, ListQuery, StoreError};

/// Namespaces that cannot be deleted.
pub(crate) const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// `metav1.DeleteOptions`, from the body and the query.
#[derive(Clone, Debug, Default)]
pub(crate) struct DeleteOptions {
    pub(crate) grace_period_seconds: Option<i64>,
    pub(crate) precondition_uid: Option<String>,
    pub(crate) precondition_rv: Option<String>,
    pub(crate) orphan_dependents: Option<bool>,
    /// `Orphan`, `Background` or `Foreground`; `None` = the resource's default.
    pub(crate) propagation_policy: Option<String>,
    pub(crate) dry_run: bool,
}

impl DeleteOptions {
    pub(crate) fn from_request(req: &ApiRequest) -> Result<DeleteOptions, ApiError> {
        let mut o = DeleteOptions { dry_run: dry_run(req)?, ..Default::default() };
        let mut policy: Option<String> = None;
        if !req.body.iter().all(u8::is_ascii_whitespace) {
            let body: Value = serde_json::from_slice(&req.body)
                .map_err(|e| errors::bad_request(format!("couldn't get version/kind; json parse error: {e}")))?;
            o.grace_period_seconds = body.get("gracePeriodSeconds").and_then(Value::as_i64);
            o.precondition_uid = body.pointer("/preconditions/uid").and_then(Value::as_str).map(str::to_owned);
            o.precondition_rv =
                body.pointer("/preconditions/resourceVersion").and_then(Value::as_str).map(str::to_owned);
            o.orphan_dependents = body.get("orphanDependents").and_then(Value::as_bool);
            policy = body.get("propagationPolicy").and_then(Value::as_str).map(str::to_owned);
            if let Some(d) = body.get("dryRun").and_then(Value::as_array) {
                if d.iter().any(|v| v.as_str() == Some("All")) {
                    o.dry_run = true;
                }
            }
        }
        if let Some(g) = req.query_param("gracePeriodSeconds") {
            o.grace_period_seconds =
                Some(g.parse().map_err(|_| {
                    errors::bad_request(format!("invalid gracePeriodSeconds {g:?}: must be an integer"))
                })?);
        }
        if let Some(p) = req.query_param("propagationPolicy") {
            policy = Some(p.to_owned());
        }
        if let Some(p) = req.query_param("orphanDependents") {
            o.orphan_dependents = Some(p == "true");
        }
        if let Some(p) = &policy {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(errors::invalid_kind(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    &[FieldError::not_supported(
                        "propagationPolicy",
                        p,
                        &["Foreground", "Background", "Orphan", "nil"],
                    )],
                ));
            }
            if o.orphan_dependents.is_some() {
                return Err(errors::invalid_kind(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    &[FieldError::invalid(
                        "propagationPolicy",
                        &json!(p),
                        "orphanDependents and deletionPropagation cannot be both set",
                    )],
                ));
            }
        }
        o.propagation_policy = policy;
        Ok(o)
    }
}

/// The grace period of a pod deletion that the kubelet has to carry out, or `None`
/// when the pod can go at once: kube-apiserver keeps a pod that is bound to a node and
/// not finished, marked with a deletionTimestamp `grace` seconds ahead, until the
/// kubelet deletes it again with grace period 0. The grace period is the request's,
/// else `spec.terminationGracePeriodSeconds`, else 30.
fn graceful_pod_deletion(res: &str, pod: &Value, opts: &DeleteOptions) -> Option<i64> {
    if res != "/pods" {
        return None;
    }
    let bound = pod.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
    let finished = matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed"));
    let grace = opts
        .grace_period_seconds
        .or_else(|| pod.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64))
        .unwrap_or(30);
    (bound && !finished && grace > 0).then_some(grace)
}

/// `now + grace` seconds, in the RFC 3339 form of metadata timestamps.
fn deletion_timestamp(grace_seconds: i64) -> String {
    let now = jiff::Timestamp::now().as_second().saturating_add(grace_seconds.max(0));
    jiff::Timestamp::from_second(now).map(|t| t.to_string()).unwrap_or_else(|_| meta::now_rfc3339())
}

/// What a deletion did.
pub(crate) struct Deleted {
    pub(crate) object: Arc<Value>,
    /// false when the object stays (finalizers pending).
    pub(crate) gone: bool,
}

pub(crate) enum DeleteFailure {
    NotFound,
    Precondition(String),
    Internal(String),
}

impl Registry {
    /// Deletes (or marks for deletion) the object under `key` of resource `res`.
    pub(crate) fn delete_stored(&self, res: &str, key: &str, opts: &DeleteOptions) -> Result<Deleted, DeleteFailure> {
        loop {
            let current = self.store.get(res, key).ok_or(DeleteFailure::NotFound)?;
            let current_rv = object_rv(&current);
            self.check_preconditions(&current, opts)?;
            // The garbage collector's finalizers for the propagation policy
            // (`orphan`, `foregroundDeletion`) go on in the same write as the
            // deletionTimestamp, as kube-apiserver's delete handler does.
            let propagation =
                super::finalizers_for_propagation(opts.propagation_policy.as_deref(), opts.orphan_dependents, &current);
            let current = match &propagation {
                Some(finalizers) => {
                    let mut with = (*current).clone();
                    meta::meta_mut(&mut with).insert("finalizers".into(), json!(finalizers));
                    Arc::new(with)
                }
                None => current,
            };
            let grace = graceful_pod_deletion(res, &current, opts);
            if !meta::finalizers(&current).is_empty() || grace.is_some() {
                if meta::is_deleting(&current) {
                    if propagation.is_none() || opts.dry_run {
                        return Ok(Deleted { object: current, gone: false });
                    }
                    match self.store.update(res, key, (*current).clone(), current_rv) {
                        Ok(object) => return Ok(Deleted { object, gone: false }),
                        Err(StoreError::Conflict { .. }) => continue,
                        Err(StoreError::NotFound) => return Err(DeleteFailure::NotFound),
                        Err(e) => return Err(DeleteFailure::Internal(e.to_string())),
                    }
                }
                let mut marked = (*current).clone();
                let gen = meta::generation(&marked) + 1;
                let grace_seconds = grace.unwrap_or(opts.grace_period_seconds.unwrap_or(0).max(0));
                {
                    let m = meta::meta_mut(&mut marked);
                    m.insert("deletionTimestamp".into(), json!(deletion_timestamp(grace_seconds)));
                    m.insert("deletionGracePeriodSeconds".into(), json!(grace_seconds));
                    if gen > 1 {
                        m.insert("generation".into(), json!(gen));
                    }
                }
                if opts.dry_run {
                    return Ok(Deleted { object: Arc::new(marked), gone: false });
                }
                match self.store.update(res, key, marked, current_rv) {
                    Ok(object) => return Ok(Deleted { object, gone: false }),
                    Err(StoreError::Conflict { .. }) => continue,
                    Err(StoreError::NotFound) => return Err(DeleteFailure::NotFound),
                    Err(e) => return Err(DeleteFailure::Internal(e.to_string())),
                }
            }
            if opts.dry_run {
                return Ok(Deleted { object: current, gone: true });
            }
            match self.store.delete(res, key, (*current).clone(), current_rv) {
                // Like kube-apiserver, answer with the last stored state (the DELETED
                // watch event carries the deletion's resourceVersion).
                Ok(_) => {
                    if let Some((ns, _)) = key.split_once('/') {
                        self.finish_namespace_if_empty(ns);
                    }
                    return Ok(Deleted { object: current, gone: true });
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => return Err(DeleteFailure::NotFound),
                Err(e) => return Err(DeleteFailure::Internal(e.to_string())),
            }
        }
    }

    pub(crate) fn delete_failure(info: &ResourceInfo, name: &str, f: DeleteFailure) -> ApiError {
        match f {
            DeleteFailure::NotFound => errors::not_found(info, name),
            DeleteFailure::Precondition(why) => errors::conflict(info, name, &why),
            DeleteFailure::Internal(why) => errors::internal(&why),
        }
    }

    pub(crate) fn delete(&self, req: &ApiRequest) -> ApiResult {
        if req.subresource.is_some() {
            return Err(errors::method_not_allowed());
        }
        let info = &*req.resource;
        let (name, key) = request_key(req)?;
        let opts = DeleteOptions::from_request(req)?;
        let deleted = if info.group.is_empty() && info.plural == "namespaces" {
            if IMMORTAL_NAMESPACES.contains(&name.as_str()) {
                // kube-apiserver's NamespaceLifecycle admission.
                return Err(errors::forbidden(info, &name, "this namespace may not be deleted"));
            }
            self.delete_namespace(info, &name, &opts)?
        } else {
            self.delete_stored(&resource_key(info), &key, &opts).map_err(|f| Self::delete_failure(info, &name, f))?
        };
        // kube-apiserver answers 202 only when the object stays and the (deprecated)
        // orphanDependents=false was asked for; 200 otherwise, with the object.
        let code = if !deleted.gone && opts.orphan_dependents == Some(false) { 202 } else { 200 };
        Ok(ApiResponse::Object { code, body: meta::owned_for(&deleted.object, info) })
    }

    /// Marks a namespace Terminating, deletes its content and, once it is empty, the
    /// namespace itself (standing in for the namespace controller).
    fn delete_namespace(&self, info: &ResourceInfo, name: &str, opts: &DeleteOptions) -> Result<Deleted, ApiError> {
        let fail = |f| Self::delete_failure(info, name, f);
        let marked = loop {
            let current = self.store.get(NAMESPACES, name).ok_or_else(|| errors::not_found(info, name))?;
            let current_rv = object_rv(&current);
            self.check_preconditions(&current, opts).map_err(fail)?;
            if meta::is_deleting(&current) {
                break current;
            }
            let mut t = (*current).clone();
            {
                let m = meta::meta_mut(&mut t);
                m.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            if let Some(map) = t.as_object_mut() {
                map.insert("status".into(), json!({"phase": "Terminating"}));
            }
            if opts.dry_run {
                return Ok(Deleted { object: Arc::new(t), gone: false });
            }
            match self.store.update(NAMESPACES, name, t, current_rv) {
                Ok(o) => break o,
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => return Err(errors::not_found(info, name)),
                Err(e) => return Err(errors::internal(&e.to_string())),
            }
        };
        if opts.dry_run {
            return Ok(Deleted { object: marked, gone: false });
        }
        let prefix = format!("{name}/");
        let content_opts = DeleteOptions::default();
        let mut remaining = 0;
        for res in self.store.resource_keys() {
            if res == NAMESPACES {
                continue;
            }
            for key in self.store.keys(&res, Some(&prefix)) {
                match self.delete_stored(&res, &key, &content_opts) {
                    Ok(d) if !d.gone => remaining += 1,
                    _ => {}
                }
            }
        }
        if remaining > 0 {
            return Ok(Deleted { object: marked, gone: false });
        }
        self.finish_namespace_if_empty(name);
        match self.store.get(NAMESPACES, name) {
            Some(still) => Ok(Deleted { object: still, gone: false }),
            None => Ok(Deleted { object: marked, gone: true }),
        }
    }

    /// Removes namespace `ns` if it is being deleted, has no finalizers left and no
    /// content: the part of the namespace controller this server does inline.
    pub(crate) fn finish_namespace_if_empty(&self, ns: &str) {
        let Some(nsobj) = self.store.get(NAMESPACES, ns) else {
            return;
        };
        if !meta::is_deleting(&nsobj) || !meta::finalizers(&nsobj).is_empty() {
            return;
        }
        if self.store.any_key_with_prefix(&format!("{ns}/")) {
            return;
        }
        // A concurrent change of the namespace is left for the next deletion to retry.
        let _ = self.store.delete(NAMESPACES, ns, (*nsobj).clone(), object_rv(&nsobj));
    }

    pub(crate) fn check_preconditions(&self, current: &Value, opts: &DeleteOptions) -> Result<(), DeleteFailure> {
        if let Some(uid) = &opts.precondition_uid {
            let have = meta::meta_str(current, "uid").unwrap_or("");
            if uid != have {
                return Err(DeleteFailure::Precondition(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"
                )));
            }
        }
        if let Some(rv) = &opts.precondition_rv {
            let have = object_rv(current);
            if rv.parse::<u64>().ok() != Some(have) {
                return Err(DeleteFailure::Precondition(format!(
                    "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"
                )));
            }
        }
        Ok(())
    }

    pub(crate) fn delete_collection(&self, req: &ApiRequest) -> ApiResult {
        if req.subresource.is_some() || req.name.is_some() {
            return Err(errors::method_not_allowed());
        }
        let info = &*req.resource;
        let filter = Filter::from_request(req)?;
        let opts = DeleteOptions::from_request(req)?;
        let res = resource_key(info);
        let prefix = namespace_prefix(req);
        let matches = |o: &Value| filter.matches(o);
        let page = self
            .store
            .list(
                &res,
                &ListQuery { prefix: prefix.as_deref(), start: None, at_rv: None, limit: None, filter: &matches },
            )
            .map_err(|e| errors::internal(&e.to_string()))?;
        let is_ns = info.group.is_empty() && info.plural == "namespaces";
        let mut items = Vec::new();
        for obj in page.items {
            let name = meta::meta_str(&obj, "name").unwrap_or("").to_owned();
            let ns = meta::meta_str(&obj, "namespace");
            let key = crate::storage::object_key(ns, &name);
            let result = if is_ns {
                if IMMORTAL_NAMESPACES.contains(&name.as_str()) {
                    continue;
                }
                self.delete_namespace(info, &name, &opts).ok()
            } else {
                self.delete_stored(&res, &key, &opts).ok()
            };
            if let Some(d) = result {
                items.push(meta::owned_for(&d.object, info));
            }
        }
        Ok(ApiResponse::Object {
            code: 200,
            body: json!({
                "kind": format!("{}List", info.kind),
                "apiVersion": info.api_version(),
                "metadata": {"resourceVersion": self.store.current_rv().to_string()},
                "items": items,
            }),
        })
    }
}
