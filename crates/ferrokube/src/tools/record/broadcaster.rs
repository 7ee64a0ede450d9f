//! The core/v1 event pipeline (client-go `tools/record/event.go`): recorders hand
//! events to an [`EventBroadcaster`], which fans them out to its watchers — a sink
//! writer, a logger, any handler — each behind its own bounded queue.
//!
//! Recording never waits: a recorder builds the Event and offers it to each watcher's
//! queue (client-go's length, 1000); a full queue drops the event and counts it
//! ([`EventBroadcaster::dropped_events`], [`EventWatcher::stats`]). The sink writer
//! runs every event through its own [`EventCorrelator`] and writes the outcome: a
//! create, or a strategic merge patch of an Event it wrote before. Failed writes that
//! never reached the server are retried up to 12 times, 10 s apart (the first wait
//! randomised); events the server rejects are not retried.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::correlator::{CorrelatorOptions, EventCorrelator};
use super::sink::EventSink;
use super::util::{
    classify_write_error, generate_event_name, is_key_not_found_error, log_rejected, random_unit, unix_nanos, Clock,
    EventType, RealClock, WriteFailure,
};

/// client-go `maxQueuedEvents`: events a watcher's queue holds before new ones drop.
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// client-go `maxTriesPerEvent`: attempts to write one event.
pub const MAX_TRIES_PER_EVENT: u32 = 12;
/// client-go `defaultSleepDuration`: the wait between attempts to write an event.
pub const DEFAULT_SLEEP_DURATION: Duration = Duration::from_secs(10);

/// Settings of an [`EventBroadcaster`] (client-go's `BroadcasterOption`s).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct BroadcasterOptions {
    /// Tuning of the sink writer's correlator (client-go `WithCorrelatorOptions`).
    pub correlator_options: CorrelatorOptions,
    /// Wait between attempts to write an event (client-go `WithSleepDuration`, 10 s).
    pub sleep_duration: Duration,
    /// Length of each watcher's queue (client-go: 1000, not configurable there).
    pub queue_length: usize,
}

impl Default for BroadcasterOptions {
    fn default() -> Self {
        BroadcasterOptions {
            correlator_options: CorrelatorOptions::default(),
            sleep_duration: DEFAULT_SLEEP_DURATION,
            queue_length: MAX_QUEUED_EVENTS,
        }
    }
}

/// Counters of one watcher, updated as events flow.
#[derive(Debug, Default)]
struct Counters {
    dropped: AtomicU64,
    delivered: AtomicU64,
    skipped: AtomicU64,
    written: AtomicU64,
    failed: AtomicU64,
}

/// A snapshot of what a watcher did with the events offered to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventWatcherStats {
    /// Events dropped because the watcher's queue was full.
    pub dropped: u64,
    /// Events taken from the queue and handled.
    pub delivered: u64,
    /// Sink writers: events the spam filter dropped.
    pub skipped: u64,
    /// Sink writers: events written (created or patched).
    pub written: u64,
    /// Sink writers: events given up on (rejected, or retries exhausted).
    pub failed: u64,
}

struct Watcher {
    id: u64,
    tx: mpsc::Sender<Arc<Event>>,
    counters: Arc<Counters>,
}

struct Inner {
    watchers: Mutex<Vec<Watcher>>,
    next_id: AtomicU64,
    dropped: AtomicU64,
    options: BroadcasterOptions,
    shutdown: CancellationToken,
}

impl Inner {
    /// Offers `event` to every watcher without waiting (client-go `ActionOrDrop`).
    fn action_or_drop(&self, event: Event) {
        if self.shutdown.is_cancelled() {
            tracing::debug!("event broadcaster is shut down; event discarded");
            return;
        }
        let event = Arc::new(event);
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        watchers.retain(|w| match w.tx.try_send(Arc::clone(&event)) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                w.counters.dropped.fetch_add(1, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    reason = event.reason.as_deref().unwrap_or(""),
                    "unable to record event: too many queued events, dropped event"
                );
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    }

    fn add_watcher(&self) -> (u64, mpsc::Receiver<Arc<Event>>, Arc<Counters>) {
        let (tx, rx) = mpsc::channel(self.options.queue_length.max(1));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let counters = Arc::new(Counters::default());
        let watcher = Watcher { id, tx, counters: Arc::clone(&counters) };
        self.watchers.lock().unwrap_or_else(|e| e.into_inner()).push(watcher);
        (id, rx, counters)
    }

    fn remove_watcher(&self, id: u64) {
        self.watchers.lock().unwrap_or_else(|e| e.into_inner()).retain(|w| w.id != id);
    }
}

/// Distributes recorded events to watchers (client-go `record.EventBroadcaster`).
/// Cheap to clone; clones share the watchers. Needs a tokio runtime to start
/// watchers; recording works from any thread.
#[derive(Clone)]
pub struct EventBroadcaster {
    inner: Arc<Inner>,
}

impl fmt::Debug for EventBroadcaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBroadcaster")
            .field("options", &self.inner.options)
            .field("dropped_events", &self.dropped_events())
            .finish_non_exhaustive()
    }
}

impl Default for EventBroadcaster {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBroadcaster {
    /// A broadcaster with client-go's defaults (client-go `NewBroadcaster`).
    pub fn new() -> Self {
        Self::with_options(BroadcasterOptions::default())
    }

    /// A broadcaster with `options`.
    pub fn with_options(options: BroadcasterOptions) -> Self {
        EventBroadcaster {
            inner: Arc::new(Inner {
                watchers: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
                options,
                shutdown: CancellationToken::new(),
            }),
        }
    }

    /// A recorder whose events come from `source` (client-go `NewRecorder`).
    pub fn new_recorder(&self, source: EventSource) -> EventRecorder {
        EventRecorder { inner: Arc::clone(&self.inner), source, clock: Arc::new(RealClock) }
    }

    /// Writes events to `sink` through a correlator (client-go `StartRecordingToSink`).
    /// Must be called within a tokio runtime.
    pub fn start_recording_to_sink<S: EventSink>(&self, sink: S) -> EventWatcher {
        let (id, rx, counters) = self.inner.add_watcher();
        let correlator = EventCorrelator::with_options(self.inner.options.correlator_options.clone());
        let writer = SinkWriter {
            sink,
            correlator,
            counters: Arc::clone(&counters),
            sleep_duration: self.inner.options.sleep_duration,
            shutdown: self.inner.shutdown.clone(),
        };
        let stop = self.inner.shutdown.child_token();
        tokio::spawn(writer.run(rx, stop.clone()));
        EventWatcher { id, inner: Arc::clone(&self.inner), counters, stop }
    }

    /// Calls `handler` with every event, in order, on a task of its own (client-go
    /// `StartEventWatcher`). Must be called within a tokio runtime.
    pub fn start_event_watcher(&self, mut handler: impl FnMut(&Event) + Send + 'static) -> EventWatcher {
        let (id, mut rx, counters) = self.inner.add_watcher();
        let stop = self.inner.shutdown.child_token();
        let task_stop = stop.clone();
        let task_counters = Arc::clone(&counters);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    biased;
                    _ = task_stop.cancelled() => return,
                    event = rx.recv() => match event { Some(e) => e, None => return },
                };
                task_counters.delivered.fetch_add(1, Ordering::Relaxed);
                handler(&event);
            }
        });
        EventWatcher { id, inner: Arc::clone(&self.inner), counters, stop }
    }

    /// Passes a one-line description of every event to `logf` (client-go
    /// `StartLogging`).
    pub fn start_logging(&self, logf: impl Fn(&str) + Send + 'static) -> EventWatcher {
        self.start_event_watcher(move |e| {
            let o = &e.involved_object;
            logf(&format!(
                "Event(kind={:?}, namespace={:?}, name={:?}): type: '{}' reason: '{}' {}",
                o.kind.as_deref().unwrap_or(""),
                o.namespace.as_deref().unwrap_or(""),
                o.name.as_deref().unwrap_or(""),
                e.type_.as_deref().unwrap_or(""),
                e.reason.as_deref().unwrap_or(""),
                e.message.as_deref().unwrap_or("")
            ))
        })
    }

    /// Logs every event through `tracing` at info level (client-go
    /// `StartStructuredLogging`).
    pub fn start_structured_logging(&self) -> EventWatcher {
        self.start_event_watcher(|e| {
            let o = &e.involved_object;
            tracing::info!(
                object = %format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name.as_deref().unwrap_or("")),
                kind = o.kind.as_deref().unwrap_or(""),
                api_version = o.api_version.as_deref().unwrap_or(""),
                field_path = o.field_path.as_deref().unwrap_or(""),
                type_ = e.type_.as_deref().unwrap_or(""),
                reason = e.reason.as_deref().unwrap_or(""),
                message = e.message.as_deref().unwrap_or(""),
                "event occurred"
            );
        })
    }

    /// Events dropped so far because a watcher's queue was full, over all watchers.
    pub fn dropped_events(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Stops all watchers; events still queued are not written, later ones are
    /// discarded (client-go `Shutdown`).
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
        self.inner.watchers.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// A watcher started on an [`EventBroadcaster`]. Dropping it leaves the watcher
/// running; [`stop`](Self::stop) ends it.
pub struct EventWatcher {
    id: u64,
    inner: Arc<Inner>,
    counters: Arc<Counters>,
    stop: CancellationToken,
}

impl fmt::Debug for EventWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWatcher").field("id", &self.id).field("stats", &self.stats()).finish()
    }
}

impl EventWatcher {
    /// What the watcher did so far.
    pub fn stats(&self) -> EventWatcherStats {
        let c = &self.counters;
        EventWatcherStats {
            dropped: c.dropped.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    /// Stops the watcher; events still in its queue are not handled.
    pub fn stop(&self) {
        self.inner.remove_watcher(self.id);
        self.stop.cancel();
    }
}

/// Writes one watcher's events to a sink.
struct SinkWriter<S> {
    sink: S,
    correlator: EventCorrelator,
    counters: Arc<Counters>,
    sleep_duration: Duration,
    shutdown: CancellationToken,
}

impl<S: EventSink> SinkWriter<S> {
    async fn run(mut self, mut rx: mpsc::Receiver<Arc<Event>>, stop: CancellationToken) {
        loop {
            let event = tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                event = rx.recv() => match event { Some(e) => e, None => return },
            };
            self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            self.record_to_sink(&event, &stop).await;
        }
    }

    /// Correlates `event` and writes the outcome, retrying as client-go's
    /// `recordToSink`.
    async fn record_to_sink(&mut self, event: &Event, stop: &CancellationToken) {
        let result = self.correlator.event_correlate(event);
        if result.skip {
            self.counters.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut event = result.event;
        let update_existing = event.count.unwrap_or(0) > 1;
        let mut tries = 0;
        loop {
            match self.record_event(&mut event, result.patch.as_ref(), update_existing).await {
                Ok(()) => {
                    self.counters.written.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(WriteFailure::GiveUp) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(WriteFailure::Retry) => {}
            }
            tries += 1;
            if tries >= MAX_TRIES_PER_EVENT {
                tracing::error!(
                    reason = event.reason.as_deref().unwrap_or(""),
                    "unable to write event (retry limit exceeded)"
                );
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The first wait is randomised so that many writers do not retry together.
            let delay = if tries == 1 { self.sleep_duration.mul_f64(random_unit()) } else { self.sleep_duration };
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One write: a patch for a repeat (falling back to a create when the Event is
    /// gone), else a create (client-go `recordEvent`).
    async fn record_event(
        &mut self,
        event: &mut Event,
        patch: Option<&serde_json::Value>,
        update_existing: bool,
    ) -> Result<(), WriteFailure> {
        let mut result = None;
        if let (true, Some(patch)) = (update_existing, patch) {
            result = Some(self.sink.patch(event, patch).await);
        }
        let must_create = match &result {
            None => true,
            Some(Err(e)) => is_key_not_found_error(e),
            Some(Ok(_)) => false,
        };
        if must_create {
            event.metadata.resource_version = None;
            result = Some(self.sink.create(event).await);
        }
        match result {
            Some(Ok(stored)) => {
                self.correlator.update_state(&stored);
                Ok(())
            }
            Some(Err(e)) => {
                let what = event.reason.as_deref().unwrap_or("");
                match classify_write_error(&e) {
                    WriteFailure::GiveUp => {
                        log_rejected(&e, what);
                        Err(WriteFailure::GiveUp)
                    }
                    WriteFailure::Retry => {
                        tracing::warn!(error = %e, event = what, "unable to write event (may retry after sleeping)");
                        Err(WriteFailure::Retry)
                    }
                }
            }
            None => Err(WriteFailure::GiveUp),
        }
    }
}

/// Records core/v1 Events about objects (client-go `record.EventRecorder`). Cheap to
/// clone. Every method returns at once: the event is queued to the broadcaster's
/// watchers, or dropped and counted when a queue is full.
#[derive(Clone)]
pub struct EventRecorder {
    inner: Arc<Inner>,
    source: EventSource,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRecorder").field("source", &self.source).finish_non_exhaustive()
    }
}

impl EventRecorder {
    /// Records an event about `object` (client-go `Event`). `reason` is a short
    /// UpperCamelCase word machines can match on; `message` is for humans.
    pub fn event(&self, object: &ObjectReference, event_type: EventType, reason: &str, message: &str) {
        self.generate_event(object, None, event_type, reason, message.to_owned());
    }

    /// Records an event with a formatted message (client-go `Eventf`):
    /// `recorder.eventf(&r, EventType::Normal, "Scaled", format_args!("to {n}"))`.
    pub fn eventf(&self, object: &ObjectReference, event_type: EventType, reason: &str, message: fmt::Arguments<'_>) {
        self.generate_event(object, None, event_type, reason, message.to_string());
    }

    /// Records an event that carries `annotations` (client-go `AnnotatedEventf`).
    pub fn annotated_eventf(
        &self,
        object: &ObjectReference,
        annotations: BTreeMap<String, String>,
        event_type: EventType,
        reason: &str,
        message: fmt::Arguments<'_>,
    ) {
        self.generate_event(object, Some(annotations), event_type, reason, message.to_string());
    }

    fn generate_event(
        &self,
        object: &ObjectReference,
        annotations: Option<BTreeMap<String, String>>,
        event_type: EventType,
        reason: &str,
        message: String,
    ) {
        let mut event = make_event(self.clock.now(), object, annotations, event_type, reason, message);
        event.source = Some(self.source.clone());
        event.reporting_instance = self.source.host.clone();
        event.reporting_component = self.source.component.clone();
        self.inner.action_or_drop(event);
    }
}

/// A new Event about `object` (client-go `makeEvent`): named after the object and the
/// time, in the object's namespace (`default` for cluster-scoped objects), count 1.
fn make_event(
    now: jiff::Timestamp,
    object: &ObjectReference,
    annotations: Option<BTreeMap<String, String>>,
    event_type: EventType,
    reason: &str,
    message: String,
) -> Event {
    let namespace = object.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_owned());
    Event {
        metadata: ObjectMeta {
            name: Some(generate_event_name(object.name.as_deref().unwrap_or(""), unix_nanos(now))),
            namespace: Some(namespace),
            annotations,
            ..Default::default()
        },
        involved_object: object.clone(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        type_: Some(event_type.as_str().to_owned()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_client_go_s() {
        let o = BroadcasterOptions::default();
        assert_eq!(o.queue_length, 1000);
        assert_eq!(o.sleep_duration, Duration::from_secs(10));
        assert_eq!(MAX_TRIES_PER_EVENT, 12);
    }

    #[test]
    fn events_are_named_after_the_object_and_live_in_its_namespace() {
        let now: jiff::Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let node = ObjectReference { kind: Some("Node".into()), name: Some("n1".into()), ..Default::default() };
        let e = make_event(now, &node, None, EventType::Warning, "Rebooted", "m".into());
        assert_eq!(e.metadata.namespace.as_deref(), Some("default"));
        assert_eq!(e.metadata.name, Some(format!("n1.{:x}", now.as_nanosecond())));
        assert_eq!(e.type_.as_deref(), Some("Warning"));
        assert_eq!(e.count, Some(1));
    }

    #[tokio::test]
    async fn recording_without_watchers_or_after_shutdown_does_nothing() {
        let b = EventBroadcaster::new();
        let r = b.new_recorder(EventSource { component: Some("c".into()), host: None });
        let pod = ObjectReference { name: Some("p".into()), ..Default::default() };
        r.event(&pod, EventType::Normal, "R", "m");
        let (tx, mut rx) = mpsc::unbounded_channel();
        let w = b.start_event_watcher(move |e| {
            let _ = tx.send(e.message.clone());
        });
        r.eventf(&pod, EventType::Normal, "R", format_args!("n={}", 2));
        assert_eq!(rx.recv().await, Some(Some("n=2".to_owned())));
        assert_eq!(w.stats().delivered, 1);
        b.shutdown();
        r.event(&pod, EventType::Normal, "R", "late");
        assert_eq!(rx.recv().await, None, "the watcher ends on shutdown");
        assert_eq!(b.dropped_events(), 0);
    }

    /// A sink that fails every write as if the server could not be reached, and logs
    /// when it was called.
    struct Unreachable(Arc<Mutex<Vec<tokio::time::Instant>>>);

    impl EventSink for Unreachable {
        async fn create(&self, _: &Event) -> Result<Event, crate::rest::Error> {
            self.0.lock().unwrap().push(tokio::time::Instant::now());
            Err(crate::rest::Error::Timeout {
                request: crate::rest::RequestInfo { verb: "POST".into(), url: "https://x/api/v1/events".into() },
                after: Duration::from_secs(1),
                previous: None,
            })
        }
        async fn update(&self, e: &Event) -> Result<Event, crate::rest::Error> {
            self.create(e).await
        }
        async fn patch(&self, e: &Event, _: &serde_json::Value) -> Result<Event, crate::rest::Error> {
            self.create(e).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn unreachable_servers_are_retried_12_times_10_s_apart_after_a_random_first_wait() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let b = EventBroadcaster::new();
        let w = b.start_recording_to_sink(Unreachable(calls.clone()));
        let r = b.new_recorder(EventSource { component: Some("c".into()), host: None });
        r.event(&ObjectReference { name: Some("p".into()), ..Default::default() }, EventType::Normal, "R", "m");
        while w.stats().failed == 0 {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 12);
        let gaps: Vec<_> = calls.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps[0] <= Duration::from_secs(10), "{gaps:?}");
        assert!(gaps[1..].iter().all(|g| *g == Duration::from_secs(10)), "{gaps:?}");
        assert_eq!(w.stats(), EventWatcherStats { delivered: 1, failed: 1, ..Default::default() });
    }
}
