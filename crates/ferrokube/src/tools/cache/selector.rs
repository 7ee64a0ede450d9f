//! `tools::cache::selector`: label selectors evaluated client-side, for
//! [`Lister::list`](super::Lister::list) (apimachinery `labels.Selector`).
//!
//! The implementation is the one the server uses too, in the shared crate
//! [`ferrokube_apimachinery::labels`], so a lister selects exactly the objects a
//! `labelSelector` list would return. The string syntax is the API's `labelSelector`:
//! comma-separated requirements, all of which must hold — `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k` (exists), `!k` (does not exist), `k>1`, `k<1`.
//! `k!=v` and `notin` also match objects without the label, as in Kubernetes. An empty
//! selector matches everything. Parse errors are typed ([`SelectorErrorReason`]) and
//! carry Kubernetes' message ([`SelectorError::kube_message`]).
//!
//! ```
//! use ferrokube::tools::cache::Selector;
//! let s = Selector::parse("app=web, tier in (front,edge), !legacy").unwrap();
//! let labels = [("app".to_owned(), "web".to_owned()), ("tier".to_owned(), "edge".to_owned())].into();
//! assert!(s.matches(Some(&labels)));
//! assert!(!s.matches(None));
//! ```

pub use ferrokube_apimachinery::labels::{
    Expected, FieldError, Operator, Requirement, Selector, SelectorError, SelectorErrorReason,
};
