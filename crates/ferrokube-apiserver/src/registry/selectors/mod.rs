//! Label and field selectors of list, watch and deletecollection requests.
//!
//! [`Filter`] bundles both, parsed once per request from the `labelSelector` and
//! `fieldSelector` query parameters, and decides whether a stored object matches.
//! Label selectors are the shared implementation of `ferrokube-apimachinery`
//! ([`ferrokube_apimachinery::labels`], which the client's listers use too); field
//! selectors, which only the server evaluates, live in [`field`].

pub mod field;

use serde_json::Value;

use crate::api::{ApiError, ApiRequest};
pub use ferrokube_apimachinery::labels::Selector as LabelSelector;
pub use field::FieldSelector;

/// The selectors of one request.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
}

impl Filter {
    /// Parses `labelSelector` and `fieldSelector` of `req` (400 BadRequest on errors).
    pub fn from_request(req: &ApiRequest) -> Result<Filter, ApiError> {
        let labels = LabelSelector::parse(req.query_param("labelSelector").unwrap_or(""))
            .map_err(|e| ApiError::new(400, "BadRequest", e.kube_message()))?;
        let fields = FieldSelector::parse(req.query_param("fieldSelector").unwrap_or(""), &req.resource)
            .map_err(|e| ApiError::new(400, "BadRequest", e))?;
        Ok(Filter { labels, fields })
    }

    /// Whether neither selector restricts anything.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether `obj` matches both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches_object(obj) && self.fields.matches(obj)
    }
}
