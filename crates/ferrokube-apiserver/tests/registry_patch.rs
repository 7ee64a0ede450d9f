//! Patches and field ownership through the registry: JSON, merge and strategic-merge
//! patches, server-side apply (conflicts, force, the status subresource), and the
//! managedFields that ordinary writes record.
//!
//! They call the registry directly, as the HTTP front end does (`Registry::handle`);
//! the HTTP layer itself is tested in `server_*.rs`.

mod registry_support;

use ferrokube_apiserver::api::{ApiResponse, Verb};
use ferrokube_apiserver::registry::Registry;
use registry_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn patches() {
    let r = Registry::new();
    create_cm(&r, "default", "p").await;
    let m = ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("p")
            .ct("application/merge-patch+json")
            .body(json!({"data": {"k": null, "n": "1"}})),
    )
    .await;
    assert_eq!(m["data"], json!({"n": "1"}));
    let j = ok(
        &r,
        Req::new(Verb::Patch, cms()).ns("default").name("p").ct("application/json-patch+json").body(
            json!([{"op": "test", "path": "/data/n", "value": "1"}, {"op": "add", "path": "/data/j", "value": "2"}]),
        ),
    )
    .await;
    assert_eq!(j["data"], json!({"n": "1", "j": "2"}));
    let e = err(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("p")
            .ct("application/json-patch+json")
            .body(json!([{"op": "test", "path": "/data/n", "value": "x"}])),
    )
    .await;
    assert_eq!(e.code, 422);
    let s = ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("p")
            .ct("application/strategic-merge-patch+json")
            .body(json!({"$patch": "merge", "data": {"s": "3"}})),
    )
    .await;
    assert_eq!(s["data"]["s"], "3");
    let e = err(&r, Req::new(Verb::Patch, cms()).ns("default").name("p").ct("text/plain").body(json!({}))).await;
    assert_eq!((e.code, e.reason.as_str()), (415, "UnsupportedMediaType"));
    let e = err(
        &r,
        Req::new(Verb::Patch, cms()).ns("default").name("missing").ct("application/merge-patch+json").body(json!({})),
    )
    .await;
    assert_eq!(e.code, 404);
    // A resourceVersion in the patch is a precondition.
    let e = err(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("p")
            .ct("application/merge-patch+json")
            .body(json!({"metadata": {"resourceVersion": "1"}})),
    )
    .await;
    assert_eq!(e.code, 409);
}

#[tokio::test]
async fn server_side_apply_creates_conflicts_and_forces() {
    let r = Registry::new();
    let apply = |manager: &str, replicas: i64, force: bool| {
        let mut req = Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .ct("application/apply-patch+yaml")
            .q("fieldManager", manager)
            .body(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "labels": {"owner": manager}},
                "spec": {"replicas": replicas,
                         "selector": {"matchLabels": {"app": "web"}},
                         "template": {"metadata": {"labels": {"app": "web"}},
                                      "spec": {"containers": [{"name": "nginx", "image": "nginx:1.12"}]}}}
            }));
        if force {
            req = req.q("force", "true");
        }
        req
    };
    let created = r.handle(apply("alice", 2, false).0).await.expect("apply creates");
    let ApiResponse::Object { code, body } = created else { panic!("not an object") };
    assert_eq!(code, 201);
    assert_eq!(body["spec"]["replicas"], json!(2));
    let managers: Vec<_> = body["metadata"]["managedFields"]
        .as_array()
        .expect("managedFields")
        .iter()
        .map(|m| m["manager"].clone())
        .collect();
    assert_eq!(managers, vec![json!("alice")]);

    let e = err(&r, apply("bob", 3, false)).await;
    assert_eq!(e.code, 409);
    assert!(e.message.contains("with \"alice\"") && e.message.contains(".spec.replicas"), "{}", e.message);
    let causes = e.details.as_ref().expect("details")["causes"].to_string();
    assert!(causes.contains(".spec.replicas"), "{causes}");

    let forced = ok(&r, apply("bob", 3, true)).await;
    assert_eq!(forced["spec"]["replicas"], json!(3));

    let missing_manager = err(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .ct("application/apply-patch+yaml")
            .body(json!({"metadata": {"name": "web"}})),
    )
    .await;
    assert_eq!(missing_manager.code, 422);
}

#[tokio::test]
async fn ordinary_writes_record_managed_fields_and_apply_conflicts_with_them() {
    let r = Registry::new();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2,
                 "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:1.12"}]}}}
    });
    let mut create = Req::new(Verb::Create, deploys()).ns("default").body(deployment);
    create.0.user_agent = Some("kubectl/v1.33.1 (linux/amd64) kubernetes/abcdef".into());
    let created = ok(&r, create).await;
    let entry = &created["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], json!("kubectl"), "manager derived from the User-Agent");
    assert_eq!(entry["operation"], json!("Update"));
    assert!(entry["fieldsV1"]["f:spec"]["f:replicas"].is_object(), "{entry}");

    let scaled = ok(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .ct("application/merge-patch+json")
            .q("fieldManager", "autoscaler")
            .body(json!({"spec": {"replicas": 5}})),
    )
    .await;
    let managers: Vec<_> =
        scaled["metadata"]["managedFields"].as_array().expect("entries").iter().map(|e| e["manager"].clone()).collect();
    assert!(managers.contains(&json!("autoscaler")), "{managers:?}");

    let conflict = err(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .ct("application/apply-patch+yaml")
            .q("fieldManager", "gitops")
            .body(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 1}})),
    )
    .await;
    assert_eq!(conflict.code, 409);
    assert!(conflict.message.contains("autoscaler"), "{}", conflict.message);
}

#[tokio::test]
async fn server_side_apply_on_status() {
    let r = Registry::new();
    ok(&r, Req::new(Verb::Create, deploys()).ns("default").body(deployment("web"))).await;
    let apply = |manager: &str, body: Value| {
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .sub("status")
            .ct("application/apply-patch+yaml")
            .q("fieldManager", manager)
            .q("force", "true")
            .body(body)
    };
    let a = ok(
        &r,
        apply(
            "status-writer",
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"x": "y"}},
                   "spec": {"replicas": 9}, "status": {"collisionCount": 6, "replicas": 1}}),
        ),
    )
    .await;
    assert_eq!(a["status"]["collisionCount"], 6);
    assert_eq!(a["status"]["replicas"], 1);
    assert_eq!(a["spec"]["replicas"], 2, "spec does not change through /status");
    assert!(a["metadata"]["labels"].get("x").is_none(), "labels do not change through /status");
    assert_eq!(a["metadata"]["generation"], 1);
    let entry = a["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == "status-writer")
        .cloned()
        .expect("the applier's entry");
    assert_eq!((entry["operation"].as_str(), entry["subresource"].as_str()), (Some("Apply"), Some("status")));
    assert!(entry["fieldsV1"]["f:status"].get("f:collisionCount").is_some(), "{entry}");
    assert!(entry["fieldsV1"].get("f:spec").is_none(), "{entry}");
    let got = ok(&r, Req::new(Verb::Get, deploys()).ns("default").name("web")).await;
    assert_eq!(got["status"]["collisionCount"], 6);

    // Dropping a field from the applied status removes it; a main-resource apply by
    // the same manager leaves status alone.
    let again = ok(
        &r,
        apply("status-writer", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 1}})),
    )
    .await;
    assert!(again["status"].get("collisionCount").is_none(), "{}", again["status"]);
    assert_eq!(again["status"]["replicas"], 1);
    let main = ok(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .ct("application/apply-patch+yaml")
            .q("fieldManager", "status-writer")
            .body(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 5}})),
    )
    .await;
    assert_eq!(main["status"]["replicas"], 1, "status does not change through the main resource");

    let missing = err(
        &r,
        apply("w", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "nope"}, "status": {}})),
    )
    .await;
    assert_eq!(missing.code, 400, "{missing:?}");
    let mut absent = apply("w", json!({"apiVersion": "apps/v1", "kind": "Deployment", "status": {}}));
    absent.0.name = Some("nope".into());
    assert_eq!(err(&r, absent).await.code, 404);
}
