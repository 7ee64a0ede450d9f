//! Leader election over a Lease, like client-go's `examples/leader-election`: run it
//! several times against one cluster and exactly one process leads at any time; stop
//! the leader (Ctrl-C or SIGTERM) and it releases the lease, so another takes over at
//! once; kill it (SIGKILL) and another takes over when the lease expires.
//!
//! ```sh
//! # three terminals, one cluster:
//! cargo run --example leader_election -- --kubeconfig ~/.kube/config --id 1 --lease-lock-name example --lease-lock-namespace default
//! cargo run --example leader_election -- --kubeconfig ~/.kube/config --id 2 --lease-lock-name example --lease-lock-namespace default
//! cargo run --example leader_election -- --kubeconfig ~/.kube/config --id 3 --lease-lock-name example --lease-lock-namespace default
//! ```
//!
//! Flags are client-go's (`--id`, default a random identity; `--lease-lock-name`,
//! `--lease-lock-namespace`, both required) plus the shared example flags
//! (`--kubeconfig PATH`, `--embedded`; without a kubeconfig the process starts its own
//! embedded API server, which is only useful to see one candidate lead) and `--once`
//! (lead, then release and exit). Every change of leader prints
//! `new leader elected: ID`; the leader prints `ID: I am the leader`.
//!
//! Timings are the ones core Kubernetes components use (lease 15 s, renew deadline
//! 10 s, retry period 2 s); client-go's example uses 60 s / 15 s / 5 s.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferrokube::kubernetes::Clientset;
use ferrokube::tools::leaderelection::resourcelock::{LeaseLock, ResourceLockConfig};
use ferrokube::tools::leaderelection::{LeaderCallbacks, LeaderElectionConfig, LeaderElector};
use support::{Cluster, Flags};
use tokio_util::sync::CancellationToken;

/// This example's flags on top of the shared ones.
struct Options {
    shared: Flags,
    id: String,
    lease_lock_name: String,
    lease_lock_namespace: String,
}

fn parse_options() -> Result<Options, String> {
    let mut shared = Vec::new();
    let (mut id, mut name, mut namespace) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let slot = match flag.as_str() {
            "--id" => &mut id,
            "--lease-lock-name" => &mut name,
            "--lease-lock-namespace" => &mut namespace,
            _ => {
                shared.push(arg);
                continue;
            }
        };
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or_else(|| format!("flag {flag} needs a value"))?,
        };
        *slot = Some(value);
    }
    let id = id.unwrap_or_else(random_identity);
    if id.is_empty() {
        return Err("--id must not be empty".into());
    }
    let lease_lock_name = name
        .filter(|n| !n.is_empty())
        .ok_or("unable to get lease lock resource name (missing --lease-lock-name flag)")?;
    let lease_lock_namespace = namespace
        .filter(|n| !n.is_empty())
        .ok_or("unable to get lease lock resource namespace (missing --lease-lock-namespace flag)")?;
    Ok(Options { shared: Flags::parse_from(shared)?, id, lease_lock_name, lease_lock_namespace })
}

/// A random identity, as client-go's example uses a random UUID.
fn random_identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_options()?;
    let cluster = Cluster::connect(&options.shared).await?;
    let clientset = Clientset::new(&cluster.config)?;
    let id = options.id.clone();

    // SIGTERM or Ctrl-C cancels the election; the leader then releases the lease.
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    let lock = LeaseLock::new(
        &clientset,
        &options.lease_lock_namespace,
        &options.lease_lock_name,
        ResourceLockConfig::new(id.clone()),
    );
    let started_leading = Arc::new(AtomicBool::new(false));
    let (leader_id, stopped_id) = (id.clone(), id.clone());
    let (leading, stopped_leading) = (Arc::clone(&started_leading), Arc::clone(&started_leading));
    let once = options.shared.once.then(|| shutdown.clone());
    let callbacks = LeaderCallbacks::new(
        move |token: CancellationToken| {
            let (id, leading, once) = (leader_id.clone(), Arc::clone(&leading), once.clone());
            async move {
                leading.store(true, Ordering::SeqCst);
                println!("{id}: I am the leader");
                if let Some(shutdown) = once {
                    shutdown.cancel(); // --once: lead, then step down
                }
                // The leader's work would run here until the token is cancelled.
                token.cancelled().await;
                println!("{id}: stopping the leader's work");
            }
        },
        move || {
            if stopped_leading.load(Ordering::SeqCst) {
                println!("leader lost: {stopped_id}");
            } else {
                println!("{stopped_id}: stopped without leading");
            }
        },
    )
    .with_on_new_leader(|identity| println!("new leader elected: {identity}"));

    let mut config = LeaderElectionConfig::new(lock, callbacks);
    config.release_on_cancel = true;
    let elector = LeaderElector::new(config)?;
    println!("{id}: waiting to lead (lease {}/{})", options.lease_lock_namespace, options.lease_lock_name);
    elector.run(shutdown).await;
    cluster.shutdown().await;
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    println!("Received termination, signaling shutdown");
    shutdown.cancel();
}
