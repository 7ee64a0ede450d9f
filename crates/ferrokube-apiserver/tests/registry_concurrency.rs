//! Concurrency of the registry over its public API: concurrent writers, a watcher
//! whose buffer is too small (so the store drops it) that resumes from the last
//! resourceVersion it saw, and paging during writes. The watcher's replayed state
//! must equal the final list: no event lost, duplicated or out of order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ferrokube_apiserver::api::{ApiRequest, ApiResponse, ResourceInfo, Verb};
use ferrokube_apiserver::registry::Registry;
use ferrokube_apiserver::storage::StoreConfig;
use futures_util::StreamExt;
use serde_json::{json, Value};

fn configmaps() -> Arc<ResourceInfo> {
    Arc::new(ResourceInfo {
        group: String::new(),
        version: "v1".into(),
        plural: "configmaps".into(),
        singular: "configmap".into(),
        kind: "ConfigMap".into(),
        namespaced: true,
        short_names: vec!["cm".into()],
        categories: vec![],
        verbs: vec![],
        has_status: false,
        has_scale: false,
    })
}

fn request(verb: Verb, name: Option<&str>, query: &[(&str, &str)], body: Option<Value>, ct: &str) -> ApiRequest {
    let mut req = ApiRequest::new(verb, configmaps()).with_namespace("default");
    if let Some(n) = name {
        req = req.with_name(n);
    }
    for (k, v) in query {
        req = req.with_query(*k, *v);
    }
    match body {
        Some(b) => req.with_json(&b, ct),
        None => req,
    }
}

async fn object(r: &Registry, req: ApiRequest) -> Value {
    match r.handle(req).await {
        Ok(ApiResponse::Object { body, .. }) => body,
        Ok(ApiResponse::Watch(_)) => panic!("unexpected watch"),
        Err(e) => panic!("request failed: {e:?}"),
    }
}

fn rv_of(v: &Value) -> u64 {
    v["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_watch_replays_every_change_in_order() {
    let r =
        Registry::with_options(StoreConfig { history_capacity: 100_000, watch_buffer: 8 }, Duration::from_secs(3600));
    for i in 0..10 {
        object(
            &r,
            request(
                Verb::Create,
                None,
                &[],
                Some(json!({"metadata": {"name": format!("cm{i}")}, "data": {"n": "0"}})),
                "application/json",
            ),
        )
        .await;
    }
    let start = r.store().current_rv();

    // Writers: merge patches with no precondition, so conflicts are retried inside.
    let mut writers = Vec::new();
    for w in 0..4 {
        let r = Arc::clone(&r);
        writers.push(tokio::spawn(async move {
            for n in 0..150 {
                let name = format!("cm{}", (w * 7 + n) % 10);
                let patch = json!({"data": {format!("w{w}"): n.to_string()}});
                object(&r, request(Verb::Patch, Some(&name), &[], Some(patch), "application/merge-patch+json")).await;
                if n % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }

    // Watcher: slow on purpose; resumes from its last resourceVersion when dropped.
    let mut state: HashMap<String, Value> = HashMap::new();
    let mut last = start;
    let mut resumes = 0;
    let list = object(
        &r,
        request(
            Verb::List,
            None,
            &[("resourceVersion", &start.to_string()), ("resourceVersionMatch", "Exact")],
            None,
            "application/json",
        ),
    )
    .await;
    for item in list["items"].as_array().unwrap() {
        state.insert(item["metadata"]["name"].as_str().unwrap().to_owned(), item.clone());
    }
    let writers_done = async {
        for w in writers {
            w.await.unwrap();
        }
    };
    tokio::pin!(writers_done);
    let mut done = false;
    loop {
        let req = request(
            Verb::Watch,
            None,
            &[("resourceVersion", &last.to_string()), ("timeoutSeconds", "2")],
            None,
            "application/json",
        );
        let Ok(ApiResponse::Watch(mut s)) = r.handle(req).await else { panic!("watch failed") };
        let mut got_any = false;
        loop {
            tokio::select! {
                _ = &mut writers_done, if !done => { done = true; }
                ev = s.next() => {
                    let Some(ev) = ev else { break };
                    assert_ne!(ev.event_type, "ERROR", "{}", ev.object);
                    let rv = rv_of(&ev.object);
                    assert!(rv > last, "events in order: {rv} after {last}");
                    last = rv;
                    got_any = true;
                    let name = ev.object["metadata"]["name"].as_str().unwrap().to_owned();
                    match ev.event_type {
                        "DELETED" => { state.remove(&name); }
                        _ => { state.insert(name, (*ev.object).clone()); }
                    }
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
        }
        resumes += 1;
        if done && !got_any && last == r.store().current_rv() {
            break;
        }
        assert!(resumes < 10_000, "watch never caught up");
    }
    assert!(resumes > 1, "the watch was resumed at least once");

    let final_list = object(&r, request(Verb::List, None, &[], None, "application/json")).await;
    let items = final_list["items"].as_array().unwrap();
    assert_eq!(items.len(), state.len());
    for item in items {
        let name = item["metadata"]["name"].as_str().unwrap();
        assert_eq!(&state[name], item, "replayed state of {name}");
    }
    // Every writer's last patch landed.
    for item in items {
        for (k, v) in item["data"].as_object().unwrap() {
            if k.starts_with('w') {
                assert!(v.as_str().unwrap().parse::<u32>().unwrap() < 150);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_during_writes_sees_one_snapshot() {
    let r = Registry::new();
    for i in 0..200 {
        object(
            &r,
            request(
                Verb::Create,
                None,
                &[],
                Some(json!({"metadata": {"name": format!("c{i:03}")}})),
                "application/json",
            ),
        )
        .await;
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut list_rv = None;
    let mut writer = None;
    loop {
        let mut q = vec![("limit", "7".to_owned())];
        if let Some(t) = &token {
            q.push(("continue", t.clone()));
        }
        let qs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = object(&r, request(Verb::List, None, &qs, None, "application/json")).await;
        let rv = page["metadata"]["resourceVersion"].as_str().unwrap().to_owned();
        assert_eq!(list_rv.get_or_insert_with(|| rv.clone()), &rv);
        for i in page["items"].as_array().unwrap() {
            names.push(i["metadata"]["name"].as_str().unwrap().to_owned());
        }
        match page["metadata"]["continue"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
        // Writes start once the first page fixed the snapshot.
        if writer.is_none() {
            let r = Arc::clone(&r);
            writer = Some(tokio::spawn(async move {
                for i in 0..200 {
                    let name = format!("c{i:03}");
                    object(&r, request(Verb::Delete, Some(&name), &[], None, "application/json")).await;
                    object(
                        &r,
                        request(
                            Verb::Create,
                            None,
                            &[],
                            Some(json!({"metadata": {"name": format!("n{i:03}")}})),
                            "application/json",
                        ),
                    )
                    .await;
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::task::yield_now().await;
    }
    if let Some(w) = writer {
        w.await.unwrap();
    }
    assert!(r.store().current_rv() > list_rv.unwrap().parse::<u64>().unwrap());
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, names, "sorted, no duplicates");
    // The snapshot predates every write.
    let want: Vec<String> = (0..200).map(|i| format!("c{i:03}")).collect();
    assert_eq!(names, want);
}
