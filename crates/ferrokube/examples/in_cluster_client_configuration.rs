//! Lists the pods of the cluster this program runs in, every 10 seconds, like
//! client-go's `examples/in-cluster-client-configuration`.
//!
//! In a pod, the configuration comes from the environment Kubernetes provides:
//! `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` and the service-account token,
//! CA and namespace mounted under `/var/run/secrets/kubernetes.io/serviceaccount`. The
//! token file is re-read periodically, so a rotated token is picked up.
//!
//! Flags: `--once` lists once and exits; `--root DIR` looks for the service-account
//! directory under `DIR` instead of `/` (to run it outside a pod, as the repository's
//! example check does against the embedded API server).
//!
//! ```sh
//! # in a pod:
//! in_cluster_client_configuration
//! ```

use std::path::PathBuf;
use std::time::Duration;

use ferrokube::clientcmd::InClusterConfig;
use ferrokube::RESTClient;
use k8s_openapi::api::core::v1::Pod;

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut once = false;
    let mut root = PathBuf::from("/");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => once = true,
            "--root" => root = args.next().ok_or("flag --root needs a directory")?.into(),
            other => return Err(format!("unknown argument {other:?} (expected --once, --root DIR)").into()),
        }
    }

    let in_cluster = InClusterConfig::new(root, |name| std::env::var(name).ok());
    let config = in_cluster.client_config()?;
    let client = RESTClient::new(&config)?;
    loop {
        let pods: k8s_openapi::List<Pod> = client.get().group_version("", "v1").resource("pods").into_object().await?;
        println!("There are {} pods in the cluster", pods.items.len());

        let (namespace, name) = ("default", "example-xxxxx");
        match client
            .get()
            .group_version("", "v1")
            .namespace(namespace)
            .resource("pods")
            .name(name)
            .into_object::<Pod>()
            .await
        {
            Ok(_) => println!("Found example-xxxxx pod in default namespace"),
            Err(err) if err.is_not_found() => println!("Pod {name} in namespace {namespace} not found"),
            Err(err) => return Err(err.into()),
        }

        if once {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}
