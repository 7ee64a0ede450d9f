//! The event correlator (client-go `tools/record/events_cache.go`): what keeps a busy
//! controller from flooding the API server with Events.
//!
//! Every event passes three stages, in this order, before the sink writes it:
//! 1. **Aggregation** ([`EventAggregator`]): events that differ only in their message
//!    (same source, object, type and reason) are counted; once 10 distinct messages
//!    were seen within 10 minutes, further ones are replaced by one aggregate event
//!    whose message is `(combined from similar events): <latest message>`.
//! 2. **Deduplication** ([`EventLogger`]): an event identical to one already written
//!    (same key, message included) within the cache's memory is not created again; the
//!    existing Event's `count`, `lastTimestamp` and `message` are patched instead.
//! 3. **Spam filtering** ([`EventSourceObjectSpamFilter`]): per source and involved
//!    object (reason and message not included), a token bucket of 25 events refilled
//!    at one per 5 minutes; events beyond it are dropped.
//!
//! Because the spam filter comes last, the count kept by the deduplication stage goes
//! on rising for dropped events: 100 identical events in a burst end on the server as
//! one Event with `count: 25`; the next one written once the bucket refills carries
//! `count: 101`. All three caches are LRU maps of 4096 entries.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

use super::lru::Lru;
use super::util::{unix_nanos, Clock, RealClock};

/// client-go `maxLruCacheEntries`: entries of each correlator cache.
pub const MAX_LRU_CACHE_ENTRIES: usize = 4096;
/// client-go `defaultAggregateMaxEvents`: distinct messages before aggregation starts.
pub const DEFAULT_AGGREGATE_MAX_EVENTS: usize = 10;
/// client-go `defaultAggregateIntervalInSeconds`: how long similar events are counted.
pub const DEFAULT_AGGREGATE_INTERVAL_IN_SECONDS: u64 = 600;
/// client-go `defaultSpamBurst`: events per source and object before the filter drops.
pub const DEFAULT_SPAM_BURST: u32 = 25;
/// client-go `defaultSpamQPS`: refill rate of the spam filter, one event per 5 minutes.
pub const DEFAULT_SPAM_QPS: f32 = 1. / 300.;

/// Splits an event into the key of its aggregate and its key within it (client-go
/// `EventAggregatorKeyFunc`).
pub type EventAggregatorKeyFunc = Arc<dyn Fn(&Event) -> (String, String) + Send + Sync>;
/// The message of an aggregate event (client-go `EventAggregatorMessageFunc`).
pub type EventAggregatorMessageFunc = Arc<dyn Fn(&Event) -> String + Send + Sync>;
/// The spam filter's key of an event (client-go `EventSpamKeyFunc`).
pub type EventSpamKeyFunc = Arc<dyn Fn(&Event) -> String + Send + Sync>;

/// Tuning of the correlator (client-go `record.CorrelatorOptions`). A zero number or
/// `None` means client-go's default, as in client-go.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct CorrelatorOptions {
    /// Entries of each LRU cache (default 4096).
    pub lru_cache_size: usize,
    /// Spam filter bucket size (default 25).
    pub burst_size: u32,
    /// Spam filter refill rate per second (default 1/300).
    pub qps: f32,
    /// Aggregation keys (default [`event_aggregator_by_reason_func`]).
    pub key_func: Option<EventAggregatorKeyFunc>,
    /// Aggregate message (default [`event_aggregator_by_reason_message_func`]).
    pub message_func: Option<EventAggregatorMessageFunc>,
    /// Distinct messages before aggregating (default 10).
    pub max_events: usize,
    /// Window of aggregation in seconds (default 600).
    pub max_interval_in_seconds: u64,
    /// The clock (default the system clock).
    pub clock: Option<Arc<dyn Clock>>,
    /// Spam filter key (default: source, involved object and type).
    pub spam_key_func: Option<EventSpamKeyFunc>,
}

impl std::fmt::Debug for CorrelatorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CorrelatorOptions")
            .field("lru_cache_size", &self.lru_cache_size)
            .field("burst_size", &self.burst_size)
            .field("qps", &self.qps)
            .field("max_events", &self.max_events)
            .field("max_interval_in_seconds", &self.max_interval_in_seconds)
            .finish_non_exhaustive()
    }
}

fn s(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// Joins key parts. client-go concatenates them with no separator; a NUL between
/// parts keeps `("ab", "c")` and `("a", "bc")` apart.
fn join(parts: &[&str]) -> String {
    parts.join("\u{0}")
}

/// The key of an event for deduplication: everything but timestamps and counts.
fn get_event_key(event: &Event) -> String {
    let source = event.source.clone().unwrap_or_default();
    let o = &event.involved_object;
    join(&[
        s(&source.component),
        s(&source.host),
        s(&o.kind),
        s(&o.namespace),
        s(&o.name),
        s(&o.field_path),
        s(&o.uid),
        s(&o.api_version),
        s(&event.type_),
        s(&event.reason),
        s(&event.message),
    ])
}

/// The spam filter's key: source, involved object and type (client-go `getSpamKey`).
fn get_spam_key(event: &Event) -> String {
    let source = event.source.clone().unwrap_or_default();
    let o = &event.involved_object;
    join(&[
        s(&source.component),
        s(&source.host),
        s(&o.kind),
        s(&o.namespace),
        s(&o.name),
        s(&o.uid),
        s(&o.api_version),
        s(&event.type_),
    ])
}

/// client-go `EventAggregatorByReasonFunc`: events are similar when all but the
/// message match; the message is the key within the aggregate.
pub fn event_aggregator_by_reason_func(event: &Event) -> (String, String) {
    let source = event.source.clone().unwrap_or_default();
    let o = &event.involved_object;
    let aggregate = join(&[
        s(&source.component),
        s(&source.host),
        s(&o.kind),
        s(&o.namespace),
        s(&o.name),
        s(&o.uid),
        s(&o.api_version),
        s(&event.type_),
        s(&event.reason),
        s(&event.reporting_component),
        s(&event.reporting_instance),
    ]);
    (aggregate, s(&event.message).to_owned())
}

/// client-go `EventAggregatorByReasonMessageFunc`: `(combined from similar events): ` and
/// the event's message.
pub fn event_aggregator_by_reason_message_func(event: &Event) -> String {
    format!("(combined from similar events): {}", s(&event.message))
}

/// A token bucket checked without waiting (client-go's passive token bucket).
#[derive(Debug)]
struct TokenBucket {
    tokens: f64,
    last: jiff::Timestamp,
}

impl TokenBucket {
    fn try_accept(&mut self, now: jiff::Timestamp, qps: f64, burst: f64) -> bool {
        let elapsed = now.duration_since(self.last).as_secs_f64();
        if elapsed > 0.0 {
            self.tokens = (self.tokens + elapsed * qps).min(burst);
            self.last = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Drops events of a source and object beyond a token bucket (client-go
/// `EventSourceObjectSpamFilter`).
pub struct EventSourceObjectSpamFilter {
    cache: Lru<TokenBucket>,
    burst: u32,
    qps: f32,
    clock: Arc<dyn Clock>,
    spam_key_func: EventSpamKeyFunc,
}

impl EventSourceObjectSpamFilter {
    /// A filter with `burst` events per key, refilled at `qps`.
    pub fn new(
        lru_cache_size: usize,
        burst: u32,
        qps: f32,
        clock: Arc<dyn Clock>,
        spam_key_func: EventSpamKeyFunc,
    ) -> Self {
        EventSourceObjectSpamFilter { cache: Lru::new(lru_cache_size), burst, qps, clock, spam_key_func }
    }

    /// True when `event` must be dropped.
    pub fn filter(&mut self, event: &Event) -> bool {
        let key = (self.spam_key_func)(event);
        let now = self.clock.now();
        let (qps, burst) = (f64::from(self.qps), f64::from(self.burst));
        if let Some(bucket) = self.cache.get_mut(&key) {
            return !bucket.try_accept(now, qps, burst);
        }
        let mut bucket = TokenBucket { tokens: burst, last: now };
        let accepted = bucket.try_accept(now, qps, burst);
        self.cache.add(key, bucket);
        !accepted
    }
}

#[derive(Debug, Default)]
struct AggregateRecord {
    local_keys: HashSet<String>,
    last_timestamp: Option<jiff::Timestamp>,
}

/// Turns many similar events into one aggregate event (client-go `EventAggregator`).
pub struct EventAggregator {
    cache: Lru<AggregateRecord>,
    key_func: EventAggregatorKeyFunc,
    message_func: EventAggregatorMessageFunc,
    max_events: usize,
    max_interval: Duration,
    clock: Arc<dyn Clock>,
}

impl EventAggregator {
    /// An aggregator that starts aggregating at `max_events` distinct local keys seen
    /// within `max_interval_in_seconds` of each other.
    pub fn new(
        lru_cache_size: usize,
        key_func: EventAggregatorKeyFunc,
        message_func: EventAggregatorMessageFunc,
        max_events: usize,
        max_interval_in_seconds: u64,
        clock: Arc<dyn Clock>,
    ) -> Self {
        EventAggregator {
            cache: Lru::new(lru_cache_size),
            key_func,
            message_func,
            max_events,
            max_interval: Duration::from_secs(max_interval_in_seconds),
            clock,
        }
    }

    /// The event to go on with and its deduplication key: `new_event` and its own key
    /// while fewer than `max_events` similar events were seen, else an aggregate event
    /// and the aggregate key (client-go `EventAggregate`).
    pub fn event_aggregate(&mut self, new_event: &Event) -> (Event, String) {
        let now = self.clock.now();
        let event_key = get_event_key(new_event);
        let (aggregate_key, local_key) = (self.key_func)(new_event);
        let mut record = match self.cache.get_mut(&aggregate_key) {
            Some(r) => std::mem::take(r),
            None => AggregateRecord::default(),
        };
        let expired = match record.last_timestamp {
            Some(last) => now.duration_since(last).as_secs_f64() > self.max_interval.as_secs_f64(),
            None => true,
        };
        if expired {
            record = AggregateRecord::default();
        }
        record.local_keys.insert(local_key);
        record.last_timestamp = Some(now);
        if record.local_keys.len() < self.max_events {
            self.cache.add(aggregate_key, record);
            return (new_event.clone(), event_key);
        }
        // Forget one key so that the set stays below the limit, as client-go's PopAny.
        if let Some(any) = record.local_keys.iter().next().cloned() {
            record.local_keys.remove(&any);
        }
        self.cache.add(aggregate_key.clone(), record);
        let involved_name = s(&new_event.involved_object.name);
        let aggregate = Event {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(format!("{involved_name}.{:x}", unix_nanos(now))),
                namespace: new_event.metadata.namespace.clone(),
                ..Default::default()
            },
            count: Some(1),
            first_timestamp: Some(Time(now)),
            involved_object: new_event.involved_object.clone(),
            last_timestamp: Some(Time(now)),
            message: Some((self.message_func)(new_event)),
            type_: new_event.type_.clone(),
            reason: new_event.reason.clone(),
            source: new_event.source.clone(),
            ..Default::default()
        };
        (aggregate, aggregate_key)
    }
}

/// What the deduplication stage remembers of a written event.
#[derive(Clone, Debug, Default)]
struct EventLog {
    count: i32,
    first_timestamp: Option<Time>,
    name: Option<String>,
    resource_version: Option<String>,
}

impl EventLog {
    fn of(event: &Event) -> Self {
        EventLog {
            count: event.count.unwrap_or(0),
            first_timestamp: event.first_timestamp.clone(),
            name: event.metadata.name.clone(),
            resource_version: event.metadata.resource_version.clone(),
        }
    }
}

/// Remembers written events to turn repeats into count updates (client-go
/// `eventLogger`).
pub struct EventLogger {
    cache: Lru<EventLog>,
}

impl EventLogger {
    /// A logger remembering up to `lru_cache_size` events.
    pub fn new(lru_cache_size: usize) -> Self {
        EventLogger { cache: Lru::new(lru_cache_size) }
    }

    /// `new_event` as it must be written, and the patch to send when an event with the
    /// same `key` was seen before: that Event's name, first timestamp and count + 1,
    /// patched as `count`, `lastTimestamp` and `message` (client-go `eventObserve`).
    pub fn event_observe(&mut self, new_event: Event, key: &str) -> (Event, Option<serde_json::Value>) {
        let mut event = new_event;
        let mut patch = None;
        if let Some(last) = self.cache.get_mut(key).filter(|l| l.count > 0).cloned() {
            event.metadata.name = last.name;
            event.metadata.resource_version = last.resource_version;
            event.first_timestamp = last.first_timestamp;
            event.count = Some(last.count.saturating_add(1));
            let mut p = serde_json::Map::new();
            p.insert("count".into(), json!(event.count));
            if let Some(t) = &event.last_timestamp {
                p.insert("lastTimestamp".into(), serde_json::to_value(t).unwrap_or_default());
            }
            if let Some(m) = event.message.as_ref().filter(|m| !m.is_empty()) {
                p.insert("message".into(), json!(m));
            }
            patch = Some(serde_json::Value::Object(p));
        }
        self.cache.add(key.to_owned(), EventLog::of(&event));
        (event, patch)
    }

    /// Remembers `event` as the server returned it (client-go `updateState`).
    pub fn update_state(&mut self, event: &Event) {
        self.cache.add(get_event_key(event), EventLog::of(event));
    }
}

/// The outcome of [`EventCorrelator::event_correlate`] (client-go
/// `EventCorrelateResult`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EventCorrelateResult {
    /// The event to write (create, or patch when `patch` is set).
    pub event: Event,
    /// The strategic merge patch to apply to the existing Event, for a repeat.
    pub patch: Option<serde_json::Value>,
    /// The spam filter dropped the event: write nothing.
    pub skip: bool,
}

/// Aggregation, deduplication and spam filtering in one (client-go `EventCorrelator`).
/// See the module docs for the order and its consequences.
pub struct EventCorrelator {
    filter: EventSourceObjectSpamFilter,
    aggregator: EventAggregator,
    logger: EventLogger,
}

impl std::fmt::Debug for EventCorrelator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCorrelator").finish_non_exhaustive()
    }
}

impl EventCorrelator {
    /// A correlator with client-go's defaults and the system clock (client-go
    /// `NewEventCorrelator`).
    pub fn new() -> Self {
        Self::with_options(CorrelatorOptions::default())
    }

    /// A correlator tuned by `options`; zero / `None` fields take the defaults
    /// (client-go `NewEventCorrelatorWithOptions`).
    pub fn with_options(options: CorrelatorOptions) -> Self {
        let size = if options.lru_cache_size == 0 { MAX_LRU_CACHE_ENTRIES } else { options.lru_cache_size };
        let burst = if options.burst_size == 0 { DEFAULT_SPAM_BURST } else { options.burst_size };
        let qps = if options.qps == 0.0 { DEFAULT_SPAM_QPS } else { options.qps };
        let max_events = if options.max_events == 0 { DEFAULT_AGGREGATE_MAX_EVENTS } else { options.max_events };
        let interval = if options.max_interval_in_seconds == 0 {
            DEFAULT_AGGREGATE_INTERVAL_IN_SECONDS
        } else {
            options.max_interval_in_seconds
        };
        let clock: Arc<dyn Clock> = options.clock.unwrap_or_else(|| Arc::new(RealClock));
        let key_func = options.key_func.unwrap_or_else(|| Arc::new(event_aggregator_by_reason_func));
        let message_func = options.message_func.unwrap_or_else(|| Arc::new(event_aggregator_by_reason_message_func));
        let spam_key_func = options.spam_key_func.unwrap_or_else(|| Arc::new(get_spam_key));
        EventCorrelator {
            filter: EventSourceObjectSpamFilter::new(size, burst, qps, Arc::clone(&clock), spam_key_func),
            aggregator: EventAggregator::new(size, key_func, message_func, max_events, interval, clock),
            logger: EventLogger::new(size),
        }
    }

    /// Runs `new_event` through aggregation, deduplication and the spam filter
    /// (client-go `EventCorrelate`).
    pub fn event_correlate(&mut self, new_event: &Event) -> EventCorrelateResult {
        let (aggregate, key) = self.aggregator.event_aggregate(new_event);
        let (event, patch) = self.logger.event_observe(aggregate, &key);
        let skip = self.filter.filter(&event);
        EventCorrelateResult { event, patch, skip }
    }

    /// Remembers an event as the server returned it after a write (client-go
    /// `UpdateState`).
    pub fn update_state(&mut self, event: &Event) {
        self.logger.update_state(event);
    }
}

impl Default for EventCorrelator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{EventSource, ObjectReference};
    use std::sync::Mutex;

    struct FakeClock(Mutex<jiff::Timestamp>);
    impl FakeClock {
        fn advance(&self, d: Duration) {
            let mut t = self.0.lock().unwrap();
            *t += d;
        }
    }
    impl Clock for FakeClock {
        fn now(&self) -> jiff::Timestamp {
            *self.0.lock().unwrap()
        }
    }

    fn event(name: &str, reason: &str, message: &str) -> Event {
        Event {
            metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                name: Some(format!("{name}.1")),
                namespace: Some("default".into()),
                ..Default::default()
            },
            involved_object: ObjectReference {
                kind: Some("Pod".into()),
                name: Some(name.into()),
                namespace: Some("default".into()),
                ..Default::default()
            },
            reason: Some(reason.into()),
            message: Some(message.into()),
            type_: Some("Normal".into()),
            count: Some(1),
            source: Some(EventSource { component: Some("test".into()), host: None }),
            ..Default::default()
        }
    }

    fn correlator() -> (EventCorrelator, Arc<FakeClock>) {
        let clock = Arc::new(FakeClock(Mutex::new("2025-01-01T00:00:00Z".parse().unwrap())));
        let options = CorrelatorOptions { clock: Some(clock.clone() as Arc<dyn Clock>), ..Default::default() };
        (EventCorrelator::with_options(options), clock)
    }

    #[test]
    fn identical_events_count_up_and_the_spam_filter_stops_writes_after_25() {
        let (mut c, clock) = correlator();
        let e = event("p", "Started", "same");
        let mut written = Vec::new();
        for _ in 0..100 {
            let r = c.event_correlate(&e);
            if !r.skip {
                written.push((r.event.count, r.patch.is_some()));
            }
        }
        assert_eq!(written.len(), 25);
        assert_eq!(written[0], (Some(1), false));
        assert_eq!(written[24], (Some(25), true));
        // The bucket refills at one per 300 s; the count kept rising meanwhile.
        clock.advance(Duration::from_secs(300));
        let r = c.event_correlate(&e);
        assert!(!r.skip);
        assert_eq!(r.event.count, Some(101));
        assert_eq!(r.patch.as_ref().unwrap()["count"], 101);
        assert_eq!(r.event.metadata.name.as_deref(), Some("p.1"));
        assert!(c.event_correlate(&e).skip);
    }

    #[test]
    fn the_spam_filter_counts_all_reasons_of_one_object_together() {
        let (mut c, _) = correlator();
        let passed = (0..30).filter(|i| !c.event_correlate(&event("p", &format!("R{}", i % 3), "m")).skip).count();
        assert_eq!(passed, 25);
        assert!(!c.event_correlate(&event("other", "R", "m")).skip);
    }

    #[test]
    fn the_tenth_similar_event_becomes_an_aggregate_and_later_ones_count_on_it() {
        let (mut c, clock) = correlator();
        for i in 1..=9 {
            let r = c.event_correlate(&event("p", "Failed", &format!("error {i}")));
            assert_eq!(r.event.message.as_deref(), Some(format!("error {i}").as_str()));
            assert!(r.patch.is_none());
        }
        let r = c.event_correlate(&event("p", "Failed", "error 10"));
        assert_eq!(r.event.message.as_deref(), Some("(combined from similar events): error 10"));
        assert_eq!(r.event.count, Some(1));
        assert!(r.patch.is_none());
        let name = r.event.metadata.name.clone().unwrap();
        assert!(name.starts_with("p."), "{name}");
        let r = c.event_correlate(&event("p", "Failed", "error 11"));
        assert_eq!(r.event.metadata.name.as_deref(), Some(name.as_str()));
        assert_eq!(r.event.count, Some(2));
        assert_eq!(r.patch.as_ref().unwrap()["message"], "(combined from similar events): error 11");
        // After 10 quiet minutes the aggregation starts over.
        clock.advance(Duration::from_secs(601));
        let r = c.event_correlate(&event("p", "Failed", "error 12"));
        assert_eq!(r.event.message.as_deref(), Some("error 12"));
    }

    #[test]
    fn identical_events_after_update_state_patch_the_stored_event() {
        let (mut c, _) = correlator();
        let e = event("p", "Pulled", "image pulled");
        let first = c.event_correlate(&e);
        let mut stored = first.event.clone();
        stored.metadata.resource_version = Some("42".into());
        c.update_state(&stored);
        let second = c.event_correlate(&e);
        assert_eq!(second.event.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(second.event.count, Some(2));
        let patch = second.patch.unwrap();
        assert_eq!(patch["count"], 2);
        assert_eq!(patch["message"], "image pulled");
        assert!(patch.get("lastTimestamp").is_none(), "the test event has no lastTimestamp: {patch}");
    }
}
