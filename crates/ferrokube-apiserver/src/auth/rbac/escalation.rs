//! RBAC's escalation prevention, as kube's RBAC storage: a user may only write a Role
//! or ClusterRole whose rules it holds itself, and only bind a role whose rules it
//! holds, unless it may `escalate` that role (resp. `bind` it) or is in
//! `system:masters`.
//!
//! [`check`] runs in `handlers` before the registry serves a create, update or patch
//! of roles, clusterroles, rolebindings or clusterrolebindings by anyone else. To see
//! the object as it will be stored (a patch included), the write is first served as a
//! dry run. Coverage is kube's `Covers`: every rule of the role, broken down to one
//! verb, group, resource (and name) or URL, must be covered by one of the user's rules
//! in the object's namespace (`*`, exact names, `*/subresource`, URL prefixes ending in
//! `*`). A refusal is kube's 403: `roles.rbac.authorization.k8s.io "r" is forbidden:
//! user "bob" (groups=["system:authenticated"]) is attempting to grant RBAC
//! permissions not currently held:` followed by the missing rules, compacted, one per
//! line. A ClusterRole with an `aggregationRule` needs `escalate` (or
//! `system:masters`).

use serde_json::Value;

use super::policy::{str_at, CLUSTER_ROLES, ROLES};
use super::{Attributes, Authorizer};
use crate::api::{ApiError, ApiRequest, ApiResponse, Verb};
use crate::registry::Registry;

const GROUP: &str = "rbac.authorization.k8s.io";

/// Refuse `req` if it would grant permissions its user does not hold.
pub async fn check(registry: &Registry, authz: &Authorizer, req: &ApiRequest) -> Result<(), ApiError> {
    let plural = req.resource.plural.as_str();
    let is_rbac_write = req.resource.group == GROUP
        && matches!(req.verb, Verb::Create | Verb::Update | Verb::Patch)
        && req.subresource.is_none()
        && matches!(plural, "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings");
    if !is_rbac_write || authz.allows_everything(&req.user) {
        return Ok(());
    }
    // The object as the write would store it.
    let mut dry = req.clone();
    dry.query.insert("dryRun".into(), vec!["All".into()]);
    let obj = match registry.handle(dry).await? {
        ApiResponse::Object { body, .. } => body,
        ApiResponse::Watch(_) => return Ok(()),
    };
    let namespace = str_at(&obj, "/metadata/namespace").to_owned();
    let name = str_at(&obj, "/metadata/name").to_owned();
    let user = &req.user;
    let forbidden = |message: String| {
        let attrs = Attributes::resource(user.clone(), "", GROUP, plural, &namespace, &name);
        let mut e = attrs.forbidden("");
        let qualified = format!("{plural}.{GROUP}");
        e.message = if name.is_empty() {
            format!("{qualified} is forbidden: {message}")
        } else {
            format!("{qualified} {} is forbidden: {message}", super::attributes::go_quote(&name))
        };
        e
    };
    // Checked in the request's namespace (the binding's, for `bind`), and for
    // `escalate` with the name of the path (none for a create), as kube does.
    let allowed = |verb: &str, resource: &str, role: &str| {
        let ns = req.namespace.as_deref().unwrap_or("");
        authz.authorize(&Attributes::resource(user.clone(), verb, GROUP, resource, ns, role)).allowed
    };
    let aggregated = plural == "clusterroles" && obj.get("aggregationRule").is_some_and(|a| !a.is_null());
    let rules: Vec<Value> = match plural {
        "roles" | "clusterroles" => {
            if allowed("escalate", plural, req.name.as_deref().unwrap_or("")) {
                return Ok(());
            }
            obj.get("rules").and_then(Value::as_array).cloned().unwrap_or_default()
        }
        _ => {
            let (kind, role) = (str_at(&obj, "/roleRef/kind"), str_at(&obj, "/roleRef/name"));
            let resource = if kind == "Role" { "roles" } else { "clusterroles" };
            if allowed("bind", resource, role) {
                return Ok(());
            }
            let stored = if kind == "Role" {
                registry.store().get(ROLES, &format!("{namespace}/{role}"))
            } else {
                registry.store().get(CLUSTER_ROLES, role)
            };
            match stored {
                Some(r) => r.get("rules").and_then(Value::as_array).cloned().unwrap_or_default(),
                None => {
                    // kube names the binding's resource with the role's name here.
                    let what = format!("{plural}.{GROUP} {} not found", super::attributes::go_quote(role));
                    let mut e = ApiError::new(404, "NotFound", what);
                    e.details = Some(serde_json::json!({"name": role, "group": GROUP, "kind": plural}));
                    return Err(e);
                }
            }
        }
    };
    let owner = authz.rules_for(user, &namespace);
    let mut owned = owner.resource_rules;
    owned.extend(owner.non_resource_rules);
    let missing = missing_rules(&owned, &rules);
    if missing.is_empty() {
        // Aggregating can gather anything: it needs every permission.
        let everything = [
            serde_json::json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
            serde_json::json!({"verbs": ["*"], "nonResourceURLs": ["*"]}),
        ];
        if aggregated && !missing_rules(&owned, &everything).is_empty() {
            return Err(forbidden("must have cluster-admin privileges to use the aggregationRule".into()));
        }
        return Ok(());
    }
    let mut message = format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        super::attributes::go_quote(&user.name),
        go_strings(&user.groups),
        missing.join("\n")
    );
    if !owner.errors.is_empty() {
        message = format!("{message}; resolution errors: [{}]", owner.errors.join(" "));
    }
    Err(forbidden(message))
}

/// One broken-down rule: a verb on one group/resource (and name), or on one URL.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Atom {
    group: Option<String>,
    resource: Option<String>,
    name: Option<String>,
    url: Option<String>,
    verb: String,
}

fn list(rule: &Value, field: &str) -> Vec<String> {
    super::rules::Rule(rule).list(field).map(str::to_owned).collect()
}

/// kube's `BreakdownRule`.
fn breakdown(rule: &Value) -> Vec<Atom> {
    let (groups, resources, names, urls, verbs) = (
        list(rule, "apiGroups"),
        list(rule, "resources"),
        list(rule, "resourceNames"),
        list(rule, "nonResourceURLs"),
        list(rule, "verbs"),
    );
    let mut out = Vec::new();
    for g in &groups {
        for r in &resources {
            for v in &verbs {
                let atom = |name: Option<&String>| Atom {
                    group: Some(g.clone()),
                    resource: Some(r.clone()),
                    name: name.cloned(),
                    url: None,
                    verb: v.clone(),
                };
                if names.is_empty() {
                    out.push(atom(None));
                } else {
                    out.extend(names.iter().map(|n| atom(Some(n))));
                }
            }
        }
    }
    for u in &urls {
        for v in &verbs {
            out.push(Atom { group: None, resource: None, name: None, url: Some(u.clone()), verb: v.clone() });
        }
    }
    out
}

/// kube's `ruleCovers` for one owner rule and one atom.
fn covers(owner: &Value, atom: &Atom) -> bool {
    let has = |field: &str, value: &str| list(owner, field).iter().any(|x| x == value);
    let verb = has("verbs", "*") || has("verbs", &atom.verb);
    let group = atom.group.as_ref().is_none_or(|g| has("apiGroups", "*") || has("apiGroups", g));
    let resource = atom.resource.as_ref().is_none_or(|r| {
        has("resources", "*")
            || has("resources", r)
            || r.split_once('/').is_some_and(|(_, sub)| has("resources", &format!("*/{sub}")))
    });
    let url = atom.url.as_ref().is_none_or(|u| {
        list(owner, "nonResourceURLs")
            .iter()
            .any(|o| o == u || o.strip_suffix('*').is_some_and(|prefix| u.starts_with(prefix)))
    });
    let owner_names = list(owner, "resourceNames");
    let name = match &atom.name {
        None => owner_names.is_empty(),
        Some(n) => owner_names.is_empty() || owner_names.contains(n),
    };
    verb && group && resource && url && name
}

/// The rules of `wanted` that `owned` does not cover, compacted and described as
/// kube's `CompactString`, sorted.
fn missing_rules(owned: &[Value], wanted: &[Value]) -> Vec<String> {
    let mut missing: Vec<Atom> = Vec::new();
    for rule in wanted {
        for atom in breakdown(rule) {
            if !owned.iter().any(|o| covers(o, &atom)) {
                missing.push(atom);
            }
        }
    }
    // CompactRules: verbs of the same group/resource/name merge into one rule.
    let mut compact: Vec<(Atom, Vec<String>)> = Vec::new();
    for atom in missing {
        let key = Atom { verb: String::new(), ..atom.clone() };
        match compact.iter_mut().find(|(k, _)| *k == key && key.url.is_none()) {
            Some((_, verbs)) => verbs.push(atom.verb),
            None => compact.push((key, vec![atom.verb])),
        }
    }
    let mut out: Vec<String> = compact
        .into_iter()
        .map(|(a, verbs)| {
            let mut parts = Vec::new();
            let one = |v: &Option<String>| go_strings(std::slice::from_ref(v.as_ref().unwrap_or(&String::new())));
            if a.group.is_some() {
                parts.push(format!("APIGroups:{}", one(&a.group)));
            }
            if a.resource.is_some() {
                parts.push(format!("Resources:{}", one(&a.resource)));
            }
            if a.url.is_some() {
                parts.push(format!("NonResourceURLs:{}", one(&a.url)));
            }
            if a.name.is_some() {
                parts.push(format!("ResourceNames:{}", one(&a.name)));
            }
            parts.push(format!("Verbs:{}", go_strings(&verbs)));
            format!("{{{}}}", parts.join(", "))
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_strings(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| super::attributes::go_quote(v)).collect();
    format!("[{}]", quoted.join(" "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn coverage_and_wording() {
        let owned = vec![
            json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "*/log"]}),
            json!({"verbs": ["*"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"]}),
            json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/*"]}),
        ];
        let fine = vec![
            json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "pods/log"]}),
            json!({"verbs": ["delete"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"]}),
            json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/ping"]}),
        ];
        assert!(missing_rules(&owned, &fine).is_empty());
        let too_much = vec![
            json!({"verbs": ["get", "delete", "watch"], "apiGroups": [""], "resources": ["pods", "secrets"]}),
            json!({"verbs": ["get"], "apiGroups": ["apps"], "resources": ["deployments"]}),
            json!({"verbs": ["get"], "nonResourceURLs": ["/metrics"]}),
        ];
        assert_eq!(
            missing_rules(&owned, &too_much),
            [
                r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete" "watch"]}"#,
                r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "delete" "watch"]}"#,
                r#"{APIGroups:["apps"], Resources:["deployments"], Verbs:["get"]}"#,
                r#"{NonResourceURLs:["/metrics"], Verbs:["get"]}"#,
            ]
        );
    }
}
