//! `util::workqueue::metrics`: the hooks a queue reports through (client-go
//! `workqueue.MetricsProvider`).
//!
//! A queue created with a non-empty [`name`](super::QueueConfig::name) and a
//! [`MetricsProvider`] asks the provider for one metric of each kind, passing the queue's
//! name, and then reports:
//!
//! | metric | kind | what |
//! | --- | --- | --- |
//! | depth | [`GaugeMetric`] | items added and not yet handed out (an item re-added while processing counts; a delayed one once due) |
//! | adds | [`CounterMetric`] | adds that put an item in the queue (merged adds are not counted) |
//! | latency | [`HistogramMetric`] | seconds an item waited between its add and the `get` that handed it out |
//! | work duration | [`HistogramMetric`] | seconds between `get` and `done` |
//! | unfinished work | [`SettableGaugeMetric`] | seconds of work in progress, summed over items being processed; updated every 500 ms |
//! | longest running processor | [`SettableGaugeMetric`] | seconds the oldest item in progress has been processed; updated every 500 ms |
//! | retries | [`CounterMetric`] | calls of `add_after` (so also `add_rate_limited`) |
//!
//! Providers adapt these to a metrics library (Prometheus, OpenTelemetry, ...). Every
//! method of [`MetricsProvider`] has a no-op default, so a provider implements only the
//! metrics it exports. Without a name or a provider a queue reports nothing and keeps no
//! timing bookkeeping at all.
//!
//! Unlike client-go there is no process-wide provider (`SetProvider`): each queue gets its
//! provider from its [`QueueConfig`](super::QueueConfig). Times come from tokio's clock,
//! so tests with a paused clock see exact values.

use std::collections::HashMap;
use std::hash::Hash;

use tokio::time::Instant;

/// A value that goes up and down by one (client-go `GaugeMetric`).
pub trait GaugeMetric: Send + Sync {
    /// Adds one.
    fn inc(&self);
    /// Subtracts one.
    fn dec(&self);
}

/// A value that is set (client-go `SettableGaugeMetric`).
pub trait SettableGaugeMetric: Send + Sync {
    /// Sets the value.
    fn set(&self, value: f64);
}

/// A value that only goes up (client-go `CounterMetric`).
pub trait CounterMetric: Send + Sync {
    /// Adds one.
    fn inc(&self);
}

/// A distribution of observations (client-go `HistogramMetric`).
pub trait HistogramMetric: Send + Sync {
    /// Records one observation.
    fn observe(&self, value: f64);
}

/// A metric that ignores everything; what the [`MetricsProvider`] defaults hand out.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopMetric;

impl GaugeMetric for NoopMetric {
    fn inc(&self) {}
    fn dec(&self) {}
}

impl SettableGaugeMetric for NoopMetric {
    fn set(&self, _: f64) {}
}

impl CounterMetric for NoopMetric {
    fn inc(&self) {}
}

impl HistogramMetric for NoopMetric {
    fn observe(&self, _: f64) {}
}

/// Makes the metrics of a named queue (client-go `MetricsProvider`). Each method is
/// called once per queue with the queue's name; the defaults return [`NoopMetric`].
pub trait MetricsProvider: Send + Sync {
    /// Current number of queued items.
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric> {
        let _ = name;
        Box::new(NoopMetric)
    }
    /// Number of adds.
    fn new_adds_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        let _ = name;
        Box::new(NoopMetric)
    }
    /// Seconds items waited in the queue.
    fn new_latency_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        let _ = name;
        Box::new(NoopMetric)
    }
    /// Seconds items took to process.
    fn new_work_duration_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        let _ = name;
        Box::new(NoopMetric)
    }
    /// Seconds of work in progress, summed.
    fn new_unfinished_work_seconds_metric(&self, name: &str) -> Box<dyn SettableGaugeMetric> {
        let _ = name;
        Box::new(NoopMetric)
    }
    /// Seconds the longest running item has been processed.
    fn new_longest_running_processor_seconds_metric(&self, name: &str) -> Box<dyn SettableGaugeMetric> {
        let _ = name;
        Box::new(NoopMetric)
    }
    /// Number of delayed (retried) adds.
    fn new_retries_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        let _ = name;
        Box::new(NoopMetric)
    }
}

/// A provider whose metrics ignore everything (client-go's default provider).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopMetricsProvider;

impl MetricsProvider for NoopMetricsProvider {}

/// The metrics of one queue and the timestamps they are computed from. Lives inside the
/// queue's lock, as client-go's `defaultQueueMetrics`.
pub(crate) struct QueueMetrics<T> {
    depth: Box<dyn GaugeMetric>,
    adds: Box<dyn CounterMetric>,
    latency: Box<dyn HistogramMetric>,
    work_duration: Box<dyn HistogramMetric>,
    unfinished_work_seconds: Box<dyn SettableGaugeMetric>,
    longest_running_processor: Box<dyn SettableGaugeMetric>,
    add_times: HashMap<T, Instant>,
    processing_start_times: HashMap<T, Instant>,
}

impl<T: Clone + Eq + Hash> QueueMetrics<T> {
    pub(crate) fn new(provider: &dyn MetricsProvider, name: &str) -> Self {
        QueueMetrics {
            depth: provider.new_depth_metric(name),
            adds: provider.new_adds_metric(name),
            latency: provider.new_latency_metric(name),
            work_duration: provider.new_work_duration_metric(name),
            unfinished_work_seconds: provider.new_unfinished_work_seconds_metric(name),
            longest_running_processor: provider.new_longest_running_processor_seconds_metric(name),
            add_times: HashMap::new(),
            processing_start_times: HashMap::new(),
        }
    }

    /// An item entered the dirty set.
    pub(crate) fn add(&mut self, item: &T) {
        self.adds.inc();
        self.depth.inc();
        self.add_times.entry(item.clone()).or_insert_with(Instant::now);
    }

    /// An item was handed to a worker.
    pub(crate) fn get(&mut self, item: &T) {
        let now = Instant::now();
        self.depth.dec();
        self.processing_start_times.insert(item.clone(), now);
        if let Some(added) = self.add_times.remove(item) {
            self.latency.observe(now.saturating_duration_since(added).as_secs_f64());
        }
    }

    /// A worker finished an item.
    pub(crate) fn done(&mut self, item: &T) {
        if let Some(started) = self.processing_start_times.remove(item) {
            self.work_duration.observe(started.elapsed().as_secs_f64());
        }
    }

    /// Publishes the unfinished-work gauges.
    pub(crate) fn update_unfinished_work(&self) {
        let now = Instant::now();
        let (mut total, mut oldest) = (0.0f64, 0.0f64);
        for started in self.processing_start_times.values() {
            let age = now.saturating_duration_since(*started).as_secs_f64();
            total += age;
            oldest = oldest.max(age);
        }
        self.unfinished_work_seconds.set(total);
        self.longest_running_processor.set(oldest);
    }
}
