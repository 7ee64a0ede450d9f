//! Authentication and authorization: who is asking, and may they.
//!
//! The TLS layer ([`crate::tls`]) has already checked any client certificate's chain
//! against the client CAs; [`Authenticator::authenticate`] turns the verified
//! certificate (CN = user, O = groups, read by `ferrokube_apimachinery::x509`) or a bearer token (from a
//! `--token-auth-file`, see [`token_file`], a service-account token, see
//! [`service_account_tokens`], or the generated admin token) into a [`UserInfo`]
//! (every authenticated user is in `system:authenticated`; service accounts also in
//! `system:serviceaccounts` and `system:serviceaccounts:<namespace>`).
//!
//! Then `handlers` applies impersonation headers ([`impersonation`]) and asks the
//! [`rbac::Authorizer`] (kube's RBAC, the default, or AlwaysAllow) before any handler
//! runs; a refusal is kube's 403. The generated admin identities are in
//! `system:masters`, which may do everything. A request without credentials is
//! `system:anonymous` in `system:unauthenticated` (kube-apiserver's `--anonymous-auth`,
//! on by default) and is authorized like any other: kube's `system:public-info-viewer`
//! role allows it `/healthz`, `/livez`, `/readyz` and `/version`, RBAC refuses the rest
//! with 403 (AlwaysAllow allows everything, as kube's does). With anonymous
//! authentication off ([`Authenticator::set_anonymous`]) it is refused with 401.
//!
//! The review APIs (`selfsubjectreviews`, `tokenreviews`, the access reviews) are
//! answered here too ([`reviews`], [`rbac::reviews`]), not stored.

pub mod impersonation;
pub mod rbac;
pub mod reviews;
pub mod service_account_tokens;
pub mod token_file;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use ferrokube_apimachinery::x509::Certificate;

use crate::api::UserInfo;

/// The group every authenticated user belongs to.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";

/// Turns request credentials into a [`UserInfo`]: static tokens (token file, admin),
/// service-account tokens issued at run time, verified client certificates.
#[derive(Clone, Default)]
pub struct Authenticator {
    tokens: HashMap<String, UserInfo>,
    service_accounts: Arc<service_account_tokens::ServiceAccountTokens>,
    /// Whether a request without credentials is `system:anonymous` (else 401).
    anonymous: bool,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator").field("tokens", &self.tokens.len()).finish_non_exhaustive()
    }
}

/// Why a request could not be authenticated (rendered as 401 Unauthorized).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials at all.
    Anonymous,
    /// A bearer token that no authenticator knows.
    UnknownToken,
    /// A client certificate whose subject has no usable common name.
    BadCertificate,
}

impl Authenticator {
    /// An authenticator with no tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a request without credentials is `system:anonymous` (kube-apiserver's
    /// `--anonymous-auth`, on by default) or refused with 401.
    pub fn set_anonymous(&mut self, allowed: bool) {
        self.anonymous = allowed;
    }

    /// Accept `token` as `user`. The token is never logged or shown.
    pub fn add_token(&mut self, token: impl Into<String>, user: UserInfo) {
        self.tokens.insert(token.into(), user);
    }

    /// Accept every token of a parsed token file.
    pub fn add_token_file(&mut self, tokens: token_file::TokenFile) {
        for (token, user) in tokens.into_entries() {
            self.add_token(token, user);
        }
    }

    /// Authenticate a request: a verified client certificate (its DER, if the TLS
    /// handshake presented one) wins, then the `Authorization: Bearer` header.
    pub fn authenticate(
        &self,
        client_cert: Option<&[u8]>,
        authorization: Option<&http::HeaderValue>,
    ) -> Result<UserInfo, AuthError> {
        if let Some(der) = client_cert {
            let identity = Certificate::parse(der).and_then(|c| c.subject_identity());
            return match identity {
                Ok((name, groups)) if !name.is_empty() => {
                    Ok(with_authenticated(UserInfo { name, uid: String::new(), groups, extra: Default::default() }))
                }
                _ => Err(AuthError::BadCertificate),
            };
        }
        let Some(header) = authorization else {
            return if self.anonymous { Ok(anonymous_user()) } else { Err(AuthError::Anonymous) };
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, rest) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return Err(AuthError::UnknownToken);
        };
        match self.tokens.get(token) {
            Some(user) => Ok(with_authenticated(user.clone())),
            None => self.service_accounts.lookup(token).map(with_authenticated).ok_or(AuthError::UnknownToken),
        }
    }

    /// A TokenReview of `token` for `audiences` (the API audiences when empty): the
    /// user and the reviewed audiences it is valid for, or the review's `status.error`.
    /// Tokens of the token file are valid for the API audiences only.
    pub fn review_token(&self, token: &str, audiences: &[String]) -> Result<(UserInfo, Vec<String>), String> {
        const INVALID: &str = "invalid bearer token";
        if token.is_empty() {
            return Err(INVALID.into());
        }
        if let Some(user) = self.tokens.get(token) {
            let api = service_account_tokens::API_AUDIENCES;
            let matched: Vec<String> = if audiences.is_empty() {
                api.iter().map(|a| a.to_string()).collect()
            } else {
                audiences.iter().filter(|a| api.contains(&a.as_str())).cloned().collect()
            };
            return if matched.is_empty() {
                Err(INVALID.into())
            } else {
                Ok((with_authenticated(user.clone()), matched))
            };
        }
        match self.service_accounts.review(token, audiences) {
            Ok(Some((user, matched))) => Ok((with_authenticated(user), matched)),
            Ok(None) => Err(INVALID.into()),
            // kube's union of authenticators lists every one's failure.
            Err(why) => Err(format!("[{INVALID}, {why}]")),
        }
    }

    /// The issuer of service-account tokens (`serviceaccounts/<name>/token`).
    pub fn service_accounts(&self) -> &service_account_tokens::ServiceAccountTokens {
        &self.service_accounts
    }
}

/// Add [`AUTHENTICATED_GROUP`] to `user`'s groups if it is not there.
pub fn with_authenticated(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        user.groups.push(AUTHENTICATED_GROUP.to_owned());
    }
    user
}

/// The identity of a request without credentials, as kube names it.
pub fn anonymous_user() -> UserInfo {
    UserInfo {
        name: "system:anonymous".into(),
        uid: String::new(),
        groups: vec!["system:unauthenticated".into()],
        extra: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens() {
        let mut a = Authenticator::new();
        a.add_token(
            "s3cret",
            UserInfo { name: "alice".into(), uid: "1".into(), groups: vec![], extra: Default::default() },
        );
        let h = http::HeaderValue::from_static("Bearer s3cret");
        let u = a.authenticate(None, Some(&h)).unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.groups, [AUTHENTICATED_GROUP]);
        let bad = http::HeaderValue::from_static("Bearer nope");
        assert_eq!(a.authenticate(None, Some(&bad)), Err(AuthError::UnknownToken));
        assert_eq!(a.authenticate(None, None), Err(AuthError::Anonymous));
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
