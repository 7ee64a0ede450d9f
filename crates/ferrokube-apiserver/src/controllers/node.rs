//! The simulated Nodes: each a `Node` object, Ready, with capacity, allocatable,
//! addresses and nodeInfo as a kubelet reports them, and (optionally) its heartbeat
//! Lease in `kube-node-lease`.
//!
//! What a kubelet does for its node, minus the machine (kwok's fake nodes are the
//! model):
//!
//! - **Registration**: the Node is created when missing (labels `kubernetes.io/hostname`,
//!   `kubernetes.io/os`, `kubernetes.io/arch`, `spec.podCIDR`), then its status is
//!   written: capacity = allocatable (8 CPUs, 16 GiB, 110 pods), the four conditions
//!   with `Ready=True`, an InternalIP and a Hostname address, the kubelet endpoint
//!   port and nodeInfo.
//! - **Status**: rewritten whenever the node stops reporting Ready (a node lifecycle
//!   controller marks a silent node `Unknown`) or lacks nodeInfo, and otherwise every
//!   [`node_status_report_frequency`](super::kubelet::KubeletOptions::node_status_report_frequency)
//!   (the kubelet's `nodeStatusReportFrequency`, 5 minutes), which refreshes the
//!   conditions' `lastHeartbeatTime`.
//! - **Lease** (when [`node_lease`](super::kubelet::KubeletOptions::node_lease) is set):
//!   `kube-node-lease/<node>`, holder the node, owned by the Node,
//!   `leaseDurationSeconds` 40, `renewTime` renewed every 10 s (the kubelet's
//!   `nodeLeaseDurationSeconds` and its renew interval, a quarter of it). The lease is
//!   what kube-controller-manager's node lifecycle controller watches: without it a
//!   real cluster marks the node NotReady after its grace period and evicts its pods.
//!
//! The embedded server runs one node, [`DEFAULT_NODE_NAME`], without a lease (nothing
//! there reads it); `ferrokube-kubelet` runs N numbered nodes with leases. When the
//! `kube-node-lease` namespace is missing (kube-apiserver creates it at start, the
//! embedded server does not), the node loop creates it.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use super::client::{is_conflict, is_not_found};
use super::kube_api::{get_opt, KubeApi};
use super::kubelet::KubeletOptions;
use super::objects::{self, Json};

/// Default name of the embedded server's simulated node.
pub const DEFAULT_NODE_NAME: &str = "ferrokube-node";

/// Internal IP of the embedded server's simulated node (its pods' `hostIP`).
pub const NODE_IP: &str = "172.18.0.2";

/// Kubelet version the nodes report.
pub const KUBELET_VERSION: &str = "v1.37.0";

/// Namespace of the nodes' heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The kubelet's port, published in `status.daemonEndpoints`.
pub const KUBELET_PORT: u16 = 10250;

/// How many numbered nodes fit the pod network: one /24 each from 10.244.0.0 up to
/// 10.254.255.0.
pub const MAX_NUMBERED_NODES: usize = 11 * 256;

/// A range of pod IPs: `len` addresses from `first`. Addresses ending in `.0`, `.1`
/// or `.255` are never handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPool {
    /// The first address.
    pub first: Ipv4Addr,
    /// How many addresses.
    pub len: u32,
}

impl IpPool {
    /// The `i`-th address of the pool (modulo its length).
    pub fn nth(&self, i: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.first).wrapping_add(i % self.len.max(1)))
    }

    /// Whether the address can be given to a pod.
    pub fn usable(ip: Ipv4Addr) -> bool {
        !matches!(ip.octets()[3], 0 | 1 | 255)
    }
}

/// One simulated node: its name, labels, address and pod network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    /// `metadata.name`.
    pub name: String,
    /// The InternalIP address (the `hostIP` of its pods).
    pub internal_ip: Ipv4Addr,
    /// `spec.podCIDR`.
    pub pod_cidr: String,
    /// Where its pods' IPs come from.
    pub pod_ips: IpPool,
    /// Labels besides `kubernetes.io/hostname`, `kubernetes.io/os` and
    /// `kubernetes.io/arch` (and their `beta.` forms).
    pub labels: BTreeMap<String, String>,
}

impl NodeConfig {
    /// The embedded server's node: InternalIP [`NODE_IP`], podCIDR 10.244.0.0/24,
    /// labelled as the control plane; its pods get IPs from all of 10.244.0.0/16 (it
    /// carries every pod of the embedded server, more than a /24 holds).
    pub fn embedded(name: &str) -> NodeConfig {
        NodeConfig {
            name: name.to_owned(),
            internal_ip: Ipv4Addr::new(172, 18, 0, 2),
            pod_cidr: "10.244.0.0/24".to_owned(),
            pod_ips: IpPool { first: Ipv4Addr::new(10, 244, 0, 0), len: 65_536 },
            labels: BTreeMap::from([("node-role.kubernetes.io/control-plane".to_owned(), String::new())]),
        }
    }

    /// Node number `index` of a set: named `<prefix><index>`, InternalIP
    /// 172.18.0.2 + index, podCIDR the `index`-th /24 from 10.244.0.0 (as
    /// kube-controller-manager's node IPAM would allocate them), label
    /// `type=ferrokube-kubelet` (kwok labels its nodes `type=kwok`). `None` past
    /// [`MAX_NUMBERED_NODES`].
    pub fn numbered(prefix: &str, index: usize) -> Option<NodeConfig> {
        if index >= MAX_NUMBERED_NODES {
            return None;
        }
        let index = u32::try_from(index).ok()?;
        let net = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 244, 0, 0)) + index * 256);
        Some(NodeConfig {
            name: format!("{prefix}{index}"),
            internal_ip: Ipv4Addr::from(u32::from(Ipv4Addr::new(172, 18, 0, 2)) + index),
            pod_cidr: format!("{net}/24"),
            pod_ips: IpPool { first: net, len: 256 },
            labels: BTreeMap::from([("type".to_owned(), "ferrokube-kubelet".to_owned())]),
        })
    }
}

/// Timings of the node heartbeat Lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLeaseOptions {
    /// `spec.leaseDurationSeconds` (the kubelet's `nodeLeaseDurationSeconds`, 40).
    pub duration: Duration,
    /// How often `spec.renewTime` is renewed (the kubelet renews every quarter of the
    /// duration, 10 s).
    pub renew_interval: Duration,
}

impl Default for NodeLeaseOptions {
    fn default() -> Self {
        NodeLeaseOptions { duration: Duration::from_secs(40), renew_interval: Duration::from_secs(10) }
    }
}

/// The Node object as first created.
pub fn node_object(config: &NodeConfig) -> Value {
    let name = &config.name;
    let mut labels = Map::new();
    for (k, v) in [
        ("kubernetes.io/hostname", name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
    ] {
        labels.insert(k.to_owned(), json!(v));
    }
    for (k, v) in &config.labels {
        labels.insert(k.clone(), json!(v));
    }
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": config.pod_cidr, "podCIDRs": [config.pod_cidr]},
    })
}

/// A stable fake machine id (32 hex digits) for a node name.
fn machine_id(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::new();
    for round in 0u8..2 {
        for b in name.bytes().chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

/// The node's status at `now`, Ready since `since`.
pub fn node_status(config: &NodeConfig, now: &str, since: &str) -> Value {
    let cond = |ty: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": ty, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": since,
        })
    };
    let resources = json!({
        "cpu": "8", "memory": "16336132Ki", "pods": "110",
        "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
    });
    let id = machine_id(&config.name);
    let uuid = format!("{}-{}-{}-{}-{}", &id[0..8], &id[8..12], &id[12..16], &id[16..20], &id[20..32]);
    json!({
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [
            {"type": "InternalIP", "address": config.internal_ip.to_string()},
            {"type": "Hostname", "address": config.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": {
            "machineID": id,
            "systemUUID": uuid,
            "bootID": format!("{}-{}-{}-{}-{}", &id[24..32], &id[0..4], &id[4..8], &id[8..12], &id[12..24]),
            "kernelVersion": "6.8.0",
            "osImage": "ferrokube simulated node",
            "containerRuntimeVersion": "containerd://2.0.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// Now as a `metav1.MicroTime` (RFC 3339 with microseconds), as Lease times are written.
pub fn now_micro() -> String {
    let now = jiff::Timestamp::now();
    let whole = objects::now();
    format!("{}.{:06}Z", whole.trim_end_matches('Z'), now.subsec_microsecond().max(0))
}

/// The heartbeat Lease of `node` (whose uid makes it the owner).
pub fn lease_object(node: &str, node_uid: &str, options: &NodeLeaseOptions) -> Value {
    let mut meta = json!({"name": node, "namespace": NODE_LEASE_NAMESPACE});
    if !node_uid.is_empty() {
        meta["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Node", "name": node, "uid": node_uid}]);
    }
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": meta,
        "spec": {
            "holderIdentity": node,
            "leaseDurationSeconds": options.duration.as_secs(),
            "renewTime": now_micro(),
        },
    })
}

/// The latest `lastHeartbeatTime` of the node's Ready condition, seconds since the epoch.
fn heartbeat(node: &Value) -> Option<i64> {
    objects::condition(node, "Ready")
        .and_then(|c| c.get("lastHeartbeatTime"))
        .and_then(Json::as_str)
        .and_then(objects::parse_time)
}

/// What the node loop remembers between passes, per node.
#[derive(Default)]
struct NodeState {
    /// When the lease was last renewed.
    renewed: Option<Instant>,
    /// The lease as last written (its resourceVersion is the next update's
    /// precondition), or `None` to read it first.
    lease: Option<Value>,
    /// Whether a failure to write the lease was already logged.
    lease_warned: bool,
}

/// The node loop: registers the nodes, keeps their status Ready and renews their Leases.
pub struct NodeAgent<A> {
    api: A,
    options: std::sync::Arc<KubeletOptions>,
    state: HashMap<String, NodeState>,
}

impl<A: KubeApi> NodeAgent<A> {
    /// An agent for the nodes of `options`.
    pub fn new(api: A, options: std::sync::Arc<KubeletOptions>) -> NodeAgent<A> {
        NodeAgent { api, options, state: HashMap::new() }
    }

    /// One pass: every node exists and reports Ready, every due lease is renewed.
    /// Returns when the next renewal is due.
    pub async fn reconcile(&mut self) -> Option<Duration> {
        let res = self.api.resources().clone();
        let existing: HashMap<String, Value> = match self.api.list(&res.nodes, None).await {
            Ok((items, _)) => items.into_iter().map(|n| (objects::name(&n).to_owned(), n)).collect(),
            Err(e) => {
                tracing::warn!(error = %e.message, "simulated nodes: listing nodes failed");
                return Some(Duration::from_secs(1));
            }
        };
        let options = std::sync::Arc::clone(&self.options);
        let mut next: Option<Duration> = None;
        for config in &options.nodes {
            let node = self.ensure_node(config, existing.get(&config.name)).await;
            if let (Some(lease), Some(node)) = (&options.node_lease, node) {
                let due = self.renew_lease(config, &node, lease).await;
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// Creates the node if missing and rewrites its status when needed; returns the
    /// node as last seen or written.
    async fn ensure_node(&self, config: &NodeConfig, existing: Option<&Value>) -> Option<Value> {
        let api = &self.api;
        let res = api.resources();
        let node = match existing {
            Some(n) => n.clone(),
            None => match api.create(&res.nodes, None, &node_object(config)).await {
                Ok(n) => n,
                Err(e) if is_conflict(&e) => return None,
                Err(e) => {
                    tracing::warn!(node = %config.name, error = %e.message, "could not create the simulated node");
                    return None;
                }
            },
        };
        let stale = heartbeat(&node).is_none_or(|t| {
            let age = objects::now_secs().saturating_sub(t);
            u64::try_from(age).unwrap_or(0) >= self.options.node_status_report_frequency.as_secs()
        });
        if objects::condition_true(&node, "Ready") && objects::at(&node, &["status", "nodeInfo"]).is_some() && !stale {
            return Some(node);
        }
        let now = objects::now();
        let since = objects::condition(&node, "Ready")
            .filter(|c| c.get("status").and_then(Json::as_str) == Some("True"))
            .and_then(|c| c.get("lastTransitionTime"))
            .and_then(Json::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| now.clone());
        let mut updated = node.clone();
        if let Some(m) = updated.as_object_mut() {
            m.insert("status".into(), node_status(config, &now, &since));
        }
        match api.put(&res.nodes, &updated, Some("status")).await {
            Ok(n) => Some(n),
            Err(e) => {
                if !is_conflict(&e) {
                    tracing::warn!(node = %config.name, error = %e.message, "could not update the node's status");
                }
                Some(node)
            }
        }
    }

    /// Renews the lease of `node` when due; returns the time to the next renewal.
    async fn renew_lease(&mut self, config: &NodeConfig, node: &Value, timing: &NodeLeaseOptions) -> Duration {
        let now = Instant::now();
        let state = self.state.entry(config.name.clone()).or_default();
        if let Some(at) = state.renewed {
            if now < at + timing.renew_interval {
                return at + timing.renew_interval - now;
            }
        }
        let api = &self.api;
        let leases = &api.resources().leases;
        let ns = Some(NODE_LEASE_NAMESPACE);
        let current = match state.lease.take() {
            Some(l) => Ok(Some(l)),
            None => get_opt(api, leases, ns, &config.name).await,
        };
        let written = match current {
            Ok(None) => api.create(leases, ns, &lease_object(&config.name, objects::uid(node), timing)).await,
            Ok(Some(mut lease)) => {
                let fresh = lease_object(&config.name, objects::uid(node), timing);
                lease["spec"] = fresh["spec"].clone();
                if objects::owner_refs(&lease).is_empty() {
                    objects::set_owner_refs(&mut lease, objects::owner_refs(&fresh));
                }
                api.put(leases, &lease, None).await
            }
            Err(e) => Err(e),
        };
        match written {
            Ok(lease) => {
                state.lease = Some(lease);
                state.renewed = Some(now);
                state.lease_warned = false;
                timing.renew_interval
            }
            Err(e) if is_not_found(&e) && e.message.contains("namespaces") => {
                // No kube-node-lease namespace (kube-apiserver creates it at start; the
                // embedded server does not): create it, as that controller would.
                let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NODE_LEASE_NAMESPACE}});
                if let Err(e) = api.create(&api.resources().namespaces, None, &ns).await {
                    if !is_conflict(&e) && !state.lease_warned {
                        tracing::warn!(error = %e.message, "could not create namespace {NODE_LEASE_NAMESPACE}");
                        state.lease_warned = true;
                    }
                }
                Duration::from_millis(100).min(timing.renew_interval)
            }
            Err(e) => {
                // Read it afresh on the next try (a conflict is routine: say nothing).
                if !is_conflict(&e) && !state.lease_warned {
                    tracing::warn!(node = %config.name, error = %e.message, "could not renew the node lease");
                    state.lease_warned = true;
                }
                Duration::from_secs(1).min(timing.renew_interval)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_nodes() {
        let n0 = NodeConfig::numbered("n-", 0).unwrap();
        assert_eq!(n0.name, "n-0");
        assert_eq!(n0.internal_ip, Ipv4Addr::new(172, 18, 0, 2));
        assert_eq!(n0.pod_cidr, "10.244.0.0/24");
        let n300 = NodeConfig::numbered("n-", 300).unwrap();
        assert_eq!(n300.pod_cidr, "10.245.44.0/24");
        assert_eq!(n300.internal_ip, Ipv4Addr::new(172, 18, 1, 46));
        assert_eq!(NodeConfig::numbered("n-", MAX_NUMBERED_NODES - 1).unwrap().pod_cidr, "10.254.255.0/24");
        assert!(NodeConfig::numbered("n-", MAX_NUMBERED_NODES).is_none());
    }

    #[test]
    fn pools_skip_network_and_broadcast() {
        let pool = NodeConfig::numbered("n-", 1).unwrap().pod_ips;
        assert_eq!(pool.nth(2), Ipv4Addr::new(10, 244, 1, 2));
        assert_eq!(pool.nth(258), Ipv4Addr::new(10, 244, 1, 2));
        assert!(!IpPool::usable(pool.nth(0)) && !IpPool::usable(pool.nth(1)) && !IpPool::usable(pool.nth(255)));
    }

    #[test]
    fn lease_times_are_micro() {
        let lease = lease_object("n-0", "uid-1", &NodeLeaseOptions::default());
        let t = lease["spec"]["renewTime"].as_str().unwrap();
        assert_eq!(t.len(), "2026-01-01T00:00:00.000000Z".len(), "{t}");
        assert_eq!(lease["spec"]["leaseDurationSeconds"], 40);
        assert_eq!(lease["metadata"]["ownerReferences"][0]["kind"], "Node");
    }
}
