//! Authentication over real HTTPS: anonymous, tokens (generated admin and
//! --token-auth-file), client certificates (generated client CA and --client-ca-file),
//! certificates from an unknown CA.

mod server_support;

use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use server_support::{assert_status, Client};

#[tokio::test]
async fn anonymous_requests_are_authorized_as_system_anonymous_and_unknown_tokens_get_401() {
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let client = Client::new(&server);
    let anon = client.clone().anonymous();
    // As kube-apiserver with --anonymous-auth (the default): RBAC refuses what
    // system:public-info-viewer does not allow.
    let r = anon.get("/api/v1").await;
    assert_status(&r, 403, "Forbidden");
    assert_eq!(r.json()["message"], r#"forbidden: User "system:anonymous" cannot get path "/api/v1""#);
    let r = anon.get("/api/v1/namespaces/default/pods").await;
    assert_status(&r, 403, "Forbidden");
    assert_eq!(
        r.json()["message"],
        r#"pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(anon.get("/version").await.status, 200);
    assert_status(&client.clone().with_token("not-a-token").get("/apis").await, 401, "Unauthorized");
    assert_status(&client.clone().with_token("not-a-token").get("/version").await, 401, "Unauthorized");
    assert_eq!(client.get("/api/v1").await.status, 200);
    // The token never shows in Debug.
    let token = server.admin_token().expose().to_owned();
    assert!(!format!("{server:?}").contains(&token));
    assert!(!format!("{:?}", server.admin_token()).contains(&token));
    server.shutdown().await;

    // --anonymous-auth=false: no credentials, no entry, even to /version.
    let server =
        EmbeddedServer::start(ServerOptions { anonymous_auth: false, ..ServerOptions::default() }).await.unwrap();
    let anon = Client::new(&server).anonymous();
    for path in ["/api/v1", "/version", "/healthz"] {
        let r = anon.get(path).await;
        assert_status(&r, 401, "Unauthorized");
        assert_eq!(r.json()["message"], "Unauthorized");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn client_certificates() {
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let client = Client::new(&server);
    let (cert, key) = server.issue_client_certificate("jane", &["dev"]).unwrap();
    let r = client.clone().with_cert(&cert, &key).get("/api/v1").await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let (cert, key) = server.admin_client_certificate();
    assert_eq!(client.clone().with_cert(cert, key).get("/apis").await.status, 200);

    // A certificate from a CA the server does not trust: the handshake fails (or 401).
    let other = ferrokube_apiserver::tls::CertAuthority::generate("other-ca").unwrap();
    let (cert, key) = other.issue_client("mallory", &["system:masters"]).unwrap();
    match client.clone().with_cert(&cert, &key).request(http::Method::GET, "/api/v1", &[], bytes::Bytes::new()).await {
        Err(_) => {}
        Ok(r) => assert_status(&r, 401, "Unauthorized"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn token_file_and_client_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "tok-alice,alice,1001,\"dev,ops\"\ntok-bob,bob,1002\n").unwrap();
    let ca = ferrokube_apiserver::tls::CertAuthority::generate("corp-ca").unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let options =
        ServerOptions { token_auth_file: Some(tokens), client_ca_file: Some(ca_file), ..ServerOptions::default() };
    let server = EmbeddedServer::start(options).await.unwrap();
    let client = Client::new(&server);
    assert_eq!(client.clone().with_token("tok-alice").get("/api/v1").await.status, 200);
    assert_eq!(client.clone().with_token("tok-bob").get("/api/v1").await.status, 200);
    assert_status(&client.clone().with_token("tok-carol").get("/api/v1").await, 401, "Unauthorized");
    let (cert, key) = ca.issue_client("carol", &["corp"]).unwrap();
    assert_eq!(client.clone().with_cert(&cert, &key).get("/api/v1").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_files_fail_start_naming_flag_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "tok,alice,1\nbroken-line\n").unwrap();
    let err = EmbeddedServer::start(ServerOptions { token_auth_file: Some(tokens.clone()), ..Default::default() })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--token-auth-file") && err.contains("tokens.csv") && err.contains("line 2"), "{err}");

    let missing = dir.path().join("missing.pem");
    let err = EmbeddedServer::start(ServerOptions { client_ca_file: Some(missing), ..Default::default() })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--client-ca-file") && err.contains("missing.pem"), "{err}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not pem").unwrap();
    let err = EmbeddedServer::start(ServerOptions {
        tls_cert_file: Some(garbage.clone()),
        tls_private_key_file: Some(garbage),
        ..Default::default()
    })
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("--tls-cert-file") && err.contains("garbage.pem"), "{err}");
}

#[tokio::test]
async fn given_serving_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ferrokube_apiserver::tls::CertAuthority::generate("my-ca").unwrap();
    let (cert, key) = ca.issue_serving(&["localhost".into()]).unwrap();
    let (cert_file, key_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_file, format!("{cert}{}", ca.cert_pem())).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let server = EmbeddedServer::start(ServerOptions {
        tls_cert_file: Some(cert_file),
        tls_private_key_file: Some(key_file),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut client = Client::new(&server);
    client.ca_pem = ca.cert_pem().to_owned();
    assert_eq!(client.get("/version").await.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn kubeconfig_embeds_ca_and_credentials() {
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let yaml = server.kubeconfig_yaml();
    let v: serde_json::Value = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(v["current-context"], "ferrokube");
    assert_eq!(v["clusters"][0]["name"], "ferrokube");
    assert_eq!(v["clusters"][0]["cluster"]["server"], server.url());
    assert!(v["clusters"][0]["cluster"]["certificate-authority-data"].as_str().is_some());
    assert_eq!(v["users"][0]["user"]["token"], server.admin_token().expose());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    server.write_kubeconfig(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), yaml);
    server.shutdown().await;
}

#[tokio::test]
async fn service_account_tokens_and_reviews() {
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let client = Client::new(&server);
    let r = client
        .post_json("/api/v1/namespaces/default/serviceaccounts", &serde_json::json!({"metadata": {"name": "builder"}}))
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = client
        .post_json(
            "/api/v1/namespaces/default/serviceaccounts/builder/token",
            &serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let answer = r.json();
    assert_eq!(answer["kind"], "TokenRequest");
    let token = answer["status"]["token"].as_str().unwrap().to_owned();
    assert_status(
        &client.post_json("/api/v1/namespaces/default/serviceaccounts/nobody/token", &serde_json::json!({})).await,
        404,
        "NotFound",
    );

    // The token authenticates as the service account (kubectl auth whoami).
    let sa = client.clone().with_token(&token);
    let who = sa
        .post_json(
            "/apis/authentication.k8s.io/v1/selfsubjectreviews",
            &serde_json::json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
        )
        .await;
    assert_eq!(who.status, 201);
    let who = who.json();
    assert_eq!(who["status"]["userInfo"]["username"], "system:serviceaccount:default:builder");
    let groups = who["status"]["userInfo"]["groups"].as_array().unwrap().clone();
    assert!(groups.contains(&serde_json::json!("system:serviceaccounts:default")));
    assert!(groups.contains(&serde_json::json!("system:authenticated")));

    // kubectl auth can-i: allowed (no RBAC).
    let can = client
        .post_json(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &serde_json::json!({"spec": {"resourceAttributes": {"verb": "delete", "resource": "pods"}}}),
        )
        .await
        .json();
    assert_eq!(can["status"]["allowed"], true);
    server.shutdown().await;
}
