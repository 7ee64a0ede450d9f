//! The authorization step of the request pipeline: what `handlers` calls after
//! authentication and before any handler runs.
//!
//! [`admit`] applies impersonation headers ([`crate::auth::impersonation`]), builds the
//! request's [`Attributes`] and asks the [`Authorizer`]; a refusal is kube's 403. A
//! request without credentials arrives as `system:anonymous` in
//! `system:unauthenticated` and is asked about like any other.

use http::{HeaderMap, Method, Uri};

use super::{Attributes, Authorizer};
use crate::api::{ApiError, UserInfo};
use crate::auth::impersonation;

/// The identity the request acts as, if it may do what it asks; else the 403 (or
/// impersonation's 400/403).
pub fn admit(
    authz: &Authorizer,
    user: UserInfo,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<UserInfo, ApiError> {
    let user = if impersonation::requested(headers) {
        let request = Attributes::from_request(user.clone(), method, uri.path(), uri.query());
        impersonation::apply(authz, user, headers, &request)?
    } else {
        user
    };
    // The common case (the admin, or AlwaysAllow) needs no attributes at all.
    if !authz.allows_everything(&user) {
        authz.check(&Attributes::from_request(user.clone(), method, uri.path(), uri.query()))?;
    }
    Ok(user)
}
