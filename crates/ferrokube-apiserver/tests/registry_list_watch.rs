//! Lists and watches through the registry: label and field selectors (and
//! deletecollection with them), paging as a consistent snapshot, too-old continue
//! tokens and exact resourceVersions, watch from a resourceVersion, too-old watches,
//! bookmarks and timeouts, sendInitialEvents, and objects moving in and out of a
//! watch's selector.
//!
//! They call the registry directly, as the HTTP front end does (`Registry::handle`);
//! the HTTP layer itself is tested in `server_*.rs`.

mod registry_support;

use std::time::Duration;

use ferrokube_apiserver::api::Verb;
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::storage::StoreConfig;
use futures_util::StreamExt;
use registry_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn delete_collection_with_selector() {
    let r = Registry::new();
    for (n, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut b = cm(n);
        b["metadata"]["labels"] = json!({"app": app});
        ok(&r, Req::new(Verb::Create, cms()).ns("default").body(b)).await;
    }
    create_cm(&r, "kube-system", "other").await;
    let l = ok(&r, Req::new(Verb::DeleteCollection, cms()).ns("default").q("labelSelector", "app=x")).await;
    assert_eq!(l["kind"], "ConfigMapList");
    assert_eq!(l["items"].as_array().unwrap().len(), 2);
    let left = ok(&r, Req::new(Verb::List, cms())).await;
    let names: Vec<&str> =
        left["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["c", "other"]);
}

#[tokio::test]
async fn list_selectors() {
    let r = Registry::new();
    for (n, app, node) in [("p1", "web", "n1"), ("p2", "web", "n2"), ("p3", "db", "n1")] {
        ok(
            &r,
            Req::new(Verb::Create, pods())
                .ns("default")
                .body(json!({"metadata": {"name": n, "labels": {"app": app}}, "spec": {"nodeName": node}})),
        )
        .await;
    }
    let names = |v: &Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_owned()).collect()
    };
    let l = ok(
        &r,
        Req::new(Verb::List, pods())
            .ns("default")
            .q("labelSelector", "app in (web)")
            .q("fieldSelector", "spec.nodeName=n1"),
    )
    .await;
    assert_eq!(names(&l), vec!["p1"]);
    assert_eq!(l["kind"], "PodList");
    assert_eq!(l["apiVersion"], "v1");
    assert_eq!(l["items"][0]["kind"], "Pod");
    let l = ok(&r, Req::new(Verb::List, pods()).q("labelSelector", "app!=web")).await;
    assert_eq!(names(&l), vec!["p3"]);
    let e = err(&r, Req::new(Verb::List, pods()).q("labelSelector", "app in web")).await;
    assert_eq!(e.code, 400);
    let e = err(&r, Req::new(Verb::List, pods()).q("fieldSelector", "spec.bogus=1")).await;
    assert_eq!((e.code, e.message.as_str()), (400, "field label not supported: spec.bogus"));
}

#[tokio::test]
async fn paging_is_a_consistent_snapshot() {
    let r = Registry::new();
    for i in 0..10 {
        create_cm(&r, "default", &format!("c{i}")).await;
    }
    let mut seen = Vec::new();
    let first = ok(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "3")).await;
    assert_eq!(first["metadata"]["remainingItemCount"], 7);
    let list_rv = first["metadata"]["resourceVersion"].clone();
    let mut page = first;
    let mut round = 0;
    loop {
        for i in page["items"].as_array().unwrap() {
            seen.push(i["metadata"]["name"].as_str().unwrap().to_owned());
        }
        let Some(token) = page["metadata"]["continue"].as_str().map(str::to_owned) else {
            break;
        };
        // Concurrent writes between pages: delete one not yet seen, add one, change one.
        round += 1;
        if round == 1 {
            ok(&r, Req::new(Verb::Delete, cms()).ns("default").name("c8")).await;
            create_cm(&r, "default", "c55").await;
            ok(
                &r,
                Req::new(Verb::Patch, cms())
                    .ns("default")
                    .name("c9")
                    .ct("application/merge-patch+json")
                    .body(json!({"data": {"k": "new"}})),
            )
            .await;
        }
        page = ok(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "3").q("continue", &token)).await;
        assert_eq!(page["metadata"]["resourceVersion"], list_rv);
        if let Some(i) = page["items"].as_array().unwrap().iter().find(|i| i["metadata"]["name"] == "c9") {
            assert_eq!(i["data"]["k"], "v", "page shows the snapshot, not the patched object");
        }
    }
    let want: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    assert_eq!(seen, want);
    let e = err(&r, Req::new(Verb::List, cms()).q("continue", "garbage!")).await;
    assert_eq!(e.code, 400);
}

#[tokio::test]
async fn too_old_continue_and_exact_rv() {
    let r = Registry::with_options(StoreConfig { history_capacity: 3, watch_buffer: 16 }, Duration::from_secs(60));
    for i in 0..4 {
        create_cm(&r, "default", &format!("c{i}")).await;
    }
    let first = ok(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "2")).await;
    let token = first["metadata"]["continue"].as_str().unwrap().to_owned();
    let old_rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
    // Exact at a covered rv works.
    let l = ok(&r, Req::new(Verb::List, cms()).q("resourceVersion", &old_rv).q("resourceVersionMatch", "Exact")).await;
    assert_eq!(l["items"].as_array().unwrap().len(), 4);
    for i in 0..5 {
        create_cm(&r, "default", &format!("n{i}")).await;
    }
    let e = err(&r, Req::new(Verb::List, cms()).ns("default").q("limit", "2").q("continue", &token)).await;
    assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
    assert!(e.message.starts_with("The provided continue parameter is too old"));
    let e = err(&r, Req::new(Verb::List, cms()).q("resourceVersion", &old_rv).q("resourceVersionMatch", "Exact")).await;
    assert_eq!(e.code, 410);
    assert!(e.message.starts_with("too old resource version: "));
    let e =
        err(&r, Req::new(Verb::List, cms()).q("resourceVersion", "999999").q("resourceVersionMatch", "NotOlderThan"))
            .await;
    assert_eq!(e.code, 504);
    let e = err(&r, Req::new(Verb::List, cms()).q("resourceVersionMatch", "Exact")).await;
    assert_eq!(e.code, 422);
    let e = err(&r, Req::new(Verb::List, cms()).q("resourceVersion", "0").q("resourceVersionMatch", "Bogus")).await;
    assert_eq!(e.code, 422);
}

#[tokio::test]
async fn watch_from_rv_and_initial_state() {
    let r = Registry::new();
    create_cm(&r, "default", "a").await;
    let mid = r.store().current_rv();
    create_cm(&r, "default", "b").await;
    create_cm(&r, "kube-system", "other").await;
    let mut w = watch(&r, Req::new(Verb::Watch, cms()).ns("default").q("resourceVersion", &mid.to_string())).await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "b"));
    assert_eq!(o["kind"], "ConfigMap");
    ok(&r, Req::new(Verb::Delete, cms()).ns("default").name("a")).await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("DELETED", "a"));
    assert!(rv(&o) > mid);

    // No resourceVersion: synthetic ADDED for the current state, then live events.
    let mut w = watch(&r, Req::new(Verb::Watch, cms())).await;
    let mut names = vec![next(&mut w).await.1["metadata"]["name"].as_str().unwrap().to_owned()];
    names.push(next(&mut w).await.1["metadata"]["name"].as_str().unwrap().to_owned());
    assert_eq!(names, vec!["b", "other"]);
    create_cm(&r, "default", "c").await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "c"));
}

#[tokio::test]
async fn watch_too_old_is_an_error_event() {
    let r = Registry::with_options(StoreConfig { history_capacity: 2, watch_buffer: 16 }, Duration::from_secs(60));
    let start = r.store().current_rv();
    for i in 0..4 {
        create_cm(&r, "default", &format!("c{i}")).await;
    }
    let mut w = watch(&r, Req::new(Verb::Watch, cms()).q("resourceVersion", &start.to_string())).await;
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "ERROR");
    assert_eq!(o["code"], 410);
    assert_eq!(o["reason"], "Expired");
    assert!(o["message"].as_str().unwrap().starts_with(&format!("too old resource version: {start} (")));
    assert!(w.next().await.is_none());
}

#[tokio::test]
async fn bookmarks_and_timeout() {
    let r = Registry::with_bookmark_interval(Duration::from_millis(50));
    create_cm(&r, "default", "a").await;
    let now = r.store().current_rv();
    let mut w =
        watch(&r, Req::new(Verb::Watch, cms()).q("resourceVersion", &now.to_string()).q("allowWatchBookmarks", "true"))
            .await;
    create_cm(&r, "default", "b").await;
    assert_eq!(next(&mut w).await.0, "ADDED");
    // A write to another resource moves the global resourceVersion on.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(json!({"metadata": {"name": "p"}}))).await;
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "BOOKMARK");
    assert_eq!(o["kind"], "ConfigMap");
    assert_eq!(o["apiVersion"], "v1");
    assert_eq!(rv(&o), r.store().current_rv());

    let mut w =
        watch(&r, Req::new(Verb::Watch, cms()).q("resourceVersion", &now.to_string()).q("timeoutSeconds", "1")).await;
    assert_eq!(next(&mut w).await.0, "ADDED");
    let end = tokio::time::timeout(Duration::from_secs(5), w.next()).await.expect("timeoutSeconds ends the stream");
    assert!(end.is_none());
}

#[tokio::test]
async fn send_initial_events() {
    let r = Registry::with_bookmark_interval(Duration::from_secs(3600));
    create_cm(&r, "default", "a").await;
    create_cm(&r, "default", "b").await;
    let e = err(&r, Req::new(Verb::Watch, cms()).q("sendInitialEvents", "true").q("allowWatchBookmarks", "true")).await;
    assert_eq!(e.code, 422);
    assert!(
        e.message.contains("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
        "{}",
        e.message
    );
    let at = r.store().current_rv();
    let mut w = watch(
        &r,
        Req::new(Verb::Watch, cms())
            .q("sendInitialEvents", "true")
            .q("allowWatchBookmarks", "true")
            .q("resourceVersionMatch", "NotOlderThan"),
    )
    .await;
    assert_eq!(next(&mut w).await.1["metadata"]["name"], "a");
    assert_eq!(next(&mut w).await.1["metadata"]["name"], "b");
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "BOOKMARK");
    assert_eq!(o["metadata"]["annotations"]["k8s.io/initial-events-end"], "true");
    assert_eq!(rv(&o), at);
    create_cm(&r, "default", "c").await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "c"));
    let e = err(&r, Req::new(Verb::List, cms()).q("sendInitialEvents", "true")).await;
    assert_eq!(e.code, 422);
    // A watch's resourceVersion is parsed by kube's storage: a 500 with Go's words.
    let e = err(&r, Req::new(Verb::Watch, cms()).q("resourceVersion", "abc")).await;
    assert_eq!((e.code, e.reason.as_str()), (500, ""));
    assert_eq!(
        e.message,
        "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax"
    );
}

#[tokio::test]
async fn selector_transitions() {
    let r = Registry::new();
    let mut w = watch(
        &r,
        Req::new(Verb::Watch, cms())
            .ns("default")
            .q("labelSelector", "app=web")
            .q("resourceVersion", &r.store().current_rv().to_string()),
    )
    .await;
    create_cm(&r, "default", "x").await; // does not match: nothing
    ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("x")
            .ct("application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"app": "web"}}})),
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "x"));
    ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("x")
            .ct("application/merge-patch+json")
            .body(json!({"data": {"more": "1"}})),
    )
    .await;
    assert_eq!(next(&mut w).await.0, "MODIFIED");
    let p = ok(
        &r,
        Req::new(Verb::Patch, cms())
            .ns("default")
            .name("x")
            .ct("application/merge-patch+json")
            .body(json!({"metadata": {"labels": {"app": "db"}}})),
    )
    .await;
    let (t, o) = next(&mut w).await;
    assert_eq!(t, "DELETED");
    assert_eq!(o["metadata"]["labels"]["app"], "web", "the last matching state");
    assert_eq!(rv(&o), rv(&p), "at the version that made it stop matching");

    // Single-object watch by field selector.
    let mut w = watch(&r, Req::new(Verb::Watch, cms()).ns("default").q("fieldSelector", "metadata.name=y")).await;
    create_cm(&r, "default", "z").await;
    create_cm(&r, "default", "y").await;
    let (t, o) = next(&mut w).await;
    assert_eq!((t.as_str(), o["metadata"]["name"].as_str().unwrap()), ("ADDED", "y"));
}
