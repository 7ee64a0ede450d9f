//! Conflict detection: which fields an apply changes that another manager owns
//! ([`FieldConflict`]), the 409 Conflict they make without `force`
//! ([`ApplyConflict`], worded and structured as kube-apiserver's Status), and the
//! transfer of ownership to the applier with `force`.

use serde_json::{json, Value};

use super::fields::{path_to_string, FieldPath};
use super::managed::ManagedFieldsEntry;

/// One field another manager owns that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldConflict {
    /// The manager owning the field.
    pub manager: String,
    /// The apiVersion of that manager's entry.
    pub api_version: String,
    /// The subresource of that manager's entry, if any.
    pub subresource: Option<String>,
    /// The field, as `.spec.replicas`.
    pub field: String,
}

impl FieldConflict {
    fn manager_text(&self) -> String {
        match &self.subresource {
            Some(s) => format!("{:?} with subresource {:?} using {}", self.manager, s, self.api_version),
            None => format!("{:?} using {}", self.manager, self.api_version),
        }
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
    /// `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas`.
    pub fn message(&self) -> String {
        let n = self.conflicts.len();
        let body = if n == 1 {
            let c = &self.conflicts[0];
            format!("conflict with {}: {}", c.manager_text(), c.field)
        } else {
            let mut managers: Vec<String> = Vec::new();
            for c in &self.conflicts {
                let t = c.manager_text();
                if !managers.contains(&t) {
                    managers.push(t);
                }
            }
            let mut s = String::from("conflicts with");
            for m in &managers {
                if managers.len() == 1 {
                    s.push_str(&format!(" {m}:"));
                } else {
                    s.push_str(&format!("\n{m}:"));
                }
                for c in self.conflicts.iter().filter(|c| &c.manager_text() == m) {
                    s.push_str(&format!("\n- {}", c.field));
                }
            }
            s
        };
        format!("Apply failed with {n} conflict{}: {body}", if n == 1 { "" } else { "s" })
    }

    /// The Status `details.causes`: `{reason: FieldManagerConflict, message: "conflict
    /// with \"m\" using apps/v1", field: ".spec.replicas"}` per conflict (the JSON name
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
