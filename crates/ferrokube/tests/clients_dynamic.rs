//! The DynamicClient against the test server (embedded or realkube, see
//! `support::cluster`): CRUD, status, patch, apply, delete_collection and watch over
//! unstructured objects, on a built-in resource and on a custom resource.
//!
//! Each test works in its own namespace. On realkube the deployment controller writes
//! status behind the test's back, so read-modify-write steps retry on conflict.

mod support;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use ferrokube::dynamic::{DynamicClient, Unstructured};
use ferrokube::rest::{
    ApplyOptions, CreateOptions, DeleteOptions, GetOptions, ListOptions, PatchOptions, PatchType, UpdateOptions,
};
use ferrokube::schema::GroupVersionResource;
use ferrokube::util::retry::{retry_on_conflict, DEFAULT_RETRY};
use ferrokube::watch::WatchEvent;
use support::cluster::{ClusterOptions, TestCluster};

fn obj(v: serde_json::Value) -> Unstructured {
    Unstructured::from_value(v).unwrap()
}

fn deployment(name: &str) -> Unstructured {
    obj(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"suite": "dynamic"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.12"}]}}}
    }))
}

#[tokio::test]
async fn dynamic_crud_and_watch_on_deployments() {
    let env = TestCluster::start(ClusterOptions::new("dyn")).await;
    let client = DynamicClient::new(&env.config).unwrap();
    let deploys = client.resource(GroupVersionResource::new("apps", "v1", "deployments")).namespace(&env.namespace);

    let list = deploys.list(&ListOptions::default()).await.unwrap();
    assert_eq!(list.kind(), Some("DeploymentList"));
    let mut events = deploys
        .watch(&ListOptions { resource_version: list.resource_version().map(str::to_owned), ..Default::default() })
        .await
        .unwrap();

    let created = deploys.create(&deployment("web"), &CreateOptions::default()).await.unwrap();
    assert!(created.uid().is_some());
    assert_eq!(created.namespace(), Some(env.namespace.as_str()));

    // update with the nested-field helpers, as client-go's dynamic example does
    let (updated, sent) = retry_on_conflict(DEFAULT_RETRY, || async {
        let mut got = deploys.get("web", &GetOptions::default()).await?;
        got.set_nested_field(&["spec", "replicas"], json!(1)).unwrap();
        let containers = got.nested_slice(&["spec", "template", "spec", "containers"]).unwrap().unwrap().clone();
        let mut c0 = containers[0].clone();
        c0["image"] = json!("nginx:1.13");
        got.set_nested_field(&["spec", "template", "spec", "containers"], json!([c0])).unwrap();
        deploys.update(&got, &UpdateOptions::default()).await.map(|updated| (updated, got))
    })
    .await
    .unwrap();
    assert_eq!(updated.nested_i64(&["spec", "replicas"]), Ok(Some(1)));
    assert!(deploys.update(&sent, &UpdateOptions::default()).await.unwrap_err().is_conflict());

    // status and scale subresources
    let st = retry_on_conflict(DEFAULT_RETRY, || async {
        let mut st = deploys.get_subresource("web", &["status"], &GetOptions::default()).await?;
        st.set_nested_field(&["status", "collisionCount"], json!(3)).unwrap();
        deploys.update_status(&st, &UpdateOptions::default()).await
    })
    .await
    .unwrap();
    assert_eq!(st.nested_i64(&["status", "collisionCount"]), Ok(Some(3)));
    let scale = deploys.get_subresource("web", &["scale"], &GetOptions::default()).await.unwrap();
    assert_eq!(scale.kind(), Some("Scale"));

    // patch and apply
    let p = deploys
        .patch(
            "web",
            PatchType::Merge,
            &json!({"metadata": {"annotations": {"a": "b"}}}),
            &PatchOptions::default(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(p.annotations()["a"], "b");
    let mut cfg = Unstructured::new();
    cfg.set_api_version("apps/v1");
    cfg.set_kind("Deployment");
    cfg.set_name("web");
    cfg.set_label("applied", "yes");
    let a = deploys.apply(&cfg, &ApplyOptions::new("dyn-test").force()).await.unwrap();
    assert_eq!(a.labels()["applied"], "yes");

    // delete, delete_collection
    deploys.create(&deployment("other"), &CreateOptions::default()).await.unwrap();
    deploys.delete("web", &DeleteOptions::default()).await.unwrap();
    deploys
        .delete_collection(
            &DeleteOptions::default(),
            &ListOptions { label_selector: Some("suite=dynamic".into()), ..Default::default() },
        )
        .await
        .unwrap();

    // The watch reports both deletions (other events, such as a controller's status
    // writes, are not counted); then the list is empty.
    let mut added = 0;
    let mut deleted = 0;
    while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(5), events.next()).await {
        match ev.unwrap() {
            WatchEvent::Added(o) => {
                assert_eq!(o.kind(), Some("Deployment"));
                added += 1
            }
            WatchEvent::Deleted(_) => deleted += 1,
            _ => {}
        }
        if deleted == 2 {
            break;
        }
    }
    assert_eq!((added, deleted), (2, 2));
    assert!(deploys.list(&ListOptions::default()).await.unwrap().items.is_empty());
}

#[tokio::test]
async fn dynamic_on_a_custom_resource() {
    let env = TestCluster::start(ClusterOptions::new("crd")).await;
    let client = DynamicClient::new(&env.config).unwrap();
    let crds = client.resource(GroupVersionResource::new("apiextensions.k8s.io", "v1", "customresourcedefinitions"));
    let crd = obj(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                               "subresources": {"status": {}}}]}
    }));
    let created = crds.create(&crd, &CreateOptions::default()).await.unwrap();
    assert_eq!(created.name(), Some("widgets.example.com"));

    let widgets = client.resource(GroupVersionResource::new("example.com", "v1", "widgets")).namespace(&env.namespace);
    let w =
        obj(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}}));
    // The CRD's resource is served once the CRD is established: at once on the
    // embedded server, shortly after on kube-apiserver (its controllers set the
    // condition; its handler learns of it through an informer, hence the short retry).
    env.wait_for_crd_established("widgets.example.com").await;
    let mut attempts = 0;
    let created = loop {
        match widgets.create(&w, &CreateOptions::default()).await {
            Ok(o) => break o,
            Err(e) if e.is_not_found() && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("creating a Widget of the new CRD: {e}"),
        }
    };
    assert_eq!((created.kind(), created.name()), (Some("Widget"), Some("w1")));
    assert_eq!(created.nested_i64(&["spec", "size"]), Ok(Some(3)));
    let mut got = widgets.get("w1", &GetOptions::default()).await.unwrap();
    got.set_nested_field(&["spec", "size"], json!(4)).unwrap();
    let updated = widgets.update(&got, &UpdateOptions::default()).await.unwrap();
    assert_eq!(updated.nested_i64(&["spec", "size"]), Ok(Some(4)));
    let list = widgets.list(&ListOptions::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let mut events = widgets
        .watch(&ListOptions { resource_version: list.resource_version().map(str::to_owned), ..Default::default() })
        .await
        .unwrap();
    let w2 =
        obj(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}, "spec": {"size": 1}}));
    widgets.create(&w2, &CreateOptions::default()).await.unwrap();
    let mut st = widgets.get("w2", &GetOptions::default()).await.unwrap();
    st.set_nested_field(&["status", "ready"], json!(true)).unwrap();
    let st = widgets.update_status(&st, &UpdateOptions::default()).await.unwrap();
    assert_eq!(st.nested_bool(&["status", "ready"]), Ok(Some(true)));
    match tokio::time::timeout(Duration::from_secs(5), events.next()).await.unwrap().unwrap().unwrap() {
        WatchEvent::Added(o) => assert_eq!((o.kind(), o.name()), (Some("Widget"), Some("w2"))),
        other => panic!("{other:?}"),
    }
    widgets
        .delete_collection(
            &DeleteOptions::default(),
            &ListOptions { field_selector: Some("metadata.name=w2".into()), ..Default::default() },
        )
        .await
        .unwrap();
    widgets.delete("w1", &DeleteOptions::default()).await.unwrap();
    assert!(widgets.get("w1", &GetOptions::default()).await.unwrap_err().is_not_found());
}
