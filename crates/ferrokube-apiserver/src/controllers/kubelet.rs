//! The simulated kubelet of the simulated nodes (and, in the embedded server, the
//! scheduler too), shared by the embedded server and the `ferrokube-kubelet` binary.
//!
//! It is written against [`KubeApi`]: in the embedded server the calls go to the
//! registry in-process ([`Client`](super::client::Client)); `ferrokube-kubelet` runs
//! the same code over HTTP against any cluster. [`spawn`] starts it with the node loop
//! of [`node`](super::node) for the nodes of [`KubeletOptions`].
//!
//! No container runs: the kubelet writes the pod statuses a real one would, in the
//! order kubectl users see them (kwok's fake pods are the model):
//!
//! 1. with [`schedule`](KubeletOptions::schedule) on (the embedded server, which has no
//!    kube-scheduler), an unscheduled pod (no `spec.nodeName`) of the default
//!    scheduler is bound to the fitting node with the fewest pods (the `binding`
//!    subresource when served, else an update of `spec.nodeName`) and gets
//!    `PodScheduled=True` (event `Scheduled`); a pod whose `nodeSelector` no node
//!    satisfies (or with the nodes cordoned) stays Pending with `PodScheduled=False`,
//!    reason `Unschedulable` (event `FailedScheduling`). Against a real cluster
//!    kube-scheduler binds and the kubelet only takes the pods bound to its nodes;
//! 2. its containers wait in `ContainerCreating` (phase Pending, `hostIP` = its
//!    node's InternalIP, `startTime`, `Initialized=True`);
//! 3. after [`pod_startup_delay`](KubeletOptions::pod_startup_delay) it is Running and
//!    Ready with a `podIP` unique in the cluster from its node's pool (the node's
//!    podCIDR; all of 10.244.0.0/16 for the embedded server's one node) and running
//!    container statuses (events `Pulled`, `Created`, `Started`, `source.host` the
//!    node);
//! 4. a run-to-completion pod (restartPolicy `Never`/`OnFailure`) Succeeds after
//!    [`pod_run_duration`](KubeletOptions::pod_run_duration);
//! 5. a pod marked for deletion (`deletionTimestamp`, by a graceful delete) has its
//!    containers stopped within its grace period (at most
//!    [`pod_termination_delay`](KubeletOptions::pod_termination_delay); event
//!    `Killing`) and is then deleted with `gracePeriodSeconds: 0` and its uid as a
//!    precondition, as the kubelet does; finalizers keep it until they are removed.
//!
//! A Running pod found not Ready (a node lifecycle controller marks the pods of a node
//! whose Lease expired NotReady) is reported Ready again, as a kubelet's status manager
//! does once it is back. Timers live in memory, keyed by pod uid; the pass reports when the next one is due
//! and the loop sleeps until then. A restarted kubelet picks its pods up where their
//! status says they are.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::cache::Informers;
use super::client::{is_conflict, is_not_found};
use super::compact::Node;
use super::informer::Waiter;
use super::json::{AsJson, Json, JsonObject};
use super::kube_api::{get_opt, KubeApi};
use super::node::{IpPool, NodeAgent, NodeConfig, NodeLeaseOptions};
use super::{events, objects};

const COMPONENT: &str = "kubelet";

/// What the simulated nodes and their kubelet do, and how fast.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KubeletOptions {
    /// The nodes to register and run pods on.
    pub nodes: Vec<NodeConfig>,
    /// Whether to act as the scheduler too: bind unscheduled pods of the default
    /// scheduler to the least loaded fitting node. On for the embedded server (it has
    /// no kube-scheduler); off against a real cluster, whose kube-scheduler binds.
    pub schedule: bool,
    /// Time from a pod's binding to Running and Ready (its containers spend it in
    /// `ContainerCreating`).
    pub pod_startup_delay: Duration,
    /// Time a run-to-completion pod (restartPolicy `Never` or `OnFailure`) runs
    /// before it Succeeds.
    pub pod_run_duration: Duration,
    /// Upper bound of the time a deleted pod spends Terminating (its grace period,
    /// when shorter, wins).
    pub pod_termination_delay: Duration,
    /// How often everything is looked at again even without watch events.
    pub resync_period: Duration,
    /// Whether to record Events (`Scheduled`, `Pulled`, `Created`, `Started`,
    /// `Killing`).
    pub record_events: bool,
    /// Heartbeat Leases in `kube-node-lease`, or none.
    pub node_lease: Option<NodeLeaseOptions>,
    /// How often a node's status is rewritten even when nothing changed (its
    /// conditions' `lastHeartbeatTime`; the kubelet's `nodeStatusReportFrequency`).
    pub node_status_report_frequency: Duration,
}

impl KubeletOptions {
    /// Options for `nodes` with the kubelet's defaults: no scheduling, pods Running 1 s
    /// after binding, leases of 40 s renewed every 10 s, status reported every 5
    /// minutes, Events recorded.
    pub fn new(nodes: Vec<NodeConfig>) -> KubeletOptions {
        KubeletOptions {
            nodes,
            schedule: false,
            pod_startup_delay: Duration::from_secs(1),
            pod_run_duration: Duration::from_secs(2),
            pod_termination_delay: Duration::from_secs(1),
            resync_period: Duration::from_secs(5),
            record_events: true,
            node_lease: Some(NodeLeaseOptions::default()),
            node_status_report_frequency: Duration::from_secs(300),
        }
    }

    fn node(&self, name: &str) -> Option<&NodeConfig> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

#[derive(Default)]
struct PodTimers {
    bound: Option<Instant>,
    running: Option<Instant>,
    terminating: Option<Instant>,
    /// The final delete went through; the pod only waits for its finalizers now.
    deleted: bool,
    /// The last pass that listed the pod (timers of unlisted pods are dropped).
    seen: u64,
}

/// The pod IPs in use in the cluster during one pass: those of the pods listed when the
/// set is built (the IP of a deleted pod is free again once the pod is gone from the
/// list) plus those handed out in the pass.
///
/// Built on the first allocation of the pass, so a pass that starts no pod builds
/// nothing; it holds addresses as numbers, so building it copies no strings. Only a
/// `podIP` in canonical dotted-quad form parses, and only such a string could equal
/// an address the kubelet hands out, so the set answers as the listed strings would.
struct IpsInUse<'p> {
    list: Box<dyn FnMut() -> Vec<Arc<Node>> + Send + 'p>,
    set: Option<HashSet<u32>>,
}

impl<'p> IpsInUse<'p> {
    /// The IPs of the pods `list` returns, asked for on the first claim.
    fn new(list: impl FnMut() -> Vec<Arc<Node>> + Send + 'p) -> Self {
        IpsInUse { list: Box::new(list), set: None }
    }

    /// Marks `ip` in use; false when it already was.
    fn claim(&mut self, ip: Ipv4Addr) -> bool {
        let set = match &mut self.set {
            Some(set) => set,
            None => self.set.insert(
                (self.list)()
                    .iter()
                    .filter_map(|p| objects::at(p, &["status", "podIP"]).and_then(Json::as_str))
                    .filter_map(|ip| ip.parse::<Ipv4Addr>().ok())
                    .map(u32::from)
                    .collect(),
            ),
        };
        set.insert(u32::from(ip))
    }
}

/// `spec.nodeName` of a pod, if set.
fn node_name(pod: &Node) -> Option<&str> {
    objects::at(pod, &["spec", "nodeName"]).and_then(Json::as_str)
}

/// Counts one more pod on `node` (copies the name only for a node not yet counted).
fn add_load(load: &mut HashMap<String, usize>, node: &str) {
    match load.get_mut(node) {
        Some(n) => *n += 1,
        None => {
            load.insert(node.to_owned(), 1);
        }
    }
}

/// The simulated scheduler's verdict on an unscheduled pod.
enum Schedulable {
    /// Bind it to this node.
    Yes(String),
    /// Another scheduler's pod, or one with scheduling gates: leave it alone.
    NotOurs,
    /// It does not fit: Pending with `PodScheduled=False`, reason Unschedulable.
    No(String),
}

/// The kubelet's state between passes.
pub struct Kubelet<A: KubeApi> {
    /// Where pods and nodes are read; its [`Informers::api`] is where they are written.
    informers: Informers<A>,
    options: Arc<KubeletOptions>,
    /// The simulated nodes as last listed (only when scheduling).
    nodes: Vec<Arc<Node>>,
    timers: HashMap<String, PodTimers>,
    /// Per node, the index in its pool of the last IP handed out.
    next_ip: HashMap<String, u32>,
    binding_served: bool,
    /// Passes so far (see [`PodTimers::seen`]).
    passes: u64,
}

/// `nginx` -> `docker.io/library/nginx:latest`, as container runtimes report images.
pub fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_domain = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_domain {
        name.to_owned()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if digest.is_none() && !last.contains(':') {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

/// A stable fake digest: 64 hex characters derived from `seed`.
fn fake_digest(seed: &str) -> String {
    let mut out = String::new();
    let mut h: u32 = 0x811c_9dc5;
    for round in 0u8..8 {
        for b in seed.bytes().chain([round]) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
        out.push_str(&format!("{h:08x}"));
    }
    out
}

fn random_hex64() -> String {
    let a = crate::object::meta::new_uid().replace('-', "");
    let b = crate::object::meta::new_uid().replace('-', "");
    format!("{a}{b}")
}

/// The QoS class of a pod spec (BestEffort, Burstable or Guaranteed).
pub fn qos_class<O: AsJson + ?Sized>(pod: &O) -> &'static str {
    let pod = pod.json();
    let containers = objects::array_at(pod, &["spec", "containers"]);
    let mut any = false;
    let mut guaranteed = !containers.is_empty();
    for c in containers {
        let req = objects::object_at(c, &["resources", "requests"]);
        let lim = objects::object_at(c, &["resources", "limits"]);
        if req.is_some_and(|r| !r.is_empty()) || lim.is_some_and(|l| !l.is_empty()) {
            any = true;
        }
        for r in ["cpu", "memory"] {
            let l = lim.and_then(|l| l.get(r));
            let q = req.and_then(|q| q.get(r)).or(l);
            if l.is_none() || q != l {
                guaranteed = false;
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

fn containers<O: AsJson + ?Sized>(pod: &O, field: &str) -> Vec<Value> {
    let pod = pod.json();
    objects::array_at(pod, &["spec", field]).iter().map(Json::to_value).collect()
}

fn container_status(c: &Value, state: Value, ready: bool, started: bool, container_id: Option<&str>) -> Value {
    let image = c.get("image").and_then(Json::as_str).unwrap_or("");
    let full = normalize_image(image);
    let repo = full.split([':', '@']).next().unwrap_or("").to_owned();
    let mut s = json!({
        "name": c.get("name").map(Json::to_value).unwrap_or(Value::Null),
        "state": state,
        "lastState": {},
        "ready": ready,
        "restartCount": 0,
        "image": full,
        "imageID": "",
        "started": started,
    });
    if let Some(id) = container_id {
        s["imageID"] = json!(format!("{repo}@sha256:{}", fake_digest(image)));
        s["containerID"] = json!(id);
    }
    s
}

fn set_status_field(pod: &mut Value, key: &str, v: Value) {
    if let Some(map) = pod.as_object_mut() {
        let st = map.entry("status").or_insert_with(|| json!({}));
        if !st.is_object() {
            *st = json!({});
        }
        if let Some(st) = st.as_object_mut() {
            st.insert(key.into(), v);
        }
    }
}

fn run_to_completion(pod: &Node) -> bool {
    matches!(objects::at(pod, &["spec", "restartPolicy"]).and_then(Json::as_str), Some("Never") | Some("OnFailure"))
}

impl<A: KubeApi> Kubelet<A> {
    /// A kubelet for the nodes of `options`, reading pods and nodes from `informers`.
    pub fn new(informers: Informers<A>, options: Arc<KubeletOptions>) -> Kubelet<A> {
        Kubelet {
            informers,
            options,
            nodes: Vec::new(),
            timers: HashMap::new(),
            next_ip: HashMap::new(),
            binding_served: true,
            passes: 0,
        }
    }

    /// The API pods are written through.
    fn api(&self) -> &A {
        self.informers.api()
    }

    /// Records an Event about `obj` when events are enabled, from `component` (on
    /// `host`, the node, for the kubelet's own).
    async fn event<O: AsJson + Sync + ?Sized>(
        &self,
        obj: &O,
        ty: &str,
        reason: &str,
        message: &str,
        component: &str,
        host: Option<&str>,
    ) {
        if self.options.record_events {
            events::record_from(self.api(), obj, ty, reason, message, component, host).await;
        }
    }

    /// A free IP of `node`'s pool (not in `used`), marked in use.
    fn allocate_ip(&mut self, node: &NodeConfig, used: &mut IpsInUse<'_>) -> Ipv4Addr {
        let pool = node.pod_ips;
        let next = self.next_ip.entry(node.name.clone()).or_insert(0);
        for _ in 0..pool.len {
            *next = (*next + 1) % pool.len.max(1);
            let ip = pool.nth(*next);
            if IpPool::usable(ip) && used.claim(ip) {
                return ip;
            }
        }
        // Exhausted: the last usable-looking address (a real node would stop
        // admitting pods at its `pods` capacity long before).
        let ip = Ipv4Addr::from(u32::from(pool.first).wrapping_add(pool.len.saturating_sub(2)));
        used.claim(ip);
        ip
    }

    /// The timers of pod `uid`, created empty on the first ask (the uid is copied only
    /// then, not on every pass).
    fn timers_of(&mut self, uid: &str) -> &mut PodTimers {
        if !self.timers.contains_key(uid) {
            self.timers.insert(uid.to_owned(), PodTimers::default());
        }
        match self.timers.get_mut(uid) {
            Some(t) => t,
            None => unreachable!("inserted just above"),
        }
    }

    /// When pod `uid` was first seen bound (now, on the first ask).
    fn bound_since(&mut self, uid: &str, now: Instant) -> Instant {
        *self.timers_of(uid).bound.get_or_insert(now)
    }

    /// When pod `uid` was first seen running (now, on the first ask).
    fn running_since(&mut self, uid: &str, now: Instant) -> Instant {
        *self.timers_of(uid).running.get_or_insert(now)
    }

    /// When pod `uid` began terminating (now, on the first ask) and whether this is
    /// the first ask; None once its final delete went through.
    fn terminating_since(&mut self, uid: &str, now: Instant) -> Option<(Instant, bool)> {
        let t = self.timers_of(uid);
        if t.deleted {
            return None;
        }
        let first = t.terminating.is_none();
        Some((*t.terminating.get_or_insert(now), first))
    }

    /// Whether `node` is one of ours.
    fn ours(&self, node: &str) -> bool {
        self.options.node(node).is_some()
    }

    /// One pass over every pod; returns when the next timer is due.
    ///
    /// A pass over pods that need nothing copies nothing per pod: it reads the cached
    /// objects in place and keeps per-pod state only in its timers.
    pub async fn reconcile(&mut self) -> Option<Duration> {
        let (pods_res, nodes_res) = {
            let res = self.api().resources();
            (Arc::clone(&res.pods), Arc::clone(&res.nodes))
        };
        if self.options.schedule {
            let nodes = self.informers.list(&nodes_res).await;
            self.nodes = nodes.into_iter().filter(|n| self.ours(objects::name(n))).collect();
        }
        let pods = self.informers.list(&pods_res).await;
        // The timers of pods no longer listed go.
        self.passes += 1;
        let pass = self.passes;
        for p in &pods {
            if let Some(t) = self.timers.get_mut(objects::uid(p)) {
                t.seen = pass;
            }
        }
        self.timers.retain(|_, t| t.seen == pass);
        let pods_cache = self.informers.cache(&pods_res);
        let mut used = IpsInUse::new(move || pods_cache.list(None));
        // Pods per node, for the scheduler.
        let mut load: HashMap<String, usize> = HashMap::new();
        if self.options.schedule {
            for n in pods.iter().filter_map(|p| node_name(p)) {
                add_load(&mut load, n);
            }
        }
        let mut next: Option<Duration> = None;
        let mut due = |d: Duration| {
            next = Some(next.map_or(d, |n: Duration| n.min(d)));
        };
        // Each pod is let go once looked at: a write to it during the pass makes a new
        // version, and the pass must not keep the old one alive to the end.
        for pod in pods {
            if let Some(d) = self.sync_pod(&pod, &mut used, &mut load).await {
                due(d);
            }
        }
        next
    }

    /// Drives one pod a step forward; returns when it wants to be looked at again.
    /// The cached pod is copied only to be written.
    async fn sync_pod(
        &mut self,
        pod: &Node,
        used: &mut IpsInUse<'_>,
        load: &mut HashMap<String, usize>,
    ) -> Option<Duration> {
        let uid = objects::uid(pod);
        let bound_to = node_name(pod).unwrap_or("");
        if objects::is_deleting(pod) {
            // An unbound pod is deleted at once by a real apiserver; the embedded one
            // leaves that to its scheduler-and-kubelet.
            if (bound_to.is_empty() && self.options.schedule) || self.ours(bound_to) {
                return self.terminate(pod).await;
            }
            return None;
        }
        if bound_to.is_empty() {
            if !self.options.schedule {
                return None;
            }
            match self.schedulable(pod, load) {
                Schedulable::Yes(node) => {
                    if self.bind(pod.to_value(), &node).await {
                        add_load(load, &node);
                    }
                    self.timers_of(uid).bound = Some(Instant::now());
                }
                Schedulable::NotOurs => {}
                Schedulable::No(message) => self.unschedulable(pod.to_value(), &message).await,
            }
            return None;
        }
        let options = Arc::clone(&self.options);
        let node = options.node(bound_to)?;
        let now = Instant::now();
        let bound = self.bound_since(uid, now);
        let phase = objects::phase(pod);
        let has_statuses = objects::at(pod, &["status", "containerStatuses"]).is_some();
        if phase == "Running" && !objects::condition_true(pod, "Ready") {
            // Its containers still run: the kubelet reports them Ready again (a node
            // lifecycle controller marks the pods of a silent node NotReady).
            self.mark_ready(pod.to_value()).await;
            return None;
        }
        match phase {
            "Pending" | "" if !objects::condition_true(pod, "PodScheduled") => {
                self.mark_scheduled(pod.to_value()).await;
                None
            }
            "Pending" | "" if !has_statuses => {
                self.container_creating(pod.to_value(), node).await;
                Some(options.pod_startup_delay)
            }
            "Pending" | "" => {
                let ready_at = bound + options.pod_startup_delay;
                if now < ready_at {
                    return Some(ready_at - now);
                }
                let ip = self.allocate_ip(node, used).to_string();
                if self.start_pod(pod.to_value(), node, &ip).await {
                    if let Some(t) = self.timers.get_mut(uid) {
                        t.running = Some(Instant::now());
                    }
                }
                None
            }
            "Running" if run_to_completion(pod) => {
                let started = self.running_since(uid, now);
                let done_at = started + options.pod_run_duration;
                if now < done_at {
                    return Some(done_at - now);
                }
                self.complete(pod.to_value()).await;
                None
            }
            _ => None,
        }
    }

    /// Where the simulated default scheduler would place `pod`: the fitting node with
    /// the fewest pods.
    fn schedulable(&self, pod: &Node, load: &HashMap<String, usize>) -> Schedulable {
        let scheduler =
            objects::at(pod, &["spec", "schedulerName"]).and_then(Json::as_str).unwrap_or("default-scheduler");
        if scheduler != "default-scheduler" {
            return Schedulable::NotOurs;
        }
        if !objects::array_at(pod, &["spec", "schedulingGates"]).is_empty() {
            return Schedulable::NotOurs;
        }
        if self.nodes.is_empty() {
            return Schedulable::No("0/0 nodes are available: no nodes available to schedule pods.".into());
        }
        let (mut mismatched, mut cordoned) = (0, 0);
        let mut best: Option<(&str, usize)> = None;
        for node in &self.nodes {
            let labels = objects::labels_of(node);
            let selector_ok = match objects::object_at(pod, &["spec", "nodeSelector"]) {
                Some(sel) => sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)).is_some_and(|l| v == l)),
                None => true,
            };
            if !selector_ok {
                mismatched += 1;
                continue;
            }
            if objects::bool_at(node, &["spec", "unschedulable"]) {
                cordoned += 1;
                continue;
            }
            let name = objects::name(node);
            let n = load.get(name).copied().unwrap_or(0);
            if best.is_none_or(|(_, b)| n < b) {
                best = Some((name, n));
            }
        }
        if let Some((name, _)) = best {
            return Schedulable::Yes(name.to_owned());
        }
        let total = self.nodes.len();
        let mut reasons = Vec::new();
        if mismatched > 0 {
            reasons.push(format!("{mismatched} node(s) didn't match Pod's node affinity/selector"));
        }
        if cordoned > 0 {
            reasons.push(format!("{cordoned} node(s) were unschedulable"));
        }
        let mut message = format!("0/{total} nodes are available: {}.", reasons.join(", "));
        if mismatched > 0 {
            message.push_str(&format!(
                " preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
            ));
        }
        Schedulable::No(message)
    }

    async fn unschedulable(&self, mut pod: Value, message: &str) {
        let already = objects::condition(&pod, "PodScheduled").is_some_and(|c| {
            c.get("reason").and_then(Json::as_str) == Some("Unschedulable")
                && c.get("message").and_then(Json::as_str) == Some(message)
        });
        if already {
            return;
        }
        set_status_field(&mut pod, "phase", json!("Pending"));
        objects::set_condition(&mut pod, "PodScheduled", "False", Some("Unschedulable"), Some(message), false);
        if self.write_status(&pod).await {
            self.event(&pod, "Warning", "FailedScheduling", message, "default-scheduler", None).await;
        }
    }

    /// Binds `pod` to `node_name`; true when it worked.
    async fn bind(&mut self, pod: Value, node_name: &str) -> bool {
        let api = self.api().clone();
        let res = api.resources();
        let ns = objects::namespace(&pod).map(str::to_owned);
        let name = objects::name(&pod).to_owned();
        if self.binding_served {
            let binding = json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": name, "namespace": ns, "uid": objects::uid(&pod)},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
            });
            match api.create_subresource(&res.pods, ns.as_deref(), &name, "binding", &binding).await {
                Ok(_) => {
                    self.scheduled_event(&pod, node_name).await;
                    return true;
                }
                Err(e) if e.code == 404 || e.code == 405 => {
                    // A 404 also answers a pod deleted since the kubelet's cache saw it:
                    // only a pod that still exists shows the subresource is not served.
                    let exists = matches!(get_opt(&api, &res.pods, ns.as_deref(), &name).await, Ok(Some(_)));
                    if e.code == 404 && !exists {
                        return false;
                    }
                    tracing::debug!("kubelet: pods/binding not served; binding by update");
                    self.binding_served = false;
                }
                Err(e) => {
                    tracing::debug!(pod = %name, error = %e.message, "kubelet: binding failed");
                    return false;
                }
            }
        }
        let mut bound = pod.clone();
        if let Some(spec) = bound.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("nodeName".into(), json!(node_name));
        } else {
            tracing::warn!(pod = %name, "kubelet: pod without spec; skipped");
            return false;
        }
        match api.put(&res.pods, &bound, None).await {
            Ok(_) => {
                self.scheduled_event(&pod, node_name).await;
                true
            }
            Err(e) if is_conflict(&e) || is_not_found(&e) => false,
            Err(e) => {
                tracing::warn!(pod = %name, error = %e.message, "kubelet: binding by update failed");
                false
            }
        }
    }

    async fn scheduled_event(&self, pod: &Value, node_name: &str) {
        let msg = format!(
            "Successfully assigned {}/{} to {}",
            objects::namespace(pod).unwrap_or(""),
            objects::name(pod),
            node_name
        );
        self.event(pod, "Normal", "Scheduled", &msg, "default-scheduler", None).await;
    }

    async fn write_status(&self, pod: &Value) -> bool {
        match self.api().put(&self.api().resources().pods, pod, Some("status")).await {
            Ok(_) => true,
            Err(e) if is_conflict(&e) || is_not_found(&e) => false,
            Err(e) => {
                tracing::warn!(pod = %objects::name(pod), error = %e.message, "kubelet: status update failed");
                false
            }
        }
    }

    async fn mark_ready(&self, mut pod: Value) {
        objects::set_condition(&mut pod, "Ready", "True", None, None, false);
        objects::set_condition(&mut pod, "ContainersReady", "True", None, None, false);
        self.write_status(&pod).await;
    }

    async fn mark_scheduled(&self, mut pod: Value) {
        set_status_field(&mut pod, "phase", json!("Pending"));
        objects::set_condition(&mut pod, "PodScheduled", "True", None, None, false);
        self.write_status(&pod).await;
    }

    async fn container_creating(&self, mut pod: Value, node: &NodeConfig) {
        let now = objects::now();
        let host_ip = node.internal_ip.to_string();
        let waiting = json!({"waiting": {"reason": "ContainerCreating"}});
        let statuses: Vec<Value> = containers(&pod, "containers")
            .iter()
            .map(|c| container_status(c, waiting.clone(), false, false, None))
            .collect();
        let names: Vec<String> = containers(&pod, "containers")
            .iter()
            .filter_map(|c| c.get("name").and_then(Json::as_str).map(str::to_owned))
            .collect();
        let not_ready = format!("containers with unready status: [{}]", names.join(" "));
        set_status_field(&mut pod, "phase", json!("Pending"));
        set_status_field(&mut pod, "hostIP", json!(host_ip));
        set_status_field(&mut pod, "hostIPs", json!([{"ip": host_ip}]));
        set_status_field(&mut pod, "startTime", json!(now));
        let qos = qos_class(&pod);
        set_status_field(&mut pod, "qosClass", json!(qos));
        set_status_field(&mut pod, "containerStatuses", Value::Array(statuses));
        let init = containers(&pod, "initContainers");
        if !init.is_empty() {
            let done =
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}});
            let st: Vec<Value> = init
                .iter()
                .map(|c| {
                    container_status(c, done.clone(), false, false, Some(&format!("containerd://{}", random_hex64())))
                })
                .collect();
            set_status_field(&mut pod, "initContainerStatuses", Value::Array(st));
        }
        objects::set_condition(&mut pod, "PodReadyToStartContainers", "False", None, None, false);
        objects::set_condition(&mut pod, "Initialized", "True", None, None, false);
        objects::set_condition(&mut pod, "Ready", "False", Some("ContainersNotReady"), Some(&not_ready), false);
        objects::set_condition(
            &mut pod,
            "ContainersReady",
            "False",
            Some("ContainersNotReady"),
            Some(&not_ready),
            false,
        );
        objects::set_condition(&mut pod, "PodScheduled", "True", None, None, false);
        self.write_status(&pod).await;
    }

    async fn start_pod(&self, mut pod: Value, node: &NodeConfig, ip: &str) -> bool {
        let now = objects::now();
        let running = json!({"running": {"startedAt": now}});
        let statuses: Vec<Value> = containers(&pod, "containers")
            .iter()
            .map(|c| {
                container_status(c, running.clone(), true, true, Some(&format!("containerd://{}", random_hex64())))
            })
            .collect();
        set_status_field(&mut pod, "phase", json!("Running"));
        set_status_field(&mut pod, "podIP", json!(ip));
        set_status_field(&mut pod, "podIPs", json!([{"ip": ip}]));
        set_status_field(&mut pod, "containerStatuses", Value::Array(statuses));
        if objects::at(&pod, &["status", "startTime"]).is_none() {
            set_status_field(&mut pod, "startTime", json!(now));
        }
        objects::set_condition(&mut pod, "PodReadyToStartContainers", "True", None, None, false);
        objects::set_condition(&mut pod, "Initialized", "True", None, None, false);
        objects::set_condition(&mut pod, "Ready", "True", None, None, false);
        objects::set_condition(&mut pod, "ContainersReady", "True", None, None, false);
        objects::set_condition(&mut pod, "PodScheduled", "True", None, None, false);
        if !self.write_status(&pod).await {
            return false;
        }
        for c in containers(&pod, "containers") {
            let cname = c.get("name").and_then(Json::as_str).unwrap_or("");
            let image = c.get("image").and_then(Json::as_str).unwrap_or("");
            let pulled =
                format!("Container image \"{image}\" already present on machine and can be accessed by the pod");
            let host = Some(node.name.as_str());
            self.event(&pod, "Normal", "Pulled", &pulled, COMPONENT, host).await;
            self.event(&pod, "Normal", "Created", &format!("Container created: {cname}"), COMPONENT, host).await;
            self.event(&pod, "Normal", "Started", &format!("Container started: {cname}"), COMPONENT, host).await;
        }
        true
    }

    /// Containers of `pod` as terminated with exit code 0.
    fn terminated(pod: &Value) -> Vec<Value> {
        let now = objects::now();
        let old = objects::array_at(pod, &["status", "containerStatuses"]);
        containers(pod, "containers")
            .iter()
            .map(|c| {
                let cname = c.get("name").map(Json::to_value).unwrap_or(Value::Null);
                let prev = old.iter().find(|s| s.get("name") == Some(&cname));
                let started = prev
                    .and_then(|s| objects::at(s, &["state", "running", "startedAt"]))
                    .cloned()
                    .unwrap_or_else(|| json!(now));
                let id = prev
                    .and_then(|s| s.get("containerID"))
                    .and_then(Json::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("containerd://{}", random_hex64()));
                let state = json!({"terminated": {
                    "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": now, "containerID": id,
                }});
                container_status(c, state, false, false, Some(&id))
            })
            .collect()
    }

    async fn complete(&self, mut pod: Value) {
        let statuses = Self::terminated(&pod);
        set_status_field(&mut pod, "phase", json!("Succeeded"));
        set_status_field(&mut pod, "containerStatuses", Value::Array(statuses));
        objects::set_condition(&mut pod, "PodReadyToStartContainers", "False", None, None, false);
        objects::set_condition(&mut pod, "Ready", "False", Some("PodCompleted"), None, false);
        objects::set_condition(&mut pod, "ContainersReady", "False", Some("PodCompleted"), None, false);
        self.write_status(&pod).await;
    }

    /// A pod with a deletionTimestamp: stop its containers within the grace period,
    /// then delete it for good.
    async fn terminate(&mut self, cached: &Node) -> Option<Duration> {
        let uid = objects::uid(cached);
        let now = Instant::now();
        let (since, first) = self.terminating_since(uid, now)?;
        if first {
            let host = node_name(cached);
            for c in containers(cached, "containers") {
                let cname = c.get("name").and_then(Json::as_str).unwrap_or("");
                let msg = format!("Stopping container {cname}");
                self.event(cached, "Normal", "Killing", &msg, COMPONENT, host).await;
            }
        }
        let grace = objects::at(cached, &["metadata", "deletionGracePeriodSeconds"])
            .and_then(Json::as_i64)
            .unwrap_or(30)
            .max(0) as u64;
        let wait = Duration::from_secs(grace).min(self.options.pod_termination_delay);
        if now < since + wait {
            return Some(since + wait - now);
        }
        let mut pod = cached.to_value();
        let api = self.api().clone();
        let pods = &api.resources().pods;
        let was_running = objects::phase(&pod) == "Running";
        if was_running && objects::at(&pod, &["status", "containerStatuses"]).is_some() {
            let statuses = Self::terminated(&pod);
            // Containers stop with exit code 0 on SIGTERM: the terminal phase is
            // Succeeded, as the kubelet computes it for a pod whose containers all
            // exited successfully.
            set_status_field(&mut pod, "phase", json!("Succeeded"));
            set_status_field(&mut pod, "containerStatuses", Value::Array(statuses));
            objects::set_condition(&mut pod, "Ready", "False", Some("PodCompleted"), None, false);
            objects::set_condition(&mut pod, "ContainersReady", "False", Some("PodCompleted"), None, false);
            if let Ok(updated) = api.put(pods, &pod, Some("status")).await {
                pod = updated;
            }
        }
        let opts = json!({"gracePeriodSeconds": 0, "preconditions": {"uid": uid}});
        match api.delete(pods, objects::namespace(&pod), objects::name(&pod), &opts).await {
            Ok(()) => {
                self.timers_of(uid).deleted = true;
                None
            }
            Err(e) if is_not_found(&e) || is_conflict(&e) => None,
            Err(e) => {
                tracing::warn!(pod = %objects::name(&pod), error = %e.message, "kubelet: final delete failed");
                Some(self.options.resync_period)
            }
        }
    }
}

/// Starts the simulated nodes and their kubelet over `api` (within a tokio runtime):
/// a node loop (registration, status, leases) woken by a watch on nodes, and a
/// kubelet loop (pods) woken by watches on pods and nodes. They run until `shutdown`
/// turns true; `ferrokube-kubelet` starts them here.
pub fn spawn<A: KubeApi>(api: A, options: KubeletOptions, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    spawn_with(Informers::new(api, shutdown.clone()), options, shutdown)
}

/// [`spawn`] with caches shared with other controllers (the embedded server's).
pub fn spawn_with<A: KubeApi>(
    informers: Informers<A>,
    options: KubeletOptions,
    shutdown: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    let options = Arc::new(options);
    let res = informers.api().resources().clone();
    let mut tasks = Vec::new();

    let node_wake = Arc::new(Notify::new());
    informers.cache(&res.nodes).subscribe(Arc::clone(&node_wake));
    let mut waiter = Waiter::new(node_wake, shutdown.clone(), options.resync_period);
    let mut agent = NodeAgent::new(informers.api().clone(), Arc::clone(&options));
    tasks.push(tokio::spawn(async move {
        loop {
            let next = agent.reconcile().await;
            if !waiter.wait(next).await {
                return;
            }
        }
    }));

    let pod_wake = Arc::new(Notify::new());
    for r in [&res.pods, &res.nodes] {
        informers.cache(r).subscribe(Arc::clone(&pod_wake));
    }
    let mut waiter = Waiter::new(pod_wake, shutdown, options.resync_period);
    let mut kubelet = Kubelet::new(informers, options);
    tasks.push(tokio::spawn(async move {
        loop {
            let next = kubelet.reconcile().await;
            if !waiter.wait(next).await {
                return;
            }
        }
    }));
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
        assert_eq!(normalize_image("nginx:1.27"), "docker.io/library/nginx:1.27");
        assert_eq!(normalize_image("bitnami/redis"), "docker.io/bitnami/redis:latest");
        assert_eq!(normalize_image("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
        assert_eq!(normalize_image("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(fake_digest("nginx").len(), 64);
    }

    #[tokio::test]
    async fn a_pod_deleted_before_its_binding_leaves_binding_on() {
        use crate::controllers::client::{Client, Resources};
        let res = Arc::new(Resources::builtin().expect("catalog"));
        let client = Client::new(crate::registry::Registry::new(), res, "system:kube-scheduler");
        let (_stop, shutdown) = watch::channel(false);
        let options = KubeletOptions::new(vec![super::super::node::NodeConfig::embedded("n")]);
        let mut kubelet = Kubelet::new(Informers::new(client, shutdown), Arc::new(options));
        let gone = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "gone", "namespace": "default", "uid": "u"},
            "spec": {"containers": [{"name": "c", "image": "i"}]}});
        assert!(!kubelet.bind(gone, "n").await, "nothing to bind");
        assert!(kubelet.binding_served, "a 404 for a vanished pod is no sign that pods/binding is not served");
    }

    fn test_kubelet(nodes: Vec<NodeConfig>) -> (Kubelet<crate::controllers::client::Client>, watch::Sender<bool>) {
        use crate::controllers::client::{Client, Resources};
        let res = Arc::new(Resources::builtin().expect("catalog"));
        let client = Client::new(crate::registry::Registry::new(), res, "system:node:n");
        let (stop, shutdown) = watch::channel(false);
        (Kubelet::new(Informers::new(client, shutdown), Arc::new(KubeletOptions::new(nodes))), stop)
    }

    fn pod_with_ip(ip: &str) -> Arc<Node> {
        Arc::new(Node::new(&json!({"metadata": {"name": "p", "uid": ip}, "status": {"podIP": ip}})))
    }

    #[tokio::test]
    async fn ips_skip_those_in_use_and_come_free_with_their_pods() {
        let node =
            NodeConfig { pod_ips: IpPool { first: Ipv4Addr::new(10, 244, 0, 0), len: 8 }, ..NodeConfig::embedded("n") };
        let (mut kubelet, _stop) = test_kubelet(vec![node.clone()]);
        // .2 and .3 are taken; a non-canonical spelling of .4 is no address the
        // kubelet hands out, and an IPv6 podIP takes nothing from the pool.
        let pods = vec![
            pod_with_ip("10.244.0.2"),
            pod_with_ip("10.244.0.3"),
            pod_with_ip("10.244.0.04"),
            pod_with_ip("fd00::4"),
        ];
        let listed = pods.clone();
        let mut used = IpsInUse::new(move || listed.clone());
        let got: Vec<String> = (0..4).map(|_| kubelet.allocate_ip(&node, &mut used).to_string()).collect();
        assert_eq!(got, ["10.244.0.4", "10.244.0.5", "10.244.0.6", "10.244.0.7"]);
        // Pool exhausted (addresses ending in .0 and .1 are never handed out):
        // the last usable-looking address.
        assert_eq!(kubelet.allocate_ip(&node, &mut used), Ipv4Addr::new(10, 244, 0, 6));
        // Next pass: the pod of .3 is gone; the cursor goes on from .7 and wraps to it.
        let pods = vec![
            pod_with_ip("10.244.0.2"),
            pod_with_ip("10.244.0.4"),
            pod_with_ip("10.244.0.5"),
            pod_with_ip("10.244.0.6"),
            pod_with_ip("10.244.0.7"),
        ];
        let mut used = IpsInUse::new(move || pods.clone());
        assert_eq!(kubelet.allocate_ip(&node, &mut used), Ipv4Addr::new(10, 244, 0, 3));
    }

    #[test]
    fn qos() {
        assert_eq!(qos_class(&json!({"spec": {"containers": [{"name": "a"}]}})), "BestEffort");
        let g = json!({"spec": {"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}});
        assert_eq!(qos_class(&g), "Guaranteed");
        let b = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(qos_class(&b), "Burstable");
    }
}
