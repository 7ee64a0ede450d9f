//! `tools::cache::reflector`: keeps a [`Store`] in step with the server (client-go
//! `reflector.go`, `ListAndWatch`).
//!
//! What is listed and watched comes from a [`ListWatch`] (built from the type and
//! [`ReflectorOptions`] by [`Reflector::new`], or given to
//! [`Reflector::with_list_watch`] for dynamic and metadata-only objects). One loop, run
//! by [`Reflector::run`] (or in the background by [`Reflector::spawn`]):
//!
//! 1. **Sync.** List the collection at the most recent state, in pages of
//!    [`ReflectorOptions::page_size`] (`limit` / `continue`), and [`Store::replace`] the
//!    content with the result; the list's `resourceVersion` is where the watch starts.
//!    With [`ReflectorOptions::watch_list`], a WatchList is tried first instead: a watch
//!    with `sendInitialEvents=true`, `resourceVersionMatch=NotOlderThan` and
//!    `allowWatchBookmarks=true`, whose initial ADDED events are collected until the
//!    BOOKMARK annotated `k8s.io/initial-events-end`, then swapped into the store at
//!    once; the same stream then carries on as the watch. A server that rejects the
//!    request (a 4xx other than 410/429, or an ERROR event before the end bookmark)
//!    makes the reflector fall back to list + watch for good.
//! 2. **Watch** from that resourceVersion with `allowWatchBookmarks=true` and
//!    `timeoutSeconds` ([`ReflectorOptions::watch_timeout`]). ADDED/MODIFIED upsert,
//!    DELETED removes, BOOKMARK only advances the last-seen resourceVersion. When the
//!    server ends the stream the watch resumes from the last-seen resourceVersion, so no
//!    event is lost or repeated.
//! 3. **410 Gone** — as the HTTP answer to the watch, or as an ERROR event with code
//!    410 — means the history no longer reaches back to the last-seen resourceVersion:
//!    go back to 1 and relist.
//! 4. **Other errors** (connection refused, 5xx, 429, an ERROR event, a very short
//!    empty watch, a failed list) back off exponentially, 800 ms doubling up to 30 s,
//!    each delay jittered by up to +100% (client-go's defaults: a fleet of informers
//!    does not retry in step), and retry the same step; any successful list or event
//!    resets the backoff (client-go resets it after 2 minutes without a backoff, so a
//!    reflector that recovered starts its next backoff from 800 ms here sooner). Nothing the server sends makes the reflector panic or stop.
//!
//! Every failure is reported, none is skipped silently: as a [`ReflectorError`] to
//! [`last_error`](Reflector::last_error), the log, the informer's watch error handler
//! and its event streams. That includes a watch event that cannot be decoded as `K`
//! ([`ReflectorError::Decode`]): the watch goes on without it (client-go's stream
//! watcher ends the watch instead, and the resumed watch meets the event again). An
//! undecodable object in a list, or among a watch-list's initial events, fails that
//! attempt, which is retried: a cache never syncs with an object silently missing.
//!
//! Stopping: the [`run`](Reflector::run) future never completes on its own; drop it to
//! stop, or drop/[`stop`](ReflectorHandle::stop) the [`ReflectorHandle`] of
//! [`spawn`](Reflector::spawn).
//!
//! Objects go through the store's transform as soon as they are decoded (each list page,
//! each initial event), so the untransformed form of a large list is never held whole.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, ObjectMeta, Status};
use k8s_openapi::{ListableResource, Metadata};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::decode::{Plain, Unwrap, WithoutManagedFields};
use super::listwatch::ListWatch;
use super::object::CacheObject;
use super::processor::Processor;
use super::store::{meta_namespace_key, CacheError, Store};
use crate::rest::backoff::Backoff;
use crate::rest::{Error, ListOptions, RESTClient};
use crate::tools::pager::{ListPager, PageEvent};
use crate::watch::{WatchEvent, WatchStream};

/// The bounds a k8s-openapi type needs to be reflected and cached by type alone: a
/// listable resource with standard `ObjectMeta`, decodable and shareable across tasks.
/// Implemented for every such type. Such types also are [`ReflectedObject`]s.
pub trait CachedResource:
    ListableResource + Metadata<Ty = ObjectMeta> + DeserializeOwned + Send + Sync + 'static
{
}

impl<K> CachedResource for K where
    K: ListableResource + Metadata<Ty = ObjectMeta> + DeserializeOwned + Send + Sync + 'static
{
}

/// The bounds an object type needs to be reflected and cached when a [`ListWatch`]
/// says what to list: readable metadata, decodable, shareable across tasks. Every
/// [`CachedResource`], [`Unstructured`](crate::dynamic::Unstructured) and
/// [`PartialObjectMetadata`](crate::metadata::PartialObjectMetadata) is one.
pub trait ReflectedObject: CacheObject + DeserializeOwned + Send + Sync + 'static {}

impl<K> ReflectedObject for K where K: CacheObject + DeserializeOwned + Send + Sync + 'static {}

/// Why a list or watch attempt failed (client-go hands these to the
/// `WatchErrorHandler`). The reflector retries after each; they reach
/// [`SharedInformer::set_watch_error_handler`](super::SharedInformer::set_watch_error_handler),
/// the [`event_stream`](super::SharedInformer::event_stream) and `last_error`.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReflectorError {
    /// The list request failed, or its answer could not be decoded.
    #[error("list failed: {0}")]
    List(Arc<Error>),
    /// A watch could not be started, or its stream broke off.
    #[error("watch failed: {0}")]
    Watch(Arc<Error>),
    /// A watch event could not be decoded as the informer's type. The stream goes on;
    /// the change it carried is missing from the store until the object changes again
    /// or the next relist.
    #[error("watch event could not be decoded: {0}")]
    Decode(Arc<Error>),
    /// The server sent an ERROR event other than 410 Gone.
    #[error("watch ERROR event (code {code:?}): {message}", code = .0.code, message = .0.message.as_deref().unwrap_or_default())]
    ErrorEvent(Box<Status>),
    /// A watch-list ended before its initial-events-end bookmark.
    #[error("watch-list failed: {0}")]
    WatchList(String),
    /// An object could not be stored (it has no name).
    #[error("an object could not be stored: {0}")]
    Store(CacheError),
}

impl ReflectorError {
    /// A watch stream error: a decode error if the stream carried something that is not
    /// an event of the expected type.
    fn from_stream(e: Error) -> Self {
        match e {
            Error::Watch { .. } => ReflectorError::Decode(Arc::new(e)),
            other => ReflectorError::Watch(Arc::new(other)),
        }
    }

    /// Whether an event could not be decoded.
    pub fn is_decode(&self) -> bool {
        matches!(self, ReflectorError::Decode(_))
    }
}

/// What a [`Reflector`] lists and watches, and how.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReflectorOptions {
    /// Only this namespace; `None` (or `""`) means all namespaces. Leave it `None` for
    /// cluster-scoped resources. Used by the constructors that build the
    /// [`ListWatch`] from the type ([`Reflector::new`], `SharedInformer::new`); a given
    /// `ListWatch` has its own.
    pub namespace: Option<String>,
    /// Server-side label selector, e.g. `app=web` (as `namespace`, for the
    /// constructors that build the `ListWatch`).
    pub label_selector: Option<String>,
    /// Server-side field selector, e.g. `spec.nodeName=n1` (as `namespace`).
    pub field_selector: Option<String>,
    /// Page size of the initial list (`limit`); `None` lists in one response.
    /// Default 500, as client-go.
    pub page_size: Option<i64>,
    /// `timeoutSeconds` of each watch request: the server ends the watch after this and
    /// the reflector resumes it. `None` leaves it to the server. Default 5 minutes.
    pub watch_timeout: Option<Duration>,
    /// Sync with a WatchList (streamed initial events) instead of a list, falling back
    /// to list + watch if the server rejects it. Default off.
    pub watch_list: bool,
    /// Skip `metadata.managedFields` while decoding ([`WithoutManagedFields`]): the
    /// same result as the [`strip_managed_fields`](super::strip_managed_fields)
    /// transform, without building the fields first. Default off.
    pub decode_without_managed_fields: bool,
    /// First delay after an error. Default 800 ms.
    pub initial_backoff: Duration,
    /// Longest delay after repeated errors, before jitter (a delay may reach twice it).
    /// Default 30 s.
    pub max_backoff: Duration,
}

impl Default for ReflectorOptions {
    fn default() -> Self {
        ReflectorOptions {
            namespace: None,
            label_selector: None,
            field_selector: None,
            page_size: Some(500),
            watch_timeout: Some(Duration::from_secs(300)),
            watch_list: false,
            decode_without_managed_fields: false,
            initial_backoff: Duration::from_millis(800),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl ReflectorOptions {
    /// Only objects of `namespace` (`""`: all namespaces).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// Only objects matching this label selector (applied by the server).
    pub fn label_selector(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Only objects matching this field selector (applied by the server).
    pub fn field_selector(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    /// Page size of lists; `None` for unpaged.
    pub fn page_size(mut self, limit: Option<i64>) -> Self {
        self.page_size = limit.filter(|l| *l > 0);
        self
    }

    /// `timeoutSeconds` of each watch (rounded up to whole seconds); `None` for the
    /// server's default.
    pub fn watch_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.watch_timeout = timeout;
        self
    }

    /// Whether to sync with a WatchList (see the [module docs](self)).
    pub fn watch_list(mut self, enabled: bool) -> Self {
        self.watch_list = enabled;
        self
    }

    /// Whether to skip `metadata.managedFields` while decoding (see
    /// [`decode_without_managed_fields`](Self::decode_without_managed_fields)).
    pub fn skip_managed_fields(mut self, enabled: bool) -> Self {
        self.decode_without_managed_fields = enabled;
        self
    }

    /// Backoff after errors: first delay and cap.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    fn timeout_seconds(&self) -> Option<i64> {
        self.watch_timeout.map(|t| {
            let secs = t.as_secs() + u64::from(t.subsec_nanos() > 0);
            i64::try_from(secs.max(1)).unwrap_or(i64::MAX)
        })
    }
}

/// Sync progress shared between a reflector and its handles.
pub(crate) struct SyncState {
    synced: watch::Sender<bool>,
    last_rv: Mutex<String>,
    lists: AtomicU64,
    last_error: Mutex<Option<ReflectorError>>,
}

impl SyncState {
    fn new() -> Self {
        SyncState {
            synced: watch::Sender::new(false),
            last_rv: Mutex::new(String::new()),
            lists: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    fn set_rv(&self, rv: &str) {
        let mut last = self.last_rv.lock().unwrap_or_else(PoisonError::into_inner);
        last.clear();
        last.push_str(rv);
    }

    pub(crate) fn has_synced(&self) -> bool {
        *self.synced.borrow()
    }

    pub(crate) async fn wait_for_sync(&self) {
        let mut rx = self.synced.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = rx.wait_for(|s| *s).await;
    }

    pub(crate) fn last_rv(&self) -> String {
        self.last_rv.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub(crate) fn lists(&self) -> u64 {
        self.lists.load(Ordering::Relaxed)
    }

    /// Records why the last list or watch attempt failed.
    fn set_error(&self, why: ReflectorError) {
        *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
    }

    fn clear_error(&self) {
        let mut e = self.last_error.lock().unwrap_or_else(PoisonError::into_inner);
        if e.is_some() {
            *e = None;
        }
    }

    pub(crate) fn last_error(&self) -> Option<ReflectorError> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Lists and watches one resource into a [`Store`] (client-go `Reflector`).
pub struct Reflector<K> {
    lw: ListWatch<K>,
    options: ReflectorOptions,
    store: Store<K>,
    processor: Arc<Processor<K>>,
    state: Arc<SyncState>,
}

impl<K> std::fmt::Debug for Reflector<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reflector")
            .field("list_watch", &self.lw)
            .field("options", &self.options)
            .field("synced", &self.state.has_synced())
            .finish()
    }
}

/// How a watch stream ended.
enum WatchEnd {
    /// 410: relist.
    Gone,
    /// The stream ended; `events` were received in `elapsed`.
    Ended { events: u64, elapsed: Duration, failed: bool },
}

/// Why a WatchList did not sync.
enum WatchListFailure {
    /// The server does not support it: use list + watch from now on.
    Unsupported(String),
    /// A transient problem: back off and try again.
    Retry(ReflectorError),
}

/// One page of a list, items decoded as `D`.
#[derive(Deserialize)]
struct Page<D> {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: ListMeta,
    items: Option<Vec<D>>,
}

impl<D: DeserializeOwned + Send> crate::rest::list_decode::ItemList for Page<D> {
    type Item = D;
    fn set_items(&mut self, items: Vec<D>) {
        self.items = Some(items);
    }
    fn continue_token(&self) -> Option<&str> {
        self.metadata.continue_.as_deref()
    }
}

/// A watch shorter than this that delivered nothing counts as a failure (client-go
/// treats "very short watches" the same way), so a server closing watches at once does
/// not make the reflector spin.
const SHORT_WATCH: Duration = Duration::from_secs(1);

fn is_gone_status(s: &Status) -> bool {
    s.code == Some(410) || matches!(s.reason.as_deref(), Some("Expired") | Some("Gone"))
}

impl<K: CachedResource> Reflector<K> {
    /// A reflector filling `store` with `K`s from the server behind `client` (the
    /// request's group/version/resource come from `K`, namespace and selectors from
    /// `options`). Call [`run`](Self::run) or [`spawn`](Self::spawn) to start it.
    pub fn new(client: RESTClient, store: Store<K>, options: ReflectorOptions) -> Self {
        Self::with_list_watch(options.list_watch(client), store, options)
    }
}

impl ReflectorOptions {
    /// The [`ListWatch`] of `K` these options describe (namespace and selectors).
    pub(crate) fn list_watch<K: k8s_openapi::Resource>(&self, client: RESTClient) -> ListWatch<K> {
        let lw = ListWatch::new(client);
        let lw = match &self.namespace {
            Some(ns) => lw.namespace(ns.clone()),
            None => lw,
        };
        let lw = match &self.label_selector {
            Some(s) => lw.label_selector(s.clone()),
            None => lw,
        };
        match &self.field_selector {
            Some(s) => lw.field_selector(s.clone()),
            None => lw,
        }
    }
}

impl<K: ReflectedObject> Reflector<K> {
    /// A reflector filling `store` from `lw`, which says what is listed and watched
    /// (the namespace and selectors of `options` are not used: `lw` has its own).
    pub fn with_list_watch(lw: ListWatch<K>, store: Store<K>, options: ReflectorOptions) -> Self {
        let processor = Arc::new(Processor::new(lw.kind()));
        Self::with_processor(lw, store, options, processor)
    }

    pub(crate) fn with_processor(
        lw: ListWatch<K>,
        store: Store<K>,
        options: ReflectorOptions,
        processor: Arc<Processor<K>>,
    ) -> Self {
        Reflector { lw, options, store, processor, state: Arc::new(SyncState::new()) }
    }

    /// What this reflector lists and watches.
    pub fn list_watch(&self) -> &ListWatch<K> {
        &self.lw
    }

    /// Records, logs and hands on a failed attempt.
    fn report(&self, err: ReflectorError, wait: Duration) {
        tracing::warn!(kind = self.lw.kind(), ?wait, "{err}");
        self.state.set_error(err.clone());
        self.processor.error(&err);
    }

    /// The store this reflector fills.
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// The options.
    pub fn options(&self) -> &ReflectorOptions {
        &self.options
    }

    /// Whether the first list (or watch-list) has been stored (client-go `HasSynced`).
    pub fn has_synced(&self) -> bool {
        self.state.has_synced()
    }

    /// Waits until [`has_synced`](Self::has_synced) (client-go `WaitForCacheSync`).
    pub async fn wait_for_sync(&self) {
        self.state.wait_for_sync().await
    }

    /// The last resourceVersion seen from a list, event or bookmark
    /// (client-go `LastSyncResourceVersion`); empty before the first sync.
    pub fn last_sync_resource_version(&self) -> String {
        self.state.last_rv()
    }

    /// How many times the store was filled from a full list or watch-list: 1 after the
    /// first sync, more after relists (e.g. on 410 Gone).
    pub fn list_count(&self) -> u64 {
        self.state.lists()
    }

    /// Why the last list or watch attempt failed, until the next success (client-go
    /// logs these through `WatchErrorHandler`). Useful when
    /// [`wait_for_sync`](Self::wait_for_sync) takes long.
    pub fn last_error(&self) -> Option<ReflectorError> {
        self.state.last_error()
    }

    pub(crate) fn state(&self) -> &Arc<SyncState> {
        &self.state
    }

    /// Lists, replaces the store, and keeps it in step with watches. Never returns;
    /// drop the future to stop.
    pub async fn run(&self) {
        if self.options.decode_without_managed_fields {
            self.run_as::<WithoutManagedFields<K>>().await
        } else {
            self.run_as::<Plain<K>>().await
        }
    }

    /// [`run`](Self::run), decoding objects as `D`.
    async fn run_as<D: Unwrap<K>>(&self) {
        let mut backoff = Backoff::new(self.options.initial_backoff, self.options.max_backoff).with_jitter(1.0);
        let mut use_watch_list = self.options.watch_list;
        loop {
            let (rv, stream) = if use_watch_list {
                match self.watch_list::<D>().await {
                    Ok((rv, stream)) => (rv, Some(stream)),
                    Err(WatchListFailure::Unsupported(why)) => {
                        tracing::info!(
                            kind = self.lw.kind(),
                            "watch-list not supported ({why}); falling back to list + watch"
                        );
                        use_watch_list = false;
                        continue;
                    }
                    Err(WatchListFailure::Retry(why)) => {
                        let wait = backoff.next_delay();
                        self.report(why, wait);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            } else {
                match self.list::<D>().await {
                    Ok(rv) => (rv, None),
                    Err(e) => {
                        let wait = backoff.next_delay();
                        self.report(ReflectorError::List(Arc::new(e)), wait);
                        tokio::time::sleep(wait).await;
                        continue;
                    }
                }
            };
            backoff.reset();
            self.watch_until_gone(rv, stream, &mut backoff).await;
            tracing::info!(kind = self.lw.kind(), "resource version too old (410 Gone); relisting");
        }
    }

    /// Runs [`run`](Self::run) on a new tokio task; the task stops when the returned
    /// handle is dropped or [stopped](ReflectorHandle::stop).
    pub fn spawn(self) -> ReflectorHandle {
        let state = Arc::clone(&self.state);
        let task = tokio::spawn(async move { self.run().await });
        ReflectorHandle { task, state }
    }

    /// Lists all pages (the next page fetched while the current one decodes, see
    /// [`ListPager`]), each transformed as it arrives, replaces the store and returns
    /// the list's resourceVersion (the first page's).
    async fn list<D: Unwrap<K>>(&self) -> Result<String, Error> {
        let opts = ListOptions { limit: self.options.page_size, ..Default::default() };
        // `page_size: 0`: no limit unless the options set one.
        let pager = ListPager { page_size: 0, ..ListPager::default() };
        let mut items: Vec<K> = Vec::new();
        let mut rv: Option<String> = None;
        pager
            .each_page(
                &opts,
                |o| self.lw.request(o, false),
                |event: PageEvent<Page<D>>| match event {
                    PageEvent::Page(page) => {
                        rv.get_or_insert_with(|| page.metadata.resource_version.clone().unwrap_or_default());
                        let page_items = page.items.unwrap_or_default();
                        items.reserve(page_items.len());
                        let api_version = page.api_version.as_deref().unwrap_or_default();
                        let kind = page.kind.as_deref().unwrap_or_default();
                        let kind = kind.strip_suffix("List").unwrap_or(kind);
                        items.extend(page_items.into_iter().map(|o| {
                            let mut o = o.unwrap_object();
                            self.lw.fill_list_item(&mut o, api_version, kind);
                            self.store.transform_obj(o)
                        }));
                    }
                    PageEvent::Restart => {
                        items.clear();
                        rv = None;
                    }
                },
            )
            .await?;
        let rv = rv.unwrap_or_default();
        self.synced(items, &rv);
        Ok(rv)
    }

    /// Stores a full list and records the sync.
    fn synced(&self, items: Vec<K>, rv: &str) {
        let initial = !self.state.has_synced();
        self.processor.replace(&self.store, items, initial);
        self.state.set_rv(rv);
        self.state.lists.fetch_add(1, Ordering::Relaxed);
        self.state.clear_error();
        self.state.synced.send_replace(true);
    }

    /// Syncs with a WatchList; returns the end bookmark's resourceVersion and the
    /// stream, which continues as the watch.
    async fn watch_list<D: Unwrap<K>>(&self) -> Result<(String, WatchStream<D>), WatchListFailure> {
        let opts = ListOptions {
            allow_watch_bookmarks: Some(true),
            send_initial_events: Some(true),
            resource_version_match: Some("NotOlderThan".to_owned()),
            timeout_seconds: self.options.timeout_seconds(),
            ..Default::default()
        };
        let mut stream = match self.lw.request(&opts, true).watch::<D>().await {
            Ok(s) => s,
            Err(e) => {
                let transient =
                    e.is_gone() || e.is_too_many_requests() || e.code().is_none_or(|c| c >= 500 || c == 408);
                return Err(if transient {
                    WatchListFailure::Retry(ReflectorError::Watch(Arc::new(e)))
                } else {
                    WatchListFailure::Unsupported(e.to_string())
                });
            }
        };
        let mut items: Vec<K> = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    items.push(self.store.transform_obj(o.unwrap_object()))
                }
                Ok(WatchEvent::Deleted(o)) => {
                    if let Ok(key) = meta_namespace_key(&o.unwrap_object()) {
                        items.retain(|i| meta_namespace_key(i).is_ok_and(|k| k != key));
                    }
                }
                Ok(WatchEvent::Bookmark(b)) if b.is_initial_events_end() => {
                    self.synced(items, &b.resource_version);
                    return Ok((b.resource_version, stream));
                }
                Ok(WatchEvent::Bookmark(_)) => {}
                Ok(WatchEvent::Error(status)) => {
                    return Err(if is_gone_status(&status) {
                        WatchListFailure::Retry(ReflectorError::ErrorEvent(status))
                    } else {
                        WatchListFailure::Unsupported(format!(
                            "ERROR event: {}",
                            status.message.as_deref().unwrap_or_default()
                        ))
                    });
                }
                // An initial event that cannot be decoded fails the attempt, as one bad
                // item fails a list: syncing without it would hide the object.
                Err(e) => return Err(WatchListFailure::Retry(ReflectorError::from_stream(e))),
            }
        }
        Err(WatchListFailure::Retry(ReflectorError::WatchList(
            "the stream ended before the initial-events-end bookmark".to_owned(),
        )))
    }

    /// Watches from `rv`, resuming after each stream end, until a 410 Gone.
    async fn watch_until_gone<D: Unwrap<K>>(
        &self,
        mut rv: String,
        mut pending: Option<WatchStream<D>>,
        backoff: &mut Backoff,
    ) {
        loop {
            let stream = match pending.take() {
                Some(s) => s,
                None => {
                    let opts = ListOptions {
                        allow_watch_bookmarks: Some(true),
                        resource_version: Some(rv.clone()),
                        timeout_seconds: self.options.timeout_seconds(),
                        ..Default::default()
                    };
                    match self.lw.request(&opts, true).watch::<D>().await {
                        Ok(s) => s,
                        Err(e) if e.is_gone() => return,
                        Err(e) => {
                            let wait = backoff.next_delay();
                            self.report(ReflectorError::Watch(Arc::new(e)), wait);
                            tokio::time::sleep(wait).await;
                            continue;
                        }
                    }
                }
            };
            match self.consume(stream, &mut rv, backoff).await {
                WatchEnd::Gone => return,
                WatchEnd::Ended { events, elapsed, failed } => {
                    if failed || (events == 0 && elapsed < SHORT_WATCH) {
                        let wait = backoff.next_delay();
                        tracing::debug!(
                            kind = self.lw.kind(),
                            ?wait,
                            events,
                            ?elapsed,
                            "watch ended early; backing off"
                        );
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    }

    /// Applies a stream's events until it ends, advancing `rv`.
    async fn consume<D: Unwrap<K>>(
        &self,
        mut stream: WatchStream<D>,
        rv: &mut String,
        backoff: &mut Backoff,
    ) -> WatchEnd {
        let started = Instant::now();
        let mut events = 0u64;
        let mut failed = false;
        while let Some(event) = stream.next().await {
            let stored = match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    self.processor.upsert(&self.store, o.unwrap_object())
                }
                Ok(WatchEvent::Deleted(o)) => self.processor.delete(&self.store, o.unwrap_object()),
                Ok(WatchEvent::Bookmark(b)) => {
                    if !b.resource_version.is_empty() {
                        *rv = b.resource_version;
                        self.state.set_rv(rv);
                    }
                    continue;
                }
                Ok(WatchEvent::Error(status)) => {
                    if is_gone_status(&status) {
                        return WatchEnd::Gone;
                    }
                    self.report(ReflectorError::ErrorEvent(status), Duration::ZERO);
                    failed = true;
                    break;
                }
                Err(e) => {
                    if e.is_gone() {
                        return WatchEnd::Gone;
                    }
                    self.report(ReflectorError::from_stream(e), Duration::ZERO);
                    failed = true;
                    continue;
                }
            };
            match stored {
                Ok(obj) => {
                    if events == 0 {
                        self.state.clear_error();
                    }
                    events += 1;
                    backoff.reset();
                    if let Some(v) = obj.resource_version().filter(|v| !v.is_empty()) {
                        rv.clear();
                        rv.push_str(v);
                        self.state.set_rv(rv);
                    }
                }
                Err(e) => self.report(ReflectorError::Store(e), Duration::ZERO),
            }
        }
        WatchEnd::Ended { events, elapsed: started.elapsed(), failed }
    }
}

/// A reflector running on its own task. Dropping the handle stops it.
#[derive(Debug)]
#[must_use = "the reflector stops when its handle is dropped"]
pub struct ReflectorHandle {
    task: tokio::task::JoinHandle<()>,
    state: Arc<SyncState>,
}

impl ReflectorHandle {
    /// Whether the first list has been stored.
    pub fn has_synced(&self) -> bool {
        self.state.has_synced()
    }

    /// Waits until the first list has been stored.
    pub async fn wait_for_sync(&self) {
        self.state.wait_for_sync().await
    }

    /// The last resourceVersion seen.
    pub fn last_sync_resource_version(&self) -> String {
        self.state.last_rv()
    }

    /// How many full lists (or watch-lists) have been stored.
    pub fn list_count(&self) -> u64 {
        self.state.lists()
    }

    /// Why the last list or watch attempt failed, until the next success.
    pub fn last_error(&self) -> Option<ReflectorError> {
        self.state.last_error()
    }

    /// Stops the reflector (same as dropping the handle).
    pub fn stop(self) {}
}

impl Drop for ReflectorHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for SyncState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncState").field("synced", &self.has_synced()).field("last_rv", &self.last_rv()).finish()
    }
}
