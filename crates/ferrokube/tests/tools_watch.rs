//! Integration tests of `tools::watch` (RetryWatcher and the until helpers) against the
//! server chosen by `FERROKUBE_TEST_SERVER` (tests/support/cluster.rs): the embedded
//! API server by default, or realkube.
//!
//! The embedded server's `Registry::with_options(StoreConfig { .. })` makes the
//! failures happen on demand: with a watch buffer of 2, a burst of in-process writes on
//! a single-threaded runtime (the watch task gets no turn) overflows the watcher and
//! the server closes the watch; with a history of 4 events, the resume point is then
//! too old and the resumed watch gets an ERROR event 410 Expired. Those tests, and the
//! one needing bookmarks every 50 ms, are embedded-only and say so when skipped.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube::kubernetes::ResourceClient;
use ferrokube::rest::{CreateOptions, DeleteOptions, ListOptions, RESTClient};
use ferrokube::tools::cache::{CacheObject, ListWatch, Store};
use ferrokube::tools::watch::{until, until_with_sync, until_without_retry, RetryWatcher, UntilError, WatchError};
use ferrokube::watch::WatchEvent;
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::storage::StoreConfig;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;

mod support;
use support::cluster::{admin_config, skip_unless_embedded, ClusterOptions, TestCluster};
use support::numbers::Numbers;
use support::recording_client;

const WAIT: Duration = Duration::from_secs(20);

struct Env {
    /// The server of the embedded-only tests (built over a registry of their own).
    _server: Option<EmbeddedServer>,
    /// The server of the others, chosen by `FERROKUBE_TEST_SERVER`.
    cluster: Option<TestCluster>,
    client: RESTClient,
    uris: Arc<Mutex<Vec<String>>>,
}

/// The server chosen by `FERROKUBE_TEST_SERVER` and a client that records the URI of
/// every request it sends.
async fn start() -> Env {
    let cluster = TestCluster::start(ClusterOptions::new("watch")).await;
    let (client, uris) = recording_client(cluster.config.clone());
    Env { _server: None, cluster: Some(cluster), client, uris }
}

/// An embedded server over `registry` (for the tests that need its tunables or write
/// to it in-process).
async fn start_embedded(registry: Arc<Registry>) -> Env {
    let server =
        EmbeddedServer::start_with_registry(ServerOptions::default(), registry).await.expect("embedded server starts");
    let (client, uris) = recording_client(admin_config(&server.kubeconfig_yaml()));
    Env { _server: Some(server), cluster: None, client, uris }
}

/// The label every ConfigMap [`create`] makes carries, and that watches select: a real
/// cluster's controllers add objects of their own to every namespace (the
/// `kube-root-ca.crt` ConfigMap).
const MINE: &str = "made-by=test";

impl Env {
    /// A namespace named after `base`, created (unique on a shared realkube).
    async fn namespace(&self, base: &str) -> String {
        let ns = match &self.cluster {
            Some(cluster) => cluster.unique_name(base),
            None => base.to_owned(),
        };
        create_namespace(&self.client, &ns).await;
        ns
    }

    /// The `resourceVersion` of every watch of `ns`'s configmaps so far.
    fn watches_from(&self, ns: &str) -> Vec<String> {
        let path = format!("/namespaces/{ns}/configmaps?");
        self.uris
            .lock()
            .unwrap()
            .iter()
            .filter(|u| u.contains(&path) && u.contains("watch=true"))
            .map(|u| {
                u.split(['?', '&']).find_map(|p| p.strip_prefix("resourceVersion=")).unwrap_or_default().to_owned()
            })
            .collect()
    }
}

fn cms(client: &RESTClient, ns: &str) -> ResourceClient<ConfigMap> {
    ResourceClient::namespaced(client.clone(), ns)
}

async fn create_namespace(client: &RESTClient, ns: &str) {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    client.post().group_version("", "v1").resource("namespaces").body(&body).send().await.expect("namespace");
}

async fn create(client: &RESTClient, ns: &str, name: &str, data: &str) -> ConfigMap {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some([("made-by".to_owned(), "test".to_owned())].into()),
            ..Default::default()
        },
        data: Some([("v".to_owned(), data.to_owned())].into()),
        ..Default::default()
    };
    cms(client, ns).create(&cm, &CreateOptions::default()).await.expect("create")
}

async fn update(client: &RESTClient, ns: &str, name: &str, data: &str) -> ConfigMap {
    let c = cms(client, ns);
    let mut cm = c.get(name, &Default::default()).await.expect("get");
    cm.data = Some([("v".to_owned(), data.to_owned())].into());
    c.update(&cm, &Default::default()).await.expect("update")
}

fn rv<K: CacheObject>(o: &K) -> String {
    o.resource_version().unwrap_or_default().to_owned()
}

fn name<K: CacheObject>(o: &K) -> String {
    o.name().unwrap_or_default().to_owned()
}

fn data(cm: &ConfigMap) -> &str {
    cm.data.as_ref().and_then(|d| d.get("v")).map(String::as_str).unwrap_or_default()
}

/// Waits until the server's controllers have published `kube-root-ca.crt` in each of
/// `namespaces`: their ConfigMap writes, on the controllers' own thread, would
/// otherwise land in the middle of a test that counts on a history of 4 events.
async fn wait_root_ca_published(client: &RESTClient, namespaces: &[&str]) {
    for ns in namespaces {
        let deadline = tokio::time::Instant::now() + WAIT;
        while cms(client, ns).get("kube-root-ca.crt", &Default::default()).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "no kube-root-ca.crt in {ns}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Creates a ConfigMap through the registry directly, without yielding to the runtime.
async fn create_in_process(registry: &Registry, ns: &str, name: &str) {
    use ferrokube_apiserver::api::{ApiRequest, Verb};
    use ferrokube_apiserver::catalog::Catalog;
    let catalog = Catalog::builtin();
    let info = catalog.lookup("", "v1", "configmaps").expect("configmaps in the catalog").clone();
    let labels = json!({"made-by": "test"});
    let body =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels}});
    let req = ApiRequest::new(Verb::Create, info).with_namespace(ns).with_json(&body, "application/json");
    assert!(registry.handle(req).await.is_ok(), "in-process create");
}

async fn next<S: futures_util::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    tokio::time::timeout(WAIT, s.next()).await.expect("a stream item in time")
}

fn lw(client: &RESTClient, ns: &str) -> ListWatch<ConfigMap> {
    ListWatch::<ConfigMap>::new(client.clone()).namespace(ns).label_selector(MINE)
}

#[tokio::test]
async fn retry_watcher_resumes_after_the_server_closes_the_watch() {
    if skip_unless_embedded("needs a watch buffer of 2 and writes that do not yield") {
        return;
    }
    let registry =
        Registry::with_options(StoreConfig { history_capacity: 10_000, watch_buffer: 2 }, Duration::from_secs(60));
    let env = start_embedded(Arc::clone(&registry)).await;
    let c = &env.client;
    create_namespace(c, "rw").await;
    let first = create(c, "rw", "first", "0").await;
    let mut w = RetryWatcher::new(&rv(&first), lw(c, "rw")).expect("a watcher");
    let live = create(c, "rw", "live", "0").await;
    match next(&mut w).await {
        Some(Ok(WatchEvent::Added(cm))) => assert_eq!(name(&cm), "live"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.last_resource_version(), rv(&live));

    // The burst overflows the watcher: the server closes the watch; the retry watcher
    // resumes from the last resourceVersion it saw and misses nothing.
    for i in 0..12 {
        create_in_process(&registry, "rw", &format!("burst-{i}")).await;
    }
    let mut got = Vec::new();
    for _ in 0..12 {
        match next(&mut w).await {
            Some(Ok(WatchEvent::Added(cm))) => got.push(name(&cm)),
            other => panic!("{other:?}"),
        }
    }
    let want: Vec<String> = (0..12).map(|i| format!("burst-{i}")).collect();
    assert_eq!(got, want, "every event once, in order");
    let from = env.watches_from("rw");
    assert!(from.len() >= 2, "the watch was restarted: {from:?}");
    assert_eq!(from[0], rv(&first));
    assert!(env
        .uris
        .lock()
        .unwrap()
        .iter()
        .filter(|u| u.contains("watch=true"))
        .all(|u| u.contains("allowWatchBookmarks=true")));
}

#[tokio::test]
async fn retry_watcher_follows_bookmarks() {
    if skip_unless_embedded("needs watch bookmarks every 50 ms (kube-apiserver sends one about every minute)") {
        return;
    }
    let registry = Registry::with_bookmark_interval(Duration::from_millis(50));
    let env = start_embedded(registry).await;
    let c = &env.client;
    create_namespace(c, "bm").await;
    let first = create(c, "bm", "first", "0").await;
    let mut w = RetryWatcher::new(&rv(&first), lw(c, "bm")).expect("a watcher");
    create(c, "bm", "live", "0").await;
    assert!(matches!(next(&mut w).await, Some(Ok(WatchEvent::Added(_)))));

    // A write elsewhere moves the resourceVersion on; only a bookmark can tell the
    // configmap watch of namespace bm about it.
    create_namespace(c, "bm-other").await;
    let elsewhere = create(c, "bm-other", "elsewhere", "0").await;
    let target: u64 = rv(&elsewhere).parse().expect("the embedded server's resourceVersions are numbers");
    let deadline = tokio::time::Instant::now() + WAIT;
    while w.last_resource_version().parse::<u64>().unwrap() < target {
        assert!(tokio::time::Instant::now() < deadline, "no bookmark moved the resume point to {target}");
        tokio::select! {
            item = w.next() => panic!("no configmap of bm changed, yet {item:?}"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

// Single-threaded runtime (see the file docs).
#[tokio::test]
async fn retry_watcher_stops_with_gone_when_history_is_lost() {
    if skip_unless_embedded("needs a watch history of 4 events and writes that do not yield") {
        return;
    }
    let registry =
        Registry::with_options(StoreConfig { history_capacity: 4, watch_buffer: 2 }, Duration::from_secs(60));
    let env = start_embedded(Arc::clone(&registry)).await;
    let c = &env.client;
    create_namespace(c, "gone").await;
    wait_root_ca_published(c, &["default", "gone", "kube-public", "kube-system"]).await;
    let first = create(c, "gone", "first", "0").await;
    let mut w = RetryWatcher::new(&rv(&first), lw(c, "gone")).expect("a watcher");
    create(c, "gone", "live", "0").await;
    assert!(matches!(next(&mut w).await, Some(Ok(WatchEvent::Added(_)))));
    for i in 0..20 {
        create_in_process(&registry, "gone", &format!("burst-{i}")).await;
    }
    // A few burst events may get through before the watcher is dropped.
    let err = loop {
        match next(&mut w).await {
            Some(Ok(WatchEvent::Added(_))) => continue,
            Some(Err(e)) => break e,
            other => panic!("{other:?}"),
        }
    };
    assert!(err.is_gone(), "{err:?}");
    assert!(matches!(&err, WatchError::Gone(s) if s.code == Some(410)), "{err:?}");
    assert!(next(&mut w).await.is_none(), "the watcher ends after 410");
}

#[tokio::test]
async fn retry_watcher_refuses_rv_zero_and_empty() {
    let env = start().await;
    for bad in ["", "0"] {
        let err = RetryWatcher::new(bad, lw(&env.client, "x")).unwrap_err();
        assert!(matches!(&err, WatchError::InvalidResourceVersion(v) if v == bad), "{err:?}");
    }
}

#[tokio::test]
async fn retry_watcher_reports_an_undecodable_event_and_goes_on() {
    let env = start().await;
    let c = &env.client;
    let dec = env.namespace("dec").await;
    let first = create(c, &dec, "first", "0").await;
    // A closure is a Watcher too (here over the raw request builder).
    let (client, ns) = (c.clone(), dec.clone());
    let watcher = move |opts: ListOptions| {
        let (client, ns) = (client.clone(), ns.clone());
        let opts = ListOptions { label_selector: Some(MINE.to_owned()), ..opts };
        async move {
            client
                .get()
                .group_version("", "v1")
                .namespace(&ns)
                .resource("configmaps")
                .versioned_params(&opts)
                .watch::<Numbers>()
                .await
        }
    };
    let mut w = RetryWatcher::new(&rv(&first), watcher).expect("a watcher");
    create(c, &dec, "bad", "x").await;
    let good = create(c, &dec, "good", "7").await;
    match next(&mut w).await {
        Some(Err(e)) => {
            assert!(e.is_decode(), "{e:?}");
            assert!(e.to_string().contains("\"x\" is not a number"), "{e}");
        }
        other => panic!("expected the decode error, got {other:?}"),
    }
    match next(&mut w).await {
        Some(Ok(WatchEvent::Added(n))) => assert_eq!((name(&n).as_str(), n.data["v"].0), ("good", 7)),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.last_resource_version(), rv(&good));
    // And the until helpers end on it.
    let err = until(&rv(&first), lw_numbers(c, &dec), [|_: &WatchEvent<Numbers>| Ok::<_, Infallible>(false)])
        .await
        .unwrap_err();
    assert!(matches!(&err, UntilError::Watch(e) if e.is_decode()), "{err:?}");
}

fn lw_numbers(c: &RESTClient, ns: &str) -> ListWatch<Numbers> {
    ListWatch::for_resource(c.clone(), ferrokube::schema::GroupVersionResource::new("", "v1", "configmaps"))
        .namespace(ns)
        .label_selector(MINE)
}

type Condition = Box<dyn FnMut(&WatchEvent<ConfigMap>) -> Result<bool, String> + Send>;

#[tokio::test]
async fn until_meets_conditions_in_turn() {
    let env = start().await;
    let c = env.client.clone();
    let ns = env.namespace("until").await;
    let start = create(&c, &ns, "start", "0").await;
    let writer = {
        let (c, ns) = (c.clone(), ns.clone());
        tokio::spawn(async move {
            create(&c, &ns, "x", "1").await;
            update(&c, &ns, "x", "2").await;
            update(&c, &ns, "x", "3").await;
            cms(&c, &ns).delete("x", &DeleteOptions::default()).await.unwrap();
        })
    };
    let is_x = |e: &WatchEvent<ConfigMap>| e.object().is_some_and(|o| name(o) == "x");
    let conditions: Vec<Condition> = vec![
        Box::new(move |e| Ok(is_x(e) && matches!(e, WatchEvent::Added(_)))),
        // The first condition's event is tried first: v=1 is not 2, then new events.
        Box::new(move |e| Ok(is_x(e) && matches!(e, WatchEvent::Modified(cm) if data(cm) == "2"))),
        Box::new(move |e| Ok(is_x(e) && matches!(e, WatchEvent::Deleted(_)))),
    ];
    let last = tokio::time::timeout(WAIT, until(&rv(&start), lw(&c, &ns), conditions))
        .await
        .expect("in time")
        .expect("conditions met");
    match last {
        Some(WatchEvent::Deleted(cm)) => assert_eq!(data(&cm), "3"),
        other => panic!("{other:?}"),
    }
    writer.await.unwrap();

    // A condition's error ends the wait.
    let err = until(&rv(&start), lw(&c, &ns), [|_: &WatchEvent<ConfigMap>| Err::<bool, _>("nope".to_owned())])
        .await
        .unwrap_err();
    assert!(matches!(&err, UntilError::Condition(m) if m == "nope"), "{err:?}");
    // "" is refused up front.
    let err = until("", lw(&c, &ns), [|_: &WatchEvent<ConfigMap>| Ok::<_, String>(true)]).await.unwrap_err();
    assert!(matches!(err, UntilError::Watch(WatchError::InvalidResourceVersion(_))));
}

#[tokio::test]
async fn until_without_retry_ends_with_its_watch() {
    let env = start().await;
    let c = &env.client;
    let uwr = env.namespace("uwr").await;
    let start = create(c, &uwr, "start", "0").await;
    let opts = ListOptions { resource_version: Some(rv(&start)), ..Default::default() };
    let stream = lw(c, &uwr).watch(&opts).await.expect("watch");
    create(c, &uwr, "y", "1").await;
    let ev = until_without_retry(
        stream,
        [|e: &WatchEvent<ConfigMap>| Ok::<_, Infallible>(matches!(e, WatchEvent::Added(_)))],
    )
    .await
    .expect("met");
    assert!(matches!(ev, Some(WatchEvent::Added(cm)) if name(&cm) == "y"));

    // A watch the server ends (timeoutSeconds=1) before the condition holds.
    let opts = ListOptions { resource_version: Some(rv(&start)), timeout_seconds: Some(1), ..Default::default() };
    let stream = lw(c, &uwr).watch(&opts).await.expect("watch");
    let err = tokio::time::timeout(
        WAIT,
        until_without_retry(
            stream,
            [|e: &WatchEvent<ConfigMap>| Ok::<_, Infallible>(matches!(e, WatchEvent::Deleted(_)))],
        ),
    )
    .await
    .expect("the server ends the watch")
    .unwrap_err();
    assert!(matches!(err, UntilError::WatchClosed), "{err:?}");
}

#[tokio::test]
async fn until_with_sync_checks_the_synced_store_then_waits() {
    let env = start().await;
    let c = env.client.clone();
    let uws = env.namespace("uws").await;
    create(&c, &uws, "ready", "yes").await;
    create(&c, &uws, "later", "no").await;

    // The precondition already holds: no watching at all.
    let pre = |s: &Store<ConfigMap>| {
        Ok::<_, Infallible>(s.get_by_key(&format!("{uws}/ready")).is_some_and(|o| data(&o) == "yes"))
    };
    let got = until_with_sync(lw(&c, &uws), Some(pre), [|_: &WatchEvent<ConfigMap>| Ok::<_, Infallible>(true)])
        .await
        .unwrap();
    assert!(got.is_none());

    // It does not: wait for the change.
    let later = format!("{uws}/later");
    let pre = move |s: &Store<ConfigMap>| Ok::<_, Infallible>(s.get_by_key(&later).is_some_and(|o| data(&o) == "yes"));
    let cond = |e: &WatchEvent<ConfigMap>| {
        Ok::<_, Infallible>(matches!(e, WatchEvent::Modified(cm) if name(cm) == "later" && data(cm) == "yes"))
    };
    let synced = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&synced);
    let pre = move |s: &Store<ConfigMap>| {
        notify.notify_one();
        pre(s)
    };
    let wait = tokio::spawn(until_with_sync(lw(&c, &uws).field_selector("metadata.name=later"), Some(pre), [cond]));
    tokio::time::timeout(WAIT, synced.notified()).await.expect("informer synced");
    update(&c, &uws, "later", "yes").await;
    let got = tokio::time::timeout(WAIT, wait).await.expect("in time").unwrap().expect("met");
    assert!(matches!(got, Some(WatchEvent::Modified(cm)) if data(&cm) == "yes"));
}

// Single-threaded runtime (see the file docs): the same 410 that ends `until` is
// recovered from by `until_with_sync`, whose informer relists.
#[tokio::test]
async fn until_with_sync_recovers_from_410_where_until_fails() {
    if skip_unless_embedded("needs a watch history of 4 events and writes that do not yield") {
        return;
    }
    let registry =
        Registry::with_options(StoreConfig { history_capacity: 4, watch_buffer: 2 }, Duration::from_secs(60));
    let env = start_embedded(Arc::clone(&registry)).await;
    let c = env.client.clone();
    create_namespace(&c, "rec").await;
    let first = create(&c, "rec", "first", "0").await;
    let last_added = |e: &WatchEvent<ConfigMap>| Ok::<_, Infallible>(e.object().is_some_and(|o| name(o) == "burst-19"));
    let synced = Arc::new(tokio::sync::Notify::new());
    let pre = {
        let synced = Arc::clone(&synced);
        move |_: &Store<ConfigMap>| {
            synced.notify_one();
            Ok::<_, Infallible>(false)
        }
    };
    let with_sync = tokio::spawn(until_with_sync(lw(&c, "rec"), Some(pre), [last_added]));
    let plain = tokio::spawn(until(&rv(&first), lw(&c, "rec"), [last_added]));
    // Once the informer has synced, whether the burst overflows its watch or comes
    // before the watch reaches the server, its watch resumes from before 20 events a
    // history of 4 no longer holds: 410, relist. The same holds for `until`'s watch.
    tokio::time::timeout(WAIT, synced.notified()).await.expect("informer synced");
    for i in 0..20 {
        create_in_process(&registry, "rec", &format!("burst-{i}")).await;
    }
    let err = tokio::time::timeout(WAIT, plain).await.expect("in time").unwrap().unwrap_err();
    assert!(matches!(&err, UntilError::Watch(e) if e.is_gone()), "{err:?}");
    let got = tokio::time::timeout(WAIT, with_sync).await.expect("in time").unwrap().expect("met after a relist");
    assert!(matches!(got, Some(WatchEvent::Added(cm)) if name(&cm) == "burst-19"));
}
