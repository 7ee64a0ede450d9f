//! `transport::headers`: the headers every request carries — `User-Agent`,
//! `Impersonate-*`, and authentication (`Authorization: Bearer`/`Basic`).
//!
//! An [`Authenticator`] is built once per client from the transport [`Config`]. Before each
//! attempt the [`RESTClient`](crate::rest::RESTClient) asks it to apply
//! its headers; the token source is, in order of precedence, `bearer_token_file`
//! (re-read at most once a minute, like client-go's cached token source, so rotated
//! service-account tokens are seen), `bearer_token`, then the
//! [`CredentialProvider`]'s token. The provider may also hand out a client certificate,
//! which is installed into the TLS [`ClientCertResolver`]. After a 401 the client calls
//! `Authenticator::unauthorized`, which invalidates the provider's cached credential.
//! Authorization header values are marked sensitive so they do not show in `Debug`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::auth::{CredentialError, CredentialProvider};
use super::config::{Config, ImpersonationConfig};
use super::errors::{AuthConfigError, ConfigError, HeaderError};
use super::tls::ClientCertResolver;
use crate::secret::SecretString;

/// How long a token read from `bearer_token_file` is reused before the file is re-read.
pub const TOKEN_FILE_REFRESH: Duration = Duration::from_secs(60);

/// Puts user agent, impersonation and credentials on requests.
pub struct Authenticator {
    fixed: HeaderMap,
    token_file: Option<CachedTokenFile>,
    static_token: Option<SecretString>,
    basic: Option<HeaderValue>,
    provider: Option<Arc<dyn CredentialProvider>>,
    cert_resolver: Arc<ClientCertResolver>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("token_file", &self.token_file.as_ref().map(|t| &t.path))
            .field("static_token", &self.static_token.as_ref().map(|_| "<redacted>"))
            .field("basic", &self.basic.as_ref().map(|_| "<redacted>"))
            .field("credential_provider", &self.provider.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Authenticator {
    /// Builds the authenticator of `config`.
    pub(crate) fn new(config: &Config, cert_resolver: Arc<ClientCertResolver>) -> Result<Self, ConfigError> {
        let has_token =
            config.bearer_token.as_ref().is_some_and(|t| !t.is_empty()) || config.bearer_token_file.is_some();
        let has_basic = config.username.as_ref().is_some_and(|u| !u.is_empty())
            || config.password.as_ref().is_some_and(|p| !p.is_empty());
        if has_token && has_basic {
            return Err(ConfigError::Auth(AuthConfigError::BasicAndBearer));
        }
        let mut fixed = HeaderMap::new();
        if !config.user_agent.is_empty() {
            fixed.insert(http::header::USER_AGENT, header_value("User-Agent", &config.user_agent)?);
        }
        impersonation_headers(&config.impersonate, &mut fixed)?;

        let basic = if has_basic {
            let user = config.username.clone().unwrap_or_default();
            let pass = config.password.as_ref().map(|p| p.expose().to_owned()).unwrap_or_default();
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            let mut v = HeaderValue::from_str(&format!("Basic {encoded}")).map_err(|_| ConfigError::Header {
                header: "Authorization".to_owned(),
                reason: HeaderError::InvalidCredentials,
            })?;
            v.set_sensitive(true);
            Some(v)
        } else {
            None
        };
        Ok(Authenticator {
            fixed,
            token_file: config.bearer_token_file.clone().map(CachedTokenFile::new),
            static_token: config.bearer_token.clone().filter(|t| !t.is_empty()),
            basic,
            provider: config.credential_provider.clone(),
            cert_resolver,
        })
    }

    /// The server answered 401: drop cached credentials so the next request gets fresh
    /// ones. Returns whether a retry may help.
    pub(crate) fn unauthorized(&self) -> bool {
        if let Some(tf) = &self.token_file {
            tf.invalidate();
        }
        match &self.provider {
            Some(p) => {
                p.invalidate();
                true
            }
            None => false,
        }
    }

    /// Adds user agent, impersonation and credential headers to `headers`. Headers the
    /// caller already set are kept (a request may override `User-Agent`). Returns true
    /// when the credential provider handed out a new client certificate, so pooled
    /// connections made with the old one should be dropped.
    pub(crate) async fn apply(&self, headers: &mut HeaderMap) -> Result<bool, CredentialError> {
        let preset: Vec<HeaderName> = self.fixed.keys().filter(|n| headers.contains_key(*n)).cloned().collect();
        for (name, value) in &self.fixed {
            if !preset.contains(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if headers.contains_key(http::header::AUTHORIZATION) {
            return Ok(false);
        }
        let mut cert_changed = false;
        let mut token = match &self.token_file {
            Some(tf) => match tf.token() {
                Ok(t) => Some(t),
                Err(e) if self.static_token.is_none() => return Err(e),
                Err(_) => None,
            },
            None => None,
        };
        if token.is_none() {
            token = self.static_token.clone();
        }
        if let Some(p) = &self.provider {
            let cred = p.credential().await?;
            if let Some((cert, key)) = &cred.client_certificate {
                cert_changed = self
                    .cert_resolver
                    .update_pem(cert, key)
                    .map_err(|e| CredentialError::UnusableClientCertificate(Box::new(e)))?;
            }
            if token.is_none() {
                token = cred.token.filter(|t| !t.is_empty());
            }
        }
        if let Some(t) = token {
            headers.insert(http::header::AUTHORIZATION, bearer(&t)?);
        } else if let Some(b) = &self.basic {
            headers.insert(http::header::AUTHORIZATION, b.clone());
        }
        Ok(cert_changed)
    }
}

fn bearer(token: &SecretString) -> Result<HeaderValue, CredentialError> {
    let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
        .map_err(|_| CredentialError::TokenNotAHeaderValue)?;
    v.set_sensitive(true);
    Ok(v)
}

fn header_value(header: &str, value: &str) -> Result<HeaderValue, ConfigError> {
    HeaderValue::from_str(value).map_err(|_| ConfigError::Header {
        header: header.to_owned(),
        reason: HeaderError::InvalidValue(value.to_owned()),
    })
}

/// Adds `Impersonate-*` headers for `imp` (client-go `NewImpersonatingRoundTripper`).
pub(crate) fn impersonation_headers(imp: &ImpersonationConfig, headers: &mut HeaderMap) -> Result<(), ConfigError> {
    if let Some(user) = imp.user_name.as_deref().filter(|u| !u.is_empty()) {
        headers.insert("impersonate-user", header_value("Impersonate-User", user)?);
    }
    if let Some(uid) = imp.uid.as_deref().filter(|u| !u.is_empty()) {
        headers.insert("impersonate-uid", header_value("Impersonate-Uid", uid)?);
    }
    for g in &imp.groups {
        headers.append("impersonate-group", header_value("Impersonate-Group", g)?);
    }
    for (key, values) in &imp.extra {
        let name = format!("impersonate-extra-{}", escape_extra_key(key));
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ConfigError::Header { header: name.clone(), reason: HeaderError::InvalidName })?;
        for v in values {
            headers.append(name.clone(), header_value(name.as_str(), v)?);
        }
    }
    Ok(())
}

/// Percent-encodes an `Impersonate-Extra-` key as client-go does: every byte that is not
/// an RFC 7230 token character, and `%` itself, becomes `%XX`.
pub fn escape_extra_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        let token = b.is_ascii_alphanumeric() || b"!#$&'*+-.^_`|~".contains(&b);
        if token {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A token read from a file and reused for [`TOKEN_FILE_REFRESH`].
struct CachedTokenFile {
    path: PathBuf,
    cache: Mutex<Option<(SecretString, Instant)>>,
}

impl CachedTokenFile {
    fn new(path: PathBuf) -> Self {
        CachedTokenFile { path, cache: Mutex::new(None) }
    }

    fn invalidate(&self) {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, at)) = c.as_mut() {
            // Keep the value as a fallback but force a re-read next time.
            *at = Instant::now().checked_sub(TOKEN_FILE_REFRESH).unwrap_or(*at);
        }
    }

    fn token(&self) -> Result<SecretString, CredentialError> {
        let mut c = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((tok, at)) = c.as_ref() {
            if at.elapsed() < TOKEN_FILE_REFRESH {
                return Ok(tok.clone());
            }
        }
        match std::fs::read_to_string(&self.path) {
            Ok(s) if !s.trim().is_empty() => {
                let tok = SecretString::new(s.trim().to_owned());
                *c = Some((tok.clone(), Instant::now()));
                Ok(tok)
            }
            result => {
                let path = self.path.clone();
                let error = match result {
                    Ok(_) => CredentialError::EmptyTokenFile { path },
                    Err(source) => CredentialError::TokenFile { path, source },
                };
                match c.as_ref() {
                    Some((tok, _)) => {
                        tracing::warn!("{error}; using the previous token");
                        Ok(tok.clone())
                    }
                    None => Err(error),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_keys_are_escaped_like_client_go() {
        assert_eq!(escape_extra_key("scopes"), "scopes");
        assert_eq!(escape_extra_key("example.com/team"), "example.com%2Fteam");
        assert_eq!(escape_extra_key("a%b c"), "a%25b%20c");
    }

    #[test]
    fn impersonation_headers_are_repeated() {
        let mut imp =
            ImpersonationConfig { user_name: Some("jane".into()), uid: Some("42".into()), ..Default::default() };
        imp.groups = vec!["dev".into(), "ops".into()];
        imp.extra.insert("example.com/scope".into(), vec!["a".into(), "b".into()]);
        let mut h = HeaderMap::new();
        impersonation_headers(&imp, &mut h).unwrap();
        assert_eq!(h["impersonate-user"], "jane");
        assert_eq!(h["impersonate-uid"], "42");
        assert_eq!(h.get_all("impersonate-group").iter().count(), 2);
        assert_eq!(h.get_all("impersonate-extra-example.com%2fscope").iter().count(), 2);
    }

    #[tokio::test]
    async fn token_file_is_read_and_cached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "tok-1\n").unwrap();
        let cfg = Config { bearer_token_file: Some(path.clone()), ..Default::default() };
        let a = Authenticator::new(&cfg, Arc::new(ClientCertResolver::default())).unwrap();
        let mut h = HeaderMap::new();
        a.apply(&mut h).await.unwrap();
        assert_eq!(h[http::header::AUTHORIZATION], "Bearer tok-1");
        assert!(h[http::header::AUTHORIZATION].is_sensitive());
        // Within the refresh period the cached token is used...
        std::fs::write(&path, "tok-2").unwrap();
        let mut h = HeaderMap::new();
        a.apply(&mut h).await.unwrap();
        assert_eq!(h[http::header::AUTHORIZATION], "Bearer tok-1");
        // ...and after invalidation (a 401) the file is read again.
        a.unauthorized();
        let mut h = HeaderMap::new();
        a.apply(&mut h).await.unwrap();
        assert_eq!(h[http::header::AUTHORIZATION], "Bearer tok-2");
    }

    #[tokio::test]
    async fn request_headers_win_and_groups_repeat() {
        let mut cfg = Config { user_agent: "mine/1".into(), bearer_token: Some("t".into()), ..Default::default() };
        cfg.impersonate.user_name = Some("u".into());
        cfg.impersonate.groups = vec!["a".into(), "b".into()];
        let a = Authenticator::new(&cfg, Arc::new(ClientCertResolver::default())).unwrap();
        let mut h = HeaderMap::new();
        h.insert(http::header::USER_AGENT, HeaderValue::from_static("override/2"));
        a.apply(&mut h).await.unwrap();
        assert_eq!(h[http::header::USER_AGENT], "override/2");
        assert_eq!(h.get_all("impersonate-group").iter().count(), 2);
        assert_eq!(h[http::header::AUTHORIZATION], "Bearer t");
        assert!(!format!("{h:?}").contains("Bearer t"), "authorization is marked sensitive");
    }

    #[tokio::test]
    async fn missing_token_file_names_the_path() {
        let cfg = Config { bearer_token_file: Some("/nonexistent/token".into()), ..Default::default() };
        let a = Authenticator::new(&cfg, Arc::new(ClientCertResolver::default())).unwrap();
        let err = a.apply(&mut HeaderMap::new()).await.unwrap_err();
        assert!(matches!(&err, CredentialError::TokenFile { path, .. } if path.ends_with("token")), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/token"), "{err}");
    }

    #[tokio::test]
    async fn empty_token_file_is_its_own_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, " \n").unwrap();
        let cfg = Config { bearer_token_file: Some(path.clone()), ..Default::default() };
        let a = Authenticator::new(&cfg, Arc::new(ClientCertResolver::default())).unwrap();
        let err = a.apply(&mut HeaderMap::new()).await.unwrap_err();
        assert!(matches!(&err, CredentialError::EmptyTokenFile { path: p } if *p == path), "{err:?}");
    }

    #[tokio::test]
    async fn a_token_that_is_no_header_value_is_refused_without_showing_it() {
        let cfg = Config { bearer_token: Some("line\nbreak".into()), ..Default::default() };
        let a = Authenticator::new(&cfg, Arc::new(ClientCertResolver::default())).unwrap();
        let err = a.apply(&mut HeaderMap::new()).await.unwrap_err();
        assert!(matches!(err, CredentialError::TokenNotAHeaderValue), "{err:?}");
        assert!(!err.to_string().contains("break"), "{err}");
    }

    #[test]
    fn basic_and_bearer_together_is_an_error() {
        let cfg = Config { bearer_token: Some("t".into()), username: Some("u".into()), ..Default::default() };
        assert!(Authenticator::new(&cfg, Arc::new(ClientCertResolver::default())).is_err());
    }

    #[tokio::test]
    async fn basic_auth_header() {
        let cfg = Config { username: Some("admin".into()), password: Some("secret".into()), ..Default::default() };
        let a = Authenticator::new(&cfg, Arc::new(ClientCertResolver::default())).unwrap();
        let mut h = HeaderMap::new();
        a.apply(&mut h).await.unwrap();
        assert_eq!(h[http::header::AUTHORIZATION], "Basic YWRtaW46c2VjcmV0");
        assert!(!format!("{a:?}").contains("secret"));
    }
}
