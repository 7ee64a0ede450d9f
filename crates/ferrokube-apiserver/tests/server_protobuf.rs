//! Protobuf responses over HTTPS, as kube-apiserver serves them to client-go's typed
//! clients and kubectl (`Accept: application/vnd.kubernetes.protobuf, application/json`):
//! get, list, create/update/patch/delete answers, watch frames and `Status` errors in
//! protobuf for built-in types; JSON for custom resources and Tables; 406 where
//! kube-apiserver answers 406.

mod server_support;

use std::time::Duration;

use bytes::Bytes;
use ferrokube_apimachinery::protobuf::{decode_body, encode_body};
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server_support::{Client, Resp};

const PB: &str = "application/vnd.kubernetes.protobuf";
const TYPED: &str = "application/vnd.kubernetes.protobuf, application/json";

async fn start() -> (EmbeddedServer, Client) {
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let client = Client::new(&server);
    (server, client)
}

fn protobuf(r: &Resp, code: u16) -> Value {
    assert_eq!(r.status, code, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), PB);
    decode_body(&r.body).unwrap()
}

async fn typed(client: &Client, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Resp {
    client.request(method, path, &[("accept", TYPED), ("content-type", content_type)], body).await.unwrap()
}

#[tokio::test]
async fn crud_answers_in_protobuf() {
    let (server, client) = start().await;
    let cms = "/api/v1/namespaces/default/configmaps";
    // Create with a protobuf body, as kubectl and client-go send it.
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"x": "1"}},
                    "data": {"k": "v"}});
    let created =
        protobuf(&typed(&client, Method::POST, cms, PB, encode_body("v1", "ConfigMap", &cm).unwrap()).await, 201);
    assert_eq!(created["kind"], "ConfigMap");
    assert_eq!(created["data"], json!({"k": "v"}));
    let uid = created["metadata"]["uid"].as_str().unwrap().to_owned();
    assert!(created["metadata"]["creationTimestamp"].is_string());

    // Get: the same object as the JSON answer.
    let got = protobuf(&client.get_accept(&format!("{cms}/a"), TYPED).await, 200);
    let json_got = client.get(&format!("{cms}/a")).await.json();
    assert_eq!(got, json_got);

    // Update (JSON body, protobuf answer) and merge patch.
    let mut update = json_got.clone();
    update["data"]["k"] = json!("w");
    let updated = protobuf(
        &typed(&client, Method::PUT, &format!("{cms}/a"), "application/json", serde_json::to_vec(&update).unwrap())
            .await,
        200,
    );
    assert_eq!(updated["data"]["k"], "w");
    let patched = protobuf(
        &typed(
            &client,
            Method::PATCH,
            &format!("{cms}/a"),
            "application/merge-patch+json",
            br#"{"data":{"p":"q"}}"#.to_vec(),
        )
        .await,
        200,
    );
    assert_eq!(patched["data"], json!({"k": "w", "p": "q"}));

    // List: a ConfigMapList with its items and resourceVersion.
    client.post_json(cms, &json!({"metadata": {"name": "b"}})).await;
    let list = protobuf(&client.get_accept(cms, TYPED).await, 200);
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["apiVersion"], "v1");
    let names: Vec<&str> =
        list["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"a") && names.contains(&"b"), "{names:?}");
    assert!(list["metadata"]["resourceVersion"].is_string());
    // Items carry no type fields in protobuf (kube's lists do not), else the same list.
    let mut json_list = client.get(cms).await.json();
    for item in json_list["items"].as_array_mut().unwrap() {
        let item = item.as_object_mut().unwrap();
        item.remove("apiVersion");
        item.remove("kind");
    }
    assert_eq!(list, json_list);

    // A Deployment: nested specs, IntOrString, Quantity, inlined volume sources.
    let deploy = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                     "spec": {"containers": [{"name": "c", "image": "nginx",
                                              "resources": {"requests": {"cpu": "100m"}}}],
                              "volumes": [{"name": "v", "configMap": {"name": "a"}}]}}}});
    let body = encode_body("apps/v1", "Deployment", &deploy).unwrap();
    let created =
        protobuf(&typed(&client, Method::POST, "/apis/apps/v1/namespaces/default/deployments", PB, body).await, 201);
    let spec = &created["spec"]["template"]["spec"];
    assert_eq!(spec["volumes"][0]["configMap"]["name"], "a");
    assert_eq!(spec["containers"][0]["resources"]["requests"]["cpu"], "100m");
    assert_eq!(created["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "50%");
    let scale =
        protobuf(&client.get_accept("/apis/apps/v1/namespaces/default/deployments/web/scale", TYPED).await, 200);
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 2);

    // Delete answers in protobuf too: for a ConfigMap a Success Status naming it.
    let deleted = protobuf(&typed(&client, Method::DELETE, &format!("{cms}/a"), "", Vec::new()).await, 200);
    assert_eq!((deleted["kind"].as_str(), deleted["status"].as_str()), (Some("Status"), Some("Success")));
    assert_eq!(deleted["details"]["uid"], uid.as_str());
    server.shutdown().await;
}

#[tokio::test]
async fn errors_are_protobuf_status() {
    let (server, client) = start().await;
    let status = protobuf(&client.get_accept("/api/v1/namespaces/default/pods/nope", TYPED).await, 404);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["apiVersion"], "v1");
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NotFound");
    assert_eq!(status["code"], 404);
    assert_eq!(status["details"]["name"], "nope");
    // A bad protobuf body: 400, in protobuf.
    let r = typed(&client, Method::POST, "/api/v1/namespaces/default/configmaps", PB, b"k8s\0\xff".to_vec()).await;
    assert_eq!(protobuf(&r, 400)["reason"], "BadRequest");
    // JSON clients keep JSON errors.
    let r = client.get("/api/v1/namespaces/default/pods/nope").await;
    assert_eq!(r.header("content-type"), "application/json");
    server.shutdown().await;
}

/// Read one length-prefixed frame; returns `(type, enveloped object)`.
async fn next_frame(body: &mut hyper::body::Incoming, buf: &mut Vec<u8>) -> (String, Vec<u8>) {
    loop {
        if buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() >= 4 + len {
                let event: Vec<u8> = buf.drain(..4 + len).skip(4).collect();
                return split_watch_event(&event);
            }
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

/// `WatchEvent{type (1), object (2): RawExtension{raw (1)}}`, written by hand here.
fn split_watch_event(event: &[u8]) -> (String, Vec<u8>) {
    fn len_field(b: &[u8]) -> (u8, &[u8], &[u8]) {
        let key = b[0];
        let (mut len, mut shift, mut i) = (0usize, 0, 1);
        loop {
            len |= usize::from(b[i] & 0x7f) << shift;
            shift += 7;
            i += 1;
            if b[i - 1] < 0x80 {
                break;
            }
        }
        (key, &b[i..i + len], &b[i + len..])
    }
    let (k1, ty, rest) = len_field(event);
    assert_eq!(k1, 0x0a);
    let (k2, raw_ext, rest) = len_field(rest);
    assert_eq!(k2, 0x12);
    assert!(rest.is_empty());
    let (k3, raw, _) = len_field(raw_ext);
    assert_eq!(k3, 0x0a);
    (String::from_utf8(ty.to_vec()).unwrap(), raw.to_vec())
}

#[tokio::test]
async fn watch_streams_length_delimited_frames() {
    let (server, client) = start().await;
    let path = "/api/v1/namespaces/default/configmaps?watch=true&allowWatchBookmarks=true";
    let (resp, _) = client.send(Method::GET, path, &[("accept", TYPED)], Bytes::new()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/vnd.kubernetes.protobuf;stream=watch");
    let mut body = resp.into_body();
    let r = client.post_json("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "w"}})).await;
    assert_eq!(r.status, 201);
    let mut buf = Vec::new();
    let (ty, obj) = loop {
        let (ty, raw) = next_frame(&mut body, &mut buf).await;
        let obj = decode_body(&raw).unwrap();
        if obj["metadata"]["name"] == "w" {
            break (ty, obj);
        }
    };
    assert_eq!(ty, "ADDED");
    assert_eq!(obj["kind"], "ConfigMap");
    assert_eq!(obj["metadata"]["name"], "w");
    client.request(Method::DELETE, "/api/v1/namespaces/default/configmaps/w", &[], Bytes::new()).await.unwrap();
    // The next event about "w" (the controllers may publish kube-root-ca.crt meanwhile).
    let ty = loop {
        let (ty, raw) = next_frame(&mut body, &mut buf).await;
        if decode_body(&raw).unwrap()["metadata"]["name"] == "w" {
            break ty;
        }
    };
    assert_eq!(ty, "DELETED");
    server.shutdown().await;
}

#[tokio::test]
async fn json_only_where_kube_serves_only_json() {
    let (server, client) = start().await;
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    // The CRD itself is a built-in type: protobuf.
    let r = typed(
        &client,
        Method::POST,
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        "application/json",
        serde_json::to_vec(&crd).unwrap(),
    )
    .await;
    let created = protobuf(&r, 201);
    assert_eq!(
        created["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-preserve-unknown-fields"],
        true
    );

    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let r = client
        .post_json(widgets, &json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Custom resources: JSON when the client lists it, 406 when it asks for protobuf only.
    let r = client.get_accept(widgets, TYPED).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.json()["items"][0]["metadata"]["name"], "w");
    let r = client.get_accept(&format!("{widgets}/w"), PB).await;
    assert_eq!(r.status, 406);
    assert_eq!(r.json()["reason"], "NotAcceptable");
    // Errors of custom resources stay JSON.
    let r = client.get_accept(&format!("{widgets}/nope"), TYPED).await;
    assert_eq!((r.status, r.header("content-type")), (404, "application/json"));

    // Tables are JSON only: a protobuf Table is not acceptable, the next entry is used.
    let pb_table = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io";
    assert_eq!(client.get_accept("/api/v1/namespaces/default/configmaps", pb_table).await.status, 406);
    let r = client
        .get_accept(
            "/api/v1/namespaces/default/configmaps",
            &format!("{pb_table},application/json;as=Table;v=v1;g=meta.k8s.io"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["kind"], "Table");

    // Discovery documents are served in protobuf as well; /version only in JSON.
    let versions = protobuf(&client.get_accept("/api", PB).await, 200);
    assert_eq!(versions["kind"], "APIVersions");
    assert_eq!(versions["versions"], json!(["v1"]));
    let resources = protobuf(&client.get_accept("/api/v1", TYPED).await, 200);
    assert_eq!(resources["kind"], "APIResourceList");
    let pods = resources["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods").unwrap();
    assert!(pods["verbs"].as_array().unwrap().contains(&json!("watch")));
    assert_eq!(client.get_accept("/version", TYPED).await.header("content-type"), "application/json");
    server.shutdown().await;
}

#[tokio::test]
async fn metadata_only_in_protobuf() {
    let (server, client) = start().await;
    // What client-go's metadata client sends.
    let accept = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,\
                  application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let cms = "/api/v1/namespaces/default/configmaps";
    client.post_json(cms, &json!({"metadata": {"name": "m", "labels": {"a": "b"}}, "data": {"k": "v"}})).await;
    let list = protobuf(&client.get_accept(&format!("{cms}?labelSelector=a%3Db"), accept).await, 200);
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(list["items"][0]["metadata"]["name"], "m");
    assert!(list["items"][0].get("data").is_none());
    let one = protobuf(&client.get_accept(&format!("{cms}/m"), accept).await, 200);
    assert_eq!(one["kind"], "PartialObjectMetadata");
    assert_eq!(one["metadata"]["labels"], json!({"a": "b"}));

    let (resp, _) = client
        .send(Method::GET, &format!("{cms}?watch=true&labelSelector=a%3Db"), &[("accept", accept)], Bytes::new())
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "application/vnd.kubernetes.protobuf;stream=watch");
    let mut body = resp.into_body();
    let (ty, raw) = next_frame(&mut body, &mut Vec::new()).await;
    assert_eq!(ty, "ADDED");
    let obj = decode_body(&raw).unwrap();
    assert_eq!((obj["kind"].as_str(), obj["metadata"]["name"].as_str()), (Some("PartialObjectMetadata"), Some("m")));
    server.shutdown().await;
}
