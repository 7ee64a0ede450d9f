//! `tools::cache::transform`: functions applied to each object before it enters a
//! [`Store`](super::Store) (client-go `TransformFunc` / `SharedInformer.SetTransform`).
//!
//! A transform takes the decoded object by value and returns what is stored, so it can
//! drop fields in place without copying. Objects pass through it on every path into the
//! store: list / watch-list replace, ADDED, MODIFIED and DELETED events, and direct
//! [`Store::add`](super::Store::add) calls. Handlers and listers only ever see
//! transformed objects.
//!
//! [`strip_managed_fields`] is the one to reach for first: `metadata.managedFields`
//! (server-side apply bookkeeping) is rarely read by controllers, yet its `fieldsV1`
//! trees make up roughly 40% of a decoded pod's heap.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;

/// A transform applied to each object before it is stored.
pub type TransformFn<K> = Arc<dyn Fn(K) -> K + Send + Sync>;

/// Drops `metadata.managedFields` (sets it to `None`), releasing its memory.
///
/// ```
/// use ferrokube::tools::cache::strip_managed_fields;
/// use k8s_openapi::api::core::v1::Pod;
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
///
/// let mut pod = Pod::default();
/// pod.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
/// assert!(strip_managed_fields(pod).metadata.managed_fields.is_none());
/// ```
pub fn strip_managed_fields<K: Metadata<Ty = ObjectMeta>>(mut obj: K) -> K {
    obj.metadata_mut().managed_fields = None;
    obj
}
