//! From a loaded kubeconfig to a [`rest::Config`] (client-go `DirectClientConfig` and
//! `DeferredLoadingClientConfig`).
//!
//! [`DirectClientConfig`] works on a config already in memory: it picks the context
//! (`--context` override, else `current-context`), the cluster and user that context
//! names (or the `--cluster`/`--user` overrides), applies the
//! [overrides](super::overrides), validates the result (clear errors for unknown
//! entries, unreadable CA files, conflicting settings), and builds the `rest::Config`:
//! server, TLS, token / token file, client certificate, basic auth, impersonation, proxy
//! and a [`CredentialProvider`](crate::transport::auth::CredentialProvider) for exec
//! plugins and the `oidc` auth provider.
//!
//! [`DeferredLoadingClientConfig`] is what kubectl uses: it loads files with
//! [`ClientConfigLoadingRules`] when asked, and when nothing at all is configured it falls
//! back to the [in-cluster](super::in_cluster) config if running in a pod.
//!
//! As in client-go, credentials are only attached when the server is reached over TLS
//! (`https`): a kubeconfig pointing at `http://` gets no token, certificate or password.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::api::{self, AuthInfo, Cluster, Context};
use super::error::{Error, Result};
use super::in_cluster::InClusterConfig;
use super::loader::ClientConfigLoadingRules;
use super::overrides::ConfigOverrides;
use crate::rest;

/// Something that can produce a [`rest::Config`] the way kubectl does (client-go
/// `clientcmd.ClientConfig`).
pub trait ClientConfig {
    /// The merged kubeconfig, without overrides applied.
    fn raw_config(&self) -> Result<api::Config>;
    /// The [`rest::Config`] for the selected context with overrides applied.
    fn client_config(&self) -> Result<rest::Config>;
    /// The namespace to use and whether it came from an override (`--namespace`);
    /// `default` when the context names none.
    fn namespace(&self) -> Result<(String, bool)>;
}

/// A [`ClientConfig`] over a kubeconfig already loaded (client-go `DirectClientConfig`).
#[derive(Clone, Debug)]
pub struct DirectClientConfig {
    config: api::Config,
    context_name: Option<String>,
    overrides: ConfigOverrides,
    files: Vec<PathBuf>,
    searched: Vec<PathBuf>,
}

/// The context, cluster and user chosen, with overrides applied.
#[derive(Clone, Debug, Default)]
pub struct ResolvedContext {
    /// Name of the context (empty when none was selected).
    pub context_name: String,
    /// The context.
    pub context: Context,
    /// Name of the cluster entry (empty when only `--server` was given).
    pub cluster_name: String,
    /// The cluster with overrides applied.
    pub cluster: Cluster,
    /// Name of the user entry (empty for anonymous).
    pub user_name: String,
    /// The user with overrides applied.
    pub auth_info: AuthInfo,
}

impl DirectClientConfig {
    /// Uses `config`'s current context (or `overrides.context`).
    pub fn new(config: api::Config, overrides: ConfigOverrides) -> Self {
        DirectClientConfig { config, context_name: None, overrides, files: Vec::new(), searched: Vec::new() }
    }

    /// Uses the context `context_name` instead of `current-context` (client-go
    /// `NewNonInteractiveClientConfig`); `overrides.context` still wins.
    pub fn with_context(config: api::Config, context_name: impl Into<String>, overrides: ConfigOverrides) -> Self {
        let name = context_name.into();
        DirectClientConfig { context_name: (!name.is_empty()).then_some(name), ..Self::new(config, overrides) }
    }

    /// Records which files the config was loaded from, for error messages.
    pub fn with_files(mut self, files: Vec<PathBuf>, searched: Vec<PathBuf>) -> Self {
        self.files = files;
        self.searched = searched;
        self
    }

    fn nothing_configured(&self) -> bool {
        self.config.is_empty() && self.overrides.server_url().is_none()
    }

    fn selected_context_name(&self) -> String {
        self.overrides
            .context_name()
            .map(str::to_owned)
            .or_else(|| self.context_name.clone())
            .unwrap_or_else(|| self.config.current_context.clone())
    }

    /// Picks the context, cluster and user and applies the overrides, failing with a
    /// clear error when something named does not exist.
    pub fn resolve(&self) -> Result<ResolvedContext> {
        if self.nothing_configured() {
            return Err(Error::EmptyConfig { searched: self.searched.clone() });
        }
        let context_name = self.selected_context_name();
        let context = if context_name.is_empty() {
            Context::default()
        } else {
            self.config
                .context(&context_name)
                .cloned()
                .ok_or_else(|| Error::ContextNotFound { name: context_name.clone(), files: self.files.clone() })?
        };
        let from_context = (!context_name.is_empty()).then(|| context_name.clone());

        // Cluster: --cluster, else the context's.
        let (cluster_name, cluster_required_by) = match self.overrides.cluster_name() {
            Some(name) => (name.to_owned(), None),
            None => (context.cluster.clone(), from_context.clone()),
        };
        let mut cluster = if cluster_name.is_empty() {
            Cluster::default()
        } else {
            match self.config.cluster(&cluster_name) {
                Some(c) => c.clone(),
                // A context naming a missing cluster is tolerated only when --server
                // says where to go anyway.
                None if cluster_required_by.is_some() && self.overrides.server_url().is_some() => Cluster::default(),
                None => {
                    return Err(Error::ClusterNotFound {
                        name: cluster_name,
                        context: cluster_required_by,
                        files: self.files.clone(),
                    })
                }
            }
        };
        self.overrides.apply_to_cluster(&mut cluster);

        // User: --user, else the context's.
        let (user_name, user_required_by) = match self.overrides.user_name() {
            Some(name) => (name.to_owned(), None),
            None => (context.user.clone(), from_context.clone()),
        };
        let mut auth_info = if user_name.is_empty() {
            AuthInfo::default()
        } else {
            self.config.auth_info(&user_name).cloned().ok_or_else(|| Error::UserNotFound {
                name: user_name.clone(),
                context: user_required_by,
                files: self.files.clone(),
            })?
        };
        self.overrides.apply_to_auth_info(&mut auth_info);

        if cluster.server.is_empty() {
            if context_name.is_empty() && cluster_name.is_empty() {
                if self.config.contexts.is_empty() {
                    return Err(Error::EmptyConfig { searched: self.searched.clone() });
                }
                return Err(Error::NoContext { files: self.files.clone() });
            }
            if cluster_name.is_empty() {
                return Err(Error::InvalidCluster {
                    cluster: String::new(),
                    file: context.location_of_origin.clone(),
                    message: format!("context {context_name:?} names no cluster and no server was given"),
                });
            }
            return Err(invalid_cluster(&cluster_name, &cluster, "no server found for cluster"));
        }
        Ok(ResolvedContext { context_name, context, cluster_name, cluster, user_name, auth_info })
    }
}

fn invalid_cluster(name: &str, cluster: &Cluster, message: impl Into<String>) -> Error {
    Error::InvalidCluster {
        cluster: name.to_owned(),
        file: cluster.location_of_origin.clone(),
        message: message.into(),
    }
}

fn invalid_user(name: &str, user: &AuthInfo, message: impl Into<String>) -> Error {
    Error::InvalidUser { user: name.to_owned(), file: user.location_of_origin.clone(), message: message.into() }
}

/// True when the config carries TLS settings (client-go: such a host without scheme
/// defaults to https).
fn has_tls_settings(cluster: &Cluster, user: &AuthInfo) -> bool {
    cluster.certificate_authority.is_some()
        || cluster.certificate_authority_data.is_some()
        || cluster.insecure_skip_tls_verify
        || cluster.tls_server_name.is_some()
        || user.client_certificate.is_some()
        || user.client_certificate_data.is_some()
}

/// Normalizes the server URL: adds a scheme when missing (https when TLS settings are
/// present, as client-go's `DefaultServerURL`), drops query and fragment.
fn normalize_server(name: &str, cluster: &Cluster, user: &AuthInfo) -> Result<url::Url> {
    let raw = cluster.server.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else if has_tls_settings(cluster, user) {
        format!("https://{raw}")
    } else {
        format!("http://{raw}")
    };
    let mut url = url::Url::parse(&with_scheme)
        .map_err(|e| invalid_cluster(name, cluster, format!("invalid server {raw:?}: {e}")))?;
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(invalid_cluster(name, cluster, format!("server {raw:?} must be an http or https URL")));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid_cluster(name, cluster, format!("server {raw:?} has no host")));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

fn validate_cluster(name: &str, cluster: &Cluster) -> Result<Option<Vec<u8>>> {
    if let Some(proxy) = cluster.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        // The URL may carry a user name and password: messages show it redacted.
        let shown = crate::transport::proxy::redact(proxy);
        match url::Url::parse(proxy) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) if u.scheme() == "socks5" => {
                if !cfg!(feature = "socks5") {
                    return Err(Error::MissingFeature {
                        entry: format!("cluster {name:?}"),
                        file: cluster.location_of_origin.clone(),
                        feature: "socks5",
                        needed_for: "its socks5 proxy-url",
                    });
                }
            }
            Ok(u) => {
                return Err(invalid_cluster(
                    name,
                    cluster,
                    format!("invalid proxy-url {shown:?}: unsupported scheme {:?} (http, https or socks5)", u.scheme()),
                ))
            }
            Err(e) => return Err(invalid_cluster(name, cluster, format!("invalid proxy-url {shown:?}: {e}"))),
        }
    }
    let has_ca = cluster.certificate_authority.is_some() || cluster.certificate_authority_data.is_some();
    if cluster.certificate_authority.is_some() && cluster.certificate_authority_data.is_some() {
        return Err(invalid_cluster(
            name,
            cluster,
            "certificate-authority-data and certificate-authority are both specified",
        ));
    }
    if has_ca && cluster.insecure_skip_tls_verify {
        return Err(invalid_cluster(
            name,
            cluster,
            "certificate-authority and insecure-skip-tls-verify are mutually exclusive \
             (specifying a root certificate with the insecure flag is not allowed)",
        ));
    }
    if let Some(path) = &cluster.certificate_authority {
        let bytes = std::fs::read(path).map_err(|source| Error::CaFile {
            cluster: name.to_owned(),
            path: path.clone(),
            file: cluster.location_of_origin.clone(),
            source,
        })?;
        return Ok(Some(bytes));
    }
    Ok(cluster.certificate_authority_data.clone())
}

fn check_readable(name: &str, user: &AuthInfo, field: &str, path: &Path) -> Result<()> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| invalid_user(name, user, format!("cannot read {field} {}: {e}", path.display())))
}

fn validate_user(name: &str, user: &AuthInfo) -> Result<()> {
    if user.client_certificate.is_some() && user.client_certificate_data.is_some() {
        return Err(invalid_user(name, user, "client-certificate-data and client-certificate are both specified"));
    }
    if user.client_key.is_some() && user.client_key_data.is_some() {
        return Err(invalid_user(name, user, "client-key-data and client-key are both specified"));
    }
    let has_cert = user.client_certificate.is_some() || user.client_certificate_data.is_some();
    let has_key = user.client_key.is_some() || user.client_key_data.is_some();
    if has_cert != has_key {
        return Err(invalid_user(
            name,
            user,
            if has_cert {
                "client-certificate is set without client-key"
            } else {
                "client-key is set without client-certificate"
            },
        ));
    }
    if let Some(path) = &user.client_certificate {
        check_readable(name, user, "client-certificate", path)?;
    }
    if let Some(path) = &user.client_key {
        check_readable(name, user, "client-key", path)?;
    }
    if user.exec.is_some() && user.auth_provider.is_some() {
        return Err(invalid_user(name, user, "auth-provider cannot be combined with an exec plugin"));
    }
    if let Some(provider) = &user.auth_provider {
        if provider.name != "oidc" {
            return Err(Error::UnsupportedAuthProvider { user: name.to_owned(), provider: provider.name.clone() });
        }
        if !cfg!(feature = "oidc") {
            return Err(missing_feature(name, user, "oidc", "the oidc auth-provider"));
        }
    }
    if user.exec.is_some() && !cfg!(feature = "exec") {
        return Err(missing_feature(name, user, "exec", "an exec credential plugin"));
    }
    Ok(())
}

fn missing_feature(name: &str, user: &AuthInfo, feature: &'static str, needed_for: &'static str) -> Error {
    Error::MissingFeature {
        entry: format!("user {name:?}"),
        file: user.location_of_origin.clone(),
        feature,
        needed_for,
    }
}

/// The exec plugin's credential provider, when the user has an `exec` section.
#[cfg(feature = "exec")]
fn exec_provider(
    r: &ResolvedContext,
    config: &rest::Config,
    ca_bytes: Option<Vec<u8>>,
) -> Result<Option<Arc<dyn crate::transport::auth::CredentialProvider>>> {
    use super::exec::{ExecClusterInfo, ExecCredentialProvider};
    let Some(exec) = &r.auth_info.exec else { return Ok(None) };
    let cluster = &r.cluster;
    let cluster_info = ExecClusterInfo {
        server: config.host.clone(),
        tls_server_name: config.tls.server_name.clone(),
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        certificate_authority_data: ca_bytes,
        proxy_url: config.proxy_url.clone(),
        disable_compression: cluster.disable_compression,
        config: cluster.extensions.iter().find(|e| e.name == api::EXEC_CLUSTER_EXTENSION).map(|e| e.extension.clone()),
    };
    let provider = ExecCredentialProvider::new(&r.user_name, exec, Some(cluster_info)).map_err(|e| match e {
        Error::InvalidUser { user, file: None, message } => {
            Error::InvalidUser { user, file: r.auth_info.location_of_origin.clone(), message }
        }
        other => other,
    })?;
    Ok(Some(Arc::new(provider)))
}

/// Without the `exec` feature, [`validate_user`] has already rejected an `exec` section.
#[cfg(not(feature = "exec"))]
fn exec_provider(
    _r: &ResolvedContext,
    _config: &rest::Config,
    _ca_bytes: Option<Vec<u8>>,
) -> Result<Option<Arc<dyn crate::transport::auth::CredentialProvider>>> {
    Ok(None)
}

/// The `oidc` auth-provider, when the user has one.
#[cfg(feature = "oidc")]
fn oidc_provider(r: &ResolvedContext) -> Result<Option<Arc<dyn crate::transport::auth::CredentialProvider>>> {
    let Some(provider) = &r.auth_info.auth_provider else { return Ok(None) };
    let oidc =
        super::oidc::OidcAuthProvider::new(&r.user_name, &provider.config, r.auth_info.location_of_origin.clone())?;
    Ok(Some(Arc::new(oidc)))
}

/// Without the `oidc` feature, [`validate_user`] has already rejected an auth-provider.
#[cfg(not(feature = "oidc"))]
fn oidc_provider(_r: &ResolvedContext) -> Result<Option<Arc<dyn crate::transport::auth::CredentialProvider>>> {
    Ok(None)
}

impl ClientConfig for DirectClientConfig {
    fn raw_config(&self) -> Result<api::Config> {
        Ok(self.config.clone())
    }

    fn client_config(&self) -> Result<rest::Config> {
        let r = self.resolve()?;
        let (cluster, user) = (&r.cluster, &r.auth_info);
        let url = normalize_server(&r.cluster_name, cluster, user)?;
        let ca_bytes = validate_cluster(&r.cluster_name, cluster)?;
        validate_user(&r.user_name, user)?;

        let mut config = rest::Config::new(url.as_str().trim_end_matches('/'));
        config.timeout = self.overrides.timeout;
        config.proxy_url = cluster.proxy_url.clone().filter(|p| !p.is_empty());
        config.disable_compression = cluster.disable_compression;

        if url.scheme() != "https" {
            if user_has_credentials(user) {
                tracing::warn!(
                    server = %url, user = %r.user_name,
                    "not sending the credentials of the user over plain http"
                );
            }
            return Ok(config);
        }

        // Server identification.
        config.tls.insecure = cluster.insecure_skip_tls_verify;
        config.tls.server_name = cluster.tls_server_name.clone().filter(|s| !s.is_empty());
        config.tls.ca_file = cluster.certificate_authority.clone();
        config.tls.ca_data = cluster.certificate_authority_data.clone();

        // User identification.
        if let Some(token) = user.token.as_ref().filter(|t| !t.is_empty()) {
            config.bearer_token = Some(token.clone());
            config.bearer_token_file = user.token_file.clone();
        } else if let Some(path) = &user.token_file {
            let token = std::fs::read_to_string(path).map_err(|source| Error::Read {
                what: format!("tokenFile of user {:?}", r.user_name),
                path: path.clone(),
                source,
            })?;
            config.bearer_token = Some(token.trim().to_owned().into());
            config.bearer_token_file = Some(path.clone());
        }
        config.impersonate.user_name = user.impersonate.clone().filter(|s| !s.is_empty());
        config.impersonate.uid = user.impersonate_uid.clone().filter(|s| !s.is_empty());
        config.impersonate.groups = user.impersonate_groups.clone();
        config.impersonate.extra = user.impersonate_user_extra.clone();
        config.tls.cert_file = user.client_certificate.clone();
        config.tls.cert_data = user.client_certificate_data.clone();
        config.tls.key_file = user.client_key.clone();
        config.tls.key_data = user.client_key_data.clone();
        if user.username.as_deref().is_some_and(|u| !u.is_empty()) || user.password.is_some() {
            config.username = user.username.clone();
            config.password = user.password.clone();
        }
        if let Some(provider) = exec_provider(&r, &config, ca_bytes)? {
            config.credential_provider = Some(provider);
        }
        if let Some(provider) = oidc_provider(&r)? {
            config.credential_provider = Some(provider);
        }
        Ok(config)
    }

    fn namespace(&self) -> Result<(String, bool)> {
        if let Some(ns) = self.overrides.namespace_name() {
            return Ok((ns.to_owned(), true));
        }
        let r = self.resolve()?;
        if r.context.namespace.is_empty() {
            Ok(("default".to_owned(), false))
        } else {
            Ok((r.context.namespace, false))
        }
    }
}

fn user_has_credentials(user: &AuthInfo) -> bool {
    user.token.is_some()
        || user.token_file.is_some()
        || user.password.is_some()
        || user.client_key.is_some()
        || user.client_key_data.is_some()
        || user.exec.is_some()
        || user.auth_provider.is_some()
}

/// A [`ClientConfig`] that loads kubeconfig files when asked and falls back to the
/// in-cluster config when nothing is configured (client-go
/// `DeferredLoadingClientConfig`, what kubectl uses).
#[derive(Clone, Debug)]
pub struct DeferredLoadingClientConfig {
    rules: ClientConfigLoadingRules,
    overrides: ConfigOverrides,
    in_cluster: Option<InClusterConfig>,
}

impl DeferredLoadingClientConfig {
    /// Loads with `rules`, applies `overrides`, and falls back to the in-cluster config
    /// of the real environment.
    pub fn new(rules: ClientConfigLoadingRules, overrides: ConfigOverrides) -> Self {
        DeferredLoadingClientConfig { rules, overrides, in_cluster: Some(InClusterConfig::from_process_env()) }
    }

    /// Uses this in-cluster environment for the fallback (`None` disables it).
    pub fn with_in_cluster(mut self, in_cluster: Option<InClusterConfig>) -> Self {
        self.in_cluster = in_cluster;
        self
    }

    /// Loads the files now and returns the [`DirectClientConfig`] over them.
    pub fn direct(&self) -> Result<DirectClientConfig> {
        let loaded = self.rules.load_with_sources()?;
        Ok(DirectClientConfig::new(loaded.config, self.overrides.clone()).with_files(loaded.files, loaded.searched))
    }

    fn in_cluster_possible(&self) -> Option<&InClusterConfig> {
        self.in_cluster.as_ref().filter(|icc| icc.is_possible())
    }
}

impl ClientConfig for DeferredLoadingClientConfig {
    fn raw_config(&self) -> Result<api::Config> {
        self.rules.load()
    }

    fn client_config(&self) -> Result<rest::Config> {
        match self.direct()?.client_config() {
            Err(e) if e.is_empty_config() => match self.in_cluster_possible() {
                Some(icc) => {
                    tracing::debug!("no kubeconfig: using in-cluster configuration");
                    icc.client_config_with_overrides(&self.overrides)
                }
                None => Err(e),
            },
            other => other,
        }
    }

    fn namespace(&self) -> Result<(String, bool)> {
        match self.direct()?.namespace() {
            Err(e) if e.is_empty_config() => match self.in_cluster_possible() {
                Some(icc) => Ok((icc.namespace(), false)),
                None => Err(e),
            },
            other => other,
        }
    }
}

/// Builds a [`rest::Config`] from a server URL and/or kubeconfig path, like client-go's
/// `BuildConfigFromFlags`: when both are `None` it warns and tries the in-cluster config,
/// then falls back to kubectl's default loading rules (`KUBECONFIG`, `~/.kube/config`).
/// A given `kubeconfig_path` must exist and is the only file read; a given `master_url`
/// overrides the server (given alone, no kubeconfig is read, as in client-go). Go's empty
/// strings are `None` here; an empty string counts as not given too.
pub fn build_config_from_flags(master_url: Option<&str>, kubeconfig_path: Option<&Path>) -> Result<rest::Config> {
    build_config_from_flags_with(
        master_url,
        kubeconfig_path,
        ClientConfigLoadingRules::from_process_env(),
        &InClusterConfig::from_process_env(),
    )
}

/// [`build_config_from_flags`] with the default loading rules and in-cluster
/// environment given explicitly (for tests).
pub fn build_config_from_flags_with(
    master_url: Option<&str>,
    kubeconfig_path: Option<&Path>,
    default_rules: ClientConfigLoadingRules,
    in_cluster: &InClusterConfig,
) -> Result<rest::Config> {
    let master_url = master_url.unwrap_or("");
    let kubeconfig_path = kubeconfig_path.map(Path::as_os_str).unwrap_or_default();
    if master_url.is_empty() && kubeconfig_path.is_empty() {
        tracing::warn!(
            "neither --kubeconfig nor --master was specified; using the in-cluster config, which might not work"
        );
        match in_cluster.client_config() {
            Ok(config) => return Ok(config),
            Err(e) => {
                tracing::warn!(error = %e, "error creating in-cluster config, falling back to the default kubeconfig")
            }
        }
    }
    let rules = match (master_url.is_empty(), kubeconfig_path.is_empty()) {
        (_, false) => ClientConfigLoadingRules::with_explicit_path(kubeconfig_path),
        (true, true) => default_rules,
        // Only a server: like client-go, no kubeconfig is read, so no credentials from
        // ~/.kube/config are sent to a server they were not written for.
        (false, true) => {
            ClientConfigLoadingRules { explicit_path: None, precedence: Vec::new(), do_not_resolve_paths: false }
        }
    };
    let overrides =
        ConfigOverrides { server: (!master_url.is_empty()).then(|| master_url.to_owned()), ..Default::default() };
    DeferredLoadingClientConfig::new(rules, overrides).with_in_cluster(None).client_config()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `rest::Config` of a one-context kubeconfig with this user and proxy.
    fn build(user: &str, proxy: &str) -> Result<rest::Config> {
        let yaml = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
             contexts:\n- name: c\n  context: {{cluster: k, user: u}}\n\
             clusters:\n- name: k\n  cluster: {{server: 'https://k8s.example:6443'{proxy}}}\n\
             users:\n- name: u\n  user: {user}\n"
        );
        let raw = super::super::load_from_str(&yaml, Path::new("/kube/config"))?;
        DirectClientConfig::new(raw, ConfigOverrides::default()).client_config()
    }

    const EXEC_USER: &str =
        "{exec: {apiVersion: client.authentication.k8s.io/v1, command: plugin, interactiveMode: Never}}";
    const OIDC_USER: &str = "{auth-provider: {name: oidc, config: {idp-issuer-url: 'https://idp.example', \
                             client-id: c, id-token: t}}}";
    const SOCKS_PROXY: &str = ", proxy-url: 'socks5://user:pw@proxy:1080'";

    #[cfg(feature = "exec")]
    #[test]
    fn exec_user_gets_a_credential_provider() {
        assert!(build(EXEC_USER, "").unwrap().credential_provider.is_some());
    }

    #[cfg(not(feature = "exec"))]
    #[test]
    fn exec_user_without_the_feature_names_it() {
        let err = build(EXEC_USER, "").unwrap_err();
        assert!(matches!(err, Error::MissingFeature { feature: "exec", .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("user \"u\" in /kube/config") && msg.contains("\"exec\" Cargo feature"), "{msg}");
    }

    #[cfg(feature = "oidc")]
    #[test]
    fn oidc_user_gets_a_credential_provider() {
        assert!(build(OIDC_USER, "").unwrap().credential_provider.is_some());
    }

    #[cfg(not(feature = "oidc"))]
    #[test]
    fn oidc_user_without_the_feature_names_it() {
        let err = build(OIDC_USER, "").unwrap_err();
        assert!(matches!(err, Error::MissingFeature { feature: "oidc", .. }), "{err:?}");
        assert!(err.to_string().contains("the oidc auth-provider"), "{err}");
    }

    #[cfg(feature = "socks5")]
    #[test]
    fn socks5_proxy_is_accepted() {
        let config = build("{token: t}", SOCKS_PROXY).unwrap();
        assert_eq!(config.proxy_url.as_deref(), Some("socks5://user:pw@proxy:1080"));
    }

    #[cfg(not(feature = "socks5"))]
    #[test]
    fn socks5_proxy_without_the_feature_names_it() {
        let err = build("{token: t}", SOCKS_PROXY).unwrap_err();
        assert!(matches!(err, Error::MissingFeature { feature: "socks5", .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("cluster \"k\"") && !msg.contains("pw"), "{msg}");
    }

    #[test]
    fn bad_proxy_url_errors_hide_the_password() {
        let err = build("{token: t}", ", proxy-url: 'ftp://user:secret-pw@proxy:21'").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"ftp://proxy/\"") && !msg.contains("secret-pw"), "{msg}");
    }
}
