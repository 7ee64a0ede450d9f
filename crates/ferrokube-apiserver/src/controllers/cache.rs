//! Shared informer caches: one list+watch per resource for all controllers, holding
//! the objects they read, so a reconcile pass reads memory instead of listing through
//! the registry.
//!
//! ```text
//! KubeApi list + watch (per resource, once) -> Cache (objects by namespace/name,
//!   indexed by controller owner) -> subscribers' Notify (controller loops wake)
//!                                 -> Cache::list / get / controlled_by (reads)
//! ```
//!
//! This is client-go's shared informer, shaped for these level-triggered controllers:
//! - **Objects without managedFields.** No controller reads them, and they are 40 %
//!   of a running pod's decoded tree: a cache holds each object without them (as an
//!   informer with a transform that drops them). A controller's write from a cached
//!   object carries none, which keeps the stored ones (kube's rule for a write without
//!   managedFields).
//! - **Compact objects.** A cache holds each object as a [`Node`] (see
//!   [`compact`](super::compact)): a running pod takes a quarter of its
//!   `serde_json::Value`. Readers share the cache's `Arc`s; a controller that writes
//!   an object makes a `Value` of it first ([`Json::to_value`](super::json::Json)).
//! - **Read-your-writes.** A controller's pass reads after its own writes; kube's
//!   controllers guard against a cache that has not seen them yet with
//!   "expectations". Here [`Informers::list`] first waits (briefly, bounded) until the
//!   cache has seen every write the store had made to the resource when the read
//!   began ([`KubeApi::freshness_target`]), which is exact in-process. Over HTTP (the
//!   `ferrokube-kubelet` binary) there is no such target and reads are as fresh as
//!   the watch; the kubelet's writes carry resourceVersion preconditions, so a stale
//!   read costs a conflict and a retry, never a duplicate action.
//! - **Index.** Objects are indexed by the uid of their controller ownerReference,
//!   so a ReplicaSet finds its pods without scanning every pod of its namespace.
//! - **Filtered caches.** A reader that needs only some objects of a resource no
//!   controller caches whole (the garbage collector reads every resource, Events
//!   included, for objects with owners) gets a cache that keeps only those
//!   ([`Informers::list_selected`]): the rest of the resource costs nothing held.
//!   Once a controller asks for the whole resource, the filtered cache is retired
//!   and its readers filter the whole one (two caches would hold two copies).
//!
//! The reflector loop follows client-go's: list to learn the resourceVersion, watch
//! from it, resume from the last seen resourceVersion when the stream ends, and
//! re-list (replacing the cache) on a `410 Gone` ERROR event.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::{watch, Notify};
use tokio::task::{AbortHandle, JoinHandle};

use super::compact::Node;
use super::informer::sleep_or_shutdown;
use super::kube_api::KubeApi;
use super::objects;
use crate::api::ResourceInfo;

/// How long a read waits for its cache to catch up with the store before it goes on
/// with what the cache has (a watch that lags this much is being re-established).
const FRESHNESS_WAIT: Duration = Duration::from_secs(2);

/// The informers of one controller manager (or kubelet): a [`Cache`] per resource,
/// started on first use and shared by every controller that asks for it.
#[derive(Clone)]
pub struct Informers<A: KubeApi> {
    api: A,
    /// Where the watch loops run (`None`: the runtime of the first ask).
    runtime: Option<tokio::runtime::Handle>,
    shutdown: watch::Receiver<bool>,
    caches: Arc<Mutex<HashMap<String, Arc<Cache>>>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    /// The watch loops of the filtered caches, by cache key: a filtered cache is
    /// retired once a whole cache of its resource runs (it would hold a second copy
    /// of what the whole one holds).
    filtered: Arc<Mutex<HashMap<String, AbortHandle>>>,
}

impl<A: KubeApi> Informers<A> {
    /// Informers over `api`, whose watch loops end when `shutdown` turns true.
    pub fn new(api: A, shutdown: watch::Receiver<bool>) -> Self {
        Informers {
            api,
            runtime: None,
            shutdown,
            caches: Arc::new(Mutex::new(HashMap::new())),
            tasks: Arc::new(Mutex::new(Vec::new())),
            filtered: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Runs the watch loops on `runtime`, so that they keep reading their watches
    /// while the controllers' passes keep their own runtime busy (a watch read too
    /// slowly is closed by the server, and its resume decodes what it missed).
    pub fn with_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The API the caches list and watch through.
    pub fn api(&self) -> &A {
        &self.api
    }

    /// The cache of `res` (all namespaces), starting its list+watch loop if this is
    /// the first ask.
    pub fn cache(&self, res: &Arc<ResourceInfo>) -> Arc<Cache> {
        self.cache_of(res, None)
    }

    /// The cache of `res` keeping all objects (`selection` `None`) or the selected
    /// ones, started on first ask.
    fn cache_of(&self, res: &Arc<ResourceInfo>, selection: Option<Selection>) -> Arc<Cache> {
        let whole_key = crate::object::meta::resource_key(res);
        let key = match &selection {
            Some(s) => format!("{whole_key}#{}", s.name),
            None => whole_key.clone(),
        };
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = caches.get(&key) {
            return Arc::clone(c);
        }
        let cache = Arc::new(Cache::new(Arc::clone(res), selection));
        caches.insert(key.clone(), Arc::clone(&cache));
        let mut filtered = self.filtered.lock().unwrap_or_else(|e| e.into_inner());
        if selection.is_none() {
            // Readers of the filtered caches of `res` read this one from now on
            // (`list_selected`); theirs would only hold second copies.
            let prefix = format!("{whole_key}#");
            caches.retain(|k, _| !k.starts_with(&prefix));
            filtered.retain(|k, task| {
                let retired = k.starts_with(&prefix);
                if retired {
                    task.abort();
                }
                !retired
            });
        }
        drop(caches);
        let reflector = reflect(self.api.clone(), Arc::clone(&cache), self.shutdown.clone());
        let task = match &self.runtime {
            Some(rt) => rt.spawn(reflector),
            None => tokio::spawn(reflector),
        };
        if selection.is_some() {
            filtered.insert(key, task.abort_handle());
        }
        drop(filtered);
        self.tasks.lock().unwrap_or_else(|e| e.into_inner()).push(task);
        cache
    }

    /// Keys of the caches running, sorted (for tests).
    #[cfg(test)]
    fn cache_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.caches.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
        keys.sort();
        keys
    }

    /// The objects of `res` in all namespaces, once the cache has seen every write
    /// made to `res` before this call (see the module docs), in namespace/name order.
    pub async fn list(&self, res: &Arc<ResourceInfo>) -> Vec<Arc<Node>> {
        self.fresh(res).await.list(None)
    }

    /// The objects of `res` that `selection` keeps, fresh like [`Informers::list`]:
    /// from the resource's whole cache when one runs, else from a cache that holds
    /// only them.
    pub async fn list_selected(&self, res: &Arc<ResourceInfo>, selection: Selection) -> Vec<Arc<Node>> {
        let whole = {
            let key = crate::object::meta::resource_key(res);
            self.caches.lock().unwrap_or_else(|e| e.into_inner()).contains_key(&key)
        };
        if whole {
            let mut items = self.list(res).await;
            items.retain(|o| (selection.keeps_cached)(o));
            return items;
        }
        self.fresh_cache(self.cache_of(res, Some(selection)), res).await.list(None)
    }

    /// The cache of `res`, once it has caught up with the store (bounded wait).
    pub async fn fresh(&self, res: &Arc<ResourceInfo>) -> Arc<Cache> {
        self.fresh_cache(self.cache(res), res).await
    }

    async fn fresh_cache(&self, cache: Arc<Cache>, res: &Arc<ResourceInfo>) -> Arc<Cache> {
        let target = self.api.freshness_target(res);
        // On shutdown the watch loops stop: a read then takes the cache as it is.
        let mut shutdown = self.shutdown.clone();
        tokio::select! {
            _ = cache.wait_fresh(target) => {}
            _ = shutdown.wait_for(|stop| *stop) => {}
        }
        cache
    }

    /// Waits for the watch loops to end (they end once shutdown is signalled).
    pub async fn join(&self) {
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Stops every watch loop at once (they also stop on shutdown).
    pub fn abort(&self) {
        for t in self.tasks.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            t.abort();
        }
    }
}

/// Which objects a filtered cache keeps ([`Informers::list_selected`]).
#[derive(Clone, Copy)]
pub struct Selection {
    /// Names the cache (one per resource and name).
    pub name: &'static str,
    /// Whether an object is kept; asked again on every change of it.
    pub keep: fn(&Value) -> bool,
    /// The same question of a cached object (the same function: see
    /// `gc::PART_OF_COLLECTION`), for a reader of a whole cache.
    pub keeps_cached: fn(&Node) -> bool,
    /// The only fields the cache holds of each object (`None`: all but
    /// managedFields), as an informer's transform keeps a projection: what a reader
    /// needs of many objects it never writes (`events::EXPIRY`). A reader of a
    /// whole cache gets whole objects.
    pub fields: Option<&'static [&'static [&'static str]]>,
}

/// The objects of one resource as last seen by its watch, and who to wake on change.
pub struct Cache {
    res: Arc<ResourceInfo>,
    /// Objects this returns false for are not kept (`None`: all are).
    keep: Option<fn(&Value) -> bool>,
    /// The fields held of each object (`None`: all but managedFields).
    fields: Option<&'static [&'static [&'static str]]>,
    state: RwLock<CacheState>,
    /// resourceVersion the cache has seen up to; 0 until the first list.
    seen: watch::Sender<u64>,
    subscribers: Mutex<Vec<Arc<Notify>>>,
}

#[derive(Default)]
struct CacheState {
    objects: BTreeMap<String, Arc<Node>>,
    /// Controller owner uid -> keys of the objects it controls.
    controlled: HashMap<String, BTreeSet<String>>,
    /// Keys of the objects without a controller.
    orphans: BTreeSet<String>,
}

impl CacheState {
    fn insert(&mut self, key: String, obj: Arc<Node>) {
        self.remove(&key);
        match objects::controller_uid(&obj) {
            Some(uid) => self.controlled.entry(uid.to_owned()).or_default().insert(key.clone()),
            None => self.orphans.insert(key.clone()),
        };
        self.objects.insert(key, obj);
    }

    fn remove(&mut self, key: &str) {
        let Some(old) = self.objects.remove(key) else { return };
        match objects::controller_uid(&old) {
            Some(uid) => {
                if let Some(keys) = self.controlled.get_mut(uid) {
                    keys.remove(key);
                    if keys.is_empty() {
                        self.controlled.remove(uid);
                    }
                }
            }
            None => {
                self.orphans.remove(key);
            }
        }
    }
}

fn rv_of(obj: &Value) -> u64 {
    objects::resource_version(obj).parse().unwrap_or(0)
}

impl Cache {
    fn new(res: Arc<ResourceInfo>, selection: Option<Selection>) -> Self {
        Cache {
            res,
            keep: selection.map(|s| s.keep),
            fields: selection.and_then(|s| s.fields),
            state: RwLock::new(CacheState::default()),
            seen: watch::Sender::new(0),
            subscribers: Mutex::new(Vec::new()),
        }
    }

    /// The resource cached.
    pub fn resource(&self) -> &Arc<ResourceInfo> {
        &self.res
    }

    /// Wakes `notify` on every change (and once after each list).
    pub fn subscribe(&self, notify: Arc<Notify>) {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(notify);
    }

    /// Whether the first list has filled the cache.
    pub fn synced(&self) -> bool {
        *self.seen.borrow() > 0
    }

    /// Waits until the cache is filled and has seen resourceVersion `target` (when
    /// given), at most `FRESHNESS_WAIT` (2 s).
    pub async fn wait_fresh(&self, target: Option<u64>) {
        let target = target.unwrap_or(0).max(1);
        let mut rx = self.seen.subscribe();
        let caught_up = tokio::time::timeout(FRESHNESS_WAIT, rx.wait_for(|seen| *seen >= target)).await;
        if caught_up.is_err() {
            tracing::debug!(resource = %self.res.plural, target, "controller cache lags; reading it as is");
        }
    }

    /// The objects (of namespace `ns`, or all), in namespace/name order.
    pub fn list(&self, ns: Option<&str>) -> Vec<Arc<Node>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        match ns {
            None => state.objects.values().cloned().collect(),
            Some(ns) => {
                let prefix = format!("{ns}/");
                state
                    .objects
                    .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
                    .take_while(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, v)| Arc::clone(v))
                    .collect()
            }
        }
    }

    /// The object `ns/name` (or `name` when cluster-scoped), if cached.
    pub fn get(&self, ns: Option<&str>, name: &str) -> Option<Arc<Node>> {
        let key = match ns {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        };
        self.state.read().unwrap_or_else(|e| e.into_inner()).objects.get(&key).cloned()
    }

    /// The objects whose controller ownerReference has uid `owner_uid`.
    pub fn controlled_by(&self, owner_uid: &str) -> Vec<Arc<Node>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let Some(keys) = state.controlled.get(owner_uid) else { return Vec::new() };
        keys.iter().filter_map(|k| state.objects.get(k).cloned()).collect()
    }

    /// The objects of namespace `ns` without a controller: candidates for adoption.
    pub fn orphans(&self, ns: &str) -> Vec<Arc<Node>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        let prefix = format!("{ns}/");
        state
            .orphans
            .range::<str, _>((Bound::Included(prefix.as_str()), Bound::Unbounded))
            .take_while(|k| k.starts_with(&prefix))
            .filter_map(|k| state.objects.get(k).cloned())
            .collect()
    }

    /// What an owner in namespace `ns` with uid `owner_uid` may claim: the objects it
    /// controls and the namespace's orphans.
    pub fn claimable(&self, ns: &str, owner_uid: &str) -> Vec<Arc<Node>> {
        let mut out = self.controlled_by(owner_uid);
        out.extend(self.orphans(ns));
        out
    }

    fn kept(&self, obj: &Value) -> bool {
        self.keep.is_none_or(|keep| keep(obj))
    }

    /// What the cache holds of `obj`.
    fn held(&self, obj: &Value) -> Arc<Node> {
        Arc::new(match self.fields {
            Some(paths) => Node::projection(obj, paths),
            None => Node::without_managed_fields(obj),
        })
    }

    fn replace(&self, items: Vec<Arc<Value>>, rv: u64) {
        let mut fresh = CacheState::default();
        for obj in items.into_iter().filter(|o| self.kept(o)) {
            fresh.insert(objects::key(&obj), self.held(&obj));
        }
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.advance(rv);
        self.wake();
    }

    fn apply(&self, event_type: &str, obj: Arc<Value>) {
        let rv = rv_of(&obj);
        if event_type != "BOOKMARK" {
            let key = objects::key(&obj);
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            if event_type == "DELETED" || !self.kept(&obj) {
                state.remove(&key);
            } else {
                state.insert(key, self.held(&obj));
            }
        }
        self.advance(rv);
        if event_type != "BOOKMARK" {
            self.wake();
        }
    }

    fn advance(&self, rv: u64) {
        self.seen.send_if_modified(|seen| {
            let newer = rv.max(1) > *seen;
            if newer {
                *seen = rv.max(1);
            }
            newer
        });
    }

    fn wake(&self) {
        for n in self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            n.notify_one();
        }
    }
}

/// The reflector loop of one cache: list, watch, resume, re-list on 410.
async fn reflect<A: KubeApi>(api: A, cache: Arc<Cache>, mut shutdown: watch::Receiver<bool>) {
    let res = Arc::clone(&cache.res);
    let mut rv: Option<String> = None;
    let backoff = Duration::from_millis(200);
    loop {
        if *shutdown.borrow() {
            return;
        }
        if rv.is_none() {
            match api.list_shared(&res).await {
                Ok((items, list_rv)) => {
                    cache.replace(items, list_rv.parse().unwrap_or(0));
                    rv = Some(list_rv);
                }
                Err(e) => {
                    tracing::warn!(resource = %res.plural, error = %e.message, "controller list failed");
                    if sleep_or_shutdown(backoff, &mut shutdown).await {
                        return;
                    }
                    continue;
                }
            }
        }
        let mut stream = match api.watch(&res, None, rv.as_deref()).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(resource = %res.plural, error = %e.message, "controller watch failed");
                rv = None;
                if sleep_or_shutdown(backoff, &mut shutdown).await {
                    return;
                }
                continue;
            }
        };
        loop {
            let ev = tokio::select! {
                _ = shutdown.changed() => return,
                ev = stream.next() => ev,
            };
            let Some(ev) = ev else { break };
            if ev.event_type == "ERROR" {
                let code = ev.object.get("code").and_then(Value::as_i64).unwrap_or(0);
                tracing::debug!(resource = %res.plural, code, "watch error event; re-listing");
                rv = None;
                break;
            }
            let new_rv = objects::resource_version(&ev.object);
            if !new_rv.is_empty() {
                rv = Some(new_rv.to_owned());
            }
            cache.apply(ev.event_type, ev.object);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::json::Json;
    use serde_json::json;

    fn pod(name: &str, rv: u64, owner: Option<&str>) -> Arc<Value> {
        let mut p = json!({"metadata": {"namespace": "ns", "name": name, "resourceVersion": rv.to_string()}});
        if let Some(uid) = owner {
            p["metadata"]["ownerReferences"] =
                json!([{"uid": uid, "controller": true, "name": "o", "kind": "ReplicaSet"}]);
        }
        Arc::new(p)
    }

    fn cache() -> Cache {
        let res = crate::controllers::client::Resources::builtin().map(|r| r.pods).unwrap_or_else(|| unreachable!());
        Cache::new(res, None)
    }

    #[test]
    fn index_follows_changes_of_controller() {
        let c = cache();
        c.replace(vec![pod("a", 5, Some("u1")), pod("b", 6, None)], 7);
        assert_eq!(c.controlled_by("u1").len(), 1);
        assert_eq!(c.orphans("ns").len(), 1);
        c.apply("MODIFIED", pod("b", 8, Some("u1")));
        assert_eq!(c.controlled_by("u1").len(), 2);
        assert!(c.orphans("ns").is_empty());
        c.apply("MODIFIED", pod("a", 9, Some("u2")));
        assert_eq!(c.controlled_by("u1").len(), 1);
        assert_eq!(c.controlled_by("u2").len(), 1);
        c.apply("DELETED", pod("a", 10, Some("u2")));
        assert!(c.controlled_by("u2").is_empty());
        assert_eq!(c.list(Some("ns")).len(), 1);
        assert!(c.list(Some("n")).is_empty(), "a namespace prefix of another is not it");
        assert_eq!(*c.seen.borrow(), 10);
    }

    #[test]
    fn objects_are_held_compact_and_without_managed_fields() {
        let c = cache();
        let mut with = Value::clone(&pod("a", 5, None));
        with["metadata"]["managedFields"] = json!([{"manager": "m", "fieldsV1": {"f:spec": {}}}]);
        with["spec"] = json!({"nodeName": "n1"});
        let plain = pod("b", 6, None);
        c.replace(vec![Arc::new(with), Arc::clone(&plain)], 6);
        let a = c.get(Some("ns"), "a").unwrap_or_else(|| panic!("a is cached"));
        assert!(Json::get(&a["metadata"], "managedFields").is_none());
        assert_eq!(a["metadata"]["name"], "a");
        assert_eq!(a["spec"]["nodeName"], "n1");
        let b = c.get(Some("ns"), "b").unwrap_or_else(|| panic!("b is cached"));
        assert!(*b == *plain, "an object without managedFields is held as it is");
    }

    #[test]
    fn a_selective_cache_holds_only_what_it_keeps() {
        let res = crate::controllers::client::Resources::builtin().map(|r| r.pods).unwrap_or_else(|| unreachable!());
        let owned = Selection {
            name: "owned",
            keep: |o: &Value| !objects::owner_refs_of(o).is_empty(),
            keeps_cached: |o: &Node| !objects::owner_refs_of(o).is_empty(),
            fields: None,
        };
        let c = Cache::new(res, Some(owned));
        c.replace(vec![pod("a", 5, Some("u1")), pod("b", 6, None)], 6);
        assert_eq!(c.list(None).len(), 1);
        c.apply("MODIFIED", pod("b", 7, Some("u1")));
        c.apply("MODIFIED", pod("a", 8, None));
        let names: Vec<String> = c.list(None).iter().map(|o| objects::name(o).to_owned()).collect();
        assert_eq!(names, ["b"], "an object that stops being kept leaves the cache");
        assert_eq!(*c.seen.borrow(), 8, "events of objects not kept still advance the cache");
    }

    #[tokio::test]
    async fn a_whole_cache_retires_the_filtered_caches_of_its_resource() {
        use crate::controllers::client::{Client, Resources};
        let res = Arc::new(Resources::builtin().expect("catalog"));
        let client = Client::new(crate::registry::Registry::new(), Arc::clone(&res), "system:kube-controller-manager");
        let (_stop, shutdown) = watch::channel(false);
        let informers = Informers::new(client, shutdown);
        let owned = Selection {
            name: "owned",
            keep: |o: &Value| !objects::owner_refs_of(o).is_empty(),
            keeps_cached: |o: &Node| !objects::owner_refs_of(o).is_empty(),
            fields: None,
        };
        informers.list_selected(&res.pods, owned).await;
        informers.list_selected(&res.replicasets, owned).await;
        assert_eq!(informers.cache_keys().len(), 2, "{:?}", informers.cache_keys());
        assert!(informers.cache_keys().iter().all(|k| k.ends_with("#owned")));
        informers.list(&res.pods).await;
        let keys = informers.cache_keys();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.iter().any(|k| k.ends_with("#owned") && k.contains("replicasets")), "{keys:?}");
        assert!(keys.iter().any(|k| k.contains("pods") && !k.contains('#')), "{keys:?}");
        assert_eq!(informers.filtered.lock().map(|f| f.len()).unwrap_or(0), 1, "the pods' filtered loop is stopped");
        informers.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn fresh_reads_wait_for_the_target_and_no_longer_than_the_bound() {
        let c = Arc::new(cache());
        c.replace(vec![], 3);
        let waiter = {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.wait_fresh(Some(5)).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        c.apply("ADDED", pod("a", 5, None));
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
        // A target the cache never reaches: the read goes on after the bound.
        let start = tokio::time::Instant::now();
        c.wait_fresh(Some(99)).await;
        assert_eq!(start.elapsed(), FRESHNESS_WAIT);
    }
}
