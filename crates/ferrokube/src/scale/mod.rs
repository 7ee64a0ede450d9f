//! `scale`: a generic client for the `scale` subresource of any resource that has one
//! (client-go `scale`), addressed by [`GroupVersionResource`] — Deployments,
//! ReplicaSets, StatefulSets, ReplicationControllers, and custom resources with a
//! scale subresource. The answer is always `autoscaling/v1` `Scale`. The typed
//! [`ResourceClient::get_scale`](crate::kubernetes::ResourceClient::get_scale) covers
//! built-in types; this client is for code that only knows the resource at run time
//! (a HorizontalPodAutoscaler's `scaleTargetRef`, for example). Requests are built
//! with [`rest::Request`](crate::rest::Request) like every other client.
//!
//! ```no_run
//! # async fn run(config: ferrokube::rest::Config) -> Result<(), ferrokube::rest::Error> {
//! use ferrokube::scale::ScaleClient;
//! use ferrokube::schema::GroupVersionResource;
//! let scales = ScaleClient::new(&config)?;
//! let gvr = GroupVersionResource::new("apps", "v1", "deployments");
//! let mut s = scales.get(&gvr, "default", "web").await?;
//! s.spec.get_or_insert_with(Default::default).replicas = Some(3);
//! scales.update(&gvr, "default", &s).await?;
//! # Ok(()) }
//! ```

use http::Method;
use k8s_openapi::api::autoscaling::v1::Scale;
use serde::Serialize;

use crate::kubernetes::resource::Target;
use crate::rest::{Error, PatchOptions, PatchType, RESTClient, Request, UpdateOptions};
use crate::schema::GroupVersionResource;

/// The scale client (client-go `scale.ScalesGetter`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ScaleClient {
    client: RESTClient,
}

impl ScaleClient {
    /// Builds a scale client from `config`.
    pub fn new(config: &crate::rest::Config) -> Result<Self, Error> {
        Ok(ScaleClient { client: crate::kubernetes::json_client(config)? })
    }

    /// A scale client over an existing REST client.
    pub fn from_rest_client(client: RESTClient) -> Self {
        ScaleClient { client }
    }

    fn req(&self, verb: Method, gvr: &GroupVersionResource, namespace: &str, name: &str) -> Request {
        let target = Target {
            client: self.client.clone(),
            group: gvr.group.clone(),
            version: gvr.version.clone(),
            resource: gvr.resource.clone(),
            namespace: Some(namespace.to_owned()),
        };
        target.subresource(verb, name, "scale")
    }

    /// Reads the scale of object `name` (`namespace` empty for cluster-scoped resources).
    pub async fn get(&self, gvr: &GroupVersionResource, namespace: &str, name: &str) -> Result<Scale, Error> {
        self.req(Method::GET, gvr, namespace, name).into_object().await
    }

    /// Writes `scale` (its `metadata.name` names the object; set
    /// `metadata.resourceVersion` for optimistic concurrency).
    pub async fn update(&self, gvr: &GroupVersionResource, namespace: &str, scale: &Scale) -> Result<Scale, Error> {
        self.update_with(gvr, namespace, scale, &UpdateOptions::default()).await
    }

    /// [`update`](Self::update) with options.
    pub async fn update_with(
        &self,
        gvr: &GroupVersionResource,
        namespace: &str,
        scale: &Scale,
        opts: &UpdateOptions,
    ) -> Result<Scale, Error> {
        let name = scale.metadata.name.as_deref().unwrap_or("");
        self.req(Method::PUT, gvr, namespace, name).versioned_params(opts).body(scale).into_object().await
    }

    /// Patches the scale of object `name`, e.g. merge patch `{"spec":{"replicas":3}}`.
    pub async fn patch<P: Serialize + ?Sized>(
        &self,
        gvr: &GroupVersionResource,
        namespace: &str,
        name: &str,
        patch_type: PatchType,
        patch: &P,
        opts: &PatchOptions,
    ) -> Result<Scale, Error> {
        self.req(Method::PATCH, gvr, namespace, name)
            .content_type(patch_type.content_type())
            .versioned_params(opts)
            .body(patch)
            .into_object()
            .await
    }
}
