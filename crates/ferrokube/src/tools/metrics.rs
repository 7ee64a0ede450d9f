//! `tools::metrics`: request metrics hooks (client-go `tools/metrics`).
//!
//! client-go reports what its REST clients do through package-level hooks that a
//! metrics library registers once. Here the hooks are a trait, [`RequestMetrics`],
//! whose methods do nothing by default; an implementation is set per client on
//! [`rest::Config::metrics`](crate::rest::Config::metrics) (no global state), and every request of
//! that client reports to it:
//!
//! | hook | client-go | when |
//! |---|---|---|
//! | [`request_latency`](RequestMetrics::request_latency) | `RequestLatency` | once per request, from start to response headers (or failure) |
//! | [`request_result`](RequestMetrics::request_result) | `RequestResult` | after every attempt, with the code or `<error>` |
//! | [`request_retry`](RequestMetrics::request_retry) | `RequestRetry` | after every attempt that was a retry |
//! | [`rate_limiter_latency`](RequestMetrics::rate_limiter_latency) | `RateLimiterLatency` | after every wait for the client-side rate limiter |
//! | [`exec_plugin_call`](RequestMetrics::exec_plugin_call) | `ExecPluginCalls` | for credential plugins that report their runs |
//!
//! Labels are bounded as client-go bounds them: the host (not the full URL), the verb,
//! and a path template whose namespace and name are `{namespace}` and `{name}`.
//!
//! With the Cargo feature `metrics`, `MetricsFacade` forwards the hooks to the
//! [`metrics`](https://docs.rs/metrics) facade crate under the names client-go's
//! Prometheus adapter uses (`rest_client_request_duration_seconds`, ...).
//!
//! It depends on nothing else in the crate: `rest` and `transport` (credential plugins)
//! both report to it.
//!
//! Each request also runs inside a `tracing` span named `request` with the fields
//! `verb` and `url` (the URL without query or user info, so no secrets).

use std::time::Duration;

/// Receives the measurements of a client's requests (client-go `tools/metrics`).
/// Every method does nothing unless overridden.
pub trait RequestMetrics: Send + Sync {
    /// A request took `latency` from its start (rate limiting included) to its
    /// response headers or its failure.
    fn request_latency(&self, verb: &str, host: &str, path_template: &str, latency: Duration) {
        let _ = (verb, host, path_template, latency);
    }
    /// An attempt ended with HTTP status `code`, or `"<error>"` when there was no
    /// response.
    fn request_result(&self, code: &str, method: &str, host: &str) {
        let _ = (code, method, host);
    }
    /// An attempt that was a retry ended with `code` (as in
    /// [`request_result`](Self::request_result)).
    fn request_retry(&self, code: &str, method: &str, host: &str) {
        let _ = (code, method, host);
    }
    /// A request waited `latency` for the client-side rate limiter.
    fn rate_limiter_latency(&self, verb: &str, host: &str, path_template: &str, latency: Duration) {
        let _ = (verb, host, path_template, latency);
    }
    /// A credential plugin ran and exited with `exit_code`; `call_status` is one of
    /// client-go's `success`, `plugin_execution_error`, `plugin_not_found_error`,
    /// `client_internal_error`.
    fn exec_plugin_call(&self, exit_code: i32, call_status: &str) {
        let _ = (exit_code, call_status);
    }
}

/// Records nothing (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetrics;

impl RequestMetrics for NoMetrics {}

/// The code label of an attempt: the status code, or `<error>` without a response.
pub(crate) fn code_label(code: Option<u16>) -> std::borrow::Cow<'static, str> {
    match code {
        Some(c) => std::borrow::Cow::Owned(c.to_string()),
        None => std::borrow::Cow::Borrowed("<error>"),
    }
}

#[cfg(feature = "metrics")]
pub use facade::MetricsFacade;

#[cfg(feature = "metrics")]
mod facade {
    use std::time::Duration;

    use super::RequestMetrics;

    /// Forwards the hooks to the `metrics` facade crate, with the metric names and
    /// labels of client-go's Prometheus adapter (component-base `restclient`):
    ///
    /// | metric | kind | labels |
    /// |---|---|---|
    /// | `rest_client_request_duration_seconds` | histogram | `verb`, `host` |
    /// | `rest_client_requests_total` | counter | `code`, `method`, `host` |
    /// | `rest_client_request_retries_total` | counter | `code`, `verb`, `host` |
    /// | `rest_client_rate_limiter_duration_seconds` | histogram | `verb`, `host` |
    /// | `rest_client_exec_plugin_call_total` | counter | `code`, `call_status` |
    ///
    /// Install a recorder (a Prometheus exporter, ...) with the `metrics` crate as
    /// usual, then set `config.metrics = Some(Arc::new(MetricsFacade))`.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct MetricsFacade;

    impl RequestMetrics for MetricsFacade {
        fn request_latency(&self, verb: &str, host: &str, _path_template: &str, latency: Duration) {
            metrics::histogram!("rest_client_request_duration_seconds", "verb" => verb.to_owned(), "host" => host.to_owned())
                .record(latency.as_secs_f64());
        }
        fn request_result(&self, code: &str, method: &str, host: &str) {
            metrics::counter!("rest_client_requests_total", "code" => code.to_owned(), "method" => method.to_owned(), "host" => host.to_owned())
                .increment(1);
        }
        fn request_retry(&self, code: &str, method: &str, host: &str) {
            metrics::counter!("rest_client_request_retries_total", "code" => code.to_owned(), "verb" => method.to_owned(), "host" => host.to_owned())
                .increment(1);
        }
        fn rate_limiter_latency(&self, verb: &str, host: &str, _path_template: &str, latency: Duration) {
            metrics::histogram!("rest_client_rate_limiter_duration_seconds", "verb" => verb.to_owned(), "host" => host.to_owned())
                .record(latency.as_secs_f64());
        }
        fn exec_plugin_call(&self, exit_code: i32, call_status: &str) {
            metrics::counter!("rest_client_exec_plugin_call_total", "code" => exit_code.to_string(), "call_status" => call_status.to_owned())
                .increment(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_do_nothing_and_codes_are_labels() {
        let m: &dyn RequestMetrics = &NoMetrics;
        m.request_latency("GET", "h", "/api/v1/pods", Duration::from_millis(1));
        m.request_result("200", "GET", "h");
        assert_eq!(code_label(Some(429)), "429");
        assert_eq!(code_label(None), "<error>");
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn facade_forwards_with_client_go_names() {
        use std::sync::{Arc, Mutex};

        use metrics::{Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};

        /// Metric name, labels, value.
        type Sample = (String, Vec<(String, String)>, f64);
        #[derive(Default)]
        struct Seen(Mutex<Vec<Sample>>);
        struct Handle(Arc<Seen>, Key);
        impl CounterFn for Handle {
            fn increment(&self, value: u64) {
                self.record_value(value as f64);
            }
            fn absolute(&self, _value: u64) {}
        }
        impl HistogramFn for Handle {
            fn record(&self, value: f64) {
                self.record_value(value);
            }
        }
        impl Handle {
            fn record_value(&self, v: f64) {
                let labels = self.1.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
                self.0 .0.lock().unwrap().push((self.1.name().to_owned(), labels, v));
            }
        }
        struct Rec(Arc<Seen>);
        impl metrics::Recorder for Rec {
            fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
                Counter::from_arc(Arc::new(Handle(self.0.clone(), key.clone())))
            }
            fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
                Gauge::noop()
            }
            fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
                Histogram::from_arc(Arc::new(Handle(self.0.clone(), key.clone())))
            }
        }

        let seen = Arc::new(Seen::default());
        let rec = Rec(seen.clone());
        metrics::with_local_recorder(&rec, || {
            let m = MetricsFacade;
            m.request_result("429", "GET", "10.0.0.1:6443");
            m.request_retry("200", "GET", "10.0.0.1:6443");
            m.request_latency(
                "GET",
                "10.0.0.1:6443",
                "/api/v1/namespaces/{namespace}/pods",
                Duration::from_millis(1500),
            );
            m.rate_limiter_latency("PUT", "h", "/x", Duration::from_millis(250));
            m.exec_plugin_call(1, "plugin_execution_error");
        });
        let got = seen.0.lock().unwrap().clone();
        let names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "rest_client_requests_total",
                "rest_client_request_retries_total",
                "rest_client_request_duration_seconds",
                "rest_client_rate_limiter_duration_seconds",
                "rest_client_exec_plugin_call_total",
            ]
        );
        let label = |i: usize, k: &str| got[i].1.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(label(0, "code").as_deref(), Some("429"));
        assert_eq!(label(0, "host").as_deref(), Some("10.0.0.1:6443"));
        assert_eq!(label(1, "verb").as_deref(), Some("GET"));
        assert_eq!(got[2].2, 1.5);
        assert_eq!(label(4, "call_status").as_deref(), Some("plugin_execution_error"));
    }
}
