//! [`EmbeddedServer`]: the whole API server, started in-process on a free port.
//!
//! `start` generates certificates ([`crate::tls`]), loads token and CA files
//! ([`crate::auth`]), creates kube's bootstrap RBAC policy (in RBAC mode) and starts
//! the ClusterRole aggregation controller ([`crate::auth::rbac`]), binds the port, and spawns an accept loop: each TCP connection is
//! TLS-terminated (rustls, ALPN `h2`/`http/1.1`), then served by hyper-util's auto
//! server (HTTP/2 or HTTP/1.1) calling [`Handler::handle`] for each request, which hands
//! API requests to the shared [`Registry`]. `shutdown` stops accepting, ends open watches,
//! lets in-flight requests finish (for at most [`SHUTDOWN_GRACE`]) and closes
//! connections.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferrokube_apiserver::StartError> {
//! use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
//! let server = EmbeddedServer::start(ServerOptions::default()).await?;
//! println!("serving on {}", server.url());
//! std::fs::write("/tmp/kubeconfig", server.kubeconfig_yaml()).unwrap();
//! server.shutdown().await;
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls_pki_types::CertificateDer;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::api::UserInfo;
use crate::auth::rbac::{self, AuthorizationMode, Authorizer};
use crate::auth::token_file::{TokenFile, TokenFileError};
use crate::auth::Authenticator;
use crate::controllers::{ControllerHandle, ControllerOptions};
use crate::handlers::{ConnectionInfo, Handler};
use crate::registry::Registry;
use crate::tls::{self, CertAuthority, TlsError};

/// How long shutdown waits for in-flight requests before closing connections.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start an [`EmbeddedServer`]. The default listens on `127.0.0.1`, a free port,
/// with generated certificates and only the generated admin credentials.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Address to listen on (`--bind-address`).
    pub bind_address: IpAddr,
    /// Port (`--secure-port`); 0 picks a free one.
    pub port: u16,
    /// Serving certificate chain (PEM, `--tls-cert-file`); generated when `None`.
    pub tls_cert_file: Option<PathBuf>,
    /// Serving private key (PEM, `--tls-private-key-file`); required with `tls_cert_file`.
    pub tls_private_key_file: Option<PathBuf>,
    /// Extra CA bundle for client-certificate authentication (`--client-ca-file`).
    pub client_ca_file: Option<PathBuf>,
    /// Static bearer tokens in kube-apiserver's CSV format (`--token-auth-file`).
    pub token_auth_file: Option<PathBuf>,
    /// Run the built-in controllers (`--controllers`, on by default): Deployments,
    /// ReplicaSets, StatefulSets, DaemonSets, Jobs, garbage collection, namespace
    /// cleanup, and a simulated node whose kubelet runs the pods.
    pub controllers: bool,
    /// Whether a request without credentials is `system:anonymous`, authorized like any
    /// other (`--anonymous-auth`, on by default as in kube-apiserver: RBAC lets it reach
    /// `/version` and health only), or refused with 401.
    pub anonymous_auth: bool,
    /// How requests are authorized (`--authorization-mode`): RBAC, the default, with
    /// kube's bootstrap roles and bindings created at start, or AlwaysAllow. The admin
    /// identities ([`EmbeddedServer::admin_token`], the admin certificate) are in
    /// `system:masters` and may do everything either way.
    pub authorization_mode: AuthorizationMode,
    /// Timings of the controllers and the simulated kubelet
    /// ([`ControllerOptions::fast`] for tests that want pods running in milliseconds).
    pub controller_options: ControllerOptions,
    /// Keep every object in this directory and restore them at start (`--data-dir`;
    /// SQLite, see `storage::durable`; needs the `durable` Cargo feature). `None`: the
    /// objects live in memory only.
    pub data_dir: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            bind_address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            tls_cert_file: None,
            tls_private_key_file: None,
            client_ca_file: None,
            token_auth_file: None,
            controllers: true,
            anonymous_auth: true,
            authorization_mode: AuthorizationMode::Rbac,
            controller_options: ControllerOptions::default(),
            data_dir: None,
        }
    }
}

/// Why the server could not start. File problems name the flag and the file.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// TLS setup failed (certificate files, generation, configuration).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The token file could not be read or parsed.
    #[error("--token-auth-file: {0}")]
    TokenFile(#[from] TokenFileError),
    /// The data directory could not be opened or read (or this build has no `durable`
    /// feature).
    #[error("--data-dir: {0}")]
    DataDir(String),
    /// Only one of the certificate and key files was given.
    #[error("--tls-cert-file and --tls-private-key-file must be given together")]
    HalfKeyPair,
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

#[cfg(feature = "durable")]
fn open_data_dir(dir: &Path) -> Result<Arc<Registry>, StartError> {
    Registry::open(dir).map_err(|e| StartError::DataDir(e.to_string()))
}

#[cfg(not(feature = "durable"))]
fn open_data_dir(dir: &Path) -> Result<Arc<Registry>, StartError> {
    Err(StartError::DataDir(format!(
        "{}: this build of ferrokube-apiserver has no `durable` Cargo feature (SQLite storage)",
        dir.display()
    )))
}

/// A bearer token; `Debug` and `Display` show `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretToken(String);

impl SecretToken {
    /// The token itself, for an `Authorization: Bearer` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(<redacted>)")
    }
}

impl fmt::Display for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A running API server. Dropping it signals shutdown without waiting; call
/// [`EmbeddedServer::shutdown`] to wait for a clean stop.
pub struct EmbeddedServer {
    addr: SocketAddr,
    url: String,
    ca_pem: String,
    admin_token: SecretToken,
    admin_cert: (String, String),
    client_ca: CertAuthority,
    registry: Arc<Registry>,
    shutdown_tx: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    controllers: Option<ControllerHandle>,
}

impl fmt::Debug for EmbeddedServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmbeddedServer")
            .field("url", &self.url)
            .field("admin_token", &self.admin_token)
            .finish_non_exhaustive()
    }
}

impl EmbeddedServer {
    /// Start a server: generate or load certificates, bind, and serve in the background
    /// on the current tokio runtime. Takes a few milliseconds.
    pub async fn start(options: ServerOptions) -> Result<EmbeddedServer, StartError> {
        let registry = match &options.data_dir {
            None => Registry::new(),
            Some(dir) => open_data_dir(dir)?,
        };
        Self::start_with_registry(options, registry).await
    }

    /// Start a server over an existing registry (e.g. one shared with in-process
    /// controllers).
    pub async fn start_with_registry(
        options: ServerOptions,
        registry: Arc<Registry>,
    ) -> Result<EmbeddedServer, StartError> {
        // Credentials first: a bad file fails before the port is taken.
        let client_ca = CertAuthority::generate("ferrokube-client-ca").map_err(TlsError::from)?;
        let mut client_cas: Vec<CertificateDer<'static>> = vec![client_ca.cert_der().clone()];
        if let Some(path) = &options.client_ca_file {
            client_cas.extend(tls::load_certs("--client-ca-file", path)?);
        }
        let mut auth = Authenticator::new();
        auth.set_anonymous(options.anonymous_auth);
        if let Some(path) = &options.token_auth_file {
            auth.add_token_file(TokenFile::load(path)?);
        }
        let admin_token = random_token();
        auth.add_token(
            admin_token.clone(),
            UserInfo {
                name: "admin".into(),
                uid: "admin".into(),
                groups: vec!["system:masters".into()],
                extra: Default::default(),
            },
        );
        let admin_cert = client_ca.issue_client("admin", &["system:masters"])?;

        let bind = SocketAddr::new(options.bind_address, options.port);
        let listener = TcpListener::bind(bind).await.map_err(|source| StartError::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: bind, source })?;

        let (chain, key, ca_pem) = match (&options.tls_cert_file, &options.tls_private_key_file) {
            (Some(cert), Some(key)) => {
                let chain = tls::load_certs("--tls-cert-file", cert)?;
                let key = tls::load_key("--tls-private-key-file", key)?;
                let pem = std::fs::read_to_string(cert).map_err(|e| TlsError::File {
                    flag: "--tls-cert-file",
                    path: cert.clone(),
                    message: e.to_string(),
                })?;
                (chain, key, pem)
            }
            (None, None) => {
                let ca = CertAuthority::generate("ferrokube-ca").map_err(TlsError::from)?;
                let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
                if !options.bind_address.is_unspecified() {
                    hosts.push(options.bind_address.to_string());
                }
                let (cert, key) = ca.issue_serving(&hosts).map_err(TlsError::from)?;
                let (chain, key) = tls::parse_pem_pair(&cert, &key)?;
                (chain, key, ca.cert_pem().to_owned())
            }
            _ => return Err(StartError::HalfKeyPair),
        };
        let config = tls::server_config(chain, key, &client_cas)?;

        let host = match addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
            ip if ip.is_unspecified() => "[::1]".to_owned(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            IpAddr::V4(ip) => ip.to_string(),
        };
        let url = format!("https://{host}:{}", addr.port());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        if options.authorization_mode == AuthorizationMode::Rbac {
            rbac::bootstrap::ensure(registry.store());
        }
        tokio::spawn(rbac::aggregation::run(registry.shared_store(), shutdown_rx.clone()));
        let authz = Arc::new(Authorizer::new(options.authorization_mode, registry.shared_store()));
        let handler = Arc::new(
            Handler::new(
                registry.catalog(),
                registry.clone(),
                Arc::new(auth),
                format!("{host}:{}", addr.port()),
                shutdown_rx.clone(),
            )
            .with_authorizer(authz)
            .with_pod_log_interval(options.controller_options.pod_log_interval),
        );
        let task = tokio::spawn(accept_loop(listener, TlsAcceptor::from(config), handler, shutdown_rx));
        tracing::info!(%url, "ferrokube-apiserver serving");
        let controllers = options.controllers.then(|| {
            let mut controller_options = options.controller_options.clone();
            controller_options.root_ca_pem.get_or_insert_with(|| ca_pem.clone());
            crate::controllers::start(Arc::clone(&registry), controller_options)
        });
        Ok(EmbeddedServer {
            addr,
            url,
            ca_pem,
            admin_token: SecretToken(admin_token),
            admin_cert,
            client_ca,
            controllers,
            registry,
            shutdown_tx,
            task: Some(task),
        })
    }

    /// The base URL, e.g. `https://127.0.0.1:41234`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// PEM of the CA that signed the serving certificate (with `--tls-cert-file`: that
    /// file's contents).
    pub fn ca_certificate_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The generated admin bearer token (user `admin`, group `system:masters`).
    pub fn admin_token(&self) -> &SecretToken {
        &self.admin_token
    }

    /// The admin client certificate and key, PEM: `(cert, key)`.
    pub fn admin_client_certificate(&self) -> (&str, &str) {
        (&self.admin_cert.0, &self.admin_cert.1)
    }

    /// Issue a client certificate for `user` in `groups` (at most two), signed by the
    /// generated client CA the server trusts: `(cert_pem, key_pem)`.
    pub fn issue_client_certificate(&self, user: &str, groups: &[&str]) -> Result<(String, String), TlsError> {
        self.client_ca.issue_client(user, groups)
    }

    /// The registry serving the API, for in-process controllers and tests.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// An admin kubeconfig: cluster, context and user named `ferrokube`, the CA
    /// embedded, and both the admin token and the admin client certificate.
    pub fn kubeconfig_yaml(&self) -> String {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s.as_bytes());
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "ferrokube", "cluster": {
                "server": self.url,
                "certificate-authority-data": b64(&self.ca_pem),
            }}],
            "users": [{"name": "ferrokube", "user": {
                "token": self.admin_token.expose(),
                "client-certificate-data": b64(&self.admin_cert.0),
                "client-key-data": b64(&self.admin_cert.1),
            }}],
            "contexts": [{"name": "ferrokube", "context": {"cluster": "ferrokube", "user": "ferrokube"}}],
            "current-context": "ferrokube",
            "preferences": {},
        });
        serde_yaml_ng::to_string(&config).unwrap_or_default()
    }

    /// Write [`kubeconfig_yaml`](Self::kubeconfig_yaml) to `path` (mode 0600 on Unix).
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        std::io::Write::write_all(&mut file, self.kubeconfig_yaml().as_bytes())
    }

    /// Stop: no new connections, open watches end, in-flight requests get up to
    /// [`SHUTDOWN_GRACE`] to finish.
    pub async fn shutdown(mut self) {
        if let Some(controllers) = self.controllers.take() {
            controllers.shutdown().await;
        }
        let _ = self.shutdown_tx.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

/// Completes once shutdown is signalled (or the sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handler: Arc<Handler>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    conns.spawn(serve_connection(tcp, peer, acceptor.clone(), handler.clone(), shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("closing connections still busy after {:?}", SHUTDOWN_GRACE);
    }
    conns.shutdown().await;
}

async fn serve_connection(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    handler: Arc<Handler>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let info = Arc::new(ConnectionInfo {
        client_cert: tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map(|c| c.to_vec()),
    });
    let service = hyper::service::service_fn(move |req| {
        let handler = handler.clone();
        let info = info.clone();
        async move { Ok::<_, Infallible>(handler.handle(req, &info).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().max_buf_size(1024 * 1024).timer(hyper_util::rt::TokioTimer::new());
    builder.http2().max_header_list_size(1024 * 1024).timer(hyper_util::rt::TokioTimer::new());
    let conn = builder.serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        }
        _ = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
