//! A Pod controller built by hand from an informer, its indexer and a rate-limited work
//! queue, like client-go's `examples/workqueue`.
//!
//! The informer watches the pods of namespace `default` and puts the key
//! (`namespace/name`) of every pod it sees added, updated or deleted into the queue.
//! A worker takes keys from the queue, looks the pod up in the indexer and prints
//! `Sync/Add/Update for Pod NAME`, or `Pod KEY does not exist anymore` when it is gone.
//! A failed sync would be retried with the queue's backoff (5 ms, 10 ms, 20 ms, ...) up
//! to 5 times; a successful one makes the queue forget the key's failures.
//!
//! As in client-go's example, the indexer is warmed up with a pod `mypod` "known from an
//! earlier run": after the informer's first list the controller learns that it no
//! longer exists.
//!
//! It loads the kubeconfig the way kubectl does (`--kubeconfig PATH`, else `KUBECONFIG`,
//! else `~/.kube/config`); with none found, or with `--embedded`, it starts ferrokube's
//! embedded API server in-process. On the embedded server (or with `--once`) it creates
//! a pod and deletes it again, so that both kinds of lines show, and exits; on a
//! configured cluster it runs until Ctrl-C. `--forever` keeps it running after the demo.
//!
//! ```sh
//! cargo run -p ferrokube --example workqueue -- --embedded
//! ```

mod support;

use std::sync::Arc;
use std::time::Duration;

use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{CreateOptions, DeleteOptions};
use ferrokube::tools::cache::{
    meta_namespace_key, Indexer, ReflectorOptions, ResourceEventHandlerFuncs, SharedInformer,
};
use ferrokube::util::workqueue::{default_controller_rate_limiter, QueueConfig, RateLimitingQueue};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use support::{Cluster, Flags};
use tokio_util::sync::CancellationToken;

const NAMESPACE: &str = "default";
const DEMO_POD: &str = "workqueue-demo";
/// How long the demo waits for the controller to see a change.
const WAIT: Duration = Duration::from_secs(30);

/// The controller: where keys come from (the informer), where objects are read (its
/// indexer) and the queue between them.
struct Controller {
    indexer: Indexer<Pod>,
    queue: RateLimitingQueue<String>,
    informer: SharedInformer<Pod>,
    /// Keys synced as present and as gone, so the demo can wait until the controller
    /// (not only the cache) has seen a change: handlers run on their own threads, after
    /// the store, and a worker reads the store when it gets to the key.
    synced_present: std::sync::Mutex<std::collections::HashSet<String>>,
    synced_gone: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Controller {
    /// Takes one key from the queue and syncs it; false once the queue is shut down.
    async fn process_next_item(&self) -> bool {
        let Some(key) = self.queue.get().await else { return false };
        let result = self.sync_to_stdout(&key);
        self.handle_err(result, &key);
        // The key may now be handed to a worker again (never to two at once).
        self.queue.done(&key);
        true
    }

    /// The business logic: print what the cache says about the pod.
    fn sync_to_stdout(&self, key: &str) -> Result<(), String> {
        match self.indexer.get_by_key(key) {
            None => {
                println!("Pod {key} does not exist anymore");
                self.synced_gone.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned());
            }
            Some(pod) => {
                println!("Sync/Add/Update for Pod {}", pod.metadata.name.as_deref().unwrap_or(""));
                self.synced_present.lock().unwrap_or_else(|p| p.into_inner()).insert(key.to_owned());
            }
        }
        Ok(())
    }

    /// Forgets the key's failures on success; retries a failure up to 5 times.
    fn handle_err(&self, result: Result<(), String>, key: &str) {
        let Err(err) = result else {
            self.queue.forget(&key.to_owned());
            return;
        };
        if self.queue.num_requeues(&key.to_owned()) < 5 {
            eprintln!("Error syncing pod {key}: {err}; retrying");
            self.queue.add_rate_limited(key.to_owned());
            return;
        }
        self.queue.forget(&key.to_owned());
        eprintln!("Dropping pod {key} out of the queue: {err}");
    }

    /// Runs the informer and `workers` workers until `stop` is cancelled, then lets the
    /// workers finish what is queued.
    async fn run(self: Arc<Self>, workers: usize, stop: CancellationToken) {
        println!("Starting Pod controller");
        let informer = self.informer.start();
        tokio::select! {
            _ = informer.wait_for_sync() => {}
            _ = stop.cancelled() => return,
        }
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let me = Arc::clone(&self);
            tasks.spawn(async move { while me.process_next_item().await {} });
        }
        stop.cancelled().await;
        drop(informer); // no more keys
        self.queue.shut_down_with_drain().await;
        while tasks.join_next().await.is_some() {}
        println!("Stopping Pod controller");
    }
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // `--forever` is this example's own flag; the rest are the shared ones.
    let (flags, forever) = Flags::parse_with_switch("--forever")?;
    let cluster = Cluster::connect(&flags).await?;
    let clientset = Clientset::new(&cluster.config)?;

    let queue = RateLimitingQueue::with_config(default_controller_rate_limiter(), QueueConfig::named("pods"));
    let informer =
        SharedInformer::<Pod>::new(clientset.rest_client().clone(), ReflectorOptions::default().namespace(NAMESPACE));
    // Bind the queue to the cache: every change puts the pod's key in the queue. When
    // the key is processed the cache may hold a newer version than the one that caused
    // the add; that is the point: the controller syncs to the latest state.
    let enqueue = |queue: &RateLimitingQueue<String>| {
        let queue = queue.clone();
        move |pod: &Arc<Pod>| {
            if let Ok(key) = meta_namespace_key(pod.as_ref()) {
                queue.add(key);
            }
        }
    };
    let on_update = enqueue(&queue);
    informer.add_event_handler(
        ResourceEventHandlerFuncs::new()
            .on_add(enqueue(&queue))
            .on_update(move |_old, new| on_update(new))
            .on_delete(enqueue(&queue)),
    );
    // Warm up the cache: a pod we knew about on an earlier run. If it is not there any
    // more, the first list reports it deleted.
    let known = Pod {
        metadata: ObjectMeta { name: Some("mypod".into()), namespace: Some(NAMESPACE.into()), ..Default::default() },
        ..Default::default()
    };
    informer.store().add(known)?;

    let controller = Arc::new(Controller {
        indexer: informer.store().clone(),
        queue,
        informer,
        synced_present: Default::default(),
        synced_gone: Default::default(),
    });
    let stop = CancellationToken::new();
    let running = tokio::spawn(Arc::clone(&controller).run(1, stop.clone()));

    if cluster.embedded.is_some() || flags.once {
        demo(&clientset, &controller).await?;
    }
    if forever || (cluster.embedded.is_none() && !flags.once) {
        tokio::signal::ctrl_c().await?;
    }
    stop.cancel();
    running.await?;
    cluster.shutdown().await;
    Ok(())
}

/// Creates a pod, waits until the controller has synced it (a deletion before that could
/// reach the worker first, and it would only ever see the pod gone), deletes it and
/// waits until the controller has synced it as gone.
async fn demo(clientset: &Clientset, controller: &Controller) -> Result<(), Box<dyn std::error::Error>> {
    let pods = clientset.core_v1().pods(NAMESPACE);
    let key = format!("{NAMESPACE}/{DEMO_POD}");
    let pod = Pod {
        metadata: ObjectMeta { name: Some(DEMO_POD.into()), ..Default::default() },
        spec: Some(PodSpec {
            containers: vec![Container { name: "web".into(), image: Some("nginx:1.27".into()), ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    };
    pods.create(&pod, &CreateOptions::default()).await?;
    wait_until(&format!("the controller to sync pod {key}"), || {
        controller.synced_present.lock().unwrap_or_else(|p| p.into_inner()).contains(&key)
    })
    .await?;
    // Deleted at once (grace period 0), as `kubectl delete --now` would not wait either.
    pods.delete(DEMO_POD, &DeleteOptions { grace_period_seconds: Some(0), ..Default::default() }).await?;
    wait_until(&format!("the controller to sync pod {key} as gone"), || {
        controller.synced_gone.lock().unwrap_or_else(|p| p.into_inner()).contains(&key)
    })
    .await?;
    Ok(())
}

/// Polls `done` every 50 ms; gives up after [`WAIT`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("timed out after {WAIT:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
