//! `ferrokube-kubelet`: run simulated nodes and their kubelet against a cluster.
//!
//! Prints `nodes ready: NAME...` on stdout once every node reports Ready (scripts wait
//! for it); logs go to stderr (`RUST_LOG`, or `-v`). SIGTERM or Ctrl-C stops it with
//! exit status 0; a bad flag exits 2, a bad kubeconfig or an unreachable cluster 1,
//! each with a message saying which.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ferrokube_apiserver::controllers::kube_api::KubeApi;
use ferrokube_kubelet::cli::Args;
use ferrokube_kubelet::{HttpApi, SimulatedNodes};

/// How long the nodes may take to report Ready before the start counts as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    let args = Args::parse();
    let default_level = match args.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferrokube-kubelet: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(args));
    // Every loop has ended; what may remain are the HTTP client's idle connections and
    // blocking decoder threads, which need no waiting for.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ferrokube-kubelet: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let options = args.kubelet_options().map_err(|e| e.to_string())?;
    let config = args.client_config().map_err(|e| e.to_string())?;
    let api = HttpApi::new(&config).map_err(|e| e.to_string())?;
    // Fail fast, with the client's message, when the cluster cannot be reached or the
    // user may not list nodes.
    if let Err(e) = api.list(&api.resources().nodes, None).await {
        return Err(format!("cannot list nodes at {}: {}", api.base_url(), e.message));
    }
    let (mut sigterm, mut sigint) = signals()?;
    let nodes = SimulatedNodes::start(api, options);
    tokio::select! {
        ready = nodes.wait_ready(READY_TIMEOUT) => match ready {
            Ok(()) => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "nodes ready: {}", nodes.names().join(" "));
                let _ = out.flush();
            }
            Err(pending) => {
                nodes.shutdown().await;
                return Err(format!("nodes not Ready after {READY_TIMEOUT:?}: {}", pending.join(" ")));
            }
        },
        _ = sigterm.recv() => { nodes.shutdown().await; return Ok(()); }
        _ = sigint.recv() => { nodes.shutdown().await; return Ok(()); }
    }
    tokio::select! {
        _ = sigterm.recv() => {}
        _ = sigint.recv() => {}
    }
    tracing::info!("stopping");
    let t0 = std::time::Instant::now();
    nodes.shutdown().await;
    tracing::debug!(elapsed = ?t0.elapsed(), "stopped");
    Ok(())
}

type Signal = tokio::signal::unix::Signal;

fn signals() -> Result<(Signal, Signal), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
    let int = signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
    Ok((term, int))
}
