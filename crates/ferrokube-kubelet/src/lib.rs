//! `ferrokube-kubelet`: simulated nodes and their kubelet for any Kubernetes cluster,
//! over HTTP with the ferrokube client (kwok is the model: nodes and pods that look
//! real to the control plane, no container runs).
//!
//! It runs the very node and kubelet logic the embedded server runs in-process
//! (`ferrokube_apiserver::controllers::{node, kubelet}`), which is written against the
//! `KubeApi` trait (`ferrokube_apiserver::controllers::kube_api`); this crate
//! supplies the HTTP implementation ([`http::HttpApi`]) and the command line
//! ([`cli`]):
//!
//! ```text
//! flags (cli) -> rest::Config + KubeletOptions
//!   -> HttpApi (KubeApi over ferrokube::rest)
//!   -> controllers::kubelet::spawn: node loop (register, status, Leases)
//!                                   kubelet loop (pods: ContainerCreating, Running/Ready,
//!                                   IPs, Events, graceful deletion)
//!   -> SimulatedNodes::shutdown on SIGTERM/Ctrl-C
//! ```
//!
//! Dependencies point one way: this crate uses the client (`ferrokube`) and the server
//! crate's controllers (`ferrokube-apiserver`, without its CLI); neither of them
//! depends on it.

pub mod cli;
pub mod http;

use std::collections::BTreeSet;
use std::time::Duration;

use ferrokube_apiserver::controllers::kube_api::KubeApi;
use ferrokube_apiserver::controllers::kubelet::{self, KubeletOptions};
use ferrokube_apiserver::controllers::node::NODE_LEASE_NAMESPACE;
use ferrokube_apiserver::controllers::objects;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use http::HttpApi;

/// The simulated nodes and their kubelet, running; [`shutdown`](Self::shutdown) stops
/// them (dropping the handle stops them too, without waiting).
#[must_use = "the simulated nodes stop when this handle is dropped"]
pub struct SimulatedNodes {
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    api: HttpApi,
    names: Vec<String>,
    leases: bool,
}

impl SimulatedNodes {
    /// Starts the nodes of `options` and their kubelet against `api`'s cluster (within
    /// a tokio runtime).
    pub fn start(api: HttpApi, options: KubeletOptions) -> SimulatedNodes {
        let (tx, rx) = watch::channel(false);
        let names = options.nodes.iter().map(|n| n.name.clone()).collect();
        let leases = options.node_lease.is_some();
        let tasks = kubelet::spawn(api.clone(), options, rx);
        SimulatedNodes { shutdown: tx, tasks, api, names, leases }
    }

    /// The node names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Waits until every node exists, reports Ready and (with leases on) has its
    /// Lease (polling every 200 ms), or `within` passed; returns the nodes still
    /// missing, not Ready or without a Lease.
    pub async fn wait_ready(&self, within: Duration) -> Result<(), Vec<String>> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let pending = self.not_ready().await;
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(pending);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn not_ready(&self) -> Vec<String> {
        let res = self.api.resources();
        let names = |list: Result<(Vec<serde_json::Value>, String), _>, ready: fn(&serde_json::Value) -> bool| {
            list.map(|(items, _)| items.iter().filter(|o| ready(o)).map(|o| objects::name(o).to_owned()).collect())
                .unwrap_or_else(|_| BTreeSet::new())
        };
        let ready: BTreeSet<String> =
            names(self.api.list(&res.nodes, None).await, |n| objects::condition_true(n, "Ready"));
        let leased: Option<BTreeSet<String>> = match self.leases {
            true => Some(names(self.api.list(&res.leases, Some(NODE_LEASE_NAMESPACE)).await, |_| true)),
            false => None,
        };
        self.names
            .iter()
            .filter(|n| !ready.contains(*n) || leased.as_ref().is_some_and(|l| !l.contains(*n)))
            .cloned()
            .collect()
    }

    /// Stops the node and kubelet loops and waits for them to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
    }
}

impl Drop for SimulatedNodes {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
    }
}
