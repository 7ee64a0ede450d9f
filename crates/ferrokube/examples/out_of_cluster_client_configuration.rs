//! Lists the pods of a cluster every 10 seconds, like client-go's
//! `examples/out-of-cluster-client-configuration`.
//!
//! It loads the kubeconfig the way kubectl does (`--kubeconfig PATH`, else `KUBECONFIG`,
//! else `~/.kube/config`); with none found, or with `--embedded`, it starts ferrokube's
//! embedded API server in-process. `--once` lists once and exits (for scripts).
//!
//! ```sh
//! cargo run --example out_of_cluster_client_configuration -- --once
//! ```

mod support;

use std::time::Duration;

use ferrokube::RESTClient;
use k8s_openapi::api::core::v1::Pod;
use support::{Cluster, Flags};

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
    let client = RESTClient::new(&cluster.config)?;
    loop {
        let pods: k8s_openapi::List<Pod> = client.get().group_version("", "v1").resource("pods").into_object().await?;
        println!("There are {} pods in the cluster", pods.items.len());

        // The client-go example then looks for one pod by name and tells what it found.
        let (namespace, name) = ("default", "example-xxxxx");
        let result = client
            .get()
            .group_version("", "v1")
            .namespace(namespace)
            .resource("pods")
            .name(name)
            .into_object::<Pod>()
            .await;
        match result {
            Ok(_) => println!("Found example-xxxxx pod in default namespace"),
            Err(err) if err.is_not_found() => println!("Pod {name} in namespace {namespace} not found"),
            Err(err) => return Err(err.into()),
        }

        if flags.once {
            break;
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    cluster.shutdown().await;
    Ok(())
}
