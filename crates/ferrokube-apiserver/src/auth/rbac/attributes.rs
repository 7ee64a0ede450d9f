//! Request attributes: what a request asks to do, as kube-apiserver's `RequestInfo`
//! and `authorizer.Attributes` describe it, and the 403 that refuses it.
//!
//! [`Attributes::from_request`] reads the method, path and query only (no catalog), so
//! a request is authorized before the server looks the resource up: an unknown
//! resource is 403 for a user who may not list it, as on a cluster. The rules are
//! kube's: `/api/<version>/...` and `/apis/<group>/<version>/...` are resource
//! requests, anything shorter or elsewhere is a non-resource request whose verb is the
//! lower-case HTTP method; a `watch/` or `proxy/` segment after the version is the
//! verb; `namespaces/<ns>/<resource>...` sets the namespace (`namespaces/<ns>` itself
//! is the namespace object, in that namespace); a GET without a name is `list` or,
//! with `?watch=true`, `watch` (a `metadata.name=` field selector then names the
//! object); a DELETE without a name is `deletecollection`.

use http::Method;

use crate::api::{ApiError, UserInfo};

/// One authorization question: may `user` do `verb` on this resource or path?
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`, `impersonate`, ...; for non-resource requests the
    /// lower-case HTTP method.
    pub verb: String,
    /// Whether this is a resource request (else `path` is what is asked for).
    pub resource_request: bool,
    /// The request path (non-resource requests).
    pub path: String,
    /// Namespace; empty for cluster-scoped requests.
    pub namespace: String,
    /// API group; empty for the core group.
    pub api_group: String,
    /// API version.
    pub api_version: String,
    /// Resource (plural), e.g. `pods`.
    pub resource: String,
    /// Subresource, e.g. `log`; empty if none.
    pub subresource: String,
    /// Object name; empty for collections.
    pub name: String,
}

/// API prefixes, and the one without groups.
const API_PREFIXES: [&str; 2] = ["api", "apis"];
const GROUPLESS_PREFIX: &str = "api";
/// Subresources of a namespace object (`namespaces/<ns>/<sub>`).
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

impl Attributes {
    /// The attributes of an HTTP request by `user`: `path` is the URL path (still
    /// percent-encoded), `query` the raw query string.
    pub fn from_request(user: UserInfo, method: &Method, path: &str, query: Option<&str>) -> Attributes {
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned();
        let mut attrs = Attributes { user, path: decoded, verb: method.as_str().to_lowercase(), ..Default::default() };
        let trimmed = attrs.path.trim_matches('/').to_owned();
        let parts: Vec<&str> = if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() };
        if parts.len() < 3 || !API_PREFIXES.contains(&parts[0]) {
            return attrs;
        }
        let mut rest = &parts[1..];
        if parts[0] != GROUPLESS_PREFIX {
            if rest.len() < 3 {
                return attrs;
            }
            attrs.api_group = rest[0].to_owned();
            rest = &rest[1..];
        }
        attrs.resource_request = true;
        attrs.api_version = rest[0].to_owned();
        rest = &rest[1..];
        if matches!(rest[0], "watch" | "proxy") {
            if rest.len() < 2 {
                // kube answers such a path with an error; nothing may match it.
                attrs.verb = String::new();
                return attrs;
            }
            attrs.verb = rest[0].to_owned();
            rest = &rest[1..];
        } else {
            attrs.verb = match *method {
                Method::POST => "create",
                Method::GET | Method::HEAD => "get",
                Method::PUT => "update",
                Method::PATCH => "patch",
                Method::DELETE => "delete",
                _ => "",
            }
            .to_owned();
        }
        if rest[0] == "namespaces" && rest.len() > 1 {
            attrs.namespace = rest[1].to_owned();
            if rest.len() > 2 && !NAMESPACE_SUBRESOURCES.contains(&rest[2]) {
                rest = &rest[2..];
            }
        }
        if rest.len() >= 3 && attrs.verb != "proxy" {
            attrs.subresource = rest[2].to_owned();
        }
        if rest.len() >= 2 {
            attrs.name = rest[1].to_owned();
        }
        attrs.resource = rest[0].to_owned();
        if attrs.name.is_empty() && attrs.verb == "get" {
            let (watch, name) = list_options(query);
            attrs.verb = if watch { "watch" } else { "list" }.to_owned();
            if let Some(name) = name {
                attrs.name = name;
            }
        }
        if attrs.name.is_empty() && attrs.verb == "delete" {
            attrs.verb = "deletecollection".to_owned();
        }
        attrs
    }

    /// A resource question (for reviews and impersonation checks).
    pub fn resource(user: UserInfo, verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Self {
        Attributes {
            user,
            verb: verb.to_owned(),
            resource_request: true,
            api_group: group.to_owned(),
            resource: resource.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            ..Default::default()
        }
    }

    /// The 403 Forbidden refusing this request, worded as kube-apiserver words it
    /// (`pods "x" is forbidden: User "bob" cannot delete resource "pods" in API group
    /// "" in the namespace "x"`), with the authorizer's `reason` appended when there is
    /// one.
    pub fn forbidden(&self, reason: &str) -> ApiError {
        let mut msg = self.denial();
        if !reason.is_empty() {
            msg = format!("{msg}: {reason}");
        }
        let (group, resource, name) = if self.resource_request {
            (self.api_group.as_str(), self.resource.as_str(), self.name.as_str())
        } else {
            ("", "", "")
        };
        let message = if group.is_empty() && resource.is_empty() {
            format!("forbidden: {msg}")
        } else {
            let qualified = if group.is_empty() { resource.to_owned() } else { format!("{resource}.{group}") };
            if name.is_empty() {
                format!("{qualified} is forbidden: {msg}")
            } else {
                format!("{qualified} {} is forbidden: {msg}", go_quote(name))
            }
        };
        let mut details = serde_json::Map::new();
        for (key, value) in [("name", name), ("group", group), ("kind", resource)] {
            if !value.is_empty() {
                details.insert(key.to_owned(), value.into());
            }
        }
        ApiError { code: 403, reason: "Forbidden".into(), message, details: Some(details.into()) }
    }

    /// `User "bob" cannot ...`: kube's description of what was refused.
    fn denial(&self) -> String {
        let user = go_quote(&self.user.name);
        if !self.resource_request {
            return format!("User {user} cannot {} path {}", self.verb, go_quote(&self.path));
        }
        let mut resource = self.resource.clone();
        if !self.subresource.is_empty() {
            resource = format!("{resource}/{}", self.subresource);
        }
        let (resource, group) = (go_quote(&resource), go_quote(&self.api_group));
        if self.namespace.is_empty() {
            format!("User {user} cannot {} resource {resource} in API group {group} at the cluster scope", self.verb)
        } else {
            let ns = go_quote(&self.namespace);
            format!("User {user} cannot {} resource {resource} in API group {group} in the namespace {ns}", self.verb)
        }
    }
}

/// `watch` and a `metadata.name` field-selector value from a list request's query,
/// read as kube reads ListOptions (a malformed `watch` means list).
fn list_options(query: Option<&str>) -> (bool, Option<String>) {
    let mut watch = false;
    let mut name = None;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "watch" => watch = matches!(value.as_ref(), "1" | "t" | "T" | "true" | "TRUE" | "True"),
            "fieldSelector" => {
                name = value.split(',').find_map(|term| {
                    let v = term.trim().strip_prefix("metadata.name")?.trim_start();
                    let v = v.strip_prefix("==").or_else(|| v.strip_prefix('='))?;
                    Some(v.trim().to_owned())
                });
                name = name.filter(|n| valid_path_segment(n));
            }
            _ => {}
        }
    }
    (watch, name)
}

/// kube's `IsValidPathSegmentName`.
fn valid_path_segment(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('%')
}

/// A string quoted as Go's `%q` quotes it (for the printable names that occur here:
/// backslash and double quote escaped, control characters as escapes).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> UserInfo {
        UserInfo { name: "bob".into(), ..Default::default() }
    }

    fn attrs(method: Method, path: &str, query: Option<&str>) -> Attributes {
        Attributes::from_request(bob(), &method, path, query)
    }

    fn summary(a: &Attributes) -> (String, String, String, String, String, String) {
        (
            a.verb.clone(),
            a.api_group.clone(),
            a.namespace.clone(),
            a.resource.clone(),
            a.subresource.clone(),
            a.name.clone(),
        )
    }

    fn s(v: [&str; 6]) -> (String, String, String, String, String, String) {
        (v[0].into(), v[1].into(), v[2].into(), v[3].into(), v[4].into(), v[5].into())
    }

    #[test]
    fn resource_requests() {
        let a = attrs(Method::GET, "/api/v1/namespaces/x/pods/y", None);
        assert!(a.resource_request);
        assert_eq!(summary(&a), s(["get", "", "x", "pods", "", "y"]));
        assert_eq!(summary(&attrs(Method::GET, "/api/v1/pods", None)), s(["list", "", "", "pods", "", ""]));
        assert_eq!(
            summary(&attrs(Method::GET, "/apis/apps/v1/namespaces/x/deployments", Some("watch=true"))),
            s(["watch", "apps", "x", "deployments", "", ""])
        );
        assert_eq!(
            summary(&attrs(
                Method::GET,
                "/api/v1/namespaces/x/pods",
                Some("watch=1&fieldSelector=metadata.name%3Dweb")
            )),
            s(["watch", "", "x", "pods", "", "web"])
        );
        assert_eq!(
            summary(&attrs(Method::GET, "/api/v1/watch/namespaces/x/pods/web", None)),
            s(["watch", "", "x", "pods", "", "web"])
        );
        assert_eq!(
            summary(&attrs(Method::DELETE, "/api/v1/namespaces/x/pods", None)),
            s(["deletecollection", "", "x", "pods", "", ""])
        );
        assert_eq!(
            summary(&attrs(Method::PATCH, "/apis/apps/v1/namespaces/x/deployments/d/scale", None)),
            s(["patch", "apps", "x", "deployments", "scale", "d"])
        );
        assert_eq!(
            summary(&attrs(Method::GET, "/api/v1/namespaces/x", None)),
            s(["get", "", "x", "namespaces", "", "x"])
        );
        assert_eq!(
            summary(&attrs(Method::PUT, "/api/v1/namespaces/x/finalize", None)),
            s(["update", "", "x", "namespaces", "finalize", "x"])
        );
        assert_eq!(
            summary(&attrs(Method::POST, "/api/v1/namespaces", None)),
            s(["create", "", "", "namespaces", "", ""])
        );
        assert_eq!(summary(&attrs(Method::GET, "/api/v1/nodes/n1", None)), s(["get", "", "", "nodes", "", "n1"]));
        assert_eq!(summary(&attrs(Method::HEAD, "/api/v1/nodes/n1", None)), s(["get", "", "", "nodes", "", "n1"]));
    }

    #[test]
    fn non_resource_requests() {
        for path in ["/api", "/api/v1", "/apis", "/apis/apps", "/apis/apps/v1", "/healthz", "/version", "/metrics", "/"]
        {
            let a = attrs(Method::GET, path, None);
            assert!(!a.resource_request, "{path}");
            assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", path));
        }
        assert_eq!(attrs(Method::POST, "/metrics", None).verb, "post");
    }

    #[test]
    fn forbidden_wording() {
        let m = |a: Attributes| a.forbidden("").message;
        assert_eq!(
            m(attrs(Method::DELETE, "/api/v1/namespaces/x/pods/y", None)),
            r#"pods "y" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "x""#
        );
        assert_eq!(
            m(attrs(Method::GET, "/api/v1/nodes", None)),
            r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope"#
        );
        assert_eq!(
            m(attrs(Method::GET, "/apis/apps/v1/namespaces/x/deployments/d/scale", None)),
            r#"deployments.apps "d" is forbidden: User "bob" cannot get resource "deployments/scale" in API group "apps" in the namespace "x""#
        );
        assert_eq!(m(attrs(Method::GET, "/metrics", None)), r#"forbidden: User "bob" cannot get path "/metrics""#);
        let e = attrs(Method::GET, "/api/v1/namespaces/x/pods/y/log", None).forbidden("RBAC: oops");
        assert!(e
            .message
            .ends_with(r#"cannot get resource "pods/log" in API group "" in the namespace "x": RBAC: oops"#));
        assert_eq!(e.details, Some(serde_json::json!({"name": "y", "kind": "pods"})));
        assert_eq!(attrs(Method::GET, "/metrics", None).forbidden("").details, Some(serde_json::json!({})));
        assert_eq!(go_quote("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
