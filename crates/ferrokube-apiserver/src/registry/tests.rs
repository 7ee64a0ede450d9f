//! Behaviour tests of the registry through [`Registry::handle`], as the front end
//! calls it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::Registry;
use crate::api::{ApiError, ApiRequest, ApiResponse, ResourceInfo, UserInfo, Verb, WatchStream};
use crate::storage::StoreConfig;

fn res(
    group: &str,
    plural: &str,
    kind: &str,
    namespaced: bool,
    has_status: bool,
    has_scale: bool,
) -> Arc<ResourceInfo> {
    Arc::new(ResourceInfo {
        group: group.into(),
        version: "v1".into(),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        kind: kind.into(),
        namespaced,
        short_names: vec![],
        categories: vec![],
        verbs: vec![],
        has_status,
        has_scale,
    })
}

fn pods() -> Arc<ResourceInfo> {
    res("", "pods", "Pod", true, true, false)
}
fn cms() -> Arc<ResourceInfo> {
    res("", "configmaps", "ConfigMap", true, false, false)
}
fn deploys() -> Arc<ResourceInfo> {
    res("apps", "deployments", "Deployment", true, true, true)
}
fn namespaces() -> Arc<ResourceInfo> {
    res("", "namespaces", "Namespace", false, true, false)
}

struct Req(ApiRequest);

impl Req {
    fn new(verb: Verb, info: Arc<ResourceInfo>) -> Req {
        Req(ApiRequest {
            verb,
            resource: info,
            namespace: None,
            name: None,
            subresource: None,
            query: BTreeMap::new(),
            body: Bytes::new(),
            content_type: Some("application/json".into()),
            user: UserInfo::default(),
            user_agent: None,
        })
    }
    fn ns(mut self, ns: &str) -> Req {
        self.0.namespace = Some(ns.into());
        self
    }
    fn name(mut self, n: &str) -> Req {
        self.0.name = Some(n.into());
        self
    }
    fn sub(mut self, s: &str) -> Req {
        self.0.subresource = Some(s.into());
        self
    }
    fn q(mut self, k: &str, v: &str) -> Req {
        self.0.query.entry(k.into()).or_default().push(v.into());
        self
    }
    fn body(mut self, v: Value) -> Req {
        self.0.body = Bytes::from(v.to_string());
        self
    }
    fn raw(mut self, b: &'static str) -> Req {
        self.0.body = Bytes::from_static(b.as_bytes());
        self
    }
    fn ct(mut self, ct: &str) -> Req {
        self.0.content_type = Some(ct.into());
        self
    }
}

async fn call(r: &Registry, req: Req) -> Result<(u16, Value), ApiError> {
    match r.handle(req.0).await? {
        ApiResponse::Object { code, body } => Ok((code, body)),
        ApiResponse::Watch(_) => panic!("unexpected watch"),
    }
}

async fn ok(r: &Registry, req: Req) -> Value {
    match call(r, req).await {
        Ok((_, v)) => v,
        Err(e) => panic!("request failed: {e:?}"),
    }
}

async fn err(r: &Registry, req: Req) -> ApiError {
    match call(r, req).await {
        Ok((c, v)) => panic!("expected an error, got {c} {v}"),
        Err(e) => e,
    }
}

async fn watch(r: &Registry, req: Req) -> WatchStream {
    match r.handle(req.0).await {
        Ok(ApiResponse::Watch(s)) => s,
        Ok(ApiResponse::Object { body, .. }) => panic!("expected a watch, got {body}"),
        Err(e) => panic!("watch failed: {e:?}"),
    }
}

async fn next(s: &mut WatchStream) -> (String, Value) {
    match tokio::time::timeout(Duration::from_secs(5), s.next()).await {
        Ok(Some(ev)) => (ev.event_type.to_owned(), (*ev.object).clone()),
        Ok(None) => panic!("stream ended"),
        Err(_) => panic!("no event within 5s"),
    }
}

fn rv(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()
}

fn cm(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": "v"}})
}

fn deployment(name: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

async fn create_cm(r: &Registry, ns: &str, name: &str) -> Value {
    ok(r, Req::new(Verb::Create, cms()).ns(ns).body(cm(name))).await
}

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

#[tokio::test]
async fn status_subresource() {
    let r = Registry::new();
    let d = ok(&r, Req::new(Verb::Create, deploys()).ns("default").body(deployment("web"))).await;
    // Like kube-apiserver (Go's non-pointer status struct): an empty status, not none.
    assert_eq!(d["status"], json!({}), "a new deployment has an empty status");
    let c = ok(&r, Req::new(Verb::Create, cms()).ns("default").body(cm("no-status"))).await;
    assert!(c.get("status").is_none(), "config maps have no status: {c}");
    let mut b = d.clone();
    b["status"] = json!({"replicas": 2, "readyReplicas": 1});
    b["spec"]["replicas"] = json!(9);
    let s = ok(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").sub("status").body(b)).await;
    assert_eq!(s["status"]["readyReplicas"], 1);
    assert_eq!(s["spec"]["replicas"], 2, "spec changes through /status are ignored");
    assert_eq!(s["metadata"]["generation"], 1);
    let g = ok(&r, Req::new(Verb::Get, deploys()).ns("default").name("web").sub("status")).await;
    assert_eq!(g["status"]["replicas"], 2);
    let p = ok(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .sub("status")
            .ct("application/merge-patch+json")
            .body(json!({"status": {"replicas": 3}})),
    )
    .await;
    assert_eq!(p["status"]["replicas"], 3);
    assert_eq!(p["status"]["readyReplicas"], 1);
    let e = err(&r, Req::new(Verb::Get, cms()).ns("default").name("x").sub("status")).await;
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn scale_subresource() {
    let r = Registry::new();
    let d = ok(&r, Req::new(Verb::Create, deploys()).ns("default").body(deployment("web"))).await;
    let s = ok(&r, Req::new(Verb::Get, deploys()).ns("default").name("web").sub("scale")).await;
    assert_eq!(s["kind"], "Scale");
    assert_eq!(s["apiVersion"], "autoscaling/v1");
    assert_eq!(s["spec"]["replicas"], 2);
    assert_eq!(s["status"]["selector"], "app=web");
    assert_eq!(s["metadata"]["uid"], d["metadata"]["uid"]);
    let mut put = s.clone();
    put["spec"]["replicas"] = json!(4);
    let s2 = ok(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").sub("scale").body(put.clone())).await;
    assert_eq!(s2["spec"]["replicas"], 4);
    // Stale Scale resourceVersion.
    let e = err(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").sub("scale").body(put)).await;
    assert_eq!(e.code, 409);
    let s3 = ok(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .sub("scale")
            .ct("application/merge-patch+json")
            .body(json!({"spec": {"replicas": 1}})),
    )
    .await;
    assert_eq!(s3["spec"]["replicas"], 1);
    let g = ok(&r, Req::new(Verb::Get, deploys()).ns("default").name("web")).await;
    assert_eq!(g["spec"]["replicas"], 1);
    assert_eq!(g["metadata"]["generation"], 3);
    let e = err(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .sub("scale")
            .ct("application/merge-patch+json")
            .body(json!({"spec": {"replicas": -1}})),
    )
    .await;
    assert_eq!(e.code, 422);
    let e = err(&r, Req::new(Verb::Get, cms()).ns("default").name("x").sub("scale")).await;
    assert_eq!(e.code, 404);
}

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
    assert!(e.message.contains("Precondition failed: UID in precondition: nope"), "{}", e.message);
    let e = err(
        &r,
        Req::new(Verb::Delete, cms()).ns("default").name("x").body(json!({"preconditions": {"resourceVersion": "1"}})),
    )
    .await;
    assert_eq!(e.code, 409);
    assert!(e.message.contains("Precondition failed: ResourceVersion in precondition: 1"));
    let (code, d) = call(&r, Req::new(Verb::Delete, cms()).ns("default").name("x").q("gracePeriodSeconds", "0").q("propagationPolicy", "Background")
        .body(json!({"preconditions": {"uid": c["metadata"]["uid"], "resourceVersion": c["metadata"]["resourceVersion"]}}))).await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(d["metadata"]["name"], "x");
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
async fn delete_collection_with_selector() {
    let r = Registry::new();
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut b = cm(n);
        b["metadata"]["labels"] = json!({"app": app});
        ok(&r, Req::new(Verb::Create, cms()).ns("default").body(b)).await;
    }
    create_cm(&r, "kube-system", "other").await;
    let l = ok(&r, Req::new(Verb::DeleteCollection, cms()).ns("default").q("labelSelector", "app=x")).await;
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["items"].as_array().unwrap().len(), 2);
    let left = ok(&r, Req::new(Verb::List, cms())).await;
    let names: Vec<&str> =
        left["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["c", "other"]);
}

#[tokio::test]
async fn list_selectors() {
    let r = Registry::new();
    for (n, app, node) in [("p1", "web", "n1"), ("p2", "web", "n2"), ("p3", "db", "n1")] {
        ok(
            &r,
            Req::new(Verb::Create, pods())
                .ns("default")
                .body(json!({"metadata": {"name": n, "labels": {"app": app}}, "spec": {"nodeName": node}})),
        )
        .await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_owned()).collect()
    };
    let l = ok(
        &r,
        Req::new(Verb::List, pods())
            .ns("default")
            .q("labelSelector", "app in (web)")
            .q("fieldSelector", "spec.nodeName=n1"),
    )
    .await;
    assert_eq!(names(&l), vec!["p1"]);
    assert_eq!(l["kind"], "PodList");
    assert_eq!(l["apiVersion"], "v1");
    assert_eq!(l["items"][0]["kind"], "Pod");
    let l = ok(&r, Req::new(Verb::List, pods()).q("labelSelector", "app!=web")).await;
    assert_eq!(names(&l), vec!["p3"]);
    let e = err(&r, Req::new(Verb::List, pods()).q("labelSelector", "app in web")).await;
    assert_eq!(e.code, 400);
    let e = err(&r, Req::new(Verb::List, pods()).q("fieldSelector", "spec.bogus=1")).await;
    assert_eq!((e.code, e.message.as_str()), (400, "field label not supported: spec.bogus"));
}

#[tokio::test]
async fn paging_is_a_consistent_snapshot() {
    let r = Registry::new();
    for i in 0..10 {
        create_cm(&r, "default", &format!("c{i}")).await;
    }
    let mut seen = Vec::new();
    let first = ok(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "3")).await;
    assert_eq!(first["metadata"]["remainingItemCount"], 7);
    let list_rv = first["metadata"]["resourceVersion"].clone();
    let mut page = first;
    let mut round = 0;
    loop {
        for i in page["items"].as_array().unwrap() {
            seen.push(i["metadata"]["name"].as_str().unwrap().to_owned());
        }
        let Some(token) = page["metadata"]["continue"].as_str().map(str::to_owned) else {
            break;
        };
        // Concurrent writes between pages: delete one not yet seen, add one, change one.
        round += 1;
        if round == 1 {
            ok(&r, Req::new(Verb::Delete, cms()).ns("default").name("c8")).await;
            create_cm(&r, "default", "c55").await;
            ok(
                &r,
                Req::new(Verb::Patch, cms())
                    .ns("default")
                    .name("c9")
                    .ct("application/merge-patch+json")
                    .body(json!({"data": {"k": "new"}})),
            )
            .await;
        }
        page = ok(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "3").q("continue", &token)).await;
        assert_eq!(page["metadata"]["resourceVersion"], list_rv);
        if let Some(i) = page["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == "c9") {
            assert_eq!(i["data"]["k"], "v", "page shows the snapshot, not the patched object");
        }
    }
    let want: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    assert_eq!(seen, want);
    let e = err(&r, Req::new(Verb::List, cms()).q("continue", "garbage!")).await;
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn too_old_continue_and_exact_rv() {
    let r = Registry::with_options(StoreConfig { history_capacity: 3, watch_buffer: 16 }, Duration::from_secs(60));
    for i in 0..4 {
        create_cm(&r, "default", &format!("c{i}")).await;
    }
    let first = ok(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "2")).await;
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    let old_rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    // Exact at a covered rv works.
    let l = ok(&r, Req::new(Verb::List, cms()).q("resourceVersion", &old_rv).q("resourceVersionMatch", "Exact")).await;
    assert_eq!(l["items"].as_array().unwrap().len(), 4);
    for i in 0..5 {
        create_cm(&r, "default", &format!("n{i}")).await;
    }
    let e = err(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "2").q("continue", &token)).await;
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    assert!(e.message.starts_with("The provided continue parameter is too old"));
    let e = err(&r, Req::new(Verb::List, cms()).q("resourceVersion", &old_rv).q("resourceVersionMatch", "Exact")).await;
    assert_eq!(e.code, 410);
    assert!(e.message.starts_with("too old resource version: "));
    let e =
        err(&r, Req::new(Verb::List, cms()).q("resourceVersion", "999999").q("resourceVersionMatch", "NotOlderThan"))
            .await;
    assert_eq!(e.code, 504);
    let e = err(&r, Req::new(Verb::List, cms()).q("resourceVersionMatch", "Exact")).await;
    assert_eq!(e.code, 422);
    let e = err(&r, Req::new(Verb::List, cms()).q("resourceVersion", "0").q("resourceVersionMatch", "Bogus")).await;
    assert_eq!(e.code, 422);
}

#[tokio::test]
async fn watch_from_rv_and_initial_state() {
    let r = Registry::new();
    create_cm(&r, "default", "a").await;
    let mid = r.store().current_rv();
    create_cm(&r, "default", "b").await;
    create_cm(&r, "kube-system", "other").await;
    let mut w = watch(&r, Req::new(Verb::Watch, cms()).ns("default").q("resourceVersion", &mid.to_string())).await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "b"));
    assert_eq!(o["kind"], "ConfigMap");
    ok(&r, Req::new(Verb::Delete, cms()).ns("default").name("a")).await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("DELETED", "a"));
    assert!(rv(&o) > mid);

    // No resourceVersion: synthetic ADDED for the current state, then live events.
    let mut w = watch(&r, Req::new(Verb::Watch, cms())).await;
    let mut names = vec![next(&mut w).await.1["metadata"]["name"].as_str().unwrap().to_owned()];
    names.push(next(&mut w).await.1["metadata"]["name"].as_str().unwrap().to_owned());
    assert_eq!(names, vec!["b", "other"]);
    create_cm(&r, "default", "c").await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "c"));
}

#[tokio::test]
async fn watch_too_old_is_an_error_event() {
    let r = Registry::with_options(StoreConfig { history_capacity: 2, watch_buffer: 16 }, Duration::from_secs(60));
    let start = r.store().current_rv();
    for i in 0..4 {
        create_cm(&r, "default", &format!("c{i}")).await;
    }
    let mut w = watch(&r, Req::new(Verb::Watch, cms()).q("resourceVersion", &start.to_string())).await;
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "ERROR");
    assert_eq!(o["code"], 410);
    assert_eq!(o["reason"], "Expired");
    assert!(o["message"].as_str().unwrap().starts_with(&format!("too old resource version: {start} (")));
    assert!(w.next().await.is_none());
}

#[tokio::test]
async fn bookmarks_and_timeout() {
    let r = Registry::with_bookmark_interval(Duration::from_millis(50));
    create_cm(&r, "default", "a").await;
    let now = r.store().current_rv();
    let mut w =
        watch(&r, Req::new(Verb::Watch, cms()).q("resourceVersion", &now.to_string()).q("allowWatchBookmarks", "true"))
            .await;
    create_cm(&r, "default", "b").await;
    assert_eq!(next(&mut w).await.0, "ADDED");
    // A write to another resource moves the global resourceVersion on.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(json!({"metadata": {"name": "p"}}))).await;
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "BOOKMARK");
    assert_eq!(o["kind"], "ConfigMap");
    assert_eq!(o["apiVersion"], "v1");
    assert_eq!(rv(&o), r.store().current_rv());

    let mut w =
        watch(&r, Req::new(Verb::Watch, cms()).q("resourceVersion", &now.to_string()).q("timeoutSeconds", "1")).await;
    assert_eq!(next(&mut w).await.0, "ADDED");
    let end = tokio::time::timeout(Duration::from_secs(5), w.next()).await.expect("timeoutSeconds ends the stream");
    assert!(end.is_none());
}

#[tokio::test]
async fn send_initial_events() {
    let r = Registry::with_bookmark_interval(Duration::from_secs(3600));
    create_cm(&r, "default", "a").await;
    create_cm(&r, "default", "b").await;
    let e = err(&r, Req::new(Verb::Watch, cms()).q("sendInitialEvents", "true").q("allowWatchBookmarks", "true")).await;
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
        "{}",
        e.message
    );
    let at = r.store().current_rv();
    let mut w = watch(
        &r,
        Req::new(Verb::Watch, cms())
            .q("sendInitialEvents", "true")
            .q("allowWatchBookmarks", "true")
            .q("resourceVersionMatch", "NotOlderThan"),
    )
    .await;
    assert_eq!(next(&mut w).await.1["metadata"]["name"], "a");
    assert_eq!(next(&mut w).await.1["metadata"]["name"], "b");
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "BOOKMARK");
    assert_eq!(o["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    assert_eq!(rv(&o), at);
    create_cm(&r, "default", "c").await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "c"));
    let e = err(&r, Req::new(Verb::List, cms()).q("sendInitialEvents", "true")).await;
    assert_eq!(e.code, 422);
}

#[tokio::test]
async fn selector_transitions() {
    let r = Registry::new();
    let mut w = watch(
        &r,
        Req::new(Verb::Watch, cms())
            .ns("default")
            .q("labelSelector", "app=web")
            .q("resourceVersion", &r.store().current_rv().to_string()),
    )
    .await;
    create_cm(&r, "default", "x").await; // does not match: nothing
    ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("x")
            .ct("application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "x"));
    ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("x")
            .ct("application/merge-patch+json")
            .body(json!({"data": {"more": "1"}})),
    )
    .await;
    assert_eq!(next(&mut w).await.0, "MODIFIED");
    let p = ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("x")
            .ct("application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "DELETED");
    assert_eq!(o["metadata"]["labels"]["app"], "web", "the last matching state");
    assert_eq!(rv(&o), rv(&p), "at the version that made it stop matching");

    // Single-object watch by field selector.
    let mut w = watch(&r, Req::new(Verb::Watch, cms()).ns("default").q("fieldSelector", "metadata.name=y")).await;
    create_cm(&r, "default", "z").await;
    create_cm(&r, "default", "y").await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "y"));
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
    let _w = watch(&r, Req::new(Verb::Watch, cms()).q("timeoutSeconds", "18446744073709551615")).await;
    let _w =
        watch(&r, Req::new(Verb::Watch, cms()).q("continue", "x").q("resourceVersion", "18446744073709551615")).await;
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

fn bindings() -> Arc<ResourceInfo> {
    res("", "bindings", "Binding", true, false, false)
}
fn pdbs() -> Arc<ResourceInfo> {
    res("policy", "poddisruptionbudgets", "PodDisruptionBudget", true, true, false)
}

fn pod(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
}

/// The `Status` kube-apiserver answers a successful binding or eviction with.
fn assert_created_success(answer: Result<(u16, Value), ApiError>) {
    let (code, body) = answer.expect("request succeeds");
    assert_eq!(code, 201);
    assert_eq!(body, json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}));
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

#[tokio::test]
async fn pod_binding() {
    let r = Registry::new();
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("q", json!({})))).await;
    let binding = |name: &str, node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "annotations": {"scheduled-by": "test"}},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    };
    let bind =
        |name: &str, body: Value| Req::new(Verb::Create, pods()).ns("default").name(name).sub("binding").body(body);

    let dry = call(&r, bind("q", binding("q", "node-x")).q("dryRun", "All")).await;
    assert_created_success(dry);
    let q = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("q")).await;
    assert!(q["spec"].get("nodeName").is_none(), "dry run binds nothing");

    assert_created_success(call(&r, bind("q", binding("q", "node-x"))).await);
    let q = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("q")).await;
    assert_eq!(q["spec"]["nodeName"], "node-x");
    assert_eq!(q["metadata"]["annotations"]["scheduled-by"], "test");
    let scheduled =
        q["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PodScheduled").cloned().unwrap();
    assert_eq!(scheduled["status"], "True");

    let again = err(&r, bind("q", binding("q", "node-y"))).await;
    assert_eq!((again.code, again.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        again.message,
        "Operation cannot be fulfilled on pods/binding \"q\": pod q is already assigned to node \"node-x\""
    );

    let mismatch = err(&r, bind("q", binding("other", "node-x"))).await;
    assert_eq!((mismatch.code, mismatch.message.as_str()), (400, "name in URL does not match name in Binding object"));
    let no_target =
        err(&r, bind("q", json!({"kind": "Binding", "metadata": {"name": "q"}, "target": {"kind": "Pod"}}))).await;
    assert_eq!(no_target.code, 422);
    assert!(
        no_target.message.contains("target.kind") && no_target.message.contains("target.name: Required value"),
        "{}",
        no_target.message
    );
    assert_eq!(err(&r, bind("nope", binding("nope", "node-x"))).await.code, 404);
    let get = err(&r, Req::new(Verb::Get, pods()).ns("default").name("q").sub("binding")).await;
    assert_eq!(get.code, 405);

    // The older form: POST namespaces/<ns>/bindings, the pod named in the body.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("r", json!({})))).await;
    assert_created_success(
        call(&r, Req::new(Verb::Create, bindings()).ns("default").body(binding("r", "node-z"))).await,
    );
    let pr = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("r")).await;
    assert_eq!(pr["spec"]["nodeName"], "node-z");
}

#[tokio::test]
async fn pod_eviction_and_disruption_budgets() {
    let r = Registry::new();
    let evict =
        |name: &str, body: Value| Req::new(Verb::Create, pods()).ns("default").name(name).sub("eviction").body(body);
    let eviction = |name: &str| json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}});

    // No budget: the pod is deleted.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("a", json!({"app": "a"})))).await;
    let mismatch = err(&r, evict("a", eviction("b"))).await;
    assert_eq!((mismatch.code, mismatch.message.as_str()), (400, "name in URL does not match name in Eviction object"));
    let mut dry = eviction("a");
    dry["deleteOptions"] = json!({"dryRun": ["All"]});
    assert_created_success(call(&r, evict("a", dry)).await);
    ok(&r, Req::new(Verb::Get, pods()).ns("default").name("a")).await;
    assert_created_success(call(&r, evict("a", eviction("a"))).await);
    assert_eq!(err(&r, Req::new(Verb::Get, pods()).ns("default").name("a")).await.code, 404);
    assert_eq!(err(&r, evict("a", eviction("a"))).await.code, 404);

    // The deleteOptions apply: a failed precondition is a conflict.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("u", json!({})))).await;
    let mut pre = eviction("u");
    pre["deleteOptions"] = json!({"preconditions": {"uid": "not-the-uid"}});
    assert_eq!(err(&r, evict("u", pre)).await.code, 409);

    // A running pod selected by a budget.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("web-1", json!({"app": "web"})))).await;
    let mut running = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("web-1")).await;
    running["status"] = json!({"phase": "Running"});
    ok(&r, Req::new(Verb::Update, pods()).ns("default").name("web-1").sub("status").body(running)).await;
    ok(
        &r,
        Req::new(Verb::Create, pdbs()).ns("default").body(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})),
    )
    .await;
    let unprocessed = err(&r, evict("web-1", eviction("web-1"))).await;
    assert_eq!((unprocessed.code, unprocessed.reason.as_str()), (429, "TooManyRequests"));
    assert!(unprocessed.details.as_ref().unwrap().to_string().contains("is still being processed by the server"));

    let set_status = |status: Value| async {
        let mut pdb = ok(&r, Req::new(Verb::Get, pdbs()).ns("default").name("web")).await;
        pdb["status"] = status;
        ok(&r, Req::new(Verb::Update, pdbs()).ns("default").name("web").sub("status").body(pdb)).await;
    };
    set_status(json!({"observedGeneration": 1, "disruptionsAllowed": 0, "desiredHealthy": 1, "currentHealthy": 1, "expectedPods": 1})).await;
    let blocked = err(&r, evict("web-1", eviction("web-1"))).await;
    assert_eq!(blocked.code, 429);
    assert_eq!(blocked.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert_eq!(
        blocked.details,
        Some(
            json!({"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget web needs 1 healthy pods and has 1 currently"}]})
        )
    );
    ok(&r, Req::new(Verb::Get, pods()).ns("default").name("web-1")).await;

    set_status(json!({"observedGeneration": 1, "disruptionsAllowed": 1, "desiredHealthy": 1, "currentHealthy": 2, "expectedPods": 2})).await;
    assert_created_success(call(&r, evict("web-1", eviction("web-1"))).await);
    assert_eq!(err(&r, Req::new(Verb::Get, pods()).ns("default").name("web-1")).await.code, 404);
    let pdb = ok(&r, Req::new(Verb::Get, pdbs()).ns("default").name("web")).await;
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert!(pdb["status"]["disruptedPods"].get("web-1").is_some(), "{}", pdb["status"]);

    // A pending pod is evicted whatever the budget says.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("web-2", json!({"app": "web"})))).await;
    assert_created_success(call(&r, evict("web-2", eviction("web-2"))).await);
}

#[tokio::test]
async fn pod_ephemeral_containers() {
    let r = Registry::new();
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("p", json!({"a": "1"})))).await;
    let sub = |verb: Verb| Req::new(verb, pods()).ns("default").name("p").sub("ephemeralcontainers");
    let got = ok(&r, sub(Verb::Get)).await;
    assert_eq!((got["kind"].as_str(), got["metadata"]["name"].as_str()), (Some("Pod"), Some("p")));

    let mut p = got.clone();
    p["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}]);
    p["spec"]["containers"][0]["image"] = json!("nginx");
    p["metadata"]["labels"] = json!({"a": "2"});
    let updated = ok(&r, sub(Verb::Update).body(p.clone())).await;
    assert_eq!(updated["spec"]["ephemeralContainers"][0]["name"], "debug");
    assert_eq!(updated["spec"]["containers"][0]["image"], "busybox", "only ephemeral containers change");
    assert_eq!(updated["metadata"]["labels"]["a"], "1");
    let stale = err(&r, sub(Verb::Update).body(p.clone())).await;
    assert_eq!(stale.code, 409, "the body's resourceVersion is a precondition");

    let mut removed = updated.clone();
    removed["spec"]["ephemeralContainers"] = json!([]);
    let e = err(&r, sub(Verb::Update).body(removed)).await;
    assert_eq!(e.code, 422);
    assert!(e.message.contains("may not be removed"), "{}", e.message);
    let mut changed = updated.clone();
    changed["spec"]["ephemeralContainers"][0]["image"] = json!("alpine");
    assert!(err(&r, sub(Verb::Update).body(changed)).await.message.contains("may not be changed"));
    let mut dup = updated.clone();
    dup["spec"]["ephemeralContainers"] =
        json!([{"name": "debug", "image": "busybox"}, {"name": "c", "image": "busybox"}]);
    assert!(err(&r, sub(Verb::Update).body(dup)).await.message.contains("Duplicate value: \"c\""));

    let patched = ok(
        &r,
        sub(Verb::Patch)
            .ct("application/json-patch+json")
            .body(json!([{"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "debug2", "image": "busybox"}}])),
    )
    .await;
    let names: Vec<_> =
        patched["spec"]["ephemeralContainers"].as_array().unwrap().iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, vec![json!("debug"), json!("debug2")]);
    let tracked = patched["metadata"]["managedFields"].as_array().unwrap();
    assert!(tracked.iter().any(|e| e["subresource"] == "ephemeralcontainers"), "{tracked:?}");

    assert_eq!(err(&r, sub(Verb::Delete)).await.code, 405);
}
