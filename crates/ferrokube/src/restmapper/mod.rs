//! `restmapper`: kinds to resources and back (client-go `restmapper` and
//! apimachinery's `meta.RESTMapper`).
//!
//! Manifests name a *kind* (`apps/v1`, `Deployment`); URLs need a *resource*
//! (`deployments`) and whether it is namespaced. Users type resources the kubectl way:
//! plural (`deployments`), singular (`deployment`), short name (`deploy`, `po`), with
//! or without group (`deployments.apps`) or version (`deployments.v1.apps`). A
//! [`RESTMapper`] answers these questions from a discovery snapshot; the
//! [`DeferredDiscoveryRESTMapper`] loads that snapshot lazily from a (cached)
//! [`CachedDiscovery`] source and, on a miss,
//! invalidates discovery once and retries, so a CRD created after the cache was filled
//! is found.
//!
//! When several groups or versions match, discovery order decides (client-go's
//! priority mapper): the preferred version of every group in server order (core
//! first), then the other versions. Exact names win over short names.
//!
//! ```no_run
//! # async fn run(config: ferrokube::rest::Config) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use ferrokube::discovery::{DiscoveryClient, MemCacheClient};
//! use ferrokube::restmapper::DeferredDiscoveryRESTMapper;
//! use ferrokube::schema::GroupKind;
//!
//! let cached = Arc::new(MemCacheClient::new(DiscoveryClient::new(&config)?));
//! let mapper = DeferredDiscoveryRESTMapper::new(cached);
//! let m = mapper.rest_mapping(&GroupKind::new("apps", "Deployment"), &[]).await?;
//! assert_eq!(m.resource.resource, "deployments");
//! let po = mapper.find("po").await?;
//! assert!(po.namespaced());
//! # Ok(()) }
//! ```

use std::sync::Arc;

use crate::discovery::{CachedDiscovery, Discovery};
use crate::schema::{GroupKind, GroupVersionKind, GroupVersionResource};

/// Whether a resource lives in namespaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Objects live in a namespace.
    Namespace,
    /// Objects are cluster-wide.
    Cluster,
}

/// How one kind maps to one resource (apimachinery `meta.RESTMapping`, plus the names
/// a user may type).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RESTMapping {
    /// The resource (plural) at a group version.
    pub resource: GroupVersionResource,
    /// The kind at the same group version.
    pub gvk: GroupVersionKind,
    /// Namespaced or cluster-scoped.
    pub scope: Scope,
    /// Singular name, e.g. `deployment`.
    pub singular: String,
    /// Short names, e.g. `deploy`.
    pub short_names: Vec<String>,
    /// Verbs the resource supports.
    pub verbs: Vec<String>,
}

impl RESTMapping {
    /// True for namespaced resources.
    pub fn namespaced(&self) -> bool {
        self.scope == Scope::Namespace
    }
}

/// Why a lookup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MapError {
    /// Nothing matches (apimachinery `NoKindMatchError` / `NoResourceMatchError`).
    #[error("no matches for {what}")]
    NoMatch {
        /// What was looked up.
        what: String,
    },
    /// Discovery failed, so nothing could be looked up.
    #[error("discovery failed: {0}")]
    Discovery(#[from] crate::rest::Error),
}

impl MapError {
    /// True when nothing matched (as opposed to discovery failing).
    pub fn is_no_match(&self) -> bool {
        matches!(self, MapError::NoMatch { .. })
    }
}

/// A RESTMapper over one discovery snapshot (client-go `NewDiscoveryRESTMapper`).
#[derive(Clone, Debug, Default)]
pub struct RESTMapper {
    /// All mappings, in priority order.
    mappings: Vec<RESTMapping>,
}

impl RESTMapper {
    /// Builds the mapper from a discovery snapshot; subresources are left out.
    pub fn from_discovery(d: &Discovery) -> Self {
        let mut order: Vec<(String, String)> = Vec::new(); // (group, groupVersion)
        for g in &d.groups {
            if let Some(p) = g.preferred_version.as_ref().or(g.versions.first()) {
                order.push((g.name.clone(), p.group_version.clone()));
            }
        }
        for g in &d.groups {
            for v in &g.versions {
                if !order.iter().any(|(_, gv)| *gv == v.group_version) {
                    order.push((g.name.clone(), v.group_version.clone()));
                }
            }
        }
        let mut mappings = Vec::new();
        for (group, gv) in order {
            let Some(list) = d.resources.get(&gv) else { continue };
            let version = gv.rsplit('/').next().unwrap_or(&gv).to_owned();
            for r in list.resources.iter().filter(|r| !r.name.contains('/')) {
                let kind_group = r.group.clone().unwrap_or_else(|| group.clone());
                let kind_version = r.version.clone().filter(|v| !v.is_empty()).unwrap_or_else(|| version.clone());
                let singular = if r.singular_name.is_empty() { r.kind.to_lowercase() } else { r.singular_name.clone() };
                mappings.push(RESTMapping {
                    resource: GroupVersionResource::new(&group, &version, &r.name),
                    gvk: GroupVersionKind::new(kind_group, kind_version, &r.kind),
                    scope: if r.namespaced { Scope::Namespace } else { Scope::Cluster },
                    singular,
                    short_names: r.short_names.clone().unwrap_or_default(),
                    verbs: r.verbs.clone(),
                });
            }
        }
        RESTMapper { mappings }
    }

    /// All mappings, in priority order.
    pub fn mappings(&self) -> &[RESTMapping] {
        &self.mappings
    }

    /// The mapping of a kind (apimachinery `RESTMapping(gk, versions...)`): the first
    /// of `versions` that the server serves, or the preferred version when `versions`
    /// is empty.
    pub fn rest_mapping(&self, gk: &GroupKind, versions: &[&str]) -> Result<RESTMapping, MapError> {
        let candidates: Vec<&RESTMapping> =
            self.mappings.iter().filter(|m| m.gvk.group == gk.group && m.gvk.kind == gk.kind).collect();
        let found = if versions.is_empty() {
            candidates.first().copied()
        } else {
            versions.iter().find_map(|v| candidates.iter().find(|m| m.gvk.version == *v).copied())
        };
        found.cloned().ok_or_else(|| MapError::NoMatch {
            what: if versions.is_empty() {
                format!("kind {gk}")
            } else {
                format!("kind {gk} in versions {versions:?}")
            },
        })
    }

    /// The mapping of a fully or partly given resource: `group`/`version` may be empty
    /// (= any); `resource` may be plural, singular or a short name (case-insensitive).
    pub fn resource_mapping(&self, partial: &GroupVersionResource) -> Result<RESTMapping, MapError> {
        let name = partial.resource.to_lowercase();
        let fits = |m: &&RESTMapping| {
            (partial.group.is_empty() || m.resource.group == partial.group)
                && (partial.version.is_empty() || m.resource.version == partial.version)
        };
        let exact = self.mappings.iter().filter(fits).find(|m| m.resource.resource == name || m.singular == name);
        let found = exact.or_else(|| self.mappings.iter().filter(fits).find(|m| m.short_names.contains(&name)));
        found.cloned().ok_or_else(|| MapError::NoMatch { what: format!("resource {partial}") })
    }

    /// The kind of a (partial) resource (apimachinery `KindFor`).
    pub fn kind_for(&self, partial: &GroupVersionResource) -> Result<GroupVersionKind, MapError> {
        Ok(self.resource_mapping(partial)?.gvk)
    }

    /// The fully specified resource of a (partial) resource (apimachinery `ResourceFor`).
    pub fn resource_for(&self, partial: &GroupVersionResource) -> Result<GroupVersionResource, MapError> {
        Ok(self.resource_mapping(partial)?.resource)
    }

    /// Resolves a resource as kubectl accepts it on the command line: `pods`, `pod`,
    /// `po`, `deployments.apps`, `deploy.apps`, `deployments.v1.apps`
    /// (apimachinery `ParseResourceArg` + `ResourceFor`).
    pub fn find(&self, arg: &str) -> Result<RESTMapping, MapError> {
        let Some((resource, rest)) = arg.split_once('.') else {
            return self.resource_mapping(&GroupVersionResource::new("", "", arg));
        };
        if let Some((version, group)) = rest.split_once('.') {
            if let Ok(m) = self.resource_mapping(&GroupVersionResource::new(group, version, resource)) {
                return Ok(m);
            }
        }
        self.resource_mapping(&GroupVersionResource::new(rest, "", resource))
            .map_err(|_| MapError::NoMatch { what: format!("resource {arg:?}") })
    }
}

/// A RESTMapper that loads discovery lazily and refreshes it on a miss (client-go
/// `restmapper.DeferredDiscoveryRESTMapper`).
pub struct DeferredDiscoveryRESTMapper {
    discovery: Arc<dyn CachedDiscovery>,
    current: tokio::sync::Mutex<Option<(Arc<Discovery>, Arc<RESTMapper>)>>,
}

impl std::fmt::Debug for DeferredDiscoveryRESTMapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredDiscoveryRESTMapper").finish_non_exhaustive()
    }
}

impl DeferredDiscoveryRESTMapper {
    /// A mapper over `discovery` (a [`MemCacheClient`](crate::discovery::MemCacheClient),
    /// a [`DiskCachedDiscoveryClient`](crate::discovery::DiskCachedDiscoveryClient) or a
    /// plain [`DiscoveryClient`](crate::discovery::DiscoveryClient)).
    pub fn new(discovery: Arc<dyn CachedDiscovery>) -> Self {
        DeferredDiscoveryRESTMapper { discovery, current: tokio::sync::Mutex::new(None) }
    }

    /// The mapper for the current discovery snapshot (rebuilt only when the snapshot
    /// changed).
    pub async fn mapper(&self) -> Result<Arc<RESTMapper>, MapError> {
        let d = self.discovery.discover().await?;
        let mut cur = self.current.lock().await;
        if let Some((snap, mapper)) = cur.as_ref() {
            if Arc::ptr_eq(snap, &d) {
                return Ok(mapper.clone());
            }
        }
        let mapper = Arc::new(RESTMapper::from_discovery(&d));
        *cur = Some((d, mapper.clone()));
        Ok(mapper)
    }

    /// Forgets the discovery data (client-go `Reset`).
    pub fn reset(&self) {
        self.discovery.invalidate();
    }

    async fn with_retry<T>(&self, f: impl Fn(&RESTMapper) -> Result<T, MapError>) -> Result<T, MapError> {
        let mapper = self.mapper().await?;
        match f(&mapper) {
            Err(MapError::NoMatch { .. }) if !self.discovery.fresh() => {
                self.discovery.invalidate();
                f(&*self.mapper().await?)
            }
            other => other,
        }
    }

    /// See [`RESTMapper::rest_mapping`].
    pub async fn rest_mapping(&self, gk: &GroupKind, versions: &[&str]) -> Result<RESTMapping, MapError> {
        self.with_retry(|m| m.rest_mapping(gk, versions)).await
    }

    /// See [`RESTMapper::resource_mapping`].
    pub async fn resource_mapping(&self, partial: &GroupVersionResource) -> Result<RESTMapping, MapError> {
        self.with_retry(|m| m.resource_mapping(partial)).await
    }

    /// See [`RESTMapper::kind_for`].
    pub async fn kind_for(&self, partial: &GroupVersionResource) -> Result<GroupVersionKind, MapError> {
        self.with_retry(|m| m.kind_for(partial)).await
    }

    /// See [`RESTMapper::resource_for`].
    pub async fn resource_for(&self, partial: &GroupVersionResource) -> Result<GroupVersionResource, MapError> {
        self.with_retry(|m| m.resource_for(partial)).await
    }

    /// See [`RESTMapper::find`].
    pub async fn find(&self, arg: &str) -> Result<RESTMapping, MapError> {
        self.with_retry(|m| m.find(arg)).await
    }
}

#[cfg(test)]
mod tests;
