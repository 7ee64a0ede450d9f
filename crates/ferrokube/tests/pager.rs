//! `tools::pager::ListPager` against the test server (embedded or realkube, see
//! `support::cluster`) over HTTPS: every page in order with the next page fetched
//! while the current one decodes, the merged list, and the full-list fallback when a
//! continue token has expired (410 Gone), up front or part-way; and the typed and
//! dynamic clients' `list_pages` streams over the same pager.
//!
//! Each test lists its own namespace, with the label selector `parity` (every object
//! the test creates has it; realkube's controller manager adds a `kube-root-ca.crt`
//! ConfigMap to every namespace that does not).

mod support;

use ferrokube::dynamic::{DynamicClient, UnstructuredList};
use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{Config, ListOptions, RESTClient, RateLimiterChoice};
use ferrokube::schema::GroupVersionResource;
use ferrokube::secret::SecretString;
use ferrokube::tools::pager::{ListPager, PageEvent};
use futures_util::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::ConfigMap;
use support::cluster::{skip_unless_embedded, ClusterOptions, TestCluster};

/// An admin client for the core group, with a bearer token as these tests always used.
fn client(cluster: &TestCluster) -> RESTClient {
    let mut c = Config::new(cluster.url());
    c.tls.ca_data = Some(cluster.ca_pem().into_bytes());
    c.bearer_token = Some(SecretString::new(cluster.admin_token().expose()));
    c.content.group_version = Some((String::new(), "v1".to_owned()));
    c.rate_limiter = RateLimiterChoice::Disabled;
    RESTClient::new(&c).unwrap()
}

/// Selects the objects the test created.
fn ours() -> ListOptions {
    ListOptions { label_selector: Some("parity".into()), ..Default::default() }
}

async fn create_config_maps(c: &RESTClient, ns: &str, n: usize) {
    for i in 0..n {
        let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i:04}"), "labels": {"parity": if i % 2 == 0 { "even" } else { "odd" }}},
            "data": {"payload": "x".repeat(200 + i % 50)}});
        let _: ConfigMap = c.post().namespace(ns).resource("configmaps").body(&cm).into_object().await.unwrap();
    }
}

fn names(items: &[ConfigMap]) -> Vec<String> {
    items.iter().map(|c| c.metadata.name.clone().unwrap_or_default()).collect()
}

#[tokio::test]
async fn pages_follow_continue_tokens_in_order() {
    let cluster = TestCluster::start(ClusterOptions::new("pager")).await;
    let c = client(&cluster);
    let ns = cluster.namespace.as_str();
    create_config_maps(&c, ns, 250).await;
    let request = |o: &ListOptions| c.get().namespace(ns).resource("configmaps").versioned_params(o);

    let pages: Vec<k8s_openapi::List<ConfigMap>> = ListPager::new(40).pages(&ours(), request).await.unwrap();
    assert_eq!(pages.len(), 7, "250 objects in pages of 40");
    assert!(pages[..6].iter().all(|p| p.items.len() == 40 && p.metadata.continue_.is_some()));
    assert!(pages[6].metadata.continue_.as_deref().unwrap_or("").is_empty());

    let merged = ListPager::new(40).list::<ConfigMap, _>(&ours(), request).await.unwrap();
    let whole: k8s_openapi::List<ConfigMap> = request(&ours()).into_list().await.unwrap();
    assert_eq!(names(&merged.items), names(&whole.items));
    assert_eq!(merged.items.len(), 250);
    assert!(merged.metadata.continue_.is_none());
    assert!(merged.metadata.resource_version.is_some());

    // Selectors are kept on every page.
    let even = ListOptions { label_selector: Some("parity=even".into()), ..Default::default() };
    let merged = ListPager::new(30).list::<ConfigMap, _>(&even, request).await.unwrap();
    assert_eq!(merged.items.len(), 125);
    assert!(merged.items.iter().all(|c| c.metadata.labels.as_ref().unwrap()["parity"] == "even"));
    cluster.shutdown().await;
}

#[tokio::test]
async fn an_expired_continue_token_falls_back_to_a_full_list() {
    if skip_unless_embedded(
        "a continue token expires only when storage compacts past its revision; the embedded \
         server's watch history is cut to 20 events here, while kube-apiserver compacts etcd \
         every 5 minutes (--etcd-compaction-interval), which a client cannot trigger",
    ) {
        return;
    }
    // A watch history of only 20 events: continue tokens expire after that many writes.
    let options = ClusterOptions { embedded_history_capacity: Some(20), ..ClusterOptions::new("pager") };
    let cluster = TestCluster::start(options).await;
    let c = client(&cluster);
    let ns = cluster.namespace.as_str();
    create_config_maps(&c, ns, 30).await;
    let request = |o: &ListOptions| c.get().namespace(ns).resource("configmaps").versioned_params(o);
    let first: k8s_openapi::List<ConfigMap> =
        request(&ListOptions { limit: Some(10), ..Default::default() }).into_list().await.unwrap();
    let token = first.metadata.continue_.clone().expect("a continue token");
    // More writes than the history holds: the token's snapshot is gone.
    for i in 30..60 {
        let cm =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i:04}")}});
        let _: ConfigMap = c.post().namespace(ns).resource("configmaps").body(&cm).into_object().await.unwrap();
    }
    let stale = ListOptions { limit: Some(10), continue_token: Some(token), ..Default::default() };
    let err = request(&stale).into_list::<k8s_openapi::List<ConfigMap>>().await.unwrap_err();
    assert!(err.is_gone(), "the server expires the token: {err}");

    let pages: Vec<k8s_openapi::List<ConfigMap>> = ListPager::new(10).pages(&stale, request).await.unwrap();
    assert_eq!(pages.len(), 1, "one full list");
    assert_eq!(pages[0].items.len(), 60);

    // A token that expires part-way: the first page is handed over, then the pager says
    // to start again and hands one full list. (Every continue token is swapped for the
    // stale one.)
    let expiring = |o: &ListOptions| {
        let o =
            ListOptions { continue_token: o.continue_token.as_ref().and(stale.continue_token.clone()), ..o.clone() };
        request(&o)
    };
    let mut seen = Vec::new();
    ListPager::new(10)
        .each_page(&ListOptions::default(), expiring, |e: PageEvent<k8s_openapi::List<ConfigMap>>| {
            seen.push(match e {
                PageEvent::Page(p) => format!("page of {}", p.items.len()),
                PageEvent::Restart => "restart".to_owned(),
            })
        })
        .await
        .unwrap();
    assert_eq!(seen, ["page of 10", "restart", "page of 60"]);
    let pages: Vec<k8s_openapi::List<ConfigMap>> =
        ListPager::new(10).pages(&ListOptions::default(), expiring).await.unwrap();
    assert_eq!(pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(), [60]);

    let strict = ListPager { full_list_if_expired: false, ..ListPager::new(10) };
    let err = strict.pages::<k8s_openapi::List<ConfigMap>, _>(&stale, request).await.unwrap_err();
    assert!(err.is_gone());
    cluster.shutdown().await;
}

#[tokio::test]
async fn typed_and_dynamic_clients_stream_their_pages() {
    let cluster = TestCluster::start(ClusterOptions::new("pager")).await;
    let c = client(&cluster);
    let ns = cluster.namespace.as_str();
    create_config_maps(&c, ns, 250).await;
    let config_maps = Clientset::new(&cluster.config).unwrap().core_v1().config_maps(ns);
    let whole = config_maps.list(&ours()).await.unwrap();

    // Pages of 40: seven typed lists, in order, continue tokens followed.
    let pages: Vec<k8s_openapi::List<ConfigMap>> =
        config_maps.list_pages(&ListOptions { limit: Some(40), ..ours() }).try_collect().await.unwrap();
    assert_eq!(pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(), [40, 40, 40, 40, 40, 40, 10]);
    assert!(pages[..6].iter().all(|p| p.metadata.continue_.as_deref().is_some_and(|t| !t.is_empty())));
    let streamed: Vec<ConfigMap> = pages.into_iter().flat_map(|p| p.items).collect();
    assert_eq!(names(&streamed), names(&whole.items));

    // No limit given: client-go's page size (500), so one page here; selectors kept.
    let even = ListOptions { label_selector: Some("parity=even".into()), ..Default::default() };
    let pages: Vec<_> = config_maps.list_pages(&even).try_collect().await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].items.len(), 125);

    // The dynamic client: the same pages as unstructured lists.
    let gvr = GroupVersionResource::new("", "v1", "configmaps");
    let dynamic = DynamicClient::new(&cluster.config).unwrap().resource(gvr).namespace(ns);
    let pages: Vec<UnstructuredList> =
        dynamic.list_pages(&ListOptions { limit: Some(100), ..ours() }).try_collect().await.unwrap();
    assert_eq!(pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(), [100, 100, 50]);
    let dynamic_names: Vec<String> =
        pages.iter().flat_map(|p| &p.items).map(|o| o.name().unwrap().to_owned()).collect();
    assert_eq!(dynamic_names, names(&whole.items));

    // Dropping a stream part-way is fine (the page fetched ahead is cancelled).
    let mut pages = config_maps.list_pages(&ListOptions { limit: Some(10), ..ours() });
    assert_eq!(pages.try_next().await.unwrap().unwrap().items.len(), 10);
    drop(pages);
    cluster.shutdown().await;
}

#[tokio::test]
async fn a_page_stream_ends_with_the_410_of_an_expired_continue_token() {
    if skip_unless_embedded("a continue token expires only when storage compacts past its revision (see above)") {
        return;
    }
    let options = ClusterOptions { embedded_history_capacity: Some(20), ..ClusterOptions::new("pager") };
    let cluster = TestCluster::start(options).await;
    let c = client(&cluster);
    let ns = cluster.namespace.as_str();
    create_config_maps(&c, ns, 30).await;
    let config_maps = Clientset::new(&cluster.config).unwrap().core_v1().config_maps(ns);
    let first = config_maps.list(&ListOptions { limit: Some(10), ..Default::default() }).await.unwrap();
    let token = first.metadata.continue_.clone().expect("a continue token");
    for i in 30..60 {
        let cm =
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("cm-{i:04}")}});
        let _: ConfigMap = c.post().namespace(ns).resource("configmaps").body(&cm).into_object().await.unwrap();
    }
    // Resuming from the stale token: the stream yields the server's 410 (no silent
    // full relist, which would repeat objects a stream has already handed out) and ends.
    let mut pages =
        config_maps.list_pages(&ListOptions { limit: Some(10), continue_token: Some(token), ..Default::default() });
    let err = pages.next().await.expect("an item").expect_err("the token has expired");
    assert!(err.is_resource_expired() && err.is_gone(), "{err}");
    assert_eq!(err.code(), Some(410));
    assert!(pages.next().await.is_none(), "an error ends the stream");
    cluster.shutdown().await;
}
