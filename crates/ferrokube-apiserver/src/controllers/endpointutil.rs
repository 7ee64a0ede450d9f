//! What the Endpoints and EndpointSlice controllers share: which Services get
//! endpoints, which of their pods count, a pod's address and ports for a Service, and
//! the `endpoints.kubernetes.io/last-change-trigger-time` bookkeeping (kube's
//! `k8s.io/endpointslice/util` and `pkg/api/v1/pod.FindPort`).
//!
//! Both controllers (`endpoints`, `endpointslice`) list Services, pods and their own
//! objects each pass; this module turns a (Service, pod) pair into the facts they
//! both publish, so the two never disagree on an address, a port or readiness:
//!
//! - a Service is served when it has a non-empty `spec.selector` and is not of type
//!   `ExternalName` ([`service_selector`]); its pods are those of its namespace whose
//!   labels hold every selector pair ([`PodIndex::select`], over the pods of the pass
//!   indexed once by namespace and label pair, rather than a scan of the namespace
//!   per Service as kube's lister does: with hundreds of Services over thousands of
//!   pods those scans were nearly all of a pass);
//! - a pod counts when it has a `podIP`, is not terminal (Succeeded/Failed) and, unless
//!   terminating pods are wanted, has no `deletionTimestamp`
//!   ([`should_pod_be_in_endpoints`]);
//! - a Service port's `targetPort` is a number, or the name of a container port of the
//!   same protocol (sidecar init containers, `restartPolicy: Always`, included)
//!   ([`find_port`]); a pod without the named port is left out of that port;
//! - the hostname is published when the pod's `spec.hostname` is set and its
//!   `spec.subdomain` names the Service ([`should_set_hostname`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::compact::Node;
use super::objects::{self, AsJson, Json, JsonObject};

/// Label naming the Service of an EndpointSlice (`discovery.LabelServiceName`).
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
/// Label marking the Endpoints and EndpointSlices of a headless Service
/// (`v1.IsHeadlessService`).
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
/// Annotation holding the time of the change that led to the last write
/// (`v1.EndpointsLastChangeTriggerTime`).
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// `spec.selector` of a Service the endpoint controllers serve: `None` for an
/// `ExternalName` Service and for one without a selector (or with an empty one:
/// kube's stored form drops it), whose endpoints are written by hand.
pub fn service_selector(svc: &Value) -> Option<&Map<String, Value>> {
    if objects::at(svc, &["spec", "type"]).and_then(Json::as_str) == Some("ExternalName") {
        return None;
    }
    objects::object_at(svc, &["spec", "selector"]).filter(|s| !s.is_empty())
}

/// The pods of one pass, indexed by namespace and by (namespace, label, value), so
/// that a Service's selection reads only the pods that carry one of its pairs.
pub struct PodIndex<'a> {
    /// Every pod of each namespace, in the order given.
    by_namespace: HashMap<&'a str, Vec<&'a Node>>,
    /// The pods of each (namespace, label key, label value), in the order given;
    /// string label values only.
    by_label: HashMap<(&'a str, &'a str, &'a str), Vec<&'a Node>>,
}

impl<'a> PodIndex<'a> {
    /// Indexes `pods` (a cache's list: namespace/name order, which selections keep).
    pub fn new(pods: &'a [Arc<Node>]) -> PodIndex<'a> {
        let mut index = PodIndex { by_namespace: HashMap::new(), by_label: HashMap::new() };
        for pod in pods {
            let pod = pod.as_ref();
            let Some(ns) = objects::namespace(pod) else { continue };
            index.by_namespace.entry(ns).or_default().push(pod);
            for (k, v) in objects::labels_of(pod).into_iter().flatten() {
                if let Some(v) = v.as_str() {
                    index.by_label.entry((ns, k, v)).or_default().push(pod);
                }
            }
        }
        index
    }

    /// The pods in the Service's namespace whose labels carry every pair of
    /// `selector` (all of them for an empty selector).
    pub fn select(&self, svc: &Value, selector: &Map<String, Value>) -> Vec<&'a Node> {
        let Some(ns) = objects::namespace(svc) else { return Vec::new() };
        // The smallest bucket of the selector's pairs holds every match; a pair whose
        // value is not a string (never valid) falls back to the whole namespace.
        let mut candidates = self.by_namespace.get(ns).map_or(&[][..], Vec::as_slice);
        for (k, v) in selector {
            let Some(v) = v.as_str() else {
                candidates = self.by_namespace.get(ns).map_or(&[][..], Vec::as_slice);
                break;
            };
            let bucket = self.by_label.get(&(ns, k.as_str(), v)).map_or(&[][..], Vec::as_slice);
            if bucket.len() < candidates.len() {
                candidates = bucket;
            }
        }
        candidates.iter().copied().filter(|p| selects(selector, p)).collect()
    }
}

/// Whether the pod's labels carry every pair of `selector`.
fn selects(selector: &Map<String, Value>, pod: &Node) -> bool {
    let labels = objects::labels_of(pod);
    selector.iter().all(|(k, v)| labels.and_then(|l| l.get(k)).is_some_and(|l| l == v))
}

/// Owned copies of (few, small) shared objects such as Services, for code that edits
/// or keys them.
pub fn owned(objects: Vec<Arc<Node>>) -> Vec<Value> {
    objects.iter().map(|o| o.to_value()).collect()
}

/// Whether a pod belongs in an Endpoints or EndpointSlice object: it has an IP, is not
/// terminal, and is not terminating unless `include_terminating`.
pub fn should_pod_be_in_endpoints<O: AsJson + ?Sized>(pod: &O, include_terminating: bool) -> bool {
    let pod = pod.json();
    if matches!(objects::phase(pod), "Succeeded" | "Failed") {
        return false;
    }
    let has_ip = objects::at(pod, &["status", "podIP"]).and_then(Json::as_str).is_some_and(|s| !s.is_empty())
        || !objects::array_at(pod, &["status", "podIPs"]).is_empty();
    if !has_ip {
        return false;
    }
    include_terminating || !objects::is_deleting(pod)
}

/// Whether the pod's Ready condition is True (terminating or not: callers decide).
pub fn pod_ready_condition<O: AsJson + ?Sized>(pod: &O) -> bool {
    let pod = pod.json();
    objects::condition_true(pod, "Ready")
}

/// Whether the pod's `spec.hostname` is published for this Service.
pub fn should_set_hostname<O: AsJson + ?Sized>(pod: &O, svc: &Value) -> bool {
    let pod = pod.json();
    let hostname = objects::str_at(pod, &["spec", "hostname"]);
    !hostname.is_empty()
        && objects::str_at(pod, &["spec", "subdomain"]) == objects::name(svc)
        && objects::namespace(pod) == objects::namespace(svc)
}

/// Whether the Service has a cluster IP (not headless).
pub fn is_service_ip_set(svc: &Value) -> bool {
    let ip = objects::str_at(svc, &["spec", "clusterIP"]);
    !ip.is_empty() && ip != "None"
}

/// Whether the Service is headless (`clusterIP: None`).
pub fn is_headless(svc: &Value) -> bool {
    objects::str_at(svc, &["spec", "clusterIP"]) == "None"
}

/// The IP families a Service's endpoints are published for (`IPv4`/`IPv6`, from
/// `spec.ipFamilies`, else from the cluster IP, else both for a headless Service).
pub fn service_families(svc: &Value) -> Vec<&'static str> {
    let mut out = Vec::new();
    for f in objects::array_at(svc, &["spec", "ipFamilies"]) {
        match f.as_str() {
            Some("IPv4") if !out.contains(&"IPv4") => out.push("IPv4"),
            Some("IPv6") if !out.contains(&"IPv6") => out.push("IPv6"),
            _ => {}
        }
    }
    if !out.is_empty() {
        return out;
    }
    if is_service_ip_set(svc) {
        return vec![if objects::str_at(svc, &["spec", "clusterIP"]).contains(':') { "IPv6" } else { "IPv4" }];
    }
    vec!["IPv4", "IPv6"]
}

/// The pod's IPs of one family (`IPv4`/`IPv6`), normalized, in `status.podIPs` order
/// (`status.podIP` when `podIPs` is missing). Unparsable IPs are skipped.
pub fn pod_ips<O: AsJson + ?Sized>(pod: &O, family: &str) -> Vec<String> {
    let pod = pod.json();
    let mut raw: Vec<&str> = objects::array_at(pod, &["status", "podIPs"])
        .iter()
        .filter_map(|e| e.get("ip").and_then(Json::as_str))
        .collect();
    if raw.is_empty() {
        raw.extend(objects::at(pod, &["status", "podIP"]).and_then(Json::as_str));
    }
    raw.into_iter()
        .filter_map(|s| s.parse::<std::net::IpAddr>().ok())
        .filter(|ip| ip.is_ipv6() == (family == "IPv6"))
        .map(|ip| ip.to_string())
        .collect()
}

/// The first IP family of a Service (what its Endpoints object publishes).
pub fn primary_family(svc: &Value) -> &'static str {
    if let Some(f) = objects::at(svc, &["spec", "ipFamilies", "0"]).and_then(Json::as_str) {
        return if f == "IPv6" { "IPv6" } else { "IPv4" };
    }
    if is_service_ip_set(svc) {
        return if objects::str_at(svc, &["spec", "clusterIP"]).contains(':') { "IPv6" } else { "IPv4" };
    }
    "IPv4"
}

/// A pod's `targetRef` (kind, namespace, name, uid).
pub fn target_ref<O: AsJson + ?Sized>(pod: &O) -> Value {
    let pod = pod.json();
    json!({
        "kind": "Pod",
        "namespace": objects::namespace(pod).unwrap_or(""),
        "name": objects::name(pod),
        "uid": objects::uid(pod),
    })
}

/// The container port a Service port reaches on `pod`: `targetPort` itself when a
/// number (the `port` when unset), else the named port of a container (or sidecar
/// init container) with the Service port's protocol; `None` when the pod has no such
/// port.
pub fn find_port<O: AsJson + ?Sized>(pod: &O, svc_port: &Value) -> Option<i64> {
    let pod = pod.json();
    let protocol = svc_port.get("protocol").and_then(Json::as_str).unwrap_or("TCP");
    match svc_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => {
            if let Ok(n) = s.parse::<i64>() {
                return Some(n);
            }
            let containers = objects::array_at(pod, &["spec", "containers"]).iter();
            let sidecars = objects::array_at(pod, &["spec", "initContainers"])
                .iter()
                .filter(|c| c.get("restartPolicy").and_then(Json::as_str) == Some("Always"));
            containers.chain(sidecars).find_map(|c| {
                c.get("ports").and_then(Json::as_array)?.iter().find_map(|p| {
                    let name = p.get("name").and_then(Json::as_str)?;
                    let proto = p.get("protocol").and_then(Json::as_str).unwrap_or("TCP");
                    (name == s && proto == protocol).then(|| p.get("containerPort").and_then(Json::as_i64)).flatten()
                })
            })
        }
        _ => svc_port.get("port").and_then(Json::as_i64),
    }
}

/// Parses an RFC 3339 time.
fn parse(t: &str) -> Option<jiff::Timestamp> {
    t.parse().ok()
}

/// Formats a time as kube's `time.RFC3339Nano` in UTC (fraction trimmed).
pub fn format_time(t: jiff::Timestamp) -> String {
    t.to_string()
}

/// What the trigger-time tracker remembers of one Service.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceTriggers {
    /// Per pod name, the Ready condition's `lastTransitionTime`.
    pods: HashMap<String, jiff::Timestamp>,
    /// The Service's trigger time (its creation).
    service: Option<jiff::Timestamp>,
}

/// kube's `TriggerTimeTracker`: per Service, the trigger times seen at the last
/// successful sync, so a sync can say when the change it publishes happened.
#[derive(Debug, Default)]
pub struct TriggerTimeTracker {
    states: HashMap<(String, String), ServiceTriggers>,
}

impl TriggerTimeTracker {
    /// The trigger time of a sync of `svc` over `pods` and the state to
    /// [`commit`](Self::commit) once the sync succeeded: the Service's creation for a
    /// Service not seen before, else the earliest pod Ready transition (or Service
    /// change) newer than at the last sync; `None` when nothing changed.
    pub fn compute(&self, svc: &Value, pods: &[&Node]) -> (Option<jiff::Timestamp>, ServiceTriggers) {
        let key = key(svc);
        let old = self.states.get(&key);
        let mut state = ServiceTriggers::default();
        let mut min: Option<jiff::Timestamp> = None;
        let mut consider = |t: jiff::Timestamp| min = Some(min.map_or(t, |m| m.min(t)));
        for pod in pods {
            let Some(t) = objects::condition(pod, "Ready")
                .and_then(|c| c.get("lastTransitionTime"))
                .and_then(Json::as_str)
                .and_then(parse)
            else {
                continue;
            };
            let name = objects::name(pod).to_owned();
            if old.and_then(|o| o.pods.get(&name)).is_none_or(|prev| t > *prev) {
                consider(t);
            }
            state.pods.insert(name, t);
        }
        state.service = parse(objects::created(svc));
        if let Some(t) = state.service {
            if old.and_then(|o| o.service).is_none_or(|prev| t > prev) {
                consider(t);
            }
        }
        match old {
            None => (state.service, state),
            Some(_) => (min, state),
        }
    }

    /// Records the state of a successful sync.
    pub fn commit(&mut self, svc: &Value, state: ServiceTriggers) {
        self.states.insert(key(svc), state);
    }

    /// Forgets Services not in `live` (namespace, name).
    pub fn retain(&mut self, live: &std::collections::HashSet<(String, String)>) {
        self.states.retain(|k, _| live.contains(k));
    }
}

/// (namespace, name) of an object.
pub fn key<O: AsJson + ?Sized>(obj: &O) -> (String, String) {
    (objects::namespace(obj).unwrap_or("").to_owned(), objects::name(obj).to_owned())
}

/// Sets or clears the trigger-time annotation.
pub fn set_trigger_time(obj: &mut Value, t: Option<jiff::Timestamp>) {
    match t {
        Some(t) => objects::set_annotation(obj, ANNOTATION_TRIGGER_TIME, &format_time(t)),
        None => {
            if let Some(a) = objects::at_mut(obj, &["metadata", "annotations"]).and_then(Value::as_object_mut) {
                a.remove(ANNOTATION_TRIGGER_TIME);
            }
        }
    }
}

/// `metadata.labels` as strings (non-string values dropped).
pub fn string_labels<O: AsJson + ?Sized>(obj: &O) -> BTreeMap<String, String> {
    objects::labels(obj).into_iter().filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned()))).collect()
}

/// Whether the bootstrap RBAC policy lets service account `user` (its groups as a
/// token gives them) do `verb` on `group/resource` in every namespace: what the
/// controllers' tests check of the identities they write as.
#[cfg(test)]
pub(crate) fn bootstrap_policy_allows(user: &str, verb: &str, group: &str, resource: &str) -> bool {
    use crate::auth::rbac::{bootstrap, Attributes, AuthorizationMode, Authorizer};
    let store = std::sync::Arc::new(crate::storage::Store::new());
    bootstrap::ensure(&store);
    let authz = Authorizer::new(AuthorizationMode::Rbac, store);
    let ns = user.split(':').nth(2).unwrap_or("");
    let info = crate::api::UserInfo {
        name: user.to_owned(),
        uid: String::new(),
        groups: vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        extra: Default::default(),
    };
    authz.authorize(&Attributes::resource(info, verb, group, resource, "", "")).allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(labels: Value, ports: Value) -> Value {
        json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "labels": labels},
            "spec": {"containers": [{"name": "c", "ports": ports}], "initContainers": [
                {"name": "side", "restartPolicy": "Always", "ports": [{"name": "metrics", "containerPort": 9090}]},
                {"name": "init", "ports": [{"name": "setup", "containerPort": 7070}]},
            ]},
            "status": {"phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}, {"ip": "fd00::5"}]},
        })
    }

    #[test]
    fn ports_by_number_and_name() {
        let p = pod(
            json!({}),
            json!([{"name": "http", "containerPort": 8080}, {"name": "dns", "containerPort": 53, "protocol": "UDP"}]),
        );
        assert_eq!(find_port(&p, &json!({"port": 80, "targetPort": 8081})), Some(8081));
        assert_eq!(find_port(&p, &json!({"port": 80, "targetPort": "http", "protocol": "TCP"})), Some(8080));
        assert_eq!(
            find_port(&p, &json!({"port": 53, "targetPort": "dns", "protocol": "TCP"})),
            None,
            "protocol differs"
        );
        assert_eq!(find_port(&p, &json!({"port": 53, "targetPort": "dns", "protocol": "UDP"})), Some(53));
        assert_eq!(find_port(&p, &json!({"port": 1, "targetPort": "metrics"})), Some(9090), "sidecar");
        assert_eq!(find_port(&p, &json!({"port": 1, "targetPort": "setup"})), None, "plain init container");
        assert_eq!(find_port(&p, &json!({"port": 1, "targetPort": "nope"})), None);
    }

    #[test]
    fn which_pods_count() {
        let mut p = pod(json!({"app": "web"}), json!([]));
        assert!(should_pod_be_in_endpoints(&p, false));
        assert_eq!(pod_ips(&p, "IPv4"), vec!["10.244.0.5"]);
        assert_eq!(pod_ips(&p, "IPv6"), vec!["fd00::5"]);
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        assert!(!should_pod_be_in_endpoints(&p, false));
        assert!(should_pod_be_in_endpoints(&p, true));
        p["status"]["phase"] = json!("Succeeded");
        assert!(!should_pod_be_in_endpoints(&p, true));
        let no_ip = json!({"status": {"phase": "Pending"}});
        assert!(!should_pod_be_in_endpoints(&no_ip, true));
    }

    #[test]
    fn the_index_selects_what_a_scan_of_the_namespace_selects() {
        let mut pods = Vec::new();
        for (i, (ns, labels)) in [
            ("a", json!({"app": "web", "tier": "fe"})),
            ("a", json!({"app": "web", "tier": "be"})),
            ("a", json!({"app": "db"})),
            ("a", json!({"app": "web", "tier": "fe", "x": "1"})),
            ("a", json!({"n": 1})),
            ("a", json!("odd")),
            ("a", Value::Null),
            ("b", json!({"app": "web", "tier": "fe"})),
        ]
        .into_iter()
        .enumerate()
        {
            pods.push(Arc::new(Node::new(
                &json!({"metadata": {"name": format!("p{i}"), "namespace": ns, "labels": labels}}),
            )));
        }
        pods.push(Arc::new(Node::new(&json!({"metadata": {"name": "no-namespace", "labels": {"app": "web"}}}))));
        let index = PodIndex::new(&pods);
        let selectors = [
            json!({"app": "web"}),
            json!({"app": "web", "tier": "fe"}),
            json!({"tier": "fe", "app": "web", "x": "1"}),
            json!({"app": "none"}),
            json!({"n": 1}),
            json!({"app": "web", "n": 1}),
            json!({}),
        ];
        for ns in ["a", "b", "c"] {
            for sel in &selectors {
                let svc = json!({"metadata": {"name": "s", "namespace": ns}});
                let sel = sel.as_object().unwrap();
                let scan: Vec<&Node> = pods
                    .iter()
                    .map(|p| p.as_ref())
                    .filter(|p| objects::namespace(p) == Some(ns) && selects(sel, p))
                    .collect();
                assert_eq!(index.select(&svc, sel), scan, "{ns} {sel:?}");
            }
        }
        let web = json!({"app": "web"});
        let svc = json!({"metadata": {"name": "s", "namespace": "a"}});
        let names: Vec<&str> = index.select(&svc, web.as_object().unwrap()).into_iter().map(objects::name).collect();
        assert_eq!(names, ["p0", "p1", "p3"]);
        assert!(index.select(&json!({"metadata": {"name": "s"}}), web.as_object().unwrap()).is_empty());
    }

    #[test]
    fn selectors_and_services() {
        let pods = [pod(json!({"app": "web", "tier": "fe"}), json!([])), pod(json!({"app": "db"}), json!([]))];
        let pods: Vec<Arc<Node>> = pods.iter().map(|p| Arc::new(Node::new(p))).collect();
        let svc = json!({"metadata": {"name": "web", "namespace": "ns"}, "spec": {"selector": {"app": "web"}}});
        let sel = service_selector(&svc).unwrap();
        let index = PodIndex::new(&pods);
        assert_eq!(index.select(&svc, sel).len(), 1);
        let other_ns = json!({"metadata": {"name": "web", "namespace": "x"}, "spec": {"selector": {"app": "web"}}});
        assert!(index.select(&other_ns, sel).is_empty());
        assert!(service_selector(&json!({"spec": {"selector": {}}})).is_none());
        assert!(service_selector(&json!({"spec": {"type": "ExternalName", "selector": {"a": "b"}}})).is_none());
        assert_eq!(service_families(&json!({"spec": {"clusterIP": "None"}})), vec!["IPv4", "IPv6"]);
        assert_eq!(service_families(&json!({"spec": {"clusterIP": "10.96.0.9"}})), vec!["IPv4"]);
        assert_eq!(service_families(&json!({"spec": {"ipFamilies": ["IPv6", "IPv4"]}})), vec!["IPv6", "IPv4"]);
    }

    #[test]
    fn trigger_times() {
        let svc = json!({"metadata": {"name": "s", "namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"}});
        let ready = |name: &str, t: &str| json!({"metadata": {"name": name}, "status": {"conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": t}]}});
        let mut tr = TriggerTimeTracker::default();
        let a = ready("a", "2026-01-01T00:00:05Z");
        let (t, st) = tr.compute(&svc, &[&Node::new(&a)]);
        assert_eq!(t.map(format_time).as_deref(), Some("2026-01-01T00:00:00Z"), "new service: its creation");
        tr.commit(&svc, st);
        let (t, _) = tr.compute(&svc, &[&Node::new(&a)]);
        assert_eq!(t, None, "nothing changed");
        let b = ready("b", "2026-01-01T00:00:09Z");
        let a2 = ready("a", "2026-01-01T00:00:07.5Z");
        let (t, st) = tr.compute(&svc, &[&Node::new(&a2), &Node::new(&b)]);
        assert_eq!(t.map(format_time).as_deref(), Some("2026-01-01T00:00:07.5Z"), "earliest change");
        tr.commit(&svc, st);
    }
}
