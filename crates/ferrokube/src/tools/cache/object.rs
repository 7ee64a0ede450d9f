//! `tools::cache::object`: what the cache needs to know about an object (apimachinery's
//! `meta.Accessor` / `metav1.Object`, reduced to the reads the cache makes).
//!
//! Stores, indices, listers, reflectors and informers work on any type implementing
//! [`CacheObject`]: its key comes from [`name`](CacheObject::name) and
//! [`namespace`](CacheObject::namespace), the watch resumes from
//! [`resource_version`](CacheObject::resource_version), listers filter on
//! [`label`](CacheObject::label). It is implemented for
//!
//! * every type that holds a standard `ObjectMeta` ([`HasObjectMeta`]): each
//!   k8s-openapi type (and the cache's own wrappers, [`Compact`](super::Compact),
//!   [`WithoutManagedFields`](super::WithoutManagedFields)) through
//!   `k8s_openapi::Metadata`, [`PartialObjectMetadata`] (the metadata client's objects),
//!   and any type of the application that implements [`HasObjectMeta`];
//! * [`Unstructured`], the dynamic client's objects, read from the JSON map.
//!
//! What is *listed and watched* (group, version, resource) is not part of the object
//! type: it comes from a [`ListWatch`](super::ListWatch), so the same `Unstructured`
//! type caches any resource.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;

use crate::dynamic::Unstructured;
use crate::metadata::PartialObjectMetadata;

/// Read access to the object metadata the cache uses.
pub trait CacheObject {
    /// `metadata.name`.
    fn name(&self) -> Option<&str>;
    /// `metadata.namespace` (`None` or empty for cluster-scoped objects).
    fn namespace(&self) -> Option<&str>;
    /// `metadata.resourceVersion`.
    fn resource_version(&self) -> Option<&str>;
    /// `metadata.uid`.
    fn uid(&self) -> Option<&str>;
    /// The value of label `key` in `metadata.labels`.
    fn label(&self, key: &str) -> Option<&str>;
}

/// A type holding a standard `ObjectMeta`: implementing this one method makes it a
/// [`CacheObject`] (every k8s-openapi type already is one, through
/// `k8s_openapi::Metadata`).
pub trait HasObjectMeta {
    /// The object's metadata.
    fn object_meta(&self) -> &ObjectMeta;
}

impl<K: Metadata<Ty = ObjectMeta>> HasObjectMeta for K {
    fn object_meta(&self) -> &ObjectMeta {
        self.metadata()
    }
}

impl HasObjectMeta for PartialObjectMetadata {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

impl<T: HasObjectMeta> CacheObject for T {
    fn name(&self) -> Option<&str> {
        self.object_meta().name.as_deref()
    }
    fn namespace(&self) -> Option<&str> {
        self.object_meta().namespace.as_deref()
    }
    fn resource_version(&self) -> Option<&str> {
        self.object_meta().resource_version.as_deref()
    }
    fn uid(&self) -> Option<&str> {
        self.object_meta().uid.as_deref()
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.object_meta().labels.as_ref()?.get(key).map(String::as_str)
    }
}

impl CacheObject for Unstructured {
    fn name(&self) -> Option<&str> {
        Unstructured::name(self)
    }
    fn namespace(&self) -> Option<&str> {
        Unstructured::namespace(self)
    }
    fn resource_version(&self) -> Option<&str> {
        Unstructured::resource_version(self)
    }
    fn uid(&self) -> Option<&str> {
        Unstructured::uid(self)
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.nested_field(&["metadata", "labels", key])?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn read<K: CacheObject>(o: &K) -> [Option<&str>; 5] {
        [o.name(), o.namespace(), o.resource_version(), o.uid(), o.label("app")]
    }

    #[test]
    fn the_three_object_forms_read_alike() {
        let json = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7", "uid": "u", "labels": {"app": "web"}}});
        let want = [Some("a"), Some("ns"), Some("7"), Some("u"), Some("web")];
        let typed: ConfigMap = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(read(&typed), want);
        let dynamic = Unstructured::from_value(json.clone()).unwrap();
        assert_eq!(read(&dynamic), want);
        let meta: PartialObjectMetadata = serde_json::from_value(json).unwrap();
        assert_eq!(read(&meta), want);
        assert_eq!(Unstructured::new().label("app"), None);
    }
}
