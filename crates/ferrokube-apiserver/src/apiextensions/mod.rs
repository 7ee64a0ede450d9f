//! CustomResourceDefinitions (`apiextensions.k8s.io/v1`): turning a CRD object into
//! served resources, and the per-resource rules custom resources follow.
//!
//! How it fits:
//!
//! ```text
//! CRD write (create/update/patch/apply)
//!   -> registry write hook -> crd::prepare (validate like kube, default names; on
//!      create the pre-controller status, on updates NamesAccepted, Established,
//!      acceptedNames, storedVersions)
//!   -> after a create: the status write of kube's naming/establishing controllers
//!      (through `/status`, field manager `kube-apiserver`)
//!   -> store -> Registry::sync_custom_resources -> crd::served_versions
//!   -> catalog::SharedCatalog::set_custom (a new Catalog snapshot)
//!   -> handlers route `/apis/<group>/<version>/...` and discovery lists it
//! CRD delete -> its custom resources are deleted (the CRD waits, with the
//!      `customresourcecleanup.apiextensions.k8s.io` finalizer, for those with
//!      finalizers) -> the CRD goes -> the catalog stops serving it
//! CR request -> the generic registry (objects as JSON under `group/plural`, shared by
//!      every served version, `apiVersion` rewritten to the version asked for) with the
//!      version's [`schema::Schema`]: prune unknown fields, apply defaults, validate;
//!      status and scale subresources as declared ([`CustomResourceVersion`]).
//! ```
//!
//! [`CustomResourceVersion`]s are what the OpenAPI publisher reads: one per served
//! version, with the raw `openAPIV3Schema` (see
//! [`crate::catalog::SharedCatalog::custom_versions`]).

pub mod crd;
pub mod printer;
pub mod schema;

use std::sync::Arc;

use serde_json::Value;

use crate::api::ResourceInfo;

/// Group of CustomResourceDefinitions.
pub const GROUP: &str = "apiextensions.k8s.io";

/// The finalizer a CRD carries while its custom resources are being deleted.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// Verbs served on every custom resource, in the order kube-apiserver lists them.
pub const CUSTOM_RESOURCE_VERBS: [&str; 8] =
    ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"];

/// Whether `info` is the CustomResourceDefinition resource itself.
pub fn is_crd_resource(info: &ResourceInfo) -> bool {
    info.group == GROUP && info.plural == "customresourcedefinitions"
}

/// Where the `scale` subresource of a custom resource reads and writes, as declared by
/// `subresources.scale`: JSON paths in kube's `.spec.replicas` form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScalePaths {
    /// `specReplicasPath`, e.g. `.spec.replicas`.
    pub spec_replicas: String,
    /// `statusReplicasPath`, e.g. `.status.replicas`.
    pub status_replicas: String,
    /// `labelSelectorPath`, e.g. `.status.selector` (a string in serialized form).
    pub label_selector: Option<String>,
}

/// `.spec.replicas` -> `/spec/replicas` (a JSON pointer); `None` for paths that are not
/// a dotted list of field names.
pub fn json_path_to_pointer(path: &str) -> Option<String> {
    let rest = path.strip_prefix('.')?;
    if rest.is_empty() {
        return None;
    }
    let mut out = String::new();
    for part in rest.split('.') {
        if part.is_empty() || part.contains(['[', ']', '*', ' ']) {
            return None;
        }
        out.push('/');
        out.push_str(&part.replace('~', "~0").replace('/', "~1"));
    }
    Some(out)
}

/// One served version of a custom resource: its catalog row plus the rules the
/// registry applies to its objects.
#[derive(Debug, Clone)]
pub struct CustomResourceVersion {
    /// Name of the CRD (`<plural>.<group>`).
    pub crd_name: String,
    /// The catalog row (group, version, names, scope, verbs, subresources).
    pub resource: Arc<ResourceInfo>,
    /// Whether this is the storage version.
    pub storage: bool,
    /// `deprecated` of the version.
    pub deprecated: bool,
    /// The parsed structural schema; `None` when the version has none (every field is
    /// then kept).
    pub schema: Option<Arc<schema::Schema>>,
    /// `schema.openAPIV3Schema` as written in the CRD (for OpenAPI documents).
    pub openapi_schema: Option<Value>,
    /// The scale subresource's paths, when declared.
    pub scale: Option<ScalePaths>,
    /// The columns of `kubectl get` (`additionalPrinterColumns`, or `Age`).
    pub printer_columns: Vec<printer::PrinterColumn>,
}

impl CustomResourceVersion {
    /// kube's checks of the scale subresource's replica paths (after the schema's):
    /// `specReplicasPath` (`check_spec`: writes to the main resource) and
    /// `statusReplicasPath` must hold non-negative 32-bit integers when set, and
    /// `labelSelectorPath` a string. The paths are reported as written (`.spec.replicas`).
    pub fn scale_errors(&self, obj: &Value, check_spec: bool) -> Vec<crate::object::errors::FieldError> {
        use crate::object::errors::FieldError;
        let Some(scale) = &self.scale else {
            return Vec::new();
        };
        let mut errs = Vec::new();
        let replicas = |path: &str, errs: &mut Vec<FieldError>| {
            let Some(v) = json_path_to_pointer(path).and_then(|p| obj.pointer(&p)) else {
                return;
            };
            match v.as_i64() {
                Some(n) if n < 0 => errs.push(FieldError::invalid(path, v, "should be a non-negative integer")),
                Some(n) if n > i64::from(i32::MAX) => {
                    errs.push(FieldError::invalid(path, v, &format!("should be less than or equal to {}", i32::MAX)))
                }
                Some(_) => {}
                None if v.is_null() => {}
                None => errs.push(FieldError::invalid(path, &serde_json::json!(0), &accessor_error(path, v, "int64"))),
            }
        };
        if check_spec {
            replicas(&scale.spec_replicas, &mut errs);
        }
        replicas(&scale.status_replicas, &mut errs);
        if let Some(path) = &scale.label_selector {
            if let Some(v) = json_path_to_pointer(path).and_then(|p| obj.pointer(&p)) {
                if !v.is_string() && !v.is_null() {
                    errs.push(FieldError::invalid(path, &serde_json::json!(""), &accessor_error(path, v, "string")));
                }
            }
        }
        errs
    }

    /// Prunes unknown fields, applies defaults and validates `obj` (a whole object of
    /// this resource) against the schema; the field errors when invalid.
    pub fn normalize(&self, obj: &mut Value) -> Vec<crate::object::errors::FieldError> {
        match &self.schema {
            Some(s) => {
                s.prune(obj);
                s.apply_defaults(obj);
                s.validate(obj)
            }
            None => Vec::new(),
        }
    }
}

/// The error of Go's `unstructured.NestedInt64`/`NestedString` for a value of another
/// type: `.spec.replicas accessor error: three is of the type string, expected int64`.
fn accessor_error(path: &str, value: &Value, expected: &str) -> String {
    let (shown, go_type) = match value {
        Value::String(s) => (s.clone(), "string"),
        Value::Bool(b) => (b.to_string(), "bool"),
        Value::Number(n) => (n.to_string(), if n.is_f64() { "float64" } else { "int64" }),
        Value::Array(_) => (value.to_string(), "[]interface {}"),
        Value::Object(_) => (value.to_string(), "map[string]interface {}"),
        Value::Null => ("<nil>".to_owned(), "<nil>"),
    };
    format!("{path} accessor error: {shown} is of the type {go_type}, expected {expected}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        assert_eq!(json_path_to_pointer(".spec.replicas").as_deref(), Some("/spec/replicas"));
        assert_eq!(json_path_to_pointer(".status.a/b").as_deref(), Some("/status/a~1b"));
        assert_eq!(json_path_to_pointer("spec.replicas"), None);
        assert_eq!(json_path_to_pointer(".spec..x"), None);
        assert_eq!(json_path_to_pointer(".spec.items[0]"), None);
        assert_eq!(json_path_to_pointer("."), None);
    }
}
