//! Leader election against the API server over real HTTPS (the embedded server, or
//! realkube with `FERROKUBE_TEST_SERVER=realkube`; each test in its own namespace): three candidates on
//! one Lease, each leader proving it is alone with fencing writes to a shared ConfigMap
//! (every write conditional on the resourceVersion of its previous one), a handover
//! through `release_on_cancel`, and a failover after a leader dies without a word.
//!
//! Timings are shortened (lease 3 s, renew deadline 2 s, retry period 500 ms) so the
//! failover takes seconds, not 15. The bounds asserted are the election's own: a
//! handover well under the lease duration (it does not wait for expiry), a failover not
//! before the lease duration after the last renewal (safety) and within the lease
//! duration plus one retry period (liveness), read from the Lease's own MicroTimes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{CreateOptions, GetOptions, ListOptions, UpdateOptions};
use ferrokube::tools::leaderelection::resourcelock::{LeaseLock, ResourceLockConfig};
use ferrokube::tools::leaderelection::{LeaderCallbacks, LeaderElectionConfig, LeaderElector, LeaderElectorHandle};
use ferrokube::tools::record::{EventBroadcaster, EventSinkImpl};
use ferrokube::watch::WatchEvent;
use futures_util::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, EventSource};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio_util::sync::CancellationToken;

mod support;
use support::cluster::{ClusterOptions, TestCluster};

const LEASE: &str = "le-test";
const FENCE: &str = "fence";
const LEASE_DURATION: Duration = Duration::from_secs(3);
const RENEW_DEADLINE: Duration = Duration::from_secs(2);
const RETRY_PERIOD: Duration = Duration::from_millis(500);
const WAIT: Duration = Duration::from_secs(30);

/// What the candidates did, in order, with the time.
#[derive(Default)]
struct Log {
    entries: Mutex<Vec<(Instant, String)>>,
    /// Anything that proves two leaders at once.
    violations: Mutex<Vec<String>>,
}

impl Log {
    fn note(&self, what: String) {
        self.entries.lock().unwrap().push((Instant::now(), what));
    }
    fn when(&self, what: &str) -> Option<Instant> {
        self.entries.lock().unwrap().iter().find(|(_, w)| w == what).map(|(t, _)| *t)
    }
    fn count(&self, what: &str) -> usize {
        self.entries.lock().unwrap().iter().filter(|(_, w)| w == what).count()
    }
    fn violation(&self, what: String) {
        self.violations.lock().unwrap().push(what);
    }
}

/// The leader's work: fencing writes every 100 ms, each conditional on the previous
/// one, and a look at the Lease, until the token is cancelled.
async fn lead(id: String, ns: String, clientset: Clientset, token: CancellationToken, log: Arc<Log>) {
    log.note(format!("{id} started"));
    let cms = clientset.core_v1().config_maps(&ns);
    let leases = clientset.coordination_v1().leases(&ns);
    let mut fence = match cms.get(FENCE, &GetOptions::default()).await {
        Ok(cm) => cm,
        Err(e) => return log.violation(format!("{id}: reading the fence failed: {e}")),
    };
    while !token.is_cancelled() {
        let data = fence.data.get_or_insert_with(BTreeMap::new);
        let writes: u64 = data.get("writes").and_then(|w| w.parse().ok()).unwrap_or(0);
        data.insert("holder".into(), id.clone());
        data.insert("writes".into(), (writes + 1).to_string());
        match cms.update(&fence, &UpdateOptions::default()).await {
            Ok(written) => {
                fence = written;
                log.note(format!("{id} fenced"));
            }
            Err(e) if e.is_conflict() => {
                log.violation(format!("{id}: the fence changed under a leader: {e}"));
                return;
            }
            Err(e) => log.violation(format!("{id}: fencing write failed: {e}")),
        }
        match leases.get(LEASE, &GetOptions::default()).await {
            Ok(lease) => {
                let holder = lease.spec.and_then(|s| s.holder_identity).unwrap_or_default();
                if holder != id && !token.is_cancelled() {
                    log.violation(format!("{id} works while the Lease names {holder:?}"));
                }
            }
            Err(e) => log.violation(format!("{id}: reading the lease failed: {e}")),
        }
        tokio::select! {
            _ = token.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    log.note(format!("{id} work done"));
}

struct Candidate {
    id: String,
    handle: LeaderElectorHandle,
    token: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn candidate(
    config: &ferrokube::rest::Config,
    ns: &str,
    id: &str,
    log: &Arc<Log>,
    events: &EventBroadcaster,
) -> Candidate {
    // Each candidate has its own client, as separate processes would.
    let clientset = Clientset::new(config).expect("clientset");
    let recorder = events.new_recorder(EventSource { component: Some("le-test".into()), host: Some(id.into()) });
    let lock = LeaseLock::new(&clientset, ns, LEASE, ResourceLockConfig::new(id).with_event_recorder(recorder));
    let (id1, id2, id3) = (id.to_owned(), id.to_owned(), id.to_owned());
    let ns1 = ns.to_owned();
    let (log1, log2, log3) = (log.clone(), log.clone(), log.clone());
    let callbacks = LeaderCallbacks::new(
        move |token| lead(id1.clone(), ns1.clone(), clientset.clone(), token, log1.clone()),
        move || log2.note(format!("{id2} stopped")),
    )
    .with_on_new_leader(move |leader| log3.note(format!("{id3} sees {leader}")));
    let mut config = LeaderElectionConfig::new(lock, callbacks);
    config.lease_duration = LEASE_DURATION;
    config.renew_deadline = RENEW_DEADLINE;
    config.retry_period = RETRY_PERIOD;
    config.release_on_cancel = true;
    let elector = LeaderElector::new(config).expect("valid config");
    let handle = elector.handle();
    let token = CancellationToken::new();
    let task = tokio::spawn(elector.run(token.clone()));
    Candidate { id: id.to_owned(), handle, token, task }
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The candidates that hold the lease and whose work has started.
fn leaders<'a>(candidates: &'a [Candidate], log: &Log) -> Vec<&'a str> {
    candidates
        .iter()
        .filter(|c| c.handle.is_leader() && log.when(&format!("{} started", c.id)).is_some())
        .map(|c| c.id.as_str())
        .collect()
}

/// Every Lease version the observer saw: (holder, transitions, acquireTime, renewTime).
type LeaseHistory = Arc<Mutex<Vec<(String, i32, Option<jiff::Timestamp>, Option<jiff::Timestamp>)>>>;

async fn observe_lease(clientset: Clientset, ns: String, history: LeaseHistory) {
    let opts = ListOptions { field_selector: Some(format!("metadata.name={LEASE}")), ..Default::default() };
    let mut stream = clientset.coordination_v1().leases(&ns).watch(&opts).await.expect("watch the lease");
    while let Some(Ok(event)) = stream.next().await {
        if let WatchEvent::Added(lease) | WatchEvent::Modified(lease) = event {
            let spec = lease.spec.unwrap_or_default();
            history.lock().unwrap().push((
                spec.holder_identity.unwrap_or_default(),
                spec.lease_transitions.unwrap_or(0),
                spec.acquire_time.map(|t| t.0),
                spec.renew_time.map(|t| t.0),
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_candidates_one_leader_at_a_time_handover_on_release_failover_on_death() {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).try_init();
    let cluster = TestCluster::start(ClusterOptions::new("le")).await;
    let (config, ns) = (cluster.config.clone(), cluster.namespace.clone());
    let admin = Clientset::new(&config).unwrap();
    let fence = ConfigMap {
        metadata: ObjectMeta { name: Some(FENCE.into()), ..Default::default() },
        data: Some([("writes".to_owned(), "0".to_owned())].into()),
        ..Default::default()
    };
    admin.core_v1().config_maps(&ns).create(&fence, &CreateOptions::default()).await.unwrap();
    let history = LeaseHistory::default();
    let observer = tokio::spawn(observe_lease(admin.clone(), ns.clone(), history.clone()));
    let events = EventBroadcaster::new();
    let event_writer = events.start_recording_to_sink(EventSinkImpl::new(admin.clone()));

    let log = Arc::new(Log::default());
    let mut candidates: Vec<Candidate> =
        ["a", "b", "c"].iter().map(|id| candidate(&config, &ns, id, &log, &events)).collect();

    // One leader; everyone learns who.
    wait_for("a first leader", || leaders(&candidates, &log).len() == 1).await;
    let first = leaders(&candidates, &log)[0].to_owned();
    wait_for("everyone to know the leader", || candidates.iter().all(|c| c.handle.get_leader() == first)).await;
    wait_for("the first leader's fencing writes", || log.count(&format!("{first} fenced")) >= 5).await;
    assert_eq!(leaders(&candidates, &log), [first.as_str()]);

    // Handover: the leader is cancelled and releases the lease.
    let i = candidates.iter().position(|c| c.id == first).unwrap();
    let released = candidates.remove(i);
    let cancelled_at = Instant::now();
    released.token.cancel();
    released.task.await.unwrap();
    wait_for("a second leader", || leaders(&candidates, &log).len() == 1).await;
    let second = leaders(&candidates, &log)[0].to_owned();
    let handover = log.when(&format!("{second} started")).unwrap() - cancelled_at;
    assert!(log.when(&format!("{first} work done")).unwrap() <= log.when(&format!("{first} stopped")).unwrap());
    println!("handover after release: {handover:?}");
    assert!(handover < LEASE_DURATION, "a released lease is taken without waiting for expiry: {handover:?}");
    wait_for("the second leader's fencing writes", || log.count(&format!("{second} fenced")) >= 5).await;

    // Failover: the second leader dies without releasing (its run future is dropped,
    // which aborts its work as well).
    let i = candidates.iter().position(|c| c.id == second).unwrap();
    let dead = candidates.remove(i);
    let died_at = Instant::now();
    dead.task.abort();
    let _ = dead.task.await;
    wait_for("a third leader", || leaders(&candidates, &log).len() == 1).await;
    let third = leaders(&candidates, &log)[0].to_owned();
    let failover = log.when(&format!("{third} started")).unwrap() - died_at;
    println!("failover after the leader died: {failover:?}");
    wait_for("the third leader's fencing writes", || log.count(&format!("{third} fenced")) >= 5).await;

    // The Lease's own record of it: the dead leader's last renewal and the new
    // holder's acquisition.
    let seen = history.lock().unwrap().clone();
    let last_renewal = seen.iter().rev().find(|(h, ..)| *h == second).and_then(|(_, _, _, renew)| *renew).unwrap();
    let acquired = seen.iter().find(|(h, ..)| *h == third).and_then(|(_, _, acquire, _)| *acquire).unwrap();
    let gap = acquired.duration_since(last_renewal).unsigned_abs();
    println!("Lease: {third} acquired {gap:?} after {second}'s last renewal");
    assert!(gap >= LEASE_DURATION, "not before the lease expired: {gap:?}");
    assert!(gap <= LEASE_DURATION + RETRY_PERIOD, "within lease duration + retry period: {gap:?}");

    // Holders on the Lease, each change counted in leaseTransitions.
    let mut holders: Vec<(String, i32)> = Vec::new();
    for (holder, transitions, ..) in &seen {
        if holders.last().map(|(h, _)| h) != Some(holder) {
            holders.push((holder.clone(), *transitions));
        }
    }
    assert_eq!(holders, [(first.clone(), 0), (String::new(), 0), (second.clone(), 1), (third.clone(), 2)]);

    // The fence saw the leaders one after another, never interleaved.
    let fence = admin.core_v1().config_maps(&ns).get(FENCE, &GetOptions::default()).await.unwrap();
    let fenced: usize = [&first, &second, &third].iter().map(|id| log.count(&format!("{id} fenced"))).sum();
    assert_eq!(fence.data.unwrap()["writes"], fenced.to_string(), "every fencing write landed in turn");
    let violations = log.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{violations:#?}");

    // The lock recorded "became leader" events on the Lease.
    let lease: Lease = admin.coordination_v1().leases(&ns).get(LEASE, &GetOptions::default()).await.unwrap();
    let uid = lease.metadata.uid.unwrap();
    wait_for("leader election events", || event_writer.stats().written >= 4).await;
    let events_list = admin.core_v1().events(&ns).list(&ListOptions::default()).await.unwrap();
    let messages: Vec<String> = events_list
        .items
        .iter()
        .filter(|e| e.involved_object.uid.as_deref() == Some(uid.as_str()))
        .filter(|e| e.reason.as_deref() == Some("LeaderElection"))
        .filter_map(|e| e.message.clone())
        .collect();
    for expected in
        [format!("{first} became leader"), format!("{first} stopped leading"), format!("{second} became leader")]
    {
        assert!(messages.contains(&expected), "{expected:?} not in {messages:?}");
    }

    for c in &candidates {
        c.token.cancel();
    }
    for c in candidates {
        c.task.await.unwrap();
    }
    observer.abort();
}

/// A client whose watch requests fail (they are sent to a path the server does not
/// serve), as when RBAC grants get/create/update on Leases but not watch: candidates
/// then learn only by polling, as client-go's do, and the election still works.
fn without_watch(mut config: ferrokube::rest::Config, watches: Arc<Mutex<usize>>) -> ferrokube::rest::Config {
    use ferrokube::transport::hooks::{RequestBody, TransportLayer};
    config.wrap_transport.push(TransportLayer::new(tower::layer::layer_fn(move |inner| {
        let watches = Arc::clone(&watches);
        tower::util::MapRequest::new(inner, move |mut req: http::Request<RequestBody>| {
            if req.uri().query().is_some_and(|q| q.contains("watch=")) {
                *watches.lock().unwrap() += 1;
                *req.uri_mut() = http::Uri::builder()
                    .scheme(req.uri().scheme().unwrap().clone())
                    .authority(req.uri().authority().unwrap().clone())
                    .path_and_query("/apis/no.such.group/v1/leases?watch=true")
                    .build()
                    .unwrap();
            }
            req
        })
    })));
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_watch_access_candidates_fall_back_to_polling() {
    let cluster = TestCluster::start(ClusterOptions::new("le")).await;
    let (config, ns) = (cluster.config.clone(), cluster.namespace.clone());
    let admin = Clientset::new(&config).unwrap();
    let fence =
        ConfigMap { metadata: ObjectMeta { name: Some(FENCE.into()), ..Default::default() }, ..Default::default() };
    admin.core_v1().config_maps(&ns).create(&fence, &CreateOptions::default()).await.unwrap();
    let watches = Arc::new(Mutex::new(0));
    let config = without_watch(config, watches.clone());
    let events = EventBroadcaster::new();
    let log = Arc::new(Log::default());
    let mut candidates: Vec<Candidate> =
        ["a", "b"].iter().map(|id| candidate(&config, &ns, id, &log, &events)).collect();

    wait_for("a first leader", || leaders(&candidates, &log).len() == 1).await;
    let first = leaders(&candidates, &log)[0].to_owned();
    let other = if first == "a" { "b" } else { "a" };
    wait_for("the follower to know the leader", || candidates.iter().all(|c| c.handle.get_leader() == first)).await;
    wait_for("a failed watch", || *watches.lock().unwrap() > 0).await;

    // A release is found at the follower's next poll: at most one jittered retry period
    // (2.2 × 500 ms) later, well under the lease duration.
    let i = candidates.iter().position(|c| c.id == first).unwrap();
    let leaving = candidates.remove(i);
    let cancelled_at = Instant::now();
    leaving.token.cancel();
    leaving.task.await.unwrap();
    wait_for("the follower to take over", || leaders(&candidates, &log) == [other]).await;
    let handover = log.when(&format!("{other} started")).unwrap() - cancelled_at;
    println!("handover by polling: {handover:?}");
    assert!(handover < LEASE_DURATION, "{handover:?}");
    let violations = log.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{violations:#?}");
    for c in candidates {
        c.token.cancel();
        c.task.await.unwrap();
    }
}
