//! The request path against the test server (embedded or realkube, see
//! `support::cluster`; real HTTPS, real Status errors, real watch): CRUD through
//! `RESTClient`, error classification, watch, and the two authentication methods the
//! server offers (bearer token, client certificate). Each test works in its own
//! namespace; the embedded server runs its controllers, as realkube does.

mod support;

use std::time::Duration;

use ferrokube::rest::{
    errors, Config, CreateOptions, DeleteOptions, GetOptions, ListOptions, PatchType, RESTClient, RateLimiterChoice,
};
use ferrokube::secret::{SecretBytes, SecretString};
use ferrokube::watch::WatchEvent;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use support::cluster::{ClusterOptions, TestCluster};

type ConfigMapList = k8s_openapi::List<ConfigMap>;

async fn start() -> TestCluster {
    TestCluster::start(ClusterOptions::new("rest").with_controllers()).await
}

fn base_config(server: &TestCluster) -> Config {
    let mut c = Config::new(server.url());
    c.tls.ca_data = Some(server.ca_pem().into_bytes());
    c.content.group_version = Some((String::new(), "v1".to_owned()));
    c.rate_limiter = RateLimiterChoice::Disabled;
    c
}

fn token_config(server: &TestCluster) -> Config {
    let mut c = base_config(server);
    c.bearer_token = Some(server.admin_token());
    c
}

fn config_map(name: &str, value: &str) -> serde_json::Value {
    serde_json::json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":name,"labels":{"app":"rest-test"}},"data":{"k":value}})
}

#[tokio::test]
async fn crud_and_status_errors() {
    let server = start().await;
    let c = RESTClient::new(&token_config(&server)).unwrap();
    let ns = server.namespace.as_str();

    let created: ConfigMap = c
        .post()
        .namespace(ns)
        .resource("configmaps")
        .versioned_params(&CreateOptions { field_manager: Some("rest-test".into()), ..Default::default() })
        .body(&config_map("cm1", "v1"))
        .into_object()
        .await
        .unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("cm1"));
    let rv1 = created.metadata.resource_version.clone().unwrap();

    let err = c.post().namespace(ns).resource("configmaps").body(&config_map("cm1", "x")).do_raw().await.unwrap_err();
    assert!(errors::is_already_exists(&err), "{err}");

    let got: ConfigMap = c
        .get()
        .namespace(ns)
        .resource("configmaps")
        .name("cm1")
        .versioned_params(&GetOptions::default())
        .into_object()
        .await
        .unwrap();
    assert_eq!(got.data.as_ref().unwrap()["k"], "v1");

    let err = c.get().namespace(ns).resource("configmaps").name("missing").do_raw().await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert_eq!(err.code(), Some(404));

    // Update with the current resourceVersion works; with a stale one it conflicts.
    let mut body = config_map("cm1", "v2");
    body["metadata"]["resourceVersion"] = rv1.clone().into();
    let updated: ConfigMap =
        c.put().namespace(ns).resource("configmaps").name("cm1").body(&body).into_object().await.unwrap();
    assert_ne!(updated.metadata.resource_version.as_deref(), Some(rv1.as_str()));
    let err = c.put().namespace(ns).resource("configmaps").name("cm1").body(&body).do_raw().await.unwrap_err();
    assert!(err.is_conflict(), "{err}");

    let patched: ConfigMap = c
        .patch(PatchType::Merge)
        .namespace(ns)
        .resource("configmaps")
        .name("cm1")
        .body_json(&serde_json::json!({"data":{"k":"v3"}}))
        .into_object()
        .await
        .unwrap();
    assert_eq!(patched.data.as_ref().unwrap()["k"], "v3");

    let list: ConfigMapList = c
        .get()
        .namespace(ns)
        .resource("configmaps")
        .versioned_params(&ListOptions { label_selector: Some("app=rest-test".into()), ..Default::default() })
        .into_object()
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);

    c.delete()
        .namespace(ns)
        .resource("configmaps")
        .name("cm1")
        .body(&DeleteOptions { grace_period_seconds: Some(0), ..Default::default() })
        .do_raw()
        .await
        .unwrap();
    let err = c.get().namespace(ns).resource("configmaps").name("cm1").do_raw().await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn watch_sees_changes_in_order() {
    let server = start().await;
    let c = RESTClient::new(&token_config(&server)).unwrap();
    let ns = server.namespace.as_str();
    let list: ConfigMapList = c.get().namespace(ns).resource("configmaps").into_object().await.unwrap();
    let rv = list.metadata.resource_version.unwrap_or_default();
    let mut events = c
        .get()
        .namespace(ns)
        .resource("configmaps")
        .versioned_params(&ListOptions { resource_version: Some(rv), ..Default::default() })
        .watch::<ConfigMap>()
        .await
        .unwrap();
    c.post().namespace(ns).resource("configmaps").body(&config_map("w1", "a")).do_raw().await.unwrap();
    c.patch(PatchType::Merge)
        .namespace(ns)
        .resource("configmaps")
        .name("w1")
        .body_json(&serde_json::json!({"data":{"k":"b"}}))
        .do_raw()
        .await
        .unwrap();
    c.delete().namespace(ns).resource("configmaps").name("w1").do_raw().await.unwrap();

    let mut seen = Vec::new();
    while seen.len() < 3 {
        let next = tokio::time::timeout(Duration::from_secs(30), events.next()).await.expect("watch event in time");
        match next.expect("stream open").unwrap() {
            WatchEvent::Bookmark(_) => continue,
            // realkube's controller manager adds `kube-root-ca.crt` to a new namespace
            e if e.object().and_then(|o| o.metadata.name.as_deref()) != Some("w1") => continue,
            e => seen.push((e.event_type(), e.object().and_then(|o| o.data.clone()).unwrap_or_default()["k"].clone())),
        }
    }
    assert_eq!(seen, [("ADDED", "a".to_owned()), ("MODIFIED", "b".to_owned()), ("DELETED", "b".to_owned())]);
}

#[tokio::test]
async fn client_certificate_and_bad_token() {
    let server = start().await;
    let (cert, key) = server.admin_client_certificate();
    let mut cfg = base_config(&server);
    cfg.tls.cert_data = Some(cert.into_bytes());
    cfg.tls.key_data = Some(SecretBytes::new(key.into_bytes()));
    let c = RESTClient::new(&cfg).unwrap();
    let _: ConfigMapList = c.get().namespace(&server.namespace).resource("configmaps").into_object().await.unwrap();

    let mut cfg = base_config(&server);
    cfg.bearer_token = Some(SecretString::new("not-a-valid-token-9931"));
    let err = RESTClient::new(&cfg).unwrap().get().resource("configmaps").do_raw().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(!format!("{err} {err:?}").contains("not-a-valid-token-9931"));
}

/// `tls.next_protos` decides the HTTP version spoken (seen by a transport layer): both
/// offered = HTTP/2 with this server, `["http/1.1"]` = HTTP/1.1; LIST decodes the same.
#[tokio::test]
async fn next_protos_choose_the_http_version() {
    use ferrokube::transport::hooks::TransportLayer;
    use std::sync::{Arc, Mutex};
    let server = start().await;
    for (protos, want) in [(vec![], http::Version::HTTP_2), (vec!["http/1.1".to_owned()], http::Version::HTTP_11)] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let mut config = token_config(&server);
        config.tls.next_protos = protos.clone();
        config.wrap_transport.push(TransportLayer::new(tower::layer::layer_fn(move |inner| {
            let record = record.clone();
            tower::util::MapResponse::new(inner, move |resp: http::Response<_>| {
                record.lock().unwrap().push(resp.version());
                resp
            })
        })));
        let c = RESTClient::new(&config).unwrap();
        let list: ConfigMapList =
            c.get().namespace(&server.namespace).resource("configmaps").into_list().await.unwrap();
        assert!(list.metadata.resource_version.is_some());
        assert_eq!(*seen.lock().unwrap(), vec![want], "next_protos {protos:?}");
    }
    server.shutdown().await;
}
