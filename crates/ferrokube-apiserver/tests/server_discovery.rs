//! Discovery, /version, health, content negotiation and HTTP-level errors over real HTTPS.

mod server_support;

use bytes::Bytes;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use http::Method;
use serde_json::{json, Value};
use server_support::{assert_status, Client};

const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

async fn start() -> (EmbeddedServer, Client) {
    let t = std::time::Instant::now();
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    eprintln!("cold start: {:?}", t.elapsed());
    let client = Client::new(&server);
    (server, client)
}

fn find<'a>(items: &'a Value, key: &str, value: &str) -> &'a Value {
    items.as_array().unwrap().iter().find(|i| i[key] == value).unwrap_or_else(|| panic!("no {key}={value} in {items}"))
}

#[tokio::test]
async fn version_and_health_are_public() {
    let (server, client) = start().await;
    let anon = client.clone().anonymous();
    let v = anon.get("/version").await;
    assert_eq!(v.status, 200);
    let v = v.json();
    assert_eq!((v["major"].as_str(), v["minor"].as_str()), (Some("1"), Some("37")));
    assert_eq!(v["gitVersion"], "v1.37.0-ferrokube");
    for path in ["/healthz", "/livez", "/readyz"] {
        let r = anon.get(path).await;
        assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]), "{path}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn http2_and_http1_are_both_served() {
    let (server, client) = start().await;
    let r = client.get("/version").await;
    assert_eq!(r.alpn.as_deref(), Some(&b"h2"[..]));
    let r = client.clone().http1_only().get("/version").await;
    assert_eq!(r.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(r.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn legacy_discovery() {
    let (server, client) = start().await;
    let api = client.get("/api").await.json();
    assert_eq!(api["kind"], "APIVersions");
    assert_eq!(api["versions"], json!(["v1"]));
    assert_eq!(api["serverAddressByClientCIDRs"][0]["clientCIDR"], "0.0.0.0/0");

    let v1 = client.get("/api/v1").await.json();
    assert_eq!(v1["kind"], "APIResourceList");
    assert_eq!(v1["groupVersion"], "v1");
    let pods = find(&v1["resources"], "name", "pods");
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(pods["singularName"], "pod");
    assert_eq!(pods["namespaced"], true);
    assert_eq!(pods["kind"], "Pod");
    assert_eq!(pods["categories"], json!(["all"]));
    assert!(pods["verbs"].as_array().unwrap().contains(&json!("watch")));
    find(&v1["resources"], "name", "pods/status");
    find(&v1["resources"], "name", "pods/log");
    let ns = find(&v1["resources"], "name", "namespaces");
    assert_eq!(ns["namespaced"], false);

    let apis = client.get("/apis").await.json();
    assert_eq!(apis["kind"], "APIGroupList");
    let apps = find(&apis["groups"], "name", "apps");
    assert_eq!(apps["preferredVersion"], json!({"groupVersion": "apps/v1", "version": "v1"}));
    assert_eq!(find(&apis["groups"], "name", "autoscaling")["preferredVersion"]["version"], "v2");

    let group = client.get("/apis/apps").await.json();
    assert_eq!(group["kind"], "APIGroup");
    assert_eq!(group["name"], "apps");

    let apps_v1 = client.get("/apis/apps/v1").await.json();
    assert_eq!(apps_v1["groupVersion"], "apps/v1");
    let deploy = find(&apps_v1["resources"], "name", "deployments");
    assert_eq!(deploy["shortNames"], json!(["deploy"]));
    let scale = find(&apps_v1["resources"], "name", "deployments/scale");
    assert_eq!(
        (scale["group"].as_str(), scale["version"].as_str(), scale["kind"].as_str()),
        (Some("autoscaling"), Some("v1"), Some("Scale"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn aggregated_discovery() {
    let (server, client) = start().await;
    let r = client.get_accept("/apis", AGGREGATED).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    let doc = r.json();
    assert_eq!(doc["kind"], "APIGroupDiscoveryList");
    assert_eq!(doc["apiVersion"], "apidiscovery.k8s.io/v2");
    let apps = doc["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == "apps").unwrap();
    let v1 = &apps["versions"][0];
    assert_eq!(v1["version"], "v1");
    assert_eq!(v1["freshness"], "Current");
    let deploy = find(&v1["resources"], "resource", "deployments");
    assert_eq!(deploy["scope"], "Namespaced");
    assert_eq!(deploy["singularResource"], "deployment");
    // The listed group version is left out, as kube does.
    assert_eq!(deploy["responseKind"], json!({"group": "", "version": "", "kind": "Deployment"}));
    let scale = find(&deploy["subresources"], "subresource", "scale");
    assert_eq!(scale["responseKind"], json!({"group": "autoscaling", "version": "v1", "kind": "Scale"}));

    let core = client.get_accept("/api", AGGREGATED).await.json();
    assert_eq!(core["items"].as_array().unwrap().len(), 1);
    let pods = find(&core["items"][0]["versions"][0]["resources"], "resource", "pods");
    assert_eq!(pods["shortNames"], json!(["po"]));
    assert_eq!(find(&core["items"][0]["versions"][0]["resources"], "resource", "nodes")["scope"], "Cluster");

    // kubectl 1.26-1.29 ask for v2beta1.
    let old =
        client.get_accept("/apis", "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList").await;
    assert_eq!(old.json()["apiVersion"], "apidiscovery.k8s.io/v2beta1");
    server.shutdown().await;
}

#[tokio::test]
async fn http_level_errors_are_status_objects() {
    let (server, client) = start().await;
    let r = client.get("/nope").await;
    assert_status(&r, 404, "NotFound");
    assert_eq!(r.json()["message"], "the server could not find the requested resource");
    assert_status(&client.get("/openapi/v1").await, 404, "NotFound");
    // An OpenAPI v3 document of a group-version nobody serves: a bare 404, as kube's.
    let r = client.get("/openapi/v3/apis/nosuchgroup/v1").await;
    assert_eq!((r.status, r.body.len()), (404, 0), "{:?}", r.body);
    assert_status(&client.get("/api/v1/nosuchthings").await, 404, "NotFound");
    assert_status(&client.get("/api/v1/namespaces/%ff/pods").await, 400, "BadRequest");
    let r = client.request(Method::POST, "/version", &[], Bytes::new()).await.unwrap();
    assert_status(&r, 405, "MethodNotAllowed");
    let r = client.request(Method::PUT, "/api/v1/namespaces/default/pods", &[], Bytes::new()).await.unwrap();
    assert_status(&r, 405, "MethodNotAllowed");
    let r = client.get_accept("/api/v1", "text/html").await;
    assert_status(&r, 406, "NotAcceptable");
    // Discovery documents are served in protobuf too, as kube-apiserver does.
    for accept in ["application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf, application/json"] {
        let r = client.get_accept("/api/v1", accept).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), "application/vnd.kubernetes.protobuf");
        let list = ferrokube_apimachinery::protobuf::decode_body(&r.body).unwrap();
        assert_eq!((list["kind"].as_str(), list["groupVersion"].as_str()), (Some("APIResourceList"), Some("v1")));
    }

    // 4 MiB body: 413 before the registry sees it (both with and without a length).
    let big = vec![b' '; 4 * 1024 * 1024];
    let r = client
        .request(
            Method::POST,
            "/api/v1/namespaces/default/configmaps",
            &[("content-type", "application/json")],
            big.clone(),
        )
        .await
        .unwrap();
    assert_status(&r, 413, "RequestEntityTooLarge");
    // The rest of the body is read before the answer, so the answer is never lost to a
    // connection reset (it was now and then over HTTP/1.1): every try gets its 413.
    for attempt in 0..5 {
        let r = client
            .clone()
            .http1_only()
            .request(
                Method::POST,
                "/api/v1/namespaces/default/configmaps",
                &[("content-type", "application/json")],
                big.clone(),
            )
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: no answer: {e}"));
        assert_status(&r, 413, "RequestEntityTooLarge");
    }

    // A huge header is refused, not a crash; the server keeps serving.
    let huge = "x".repeat(2 * 1024 * 1024);
    let _ = client.request(Method::GET, "/version", &[("x-huge", &huge)], Bytes::new()).await;
    assert_eq!(client.get("/version").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn yaml_and_gzip() {
    let (server, client) = start().await;
    let r = client.get_accept("/api/v1", "application/yaml").await;
    assert_eq!(r.header("content-type"), "application/yaml");
    assert!(std::str::from_utf8(&r.body).unwrap().contains("kind: APIResourceList"));
    // Large responses are compressed when asked.
    let r = client
        .request(Method::GET, "/apis", &[("accept", AGGREGATED), ("accept-encoding", "gzip")], Bytes::new())
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    if r.header("content-encoding") == "gzip" {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&r.body[..]), &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["kind"], "APIGroupDiscoveryList");
    } else {
        assert!(r.body.len() < 128 * 1024);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn malformed_http_never_takes_the_server_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, client) = start().await;
    let http1 = client.clone().http1_only();
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /api/v1/namespaces/%zz%/pods?%%%=&&watch=maybe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /version HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x00\x01\x02\xff\xfe",
    ] {
        let mut tls = http1.raw().await;
        let _ = tls.write_all(garbage).await;
        let mut buf = vec![0u8; 4096];
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), tls.read(&mut buf)).await;
    }
    // Odd but well-formed queries reach the registry and come back as answers, not crashes.
    for path in [
        "/api/v1/namespaces/default/pods?limit=abc",
        "/api/v1/namespaces/default/pods?labelSelector=%%%",
        "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D%3D%3D",
    ] {
        let r = client.get(path).await;
        assert!(r.status < 500, "{path}: {}", r.status);
    }
    // A watch from an unparsable resourceVersion is kube's 500 Status (its storage's
    // parse error), an answer all the same.
    let r = client.get("/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1&resourceVersion=zzz").await;
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json()["message"],
        "resourceVersion: Invalid value: \"zzz\": strconv.ParseUint: parsing \"zzz\": invalid syntax"
    );
    assert_eq!(client.get("/version").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn metrics_count_requests_objects_and_open_watches() {
    let (server, client) = start().await;
    for name in ["m1", "m2"] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}});
        assert_eq!(client.post_json("/api/v1/namespaces/default/configmaps", &cm).await.status, 201);
    }
    assert_eq!(client.get("/api/v1/namespaces/default/configmaps").await.status, 200);
    assert_eq!(client.get("/api/v1/namespaces/default/configmaps/nope").await.status, 404);
    // A watch held open shows as a long-running request while it lasts (on top of the
    // in-process controllers' own watches, which count too).
    let watching = |text: &str| -> u64 {
        let prefix = "apiserver_longrunning_requests{component=\"apiserver\",group=\"\",resource=\"configmaps\",verb=\"WATCH\"} ";
        text.lines().find_map(|l| l.strip_prefix(prefix)).map_or(0, |n| n.parse().unwrap())
    };
    let before = watching(std::str::from_utf8(&client.get("/metrics").await.body).unwrap());
    let (watch, _) =
        client.send(Method::GET, "/api/v1/namespaces/default/configmaps?watch=true", &[], Bytes::new()).await.unwrap();
    assert_eq!(watch.status(), 200);

    // Every ConfigMap the server holds (the controllers add each namespace's root CA).
    let stored = client.get("/api/v1/configmaps").await.json()["items"].as_array().unwrap().len();
    assert!(stored >= 2, "{stored}");
    let page = client.get("/metrics").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    let text = String::from_utf8(page.body.to_vec()).unwrap();
    let labels = |verb: &str, scope: &str| {
        format!(
            "component=\"apiserver\",dry_run=\"\",group=\"\",resource=\"configmaps\",scope=\"{scope}\",subresource=\"\",verb=\"{verb}\",version=\"v1\""
        )
    };
    for line in [
        format!("apiserver_request_total{{code=\"201\",{}}} 2", labels("POST", "namespace")),
        format!("apiserver_request_total{{code=\"200\",{}}} 1", labels("LIST", "namespace")),
        format!("apiserver_request_total{{code=\"404\",{}}} 1", labels("GET", "resource")),
        format!("apiserver_request_duration_seconds_count{{{}}} 2", labels("POST", "namespace")),
        format!("apiserver_storage_objects{{resource=\"configmaps\"}} {stored}"),
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
    }
    assert_eq!(watching(&text), before + 1, "{text}");
    // Like every non-resource path but health and /version, it needs credentials.
    assert_eq!(client.clone().anonymous().get("/metrics").await.status, 403);
    drop(watch);
    server.shutdown().await;
}
