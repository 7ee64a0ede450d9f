//! The RBAC objects in the store, walked as kube's `VisitRulesFor`: which rules apply
//! to a user in a namespace, and through which binding.
//!
//! Every ClusterRoleBinding whose subjects include the user (by name, by one of its
//! groups, or as a ServiceAccount's username) contributes its ClusterRole's rules;
//! then, for a namespaced request, every RoleBinding of that namespace contributes its
//! Role's (or ClusterRole's) rules. Bindings are visited in name order and the visitor
//! may stop early. A binding whose role does not exist yields an error (kube reports
//! them in the denial's reason and in rules reviews' `evaluationError`).
//!
//! The objects are read from the [`Store`] on every call, so a new binding applies to
//! the very next request (kube's authorizer reads an informer cache, which lags by a
//! moment; the test suites here need no waiting).

use std::ops::ControlFlow;
use std::sync::Arc;

use serde_json::Value;

use super::attributes::go_quote;
use super::rules::Rule;
use crate::api::UserInfo;
use crate::storage::{ListQuery, Store};

/// Store key of ClusterRoles.
pub const CLUSTER_ROLES: &str = "rbac.authorization.k8s.io/clusterroles";
/// Store key of ClusterRoleBindings.
pub const CLUSTER_ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/clusterrolebindings";
/// Store key of Roles.
pub const ROLES: &str = "rbac.authorization.k8s.io/roles";
/// Store key of RoleBindings.
pub const ROLE_BINDINGS: &str = "rbac.authorization.k8s.io/rolebindings";

/// What the visitor is shown: a rule and the binding it comes through, or an error.
#[derive(Debug)]
pub enum Visit<'a> {
    /// A rule that applies, with the binding's description (kube's wording, e.g.
    /// `ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" to Group
    /// "system:masters"`).
    Rule(&'a str, Rule<'a>),
    /// A binding names a role that does not exist.
    Error(String),
}

/// Objects of `resource` (under `prefix`), in key order.
pub fn list(store: &Store, resource: &str, prefix: Option<&str>) -> Vec<Arc<Value>> {
    let query = ListQuery { prefix, start: None, at_rv: None, limit: None, filter: &|_| true };
    store.list(resource, &query).map(|page| page.items).unwrap_or_default()
}

/// Show `visit` every rule that applies to `user` in `namespace` (empty: cluster
/// scope only), until it breaks.
pub fn visit_rules_for(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
    visit: &mut dyn FnMut(Visit<'_>) -> ControlFlow<()>,
) -> ControlFlow<()> {
    for binding in list(store, CLUSTER_ROLE_BINDINGS, None) {
        let Some(subject) = applies_to(&binding, user, "") else { continue };
        let role_name = str_at(&binding, "/roleRef/name");
        let name = str_at(&binding, "/metadata/name");
        let describe = format!(
            "ClusterRoleBinding {} of ClusterRole {} to {}",
            go_quote(name),
            go_quote(role_name),
            describe_subject(subject, "")
        );
        if str_at(&binding, "/roleRef/kind") != "ClusterRole" {
            continue;
        }
        match store.get(CLUSTER_ROLES, role_name) {
            Some(role) => visit_role(&role, &describe, visit)?,
            None => {
                visit(Visit::Error(format!("clusterrole.rbac.authorization.k8s.io {} not found", go_quote(role_name))))?
            }
        }
    }
    if namespace.is_empty() {
        return ControlFlow::Continue(());
    }
    let prefix = format!("{namespace}/");
    for binding in list(store, ROLE_BINDINGS, Some(&prefix)) {
        let Some(subject) = applies_to(&binding, user, namespace) else { continue };
        let role_name = str_at(&binding, "/roleRef/name");
        let kind = str_at(&binding, "/roleRef/kind");
        let name = str_at(&binding, "/metadata/name");
        let describe = format!(
            "RoleBinding {} of {kind} {} to {}",
            go_quote(&format!("{name}/{namespace}")),
            go_quote(role_name),
            describe_subject(subject, namespace)
        );
        let (role, missing) = match kind {
            "Role" => (store.get(ROLES, &format!("{namespace}/{role_name}")), "role"),
            "ClusterRole" => (store.get(CLUSTER_ROLES, role_name), "clusterrole"),
            _ => continue,
        };
        match role {
            Some(role) => visit_role(&role, &describe, visit)?,
            None => {
                visit(Visit::Error(format!("{missing}.rbac.authorization.k8s.io {} not found", go_quote(role_name))))?
            }
        }
    }
    ControlFlow::Continue(())
}

fn visit_role(role: &Value, describe: &str, visit: &mut dyn FnMut(Visit<'_>) -> ControlFlow<()>) -> ControlFlow<()> {
    for rule in role.get("rules").and_then(Value::as_array).into_iter().flatten() {
        visit(Visit::Rule(describe, Rule(rule)))?;
    }
    ControlFlow::Continue(())
}

/// The first subject of `binding` that is `user` (`namespace`: the binding's, for
/// ServiceAccount subjects without one).
fn applies_to<'a>(binding: &'a Value, user: &UserInfo, namespace: &str) -> Option<&'a Value> {
    binding.get("subjects")?.as_array()?.iter().find(|s| {
        let name = str_at(s, "/name");
        match str_at(s, "/kind") {
            "User" => user.name == name,
            "Group" => user.groups.iter().any(|g| g == name),
            "ServiceAccount" => {
                let ns = match str_at(s, "/namespace") {
                    "" => namespace,
                    ns => ns,
                };
                !ns.is_empty() && user.name == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    })
}

/// kube's `describeSubject`: `User "bob"`, `Group "dev"`, or `ServiceAccount
/// "name/namespace"` (the binding's namespace when the subject names none).
fn describe_subject(subject: &Value, binding_namespace: &str) -> String {
    let (kind, name, ns) = (str_at(subject, "/kind"), str_at(subject, "/name"), str_at(subject, "/namespace"));
    match kind {
        "ServiceAccount" if !ns.is_empty() => format!("{kind} {}", go_quote(&format!("{name}/{ns}"))),
        "ServiceAccount" => format!("{kind} {}", go_quote(&format!("{name}/{binding_namespace}"))),
        _ => format!("{kind} {}", go_quote(name)),
    }
}

/// The string at a JSON pointer, or "".
pub fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}
