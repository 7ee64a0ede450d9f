//! `tools::cache::store`: the thread-safe object cache (client-go `ThreadSafeStore`,
//! `Store` and `Indexer`).
//!
//! A [`Store`] maps `namespace/name` keys ([`meta_namespace_key`]) to `Arc<K>`. Writers
//! (normally a [`Reflector`](super::Reflector)) pass owned objects, which go through the
//! optional [transform](super::transform) and are wrapped in an `Arc` once; readers get
//! `Arc<K>` clones, so a read never copies an object and an object is never mutated
//! after it is stored (an update stores a new `Arc`, readers holding the old one keep a
//! consistent snapshot). [`Store::replace`] builds the new content (map and indices)
//! outside the lock and swaps it in, so readers see either the old or the new list,
//! never a mix.
//!
//! Every store has the [`NAMESPACE_INDEX`] index; more are added with
//! [`Store::add_indexer`] and queried with [`Store::by_index`]. client-go separates the
//! `Store` and `Indexer` interfaces; here one type does both and [`Indexer`] is an alias.
//!
//! Memory: per object the store holds the `Arc<K>`, one key string shared by the map
//! and every index entry, and a hash-table slot per map and index entry (about 100
//! bytes beyond the object itself).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::index::{namespace_index_func, IndexFunc, Indices, NAMESPACE_INDEX};
use super::object::CacheObject;
use super::transform::TransformFn;

/// Errors of store and index operations.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The object has no `metadata.name`, so it has no key.
    #[error("object has no metadata.name; cannot compute its key")]
    MissingName,
    /// No index of this name exists.
    #[error("index {0:?} does not exist")]
    UnknownIndex(String),
    /// An index of this name already exists.
    #[error("index {0:?} already exists")]
    IndexExists(String),
}

/// The cache key of an object: `namespace/name`, or `name` for cluster-scoped objects
/// (client-go `MetaNamespaceKeyFunc`).
pub fn meta_namespace_key<K: CacheObject + ?Sized>(obj: &K) -> Result<String, CacheError> {
    let name = obj.name().filter(|n| !n.is_empty()).ok_or(CacheError::MissingName)?;
    Ok(match obj.namespace() {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_owned(),
    })
}

/// The key of `name` in `namespace` (`""` for cluster-scoped objects).
pub(crate) fn key_of(namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}/{name}")
    }
}

/// The main map: key -> object.
pub(crate) type Items<K> = HashMap<Arc<str>, Arc<K>>;

struct Data<K> {
    items: Items<K>,
    indices: Indices<K>,
}

struct Shared<K> {
    data: RwLock<Data<K>>,
    transform: RwLock<Option<TransformFn<K>>>,
}

/// A thread-safe, indexed map of `namespace/name` to `Arc<K>` (client-go
/// `cache.Indexer`). Cloning a store is cheap and shares its content.
pub struct Store<K> {
    shared: Arc<Shared<K>>,
}

/// client-go's `Indexer`: the same type as [`Store`], which always supports indices.
pub type Indexer<K> = Store<K>;

impl<K> Clone for Store<K> {
    fn clone(&self) -> Self {
        Store { shared: Arc::clone(&self.shared) }
    }
}

impl<K> Store<K> {
    fn read(&self) -> RwLockReadGuard<'_, Data<K>> {
        self.shared.data.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Data<K>> {
        self.shared.data.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K> std::fmt::Debug for Store<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.read();
        f.debug_struct("Store").field("len", &d.items.len()).field("indices", &d.indices.names()).finish()
    }
}

impl<K: CacheObject + Send + Sync + 'static> Default for Store<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// Result of a replace: the previous content and (if asked for) the stored objects.
pub(crate) struct Replaced<K> {
    pub(crate) old: Items<K>,
    pub(crate) new: Vec<(Arc<str>, Arc<K>)>,
}

/// Result of an upsert: the stored object and the one it replaced.
pub(crate) struct Upserted<K> {
    pub(crate) new: Arc<K>,
    pub(crate) old: Option<Arc<K>>,
}

impl<K: CacheObject + Send + Sync + 'static> Store<K> {
    /// An empty store with the [`NAMESPACE_INDEX`] index and no transform.
    pub fn new() -> Self {
        let mut indices = Indices::new();
        let ns: IndexFunc<K> = Arc::new(namespace_index_func::<K>);
        // A fresh Indices has no index of this name: this cannot fail.
        let _ = indices.add(NAMESPACE_INDEX, ns, std::iter::empty());
        Store {
            shared: Arc::new(Shared {
                data: RwLock::new(Data { items: HashMap::new(), indices }),
                transform: RwLock::new(None),
            }),
        }
    }

    /// Sets the transform applied to every object before it is stored (client-go
    /// `SetTransform`); replaces any previous one. Objects already stored are not
    /// transformed again, so set it before the store is filled.
    pub fn set_transform(&self, transform: impl Fn(K) -> K + Send + Sync + 'static) {
        *self.shared.transform.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(transform));
    }

    /// Builder form of [`set_transform`](Self::set_transform).
    pub fn with_transform(self, transform: impl Fn(K) -> K + Send + Sync + 'static) -> Self {
        self.set_transform(transform);
        self
    }

    fn transform(&self) -> Option<TransformFn<K>> {
        self.shared.transform.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Applies the transform (if any) to `obj`.
    pub(crate) fn transform_obj(&self, obj: K) -> K {
        match self.transform() {
            Some(t) => t(obj),
            None => obj,
        }
    }

    /// Adds an index and indexes the objects already stored (client-go `AddIndexers`).
    pub fn add_indexer(
        &self,
        name: impl Into<String>,
        func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<(), CacheError> {
        let name = name.into();
        let mut guard = self.write();
        let d = &mut *guard;
        d.indices.add(&name, Arc::new(func), d.items.iter())
    }

    /// Builder form of [`add_indexer`](Self::add_indexer).
    pub fn with_indexer(
        self,
        name: impl Into<String>,
        func: impl Fn(&K) -> Vec<String> + Send + Sync + 'static,
    ) -> Result<Self, CacheError> {
        self.add_indexer(name, func)?;
        Ok(self)
    }

    /// Transforms and stores `obj`, returning what was stored and what it replaced.
    pub(crate) fn upsert(&self, obj: K) -> Result<Upserted<K>, CacheError> {
        let obj = self.transform_obj(obj);
        let key = meta_namespace_key(&obj)?;
        let new = Arc::new(obj);
        let mut d = self.write();
        // Reuse the stored key of a known object: updates allocate no new key.
        let key: Arc<str> = match d.items.get_key_value(key.as_str()) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(key),
        };
        let old = d.items.insert(Arc::clone(&key), Arc::clone(&new));
        d.indices.update(&key, old.as_deref(), Some(&new));
        Ok(Upserted { new, old })
    }

    /// Adds or replaces `obj` (after the transform) and returns the object it replaced.
    pub fn add(&self, obj: K) -> Result<Option<Arc<K>>, CacheError> {
        self.upsert(obj).map(|u| u.old)
    }

    /// Same as [`add`](Self::add): stores `obj` whether or not it was there.
    pub fn update(&self, obj: K) -> Result<Option<Arc<K>>, CacheError> {
        self.add(obj)
    }

    /// Removes the object with `obj`'s key and returns it (`None` if absent).
    pub fn delete(&self, obj: &K) -> Result<Option<Arc<K>>, CacheError> {
        let key = meta_namespace_key(obj)?;
        Ok(self.delete_by_key(&key))
    }

    /// Removes the object stored under `key` and returns it.
    pub fn delete_by_key(&self, key: &str) -> Option<Arc<K>> {
        let mut d = self.write();
        let (k, old) = d.items.remove_entry(key)?;
        d.indices.update(&k, Some(&old), None);
        Some(old)
    }

    /// Replaces the whole content with `objects` (after the transform), atomically for
    /// readers (client-go `Replace`). Objects without a name are skipped.
    pub fn replace(&self, objects: impl IntoIterator<Item = K>) {
        let _ = self.replace_returning_old(objects, false, false);
    }

    /// [`replace`](Self::replace) that returns the previous content and, if `want_new`,
    /// the stored objects (for handler notification). `transformed`: the objects already
    /// went through the transform.
    pub(crate) fn replace_returning_old(
        &self,
        objects: impl IntoIterator<Item = K>,
        want_new: bool,
        transformed: bool,
    ) -> Replaced<K> {
        let transform = if transformed { None } else { self.transform() };
        let mut indices = self.read().indices.empty_like();
        let iter = objects.into_iter();
        let mut items: Items<K> = HashMap::with_capacity(iter.size_hint().0);
        let mut stored = Vec::new();
        for obj in iter {
            let obj = match &transform {
                Some(t) => t(obj),
                None => obj,
            };
            let Ok(key) = meta_namespace_key(&obj) else {
                tracing::warn!(kind = std::any::type_name::<K>(), "skipping an object without metadata.name");
                continue;
            };
            let key: Arc<str> = Arc::from(key);
            let obj = Arc::new(obj);
            let prev = items.insert(Arc::clone(&key), Arc::clone(&obj));
            indices.update(&key, prev.as_deref(), Some(&obj));
            if want_new {
                stored.push((key, obj));
            }
        }
        let old = {
            let mut d = self.write();
            d.indices = indices;
            std::mem::replace(&mut d.items, items)
        };
        Replaced { old, new: stored }
    }

    /// The object with `obj`'s key.
    pub fn get(&self, obj: &K) -> Result<Option<Arc<K>>, CacheError> {
        Ok(self.get_by_key(&meta_namespace_key(obj)?))
    }

    /// The object stored under `key` (`namespace/name` or `name`).
    pub fn get_by_key(&self, key: &str) -> Option<Arc<K>> {
        self.read().items.get(key).cloned()
    }

    /// All stored objects, in no particular order.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.read().items.values().cloned().collect()
    }

    /// All keys, in no particular order.
    pub fn list_keys(&self) -> Vec<String> {
        self.read().items.keys().map(|k| k.to_string()).collect()
    }

    /// Calls `f` on every stored object under the read lock, without collecting them.
    /// `f` must not write to this store.
    pub fn for_each(&self, mut f: impl FnMut(&Arc<K>)) {
        for obj in self.read().items.values() {
            f(obj);
        }
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.read().items.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.read().items.is_empty()
    }

    /// The objects filed under `value` in index `index_name` (client-go `ByIndex`).
    pub fn by_index(&self, index_name: &str, value: &str) -> Result<Vec<Arc<K>>, CacheError> {
        let d = self.read();
        let Some(keys) = d.indices.keys(index_name, value)? else { return Ok(Vec::new()) };
        Ok(keys.iter().filter_map(|k| d.items.get(k).cloned()).collect())
    }

    /// The keys filed under `value` in index `index_name` (client-go `IndexKeys`).
    pub fn index_keys(&self, index_name: &str, value: &str) -> Result<Vec<String>, CacheError> {
        let d = self.read();
        Ok(d.indices.keys(index_name, value)?.map(|s| s.iter().map(|k| k.to_string()).collect()).unwrap_or_default())
    }

    /// The values index `index_name` holds (client-go `ListIndexFuncValues`).
    pub fn list_index_values(&self, index_name: &str) -> Result<Vec<String>, CacheError> {
        self.read().indices.values(index_name)
    }

    /// The objects of another object's index values (client-go `Index`): everything
    /// sharing at least one value of `index_name` with `obj`.
    pub fn index(&self, index_name: &str, obj: &K) -> Result<Vec<Arc<K>>, CacheError> {
        let d = self.read();
        let func = d.indices.func(index_name)?;
        let mut keys: Vec<&Arc<str>> = Vec::new();
        for value in func(obj) {
            if let Some(set) = d.indices.keys(index_name, &value)? {
                keys.extend(set.iter());
            }
        }
        keys.sort_unstable();
        keys.dedup();
        Ok(keys.into_iter().filter_map(|k| d.items.get(k).cloned()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, PodSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    fn pod(ns: &str, name: &str, node: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some("kubectl".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: Some(node.into()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn by_node(p: &Pod) -> Vec<String> {
        p.spec.as_ref().and_then(|s| s.node_name.clone()).into_iter().collect()
    }

    fn names(mut v: Vec<Arc<Pod>>) -> Vec<String> {
        v.sort_by_key(|p| meta_namespace_key(&**p).unwrap());
        v.iter().map(|p| meta_namespace_key(&**p).unwrap()).collect()
    }

    #[test]
    fn keys_follow_meta_namespace_key_func() {
        assert_eq!(meta_namespace_key(&pod("ns", "a", "n")).unwrap(), "ns/a");
        let node_like = Namespace {
            metadata: ObjectMeta { name: Some("kube-system".into()), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(meta_namespace_key(&node_like).unwrap(), "kube-system");
        assert_eq!(meta_namespace_key(&ConfigMap::default()), Err(CacheError::MissingName));
        let s = Store::<ConfigMap>::new();
        assert_eq!(s.add(ConfigMap::default()), Err(CacheError::MissingName));
        assert!(s.is_empty());
    }

    #[test]
    fn add_get_update_delete() {
        let s = Store::<Pod>::new();
        assert!(s.add(pod("a", "p1", "n1")).unwrap().is_none());
        assert!(s.add(pod("b", "p2", "n1")).unwrap().is_none());
        let held = s.get_by_key("a/p1").unwrap();
        let old = s.update(pod("a", "p1", "n2")).unwrap().unwrap();
        assert!(Arc::ptr_eq(&old, &held), "update hands back the replaced Arc");
        assert_eq!(by_node(&held), ["n1"], "readers keep their snapshot");
        assert_eq!(by_node(&s.get_by_key("a/p1").unwrap()), ["n2"]);
        assert_eq!(s.len(), 2);
        let mut keys = s.list_keys();
        keys.sort();
        assert_eq!(keys, ["a/p1", "b/p2"]);
        assert!(s.delete(&pod("a", "p1", "")).unwrap().is_some());
        assert!(s.get_by_key("a/p1").is_none());
        assert!(s.delete_by_key("a/p1").is_none());
        assert_eq!(names(s.list()), ["b/p2"]);
    }

    #[test]
    fn reads_share_the_stored_arc() {
        let s = Store::<Pod>::new();
        s.add(pod("a", "p", "n")).unwrap();
        let x = s.get_by_key("a/p").unwrap();
        let y = s.list().pop().unwrap();
        assert!(Arc::ptr_eq(&x, &y));
    }

    #[test]
    fn indices_follow_updates_and_deletes() {
        let s = Store::<Pod>::new().with_indexer("node", by_node).unwrap();
        s.add(pod("a", "p1", "n1")).unwrap();
        s.add(pod("a", "p2", "n1")).unwrap();
        s.add(pod("b", "p3", "n2")).unwrap();
        assert_eq!(names(s.by_index("node", "n1").unwrap()), ["a/p1", "a/p2"]);
        assert_eq!(names(s.by_index(NAMESPACE_INDEX, "a").unwrap()), ["a/p1", "a/p2"]);

        s.update(pod("a", "p2", "n2")).unwrap();
        assert_eq!(names(s.by_index("node", "n1").unwrap()), ["a/p1"]);
        assert_eq!(names(s.by_index("node", "n2").unwrap()), ["a/p2", "b/p3"]);
        assert_eq!(names(s.index("node", &pod("x", "y", "n2")).unwrap()), ["a/p2", "b/p3"]);

        s.delete(&pod("a", "p1", "n1")).unwrap();
        assert!(s.by_index("node", "n1").unwrap().is_empty());
        let mut values = s.list_index_values("node").unwrap();
        values.sort();
        assert_eq!(values, ["n2"], "emptied values are dropped");
        assert_eq!(s.index_keys(NAMESPACE_INDEX, "a").unwrap(), ["a/p2"]);

        assert_eq!(s.by_index("nope", "x"), Err(CacheError::UnknownIndex("nope".into())));
        assert_eq!(s.add_indexer("node", by_node), Err(CacheError::IndexExists("node".into())));
    }

    #[test]
    fn indexer_added_later_covers_existing_objects() {
        let s = Store::<Pod>::new();
        s.add(pod("a", "p1", "n1")).unwrap();
        s.add_indexer("node", by_node).unwrap();
        assert_eq!(names(s.by_index("node", "n1").unwrap()), ["a/p1"]);
    }

    #[test]
    fn replace_swaps_content_and_rebuilds_indices() {
        let s = Store::<Pod>::new().with_indexer("node", by_node).unwrap();
        s.add(pod("a", "old", "n1")).unwrap();
        s.add(pod("a", "kept", "n1")).unwrap();
        let objs = vec![pod("a", "kept", "n2"), pod("b", "fresh", "n3"), Pod::default()];
        let Replaced { old, new } = s.replace_returning_old(objs, true, false);
        let mut old_keys: Vec<_> = old.keys().map(|k| k.to_string()).collect();
        old_keys.sort();
        assert_eq!(old_keys, ["a/kept", "a/old"]);
        assert_eq!(new.len(), 2, "the nameless object is skipped");
        assert_eq!(names(s.list()), ["a/kept", "b/fresh"]);
        assert!(s.by_index("node", "n1").unwrap().is_empty());
        assert_eq!(names(s.by_index("node", "n2").unwrap()), ["a/kept"]);
        assert_eq!(names(s.by_index(NAMESPACE_INDEX, "b").unwrap()), ["b/fresh"]);
        s.replace(Vec::new());
        assert!(s.is_empty());
        assert!(s.list_index_values(NAMESPACE_INDEX).unwrap().is_empty());
    }

    #[test]
    fn transform_applies_on_every_path() {
        let s = Store::<Pod>::new().with_transform(crate::tools::cache::strip_managed_fields);
        s.add(pod("a", "p1", "n")).unwrap();
        s.update(pod("a", "p1", "n")).unwrap();
        s.replace(vec![pod("a", "p2", "n"), pod("a", "p3", "n")]);
        s.add(pod("a", "p4", "n")).unwrap();
        assert_eq!(s.len(), 3);
        s.for_each(|p| assert!(p.metadata.managed_fields.is_none()));

        let renamed = Store::<Pod>::new().with_transform(|mut p: Pod| {
            p.metadata.labels = Some([("seen".to_owned(), "yes".to_owned())].into());
            p
        });
        renamed.add(pod("a", "p", "n")).unwrap();
        assert_eq!(renamed.get_by_key("a/p").unwrap().metadata.labels.as_ref().unwrap()["seen"], "yes");
    }

    #[test]
    fn concurrent_readers_and_writer() {
        let s = Store::<Pod>::new();
        std::thread::scope(|scope| {
            let w = s.clone();
            scope.spawn(move || {
                for i in 0..500 {
                    w.add(pod("a", &format!("p{i}"), "n")).unwrap();
                    if i % 100 == 99 {
                        w.replace((0..=i).map(|j| pod("a", &format!("p{j}"), "n")));
                    }
                }
            });
            for _ in 0..2 {
                let r = s.clone();
                scope.spawn(move || {
                    for _ in 0..500 {
                        let n = r.list().len();
                        assert_eq!(r.by_index(NAMESPACE_INDEX, "a").unwrap().len() <= 500, n <= 500);
                    }
                });
            }
        });
        assert_eq!(s.len(), 500);
        assert_eq!(s.by_index(NAMESPACE_INDEX, "a").unwrap().len(), 500);
    }
}
