//! Conflict detection: which fields an apply changes that another manager owns
//! ([`FieldConflict`]), the 409 Conflict they make without `force`
//! ([`ApplyConflict`], worded and structured as kube-apiserver's Status), and the
//! transfer of ownership to the applier with `force`.

use serde_json::{json, Value};

use super::fields::{path_to_string, FieldPath};
use super::managed::{ManagedFieldsEntry, Operation};

/// One field another manager owns that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldConflict {
    /// The manager owning the field.
    pub manager: String,
    /// The operation of that manager's entry.
    pub operation: Operation,
    /// The apiVersion of that manager's entry.
    pub api_version: String,
    /// The subresource of that manager's entry, if any.
    pub subresource: Option<String>,
    /// The field, as `.spec.replicas`.
    pub field: String,
}

impl FieldConflict {
    /// The manager as kube-apiserver names it in conflict messages: `"m"`, then
    /// ` with subresource "status"` when the entry has one, then ` using apps/v1` for an
    /// `Update` entry only (an applier is the same manager whatever version it applied).
    fn manager_text(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            s.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    /// The order kube-apiserver lists managers in: by their identifier (manager,
    /// operation, apiVersion of updaters, subresource).
    fn manager_order(&self) -> (&str, &'static str, &str, &str) {
        let op = match self.operation {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        };
        let version = if self.operation == Operation::Update { self.api_version.as_str() } else { "" };
        (&self.manager, op, version, self.subresource.as_deref().unwrap_or(""))
    }
}

/// An apply rejected because of conflicts (HTTP 409 Conflict, reason `Conflict`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyConflict {
    /// The conflicting fields, one per (manager, field).
    pub conflicts: Vec<FieldConflict>,
}

impl ApplyConflict {
    /// The Status message, as kube-apiserver words it:
    /// `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`
    /// (an `Update` owner), `... conflict with "alpha": .data.x` (an `Apply` owner).
    pub fn message(&self) -> String {
        let n = self.conflicts.len();
        let body = if n == 1 {
            let c = &self.conflicts[0];
            format!("conflict with {}: {}", c.manager_text(), c.field)
        } else {
            // One "conflicts with <manager>:" line per manager (sorted), then its fields.
            let mut managers: Vec<&FieldConflict> = Vec::new();
            for c in &self.conflicts {
                if !managers.iter().any(|m| m.manager_order() == c.manager_order()) {
                    managers.push(c);
                }
            }
            managers.sort_by(|a, b| a.manager_order().cmp(&b.manager_order()));
            let mut lines: Vec<String> = Vec::new();
            for m in managers {
                lines.push(format!("conflicts with {}:", m.manager_text()));
                for c in self.conflicts.iter().filter(|c| c.manager_order() == m.manager_order()) {
                    lines.push(format!("- {}", c.field));
                }
            }
            lines.join("\n")
        };
        format!("Apply failed with {n} conflict{}: {body}", if n == 1 { "" } else { "s" })
    }

    /// The Status `details.causes`: `{reason: FieldManagerConflict, message: "conflict
    /// with \"m\"", field: ".spec.replicas"}` per conflict (the JSON name
    /// of a cause's type is `reason`).
    pub fn causes(&self) -> Vec<Value> {
        self.conflicts
            .iter()
            .map(|c| {
                json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with {}", c.manager_text()),
                    "field": c.field,
                })
            })
            .collect()
    }

    /// A complete `metav1.Status` object for the 409 response.
    pub fn to_status(&self) -> Value {
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message(),
            "reason": "Conflict",
            "details": {"causes": self.causes()},
            "code": 409,
        })
    }
}

impl std::fmt::Display for ApplyConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// The conflicts of an apply by `manager` whose configuration changes the fields
/// `changed`: one per field and other manager that owns it. Managers with the same
/// name (another operation or subresource) are not in conflict with each other.
pub(super) fn find_conflicts(
    entries: &[ManagedFieldsEntry],
    manager: &str,
    changed: &[&FieldPath],
) -> Vec<FieldConflict> {
    let mut conflicts = Vec::new();
    for e in entries.iter().filter(|e| e.manager != manager) {
        for p in changed {
            if e.fields.contains(p) {
                conflicts.push(FieldConflict {
                    manager: e.manager.clone(),
                    operation: e.operation,
                    api_version: e.api_version.clone(),
                    subresource: e.subresource.clone(),
                    field: path_to_string(p),
                });
            }
        }
    }
    conflicts
}

/// A forced apply: the other managers lose the fields `changed`.
pub(super) fn take_over(entries: &mut [ManagedFieldsEntry], manager: &str, changed: &[&FieldPath]) {
    for e in entries.iter_mut().filter(|e| e.manager != manager) {
        for p in changed {
            e.fields.remove(p);
        }
    }
}
