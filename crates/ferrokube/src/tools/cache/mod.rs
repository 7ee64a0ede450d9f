//! `tools::cache`: an in-memory, watch-fed copy of one resource (client-go
//! `tools/cache`, kept lean).
//!
//! This is where the watch path ends before it reaches user code:
//!
//! ```text
//! ListWatch<K> (what: typed K, any GVR as Unstructured, or metadata only)
//!   -> Request::watch -> WatchStream<K> (events decoded as bytes arrive)
//!   -> Reflector<K>  (list [paged] or watch-list, then watch from the list's
//!                     resourceVersion; resume on stream end; relist on 410 Gone;
//!                     back off 800ms..30s on other errors, each one reported)
//!   -> Store<K> / Indexer<K>  (namespace/name -> Arc<K>, indices, optional transform)
//!   -> processor: one unbounded queue per listener
//!        -> handler threads (on_add / on_update / on_delete, resync)
//!        -> event streams (Init / InitApply / InitDone / Apply / Delete, errors)
//!   -> user code (Lister<K> reads, handlers hand keys to a work queue)
//!
//! SharedInformerFactory: one SharedInformer per type / GVR, shared by all consumers
//! ```
//!
//! * [`object`]: [`CacheObject`], the metadata reads the cache makes, for typed,
//!   [`Unstructured`](crate::dynamic::Unstructured) and
//!   [`PartialObjectMetadata`](crate::metadata::PartialObjectMetadata) objects.
//! * [`listwatch`]: [`ListWatch`], what is listed and watched, and the [`Watcher`]
//!   trait.
//! * [`store`]: the thread-safe [`Store`] (also [`Indexer`]) holding `Arc<K>` keyed by
//!   [`meta_namespace_key`]; reads hand out `Arc`s, never deep clones.
//! * [`index`]: index functions ([`IndexFunc`]) and the built-in namespace index.
//! * [`transform`]: [`TransformFn`]s applied before objects enter the store, e.g.
//!   [`strip_managed_fields`], which drops a large share of each object's heap.
//! * [`compact`]: [`Compact<K>`], an opt-in compact form for large caches (metadata
//!   decoded, the rest compressed and decoded on read).
//! * [`decode`]: [`WithoutManagedFields`], decoding that skips managedFields outright
//!   (see [`ReflectorOptions::decode_without_managed_fields`]).
//! * [`reflector`]: the [`Reflector`] keeping a store in step with the server.
//! * [`processor`]: per-listener queues; [`ResourceEventHandler`], [`HandlerStats`].
//! * [`informer`]: [`SharedInformer`], event handlers and the [`Lister`] read view.
//! * [`event_stream`]: [`EventStream`], the informer's changes as a `Stream`.
//! * [`factory`]: [`SharedInformerFactory`], one shared informer per resource.
//! * [`selector`]: label [`Selector`]s for [`Lister::list`].
//!
//! ```no_run
//! # async fn run(client: ferrokube::RESTClient) {
//! use ferrokube::tools::cache::{ReflectorOptions, ResourceEventHandlerFuncs, Selector, SharedInformer};
//! use k8s_openapi::api::core::v1::Pod;
//!
//! let options = ReflectorOptions::default()
//!     .namespace("default") // or leave unset for all namespaces
//!     .label_selector("app=web") // server-side
//!     .skip_managed_fields(true); // decode without metadata.managedFields
//! let informer = SharedInformer::<Pod>::new(client, options);
//! informer.add_indexer("node", |p: &Pod| p.spec.iter().filter_map(|s| s.node_name.clone()).collect()).unwrap();
//! informer.add_event_handler(
//!     ResourceEventHandlerFuncs::<Pod>::new()
//!         .on_add(|pod| println!("added {:?}", pod.metadata.name))
//!         .on_update(|old, new| println!("{:?} -> {:?}", old.metadata.resource_version, new.metadata.resource_version))
//!         .on_delete(|pod| println!("deleted {:?}", pod.metadata.name)),
//! );
//! let handle = informer.start(); // runs until `handle` is dropped or stopped
//! informer.wait_for_sync().await;
//!
//! let lister = informer.lister(); // cheap, cloneable; hands out Arc<Pod>
//! let web = lister.list_namespace("default", Some(&Selector::parse("tier in (front)").unwrap()));
//! let one = lister.get("default", "web-0");
//! let on_node = informer.store().by_index("node", "node-1").unwrap();
//! # drop((web, one, on_node, handle));
//! # }
//! ```
/// Makes `$wrapper<K>` the same Kubernetes resource as `K` (group, version, kind, URL
/// segment, scope, list kind), so it can be listed, watched and cached wherever `K` can:
/// the wrappers here change how an object is decoded or held, not what it is.
macro_rules! same_resource_as_inner {
    ($wrapper:ident) => {
        impl<K: k8s_openapi::Resource> k8s_openapi::Resource for $wrapper<K> {
            const API_VERSION: &'static str = K::API_VERSION;
            const GROUP: &'static str = K::GROUP;
            const KIND: &'static str = K::KIND;
            const VERSION: &'static str = K::VERSION;
            const URL_PATH_SEGMENT: &'static str = K::URL_PATH_SEGMENT;
            type Scope = K::Scope;
        }

        impl<K: k8s_openapi::ListableResource> k8s_openapi::ListableResource for $wrapper<K> {
            const LIST_KIND: &'static str = K::LIST_KIND;
        }
    };
}

pub mod compact;
pub mod decode;
pub mod event_stream;
pub mod factory;
pub mod index;
pub mod informer;
pub mod listwatch;
pub mod object;
pub mod processor;
pub mod reflector;
pub mod selector;
pub mod store;
pub mod transform;

pub use compact::Compact;
pub use decode::WithoutManagedFields;
pub use event_stream::{Event, EventStream};
pub use factory::{InformerKey, SharedInformerFactory};
pub use index::{namespace_index_func, IndexFunc, NAMESPACE_INDEX};
pub use informer::{HandlerId, InformerHandle, Lister, ResourceEventHandlerFuncs, SharedInformer};
pub use listwatch::{ListWatch, TweakListOptionsFunc, WatchEventStream, Watcher};
pub use object::{CacheObject, HasObjectMeta};
pub use processor::{HandlerStats, ResourceEventHandler, WatchErrorHandler};
pub use reflector::{CachedResource, ReflectedObject, Reflector, ReflectorError, ReflectorHandle, ReflectorOptions};
pub use selector::{Selector, SelectorError, SelectorErrorReason};
pub use store::{meta_namespace_key, CacheError, Indexer, Store};
pub use transform::{strip_managed_fields, TransformFn};
