//! In-process controllers: what kube-controller-manager and a kubelet do on a real
//! cluster, so that Deployments roll out, pods run, and deletions cascade on the
//! embedded server.
//!
//! Each controller is a tokio task that behaves like an external controller talking
//! to kube-apiserver over HTTP, only in-process: it reads shared informer caches
//! ([`cache`], fed by [`Verb::Watch`](crate::api::Verb) requests) and writes through the
//! same [`ApiRequest`](crate::api::ApiRequest) seam the HTTP front end uses
//! ([`client::Client`] builds the requests and awaits [`Registry::handle`]). Every write
//! therefore gets the real semantics: validation, resourceVersion conflicts (a
//! conflicting write is simply retried on the next pass), generation bumps and watch
//! events that kubectl and client-go watchers see.
//!
//! ```text
//! cache (one list+watch per resource) --poke--> controller loop --ApiRequest--> Registry
//!      ^------------- reads (fresh up to the store's newest write) -----'
//! ```
//!
//! The controllers are level-triggered: woken by a cache change, a requeue they asked
//! for (a timer such as the kubelet's startup delay) or the resync period, they read
//! the objects they care about from the caches and converge them. They run on a tokio
//! runtime of their own (see [`start`]). Pieces:
//!
//! - [`node`]: the simulated Node `ferrokube-node` (registration, status, Lease).
//! - [`kubelet`]: binds pods to the node and drives their status (Pending,
//!   ContainerCreating, Running/Ready, Succeeded for run-to-completion pods,
//!   Terminating then gone).
//! - [`kube_api`]: the API calls [`node`], [`kubelet`], `events` and `informer`
//!   make, as a trait: implemented here by [`client::Client`] and over HTTP by the
//!   `ferrokube-kubelet` binary, which runs the same node and kubelet against any
//!   cluster ([`kubelet::spawn`] starts them in both).
//! - `replicaset`, `deployment`, `statefulset`, `daemonset`, `job`: the
//!   workload controllers.
//! - [`gc`]: the garbage collector for ownerReferences (Background, Foreground,
//!   Orphan); the finalizers it acts on are added by the registry's delete.
//! - `namespace`: finishes the deletion of Terminating namespaces.
//! - `serviceaccount`: each namespace's `default` ServiceAccount and
//!   `kube-root-ca.crt` ConfigMap.
//! - `endpoints`, `endpointslice`: each selecting Service's Endpoints and
//!   EndpointSlices (ready and not-ready pod addresses, resolved ports), sharing the
//!   pod and port logic of `endpointutil`.
//! - `events`: core/v1 Events for `kubectl describe`, expired after
//!   [`event_ttl`](ControllerOptions::event_ttl).
//! - Plumbing: [`client`] (the in-process request helper), [`cache`] (shared
//!   informer caches), `informer` (wake-ups), [`objects`] (tolerant field access),
//!   `ownership` (adoption, pods from templates), `hash` (`pod-template-hash`).
//!
//! Public, for `ferrokube-kubelet` and tests: [`start`] and its options and handle,
//! [`node`], [`kubelet`], [`kube_api`], [`cache`], [`client`], [`objects`], [`gc`]. The workload
//! controllers and the plumbing they alone use are crate-private.
//!
//! [`start`] launches them all and returns a [`ControllerHandle`]; its
//! [`shutdown`](ControllerHandle::shutdown) stops them.

pub mod cache;
pub mod client;
pub mod compact;
pub(crate) mod daemonset;
pub(crate) mod deployment;
pub(crate) mod endpoints;
pub(crate) mod endpointslice;
pub(crate) mod endpointutil;
pub(crate) mod events;
pub mod gc;
pub(crate) mod hash;
pub(crate) mod informer;
pub(crate) mod job;
pub mod json;
pub mod kube_api;
pub mod kubelet;
pub(crate) mod namespace;
pub mod node;
pub mod objects;
pub(crate) mod ownership;
pub(crate) mod replicaset;
pub(crate) mod serviceaccount;
pub(crate) mod statefulset;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::api::ResourceInfo;
use crate::registry::Registry;
use cache::Informers;
use client::{Client, Resources};
use informer::Waiter;

/// User name of the workload controllers and the garbage collector.
pub const CONTROLLER_MANAGER_USER: &str = "system:kube-controller-manager";

/// Tunables of the controllers. Defaults are realistic (pods Running about a second
/// after creation); tests shorten them to milliseconds.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// Name of the simulated node.
    pub node_name: String,
    /// Time from a pod's binding to Running and Ready (its containers spend it in
    /// `ContainerCreating`).
    pub pod_startup_delay: Duration,
    /// Time a run-to-completion pod (restartPolicy `Never` or `OnFailure`) runs
    /// before it Succeeds.
    pub pod_run_duration: Duration,
    /// Upper bound of the time a deleted pod spends Terminating (the pod's grace
    /// period, when shorter, wins): simulated containers stop promptly on SIGTERM.
    pub pod_termination_delay: Duration,
    /// How often every controller re-reconciles everything even without events (the
    /// garbage collector also scans on this period). 30 s: a safety net only, since the
    /// caches wake the controllers on every change and timers requeue
    /// (kube-controller-manager resyncs its informers every 12 to 24 hours); each
    /// resync costs a pass over every object.
    pub resync_period: Duration,
    /// Whether to record core/v1 Events (`ScalingReplicaSet`, `SuccessfulCreate`,
    /// `Scheduled`, `Pulled`, `Created`, `Started`, ...).
    pub record_events: bool,
    /// How long Events are kept (kube-apiserver's `--event-ttl`, 1 hour).
    pub event_ttl: Duration,
    /// The CA bundle published in every namespace's `kube-root-ca.crt` ConfigMap
    /// (`EmbeddedServer` sets its serving CA when `None`).
    pub root_ca_pem: Option<String>,
    /// Time between two periodic lines of a simulated container's log
    /// (`GET pods/<name>/log`, see `crate::podlogs`); zero writes none.
    pub pod_log_interval: Duration,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            node_name: node::DEFAULT_NODE_NAME.to_owned(),
            pod_startup_delay: Duration::from_secs(1),
            pod_run_duration: Duration::from_secs(2),
            pod_termination_delay: Duration::from_secs(1),
            resync_period: Duration::from_secs(30),
            record_events: true,
            event_ttl: Duration::from_secs(3600),
            root_ca_pem: None,
            pod_log_interval: Duration::from_secs(10),
        }
    }
}

impl ControllerOptions {
    /// What the simulated node and kubelet get of these options: the one node
    /// [`node_name`](Self::node_name) (no heartbeat Lease), scheduling on.
    pub fn kubelet_options(&self) -> kubelet::KubeletOptions {
        let mut k = kubelet::KubeletOptions::new(vec![node::NodeConfig::embedded(&self.node_name)]);
        k.schedule = true;
        k.pod_startup_delay = self.pod_startup_delay;
        k.pod_run_duration = self.pod_run_duration;
        k.pod_termination_delay = self.pod_termination_delay;
        k.resync_period = self.resync_period;
        k.record_events = self.record_events;
        k.node_lease = None;
        k
    }

    /// Options for tests: everything happens within milliseconds.
    pub fn fast() -> Self {
        ControllerOptions {
            pod_startup_delay: Duration::from_millis(30),
            pod_run_duration: Duration::from_millis(50),
            pod_termination_delay: Duration::from_millis(20),
            resync_period: Duration::from_millis(200),
            pod_log_interval: Duration::from_millis(50),
            ..ControllerOptions::default()
        }
    }
}

/// What every controller task gets: a client, the shared caches and the options.
#[derive(Clone)]
pub struct Context {
    /// The in-process API client (acting as `system:kube-controller-manager`).
    pub client: Client,
    /// The shared informer caches the controllers read from.
    pub informers: Informers<Client>,
    /// The options.
    pub options: Arc<ControllerOptions>,
}

impl Context {
    /// Records an Event about `obj` when events are enabled (errors are logged only).
    pub async fn event<O: objects::AsJson + Sync + ?Sized>(
        &self,
        obj: &O,
        ty: &str,
        reason: &str,
        message: &str,
        component: &str,
    ) {
        if self.options.record_events {
            events::record(&self.client, obj, ty, reason, message, component).await;
        }
    }
}

/// The running controllers; dropping it stops them too (without waiting).
pub struct ControllerHandle {
    /// The controllers' own runtime and their informers' (see [`start`]).
    runtimes: Vec<tokio::runtime::Runtime>,
    shutdown: watch::Sender<bool>,
    informers: Option<Informers<Client>>,
    tasks: Vec<JoinHandle<()>>,
    passes: Vec<Arc<AtomicU64>>,
}

impl ControllerHandle {
    /// Per controller loop (ReplicaSet, Deployment, ..., in start order), the reconcile
    /// passes it has finished. Once nothing changes, a loop passes once per resync
    /// period; a test that wants to show that the controllers leave something alone waits
    /// until every loop has passed a few more times, rather than sleeping.
    pub fn reconcile_passes(&self) -> Vec<u64> {
        self.passes.iter().map(|p| p.load(Ordering::Relaxed)).collect()
    }

    /// Stops every controller task and waits for them to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        if let Some(i) = &self.informers {
            i.join().await;
        }
        for rt in self.runtimes.drain(..) {
            rt.shutdown_background();
        }
    }
}

impl Drop for ControllerHandle {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(i) = &self.informers {
            i.abort();
        }
        // Dropping a runtime may block, which an async caller must not do.
        for rt in self.runtimes.drain(..) {
            rt.shutdown_background();
        }
    }
}

struct Launcher {
    ctx: Context,
    shutdown: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
    passes: Vec<Arc<AtomicU64>>,
}

impl Launcher {
    /// Spawns a controller loop woken by watches on `watches`.
    fn launch<F, Fut>(&mut self, watches: &[&Arc<ResourceInfo>], run: F)
    where
        F: FnOnce(Context, Waiter) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let notify = Arc::new(Notify::new());
        for r in watches {
            self.ctx.informers.cache(r).subscribe(Arc::clone(&notify));
        }
        let waiter = Waiter::new(notify, self.shutdown.clone(), self.ctx.options.resync_period);
        self.passes.push(waiter.passes());
        self.tasks.push(tokio::spawn(run(self.ctx.clone(), waiter)));
    }
}

/// Starts the controllers over `registry` on a runtime of their own.
///
/// Creates the simulated Node, then runs the kubelet, the ReplicaSet, Deployment,
/// StatefulSet, DaemonSet and Job controllers, the garbage collector and the
/// namespace controller until [`ControllerHandle::shutdown`].
///
/// The controllers get one worker thread of their own (`ferrokube-controllers`), apart
/// from the runtime that serves HTTP: however much work they have, the front end keeps
/// its threads and answers (kube-apiserver and kube-controller-manager are separate
/// processes for the same reason). Their informers' watch loops get another
/// (`ferrokube-informers`), so a long pass never leaves a watch unread until the server
/// closes it as too slow. When a runtime cannot be built, its tasks run on the
/// caller's (which must then be a tokio runtime).
pub fn start(registry: Arc<Registry>, options: ControllerOptions) -> ControllerHandle {
    let runtime = |name: &str| {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name(name).enable_all().build();
        rt.inspect_err(|e| tracing::warn!(error = %e, "{name}: no runtime of its own; sharing the server's")).ok()
    };
    let controllers = runtime("ferrokube-controllers");
    let informers = runtime("ferrokube-informers");
    let informers_handle = informers.as_ref().map(|rt| rt.handle().clone());
    let mut handle = match &controllers {
        Some(rt) => {
            let _entered = rt.enter();
            start_here(registry, options, informers_handle)
        }
        None => start_here(registry, options, informers_handle),
    };
    handle.runtimes = [controllers, informers].into_iter().flatten().collect();
    handle
}

/// [`start`] on the current runtime, the informers' watch loops on `informers_runtime`
/// when given.
fn start_here(
    registry: Arc<Registry>,
    options: ControllerOptions,
    informers_runtime: Option<tokio::runtime::Handle>,
) -> ControllerHandle {
    let (tx, rx) = watch::channel(false);
    let Some(res) = Resources::builtin() else {
        tracing::error!("controllers not started: the built-in catalog lacks a core resource");
        return ControllerHandle {
            runtimes: Vec::new(),
            shutdown: tx,
            informers: None,
            tasks: Vec::new(),
            passes: Vec::new(),
        };
    };
    let res = Arc::new(res);
    let client = Client::new(registry, Arc::clone(&res), CONTROLLER_MANAGER_USER);
    let mut informers = Informers::new(client.clone(), rx.clone());
    if let Some(rt) = informers_runtime {
        informers = informers.with_runtime(rt);
    }
    let ctx = Context { client, informers, options: Arc::new(options) };
    let mut l = Launcher { ctx, shutdown: rx, tasks: Vec::new(), passes: Vec::new() };
    let kubelet_options = l.ctx.options.kubelet_options();
    l.tasks.extend(kubelet::spawn_with(l.ctx.informers.clone(), kubelet_options, l.shutdown.clone()));
    l.launch(&[&res.pods, &res.replicasets], replicaset::run);
    l.launch(&[&res.pods, &res.replicasets, &res.deployments], deployment::run);
    l.launch(&[&res.pods, &res.statefulsets], statefulset::run);
    l.launch(&[&res.pods, &res.daemonsets, &res.nodes], daemonset::run);
    l.launch(&[&res.pods, &res.jobs], job::run);
    // The collector scans every resource each pass; these wake it early: the owners whose
    // deletion most often leaves dependents (a Service leaves its EndpointSlices).
    let mut gc_wakers =
        vec![&res.pods, &res.replicasets, &res.deployments, &res.jobs, &res.statefulsets, &res.daemonsets];
    let services = res.for_kind("v1", "Service").cloned();
    gc_wakers.extend(services.as_ref());
    l.launch(&gc_wakers, gc::run);
    l.launch(&[&res.namespaces], namespace::run);
    if let (Some(accounts), Some(configmaps)) =
        (res.for_kind("v1", "ServiceAccount").cloned(), res.for_kind("v1", "ConfigMap").cloned())
    {
        l.launch(&[&res.namespaces, &accounts, &configmaps], serviceaccount::run);
    }
    if let (Some(services), Some(endpoints)) =
        (res.for_kind("v1", "Service").cloned(), res.for_kind("v1", "Endpoints").cloned())
    {
        l.launch(&[&res.pods, &services, &endpoints], endpoints::run);
    }
    if let (Some(services), Some(slices)) =
        (res.for_kind("v1", "Service").cloned(), res.for_kind("discovery.k8s.io/v1", "EndpointSlice").cloned())
    {
        l.launch(&[&res.pods, &services, &slices, &res.nodes], endpointslice::run);
    }
    l.launch(&[], events::run);
    let informers = Some(l.ctx.informers.clone());
    ControllerHandle { runtimes: Vec::new(), shutdown: tx, informers, tasks: l.tasks, passes: l.passes }
}
