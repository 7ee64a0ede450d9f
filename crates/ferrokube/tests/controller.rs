//! Integration tests of `controller` against a real server (real HTTPS, real watches,
//! the server's garbage collector and finalizer handling): the embedded server by
//! default, realkube with `FERROKUBE_TEST_SERVER=realkube` (tests/support/cluster.rs).
//!
//! The test controller, "copier", keeps for every source ConfigMap (label
//! `role=source`) a Secret of the same name holding the ConfigMap's `v`, owned by the
//! ConfigMap (controller owner reference), and marks the ConfigMap with the annotation
//! `copied: <v>`. Waiting is done by polling the API for an observable state, never by
//! sleeping to see that nothing happened.
//!
//! Two tests need what only the embedded server offers (a registry to write to without
//! yielding, a tiny watch history, a server to stop and start again): they are skipped
//! on realkube, saying so.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube::controller::{finalizer, Action, Config, Controller, FinalizerEvent, ObjectKey};
use ferrokube::kubernetes::{Clientset, ResourceClient};
use ferrokube::rest::{CreateOptions, DeleteOptions, GetOptions, PatchOptions, PatchType, RESTClient, UpdateOptions};
use ferrokube::tools::cache::{ReflectorOptions, SharedInformer};
use ferrokube::util::workqueue::{
    CounterMetric, GaugeMetric, HistogramMetric, ItemExponentialFailureRateLimiter, MetricsProvider,
};
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::storage::StoreConfig;
use ferrokube_apiserver::tls::CertAuthority;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::ByteString;
use serde_json::json;
use support::cluster::{admin_config, skip_unless_embedded, ClusterOptions, TestCluster};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(30);

/// A client and the namespace a test works in.
#[derive(Clone)]
struct Api {
    client: RESTClient,
    ns: String,
}

struct Env {
    _cluster: TestCluster,
    api: Api,
}

/// The server chosen by `FERROKUBE_TEST_SERVER`, with its controllers (the garbage
/// collector follows the copier's owner references), and a namespace of the test's own.
async fn start() -> Env {
    let cluster = TestCluster::start(ClusterOptions::new("ctl").with_controllers()).await;
    let client = Clientset::new(&cluster.config).expect("clientset").rest_client().clone();
    let api = Api { client, ns: cluster.namespace.clone() };
    Env { _cluster: cluster, api }
}

/// A client of `server` (its admin kubeconfig, no client-side rate limit) and the
/// namespace `ns`, created.
async fn api_of(server: &EmbeddedServer, ns: &str) -> Api {
    let client = client_of(&server.kubeconfig_yaml());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    client.post().group_version("", "v1").resource("namespaces").body(&body).send().await.expect("namespace");
    Api { client, ns: ns.to_owned() }
}

fn client_of(kubeconfig: &str) -> RESTClient {
    Clientset::new(&admin_config(kubeconfig)).expect("clientset").rest_client().clone()
}

fn cms(api: &Api) -> ResourceClient<ConfigMap> {
    ResourceClient::namespaced(api.client.clone(), &api.ns)
}

fn secrets(api: &Api) -> ResourceClient<Secret> {
    ResourceClient::namespaced(api.client.clone(), &api.ns)
}

fn source_informer(api: &Api) -> SharedInformer<ConfigMap> {
    SharedInformer::new(
        api.client.clone(),
        ReflectorOptions::default().namespace(&api.ns).label_selector("role=source"),
    )
}

fn source(name: &str, v: &str) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some([("role".to_owned(), "source".to_owned())].into()),
            ..Default::default()
        },
        data: Some([("v".to_owned(), v.to_owned())].into()),
        ..Default::default()
    }
}

async fn create_source(client: &Api, name: &str, v: &str) -> ConfigMap {
    cms(client).create(&source(name, v), &CreateOptions::default()).await.expect("create source")
}

/// Sets `v` of a source ConfigMap (read, change, update; retried on conflicts).
async fn set_source(client: &Api, name: &str, v: &str) {
    ferrokube::util::retry::retry_on_conflict(ferrokube::util::retry::DEFAULT_BACKOFF, || async {
        let mut cm = cms(client).get(name, &GetOptions::default()).await?;
        cm.data = Some([("v".to_owned(), v.to_owned())].into());
        cms(client).update(&cm, &UpdateOptions::default()).await.map(|_| ())
    })
    .await
    .expect("update source");
}

fn secret_value(s: &Secret) -> Option<String> {
    s.data.as_ref()?.get("v").map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

fn name_of(cm: &ConfigMap) -> String {
    cm.metadata.name.clone().unwrap_or_default()
}

fn key(api: &Api, name: &str) -> ObjectKey {
    ObjectKey::new(&api.ns, name)
}

/// Polls `check` every 20 ms until it returns true; fails the test after [`WAIT`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts reconciles per key and how many run at once, per key and overall.
#[derive(Default)]
struct Tracker {
    per_key: Mutex<HashMap<String, usize>>,
    total: Mutex<HashMap<String, usize>>,
    max_per_key: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

struct Entered<'a> {
    tracker: &'a Tracker,
    key: String,
}

impl Tracker {
    fn enter(&self, key: &str) -> Entered<'_> {
        let now = {
            let mut per_key = self.per_key.lock().unwrap();
            let n = per_key.entry(key.to_owned()).or_default();
            *n += 1;
            *n
        };
        self.max_per_key.fetch_max(now, Ordering::SeqCst);
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(running, Ordering::SeqCst);
        *self.total.lock().unwrap().entry(key.to_owned()).or_default() += 1;
        Entered { tracker: self, key: key.to_owned() }
    }

    fn count(&self, key: &str) -> usize {
        self.total.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        *self.tracker.per_key.lock().unwrap().get_mut(&self.key).unwrap() -= 1;
        self.tracker.running.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Copier {
    client: Api,
    tracker: Tracker,
}

/// The copier's reconcile: Secret `name` = ConfigMap `name`'s `v`, owned by it; then the
/// `copied` annotation on the ConfigMap.
async fn copy(cm: Arc<ConfigMap>, ctx: Arc<Copier>) -> Result<Action, ferrokube::rest::Error> {
    let name = name_of(&cm);
    let _entered = ctx.tracker.enter(&name);
    let want = cm.data.as_ref().and_then(|d| d.get("v")).cloned().unwrap_or_default();
    let secrets = secrets(&ctx.client);
    match secrets.get(&name, &GetOptions::default()).await {
        Ok(mut s) if secret_value(&s).as_deref() != Some(&want) => {
            s.data = Some([("v".to_owned(), ByteString(want.clone().into_bytes()))].into());
            secrets.update(&s, &UpdateOptions::default()).await?;
        }
        Ok(_) => {}
        Err(err) if err.is_not_found() => {
            let owner = OwnerReference {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                name: name.clone(),
                uid: cm.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            };
            let s = Secret {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                data: Some([("v".to_owned(), ByteString(want.clone().into_bytes()))].into()),
                ..Default::default()
            };
            secrets.create(&s, &CreateOptions::default()).await?;
        }
        Err(err) => return Err(err),
    }
    let copied = cm.metadata.annotations.as_ref().and_then(|a| a.get("copied"));
    if copied != Some(&want) {
        let patch = json!({"metadata": {"annotations": {"copied": want}}});
        cms(&ctx.client).patch(&name, PatchType::Merge, &patch, &PatchOptions::default()).await?;
    }
    Ok(Action::Done)
}

/// Whether source `name` has reached its final state for value `v`.
async fn copied(client: &Api, name: &str, v: &str) -> bool {
    let Ok(s) = secrets(client).get(name, &GetOptions::default()).await else { return false };
    let Ok(cm) = cms(client).get(name, &GetOptions::default()).await else { return false };
    let annotated = cm.metadata.annotations.as_ref().and_then(|a| a.get("copied")).map(String::as_str) == Some(v);
    secret_value(&s).as_deref() == Some(v) && annotated
}

fn spawn_run<F>(fut: F) -> tokio::task::JoinHandle<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(fut)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciles_every_object_and_owned_changes_enqueue_the_owner() {
    let env = start().await;
    let c = &env.api;
    for i in 0..4 {
        create_source(c, &format!("pre-{i}"), "a").await;
    }
    // An unlabelled ConfigMap the controller does not see.
    let mut other = source("unrelated", "x");
    other.metadata.labels = None;
    cms(c).create(&other, &CreateOptions::default()).await.unwrap();

    let ctx = Arc::new(Copier { client: c.clone(), tracker: Tracker::default() });
    let owned = SharedInformer::<Secret>::new(c.client.clone(), ReflectorOptions::default().namespace(&c.ns));
    let stop = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default().name("copier").workers(2))
        .owns(owned)
        .shutdown_on(stop.clone());
    assert_eq!(controller.name(), "copier");
    let run = spawn_run(controller.run(copy, Arc::clone(&ctx)));

    for i in 0..4 {
        create_source(c, &format!("post-{i}"), "b").await;
    }
    set_source(c, "pre-0", "c").await;
    for (name, v) in [("pre-0", "c"), ("pre-1", "a"), ("pre-2", "a"), ("pre-3", "a")] {
        eventually(&format!("{name} copied"), || copied(c, name, v)).await;
    }
    for i in 0..4 {
        let name = format!("post-{i}");
        eventually(&format!("{name} copied"), || copied(c, &name, "b")).await;
    }
    assert!(secrets(c).get("unrelated", &GetOptions::default()).await.unwrap_err().is_not_found());

    // Tampering with an owned Secret enqueues its owner, which restores it.
    let before = ctx.tracker.count("pre-1");
    let mut s = secrets(c).get("pre-1", &GetOptions::default()).await.unwrap();
    s.data = Some([("v".to_owned(), ByteString(b"tampered".to_vec()))].into());
    secrets(c).update(&s, &UpdateOptions::default()).await.unwrap();
    eventually("the tampered secret restored", || async {
        let s = secrets(c).get("pre-1", &GetOptions::default()).await.unwrap();
        secret_value(&s).as_deref() == Some("a")
    })
    .await;
    assert!(ctx.tracker.count("pre-1") > before, "the owner was reconciled again");

    // Deleting it does too.
    secrets(c).delete("post-0", &DeleteOptions::default()).await.unwrap();
    eventually("the deleted secret recreated", || async {
        secrets(c).get("post-0", &GetOptions::default()).await.is_ok_and(|s| secret_value(&s).as_deref() == Some("b"))
    })
    .await;

    // And the owner references are what the garbage collector follows.
    cms(c).delete("post-1", &DeleteOptions::default()).await.unwrap();
    eventually("the secret of a deleted source collected", || async {
        secrets(c).get("post-1", &GetOptions::default()).await.is_err_and(|e| e.is_not_found())
    })
    .await;

    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
    assert_eq!(ctx.tracker.max_per_key.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_is_never_reconciled_by_two_workers_at_once() {
    let env = start().await;
    let c = &env.api;
    let names = ["k0", "k1", "k2"];
    for n in names {
        create_source(c, n, "0").await;
    }
    struct Slow {
        tracker: Tracker,
        seen: Mutex<HashMap<String, String>>,
    }
    let ctx = Arc::new(Slow { tracker: Tracker::default(), seen: Mutex::default() });
    let stop = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default().workers(4)).shutdown_on(stop.clone());
    let run = spawn_run(controller.run(
        |cm: Arc<ConfigMap>, ctx: Arc<Slow>| async move {
            let name = name_of(&cm);
            let _entered = ctx.tracker.enter(&name);
            // Long enough for updates of the same object to arrive meanwhile.
            tokio::time::sleep(Duration::from_millis(30)).await;
            let v = cm.data.as_ref().and_then(|d| d.get("v")).cloned().unwrap_or_default();
            ctx.seen.lock().unwrap().insert(name, v);
            Ok::<_, String>(Action::Done)
        },
        Arc::clone(&ctx),
    ));
    for round in 1..=10 {
        for n in names {
            set_source(c, n, &round.to_string()).await;
        }
    }
    eventually("every key reconciled at its last value", || async {
        let seen = ctx.seen.lock().unwrap();
        names.iter().all(|n| seen.get(*n).map(String::as_str) == Some("10"))
    })
    .await;
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
    assert_eq!(ctx.tracker.max_per_key.load(Ordering::SeqCst), 1, "a key was reconciled twice at once");
    assert!(ctx.tracker.max_running.load(Ordering::SeqCst) >= 2, "different keys did run in parallel");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_requeue_with_per_key_backoff_and_success_forgets() {
    let env = start().await;
    let c = &env.api;
    create_source(c, "flaky", "v").await;
    create_source(c, "steady", "v").await;
    struct Flaky {
        attempts: Mutex<Vec<(String, Instant)>>,
    }
    let ctx = Arc::new(Flaky { attempts: Mutex::default() });
    let stop = CancellationToken::new();
    let base = Duration::from_millis(40);
    let controller = Controller::new(
        source_informer(c),
        Config::default().rate_limiter(ItemExponentialFailureRateLimiter::new(base, Duration::from_secs(10))),
    )
    .shutdown_on(stop.clone());
    let queue = controller.queue();
    let run = spawn_run(controller.run(
        |cm: Arc<ConfigMap>, ctx: Arc<Flaky>| async move {
            let name = name_of(&cm);
            let n = {
                let mut attempts = ctx.attempts.lock().unwrap();
                attempts.push((name.clone(), Instant::now()));
                attempts.iter().filter(|(k, _)| *k == name).count()
            };
            if name == "flaky" && n <= 3 {
                return Err(format!("attempt {n} fails"));
            }
            Ok(Action::Done)
        },
        Arc::clone(&ctx),
    ));
    eventually("flaky reconciled 4 times", || async {
        ctx.attempts.lock().unwrap().iter().filter(|(k, _)| k == "flaky").count() >= 4
    })
    .await;
    eventually("flaky forgotten after its success", || async { queue.num_requeues(&key(c, "flaky")) == 0 }).await;
    let times: Vec<Instant> =
        ctx.attempts.lock().unwrap().iter().filter(|(k, _)| k == "flaky").map(|(_, t)| *t).collect();
    for (i, pair) in times.windows(2).take(3).enumerate() {
        let gap = pair[1] - pair[0];
        let backoff = base * 2u32.pow(i as u32);
        assert!(gap >= backoff, "retry {} came after {gap:?}, before its backoff of {backoff:?}", i + 1);
    }
    assert_eq!(
        ctx.attempts.lock().unwrap().iter().filter(|(k, _)| k == "steady").count(),
        1,
        "the other key is unaffected"
    );
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_policy_and_requeue_after() {
    let env = start().await;
    let c = &env.api;
    create_source(c, "failing", "v").await;
    create_source(c, "periodic", "v").await;
    #[derive(Default)]
    struct Log {
        reconciles: Mutex<Vec<(String, Instant)>>,
        policy_saw: Mutex<Vec<String>>,
    }
    let ctx = Arc::new(Log::default());
    let stop = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default().workers(2)).shutdown_on(stop.clone());
    let queue = controller.queue();
    let run = spawn_run(controller.run_with_error_policy(
        |cm: Arc<ConfigMap>, ctx: Arc<Log>| async move {
            let name = name_of(&cm);
            ctx.reconciles.lock().unwrap().push((name.clone(), Instant::now()));
            match name.as_str() {
                "failing" => Err("always".to_owned()),
                _ => Ok(Action::requeue_after(Duration::from_millis(100))),
            }
        },
        |cm: Arc<ConfigMap>, err: &String, ctx: Arc<Log>| {
            ctx.policy_saw.lock().unwrap().push(format!("{}: {err}", name_of(&cm)));
            Action::requeue_after(Duration::from_millis(50))
        },
        Arc::clone(&ctx),
    ));
    let count = |name: &str| ctx.reconciles.lock().unwrap().iter().filter(|(k, _)| k == name).count();
    eventually("periodic reconciled 3 times without changes", || async { count("periodic") >= 3 }).await;
    eventually("failing retried 3 times by the policy", || async { count("failing") >= 3 }).await;
    assert!(ctx.policy_saw.lock().unwrap().iter().all(|s| s == "failing: always"));
    assert_eq!(queue.num_requeues(&key(c, "failing")), 0, "the policy's requeue_after does not use the backoff");
    let times: Vec<Instant> =
        ctx.reconciles.lock().unwrap().iter().filter(|(k, _)| k == "periodic").map(|(_, t)| *t).collect();
    assert!(times.windows(2).all(|p| p[1] - p[0] >= Duration::from_millis(100)));
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_map_other_objects_to_keys() {
    let env = start().await;
    let c = &env.api;
    create_source(c, "target", "v").await;
    let ctx = Arc::new(Tracker::default());
    let stop = CancellationToken::new();
    // Secrets labelled `for=<name>` trigger the source of that name.
    let triggers = SharedInformer::<Secret>::new(c.client.clone(), ReflectorOptions::default().namespace(&c.ns));
    let controller = Controller::new(source_informer(c), Config::default())
        .watches(triggers, |s: &Secret| {
            let target = s.metadata.labels.as_ref().and_then(|l| l.get("for"));
            let ns = s.metadata.namespace.clone().unwrap_or_default();
            target.map(|t| ObjectKey::new(ns, t.clone())).into_iter().collect()
        })
        .shutdown_on(stop.clone());
    let run = spawn_run(controller.run(
        |cm: Arc<ConfigMap>, ctx: Arc<Tracker>| async move {
            drop(ctx.enter(&name_of(&cm)));
            Ok::<_, String>(Action::Done)
        },
        Arc::clone(&ctx),
    ));
    eventually("target reconciled once", || async { ctx.count("target") >= 1 }).await;
    let before = ctx.count("target");
    let trigger = Secret {
        metadata: ObjectMeta {
            name: Some("trigger".into()),
            labels: Some(BTreeMap::from([("for".to_owned(), "target".to_owned())])),
            ..Default::default()
        },
        ..Default::default()
    };
    secrets(c).create(&trigger, &CreateOptions::default()).await.unwrap();
    eventually("target reconciled because of the trigger", || async { ctx.count("target") > before }).await;
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
}

/// Counts the work queue's adds, depth and work durations, by queue name.
#[derive(Default)]
struct Metrics {
    values: Arc<Mutex<HashMap<String, f64>>>,
}

struct Metric {
    key: String,
    values: Arc<Mutex<HashMap<String, f64>>>,
}

impl Metric {
    fn bump(&self, by: f64) {
        *self.values.lock().unwrap().entry(self.key.clone()).or_default() += by;
    }
}

impl CounterMetric for Metric {
    fn inc(&self) {
        self.bump(1.0)
    }
}

impl GaugeMetric for Metric {
    fn inc(&self) {
        self.bump(1.0)
    }
    fn dec(&self) {
        self.bump(-1.0)
    }
}

impl HistogramMetric for Metric {
    fn observe(&self, _: f64) {
        self.bump(1.0) // counts observations
    }
}

impl Metrics {
    fn metric(&self, name: &str, what: &str) -> Box<Metric> {
        Box::new(Metric { key: format!("{name}/{what}"), values: Arc::clone(&self.values) })
    }
    fn get(&self, key: &str) -> f64 {
        self.values.lock().unwrap().get(key).copied().unwrap_or(0.0)
    }
}

impl MetricsProvider for Metrics {
    fn new_adds_metric(&self, name: &str) -> Box<dyn CounterMetric> {
        self.metric(name, "adds")
    }
    fn new_depth_metric(&self, name: &str) -> Box<dyn GaugeMetric> {
        self.metric(name, "depth")
    }
    fn new_work_duration_metric(&self, name: &str) -> Box<dyn HistogramMetric> {
        self.metric(name, "work_duration")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_queue_metrics_are_reported_under_the_controller_name() {
    let env = start().await;
    let c = &env.api;
    create_source(c, "m1", "v").await;
    create_source(c, "m2", "v").await;
    let metrics = Arc::new(Metrics::default());
    let ctx = Arc::new(Tracker::default());
    let stop = CancellationToken::new();
    let controller = Controller::new(
        source_informer(c),
        Config::default().name("metered").metrics_provider(Arc::clone(&metrics) as Arc<dyn MetricsProvider>),
    )
    .shutdown_on(stop.clone());
    let run = spawn_run(controller.run(
        |cm: Arc<ConfigMap>, ctx: Arc<Tracker>| async move {
            drop(ctx.enter(&name_of(&cm)));
            Ok::<_, String>(Action::Done)
        },
        Arc::clone(&ctx),
    ));
    eventually("both reconciled and done", || async { metrics.get("metered/work_duration") >= 2.0 }).await;
    assert!(metrics.get("metered/adds") >= 2.0);
    assert_eq!(metrics.get("metered/depth"), 0.0, "nothing left queued");
    assert_eq!(ctx.count("m1") + ctx.count("m2"), metrics.get("metered/work_duration") as usize);
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
}

const FINALIZER: &str = "test.ferrokube.dev/cleanup";

struct Finalizing {
    client: Api,
    cleanups: AtomicUsize,
}

async fn finalizing(cm: Arc<ConfigMap>, ctx: Arc<Finalizing>) -> Result<Action, String> {
    let client = ctx.client.clone();
    let counter = Arc::clone(&ctx);
    finalizer(&ctx.client.client, FINALIZER, cm, |event| async move {
        match event {
            FinalizerEvent::Apply(cm) => {
                if cm.metadata.annotations.as_ref().and_then(|a| a.get("applied")).is_none() {
                    let patch = json!({"metadata": {"annotations": {"applied": "yes"}}});
                    cms(&client).patch(&name_of(&cm), PatchType::Merge, &patch, &PatchOptions::default()).await?;
                }
            }
            FinalizerEvent::Cleanup(cm) => {
                counter.cleanups.fetch_add(1, Ordering::SeqCst);
                let mut record = source(&format!("cleaned-{}", name_of(&cm)), "done");
                record.metadata.labels = None;
                match cms(&client).create(&record, &CreateOptions::default()).await {
                    Ok(_) => {}
                    Err(e) if e.is_already_exists() => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Action::Done)
    })
    .await
    .map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalizer_is_added_then_cleanup_runs_before_the_object_goes() {
    let env = start().await;
    let c = &env.api;
    create_source(c, "fin", "v").await;
    let ctx = Arc::new(Finalizing { client: c.clone(), cleanups: AtomicUsize::new(0) });
    let stop = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default()).shutdown_on(stop.clone());
    let run = spawn_run(controller.run(finalizing, Arc::clone(&ctx)));

    eventually("the finalizer added and the object applied", || async {
        let cm = cms(c).get("fin", &GetOptions::default()).await.unwrap();
        let has_finalizer = cm.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == FINALIZER));
        has_finalizer && cm.metadata.annotations.as_ref().is_some_and(|a| a.contains_key("applied"))
    })
    .await;
    assert_eq!(ctx.cleanups.load(Ordering::SeqCst), 0);

    // Another party's finalizer must survive ours being removed.
    let patch = json!([{"op": "add", "path": "/metadata/finalizers/-", "value": "other.example.com/keep"}]);
    cms(c).patch("fin", PatchType::Json, &patch, &PatchOptions::default()).await.unwrap();

    cms(c).delete("fin", &DeleteOptions::default()).await.unwrap();
    eventually("cleanup ran and our finalizer was removed", || async {
        let cm = cms(c).get("fin", &GetOptions::default()).await.unwrap();
        cm.metadata.finalizers.as_deref() == Some(&["other.example.com/keep".to_owned()][..])
    })
    .await;
    assert!(cms(c).get("cleaned-fin", &GetOptions::default()).await.is_ok(), "cleanup's record exists");
    assert!(ctx.cleanups.load(Ordering::SeqCst) >= 1);

    // With the other finalizer gone too, the object is deleted.
    let patch = json!([{"op": "remove", "path": "/metadata/finalizers/0"}]);
    cms(c).patch("fin", PatchType::Json, &patch, &PatchOptions::default()).await.unwrap();
    eventually("the object deleted", || async {
        cms(c).get("fin", &GetOptions::default()).await.is_err_and(|e| e.is_not_found())
    })
    .await;
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_reconciles_in_progress() {
    let env = start().await;
    let c = &env.api;
    create_source(c, "slow", "v").await;
    struct Gate {
        started: tokio::sync::Notify,
        release: tokio::sync::Semaphore,
        log: Mutex<Vec<&'static str>>,
    }
    let ctx = Arc::new(Gate {
        started: tokio::sync::Notify::new(),
        release: tokio::sync::Semaphore::new(0),
        log: Mutex::default(),
    });
    let stop = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default()).shutdown_on(stop.clone());
    let queue = controller.queue();
    let started = ctx.started.notified();
    let run = {
        let ctx = Arc::clone(&ctx);
        spawn_run(async move {
            controller
                .run(
                    |_: Arc<ConfigMap>, ctx: Arc<Gate>| async move {
                        ctx.started.notify_one();
                        let _permit = ctx.release.acquire().await.map_err(|e| e.to_string())?;
                        ctx.log.lock().unwrap().push("reconcile finished");
                        Ok::<_, String>(Action::Done)
                    },
                    Arc::clone(&ctx),
                )
                .await;
            ctx.log.lock().unwrap().push("run returned");
        })
    };
    tokio::time::timeout(WAIT, started).await.expect("the reconcile started");
    stop.cancel();
    eventually("the queue shutting down", || async { queue.shutting_down() }).await;
    assert!(!run.is_finished(), "run waits for the reconcile in progress");
    queue.add(key(c, "slow")); // ignored: shutting down
    ctx.release.add_permits(1);
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
    assert_eq!(*ctx.log.lock().unwrap(), ["reconcile finished", "run returned"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_hook_gates_the_start() {
    let env = start().await;
    let c = &env.api;
    create_source(c, "led", "v").await;

    // Shut down before leading: run returns without reconciling anything.
    let ctx = Arc::new(Mutex::new(Vec::<String>::new()));
    let (_never_tx, never) = tokio::sync::oneshot::channel::<()>();
    let lost = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default()).leader_election(
        async move {
            let _ = never.await;
        },
        lost.clone(),
    );
    let reconcile = |cm: Arc<ConfigMap>, log: Arc<Mutex<Vec<String>>>| async move {
        log.lock().unwrap().push(format!("reconcile {}", name_of(&cm)));
        Ok::<_, String>(Action::Done)
    };
    let run = spawn_run(controller.run(reconcile, Arc::clone(&ctx)));
    lost.cancel();
    tokio::time::timeout(WAIT, run).await.expect("returns when shut down before leading").unwrap();
    assert!(ctx.lock().unwrap().is_empty());

    // Leading later: nothing is reconciled before.
    let (lead_tx, lead) = tokio::sync::oneshot::channel::<()>();
    let lost = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default()).leader_election(
        async move {
            let _ = lead.await;
        },
        lost.clone(),
    );
    let run = spawn_run(controller.run(reconcile, Arc::clone(&ctx)));
    // Give a non-waiting controller the time to list and reconcile: an informer of our
    // own lists and syncs meanwhile.
    let probe = source_informer(c);
    let probe_handle = probe.start();
    tokio::time::timeout(WAIT, probe.wait_for_sync()).await.expect("probe synced");
    drop(probe_handle);
    ctx.lock().unwrap().push("leading".to_owned());
    lead_tx.send(()).unwrap();
    eventually("reconciled once leading", || async { ctx.lock().unwrap().len() >= 2 }).await;
    assert_eq!(ctx.lock().unwrap()[..2], ["leading".to_owned(), "reconcile led".to_owned()]);
    lost.cancel();
    tokio::time::timeout(WAIT, run).await.expect("stops when leadership is lost").unwrap();
}

/// Creates a source ConfigMap in `ns` through the registry directly, without yielding
/// to the runtime (so the watch task gets no turn in between).
async fn create_in_process(registry: &Registry, ns: &str, name: &str) {
    use ferrokube_apiserver::api::{ApiRequest, Verb};
    use ferrokube_apiserver::catalog::Catalog;
    let catalog = Catalog::builtin();
    let info = catalog.lookup("", "v1", "configmaps").expect("configmaps in the catalog").clone();
    let body = serde_json::to_value(source(name, "burst")).unwrap();
    let req = ApiRequest::new(Verb::Create, info).with_namespace(ns).with_json(&body, "application/json");
    assert!(registry.handle(req).await.is_ok(), "in-process create");
}

// Single-threaded runtime, as in tools_cache: the burst of in-process writes runs while
// the watch task gets no turn, so the server drops the watcher (its buffer of 2
// overflows) and its history of 4 events no longer reaches back: the informer gets
// 410 Gone and relists. Watches also end every second (watch timeout). Every object
// must still reach its final state.
#[tokio::test]
async fn converges_when_the_server_drops_watches_and_answers_410() {
    if skip_unless_embedded("needs a watch history of 4 events and writes that do not yield") {
        return;
    }
    let registry =
        Registry::with_options(StoreConfig { history_capacity: 4, watch_buffer: 2 }, Duration::from_secs(60));
    let server = EmbeddedServer::start_with_registry(ServerOptions::default(), Arc::clone(&registry))
        .await
        .expect("embedded server starts");
    let c = &api_of(&server, "ctl").await;
    create_source(c, "first", "a").await;
    let ctx = Arc::new(Copier { client: c.clone(), tracker: Tracker::default() });
    let informer = SharedInformer::<ConfigMap>::new(
        c.client.clone(),
        ReflectorOptions::default()
            .namespace(&c.ns)
            .label_selector("role=source")
            .watch_timeout(Some(Duration::from_secs(1))),
    );
    let observer = informer.clone();
    let stop = CancellationToken::new();
    let controller = Controller::new(informer, Config::default().workers(2)).shutdown_on(stop.clone());
    let run = spawn_run(controller.run(copy, Arc::clone(&ctx)));
    // Synced and watching from a resourceVersion before the burst: whether the burst
    // overflows the live watcher or falls between two watches, the watch resumes from
    // before 20 events the history of 4 no longer holds.
    eventually("first copied", || copied(c, "first", "a")).await;

    for i in 0..20 {
        create_in_process(&registry, &c.ns, &format!("burst-{i}")).await;
    }
    for i in 0..20 {
        let name = format!("burst-{i}");
        eventually(&format!("{name} copied"), || copied(c, &name, "burst")).await;
    }
    assert!(observer.list_count() >= 2, "the informer relisted after 410 Gone");
    set_source(c, "burst-3", "changed").await;
    eventually("a change after the relist copied", || copied(c, "burst-3", "changed")).await;
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
    assert_eq!(ctx.tracker.max_per_key.load(Ordering::SeqCst), 1, "a key was reconciled twice at once");
}

/// An embedded server that can be stopped and started again on the same port, with the
/// same serving certificate, token and storage, as an apiserver restarts over its etcd:
/// a client configured once keeps working across the restart.
struct Restartable {
    registry: Arc<Registry>,
    options: ServerOptions,
    kubeconfig: String,
    _files: tempfile::TempDir,
}

impl Restartable {
    /// Starts the server for the first time.
    async fn start() -> (Restartable, EmbeddedServer) {
        let files = tempfile::tempdir().expect("temporary folder");
        let ca = CertAuthority::generate("restartable-ca").expect("CA");
        let (cert, key) = ca.issue_serving(&["127.0.0.1".to_owned()]).expect("serving certificate");
        let path = |name: &str| files.path().join(name);
        std::fs::write(path("ca.crt"), ca.cert_pem()).unwrap();
        std::fs::write(path("tls.crt"), cert).unwrap();
        std::fs::write(path("tls.key"), key).unwrap();
        std::fs::write(path("tokens.csv"), "restart-token,admin,admin,\"system:masters\"\n").unwrap();
        let mut options = ServerOptions {
            tls_cert_file: Some(path("tls.crt")),
            tls_private_key_file: Some(path("tls.key")),
            token_auth_file: Some(path("tokens.csv")),
            controllers: false,
            ..ServerOptions::default()
        };
        let registry = Registry::new();
        let server = EmbeddedServer::start_with_registry(options.clone(), Arc::clone(&registry))
            .await
            .expect("embedded server starts");
        options.port = server.local_addr().port();
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: r\n\
             clusters: [{{name: r, cluster: {{server: \"{url}\", certificate-authority: \"{ca}\"}}}}]\n\
             users: [{{name: r, user: {{token: restart-token}}}}]\n\
             contexts: [{{name: r, context: {{cluster: r, user: r}}}}]\n",
            url = server.url(),
            ca = path("ca.crt").display(),
        );
        (Restartable { registry, options, kubeconfig, _files: files }, server)
    }

    /// Starts it again after a [`EmbeddedServer::shutdown`].
    async fn start_again(&self) -> EmbeddedServer {
        EmbeddedServer::start_with_registry(self.options.clone(), Arc::clone(&self.registry))
            .await
            .expect("the server starts again on its port")
    }
}

// The server goes away (watches end, connections refused), objects are created while
// it is down, and it comes back on the same address: the informer's reflector keeps
// retrying with backoff, resumes, and every object reaches its final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_when_the_server_restarts() {
    if skip_unless_embedded("stops and starts the API server over the same storage") {
        return;
    }
    let (restartable, server) = Restartable::start().await;
    let client = client_of(&restartable.kubeconfig);
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "restart"}});
    client.post().group_version("", "v1").resource("namespaces").body(&body).send().await.expect("namespace");
    let c = &Api { client, ns: "restart".to_owned() };
    create_source(c, "first", "a").await;
    let ctx = Arc::new(Copier { client: c.clone(), tracker: Tracker::default() });
    let stop = CancellationToken::new();
    let controller = Controller::new(source_informer(c), Config::default().workers(2)).shutdown_on(stop.clone());
    let run = spawn_run(controller.run(copy, Arc::clone(&ctx)));
    eventually("first copied", || copied(c, "first", "a")).await;

    server.shutdown().await;
    for i in 0..10 {
        create_in_process(&restartable.registry, &c.ns, &format!("offline-{i}")).await;
    }
    let _server = restartable.start_again().await;

    for i in 0..10 {
        let name = format!("offline-{i}");
        eventually(&format!("{name}, created while the server was down, copied"), || copied(c, &name, "burst")).await;
    }
    set_source(c, "first", "b").await;
    eventually("a change after the restart copied", || copied(c, "first", "b")).await;
    stop.cancel();
    tokio::time::timeout(WAIT, run).await.expect("controller stops").unwrap();
    assert_eq!(ctx.tracker.max_per_key.load(Ordering::SeqCst), 1, "a key was reconciled twice at once");
}
