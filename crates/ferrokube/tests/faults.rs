//! Proof under faults: writers create, update and delete ConfigMaps through the
//! fault-injection proxy (tests/support/fault_proxy.rs) while it cuts connections,
//! stalls answers, answers 410 Gone or 429, or the server restarts on its data
//! directory; an informer and a controller, also behind the proxy, must converge.
//!
//! Converged means, once the faults stop and the writers are done:
//! * the informer's store holds exactly what the server lists (names and
//!   resourceVersions);
//! * 0 duplicated: for each object, the resourceVersions handed to `on_add` /
//!   `on_update` strictly increase (none is delivered twice);
//! * 0 lost: each object's final state was delivered to the handler, and each object
//!   that is gone at the end had its deletion delivered after its last add/update;
//! * the controller reconciled every final object at its final resourceVersion.
//!
//! Every test also checks that the proxy did inject what the test asked for. Waiting is
//! for observable convergence (the store against the server's list) with a generous
//! deadline; nothing sleeps to check that nothing happened.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokube::controller::{self, Action, Controller};
use ferrokube::rest::{RESTClient, Request};
use ferrokube::tools::cache::{ReflectorOptions, ResourceEventHandlerFuncs, SharedInformer};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;
use support::fault_proxy::{Fault, FaultCluster, Injected, RandomRule, Target};
use tokio_util::sync::CancellationToken;

const NS: &str = "faults";
/// How long convergence may take once the faults stop (restarts and backoffs included).
const DEADLINE: Duration = Duration::from_secs(120);
/// Writers, and objects each writer owns.
const WRITERS: usize = 4;
const PER_WRITER: usize = 8;
/// Updates of each object after its creation.
const UPDATES: usize = 4;
/// Each writer's pause between two writes, so that the writes are spread over a few
/// seconds and meet the faults and the watch renewals (load shaping, not a wait).
const PACE: Duration = Duration::from_millis(60);

/// What a handler was told about one object, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Note {
    Add(u64),
    Update(u64, u64),
    Delete(u64),
}

type Notes = Arc<Mutex<HashMap<String, Vec<Note>>>>;

fn name(cm: &ConfigMap) -> String {
    cm.metadata.name.clone().unwrap_or_default()
}

fn rv(cm: &ConfigMap) -> u64 {
    cm.metadata.resource_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn cms(verb: Request) -> Request {
    verb.group_version("", "v1").namespace(NS).resource("configmaps")
}

/// A short pause before a writer retries a failed write (the retry itself is what is
/// waited for, not the absence of something).
async fn pause() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// Creates `name` with `counter`; an earlier attempt that reached the server counts.
async fn create(client: &RESTClient, name: &str, counter: usize) {
    let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NS}, "data": {"counter": counter.to_string()}});
    loop {
        match cms(client.post()).body(&body).send().await {
            Ok(_) => return,
            Err(e) if e.is_already_exists() => return,
            Err(_) => pause().await,
        }
    }
}

/// Sets `name`'s counter (read, then write with its resourceVersion; conflicts retry).
async fn update(client: &RESTClient, name: &str, counter: usize) {
    loop {
        let mut cm: ConfigMap = match cms(client.get()).name(name).into_object().await {
            Ok(cm) => cm,
            Err(_) => {
                pause().await;
                continue;
            }
        };
        if cm.data.as_ref().and_then(|d| d.get("counter")).map(String::as_str) == Some(&*counter.to_string()) {
            return; // an earlier attempt was applied, its answer lost
        }
        cm.data = Some([("counter".to_owned(), counter.to_string())].into());
        match cms(client.put()).name(name).body(&cm).send().await {
            Ok(_) => return,
            Err(_) => pause().await,
        }
    }
}

/// Deletes `name`; already gone counts.
async fn delete(client: &RESTClient, name: &str) {
    loop {
        match cms(client.delete()).name(name).send().await {
            Ok(_) => return,
            Err(e) if e.is_not_found() => return,
            Err(_) => pause().await,
        }
    }
}

/// One writer's life: for each of its objects, create, update [`UPDATES`] times; every
/// third object is then deleted, every sixth created again. `ops` counts finished
/// writes.
async fn writer(client: RESTClient, w: usize, ops: Arc<AtomicUsize>) {
    let done = |ops: &AtomicUsize| {
        ops.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(PACE)
    };
    for i in 0..PER_WRITER {
        let name = format!("w{w}-{i}");
        create(&client, &name, 0).await;
        done(&ops).await;
        for counter in 1..=UPDATES {
            update(&client, &name, counter).await;
            done(&ops).await;
        }
        if i % 3 == 0 {
            delete(&client, &name).await;
            done(&ops).await;
        }
        if i % 6 == 0 {
            create(&client, &name, 100).await;
            done(&ops).await;
            update(&client, &name, 101).await;
            done(&ops).await;
        }
    }
}

/// The seed of a test's random faults: `default`, or `FERROKUBE_FAULT_SEED` (to
/// explore other sequences: `FERROKUBE_FAULT_SEED=$RANDOM cargo test --test faults`).
/// Printed, so that a failure names the seed that found it.
fn seed(default: u64) -> u64 {
    let seed = std::env::var("FERROKUBE_FAULT_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    eprintln!("fault seed {seed}");
    seed
}

/// How many writes all writers make.
fn total_writes() -> usize {
    WRITERS * (PER_WRITER * (1 + UPDATES) + PER_WRITER.div_ceil(3) + 2 * PER_WRITER.div_ceil(6))
}

/// An informer, a controller and writers, all behind the proxy.
struct Run {
    cluster: FaultCluster,
    client: RESTClient,
    informer: SharedInformer<ConfigMap>,
    /// The controller's own informer (the controller starts and stops it).
    controller_informer: SharedInformer<ConfigMap>,
    notes: Notes,
    reconciled: Arc<Mutex<HashMap<String, u64>>>,
    ops: Arc<AtomicUsize>,
    writers: tokio::task::JoinSet<()>,
    _informer: ferrokube::tools::cache::InformerHandle,
    stop: CancellationToken,
    controller: tokio::task::JoinHandle<()>,
}

fn options() -> ReflectorOptions {
    // Small pages so that lists carry `continue` tokens (the proxy's 410 for lists);
    // watches the server ends after 3 s, so that many watch requests meet the faults;
    // a short backoff so that recovery is quick.
    ReflectorOptions::default()
        .namespace(NS)
        .page_size(Some(5))
        .watch_timeout(Some(Duration::from_secs(3)))
        .backoff(Duration::from_millis(50), Duration::from_secs(1))
}

impl Run {
    /// Starts the cluster, the namespace, the informer and the controller (synced
    /// before any fault), and the writers, which start writing at once.
    async fn start() -> Run {
        Run::start_with(None, false).await
    }

    /// [`start`](Self::start) with a client-side request timeout (`rest::Config::timeout`;
    /// it does not apply to watches) and, with `watch_list`, informers that sync with a
    /// WatchList (streamed initial events) instead of a list.
    async fn start_with(timeout: Option<Duration>, watch_list: bool) -> Run {
        let options = || options().watch_list(watch_list);
        let cluster = FaultCluster::start().await;
        let mut config = cluster.config();
        config.timeout = timeout;
        let client = RESTClient::new(&config).expect("client");
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
        client.post().group_version("", "v1").resource("namespaces").body(&ns).send().await.expect("namespace");

        let informer = SharedInformer::<ConfigMap>::new(client.clone(), options());
        let notes: Notes = Arc::default();
        let (a, u, d) = (Arc::clone(&notes), Arc::clone(&notes), Arc::clone(&notes));
        informer.add_event_handler(
            ResourceEventHandlerFuncs::<ConfigMap>::new()
                .on_add(move |o| a.lock().unwrap().entry(name(o)).or_default().push(Note::Add(rv(o))))
                .on_update(move |old, new| {
                    u.lock().unwrap().entry(name(new)).or_default().push(Note::Update(rv(old), rv(new)))
                })
                .on_delete(move |o| d.lock().unwrap().entry(name(o)).or_default().push(Note::Delete(rv(o)))),
        );
        let handle = informer.start();
        tokio::time::timeout(DEADLINE, informer.wait_for_sync()).await.expect("the informer syncs");

        let reconciled: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
        let stop = CancellationToken::new();
        let controller_informer = SharedInformer::<ConfigMap>::new(client.clone(), options());
        let ctl = Controller::new(controller_informer.clone(), controller::Config::default().name("faults").workers(2))
            .shutdown_on(stop.clone());
        let seen = Arc::clone(&reconciled);
        let controller = tokio::spawn(ctl.run(
            |cm: Arc<ConfigMap>, seen: Arc<Mutex<HashMap<String, u64>>>| async move {
                let mut seen = seen.lock().unwrap();
                let last = seen.entry(name(&cm)).or_default();
                *last = (*last).max(rv(&cm));
                Ok::<_, std::convert::Infallible>(Action::Done)
            },
            seen,
        ));

        let ops = Arc::new(AtomicUsize::new(0));
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            writers.spawn(writer(client.clone(), w, Arc::clone(&ops)));
        }
        Run {
            cluster,
            client,
            informer,
            controller_informer,
            notes,
            reconciled,
            ops,
            writers,
            _informer: handle,
            stop,
            controller,
        }
    }

    /// Waits until the writers finished `n` writes in all.
    async fn wait_for_ops(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.ops.load(Ordering::Relaxed) < n {
            assert!(tokio::time::Instant::now() < deadline, "the writers did not reach {n} writes");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits for the writers, stops the faults, waits for convergence and checks it;
    /// returns what the proxy injected and how many times the two informers listed.
    async fn finish(mut self) -> (Injected, u64) {
        tokio::time::timeout(DEADLINE, async {
            while let Some(done) = self.writers.join_next().await {
                done.expect("a writer panicked");
            }
        })
        .await
        .expect("the writers finish");
        let injected = self.cluster.proxy.injected();
        self.cluster.proxy.clear();

        // The server's final state, through the proxy (no faults now).
        let list: k8s_openapi::List<ConfigMap> = cms(self.client.get()).into_object().await.expect("final list");
        let server: BTreeMap<String, u64> = list.items.iter().map(|cm| (name(cm), rv(cm))).collect();
        assert_eq!(server.len(), WRITERS * (PER_WRITER - PER_WRITER.div_ceil(3) + PER_WRITER.div_ceil(6)));
        let all_names: Vec<String> =
            (0..WRITERS).flat_map(|w| (0..PER_WRITER).map(move |i| format!("w{w}-{i}"))).collect();

        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let store: BTreeMap<String, u64> =
                self.informer.store().list().iter().map(|cm| (name(cm), rv(cm))).collect();
            let problems = self.problems(&server, &store, &all_names);
            if problems.is_empty() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no convergence after {DEADLINE:?} (injected {injected:?}):\n{}",
                problems.join("\n")
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.stop.cancel();
        tokio::time::timeout(DEADLINE, self.controller).await.expect("the controller stops").unwrap();
        let lists = self.informer.list_count() + self.controller_informer.list_count();
        let (notified, unseen) = {
            let notes = self.notes.lock().unwrap();
            let notified: usize = notes.values().map(Vec::len).sum();
            (notified, all_names.iter().filter(|n| !notes.contains_key(*n)).count())
        };
        eprintln!(
            "converged: 0 duplicated, 0 lost; {notified} notifications, {unseen} objects created and deleted \
             unseen; injected {injected:?}; informer lists {lists}"
        );
        (injected, lists)
    }

    /// What still differs from convergence (empty once converged). Duplicates are
    /// reported as soon as they happen and never go away.
    fn problems(&self, server: &BTreeMap<String, u64>, store: &BTreeMap<String, u64>, names: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        if store != server {
            problems.push(format!("store {store:?}\n  != server {server:?}"));
        }
        let notes = self.notes.lock().unwrap();
        let reconciled = self.reconciled.lock().unwrap();
        for n in names {
            let seen = notes.get(n).map(Vec::as_slice).unwrap_or_default();
            // 0 duplicated: add/update resourceVersions strictly increase.
            let mut last = 0;
            for note in seen {
                if let Note::Add(v) | Note::Update(_, v) = note {
                    if *v <= last {
                        problems.push(format!("DUPLICATE {n}: resourceVersion {v} after {last}: {seen:?}"));
                    }
                    last = *v;
                }
            }
            // 0 lost: the final state, or the deletion, was the last thing delivered.
            match (server.get(n), seen.last()) {
                (Some(v), Some(Note::Add(got) | Note::Update(_, got))) if got == v => {}
                (Some(v), _) => problems.push(format!("{n}: final resourceVersion {v} not delivered: {seen:?}")),
                (None, Some(Note::Delete(_))) => {}
                // Created and deleted while the informer was relisting: it never had
                // the object, so it has nothing to delete (as with client-go).
                (None, None) => {}
                (None, _) => problems.push(format!("{n}: deletion not delivered: {seen:?}")),
            }
            if let Some(v) = server.get(n) {
                if reconciled.get(n) != Some(v) {
                    problems.push(format!("{n}: not reconciled at {v} (last at {:?})", reconciled.get(n)));
                }
            }
        }
        problems
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_under_cut_connections() {
    let run = Run::start().await;
    run.cluster.proxy.random(
        seed(0xC0FFEE),
        vec![
            RandomRule::new(Target::Watch, Fault::CutAfterEvents(1), 0.3),
            RandomRule::new(Target::Watch, Fault::CutAfterEvents(3), 0.3),
            RandomRule::new(Target::Watch, Fault::CutAfterBytes(300), 0.2),
            RandomRule::new(Target::List, Fault::CutAfterBytes(200), 0.3),
            RandomRule::new(Target::Write, Fault::CutAfterBytes(30), 0.1),
        ],
    );
    let (injected, _) = run.finish().await;
    assert!(injected.cuts >= 5, "cuts injected: {injected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_under_stalls() {
    // Requests other than watches time out after 1 s on the client: some stalls are
    // shorter (the answer comes late), some longer (the client gives up and retries).
    let run = Run::start_with(Some(Duration::from_secs(1)), false).await;
    run.cluster.proxy.random(
        seed(7),
        vec![
            RandomRule::new(Target::Watch, Fault::Stall(Duration::from_millis(1500)), 0.3),
            RandomRule::new(Target::List, Fault::Stall(Duration::from_millis(800)), 0.2),
            RandomRule::new(Target::List, Fault::Stall(Duration::from_millis(1500)), 0.2),
            RandomRule::new(Target::Write, Fault::Stall(Duration::from_millis(200)), 0.1),
            RandomRule::new(Target::Write, Fault::Stall(Duration::from_millis(1500)), 0.05),
            RandomRule::new(Target::Any, Fault::Stall(Duration::from_millis(100)), 0.1),
            RandomRule::new(Target::Any, Fault::Stall(Duration::from_millis(1500)), 0.03),
        ],
    );
    let (injected, _) = run.finish().await;
    assert!(injected.stalls >= 5, "stalls injected: {injected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_under_410_gone() {
    let run = Run::start().await;
    let total = total_writes();
    // Once objects exist: the next watches (one per informer) are told their
    // resourceVersion is too old, and the next continued list pages expire; then, at
    // random, new watches get 410 at once, open watches after a few events, and
    // continued lists expire, until the writers are done.
    run.wait_for_ops(total / 4).await;
    run.cluster.proxy.script(Target::Watch, Fault::Gone, 2);
    run.cluster.proxy.script(Target::List, Fault::Gone, 2);
    run.cluster.proxy.random(
        seed(410),
        vec![
            RandomRule::new(Target::Watch, Fault::Gone, 0.2),
            RandomRule::new(Target::Watch, Fault::GoneAfterEvents(2), 0.3),
            RandomRule::new(Target::Watch, Fault::GoneAfterEvents(6), 0.3),
            RandomRule::new(Target::List, Fault::Gone, 0.3),
        ],
    );
    let (injected, lists) = run.finish().await;
    assert!(injected.gone >= 2, "410s injected: {injected:?}");
    // Each informer synced once; a watch 410 makes one of them list again.
    assert!(lists >= 3, "the informers relisted after 410s: {lists} lists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_under_429_storms() {
    let run = Run::start().await;
    // A storm: the next 40 requests, whatever they are, then one in four at random.
    run.cluster.proxy.script(Target::Any, Fault::TooManyRequests { retry_after_seconds: 1 }, 40);
    run.cluster
        .proxy
        .random(429, vec![RandomRule::new(Target::Any, Fault::TooManyRequests { retry_after_seconds: 1 }, 0.25)]);
    let (injected, _) = run.finish().await;
    assert!(injected.too_many_requests >= 40, "429s injected: {injected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_across_server_restarts() {
    let run = Run::start().await;
    let total = total_writes();
    for k in 1..=3 {
        run.wait_for_ops(total * k / 4).await;
        run.cluster.restart().await;
    }
    // Whether a watch resumes on the restarted server or gets 410 and relists depends on
    // whether writes came between its last event and the restart: either must hold.
    let (injected, _) = run.finish().await;
    assert_eq!(injected.restarts, 3, "{injected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_under_mixed_faults() {
    mixed(false).await;
}

/// The same with informers that sync with a WatchList: the initial events come over a
/// watch that the faults cut, stall and expire too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_under_mixed_faults_with_watch_list() {
    mixed(true).await;
}

/// Every fault kind at once, at random, with a 429 storm at the start and two restarts.
async fn mixed(watch_list: bool) {
    let run = Run::start_with(None, watch_list).await;
    let total = total_writes();
    run.cluster.proxy.script(Target::Any, Fault::TooManyRequests { retry_after_seconds: 1 }, 10);
    run.cluster.proxy.random(
        seed(0x5EED),
        vec![
            RandomRule::new(Target::Watch, Fault::CutAfterEvents(2), 0.15),
            RandomRule::new(Target::Watch, Fault::Gone, 0.1),
            RandomRule::new(Target::Watch, Fault::GoneAfterEvents(3), 0.1),
            RandomRule::new(Target::Watch, Fault::Stall(Duration::from_millis(700)), 0.1),
            RandomRule::new(Target::List, Fault::CutAfterBytes(250), 0.15),
            RandomRule::new(Target::List, Fault::Gone, 0.15),
            RandomRule::new(Target::Write, Fault::CutAfterBytes(40), 0.05),
            RandomRule::new(Target::Any, Fault::TooManyRequests { retry_after_seconds: 1 }, 0.05),
            RandomRule::new(Target::Any, Fault::Stall(Duration::from_millis(150)), 0.05),
        ],
    );
    for k in 1..=2 {
        run.wait_for_ops(total * k / 3).await;
        run.cluster.restart().await;
    }
    let (injected, _) = run.finish().await;
    assert_eq!(injected.restarts, 2, "{injected:?}");
    assert!(injected.cuts + injected.gone + injected.too_many_requests + injected.stalls >= 10, "{injected:?}");
}

/// The proxy itself does what the tests above rely on: a watch cut after N events, a
/// 410 ERROR event after N events, a 429 with `Retry-After`, an expired `continue`.
#[tokio::test]
async fn the_proxy_injects_what_it_is_told() {
    use ferrokube::rest::ListOptions;
    use ferrokube::watch::WatchEvent;
    use futures_util::StreamExt;

    let cluster = FaultCluster::start().await;
    let client = RESTClient::new(&cluster.config()).expect("client");
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}});
    client.post().group_version("", "v1").resource("namespaces").body(&ns).send().await.expect("namespace");
    let before: k8s_openapi::List<ConfigMap> = cms(client.get()).into_object().await.expect("list");
    let rv0 = before.metadata.resource_version.clone().expect("a list resourceVersion");
    for i in 0..5 {
        create(&client, &format!("cm-{i}"), i).await;
    }
    let watch_from = |rv: &str| {
        let opts = ListOptions { resource_version: Some(rv.to_owned()), ..Default::default() };
        cms(client.get()).versioned_params(&opts).watch::<ConfigMap>()
    };

    // Cut after 2 of the 5 replayed events: 2 events, then the stream fails or ends.
    cluster.proxy.script(Target::Watch, Fault::CutAfterEvents(2), 1);
    let mut stream = watch_from(&rv0).await.expect("watch");
    let mut added = 0;
    while let Some(Ok(WatchEvent::Added(_))) = stream.next().await {
        added += 1;
    }
    assert_eq!(added, 2, "events before the cut");
    assert_eq!(cluster.proxy.injected().cuts, 1);

    // A 410 ERROR event after 3 events, then the end of the stream.
    cluster.proxy.script(Target::Watch, Fault::GoneAfterEvents(3), 1);
    let mut stream = watch_from(&rv0).await.expect("watch");
    let mut events = Vec::new();
    while let Some(event) = stream.next().await {
        events.push(match event.expect("no stream error") {
            WatchEvent::Added(_) => "ADDED".to_owned(),
            WatchEvent::Error(status) => format!("ERROR {:?}", status.code),
            _ => "other".to_owned(),
        });
    }
    assert_eq!(events, ["ADDED", "ADDED", "ADDED", "ERROR Some(410)"]);

    // A 429 with Retry-After, seen as such when the client does not retry.
    cluster.proxy.script(Target::Any, Fault::TooManyRequests { retry_after_seconds: 3 }, 1);
    let err = cms(client.get()).name("cm-0").max_retries(0).send().await.expect_err("429");
    assert!(err.is_too_many_requests(), "{err}");
    assert_eq!(err.suggests_client_delay(), Some(3));

    // A continued list page expires; a list of the latest state is never refused.
    cluster.proxy.script(Target::List, Fault::Gone, 1);
    let opts = ListOptions { limit: Some(2), ..Default::default() };
    let page: k8s_openapi::List<ConfigMap> =
        cms(client.get()).versioned_params(&opts).into_object().await.expect("first page, forwarded");
    let token = page.metadata.continue_.clone().expect("a continue token");
    let opts = ListOptions { limit: Some(2), continue_token: Some(token), ..Default::default() };
    let err = cms(client.get()).versioned_params(&opts).send().await.expect_err("410");
    assert!(err.is_gone(), "{err}");
    assert_eq!(cluster.proxy.injected().gone, 2);
    assert_eq!(cluster.proxy.injected().too_many_requests, 1);
}
