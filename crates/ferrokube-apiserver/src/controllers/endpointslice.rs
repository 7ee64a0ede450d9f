//! The EndpointSlice controller (kube-controller-manager's
//! `endpointslice-controller`): every Service with a selector gets
//! `discovery.k8s.io/v1` EndpointSlices listing its pods, at most
//! [`MAX_ENDPOINTS_PER_SLICE`] endpoints each.
//!
//! Each pass lists Services, pods, Nodes and EndpointSlices and, per served Service
//! (see [`endpointutil`](super::endpointutil)) and per IP family it has (an
//! `addressType` each: `IPv4`, `IPv6`), reconciles its slices as kube's
//! `k8s.io/endpointslice` reconciler does:
//!
//! - the slices are those of the Service's namespace labelled
//!   `kubernetes.io/service-name: <service>` and
//!   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, not
//!   being deleted; one of another address type, or not owned by this Service (by
//!   uid), is deleted;
//! - every pod with an IP, not terminal (terminating ones included), becomes an
//!   endpoint: its addresses of that family, conditions `ready` (Ready and not
//!   terminating, or the Service's `publishNotReadyAddresses`), `serving` (Ready) and
//!   `terminating` (`deletionTimestamp` set), `targetRef`, `nodeName`, `zone` (its
//!   Node's `topology.kubernetes.io/zone`) and `hostname` when its `spec.subdomain`
//!   names the Service; a pod whose Node does not exist is skipped unless the Service
//!   publishes not-ready addresses;
//! - endpoints are grouped by their ports (pods resolving a named `targetPort`
//!   differently land in different slices); per group, existing slices keep the
//!   endpoints still wanted (updated when their conditions or labels change, deleted
//!   when emptied), new endpoints fill the slices being updated first, then the
//!   unchanged slice closest to full, then new slices (generateName `<service>-`);
//! - a Service without endpoints keeps one empty placeholder slice;
//! - a slice that would be deleted while another is created is updated in its place;
//! - new slices carry an ownerReference to the Service (`controller`,
//!   `blockOwnerDeletion`), so the garbage collector removes them with it; labels are
//!   the Service's plus the two above and, for a headless Service,
//!   `service.kubernetes.io/headless`; every written slice carries
//!   `endpoints.kubernetes.io/last-change-trigger-time` as Endpoints do.
//!
//! Writes act as `system:serviceaccount:kube-system:endpointslice-controller`.
//!
//! Empty `endpoints` and `ports` are written as `null`, which is how kube-apiserver
//! returns its stored slices.
//!
//! Differences from kube, on purpose: where kube takes endpoints out of a hash map in
//! random order, this controller takes them in a stable order (by address), and ports
//! keep the Service's order (kube sorts them by a hash of Go's object dump); topology
//! hints and `trafficDistribution` are not computed (the simulated cluster has one
//! zone at most); a pod whose Node is missing is skipped until a later pass rather
//! than retried with backoff. The slices of a deleted Service go at the garbage
//! collector's next scan, which Service events do not wake (so up to its resync
//! period), where kube's event-driven collector is prompt.

use std::borrow::Cow;
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

/// The managed-by label of EndpointSlices (`discovery.LabelManagedBy`).
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
/// This controller's value of it.
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
/// kube-controller-manager's `--max-endpoints-per-slice` default.
pub const MAX_ENDPOINTS_PER_SLICE: usize = 100;
/// The Node label giving an endpoint's zone.
const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
/// The identity the controller's writes carry.
const USER: &str = "system:serviceaccount:kube-system:endpointslice-controller";

/// What one Service's reconciliation writes.
#[derive(Debug, Default)]
struct Plan {
    create: Vec<Value>,
    update: Vec<Value>,
    delete: Vec<Value>,
}

/// The ports of a Service's endpoints on `pod` (a port whose `targetPort` the pod
/// lacks is left out; a headless Service may have none).
fn endpoint_ports(svc: &Value, pod: &Node) -> Vec<Value> {
    let mut out = Vec::new();
    for sp in objects::array_at(svc, &["spec", "ports"]) {
        let Some(num) = util::find_port(pod, sp) else { continue };
        let mut p = Map::new();
        p.insert("name".into(), json!(objects::str_at(sp, &["name"])));
        p.insert("port".into(), json!(num));
        p.insert("protocol".into(), json!(sp.get("protocol").and_then(Json::as_str).unwrap_or("TCP")));
        if let Some(ap) = sp.get("appProtocol").filter(|v| v.is_string()) {
            p.insert("appProtocol".into(), ap.clone());
        }
        out.push(Value::Object(p));
    }
    out
}

/// The identity of a port group (order-insensitive).
fn port_key(ports: &[Value]) -> String {
    let mut keys: Vec<String> = ports.iter().map(Value::to_string).collect();
    keys.sort();
    keys.join(",")
}

/// kube's endpoint hash: addresses, hostname and the pod named by targetRef.
fn endpoint_identity(ep: &Value) -> String {
    // The JSON array [addresses, hostname, namespace, name], serialized from borrows.
    let identity = (
        ep.get("addresses"),
        objects::str_at(ep, &["hostname"]),
        objects::str_at(ep, &["targetRef", "namespace"]),
        objects::str_at(ep, &["targetRef", "name"]),
    );
    serde_json::to_string(&identity).unwrap_or_default()
}

/// Whether two endpoints with the same identity differ in what kube compares
/// (conditions, nodeName, zone, targetRef beyond its resourceVersion).
fn endpoint_changed(a: &Value, b: &Value) -> bool {
    let cond = |e, c| objects::at(e, &["conditions", c]);
    ["ready", "serving", "terminating"].iter().any(|c| cond(a, c) != cond(b, c))
        || a.get("nodeName") != b.get("nodeName")
        || a.get("zone") != b.get("zone")
        || !same_target(a.get("targetRef").unwrap_or(&Value::Null), b.get("targetRef").unwrap_or(&Value::Null))
}

/// Whether two targetRefs agree, their resourceVersion aside (compared in place).
fn same_target(a: &Value, b: &Value) -> bool {
    const RV: &str = "resourceVersion";
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let len = |m: &Map<String, Value>| m.len() - usize::from(m.contains_key(RV));
            len(a) == len(b) && a.iter().filter(|(k, _)| *k != RV).all(|(k, v)| b.get(k) == Some(v))
        }
        (a, b) => a == b,
    }
}

/// A pod as an endpoint of `svc` for `family`.
fn pod_to_endpoint(pod: &Node, node: Option<&Value>, svc: &Value, family: &str) -> Value {
    let serving = util::pod_ready_condition(pod);
    let terminating = objects::is_deleting(pod);
    let publish = objects::bool_at(svc, &["spec", "publishNotReadyAddresses"]);
    let ready = publish || (serving && !terminating);
    let mut ep = Map::new();
    ep.insert("addresses".into(), json!(util::pod_ips(pod, family)));
    ep.insert("conditions".into(), json!({"ready": ready, "serving": serving, "terminating": terminating}));
    if util::should_set_hostname(pod, svc) {
        ep.insert("hostname".into(), json!(objects::str_at(pod, &["spec", "hostname"])));
    }
    ep.insert("targetRef".into(), util::target_ref(pod));
    let node_name = objects::str_at(pod, &["spec", "nodeName"]);
    if !node_name.is_empty() {
        ep.insert("nodeName".into(), json!(node_name));
    }
    if let Some(zone) = node.map(|n| objects::str_at(n, &["metadata", "labels", LABEL_ZONE])) {
        if !zone.is_empty() {
            ep.insert("zone".into(), json!(zone));
        }
    }
    Value::Object(ep)
}

fn is_reserved_label(k: &str) -> bool {
    k == util::LABEL_SERVICE_NAME || k == LABEL_MANAGED_BY || k == util::LABEL_HEADLESS
}

/// The labels a slice of `svc` should carry, and whether its non-reserved labels
/// differ from the Service's (kube's `setEndpointSliceLabels`).
fn slice_labels(slice: &Value, svc: &Value) -> (Map<String, Value>, bool) {
    let mut labels: Map<String, Value> =
        objects::labels(svc).into_iter().filter(|(k, _)| !is_reserved_label(k)).collect();
    let changed = !same_unreserved_labels(objects::labels_of(slice), &labels);
    if !util::is_service_ip_set(svc) {
        labels.insert(util::LABEL_HEADLESS.into(), json!(""));
    }
    labels.insert(util::LABEL_SERVICE_NAME.into(), json!(objects::name(svc)));
    labels.insert(LABEL_MANAGED_BY.into(), json!(CONTROLLER_NAME));
    (labels, changed)
}

/// Whether the labels of `slice` other than the reserved ones are `unreserved`
/// (compared in place: this runs for every slice on every pass).
fn same_unreserved_labels(slice: Option<&Map<String, Value>>, unreserved: &Map<String, Value>) -> bool {
    let kept = || slice.into_iter().flatten().filter(|(k, _)| !is_reserved_label(k));
    kept().count() == unreserved.len() && kept().all(|(k, v)| unreserved.get(k) == Some(v))
}

/// A new slice of `svc` (no name yet: generateName `<service>-`).
fn new_slice(svc: &Value, ports: &[Value], family: &str) -> Value {
    let name = objects::name(svc);
    // The dash only when the prefix stays a valid name.
    let prefix = if name.len() < 253 { format!("{name}-") } else { name.to_owned() };
    let mut slice = json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": prefix,
            "namespace": objects::namespace(svc),
            "ownerReferences": [objects::controller_ref(svc, "v1", "Service")],
        },
        "addressType": family,
        "endpoints": null,
        "ports": list_or_null(ports.to_vec()),
    });
    let (labels, _) = slice_labels(&slice, svc);
    objects::meta_mut(&mut slice).insert("labels".into(), Value::Object(labels));
    slice
}

fn owned_by(slice: &Value, svc: &Value) -> bool {
    objects::owner_refs_of(slice).iter().any(|r| {
        r.get("uid").and_then(Json::as_str) == Some(objects::uid(svc))
            && r.get("kind").and_then(Json::as_str) == Some("Service")
            && r.get("apiVersion").and_then(Json::as_str) == Some("v1")
    })
}

fn endpoints_of(slice: &Value) -> &[Value] {
    slice.get("endpoints").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn set_endpoints(slice: &mut Value, eps: Vec<Value>) {
    if let Some(m) = slice.as_object_mut() {
        m.insert("endpoints".into(), list_or_null(eps));
    }
}

/// An empty list as `null`: `endpoints` and `ports` have no `omitempty`, and kube's
/// stored slices read back with `null` for an empty one.
fn list_or_null(items: Vec<Value>) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        Value::Array(items)
    }
}

fn ports_of(slice: &Value) -> &[Value] {
    slice.get("ports").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// Whether an existing slice is the placeholder kube would create (namespace, labels,
/// ownerReferences, addressType, no endpoints, no ports).
fn is_placeholder(existing: &Value, placeholder: &Value) -> bool {
    objects::namespace(existing) == objects::namespace(placeholder)
        && objects::labels(existing) == objects::labels(placeholder)
        && objects::owner_refs_of(existing) == objects::owner_refs_of(placeholder)
        && existing.get("addressType") == placeholder.get("addressType")
        && endpoints_of(existing).is_empty()
        && ports_of(existing).is_empty()
}

/// kube's `reconcileByPortMapping`: the slices of one port group. A slice is copied
/// only when it is to be written.
fn reconcile_port_group(
    svc: &Value,
    existing: &[&Value],
    mut desired: BTreeMap<String, Value>,
    ports: &[Value],
    family: &str,
    plan: &mut Plan,
) {
    let mut by_name: BTreeMap<String, Cow<'_, Value>> = BTreeMap::new();
    let mut unchanged: Vec<String> = Vec::new();
    let mut to_update: Vec<String> = Vec::new();
    for &slice in existing {
        let name = objects::name(slice).to_owned();
        let old = endpoints_of(slice);
        let mut kept = Vec::new();
        let mut changed = false;
        for ep in old {
            if let Some(want) = desired.remove(&endpoint_identity(ep)) {
                changed |= endpoint_changed(&want, ep);
                kept.push(want);
            }
        }
        let (labels, labels_changed) = slice_labels(slice, svc);
        if changed || kept.len() != old.len() {
            if kept.is_empty() {
                plan.delete.push(slice.clone());
                continue;
            }
            let mut s = slice.clone();
            set_endpoints(&mut s, kept);
            objects::meta_mut(&mut s).insert("labels".into(), Value::Object(labels));
            by_name.insert(name.clone(), Cow::Owned(s));
            to_update.push(name);
        } else if labels_changed {
            let mut s = slice.clone();
            objects::meta_mut(&mut s).insert("labels".into(), Value::Object(labels));
            by_name.insert(name.clone(), Cow::Owned(s));
            to_update.push(name);
        } else {
            by_name.insert(name.clone(), Cow::Borrowed(slice));
            unchanged.push(name);
        }
    }
    // New endpoints go to the slices being updated anyway, fullest first.
    let mut updating = to_update.clone();
    updating.sort_by_key(|n| std::cmp::Reverse(by_name.get(n).map_or(0, |s| endpoints_of(s).len())));
    for name in &updating {
        if let Some(s) = by_name.get_mut(name) {
            fill(s.to_mut(), &mut desired);
        }
    }
    // Then the unchanged slice closest to full (when the rest fits in one slice), then
    // new slices.
    while !desired.is_empty() {
        let target = if desired.len() < MAX_ENDPOINTS_PER_SLICE {
            closest_to_full(&unchanged, &by_name, desired.len())
        } else {
            None
        };
        match target {
            Some(name) => {
                if let Some(s) = by_name.get_mut(&name) {
                    fill(s.to_mut(), &mut desired);
                }
                unchanged.retain(|n| *n != name);
                to_update.push(name);
            }
            None => {
                let mut s = new_slice(svc, ports, family);
                fill(&mut s, &mut desired);
                plan.create.push(s);
            }
        }
    }
    for name in to_update {
        if let Some(s) = by_name.remove(&name) {
            plan.update.push(s.into_owned());
        }
    }
}

/// Moves endpoints from `desired` (in order) into `slice` until it is full.
fn fill(slice: &mut Value, desired: &mut BTreeMap<String, Value>) {
    let mut eps = match slice.get_mut("endpoints").map(Value::take) {
        Some(Value::Array(eps)) => eps,
        _ => Vec::new(),
    };
    while eps.len() < MAX_ENDPOINTS_PER_SLICE {
        let Some((_, ep)) = desired.pop_first() else { break };
        eps.push(ep);
    }
    set_endpoints(slice, eps);
}

/// kube's `getSliceToFill`: of `names`, the slice that `n` more endpoints bring
/// closest to full without overflowing it.
fn closest_to_full(names: &[String], by_name: &BTreeMap<String, Cow<'_, Value>>, n: usize) -> Option<String> {
    let mut best: Option<(usize, &String)> = None;
    for name in names {
        let Some(s) = by_name.get(name) else { continue };
        let used = n + endpoints_of(s).len();
        if used > MAX_ENDPOINTS_PER_SLICE {
            continue;
        }
        let diff = MAX_ENDPOINTS_PER_SLICE - used;
        if diff < MAX_ENDPOINTS_PER_SLICE && best.is_none_or(|(d, _)| diff < d) {
            best = Some((diff, name));
        }
    }
    best.map(|(_, n)| n.clone())
}

/// The slices of one address type of `svc` (kube's `reconcileByAddressType`).
fn plan_family(
    svc: &Value,
    pods: &[&Node],
    nodes: &HashMap<String, Value>,
    existing: &[&Value],
    family: &str,
    plan: &mut Plan,
) {
    let publish = objects::bool_at(svc, &["spec", "publishNotReadyAddresses"]);
    let deletes_before = plan.delete.len();
    let creates_before = plan.create.len();
    let mut existing_by_ports: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for &slice in existing {
        if owned_by(slice, svc) {
            existing_by_ports.entry(port_key(ports_of(slice))).or_default().push(slice);
        } else {
            plan.delete.push(slice.clone());
        }
    }
    // Per port group: its ports and its endpoints by identity.
    let mut desired: BTreeMap<String, (Vec<Value>, BTreeMap<String, Value>)> = BTreeMap::new();
    for pod in pods {
        if !util::should_pod_be_in_endpoints(pod, true) {
            continue;
        }
        let ports = endpoint_ports(svc, pod);
        // Pods nearly always share their ports: a group with these very ports is
        // found without building its key.
        let known = desired.values().position(|(p, _)| *p == ports);
        let group = match known {
            Some(i) => desired.values_mut().nth(i),
            None => Some(desired.entry(port_key(&ports)).or_insert_with(|| (ports, BTreeMap::new()))),
        };
        let Some(group) = group else { continue };
        let node = nodes.get(objects::str_at(pod, &["spec", "nodeName"]));
        if node.is_none() && !publish {
            tracing::debug!(pod = %objects::name(pod), "endpointslice: skipping a pod whose Node is not found");
            continue;
        }
        let ep = pod_to_endpoint(pod, node, svc, family);
        if ep.get("addresses").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
            group.1.insert(endpoint_identity(&ep), ep);
        }
    }
    let stale: Vec<String> = existing_by_ports.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    for (key, (ports, eps)) in desired {
        let slices = existing_by_ports.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        reconcile_port_group(svc, slices, eps, &ports, family, plan);
    }
    for key in stale {
        plan.delete.extend(existing_by_ports.remove(&key).unwrap_or_default().into_iter().cloned());
    }
    // A Service without endpoints keeps one empty placeholder slice.
    if existing.len() == plan.delete.len() - deletes_before && plan.create.len() == creates_before {
        let placeholder = new_slice(svc, &[], family);
        if plan.delete.len() - deletes_before == 1 && is_placeholder(&plan.delete[deletes_before], &placeholder) {
            plan.delete.truncate(deletes_before);
        } else {
            plan.create.push(placeholder);
        }
    }
}

/// Everything to write for one Service (kube's `Reconcile`), before `finalize`.
fn plan_service(svc: &Value, pods: &[&Node], nodes: &HashMap<String, Value>, existing: &[&Value]) -> Plan {
    let mut plan = Plan::default();
    let families = util::service_families(svc);
    let mut by_family: BTreeMap<&str, Vec<&Value>> = BTreeMap::new();
    let mut wrong_type: Vec<&Value> = Vec::new();
    for &slice in existing {
        match families.iter().find(|f| slice.get("addressType").and_then(Json::as_str) == Some(**f)) {
            Some(f) => by_family.entry(f).or_default().push(slice),
            None => wrong_type.push(slice),
        }
    }
    for family in &families {
        let slices = by_family.remove(family).unwrap_or_default();
        plan_family(svc, pods, nodes, &slices, family, &mut plan);
    }
    // A slice to delete while one of its type is to be created is reused instead.
    let mut i = 0;
    while i < plan.delete.len() && !plan.create.is_empty() {
        let last = plan.create.len() - 1;
        if plan.delete[i].get("addressType") == plan.create[last].get("addressType") && owned_by(&plan.delete[i], svc) {
            let old = plan.delete.remove(i);
            let mut s = plan.create.remove(last);
            // As kube: the new slice (its generateName too) under the old name.
            let meta = objects::meta_mut(&mut s);
            meta.insert("name".into(), json!(objects::name(&old)));
            if let Some(rv) = objects::at(&old, &["metadata", "resourceVersion"]) {
                meta.insert("resourceVersion".into(), rv.clone());
            }
            plan.update.push(s);
        } else {
            i += 1;
        }
    }
    plan.delete.extend(wrong_type.into_iter().cloned());
    plan
}

/// The controller's state across passes.
#[derive(Default)]
struct State {
    triggers: TriggerTimeTracker,
}

/// One pass; `Some(delay)` to look again soon after a failed write.
async fn reconcile(ctx: &Context, state: &mut State) -> Option<Duration> {
    let c = &ctx.client;
    let (Some(services_res), Some(slices_res)) =
        (c.res.for_kind("v1", "Service").cloned(), c.res.for_kind("discovery.k8s.io/v1", "EndpointSlice").cloned())
    else {
        return None;
    };
    // Without a served Service there is nothing to do (the garbage collector removes
    // the slices of deleted Services), so nothing more is listed.
    let listed = async {
        let services = util::owned(ctx.informers.list(&services_res).await);
        if !services.iter().any(|s| util::service_selector(s).is_some()) {
            return Ok(None);
        }
        let pods = ctx.informers.fresh(&c.res.pods).await;
        let nodes = util::owned(ctx.informers.list(&c.res.nodes).await);
        let slices = ctx.informers.list(&slices_res).await;
        Ok::<_, crate::api::ApiError>(Some((services, pods, nodes, slices)))
    };
    let (services, pods, nodes, slices) = match listed.await {
        Ok(Some(l)) => l,
        Ok(None) => {
            state.triggers.retain(&HashSet::new());
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e.message, "endpointslice controller: list failed");
            return Some(Duration::from_millis(200));
        }
    };
    let nodes: HashMap<String, Value> = nodes.into_iter().map(|n| (objects::name(&n).to_owned(), n)).collect();
    let mut slices_by_service: HashMap<(String, String), Vec<Arc<Node>>> = HashMap::new();
    for s in slices {
        let (Some(svc), Some(by)) =
            (objects::label(&s, util::LABEL_SERVICE_NAME), objects::label(&s, LABEL_MANAGED_BY))
        else {
            continue;
        };
        if by != CONTROLLER_NAME || objects::is_deleting(&s) {
            continue;
        }
        let key = (objects::namespace(&s).unwrap_or("").to_owned(), svc.to_owned());
        slices_by_service.entry(key).or_default().push(s);
    }
    let writer = c.as_user(USER);
    let live: HashSet<(String, String)> = services.iter().map(util::key).collect();
    let all_pods = pods.list(None);
    let pod_index = util::PodIndex::new(&all_pods);
    let mut retry = false;
    for svc in &services {
        let Some(selector) = util::service_selector(svc) else { continue };
        let pods = pod_index.select(svc, selector);
        let (trigger, triggers) = state.triggers.compute(svc, &pods);
        let existing = slices_by_service.remove(&util::key(svc)).unwrap_or_default();
        let existing: Vec<Value> = existing.iter().map(|s| s.to_value()).collect();
        let existing: Vec<&Value> = existing.iter().collect();
        let plan = plan_service(svc, &pods, &nodes, &existing);
        match finalize(&writer, &slices_res, svc, plan, trigger).await {
            Ok(()) => state.triggers.commit(svc, triggers),
            Err(e) => {
                retry = true;
                if !is_conflict(&e) && !is_not_found(&e) && e.code != 403 {
                    let msg = format!(
                        "Error updating Endpoint Slices for Service {}/{}: {}",
                        objects::namespace(svc).unwrap_or(""),
                        objects::name(svc),
                        e.message
                    );
                    ctx.event(svc, "Warning", "FailedToUpdateEndpointSlices", &msg, "endpoint-slice-controller").await;
                }
            }
        }
    }
    state.triggers.retain(&live);
    retry.then(|| (ctx.options.resync_period / 4).max(Duration::from_millis(10)))
}

/// Writes a plan: creates (not for a Service being deleted), updates, deletes; every
/// created or updated slice gets the trigger-time annotation.
async fn finalize(
    c: &super::client::Client,
    res: &std::sync::Arc<crate::api::ResourceInfo>,
    svc: &Value,
    plan: Plan,
    trigger: Option<jiff::Timestamp>,
) -> Result<(), crate::api::ApiError> {
    let ns = objects::namespace(svc);
    if !objects::is_deleting(svc) {
        for mut s in plan.create {
            util::set_trigger_time(&mut s, trigger);
            match c.create(res, ns, &s).await {
                Ok(_) => {}
                // The namespace is terminating: nothing to publish any more.
                Err(e) if e.code == 403 => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }
    for mut s in plan.update {
        util::set_trigger_time(&mut s, trigger);
        c.update(res, &s).await?;
    }
    for s in plan.delete {
        let opts = json!({"preconditions": {"uid": objects::uid(&s)}});
        match c.delete(res, ns, objects::name(&s), &opts).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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

    fn svc() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "clusterIP": "10.96.0.10", "ipFamilies": ["IPv4"],
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
        })
    }

    fn pod(i: usize, ready: bool) -> Value {
        json!({
            "metadata": {"name": format!("web-{i}"), "namespace": "ns", "uid": format!("uid-{i}"), "labels": {"app": "web"}},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": format!("10.244.{}.{}", i / 200, i % 200 + 1),
                       "podIPs": [{"ip": format!("10.244.{}.{}", i / 200, i % 200 + 1)}],
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        })
    }

    fn nodes() -> HashMap<String, Value> {
        HashMap::from([("n1".to_owned(), json!({"metadata": {"name": "n1", "labels": {LABEL_ZONE: "z1"}}}))])
    }

    fn refs_of(slices: &[Value]) -> Vec<&Value> {
        slices.iter().collect()
    }

    /// Applies a plan the way the API server would (names for created slices).
    fn apply(mut existing: Vec<Value>, plan: Plan, next: &mut usize) -> Vec<Value> {
        for d in &plan.delete {
            existing.retain(|s| objects::name(s) != objects::name(d));
        }
        for u in plan.update {
            let i = existing.iter().position(|s| objects::name(s) == objects::name(&u)).expect("updated slice exists");
            existing[i] = u;
        }
        for mut c in plan.create {
            *next += 1;
            objects::meta_mut(&mut c).insert("name".into(), json!(format!("web-{next}")));
            existing.push(c);
        }
        existing
    }

    #[test]
    fn endpoints_conditions_and_metadata() {
        let s = svc();
        let p = [pod(0, true), pod(1, false)];
        let p: Vec<Node> = p.iter().map(Node::new).collect();
        let refs: Vec<&Node> = p.iter().collect();
        let plan = plan_service(&s, &refs, &nodes(), &[]);
        assert_eq!(plan.create.len(), 1);
        let slice = &plan.create[0];
        assert_eq!(slice["metadata"]["generateName"], "web-");
        assert_eq!(
            slice["metadata"]["labels"],
            json!({"app": "web", "kubernetes.io/service-name": "web", LABEL_MANAGED_BY: CONTROLLER_NAME})
        );
        assert_eq!(
            slice["metadata"]["ownerReferences"][0],
            json!({"apiVersion": "v1", "kind": "Service", "name": "web", "uid": "svc-uid", "controller": true, "blockOwnerDeletion": true})
        );
        assert_eq!(slice["addressType"], "IPv4");
        assert_eq!(slice["ports"], json!([{"name": "http", "port": 8080, "protocol": "TCP"}]));
        let eps = slice["endpoints"].as_array().unwrap();
        assert_eq!(eps[0]["addresses"], json!(["10.244.0.1"]));
        assert_eq!(eps[0]["conditions"], json!({"ready": true, "serving": true, "terminating": false}));
        assert_eq!(eps[0]["zone"], "z1");
        assert_eq!(eps[0]["nodeName"], "n1");
        assert_eq!(eps[1]["conditions"], json!({"ready": false, "serving": false, "terminating": false}));
    }

    #[test]
    fn at_most_100_per_slice_and_steady_state() {
        let s = svc();
        let p: Vec<Value> = (0..250).map(|i| pod(i, true)).collect();
        let p: Vec<Node> = p.iter().map(Node::new).collect();
        let refs: Vec<&Node> = p.iter().collect();
        let mut next = 0;
        let slices = apply(Vec::new(), plan_service(&s, &refs, &nodes(), &[]), &mut next);
        let mut sizes: Vec<usize> = slices.iter().map(|s| endpoints_of(s).len()).collect();
        sizes.sort();
        assert_eq!(sizes, vec![50, 100, 100]);
        let again = plan_service(&s, &refs, &nodes(), &refs_of(&slices));
        assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty(), "{again:?}");
        // Scale down to 30: emptied slices go, one keeps the rest.
        let refs: Vec<&Node> = p.iter().take(30).collect();
        let slices = apply(slices.clone(), plan_service(&s, &refs, &nodes(), &refs_of(&slices)), &mut next);
        assert_eq!(slices.iter().map(|s| endpoints_of(s).len()).sum::<usize>(), 30);
        assert!(slices.len() <= 2);
        // No pods: a single placeholder, kept as it is.
        let slices = apply(slices.clone(), plan_service(&s, &[], &nodes(), &refs_of(&slices)), &mut next);
        assert_eq!(slices.len(), 1);
        assert!(endpoints_of(&slices[0]).is_empty() && ports_of(&slices[0]).is_empty());
        let again = plan_service(&s, &[], &nodes(), &refs_of(&slices));
        assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty(), "{again:?}");
    }

    #[test]
    fn identities_and_changes_read_in_place() {
        let ep = json!({"addresses": ["10.0.0.1"], "hostname": "h",
            "targetRef": {"kind": "Pod", "namespace": "ns", "name": "p", "uid": "u", "resourceVersion": "7"}});
        // The identity is the JSON array kube hashes, as a Value would serialize it.
        let as_value = json!([ep.get("addresses"), "h", "ns", "p"]).to_string();
        assert_eq!(endpoint_identity(&ep), as_value);
        assert_eq!(endpoint_identity(&json!({})), r#"[null,"","",""]"#);
        // targetRef's resourceVersion aside, any difference is a change.
        let mut other = ep.clone();
        other["targetRef"]["resourceVersion"] = json!("8");
        assert!(!endpoint_changed(&ep, &other));
        other["targetRef"].as_object_mut().unwrap().remove("resourceVersion");
        assert!(!endpoint_changed(&ep, &other));
        other["targetRef"]["uid"] = json!("u2");
        assert!(endpoint_changed(&ep, &other));
        let mut bare = ep.clone();
        bare.as_object_mut().unwrap().remove("targetRef");
        assert!(endpoint_changed(&ep, &bare));
        let mut null_ref = bare.clone();
        null_ref["targetRef"] = Value::Null;
        assert!(!endpoint_changed(&bare, &null_ref), "a missing targetRef reads as null");
    }

    #[test]
    fn port_groups_get_their_own_slices_and_stale_groups_go() {
        let s = svc();
        // Pods 0 and 2 name port `http` 8080, pod 1 names it 9090, pod 3 lacks it.
        let mut p: Vec<Value> = (0..4).map(|i| pod(i, true)).collect();
        p[1]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!(9090);
        p[3]["spec"]["containers"][0]["ports"] = json!([]);
        let p: Vec<Node> = p.iter().map(Node::new).collect();
        let refs: Vec<&Node> = p.iter().collect();
        let mut next = 0;
        let slices = apply(Vec::new(), plan_service(&s, &refs, &nodes(), &[]), &mut next);
        let mut groups: Vec<(Value, Vec<Value>)> = slices
            .iter()
            .map(|s| (s["ports"].clone(), endpoints_of(s).iter().map(|e| e["addresses"][0].clone()).collect()))
            .collect();
        groups.sort_by_key(|(ports, _)| ports.to_string());
        assert_eq!(
            groups,
            vec![
                (
                    json!([{"name": "http", "port": 8080, "protocol": "TCP"}]),
                    vec![json!("10.244.0.1"), json!("10.244.0.3")]
                ),
                (json!([{"name": "http", "port": 9090, "protocol": "TCP"}]), vec![json!("10.244.0.2")]),
                (Value::Null, vec![json!("10.244.0.4")]),
            ]
        );
        let again = plan_service(&s, &refs, &nodes(), &refs_of(&slices));
        assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty(), "{again:?}");
        // Pod 1 gone: the 9090 group's slice is deleted, the others stay as they are.
        let refs: Vec<&Node> = p.iter().filter(|x| objects::name(x) != "web-1").collect();
        let plan = plan_service(&s, &refs, &nodes(), &refs_of(&slices));
        assert!(plan.create.is_empty() && plan.update.is_empty(), "{plan:?}");
        let deleted: Vec<&Value> = plan.delete.iter().map(|d| &d["ports"][0]["port"]).collect();
        assert_eq!(deleted, vec![&json!(9090)]);
    }

    #[test]
    fn placeholder_is_reused_for_the_first_endpoints() {
        let s = svc();
        let mut next = 0;
        let slices = apply(Vec::new(), plan_service(&s, &[], &nodes(), &[]), &mut next);
        assert_eq!(slices.len(), 1);
        let p = [pod(0, true)];
        let p: Vec<Node> = p.iter().map(Node::new).collect();
        let refs: Vec<&Node> = p.iter().collect();
        let plan = plan_service(&s, &refs, &nodes(), &refs_of(&slices));
        assert!(plan.create.is_empty() && plan.delete.is_empty(), "{plan:?}");
        assert_eq!(plan.update.len(), 1);
        let u = &plan.update[0];
        assert_eq!(objects::name(u), "web-1");
        assert_eq!(u["metadata"]["generateName"], "web-");
        assert_eq!(u["endpoints"].as_array().map(Vec::len), Some(1));
        assert_eq!(u["ports"][0]["port"], 8080);
    }

    #[test]
    fn bootstrap_policy_grants_what_the_controller_uses() {
        for resource in ["services", "pods", "nodes"] {
            for verb in ["list", "watch"] {
                assert!(util::bootstrap_policy_allows(USER, verb, "", resource), "{verb} {resource}");
            }
        }
        for verb in ["list", "watch", "create", "update", "delete"] {
            assert!(util::bootstrap_policy_allows(USER, verb, "discovery.k8s.io", "endpointslices"), "{verb}");
        }
        assert!(util::bootstrap_policy_allows(USER, "create", "", "events"));
        assert!(!util::bootstrap_policy_allows(USER, "create", "", "endpoints"), "no more than that");
    }

    #[test]
    fn terminating_and_missing_nodes() {
        let s = svc();
        let mut gone = pod(0, true);
        gone["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let mut elsewhere = pod(1, true);
        elsewhere["spec"]["nodeName"] = json!("nowhere");
        let (gone, elsewhere) = (Node::new(&gone), Node::new(&elsewhere));
        let refs = vec![&gone, &elsewhere];
        let plan = plan_service(&s, &refs, &nodes(), &[]);
        let eps = plan.create[0]["endpoints"].as_array().unwrap().clone();
        assert_eq!(eps.len(), 1, "the pod on a missing node is skipped");
        assert_eq!(eps[0]["conditions"], json!({"ready": false, "serving": true, "terminating": true}));
        let mut publish = svc();
        publish["spec"]["publishNotReadyAddresses"] = json!(true);
        let plan = plan_service(&publish, &refs, &nodes(), &[]);
        let eps = plan.create[0]["endpoints"].as_array().unwrap().clone();
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0]["conditions"]["ready"], true);
    }

    #[test]
    fn foreign_and_wrong_type_slices_are_replaced() {
        let s = svc();
        let mut foreign = new_slice(&s, &[], "IPv4");
        foreign["metadata"]["name"] = json!("web-old");
        foreign["metadata"]["ownerReferences"][0]["uid"] = json!("old-uid");
        let mut v6 = new_slice(&s, &[], "IPv6");
        v6["metadata"]["name"] = json!("web-v6");
        let p = [pod(0, true)];
        let p: Vec<Node> = p.iter().map(Node::new).collect();
        let refs: Vec<&Node> = p.iter().collect();
        let plan = plan_service(&s, &refs, &nodes(), &[&foreign, &v6]);
        assert_eq!(plan.create.len(), 1);
        let deleted: Vec<&str> = plan.delete.iter().map(objects::name).collect();
        assert_eq!(deleted, vec!["web-old", "web-v6"]);
    }
}
