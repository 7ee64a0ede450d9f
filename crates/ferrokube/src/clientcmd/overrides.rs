//! Command-line style overrides applied on top of a kubeconfig (client-go
//! `ConfigOverrides`): what kubectl's `--context`, `--cluster`, `--user`, `--namespace`,
//! `--server`, `--certificate-authority`, `--insecure-skip-tls-verify`,
//! `--tls-server-name`, `--proxy-url`, `--disable-compression`, `--token`,
//! `--username`, `--password`, `--client-certificate`, `--client-key`, `--as`,
//! `--as-uid`, `--as-group` and `--request-timeout` flags do, plus the inline-data
//! forms of the CA, certificate and key that client-go's override structs carry.
//!
//! Overrides win over everything loaded from files. They are applied by
//! [`client_config`](super::client_config) after the context, cluster and user have been
//! chosen, so they reach the [`rest::Config`](crate::rest::Config) it builds, with
//! client-go's special cases: overriding the CA (file or data) or `insecure` replaces
//! all three (so a kubeconfig CA does not clash with `--insecure-skip-tls-verify`),
//! overriding the server also replaces `tls-server-name`, `--token` replaces a
//! `tokenFile`, and overriding the client certificate (file or data) replaces both the
//! file and the data, as does overriding the key. Empty values do not override. `Debug`
//! shows no password, token, key or proxy credentials.

use std::path::PathBuf;
use std::time::Duration;

use super::api::{AuthInfo, Cluster};
use crate::secret::{SecretBytes, SecretString};

/// Values that take precedence over the kubeconfig (client-go `ConfigOverrides`).
/// `None`/empty means "not overridden". Start from `ConfigOverrides::default()` and set
/// fields, or chain the `with_*` methods for the common flags:
///
/// ```
/// use ferrokube::clientcmd::ConfigOverrides;
/// let mut o = ConfigOverrides::default().with_context("prod").with_namespace("web");
/// o.insecure_skip_tls_verify = true;
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ConfigOverrides {
    /// Context to use instead of `current-context` (`--context`).
    pub context: Option<String>,
    /// Cluster entry to use instead of the context's (`--cluster`).
    pub cluster: Option<String>,
    /// User entry to use instead of the context's (`--user`).
    pub user: Option<String>,
    /// Namespace instead of the context's (`--namespace`).
    pub namespace: Option<String>,
    /// API server URL (`--server`).
    pub server: Option<String>,
    /// CA bundle file (`--certificate-authority`); replaces the cluster's CA and insecure flag.
    pub certificate_authority: Option<PathBuf>,
    /// Skip server certificate verification (`--insecure-skip-tls-verify`); replaces the
    /// cluster's CA settings.
    pub insecure_skip_tls_verify: bool,
    /// PEM CA bundle; like `certificate_authority`, replaces the cluster's CA settings.
    pub certificate_authority_data: Option<Vec<u8>>,
    /// Server name for certificate verification (`--tls-server-name`).
    pub tls_server_name: Option<String>,
    /// Proxy for requests to the server (`--proxy-url`).
    pub proxy_url: Option<String>,
    /// Do not ask the server for compressed responses (`--disable-compression`); only
    /// `true` overrides.
    pub disable_compression: bool,
    /// Bearer token (`--token`); replaces the user's token and token file.
    pub token: Option<SecretString>,
    /// Basic-auth user name (`--username`).
    pub username: Option<String>,
    /// Basic-auth password (`--password`).
    pub password: Option<SecretString>,
    /// Client certificate file (`--client-certificate`); replaces the user's
    /// certificate file and data.
    pub client_certificate: Option<PathBuf>,
    /// PEM client certificate; replaces the user's certificate file and data.
    pub client_certificate_data: Option<Vec<u8>>,
    /// Client key file (`--client-key`); replaces the user's key file and data.
    pub client_key: Option<PathBuf>,
    /// PEM client key; replaces the user's key file and data.
    pub client_key_data: Option<SecretBytes>,
    /// User to impersonate (`--as`).
    pub impersonate: Option<String>,
    /// UID to impersonate (`--as-uid`).
    pub impersonate_uid: Option<String>,
    /// Groups to impersonate (`--as-group`, repeatable).
    pub impersonate_groups: Vec<String>,
    /// Timeout of single requests (`--request-timeout`).
    pub timeout: Option<Duration>,
}

impl ConfigOverrides {
    /// `--context`.
    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// `--cluster`.
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = Some(cluster.into());
        self
    }

    /// `--user`.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// `--namespace`.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// `--server`.
    pub fn with_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }

    /// `--token`.
    pub fn with_token(mut self, token: impl Into<SecretString>) -> Self {
        self.token = Some(token.into());
        self
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

fn path_set(p: &Option<PathBuf>) -> bool {
    p.as_ref().is_some_and(|p| !p.as_os_str().is_empty())
}

fn non_empty_path(p: &Option<PathBuf>) -> Option<PathBuf> {
    p.clone().filter(|p| !p.as_os_str().is_empty())
}

impl std::fmt::Debug for ConfigOverrides {
    /// Names what is overridden; secrets are redacted and the proxy URL loses its
    /// user info.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigOverrides")
            .field("context", &self.context)
            .field("cluster", &self.cluster)
            .field("user", &self.user)
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .field("certificate_authority", &self.certificate_authority)
            .field("certificate_authority_data", &self.certificate_authority_data.as_ref().map(Vec::len))
            .field("insecure_skip_tls_verify", &self.insecure_skip_tls_verify)
            .field("tls_server_name", &self.tls_server_name)
            .field("proxy_url", &self.proxy_url.as_deref().map(crate::transport::proxy::redact))
            .field("disable_compression", &self.disable_compression)
            .field("token", &self.token)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("client_certificate", &self.client_certificate)
            .field("client_certificate_data", &self.client_certificate_data.as_ref().map(Vec::len))
            .field("client_key", &self.client_key)
            .field("client_key_data", &self.client_key_data)
            .field("impersonate", &self.impersonate)
            .field("impersonate_uid", &self.impersonate_uid)
            .field("impersonate_groups", &self.impersonate_groups)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ConfigOverrides {
    /// The `--context` override, if set and non-empty.
    pub fn context_name(&self) -> Option<&str> {
        non_empty(&self.context)
    }
    /// The `--cluster` override, if set and non-empty.
    pub fn cluster_name(&self) -> Option<&str> {
        non_empty(&self.cluster)
    }
    /// The `--user` override, if set and non-empty.
    pub fn user_name(&self) -> Option<&str> {
        non_empty(&self.user)
    }
    /// The `--namespace` override, if set and non-empty.
    pub fn namespace_name(&self) -> Option<&str> {
        non_empty(&self.namespace)
    }
    /// The `--server` override, if set and non-empty.
    pub fn server_url(&self) -> Option<&str> {
        non_empty(&self.server)
    }

    /// Applies the cluster overrides to `cluster` with client-go's rules.
    pub fn apply_to_cluster(&self, cluster: &mut Cluster) {
        if let Some(server) = self.server_url() {
            cluster.server = server.to_owned();
        }
        let ca_data = self.certificate_authority_data.clone().filter(|d| !d.is_empty());
        if self.insecure_skip_tls_verify || path_set(&self.certificate_authority) || ca_data.is_some() {
            cluster.insecure_skip_tls_verify = self.insecure_skip_tls_verify;
            cluster.certificate_authority = non_empty_path(&self.certificate_authority);
            cluster.certificate_authority_data = ca_data;
        }
        if let Some(proxy) = non_empty(&self.proxy_url) {
            cluster.proxy_url = Some(proxy.to_owned());
        }
        if self.disable_compression {
            cluster.disable_compression = true;
        }
        let server_name = non_empty(&self.tls_server_name);
        if server_name.is_some() || self.server_url().is_some() {
            cluster.tls_server_name = server_name.map(str::to_owned);
        }
    }

    /// Applies the user overrides to `auth_info`.
    pub fn apply_to_auth_info(&self, auth_info: &mut AuthInfo) {
        if let Some(token) = self.token.as_ref().filter(|t| !t.is_empty()) {
            auth_info.token = Some(token.clone());
            auth_info.token_file = None;
        }
        if let Some(username) = non_empty(&self.username) {
            auth_info.username = Some(username.to_owned());
        }
        if let Some(password) = self.password.as_ref().filter(|p| !p.is_empty()) {
            auth_info.password = Some(password.clone());
        }
        let cert_data = self.client_certificate_data.clone().filter(|d| !d.is_empty());
        if path_set(&self.client_certificate) || cert_data.is_some() {
            auth_info.client_certificate = non_empty_path(&self.client_certificate);
            auth_info.client_certificate_data = cert_data;
        }
        let key_data = self.client_key_data.clone().filter(|d| !d.expose().is_empty());
        if path_set(&self.client_key) || key_data.is_some() {
            auth_info.client_key = non_empty_path(&self.client_key);
            auth_info.client_key_data = key_data;
        }
        if let Some(user) = non_empty(&self.impersonate) {
            auth_info.impersonate = Some(user.to_owned());
        }
        if let Some(uid) = non_empty(&self.impersonate_uid) {
            auth_info.impersonate_uid = Some(uid.to_owned());
        }
        if !self.impersonate_groups.is_empty() {
            auth_info.impersonate_groups = self.impersonate_groups.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_override_clears_ca_and_server_override_clears_server_name() {
        let mut c = Cluster {
            server: "https://a".into(),
            certificate_authority_data: Some(b"ca".to_vec()),
            certificate_authority: Some("/ca.pem".into()),
            tls_server_name: Some("a".into()),
            ..Default::default()
        };
        let o =
            ConfigOverrides { insecure_skip_tls_verify: true, server: Some("https://b".into()), ..Default::default() };
        o.apply_to_cluster(&mut c);
        assert!(c.insecure_skip_tls_verify);
        assert_eq!(c.certificate_authority, None);
        assert_eq!(c.certificate_authority_data, None);
        assert_eq!(c.server, "https://b");
        assert_eq!(c.tls_server_name, None);
    }

    #[test]
    fn ca_override_replaces_ca_data_and_insecure() {
        let mut c = Cluster {
            insecure_skip_tls_verify: true,
            certificate_authority_data: Some(b"ca".to_vec()),
            tls_server_name: Some("keep".into()),
            ..Default::default()
        };
        let o = ConfigOverrides { certificate_authority: Some("/o.pem".into()), ..Default::default() };
        o.apply_to_cluster(&mut c);
        assert!(!c.insecure_skip_tls_verify);
        assert_eq!(c.certificate_authority.as_deref(), Some(std::path::Path::new("/o.pem")));
        assert_eq!(c.certificate_authority_data, None);
        assert_eq!(c.tls_server_name.as_deref(), Some("keep"));
    }

    #[test]
    fn token_override_replaces_token_file() {
        let mut a = AuthInfo { token_file: Some("/t".into()), impersonate: Some("x".into()), ..Default::default() };
        let o =
            ConfigOverrides { token: Some("new".into()), impersonate_groups: vec!["g".into()], ..Default::default() };
        o.apply_to_auth_info(&mut a);
        assert_eq!(a.token.as_ref().map(|t| t.expose()), Some("new"));
        assert_eq!(a.token_file, None);
        assert_eq!(a.impersonate.as_deref(), Some("x"));
        assert_eq!(a.impersonate_groups, vec!["g"]);
    }

    #[test]
    fn credential_overrides_replace_file_and_data_pairs() {
        let mut a = AuthInfo {
            client_certificate_data: Some(b"kubeconfig cert".to_vec()),
            client_key_data: Some(SecretBytes::new(b"kubeconfig key".to_vec())),
            username: Some("old".into()),
            ..Default::default()
        };
        let o = ConfigOverrides {
            client_certificate: Some("/flag/cert.pem".into()),
            client_key: Some("/flag/key.pem".into()),
            username: Some("admin".into()),
            password: Some("s3cret".into()),
            ..Default::default()
        };
        o.apply_to_auth_info(&mut a);
        assert_eq!(a.client_certificate.as_deref(), Some(std::path::Path::new("/flag/cert.pem")));
        assert_eq!(a.client_certificate_data, None, "the kubeconfig's data must not clash with the flag's file");
        assert_eq!(a.client_key.as_deref(), Some(std::path::Path::new("/flag/key.pem")));
        assert!(a.client_key_data.is_none());
        assert_eq!(a.username.as_deref(), Some("admin"));
        assert_eq!(a.password.as_ref().map(|p| p.expose()), Some("s3cret"));

        let mut a = AuthInfo { client_certificate: Some("/kube/cert.pem".into()), ..Default::default() };
        let o = ConfigOverrides {
            client_certificate_data: Some(b"inline".to_vec()),
            client_key_data: Some(SecretBytes::new(b"inline key".to_vec())),
            username: Some(String::new()),
            ..Default::default()
        };
        o.apply_to_auth_info(&mut a);
        assert_eq!(a.client_certificate, None);
        assert_eq!(a.client_certificate_data.as_deref(), Some(&b"inline"[..]));
        assert_eq!(a.client_key_data.as_ref().map(|k| k.expose()), Some(&b"inline key"[..]));
        assert_eq!(a.username, None, "an empty value does not override");
    }

    #[test]
    fn cluster_overrides_for_proxy_compression_and_ca_data() {
        let mut c = Cluster {
            certificate_authority: Some("/kube/ca.pem".into()),
            proxy_url: Some("http://old-proxy".into()),
            ..Default::default()
        };
        let o = ConfigOverrides {
            certificate_authority_data: Some(b"PEM".to_vec()),
            proxy_url: Some("socks5://proxy:1080".into()),
            disable_compression: true,
            ..Default::default()
        };
        o.apply_to_cluster(&mut c);
        assert_eq!(c.certificate_authority, None);
        assert_eq!(c.certificate_authority_data.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(c.proxy_url.as_deref(), Some("socks5://proxy:1080"));
        assert!(c.disable_compression);
        let mut c = Cluster { disable_compression: true, ..Default::default() };
        ConfigOverrides::default().apply_to_cluster(&mut c);
        assert!(c.disable_compression, "false does not override");
    }

    #[test]
    fn debug_redacts_secrets() {
        let o = ConfigOverrides {
            token: Some("tok-123".into()),
            password: Some("pw-456".into()),
            client_key_data: Some(SecretBytes::new(b"-----BEGIN PRIVATE KEY----- key-789".to_vec())),
            proxy_url: Some("http://proxyuser:proxypw@proxy:3128".into()),
            username: Some("admin".into()),
            ..Default::default()
        };
        let d = format!("{o:?}");
        for secret in ["tok-123", "pw-456", "key-789", "PRIVATE KEY", "proxypw", "proxyuser"] {
            assert!(!d.contains(secret), "{secret} leaked: {d}");
        }
        assert!(d.contains("admin") && d.contains("proxy:3128"), "{d}");
    }

    #[test]
    fn overrides_reach_the_rest_config() {
        use crate::clientcmd::{load_from_str, ClientConfig, DirectClientConfig};
        let yaml = r#"
apiVersion: v1
kind: Config
current-context: c
contexts:
- name: c
  context: {cluster: k, user: u}
clusters:
- name: k
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {client-certificate-data: Y2VydA==, client-key-data: a2V5}
"#;
        let raw = load_from_str(yaml, std::path::Path::new("test.kubeconfig")).unwrap();
        let o = ConfigOverrides {
            username: Some("admin".into()),
            password: Some("pw".into()),
            client_certificate_data: Some(b"flag cert".to_vec()),
            client_key_data: Some(SecretBytes::new(b"flag key".to_vec())),
            proxy_url: Some("http://proxy.example:3128".into()),
            timeout: Some(Duration::from_secs(7)),
            ..Default::default()
        };
        let config = DirectClientConfig::new(raw, o).client_config().unwrap();
        assert_eq!(config.username.as_deref(), Some("admin"));
        assert_eq!(config.password.as_ref().map(|p| p.expose()), Some("pw"));
        assert_eq!(config.tls.cert_data.as_deref(), Some(&b"flag cert"[..]));
        assert_eq!(config.tls.key_data.as_ref().map(|k| k.expose()), Some(&b"flag key"[..]));
        assert_eq!(config.proxy_url.as_deref(), Some("http://proxy.example:3128"));
        assert_eq!(config.timeout, Some(Duration::from_secs(7)));
    }
}
