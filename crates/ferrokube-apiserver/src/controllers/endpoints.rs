//! The Endpoints controller (kube-controller-manager's `endpoint-controller`): every
//! Service with a selector gets a core/v1 Endpoints object of its name listing the
//! addresses and ports of its pods.
//!
//! Each pass lists Services, pods and Endpoints and, per served Service (see
//! [`endpointutil`](super::endpointutil) for which Services and pods count):
//!
//! - every pod with an IP of the Service's first IP family contributes, per Service
//!   port whose `targetPort` it has, one address (`ip`, `nodeName`, `targetRef`,
//!   `hostname` when its `spec.subdomain` names the Service) to `addresses` when Ready
//!   (or when the Service sets `publishNotReadyAddresses`) and to `notReadyAddresses`
//!   otherwise; terminating pods only with `publishNotReadyAddresses`; a headless
//!   Service without ports gets its addresses without ports;
//! - the entries are repacked as kube's `RepackSubsets` does: one subset per set of
//!   ports sharing the same addresses, an address not ready for a port if any entry
//!   says so, addresses sorted by IP (then pod uid);
//! - the Endpoints object carries the Service's labels plus
//!   `endpoints.kubernetes.io/managed-by: endpoint-controller` and, for a headless
//!   Service, `service.kubernetes.io/headless`; the annotation
//!   `endpoints.kubernetes.io/last-change-trigger-time` says when the change it
//!   publishes happened (the Service's creation at first, then the earliest pod Ready
//!   transition since the last write); past 1000 addresses it is truncated and
//!   annotated `endpoints.kubernetes.io/over-capacity: truncated`;
//! - it is written only when its subsets, labels or capacity annotation differ.
//!
//! When a Service goes, its Endpoints are deleted. Writes act as
//! `system:serviceaccount:kube-system:endpoint-controller`.
//!
//! Differences from kube, on purpose: subsets and their ports are ordered by their
//! content (port number, name, protocol; subsets by first address) where kube orders
//! them by an FNV hash of Go's object dump; a level-triggered loop notices a deleted
//! Service by its absence between two passes (and removes any Endpoints labelled as
//! its own whose Service is missing), where kube reacts to the delete event.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::endpointutil::{self as util, TriggerTimeTracker};
use super::informer::Waiter;
use super::json::Json;
use super::{objects, Context};

/// The managed-by label of Endpoints this controller maintains.
pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
/// Its value.
pub const CONTROLLER_NAME: &str = "endpoint-controller";
/// The annotation on truncated Endpoints.
const ANNOTATION_OVER_CAPACITY: &str = "endpoints.kubernetes.io/over-capacity";
/// At most this many addresses (ready and not) in one Endpoints object.
const MAX_CAPACITY: usize = 1000;
/// The identity the controller's writes carry.
const USER: &str = "system:serviceaccount:kube-system:endpoint-controller";

/// An address's identity in repacking: IP and pod uid.
type AddrKey = (String, String);

/// One (address, readiness, port) fact before repacking; `port` is `None` for a
/// headless Service without ports.
struct Entry {
    addr: Value,
    ready: bool,
    port: Option<Value>,
}

fn addr_key(addr: &Value) -> AddrKey {
    (objects::str_at(addr, &["ip"]).to_owned(), objects::str_at(addr, &["targetRef", "uid"]).to_owned())
}

/// The ordering of ports within a subset.
fn port_order(p: &Value) -> (i64, String, String) {
    (
        p.get("port").and_then(Json::as_i64).unwrap_or(0),
        objects::str_at(p, &["name"]).to_owned(),
        objects::str_at(p, &["protocol"]).to_owned(),
    )
}

/// kube's `RepackSubsets`: groups the ports that share the same set of (address,
/// ready) pairs into one subset each; an address is not ready for a port when any
/// entry says so.
fn repack(entries: Vec<Entry>) -> Vec<Value> {
    let mut all: HashMap<AddrKey, Value> = HashMap::new();
    // Per port (by its JSON; "" for no port): the port and its addresses' readiness.
    let mut by_port: BTreeMap<String, (Option<Value>, BTreeMap<AddrKey, bool>)> = BTreeMap::new();
    for e in entries {
        let key = addr_key(&e.addr);
        all.entry(key.clone()).or_insert(e.addr);
        let pk = e.port.as_ref().map(Value::to_string).unwrap_or_default();
        let slot = by_port.entry(pk).or_insert_with(|| (e.port.clone(), BTreeMap::new()));
        let r = slot.1.entry(key).or_insert(e.ready);
        *r = *r && e.ready;
    }
    let mut groups: BTreeMap<Vec<(AddrKey, bool)>, Vec<Value>> = BTreeMap::new();
    for (_, (port, addrs)) in by_port {
        let ports = groups.entry(addrs.into_iter().collect()).or_default();
        ports.extend(port);
    }
    let mut subsets: Vec<Value> = groups
        .into_iter()
        .map(|(addrs, mut ports)| {
            let mut ready: Vec<&AddrKey> = addrs.iter().filter(|(_, r)| *r).map(|(k, _)| k).collect();
            let mut not_ready: Vec<&AddrKey> = addrs.iter().filter(|(_, r)| !*r).map(|(k, _)| k).collect();
            ready.sort();
            not_ready.sort();
            ports.sort_by_key(port_order);
            let mut s = Map::new();
            let list =
                |keys: Vec<&AddrKey>| Value::Array(keys.into_iter().filter_map(|k| all.get(k).cloned()).collect());
            if !ready.is_empty() {
                s.insert("addresses".into(), list(ready));
            }
            if !not_ready.is_empty() {
                s.insert("notReadyAddresses".into(), list(not_ready));
            }
            if !ports.is_empty() {
                s.insert("ports".into(), Value::Array(ports));
            }
            Value::Object(s)
        })
        .collect();
    subsets.sort_by_cached_key(subset_order);
    subsets
}

/// The ordering of subsets: by first ready address, first not-ready address, ports.
fn subset_order(s: &Value) -> (AddrKey, AddrKey, String) {
    let first = |f: &str| s.get(f).and_then(|a| a.get(0)).map(addr_key).unwrap_or_default();
    (first("addresses"), first("notReadyAddresses"), s.get("ports").map(Value::to_string).unwrap_or_default())
}

fn count(s: &Value, field: &str) -> usize {
    s.get(field).and_then(Value::as_array).map_or(0, Vec::len)
}

/// kube's `truncateEndpoints`: past [`MAX_CAPACITY`] addresses, keeps each subset's
/// share of the capacity (not-ready addresses go first; ready ones only when they
/// alone exceed it). Returns whether it truncated.
fn truncate(subsets: &mut [Value]) -> bool {
    let ready: usize = subsets.iter().map(|s| count(s, "addresses")).sum();
    let not_ready: usize = subsets.iter().map(|s| count(s, "notReadyAddresses")).sum();
    if ready + not_ready <= MAX_CAPACITY {
        return false;
    }
    let truncate_ready = ready > MAX_CAPACITY;
    let (max, total, field) = if truncate_ready {
        (MAX_CAPACITY, ready, "addresses")
    } else {
        (MAX_CAPACITY - ready, not_ready, "notReadyAddresses")
    };
    let mut left = max;
    for s in subsets.iter_mut() {
        let n = count(s, field);
        let share = ((n as f64 / total as f64) * max as f64).ceil() as usize;
        let keep = share.min(left);
        if let Some(m) = s.as_object_mut() {
            if let Some(Value::Array(a)) = m.get_mut(field) {
                a.truncate(keep);
            }
            if truncate_ready {
                m.remove("notReadyAddresses");
            }
        }
        left -= count(s, field).min(left);
    }
    true
}

/// The subsets of one Service over its selected pods.
fn desired_subsets(svc: &Value, pods: &[&Node]) -> Vec<Value> {
    let publish_not_ready = objects::bool_at(svc, &["spec", "publishNotReadyAddresses"]);
    let family = util::primary_family(svc);
    let ports = objects::array_at(svc, &["spec", "ports"]);
    let mut entries = Vec::new();
    for pod in pods {
        if !util::should_pod_be_in_endpoints(pod, publish_not_ready) {
            continue;
        }
        let Some(ip) = util::pod_ips(pod, family).into_iter().next() else { continue };
        let mut addr = Map::new();
        addr.insert("ip".into(), json!(ip));
        if util::should_set_hostname(pod, svc) {
            addr.insert("hostname".into(), json!(objects::str_at(pod, &["spec", "hostname"])));
        }
        let node = objects::str_at(pod, &["spec", "nodeName"]);
        if !node.is_empty() {
            addr.insert("nodeName".into(), json!(node));
        }
        addr.insert("targetRef".into(), util::target_ref(pod));
        let addr = Value::Object(addr);
        let ready = publish_not_ready || util::pod_ready_condition(pod);
        if ports.is_empty() {
            if util::is_headless(svc) {
                entries.push(Entry { addr, ready, port: None });
            }
            continue;
        }
        let mut pod_ports: Vec<Value> = ports
            .iter()
            .filter_map(|sp| {
                let num = util::find_port(pod, sp)?;
                let mut port = Map::new();
                let name = objects::str_at(sp, &["name"]);
                if !name.is_empty() {
                    port.insert("name".into(), json!(name));
                }
                port.insert("port".into(), json!(num));
                port.insert("protocol".into(), json!(sp.get("protocol").and_then(Json::as_str).unwrap_or("TCP")));
                if let Some(ap) = sp.get("appProtocol").filter(|v| v.is_string()) {
                    port.insert("appProtocol".into(), ap.clone());
                }
                Some(Value::Object(port))
            })
            .collect();
        // One entry per port, in order; the address is copied for all but the last.
        if let Some(last) = pod_ports.pop() {
            for port in pod_ports {
                entries.push(Entry { addr: addr.clone(), ready, port: Some(port) });
            }
            entries.push(Entry { addr, ready, port: Some(last) });
        }
    }
    repack(entries)
}

/// kube's `labelsCorrectForEndpoints`: managed by this controller and otherwise the
/// Service's labels (the headless label aside).
fn labels_correct(ep: &Node, svc: &Value) -> bool {
    let ep_labels = util::string_labels(ep);
    let svc_labels = util::string_labels(svc);
    if ep_labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(CONTROLLER_NAME) {
        return false;
    }
    let mine: BTreeMap<&String, &String> =
        ep_labels.iter().filter(|(k, _)| *k != util::LABEL_HEADLESS && *k != LABEL_MANAGED_BY).collect();
    mine.len() == svc_labels.len() && mine.iter().all(|(k, v)| svc_labels.get(*k) == Some(*v))
}

/// The controller's state across passes.
#[derive(Default)]
struct State {
    triggers: TriggerTimeTracker,
    /// The Services (namespace, name) seen by the last pass.
    known: HashSet<(String, String)>,
}

/// One pass; `Some(delay)` to look again soon after a failed write.
async fn reconcile(ctx: &Context, state: &mut State) -> Option<Duration> {
    let c = &ctx.client;
    let (Some(services_res), Some(endpoints_res)) =
        (c.res.for_kind("v1", "Service").cloned(), c.res.for_kind("v1", "Endpoints").cloned())
    else {
        return None;
    };
    let listed = async {
        let services = util::owned(ctx.informers.list(&services_res).await);
        let pods = ctx.informers.fresh(&c.res.pods).await;
        let endpoints = ctx.informers.list(&endpoints_res).await;
        Ok::<_, crate::api::ApiError>((services, pods, endpoints))
    };
    let (services, pods, endpoints) = match listed.await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e.message, "endpoint controller: list failed");
            return Some(Duration::from_millis(200));
        }
    };
    let writer = c.as_user(USER);
    let mut current: HashMap<(String, String), Arc<Node>> = endpoints.into_iter().map(|e| (util::key(&e), e)).collect();
    let live: HashSet<(String, String)> = services.iter().map(util::key).collect();
    let all_pods = pods.list(None);
    let pod_index = util::PodIndex::new(&all_pods);
    let mut retry = false;
    for svc in &services {
        let Some(selector) = util::service_selector(svc) else { continue };
        let pods = pod_index.select(svc, selector);
        let (trigger, triggers) = state.triggers.compute(svc, &pods);
        let mut subsets = desired_subsets(svc, &pods);
        let existing = current.remove(&util::key(svc));
        if let Some(ep) = &existing {
            // The stored subsets (missing reads as none), compared in place.
            let same_subsets = match ep.get("subsets") {
                Some(Node::Array(stored)) => {
                    stored.len() == subsets.len() && stored.iter().zip(&subsets).all(|(a, b)| a == b)
                }
                None => subsets.is_empty(),
                Some(_) => false,
            };
            let capacity_ok =
                subsets.iter().map(|s| count(s, "addresses") + count(s, "notReadyAddresses")).sum::<usize>()
                    <= MAX_CAPACITY
                    && objects::annotation(ep, ANNOTATION_OVER_CAPACITY).is_none();
            if same_subsets && labels_correct(ep, svc) && capacity_ok {
                state.triggers.commit(svc, triggers);
                continue;
            }
        }
        let mut ep = existing.as_deref().map(Json::to_value).unwrap_or_else(|| {
            json!({
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": objects::name(svc), "namespace": objects::namespace(svc)},
            })
        });
        util::set_trigger_time(&mut ep, trigger);
        if truncate(&mut subsets) {
            objects::set_annotation(&mut ep, ANNOTATION_OVER_CAPACITY, "truncated");
        } else if let Some(a) = objects::at_mut(&mut ep, &["metadata", "annotations"]).and_then(Value::as_object_mut) {
            a.remove(ANNOTATION_OVER_CAPACITY);
        }
        let mut labels = objects::labels(svc);
        if util::is_service_ip_set(svc) {
            labels.remove(util::LABEL_HEADLESS);
        } else {
            labels.insert(util::LABEL_HEADLESS.into(), json!(""));
        }
        labels.insert(LABEL_MANAGED_BY.into(), json!(CONTROLLER_NAME));
        objects::meta_mut(&mut ep).insert("labels".into(), Value::Object(labels));
        if let Some(m) = ep.as_object_mut() {
            if subsets.is_empty() {
                m.remove("subsets");
            } else {
                m.insert("subsets".into(), Value::Array(subsets));
            }
        }
        let ns = objects::namespace(svc);
        let result = match existing {
            None => writer.create(&endpoints_res, ns, &ep).await,
            Some(_) => writer.update(&endpoints_res, &ep).await,
        };
        match result {
            Ok(_) => state.triggers.commit(svc, triggers),
            Err(e) if is_conflict(&e) || is_not_found(&e) => retry = true,
            // Forbidden: the namespace is terminating; its deletion takes the Service too.
            Err(e) if e.code == 403 => {}
            Err(e) => {
                retry = true;
                let (reason, msg) = match existing {
                    None => (
                        "FailedToCreateEndpoint",
                        format!(
                            "Failed to create endpoint for service {}/{}: {}",
                            ns.unwrap_or(""),
                            objects::name(svc),
                            e.message
                        ),
                    ),
                    Some(_) => (
                        "FailedToUpdateEndpoint",
                        format!("Failed to update endpoint {}/{}: {}", ns.unwrap_or(""), objects::name(svc), e.message),
                    ),
                };
                ctx.event(&ep, "Warning", reason, &msg, CONTROLLER_NAME).await;
            }
        }
    }
    // The Endpoints of Services gone since the last pass, and any left labelled as
    // this controller's without their Service.
    for (key, ep) in current {
        let managed = objects::label(&ep, LABEL_MANAGED_BY) == Some(CONTROLLER_NAME);
        if live.contains(&key) || !(managed || state.known.contains(&key)) {
            continue;
        }
        let opts = json!({"preconditions": {"uid": objects::uid(&ep)}});
        match writer.delete(&endpoints_res, Some(&key.0), &key.1, &opts).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) || is_conflict(&e) => {}
            Err(e) => {
                tracing::warn!(endpoints = %key.1, error = %e.message, "endpoint controller: delete failed");
                retry = true;
            }
        }
    }
    state.triggers.retain(&live);
    state.known = live;
    retry.then(|| (ctx.options.resync_period / 4).max(Duration::from_millis(10)))
}

/// The controller loop.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    let mut state = State::default();
    loop {
        let next = reconcile(&ctx, &mut state).await;
        if !waiter.wait(next).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: &str, uid: &str) -> Value {
        json!({"ip": ip, "targetRef": {"kind": "Pod", "uid": uid}})
    }

    #[test]
    fn repacks_by_port_sets() {
        let http = json!({"name": "http", "port": 8080, "protocol": "TCP"});
        let dns = json!({"name": "dns", "port": 53, "protocol": "UDP"});
        let entries = vec![
            Entry { addr: addr("10.0.0.9", "b"), ready: true, port: Some(http.clone()) },
            Entry { addr: addr("10.0.0.10", "a"), ready: true, port: Some(http.clone()) },
            Entry { addr: addr("10.0.0.9", "b"), ready: true, port: Some(dns.clone()) },
            Entry { addr: addr("10.0.0.10", "a"), ready: true, port: Some(dns.clone()) },
            Entry { addr: addr("10.0.0.11", "c"), ready: false, port: Some(http.clone()) },
        ];
        let s = repack(entries);
        assert_eq!(s.len(), 2, "{s:#?}");
        // 10.0.0.10 sorts before 10.0.0.9 (byte order, as kube).
        assert_eq!(s[0]["addresses"][0]["ip"], "10.0.0.10");
        assert_eq!(s[0]["addresses"][1]["ip"], "10.0.0.9");
        assert_eq!(s[0]["ports"], json!([dns]), "dns has only the two ready addresses");
        assert_eq!(s[1]["ports"], json!([http]));
        assert_eq!(s[1]["notReadyAddresses"][0]["ip"], "10.0.0.11");
        assert_eq!(s[1]["addresses"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn each_port_a_pod_serves_carries_its_address() {
        let svc = json!({"metadata": {"name": "web", "namespace": "ns"},
            "spec": {"clusterIP": "10.96.0.1", "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                {"name": "metrics", "port": 9090, "protocol": "TCP"}]}});
        let pod = |i: u8, ports: Value| {
            json!({"metadata": {"name": format!("p{i}"), "namespace": "ns", "uid": format!("u{i}")},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": ports}]},
                "status": {"phase": "Running", "podIP": format!("10.0.0.{i}"), "podIPs": [{"ip": format!("10.0.0.{i}")}],
                    "conditions": [{"type": "Ready", "status": "True"}]}})
        };
        let (p1, p2) = (pod(1, json!([{"name": "http", "containerPort": 8080}])), pod(2, json!([])));
        let subsets = desired_subsets(&svc, &[&Node::new(&p1), &Node::new(&p2)]);
        let ips = |s: &Value| s["addresses"].as_array().unwrap().iter().map(|a| a["ip"].clone()).collect::<Vec<_>>();
        let by_port = |port: i64| subsets.iter().find(|s| s["ports"][0]["port"] == port).expect("subset of port");
        assert_eq!(subsets.len(), 2, "{subsets:#?}");
        assert_eq!(ips(by_port(8080)), vec![json!("10.0.0.1")]);
        assert_eq!(ips(by_port(9090)), vec![json!("10.0.0.1"), json!("10.0.0.2")]);
        assert_eq!(by_port(8080)["addresses"][0], by_port(9090)["addresses"][0], "the same address for both ports");
        assert_eq!(by_port(8080)["addresses"][0]["targetRef"]["name"], "p1");
    }

    #[test]
    fn not_ready_wins_and_portless() {
        let p = json!({"port": 80, "protocol": "TCP"});
        let s = repack(vec![
            Entry { addr: addr("10.0.0.1", "a"), ready: true, port: Some(p.clone()) },
            Entry { addr: addr("10.0.0.1", "a"), ready: false, port: Some(p.clone()) },
        ]);
        assert_eq!(s, vec![json!({"notReadyAddresses": [addr("10.0.0.1", "a")], "ports": [p]})]);
        let s = repack(vec![Entry { addr: addr("10.0.0.1", "a"), ready: true, port: None }]);
        assert_eq!(s, vec![json!({"addresses": [addr("10.0.0.1", "a")]})]);
    }

    #[test]
    fn truncates_over_capacity() {
        let many = |n: usize, field: &str| {
            let a: Vec<Value> =
                (0..n).map(|i| addr(&format!("10.1.{}.{}", i / 250, i % 250), &i.to_string())).collect();
            json!({ field: a, "ports": [{"port": 80}] })
        };
        let mut s = vec![many(600, "addresses"), many(800, "notReadyAddresses")];
        assert!(truncate(&mut s));
        assert_eq!(count(&s[0], "addresses"), 600);
        assert_eq!(count(&s[1], "notReadyAddresses"), 400);
        let mut s = vec![many(700, "addresses"), many(700, "addresses")];
        assert!(truncate(&mut s));
        assert_eq!(count(&s[0], "addresses") + count(&s[1], "addresses"), 1000);
        let mut small = vec![many(3, "addresses")];
        assert!(!truncate(&mut small));
    }

    #[test]
    fn bootstrap_policy_grants_what_the_controller_uses() {
        for (verb, resource) in [("list", "services"), ("watch", "services"), ("list", "pods"), ("watch", "pods")] {
            assert!(util::bootstrap_policy_allows(USER, verb, "", resource), "{verb} {resource}");
        }
        for verb in ["list", "watch", "create", "update", "delete"] {
            assert!(util::bootstrap_policy_allows(USER, verb, "", "endpoints"), "{verb} endpoints");
        }
        assert!(util::bootstrap_policy_allows(USER, "create", "", "events"));
        assert!(!util::bootstrap_policy_allows(USER, "delete", "", "pods"), "no more than that");
    }

    #[test]
    fn labels() {
        let svc = json!({"metadata": {"labels": {"app": "web"}}});
        let ok = json!({"metadata": {"labels": {"app": "web", LABEL_MANAGED_BY: CONTROLLER_NAME, util::LABEL_HEADLESS: ""}}});
        assert!(labels_correct(&Node::new(&ok), &svc));
        let extra = json!({"metadata": {"labels": {"app": "web", "x": "y", LABEL_MANAGED_BY: CONTROLLER_NAME}}});
        assert!(!labels_correct(&Node::new(&extra), &svc));
        let unmanaged = json!({"metadata": {"labels": {"app": "web"}}});
        assert!(!labels_correct(&Node::new(&unmanaged), &svc));
    }
}
