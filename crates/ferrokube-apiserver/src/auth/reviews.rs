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
    let status = match (group, plural) {
        ("authentication.k8s.io", "selfsubjectreviews") => {
            json!({"userInfo": user_json(&req.user)})
        }
        ("authentication.k8s.io", "tokenreviews") => {
            let token = body.pointer("/spec/token").and_then(Value::as_str).unwrap_or("");
            let header = http::HeaderValue::from_str(&format!("Bearer {token}")).ok();
            match auth.authenticate(None, header.as_ref()) {
                Ok(user) if !token.is_empty() => {
                    json!({"authenticated": true, "user": user_json(&user)})
                }
                _ => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
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
    if req.resource.namespaced {
        if let Some(ns) = &req.namespace {
            body["metadata"]["namespace"] = json!(ns);
        }
    }
    body["status"] = status;
    Some(Ok(ApiResponse::Object { code: 201, body }))
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
        assert_eq!(b["status"]["authenticated"], false);
    }
}
