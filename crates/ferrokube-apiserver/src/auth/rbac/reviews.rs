//! The access reviews of `authorization.k8s.io/v1`, answered by the [`Authorizer`]:
//! what `kubectl auth can-i` asks.
//!
//! - SubjectAccessReview: may `spec.user` (with `spec.groups`, `spec.uid`) do
//!   `spec.resourceAttributes` or `spec.nonResourceAttributes`?
//! - LocalSubjectAccessReview: the same, in the request's namespace (the resource
//!   attributes' namespace must be that one; no non-resource attributes).
//! - SelfSubjectAccessReview: the same for the requesting user (`can-i`, `can-i --as`).
//! - SelfSubjectRulesReview: every rule the requesting user has in
//!   `spec.namespace` (`can-i --list`; 400 without one); kube answers with an empty
//!   `spec`, and `evaluationError` naming roles that do not exist.
//!
//! Invalid specs are 422 with kube's field messages; the status carries `allowed`,
//! and kube's `reason` (`RBAC: allowed by ClusterRoleBinding ...`, or on denial the
//! roles that could not be found).

use serde_json::{json, Value};

use super::{aggregate, Attributes, Authorizer};
use crate::api::{ApiError, ApiRequest, UserInfo};
use crate::registry::errors::{invalid_kind, FieldError};

const GROUP: &str = "authorization.k8s.io";

/// The `status` of the review `body` (of resource `plural`) sent in `req`; may change
/// `body` as kube does (SelfSubjectRulesReview's spec is not echoed). `None` if
/// `plural` is not an access review.
pub fn answer(plural: &str, req: &ApiRequest, body: &mut Value, authz: &Authorizer) -> Option<Result<Value, ApiError>> {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let result = match plural {
        "subjectaccessreviews" => check_attributes("SubjectAccessReview", &spec, false)
            .and_then(|()| check_subject("SubjectAccessReview", &spec))
            .map(|()| decide(authz, subject(&spec), &spec, "")),
        "localsubjectaccessreviews" => {
            let namespace = req.namespace.clone().unwrap_or_default();
            check_attributes("LocalSubjectAccessReview", &spec, true)
                .and_then(|()| check_subject("LocalSubjectAccessReview", &spec))
                .and_then(|()| {
                    let ns = spec.pointer("/resourceAttributes/namespace").and_then(Value::as_str).unwrap_or("");
                    if ns == namespace {
                        Ok(())
                    } else {
                        Err(ApiError::new(
                            400,
                            "BadRequest",
                            format!("spec.resourceAttributes.namespace must match namespace: {namespace}"),
                        ))
                    }
                })
                .map(|()| decide(authz, subject(&spec), &spec, &namespace))
        }
        "selfsubjectaccessreviews" => check_attributes("SelfSubjectAccessReview", &spec, false)
            .map(|()| decide(authz, req.user.clone(), &spec, "")),
        "selfsubjectrulesreviews" => {
            let namespace = spec.get("namespace").and_then(Value::as_str).unwrap_or("");
            if namespace.is_empty() {
                return Some(Err(ApiError::new(400, "BadRequest", "no namespace on request")));
            }
            let rules = authz.rules_for(&req.user, namespace);
            body["spec"] = json!({});
            // RBAC enumerates everything it knows: never incomplete, even with errors.
            let mut status = json!({
                "resourceRules": rules.resource_rules,
                "nonResourceRules": rules.non_resource_rules,
                "incomplete": false,
            });
            if !rules.errors.is_empty() {
                status["evaluationError"] = json!(aggregate(&rules.errors));
            }
            Ok(status)
        }
        _ => return None,
    };
    Some(result)
}

/// The user a (Local)SubjectAccessReview asks about.
fn subject(spec: &Value) -> UserInfo {
    let s = |f: &str| spec.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
    let groups = spec.get("groups").and_then(Value::as_array).into_iter().flatten();
    UserInfo {
        name: s("user"),
        uid: s("uid"),
        groups: groups.filter_map(Value::as_str).map(str::to_owned).collect(),
        extra: spec
            .get("extra")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let values = v.as_array().into_iter().flatten().filter_map(Value::as_str);
                        (k.clone(), values.map(str::to_owned).collect())
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Exactly one of resource and non-resource attributes (`local`: resource only).
fn check_attributes(kind: &str, spec: &Value, local: bool) -> Result<(), ApiError> {
    let resource = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let non_resource = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    let mut errors = Vec::new();
    match (resource, non_resource) {
        (Some(_), Some(n)) => errors.push(FieldError::invalid(
            "spec.nonResourceAttributes",
            n,
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => errors.push(FieldError::invalid(
            "spec.resourceAttributes",
            &Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
        _ => {}
    }
    if local {
        if let Some(n) = non_resource {
            errors.push(FieldError::invalid("spec.nonResourceAttributes", n, "disallowed on this kind of request"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(invalid_kind(GROUP, kind, "", &errors))
    }
}

/// A user or a group must be named.
fn check_subject(kind: &str, spec: &Value) -> Result<(), ApiError> {
    let user = spec.get("user").and_then(Value::as_str).unwrap_or("");
    let groups = spec.get("groups").and_then(Value::as_array).is_some_and(|g| !g.is_empty());
    if user.is_empty() && !groups {
        let e = FieldError::invalid("spec.user", &json!(user), "at least one of user or group must be specified");
        return Err(invalid_kind(GROUP, kind, "", &[e]));
    }
    Ok(())
}

/// Decide the spec's question for `user`; `namespace` overrides the attributes'.
fn decide(authz: &Authorizer, user: UserInfo, spec: &Value, namespace: &str) -> Value {
    let s = |p: &str| spec.pointer(p).and_then(Value::as_str).unwrap_or("").to_owned();
    let attrs = if spec.get("resourceAttributes").is_some_and(Value::is_object) {
        let mut a = Attributes::resource(
            user,
            &s("/resourceAttributes/verb"),
            &s("/resourceAttributes/group"),
            &s("/resourceAttributes/resource"),
            &s("/resourceAttributes/namespace"),
            &s("/resourceAttributes/name"),
        );
        a.subresource = s("/resourceAttributes/subresource");
        a.api_version = s("/resourceAttributes/version");
        if !namespace.is_empty() {
            a.namespace = namespace.to_owned();
        }
        a
    } else {
        Attributes {
            user,
            verb: s("/nonResourceAttributes/verb"),
            path: s("/nonResourceAttributes/path"),
            ..Default::default()
        }
    };
    let decision = authz.authorize(&attrs);
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    status
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::rbac::AuthorizationMode;
    use crate::storage::Store;

    fn authz() -> Authorizer {
        let store = Arc::new(Store::new());
        super::super::bootstrap::ensure(&store);
        Authorizer::new(AuthorizationMode::Rbac, store)
    }

    fn request(user: &str, groups: &[&str]) -> ApiRequest {
        let c = crate::catalog::Catalog::builtin();
        let mut req = ApiRequest::new(
            crate::api::Verb::Create,
            c.lookup(GROUP, "v1", "selfsubjectaccessreviews").unwrap().clone(),
        );
        req.user = UserInfo {
            name: user.into(),
            uid: String::new(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            extra: Default::default(),
        };
        req
    }

    #[test]
    fn subject_access_reviews() {
        let a = authz();
        let req = request("admin", &["system:masters"]);
        let mut body = json!({"spec": {"user": "bob", "groups": ["system:authenticated"],
            "resourceAttributes": {"verb": "delete", "resource": "pods", "namespace": "x"}}});
        let status = answer("subjectaccessreviews", &req, &mut body, &a).unwrap().unwrap();
        assert_eq!(status, json!({"allowed": false}));
        let mut body = json!({"spec": {"user": "bob", "groups": ["system:authenticated"],
            "nonResourceAttributes": {"verb": "get", "path": "/healthz"}}});
        let status = answer("subjectaccessreviews", &req, &mut body, &a).unwrap().unwrap();
        assert_eq!(status["allowed"], true);
        assert_eq!(
            status["reason"],
            r#"RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated""#
        );
        let mut body = json!({"spec": {"resourceAttributes": {"verb": "get"}}});
        let err = answer("subjectaccessreviews", &req, &mut body, &a).unwrap().unwrap_err();
        assert_eq!(err.code, 422);
        assert!(err.message.contains("spec.user: Invalid value"), "{}", err.message);
        let mut body = json!({"spec": {"user": "bob"}});
        let err = answer("selfsubjectaccessreviews", &req, &mut body, &a).unwrap().unwrap_err();
        assert!(err.message.contains("exactly one of nonResourceAttributes or resourceAttributes"), "{}", err.message);
    }

    #[test]
    fn rules_review() {
        let a = authz();
        let req = request("bob", &["system:authenticated"]);
        let mut body = json!({"spec": {"namespace": "x"}});
        let status = answer("selfsubjectrulesreviews", &req, &mut body, &a).unwrap().unwrap();
        assert_eq!(body["spec"], json!({}));
        assert_eq!(status["incomplete"], false);
        let mut no_ns = json!({"spec": {}});
        let err = answer("selfsubjectrulesreviews", &req, &mut no_ns, &a).unwrap().unwrap_err();
        assert_eq!((err.code, err.message.as_str()), (400, "no namespace on request"));
        let rules = status["resourceRules"].as_array().unwrap();
        assert!(rules.iter().any(|r| r["resources"] == json!(["selfsubjectaccessreviews", "selfsubjectrulesreviews"])));
        assert!(!rules.iter().any(|r| r["resources"].as_array().unwrap().contains(&json!("pods"))));
        let urls = &status["nonResourceRules"];
        assert!(urls
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["nonResourceURLs"].as_array().unwrap().contains(&json!("/api"))));
    }
}
