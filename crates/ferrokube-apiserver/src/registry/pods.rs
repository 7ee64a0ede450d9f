//! Pod subresources beyond `status` and `log`: `binding` (what a scheduler posts),
//! `eviction` (a deletion that honours PodDisruptionBudgets) and `ephemeralcontainers`
//! (the only way to change `spec.ephemeralContainers`); and POST of `bindings`, the
//! older form of `pods/binding`.
//!
//! As in kube-apiserver, `binding` and `eviction` answer `201` with a `Status` of
//! `Success`, and `binding` writes the pod directly (no generation bump, no
//! managedFields entry), as kube's `BindingREST` does.

use std::sync::Arc;

use serde_json::{json, Value};

use super::delete::DeleteOptions;
use super::errors::{self, FieldError};
use super::managed_fields::FieldTracking;
use super::meta::{self, resource_key};
use super::patch::{self, PatchType};
use super::selectors::LabelSelector;
use super::update::{Mode, Target};
use super::{dry_run, namespace_of, parse_body, request_key, Registry};
use crate::api::{ApiError, ApiRequest, ApiResponse, ApiResult, ResourceInfo, Verb};
use crate::storage::{object_key, ListQuery, StoreError};

/// Store key of PodDisruptionBudgets.
const PDBS: &str = "policy/poddisruptionbudgets";

/// A change applied to the stored object of a pod subresource update or patch.
type ObjectChange<'a> = dyn Fn(&Value) -> Result<Value, ApiError> + 'a;

/// `metav1.Status` of a successful binding or eviction (201, as kube's create handler
/// fills in the code).
fn success() -> ApiResult {
    Ok(ApiResponse::Object {
        code: 201,
        body: json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "code": 201,
        }),
    })
}

/// The `pods` resource of the core group, for requests on `bindings`.
fn pods_info(like: &ResourceInfo) -> ResourceInfo {
    ResourceInfo {
        group: String::new(),
        plural: "pods".into(),
        singular: "pod".into(),
        kind: "Pod".into(),
        namespaced: true,
        has_status: true,
        has_scale: false,
        ..like.clone()
    }
}

/// 409 on `pods/binding`: `Operation cannot be fulfilled on pods/binding "x": <why>`.
fn binding_conflict(name: &str, why: &str) -> ApiError {
    let mut e =
        ApiError::new(409, "Conflict", format!("Operation cannot be fulfilled on pods/binding \"{name}\": {why}"));
    e.details = Some(json!({"name": name, "kind": "pods/binding"}));
    e
}

/// 429 of an eviction the disruption budget does not allow (`policyv1.DisruptionBudgetCause`).
fn budget_violation(cause: String, retry_after: u32) -> ApiError {
    let mut e =
        ApiError::new(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.");
    let mut details = json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]});
    if retry_after > 0 {
        details["retryAfterSeconds"] = json!(retry_after);
    }
    e.details = Some(details);
    e
}

/// Decodes the body of a `binding`/`eviction` POST, checking its kind.
fn parse_typed(req: &ApiRequest, kind: &str) -> Result<Value, ApiError> {
    let body = parse_body(req)?;
    if let Some(k) = body.get("kind").and_then(Value::as_str) {
        if !k.is_empty() && k != kind {
            return Err(errors::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({kind})"
            )));
        }
    }
    Ok(body)
}

/// Whether PodDisruptionBudget `pdb` selects `pod` (policy/v1: an empty selector selects
/// every pod of the namespace, a missing one none).
fn selects(pdb: &Value, pod: &Value) -> bool {
    let Some(sel) = pdb.pointer("/spec/selector").filter(|s| s.is_object()) else {
        return false;
    };
    LabelSelector::from_label_selector(sel).ok().flatten().is_some_and(|s| s.matches_object(pod))
}

/// Whether [`Registry::pod_request`] answers `req` (which must then not be served as a
/// plain GET of the pod).
pub(crate) fn serves(req: &ApiRequest) -> bool {
    let info = &*req.resource;
    info.group.is_empty()
        && match info.plural.as_str() {
            "pods" => matches!(req.subresource.as_deref(), Some("binding" | "eviction" | "ephemeralcontainers")),
            "bindings" => req.subresource.is_none() && req.verb == Verb::Create,
            _ => false,
        }
}

impl Registry {
    /// Serves the pod subresources of this module; `None` for any other request.
    pub(crate) fn pod_request(&self, req: &ApiRequest) -> Option<ApiResult> {
        if !serves(req) {
            return None;
        }
        let info = &*req.resource;
        let sub = req.subresource.as_deref();
        Some(match (info.plural.as_str(), sub, req.verb) {
            ("pods", Some("binding"), Verb::Create) => {
                request_key(req).and_then(|(name, _)| self.bind_pod(req, info, &name))
            }
            ("pods", Some("eviction"), Verb::Create) => self.evict_pod(req),
            ("pods", Some("ephemeralcontainers"), Verb::Get) => {
                let mut get = req.clone();
                get.subresource = None;
                self.get(&get).map(crate::api::ServedResponse::into_api)
            }
            ("pods", Some("ephemeralcontainers"), Verb::Update | Verb::Patch) => self.write_ephemeral_containers(req),
            ("pods", Some("binding" | "eviction" | "ephemeralcontainers"), _) => Err(errors::method_not_allowed()),
            ("bindings", None, Verb::Create) if req.name.is_none() => {
                let pods = pods_info(info);
                parse_typed(req, "Binding").and_then(|b| {
                    let name = meta::meta_str(&b, "name").unwrap_or("").to_owned();
                    if name.is_empty() {
                        return Err(errors::invalid(
                            info,
                            "",
                            &[FieldError::required("metadata.name", "name or generateName is required")],
                        ));
                    }
                    self.bind_pod(req, &pods, &name)
                })
            }
            _ => return None,
        })
    }

    /// `pods/<name>/binding`: sets `spec.nodeName` of an unassigned pod, merges the
    /// Binding's annotations into the pod's and marks it `PodScheduled`.
    fn bind_pod(&self, req: &ApiRequest, pods: &ResourceInfo, name: &str) -> ApiResult {
        let binding = parse_typed(req, "Binding")?;
        let dry = dry_run(req)?;
        let ns = namespace_of(req)?;
        match meta::meta_str(&binding, "name") {
            Some(n) if n == name => {}
            _ => return Err(errors::bad_request("name in URL does not match name in Binding object")),
        }
        if let (Some(ns), Some(body_ns)) = (ns, meta::meta_str(&binding, "namespace")) {
            if !body_ns.is_empty() && body_ns != ns {
                return Err(errors::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        let target_kind = binding.pointer("/target/kind").and_then(Value::as_str).unwrap_or("");
        let node = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("");
        let mut problems = Vec::new();
        if !target_kind.is_empty() && target_kind != "Node" {
            problems.push(FieldError::not_supported("target.kind", target_kind, &["Node", "<empty>"]));
        }
        if node.is_empty() {
            problems.push(FieldError::required("target.name", ""));
        }
        if !problems.is_empty() {
            return Err(errors::invalid_kind("", "Binding", name, &problems));
        }
        let uid = meta::meta_str(&binding, "uid").filter(|u| !u.is_empty());
        let annotations = binding.pointer("/metadata/annotations").and_then(Value::as_object);
        let res = resource_key(pods);
        let key = object_key(ns, name);
        loop {
            let current = self.store.get(&res, &key).ok_or_else(|| errors::not_found(pods, name))?;
            let current_rv = crate::storage::object_rv(&current);
            if let Some(uid) = uid {
                let have = meta::meta_str(&current, "uid").unwrap_or("");
                if uid != have {
                    return Err(binding_conflict(
                        name,
                        &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                    ));
                }
            }
            if meta::is_deleting(&current) {
                return Err(binding_conflict(
                    name,
                    &format!("pod {name} is being deleted, cannot be assigned to a host"),
                ));
            }
            if let Some(assigned) = current.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty())
            {
                return Err(binding_conflict(name, &format!("pod {name} is already assigned to node {assigned:?}")));
            }
            let mut pod = (*current).clone();
            if let Some(annotations) = annotations {
                let m = meta::meta_mut(&mut pod);
                let into = m.entry("annotations").or_insert_with(|| json!({}));
                if !into.is_object() {
                    *into = json!({});
                }
                if let Some(into) = into.as_object_mut() {
                    for (k, v) in annotations {
                        into.insert(k.clone(), v.clone());
                    }
                }
            }
            match pod.get_mut("spec").and_then(Value::as_object_mut) {
                Some(spec) => {
                    spec.insert("nodeName".into(), json!(node));
                }
                None => pod["spec"] = json!({"nodeName": node}),
            }
            set_scheduled(&mut pod);
            if dry {
                return success();
            }
            match self.store.update(&res, &key, pod, current_rv) {
                Ok(_) => return success(),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => return Err(errors::not_found(pods, name)),
                Err(e) => return Err(errors::internal(&e.to_string())),
            }
        }
    }

    /// `pods/<name>/eviction`: deletes the pod as DELETE with the Eviction's
    /// `deleteOptions` would, unless a PodDisruptionBudget selecting it allows no
    /// disruption (429); an allowed eviction of a running pod spends one disruption of
    /// the budget (`status.disruptionsAllowed`, `status.disruptedPods`).
    fn evict_pod(&self, req: &ApiRequest) -> ApiResult {
        let info = &*req.resource;
        let (name, key) = request_key(req)?;
        let ns = namespace_of(req)?.unwrap_or_default().to_owned();
        let eviction = parse_typed(req, "Eviction")?;
        if meta::meta_str(&eviction, "name") != Some(name.as_str()) {
            return Err(errors::bad_request("name in URL does not match name in Eviction object"));
        }
        // The Eviction's deleteOptions, read as the body of a DELETE would be (the
        // request's dryRun parameter still counts).
        let mut as_delete = req.clone();
        as_delete.body = match eviction.get("deleteOptions").filter(|o| o.is_object()) {
            Some(opts) => serde_json::to_vec(opts).map_err(|e| errors::internal(&e.to_string()))?.into(),
            None => bytes::Bytes::new(),
        };
        as_delete.query.retain(|k, _| k == "dryRun");
        let opts = DeleteOptions::from_request(&as_delete)?;
        let res = resource_key(info);
        let pod = self.store.get(&res, &key).ok_or_else(|| errors::not_found(info, &name))?;
        let ignore_budget = meta::is_deleting(&pod)
            || matches!(pod.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed" | "Pending"));
        if !ignore_budget {
            self.spend_disruption(&ns, &name, &pod, opts.dry_run)?;
        }
        self.delete_stored(&res, &key, &opts).map_err(|f| Self::delete_failure(info, &name, f))?;
        success()
    }

    /// Checks the PodDisruptionBudget selecting `pod` (if any) and takes one of its
    /// allowed disruptions, as kube's eviction REST does.
    fn spend_disruption(&self, ns: &str, pod_name: &str, pod: &Value, dry: bool) -> Result<(), ApiError> {
        let prefix = format!("{ns}/");
        loop {
            let all = |_: &Value| true;
            let page = self
                .store
                .list(PDBS, &ListQuery { prefix: Some(&prefix), start: None, at_rv: None, limit: None, filter: &all })
                .map_err(|e| errors::internal(&e.to_string()))?;
            let matching: Vec<&Arc<Value>> = page.items.iter().filter(|p| selects(p, pod)).collect();
            let pdb = match matching.as_slice() {
                [] => return Ok(()),
                [one] => *one,
                _ => return Err(errors::internal(
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                )),
            };
            let pdb_name = meta::meta_str(pdb, "name").unwrap_or("").to_owned();
            let status = |f: &str| pdb.pointer(&format!("/status/{f}")).and_then(Value::as_i64).unwrap_or(0);
            if status("observedGeneration") < meta::generation(pdb) {
                return Err(budget_violation(
                    format!("The disruption budget {pdb_name} is still being processed by the server."),
                    10,
                ));
            }
            let allowed = status("disruptionsAllowed");
            if allowed < 0 {
                let mut e = ApiError::new(
                    403,
                    "Forbidden",
                    format!(
                        "poddisruptionbudget.policy \"{pdb_name}\" is forbidden: pdb disruptions allowed is negative"
                    ),
                );
                e.details = Some(json!({"name": pdb_name, "group": "policy", "kind": "poddisruptionbudget"}));
                return Err(e);
            }
            if allowed == 0 {
                return Err(budget_violation(
                    format!(
                        "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                        status("desiredHealthy"),
                        status("currentHealthy")
                    ),
                    0,
                ));
            }
            if dry {
                return Ok(());
            }
            let mut spent = (**pdb).clone();
            let st = spent.as_object_mut().map(|m| m.entry("status").or_insert_with(|| json!({})));
            if let Some(Value::Object(st)) = st {
                st.insert("disruptionsAllowed".into(), json!(allowed - 1));
                let disrupted = st.entry("disruptedPods").or_insert_with(|| json!({}));
                if !disrupted.is_object() {
                    *disrupted = json!({});
                }
                disrupted[pod_name] = json!(meta::now_rfc3339());
            }
            let rv = crate::storage::object_rv(pdb);
            match self.store.update(PDBS, &object_key(Some(ns), &pdb_name), spent, rv) {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict { .. }) => continue,
                Err(StoreError::NotFound) => return Ok(()),
                Err(e) => return Err(errors::internal(&e.to_string())),
            }
        }
    }

    /// PUT or PATCH of `pods/<name>/ephemeralcontainers`: only
    /// `spec.ephemeralContainers` changes, and only by adding containers.
    fn write_ephemeral_containers(&self, req: &ApiRequest) -> ApiResult {
        let info = &*req.resource;
        let (name, key) = request_key(req)?;
        let ns = namespace_of(req)?;
        let dry = dry_run(req)?;
        let root = patch::root_schema(info);
        let change: Box<ObjectChange<'_>> = match req.verb {
            Verb::Patch => {
                let pt = patch::patch_type_of(req.content_type.as_deref())?;
                if pt == PatchType::Apply {
                    return Err(errors::unsupported_media_type(req.content_type.as_deref().unwrap_or("")));
                }
                Box::new(move |current| patch::apply_to(pt, current, &req.body, root))
            }
            _ => {
                let body = parse_body(req)?;
                super::check_type(info, &body)?;
                Box::new(move |_| Ok(body.clone()))
            }
        };
        let target = Target { info, namespace: ns, name: &name, key: &key };
        let tracking = FieldTracking::for_request(req, Some("ephemeralcontainers"), root);
        let out = self.guaranteed_update(&target, dry, Mode::Main, Some(&tracking), |current| {
            let live = meta::owned_for(current, info);
            let requested = change(&live)?;
            if let Some(n) = meta::meta_str(&requested, "name").filter(|n| !n.is_empty()) {
                if n != name {
                    return Err(errors::bad_request(format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    )));
                }
            }
            let wanted = requested.pointer("/spec/ephemeralContainers").cloned().unwrap_or(Value::Null);
            let problems = ephemeral_problems(&live, &wanted);
            if !problems.is_empty() {
                return Err(errors::invalid(info, &name, &problems));
            }
            let mut pod = live;
            if let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) {
                match wanted {
                    Value::Array(list) if !list.is_empty() => {
                        spec.insert("ephemeralContainers".into(), Value::Array(list));
                    }
                    _ => {
                        spec.remove("ephemeralContainers");
                    }
                }
            }
            // The request's resourceVersion, when set, is the precondition.
            let rv = meta::meta_str(&requested, "resourceVersion").unwrap_or("").to_owned();
            meta::meta_mut(&mut pod).insert("resourceVersion".into(), json!(rv));
            Ok(pod)
        })?;
        Ok(ApiResponse::Object { code: 200, body: meta::owned_for(&out.object, info) })
    }
}

/// Sets the pod's `PodScheduled` condition to `True` (as kube's binding does).
fn set_scheduled(pod: &mut Value) {
    let now = meta::now_rfc3339();
    if !pod.get("status").is_some_and(Value::is_object) {
        pod["status"] = json!({});
    }
    let conditions = &mut pod["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    if let Some(list) = conditions.as_array_mut() {
        match list.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some("PodScheduled")) {
            Some(c) => {
                if c.get("status").and_then(Value::as_str) != Some("True") {
                    c["status"] = json!("True");
                    c["lastTransitionTime"] = json!(now);
                    if let Some(m) = c.as_object_mut() {
                        m.remove("reason");
                        m.remove("message");
                    }
                }
            }
            None => list.push(json!({
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": null,
                "lastTransitionTime": now,
            })),
        }
    }
}

/// Why `wanted` may not replace the ephemeral containers of `pod`: existing ones may be
/// neither removed nor changed, new ones need a unique name and an image.
fn ephemeral_problems(pod: &Value, wanted: &Value) -> Vec<FieldError> {
    let field = "spec.ephemeralContainers";
    let mut problems = Vec::new();
    let wanted: &[Value] = match wanted {
        Value::Null => &[],
        Value::Array(list) => list,
        other => {
            problems.push(FieldError::invalid(field, other, "must be a list of ephemeral containers"));
            return problems;
        }
    };
    let existing: &[Value] =
        pod.pointer("/spec/ephemeralContainers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let name_of = |c: &Value| c.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
    for old in existing {
        let old_name = name_of(old);
        match wanted.iter().position(|c| name_of(c) == old_name) {
            None => problems.push(FieldError::forbidden(
                field,
                &format!("existing ephemeral containers {old_name:?} may not be removed"),
            )),
            Some(i) if wanted[i] != *old => problems.push(FieldError::forbidden(
                &format!("{field}[{i}]"),
                &format!("existing ephemeral containers {old_name:?} may not be changed"),
            )),
            Some(_) => {}
        }
    }
    let mut taken: Vec<String> = ["containers", "initContainers"]
        .iter()
        .flat_map(|list| {
            pod.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .map(|l| l.iter().map(name_of).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect();
    for (i, c) in wanted.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let n = name_of(c);
        if n.is_empty() {
            problems.push(FieldError::required(&format!("{path}.name"), ""));
        } else if taken.contains(&n) {
            problems.push(FieldError {
                reason: "FieldValueDuplicate",
                field: format!("{path}.name"),
                body: format!("Duplicate value: {n:?}"),
            });
        } else {
            taken.push(n);
        }
        if c.get("image").and_then(Value::as_str).is_none_or(str::is_empty) {
            problems.push(FieldError::required(&format!("{path}.image"), ""));
        }
    }
    problems
}
