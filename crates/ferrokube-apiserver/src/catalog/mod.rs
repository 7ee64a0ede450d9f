//! The table of served resources: what `/api/v1/pods` or `/apis/apps/v1/deployments`
//! means, and what discovery advertises.
//!
//! The rows are generated from k8s-openapi's types by `gen/gen_catalog.py` into
//! [`generated`]; this module turns them into shared [`ResourceInfo`]s (the type the
//! [`crate::api`] seam carries to the registry), indexes them by group/version/plural for
//! the router, and lists groups and versions in preference order for discovery.
//!
//! The catalog is dynamic: [`SharedCatalog`] holds the current [`Catalog`] snapshot
//! (built-in rows plus the custom resources of established CRDs, see
//! `apiextensions`) and swaps in a new one when a CRD is created, changed or
//! deleted. Handlers take one snapshot per request (an `Arc` clone under a read lock),
//! so lookups stay cheap and a request sees one consistent table.

#[rustfmt::skip]
pub mod generated;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::api::ResourceInfo;
use crate::apiextensions::CustomResourceVersion;

/// One generated catalog row, with static strings (see [`generated::RESOURCES`]).
#[derive(Clone, Copy, Debug)]
pub struct ResourceDef {
    /// API group; empty for the core group.
    pub group: &'static str,
    /// Version, e.g. `v1`.
    pub version: &'static str,
    /// Plural name used in URLs.
    pub plural: &'static str,
    /// Singular name (lowercased kind).
    pub singular: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Verbs served on the resource itself.
    pub verbs: &'static [&'static str],
    /// Short names, e.g. `po`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Whether the `status` subresource is served.
    pub has_status: bool,
    /// Whether the `scale` subresource is served.
    pub has_scale: bool,
}

impl ResourceDef {
    fn to_info(self) -> ResourceInfo {
        let strings = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect();
        ResourceInfo {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            plural: self.plural.to_owned(),
            singular: self.singular.to_owned(),
            kind: self.kind.to_owned(),
            namespaced: self.namespaced,
            short_names: strings(self.short_names),
            categories: strings(self.categories),
            verbs: strings(self.verbs),
            has_status: self.has_status,
            has_scale: self.has_scale,
        }
    }
}

/// A subresource as discovery shows it (`pods/status`, `deployments/scale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subresource {
    /// Subresource name, e.g. `status`.
    pub name: &'static str,
    /// Group of the object the subresource accepts and returns.
    pub group: &'static str,
    /// Version of that object; `None` means the parent's version.
    pub version: Option<&'static str>,
    /// Kind of that object; `None` means the parent's kind.
    pub kind: Option<&'static str>,
    /// Verbs served.
    pub verbs: &'static [&'static str],
}

const GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];

/// The subresources served for `resource`, in the order discovery lists them.
pub fn subresources(resource: &ResourceInfo) -> Vec<Subresource> {
    let mut out = Vec::new();
    let same = |name, verbs| Subresource { name, group: "", version: None, kind: None, verbs };
    let core = resource.group.is_empty();
    match (core, resource.plural.as_str()) {
        (true, "pods") => {
            out.push(Subresource {
                name: "binding",
                group: "",
                version: Some("v1"),
                kind: Some("Binding"),
                verbs: &["create"],
            });
            out.push(Subresource {
                name: "ephemeralcontainers",
                group: "",
                version: Some("v1"),
                kind: Some("Pod"),
                verbs: GET_PATCH_UPDATE,
            });
            out.push(Subresource {
                name: "eviction",
                group: "policy",
                version: Some("v1"),
                kind: Some("Eviction"),
                verbs: &["create"],
            });
            out.push(Subresource { name: "log", group: "", version: Some("v1"), kind: Some("Pod"), verbs: &["get"] });
        }
        (true, "namespaces") => out.push(same("finalize", &["update"])),
        (false, "certificatesigningrequests") if resource.group == "certificates.k8s.io" => {
            out.push(same("approval", GET_PATCH_UPDATE))
        }
        (true, "serviceaccounts") => out.push(Subresource {
            name: "token",
            group: "authentication.k8s.io",
            version: Some("v1"),
            kind: Some("TokenRequest"),
            verbs: &["create"],
        }),
        _ => {}
    }
    if resource.has_scale {
        out.push(Subresource {
            name: "scale",
            group: "autoscaling",
            version: Some("v1"),
            kind: Some("Scale"),
            verbs: GET_PATCH_UPDATE,
        });
    }
    if resource.has_status {
        out.push(same("status", GET_PATCH_UPDATE));
    }
    out
}

/// One API group with its served versions, preferred first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupVersions {
    /// Group name; empty for the core group.
    pub group: String,
    /// Versions, preferred (GA > beta > alpha) first.
    pub versions: Vec<String>,
}

/// The served resources, indexed for routing and discovery.
#[derive(Debug)]
pub struct Catalog {
    resources: Vec<Arc<ResourceInfo>>,
    by_gvr: HashMap<(String, String, String), Arc<ResourceInfo>>,
    groups: Vec<GroupVersions>,
    builtin_len: usize,
    /// Custom resources by group, then `version/plural`.
    custom: HashMap<String, HashMap<String, Arc<CustomResourceVersion>>>,
}

impl Catalog {
    /// The built-in resources of Kubernetes 1.37 (from [`generated::RESOURCES`]).
    pub fn builtin() -> Catalog {
        Catalog::from_resources(generated::RESOURCES.iter().map(|d| d.to_info()))
    }

    /// A catalog of the given resources (in the order discovery lists them).
    pub fn from_resources(resources: impl IntoIterator<Item = ResourceInfo>) -> Catalog {
        let resources: Vec<Arc<ResourceInfo>> = resources.into_iter().map(Arc::new).collect();
        let mut by_gvr = HashMap::new();
        let mut groups: Vec<GroupVersions> = Vec::new();
        for r in &resources {
            by_gvr.insert((r.group.clone(), r.version.clone(), r.plural.clone()), r.clone());
            match groups.iter_mut().find(|g| g.group == r.group) {
                Some(g) => {
                    if !g.versions.contains(&r.version) {
                        g.versions.push(r.version.clone());
                    }
                }
                None => groups.push(GroupVersions { group: r.group.clone(), versions: vec![r.version.clone()] }),
            }
        }
        for g in &mut groups {
            g.versions.sort_by_key(|v| version_priority(v));
        }
        sort_groups(&mut groups);
        let builtin_len = resources.len();
        Catalog { resources, by_gvr, groups, builtin_len, custom: HashMap::new() }
    }

    /// This catalog's built-in rows plus `custom` resources (listed after them; a custom
    /// resource whose group/version/plural a built-in row serves is left out).
    pub fn with_custom(&self, custom: impl IntoIterator<Item = Arc<CustomResourceVersion>>) -> Catalog {
        let builtin: Vec<ResourceInfo> = self.builtin_resources().iter().map(|r| (**r).clone()).collect();
        let mut next = Catalog::from_resources(builtin);
        // Keep the built-in Arcs stable across snapshots.
        next.resources = self.builtin_resources().to_vec();
        for r in &next.resources {
            next.by_gvr.insert((r.group.clone(), r.version.clone(), r.plural.clone()), r.clone());
        }
        for c in custom {
            let r = &c.resource;
            let key = (r.group.clone(), r.version.clone(), r.plural.clone());
            if next.by_gvr.contains_key(&key) {
                continue;
            }
            next.by_gvr.insert(key, r.clone());
            next.resources.push(r.clone());
            match next.groups.iter_mut().find(|g| g.group == r.group) {
                Some(g) => {
                    if !g.versions.contains(&r.version) {
                        g.versions.push(r.version.clone());
                        g.versions.sort_by_key(|v| version_priority(v));
                    }
                }
                None => next.groups.push(GroupVersions { group: r.group.clone(), versions: vec![r.version.clone()] }),
            }
            sort_groups(&mut next.groups);
            next.custom.entry(r.group.clone()).or_default().insert(format!("{}/{}", r.version, r.plural), c.clone());
        }
        next
    }

    /// The built-in rows (those the catalog was built from, before custom resources).
    pub fn builtin_resources(&self) -> &[Arc<ResourceInfo>] {
        &self.resources[..self.builtin_len]
    }

    /// The custom resource served at `group/version/plural`, if it is one.
    pub fn custom(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<CustomResourceVersion>> {
        let versions = self.custom.get(group)?;
        versions.get(&format!("{version}/{plural}"))
    }

    /// Every served custom resource version (for OpenAPI: each carries its CRD's
    /// `openAPIV3Schema`), grouped by group.
    pub fn custom_versions(&self) -> impl Iterator<Item = &Arc<CustomResourceVersion>> + '_ {
        self.custom.values().flat_map(HashMap::values)
    }

    /// The resource served at `group/version/plural`.
    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceInfo>> {
        self.by_gvr.get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
    }

    /// All resources, core group first.
    pub fn resources(&self) -> &[Arc<ResourceInfo>] {
        &self.resources
    }

    /// Resources of one group/version.
    pub fn resources_in<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceInfo>> + 'a {
        self.resources.iter().filter(move |r| r.group == group && r.version == version)
    }

    /// Groups in kube's discovery order (core first, then by kube's group priorities and
    /// name) with their versions, preferred first.
    pub fn groups(&self) -> &[GroupVersions] {
        &self.groups
    }

    /// One group.
    pub fn group(&self, group: &str) -> Option<&GroupVersions> {
        self.groups.iter().find(|g| g.group == group)
    }
}

/// The catalog shared by handlers and the registry: the current [`Catalog`] snapshot,
/// replaced as CRDs come and go.
#[derive(Debug)]
pub struct SharedCatalog {
    current: RwLock<Arc<Catalog>>,
}

impl SharedCatalog {
    /// A shared catalog starting with `catalog`.
    pub fn new(catalog: Catalog) -> SharedCatalog {
        SharedCatalog { current: RwLock::new(Arc::new(catalog)) }
    }

    /// A shared catalog of the built-in resources.
    pub fn builtin() -> SharedCatalog {
        SharedCatalog::new(Catalog::builtin())
    }

    /// The current snapshot (cheap: an `Arc` clone).
    pub fn snapshot(&self) -> Arc<Catalog> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the custom resources served (the built-in rows stay).
    pub fn set_custom(&self, custom: impl IntoIterator<Item = Arc<CustomResourceVersion>>) {
        let next = Arc::new(self.snapshot().with_custom(custom));
        match self.current.write() {
            Ok(mut c) => *c = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }

    /// The served versions of every established CRD, each with its resource and
    /// `openAPIV3Schema` (for the OpenAPI documents).
    pub fn custom_versions(&self) -> Vec<Arc<CustomResourceVersion>> {
        let mut out: Vec<_> = self.snapshot().custom_versions().cloned().collect();
        out.sort_by(|a, b| {
            (&a.resource.group, &a.resource.plural, &a.resource.version).cmp(&(
                &b.resource.group,
                &b.resource.plural,
                &b.resource.version,
            ))
        });
        out
    }
}

impl Default for SharedCatalog {
    fn default() -> Self {
        SharedCatalog::builtin()
    }
}

/// The discovery priority kube-apiserver gives each built-in group (its aggregator's
/// `APIServicePriority.Group`; the higher, the earlier `/apis` lists the group). The
/// aggregator's own group comes first; groups not listed (custom resources) get 1000,
/// as kube's CRD registration gives them.
const GROUP_PRIORITIES: &[(&str, i32)] = &[
    ("", 18001),
    ("apiregistration.k8s.io", 18000),
    ("apps", 17800),
    ("events.k8s.io", 17750),
    ("authentication.k8s.io", 17700),
    ("authorization.k8s.io", 17600),
    ("autoscaling", 17500),
    ("batch", 17400),
    ("certificates.k8s.io", 17300),
    ("networking.k8s.io", 17200),
    ("policy", 17100),
    ("rbac.authorization.k8s.io", 17000),
    ("storage.k8s.io", 16800),
    ("admissionregistration.k8s.io", 16700),
    ("apiextensions.k8s.io", 16700),
    ("scheduling.k8s.io", 16600),
    ("coordination.k8s.io", 16500),
    ("node.k8s.io", 16300),
    ("discovery.k8s.io", 16200),
    ("resource.k8s.io", 16200),
    ("flowcontrol.apiserver.k8s.io", 16100),
    ("internal.apiserver.k8s.io", 16000),
    ("storagemigration.k8s.io", 15800),
    ("lifecycle.k8s.io", 15700),
];

/// Orders groups as kube's discovery does: by priority ([`GROUP_PRIORITIES`]), highest
/// first, then by name.
fn sort_groups(groups: &mut [GroupVersions]) {
    let priority = |g: &str| GROUP_PRIORITIES.iter().find(|(name, _)| *name == g).map_or(1000, |(_, p)| *p);
    groups.sort_by(|a, b| priority(&b.group).cmp(&priority(&a.group)).then_with(|| a.group.cmp(&b.group)));
}

/// Sort key of a version in kube's preference order: GA, then beta, then alpha; a higher
/// number first within each; anything else last.
pub fn version_priority(version: &str) -> (u8, i64, i64) {
    let Some(rest) = version.strip_prefix('v') else {
        return (3, 0, 0);
    };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let Ok(major) = rest[..digits].parse::<i64>() else {
        return (3, 0, 0);
    };
    let tail = &rest[digits..];
    let (stage, minor) = if tail.is_empty() {
        (0, "0")
    } else if let Some(m) = tail.strip_prefix("beta") {
        (1, m)
    } else if let Some(m) = tail.strip_prefix("alpha") {
        (2, m)
    } else {
        return (3, 0, 0);
    };
    match minor.parse::<i64>() {
        Ok(minor) => (stage, -major, -minor),
        Err(_) => (3, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_core_and_apps() {
        let c = Catalog::builtin();
        let pods = c.lookup("", "v1", "pods").unwrap();
        assert!(pods.namespaced && pods.has_status && !pods.has_scale);
        assert_eq!(pods.short_names, ["po"]);
        assert_eq!(pods.categories, ["all"]);
        let deploy = c.lookup("apps", "v1", "deployments").unwrap();
        assert!(deploy.has_scale);
        assert!(!c.lookup("", "v1", "nodes").unwrap().namespaced);
        assert_eq!(c.lookup("", "v1", "bindings").unwrap().verbs, ["create"]);
        assert_eq!(c.lookup("authentication.k8s.io", "v1", "tokenreviews").unwrap().verbs, ["create"]);
        assert!(c.lookup("autoscaling", "v1", "scale").is_none());
        assert_eq!(c.groups()[0].group, "");
    }

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v1beta1", "v2", "v1", "v1beta2", "v2beta1"];
        v.sort_by_key(|v| version_priority(v));
        assert_eq!(v, ["v2", "v1", "v2beta1", "v1beta2", "v1beta1", "v1alpha1"]);
    }
}
