//! Exec credential plugins (client-go `plugin/pkg/client/auth/exec`).
//!
//! A kubeconfig user with an `exec` section gets its credential by running a program
//! (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`, ...) that prints an
//! `ExecCredential` object on stdout:
//!
//! ```json
//! {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
//!  "status": {"token": "...", "expirationTimestamp": "2030-01-01T00:00:00Z"}}
//! ```
//!
//! [`ExecCredentialProvider`] is the [`CredentialProvider`] that
//! [`client_config`](super::client_config) puts into `rest::Config::credential_provider`.
//! It runs the plugin (with `args`, the `env` entries added to the environment, and
//! `KUBERNETES_EXEC_INFO` describing the request and, with `provideClusterInfo`, the
//! cluster), checks that the output has the configured `apiVersion` and kind, and caches
//! the credential until its `expirationTimestamp` (forever when it has none). After a 401
//! the transport calls [`invalidate`](CredentialProvider::invalidate) and the next request
//! runs the plugin again.
//!
//! ferrokube is a library and never prompts: the plugin gets no stdin unless ours is a
//! terminal and `interactiveMode` allows it. The plugin's stderr is relayed to ours on
//! success and quoted in the error on failure; stdout (the credential) never appears in
//! an error or log.

use std::io::IsTerminal as _;
use std::process::Stdio;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{json, Value};

use super::api::ExecConfig;
use super::error::{Error, Result};
use crate::secret::{SecretBytes, SecretString};
use crate::transport::auth::{Credential, CredentialError, CredentialFuture, CredentialProvider};

/// Environment variable carrying the request (and cluster) description to the plugin.
pub const EXEC_INFO_ENV: &str = "KUBERNETES_EXEC_INFO";
/// The `v1` exec credential API.
pub const API_V1: &str = "client.authentication.k8s.io/v1";
/// The `v1beta1` exec credential API.
pub const API_V1BETA1: &str = "client.authentication.k8s.io/v1beta1";

/// Most bytes of the plugin's stderr quoted in an error.
const STDERR_EXCERPT: usize = 2048;

/// When the plugin may interact with the user through stdin (`interactiveMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InteractiveMode {
    /// Never give the plugin stdin.
    Never,
    /// Give it stdin when stdin is a terminal (default for v1beta1).
    IfAvailable,
    /// The plugin needs a terminal; fail when there is none.
    Always,
}

/// The cluster as described to a plugin with `provideClusterInfo: true`
/// (`spec.cluster` of the ExecCredential in `KUBERNETES_EXEC_INFO`).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct ExecClusterInfo {
    /// API server URL.
    pub server: String,
    /// `tls-server-name`.
    pub tls_server_name: Option<String>,
    /// `insecure-skip-tls-verify`.
    pub insecure_skip_tls_verify: bool,
    /// The CA bundle (from the file or the data field).
    pub certificate_authority_data: Option<Vec<u8>>,
    /// `proxy-url`.
    pub proxy_url: Option<String>,
    /// `disable-compression`.
    pub disable_compression: bool,
    /// The cluster's `client.authentication.k8s.io/exec` extension.
    pub config: Option<Value>,
}

impl ExecClusterInfo {
    fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("server".into(), json!(self.server));
        if let Some(name) = &self.tls_server_name {
            m.insert("tls-server-name".into(), json!(name));
        }
        if self.insecure_skip_tls_verify {
            m.insert("insecure-skip-tls-verify".into(), json!(true));
        }
        if let Some(ca) = &self.certificate_authority_data {
            m.insert("certificate-authority-data".into(), json!(base64::engine::general_purpose::STANDARD.encode(ca)));
        }
        if let Some(proxy) = &self.proxy_url {
            m.insert("proxy-url".into(), json!(proxy));
        }
        if self.disable_compression {
            m.insert("disable-compression".into(), json!(true));
        }
        if let Some(config) = &self.config {
            m.insert("config".into(), config.clone());
        }
        Value::Object(m)
    }
}

struct Cached {
    credential: Credential,
    expires: Option<jiff::Timestamp>,
}

/// A [`CredentialProvider`] that runs an exec plugin and caches its credential.
pub struct ExecCredentialProvider {
    user: String,
    config: ExecConfig,
    mode: InteractiveMode,
    cluster: Option<ExecClusterInfo>,
    cache: Mutex<Option<Cached>>,
    /// Serializes plugin runs so concurrent requests start the plugin once.
    run_lock: tokio::sync::Mutex<()>,
    /// Where each run is reported (client-go's `ExecPluginCalls`), once a client with
    /// metrics uses this provider.
    metrics: std::sync::OnceLock<std::sync::Arc<dyn crate::tools::metrics::RequestMetrics>>,
}

impl std::fmt::Debug for ExecCredentialProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecCredentialProvider")
            .field("user", &self.user)
            .field("command", &self.config.command)
            .field("api_version", &self.config.api_version)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ExecCredentialProvider {
    /// A provider for kubeconfig user `user` with plugin settings `config`; `cluster` is
    /// passed to the plugin when `provideClusterInfo` is set. Fails on an invalid
    /// `exec` section (no command, unknown apiVersion, missing or invalid interactiveMode).
    pub fn new(user: &str, config: &ExecConfig, cluster: Option<ExecClusterInfo>) -> Result<Self> {
        let invalid = |message: String| Error::InvalidUser { user: user.to_owned(), file: None, message };
        if config.command.is_empty() {
            return Err(invalid("exec: command must be specified".into()));
        }
        if config.api_version != API_V1 && config.api_version != API_V1BETA1 {
            return Err(invalid(if config.api_version.is_empty() {
                "exec: apiVersion must be specified (client.authentication.k8s.io/v1 or v1beta1)".to_owned()
            } else {
                format!(
                    "exec: unsupported apiVersion {:?} (client.authentication.k8s.io/v1 or v1beta1)",
                    config.api_version
                )
            }));
        }
        if config.env.iter().any(|e| e.name.is_empty()) {
            return Err(invalid("exec: env entry with an empty name".into()));
        }
        let mode = match config.interactive_mode.as_deref().filter(|m| !m.is_empty()) {
            Some("Never") => InteractiveMode::Never,
            Some("IfAvailable") => InteractiveMode::IfAvailable,
            Some("Always") => InteractiveMode::Always,
            Some(other) => {
                return Err(invalid(format!("exec: invalid interactiveMode {other:?} (Never, IfAvailable or Always)")))
            }
            None if config.api_version == API_V1 => {
                return Err(invalid(format!("exec: interactiveMode must be specified for {API_V1}")))
            }
            None => InteractiveMode::IfAvailable,
        };
        Ok(ExecCredentialProvider {
            user: user.to_owned(),
            config: config.clone(),
            mode,
            cluster,
            cache: Mutex::new(None),
            run_lock: tokio::sync::Mutex::new(()),
            metrics: std::sync::OnceLock::new(),
        })
    }

    /// The interactive mode in effect.
    pub fn interactive_mode(&self) -> InteractiveMode {
        self.mode
    }

    fn cached(&self) -> Option<Credential> {
        let guard = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let cached = guard.as_ref()?;
        match cached.expires {
            Some(exp) if jiff::Timestamp::now() >= exp => None,
            _ => Some(cached.credential.clone()),
        }
    }

    /// The credential, from the cache while it is unexpired, else by running the plugin.
    pub async fn get(&self) -> Result<Credential> {
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let _running = self.run_lock.lock().await;
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let fresh = self.run().await?;
        let credential = fresh.credential.clone();
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh);
        Ok(credential)
    }

    /// The `KUBERNETES_EXEC_INFO` value for a run.
    pub fn exec_info(&self, interactive: bool) -> Value {
        let mut spec = serde_json::Map::new();
        if self.config.provide_cluster_info {
            if let Some(cluster) = &self.cluster {
                spec.insert("cluster".into(), cluster.to_json());
            }
        }
        spec.insert("interactive".into(), json!(interactive));
        json!({"apiVersion": self.config.api_version, "kind": "ExecCredential", "spec": Value::Object(spec)})
    }

    /// Runs the plugin and reports the call as client-go does: the exit code (0 when it
    /// never ran) and `success`, `plugin_not_found_error`, `plugin_execution_error` or
    /// `client_internal_error` (the plugin ran but its output was unusable).
    async fn run(&self) -> Result<Cached> {
        let result = self.run_plugin().await;
        if let Some(metrics) = self.metrics.get() {
            let (code, status) = match &result {
                Ok((code, Ok(_))) => (*code, "success"),
                Ok((code, Err(Error::ExecFailed { .. }))) => (*code, "plugin_execution_error"),
                Ok((code, Err(_))) => (*code, "client_internal_error"),
                Err(Error::ExecNotFound { .. }) => (1, "plugin_not_found_error"),
                Err(_) => (1, "plugin_execution_error"),
            };
            metrics.exec_plugin_call(code, status);
        }
        result.and_then(|(_, parsed)| parsed)
    }

    /// Runs the plugin once: its exit code and the parsed output, or why it failed to run
    /// or exited non-zero.
    async fn run_plugin(&self) -> Result<(i32, Result<Cached>)> {
        let stdin_is_terminal = std::io::stdin().is_terminal();
        let interactive = self.mode != InteractiveMode::Never && stdin_is_terminal;
        if self.mode == InteractiveMode::Always && !interactive {
            return Err(
                self.failed("interactiveMode is Always but standard input is not a terminal".to_owned(), String::new())
            );
        }
        let info = self.exec_info(interactive).to_string();
        let mut tries = 0;
        let output = loop {
            let mut cmd = tokio::process::Command::new(&self.config.command);
            cmd.args(&self.config.args)
                .envs(self.config.env.iter().map(|e| (&e.name, &e.value)))
                .env(EXEC_INFO_ENV, &info)
                .stdout(Stdio::piped())
                .kill_on_drop(true);
            if interactive {
                cmd.stdin(Stdio::inherit()).stderr(Stdio::inherit());
            } else {
                cmd.stdin(Stdio::null()).stderr(Stdio::piped());
            }
            match cmd.output().await {
                Ok(output) => break output,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::ExecNotFound {
                        user: self.user.clone(),
                        command: self.config.command.clone(),
                        install_hint: self.config.install_hint.clone().filter(|h| !h.is_empty()),
                    })
                }
                // "Text file busy": the executable was just written (by another thread
                // forking meanwhile); retry briefly.
                Err(e) if e.raw_os_error() == Some(26) && tries < 10 => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => return Err(self.failed(format!("could not start: {e}"), String::new())),
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        if !output.status.success() {
            let status = match output.status.code() {
                Some(code) => format!("exit status {code}"),
                None => format!("terminated ({})", output.status),
            };
            let code = output.status.code().unwrap_or(1);
            return Ok((code, Err(self.failed(status, tail(&stderr, STDERR_EXCERPT)))));
        }
        if !stderr.is_empty() {
            // Relay the plugin's diagnostics, as client-go does by sharing stderr.
            eprint!("{stderr}");
        }
        Ok((output.status.code().unwrap_or(0), self.parse(&output.stdout)))
    }

    fn failed(&self, status: String, stderr: String) -> Error {
        Error::ExecFailed { user: self.user.clone(), command: self.config.command.clone(), status, stderr }
    }

    fn bad_output(&self, message: impl Into<String>) -> Error {
        Error::ExecOutput { user: self.user.clone(), command: self.config.command.clone(), message: message.into() }
    }

    /// Parses and validates the plugin's stdout.
    fn parse(&self, stdout: &[u8]) -> Result<Cached> {
        // serde_json error messages give positions, never content.
        let value: Value = serde_json::from_slice(stdout)
            .map_err(|e| self.bad_output(format!("output is not a JSON ExecCredential: {e}")))?;
        let api_version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("");
        if api_version != self.config.api_version {
            return Err(self.bad_output(format!(
                "plugin is configured to use API version {}, plugin returned version {api_version:?}",
                self.config.api_version
            )));
        }
        let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
        if kind != "ExecCredential" {
            return Err(self.bad_output(format!("kind is {kind:?}, expected \"ExecCredential\"")));
        }
        let Some(status) = value.get("status").filter(|s| s.is_object()) else {
            return Err(self.bad_output("plugin didn't return a status field"));
        };
        let field = |name: &str| -> Result<Option<String>> {
            match status.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(self.bad_output(format!("status.{name} is not a string"))),
            }
        };
        let token = field("token")?;
        let cert = field("clientCertificateData")?;
        let key = field("clientKeyData")?;
        let expiry = field("expirationTimestamp")?;
        if token.is_none() && cert.is_none() && key.is_none() {
            return Err(self.bad_output("plugin didn't return a token or cert/key pair"));
        }
        if cert.is_some() != key.is_some() {
            return Err(self.bad_output("plugin returned only certificate or key, not both"));
        }
        let expires = match expiry {
            None => None,
            Some(text) => Some(text.parse::<jiff::Timestamp>().map_err(|e| {
                self.bad_output(format!("status.expirationTimestamp {text:?} is not an RFC 3339 time: {e}"))
            })?),
        };
        let credential = Credential {
            token: token.map(SecretString::new),
            client_certificate: cert.zip(key).map(|(c, k)| (c.into_bytes(), SecretBytes::new(k.into_bytes()))),
        };
        Ok(Cached { credential, expires })
    }
}

/// The last `max` bytes of `text`, cut at a character boundary.
fn tail(text: &str, max: usize) -> String {
    let text = text.trim_end();
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

impl CredentialProvider for ExecCredentialProvider {
    fn credential(&self) -> CredentialFuture<'_> {
        Box::pin(async move { self.get().await.map_err(CredentialError::provider) })
    }

    fn invalidate(&self) {
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    fn attach_metrics(&self, metrics: std::sync::Arc<dyn crate::tools::metrics::RequestMetrics>) {
        // The first client's metrics win, as a provider is shared by one config's clients.
        let _ = self.metrics.set(metrics);
    }
}
