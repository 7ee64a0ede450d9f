//! Workloads that need running pods, on either server (`FERROKUBE_TEST_SERVER`): the
//! embedded server with its controllers and simulated kubelet, or realkube (real
//! kube-controller-manager and kube-scheduler) with `ferrokube-kubelet`'s simulated
//! nodes beside it. A Deployment rolls out through the typed client: its pods are
//! bound, Running and Ready with pod IPs, its ReplicaSet and the Deployment report
//! them available; deleting it in the foreground leaves no pod behind.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

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
