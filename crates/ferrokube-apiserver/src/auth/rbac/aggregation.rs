//! ClusterRole aggregation, as kube-controller-manager's clusterrole-aggregation
//! controller: a ClusterRole with an `aggregationRule` gets as its `rules` the rules of
//! every other ClusterRole matched by one of its `clusterRoleSelectors` (selectors in
//! order, matched roles by name, duplicates dropped).
//!
//! [`reconcile`] brings every aggregated role up to date (repeating until nothing
//! changes, since aggregated roles may aggregate each other: `edit` is part of `admin`,
//! `view` of `edit`); [`run`] is the controller: it watches ClusterRoles in the store
//! and reconciles after every change, until shutdown. It runs whenever the server
//! runs, like the RBAC machinery itself (also with `--controllers=false`).

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::policy::{list, CLUSTER_ROLES};
use crate::storage::{object_rv, Store, WatchStart};

/// More rounds than any chain of aggregated roles needs; stops a cycle of roles that
/// aggregate each other from spinning.
const MAX_ROUNDS: usize = 8;

/// Update every aggregated ClusterRole whose rules differ from what its selectors
/// select. Returns how many updates were written.
pub fn reconcile(store: &Store) -> usize {
    let mut written = 0;
    for _ in 0..MAX_ROUNDS {
        let roles = list(store, CLUSTER_ROLES, None);
        let mut changed = 0;
        for role in roles.iter().filter(|r| r.get("aggregationRule").is_some_and(Value::is_object)) {
            let rules = aggregate(role, &roles);
            if role.get("rules").and_then(Value::as_array).map_or(rules.is_empty(), |have| *have == rules) {
                continue;
            }
            let mut updated = (**role).clone();
            updated["rules"] = Value::Array(rules);
            let name = role.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
            // A conflict means someone else wrote it; the next round sees their version.
            if store.update(CLUSTER_ROLES, name, updated, object_rv(role)).is_ok() {
                changed += 1;
            }
        }
        written += changed;
        if changed == 0 {
            break;
        }
    }
    written
}

/// The rules `role`'s aggregation rule selects from `roles`.
fn aggregate(role: &Value, roles: &[Arc<Value>]) -> Vec<Value> {
    let name = role.pointer("/metadata/name");
    let mut rules: Vec<Value> = Vec::new();
    let selectors = role.pointer("/aggregationRule/clusterRoleSelectors").and_then(Value::as_array);
    for selector in selectors.into_iter().flatten() {
        for other in roles.iter().filter(|o| o.pointer("/metadata/name") != name) {
            let labels = other.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default();
            if !selects(selector, &labels) {
                continue;
            }
            for rule in other.get("rules").and_then(Value::as_array).into_iter().flatten() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    rules
}

/// A label selector; unlike the workload controllers', an empty one selects every role
/// (kube's `LabelSelectorAsSelector`).
fn selects(selector: &Value, labels: &Map<String, Value>) -> bool {
    let empty = |field: &str| {
        selector
            .get(field)
            .is_none_or(|v| v.as_object().is_some_and(Map::is_empty) || v.as_array().is_some_and(Vec::is_empty))
    };
    if empty("matchLabels") && empty("matchExpressions") {
        return selector.is_object();
    }
    crate::controllers::objects::selector_matches(selector, labels)
}

/// The aggregation controller: reconcile after every ClusterRole change until
/// `shutdown` turns true.
pub async fn run(store: Arc<Store>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let Ok(mut registration) = store.watch(CLUSTER_ROLES, None, WatchStart::Now) else { return };
        // Changes made before the watch started.
        reconcile(&store);
        loop {
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                event = registration.receiver.recv() => {
                    if event.is_none() {
                        break; // dropped for falling behind: watch again
                    }
                    while registration.receiver.try_recv().is_ok() {}
                    reconcile(&store);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn role(name: &str, labels: Value, rules: Value, aggregation: Option<Value>) -> Value {
        let mut r = json!({"metadata": {"name": name, "labels": labels}, "rules": rules});
        if let Some(a) = aggregation {
            r["aggregationRule"] = a;
        }
        r
    }

    #[test]
    fn aggregates_chains_and_follows_changes() {
        let store = Store::new();
        let sel = |l: &str| json!({"clusterRoleSelectors": [{"matchLabels": {l: "true"}}]});
        let pods = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]});
        let cms = json!({"verbs": ["list"], "apiGroups": [""], "resources": ["configmaps"]});
        store.create(CLUSTER_ROLES, "top", role("top", json!({}), json!([]), Some(sel("to-top")))).unwrap();
        store
            .create(CLUSTER_ROLES, "mid", role("mid", json!({"to-top": "true"}), json!([]), Some(sel("to-mid"))))
            .unwrap();
        store.create(CLUSTER_ROLES, "a", role("a", json!({"to-mid": "true"}), json!([pods]), None)).unwrap();
        store.create(CLUSTER_ROLES, "b", role("b", json!({"to-mid": "true"}), json!([pods, cms]), None)).unwrap();
        assert!(reconcile(&store) >= 2);
        assert_eq!(store.get(CLUSTER_ROLES, "mid").unwrap()["rules"], json!([pods, cms]));
        assert_eq!(store.get(CLUSTER_ROLES, "top").unwrap()["rules"], json!([pods, cms]));
        assert_eq!(reconcile(&store), 0);
        let b = store.get(CLUSTER_ROLES, "b").unwrap();
        store.update(CLUSTER_ROLES, "b", role("b", json!({}), json!([cms]), None), object_rv(&b)).unwrap();
        reconcile(&store);
        assert_eq!(store.get(CLUSTER_ROLES, "top").unwrap()["rules"], json!([pods]));
    }
}
