//! The Deployment, ReplicaSet and kubelet controllers on an in-process registry,
//! observed the way kubectl users observe them: through GET, LIST and WATCH.

mod controllers_support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use controllers_support::{deployment, wait_for, wait_rolled_out, Env};
use ferrokube_apiserver::controllers::objects;
use futures_util::StreamExt;
use serde_json::{json, Value};

#[derive(Default, Debug, Clone)]
struct PodStats {
    max_pods: usize,
    min_ready: usize,
    both_hashes_at_once: bool,
}

/// Follows pods labelled `app=<app>` through a watch and records the extremes.
fn monitor(
    env: &Env,
    app: &str,
    initial: Vec<Value>,
    rv: String,
) -> (Arc<Mutex<PodStats>>, tokio::task::JoinHandle<()>) {
    let stats = Arc::new(Mutex::new(PodStats { max_pods: 0, min_ready: usize::MAX, both_hashes_at_once: false }));
    let client = env.client.clone();
    let app = app.to_owned();
    let out = Arc::clone(&stats);
    let task = tokio::spawn(async move {
        let mut pods: BTreeMap<String, Value> = BTreeMap::new();
        for p in initial {
            pods.insert(objects::name(&p).to_owned(), p);
        }
        let mut stream = client.watch(&client.res.pods, Some("default"), Some(&rv)).await.expect("watch");
        while let Some(ev) = stream.next().await {
            let obj = (*ev.object).clone();
            if objects::labels(&obj).get("app") != Some(&json!(app)) {
                continue;
            }
            match ev.event_type {
                "DELETED" => {
                    pods.remove(objects::name(&obj));
                }
                "ADDED" | "MODIFIED" => {
                    pods.insert(objects::name(&obj).to_owned(), obj);
                }
                _ => continue,
            }
            let active: Vec<&Value> = pods.values().filter(objects::pod_active).collect();
            let ready = active.iter().filter(objects::pod_ready).count();
            let hashes: std::collections::BTreeSet<String> = active
                .iter()
                .filter_map(|p| objects::labels(p).get("pod-template-hash").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let mut s = out.lock().unwrap();
            s.max_pods = s.max_pods.max(active.len());
            s.min_ready = s.min_ready.min(ready);
            s.both_hashes_at_once |= hashes.len() > 1;
        }
    });
    (stats, task)
}

#[tokio::test]
async fn deployment_rolls_out_updates_and_scales() {
    let env = Env::start();
    let deploys = env.res().deployments.clone();
    env.client.create(&deploys, Some("default"), &deployment("web", 2, "nginx:1.26")).await.unwrap();

    let d = wait_rolled_out(&env, "default", "web", 2).await;
    assert_eq!(objects::annotation(&d, "deployment.kubernetes.io/revision"), Some("1"));
    let conds = d.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
    let reason =
        |ty: &str| conds.iter().find(|c| c["type"] == ty).and_then(|c| c["reason"].as_str()).map(str::to_owned);
    assert_eq!(reason("Available").as_deref(), Some("MinimumReplicasAvailable"));
    assert_eq!(reason("Progressing").as_deref(), Some("NewReplicaSetAvailable"));

    // One ReplicaSet named after the template hash, owned by the Deployment.
    let rss = env.replicasets("default", "web").await;
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = objects::labels(rs)["pod-template-hash"].as_str().unwrap().to_owned();
    assert_eq!(objects::name(rs), format!("web-{hash}"));
    assert!(hash.bytes().all(|c| b"bcdfghjklmnpqrstvwxz2456789".contains(&c)));
    assert_eq!(rs.pointer("/spec/selector/matchLabels/pod-template-hash"), Some(&json!(hash)));
    assert_eq!(objects::controller_uid(rs), Some(objects::uid(&d)));
    assert_eq!(objects::annotation(rs, "deployment.kubernetes.io/desired-replicas"), Some("2"));
    assert_eq!(objects::annotation(rs, "deployment.kubernetes.io/max-replicas"), Some("3"));

    // Two running, ready pods with distinct IPs, named after the ReplicaSet.
    let pods = env.pods("default", "web").await;
    assert_eq!(pods.len(), 2);
    let mut ips = std::collections::BTreeSet::new();
    for p in &pods {
        assert!(objects::name(p).starts_with(&format!("web-{hash}-")));
        assert_eq!(objects::phase(p), "Running");
        assert!(objects::pod_ready(p));
        for c in ["Initialized", "ContainersReady", "Ready", "PodScheduled"] {
            assert!(objects::condition_true(p, c), "{c} of {p}");
        }
        assert_eq!(p.pointer("/spec/nodeName"), Some(&json!("ferrokube-node")));
        let ip = p.pointer("/status/podIP").and_then(Value::as_str).unwrap().to_owned();
        assert!(ip.starts_with("10.244."));
        ips.insert(ip);
        let cs = &p.pointer("/status/containerStatuses").unwrap()[0];
        assert_eq!(cs["ready"], true);
        assert_eq!(cs["started"], true);
        assert_eq!(cs["restartCount"], 0);
        assert_eq!(cs["image"], "docker.io/library/nginx:1.26");
        assert!(cs["containerID"].as_str().unwrap().starts_with("containerd://"));
        assert!(cs.pointer("/state/running/startedAt").is_some());
        let refs = objects::owner_refs(p);
        assert_eq!(refs[0]["kind"], "ReplicaSet");
        assert_eq!(refs[0]["controller"], true);
        assert_eq!(refs[0]["blockOwnerDeletion"], true);
    }
    assert_eq!(ips.len(), 2);

    // Rolling update, watched pod by pod.
    let (initial, rv) = env.client.list(&env.res().pods, Some("default")).await.unwrap();
    let initial: Vec<Value> =
        initial.into_iter().filter(|p| objects::labels(p).get("app") == Some(&json!("web"))).collect();
    let (stats, task) = monitor(&env, "web", initial, rv);
    env.modify(&deploys, Some("default"), "web", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
    })
    .await;
    wait_for("second revision rolled out", || async {
        let d = env.get(&deploys, Some("default"), "web").await?;
        let done = controllers_support::rolled_out(&d)
            && objects::annotation(&d, "deployment.kubernetes.io/revision") == Some("2")
            && d.pointer("/status/availableReplicas") == Some(&json!(2));
        done.then_some(())
    })
    .await;
    let rss = env.replicasets("default", "web").await;
    assert_eq!(rss.len(), 2);
    let old = rss.iter().find(|r| objects::labels(r)["pod-template-hash"] == json!(hash)).unwrap();
    let new = rss.iter().find(|r| objects::labels(r)["pod-template-hash"] != json!(hash)).unwrap();
    assert_eq!(old.pointer("/spec/replicas"), Some(&json!(0)));
    assert_eq!(new.pointer("/spec/replicas"), Some(&json!(2)));
    assert_eq!(objects::annotation(new, "deployment.kubernetes.io/revision"), Some("2"));
    wait_for("old pods gone, new pods running", || async {
        let pods = env.pods("default", "web").await;
        let ok = pods.len() == 2
            && pods
                .iter()
                .all(|p| objects::pod_ready(p) && p.pointer("/spec/containers/0/image") == Some(&json!("nginx:1.27")));
        ok.then_some(())
    })
    .await;
    task.abort();
    let s = stats.lock().unwrap().clone();
    // Default strategy for 2 replicas: maxSurge 1 (25% rounded up), maxUnavailable 0.
    assert!(s.max_pods <= 3, "more than replicas+maxSurge pods: {s:?}");
    assert_eq!(s.max_pods, 3, "the surge pod was never observed: {s:?}");
    assert!(s.min_ready >= 2, "fewer than replicas-maxUnavailable ready: {s:?}");
    assert!(s.both_hashes_at_once, "old and new pods never overlapped: {s:?}");

    // Scale down to 1.
    env.modify(&deploys, Some("default"), "web", |d| d["spec"]["replicas"] = json!(1)).await;
    wait_rolled_out(&env, "default", "web", 1).await;
    wait_for("one pod left", || async { (env.pods("default", "web").await.len() == 1).then_some(()) }).await;
    let rs = env.get(&env.res().replicasets, Some("default"), objects::name(new)).await.unwrap();
    assert_eq!(objects::annotation(&rs, "deployment.kubernetes.io/desired-replicas"), Some("1"));
    env.stop().await;
}

#[tokio::test]
async fn recreate_strategy_never_overlaps() {
    let env = Env::start();
    let deploys = env.res().deployments.clone();
    let mut d = deployment("batch", 2, "busybox:1.36");
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    env.client.create(&deploys, Some("default"), &d).await.unwrap();
    wait_rolled_out(&env, "default", "batch", 2).await;

    let (initial, rv) = env.client.list(&env.res().pods, Some("default")).await.unwrap();
    let initial: Vec<Value> =
        initial.into_iter().filter(|p| objects::labels(p).get("app") == Some(&json!("batch"))).collect();
    let (stats, task) = monitor(&env, "batch", initial, rv);
    env.modify(&deploys, Some("default"), "batch", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:1.37");
    })
    .await;
    wait_for("recreated", || async {
        let d = env.get(&deploys, Some("default"), "batch").await?;
        (controllers_support::rolled_out(&d)
            && objects::annotation(&d, "deployment.kubernetes.io/revision") == Some("2")
            && d.pointer("/status/availableReplicas") == Some(&json!(2)))
        .then_some(())
    })
    .await;
    task.abort();
    let s = stats.lock().unwrap().clone();
    assert!(!s.both_hashes_at_once, "Recreate ran old and new pods together: {s:?}");
    assert!(s.max_pods <= 2, "{s:?}");
    assert_eq!(s.min_ready, 0, "Recreate should have gone through zero ready pods: {s:?}");
    env.stop().await;
}

#[tokio::test]
async fn pod_phases_seen_through_watch() {
    let env = Env::start();
    let pods = env.res().pods.clone();
    let (_, rv) = env.client.list(&pods, Some("default")).await.unwrap();
    let mut stream = env.client.watch(&pods, Some("default"), Some(&rv)).await.unwrap();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "solo"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    });
    env.client.create(&pods, Some("default"), &pod).await.unwrap();
    let mut seen: Vec<String> = Vec::new();
    let step = |p: &Value| -> String {
        let waiting = p.pointer("/status/containerStatuses/0/state/waiting/reason").and_then(Value::as_str);
        match (objects::phase(p), p.pointer("/spec/nodeName").is_some(), waiting) {
            ("Pending", false, _) => "Pending".into(),
            ("Pending", true, None) => "Scheduled".into(),
            ("Pending", true, Some(r)) => r.to_owned(),
            ("Running", _, _) if objects::pod_ready(p) => "Running/Ready".into(),
            (other, _, _) => other.to_owned(),
        }
    };
    let deadline = tokio::time::Instant::now() + controllers_support::TIMEOUT;
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, stream.next()).await {
        if objects::name(&ev.object) != "solo" || objects::namespace(&ev.object) != Some("default") {
            continue;
        }
        let s = step(&ev.object);
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "Running/Ready" {
            let p = &ev.object;
            assert!(p.pointer("/status/podIP").is_some());
            assert_eq!(p.pointer("/status/hostIP"), Some(&json!("172.18.0.2")));
            assert!(p.pointer("/status/startTime").is_some());
            break;
        }
    }
    assert_eq!(seen, ["Pending", "Scheduled", "ContainerCreating", "Running/Ready"]);

    // The node is there and Ready.
    let node = env.get(&env.res().nodes, None, "ferrokube-node").await.unwrap();
    assert!(objects::condition_true(&node, "Ready"));
    assert_eq!(node.pointer("/status/nodeInfo/kubeletVersion"), Some(&json!("v1.37.0")));

    // Events for kubectl describe (recorded after the status writes, as a kubelet does).
    let wanted = ["Scheduled", "Pulled", "Created", "Started"];
    controllers_support::wait_for("the pod's events", || async {
        let events = env.client.list_items(&env.res().events, Some("default")).await.unwrap();
        let reasons: Vec<String> = events
            .iter()
            .filter(|e| e.pointer("/involvedObject/name") == Some(&json!("solo")))
            .filter(|e| e.pointer("/involvedObject/kind") == Some(&json!("Pod")))
            .filter_map(|e| e["reason"].as_str().map(str::to_owned))
            .collect();
        wanted.iter().all(|r| reasons.iter().any(|x| x == r)).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn replicaset_adopts_orphans_and_replaces_deleted_pods() {
    let env = Env::start();
    let pods = env.res().pods.clone();
    let orphan = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "stray", "labels": {"app": "cache"}},
        "spec": {"containers": [{"name": "c", "image": "redis"}]},
    });
    env.client.create(&pods, Some("default"), &orphan).await.unwrap();
    let rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "cache"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "cache"}},
            "template": {"metadata": {"labels": {"app": "cache"}}, "spec": {"containers": [{"name": "c", "image": "redis"}]}},
        },
    });
    env.client.create(&env.res().replicasets, Some("default"), &rs).await.unwrap();
    let rs = wait_for("replicaset ready", || async {
        let rs = env.get(&env.res().replicasets, Some("default"), "cache").await?;
        (rs.pointer("/status/readyReplicas") == Some(&json!(2))
            && rs.pointer("/status/availableReplicas") == Some(&json!(2)))
        .then_some(rs)
    })
    .await;
    assert_eq!(rs.pointer("/status/observedGeneration"), Some(&json!(1)));
    assert_eq!(rs.pointer("/status/fullyLabeledReplicas"), Some(&json!(2)));
    let all = env.pods("default", "cache").await;
    assert_eq!(all.len(), 2);
    let stray = all.iter().find(|p| objects::name(p) == "stray").expect("orphan adopted, not replaced");
    assert_eq!(objects::controller_uid(stray), Some(objects::uid(&rs)));
    let other = all.iter().find(|p| objects::name(p) != "stray").unwrap();
    assert!(objects::name(other).starts_with("cache-"));

    // A deleted pod is replaced.
    env.client.delete(&pods, Some("default"), "stray", &json!({})).await.unwrap();
    wait_for("replacement", || async {
        let all = env.pods("default", "cache").await;
        (all.len() == 2 && all.iter().all(|p| objects::name(p) != "stray" && objects::pod_ready(p))).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn paused_deployment_waits_and_rollback_reuses_the_old_replicaset() {
    let env = Env::start();
    let deploys = env.res().deployments.clone();
    env.client.create(&deploys, Some("default"), &deployment("app", 1, "nginx:1")).await.unwrap();
    wait_rolled_out(&env, "default", "app", 1).await;
    let first = env.replicasets("default", "app").await;
    assert_eq!(first.len(), 1);

    // Paused: a template change creates nothing.
    env.modify(&deploys, Some("default"), "app", |d| {
        d["spec"]["paused"] = json!(true);
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    })
    .await;
    let d = wait_for("paused observed", || async {
        let d = env.get(&deploys, Some("default"), "app").await?;
        let cond = objects::condition(&d, "Progressing")?;
        (cond["reason"] == "DeploymentPaused").then_some(d)
    })
    .await;
    assert_eq!(d.pointer("/status/observedGeneration"), d.pointer("/metadata/generation"));
    assert_eq!(env.replicasets("default", "app").await.len(), 1);

    // Resumed: revision 2.
    env.modify(&deploys, Some("default"), "app", |d| d["spec"]["paused"] = json!(false)).await;
    wait_for("revision 2", || async {
        let d = env.get(&deploys, Some("default"), "app").await?;
        (controllers_support::rolled_out(&d)
            && objects::annotation(&d, "deployment.kubernetes.io/revision") == Some("2"))
        .then_some(())
    })
    .await;

    // Back to the first template: its ReplicaSet is reused as revision 3.
    env.modify(&deploys, Some("default"), "app", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1");
    })
    .await;
    wait_for("revision 3", || async {
        let d = env.get(&deploys, Some("default"), "app").await?;
        (controllers_support::rolled_out(&d)
            && objects::annotation(&d, "deployment.kubernetes.io/revision") == Some("3"))
        .then_some(())
    })
    .await;
    let rss = env.replicasets("default", "app").await;
    assert_eq!(rss.len(), 2);
    let reused = rss.iter().find(|r| objects::name(r) == objects::name(&first[0])).unwrap();
    assert_eq!(objects::annotation(reused, "deployment.kubernetes.io/revision"), Some("3"));
    assert_eq!(reused.pointer("/spec/replicas"), Some(&json!(1)));
    env.stop().await;
}

#[tokio::test]
async fn controllers_settle_and_shut_down() {
    let env = Env::start();
    let deploys = env.res().deployments.clone();
    env.client.create(&deploys, Some("default"), &deployment("idle", 3, "nginx")).await.unwrap();
    wait_rolled_out(&env, "default", "idle", 3).await;
    // Once converged, resyncs write nothing: every controller loop looks at the state
    // three more times and the store's revision stays where it was.
    env.wait_passes(1).await;
    let rv = env.registry.store().current_rv();
    env.wait_passes(3).await;
    assert_eq!(env.registry.store().current_rv(), rv, "controllers kept writing after convergence");
    assert!(env.watchers() > 0, "the controllers watch while they run");
    let registry = env.registry.clone();
    env.stop().await;
    // Stopped: every controller task has ended, so no watch is left open and a new
    // Deployment gets no ReplicaSet.
    let store = registry.store();
    let open: usize = store.resource_keys().iter().map(|k| store.watcher_count(k)).sum();
    assert_eq!(open, 0, "a controller still watches after shutdown");
    let client = ferrokube_apiserver::controllers::client::Client::new(
        registry.clone(),
        std::sync::Arc::new(ferrokube_apiserver::controllers::client::Resources::builtin().unwrap()),
        "test-user",
    );
    client.create(&client.res.deployments, Some("default"), &deployment("late", 1, "nginx")).await.unwrap();
    assert!(client
        .list_items(&client.res.replicasets, Some("default"))
        .await
        .unwrap()
        .iter()
        .all(|r| !objects::name(r).starts_with("late")));
}
