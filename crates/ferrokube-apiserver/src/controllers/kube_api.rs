//! The API calls the simulated node and kubelet make, as a trait, so that one
//! implementation runs in two places.
//!
//! ```text
//!                        node / kubelet / events / informer (generic over KubeApi)
//!                               |                              |
//!   in-process: client::Client (ApiRequest -> Registry)   over HTTP: ferrokube-kubelet's
//!   inside the embedded server                             client (ferrokube::rest) against
//!                                                          any cluster
//! ```
//!
//! The calls are the handful a kubelet needs: GET, LIST, POST (also to a subresource
//! such as `pods/binding`), PUT (also `status`), DELETE with `DeleteOptions`, and WATCH.
//! Objects are plain JSON values, resources are named by their [`ResourceInfo`]
//! (group, version, plural, scope), errors are the registry's [`ApiError`] (an HTTP
//! implementation maps its Status errors to it: code, reason, message). The trait
//! lives here rather than in the client crate because the dependency points from the
//! `ferrokube-kubelet` binary to this crate, never from the server to the client.

use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::client::{is_not_found, Client, Resources};
use crate::api::{ApiError, ResourceInfo, WatchStream};

/// The API calls of the simulated node and kubelet; implemented in-process by
/// [`Client`] and over HTTP by the `ferrokube-kubelet` binary.
///
/// Lists return items with `kind` and `apiVersion` set (kube leaves them off list
/// items; Events and ownerReferences need them) and the list's resourceVersion.
pub trait KubeApi: Clone + Send + Sync + 'static {
    /// The resources used (pods, nodes, events, leases, ...).
    fn resources(&self) -> &Resources;

    /// GET one object.
    fn get(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;

    /// LIST (all namespaces when `ns` is `None`): the items and the list's
    /// resourceVersion.
    fn list(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
    ) -> impl Future<Output = Result<(Vec<Value>, String), ApiError>> + Send;

    /// LIST of all namespaces as shared objects: what an informer cache holds. The
    /// default wraps [`list`](Self::list); in-process, the store's own objects.
    fn list_shared(
        &self,
        res: &Arc<ResourceInfo>,
    ) -> impl Future<Output = Result<(Vec<Arc<Value>>, String), ApiError>> + Send {
        async move {
            let (items, rv) = self.list(res, None).await?;
            Ok((items.into_iter().map(Arc::new).collect(), rv))
        }
    }

    /// The resourceVersion a cache of `res` must have seen to hold every write made to
    /// it so far, when the implementation can tell (in-process: the store's newest
    /// write to the resource); `None` over HTTP.
    fn freshness_target(&self, _res: &Arc<ResourceInfo>) -> Option<u64> {
        None
    }

    /// POST `obj`.
    fn create(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        obj: &Value,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;

    /// POST `obj` to a subresource of object `name` (e.g. `pods/binding`).
    fn create_subresource(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        obj: &Value,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;

    /// PUT `obj` (or its subresource `sub`, e.g. `status`) to its name and namespace;
    /// its `metadata.resourceVersion`, when set, is a precondition.
    fn put(
        &self,
        res: &Arc<ResourceInfo>,
        obj: &Value,
        sub: Option<&str>,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;

    /// DELETE object `name` with a `DeleteOptions` body such as
    /// `{"gracePeriodSeconds": 0}`.
    fn delete(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        options: &Value,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;

    /// WATCH from `resource_version` (all namespaces when `ns` is `None`), with
    /// bookmarks; an error of the stream ends it (the caller re-lists or resumes).
    fn watch(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<WatchStream, ApiError>> + Send;
}

/// GET, `None` when the object does not exist.
pub async fn get_opt<A: KubeApi>(
    api: &A,
    res: &Arc<ResourceInfo>,
    ns: Option<&str>,
    name: &str,
) -> Result<Option<Value>, ApiError> {
    match api.get(res, ns, name).await {
        Ok(v) => Ok(Some(v)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

impl KubeApi for Client {
    fn resources(&self) -> &Resources {
        &self.res
    }

    fn get(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send {
        Client::get(self, res, ns, name)
    }

    fn list(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
    ) -> impl Future<Output = Result<(Vec<Value>, String), ApiError>> + Send {
        Client::list(self, res, ns)
    }

    fn list_shared(
        &self,
        res: &Arc<ResourceInfo>,
    ) -> impl Future<Output = Result<(Vec<Arc<Value>>, String), ApiError>> + Send {
        Client::list_shared(self, res)
    }

    fn freshness_target(&self, res: &Arc<ResourceInfo>) -> Option<u64> {
        Some(Client::freshness_target(self, res))
    }

    fn create(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        obj: &Value,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send {
        Client::create(self, res, ns, obj)
    }

    fn create_subresource(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        subresource: &str,
        obj: &Value,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send {
        Client::create_subresource(self, res, ns, name, subresource, obj)
    }

    fn put(
        &self,
        res: &Arc<ResourceInfo>,
        obj: &Value,
        sub: Option<&str>,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send {
        Client::put(self, res, obj, sub)
    }

    async fn delete(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        name: &str,
        options: &Value,
    ) -> Result<(), ApiError> {
        Client::delete(self, res, ns, name, options).await.map(drop)
    }

    fn watch(
        &self,
        res: &Arc<ResourceInfo>,
        ns: Option<&str>,
        resource_version: Option<&str>,
    ) -> impl Future<Output = Result<WatchStream, ApiError>> + Send {
        Client::watch(self, res, ns, resource_version)
    }
}
