//! `additionalPrinterColumns`: the columns `kubectl get` shows for a custom resource,
//! rendered into `meta.k8s.io` Table cells by [`crate::handlers::table`].
//!
//! Paths are the simple JSONPath kube allows there: `.a.b`, `.a[0]`, `.a[*].b` and
//! filters `.a[?(@.type=="Ready")].status`; the first match is the cell, no match is
//! an empty (null) cell.

use serde_json::{json, Value};

/// One printer column of a CRD version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Column header, e.g. `Ready`.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub column_type: String,
    /// OpenAPI format, e.g. `name`.
    pub format: String,
    /// Description shown by `kubectl explain`-like tools.
    pub description: String,
    /// 0 for the default view, more for `-o wide`.
    pub priority: i64,
    /// The JSONPath of the value, e.g. `.status.replicas`.
    pub json_path: String,
}

/// The printer columns of a CRD version (`additionalPrinterColumns`), or kube's
/// default (`Age` from `.metadata.creationTimestamp`) when it declares none.
pub fn columns_of(version: &Value) -> Vec<PrinterColumn> {
    let declared: Vec<PrinterColumn> = version
        .get("additionalPrinterColumns")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let name = s("name");
            let json_path = s("jsonPath");
            if name.is_empty() || json_path.is_empty() {
                return None;
            }
            // Without a description kube describes the column by its path.
            let description = match s("description") {
                d if d.is_empty() => format!("Custom resource definition column (in JSONPath format): {json_path}"),
                d => d,
            };
            Some(PrinterColumn {
                name,
                column_type: s("type"),
                format: s("format"),
                description,
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path,
            })
        })
        .collect();
    if !declared.is_empty() || version.get("additionalPrinterColumns").is_some_and(Value::is_array) {
        return declared;
    }
    vec![PrinterColumn {
        name: "Age".into(),
        column_type: "date".into(),
        format: String::new(),
        description: "CreationTimestamp is a timestamp representing the server time when this object was created."
            .into(),
        priority: 0,
        json_path: ".metadata.creationTimestamp".into(),
    }]
}

enum Step {
    Field(String),
    Index(usize),
    All,
    Filter { key: String, value: String },
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path.trim();
    rest = rest.strip_prefix('{').and_then(|r| r.strip_suffix('}')).unwrap_or(rest);
    rest = rest.strip_prefix('$').unwrap_or(rest);
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Field(r[..end].to_owned()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if inner == "*" {
                steps.push(Step::All);
            } else if let Ok(i) = inner.parse::<usize>() {
                steps.push(Step::Index(i));
            } else {
                let cond = inner.strip_prefix("?(")?.strip_suffix(')')?.trim();
                let (lhs, rhs) = cond.split_once("==")?;
                let key = lhs.trim().strip_prefix("@.")?.to_owned();
                let rhs = rhs.trim();
                let value = rhs
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| rhs.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(rhs)
                    .to_owned();
                steps.push(Step::Filter { key, value });
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

fn walk<'v>(v: &'v Value, steps: &[Step]) -> Option<&'v Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(v);
    };
    match step {
        Step::Field(f) => walk(v.get(f.as_str())?, rest),
        Step::Index(i) => walk(v.get(*i)?, rest),
        Step::All => v.as_array()?.iter().find_map(|item| walk(item, rest)),
        Step::Filter { key, value } => v.as_array()?.iter().find_map(|item| {
            let matches = match item.get(key.as_str())? {
                Value::String(s) => s == value,
                Value::Bool(b) => value.as_str() == if *b { "true" } else { "false" },
                Value::Number(n) => value.parse::<f64>().ok() == n.as_f64(),
                _ => false,
            };
            if matches {
                walk(item, rest)
            } else {
                None
            }
        }),
    }
}

/// The value at a printer column's JSONPath, if any.
pub fn lookup<'v>(obj: &'v Value, json_path: &str) -> Option<&'v Value> {
    walk(obj, &parse(json_path)?)
}

/// The Table cell of `column` for `obj`; `age` renders a timestamp as kubectl's age.
pub fn cell(column: &PrinterColumn, obj: &Value, age: impl Fn(&str) -> String) -> Value {
    let Some(v) = lookup(obj, &column.json_path) else {
        return Value::Null;
    };
    match (column.column_type.as_str(), v) {
        ("date", Value::String(ts)) => json!(age(ts)),
        ("string", Value::String(s)) => json!(s),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => v.clone(),
        ("number", Value::Number(_)) | ("boolean", Value::Bool(_)) => v.clone(),
        ("integer" | "number" | "boolean" | "date", _) => Value::Null,
        _ => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths() {
        let obj = json!({"spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 443}]},
                         "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(lookup(&obj, ".spec.replicas"), Some(&json!(3)));
        assert_eq!(lookup(&obj, ".spec.ports[1].port"), Some(&json!(443)));
        assert_eq!(lookup(&obj, ".spec.ports[*].port"), Some(&json!(80)));
        assert_eq!(lookup(&obj, ".status.conditions[?(@.type==\"Ready\")].status"), Some(&json!("True")));
        assert_eq!(lookup(&obj, "{.spec.replicas}"), Some(&json!(3)));
        assert_eq!(lookup(&obj, ".spec.nope"), None);
        assert_eq!(lookup(&obj, ".spec[?("), None);
        assert_eq!(lookup(&obj, "spec"), None);
        let col = |t: &str, p: &str| PrinterColumn {
            name: "c".into(),
            column_type: t.into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: p.into(),
        };
        assert_eq!(cell(&col("integer", ".spec.replicas"), &obj, |_| String::new()), json!(3));
        assert_eq!(cell(&col("string", ".spec.replicas"), &obj, |_| String::new()), json!("3"));
        assert_eq!(cell(&col("integer", ".spec.missing"), &obj, |_| String::new()), Value::Null);
        assert_eq!(
            cell(&col("date", ".status.conditions[0].type"), &obj, |s| format!("age of {s}")),
            json!("age of Synced")
        );
    }

    #[test]
    fn default_columns() {
        assert_eq!(columns_of(&json!({"name": "v1"}))[0].name, "Age");
        let cols = columns_of(
            &json!({"additionalPrinterColumns": [{"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"}, {"name": ""}]}),
        );
        assert_eq!(cols.len(), 1);
        assert_eq!(cols[0].json_path, ".spec.cronSpec");
    }
}
