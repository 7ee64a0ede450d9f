//! The election itself ([`LeaderElector`], client-go `leaderelection.LeaderElector`):
//! acquire the lock, keep renewing it while leading, give it up on cancellation.
//!
//! Every candidate remembers the last record it read and *when it saw that record
//! change*, on its own monotonic clock. A lease counts as valid until
//! `lease_duration` after that observation: the record's `renewTime` is never compared
//! with the local clock, so candidates whose wall clocks disagree still agree on
//! expiry (client-go's clock-skew tolerance). The holder renews every `retry_period`
//! and gives up if it cannot renew for `renew_deadline`, which is shorter than the
//! lease duration, so it stops before anyone else may start.

use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::StreamExt;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::config::{ConfigError, LeaderCallbacks, LeaderElectionConfig};
use super::resourcelock::{Interface, LeaderElectionRecord, LeaseLock};
use super::JITTER_FACTOR;
use crate::util::wait::jitter;

/// What a candidate last saw of the lock.
#[derive(Debug, Default)]
struct Observed {
    /// The record as last read or written.
    record: LeaderElectionRecord,
    /// The record as last read, to notice changes (client-go compares the raw bytes).
    raw: Option<LeaderElectionRecord>,
    /// When `record` was last set, on this process's monotonic clock.
    time: Option<Instant>,
    /// The holder last reported through `on_new_leader`.
    reported_leader: String,
}

/// The state a [`LeaderElectorHandle`] reads while the election runs.
#[derive(Debug)]
struct Shared {
    identity: String,
    name: String,
    lease_duration: Duration,
    observed: Mutex<Observed>,
}

impl Shared {
    fn observed(&self) -> MutexGuard<'_, Observed> {
        self.observed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_leader(&self) -> bool {
        self.observed().record.holder_identity == self.identity
    }

    fn get_leader(&self) -> String {
        self.observed().record.holder_identity.clone()
    }

    /// The lease as last observed is still valid at `now`.
    fn is_lease_valid(&self, now: Instant) -> bool {
        let observed = self.observed();
        let seconds = u64::try_from(observed.record.lease_duration_seconds).unwrap_or(0);
        observed.time.is_some_and(|t| t + Duration::from_secs(seconds) > now)
    }

    fn set_observed_record(&self, record: LeaderElectionRecord) {
        let mut observed = self.observed();
        observed.record = record;
        observed.time = Some(Instant::now());
    }

    /// Takes in a record read from the lock: if it differs from the last one read, it
    /// becomes the observed record and this candidate's expiry clock restarts.
    fn observe_read(&self, record: LeaderElectionRecord) {
        let mut observed = self.observed();
        if observed.raw.as_ref() != Some(&record) {
            observed.record = record.clone();
            observed.time = Some(Instant::now());
            observed.raw = Some(record);
        }
    }

    /// When the lease as last observed expires, if it was observed at all.
    fn expiry(&self) -> Option<Instant> {
        let observed = self.observed();
        let seconds = u64::try_from(observed.record.lease_duration_seconds).unwrap_or(0);
        observed.time.map(|t| t + Duration::from_secs(seconds))
    }

    fn check(&self, max_tolerable_expired_lease: Duration) -> Result<(), LeaderHealthError> {
        let observed = self.observed();
        if observed.record.holder_identity != self.identity {
            return Ok(());
        }
        let overdue = observed.time.is_none_or(|t| t.elapsed() > self.lease_duration + max_tolerable_expired_lease);
        if overdue {
            return Err(LeaderHealthError { name: self.name.clone() });
        }
        Ok(())
    }
}

/// The leader failed to renew its lease for longer than the lease duration plus the
/// tolerance given to [`LeaderElectorHandle::check`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("failed election to renew leadership on lease {name}")]
#[non_exhaustive]
pub struct LeaderHealthError {
    /// The election's name from its config.
    pub name: String,
}

/// A view of a running election: who leads, whether it is this candidate (client-go
/// `LeaderElector.IsLeader` / `GetLeader` / `Check`). Cheap to clone; keep one to ask
/// while [`LeaderElector::run`] runs elsewhere.
#[must_use]
#[derive(Clone, Debug)]
pub struct LeaderElectorHandle {
    shared: Arc<Shared>,
}

impl LeaderElectorHandle {
    /// This candidate holds the lease as last observed.
    pub fn is_leader(&self) -> bool {
        self.shared.is_leader()
    }

    /// The identity of the holder as last observed; empty when none is known or the
    /// lease was released.
    pub fn get_leader(&self) -> String {
        self.shared.get_leader()
    }

    /// A health check for a leader (client-go `Check`, used by its healthz adaptor): an
    /// error when this candidate believes it leads but has not renewed for longer than
    /// the lease duration plus `max_tolerable_expired_lease`, i.e. it is stuck.
    /// Non-leaders are always healthy.
    pub fn check(&self, max_tolerable_expired_lease: Duration) -> Result<(), LeaderHealthError> {
        self.shared.check(max_tolerable_expired_lease)
    }
}

/// One candidate of a leader election (client-go `leaderelection.LeaderElector`).
///
/// ```no_run
/// # async fn demo(clientset: ferrokube::kubernetes::Clientset) -> Result<(), Box<dyn std::error::Error>> {
/// use ferrokube::tools::leaderelection::{LeaderCallbacks, LeaderElectionConfig, LeaderElector};
/// use ferrokube::tools::leaderelection::resourcelock::{LeaseLock, ResourceLockConfig};
/// use tokio_util::sync::CancellationToken;
///
/// let lock = LeaseLock::new(&clientset, "default", "my-controller", ResourceLockConfig::new("pod-a"));
/// let callbacks = LeaderCallbacks::new(
///     |token: CancellationToken| async move {
///         // the leader's work; return when the token is cancelled
///         token.cancelled().await;
///     },
///     || println!("stopped leading"),
/// )
/// .with_on_new_leader(|id| println!("new leader elected: {id}"));
/// let mut config = LeaderElectionConfig::new(lock, callbacks);
/// config.release_on_cancel = true;
/// let elector = LeaderElector::new(config)?;
/// let handle = elector.handle();
/// let shutdown = CancellationToken::new();
/// tokio::spawn(elector.run(shutdown.clone()));
/// # let _ = handle.is_leader();
/// # Ok(()) }
/// ```
pub struct LeaderElector<L = LeaseLock> {
    lock: L,
    renew_deadline: Duration,
    retry_period: Duration,
    callbacks: LeaderCallbacks,
    release_on_cancel: bool,
    shared: Arc<Shared>,
}

impl<L> std::fmt::Debug for LeaderElector<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderElector")
            .field("identity", &self.shared.identity)
            .field("lease_duration", &self.shared.lease_duration)
            .field("renew_deadline", &self.renew_deadline)
            .field("retry_period", &self.retry_period)
            .field("release_on_cancel", &self.release_on_cancel)
            .finish_non_exhaustive()
    }
}

/// Aborts the leader's work task if [`LeaderElector::run`] is dropped mid-way.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<L: Interface> LeaderElector<L> {
    /// Validates `config` (see [`LeaderElectionConfig::validate`]) and makes a candidate.
    pub fn new(config: LeaderElectionConfig<L>) -> Result<Self, ConfigError> {
        config.validate()?;
        let shared = Arc::new(Shared {
            identity: config.lock.identity().to_owned(),
            name: if config.name.is_empty() { config.lock.describe() } else { config.name },
            lease_duration: config.lease_duration,
            observed: Mutex::new(Observed::default()),
        });
        Ok(LeaderElector {
            lock: config.lock,
            renew_deadline: config.renew_deadline,
            retry_period: config.retry_period,
            callbacks: config.callbacks,
            release_on_cancel: config.release_on_cancel,
            shared,
        })
    }

    /// A handle to ask who leads while [`run`](Self::run) runs.
    pub fn handle(&self) -> LeaderElectorHandle {
        LeaderElectorHandle { shared: Arc::clone(&self.shared) }
    }

    /// This candidate holds the lease as last observed.
    pub fn is_leader(&self) -> bool {
        self.shared.is_leader()
    }

    /// The holder as last observed.
    pub fn get_leader(&self) -> String {
        self.shared.get_leader()
    }

    /// Takes part in the election until `cancel` fires or leadership is lost (client-go
    /// `Run`): tries to acquire the lease every `retry_period` (jittered); once it
    /// holds it, spawns `on_started_leading` and renews until a renewal fails for
    /// `renew_deadline` or `cancel` fires. Then it cancels the leader's token, waits
    /// for the work to finish, releases the lease if `release_on_cancel` is set, and
    /// calls `on_stopped_leading`.
    ///
    /// Like client-go's, a run that lost leadership does not compete again: run a new
    /// elector (or exit the process) to do so. Dropping the future stops everything at
    /// once, aborting the leader's work and releasing nothing, as a crash would.
    pub async fn run(self, cancel: CancellationToken) {
        if !self.acquire(&cancel).await {
            (self.callbacks.on_stopped_leading)();
            return;
        }
        let leading = cancel.child_token();
        let mut work = AbortOnDrop(tokio::spawn((self.callbacks.on_started_leading)(leading.clone())));
        self.renew(&cancel).await;
        leading.cancel();
        if let Err(e) = (&mut work.0).await {
            if e.is_panic() {
                tracing::error!(lock = %self.lock.describe(), "the leader's work panicked");
            }
        }
        self.lock.record_event("stopped leading");
        if self.release_on_cancel {
            self.release().await;
        }
        (self.callbacks.on_stopped_leading)();
    }

    /// Loops until the lease is acquired (true) or `cancel` fires (false).
    ///
    /// Between attempts it waits one jittered retry period, as client-go, while also
    /// observing the lock's [`changes`](Interface::changes): a change restarts the
    /// expiry clock at once, a release triggers an attempt at once, and an attempt is
    /// made the moment the observed lease expires if that comes before the next retry.
    async fn acquire(&self, cancel: &CancellationToken) -> bool {
        let desc = self.lock.describe();
        tracing::info!(lock = %desc, "attempting to acquire leader lease");
        let changes = self.lock.changes();
        tokio::pin!(changes);
        loop {
            let next_retry = Instant::now() + jitter(self.retry_period, JITTER_FACTOR);
            let succeeded = tokio::select! {
                biased;
                _ = cancel.cancelled() => return false,
                ok = self.try_acquire_or_renew() => ok,
            };
            self.maybe_report_transition();
            if succeeded {
                self.lock.record_event("became leader");
                tracing::info!(lock = %desc, "successfully acquired lease");
                return true;
            }
            tracing::debug!(lock = %desc, "failed to acquire lease");
            loop {
                let now = Instant::now();
                let wake = match self.shared.expiry() {
                    Some(expiry) if expiry > now && expiry < next_retry => expiry,
                    _ => next_retry,
                };
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return false,
                    _ = tokio::time::sleep_until(wake) => break,
                    Some(record) = changes.next() => {
                        let released = record.holder_identity.is_empty();
                        self.shared.observe_read(record);
                        self.maybe_report_transition();
                        if released {
                            tracing::debug!(lock = %desc, "lease released; trying at once");
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Renews every `retry_period` until a renewal fails for `renew_deadline` or
    /// `cancel` fires.
    async fn renew(&self, cancel: &CancellationToken) {
        let desc = self.lock.describe();
        loop {
            let attempts = async {
                loop {
                    let next = Instant::now() + self.retry_period;
                    if self.try_acquire_or_renew().await {
                        return true;
                    }
                    tokio::time::sleep_until(next).await;
                }
            };
            let renewed = tokio::select! {
                biased;
                _ = cancel.cancelled() => false,
                result = tokio::time::timeout(self.renew_deadline, attempts) => result.unwrap_or(false),
            };
            self.maybe_report_transition();
            if !renewed {
                if cancel.is_cancelled() {
                    tracing::info!(lock = %desc, "stopping renewal: cancelled");
                } else {
                    tracing::info!(lock = %desc, "failed to renew lease within the renew deadline");
                }
                return;
            }
            tracing::trace!(lock = %desc, "successfully renewed lease");
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(self.retry_period) => {}
            }
        }
    }

    /// Writes a released record, giving up after `renew_deadline` (client-go
    /// `release`).
    async fn release(&self) -> bool {
        tokio::time::timeout(self.renew_deadline, self.try_release()).await.unwrap_or(false)
    }

    async fn try_release(&self) -> bool {
        loop {
            let current = match self.lock.get().await {
                Ok(record) => record,
                Err(e) if e.is_not_found() => {
                    tracing::info!(lock = %self.lock.describe(), "lease lock not found");
                    return false;
                }
                Err(e) => {
                    tracing::error!(lock = %self.lock.describe(), error = %e, "error retrieving resource lock");
                    return false;
                }
            };
            // client-go checks only its own observation; checking the record just read
            // as well keeps a candidate from clearing a lease someone else now holds.
            if !self.is_leader() || current.holder_identity != self.shared.identity {
                return true;
            }
            let now = micro_now();
            let released = LeaderElectionRecord {
                leader_transitions: current.leader_transitions,
                lease_duration_seconds: 1,
                renew_time: Some(now.clone()),
                acquire_time: Some(now),
                ..Default::default()
            };
            match self.lock.update(released.clone()).await {
                Ok(()) => {
                    self.shared.set_observed_record(released);
                    tracing::info!(lock = %self.lock.describe(), "released lease");
                    return true;
                }
                Err(e) if e.is_conflict() => {
                    tracing::debug!(lock = %self.lock.describe(), "conflict when releasing lease, retrying");
                }
                Err(e) => {
                    tracing::error!(lock = %self.lock.describe(), error = %e, "failed to release lease");
                    return false;
                }
            }
        }
    }

    /// One attempt to take or renew the lease (client-go `tryAcquireOrRenew`).
    async fn try_acquire_or_renew(&self) -> bool {
        let shared = &*self.shared;
        let now = Instant::now();
        let wall = micro_now();
        let mut desired = LeaderElectionRecord {
            holder_identity: shared.identity.clone(),
            lease_duration_seconds: i32::try_from(shared.lease_duration.as_secs()).unwrap_or(i32::MAX),
            acquire_time: Some(wall.clone()),
            renew_time: Some(wall),
            ..Default::default()
        };

        // Fast path: the leader renews with the Lease it last wrote, no read needed; a
        // conflict (someone else wrote) falls through to the slow path.
        if shared.is_leader() && shared.is_lease_valid(now) {
            {
                let observed = shared.observed();
                desired.acquire_time = observed.record.acquire_time.clone();
                desired.leader_transitions = observed.record.leader_transitions;
            }
            match self.lock.update(desired.clone()).await {
                Ok(()) => {
                    shared.set_observed_record(desired);
                    return true;
                }
                Err(e) => tracing::debug!(
                    lock = %self.lock.describe(), error = %e,
                    "failed to update lease optimistically, falling back to slow path"
                ),
            }
        }

        let old = match self.lock.get().await {
            Ok(record) => record,
            Err(e) if e.is_not_found() => {
                return match self.lock.create(desired.clone()).await {
                    Ok(()) => {
                        shared.set_observed_record(desired);
                        true
                    }
                    Err(e) => {
                        tracing::debug!(lock = %self.lock.describe(), error = %e, "error initially creating lease lock");
                        false
                    }
                };
            }
            Err(e) => {
                tracing::warn!(lock = %self.lock.describe(), error = %e, "error retrieving lease lock");
                return false;
            }
        };

        shared.observe_read(old.clone());
        if !old.holder_identity.is_empty() && shared.is_lease_valid(now) && !shared.is_leader() {
            tracing::trace!(lock = %self.lock.describe(), holder = %old.holder_identity, "lease is held and has not yet expired");
            return false;
        }

        if shared.is_leader() {
            desired.acquire_time = old.acquire_time;
            desired.leader_transitions = old.leader_transitions;
        } else {
            desired.leader_transitions = old.leader_transitions.saturating_add(1);
        }
        match self.lock.update(desired.clone()).await {
            Ok(()) => {
                shared.set_observed_record(desired);
                true
            }
            Err(e) => {
                tracing::debug!(lock = %self.lock.describe(), error = %e, "failed to update lease");
                false
            }
        }
    }

    /// Calls `on_new_leader` when the observed holder changed since the last report. A
    /// released lease (empty holder) is remembered but not reported.
    fn maybe_report_transition(&self) {
        let holder = {
            let mut observed = self.shared.observed();
            if observed.record.holder_identity == observed.reported_leader {
                return;
            }
            observed.reported_leader = observed.record.holder_identity.clone();
            observed.reported_leader.clone()
        };
        if holder.is_empty() {
            return;
        }
        if let Some(on_new_leader) = &self.callbacks.on_new_leader {
            on_new_leader(&holder);
        }
    }
}

/// The wall-clock time now at the Lease's microsecond precision.
fn micro_now() -> MicroTime {
    let now = jiff::Timestamp::now();
    MicroTime(jiff::Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now))
}
