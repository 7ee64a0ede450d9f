//! The server an integration test talks to, chosen by one environment variable: the
//! embedded `ferrokube-apiserver` (the default) or `realkube`, a real Kubernetes
//! v1.37.2 control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler; `tests/realkube/`).
//!
//! ```text
//! FERROKUBE_TEST_SERVER=embedded   (or unset) each test starts its own embedded server
//! FERROKUBE_TEST_SERVER=realkube   one realkube per test binary, shared by its tests
//! FERROKUBE_REALKUBE=PATH          realkube binary (default: target/go/bin/realkube,
//!                                  built by tests/realkube/build.sh)
//! FERROKUBE_REALKUBE_ARGS="..."    extra launcher flags, e.g. "--storage kine"
//! FERROKUBE_KUBELET=PATH           ferrokube-kubelet binary run beside realkube (default:
//!                                  target/debug/ferrokube-kubelet, built by
//!                                  `cargo build -p ferrokube-kubelet`)
//! ```
//!
//! [`TestCluster::start`] hands a test an admin [`Config`](ferrokube::rest::Config) and
//! a namespace of its own (created, and on realkube deleted when the `TestCluster` is
//! dropped), so tests running in parallel against the shared realkube do not see each
//! other's namespaced objects. Cluster-scoped objects a test creates should carry
//! [`TestCluster::unique_name`]s for the same reason.
//!
//! Realkube starts once per test binary (about 10 s), on the first test that asks for
//! it. It runs under a small `sh` watchdog that holds the write end of a pipe from the
//! test binary: when the test binary exits, however it exits, the pipe closes, and the
//! watchdog sends realkube SIGTERM (realkube stops its components, which also get
//! SIGKILL should the launcher itself die) and removes the temporary folder holding the
//! kubeconfig and the token file. Realkube's stderr is the test binary's, so a failing
//! component's last log lines show up in the test output (past the harness's capture).
//!
//! Beside realkube runs `ferrokube-kubelet --nodes 2` (simulated nodes, so that
//! kube-scheduler places pods and they run), under a watchdog of its own, when its
//! binary is there; without it realkube has no nodes, and
//! [`TestCluster::runs_pods`] says so (a test that needs running pods skips then,
//! naming the missing binary).
//!
//! Facts only the embedded server offers (a small watch history, no controllers) are
//! kept out of tests that must hold on both servers; a test that needs them calls
//! [`skip_unless_embedded`], which prints why on stderr when it skips.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use ferrokube::clientcmd::{ClientConfig, ConfigOverrides, DirectClientConfig};
use ferrokube::kubernetes::Clientset;
use ferrokube::rest::{Config, CreateOptions, DeleteOptions, ListOptions, RateLimiterChoice};
use ferrokube::secret::SecretString;
use ferrokube_apiserver::registry::{Registry, DEFAULT_BOOKMARK_INTERVAL};
use ferrokube_apiserver::storage::StoreConfig;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};

/// The environment variable choosing the server: `embedded` (default) or `realkube`.
pub const SERVER_ENV: &str = "FERROKUBE_TEST_SERVER";
/// The environment variable naming the realkube binary.
pub const REALKUBE_ENV: &str = "FERROKUBE_REALKUBE";
/// Extra realkube launcher flags, split on whitespace.
pub const REALKUBE_ARGS_ENV: &str = "FERROKUBE_REALKUBE_ARGS";
/// The environment variable naming the ferrokube-kubelet binary run beside realkube.
pub const KUBELET_ENV: &str = "FERROKUBE_KUBELET";

/// Which server the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// `ferrokube-apiserver`, in-process, one per test.
    Embedded,
    /// A real Kubernetes control plane, one per test binary.
    Realkube,
}

impl ServerKind {
    /// The server [`SERVER_ENV`] asks for. An unknown value is a setup mistake: the
    /// test fails saying so, rather than quietly running against another server.
    pub fn from_env() -> ServerKind {
        match std::env::var(SERVER_ENV).as_deref().map(str::trim) {
            Err(_) | Ok("") | Ok("embedded") => ServerKind::Embedded,
            Ok("realkube") => ServerKind::Realkube,
            Ok(other) => panic!("{SERVER_ENV}={other:?}: expected \"embedded\" or \"realkube\""),
        }
    }

    /// `embedded` or `realkube`.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Embedded => "embedded",
            ServerKind::Realkube => "realkube",
        }
    }
}

/// Whether the running test must be skipped because it needs the embedded server and
/// another one was chosen; if so, says which test and why on stderr. Written straight
/// to the process's stderr so the line shows even for a passing test (the harness
/// captures only `eprintln!`); `tests/both-servers.sh` counts these lines.
///
/// ```ignore
/// if cluster::skip_unless_embedded("needs a watch history of 20 events") { return; }
/// ```
pub fn skip_unless_embedded(reason: &str) -> bool {
    let kind = ServerKind::from_env();
    if kind == ServerKind::Embedded {
        return false;
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let line = format!("SKIPPED (embedded-only) {test} on {}: {reason}\n", kind.name());
    let _ = std::io::stderr().write_all(line.as_bytes());
    true
}

/// Polls `check` every 50 ms until it returns true, for at most `within`; panics
/// naming `what` otherwise. For state a server reaches asynchronously and that no
/// watch reports (discovery documents, for one).
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let poll = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(within, poll).await.unwrap_or_else(|_| panic!("{what}: not after {within:?}"));
}

/// The client config of a server's admin kubeconfig, loaded through `clientcmd` as a
/// user program would, with the client-side rate limiter off (tests send many requests
/// quickly and the limiter is not under test).
pub fn admin_config(kubeconfig: &str) -> Config {
    let raw = ferrokube::clientcmd::load_from_str(kubeconfig, Path::new("test-cluster.kubeconfig"))
        .expect("the server's kubeconfig parses");
    let mut config =
        DirectClientConfig::new(raw, ConfigOverrides::default()).client_config().expect("admin client config");
    config.rate_limiter = RateLimiterChoice::Disabled;
    config
}

/// How to start a [`TestCluster`].
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// First part of the test's namespace name (a counter and the process id follow).
    pub namespace: String,
    /// The embedded server's options. Realkube has no such knobs: it always runs its
    /// controllers, so tests must hold with controllers writing to their objects.
    pub embedded: ServerOptions,
    /// The embedded server's watch-history capacity (embedded only; default 10 000).
    pub embedded_history_capacity: Option<usize>,
}

impl ClusterOptions {
    /// Defaults, with the namespace name starting with `namespace`. The embedded server
    /// runs without controllers, as the client tests always did: these check API
    /// semantics, and realkube adds the controllers back.
    pub fn new(namespace: &str) -> ClusterOptions {
        ClusterOptions {
            namespace: namespace.to_owned(),
            embedded: ServerOptions { controllers: false, ..ServerOptions::default() },
            embedded_history_capacity: None,
        }
    }

    /// The embedded server with its controllers on.
    pub fn with_controllers(mut self) -> ClusterOptions {
        self.embedded.controllers = true;
        self
    }
}

/// A server for one test: an admin client config and the test's own namespace. On
/// realkube, dropping it deletes the namespace (the server keeps running for the
/// binary's other tests).
pub struct TestCluster {
    /// Admin config, loaded from the server's kubeconfig through `clientcmd` as a user
    /// program would (embedded: token and client certificate; realkube: client
    /// certificate, group `system:masters`). The client-side rate limiter is off:
    /// tests send many requests quickly and the limiter is not under test.
    pub config: Config,
    /// This test's namespace, already created.
    pub namespace: String,
    kind: ServerKind,
    /// The embedded server (taken by [`TestCluster::shutdown`]).
    embedded: Option<EmbeddedServer>,
    /// The binary's shared realkube.
    realkube: Option<&'static Realkube>,
    /// Whether the embedded server runs its controllers (and so its simulated kubelet).
    embedded_controllers: bool,
}

static NAMESPACES: AtomicUsize = AtomicUsize::new(0);

impl TestCluster {
    /// Starts the chosen server (realkube: joins the binary's shared one, starting it
    /// on first use) and creates the test's namespace.
    pub async fn start(options: ClusterOptions) -> TestCluster {
        let n = NAMESPACES.fetch_add(1, Ordering::SeqCst);
        let namespace = format!("{}-{:x}-{n}", options.namespace, std::process::id());
        let kind = ServerKind::from_env();
        let embedded_controllers = options.embedded.controllers;
        let (embedded, realkube, kubeconfig) = match kind {
            ServerKind::Embedded => {
                let server = match options.embedded_history_capacity {
                    Some(history_capacity) => {
                        let registry = Registry::with_options(
                            StoreConfig { history_capacity, ..StoreConfig::default() },
                            DEFAULT_BOOKMARK_INTERVAL,
                        );
                        EmbeddedServer::start_with_registry(options.embedded, registry).await
                    }
                    None => EmbeddedServer::start(options.embedded).await,
                }
                .expect("the embedded server starts");
                let kubeconfig = server.kubeconfig_yaml();
                (Some(server), None, kubeconfig)
            }
            ServerKind::Realkube => {
                let realkube = tokio::task::spawn_blocking(realkube).await.expect("realkube start-up task");
                let realkube = realkube.unwrap_or_else(|e| panic!("realkube: {e}"));
                (None, Some(realkube), realkube.kubeconfig.clone())
            }
        };
        let config = admin_config(&kubeconfig);
        let cluster = TestCluster { config, namespace, kind, embedded, realkube, embedded_controllers };
        cluster.create_namespace().await;
        cluster
    }

    async fn create_namespace(&self) {
        let cs = Clientset::new(&self.config).expect("clientset");
        let ns = Namespace {
            metadata: ObjectMeta { name: Some(self.namespace.clone()), ..Default::default() },
            ..Default::default()
        };
        let created = cs.core_v1().namespaces().create(&ns, &CreateOptions::default()).await;
        created.unwrap_or_else(|e| panic!("creating the test namespace {}: {e}", self.namespace));
        if self.kind() == ServerKind::Realkube {
            // Pods need the namespace's `default` ServiceAccount (the admission plugin
            // rejects them until the controller manager has created it).
            self.wait_for_default_service_account(&cs).await;
        }
    }

    async fn wait_for_default_service_account(&self, cs: &Clientset) {
        let accounts = cs.core_v1().service_accounts(&self.namespace);
        let only_default = ListOptions { field_selector: Some("metadata.name=default".into()), ..Default::default() };
        let wait = async {
            let list = accounts.list(&only_default).await.expect("listing service accounts");
            if !list.items.is_empty() {
                return;
            }
            let from = ListOptions { resource_version: list.metadata.resource_version.clone(), ..only_default.clone() };
            let mut events = accounts.watch(&from).await.expect("watching service accounts");
            while let Some(event) = events.next().await {
                if event.expect("service account event").event_type() == "ADDED" {
                    return;
                }
            }
            panic!("the service-account watch ended before `default` appeared");
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .unwrap_or_else(|_| panic!("no `default` ServiceAccount in {} after 60 s", self.namespace));
    }

    /// Waits until the CustomResourceDefinition `name` is `Established` (the embedded
    /// server establishes a CRD as its create returns; kube-apiserver's controllers
    /// shortly after).
    pub async fn wait_for_crd_established(&self, name: &str) {
        let client = ferrokube::dynamic::DynamicClient::new(&self.config).expect("dynamic client");
        let crds = client.resource(ferrokube::schema::GroupVersionResource::new(
            "apiextensions.k8s.io",
            "v1",
            "customresourcedefinitions",
        ));
        let established = |crd: &ferrokube::dynamic::Unstructured| {
            crd.nested_slice(&["status", "conditions"]).ok().flatten().is_some_and(|conditions| {
                conditions.iter().any(|c| c["type"] == "Established" && c["status"] == "True")
            })
        };
        let only = ListOptions { field_selector: Some(format!("metadata.name={name}")), ..Default::default() };
        let wait = async {
            let list = crds.list(&only).await.expect("listing CRDs");
            if list.items.iter().any(established) {
                return;
            }
            let from = ListOptions { resource_version: list.resource_version().map(str::to_owned), ..only.clone() };
            let mut events = crds.watch(&from).await.expect("watching CRDs");
            while let Some(event) = events.next().await {
                if event.expect("CRD event").object().is_some_and(established) {
                    return;
                }
            }
            panic!("the CRD watch ended before {name} was established");
        };
        tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .unwrap_or_else(|_| panic!("CRD {name} not established after 60 s"));
    }

    /// Stops the server: the embedded one waits for a clean shutdown; realkube keeps
    /// running for the binary's other tests (the namespace is deleted, as on drop).
    pub async fn shutdown(mut self) {
        if let Some(server) = self.embedded.take() {
            server.shutdown().await;
        }
    }

    /// Whether pods get scheduled and run (Running, Ready, pod IPs): the embedded server
    /// with its controllers, or realkube with `ferrokube-kubelet` beside it. When not,
    /// says why on stderr (a `SKIPPED` line, as [`skip_unless_embedded`] writes).
    pub fn runs_pods(&self) -> bool {
        let why = match (self.kind, self.realkube) {
            (ServerKind::Embedded, _) if self.embedded_controllers => return true,
            (ServerKind::Embedded, _) => "the embedded server runs without its controllers".to_owned(),
            (ServerKind::Realkube, Some(r)) if r.kubelet.is_some() => return true,
            (ServerKind::Realkube, _) => format!(
                "no ferrokube-kubelet at {} (cargo build -p ferrokube-kubelet, or set {KUBELET_ENV})",
                kubelet_binary().display()
            ),
        };
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("a test");
        let line = format!("SKIPPED (no nodes) {test} on {}: {why}\n", self.kind.name());
        let _ = std::io::stderr().write_all(line.as_bytes());
        false
    }

    /// Which server this is.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// The embedded server, when that is the one running.
    pub fn embedded(&self) -> Option<&EmbeddedServer> {
        self.embedded.as_ref()
    }

    /// The server's base URL, e.g. `https://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.config.host.clone()
    }

    /// PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> String {
        match (&self.embedded, self.realkube) {
            (Some(server), _) => server.ca_certificate_pem().to_owned(),
            (None, Some(realkube)) => realkube.ca_pem.clone(),
            (None, None) => panic!("the embedded server was shut down"),
        }
    }

    /// An admin bearer token (group `system:masters`).
    pub fn admin_token(&self) -> SecretString {
        match (&self.embedded, self.realkube) {
            (Some(server), _) => SecretString::new(server.admin_token().expose()),
            (None, Some(realkube)) => realkube.token.clone(),
            (None, None) => panic!("the embedded server was shut down"),
        }
    }

    /// An admin client certificate and its key, PEM: `(cert, key)`.
    pub fn admin_client_certificate(&self) -> (String, String) {
        let cert = self.config.tls.cert_data.clone().expect("the admin kubeconfig has a client certificate");
        let key = self.config.tls.key_data.as_ref().expect("the admin kubeconfig has a client key");
        (String::from_utf8(cert).expect("PEM"), String::from_utf8(key.expose().to_vec()).expect("PEM"))
    }

    /// `base` made unique to this test (its namespace appended), for cluster-scoped
    /// objects and label values.
    pub fn unique_name(&self, base: &str) -> String {
        format!("{base}-{}", self.namespace)
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if self.realkube.is_none() {
            return;
        }
        // Drop cannot await, and the test's runtime may be the one dropping us: delete
        // the namespace from a thread of its own. Namespace deletion is asynchronous on
        // the server (the namespace controller empties it); nothing waits for it.
        let config = self.config.clone();
        let namespace = std::mem::take(&mut self.namespace);
        let deleted = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let cs = Clientset::new(&config).map_err(|e| e.to_string())?;
                match cs.core_v1().namespaces().delete(&namespace, &DeleteOptions::default()).await {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_not_found() => Ok(()),
                    Err(e) => Err(format!("deleting the test namespace {namespace}: {e}")),
                }
            })
        })
        .join();
        if let Ok(Err(e)) = deleted {
            let _ = std::io::stderr().write_all(format!("test cluster clean-up: {e}\n").as_bytes());
        }
    }
}

/// The binary's shared realkube, and the pipes that keep its watchdog waiting.
struct Realkube {
    kubeconfig: String,
    ca_pem: String,
    token: SecretString,
    /// Never written; closed when the test binary exits, which stops realkube.
    _watchdog_stdin: ChildStdin,
    /// Kept open so realkube never writes to a closed pipe while the tests run.
    _stdout: BufReader<ChildStdout>,
    _watchdog: Child,
    /// ferrokube-kubelet beside it, under its own watchdog, when its binary exists.
    kubelet: Option<Watched>,
}

/// A process under the [`WATCHDOG`]: the pipes that keep it running.
struct Watched {
    _stdin: ChildStdin,
    _stdout: BufReader<ChildStdout>,
    _watchdog: Child,
}

static REALKUBE: OnceLock<Result<Realkube, String>> = OnceLock::new();

/// The shared realkube, started on first use; blocks (about 10 s) while it starts.
fn realkube() -> Result<&'static Realkube, String> {
    REALKUBE.get_or_init(start_realkube).as_ref().map_err(Clone::clone)
}

/// Runs realkube under the watchdog: `$1` is the folder to remove at the end, the rest
/// is realkube's command line. SIGINT is ignored (a Ctrl-C reaches the test binary,
/// whose exit closes the pipe); SIGTERM or SIGHUP stop realkube at once.
const WATCHDOG: &str = r#"
dir=$1; shift
trap '' INT
"$@" </dev/null &
pid=$!
stop() { kill -TERM "$pid" 2>/dev/null; wait "$pid"; rm -rf "$dir"; exit 0; }
trap stop TERM HUP
while read -r _; do :; done
stop
"#;

fn realkube_binary() -> PathBuf {
    match std::env::var_os(REALKUBE_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/go/bin/realkube"),
    }
}

fn kubelet_binary() -> PathBuf {
    match std::env::var_os(KUBELET_ENV) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/ferrokube-kubelet"),
    }
}

/// Starts `ferrokube-kubelet --nodes 2` against realkube's `kubeconfig` under the
/// watchdog (its own folder `dir`), and waits for its `nodes ready` line. `None`, with a
/// note on stderr, when the binary is missing.
fn start_kubelet(dir: &Path, kubeconfig: &Path) -> Result<Option<Watched>, String> {
    let binary = kubelet_binary();
    if !binary.is_file() {
        let note = format!(
            "realkube runs without nodes: no ferrokube-kubelet at {} (cargo build -p ferrokube-kubelet, or set \
             {KUBELET_ENV})\n",
            binary.display()
        );
        let _ = std::io::stderr().write_all(note.as_bytes());
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("kubelet-watchdog")
        .arg(dir)
        .arg(&binary)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--nodes", "2", "--node-name-prefix", "ferrokube-test-node-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting sh for {}: {e}", binary.display()))?;
    let stdin = watchdog.stdin.take().ok_or("no kubelet watchdog stdin")?;
    let mut stdout = BufReader::new(watchdog.stdout.take().ok_or("no kubelet watchdog stdout")?);
    let mut line = String::new();
    loop {
        line.clear();
        match stdout.read_line(&mut line) {
            Ok(0) | Err(_) => {
                return Err(format!("{} exited before its nodes were ready (its stderr is above)", binary.display()))
            }
            Ok(_) if line.starts_with("nodes ready: ") => break,
            Ok(_) => {}
        }
    }
    Ok(Some(Watched { _stdin: stdin, _stdout: stdout, _watchdog: watchdog }))
}

fn random_hex(bytes: usize) -> Result<String, String> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn start_realkube() -> Result<Realkube, String> {
    let binary = realkube_binary();
    if !binary.is_file() {
        return Err(format!(
            "no realkube binary at {}: build it with tests/realkube/build.sh or set {REALKUBE_ENV}",
            binary.display()
        ));
    }
    let dir = tempfile::Builder::new()
        .prefix("ferrokube-realkube-")
        .tempdir()
        .map_err(|e| format!("temporary folder: {e}"))?
        .keep();
    let token = random_hex(32)?;
    let token_file = dir.join("tokens.csv");
    std::fs::write(&token_file, format!("{token},ferrokube-test-admin,ferrokube-test-admin,\"system:masters\"\n"))
        .map_err(|e| format!("writing {}: {e}", token_file.display()))?;
    let kubeconfig = dir.join("admin.kubeconfig");
    let extra = std::env::var(REALKUBE_ARGS_ENV).unwrap_or_default();

    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("realkube-watchdog")
        .arg(&dir)
        .arg(&binary)
        .args(["--secure-port", "0", "--write-kubeconfig"])
        .arg(&kubeconfig)
        .arg("--token-auth-file")
        .arg(&token_file)
        .args(extra.split_whitespace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("starting sh for {}: {e}", binary.display()))?;
    let stdin = watchdog.stdin.take().ok_or("no watchdog stdin")?;
    let mut stdout = BufReader::new(watchdog.stdout.take().ok_or("no watchdog stdout")?);
    let mut line = String::new();
    loop {
        line.clear();
        match stdout.read_line(&mut line) {
            Ok(0) | Err(_) => {
                return Err(format!("{} exited before it was ready (its stderr is above)", binary.display()))
            }
            Ok(_) if line.starts_with("serving on ") => break,
            Ok(_) => {}
        }
    }
    let yaml = std::fs::read_to_string(&kubeconfig).map_err(|e| format!("reading {}: {e}", kubeconfig.display()))?;
    let raw =
        ferrokube::clientcmd::load_from_str(&yaml, &kubeconfig).map_err(|e| format!("realkube kubeconfig: {e}"))?;
    let config = DirectClientConfig::new(raw, ConfigOverrides::default())
        .client_config()
        .map_err(|e| format!("realkube kubeconfig: {e}"))?;
    let ca_pem = config.tls.ca_data.as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
    let kubelet = start_kubelet(&dir.join("kubelet"), &kubeconfig)?;
    Ok(Realkube {
        kubeconfig: yaml,
        ca_pem,
        token: SecretString::new(token),
        _watchdog_stdin: stdin,
        _stdout: stdout,
        _watchdog: watchdog,
        kubelet,
    })
}
