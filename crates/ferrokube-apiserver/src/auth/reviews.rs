//! The review APIs, answered by authentication/authorization rather than stored:
//! `selfsubjectreviews` (who am I: `kubectl auth whoami`), `tokenreviews` (is this token
//! valid), and the access reviews of `authorization.k8s.io` (`kubectl auth can-i`),
//! which [`super::rbac::reviews`] answers from the authorizer.

use serde_json::{json, Value};

use super::rbac::Authorizer;
use super::Authenticator;
use crate::api::{ApiError, ApiRequest, ApiResponse, UserInfo, Verb};

/// Answer `req` if it creates a review; `None` for every other request.
pub fn handle(req: &ApiRequest, auth: &Authenticator, authz: &Authorizer) -> Option<Result<ApiResponse, ApiError>> {
    if req.verb != Verb::Create || req.subresource.is_some() {
        return None;
    }
    let group = req.resource.group.as_str();
    let plural = req.resource.plural.as_str();
    if group != "authentication.k8s.io" && group != "authorization.k8s.io" {
        return None;
    }
    let mut body: Value = if req.body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&req.body) {
            Ok(v @ Value::Object(_)) => v,
            Ok(_) => return Some(Err(ApiError::new(400, "BadRequest", "the request body must be a JSON object"))),
            Err(e) => {
                return Some(Err(ApiError::new(400, "BadRequest", format!("unable to decode the request body: {e}"))))
            }
        }
    };
    // kube records the creating request's fields like any create's (manager from
    // `fieldManager` or the User-Agent, operation Update); a review without fields
    // (SelfSubjectReview) gets no entry, and a SelfSubjectRulesReview is answered with
    // a new object that has none.
    let managed = (plural != "selfsubjectrulesreviews").then(|| created_managed_fields(req, &body, None)).flatten();
    let status = match (group, plural) {
        ("authentication.k8s.io", "selfsubjectreviews") => {
            json!({"userInfo": user_json(&req.user)})
        }
        ("authentication.k8s.io", "tokenreviews") => {
            let token = body.pointer("/spec/token").and_then(Value::as_str).unwrap_or("");
            let audiences: Vec<String> = body
                .pointer("/spec/audiences")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            match auth.review_token(token, &audiences) {
                Ok((user, audiences)) => {
                    json!({"authenticated": true, "user": user_json(&user), "audiences": audiences})
                }
                // `authenticated: false` is left out, as Go's omitempty does.
                Err(error) => json!({"user": {}, "error": error}),
            }
        }
        ("authorization.k8s.io", plural) => match super::rbac::reviews::answer(plural, req, &mut body, authz)? {
            Ok(status) => status,
            Err(e) => return Some(Err(e)),
        },
        _ => return None,
    };
    body["apiVersion"] = json!(req.resource.api_version());
    body["kind"] = json!(req.resource.kind);
    if !body.get("metadata").is_some_and(Value::is_object) {
        body["metadata"] = json!({});
    }
    // kube stamps a SelfSubjectReview with the time of the answer; other reviews carry none.
    if plural == "selfsubjectreviews" {
        body["metadata"]["creationTimestamp"] = json!(crate::registry::meta::now_rfc3339());
    }
    if let Some(managed) = managed {
        body["metadata"]["managedFields"] = managed;
    }
    if req.resource.namespaced {
        if let Some(ns) = &req.namespace {
            body["metadata"]["namespace"] = json!(ns);
        }
    }
    body["status"] = status;
    Some(Ok(ApiResponse::Object { code: 201, body }))
}

/// The `metadata.managedFields` kube-apiserver gives an object created by `req`
/// (`subresource`: the one it was created through, as `token`), or `None` when the
/// request sets no fields.
pub(crate) fn created_managed_fields(req: &ApiRequest, object: &Value, subresource: Option<&str>) -> Option<Value> {
    use crate::patch::{apply, schema};
    let manager = match req.query_param("fieldManager") {
        Some(m) if !m.is_empty() => m.to_owned(),
        _ => apply::default_field_manager(req.user_agent.as_deref()),
    };
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or(&req.resource.kind).to_owned();
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| v.rsplit_once('/').map_or("", |(g, _)| g).to_owned())
        .unwrap_or_else(|| req.resource.group.clone());
    let root = schema::root_type(&group, &kind);
    let out = match subresource {
        Some(sub) => apply::update_managed_fields_subresource(None, &object, &manager, sub, root),
        None => apply::update_managed_fields(None, &object, &manager, root),
    };
    out.ok()?.pointer("/metadata/managedFields").filter(|m| m.as_array().is_some_and(|a| !a.is_empty())).cloned()
}

fn user_json(user: &UserInfo) -> Value {
    let mut v = json!({"username": user.name, "groups": user.groups});
    if !user.uid.is_empty() {
        v["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        v["extra"] = json!(user.extra);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn req(group: &str, plural: &str, body: Value) -> ApiRequest {
        let c = Catalog::builtin();
        ApiRequest {
            verb: Verb::Create,
            resource: c.lookup(group, "v1", plural).unwrap().clone(),
            namespace: None,
            name: None,
            subresource: None,
            query: Default::default(),
            body: serde_json::to_vec(&body).unwrap().into(),
            content_type: Some("application/json".into()),
            user_agent: None,
            user: UserInfo {
                name: "jane".into(),
                uid: "7".into(),
                groups: vec!["dev".into(), "system:authenticated".into()],
                extra: Default::default(),
            },
        }
    }

    fn body(r: Option<Result<ApiResponse, ApiError>>) -> Value {
        match r {
            Some(Ok(ApiResponse::Object { code: 201, body })) => body,
            _ => panic!("expected a 201 object"),
        }
    }

    #[test]
    fn whoami_and_can_i() {
        let auth = Authenticator::new();
        let b = body(handle(
            &req("authentication.k8s.io", "selfsubjectreviews", json!({})),
            &auth,
            &Authorizer::always_allow(),
        ));
        assert_eq!(b["kind"], "SelfSubjectReview");
        assert_eq!(b["status"]["userInfo"]["username"], "jane");
        assert_eq!(b["status"]["userInfo"]["groups"], json!(["dev", "system:authenticated"]));
        let b = body(handle(
            &req(
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                json!({"spec": {"resourceAttributes": {"verb": "get"}}}),
            ),
            &auth,
            &Authorizer::always_allow(),
        ));
        assert_eq!(b["status"]["allowed"], true);
        assert_eq!(b["spec"]["resourceAttributes"]["verb"], "get");
    }

    #[test]
    fn token_review() {
        let mut auth = Authenticator::new();
        auth.add_token("good", UserInfo { name: "bob".into(), ..Default::default() });
        let none = Authorizer::always_allow();
        let b = body(handle(
            &req("authentication.k8s.io", "tokenreviews", json!({"spec": {"token": "good"}})),
            &auth,
            &none,
        ));
        assert_eq!(b["status"]["authenticated"], true);
        assert_eq!(b["status"]["user"]["username"], "bob");
        let b = body(handle(
            &req("authentication.k8s.io", "tokenreviews", json!({"spec": {"token": "bad"}})),
            &auth,
            &none,
        ));
        assert_eq!(b["status"]["authenticated"], Value::Null, "false is omitted");
        assert_eq!(b["status"]["error"], "invalid bearer token");
        // The static token is for the API audiences only.
        let b = body(handle(
            &req("authentication.k8s.io", "tokenreviews", json!({"spec": {"token": "good", "audiences": ["x"]}})),
            &auth,
            &none,
        ));
        assert_eq!(b["status"]["error"], "invalid bearer token");
        // The request's fields are recorded as a create's.
        let b = body(handle(
            &req("authentication.k8s.io", "tokenreviews", json!({"spec": {"token": "good"}})),
            &auth,
            &none,
        ));
        assert_eq!(b["status"]["audiences"], json!(["https://kubernetes.default.svc.cluster.local"]));
        let managed = &b["metadata"]["managedFields"][0];
        assert_eq!(managed["operation"], "Update");
        assert_eq!(managed["manager"], "unknown");
        assert_eq!(managed["fieldsV1"], json!({"f:spec": {"f:token": {}}}));
    }
}
