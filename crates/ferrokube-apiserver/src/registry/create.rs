//! POST: creating an object (name or generateName, uid, creationTimestamp, generation,
//! defaults, namespace checks, dry run).

use serde_json::{json, Value};

use super::errors::{self, FieldError};
use super::managed_fields::FieldTracking;
use super::meta::{self, resource_key};
use super::{check_type, defaults, dry_run, namespace_of, parse_body, validation, Registry, NAMESPACES};
use crate::api::{ApiError, ApiRequest, ApiResponse, ApiResult, ResourceInfo};
use crate::storage::{object_key, StoreError};

impl Registry {
    /// Checks that namespace `ns` exists and is not terminating.
    pub(crate) fn check_namespace_open(&self, info: &ResourceInfo, ns: &str, name: &str) -> Result<(), ApiError> {
        let Some(nsobj) = self.store.get(NAMESPACES, ns) else {
            return Err(errors::not_found_in("", "namespaces", ns));
        };
        let terminating =
            meta::is_deleting(&nsobj) || nsobj.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
        if terminating {
            let mut e = errors::forbidden(
                info,
                name,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            );
            if let Some(Value::Object(d)) = e.details.as_mut() {
                d.insert(
                    "causes".into(),
                    json!([{"reason": "NamespaceTerminating", "message": format!("namespace {ns} is being terminated"), "field": "metadata.namespace"}]),
                );
            }
            return Err(e);
        }
        Ok(())
    }

    pub(crate) fn create(&self, req: &ApiRequest) -> ApiResult {
        if req.subresource.is_some() || req.name.is_some() {
            return Err(errors::method_not_allowed());
        }
        let info = &*req.resource;
        let ns = namespace_of(req)?;
        let dry = dry_run(req)?;
        let mut obj = parse_body(req)?;
        check_type(info, &obj)?;
        meta::set_type(&mut obj, info);

        {
            let m = meta::meta_mut(&mut obj);
            match ns {
                Some(ns) => match m.get("namespace").and_then(Value::as_str) {
                    Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                        return Err(errors::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ))
                    }
                    _ => {
                        m.insert("namespace".into(), json!(ns));
                    }
                },
                None => {
                    m.remove("namespace");
                }
            }
            if m.get("resourceVersion").and_then(Value::as_str).is_some_and(|rv| !rv.is_empty()) {
                return Err(errors::internal("resourceVersion should not be set on objects to be created"));
            }
            m.remove("resourceVersion");
        }
        let explicit_name = meta::meta_str(&obj, "name").filter(|n| !n.is_empty()).map(str::to_owned);
        let generate = meta::meta_str(&obj, "generateName").filter(|n| !n.is_empty()).map(str::to_owned);
        if explicit_name.is_none() && generate.is_none() {
            return Err(errors::invalid(
                info,
                "",
                &[FieldError::required("metadata.name", "name or generateName is required")],
            ));
        }
        if let Some(ns) = ns {
            let shown = explicit_name.as_deref().or(generate.as_deref()).unwrap_or("");
            self.check_namespace_open(info, ns, shown)?;
        }

        // Defaults and system fields.
        let tracks_generation = meta::tracks_generation(info, self.custom_version(info).is_some());
        {
            let m = meta::meta_mut(&mut obj);
            m.insert("uid".into(), json!(meta::new_uid()));
            m.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
            if tracks_generation {
                m.insert("generation".into(), json!(1));
            } else {
                m.remove("generation");
            }
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
        }
        let res = resource_key(info);
        // generateName collisions are retried with a new suffix, as kube's clients would.
        let attempts = if explicit_name.is_some() { 1 } else { 8 };
        let mut defaulted = false;
        for _ in 0..attempts {
            let name = match (&explicit_name, &generate) {
                (Some(n), _) => n.clone(),
                (None, Some(base)) => meta::generate_name(base),
                (None, None) => String::new(), // rejected above
            };
            meta::meta_mut(&mut obj).insert("name".into(), json!(name));
            if !defaulted {
                let builtin = self.custom_version(info).is_none();
                let allocated = if builtin { defaults::allocated_fields(info, &obj) } else { Vec::new() };
                defaults::spec_defaults(info, builtin, &mut obj, &self.alloc);
                self.custom_on_write(info, None, &mut obj, super::update::Mode::Main)?;
                // A create through server-side apply arrives with its Apply entry;
                // any other create is recorded as an Update of its field manager.
                if obj.pointer("/metadata/managedFields").is_none_or(Value::is_null) {
                    // A CRD's status on create is the strategy's, and what the REST
                    // storage allocates is its own: nobody's field.
                    let strategy_status = crate::apiextensions::is_crd_resource(info)
                        .then(|| obj.as_object_mut().and_then(|o| o.remove("status")))
                        .flatten();
                    let mut set_aside = Vec::new();
                    for (parent, key) in &allocated {
                        if let Some(v) =
                            obj.pointer_mut(parent).and_then(Value::as_object_mut).and_then(|p| p.remove(*key))
                        {
                            set_aside.push((*parent, *key, v));
                        }
                    }
                    let tracking = FieldTracking::for_request(req, None, super::patch::root_schema(info));
                    obj = tracking.record(None, std::mem::take(&mut obj))?;
                    if let (Some(status), Some(o)) = (strategy_status, obj.as_object_mut()) {
                        o.insert("status".into(), status);
                    }
                    for (parent, key, v) in set_aside {
                        if let Some(p) = obj.pointer_mut(parent).and_then(Value::as_object_mut) {
                            p.insert(key.into(), v);
                        }
                    }
                }
                // What the strategy and the admission plugins set is nobody's field.
                defaults::system_fields(info, builtin, &mut obj);
                if builtin && info.group.is_empty() && info.plural == "pods" {
                    self.admit_pod(info, ns.unwrap_or_default(), explicit_name.as_deref().unwrap_or(""), &mut obj)?;
                }
                defaulted = true;
            }
            let mut problems = validation::validate_name(info, &name);
            problems.extend(validation::validate_metadata(&obj));
            problems.extend(validation::validate_workload_selector(info, &obj));
            problems.extend(validation::validate_config_map(info, &obj));
            if self.custom_version(info).is_none() {
                problems.extend(validation::validate_spec(info, &obj));
            }
            if !problems.is_empty() {
                return Err(errors::invalid(info, &name, &problems));
            }
            let key = object_key(ns, &name);
            if dry {
                if self.store.get(&res, &key).is_some() {
                    return Err(errors::already_exists(info, &name));
                }
                return Ok(ApiResponse::Object { code: 201, body: obj });
            }
            let to_store = if attempts > 1 { obj.clone() } else { std::mem::take(&mut obj) };
            match self.store.create(&res, &key, to_store) {
                Ok(stored) => return Ok(ApiResponse::Object { code: 201, body: meta::owned_for(&stored, info) }),
                Err(StoreError::AlreadyExists) if explicit_name.is_none() => continue,
                Err(StoreError::AlreadyExists) => return Err(errors::already_exists(info, &name)),
                Err(e) => return Err(errors::internal(&e.to_string())),
            }
        }
        let name = meta::meta_str(&obj, "name").unwrap_or("").to_owned();
        Err(errors::already_exists(info, &name))
    }

    /// The admission plugins' changes to a new pod: `ServiceAccount` (the pod runs as
    /// `default` unless it names another account, which must exist; the account's
    /// token, the cluster CA and the namespace are mounted from a projected
    /// `kube-api-access-*` volume unless automounting is off), then
    /// `DefaultTolerationSeconds` and `Priority`. A missing `default` account is
    /// tolerated (the embedded server without its controllers creates none), a missing
    /// named one is refused as kube-apiserver does.
    fn admit_pod(&self, info: &ResourceInfo, ns: &str, name: &str, pod: &mut Value) -> Result<(), ApiError> {
        let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
            return Ok(());
        };
        let account = match spec.get("serviceAccountName").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(a) => a.to_owned(),
            None => match spec.get("serviceAccount").and_then(Value::as_str).filter(|s| !s.is_empty()) {
                Some(a) => a.to_owned(),
                None => "default".to_owned(),
            },
        };
        let stored = self.store.get("/serviceaccounts", &object_key(Some(ns), &account));
        if stored.is_none() && account != "default" {
            return Err(errors::forbidden(
                info,
                name,
                &format!("error looking up service account {ns}/{account}: serviceaccount \"{account}\" not found"),
            ));
        }
        spec.insert("serviceAccountName".into(), json!(account));
        spec.insert("serviceAccount".into(), json!(account));
        let account_automount = stored
            .as_ref()
            .and_then(|sa| sa.get("automountServiceAccountToken"))
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let automount = spec.get("automountServiceAccountToken").and_then(Value::as_bool).unwrap_or(account_automount);
        const MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
        if automount {
            let volume = meta::generate_name("kube-api-access-");
            let mut mounted = false;
            for list in ["initContainers", "containers"] {
                let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else { continue };
                for c in containers.iter_mut().filter_map(Value::as_object_mut) {
                    let mounts = c.entry("volumeMounts").or_insert(json!([]));
                    if let Some(mounts) = mounts.as_array_mut() {
                        if !mounts.iter().any(|m| m["mountPath"] == MOUNT) {
                            mounts.push(json!({"name": volume, "readOnly": true, "mountPath": MOUNT}));
                            mounted = true;
                        }
                    }
                }
            }
            if mounted {
                let volumes = spec.entry("volumes").or_insert(json!([]));
                if let Some(volumes) = volumes.as_array_mut() {
                    volumes.push(json!({
                        "name": volume,
                        "projected": {
                            "defaultMode": 420,
                            "sources": [
                                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                            ]
                        }
                    }));
                }
            }
        }
        defaults::admit_pod(spec);
        Ok(())
    }
}
