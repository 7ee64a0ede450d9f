//! `/openapi/v2` and `/openapi/v3` over real HTTPS, and `fieldValidation=Strict`.

mod server_support;

use bytes::Bytes;
use ferrokube_apiserver::{EmbeddedServer, ServerOptions};
use http::Method;
use serde_json::{json, Value};
use server_support::{assert_status, Client};

async fn start() -> (EmbeddedServer, Client) {
    let server = EmbeddedServer::start(ServerOptions::default()).await.unwrap();
    let client = Client::new(&server);
    (server, client)
}

#[tokio::test]
async fn v3_index_lists_group_versions_with_hashed_urls() {
    let (_server, client) = start().await;
    let resp = client.get("/openapi/v3").await;
    assert_eq!(resp.status, 200);
    // kube writes the index with no Content-Type; Go's sniffing names it plain text.
    assert_eq!(resp.header("content-type"), "text/plain; charset=utf-8");
    let index: serde_json::Value = serde_json::from_slice(&resp.body).expect("index is JSON");
    // Besides group-versions: group documents, api, apis, version and the OIDC documents.
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/batch/v1",
        "apis/apps",
        "api",
        "apis",
        "version",
        "openid/v1/jwks",
        ".well-known/openid-configuration",
    ] {
        let url =
            index["paths"][gv]["serverRelativeURL"].as_str().unwrap_or_else(|| panic!("{gv} missing from {index}"));
        assert!(url.starts_with(&format!("/openapi/v3/{gv}?hash=")), "{url}");
    }
    // The URL from the index serves the document, with its hash as the ETag.
    let url = index["paths"]["apis/apps/v1"]["serverRelativeURL"].as_str().unwrap();
    let doc = client.get(url).await;
    assert_eq!(doc.status, 200);
    let hash = url.rsplit('=').next().unwrap();
    assert_eq!(doc.header("etag"), format!("\"{hash}\""));
    let again = client.request(Method::GET, url, &[("if-none-match", doc.header("etag"))], Bytes::new()).await.unwrap();
    assert_eq!(again.status, 304);
    assert!(doc.header("cache-control").contains("immutable"));
    let stale = client.get("/openapi/v3/apis/apps/v1?hash=0123").await;
    assert_eq!(stale.status, 301);
    assert_eq!(stale.header("location"), url);
    let group_url = index["paths"]["apis/apps"]["serverRelativeURL"].as_str().unwrap();
    let group = client.get(group_url).await.json();
    assert_eq!(group["paths"]["/apis/apps/"]["get"]["operationId"], "getAppsAPIGroup");
    assert!(index["paths"].get("apis/apps/v1beta1").is_none(), "no beta versions, as kube's defaults");
    let missing = client.get("/openapi/v3/apis/nope/v1").await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_empty(), "a bare 404, as kube's OpenAPI handler answers");
    assert_eq!(client.clone().anonymous().get("/openapi/v3").await.status, 403);
}

#[tokio::test]
async fn apps_v1_document_has_deployment_schema_and_operations() {
    let (_server, client) = start().await;
    let doc = client.get("/openapi/v3/apis/apps/v1").await.json();
    assert_eq!(doc["openapi"], "3.0.0");
    let schemas = &doc["components"]["schemas"];
    let deploy = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deploy["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert_eq!(
        deploy["properties"]["spec"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
    );
    assert!(deploy["properties"]["spec"]["description"].is_string());
    // spec.template.spec.containers, following the references.
    let template = &schemas["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["template"];
    assert_eq!(template["allOf"][0]["$ref"], "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec");
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["type"], "array");
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    assert_eq!(containers["items"]["$ref"], "#/components/schemas/io.k8s.api.core.v1.Container");
    let container = &schemas["io.k8s.api.core.v1.Container"];
    assert!(container["required"].as_array().unwrap().contains(&json!("name")));
    assert_eq!(container["properties"]["terminationMessagePath"]["type"], "string");
    // Every reference resolves within the document.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.get(name).is_some(), "dangling {r}");
    }
    // The PATCH operation kubectl inspects for server-side field validation.
    let item = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"];
    let patch = &item["patch"];
    assert_eq!(
        patch["x-kubernetes-group-version-kind"],
        json!({"group": "apps", "kind": "Deployment", "version": "v1"})
    );
    let params: Vec<&str> = patch["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .filter_map(|p| p["name"].as_str())
        .collect();
    for p in ["dryRun", "fieldManager", "fieldValidation", "force"] {
        assert!(params.contains(&p), "{p} not in {params:?}");
    }
    assert!(item["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "pretty"));
    assert!(patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    let create = &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]["post"];
    assert!(create["parameters"].as_array().unwrap().iter().any(|p| p["name"] == "fieldValidation"));
    assert_eq!(
        doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["patch"]
            ["x-kubernetes-group-version-kind"]["kind"],
        "Scale"
    );
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(s)) => out.push(s.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn v2_is_json_or_protobuf_by_accept() {
    let (_server, client) = start().await;
    let resp = client.get("/openapi/v2").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), "application/json");
    let doc = resp.json();
    assert_eq!(doc["swagger"], "2.0");
    let defs = &doc["definitions"];
    assert_eq!(defs["io.k8s.api.core.v1.Pod"]["x-kubernetes-group-version-kind"][0]["kind"], "Pod");
    assert_eq!(
        defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]["items"]["$ref"],
        "#/definitions/io.k8s.api.core.v1.Container"
    );
    assert!(defs["io.k8s.api.apps.v1.DeploymentList"].is_object());
    let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/configmaps/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "ConfigMap");

    let pb = client.get_accept("/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf").await;
    assert_eq!(pb.status, 200);
    assert_eq!(pb.header("content-type"), "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
    // Field 1 (swagger, length-delimited) = "2.0".
    assert_eq!(&pb.body[..5], b"\x0a\x032.0");
    assert_ne!(pb.header("etag"), resp.header("etag"));
    assert_eq!(pb.header("vary"), "Accept");
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields() {
    let (_server, client) = start().await;
    let cm = |name: &str| {
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default"},
            "data": {"a": "b"},
            "colour": "red",
        })
    };
    let path = "/api/v1/namespaces/default/configmaps";
    let strict = client.post_json(&format!("{path}?fieldValidation=Strict"), &cm("strict")).await;
    assert_status(&strict, 400, "BadRequest");
    let message = strict.json()["message"].as_str().unwrap().to_owned();
    assert_eq!(
        message,
        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"colour\""
    );
    let lax = client.post_json(&format!("{path}?fieldValidation=Ignore"), &cm("lax")).await;
    assert_eq!(lax.status, 201, "{}", String::from_utf8_lossy(&lax.body));
    assert!(lax.headers.get("warning").is_none());
    // Warn is the default: the object is created and the response says what was unknown.
    let warned = client.post_json(path, &cm("warned")).await;
    assert_eq!(warned.status, 201, "{}", String::from_utf8_lossy(&warned.body));
    assert_eq!(warned.header("warning"), r#"299 - "unknown field \"colour\"""#);

    // A strategic merge patch: directives are not fields, unknown keys are.
    let ok = client
        .request(
            Method::PATCH,
            &format!("{path}/lax?fieldValidation=Strict"),
            &[("content-type", "application/strategic-merge-patch+json")],
            Bytes::from_static(br#"{"data": {"c": "d"}, "metadata": {"$patch": "merge"}}"#),
        )
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let bad = client
        .request(
            Method::PATCH,
            &format!("{path}/lax?fieldValidation=Strict"),
            &[("content-type", "application/merge-patch+json")],
            Bytes::from_static(br#"{"metadata": {"labelz": {"a": "b"}}}"#),
        )
        .await
        .unwrap();
    assert_status(&bad, 400, "BadRequest");
    assert!(bad.json()["message"].as_str().unwrap().contains("unknown field \"metadata.labelz\""));
}

#[tokio::test]
async fn custom_resources_are_published_from_their_crd_schema() {
    let (_server, client) = start().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": {
                        "size": {"type": "integer"},
                    }}},
                }},
            }],
        },
    });
    let created = client.post_json("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &crd).await;
    assert_eq!(created.status, 201, "{}", String::from_utf8_lossy(&created.body));
    let mut url = None;
    for _ in 0..100 {
        let index = client.get("/openapi/v3").await.json();
        if let Some(u) = index["paths"]["apis/example.com/v1"]["serverRelativeURL"].as_str() {
            url = Some(u.to_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let url = url.expect("apis/example.com/v1 never appeared in /openapi/v3");
    let doc = client.get(&url).await.json();
    let widget = &doc["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        widget["x-kubernetes-group-version-kind"],
        json!([{"group": "example.com", "kind": "Widget", "version": "v1"}])
    );
    assert_eq!(widget["properties"]["spec"]["properties"]["size"]["type"], "integer");
    assert_eq!(
        widget["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert!(doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object());
    // No strategic merge patch for custom resources: kubectl apply then sends a merge patch.
    let patch = &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    let content = patch["requestBody"]["content"].as_object().unwrap();
    assert!(content.contains_key("application/merge-patch+json"));
    assert!(!content.contains_key("application/strategic-merge-patch+json"));

    let v2 = client.get("/openapi/v2").await.json();
    assert_eq!(
        v2["definitions"]["com.example.v1.Widget"]["properties"]["spec"]["properties"]["size"]["type"],
        "integer"
    );

    let path = "/apis/example.com/v1/namespaces/default/widgets";
    let bad = json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w"}, "spec": {"size": 1, "colour": "red"}});
    let strict = client.post_json(&format!("{path}?fieldValidation=Strict"), &bad).await;
    assert_status(&strict, 400, "BadRequest");
    assert!(strict.json()["message"].as_str().unwrap().contains("unknown field \"spec.colour\""));
}
