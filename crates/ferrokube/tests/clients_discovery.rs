//! Discovery (aggregated and legacy), the memory and disk caches, and the RESTMapper,
//! against the test server (embedded or realkube, see `support::cluster`).

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ferrokube::discovery::{
    CachedDiscovery, DiscoveryClient, DiscoverySource, DiskCachedDiscoveryClient, MemCacheClient,
};
use ferrokube::restmapper::{DeferredDiscoveryRESTMapper, Scope};
use ferrokube::schema::{GroupKind, GroupVersionResource};
use support::cluster::{eventually, ClusterOptions, TestCluster};

#[tokio::test]
async fn version_groups_and_resources_both_ways() {
    let env = TestCluster::start(ClusterOptions::new("disco")).await;
    let dc = DiscoveryClient::new(&env.config).unwrap();
    let v = dc.server_version().await.unwrap();
    assert!(!v.git_version.is_empty(), "{v:?}");

    let agg = dc.server_groups_and_resources().await.unwrap();
    let legacy = dc.clone().with_aggregated(false).server_groups_and_resources().await.unwrap();
    assert_eq!(legacy.source, DiscoverySource::Legacy);
    assert_eq!(agg.source, DiscoverySource::Aggregated, "the server answers aggregated discovery");
    assert!(legacy.failed.is_empty(), "{:?}", legacy.failed);

    for d in [&agg, &legacy] {
        assert_eq!(d.groups[0].name, "", "core group first");
        let apps = d.group("apps").expect("apps group");
        assert_eq!(apps.preferred_version.as_ref().unwrap().group_version, "apps/v1");
        let deploy = d.resources_for("apps/v1").unwrap().resources.iter().find(|r| r.name == "deployments").unwrap();
        assert!(deploy.namespaced);
        assert_eq!(deploy.kind, "Deployment");
        assert!(d.resources_for("apps/v1").unwrap().resources.iter().any(|r| r.name == "deployments/scale"));
        let nodes = d.resources_for("v1").unwrap().resources.iter().find(|r| r.name == "nodes").unwrap();
        assert!(!nodes.namespaced);
        let pr = d.preferred_resources();
        assert!(pr.iter().any(|l| l.group_version == "v1" && l.resources.iter().any(|r| r.name == "pods")));
    }
    // Both paths agree on which resources exist.
    let names = |d: &ferrokube::discovery::Discovery| {
        let mut v: Vec<String> = d
            .resources
            .values()
            .flat_map(|l| l.resources.iter().map(move |r| format!("{}:{}:{}", l.group_version, r.name, r.namespaced)))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&agg), names(&legacy));
    let groups = dc.server_groups().await.unwrap();
    assert!(groups.groups.iter().any(|g| g.name == "rbac.authorization.k8s.io"));
    let core = dc.server_resources_for_group_version("v1").await.unwrap();
    assert!(core.resources.iter().any(|r| r.name == "configmaps"));
    let err = dc.server_resources_for_group_version("nope.example.com/v1").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[tokio::test]
async fn disk_cache_files_ttl_and_invalidation() {
    let env = TestCluster::start(ClusterOptions::new("disco")).await;
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join(ferrokube::discovery::host_cache_dir_name(&env.config.host));
    let now = Arc::new(AtomicU64::new(0));
    let clock_now = now.clone();
    let clock = Arc::new(move || SystemTime::now() + Duration::from_secs(clock_now.load(Ordering::SeqCst)));
    let new_client = || {
        DiskCachedDiscoveryClient::new(DiscoveryClient::new(&env.config).unwrap(), &cache_dir, Duration::from_secs(600))
            .with_clock(clock.clone())
    };

    // First use: fetched from the server, files written.
    let c1 = new_client();
    let d1 = c1.discover().await.unwrap();
    assert!(c1.fresh());
    assert!(cache_dir.join("servergroups.json").is_file());
    assert!(cache_dir.join("v1").join("serverresources.json").is_file());
    assert!(cache_dir.join("apps").join("v1").join("serverresources.json").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(&cache_dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files are renamed into place");

    // A second client within the TTL reads the files and does not ask the server.
    let c2 = new_client();
    let d2 = c2.discover().await.unwrap();
    assert!(!c2.fresh());
    assert_eq!(d2.source, DiscoverySource::Cache);
    assert_eq!(d2.resources, d1.resources);
    assert_eq!(d2.groups, d1.groups);

    // Past the TTL the files are stale: refetched.
    now.store(601, Ordering::SeqCst);
    let c3 = new_client();
    assert_ne!(c3.discover().await.unwrap().source, DiscoverySource::Cache);
    assert!(c3.fresh());
    now.store(0, Ordering::SeqCst);

    // A corrupt file is ignored (refetched and rewritten), not an error.
    std::fs::write(cache_dir.join("apps").join("v1").join("serverresources.json"), b"{not json").unwrap();
    let c4 = new_client();
    let d4 = c4.discover().await.unwrap();
    assert!(c4.fresh());
    assert!(d4.resources_for("apps/v1").is_some());
    assert!(c4.last_cache_error().unwrap().to_string().contains("corrupt"));
    let rewritten = std::fs::read(cache_dir.join("apps").join("v1").join("serverresources.json")).unwrap();
    assert!(serde_json::from_slice::<serde_json::Value>(&rewritten).is_ok());

    // Memory layer: the same snapshot until invalidate(), then a fresh fetch.
    let again = c4.discover().await.unwrap();
    assert!(Arc::ptr_eq(&again, &d4));
    assert!(!c4.fresh());
    c4.invalidate();
    let after = c4.discover().await.unwrap();
    assert!(c4.fresh());
    assert!(!Arc::ptr_eq(&after, &d4));
}

#[tokio::test]
async fn rest_mapper_over_the_server() {
    let env = TestCluster::start(ClusterOptions::new("disco")).await;
    let cache = Arc::new(MemCacheClient::new(DiscoveryClient::new(&env.config).unwrap()));
    let mapper = DeferredDiscoveryRESTMapper::new(cache.clone());

    let po = mapper.find("po").await.unwrap();
    assert_eq!(po.resource, GroupVersionResource::new("", "v1", "pods"));
    assert_eq!(po.scope, Scope::Namespace);
    let deploy = mapper.find("deploy").await.unwrap();
    assert_eq!(deploy.resource, GroupVersionResource::new("apps", "v1", "deployments"));
    assert_eq!(mapper.find("deployments.apps").await.unwrap().gvk.kind, "Deployment");
    assert_eq!(mapper.find("deployment").await.unwrap().gvk.kind, "Deployment");
    assert_eq!(mapper.find("deployments.v1.apps").await.unwrap().resource.version, "v1");
    assert_eq!(mapper.find("ns").await.unwrap().scope, Scope::Cluster);
    assert_eq!(mapper.find("svc").await.unwrap().resource.resource, "services");
    assert_eq!(mapper.find("clusterroles").await.unwrap().resource.group, "rbac.authorization.k8s.io");
    let m = mapper.rest_mapping(&GroupKind::new("batch", "CronJob"), &[]).await.unwrap();
    assert_eq!(m.resource.resource, "cronjobs");
    let m = mapper.rest_mapping(&GroupKind::new("", "Node"), &["v1"]).await.unwrap();
    assert_eq!(m.scope, Scope::Cluster);
    assert!(mapper.find("nothing-like-this").await.unwrap_err().is_no_match());

    // A CRD created after discovery was cached becomes visible: the mapper misses,
    // invalidates the cache once and retries.
    let dc = ferrokube::dynamic::DynamicClient::new(&env.config).unwrap();
    let crd = ferrokube::dynamic::Unstructured::from_value(serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "shortNames": ["gd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true,
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    }))
    .unwrap();
    dc.resource(GroupVersionResource::new("apiextensions.k8s.io", "v1", "customresourcedefinitions"))
        .create(&crd, &Default::default())
        .await
        .unwrap();
    // kube-apiserver publishes a new CRD in discovery shortly after establishing it;
    // the embedded server at once. Wait until the server lists it (through a client of
    // its own: the mapper's cache stays as it was).
    env.wait_for_crd_established("gadgets.example.com").await;
    let probe = DiscoveryClient::new(&env.config).unwrap();
    eventually("gadgets in the server's discovery", Duration::from_secs(30), || async {
        let d = probe.server_groups_and_resources().await.unwrap();
        d.resources_for("example.com/v1").is_some_and(|l| l.resources.iter().any(|r| r.name == "gadgets"))
    })
    .await;
    let m = mapper.find("gd").await.expect("a new CRD's short name resolves after the mapper refetches");
    assert_eq!(m.gvk.kind, "Gadget");
    assert_eq!(m.resource, GroupVersionResource::new("example.com", "v1", "gadgets"));
    assert_eq!(m.scope, Scope::Cluster);
    assert!(cache.fresh(), "the mapper invalidated and refetched discovery");
}
