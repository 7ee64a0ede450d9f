//! Tests of the work queues and rate limiters. Timers run on tokio's paused clock: a
//! test advances time explicitly (or the runtime jumps to the next timer when every task
//! waits), so delays are checked exactly and nothing really sleeps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{advance, Instant};

use super::*;

const MS: Duration = Duration::from_millis(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Lets spawned tasks run until they wait again.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

// --- Queue -------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn fifo_and_adds_merged_while_queued() {
    let q = Queue::new();
    for item in ["a", "b", "a", "c", "b"] {
        q.add(item);
    }
    assert_eq!(q.len(), 3, "the second adds of a and b are merged");
    assert_eq!(q.get().await, Some("a"));
    assert_eq!(q.get().await, Some("b"));
    assert_eq!(q.get().await, Some("c"));
    assert_eq!(q.len(), 0);
    assert_eq!(q.processing_len(), 3);
}

#[tokio::test(start_paused = true)]
async fn item_added_while_processing_is_requeued_after_done_and_never_handed_out_twice() {
    let q = Queue::new();
    q.add("x");
    let x = q.get().await.unwrap();
    q.add("x"); // dirty again while processing: not queued yet
    q.add("x"); // and merged
    assert_eq!(q.len(), 0);
    q.add("y");
    assert_eq!(q.get().await, Some("y"), "a second worker gets y, not x");
    q.done(&"y");
    q.done(&x);
    assert_eq!(q.len(), 1, "x is queued again once done");
    assert_eq!(q.get().await, Some("x"));
    q.done(&"x");
    assert_eq!(q.len(), 0, "and only once");
    assert_eq!(q.processing_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn stray_done_changes_nothing() {
    let q = Queue::new();
    q.add("a");
    q.done(&"a"); // never handed out
    assert_eq!(q.len(), 1);
    assert_eq!(q.get().await, Some("a"));
}

#[tokio::test(start_paused = true)]
async fn waiting_worker_is_woken_by_add() {
    let q = Queue::<u32>::new();
    let worker = tokio::spawn({
        let q = q.clone();
        async move { q.get().await }
    });
    settle().await;
    q.add(7);
    assert_eq!(worker.await.unwrap(), Some(7));
}

#[tokio::test(start_paused = true)]
async fn get_is_cancel_safe() {
    let q = Queue::<u32>::new();
    assert!(tokio::time::timeout(ms(10), q.get()).await.is_err());
    q.add(1);
    assert_eq!(q.get().await, Some(1));
}

#[tokio::test(start_paused = true)]
async fn shut_down_ignores_adds_hands_out_the_rest_then_none() {
    let q = Queue::new();
    q.add(1);
    q.add(2);
    let idle = tokio::spawn({
        let q = q.clone();
        async move { (q.get().await, q.get().await, q.get().await) }
    });
    // The spawned worker takes 1 and 2 and then waits.
    settle().await;
    q.shut_down();
    assert!(q.shutting_down());
    q.add(3);
    assert_eq!(idle.await.unwrap(), (Some(1), Some(2), None), "a waiting worker gets None at shutdown");
    assert_eq!(q.len(), 0, "adds after shutdown are ignored");

    let q = Queue::new();
    q.add("left");
    q.shut_down();
    assert_eq!(q.get().await, Some("left"), "items queued before shutdown are still handed out");
    assert_eq!(q.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn shut_down_with_drain_waits_for_queued_and_processing_items() {
    let q = Queue::new();
    q.add("a");
    q.add("b");
    let a = q.get().await.unwrap();
    q.add("a"); // dirty while processing: must be processed again before the drain ends
    let drain = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    while !q.shutting_down() {
        tokio::task::yield_now().await;
    }
    // The drain task set shutting_down and went on to wait in the same poll.
    assert!(!drain.is_finished());
    q.add("c"); // ignored: shutting down
    assert_eq!(q.get().await, Some("b"));
    q.done(&"b");
    q.done(&a);
    assert_eq!(q.get().await, Some("a"), "the re-add made before shutdown is processed");
    settle().await;
    assert!(!drain.is_finished(), "a is still processing");
    q.done(&"a");
    drain.await.unwrap();
    assert_eq!(q.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn shut_down_stops_a_drain_from_waiting() {
    let q = Queue::new();
    q.add(1);
    let _one = q.get().await.unwrap();
    let drain = tokio::spawn({
        let q = q.clone();
        async move { q.shut_down_with_drain().await }
    });
    while !q.shutting_down() {
        tokio::task::yield_now().await;
    }
    q.shut_down();
    drain.await.unwrap();
    assert_eq!(q.processing_len(), 1, "the item was never done, the drain was cut short");
}

#[tokio::test(start_paused = true)]
async fn shut_down_with_drain_of_an_idle_queue_returns_at_once() {
    let q = Queue::<u8>::new();
    q.shut_down_with_drain().await;
    assert_eq!(q.get().await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_workers_never_process_one_item_concurrently() {
    // Real threads here: the point is parallelism. The workers yield while "processing",
    // so items are re-added while they are in flight.
    let q = Queue::<u32>::new();
    let in_flight: Arc<Vec<AtomicUsize>> = Arc::new((0..5).map(|_| AtomicUsize::new(0)).collect());
    let max_seen = Arc::new(AtomicUsize::new(0));
    let max_parallel = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicUsize::new(0));
    let processed = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (q, in_flight, max_seen) = (q.clone(), in_flight.clone(), max_seen.clone());
        let (max_parallel, running, processed) = (max_parallel.clone(), running.clone(), processed.clone());
        workers.push(tokio::spawn(async move {
            while let Some(item) = q.get().await {
                let now = in_flight[item as usize].fetch_add(1, Ordering::SeqCst) + 1;
                max_seen.fetch_max(now, Ordering::SeqCst);
                let r = running.fetch_add(1, Ordering::SeqCst) + 1;
                max_parallel.fetch_max(r, Ordering::SeqCst);
                for _ in 0..20 {
                    tokio::task::yield_now().await;
                }
                running.fetch_sub(1, Ordering::SeqCst);
                in_flight[item as usize].fetch_sub(1, Ordering::SeqCst);
                processed.fetch_add(1, Ordering::SeqCst);
                q.done(&item);
            }
        }));
    }
    for round in 0..2000u32 {
        q.add(round % 5);
        if round % 50 == 0 {
            tokio::task::yield_now().await;
        }
    }
    q.shut_down_with_drain().await;
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(max_seen.load(Ordering::SeqCst), 1, "an item was processed by two workers at once");
    assert!(max_parallel.load(Ordering::SeqCst) >= 2, "workers did run in parallel");
    assert!(processed.load(Ordering::SeqCst) >= 5);
    assert_eq!(q.processing_len(), 0);
}

#[test]
fn queue_with_metrics_can_be_made_outside_a_runtime() {
    let provider = Arc::new(Recorder::default());
    let q = RateLimitingQueue::with_config(
        default_controller_rate_limiter(),
        QueueConfig::named("q").metrics_provider(provider),
    );
    q.add(1u8);
    assert_eq!(q.len(), 1);
}

// --- DelayingQueue -----------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn delayed_items_come_out_in_due_order_at_their_time() {
    let q = DelayingQueue::new();
    let start = Instant::now();
    q.add_after("c", ms(300));
    q.add_after("a", ms(100));
    q.add_after("b", ms(200));
    assert_eq!(q.len(), 0);
    assert_eq!(q.waiting_len(), 3);
    advance(ms(99)).await;
    assert_eq!(q.len(), 0, "nothing is due at 99 ms");
    advance(MS).await;
    assert_eq!(q.len(), 1, "a is due at 100 ms");
    for (item, at) in [("a", 100), ("b", 200), ("c", 300)] {
        assert_eq!(q.get().await, Some(item));
        assert_eq!(Instant::now() - start, ms(at), "{item} handed out at its due time");
    }
    assert_eq!(q.waiting_len(), 0);
}

#[tokio::test(start_paused = true)]
async fn add_after_keeps_the_earlier_time_and_zero_adds_now() {
    let q = DelayingQueue::new();
    let start = Instant::now();
    q.add_after("x", ms(500));
    q.add_after("x", ms(800)); // later: ignored
    q.add_after("x", ms(200)); // earlier: wins
    assert_eq!(q.waiting_len(), 1);
    assert_eq!(q.get().await, Some("x"));
    assert_eq!(Instant::now() - start, ms(200));
    q.done(&"x");
    // The superseded entries do not fire later.
    q.add_after("z", ms(1000));
    assert_eq!(q.get().await, Some("z"));
    assert_eq!(Instant::now() - start, ms(1200));

    q.add_after("now", Duration::ZERO);
    assert_eq!(q.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn waiting_worker_wakes_for_an_earlier_item_scheduled_later() {
    let q = DelayingQueue::new();
    let start = Instant::now();
    q.add_after("late", Duration::from_secs(10));
    let worker = tokio::spawn({
        let q = q.clone();
        async move { (q.get().await, Instant::now()) }
    });
    settle().await;
    q.add_after("early", Duration::from_secs(1));
    let (item, at) = worker.await.unwrap();
    assert_eq!(item, Some("early"));
    assert_eq!(at - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn delayed_item_merges_with_pending_add_and_waits_for_done() {
    let q = DelayingQueue::new();
    q.add("k");
    let k = q.get().await.unwrap();
    q.add_after("k", ms(10));
    advance(ms(10)).await;
    assert_eq!(q.len(), 0, "due while processing: deferred until done");
    q.done(&k);
    assert_eq!(q.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn shut_down_drops_delayed_items_and_add_after_is_ignored() {
    let q = DelayingQueue::new();
    q.add_after(1, ms(10));
    q.shut_down();
    q.add_after(2, ms(10));
    assert_eq!(q.waiting_len(), 0);
    advance(ms(20)).await;
    assert_eq!(q.get().await, None);
}

#[tokio::test(start_paused = true)]
async fn huge_delay_does_not_overflow() {
    let q = DelayingQueue::new();
    q.add_after(1, Duration::MAX);
    assert_eq!(q.waiting_len(), 1);
    assert_eq!(q.len(), 0);
}

// --- Rate limiters -----------------------------------------------------------------

#[test]
fn exponential_doubles_from_base_to_cap_per_item() {
    let rl = ItemExponentialFailureRateLimiter::new(ms(5), Duration::from_secs(1000));
    let delays: Vec<Duration> = (0..5).map(|_| rl.when(&"one")).collect();
    assert_eq!(delays, [ms(5), ms(10), ms(20), ms(40), ms(80)]);
    assert_eq!(rl.num_requeues(&"one"), 5);
    assert_eq!(rl.when(&"two"), ms(5), "items are counted separately");
    // 5 ms × 2^17 = 655.36 s, × 2^18 = 1310.72 s > 1000 s.
    for _ in 5..17 {
        rl.when(&"one");
    }
    assert_eq!(rl.when(&"one"), Duration::from_millis(655_360));
    assert_eq!(rl.when(&"one"), Duration::from_secs(1000), "capped");
    for _ in 0..5000 {
        rl.when(&"one"); // no overflow, ever
    }
    assert_eq!(rl.when(&"one"), Duration::from_secs(1000));
    rl.forget(&"one");
    assert_eq!(rl.num_requeues(&"one"), 0);
    assert_eq!(rl.when(&"one"), ms(5), "forget starts again from the base");

    let item_based = default_item_based_rate_limiter();
    assert_eq!(item_based.when(&1), MS);
    assert_eq!(item_based.when(&1), ms(2));
}

#[tokio::test(start_paused = true)]
async fn bucket_allows_the_burst_then_spaces_by_100ms() {
    let rl = BucketRateLimiter::new(10.0, 100);
    for i in 0..100 {
        assert_eq!(RateLimiter::<u32>::when(&rl, &i), Duration::ZERO, "token {i} of the burst");
    }
    // Without time passing, each further token is reserved 100 ms after the previous.
    assert_eq!(RateLimiter::<u32>::when(&rl, &100), ms(100));
    assert_eq!(RateLimiter::<u32>::when(&rl, &101), ms(200));
    assert_eq!(RateLimiter::<u32>::num_requeues(&rl, &101), 0);
    // Once those wait times have passed, the steady rate is one token per 100 ms.
    advance(ms(200)).await;
    for i in 0..3 {
        assert_eq!(RateLimiter::<u32>::when(&rl, &i), ms(100));
        advance(ms(100)).await;
    }
    advance(Duration::from_secs(60)).await;
    assert_eq!(RateLimiter::<u32>::when(&rl, &0), Duration::ZERO, "refilled");
}

#[tokio::test(start_paused = true)]
async fn default_controller_rate_limiter_is_the_max_of_exponential_and_bucket() {
    let rl = default_controller_rate_limiter::<String>();
    // One item failing: the exponential part rules (the bucket has tokens).
    let delays: Vec<Duration> = (0..4).map(|_| rl.when(&"a".to_owned())).collect();
    assert_eq!(delays, [ms(5), ms(10), ms(20), ms(40)]);
    assert_eq!(rl.num_requeues(&"a".to_owned()), 4);
    rl.forget(&"a".to_owned());
    assert_eq!(rl.num_requeues(&"a".to_owned()), 0);
    // Many items failing once: 96 tokens are left of the burst of 100, then the bucket
    // rules at 10 qps.
    for i in 0..96 {
        assert_eq!(rl.when(&format!("item-{i}")), ms(5));
    }
    assert_eq!(rl.when(&"item-96".to_owned()), ms(100));
    assert_eq!(rl.when(&"item-97".to_owned()), ms(200));
}

#[test]
fn fast_slow_switches_after_max_fast_attempts() {
    let rl = ItemFastSlowRateLimiter::new(ms(5), Duration::from_secs(10), 3);
    let delays: Vec<Duration> = (0..5).map(|_| rl.when(&"x")).collect();
    assert_eq!(delays, [ms(5), ms(5), ms(5), Duration::from_secs(10), Duration::from_secs(10)]);
    assert_eq!(rl.num_requeues(&"x"), 5);
    assert_eq!(rl.when(&"y"), ms(5));
    rl.forget(&"x");
    assert_eq!(rl.num_requeues(&"x"), 0);
    assert_eq!(rl.when(&"x"), ms(5));
}

#[test]
fn max_of_and_with_max_wait() {
    let rl = MaxOfRateLimiter::new(vec![
        Box::new(ItemFastSlowRateLimiter::new(ms(50), Duration::from_secs(5), 1)),
        Box::new(ItemExponentialFailureRateLimiter::new(ms(10), Duration::from_secs(1))),
    ]);
    assert_eq!(rl.when(&1), ms(50)); // fast 50 vs exp 10
    assert_eq!(rl.when(&1), Duration::from_secs(5)); // slow 5 s vs exp 20 ms
    assert_eq!(rl.num_requeues(&1), 2);
    rl.forget(&1);
    assert_eq!(rl.num_requeues(&1), 0, "forget reaches every limiter");
    assert_eq!(rl.when(&1), ms(50));
    assert_eq!(MaxOfRateLimiter::<u8>::new(vec![]).when(&0), Duration::ZERO);

    let capped =
        WithMaxWaitRateLimiter::new(ItemExponentialFailureRateLimiter::new(ms(100), Duration::from_secs(100)), ms(250));
    let delays: Vec<Duration> = (0..4).map(|_| capped.when(&"z")).collect();
    assert_eq!(delays, [ms(100), ms(200), ms(250), ms(250)]);
    assert_eq!(capped.num_requeues(&"z"), 4);
    capped.forget(&"z");
    assert_eq!(capped.num_requeues(&"z"), 0);
}

#[test]
fn shared_limiter_through_arc() {
    let shared = Arc::new(ItemExponentialFailureRateLimiter::new(ms(1), ms(100)));
    let a = RateLimitingQueue::new(Arc::clone(&shared));
    assert_eq!(a.rate_limiter().when(&1u8), ms(1));
    assert_eq!(shared.num_requeues(&1), 1);
}

// --- RateLimitingQueue -------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn add_rate_limited_backs_off_per_item_until_forgotten() {
    let q = RateLimitingQueue::new(default_controller_rate_limiter());
    let start = Instant::now();
    let mut at = Vec::new();
    q.add("key".to_owned());
    for _ in 0..4 {
        let key = q.get().await.unwrap();
        at.push(Instant::now() - start);
        q.add_rate_limited(key.clone()); // the sync failed
        q.done(&key);
    }
    // Handed out at 0, then 5, 10 and 20 ms after each failure.
    assert_eq!(at, [ms(0), ms(5), ms(15), ms(35)]);
    assert_eq!(q.num_requeues(&"key".to_owned()), 4);
    let key = q.get().await.unwrap(); // the fourth retry, 40 ms later
    assert_eq!(Instant::now() - start, ms(75));
    q.forget(&key); // the sync succeeded
    q.done(&key);
    assert_eq!(q.num_requeues(&key), 0);
    q.add_rate_limited(key.clone());
    q.get().await.unwrap();
    assert_eq!(Instant::now() - start, ms(80), "back to the base delay");
}

// --- Metrics -----------------------------------------------------------------------

/// Records every metric of every queue, by `queue/metric`.
#[derive(Default)]
struct Recorder {
    log: Arc<Mutex<HashMap<String, Vec<f64>>>>,
}

/// One metric: gauges and counters keep their running value as the last entry,
/// settable gauges the values set, histograms every observation.
struct Cell {
    key: String,
    log: Arc<Mutex<HashMap<String, Vec<f64>>>>,
}

impl Cell {
    fn push(&self, f: impl FnOnce(&mut Vec<f64>)) {
        f(self.log.lock().unwrap().entry(self.key.clone()).or_default())
    }
    fn bump(&self, by: f64) {
        self.push(|v| {
            let last = v.last().copied().unwrap_or(0.0);
            v.push(last + by)
        })
    }
}

impl GaugeMetric for Cell {
    fn inc(&self) {
        self.bump(1.0)
    }
    fn dec(&self) {
        self.bump(-1.0)
    }
}
impl CounterMetric for Cell {
    fn inc(&self) {
        self.bump(1.0)
    }
}
impl SettableGaugeMetric for Cell {
    fn set(&self, value: f64) {
        self.push(|v| v.push(value))
    }
}
impl HistogramMetric for Cell {
    fn observe(&self, value: f64) {
        self.push(|v| v.push(value))
    }
}

impl Recorder {
    fn cell(&self, name: &str, metric: &str) -> Box<Cell> {
        Box::new(Cell { key: format!("{name}/{metric}"), log: Arc::clone(&self.log) })
    }
    fn values(&self, key: &str) -> Vec<f64> {
        self.log.lock().unwrap().get(key).cloned().unwrap_or_default()
    }
    fn last(&self, key: &str) -> f64 {
        self.values(key).last().copied().unwrap_or(0.0)
    }
}

impl MetricsProvider for Recorder {
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric> {
        self.cell(name, "depth")
    }
    fn new_adds_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        self.cell(name, "adds")
    }
    fn new_latency_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        self.cell(name, "latency")
    }
    fn new_work_duration_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        self.cell(name, "work_duration")
    }
    fn new_unfinished_work_seconds_metric(&self, name: &str) -> Box<dyn SettableGaugeMetric> {
        self.cell(name, "unfinished_work_seconds")
    }
    fn new_longest_running_processor_seconds_metric(&self, name: &str) -> Box<dyn SettableGaugeMetric> {
        self.cell(name, "longest_running_processor_seconds")
    }
    fn new_retries_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        self.cell(name, "retries")
    }
}

#[tokio::test(start_paused = true)]
async fn metrics_report_depth_adds_latency_work_and_retries() {
    let rec = Arc::new(Recorder::default());
    let q = RateLimitingQueue::with_config(
        default_controller_rate_limiter(),
        QueueConfig::named("test").metrics_provider(rec.clone()),
    );
    q.add("a");
    q.add("a"); // merged: not an add
    q.add("b");
    assert_eq!(rec.last("test/adds"), 2.0);
    assert_eq!(rec.last("test/depth"), 2.0);

    advance(ms(200)).await;
    let a = q.get().await.unwrap();
    assert_eq!(rec.values("test/latency"), [0.2]);
    assert_eq!(rec.last("test/depth"), 1.0);

    // The unfinished-work gauges are published every 500 ms from the queue's creation.
    advance(ms(300)).await;
    settle().await;
    assert_eq!(rec.values("test/unfinished_work_seconds"), [0.3]);
    assert_eq!(rec.values("test/longest_running_processor_seconds"), [0.3]);
    let b = q.get().await.unwrap();
    assert_eq!(rec.values("test/latency"), [0.2, 0.5]);
    advance(ms(500)).await;
    settle().await;
    // a has run 0.8 s, b 0.5 s.
    assert_eq!(rec.values("test/unfinished_work_seconds"), [0.3, 1.3]);
    assert_eq!(rec.values("test/longest_running_processor_seconds"), [0.3, 0.8]);

    q.done(&a);
    advance(ms(100)).await;
    q.done(&b);
    assert_eq!(rec.values("test/work_duration"), [0.8, 0.6]);

    q.add_rate_limited("a");
    q.add_after("c", ms(10));
    assert_eq!(rec.last("test/retries"), 2.0);
    assert_eq!(rec.last("test/adds"), 2.0, "delayed items are added when due");
    q.get().await.unwrap();
    q.get().await.unwrap();
    assert_eq!(rec.last("test/adds"), 4.0);
    assert_eq!(rec.last("test/depth"), 0.0);

    q.shut_down();
    let published = rec.values("test/unfinished_work_seconds").len();
    advance(Duration::from_secs(5)).await;
    settle().await;
    assert_eq!(rec.values("test/unfinished_work_seconds").len(), published, "the gauge loop stops at shutdown");
}

#[tokio::test(start_paused = true)]
async fn unnamed_queue_reports_nothing() {
    let rec = Arc::new(Recorder::default());
    let q = DelayingQueue::with_config(QueueConfig::default().metrics_provider(rec.clone()));
    q.add(1);
    q.add_after(2, MS);
    assert!(rec.log.lock().unwrap().is_empty());
}
