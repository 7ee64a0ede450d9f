//! `rest::Config`: everything needed to reach one API server as one identity.
//!
//! It is what `clientcmd` produces from a kubeconfig (or the in-cluster environment) and
//! what [`RESTClient`](super::RESTClient) consumes. Field names follow client-go's
//! `rest.Config` so users can translate settings one to one.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::secret::SecretString;
use crate::transport::auth::CredentialProvider;
// Defined by the transport, which consumes them; part of `rest::Config` as in client-go.
pub use crate::transport::config::{ImpersonationConfig, TlsClientConfig};

/// How to reach and authenticate to one Kubernetes API server (client-go `rest.Config`).
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Base URL of the server, `https://host:port` (optionally with a path prefix).
    pub host: String,
    /// Path under `host` where the API is rooted: `/api` for the core group,
    /// `/apis` for named groups. Empty means decide per request.
    pub api_path: String,
    /// Group/version, serialization and negotiation settings.
    pub content: ContentConfig,
    /// `User-Agent` header; `None` means [`default_user_agent`].
    pub user_agent: Option<String>,

    /// TLS settings: CA, client certificate, server name, verification.
    pub tls: TlsClientConfig,
    /// Static bearer token.
    pub bearer_token: Option<SecretString>,
    /// File to read the bearer token from; re-read periodically so rotation is seen.
    /// Takes precedence over `bearer_token` when both are set, as in client-go.
    pub bearer_token_file: Option<PathBuf>,
    /// Basic-auth user name.
    pub username: Option<String>,
    /// Basic-auth password.
    pub password: Option<SecretString>,
    /// Identity to act as (`Impersonate-*` headers).
    pub impersonate: ImpersonationConfig,
    /// A dynamic credential source: an exec plugin or an auth-provider such as `oidc`.
    /// It is asked for a credential before each request and told when the server
    /// answered 401 so it can refresh.
    pub credential_provider: Option<Arc<dyn CredentialProvider>>,

    /// Proxy to send requests through (`http://`, `https://` or `socks5://` URL).
    /// When `None`, `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment apply.
    pub proxy_url: Option<String>,

    /// Steady-state requests per second allowed by the client-side rate limiter
    /// (client-go default 5). Ignored when `rate_limiter` is set.
    pub qps: f32,
    /// Requests allowed in a burst above `qps` (client-go default 10).
    pub burst: u32,
    /// A rate limiter to use instead of one built from `qps`/`burst`; share one between
    /// clients to share a budget. Use [`RateLimiterChoice::Disabled`] to turn limiting off.
    pub rate_limiter: RateLimiterChoice,
    /// Time limit of each request, from after its first rate-limiter wait until its
    /// response body is read, retries included (client-go `Config.Timeout`, default 0 =
    /// none). It is also sent as the `timeout` query parameter. `None` or zero: no limit.
    /// Watches and streams are not limited.
    pub timeout: Option<Duration>,
    /// Do not ask for gzip-compressed responses. Loopback servers (`localhost`,
    /// 127.0.0.0/8, `::1`) are never asked for gzip, whatever this says: compressing
    /// there costs both sides CPU and saves nothing (measured in `bench/`: the server
    /// spent ~117 ms compressing a 5 MB list the client decodes in ~60 ms). Without
    /// ferrokube's `gzip` Cargo feature no server is asked for gzip.
    pub disable_compression: bool,
    /// Where `Warning:` response headers go; `None` means log each distinct warning once.
    pub warning_handler: Option<Arc<dyn super::warnings::WarningHandler>>,
    /// Extra tower layers wrapped around the HTTP service (client-go `WrapTransport`).
    pub wrap_transport: Vec<crate::transport::hooks::TransportLayer>,
    /// Most retries of one request (client-go `Request.MaxRetries`, default 10: up to
    /// 11 attempts). 0 disables retries. See [`with_retry`](super::with_retry) for what
    /// is retried.
    pub max_retries: u32,
    /// Most threads the items of one large LIST response are decoded on (on a
    /// multi-threaded runtime, the worker's other tasks move to another worker
    /// meanwhile: `parallel::off_worker`); `0` (the default) as many as the machine's
    /// cores, up to 8, for bodies of at least 256 KiB; `1` on the calling task only. A
    /// ferrokube setting: client-go decodes on the calling goroutine.
    pub list_decode_threads: usize,
    /// How long to wait before each attempt beyond what the server asks for
    /// (client-go's `BackoffManager`); by default from `KUBE_CLIENT_BACKOFF_BASE` and
    /// `KUBE_CLIENT_BACKOFF_DURATION`, none when they are unset. See
    /// [`backoff`](super::backoff).
    pub backoff: super::backoff::BackoffChoice,
    /// Where request metrics go (client-go `tools/metrics`); `None` records nothing.
    /// See [`tools::metrics`](crate::tools::metrics).
    pub metrics: Option<Arc<dyn crate::tools::metrics::RequestMetrics>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            host: String::new(),
            api_path: String::new(),
            content: ContentConfig::default(),
            user_agent: None,
            tls: TlsClientConfig::default(),
            bearer_token: None,
            bearer_token_file: None,
            username: None,
            password: None,
            impersonate: ImpersonationConfig::default(),
            credential_provider: None,
            proxy_url: None,
            qps: DEFAULT_QPS,
            burst: DEFAULT_BURST,
            rate_limiter: RateLimiterChoice::FromQpsBurst,
            timeout: None,
            disable_compression: false,
            warning_handler: None,
            wrap_transport: Vec::new(),
            max_retries: DEFAULT_MAX_RETRIES,
            list_decode_threads: 0,
            backoff: super::backoff::BackoffChoice::default(),
            metrics: None,
        }
    }
}

/// client-go's default QPS.
pub const DEFAULT_QPS: f32 = 5.0;
/// client-go's default burst.
pub const DEFAULT_BURST: u32 = 10;
/// client-go's default most retries of one request (so 11 attempts).
pub const DEFAULT_MAX_RETRIES: u32 = 10;

impl Config {
    /// A config for `host` with every other setting at its default.
    pub fn new(host: impl Into<String>) -> Self {
        Config { host: host.into(), ..Config::default() }
    }
}

/// Which client-side rate limiter a client uses.
#[derive(Clone, Default)]
pub enum RateLimiterChoice {
    /// A token bucket built from `Config::qps` and `Config::burst`.
    #[default]
    FromQpsBurst,
    /// No client-side limiting at all.
    Disabled,
    /// This limiter, possibly shared with other clients.
    Shared(Arc<super::rate_limit::TokenBucket>),
}

/// Group/version and content negotiation (client-go `rest.ContentConfig`).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ContentConfig {
    /// Group and version requests are for, e.g. `("apps", "v1")`; empty group = core.
    pub group_version: Option<(String, String)>,
    /// `Content-Type` of request bodies (default `application/json`).
    pub content_type: String,
    /// `Accept` header (default `application/json`).
    pub accept_content_types: String,
    /// Whether the typed clients ([`Clientset`](crate::kubernetes::Clientset),
    /// [`ResourceClient`](crate::kubernetes::ResourceClient)) speak Kubernetes protobuf
    /// (`application/vnd.kubernetes.protobuf`) for the built-in types: they then send
    /// `Accept: application/vnd.kubernetes.protobuf, application/json`, decode whichever
    /// the server answers (by its `Content-Type`), send created and updated objects as
    /// protobuf and read watches as protobuf frames. Default `true`, as client-go's
    /// `kubernetes.NewForConfig` defaults `ContentType` to protobuf; set `false` for
    /// JSON everywhere (client-go: `config.ContentType = "application/json"`). Custom
    /// resources, the dynamic and metadata clients, patches and `DeleteOptions` bodies are
    /// JSON whatever this says, as in client-go. (`content_type` and
    /// `accept_content_types` above are what a raw [`RESTClient`](super::RESTClient)
    /// sends; the typed clients set their own per request.)
    pub protobuf_for_built_in_types: bool,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            group_version: None,
            content_type: "application/json".to_owned(),
            accept_content_types: "application/json".to_owned(),
            protobuf_for_built_in_types: true,
        }
    }
}

impl Config {
    /// The part of this config the transport uses (client-go `rest.Config.TransportConfig`):
    /// TLS, credentials, impersonation, proxy and middleware, with the user agent
    /// defaulted to [`default_user_agent`].
    pub fn transport_config(&self) -> crate::transport::Config {
        crate::transport::Config {
            user_agent: self.user_agent.clone().filter(|u| !u.is_empty()).unwrap_or_else(default_user_agent),
            tls: self.tls.clone(),
            bearer_token: self.bearer_token.clone(),
            bearer_token_file: self.bearer_token_file.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            impersonate: self.impersonate.clone(),
            credential_provider: self.credential_provider.clone(),
            proxy_url: self.proxy_url.clone(),
            wrap_transport: self.wrap_transport.clone(),
        }
    }
}

/// The default `User-Agent`: `ferrokube/<version> (<os>/<arch>)`.
pub fn default_user_agent() -> String {
    format!("ferrokube/{} ({}/{})", env!("CARGO_PKG_VERSION"), std::env::consts::OS, std::env::consts::ARCH)
}

impl std::fmt::Debug for Config {
    /// Shows where the config points and which kinds of credential it carries, never
    /// the credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("host", &self.host)
            .field("api_path", &self.api_path)
            .field("content", &self.content)
            .field("user_agent", &self.user_agent)
            .field("tls", &self.tls)
            .field("bearer_token", &self.bearer_token)
            .field("bearer_token_file", &self.bearer_token_file)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("impersonate", &self.impersonate)
            .field("credential_provider", &self.credential_provider.as_ref().map(|_| "<set>"))
            .field("proxy_url", &self.proxy_url.as_deref().map(crate::transport::proxy::redact))
            .field("qps", &self.qps)
            .field("burst", &self.burst)
            .field("timeout", &self.timeout)
            .field("disable_compression", &self.disable_compression)
            .field("max_retries", &self.max_retries)
            .field("list_decode_threads", &self.list_decode_threads)
            .field("backoff", &self.backoff)
            .field("metrics", &self.metrics.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_proxy_credentials() {
        let mut c = Config::new("https://h");
        c.proxy_url = Some("http://user:hunter2@proxy.example:3128".into());
        let d = format!("{c:?}");
        assert!(!d.contains("hunter2") && !d.contains("user:"), "{d}");
        assert!(d.contains("proxy.example:3128"), "{d}");
        assert!(d.contains("backoff: FromEnv"), "{d}");
    }
}
