//! `tools::cache::index`: secondary indices of a [`Store`](super::Store) (client-go
//! `Indexers` / `Indices`).
//!
//! An index is named and defined by an [`IndexFunc`] that maps an object to the index
//! values it is filed under (a namespace, a node name, an owner UID...). The store
//! keeps, per index, `value -> set of object keys`, updated on every add, update and
//! delete (only the values that changed are touched), so
//! [`Store::by_index`](super::Store::by_index) is a hash lookup. Keys are shared
//! `Arc<str>`s with the store's main map: an index entry costs a pointer, not a string.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::object::CacheObject;
use super::store::CacheError;

/// Maps an object to the values it is indexed under (client-go `IndexFunc`).
pub type IndexFunc<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// Name of the built-in index by namespace (client-go `NamespaceIndex`).
pub const NAMESPACE_INDEX: &str = "namespace";

/// Indexes an object by its namespace (client-go `MetaNamespaceIndexFunc`).
/// Cluster-scoped objects (no namespace) are not indexed, which keeps the index free for
/// resources like nodes.
pub fn namespace_index_func<K: CacheObject + ?Sized>(obj: &K) -> Vec<String> {
    match obj.namespace() {
        Some(ns) if !ns.is_empty() => vec![ns.to_owned()],
        _ => Vec::new(),
    }
}

/// `value -> keys` of one index.
type Index = HashMap<String, HashSet<Arc<str>>>;

/// The index functions of a store and their current content.
pub(crate) struct Indices<K> {
    funcs: Vec<(String, IndexFunc<K>)>,
    indices: HashMap<String, Index>,
}

impl<K> Indices<K> {
    /// No indices.
    pub(crate) fn new() -> Self {
        Indices { funcs: Vec::new(), indices: HashMap::new() }
    }

    /// The same index functions, with empty indices (to rebuild on replace).
    pub(crate) fn empty_like(&self) -> Self {
        Indices {
            funcs: self.funcs.clone(),
            indices: self.funcs.iter().map(|(n, _)| (n.clone(), Index::new())).collect(),
        }
    }

    /// Adds an index and files the existing `items` under it.
    pub(crate) fn add<'a>(
        &mut self,
        name: &str,
        func: IndexFunc<K>,
        items: impl Iterator<Item = (&'a Arc<str>, &'a Arc<K>)>,
    ) -> Result<(), CacheError>
    where
        K: 'a,
    {
        if self.indices.contains_key(name) {
            return Err(CacheError::IndexExists(name.to_owned()));
        }
        let mut index = Index::new();
        for (key, obj) in items {
            for value in func(obj) {
                index.entry(value).or_default().insert(Arc::clone(key));
            }
        }
        self.funcs.push((name.to_owned(), func));
        self.indices.insert(name.to_owned(), index);
        Ok(())
    }

    /// Re-files `key` after its object changed from `old` to `new` (either may be absent:
    /// an add or a delete). Values present in both are left alone.
    pub(crate) fn update(&mut self, key: &Arc<str>, old: Option<&K>, new: Option<&K>) {
        for (name, func) in &self.funcs {
            let old_values = old.map(|o| func(o)).unwrap_or_default();
            let new_values = new.map(|n| func(n)).unwrap_or_default();
            if old_values == new_values {
                continue;
            }
            let Some(index) = self.indices.get_mut(name) else { continue };
            for value in old_values.iter().filter(|v| !new_values.contains(v)) {
                if let Some(set) = index.get_mut(value) {
                    set.remove(key);
                    if set.is_empty() {
                        index.remove(value);
                    }
                }
            }
            for value in new_values.into_iter().filter(|v| !old_values.contains(v)) {
                index.entry(value).or_default().insert(Arc::clone(key));
            }
        }
    }

    /// The keys filed under `value` in index `name`.
    pub(crate) fn keys(&self, name: &str, value: &str) -> Result<Option<&HashSet<Arc<str>>>, CacheError> {
        let index = self.indices.get(name).ok_or_else(|| CacheError::UnknownIndex(name.to_owned()))?;
        Ok(index.get(value))
    }

    /// The values index `name` currently holds.
    pub(crate) fn values(&self, name: &str) -> Result<Vec<String>, CacheError> {
        let index = self.indices.get(name).ok_or_else(|| CacheError::UnknownIndex(name.to_owned()))?;
        Ok(index.keys().cloned().collect())
    }

    /// The index function of index `name`.
    pub(crate) fn func(&self, name: &str) -> Result<&IndexFunc<K>, CacheError> {
        self.funcs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, f)| f)
            .ok_or_else(|| CacheError::UnknownIndex(name.to_owned()))
    }

    /// The names of the indices.
    pub(crate) fn names(&self) -> Vec<String> {
        self.funcs.iter().map(|(n, _)| n.clone()).collect()
    }
}
