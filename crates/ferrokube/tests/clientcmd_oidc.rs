//! The `oidc` auth provider against a small identity provider served over plain HTTP on
//! loopback: discovery, refresh-token grant, and the new tokens written back to the
//! kubeconfig file the user came from.
#![cfg(feature = "oidc")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response};

use ferrokube::clientcmd::{ClientConfig, ClientConfigLoadingRules, ConfigOverrides, DeferredLoadingClientConfig};

fn jwt(exp: i64, sub: &str) -> String {
    let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!("{}.{}.c2ln", enc(r#"{"alg":"RS256"}"#), enc(&format!(r#"{{"exp":{exp},"sub":"{sub}"}}"#)))
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[derive(Default)]
struct Idp {
    token_requests: Vec<String>,
    discovery_requests: usize,
}

/// Serves discovery and a token endpoint that trades `old-refresh` for a fresh id-token
/// and `new-refresh`. Returns the issuer URL.
async fn start_idp(state: Arc<Mutex<Idp>>, new_id_token: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let base = issuer.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let state = state.clone();
            let base = base.clone();
            let new_id_token = new_id_token.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let state = state.clone();
                    let base = base.clone();
                    let new_id_token = new_id_token.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let (status, json) = match path.as_str() {
                            "/.well-known/openid-configuration" => {
                                state.lock().unwrap().discovery_requests += 1;
                                (200, serde_json::json!({"issuer": base, "token_endpoint": format!("{base}/token")}))
                            }
                            "/token" => {
                                let form = String::from_utf8(body.to_vec()).unwrap();
                                state.lock().unwrap().token_requests.push(form.clone());
                                if form.contains("refresh_token=old-refresh") {
                                    (
                                        200,
                                        serde_json::json!({"id_token": new_id_token, "refresh_token": "new-refresh", "token_type": "Bearer"}),
                                    )
                                } else {
                                    (400, serde_json::json!({"error": "invalid_grant"}))
                                }
                            }
                            _ => (404, serde_json::json!({})),
                        };
                        let response = Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from(json.to_string())))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    issuer
}

fn kubeconfig(issuer: &str, id_token: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Config
current-context: c
preferences: {{}}
clusters:
- name: k
  cluster:
    server: https://k.example:6443
    insecure-skip-tls-verify: true
contexts:
- name: c
  context: {{cluster: k, user: oidc-user, namespace: team}}
users:
- name: other
  user: {{token: other-token}}
- name: oidc-user
  user:
    auth-provider:
      name: oidc
      config:
        idp-issuer-url: {issuer}
        client-id: kubernetes
        client-secret: client-secret-value
        id-token: {id_token}
        refresh-token: old-refresh
        extra-scopes: groups
"#
    )
}

#[tokio::test]
async fn unexpired_id_token_is_used_without_contacting_the_idp() {
    let state = Arc::new(Mutex::new(Idp::default()));
    let issuer = start_idp(state.clone(), jwt(now() + 3600, "new")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let current = jwt(now() + 3600, "current");
    std::fs::write(&path, kubeconfig(&issuer, &current)).unwrap();

    let config = DeferredLoadingClientConfig::new(
        ClientConfigLoadingRules::with_explicit_path(&path),
        ConfigOverrides::default(),
    )
    .with_in_cluster(None)
    .client_config()
    .unwrap();
    let provider = config.credential_provider.clone().unwrap();
    let cred = provider.credential().await.unwrap();
    assert_eq!(cred.token.unwrap().expose(), current);
    assert_eq!(state.lock().unwrap().discovery_requests, 0);
    assert!(state.lock().unwrap().token_requests.is_empty());
    assert!(!format!("{config:?}").contains(&current));

    // After a 401 the provider refreshes even though `exp` is in the future.
    provider.invalidate();
    let cred = provider.credential().await.unwrap();
    assert_eq!(cred.token.unwrap().expose(), jwt_sub_token(&state, &path));
}

/// The id-token now stored in the file (and checks one refresh happened).
fn jwt_sub_token(state: &Arc<Mutex<Idp>>, path: &std::path::Path) -> String {
    assert_eq!(state.lock().unwrap().token_requests.len(), 1);
    let raw = ferrokube::clientcmd::load_from_file(path).unwrap();
    raw.auth_info("oidc-user").unwrap().auth_provider.as_ref().unwrap().config["id-token"].clone()
}

#[tokio::test]
async fn expired_id_token_is_refreshed_and_persisted() {
    let state = Arc::new(Mutex::new(Idp::default()));
    let new_token = jwt(now() + 3600, "refreshed");
    let issuer = start_idp(state.clone(), new_token.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let expired = jwt(now() - 60, "expired");
    std::fs::write(&path, kubeconfig(&issuer, &expired)).unwrap();

    let config = DeferredLoadingClientConfig::new(
        ClientConfigLoadingRules::with_explicit_path(&path),
        ConfigOverrides::default(),
    )
    .with_in_cluster(None)
    .client_config()
    .unwrap();
    let provider = config.credential_provider.clone().unwrap();
    let cred = provider.credential().await.unwrap();
    assert_eq!(cred.token.unwrap().expose(), new_token);
    // Second call: the refreshed token is still valid, no new exchange.
    let cred = provider.credential().await.unwrap();
    assert_eq!(cred.token.unwrap().expose(), new_token);
    {
        let s = state.lock().unwrap();
        assert_eq!(s.discovery_requests, 1);
        assert_eq!(s.token_requests.len(), 1);
        let form = &s.token_requests[0];
        for part in [
            "grant_type=refresh_token",
            "refresh_token=old-refresh",
            "client_id=kubernetes",
            "client_secret=client-secret-value",
        ] {
            assert!(form.contains(part), "{part} missing from {form}");
        }
    }

    // The kubeconfig now holds the new tokens; everything else is still there.
    let raw = ferrokube::clientcmd::load_from_file(&path).unwrap();
    let user = raw.auth_info("oidc-user").unwrap();
    let cfg = &user.auth_provider.as_ref().unwrap().config;
    assert_eq!(cfg["id-token"], new_token);
    assert_eq!(cfg["refresh-token"], "new-refresh");
    assert_eq!(cfg["client-id"], "kubernetes");
    assert_eq!(cfg["extra-scopes"], "groups");
    assert_eq!(raw.current_context, "c");
    assert_eq!(raw.context("c").unwrap().namespace, "team");
    assert_eq!(raw.auth_info("other").unwrap().token.as_ref().unwrap().expose(), "other-token");
    assert!(raw.cluster("k").unwrap().insecure_skip_tls_verify);
}

#[tokio::test]
async fn failed_refresh_is_a_clear_error_without_secrets() {
    let state = Arc::new(Mutex::new(Idp::default()));
    let issuer = start_idp(state.clone(), jwt(now() + 3600, "x")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    let text = kubeconfig(&issuer, &jwt(now() - 60, "expired")).replace("old-refresh", "revoked-refresh");
    std::fs::write(&path, &text).unwrap();
    let config = DeferredLoadingClientConfig::new(
        ClientConfigLoadingRules::with_explicit_path(&path),
        ConfigOverrides::default(),
    )
    .with_in_cluster(None)
    .client_config()
    .unwrap();
    let err = config.credential_provider.clone().unwrap().credential().await.unwrap_err().to_string();
    assert!(err.contains("oidc-user") && err.contains("400") && err.contains("invalid_grant"), "{err}");
    assert!(!err.contains("revoked-refresh") && !err.contains("client-secret-value"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "file untouched on failure");
}
