//! `controller::object_key`: [`ObjectKey`], what a controller's work queue holds — the
//! namespace and name of an object to reconcile (controller-runtime
//! `reconcile.Request`, client-go's `namespace/name` string keys).

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;

/// The namespace and name of an object. `namespace` is empty for cluster-scoped
/// objects. Displays as the cache key, `namespace/name` or `name` (client-go
/// `MetaNamespaceKeyFunc`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The namespace (`""` for cluster-scoped objects).
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `name` in `namespace` (`""` for cluster-scoped objects).
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey { namespace: namespace.into(), name: name.into() }
    }

    /// The key of a cluster-scoped object.
    pub fn cluster(name: impl Into<String>) -> Self {
        ObjectKey { namespace: String::new(), name: name.into() }
    }

    /// The key of `obj`; `None` if it has no name.
    pub fn from_object<K: Metadata<Ty = ObjectMeta>>(obj: &K) -> Option<Self> {
        let md = obj.metadata();
        let name = md.name.as_deref().filter(|n| !n.is_empty())?;
        Some(ObjectKey::new(md.namespace.clone().unwrap_or_default(), name))
    }

    /// Splits a cache key (`namespace/name` or `name`) (client-go
    /// `SplitMetaNamespaceKey`); `None` for an empty name or more than one `/`.
    pub fn parse(key: &str) -> Option<Self> {
        let (namespace, name) = match key.split_once('/') {
            Some((ns, name)) => (ns, name),
            None => ("", key),
        };
        if name.is_empty() || name.contains('/') {
            return None;
        }
        Some(ObjectKey::new(namespace, name))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};

    #[test]
    fn keys_display_parse_and_come_from_objects() {
        assert_eq!(ObjectKey::new("ns", "a").to_string(), "ns/a");
        assert_eq!(ObjectKey::cluster("n1").to_string(), "n1");
        assert_eq!(ObjectKey::parse("ns/a"), Some(ObjectKey::new("ns", "a")));
        assert_eq!(ObjectKey::parse("n1"), Some(ObjectKey::cluster("n1")));
        assert_eq!(ObjectKey::parse("ns/"), None);
        assert_eq!(ObjectKey::parse("a/b/c"), None);
        let cm = ConfigMap {
            metadata: ObjectMeta { namespace: Some("ns".into()), name: Some("a".into()), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(ObjectKey::from_object(&cm), Some(ObjectKey::new("ns", "a")));
        let ns =
            Namespace { metadata: ObjectMeta { name: Some("ns".into()), ..Default::default() }, ..Default::default() };
        assert_eq!(ObjectKey::from_object(&ns), Some(ObjectKey::cluster("ns")));
        assert_eq!(ObjectKey::from_object(&ConfigMap::default()), None);
    }
}
