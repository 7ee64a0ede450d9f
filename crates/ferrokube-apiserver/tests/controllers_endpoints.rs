//! The Endpoints and EndpointSlice controllers on an in-process registry: Services
//! list their pods' addresses and ports as on a cluster, follow scaling and readiness,
//! and their objects go with them.

mod controllers_support;

use std::collections::BTreeSet;
use std::sync::Arc;

use controllers_support::{wait_for, wait_rolled_out, Env};
use ferrokube_apiserver::api::ResourceInfo;
use ferrokube_apiserver::controllers::objects;
use serde_json::{json, Value};

const NS: &str = "default";

fn services(env: &Env) -> Arc<ResourceInfo> {
    env.res().for_kind("v1", "Service").cloned().expect("services")
}

fn endpoints(env: &Env) -> Arc<ResourceInfo> {
    env.res().for_kind("v1", "Endpoints").cloned().expect("endpoints")
}

fn slices_res(env: &Env) -> Arc<ResourceInfo> {
    env.res().for_kind("discovery.k8s.io/v1", "EndpointSlice").cloned().expect("endpointslices")
}

/// The EndpointSlices of Service `name` (by the `kubernetes.io/service-name` label).
async fn service_slices(env: &Env, name: &str) -> Vec<Value> {
    let all = env.client.list_items(&slices_res(env), Some(NS)).await.expect("list endpointslices");
    all.into_iter().filter(|s| objects::labels(s).get("kubernetes.io/service-name") == Some(&json!(name))).collect()
}

/// A Deployment `name` whose container names port 8080 `http`.
fn web_deployment(name: &str, replicas: i64) -> Value {
    let mut d = controllers_support::deployment(name, replicas, "nginx");
    d["spec"]["template"]["spec"]["containers"][0]["ports"] = json!([{"name": "http", "containerPort": 8080}]);
    d
}

fn ips<'a>(addrs: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    addrs.into_iter().filter_map(|a| a.get("ip").and_then(Value::as_str)).map(str::to_owned).collect()
}

/// The IPs of the ready pods labelled `app=<app>`.
async fn ready_pod_ips(env: &Env, app: &str) -> BTreeSet<String> {
    env.pods(NS, app)
        .await
        .iter()
        .filter(objects::pod_ready)
        .filter_map(|p| p.pointer("/status/podIP").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// Waits until the Endpoints of `name` list exactly `want` as ready addresses (one
/// subset) and its slices as ready endpoints; returns both.
async fn wait_published(env: &Env, name: &str, want: &BTreeSet<String>) -> (Value, Vec<Value>) {
    let eps_res = endpoints(env);
    wait_for(&format!("endpoints of {name} = {want:?}"), || async {
        let ep = env.get(&eps_res, Some(NS), name).await?;
        let subsets = ep.get("subsets").and_then(Value::as_array).cloned().unwrap_or_default();
        let ready =
            ips(subsets.iter().flat_map(|s| s.get("addresses").and_then(Value::as_array).into_iter().flatten()));
        if ready != *want {
            return None;
        }
        let slices = service_slices(env, name).await;
        let slice_ips: BTreeSet<String> = slices
            .iter()
            .flat_map(|s| s.get("endpoints").and_then(Value::as_array).cloned().unwrap_or_default())
            .filter(|e| e.pointer("/conditions/ready") == Some(&json!(true)))
            .flat_map(|e| e.get("addresses").and_then(Value::as_array).cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect();
        (slice_ips == *want).then_some((ep, slices))
    })
    .await
}

/// A time, parsed (so `...:05Z` and `...:05.000Z` compare equal).
fn same_time(t: Option<&str>) -> Option<i64> {
    t.map(|t| objects::parse_time(t).unwrap_or_else(|| panic!("not a time: {t}")))
}

async fn scale(env: &Env, name: &str, replicas: i64) {
    env.modify(&env.res().deployments, Some(NS), name, |d| d["spec"]["replicas"] = json!(replicas)).await;
    wait_rolled_out(env, NS, name, replicas).await;
}

#[tokio::test]
async fn service_lists_ready_pods_and_follows_scaling() {
    let env = Env::start();
    env.client.create(&env.res().deployments, Some(NS), &web_deployment("web", 3)).await.unwrap();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "labels": {"tier": "frontend"}},
        "spec": {"selector": {"app": "web"}, "ports": [
            {"name": "http", "port": 80, "targetPort": "http"},
            {"name": "admin", "port": 9000, "targetPort": 9100},
        ]},
    });
    // Created once the pods run: the first write's trigger time is its creation.
    wait_rolled_out(&env, NS, "web", 3).await;
    let svc = env.client.create(&services(&env), Some(NS), &svc).await.unwrap();
    let want = ready_pod_ips(&env, "web").await;
    assert_eq!(want.len(), 3);
    let (ep, slices) = wait_published(&env, "web", &want).await;

    // Endpoints: the Service's labels, managed-by, one subset with both ports.
    assert_eq!(
        objects::labels(&ep),
        *json!({"tier": "frontend", "endpoints.kubernetes.io/managed-by": "endpoint-controller"}).as_object().unwrap()
    );
    let subsets = ep["subsets"].as_array().unwrap();
    assert_eq!(subsets.len(), 1, "{subsets:#?}");
    assert_eq!(
        subsets[0]["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "admin", "port": 9100, "protocol": "TCP"}])
    );
    assert!(subsets[0].get("notReadyAddresses").is_none());
    let addrs = subsets[0]["addresses"].as_array().unwrap();
    let listed: Vec<&str> = addrs.iter().map(|a| a["ip"].as_str().unwrap()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted, "addresses sorted by IP");
    for a in addrs {
        assert_eq!(a["nodeName"], "ferrokube-node");
        assert_eq!(a["targetRef"]["kind"], "Pod");
        assert!(a["targetRef"]["name"].as_str().unwrap().starts_with("web-"));
        assert!(a.get("hostname").is_none());
    }
    let trigger = "endpoints.kubernetes.io/last-change-trigger-time";
    assert_eq!(same_time(objects::annotation(&ep, trigger)), same_time(Some(objects::created(&svc))));

    // EndpointSlice: one, owned by the Service, three ready endpoints.
    assert_eq!(slices.len(), 1);
    let slice = &slices[0];
    assert!(objects::name(slice).starts_with("web-"));
    assert_eq!(slice["metadata"]["generateName"], "web-");
    assert_eq!(
        objects::labels(slice),
        *json!({
            "tier": "frontend",
            "kubernetes.io/service-name": "web",
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
        })
        .as_object()
        .unwrap()
    );
    assert_eq!(
        slice["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Service", "name": "web", "uid": objects::uid(&svc),
                "controller": true, "blockOwnerDeletion": true}])
    );
    assert_eq!(slice["addressType"], "IPv4");
    assert_eq!(
        slice["ports"],
        json!([{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "admin", "port": 9100, "protocol": "TCP"}])
    );
    for e in slice["endpoints"].as_array().unwrap() {
        assert_eq!(e["conditions"], json!({"ready": true, "serving": true, "terminating": false}));
        assert_eq!(e["nodeName"], "ferrokube-node");
        assert_eq!(e["targetRef"]["namespace"], NS);
    }
    assert_eq!(same_time(objects::annotation(slice, trigger)), same_time(Some(objects::created(&svc))));

    // Nothing changes: the controllers leave both alone.
    env.wait_passes(3).await;
    let rv = |o: &Value| o.pointer("/metadata/resourceVersion").cloned();
    let ep_now = env.get(&endpoints(&env), Some(NS), "web").await.expect("endpoints");
    assert_eq!(rv(&ep_now), rv(&ep), "Endpoints rewritten without a change");
    let slices_now = service_slices(&env, "web").await;
    assert_eq!(slices_now.iter().map(rv).collect::<Vec<_>>(), vec![rv(slice)], "slice rewritten without a change");

    // Scale down, then up: both follow; the slice is updated in place.
    scale(&env, "web", 1).await;
    let want = ready_pod_ips(&env, "web").await;
    assert_eq!(want.len(), 1);
    let (_, after) = wait_published(&env, "web", &want).await;
    assert_eq!(objects::name(&after[0]), objects::name(slice), "same slice, updated");
    scale(&env, "web", 4).await;
    let want = ready_pod_ips(&env, "web").await;
    assert_eq!(want.len(), 4);
    wait_published(&env, "web", &want).await;

    // The Service goes: its Endpoints (by the controller) and slices (by the garbage
    // collector) follow.
    env.client.delete(&services(&env), Some(NS), "web", &json!({})).await.unwrap();
    let eps_res = endpoints(&env);
    wait_for("endpoints and slices of web gone", || async {
        let ep = env.get(&eps_res, Some(NS), "web").await;
        (ep.is_none() && service_slices(&env, "web").await.is_empty()).then_some(())
    })
    .await;
    env.stop().await;
}

/// A pod bound to a hand-made Node the simulated kubelet does not run: its status is
/// whatever the test writes.
async fn manual_pod(env: &Env, name: &str, ip: &str, ready: bool) {
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "edge", "labels": {"topology.kubernetes.io/zone": "zone-a"}},
    });
    match env.client.create(&env.res().nodes, None, &node).await {
        Ok(_) => {}
        Err(e) if e.code == 409 => {}
        Err(e) => panic!("create node: {e:?}"),
    }
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "manual"}},
        "spec": {"nodeName": "edge", "containers": [{"name": "c", "image": "nginx",
                 "ports": [{"name": "http", "containerPort": 8080}]}]},
    });
    env.client.create(&env.res().pods, Some(NS), &pod).await.unwrap();
    set_ready(env, name, ip, ready).await;
}

async fn set_ready(env: &Env, name: &str, ip: &str, ready: bool) {
    let pods = env.res().pods.clone();
    for _ in 0..50 {
        let mut pod = env.client.get(&pods, Some(NS), name).await.unwrap();
        pod["status"]["phase"] = json!("Running");
        pod["status"]["podIP"] = json!(ip);
        pod["status"]["podIPs"] = json!([{"ip": ip}]);
        objects::set_condition(&mut pod, "Ready", if ready { "True" } else { "False" }, None, None, false);
        match env.client.update_status(&pods, &pod).await {
            Ok(_) => return,
            Err(e) if e.code == 409 => continue,
            Err(e) => panic!("update status: {e:?}"),
        }
    }
    panic!("too many conflicts");
}

/// The Endpoints of `name` once `f` accepts it, and the slice endpoint of `ip` once
/// `g` accepts it.
async fn wait_state(
    env: &Env,
    name: &str,
    ip: &str,
    f: impl Fn(&Value) -> bool,
    g: impl Fn(&Value) -> bool,
) -> (Value, Value) {
    let eps_res = endpoints(env);
    wait_for(&format!("endpoints and slice of {name} in the expected state"), || async {
        let ep = env.get(&eps_res, Some(NS), name).await?;
        if !f(&ep) {
            return None;
        }
        let e = service_slices(env, name)
            .await
            .iter()
            .flat_map(|s| s.get("endpoints").and_then(Value::as_array).cloned().unwrap_or_default())
            .find(|e| e["addresses"] == json!([ip]))?;
        g(&e).then_some((ep, e))
    })
    .await
}

#[tokio::test]
async fn not_ready_terminating_and_publish_not_ready() {
    let env = Env::start();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "manual"},
        "spec": {"selector": {"app": "manual"}, "ports": [{"port": 80, "targetPort": "http"}]},
    });
    env.client.create(&services(&env), Some(NS), &svc).await.unwrap();
    manual_pod(&env, "m1", "10.99.0.7", false).await;

    // Not ready: in notReadyAddresses, ready=false serving=false; zone from the Node.
    let not_ready = |ep: &Value| {
        ips(ep.pointer("/subsets/0/notReadyAddresses").and_then(Value::as_array).into_iter().flatten())
            .contains("10.99.0.7")
            && ep.pointer("/subsets/0/addresses").is_none()
    };
    let (ep, e) = wait_state(&env, "manual", "10.99.0.7", not_ready, |e| e["conditions"]["ready"] == false).await;
    assert_eq!(ep["subsets"][0]["ports"], json!([{"port": 8080, "protocol": "TCP"}]), "unnamed port: no name");
    assert_eq!(e["conditions"], json!({"ready": false, "serving": false, "terminating": false}));
    assert_eq!(e["zone"], "zone-a");
    assert_eq!(e["nodeName"], "edge");
    let slice = service_slices(&env, "manual").await.remove(0);
    assert_eq!(slice["ports"], json!([{"name": "", "port": 8080, "protocol": "TCP"}]));

    // Ready: moves to addresses.
    set_ready(&env, "m1", "10.99.0.7", true).await;
    let ready = |ep: &Value| {
        ips(ep.pointer("/subsets/0/addresses").and_then(Value::as_array).into_iter().flatten()).contains("10.99.0.7")
    };
    let (_, e) = wait_state(&env, "manual", "10.99.0.7", ready, |e| e["conditions"]["ready"] == true).await;
    assert_eq!(e["conditions"], json!({"ready": true, "serving": true, "terminating": false}));

    // Terminating (nothing runs on `edge`, so it stays so): gone from Endpoints, in the
    // slice as serving and terminating, not ready.
    env.client.delete(&env.res().pods, Some(NS), "m1", &json!({})).await.unwrap();
    let gone = |ep: &Value| ep.get("subsets").is_none();
    let (_, e) = wait_state(&env, "manual", "10.99.0.7", gone, |e| e["conditions"]["terminating"] == true).await;
    assert_eq!(e["conditions"], json!({"ready": false, "serving": true, "terminating": true}));

    // publishNotReadyAddresses: the terminating pod is listed as ready in both.
    env.modify(&services(&env), Some(NS), "manual", |s| s["spec"]["publishNotReadyAddresses"] = json!(true)).await;
    let (_, e) = wait_state(&env, "manual", "10.99.0.7", ready, |e| e["conditions"]["ready"] == true).await;
    assert_eq!(e["conditions"], json!({"ready": true, "serving": true, "terminating": true}));

    // Gone for good: the Endpoints lose it and the slice becomes the placeholder.
    env.client.delete(&env.res().pods, Some(NS), "m1", &json!({"gracePeriodSeconds": 0})).await.unwrap();
    let eps_res = endpoints(&env);
    wait_for("placeholder slice and empty endpoints", || async {
        let ep = env.get(&eps_res, Some(NS), "manual").await?;
        let s = service_slices(&env, "manual").await;
        // As kube stores it: `endpoints` and `ports` null.
        let placeholder = s.len() == 1 && s[0]["endpoints"].is_null() && s[0]["ports"].is_null();
        (ep.get("subsets").is_none() && placeholder).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn headless_service_publishes_hostnames_without_ports() {
    let env = Env::start();
    let mut d = controllers_support::deployment("db", 1, "postgres");
    d["spec"]["template"]["spec"]["hostname"] = json!("db-0");
    d["spec"]["template"]["spec"]["subdomain"] = json!("db");
    env.client.create(&env.res().deployments, Some(NS), &d).await.unwrap();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "db"},
        "spec": {"clusterIP": "None", "selector": {"app": "db"}},
    });
    env.client.create(&services(&env), Some(NS), &svc).await.unwrap();
    wait_rolled_out(&env, NS, "db", 1).await;
    let want = ready_pod_ips(&env, "db").await;
    let (ep, slices) = wait_published(&env, "db", &want).await;
    assert_eq!(objects::labels(&ep).get("service.kubernetes.io/headless"), Some(&json!("")));
    assert!(ep["subsets"][0].get("ports").is_none(), "no ports: {ep:#}");
    assert_eq!(ep["subsets"][0]["addresses"][0]["hostname"], "db-0");
    assert_eq!(slices.len(), 1);
    assert_eq!(objects::labels(&slices[0]).get("service.kubernetes.io/headless"), Some(&json!("")));
    assert_eq!(slices[0].get("ports"), Some(&Value::Null), "no ports: null, as kube stores it");
    assert_eq!(slices[0]["endpoints"][0]["hostname"], "db-0");
    env.stop().await;
}

#[tokio::test]
async fn services_without_selector_or_external_name_get_nothing() {
    let env = Env::start();
    env.client.create(&env.res().deployments, Some(NS), &web_deployment("api", 1)).await.unwrap();
    let manual = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
                        "spec": {"ports": [{"port": 80}]}});
    let external = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                          "spec": {"type": "ExternalName", "externalName": "example.com", "selector": {"app": "api"}}});
    let served = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
                        "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": "http"}]}});
    for s in [&manual, &external, &served] {
        env.client.create(&services(&env), Some(NS), s).await.unwrap();
    }
    wait_rolled_out(&env, NS, "api", 1).await;
    let want = ready_pod_ips(&env, "api").await;
    wait_published(&env, "api", &want).await;
    // Every controller has looked at the Services a few more times.
    env.wait_passes(3).await;
    let eps_res = endpoints(&env);
    for name in ["manual", "ext"] {
        assert!(env.get(&eps_res, Some(NS), name).await.is_none(), "{name} got Endpoints");
        assert!(service_slices(&env, name).await.is_empty(), "{name} got EndpointSlices");
    }
    env.stop().await;
}

#[tokio::test]
async fn at_most_100_endpoints_per_slice() {
    let env = Env::start();
    env.client.create(&env.res().deployments, Some(NS), &web_deployment("many", 120)).await.unwrap();
    let svc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "many"},
        "spec": {"selector": {"app": "many"}, "ports": [{"port": 80, "targetPort": "http"}]},
    });
    env.client.create(&services(&env), Some(NS), &svc).await.unwrap();
    wait_rolled_out(&env, NS, "many", 120).await;
    let want = ready_pod_ips(&env, "many").await;
    assert_eq!(want.len(), 120);
    let (ep, slices) = wait_published(&env, "many", &want).await;
    assert_eq!(ep["subsets"][0]["addresses"].as_array().map(Vec::len), Some(120), "one Endpoints object holds all");
    let mut sizes: Vec<usize> = slices.iter().map(|s| s["endpoints"].as_array().map_or(0, Vec::len)).collect();
    sizes.sort();
    assert_eq!(sizes, vec![20, 100], "slices: {sizes:?}");
    // Down to 10: the slices keep the endpoints left (kube does not repack them), and
    // one emptied would be deleted.
    scale(&env, "many", 10).await;
    let want = ready_pod_ips(&env, "many").await;
    wait_published(&env, "many", &want).await;
    // (Terminating pods stay listed, not ready, until they are gone.)
    let sizes = wait_for("10 endpoints in the slices", || async {
        let sizes: Vec<usize> =
            service_slices(&env, "many").await.iter().map(|s| s["endpoints"].as_array().map_or(0, Vec::len)).collect();
        (sizes.iter().sum::<usize>() == 10).then_some(sizes)
    })
    .await;
    assert!(sizes.iter().all(|n| *n > 0), "no empty slice is kept: {sizes:?}");
    env.stop().await;
}
