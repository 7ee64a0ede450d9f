//! The compact JSON tree the controllers' caches hold ([`Node`]).
//!
//! A `serde_json::Value` object is a B-tree whose nodes have room for eleven fields:
//! a running pod without managedFields (3 KB of JSON, 34 objects, most of one to three
//! fields) takes 23.6 KB as a `Value`, and the caches hold one per pod. A [`Node`]
//! object is a boxed slice of exactly its fields, sorted by key (looked up by binary
//! search), and a string of up to 22 bytes (most keys and values: names, timestamps,
//! IPs, condition types) is held inline, without an allocation of its own. The same
//! pod takes about a quarter.
//!
//! Controllers read a `Node` through [`Json`] (the same accessors as a `Value`) and
//! turn it into a `Value` ([`Json::to_value`]) only to write it.

use std::fmt;
use std::ops::Index;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};

use super::json::{AsJson, Json, JsonObject};

/// Bytes a [`Text`] holds without an allocation.
const INLINE: usize = 22;

/// A string: inline up to 22 bytes, else boxed. 24 bytes either way.
#[derive(Clone, PartialEq, Eq)]
pub enum Text {
    /// Short text, in place.
    Inline {
        /// Bytes used.
        len: u8,
        /// UTF-8, `len` of them meaningful.
        bytes: [u8; INLINE],
    },
    /// Longer text.
    Heap(Box<str>),
}

impl Text {
    /// `s`, inline when it fits.
    pub fn new(s: &str) -> Text {
        if s.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..s.len()].copy_from_slice(s.as_bytes());
            Text::Inline { len: s.len() as u8, bytes }
        } else {
            Text::Heap(s.into())
        }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            // Always valid: the bytes are a whole `&str` copied in `new`.
            Text::Inline { len, bytes } => std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default(),
            Text::Heap(s) => s,
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A JSON value held compactly (see the module docs).
#[derive(Clone, PartialEq)]
pub enum Node {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, exactly as parsed.
    Number(Number),
    /// A string.
    String(Text),
    /// An array.
    Array(Box<[Node]>),
    /// An object.
    Object(Fields),
}

/// The fields of a [`Node`] object, sorted by key.
#[derive(Clone, PartialEq, Default)]
pub struct Fields(Box<[(Text, Node)]>);

/// `null`, to borrow where a missing value reads as null.
pub static NULL: Node = Node::Null;

impl Node {
    /// `value`, compact.
    pub fn new(value: &Value) -> Node {
        match value {
            Value::Null => Node::Null,
            Value::Bool(b) => Node::Bool(*b),
            Value::Number(n) => Node::Number(n.clone()),
            Value::String(s) => Node::String(Text::new(s)),
            Value::Array(items) => Node::Array(items.iter().map(Node::new).collect()),
            Value::Object(fields) => Node::Object(Fields::new(fields.iter())),
        }
    }

    /// `object` without `metadata.managedFields`, compact: how the caches hold
    /// objects (no controller reads managedFields, and they are 40 % of a pod).
    pub fn without_managed_fields(object: &Value) -> Node {
        let Value::Object(fields) = object else { return Node::new(object) };
        let compact = fields.iter().map(|(k, v)| match v {
            Value::Object(meta) if k == "metadata" => {
                (Text::new(k), Node::Object(Fields::new(meta.iter().filter(|(k, _)| *k != "managedFields"))))
            }
            v => (Text::new(k), Node::new(v)),
        });
        Node::Object(Fields::sorted(compact.collect()))
    }
}

impl Node {
    /// Only the fields at `paths` of `object` (each a list of object keys), compact:
    /// a projection for a cache whose reader needs a few fields of many objects.
    pub fn projection(object: &Value, paths: &[&[&str]]) -> Node {
        let mut out = Value::Object(Map::new());
        for path in paths {
            let Some((last, parents)) = path.split_last() else { continue };
            let Some(value) = path.iter().try_fold(object, |v, key| v.get(key)) else { continue };
            let mut at = &mut out;
            for key in parents {
                let Value::Object(map) = at else { break };
                at = map.entry(*key).or_insert_with(|| Value::Object(Map::new()));
            }
            if let Value::Object(map) = at {
                map.insert((*last).to_owned(), value.clone());
            }
        }
        Node::new(&out)
    }
}

impl Fields {
    /// Fields in key order (as a `serde_json::Map` iterates), compact.
    fn new<'a>(fields: impl Iterator<Item = (&'a String, &'a Value)>) -> Fields {
        Fields::sorted(fields.map(|(k, v)| (Text::new(k), Node::new(v))).collect())
    }

    /// `fields` in key order, as lookups binary-search them. A `serde_json::Map` gives
    /// them sorted already unless serde_json's `preserve_order` feature is on (which
    /// any crate of a build can turn on): then this sorts them.
    fn sorted(mut fields: Vec<(Text, Node)>) -> Fields {
        if !fields.is_sorted_by(|(a, _), (b, _)| a.as_str() <= b.as_str()) {
            fields.sort_by(|(a, _), (b, _)| a.as_str().cmp(b.as_str()));
        }
        Fields(fields.into_boxed_slice())
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a str, &'a Node);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Text, Node)>, fn(&'a (Text, Node)) -> (&'a str, &'a Node)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl JsonObject<Node> for Fields {
    fn get(&self, key: &str) -> Option<&Node> {
        let at = self.0.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
        self.0.get(at).map(|(_, v)| v)
    }
    fn iter<'a>(&'a self) -> impl Iterator<Item = (&'a str, &'a Node)>
    where
        Node: 'a,
    {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl Json for Node {
    type Object = Fields;

    fn get(&self, key: &str) -> Option<&Node> {
        self.as_object()?.get(key)
    }
    fn as_object(&self) -> Option<&Fields> {
        match self {
            Node::Object(f) => Some(f),
            _ => None,
        }
    }
    fn as_array(&self) -> Option<&[Node]> {
        match self {
            Node::Array(items) => Some(items),
            _ => None,
        }
    }
    fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(t) => Some(t.as_str()),
            _ => None,
        }
    }
    fn as_i64(&self) -> Option<i64> {
        match self {
            Node::Number(n) => n.as_i64(),
            _ => None,
        }
    }
    fn as_u64(&self) -> Option<u64> {
        match self {
            Node::Number(n) => n.as_u64(),
            _ => None,
        }
    }
    fn as_f64(&self) -> Option<f64> {
        match self {
            Node::Number(n) => n.as_f64(),
            _ => None,
        }
    }
    fn as_bool(&self) -> Option<bool> {
        match self {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }
    fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::String(t) => Value::String(t.as_str().to_owned()),
            Node::Array(items) => Value::Array(items.iter().map(Json::to_value).collect()),
            Node::Object(f) => {
                Value::Object(f.0.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_value())).collect::<Map<_, _>>())
            }
        }
    }
}

impl AsJson for Node {
    type J = Node;
    fn json(&self) -> &Node {
        self
    }
}

/// `node["key"]`: the field, or `null` (as `Value` indexes).
impl Index<&str> for Node {
    type Output = Node;
    fn index(&self, key: &str) -> &Node {
        Json::get(self, key).unwrap_or(&NULL)
    }
}

/// A compact tree equals a `Value` of the same JSON.
impl PartialEq<Value> for Node {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Node::Null, Value::Null) => true,
            (Node::Bool(a), Value::Bool(b)) => a == b,
            (Node::Number(a), Value::Number(b)) => a == b,
            (Node::String(a), Value::String(b)) => a.as_str() == b,
            (Node::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y),
            (Node::Object(a), Value::Object(b)) => {
                a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| v == w))
            }
            _ => false,
        }
    }
}

impl PartialEq<&str> for Node {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Null => f.write_str("null"),
            Node::Bool(b) => fmt::Debug::fmt(b, f),
            Node::Number(n) => fmt::Display::fmt(n, f),
            Node::String(t) => fmt::Debug::fmt(t, f),
            Node::Array(items) => f.debug_list().entries(items.iter()).finish(),
            Node::Object(fields) => f.debug_map().entries(fields.iter()).finish(),
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Number(n) => n.serialize(s),
            Node::String(t) => s.serialize_str(t.as_str()),
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                for (k, v) in fields.iter() {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nodes_and_texts_are_three_words() {
        assert_eq!(std::mem::size_of::<Text>(), 24);
        assert_eq!(std::mem::size_of::<Node>(), 24);
    }

    #[test]
    fn a_tree_reads_and_converts_back_as_the_value_it_came_from() {
        let v = json!({
            "metadata": {"name": "a-name-longer-than-twenty-two-bytes", "labels": {"app": "web", "tier": "x"},
                         "managedFields": [{"manager": "m"}]},
            "spec": {"replicas": 3, "ratio": 0.5, "big": u64::MAX, "neg": -4, "on": true, "off": null,
                     "list": [1, "two", {"three": []}], "empty": {}},
            "é": "ünïcödé text that is longer than inline"
        });
        let n = Node::new(&v);
        assert!(n == v);
        assert_eq!(n.to_value(), v);
        assert_eq!(serde_json::to_value(&n).ok(), Some(v.clone()));
        assert_eq!(n["metadata"]["name"], "a-name-longer-than-twenty-two-bytes");
        assert_eq!(n["spec"]["replicas"].as_i64(), Some(3));
        assert_eq!(n["spec"]["big"].as_u64(), Some(u64::MAX));
        assert_eq!(n["spec"]["neg"].as_i64(), Some(-4));
        assert_eq!(n["spec"]["ratio"].as_f64(), Some(0.5));
        assert_eq!(n["spec"]["on"].as_bool(), Some(true));
        assert!(n["spec"]["off"].is_null() && n["spec"]["missing"].is_null());
        assert_eq!(n["spec"]["list"].as_array().map(<[Node]>::len), Some(3));
        assert_eq!(n.get("é").and_then(Json::as_str), Some("ünïcödé text that is longer than inline"));
        let labels = n["metadata"]["labels"].as_object().map(|l| l.iter().map(|(k, _)| k).collect::<Vec<_>>());
        assert_eq!(labels, Some(vec!["app", "tier"]));
        assert!(n != json!({"metadata": {}}));
        let mut changed = v.clone();
        changed["spec"]["list"][2]["three"] = json!([0]);
        assert!(n != changed, "a difference deep down is a difference");
    }

    #[test]
    fn a_projection_keeps_the_paths_asked_for_and_nothing_else() {
        let v = json!({"metadata": {"name": "e", "namespace": "ns", "uid": "u", "labels": {"a": "b"}},
                       "lastTimestamp": "2026-01-01T00:00:00Z", "message": "long text", "count": 3});
        let paths: &[&[&str]] =
            &[&["metadata", "name"], &["metadata", "namespace"], &["lastTimestamp"], &["eventTime"], &[]];
        let n = Node::projection(&v, paths);
        assert!(
            n == json!({"metadata": {"name": "e", "namespace": "ns"}, "lastTimestamp": "2026-01-01T00:00:00Z"}),
            "{n:?}"
        );
    }

    #[test]
    fn fields_out_of_order_are_sorted_for_lookup() {
        let f = Fields::sorted(vec![(Text::new("b"), Node::Bool(true)), (Text::new("a"), Node::Null)]);
        assert!(JsonObject::get(&f, "a").is_some_and(Json::is_null));
        assert_eq!(JsonObject::get(&f, "b").and_then(Json::as_bool), Some(true));
        assert_eq!(f.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn the_cached_form_drops_managed_fields_only() {
        let v = json!({"metadata": {"name": "p", "managedFields": [{"manager": "m"}]}, "spec": {"managedFields": 1}});
        let n = Node::without_managed_fields(&v);
        assert!(n == json!({"metadata": {"name": "p"}, "spec": {"managedFields": 1}}));
    }
}
