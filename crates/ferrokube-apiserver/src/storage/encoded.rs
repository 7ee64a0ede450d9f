//! The serialized JSON of stored objects, computed once per object version and shared
//! by every GET, LIST and watch event that serves it; likewise their protobuf message
//! ([`protobuf`]), computed on the first protobuf response that serves the version.
//!
//! The [`super::Store`] keeps each object version as its JSON bytes and registers them
//! here for the tree it wrote or decoded again (`remember`), so reads find the bytes
//! ready; other shared objects are serialized on first use.
//!
//! Stored objects are immutable `Arc<Value>`s (a write replaces the `Arc`), so the
//! JSON of one allocation never changes. [`json`] keeps the bytes of every shared
//! object it serialized, keyed by the allocation's address and holding a [`Weak`] to
//! it: while the entry lives the allocation cannot be freed and reused (a `Weak` keeps
//! it allocated) nor changed in place (`Arc::get_mut` refuses while a `Weak` exists), so
//! an address match always means the same, unchanged object. Entries of dropped
//! objects are purged when a shard has doubled since its last purge.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use bytes::Bytes;
use serde_json::Value;

const SHARDS: usize = 16;
const MIN_PURGE: usize = 256;

struct Entry {
    object: Weak<Value>,
    json: Bytes,
    /// The protobuf message (no envelope), once a protobuf response asked for it; `Some(None)`:
    /// the object has no protobuf form.
    protobuf: Option<Option<Bytes>>,
}

struct Shard {
    entries: HashMap<usize, Entry>,
    purge_at: usize,
}

static CACHE: LazyLock<Vec<Mutex<Shard>>> =
    LazyLock::new(|| (0..SHARDS).map(|_| Mutex::new(Shard { entries: HashMap::new(), purge_at: MIN_PURGE })).collect());

fn shard_of(addr: usize) -> &'static Mutex<Shard> {
    // Allocations are at least 16-byte aligned; mix the higher bits.
    let h = (addr >> 4) ^ (addr >> 12) ^ (addr >> 20);
    &CACHE[h % SHARDS]
}

/// Whether `obj` is a view built for one request (nobody else holds it, and it was not
/// registered): serialized without being cached.
fn unshared(obj: &Arc<Value>) -> bool {
    Arc::strong_count(obj) < 2 && Arc::weak_count(obj) == 0
}

/// `serde_json::to_vec(obj)`, without serializing again an object whose JSON was
/// already produced. Objects nobody else holds (`strong_count == 1`: a view built for
/// one request) are serialized without being cached.
pub fn json(obj: &Arc<Value>) -> Bytes {
    if unshared(obj) {
        return Bytes::from(serde_json::to_vec(&**obj).unwrap_or_default());
    }
    let addr = Arc::as_ptr(obj) as usize;
    let shard = shard_of(addr);
    {
        let guard = shard.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = guard.entries.get(&addr) {
            return e.json.clone();
        }
    }
    let json = Bytes::from(serde_json::to_vec(&**obj).unwrap_or_default());
    remember(obj, json.clone());
    json
}

/// Registers `json` as the serialized form of `obj` (the store's kept bytes of a
/// version it decoded again, or just wrote), so [`json`] answers with them.
pub(crate) fn remember(obj: &Arc<Value>, json: Bytes) {
    let addr = Arc::as_ptr(obj) as usize;
    let mut guard = shard_of(addr).lock().unwrap_or_else(|e| e.into_inner());
    if guard.entries.len() >= guard.purge_at {
        guard.entries.retain(|_, e| e.object.strong_count() > 0);
        guard.purge_at = (guard.entries.len() * 2).max(MIN_PURGE);
    }
    guard.entries.entry(addr).or_insert_with(|| Entry { object: Arc::downgrade(obj), json, protobuf: None });
}

/// The object's protobuf message (without the `k8s\0` envelope) for its own `apiVersion`
/// and `kind`, encoded once per cached object version like [`json`]; `None` when the
/// object has no protobuf form (a custom resource, or a kind with no message).
pub fn protobuf(obj: &Arc<Value>) -> Option<Bytes> {
    let encode = || {
        let field = |k: &str| obj.get(k).and_then(Value::as_str);
        let key = ferrokube_apimachinery::protobuf::message_key(field("apiVersion")?, field("kind")?)?;
        ferrokube_apimachinery::protobuf::encode_message(key, obj).ok().map(Bytes::from)
    };
    if unshared(obj) {
        return encode();
    }
    let addr = Arc::as_ptr(obj) as usize;
    let shard = shard_of(addr);
    {
        let guard = shard.lock().unwrap_or_else(|e| e.into_inner());
        match guard.entries.get(&addr) {
            Some(Entry { protobuf: Some(cached), .. }) => return cached.clone(),
            Some(_) => {}
            // Not a cached object version (its JSON was never asked for): not kept.
            None => return encode(),
        }
    }
    let encoded = encode();
    let mut guard = shard.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = guard.entries.get_mut(&addr) {
        entry.protobuf = Some(encoded.clone());
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cached_per_allocation() {
        let a = Arc::new(json!({"a": 1}));
        let a2 = Arc::clone(&a);
        assert_eq!(&json(&a)[..], br#"{"a":1}"#);
        assert_eq!(&json(&a2)[..], br#"{"a":1}"#);
        drop(a2);
        // Unshared objects are serialized afresh.
        let mut b = Arc::new(json!({"b": 2}));
        assert_eq!(&json(&b)[..], br#"{"b":2}"#);
        Arc::make_mut(&mut b)["b"] = json!(3);
        assert_eq!(&json(&b)[..], br#"{"b":3}"#);
        // Many short-lived shared objects: entries are purged, answers stay right.
        for i in 0..5000 {
            let o = Arc::new(json!({"i": i}));
            let o2 = Arc::clone(&o);
            assert_eq!(json(&o2), format!("{{\"i\":{i}}}").into_bytes());
        }
        assert_eq!(&json(&a)[..], br#"{"a":1}"#);
    }

    #[test]
    fn protobuf_cached_with_the_json() {
        let cm =
            Arc::new(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}));
        let held = Arc::clone(&cm);
        json(&cm);
        let first = protobuf(&cm).unwrap();
        assert_eq!(protobuf(&held).unwrap().as_ptr(), first.as_ptr(), "second answer is the cached bytes");
        let back = ferrokube_apimachinery::protobuf::decode_message("api/core/v1/ConfigMap", &first, 0).unwrap();
        assert_eq!(back["data"]["k"], "v");
        // No protobuf form: None, also cached.
        let cr = Arc::new(json!({"apiVersion": "example.com/v1", "kind": "Widget"}));
        let held_cr = Arc::clone(&cr);
        json(&cr);
        assert!(protobuf(&cr).is_none());
        assert!(protobuf(&held_cr).is_none());
    }
}
