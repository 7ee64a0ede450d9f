//! [`LeaseLock`]: the election record kept in a `coordination.k8s.io/v1` Lease (client-go
//! `resourcelock.LeaseLock`), and the conversions between a record and a `LeaseSpec`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Resource;

use super::{Interface, LeaderElectionRecord, ResourceLockConfig};
use crate::kubernetes::{Clientset, ResourceClient};
use crate::rest::{self, CreateOptions, Error, GetOptions, ListOptions, UpdateOptions};
use crate::tools::record::EventType;
use crate::watch::{WatchEvent, WatchStream};

/// A lock on a Lease `namespace/name` (client-go `resourcelock.LeaseLock`). The Lease is
/// created by the first candidate that finds it missing.
pub struct LeaseLock {
    namespace: String,
    name: String,
    client: ResourceClient<Lease>,
    lock_config: ResourceLockConfig,
    labels: BTreeMap<String, String>,
    /// The Lease as last read or written: its resourceVersion makes the next update
    /// conditional.
    lease: Mutex<Option<Lease>>,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("identity", &self.lock_config.identity)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// A lock on the Lease `namespace/name`, read and written through `clientset`
    /// (client-go `resourcelock.New(LeasesResourceLock, ...)`).
    pub fn new(clientset: &Clientset, namespace: &str, name: &str, lock_config: ResourceLockConfig) -> Self {
        LeaseLock {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            client: clientset.coordination_v1().leases(namespace),
            lock_config,
            labels: BTreeMap::new(),
            lease: Mutex::new(None),
        }
    }

    /// A lock whose own client is made from `config` the way client-go's
    /// `NewFromKubeconfig` does: requests time out after half the renew deadline (at
    /// least one second), so a hung request cannot eat the whole deadline, and the user
    /// agent ends in `/leader-election`.
    pub fn from_config(
        config: &rest::Config,
        namespace: &str,
        name: &str,
        lock_config: ResourceLockConfig,
        renew_deadline: Duration,
    ) -> Result<Self, Error> {
        let mut config = config.clone();
        config.timeout = Some((renew_deadline / 2).max(Duration::from_secs(1)));
        let agent = config.user_agent.take().unwrap_or_else(rest::config::default_user_agent);
        config.user_agent = Some(format!("{agent}/leader-election"));
        Ok(Self::new(&Clientset::new(&config)?, namespace, name, lock_config))
    }

    /// Labels set on the Lease when it is created and merged into it on every update
    /// (client-go `resourcelock.NewWithLabels`).
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Self {
        self.labels = labels;
        self
    }

    /// The Lease's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn cached(&self) -> Option<Lease> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn remember(&self, lease: Lease) {
        *self.lease.lock().unwrap_or_else(|e| e.into_inner()) = Some(lease);
    }

    fn cached_resource_version(&self) -> Option<String> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|l| l.metadata.resource_version.clone())
    }
}

/// Where [`LeaseLock::changes`] is: the watch it reads and the last version it saw.
struct ChangeWatch<'a> {
    lock: &'a LeaseLock,
    stream: Option<WatchStream<Lease>>,
    /// The current stream has yielded something (a stream that ends empty-handed is
    /// reopened only after a pause, so a server that closes watches at once is not
    /// hammered).
    yielded: bool,
    resource_version: Option<String>,
    backoff: Duration,
}

/// First and longest wait before reopening a failed watch.
const WATCH_BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));

impl ChangeWatch<'_> {
    async fn next(&mut self) -> LeaderElectionRecord {
        loop {
            let Some(stream) = &mut self.stream else {
                self.open().await;
                continue;
            };
            match stream.next().await {
                Some(Ok(WatchEvent::Added(lease))) | Some(Ok(WatchEvent::Modified(lease))) => {
                    self.backoff = WATCH_BACKOFF.0;
                    self.yielded = true;
                    self.resource_version = lease.metadata.resource_version.clone();
                    return lease.spec.as_ref().map(lease_spec_to_leader_election_record).unwrap_or_default();
                }
                Some(Ok(WatchEvent::Deleted(lease))) => {
                    self.yielded = true;
                    self.resource_version = lease.metadata.resource_version.clone();
                    return LeaderElectionRecord::default();
                }
                Some(Ok(WatchEvent::Bookmark(bookmark))) => {
                    self.yielded = true;
                    self.resource_version = Some(bookmark.resource_version);
                }
                // The server ended the watch: resume where it stopped.
                None => {
                    tracing::trace!(lock = %self.lock.describe(), "lease watch ended; resuming");
                    self.stream = None;
                    if !self.yielded {
                        self.pause().await;
                    }
                }
                // Too old a version (410) or a broken stream: start again from the
                // version the elector last read, after a pause.
                Some(Ok(WatchEvent::Error(status))) => {
                    tracing::debug!(lock = %self.lock.describe(), message = ?status.message, "lease watch failed");
                    self.stream = None;
                    self.resource_version = None;
                    self.pause().await;
                }
                Some(Err(e)) => {
                    tracing::debug!(lock = %self.lock.describe(), error = %e, "lease watch failed");
                    self.stream = None;
                    self.resource_version = None;
                    self.pause().await;
                }
            }
        }
    }

    /// Opens the watch from the version last seen or read; with none (nothing read yet,
    /// or the Lease did not exist), from the current state, which the server sends
    /// first as an ADDED event.
    async fn open(&mut self) {
        let resource_version = self.resource_version.clone().or_else(|| self.lock.cached_resource_version());
        let opts = ListOptions {
            field_selector: Some(format!("metadata.name={}", self.lock.name)),
            resource_version: resource_version.clone(),
            allow_watch_bookmarks: Some(true),
            ..Default::default()
        };
        match self.lock.client.watch(&opts).await {
            Ok(stream) => {
                self.stream = Some(stream);
                self.yielded = false;
                self.resource_version = resource_version;
            }
            Err(e) => {
                tracing::debug!(lock = %self.lock.describe(), error = %e, "cannot watch the lease; polling only");
                self.resource_version = None;
                self.pause().await;
            }
        }
    }

    async fn pause(&mut self) {
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(WATCH_BACKOFF.1);
    }
}

impl Interface for LeaseLock {
    async fn get(&self) -> Result<LeaderElectionRecord, Error> {
        let lease = self.client.get(&self.name, &GetOptions::default()).await?;
        let record = lease.spec.as_ref().map(lease_spec_to_leader_election_record).unwrap_or_default();
        self.remember(lease);
        Ok(record)
    }

    async fn create(&self, record: LeaderElectionRecord) -> Result<(), Error> {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: (!self.labels.is_empty()).then(|| self.labels.clone()),
                ..Default::default()
            },
            spec: Some(leader_election_record_to_lease_spec(&record)),
        };
        let created = self.client.create(&lease, &CreateOptions::default()).await?;
        self.remember(created);
        Ok(())
    }

    async fn update(&self, record: LeaderElectionRecord) -> Result<(), Error> {
        let Some(mut lease) = self.cached() else {
            let request = self.client.object_request(http::Method::PUT, &self.name, None);
            return Err(Error::InvalidRequest {
                request: rest::errors::RequestInfo::new(request.verb(), &request.url()),
                source: rest::errors::RequestBuildError::Precondition(
                    "lease not initialized, call get or create first",
                ),
            });
        };
        lease.spec = Some(leader_election_record_to_lease_spec(&record));
        if !self.labels.is_empty() {
            let labels = lease.metadata.labels.get_or_insert_with(BTreeMap::new);
            labels.extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        let updated = self.client.update(&lease, &UpdateOptions::default()).await?;
        self.remember(updated);
        Ok(())
    }

    fn record_event(&self, message: &str) {
        let Some(recorder) = &self.lock_config.event_recorder else { return };
        let lease = self.cached();
        let reference = ObjectReference {
            api_version: Some(Lease::API_VERSION.to_owned()),
            kind: Some(Lease::KIND.to_owned()),
            namespace: Some(self.namespace.clone()),
            name: Some(self.name.clone()),
            uid: lease.as_ref().and_then(|l| l.metadata.uid.clone()),
            resource_version: lease.as_ref().and_then(|l| l.metadata.resource_version.clone()),
            field_path: None,
        };
        recorder.eventf(
            &reference,
            EventType::Normal,
            "LeaderElection",
            format_args!("{} {}", self.lock_config.identity, message),
        );
    }

    fn identity(&self) -> &str {
        &self.lock_config.identity
    }

    fn describe(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Watches the Lease (`metadata.name` field selector) from the version last read;
    /// reopens the watch where it ended, and after failures (1 s doubling to 30 s).
    fn changes(&self) -> impl Stream<Item = LeaderElectionRecord> + Send {
        let watch =
            ChangeWatch { lock: self, stream: None, yielded: false, resource_version: None, backoff: WATCH_BACKOFF.0 };
        futures_util::stream::unfold(watch, |mut watch| async move {
            let record = watch.next().await;
            Some((record, watch))
        })
    }
}

/// The record a `LeaseSpec` holds (client-go `LeaseSpecToLeaderElectionRecord`); absent
/// fields read as empty / zero.
pub fn lease_spec_to_leader_election_record(spec: &LeaseSpec) -> LeaderElectionRecord {
    LeaderElectionRecord {
        holder_identity: spec.holder_identity.clone().unwrap_or_default(),
        lease_duration_seconds: spec.lease_duration_seconds.unwrap_or(0),
        acquire_time: spec.acquire_time.clone(),
        renew_time: spec.renew_time.clone(),
        leader_transitions: spec.lease_transitions.unwrap_or(0),
        strategy: spec.strategy.clone().filter(|s| !s.is_empty()),
        preferred_holder: spec.preferred_holder.clone().filter(|s| !s.is_empty()),
    }
}

/// The `LeaseSpec` that stores `record` (client-go `LeaderElectionRecordToLeaseSpec`).
/// Like client-go, the holder, duration and transitions are always written, the holder
/// as `""` when released.
pub fn leader_election_record_to_lease_spec(record: &LeaderElectionRecord) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(record.holder_identity.clone()),
        lease_duration_seconds: Some(record.lease_duration_seconds),
        acquire_time: record.acquire_time.clone(),
        renew_time: record.renew_time.clone(),
        lease_transitions: Some(record.leader_transitions),
        preferred_holder: record.preferred_holder.clone(),
        strategy: record.strategy.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    #[test]
    fn records_survive_the_round_trip_through_a_lease_spec() {
        let t: jiff::Timestamp = "2025-01-02T03:04:05.123456Z".parse().unwrap();
        let record = LeaderElectionRecord {
            holder_identity: "a".into(),
            lease_duration_seconds: 15,
            acquire_time: Some(MicroTime(t)),
            renew_time: Some(MicroTime(t)),
            leader_transitions: 3,
            strategy: None,
            preferred_holder: None,
        };
        let spec = leader_election_record_to_lease_spec(&record);
        assert_eq!(spec.holder_identity.as_deref(), Some("a"));
        assert_eq!(lease_spec_to_leader_election_record(&spec), record);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["renewTime"], "2025-01-02T03:04:05.123456Z");
        assert_eq!(json["leaseTransitions"], 3);
    }

    #[test]
    fn a_released_record_writes_an_empty_holder() {
        let record = LeaderElectionRecord { lease_duration_seconds: 1, ..Default::default() };
        let json = serde_json::to_value(leader_election_record_to_lease_spec(&record)).unwrap();
        assert_eq!(json["holderIdentity"], "");
        assert_eq!(json["leaseDurationSeconds"], 1);
        let empty = lease_spec_to_leader_election_record(&LeaseSpec::default());
        assert_eq!(empty, LeaderElectionRecord::default());
    }
}
