//! Patch strategies: JSON patch, JSON merge patch, strategic merge patch and
//! server-side apply, as pure functions over [`serde_json::Value`].
//!
//! Where this fits in the request path:
//!
//! ```text
//! handlers (PATCH, Content-Type) -> registry PATCH (read live object, preconditions)
//!   -> patch::{json_patch, merge_patch, strategic, apply}   (this module: no I/O)
//!   -> registry (validation, managedFields for ordinary writes) -> storage (compare-and-swap)
//! ```
//!
//! The registry picks the function from the request's content type:
//!
//! | Content-Type                              | function                                   |
//! |-------------------------------------------|--------------------------------------------|
//! | `application/json-patch+json`             | [`json_patch::apply_json_patch`]           |
//! | `application/merge-patch+json`            | [`merge_patch::apply_merge_patch`]         |
//! | `application/strategic-merge-patch+json`  | [`strategic::strategic_merge`] (built-in kinds only; 415 for others, see [`schema::supports_strategic_merge`]) |
//! | `application/apply-patch+yaml`            | [`apply::server_side_apply`]               |
//!
//! Ordinary writes (create, update, and the three non-apply patch types) call
//! [`apply::update_managed_fields`] so that later applies detect conflicts with them.
//!
//! Type knowledge (which lists merge by which key, which are sets, which are atomic)
//! comes from [`schema`], whose tables are generated from k8s-openapi's `DeepMerge`
//! impls by `gen/gen_patch_schema.py`.

pub mod apply;
#[rustfmt::skip]
mod generated_schema;
pub mod json_patch;
pub mod merge_patch;
pub mod schema;
pub mod strategic;

/// The four PATCH content types kube-apiserver accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902), see [`json_patch`].
    JsonPatch,
    /// `application/merge-patch+json` (RFC 7386), see [`merge_patch`].
    MergePatch,
    /// `application/strategic-merge-patch+json`, see [`strategic`].
    StrategicMergePatch,
    /// `application/apply-patch+yaml` (server-side apply), see [`apply`].
    Apply,
}

impl PatchType {
    /// The patch type of a request's Content-Type header (parameters such as
    /// `; charset=utf-8` are ignored); `None` for other media types, which
    /// kube-apiserver answers with 415 Unsupported Media Type.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match media.as_str() {
            "application/json-patch+json" => Some(PatchType::JsonPatch),
            "application/merge-patch+json" => Some(PatchType::MergePatch),
            "application/strategic-merge-patch+json" => Some(PatchType::StrategicMergePatch),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }

    /// The media type of this patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            PatchType::JsonPatch => "application/json-patch+json",
            PatchType::MergePatch => "application/merge-patch+json",
            PatchType::StrategicMergePatch => "application/strategic-merge-patch+json",
            PatchType::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Applies a JSON, merge or strategic merge patch (already decoded from JSON) to
/// `original`. `root_type` is only used by strategic merge patch; the registry checks
/// [`schema::supports_strategic_merge`] first and answers 415 for custom resources.
/// Server-side apply needs a field manager and returns ownership information: call
/// [`apply::server_side_apply`] for [`PatchType::Apply`] (here it is a
/// [`PatchError::Malformed`] error).
pub fn apply_patch(
    patch_type: PatchType,
    original: &serde_json::Value,
    patch: &serde_json::Value,
    root_type: Option<&schema::TypeSchema>,
) -> Result<serde_json::Value, PatchError> {
    match patch_type {
        PatchType::JsonPatch => json_patch::apply_json_patch(original, patch),
        PatchType::MergePatch => merge_patch::apply_merge_patch(original, patch),
        PatchType::StrategicMergePatch => strategic::strategic_merge(original, patch, root_type),
        PatchType::Apply => Err(PatchError::Malformed {
            kind: "apply",
            message: "server-side apply is performed by apply::server_side_apply".into(),
        }),
    }
}

/// A patch that could not be applied: malformed (not JSON of the expected shape, an
/// unknown operation, a bad directive) or not applicable to the object (a missing path,
/// a failed JSON patch `test`).
///
/// Each variant carries enough context (operation index, path) to tell the client which
/// part of its patch was wrong. [`PatchError::http_status`] gives the status code
/// kube-apiserver answers with for the same failure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The patch document does not have the shape its content type requires (for
    /// example a JSON patch that is not an array of operation objects).
    #[error("invalid {kind} patch: {message}")]
    Malformed {
        /// Which patch type was being decoded ("json", "merge", "strategic merge", "apply").
        kind: &'static str,
        /// What was wrong.
        message: String,
    },
    /// A JSON patch (RFC 6902) operation failed.
    #[error("json patch operation {index} ({op} {path:?}): {message}")]
    JsonPatchOperation {
        /// Zero-based index of the operation in the patch array.
        index: usize,
        /// The operation name (`add`, `remove`, ...), or `?` when it is missing.
        op: String,
        /// The operation's `path` member.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A JSON patch `test` operation found a different value.
    #[error("json patch operation {index} (test {path:?}): test failed: {message}")]
    TestFailed {
        /// Zero-based index of the operation in the patch array.
        index: usize,
        /// The tested path.
        path: String,
        /// Expected and actual values.
        message: String,
    },
    /// A strategic merge patch is invalid at `path` (bad directive, missing merge key,
    /// mismatched list element types, ...).
    #[error("strategic merge patch at {path}: {message}")]
    Strategic {
        /// Where in the object, as `.spec.template.spec.containers`.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A strategic merge patch names a `$patch` directive that does not exist; worded
    /// as kube's `mergepatch.ErrBadPatchType`, with the map holding it in Go's `%v`
    /// form (`map[$patch:explode name:only]`).
    #[error("unknown patch type: {directive} in map: {map}")]
    UnknownPatchType {
        /// The directive's value.
        directive: String,
        /// The map (object) that holds it, as Go prints a map.
        map: String,
    },
    /// A server-side apply configuration is rejected as a whole, worded as
    /// kube-apiserver's field manager words it (`invalid object type: /v1, Kind=`,
    /// `metadata.managedFields must be nil`).
    #[error("{0}")]
    ApplyRejected(String),
    /// A server-side apply configuration or a managedFields entry is invalid.
    #[error("apply at {path}: {message}")]
    Apply {
        /// Where in the object, as `.spec.template.spec.containers`.
        path: String,
        /// What went wrong.
        message: String,
    },
}

impl PatchError {
    /// The HTTP status kube-apiserver uses for this failure: 400 (Bad Request) for a
    /// patch that cannot be decoded or is structurally invalid, 422 (Unprocessable
    /// Entity) for a well-formed JSON patch that cannot be applied to this object
    /// (missing path, failed `test`).
    /// An unknown `$patch` directive is a 500: kube-apiserver passes that error on
    /// without giving it a status.
    pub fn http_status(&self) -> u16 {
        match self {
            PatchError::JsonPatchOperation { .. } | PatchError::TestFailed { .. } => 422,
            PatchError::UnknownPatchType { .. } => 500,
            _ => 400,
        }
    }
}

/// JSON value equality with RFC 6902 number semantics: numbers are equal when they
/// are numerically equal (`1` equals `1.0`), objects regardless of member order.
pub(crate) fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x == y {
                return true;
            }
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(p), Some(q), _, _) => p == q,
                (_, _, Some(p), Some(q)) => p == q,
                _ => match (x.as_f64(), y.as_f64()) {
                    (Some(p), Some(q)) => p == q,
                    _ => false,
                },
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// A short rendering of a value for error messages (at most ~120 characters).
/// A JSON value as Go's `fmt` prints the `interface{}` it decodes to with `%v`:
/// `map[k:v ...]` with sorted keys, `[a b]`, strings bare, `<nil>`, floats as `%g`.
pub(crate) fn go_value(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "<nil>".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        // Go decodes every JSON number into a float64.
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), go_float),
        Value::Array(items) => format!("[{}]", items.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys.iter().map(|k| format!("{k}:{}", go_value(&map[k.as_str()]))).collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` of a float64 (`strconv.FormatFloat(f, 'g', -1, 64)`): the shortest
/// digits, in exponent form (`1e+06`) when the exponent is below -4 or at least 6.
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".to_owned();
    }
    // Rust's `{:e}` gives the shortest digits as well: `1e6`, `1.5e-7`.
    let e = format!("{f:e}");
    let (mantissa, exponent) = e.split_once('e').unwrap_or((&e, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        return format!("{f}");
    }
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exponent.abs())
}

pub(crate) fn short(value: &serde_json::Value) -> String {
    let s = value.to_string();
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn go_value_prints_like_fmt() {
        use super::go_value;
        let v = serde_json::json!({"name": "only", "$patch": "explode", "n": [1, 2.5, 1000000, null, true], "m": {"b": 1, "a": "x"}});
        assert_eq!(go_value(&v), "map[$patch:explode m:map[a:x b:1] n:[1 2.5 1e+06 <nil> true] name:only]");
        assert_eq!(go_value(&serde_json::json!(0.00001)), "1e-05");
        assert_eq!(go_value(&serde_json::json!(123456)), "123456");
    }

    use serde_json::{json, Value};

    /// A small deterministic generator of JSON values that look like Kubernetes objects
    /// and patches, directives included.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }

        fn value(&mut self, depth: u32) -> Value {
            const KEYS: &[&str] = &[
                "metadata",
                "labels",
                "spec",
                "containers",
                "name",
                "image",
                "env",
                "finalizers",
                "$patch",
                "$retainKeys",
                "$setElementOrder/containers",
                "$deleteFromPrimitiveList/finalizers",
                "ports",
                "containerPort",
                "strategy",
                "template",
                "replicas",
                "value",
            ];
            match if depth == 0 { self.next(4) } else { self.next(7) } {
                0 => Value::Null,
                1 => json!(self.next(3)),
                2 => json!(["delete", "replace", "merge", "a", "nginx"][self.next(5) as usize]),
                3 => json!(self.next(2) == 0),
                4 | 5 => {
                    let mut m = serde_json::Map::new();
                    for _ in 0..self.next(4) {
                        let k = KEYS[self.next(KEYS.len() as u64) as usize];
                        m.insert(k.to_string(), self.value(depth - 1));
                    }
                    Value::Object(m)
                }
                _ => Value::Array((0..self.next(4)).map(|_| self.value(depth - 1)).collect()),
            }
        }
    }

    #[test]
    fn content_types_and_dispatch() {
        use super::PatchType;
        for t in [PatchType::JsonPatch, PatchType::MergePatch, PatchType::StrategicMergePatch, PatchType::Apply] {
            assert_eq!(PatchType::from_content_type(t.content_type()), Some(t));
        }
        assert_eq!(
            PatchType::from_content_type("application/merge-patch+json; charset=utf-8"),
            Some(PatchType::MergePatch)
        );
        assert_eq!(PatchType::from_content_type("application/json"), None);
        let live = json!({"metadata": {"finalizers": ["a"]}});
        let out = super::apply_patch(
            PatchType::StrategicMergePatch,
            &live,
            &json!({"metadata": {"finalizers": ["b"]}}),
            super::schema::root_type("", "ConfigMap"),
        )
        .unwrap();
        // Union; the new item goes first, as kube-apiserver orders it.
        assert_eq!(out["metadata"]["finalizers"], json!(["b", "a"]));
        let out = super::apply_patch(PatchType::MergePatch, &live, &json!({"metadata": {"finalizers": ["b"]}}), None)
            .unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["b"]));
        assert!(super::apply_patch(PatchType::Apply, &live, &json!({}), None).is_err());
    }

    #[test]
    fn no_panics_on_arbitrary_input() {
        let mut g = Gen(7);
        let pod = super::schema::root_type("", "Pod");
        let deployment = super::schema::root_type("apps", "Deployment");
        for _ in 0..3000 {
            let a = g.value(5);
            let b = g.value(5);
            let _ = super::strategic::strategic_merge(&a, &b, deployment);
            let _ = super::strategic::strategic_merge(&a, &b, pod);
            let _ = super::merge_patch::apply_merge_patch(&a, &b);
            let _ = super::json_patch::apply_json_patch(&a, &b);
            let _ = super::apply::update_managed_fields(Some(&a), &b, "m", deployment);
            let mut cfg = b.clone();
            if let Value::Object(o) = &mut cfg {
                o.insert("apiVersion".into(), json!("apps/v1"));
                o.insert("kind".into(), json!("Deployment"));
            }
            let _ = super::apply::server_side_apply(Some(&a), &cfg, "m", false, deployment);
            let _ = super::apply::server_side_apply(None, &cfg, "m", true, pod);
        }
    }
}
