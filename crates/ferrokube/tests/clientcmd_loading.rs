//! kubeconfig loading, merging, overrides, path resolution and bad-kubeconfig errors.
//!
//! The environment (`KUBECONFIG`, `HOME`) is injected through
//! `ClientConfigLoadingRules::from_env_values`, never set on the process.

use std::path::{Path, PathBuf};

use ferrokube::clientcmd::{
    build_config_from_flags_with, ClientConfig, ClientConfigLoadingRules, ConfigOverrides, DeferredLoadingClientConfig,
    DirectClientConfig, Error, InClusterConfig,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clientcmd").join(name)
}

fn kubeconfig_env(files: &[PathBuf]) -> String {
    files.iter().map(|p| p.to_string_lossy().into_owned()).collect::<Vec<_>>().join(":")
}

fn deferred(rules: ClientConfigLoadingRules, overrides: ConfigOverrides) -> DeferredLoadingClientConfig {
    DeferredLoadingClientConfig::new(rules, overrides).with_in_cluster(None)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn kubeconfig_list_merges_with_first_file_winning() {
    let env = kubeconfig_env(&[fixture("merge-a.yaml"), fixture("merge-b.yaml"), fixture("merge-c.yaml")]);
    let rules = ClientConfigLoadingRules::from_env_values(Some(&env), Some(Path::new("/nonexistent-home")));
    let merged = rules.load().unwrap();
    assert_eq!(merged.current_context, "ctx-a");
    // Map entries: whole entry from the first file that defines the name.
    assert_eq!(merged.cluster("shared").unwrap().server, "https://a.example:6443");
    assert_eq!(merged.cluster("shared").unwrap().tls_server_name, None);
    assert_eq!(merged.context("ctx-a").unwrap().cluster, "shared");
    assert_eq!(merged.auth_info("alice").unwrap().token.as_ref().unwrap().expose(), "token-from-a");
    assert_eq!(merged.auth_info("bob").unwrap().username.as_deref(), Some("bob"), "bob comes from b, not c");
    // Names only later files define are added.
    assert_eq!(merged.cluster("cluster-c").unwrap().server, "https://only-c.example:6443");
    assert!(merged.context("ctx-b").is_some() && merged.auth_info("carol").is_some());
    // Each entry remembers its file.
    assert_eq!(merged.auth_info("bob").unwrap().location_of_origin.as_deref(), Some(fixture("merge-b.yaml").as_path()));

    let cc = deferred(rules.clone(), ConfigOverrides::default());
    let config = cc.client_config().unwrap();
    assert_eq!(config.host, "https://a.example:6443");
    assert_eq!(config.bearer_token.as_ref().unwrap().expose(), "token-from-a");
    assert_eq!(cc.namespace().unwrap(), ("ns-a".to_owned(), false));

    // Order matters: with b first, b's current-context and entries win.
    let env = kubeconfig_env(&[fixture("merge-b.yaml"), fixture("merge-a.yaml")]);
    let merged = ClientConfigLoadingRules::from_env_values(Some(&env), None).load().unwrap();
    assert_eq!(merged.current_context, "ctx-b");
    assert_eq!(merged.cluster("shared").unwrap().server, "https://b.example:6443");
}

#[test]
fn missing_kubeconfig_files_are_skipped_and_duplicates_dropped() {
    let missing = fixture("does-not-exist.yaml");
    let env =
        format!("{}::{}:{}", missing.display(), fixture("merge-c.yaml").display(), fixture("merge-c.yaml").display());
    let rules = ClientConfigLoadingRules::from_env_values(Some(&env), None);
    assert_eq!(rules.precedence.len(), 2, "empty entries and duplicates dropped: {:?}", rules.precedence);
    let loaded = rules.load_with_sources().unwrap();
    assert_eq!(loaded.files, vec![fixture("merge-c.yaml")]);
    assert_eq!(loaded.config.current_context, "ctx-c");
}

#[test]
fn home_kubeconfig_is_the_default_and_missing_means_empty() {
    let home = tempfile::tempdir().unwrap();
    let rules = ClientConfigLoadingRules::from_env_values(None, Some(home.path()));
    assert_eq!(rules.precedence, vec![home.path().join(".kube/config")]);
    assert!(rules.load().unwrap().is_empty());
    let err = deferred(rules.clone(), ConfigOverrides::default()).client_config().unwrap_err();
    assert!(err.is_empty_config(), "{err}");
    assert!(err.to_string().contains("no configuration has been provided"), "{err}");

    std::fs::create_dir(home.path().join(".kube")).unwrap();
    std::fs::copy(fixture("merge-c.yaml"), home.path().join(".kube/config")).unwrap();
    let config = deferred(rules, ConfigOverrides::default()).client_config().unwrap();
    assert_eq!(config.host, "https://only-c.example:6443");
}

#[test]
fn explicit_path_wins_over_kubeconfig_env_and_must_exist() {
    let env = kubeconfig_env(&[fixture("merge-a.yaml")]);
    let rules = ClientConfigLoadingRules::from_env_values(Some(&env), None).explicit_path(fixture("merge-c.yaml"));
    assert_eq!(rules.load().unwrap().current_context, "ctx-c");

    let rules = ClientConfigLoadingRules::with_explicit_path(fixture("nope.yaml"));
    let err = rules.load().unwrap_err();
    assert!(matches!(err, Error::MissingFile { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.yaml") && err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn relative_paths_resolve_against_the_kubeconfig_directory() {
    let path = fixture("relative/kubeconfig.yaml");
    let dir = fixture("relative");
    let rules = ClientConfigLoadingRules::with_explicit_path(&path);
    let raw = rules.load().unwrap();
    assert_eq!(raw.cluster("rel").unwrap().certificate_authority.as_deref(), Some(dir.join("certs/ca.pem").as_path()));
    let rel = raw.auth_info("rel").unwrap();
    assert_eq!(rel.client_certificate.as_deref(), Some(dir.join("certs/client.pem").as_path()));
    assert_eq!(rel.client_key.as_deref(), Some(dir.join("certs/client-key.pem").as_path()));
    assert_eq!(rel.token_file.as_deref(), Some(dir.join("certs/token").as_path()));
    // An exec command containing a separator is a path; a bare name is looked up in PATH.
    let exec_path = raw.auth_info("exec-path").unwrap().exec.as_ref().unwrap();
    assert_eq!(Path::new(&exec_path.command), dir.join("./bin/plugin"));
    assert_eq!(raw.auth_info("exec-bare").unwrap().exec.as_ref().unwrap().command, "kubectl-plugin");

    let config = deferred(rules, ConfigOverrides::default()).client_config().unwrap();
    assert_eq!(config.tls.ca_file.as_deref(), Some(dir.join("certs/ca.pem").as_path()));
    assert_eq!(config.tls.cert_file.as_deref(), Some(dir.join("certs/client.pem").as_path()));
    assert_eq!(config.bearer_token_file.as_deref(), Some(dir.join("certs/token").as_path()));
    assert_eq!(config.bearer_token.as_ref().unwrap().expose(), "relative-token-secret");
    let dbg = format!("{config:?}");
    assert!(!dbg.contains("relative-token-secret"), "{dbg}");
}

#[test]
fn overrides_take_precedence() {
    let env = kubeconfig_env(&[fixture("merge-a.yaml"), fixture("merge-b.yaml"), fixture("merge-c.yaml")]);
    let rules = ClientConfigLoadingRules::from_env_values(Some(&env), None);

    // --context picks another context, with its cluster, user and namespace.
    let cc = deferred(rules.clone(), ConfigOverrides::default().with_context("ctx-c"));
    let config = cc.client_config().unwrap();
    assert_eq!(config.host, "https://only-c.example:6443");
    assert_eq!(config.bearer_token.as_ref().unwrap().expose(), "token-from-c");
    assert_eq!(cc.namespace().unwrap(), ("ns-c".to_owned(), false));

    // --user / --cluster / --namespace / --server / --token / --as.
    let mut overrides = ConfigOverrides::default().with_user("bob").with_cluster("cluster-b").with_namespace("flag-ns");
    overrides.impersonate = Some("admin".into());
    overrides.impersonate_uid = Some("uid-1".into());
    overrides.impersonate_groups = vec!["system:masters".into()];
    overrides.tls_server_name = Some("api.internal".into());
    overrides.timeout = Some(std::time::Duration::from_secs(7));
    let cc = deferred(rules.clone(), overrides);
    let config = cc.client_config().unwrap();
    assert_eq!(config.host, "https://only-b.example:6443");
    assert_eq!(config.username.as_deref(), Some("bob"));
    assert_eq!(config.password.as_ref().unwrap().expose(), "bob-password-secret");
    assert_eq!(config.impersonate.user_name.as_deref(), Some("admin"));
    assert_eq!(config.impersonate.uid.as_deref(), Some("uid-1"));
    assert_eq!(config.impersonate.groups, vec!["system:masters"]);
    assert_eq!(config.tls.server_name.as_deref(), Some("api.internal"));
    assert_eq!(config.timeout, Some(std::time::Duration::from_secs(7)));
    assert_eq!(cc.namespace().unwrap(), ("flag-ns".to_owned(), true));
    assert!(!format!("{config:?}").contains("bob-password-secret"));

    let overrides = ConfigOverrides::default().with_server("https://flag.example").with_token("flag-token");
    let config = deferred(rules, overrides).client_config().unwrap();
    assert_eq!(config.host, "https://flag.example");
    assert_eq!(config.bearer_token.as_ref().unwrap().expose(), "flag-token");
}

#[test]
fn server_override_alone_needs_no_kubeconfig() {
    let rules = ClientConfigLoadingRules::from_env_values(None, None);
    let overrides = ConfigOverrides::default().with_server("https://127.0.0.1:6443");
    let cc = deferred(rules, overrides);
    assert_eq!(cc.client_config().unwrap().host, "https://127.0.0.1:6443");
    assert_eq!(cc.namespace().unwrap(), ("default".to_owned(), false));
}

#[test]
fn full_user_entry_maps_to_rest_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "config",
        r#"
current-context: c
clusters:
- name: k
  cluster:
    server: https://k.example:6443/prefix?x=1
    certificate-authority-data: Q0EtUEVN
    tls-server-name: k.internal
    proxy-url: http://proxy:3128
    disable-compression: true
contexts:
- name: c
  context: {cluster: k, user: u}
users:
- name: u
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZLVNFQ1JFVA==
    as: someone
    as-groups: [a, b]
    as-user-extra:
      reason: [testing]
"#,
    );
    let config = deferred(ClientConfigLoadingRules::with_explicit_path(path), ConfigOverrides::default())
        .client_config()
        .unwrap();
    assert_eq!(config.host, "https://k.example:6443/prefix");
    assert_eq!(config.tls.ca_data.as_deref(), Some(&b"CA-PEM"[..]));
    assert_eq!(config.tls.server_name.as_deref(), Some("k.internal"));
    assert_eq!(config.proxy_url.as_deref(), Some("http://proxy:3128"));
    assert!(config.disable_compression);
    assert_eq!(config.tls.cert_data.as_deref(), Some(&b"CERT"[..]));
    assert_eq!(config.tls.key_data.as_ref().unwrap().expose(), b"KEY-SECRET");
    assert_eq!(config.impersonate.user_name.as_deref(), Some("someone"));
    assert_eq!(config.impersonate.groups, vec!["a", "b"]);
    assert_eq!(config.impersonate.extra["reason"], vec!["testing"]);
    assert!(!format!("{config:?}").contains("KEY-SECRET"));
}

#[test]
fn plain_http_servers_get_no_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "config",
        "current-context: c\nclusters:\n- name: k\n  cluster: {server: 'http://127.0.0.1:8080'}\n\
         contexts:\n- name: c\n  context: {cluster: k, user: u}\nusers:\n- name: u\n  user: {token: t0k}\n",
    );
    let config = deferred(ClientConfigLoadingRules::with_explicit_path(path), ConfigOverrides::default())
        .client_config()
        .unwrap();
    assert_eq!(config.host, "http://127.0.0.1:8080");
    assert!(config.bearer_token.is_none());
}

// ---- bad kubeconfigs -------------------------------------------------------------------

fn load_err(path: &Path, overrides: ConfigOverrides) -> Error {
    deferred(ClientConfigLoadingRules::with_explicit_path(path), overrides).client_config().unwrap_err()
}

#[test]
fn yaml_error_names_file_and_position() {
    let err = load_err(&fixture("bad-yaml.yaml"), ConfigOverrides::default());
    let msg = err.to_string();
    assert!(matches!(err, Error::Parse { line: Some(_), .. }), "{err:?}");
    assert!(msg.contains("bad-yaml.yaml"), "{msg}");
    assert!(msg.contains("line 6"), "{msg}");
}

#[test]
fn invalid_base64_names_field_and_entry() {
    let msg = load_err(&fixture("bad-base64.yaml"), ConfigOverrides::default()).to_string();
    assert!(msg.contains("bad-base64.yaml"), "{msg}");
    assert!(msg.contains("certificate-authority-data"), "{msg}");
    assert!(msg.contains("prod-cluster"), "{msg}");
    assert!(msg.contains("base64"), "{msg}");
}

#[test]
fn unknown_context_cluster_and_user() {
    let path = fixture("merge-c.yaml");
    let msg = load_err(&path, ConfigOverrides::default().with_context("nope")).to_string();
    assert!(msg.contains("context \"nope\" was not found") && msg.contains("merge-c.yaml"), "{msg}");

    let msg = load_err(&path, ConfigOverrides::default().with_cluster("nocluster")).to_string();
    assert!(msg.contains("cluster \"nocluster\" was not found"), "{msg}");

    let msg = load_err(&path, ConfigOverrides::default().with_user("nobody")).to_string();
    assert!(msg.contains("user \"nobody\" was not found"), "{msg}");

    let dir = tempfile::tempdir().unwrap();
    let p =
        write(dir.path(), "config", "current-context: c\ncontexts:\n- name: c\n  context: {cluster: ghost, user: u}\n");
    let msg = load_err(&p, ConfigOverrides::default()).to_string();
    assert!(msg.contains("cluster \"ghost\"") && msg.contains("context \"c\""), "{msg}");

    let p = write(
        dir.path(),
        "noctx",
        "clusters:\n- name: k\n  cluster: {server: 'https://k'}\ncontexts:\n- name: c\n  context: {cluster: k}\n",
    );
    let err = load_err(&p, ConfigOverrides::default());
    assert!(matches!(err, Error::NoContext { .. }), "{err:?}");
    assert!(err.to_string().contains("no context chosen"), "{err}");
}

#[test]
fn missing_ca_file_names_path_and_cluster() {
    let msg = load_err(&fixture("missing-ca.yaml"), ConfigOverrides::default()).to_string();
    assert!(msg.contains("no-ca-here"), "{msg}");
    assert!(msg.contains("does-not-exist/ca.pem"), "{msg}");
    assert!(msg.contains("missing-ca.yaml"), "{msg}");
}

#[test]
fn insecure_with_ca_is_rejected_but_insecure_override_clears_ca() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "config",
        "current-context: c\nclusters:\n- name: both\n  cluster: {server: 'https://k', insecure-skip-tls-verify: true, certificate-authority-data: Q0E=}\n\
         contexts:\n- name: c\n  context: {cluster: both}\n",
    );
    let msg = load_err(&p, ConfigOverrides::default()).to_string();
    assert!(msg.contains("both") && msg.contains("mutually exclusive"), "{msg}");

    let mut overrides = ConfigOverrides::default();
    overrides.insecure_skip_tls_verify = true;
    let config = deferred(ClientConfigLoadingRules::with_explicit_path(&p), overrides).client_config().unwrap();
    assert!(config.tls.insecure);
    assert!(config.tls.ca_data.is_none());
}

#[test]
fn unsupported_auth_provider_and_invalid_exec_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "config",
        "current-context: c\nclusters:\n- name: k\n  cluster: {server: 'https://k'}\n\
         contexts:\n- name: c\n  context: {cluster: k, user: g}\n- name: e\n  context: {cluster: k, user: e}\n\
         users:\n- name: g\n  user:\n    auth-provider: {name: gcp, config: {access-token: gcp-secret}}\n\
         - name: e\n  user:\n    exec: {apiVersion: client.authentication.k8s.io/v1, command: x}\n",
    );
    let msg = load_err(&p, ConfigOverrides::default()).to_string();
    assert!(msg.contains("\"gcp\"") && msg.contains("not supported") && msg.contains("\"g\""), "{msg}");
    assert!(!msg.contains("gcp-secret"));

    let msg = load_err(&p, ConfigOverrides::default().with_context("e")).to_string();
    // Without the `exec` feature the plugin is refused before its fields are checked.
    let expected = if cfg!(feature = "exec") { "interactiveMode" } else { "\"exec\" Cargo feature" };
    assert!(msg.contains(expected) && msg.contains("\"e\""), "{msg}");
}

#[test]
fn unreadable_token_file_names_user_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "config",
        "current-context: c\nclusters:\n- name: k\n  cluster: {server: 'https://k'}\n\
         contexts:\n- name: c\n  context: {cluster: k, user: t}\nusers:\n- name: t\n  user: {tokenFile: missing-token}\n",
    );
    let msg = load_err(&p, ConfigOverrides::default()).to_string();
    assert!(msg.contains("tokenFile of user \"t\"") && msg.contains("missing-token"), "{msg}");
}

#[test]
fn secrets_never_appear_in_debug_or_errors() {
    let env = kubeconfig_env(&[fixture("merge-a.yaml"), fixture("merge-b.yaml")]);
    let rules = ClientConfigLoadingRules::from_env_values(Some(&env), None);
    let raw = rules.load().unwrap();
    let dbg = format!("{raw:?}");
    for secret in ["token-from-a", "token-from-b", "bob-password-secret"] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
    let cc = deferred(rules, ConfigOverrides::default().with_context("ctx-b"));
    let dbg = format!("{:?}", cc.client_config().unwrap());
    assert!(!dbg.contains("bob-password-secret"), "{dbg}");

    // A key that is invalid base64 and a token in the same file: the error shows neither.
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "config",
        "users:\n- name: u\n  user: {token: tok-VISIBLE-NOT, client-key-data: 'SECRETKEY*'}\n",
    );
    let msg = load_err(&p, ConfigOverrides::default()).to_string();
    assert!(msg.contains("client-key-data") && msg.contains("\"u\""), "{msg}");
    assert!(!msg.contains("tok-VISIBLE-NOT") && !msg.contains("SECRETKEY"), "{msg}");
}

#[test]
fn direct_client_config_over_an_in_memory_config() {
    let raw = ferrokube::clientcmd::load_from_file(&fixture("merge-b.yaml")).unwrap();
    let cc = DirectClientConfig::with_context(raw.clone(), "ctx-a", ConfigOverrides::default());
    assert_eq!(cc.client_config().unwrap().host, "https://only-b.example:6443");
    assert_eq!(cc.namespace().unwrap().0, "ns-b");
    assert_eq!(cc.raw_config().unwrap().current_context, "ctx-b");
}

#[test]
fn build_config_from_flags_fallbacks() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".kube")).unwrap();
    std::fs::copy(fixture("merge-c.yaml"), home.path().join(".kube/config")).unwrap();
    let default_rules = ClientConfigLoadingRules::from_env_values(None, Some(home.path()));
    let not_in_cluster = InClusterConfig::new(home.path(), |_| None);

    // Both empty, not in a pod: default loading rules.
    let config = build_config_from_flags_with(None, None, default_rules.clone(), &not_in_cluster).unwrap();
    assert_eq!(config.host, "https://only-c.example:6443");

    // Both empty, in a pod: in-cluster config first.
    let root = tempfile::tempdir().unwrap();
    let sa = root.path().join(ferrokube::clientcmd::in_cluster::SERVICE_ACCOUNT_DIR);
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), "sa-token").unwrap();
    let in_pod = InClusterConfig::new(root.path(), |name| match name {
        "KUBERNETES_SERVICE_HOST" => Some("10.0.0.1".into()),
        "KUBERNETES_SERVICE_PORT" => Some("443".into()),
        _ => None,
    });
    let config = build_config_from_flags_with(None, None, default_rules.clone(), &in_pod).unwrap();
    assert_eq!(config.host, "https://10.0.0.1:443");

    // A kubeconfig path is explicit; a master URL overrides its server.
    let config = build_config_from_flags_with(
        Some("https://master.example"),
        Some(&fixture("merge-a.yaml")),
        default_rules.clone(),
        &in_pod,
    )
    .unwrap();
    assert_eq!(config.host, "https://master.example");
    assert_eq!(config.bearer_token.as_ref().unwrap().expose(), "token-from-a");
    // A master URL alone reads no kubeconfig: no credentials from ~/.kube/config leak to it.
    let config =
        build_config_from_flags_with(Some("https://other.example"), None, default_rules.clone(), &in_pod).unwrap();
    assert_eq!(config.host, "https://other.example");
    assert!(config.bearer_token.is_none());
    let err =
        build_config_from_flags_with(None, Some(std::path::Path::new("/no/such/kubeconfig")), default_rules, &in_pod)
            .unwrap_err();
    assert!(err.to_string().contains("/no/such/kubeconfig"), "{err}");
}
