//! Service-account tokens: `POST .../serviceaccounts/<name>/token` (a TokenRequest, what
//! `kubectl create token` sends) issues a random bearer token that authenticates as
//! `system:serviceaccount:<namespace>:<name>` in groups `system:serviceaccounts` and
//! `system:serviceaccounts:<namespace>` until it expires (`spec.expirationSeconds`,
//! default one hour). As kube-apiserver, a request for less than ten minutes or more
//! than 2^32 seconds is invalid ([`expiration_error`]; the handler answers 422). Tokens
//! are opaque (not JWTs) and live in memory only; they are never logged.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::api::UserInfo;

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
    tokens: RwLock<HashMap<String, (UserInfo, Instant)>>,
}

impl fmt::Debug for ServiceAccountTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountTokens").finish_non_exhaustive()
    }
}

impl ServiceAccountTokens {
    /// The user behind `token`, if it was issued here and has not expired.
    pub fn lookup(&self, token: &str) -> Option<UserInfo> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        match tokens.get(token) {
            Some((user, expires)) if Instant::now() < *expires => Some(user.clone()),
            _ => None,
        }
    }

    /// Answer a TokenRequest for service account `name` (uid `uid`) in `namespace`:
    /// issue a token and return the TokenRequest object with its status filled in. The
    /// lifetime is kept within kube's bounds even if [`expiration_error`] was not asked.
    pub fn issue(&self, namespace: &str, name: &str, uid: &str, request: &Value) -> Value {
        let requested = request.pointer("/spec/expirationSeconds").and_then(Value::as_u64);
        let lifetime =
            requested.map_or(DEFAULT_EXPIRATION, |s| Duration::from_secs(s).clamp(MIN_EXPIRATION, MAX_EXPIRATION));
        let token = random_token();
        let user = UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_owned(),
            groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")],
            extra: Default::default(),
        };
        {
            let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            tokens.retain(|_, (_, expires)| *expires > now);
            // 2^32 s from now fits an Instant on every platform this runs on; should it
            // not, the token expires at the latest instant there is rather than panic.
            let expires = now.checked_add(lifetime).unwrap_or(now + DEFAULT_EXPIRATION);
            tokens.insert(token.clone(), (user, expires));
        }
        let now = jiff::Timestamp::now();
        let expires = now.checked_add(jiff::SignedDuration::from_secs(lifetime.as_secs() as i64)).unwrap_or(now);
        let mut spec = request.get("spec").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
        spec["expirationSeconds"] = json!(lifetime.as_secs());
        if spec.get("audiences").is_none() {
            // The API server's audience (kube-apiserver's --api-audiences, defaulting to
            // its service-account issuer; a kubeadm cluster's, and realkube's).
            spec["audiences"] = json!(["https://kubernetes.default.svc.cluster.local"]);
        }
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
