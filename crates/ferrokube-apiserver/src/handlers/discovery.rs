//! Legacy discovery documents: `/version`, `/api` (APIVersions), `/apis`
//! (APIGroupList), `/apis/<g>` (APIGroup), `/api/v1` and `/apis/<g>/<v>`
//! (APIResourceList, subresources listed as `pods/status`). Older kubectl (before 1.26)
//! and most clients read these; newer kubectl asks for
//! [`aggregated`](super::aggregated_discovery) first.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::ResourceInfo;
use crate::catalog::{self, Catalog, GroupVersions};

/// The `/version` document.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "37",
        "emulationMajor": "1",
        "emulationMinor": "37",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "36",
        "gitVersion": "v1.37.0-ferrokube",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": concat!("ferrokube ", env!("CARGO_PKG_VERSION")),
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `/api`: the core group's versions; `server_address` is `host:port` of the server.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    })
}

fn group_json(g: &GroupVersions) -> Value {
    let versions: Vec<Value> =
        g.versions.iter().map(|v| json!({"groupVersion": format!("{}/{}", g.group, v), "version": v})).collect();
    let preferred = versions.first().cloned().unwrap_or(Value::Null);
    json!({"name": g.group, "versions": versions, "preferredVersion": preferred})
}

/// `/apis`: every named group, with its preferred version.
pub fn groups(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = catalog.groups().iter().filter(|g| !g.group.is_empty()).map(group_json).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`.
pub fn group(g: &GroupVersions) -> Value {
    let mut v = group_json(g);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    v
}

/// `/api/v1` or `/apis/<group>/<version>`.
pub fn resources(catalog: &Catalog, group: &str, version: &str) -> Value {
    let mut out = Vec::new();
    for r in catalog.resources_in(group, version) {
        let mut res = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            res["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            res["categories"] = json!(r.categories);
        }
        if let Some(hash) = storage_version_hash(catalog, r) {
            res["storageVersionHash"] = json!(hash);
        }
        out.push(res);
        for sub in catalog::subresources(r) {
            let mut s = json!({
                "name": format!("{}/{}", r.plural, sub.name),
                "singularName": "",
                "namespaced": r.namespaced,
                "kind": sub.kind.unwrap_or(&r.kind),
                "verbs": sub.verbs,
            });
            if sub.kind.is_some() && (sub.group != r.group || sub.version != Some(r.version.as_str())) {
                s["group"] = json!(sub.group);
                s["version"] = json!(sub.version);
            }
            out.push(s);
        }
    }
    let group_version = if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") };
    let mut list = json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": out});
    // kube-apiserver's legacy `/api/v1` list carries no apiVersion; group lists do.
    if !group.is_empty() {
        list["apiVersion"] = json!("v1");
    }
    list
}

/// Resources with no storage of their own (reviews, bindings, component statuses):
/// kube-apiserver gives them no `storageVersionHash`.
fn is_stored(r: &ResourceInfo) -> bool {
    r.verbs.iter().any(|v| v == "list") && !(r.group.is_empty() && r.plural == "componentstatuses")
}

/// Kinds kube-apiserver 1.37 stores in another group or version than the preferred one
/// (checked against realkube's discovery): `(group, kind, storage group, storage version)`.
const STORAGE_VERSION_EXCEPTIONS: &[(&str, &str, &str, &str)] = &[
    ("events.k8s.io", "Event", "", "v1"),
    ("apiextensions.k8s.io", "CustomResourceDefinition", "apiextensions.k8s.io", "v1beta1"),
    ("certificates.k8s.io", "ClusterTrustBundle", "certificates.k8s.io", "v1beta1"),
    ("certificates.k8s.io", "PodCertificateRequest", "certificates.k8s.io", "v1beta1"),
    ("resource.k8s.io", "DeviceTaintRule", "resource.k8s.io", "v1beta2"),
];

/// kube-apiserver's `storageVersionHash`: the first 8 bytes of the SHA-256 of
/// `<group>/<version>/<kind>` of the version the resource is stored in, in base64. The
/// stored version is the group's preferred version that serves the resource, but for
/// [`STORAGE_VERSION_EXCEPTIONS`]; for custom resources, the CRD's storage version. The
/// hash is the same in every version's listing.
fn storage_version_hash(catalog: &Catalog, r: &ResourceInfo) -> Option<String> {
    if !is_stored(r) {
        return None;
    }
    let exception = STORAGE_VERSION_EXCEPTIONS
        .iter()
        .find(|(group, kind, _, _)| *group == r.group && *kind == r.kind)
        .map(|(_, _, g, v)| ((*g).to_owned(), (*v).to_owned()));
    let custom_storage = || {
        catalog
            .custom_versions()
            .find(|c| c.resource.group == r.group && c.resource.plural == r.plural && c.storage)
            .map(|c| (r.group.clone(), c.resource.version.clone()))
    };
    let builtin_storage = || {
        let preferred =
            catalog.group(&r.group)?.versions.iter().find(|v| catalog.lookup(&r.group, v, &r.plural).is_some());
        preferred.map(|v| (r.group.clone(), v.clone()))
    };
    let (group, version) = exception
        .or_else(custom_storage)
        .or_else(builtin_storage)
        .unwrap_or_else(|| (r.group.clone(), r.version.clone()));
    let gvk = format!("{group}/{version}/{}", r.kind);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, gvk.as_bytes());
    Some(base64::engine::general_purpose::STANDARD.encode(&digest.as_ref()[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_resource_list() {
        let c = Catalog::builtin();
        let v = resources(&c, "", "v1");
        let rs = v["resources"].as_array().unwrap();
        let pods = rs.iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["singularName"], "pod");
        assert!(rs.iter().any(|r| r["name"] == "pods/status"));
        assert!(rs.iter().any(|r| r["name"] == "pods/log"));
        // kube-apiserver's values (`GET /api/v1`, `/apis/apps/v1` of v1.37): stored
        // resources carry the hash of their storage group/version/kind, others none.
        let hash = |list: &Value, name: &str| {
            list["resources"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap()["storageVersionHash"]
                .clone()
        };
        assert_eq!(hash(&v, "configmaps"), json!("qFsyl6wFWjQ="));
        assert_eq!(hash(&v, "bindings"), Value::Null);
        assert_eq!(hash(&v, "componentstatuses"), Value::Null);
        assert_eq!(hash(&v, "pods/status"), Value::Null);
        assert_eq!(hash(&resources(&c, "apps", "v1"), "controllerrevisions"), json!("85nkx63pcBU="));
        assert_eq!(v.get("apiVersion"), None);
        let ev = rs.iter().find(|r| r["name"] == "pods/eviction").unwrap();
        assert_eq!(ev["group"], "policy");
        let apps = resources(&c, "apps", "v1");
        let scale = apps["resources"].as_array().unwrap().iter().find(|r| r["name"] == "deployments/scale").unwrap();
        assert_eq!((scale["group"].as_str(), scale["kind"].as_str()), (Some("autoscaling"), Some("Scale")));
    }

    #[test]
    fn group_list_prefers_ga() {
        let c = Catalog::builtin();
        let v = groups(&c);
        let coord = v["groups"].as_array().unwrap().iter().find(|g| g["name"] == "coordination.k8s.io").unwrap();
        assert_eq!(coord["preferredVersion"]["version"], "v1");
        assert!(v["groups"].as_array().unwrap().iter().all(|g| g["name"] != ""));
    }
}
