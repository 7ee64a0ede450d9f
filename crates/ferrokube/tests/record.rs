//! Event recording against the API server over real HTTPS (the embedded server, or
//! realkube with `FERROKUBE_TEST_SERVER=realkube`; each test in its own namespace): the core/v1
//! correlator (deduplication into a rising count, client-go's spam filter, aggregation
//! of similar events), recording that never waits on a stalled sink, and
//! events.k8s.io/v1 series.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{Error, ListOptions};
use ferrokube::tools::record::events as eventsv1;
use ferrokube::tools::record::{
    get_reference, BroadcasterOptions, Clock, CorrelatorOptions, EventBroadcaster, EventSink, EventSinkImpl, EventType,
    EventWatcher,
};
use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

mod support;
use support::cluster::{ClusterOptions, TestCluster};

const WAIT: Duration = Duration::from_secs(30);

/// The server (kept alive by the caller), an admin clientset and the test's namespace.
async fn start() -> (TestCluster, Clientset, String) {
    let cluster = TestCluster::start(ClusterOptions::new("record")).await;
    let clientset = Clientset::new(&cluster.config).expect("clientset");
    let ns = cluster.namespace.clone();
    (cluster, clientset, ns)
}

/// A wall clock the test moves by hand.
struct FakeClock(Mutex<jiff::Timestamp>);

impl FakeClock {
    fn new() -> Arc<FakeClock> {
        Arc::new(FakeClock(Mutex::new(jiff::Timestamp::now())))
    }
    fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> jiff::Timestamp {
        *self.0.lock().unwrap()
    }
}

fn pod(ns: &str, name: &str) -> ObjectReference {
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            uid: Some(format!("uid-{name}")),
            ..Default::default()
        },
        ..Default::default()
    };
    get_reference(&pod)
}

fn source() -> EventSource {
    EventSource { component: Some("record-test".into()), host: Some("node-1".into()) }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn events_about(clientset: &Clientset, ns: &str, name: &str) -> Vec<Event> {
    let opts = ListOptions { field_selector: Some(format!("involvedObject.name={name}")), ..Default::default() };
    let mut items = clientset.core_v1().events(ns).list(&opts).await.unwrap().items;
    items.retain(|e| e.involved_object.name.as_deref() == Some(name));
    items.sort_by_key(|e| e.metadata.creation_timestamp.clone().map(|t| t.0));
    items
}

fn broadcaster_with(correlator_options: CorrelatorOptions) -> EventBroadcaster {
    let mut options = BroadcasterOptions::default();
    options.correlator_options = correlator_options;
    EventBroadcaster::with_options(options)
}

async fn wait_handled(watcher: &EventWatcher, n: u64) {
    wait_for(&format!("{n} events handled"), || {
        let s = watcher.stats();
        s.written + s.skipped + s.failed >= n
    })
    .await;
}

/// client-go's actual outcome with its defaults: the deduplicating count rises for all
/// 100 events, but the spam filter (burst 25 per source and object, then one per 5
/// minutes) lets only the first 25 writes through. The one Event on the server has
/// count 25; the next write, once the bucket has refilled, carries count 101.
#[tokio::test]
async fn identical_events_end_as_one_event_whose_count_the_spam_filter_caps_at_25_then_101() {
    let (_cluster, clientset, ns) = start().await;
    let clock = FakeClock::new();
    let mut options = CorrelatorOptions::default();
    options.clock = Some(clock.clone());
    let broadcaster = broadcaster_with(options);
    let writer = broadcaster.start_recording_to_sink(EventSinkImpl::new(clientset.clone()));
    let recorder = broadcaster.new_recorder(source());
    let web = pod(&ns, "web-0");
    for _ in 0..100 {
        recorder.event(&web, EventType::Warning, "BackOff", "Back-off restarting failed container");
    }
    wait_handled(&writer, 100).await;
    let stats = writer.stats();
    assert_eq!((stats.written, stats.skipped, stats.failed, stats.dropped), (25, 75, 0, 0));
    let events = events_about(&clientset, &ns, "web-0").await;
    assert_eq!(events.len(), 1, "one Event, patched, not 100 objects");
    let event = &events[0];
    assert_eq!(event.count, Some(25));
    assert_eq!(event.reason.as_deref(), Some("BackOff"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.source.as_ref().and_then(|s| s.component.as_deref()), Some("record-test"));
    assert_eq!(event.involved_object.uid.as_deref(), Some("uid-web-0"));

    // Five minutes later the bucket holds a token again.
    clock.advance(Duration::from_secs(300));
    recorder.event(&web, EventType::Warning, "BackOff", "Back-off restarting failed container");
    wait_handled(&writer, 101).await;
    let events = events_about(&clientset, &ns, "web-0").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].metadata.name, event.metadata.name);
    assert_eq!(events[0].count, Some(101), "the count kept rising while writes were filtered");
}

/// The "100 identical events end as one Event with count 100" holds when the
/// spam filter allows that many writes (here a burst of 100).
#[tokio::test]
async fn identical_events_count_to_100_when_the_spam_burst_allows_it() {
    let (_cluster, clientset, ns) = start().await;
    let mut options = CorrelatorOptions::default();
    options.burst_size = 100;
    let broadcaster = broadcaster_with(options);
    let writer = broadcaster.start_recording_to_sink(EventSinkImpl::new(clientset.clone()));
    let recorder = broadcaster.new_recorder(source());
    let web = pod(&ns, "web-1");
    for _ in 0..100 {
        recorder.eventf(&web, EventType::Normal, "Pulled", format_args!("image {} pulled", "nginx:1.27"));
    }
    wait_handled(&writer, 100).await;
    assert_eq!(writer.stats().written, 100);
    let events = events_about(&clientset, &ns, "web-1").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].count, Some(100));
    assert_eq!(events[0].message.as_deref(), Some("image nginx:1.27 pulled"));
    assert!(events[0].first_timestamp.is_some() && events[0].last_timestamp >= events[0].first_timestamp);
}

/// Ten similar events (same object and reason, different messages) within ten minutes:
/// from the tenth on they are folded into one aggregate event.
#[tokio::test]
async fn similar_events_are_aggregated_from_the_tenth_on() {
    let (_cluster, clientset, ns) = start().await;
    let broadcaster = EventBroadcaster::new();
    let writer = broadcaster.start_recording_to_sink(EventSinkImpl::new(clientset.clone()));
    let recorder = broadcaster.new_recorder(source());
    let web = pod(&ns, "web-2");
    for i in 1..=12 {
        recorder.eventf(&web, EventType::Warning, "FailedMount", format_args!("volume vol-{i} not found"));
    }
    wait_handled(&writer, 12).await;
    assert_eq!(writer.stats().written, 12);
    let events = events_about(&clientset, &ns, "web-2").await;
    let (aggregate, single): (Vec<_>, Vec<_>) = events
        .iter()
        .partition(|e| e.message.as_deref().is_some_and(|m| m.starts_with("(combined from similar events): ")));
    assert_eq!(single.len(), 9, "the first nine are written as they are");
    assert!(single.iter().all(|e| e.count == Some(1)));
    assert_eq!(aggregate.len(), 1);
    assert_eq!(aggregate[0].count, Some(3), "events 10, 11 and 12");
    assert_eq!(aggregate[0].message.as_deref(), Some("(combined from similar events): volume vol-12 not found"));
}

/// A sink that stalls until opened, in front of the real one.
#[derive(Clone)]
struct GatedSink {
    inner: EventSinkImpl,
    open: tokio::sync::watch::Receiver<bool>,
    entered: Arc<tokio::sync::Notify>,
}

impl GatedSink {
    async fn gate(&self) {
        self.entered.notify_one();
        let mut open = self.open.clone();
        let _ = open.wait_for(|open| *open).await;
    }
}

impl EventSink for GatedSink {
    async fn create(&self, event: &Event) -> Result<Event, Error> {
        self.gate().await;
        self.inner.create(event).await
    }
    async fn update(&self, event: &Event) -> Result<Event, Error> {
        self.gate().await;
        self.inner.update(event).await
    }
    async fn patch(&self, event: &Event, patch: &serde_json::Value) -> Result<Event, Error> {
        self.gate().await;
        self.inner.patch(event, patch).await
    }
}

#[tokio::test]
async fn recording_never_waits_a_full_queue_drops_and_counts() {
    let (_cluster, clientset, ns) = start().await;
    let mut options = BroadcasterOptions::default();
    options.queue_length = 10;
    let broadcaster = EventBroadcaster::with_options(options);
    let (open, gate) = tokio::sync::watch::channel(false);
    let entered = Arc::new(tokio::sync::Notify::new());
    let sink = GatedSink { inner: EventSinkImpl::new(clientset.clone()), open: gate, entered: entered.clone() };
    let writer = broadcaster.start_recording_to_sink(sink);
    let recorder = broadcaster.new_recorder(source());

    // The first event reaches the sink, which stalls on it.
    recorder.event(&pod(&ns, "q-0"), EventType::Normal, "Queued", "m");
    tokio::time::timeout(WAIT, entered.notified()).await.expect("the sink gets the first event");
    // Ten more fill the queue; five more find it full. None of the calls waits.
    for i in 1..=15 {
        recorder.event(&pod(&ns, &format!("q-{i}")), EventType::Normal, "Queued", "m");
    }
    assert_eq!(broadcaster.dropped_events(), 5);
    assert_eq!(writer.stats().dropped, 5);

    open.send_replace(true);
    wait_handled(&writer, 11).await;
    assert_eq!(writer.stats().written, 11);
    let all = clientset.core_v1().events(&ns).list(&ListOptions::default()).await.unwrap().items;
    let queued: Vec<_> = all.iter().filter(|e| e.reason.as_deref() == Some("Queued")).collect();
    assert_eq!(queued.len(), 11);
    for i in 11..=15 {
        let name = format!("q-{i}");
        assert!(!queued.iter().any(|e| e.involved_object.name.as_deref() == Some(name.as_str())), "{name} was dropped");
    }
}

#[tokio::test]
async fn annotated_events_carry_their_annotations_and_the_recorders_source() {
    let (_cluster, clientset, ns) = start().await;
    let broadcaster = EventBroadcaster::new();
    let writer = broadcaster.start_recording_to_sink(EventSinkImpl::new(clientset.clone()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let logger = broadcaster.start_logging(move |line| {
        let _ = tx.send(line.to_owned());
    });
    let recorder = broadcaster.new_recorder(source());
    let annotations = BTreeMap::from([("example.com/trace".to_owned(), "abc".to_owned())]);
    recorder.annotated_eventf(
        &pod(&ns, "web-3"),
        annotations,
        EventType::Normal,
        "Synced",
        format_args!("synced {}", 3),
    );
    wait_handled(&writer, 1).await;
    let events = events_about(&clientset, &ns, "web-3").await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.metadata.annotations.as_ref().unwrap()["example.com/trace"], "abc");
    assert_eq!(e.message.as_deref(), Some("synced 3"));
    assert_eq!(e.reporting_component.as_deref(), Some("record-test"));
    assert_eq!(e.reporting_instance.as_deref(), Some("node-1"));
    assert!(e.metadata.name.as_deref().unwrap().starts_with("web-3."));
    let line = tokio::time::timeout(WAIT, rx.recv()).await.unwrap().unwrap();
    assert!(line.contains("reason: 'Synced' synced 3"), "{line}");
    assert_eq!(logger.stats().delivered, 1);
}

/// events.k8s.io/v1: isomorphic events become one Event with a series whose count
/// rises; a finished series is written a last time and the next event starts anew.
#[tokio::test]
async fn isomorphic_events_become_a_series_whose_count_rises() {
    let (_cluster, clientset, ns) = start().await;
    let mut options = eventsv1::BroadcasterOptions::default();
    // client-go finishes a series after 6 quiet minutes; 2 s keeps the test short.
    options.finish_time = Duration::from_secs(2);
    let broadcaster =
        eventsv1::EventBroadcaster::with_options(eventsv1::EventSinkImpl::new(clientset.clone()), options);
    let token = tokio_util::sync::CancellationToken::new();
    broadcaster.start_recording_to_sink(token.clone()).unwrap();
    assert!(broadcaster.start_recording_to_sink(token.clone()).is_err(), "one sink per broadcaster");
    let recorder = broadcaster.new_recorder("series-test-controller");
    let web = pod(&ns, "web-4");
    let node = ObjectReference { kind: Some("Node".into()), name: Some("node-1".into()), ..Default::default() };

    let list = || async {
        let mut items = clientset.events_v1().events(&ns).list(&ListOptions::default()).await.unwrap().items;
        items.retain(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("web-4"));
        items
    };
    recorder.eventf(&web, Some(&node), EventType::Normal, "Scheduled", "Binding", format_args!("bound to node-1"));
    let deadline = Instant::now() + WAIT;
    let first = loop {
        if let [e] = list().await.as_slice() {
            break e.clone();
        }
        assert!(Instant::now() < deadline, "the first event is written");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(first.series.is_none());
    assert_eq!(first.action.as_deref(), Some("Binding"));
    assert_eq!(first.note.as_deref(), Some("bound to node-1"));
    assert_eq!(first.reporting_controller.as_deref(), Some("series-test-controller"));
    assert!(first.reporting_instance.as_deref().unwrap().starts_with("series-test-controller-"));
    assert!(first.event_time.is_some());
    assert_eq!(first.related.as_ref().and_then(|r| r.name.as_deref()), Some("node-1"));

    for _ in 0..4 {
        recorder.eventf(&web, Some(&node), EventType::Normal, "Scheduled", "Binding", format_args!("bound to node-1"));
    }
    // The second event patches the series in at once; the rest only count in the cache
    // until the series is finished (here after 2 quiet seconds) and written a last time.
    let mut counts = Vec::new();
    let deadline = Instant::now() + WAIT;
    loop {
        let items = list().await;
        assert_eq!(items.len(), 1, "one Event for the whole series");
        let count = items[0].series.as_ref().map(|s| s.count);
        if counts.last() != Some(&count) {
            counts.push(count);
        }
        if count == Some(5) {
            break;
        }
        assert!(Instant::now() < deadline, "series counts seen: {counts:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counts.ends_with(&[Some(2), Some(5)]), "series counts seen: {counts:?}");

    // The finished series is forgotten: the next isomorphic event is a new Event.
    let deadline = Instant::now() + WAIT;
    recorder.eventf(&web, Some(&node), EventType::Normal, "Scheduled", "Binding", format_args!("bound to node-1"));
    while list().await.len() < 2 {
        assert!(Instant::now() < deadline, "a new Event after the series finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(broadcaster.dropped_events(), 0);
    broadcaster.shutdown();
}
