//! The seam between the HTTP front end (`handlers`) and the API semantics
//! (`registry` over `storage`).
//!
//! `handlers` authenticates a request, parses its path and query into an
//! [`ApiRequest`] naming a [`ResourceInfo`] from the catalog, and hands it to
//! [`crate::registry::Registry::handle`]. The registry answers with an [`ApiResponse`]
//! (an object, or a stream of watch events) or an [`ApiError`], which `handlers` turns
//! into a Kubernetes `Status` body. Nothing below this seam knows about HTTP framing,
//! TLS or content negotiation; nothing above it knows how objects are stored.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use serde_json::Value;

/// One servable resource (a row of `kubectl api-resources`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
    /// Plural resource name used in URLs, e.g. `deployments`.
    pub plural: String,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names, e.g. `["deploy"]`.
    pub short_names: Vec<String>,
    /// Categories, e.g. `["all"]`.
    pub categories: Vec<String>,
    /// Verbs served, e.g. `get list watch create update patch delete deletecollection`.
    pub verbs: Vec<String>,
    /// Whether the `status` subresource is served.
    pub has_status: bool,
    /// Whether the `scale` subresource is served.
    pub has_scale: bool,
}

impl ResourceInfo {
    /// `apiVersion` of objects of this resource: `v1` or `group/version`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The verb of a request, as Kubernetes authorization names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// GET of one object.
    Get,
    /// GET of a collection.
    List,
    /// GET of a collection with `watch=true` or the `/watch/` path prefix.
    Watch,
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH.
    Patch,
    /// DELETE of one object.
    Delete,
    /// DELETE of a collection.
    DeleteCollection,
}

/// The authenticated identity behind a request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// User name, e.g. `admin` or `system:serviceaccount:ns:name`.
    pub name: String,
    /// User id, when the authenticator knows one.
    pub uid: String,
    /// Groups; authenticated users always carry `system:authenticated`.
    pub groups: Vec<String>,
    /// Extra attributes (e.g. from `Impersonate-Extra-<key>` headers), key to values.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// A parsed API request, ready for the registry.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// What to do.
    pub verb: Verb,
    /// Which resource.
    pub resource: Arc<ResourceInfo>,
    /// Namespace from the path; `None` for cluster-scoped resources and for
    /// all-namespaces lists/watches.
    pub namespace: Option<String>,
    /// Object name from the path.
    pub name: Option<String>,
    /// Subresource from the path, e.g. `status` or `scale`.
    pub subresource: Option<String>,
    /// Query parameters, percent-decoded; a repeated key keeps its values in order.
    pub query: BTreeMap<String, Vec<String>>,
    /// Request body (already size-limited and decompressed).
    pub body: Bytes,
    /// `Content-Type` of the body, without parameters, e.g. `application/json`.
    pub content_type: Option<String>,
    /// Who is asking.
    pub user: UserInfo,
    /// The client's `User-Agent`, from which kube-apiserver derives the field manager of
    /// writes that name none (`kubectl/v1.33.1 (linux/amd64)` -> `kubectl`).
    pub user_agent: Option<String>,
}

impl ApiRequest {
    /// The first value of query parameter `key`.
    pub fn query_param(&self, key: &str) -> Option<&str> {
        self.query.get(key).and_then(|v| v.first()).map(String::as_str)
    }
}

/// One event of a watch stream, before serialization.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` or `ERROR`.
    pub event_type: &'static str,
    /// The object (a `Status` for `ERROR`).
    pub object: Arc<Value>,
}

/// A watch in progress: events until the watch ends (timeout, client gone, shutdown).
pub type WatchStream = Pin<Box<dyn Stream<Item = WatchEvent> + Send>>;

/// A successful answer of the registry.
pub enum ApiResponse {
    /// An object (or list) with the HTTP status to send: 200, or 201 for a create,
    /// 202 for a delete that left the object in place (finalizers, grace period).
    Object {
        /// HTTP status code.
        code: u16,
        /// The JSON body.
        body: Value,
    },
    /// A watch stream.
    Watch(WatchStream),
}

/// A failed request, rendered by `handlers` as a `metav1.Status` with this code,
/// reason, message and details.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// HTTP status code, e.g. 404.
    pub code: u16,
    /// `Status.reason`, e.g. `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`.
    pub reason: String,
    /// Human-readable message, phrased as kube-apiserver phrases it.
    pub message: String,
    /// `Status.details` (name, group, kind, causes, retryAfterSeconds), if any.
    pub details: Option<Value>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError { code, reason: reason.to_owned(), message: message.into(), details: None }
    }

    /// The `metav1.Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty() {
            // `reason` is omitempty in kube's Status (an unknown reason).
            if let Some(m) = status.as_object_mut() {
                m.remove("reason");
            }
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

/// Result of a registry call.
pub type ApiResult = Result<ApiResponse, ApiError>;

/// Building requests in-process (controllers, tests) without the HTTP front end.
impl ApiRequest {
    /// A request of `verb` on `resource` with no namespace, name, query or body, as
    /// the built-in admin user `system:apiserver`.
    pub fn new(verb: Verb, resource: Arc<ResourceInfo>) -> ApiRequest {
        ApiRequest {
            verb,
            resource,
            namespace: None,
            name: None,
            subresource: None,
            query: BTreeMap::new(),
            body: Bytes::new(),
            content_type: None,
            user_agent: None,
            user: UserInfo {
                name: "system:apiserver".into(),
                uid: String::new(),
                groups: vec!["system:masters".into(), "system:authenticated".into()],
                extra: Default::default(),
            },
        }
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> ApiRequest {
        self.namespace = Some(namespace.into());
        self
    }

    /// Sets the object name.
    pub fn with_name(mut self, name: impl Into<String>) -> ApiRequest {
        self.name = Some(name.into());
        self
    }

    /// Sets the subresource (`status`, `scale`).
    pub fn with_subresource(mut self, subresource: impl Into<String>) -> ApiRequest {
        self.subresource = Some(subresource.into());
        self
    }

    /// Adds a query parameter.
    pub fn with_query(mut self, key: impl Into<String>, value: impl Into<String>) -> ApiRequest {
        self.query.entry(key.into()).or_default().push(value.into());
        self
    }

    /// Sets a JSON body with content type `content_type` (e.g. `application/json` or
    /// `application/merge-patch+json`).
    pub fn with_json(mut self, body: &Value, content_type: &str) -> ApiRequest {
        self.body = Bytes::from(body.to_string());
        self.content_type = Some(content_type.to_owned());
        self
    }
}

/// A successful answer as the HTTP front end asks for it
/// ([`crate::registry::Registry::handle_served`]): like [`ApiResponse`], except that
/// objects read from storage stay shared, so the front end sends their JSON
/// ([`crate::storage::encoded`], serialized once per object version) without copying
/// or serializing them again.
pub enum ServedResponse {
    /// An answer built for this request.
    Api(ApiResponse),
    /// One object (GET) with the HTTP status to send.
    Object {
        /// HTTP status code.
        code: u16,
        /// The object as served at the requested version; the stored object itself
        /// when reading changes nothing.
        object: Arc<Value>,
    },
    /// A collection (LIST).
    List(SharedList),
}

/// A list whose items are shared objects: see [`ServedResponse::List`].
#[derive(Clone, Debug)]
pub struct SharedList {
    /// `kind`, e.g. `PodList`.
    pub kind: String,
    /// `apiVersion`, e.g. `v1`.
    pub api_version: String,
    /// `metadata` (resourceVersion, continue, remainingItemCount).
    pub metadata: Value,
    /// The items, as served at the requested version.
    pub items: Vec<Arc<Value>>,
}

impl SharedList {
    /// The list as one owned JSON value (items are copied unless unshared).
    pub fn into_value(self) -> Value {
        let items: Vec<Value> =
            self.items.into_iter().map(|o| Arc::try_unwrap(o).unwrap_or_else(|o| (*o).clone())).collect();
        serde_json::json!({
            "kind": self.kind,
            "apiVersion": self.api_version,
            "metadata": self.metadata,
            "items": items,
        })
    }
}

impl ServedResponse {
    /// As an [`ApiResponse`], with shared objects copied into an owned body.
    pub fn into_api(self) -> ApiResponse {
        match self {
            ServedResponse::Api(r) => r,
            ServedResponse::Object { code, object } => {
                ApiResponse::Object { code, body: Arc::try_unwrap(object).unwrap_or_else(|o| (*o).clone()) }
            }
            ServedResponse::List(list) => ApiResponse::Object { code: 200, body: list.into_value() },
        }
    }
}
