//! The generated field tables ([`generated`](super::generated)) compiled once into the
//! form the serde codec ([`de`](super::de), [`ser`](super::ser)) walks: every message
//! by number, its fields by field number (O(1) lookup while decoding), nested message
//! types resolved to numbers, the special types (Time, Quantity, IntOrString, ...)
//! recognised, and the `(apiVersion, kind)` → message map of the envelope.
//!
//! Built lazily on first use (a few hundred microseconds) and shared by every thread.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{generated, FieldDef, Kind};

/// The fields of message `m`, with inline-embedded messages' fields in place of the
/// inline field (recursively): what the message's JSON object holds.
pub(crate) fn owns_json(ix: &Index, m: u32, json: &str, depth: u32) -> bool {
    let msg = ix.msg(m);
    msg.fields.iter().any(|f| match (f.inline, f.ty) {
        (true, Ty::Msg(child)) if depth < 8 => owns_json(ix, child, json, depth + 1),
        _ => f.def.json == json,
    })
}

/// A field's value type with nested messages resolved to their index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Double,
    /// A nested message (index into [`Index::msgs`]).
    Msg(u32),
    /// A message type the tables do not define (an error when met).
    Missing,
}

impl Ty {
    /// Scalars carried as varints (packable when repeated).
    pub(crate) fn is_varint(self) -> bool {
        matches!(self, Ty::Bool | Ty::Int32 | Ty::Int64)
    }
}

/// Types whose JSON form (what k8s-openapi reads and writes) is not their message shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    /// An ordinary message: a JSON object of its fields.
    None,
    /// `metav1.Time`: RFC 3339 string, whole seconds.
    Time,
    /// `metav1.MicroTime`: RFC 3339 string with microseconds.
    MicroTime,
    /// `resource.Quantity`: its string.
    Quantity,
    /// `intstr.IntOrString`: an integer or a string.
    IntOrString,
    /// `runtime.RawExtension`, `metav1.FieldsV1`, apiextensions `JSON`: the JSON held in
    /// field 1 (`raw`).
    RawJson,
    /// Rare shapes (Duration, the `[]string` types of [`generated::STRING_LISTS`],
    /// JSONSchemaPropsOr*): decoded through the JSON value decoder of [`super`] and
    /// encoded by [`super::encode`].
    ViaValue,
}

/// One field, compiled.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) def: &'static FieldDef,
    /// The value type (the map value type for maps).
    pub(crate) ty: Ty,
    /// `map<string, ty>`.
    pub(crate) map: bool,
    /// A Go struct embedded inline: its fields belong to the parent's JSON object.
    pub(crate) inline: bool,
    /// Go writes this field even when zero, while its JSON omits it: a zero is dropped
    /// while decoding ([`generated::OMIT_ZERO`]).
    pub(crate) drop_zero: bool,
    /// Go's protobuf encoder writes this field even when zero (a value type,
    /// [`generated::ALWAYS_WRITTEN`]): the serializer writes its zero when it is absent.
    pub(crate) always: bool,
}

/// One message, compiled.
#[derive(Debug)]
pub(crate) struct Msg {
    pub(crate) key: &'static str,
    pub(crate) special: Special,
    pub(crate) fields: Vec<Field>,
    /// Whether any field is inline.
    pub(crate) has_inline: bool,
    /// Field number → position in `fields` (`u16::MAX`: unknown).
    by_tag: Vec<u16>,
}

impl Msg {
    /// The field with number `tag`, if the message has one.
    #[inline]
    pub(crate) fn field_by_tag(&self, tag: u32) -> Option<(usize, &Field)> {
        let i = *self.by_tag.get(tag as usize)?;
        self.fields.get(i as usize).map(|f| (i as usize, f))
    }

    /// The field whose JSON name is `json` (not looking into inline fields).
    pub(crate) fn field_by_json(&self, json: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.def.json == json && !f.inline)
    }
}

/// Every message, compiled.
#[derive(Debug)]
pub(crate) struct Index {
    pub(crate) msgs: Vec<Msg>,
    by_key: HashMap<&'static str, u32>,
    by_kind: HashMap<(&'static str, &'static str), u32>,
}

impl Index {
    /// The message with this key (`api/core/v1/Pod`).
    pub(crate) fn by_key(&self, key: &str) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    /// The message of an object of this apiVersion and kind; `<Kind>List` gives the
    /// list message of a listable kind.
    pub(crate) fn by_kind(&self, api_version: &str, kind: &str) -> Option<u32> {
        if let Some(i) = self.by_kind.get(&(api_version, kind)) {
            return Some(*i);
        }
        let item = kind.strip_suffix("List")?;
        let i = *self.by_kind.get(&(api_version, item))?;
        self.by_key(&format!("{}List", self.msgs[i as usize].key))
    }

    pub(crate) fn msg(&self, i: u32) -> &Msg {
        &self.msgs[i as usize]
    }
}

/// The compiled tables.
pub(crate) fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(build)
}

fn special_of(key: &str) -> Special {
    let name = key.rsplit('/').next().unwrap_or("");
    match key {
        "apimachinery/pkg/apis/meta/v1/Time" => Special::Time,
        "apimachinery/pkg/apis/meta/v1/MicroTime" => Special::MicroTime,
        "apimachinery/pkg/api/resource/Quantity" | "apimachinery/pkg/api/resource/QuantityValue" => Special::Quantity,
        "apimachinery/pkg/util/intstr/IntOrString" => Special::IntOrString,
        "apimachinery/pkg/runtime/RawExtension" | "apimachinery/pkg/apis/meta/v1/FieldsV1" => Special::RawJson,
        "apimachinery/pkg/apis/meta/v1/Duration" => Special::ViaValue,
        _ if name == "JSON" && key.starts_with("apiextensions_apiserver/") => Special::RawJson,
        _ if generated::STRING_LISTS.binary_search(&key).is_ok() => Special::ViaValue,
        _ if key.starts_with("apiextensions_apiserver/") && name.starts_with("JSONSchemaPropsOr") => Special::ViaValue,
        _ => Special::None,
    }
}

fn build() -> Index {
    let by_key: HashMap<&'static str, u32> =
        generated::MESSAGES.iter().enumerate().map(|(i, m)| (m.key, i as u32)).collect();
    let resolve = |kind: &Kind| -> Ty {
        match kind {
            Kind::String => Ty::String,
            Kind::Bytes => Ty::Bytes,
            Kind::Bool => Ty::Bool,
            Kind::Int32 => Ty::Int32,
            Kind::Int64 => Ty::Int64,
            Kind::Double => Ty::Double,
            Kind::Message(key) => by_key.get(key).map_or(Ty::Missing, |i| Ty::Msg(*i)),
            // Maps of maps do not occur in the Kubernetes types.
            Kind::Map(_) => Ty::Missing,
        }
    };
    let msgs = generated::MESSAGES
        .iter()
        .map(|m| {
            let fields: Vec<Field> = m
                .fields
                .iter()
                .map(|def| {
                    let (ty, map) = match &def.kind {
                        Kind::Map(value) => (resolve(value), true),
                        other => (resolve(other), false),
                    };
                    let scalar = !matches!(ty, Ty::Msg(_) | Ty::Missing);
                    let drop_zero = scalar && !map && !def.repeated && super::omits_zero(m.key, def.tag);
                    let inline = super::is_inline(m.key, def.tag) && matches!(ty, Ty::Msg(_));
                    let always = generated::ALWAYS_WRITTEN.binary_search(&(m.key, def.tag)).is_ok();
                    Field { def, ty, map, inline, drop_zero, always }
                })
                .collect();
            let max = fields.iter().map(|f| f.def.tag as usize).max().unwrap_or(0);
            let mut by_tag = vec![u16::MAX; max + 1];
            for (i, f) in fields.iter().enumerate() {
                by_tag[f.def.tag as usize] = i as u16;
            }
            let has_inline = fields.iter().any(|f| f.inline);
            Msg { key: m.key, special: special_of(m.key), fields, has_inline, by_tag }
        })
        .collect();
    let by_kind =
        generated::KINDS.iter().filter_map(|(av, kind, key)| by_key.get(key).map(|i| ((*av, *kind), *i))).collect();
    Index { msgs, by_key, by_kind }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_and_lists_are_found() {
        let ix = index();
        let pod = ix.by_kind("v1", "Pod").unwrap();
        assert_eq!(ix.msg(pod).key, "api/core/v1/Pod");
        let list = ix.by_kind("v1", "PodList").unwrap();
        assert_eq!(ix.msg(list).key, "api/core/v1/PodList");
        assert!(ix.by_kind("example.com/v1", "Widget").is_none());
        let meta = ix.msg(ix.by_key("apimachinery/pkg/apis/meta/v1/ObjectMeta").unwrap());
        let (_, name) = meta.field_by_tag(1).unwrap();
        assert_eq!(name.def.json, "name");
        assert!(meta.field_by_tag(1000).is_none());
        assert_eq!(ix.msg(ix.by_key("apimachinery/pkg/apis/meta/v1/Time").unwrap()).special, Special::Time);
        let volume = ix.by_key("api/core/v1/Volume").unwrap();
        assert!(ix.msg(volume).field_by_tag(2).unwrap().1.inline);
        assert!(owns_json(ix, volume, "configMap", 0));
        assert!(!owns_json(ix, volume, "volumeSource", 0));
    }
}
