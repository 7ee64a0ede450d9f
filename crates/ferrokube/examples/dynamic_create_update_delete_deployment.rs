//! Creates, updates, lists and deletes a Deployment through the *dynamic* client, like
//! client-go's `examples/dynamic-create-update-delete-deployment`.
//!
//! The dynamic client knows no Go or Rust types: the Deployment is an [`Unstructured`]
//! object (a JSON map) addressed by its [`GroupVersionResource`], and fields are read
//! and written with the `nested_*` / `set_nested_field` helpers, as apimachinery's
//! `unstructured.NestedInt64` / `SetNestedField` do. The same code works for any
//! resource, custom resources included.
//!
//! The steps:
//! 1. create a 2-replica `demo-deployment` (nginx:1.12, label `app=demo`) in `default`;
//! 2. update it to 1 replica and nginx:1.13 in a [`retry_on_conflict`] loop (get the
//!    latest version, change it, update; start again if someone else wrote in between);
//! 3. list the deployments of `default` with their replica counts;
//! 4. delete it with `propagationPolicy: Foreground` (its ReplicaSets and Pods go first).
//!
//! Unlike client-go's example it does not wait for Enter between the steps, so it can
//! run unattended (in CI, for instance).
//!
//! It loads the kubeconfig the way kubectl does (`--kubeconfig PATH`, else `KUBECONFIG`,
//! else `~/.kube/config`); with none found, or with `--embedded`, it starts ferrokube's
//! embedded API server in-process.
//!
//! ```sh
//! cargo run -p ferrokube --example dynamic_create_update_delete_deployment -- --embedded
//! ```

mod support;

use ferrokube::dynamic::{DynamicClient, FieldError, Unstructured};
use ferrokube::rest::{CreateOptions, DeleteOptions, GetOptions, ListOptions, PropagationPolicy, UpdateOptions};
use ferrokube::schema::GroupVersionResource;
use ferrokube::util::retry::{retry_on_conflict, DEFAULT_RETRY};
use serde_json::json;
use support::{Cluster, Flags};

const NAMESPACE: &str = "default";
const NAME: &str = "demo-deployment";

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse()?;
    let cluster = Cluster::connect(&flags).await?;
    let client = DynamicClient::new(&cluster.config)?;

    // The dynamic client addresses a resource by group, version and (plural) resource
    // name; for a namespaced resource, also by namespace.
    let deployment_res = GroupVersionResource::new("apps", "v1", "deployments");
    let deployments = client.resource(deployment_res).namespace(NAMESPACE);

    // Create: the object is plain JSON, exactly what `kubectl apply -f` would send.
    let deployment = Unstructured::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": NAME },
        "spec": {
            "replicas": 2,
            "selector": { "matchLabels": { "app": "demo" } },
            "template": {
                "metadata": { "labels": { "app": "demo" } },
                "spec": {
                    "containers": [{
                        "name": "web",
                        "image": "nginx:1.12",
                        "ports": [{ "name": "http", "protocol": "TCP", "containerPort": 80 }]
                    }]
                }
            }
        }
    }))?;
    println!("Creating deployment...");
    let result = deployments.create(&deployment, &CreateOptions::default()).await?;
    println!("Created deployment {:?}.", result.name().unwrap_or_default());

    // Update. You have two options to update a Deployment:
    //  1. Modify the object returned by create and send it back with `update`. If the
    //     object changed on the server in the meantime (a controller wrote its status,
    //     say), the update fails with 409 Conflict.
    //  2. Get the latest version inside `retry_on_conflict` and update that; on a
    //     conflict the closure simply runs again. This is the recommended way.
    //
    // The closure's outer `Result` is the API's: a conflict is retried, anything else
    // ends the loop. Its inner `Result` is ours: an object that is not shaped like a
    // Deployment is not worth retrying (client-go's example panics there).
    println!("Updating deployment...");
    retry_on_conflict(DEFAULT_RETRY, || async {
        let mut latest = deployments.get(NAME, &GetOptions::default()).await?;
        if let Err(err) = set_replicas_and_image(&mut latest, 1, "nginx:1.13") {
            return Ok(Err(err));
        }
        deployments.update(&latest, &UpdateOptions::default()).await?;
        Ok(Ok(()))
    })
    .await
    .map_err(|err| format!("update failed: {err}"))?
    .map_err(|err| format!("the deployment read back has an unexpected shape: {err}"))?;
    println!("Updated deployment...");

    // List, reading `spec.replicas` of each item as client-go's `NestedInt64` does.
    println!("Listing deployments in namespace {NAMESPACE:?}:");
    let list = deployments.list(&ListOptions::default()).await?;
    for d in &list.items {
        let name = d.name().unwrap_or_default();
        match d.nested_i64(&["spec", "replicas"]) {
            Ok(Some(replicas)) => println!(" * {name} ({replicas} replicas)"),
            Ok(None) => println!("Replicas not found for deployment {name}"),
            Err(err) => println!("Replicas not found for deployment {name}: error={err}"),
        }
    }

    // Delete with foreground propagation: the Deployment stays (with a deletion
    // timestamp) until the garbage collector has removed its ReplicaSets and Pods.
    println!("Deleting deployment...");
    let delete_options =
        DeleteOptions { propagation_policy: Some(PropagationPolicy::Foreground), ..DeleteOptions::default() };
    deployments.delete(NAME, &delete_options).await?;
    println!("Deleted deployment.");

    cluster.shutdown().await;
    Ok(())
}

/// Sets `spec.replicas` and the image of the first container of a Deployment held as
/// an [`Unstructured`] object.
fn set_replicas_and_image(deployment: &mut Unstructured, replicas: i64, image: &str) -> Result<(), FieldError> {
    deployment.set_nested_field(&["spec", "replicas"], json!(replicas))?;

    // Containers are a list: read it, change the first element, write it back.
    let path = ["spec", "template", "spec", "containers"];
    let mut containers = deployment.nested_slice(&path)?.cloned().unwrap_or_default();
    let Some(first) = containers.first_mut().and_then(|c| c.as_object_mut()) else {
        return Err(FieldError::WrongType {
            path: path.join("."),
            expected: "a list with at least one container",
            found: "none",
        });
    };
    first.insert("image".to_owned(), json!(image));
    deployment.set_nested_field(&path, serde_json::Value::Array(containers))
}
