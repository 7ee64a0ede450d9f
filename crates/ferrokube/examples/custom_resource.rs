//! Defines a custom resource, then creates, lists and watches objects of it, like
//! Kubernetes' "Extend the Kubernetes API with CustomResourceDefinitions" walkthrough.
//!
//! The steps:
//! 1. create the CustomResourceDefinition `crontabs.stable.example.com` (kind
//!    `CronTab`, namespaced, version `v1`, short name `ct`, a schema with
//!    `spec.cronSpec`, `spec.image` and `spec.replicas` defaulting to 1) through the
//!    typed clientset, and wait until its `Established` condition is `True`: from then
//!    on the server serves `/apis/stable.example.com/v1/.../crontabs`;
//! 2. through the *dynamic* client (there is no Rust type for a CronTab) create two
//!    CronTabs without `replicas` and list them: the server filled in the default;
//! 3. watch CronTabs from the list's resource version, update one and delete the other,
//!    and print the two events the watch delivers (the watch has a short server-side
//!    timeout, so it ends even if an event never comes);
//! 4. delete the CRD, which deletes the remaining CronTabs with it.
//!
//! It can be run again and again against the same cluster: a CRD left over from an
//! interrupted run is deleted first (and waited for) before the new one is created.
//!
//! It loads the kubeconfig the way kubectl does (`--kubeconfig PATH`, else `KUBECONFIG`,
//! else `~/.kube/config`); with none found, or with `--embedded`, it starts ferrokube's
//! embedded API server in-process.
//!
//! ```sh
//! cargo run -p ferrokube --example custom_resource -- --embedded
//! ```

mod support;

use std::time::Duration;

use ferrokube::dynamic::{DynamicClient, DynamicResource, Unstructured};
use ferrokube::kubernetes::{Clientset, ResourceClient};
use ferrokube::rest::{CreateOptions, DeleteOptions, GetOptions, ListOptions, UpdateOptions};
use ferrokube::schema::GroupVersionResource;
use ferrokube::watch::WatchEvent;
use futures_util::StreamExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::json;
use support::{Cluster, Flags};

const CRD_NAME: &str = "crontabs.stable.example.com";
const NAMESPACE: &str = "default";
/// How long to wait for the CRD to become established or to go away.
const WAIT: Duration = Duration::from_secs(30);
/// How long the watch may stay open (the server ends it after this).
const WATCH_SECONDS: i64 = 10;

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
    let clientset = Clientset::new(&cluster.config)?;
    let crds = clientset.apiextensions_v1().custom_resource_definitions();

    // 0. A CRD left over from an earlier run would make the create fail; remove it.
    match crds.get(CRD_NAME, &GetOptions::default()).await {
        Ok(_) => {
            println!("Deleting the CustomResourceDefinition {CRD_NAME:?} left over from an earlier run...");
            delete_crd(&crds).await?;
        }
        Err(err) if err.is_not_found() => {}
        Err(err) => return Err(err.into()),
    }

    // 1. The CRD, written as a manifest and decoded into the k8s-openapi type, so the
    // typed client can send it.
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": CRD_NAME },
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": { "plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"] },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": { "spec": {
                        "type": "object",
                        "properties": {
                            "cronSpec": { "type": "string" },
                            "image": { "type": "string" },
                            "replicas": { "type": "integer", "default": 1 }
                        }
                    } }
                } }
            }]
        }
    }))?;
    println!("Creating CustomResourceDefinition {CRD_NAME:?}...");
    crds.create(&crd, &CreateOptions::default()).await?;
    support::wait_until(WAIT, &format!("CustomResourceDefinition {CRD_NAME:?} to be established"), || async {
        let crd = crds.get(CRD_NAME, &GetOptions::default()).await?;
        Ok(is_established(&crd))
    })
    .await?;
    println!("CustomResourceDefinition {CRD_NAME:?} is established.");

    // 2. CronTabs through the dynamic client: group, version and plural name are all it
    // needs to know about the new type.
    let client = DynamicClient::new(&cluster.config)?;
    let crontabs =
        client.resource(GroupVersionResource::new("stable.example.com", "v1", "crontabs")).namespace(NAMESPACE);
    for (name, cron_spec, image) in [
        ("my-new-cron-object", "* * * * */5", "my-awesome-cron-image"),
        ("my-second-cron-object", "0 3 * * *", "my-nightly-image"),
    ] {
        let crontab = Unstructured::from_value(json!({
            "apiVersion": "stable.example.com/v1",
            "kind": "CronTab",
            "metadata": { "name": name },
            // No `replicas`: the schema's default fills it in.
            "spec": { "cronSpec": cron_spec, "image": image }
        }))?;
        crontabs.create(&crontab, &CreateOptions::default()).await?;
        println!("Created CronTab {name:?}.");
    }

    println!("Listing CronTabs in namespace {NAMESPACE:?}:");
    let list = crontabs.list(&ListOptions::default()).await?;
    for crontab in &list.items {
        println!(" * {}", describe(crontab));
    }

    // 3. Watch from the list's resource version: every change after the list is
    // delivered, including the ones made before the watch request reaches the server.
    let watch_options = ListOptions {
        resource_version: list.resource_version().map(str::to_owned),
        timeout_seconds: Some(WATCH_SECONDS),
        ..ListOptions::default()
    };
    let mut events = crontabs.watch(&watch_options).await?;
    println!("Watching CronTabs (for at most {WATCH_SECONDS}s)...");

    println!("Updating CronTab \"my-new-cron-object\" to 3 replicas...");
    scale(&crontabs, "my-new-cron-object", 3).await?;
    println!("Deleting CronTab \"my-second-cron-object\"...");
    crontabs.delete("my-second-cron-object", &DeleteOptions::default()).await?;

    let (mut modified, mut deleted) = (false, false);
    while !(modified && deleted) {
        let Some(event) = events.next().await else {
            return Err("the watch ended before both events arrived".into());
        };
        match event? {
            WatchEvent::Error(status) => return Err(format!("the watch failed: {status:?}").into()),
            WatchEvent::Bookmark(_) => {}
            event => {
                modified |= matches!(event, WatchEvent::Modified(_));
                deleted |= matches!(event, WatchEvent::Deleted(_));
                if let Some(crontab) = event.object() {
                    println!("Watch event: {} {}", event.event_type(), describe(crontab));
                }
            }
        }
    }
    drop(events); // closes the watch connection

    // 4. Deleting the CRD deletes every CronTab with it.
    println!("Deleting CustomResourceDefinition {CRD_NAME:?}...");
    delete_crd(&crds).await?;
    println!("Deleted CustomResourceDefinition {CRD_NAME:?}.");

    cluster.shutdown().await;
    Ok(())
}

/// `name (cronSpec "...", image "...", replicas N)` for a CronTab.
fn describe(crontab: &Unstructured) -> String {
    let text = |field: &str| crontab.nested_string(&["spec", field]).ok().flatten().unwrap_or("<unset>").to_owned();
    let replicas = match crontab.nested_i64(&["spec", "replicas"]) {
        Ok(Some(n)) => n.to_string(),
        _ => "<unset>".to_owned(),
    };
    format!(
        "{} (cronSpec {:?}, image {:?}, replicas {replicas})",
        crontab.name().unwrap_or_default(),
        text("cronSpec"),
        text("image"),
    )
}

/// Sets `spec.replicas` of CronTab `name` (read, change, update).
async fn scale(crontabs: &DynamicResource, name: &str, replicas: i64) -> Result<(), Box<dyn std::error::Error>> {
    let mut crontab = crontabs.get(name, &GetOptions::default()).await?;
    crontab.set_nested_field(&["spec", "replicas"], json!(replicas))?;
    crontabs.update(&crontab, &UpdateOptions::default()).await?;
    Ok(())
}

/// Whether the CRD's `Established` condition is `True`: the server serves its resource.
fn is_established(crd: &CustomResourceDefinition) -> bool {
    let conditions = crd.status.as_ref().and_then(|s| s.conditions.as_ref());
    conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True"))
}

/// Deletes the CRD and waits until it is gone (the server first deletes its objects).
async fn delete_crd(crds: &ResourceClient<CustomResourceDefinition>) -> Result<(), Box<dyn std::error::Error>> {
    match crds.delete(CRD_NAME, &DeleteOptions::default()).await {
        Ok(()) => {}
        Err(err) if err.is_not_found() => return Ok(()),
        Err(err) => return Err(err.into()),
    }
    support::wait_until(WAIT, &format!("CustomResourceDefinition {CRD_NAME:?} to be deleted"), || async {
        match crds.get(CRD_NAME, &GetOptions::default()).await {
            Ok(_) => Ok(false),
            Err(err) if err.is_not_found() => Ok(true),
            Err(err) => Err(err),
        }
    })
    .await
}
