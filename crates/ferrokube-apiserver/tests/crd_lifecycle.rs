//! CustomResourceDefinitions over HTTPS: creating a CRD starts serving its resource
//! (discovery, both versions, short names, categories, status and scale subresources),
//! custom resources get schema defaults, pruning and validation, and deleting the CRD
//! removes its objects and stops serving it.

mod server_support;

use std::time::Duration;

use bytes::Bytes;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server_support::{assert_status, Client, Resp};

const CRDS: &str = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const CT_V1: &str = "/apis/stable.example.com/v1/namespaces/default/crontabs";
const CT_BETA: &str = "/apis/stable.example.com/v1beta1/namespaces/default/crontabs";
const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

async fn start() -> (EmbeddedServer, Client) {
    let server = EmbeddedServer::start(ServerOptions { controllers: false, ..ServerOptions::default() }).await.unwrap();
    let client = Client::new(&server);
    (server, client)
}

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["cronSpec"],
                "properties": {
                    "cronSpec": {"type": "string"},
                    "image": {"type": "string", "default": "busybox"},
                    "replicas": {"type": "integer", "minimum": 0, "default": 1},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }
            },
            "status": {
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer"},
                    "selector": {"type": "string"},
                    "phase": {"type": "string"}
                }
            }
        }
    })
}

fn crontab_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "crontabs.stable.example.com"},
        "spec": {
            "group": "stable.example.com",
            "scope": "Namespaced",
            "names": {"plural": "crontabs", "kind": "CronTab", "shortNames": ["ct"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": schema()},
                 "additionalPrinterColumns": [
                     {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                     {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                     {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
                 "subresources": {"status": {}, "scale": {
                     "specReplicasPath": ".spec.replicas",
                     "statusReplicasPath": ".status.replicas",
                     "labelSelectorPath": ".status.selector"}}},
                {"name": "v1beta1", "served": true, "storage": false, "schema": {"openAPIV3Schema": schema()},
                 "subresources": {"status": {}}}
            ]
        }
    })
}

async fn send_json(client: &Client, method: Method, path: &str, content_type: &str, body: &Value) -> Resp {
    client.request(method, path, &[("content-type", content_type)], serde_json::to_vec(body).unwrap()).await.unwrap()
}

async fn put(client: &Client, path: &str, body: &Value) -> Resp {
    send_json(client, Method::PUT, path, "application/json", body).await
}

async fn delete(client: &Client, path: &str) -> Resp {
    client.request(Method::DELETE, path, &[], Bytes::new()).await.unwrap()
}

fn ok(r: &Resp, code: u16) -> Value {
    assert_eq!(r.status, code, "{}", String::from_utf8_lossy(&r.body));
    r.json()
}

fn condition<'v>(crd: &'v Value, kind: &str) -> Option<&'v Value> {
    crd["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == kind)
}

fn resource<'v>(list: &'v Value, name: &str) -> Option<&'v Value> {
    list["resources"].as_array()?.iter().find(|r| r["name"] == name)
}

fn aggregated_resource(doc: &Value, group: &str, version: &str, plural: &str) -> Option<Value> {
    let item = doc["items"].as_array()?.iter().find(|i| i["metadata"]["name"] == group)?;
    let v = item["versions"].as_array()?.iter().find(|v| v["version"] == version)?;
    v["resources"].as_array()?.iter().find(|r| r["resource"] == plural).cloned()
}

async fn next_event(body: &mut hyper::body::Incoming, buf: &mut Vec<u8>) -> Value {
    loop {
        if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            return serde_json::from_slice(&line).unwrap();
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("watch event in time")
            .expect("stream open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
}

#[tokio::test]
async fn crd_life_cycle() {
    let (server, client) = start().await;

    // Not served before the CRD exists.
    assert_eq!(client.get(CT_V1).await.status, 404);

    let created = ok(&client.post_json(CRDS, &crontab_crd()).await, 201);
    assert_eq!(created["spec"]["names"]["singular"], "crontab");
    assert_eq!(created["spec"]["names"]["listKind"], "CronTabList");
    // The create answers as kube's does, before its controllers have accepted the
    // names; by the time it returns they have, and the CRD is served.
    assert_eq!(created["status"]["conditions"], Value::Null);
    assert_eq!(created["status"]["acceptedNames"], json!({"plural": "", "kind": ""}));
    let crd = ok(&client.get(&format!("{CRDS}/crontabs.stable.example.com")).await, 200);
    let status_writer = crd["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["subresource"] == "status")
        .expect("the controllers' status entry");
    assert_eq!(status_writer["manager"], "kube-apiserver");
    let established = condition(&crd, "Established").expect("Established condition");
    assert_eq!(established["status"], "True");
    assert_eq!(established["reason"], "InitialNamesAccepted");
    assert_eq!(condition(&crd, "NamesAccepted").unwrap()["status"], "True");
    assert_eq!(crd["status"]["acceptedNames"]["shortNames"], json!(["ct"]));
    assert_eq!(crd["status"]["storedVersions"], json!(["v1"]));
    let crd_table = ok(&client.get_accept(CRDS, TABLE).await, 200);
    assert_eq!(crd_table["columnDefinitions"][1]["name"], "Created At");
    assert_eq!(crd_table["rows"][0]["cells"][0], "crontabs.stable.example.com");
    let got = ok(&client.get(&format!("{CRDS}/crontabs.stable.example.com")).await, 200);
    assert_eq!(condition(&got, "Established").unwrap()["status"], "True");

    // Legacy discovery.
    let groups = ok(&client.get("/apis").await, 200);
    let group = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "stable.example.com")
        .expect("group listed")
        .clone();
    assert_eq!(group["preferredVersion"]["version"], "v1");
    assert_eq!(group["versions"].as_array().unwrap().len(), 2);
    ok(&client.get("/apis/stable.example.com").await, 200);
    let list = ok(&client.get("/apis/stable.example.com/v1").await, 200);
    let ct = resource(&list, "crontabs").expect("crontabs listed");
    assert_eq!(ct["shortNames"], json!(["ct"]));
    assert_eq!(ct["categories"], json!(["all"]));
    assert_eq!(ct["singularName"], "crontab");
    assert_eq!(ct["kind"], "CronTab");
    assert_eq!(ct["namespaced"], true);
    assert!(ct["verbs"].as_array().unwrap().iter().any(|v| v == "watch"));
    assert!(resource(&list, "crontabs/status").is_some());
    let scale = resource(&list, "crontabs/scale").expect("scale listed");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["group"], "autoscaling");
    let beta = ok(&client.get("/apis/stable.example.com/v1beta1").await, 200);
    assert!(resource(&beta, "crontabs/status").is_some());
    assert!(resource(&beta, "crontabs/scale").is_none());

    // Aggregated discovery.
    let doc = ok(&client.get_accept("/apis", AGGREGATED).await, 200);
    let agg = aggregated_resource(&doc, "stable.example.com", "v1", "crontabs").expect("aggregated lists crontabs");
    assert_eq!(agg["scope"], "Namespaced");
    assert_eq!(agg["singularResource"], "crontab");
    // Unlike a built-in kind's, a custom resource's response kind is written out, and
    // its status comes before its scale, as kube lists them.
    assert_eq!(agg["responseKind"], json!({"group": "stable.example.com", "version": "v1", "kind": "CronTab"}));
    let subs: Vec<&str> =
        agg["subresources"].as_array().unwrap().iter().filter_map(|s| s["subresource"].as_str()).collect();
    assert_eq!(subs, ["status", "scale"]);

    // Watch from the start.
    let (resp, _) = client.send(Method::GET, &format!("{CT_V1}?watch=true"), &[], Bytes::new()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut watch = resp.into_body();
    let mut buf = Vec::new();

    // Defaults, pruning, preserve-unknown-fields.
    let created = ok(
        &client
            .post_json(
                CT_V1,
                &json!({
                    "apiVersion": "stable.example.com/v1", "kind": "CronTab",
                    "metadata": {"name": "tab", "labels": {"app": "cron"}},
                    "spec": {"cronSpec": "* * * * */5", "unknown": "dropped", "extra": {"free": {"form": 1}}},
                    "topLevelJunk": true
                }),
            )
            .await,
        201,
    );
    assert_eq!(created["spec"]["image"], "busybox");
    assert_eq!(created["spec"]["replicas"], 1);
    assert!(created["spec"].get("unknown").is_none(), "{created}");
    assert!(created.get("topLevelJunk").is_none());
    // Custom resources get no empty status (built-in objects do).
    assert!(created.get("status").is_none(), "{created}");
    assert_eq!(created["spec"]["extra"]["free"]["form"], 1);
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["metadata"]["labels"]["app"], "cron");
    let ev = next_event(&mut watch, &mut buf).await;
    assert_eq!((ev["type"].as_str(), ev["object"]["metadata"]["name"].as_str()), (Some("ADDED"), Some("tab")));
    assert_eq!(ev["object"]["apiVersion"], "stable.example.com/v1");

    // kubectl get: the CRD's printer columns (v1), or Name and Age (v1beta1).
    let table = ok(&client.get_accept(CT_V1, TABLE).await, 200);
    let names: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Name", "Spec", "Replicas", "Age"]);
    let cells = &table["rows"][0]["cells"];
    assert_eq!((cells[0].as_str(), cells[1].as_str(), cells[2].as_i64()), (Some("tab"), Some("* * * * */5"), Some(1)));
    assert!(cells[3].as_str().unwrap().ends_with('s'), "{cells}");
    let table = ok(&client.get_accept(CT_BETA, TABLE).await, 200);
    let names: Vec<&str> =
        table["columnDefinitions"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["Name", "Age"]);

    // Validation: type, required, minimum.
    let r = client
        .post_json(CT_V1, &json!({"metadata": {"name": "bad"}, "spec": {"cronSpec": "x", "replicas": "string"}}))
        .await;
    assert_status(&r, 422, "Invalid");
    let s = r.json();
    assert_eq!(s["details"]["causes"][0]["field"], "spec.replicas");
    assert!(
        s["message"].as_str().unwrap().contains(
            "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
        ),
        "{s}"
    );
    assert_eq!(s["details"]["kind"], "CronTab");
    let r = client.post_json(CT_V1, &json!({"metadata": {"name": "bad"}, "spec": {"replicas": -1}})).await;
    assert_status(&r, 422, "Invalid");
    let msg = r.json()["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("spec.cronSpec: Required value"), "{msg}");
    assert!(msg.contains("spec.replicas in body should be greater than or equal to 0"), "{msg}");

    // Both versions read the same object, apiVersion as asked.
    let b = ok(&client.get(&format!("{CT_BETA}/tab")).await, 200);
    assert_eq!(b["apiVersion"], "stable.example.com/v1beta1");
    assert_eq!(b["spec"]["cronSpec"], "* * * * */5");
    let l = ok(&client.get(CT_BETA).await, 200);
    assert_eq!(l["kind"], "CronTabList");
    assert_eq!(l["items"].as_array().unwrap().len(), 1);
    let all = ok(&client.get("/apis/stable.example.com/v1/crontabs").await, 200);
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    // Status subresource: the main resource ignores status, /status ignores spec.
    let mut obj = ok(&client.get(&format!("{CT_V1}/tab")).await, 200);
    obj["status"] = json!({"replicas": 5});
    obj["spec"]["image"] = json!("nginx");
    let updated = ok(&put(&client, &format!("{CT_V1}/tab"), &obj).await, 200);
    assert!(updated.get("status").is_none(), "{updated}");
    assert_eq!(updated["spec"]["image"], "nginx");
    assert_eq!(updated["metadata"]["generation"], 2);
    let ev = next_event(&mut watch, &mut buf).await;
    assert_eq!(ev["type"], "MODIFIED");

    let mut st = updated.clone();
    st["status"] = json!({"replicas": 2, "selector": "app=cron", "phase": "Running", "junk": 1});
    st["spec"]["image"] = json!("ignored");
    let after = ok(&put(&client, &format!("{CT_V1}/tab/status"), &st).await, 200);
    assert_eq!(after["status"]["replicas"], 2);
    assert!(after["status"].get("junk").is_none());
    assert_eq!(after["spec"]["image"], "nginx");
    assert_eq!(after["metadata"]["generation"], 2);
    let got = ok(&client.get(&format!("{CT_V1}/tab/status")).await, 200);
    assert_eq!(got["status"]["phase"], "Running");

    // Metadata-only change: generation unchanged.
    let r = send_json(
        &client,
        Method::PATCH,
        &format!("{CT_V1}/tab"),
        "application/merge-patch+json",
        &json!({"metadata": {"labels": {"x": "y"}}}),
    )
    .await;
    assert_eq!(ok(&r, 200)["metadata"]["generation"], 2);

    // Scale subresource.
    let scale = ok(&client.get(&format!("{CT_V1}/tab/scale")).await, 200);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 1);
    assert_eq!(scale["status"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=cron");
    let mut new_scale = scale.clone();
    new_scale["spec"]["replicas"] = json!(4);
    let scaled = ok(&put(&client, &format!("{CT_V1}/tab/scale"), &new_scale).await, 200);
    assert_eq!(scaled["spec"]["replicas"], 4);
    let obj = ok(&client.get(&format!("{CT_V1}/tab")).await, 200);
    assert_eq!(obj["spec"]["replicas"], 4);
    assert_eq!(obj["metadata"]["generation"], 3);
    let r = send_json(
        &client,
        Method::PATCH,
        &format!("{CT_V1}/tab/scale"),
        "application/merge-patch+json",
        &json!({"spec": {"replicas": 6}}),
    )
    .await;
    assert_eq!(ok(&r, 200)["spec"]["replicas"], 6);
    assert_eq!(client.get(&format!("{CT_BETA}/tab/scale")).await.status, 404);

    // Patches: strategic merge is 415, merge and JSON patch work (with pruning).
    let r = send_json(
        &client,
        Method::PATCH,
        &format!("{CT_V1}/tab"),
        "application/strategic-merge-patch+json",
        &json!({"spec": {"image": "x"}}),
    )
    .await;
    assert_status(&r, 415, "UnsupportedMediaType");
    let r = send_json(
        &client,
        Method::PATCH,
        &format!("{CT_V1}/tab"),
        "application/merge-patch+json",
        &json!({"spec": {"image": "merged", "nope": 1}}),
    )
    .await;
    let merged = ok(&r, 200);
    assert_eq!(merged["spec"]["image"], "merged");
    assert!(merged["spec"].get("nope").is_none());
    let r = send_json(
        &client,
        Method::PATCH,
        &format!("{CT_BETA}/tab"),
        "application/json-patch+json",
        &json!([{"op": "replace", "path": "/spec/image", "value": "jp"}]),
    )
    .await;
    let jp = ok(&r, 200);
    assert_eq!(jp["spec"]["image"], "jp");
    assert_eq!(jp["apiVersion"], "stable.example.com/v1beta1");
    let r = send_json(
        &client,
        Method::PATCH,
        &format!("{CT_V1}/tab"),
        "application/merge-patch+json",
        &json!({"spec": {"replicas": "many"}}),
    )
    .await;
    assert_status(&r, 422, "Invalid");

    // Server-side apply creates and updates custom resources.
    let r = client
        .request(
            Method::PATCH,
            &format!("{CT_V1}/applied?fieldManager=test"),
            &[("content-type", "application/apply-patch+yaml")],
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata:\n  name: applied\nspec:\n  cronSpec: \"@daily\"\n",
        )
        .await
        .unwrap();
    assert!(r.status == 200 || r.status == 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["spec"]["image"], "busybox");

    // Updating the CRD: a short name, a new version, a new defaulted field.
    let mut crd = ok(&client.get(&format!("{CRDS}/crontabs.stable.example.com")).await, 200);
    crd["spec"]["names"]["shortNames"] = json!(["ct", "cts"]);
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["color"] =
        json!({"type": "string", "default": "blue"});
    let mut v2 = crd["spec"]["versions"][1].clone();
    v2["name"] = json!("v2");
    crd["spec"]["versions"].as_array_mut().unwrap().push(v2);
    let crd = ok(&put(&client, &format!("{CRDS}/crontabs.stable.example.com"), &crd).await, 200);
    assert_eq!(crd["status"]["acceptedNames"]["shortNames"], json!(["ct", "cts"]));
    let list = ok(&client.get("/apis/stable.example.com/v1").await, 200);
    assert_eq!(resource(&list, "crontabs").unwrap()["shortNames"], json!(["ct", "cts"]));
    let group = ok(&client.get("/apis/stable.example.com").await, 200);
    assert_eq!(group["preferredVersion"]["version"], "v2");
    let v2obj = ok(&client.get("/apis/stable.example.com/v2/namespaces/default/crontabs/tab").await, 200);
    assert_eq!(v2obj["apiVersion"], "stable.example.com/v2");
    // Defaults apply on read to objects stored before the default existed.
    let old = ok(&client.get(&format!("{CT_V1}/tab")).await, 200);
    assert_eq!(old["spec"]["color"], "blue");
    let listed = ok(&client.get(CT_V1).await, 200);
    assert!(listed["items"].as_array().unwrap().iter().all(|i| i["spec"]["color"] == "blue"));

    // Deleting the CRD removes its objects and stops serving it.
    let r = delete(&client, &format!("{CRDS}/crontabs.stable.example.com")).await;
    ok(&r, 200);
    let ev = loop {
        let ev = next_event(&mut watch, &mut buf).await;
        if ev["type"] == "DELETED" {
            break ev;
        }
    };
    assert_eq!(ev["object"]["metadata"]["namespace"], "default");
    assert_eq!(client.get(CT_V1).await.status, 404);
    assert_eq!(client.get("/apis/stable.example.com/v1").await.status, 404);
    let groups = ok(&client.get("/apis").await, 200);
    assert!(groups["groups"].as_array().unwrap().iter().all(|g| g["name"] != "stable.example.com"));
    let doc = ok(&client.get_accept("/apis", AGGREGATED).await, 200);
    assert!(aggregated_resource(&doc, "stable.example.com", "v1", "crontabs").is_none());
    assert_eq!(client.get(&format!("{CRDS}/crontabs.stable.example.com")).await.status, 404);

    // Re-creating serves an empty resource again.
    ok(&client.post_json(CRDS, &crontab_crd()).await, 201);
    let l = ok(&client.get(CT_V1).await, 200);
    assert_eq!(l["items"].as_array().unwrap().len(), 0);
    ok(&client.post_json(CT_V1, &json!({"metadata": {"name": "again"}, "spec": {"cronSpec": "x"}})).await, 201);

    server.shutdown().await;
}

#[tokio::test]
async fn cluster_scoped_crd_and_rejections() {
    let (server, client) = start().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.org"},
        "spec": {
            "group": "example.org",
            "scope": "Cluster",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    });
    let created = ok(&client.post_json(CRDS, &crd).await, 201);
    assert_eq!(created["spec"]["names"]["singular"], "widget");
    let list = ok(&client.get("/apis/example.org/v1alpha1").await, 200);
    let w = resource(&list, "widgets").unwrap();
    assert_eq!(w["namespaced"], false);
    assert!(resource(&list, "widgets/status").is_none());

    let obj = ok(
        &client
            .post_json(
                "/apis/example.org/v1alpha1/widgets",
                &json!({"metadata": {"name": "w1"}, "anything": {"goes": [1, 2]}}),
            )
            .await,
        201,
    );
    assert_eq!(obj["anything"]["goes"], json!([1, 2]));
    assert!(obj["metadata"].get("namespace").is_none());
    assert_eq!(client.get("/apis/example.org/v1alpha1/namespaces/default/widgets").await.status, 404);
    // Without a status subresource, status changes bump the generation.
    let mut o = obj.clone();
    o["status"] = json!({"ready": true});
    let u = ok(&put(&client, "/apis/example.org/v1alpha1/widgets/w1", &o).await, 200);
    assert_eq!(u["status"]["ready"], true);
    assert_eq!(u["metadata"]["generation"], 2);
    assert_eq!(client.get("/apis/example.org/v1alpha1/widgets/w1/status").await.status, 404);

    // A second CRD whose names clash is stored but not accepted or served.
    let clash = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.org"},
        "spec": {
            "group": "example.org",
            "scope": "Cluster",
            "names": {"plural": "gadgets", "kind": "Widget", "singular": "gadget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object"}}}]
        }
    });
    ok(&client.post_json(CRDS, &clash).await, 201);
    let c = ok(&client.get(&format!("{CRDS}/gadgets.example.org")).await, 200);
    let names = condition(&c, "NamesAccepted").unwrap();
    assert_eq!(names["status"], "False");
    assert_eq!(names["reason"], "KindConflict");
    assert_eq!(condition(&c, "Established").unwrap()["status"], "False");
    assert_eq!(client.get("/apis/example.org/v1/gadgets").await.status, 404);

    // Invalid CRDs are 422, never a crash.
    let mut bad = crd.clone();
    bad["metadata"]["name"] = json!("wrong.example.org");
    let r = client.post_json(CRDS, &bad).await;
    assert_status(&r, 422, "Invalid");
    assert!(r.json()["message"].as_str().unwrap().contains("must be spec.names.plural+\".\"+spec.group"));
    for mutate in [
        json!({"scope": "Everywhere"}),
        json!({"versions": []}),
        json!({"versions": [{"name": "v1", "served": true, "storage": false, "schema": {"openAPIV3Schema": {"type": "object"}}}]}),
        json!({"versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {"type": "object", "properties": {"a": "not a schema"}}}}]}),
        json!({"versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": [1, 2]}}]}),
        json!({"versions": "nope"}),
        json!({"names": null}),
    ] {
        let mut bad = crd.clone();
        bad["metadata"]["name"] = json!("things.example.org");
        bad["spec"]["names"]["plural"] = json!("things");
        for (k, v) in mutate.as_object().unwrap() {
            bad["spec"][k] = v.clone();
        }
        let r = client.post_json(CRDS, &bad).await;
        assert_status(&r, 422, "Invalid");
    }

    // Deleting a cluster-scoped CRD removes its objects.
    ok(&delete(&client, &format!("{CRDS}/widgets.example.org")).await, 200);
    assert_eq!(client.get("/apis/example.org/v1alpha1/widgets").await.status, 404);
    ok(&client.post_json(CRDS, &crd).await, 201);
    let l = ok(&client.get("/apis/example.org/v1alpha1/widgets").await, 200);
    assert_eq!(l["items"].as_array().unwrap().len(), 0);
    server.shutdown().await;
}

#[tokio::test]
async fn crd_deletion_waits_for_finalizers() {
    let (server, client) = start().await;
    ok(&client.post_json(CRDS, &crontab_crd()).await, 201);
    ok(
        &client
            .post_json(
                CT_V1,
                &json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "spec": {"cronSpec": "x"}}),
            )
            .await,
        201,
    );
    ok(&delete(&client, &format!("{CRDS}/crontabs.stable.example.com")).await, 200);
    let crd = ok(&client.get(&format!("{CRDS}/crontabs.stable.example.com")).await, 200);
    assert!(crd["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(crd["metadata"]["finalizers"], json!(["customresourcecleanup.apiextensions.k8s.io"]));
    assert_eq!(condition(&crd, "Terminating").unwrap()["status"], "True");
    let held = ok(&client.get(&format!("{CT_V1}/held")).await, 200);
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    let r = client.post_json(CT_V1, &json!({"metadata": {"name": "late"}, "spec": {"cronSpec": "x"}})).await;
    assert_status(&r, 405, "MethodNotAllowed");
    // Removing the CR's finalizer lets the CR go, then the CRD.
    let r = send_json(
        &client,
        Method::PATCH,
        &format!("{CT_V1}/held"),
        "application/merge-patch+json",
        &json!({"metadata": {"finalizers": null}}),
    )
    .await;
    ok(&r, 200);
    assert_eq!(client.get(&format!("{CRDS}/crontabs.stable.example.com")).await.status, 404);
    assert_eq!(client.get(CT_V1).await.status, 404);
    server.shutdown().await;
}
