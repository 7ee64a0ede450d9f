//! The generic typed resource client, [`ResourceClient<K>`], and the request-building
//! core ([`Target`]) the dynamic, metadata and scale clients share.

use std::marker::PhantomData;

use http::Method;
use k8s_openapi::api::autoscaling::v1::Scale;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::rest::errors::{RequestBuildError, RequestInfo};
use crate::rest::{
    ApplyOptions, CreateOptions, DeleteOptions, Error, GetOptions, ListOptions, PatchOptions, PatchType, RESTClient,
    Request, UpdateOptions,
};
use crate::tools::cache::{ReflectorOptions, SharedInformer};
use crate::tools::pager::{ListPager, PageStream};
use crate::watch::WatchStream;

/// Marks k8s-openapi types whose resource has a `status` subresource (they have a
/// `status` field), enabling [`ResourceClient::update_status`] and friends. The
/// generator implements it for every built-in type with status.
pub trait HasStatus {}

/// Marks k8s-openapi types whose resource has a `scale` subresource (Deployment,
/// ReplicaSet, StatefulSet, ReplicationController), enabling
/// [`ResourceClient::get_scale`] and [`ResourceClient::update_scale`].
pub trait HasScale {}

/// Where requests of one resource go: group, version, plural resource name and
/// namespace. Non-generic, so the URL building is compiled once for all types.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) client: RESTClient,
    pub(crate) group: String,
    pub(crate) version: String,
    pub(crate) resource: String,
    /// `None` for cluster-scoped resources; `Some("")` means all namespaces.
    pub(crate) namespace: Option<String>,
}

impl Target {
    /// A request to the collection (`.../namespaces/<ns>/<resource>`).
    pub(crate) fn collection(&self, verb: Method) -> Request {
        self.collection_in(verb, self.namespace.as_deref())
    }

    /// A request to the collection in an explicit namespace.
    pub(crate) fn collection_in(&self, verb: Method, namespace: Option<&str>) -> Request {
        let r = self.client.request(verb).group_version(&self.group, &self.version);
        let r = match namespace {
            Some(ns) if !ns.is_empty() => r.namespace(ns),
            _ => r,
        };
        r.resource(&self.resource)
    }

    /// A request to one object (`.../<resource>/<name>`).
    pub(crate) fn object(&self, verb: Method, name: &str) -> Request {
        self.collection(verb).name(name)
    }

    /// A request to a subresource of one object (`.../<resource>/<name>/<sub>`).
    pub(crate) fn subresource(&self, verb: Method, name: &str, subresource: &str) -> Request {
        self.object(verb, name).subresource(subresource)
    }

    /// The namespace to create in: the client's, or else the object's.
    pub(crate) fn create_namespace<'a>(&'a self, object_namespace: Option<&'a str>) -> Option<&'a str> {
        match self.namespace.as_deref() {
            Some("") => Some(object_namespace.unwrap_or("")),
            other => other,
        }
    }
}

/// Builds the error of a request that cannot be sent because the caller's input is
/// incomplete (no name, no field manager).
pub(crate) fn invalid(req: &Request, source: RequestBuildError) -> Error {
    Error::InvalidRequest { request: RequestInfo::new(req.verb(), &req.url()), source }
}

/// Sends a request whose answer is not needed (delete), reading the body so the
/// connection can be reused.
pub(crate) async fn send_discard(req: Request) -> Result<(), Error> {
    req.send().await?.into_bytes().await.map(|_| ())
}

/// Builds a server-side apply PATCH (`application/apply-patch+yaml`, JSON body, which
/// is valid YAML); the field manager is required.
pub(crate) fn apply_request<T: Serialize + ?Sized>(
    req: Request,
    body: &T,
    opts: &ApplyOptions,
) -> Result<Request, Error> {
    let req = req.content_type(PatchType::Apply.content_type());
    if opts.field_manager.is_empty() {
        return Err(invalid(&req, RequestBuildError::MissingFieldManager));
    }
    Ok(req.versioned_params(&opts.patch_options()).body(body))
}

/// The `Accept` header of a typed client that speaks protobuf: protobuf first, JSON for
/// a server (or an endpoint) that has no protobuf form (client-go's default for the
/// built-in clients).
pub(crate) const ACCEPT_PROTOBUF: &str = "application/vnd.kubernetes.protobuf, application/json";

/// `req` asking for protobuf first when `protobuf`.
pub(crate) fn accept(req: Request, protobuf: bool) -> Request {
    if protobuf {
        req.header("Accept", ACCEPT_PROTOBUF)
    } else {
        req
    }
}

/// Sets a typed client's request body: `K` in protobuf when the client speaks it (and
/// the object encodes: a field the protobuf tables do not know falls back to JSON, so
/// nothing is dropped), JSON otherwise.
trait PipeBody {
    fn pipe_body<K>(self, client: &ResourceClient<K>, obj: &K) -> Request
    where
        K: k8s_openapi::Resource + Serialize;
}

impl PipeBody for Request {
    fn pipe_body<K>(self, client: &ResourceClient<K>, obj: &K) -> Request
    where
        K: k8s_openapi::Resource + Serialize,
    {
        if client.protobuf {
            match ferrokube_apimachinery::protobuf::encode_object(K::API_VERSION, K::KIND, obj) {
                Ok(bytes) => {
                    return self.content_type(ferrokube_apimachinery::protobuf::CONTENT_TYPE).body_bytes(bytes)
                }
                Err(e) => tracing::debug!("sending {} as JSON: no protobuf form: {e}", K::KIND),
            }
        }
        self.body(obj)
    }
}

/// A client for one resource type `K` in one namespace (or cluster-wide), as
/// client-go's per-resource interfaces (`DeploymentInterface`, ...). Get one from a
/// [`Clientset`](super::Clientset) accessor: `cs.apps_v1().deployments("default")`.
///
/// `K` is a k8s-openapi type; its `GROUP`, `VERSION` and `URL_PATH_SEGMENT` decide the
/// URL. Cheap to clone. The scope is part of the type: a cluster-scoped type has no
/// namespaced client, so this does not compile:
///
/// ```compile_fail
/// # fn f(client: ferrokube::RESTClient) {
/// use ferrokube::kubernetes::ResourceClient;
/// let nodes = ResourceClient::<k8s_openapi::api::core::v1::Node>::namespaced(client, "default");
/// # }
/// ```
pub struct ResourceClient<K> {
    target: Target,
    /// Speak protobuf: `K` is a built-in type and the config allows it.
    protobuf: bool,
    _type: PhantomData<fn() -> K>,
}

impl<K> Clone for ResourceClient<K> {
    fn clone(&self) -> Self {
        ResourceClient { target: self.target.clone(), protobuf: self.protobuf, _type: PhantomData }
    }
}

impl<K> std::fmt::Debug for ResourceClient<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResourceClient")
            .field("type", &std::any::type_name::<K>())
            .field("namespace", &self.target.namespace)
            .field("protobuf", &self.protobuf)
            .finish()
    }
}

// The scope is checked at compile time: `namespaced` and `all` exist only for
// namespaced types, `cluster` only for cluster-scoped ones (`ResourceClient::<Node>::
// namespaced` does not compile).
impl<K: k8s_openapi::Resource<Scope = k8s_openapi::NamespaceResourceScope>> ResourceClient<K> {
    /// A client for a namespaced resource in `namespace` (`""`: all namespaces, for
    /// list, watch and delete_collection, as client-go's `metav1.NamespaceAll`).
    pub fn namespaced(client: RESTClient, namespace: &str) -> Self {
        Self::with_namespace(client, Some(namespace.to_owned()))
    }

    /// A client for a namespaced resource across all namespaces (list and watch).
    pub fn all(client: RESTClient) -> Self {
        Self::with_namespace(client, Some(String::new()))
    }
}

impl<K: k8s_openapi::Resource<Scope = k8s_openapi::ClusterResourceScope>> ResourceClient<K> {
    /// A client for a cluster-scoped resource.
    pub fn cluster(client: RESTClient) -> Self {
        Self::with_namespace(client, None)
    }
}

impl<K: k8s_openapi::Resource> ResourceClient<K> {
    pub(crate) fn with_namespace(client: RESTClient, namespace: Option<String>) -> Self {
        let protobuf = client.content_config().protobuf_for_built_in_types
            && ferrokube_apimachinery::protobuf::envelope::has_protobuf(K::API_VERSION, K::KIND);
        ResourceClient {
            protobuf,
            target: Target {
                client,
                group: K::GROUP.to_owned(),
                version: K::VERSION.to_owned(),
                resource: K::URL_PATH_SEGMENT.to_owned(),
                namespace,
            },
            _type: PhantomData,
        }
    }

    /// The namespace this client works in (`None` for cluster-scoped resources).
    pub fn namespace(&self) -> Option<&str> {
        self.target.namespace.as_deref()
    }

    /// The REST client requests go through.
    pub fn rest_client(&self) -> &RESTClient {
        &self.target.client
    }

    /// Whether this client asks for (and sends) Kubernetes protobuf: `K` is a built-in
    /// type with a protobuf form and
    /// [`ContentConfig::protobuf_for_built_in_types`](crate::rest::ContentConfig::protobuf_for_built_in_types)
    /// is on.
    pub fn uses_protobuf(&self) -> bool {
        self.protobuf
    }

    fn collection(&self, verb: Method) -> Request {
        accept(self.target.collection(verb), self.protobuf)
    }

    fn collection_in(&self, verb: Method, namespace: Option<&str>) -> Request {
        accept(self.target.collection_in(verb, namespace), self.protobuf)
    }

    fn object(&self, verb: Method, name: &str) -> Request {
        accept(self.target.object(verb, name), self.protobuf)
    }

    fn subresource(&self, verb: Method, name: &str, subresource: &str) -> Request {
        accept(self.target.subresource(verb, name, subresource), self.protobuf)
    }

    /// A request to this resource's collection, for verbs the client lacks.
    pub fn collection_request(&self, verb: Method) -> Request {
        self.target.collection(verb)
    }

    /// A request to one object (optionally a subresource), for verbs the client lacks.
    pub fn object_request(&self, verb: Method, name: &str, subresource: Option<&str>) -> Request {
        match subresource {
            Some(s) => self.target.subresource(verb, name, s),
            None => self.target.object(verb, name),
        }
    }
}

impl<K> ResourceClient<K>
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
{
    /// Creates `obj` (POST). In an all-namespaces client the object's own namespace is
    /// used.
    pub async fn create(&self, obj: &K, opts: &CreateOptions) -> Result<K, Error> {
        let ns = self.target.create_namespace(obj.metadata().namespace.as_deref());
        self.collection_in(Method::POST, ns).versioned_params(opts).pipe_body(self, obj).into_object().await
    }

    /// Replaces `obj` (PUT to its `metadata.name`). Set `metadata.resourceVersion` to
    /// get optimistic concurrency (409 Conflict when someone else wrote first).
    pub async fn update(&self, obj: &K, opts: &UpdateOptions) -> Result<K, Error> {
        let name = obj.metadata().name.as_deref().unwrap_or("");
        self.object(Method::PUT, name).versioned_params(opts).pipe_body(self, obj).into_object().await
    }

    /// Reads the object `name`.
    pub async fn get(&self, name: &str, opts: &GetOptions) -> Result<K, Error> {
        self.object(Method::GET, name).versioned_params(opts).into_object().await
    }

    /// Deletes the object `name`. `opts` carries the propagation policy
    /// (Foreground/Background/Orphan), grace period and preconditions (UID,
    /// resourceVersion).
    pub async fn delete(&self, name: &str, opts: &DeleteOptions) -> Result<(), Error> {
        send_discard(self.object(Method::DELETE, name).body(opts)).await
    }

    /// Deletes all objects matching `list_opts` (selectors) with `opts`.
    pub async fn delete_collection(&self, opts: &DeleteOptions, list_opts: &ListOptions) -> Result<(), Error> {
        send_discard(self.collection(Method::DELETE).versioned_params(list_opts).body(opts)).await
    }

    /// Patches the object `name` with `patch` of type `patch_type` (JSON patch: an
    /// array of operations; merge and strategic merge: a partial object; apply: a
    /// partial object with `apiVersion`, `kind` and a field manager in `opts`).
    pub async fn patch<P: Serialize + ?Sized>(
        &self,
        name: &str,
        patch_type: PatchType,
        patch: &P,
        opts: &PatchOptions,
    ) -> Result<K, Error> {
        self.target
            .object(Method::PATCH, name)
            .content_type(patch_type.content_type())
            .versioned_params(opts)
            .body(patch)
            .into_object()
            .await
    }

    /// Server-side apply of `obj` (a `K` or a JSON value with `apiVersion`, `kind` and
    /// the fields this manager owns) to the object `name` (created if missing).
    /// `ApplyOptions::new("manager")` names the field manager (required); `.force()`
    /// takes over fields owned by other managers.
    pub async fn apply<T: Serialize + ?Sized>(&self, name: &str, obj: &T, opts: &ApplyOptions) -> Result<K, Error> {
        apply_request(self.object(Method::PATCH, name), obj, opts)?.into_object().await
    }
}

impl<K> ResourceClient<K>
where
    K: k8s_openapi::ListableResource + k8s_openapi::Metadata<Ty = ObjectMeta> + DeserializeOwned + Send,
{
    /// Lists objects (all namespaces when the client's namespace is `""`). Use
    /// `limit`/`continue_token` to page.
    pub async fn list(&self, opts: &ListOptions) -> Result<k8s_openapi::List<K>, Error> {
        self.collection(Method::GET).versioned_params(opts).into_list().await
    }

    /// Lists objects page by page (client-go's `pager.ListPager`, without building the
    /// request by hand): a [`PageStream`] of `List<K>` pages of `opts.limit` objects
    /// (500 when unset), each decoded while the next is on its way. Continue tokens are
    /// followed; a token that expires part-way (410) ends the stream with that error
    /// ([`Error::is_resource_expired`]). Nothing is sent before the stream is polled.
    ///
    /// ```no_run
    /// # async fn f(cs: ferrokube::kubernetes::Clientset) -> Result<(), ferrokube::rest::Error> {
    /// use ferrokube::rest::ListOptions;
    ///
    /// let mut pages = cs.core_v1().pods("default").list_pages(&ListOptions { limit: Some(100), ..Default::default() });
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} pods", page.items.len());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_pages(&self, opts: &ListOptions) -> PageStream<k8s_openapi::List<K>>
    where
        K: 'static,
    {
        let (target, protobuf) = (self.target.clone(), self.protobuf);
        ListPager::default().stream(opts, move |o| accept(target.collection(Method::GET), protobuf).versioned_params(o))
    }

    /// Watches objects from `opts.resource_version` (events as they arrive). The stream
    /// ends when the server closes it; reflectors resume from the last version seen.
    pub async fn watch(&self, opts: &ListOptions) -> Result<WatchStream<K>, Error> {
        self.collection(Method::GET).versioned_params(opts).watch().await
    }
}

impl<K: crate::tools::cache::CachedResource> ResourceClient<K> {
    /// A [`SharedInformer`] of this client's type in this client's namespace (all
    /// namespaces for an `all`/`""` client; the whole cluster for a cluster-scoped
    /// type), with default [`ReflectorOptions`]. Configure it (handlers, indexers,
    /// transform) and [`start`](SharedInformer::start) it; its
    /// [`lister`](SharedInformer::lister) reads the cache.
    ///
    /// This is client-go's `informers.NewSharedInformerFactoryWithOptions(cs, 0,
    /// WithNamespace(ns)).Core().V1().Pods().Informer()` for one type, without the
    /// factory; a [`SharedInformerFactory`](crate::tools::cache::SharedInformerFactory)
    /// shares one informer per type between parts of a program.
    ///
    /// ```no_run
    /// # async fn f(cs: ferrokube::kubernetes::Clientset) {
    /// let pods = cs.core_v1().pods("default").informer();
    /// let running = pods.start(); // runs while `running` lives
    /// pods.wait_for_sync().await;
    /// let web = pods.lister().get("default", "web-0");
    /// # drop((running, web)); }
    /// ```
    pub fn informer(&self) -> SharedInformer<K> {
        self.informer_with(ReflectorOptions::default())
    }

    /// [`informer`](Self::informer) with `options` (selectors, page size, watch
    /// timeout, WatchList, managedFields skipped while decoding). The namespace is the
    /// client's: `options.namespace` is replaced.
    pub fn informer_with(&self, options: ReflectorOptions) -> SharedInformer<K> {
        let mut options = options;
        options.namespace = self.target.namespace.clone();
        SharedInformer::new(self.target.client.clone(), options)
    }
}

impl<K> ResourceClient<K>
where
    K: HasStatus + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned,
{
    /// Reads the object `name` through its `status` subresource.
    pub async fn get_status(&self, name: &str, opts: &GetOptions) -> Result<K, Error> {
        self.subresource(Method::GET, name, "status").versioned_params(opts).into_object().await
    }

    /// Replaces the status of `obj` (PUT `.../<name>/status`); changes outside
    /// `status` are ignored by the server.
    pub async fn update_status(&self, obj: &K, opts: &UpdateOptions) -> Result<K, Error> {
        let name = obj.metadata().name.as_deref().unwrap_or("");
        self.subresource(Method::PUT, name, "status").versioned_params(opts).pipe_body(self, obj).into_object().await
    }

    /// Patches the `status` subresource of `name`.
    pub async fn patch_status<P: Serialize + ?Sized>(
        &self,
        name: &str,
        patch_type: PatchType,
        patch: &P,
        opts: &PatchOptions,
    ) -> Result<K, Error> {
        self.target
            .subresource(Method::PATCH, name, "status")
            .content_type(patch_type.content_type())
            .versioned_params(opts)
            .body(patch)
            .into_object()
            .await
    }

    /// Server-side apply to the `status` subresource of `name`.
    pub async fn apply_status<T: Serialize + ?Sized>(
        &self,
        name: &str,
        obj: &T,
        opts: &ApplyOptions,
    ) -> Result<K, Error> {
        let req = self.subresource(Method::PATCH, name, "status");
        apply_request(req, obj, opts)?.into_object().await
    }
}

impl<K> ResourceClient<K>
where
    K: HasScale + k8s_openapi::Resource,
{
    /// Reads the `scale` subresource of `name` (autoscaling/v1 Scale).
    pub async fn get_scale(&self, name: &str, opts: &GetOptions) -> Result<Scale, Error> {
        self.subresource(Method::GET, name, "scale").versioned_params(opts).into_object().await
    }

    /// Replaces the `scale` subresource of `name`, i.e. sets `spec.replicas`.
    pub async fn update_scale(&self, name: &str, scale: &Scale, opts: &UpdateOptions) -> Result<Scale, Error> {
        self.subresource(Method::PUT, name, "scale").versioned_params(opts).body(scale).into_object().await
    }

    /// Patches the `scale` subresource of `name`, e.g. a merge patch
    /// `{"spec":{"replicas":3}}`.
    pub async fn patch_scale<P: Serialize + ?Sized>(
        &self,
        name: &str,
        patch_type: PatchType,
        patch: &P,
        opts: &PatchOptions,
    ) -> Result<Scale, Error> {
        self.target
            .subresource(Method::PATCH, name, "scale")
            .content_type(patch_type.content_type())
            .versioned_params(opts)
            .body(patch)
            .into_object()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::Config;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Node;

    fn client() -> RESTClient {
        crate::kubernetes::json_client(&Config::new("http://127.0.0.1:1")).unwrap()
    }

    #[test]
    fn urls_follow_scope_and_namespace() {
        let d = ResourceClient::<Deployment>::namespaced(client(), "web");
        assert_eq!(
            d.object_request(Method::GET, "x", None).url(),
            "http://127.0.0.1:1/apis/apps/v1/namespaces/web/deployments/x"
        );
        assert_eq!(
            d.object_request(Method::GET, "x", Some("scale")).url(),
            "http://127.0.0.1:1/apis/apps/v1/namespaces/web/deployments/x/scale"
        );
        let all = ResourceClient::<Deployment>::namespaced(client(), "");
        assert_eq!(all.collection_request(Method::GET).url(), "http://127.0.0.1:1/apis/apps/v1/deployments");
        let n = ResourceClient::<Node>::cluster(client());
        assert_eq!(n.object_request(Method::GET, "n1", None).url(), "http://127.0.0.1:1/api/v1/nodes/n1");
    }

    #[tokio::test]
    async fn apply_needs_a_field_manager_and_update_a_name() {
        let d = ResourceClient::<Deployment>::namespaced(client(), "web");
        let err = d.apply("x", &serde_json::json!({}), &ApplyOptions::new("")).await.unwrap_err();
        assert!(err.to_string().contains("field manager"), "{err}");
        let err = d.update(&Deployment::default(), &UpdateOptions::default()).await.unwrap_err();
        assert!(err.to_string().contains("may not be empty"), "{err}");
    }
}
