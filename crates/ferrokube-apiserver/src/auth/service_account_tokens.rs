//! Service-account tokens: `POST .../serviceaccounts/<name>/token` (a TokenRequest, what
//! `kubectl create token` sends) issues a random bearer token that authenticates as
//! `system:serviceaccount:<namespace>:<name>` in groups `system:serviceaccounts` and
//! `system:serviceaccounts:<namespace>` until it expires (`spec.expirationSeconds`,
//! default one hour, at least ten minutes as in kube). Tokens are opaque (not JWTs) and
//! live in memory only; they are never logged.

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
    /// issue a token and return the TokenRequest object with its status filled in.
    pub fn issue(&self, namespace: &str, name: &str, uid: &str, request: &Value) -> Value {
        let requested = request.pointer("/spec/expirationSeconds").and_then(Value::as_u64);
        let lifetime = requested.map_or(DEFAULT_EXPIRATION, |s| Duration::from_secs(s).max(MIN_EXPIRATION));
        let token = random_token();
        let user = UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_owned(),
            groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")],
        };
        {
            let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            tokens.retain(|_, (_, expires)| *expires > now);
            tokens.insert(token.clone(), (user, now + lifetime));
        }
        let now = jiff::Timestamp::now();
        let expires = now.checked_add(jiff::SignedDuration::from_secs(lifetime.as_secs() as i64)).unwrap_or(now);
        let mut spec = request.get("spec").cloned().filter(Value::is_object).unwrap_or_else(|| json!({}));
        spec["expirationSeconds"] = json!(lifetime.as_secs());
        if spec.get("audiences").is_none() {
            spec["audiences"] = json!(["https://kubernetes.default.svc"]);
        }
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
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
}
