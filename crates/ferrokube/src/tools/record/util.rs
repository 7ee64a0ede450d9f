//! Small pieces both recorders share (client-go `tools/record/util` and
//! `tools/reference`): the event type, the clock, event names, object references.

use std::fmt;

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The type of an event. Kubernetes accepts only these two (client-go's
/// `ValidateEventType`), so an invalid type cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// `Normal`: something expected happened.
    Normal,
    /// `Warning`: something may need attention.
    Warning,
}

impl EventType {
    /// The wire value, `Normal` or `Warning` (client-go `v1.EventTypeNormal` /
    /// `v1.EventTypeWarning`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wall clock the recorders read (client-go `clock.PassiveClock`); tests pass a
/// clock they move by hand.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> jiff::Timestamp;
}

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealClock;

impl Clock for RealClock {
    fn now(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

/// A reference to `object` for an event's `involvedObject` / `regarding` (client-go
/// `reference.GetReference`): apiVersion and kind from its type, name, namespace, uid
/// and resourceVersion from its metadata.
pub fn get_reference<K>(object: &K) -> ObjectReference
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let meta = object.metadata();
    ObjectReference {
        api_version: Some(K::API_VERSION.to_owned()),
        kind: Some(K::KIND.to_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        field_path: None,
    }
}

/// The name of a new event about `ref_name` at `unix_nanos` (client-go
/// `GenerateEventName`): `<name>.<nanoseconds in hex>`, or a random UUID when that is
/// not a valid object name.
pub fn generate_event_name(ref_name: &str, unix_nanos: i128) -> String {
    let name = format!("{ref_name}.{unix_nanos:x}");
    if is_dns1123_subdomain(&name) {
        name
    } else {
        random_uuid()
    }
}

/// `name` is a DNS-1123 subdomain, the rule for most object names.
fn is_dns1123_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|label| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
                && bytes[0] != b'-'
                && bytes[bytes.len() - 1] != b'-'
        })
}

/// A random (version 4) UUID.
fn random_uuid() -> String {
    let hi = random_u64();
    let lo = random_u64();
    let hi = (hi & !0xf000) | 0x4000; // version 4
    let lo = (lo & !(0b11 << 62)) | (0b10 << 62); // RFC 4122 variant
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// A pseudo-random number from std's randomly keyed hasher.
pub(crate) fn random_u64() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish()
}

/// A pseudo-random number in `[0, 1)` (the client's one, in `util::wait`).
pub(crate) use crate::util::wait::random_unit;

/// Unix time of `t` in nanoseconds.
pub(crate) fn unix_nanos(t: jiff::Timestamp) -> i128 {
    t.as_nanosecond()
}

/// This machine's host name, for event sources and reporting instances (empty when
/// unknown).
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default()
}

/// The error means the object is gone (HTTP 404), for which a PATCH of an event
/// falls back to creating it (client-go `IsKeyNotFoundError`).
pub(crate) fn is_key_not_found_error(err: &crate::rest::Error) -> bool {
    matches!(err, crate::rest::Error::Api { .. } | crate::rest::Error::Http { .. }) && err.code() == Some(404)
}

/// What to do after a failed write of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteFailure {
    /// Try again later (the request did not reach the server or got no answer).
    Retry,
    /// Give up (the server rejected the event, or it could not be built).
    GiveUp,
}

/// client-go's rule: a request that could not be built or that the server answered
/// with an error is not retried; transport failures are.
pub(crate) fn classify_write_error(err: &crate::rest::Error) -> WriteFailure {
    use crate::rest::Error;
    match err {
        Error::InvalidRequest { .. } | Error::Config(_) | Error::Api { .. } | Error::Http { .. } => {
            WriteFailure::GiveUp
        }
        _ => WriteFailure::Retry,
    }
}

/// Logs a rejected event at the level client-go uses: quietly for "already exists" and
/// terminating namespaces, loudly otherwise.
pub(crate) fn log_rejected(err: &crate::rest::Error, what: &str) {
    let terminating = err
        .details()
        .and_then(|d| d.causes.as_ref())
        .is_some_and(|causes| causes.iter().any(|c| c.reason.as_deref() == Some("NamespaceTerminating")));
    if err.is_already_exists() || terminating {
        tracing::debug!(error = %err, event = what, "server rejected event (will not retry)");
    } else {
        tracing::error!(error = %err, event = what, "server rejected event (will not retry)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_are_the_reference_name_and_hex_nanoseconds() {
        assert_eq!(generate_event_name("web-0", 0x17f0a), "web-0.17f0a");
        let odd = generate_event_name("Not_Valid", 1);
        assert_eq!(odd.len(), 36, "{odd}");
        assert_eq!(odd.as_bytes()[14], b'4', "{odd}");
        assert!(is_dns1123_subdomain(&odd));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("-a"));
    }

    #[test]
    fn references_carry_type_and_metadata() {
        let pod = k8s_openapi::api::core::v1::Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("ns".into()),
                uid: Some("u".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let r = get_reference(&pod);
        assert_eq!(r.kind.as_deref(), Some("Pod"));
        assert_eq!(r.api_version.as_deref(), Some("v1"));
        assert_eq!((r.name.as_deref(), r.namespace.as_deref(), r.uid.as_deref()), (Some("p"), Some("ns"), Some("u")));
    }
}
