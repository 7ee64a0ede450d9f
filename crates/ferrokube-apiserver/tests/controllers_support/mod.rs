//! Shared helpers of the controllers' integration tests: a registry with the
//! controllers running at millisecond speed, a client that talks to it through
//! `ApiRequest`s, and polling with generous timeouts.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ferrokube_apiserver::api::ResourceInfo;
use ferrokube_apiserver::controllers::client::{Client, Resources};
use ferrokube_apiserver::controllers::{self, objects, ControllerHandle, ControllerOptions};
use ferrokube_apiserver::registry::Registry;
use serde_json::{json, Value};

/// How long a test waits for a condition before failing.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A registry with running controllers and a client acting as a user.
pub struct Env {
    pub registry: Arc<Registry>,
    pub client: Client,
    pub handle: Option<ControllerHandle>,
}

impl Env {
    pub fn start() -> Env {
        let registry = Registry::new();
        let handle = controllers::start(Arc::clone(&registry), ControllerOptions::fast());
        let res = Arc::new(Resources::builtin().expect("catalog"));
        let client = Client::new(Arc::clone(&registry), res, "test-user");
        Env { registry, client, handle: Some(handle) }
    }

    pub fn res(&self) -> &Resources {
        &self.client.res
    }

    /// Waits until every controller loop has finished `n` more reconcile passes than
    /// now. Once nothing changes a loop passes once per resync period, so after this
    /// each controller has looked at the current state (at least `n - 1` resync periods
    /// went by): what a test waits on before asserting the controllers left something
    /// alone.
    pub async fn wait_passes(&self, n: u64) {
        let handle = self.handle.as_ref().expect("controllers running");
        let start = handle.reconcile_passes();
        wait_for("controller reconcile passes", || async {
            handle.reconcile_passes().iter().zip(&start).all(|(now, then)| *now >= then + n).then_some(())
        })
        .await;
    }

    /// Live watchers on every stored resource (controllers hold one per watched type).
    pub fn watchers(&self) -> usize {
        let store = self.registry.store();
        store.resource_keys().iter().map(|k| store.watcher_count(k)).sum()
    }

    pub async fn stop(mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown().await;
        }
    }

    /// Pods of namespace `ns` with label `app=<app>`.
    pub async fn pods(&self, ns: &str, app: &str) -> Vec<Value> {
        let all = self.client.list_items(&self.res().pods, Some(ns)).await.expect("list pods");
        all.into_iter().filter(|p| objects::labels(p).get("app") == Some(&json!(app))).collect()
    }

    /// ReplicaSets of namespace `ns` with label `app=<app>`.
    pub async fn replicasets(&self, ns: &str, app: &str) -> Vec<Value> {
        let all = self.client.list_items(&self.res().replicasets, Some(ns)).await.expect("list rs");
        all.into_iter().filter(|p| objects::labels(p).get("app") == Some(&json!(app))).collect()
    }

    pub async fn get(&self, res: &Arc<ResourceInfo>, ns: Option<&str>, name: &str) -> Option<Value> {
        self.client.get_opt(res, ns, name).await.expect("get")
    }

    /// Read-modify-write with retries on conflict (client-go's RetryOnConflict).
    pub async fn modify(&self, res: &Arc<ResourceInfo>, ns: Option<&str>, name: &str, f: impl Fn(&mut Value)) -> Value {
        for _ in 0..50 {
            let mut obj = self.client.get(res, ns, name).await.expect("get for update");
            f(&mut obj);
            match self.client.update(res, &obj).await {
                Ok(v) => return v,
                Err(e) if e.code == 409 => continue,
                Err(e) => panic!("update failed: {e:?}"),
            }
        }
        panic!("too many conflicts updating {name}");
    }

    /// DELETE with a propagation policy (the registry adds the garbage collector's
    /// finalizers for it, as kube-apiserver's delete handler does).
    pub async fn delete_with_policy(&self, res: &Arc<ResourceInfo>, ns: Option<&str>, name: &str, policy: &str) {
        self.client.delete(res, ns, name, &json!({"propagationPolicy": policy})).await.expect("delete");
    }
}

/// Polls `f` every few milliseconds until it yields `Some`, or panics after
/// [`TIMEOUT`] naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A Deployment of `replicas` pods running `image`, labelled `app=<name>`.
pub fn deployment(name: &str, replicas: i64, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    })
}

/// Whether a Deployment has rolled out as `kubectl rollout status` decides it.
pub fn rolled_out(d: &Value) -> bool {
    let get = |p: &str| d.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let replicas = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    get("/metadata/generation") <= get("/status/observedGeneration")
        && get("/status/updatedReplicas") >= replicas
        && get("/status/replicas") <= get("/status/updatedReplicas")
        && get("/status/availableReplicas") >= get("/status/updatedReplicas")
}

/// Waits until Deployment `ns/name` has rolled out with `replicas` available.
pub async fn wait_rolled_out(env: &Env, ns: &str, name: &str, replicas: i64) -> Value {
    wait_for(&format!("deployment {name} rolled out with {replicas} replicas"), || async {
        let d = env.get(&env.res().deployments, Some(ns), name).await?;
        let available = d.pointer("/status/availableReplicas").and_then(Value::as_i64).unwrap_or(0);
        (rolled_out(&d) && available == replicas).then_some(d)
    })
    .await
}
