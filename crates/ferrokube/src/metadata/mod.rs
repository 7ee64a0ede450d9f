//! `metadata`: a client that reads only object metadata (client-go `metadata`).
//!
//! For controllers that only need names, labels, owners and resource versions — of
//! any resource, by [`GroupVersionResource`] — the [`MetadataClient`] asks the server
//! for `PartialObjectMetadata` / `PartialObjectMetadataList` via the `Accept` header
//! (`application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1`), which keeps
//! lists and watch events small. A server that ignores the request and answers with
//! full objects still works: the objects are reduced to their metadata on the client.
//! It builds [`rest::Request`](crate::rest::Request)s like the other clients.

use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta};
use serde::{Deserialize, Serialize};

use crate::kubernetes::resource::{send_discard, Target};
use crate::rest::{DeleteOptions, Error, GetOptions, ListOptions, PatchOptions, PatchType, RESTClient, Request};
use crate::schema::GroupVersionResource;
use crate::watch::{WatchEvent, WatchStream};

/// `Accept` for one object's metadata, with plain JSON as fallback.
pub const ACCEPT_PARTIAL_OBJECT: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
/// `Accept` for a list of metadata, with plain JSON as fallback.
pub const ACCEPT_PARTIAL_LIST: &str =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";

/// An object reduced to its type and object metadata (`meta/v1.PartialObjectMetadata`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadata {
    /// `meta.k8s.io/v1` (normalized also when the server sent the full object).
    #[serde(default)]
    pub api_version: String,
    /// `PartialObjectMetadata`.
    #[serde(default)]
    pub kind: String,
    /// The object's metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
}

/// A list of [`PartialObjectMetadata`] (`meta/v1.PartialObjectMetadataList`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadataList {
    /// `meta.k8s.io/v1`.
    #[serde(default)]
    pub api_version: String,
    /// `PartialObjectMetadataList`.
    #[serde(default)]
    pub kind: String,
    /// List metadata (resource version, continue token).
    #[serde(default)]
    pub metadata: ListMeta,
    /// The items.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<PartialObjectMetadata>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PartialObjectMetadata>, D::Error> {
    Ok(Option::<Vec<PartialObjectMetadata>>::deserialize(d)?.unwrap_or_default())
}

const META_API_VERSION: &str = "meta.k8s.io/v1";

/// Normalizes the type fields of an object decoded from either answer shape.
fn normalize(mut o: PartialObjectMetadata) -> PartialObjectMetadata {
    o.api_version = META_API_VERSION.to_owned();
    o.kind = "PartialObjectMetadata".to_owned();
    o
}

/// The metadata-only client (client-go `metadata.Client`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct MetadataClient {
    client: RESTClient,
}

impl MetadataClient {
    /// Builds a metadata client from `config` (client-go `metadata.NewForConfig`).
    pub fn new(config: &crate::rest::Config) -> Result<Self, Error> {
        Ok(MetadataClient { client: crate::kubernetes::json_client(config)? })
    }

    /// A metadata client over an existing REST client.
    pub fn from_rest_client(client: RESTClient) -> Self {
        MetadataClient { client }
    }

    /// A client for one resource, cluster-wide until
    /// [`MetadataResource::namespace`] is called.
    pub fn resource(&self, gvr: &GroupVersionResource) -> MetadataResource {
        MetadataResource {
            target: Target {
                client: self.client.clone(),
                group: gvr.group.clone(),
                version: gvr.version.clone(),
                resource: gvr.resource.clone(),
                namespace: None,
            },
        }
    }
}

/// Metadata-only verbs of one resource (client-go `metadata.ResourceInterface`).
#[derive(Clone, Debug)]
pub struct MetadataResource {
    target: Target,
}

impl MetadataResource {
    /// The same resource in `namespace` (`""`: all namespaces for list and watch).
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.target.namespace = Some(namespace.to_owned());
        self
    }

    fn object(&self, verb: Method, name: &str) -> Request {
        self.target.object(verb, name).header("Accept", ACCEPT_PARTIAL_OBJECT)
    }

    /// The metadata of object `name`.
    pub async fn get(&self, name: &str, opts: &GetOptions) -> Result<PartialObjectMetadata, Error> {
        Ok(normalize(self.object(Method::GET, name).versioned_params(opts).into_object().await?))
    }

    /// The metadata of all objects (full objects from servers that ignore the
    /// `Accept` request are reduced to their metadata).
    pub async fn list(&self, opts: &ListOptions) -> Result<PartialObjectMetadataList, Error> {
        let mut list: PartialObjectMetadataList = self
            .target
            .collection(Method::GET)
            .header("Accept", ACCEPT_PARTIAL_LIST)
            .versioned_params(opts)
            .into_object()
            .await?;
        list.api_version = META_API_VERSION.to_owned();
        list.kind = "PartialObjectMetadataList".to_owned();
        list.items = list.items.into_iter().map(normalize).collect();
        Ok(list)
    }

    /// Watches the metadata of objects. Event objects are [`PartialObjectMetadata`]
    /// whether or not the server honoured the `Accept` request (their type fields are
    /// passed through as sent).
    pub async fn watch(&self, opts: &ListOptions) -> Result<WatchStream<PartialObjectMetadata>, Error> {
        self.target.collection(Method::GET).header("Accept", ACCEPT_PARTIAL_OBJECT).versioned_params(opts).watch().await
    }

    /// Patches object `name` (typically its metadata) and returns the new metadata.
    pub async fn patch<P: Serialize + ?Sized>(
        &self,
        name: &str,
        patch_type: PatchType,
        patch: &P,
        opts: &PatchOptions,
    ) -> Result<PartialObjectMetadata, Error> {
        let r = self.object(Method::PATCH, name).content_type(patch_type.content_type()).versioned_params(opts);
        Ok(normalize(r.body(patch).into_object().await?))
    }

    /// Deletes object `name`.
    pub async fn delete(&self, name: &str, opts: &DeleteOptions) -> Result<(), Error> {
        send_discard(self.target.object(Method::DELETE, name).body(opts)).await
    }

    /// Deletes all objects matching `list_opts`.
    pub async fn delete_collection(&self, opts: &DeleteOptions, list_opts: &ListOptions) -> Result<(), Error> {
        send_discard(self.target.collection(Method::DELETE).versioned_params(list_opts).body(opts)).await
    }
}

/// Normalizes the type fields of a watch event's object to `PartialObjectMetadata`.
pub fn normalize_event(event: WatchEvent<PartialObjectMetadata>) -> WatchEvent<PartialObjectMetadata> {
    match event {
        WatchEvent::Added(o) => WatchEvent::Added(normalize(o)),
        WatchEvent::Modified(o) => WatchEvent::Modified(normalize(o)),
        WatchEvent::Deleted(o) => WatchEvent::Deleted(normalize(o)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn full_objects_reduce_to_metadata() {
        let full = json!({"apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "4"},
            "items": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "y"}}, "data": {"k": "v"}}]});
        let l: PartialObjectMetadataList = serde_json::from_value(full).unwrap();
        assert_eq!(l.items[0].metadata.name.as_deref(), Some("a"));
        assert_eq!(normalize(l.items[0].clone()).kind, "PartialObjectMetadata");
        let p: PartialObjectMetadataList = serde_json::from_value(json!({"apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadataList", "metadata": {}, "items": null}))
        .unwrap();
        assert!(p.items.is_empty());
    }
}
