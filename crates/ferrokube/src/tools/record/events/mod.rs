//! `events.k8s.io/v1` recording (client-go `tools/events`), the newer Event API with
//! `regarding`/`related` objects, an `action`, a `note` and event *series*.
//!
//! Isomorphic events — same type, reason, action, reporting controller and instance,
//! regarding and related objects; the note may differ — recorded within 6 minutes of
//! each other become one series: the first is created as an Event; the second patches
//! it with `series: {count: 2, lastObservedTime}`; later ones only raise the count in
//! the broadcaster's cache. Every 30 minutes the cached series are written again, and
//! a series not observed for 6 minutes is written a last time and forgotten (so the
//! next isomorphic event starts a new Event). Writes go through a bounded queue
//! (1000 events, dropped and counted when full) served by 8 workers; recording never
//! waits.
//!
//! client-go's `EventBroadcasterAdapter` (choosing between this API and core/v1 by
//! discovery) is not included: use [`super::EventBroadcaster`] for core/v1 Events.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::util::{
    classify_write_error, generate_event_name, hostname, is_key_not_found_error, log_rejected, unix_nanos, Clock,
    EventType, RealClock, WriteFailure,
};
/// Where this module's broadcaster writes: [`EventSink<Event>`](EventSink) of
/// `events.k8s.io/v1` Events (client-go `events.EventSink`); [`EventSinkImpl`] writes them
/// through a clientset. One sink serves both Event APIs (see [`super::sink`]).
pub use super::{EventSink, EventSinkImpl};

/// client-go `maxTriesPerEvent`.
pub const MAX_TRIES_PER_EVENT: u32 = 12;
/// client-go `finishTime`: a series not observed for this long is finished.
pub const FINISH_TIME: Duration = Duration::from_secs(6 * 60);
/// client-go `refreshTime`: how often ongoing series are written again.
pub const REFRESH_TIME: Duration = Duration::from_secs(30 * 60);
/// client-go `maxQueuedEvents`.
pub const MAX_QUEUED_EVENTS: usize = 1000;
/// client-go `recordWorkers`: concurrent writers.
pub const RECORD_WORKERS: usize = 8;
/// client-go `defaultSleepDuration`: base wait between attempts (with 25 % jitter).
pub const DEFAULT_SLEEP_DURATION: Duration = Duration::from_secs(10);

/// Settings of an [`EventBroadcaster`]. The defaults are client-go's constants.
#[derive(Clone)]
#[non_exhaustive]
pub struct BroadcasterOptions {
    /// Base wait between attempts to write an event (10 s, jittered by 25 %).
    pub sleep_duration: Duration,
    /// Length of the write queue (1000).
    pub queue_length: usize,
    /// Concurrent writers (8).
    pub workers: usize,
    /// A series not observed for this long is finished (6 minutes).
    pub finish_time: Duration,
    /// How often ongoing series are written again (30 minutes).
    pub refresh_time: Duration,
    /// The clock for event times and series ages (the system clock).
    pub clock: Arc<dyn Clock>,
}

impl Default for BroadcasterOptions {
    fn default() -> Self {
        BroadcasterOptions {
            sleep_duration: DEFAULT_SLEEP_DURATION,
            queue_length: MAX_QUEUED_EVENTS,
            workers: RECORD_WORKERS,
            finish_time: FINISH_TIME,
            refresh_time: REFRESH_TIME,
            clock: Arc::new(RealClock),
        }
    }
}

impl fmt::Debug for BroadcasterOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcasterOptions")
            .field("sleep_duration", &self.sleep_duration)
            .field("queue_length", &self.queue_length)
            .field("workers", &self.workers)
            .field("finish_time", &self.finish_time)
            .field("refresh_time", &self.refresh_time)
            .finish_non_exhaustive()
    }
}

/// `start_recording_to_sink` was called twice.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("broadcaster is already recording to a sink")]
#[non_exhaustive]
pub struct AlreadyRecordingError;

/// What the recorders share: the series cache and the write queue.
struct Shared {
    /// Isomorphic key -> the Event as last queued, with its series.
    cache: Mutex<HashMap<String, Event>>,
    tx: mpsc::Sender<Event>,
    rx: Mutex<Option<mpsc::Receiver<Event>>>,
    recording: AtomicBool,
    dropped: AtomicU64,
    options: BroadcasterOptions,
    stop: Mutex<Option<CancellationToken>>,
}

impl Shared {
    fn cache(&self) -> MutexGuard<'_, HashMap<String, Event>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds `event` into its series and queues what must be written (client-go
    /// `recordToSink`).
    fn record(&self, event: Event) {
        if !self.recording.load(Ordering::Acquire) {
            tracing::debug!("events broadcaster is not recording; event discarded");
            return;
        }
        let key = get_key(&event);
        let now = MicroTime(self.options.clock.now());
        let to_write = {
            let mut cache = self.cache();
            match cache.get_mut(&key) {
                Some(existing) => match &mut existing.series {
                    Some(series) => {
                        series.count = series.count.saturating_add(1);
                        series.last_observed_time = now;
                        None
                    }
                    None => {
                        existing.series = Some(EventSeries { count: 2, last_observed_time: now });
                        Some(existing.clone())
                    }
                },
                None => {
                    cache.insert(key, event.clone());
                    Some(event)
                }
            }
        };
        if let Some(event) = to_write {
            if self.tx.try_send(event).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!("unable to record event: too many queued events, dropped event");
            }
        }
    }
}

/// The key under which isomorphic events share a series.
fn get_key(event: &Event) -> String {
    let key = json!([
        event.type_,
        event.action,
        event.reason,
        event.reporting_controller,
        event.reporting_instance,
        event.regarding,
        event.related,
    ]);
    key.to_string()
}

/// Distributes `events.k8s.io/v1` events to a sink (client-go `events.EventBroadcaster`).
/// Cheap to clone.
pub struct EventBroadcaster<S = EventSinkImpl> {
    shared: Arc<Shared>,
    sink: Arc<S>,
}

impl<S> Clone for EventBroadcaster<S> {
    fn clone(&self) -> Self {
        EventBroadcaster { shared: Arc::clone(&self.shared), sink: Arc::clone(&self.sink) }
    }
}

impl<S> fmt::Debug for EventBroadcaster<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventBroadcaster")
            .field("options", &self.shared.options)
            .field("dropped_events", &self.shared.dropped.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<S: EventSink<Event>> EventBroadcaster<S> {
    /// A broadcaster writing to `sink` with client-go's settings (client-go
    /// `NewBroadcaster`).
    pub fn new(sink: S) -> Self {
        Self::with_options(sink, BroadcasterOptions::default())
    }

    /// A broadcaster writing to `sink` with `options`.
    pub fn with_options(sink: S, options: BroadcasterOptions) -> Self {
        let (tx, rx) = mpsc::channel(options.queue_length.max(1));
        EventBroadcaster {
            shared: Arc::new(Shared {
                cache: Mutex::new(HashMap::new()),
                tx,
                rx: Mutex::new(Some(rx)),
                recording: AtomicBool::new(false),
                dropped: AtomicU64::new(0),
                options,
                stop: Mutex::new(None),
            }),
            sink: Arc::new(sink),
        }
    }

    /// A recorder reporting as `reporting_controller`; its reporting instance is
    /// `<controller>-<hostname>` (client-go `NewRecorder`).
    pub fn new_recorder(&self, reporting_controller: &str) -> EventRecorder {
        EventRecorder {
            shared: Arc::clone(&self.shared),
            reporting_controller: reporting_controller.to_owned(),
            reporting_instance: format!("{reporting_controller}-{}", hostname()),
        }
    }

    /// Starts the workers writing to the sink and the series refresh and finish loops,
    /// until `cancel` fires or [`shutdown`](Self::shutdown) (client-go
    /// `StartRecordingToSinkWithContext`). Events recorded before this are discarded,
    /// as in client-go. Must be called within a tokio runtime.
    pub fn start_recording_to_sink(&self, cancel: CancellationToken) -> Result<(), AlreadyRecordingError> {
        let mut stop = self.shared.stop.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.shared.rx.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (Some(rx), None) = (rx, stop.as_ref()) else { return Err(AlreadyRecordingError) };
        let token = cancel.child_token();
        *stop = Some(token.clone());
        self.shared.recording.store(true, Ordering::Release);
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        for _ in 0..self.shared.options.workers.max(1) {
            let (rx, shared, sink, token) =
                (Arc::clone(&rx), Arc::clone(&self.shared), Arc::clone(&self.sink), token.clone());
            tokio::spawn(async move {
                loop {
                    let event = tokio::select! {
                        biased;
                        _ = token.cancelled() => return,
                        event = async { rx.lock().await.recv().await } => match event { Some(e) => e, None => return },
                    };
                    attempt_recording(&*sink, event, shared.options.sleep_duration, &token).await;
                }
            });
        }
        let periodic = |period: Duration, job: fn(Arc<Shared>, Arc<S>) -> _| {
            let (shared, sink, token) = (Arc::clone(&self.shared), Arc::clone(&self.sink), token.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        biased;
                        _ = token.cancelled() => return,
                        _ = job(Arc::clone(&shared), Arc::clone(&sink)) => {}
                    }
                    tokio::select! {
                        biased;
                        _ = token.cancelled() => return,
                        _ = tokio::time::sleep(period) => {}
                    }
                }
            });
        };
        periodic(self.shared.options.refresh_time, refresh_existing_event_series::<S>);
        periodic(self.shared.options.finish_time, finish_series::<S>);
        Ok(())
    }

    /// Events dropped so far because the write queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Stops recording; queued events are not written (client-go `Shutdown`).
    pub fn shutdown(&self) {
        self.shared.recording.store(false, Ordering::Release);
        if let Some(token) = self.shared.stop.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            token.cancel();
        }
    }
}

/// Writes every cached series again (client-go `refreshExistingEventSeries`).
fn refresh_existing_event_series<S: EventSink<Event>>(
    shared: Arc<Shared>,
    sink: Arc<S>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let snapshots: Vec<(String, Event)> =
            shared.cache().iter().filter(|(_, e)| e.series.is_some()).map(|(k, e)| (k.clone(), e.clone())).collect();
        for (key, snapshot) in snapshots {
            let Ok(stored) = record_event(&*sink, &mut snapshot.clone()).await else { continue };
            let mut cache = shared.cache();
            if cache.get(&key) == Some(&snapshot) {
                cache.insert(key, stored);
            }
        }
    })
}

/// Writes the last state of series not observed for `finish_time` and forgets them,
/// and forgets single events older than that (client-go `finishSeries`).
fn finish_series<S: EventSink<Event>>(
    shared: Arc<Shared>,
    sink: Arc<S>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let now = shared.options.clock.now();
        let finish = shared.options.finish_time;
        let old = |t: &MicroTime| now.duration_since(t.0).as_secs_f64() > finish.as_secs_f64();
        let snapshots: Vec<(String, Event, bool)> = shared
            .cache()
            .iter()
            .filter_map(|(k, e)| match &e.series {
                Some(series) if old(&series.last_observed_time) => Some((k.clone(), e.clone(), true)),
                None if e.event_time.as_ref().is_some_and(old) => Some((k.clone(), e.clone(), false)),
                _ => None,
            })
            .collect();
        for (key, snapshot, should_record) in snapshots {
            if should_record && record_event(&*sink, &mut snapshot.clone()).await == Err(WriteFailure::Retry) {
                continue;
            }
            let mut cache = shared.cache();
            if cache.get(&key) == Some(&snapshot) {
                cache.remove(&key);
            }
        }
    })
}

/// Writes `event`, retrying up to 12 times (client-go `attemptRecording`).
async fn attempt_recording<S: EventSink<Event>>(sink: &S, mut event: Event, sleep: Duration, stop: &CancellationToken) {
    let mut tries = 0;
    loop {
        if record_event(sink, &mut event).await != Err(WriteFailure::Retry) {
            return;
        }
        tries += 1;
        if tries >= MAX_TRIES_PER_EVENT {
            tracing::error!(
                reason = event.reason.as_deref().unwrap_or(""),
                "unable to write event (retry limit exceeded)"
            );
            return;
        }
        let delay = crate::util::wait::jitter(sleep, 0.25);
        tokio::select! {
            biased;
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// One write: a series is patched onto the existing Event (created when gone), a
/// single event created (client-go `recordEvent`).
async fn record_event<S: EventSink<Event>>(sink: &S, event: &mut Event) -> Result<Event, WriteFailure> {
    let is_series = event.series.is_some();
    let mut result = None;
    if let Some(series) = &event.series {
        // The two-way strategic merge patch from the event without to with its series.
        let patch = json!({ "series": series });
        result = Some(sink.patch(event, &patch).await);
    }
    let must_create = match &result {
        None => true,
        Some(Err(e)) => is_key_not_found_error(e),
        Some(Ok(_)) => false,
    };
    if must_create {
        event.metadata.resource_version = None;
        result = Some(sink.create(event).await);
    }
    match result {
        Some(Ok(stored)) => Ok(stored),
        Some(Err(e)) => {
            let what = event.reason.as_deref().unwrap_or("");
            if e.is_already_exists() && is_series {
                return Err(WriteFailure::Retry);
            }
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

/// Records `events.k8s.io/v1` Events (client-go `events.EventRecorder`). Cheap to
/// clone; never waits.
#[derive(Clone)]
pub struct EventRecorder {
    shared: Arc<Shared>,
    reporting_controller: String,
    reporting_instance: String,
}

impl fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventRecorder")
            .field("reporting_controller", &self.reporting_controller)
            .field("reporting_instance", &self.reporting_instance)
            .finish_non_exhaustive()
    }
}

impl EventRecorder {
    /// Records that `action` was taken on `regarding` (with `related`, if any) for
    /// `reason`, described by `note` (client-go `Eventf`):
    /// `recorder.eventf(&pod, None, EventType::Normal, "Scheduled", "Binding", format_args!("to {node}"))`.
    pub fn eventf(
        &self,
        regarding: &ObjectReference,
        related: Option<&ObjectReference>,
        event_type: EventType,
        reason: &str,
        action: &str,
        note: fmt::Arguments<'_>,
    ) {
        self.record(regarding, related, None, event_type, reason, action, note);
    }

    /// [`eventf`](Self::eventf) with annotations on the Event (client-go
    /// `AnnotatedEventf`).
    #[allow(clippy::too_many_arguments)]
    pub fn annotated_eventf(
        &self,
        regarding: &ObjectReference,
        related: Option<&ObjectReference>,
        annotations: BTreeMap<String, String>,
        event_type: EventType,
        reason: &str,
        action: &str,
        note: fmt::Arguments<'_>,
    ) {
        self.record(regarding, related, Some(annotations), event_type, reason, action, note);
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        regarding: &ObjectReference,
        related: Option<&ObjectReference>,
        annotations: Option<BTreeMap<String, String>>,
        event_type: EventType,
        reason: &str,
        action: &str,
        note: fmt::Arguments<'_>,
    ) {
        let now = self.shared.options.clock.now();
        let namespace = regarding.namespace.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| "default".to_owned());
        let event = Event {
            metadata: ObjectMeta {
                name: Some(generate_event_name(regarding.name.as_deref().unwrap_or(""), unix_nanos(now))),
                namespace: Some(namespace),
                annotations,
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            series: None,
            reporting_controller: Some(self.reporting_controller.clone()),
            reporting_instance: Some(self.reporting_instance.clone()),
            action: Some(action.to_owned()),
            reason: Some(reason.to_owned()),
            regarding: Some(regarding.clone()),
            related: related.cloned(),
            note: Some(note.to_string()),
            type_: Some(event_type.as_str().to_owned()),
            ..Default::default()
        };
        self.shared.record(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rest::Error;

    /// Wall time that moves with tokio's (paused) clock.
    struct TokioClock(jiff::Timestamp, tokio::time::Instant);

    impl Clock for TokioClock {
        fn now(&self) -> jiff::Timestamp {
            self.0 + self.1.elapsed()
        }
    }

    /// Remembers every write: ("create" | "patch", series count).
    #[derive(Default)]
    struct Memory(Mutex<Vec<(&'static str, Option<i32>)>>);

    impl EventSink<Event> for Arc<Memory> {
        async fn create(&self, event: &Event) -> Result<Event, Error> {
            self.0.lock().unwrap().push(("create", event.series.as_ref().map(|s| s.count)));
            Ok(event.clone())
        }
        async fn update(&self, event: &Event) -> Result<Event, Error> {
            Ok(event.clone())
        }
        async fn patch(&self, event: &Event, patch: &serde_json::Value) -> Result<Event, Error> {
            let count = patch["series"]["count"].as_i64().and_then(|c| i32::try_from(c).ok());
            self.0.lock().unwrap().push(("patch", count));
            Ok(event.clone())
        }
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    #[tokio::test(start_paused = true)]
    async fn series_are_patched_refreshed_every_30_minutes_and_finished_after_6_quiet_minutes() {
        let memory = Arc::new(Memory::default());
        let clock = Arc::new(TokioClock(jiff::Timestamp::now(), tokio::time::Instant::now()));
        let options = BroadcasterOptions { clock, ..Default::default() };
        let b = EventBroadcaster::with_options(Arc::clone(&memory), options);
        b.start_recording_to_sink(CancellationToken::new()).unwrap();
        let r = b.new_recorder("ctrl");
        let pod = ObjectReference { name: Some("p".into()), namespace: Some("ns".into()), ..Default::default() };
        let record = |note: &str| r.eventf(&pod, None, EventType::Normal, "Pulled", "Pull", format_args!("{note}"));
        let writes = || memory.0.lock().unwrap().clone();

        record("a");
        settle().await;
        assert_eq!(writes(), [("create", None)]);
        record("b"); // isomorphic: the note does not count
        record("c");
        settle().await;
        assert_eq!(writes(), [("create", None), ("patch", Some(2))], "the third only counts in the cache");

        // Observed every 4.5 minutes (at 4.5, 9, ..., 31.5): never finished; the refresh
        // at 30 minutes writes the count so far.
        for _ in 0..7 {
            tokio::time::sleep(Duration::from_secs(270)).await;
            record("d");
        }
        settle().await;
        assert_eq!(writes()[2..], [("patch", Some(9))], "refreshed at 30 minutes with its count");

        // More than six quiet minutes (the finish check runs every 6 minutes, at 42):
        // written a last time and forgotten.
        tokio::time::sleep(Duration::from_secs(11 * 60)).await;
        assert_eq!(writes()[3..], [("patch", Some(10))]);
        record("e");
        settle().await;
        assert_eq!(writes()[4..], [("create", None)], "a new series starts");

        // Another kind of event is not isomorphic.
        r.eventf(&pod, None, EventType::Warning, "Failed", "Pull", format_args!("x"));
        settle().await;
        assert_eq!(writes()[5..], [("create", None)]);
        b.shutdown();
    }

    #[test]
    fn defaults_are_client_go_s() {
        let o = BroadcasterOptions::default();
        assert_eq!((o.queue_length, o.workers), (1000, 8));
        assert_eq!((o.finish_time, o.refresh_time), (Duration::from_secs(360), Duration::from_secs(1800)));
        assert_eq!(o.sleep_duration, Duration::from_secs(10));
    }
}
