//! In-cluster configuration: how a program running in a pod reaches its own API server
//! (client-go `rest.InClusterConfig` and clientcmd's `inClusterClientConfig`).
//!
//! Kubernetes gives every pod `KUBERNETES_SERVICE_HOST`/`KUBERNETES_SERVICE_PORT` and
//! mounts the service account under `/var/run/secrets/kubernetes.io/serviceaccount/`
//! (`token`, `ca.crt`, `namespace`). The resulting [`rest::Config`] points at
//! `https://host:port` (IPv6 hosts bracketed), trusts `ca.crt` and authenticates with
//! the token through `bearer_token_file`, which the transport re-reads periodically so
//! rotated (bound, expiring) tokens are picked up.
//!
//! The root directory and the environment are injectable ([`InClusterConfig::new`]) so
//! tests need neither a pod nor process-global variables.

use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::overrides::ConfigOverrides;
use crate::rest;
use crate::secret::SecretString;

/// Where the service account is mounted, relative to the file-system root.
pub const SERVICE_ACCOUNT_DIR: &str = "var/run/secrets/kubernetes.io/serviceaccount";

/// The in-cluster environment: the service variables and where the service account is
/// mounted.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct InClusterConfig {
    /// File-system root the service-account directory is under (`/` in a pod).
    pub root: PathBuf,
    /// `KUBERNETES_SERVICE_HOST`.
    pub host: Option<String>,
    /// `KUBERNETES_SERVICE_PORT`.
    pub port: Option<String>,
    /// `POD_NAMESPACE`, which wins over the namespace file when set.
    pub pod_namespace: Option<String>,
}

impl InClusterConfig {
    /// The real environment: root `/` and the process's variables.
    pub fn from_process_env() -> Self {
        Self::new("/", |name| std::env::var(name).ok())
    }

    /// An environment with the service account under `root` and variables looked up with
    /// `env`.
    pub fn new(root: impl Into<PathBuf>, env: impl Fn(&str) -> Option<String>) -> Self {
        InClusterConfig {
            root: root.into(),
            host: env("KUBERNETES_SERVICE_HOST").filter(|v| !v.is_empty()),
            port: env("KUBERNETES_SERVICE_PORT").filter(|v| !v.is_empty()),
            pod_namespace: env("POD_NAMESPACE").filter(|v| !v.is_empty()),
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.root.join(SERVICE_ACCOUNT_DIR).join(name)
    }

    /// Path of the service-account token.
    pub fn token_file(&self) -> PathBuf {
        self.file("token")
    }

    /// True when this looks like a pod: both variables set and the token mounted.
    pub fn is_possible(&self) -> bool {
        self.host.is_some() && self.port.is_some() && self.token_file().is_file()
    }

    /// The [`rest::Config`] for the pod's API server.
    pub fn client_config(&self) -> Result<rest::Config> {
        let (Some(host), Some(port)) = (&self.host, &self.port) else {
            return Err(Error::NotInCluster);
        };
        let token_file = self.token_file();
        let token = std::fs::read_to_string(&token_file).map_err(|source| Error::Read {
            what: "service-account token".to_owned(),
            path: token_file.clone(),
            source,
        })?;
        let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.clone() };
        let mut config = rest::Config::new(format!("https://{host}:{port}"));
        config.bearer_token = Some(SecretString::new(token.trim().to_owned()));
        config.bearer_token_file = Some(token_file);
        let ca = self.file("ca.crt");
        match std::fs::read(&ca) {
            Ok(bytes) if !bytes.is_empty() => config.tls.ca_file = Some(ca),
            Ok(_) => tracing::error!(path = %ca.display(), "in-cluster CA file is empty; using no CA"),
            Err(e) => tracing::error!(path = %ca.display(), error = %e, "expected to load in-cluster root CA"),
        }
        Ok(config)
    }

    /// Like [`client_config`](Self::client_config) with `--server`, CA, insecure,
    /// server-name, token and impersonation overrides applied.
    pub fn client_config_with_overrides(&self, overrides: &ConfigOverrides) -> Result<rest::Config> {
        let mut config = self.client_config()?;
        if let Some(server) = overrides.server_url() {
            config.host = server.to_owned();
        }
        if let Some(ca) = overrides.certificate_authority.as_ref().filter(|p| !p.as_os_str().is_empty()) {
            config.tls.ca_file = Some(ca.clone());
            config.tls.insecure = false;
        } else if overrides.insecure_skip_tls_verify {
            config.tls.ca_file = None;
            config.tls.insecure = true;
        }
        if let Some(name) = overrides.tls_server_name.as_ref().filter(|s| !s.is_empty()) {
            config.tls.server_name = Some(name.clone());
        }
        if let Some(token) = overrides.token.as_ref().filter(|t| !t.is_empty()) {
            config.bearer_token = Some(token.clone());
            config.bearer_token_file = None;
        }
        if let Some(user) = overrides.impersonate.as_ref().filter(|s| !s.is_empty()) {
            config.impersonate.user_name = Some(user.clone());
        }
        if let Some(uid) = overrides.impersonate_uid.as_ref().filter(|s| !s.is_empty()) {
            config.impersonate.uid = Some(uid.clone());
        }
        config.impersonate.groups.extend(overrides.impersonate_groups.iter().cloned());
        config.timeout = overrides.timeout.or(config.timeout);
        Ok(config)
    }

    /// The pod's namespace: `POD_NAMESPACE`, else the service account's `namespace`
    /// file, else `default`.
    pub fn namespace(&self) -> String {
        if let Some(ns) = &self.pod_namespace {
            return ns.clone();
        }
        match std::fs::read_to_string(self.file("namespace")) {
            Ok(ns) if !ns.trim().is_empty() => ns.trim().to_owned(),
            _ => "default".to_owned(),
        }
    }
}

/// The in-cluster [`rest::Config`] from the real environment (client-go
/// `rest.InClusterConfig`); [`Error::NotInCluster`] outside a pod.
pub fn in_cluster_config() -> Result<rest::Config> {
    InClusterConfig::from_process_env().client_config()
}

/// The in-cluster [`rest::Config`] with the service account under `root` and variables
/// from `env` (for tests and unusual mounts).
pub fn in_cluster_config_from(root: &Path, env: impl Fn(&str) -> Option<String>) -> Result<rest::Config> {
    InClusterConfig::new(root, env).client_config()
}
