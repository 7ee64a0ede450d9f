//! The election's settings ([`LeaderElectionConfig`]), the callbacks the elector calls
//! ([`LeaderCallbacks`]), and the validation client-go's `NewLeaderElector` does, with
//! typed errors ([`ConfigError`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::resourcelock::{Interface, LeaseLock};
use super::JITTER_FACTOR;

/// The lease duration core Kubernetes components use (`--leader-elect-lease-duration`).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// The renew deadline core components use (`--leader-elect-renew-deadline`).
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// The retry period core components use (`--leader-elect-retry-period`).
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
type StartedFn = dyn Fn(CancellationToken) -> BoxFuture + Send + Sync;
type StoppedFn = dyn Fn() + Send + Sync;
type NewLeaderFn = dyn Fn(&str) + Send + Sync;

/// What the elector calls as leadership comes and goes (client-go
/// `leaderelection.LeaderCallbacks`).
#[derive(Clone)]
pub struct LeaderCallbacks {
    pub(crate) on_started_leading: Arc<StartedFn>,
    pub(crate) on_stopped_leading: Arc<StoppedFn>,
    pub(crate) on_new_leader: Option<Arc<NewLeaderFn>>,
}

impl std::fmt::Debug for LeaderCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaderCallbacks").field("on_new_leader", &self.on_new_leader.is_some()).finish_non_exhaustive()
    }
}

impl LeaderCallbacks {
    /// The two callbacks client-go requires.
    ///
    /// `on_started_leading` is the leader's work: it is spawned as a task when the
    /// lease is acquired and given a token that is cancelled when leadership ends (the
    /// run is cancelled or a renewal fails). The work must stop when the token fires;
    /// the elector waits for it before it releases the lease, so two leaders' work
    /// never overlaps.
    ///
    /// `on_stopped_leading` is called when [`run`](super::LeaderElector::run) returns,
    /// after the work stopped and the lease was released, and (as in client-go) also
    /// when the run ends without ever leading.
    pub fn new<S, Fut, T>(on_started_leading: S, on_stopped_leading: T) -> Self
    where
        S: Fn(CancellationToken) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
        T: Fn() + Send + Sync + 'static,
    {
        LeaderCallbacks {
            on_started_leading: Arc::new(move |token| Box::pin(on_started_leading(token))),
            on_stopped_leading: Arc::new(on_stopped_leading),
            on_new_leader: None,
        }
    }

    /// Also calls `on_new_leader` with the holder's identity whenever this candidate
    /// sees the lease change hands, itself included (client-go `OnNewLeader`). It is
    /// called on the election task, so it must return quickly.
    pub fn with_on_new_leader(mut self, on_new_leader: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_new_leader = Some(Arc::new(on_new_leader));
        self
    }
}

/// The settings of one election (client-go `leaderelection.LeaderElectionConfig`).
///
/// Build it with [`new`](Self::new), which takes client-go's core-component defaults
/// (15 s lease, 10 s renew deadline, 2 s retry period), and change fields as needed;
/// [`LeaderElector::new`](super::LeaderElector::new) validates it.
#[derive(Debug)]
#[non_exhaustive]
pub struct LeaderElectionConfig<L = LeaseLock> {
    /// The lock to compete for.
    pub lock: L,
    /// How long non-leaders wait, after they last saw the record change, before they
    /// try to take the lease. The time is measured on each candidate's own clock from
    /// its own observation, never from the record's `renewTime`, so clocks need not
    /// agree. Stored in the Lease in whole seconds.
    pub lease_duration: Duration,
    /// How long the leader keeps retrying a failed renewal before it gives up
    /// leadership. Must be below `lease_duration`.
    pub renew_deadline: Duration,
    /// How long candidates wait between attempts (with up to 1.2 × jitter when not
    /// leading).
    pub retry_period: Duration,
    /// What to call as leadership comes and goes.
    pub callbacks: LeaderCallbacks,
    /// When the run is cancelled while leading, write a released record (holder
    /// cleared, `leaseDurationSeconds: 1`) so that another candidate takes over at once
    /// instead of after the lease duration. Only safe when the leader's work has
    /// stopped, which the elector waits for.
    pub release_on_cancel: bool,
    /// A name for the election in logs (client-go uses it in metrics).
    pub name: String,
}

impl<L: Interface> LeaderElectionConfig<L> {
    /// A config for `lock` with client-go's core-component timings and
    /// `release_on_cancel` off (client-go's default).
    pub fn new(lock: L, callbacks: LeaderCallbacks) -> Self {
        LeaderElectionConfig {
            lock,
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
            callbacks,
            release_on_cancel: false,
            name: String::new(),
        }
    }

    /// Checks the settings as client-go's `NewLeaderElector` does, plus that the
    /// lease duration can be stored in the Lease's whole seconds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (lease, renew, retry) = (self.lease_duration, self.renew_deadline, self.retry_period);
        if lease <= renew {
            return Err(ConfigError::LeaseDurationNotAboveRenewDeadline {
                lease_duration: lease,
                renew_deadline: renew,
            });
        }
        if renew <= retry.mul_f64(JITTER_FACTOR) {
            return Err(ConfigError::RenewDeadlineNotAboveJitteredRetryPeriod {
                renew_deadline: renew,
                retry_period: retry,
            });
        }
        if lease.is_zero() {
            return Err(ConfigError::NotPositive { field: "lease_duration" });
        }
        if renew.is_zero() {
            return Err(ConfigError::NotPositive { field: "renew_deadline" });
        }
        if retry.is_zero() {
            return Err(ConfigError::NotPositive { field: "retry_period" });
        }
        if lease.subsec_nanos() != 0 || lease.as_secs() > i32::MAX as u64 {
            return Err(ConfigError::LeaseDurationNotWholeSeconds { lease_duration: lease });
        }
        if self.lock.identity().is_empty() {
            return Err(ConfigError::EmptyIdentity);
        }
        Ok(())
    }
}

/// Why a [`LeaderElectionConfig`] was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// `lease_duration` must be greater than `renew_deadline`, or another candidate
    /// could take the lease while the leader still believes it holds it.
    #[error("leaseDuration ({lease_duration:?}) must be greater than renewDeadline ({renew_deadline:?})")]
    LeaseDurationNotAboveRenewDeadline {
        /// The configured lease duration.
        lease_duration: Duration,
        /// The configured renew deadline.
        renew_deadline: Duration,
    },
    /// `renew_deadline` must be greater than `retry_period` × 1.2 (`JitterFactor`), so
    /// that at least one renewal attempt fits in the deadline.
    #[error(
        "renewDeadline ({renew_deadline:?}) must be greater than retryPeriod*JitterFactor ({retry_period:?} * 1.2)"
    )]
    RenewDeadlineNotAboveJitteredRetryPeriod {
        /// The configured renew deadline.
        renew_deadline: Duration,
        /// The configured retry period.
        retry_period: Duration,
    },
    /// A duration is zero.
    #[error("{field} must be greater than zero")]
    NotPositive {
        /// The field: `lease_duration`, `renew_deadline` or `retry_period`.
        field: &'static str,
    },
    /// The Lease stores its duration in whole seconds; client-go would silently cut
    /// the fraction off, which can leave the stored duration below the renew deadline.
    #[error("leaseDuration ({lease_duration:?}) must be a whole number of seconds")]
    LeaseDurationNotWholeSeconds {
        /// The configured lease duration.
        lease_duration: Duration,
    },
    /// The lock's identity is empty.
    #[error("Lock identity is empty")]
    EmptyIdentity,
}
