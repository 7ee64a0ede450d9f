//! `discovery`: what the server serves (client-go `discovery`): its version, API
//! groups, versions and resources, with in-memory and on-disk caches.
//!
//! [`DiscoveryClient`] asks `/api` and `/apis` for *aggregated* discovery first (one
//! `APIGroupDiscoveryList` per root, with every resource), and falls back to *legacy*
//! discovery (`APIVersions` / `APIGroupList`, then one `APIResourceList` per group
//! version, fetched concurrently) when the server answers with the plain documents.
//! Either way the result is one [`Discovery`] snapshot in the legacy shapes
//! (`APIGroup`, `APIResourceList`) that client-go users know.
//!
//! [`MemCacheClient`] keeps a snapshot in memory and [`DiskCachedDiscoveryClient`]
//! also on disk under `~/.kube/cache/discovery/<host_port>/` (kubectl's layout:
//! `servergroups.json` and `<group>/<version>/serverresources.json`) with a TTL; both
//! refetch after [`CachedDiscovery::invalidate`]. The [`restmapper`](crate::restmapper)
//! reads discovery through the [`CachedDiscovery`] trait.
//!
//! On the request path this is a thin layer that builds
//! [`rest::Request`](crate::rest::Request)s with `abs_path`; HTTP, authentication and
//! retries belong to `rest`.
//!
//! ```no_run
//! # async fn run(config: ferrokube::rest::Config) -> Result<(), ferrokube::rest::Error> {
//! use ferrokube::discovery::DiscoveryClient;
//! let dc = DiscoveryClient::new(&config)?;
//! println!("server {}", dc.server_version().await?.git_version);
//! let d = dc.server_groups_and_resources().await?;
//! for list in d.resources.values() {
//!     for r in &list.resources {
//!         println!("{}\t{}\t{}", r.name, list.group_version, r.kind);
//!     }
//! }
//! # Ok(()) }
//! ```

pub mod aggregated;
pub mod cached;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::Method;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIGroupList, APIResourceList, APIVersions, GroupVersionForDiscovery,
};
use k8s_openapi::apimachinery::pkg::version::Info;
use serde::de::DeserializeOwned;

use crate::rest::errors::RequestInfo;
use crate::rest::{Config, Error, RESTClient, Request};

pub use cached::{
    default_cache_dir, host_cache_dir_name, CacheFileError, DiskCachedDiscoveryClient, MemCacheClient,
    DEFAULT_CACHE_TTL,
};

/// Where a [`Discovery`] snapshot came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiscoverySource {
    /// Aggregated discovery (`apidiscovery.k8s.io` `APIGroupDiscoveryList`).
    Aggregated,
    /// Legacy discovery (`/api`, `/apis`, one request per group version).
    Legacy,
    /// A cache (memory or disk); the server was not asked.
    Cache,
}

/// Everything discovery found: groups (core group `""` first) and the resources of
/// each group version (client-go `ServerGroupsAndResources`).
#[derive(Clone, Debug, PartialEq)]
pub struct Discovery {
    /// All groups, core first, in the server's order; versions most preferred first.
    pub groups: Vec<APIGroup>,
    /// Resource lists by group version (`v1`, `apps/v1`, ...). Subresources appear as
    /// `resource/subresource` entries.
    pub resources: BTreeMap<String, APIResourceList>,
    /// Group versions whose resources could not be discovered, with the reason
    /// (client-go `ErrGroupDiscoveryFailed`). The rest of the snapshot is usable.
    pub failed: BTreeMap<String, String>,
    /// Where this snapshot came from.
    pub source: DiscoverySource,
}

impl Discovery {
    /// The group named `name` (`""` for core).
    pub fn group(&self, name: &str) -> Option<&APIGroup> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// The preferred version of each group (`apps` -> `apps/v1`, core -> `v1`).
    pub fn preferred_versions(&self) -> Vec<GroupVersionForDiscovery> {
        self.groups.iter().filter_map(|g| g.preferred_version.clone().or_else(|| g.versions.first().cloned())).collect()
    }

    /// The resources of one group version, e.g. `apps/v1`.
    pub fn resources_for(&self, group_version: &str) -> Option<&APIResourceList> {
        self.resources.get(group_version)
    }

    /// The group list as `/apis` would return it (with the core group first).
    pub fn group_list(&self) -> APIGroupList {
        APIGroupList { groups: self.groups.clone() }
    }

    /// client-go's `ServerPreferredResources`: for each group, the resources of its
    /// preferred version, plus resources only other versions have; subresources left
    /// out.
    pub fn preferred_resources(&self) -> Vec<APIResourceList> {
        let mut out = Vec::new();
        for g in &self.groups {
            let mut seen = BTreeSet::new();
            let mut versions: Vec<&GroupVersionForDiscovery> = Vec::new();
            if let Some(p) = &g.preferred_version {
                versions.push(p);
            }
            versions.extend(g.versions.iter().filter(|v| Some(*v) != g.preferred_version.as_ref()));
            for v in versions {
                let Some(list) = self.resources.get(&v.group_version) else { continue };
                let resources: Vec<_> = list
                    .resources
                    .iter()
                    .filter(|r| !r.name.contains('/') && seen.insert(r.name.clone()))
                    .cloned()
                    .collect();
                if !resources.is_empty() {
                    out.push(APIResourceList { group_version: v.group_version.clone(), resources });
                }
            }
        }
        out
    }
}

/// A source of discovery information: the [`DiscoveryClient`] itself or one of the
/// caches. The [`restmapper`](crate::restmapper) is built over this trait.
pub trait CachedDiscovery: Send + Sync {
    /// The current snapshot (from the cache when it is valid).
    fn discover(&self) -> BoxFuture<'_, Result<Arc<Discovery>, Error>>;
    /// Forgets cached data so the next [`discover`](Self::discover) asks the server.
    fn invalidate(&self);
    /// True when the last snapshot came from the server rather than a cache (client-go
    /// `Fresh()`); a caller that missed something only retries when this is false.
    fn fresh(&self) -> bool;
}

/// The discovery client (client-go `DiscoveryClient`). Cheap to clone.
#[derive(Clone, Debug)]
pub struct DiscoveryClient {
    client: RESTClient,
    aggregated: bool,
}

impl DiscoveryClient {
    /// Builds a discovery client from `config` (client-go `NewDiscoveryClientForConfig`).
    pub fn new(config: &Config) -> Result<Self, Error> {
        Ok(DiscoveryClient { client: crate::kubernetes::json_client(config)?, aggregated: true })
    }

    /// Whether to ask for aggregated discovery (default `true`). With `false` only the
    /// legacy documents are requested, as older clients do.
    pub fn with_aggregated(mut self, aggregated: bool) -> Self {
        self.aggregated = aggregated;
        self
    }

    /// A discovery client over an existing REST client (sharing its pool and limiter).
    pub fn from_rest_client(client: RESTClient) -> Self {
        DiscoveryClient { client, aggregated: true }
    }

    /// The underlying REST client.
    pub fn rest_client(&self) -> &RESTClient {
        &self.client
    }

    async fn get_json<T: DeserializeOwned>(&self, req: Request) -> Result<T, Error> {
        let info = RequestInfo::new(req.verb(), &req.url());
        let bytes = req.do_raw().await?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
            request: info,
            target: std::any::type_name::<T>(),
            source,
        })
    }

    /// `GET /version` (client-go `ServerVersion`).
    pub async fn server_version(&self) -> Result<Info, Error> {
        self.get_json(self.client.get().abs_path("/version")).await
    }

    /// The server's groups (client-go `ServerGroups`): aggregated `/api` and `/apis`
    /// when offered, otherwise `APIVersions` and `APIGroupList`.
    pub async fn server_groups(&self) -> Result<APIGroupList, Error> {
        Ok(self.server_groups_and_resources().await?.group_list())
    }

    /// The resources of one group version (`v1`, `apps/v1`), always by the legacy
    /// per-group-version endpoint (client-go `ServerResourcesForGroupVersion`).
    pub async fn server_resources_for_group_version(&self, group_version: &str) -> Result<APIResourceList, Error> {
        let path = if group_version.contains('/') {
            format!("/apis/{group_version}")
        } else {
            format!("/api/{group_version}")
        };
        let mut list: APIResourceList = self.get_json(self.client.get().abs_path(path)).await?;
        if list.group_version.is_empty() {
            list.group_version = group_version.to_owned();
        }
        Ok(list)
    }

    /// Groups and all their resources (client-go `ServerGroupsAndResources`), aggregated
    /// discovery first. Group versions that failed are listed in
    /// [`Discovery::failed`].
    pub async fn server_groups_and_resources(&self) -> Result<Discovery, Error> {
        let (core, apis) = futures_util::future::try_join(self.root("/api"), self.root("/apis")).await?;
        let aggregated = matches!((&core, &apis), (Root::Aggregated(_), Root::Aggregated(_)));
        let mut d = Discovery {
            groups: Vec::new(),
            resources: BTreeMap::new(),
            failed: BTreeMap::new(),
            source: if aggregated { DiscoverySource::Aggregated } else { DiscoverySource::Legacy },
        };
        let mut legacy_gvs = Vec::new();
        for root in [core, apis] {
            match root {
                Root::Aggregated(list) => {
                    for g in &list.items {
                        let (group, lists, stale) = aggregated::to_legacy(g);
                        d.groups.push(group);
                        for l in lists {
                            d.resources.insert(l.group_version.clone(), l);
                        }
                        for gv in stale {
                            d.failed.insert(gv, "the server reported this group version as stale".to_owned());
                        }
                    }
                }
                Root::Groups(groups) => {
                    for g in groups {
                        legacy_gvs.extend(g.versions.iter().map(|v| v.group_version.clone()));
                        d.groups.push(g);
                    }
                }
            }
        }
        let fetched =
            futures_util::future::join_all(legacy_gvs.iter().map(|gv| self.server_resources_for_group_version(gv)))
                .await;
        for (gv, result) in legacy_gvs.into_iter().zip(fetched) {
            match result {
                Ok(list) => {
                    d.resources.insert(gv, list);
                }
                Err(e) => {
                    d.failed.insert(gv, e.to_string());
                }
            }
        }
        Ok(d)
    }

    /// client-go `ServerPreferredResources`; see [`Discovery::preferred_resources`].
    pub async fn server_preferred_resources(&self) -> Result<Vec<APIResourceList>, Error> {
        Ok(self.server_groups_and_resources().await?.preferred_resources())
    }

    /// Fetches `/api` or `/apis`, asking for aggregated discovery, and tells the two
    /// answer shapes apart by `kind`.
    async fn root(&self, path: &str) -> Result<Root, Error> {
        let accept = if self.aggregated { aggregated::ACCEPT_AGGREGATED } else { "application/json" };
        let req = self.client.request(Method::GET).abs_path(path).header("Accept", accept);
        let info = RequestInfo::new(req.verb(), &req.url());
        let bytes = req.do_raw().await?;
        let decode = |source| Error::Decode { request: info.clone(), target: "discovery document", source };
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(decode)?;
        let kind = value.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        match kind {
            "APIGroupDiscoveryList" => Ok(Root::Aggregated(serde_json::from_value(value).map_err(decode)?)),
            "APIVersions" => {
                let v: APIVersions = serde_json::from_value(value).map_err(decode)?;
                let versions: Vec<GroupVersionForDiscovery> = v
                    .versions
                    .iter()
                    .map(|v| GroupVersionForDiscovery { group_version: v.clone(), version: v.clone() })
                    .collect();
                Ok(Root::Groups(vec![APIGroup {
                    name: String::new(),
                    preferred_version: versions.first().cloned(),
                    server_address_by_client_cidrs: None,
                    versions,
                }]))
            }
            _ => {
                let list: APIGroupList = serde_json::from_value(value).map_err(decode)?;
                Ok(Root::Groups(list.groups))
            }
        }
    }
}

enum Root {
    Aggregated(aggregated::APIGroupDiscoveryList),
    Groups(Vec<APIGroup>),
}

impl CachedDiscovery for DiscoveryClient {
    fn discover(&self) -> BoxFuture<'_, Result<Arc<Discovery>, Error>> {
        Box::pin(async move { Ok(Arc::new(self.server_groups_and_resources().await?)) })
    }
    fn invalidate(&self) {}
    fn fresh(&self) -> bool {
        true
    }
}
