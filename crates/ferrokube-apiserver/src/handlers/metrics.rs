//! `/metrics`: kube-apiserver's core metrics in the Prometheus text format (0.0.4), so a
//! test (or a Prometheus scraping the binary) can see what a cluster would show.
//!
//! Served, with kube-apiserver's names and labels:
//! - `apiserver_request_total` (counter): every request, by `verb` (kube's metric verbs:
//!   `GET`, `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`, `APPLY`, `DELETE`,
//!   `DELETECOLLECTION`; the HTTP method for non-resource paths), `group`, `version`,
//!   `resource`, `subresource`, `scope` (`resource`, `namespace`, `cluster`, or empty for
//!   non-resource paths), `component="apiserver"`, `dry_run` and `code`;
//! - `apiserver_request_duration_seconds` (histogram, kube's buckets): the time to the
//!   response headers, for everything but `WATCH` (a watch lasts as long as its client
//!   wants, so kube's latency figures leave it out too);
//! - `apiserver_storage_objects` (gauge): stored objects per resource (`pods`,
//!   `deployments.apps`), read at scrape time;
//! - `apiserver_longrunning_requests` (gauge): open watches per resource, read at scrape
//!   time from the store's live watchers. The server's in-process controllers watch the
//!   store directly, and their watches count too (on a cluster the controller manager's
//!   watches are HTTP requests, and count there as well).
//!
//! [`RequestMetrics::record`] is called by [`super::Handler::handle`] for each answered
//! request; [`RequestMetrics::render`] writes the page. Who may read it is RBAC's
//! business (`system:monitoring`, and the admin), as on a cluster.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use http::Method;

use crate::auth::rbac::attributes::Attributes;
use crate::storage::Store;

/// kube-apiserver's buckets of `apiserver_request_duration_seconds` (seconds).
const DURATION_BUCKETS: [f64; 23] = [
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0,
    45.0, 60.0,
];

/// The labels a request is counted under (kube's `apiserver_request_total` labels but
/// `code` and `component`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestLabels {
    verb: String,
    dry_run: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
}

impl RequestLabels {
    /// The labels of a request, from its method, path and query as kube's RequestInfo
    /// reads them.
    pub fn of(method: &Method, path: &str, query: Option<&str>) -> RequestLabels {
        let attrs = Attributes::from_request(Default::default(), method, path, query);
        if !attrs.resource_request {
            return RequestLabels { verb: method.as_str().to_owned(), ..Default::default() };
        }
        let verb = match attrs.verb.as_str() {
            "create" => "POST".to_owned(),
            "update" => "PUT".to_owned(),
            other => other.to_uppercase(),
        };
        RequestLabels::resource(&attrs, &verb, query)
    }

    fn resource(attrs: &Attributes, verb: &str, query: Option<&str>) -> RequestLabels {
        let scope = if !attrs.name.is_empty() {
            "resource"
        } else if !attrs.namespace.is_empty() {
            "namespace"
        } else {
            "cluster"
        };
        let dry_run = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|pair| pair.strip_prefix("dryRun="))
            .next()
            .unwrap_or_default()
            .to_owned();
        RequestLabels {
            verb: verb.to_owned(),
            dry_run,
            group: attrs.api_group.clone(),
            version: attrs.api_version.clone(),
            resource: attrs.resource.clone(),
            subresource: attrs.subresource.clone(),
            scope: scope.to_owned(),
        }
    }

    /// A patch whose content type is server-side apply counts as `APPLY`, as in kube.
    pub fn with_apply(mut self, content_type: Option<&str>) -> RequestLabels {
        if self.verb == "PATCH" && content_type.is_some_and(|c| c.starts_with("application/apply-patch")) {
            self.verb = "APPLY".to_owned();
        }
        self
    }

    fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            "component=\"apiserver\",dry_run=\"{}\",group=\"{}\",resource=\"{}\",scope=\"{}\",subresource=\"{}\",verb=\"{}\",version=\"{}\"",
            escape(&self.dry_run),
            escape(&self.group),
            escape(&self.resource),
            escape(&self.scope),
            escape(&self.subresource),
            escape(&self.verb),
            escape(&self.version)
        );
    }
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Series {
    by_code: BTreeMap<u16, u64>,
    duration: Option<Histogram>,
}

/// The request counters and latency histograms of one server.
#[derive(Default)]
pub struct RequestMetrics {
    series: Mutex<BTreeMap<RequestLabels, Series>>,
}

impl std::fmt::Debug for RequestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestMetrics").finish_non_exhaustive()
    }
}

impl RequestMetrics {
    /// Counts one answered request, with the time to its response headers.
    pub fn record(&self, labels: RequestLabels, code: u16, elapsed: Duration) {
        let watch = labels.verb == "WATCH";
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let entry = series.entry(labels).or_default();
        *entry.by_code.entry(code).or_default() += 1;
        if !watch {
            let histogram = entry.duration.get_or_insert_with(Histogram::default);
            let seconds = elapsed.as_secs_f64();
            for (bucket, le) in histogram.buckets.iter_mut().zip(DURATION_BUCKETS) {
                if seconds <= le {
                    *bucket += 1;
                }
            }
            histogram.count += 1;
            histogram.sum += seconds;
        }
    }

    /// The `/metrics` page: the request series, then the storage gauges read from `store`.
    pub fn render(&self, store: &Store) -> String {
        let mut out = String::new();
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.\n");
        out.push_str("# TYPE apiserver_request_total counter\n");
        for (labels, s) in series.iter() {
            for (code, n) in &s.by_code {
                out.push_str("apiserver_request_total{code=\"");
                let _ = write!(out, "{code}\",");
                labels.write(&mut out);
                let _ = writeln!(out, "}} {n}");
            }
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.\n");
        out.push_str("# TYPE apiserver_request_duration_seconds histogram\n");
        for (labels, s) in series.iter() {
            let Some(h) = &s.duration else { continue };
            for (le, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
                out.push_str("apiserver_request_duration_seconds_bucket{");
                labels.write(&mut out);
                let _ = writeln!(out, ",le=\"{le}\"}} {n}");
            }
            out.push_str("apiserver_request_duration_seconds_bucket{");
            labels.write(&mut out);
            let _ = writeln!(out, ",le=\"+Inf\"}} {}", h.count);
            out.push_str("apiserver_request_duration_seconds_sum{");
            labels.write(&mut out);
            let _ = writeln!(out, "}} {}", h.sum);
            out.push_str("apiserver_request_duration_seconds_count{");
            labels.write(&mut out);
            let _ = writeln!(out, "}} {}", h.count);
        }
        drop(series);
        let mut resources = store.resource_keys();
        resources.sort();
        out.push_str(
            "# HELP apiserver_storage_objects Number of stored objects at the time of last check split by kind.\n",
        );
        out.push_str("# TYPE apiserver_storage_objects gauge\n");
        for key in &resources {
            let (group, plural) = key.split_once('/').unwrap_or(("", key));
            let name = if group.is_empty() { plural.to_owned() } else { format!("{plural}.{group}") };
            let _ = writeln!(
                out,
                "apiserver_storage_objects{{resource=\"{}\"}} {}",
                escape(&name),
                store.keys(key, None).len()
            );
        }
        out.push_str("# HELP apiserver_longrunning_requests Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component. Not all requests are tracked this way.\n");
        out.push_str("# TYPE apiserver_longrunning_requests gauge\n");
        for key in &resources {
            let watchers = store.watcher_count(key);
            if watchers == 0 {
                continue;
            }
            let (group, plural) = key.split_once('/').unwrap_or(("", key));
            let _ = writeln!(
                out,
                "apiserver_longrunning_requests{{component=\"apiserver\",group=\"{}\",resource=\"{}\",verb=\"WATCH\"}} {watchers}",
                escape(group),
                escape(plural)
            );
        }
        out
    }
}

/// A label value as the text format wants it (`\`, `"` and newlines escaped).
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_labels_as_kube() {
        let list = RequestLabels::of(&Method::GET, "/api/v1/namespaces/default/pods", None);
        assert_eq!((list.verb.as_str(), list.scope.as_str(), list.resource.as_str()), ("LIST", "namespace", "pods"));
        let watch = RequestLabels::of(&Method::GET, "/apis/apps/v1/deployments", Some("watch=true"));
        assert_eq!((watch.verb.as_str(), watch.scope.as_str(), watch.group.as_str()), ("WATCH", "cluster", "apps"));
        let get = RequestLabels::of(&Method::GET, "/api/v1/namespaces/default/pods/p/status", None);
        assert_eq!((get.verb.as_str(), get.scope.as_str(), get.subresource.as_str()), ("GET", "resource", "status"));
        let create = RequestLabels::of(&Method::POST, "/api/v1/namespaces/default/configmaps", Some("dryRun=All"));
        assert_eq!((create.verb.as_str(), create.dry_run.as_str()), ("POST", "All"));
        let apply = RequestLabels::of(&Method::PATCH, "/api/v1/namespaces/default/configmaps/c", None)
            .with_apply(Some("application/apply-patch+yaml"));
        assert_eq!(apply.verb, "APPLY");
        let health = RequestLabels::of(&Method::GET, "/readyz", None);
        assert_eq!((health.verb.as_str(), health.resource.as_str()), ("GET", ""));
    }

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let metrics = RequestMetrics::default();
        let labels = RequestLabels::of(&Method::GET, "/api/v1/namespaces/default/pods", None);
        metrics.record(labels.clone(), 200, Duration::from_millis(30));
        metrics.record(labels, 200, Duration::from_millis(3));
        metrics.record(RequestLabels::of(&Method::GET, "/api/v1/pods", Some("watch=1")), 200, Duration::from_secs(90));
        let store = Store::new();
        store
            .create("/pods", "default/p", serde_json::json!({"metadata": {"name": "p", "namespace": "default"}}))
            .unwrap();
        let page = metrics.render(&store);
        let list = "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"namespace\",subresource=\"\",verb=\"LIST\",version=\"v1\"";
        assert!(page.contains(&format!("apiserver_request_total{{code=\"200\",{list}}} 2\n")), "{page}");
        assert!(
            page.contains(&format!("apiserver_request_duration_seconds_bucket{{{list},le=\"0.005\"}} 1\n")),
            "{page}"
        );
        assert!(
            page.contains(&format!("apiserver_request_duration_seconds_bucket{{{list},le=\"0.05\"}} 2\n")),
            "{page}"
        );
        assert!(page.contains(&format!("apiserver_request_duration_seconds_count{{{list}}} 2\n")), "{page}");
        // The watch is counted, but has no latency series.
        assert!(page.contains("verb=\"WATCH\",version=\"v1\"} 1\n"), "{page}");
        assert!(!page.contains("apiserver_request_duration_seconds_count{component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"pods\",scope=\"cluster\""), "{page}");
        assert!(page.contains("apiserver_storage_objects{resource=\"pods\"} 1\n"), "{page}");
    }
}
