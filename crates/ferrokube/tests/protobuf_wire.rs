//! The typed clients on the wire in Kubernetes protobuf, against the test server
//! (embedded or realkube, see `support::cluster`).
//!
//! A transport layer records the `Content-Type` of every request body and response, so
//! the test sees what really crossed the wire: the typed client asks for protobuf, and
//! both servers speak it for built-in types (kube-apiserver, and the embedded server),
//! so GET, LIST, WATCH, create, update, apply and delete answers and Status errors come
//! back as protobuf and decode to the same objects a JSON client reads; created and
//! updated objects go out as protobuf. With `protobuf_for_built_in_types = false`
//! nothing is protobuf.

mod support;

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{ApplyOptions, Config, CreateOptions, GetOptions, ListOptions, UpdateOptions};
use ferrokube::transport::hooks::{RequestBody, TransportLayer};
use ferrokube::watch::WatchEvent;
use support::cluster::{ClusterOptions, TestCluster};

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// (method, path, request content type, response content type) of every exchange.
type Wire = Arc<Mutex<Vec<(String, String, String, String)>>>;

/// `config` with a layer recording the content types of every exchange.
fn recording(mut config: Config) -> (Config, Wire) {
    let wire: Wire = Arc::default();
    let seen = Arc::clone(&wire);
    config.wrap_transport.push(TransportLayer::new(tower::layer::layer_fn(move |inner| {
        let seen = Arc::clone(&seen);
        tower::util::MapFuture::new(
            tower::util::MapRequest::new(inner, {
                let seen = Arc::clone(&seen);
                move |req: http::Request<RequestBody>| {
                    let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
                    seen.lock().unwrap().push((
                        req.method().to_string(),
                        req.uri().path().to_owned(),
                        ct.to_owned(),
                        String::new(),
                    ));
                    req
                }
            }),
            move |fut| {
                let seen = Arc::clone(&seen);
                async move {
                    let resp: http::Response<_> = fut.await?;
                    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
                    if let Some(last) = seen.lock().unwrap().iter_mut().rev().find(|e| e.3.is_empty()) {
                        last.3 = ct.to_owned();
                    }
                    Ok::<_, ferrokube::transport::hooks::BoxError>(resp)
                }
            },
        )
    })));
    (config, wire)
}

fn config_map(name: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([("suite".to_owned(), "protobuf".to_owned())].into()),
            annotations: Some([("note".to_owned(), "héllo ✓".to_owned())].into()),
            ..Default::default()
        },
        data: Some([("k".to_owned(), "v".to_owned()), ("empty".to_owned(), String::new())].into()),
        binary_data: Some([("b".to_owned(), k8s_openapi::ByteString(vec![0, 1, 2, 255]))].into()),
        ..Default::default()
    }
}

/// A cluster, a clientset on it whose wire is recorded (protobuf on, the default) and one
/// with protobuf turned off.
async fn protobuf_and_json_clients(name: &str) -> (TestCluster, Wire, Clientset, Clientset) {
    let env = TestCluster::start(ClusterOptions::new(name)).await;
    let (config, wire) = recording(env.config.clone());
    let cs = Clientset::new(&config).unwrap();
    let mut json_config = env.config.clone();
    json_config.content.protobuf_for_built_in_types = false;
    let json_cs = Clientset::new(&json_config).unwrap();
    (env, wire, cs, json_cs)
}

#[tokio::test]
async fn typed_clients_speak_protobuf_and_read_what_json_reads() {
    let (env, wire, cs, json_cs) = protobuf_and_json_clients("pbwire").await;
    let ns = env.namespace.clone();
    let cms = cs.core_v1().config_maps(&ns);
    assert!(cms.uses_protobuf());
    assert!(!json_cs.core_v1().config_maps(&ns).uses_protobuf());

    // create (a protobuf body), get, update, list, apply, watch.
    let created = cms.create(&config_map("pb-a"), &CreateOptions::default()).await.expect("create");
    assert_eq!(created.data.as_ref().unwrap()["k"], "v");
    assert_eq!(created.binary_data.as_ref().unwrap()["b"].0, vec![0, 1, 2, 255]);
    assert_eq!(created.metadata.annotations.as_ref().unwrap()["note"], "héllo ✓");
    let got = cms.get("pb-a", &GetOptions::default()).await.expect("get");
    let via_json = json_cs.core_v1().config_maps(&ns).get("pb-a", &GetOptions::default()).await.expect("json get");
    assert_eq!(got, via_json, "the protobuf and JSON reads of one object differ");
    assert!(got.metadata.creation_timestamp.is_some() && got.metadata.uid.is_some());

    let mut changed = got.clone();
    changed.data.as_mut().unwrap().insert("k2".into(), "v2".into());
    let updated = cms.update(&changed, &UpdateOptions::default()).await.expect("update");
    assert_eq!(updated.data.as_ref().unwrap()["k2"], "v2");

    let list = cms.list(&ListOptions { label_selector: Some("suite=protobuf".into()), ..Default::default() }).await;
    let list = list.expect("list");
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());
    let json_list = json_cs
        .core_v1()
        .config_maps(&ns)
        .list(&ListOptions { label_selector: Some("suite=protobuf".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(list.items, json_list.items);

    let apply =
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pb-b"}, "data": {"x": "1"}});
    let applied = cms.apply("pb-b", &apply, &ApplyOptions::new("pbwire").force()).await.expect("apply");
    assert_eq!(applied.data.as_ref().unwrap()["x"], "1");

    let rv = list.metadata.resource_version.clone();
    let mut watch = cms
        .watch(&ListOptions { resource_version: rv, timeout_seconds: Some(30), ..Default::default() })
        .await
        .expect("watch");
    cms.delete("pb-a", &Default::default()).await.expect("delete");
    let mut saw_added_b = false;
    loop {
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), watch.next())
            .await
            .expect("a watch event within 30s")
            .expect("the watch ended early")
            .expect("event");
        match event {
            WatchEvent::Added(cm) if cm.metadata.name.as_deref() == Some("pb-b") => saw_added_b = true,
            WatchEvent::Deleted(cm) if cm.metadata.name.as_deref() == Some("pb-a") => {
                assert_eq!(cm.data.as_ref().unwrap()["k2"], "v2");
                break;
            }
            _ => {}
        }
    }
    assert!(saw_added_b, "the apply's ADDED event came before the DELETED one");

    // A Status error, decoded from whatever the server sent.
    let err = cms.get("missing", &GetOptions::default()).await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.status().and_then(|s| s.reason.as_deref()), Some("NotFound"));

    let exchanges = wire.lock().unwrap().clone();
    let responses = |method: &str, pred: &dyn Fn(&str) -> bool| -> Vec<String> {
        exchanges.iter().filter(|e| e.0 == method && pred(&e.1)).map(|e| e.3.clone()).collect()
    };
    let post_bodies: Vec<&str> = exchanges.iter().filter(|e| e.0 == "POST").map(|e| e.2.as_str()).collect();
    let put_bodies: Vec<&str> = exchanges.iter().filter(|e| e.0 == "PUT").map(|e| e.2.as_str()).collect();
    assert!(post_bodies.iter().all(|ct| *ct == PROTOBUF), "create bodies: {post_bodies:?}");
    assert!(put_bodies.iter().all(|ct| *ct == PROTOBUF), "update bodies: {put_bodies:?}");
    let gets = responses("GET", &|_| true);
    assert!(gets.len() >= 4, "{exchanges:?}");
    // Both servers (kube-apiserver, and the embedded server since it serves protobuf)
    // answer every built-in request in protobuf: objects, lists, Status errors, the
    // watch stream, and the answers to create, update and apply.
    assert!(gets.iter().all(|ct| ct.starts_with(PROTOBUF)), "GET responses: {gets:?}");
    assert!(gets.iter().any(|ct| ct == "application/vnd.kubernetes.protobuf;stream=watch"), "{gets:?}");
    let writes: Vec<String> = responses("POST", &|_| true).into_iter().chain(responses("PUT", &|_| true)).collect();
    assert!(!writes.is_empty() && writes.iter().all(|ct| ct.starts_with(PROTOBUF)), "{writes:?}");
    let patches = responses("PATCH", &|_| true);
    assert!(!patches.is_empty() && patches.iter().all(|ct| ct.starts_with(PROTOBUF)), "{patches:?}");
    let deletes = responses("DELETE", &|_| true);
    assert!(deletes.iter().all(|ct| ct.starts_with(PROTOBUF)), "{deletes:?}");

    // With protobuf off, nothing crossed the wire in protobuf.
    let (json_config, json_wire) = recording({
        let mut c = env.config.clone();
        c.content.protobuf_for_built_in_types = false;
        c
    });
    let json_only = Clientset::new(&json_config).unwrap();
    let json_cms = json_only.core_v1().config_maps(&ns);
    json_cms.create(&config_map("json-a"), &CreateOptions::default()).await.expect("JSON create");
    json_cms.get("json-a", &GetOptions::default()).await.expect("JSON get");
    json_cms.list(&ListOptions::default()).await.expect("JSON list");
    json_cms.get("missing", &GetOptions::default()).await.unwrap_err();
    let json_exchanges = json_wire.lock().unwrap().clone();
    assert_eq!(json_exchanges.len(), 4, "{json_exchanges:?}");
    for (method, path, request, response) in &json_exchanges {
        assert!(
            !request.starts_with(PROTOBUF) && response.starts_with("application/json"),
            "{method} {path}: {request} -> {response}"
        );
    }
    env.shutdown().await;
}

/// A typed client's informer lists and watches in protobuf (its ListWatch asks for it
/// as the typed client does), and its cache holds what a JSON read gives.
#[tokio::test]
async fn typed_informers_list_and_watch_in_protobuf() {
    let (env, wire, cs, json_cs) = protobuf_and_json_clients("pbinformer").await;
    let ns = env.namespace.clone();
    let cms = cs.core_v1().config_maps(&ns);
    cms.create(&config_map("before"), &CreateOptions::default()).await.expect("create");

    let informer = cms.informer();
    let running = informer.start();
    if tokio::time::timeout(std::time::Duration::from_secs(30), informer.wait_for_sync()).await.is_err() {
        panic!("not synced: {:?}", informer.last_error());
    }
    let listed = informer.lister().get(&ns, "before").expect("the listed object is cached");
    let via_json = json_cs.core_v1().config_maps(&ns).get("before", &GetOptions::default()).await.unwrap();
    assert_eq!(*listed, via_json, "the cached (protobuf) and the JSON read differ");

    cms.create(&config_map("after"), &CreateOptions::default()).await.expect("create");
    support::cluster::eventually(
        "the informer's watch delivers the new object",
        std::time::Duration::from_secs(30),
        || {
            let seen = informer.lister().get(&ns, "after").is_some();
            async move { seen }
        },
    )
    .await;
    let watched = informer.lister().get(&ns, "after").unwrap();
    assert_eq!(watched.binary_data.as_ref().unwrap()["b"].0, vec![0, 1, 2, 255]);
    drop(running);

    let exchanges = wire.lock().unwrap().clone();
    let collection = format!("/api/v1/namespaces/{ns}/configmaps");
    let reads: Vec<&(String, String, String, String)> =
        exchanges.iter().filter(|e| e.0 == "GET" && e.1 == collection).collect();
    assert!(reads.len() >= 2, "a list and a watch: {exchanges:?}");
    assert!(reads.iter().all(|e| e.3.starts_with(PROTOBUF)), "list and watch answers: {reads:?}");
    assert!(reads.iter().any(|e| e.3 == "application/vnd.kubernetes.protobuf;stream=watch"), "{reads:?}");
    env.shutdown().await;
}
