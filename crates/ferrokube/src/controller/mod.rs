//! `controller`: the loop that runs reconcilers (kube-runtime's `Controller`,
//! controller-runtime's controller), built from [`tools::cache`](crate::tools::cache)
//! informers and a [`util::workqueue`](crate::util::workqueue) rate-limited queue.
//!
//! ```text
//! SharedInformer<K>  (primary)       --key of the object-------------+
//! SharedInformer<W>  (owns)          --key of its controller owner---+--> RateLimitingQueue<ObjectKey>
//! SharedInformer<X>  (watches + fn)  --keys the function returns-----+          |
//!                                                                    N workers: get -> reconcile -> done
//!   reconcile(Arc<K>, Arc<Ctx>) -> Ok(Action::Done)            forget the key's failures
//!                               -> Ok(Action::RequeueAfter(d)) forget, reconcile again after d
//!                               -> Ok(Action::Requeue)         requeue with the key's backoff
//!                               -> Err(e)                      error policy; by default requeue
//!                                                              with the key's backoff (5 ms, 10 ms, ...)
//! ```
//!
//! Guarantees, all from the work queue: a key is never reconciled by two workers at
//! once; changes arriving while a key is reconciled make it run once more afterwards;
//! a burst of changes to one object is merged into one reconcile. The reconcile gets
//! the latest cached state of the object, never an event: it must compare desired and
//! actual state and act on the difference (level-triggered). Keys whose object is no
//! longer cached are dropped without a reconcile (as kube-runtime): act on deletion with
//! a [`finalizer`](mod@finalizer), or let owner references have the garbage collector delete owned
//! objects. A reconcile that panics is treated as a failed one.
//!
//! Lifecycle of [`Controller::run`]:
//! 1. wait for the [`start_when`](Controller::start_when) future (leader election:
//!    "start when leading") — or return if a shutdown token is cancelled first;
//! 2. register the handlers and start every informer; wait until all have synced;
//! 3. run [`Config::workers`] workers;
//! 4. when a [`shutdown_on`](Controller::shutdown_on) token is cancelled (shutdown
//!    signal, leadership lost): stop the informers (no new keys), shut the queue down
//!    with drain — keys already queued are still reconciled, reconciles in progress
//!    finish, requeues are dropped — and return when every worker has finished.
//!    Dropping the `run` future instead aborts everything at once.
//!
//! Metrics: the queue is named after the controller and reports through
//! [`Config::metrics_provider`] (client-go's workqueue metrics).
//!
//! Choices, compared with the Go and Rust controller libraries:
//! * the reconcile gets the cached object (`Arc<K>`, as kube-runtime), not only its key
//!   (controller-runtime); keys without a cached object are not reconciled;
//! * defaults follow controller-runtime and client-go: one worker, the queue named
//!   after the lower-case kind, client-go's default controller rate limiter;
//! * no event filters (predicates): every add, update and delete enqueues, and the
//!   reconcile is expected to be cheap when nothing changed;
//! * no reconcile timeout and no Kubernetes Events (the events recorder lives in
//!   `tools::record`); leader election is not built in, only the start/stop hook it
//!   plugs into.
//!
//! ```no_run
//! # async fn main_() -> Result<(), Box<dyn std::error::Error>> {
//! # let config: ferrokube::rest::Config = todo!();
//! use std::sync::Arc;
//! use ferrokube::controller::{Action, Config, Controller};
//! use ferrokube::kubernetes::Clientset;
//! use ferrokube::tools::cache::{ReflectorOptions, SharedInformer};
//! use k8s_openapi::api::apps::v1::Deployment;
//! use k8s_openapi::api::core::v1::Pod;
//! use tokio_util::sync::CancellationToken;
//!
//! let cs = Clientset::new(&config)?;
//! let client = cs.rest_client().clone();
//! let shutdown = CancellationToken::new();
//! let controller = Controller::new(
//!     SharedInformer::<Deployment>::new(client.clone(), ReflectorOptions::default()),
//!     Config::default().workers(4),
//! )
//! .owns(SharedInformer::<Pod>::new(client, ReflectorOptions::default()))
//! .shutdown_on(shutdown.clone());
//!
//! async fn reconcile(d: Arc<Deployment>, cs: Arc<Clientset>) -> Result<Action, ferrokube::rest::Error> {
//!     // compare d with the world through cs, act on the difference
//!     # let _ = (d, cs);
//!     Ok(Action::Done)
//! }
//! controller.run(reconcile, Arc::new(cs)).await;
//! # Ok(()) }
//! ```

pub mod action;
pub mod finalizer;
pub mod object_key;
pub mod watches;

pub use action::Action;
pub use finalizer::{finalizer, FinalizerError, FinalizerEvent};
pub use object_key::ObjectKey;
pub use watches::controller_owner_keys;

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;

use crate::tools::cache::{CachedResource, SharedInformer, Store};
use crate::util::workqueue::{
    default_controller_rate_limiter, MetricsProvider, QueueConfig, RateLimiter, RateLimitingQueue,
};
use watches::{InformerSource, Mapper, Source};

/// How a [`Controller`] runs.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Config {
    /// The controller's name: in logs and as the work queue's (metrics) name. Default:
    /// the primary kind in lower case, as controller-runtime.
    pub name: Option<String>,
    /// How many keys are reconciled at once (controller-runtime
    /// `MaxConcurrentReconciles`). Default 1; 0 counts as 1.
    pub workers: usize,
    /// The per-key backoff. Default: client-go's
    /// [`default_controller_rate_limiter`] (5 ms doubling to 1000 s, overall 10 qps
    /// with bursts of 100).
    pub rate_limiter: Option<Arc<dyn RateLimiter<ObjectKey>>>,
    /// Where the work queue's metrics go. Default: none.
    pub metrics_provider: Option<Arc<dyn MetricsProvider>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("name", &self.name)
            .field("workers", &self.workers)
            .field("rate_limiter", &self.rate_limiter.as_ref().map(|_| "<custom>"))
            .field("metrics_provider", &self.metrics_provider.as_ref().map(|_| "<provider>"))
            .finish()
    }
}

impl Config {
    /// Names the controller.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the number of workers.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Sets the per-key backoff.
    pub fn rate_limiter(mut self, rate_limiter: impl RateLimiter<ObjectKey> + 'static) -> Self {
        self.rate_limiter = Some(Arc::new(rate_limiter));
        self
    }

    /// Sets the metrics provider of the work queue.
    pub fn metrics_provider(mut self, provider: Arc<dyn MetricsProvider>) -> Self {
        self.metrics_provider = Some(provider);
        self
    }
}

type StartFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs a reconcile function over the objects of one primary type `K`; see the
/// [module docs](self).
///
/// The controller starts the informers it is given when [`run`](Self::run) starts and
/// stops them when it returns: give it informers that are not running elsewhere.
#[must_use = "a controller does nothing until it is run"]
pub struct Controller<K> {
    name: String,
    workers: usize,
    store: Store<K>,
    queue: RateLimitingQueue<ObjectKey>,
    sources: Vec<Box<dyn Source>>,
    start: Option<StartFuture>,
    shutdown: Vec<CancellationToken>,
}

impl<K> fmt::Debug for Controller<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("name", &self.name)
            .field("workers", &self.workers)
            .field("sources", &self.sources.len())
            .field("queue", &self.queue)
            .finish()
    }
}

impl<K: CachedResource> Controller<K> {
    /// A controller reconciling the objects of `informer` (configure its namespace and
    /// selectors through its [`ReflectorOptions`](crate::tools::cache::ReflectorOptions)).
    pub fn new(informer: SharedInformer<K>, config: Config) -> Self {
        let name = config.name.unwrap_or_else(|| K::KIND.to_lowercase());
        let rate_limiter = config.rate_limiter.unwrap_or_else(|| Arc::new(default_controller_rate_limiter()));
        let mut queue_config = QueueConfig::named(name.clone());
        queue_config.metrics_provider = config.metrics_provider;
        let queue = RateLimitingQueue::from_parts(
            crate::util::workqueue::DelayingQueue::with_config(queue_config),
            rate_limiter,
        );
        let store = informer.store().clone();
        let own_key: Mapper<K> = Arc::new(|obj: &K| ObjectKey::from_object(obj).into_iter().collect());
        Controller {
            name,
            workers: config.workers.max(1),
            store,
            queue,
            sources: vec![Box::new(InformerSource { informer, mapper: own_key })],
            start: None,
            shutdown: Vec::new(),
        }
    }

    /// Also watches objects of type `W` that `K` objects own: a change to one enqueues
    /// the `K` named by its controller owner reference (see
    /// [`controller_owner_keys`]).
    pub fn owns<W: CachedResource>(mut self, informer: SharedInformer<W>) -> Self {
        let mapper: Mapper<W> = Arc::new(|obj: &W| controller_owner_keys::<K, W>(obj));
        self.sources.push(Box::new(InformerSource { informer, mapper }));
        self
    }

    /// Also watches objects of type `W`: a change to one enqueues the keys `mapper`
    /// returns for it.
    pub fn watches<W: CachedResource>(
        mut self,
        informer: SharedInformer<W>,
        mapper: impl Fn(&W) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        self.sources.push(Box::new(InformerSource { informer, mapper: Arc::new(mapper) }));
        self
    }

    /// Starts only when `start` completes: the hook for leader election ("run while
    /// leading"). Pair it with [`shutdown_on`](Self::shutdown_on) a token cancelled when
    /// leadership is lost.
    pub fn start_when(mut self, start: impl Future<Output = ()> + Send + 'static) -> Self {
        self.start = Some(Box::pin(start));
        self
    }

    /// Shuts down gracefully when `token` is cancelled; may be called several times
    /// (any token stops the controller).
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.shutdown.push(token);
        self
    }

    /// [`start_when`](Self::start_when) `leading` and [`shutdown_on`](Self::shutdown_on)
    /// `lost`: what a leader elector provides.
    pub fn leader_election(self, leading: impl Future<Output = ()> + Send + 'static, lost: CancellationToken) -> Self {
        self.start_when(leading).shutdown_on(lost)
    }

    /// The controller's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The work queue: add keys to it to have them reconciled; read
    /// [`num_requeues`](RateLimitingQueue::num_requeues).
    pub fn queue(&self) -> RateLimitingQueue<ObjectKey> {
        self.queue.clone()
    }

    /// Runs until shut down (see the [module docs](self)); errors requeue the key with
    /// its backoff.
    pub async fn run<C, E, F, Fut>(self, reconcile: F, ctx: Arc<C>)
    where
        C: Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(Arc<K>, Arc<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
    {
        self.run_with_error_policy(reconcile, |_: Arc<K>, _: &E, _: Arc<C>| Action::Requeue, ctx).await
    }

    /// Runs as [`run`](Self::run); after a failed reconcile, `error_policy` decides
    /// what happens to the key (see [`Action`]).
    pub async fn run_with_error_policy<C, E, F, Fut, P>(self, reconcile: F, error_policy: P, ctx: Arc<C>)
    where
        C: Send + Sync + 'static,
        E: fmt::Display + Send + 'static,
        F: Fn(Arc<K>, Arc<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        P: Fn(Arc<K>, &E, Arc<C>) -> Action + Send + Sync + 'static,
    {
        let Controller { name, workers, store, queue, sources, start, shutdown } = self;
        let stopped = cancelled_any(shutdown);
        tokio::pin!(stopped);

        if let Some(start) = start {
            tokio::select! {
                _ = start => {}
                _ = &mut stopped => {
                    tracing::info!(controller = %name, "shut down before starting");
                    queue.shut_down();
                    return;
                }
            }
        }

        tracing::info!(controller = %name, workers, "starting");
        let running: Vec<watches::Running> = sources.into_iter().map(|s| s.start(&queue)).collect();
        let synced = async {
            for r in &running {
                r.informer.wait_for_sync().await;
            }
        };
        tokio::select! {
            _ = synced => {}
            _ = &mut stopped => {
                tracing::info!(controller = %name, "shut down before the caches synced");
                drop(running);
                queue.shut_down();
                return;
            }
        }
        tracing::info!(controller = %name, "caches synced, starting workers");

        let worker = Arc::new(Worker { name: name.clone(), store, queue: queue.clone(), reconcile, error_policy, ctx });
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let worker = Arc::clone(&worker);
            tasks.spawn(async move { worker.run().await });
        }

        stopped.await;
        tracing::info!(controller = %name, "shutting down: draining the queue");
        drop(running); // informers stop, handlers unregistered: no new keys
        queue.shut_down_with_drain().await;
        while tasks.join_next().await.is_some() {}
        tracing::info!(controller = %name, "stopped");
    }
}

/// Completes when any of `tokens` is cancelled; never without tokens.
async fn cancelled_any(tokens: Vec<CancellationToken>) {
    if tokens.is_empty() {
        return std::future::pending().await;
    }
    let waits: Vec<_> = tokens.iter().map(|t| Box::pin(t.cancelled())).collect();
    futures_util::future::select_all(waits).await;
}

struct Worker<K, C, F, P> {
    name: String,
    store: Store<K>,
    queue: RateLimitingQueue<ObjectKey>,
    reconcile: F,
    error_policy: P,
    ctx: Arc<C>,
}

impl<K, C, E, F, Fut, P> Worker<K, C, F, P>
where
    K: CachedResource,
    C: Send + Sync + 'static,
    E: fmt::Display + Send + 'static,
    F: Fn(Arc<K>, Arc<C>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    P: Fn(Arc<K>, &E, Arc<C>) -> Action + Send + Sync + 'static,
{
    async fn run(&self) {
        while let Some(key) = self.queue.get().await {
            self.process(&key).await;
            self.queue.done(&key);
        }
    }

    async fn process(&self, key: &ObjectKey) {
        let Some(obj) = self.store.get_by_key(&key.to_string()) else {
            tracing::debug!(controller = %self.name, %key, "object no longer cached; nothing to reconcile");
            self.queue.forget(key);
            return;
        };
        let outcome = AssertUnwindSafe((self.reconcile)(Arc::clone(&obj), Arc::clone(&self.ctx))).catch_unwind().await;
        let (action, failed) = match outcome {
            Ok(Ok(action)) => {
                tracing::debug!(controller = %self.name, %key, ?action, "reconciled");
                (action, false)
            }
            Ok(Err(err)) => {
                let action = (self.error_policy)(obj, &err, Arc::clone(&self.ctx));
                tracing::warn!(controller = %self.name, %key, error = %err, ?action, "reconcile failed");
                (action, true)
            }
            Err(_) => {
                tracing::error!(controller = %self.name, %key, "reconcile panicked; requeued with backoff");
                (Action::Requeue, true)
            }
        };
        match action {
            Action::Done => self.queue.forget(key),
            Action::Requeue => self.queue.add_rate_limited(key.clone()),
            Action::RequeueAfter(delay) => {
                if !failed {
                    self.queue.forget(key);
                }
                self.queue.add_after(key.clone(), delay);
            }
        }
    }
}
