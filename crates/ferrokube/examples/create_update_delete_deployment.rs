//! The seed program of client-go (`examples/create-update-delete-deployment`), with
//! ferrokube's typed Clientset: create a Deployment, update it in a RetryOnConflict
//! loop, list Deployments, delete it with Foreground propagation.
//!
//! While it runs, a watch on the Deployment's pods prints each pod's phase changes, so
//! the rollout, the rolling update and the cascading delete can be seen — on a real
//! cluster, or on the embedded API server (started in-process when no kubeconfig is
//! found, or with `--embedded`), whose controllers and simulated kubelet really run the
//! pods.
//!
//! client-go's example waits for the Return key between steps; this one waits for the
//! cluster instead (the rollout to finish, the pods to go), and for the Return key only
//! when `--interactive` is given and stdin is a terminal.
//!
//! ```sh
//! cargo run --example create_update_delete_deployment            # kubeconfig or embedded
//! cargo run --example create_update_delete_deployment -- --embedded
//! ```

mod support;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{CreateOptions, DeleteOptions, GetOptions, ListOptions, PropagationPolicy, UpdateOptions};
use ferrokube::util::retry::{retry_on_conflict, DEFAULT_RETRY};
use ferrokube::watch::WatchEvent;
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{Container, ContainerPort, Pod, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use support::{Cluster, Flags};

const NAMESPACE: &str = "default";
const NAME: &str = "demo-deployment";
/// How long to wait for the cluster at each step before giving up.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let interactive = std::env::args().any(|a| a == "--interactive");
    let flags = Flags::parse_from(std::env::args().skip(1).filter(|a| a != "--interactive"))?;
    let cluster = Cluster::connect(&flags).await?;
    let clientset = Clientset::new(&cluster.config)?;
    let deployments = clientset.apps_v1().deployments(NAMESPACE);

    let pod_watch = tokio::spawn(print_pod_phases(clientset.clone()));

    println!("Creating deployment...");
    let created = deployments.create(&demo_deployment(), &CreateOptions::default()).await?;
    println!("Created deployment {:?}.", created.metadata.name.as_deref().unwrap_or_default());
    wait_for_rollout(&clientset, 2).await?;
    prompt(interactive);

    println!("Updating deployment...");
    // Get the latest version in every attempt: another writer (here: the deployment
    // controller updating status) may have changed it since, and then Update fails
    // with a Conflict, which retry_on_conflict answers by running the closure again.
    retry_on_conflict(DEFAULT_RETRY, || async {
        let mut latest = deployments.get(NAME, &GetOptions::default()).await?;
        latest.spec.replicas = Some(1);
        if let Some(container) = latest.spec.template.spec.as_mut().and_then(|s| s.containers.first_mut()) {
            container.image = Some("nginx:1.13".to_owned());
        }
        deployments.update(&latest, &UpdateOptions::default()).await
    })
    .await
    .map_err(|e| format!("update failed: {e}"))?;
    println!("Updated deployment...");
    wait_for_rollout(&clientset, 1).await?;
    prompt(interactive);

    println!("Listing deployments in namespace {NAMESPACE:?}:");
    for d in deployments.list(&ListOptions::default()).await?.items {
        println!(" * {} ({} replicas)", d.metadata.name.unwrap_or_default(), d.spec.replicas.unwrap_or(1));
    }
    prompt(interactive);

    println!("Deleting deployment...");
    let foreground = DeleteOptions { propagation_policy: Some(PropagationPolicy::Foreground), ..Default::default() };
    deployments.delete(NAME, &foreground).await?;
    wait_until_gone(&clientset).await?;
    println!("Deleted deployment.");

    pod_watch.abort();
    cluster.shutdown().await;
    Ok(())
}

/// The Deployment client-go's example creates: 2 replicas of nginx:1.12.
fn demo_deployment() -> Deployment {
    let labels = BTreeMap::from([("app".to_owned(), "demo".to_owned())]);
    Deployment {
        metadata: ObjectMeta { name: Some(NAME.to_owned()), ..Default::default() },
        spec: DeploymentSpec {
            replicas: Some(2),
            selector: LabelSelector { match_labels: Some(labels.clone()), ..Default::default() },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..Default::default() }),
                spec: Some(PodSpec {
                    containers: vec![Container {
                        name: "web".to_owned(),
                        image: Some("nginx:1.12".to_owned()),
                        ports: Some(vec![ContainerPort {
                            name: Some("http".to_owned()),
                            protocol: Some("TCP".to_owned()),
                            container_port: 80,
                            ..Default::default()
                        }]),
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

/// Waits until the Deployment's rollout is complete with `replicas` available pods,
/// the condition `kubectl rollout status` waits for.
async fn wait_for_rollout(clientset: &Clientset, replicas: i32) -> Result<(), Box<dyn std::error::Error>> {
    let deployments = clientset.apps_v1().deployments(NAMESPACE);
    let wait = async {
        loop {
            let d = deployments.get(NAME, &GetOptions::default()).await?;
            let status = d.status.unwrap_or_default();
            let observed = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
            if observed
                && status.updated_replicas.unwrap_or(0) == replicas
                && status.replicas.unwrap_or(0) == replicas
                && status.available_replicas.unwrap_or(0) == replicas
            {
                println!("Deployment {NAME:?} rolled out: {replicas} of {replicas} replicas available.");
                return Ok::<(), ferrokube::rest::Error>(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, wait)
        .await
        .map_err(|_| format!("deployment {NAME:?} did not roll out within {STEP_TIMEOUT:?}"))??;
    Ok(())
}

/// Waits until the Deployment is gone; with Foreground propagation that is after its
/// ReplicaSets and pods are gone.
async fn wait_until_gone(clientset: &Clientset) -> Result<(), Box<dyn std::error::Error>> {
    let deployments = clientset.apps_v1().deployments(NAMESPACE);
    let wait = async {
        loop {
            match deployments.get(NAME, &GetOptions::default()).await {
                Err(e) if e.is_not_found() => return Ok::<(), ferrokube::rest::Error>(()),
                Err(e) => return Err(e),
                Ok(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    };
    tokio::time::timeout(STEP_TIMEOUT, wait)
        .await
        .map_err(|_| format!("deployment {NAME:?} was not deleted within {STEP_TIMEOUT:?}"))??;
    Ok(())
}

/// Prints a line whenever one of the demo pods changes phase (as `kubectl get pods -w`
/// would show it), until aborted.
async fn print_pod_phases(clientset: Clientset) {
    let pods = clientset.core_v1().pods(NAMESPACE);
    let options = ListOptions { label_selector: Some("app=demo".to_owned()), ..Default::default() };
    let mut last_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut stream = match pods.watch(&options).await {
        Ok(stream) => stream,
        Err(err) => {
            eprintln!("   (cannot watch pods: {err})");
            return;
        }
    };
    while let Some(event) = stream.next().await {
        let (pod, deleted) = match event {
            Ok(WatchEvent::Added(pod) | WatchEvent::Modified(pod)) => (pod, false),
            Ok(WatchEvent::Deleted(pod)) => (pod, true),
            Ok(_) => continue,
            Err(err) => {
                eprintln!("   (pod watch ended: {err})");
                return;
            }
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let phase = if deleted { "Deleted".to_owned() } else { display_phase(&pod) };
        if last_seen.get(&name) != Some(&phase) {
            println!("   pod {name}: {phase}");
            last_seen.insert(name, phase);
        }
    }
}

/// The status column of `kubectl get pods` for a pod, roughly.
fn display_phase(pod: &Pod) -> String {
    if pod.metadata.deletion_timestamp.is_some() {
        return "Terminating".to_owned();
    }
    let status = pod.status.clone().unwrap_or_default();
    let waiting =
        status.container_statuses.iter().flatten().find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let ready = status.conditions.iter().flatten().any(|c| c.type_ == "Ready" && c.status == "True");
    match (waiting, status.phase) {
        (Some(reason), _) => reason,
        (None, Some(phase)) if phase == "Running" && ready => "Running (ready)".to_owned(),
        (None, Some(phase)) => phase,
        (None, None) => "Pending".to_owned(),
    }
}

/// client-go's "-> Press Return key to continue." (only with `--interactive` on a terminal).
fn prompt(interactive: bool) {
    if interactive && std::io::stdin().is_terminal() {
        println!("-> Press Return key to continue.");
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
}
