//! Integration tests of the transport over real HTTPS on loopback: CA verification,
//! client certificates (static and from a credential provider), bearer tokens, the
//! 401 re-authentication, ALPN, proxies, and secret redaction.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ferrokube::rest::{Error, RESTClient};
use ferrokube::secret::{SecretBytes, SecretString};
use ferrokube::transport::auth::{Credential, CredentialFuture, CredentialProvider};
use k8s_openapi::api::core::v1::Pod;
use support::*;

fn ok_pod(_: &Seen) -> Reply {
    Reply::json(200, pod_json("web-0", "7"))
}

#[tokio::test]
async fn ca_verification_passes_and_http2_is_negotiated() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), ok_pod).await;
    let client = RESTClient::new(&config_for(&server, &pki)).unwrap();
    let pod: Pod = client
        .get()
        .namespace("default")
        .resource("pods")
        .name("web-0")
        .send()
        .await
        .unwrap()
        .into_object()
        .await
        .unwrap();
    assert_eq!(pod.metadata.name.as_deref(), Some("web-0"));
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path_and_query, "/api/v1/namespaces/default/pods/web-0");
    assert_eq!(seen[0].version, http::Version::HTTP_2, "ALPN should pick h2");
    let ua = seen[0].headers[http::header::USER_AGENT].to_str().unwrap();
    assert!(ua.starts_with("ferrokube/"), "{ua}");
    assert_eq!(seen[0].headers[http::header::ACCEPT], "application/json");
}

#[tokio::test]
async fn http1_is_used_when_the_server_does_not_offer_h2() {
    let pki = Pki::new("test-ca");
    let mut tls = ServerTls::new(pki.server_cert());
    tls.alpn = vec![b"http/1.1".to_vec()];
    let server = start(Some(tls), ok_pod).await;
    let client = RESTClient::new(&config_for(&server, &pki)).unwrap();
    client.get().resource("pods").name("web-0").do_raw().await.unwrap();
    assert_eq!(server.requests()[0].version, http::Version::HTTP_11);
}

#[tokio::test]
async fn ca_from_file_and_server_name_override() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), ok_pod).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, pki.ca_pem()).unwrap();
    let mut cfg = config_for(&server, &pki);
    cfg.tls.ca_data = None;
    cfg.tls.ca_file = Some(ca);
    // Connect by IP but verify the certificate against a DNS name it carries.
    cfg.tls.server_name = Some("kubernetes.default.svc".into());
    let client = RESTClient::new(&cfg).unwrap();
    client.get().resource("pods").name("web-0").do_raw().await.unwrap();

    // A name the certificate does not carry fails verification.
    cfg.tls.server_name = Some("other.example".into());
    let err = RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}

#[tokio::test]
async fn wrong_ca_fails_with_a_clear_error() {
    let pki = Pki::new("test-ca");
    let other = Pki::new("other-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), ok_pod).await;
    let client = RESTClient::new(&config_for(&server, &other)).unwrap();
    let err = client.get().resource("pods").do_raw().await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Transport { .. }), "{msg}");
    assert!(msg.contains("certificate"), "{msg}");
    assert!(msg.contains("CA"), "{msg}");
    assert!(msg.contains(&format!("GET {}/api/v1/pods", server.url)), "{msg}");
    assert_eq!(server.count(), 0, "no request may pass a failed handshake");
}

#[tokio::test]
async fn insecure_skips_verification_only_when_asked() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), ok_pod).await;
    let mut cfg = config_for(&server, &pki);
    cfg.tls.ca_data = None;
    cfg.tls.insecure = true;
    RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap();
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn client_certificate_authentication() {
    let pki = Pki::new("test-ca");
    let client_ca = Pki::new("client-ca");
    let mut tls = ServerTls::new(pki.server_cert());
    tls.client_ca = Some(client_ca.ca_pem());
    tls.require_client_cert = true;
    let server = start(Some(tls), ok_pod).await;

    let user = client_ca.issue("jane", &[]);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("client.key");
    std::fs::write(&key_file, &user.key_pem).unwrap();
    let mut cfg = config_for(&server, &pki);
    cfg.tls.cert_data = Some(user.cert_pem.clone().into_bytes());
    cfg.tls.key_file = Some(key_file);
    RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap();
    assert_eq!(server.requests()[0].client_cert.as_deref(), Some(user.cert_der.as_slice()));

    // Without a certificate the server refuses the handshake.
    let err = RESTClient::new(&config_for(&server, &pki)).unwrap().get().resource("pods").do_raw().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(err.to_string().contains("client certificate"), "{err}");
    assert_eq!(server.count(), 1);

    // A certificate from another CA is refused too.
    let stranger = Pki::new("stranger").issue("mallory", &[]);
    let mut cfg = config_for(&server, &pki);
    cfg.tls.cert_data = Some(stranger.cert_pem.into_bytes());
    cfg.tls.key_data = Some(SecretBytes::new(stranger.key_pem.into_bytes()));
    assert!(RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.is_err());
    assert_eq!(server.count(), 1);
}

#[tokio::test]
async fn bad_client_key_is_a_config_error_without_key_material() {
    let pki = Pki::new("test-ca");
    let user = pki.issue("jane", &[]);
    let other = pki.issue("john", &[]);
    let mut cfg = ferrokube::Config::new("https://127.0.0.1:1");
    cfg.tls.ca_data = Some(pki.ca_pem().into_bytes());
    cfg.tls.cert_data = Some(user.cert_pem.into_bytes());
    cfg.tls.key_data = Some(SecretBytes::new(other.key_pem.clone().into_bytes()));
    let err = RESTClient::new(&cfg).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("client key"), "{msg}");
    let key_body: String = other.key_pem.lines().nth(1).unwrap().to_owned();
    assert!(!msg.contains(&key_body) && !format!("{err:?}").contains(&key_body));
}

fn bearer_only(token: &'static str) -> impl Fn(&Seen) -> Reply + Send + Sync + 'static {
    move |s: &Seen| {
        let want = format!("Bearer {token}");
        match s.headers.get(http::header::AUTHORIZATION) {
            Some(v) if v == want.as_str() => Reply::json(200, pod_json("web-0", "1")),
            _ => Reply::status_error(401, "Unauthorized", "Unauthorized"),
        }
    }
}

#[tokio::test]
async fn bearer_token_and_redaction() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), bearer_only("good-token-4711")).await;
    let mut cfg = config_for(&server, &pki);
    cfg.bearer_token = Some(SecretString::new("good-token-4711"));
    let client = RESTClient::new(&cfg).unwrap();
    client.get().resource("pods").name("web-0").do_raw().await.unwrap();
    assert!(!format!("{cfg:?}").contains("good-token-4711"));
    assert!(!format!("{client:?}").contains("good-token-4711"));

    // A rejected token: the error says 401 but never shows the token.
    let secret = "supersecret-token-xyz";
    let mut cfg = config_for(&server, &pki);
    cfg.bearer_token = Some(SecretString::new(secret));
    cfg.password = None;
    let client = RESTClient::new(&cfg).unwrap();
    let err = client.get().resource("pods").name("web-0").param("labelSelector", "a=b").do_raw().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    for text in [err.to_string(), format!("{err:?}"), format!("{cfg:?}"), format!("{client:?}")] {
        assert!(!text.contains(secret), "secret leaked: {text}");
    }
    assert!(!err.to_string().contains("labelSelector"), "query strings are left out of errors");
}

#[tokio::test]
async fn token_file_is_used() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), bearer_only("from-file")).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "from-file\n").unwrap();
    let mut cfg = config_for(&server, &pki);
    cfg.bearer_token_file = Some(path);
    RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap();
}

/// Hands out `tokens[i]` where i counts invalidations; records calls.
struct RotatingProvider {
    tokens: Vec<&'static str>,
    generation: AtomicUsize,
    calls: AtomicUsize,
    invalidations: AtomicUsize,
    cert: Mutex<Option<(Vec<u8>, SecretBytes)>>,
}

impl RotatingProvider {
    fn new(tokens: Vec<&'static str>) -> Arc<Self> {
        Arc::new(RotatingProvider {
            tokens,
            generation: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
            invalidations: AtomicUsize::new(0),
            cert: Mutex::new(None),
        })
    }
}

impl CredentialProvider for RotatingProvider {
    fn credential(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let g = self.generation.load(Ordering::SeqCst).min(self.tokens.len() - 1);
            Ok(Credential {
                token: Some(SecretString::new(self.tokens[g])),
                client_certificate: self.cert.lock().unwrap().clone(),
            })
        })
    }
    fn invalidate(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn unauthorized_invalidates_the_provider_and_retries_once() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), bearer_only("fresh")).await;
    let provider = RotatingProvider::new(vec!["stale", "fresh"]);
    let mut cfg = config_for(&server, &pki);
    cfg.credential_provider = Some(provider.clone());
    let client = RESTClient::new(&cfg).unwrap();
    client.get().resource("pods").name("web-0").do_raw().await.unwrap();
    assert_eq!(provider.invalidations.load(Ordering::SeqCst), 1);
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.count(), 2);
    let auths: Vec<_> = server.requests().iter().map(|s| s.headers[http::header::AUTHORIZATION].clone()).collect();
    assert_eq!(auths, ["Bearer stale", "Bearer fresh"]);

    // A provider whose credentials are always rejected: exactly one re-run, then the 401.
    let provider = RotatingProvider::new(vec!["bad-1", "bad-2", "bad-3"]);
    let mut cfg = config_for(&server, &pki);
    cfg.credential_provider = Some(provider.clone());
    let err = RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.count(), 4);
    assert!(!format!("{err} {err:?}").contains("bad-"), "{err}");
}

#[tokio::test]
async fn client_certificate_from_a_credential_provider() {
    let pki = Pki::new("test-ca");
    let mut tls = ServerTls::new(pki.server_cert());
    tls.client_ca = Some(pki.ca_pem());
    tls.require_client_cert = true;
    let server = start(Some(tls), ok_pod).await;
    let user = pki.issue("exec-user", &[]);
    let provider = RotatingProvider::new(vec![""]);
    *provider.cert.lock().unwrap() =
        Some((user.cert_pem.clone().into_bytes(), SecretBytes::new(user.key_pem.clone().into_bytes())));
    let mut cfg = config_for(&server, &pki);
    cfg.credential_provider = Some(provider.clone());
    RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap();
    let seen = server.requests();
    assert_eq!(seen[0].client_cert.as_deref(), Some(user.cert_der.as_slice()));
    assert!(seen[0].headers.get(http::header::AUTHORIZATION).is_none(), "an empty token is not sent");
}

#[tokio::test]
async fn impersonation_headers_reach_the_server() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), ok_pod).await;
    let mut cfg = config_for(&server, &pki);
    cfg.impersonate.user_name = Some("system:serviceaccount:ns:sa".into());
    cfg.impersonate.uid = Some("1234".into());
    cfg.impersonate.groups = vec!["g1".into(), "g2".into()];
    cfg.impersonate.extra.insert("acme.com/project".into(), vec!["p1".into()]);
    RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap();
    let h = &server.requests()[0].headers;
    assert_eq!(h["impersonate-user"], "system:serviceaccount:ns:sa");
    assert_eq!(h["impersonate-uid"], "1234");
    let groups: Vec<_> = h.get_all("impersonate-group").iter().collect();
    assert_eq!(groups, ["g1", "g2"]);
    assert_eq!(h["impersonate-extra-acme.com%2fproject"], "p1");
}

#[tokio::test]
async fn requests_go_through_an_http_connect_proxy() {
    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), ok_pod).await;
    let proxy = start_connect_proxy().await;
    let mut cfg = config_for(&server, &pki);
    cfg.proxy_url = Some(proxy.url.clone());
    let client = RESTClient::new(&cfg).unwrap();
    client.get().resource("pods").do_raw().await.unwrap();
    client.get().resource("pods").do_raw().await.unwrap();
    assert_eq!(server.count(), 2);
    let tunnels = proxy.tunnels.lock().unwrap().clone();
    assert_eq!(tunnels, vec![server.addr.to_string()], "one pooled tunnel for both requests");
}

/// Hands out certificate `certs[i]` where i counts invalidations.
struct CertRotator {
    certs: Vec<CertKey>,
    generation: AtomicUsize,
}

impl CredentialProvider for CertRotator {
    fn credential(&self) -> CredentialFuture<'_> {
        Box::pin(async move {
            let c = &self.certs[self.generation.load(Ordering::SeqCst).min(self.certs.len() - 1)];
            Ok(Credential {
                token: None,
                client_certificate: Some((
                    c.cert_pem.clone().into_bytes(),
                    SecretBytes::new(c.key_pem.clone().into_bytes()),
                )),
            })
        })
    }
    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn rotated_client_certificate_gets_new_connections() {
    let pki = Pki::new("test-ca");
    let old = pki.issue("old", &[]);
    let new = pki.issue("new", &[]);
    let mut tls = ServerTls::new(pki.server_cert());
    tls.client_ca = Some(pki.ca_pem());
    tls.require_client_cert = true;
    let accepted = new.cert_der.clone();
    let server = start(Some(tls), move |s: &Seen| {
        if s.client_cert.as_deref() == Some(accepted.as_slice()) {
            Reply::json(200, pod_json("p", "1"))
        } else {
            Reply::status_error(401, "Unauthorized", "certificate revoked")
        }
    })
    .await;
    let provider = Arc::new(CertRotator { certs: vec![old.clone(), new.clone()], generation: AtomicUsize::new(0) });
    let mut cfg = config_for(&server, &pki);
    cfg.credential_provider = Some(provider);
    let client = RESTClient::new(&cfg).unwrap();
    client.get().resource("pods").do_raw().await.unwrap();
    let certs: Vec<_> = server.requests().into_iter().map(|s| s.client_cert.unwrap()).collect();
    assert_eq!(certs, vec![old.cert_der, new.cert_der]);
}

#[tokio::test]
async fn logs_never_contain_secrets_and_throttling_is_logged() {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let pki = Pki::new("test-ca");
    let server = start(Some(ServerTls::new(pki.server_cert())), bearer_only("fresh-token-0042")).await;
    let provider = RotatingProvider::new(vec!["stale-token-0041", "fresh-token-0042"]);
    let mut cfg = config_for(&server, &pki);
    cfg.credential_provider = Some(provider);
    cfg.qps = 2.0;
    cfg.burst = 1;
    let client = RESTClient::new(&cfg).unwrap();
    client.get().resource("pods").do_raw().await.unwrap();
    let mut cfg = config_for(&server, &pki);
    cfg.bearer_token = Some(SecretString::new("wrong-token-0043"));
    let _ = RESTClient::new(&cfg).unwrap().get().resource("pods").do_raw().await.unwrap_err();

    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.is_empty());
    for secret in ["stale-token-0041", "fresh-token-0042", "wrong-token-0043"] {
        assert!(!logs.contains(secret), "{secret} leaked into logs");
    }
    // The re-authenticated attempt went through a 1-burst, 2-qps bucket: it waited
    // up to 500 ms, well above the 50 ms logging threshold.
    assert!(logs.contains("due to client-side throttling, not priority and fairness, request: GET:https://"), "{logs}");
}

/// Runs `openssl` in `dir` (the tool users make Kubernetes client certificates with).
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running openssl {args:?}: {e} (the test needs the openssl command)"));
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`<name>.crt`/`.key`, v3) and, signed by it with `openssl x509 -req` and no
/// extensions, a version 1 certificate per user (`<user>.crt`/`.key`; subject CN =
/// user, O = group).
fn openssl_v1_users(dir: &std::path::Path, ca: &str, users: &[(&str, &str, &str)]) {
    let (crt, key) = (format!("{ca}.crt"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-subj",
            &format!("/CN={ca}"),
            "-days",
            "2",
        ],
    );
    for (user, group, key_kind) in users {
        let (ukey, csr, ucrt) = (format!("{user}.key"), format!("{user}.csr"), format!("{user}.crt"));
        let subject = format!("/CN={user}/O={group}");
        let mut req = vec!["req", "-new", "-newkey", key_kind];
        if key_kind.starts_with("ec") {
            req.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
        }
        req.extend(["-nodes", "-keyout", &ukey, "-out", &csr, "-subj", &subject]);
        openssl(dir, &req);
        openssl(
            dir,
            &["x509", "-req", "-in", &csr, "-CA", &crt, "-CAkey", &key, "-CAcreateserial", "-out", &ucrt, "-days", "1"],
        );
    }
}

/// X.509 v1 client certificates, as `openssl x509 -req` makes them: the client presents
/// them (ECDSA and RSA keys) and the embedded server takes the user from CN and the groups
/// from O, as kube-apiserver does; the chain is still verified (a v1 certificate of
/// another CA fails the handshake) and a key that does not fit its certificate is refused
/// when the client is built.
#[tokio::test]
async fn x509_v1_client_certificates_made_by_openssl() {
    use ferrokube::kubernetes::Clientset;
    use ferrokube::rest::CreateOptions;
    use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;

    let dir = tempfile::tempdir().unwrap();
    openssl_v1_users(dir.path(), "team-ca", &[("jane", "dev", "ec"), ("bob", "ops", "rsa:2048")]);
    openssl_v1_users(dir.path(), "other-ca", &[("mallory", "dev", "ec")]);
    let read = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
    let jane = read("jane.crt");
    assert_eq!(x509_version(&jane), 1, "openssl x509 -req without extensions makes a version 1 certificate");

    let options = ServerOptions {
        controllers: false,
        client_ca_file: Some(dir.path().join("team-ca.crt")),
        ..ServerOptions::default()
    };
    let server = EmbeddedServer::start(options).await.expect("the embedded server starts");
    let config_for_user = |user: &str, key_of: &str| {
        let mut c = ferrokube::rest::Config::new(server.url());
        c.tls.ca_data = Some(server.ca_certificate_pem().as_bytes().to_vec());
        c.tls.cert_data = Some(read(&format!("{user}.crt")));
        c.tls.key_data = Some(SecretBytes::new(read(&format!("{key_of}.key"))));
        c
    };
    for (user, group) in [("jane", "dev"), ("bob", "ops")] {
        let cs = Clientset::new(&config_for_user(user, user)).expect("a client with a v1 certificate");
        let review = cs
            .authentication_v1()
            .self_subject_reviews()
            .create(&SelfSubjectReview::default(), &CreateOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{user}'s request with a v1 certificate: {e}"));
        let info = review.status.and_then(|s| s.user_info).expect("userInfo");
        assert_eq!(info.username.as_deref(), Some(user));
        let groups = info.groups.unwrap_or_default();
        assert!(groups.iter().any(|g| g == group) && groups.iter().any(|g| g == "system:authenticated"), "{groups:?}");
    }

    let cs = Clientset::new(&config_for_user("mallory", "mallory")).unwrap();
    let refused = cs
        .authentication_v1()
        .self_subject_reviews()
        .create(&SelfSubjectReview::default(), &CreateOptions::default())
        .await;
    let err = refused.expect_err("a v1 certificate of a CA the server does not trust");
    assert!(err.status().is_none(), "refused at the TLS handshake, not by a Status: {err}");

    let err = RESTClient::new(&config_for_user("jane", "bob")).expect_err("jane's certificate with bob's key");
    assert!(matches!(err, Error::Config(_)) && err.to_string().contains("client key"), "{err}");
    server.shutdown().await;
}

/// The version field of a DER-in-PEM certificate, read with the same reader the client uses.
fn x509_version(pem: &[u8]) -> u8 {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pem).expect("a PEM certificate");
    ferrokube_apimachinery::x509::Certificate::parse(&der).expect("a readable certificate").version
}
