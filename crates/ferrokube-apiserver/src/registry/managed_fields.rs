//! managedFields for ordinary writes: which field manager changed which fields.
//!
//! Server-side apply records its own ownership (`crate::patch::apply`); every other
//! write (create, update, JSON/merge/strategic patch, status and scale writes) is
//! recorded here as an `Update` operation of its field manager, named by the request's
//! `fieldManager` parameter or derived from its `User-Agent` as kube-apiserver does.
//! That is what lets a later apply conflict with, say, `kubectl scale` or a controller.

use serde_json::Value;

use super::patch::patch_error;
use crate::api::{ApiError, ApiRequest};
use crate::patch::{apply as ssa, schema::TypeSchema};

/// Records the fields a write changed under its field manager.
pub(crate) struct FieldTracking {
    manager: String,
    subresource: Option<&'static str>,
    root: Option<&'static TypeSchema>,
}

impl FieldTracking {
    /// The tracking of `req`'s write to the main resource or to `subresource`.
    pub(crate) fn for_request(
        req: &ApiRequest,
        subresource: Option<&'static str>,
        root: Option<&'static TypeSchema>,
    ) -> FieldTracking {
        let manager = match req.query_param("fieldManager").filter(|m| !m.is_empty()) {
            Some(manager) => manager.to_owned(),
            None => ssa::default_field_manager(req.user_agent.as_deref()),
        };
        FieldTracking { manager, subresource, root }
    }

    /// The tracking of a write by one of the server's own controllers, as `manager`.
    pub(crate) fn controller(
        manager: &str,
        subresource: Option<&'static str>,
        root: Option<&'static TypeSchema>,
    ) -> FieldTracking {
        FieldTracking { manager: manager.to_owned(), subresource, root }
    }

    /// `new` with its managedFields updated for the change from `old` (`None` on create).
    pub(crate) fn record(&self, old: Option<&Value>, new: Value) -> Result<Value, ApiError> {
        let recorded = match self.subresource {
            Some(sub) => ssa::update_managed_fields_subresource(old, &new, &self.manager, sub, self.root),
            None => ssa::update_managed_fields(old, &new, &self.manager, self.root),
        };
        recorded.map_err(patch_error)
    }
}
