//! Path parsing: which endpoint a request path names.
//!
//! Resource paths are `/api/v1/...` (core group) and `/apis/<group>/<version>/...`,
//! followed by `[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]`, the namespace
//! objects themselves (`namespaces/<name>[/status|/finalize]`), and the legacy watch
//! form `watch/[namespaces/<ns>/]<plural>[/<name>]`. Everything else is discovery,
//! `/version`, health, or 404. Segments are percent-decoded one by one; bad encodings
//! are 400, unknown resources 404. The HTTP method turns a [`ResourcePath`] into an
//! [`api::Verb`](crate::api::Verb) in [`ResourcePath::verb`].

use std::sync::Arc;

use http::Method;

use super::status;
use crate::api::{ApiError, ResourceInfo, Verb};
use crate::catalog::{self, Catalog};

/// The endpoint a path names.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// `/healthz`, `/livez`, `/readyz` (and their `/...` sub-checks).
    Health,
    /// `/version`.
    Version,
    /// `/metrics` (Prometheus text).
    Metrics,
    /// `/api`: core versions.
    CoreVersions,
    /// `/apis`: the group list.
    Groups,
    /// `/apis/<group>`.
    Group(String),
    /// `/api/v1` or `/apis/<group>/<version>`: the resource list.
    Resources {
        /// Group; empty for core.
        group: String,
        /// Version.
        version: String,
    },
    /// A resource collection, object or subresource.
    Resource(ResourcePath),
    /// A path below a group/version no API serves: kube-apiserver hands it to Go's
    /// `http.NotFound` (plain text `404 page not found`), not to an API's 404 Status.
    NotFoundPage,
}

/// A parsed resource path.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourcePath {
    /// The resource.
    pub resource: Arc<ResourceInfo>,
    /// Namespace, for namespaced paths.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource.
    pub subresource: Option<String>,
    /// The legacy `/watch/` prefix was used.
    pub legacy_watch: bool,
}

impl ResourcePath {
    /// The verb for `method` on this path; `watch` is the `?watch=` query flag.
    /// Methods the path (or the resource's verbs) does not serve give 405.
    pub fn verb(&self, method: &Method, watch: bool) -> Result<Verb, ApiError> {
        let one = self.name.is_some();
        let verb = if self.legacy_watch {
            if *method != Method::GET {
                return Err(status::method_not_allowed());
            }
            Verb::Watch
        } else if self.subresource.is_some() {
            match *method {
                Method::GET => Verb::Get,
                Method::POST => Verb::Create,
                Method::PUT => Verb::Update,
                Method::PATCH => Verb::Patch,
                Method::DELETE => Verb::Delete,
                _ => return Err(status::method_not_allowed()),
            }
        } else {
            match (method, one) {
                (&Method::GET, _) if watch => Verb::Watch,
                (&Method::GET, true) => Verb::Get,
                (&Method::GET, false) => Verb::List,
                (&Method::POST, false) => Verb::Create,
                (&Method::PUT, true) => Verb::Update,
                (&Method::PATCH, true) => Verb::Patch,
                (&Method::DELETE, true) => Verb::Delete,
                (&Method::DELETE, false) => Verb::DeleteCollection,
                _ => return Err(status::method_not_allowed()),
            }
        };
        let name = verb_name(verb);
        let served = match &self.subresource {
            Some(sub) => catalog::subresources(&self.resource).iter().any(|s| s.name == sub && s.verbs.contains(&name)),
            None => self.resource.verbs.iter().any(|v| v == name),
        };
        if served {
            Ok(verb)
        } else {
            Err(status::method_not_allowed())
        }
    }
}

/// The discovery/authorization name of a verb.
pub fn verb_name(verb: Verb) -> &'static str {
    match verb {
        Verb::Get => "get",
        Verb::List => "list",
        Verb::Watch => "watch",
        Verb::Create => "create",
        Verb::Update => "update",
        Verb::Patch => "patch",
        Verb::Delete => "delete",
        Verb::DeleteCollection => "deletecollection",
    }
}

/// Parse a request path (without the query).
pub fn route(catalog: &Catalog, path: &str) -> Result<Route, ApiError> {
    let trimmed = path.strip_prefix('/').ok_or_else(status::not_found_path)?;
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let segments: Vec<String> = if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed
            .split('/')
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| status::bad_request(format!("invalid percent-encoding in path {path:?}")))
            })
            .collect::<Result<_, _>>()?
    };
    if segments.iter().any(String::is_empty) {
        return Err(status::not_found_path());
    }
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["healthz" | "livez" | "readyz", ..] => Ok(Route::Health),
        ["version"] => Ok(Route::Version),
        ["metrics"] => Ok(Route::Metrics),
        ["api"] => Ok(Route::CoreVersions),
        ["apis"] => Ok(Route::Groups),
        ["api", version, rest @ ..] => resource_route(catalog, "", version, rest),
        ["apis", group] if catalog.group(group).is_some() && !group.is_empty() => Ok(Route::Group((*group).to_owned())),
        ["apis", group, version, rest @ ..] if !group.is_empty() => resource_route(catalog, group, version, rest),
        _ => Err(status::not_found_path()),
    }
}

fn resource_route(catalog: &Catalog, group: &str, version: &str, rest: &[&str]) -> Result<Route, ApiError> {
    let served = catalog.group(group).is_some_and(|g| g.versions.iter().any(|v| v == version));
    if !served {
        return if rest.is_empty() { Err(status::not_found_path()) } else { Ok(Route::NotFoundPage) };
    }
    let (legacy_watch, rest) = match rest {
        ["watch", rest @ ..] => (true, rest),
        _ => (false, rest),
    };
    let lookup = |plural: &str| catalog.lookup(group, version, plural).cloned();
    let path = |resource, namespace: Option<&str>, name: Option<&str>, sub: Option<&str>| {
        Route::Resource(ResourcePath {
            resource,
            namespace: namespace.map(str::to_owned),
            name: name.map(str::to_owned),
            subresource: sub.map(str::to_owned),
            legacy_watch,
        })
    };
    let route = match rest {
        [] if !legacy_watch => return Ok(Route::Resources { group: group.to_owned(), version: version.to_owned() }),
        // namespaces/<ns>/<plural>[/<name>[/<sub>]] for namespaced resources.
        ["namespaces", ns, plural, tail @ ..] if lookup(plural).is_some_and(|r| r.namespaced) && tail.len() <= 2 => {
            let resource = lookup(plural).ok_or_else(status::not_found_path)?;
            path(resource, Some(ns), tail.first().copied(), tail.get(1).copied())
        }
        // <plural>[/<name>[/<sub>]]: cluster-scoped objects, the namespaces themselves,
        // and all-namespaces lists of namespaced resources (no name then).
        [plural, tail @ ..] if tail.len() <= 2 => {
            let resource = lookup(plural).ok_or_else(status::not_found_path)?;
            if resource.namespaced && !tail.is_empty() {
                return Err(status::not_found_path());
            }
            path(resource, None, tail.first().copied(), tail.get(1).copied())
        }
        _ => return Err(status::not_found_path()),
    };
    if let Route::Resource(p) = &route {
        if let Some(sub) = &p.subresource {
            if legacy_watch || !catalog::subresources(&p.resource).iter().any(|s| s.name == sub) {
                return Err(status::not_found_path());
            }
        }
    }
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::builtin()
    }

    fn res(path: &str) -> ResourcePath {
        match route(&catalog(), path) {
            Ok(Route::Resource(p)) => p,
            other => panic!("{path}: {other:?}"),
        }
    }

    fn code(path: &str) -> u16 {
        match route(&catalog(), path) {
            Err(e) => e.code,
            Ok(Route::NotFoundPage) => 404,
            Ok(r) => panic!("{path}: expected an error, got {r:?}"),
        }
    }

    #[test]
    fn discovery_paths() {
        let c = catalog();
        assert_eq!(route(&c, "/version").unwrap(), Route::Version);
        assert_eq!(route(&c, "/healthz").unwrap(), Route::Health);
        assert_eq!(route(&c, "/readyz/ping").unwrap(), Route::Health);
        assert_eq!(route(&c, "/api").unwrap(), Route::CoreVersions);
        assert_eq!(route(&c, "/api/").unwrap(), Route::CoreVersions);
        assert_eq!(route(&c, "/apis").unwrap(), Route::Groups);
        assert_eq!(route(&c, "/apis/apps").unwrap(), Route::Group("apps".into()));
        assert_eq!(route(&c, "/api/v1").unwrap(), Route::Resources { group: String::new(), version: "v1".into() });
        assert_eq!(
            route(&c, "/apis/apps/v1").unwrap(),
            Route::Resources { group: "apps".into(), version: "v1".into() }
        );
        // Unserved group/version: its own path is an API 404, paths below it Go's page.
        assert_eq!(route(&c, "/apis/apps/v9").unwrap_err().code, 404);
        assert_eq!(route(&c, "/apis/nothing.example.com/v1/things").unwrap(), Route::NotFoundPage);
        assert_eq!(route(&c, "/apis/apps/v9/namespaces/x/deployments").unwrap(), Route::NotFoundPage);
    }

    #[test]
    fn namespaced_paths() {
        let p = res("/api/v1/namespaces/default/pods");
        assert_eq!(
            (p.resource.plural.as_str(), p.namespace.as_deref(), p.name.as_deref()),
            ("pods", Some("default"), None)
        );
        let p = res("/api/v1/namespaces/default/pods/web-1");
        assert_eq!(p.name.as_deref(), Some("web-1"));
        let p = res("/api/v1/namespaces/default/pods/web-1/status");
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let p = res("/api/v1/namespaces/default/pods/web-1/log");
        assert_eq!(p.subresource.as_deref(), Some("log"));
        let p = res("/api/v1/namespaces/ns/pods/web/binding");
        assert_eq!(p.subresource.as_deref(), Some("binding"));
        let p = res("/api/v1/namespaces/ns/pods/web/eviction");
        assert_eq!(p.subresource.as_deref(), Some("eviction"));
        let p = res("/apis/apps/v1/namespaces/default/deployments/web/scale");
        assert_eq!((p.resource.group.as_str(), p.subresource.as_deref()), ("apps", Some("scale")));
        let p = res("/api/v1/pods");
        assert_eq!((p.namespace, p.name), (None, None));
        let p = res("/api/v1/namespaces/a%20b/configmaps/x%2Dy");
        assert_eq!((p.namespace.as_deref(), p.name.as_deref()), (Some("a b"), Some("x-y")));
    }

    #[test]
    fn cluster_and_namespace_paths() {
        let p = res("/api/v1/nodes/n1");
        assert_eq!((p.resource.plural.as_str(), p.name.as_deref()), ("nodes", Some("n1")));
        let p = res("/api/v1/namespaces");
        assert_eq!((p.resource.plural.as_str(), p.name), ("namespaces", None));
        let p = res("/api/v1/namespaces/default");
        assert_eq!((p.resource.plural.as_str(), p.name.as_deref(), p.namespace), ("namespaces", Some("default"), None));
        let p = res("/api/v1/namespaces/default/status");
        assert_eq!(p.subresource.as_deref(), Some("status"));
        let p = res("/api/v1/namespaces/default/finalize");
        assert_eq!(p.subresource.as_deref(), Some("finalize"));
        let p = res("/apis/rbac.authorization.k8s.io/v1/clusterroles/admin");
        assert_eq!(p.name.as_deref(), Some("admin"));
    }

    #[test]
    fn legacy_watch_paths() {
        let p = res("/api/v1/watch/namespaces/default/pods");
        assert!(p.legacy_watch);
        assert_eq!(p.namespace.as_deref(), Some("default"));
        let p = res("/api/v1/watch/namespaces/default/pods/web");
        assert_eq!(p.name.as_deref(), Some("web"));
        let p = res("/api/v1/watch/pods");
        assert!(p.legacy_watch && p.namespace.is_none());
        let p = res("/apis/apps/v1/watch/deployments");
        assert!(p.legacy_watch);
        assert_eq!(p.verb(&Method::GET, false).unwrap(), Verb::Watch);
        assert_eq!(code("/api/v1/watch/namespaces/default/pods/web/status"), 404);
        assert_eq!(code("/api/v1/watch"), 404);
    }

    #[test]
    fn verbs_from_methods() {
        let coll = res("/api/v1/namespaces/default/pods");
        let one = res("/api/v1/namespaces/default/pods/a");
        assert_eq!(coll.verb(&Method::GET, false).unwrap(), Verb::List);
        assert_eq!(coll.verb(&Method::GET, true).unwrap(), Verb::Watch);
        assert_eq!(one.verb(&Method::GET, true).unwrap(), Verb::Watch);
        assert_eq!(coll.verb(&Method::POST, false).unwrap(), Verb::Create);
        assert_eq!(coll.verb(&Method::DELETE, false).unwrap(), Verb::DeleteCollection);
        assert_eq!(one.verb(&Method::GET, false).unwrap(), Verb::Get);
        assert_eq!(one.verb(&Method::PUT, false).unwrap(), Verb::Update);
        assert_eq!(one.verb(&Method::PATCH, false).unwrap(), Verb::Patch);
        assert_eq!(one.verb(&Method::DELETE, false).unwrap(), Verb::Delete);
        assert_eq!(one.verb(&Method::POST, false).unwrap_err().code, 405);
        assert_eq!(coll.verb(&Method::PUT, false).unwrap_err().code, 405);
        assert_eq!(coll.verb(&Method::OPTIONS, false).unwrap_err().code, 405);
        let status = res("/api/v1/namespaces/default/pods/a/status");
        assert_eq!(status.verb(&Method::PUT, false).unwrap(), Verb::Update);
        assert_eq!(status.verb(&Method::DELETE, false).unwrap_err().code, 405);
        let binding = res("/api/v1/namespaces/default/pods/a/binding");
        assert_eq!(binding.verb(&Method::POST, false).unwrap(), Verb::Create);
        let reviews = res("/apis/authentication.k8s.io/v1/tokenreviews");
        assert_eq!(reviews.verb(&Method::POST, false).unwrap(), Verb::Create);
        assert_eq!(reviews.verb(&Method::GET, false).unwrap_err().code, 405);
    }

    #[test]
    fn malformed_paths() {
        assert_eq!(code("/api/v1/namespaces/%ff/pods"), 400);
        assert_eq!(code(""), 404);
        assert_eq!(code("api/v1"), 404);
        assert_eq!(code("/"), 404);
        assert_eq!(code("/api/v2"), 404);
        assert_eq!(code("/api/v1/nosuch"), 404);
        assert_eq!(code("/api/v1/pods/x"), 404);
        assert_eq!(code("/api/v1/namespaces/default/nodes/x"), 404);
        assert_eq!(code("/api/v1/namespaces/default/pods/a/nosuch"), 404);
        assert_eq!(code("/api/v1/namespaces/default/pods/a/status/extra"), 404);
        assert_eq!(code("/api/v1//pods"), 404);
        assert_eq!(code("/apis/nosuch.io"), 404);
        assert_eq!(code("/apis/apps/v9/deployments"), 404);
        assert_eq!(code("/apis//v1"), 404);
        assert_eq!(code("/apis/autoscaling/v1/scale"), 404);
        assert_eq!(code("/openapi/v2"), 404);
        assert_eq!(code("/api/v1/namespaces/default/deployments/x/scale"), 404);
        let long = format!("/api/v1/{}", "a/".repeat(10_000));
        assert_eq!(code(&long), 404);
    }
}
