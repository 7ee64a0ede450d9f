//! `ferrokube-apiserver`: run the embedded Kubernetes-compatible API server as a process.
//!
//! Prints exactly one line, `serving on https://HOST:PORT`, to stdout when ready (so
//! scripts can wait for it); logs go to stderr (`RUST_LOG`, or `-v`). Ctrl-C or SIGTERM
//! stops it cleanly with exit status 0.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Parser};
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};

/// The server allocates and frees a JSON tree per object version; mimalloc serves that
/// pattern faster and with less fragmentation than glibc's malloc (`bench/scale.sh`,
/// figures in bench/results/scale.md). The library leaves the allocator to its user.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// An embedded, Kubernetes-compatible API server (HTTPS only; RBAC authorization with
/// kube's bootstrap roles, the admin kubeconfig in system:masters).
#[derive(Debug, Parser)]
#[command(name = "ferrokube-apiserver", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind_address: IpAddr,
    /// Port to listen on; 0 picks a free port.
    #[arg(long, default_value_t = 6443)]
    secure_port: u16,
    /// Serving certificate chain (PEM). Default: a CA and serving certificate generated at start.
    #[arg(long, requires = "tls_private_key_file")]
    tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM), with --tls-cert-file.
    #[arg(long, requires = "tls_cert_file")]
    tls_private_key_file: Option<PathBuf>,
    /// CA bundle (PEM) for client-certificate authentication: CN is the user, O the groups.
    #[arg(long)]
    client_ca_file: Option<PathBuf>,
    /// Static bearer tokens, kube-apiserver CSV format: token,user,uid,"group1,group2".
    #[arg(long)]
    token_auth_file: Option<PathBuf>,
    /// Treat requests without credentials as system:anonymous, authorized like any other
    /// (RBAC lets them reach /version and health only); `--anonymous-auth=false` refuses
    /// them with 401.
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    anonymous_auth: bool,
    /// How requests are authorized: RBAC (kube's roles and bindings, with the bootstrap
    /// policy of a new cluster) or AlwaysAllow (every authenticated user may do everything).
    #[arg(long, value_name = "RBAC|AlwaysAllow", default_value = "RBAC")]
    authorization_mode: ferrokube_apiserver::AuthorizationMode,
    /// Keep every object in this directory (SQLite) and restore them at start: objects
    /// and resourceVersions survive restarts. Default: objects live in memory only.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Write an admin kubeconfig (CA embedded; cluster/context/user "ferrokube") here.
    #[arg(long, value_name = "PATH")]
    write_kubeconfig: Option<PathBuf>,
    /// Run the built-in controllers: Deployment, ReplicaSet, StatefulSet, DaemonSet,
    /// Job, garbage collector, namespace, and a simulated node and kubelet that run
    /// the pods (`--controllers=false` turns them off).
    #[arg(long, action = ArgAction::Set, default_value_t = true, num_args = 0..=1, default_missing_value = "true")]
    controllers: bool,
    /// More logging (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = ArgAction::Count)]
    verbose: u8,
}

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
            eprintln!("ferrokube-apiserver: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let options = ServerOptions {
        bind_address: args.bind_address,
        port: args.secure_port,
        tls_cert_file: args.tls_cert_file,
        tls_private_key_file: args.tls_private_key_file,
        client_ca_file: args.client_ca_file,
        token_auth_file: args.token_auth_file,
        controllers: args.controllers,
        anonymous_auth: args.anonymous_auth,
        authorization_mode: args.authorization_mode,
        data_dir: args.data_dir,
        ..ServerOptions::default()
    };
    let server = match EmbeddedServer::start(options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ferrokube-apiserver: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(path) = &args.write_kubeconfig {
        if let Err(e) = server.write_kubeconfig(path) {
            eprintln!("ferrokube-apiserver: --write-kubeconfig {}: {e}", path.display());
            server.shutdown().await;
            return ExitCode::FAILURE;
        }
    }
    // Listen for signals before announcing readiness, so a script that stops the server
    // right after reading the line gets a clean shutdown.
    let signals = Signals::install();
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "serving on {}", server.url());
    let _ = stdout.flush();
    drop(stdout);

    signals.wait().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C and (on Unix) SIGTERM, registered eagerly.
struct Signals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let unix = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => None,
            };
            Signals { unix }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.unix {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
