//! Command-line style overrides applied on top of a kubeconfig (client-go
//! `ConfigOverrides`): what kubectl's `--context`, `--cluster`, `--user`, `--namespace`,
//! `--server`, `--certificate-authority`, `--insecure-skip-tls-verify`,
//! `--tls-server-name`, `--token`, `--as`, `--as-uid`, `--as-group` and
//! `--request-timeout` flags do.
//!
//! Overrides win over everything loaded from files. They are applied by
//! [`client_config`](super::client_config) after the context, cluster and user have been
//! chosen, with client-go's special cases: overriding the CA or `insecure` replaces both
//! (so a kubeconfig CA does not clash with `--insecure-skip-tls-verify`), overriding the
//! server also replaces `tls-server-name`, and `--token` replaces a `tokenFile`.

use std::path::PathBuf;
use std::time::Duration;

use super::api::{AuthInfo, Cluster};
use crate::secret::SecretString;

/// Values that take precedence over the kubeconfig (client-go `ConfigOverrides`).
/// `None`/empty means "not overridden".
#[derive(Clone, Debug, Default)]
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
    /// Server name for certificate verification (`--tls-server-name`).
    pub tls_server_name: Option<String>,
    /// Bearer token (`--token`); replaces the user's token and token file.
    pub token: Option<SecretString>,
    /// User to impersonate (`--as`).
    pub impersonate: Option<String>,
    /// UID to impersonate (`--as-uid`).
    pub impersonate_uid: Option<String>,
    /// Groups to impersonate (`--as-group`, repeatable).
    pub impersonate_groups: Vec<String>,
    /// Timeout of single requests (`--request-timeout`).
    pub timeout: Option<Duration>,
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
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
        let ca = self.certificate_authority.as_ref().filter(|p| !p.as_os_str().is_empty());
        if self.insecure_skip_tls_verify || ca.is_some() {
            cluster.insecure_skip_tls_verify = self.insecure_skip_tls_verify;
            cluster.certificate_authority = ca.cloned();
            cluster.certificate_authority_data = None;
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
}
