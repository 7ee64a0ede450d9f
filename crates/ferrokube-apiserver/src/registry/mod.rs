//! Per-resource API semantics over [`crate::storage`].
//!
//! The HTTP front end (`handlers`) turns each authenticated request into an
//! [`ApiRequest`] and calls [`Registry::handle`]; the registry validates it, applies
//! kube-apiserver's rules (names, namespaces, resourceVersion preconditions,
//! generation, finalizers, status and scale subresources, dry run, selectors, paging,
//! watch) and reads or writes the [`Store`]. It answers with an [`ApiResponse`](crate::api::ApiResponse) or an
//! [`ApiError`] phrased as kube-apiserver phrases it; `handlers` does the wire format.
//!
//! ```text
//! handlers -> ApiRequest -> Registry::handle -> create / get+list / update / patch /
//!             delete / watch / subresources -> Store (objects, history, watchers)
//! ```
//!
//! Objects are generic JSON (`serde_json::Value`) for every resource: the kind and
//! apiVersion come from the request's [`ResourceInfo`], and objects are shared between
//! all versions a resource is served at (stored under `group/plural`).
//!
//! The registry owns the [`SharedCatalog`]: writes of CustomResourceDefinitions go
//! through `apiextensions` (validation, status) and then change what the
//! catalog serves; custom resources get their schema's pruning, defaults and
//! validation from a write hook (`custom.rs`).

mod create;
mod custom;
pub(crate) mod defaults;
mod delete;
mod list;
mod managed_fields;
pub(crate) mod patch;
mod pods;
mod propagation;
pub(crate) mod selectors;
mod subresources;
mod update;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::{ApiError, ApiRequest, ApiResult, ResourceInfo, ServedResponse, Verb};
use crate::catalog::SharedCatalog;
pub(crate) use crate::object::{errors, meta, validation};
use crate::storage::{object_key, Store, StoreConfig};
pub(crate) use propagation::{finalizers_for_propagation, FOREGROUND_DELETION, ORPHAN};

/// How often a watch with `allowWatchBookmarks=true` gets a BOOKMARK (kube-apiserver
/// sends one about every minute).
pub const DEFAULT_BOOKMARK_INTERVAL: Duration = Duration::from_secs(60);

/// Store key of namespaces.
pub(crate) const NAMESPACES: &str = "/namespaces";
/// Store key of Services (their cluster IPs and node ports are allocated here).
#[cfg(feature = "durable")]
const SERVICES: &str = "/services";

/// The API semantics of every resource, over one [`Store`].
pub struct Registry {
    store: Arc<Store>,
    bookmark_interval: Duration,
    alloc: defaults::Allocator,
    catalog: Arc<SharedCatalog>,
    crd_sync: std::sync::Mutex<()>,
}

impl Registry {
    /// A registry over a new store holding the namespaces `default`, `kube-system` and
    /// `kube-public`.
    pub fn new() -> Arc<Registry> {
        Registry::with_options(StoreConfig::default(), DEFAULT_BOOKMARK_INTERVAL)
    }

    /// Like [`Registry::new`], with watch bookmarks every `interval` (short in tests).
    pub fn with_bookmark_interval(interval: Duration) -> Arc<Registry> {
        Registry::with_options(StoreConfig::default(), interval)
    }

    /// Like [`Registry::new`], with store tunables and a bookmark interval.
    pub fn with_options(config: StoreConfig, bookmark_interval: Duration) -> Arc<Registry> {
        Registry::over_store(Store::with_config(config), bookmark_interval)
    }

    /// A registry over the objects kept in `dir` (`--data-dir`; created when new), which
    /// keeps every write there before acknowledging it (see `storage::durable`).
    /// Custom resources of the stored CRDs are served again at once.
    #[cfg(feature = "durable")]
    pub fn open(dir: &std::path::Path) -> Result<Arc<Registry>, crate::storage::durable::DurableError> {
        let store = crate::storage::durable::open_store(StoreConfig::default(), dir)?;
        let registry = Registry::over_store(store, DEFAULT_BOOKMARK_INTERVAL);
        registry.sync_custom_resources();
        let services: Vec<_> =
            registry.store.keys(SERVICES, None).iter().filter_map(|k| registry.store.get(SERVICES, k)).collect();
        registry.alloc.resume_after(services.iter().map(|s| &**s));
        Ok(registry)
    }

    /// A registry over `store`, holding the namespaces `default`, `kube-system` and
    /// `kube-public` (created unless the store has them).
    fn over_store(store: Store, bookmark_interval: Duration) -> Arc<Registry> {
        let registry = Registry {
            store: Arc::new(store),
            bookmark_interval,
            alloc: defaults::Allocator::default(),
            catalog: Arc::new(SharedCatalog::builtin()),
            crd_sync: std::sync::Mutex::new(()),
        };
        for ns in ["default", "kube-system", "kube-public"] {
            if registry.store.get(NAMESPACES, ns).is_some() {
                continue;
            }
            let obj = json!({
                "kind": "Namespace",
                "apiVersion": "v1",
                "metadata": {
                    "name": ns,
                    "uid": meta::new_uid(),
                    "creationTimestamp": meta::now_rfc3339(),
                    "labels": {"kubernetes.io/metadata.name": ns},
                },
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            });
            if let Err(e) = registry.store.create(NAMESPACES, ns, obj) {
                tracing::error!("creating the namespace {ns}: {e}");
            }
        }
        Arc::new(registry)
    }

    /// The underlying store (for in-process controllers).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The underlying store, shared.
    pub fn shared_store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }

    /// The catalog of served resources (built-in plus CRDs), shared with the handlers.
    pub fn catalog(&self) -> Arc<SharedCatalog> {
        Arc::clone(&self.catalog)
    }

    /// Serves one request.
    pub async fn handle(&self, req: ApiRequest) -> ApiResult {
        if crate::apiextensions::is_crd_resource(&req.resource) {
            return self.handle_crd(&req);
        }
        self.dispatch(&req)
    }

    /// Serves one request like [`Registry::handle`], answering GET and LIST with
    /// objects shared with the store rather than copies (what the HTTP front end
    /// serializes from cached JSON).
    pub async fn handle_served(&self, req: ApiRequest) -> Result<ServedResponse, ApiError> {
        if !crate::apiextensions::is_crd_resource(&req.resource) {
            match req.verb {
                Verb::Get if !pods::serves(&req) => return self.get(&req),
                Verb::List => return self.list(&req),
                _ => {}
            }
        }
        self.handle(req).await.map(ServedResponse::Api)
    }

    fn dispatch(&self, req: &ApiRequest) -> ApiResult {
        if let Some(answer) = self.pod_request(req) {
            return answer;
        }
        match req.verb {
            Verb::Get => self.get(req).map(ServedResponse::into_api),
            Verb::List => self.list(req).map(ServedResponse::into_api),
            Verb::Watch => self.watch(req),
            Verb::Create => self.create(req),
            Verb::Update => self.update(req),
            Verb::Patch => self.patch(req),
            Verb::Delete => self.delete(req),
            Verb::DeleteCollection => self.delete_collection(req),
        }
    }
}

/// Whether the request asks for `dryRun=All` (400 for other values).
pub(crate) fn dry_run(req: &ApiRequest) -> Result<bool, ApiError> {
    let Some(values) = req.query.get("dryRun") else {
        return Ok(false);
    };
    let mut all = false;
    for v in values {
        match v.as_str() {
            "All" => all = true,
            "" => {}
            other => {
                return Err(errors::bad_request(format!(
                    "Invalid dryRun value: Unsupported value: {other:?}: supported values: \"All\""
                )))
            }
        }
    }
    Ok(all)
}

/// Decodes a JSON (or YAML) request body into an object.
pub(crate) fn parse_body(req: &ApiRequest) -> Result<Value, ApiError> {
    let ct = req.content_type.as_deref().unwrap_or("application/json");
    let value: Value = if ct.contains("yaml") {
        serde_yaml_ng::from_slice(&req.body)
            .map_err(|e| errors::bad_request(format!("couldn't get version/kind; yaml parse error: {e}")))?
    } else {
        // The common case in one pass: a JSON object whose apiVersion and kind (when
        // present) are strings, which is all kube's version/kind step checks. Anything
        // else takes the slow path that words the error as kube's decoder does.
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(v)
                if v.as_object()
                    .is_some_and(|m| ["apiVersion", "kind"].iter().all(|f| m.get(*f).is_none_or(Value::is_string))) =>
            {
                v
            }
            _ => {
                if let Some(err) = crate::object::decode_errors::find_kind_error(&req.body) {
                    return Err(crate::object::decode_errors::unrecognized(&req.resource.kind, &err, &req.body));
                }
                serde_json::from_slice(&req.body)
                    .map_err(|e| errors::bad_request(format!("couldn't get version/kind; json parse error: {e}")))?
            }
        }
    };
    if !value.is_object() {
        return Err(errors::bad_request(format!(
            "couldn't get version/kind; json parse error: expected a JSON object, got {}",
            type_name(&value)
        )));
    }
    Ok(value)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks that `kind`/`apiVersion` of a body, when set, are those of `info`.
pub(crate) fn check_type(info: &ResourceInfo, obj: &Value) -> Result<(), ApiError> {
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str) {
        let want = info.api_version();
        let kind = obj.get("kind").and_then(Value::as_str).filter(|k| !k.is_empty()).unwrap_or(&info.kind);
        if !av.is_empty() && av != want && kind == info.kind {
            // kube's decoder finds no such kind in that version of its scheme.
            let version = av.rsplit('/').next().unwrap_or(av);
            return Err(errors::bad_request(format!(
                "{kind} in version {version:?} cannot be handled as a {kind}: no kind {kind:?} is registered for \
                 version {av:?} in scheme \"pkg/runtime/scheme.go:111\""
            )));
        }
        if !av.is_empty() && av != want {
            return Err(errors::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want})"
            )));
        }
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str) {
        let want = info.api_version();
        let builtin = crate::patch::schema::root_type(&info.group, &info.kind).is_some();
        if !kind.is_empty()
            && kind != info.kind
            && builtin
            && crate::patch::schema::root_type_for(&want, kind).is_some()
        {
            // Another built-in kind of the same version: kube decodes it as that kind,
            // then finds no conversion to the resource's internal type (whose package
            // is the group's first label, `core` for the core group).
            let version = &info.version;
            let package = if info.group.is_empty() { "core" } else { info.group.split('.').next().unwrap_or("") };
            return Err(errors::bad_request(format!(
                "{kind} in version {version:?} cannot be handled as a {}: converting ({version}.{kind}) to \
                 ({package}.{}): unknown conversion",
                info.kind, info.kind
            )));
        }
        if !kind.is_empty() && kind != info.kind {
            return Err(errors::bad_request(format!(
                "the kind in the data ({kind}) does not match the expected kind ({})",
                info.kind
            )));
        }
    }
    Ok(())
}

/// The store key of the object named by the request (404 when the path lacks a name
/// or a namespaced resource's namespace).
pub(crate) fn request_key(req: &ApiRequest) -> Result<(String, String), ApiError> {
    let name = req.name.as_deref().filter(|n| !n.is_empty()).ok_or_else(errors::method_not_allowed)?;
    let ns = namespace_of(req)?;
    Ok((name.to_owned(), object_key(ns, name)))
}

/// The request's namespace if the resource is namespaced (405 when missing).
pub(crate) fn namespace_of(req: &ApiRequest) -> Result<Option<&str>, ApiError> {
    if req.resource.namespaced {
        match req.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => Ok(Some(ns)),
            _ => Err(errors::method_not_allowed()),
        }
    } else {
        Ok(None)
    }
}

/// The key prefix selecting a namespace's objects (`None`: all).
pub(crate) fn namespace_prefix(req: &ApiRequest) -> Option<String> {
    if req.resource.namespaced {
        req.namespace.as_deref().filter(|n| !n.is_empty()).map(|n| format!("{n}/"))
    } else {
        None
    }
}
