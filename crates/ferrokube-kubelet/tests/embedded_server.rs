//! ferrokube-kubelet's node and kubelet over HTTPS against the embedded API server with
//! its own controllers off (so the pods are this kubelet's alone; it also schedules,
//! as against a cluster without kube-scheduler): nodes registered Ready with their
//! Leases, a pod bound, ContainerCreating then Running/Ready with an IP of its node's
//! podCIDR and kubelet Events, a graceful delete ending in the kubelet's final delete,
//! and a prompt shutdown. The realkube run (with kube-scheduler and the controller
//! manager) is tests/realkube/kubelet-smoke.sh.

use std::path::Path;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{Container, Event, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use ferrokube::clientcmd::{self, ClientConfig, ConfigOverrides, DirectClientConfig};
use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{Config, CreateOptions, DeleteOptions, GetOptions, ListOptions, RateLimiterChoice};
use ferrokube::watch::WatchEvent;
use ferrokube_apiserver::controllers::kubelet::KubeletOptions;
use ferrokube_apiserver::controllers::node::NodeConfig;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use ferrokube_kubelet::{HttpApi, SimulatedNodes};

/// A bound for every wait: the steps take milliseconds; this only keeps a broken
/// build from hanging.
const WITHIN: Duration = Duration::from_secs(30);

async fn server() -> (EmbeddedServer, Config) {
    let server = EmbeddedServer::start(ServerOptions { controllers: false, ..ServerOptions::default() })
        .await
        .expect("embedded server starts");
    let raw =
        clientcmd::load_from_str(&server.kubeconfig_yaml(), Path::new("embedded.kubeconfig")).expect("kubeconfig");
    let mut config = DirectClientConfig::new(raw, ConfigOverrides::default()).client_config().expect("client config");
    // The rate limiter is not under test (the binary runs with the kubelet's 50 qps).
    config.rate_limiter = RateLimiterChoice::Disabled;
    (server, config)
}

fn options() -> KubeletOptions {
    let nodes = (0..2).map(|i| NodeConfig::numbered("test-node-", i).expect("node config")).collect();
    let mut o = KubeletOptions::new(nodes);
    o.schedule = true;
    o.pod_startup_delay = Duration::from_millis(100);
    o.pod_termination_delay = Duration::from_millis(50);
    o.resync_period = Duration::from_millis(500);
    o
}

/// Watches pod `name` in `default` until `done` holds for it; returns that state.
async fn wait_pod(cs: &Clientset, name: &str, what: &str, done: impl Fn(&Pod) -> bool) -> Pod {
    let pods = cs.core_v1().pods("default");
    let only = ListOptions { field_selector: Some(format!("metadata.name={name}")), ..Default::default() };
    let wait = async {
        let list = pods.list(&only).await.expect("list pods");
        if let Some(p) = list.items.into_iter().find(|p| done(p)) {
            return p;
        }
        let from = ListOptions { resource_version: list.metadata.resource_version.clone(), ..only.clone() };
        let mut events = pods.watch(&from).await.expect("watch pods");
        while let Some(ev) = events.next().await {
            if let WatchEvent::Added(p) | WatchEvent::Modified(p) = ev.expect("pod event") {
                if done(&p) {
                    return p;
                }
            }
        }
        panic!("the pod watch ended before pod {name} was {what}");
    };
    tokio::time::timeout(WITHIN, wait).await.unwrap_or_else(|_| panic!("pod {name} not {what} within {WITHIN:?}"))
}

/// Watches Events in `default` until one with `reason` appears.
async fn wait_event(cs: &Clientset, reason: &str) -> Event {
    let events = cs.core_v1().events("default");
    let wait = async {
        let list = events.list(&ListOptions::default()).await.expect("list events");
        if let Some(e) = list.items.into_iter().find(|e| e.reason.as_deref() == Some(reason)) {
            return e;
        }
        let from = ListOptions { resource_version: list.metadata.resource_version.clone(), ..Default::default() };
        let mut stream = events.watch(&from).await.expect("watch events");
        while let Some(ev) = stream.next().await {
            if let WatchEvent::Added(e) = ev.expect("event event") {
                if e.reason.as_deref() == Some(reason) {
                    return e;
                }
            }
        }
        panic!("the event watch ended before a {reason} event");
    };
    tokio::time::timeout(WITHIN, wait).await.unwrap_or_else(|_| panic!("no {reason} event within {WITHIN:?}"))
}

fn condition(pod: &Pod, ty: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    status.conditions.as_ref()?.iter().find(|c| c.type_ == ty).map(|c| c.status.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_register_and_pods_run_over_https() {
    let (server, config) = server().await;
    let cs = Clientset::new(&config).expect("clientset");
    let api = HttpApi::new(&config).expect("http api");
    let nodes = SimulatedNodes::start(api, options());
    nodes.wait_ready(WITHIN).await.expect("nodes Ready");

    // Registration: Ready, address, podCIDR; the Lease, held and owned by the Node.
    for (i, name) in ["test-node-0", "test-node-1"].iter().enumerate() {
        let node = cs.core_v1().nodes().get(name, &GetOptions::default()).await.expect("node");
        let spec = node.spec.clone().unwrap_or_default();
        assert_eq!(spec.pod_cidr.as_deref(), Some(format!("10.244.{i}.0/24").as_str()));
        let status = node.status.clone().unwrap_or_default();
        let addresses = status.addresses.unwrap_or_default();
        assert!(addresses.iter().any(|a| a.type_ == "InternalIP" && a.address == format!("172.18.0.{}", i + 2)));
        assert_eq!(status.node_info.map(|n| n.kubelet_version), Some("v1.37.0".to_owned()));
        let lease = cs.coordination_v1().leases("kube-node-lease").get(name, &GetOptions::default()).await;
        let lease = lease.expect("the node's lease");
        let lease_spec = lease.spec.unwrap_or_default();
        assert_eq!(lease_spec.holder_identity.as_deref(), Some(*name));
        assert_eq!(lease_spec.lease_duration_seconds, Some(40));
        assert!(lease_spec.renew_time.is_some());
        let owner = lease.metadata.owner_references.unwrap_or_default();
        assert_eq!(
            owner.first().map(|o| (o.kind.as_str(), o.uid.as_str())),
            Some(("Node", node.metadata.uid.as_deref().unwrap_or("")))
        );
    }

    // A pod: bound, ContainerCreating, then Running and Ready with an IP of its node.
    let pod = Pod {
        metadata: ObjectMeta { name: Some("web".into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container { name: "web".into(), image: Some("nginx:1.27".into()), ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    };
    cs.core_v1().pods("default").create(&pod, &CreateOptions::default()).await.expect("create pod");
    let creating = wait_pod(&cs, "web", "ContainerCreating", |p| {
        let waiting = p.status.as_ref().and_then(|s| s.container_statuses.as_ref()).and_then(|c| c.first().cloned());
        waiting.and_then(|c| c.state).and_then(|s| s.waiting).and_then(|w| w.reason).as_deref()
            == Some("ContainerCreating")
    })
    .await;
    assert_eq!(condition(&creating, "PodScheduled").as_deref(), Some("True"));
    let running = wait_pod(&cs, "web", "Running and Ready", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            && condition(p, "Ready").as_deref() == Some("True")
    })
    .await;
    let node = running.spec.as_ref().and_then(|s| s.node_name.clone()).expect("bound to a node");
    let index: u8 = node.strip_prefix("test-node-").and_then(|i| i.parse().ok()).expect("one of ours");
    let status = running.status.clone().unwrap_or_default();
    assert_eq!(status.host_ip, Some(format!("172.18.0.{}", index + 2)));
    let pod_ip = status.pod_ip.expect("a pod IP");
    assert!(pod_ip.starts_with(&format!("10.244.{index}.")), "{pod_ip} not in node {node}'s podCIDR");

    // Events from the kubelet on that node (written after the status).
    let started = wait_event(&cs, "Started").await;
    let source = started.source.clone().unwrap_or_default();
    assert_eq!((source.component.as_deref(), source.host.as_deref()), (Some("kubelet"), Some(node.as_str())));
    assert_eq!(started.involved_object.name.as_deref(), Some("web"));
    let scheduled = wait_event(&cs, "Scheduled").await;
    assert_eq!(scheduled.message, Some(format!("Successfully assigned default/web to {node}")));

    // A graceful delete: Terminating, containers stopped, then the kubelet's final delete.
    let pods = cs.core_v1().pods("default");
    let list = pods.list(&ListOptions::default()).await.expect("list");
    let from = ListOptions { resource_version: list.metadata.resource_version.clone(), ..Default::default() };
    let mut events = pods.watch(&from).await.expect("watch");
    pods.delete("web", &DeleteOptions::default()).await.expect("delete");
    let gone = async {
        let mut saw_terminating = false;
        while let Some(ev) = events.next().await {
            match ev.expect("pod event") {
                WatchEvent::Modified(p) if p.metadata.deletion_timestamp.is_some() => saw_terminating = true,
                WatchEvent::Deleted(_) => return saw_terminating,
                _ => {}
            }
        }
        panic!("the watch ended before the pod was deleted");
    };
    let saw_terminating = tokio::time::timeout(WITHIN, gone).await.expect("pod deleted by the kubelet");
    assert!(saw_terminating, "the pod was deleted without a Terminating phase");

    tokio::time::timeout(WITHIN, nodes.shutdown()).await.expect("shutdown ends");
    server.shutdown().await;
}
