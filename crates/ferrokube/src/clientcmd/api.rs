//! Kubeconfig file types (client-go `tools/clientcmd/api` and its `v1` file format).
//!
//! These are the structs a kubeconfig file deserializes into, with kubeconfig's own field
//! names (`certificate-authority-data`, `insecure-skip-tls-verify`, `client-key-data`,
//! `tokenFile`, `as-groups`, ...) and its named-list layout:
//!
//! ```yaml
//! clusters:
//! - name: prod
//!   cluster: {server: "https://10.0.0.1:6443"}
//! ```
//!
//! They are the input of the rest of `clientcmd`: the [loader](super::loader) fills them
//! from files (recording where each entry came from), [merge](super::merge) combines
//! several files, and [`client_config`](super::client_config) turns the chosen context
//! into a [`rest::Config`](crate::rest::Config).
//!
//! Unlike client-go, the lists stay lists (`Vec<NamedCluster>`, ...) so the order of the
//! file is kept; lookups are by name. `*-data` fields hold the decoded bytes: base64 is
//! decoded while parsing and a bad value is an error naming the field and the entry.
//! Secrets (tokens, passwords, private keys, auth-provider tokens, exec `env` values) are
//! never shown by `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::{SecretBytes, SecretString};

/// A whole kubeconfig: clusters, users and the contexts pairing them (client-go
/// `clientcmdapi.Config`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    /// Always `Config` in files; kept for round trips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Always `v1` in files; kept for round trips.
    #[serde(default, rename = "apiVersion", skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Client preferences (unused by ferrokube, kept for round trips).
    #[serde(default, deserialize_with = "null_as_default")]
    pub preferences: Preferences,
    /// Cluster entries by name.
    #[serde(default, deserialize_with = "named_clusters")]
    pub clusters: Vec<NamedCluster>,
    /// User (credential) entries by name; `users` in the file.
    #[serde(default, rename = "users", deserialize_with = "named_auth_infos")]
    pub auth_infos: Vec<NamedAuthInfo>,
    /// Context entries by name.
    #[serde(default, deserialize_with = "named_contexts")]
    pub contexts: Vec<NamedContext>,
    /// Name of the context used when none is chosen explicitly.
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub current_context: String,
    /// Free-form extensions by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub extensions: Vec<NamedExtension>,
}

impl Config {
    /// The cluster entry called `name`.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name).map(|c| &c.cluster)
    }
    /// The user entry called `name`.
    pub fn auth_info(&self, name: &str) -> Option<&AuthInfo> {
        self.auth_infos.iter().find(|c| c.name == name).map(|c| &c.auth_info)
    }
    /// The context entry called `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.iter().find(|c| c.name == name).map(|c| &c.context)
    }
    /// True when the config has no clusters, users, contexts or current context
    /// (client-go `IsConfigEmpty`).
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty()
            && self.auth_infos.is_empty()
            && self.contexts.is_empty()
            && self.current_context.is_empty()
            && self.extensions.is_empty()
    }
}

/// kubeconfig `preferences`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Preferences {
    /// Whether kubectl should colorize output (legacy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colors: Option<bool>,
    /// Free-form extensions by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub extensions: Vec<NamedExtension>,
}

/// One named cluster entry.
#[derive(Clone, Debug, Serialize)]
pub struct NamedCluster {
    /// Name other entries refer to it by.
    pub name: String,
    /// The cluster.
    pub cluster: Cluster,
}

/// One named user entry (`users` in the file).
#[derive(Clone, Debug, Serialize)]
pub struct NamedAuthInfo {
    /// Name contexts refer to it by.
    pub name: String,
    /// The credentials; `user` in the file.
    #[serde(rename = "user")]
    pub auth_info: AuthInfo,
}

/// One named context entry.
#[derive(Clone, Debug, Serialize)]
pub struct NamedContext {
    /// Name `current-context` and `--context` refer to it by.
    pub name: String,
    /// The context.
    pub context: Context,
}

/// One named extension: arbitrary data tools attach to the config.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct NamedExtension {
    /// Extension name, e.g. `client.authentication.k8s.io/exec`.
    pub name: String,
    /// Extension content as JSON.
    #[serde(default)]
    pub extension: serde_json::Value,
}

/// How to reach one API server (client-go `clientcmdapi.Cluster`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    /// The file this entry was read from (not part of the file format).
    #[serde(skip)]
    pub location_of_origin: Option<PathBuf>,
    /// `https://host:port` of the API server.
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub server: String,
    /// Name to verify the server certificate against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
    /// Skip server certificate verification (dangerous; explicit only).
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub insecure_skip_tls_verify: bool,
    /// PEM CA bundle file; relative paths resolve against the kubeconfig's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<PathBuf>,
    /// PEM CA bundle (base64 in the file).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_ca_data",
        serialize_with = "ser_bytes"
    )]
    pub certificate_authority_data: Option<Vec<u8>>,
    /// Proxy for requests to this cluster (`http`, `https` or `socks5` URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_url: Option<String>,
    /// Ask the server not to compress responses.
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub disable_compression: bool,
    /// Free-form extensions; `client.authentication.k8s.io/exec` is passed to exec plugins.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub extensions: Vec<NamedExtension>,
}

/// The cluster extension handed to exec plugins as `spec.cluster.config`.
pub const EXEC_CLUSTER_EXTENSION: &str = "client.authentication.k8s.io/exec";

/// Who the client is (client-go `clientcmdapi.AuthInfo`, `user` in the file).
///
/// `Debug` redacts every secret; `Serialize` writes them, because it produces the
/// kubeconfig file format itself.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AuthInfo {
    /// The file this entry was read from (not part of the file format); `oidc` writes
    /// refreshed tokens back there.
    #[serde(skip)]
    pub location_of_origin: Option<PathBuf>,
    /// PEM client certificate file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<PathBuf>,
    /// PEM client certificate (base64 in the file).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_cert_data",
        serialize_with = "ser_bytes"
    )]
    pub client_certificate_data: Option<Vec<u8>>,
    /// PEM private key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// PEM private key (base64 in the file).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_key_data",
        serialize_with = "ser_secret_bytes"
    )]
    pub client_key_data: Option<SecretBytes>,
    /// Bearer token.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_secret",
        serialize_with = "ser_secret"
    )]
    pub token: Option<SecretString>,
    /// File holding the bearer token; re-read by the transport.
    #[serde(default, rename = "tokenFile", skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// User to impersonate.
    #[serde(default, rename = "as", skip_serializing_if = "Option::is_none")]
    pub impersonate: Option<String>,
    /// UID to impersonate.
    #[serde(default, rename = "as-uid", skip_serializing_if = "Option::is_none")]
    pub impersonate_uid: Option<String>,
    /// Groups to impersonate.
    #[serde(
        default,
        rename = "as-groups",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub impersonate_groups: Vec<String>,
    /// Extra fields to impersonate.
    #[serde(
        default,
        rename = "as-user-extra",
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub impersonate_user_extra: BTreeMap<String, Vec<String>>,
    /// Basic-auth user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_secret",
        serialize_with = "ser_secret"
    )]
    pub password: Option<SecretString>,
    /// A named auth provider (only `oidc` is supported, as in current client-go).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_provider: Option<AuthProviderConfig>,
    /// An exec credential plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecConfig>,
    /// Free-form extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub extensions: Vec<NamedExtension>,
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthInfo")
            .field("location_of_origin", &self.location_of_origin)
            .field("client_certificate", &self.client_certificate)
            .field("client_certificate_data", &self.client_certificate_data.as_ref().map(|d| d.len()))
            .field("client_key", &self.client_key)
            .field("client_key_data", &self.client_key_data)
            .field("token", &self.token)
            .field("token_file", &self.token_file)
            .field("impersonate", &self.impersonate)
            .field("impersonate_uid", &self.impersonate_uid)
            .field("impersonate_groups", &self.impersonate_groups)
            .field("impersonate_user_extra", &self.impersonate_user_extra)
            .field("username", &self.username)
            .field("password", &self.password)
            .field("auth_provider", &self.auth_provider)
            .field("exec", &self.exec)
            .finish_non_exhaustive()
    }
}

/// A named auth provider and its settings (`auth-provider` in the file).
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct AuthProviderConfig {
    /// Provider name, e.g. `oidc`.
    pub name: String,
    /// Provider settings; for `oidc` these include `id-token` and `refresh-token`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub config: BTreeMap<String, String>,
}

/// `auth-provider.config` keys whose values may be shown by `Debug`.
const PUBLIC_AUTH_PROVIDER_KEYS: &[&str] =
    &["idp-issuer-url", "client-id", "extra-scopes", "idp-certificate-authority"];

impl fmt::Debug for AuthProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config: BTreeMap<&str, &str> = self
            .config
            .iter()
            .map(|(k, v)| {
                let shown = if PUBLIC_AUTH_PROVIDER_KEYS.contains(&k.as_str()) { v.as_str() } else { "<redacted>" };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("AuthProviderConfig").field("name", &self.name).field("config", &config).finish()
    }
}

/// An exec credential plugin (`exec` in the file; client-go `clientcmdapi.ExecConfig`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecConfig {
    /// Program to run: a name looked up in `PATH`, or a path (relative paths containing a
    /// separator resolve against the kubeconfig's directory).
    #[serde(default, deserialize_with = "null_as_default")]
    pub command: String,
    /// Arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub args: Vec<String>,
    /// Variables added to the plugin's environment.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub env: Vec<ExecEnvVar>,
    /// `client.authentication.k8s.io/v1` or `.../v1beta1`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub api_version: String,
    /// Shown to the user when the command cannot be found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_hint: Option<String>,
    /// Pass cluster information to the plugin in `KUBERNETES_EXEC_INFO`.
    #[serde(default, skip_serializing_if = "is_false", deserialize_with = "null_as_default")]
    pub provide_cluster_info: bool,
    /// `Never`, `IfAvailable` or `Always`; required for v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactive_mode: Option<String>,
}

/// One environment variable for an exec plugin. `Debug` hides the value.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct ExecEnvVar {
    /// Variable name.
    pub name: String,
    /// Variable value.
    #[serde(default, deserialize_with = "null_as_default")]
    pub value: String,
}

impl fmt::Debug for ExecEnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExecEnvVar").field("name", &self.name).field("value", &"<redacted>").finish()
    }
}

/// Which cluster, user and namespace to use together (client-go `clientcmdapi.Context`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct Context {
    /// The file this entry was read from (not part of the file format).
    #[serde(skip)]
    pub location_of_origin: Option<PathBuf>,
    /// Name of the cluster entry.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster: String,
    /// Name of the user entry.
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub user: String,
    /// Default namespace.
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "null_as_default")]
    pub namespace: String,
    /// Free-form extensions.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub extensions: Vec<NamedExtension>,
}

// ---- serde helpers -------------------------------------------------------------------

fn is_false(b: &bool) -> bool {
    !*b
}

/// YAML `null` (e.g. `users:` with nothing after it) means "empty", as in Go.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Decodes base64 like Go's `StdEncoding` after dropping line breaks and spaces.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(compact.as_bytes())
}

fn de_base64<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<Vec<u8>>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => {
            decode_base64(&text).map(Some).map_err(|e| D::Error::custom(format!("invalid base64 in {field}: {e}")))
        }
    }
}

fn de_ca_data<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    de_base64(d, "certificate-authority-data")
}

fn de_cert_data<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
    de_base64(d, "client-certificate-data")
}

fn de_key_data<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretBytes>, D::Error> {
    Ok(de_base64(d, "client-key-data")?.map(SecretBytes::new))
}

fn de_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()).map(SecretString::new))
}

fn ser_bytes<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(bytes) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes)),
        None => s.serialize_none(),
    }
}

fn ser_secret_bytes<S: Serializer>(v: &Option<SecretBytes>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(bytes) => s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes.expose())),
        None => s.serialize_none(),
    }
}

fn ser_secret<S: Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

/// Deserializes a named list (`- name: x\n  <key>: {...}`) entry by entry so that an
/// error names the entry it is in.
fn named_list<'de, D, T>(d: D, kind: &str, key: &str) -> Result<Vec<(String, T)>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let items = Option::<Vec<serde_yaml_ng::Value>>::deserialize(d)?.unwrap_or_default();
    let mut out: Vec<(String, T)> = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let serde_yaml_ng::Value::Mapping(mut map) = item else {
            return Err(D::Error::custom(format!("{kind} entry #{} is not a mapping", index + 1)));
        };
        let name = match map.remove("name") {
            Some(serde_yaml_ng::Value::String(name)) => name,
            Some(_) => return Err(D::Error::custom(format!("{kind} entry #{}: name is not a string", index + 1))),
            None => String::new(),
        };
        let value = match map.remove(key) {
            None | Some(serde_yaml_ng::Value::Null) => T::default(),
            Some(v) => T::deserialize(v).map_err(|e| D::Error::custom(format!("{kind} {name:?}: {e}")))?,
        };
        // Within one file the first entry of a name wins, as across files.
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, value));
        }
    }
    Ok(out)
}

fn named_clusters<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NamedCluster>, D::Error> {
    Ok(named_list(d, "cluster", "cluster")?.into_iter().map(|(name, cluster)| NamedCluster { name, cluster }).collect())
}

fn named_auth_infos<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NamedAuthInfo>, D::Error> {
    Ok(named_list(d, "user", "user")?.into_iter().map(|(name, auth_info)| NamedAuthInfo { name, auth_info }).collect())
}

fn named_contexts<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NamedContext>, D::Error> {
    Ok(named_list(d, "context", "context")?.into_iter().map(|(name, context)| NamedContext { name, context }).collect())
}

impl PartialEq for AuthInfo {
    fn eq(&self, other: &Self) -> bool {
        // Compare through the serialized form; used only by tests and `is_default` checks.
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
            && self.location_of_origin == other.location_of_origin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: aGVsbG8=
    insecure-skip-tls-verify: false
    tls-server-name: kubernetes
    proxy-url: http://proxy:3128
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {audience: x}
contexts:
- name: dev
  context: {cluster: dev, user: alice, namespace: team}
users:
- name: alice
  user:
    token: tok-SECRET-123
    client-key-data: c2VjcmV0LWtleQ==
    as: bob
    as-uid: "42"
    as-groups: [g1, g2]
    as-user-extra: {scopes: [a, b]}
    auth-provider:
      name: oidc
      config: {id-token: IDTOKEN-SECRET, client-id: kube}
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: plugin
      env: [{name: PASSWORD, value: ENV-SECRET}]
      provideClusterInfo: true
      interactiveMode: Never
preferences: {}
"#;

    #[test]
    fn parses_kubeconfig_names() {
        let c: Config = serde_yaml_ng::from_str(SAMPLE).unwrap();
        assert_eq!(c.current_context, "dev");
        let cl = c.cluster("dev").unwrap();
        assert_eq!(cl.certificate_authority_data.as_deref(), Some(&b"hello"[..]));
        assert_eq!(cl.tls_server_name.as_deref(), Some("kubernetes"));
        assert_eq!(cl.proxy_url.as_deref(), Some("http://proxy:3128"));
        assert_eq!(cl.extensions[0].extension["audience"], "x");
        let ctx = c.context("dev").unwrap();
        assert_eq!((ctx.cluster.as_str(), ctx.user.as_str(), ctx.namespace.as_str()), ("dev", "alice", "team"));
        let u = c.auth_info("alice").unwrap();
        assert_eq!(u.token.as_ref().unwrap().expose(), "tok-SECRET-123");
        assert_eq!(u.client_key_data.as_ref().unwrap().expose(), b"secret-key");
        assert_eq!(u.impersonate.as_deref(), Some("bob"));
        assert_eq!(u.impersonate_uid.as_deref(), Some("42"));
        assert_eq!(u.impersonate_groups, vec!["g1", "g2"]);
        assert_eq!(u.impersonate_user_extra["scopes"], vec!["a", "b"]);
        let exec = u.exec.as_ref().unwrap();
        assert!(exec.provide_cluster_info);
        assert_eq!(exec.interactive_mode.as_deref(), Some("Never"));
        assert_eq!(u.auth_provider.as_ref().unwrap().config["client-id"], "kube");
    }

    #[test]
    fn debug_hides_secrets() {
        let c: Config = serde_yaml_ng::from_str(SAMPLE).unwrap();
        let dbg = format!("{c:?}");
        for secret in ["tok-SECRET-123", "secret-key", "IDTOKEN-SECRET", "ENV-SECRET"] {
            assert!(!dbg.contains(secret), "{secret} leaked in {dbg}");
        }
        assert!(dbg.contains("kube"), "public auth-provider keys stay visible");
    }

    #[test]
    fn bad_base64_names_field_and_entry() {
        let text = "users:\n- name: alice\n  user:\n    client-certificate-data: '!!notbase64'\n";
        let err = serde_yaml_ng::from_str::<Config>(text).unwrap_err().to_string();
        assert!(err.contains("client-certificate-data"), "{err}");
        assert!(err.contains("\"alice\""), "{err}");
    }

    #[test]
    fn round_trips_through_yaml() {
        let c: Config = serde_yaml_ng::from_str(SAMPLE).unwrap();
        let text = serde_yaml_ng::to_string(&c).unwrap();
        let again: Config = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(again.cluster("dev"), c.cluster("dev"));
        assert_eq!(again.auth_info("alice"), c.auth_info("alice"));
        assert!(text.contains("certificate-authority-data: aGVsbG8="), "{text}");
    }
}
