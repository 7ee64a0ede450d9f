//! Timing tests of the elector on tokio's paused clock, over an in-memory lock that
//! keeps a record with a resourceVersion the way the API server keeps a Lease (a
//! stale update conflicts). The same elector against a real (embedded) API server is
//! tested in `tests/leaderelection.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Status};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::resourcelock::{Interface, LeaderElectionRecord};
use super::*;
use crate::rest::{Error, RequestInfo};

/// The "server": one record and its version, every write logged.
#[derive(Default)]
struct Store {
    record: Option<(LeaderElectionRecord, u64)>,
    /// (when, record written)
    writes: Vec<(Instant, LeaderElectionRecord)>,
    /// Make every request fail as if the server were unreachable.
    unreachable: bool,
    /// Announces every write to watching locks.
    announce: Option<tokio::sync::watch::Sender<LeaderElectionRecord>>,
}

impl Store {
    fn write(&mut self, record: LeaderElectionRecord, version: u64) {
        self.record = Some((record.clone(), version));
        self.writes.push((Instant::now(), record.clone()));
        if let Some(announce) = &self.announce {
            announce.send_replace(record);
        }
    }
}

type SharedStore = Arc<Mutex<Store>>;

struct MemoryLock {
    store: SharedStore,
    identity: String,
    seen: Mutex<Option<u64>>,
    /// Added to the times this candidate writes, as if its wall clock were off.
    skew: jiff::SignedDuration,
    /// Offer the record's changes (as the Lease lock does with a watch).
    watchable: bool,
}

fn api_error(code: u16, reason: &str) -> Error {
    Error::Api {
        request: RequestInfo { verb: "PUT".into(), url: "memory://lease".into() },
        code,
        status: Box::new(Status { code: Some(code.into()), reason: Some(reason.into()), ..Default::default() }),
    }
}

fn unreachable() -> Error {
    Error::Timeout {
        request: RequestInfo { verb: "GET".into(), url: "memory://lease".into() },
        after: Duration::ZERO,
        previous: None,
    }
}

impl MemoryLock {
    fn new(store: &SharedStore, identity: &str) -> Self {
        MemoryLock {
            store: Arc::clone(store),
            identity: identity.into(),
            seen: Mutex::new(None),
            skew: Default::default(),
            watchable: false,
        }
    }

    fn skewed(&self, mut record: LeaderElectionRecord) -> LeaderElectionRecord {
        let shift = |t: Option<MicroTime>| t.map(|t| MicroTime(t.0 + self.skew));
        record.acquire_time = shift(record.acquire_time);
        record.renew_time = shift(record.renew_time);
        record
    }
}

impl Interface for MemoryLock {
    async fn get(&self) -> Result<LeaderElectionRecord, Error> {
        let store = self.store.lock().unwrap();
        if store.unreachable {
            return Err(unreachable());
        }
        let Some((record, version)) = &store.record else { return Err(api_error(404, "NotFound")) };
        *self.seen.lock().unwrap() = Some(*version);
        Ok(record.clone())
    }

    async fn create(&self, record: LeaderElectionRecord) -> Result<(), Error> {
        let mut store = self.store.lock().unwrap();
        if store.unreachable {
            return Err(unreachable());
        }
        if store.record.is_some() {
            return Err(api_error(409, "AlreadyExists"));
        }
        store.write(self.skewed(record), 1);
        *self.seen.lock().unwrap() = Some(1);
        Ok(())
    }

    async fn update(&self, record: LeaderElectionRecord) -> Result<(), Error> {
        let mut store = self.store.lock().unwrap();
        if store.unreachable {
            return Err(unreachable());
        }
        let mut seen = self.seen.lock().unwrap();
        let current = store.record.as_ref().map(|(_, v)| *v);
        if current.is_none() || current != *seen {
            return Err(api_error(409, "Conflict"));
        }
        let version = current.unwrap_or(0) + 1;
        store.write(self.skewed(record), version);
        *seen = Some(version);
        Ok(())
    }

    fn record_event(&self, _message: &str) {}

    fn identity(&self) -> &str {
        &self.identity
    }

    fn describe(&self) -> String {
        "memory/lease".into()
    }

    fn changes(&self) -> impl futures_util::Stream<Item = LeaderElectionRecord> + Send {
        use futures_util::StreamExt;
        let announce = self.store.lock().unwrap().announce.clone();
        match announce.filter(|_| self.watchable) {
            None => futures_util::stream::pending().left_stream(),
            Some(announce) => futures_util::stream::unfold(announce.subscribe(), |mut rx| async move {
                rx.changed().await.ok()?;
                let record = rx.borrow_and_update().clone();
                Some((record, rx))
            })
            .right_stream(),
        }
    }
}

/// A store whose writes watching locks see.
fn watched_store() -> SharedStore {
    let (announce, _) = tokio::sync::watch::channel(LeaderElectionRecord::default());
    Arc::new(Mutex::new(Store { announce: Some(announce), ..Default::default() }))
}

fn watching(store: &SharedStore, id: &str, log: &Log) -> LeaderElectionConfig<MemoryLock> {
    let mut lock = MemoryLock::new(store, id);
    lock.watchable = true;
    LeaderElectionConfig::new(lock, callbacks(id, log, Duration::ZERO))
}

/// What the callbacks of all candidates saw, in order.
type Log = Arc<Mutex<Vec<(Instant, String)>>>;

fn note(log: &Log, what: String) {
    log.lock().unwrap().push((Instant::now(), what));
}

/// Callbacks that log; the work runs until cancelled, then takes `wind_down` to stop.
fn callbacks(id: &str, log: &Log, wind_down: Duration) -> LeaderCallbacks {
    let (id1, id2, id3) = (id.to_owned(), id.to_owned(), id.to_owned());
    let (log1, log2, log3) = (log.clone(), log.clone(), log.clone());
    LeaderCallbacks::new(
        move |token: CancellationToken| {
            let (id, log) = (id1.clone(), log1.clone());
            async move {
                note(&log, format!("{id} started"));
                token.cancelled().await;
                tokio::time::sleep(wind_down).await;
                note(&log, format!("{id} work done"));
            }
        },
        move || note(&log2, format!("{id2} stopped")),
    )
    .with_on_new_leader(move |leader| note(&log3, format!("{id3} sees {leader}")))
}

fn candidate(store: &SharedStore, id: &str, log: &Log) -> LeaderElectionConfig<MemoryLock> {
    LeaderElectionConfig::new(MemoryLock::new(store, id), callbacks(id, log, Duration::ZERO))
}

fn holder(store: &SharedStore) -> Option<String> {
    store.lock().unwrap().record.as_ref().map(|(r, _)| r.holder_identity.clone())
}

fn first(log: &Log, what: &str) -> Option<Instant> {
    log.lock().unwrap().iter().find(|(_, w)| w == what).map(|(t, _)| *t)
}

/// Waits (on the paused clock) until `cond` holds; panics after `limit`.
async fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "condition not met within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn spawn(
    config: LeaderElectionConfig<MemoryLock>,
) -> (LeaderElectorHandle, CancellationToken, tokio::task::JoinHandle<()>) {
    let elector = LeaderElector::new(config).expect("valid config");
    let handle = elector.handle();
    let token = CancellationToken::new();
    let task = tokio::spawn(elector.run(token.clone()));
    (handle, token, task)
}

#[test]
fn validation_follows_client_go() {
    let store = SharedStore::default();
    let log = Log::default();
    let ok = candidate(&store, "a", &log);
    assert_eq!(ok.lease_duration, Duration::from_secs(15));
    assert_eq!(ok.renew_deadline, Duration::from_secs(10));
    assert_eq!(ok.retry_period, Duration::from_secs(2));
    assert!(!ok.release_on_cancel);
    assert_eq!(ok.validate(), Ok(()));

    let with = |f: &dyn Fn(&mut LeaderElectionConfig<MemoryLock>)| {
        let mut c = candidate(&store, "a", &log);
        f(&mut c);
        c.validate().unwrap_err()
    };
    assert!(matches!(
        with(&|c| c.lease_duration = Duration::from_secs(10)),
        ConfigError::LeaseDurationNotAboveRenewDeadline { .. }
    ));
    // 10 s is not above 1.2 × 9 s = 10.8 s, though it is above 9 s.
    assert!(matches!(
        with(&|c| c.retry_period = Duration::from_secs(9)),
        ConfigError::RenewDeadlineNotAboveJitteredRetryPeriod { .. }
    ));
    assert_eq!(with(&|c| c.retry_period = Duration::ZERO), ConfigError::NotPositive { field: "retry_period" });
    assert!(matches!(
        with(&|c| c.lease_duration = Duration::from_millis(15_500)),
        ConfigError::LeaseDurationNotWholeSeconds { .. }
    ));
    let err = LeaderElector::new(candidate(&store, "", &log)).unwrap_err();
    assert_eq!(err, ConfigError::EmptyIdentity);
    assert_eq!(err.to_string(), "Lock identity is empty");
}

#[test]
fn retries_are_jittered_by_up_to_1_2_periods() {
    let period = Duration::from_secs(2);
    let waits: Vec<_> = (0..200).map(|_| crate::util::wait::jitter(period, JITTER_FACTOR)).collect();
    assert!(waits.iter().all(|w| *w >= period && *w < Duration::from_millis(4400)), "{waits:?}");
    assert!(waits.iter().any(|w| *w > Duration::from_millis(3300)), "jitter spreads over the range");
}

#[tokio::test(start_paused = true)]
async fn a_lone_candidate_creates_the_lease_and_renews_it_every_retry_period() {
    let store = SharedStore::default();
    let log = Log::default();
    let (handle, token, task) = spawn(candidate(&store, "a", &log));
    wait_for(Duration::from_secs(1), || handle.is_leader()).await;
    assert_eq!(handle.get_leader(), "a");
    assert!(first(&log, "a started").is_some());
    assert!(first(&log, "a sees a").is_some());
    let record = store.lock().unwrap().writes[0].1.clone();
    assert_eq!(record.lease_duration_seconds, 15);
    assert_eq!(record.leader_transitions, 0);
    assert_eq!(record.acquire_time, record.renew_time, "the creating write acquires");

    tokio::time::sleep(Duration::from_secs(20)).await;
    let writes: Vec<_> = store.lock().unwrap().writes.iter().map(|(t, _)| *t).collect();
    let gaps: Vec<_> = writes.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.len() >= 9, "{gaps:?}");
    // As client-go's, the renew loop renews at once after acquiring, then every period.
    assert_eq!(gaps[0], Duration::ZERO);
    assert!(gaps[1..].iter().all(|g| *g == Duration::from_secs(2)), "renewals every retry period: {gaps:?}");
    let (last, _) = store.lock().unwrap().record.clone().unwrap();
    assert_eq!(last.acquire_time, record.acquire_time, "renewals keep the acquire time");
    assert!(last.renew_time > record.renew_time);
    assert_eq!(handle.check(Duration::ZERO), Ok(()));

    token.cancel();
    task.await.unwrap();
    assert!(first(&log, "a stopped").is_some());
    assert_eq!(holder(&store).as_deref(), Some("a"), "no release without release_on_cancel");
}

#[tokio::test(start_paused = true)]
async fn a_held_lease_is_taken_only_after_it_stops_being_renewed_for_the_lease_duration() {
    let store = SharedStore::default();
    let log = Log::default();
    let (a, _a_token, a_task) = spawn(candidate(&store, "a", &log));
    wait_for(Duration::from_secs(1), || a.is_leader()).await;
    let (b, _b_token, _b_task) = spawn(candidate(&store, "b", &log));
    wait_for(Duration::from_secs(5), || b.get_leader() == "a").await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!b.is_leader() && a.is_leader());
    assert!(first(&log, "b started").is_none());

    // "a" dies without a word: its run future is dropped.
    a_task.abort();
    let _ = a_task.await;
    let last_renewal = store.lock().unwrap().writes.last().unwrap().0;
    wait_for(Duration::from_secs(60), || b.is_leader()).await;
    let taken = first(&log, "b started").unwrap();
    let after = taken - last_renewal;
    // Safety: not before the lease duration, counted from b's own observation. Liveness:
    // within one jittered retry to observe the last change, the lease duration, and one
    // more jittered retry.
    assert!(after >= Duration::from_secs(15), "taken over {after:?} after the last renewal");
    assert!(after <= Duration::from_millis(15_000 + 2 * 4_400), "taken over {after:?} after the last renewal");
    let (record, _) = store.lock().unwrap().record.clone().unwrap();
    assert_eq!((record.holder_identity.as_str(), record.leader_transitions), ("b", 1));
    assert!(first(&log, "b sees b").is_some());
}

#[tokio::test(start_paused = true)]
async fn expiry_is_judged_on_the_observers_clock_not_the_records_renew_time() {
    let store = SharedStore::default();
    let log = Log::default();
    // "a"'s wall clock is an hour behind: its renewTime looks long expired.
    let mut lock = MemoryLock::new(&store, "a");
    lock.skew = jiff::SignedDuration::from_hours(-1);
    let (a, _at, a_task) = spawn(LeaderElectionConfig::new(lock, callbacks("a", &log, Duration::ZERO)));
    wait_for(Duration::from_secs(1), || a.is_leader()).await;
    // "b"'s wall clock is an hour ahead.
    let mut lock = MemoryLock::new(&store, "b");
    lock.skew = jiff::SignedDuration::from_hours(1);
    let (b, _bt, _b_task) = spawn(LeaderElectionConfig::new(lock, callbacks("b", &log, Duration::ZERO)));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(a.is_leader() && !b.is_leader(), "b must not take a lease that is being renewed");

    a_task.abort();
    let _ = a_task.await;
    let stopped = Instant::now();
    wait_for(Duration::from_secs(30), || b.is_leader()).await;
    assert!(stopped.elapsed() <= Duration::from_millis(15_000 + 2 * 4_400), "{:?}", stopped.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_stops_its_work_before_anyone_may_take_over() {
    let store = SharedStore::default();
    let log = Log::default();
    let (a, _at, a_task) = spawn(candidate(&store, "a", &log));
    wait_for(Duration::from_secs(1), || a.is_leader()).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    store.lock().unwrap().unreachable = true;
    let last_renewal = store.lock().unwrap().writes.last().unwrap().0;
    a_task.await.unwrap();
    let stopped = first(&log, "a stopped").unwrap();
    let work_done = first(&log, "a work done").unwrap();
    assert!(work_done <= stopped);
    // It gives up within a retry period plus the renew deadline of its last renewal,
    // before the 15 s after which others may take the lease.
    let gave_up = stopped - last_renewal;
    assert!(gave_up <= Duration::from_secs(12), "{gave_up:?}");
    assert!(gave_up < Duration::from_secs(15));
    assert_eq!(a.check(Duration::ZERO), Ok(()), "a non-renewing leader is still within its lease");
}

#[tokio::test(start_paused = true)]
async fn release_on_cancel_waits_for_the_work_then_hands_over_at_the_next_retry() {
    let store = SharedStore::default();
    let log = Log::default();
    let mut config =
        LeaderElectionConfig::new(MemoryLock::new(&store, "a"), callbacks("a", &log, Duration::from_secs(3)));
    config.release_on_cancel = true;
    let (a, a_token, a_task) = spawn(config);
    wait_for(Duration::from_secs(1), || a.is_leader()).await;
    let (b, _bt, _b_task) = spawn(candidate(&store, "b", &log));
    wait_for(Duration::from_secs(5), || b.get_leader() == "a").await;

    let cancelled = Instant::now();
    a_token.cancel();
    a_task.await.unwrap();
    let work_done = first(&log, "a work done").unwrap();
    assert_eq!(work_done - cancelled, Duration::from_secs(3), "the work takes 3 s to wind down");
    let release = store
        .lock()
        .unwrap()
        .writes
        .iter()
        .find(|(_, r)| r.holder_identity.is_empty())
        .cloned()
        .expect("a released record was written");
    assert!(release.0 >= work_done, "released only after the work stopped");
    assert_eq!(release.1.lease_duration_seconds, 1);
    assert_eq!(release.1.leader_transitions, 0);
    assert!(first(&log, "a stopped").unwrap() >= release.0);
    assert!(!a.is_leader());

    wait_for(Duration::from_secs(10), || b.is_leader()).await;
    let taken = first(&log, "b started").unwrap() - release.0;
    assert!(taken < Duration::from_millis(4_400), "a released lease is taken at the next retry: {taken:?}");
    let (record, _) = store.lock().unwrap().record.clone().unwrap();
    assert_eq!(record.leader_transitions, 1);
    assert!(first(&log, "b sees ").is_none(), "a released (empty) holder is not reported");
}

#[tokio::test(start_paused = true)]
async fn a_run_cancelled_before_leading_calls_on_stopped_leading_and_writes_nothing() {
    let store = SharedStore::default();
    let log = Log::default();
    let (_a, _at, _a_task) = spawn(candidate(&store, "a", &log));
    wait_for(Duration::from_secs(1), || holder(&store).as_deref() == Some("a")).await;
    let mut config = candidate(&store, "b", &log);
    config.release_on_cancel = true;
    let (b, b_token, b_task) = spawn(config);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let writes = store.lock().unwrap().writes.len();
    b_token.cancel();
    b_task.await.unwrap();
    assert!(first(&log, "b stopped").is_some() && first(&log, "b started").is_none());
    assert!(!b.is_leader());
    assert_eq!(holder(&store).as_deref(), Some("a"));
    assert!(store.lock().unwrap().writes.len() <= writes + 1, "only a's renewals");
    assert!(store.lock().unwrap().writes.iter().all(|(_, r)| r.holder_identity == "a"));
}

#[tokio::test(start_paused = true)]
async fn transitions_count_each_change_of_holder() {
    let store = SharedStore::default();
    let log = Log::default();
    let mut transitions = Vec::new();
    for id in ["a", "b", "c"] {
        let mut config = candidate(&store, id, &log);
        config.release_on_cancel = true;
        let (handle, token, task) = spawn(config);
        wait_for(Duration::from_secs(10), || handle.is_leader()).await;
        transitions.push(store.lock().unwrap().record.as_ref().unwrap().0.leader_transitions);
        token.cancel();
        task.await.unwrap();
    }
    assert_eq!(transitions, [0, 1, 2]);
}

#[tokio::test(start_paused = true)]
async fn a_watching_candidate_takes_over_the_moment_the_lease_expires() {
    let store = watched_store();
    let log = Log::default();
    let (a, _at, a_task) = spawn(watching(&store, "a", &log));
    wait_for(Duration::from_secs(1), || a.is_leader()).await;
    let (b, _bt, _b_task) = spawn(watching(&store, "b", &log));
    let (c, _ct, _c_task) = spawn(watching(&store, "c", &log));
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(a.is_leader() && !b.is_leader() && !c.is_leader());
    assert_eq!((b.get_leader(), c.get_leader()), ("a".to_owned(), "a".to_owned()));

    a_task.abort();
    let _ = a_task.await;
    let last_renewal = store.lock().unwrap().writes.last().unwrap().0;
    wait_for(Duration::from_secs(30), || b.is_leader() || c.is_leader()).await;
    let (winner, loser) = if b.is_leader() { ("b", &c) } else { ("c", &b) };
    let after = first(&log, &format!("{winner} started")).unwrap() - last_renewal;
    assert_eq!(after, Duration::from_secs(15), "observed at the write, expired exactly a lease later");
    wait_for(Duration::from_secs(1), || loser.get_leader() == winner).await;
    assert!(first(&log, &format!("{} started", if winner == "b" { "c" } else { "b" })).is_none());
    let (record, _) = store.lock().unwrap().record.clone().unwrap();
    assert_eq!(record.leader_transitions, 1);
}

#[tokio::test(start_paused = true)]
async fn a_watching_candidate_takes_a_released_lease_at_once() {
    let store = watched_store();
    let log = Log::default();
    let mut config = watching(&store, "a", &log);
    config.release_on_cancel = true;
    let (a, a_token, a_task) = spawn(config);
    wait_for(Duration::from_secs(1), || a.is_leader()).await;
    let (b, _bt, _b_task) = spawn(watching(&store, "b", &log));
    wait_for(Duration::from_secs(5), || b.get_leader() == "a").await;
    tokio::time::sleep(Duration::from_millis(1_234)).await;
    a_token.cancel();
    a_task.await.unwrap();
    let released = store.lock().unwrap().writes.last().unwrap().0;
    wait_for(Duration::from_secs(5), || b.is_leader()).await;
    assert_eq!(first(&log, "b started").unwrap(), released, "no wait at all on the paused clock");
}
