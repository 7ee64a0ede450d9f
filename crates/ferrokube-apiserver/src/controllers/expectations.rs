//! kube's controller expectations (`ControllerExpectations` with deletions tracked by
//! uid, as `UIDTrackingControllerExpectations`): what a per-key controller has asked
//! for and not yet seen in its caches.
//!
//! A sync that creates or deletes pods records how many creations and which deletions
//! it expects; the pod handlers count them off as the cache shows them. Until they are
//! all seen (or five minutes have passed, kube's `ExpectationsTimeout`), the
//! controller's cache is known to lag its own writes, and a sync leaves the pod count
//! alone (it still writes status). This is what lets a per-key sync read the cache as
//! it is, instead of waiting until the cache has caught up with the store.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// kube's `ExpectationsTimeout`.
const TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// Expectations by controller key (see the module docs).
#[derive(Default)]
pub struct Expectations {
    by_key: Mutex<HashMap<String, Expected>>,
}

struct Expected {
    creations: usize,
    deletions: HashSet<String>,
    since: Instant,
}

impl Expectations {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, Expected>) -> R) -> R {
        f(&mut self.by_key.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether `key` may act on its cache: nothing expected, all seen, or expired.
    pub fn satisfied(&self, key: &str) -> bool {
        self.with(|m| match m.get(key) {
            None => true,
            Some(e) => (e.creations == 0 && e.deletions.is_empty()) || e.since.elapsed() > TIMEOUT,
        })
    }

    /// `key` is about to create `creations` objects and delete those with `deletions`
    /// uids (replaces what it expected before).
    pub fn expect(&self, key: &str, creations: usize, deletions: impl IntoIterator<Item = String>) {
        let e = Expected { creations, deletions: deletions.into_iter().collect(), since: Instant::now() };
        self.with(|m| m.insert(key.to_owned(), e));
    }

    /// One creation of `key` was seen (or will never be: it failed).
    pub fn creation_observed(&self, key: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.creations = e.creations.saturating_sub(1);
            }
        });
    }

    /// The deletion of `uid` by `key` was seen (or will never be: it failed).
    pub fn deletion_observed(&self, key: &str, uid: &str) {
        self.with(|m| {
            if let Some(e) = m.get_mut(key) {
                e.deletions.remove(uid);
            }
        });
    }

    /// Forgets `key` (its object is gone).
    pub fn forget(&self, key: &str) {
        self.with(|m| m.remove(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn satisfied_once_seen_or_expired() {
        let e = Expectations::default();
        assert!(e.satisfied("ns/a"), "nothing expected");
        e.expect("ns/a", 2, ["u1".to_owned()]);
        assert!(!e.satisfied("ns/a"));
        e.creation_observed("ns/a");
        e.creation_observed("ns/a");
        e.creation_observed("ns/a");
        assert!(!e.satisfied("ns/a"), "the deletion is still out");
        e.deletion_observed("ns/a", "u2");
        assert!(!e.satisfied("ns/a"), "another uid's deletion is not ours");
        e.deletion_observed("ns/a", "u1");
        e.deletion_observed("ns/a", "u1");
        assert!(e.satisfied("ns/a"));
        e.expect("ns/b", 1, []);
        tokio::time::advance(TIMEOUT + Duration::from_secs(1)).await;
        assert!(e.satisfied("ns/b"), "expired");
        e.expect("ns/b", 1, []);
        e.forget("ns/b");
        assert!(e.satisfied("ns/b"));
    }
}
