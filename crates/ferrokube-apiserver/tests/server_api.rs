//! Resource requests through the HTTP layer to the registry: create/get/list, YAML and
//! gzip bodies, watch streams (both forms), Tables, the pods/log subresource.

mod server_support;

use std::time::Duration;

use bytes::Bytes;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server_support::{assert_status, Client};

const TABLE: &str =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";

async fn start() -> (EmbeddedServer, Client) {
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let client = Client::new(&server);
    (server, client)
}

fn pod(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    })
}

/// A bad `labelSelector` is a 400 BadRequest whose message is kube-apiserver's, word for
/// word (these texts are what Kubernetes v1.37.2 answers to the same queries).
#[tokio::test]
async fn bad_label_selectors_are_refused_with_kubes_messages() {
    let (server, client) = start().await;
    let cases = [
        ("tier%20in%20front", "unable to parse requirement: found 'front' expected: '('"),
        ("app%3Dweb%2C", "found '', expected: identifier after ','"),
        ("a%20b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        (
            "a%3Ex_",
            "unable to parse requirement: [values[0]: Invalid value: \"x_\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][a]: Invalid value: \"x_\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]",
        ),
        (
            "-a%3D1",
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
    ];
    for (query, message) in cases {
        let r = client.get(&format!("/api/v1/namespaces/default/pods?labelSelector={query}")).await;
        assert_status(&r, 400, "BadRequest");
        assert_eq!(r.json()["message"], message, "{query}");
    }
    // `in ()` is the set of the empty value, not an error.
    let r = client.get("/api/v1/namespaces/default/pods?labelSelector=a%20in%20()").await;
    assert_eq!(r.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn create_get_list() {
    let (server, client) = start().await;
    let r = client.post_json("/api/v1/namespaces/default/pods", &pod("web-1")).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    assert_eq!(created["metadata"]["name"], "web-1");
    assert!(created["metadata"]["uid"].as_str().is_some());

    let r = client.get("/api/v1/namespaces/default/pods/web-1").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["metadata"]["uid"], created["metadata"]["uid"]);

    let list = client.get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb").await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let all = client.get("/api/v1/pods").await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);

    assert_status(&client.get("/api/v1/namespaces/default/pods/nope").await, 404, "NotFound");
    let r = client.post_json("/api/v1/namespaces/default/pods", &pod("web-1")).await;
    assert_status(&r, 409, "AlreadyExists");

    // Same through HTTP/1.1.
    let r = client.clone().http1_only().get("/api/v1/namespaces/default/pods/web-1").await;
    assert_eq!(r.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn yaml_and_gzip_bodies() {
    let (server, client) = start().await;
    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n";
    let r = client
        .request(Method::POST, "/api/v1/namespaces/default/configmaps", &[("content-type", "application/yaml")], yaml)
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["data"]["a"], "b");

    let body =
        serde_json::to_vec(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gz"}})).unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &body).unwrap();
    let r = client
        .request(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            &[("content-type", "application/json"), ("content-encoding", "gzip")],
            enc.finish().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));

    let r = client
        .request(Method::POST, "/api/v1/namespaces/default/configmaps", &[("content-type", "text/plain")], "x")
        .await
        .unwrap();
    assert_status(&r, 415, "UnsupportedMediaType");

    // YAML out, too.
    let r = client.get_accept("/api/v1/namespaces/default/configmaps/gz", "application/yaml").await;
    assert!(std::str::from_utf8(&r.body).unwrap().contains("name: gz"));
    server.shutdown().await;
}

async fn next_line(body: &mut hyper::body::Incoming, buf: &mut Vec<u8>) -> Value {
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
async fn watch_streams_events() {
    let (server, client) = start().await;
    for (path, http1) in [
        ("/api/v1/namespaces/default/configmaps?watch=true", false),
        ("/api/v1/watch/namespaces/default/configmaps", true),
    ] {
        let c = if http1 { client.clone().http1_only() } else { client.clone() };
        let (resp, _) = c.send(Method::GET, path, &[], Bytes::new()).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let mut body = resp.into_body();
        let name = if http1 { "cm-legacy" } else { "cm-watch" };
        let r = client.post_json("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": name}})).await;
        assert_eq!(r.status, 201);
        let mut buf = Vec::new();
        let ev = loop {
            let ev = next_line(&mut body, &mut buf).await;
            if ev["object"]["metadata"]["name"] == name {
                break ev;
            }
        };
        assert_eq!(ev["type"], "ADDED");
        assert_eq!(ev["object"]["kind"], "ConfigMap");
    }

    // timeoutSeconds ends the stream.
    let (resp, _) = client
        .send(Method::GET, "/api/v1/namespaces/default/pods?watch=1&timeoutSeconds=1", &[], Bytes::new())
        .await
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(10), resp.into_body().collect()).await;
    assert!(done.is_ok(), "watch did not end at timeoutSeconds");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_open_watches() {
    let (server, client) = start().await;
    let (resp, _) =
        client.send(Method::GET, "/api/v1/namespaces/default/pods?watch=true", &[], Bytes::new()).await.unwrap();
    // `send` returned the watch's response headers: the watch is open.
    let reader = tokio::spawn(async move { resp.into_body().collect().await.is_ok() });
    tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await.expect("shutdown in time");
    let _ = tokio::time::timeout(Duration::from_secs(10), reader).await.expect("watch ended");
}

#[tokio::test]
async fn tables_for_kubectl_get() {
    let (server, client) = start().await;
    client.post_json("/api/v1/namespaces/default/pods", &pod("web-1")).await;
    let r = client.get_accept("/api/v1/namespaces/default/pods", TABLE).await;
    assert_eq!(r.status, 200);
    let t = r.json();
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    let cols: Vec<&str> =
        t["columnDefinitions"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(&cols[..5], ["Name", "Ready", "Status", "Restarts", "Age"]);
    assert_eq!(t["rows"][0]["cells"][0], "web-1");
    assert_eq!(t["rows"][0]["cells"][1], "0/1");
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");

    let one = client.get_accept("/api/v1/namespaces/default/pods/web-1?includeObject=Object", TABLE).await.json();
    assert_eq!(one["rows"][0]["object"]["kind"], "Pod");

    let ns = client.get_accept("/api/v1/namespaces", TABLE).await.json();
    let names: Vec<&str> = ns["rows"].as_array().unwrap().iter().map(|r| r["cells"][0].as_str().unwrap()).collect();
    assert!(names.contains(&"default") && names.contains(&"kube-system"), "{names:?}");

    // Metadata only, in JSON (client-go's metadata client lists protobuf first and gets
    // protobuf: tests/server_protobuf.rs).
    let meta = client
        .get_accept(
            "/api/v1/namespaces/default/pods",
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
        )
        .await
        .json();
    assert_eq!(meta["kind"], "PartialObjectMetadataList");
    assert_eq!(meta["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(meta["items"][0]["metadata"]["name"], "web-1");
    assert!(meta["items"][0].get("spec").is_none());

    // kubectl get -w: each event's object is a one-row Table.
    let (resp, _) = client
        .send(Method::GET, "/api/v1/namespaces/default/pods?watch=true", &[("accept", TABLE)], Bytes::new())
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let ev = next_line(&mut body, &mut buf).await;
    assert_eq!(ev["object"]["kind"], "Table");
    assert_eq!(ev["object"]["rows"].as_array().unwrap().len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn pod_log_subresource() {
    let (server, client) = start().await;
    // A pod no node fits stays unscheduled: no kubelet holds its log, and kube-apiserver
    // answers 204 No Content (running pods' logs: crates/ferrokube/tests/pod_logs.rs).
    let mut unscheduled = pod("web-1");
    unscheduled["spec"]["nodeSelector"] = json!({"ferrokube.test/no-such-node": "true"});
    client.post_json("/api/v1/namespaces/default/pods", &unscheduled).await;
    let r = client.get("/api/v1/namespaces/default/pods/web-1/log").await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_status(&client.get("/api/v1/namespaces/default/pods/nope/log").await, 404, "NotFound");
    server.shutdown().await;
}

/// A kube protobuf envelope around a Namespace named `name` (what kubectl 1.33's
/// `kubectl create namespace` sends).
fn protobuf_namespace(name: &str) -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        assert!(bytes.len() < 128);
        let mut out = vec![(tag << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }
    let meta = field(1, name.as_bytes());
    let ns = field(1, &meta);
    let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
    let unknown = [field(1, &type_meta), field(2, &ns)].concat();
    [b"k8s\0".to_vec(), unknown].concat()
}

#[tokio::test]
async fn protobuf_request_bodies() {
    let (server, client) = start().await;
    let r = client
        .request(
            Method::POST,
            "/api/v1/namespaces",
            &[
                ("content-type", "application/vnd.kubernetes.protobuf"),
                ("accept", "application/vnd.kubernetes.protobuf,application/json"),
            ],
            protobuf_namespace("from-proto"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // Answered in protobuf, as kube-apiserver answers a client listing it first.
    assert_eq!(r.header("content-type"), "application/vnd.kubernetes.protobuf");
    let created = ferrokube_apimachinery::protobuf::decode_body(&r.body).unwrap();
    assert_eq!(created["metadata"]["name"], "from-proto");
    assert_eq!(client.get("/api/v1/namespaces/from-proto").await.status, 200);

    let r = client
        .request(
            Method::POST,
            "/api/v1/namespaces",
            &[("content-type", "application/vnd.kubernetes.protobuf")],
            "k8s\0\u{ff}",
        )
        .await
        .unwrap();
    assert_status(&r, 400, "BadRequest");
    server.shutdown().await;
}

/// The initial events of a watch are written together, as kube-apiserver flushes its
/// watch response only once no further event is queued: a client reading the first
/// chunk gets them all.
#[tokio::test]
async fn initial_watch_events_come_in_one_chunk() {
    let (server, client) = start().await;
    for name in ["w1", "w2"] {
        let r = client.post_json("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": name}})).await;
        assert_eq!(r.status, 201);
    }
    for http1 in [true, false] {
        let c = if http1 { client.clone().http1_only() } else { client.clone() };
        let (resp, _) =
            c.send(Method::GET, "/api/v1/namespaces/default/configmaps?watch=maybe", &[], Bytes::new()).await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("watch event in time")
            .expect("stream open")
            .unwrap();
        let data = frame.into_data().unwrap();
        let names: Vec<Value> = data
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice::<Value>(l).unwrap()["object"]["metadata"]["name"].clone())
            .collect();
        assert!(names.contains(&json!("w1")) && names.contains(&json!("w2")), "first chunk: {names:?}");
    }
    server.shutdown().await;
}
