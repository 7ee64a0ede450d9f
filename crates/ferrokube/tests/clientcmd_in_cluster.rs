//! In-cluster configuration from a temporary root standing in for a pod's file system,
//! with the environment passed as a closure.

use std::path::Path;

use ferrokube::clientcmd::in_cluster::SERVICE_ACCOUNT_DIR;
use ferrokube::clientcmd::{
    in_cluster_config_from, ClientConfig, ClientConfigLoadingRules, ConfigOverrides, DeferredLoadingClientConfig,
    Error, InClusterConfig,
};

fn pod_root(namespace: Option<&str>) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let sa = root.path().join(SERVICE_ACCOUNT_DIR);
    std::fs::create_dir_all(&sa).unwrap();
    std::fs::write(sa.join("token"), "sa-token-secret\n").unwrap();
    std::fs::write(sa.join("ca.crt"), "-----BEGIN CERTIFICATE-----\nZmFrZQ==\n-----END CERTIFICATE-----\n").unwrap();
    if let Some(ns) = namespace {
        std::fs::write(sa.join("namespace"), format!("{ns}\n")).unwrap();
    }
    root
}

fn env<'a>(host: &'a str, port: &'a str) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| match name {
        "KUBERNETES_SERVICE_HOST" => Some(host.to_owned()),
        "KUBERNETES_SERVICE_PORT" => Some(port.to_owned()),
        _ => None,
    }
}

#[test]
fn in_cluster_config_reads_the_service_account() {
    let root = pod_root(Some("team-a"));
    let sa = root.path().join(SERVICE_ACCOUNT_DIR);
    let config = in_cluster_config_from(root.path(), env("10.96.0.1", "443")).unwrap();
    assert_eq!(config.host, "https://10.96.0.1:443");
    assert_eq!(config.bearer_token_file.as_deref(), Some(sa.join("token").as_path()));
    assert_eq!(config.bearer_token.as_ref().unwrap().expose(), "sa-token-secret");
    assert_eq!(config.tls.ca_file.as_deref(), Some(sa.join("ca.crt").as_path()));
    assert!(!config.tls.insecure);
    assert!(!format!("{config:?}").contains("sa-token-secret"));
    assert_eq!(InClusterConfig::new(root.path(), env("h", "1")).namespace(), "team-a");
}

#[test]
fn ipv6_hosts_are_bracketed() {
    let root = pod_root(None);
    let config = in_cluster_config_from(root.path(), env("fd00::1", "6443")).unwrap();
    assert_eq!(config.host, "https://[fd00::1]:6443");
    assert_eq!(InClusterConfig::new(root.path(), env("h", "1")).namespace(), "default");
}

#[test]
fn pod_namespace_env_wins_over_the_file() {
    let root = pod_root(Some("from-file"));
    let icc = InClusterConfig::new(root.path(), |n| (n == "POD_NAMESPACE").then(|| "from-env".to_owned()));
    assert_eq!(icc.namespace(), "from-env");
}

#[test]
fn not_in_cluster_without_the_variables() {
    let root = pod_root(None);
    let err = in_cluster_config_from(root.path(), |_| None).unwrap_err();
    assert!(matches!(err, Error::NotInCluster), "{err:?}");
    assert!(err.to_string().contains("KUBERNETES_SERVICE_HOST"), "{err}");
    let err =
        in_cluster_config_from(root.path(), |n| (n == "KUBERNETES_SERVICE_HOST").then(|| "h".into())).unwrap_err();
    assert!(matches!(err, Error::NotInCluster));
    assert!(!InClusterConfig::new(root.path(), |_| None).is_possible());
}

#[test]
fn missing_token_is_an_error_naming_the_file() {
    let root = tempfile::tempdir().unwrap();
    let err = in_cluster_config_from(root.path(), env("h", "1")).unwrap_err().to_string();
    assert!(err.contains("serviceaccount/token"), "{err}");
}

#[test]
fn deferred_loading_falls_back_to_in_cluster_only_when_nothing_is_configured() {
    let root = pod_root(Some("pod-ns"));
    let icc = InClusterConfig::new(root.path(), env("10.0.0.1", "443"));
    assert!(icc.is_possible());
    let home = tempfile::tempdir().unwrap();
    let empty_rules = ClientConfigLoadingRules::from_env_values(None, Some(home.path()));

    let cc = DeferredLoadingClientConfig::new(empty_rules.clone(), ConfigOverrides::default())
        .with_in_cluster(Some(icc.clone()));
    assert_eq!(cc.client_config().unwrap().host, "https://10.0.0.1:443");
    assert_eq!(cc.namespace().unwrap(), ("pod-ns".to_owned(), false));

    // Overrides still apply to the in-cluster config.
    let overrides = ConfigOverrides::default().with_token("flag-token").with_namespace("flag-ns");
    let cc = DeferredLoadingClientConfig::new(empty_rules, overrides).with_in_cluster(Some(icc.clone()));
    let config = cc.client_config().unwrap();
    assert_eq!(config.bearer_token.as_ref().unwrap().expose(), "flag-token");
    assert!(config.bearer_token_file.is_none());
    assert_eq!(cc.namespace().unwrap(), ("flag-ns".to_owned(), true));

    // A kubeconfig, when present, wins over the pod.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clientcmd/merge-c.yaml");
    let cc = DeferredLoadingClientConfig::new(
        ClientConfigLoadingRules::with_explicit_path(fixture),
        ConfigOverrides::default(),
    )
    .with_in_cluster(Some(icc));
    assert_eq!(cc.client_config().unwrap().host, "https://only-c.example:6443");
    assert_eq!(cc.namespace().unwrap().0, "ns-c");
}
