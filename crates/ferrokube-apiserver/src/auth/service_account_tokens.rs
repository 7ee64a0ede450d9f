//! Service-account tokens: `POST .../serviceaccounts/<name>/token` (a TokenRequest, what
//! `kubectl create token` sends) issues a random bearer token that authenticates as
//! `system:serviceaccount:<namespace>:<name>` in groups `system:serviceaccounts` and
//! `system:serviceaccounts:<namespace>` until it expires (`spec.expirationSeconds`,
//! default one hour). As kube-apiserver, a request for less than ten minutes or more
//! than 2^32 seconds is invalid ([`expiration_error`]; the handler answers 422). Tokens
//! are opaque (not JWTs) and live in memory only; they are never logged.
//!
//! A token is for the audiences it was requested for (`spec.audiences`, default the API
//! server's own, [`API_AUDIENCES`]): it authenticates requests to this server only if
//! one of them is the API audience ([`ServiceAccountTokens::lookup`]), and a TokenReview
//! accepts it for the audiences it names that the token has
//! ([`ServiceAccountTokens::review`]), as kube-apiserver's audience checks do.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::UserInfo;

/// The API server's audiences (kube-apiserver's `--api-audiences`, defaulting to its
/// service-account issuer; a kubeadm cluster's, and realkube's).
pub const API_AUDIENCES: &[&str] = &["https://kubernetes.default.svc.cluster.local"];

/// Default token lifetime (kube's default `expirationSeconds`).
pub const DEFAULT_EXPIRATION: Duration = Duration::from_secs(3600);
/// Shortest lifetime kube accepts.
pub const MIN_EXPIRATION: Duration = Duration::from_secs(600);
/// Longest lifetime kube accepts (2^32 seconds).
pub const MAX_EXPIRATION: Duration = Duration::from_secs(1 << 32);

/// Why a TokenRequest's `spec.expirationSeconds` is invalid, in kube-apiserver's words
/// (`None` when it is absent or acceptable). A value that is not a whole number is
/// left to the decoder.
pub fn expiration_error(request: &Value) -> Option<(Value, &'static str)> {
    let value = request.pointer("/spec/expirationSeconds")?;
    let seconds = value.as_i64()?;
    if seconds < MIN_EXPIRATION.as_secs() as i64 {
        Some((value.clone(), "may not specify a duration less than 10 minutes"))
    } else if seconds > MAX_EXPIRATION.as_secs() as i64 {
        Some((value.clone(), "may not specify a duration larger than 2^32 seconds"))
    } else {
        None
    }
}

/// Issued service-account tokens.
#[derive(Default)]
pub struct ServiceAccountTokens {
    tokens: RwLock<HashMap<String, Issued>>,
}

/// What a token was issued as.
struct Issued {
    user: UserInfo,
    expires: Instant,
    audiences: Vec<String>,
}

impl fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountTokens").finish_non_exhaustive()
    }
}

impl ServiceAccountTokens {
    /// The user behind `token` for a request to this server: if it was issued here,
    /// has not expired and is for one of the [`API_AUDIENCES`].
    pub fn lookup(&self, token: &str) -> Option<UserInfo> {
        let api: Vec<String> = API_AUDIENCES.iter().map(|a| a.to_string()).collect();
        self.review(token, &api).ok().flatten().map(|(user, _)| user)
    }

    /// A TokenReview of `token` for `audiences` (the API audiences when empty):
    /// `Ok(None)` for a token not issued here (or expired), `Ok(Some((user, audiences)))`
    /// with the requested audiences the token has, or `Err` with kube's words when it
    /// has none of them (`token audiences ["a"] is invalid for the target audiences
    /// ["b"]`).
    pub fn review(&self, token: &str, audiences: &[String]) -> Result<Option<(UserInfo, Vec<String>)>, String> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let Some(issued) = tokens.get(token).filter(|i| Instant::now() < i.expires) else {
            return Ok(None);
        };
        let api: Vec<String> = API_AUDIENCES.iter().map(|a| a.to_string()).collect();
        let target = if audiences.is_empty() { &api[..] } else { audiences };
        let matched: Vec<String> = target.iter().filter(|a| issued.audiences.contains(a)).cloned().collect();
        if matched.is_empty() {
            return Err(format!(
                "token audiences {} is invalid for the target audiences {}",
                go_quoted(&issued.audiences),
                go_quoted(target)
            ));
        }
        Ok(Some((issued.user.clone(), matched)))
    }

    /// Answer a TokenRequest for service account `name` (uid `uid`) in `namespace`:
    /// issue a token and return the TokenRequest object with its status filled in. The
    /// lifetime is kept within kube's bounds even if [`expiration_error`] was not asked.
    pub fn issue(&self, namespace: &str, name: &str, uid: &str, request: &Value) -> Value {
        let requested = request.pointer("/spec/expirationSeconds").and_then(Value::as_u64);
        let lifetime =
            requested.map_or(DEFAULT_EXPIRATION, |s| Duration::from_secs(s).clamp(MIN_EXPIRATION, MAX_EXPIRATION));
        let token = random_token();
        let audiences: Vec<String> = match request.pointer("/spec/audiences").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => API_AUDIENCES.iter().map(|a| a.to_string()).collect(),
        };
        let user = UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_owned(),
            groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")],
            extra: Default::default(),
        };
        {
            let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            tokens.retain(|_, issued| issued.expires > now);
            // 2^32 s from now fits an Instant on every platform this runs on; should it
            // not, the token expires at the latest instant there is rather than panic.
            let expires = now.checked_add(lifetime).unwrap_or(now + DEFAULT_EXPIRATION);
            tokens.insert(token.clone(), Issued { user, expires, audiences: audiences.clone() });
        }
        let now = jiff::Timestamp::now();
        let expires = now.checked_add(jiff::SignedDuration::from_secs(lifetime.as_secs() as i64)).unwrap_or(now);
        let mut spec = request.get("spec").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
        spec["expirationSeconds"] = json!(lifetime.as_secs());
        spec["audiences"] = json!(audiences);
        if spec.get("boundObjectRef").is_none() {
            spec["boundObjectRef"] = Value::Null;
        }
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": crate::registry::meta::new_uid(),
                "creationTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            },
            "spec": spec,
            "status": {
                "token": token,
                "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            },
        })
    }
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn go_quoted(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", items.join(" "))
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    format!("fk-sa.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_and_lookup() {
        let t = ServiceAccountTokens::default();
        let answer = t.issue("ns", "builder", "u-1", &json!({"spec": {"expirationSeconds": 60}}));
        assert_eq!(answer["spec"]["expirationSeconds"], 600);
        let token = answer["status"]["token"].as_str().unwrap();
        let user = t.lookup(token).unwrap();
        assert_eq!(user.name, "system:serviceaccount:ns:builder");
        assert_eq!(user.groups, ["system:serviceaccounts", "system:serviceaccounts:ns"]);
        assert!(t.lookup("nope").is_none());
        assert!(!format!("{t:?}").contains(token));
    }

    #[test]
    fn audiences_decide_where_a_token_is_accepted() {
        let t = ServiceAccountTokens::default();
        let answer = t.issue("ns", "sa", "u", &json!({"spec": {"audiences": ["vault"]}}));
        let token = answer["status"]["token"].as_str().unwrap();
        assert!(t.lookup(token).is_none(), "a token for another audience does not authenticate here");
        let (user, matched) = t.review(token, &["vault".into(), "x".into()]).unwrap().unwrap();
        assert_eq!(user.name, "system:serviceaccount:ns:sa");
        assert_eq!(matched, ["vault"]);
        assert_eq!(
            t.review(token, &["a".into(), "b".into()]).unwrap_err(),
            r#"token audiences ["vault"] is invalid for the target audiences ["a" "b"]"#
        );
        assert_eq!(t.review("nope", &[]), Ok(None));
        let default = t.issue("ns", "sa", "u", &json!({"spec": {}}));
        assert_eq!(default["spec"]["audiences"], json!(API_AUDIENCES));
        assert!(t.lookup(default["status"]["token"].as_str().unwrap()).is_some());
    }

    #[test]
    fn expiration_bounds_as_kube() {
        let request = |s: i64| json!({"spec": {"expirationSeconds": s}});
        assert_eq!(
            expiration_error(&request(599)).map(|e| e.1),
            Some("may not specify a duration less than 10 minutes")
        );
        assert_eq!(expiration_error(&request(600)), None);
        assert_eq!(expiration_error(&request(1 << 32)), None);
        let too_long = expiration_error(&request((1 << 32) + 1)).expect("too long");
        assert_eq!(too_long.1, "may not specify a duration larger than 2^32 seconds");
        assert_eq!(expiration_error(&json!({"spec": {}})), None);
        // Issued anyway, the lifetime stays within bounds and nothing overflows.
        let t = ServiceAccountTokens::default();
        let answer = t.issue("ns", "sa", "u", &request(i64::MAX));
        assert_eq!(answer["spec"]["expirationSeconds"], 1u64 << 32);
    }
}
