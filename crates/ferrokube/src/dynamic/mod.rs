//! `dynamic`: the dynamic client over unstructured objects (client-go `dynamic`).
//!
//! [`DynamicClient`] reaches any resource by its [`GroupVersionResource`] — built-in or
//! a CRD — and exchanges [`Unstructured`] objects (JSON maps with helpers to read and
//! set nested fields). Get the GVR from the caller's knowledge or from the
//! [`restmapper`](crate::restmapper). Like the typed client it is a thin layer that
//! builds [`rest::Request`](crate::rest::Request)s; HTTP, authentication, rate limiting
//! and retries belong to `rest`.
//!
//! ```no_run
//! # async fn run(config: ferrokube::rest::Config) -> Result<(), ferrokube::rest::Error> {
//! use ferrokube::dynamic::{DynamicClient, Unstructured};
//! use ferrokube::schema::GroupVersionResource;
//! use ferrokube::rest::{CreateOptions, GetOptions};
//! use serde_json::json;
//!
//! let client = DynamicClient::new(&config)?;
//! let gvr = GroupVersionResource::new("apps", "v1", "deployments");
//! let deployments = client.resource(gvr).namespace("default");
//! let obj = Unstructured::from_value(json!({
//!     "apiVersion": "apps/v1", "kind": "Deployment",
//!     "metadata": {"name": "demo"},
//!     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "demo"}},
//!              "template": {"metadata": {"labels": {"app": "demo"}},
//!                           "spec": {"containers": [{"name": "web", "image": "nginx:1.12"}]}}}
//! })).expect("an object");
//! let created = deployments.create(&obj, &CreateOptions::default()).await?;
//! let got = deployments.get("demo", &GetOptions::default()).await?;
//! println!("{:?} {:?}", created.uid(), got.nested_i64(&["spec", "replicas"]));
//! # Ok(()) }
//! ```

mod unstructured;

pub use unstructured::{FieldError, Unstructured, UnstructuredList};

use http::Method;

use crate::kubernetes::resource::{apply_request, send_discard, Target};
use crate::rest::{
    ApplyOptions, CreateOptions, DeleteOptions, Error, GetOptions, ListOptions, PatchOptions, PatchType, RESTClient,
    UpdateOptions,
};
use crate::schema::GroupVersionResource;
use crate::tools::cache::{ListWatch, ReflectorOptions, SharedInformer};
use crate::tools::pager::{ListPager, PageStream};
use crate::watch::WatchStream;

/// The dynamic client (client-go `dynamic.DynamicClient`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct DynamicClient {
    client: RESTClient,
}

impl DynamicClient {
    /// Builds a dynamic client from `config` (client-go `dynamic.NewForConfig`).
    pub fn new(config: &crate::rest::Config) -> Result<Self, Error> {
        Ok(DynamicClient { client: crate::kubernetes::json_client(config)? })
    }

    /// A dynamic client over an existing REST client (sharing its pool and limiter);
    /// the client should have no group/version configured.
    pub fn from_rest_client(client: RESTClient) -> Self {
        DynamicClient { client }
    }

    /// A client for one resource; cluster-wide until [`DynamicResource::namespace`]
    /// is called (client-go `Resource(gvr)`).
    pub fn resource(&self, gvr: GroupVersionResource) -> DynamicResource {
        DynamicResource {
            target: Target {
                client: self.client.clone(),
                group: gvr.group.clone(),
                version: gvr.version.clone(),
                resource: gvr.resource.clone(),
                namespace: None,
            },
            gvr,
        }
    }
}

/// The verbs of one resource over unstructured objects (client-go
/// `dynamic.ResourceInterface`). For a namespaced resource call
/// [`namespace`](Self::namespace) first (`""`: all namespaces, for list and watch).
#[derive(Clone, Debug)]
pub struct DynamicResource {
    target: Target,
    gvr: GroupVersionResource,
}

impl DynamicResource {
    /// The same resource in `namespace` (client-go `Namespace(ns)`).
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.target.namespace = Some(namespace.to_owned());
        self
    }

    /// The resource this client is for.
    pub fn gvr(&self) -> &GroupVersionResource {
        &self.gvr
    }

    fn object_req(&self, verb: Method, name: &str, subresources: &[&str]) -> crate::rest::Request {
        let r = self.target.object(verb, name);
        match subresources {
            [] => r,
            [first, rest @ ..] => {
                let r = r.subresource(*first);
                if rest.is_empty() {
                    r
                } else {
                    r.suffix(rest.join("/"))
                }
            }
        }
    }

    /// Creates `obj`. In an all-namespaces client the object's namespace is used.
    pub async fn create(&self, obj: &Unstructured, opts: &CreateOptions) -> Result<Unstructured, Error> {
        let ns = self.target.create_namespace(obj.namespace());
        self.target.collection_in(Method::POST, ns).versioned_params(opts).body(obj).into_object().await
    }

    /// Replaces `obj` (PUT to its `metadata.name`).
    pub async fn update(&self, obj: &Unstructured, opts: &UpdateOptions) -> Result<Unstructured, Error> {
        self.object_req(Method::PUT, obj.name().unwrap_or(""), &[]).versioned_params(opts).body(obj).into_object().await
    }

    /// Replaces the status of `obj` (PUT `.../<name>/status`).
    pub async fn update_status(&self, obj: &Unstructured, opts: &UpdateOptions) -> Result<Unstructured, Error> {
        self.object_req(Method::PUT, obj.name().unwrap_or(""), &["status"])
            .versioned_params(opts)
            .body(obj)
            .into_object()
            .await
    }

    /// Reads object `name`.
    pub async fn get(&self, name: &str, opts: &GetOptions) -> Result<Unstructured, Error> {
        self.get_subresource(name, &[], opts).await
    }

    /// Reads a subresource of object `name`, e.g. `&["status"]` or `&["scale"]`
    /// (client-go `Get(..., subresources...)`).
    pub async fn get_subresource(
        &self,
        name: &str,
        subresources: &[&str],
        opts: &GetOptions,
    ) -> Result<Unstructured, Error> {
        self.object_req(Method::GET, name, subresources).versioned_params(opts).into_object().await
    }

    /// Lists objects.
    pub async fn list(&self, opts: &ListOptions) -> Result<UnstructuredList, Error> {
        self.target.collection(Method::GET).versioned_params(opts).into_object().await
    }

    /// Lists objects page by page: a [`PageStream`] of [`UnstructuredList`]s, as
    /// [`ResourceClient::list_pages`](crate::kubernetes::ResourceClient::list_pages).
    pub fn list_pages(&self, opts: &ListOptions) -> PageStream<UnstructuredList> {
        let target = self.target.clone();
        ListPager::default().stream(opts, move |o| target.collection(Method::GET).versioned_params(o))
    }

    /// A [`SharedInformer`] of [`Unstructured`] objects of this resource in this
    /// client's namespace (client-go's `dynamicinformer` for one resource), with
    /// default [`ReflectorOptions`]; see
    /// [`ResourceClient::informer`](crate::kubernetes::ResourceClient::informer).
    pub fn informer(&self) -> SharedInformer<Unstructured> {
        self.informer_with(ReflectorOptions::default())
    }

    /// [`informer`](Self::informer) with `options`; their label and field selectors
    /// are used, the namespace is the client's.
    pub fn informer_with(&self, options: ReflectorOptions) -> SharedInformer<Unstructured> {
        let mut lw = ListWatch::dynamic(self.target.client.clone(), self.gvr.clone());
        if let Some(ns) = self.target.namespace.as_deref().filter(|ns| !ns.is_empty()) {
            lw = lw.namespace(ns);
        }
        if let Some(selector) = &options.label_selector {
            lw = lw.label_selector(selector.clone());
        }
        if let Some(selector) = &options.field_selector {
            lw = lw.field_selector(selector.clone());
        }
        SharedInformer::with_list_watch(lw, options)
    }

    /// Watches objects.
    pub async fn watch(&self, opts: &ListOptions) -> Result<WatchStream<Unstructured>, Error> {
        self.target.collection(Method::GET).versioned_params(opts).watch().await
    }

    /// Patches object `name` (or a subresource of it) with `patch` of `patch_type`.
    pub async fn patch<P: serde::Serialize + ?Sized>(
        &self,
        name: &str,
        patch_type: PatchType,
        patch: &P,
        opts: &PatchOptions,
        subresources: &[&str],
    ) -> Result<Unstructured, Error> {
        self.object_req(Method::PATCH, name, subresources)
            .content_type(patch_type.content_type())
            .versioned_params(opts)
            .body(patch)
            .into_object()
            .await
    }

    /// Server-side apply of `obj` to its `metadata.name`; the options name the field
    /// manager (required) and whether to force.
    pub async fn apply(&self, obj: &Unstructured, opts: &ApplyOptions) -> Result<Unstructured, Error> {
        let req = self.object_req(Method::PATCH, obj.name().unwrap_or(""), &[]);
        apply_request(req, obj, opts)?.into_object().await
    }

    /// Server-side apply to the `status` subresource of `obj`'s name.
    pub async fn apply_status(&self, obj: &Unstructured, opts: &ApplyOptions) -> Result<Unstructured, Error> {
        let req = self.object_req(Method::PATCH, obj.name().unwrap_or(""), &["status"]);
        apply_request(req, obj, opts)?.into_object().await
    }

    /// Deletes object `name`.
    pub async fn delete(&self, name: &str, opts: &DeleteOptions) -> Result<(), Error> {
        send_discard(self.object_req(Method::DELETE, name, &[]).body(opts)).await
    }

    /// Deletes all objects matching `list_opts`.
    pub async fn delete_collection(&self, opts: &DeleteOptions, list_opts: &ListOptions) -> Result<(), Error> {
        send_discard(self.target.collection(Method::DELETE).versioned_params(list_opts).body(opts)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = DynamicClient::new(&crate::rest::Config::new("http://h:1")).unwrap();
        let crd = c.resource(GroupVersionResource::new("example.com", "v1", "widgets")).namespace("ns");
        assert_eq!(
            crd.object_req(Method::GET, "w", &[]).url(),
            "http://h:1/apis/example.com/v1/namespaces/ns/widgets/w"
        );
        assert_eq!(
            crd.object_req(Method::GET, "w", &["status"]).url(),
            "http://h:1/apis/example.com/v1/namespaces/ns/widgets/w/status"
        );
        let nodes = c.resource(GroupVersionResource::new("", "v1", "nodes"));
        assert_eq!(nodes.target.collection(Method::GET).url(), "http://h:1/api/v1/nodes");
    }
}
