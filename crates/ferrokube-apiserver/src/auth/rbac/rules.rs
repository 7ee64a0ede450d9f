//! Whether one RBAC `PolicyRule` allows a request, as kube's `RuleAllows`.
//!
//! Rules are read straight from the stored JSON of a Role or ClusterRole (no copy):
//! a resource request needs a matching verb, API group, resource (`*`, the exact
//! `resource` or `resource/subresource`, or `*/subresource`) and, when the rule lists
//! any, resource name; a non-resource request needs a matching verb and URL (`*`, the
//! exact path, or a prefix ending in `*`). `*` matches every verb and group.

use serde_json::Value;

use super::attributes::Attributes;

/// A `PolicyRule` as stored (a JSON object with `verbs`, `apiGroups`, `resources`,
/// `resourceNames`, `nonResourceURLs`).
#[derive(Clone, Copy, Debug)]
pub struct Rule<'a>(pub &'a Value);

impl<'a> Rule<'a> {
    /// The strings of one list field (empty when absent).
    pub fn list(&self, field: &str) -> impl Iterator<Item = &'a str> {
        self.0.get(field).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str)
    }

    fn has(&self, field: &str) -> bool {
        self.list(field).next().is_some()
    }

    /// Whether this rule allows `attrs`.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !self.list("verbs").any(|v| v == "*" || v == attrs.verb) {
            return false;
        }
        if !attrs.resource_request {
            return self.list("nonResourceURLs").any(|u| url_matches(u, &attrs.path));
        }
        if !self.list("apiGroups").any(|g| g == "*" || g == attrs.api_group) {
            return false;
        }
        let combined = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        let resource_ok = self.list("resources").any(|r| {
            r == "*"
                || r == combined
                || (!attrs.subresource.is_empty() && r.strip_prefix("*/") == Some(attrs.subresource.as_str()))
        });
        resource_ok && (!self.has("resourceNames") || self.list("resourceNames").any(|n| n == attrs.name))
    }
}

/// kube's `NonResourceURLMatches` for one rule URL.
fn url_matches(rule: &str, path: &str) -> bool {
    rule == "*" || rule == path || rule.strip_suffix('*').is_some_and(|prefix| path.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::UserInfo;

    fn res(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        let mut a = Attributes::resource(UserInfo::default(), verb, group, resource, "ns", name);
        a.subresource = sub.into();
        a
    }

    #[test]
    fn resource_rules() {
        let r = json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "pods/log"]});
        let rule = Rule(&r);
        assert!(rule.allows(&res("get", "", "pods", "", "a")));
        assert!(rule.allows(&res("get", "", "pods", "log", "a")));
        assert!(!rule.allows(&res("get", "", "pods", "exec", "a")));
        assert!(!rule.allows(&res("delete", "", "pods", "", "a")));
        assert!(!rule.allows(&res("get", "apps", "pods", "", "a")));
        let star = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
        assert!(Rule(&star).allows(&res("deletecollection", "x.io", "foos", "status", "")));
        let sub = json!({"verbs": ["update"], "apiGroups": ["apps"], "resources": ["*/scale"]});
        assert!(Rule(&sub).allows(&res("update", "apps", "deployments", "scale", "d")));
        assert!(!Rule(&sub).allows(&res("update", "apps", "deployments", "", "d")));
        let named = json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"]});
        assert!(Rule(&named).allows(&res("get", "", "configmaps", "", "a")));
        assert!(!Rule(&named).allows(&res("get", "", "configmaps", "", "b")));
        assert!(!Rule(&named).allows(&res("get", "", "configmaps", "", "")));
    }

    #[test]
    fn non_resource_rules() {
        let r = json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]});
        let path = |verb: &str, p: &str| Attributes { verb: verb.into(), path: p.into(), ..Default::default() };
        assert!(Rule(&r).allows(&path("get", "/healthz")));
        assert!(Rule(&r).allows(&path("get", "/apis/apps/v1")));
        assert!(!Rule(&r).allows(&path("get", "/healthz/ping")));
        assert!(!Rule(&r).allows(&path("post", "/healthz")));
        // A resource rule never matches a path, nor a path rule a resource.
        let pods = json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]});
        assert!(!Rule(&pods).allows(&path("get", "/healthz")));
        assert!(!Rule(&r).allows(&res("get", "", "pods", "", "")));
    }
}
