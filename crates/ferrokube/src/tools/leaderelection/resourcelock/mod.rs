//! `resourcelock`: the object candidates compete for (client-go
//! `tools/leaderelection/resourcelock`).
//!
//! A lock stores one [`LeaderElectionRecord`] (who holds the lease, for how long, since
//! when, how many times it changed hands) in an API object and reads and writes it with
//! optimistic concurrency: every [`Interface::update`] carries the resourceVersion of the
//! last read, so of two candidates writing at once exactly one wins and the other gets
//! a `409 Conflict`. The [`LeaderElector`](super::LeaderElector) holds the election
//! logic; a lock only moves records to and from the server.
//!
//! [`LeaseLock`] keeps the record in a `coordination.k8s.io/v1` Lease, the only lock
//! client-go still supports (the Endpoints and ConfigMap locks were removed).

mod leaselock;

use std::future::Future;

use futures_util::Stream;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

pub use leaselock::{leader_election_record_to_lease_spec, lease_spec_to_leader_election_record, LeaseLock};

use crate::rest::Error;
use crate::tools::record::EventRecorder;

/// client-go's name of the Lease lock type (`resourcelock.LeasesResourceLock`), the value
/// of `--leader-elect-resource-lock` in Kubernetes components.
pub const LEASES_RESOURCE_LOCK: &str = "leases";

/// What a lock stores: the state of the election (client-go
/// `resourcelock.LeaderElectionRecord`). An empty `holder_identity` means nobody holds
/// the lease (it was released).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderElectionRecord {
    /// Identity of the holder; empty when released.
    pub holder_identity: String,
    /// How long (seconds) the other candidates must wait, after they last saw the
    /// record change, before they may take the lease.
    pub lease_duration_seconds: i32,
    /// When the current holder acquired the lease.
    pub acquire_time: Option<MicroTime>,
    /// When the current holder last renewed it.
    pub renew_time: Option<MicroTime>,
    /// How many times the lease changed hands.
    pub leader_transitions: i32,
    /// The coordinated-election strategy (`spec.strategy`), kept as read.
    pub strategy: Option<String>,
    /// The candidate a coordinated election prefers (`spec.preferredHolder`), kept as read.
    pub preferred_holder: Option<String>,
}

/// What every lock needs besides its object (client-go `resourcelock.ResourceLockConfig`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ResourceLockConfig {
    /// This candidate's identity, unique among the candidates (a pod name, a hostname
    /// plus a random suffix). Must not be empty.
    pub identity: String,
    /// Where "became leader" / "stopped leading" events about the lock go, if anywhere.
    pub event_recorder: Option<EventRecorder>,
}

impl ResourceLockConfig {
    /// A config with `identity` and no event recorder.
    pub fn new(identity: impl Into<String>) -> Self {
        ResourceLockConfig { identity: identity.into(), event_recorder: None }
    }

    /// Records leader-election events on the lock object through `recorder`.
    pub fn with_event_recorder(mut self, recorder: EventRecorder) -> Self {
        self.event_recorder = Some(recorder);
        self
    }
}

/// A lock the elector can compete for (client-go `resourcelock.Interface`).
///
/// `get` must remember the object it read so that the next `update` is conditional on
/// it (its resourceVersion); `update` after a `create` is conditional on the created
/// object. An `update` that lost a race fails with a conflict error.
pub trait Interface: Send + Sync + 'static {
    /// Reads the record. A missing object is an error for which
    /// [`Error::is_not_found`] holds.
    fn get(&self) -> impl Future<Output = Result<LeaderElectionRecord, Error>> + Send;

    /// Creates the object holding `record`.
    fn create(&self, record: LeaderElectionRecord) -> impl Future<Output = Result<(), Error>> + Send;

    /// Replaces the record, conditional on the object last read or written.
    fn update(&self, record: LeaderElectionRecord) -> impl Future<Output = Result<(), Error>> + Send;

    /// Records an event about the lock (`"became leader"`, `"stopped leading"`); the
    /// identity is prepended. Never blocks.
    fn record_event(&self, message: &str);

    /// This candidate's identity.
    fn identity(&self) -> &str;

    /// The lock for log messages, e.g. `namespace/name`.
    fn describe(&self) -> String;

    /// The record as it changes after the last read, for a candidate to observe while
    /// it waits for its next attempt. A ferrokube addition, not in client-go: a
    /// candidate that sees changes as they happen judges expiry from the true time of
    /// the last renewal and takes over a released lease at once, instead of learning
    /// both at its next jittered poll. A deleted lock yields an empty record. The
    /// default yields nothing (candidates then learn only by polling, as in
    /// client-go).
    fn changes(&self) -> impl Stream<Item = LeaderElectionRecord> + Send {
        futures_util::stream::pending()
    }
}
