//! client-go's `examples/fake-client`, done ferrokube's way.
//!
//! client-go tests informer code against a fake clientset (an in-memory object tracker
//! behind the typed client). ferrokube has no fake: the test starts the embedded API
//! server in-process — real HTTPS, real watch semantics — and runs the same steps:
//! an informer factory, a pod informer whose add handler reports on a channel, start,
//! wait for the cache to sync, create a pod through the client, and check the informer
//! saw it. The time from the start of the test to the check is printed (run with
//! `--nocapture` to see it); it is not asserted.

use std::path::Path;
use std::time::{Duration, Instant};

use ferrokube::clientcmd::{ClientConfig, ConfigOverrides, DirectClientConfig};
use ferrokube::kubernetes::Clientset;
use ferrokube::kubernetes::ResourceClient;
use ferrokube::rest::CreateOptions;
use ferrokube::tools::cache::{ResourceEventHandlerFuncs, SharedInformerFactory};
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio::sync::mpsc;

/// client-go's `wait.ForeverTestTimeout`.
const FOREVER_TEST_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn informer_sees_a_pod_created_through_the_client() {
    let started = Instant::now();
    let server = EmbeddedServer::start(ServerOptions::default()).await.expect("embedded server starts");
    let raw = ferrokube::clientcmd::load_from_str(&server.kubeconfig_yaml(), Path::new("embedded.kubeconfig"))
        .expect("kubeconfig parses");
    let config = DirectClientConfig::new(raw, ConfigOverrides::default()).client_config().expect("client config");
    let client = Clientset::new(&config).expect("clientset");

    // We will create an informer that writes added pods to a channel.
    let (pods_tx, mut pods_rx) = mpsc::unbounded_channel();
    let factory = SharedInformerFactory::new(client.rest_client().clone(), Duration::ZERO);
    let pod_informer = factory.informer::<Pod>();
    pod_informer.add_event_handler(ResourceEventHandlerFuncs::new().on_add(move |pod: &std::sync::Arc<Pod>| {
        println!(
            "pod added: {}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            pod.metadata.name.as_deref().unwrap_or("")
        );
        let _ = pods_tx.send(pod.clone());
    }));

    // Make sure informers are running, and the cache has synced.
    factory.start();
    let synced = factory.wait_for_cache_sync(tokio::time::sleep(FOREVER_TEST_TIMEOUT)).await;
    assert!(synced.values().all(|s| *s), "caches synced: {synced:?}");

    // Inject an event into the server.
    let created_at = Instant::now();
    let pod = Pod {
        metadata: ObjectMeta { name: Some("my-pod".into()), namespace: Some("test-ns".into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container { name: "c".into(), image: Some("busybox".into()), ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let namespace = k8s_openapi::api::core::v1::Namespace {
        metadata: ObjectMeta { name: Some("test-ns".into()), ..Default::default() },
        ..Default::default()
    };
    ResourceClient::cluster(client.rest_client().clone())
        .create(&namespace, &CreateOptions::default())
        .await
        .expect("namespace");
    ResourceClient::namespaced(client.rest_client().clone(), "test-ns")
        .create(&pod, &CreateOptions::default())
        .await
        .expect("error injecting pod add");

    let seen = tokio::time::timeout(FOREVER_TEST_TIMEOUT, pods_rx.recv())
        .await
        .expect("informer did not get the added pod")
        .expect("channel open");
    assert_eq!(seen.metadata.name.as_deref(), Some("my-pod"));
    assert_eq!(seen.metadata.namespace.as_deref(), Some("test-ns"));
    assert!(pod_informer.lister().get("test-ns", "my-pod").is_some(), "and the lister has it");
    println!(
        "informer saw pod my-pod {} ms after the test started ({} ms after the create call)",
        started.elapsed().as_millis(),
        created_at.elapsed().as_millis()
    );
}
