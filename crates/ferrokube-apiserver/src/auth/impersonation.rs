//! Impersonation headers, as kube-apiserver's impersonation filter: a request may act
//! as another identity (`kubectl --as=bob --as-group=dev`) if its own user may
//! `impersonate` each part of it.
//!
//! The headers: `Impersonate-User` (required when any other is given, else 400),
//! `Impersonate-Group` (repeatable), `Impersonate-Uid`, `Impersonate-Extra-<key>`
//! (repeatable; the key percent-decoded and lower-cased). Each part is one
//! authorization check with the verb `impersonate`, in this order: the user (resource
//! `users`, name the user; or, for `system:serviceaccount:<ns>:<name>`, resource
//! `serviceaccounts` named `<name>` in namespace `<ns>`), every group (`groups`), every
//! extra value (`userextras/<key>` in group `authentication.k8s.io`), the uid (`uids`
//! in `authentication.k8s.io`). The first refusal is the answer (403 in kube's words,
//! e.g. `users "carol" is forbidden: User "bob" cannot impersonate resource "users" in
//! API group "" at the cluster scope`).
//!
//! The impersonated user gets the given groups (a service account with none: its
//! `system:serviceaccounts` groups), plus `system:authenticated` unless
//! `system:authenticated` or `system:unauthenticated` was given (`system:anonymous`
//! gets `system:unauthenticated`). Extra values are authorized but not carried, since
//! nothing here reads them.

use http::HeaderMap;

use super::rbac::{Attributes, Authorizer};
use super::AUTHENTICATED_GROUP;
use crate::api::{ApiError, UserInfo};

/// `Impersonate-User`.
pub const USER_HEADER: &str = "impersonate-user";
/// `Impersonate-Group`.
pub const GROUP_HEADER: &str = "impersonate-group";
/// `Impersonate-Uid`.
pub const UID_HEADER: &str = "impersonate-uid";
/// Prefix of `Impersonate-Extra-<key>`.
pub const EXTRA_PREFIX: &str = "impersonate-extra-";

const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";
const ANONYMOUS_USER: &str = "system:anonymous";
const SA_PREFIX: &str = "system:serviceaccount:";

/// Whether `headers` ask for impersonation at all.
pub fn requested(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| {
        let k = k.as_str();
        k == USER_HEADER || k == GROUP_HEADER || k == UID_HEADER || k.starts_with(EXTRA_PREFIX)
    })
}

/// The identity `requester` acts as: itself without impersonation headers, else the
/// impersonated user once every part is authorized.
pub fn apply(authz: &Authorizer, requester: UserInfo, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
    if !requested(headers) {
        return Ok(requester);
    }
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    };
    let user = values(USER_HEADER).into_iter().next().unwrap_or_default();
    let groups = values(GROUP_HEADER);
    let uid = values(UID_HEADER).into_iter().next().unwrap_or_default();
    let mut extra: Vec<(String, Vec<String>)> = Vec::new();
    for key in headers.keys().filter_map(|k| k.as_str().strip_prefix(EXTRA_PREFIX)) {
        let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy().to_lowercase();
        if !extra.iter().any(|(k, _)| *k == decoded) {
            extra.push((decoded, values(&format!("{EXTRA_PREFIX}{key}"))));
        }
    }
    extra.sort();
    if user.is_empty() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "requested &user.DefaultInfo{{Name:\"\", UID:{:?}, Groups:{}, Extra:{}}} without impersonating a user name",
                uid,
                go_strings(&groups),
                go_extra(&extra)
            ),
        ));
    }

    let check = |attrs: Attributes| authz.check(&attrs);
    let as_requester = |resource: &str, group: &str, namespace: &str, name: &str| {
        Attributes::resource(requester.clone(), "impersonate", group, resource, namespace, name)
    };
    let mut result_groups = groups.clone();
    match service_account(&user) {
        Some((ns, name)) => {
            check(as_requester("serviceaccounts", "", ns, name))?;
            if groups.is_empty() {
                result_groups = vec!["system:serviceaccounts".to_owned(), format!("system:serviceaccounts:{ns}")];
            }
        }
        None => check(as_requester("users", "", "", &user))?,
    }
    for group in &groups {
        check(as_requester("groups", "", "", group))?;
    }
    for (key, vals) in &extra {
        for value in vals {
            let mut attrs = as_requester("userextras", "authentication.k8s.io", "", value);
            attrs.subresource = key.clone();
            check(attrs)?;
        }
    }
    if !uid.is_empty() {
        check(as_requester("uids", "authentication.k8s.io", "", &uid))?;
    }

    if user == ANONYMOUS_USER {
        if !result_groups.iter().any(|g| g == UNAUTHENTICATED_GROUP) {
            result_groups.push(UNAUTHENTICATED_GROUP.to_owned());
        }
    } else if !result_groups.iter().any(|g| g == AUTHENTICATED_GROUP || g == UNAUTHENTICATED_GROUP) {
        result_groups.push(AUTHENTICATED_GROUP.to_owned());
    }
    Ok(UserInfo { name: user, uid, groups: result_groups })
}

/// `(namespace, name)` of a service-account username.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let (ns, name) = user.strip_prefix(SA_PREFIX)?.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// Go's `%#v` of a `[]string`.
fn go_strings(values: &[String]) -> String {
    if values.is_empty() {
        return "[]string(nil)".to_owned();
    }
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Go's `%#v` of a `map[string][]string`.
fn go_extra(extra: &[(String, Vec<String>)]) -> String {
    if extra.is_empty() {
        return "map[string][]string(nil)".to_owned();
    }
    let entries: Vec<String> = extra.iter().map(|(k, v)| format!("{k:?}:{}", go_strings(v))).collect();
    format!("map[string][]string{{{}}}", entries.join(", "))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::HeaderValue;

    use super::*;
    use crate::auth::rbac::{bootstrap, AuthorizationMode};
    use crate::storage::Store;

    fn bob() -> UserInfo {
        UserInfo { name: "bob".into(), uid: String::new(), groups: vec![AUTHENTICATED_GROUP.into()] }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn needs_the_impersonate_verb() {
        let store = Arc::new(Store::new());
        bootstrap::ensure(&store);
        let authz = Authorizer::new(AuthorizationMode::Rbac, Arc::clone(&store));
        assert_eq!(apply(&authz, bob(), &HeaderMap::new()).unwrap(), bob());
        let err = apply(&authz, bob(), &headers(&[("impersonate-user", "alice")])).unwrap_err();
        assert_eq!(
            err.message,
            r#"users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope"#
        );
        let err = apply(&authz, bob(), &headers(&[("impersonate-group", "g1")])).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains(r#"Groups:[]string{"g1"}"#), "{}", err.message);

        let admin = UserInfo { name: "admin".into(), uid: String::new(), groups: vec!["system:masters".into()] };
        let sa =
            apply(&authz, admin.clone(), &headers(&[("impersonate-user", "system:serviceaccount:ns:build")])).unwrap();
        assert_eq!(sa.groups, ["system:serviceaccounts", "system:serviceaccounts:ns", AUTHENTICATED_GROUP]);
        let u = apply(
            &authz,
            admin,
            &headers(&[("impersonate-user", "alice"), ("impersonate-group", "dev"), ("impersonate-uid", "42")]),
        )
        .unwrap();
        assert_eq!((u.name.as_str(), u.uid.as_str()), ("alice", "42"));
        assert_eq!(u.groups, ["dev", AUTHENTICATED_GROUP]);
    }
}
