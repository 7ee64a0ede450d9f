//! Read access to a JSON tree, whichever way it is held: [`Json`] is implemented by
//! `serde_json::Value` (what the API hands out and what controllers build to write)
//! and by [`compact::Node`](super::compact::Node) (what the controllers' caches hold).
//! The field accessors of [`objects`](super::objects) are written once against it.
//!
//! The method names are `serde_json::Value`'s, with its meaning: a missing field, an
//! index on a non-array or a read of the wrong type gives `None`.

use serde_json::{Map, Value};

/// A JSON value that can be read.
pub trait Json: Sized + PartialEq + AsJson<J = Self> {
    /// Its objects.
    type Object: JsonObject<Self>;

    /// The field `key` of an object (`None` for a non-object or a missing field).
    fn get(&self, key: &str) -> Option<&Self>;
    /// The fields, if an object.
    fn as_object(&self) -> Option<&Self::Object>;
    /// The items, if an array.
    fn as_array(&self) -> Option<&[Self]>;
    /// The text, if a string.
    fn as_str(&self) -> Option<&str>;
    /// The number, if an integer that fits an `i64`.
    fn as_i64(&self) -> Option<i64>;
    /// The number, if a non-negative integer.
    fn as_u64(&self) -> Option<u64>;
    /// The number as a float, if a number.
    fn as_f64(&self) -> Option<f64>;
    /// The flag, if a boolean.
    fn as_bool(&self) -> Option<bool>;
    /// Whether this is `null`.
    fn is_null(&self) -> bool;
    /// A `serde_json::Value` copy, for writing.
    fn to_value(&self) -> Value;

    /// Whether this is an object.
    fn is_object(&self) -> bool {
        self.as_object().is_some()
    }
    /// Whether this is a string.
    fn is_string(&self) -> bool {
        self.as_str().is_some()
    }
}

/// The fields of a JSON object.
pub trait JsonObject<J> {
    /// The field `key`.
    fn get(&self, key: &str) -> Option<&J>;
    /// The fields, in key order.
    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a str, &'a J)>
    where
        J: 'a;
    /// How many fields.
    fn len(&self) -> usize;
    /// Whether there is no field.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether `key` is a field.
    fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl Json for Value {
    type Object = Map<String, Value>;

    fn get(&self, key: &str) -> Option<&Value> {
        Value::get(self, key)
    }
    fn as_object(&self) -> Option<&Map<String, Value>> {
        Value::as_object(self)
    }
    fn as_array(&self) -> Option<&[Value]> {
        Value::as_array(self).map(Vec::as_slice)
    }
    fn as_str(&self) -> Option<&str> {
        Value::as_str(self)
    }
    fn as_i64(&self) -> Option<i64> {
        Value::as_i64(self)
    }
    fn as_u64(&self) -> Option<u64> {
        Value::as_u64(self)
    }
    fn as_f64(&self) -> Option<f64> {
        Value::as_f64(self)
    }
    fn as_bool(&self) -> Option<bool> {
        Value::as_bool(self)
    }
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl JsonObject<Value> for Map<String, Value> {
    fn get(&self, key: &str) -> Option<&Value> {
        Map::get(self, key)
    }
    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a str, &'a Value)>
    where
        Value: 'a,
    {
        Map::iter(self).map(|(k, v)| (k.as_str(), v))
    }
    fn len(&self) -> usize {
        Map::len(self)
    }
}

/// What holds a JSON tree to read: the tree itself, a reference to it or an `Arc` of
/// it. The [`objects`](super::objects) accessors take any of them, as a function of
/// `&Value` takes a `&Arc<Value>` through deref.
pub trait AsJson {
    /// The tree.
    type J: Json;
    /// The tree, borrowed.
    fn json(&self) -> &Self::J;
}

impl AsJson for Value {
    type J = Value;
    fn json(&self) -> &Value {
        self
    }
}

impl<T: AsJson + ?Sized> AsJson for &T {
    type J = T::J;
    fn json(&self) -> &T::J {
        (**self).json()
    }
}

impl<T: AsJson + ?Sized> AsJson for &mut T {
    type J = T::J;
    fn json(&self) -> &T::J {
        (**self).json()
    }
}

impl<T: AsJson + ?Sized> AsJson for std::sync::Arc<T> {
    type J = T::J;
    fn json(&self) -> &T::J {
        (**self).json()
    }
}
