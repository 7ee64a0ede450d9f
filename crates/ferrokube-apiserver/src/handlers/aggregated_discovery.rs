//! Aggregated discovery (`apidiscovery.k8s.io/v2`, and `v2beta1` for kubectl 1.26–1.29):
//! one document per `/api` or `/apis` listing every group, version, resource and
//! subresource, served when the `Accept` header asks for
//! `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`. Saves
//! kubectl one request per group version.

use serde_json::{json, Value};

use crate::catalog::{self, Catalog, GroupVersions};

/// The `Content-Type` of an aggregated discovery answer of `version`.
pub fn content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

fn group_item(catalog: &Catalog, g: &GroupVersions) -> Value {
    let versions: Vec<Value> = g
        .versions
        .iter()
        .map(|version| {
            let resources: Vec<Value> = catalog
                .resources_in(&g.group, version)
                .map(|r| {
                    // kube leaves a built-in response kind's group and version empty
                    // when they are the group version being listed (a custom resource's
                    // are always written), and lists a custom resource's status before
                    // its scale.
                    let custom = catalog.custom(&r.group, &r.version, &r.plural).is_some();
                    let kind_of = |group: &str, version: &str, kind: &str| {
                        if !custom && group == r.group && version == r.version {
                            json!({"group": "", "version": "", "kind": kind})
                        } else {
                            json!({"group": group, "version": version, "kind": kind})
                        }
                    };
                    let mut listed = catalog::subresources(r);
                    if custom {
                        listed.sort_by_key(|s| s.name != "status");
                    }
                    let subresources: Vec<Value> = listed
                        .iter()
                        .map(|s| {
                            json!({
                                "subresource": s.name,
                                "responseKind": kind_of(
                                    if s.kind.is_some() { s.group } else { r.group.as_str() },
                                    s.version.unwrap_or(&r.version),
                                    s.kind.unwrap_or(&r.kind),
                                ),
                                "verbs": s.verbs,
                            })
                        })
                        .collect();
                    let mut res = json!({
                        "resource": r.plural,
                        "responseKind": kind_of(&r.group, &r.version, &r.kind),
                        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular,
                        "verbs": r.verbs,
                    });
                    if !r.short_names.is_empty() {
                        res["shortNames"] = json!(r.short_names);
                    }
                    if !r.categories.is_empty() {
                        res["categories"] = json!(r.categories);
                    }
                    if !subresources.is_empty() {
                        res["subresources"] = json!(subresources);
                    }
                    res
                })
                .collect();
            json!({"version": version, "resources": resources, "freshness": "Current"})
        })
        .collect();
    let mut metadata = json!({});
    if !g.group.is_empty() {
        metadata["name"] = json!(g.group);
    }
    json!({"metadata": metadata, "versions": versions})
}

/// The aggregated document for `/api` (`core`) or `/apis` (not `core`), as
/// `apidiscovery.k8s.io/<version>`.
pub fn document(catalog: &Catalog, core: bool, version: &str) -> Value {
    let items: Vec<Value> =
        catalog.groups().iter().filter(|g| g.group.is_empty() == core).map(|g| group_item(catalog, g)).collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let c = Catalog::builtin();
        let core = document(&c, true, "v2");
        assert_eq!(core["items"].as_array().unwrap().len(), 1);
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap()
            .clone();
        assert_eq!(pods["scope"], "Namespaced");
        assert_eq!(pods["responseKind"], json!({"group": "", "version": "", "kind": "Pod"}));
        assert_eq!(pods["shortNames"], json!(["po"]));
        let apis = document(&c, false, "v2");
        let apps = apis["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == "apps").unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        let scale = deploy["subresources"].as_array().unwrap().iter().find(|s| s["subresource"] == "scale").unwrap();
        assert_eq!(scale["responseKind"]["kind"], "Scale");
        assert_eq!(scale["responseKind"]["group"], "autoscaling");
        assert_eq!(apps["versions"][0]["freshness"], "Current");
    }
}
