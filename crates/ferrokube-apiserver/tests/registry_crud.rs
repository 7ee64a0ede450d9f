//! CRUD through the registry: the seeded namespaces, create/get/update with
//! resourceVersion conflicts, what create refuses, generateName and YAML bodies,
//! generation, dry run, delete preconditions, finalizers, namespace deletion, API
//! versions sharing objects, and odd input that must not panic.
//!
//! They call the registry directly, as the HTTP front end does (`Registry::handle`);
//! the HTTP layer itself is tested in `server_*.rs`.

mod registry_support;

use std::sync::Arc;

use ferrokube_apiserver::api::{ResourceInfo, Verb};
use ferrokube_apiserver::registry::Registry;
use registry_support::*;
use serde_json::json;

#[tokio::test]
async fn seeded_namespaces() {
    let r = Registry::new();
    let l = ok(&r, Req::new(Verb::List, namespaces())).await;
    let names: Vec<&str> =
        l["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["default", "kube-public", "kube-system"]);
    assert_eq!(l["kind"], "NamespaceList");
    assert_eq!(l["items"][0]["status"]["phase"], "Active");
    assert_eq!(l["items"][0]["spec"]["finalizers"], json!(["kubernetes"]));
    assert_eq!(l["items"][0]["kind"], "Namespace");
}

#[tokio::test]
async fn create_get_update_conflict() {
    let r = Registry::new();
    let before = r.store().current_rv();
    let (code, c) = call(&r, Req::new(Verb::Create, cms()).ns("default").body(cm("a"))).await.unwrap();
    assert_eq!(code, 201);
    assert!(rv(&c) > before);
    assert_eq!(c["metadata"]["namespace"], "default");
    assert_eq!(c["metadata"]["uid"].as_str().unwrap().len(), 36);
    assert!(c["metadata"]["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    // As in kube-apiserver, a ConfigMap has no generation (only types whose strategy
    // tracks one, such as Deployments and Pods).
    assert!(c["metadata"].get("generation").is_none());

    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").body(cm("a"))).await;
    assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(e.message, "configmaps \"a\" already exists");
    assert_eq!(e.details.unwrap()["kind"], "configmaps");

    let g = ok(&r, Req::new(Verb::Get, cms()).ns("default").name("a")).await;
    assert_eq!(g, c);

    let mut upd = g.clone();
    upd["data"]["k"] = json!("v2");
    let u = ok(&r, Req::new(Verb::Update, cms()).ns("default").name("a").body(upd.clone())).await;
    assert!(rv(&u) > rv(&c));
    assert_eq!(u["metadata"]["uid"], c["metadata"]["uid"]);
    // Stale resourceVersion.
    let e = err(&r, Req::new(Verb::Update, cms()).ns("default").name("a").body(upd.clone())).await;
    assert_eq!(e.code, 409);
    assert_eq!(e.message, "Operation cannot be fulfilled on configmaps \"a\": the object has been modified; please apply your changes to the latest version and try again");
    // No resourceVersion: unconditional; uid/creationTimestamp kept.
    let mut unc = upd.clone();
    unc["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    unc["metadata"]["creationTimestamp"] = json!("2000-01-01T00:00:00Z");
    unc["data"]["k"] = json!("v3");
    let u2 = ok(&r, Req::new(Verb::Update, cms()).ns("default").name("a").body(unc)).await;
    assert_eq!(u2["data"]["k"], "v3");
    assert_eq!(u2["metadata"]["creationTimestamp"], c["metadata"]["creationTimestamp"]);
    // No-op update keeps the resourceVersion.
    let u3 = ok(&r, Req::new(Verb::Update, cms()).ns("default").name("a").body(u2.clone())).await;
    assert_eq!(rv(&u3), rv(&u2));

    let e = err(&r, Req::new(Verb::Get, cms()).ns("default").name("zz")).await;
    assert_eq!((e.code, e.message.as_str()), (404, "configmaps \"zz\" not found"));
    let e = err(&r, Req::new(Verb::Update, cms()).ns("default").name("zz").body(cm("zz"))).await;
    assert_eq!(e.code, 404);
    let e = err(&r, Req::new(Verb::Update, cms()).ns("default").name("a").body(cm("other"))).await;
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn create_rejections() {
    let r = Registry::new();
    let mut with_rv = cm("x");
    with_rv["metadata"]["resourceVersion"] = json!("5");
    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").body(with_rv)).await;
    assert_eq!(e.code, 500);
    assert!(e.message.contains("resourceVersion should not be set on objects to be created"));

    let mut other_ns = cm("x");
    other_ns["metadata"]["namespace"] = json!("kube-system");
    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").body(other_ns)).await;
    assert_eq!(e.code, 400);
    assert_eq!(e.message, "the namespace of the provided object does not match the namespace sent on the request");

    let e = err(&r, Req::new(Verb::Create, cms()).ns("nope").body(cm("x"))).await;
    assert_eq!((e.code, e.message.as_str()), (404, "namespaces \"nope\" not found"));

    let e = err(&r, Req::new(Verb::Create, deploys()).ns("default").body(deployment("Bad_Name"))).await;
    assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
    assert!(e.message.starts_with("Deployment.apps \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"), "{}", e.message);
    let d = e.details.unwrap();
    assert_eq!(d["causes"][0]["field"], "metadata.name");
    assert_eq!(d["causes"][0]["reason"], "FieldValueInvalid");
    assert_eq!(d["kind"], "Deployment");
    assert_eq!(d["group"], "apps");

    let e = err(&r, Req::new(Verb::Create, namespaces()).body(json!({"metadata": {"name": "a.b"}}))).await;
    assert!(e.message.contains("RFC 1123 label"), "{}", e.message);

    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").body(json!({"metadata": {}}))).await;
    assert_eq!(e.code, 422);
    assert!(e.message.contains("metadata.name: Required value: name or generateName is required"));

    let e =
        err(&r, Req::new(Verb::Create, cms()).ns("default").body(json!({"kind": "Pod", "metadata": {"name": "a"}})))
            .await;
    assert_eq!(e.code, 400);
    assert_eq!(
        e.message,
        "Pod in version \"v1\" cannot be handled as a ConfigMap: converting (v1.Pod) to (core.ConfigMap): unknown conversion"
    );
    let e = err(
        &r,
        Req::new(Verb::Create, cms()).ns("default").body(json!({"apiVersion": "apps/v1", "metadata": {"name": "a"}})),
    )
    .await;
    assert_eq!(e.code, 400);
    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").raw("{not json")).await;
    assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").raw("[1]")).await;
    assert_eq!(e.code, 400);
    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").sub("status").body(cm("a"))).await;
    assert_eq!((e.code, e.reason.as_str()), (405, "MethodNotAllowed"));
}

#[tokio::test]
async fn generate_name_and_yaml() {
    let r = Registry::new();
    let c =
        ok(&r, Req::new(Verb::Create, cms()).ns("default").body(json!({"metadata": {"generateName": "web-"}}))).await;
    let name = c["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    let y = ok(
        &r,
        Req::new(Verb::Create, cms()).ns("default").ct("application/yaml").raw("metadata:\n  name: y\ndata:\n  a: b\n"),
    )
    .await;
    assert_eq!(y["data"]["a"], "b");
    assert_eq!(y["kind"], "ConfigMap");
}

#[tokio::test]
async fn generation_bumps_on_spec_only() {
    let r = Registry::new();
    let d = ok(&r, Req::new(Verb::Create, deploys()).ns("default").body(deployment("web"))).await;
    assert_eq!(d["metadata"]["generation"], 1);
    let mut l = d.clone();
    l["metadata"]["labels"]["x"] = json!("y");
    let l = ok(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").body(l)).await;
    assert_eq!(l["metadata"]["generation"], 1);
    // Status through the main resource is ignored.
    let mut s = l.clone();
    s["status"] = json!({"replicas": 7});
    let s = ok(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").body(s)).await;
    assert_eq!(s["status"], json!({}), "the old (empty) status is kept");
    let mut sp = s.clone();
    sp["spec"]["replicas"] = json!(5);
    let sp = ok(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").body(sp)).await;
    assert_eq!(sp["metadata"]["generation"], 2);
}

/// An EndpointSlice's generation counts its endpoints, ports and labels, as kube's
/// strategy does (annotations alone leave it).
#[tokio::test]
async fn endpoint_slice_generation_counts_content_and_labels() {
    let r = Registry::new();
    let slices = res("discovery.k8s.io", "endpointslices", "EndpointSlice", true, false, false);
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-x", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.244.0.2"]}], "ports": [{"port": 80}]});
    let update = |v: serde_json::Value| Req::new(Verb::Update, slices.clone()).ns("default").name("web-x").body(v);
    let s = ok(&r, Req::new(Verb::Create, slices.clone()).ns("default").body(slice)).await;
    assert_eq!(s["metadata"]["generation"], 1);
    let mut a = s.clone();
    a["metadata"]["annotations"] = json!({"note": "x"});
    let a = ok(&r, update(a)).await;
    assert_eq!(a["metadata"]["generation"], 1, "annotations alone");
    let mut e = a.clone();
    e["endpoints"] = json!([{"addresses": ["10.244.0.3"]}]);
    let e = ok(&r, update(e)).await;
    assert_eq!(e["metadata"]["generation"], 2, "endpoints changed");
    let mut l = e.clone();
    l["metadata"]["labels"]["extra"] = json!("1");
    let l = ok(&r, update(l)).await;
    assert_eq!(l["metadata"]["generation"], 3, "labels changed");
}

#[tokio::test]
async fn dry_run_leaves_no_trace() {
    let r = Registry::new();
    let c = create_cm(&r, "default", "d").await;
    let before = r.store().current_rv();
    let (code, v) =
        call(&r, Req::new(Verb::Create, cms()).ns("default").q("dryRun", "All").body(cm("dry"))).await.unwrap();
    assert_eq!(code, 201);
    assert_eq!(v["metadata"]["name"], "dry");
    let mut u = c.clone();
    u["data"]["k"] = json!("changed");
    let v = ok(&r, Req::new(Verb::Update, cms()).ns("default").name("d").q("dryRun", "All").body(u)).await;
    assert_eq!(v["data"]["k"], "changed");
    ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("d")
            .q("dryRun", "All")
            .ct("application/merge-patch+json")
            .body(json!({"data": {"x": "y"}})),
    )
    .await;
    ok(&r, Req::new(Verb::Delete, cms()).ns("default").name("d").q("dryRun", "All")).await;
    assert_eq!(r.store().current_rv(), before);
    assert_eq!(ok(&r, Req::new(Verb::Get, cms()).ns("default").name("d")).await, c);
    let e = err(&r, Req::new(Verb::Get, cms()).ns("default").name("dry")).await;
    assert_eq!(e.code, 404);
    let e = err(&r, Req::new(Verb::Create, cms()).ns("default").q("dryRun", "Some").body(cm("dry"))).await;
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn delete_with_preconditions() {
    let r = Registry::new();
    let c = create_cm(&r, "default", "x").await;
    let e = err(
        &r,
        Req::new(Verb::Delete, cms())
            .ns("default")
            .name("x")
            .body(json!({"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": {"uid": "nope"}})),
    )
    .await;
    assert_eq!(e.code, 409);
    assert!(e.message.contains("ConfigMap \"x\": the UID in the precondition (nope) does not match"), "{}", e.message);
    let e = err(
        &r,
        Req::new(Verb::Delete, cms()).ns("default").name("x").body(json!({"preconditions": {"resourceVersion": "1"}})),
    )
    .await;
    assert_eq!(e.code, 409);
    assert!(e.message.contains("the ResourceVersion in the precondition (1) does not match"), "{}", e.message);
    let (code, d) = call(&r, Req::new(Verb::Delete, cms()).ns("default").name("x").q("gracePeriodSeconds", "0").q("propagationPolicy", "Background")
        .body(json!({"preconditions": {"uid": c["metadata"]["uid"], "resourceVersion": c["metadata"]["resourceVersion"]}}))).await.unwrap();
    assert_eq!(code, 200);
    // ConfigMaps answer a delete with a Success Status naming what went, as kube does.
    assert_eq!((d["kind"].as_str(), d["status"].as_str()), (Some("Status"), Some("Success")));
    assert_eq!(d["details"], json!({"name": "x", "kind": "configmaps", "uid": c["metadata"]["uid"]}));
    let e = err(&r, Req::new(Verb::Delete, cms()).ns("default").name("x")).await;
    assert_eq!(e.code, 404);
    let e = err(&r, Req::new(Verb::Delete, cms()).ns("default").name("x").q("propagationPolicy", "Sideways")).await;
    assert_eq!(e.code, 422);
}

#[tokio::test]
async fn finalizers_flow() {
    let r = Registry::new();
    let mut body = cm("f");
    body["metadata"]["finalizers"] = json!(["example.com/hold"]);
    ok(&r, Req::new(Verb::Create, cms()).ns("default").body(body)).await;
    let mut w =
        watch(&r, Req::new(Verb::Watch, cms()).ns("default").q("resourceVersion", &r.store().current_rv().to_string()))
            .await;
    let (code, d) = call(&r, Req::new(Verb::Delete, cms()).ns("default").name("f")).await.unwrap();
    assert_eq!(code, 200);
    assert!(d["metadata"]["deletionTimestamp"].is_string());
    let g = ok(&r, Req::new(Verb::Get, cms()).ns("default").name("f")).await;
    assert!(g["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(next(&mut w).await.0, "MODIFIED");
    // Adding a finalizer to a deleting object is forbidden.
    let mut add = g.clone();
    add["metadata"]["finalizers"] = json!(["example.com/hold", "more"]);
    assert_eq!(err(&r, Req::new(Verb::Update, cms()).ns("default").name("f").body(add)).await.code, 422);
    let mut rm = g.clone();
    rm["metadata"]["finalizers"] = json!([]);
    ok(&r, Req::new(Verb::Update, cms()).ns("default").name("f").body(rm)).await;
    assert_eq!(next(&mut w).await.0, "DELETED");
    assert_eq!(err(&r, Req::new(Verb::Get, cms()).ns("default").name("f")).await.code, 404);
}

#[tokio::test]
async fn namespace_deletion() {
    let r = Registry::new();
    ok(&r, Req::new(Verb::Create, namespaces()).body(json!({"metadata": {"name": "tmp"}}))).await;
    create_cm(&r, "tmp", "a").await;
    let mut held = cm("held");
    held["metadata"]["finalizers"] = json!(["x/y"]);
    ok(&r, Req::new(Verb::Create, cms()).ns("tmp").body(held)).await;
    let d = ok(&r, Req::new(Verb::Delete, namespaces()).name("tmp")).await;
    assert_eq!(d["status"]["phase"], "Terminating");
    assert_eq!(err(&r, Req::new(Verb::Get, cms()).ns("tmp").name("a")).await.code, 404);
    let e = err(&r, Req::new(Verb::Create, cms()).ns("tmp").body(cm("new"))).await;
    assert_eq!(e.code, 403);
    assert_eq!(
        e.message,
        "configmaps \"new\" is forbidden: unable to create new content in namespace tmp because it is being terminated"
    );
    // Once the held object's finalizer is removed, the namespace goes too.
    let h = ok(&r, Req::new(Verb::Get, cms()).ns("tmp").name("held")).await;
    let mut rm = h.clone();
    rm["metadata"]["finalizers"] = json!(null);
    ok(&r, Req::new(Verb::Update, cms()).ns("tmp").name("held").body(rm)).await;
    assert_eq!(err(&r, Req::new(Verb::Get, namespaces()).name("tmp")).await.code, 404);
    let e = err(&r, Req::new(Verb::Delete, namespaces()).name("kube-system")).await;
    assert_eq!(
        (e.code, e.message.as_str()),
        (403, "namespaces \"kube-system\" is forbidden: this namespace may not be deleted")
    );
    // Empty namespaces go away at once.
    ok(&r, Req::new(Verb::Create, namespaces()).body(json!({"metadata": {"name": "empty"}}))).await;
    create_cm(&r, "empty", "a").await;
    ok(&r, Req::new(Verb::Delete, namespaces()).name("empty")).await;
    assert_eq!(err(&r, Req::new(Verb::Get, namespaces()).name("empty")).await.code, 404);
}

#[tokio::test]
async fn versions_share_objects() {
    let r = Registry::new();
    let v2 = Arc::new(ResourceInfo {
        version: "v2".into(),
        ..(*res("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, true, false)).clone()
    });
    let v1 = res("autoscaling", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, true, false);
    ok(
        &r,
        Req::new(Verb::Create, v2)
            .ns("default")
            .body(json!({"apiVersion": "autoscaling/v2", "metadata": {"name": "h"}, "spec": {}})),
    )
    .await;
    let g = ok(&r, Req::new(Verb::Get, v1).ns("default").name("h")).await;
    assert_eq!(g["apiVersion"], "autoscaling/v1");
}

#[tokio::test]
async fn never_panics_on_odd_input() {
    let r = Registry::new();
    for body in [
        "",
        "null",
        "\"s\"",
        "{\"metadata\": 5}",
        "{\"metadata\": {\"name\": 5}}",
        "{\"metadata\": {\"name\": \"a\", \"labels\": {\"k\": 1}}}",
    ] {
        let _ = call(&r, Req::new(Verb::Create, cms()).ns("default").raw(body)).await;
        let _ = call(&r, Req::new(Verb::Update, cms()).ns("default").name("a").raw(body)).await;
        let _ =
            call(&r, Req::new(Verb::Patch, cms()).ns("default").name("a").ct("application/json-patch+json").raw(body))
                .await;
        let _ = call(&r, Req::new(Verb::Delete, cms()).ns("default").name("a").raw(body)).await;
    }
    for q in [("limit", "-1"), ("limit", "x"), ("resourceVersion", "x"), ("continue", ""), ("timeoutSeconds", "x")] {
        let _ = call(&r, Req::new(Verb::List, cms()).q(q.0, q.1)).await;
    }
    let e = err(&r, Req::new(Verb::Get, cms())).await;
    assert_eq!(e.code, 405);
    // Beyond int64, as kube's parameter codec words it.
    let e = err(&r, Req::new(Verb::Watch, cms()).q("timeoutSeconds", "18446744073709551615")).await;
    assert_eq!(
        (e.code, e.message.as_str()),
        (400, "strconv.ParseInt: parsing \"18446744073709551615\": value out of range")
    );
    let _w = watch(&r, Req::new(Verb::Watch, cms()).q("timeoutSeconds", "9223372036854775807")).await;
    let _w =
        watch(&r, Req::new(Verb::Watch, cms()).q("continue", "x").q("resourceVersion", "18446744073709551615")).await;
}
