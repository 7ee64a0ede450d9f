//! An exec credential plugin against the server chosen by `FERROKUBE_TEST_SERVER`
//! (tests/support/cluster.rs: the embedded API server by default, or realkube): a 401
//! makes the client re-run the plugin exactly once and retry with the fresh token, the
//! way client-go's exec authenticator does after a credential is revoked.
#![cfg(feature = "exec")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex};

use ferrokube::tools::metrics::RequestMetrics;

use ferrokube::clientcmd::{load_from_str, ClientConfig, ConfigOverrides, DirectClientConfig};
use ferrokube::RESTClient;
use k8s_openapi::api::core::v1::Namespace;
use support::cluster::{ClusterOptions, TestCluster};

/// A plugin that answers a revoked token on its first run and the good one afterwards,
/// counting its runs.
const PLUGIN: &str = r#"#!/bin/sh
dir=$(dirname "$0")
count=$(cat "$dir/count" 2>/dev/null || echo 0)
count=$((count + 1))
echo "$count" > "$dir/count"
if [ "$count" -eq 1 ]; then token="revoked-token"; else token=$(cat "$dir/good-token"); fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}\n' "$token"
"#;

fn kubeconfig(server: &TestCluster, plugin: &std::path::Path) -> String {
    let ca = base64_encode(server.ca_pem().as_bytes());
    format!(
        r#"apiVersion: v1
kind: Config
current-context: exec
clusters:
- name: embedded
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: plugin-user
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: {plugin}
      interactiveMode: Never
contexts:
- name: exec
  context:
    cluster: embedded
    user: plugin-user
"#,
        server = server.url(),
        plugin = plugin.display()
    )
}

/// Records every exec plugin call reported to the request metrics.
#[derive(Default)]
struct PluginCalls(Mutex<Vec<(i32, String)>>);

impl RequestMetrics for PluginCalls {
    fn exec_plugin_call(&self, exit_code: i32, call_status: &str) {
        self.0.lock().unwrap().push((exit_code, call_status.to_owned()));
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_401_reruns_the_exec_plugin_once_and_retries() {
    let server = TestCluster::start(ClusterOptions::new("exec")).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let plugin = dir.path().join("plugin.sh");
    std::fs::write(&plugin, PLUGIN).expect("write plugin");
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(dir.path().join("good-token"), server.admin_token().expose()).expect("token");

    let raw = load_from_str(&kubeconfig(&server, &plugin), &dir.path().join("kubeconfig")).expect("kubeconfig parses");
    let mut config = DirectClientConfig::new(raw, ConfigOverrides::default()).client_config().expect("rest config");
    let calls = Arc::new(PluginCalls::default());
    config.metrics = Some(calls.clone());
    let client = RESTClient::new(&config).expect("client");

    let ns: Namespace = client
        .get()
        .group_version("", "v1")
        .resource("namespaces")
        .name("default")
        .into_object()
        .await
        .expect("the retry with the fresh token succeeds");
    assert_eq!(ns.metadata.name.as_deref(), Some("default"));
    let runs = std::fs::read_to_string(dir.path().join("count")).expect("count");
    assert_eq!(runs.trim(), "2", "the plugin ran once, got a 401, and ran exactly once more");

    // The fresh credential is cached: another request does not run the plugin again.
    let _: Namespace = client
        .get()
        .group_version("", "v1")
        .resource("namespaces")
        .name("kube-system")
        .into_object()
        .await
        .expect("second request");
    let runs = std::fs::read_to_string(dir.path().join("count")).expect("count");
    assert_eq!(runs.trim(), "2");
    // Each run was reported to the config's request metrics (client-go's ExecPluginCalls).
    assert_eq!(*calls.0.lock().unwrap(), vec![(0, "success".to_owned()), (0, "success".to_owned())]);
    server.shutdown().await;
}
