//! [`HttpApi`]: the simulated kubelet's API calls over HTTP, with the ferrokube client.
//!
//! The node and kubelet logic (`ferrokube_apiserver::controllers::{node, kubelet}`)
//! is written against the [`KubeApi`] trait; inside the embedded server its calls go
//! straight to the registry, here each becomes one [`rest::Request`] to the cluster:
//!
//! ```text
//! KubeApi::get/list/create/create_subresource/put/delete/watch
//!   -> RESTClient request: /api/v1/... or /apis/GROUP/VERSION/..., JSON bodies
//!   -> rate limiter, retries, auth (ferrokube::rest) -> the cluster's kube-apiserver
//! ```
//!
//! Status errors become the registry's [`ApiError`] (code, reason, message), so the
//! shared logic tells a conflict (409) or a vanished object (404) from a real failure
//! the same way on both servers. A failure without an HTTP status (transport, TLS)
//! has code 0. Watch events are handed on as they arrive; a decoding or transport
//! error ends the stream, and the shared watch loop resumes or re-lists as a
//! reflector does.

use std::sync::Arc;

use futures_util::StreamExt;
use http::Method;
use serde_json::{json, Value};

use ferrokube::rest::{self, RESTClient};
use ferrokube::watch::WatchEvent;
use ferrokube_apiserver::api::{self, ApiError, ResourceInfo, WatchStream};
use ferrokube_apiserver::controllers::client::Resources;
use ferrokube_apiserver::controllers::kube_api::KubeApi;

/// The kubelet's default `kubeAPIQPS`.
pub const KUBELET_QPS: f32 = 50.0;
/// The kubelet's default `kubeAPIBurst`.
pub const KUBELET_BURST: u32 = 100;

/// The `User-Agent` of the kubelet's requests (and so the field manager of its writes).
pub fn user_agent() -> String {
    format!("ferrokube-kubelet/{} (linux/amd64)", env!("CARGO_PKG_VERSION"))
}

/// [`KubeApi`] over HTTP: a JSON [`RESTClient`] for the cluster and the resources used.
#[derive(Clone)]
pub struct HttpApi {
    client: RESTClient,
    res: Arc<Resources>,
}

/// Why an [`HttpApi`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpApiError {
    /// The client configuration is unusable (host, TLS files, credentials).
    #[error("client configuration: {0}")]
    Config(#[from] rest::Error),
    /// The built-in catalog lacks a core resource (a bug in the server crate).
    #[error("the built-in resource catalog lacks pods, nodes, events or leases")]
    Catalog,
}

impl HttpApi {
    /// A client for the cluster of `config` (its group/version and content type are
    /// set per request: JSON throughout; its user agent is [`user_agent`] unless
    /// set). The rate limit is `config`'s: client-go's 5 requests per second are few
    /// for many nodes; the command line sets the kubelet's [`KUBELET_QPS`] and
    /// [`KUBELET_BURST`].
    pub fn new(config: &rest::Config) -> Result<HttpApi, HttpApiError> {
        let mut config = config.clone();
        config.api_path = String::new();
        config.content.group_version = None;
        config.content.content_type = "application/json".to_owned();
        config.content.accept_content_types = "application/json".to_owned();
        if config.user_agent.is_none() {
            config.user_agent = Some(user_agent());
        }
        let client = RESTClient::new(&config)?;
        let res = Resources::builtin().ok_or(HttpApiError::Catalog)?;
        Ok(HttpApi { client, res: Arc::new(res) })
    }

    /// The server's base URL.
    pub fn base_url(&self) -> String {
        self.client.base_url()
    }

    fn request(
        &self,
        verb: Method,
        res: &ResourceInfo,
        ns: Option<&str>,
        name: Option<&str>,
        sub: Option<&str>,
    ) -> rest::Request {
        let mut r = self.client.request(verb).group_version(&res.group, &res.version);
        if res.namespaced {
            if let Some(ns) = ns {
                r = r.namespace(ns);
            }
        }
        r = r.resource(&res.plural);
        if let Some(name) = name {
            r = r.name(name);
        }
        if let Some(sub) = sub {
            r = r.subresource(sub);
        }
        r
    }
}

/// A client error as the registry's error type.
pub fn api_error(e: rest::Error) -> ApiError {
    let code = e.code().unwrap_or(0);
    let reason = e.reason().unwrap_or("").to_owned();
    ApiError::new(code, &reason, e.to_string())
}

/// `res`'s `kind` and `apiVersion` on a list item (kube leaves them off).
fn set_type(item: &mut Value, res: &ResourceInfo) {
    if let Some(m) = item.as_object_mut() {
        m.insert("kind".into(), json!(res.kind));
        m.insert("apiVersion".into(), json!(res.api_version()));
    }
}

/// A client watch event as the registry's: BOOKMARK carries only the resourceVersion,
/// ERROR the Status.
fn event(ev: WatchEvent<Value>) -> api::WatchEvent {
    let event_type = ev.event_type();
    let object = match ev {
        WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => o,
        WatchEvent::Bookmark(b) => json!({"metadata": {"resourceVersion": b.resource_version}}),
        WatchEvent::Error(status) => serde_json::to_value(&*status).unwrap_or(Value::Null),
    };
    api::WatchEvent { event_type, object: Arc::new(object) }
}

impl KubeApi for HttpApi {
    fn resources(&self) -> &Resources {
        &self.res
    }

    async fn get(&self, res: &Arc<ResourceInfo>, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.request(Method::GET, res, ns, Some(name), None).into_object().await.map_err(api_error)
    }

    async fn list(&self, res: &Arc<ResourceInfo>, ns: Option<&str>) -> Result<(Vec<Value>, String), ApiError> {
        let mut list: Value = self.request(Method::GET, res, ns, None, None).into_object().await.map_err(api_error)?;
        let rv = list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_owned();
        let mut items = match list.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        };
        for item in &mut items {
            set_type(item, res);
        }
        Ok((items, rv))
    }

    async fn create(&self, res: &Arc<ResourceInfo>, ns: Option<&str>, obj: &Value) -> Result<Value, ApiError> {
        self.request(Method::POST, res, ns, None, None).body(obj).into_object().await.map_err(api_error)
    }

    async fn create_subresource(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        obj: &Value,
    ) -> Result<Value, ApiError> {
        self.request(Method::POST, res, ns, Some(name), Some(subresource))
            .body(obj)
            .into_object()
            .await
            .map_err(api_error)
    }

    async fn put(&self, res: &Arc<ResourceInfo>, obj: &Value, sub: Option<&str>) -> Result<Value, ApiError> {
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str).filter(|s| !s.is_empty());
        self.request(Method::PUT, res, ns, Some(name), sub).body(obj).into_object().await.map_err(api_error)
    }

    async fn delete(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        options: &Value,
    ) -> Result<(), ApiError> {
        self.request(Method::DELETE, res, ns, Some(name), None)
            .body(options)
            .do_raw()
            .await
            .map(drop)
            .map_err(api_error)
    }

    async fn watch(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        resource_version: Option<&str>,
    ) -> Result<WatchStream, ApiError> {
        let mut r = self.request(Method::GET, res, ns, None, None).param("allowWatchBookmarks", "true");
        if let Some(rv) = resource_version {
            r = r.param("resourceVersion", rv);
        }
        let stream = r.watch::<Value>().await.map_err(api_error)?;
        let events = stream
            .take_while(|item| {
                if let Err(e) = item {
                    tracing::debug!(error = %e, "watch ended");
                }
                std::future::ready(item.is_ok())
            })
            .filter_map(|item| std::future::ready(item.ok().map(event)));
        Ok(Box::pin(events))
    }
}
