//! The garbage collector's finalizers, decided when an object is deleted: a DELETE with
//! `propagationPolicy: Foreground` or `Orphan` (or the deprecated `orphanDependents`)
//! gets `foregroundDeletion` or `orphan` in the same write as its
//! `deletionTimestamp`, as kube-apiserver's delete handler does; the garbage collector
//! (`controllers::gc`) then acts on them and removes them.
//!
//! It lives in the registry because the registry's delete applies it; the garbage
//! collector reads the same constants from here (controllers depend on the registry,
//! never the reverse).

use serde_json::Value;

use super::meta;

/// The finalizer that holds an owner until its blocking dependents are gone.
pub const FOREGROUND_DELETION: &str = "foregroundDeletion";
/// The finalizer that holds an owner until its dependents are orphaned.
pub const ORPHAN: &str = "orphan";

/// The `metadata.finalizers` kube-apiserver's delete handler gives `obj` for a delete
/// with `propagation_policy` (`Foreground`, `Background`, `Orphan`) and the deprecated
/// `orphan_dependents`, or `None` when they stay as they are.
///
/// This is kube's `deletionFinalizersForGarbageCollection`: an explicit
/// `orphanDependents` wins, then the policy, then a GC finalizer already on the
/// object, then the resource's default (Background; the legacy Orphan defaults of
/// `extensions/v1beta1` and friends are not served here). Both GC finalizers are
/// removed and the one the decision calls for is appended; Background removes both.
///
/// The registry's DELETE must apply it before deciding whether the object goes at
/// once or stays marked for deletion (an object with finalizers stays).
pub fn finalizers_for_propagation(
    propagation_policy: Option<&str>,
    orphan_dependents: Option<bool>,
    obj: &Value,
) -> Option<Vec<String>> {
    let existing: Vec<String> = meta::finalizers(obj).into_iter().map(str::to_owned).collect();
    let from_finalizers = |want: &str| -> Option<bool> {
        existing.iter().find_map(|f| match f.as_str() {
            ORPHAN => Some(want == ORPHAN),
            FOREGROUND_DELETION => Some(want == FOREGROUND_DELETION),
            _ => None,
        })
    };
    let orphan = match (orphan_dependents, propagation_policy) {
        (Some(o), _) => o,
        (None, Some(p)) => p == "Orphan",
        (None, None) => from_finalizers(ORPHAN).unwrap_or(false),
    };
    let foreground = match (orphan_dependents, propagation_policy) {
        (Some(_), _) => false,
        (None, Some(p)) => p == "Foreground",
        (None, None) => from_finalizers(FOREGROUND_DELETION).unwrap_or(false),
    };
    let mut new: Vec<String> = existing.iter().filter(|f| *f != ORPHAN && *f != FOREGROUND_DELETION).cloned().collect();
    if orphan {
        new.push(ORPHAN.to_owned());
    }
    if foreground {
        new.push(FOREGROUND_DELETION.to_owned());
    }
    let mut a = existing.clone();
    let mut b = new.clone();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    if a == b {
        None
    } else {
        Some(new)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn propagation_finalizers() {
        let plain = json!({"metadata": {"finalizers": ["example.com/x"]}});
        assert_eq!(
            finalizers_for_propagation(Some("Foreground"), None, &plain),
            Some(vec!["example.com/x".to_owned(), FOREGROUND_DELETION.to_owned()])
        );
        assert_eq!(
            finalizers_for_propagation(Some("Orphan"), None, &plain),
            Some(vec!["example.com/x".to_owned(), ORPHAN.to_owned()])
        );
        assert_eq!(finalizers_for_propagation(Some("Background"), None, &plain), None);
        assert_eq!(finalizers_for_propagation(None, None, &plain), None);
        assert_eq!(finalizers_for_propagation(None, Some(true), &json!({})), Some(vec![ORPHAN.to_owned()]));
        assert_eq!(finalizers_for_propagation(None, Some(false), &json!({})), None);
        let fg = json!({"metadata": {"finalizers": [FOREGROUND_DELETION]}});
        assert_eq!(finalizers_for_propagation(Some("Background"), None, &fg), Some(vec![]));
        assert_eq!(finalizers_for_propagation(None, None, &fg), None);
        assert_eq!(finalizers_for_propagation(Some("Orphan"), None, &fg), Some(vec![ORPHAN.to_owned()]));
    }
}
