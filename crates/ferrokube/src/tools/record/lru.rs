//! A small least-recently-used map with string keys (what client-go's correlator gets
//! from `k8s.io/utils/lru`): it keeps at most `capacity` entries and forgets the one
//! used longest ago when full.

use std::collections::{BTreeMap, HashMap};

/// A map of at most `capacity` entries that evicts the least recently used one.
#[derive(Debug)]
pub(crate) struct Lru<V> {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (V, u64)>,
    order: BTreeMap<u64, String>,
}

impl<V> Lru<V> {
    /// An empty map holding up to `capacity` (at least 1) entries.
    pub(crate) fn new(capacity: usize) -> Self {
        Lru { capacity: capacity.max(1), tick: 0, entries: HashMap::new(), order: BTreeMap::new() }
    }

    fn touch(&mut self, key: &str) {
        self.tick += 1;
        if let Some((_, used)) = self.entries.get_mut(key) {
            self.order.remove(used);
            *used = self.tick;
            self.order.insert(self.tick, key.to_owned());
        }
    }

    /// The entry for `key`, marked as just used.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.touch(key);
        self.entries.get_mut(key).map(|(v, _)| v)
    }

    /// Inserts or replaces `key`, marked as just used; evicts the oldest entry if full.
    pub(crate) fn add(&mut self, key: String, value: V) {
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.0 = value;
            self.touch(&key);
            return;
        }
        if self.entries.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.entries.remove(&oldest);
            }
        }
        self.tick += 1;
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (value, self.tick));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_entry() {
        let mut lru = Lru::new(2);
        lru.add("a".into(), 1);
        lru.add("b".into(), 2);
        assert_eq!(lru.get_mut("a"), Some(&mut 1)); // a is now newer than b
        lru.add("c".into(), 3);
        assert_eq!(lru.len(), 2);
        assert!(lru.get_mut("b").is_none());
        assert_eq!(lru.get_mut("a"), Some(&mut 1));
        assert_eq!(lru.get_mut("c"), Some(&mut 3));
        lru.add("c".into(), 4);
        assert_eq!(lru.get_mut("c"), Some(&mut 4));
        assert_eq!(lru.len(), 2);
    }
}
