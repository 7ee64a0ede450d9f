//! How the store keeps one object version: its JSON bytes, and its decoded tree only
//! while someone holds it.
//!
//! A decoded `serde_json::Value` costs about nine times its JSON (a running pod of
//! 4.3 KB of JSON is a 38.5 KB tree; an Event of 0.7 KB is 4.4 KB: a B-tree node sized
//! for eleven entries per map of one or two keys, a heap string per key). The bytes are
//! needed anyway — every GET, LIST and watch event serves them — so they are what the
//! store, its history and the durable storage keep. The tree is shared, not kept: a
//! [`StoredObject`] holds a [`Weak`] to the last tree it handed out, so every reader
//! gets the same `Arc` while any reader (a controller's cache, a watcher's queue, a
//! request in flight) still holds it, and objects nobody holds (most Events, old
//! versions in the history) cost their bytes only. A tree decoded again is registered
//! with [`super::encoded`], so serving it reuses the kept bytes instead of serializing.
//!
//! The bytes themselves are kept compressed (LZ4) against a dictionary: a recent
//! object of the same resource ([`Packer`]). Objects of one resource are alike (the
//! pods of a ReplicaSet differ in names, uids, IPs and times), so a running pod's
//! 4.3 KB of JSON keeps about 230 bytes and an Event's 1.1 KB about 210 (measured on
//! 2,000 pods and 10,000 Events of a rollout); compressing one takes about 2 µs and
//! giving the bytes back about 0.3 µs, on a write and on a read that misses the shared
//! tree. A version that does not get smaller is kept as it is.
//!
//! A tree nested deeper than the JSON decoder's limit (possible only through patches
//! that add deep values at deep paths) could not be decoded back: such a version keeps
//! its tree.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use serde_json::Value;

/// Nesting the store can decode back from bytes: serde_json's recursion limit is 128.
const MAX_DECODABLE_DEPTH: usize = 120;

/// Writes of a resource after which its dictionary is taken afresh from the object
/// being written, so the dictionary follows what the resource holds now.
const DICTIONARY_WRITES: u32 = 1024;

/// The most of an object a dictionary keeps: LZ4's window.
const DICTIONARY_MAX: usize = 64 * 1024;

/// One object version in the store (see the module docs).
#[derive(Debug)]
pub(crate) struct StoredObject {
    /// `metadata.resourceVersion`, kept apart so compare-and-swap needs no tree.
    pub(crate) rv: u64,
    json: Packed,
    tree: Mutex<Tree>,
}

/// An object version's JSON as kept.
#[derive(Debug)]
enum Packed {
    /// As it is (it did not get smaller).
    Plain(Bytes),
    /// LZ4 against `dictionary`, `len` bytes once given back.
    Compressed { data: Box<[u8]>, len: usize, dictionary: Arc<[u8]> },
}

/// The dictionary one resource's versions are compressed against (one per resource in
/// the store): the JSON of one of its objects, taken afresh every
/// `DICTIONARY_WRITES` writes. A version holds the dictionary it was compressed with,
/// so an old dictionary lives as long as the versions that need it.
#[derive(Debug, Default)]
pub(crate) struct Packer {
    dictionary: Option<Arc<[u8]>>,
    writes: u32,
}

impl Packer {
    fn pack(&mut self, json: Bytes) -> Packed {
        let dictionary = match &self.dictionary {
            Some(d) if self.writes < DICTIONARY_WRITES => Arc::clone(d),
            _ => {
                // LZ4 reaches back 64 KiB at most: a larger object lends its end only.
                let d: Arc<[u8]> = Arc::from(&json[json.len().saturating_sub(DICTIONARY_MAX)..]);
                self.dictionary = Some(Arc::clone(&d));
                self.writes = 0;
                d
            }
        };
        self.writes += 1;
        let data = lz4_flex::block::compress_with_dict(&json, &dictionary);
        if data.len() < json.len() {
            Packed::Compressed { data: data.into_boxed_slice(), len: json.len(), dictionary }
        } else {
            Packed::Plain(json)
        }
    }
}

impl Packed {
    fn bytes(&self) -> Bytes {
        match self {
            Packed::Plain(b) => b.clone(),
            Packed::Compressed { data, len, dictionary } => {
                match lz4_flex::block::decompress_with_dict(data, *len, dictionary) {
                    Ok(json) => Bytes::from(json),
                    // Only bytes this store compressed are given back: unreachable
                    // unless memory is corrupt, and then said, not hidden.
                    Err(e) => {
                        tracing::error!(error = %e, "a stored object version could not be decompressed");
                        Bytes::new()
                    }
                }
            }
        }
    }
}

#[derive(Debug)]
enum Tree {
    /// The last tree handed out, alive while someone holds it.
    Shared(Weak<Value>),
    /// A tree the bytes could not give back (see the module docs).
    Kept(Arc<Value>),
}

impl StoredObject {
    /// Keeps `obj` (already stamped with its resourceVersion `rv`): serializes it once,
    /// registers the bytes as `obj`'s own with [`super::encoded`] and keeps them
    /// compressed by `packer` (its resource's).
    pub(crate) fn new(obj: &Arc<Value>, rv: u64, packer: &mut Packer) -> Self {
        // Exactly sized: the serializer's buffer grows by doubling, and the store keeps
        // these bytes for as long as the version lives.
        let json = Bytes::from(serde_json::to_vec(&**obj).unwrap_or_default().into_boxed_slice());
        super::encoded::remember(obj, json.clone());
        let tree = if depth_within(obj, MAX_DECODABLE_DEPTH) {
            Tree::Shared(Arc::downgrade(obj))
        } else {
            Tree::Kept(Arc::clone(obj))
        };
        StoredObject { rv, json: packer.pack(json), tree: Mutex::new(tree) }
    }

    /// The version's JSON, as every response serves it.
    pub(crate) fn json(&self) -> Bytes {
        self.json.bytes()
    }

    /// The version's tree: the one handed out before while anyone still holds it,
    /// else decoded from the bytes (and then shared until dropped).
    pub(crate) fn value(&self) -> Arc<Value> {
        {
            let tree = self.tree.lock().unwrap_or_else(|e| e.into_inner());
            match &*tree {
                Tree::Kept(v) => return Arc::clone(v),
                Tree::Shared(weak) => {
                    if let Some(v) = weak.upgrade() {
                        return v;
                    }
                }
            }
        }
        // Decoded outside the lock; bytes this store wrote always decode (depth is
        // checked when they are kept), so the fallback is unreachable in practice.
        let json = self.json();
        let decoded = Arc::new(serde_json::from_slice::<Value>(&json).unwrap_or(Value::Null));
        let mut tree = self.tree.lock().unwrap_or_else(|e| e.into_inner());
        if let Tree::Shared(weak) = &*tree {
            if let Some(raced) = weak.upgrade() {
                return raced;
            }
        }
        super::encoded::remember(&decoded, json);
        *tree = Tree::Shared(Arc::downgrade(&decoded));
        decoded
    }
}

/// Whether `v` nests at most `limit` levels of arrays and objects.
fn depth_within(v: &Value, limit: usize) -> bool {
    match v {
        Value::Array(items) => limit > 0 && items.iter().all(|i| depth_within(i, limit - 1)),
        Value::Object(map) => limit > 0 && map.values().all(|i| depth_within(i, limit - 1)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shares_the_tree_while_held_and_decodes_it_again_after() {
        let obj = Arc::new(json!({"metadata": {"name": "a", "resourceVersion": "7"}, "data": {"k": "v"}}));
        let stored = StoredObject::new(&obj, 7, &mut Packer::default());
        assert_eq!(stored.rv, 7);
        assert!(Arc::ptr_eq(&stored.value(), &obj), "the writer's tree, while held");
        let addr = Arc::as_ptr(&obj);
        drop(obj);
        let again = stored.value();
        assert_ne!(Arc::as_ptr(&again), addr, "decoded afresh once nobody held it");
        assert_eq!(again["data"]["k"], "v");
        assert!(Arc::ptr_eq(&stored.value(), &again), "and shared from then on");
        assert_eq!(&super::super::encoded::json(&again)[..], &stored.json()[..], "served from the kept bytes");
    }

    #[test]
    fn versions_keep_compressed_and_give_their_bytes_back() {
        let mut packer = Packer::default();
        let pod = |i: usize| {
            Arc::new(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": format!("web-{i}"), "namespace": "default", "uid": format!("uid-{i:08}"),
                             "labels": {"app": "web", "pod-template-hash": "6b74c56b96"}},
                "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "imagePullPolicy": "IfNotPresent",
                         "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}],
                         "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler"},
                "status": {"phase": "Running", "podIP": format!("10.244.0.{}", i % 250)}}))
        };
        let versions: Vec<(Arc<Value>, StoredObject)> = (0..DICTIONARY_WRITES as usize + 10)
            .map(|i| {
                let obj = pod(i);
                let stored = StoredObject::new(&obj, i as u64, &mut packer);
                (obj, stored)
            })
            .collect();
        let plain = serde_json::to_vec(&*versions[5].0).unwrap_or_default().len();
        match &versions[5].1.json {
            Packed::Compressed { data, .. } => assert!(data.len() * 4 < plain, "{} of {plain} bytes", data.len()),
            Packed::Plain(_) => panic!("a pod like the dictionary compresses"),
        }
        for (obj, stored) in &versions {
            assert_eq!(stored.json(), serde_json::to_vec(&**obj).unwrap_or_default(), "{}", obj["metadata"]["name"]);
        }
        let dictionary = |s: &StoredObject| match &s.json {
            Packed::Compressed { dictionary, .. } => Some(Arc::as_ptr(dictionary)),
            Packed::Plain(_) => None,
        };
        assert_eq!(dictionary(&versions[1].1), dictionary(&versions[2].1));
        assert_ne!(dictionary(&versions[1].1), dictionary(&versions[DICTIONARY_WRITES as usize + 5].1), "taken afresh");
        // A dictionary from an object larger than LZ4's window keeps its end only, and
        // what is compressed against it comes back whole.
        let mut packer = Packer::default();
        let big = Arc::new(json!({"data": {"a": "x".repeat(100_000), "b": "y".repeat(30_000)}}));
        let first = StoredObject::new(&big, 1, &mut packer);
        let next = Arc::new(json!({"data": {"a": "x".repeat(99_000), "b": "y".repeat(30_001)}}));
        let second = StoredObject::new(&next, 2, &mut packer);
        assert_eq!(packer.dictionary.as_ref().map(|d| d.len()), Some(DICTIONARY_MAX));
        assert_eq!(first.json(), serde_json::to_vec(&*big).unwrap_or_default());
        assert_eq!(second.json(), serde_json::to_vec(&*next).unwrap_or_default());
        // Nothing alike: kept as it is, and given back all the same.
        let odd = Arc::new(json!({"x": "unlike the dictionary in every byte"}));
        let stored = StoredObject::new(&odd, 1, &mut packer);
        assert!(matches!(stored.json, Packed::Plain(_)));
        assert_eq!(stored.json(), serde_json::to_vec(&*odd).unwrap_or_default());
    }

    #[test]
    fn a_tree_too_deep_to_decode_back_is_kept() {
        let mut deep = json!("leaf");
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let obj = Arc::new(json!({ "deep": deep }));
        let stored = StoredObject::new(&obj, 1, &mut Packer::default());
        drop(obj);
        let back = stored.value();
        assert!(back["deep"].is_array(), "kept, not lost: {back}");
    }
}
