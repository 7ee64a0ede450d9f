//! Impersonation headers, as kube-apiserver v1.37's impersonation filter: a request may
//! act as another identity (`kubectl --as=bob --as-group=dev`) if its own user may
//! impersonate each part of it, in one of kube's impersonation modes.
//!
//! The headers: `Impersonate-User` (required when any other is given, else 400),
//! `Impersonate-Group` (repeatable), `Impersonate-Uid`, `Impersonate-Extra-<key>`
//! (repeatable; the key percent-decoded and lower-cased).
//!
//! Modes are tried in kube's order; the first that succeeds wins, else the first
//! error is the answer (403 in kube's words), except that the mode that last succeeded
//! for the same requester is tried first, as kube does:
//! - constrained modes (beta, on by default in 1.37): `arbitrary-node` (a
//!   `system:node:<name>` user alone), `serviceaccount` (a
//!   `system:serviceaccount:<ns>:<name>` user alone), `user-info` (any other user, with
//!   groups, uid, extras). Each first needs the verb `impersonate-on:<mode>:<verb>` on
//!   what the request itself does (`impersonate-on:user-info:list` on `pods` in the
//!   namespace), then `impersonate:<mode>` on every identity part, in API group
//!   `authentication.k8s.io`; `system:masters` cannot be impersonated this way;
//! - `legacy`: the classic verb `impersonate` on `users` (or `serviceaccounts` in the
//!   account's namespace), `groups` (core group), `uids` and `userextras/<key>`
//!   (`authentication.k8s.io`), e.g. `users "carol" is forbidden: User "bob" cannot
//!   impersonate resource "users" in API group "" at the cluster scope`.
//!
//! The impersonated user gets the given groups (a service account with none: its
//! `system:serviceaccounts` groups; a node: `system:nodes`), plus
//! `system:authenticated` unless `system:unauthenticated` was given
//! (`system:anonymous` gets `system:unauthenticated`), and the uid and extra values.

use std::collections::HashMap;
use std::sync::Mutex;

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
const NODE_PREFIX: &str = "system:node:";
const AUTHENTICATION_GROUP: &str = "authentication.k8s.io";
/// From this many groups on, constrained modes first try one check for all groups.
const MANY_CHECKS: usize = 4;
/// Requesters remembered by [`ModeCache`] before it starts over.
const MODE_CACHE_LIMIT: usize = 10_000;

/// Whether `headers` ask for impersonation at all.
pub fn requested(headers: &HeaderMap) -> bool {
    headers.keys().any(|k| {
        let k = k.as_str();
        k == USER_HEADER || k == GROUP_HEADER || k == UID_HEADER || k.starts_with(EXTRA_PREFIX)
    })
}

/// The mode that last succeeded for each requester (kube tries it first).
#[derive(Debug, Default)]
pub struct ModeCache(Mutex<HashMap<String, usize>>);

impl ModeCache {
    fn get(&self, requester: &UserInfo) -> Option<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&cache_key(requester)).copied()
    }

    fn set(&self, requester: &UserInfo, mode: usize) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MODE_CACHE_LIMIT {
            map.clear();
        }
        map.insert(cache_key(requester), mode);
    }
}

fn cache_key(user: &UserInfo) -> String {
    format!("{}\u{0}{}\u{0}{}", user.name, user.uid, user.groups.join("\u{0}"))
}

/// The identity asked for by the headers.
#[derive(Clone, Debug, Default)]
struct Wanted {
    name: String,
    uid: String,
    groups: Vec<String>,
    extra: Vec<(String, Vec<String>)>,
}

impl Wanted {
    fn only_name(&self) -> bool {
        self.uid.is_empty() && self.groups.is_empty() && self.extra.is_empty()
    }
}

/// kube's impersonation modes, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    ArbitraryNode,
    ServiceAccount,
    UserInfo,
    Legacy,
}

const MODES: [Mode; 4] = [Mode::ArbitraryNode, Mode::ServiceAccount, Mode::UserInfo, Mode::Legacy];

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::ArbitraryNode => "arbitrary-node",
            Mode::ServiceAccount => "serviceaccount",
            Mode::UserInfo => "user-info",
            Mode::Legacy => "legacy",
        }
    }

    fn applies(self, wanted: &Wanted) -> bool {
        let node = node_name(&wanted.name).is_some();
        let sa = service_account(&wanted.name).is_some();
        match self {
            Mode::ArbitraryNode => node && wanted.only_name(),
            Mode::ServiceAccount => sa && wanted.only_name(),
            Mode::UserInfo => !node && !sa,
            Mode::Legacy => true,
        }
    }
}

/// The identity `requester` acts as: itself without impersonation headers, else the
/// impersonated user once a mode allows it. `request` is what the request does,
/// asked as the requester (for the `impersonate-on:` checks).
pub fn apply(
    authz: &Authorizer,
    requester: UserInfo,
    headers: &HeaderMap,
    request: &Attributes,
) -> Result<UserInfo, ApiError> {
    if !requested(headers) {
        return Ok(requester);
    }
    let wanted = parse(headers)?;
    let cache = authz.impersonation_modes();
    let first = cache.get(&requester);
    let mut first_err = None;
    let order = first.into_iter().chain((0..MODES.len()).filter(|i| Some(*i) != first));
    for index in order {
        let mode = MODES[index];
        if !mode.applies(&wanted) {
            continue;
        }
        match check(authz, mode, &requester, &wanted, request) {
            Ok(user) => {
                cache.set(&requester, index);
                return Ok(user);
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| request.forbidden("all impersonation modes failed")))
}

/// The wanted identity from the headers; 400 without a user name.
fn parse(headers: &HeaderMap) -> Result<Wanted, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    };
    let mut wanted = Wanted {
        name: values(USER_HEADER).into_iter().next().unwrap_or_default(),
        uid: values(UID_HEADER).into_iter().next().unwrap_or_default(),
        groups: values(GROUP_HEADER),
        extra: Vec::new(),
    };
    for key in headers.keys().filter_map(|k| k.as_str().strip_prefix(EXTRA_PREFIX)) {
        let decoded = percent_encoding::percent_decode_str(key).decode_utf8_lossy().to_lowercase();
        if !wanted.extra.iter().any(|(k, _)| *k == decoded) {
            wanted.extra.push((decoded, values(&format!("{EXTRA_PREFIX}{key}"))));
        }
    }
    wanted.extra.sort();
    if wanted.name.is_empty() {
        return Err(ApiError::new(
            400,
            "BadRequest",
            format!(
                "requested &user.DefaultInfo{{Name:\"\", UID:{:?}, Groups:{}, Extra:{}}} without impersonating a user name",
                wanted.uid,
                go_strings(&wanted.groups),
                go_extra(&wanted.extra)
            ),
        ));
    }
    Ok(wanted)
}

/// One mode's checks; the impersonated user if they all pass.
fn check(
    authz: &Authorizer,
    mode: Mode,
    requester: &UserInfo,
    wanted: &Wanted,
    request: &Attributes,
) -> Result<UserInfo, ApiError> {
    let constrained = mode != Mode::Legacy;
    if constrained {
        let mut on = request.clone();
        on.verb = format!("impersonate-on:{}:{}", mode.name(), request.verb);
        authz.check(&on)?;
    }
    let (verb, identity_group) = if constrained {
        (format!("impersonate:{}", mode.name()), AUTHENTICATION_GROUP)
    } else {
        ("impersonate".to_owned(), "")
    };
    let ask = |group: &str, resource: &str, namespace: &str, name: &str| {
        Attributes::resource(requester.clone(), &verb, group, resource, namespace, name)
    };
    let mut groups = wanted.groups.clone();
    let user = match (node_name(&wanted.name).filter(|_| constrained), service_account(&wanted.name)) {
        (Some(node), _) => {
            groups = vec!["system:nodes".to_owned()];
            ask(identity_group, "nodes", "", node)
        }
        (None, Some((ns, name))) => {
            if wanted.groups.is_empty() {
                groups = vec!["system:serviceaccounts".to_owned(), format!("system:serviceaccounts:{ns}")];
            }
            ask(identity_group, "serviceaccounts", ns, name)
        }
        (None, None) => ask(identity_group, "users", "", &wanted.name),
    };
    authz.check(&user)?;
    if !wanted.uid.is_empty() {
        authz.check(&ask(AUTHENTICATION_GROUP, "uids", "", &wanted.uid))?;
    }
    if !wanted.groups.is_empty() {
        let all_at_once = constrained && wanted.groups.len() >= MANY_CHECKS;
        if constrained && wanted.groups.iter().any(|g| g == super::rbac::PRIVILEGED_GROUP) {
            let attrs = ask(identity_group, "groups", "", super::rbac::PRIVILEGED_GROUP);
            return Err(attrs.forbidden("impersonating the system:masters group is not allowed"));
        }
        if !(all_at_once && authz.authorize(&ask(identity_group, "groups", "", "*")).allowed) {
            for group in &wanted.groups {
                authz.check(&ask(identity_group, "groups", "", group))?;
            }
        }
    }
    for (key, values) in &wanted.extra {
        for value in values {
            let mut attrs = ask(AUTHENTICATION_GROUP, "userextras", "", value);
            attrs.subresource = key.clone();
            authz.check(&attrs)?;
        }
    }
    if wanted.name == ANONYMOUS_USER {
        if !groups.iter().any(|g| g == UNAUTHENTICATED_GROUP) {
            groups.push(UNAUTHENTICATED_GROUP.to_owned());
        }
    } else if !groups.iter().any(|g| g == AUTHENTICATED_GROUP || g == UNAUTHENTICATED_GROUP) {
        groups.push(AUTHENTICATED_GROUP.to_owned());
    }
    let extra = wanted.extra.iter().cloned().collect();
    Ok(UserInfo { name: wanted.name.clone(), uid: wanted.uid.clone(), groups, extra })
}

/// `(namespace, name)` of a service-account username.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let (ns, name) = user.strip_prefix(SA_PREFIX)?.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The node name of a `system:node:<name>` username (a DNS subdomain).
fn node_name(user: &str) -> Option<&str> {
    let name = user.strip_prefix(NODE_PREFIX)?;
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    (name.len() <= 253 && name.split('.').all(label_ok)).then_some(name)
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

    use http::{HeaderValue, Method};
    use serde_json::json;

    use super::*;
    use crate::auth::rbac::policy::{CLUSTER_ROLES, CLUSTER_ROLE_BINDINGS};
    use crate::auth::rbac::{bootstrap, AuthorizationMode};
    use crate::storage::Store;

    fn bob() -> UserInfo {
        UserInfo {
            name: "bob".into(),
            uid: String::new(),
            groups: vec![AUTHENTICATED_GROUP.into()],
            extra: Default::default(),
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn list_pods(user: &UserInfo) -> Attributes {
        Attributes::from_request(user.clone(), &Method::GET, "/api/v1/namespaces/x/pods", None)
    }

    fn grant(store: &Store, name: &str, rules: serde_json::Value) {
        store.create(CLUSTER_ROLES, name, json!({"metadata": {"name": name}, "rules": rules})).unwrap();
        store
            .create(
                CLUSTER_ROLE_BINDINGS,
                name,
                json!({"metadata": {"name": name}, "roleRef": {"kind": "ClusterRole", "name": name},
                    "subjects": [{"kind": "User", "name": "bob"}]}),
            )
            .unwrap();
    }

    fn setup() -> (Arc<Store>, Authorizer) {
        let store = Arc::new(Store::new());
        bootstrap::ensure(&store);
        let authz = Authorizer::new(AuthorizationMode::Rbac, Arc::clone(&store));
        (store, authz)
    }

    #[test]
    fn refusals_name_the_first_mode() {
        let (_, authz) = setup();
        let req = list_pods(&bob());
        assert_eq!(apply(&authz, bob(), &HeaderMap::new(), &req).unwrap(), bob());
        let err = apply(&authz, bob(), &headers(&[("impersonate-user", "alice")]), &req).unwrap_err();
        assert_eq!(
            err.message,
            r#"pods is forbidden: User "bob" cannot impersonate-on:user-info:list resource "pods" in API group "" in the namespace "x""#
        );
        let err =
            apply(&authz, bob(), &headers(&[("impersonate-user", "system:serviceaccount:a:b")]), &req).unwrap_err();
        assert!(err.message.contains("cannot impersonate-on:serviceaccount:list resource"), "{}", err.message);
        let err = apply(&authz, bob(), &headers(&[("impersonate-group", "g1")]), &req).unwrap_err();
        assert_eq!(err.code, 400);
        assert!(err.message.contains(r#"Groups:[]string{"g1"}"#), "{}", err.message);
    }

    #[test]
    fn legacy_and_constrained_grants() {
        let (store, authz) = setup();
        let req = list_pods(&bob());
        grant(
            &store,
            "legacy",
            json!([{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"], "resourceNames": ["alice"]}]),
        );
        let u = apply(&authz, bob(), &headers(&[("impersonate-user", "alice")]), &req).unwrap();
        assert_eq!((u.name.as_str(), u.groups.as_slice()), ("alice", &[AUTHENTICATED_GROUP.to_owned()][..]));
        // Legacy succeeded last: its refusal comes first now.
        let err = apply(&authz, bob(), &headers(&[("impersonate-user", "carol")]), &req).unwrap_err();
        assert_eq!(
            err.message,
            r#"users "carol" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope"#
        );

        grant(
            &store,
            "constrained",
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["impersonate-on:user-info:list"]},
                   {"apiGroups": ["authentication.k8s.io"], "resources": ["users", "groups"], "verbs": ["impersonate:user-info"]}]),
        );
        let u = apply(&authz, bob(), &headers(&[("impersonate-user", "carol"), ("impersonate-group", "dev")]), &req)
            .unwrap();
        assert_eq!(u.groups, ["dev", AUTHENTICATED_GROUP]);
        let err = apply(
            &authz,
            bob(),
            &headers(&[("impersonate-user", "carol"), ("impersonate-group", "system:masters")]),
            &req,
        )
        .unwrap_err();
        assert!(err.message.ends_with("impersonating the system:masters group is not allowed"), "{}", err.message);
    }

    #[test]
    fn the_admin_may_impersonate_anyone() {
        let (_, authz) = setup();
        let admin = UserInfo {
            name: "admin".into(),
            uid: String::new(),
            groups: vec!["system:masters".into()],
            extra: Default::default(),
        };
        let req = list_pods(&admin);
        let sa =
            apply(&authz, admin.clone(), &headers(&[("impersonate-user", "system:serviceaccount:ns:build")]), &req)
                .unwrap();
        assert_eq!(sa.groups, ["system:serviceaccounts", "system:serviceaccounts:ns", AUTHENTICATED_GROUP]);
        let node = apply(&authz, admin.clone(), &headers(&[("impersonate-user", "system:node:n1")]), &req).unwrap();
        assert_eq!(node.groups, ["system:nodes", AUTHENTICATED_GROUP]);
        let u = apply(
            &authz,
            admin,
            &headers(&[("impersonate-user", "alice"), ("impersonate-group", "dev"), ("impersonate-uid", "42")]),
            &req,
        )
        .unwrap();
        assert_eq!((u.name.as_str(), u.uid.as_str()), ("alice", "42"));
        assert_eq!(u.groups, ["dev", AUTHENTICATED_GROUP]);
    }
}
