//! The aggregated discovery document (`apidiscovery.k8s.io/v2` and `v2beta1`
//! `APIGroupDiscoveryList`), which the server returns for `/api` and `/apis` when the
//! client asks for it in `Accept`: all groups, versions and resources in one answer.
//! k8s-openapi has no types for it, so they are defined here, with a conversion to the
//! legacy `APIGroup` / `APIResourceList` shapes the rest of the crate uses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    APIGroup, APIResource, APIResourceList, GroupVersionForDiscovery,
};
use serde::{Deserialize, Serialize};

/// `Accept` header asking for aggregated discovery, with plain JSON as fallback.
pub const ACCEPT_AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,\
application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

/// `APIGroupDiscoveryList`: every group served under `/api` or `/apis`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct APIGroupDiscoveryList {
    /// `apidiscovery.k8s.io/v2` or `v2beta1`.
    #[serde(default)]
    pub api_version: String,
    /// `APIGroupDiscoveryList`.
    #[serde(default)]
    pub kind: String,
    /// The groups, in the server's preference order.
    #[serde(default)]
    pub items: Vec<APIGroupDiscovery>,
}

/// One group (`metadata.name` is the group; empty for core).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct APIGroupDiscovery {
    /// Only `name` is used.
    #[serde(default)]
    pub metadata: DiscoveryMeta,
    /// Versions, most preferred first.
    #[serde(default)]
    pub versions: Vec<APIVersionDiscovery>,
}

/// The metadata of an [`APIGroupDiscovery`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryMeta {
    /// The group name.
    #[serde(default)]
    pub name: String,
}

/// One version of a group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct APIVersionDiscovery {
    /// The version, e.g. `v1`.
    #[serde(default)]
    pub version: String,
    /// The resources of this group version.
    #[serde(default)]
    pub resources: Vec<APIResourceDiscovery>,
    /// `Current`, or `Stale` when an aggregated API server could not be reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub freshness: Option<String>,
}

/// A group/version/kind as used inside discovery documents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscoveryKind {
    /// Group (may be empty: same as the enclosing group).
    #[serde(default)]
    pub group: String,
    /// Version (may be empty: same as the enclosing version).
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// One resource of a group version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct APIResourceDiscovery {
    /// Plural resource name, e.g. `deployments`.
    #[serde(default)]
    pub resource: String,
    /// The kind returned by the resource.
    #[serde(default)]
    pub response_kind: Option<DiscoveryKind>,
    /// `Namespaced` or `Cluster`.
    #[serde(default)]
    pub scope: String,
    /// Singular name, e.g. `deployment`.
    #[serde(default)]
    pub singular_resource: String,
    /// Supported verbs.
    #[serde(default)]
    pub verbs: Vec<String>,
    /// Short names, e.g. `deploy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    /// Categories, e.g. `all`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Subresources (`status`, `scale`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subresources: Vec<APISubresourceDiscovery>,
}

/// One subresource of a resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct APISubresourceDiscovery {
    /// Subresource name, e.g. `scale`.
    #[serde(default)]
    pub subresource: String,
    /// The kind it returns.
    #[serde(default)]
    pub response_kind: Option<DiscoveryKind>,
    /// Supported verbs.
    #[serde(default)]
    pub verbs: Vec<String>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Converts one aggregated group into its legacy `APIGroup`, the `APIResourceList` of
/// each version (subresources as `resource/subresource` entries), and the versions
/// the server marked stale.
pub fn to_legacy(group: &APIGroupDiscovery) -> (APIGroup, Vec<APIResourceList>, Vec<String>) {
    let name = &group.metadata.name;
    let gv_of = |v: &str| if name.is_empty() { v.to_owned() } else { format!("{name}/{v}") };
    let versions: Vec<GroupVersionForDiscovery> = group
        .versions
        .iter()
        .map(|v| GroupVersionForDiscovery { group_version: gv_of(&v.version), version: v.version.clone() })
        .collect();
    let api_group = APIGroup {
        name: name.clone(),
        preferred_version: versions.first().cloned(),
        server_address_by_client_cidrs: None,
        versions,
    };
    let mut lists = Vec::new();
    let mut stale = Vec::new();
    for v in &group.versions {
        if v.freshness.as_deref() == Some("Stale") {
            stale.push(gv_of(&v.version));
            continue;
        }
        let mut resources = Vec::new();
        for r in &v.resources {
            let kind = r.response_kind.clone().unwrap_or_default();
            let differs = |k: &DiscoveryKind| {
                (!k.group.is_empty() && k.group != *name) || (!k.version.is_empty() && k.version != v.version)
            };
            resources.push(APIResource {
                name: r.resource.clone(),
                singular_name: r.singular_resource.clone(),
                namespaced: r.scope == "Namespaced",
                kind: kind.kind.clone(),
                group: if differs(&kind) { Some(kind.group.clone()) } else { None },
                version: if differs(&kind) { non_empty(&kind.version) } else { None },
                verbs: r.verbs.clone(),
                short_names: (!r.short_names.is_empty()).then(|| r.short_names.clone()),
                categories: (!r.categories.is_empty()).then(|| r.categories.clone()),
                storage_version_hash: None,
            });
            for s in &r.subresources {
                let sk = s.response_kind.clone().unwrap_or_default();
                resources.push(APIResource {
                    name: format!("{}/{}", r.resource, s.subresource),
                    singular_name: String::new(),
                    namespaced: r.scope == "Namespaced",
                    kind: sk.kind.clone(),
                    group: if differs(&sk) { Some(sk.group.clone()) } else { None },
                    version: if differs(&sk) { non_empty(&sk.version) } else { None },
                    verbs: s.verbs.clone(),
                    short_names: None,
                    categories: None,
                    storage_version_hash: None,
                });
            }
        }
        lists.push(APIResourceList { group_version: gv_of(&v.version), resources });
    }
    (api_group, lists, stale)
}
