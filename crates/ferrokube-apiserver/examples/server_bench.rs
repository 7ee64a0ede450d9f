//! A benchmark of the embedded API server alone (no ferrokube client involved), so a
//! client benchmark can tell a client bottleneck from a server one.
//!
//! ```text
//! cargo run --release -p ferrokube-apiserver --example server_bench [-- --quick]
//! ```
//!
//! Measures, with realistic pods (~8 KB of JSON: labels, annotations, two containers
//! with env/resources/probes, status with conditions, two managedFields entries):
//! - cold start: `EmbeddedServer::start` to the first successful HTTPS `GET /version`
//!   (median of several starts),
//! - creates/s and GETs/s in-process (`Registry::handle`) and over HTTPS (one HTTP/2
//!   connection, a minimal hyper client) at concurrency 1 and 16,
//! - LIST of 5,000 pods over HTTPS (identity and gzip): MB/s and objects/s,
//! - watch events fanned out/s: 10 watchers over HTTPS replaying the same N events.
//!
//! - what durability costs (`--data-dir`, SQLite): creates/s in-process on a memory
//!   store and on a durable one, alternating rounds, and their ratio.
//!
//! `--only cold|inproc|https|list|watch|durable` (repeatable) runs only those parts. It prints a
//! table; nothing is asserted on timings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokube_apiserver::api::{ApiRequest, ApiResponse, ResourceInfo, Verb};
use ferrokube_apiserver::catalog::Catalog;
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Sender = SendRequest<Full<Bytes>>;

fn hex(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut s = String::with_capacity(len + 16);
    while s.len() < len {
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 29;
        s.push_str(&format!("{x:016x}"));
    }
    s.truncate(len);
    s
}

fn container(i: usize, c: usize, app: &str) -> Value {
    let name = if c == 0 { "app" } else { "sidecar-proxy" };
    let env: Vec<Value> = (0..6)
        .map(|k| json!({"name": format!("SETTING_{c}_{k}"), "value": format!("value-{}-{k}", hex((i * 31 + c * 7 + k) as u64, 12))}))
        .chain([json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}})])
        .collect();
    json!({
        "name": name,
        "image": format!("registry.example.com/team/{app}:v1.{}.{}", i % 13, i % 7),
        "imagePullPolicy": "IfNotPresent",
        "args": ["--config=/etc/app/config.yaml", format!("--shard={}", i % 16)],
        "ports": [{"name": "http", "containerPort": 8080 + c, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "volumeMounts": [{"name": "config", "mountPath": "/etc/app", "readOnly": true}],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080 + c, "scheme": "HTTP"}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080 + c, "scheme": "HTTP"}, "periodSeconds": 5},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}
    })
}

/// Pod `i` (about 8 KB of JSON).
fn pod(i: usize, prefix: &str) -> Value {
    let app = format!("svc-{:02}", i % 40);
    let ts = format!("2026-10-{:02}T{:02}:{:02}:00Z", 1 + i % 28, i % 24, i % 60);
    let fields = |n: usize| -> Value {
        let mut m = serde_json::Map::new();
        for k in 0..n {
            m.insert(format!("f:field{k}"), json!({".": {}, "f:a": {}, "f:b": {}}));
        }
        Value::Object(m)
    };
    let conds: Vec<Value> = ["Initialized", "Ready", "ContainersReady", "PodScheduled"]
        .iter()
        .map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": ts}))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": format!("{prefix}-{i:06}"),
            "labels": {"app": app, "pod-template-hash": hex(i as u64 / 10, 10), "tier": "backend"},
            "annotations": {"checksum/config": hex(i as u64 + 5, 64), "prometheus.io/scrape": "true"},
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "time": ts, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": fields(24)}},
                {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": ts, "fieldsType": "FieldsV1", "fieldsV1": {"f:status": fields(10)}, "subresource": "status"}
            ]
        },
        "spec": {
            "containers": [container(i, 0, &app), container(i, 1, &app)],
            "volumes": [{"name": "config", "configMap": {"name": format!("{app}-config"), "defaultMode": 420}}],
            "restartPolicy": "Always",
            "nodeName": format!("node-{:03}", i % 120),
            "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
        },
        "status": {
            "phase": "Running",
            "conditions": conds,
            "hostIP": format!("10.0.0.{}", i % 120 + 2),
            "podIP": format!("10.244.{}.{}", (i / 250) % 250, i % 250 + 2),
            "startTime": ts,
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": format!("registry.example.com/team/{app}"), "imageID": format!("sha256:{}", hex(i as u64 + 11, 64)), "containerID": format!("containerd://{}", hex(i as u64 * 3, 64)), "state": {"running": {"startedAt": ts}}}],
            "qosClass": "Burstable"
        }
    })
}

struct Sizes {
    ops: usize,
    list_pods: usize,
    list_rounds: usize,
    watchers: usize,
    watch_events: usize,
    starts: usize,
}

struct Row {
    measure: String,
    value: f64,
    unit: &'static str,
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn tls_config(ca_pem: &str) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// One HTTP/2 connection to the server.
#[derive(Clone)]
struct Client {
    sender: Sender,
    base: String,
    token: String,
}

impl Client {
    async fn connect(server: &EmbeddedServer) -> Client {
        let tcp = TcpStream::connect(server.local_addr()).await.expect("connect");
        let _ = tcp.set_nodelay(true);
        let tls = TlsConnector::from(tls_config(server.ca_certificate_pem()))
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("TLS handshake");
        let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .initial_stream_window_size(16 * 1024 * 1024)
            .initial_connection_window_size(64 * 1024 * 1024)
            .max_frame_size(1024 * 1024);
        let (sender, conn) = builder.handshake(TokioIo::new(tls)).await.expect("h2 handshake");
        tokio::spawn(conn);
        Client {
            sender,
            base: format!("https://localhost:{}", server.local_addr().port()),
            token: server.admin_token().expose().to_owned(),
        }
    }

    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> (u16, hyper::body::Incoming) {
        let mut b = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {}", self.token));
        if !body.is_empty() {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.sender.ready().await.expect("connection ready");
        let resp = self.sender.send_request(b.body(Full::new(body)).expect("request")).await.expect("response");
        let code = resp.status().as_u16();
        (code, resp.into_body())
    }

    /// Sends a request, reads the body; returns (status, body length).
    async fn call(&mut self, method: Method, path: &str, headers: &[(&str, &str)], body: Bytes) -> (u16, usize) {
        let (code, body) = self.send(method, path, headers, body).await;
        let bytes = body.collect().await.expect("body").to_bytes();
        (code, bytes.len())
    }
}

/// Runs `total` operations split over `concurrency` tasks; `op(i)` is operation `i`.
async fn concurrently<F, Fut>(total: usize, concurrency: usize, op: F) -> Duration
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = t;
            while i < total {
                op(i).await;
                i += concurrency;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    start.elapsed()
}

fn server_options() -> ServerOptions {
    ServerOptions { controllers: false, ..ServerOptions::default() }
}

async fn cold_start(sizes: &Sizes, rows: &mut Vec<Row>) {
    let mut times = Vec::new();
    for _ in 0..sizes.starts {
        let t0 = Instant::now();
        let server = EmbeddedServer::start(server_options()).await.expect("start");
        let mut client = Client::connect(&server).await;
        let (code, _) = client.call(Method::GET, "/version", &[], Bytes::new()).await;
        assert_eq!(code, 200, "GET /version");
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        drop(client);
        server.shutdown().await;
    }
    times.sort_by(f64::total_cmp);
    rows.push(Row {
        measure: format!("cold start to first GET /version (median of {})", sizes.starts),
        value: times[times.len() / 2],
        unit: "ms",
    });
}

fn pods_info() -> Arc<ResourceInfo> {
    Catalog::builtin().lookup("", "v1", "pods").expect("pods").clone()
}

/// Creates of pods, one after another, on `registry`; the time they took.
async fn creates(registry: &Arc<Registry>, prefix: &str, n: usize) -> Duration {
    let info = pods_info();
    let start = Instant::now();
    for i in 0..n {
        let mut req = ApiRequest::new(Verb::Create, info.clone()).with_namespace("default");
        req.body = Bytes::from(pod(i, prefix).to_string());
        req.content_type = Some("application/json".into());
        match registry.handle(req).await {
            Ok(ApiResponse::Object { .. }) => {}
            _ => panic!("create failed"),
        }
    }
    start.elapsed()
}

/// What `--data-dir` costs per write: creates on a memory store and on a durable
/// (SQLite) store, alternating, five rounds each; medians.
#[cfg(feature = "durable")]
async fn durable(sizes: &Sizes, rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let memory = Registry::new();
    let durable = Registry::open(dir.path()).expect("a durable registry");
    let (mut mem, mut dur) = (Vec::new(), Vec::new());
    for round in 0..5 {
        let prefix = format!("durable-r{round}");
        mem.push(creates(&memory, &prefix, sizes.ops).await);
        dur.push(creates(&durable, &prefix, sizes.ops).await);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (m, d) = (median(&mut mem), median(&mut dur));
    let per_write = |t: Duration| t.as_secs_f64() * 1e6 / sizes.ops as f64;
    rows.push(Row { measure: "create in-process, memory store".into(), value: per_write(m), unit: "us/write" });
    rows.push(Row { measure: "create in-process, --data-dir (SQLite)".into(), value: per_write(d), unit: "us/write" });
    rows.push(Row {
        measure: "durability cost (durable / memory)".into(),
        value: per_write(d) / per_write(m),
        unit: "x",
    });
}

async fn in_process(sizes: &Sizes, registry: &Arc<Registry>, rows: &mut Vec<Row>) {
    let info = pods_info();
    for conc in [1, 16] {
        let prefix = format!("inproc-c{conc}");
        let bodies: Arc<Vec<Bytes>> =
            Arc::new((0..sizes.ops).map(|i| Bytes::from(pod(i, &prefix).to_string())).collect());
        let (r, i2) = (registry.clone(), info.clone());
        let d = concurrently(sizes.ops, conc, move |i| {
            let mut req = ApiRequest::new(Verb::Create, i2.clone()).with_namespace("default");
            req.body = bodies[i].clone();
            req.content_type = Some("application/json".into());
            let r = r.clone();
            async move {
                match r.handle(req).await {
                    Ok(ApiResponse::Object { .. }) => {}
                    _ => panic!("create failed"),
                }
            }
        })
        .await;
        rows.push(Row {
            measure: format!("creates in-process, concurrency {conc}"),
            value: rate(sizes.ops, d),
            unit: "req/s",
        });
        let (r, i2, n) = (registry.clone(), info.clone(), sizes.ops);
        let d = concurrently(sizes.ops * 4, conc, move |i| {
            let req = ApiRequest::new(Verb::Get, i2.clone())
                .with_namespace("default")
                .with_name(format!("{prefix}-{:06}", i % n));
            let r = r.clone();
            async move {
                match r.handle(req).await {
                    Ok(ApiResponse::Object { body, .. }) => drop(body),
                    _ => panic!("get failed"),
                }
            }
        })
        .await;
        rows.push(Row {
            measure: format!("GETs in-process, concurrency {conc}"),
            value: rate(sizes.ops * 4, d),
            unit: "req/s",
        });
    }
}

async fn over_https(sizes: &Sizes, server: &EmbeddedServer, rows: &mut Vec<Row>) {
    let client = Client::connect(server).await;
    for conc in [1, 16] {
        let prefix = format!("https-c{conc}");
        let bodies: Arc<Vec<Bytes>> =
            Arc::new((0..sizes.ops).map(|i| Bytes::from(pod(i, &prefix).to_string())).collect());
        let c = client.clone();
        let d = concurrently(sizes.ops, conc, move |i| {
            let mut c = c.clone();
            let body = bodies[i].clone();
            async move {
                let (code, _) = c.call(Method::POST, "/api/v1/namespaces/default/pods", &[], body).await;
                assert_eq!(code, 201, "create");
            }
        })
        .await;
        rows.push(Row {
            measure: format!("creates over HTTPS (h2), concurrency {conc}"),
            value: rate(sizes.ops, d),
            unit: "req/s",
        });
        let (c, n) = (client.clone(), sizes.ops);
        let d = concurrently(sizes.ops * 4, conc, move |i| {
            let mut c = c.clone();
            let path = format!("/api/v1/namespaces/default/pods/{prefix}-{:06}", i % n);
            async move {
                let (code, _) = c.call(Method::GET, &path, &[], Bytes::new()).await;
                assert_eq!(code, 200, "get");
            }
        })
        .await;
        rows.push(Row {
            measure: format!("GETs over HTTPS (h2), concurrency {conc}"),
            value: rate(sizes.ops * 4, d),
            unit: "req/s",
        });
    }
}

async fn list(sizes: &Sizes, rows: &mut Vec<Row>) {
    let server = EmbeddedServer::start(server_options()).await.expect("start");
    let registry = server.registry();
    let info = pods_info();
    for i in 0..sizes.list_pods {
        let req = ApiRequest::new(Verb::Create, info.clone())
            .with_namespace("default")
            .with_json(&pod(i, "list"), "application/json");
        registry.handle(req).await.map_err(|e| e.message).expect("create");
    }
    let mut client = Client::connect(&server).await;
    let path = "/api/v1/namespaces/default/pods";
    for (label, headers) in [("identity", &[][..]), ("gzip", &[("accept-encoding", "gzip")][..])] {
        let _ = client.call(Method::GET, path, headers, Bytes::new()).await; // warm-up
        let t0 = Instant::now();
        let mut bytes = 0;
        for _ in 0..sizes.list_rounds {
            let (code, n) = client.call(Method::GET, path, headers, Bytes::new()).await;
            assert_eq!(code, 200, "list");
            bytes += n;
        }
        let d = t0.elapsed();
        rows.push(Row {
            measure: format!("LIST {} pods over HTTPS, {label}: wire MB/s", sizes.list_pods),
            value: bytes as f64 / 1e6 / d.as_secs_f64(),
            unit: "MB/s",
        });
        rows.push(Row {
            measure: format!("LIST {} pods over HTTPS, {label}: objects/s", sizes.list_pods),
            value: rate(sizes.list_pods * sizes.list_rounds, d),
            unit: "obj/s",
        });
    }
    let d = {
        let t0 = Instant::now();
        for _ in 0..sizes.list_rounds {
            let req = ApiRequest::new(Verb::List, info.clone()).with_namespace("default");
            let _ = registry.handle(req).await.map_err(|e| e.message).expect("list");
        }
        t0.elapsed()
    };
    rows.push(Row {
        measure: format!("LIST {} pods in-process (Registry::handle): objects/s", sizes.list_pods),
        value: rate(sizes.list_pods * sizes.list_rounds, d),
        unit: "obj/s",
    });
    drop(client);
    server.shutdown().await;
}

async fn watch(sizes: &Sizes, rows: &mut Vec<Row>) {
    let server = EmbeddedServer::start(server_options()).await.expect("start");
    let registry = server.registry();
    let info = pods_info();
    let from = registry.store().current_rv();
    for i in 0..sizes.watch_events {
        let req = ApiRequest::new(Verb::Create, info.clone())
            .with_namespace("default")
            .with_json(&pod(i, "watch"), "application/json");
        registry.handle(req).await.map_err(|e| e.message).expect("create");
    }
    // Each watcher on its own connection replays the same events from history.
    let mut clients = Vec::new();
    for _ in 0..sizes.watchers {
        clients.push(Client::connect(&server).await);
    }
    let path = format!("/api/v1/namespaces/default/pods?watch=true&resourceVersion={from}");
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for mut c in clients {
        let path = path.clone();
        let want = sizes.watch_events;
        tasks.push(tokio::spawn(async move {
            let (code, mut body) = c.send(Method::GET, &path, &[], Bytes::new()).await;
            assert_eq!(code, 200, "watch");
            let mut lines = 0;
            while lines < want {
                match body.frame().await {
                    Some(Ok(f)) => {
                        if let Some(d) = f.data_ref() {
                            lines += d.iter().filter(|b| **b == b'\n').count();
                        }
                    }
                    _ => panic!("watch ended after {lines} events"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("watcher");
    }
    let d = t0.elapsed();
    rows.push(Row {
        measure: format!(
            "watch: {} watchers x {} events (HTTPS), events fanned out/s",
            sizes.watchers, sizes.watch_events
        ),
        value: rate(sizes.watchers * sizes.watch_events, d),
        unit: "events/s",
    });
    server.shutdown().await;
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes { ops: 500, list_pods: 500, list_rounds: 5, watchers: 10, watch_events: 500, starts: 5 }
    } else {
        Sizes { ops: 2_000, list_pods: 5_000, list_rounds: 5, watchers: 10, watch_events: 5_000, starts: 11 }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let pod_bytes = pod(0, "x").to_string().len();
    println!(
        "ferrokube-apiserver server_bench{} ({cores} cores, pod JSON {pod_bytes} bytes as sent)",
        if quick { " --quick" } else { "" }
    );
    let mut rows = Vec::new();
    // `--only NAME` (repeatable) runs only some parts: cold, inproc, https, list, watch
    // (handy under `valgrind --tool=callgrind`).
    let args: Vec<String> = std::env::args().collect();
    let only: Vec<&str> = args.windows(2).filter(|w| w[0] == "--only").map(|w| w[1].as_str()).collect();
    let run = |part: &str| only.is_empty() || only.contains(&part);
    rt.block_on(async {
        if run("cold") {
            cold_start(&sizes, &mut rows).await;
        }
        if run("inproc") || run("https") {
            let server = EmbeddedServer::start(server_options()).await.expect("start");
            if run("inproc") {
                in_process(&sizes, &server.registry(), &mut rows).await;
            }
            if run("https") {
                over_https(&sizes, &server, &mut rows).await;
            }
            server.shutdown().await;
        }
        if run("list") {
            list(&sizes, &mut rows).await;
        }
        if run("watch") {
            watch(&sizes, &mut rows).await;
        }
        #[cfg(feature = "durable")]
        if run("durable") {
            durable(&sizes, &mut rows).await;
        }
    });
    let w = rows.iter().map(|r| r.measure.len()).max().unwrap_or(10);
    println!("{:<w$}  {:>12}  unit", "measure", "value");
    println!("{}", "-".repeat(w + 22));
    for r in &rows {
        let v = if r.value >= 100.0 { format!("{:.0}", r.value) } else { format!("{:.1}", r.value) };
        println!("{:<w$}  {:>12}  {}", r.measure, v, r.unit);
    }
}
