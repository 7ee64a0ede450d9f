//! The `oidc` auth provider (client-go `plugin/pkg/client/auth/oidc`).
//!
//! A kubeconfig user with
//!
//! ```yaml
//! auth-provider:
//!   name: oidc
//!   config: {idp-issuer-url: ..., client-id: ..., id-token: ..., refresh-token: ...}
//! ```
//!
//! authenticates with the OpenID Connect `id-token` as a bearer token.
//! [`OidcAuthProvider`] uses that token while its JWT `exp` claim is in the future (the
//! token is only decoded, not verified: the API server verifies it). When it has expired,
//! or after the server answered 401, the provider refreshes it: it reads the issuer's
//! discovery document (`<issuer>/.well-known/openid-configuration`), posts a
//! `refresh_token` grant to its `token_endpoint`, and takes the new `id_token` (and
//! `refresh_token` if one is returned). Like client-go's `AuthConfigPersister`, the new
//! tokens are written back into the kubeconfig file the user entry came from, so the
//! next program run starts with them.
//!
//! HTTPS to the identity provider uses rustls with the `ring` provider and trusts the
//! `idp-certificate-authority(-data)` bundle; `http://` issuers (tests) are allowed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::Value;

use super::api::decode_base64;
use super::error::{Error, Result};
use crate::secret::SecretString;
use crate::transport::auth::{Credential, CredentialError, CredentialFuture, CredentialProvider};

/// Tokens expiring within this margin are refreshed early (client-go `expiryDelta`).
const EXPIRY_DELTA: i64 = 10;
/// Limit on one exchange with the identity provider.
const IDP_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest identity-provider response read.
const MAX_RESPONSE: usize = 1 << 20;

const CFG_ISSUER: &str = "idp-issuer-url";
const CFG_CLIENT_ID: &str = "client-id";
const CFG_CLIENT_SECRET: &str = "client-secret";
const CFG_CA: &str = "idp-certificate-authority";
const CFG_CA_DATA: &str = "idp-certificate-authority-data";
const CFG_ID_TOKEN: &str = "id-token";
const CFG_REFRESH_TOKEN: &str = "refresh-token";

#[derive(Default)]
struct Tokens {
    id_token: Option<SecretString>,
    refresh_token: Option<SecretString>,
    /// The server rejected `id_token`; refresh before using it again.
    rejected: bool,
}

type HttpClient = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// A [`CredentialProvider`] for the `oidc` auth provider.
pub struct OidcAuthProvider {
    user: String,
    issuer: String,
    client_id: String,
    client_secret: Option<SecretString>,
    ca_pem: Option<Vec<u8>>,
    persist_to: Option<PathBuf>,
    tokens: Mutex<Tokens>,
    refresh_lock: tokio::sync::Mutex<()>,
    client: Mutex<Option<Arc<HttpClient>>>,
}

impl std::fmt::Debug for OidcAuthProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcAuthProvider")
            .field("user", &self.user)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("persist_to", &self.persist_to)
            .finish_non_exhaustive()
    }
}

fn non_empty(config: &BTreeMap<String, String>, key: &str) -> Option<String> {
    config.get(key).filter(|v| !v.is_empty()).cloned()
}

impl OidcAuthProvider {
    /// A provider for kubeconfig user `user` with `auth-provider.config` `config`;
    /// refreshed tokens are written to `persist_to` (the user's kubeconfig file) when
    /// given. `idp-issuer-url` and `client-id` are required, as in client-go.
    pub fn new(user: &str, config: &BTreeMap<String, String>, persist_to: Option<PathBuf>) -> Result<Self> {
        let err = |message: String| Error::Oidc { user: user.to_owned(), message };
        let issuer = non_empty(config, CFG_ISSUER).ok_or_else(|| err(format!("must provide {CFG_ISSUER}")))?;
        let client_id = non_empty(config, CFG_CLIENT_ID).ok_or_else(|| err(format!("must provide {CFG_CLIENT_ID}")))?;
        let ca_pem = match (non_empty(config, CFG_CA_DATA), non_empty(config, CFG_CA)) {
            (Some(data), _) => {
                Some(decode_base64(&data).map_err(|e| err(format!("invalid base64 in {CFG_CA_DATA}: {e}")))?)
            }
            (None, Some(path)) => {
                Some(std::fs::read(&path).map_err(|e| err(format!("cannot read {CFG_CA} {path:?}: {e}")))?)
            }
            (None, None) => None,
        };
        Ok(OidcAuthProvider {
            user: user.to_owned(),
            issuer,
            client_id,
            client_secret: non_empty(config, CFG_CLIENT_SECRET).map(SecretString::new),
            ca_pem,
            persist_to,
            tokens: Mutex::new(Tokens {
                id_token: non_empty(config, CFG_ID_TOKEN).map(SecretString::new),
                refresh_token: non_empty(config, CFG_REFRESH_TOKEN).map(SecretString::new),
                rejected: false,
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
            client: Mutex::new(None),
        })
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Oidc { user: self.user.clone(), message: message.into() }
    }

    fn usable_token(&self) -> Option<SecretString> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let token = tokens.id_token.as_ref()?;
        (!tokens.rejected && !id_token_expired(token.expose())).then(|| token.clone())
    }

    /// The id-token to send: the current one while unexpired, else a refreshed one.
    pub async fn get(&self) -> Result<SecretString> {
        if let Some(token) = self.usable_token() {
            return Ok(token);
        }
        let _refreshing = self.refresh_lock.lock().await;
        if let Some(token) = self.usable_token() {
            return Ok(token);
        }
        let refresh_token = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .refresh_token
            .clone()
            .ok_or_else(|| self.err("no valid id-token, and cannot refresh without refresh-token"))?;
        let (id_token, new_refresh) = self.refresh(&refresh_token).await?;
        let refresh_to_keep = new_refresh.unwrap_or(refresh_token);
        if let Some(path) = &self.persist_to {
            persist_auth_provider_config(
                path,
                &self.user,
                &[(CFG_ID_TOKEN, id_token.expose()), (CFG_REFRESH_TOKEN, refresh_to_keep.expose())],
            )?;
        }
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.id_token = Some(id_token.clone());
        tokens.refresh_token = Some(refresh_to_keep);
        tokens.rejected = false;
        Ok(id_token)
    }

    fn http_client(&self) -> Result<Arc<HttpClient>> {
        let mut slot = self.client.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        if let Some(pem) = &self.ca_pem {
            use rustls_pki_types::pem::PemObject as _;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| self.err(format!("invalid idp certificate authority PEM: {e}")))?;
                roots.add(cert).map_err(|e| self.err(format!("invalid idp certificate authority: {e}")))?;
            }
        }
        let provider = crate::transport::tls::crypto_provider().map_err(|e| self.err(e.to_string()))?;
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| self.err(format!("TLS setup failed: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let client = Arc::new(
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector),
        );
        *slot = Some(client.clone());
        Ok(client)
    }

    async fn send(&self, request: http::Request<Full<Bytes>>, what: &str) -> Result<Value> {
        let client = self.http_client()?;
        let uri = request.uri().clone();
        let exchange = async {
            let response = client.request(request).await.map_err(|e| self.err(format!("{what} {uri}: {e}")))?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| self.err(format!("{what} {uri}: reading response: {e}")))?
                .to_bytes();
            if !status.is_success() {
                // Error bodies of token endpoints carry `error`/`error_description`, not tokens.
                let detail = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| {
                        let e = v.get("error")?.as_str()?.to_owned();
                        let d = v.get("error_description").and_then(Value::as_str).unwrap_or("");
                        Some(if d.is_empty() { e } else { format!("{e}: {d}") })
                    })
                    .unwrap_or_default();
                return Err(self.err(format!("{what} {uri}: HTTP {status} {detail}").trim_end().to_owned()));
            }
            serde_json::from_slice::<Value>(&body)
                .map_err(|e| self.err(format!("{what} {uri}: response is not JSON: {e}")))
        };
        tokio::time::timeout(IDP_TIMEOUT, exchange)
            .await
            .map_err(|_| self.err(format!("{what} {uri}: timed out after {IDP_TIMEOUT:?}")))?
    }

    async fn refresh(&self, refresh_token: &SecretString) -> Result<(SecretString, Option<SecretString>)> {
        if self.issuer.starts_with("https://") && self.ca_pem.is_none() {
            return Err(self.err(format!(
                "{CFG_CA} or {CFG_CA_DATA} is required to reach the https issuer {} \
                 (ferrokube does not read the system trust store)",
                self.issuer
            )));
        }
        let discovery = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let request = http::Request::get(&discovery)
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::new()))
            .map_err(|e| self.err(format!("invalid issuer URL {:?}: {e}", self.issuer)))?;
        let doc = self.send(request, "OIDC discovery").await?;
        let endpoint = doc
            .get("token_endpoint")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err(format!("discovery document at {discovery} has no token_endpoint")))?
            .to_owned();

        let form = {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "refresh_token");
            form.append_pair("refresh_token", refresh_token.expose());
            form.append_pair("client_id", &self.client_id);
            if let Some(secret) = &self.client_secret {
                form.append_pair("client_secret", secret.expose());
            }
            form.finish()
        };
        let request = http::Request::post(&endpoint)
            .header(http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(http::header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(form)))
            .map_err(|e| self.err(format!("invalid token_endpoint {endpoint:?}: {e}")))?;
        let response = self.send(request, "OIDC token refresh").await?;
        let id_token = response
            .get("id_token")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.err("token response did not contain an id_token"))?;
        let refresh =
            response.get("refresh_token").and_then(Value::as_str).filter(|s| !s.is_empty()).map(SecretString::new);
        Ok((SecretString::new(id_token), refresh))
    }
}

/// True when `token` is not a JWT with an `exp` claim more than 10 s in the future.
pub fn id_token_expired(token: &str) -> bool {
    match jwt_expiry(token) {
        Some(exp) => jiff::Timestamp::now().as_second() + EXPIRY_DELTA >= exp,
        None => true,
    }
}

/// The `exp` claim (seconds since the epoch) of a JWT, decoded without verification.
pub fn jwt_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?;
    exp.as_i64().or_else(|| exp.as_f64().map(|f| f as i64))
}

/// Sets `updates` in `users[name=user].user.auth-provider.config` of the kubeconfig at
/// `path`, keeping everything else in the file (client-go `AuthConfigPersister`). The
/// file is rewritten through a temporary file in the same directory with the original
/// permissions.
pub fn persist_auth_provider_config(path: &Path, user: &str, updates: &[(&str, &str)]) -> Result<()> {
    use serde_yaml_ng::{Mapping, Value as Y};
    let fail = |message: String| Error::Persist { user: user.to_owned(), path: path.to_owned(), message };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let mut doc: Y = serde_yaml_ng::from_str(&text).map_err(|e| fail(format!("cannot parse: {e}")))?;
    let users = doc
        .get_mut("users")
        .and_then(Y::as_sequence_mut)
        .ok_or_else(|| fail("the file has no users list".to_owned()))?;
    let entry = users
        .iter_mut()
        .find(|u| u.get("name").and_then(Y::as_str) == Some(user))
        .ok_or_else(|| fail("the user is not in this file".to_owned()))?;
    let map = entry.as_mapping_mut().ok_or_else(|| fail("user entry is not a mapping".to_owned()))?;
    let mut node = map.entry(Y::from("user")).or_insert_with(|| Y::Mapping(Mapping::new()));
    for key in ["auth-provider", "config"] {
        if node.is_null() {
            *node = Y::Mapping(Mapping::new());
        }
        let m = node.as_mapping_mut().ok_or_else(|| fail(format!("{key} parent is not a mapping")))?;
        node = m.entry(Y::from(key)).or_insert_with(|| Y::Mapping(Mapping::new()));
    }
    if node.is_null() {
        *node = Y::Mapping(Mapping::new());
    }
    let config = node.as_mapping_mut().ok_or_else(|| fail("auth-provider.config is not a mapping".to_owned()))?;
    for (key, value) in updates {
        config.insert(Y::from(*key), Y::from(*value));
    }
    let out = serde_yaml_ng::to_string(&doc).map_err(|e| fail(format!("cannot serialize: {e}")))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.ferrokube-{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, out.as_bytes())?;
        let perms = std::fs::metadata(path)?.permissions();
        std::fs::set_permissions(&tmp, perms)?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(format!("cannot write: {e}"))
    })
}

impl CredentialProvider for OidcAuthProvider {
    fn credential(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            let token = self.get().await.map_err(CredentialError::provider)?;
            Ok(Credential { token: Some(token), client_certificate: None })
        })
    }

    fn invalidate(&self) {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).rejected = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp: i64) -> String {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!("{}.{}.sig", enc(r#"{"alg":"none"}"#), enc(&format!(r#"{{"exp":{exp},"sub":"x"}}"#)))
    }

    #[test]
    fn expiry_is_read_from_the_payload() {
        let now = jiff::Timestamp::now().as_second();
        assert_eq!(jwt_expiry(&jwt(1234)), Some(1234));
        assert!(!id_token_expired(&jwt(now + 3600)));
        assert!(id_token_expired(&jwt(now - 1)));
        assert!(id_token_expired(&jwt(now + 5)), "within the 10 s margin counts as expired");
        assert!(id_token_expired("not-a-jwt"));
    }

    #[test]
    fn requires_issuer_and_client_id() {
        let mut cfg = BTreeMap::new();
        cfg.insert("client-id".to_owned(), "kube".to_owned());
        let err = OidcAuthProvider::new("alice", &cfg, None).unwrap_err().to_string();
        assert!(err.contains("idp-issuer-url") && err.contains("alice"), "{err}");
    }

    #[tokio::test]
    async fn unexpired_token_is_used_and_invalidate_forces_refresh() {
        let token = jwt(jiff::Timestamp::now().as_second() + 3600);
        let mut cfg = BTreeMap::new();
        cfg.insert("client-id".to_owned(), "kube".to_owned());
        cfg.insert("idp-issuer-url".to_owned(), "http://127.0.0.1:1".to_owned());
        cfg.insert("id-token".to_owned(), token.clone());
        let p = OidcAuthProvider::new("alice", &cfg, None).unwrap();
        assert_eq!(p.get().await.unwrap().expose(), token);
        p.invalidate();
        // No refresh token: the error says so and never shows the token.
        let err = p.get().await.unwrap_err().to_string();
        assert!(err.contains("refresh-token"), "{err}");
        assert!(!err.contains(&token));
    }
}
