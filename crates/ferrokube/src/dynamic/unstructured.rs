//! [`Unstructured`] and [`UnstructuredList`]: objects as JSON maps, with the helpers
//! of apimachinery's `unstructured` package (`NestedString`, `SetNestedField`, ...)
//! and getters/setters for the common metadata.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::schema::GroupVersionKind;

/// Why a nested field could not be read or written as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// A value on the path exists but has another JSON type than expected.
    #[error("{path}: expected {expected}, found {found}")]
    WrongType {
        /// The dotted path of the field.
        path: String,
        /// What was expected (`string`, `object`, ...).
        expected: &'static str,
        /// What was found.
        found: &'static str,
    },
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An object of any kind as a JSON map (apimachinery `unstructured.Unstructured`).
///
/// ```
/// use ferrokube::dynamic::Unstructured;
/// use serde_json::json;
///
/// let mut d = Unstructured::from_value(json!({
///     "apiVersion": "apps/v1", "kind": "Deployment",
///     "metadata": {"name": "web", "namespace": "default"},
///     "spec": {"replicas": 2}
/// })).unwrap();
/// assert_eq!(d.nested_i64(&["spec", "replicas"]), Ok(Some(2)));
/// d.set_nested_field(&["spec", "replicas"], json!(3)).unwrap();
/// d.set_label("app", "web");
/// assert_eq!(d.name(), Some("web"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Unstructured {
    /// The object's fields.
    pub object: Map<String, Value>,
}

impl Unstructured {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty object with `apiVersion` and `kind` set.
    pub fn with_gvk(gvk: &GroupVersionKind) -> Self {
        let mut u = Self::new();
        u.set_api_version(&gvk.api_version());
        u.set_kind(&gvk.kind);
        u
    }

    /// Wraps a JSON value; fails unless it is an object.
    pub fn from_value(value: Value) -> Result<Self, FieldError> {
        match value {
            Value::Object(object) => Ok(Unstructured { object }),
            other => Err(FieldError::WrongType { path: String::new(), expected: "object", found: type_name(&other) }),
        }
    }

    /// Converts any serializable object (e.g. a k8s-openapi type) into an unstructured one.
    pub fn from_object<T: Serialize>(obj: &T) -> Result<Self, serde_json::Error> {
        let v = serde_json::to_value(obj)?;
        Self::from_value(v).map_err(serde::ser::Error::custom)
    }

    /// Converts into a typed object (e.g. a k8s-openapi type).
    pub fn to_object<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(Value::Object(self.object.clone()))
    }

    /// The JSON value.
    pub fn into_value(self) -> Value {
        Value::Object(self.object)
    }

    // ---- nested fields ----

    /// The value at `path` (client-go `NestedFieldNoCopy`); `None` if absent or if an
    /// intermediate value is not an object.
    pub fn nested_field(&self, path: &[&str]) -> Option<&Value> {
        nested(&self.object, path)
    }

    /// Mutable access to the value at `path`.
    pub fn nested_field_mut(&mut self, path: &[&str]) -> Option<&mut Value> {
        let (last, init) = path.split_last()?;
        let mut cur = &mut self.object;
        for k in init {
            cur = cur.get_mut(*k)?.as_object_mut()?;
        }
        cur.get_mut(*last)
    }

    fn typed<'a, T>(
        &'a self,
        path: &[&str],
        expected: &'static str,
        f: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<Option<T>, FieldError> {
        match self.nested_field(path) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| FieldError::WrongType {
                path: path.join("."),
                expected,
                found: type_name(v),
            }),
        }
    }

    /// The string at `path` (client-go `NestedString`): `Ok(None)` if absent, an error
    /// if it is not a string.
    pub fn nested_string(&self, path: &[&str]) -> Result<Option<&str>, FieldError> {
        self.typed(path, "string", |v| v.as_str())
    }

    /// The boolean at `path` (client-go `NestedBool`).
    pub fn nested_bool(&self, path: &[&str]) -> Result<Option<bool>, FieldError> {
        self.typed(path, "bool", |v| v.as_bool())
    }

    /// The integer at `path` (client-go `NestedInt64`).
    pub fn nested_i64(&self, path: &[&str]) -> Result<Option<i64>, FieldError> {
        self.typed(path, "integer", |v| v.as_i64())
    }

    /// The number at `path` (client-go `NestedFloat64`).
    pub fn nested_f64(&self, path: &[&str]) -> Result<Option<f64>, FieldError> {
        self.typed(path, "number", |v| v.as_f64())
    }

    /// The array at `path` (client-go `NestedSlice`).
    pub fn nested_slice(&self, path: &[&str]) -> Result<Option<&Vec<Value>>, FieldError> {
        self.typed(path, "array", |v| v.as_array())
    }

    /// The array of strings at `path` (client-go `NestedStringSlice`).
    pub fn nested_string_slice(&self, path: &[&str]) -> Result<Option<Vec<String>>, FieldError> {
        self.typed(path, "array of strings", |v| {
            v.as_array()?.iter().map(|i| i.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>()
        })
    }

    /// The object at `path` (client-go `NestedMap`).
    pub fn nested_map(&self, path: &[&str]) -> Result<Option<&Map<String, Value>>, FieldError> {
        self.typed(path, "object", |v| v.as_object())
    }

    /// The string-to-string map at `path` (client-go `NestedStringMap`).
    pub fn nested_string_map(&self, path: &[&str]) -> Result<Option<BTreeMap<String, String>>, FieldError> {
        self.typed(path, "map of strings", |v| {
            v.as_object()?.iter().map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect()
        })
    }

    /// Sets the value at `path`, creating intermediate objects (client-go
    /// `SetNestedField`). Fails if an intermediate value exists and is not an object.
    pub fn set_nested_field(&mut self, path: &[&str], value: Value) -> Result<(), FieldError> {
        let Some((last, init)) = path.split_last() else {
            return match value {
                Value::Object(m) => {
                    self.object = m;
                    Ok(())
                }
                other => {
                    Err(FieldError::WrongType { path: String::new(), expected: "object", found: type_name(&other) })
                }
            };
        };
        let mut cur = &mut self.object;
        for (i, k) in init.iter().enumerate() {
            let entry = cur.entry(k.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if entry.is_null() {
                *entry = Value::Object(Map::new());
            }
            let found = type_name(entry);
            cur = entry.as_object_mut().ok_or_else(|| FieldError::WrongType {
                path: path[..=i].join("."),
                expected: "object",
                found,
            })?;
        }
        cur.insert(last.to_string(), value);
        Ok(())
    }

    /// Removes the value at `path` (client-go `RemoveNestedField`); returns it if it
    /// existed.
    pub fn remove_nested_field(&mut self, path: &[&str]) -> Option<Value> {
        let (last, init) = path.split_last()?;
        let mut cur = &mut self.object;
        for k in init {
            cur = cur.get_mut(*k)?.as_object_mut()?;
        }
        cur.remove(*last)
    }

    // ---- type and object metadata ----

    fn top_string(&self, key: &str) -> Option<&str> {
        self.object.get(key).and_then(|v| v.as_str())
    }

    fn meta_string(&self, key: &str) -> Option<&str> {
        self.nested_field(&["metadata", key]).and_then(|v| v.as_str())
    }

    fn set_meta(&mut self, key: &str, value: Value) {
        // `metadata` is replaced when it is not an object, so this cannot fail.
        if !self.object.get("metadata").is_some_and(Value::is_object) {
            self.object.insert("metadata".to_owned(), Value::Object(Map::new()));
        }
        if let Some(Value::Object(m)) = self.object.get_mut("metadata") {
            if value.is_null() {
                m.remove(key);
            } else {
                m.insert(key.to_owned(), value);
            }
        }
    }

    fn meta_string_map(&self, key: &str) -> BTreeMap<String, String> {
        self.nested_string_map(&["metadata", key]).ok().flatten().unwrap_or_default()
    }

    /// `apiVersion`.
    pub fn api_version(&self) -> Option<&str> {
        self.top_string("apiVersion")
    }
    /// Sets `apiVersion`.
    pub fn set_api_version(&mut self, api_version: &str) {
        self.object.insert("apiVersion".to_owned(), Value::from(api_version));
    }
    /// `kind`.
    pub fn kind(&self) -> Option<&str> {
        self.top_string("kind")
    }
    /// Sets `kind`.
    pub fn set_kind(&mut self, kind: &str) {
        self.object.insert("kind".to_owned(), Value::from(kind));
    }
    /// The group/version/kind from `apiVersion` and `kind`.
    pub fn gvk(&self) -> GroupVersionKind {
        GroupVersionKind::from_api_version_kind(self.api_version().unwrap_or(""), self.kind().unwrap_or(""))
    }
    /// `metadata.name`.
    pub fn name(&self) -> Option<&str> {
        self.meta_string("name")
    }
    /// Sets `metadata.name`.
    pub fn set_name(&mut self, name: &str) {
        self.set_meta("name", Value::from(name));
    }
    /// `metadata.generateName`.
    pub fn generate_name(&self) -> Option<&str> {
        self.meta_string("generateName")
    }
    /// Sets `metadata.generateName`.
    pub fn set_generate_name(&mut self, prefix: &str) {
        self.set_meta("generateName", Value::from(prefix));
    }
    /// `metadata.namespace`.
    pub fn namespace(&self) -> Option<&str> {
        self.meta_string("namespace")
    }
    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: &str) {
        self.set_meta("namespace", Value::from(namespace));
    }
    /// `metadata.uid`.
    pub fn uid(&self) -> Option<&str> {
        self.meta_string("uid")
    }
    /// `metadata.resourceVersion`.
    pub fn resource_version(&self) -> Option<&str> {
        self.meta_string("resourceVersion")
    }
    /// Sets `metadata.resourceVersion` (empty: removes it).
    pub fn set_resource_version(&mut self, rv: &str) {
        self.set_meta("resourceVersion", if rv.is_empty() { Value::Null } else { Value::from(rv) });
    }
    /// `metadata.generation`.
    pub fn generation(&self) -> Option<i64> {
        self.nested_field(&["metadata", "generation"]).and_then(|v| v.as_i64())
    }
    /// `metadata.creationTimestamp` (RFC 3339).
    pub fn creation_timestamp(&self) -> Option<&str> {
        self.meta_string("creationTimestamp")
    }
    /// `metadata.deletionTimestamp` (RFC 3339), set while the object is being deleted.
    pub fn deletion_timestamp(&self) -> Option<&str> {
        self.meta_string("deletionTimestamp")
    }
    /// `metadata.labels` (empty when absent or malformed).
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.meta_string_map("labels")
    }
    /// Replaces `metadata.labels`.
    pub fn set_labels(&mut self, labels: BTreeMap<String, String>) {
        self.set_meta("labels", serde_json::to_value(labels).unwrap_or(Value::Null));
    }
    /// Sets one label.
    pub fn set_label(&mut self, key: &str, value: &str) {
        let mut l = self.labels();
        l.insert(key.to_owned(), value.to_owned());
        self.set_labels(l);
    }
    /// `metadata.annotations` (empty when absent or malformed).
    pub fn annotations(&self) -> BTreeMap<String, String> {
        self.meta_string_map("annotations")
    }
    /// Replaces `metadata.annotations`.
    pub fn set_annotations(&mut self, annotations: BTreeMap<String, String>) {
        self.set_meta("annotations", serde_json::to_value(annotations).unwrap_or(Value::Null));
    }
    /// Sets one annotation.
    pub fn set_annotation(&mut self, key: &str, value: &str) {
        let mut a = self.annotations();
        a.insert(key.to_owned(), value.to_owned());
        self.set_annotations(a);
    }
    /// `metadata.finalizers`.
    pub fn finalizers(&self) -> Vec<String> {
        self.nested_string_slice(&["metadata", "finalizers"]).ok().flatten().unwrap_or_default()
    }
    /// Replaces `metadata.finalizers`.
    pub fn set_finalizers(&mut self, finalizers: &[&str]) {
        self.set_meta("finalizers", Value::from(finalizers.to_vec()));
    }
}

fn nested<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (last, init) = path.split_last()?;
    let mut cur = map;
    for k in init {
        cur = cur.get(*k)?.as_object()?;
    }
    cur.get(*last)
}

/// A list of unstructured objects (apimachinery `UnstructuredList`): the list's own
/// fields (`apiVersion`, `kind`, `metadata`) and its items.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnstructuredList {
    /// The list's fields other than `items` (`apiVersion`, `kind`, `metadata`).
    #[serde(flatten)]
    pub object: Map<String, Value>,
    /// The items.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<Unstructured>,
}

impl crate::rest::list_decode::ItemList for UnstructuredList {
    type Item = Unstructured;
    fn set_items(&mut self, items: Vec<Unstructured>) {
        self.items = items;
    }
    fn continue_token(&self) -> Option<&str> {
        self.object.get("metadata")?.get("continue")?.as_str()
    }
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Unstructured>, D::Error> {
    Ok(Option::<Vec<Unstructured>>::deserialize(d)?.unwrap_or_default())
}

impl UnstructuredList {
    /// `metadata.resourceVersion` of the list: where to start a watch.
    pub fn resource_version(&self) -> Option<&str> {
        nested(&self.object, &["metadata", "resourceVersion"]).and_then(|v| v.as_str())
    }
    /// `metadata.continue`: the token of the next page, if any.
    pub fn continue_token(&self) -> Option<&str> {
        nested(&self.object, &["metadata", "continue"]).and_then(|v| v.as_str()).filter(|s| !s.is_empty())
    }
    /// `apiVersion` of the list.
    pub fn api_version(&self) -> Option<&str> {
        self.object.get("apiVersion").and_then(|v| v.as_str())
    }
    /// `kind` of the list, e.g. `DeploymentList`.
    pub fn kind(&self) -> Option<&str> {
        self.object.get("kind").and_then(|v| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Unstructured {
        Unstructured::from_value(json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}, "resourceVersion": "7"},
            "spec": {"replicas": 2, "paused": false, "template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
        }))
        .unwrap()
    }

    #[test]
    fn typed_getters() {
        let u = sample();
        assert_eq!(u.nested_i64(&["spec", "replicas"]), Ok(Some(2)));
        assert_eq!(u.nested_bool(&["spec", "paused"]), Ok(Some(false)));
        assert_eq!(u.nested_string(&["spec", "missing"]), Ok(None));
        assert_eq!(u.nested_string(&["missing", "deeper", "x"]), Ok(None));
        assert_eq!(u.nested_slice(&["spec", "template", "spec", "containers"]).unwrap().unwrap().len(), 1);
        assert_eq!(u.nested_map(&["metadata"]).unwrap().unwrap()["name"], "web");
        let err = u.nested_string(&["spec", "replicas"]).unwrap_err();
        assert_eq!(err.to_string(), "spec.replicas: expected string, found number");
        assert!(u.nested_i64(&["metadata", "name"]).is_err());
        // Through a non-object: absent, not an error (as client-go).
        assert_eq!(u.nested_string(&["spec", "replicas", "x"]), Ok(None));
        assert_eq!(u.nested_string_map(&["metadata", "labels"]).unwrap().unwrap()["app"], "web");
    }

    #[test]
    fn setters_and_removal() {
        let mut u = sample();
        u.set_nested_field(&["spec", "strategy", "type"], json!("Recreate")).unwrap();
        assert_eq!(u.nested_string(&["spec", "strategy", "type"]), Ok(Some("Recreate")));
        let err = u.set_nested_field(&["spec", "replicas", "x"], json!(1)).unwrap_err();
        assert!(err.to_string().contains("spec.replicas"), "{err}");
        assert_eq!(u.remove_nested_field(&["spec", "paused"]), Some(json!(false)));
        assert_eq!(u.remove_nested_field(&["spec", "paused"]), None);
        assert_eq!(u.remove_nested_field(&["nope", "x"]), None);
        if let Some(v) = u.nested_field_mut(&["spec", "replicas"]) {
            *v = json!(5);
        }
        assert_eq!(u.nested_i64(&["spec", "replicas"]), Ok(Some(5)));
    }

    #[test]
    fn metadata_accessors() {
        let mut u = sample();
        assert_eq!((u.name(), u.namespace(), u.resource_version()), (Some("web"), Some("ns"), Some("7")));
        assert_eq!(u.gvk(), GroupVersionKind::new("apps", "v1", "Deployment"));
        u.set_label("tier", "fe");
        assert_eq!(u.labels().len(), 2);
        u.set_annotation("a", "b");
        assert_eq!(u.annotations()["a"], "b");
        u.set_resource_version("");
        assert_eq!(u.resource_version(), None);
        u.set_finalizers(&["x/y"]);
        assert_eq!(u.finalizers(), vec!["x/y".to_owned()]);
        let mut fresh = Unstructured::with_gvk(&GroupVersionKind::new("", "v1", "ConfigMap"));
        fresh.set_name("c");
        fresh.set_namespace("d");
        assert_eq!(
            fresh.into_value(),
            json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"}})
        );
        // metadata that is not an object is replaced by the setters.
        let mut odd = Unstructured::from_value(json!({"metadata": 5})).unwrap();
        assert_eq!(odd.name(), None);
        odd.set_name("n");
        assert_eq!(odd.name(), Some("n"));
        assert!(Unstructured::from_value(json!([1])).is_err());
    }

    #[test]
    fn typed_round_trip_and_list() {
        let u = sample();
        let d: k8s_openapi::api::apps::v1::Deployment = u.to_object().unwrap();
        assert_eq!(d.spec.replicas, Some(2));
        let back = Unstructured::from_object(&d).unwrap();
        assert_eq!(back.name(), Some("web"));
        let l: UnstructuredList = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "ConfigMapList", "metadata": {"resourceVersion": "9", "continue": ""}, "items": null
        }))
        .unwrap();
        assert_eq!((l.resource_version(), l.continue_token(), l.items.len()), (Some("9"), None, 0));
        assert_eq!(l.kind(), Some("ConfigMapList"));
    }
}
