//! A small operator written with ferrokube's `controller` module: for every `Echo`
//! custom resource it keeps a ConfigMap holding the Echo's message, reports progress in
//! the Echo's status, and cleans up through a finalizer when the Echo is deleted.
//!
//! The pieces:
//! * the CustomResourceDefinition `echoes.demo.ferrokube.dev` (kind `Echo`, namespaced,
//!   `spec.message`, a `status` subresource), installed by the program, and a Rust type
//!   for it (`Echo`) so informers and typed clients can use it;
//! * a [`Controller`] over an `Echo` informer that also *owns* ConfigMaps: deleting or
//!   changing the ConfigMap `echo-NAME` wakes the Echo that controls it;
//! * the reconcile, wrapped in the [`finalizer`] helper: `Apply` creates or updates the
//!   ConfigMap (owner reference with `controller: true`) and patches the status
//!   (`phase: Ready`, `configMap`, `observedGeneration`); `Cleanup` deletes the
//!   ConfigMap before the finalizer is removed and the Echo goes away.
//!
//! It loads the kubeconfig the way kubectl does (`--kubeconfig PATH`, else `KUBECONFIG`,
//! else `~/.kube/config`); with none found, or with `--embedded`, it starts ferrokube's
//! embedded API server in-process. On the embedded server (or with `--once`) it walks
//! through a demo — create an Echo, change its message, delete its ConfigMap by hand,
//! delete the Echo — shuts the controller down gracefully, deletes the CRD and exits;
//! `--forever` keeps the controller running after the demo. On a configured cluster
//! without `--once` it installs the CRD if needed and runs until Ctrl-C.
//!
//! ```sh
//! cargo run -p ferrokube --example controller -- --embedded
//! ```

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferrokube::controller::{finalizer, Action, Config, Controller, FinalizerError, FinalizerEvent};
use ferrokube::kubernetes::{Clientset, HasStatus, ResourceClient};
use ferrokube::rest::{CreateOptions, DeleteOptions, GetOptions, PatchOptions, PatchType, RESTClient, UpdateOptions};
use ferrokube::tools::cache::{ReflectorOptions, SharedInformer};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::{ListableResource, Metadata, NamespaceResourceScope, Resource};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{Cluster, Flags};
use tokio_util::sync::CancellationToken;

const CRD_NAME: &str = "echoes.demo.ferrokube.dev";
const FINALIZER: &str = "demo.ferrokube.dev/cleanup";
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "echo-operator");
const NAMESPACE: &str = "default";
/// How long the demo waits for the controller (or the server) to act.
const WAIT: Duration = Duration::from_secs(30);

// --- The custom resource as a Rust type -------------------------------------------

/// An `Echo`: `spec.message` is what its ConfigMap should say.
#[derive(Clone, Debug, Default, Deserialize)]
struct Echo {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: EchoSpec,
    #[serde(default)]
    status: Option<EchoStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct EchoSpec {
    #[serde(default)]
    message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EchoStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config_map: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    observed_generation: Option<i64>,
}

impl Resource for Echo {
    const API_VERSION: &'static str = "demo.ferrokube.dev/v1";
    const GROUP: &'static str = "demo.ferrokube.dev";
    const KIND: &'static str = "Echo";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "echoes";
    type Scope = NamespaceResourceScope;
}

impl ListableResource for Echo {
    const LIST_KIND: &'static str = "EchoList";
}

impl Metadata for Echo {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

/// Echo has a `status` subresource: `patch_status` is available on its client.
impl HasStatus for Echo {}

/// Writes `apiVersion` and `kind` too, as the API server wants them.
impl Serialize for Echo {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Echo", 5)?;
        s.serialize_field("apiVersion", Self::API_VERSION)?;
        s.serialize_field("kind", Self::KIND)?;
        s.serialize_field("metadata", &self.metadata)?;
        s.serialize_field("spec", &self.spec)?;
        if let Some(status) = &self.status {
            s.serialize_field("status", status)?;
        }
        s.end()
    }
}

impl Echo {
    fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or("")
    }

    fn config_map_name(&self) -> String {
        format!("echo-{}", self.name())
    }
}

// --- The operator ---------------------------------------------------------------

/// What every reconcile needs: a client (JSON, for the typed clients and the
/// finalizer's patches).
struct Operator {
    client: RESTClient,
}

impl Operator {
    fn echoes(&self, namespace: &str) -> ResourceClient<Echo> {
        ResourceClient::namespaced(self.client.clone(), namespace)
    }

    fn config_maps(&self, namespace: &str) -> ResourceClient<ConfigMap> {
        ResourceClient::namespaced(self.client.clone(), namespace)
    }
}

/// The reconcile: everything happens under the finalizer.
async fn reconcile(echo: Arc<Echo>, op: Arc<Operator>) -> Result<Action, FinalizerError<ferrokube::rest::Error>> {
    let client = op.client.clone();
    finalizer(&client, FINALIZER, echo, |event| async move {
        match event {
            FinalizerEvent::Apply(echo) => apply(&echo, &op).await,
            FinalizerEvent::Cleanup(echo) => cleanup(&echo, &op).await,
        }
    })
    .await
}

/// Makes the ConfigMap say the Echo's message, then reports it in the status.
async fn apply(echo: &Echo, op: &Operator) -> Result<Action, ferrokube::rest::Error> {
    let namespace = echo.metadata.namespace.as_deref().unwrap_or(NAMESPACE);
    let config_maps = op.config_maps(namespace);
    let cm_name = echo.config_map_name();
    let data = [("message".to_owned(), echo.spec.message.clone())].into();
    match config_maps.get(&cm_name, &GetOptions::default()).await {
        Ok(mut cm) => {
            if cm.data.as_ref() != Some(&data) {
                cm.data = Some(data);
                config_maps.update(&cm, &UpdateOptions::default()).await?;
                println!("[echo-operator] Updated ConfigMap {cm_name:?} for Echo {:?}", echo.name());
            }
        }
        Err(err) if err.is_not_found() => {
            let owner = OwnerReference {
                api_version: Echo::API_VERSION.into(),
                kind: Echo::KIND.into(),
                name: echo.name().into(),
                uid: echo.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            };
            let cm = ConfigMap {
                metadata: ObjectMeta {
                    name: Some(cm_name.clone()),
                    namespace: Some(namespace.into()),
                    labels: Some([(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned())].into()),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                data: Some(data),
                ..Default::default()
            };
            config_maps.create(&cm, &CreateOptions::default()).await?;
            println!("[echo-operator] Created ConfigMap {cm_name:?} for Echo {:?}", echo.name());
        }
        Err(err) => return Err(err),
    }

    let status = EchoStatus {
        phase: Some("Ready".into()),
        config_map: Some(cm_name),
        observed_generation: echo.metadata.generation,
    };
    if echo.status.as_ref() != Some(&status) {
        let patch = json!({ "status": status });
        op.echoes(namespace).patch_status(echo.name(), PatchType::Merge, &patch, &PatchOptions::default()).await?;
        println!(
            "[echo-operator] Echo {:?} status: Ready (observed generation {})",
            echo.name(),
            status.observed_generation.unwrap_or(0)
        );
    }
    Ok(Action::Done)
}

/// Deletes the ConfigMap (the garbage collector would too; a finalizer is for what it
/// cannot reach, such as state outside the cluster).
async fn cleanup(echo: &Echo, op: &Operator) -> Result<Action, ferrokube::rest::Error> {
    let namespace = echo.metadata.namespace.as_deref().unwrap_or(NAMESPACE);
    let cm_name = echo.config_map_name();
    println!("[echo-operator] Cleaning up Echo {:?}: deleting ConfigMap {cm_name:?}", echo.name());
    match op.config_maps(namespace).delete(&cm_name, &DeleteOptions::default()).await {
        Ok(()) => Ok(Action::Done),
        Err(err) if err.is_not_found() => Ok(Action::Done),
        Err(err) => Err(err),
    }
}

// --- The program ----------------------------------------------------------------

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // `--forever` is this example's own flag; the rest are the shared ones.
    let (flags, forever) = Flags::parse_with_switch("--forever")?;
    let cluster = Cluster::connect(&flags).await?;
    // Controllers usually raise client-go's client-side limit of 5 requests per second
    // with bursts of 10; controller-runtime's defaults are 20 and 30.
    let mut config = cluster.config.clone();
    (config.qps, config.burst) = (20.0, 30);
    let clientset = Clientset::new(&config)?;
    let client = clientset.rest_client().clone();
    let demo = cluster.embedded.is_some() || flags.once;

    install_crd(&clientset, demo).await?;

    let echoes = SharedInformer::<Echo>::new(client.clone(), ReflectorOptions::default().namespace(NAMESPACE));
    let owned = SharedInformer::<ConfigMap>::new(
        client.clone(),
        ReflectorOptions::default().namespace(NAMESPACE).label_selector(format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)),
    );
    let stop = CancellationToken::new();
    let controller = Controller::new(echoes, Config::default().name("echo-operator").workers(2))
        .owns(owned)
        .shutdown_on(stop.clone());
    println!("Starting controller {:?}", controller.name());
    let operator = Arc::new(Operator { client: client.clone() });
    let running = tokio::spawn(controller.run(reconcile, Arc::clone(&operator)));

    if demo {
        walk_through(&operator).await?;
    }
    if forever || !demo {
        println!("Running until Ctrl-C...");
        tokio::signal::ctrl_c().await?;
    }
    println!("Stopping the controller (reconciles in progress finish first)...");
    stop.cancel();
    running.await?;
    println!("Controller stopped.");

    if demo {
        let crds = clientset.apiextensions_v1().custom_resource_definitions();
        crds.delete(CRD_NAME, &DeleteOptions::default()).await?;
        println!("Deleted CustomResourceDefinition {CRD_NAME:?}.");
    }
    cluster.shutdown().await;
    Ok(())
}

/// The demo: each step waits until the controller has done its part.
async fn walk_through(op: &Operator) -> Result<(), Box<dyn std::error::Error>> {
    let echoes = op.echoes(NAMESPACE);
    let config_maps = op.config_maps(NAMESPACE);
    let name = "hello";
    let cm_name = format!("echo-{name}");

    let echo = Echo {
        metadata: ObjectMeta { name: Some(name.into()), namespace: Some(NAMESPACE.into()), ..Default::default() },
        spec: EchoSpec { message: "Hello, world!".into() },
        status: None,
    };
    echoes.create(&echo, &CreateOptions::default()).await?;
    println!("Created Echo {name:?} with message \"Hello, world!\"");
    wait_ready(op, name, "Hello, world!").await?;

    let mut echo = echoes.get(name, &GetOptions::default()).await?;
    echo.spec.message = "Hello again!".into();
    echoes.update(&echo, &UpdateOptions::default()).await?;
    println!("Changed the message of Echo {name:?} to \"Hello again!\"");
    wait_ready(op, name, "Hello again!").await?;

    let before = config_maps.get(&cm_name, &GetOptions::default()).await?.metadata.uid;
    config_maps.delete(&cm_name, &DeleteOptions::default()).await?;
    println!("Deleted ConfigMap {cm_name:?} by hand");
    support::wait_until(WAIT, &format!("ConfigMap {cm_name:?} to be recreated"), || async {
        match config_maps.get(&cm_name, &GetOptions::default()).await {
            Ok(cm) => Ok(cm.metadata.uid != before),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    })
    .await?;
    println!("The controller recreated ConfigMap {cm_name:?}");

    let finalizers = echoes.get(name, &GetOptions::default()).await?.metadata.finalizers.unwrap_or_default();
    println!("Echo {name:?} has finalizers {finalizers:?}");
    echoes.delete(name, &DeleteOptions::default()).await?;
    println!("Deleting Echo {name:?}...");
    support::wait_until(WAIT, &format!("Echo {name:?} to be deleted"), || async {
        match echoes.get(name, &GetOptions::default()).await {
            Ok(_) => Ok(false),
            Err(err) if err.is_not_found() => Ok(true),
            Err(err) => Err(err),
        }
    })
    .await?;
    println!("Echo {name:?} is gone");
    support::wait_until(WAIT, &format!("ConfigMap {cm_name:?} to be deleted"), || async {
        match config_maps.get(&cm_name, &GetOptions::default()).await {
            Ok(_) => Ok(false),
            Err(err) if err.is_not_found() => Ok(true),
            Err(err) => Err(err),
        }
    })
    .await?;
    println!("ConfigMap {cm_name:?} is gone");
    Ok(())
}

/// Waits until Echo `name` is Ready for its current generation and its ConfigMap says
/// `message`, then prints so.
async fn wait_ready(op: &Operator, name: &str, message: &str) -> Result<(), Box<dyn std::error::Error>> {
    let echoes = op.echoes(NAMESPACE);
    let config_maps = op.config_maps(NAMESPACE);
    let cm_name = format!("echo-{name}");
    support::wait_until(WAIT, &format!("Echo {name:?} to be Ready with {message:?}"), || async {
        let echo = echoes.get(name, &GetOptions::default()).await?;
        let status = echo.status.unwrap_or_default();
        let current =
            status.phase.as_deref() == Some("Ready") && status.observed_generation == echo.metadata.generation;
        let says = match config_maps.get(&cm_name, &GetOptions::default()).await {
            Ok(cm) => cm.data.as_ref().and_then(|d| d.get("message")).map(String::as_str) == Some(message),
            Err(err) if err.is_not_found() => false,
            Err(err) => return Err(err),
        };
        Ok(current && says)
    })
    .await?;
    println!("Echo {name:?} is Ready: ConfigMap {cm_name:?} says {message:?}");
    Ok(())
}

/// Creates the CRD (first deleting one left over from an interrupted demo) and waits
/// until it is established. Outside the demo an existing CRD is kept.
async fn install_crd(clientset: &Clientset, demo: bool) -> Result<(), Box<dyn std::error::Error>> {
    let crds = clientset.apiextensions_v1().custom_resource_definitions();
    match crds.get(CRD_NAME, &GetOptions::default()).await {
        Ok(_) if !demo => {
            println!("CustomResourceDefinition {CRD_NAME:?} is installed.");
            return Ok(());
        }
        Ok(_) => {
            println!("Deleting the CustomResourceDefinition {CRD_NAME:?} left over from an earlier run...");
            crds.delete(CRD_NAME, &DeleteOptions::default()).await?;
            support::wait_until(WAIT, &format!("CustomResourceDefinition {CRD_NAME:?} to be deleted"), || async {
                match crds.get(CRD_NAME, &GetOptions::default()).await {
                    Ok(_) => Ok(false),
                    Err(err) if err.is_not_found() => Ok(true),
                    Err(err) => Err(err),
                }
            })
            .await?;
        }
        Err(err) if err.is_not_found() => {}
        Err(err) => return Err(err.into()),
    }
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": CRD_NAME },
        "spec": {
            "group": Echo::GROUP,
            "scope": "Namespaced",
            "names": { "plural": "echoes", "singular": "echo", "kind": "Echo", "listKind": "EchoList" },
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": { "status": {} },
                "schema": { "openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": { "type": "object", "properties": { "message": { "type": "string" } } },
                        "status": { "type": "object", "properties": {
                            "phase": { "type": "string" },
                            "configMap": { "type": "string" },
                            "observedGeneration": { "type": "integer" }
                        } }
                    }
                } }
            }]
        }
    }))?;
    crds.create(&crd, &CreateOptions::default()).await?;
    support::wait_until(WAIT, &format!("CustomResourceDefinition {CRD_NAME:?} to be established"), || async {
        let crd = crds.get(CRD_NAME, &GetOptions::default()).await?;
        let conditions = crd.status.as_ref().and_then(|s| s.conditions.as_ref());
        Ok(conditions.is_some_and(|cs| cs.iter().any(|c| c.type_ == "Established" && c.status == "True")))
    })
    .await?;
    println!("Installed CustomResourceDefinition {CRD_NAME:?}.");
    Ok(())
}
