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
//! A tree nested deeper than the JSON decoder's limit (possible only through patches
//! that add deep values at deep paths) could not be decoded back: such a version keeps
//! its tree.

use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use serde_json::Value;

/// Nesting the store can decode back from bytes: serde_json's recursion limit is 128.
const MAX_DECODABLE_DEPTH: usize = 120;

/// One object version in the store (see the module docs).
#[derive(Debug)]
pub(crate) struct StoredObject {
    /// `metadata.resourceVersion`, kept apart so compare-and-swap needs no tree.
    pub(crate) rv: u64,
    json: Bytes,
    tree: Mutex<Tree>,
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
    /// and registers the bytes as `obj`'s own with [`super::encoded`].
    pub(crate) fn new(obj: &Arc<Value>, rv: u64) -> Self {
        // Exactly sized: the serializer's buffer grows by doubling, and the store keeps
        // these bytes for as long as the version lives.
        let json = Bytes::from(serde_json::to_vec(&**obj).unwrap_or_default().into_boxed_slice());
        super::encoded::remember(obj, json.clone());
        let tree = if depth_within(obj, MAX_DECODABLE_DEPTH) {
            Tree::Shared(Arc::downgrade(obj))
        } else {
            Tree::Kept(Arc::clone(obj))
        };
        StoredObject { rv, json, tree: Mutex::new(tree) }
    }

    /// The version's JSON, as every response serves it.
    pub(crate) fn json(&self) -> &Bytes {
        &self.json
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
        let decoded = Arc::new(serde_json::from_slice::<Value>(&self.json).unwrap_or(Value::Null));
        let mut tree = self.tree.lock().unwrap_or_else(|e| e.into_inner());
        if let Tree::Shared(weak) = &*tree {
            if let Some(raced) = weak.upgrade() {
                return raced;
            }
        }
        super::encoded::remember(&decoded, self.json.clone());
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
        let stored = StoredObject::new(&obj, 7);
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
    fn a_tree_too_deep_to_decode_back_is_kept() {
        let mut deep = json!("leaf");
        for _ in 0..200 {
            deep = json!([deep]);
        }
        let obj = Arc::new(json!({ "deep": deep }));
        let stored = StoredObject::new(&obj, 1);
        drop(obj);
        let back = stored.value();
        assert!(back["deep"].is_array(), "kept, not lost: {back}");
    }
}
