//! `controller::finalizer`: run cleanup before an object goes away (kube-runtime
//! `finalizer`, controller-runtime's finalizer pattern).
//!
//! A finalizer is a name in `metadata.finalizers`; the API server does not delete an
//! object that has one, it only sets `metadata.deletionTimestamp` and waits until every
//! finalizer has been removed. [`finalizer`] wraps a reconcile so that:
//!
//! 1. an object without the finalizer gets it (a JSON patch with a `test` of
//!    `metadata.resourceVersion`, so it is added only to the state the reconcile saw; a
//!    conflict comes back as an error and the key is retried). The reconcile returns
//!    [`Action::Done`]: the update this causes brings the object back with the
//!    finalizer;
//! 2. a live object with the finalizer is handed to the callback as
//!    [`FinalizerEvent::Apply`];
//! 3. an object being deleted with the finalizer is handed over as
//!    [`FinalizerEvent::Cleanup`]; when that succeeds the finalizer is removed (a JSON
//!    patch that first `test`s that the finalizer is still at the index seen, so other
//!    controllers' finalizers are never touched) and the server can delete the object;
//! 4. an object being deleted without the finalizer is left alone.
//!
//! The callback must be idempotent: cleanup can run again if removing the finalizer
//! fails.

use std::future::Future;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use super::action::Action;
use crate::kubernetes::ResourceClient;
use crate::rest::{Error, PatchOptions, PatchType, RESTClient};

/// What the finalizer callback is asked to do.
#[derive(Debug)]
pub enum FinalizerEvent<K> {
    /// The object is live and has the finalizer: reconcile it as usual.
    Apply(Arc<K>),
    /// The object is being deleted: release what it holds (external resources,
    /// objects the garbage collector does not own). The finalizer is removed when this
    /// returns `Ok`.
    Cleanup(Arc<K>),
}

/// Why [`finalizer`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinalizerError<E> {
    /// The callback failed on [`FinalizerEvent::Apply`].
    #[error("apply failed: {0}")]
    ApplyFailed(#[source] E),
    /// The callback failed on [`FinalizerEvent::Cleanup`]; the finalizer stays.
    #[error("cleanup failed: {0}")]
    CleanupFailed(#[source] E),
    /// Adding the finalizer failed (a changed object fails the resourceVersion test).
    #[error("adding finalizer {finalizer:?} failed: {source}")]
    AddFinalizer {
        /// The finalizer.
        finalizer: String,
        /// The API error.
        #[source]
        source: Error,
    },
    /// Removing the finalizer failed.
    #[error("removing finalizer {finalizer:?} failed: {source}")]
    RemoveFinalizer {
        /// The finalizer.
        finalizer: String,
        /// The API error.
        #[source]
        source: Error,
    },
    /// The object has no `metadata.name`.
    #[error("object has no metadata.name")]
    UnnamedObject,
    /// The finalizer name is empty or contains whitespace.
    #[error("invalid finalizer name {0:?}: it must be non-empty and contain no whitespace")]
    InvalidFinalizerName(String),
}

/// Runs `callback` under the finalizer `finalizer_name` (e.g. `example.com/cleanup`)
/// for `obj`, adding and removing the finalizer as described in the
/// [module docs](self). `client` is a JSON REST client for `K`'s API (a
/// [`Clientset`](crate::kubernetes::Clientset)'s `rest_client()`).
///
/// ```no_run
/// # use std::sync::Arc;
/// # use ferrokube::controller::{finalizer, Action, FinalizerEvent};
/// # use k8s_openapi::api::core::v1::ConfigMap;
/// # async fn reconcile(cm: Arc<ConfigMap>, client: ferrokube::RESTClient) -> Result<Action, Box<dyn std::error::Error + Send + Sync>> {
/// let action = finalizer(&client, "example.com/cleanup", cm, |event| async move {
///     match event {
///         FinalizerEvent::Apply(cm) => { /* make the world match cm */ }
///         FinalizerEvent::Cleanup(cm) => { /* release what cm holds */ }
///     }
///     Ok::<_, std::io::Error>(Action::Done)
/// })
/// .await?;
/// # Ok(action) }
/// ```
pub async fn finalizer<K, E, F, Fut>(
    client: &RESTClient,
    finalizer_name: &str,
    obj: Arc<K>,
    callback: F,
) -> Result<Action, FinalizerError<E>>
where
    K: Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
    F: FnOnce(FinalizerEvent<K>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
{
    if finalizer_name.is_empty() || finalizer_name.chars().any(char::is_whitespace) {
        return Err(FinalizerError::InvalidFinalizerName(finalizer_name.to_owned()));
    }
    let md = obj.metadata();
    let name = md.name.clone().filter(|n| !n.is_empty()).ok_or(FinalizerError::UnnamedObject)?;
    // The object's own namespace decides the scope (generic over K, so not checked at
    // compile time here).
    let namespace = md.namespace.clone().filter(|ns| !ns.is_empty());
    let api = ResourceClient::<K>::with_namespace(client.clone(), namespace);
    let finalizers = md.finalizers.as_deref().unwrap_or_default();
    let index = finalizers.iter().position(|f| f == finalizer_name);
    let deleting = md.deletion_timestamp.is_some();
    match (index, deleting) {
        (Some(_), false) => callback(FinalizerEvent::Apply(obj)).await.map_err(FinalizerError::ApplyFailed),
        (Some(index), true) => {
            let action = callback(FinalizerEvent::Cleanup(obj)).await.map_err(FinalizerError::CleanupFailed)?;
            let path = format!("/metadata/finalizers/{index}");
            let patch = json!([
                { "op": "test", "path": path, "value": finalizer_name },
                { "op": "remove", "path": path },
            ]);
            match api.patch(&name, PatchType::Json, &patch, &PatchOptions::default()).await {
                Ok(_) => Ok(action),
                // Already gone: someone else finished the deletion.
                Err(err) if err.is_not_found() => Ok(action),
                Err(source) => Err(FinalizerError::RemoveFinalizer { finalizer: finalizer_name.to_owned(), source }),
            }
        }
        (None, false) => {
            let mut ops = Vec::new();
            if let Some(rv) = md.resource_version.as_deref() {
                ops.push(json!({ "op": "test", "path": "/metadata/resourceVersion", "value": rv }));
            }
            if md.finalizers.is_none() {
                ops.push(json!({ "op": "add", "path": "/metadata/finalizers", "value": [finalizer_name] }));
            } else {
                ops.push(json!({ "op": "add", "path": "/metadata/finalizers/-", "value": finalizer_name }));
            }
            api.patch(&name, PatchType::Json, &ops, &PatchOptions::default())
                .await
                .map_err(|source| FinalizerError::AddFinalizer { finalizer: finalizer_name.to_owned(), source })?;
            Ok(Action::Done)
        }
        (None, true) => Ok(Action::Done),
    }
}
