//! The RBAC policy a cluster starts with: kube-apiserver's bootstrap ClusterRoles,
//! ClusterRoleBindings, and the Roles and RoleBindings of `kube-system` and
//! `kube-public`.
//!
//! The policy is data (`bootstrap_policy.json`, one object per line), taken from a
//! fresh Kubernetes v1.37.2 control plane by `gen/rbac_bootstrap_policy.py`: among
//! others `cluster-admin` (bound to `system:masters`), `admin`, `edit` and `view`
//! (aggregated from the `system:aggregate-to-*` roles by their
//! `rbac.authorization.k8s.io/aggregate-to-*` labels), `system:basic-user` (the
//! self-reviews), `system:discovery` and `system:public-info-viewer` (discovery, health
//! and `/version`, for authenticated and also unauthenticated callers), the roles of
//! the controllers, scheduler, nodes and kube-proxy.
//!
//! [`ensure`] creates the objects that are missing (as kube-apiserver's policy
//! reconciliation does at start-up; existing objects, possibly edited, are left
//! alone), each labelled `kubernetes.io/bootstrapping: rbac-defaults` and annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`, then fills the aggregated
//! roles ([`super::aggregation::reconcile`]).

use serde_json::{json, Map, Value};

use super::policy::{CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS, ROLES, ROLE_BINDINGS};
use crate::registry::meta;
use crate::storage::{object_key, Store};

/// The policy, as generated.
const POLICY: &str = include_str!("bootstrap_policy.json");

/// The RBAC API version of the stored objects.
const API_VERSION: &str = "rbac.authorization.k8s.io/v1";

/// Create the bootstrap objects missing from `store` and aggregate the aggregated
/// ClusterRoles. Returns how many objects were created.
pub fn ensure(store: &Store) -> usize {
    let Ok(policy) = serde_json::from_str::<Value>(POLICY) else {
        // The data is compiled in and checked by a unit test; a failure is a bug.
        tracing::error!("the built-in bootstrap RBAC policy does not parse");
        return 0;
    };
    let sections = [
        ("clusterRoles", "ClusterRole", CLUSTER_ROLES),
        ("clusterRoleBindings", "ClusterRoleBinding", CLUSTER_ROLE_BINDINGS),
        ("roles", "Role", ROLES),
        ("roleBindings", "RoleBinding", ROLE_BINDINGS),
    ];
    let mut created = 0;
    for (section, kind, resource) in sections {
        for item in policy.get(section).and_then(Value::as_array).into_iter().flatten() {
            let Some(mut obj) = item.as_object().cloned() else { continue };
            let name = obj.remove("name").and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let namespace = obj.remove("namespace").and_then(|v| v.as_str().map(str::to_owned));
            let key = object_key(namespace.as_deref(), &name);
            if store.get(resource, &key).is_some() {
                continue;
            }
            let mut labels = match obj.remove("labels") {
                Some(Value::Object(labels)) => labels,
                _ => Map::new(),
            };
            labels.insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
            let mut metadata = json!({
                "name": name,
                "uid": meta::new_uid(),
                "creationTimestamp": meta::now_rfc3339(),
                "labels": labels,
                "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
            });
            if let Some(ns) = namespace {
                metadata["namespace"] = json!(ns);
            }
            if let Some(role_ref) = obj.get_mut("roleRef").and_then(Value::as_object_mut) {
                role_ref.insert("apiGroup".into(), "rbac.authorization.k8s.io".into());
            }
            let mut full = Map::new();
            full.insert("apiVersion".into(), API_VERSION.into());
            full.insert("kind".into(), kind.into());
            full.insert("metadata".into(), metadata);
            full.extend(obj);
            if store.create(resource, &key, Value::Object(full)).is_ok() {
                created += 1;
            }
        }
    }
    super::aggregation::reconcile(store);
    created
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_parses_and_is_created_once() {
        let store = Store::new();
        let created = ensure(&store);
        assert!(created > 100, "{created}");
        assert_eq!(ensure(&store), 0);
        let admin = store.get(CLUSTER_ROLE_BINDINGS, "cluster-admin").unwrap();
        assert_eq!(admin["subjects"][0]["name"], "system:masters");
        assert_eq!(admin["roleRef"]["apiGroup"], "rbac.authorization.k8s.io");
        let view = store.get(CLUSTER_ROLES, "view").unwrap();
        assert_eq!(view["metadata"]["labels"]["kubernetes.io/bootstrapping"], "rbac-defaults");
        assert!(view["aggregationRule"].is_object());
        // Filled by aggregation from system:aggregate-to-view.
        assert!(view["rules"].as_array().unwrap().len() > 5);
        let basic = store.get(CLUSTER_ROLES, "system:basic-user").unwrap();
        assert_eq!(basic["rules"][0]["resources"], json!(["selfsubjectaccessreviews", "selfsubjectrulesreviews"]));
        assert!(store.get(ROLES, "kube-system/extension-apiserver-authentication-reader").is_some());
    }
}
