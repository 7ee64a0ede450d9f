//! RBAC over real HTTPS: non-admin users (token file, service account) are refused
//! with kube-apiserver's 403 until a binding grants them; aggregated ClusterRoles
//! follow labelled roles; impersonation needs the `impersonate` verb (or constrained
//! impersonation's); the self
//! reviews answer from the same rules; AlwaysAllow allows everyone.

mod server_support;

use std::time::Duration;

use bytes::Bytes;
use ferrokube_apiserver::AuthorizationMode;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use http::Method;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use server_support::{assert_status, Client, Resp};

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// A server whose token file knows `bob` (no groups) and `carol` (group `dev`).
async fn start(mode: AuthorizationMode) -> (EmbeddedServer, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(&tokens, "tok-bob,bob,1001\ntok-carol,carol,1002,dev\n").unwrap();
    let options = ServerOptions {
        token_auth_file: Some(tokens),
        controllers: false,
        authorization_mode: mode,
        ..ServerOptions::default()
    };
    let server = EmbeddedServer::start(options).await.unwrap();
    let admin = Client::new(&server);
    (server, admin, dir)
}

async fn create(admin: &Client, path: &str, body: Value) -> Value {
    let r = admin.post_json(path, &body).await;
    assert_eq!(r.status, 201, "POST {path}: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

async fn send(c: &Client, method: Method, path: &str, headers: &[(&str, &str)]) -> Resp {
    c.request(method, path, headers, Bytes::new()).await.unwrap()
}

fn assert_forbidden(r: &Resp, message: &str) {
    assert_status(r, 403, "Forbidden");
    assert_eq!(r.json()["message"], message);
}

#[tokio::test]
async fn denied_with_kubes_message_until_a_binding_allows() {
    let (server, admin, _dir) = start(AuthorizationMode::Rbac).await;
    let bob = admin.clone().with_token("tok-bob");
    create(&admin, "/api/v1/namespaces", json!({"metadata": {"name": "x"}})).await;

    let r = send(&bob, Method::DELETE, "/api/v1/namespaces/x/pods/y", &[]).await;
    assert_forbidden(
        &r,
        r#"pods "y" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "x""#,
    );
    assert_eq!(r.json()["details"], json!({"name": "y", "kind": "pods"}));
    assert_forbidden(
        &bob.get("/api/v1/nodes").await,
        r#"nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope"#,
    );
    assert_forbidden(
        &bob.get("/apis/apps/v1/namespaces/x/deployments?watch=true").await,
        r#"deployments.apps is forbidden: User "bob" cannot watch resource "deployments" in API group "apps" in the namespace "x""#,
    );
    assert_forbidden(
        &bob.get("/api/v1/namespaces/x/pods/y/log").await,
        r#"pods "y" is forbidden: User "bob" cannot get resource "pods/log" in API group "" in the namespace "x""#,
    );
    // Unknown resources are refused before they are looked up, as on a cluster.
    assert_forbidden(
        &bob.get("/apis/nosuch.io/v1/foos").await,
        r#"foos.nosuch.io is forbidden: User "bob" cannot list resource "foos" in API group "nosuch.io" at the cluster scope"#,
    );
    assert_forbidden(&bob.get("/metrics").await, r#"forbidden: User "bob" cannot get path "/metrics""#);
    // Discovery, /version and health: system:discovery for every authenticated user.
    for path in ["/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/healthz", "/openapi/v2"] {
        assert_eq!(bob.get(path).await.status, 200, "{path}");
    }

    create(
        &admin,
        &format!("{RBAC}/namespaces/x/roles"),
        json!({"metadata": {"name": "pod-reader"}, "rules": [
            {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]}),
    )
    .await;
    create(
        &admin,
        &format!("{RBAC}/namespaces/x/rolebindings"),
        json!({"metadata": {"name": "bob-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "bob"}]}),
    )
    .await;
    assert_eq!(bob.get("/api/v1/namespaces/x/pods").await.status, 200);
    assert_status(&bob.get("/api/v1/namespaces/x/pods/y").await, 404, "NotFound");
    assert_forbidden(
        &send(&bob, Method::DELETE, "/api/v1/namespaces/x/pods/y", &[]).await,
        r#"pods "y" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "x""#,
    );
    assert_status(&bob.get("/api/v1/namespaces/default/pods").await, 403, "Forbidden");
    // Another user gains nothing from bob's binding.
    assert_status(&admin.clone().with_token("tok-carol").get("/api/v1/namespaces/x/pods").await, 403, "Forbidden");

    // A binding to a role that does not exist: the denial names it.
    create(
        &admin,
        &format!("{RBAC}/namespaces/x/rolebindings"),
        json!({"metadata": {"name": "dangling"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "nope"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
    )
    .await;
    let r = bob.get("/api/v1/namespaces/x/secrets").await;
    assert!(
        r.json()["message"].as_str().unwrap().ends_with(r#": RBAC: role.rbac.authorization.k8s.io "nope" not found"#),
        "{}",
        r.json()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn service_accounts_get_what_their_bindings_grant() {
    let (server, admin, _dir) = start(AuthorizationMode::Rbac).await;
    create(&admin, "/api/v1/namespaces/default/serviceaccounts", json!({"metadata": {"name": "builder"}})).await;
    let token = create(&admin, "/api/v1/namespaces/default/serviceaccounts/builder/token", json!({"spec": {}})).await;
    let sa = admin.clone().with_token(token["status"]["token"].as_str().unwrap());
    assert_forbidden(
        &sa.get("/api/v1/namespaces/default/secrets").await,
        r#"secrets is forbidden: User "system:serviceaccount:default:builder" cannot list resource "secrets" in API group "" in the namespace "default""#,
    );
    // The built-in `view` role, bound in the namespace to the account.
    create(
        &admin,
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata": {"name": "builder-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": "default"}]}),
    )
    .await;
    assert_eq!(sa.get("/api/v1/namespaces/default/configmaps").await.status, 200);
    let review = sa
        .post_json(
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            &json!({"spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "resource": "configmaps"}}}),
        )
        .await
        .json();
    assert_eq!(
        review["status"]["reason"],
        r#"RBAC: allowed by RoleBinding "builder-view/default" of ClusterRole "view" to ServiceAccount "builder/default""#
    );
    assert_eq!(sa.get("/apis/apps/v1/namespaces/default/deployments").await.status, 200);
    assert_status(&sa.get("/api/v1/namespaces/default/secrets").await, 403, "Forbidden");
    assert_status(&sa.get("/api/v1/namespaces/kube-system/configmaps").await, 403, "Forbidden");
    // A group binding: every service account of the namespace.
    create(
        &admin,
        &format!("{RBAC}/clusterrolebindings"),
        json!({"metadata": {"name": "default-sas-list-nodes"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:node-proxier"},
            "subjects": [{"kind": "Group", "name": "system:serviceaccounts:default"}]}),
    )
    .await;
    assert_eq!(sa.get("/api/v1/nodes").await.status, 200);
    server.shutdown().await;
}

/// Read a watch of ClusterRole `name` until an object satisfies `done`.
async fn watch_role_until(admin: &Client, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("{RBAC}/clusterroles?watch=true&fieldSelector=metadata.name%3D{name}");
    let (resp, _) = admin.send(Method::GET, &path, &[], Bytes::new()).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    let read = async {
        loop {
            let frame = body.frame().await.expect("the watch ended").unwrap();
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
            }
            while let Some(end) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                let event: Value = serde_json::from_slice(&line).unwrap();
                if done(&event["object"]) {
                    return event["object"].clone();
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.expect("the role was never aggregated")
}

fn grants_secrets(role: &Value) -> bool {
    role["rules"].as_array().is_some_and(|rules| rules.iter().any(|r| r["resources"] == json!(["secrets"])))
}

#[tokio::test]
async fn aggregated_cluster_roles_follow_labelled_roles() {
    let (server, admin, _dir) = start(AuthorizationMode::Rbac).await;
    let bob = admin.clone().with_token("tok-bob");
    create(
        &admin,
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata": {"name": "bob-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
    )
    .await;
    assert_eq!(bob.get("/api/v1/namespaces/default/pods").await.status, 200);
    assert_status(&bob.get("/api/v1/namespaces/default/secrets").await, 403, "Forbidden");

    // A role labelled to aggregate into `view` (and, through `view`, `edit` and `admin`).
    create(
        &admin,
        &format!("{RBAC}/clusterroles"),
        json!({"metadata": {"name": "secret-reader", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]}),
    )
    .await;
    watch_role_until(&admin, "view", grants_secrets).await;
    watch_role_until(&admin, "admin", grants_secrets).await;
    assert_eq!(bob.get("/api/v1/namespaces/default/secrets").await.status, 200);

    // A new aggregated role of one's own.
    create(
        &admin,
        &format!("{RBAC}/clusterroles"),
        json!({"metadata": {"name": "monitoring"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-monitoring": "true"}}]},
            "rules": []}),
    )
    .await;
    let metrics = json!({"apiGroups": ["metrics.k8s.io"], "resources": ["pods"], "verbs": ["get"]});
    create(
        &admin,
        &format!("{RBAC}/clusterroles"),
        json!({"metadata": {"name": "metrics-reader", "labels": {"example.com/aggregate-to-monitoring": "true"}},
            "rules": [metrics]}),
    )
    .await;
    let role = watch_role_until(&admin, "monitoring", |r| r["rules"].as_array().is_some_and(|a| !a.is_empty())).await;
    assert_eq!(role["rules"], json!([metrics]));
    server.shutdown().await;
}

#[tokio::test]
async fn impersonation_needs_the_impersonate_verb() {
    let (server, admin, _dir) = start(AuthorizationMode::Rbac).await;
    let bob = admin.clone().with_token("tok-bob");
    let whoami = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"});
    let whoami_as = |c: &Client, headers: Vec<(&'static str, &'static str)>| {
        let c = c.clone();
        let body = serde_json::to_vec(&whoami).unwrap();
        async move {
            let mut h = vec![("content-type", "application/json")];
            h.extend(headers);
            c.request(Method::POST, "/apis/authentication.k8s.io/v1/selfsubjectreviews", &h, body).await.unwrap()
        }
    };
    assert_forbidden(
        &whoami_as(&bob, vec![("impersonate-user", "alice")]).await,
        r#"selfsubjectreviews.authentication.k8s.io is forbidden: User "bob" cannot impersonate-on:user-info:create resource "selfsubjectreviews" in API group "authentication.k8s.io" at the cluster scope"#,
    );
    let r = whoami_as(&bob, vec![("impersonate-group", "dev")]).await;
    assert_status(&r, 400, "BadRequest");
    assert!(r.json()["message"].as_str().unwrap().ends_with("without impersonating a user name"));

    create(
        &admin,
        &format!("{RBAC}/clusterroles"),
        json!({"metadata": {"name": "impersonate-alice"},
            "rules": [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["alice"]}]}),
    )
    .await;
    create(
        &admin,
        &format!("{RBAC}/clusterrolebindings"),
        json!({"metadata": {"name": "bob-impersonates-alice"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "impersonate-alice"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
    )
    .await;
    let r = whoami_as(&bob, vec![("impersonate-user", "alice")]).await;
    // From now on the legacy mode, which allowed bob, is tried first (as kube does).
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["status"]["userInfo"], json!({"username": "alice", "groups": ["system:authenticated"]}));
    assert_forbidden(
        &whoami_as(&bob, vec![("impersonate-user", "carol")]).await,
        r#"users "carol" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope"#,
    );
    assert_forbidden(
        &whoami_as(&bob, vec![("impersonate-user", "alice"), ("impersonate-group", "system:masters")]).await,
        r#"groups "system:masters" is forbidden: User "bob" cannot impersonate resource "groups" in API group "" at the cluster scope"#,
    );
    // Impersonated, alice is authorized as alice.
    assert_forbidden(
        &send(&bob, Method::GET, "/api/v1/namespaces/default/pods", &[("impersonate-user", "alice")]).await,
        r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default""#,
    );
    // The admin (system:masters) may impersonate anyone, service accounts included.
    let r = whoami_as(&admin, vec![("impersonate-user", "system:serviceaccount:ci:runner")]).await;
    assert_eq!(
        r.json()["status"]["userInfo"]["groups"],
        json!(["system:serviceaccounts", "system:serviceaccounts:ci", "system:authenticated"])
    );

    // Constrained impersonation: carol may act as any user, but only to list pods.
    create(
        &admin,
        &format!("{RBAC}/clusterroles"),
        json!({"metadata": {"name": "list-pods-as-anyone"}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["impersonate-on:user-info:list"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["users"], "verbs": ["impersonate:user-info"]}]}),
    )
    .await;
    create(
        &admin,
        &format!("{RBAC}/clusterrolebindings"),
        json!({"metadata": {"name": "carol-lists-pods-as-anyone"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "list-pods-as-anyone"},
            "subjects": [{"kind": "User", "name": "carol"}]}),
    )
    .await;
    create(
        &admin,
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata": {"name": "dave-view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "User", "name": "dave"}]}),
    )
    .await;
    let carol = admin.clone().with_token("tok-carol");
    let as_dave = [("impersonate-user", "dave")];
    assert_eq!(send(&carol, Method::GET, "/api/v1/namespaces/default/pods", &as_dave).await.status, 200);
    assert_forbidden(
        &send(&carol, Method::GET, "/api/v1/namespaces/default/configmaps", &as_dave).await,
        r#"configmaps is forbidden: User "carol" cannot impersonate-on:user-info:list resource "configmaps" in API group "" in the namespace "default""#,
    );
    server.shutdown().await;
}

#[tokio::test]
async fn self_reviews_answer_from_the_bindings() {
    let (server, admin, _dir) = start(AuthorizationMode::Rbac).await;
    let bob = admin.clone().with_token("tok-bob");
    let ssar = |verb: &str, resource: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {"namespace": "default", "verb": verb, "resource": resource}}})
    };
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let r = bob.post_json(path, &ssar("delete", "pods")).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["status"], json!({"allowed": false}));
    let r = admin.post_json(path, &ssar("delete", "pods")).await.json();
    assert_eq!(r["status"]["allowed"], true);

    create(
        &admin,
        &format!("{RBAC}/namespaces/default/rolebindings"),
        json!({"metadata": {"name": "bob-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
    )
    .await;
    let r = bob.post_json(path, &ssar("delete", "pods")).await.json();
    assert_eq!(r["status"]["allowed"], true);
    assert_eq!(
        r["status"]["reason"],
        r#"RBAC: allowed by RoleBinding "bob-edit/default" of ClusterRole "edit" to User "bob""#
    );

    let rules = bob
        .post_json(
            "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
            &json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview", "spec": {"namespace": "default"}}),
        )
        .await;
    assert_eq!(rules.status, 201);
    let status = &rules.json()["status"];
    assert_eq!(status["incomplete"], false);
    let resource_rules = status["resourceRules"].as_array().unwrap();
    assert!(resource_rules.iter().any(|r| r["resources"].as_array().unwrap().contains(&json!("pods"))
        && r["verbs"].as_array().unwrap().contains(&json!("delete"))));
    assert!(status["nonResourceRules"].as_array().unwrap().iter().any(|r| r["nonResourceURLs"]
        == json!([
            "/api",
            "/api/*",
            "/apis",
            "/apis/*",
            "/healthz",
            "/livez",
            "/openapi",
            "/openapi/*",
            "/readyz",
            "/version",
            "/version/"
        ])));

    // SubjectAccessReview: for whoever may create them (not bob).
    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
        "spec": {"user": "carol", "groups": ["dev"], "resourceAttributes": {"namespace": "default", "verb": "get", "resource": "pods"}}});
    assert_forbidden(
        &bob.post_json("/apis/authorization.k8s.io/v1/subjectaccessreviews", &sar).await,
        r#"subjectaccessreviews.authorization.k8s.io is forbidden: User "bob" cannot create resource "subjectaccessreviews" in API group "authorization.k8s.io" at the cluster scope"#,
    );
    let r = admin.post_json("/apis/authorization.k8s.io/v1/subjectaccessreviews", &sar).await.json();
    assert_eq!(r["status"], json!({"allowed": false}));
    let local = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "LocalSubjectAccessReview",
        "metadata": {"namespace": "default"},
        "spec": {"user": "bob", "resourceAttributes": {"namespace": "default", "verb": "update", "resource": "deployments", "group": "apps"}}});
    let r = admin.post_json("/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews", &local).await;
    assert_eq!(r.json()["status"]["allowed"], true, "{}", r.json());
    server.shutdown().await;
}

#[tokio::test]
async fn anonymous_health_and_always_allow() {
    let (server, admin, _dir) = start(AuthorizationMode::Rbac).await;
    let anon = admin.clone().anonymous();
    assert_eq!(anon.get("/healthz").await.status, 200);
    assert_eq!(anon.get("/version").await.status, 200);
    // system:public-info-viewer names /readyz, not its sub-checks.
    assert_forbidden(
        &anon.get("/readyz/ping").await,
        r#"forbidden: User "system:anonymous" cannot get path "/readyz/ping""#,
    );
    server.shutdown().await;

    let (server, admin, _dir) = start(AuthorizationMode::AlwaysAllow).await;
    let bob = admin.clone().with_token("tok-bob");
    assert_eq!(bob.get("/api/v1/nodes").await.status, 200);
    assert_status(&send(&bob, Method::DELETE, "/api/v1/namespaces/default/pods/y", &[]).await, 404, "NotFound");
    // No bootstrap policy without RBAC, as kube-apiserver.
    assert_eq!(admin.get(&format!("{RBAC}/clusterroles")).await.json()["items"], json!([]));
    server.shutdown().await;
}

#[tokio::test]
async fn roles_and_bindings_grant_no_more_than_their_author_holds() {
    let (server, admin, _dir) = start(AuthorizationMode::Rbac).await;
    let bob = admin.clone().with_token("tok-bob");
    create(&admin, "/api/v1/namespaces", json!({"metadata": {"name": "x"}})).await;
    // bob administers namespace x (the built-in `admin` role, which can write roles and bindings).
    create(
        &admin,
        &format!("{RBAC}/namespaces/x/rolebindings"),
        json!({"metadata": {"name": "bob-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
    )
    .await;
    let r = bob
        .post_json(
            &format!("{RBAC}/namespaces/x/roles"),
            &json!({"metadata": {"name": "pods"}, "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = bob
        .post_json(
            &format!("{RBAC}/namespaces/x/roles"),
            &json!({"metadata": {"name": "nodes"}, "rules": [
                {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]},
                {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        )
        .await;
    assert_forbidden(
        &r,
        "roles.rbac.authorization.k8s.io \"nodes\" is forbidden: user \"bob\" (groups=[\"system:authenticated\"]) \
         is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\" \"list\"]}",
    );
    // Binding a role bob does not hold is refused, until bob may `bind` it.
    let binding = json!({"metadata": {"name": "carol-cluster-admin"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "User", "name": "carol"}]});
    assert_forbidden(
        &bob.post_json(&format!("{RBAC}/namespaces/x/rolebindings"), &binding).await,
        "rolebindings.rbac.authorization.k8s.io \"carol-cluster-admin\" is forbidden: user \"bob\" \
         (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n\
         {APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}\n{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}",
    );
    // A binding to a role that does not exist: 404, worded as kube words it.
    let dangling = json!({"metadata": {"name": "rb1"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "missing-role"},
        "subjects": [{"kind": "User", "name": "carol"}]});
    let r = bob.post_json(&format!("{RBAC}/namespaces/x/rolebindings"), &dangling).await;
    assert_status(&r, 404, "NotFound");
    assert_eq!(r.json()["message"], r#"rolebindings.rbac.authorization.k8s.io "missing-role" not found"#);
    create(
        &admin,
        &format!("{RBAC}/clusterroles"),
        json!({"metadata": {"name": "bind-cluster-admin"}, "rules": [
            {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["cluster-admin"]}]}),
    )
    .await;
    create(
        &admin,
        &format!("{RBAC}/namespaces/x/rolebindings"),
        json!({"metadata": {"name": "bob-binds"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bind-cluster-admin"},
            "subjects": [{"kind": "User", "name": "bob"}]}),
    )
    .await;
    let r = bob.post_json(&format!("{RBAC}/namespaces/x/rolebindings"), &binding).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // A patch is checked on its result.
    let r = bob
        .request(
            Method::PATCH,
            &format!("{RBAC}/namespaces/x/roles/pods"),
            &[("content-type", "application/merge-patch+json")],
            serde_json::to_vec(&json!({"rules": [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]}))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_status(&r, 403, "Forbidden");
    server.shutdown().await;
}
