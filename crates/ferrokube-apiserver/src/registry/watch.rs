//! Watch: a stream of ADDED/MODIFIED/DELETED events from a resourceVersion, with
//! synthetic initial events, bookmarks, WatchList (`sendInitialEvents`), selectors and
//! `timeoutSeconds`, as kube-apiserver's watch cache serves it.
//!
//! The store hands out a snapshot or a backlog of past events plus a channel of live
//! ones; this module filters them per watcher (an object that starts matching the
//! selectors is ADDED, one that stops matching is DELETED), interleaves bookmarks, and
//! ends the stream on timeout, on a too-old resourceVersion (one ERROR event with a 410
//! Expired `Status`) or when the store drops a watcher that fell behind.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{Instant, Interval};

use super::errors;
use super::list::{parse_watch_rv, validate_list_options};
use super::meta::{self, resource_key};
use super::selectors::Filter;
use super::{namespace_prefix, Registry};
use crate::api::{ApiRequest, ApiResponse, ApiResult, ResourceInfo, WatchEvent};
use crate::storage::{Backlog, EventType, Snapshot, Store, StoreError, StoredEvent, WatchStart};

/// Annotation of the BOOKMARK that ends the initial events of a WatchList.
pub const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// A stored object as a watch event carries it: at the watched version, with a custom
/// resource's read-time defaults.
fn shared_view(
    obj: &Arc<Value>,
    info: &ResourceInfo,
    defaults: Option<&crate::apiextensions::schema::Schema>,
) -> Arc<Value> {
    match defaults {
        Some(schema) if !obj.is_null() => {
            let mut v = meta::owned_for(obj, info);
            schema.apply_defaults(&mut v);
            Arc::new(v)
        }
        _ => meta::shared_for(obj, info),
    }
}

struct WatchState {
    /// The objects the watch starts from (initial events), then the store's recorded
    /// events it resumes with: taken one at a time, so their trees are decoded as sent.
    snapshot: Snapshot,
    /// The resourceVersion of the bookmark marking the end of the initial events, when
    /// the client asked for one.
    initial_end_bookmark: Option<u64>,
    backlog: Backlog,
    pending: VecDeque<WatchEvent>,
    rx: mpsc::Receiver<Arc<StoredEvent>>,
    info: Arc<ResourceInfo>,
    /// A custom resource's schema, whose defaults apply to objects as they are read.
    defaults: Option<Arc<crate::apiextensions::schema::Schema>>,
    filter: Filter,
    store: Arc<Store>,
    bookmarks: Option<Interval>,
    deadline: Option<Instant>,
    last_rv: u64,
    /// Events at or below this resourceVersion are skipped (a watch from a
    /// resourceVersion newer than the store's starts after it).
    min_rv: u64,
}

fn bookmark(info: &ResourceInfo, rv: u64, initial_end: bool) -> WatchEvent {
    let mut md = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        md["annotations"] = json!({ INITIAL_EVENTS_END: "true" });
    }
    WatchEvent {
        event_type: "BOOKMARK",
        object: Arc::new(json!({"kind": info.kind, "apiVersion": info.api_version(), "metadata": md})),
    }
}

impl WatchState {
    /// Turns a store event into what this watcher sees (if anything).
    fn translate(&mut self, e: &StoredEvent) -> Option<WatchEvent> {
        if e.rv <= self.min_rv {
            return None;
        }
        self.last_rv = self.last_rv.max(e.rv);
        let (cur, old) = if self.filter.is_empty() {
            (e.event_type != EventType::Deleted, e.event_type != EventType::Added)
        } else {
            (
                e.event_type != EventType::Deleted && self.filter.matches(&e.object),
                e.prev.as_ref().is_some_and(|p| self.filter.matches(p)),
            )
        };
        let (event_type, object) = match (cur, old) {
            (false, false) => return None,
            (true, false) => ("ADDED", Arc::clone(&e.object)),
            (true, true) => ("MODIFIED", Arc::clone(&e.object)),
            (false, true) => {
                if e.event_type == EventType::Deleted {
                    ("DELETED", Arc::clone(&e.object))
                } else {
                    // Stopped matching: the previous state, at this event's version.
                    let mut prev = e.prev.as_deref().cloned().unwrap_or(Value::Null);
                    meta::meta_mut(&mut prev).insert("resourceVersion".into(), json!(e.rv.to_string()));
                    ("DELETED", Arc::new(prev))
                }
            }
        };
        Some(WatchEvent { event_type, object: shared_view(&object, &self.info, self.defaults.as_deref()) })
    }

    fn push(&mut self, e: &StoredEvent) {
        if let Some(ev) = self.translate(e) {
            self.pending.push_back(ev);
        }
    }

    /// Queues the next initial event or resumed event, if any is left; false when the
    /// watch is down to live events.
    fn queue_next_start(&mut self) -> bool {
        for obj in self.snapshot.by_ref() {
            if self.filter.matches(&obj) {
                let object = shared_view(&obj, &self.info, self.defaults.as_deref());
                self.pending.push_back(WatchEvent { event_type: "ADDED", object });
                return true;
            }
        }
        if let Some(rv) = self.initial_end_bookmark.take() {
            self.pending.push_back(bookmark(&self.info, rv, true));
            return true;
        }
        if let Some(e) = self.backlog.next() {
            self.push(&e);
            return true;
        }
        false
    }

    /// Queues everything already delivered by the store, then a bookmark at a version
    /// no event of this watcher is still pending under. Called only once the initial
    /// and resumed events are all queued.
    fn queue_bookmark(&mut self) {
        let current = self.store.current_rv();
        while let Ok(e) = self.rx.try_recv() {
            self.push(&e);
        }
        let rv = current.max(self.last_rv);
        self.pending.push_back(bookmark(&self.info, rv, false));
    }
}

async fn next_event(mut st: WatchState) -> Option<(WatchEvent, WatchState)> {
    loop {
        if let Some(ev) = st.pending.pop_front() {
            return Some((ev, st));
        }
        if st.queue_next_start() {
            continue;
        }
        let deadline = st.deadline;
        let timeout = async move {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        let bookmarks = &mut st.bookmarks;
        let rx = &mut st.rx;
        let tick = async move {
            match bookmarks {
                Some(i) => {
                    i.tick().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        enum Next {
            Timeout,
            Event(Option<Arc<StoredEvent>>),
            Tick,
        }
        let next = tokio::select! {
            biased;
            _ = timeout => Next::Timeout,
            e = rx.recv() => Next::Event(e),
            _ = tick => Next::Tick,
        };
        match next {
            Next::Timeout => return None,
            Next::Event(Some(e)) => st.push(&e),
            Next::Event(None) => return None,
            Next::Tick => st.queue_bookmark(),
        }
    }
}

fn parse_bool(req: &ApiRequest, key: &str) -> Option<bool> {
    super::list::query_bool(req, key)
}

impl Registry {
    pub(crate) fn watch(&self, req: &ApiRequest) -> ApiResult {
        let info = Arc::clone(&req.resource);
        if req.subresource.is_some() {
            return Err(errors::method_not_allowed());
        }
        validate_list_options(req, true)?;
        let mut filter = Filter::from_request(req)?;
        if let Some(name) = req.name.as_deref().filter(|n| !n.is_empty()) {
            // Legacy `/watch/.../name` paths, if passed through with a name.
            filter.fields.terms.push(crate::registry::selectors::field::FieldTerm {
                field: "metadata.name".into(),
                negate: false,
                value: name.to_owned(),
            });
        }
        let rv = req.query_param("resourceVersion").unwrap_or("");
        let send_initial = parse_bool(req, "sendInitialEvents");
        let allow_bookmarks = parse_bool(req, "allowWatchBookmarks").unwrap_or(false);
        let timeout = match super::list::query_int64(req, "timeoutSeconds")? {
            None => None,
            Some(secs) => {
                let secs = u64::try_from(secs).unwrap_or(0);
                // 0 means the server's default (no limit here; the front end bounds
                // connections).
                (secs > 0).then(|| Duration::from_secs(secs))
            }
        };
        let start = match (send_initial, rv) {
            (Some(true), _) => WatchStart::Snapshot,
            (Some(false), "") | (Some(false), "0") => WatchStart::Now,
            (None, "") | (None, "0") => WatchStart::Snapshot,
            (_, r) => WatchStart::After(parse_watch_rv(r)?),
        };
        let prefix = namespace_prefix(req);
        let res = resource_key(&info);
        let reg = match self.store.watch(&res, prefix.as_deref(), start) {
            Ok(r) => r,
            Err(StoreError::Expired { requested, oldest }) => {
                let status = errors::expired(format!("too old resource version: {requested} ({oldest})")).to_status();
                let ev = WatchEvent { event_type: "ERROR", object: Arc::new(status) };
                return Ok(ApiResponse::Watch(Box::pin(stream::iter([ev]))));
            }
            Err(e) => return Err(errors::internal(&e.to_string())),
        };
        let bookmarks = allow_bookmarks.then(|| {
            let period = self.bookmark_interval.max(Duration::from_millis(1));
            let first = Instant::now().checked_add(period).unwrap_or_else(Instant::now);
            let mut interval = tokio::time::interval_at(first, period);
            // A client that stopped reading gets one bookmark when it resumes, not a burst.
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        let st = WatchState {
            snapshot: reg.snapshot,
            // As kube-apiserver: the end of the initial events is marked only for clients
            // that accept bookmarks (client-go's WatchList always does).
            initial_end_bookmark: (send_initial == Some(true) && allow_bookmarks).then_some(reg.rv),
            backlog: reg.backlog,
            pending: VecDeque::new(),
            rx: reg.receiver,
            info: Arc::clone(&info),
            defaults: self.read_defaults(&info),
            filter,
            store: self.shared_store(),
            bookmarks,
            // An absurdly large timeout is no timeout (and must not overflow).
            deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
            last_rv: match start {
                WatchStart::After(r) => r,
                _ => reg.rv,
            },
            min_rv: match start {
                WatchStart::After(r) => r,
                _ => 0,
            },
        };
        Ok(ApiResponse::Watch(Box::pin(stream::unfold(st, next_event))))
    }
}
