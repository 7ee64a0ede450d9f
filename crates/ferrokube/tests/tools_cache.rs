//! Integration tests of `tools::cache` (reflector, store, shared informer) against the
//! server chosen by `FERROKUBE_TEST_SERVER` (tests/support/cluster.rs: the embedded API
//! server by default, or realkube), loaded through `clientcmd` as a user program
//! would; and, for the error paths the real server does not produce on demand
//! (an HTTP 410 on the watch, a rejected watch-list, garbage bodies), against a scripted
//! HTTP server from `support`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferrokube::rest::{PatchType, RESTClient, Request};
use ferrokube::tools::cache::{
    strip_managed_fields, Reflector, ReflectorError, ReflectorOptions, ResourceEventHandlerFuncs, Selector,
    SharedInformer, Store,
};
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::storage::StoreConfig;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;
use support::cluster::{admin_config, skip_unless_embedded, ClusterOptions, TestCluster};
use support::recording_client;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// The label every ConfigMap [`create`] makes carries. Informers select it: a real
/// cluster's controllers add objects of their own to every namespace (the
/// `kube-root-ca.crt` ConfigMap).
const WEB: &str = "app=web";

struct Env {
    cluster: TestCluster,
    client: RESTClient,
    /// Every request URI the client sent.
    uris: Arc<std::sync::Mutex<Vec<String>>>,
}

/// The server chosen by `FERROKUBE_TEST_SERVER` and a client that records the URI of
/// every request it sends.
async fn start() -> Env {
    let cluster = TestCluster::start(ClusterOptions::new("cache")).await;
    let (client, uris) = recording_client(cluster.config.clone());
    Env { cluster, client, uris }
}

/// An embedded server over `registry` (for the tests that write to it in-process).
async fn start_embedded(registry: Arc<Registry>) -> (EmbeddedServer, RESTClient) {
    let server =
        EmbeddedServer::start_with_registry(ServerOptions::default(), registry).await.expect("embedded server starts");
    let (client, _) = recording_client(admin_config(&server.kubeconfig_yaml()));
    (server, client)
}

impl Env {
    /// A namespace of this test's own named after `base`, created (unique on a shared
    /// realkube).
    async fn namespace(&self, base: &str) -> String {
        let ns = self.cluster.unique_name(base);
        create_namespace(&self.client, &ns).await;
        ns
    }
}

fn cms(client: &RESTClient, verb: Request, ns: &str) -> Request {
    let _ = client;
    verb.group_version("", "v1").namespace(ns).resource("configmaps")
}

async fn create(client: &RESTClient, ns: &str, name: &str, data: &str) -> ConfigMap {
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": {"app": "web"}}, "data": {"v": data}});
    cms(client, client.post(), ns).body(&body).into_object().await.expect("create")
}

async fn update(client: &RESTClient, ns: &str, name: &str, data: &str) -> ConfigMap {
    let mut cm: ConfigMap = cms(client, client.get(), ns).name(name).into_object().await.expect("get");
    cm.data = Some([("v".to_owned(), data.to_owned())].into());
    cms(client, client.put(), ns).name(name).body(&cm).into_object().await.expect("update")
}

async fn delete(client: &RESTClient, ns: &str, name: &str) {
    cms(client, client.delete(), ns).name(name).send().await.expect("delete");
}

async fn create_namespace(client: &RESTClient, ns: &str) {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    client.post().group_version("", "v1").resource("namespaces").body(&body).send().await.expect("namespace");
}

fn name(cm: &ConfigMap) -> &str {
    cm.metadata.name.as_deref().unwrap_or("")
}

fn rv(cm: &ConfigMap) -> &str {
    cm.metadata.resource_version.as_deref().unwrap_or("")
}

/// A handler that records every call as a line on a channel.
fn recorder() -> (ResourceEventHandlerFuncs<ConfigMap>, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (a, u, d) = (tx.clone(), tx.clone(), tx);
    let h = ResourceEventHandlerFuncs::new()
        .on_add(move |o| {
            let _ = a.send(format!("add {} {}", name(o), rv(o)));
        })
        .on_update(move |old, new| {
            let _ = u.send(format!("update {} {}->{}", name(new), rv(old), rv(new)));
        })
        .on_delete(move |o| {
            let _ = d.send(format!("delete {}", name(o)));
        });
    (h, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("a handler call in time").expect("channel open")
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn informer_syncs_then_sees_create_update_delete_in_order() {
    let env = start().await;
    let c = &env.client;
    let inf = env.namespace("inf").await;
    let other = env.namespace("other").await;
    let mut pre = Vec::new();
    for i in 0..5 {
        pre.push(create(c, &inf, &format!("pre-{i}"), "0").await);
    }
    create(c, &other, "elsewhere", "0").await;

    // Pages of 2 force three list requests with continue tokens.
    let informer = SharedInformer::<ConfigMap>::new(
        c.clone(),
        ReflectorOptions::default().namespace(&inf).label_selector(WEB).page_size(Some(2)),
    );
    let (handler, mut rx) = recorder();
    informer.add_event_handler(handler);
    let handle = informer.start();
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced");
    assert!(informer.has_synced() && handle.has_synced());
    assert_eq!(informer.list_count(), 1);

    let mut initial: Vec<String> = Vec::new();
    for _ in 0..5 {
        initial.push(next(&mut rx).await);
    }
    initial.sort();
    let mut want: Vec<String> = pre.iter().map(|cm| format!("add {} {}", name(cm), rv(cm))).collect();
    want.sort();
    assert_eq!(initial, want, "the initial list, and only namespace inf");
    let lister = informer.lister();
    assert_eq!(lister.list(None).len(), 5);
    assert!(lister.get(&other, "elsewhere").is_none());
    assert_eq!(lister.list_namespace(&inf, Some(&Selector::parse("app=web").unwrap())).len(), 5);

    let created = create(c, &inf, "x", "1").await;
    let updated = update(c, &inf, "x", "2").await;
    delete(c, &inf, "x").await;
    create(c, &other, "ignored", "1").await;
    assert_eq!(next(&mut rx).await, format!("add x {}", rv(&created)));
    assert_eq!(next(&mut rx).await, format!("update x {}->{}", rv(&created), rv(&updated)));
    assert_eq!(next(&mut rx).await, "delete x");
    assert!(lister.get(&inf, "x").is_none());

    let again = update(c, &inf, "pre-0", "3").await;
    assert_eq!(next(&mut rx).await, format!("update pre-0 {}->{}", rv(&pre[0]), rv(&again)));
    let stored = lister.get(&inf, "pre-0").expect("stored");
    assert_eq!(stored.data.as_ref().unwrap()["v"], "3");
    assert_eq!(informer.last_sync_resource_version(), rv(&again));
    assert!(rx.try_recv().is_err(), "no other calls");
    handle.stop();
}

#[tokio::test]
async fn reflector_resumes_after_the_server_ends_the_watch() {
    let env = start().await;
    let c = &env.client;
    let resume = env.namespace("resume").await;
    // The server ends each watch after one second; the reflector must resume from the
    // last resourceVersion it saw, losing and repeating nothing.
    let informer = SharedInformer::<ConfigMap>::new(
        c.clone(),
        ReflectorOptions::default().namespace(&resume).label_selector(WEB).watch_timeout(Some(Duration::from_secs(1))),
    );
    let (handler, mut rx) = recorder();
    informer.add_event_handler(handler);
    let _handle = informer.start();
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced");

    let mut want = Vec::new();
    for i in 0..16 {
        let cm = create(c, &resume, &format!("cm-{i}"), "v").await;
        want.push(format!("add {} {}", name(&cm), rv(&cm)));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut got = Vec::new();
    for _ in 0..want.len() {
        got.push(next(&mut rx).await);
    }
    assert_eq!(got, want, "every event once, in order, across ~4 watch restarts");
    let watches =
        || env.uris.lock().unwrap().iter().filter(|u| u.contains("/configmaps?") && u.contains("watch=true")).count();
    assert!(watches() >= 4, "the watch was resumed several times ({} watches)", watches());
    // One more restart, then a last write: an event repeated by the resumed watch
    // would arrive before the last write's.
    let before = watches();
    eventually("another watch restart", || watches() > before).await;
    let last = create(c, &resume, "last", "v").await;
    assert_eq!(next(&mut rx).await, format!("add last {}", rv(&last)), "nothing repeated after another restart");
    assert_eq!(informer.list_count(), 1, "resumed, never relisted");
    assert_eq!(informer.store().len(), 17);
}

/// Creates a ConfigMap through the registry directly, without yielding to the runtime.
async fn create_in_process(registry: &Registry, ns: &str, name: &str) {
    use ferrokube_apiserver::api::{ApiRequest, Verb};
    use ferrokube_apiserver::catalog::Catalog;
    let catalog = Catalog::builtin();
    let info = catalog.lookup("", "v1", "configmaps").expect("configmaps in the catalog").clone();
    let labels = json!({"app": "web"});
    let body =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels}});
    let req = ApiRequest::new(Verb::Create, info).with_namespace(ns).with_json(&body, "application/json");
    assert!(registry.handle(req).await.is_ok(), "in-process create");
}

// Single-threaded runtime: the burst of in-process writes below runs without the watch
// task getting a turn, so the server drops the watcher (its buffer of 2 overflows) and
// its history of 4 events no longer covers the reflector's last resourceVersion. The
// resumed watch gets an ERROR event with 410 Expired, and the reflector must relist.
#[tokio::test]
async fn reflector_relists_after_410_gone() {
    if skip_unless_embedded("needs a watch history of 4 events and writes that do not yield") {
        return;
    }
    let registry =
        Registry::with_options(StoreConfig { history_capacity: 4, watch_buffer: 2 }, Duration::from_secs(60));
    let (server, client) = start_embedded(Arc::clone(&registry)).await;
    let c = &client;
    create_namespace(c, "gone").await;
    create(c, "gone", "before", "v").await;

    let store = Store::<ConfigMap>::new();
    let reflector =
        Reflector::new(c.clone(), store.clone(), ReflectorOptions::default().namespace("gone").label_selector(WEB));
    let handle = reflector.spawn();
    tokio::time::timeout(WAIT, handle.wait_for_sync()).await.expect("synced");
    assert_eq!(handle.list_count(), 1);
    // The reflector's watch has reached the server.
    eventually("the reflector's watch is open", || registry.store().watcher_count("/configmaps") > 0).await;

    for i in 0..20 {
        create_in_process(&registry, "gone", &format!("burst-{i}")).await;
    }
    eventually("a relist and all 21 objects", || handle.list_count() >= 2 && store.len() == 21).await;
    // And the watch carries on after the relist.
    let last = create(c, "gone", "after", "v").await;
    eventually("the object created after the relist", || store.get_by_key("gone/after").is_some()).await;
    assert_eq!(store.len(), 22);
    assert_eq!(handle.last_sync_resource_version(), rv(&last));
    drop(server);
}

#[tokio::test]
async fn watch_list_syncs_and_keeps_watching() {
    let env = start().await;
    let c = &env.client;
    let wl = env.namespace("wl").await;
    for i in 0..3 {
        create(c, &wl, &format!("cm-{i}"), "v").await;
    }
    let informer = SharedInformer::<ConfigMap>::new(
        c.clone(),
        ReflectorOptions::default().namespace(&wl).label_selector(WEB).watch_list(true),
    );
    let (handler, mut rx) = recorder();
    informer.add_event_handler(handler);
    let _handle = informer.start();
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced");
    assert_eq!(informer.store().len(), 3);
    for _ in 0..3 {
        assert!(next(&mut rx).await.starts_with("add cm-"));
    }
    let cm = create(c, &wl, "later", "v").await;
    assert_eq!(next(&mut rx).await, format!("add later {}", rv(&cm)));
    assert_eq!(informer.list_count(), 1);
    let cm_requests: Vec<String> =
        env.uris.lock().unwrap().iter().filter(|u| u.contains("/configmaps?")).cloned().collect();
    assert_eq!(cm_requests.len(), 1, "one watch-list request, no list, no second watch: {cm_requests:?}");
    assert!(cm_requests[0].contains("sendInitialEvents=true"), "{cm_requests:?}");
}

#[tokio::test]
async fn strip_managed_fields_keeps_them_out_of_the_store() {
    let env = start().await;
    let c = &env.client;
    let mf = env.namespace("mf").await;
    let apply = |name: &str, v: &str| {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": mf, "labels": {"app": "web"}}, "data": {"v": v}});
        c.patch(PatchType::Apply)
            .group_version("", "v1")
            .namespace(&mf)
            .resource("configmaps")
            .name(name)
            .param("fieldManager", "tools-cache-test")
            .body(&body)
    };
    for i in 0..3 {
        apply(&format!("cm-{i}"), "1").send().await.expect("apply");
    }
    let raw: ConfigMap = cms(c, c.get(), &mf).name("cm-0").into_object().await.expect("get");
    assert!(raw.metadata.managed_fields.as_ref().is_some_and(|m| !m.is_empty()), "the server records managedFields");

    let informer =
        SharedInformer::<ConfigMap>::new(c.clone(), ReflectorOptions::default().namespace(&mf).label_selector(WEB));
    informer.set_transform(strip_managed_fields);
    let (handler, mut rx) = recorder();
    informer.add_event_handler(handler);
    let _handle = informer.start();
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced");
    apply("cm-0", "2").send().await.expect("apply");
    apply("cm-new", "1").send().await.expect("apply");
    for _ in 0..5 {
        next(&mut rx).await;
    }
    let store = informer.store();
    assert_eq!(store.len(), 4);
    store.for_each(|cm| assert!(cm.metadata.managed_fields.is_none(), "{:?}", cm.metadata.name));
    assert_eq!(store.get_by_key(&format!("{mf}/cm-0")).unwrap().data.as_ref().unwrap()["v"], "2");

    // Skipping managedFields while decoding gives the same store, for the list and for
    // watch events.
    let skipping = SharedInformer::<ConfigMap>::new(
        c.clone(),
        ReflectorOptions::default().namespace(&mf).label_selector(WEB).skip_managed_fields(true).watch_list(true),
    );
    let _h2 = skipping.start();
    tokio::time::timeout(WAIT, skipping.wait_for_sync()).await.expect("synced");
    apply("cm-1", "2").send().await.expect("apply");
    eventually("both informers to see the update", || {
        [store, skipping.store()]
            .iter()
            .all(|s| s.get_by_key(&format!("{mf}/cm-1")).is_some_and(|o| o.data.as_ref().unwrap()["v"] == "2"))
    })
    .await;
    let mut plain_keys = store.list_keys();
    plain_keys.sort();
    for key in &plain_keys {
        assert_eq!(store.get_by_key(key), skipping.store().get_by_key(key), "{key}");
    }
    assert_eq!(skipping.store().len(), 4);
}

#[tokio::test]
async fn selectors_and_all_namespaces() {
    let env = start().await;
    let c = &env.client;
    let s1 = env.namespace("s1").await;
    let s2 = env.namespace("s2").await;
    // All namespaces of a shared realkube hold other tests' objects: a label of this
    // test's own keeps them out.
    let test = &env.cluster.namespace;
    for (ns, name, app) in [(&s1, "a", "web"), (&s2, "b", "web"), (&s2, "c", "db")] {
        let labels = json!({"app": app, "test": test});
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels}, "data": {"v": "v"}});
        cms(c, c.post(), ns).body(&body).send().await.expect("create");
    }

    let selector = format!("app=web,test={test}");
    let informer = SharedInformer::<ConfigMap>::new(c.clone(), ReflectorOptions::default().label_selector(selector));
    informer
        .add_indexer("by-data", |cm: &ConfigMap| cm.data.iter().flat_map(|d| d.values().cloned()).collect())
        .unwrap();
    let _handle = informer.start();
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced");
    let mut keys = informer.store().list_keys();
    keys.sort();
    assert_eq!(keys, [format!("{s1}/a"), format!("{s2}/b")]);
    assert_eq!(informer.store().by_index("by-data", "v").unwrap().len(), 2);
    update(c, &s1, "a", "w").await;
    eventually("the index to follow the update", || {
        informer.store().by_index("by-data", "w").is_ok_and(|v| v.len() == 1)
    })
    .await;
    assert_eq!(informer.store().by_index("by-data", "v").unwrap().len(), 1);
}

/// A lister selects exactly what the server's `labelSelector` selects, corners
/// included (`in ()`, `notin`/`!=` on absent labels, `>`/`<` on non-integers, `in` and
/// `notin` as key and value): the lister evaluates `ferrokube_apimachinery::labels`,
/// which the embedded server uses too, and which must agree with Kubernetes'
/// `labels.Parse` when the server is realkube. A selector one refuses, both refuse.
#[tokio::test]
async fn a_lister_selects_what_the_server_selects() {
    let env = start().await;
    let c = &env.client;
    let ns = env.namespace("sel").await;
    let ours = ["front", "back", "empty", "keywords", "none"];
    let labels = [
        json!({"tier": "front", "n": "1"}),
        json!({"tier": "back", "n": "5"}),
        json!({"tier": "", "n": "x"}),
        json!({"in": "notin"}),
        json!({}),
    ];
    for (name, labels) in ours.iter().zip(labels) {
        let body = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels}});
        cms(c, c.post(), &ns).body(&body).send().await.expect("create");
    }
    let informer = SharedInformer::<ConfigMap>::new(c.clone(), ReflectorOptions::default().namespace(&ns));
    let _handle = informer.start();
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced");
    let lister = informer.lister();
    // Only this test's objects: a real cluster adds its own ConfigMap to the namespace.
    let names = |cms: Vec<String>| {
        let mut cms: Vec<String> = cms.into_iter().filter(|n| ours.contains(&n.as_str())).collect();
        cms.sort();
        cms
    };
    let selectors = [
        "tier in (front,back)",
        "tier notin (front)",
        "tier!=back,n",
        "!tier",
        "tier",
        "tier in ()",
        "tier=",
        "n>3",
        "n<3",
        "in=notin",
        "in in (notin)",
        "",
    ];
    for selector in selectors {
        let listed: k8s_openapi::List<ConfigMap> =
            cms(c, c.get(), &ns).param("labelSelector", selector).into_list().await.expect("list");
        let server = names(listed.items.iter().map(|cm| name(cm).to_owned()).collect());
        let parsed = Selector::parse(selector).expect("valid selector");
        let local = names(lister.list_namespace(&ns, Some(&parsed)).iter().map(|cm| name(cm).to_owned()).collect());
        assert_eq!(local, server, "{selector:?}");
    }
    assert_eq!(
        names(
            lister
                .list_namespace(&ns, Some(&Selector::parse("n>3").unwrap()))
                .iter()
                .map(|cm| name(cm).to_owned())
                .collect()
        ),
        ["back"],
        "the comparison is not vacuous"
    );
    for bad in ["tier in front", "a>x", "-a=1"] {
        let err = Selector::parse(bad).expect_err(bad);
        let answer = cms(c, c.get(), &ns).param("labelSelector", bad).send().await;
        let status = answer.expect_err(bad).to_string();
        assert!(status.contains(&err.kube_message()), "{bad}: the server said {status}");
    }
}

// ---- scripted server: error paths ----

use std::sync::atomic::{AtomicUsize, Ordering};

fn cm_json(name: &str, rv: &str) -> serde_json::Value {
    json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default", "resourceVersion": rv}})
}

fn cm_list(rv: &str, items: &[(&str, &str)]) -> support::Reply {
    let items: Vec<_> = items.iter().map(|(n, r)| cm_json(n, r)).collect();
    support::Reply::json(
        200,
        json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": rv}, "items": items}),
    )
}

fn events(lines: &[serde_json::Value]) -> support::Reply {
    let mut r = support::Reply::json(200, json!({}));
    r.chunks = lines.iter().map(|l| bytes::Bytes::from(format!("{l}\n"))).collect();
    r
}

fn idle_watch() -> support::Reply {
    let mut r = events(&[]);
    r.delay = Some(Duration::from_secs(30));
    r
}

fn scripted_client(server: &support::TestServer) -> RESTClient {
    let mut cfg = ferrokube::rest::Config::new(server.url.clone());
    cfg.content.group_version = Some((String::new(), "v1".to_owned()));
    cfg.rate_limiter = ferrokube::rest::RateLimiterChoice::Disabled;
    RESTClient::new(&cfg).unwrap()
}

fn fast() -> ReflectorOptions {
    ReflectorOptions::default().namespace("default").backoff(Duration::from_millis(10), Duration::from_millis(50))
}

fn is_watch(s: &support::Seen) -> bool {
    s.path_and_query.contains("watch=true")
}

fn rv_param(s: &support::Seen) -> String {
    s.path_and_query.split(['?', '&']).find_map(|p| p.strip_prefix("resourceVersion=")).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn garbage_http_410_and_error_events_back_off_resume_and_relist() {
    let lists = AtomicUsize::new(0);
    let watches_from_20 = AtomicUsize::new(0);
    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "25"}}});
    let error_500 = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500}});
    let error_410 = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410}});
    let server = support::start(None, move |s: &support::Seen| {
        if !is_watch(s) {
            return match lists.fetch_add(1, Ordering::SeqCst) {
                0 => support::Reply::text(200, "<html>not a list</html>"),
                1 => cm_list("10", &[("a", "5"), ("b", "6")]),
                2 => cm_list("20", &[("b", "16"), ("c", "17")]),
                _ => cm_list("30", &[("c", "17"), ("d", "26")]),
            };
        }
        match rv_param(s).as_str() {
            "10" => support::Reply::status_error(410, "Expired", "too old resource version: 10 (15)"),
            "20" if watches_from_20.fetch_add(1, Ordering::SeqCst) == 0 => events(std::slice::from_ref(&error_500)),
            "20" => events(&[
                json!({"type": "MODIFIED", "object": {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "b", "namespace": "default", "resourceVersion": "21"}, "data": {"k": "v"}}}),
                json!({"type": "ADDED", "object": {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "wrong-kind"}}}),
                bookmark.clone(),
            ]),
            "25" => events(&[json!({"type": "ADDED", "object": cm_json("d", "26")})]),
            "26" => events(std::slice::from_ref(&error_410)),
            _ => idle_watch(),
        }
    })
    .await;
    let informer = SharedInformer::<ConfigMap>::new(scripted_client(&server), fast());
    let (handler, mut rx) = recorder();
    informer.add_event_handler(handler);
    let _handle = informer.start();
    let mut got = Vec::new();
    for _ in 0..8 {
        got.push(next(&mut rx).await);
    }
    let want = [
        "add a 5",
        "add b 6",
        // 410 on the watch: relist at 20.
        "update b 6->16",
        "add c 17",
        "delete a",
        // A 500 ERROR event: back off, watch again from 20.
        "update b 16->21",
        // The Secret is skipped; the bookmark moves the resume point to 25.
        "add d 26",
        // ERROR 410 event: relist at 30; c and d are unchanged (no update, as in
        // client-go, where those count as resyncs).
        "delete b",
    ];
    assert_eq!(got, want);
    let mut keys = informer.store().list_keys();
    keys.sort();
    assert_eq!(keys, ["default/c", "default/d"]);
    assert_eq!(informer.list_count(), 3, "the garbage list is retried and not counted");
    eventually("the watch from 30", || server.requests().iter().any(|s| is_watch(s) && rv_param(s) == "30")).await;
    assert_eq!(informer.last_sync_resource_version(), "30");
    let watched_from: Vec<String> = server.requests().iter().filter(|s| is_watch(s)).map(rv_param).collect();
    assert_eq!(watched_from, ["10", "20", "20", "25", "26", "30"]);
    assert!(server
        .requests()
        .iter()
        .filter(|s| is_watch(s))
        .all(|s| s.path_and_query.contains("allowWatchBookmarks=true")));
}

#[tokio::test]
async fn rejected_watch_list_falls_back_to_list_and_watch() {
    let server = support::start(None, |s: &support::Seen| {
        if s.path_and_query.contains("sendInitialEvents=true") {
            return support::Reply::status_error(422, "Invalid", "sendInitialEvents is forbidden for watch");
        }
        if !is_watch(s) {
            return cm_list("10", &[("a", "5")]);
        }
        match rv_param(s).as_str() {
            "10" => events(&[json!({"type": "ADDED", "object": cm_json("b", "11")})]),
            _ => idle_watch(),
        }
    })
    .await;
    let store = Store::<ConfigMap>::new();
    let handle = Reflector::new(scripted_client(&server), store.clone(), fast().watch_list(true)).spawn();
    tokio::time::timeout(WAIT, handle.wait_for_sync()).await.expect("synced");
    eventually("the watched object", || store.len() == 2).await;
    let seen: Vec<String> = server.requests().iter().map(|s| s.path_and_query.clone()).collect();
    assert!(
        seen[0].contains("sendInitialEvents=true") && seen[0].contains("resourceVersionMatch=NotOlderThan"),
        "{seen:?}"
    );
    assert!(seen[0].contains("allowWatchBookmarks=true"), "{seen:?}");
    assert!(!is_watch(&server.requests()[1]) && seen[1].contains("limit=500"), "then a paged list: {seen:?}");
    assert_eq!(seen.iter().filter(|q| q.contains("sendInitialEvents")).count(), 1, "fallback is permanent");
    assert_eq!(handle.list_count(), 1);
}

#[tokio::test]
async fn failures_are_reported_and_retried_until_they_stop() {
    let n = AtomicUsize::new(0);
    let server = support::start(None, move |s: &support::Seen| {
        if is_watch(s) {
            return idle_watch();
        }
        match n.fetch_add(1, Ordering::SeqCst) {
            0..=2 => support::Reply::status_error(403, "Forbidden", "configmaps is forbidden: User cannot list"),
            _ => cm_list("3", &[("a", "1")]),
        }
    })
    .await;
    let store = Store::<ConfigMap>::new();
    let reflector = Reflector::new(
        scripted_client(&server),
        store.clone(),
        ReflectorOptions::default()
            .namespace("default")
            .backoff(Duration::from_millis(200), Duration::from_millis(400)),
    );
    let handle = reflector.spawn();
    eventually("a reported failure", || handle.last_error().is_some()).await;
    assert!(!handle.has_synced());
    let err = handle.last_error().unwrap();
    assert!(matches!(&err, ReflectorError::List(e) if e.is_forbidden()), "{err}");
    let err = err.to_string();
    assert!(err.contains("list failed") && err.contains("forbidden"), "{err}");
    tokio::time::timeout(WAIT, handle.wait_for_sync()).await.expect("synced after the backoffs");
    assert!(handle.last_error().is_none(), "cleared by the successful list");
    assert_eq!(store.len(), 1);
    let lists = server.requests().iter().filter(|s| !is_watch(s)).count();
    assert_eq!(lists, 4);
}

#[tokio::test]
async fn resync_replays_the_store_and_late_handlers_get_existing_objects() {
    let server = support::start(
        None,
        |s: &support::Seen| {
            if is_watch(s) {
                idle_watch()
            } else {
                cm_list("3", &[("a", "1"), ("b", "2")])
            }
        },
    )
    .await;
    let informer = SharedInformer::<ConfigMap>::new(scripted_client(&server), fast());
    informer.set_resync_period(Some(Duration::from_millis(200)));
    let _handle = informer.start();
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced");
    let (handler, mut rx) = recorder();
    let id = informer.add_event_handler(handler);
    let mut late = vec![next(&mut rx).await, next(&mut rx).await];
    late.sort();
    assert_eq!(late, ["add a 1", "add b 2"]);
    let mut resync = vec![next(&mut rx).await, next(&mut rx).await];
    resync.sort();
    assert_eq!(resync, ["update a 1->1", "update b 2->2"]);
    assert!(informer.remove_event_handler(id));
    assert!(!informer.remove_event_handler(id));
}
