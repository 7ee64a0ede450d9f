//! `tools::leaderelection`: one leader among many replicas, through a Lease (client-go
//! `tools/leaderelection`).
//!
//! Controllers run several replicas for availability but want only one of them to act.
//! Each replica runs a [`LeaderElector`] on the same lock (a `coordination.k8s.io/v1`
//! Lease, [`resourcelock::LeaseLock`]); the one that holds the lease runs its work
//! (`on_started_leading`, given a `CancellationToken`) and keeps renewing the lease;
//! the others retry and take over when the lease is released or stops being renewed.
//! It sits on top of the typed [`Clientset`](crate::kubernetes::Clientset) and is what
//! a controller's `main` wraps around its informers and workqueues.
//!
//! Semantics follow client-go:
//! - timings [`DEFAULT_LEASE_DURATION`] 15 s, [`DEFAULT_RENEW_DEADLINE`] 10 s,
//!   [`DEFAULT_RETRY_PERIOD`] 2 s, validated as client-go does (lease duration >
//!   renew deadline > 1.2 × retry period, all positive), with typed [`ConfigError`]s;
//! - writes are conditional on the Lease's resourceVersion: a conflict means another
//!   candidate won the race;
//! - expiry is judged on each candidate's own clock, from when it saw the record
//!   change, never from the record's `renewTime` (clock-skew tolerance);
//! - retries of non-leaders are jittered ([`JITTER_FACTOR`] 1.2, as `wait.JitterUntil`);
//! - `leaseTransitions` rises when the holder changes; `acquireTime` and `renewTime` are
//!   written as MicroTime;
//! - with `release_on_cancel`, a leader that is cancelled writes a released record
//!   (holder `""`, `leaseDurationSeconds: 1`) so that another candidate takes over at
//!   once.
//!
//! Where ferrokube differs on purpose:
//! - The elector waits for the leader's work to finish (its token cancelled) before it
//!   releases the lease, and cancels the work *before* releasing when a renewal fails;
//!   client-go does neither, so its old and new leader can briefly work at once.
//! - While waiting for its next attempt a candidate also watches the lock
//!   ([`resourcelock::Interface::changes`]; a field-selected watch on the Lease). A
//!   change it sees restarts its expiry clock at that moment rather than at its next
//!   poll, a released lease is taken at once, and it tries the moment the observed
//!   lease expires instead of at the next jittered retry. So a release hands over in
//!   milliseconds (client-go: 2–4.4 s) and a crashed leader is replaced one lease
//!   duration after its last renewal (client-go: up to two jittered retries later).
//!   Expiry is still measured from a local observation of a change, so the skew
//!   tolerance is unchanged. If the watch is not allowed or fails, polling alone
//!   drives the election, as in client-go.
//! - Release re-checks that the Lease it just read still names this candidate.
//! - A released lease (empty holder) is not reported to `on_new_leader`, which is
//!   called inline on the election task rather than on a new goroutine.
//! - The lease duration must be whole seconds (the Lease stores seconds; client-go
//!   truncates silently).
//!
//! Not included: coordinated leader election (`LeaseCandidate`, `Coordinated: true`),
//! Prometheus metrics (the election logs through `tracing` instead), and the removed
//! Endpoints/ConfigMap locks. [`LeaderElectorHandle::check`] is client-go's `Check`, on
//! which its healthz adaptor is built.

mod config;
mod elector;
pub mod resourcelock;

#[cfg(test)]
mod tests;

pub use config::{
    ConfigError, LeaderCallbacks, LeaderElectionConfig, DEFAULT_LEASE_DURATION, DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
};
pub use elector::{LeaderElector, LeaderElectorHandle, LeaderHealthError};

/// The jitter factor of non-leaders' retries (client-go `leaderelection.JitterFactor`):
/// each wait is the retry period plus up to 1.2 × the retry period.
pub const JITTER_FACTOR: f64 = 1.2;
