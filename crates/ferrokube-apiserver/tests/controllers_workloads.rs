//! The Job, StatefulSet and DaemonSet controllers on an in-process registry.

mod controllers_support;

use controllers_support::{wait_for, Env};
use ferrokube_apiserver::controllers::objects;
use futures_util::StreamExt;
use serde_json::{json, Value};

fn template(app: &str, restart: &str) -> Value {
    json!({
        "metadata": {"labels": {"app": app}},
        "spec": {"restartPolicy": restart, "containers": [{"name": "main", "image": "busybox"}]},
    })
}

#[tokio::test]
async fn job_runs_pods_to_completion() {
    let env = Env::start();
    let jobs = env.res().jobs.clone();
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pi"},
        "spec": {"completions": 2, "parallelism": 1, "template": template("pi", "Never")},
    });
    env.client.create(&jobs, Some("default"), &job).await.unwrap();
    let done = wait_for("job complete", || async {
        let j = env.get(&jobs, Some("default"), "pi").await?;
        objects::condition_true(&j, "Complete").then_some(j)
    })
    .await;
    assert_eq!(done.pointer("/status/succeeded"), Some(&json!(2)));
    assert!(done.pointer("/status/active").is_none());
    assert!(done.pointer("/status/startTime").is_some());
    assert!(done.pointer("/status/completionTime").is_some());
    assert!(objects::condition_true(&done, "SuccessCriteriaMet"));
    let pods = env.pods("default", "pi").await;
    assert_eq!(pods.len(), 2);
    for p in &pods {
        assert_eq!(objects::phase(p), "Succeeded");
        assert!(objects::name(p).starts_with("pi-"));
        assert_eq!(objects::labels(p)["job-name"], "pi");
        assert_eq!(p.pointer("/status/containerStatuses/0/state/terminated/reason"), Some(&json!("Completed")));
    }
    env.stop().await;
}

#[tokio::test]
async fn statefulset_creates_ordinal_pods_in_order() {
    let env = Env::start();
    let sets = env.res().statefulsets.clone();
    let sts = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3, "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": template("db", "Always"),
        },
    });
    let (_, rv) = env.client.list(&env.res().pods, Some("default")).await.unwrap();
    let mut stream = env.client.watch(&env.res().pods, Some("default"), Some(&rv)).await.unwrap();
    env.client.create(&sets, Some("default"), &sts).await.unwrap();
    // OrderedReady: each ordinal appears only once the previous one is Ready.
    let mut ready: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + controllers_support::TIMEOUT;
    while ready.len() < 3 {
        let ev = tokio::time::timeout_at(deadline, stream.next()).await.expect("timely events").expect("open stream");
        let name = objects::name(&ev.object).to_owned();
        if ev.event_type == "ADDED" {
            let i: usize = name.trim_start_matches("db-").parse().unwrap();
            assert_eq!(ready.len(), i, "{name} created before its predecessors were Ready: {ready:?}");
        }
        if objects::pod_ready(&ev.object) && !ready.contains(&name) {
            ready.push(name);
        }
    }
    let s = wait_for("statefulset ready", || async {
        let s = env.get(&sets, Some("default"), "db").await?;
        (s.pointer("/status/readyReplicas") == Some(&json!(3))).then_some(s)
    })
    .await;
    assert_eq!(s.pointer("/status/currentRevision"), s.pointer("/status/updateRevision"));
    let mut names: Vec<String> = env.pods("default", "db").await.iter().map(|p| objects::name(p).to_owned()).collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1", "db-2"]);
    let pods = env.pods("default", "db").await;
    let p0 = pods.iter().find(|p| objects::name(p) == "db-0").unwrap();
    assert_eq!(p0.pointer("/spec/hostname"), Some(&json!("db-0")));
    assert_eq!(p0.pointer("/spec/subdomain"), Some(&json!("db")));

    // Scale down removes the highest ordinal.
    env.modify(&sets, Some("default"), "db", |s| s["spec"]["replicas"] = json!(2)).await;
    wait_for("db-2 removed", || async {
        let names: Vec<String> = env.pods("default", "db").await.iter().map(|p| objects::name(p).to_owned()).collect();
        (names.len() == 2 && !names.contains(&"db-2".to_owned())).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn daemonset_runs_one_pod_on_the_node() {
    let env = Env::start();
    let dss = env.res().daemonsets.clone();
    let ds = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": template("agent", "Always")},
    });
    env.client.create(&dss, Some("default"), &ds).await.unwrap();
    let d = wait_for("daemonset ready", || async {
        let d = env.get(&dss, Some("default"), "agent").await?;
        (d.pointer("/status/numberReady") == Some(&json!(1))).then_some(d)
    })
    .await;
    assert_eq!(d.pointer("/status/desiredNumberScheduled"), Some(&json!(1)));
    assert_eq!(d.pointer("/status/updatedNumberScheduled"), Some(&json!(1)));
    let pods = env.pods("default", "agent").await;
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].pointer("/spec/nodeName"), Some(&json!("ferrokube-node")));

    // A template change replaces the pod.
    let old = objects::name(&pods[0]).to_owned();
    env.modify(&dss, Some("default"), "agent", |d| {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("busybox:1.37");
    })
    .await;
    wait_for("pod replaced", || async {
        let pods = env.pods("default", "agent").await;
        (pods.len() == 1 && objects::name(&pods[0]) != old && objects::pod_ready(&pods[0])).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn kubelet_stops_a_deleted_pod_and_removes_it() {
    let env = Env::start();
    let pods = env.res().pods.clone();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "held", "labels": {"app": "held"}, "finalizers": ["example.com/hold"]},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    });
    env.client.create(&pods, Some("default"), &pod).await.unwrap();
    wait_for("running", || async {
        let p = env.get(&pods, Some("default"), "held").await?;
        objects::pod_ready(&p).then_some(())
    })
    .await;
    // The finalizer keeps the pod in place after the delete (Terminating).
    env.client.delete(&pods, Some("default"), "held", &json!({})).await.unwrap();
    let p = wait_for("containers stopped", || async {
        let p = env.get(&pods, Some("default"), "held").await?;
        p.pointer("/status/containerStatuses/0/state/terminated").is_some().then_some(p)
    })
    .await;
    assert!(objects::is_deleting(&p));
    assert_eq!(objects::phase(&p), "Succeeded");
    assert!(!objects::pod_ready(&p));
    env.modify(&pods, Some("default"), "held", |p| objects::set_finalizers(p, &[])).await;
    wait_for("pod gone", || async { env.get(&pods, Some("default"), "held").await.is_none().then_some(()) }).await;
    let events = env.client.list_items(&env.res().events, Some("default")).await.unwrap();
    assert!(events
        .iter()
        .any(|e| e["reason"] == "Killing" && e.pointer("/involvedObject/name") == Some(&json!("held"))));
    env.stop().await;
}

#[tokio::test]
async fn unschedulable_pod_waits_for_a_matching_node() {
    let env = Env::start();
    let pods = env.res().pods.clone();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "picky"},
        "spec": {"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "image": "nginx"}]},
    });
    env.client.create(&pods, Some("default"), &pod).await.unwrap();
    let p = wait_for("unschedulable", || async {
        let p = env.get(&pods, Some("default"), "picky").await?;
        let c = objects::condition(&p, "PodScheduled")?;
        (c["reason"] == "Unschedulable").then_some(p)
    })
    .await;
    assert_eq!(objects::phase(&p), "Pending");
    assert!(p.pointer("/spec/nodeName").is_none());
    let nodes = env.res().nodes.clone();
    env.modify(&nodes, None, "ferrokube-node", |n| n["metadata"]["labels"]["disk"] = json!("ssd")).await;
    wait_for("scheduled and running", || async {
        let p = env.get(&pods, Some("default"), "picky").await?;
        objects::pod_ready(&p).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn events_older_than_the_ttl_are_deleted_and_fresh_ones_stay() {
    let env = Env::start();
    let events = env.res().events.clone();
    let event = |name: &str, last: &str| {
        json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
            "reason": "Test", "message": "m", "type": "Normal",
            "firstTimestamp": last, "lastTimestamp": last, "count": 1,
        })
    };
    let now = jiff::Timestamp::now();
    let old = (now - jiff::SignedDuration::from_hours(2)).strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let recent = now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    env.client.create(&events, Some("default"), &event("recent", &recent)).await.unwrap();
    env.client.create(&events, Some("default"), &event("old", &old)).await.unwrap();
    wait_for("the expired event deleted", || async {
        env.get(&events, Some("default"), "old").await.is_none().then_some(())
    })
    .await;
    // The expiry runs on every resync: two more passes and the recent one is still there.
    env.wait_passes(2).await;
    assert!(env.get(&events, Some("default"), "recent").await.is_some(), "an Event within the TTL stays");
    env.stop().await;
}
