//! `tools::cache::decode`: decoding objects without `metadata.managedFields`.
//!
//! [`strip_managed_fields`](super::strip_managed_fields) frees managedFields after an
//! object was decoded; by then the decoder has already built its `fieldsV1` trees, the
//! bulk of a decoded object's allocations. [`WithoutManagedFields<K>`] decodes `K`
//! through a thin serde adapter that skips the JSON value of `metadata.managedFields`
//! (it is parsed, not built), so the result is what decoding then stripping would give,
//! for less time and no garbage. The reflector uses it when
//! [`ReflectorOptions::decode_without_managed_fields`](super::ReflectorOptions::decode_without_managed_fields)
//! is set.
//!
//! Only the key `managedFields` of the top-level object's `metadata` is skipped; every
//! other value reaches `K`'s own `Deserialize` unchanged.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{BorrowedStrDeserializer, StringDeserializer};
use serde::de::{DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// `K`, decoded with `metadata.managedFields` skipped (left `None`).
///
/// ```
/// use ferrokube::tools::cache::WithoutManagedFields;
/// use k8s_openapi::api::core::v1::Pod;
/// let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p",
///   "managedFields":[{"manager":"kubectl","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{}}}]}}"#;
/// let pod = serde_json::from_str::<WithoutManagedFields<Pod>>(json).unwrap().0;
/// assert_eq!(pod.metadata.name.as_deref(), Some("p"));
/// assert!(pod.metadata.managed_fields.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct WithoutManagedFields<K>(pub K);

impl<'de, K: Deserialize<'de>> Deserialize<'de> for WithoutManagedFields<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        K::deserialize(Filter { inner: deserializer, level: Level::Object }).map(WithoutManagedFields)
    }
}

// The same resource as `K` (group, kind, URL), so lists decode as
// `k8s_openapi::List<WithoutManagedFields<K>>` with the list kind checked as for `K`:
// `client.get()...into_list::<List<WithoutManagedFields<Pod>>>()`.
same_resource_as_inner!(WithoutManagedFields);

impl<K: k8s_openapi::Metadata> k8s_openapi::Metadata for WithoutManagedFields<K> {
    type Ty = K::Ty;

    fn metadata(&self) -> &K::Ty {
        self.0.metadata()
    }

    fn metadata_mut(&mut self) -> &mut K::Ty {
        self.0.metadata_mut()
    }
}

/// `K` decoded as is; the counterpart of [`WithoutManagedFields`] inside the reflector.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Plain<K>(pub(crate) K);

/// Turns a decoded wrapper into the object.
pub(crate) trait Unwrap<K>: serde::de::DeserializeOwned + Send + 'static {
    fn unwrap_object(self) -> K;
}

impl<K: serde::de::DeserializeOwned + Send + 'static> Unwrap<K> for Plain<K> {
    fn unwrap_object(self) -> K {
        self.0
    }
}

impl<K: serde::de::DeserializeOwned + Send + 'static> Unwrap<K> for WithoutManagedFields<K> {
    fn unwrap_object(self) -> K {
        self.0
    }
}

/// Where in the object a value sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// The object itself: its `metadata` value is filtered.
    Object,
    /// The object's `metadata`: its `managedFields` is skipped.
    Metadata,
}

/// A deserializer that hands maps at `level` to [`FilterMap`].
struct Filter<D> {
    inner: D,
    level: Level,
}

/// A visitor wrapper that hands maps at `level` to [`FilterMap`].
struct FilterVisitor<V> {
    inner: V,
    level: Level,
}

/// Skips or marks keys of a map at `level`.
struct FilterMap<A> {
    inner: A,
    level: Level,
    /// The value about to be read is the object's `metadata`.
    value_is_metadata: bool,
}

/// A seed wrapper that filters the value it deserializes at `level`.
struct FilterSeed<S> {
    inner: S,
    level: Level,
}

macro_rules! forward_deserialize {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.inner.$method(FilterVisitor { inner: visitor, level: self.level })
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Filter<D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_unit_struct(name, FilterVisitor { inner: visitor, level: self.level })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, name: &'static str, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_newtype_struct(name, FilterVisitor { inner: visitor, level: self.level })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_tuple(len, FilterVisitor { inner: visitor, level: self.level })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_tuple_struct(name, len, FilterVisitor { inner: visitor, level: self.level })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(name, fields, FilterVisitor { inner: visitor, level: self.level })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_enum(name, variants, FilterVisitor { inner: visitor, level: self.level })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),*) => {$(
        fn $method<E: serde::de::Error>(self, v: $ty) -> Result<V::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for FilterVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>)
    );

    fn visit_none<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Filter { inner: d, level: self.level })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Filter { inner: d, level: self.level })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(FilterMap { inner: map, level: self.level, value_is_metadata: false })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

/// A map key, borrowed from the input when possible.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor<'de>(PhantomData<&'de ()>);
        impl<'de> Visitor<'de> for KeyVisitor<'de> {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor(PhantomData))
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for FilterMap<A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, A::Error> {
        loop {
            let Some(Key(key)) = self.inner.next_key::<Key<'de>>()? else { return Ok(None) };
            if self.level == Level::Metadata && key == "managedFields" {
                self.inner.next_value::<IgnoredAny>()?;
                continue;
            }
            self.value_is_metadata = self.level == Level::Object && key == "metadata";
            return match key {
                Cow::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::<A::Error>::new(k)).map(Some),
                Cow::Owned(k) => seed.deserialize(StringDeserializer::<A::Error>::new(k)).map(Some),
            };
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        if std::mem::take(&mut self.value_is_metadata) {
            self.inner.next_value_seed(FilterSeed { inner: seed, level: Level::Metadata })
        } else {
            self.inner.next_value_seed(seed)
        }
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for FilterSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Filter { inner: d, level: self.level })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{ConfigMap, Pod};
    use k8s_openapi::List;

    fn pod_json(i: usize) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": format!("p-{i}"), "namespace": "ns", "resourceVersion": "7",
                "labels": {"app": "web", "managedFields": "a label, not the field"},
                "annotations": {"escaped\"key": "x\\y"},
                "managedFields": [{
                    "manager": "kubectl", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:containers": {"k:{\"name\":\"c\"}": {}}}}
                }],
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u"}]
            },
            "spec": {"containers": [{"name": "c", "image": "i", "env": [{"name": "managedFields", "value": "v"}]}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        })
    }

    #[test]
    fn same_as_decode_then_strip() {
        for i in 0..3 {
            let text = pod_json(i).to_string();
            let mut reference: Pod = serde_json::from_str(&text).unwrap();
            assert!(reference.metadata.managed_fields.is_some());
            reference.metadata.managed_fields = None;
            let fast = serde_json::from_str::<WithoutManagedFields<Pod>>(&text).unwrap().0;
            assert_eq!(fast, reference);
            // From bytes and from a Value too (owned keys).
            assert_eq!(serde_json::from_slice::<WithoutManagedFields<Pod>>(text.as_bytes()).unwrap().0, reference);
            assert_eq!(serde_json::from_value::<WithoutManagedFields<Pod>>(pod_json(i)).unwrap().0, reference);
        }
    }

    #[test]
    fn lists_and_errors() {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "9"},
            "items": [pod_json(0), pod_json(1)]});
        #[derive(Deserialize)]
        struct Items {
            items: Vec<WithoutManagedFields<Pod>>,
        }
        let items = serde_json::from_value::<Items>(list.clone()).unwrap().items;
        let reference: List<Pod> = serde_json::from_value(list).unwrap();
        assert_eq!(items.len(), 2);
        for (a, mut b) in items.into_iter().zip(reference.items) {
            b.metadata.managed_fields = None;
            assert_eq!(a.0, b);
        }
        // Type errors still surface as errors.
        assert!(serde_json::from_str::<WithoutManagedFields<ConfigMap>>(r#"{"metadata": 5}"#).is_err());
        assert!(
            serde_json::from_str::<WithoutManagedFields<ConfigMap>>(r#"{"metadata": {"managedFields": [}}"#).is_err()
        );
        assert!(serde_json::from_str::<WithoutManagedFields<ConfigMap>>("[1]").is_err());
    }
}
