use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::*;
use crate::discovery::aggregated::{to_legacy, APIGroupDiscoveryList};
use crate::discovery::DiscoverySource;

/// A discovery document in the aggregated format, shaped like kube-apiserver's:
/// core, apps (v1), a CRD group with two versions (v2 preferred), and a group that
/// also defines `events` (to test priority).
fn fixture(with_widgets: bool) -> Discovery {
    let mut apis = json!({
        "apiVersion": "apidiscovery.k8s.io/v2", "kind": "APIGroupDiscoveryList",
        "items": [
            {"metadata": {"name": ""}, "versions": [{"version": "v1", "resources": [
                {"resource": "pods", "responseKind": {"group": "", "version": "v1", "kind": "Pod"}, "scope": "Namespaced",
                 "singularResource": "pod", "verbs": ["get", "list"], "shortNames": ["po"], "categories": ["all"],
                 "subresources": [{"subresource": "status", "responseKind": {"kind": "Pod"}, "verbs": ["get"]}]},
                {"resource": "nodes", "responseKind": {"kind": "Node"}, "scope": "Cluster", "singularResource": "node",
                 "verbs": ["get"], "shortNames": ["no"]},
                {"resource": "events", "responseKind": {"kind": "Event"}, "scope": "Namespaced", "singularResource": "event",
                 "verbs": ["get"], "shortNames": ["ev"]}
            ]}]},
            {"metadata": {"name": "apps"}, "versions": [{"version": "v1", "resources": [
                {"resource": "deployments", "responseKind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                 "scope": "Namespaced", "singularResource": "deployment", "verbs": ["get"], "shortNames": ["deploy"],
                 "subresources": [{"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get"]}]}
            ]}]},
            {"metadata": {"name": "events.k8s.io"}, "versions": [{"version": "v1", "resources": [
                {"resource": "events", "responseKind": {"kind": "Event"}, "scope": "Namespaced", "singularResource": "event", "verbs": ["get"], "shortNames": ["ev"]}
            ]}]}
        ]
    });
    if with_widgets {
        apis["items"].as_array_mut().unwrap().push(json!(
            {"metadata": {"name": "example.com"}, "versions": [
                {"version": "v2", "resources": [{"resource": "widgets", "responseKind": {"kind": "Widget"}, "scope": "Cluster", "singularResource": "widget", "verbs": ["get"], "shortNames": ["wd"]}]},
                {"version": "v1", "resources": [{"resource": "widgets", "responseKind": {"kind": "Widget"}, "scope": "Cluster", "singularResource": "widget", "verbs": ["get"]}]}
            ]}
        ));
    }
    let list: APIGroupDiscoveryList = serde_json::from_value(apis).unwrap();
    let mut d = Discovery {
        groups: vec![],
        resources: BTreeMap::new(),
        failed: BTreeMap::new(),
        source: DiscoverySource::Aggregated,
    };
    for g in &list.items {
        let (group, lists, _) = to_legacy(g);
        d.groups.push(group);
        for l in lists {
            d.resources.insert(l.group_version.clone(), l);
        }
    }
    d
}

#[test]
fn aggregated_converts_to_legacy_shapes() {
    let d = fixture(true);
    assert_eq!(d.groups[0].name, "");
    assert_eq!(d.group("example.com").unwrap().preferred_version.as_ref().unwrap().group_version, "example.com/v2");
    let apps = d.resources_for("apps/v1").unwrap();
    let scale = apps.resources.iter().find(|r| r.name == "deployments/scale").unwrap();
    assert_eq!(
        (scale.group.as_deref(), scale.version.as_deref(), scale.kind.as_str()),
        (Some("autoscaling"), Some("v1"), "Scale")
    );
    let deploy = apps.resources.iter().find(|r| r.name == "deployments").unwrap();
    assert_eq!((deploy.group.as_deref(), deploy.namespaced), (None, true));
    let preferred: Vec<String> = d.preferred_versions().into_iter().map(|v| v.group_version).collect();
    assert_eq!(preferred, ["v1", "apps/v1", "events.k8s.io/v1", "example.com/v2"]);
    let pr = d.preferred_resources();
    assert!(pr.iter().all(|l| l.resources.iter().all(|r| !r.name.contains('/'))));
    assert!(!pr.iter().any(|l| l.group_version == "example.com/v1"), "v1 widgets are shadowed by v2");
}

#[test]
fn resolves_names_short_names_and_groups() {
    let m = RESTMapper::from_discovery(&fixture(true));
    for arg in ["pods", "pod", "po", "Pods"] {
        let r = m.find(arg).unwrap();
        assert_eq!(r.resource, GroupVersionResource::new("", "v1", "pods"), "{arg}");
        assert!(r.namespaced());
    }
    let d = m.find("deploy").unwrap();
    assert_eq!(d.gvk, GroupVersionKind::new("apps", "v1", "Deployment"));
    assert_eq!(m.find("deployments.apps").unwrap().resource.resource, "deployments");
    assert_eq!(m.find("deploy.apps").unwrap().resource.resource, "deployments");
    assert_eq!(m.find("deployments.v1.apps").unwrap().resource.version, "v1");
    assert!(m.find("deployments.batch").unwrap_err().is_no_match());
    assert_eq!(m.find("no").unwrap().scope, Scope::Cluster);
    // Core group wins for an ambiguous name; a group selects the other.
    assert_eq!(m.find("events").unwrap().resource.group, "");
    assert_eq!(m.find("events.events.k8s.io").unwrap().resource.group, "events.k8s.io");
    assert_eq!(m.find("ev").unwrap().resource.group, "");
    // Preferred version when none is given; explicit version otherwise.
    assert_eq!(m.find("widgets").unwrap().resource.version, "v2");
    assert_eq!(m.find("widgets.v1.example.com").unwrap().resource.version, "v1");
    assert_eq!(m.find("wd").unwrap().resource.resource, "widgets");
    // Subresources are not resources.
    assert!(m.find("pods/status").is_err());
}

#[test]
fn kinds_to_resources_and_back() {
    let m = RESTMapper::from_discovery(&fixture(true));
    let r = m.rest_mapping(&GroupKind::new("apps", "Deployment"), &[]).unwrap();
    assert_eq!(r.resource, GroupVersionResource::new("apps", "v1", "deployments"));
    let w = m.rest_mapping(&GroupKind::new("example.com", "Widget"), &["v1"]).unwrap();
    assert_eq!(w.resource.version, "v1");
    let w = m.rest_mapping(&GroupKind::new("example.com", "Widget"), &["v9", "v2"]).unwrap();
    assert_eq!(w.resource.version, "v2");
    assert!(m.rest_mapping(&GroupKind::new("example.com", "Widget"), &["v9"]).is_err());
    assert!(m.rest_mapping(&GroupKind::new("", "Deployment"), &[]).is_err());
    assert_eq!(m.kind_for(&GroupVersionResource::new("", "", "po")).unwrap(), GroupVersionKind::new("", "v1", "Pod"));
    assert_eq!(
        m.resource_for(&GroupVersionResource::new("apps", "", "deployment")).unwrap(),
        GroupVersionResource::new("apps", "v1", "deployments")
    );
    let err = m.rest_mapping(&GroupKind::new("x.io", "Nope"), &[]).unwrap_err();
    assert_eq!(err.to_string(), "no matches for kind Nope.x.io");
}

/// A discovery source that serves the fixture without widgets until invalidated.
struct Flipping {
    invalidated: AtomicBool,
    fresh: AtomicBool,
    calls: AtomicUsize,
    before: Arc<Discovery>,
    after: Arc<Discovery>,
}

impl CachedDiscovery for Flipping {
    fn discover(&self) -> BoxFuture<'_, Result<Arc<Discovery>, crate::rest::Error>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let inv = self.invalidated.load(Ordering::SeqCst);
            self.fresh.store(inv, Ordering::SeqCst);
            Ok(if inv { self.after.clone() } else { self.before.clone() })
        })
    }
    fn invalidate(&self) {
        self.invalidated.store(true, Ordering::SeqCst);
    }
    fn fresh(&self) -> bool {
        self.fresh.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn deferred_mapper_refreshes_once_on_a_miss() {
    let src = Arc::new(Flipping {
        invalidated: AtomicBool::new(false),
        fresh: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        before: Arc::new(fixture(false)),
        after: Arc::new(fixture(true)),
    });
    let mapper = DeferredDiscoveryRESTMapper::new(src.clone());
    assert_eq!(mapper.find("po").await.unwrap().resource.resource, "pods");
    let w = mapper.find("widgets").await.unwrap();
    assert_eq!(w.gvk.kind, "Widget");
    assert!(src.invalidated.load(Ordering::SeqCst));
    // A miss on fresh data is final: no further invalidation loop.
    let calls = src.calls.load(Ordering::SeqCst);
    assert!(mapper.find("gadgets").await.unwrap_err().is_no_match());
    assert_eq!(src.calls.load(Ordering::SeqCst), calls + 1);
}
