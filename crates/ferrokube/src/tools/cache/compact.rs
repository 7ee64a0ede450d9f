//! `tools::cache::compact`: an opt-in compact form for cached objects, [`Compact<K>`].
//!
//! A decoded k8s-openapi object is a tree of small allocations (a typical 10 KB pod
//! holds ~70 KB of heap, ~35 KB without managedFields). [`Compact<K>`] keeps only the
//! object's `metadata` decoded (what keys, indices, label selectors and most handlers
//! read) and everything else as deflate-compressed compact JSON, decoded on read by
//! [`Compact::object`]. It is a resource type of its own (same API group, kind and URL
//! as `K`), so it plugs into the existing machinery unchanged:
//!
//! ```no_run
//! # async fn run(client: ferrokube::RESTClient) {
//! use ferrokube::tools::cache::{Compact, Reflector, ReflectorOptions, Store};
//! use k8s_openapi::api::core::v1::Pod;
//!
//! let store: Store<Compact<Pod>> = Store::new();
//! let options = ReflectorOptions::default().skip_managed_fields(true);
//! let handle = Reflector::new(client, store.clone(), options).spawn();
//! handle.wait_for_sync().await;
//! for c in store.list() {
//!     let pod: Pod = c.object(); // decoded on read
//!     let _ = (c.metadata.name.as_deref(), pod.spec);
//! }
//! # }
//! ```
//!
//! The trade-off: far less memory per object, paid for by CPU on both sides — each
//! stored object is serialized and compressed once when it arrives, and each
//! [`Compact::object`] call inflates and decodes it again (tens of microseconds for a
//! pod; see the bench README for figures). Use it for large caches that are read
//! rarely or only through metadata (keys, labels, owner references).
//!
//! [`Compact::object`] returns exactly the `K` that decoding the original JSON gives
//! (with managedFields skipped when the reflector skips them); a test checks it on all
//! shared fixtures.

use std::io::{Read, Write};
use std::marker::PhantomData;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::{Deserialize, Serialize};

/// `K` with its `metadata` decoded and the rest kept compressed (see the
/// [module documentation](self)).
pub struct Compact<K> {
    /// The object's metadata, without `managedFields` (kept in the compressed part).
    pub metadata: ObjectMeta,
    /// Deflate-compressed compact JSON of the object with only `managedFields` left
    /// in its metadata.
    packed: Box<[u8]>,
    /// Length of the JSON before compression.
    json_len: u32,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Compact<K> {
    fn clone(&self) -> Self {
        Compact {
            metadata: self.metadata.clone(),
            packed: self.packed.clone(),
            json_len: self.json_len,
            _kind: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for Compact<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compact")
            .field("metadata", &self.metadata)
            .field("packed_len", &self.packed.len())
            .field("json_len", &self.json_len)
            .finish()
    }
}

impl<K: Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned> Compact<K> {
    /// Packs `obj`.
    pub fn new(mut obj: K) -> Result<Self, serde_json::Error> {
        let mut metadata = std::mem::take(obj.metadata_mut());
        obj.metadata_mut().managed_fields = metadata.managed_fields.take();
        let json = serde_json::to_vec(&obj)?;
        let mut enc =
            flate2::write::DeflateEncoder::new(Vec::with_capacity(json.len() / 3), flate2::Compression::fast());
        enc.write_all(&json).map_err(serde_json::Error::io)?;
        let packed = enc.finish().map_err(serde_json::Error::io)?.into_boxed_slice();
        Ok(Compact { metadata, packed, json_len: json.len() as u32, _kind: PhantomData })
    }

    /// Decodes the object (inflate + JSON decode of the packed part, plus a clone of
    /// the metadata). Equal to the object this was built from.
    pub fn object(&self) -> K {
        self.try_object().expect("a Compact object holds JSON it produced itself")
    }

    /// [`object`](Self::object), reporting a decode error instead of panicking.
    pub fn try_object(&self) -> Result<K, serde_json::Error> {
        let mut json = Vec::with_capacity(self.json_len as usize);
        flate2::read::DeflateDecoder::new(&self.packed[..]).read_to_end(&mut json).map_err(serde_json::Error::io)?;
        let mut obj: K = serde_json::from_slice(&json)?;
        let managed_fields = obj.metadata_mut().managed_fields.take();
        *obj.metadata_mut() = self.metadata.clone();
        obj.metadata_mut().managed_fields = managed_fields;
        Ok(obj)
    }

    /// Heap bytes held by the packed (non-metadata) part.
    pub fn packed_len(&self) -> usize {
        self.packed.len()
    }
}

impl<'de, K: Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned> Deserialize<'de> for Compact<K> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let obj = K::deserialize(d)?;
        Compact::new(obj).map_err(D::Error::custom)
    }
}

impl<K: Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned> Serialize for Compact<K> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.try_object().map_err(serde::ser::Error::custom)?.serialize(s)
    }
}

// The same resource as `K`: `Store<Compact<Pod>>` lists and watches pods.
same_resource_as_inner!(Compact);

impl<K: Resource> Metadata for Compact<K> {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::cache::WithoutManagedFields;
    use k8s_openapi::api::core::v1::Pod;

    fn pod() -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"},
                "managedFields": [{"manager": "m", "operation": "Update", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": "1"}}}]},
            "status": {"phase": "Running", "startTime": "2026-10-01T00:00:00Z"}
        })
    }

    #[test]
    fn round_trips() {
        let text = pod().to_string();
        let reference: Pod = serde_json::from_str(&text).unwrap();
        let c: Compact<Pod> = serde_json::from_str(&text).unwrap();
        assert!(c.metadata.managed_fields.is_none());
        assert_eq!(c.metadata.labels.as_ref().unwrap()["app"], "web");
        assert_eq!(c.object(), reference);
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::to_value(&reference).unwrap());

        let mut stripped = reference.clone();
        stripped.metadata.managed_fields = None;
        let c = serde_json::from_str::<WithoutManagedFields<Compact<Pod>>>(&text).unwrap().0;
        assert_eq!(c.object(), stripped);
    }
}
