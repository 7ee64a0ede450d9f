//! client-go's `examples/fake-client`, done ferrokube's way: instead of a fake
//! clientset, a real (embedded) API server.
//!
//! client-go's example shows how to test informer code with a fake clientset: start an
//! informer factory, add a pod informer whose add handler reports on a channel, start
//! it, wait for the cache to sync, create a pod through the client and check the
//! informer saw it. Here the same steps run against ferrokube's embedded API server,
//! started in-process (real HTTPS, real watches): nothing to fake, and the code under
//! test is the code that runs against a cluster. The program prints
//! `informer saw pod NAME in N ms`, N counted from the program's start (server
//! start-up included), then deletes the pod again.
//!
//! It loads the kubeconfig the way kubectl does (`--kubeconfig PATH`, else
//! `KUBECONFIG`, else `~/.kube/config`); with none found, or with `--embedded`, it
//! starts the embedded API server.
//!
//! ```sh
//! cargo run -p ferrokube --example fake_client -- --embedded
//! ```

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{CreateOptions, DeleteOptions};
use ferrokube::tools::cache::{ResourceEventHandlerFuncs, SharedInformerFactory};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use support::{Cluster, Flags};
use tokio::sync::mpsc;

const NAMESPACE: &str = "default";
const POD: &str = "fake-client-demo";
/// client-go's `wait.ForeverTestTimeout`.
const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let flags = Flags::parse()?;
    let cluster = Cluster::connect(&flags).await?;
    let clientset = Clientset::new(&cluster.config)?;

    // An informer whose add handler writes the pods it sees to a channel.
    let (tx, mut added) = mpsc::unbounded_channel::<Arc<Pod>>();
    let factory = SharedInformerFactory::new(clientset.rest_client().clone(), Duration::ZERO).with_namespace(NAMESPACE);
    let pods = factory.informer::<Pod>();
    pods.add_event_handler(ResourceEventHandlerFuncs::new().on_add(move |pod: &Arc<Pod>| {
        let _ = tx.send(Arc::clone(pod));
    }));

    // Make sure the informer runs and its cache has synced.
    factory.start();
    let synced = factory.wait_for_cache_sync(tokio::time::sleep(TIMEOUT)).await;
    if !synced.values().all(|s| *s) {
        return Err(format!("caches did not sync within {TIMEOUT:?}: {synced:?}").into());
    }
    println!("Informer cache synced ({} pods in {NAMESPACE})", pods.store().len());

    // Create a pod through the client.
    let pod = Pod {
        metadata: ObjectMeta { name: Some(POD.into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container { name: "web".into(), image: Some("nginx:1.27".into()), ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let api = clientset.core_v1().pods(NAMESPACE);
    api.create(&pod, &CreateOptions::default()).await?;
    println!("Created pod {POD}");

    // Wait for the informer to see it.
    let seen = loop {
        let pod = tokio::time::timeout(TIMEOUT, added.recv())
            .await
            .map_err(|_| format!("the informer did not see pod {POD} within {TIMEOUT:?}"))?
            .ok_or("the informer's handler went away")?;
        if pod.metadata.name.as_deref() == Some(POD) {
            break pod;
        }
    };
    println!(
        "informer saw pod {} in {} ms",
        seen.metadata.name.as_deref().unwrap_or_default(),
        started.elapsed().as_millis()
    );

    api.delete(POD, &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() }).await?;
    println!("Deleted pod {POD}");
    factory.shutdown();
    cluster.shutdown().await;
    Ok(())
}
