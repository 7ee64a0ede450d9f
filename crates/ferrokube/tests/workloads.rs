//! Workloads that need running pods, on either server (`FERROKUBE_TEST_SERVER`): the
//! embedded server with its controllers and simulated kubelet, or realkube (real
//! kube-controller-manager and kube-scheduler) with `ferrokube-kubelet`'s simulated
//! nodes beside it. A Deployment rolls out through the typed client: its pods are
//! bound, Running and Ready with pod IPs, its ReplicaSet and the Deployment report
//! them available; deleting it in the foreground leaves no pod behind. A Service over
//! a Deployment gets an EndpointSlice (kube-controller-manager's
//! endpointslice-controller, or the embedded server's) and an Endpoints object listing
//! its ready pods.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, PodSpec, PodTemplateSpec, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{CreateOptions, DeleteOptions, ListOptions, PropagationPolicy};
use ferrokube::watch::WatchEvent;
use support::cluster::{ClusterOptions, TestCluster};

/// A bound for each wait: a rollout takes about a second; this only keeps a broken
/// server from hanging the test.
const WITHIN: Duration = Duration::from_secs(60);

fn deployment(name: &str, replicas: i32) -> Deployment {
    let labels = BTreeMap::from([("app".to_owned(), name.to_owned())]);
    Deployment {
        metadata: ObjectMeta { name: Some(name.to_owned()), ..Default::default() },
        spec: DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(labels.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".into(),
                        image: Some("nginx:1.27".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rolls_out_with_running_pods() {
    let cluster = TestCluster::start(ClusterOptions::new("workloads").with_controllers()).await;
    if !cluster.runs_pods() {
        return;
    }
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let ns = cluster.namespace.as_str();
    let deployments = cs.apps_v1().deployments(ns);
    let created = deployments.create(&deployment("web", 3), &CreateOptions::default()).await.expect("create");
    let generation = created.metadata.generation.unwrap_or(1);

    // Watch the Deployment until its controller reports 3 available replicas of this
    // generation.
    let only = ListOptions { field_selector: Some("metadata.name=web".into()), ..Default::default() };
    let rolled_out = |d: &Deployment| {
        let status = d.status.clone().unwrap_or_default();
        status.observed_generation == Some(generation)
            && status.available_replicas == Some(3)
            && status.updated_replicas == Some(3)
            && status
                .conditions
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True"))
    };
    let wait = async {
        let from = ListOptions { resource_version: created.metadata.resource_version.clone(), ..only.clone() };
        let mut events = deployments.watch(&from).await.expect("watch deployments");
        while let Some(ev) = events.next().await {
            if let WatchEvent::Modified(d) = ev.expect("deployment event") {
                if rolled_out(&d) {
                    return;
                }
            }
        }
        panic!("the deployment watch ended before the rollout");
    };
    tokio::time::timeout(WITHIN, wait).await.unwrap_or_else(|_| panic!("web not rolled out within {WITHIN:?}"));

    // Its pods: bound to a node, Running and Ready, with distinct pod IPs.
    let pods = cs.core_v1().pods(ns).list(&ListOptions::default()).await.expect("pods");
    let running: Vec<_> = pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let status = p.status.as_ref()?;
            let ready = status.conditions.as_ref()?.iter().any(|c| c.type_ == "Ready" && c.status == "True");
            let node = p.spec.as_ref()?.node_name.clone()?;
            (status.phase.as_deref() == Some("Running") && ready).then(|| (node, status.pod_ip.clone()))
        })
        .collect();
    assert_eq!(running.len(), 3, "pods: {:#?}", pods.items);
    let mut ips: Vec<_> = running.iter().map(|(_, ip)| ip.clone().expect("a pod IP")).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 3, "pod IPs not distinct: {ips:?}");
    let replicasets = cs.apps_v1().replica_sets(ns).list(&ListOptions::default()).await.expect("replicasets");
    assert_eq!(replicasets.items.len(), 1);
    let rs_status = replicasets.items[0].status.clone().unwrap_or_default();
    assert_eq!((rs_status.ready_replicas, rs_status.available_replicas), (Some(3), Some(3)));

    // Foreground deletion: the Deployment goes only after its ReplicaSet and pods.
    let list = deployments.list(&only).await.expect("list");
    let from = ListOptions { resource_version: list.metadata.resource_version.clone(), ..only.clone() };
    let mut events = deployments.watch(&from).await.expect("watch deployments");
    let foreground = DeleteOptions { propagation_policy: Some(PropagationPolicy::Foreground), ..Default::default() };
    deployments.delete("web", &foreground).await.expect("delete");
    let gone = async {
        while let Some(ev) = events.next().await {
            if let WatchEvent::Deleted(_) = ev.expect("deployment event") {
                return;
            }
        }
        panic!("the deployment watch ended before the deletion");
    };
    tokio::time::timeout(WITHIN, gone).await.unwrap_or_else(|_| panic!("web not deleted within {WITHIN:?}"));
    let left = cs.core_v1().pods(ns).list(&ListOptions::default()).await.expect("pods");
    let left: Vec<_> = left.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    assert!(left.is_empty(), "pods left after the foreground deletion: {left:#?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_endpoint_slice_lists_ready_pods() {
    let cluster = TestCluster::start(ClusterOptions::new("workloads").with_controllers()).await;
    if !cluster.runs_pods() {
        return;
    }
    let cs = Clientset::new(&cluster.config).expect("clientset");
    let ns = cluster.namespace.as_str();
    let slices = cs.discovery_v1().endpoint_slices(ns);
    let of_api = ListOptions { label_selector: Some("kubernetes.io/service-name=api".into()), ..Default::default() };
    let before = slices.list(&of_api).await.expect("list endpointslices");
    let from = ListOptions { resource_version: before.metadata.resource_version.clone(), ..of_api.clone() };
    let mut events = slices.watch(&from).await.expect("watch endpointslices");

    // Two pods naming their port `http`, and a Service reaching it by that name.
    let mut d = deployment("api", 2);
    if let Some(spec) = d.spec.template.spec.as_mut() {
        spec.containers[0].ports =
            Some(vec![ContainerPort { name: Some("http".into()), container_port: 8080, ..Default::default() }]);
    }
    cs.apps_v1().deployments(ns).create(&d, &CreateOptions::default()).await.expect("create deployment");
    let svc = Service {
        metadata: ObjectMeta {
            name: Some("api".into()),
            labels: Some(BTreeMap::from([("tier".to_owned(), "backend".to_owned())])),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([("app".to_owned(), "api".to_owned())])),
            ports: Some(vec![ServicePort {
                name: Some("web".into()),
                port: 80,
                target_port: Some(IntOrString::String("http".into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let svc = cs.core_v1().services(ns).create(&svc, &CreateOptions::default()).await.expect("create service");

    // Watch the slices of the Service until one lists two ready endpoints.
    let ready_endpoints = |s: &EndpointSlice| {
        s.endpoints.iter().flatten().filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true)).count()
    };
    let wait = async {
        while let Some(ev) = events.next().await {
            match ev.expect("endpointslice event") {
                WatchEvent::Added(s) | WatchEvent::Modified(s) if ready_endpoints(&s) == 2 => return s,
                _ => {}
            }
        }
        panic!("the endpointslice watch ended before the pods were listed");
    };
    let slice = tokio::time::timeout(WITHIN, wait)
        .await
        .unwrap_or_else(|_| panic!("no EndpointSlice of api with 2 ready endpoints within {WITHIN:?}"));

    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("kubernetes.io/service-name").map(String::as_str), Some("api"));
    assert_eq!(
        labels.get("endpointslice.kubernetes.io/managed-by").map(String::as_str),
        Some("endpointslice-controller.k8s.io")
    );
    assert_eq!(labels.get("tier").map(String::as_str), Some("backend"), "the Service's labels are copied");
    assert_eq!(slice.metadata.generate_name.as_deref(), Some("api-"));
    let owners = slice.metadata.owner_references.clone().unwrap_or_default();
    assert_eq!(owners.len(), 1, "{owners:?}");
    assert_eq!((owners[0].api_version.as_str(), owners[0].kind.as_str()), ("v1", "Service"));
    assert_eq!(Some(&owners[0].uid), svc.metadata.uid.as_ref());
    assert_eq!((owners[0].controller, owners[0].block_owner_deletion), (Some(true), Some(true)));
    assert_eq!(slice.address_type, "IPv4");
    let ports = slice.ports.clone().unwrap_or_default();
    assert_eq!(ports.len(), 1);
    assert_eq!(
        (ports[0].name.as_deref(), ports[0].port, ports[0].protocol.as_deref()),
        (Some("web"), Some(8080), Some("TCP")),
        "the named targetPort resolved to the container port"
    );

    // The endpoints are the pods, by IP, node and targetRef.
    let pods = cs.core_v1().pods(ns).list(&ListOptions::default()).await.expect("pods");
    let mut pod_ips: Vec<String> = pods
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.status.as_ref()?.pod_ip.clone())
        .collect();
    pod_ips.sort();
    let mut slice_ips: Vec<String> = slice.endpoints.iter().flatten().flat_map(|e| e.addresses.clone()).collect();
    slice_ips.sort();
    assert_eq!(slice_ips, pod_ips);
    for e in slice.endpoints.iter().flatten() {
        let target = e.target_ref.clone().expect("targetRef");
        assert_eq!(target.kind.as_deref(), Some("Pod"));
        assert_eq!(target.namespace.as_deref(), Some(ns));
        assert!(target.name.as_deref().is_some_and(|n| n.starts_with("api-")), "{target:?}");
        assert!(e.node_name.is_some(), "{e:?}");
        let c = e.conditions.clone().unwrap_or_default();
        assert_eq!((c.serving, c.terminating), (Some(true), Some(false)));
    }

    // The Endpoints object (endpoint-controller) lists the same addresses.
    let endpoints = cs.core_v1().endpoints(ns);
    let only = ListOptions { field_selector: Some("metadata.name=api".into()), ..Default::default() };
    let listed = endpoints.list(&only).await.expect("list endpoints");
    let ready_ips = |ep: &k8s_openapi::api::core::v1::Endpoints| {
        let mut ips: Vec<String> =
            ep.subsets.iter().flatten().flat_map(|s| s.addresses.iter().flatten().map(|a| a.ip.clone())).collect();
        ips.sort();
        ips
    };
    if listed.items.first().map(ready_ips) != Some(pod_ips.clone()) {
        let from = ListOptions { resource_version: listed.metadata.resource_version.clone(), ..only.clone() };
        let mut events = endpoints.watch(&from).await.expect("watch endpoints");
        let wait = async {
            while let Some(ev) = events.next().await {
                match ev.expect("endpoints event") {
                    WatchEvent::Added(ep) | WatchEvent::Modified(ep) if ready_ips(&ep) == pod_ips => return,
                    _ => {}
                }
            }
            panic!("the endpoints watch ended before the pods were listed");
        };
        tokio::time::timeout(WITHIN, wait)
            .await
            .unwrap_or_else(|_| panic!("Endpoints api incomplete after {WITHIN:?}"));
    }
    let ep = endpoints.get("api", &Default::default()).await.expect("get endpoints");
    let ep_labels = ep.metadata.labels.clone().unwrap_or_default();
    assert_eq!(ep_labels.get("endpoints.kubernetes.io/managed-by").map(String::as_str), Some("endpoint-controller"));
    let subset_ports = ep.subsets.clone().unwrap_or_default()[0].ports.clone().unwrap_or_default();
    assert_eq!((subset_ports[0].name.as_deref(), subset_ports[0].port), (Some("web"), 8080));
    cluster.shutdown().await;
}
