//! Exec credential plugins, run for real: `fixtures/clientcmd/exec-plugin.sh` is copied
//! into a temporary directory per test, made executable, and counts its runs there.
#![cfg(all(unix, feature = "exec"))]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use ferrokube::clientcmd::api::{ExecConfig, ExecEnvVar};
use ferrokube::clientcmd::exec::{API_V1, API_V1BETA1};
use ferrokube::clientcmd::{
    ClientConfig, ClientConfigLoadingRules, ConfigOverrides, DeferredLoadingClientConfig, Error, ExecCredentialProvider,
};
use ferrokube::transport::auth::CredentialProvider;

struct Plugin {
    dir: tempfile::TempDir,
    script: PathBuf,
}

impl Plugin {
    fn new() -> Plugin {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("plugin.sh");
        let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/clientcmd/exec-plugin.sh"))
            .unwrap();
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Plugin { dir, script }
    }

    fn runs(&self) -> u32 {
        std::fs::read_to_string(self.dir.path().join("count")).map(|s| s.trim().parse().unwrap()).unwrap_or(0)
    }

    fn exec_info(&self) -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.path().join("exec-info.json")).unwrap()).unwrap()
    }

    fn config(&self, api_version: &str, env: &[(&str, &str)]) -> ExecConfig {
        let mut env: Vec<ExecEnvVar> =
            env.iter().map(|(n, v)| ExecEnvVar { name: n.to_string(), value: v.to_string() }).collect();
        env.push(ExecEnvVar { name: "PLUGIN_API_VERSION".into(), value: api_version.into() });
        ExecConfig {
            command: self.script.to_string_lossy().into_owned(),
            args: vec!["get-token".into(), "--cluster=dev".into()],
            env,
            api_version: api_version.into(),
            install_hint: None,
            provide_cluster_info: false,
            interactive_mode: Some("Never".into()),
        }
    }
}

fn token(c: &ferrokube::transport::auth::Credential) -> String {
    c.token.as_ref().unwrap().expose().to_owned()
}

#[tokio::test]
async fn v1_credential_without_expiry_is_cached_until_invalidated() {
    let plugin = Plugin::new();
    let p = ExecCredentialProvider::new("alice", &plugin.config(API_V1, &[]), None).unwrap();
    assert_eq!(token(&p.credential().await.unwrap()), "token-1");
    assert_eq!(token(&p.credential().await.unwrap()), "token-1");
    assert_eq!(plugin.runs(), 1, "second call served from the cache");
    assert_eq!(std::fs::read_to_string(plugin.dir.path().join("args")).unwrap(), "get-token --cluster=dev");

    // A 401: the transport invalidates, the plugin runs again, once.
    p.invalidate();
    assert_eq!(token(&p.credential().await.unwrap()), "token-2");
    assert_eq!(token(&p.credential().await.unwrap()), "token-2");
    assert_eq!(plugin.runs(), 2);
}

#[tokio::test]
async fn v1beta1_unexpired_credential_is_cached() {
    let plugin = Plugin::new();
    let mut config = plugin.config(API_V1BETA1, &[("PLUGIN_EXPIRY", "2999-01-01T00:00:00Z")]);
    config.interactive_mode = None; // optional for v1beta1 (IfAvailable)
    let p = ExecCredentialProvider::new("alice", &config, None).unwrap();
    for _ in 0..3 {
        assert_eq!(token(&p.credential().await.unwrap()), "token-1");
    }
    assert_eq!(plugin.runs(), 1);
    let info = plugin.exec_info();
    assert_eq!(info["apiVersion"], API_V1BETA1);
    assert_eq!(info["kind"], "ExecCredential");
}

#[tokio::test]
async fn expired_credential_makes_the_plugin_run_again() {
    let plugin = Plugin::new();
    let config = plugin.config(API_V1, &[("PLUGIN_EXPIRY", "2001-01-01T00:00:00Z")]);
    let p = ExecCredentialProvider::new("alice", &config, None).unwrap();
    assert_eq!(token(&p.credential().await.unwrap()), "token-1");
    assert_eq!(token(&p.credential().await.unwrap()), "token-2");
    assert_eq!(plugin.runs(), 2);
}

#[tokio::test]
async fn client_certificate_credentials() {
    let plugin = Plugin::new();
    let p = ExecCredentialProvider::new("alice", &plugin.config(API_V1, &[("PLUGIN_CERT", "1")]), None).unwrap();
    let c = p.credential().await.unwrap();
    let (cert, key) = c.client_certificate.as_ref().unwrap();
    assert_eq!(cert, b"CERT-1");
    assert_eq!(key.expose(), b"KEY-1");
    assert!(c.token.is_none());
    assert!(!format!("{c:?}").contains("KEY-1"));
}

#[tokio::test]
async fn wrong_api_version_in_output_is_rejected() {
    let plugin = Plugin::new();
    let mut config = plugin.config(API_V1, &[]);
    config.env.push(ExecEnvVar { name: "PLUGIN_API_VERSION".into(), value: API_V1BETA1.into() });
    let p = ExecCredentialProvider::new("alice", &config, None).unwrap();
    let err = p.get().await.unwrap_err();
    assert!(matches!(err, Error::ExecOutput { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(API_V1) && msg.contains(API_V1BETA1), "{msg}");
    assert!(!msg.contains("token-1"), "stdout never appears: {msg}");
}

#[tokio::test]
async fn failing_plugin_reports_exit_status_and_stderr_but_not_stdout() {
    let plugin = Plugin::new();
    let p = ExecCredentialProvider::new("alice", &plugin.config(API_V1, &[("PLUGIN_FAIL", "1")]), None).unwrap();
    let err = p.get().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(plugin.script.to_str().unwrap()), "names the command: {msg}");
    assert!(msg.contains("\"alice\""), "names the user: {msg}");
    assert!(msg.contains("exit status 3"), "{msg}");
    assert!(msg.contains("login required (run 1)"), "quotes stderr: {msg}");
    assert!(!msg.contains("stdout-secret-token"), "never stdout: {msg}");
    // Through the CredentialProvider interface the message is the same.
    let msg = p.credential().await.unwrap_err().to_string();
    assert!(msg.contains("exit status 3") && !msg.contains("stdout-secret-token"), "{msg}");
}

#[tokio::test]
async fn missing_plugin_shows_install_hint() {
    let config = ExecConfig {
        command: "ferrokube-test-no-such-plugin".into(),
        api_version: API_V1.into(),
        interactive_mode: Some("IfAvailable".into()),
        install_hint: Some("Install it with: brew install no-such-plugin".into()),
        ..Default::default()
    };
    let p = ExecCredentialProvider::new("bob", &config, None).unwrap();
    let err = p.get().await.unwrap_err();
    assert!(matches!(err, Error::ExecNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("ferrokube-test-no-such-plugin") && msg.contains("not found"), "{msg}");
    assert!(msg.contains("brew install no-such-plugin"), "{msg}");
}

#[test]
fn invalid_exec_sections_are_rejected_up_front() {
    let base = ExecConfig { command: "x".into(), api_version: API_V1.into(), ..Default::default() };
    let err = ExecCredentialProvider::new("u", &base, None).unwrap_err().to_string();
    assert!(err.contains("interactiveMode must be specified"), "{err}");
    let bad_mode = ExecConfig { interactive_mode: Some("Sometimes".into()), ..base.clone() };
    assert!(ExecCredentialProvider::new("u", &bad_mode, None).unwrap_err().to_string().contains("Sometimes"));
    let bad_version = ExecConfig {
        api_version: "client.authentication.k8s.io/v1alpha1".into(),
        interactive_mode: Some("Never".into()),
        ..base
    };
    assert!(ExecCredentialProvider::new("u", &bad_version, None).unwrap_err().to_string().contains("v1alpha1"));
}

#[tokio::test]
async fn always_interactive_needs_a_terminal() {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        return; // only meaningful when tests run without a terminal (CI)
    }
    let plugin = Plugin::new();
    let mut config = plugin.config(API_V1, &[]);
    config.interactive_mode = Some("Always".into());
    let p = ExecCredentialProvider::new("alice", &config, None).unwrap();
    let msg = p.get().await.unwrap_err().to_string();
    assert!(msg.contains("not a terminal"), "{msg}");
    assert_eq!(plugin.runs(), 0);
}

#[tokio::test]
async fn provide_cluster_info_through_kubeconfig() {
    let plugin = Plugin::new();
    let kubeconfig = plugin.dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            r#"
current-context: c
clusters:
- name: k
  cluster:
    server: https://k.example:6443
    certificate-authority-data: Q0EtREFUQQ==
    tls-server-name: k.internal
    proxy-url: http://proxy.example:3128
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {{audience: my-aud}}
contexts:
- name: c
  context: {{cluster: k, user: u}}
- name: plain
  context: {{cluster: k, user: plain}}
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      args: [a1]
      env:
      - {{name: PLUGIN_API_VERSION, value: client.authentication.k8s.io/v1}}
      provideClusterInfo: true
      interactiveMode: Never
- name: plain
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: {}
      env:
      - {{name: PLUGIN_API_VERSION, value: client.authentication.k8s.io/v1beta1}}
"#,
            plugin.script.display()
        ),
    )
    .unwrap();
    let rules = ClientConfigLoadingRules::with_explicit_path(&kubeconfig);
    let config = DeferredLoadingClientConfig::new(rules.clone(), ConfigOverrides::default())
        .with_in_cluster(None)
        .client_config()
        .unwrap();
    let provider = config.credential_provider.clone().expect("exec provider set");
    assert_eq!(token(&provider.credential().await.unwrap()), "token-1");

    let info = plugin.exec_info();
    assert_eq!(info["apiVersion"], API_V1);
    assert_eq!(info["spec"]["interactive"], false);
    let cluster = &info["spec"]["cluster"];
    assert_eq!(cluster["server"], "https://k.example:6443");
    assert_eq!(cluster["certificate-authority-data"], "Q0EtREFUQQ==");
    assert_eq!(cluster["tls-server-name"], "k.internal");
    assert_eq!(cluster["proxy-url"], "http://proxy.example:3128");
    assert_eq!(cluster["config"]["audience"], "my-aud");
    assert!(cluster.get("insecure-skip-tls-verify").is_none());
    assert_eq!(std::fs::read_to_string(plugin.dir.path().join("args")).unwrap(), "a1");

    // Without provideClusterInfo the plugin still gets the spec, minus the cluster.
    let config = DeferredLoadingClientConfig::new(rules, ConfigOverrides::default().with_context("plain"))
        .with_in_cluster(None)
        .client_config()
        .unwrap();
    let provider = config.credential_provider.clone().unwrap();
    assert_eq!(token(&provider.credential().await.unwrap()), "token-2");
    let info = plugin.exec_info();
    assert_eq!(info["apiVersion"], API_V1BETA1);
    assert!(info["spec"].get("cluster").is_none(), "{info}");
}
