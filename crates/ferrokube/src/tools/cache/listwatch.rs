//! `tools::cache::listwatch`: what a reflector lists and watches (client-go
//! `ListWatch`, `ListerWatcher`, `Watcher`, `NewFilteredListWatchFromClient`).
//!
//! A [`ListWatch<K>`] names one collection — a group/version/resource, optionally one
//! namespace, optionally label and field selectors and a
//! [tweak](ListWatch::tweak_list_options) of the list options — and the REST client
//! to reach it. `K` is how the objects are decoded: a k8s-openapi type
//! ([`ListWatch::new`], the resource taken from the type),
//! [`Unstructured`] for any resource by GVR ([`ListWatch::dynamic`]), or
//! [`PartialObjectMetadata`] for the metadata only ([`ListWatch::metadata`], which asks
//! the server for `PartialObjectMetadata` with the `Accept` header as client-go's
//! metadata client does). Typed collections of built-in types list and watch in
//! Kubernetes protobuf when the client's content config allows it, as the typed
//! clients do; the others speak JSON.
//!
//! The [`Reflector`](super::Reflector) lists through it (paged, or as a watch-list) and
//! watches through it; [`tools::watch`](crate::tools::watch) watches through any
//! [`Watcher`], which a `ListWatch` is and so is a closure
//! `Fn(ListOptions) -> impl Future<Output = Result<impl Stream<...>, Error>>`.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::dynamic::Unstructured;
use crate::metadata::{PartialObjectMetadata, ACCEPT_PARTIAL_LIST, ACCEPT_PARTIAL_OBJECT};
use crate::rest::{Error, ListOptions, RESTClient, Request};
use crate::schema::GroupVersionResource;
use crate::watch::WatchEvent;

/// Changes the list options of every list and watch request, after the reflector set
/// its own (client-go `TweakListOptionsFunc`): typically a label or field selector.
pub type TweakListOptionsFunc = Arc<dyn Fn(&mut ListOptions) + Send + Sync>;

/// The events of one watch, boxed.
pub type WatchEventStream<K> = BoxStream<'static, Result<WatchEvent<K>, Error>>;

/// Starts watches (client-go `cache.Watcher`): given list options (resourceVersion,
/// bookmarks, timeout), a stream of events.
///
/// Implemented by [`ListWatch`] and by closures returning a future of a stream, e.g.
/// `move |opts| { let pods = pods.clone(); async move { pods.watch(&opts).await } }`
/// for a typed [`ResourceClient`](crate::kubernetes::ResourceClient).
pub trait Watcher<K>: Send + Sync {
    /// Starts a watch with `options`.
    fn watch(&self, options: ListOptions) -> BoxFuture<'static, Result<WatchEventStream<K>, Error>>;
}

impl<K, F, Fut, S> Watcher<K> for F
where
    F: Fn(ListOptions) -> Fut + Send + Sync,
    Fut: Future<Output = Result<S, Error>> + Send + 'static,
    S: Stream<Item = Result<WatchEvent<K>, Error>> + Send + 'static,
{
    fn watch(&self, options: ListOptions) -> BoxFuture<'static, Result<WatchEventStream<K>, Error>> {
        self(options).map(|r| r.map(|s| s.boxed())).boxed()
    }
}

/// One collection to list and watch, and how its objects decode (see the
/// [module docs](self)). Cheap to clone.
pub struct ListWatch<K> {
    client: RESTClient,
    gvr: GroupVersionResource,
    /// A name for logs: the kind for typed resources, the resource otherwise.
    kind: String,
    /// `Accept` of list and watch requests, when not the client's default.
    accept: Option<(&'static str, &'static str)>,
    namespace: Option<String>,
    label_selector: Option<String>,
    field_selector: Option<String>,
    tweak: Option<TweakListOptionsFunc>,
    /// Sets `apiVersion` / `kind` of a list item that has none (the API server leaves
    /// them out of typed lists; client-go's unstructured decoding fills them in).
    fill: Option<fn(&mut K, &str, &str)>,
    _objects: PhantomData<fn() -> K>,
}

impl<K> Clone for ListWatch<K> {
    fn clone(&self) -> Self {
        ListWatch {
            client: self.client.clone(),
            gvr: self.gvr.clone(),
            kind: self.kind.clone(),
            accept: self.accept,
            namespace: self.namespace.clone(),
            label_selector: self.label_selector.clone(),
            field_selector: self.field_selector.clone(),
            tweak: self.tweak.clone(),
            fill: self.fill,
            _objects: PhantomData,
        }
    }
}

impl<K> std::fmt::Debug for ListWatch<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListWatch")
            .field("gvr", &self.gvr)
            .field("namespace", &self.namespace)
            .field("label_selector", &self.label_selector)
            .field("field_selector", &self.field_selector)
            .field("tweak", &self.tweak.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

impl<K: k8s_openapi::Resource> ListWatch<K> {
    /// The collection of the k8s-openapi type `K`, in all namespaces until
    /// [`namespace`](Self::namespace) is called.
    ///
    /// Lists and watches in Kubernetes protobuf when the client's
    /// [`ContentConfig::protobuf_for_built_in_types`](crate::rest::ContentConfig::protobuf_for_built_in_types)
    /// is on and `K` is a built-in type, as a typed client does (client-go's informers
    /// speak what their clientset speaks); pages and watch events are decoded by
    /// Content-Type, so a JSON answer is read as well.
    pub fn new(client: RESTClient) -> Self {
        let protobuf = client.content_config().protobuf_for_built_in_types
            && ferrokube_apimachinery::protobuf::envelope::has_protobuf(K::API_VERSION, K::KIND);
        let mut lw = Self::for_resource(client, GroupVersionResource::of::<K>());
        K::KIND.clone_into(&mut lw.kind);
        if protobuf {
            let accept = crate::kubernetes::resource::ACCEPT_PROTOBUF;
            lw.accept = Some((accept, accept));
        }
        lw
    }

    /// Whether lists and watches ask for Kubernetes protobuf (see [`new`](Self::new)).
    pub fn uses_protobuf(&self) -> bool {
        self.accept.is_some_and(|(list, _)| list == crate::kubernetes::resource::ACCEPT_PROTOBUF)
    }
}

impl ListWatch<Unstructured> {
    /// Any resource by GVR, as [`Unstructured`] objects (client-go `dynamicinformer`).
    /// The client must accept JSON (e.g. a [`DynamicClient`](crate::dynamic::DynamicClient)'s
    /// or a clientset's REST client).
    /// List items get the list's `apiVersion` and its `kind` without `List` when they
    /// have none, as the API server sends typed lists.
    pub fn dynamic(client: RESTClient, gvr: GroupVersionResource) -> Self {
        let mut lw = Self::for_resource(client, gvr);
        lw.fill = Some(|o: &mut Unstructured, api_version: &str, kind: &str| {
            if o.api_version().is_none() && !api_version.is_empty() {
                o.set_api_version(api_version);
            }
            if o.kind().is_none() && !kind.is_empty() {
                o.set_kind(kind);
            }
        });
        lw
    }
}

impl ListWatch<PartialObjectMetadata> {
    /// Any resource by GVR, metadata only (client-go `metadatainformer`): requests ask
    /// for `PartialObjectMetadata(List)`; full objects from a server that ignores the
    /// request are reduced to their metadata while decoding.
    pub fn metadata(client: RESTClient, gvr: GroupVersionResource) -> Self {
        let mut lw = Self::for_resource(client, gvr);
        lw.accept = Some((ACCEPT_PARTIAL_LIST, ACCEPT_PARTIAL_OBJECT));
        lw
    }
}

impl<K> ListWatch<K> {
    /// The collection `gvr`, its objects decoded as `K` (any type that decodes from
    /// the resource's JSON).
    pub fn for_resource(client: RESTClient, gvr: GroupVersionResource) -> Self {
        ListWatch {
            client,
            kind: gvr.resource.clone(),
            gvr,
            accept: None,
            namespace: None,
            label_selector: None,
            field_selector: None,
            tweak: None,
            fill: None,
            _objects: PhantomData,
        }
    }

    /// Only objects of `namespace` (`""`: all namespaces; leave unset for
    /// cluster-scoped resources).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into()).filter(|n| !n.is_empty());
        self
    }

    /// Only objects matching this label selector (applied by the server).
    pub fn label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into()).filter(|s| !s.is_empty());
        self
    }

    /// Only objects matching this field selector (applied by the server), e.g.
    /// `metadata.name=web`.
    pub fn field_selector(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into()).filter(|s| !s.is_empty());
        self
    }

    /// Applies `tweak` to the options of every list and watch request (client-go
    /// `WithTweakListOptions`); it runs last, so it can override anything.
    pub fn tweak_list_options(mut self, tweak: impl Fn(&mut ListOptions) + Send + Sync + 'static) -> Self {
        self.tweak = Some(Arc::new(tweak));
        self
    }

    /// [`tweak_list_options`](Self::tweak_list_options) with a shared function.
    pub fn tweak_list_options_arc(mut self, tweak: Option<TweakListOptionsFunc>) -> Self {
        self.tweak = tweak;
        self
    }

    /// The resource listed and watched.
    pub fn gvr(&self) -> &GroupVersionResource {
        &self.gvr
    }

    /// The namespace, if restricted to one.
    pub fn namespace_name(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The REST client requests go through.
    pub fn client(&self) -> &RESTClient {
        &self.client
    }

    /// Completes the type fields of a list item (see `fill`).
    pub(crate) fn fill_list_item(&self, obj: &mut K, api_version: &str, kind: &str) {
        if let Some(fill) = self.fill {
            fill(obj, api_version, kind);
        }
    }

    /// The name used in logs (the kind for typed resources, else the resource).
    pub(crate) fn kind(&self) -> &str {
        &self.kind
    }

    /// The options actually sent: `options` plus this collection's selectors, then the
    /// tweak.
    pub fn effective_options(&self, options: &ListOptions) -> ListOptions {
        let mut o = options.clone();
        if o.label_selector.is_none() {
            o.label_selector.clone_from(&self.label_selector);
        }
        if o.field_selector.is_none() {
            o.field_selector.clone_from(&self.field_selector);
        }
        if let Some(t) = &self.tweak {
            t(&mut o);
        }
        o
    }

    /// A GET of the collection with `options` (see
    /// [`effective_options`](Self::effective_options)); `watch` picks the watch
    /// `Accept` header.
    pub(crate) fn request(&self, options: &ListOptions, watch: bool) -> Request {
        let r = self.client.get().group_version(&self.gvr.group, &self.gvr.version);
        let r = match self.namespace.as_deref() {
            Some(ns) => r.namespace(ns),
            None => r,
        };
        let r = r.resource(&self.gvr.resource).versioned_params(&self.effective_options(options));
        match self.accept {
            Some((list, object)) => r.header("Accept", if watch { object } else { list }),
            None => r,
        }
    }

    /// Starts a watch of the collection (client-go `ListWatch.Watch`).
    pub async fn watch(&self, options: &ListOptions) -> Result<crate::watch::WatchStream<K>, Error>
    where
        K: DeserializeOwned,
    {
        self.request(options, true).watch().await
    }
}

impl<K: DeserializeOwned + Send + 'static> Watcher<K> for ListWatch<K> {
    fn watch(&self, options: ListOptions) -> BoxFuture<'static, Result<WatchEventStream<K>, Error>> {
        let request = self.request(&options, true);
        async move { Ok(request.watch::<K>().await?.boxed()) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn client() -> RESTClient {
        RESTClient::new(&crate::rest::Config::new("http://h:1")).unwrap()
    }

    #[test]
    fn requests_carry_namespace_selectors_and_the_tweak() {
        let lw = ListWatch::<Pod>::new(client())
            .namespace("ns")
            .label_selector("app=web")
            .tweak_list_options(|o| o.field_selector = Some("spec.nodeName=n1".into()));
        let url = lw.request(&ListOptions { limit: Some(5), ..Default::default() }, false).url();
        assert!(url.starts_with("http://h:1/api/v1/namespaces/ns/pods?"), "{url}");
        assert!(url.contains("labelSelector=app%3Dweb") && url.contains("fieldSelector=spec.nodeName%3Dn1"), "{url}");
        assert!(url.contains("limit=5"), "{url}");
        assert_eq!(lw.kind(), "Pod");

        let gvr = GroupVersionResource::new("apps", "v1", "deployments");
        let d = ListWatch::dynamic(client(), gvr.clone()).namespace("");
        assert_eq!(d.request(&ListOptions::default(), true).url(), "http://h:1/apis/apps/v1/deployments");
        let m = ListWatch::metadata(client(), gvr);
        assert_eq!(m.accept.map(|a| a.0), Some(ACCEPT_PARTIAL_LIST));

        let mut item = Unstructured::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
        d.fill_list_item(&mut item, "apps/v1", "Deployment");
        assert_eq!((item.api_version(), item.kind()), (Some("apps/v1"), Some("Deployment")));
        let mut typed = Unstructured::from_value(serde_json::json!({"apiVersion": "v2", "kind": "K"})).unwrap();
        d.fill_list_item(&mut typed, "apps/v1", "Deployment");
        assert_eq!((typed.api_version(), typed.kind()), (Some("v2"), Some("K")), "kept");
    }
}
