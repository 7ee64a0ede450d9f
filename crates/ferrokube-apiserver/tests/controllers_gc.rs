//! Garbage collection (Foreground, Background, Orphan) and namespace deletion with
//! the controllers running on an in-process registry.

mod controllers_support;

use controllers_support::{deployment, wait_for, wait_rolled_out, Env};
use ferrokube_apiserver::controllers::objects;
use serde_json::{json, Value};

#[tokio::test]
async fn foreground_deletion_waits_for_dependents() {
    let env = Env::start();
    let deploys = env.res().deployments.clone();
    env.client.create(&deploys, Some("default"), &deployment("fg", 2, "nginx")).await.unwrap();
    wait_rolled_out(&env, "default", "fg", 2).await;

    env.delete_with_policy(&deploys, Some("default"), "fg", "Foreground").await;
    let d = env.get(&deploys, Some("default"), "fg").await.expect("owner stays while dependents exist");
    assert!(objects::is_deleting(&d));
    assert!(objects::finalizers(&d).iter().any(|f| f == "foregroundDeletion"));

    // Until the owner goes, watch what is left of it.
    let saw = std::sync::atomic::AtomicBool::new(false);
    wait_for("deployment gone", || async {
        let d = env.get(&deploys, Some("default"), "fg").await;
        if d.is_some() && !env.replicasets("default", "fg").await.is_empty() {
            saw.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        d.is_none().then_some(())
    })
    .await;
    let saw_rs_while_owner_present = saw.into_inner();
    assert!(saw_rs_while_owner_present);
    // The owner went only after its blocking dependent (the ReplicaSet) was gone, and
    // the ReplicaSet, deleted in foreground too, only after its pods.
    assert!(env.replicasets("default", "fg").await.is_empty());
    assert!(env.pods("default", "fg").await.is_empty());
    env.stop().await;
}

#[tokio::test]
async fn background_deletion_removes_owner_then_dependents() {
    let env = Env::start();
    let deploys = env.res().deployments.clone();
    env.client.create(&deploys, Some("default"), &deployment("bg", 2, "nginx")).await.unwrap();
    wait_rolled_out(&env, "default", "bg", 2).await;
    env.delete_with_policy(&deploys, Some("default"), "bg", "Background").await;
    assert!(env.get(&deploys, Some("default"), "bg").await.is_none(), "owner goes at once");
    wait_for("replicaset and pods collected", || async {
        (env.replicasets("default", "bg").await.is_empty() && env.pods("default", "bg").await.is_empty()).then_some(())
    })
    .await;
    env.stop().await;
}

#[tokio::test]
async fn orphan_deletion_keeps_dependents() {
    let env = Env::start();
    let deploys = env.res().deployments.clone();
    env.client.create(&deploys, Some("default"), &deployment("orph", 2, "nginx")).await.unwrap();
    wait_rolled_out(&env, "default", "orph", 2).await;
    env.delete_with_policy(&deploys, Some("default"), "orph", "Orphan").await;
    wait_for("deployment gone", || async { env.get(&deploys, Some("default"), "orph").await.is_none().then_some(()) })
        .await;
    let rss = env.replicasets("default", "orph").await;
    assert_eq!(rss.len(), 1, "the ReplicaSet is orphaned, not deleted");
    assert!(objects::owner_refs(&rss[0]).is_empty(), "ownerReference removed: {}", rss[0]);
    // Its pods stay, still owned by the ReplicaSet, and keep running: the garbage
    // collector and the ReplicaSet controller have looked at them since.
    env.wait_passes(2).await;
    let pods = env.pods("default", "orph").await;
    assert_eq!(pods.len(), 2);
    assert!(pods.iter().all(|p| objects::controller_uid(p) == Some(objects::uid(&rss[0]))));
    env.stop().await;
}

#[tokio::test]
async fn dangling_owner_reference_is_collected() {
    let env = Env::start();
    let cms = env.client.res.for_kind("v1", "ConfigMap").unwrap().clone();
    let owner = env.client.create(&cms, Some("default"), &json!({"metadata": {"name": "owner"}})).await.unwrap();
    let dependent = json!({"metadata": {"name": "dep", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": objects::uid(&owner)}
    ]}});
    env.client.create(&cms, Some("default"), &dependent).await.unwrap();
    let two_owners = json!({"metadata": {"name": "dep2", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": objects::uid(&owner)},
        {"apiVersion": "v1", "kind": "Namespace", "name": "default",
         "uid": objects::uid(&env.get(&env.res().namespaces, None, "default").await.unwrap())},
    ]}});
    env.client.create(&cms, Some("default"), &two_owners).await.unwrap();
    env.wait_passes(2).await;
    assert!(env.get(&cms, Some("default"), "dep").await.is_some(), "owner alive: dependent stays");
    env.client.delete(&cms, Some("default"), "owner", &json!({})).await.unwrap();
    wait_for("dependent collected", || async { env.get(&cms, Some("default"), "dep").await.is_none().then_some(()) })
        .await;
    let dep2 = wait_for("dangling reference removed", || async {
        let d = env.get(&cms, Some("default"), "dep2").await?;
        (objects::owner_refs(&d).len() == 1).then_some(d)
    })
    .await;
    assert_eq!(objects::owner_refs(&dep2)[0]["kind"], "Namespace");
    env.stop().await;
}

#[tokio::test]
async fn namespace_deletion_removes_contents_then_namespace() {
    let env = Env::start();
    let nss = env.res().namespaces.clone();
    env.client.create(&nss, None, &json!({"metadata": {"name": "team"}})).await.unwrap();
    let deploys = env.res().deployments.clone();
    env.client.create(&deploys, Some("team"), &deployment("api", 2, "nginx")).await.unwrap();
    wait_rolled_out(&env, "team", "api", 2).await;
    // An object whose finalizer holds the namespace in Terminating.
    let cms = env.client.res.for_kind("v1", "ConfigMap").unwrap().clone();
    env.client
        .create(&cms, Some("team"), &json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}))
        .await
        .unwrap();

    env.client.delete(&nss, None, "team", &json!({})).await.unwrap();
    let ns = env.get(&nss, None, "team").await.expect("namespace terminating");
    assert_eq!(ns.pointer("/status/phase"), Some(&json!("Terminating")));
    wait_for("workloads gone", || async {
        (env.pods("team", "api").await.is_empty() && env.replicasets("team", "api").await.is_empty()).then_some(())
    })
    .await;
    let rejected = env.client.create(&deploys, Some("team"), &deployment("late", 1, "nginx")).await;
    assert_eq!(rejected.map(|_| ()).unwrap_err().code, 403);
    env.wait_passes(2).await;
    assert!(env.get(&nss, None, "team").await.is_some(), "held by the finalizer of its content");

    // Release the finalizer: the namespace controller finishes the deletion.
    env.modify(&cms, Some("team"), "held", |o| objects::set_finalizers(o, &[])).await;
    wait_for("namespace gone", || async { env.get(&nss, None, "team").await.is_none().then_some(()) }).await;
    let left: Vec<Value> = env.client.list_items(&cms, Some("team")).await.unwrap();
    assert!(left.is_empty());
    env.stop().await;
}
