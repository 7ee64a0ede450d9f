//! Legacy discovery documents: `/version`, `/api` (APIVersions), `/apis`
//! (APIGroupList), `/apis/<g>` (APIGroup), `/api/v1` and `/apis/<g>/<v>`
//! (APIResourceList, subresources listed as `pods/status`). Older kubectl (before 1.26)
//! and most clients read these; newer kubectl asks for
//! [`aggregated`](super::aggregated_discovery) first.

use serde_json::{json, Value};

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
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": out})
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
