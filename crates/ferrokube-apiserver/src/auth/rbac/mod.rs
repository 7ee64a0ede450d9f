//! Authorization as kube-apiserver's `--authorization-mode=RBAC` (the default), or
//! `AlwaysAllow`.
//!
//! The flow of a request: `handlers` authenticates it ([`crate::auth::Authenticator`]),
//! applies impersonation headers ([`crate::auth::impersonation`], each impersonated
//! identity authorized with the `impersonate` verb), turns method, path and query into
//! [`Attributes`] (kube's RequestInfo, [`attributes`]) and asks
//! [`Authorizer::authorize`]; a refusal is a 403 Status in kube's words
//! ([`Attributes::forbidden`]), before the path is even resolved.
//!
//! In RBAC mode, members of `system:masters` may do everything (kube-apiserver's
//! privileged-group authorizer, so the admin identities the server writes into its
//! kubeconfig stay all-powerful whatever happens to the RBAC objects); everyone else
//! gets what their bindings grant ([`policy`] walks the bindings, [`rules`] matches one
//! rule). The server starts with kube's bootstrap roles and bindings ([`bootstrap`]:
//! cluster-admin, admin, edit, view, system:basic-user, system:discovery,
//! system:public-info-viewer, the controllers' and nodes' roles, ...), and keeps the
//! rules of aggregated ClusterRoles up to date ([`aggregation`]). The access and rules
//! reviews of `authorization.k8s.io` answer from the same authorizer ([`reviews`]), and
//! writes of roles and bindings may not grant more than their author holds
//! ([`escalation`]).
//!
//! Differences from kube: no Node authorizer (nodes get what RBAC grants them), and
//! anonymous requests other than `/version` and health are 401 (kube, with
//! `--anonymous-auth`, authorizes them as `system:anonymous` and answers 403).

pub mod admit;
pub mod aggregation;
pub mod attributes;
pub mod bootstrap;
pub mod escalation;
pub mod policy;
pub mod reviews;
pub mod rules;

use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::{json, Value};

pub use attributes::Attributes;

use crate::api::UserInfo;
use crate::storage::Store;

/// The group whose members may do everything (`system:masters`).
pub const PRIVILEGED_GROUP: &str = "system:masters";

/// `--authorization-mode`: how requests are authorized.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorizationMode {
    /// Role-based access control, as a cluster (the default).
    #[default]
    Rbac,
    /// Every authenticated request is allowed.
    AlwaysAllow,
}

impl fmt::Display for AuthorizationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthorizationMode::Rbac => "RBAC",
            AuthorizationMode::AlwaysAllow => "AlwaysAllow",
        })
    }
}

/// An `--authorization-mode` value that is not `RBAC` or `AlwaysAllow`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown authorization mode {0:?} (expected RBAC or AlwaysAllow)")]
pub struct UnknownMode(pub String);

impl FromStr for AuthorizationMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, UnknownMode> {
        match s {
            "RBAC" => Ok(AuthorizationMode::Rbac),
            "AlwaysAllow" => Ok(AuthorizationMode::AlwaysAllow),
            other => Err(UnknownMode(other.to_owned())),
        }
    }
}

/// An authorization answer: allowed or not, and kube's reason (`RBAC: allowed by
/// ...` on allow; on denial the errors met on the way, if any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request may proceed.
    pub allowed: bool,
    /// Why (may be empty).
    pub reason: String,
}

/// The rules that apply to a user in a namespace (for SelfSubjectRulesReview).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleSet {
    /// `ResourceRule` objects (`verbs`, `apiGroups`, `resources`, `resourceNames`).
    pub resource_rules: Vec<Value>,
    /// `NonResourceRule` objects (`verbs`, `nonResourceURLs`).
    pub non_resource_rules: Vec<Value>,
    /// Errors met while collecting (roles that do not exist).
    pub errors: Vec<String>,
}

/// Decides requests: RBAC over the objects of a [`Store`], or allow-all.
#[derive(Clone)]
pub struct Authorizer {
    mode: AuthorizationMode,
    store: Arc<Store>,
    impersonation_modes: Arc<crate::auth::impersonation::ModeCache>,
}

impl fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorizer").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl Authorizer {
    /// An authorizer in `mode` reading RBAC objects from `store`.
    pub fn new(mode: AuthorizationMode, store: Arc<Store>) -> Authorizer {
        Authorizer { mode, store, impersonation_modes: Arc::default() }
    }

    /// Which impersonation mode last succeeded for each requester.
    pub fn impersonation_modes(&self) -> &crate::auth::impersonation::ModeCache {
        &self.impersonation_modes
    }

    /// An authorizer that allows everything.
    pub fn always_allow() -> Authorizer {
        Authorizer::new(AuthorizationMode::AlwaysAllow, Arc::new(Store::new()))
    }

    /// Whether `user` may do everything without looking at the request: AlwaysAllow
    /// mode, or a member of [`PRIVILEGED_GROUP`].
    pub fn allows_everything(&self, user: &UserInfo) -> bool {
        self.mode == AuthorizationMode::AlwaysAllow || user.groups.iter().any(|g| g == PRIVILEGED_GROUP)
    }

    /// May `attrs.user` do what `attrs` describes?
    pub fn authorize(&self, attrs: &Attributes) -> Decision {
        if self.allows_everything(&attrs.user) {
            return Decision { allowed: true, reason: String::new() };
        }
        let mut errors = Vec::new();
        let mut allowed_by = None;
        let _ = policy::visit_rules_for(&self.store, &attrs.user, &attrs.namespace, &mut |visit| match visit {
            policy::Visit::Rule(source, rule) if rule.allows(attrs) => {
                allowed_by = Some(format!("RBAC: allowed by {source}"));
                ControlFlow::Break(())
            }
            policy::Visit::Rule(..) => ControlFlow::Continue(()),
            policy::Visit::Error(e) => {
                errors.push(e);
                ControlFlow::Continue(())
            }
        });
        match allowed_by {
            Some(reason) => Decision { allowed: true, reason },
            None if errors.is_empty() => Decision::default(),
            None => Decision { allowed: false, reason: format!("RBAC: {}", aggregate(&errors)) },
        }
    }

    /// Authorize, turning a denial into kube's 403.
    pub fn check(&self, attrs: &Attributes) -> Result<(), crate::api::ApiError> {
        let decision = self.authorize(attrs);
        if decision.allowed {
            Ok(())
        } else {
            Err(attrs.forbidden(&decision.reason))
        }
    }

    /// The rules `user` has in `namespace` (kube's `RulesFor`).
    pub fn rules_for(&self, user: &UserInfo, namespace: &str) -> RuleSet {
        if self.mode == AuthorizationMode::AlwaysAllow {
            return RuleSet {
                resource_rules: vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
                non_resource_rules: vec![json!({"verbs": ["*"], "nonResourceURLs": ["*"]})],
                errors: Vec::new(),
            };
        }
        let mut set = RuleSet::default();
        let _ = policy::visit_rules_for(&self.store, user, namespace, &mut |visit| {
            match visit {
                policy::Visit::Rule(_, rule) => {
                    let list = |field: &str| rule.list(field).map(str::to_owned).collect::<Vec<_>>();
                    if rule.list("resources").next().is_some() {
                        let mut r = json!({"verbs": list("verbs")});
                        for (key, field) in
                            [("apiGroups", "apiGroups"), ("resources", "resources"), ("resourceNames", "resourceNames")]
                        {
                            let values = list(field);
                            if !values.is_empty() {
                                r[key] = json!(values);
                            }
                        }
                        set.resource_rules.push(r);
                    }
                    if rule.list("nonResourceURLs").next().is_some() {
                        set.non_resource_rules
                            .push(json!({"verbs": list("verbs"), "nonResourceURLs": list("nonResourceURLs")}));
                    }
                }
                policy::Visit::Error(e) => set.errors.push(e),
            }
            ControlFlow::Continue(())
        });
        set
    }
}

/// Several errors as Go's `utilerrors.NewAggregate` prints them: one alone, or
/// `[a, b]`.
pub fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}
