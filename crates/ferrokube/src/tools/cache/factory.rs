//! `tools::cache::factory`: [`SharedInformerFactory`] — one informer per resource,
//! shared by every consumer of a program (client-go `informers.SharedInformerFactory`,
//! `dynamicinformer` and `metadatainformer` in one).
//!
//! A program with several controllers asks the factory for the informers it needs;
//! asking twice for the same type (or GVR) returns the *same* informer, so each
//! resource is listed and watched once and cached once, however many consumers it
//! has. Then:
//!
//! 1. [`start`](SharedInformerFactory::start) starts every informer requested so far
//!    that the factory has not started yet (call it again after requesting more);
//! 2. [`wait_for_cache_sync`](SharedInformerFactory::wait_for_cache_sync) waits until
//!    they have all synced, or a stop future completes, and says which did;
//! 3. [`shutdown`](SharedInformerFactory::shutdown) (or dropping the factory) gives up
//!    the factory's handles: its informers stop unless someone else (a
//!    [`Controller`](crate::controller::Controller), an
//!    [`event_stream`](super::SharedInformer::event_stream)) still holds one. After a
//!    shutdown, `start` does nothing.
//!
//! Three kinds of informers, all keyed in one map ([`InformerKey`]):
//!
//! | call | objects | client-go |
//! |---|---|---|
//! | [`informer::<K>()`](SharedInformerFactory::informer) | the k8s-openapi type `K` | `InformerFor`, `Core().V1().Pods()` |
//! | [`for_resource(gvr)`](SharedInformerFactory::for_resource) | [`Unstructured`] | `dynamicinformer` `ForResource` |
//! | [`metadata_for_resource(gvr)`](SharedInformerFactory::metadata_for_resource) | [`PartialObjectMetadata`] | `metadatainformer` `ForResource` |
//!
//! Options, as client-go's: the default resync period given to
//! [`new`](SharedInformerFactory::new) (`Duration::ZERO`: no resync),
//! [`with_namespace`](SharedInformerFactory::with_namespace),
//! [`with_tweak_list_options`](SharedInformerFactory::with_tweak_list_options)
//! (label / field selectors for every informer),
//! [`with_custom_resync`](SharedInformerFactory::with_custom_resync); and, beyond
//! client-go, [`with_reflector_options`](SharedInformerFactory::with_reflector_options)
//! (page size, watch timeout, watch-list, backoff). Set options before requesting
//! informers: an informer is configured when it is first requested.
//!
//! ```no_run
//! # async fn run(client: ferrokube::RESTClient) {
//! use std::time::Duration;
//! use ferrokube::schema::GroupVersionResource;
//! use ferrokube::tools::cache::SharedInformerFactory;
//! use k8s_openapi::api::core::v1::Pod;
//!
//! let factory = SharedInformerFactory::new(client, Duration::ZERO)
//!     .with_namespace("default")
//!     .with_tweak_list_options(|o| o.label_selector = Some("app=web".into()));
//! let pods = factory.informer::<Pod>(); // typed
//! let same = factory.informer::<Pod>(); // the same informer
//! let widgets = factory.for_resource(&GroupVersionResource::new("example.com", "v1", "widgets")); // dynamic
//! factory.start();
//! let synced = factory.wait_for_cache_sync(tokio::time::sleep(Duration::from_secs(30))).await;
//! assert!(synced.values().all(|s| *s));
//! # drop((pods, same, widgets));
//! # }
//! ```

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt;

use super::informer::{InformerHandle, Lister, SharedInformer};
use super::listwatch::{ListWatch, TweakListOptionsFunc};
use super::reflector::{CachedResource, ReflectedObject, ReflectorOptions};
use crate::dynamic::Unstructured;
use crate::metadata::PartialObjectMetadata;
use crate::rest::{ListOptions, RESTClient};
use crate::schema::GroupVersionResource;

/// Which informer of a factory: the key of its map (client-go keys typed informers by
/// `reflect.Type`, dynamic and metadata ones by GVR).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum InformerKey {
    /// A typed informer of the Rust type named `type_name`.
    Typed {
        /// The type.
        type_id: TypeId,
        /// Its name, for display.
        type_name: &'static str,
    },
    /// A dynamic ([`Unstructured`]) informer.
    Dynamic(GroupVersionResource),
    /// A metadata-only ([`PartialObjectMetadata`]) informer.
    Metadata(GroupVersionResource),
}

impl InformerKey {
    /// The key of the typed informer of `K`.
    pub fn typed<K: 'static>() -> Self {
        InformerKey::Typed { type_id: TypeId::of::<K>(), type_name: std::any::type_name::<K>() }
    }
}

impl std::fmt::Display for InformerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InformerKey::Typed { type_name, .. } => f.write_str(type_name),
            InformerKey::Dynamic(gvr) => write!(f, "dynamic {gvr}"),
            InformerKey::Metadata(gvr) => write!(f, "metadata {gvr}"),
        }
    }
}

/// What the factory needs of an informer whatever its type.
trait AnyInformer: Send + Sync {
    fn start(&self) -> InformerHandle;
    fn has_synced(&self) -> bool;
    fn synced(&self) -> BoxFuture<'static, ()>;
    fn as_any(&self) -> &dyn Any;
}

impl<K: ReflectedObject> AnyInformer for SharedInformer<K> {
    fn start(&self) -> InformerHandle {
        SharedInformer::start(self)
    }
    fn has_synced(&self) -> bool {
        SharedInformer::has_synced(self)
    }
    fn synced(&self) -> BoxFuture<'static, ()> {
        let me = self.clone();
        async move { me.wait_for_sync().await }.boxed()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[derive(Default)]
struct State {
    informers: HashMap<InformerKey, Box<dyn AnyInformer>>,
    /// Handles of the informers this factory started.
    started: HashMap<InformerKey, InformerHandle>,
    shutting_down: bool,
}

/// Shares one informer per resource among all consumers (see the
/// [module docs](self)). Dropping the factory stops the informers it started (unless
/// others hold handles to them); share it by reference or in an `Arc`.
#[must_use = "a factory's informers stop when it is dropped"]
pub struct SharedInformerFactory {
    client: RESTClient,
    default_resync: Duration,
    custom_resync: HashMap<InformerKey, Duration>,
    namespace: Option<String>,
    tweak: Option<TweakListOptionsFunc>,
    options: ReflectorOptions,
    state: Mutex<State>,
}

impl std::fmt::Debug for SharedInformerFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("SharedInformerFactory")
            .field("default_resync", &self.default_resync)
            .field("namespace", &self.namespace)
            .field("informers", &state.informers.keys().collect::<Vec<_>>())
            .field("started", &state.started.len())
            .field("shutting_down", &state.shutting_down)
            .finish()
    }
}

impl SharedInformerFactory {
    /// A factory of informers reaching the server through `client`, each resyncing
    /// every `default_resync` (`Duration::ZERO`: never) (client-go
    /// `NewSharedInformerFactory`). The client serves typed, dynamic and metadata
    /// informers alike: it must accept JSON. Typed informers of built-in types list and
    /// watch in protobuf when the client's content config allows it (the default).
    pub fn new(client: RESTClient, default_resync: Duration) -> Self {
        SharedInformerFactory {
            client,
            default_resync,
            custom_resync: HashMap::new(),
            namespace: None,
            tweak: None,
            options: ReflectorOptions::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// Only objects of `namespace` (client-go `WithNamespace`); `""` means all.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into()).filter(|n| !n.is_empty());
        self
    }

    /// Applies `tweak` to the options of every list and watch of every informer
    /// (client-go `WithTweakListOptions`), e.g. to set a label selector.
    pub fn with_tweak_list_options(mut self, tweak: impl Fn(&mut ListOptions) + Send + Sync + 'static) -> Self {
        self.tweak = Some(Arc::new(tweak));
        self
    }

    /// A resync period for one informer instead of the default (client-go
    /// `WithCustomResyncConfig`).
    pub fn with_custom_resync(mut self, key: InformerKey, resync: Duration) -> Self {
        self.custom_resync.insert(key, resync);
        self
    }

    /// Reflector options (page size, watch timeout, watch-list, backoff...) of every
    /// informer; their namespace and selectors are not used (see
    /// [`with_namespace`](Self::with_namespace),
    /// [`with_tweak_list_options`](Self::with_tweak_list_options)).
    pub fn with_reflector_options(mut self, options: ReflectorOptions) -> Self {
        self.options = options;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn configure<K>(&self, lw: ListWatch<K>) -> ListWatch<K> {
        let lw = match &self.namespace {
            Some(ns) => lw.namespace(ns.clone()),
            None => lw,
        };
        lw.tweak_list_options_arc(self.tweak.clone())
    }

    /// The informer under `key`, made by `make` the first time.
    fn get_or_insert<K: ReflectedObject>(
        &self,
        key: InformerKey,
        make: impl FnOnce() -> ListWatch<K>,
    ) -> SharedInformer<K> {
        let mut state = self.lock();
        if let Some(existing) = state.informers.get(&key) {
            if let Some(i) = existing.as_any().downcast_ref::<SharedInformer<K>>() {
                return i.clone();
            }
        }
        let informer = SharedInformer::with_list_watch(self.configure(make()), self.options.clone());
        let resync = self.custom_resync.get(&key).copied().unwrap_or(self.default_resync);
        informer.set_resync_period(Some(resync));
        state.informers.insert(key, Box::new(informer.clone()));
        informer
    }

    /// The shared informer of the k8s-openapi type `K` (client-go `InformerFor`; the
    /// typed accessors such as `Core().V1().Pods().Informer()`).
    pub fn informer<K: CachedResource>(&self) -> SharedInformer<K> {
        self.get_or_insert(InformerKey::typed::<K>(), || ListWatch::<K>::new(self.client.clone()))
    }

    /// A lister over the shared informer of `K` (client-go `.Lister()`).
    pub fn lister<K: CachedResource>(&self) -> Lister<K> {
        self.informer::<K>().lister()
    }

    /// The shared dynamic informer of `gvr`, caching [`Unstructured`] objects (client-go
    /// `DynamicSharedInformerFactory.ForResource`). Works for custom resources.
    pub fn for_resource(&self, gvr: &GroupVersionResource) -> SharedInformer<Unstructured> {
        self.get_or_insert(InformerKey::Dynamic(gvr.clone()), || ListWatch::dynamic(self.client.clone(), gvr.clone()))
    }

    /// The shared metadata-only informer of `gvr`, caching [`PartialObjectMetadata`]
    /// (client-go `metadatainformer.SharedInformerFactory.ForResource`).
    pub fn metadata_for_resource(&self, gvr: &GroupVersionResource) -> SharedInformer<PartialObjectMetadata> {
        self.get_or_insert(InformerKey::Metadata(gvr.clone()), || ListWatch::metadata(self.client.clone(), gvr.clone()))
    }

    /// Starts every informer requested so far and not yet started by this factory
    /// (client-go `Start`). Idempotent; does nothing after
    /// [`shutdown`](Self::shutdown). Must be called from within a tokio runtime.
    pub fn start(&self) {
        let mut state = self.lock();
        if state.shutting_down {
            return;
        }
        let State { informers, started, .. } = &mut *state;
        for (key, informer) in informers.iter() {
            if !started.contains_key(key) {
                started.insert(key.clone(), informer.start());
            }
        }
    }

    /// Waits until every informer this factory started has synced, or until `stop`
    /// completes (e.g. `tokio::time::sleep(timeout)` or a cancellation token's
    /// `cancelled()`), and returns whether each has (client-go `WaitForCacheSync`).
    pub async fn wait_for_cache_sync(&self, stop: impl Future<Output = ()>) -> BTreeMap<InformerKey, bool> {
        let waiting: Vec<(InformerKey, BoxFuture<'static, ()>)> = {
            let state = self.lock();
            state.started.keys().filter_map(|k| state.informers.get(k).map(|i| (k.clone(), i.synced()))).collect()
        };
        let keys: Vec<InformerKey> = waiting.iter().map(|(k, _)| k.clone()).collect();
        let all = futures_util::future::join_all(waiting.into_iter().map(|(_, f)| f));
        tokio::select! {
            _ = all => {}
            _ = stop => {}
        }
        let state = self.lock();
        keys.into_iter()
            .map(|k| {
                let synced = state.informers.get(&k).is_some_and(|i| i.has_synced());
                (k, synced)
            })
            .collect()
    }

    /// Gives up the factory's handles of the informers it started, which stop unless
    /// someone else holds a handle, and makes [`start`](Self::start) a no-op (client-go
    /// `Shutdown`). The informers stay requestable (for their stores), not startable
    /// by this factory.
    pub fn shutdown(&self) {
        let started = {
            let mut state = self.lock();
            state.shutting_down = true;
            std::mem::take(&mut state.started)
        };
        drop(started);
    }

    /// The keys of the informers requested so far.
    pub fn informer_keys(&self) -> Vec<InformerKey> {
        self.lock().informers.keys().cloned().collect()
    }
}
