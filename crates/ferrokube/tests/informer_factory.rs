//! Integration tests of `tools::cache`'s shared informer factory, per-handler queues,
//! event streams, dynamic and metadata informers, and error reporting, against the
//! server chosen by `FERROKUBE_TEST_SERVER` (tests/support/cluster.rs: the embedded API
//! server by default, or realkube; real HTTPS, real watches).
//!
//! Waiting is done for observable events (a handler call, a stream item, a store
//! size), never by sleeping to see that nothing happened.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use ferrokube::controller::{Action, Config, Controller};
use ferrokube::dynamic::{DynamicClient, Unstructured};
use ferrokube::kubernetes::{Clientset, ResourceClient};
use ferrokube::metadata::PartialObjectMetadata;
use ferrokube::rest::{CreateOptions, DeleteOptions, RESTClient};
use ferrokube::schema::GroupVersionResource;
use ferrokube::tools::cache::{
    CacheObject, Event, InformerKey, ListWatch, ReflectorError, ReflectorOptions, ResourceEventHandlerFuncs, Selector,
    SharedInformer, SharedInformerFactory,
};
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::storage::StoreConfig;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;
use support::cluster::{admin_config, skip_unless_embedded, ClusterOptions, TestCluster};
use support::recording_client;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

mod support;
use support::numbers::Numbers;

const WAIT: Duration = Duration::from_secs(20);

struct Env {
    cluster: TestCluster,
    client: RESTClient,
    /// Every request URI the client sent.
    uris: Arc<Mutex<Vec<String>>>,
}

/// The server chosen by `FERROKUBE_TEST_SERVER` and a client that records the URI of
/// every request it sends.
async fn start() -> Env {
    let cluster = TestCluster::start(ClusterOptions::new("factory")).await;
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

/// The label every ConfigMap [`create`] makes carries, and that informers select: a
/// real cluster's controllers add objects of their own to every namespace (the
/// `kube-root-ca.crt` ConfigMap).
const MINE: &str = "made-by=test";

/// Selects [`MINE`] (a factory's list-options tweak).
fn mine(options: &mut ferrokube::rest::ListOptions) {
    options.label_selector = Some(MINE.to_owned());
}

impl Env {
    /// A namespace of this test's own named after `base`, created (unique on a shared
    /// realkube).
    async fn namespace(&self, base: &str) -> String {
        let ns = self.cluster.unique_name(base);
        create_namespace(&self.client, &ns).await;
        ns
    }

    /// The requests sent so far whose URI contains every one of `parts`.
    fn count(&self, parts: &[&str]) -> usize {
        self.uris.lock().unwrap().iter().filter(|u| parts.iter().all(|p| u.contains(p))).count()
    }
}

fn cms(client: &RESTClient, ns: &str) -> ResourceClient<ConfigMap> {
    ResourceClient::namespaced(client.clone(), ns)
}

fn configmaps() -> GroupVersionResource {
    GroupVersionResource::new("", "v1", "configmaps")
}

async fn create_namespace(client: &RESTClient, ns: &str) {
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    client.post().group_version("", "v1").resource("namespaces").body(&body).send().await.expect("namespace");
}

async fn create(client: &RESTClient, ns: &str, name: &str, labels: &[(&str, &str)], data: &str) -> ConfigMap {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            labels: Some(
                labels.iter().chain([&("made-by", "test")]).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ),
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

async fn delete(client: &RESTClient, ns: &str, name: &str) {
    cms(client, ns).delete(name, &DeleteOptions::default()).await.expect("delete");
}

fn name<K: CacheObject>(o: &K) -> String {
    o.name().unwrap_or_default().to_owned()
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("an item in time").expect("channel open")
}

async fn next_event<S: futures_util::Stream + Unpin>(s: &mut S) -> S::Item {
    tokio::time::timeout(WAIT, s.next()).await.expect("a stream item in time").expect("the stream goes on")
}

/// A handler sending `add NAME`, `update NAME`, `delete NAME` on a channel.
fn recorder<K: CacheObject + Send + Sync + 'static>() -> (ResourceEventHandlerFuncs<K>, mpsc::UnboundedReceiver<String>)
{
    let (tx, rx) = mpsc::unbounded_channel();
    let (a, u, d) = (tx.clone(), tx.clone(), tx);
    let h = ResourceEventHandlerFuncs::new()
        .on_add(move |o: &Arc<K>| {
            let _ = a.send(format!("add {}", name(&**o)));
        })
        .on_update(move |_, n: &Arc<K>| {
            let _ = u.send(format!("update {}", name(&**n)));
        })
        .on_delete(move |o: &Arc<K>| {
            let _ = d.send(format!("delete {}", name(&**o)));
        });
    (h, rx)
}

#[tokio::test]
async fn one_list_and_watch_per_type_shared_by_every_consumer() {
    let env = start().await;
    let c = &env.client;
    let fac = env.namespace("fac").await;
    create(c, &fac, "a", &[], "1").await;

    let factory =
        SharedInformerFactory::new(c.clone(), Duration::ZERO).with_namespace(&fac).with_tweak_list_options(mine);
    let first = factory.informer::<ConfigMap>();
    let second = factory.informer::<ConfigMap>();
    let secrets = factory.informer::<Secret>();
    assert_eq!(factory.informer_keys().len(), 2, "ConfigMap once, Secret once");
    let (h1, mut rx1) = recorder::<ConfigMap>();
    let (h2, mut rx2) = recorder::<ConfigMap>();
    first.add_event_handler(h1);
    second.add_event_handler(h2);
    assert!(!first.is_running());

    factory.start();
    factory.start(); // idempotent
    let synced = factory.wait_for_cache_sync(tokio::time::sleep(WAIT)).await;
    assert_eq!(
        synced,
        BTreeMap::from([(InformerKey::typed::<ConfigMap>(), true), (InformerKey::typed::<Secret>(), true)])
    );
    assert!(first.is_running() && secrets.is_running());
    assert_eq!(recv(&mut rx1).await, "add a");
    assert_eq!(recv(&mut rx2).await, "add a");
    create(c, &fac, "b", &[], "1").await;
    assert_eq!(recv(&mut rx1).await, "add b");
    assert_eq!(recv(&mut rx2).await, "add b");
    assert_eq!(second.lister().list(None).len(), 2);
    assert_eq!(env.count(&[&format!("/namespaces/{fac}/configmaps?"), "limit="]), 1, "one list of configmaps");
    assert_eq!(env.count(&[&format!("/namespaces/{fac}/configmaps?"), "watch=true"]), 1, "one watch of configmaps");

    // An informer requested after start runs only once start is called again.
    let late = factory.metadata_for_resource(&configmaps());
    assert!(!late.is_running());
    factory.start();
    let synced = factory.wait_for_cache_sync(tokio::time::sleep(WAIT)).await;
    assert_eq!(synced.len(), 3);
    assert!(synced.values().all(|s| *s), "{synced:?}");
    assert_eq!(late.store().len(), 2);

    // A controller on the factory's informer shares its run: still one list.
    let reconciled = Arc::new(AtomicUsize::new(0));
    let stop = CancellationToken::new();
    let controller =
        Controller::new(factory.informer::<ConfigMap>(), Config::default().name("shared")).shutdown_on(stop.clone());
    let count = Arc::clone(&reconciled);
    let run = tokio::spawn(controller.run(
        |_cm: Arc<ConfigMap>, n: Arc<Arc<AtomicUsize>>| async move {
            n.fetch_add(1, Ordering::SeqCst);
            Ok::<_, std::convert::Infallible>(Action::Done)
        },
        Arc::new(count),
    ));
    eventually("both objects reconciled", || reconciled.load(Ordering::SeqCst) >= 2).await;
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").expect("no panic");
    assert!(first.is_running(), "the controller's stop leaves the factory's run alone");
    assert_eq!(
        env.count(&[&format!("/namespaces/{fac}/configmaps?"), "limit="]),
        2,
        "configmaps + metadata lists only"
    );

    factory.shutdown();
    assert!(!first.is_running() && !secrets.is_running() && !late.is_running());
    factory.start();
    assert!(!first.is_running(), "start after shutdown does nothing");
}

#[tokio::test]
async fn namespace_tweak_and_default_resync() {
    let env = start().await;
    let c = &env.client;
    let tw = env.namespace("tw").await;
    let tw_other = env.namespace("tw-other").await;
    create(c, &tw, "web", &[("app", "web")], "1").await;
    create(c, &tw, "db", &[("app", "db")], "1").await;
    create(c, &tw_other, "web", &[("app", "web")], "1").await;

    let factory = SharedInformerFactory::new(c.clone(), Duration::from_millis(200))
        .with_namespace(&tw)
        .with_tweak_list_options(|o| o.label_selector = Some("app=web".to_owned()));
    let informer = factory.informer::<ConfigMap>();
    let dynamic = factory.for_resource(&configmaps());
    let (tx, mut rx) = mpsc::unbounded_channel();
    informer.add_event_handler(ResourceEventHandlerFuncs::new().on_update(move |old, new| {
        let _ = tx.send(Arc::ptr_eq(old, new));
    }));
    factory.start();
    let synced = factory.wait_for_cache_sync(tokio::time::sleep(WAIT)).await;
    assert!(synced.values().all(|s| *s));
    let keys = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(keys(informer.store().list_keys()), [format!("{tw}/web")]);
    assert_eq!(keys(dynamic.store().list_keys()), [format!("{tw}/web")]);
    assert!(env.count(&[&format!("/namespaces/{tw}/configmaps?"), "labelSelector=app%3Dweb", "watch=true"]) >= 2);
    // The default resync: on_update(obj, obj) with the very same object.
    assert!(recv(&mut rx).await, "a resync hands the stored object as old and new");
}

#[tokio::test]
async fn dynamic_and_metadata_informers() {
    let env = start().await;
    let c = &env.client;
    let dyn_ns = env.namespace("dyn").await;
    create(c, &dyn_ns, "one", &[("tier", "front")], "1").await;

    let factory =
        SharedInformerFactory::new(c.clone(), Duration::ZERO).with_namespace(&dyn_ns).with_tweak_list_options(mine);
    let dynamic: SharedInformer<Unstructured> = factory.for_resource(&configmaps());
    let again = factory.for_resource(&configmaps());
    let meta: SharedInformer<PartialObjectMetadata> = factory.metadata_for_resource(&configmaps());
    assert_eq!(factory.informer_keys().len(), 2);
    let (dh, mut drx) = recorder::<Unstructured>();
    let (mh, mut mrx) = recorder::<PartialObjectMetadata>();
    again.add_event_handler(dh);
    meta.add_event_handler(mh);
    factory.start();
    let synced = factory.wait_for_cache_sync(tokio::time::sleep(WAIT)).await;
    assert_eq!(
        synced,
        BTreeMap::from([(InformerKey::Dynamic(configmaps()), true), (InformerKey::Metadata(configmaps()), true)])
    );
    assert_eq!(recv(&mut drx).await, "add one");
    assert_eq!(recv(&mut mrx).await, "add one");
    let listed = dynamic.lister().get(&dyn_ns, "one").expect("cached");
    assert_eq!((listed.api_version(), listed.kind()), (Some("v1"), Some("ConfigMap")), "listed objects are typed");

    create(c, &dyn_ns, "two", &[("tier", "back")], "2").await;
    update(c, &dyn_ns, "one", "3").await;
    delete(c, &dyn_ns, "two").await;
    for want in ["add two", "update one", "delete two"] {
        assert_eq!(recv(&mut drx).await, want);
        assert_eq!(recv(&mut mrx).await, want);
    }
    let one = dynamic.lister().get(&dyn_ns, "one").expect("cached");
    assert_eq!(one.nested_string(&["data", "v"]), Ok(Some("3")), "dynamic objects are whole");
    assert_eq!(one.kind(), Some("ConfigMap"));
    let front = Selector::parse("tier=front").unwrap();
    assert_eq!(dynamic.lister().list_namespace(&dyn_ns, Some(&front)).len(), 1, "label selectors on Unstructured");
    let m = meta.lister().get(&dyn_ns, "one").expect("cached");
    assert_eq!(m.metadata.labels.as_ref().unwrap()["tier"], "front");
    assert_eq!(m.metadata.resource_version.as_deref(), one.resource_version());
    assert_eq!(meta.lister().list(Some(&front)).len(), 1);
}

#[tokio::test]
async fn a_blocked_handler_stalls_neither_the_other_handlers_nor_the_store() {
    let env = start().await;
    let c = &env.client;
    let iso = env.namespace("iso").await;
    for i in 0..5 {
        create(c, &iso, &format!("pre-{i}"), &[], "0").await;
    }
    let factory =
        SharedInformerFactory::new(c.clone(), Duration::ZERO).with_namespace(&iso).with_tweak_list_options(mine);
    let informer = factory.informer::<ConfigMap>();

    // The slow handler blocks in its first call until the test releases it.
    let barrier = Arc::new(Barrier::new(2));
    let blocked = Arc::new(AtomicBool::new(true));
    let (slow_tx, mut slow_rx) = mpsc::unbounded_channel();
    let (b, first) = (Arc::clone(&barrier), Arc::clone(&blocked));
    let slow = informer.add_event_handler(ResourceEventHandlerFuncs::new().on_add(move |o| {
        if first.swap(false, Ordering::SeqCst) {
            b.wait();
        }
        let _ = slow_tx.send(name(&**o));
    }));
    let (fast_tx, mut fast_rx) = mpsc::unbounded_channel();
    let fast = informer.add_event_handler(ResourceEventHandlerFuncs::new().on_add(move |o| {
        let _ = fast_tx.send(name(&**o));
    }));
    factory.start();
    let synced = factory.wait_for_cache_sync(tokio::time::sleep(WAIT)).await;
    assert!(synced.values().all(|s| *s));
    tokio::time::timeout(WAIT, informer.wait_for_handler_sync(fast)).await.expect("fast handler synced");
    eventually("the slow handler inside its first call", || informer.handler_stats(slow).unwrap().delivered == 1).await;
    assert!(!informer.handler_has_synced(slow), "the slow handler is stuck in the first list");

    for i in 0..15 {
        create(c, &iso, &format!("live-{i}"), &[], "0").await;
    }
    let mut fast_seen = Vec::new();
    for _ in 0..20 {
        fast_seen.push(recv(&mut fast_rx).await);
    }
    assert_eq!(informer.store().len(), 20, "the store kept up");
    assert!(fast_seen[5..].iter().zip(0..).all(|(n, i)| *n == format!("live-{i}")), "{fast_seen:?}");
    let stats = informer.handler_stats(slow).expect("registered");
    // 5 initial adds + the sync marker + 15 live adds queued; the first add is in the handler.
    assert_eq!(stats.pending, 20, "{stats:?}");
    assert_eq!(stats.delivered, 1);
    assert_eq!(informer.handler_stats(fast).unwrap().pending, 0);
    assert!(slow_rx.try_recv().is_err(), "nothing got through the blocked handler");

    // Released, the slow handler catches up with everything, in the same order.
    tokio::task::spawn_blocking(move || barrier.wait()).await.unwrap();
    let mut slow_seen = Vec::new();
    for _ in 0..20 {
        slow_seen.push(recv(&mut slow_rx).await);
    }
    assert_eq!(slow_seen, fast_seen);
    tokio::time::timeout(WAIT, informer.wait_for_handler_sync(slow)).await.expect("slow handler synced at last");
    assert_eq!(informer.handler_stats(slow).unwrap().max_pending, 20);
}

#[tokio::test]
async fn event_stream_gives_init_then_apply_and_delete() {
    let env = start().await;
    let c = &env.client;
    let es = env.namespace("es").await;
    create(c, &es, "a", &[], "1").await;
    create(c, &es, "b", &[], "1").await;
    let informer = SharedInformer::<ConfigMap>::new(
        c.clone(),
        ReflectorOptions::default().namespace(&es).label_selector(MINE).page_size(Some(1)),
    );
    let mut events = informer.event_stream(); // starts the informer
    assert!(informer.is_running());
    assert!(matches!(next_event(&mut events).await, Ok(Event::Init)));
    let mut initial = Vec::new();
    for _ in 0..2 {
        match next_event(&mut events).await {
            Ok(Event::InitApply(o)) => initial.push(name(&*o)),
            other => panic!("expected InitApply, got {other:?}"),
        }
    }
    initial.sort();
    assert_eq!(initial, ["a", "b"]);
    assert!(matches!(next_event(&mut events).await, Ok(Event::InitDone)));

    create(c, &es, "x", &[], "1").await;
    update(c, &es, "x", "2").await;
    delete(c, &es, "a").await;
    match next_event(&mut events).await {
        Ok(Event::Apply(o)) => assert_eq!(name(&*o), "x"),
        other => panic!("{other:?}"),
    }
    match next_event(&mut events).await {
        Ok(Event::Apply(o)) => assert_eq!(o.data.as_ref().unwrap()["v"], "2"),
        other => panic!("{other:?}"),
    }
    match next_event(&mut events).await {
        Ok(Event::Delete(o)) => assert_eq!(name(&*o), "a"),
        other => panic!("{other:?}"),
    }

    // A stream opened later starts with a snapshot of the store.
    let mut late = informer.event_stream();
    assert!(matches!(next_event(&mut late).await, Ok(Event::Init)));
    let mut snapshot = Vec::new();
    while let Ok(Event::InitApply(o)) = next_event(&mut late).await {
        snapshot.push(name(&*o));
    }
    snapshot.sort();
    assert_eq!(snapshot, ["b", "x"], "and InitDone ended it");

    // The streams keep the informer running; dropping them stops it.
    drop(events);
    assert!(informer.is_running());
    drop(late);
    assert!(!informer.is_running());
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

// Single-threaded runtime: the burst of in-process writes runs without the watch task
// getting a turn, so the server drops the watcher (buffer of 2) and its history of 4
// no longer reaches back: the informer relists, and the stream shows the relist as a
// new Init .. InitDone holding every object.
#[tokio::test]
async fn event_stream_shows_a_relist_after_410_as_a_new_init() {
    if skip_unless_embedded("needs a watch history of 4 events and writes that do not yield") {
        return;
    }
    let registry =
        Registry::with_options(StoreConfig { history_capacity: 4, watch_buffer: 2 }, Duration::from_secs(60));
    let (_server, client) = start_embedded(Arc::clone(&registry)).await;
    let c = &client;
    create_namespace(c, "relist").await;
    let informer = SharedInformer::<ConfigMap>::new(
        c.clone(),
        ReflectorOptions::default().namespace("relist").label_selector(MINE),
    );
    let mut events = informer.event_stream();
    assert!(matches!(next_event(&mut events).await, Ok(Event::Init)));
    assert!(matches!(next_event(&mut events).await, Ok(Event::InitDone)));
    create(c, "relist", "live", &[], "1").await;
    assert!(matches!(next_event(&mut events).await, Ok(Event::Apply(_))), "the watch is live");

    for i in 0..20 {
        create_in_process(&registry, "relist", &format!("burst-{i}")).await;
    }
    // Some burst events may arrive before the watcher is dropped; then a full list.
    loop {
        match next_event(&mut events).await {
            Ok(Event::Apply(_)) => continue,
            Ok(Event::Init) => break,
            other => panic!("expected Apply or Init, got {other:?}"),
        }
    }
    let mut listed = 0;
    loop {
        match next_event(&mut events).await {
            Ok(Event::InitApply(_)) => listed += 1,
            Ok(Event::InitDone) => break,
            other => panic!("expected InitApply or InitDone, got {other:?}"),
        }
    }
    assert_eq!(listed, 21, "the relist holds every object");
    assert!(informer.list_count() >= 2);
}

#[tokio::test]
async fn an_undecodable_watch_event_is_reported_not_skipped() {
    let env = start().await;
    let c = &env.client;
    let dec = env.namespace("dec").await;
    let lw = ListWatch::<Numbers>::for_resource(c.clone(), configmaps()).namespace(&dec).label_selector(MINE);
    let informer = SharedInformer::with_list_watch(lw, ReflectorOptions::default());
    let (tx, mut handler_errors) = mpsc::unbounded_channel();
    informer.set_watch_error_handler(move |e: &ReflectorError| {
        let _ = tx.send(e.to_string());
    });
    let mut events = informer.event_stream();
    assert!(matches!(next_event(&mut events).await, Ok(Event::Init)));
    assert!(matches!(next_event(&mut events).await, Ok(Event::InitDone)));

    create(c, &dec, "good", &[], "1").await;
    create(c, &dec, "bad", &[], "not-a-number").await;
    create(c, &dec, "good-2", &[], "2").await;
    match next_event(&mut events).await {
        Ok(Event::Apply(o)) => assert_eq!((name(&*o).as_str(), o.data["v"].0), ("good", 1)),
        other => panic!("{other:?}"),
    }
    match next_event(&mut events).await {
        Err(e) => {
            assert!(e.is_decode(), "{e:?}");
            assert!(e.to_string().contains("\"not-a-number\" is not a number"), "{e}");
        }
        other => panic!("expected the decode error, got {other:?}"),
    }
    match next_event(&mut events).await {
        Ok(Event::Apply(o)) => assert_eq!(name(&*o), "good-2", "the watch goes on"),
        other => panic!("{other:?}"),
    }
    assert!(recv(&mut handler_errors).await.contains("could not be decoded"));
    assert!(informer.last_error().is_some_and(|e| e.is_decode() && e.to_string().contains("could not be decoded")));
    assert!(informer.store().get_by_key(&format!("{dec}/bad")).is_none());
}

#[tokio::test]
async fn an_undecodable_initial_event_fails_the_watch_list_loudly() {
    let env = start().await;
    let c = &env.client;
    let wl = env.namespace("wl").await;
    create(c, &wl, "good", &[], "1").await;
    create(c, &wl, "bad", &[], "x").await;
    let lw = ListWatch::<Numbers>::for_resource(c.clone(), configmaps()).namespace(&wl).label_selector(MINE);
    let informer = SharedInformer::with_list_watch(
        lw,
        ReflectorOptions::default()
            .label_selector(MINE)
            .watch_list(true)
            .backoff(Duration::from_millis(50), Duration::from_millis(100)),
    );
    let mut events = informer.event_stream();
    match next_event(&mut events).await {
        Err(e) => assert!(e.is_decode(), "{e:?}"),
        other => panic!("expected the decode error, got {other:?}"),
    }
    assert!(!informer.has_synced(), "no sync without the undecodable object");
    delete(c, &wl, "bad").await;
    tokio::time::timeout(WAIT, informer.wait_for_sync()).await.expect("synced once the object is gone");
    assert_eq!(informer.store().list_keys(), [format!("{wl}/good")]);
    assert!(
        env.count(&[&format!("/namespaces/{wl}/configmaps?"), "sendInitialEvents=true"]) >= 2,
        "retried as a watch-list"
    );
}

/// Informers made from a client (`cs.core_v1().config_maps(ns).informer()`): the type
/// and the namespace are the client's, options add selectors.
#[tokio::test]
async fn informers_from_typed_and_dynamic_clients_take_their_scope() {
    let env = start().await;
    let c = &env.client;
    let ns = env.cluster.namespace.clone();
    let other = env.namespace("other").await;
    // A label only this test uses, so the all-namespaces informer sees only its objects.
    let ours = format!("client-informer={ns}");
    let label = [("client-informer", ns.as_str())];
    create(c, &ns, "mine", &label, "1").await;
    create(c, &other, "theirs", &label, "1").await;
    let cs = Clientset::new(&env.cluster.config).unwrap();

    // Namespaced: `options.namespace` gives way to the client's.
    let here = cs
        .core_v1()
        .config_maps(&ns)
        .informer_with(ReflectorOptions::default().label_selector(ours.clone()).namespace(other.clone()));
    // All namespaces.
    let everywhere =
        cs.core_v1().config_maps("").informer_with(ReflectorOptions::default().label_selector(ours.clone()));
    // Cluster-scoped, default options.
    let namespaces = cs.core_v1().namespaces().informer();
    // Dynamic.
    let dynamic = DynamicClient::new(&env.cluster.config)
        .unwrap()
        .resource(configmaps())
        .namespace(&ns)
        .informer_with(ReflectorOptions::default().label_selector(ours.clone()));
    let handles = (here.start(), everywhere.start(), namespaces.start(), dynamic.start());
    let all_synced = async {
        tokio::join!(
            here.wait_for_sync(),
            everywhere.wait_for_sync(),
            namespaces.wait_for_sync(),
            dynamic.wait_for_sync()
        )
    };
    tokio::time::timeout(WAIT, all_synced).await.expect("informers synced");

    let names = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(names(here.lister().list(None).iter().map(|o| name(&**o)).collect()), ["mine"]);
    assert_eq!(here.lister().get(&ns, "mine").unwrap().metadata.namespace.as_deref(), Some(ns.as_str()));
    assert_eq!(names(everywhere.lister().list(None).iter().map(|o| name(&**o)).collect()), ["mine", "theirs"]);
    assert!(namespaces.lister().get("", &ns).is_some() && namespaces.lister().get("", &other).is_some());
    let listed = dynamic.lister().get(&ns, "mine").expect("dynamic informer lists the client's namespace");
    assert_eq!(listed.kind(), Some("ConfigMap"));
    assert_eq!(dynamic.lister().list(None).len(), 1);

    // They keep watching.
    create(c, &ns, "later", &label, "2").await;
    eventually("the typed informer sees a new object", || here.lister().get(&ns, "later").is_some()).await;
    eventually("the dynamic informer sees it", || dynamic.lister().get(&ns, "later").is_some()).await;
    eventually("the all-namespaces informer sees it", || everywhere.lister().list(None).len() == 3).await;
    drop(handles);
}
