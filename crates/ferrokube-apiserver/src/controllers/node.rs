//! The simulated Node: one `Node` object, `ferrokube-node` by default, Ready, with
//! capacity, allocatable, addresses and nodeInfo as a kubelet would report them.
//!
//! It is (re-)created whenever it is missing, and its status is rewritten whenever it
//! stops reporting Ready (heartbeats are not refreshed: nothing here watches them).

use serde_json::{json, Value};

use super::informer::Waiter;
use super::{client, objects, Context};

/// Default name of the simulated node.
pub const DEFAULT_NODE_NAME: &str = "ferrokube-node";

/// Internal IP of the simulated node (the pods' `hostIP`).
pub const NODE_IP: &str = "172.18.0.2";

/// Kubelet version the node reports.
pub const KUBELET_VERSION: &str = "v1.37.0";

/// The Node object as first created.
pub fn node_object(name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
    })
}

/// The node's status at `now`.
pub fn node_status(name: &str, now: &str, since: &str) -> Value {
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
            {"type": "InternalIP", "address": NODE_IP},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "f3a1c2d4e5b60718293a4b5c6d7e8f90",
            "systemUUID": "f3a1c2d4-e5b6-0718-293a-4b5c6d7e8f90",
            "bootID": "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
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

/// Ensures the node exists and reports Ready.
pub async fn ensure_node(ctx: &Context) {
    let c = &ctx.client;
    let name = ctx.options.node_name.as_str();
    let node = match c.get_opt(&c.res.nodes, None, name).await {
        Ok(Some(n)) => n,
        Ok(None) => match c.create(&c.res.nodes, None, &node_object(name)).await {
            Ok(n) => n,
            Err(e) if client::is_conflict(&e) => return,
            Err(e) => {
                tracing::warn!(error = %e.message, "could not create the simulated node");
                return;
            }
        },
        Err(e) => {
            tracing::warn!(error = %e.message, "could not read the simulated node");
            return;
        }
    };
    if objects::condition_true(&node, "Ready") && node.pointer("/status/nodeInfo").is_some() {
        return;
    }
    let now = objects::now();
    let since = objects::condition(&node, "Ready")
        .filter(|c| c.get("status").and_then(Value::as_str) == Some("True"))
        .and_then(|c| c.get("lastTransitionTime"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| now.clone());
    let mut updated = node.clone();
    if let Some(m) = updated.as_object_mut() {
        m.insert("status".into(), node_status(name, &now, &since));
    }
    if let Err(e) = c.update_status(&c.res.nodes, &updated).await {
        if !client::is_conflict(&e) {
            tracing::warn!(error = %e.message, "could not update the simulated node's status");
        }
    }
}

/// The node loop: ensure the node on every change of nodes and every resync.
pub async fn run(ctx: Context, mut waiter: Waiter) {
    loop {
        ensure_node(&ctx).await;
        if !waiter.wait(None).await {
            return;
        }
    }
}
