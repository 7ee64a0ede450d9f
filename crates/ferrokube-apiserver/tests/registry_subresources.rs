//! Subresources through the registry: status and scale, and the pod subresources
//! binding, eviction (with PodDisruptionBudgets) and ephemeralcontainers.
//!
//! They call the registry directly, as the HTTP front end does (`Registry::handle`);
//! the HTTP layer itself is tested in `server_*.rs`.

mod registry_support;

use ferrokube_apiserver::api::Verb;
use ferrokube_apiserver::registry::Registry;
use registry_support::*;
use serde_json::{json, Value};

#[tokio::test]
async fn status_subresource() {
    let r = Registry::new();
    let d = ok(&r, Req::new(Verb::Create, deploys()).ns("default").body(deployment("web"))).await;
    // Like kube-apiserver (Go's non-pointer status struct): an empty status, not none.
    assert_eq!(d["status"], json!({}), "a new deployment has an empty status");
    let c = ok(&r, Req::new(Verb::Create, cms()).ns("default").body(cm("no-status"))).await;
    assert!(c.get("status").is_none(), "config maps have no status: {c}");
    let mut b = d.clone();
    b["status"] = json!({"replicas": 2, "readyReplicas": 1});
    b["spec"]["replicas"] = json!(9);
    b["metadata"]["annotations"] = json!({"deployment.kubernetes.io/revision": "1"});
    let s = ok(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").sub("status").body(b)).await;
    assert_eq!(s["status"]["readyReplicas"], 1);
    assert_eq!(s["spec"]["replicas"], 2, "spec changes through /status are ignored");
    // Annotations are not reset by the status strategy (kube's deployment controller
    // records its revision this way).
    assert_eq!(s["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(s["metadata"]["generation"], 1);
    let g = ok(&r, Req::new(Verb::Get, deploys()).ns("default").name("web").sub("status")).await;
    assert_eq!(g["status"]["replicas"], 2);
    let p = ok(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .sub("status")
            .ct("application/merge-patch+json")
            .body(json!({"status": {"replicas": 3}})),
    )
    .await;
    assert_eq!(p["status"]["replicas"], 3);
    assert_eq!(p["status"]["readyReplicas"], 1);
    let e = err(&r, Req::new(Verb::Get, cms()).ns("default").name("x").sub("status")).await;
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn scale_subresource() {
    let r = Registry::new();
    let d = ok(&r, Req::new(Verb::Create, deploys()).ns("default").body(deployment("web"))).await;
    let s = ok(&r, Req::new(Verb::Get, deploys()).ns("default").name("web").sub("scale")).await;
    assert_eq!(s["kind"], "Scale");
    assert_eq!(s["apiVersion"], "autoscaling/v1");
    assert_eq!(s["spec"]["replicas"], 2);
    assert_eq!(s["status"]["selector"], "app=web");
    assert_eq!(s["metadata"]["uid"], d["metadata"]["uid"]);
    let mut put = s.clone();
    put["spec"]["replicas"] = json!(4);
    let s2 = ok(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").sub("scale").body(put.clone())).await;
    assert_eq!(s2["spec"]["replicas"], 4);
    // Stale Scale resourceVersion.
    let e = err(&r, Req::new(Verb::Update, deploys()).ns("default").name("web").sub("scale").body(put)).await;
    assert_eq!(e.code, 409);
    let s3 = ok(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .sub("scale")
            .ct("application/merge-patch+json")
            .body(json!({"spec": {"replicas": 1}})),
    )
    .await;
    assert_eq!(s3["spec"]["replicas"], 1);
    let g = ok(&r, Req::new(Verb::Get, deploys()).ns("default").name("web")).await;
    assert_eq!(g["spec"]["replicas"], 1);
    assert_eq!(g["metadata"]["generation"], 3);
    let e = err(
        &r,
        Req::new(Verb::Patch, deploys())
            .ns("default")
            .name("web")
            .sub("scale")
            .ct("application/merge-patch+json")
            .body(json!({"spec": {"replicas": -1}})),
    )
    .await;
    assert_eq!(e.code, 422);
    let e = err(&r, Req::new(Verb::Get, cms()).ns("default").name("x").sub("scale")).await;
    assert_eq!(e.code, 404);
}

#[tokio::test]
async fn pod_binding() {
    let r = Registry::new();
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("q", json!({})))).await;
    let binding = |name: &str, node: &str| {
        json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "annotations": {"scheduled-by": "test"}},
               "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    };
    let bind =
        |name: &str, body: Value| Req::new(Verb::Create, pods()).ns("default").name(name).sub("binding").body(body);

    let dry = call(&r, bind("q", binding("q", "node-x")).q("dryRun", "All")).await;
    assert_created_success(dry);
    let q = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("q")).await;
    assert!(q["spec"].get("nodeName").is_none(), "dry run binds nothing");

    assert_created_success(call(&r, bind("q", binding("q", "node-x"))).await);
    let q = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("q")).await;
    assert_eq!(q["spec"]["nodeName"], "node-x");
    assert_eq!(q["metadata"]["annotations"]["scheduled-by"], "test");
    let scheduled =
        q["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PodScheduled").cloned().unwrap();
    assert_eq!(scheduled["status"], "True");

    let again = err(&r, bind("q", binding("q", "node-y"))).await;
    assert_eq!((again.code, again.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        again.message,
        "Operation cannot be fulfilled on pods/binding \"q\": pod q is already assigned to node \"node-x\""
    );

    let mismatch = err(&r, bind("q", binding("other", "node-x"))).await;
    assert_eq!((mismatch.code, mismatch.message.as_str()), (400, "name in URL does not match name in Binding object"));
    let no_target =
        err(&r, bind("q", json!({"kind": "Binding", "metadata": {"name": "q"}, "target": {"kind": "Pod"}}))).await;
    assert_eq!(no_target.code, 422);
    assert!(
        no_target.message.contains("target.kind") && no_target.message.contains("target.name: Required value"),
        "{}",
        no_target.message
    );
    assert_eq!(err(&r, bind("nope", binding("nope", "node-x"))).await.code, 404);
    let get = err(&r, Req::new(Verb::Get, pods()).ns("default").name("q").sub("binding")).await;
    assert_eq!(get.code, 405);

    // The older form: POST namespaces/<ns>/bindings, the pod named in the body.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("r", json!({})))).await;
    assert_created_success(
        call(&r, Req::new(Verb::Create, bindings()).ns("default").body(binding("r", "node-z"))).await,
    );
    let pr = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("r")).await;
    assert_eq!(pr["spec"]["nodeName"], "node-z");
}

#[tokio::test]
async fn pod_eviction_and_disruption_budgets() {
    let r = Registry::new();
    let evict =
        |name: &str, body: Value| Req::new(Verb::Create, pods()).ns("default").name(name).sub("eviction").body(body);
    let eviction = |name: &str| json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": "default"}});

    // No budget: the pod is deleted.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("a", json!({"app": "a"})))).await;
    let mismatch = err(&r, evict("a", eviction("b"))).await;
    assert_eq!((mismatch.code, mismatch.message.as_str()), (400, "name in URL does not match name in Eviction object"));
    let mut dry = eviction("a");
    dry["deleteOptions"] = json!({"dryRun": ["All"]});
    assert_created_success(call(&r, evict("a", dry)).await);
    ok(&r, Req::new(Verb::Get, pods()).ns("default").name("a")).await;
    assert_created_success(call(&r, evict("a", eviction("a"))).await);
    assert_eq!(err(&r, Req::new(Verb::Get, pods()).ns("default").name("a")).await.code, 404);
    assert_eq!(err(&r, evict("a", eviction("a"))).await.code, 404);

    // The deleteOptions apply: a failed precondition is a conflict.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("u", json!({})))).await;
    let mut pre = eviction("u");
    pre["deleteOptions"] = json!({"preconditions": {"uid": "not-the-uid"}});
    assert_eq!(err(&r, evict("u", pre)).await.code, 409);

    // A running pod selected by a budget.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("web-1", json!({"app": "web"})))).await;
    let mut running = ok(&r, Req::new(Verb::Get, pods()).ns("default").name("web-1")).await;
    running["status"] = json!({"phase": "Running"});
    ok(&r, Req::new(Verb::Update, pods()).ns("default").name("web-1").sub("status").body(running)).await;
    ok(
        &r,
        Req::new(Verb::Create, pdbs()).ns("default").body(json!({
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}})),
    )
    .await;
    let unprocessed = err(&r, evict("web-1", eviction("web-1"))).await;
    assert_eq!((unprocessed.code, unprocessed.reason.as_str()), (429, "TooManyRequests"));
    assert!(unprocessed.details.as_ref().unwrap().to_string().contains("is still being processed by the server"));

    let set_status = |status: Value| async {
        let mut pdb = ok(&r, Req::new(Verb::Get, pdbs()).ns("default").name("web")).await;
        pdb["status"] = status;
        ok(&r, Req::new(Verb::Update, pdbs()).ns("default").name("web").sub("status").body(pdb)).await;
    };
    set_status(json!({"observedGeneration": 1, "disruptionsAllowed": 0, "desiredHealthy": 1, "currentHealthy": 1, "expectedPods": 1})).await;
    let blocked = err(&r, evict("web-1", eviction("web-1"))).await;
    assert_eq!(blocked.code, 429);
    assert_eq!(blocked.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert_eq!(
        blocked.details,
        Some(
            json!({"causes": [{"reason": "DisruptionBudget", "message": "The disruption budget web needs 1 healthy pods and has 1 currently"}]})
        )
    );
    ok(&r, Req::new(Verb::Get, pods()).ns("default").name("web-1")).await;

    set_status(json!({"observedGeneration": 1, "disruptionsAllowed": 1, "desiredHealthy": 1, "currentHealthy": 2, "expectedPods": 2})).await;
    assert_created_success(call(&r, evict("web-1", eviction("web-1"))).await);
    assert_eq!(err(&r, Req::new(Verb::Get, pods()).ns("default").name("web-1")).await.code, 404);
    let pdb = ok(&r, Req::new(Verb::Get, pdbs()).ns("default").name("web")).await;
    assert_eq!(pdb["status"]["disruptionsAllowed"], 0);
    assert!(pdb["status"]["disruptedPods"].get("web-1").is_some(), "{}", pdb["status"]);

    // A pending pod is evicted whatever the budget says.
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("web-2", json!({"app": "web"})))).await;
    assert_created_success(call(&r, evict("web-2", eviction("web-2"))).await);
}

#[tokio::test]
async fn pod_ephemeral_containers() {
    let r = Registry::new();
    ok(&r, Req::new(Verb::Create, pods()).ns("default").body(pod("p", json!({"a": "1"})))).await;
    let sub = |verb: Verb| Req::new(verb, pods()).ns("default").name("p").sub("ephemeralcontainers");
    let got = ok(&r, sub(Verb::Get)).await;
    assert_eq!((got["kind"].as_str(), got["metadata"]["name"].as_str()), (Some("Pod"), Some("p")));

    let mut p = got.clone();
    p["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": "busybox"}]);
    p["spec"]["containers"][0]["image"] = json!("nginx");
    p["metadata"]["labels"] = json!({"a": "2"});
    let updated = ok(&r, sub(Verb::Update).body(p.clone())).await;
    assert_eq!(updated["spec"]["ephemeralContainers"][0]["name"], "debug");
    assert_eq!(updated["spec"]["containers"][0]["image"], "busybox", "only ephemeral containers change");
    assert_eq!(updated["metadata"]["labels"]["a"], "1");
    let stale = err(&r, sub(Verb::Update).body(p.clone())).await;
    assert_eq!(stale.code, 409, "the body's resourceVersion is a precondition");

    let mut removed = updated.clone();
    removed["spec"]["ephemeralContainers"] = json!([]);
    let e = err(&r, sub(Verb::Update).body(removed)).await;
    assert_eq!(e.code, 422);
    assert!(e.message.contains("may not be removed"), "{}", e.message);
    let mut changed = updated.clone();
    changed["spec"]["ephemeralContainers"][0]["image"] = json!("alpine");
    assert!(err(&r, sub(Verb::Update).body(changed)).await.message.contains("may not be changed"));
    let mut dup = updated.clone();
    dup["spec"]["ephemeralContainers"] =
        json!([{"name": "debug", "image": "busybox"}, {"name": "c", "image": "busybox"}]);
    assert!(err(&r, sub(Verb::Update).body(dup)).await.message.contains("Duplicate value: \"c\""));

    let patched = ok(
        &r,
        sub(Verb::Patch)
            .ct("application/json-patch+json")
            .body(json!([{"op": "add", "path": "/spec/ephemeralContainers/-", "value": {"name": "debug2", "image": "busybox"}}])),
    )
    .await;
    let names: Vec<_> =
        patched["spec"]["ephemeralContainers"].as_array().unwrap().iter().map(|c| c["name"].clone()).collect();
    assert_eq!(names, vec![json!("debug"), json!("debug2")]);
    let tracked = patched["metadata"]["managedFields"].as_array().unwrap();
    assert!(tracked.iter().any(|e| e["subresource"] == "ephemeralcontainers"), "{tracked:?}");

    assert_eq!(err(&r, sub(Verb::Delete)).await.code, 405);
}

#[tokio::test]
async fn csr_approval_changes_only_the_conditions() {
    let r = Registry::new();
    let csrs =
        || res("certificates.k8s.io", "certificatesigningrequests", "CertificateSigningRequest", false, true, false);
    let csr = json!({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
        "metadata": {"name": "jane"},
        "spec": {"request": "cmVx", "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]},
    });
    let created = ok(&r, Req::new(Verb::Create, csrs()).body(csr)).await;
    let mut approve = created.clone();
    approve["spec"]["signerName"] = json!("ignored");
    approve["status"] = json!({
        "certificate": "aWdub3JlZA==",
        "conditions": [{"type": "Approved", "status": "True", "reason": "KubectlApprove", "message": "ok"}],
    });
    let out = ok(&r, Req::new(Verb::Update, csrs()).name("jane").sub("approval").body(approve)).await;
    let condition = &out["status"]["conditions"][0];
    assert_eq!(condition["type"], "Approved");
    assert!(condition["lastUpdateTime"].is_string() && condition["lastTransitionTime"].is_string());
    assert_eq!(out["spec"]["signerName"], "kubernetes.io/kube-apiserver-client", "spec is kept");
    assert!(out["status"].get("certificate").is_none(), "the certificate is the signer's");
    let entries = out["metadata"]["managedFields"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["subresource"] == "approval"), "{entries:?}");
    let got = ok(&r, Req::new(Verb::Get, csrs()).name("jane").sub("approval")).await;
    assert_eq!(got["status"]["conditions"][0]["reason"], "KubectlApprove");
    // Other resources have no approval subresource.
    let e = err(&r, Req::new(Verb::Get, deploys()).ns("default").name("x").sub("approval")).await;
    assert_eq!(e.code, 404);
}
