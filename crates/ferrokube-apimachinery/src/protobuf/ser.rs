//! A serde `Serializer` that encodes a value in the JSON shape of a Kubernetes type
//! (a k8s-openapi struct, or a `serde_json::Value` of that shape) as the protobuf
//! message of that type, driven by the generated field tables. The inverse of
//! [`de`](super::de).
//!
//! Each field is looked up by its JSON name and written with its number; nested
//! messages are length-prefixed; repeated fields are written one element at a time
//! (unpacked, as Go's proto2 encoder does; decoders accept both), maps as entries.
//! The bytes are Go's for the same object, as [`encode`](super::encode) writes them:
//! fields in ascending number (serde gives them in JSON order; a message's fields are
//! put in order when it ends), inline-embedded structs as nested messages, and the
//! value-type fields Go writes even when zero
//! ([`generated::ALWAYS_WRITTEN`](super::generated::ALWAYS_WRITTEN)) written as their
//! zero when absent. The wire primitives are [`wire`](super::wire)'s. The
//! special types are encoded from their JSON form: RFC 3339 strings into
//! `Time`/`MicroTime`, strings into `Quantity`, an integer or a string into
//! `IntOrString`, any JSON into `RawExtension`/`FieldsV1`/`JSON` (as its JSON bytes),
//! and the rare others (Duration, ExtraValue, JSONSchemaPropsOr*) from their JSON value.
//! `apiVersion` and `kind` belong to the envelope and are skipped; any other name the
//! message lacks is a [`CodecError`] (a silent drop would lose data on a write).

use base64::Engine as _;
use serde::ser::{self, Impossible, Serialize};
use serde_json::Value;

use super::de::MAX_DEPTH;
use super::error::CodecError;
use super::index::{index, owns_json, Msg, Special, Ty};
use super::wire::{put_bytes as put_len, put_fixed64, put_nested, put_varint_field};

/// Encodes `value` as the message of type `key` (e.g. `api/core/v1/Pod`), without the
/// envelope.
pub fn to_message<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<Vec<u8>, CodecError> {
    let ix = index();
    let msg = ix.by_key(key).ok_or_else(|| CodecError::unencodable(format!("unknown message type {key}")))?;
    let mut out = Vec::new();
    encode_message(msg, value, &mut out, 0)?;
    Ok(out)
}

/// Appends the fields of message `msg` for `value` to `out`.
pub(crate) fn encode_message<T: Serialize + ?Sized>(
    msg: u32,
    value: &T,
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), CodecError> {
    let m = index().msg(msg);
    if depth > MAX_DEPTH {
        return Err(CodecError::unencodable("nesting too deep").in_message(m.key));
    }
    value.serialize(MessageSerializer { msg: m, out, depth }).map_err(|e| e.in_message(m.key))
}

/// A varint field of a signed value, as Go writes it (negatives in ten bytes).
fn put_int(out: &mut Vec<u8>, tag: u32, v: i64) {
    put_varint_field(out, tag, v as u64);
}

/// Writes field `tag` of type `ty` holding `value`, dispatching the special types that
/// need the whole value (JSON ones) before serde sees it.
fn write_value<T: Serialize + ?Sized>(
    tag: u32,
    ty: Ty,
    value: &T,
    out: &mut Vec<u8>,
    depth: u32,
) -> Result<(), CodecError> {
    if let Ty::Msg(m) = ty {
        match index().msg(m).special {
            Special::RawJson => {
                let json = serde_json::to_vec(value).map_err(|e| CodecError::unencodable(e.to_string()))?;
                if json != b"null" {
                    put_nested(out, tag, |inner| {
                        put_len(inner, 1, &json);
                        Ok::<(), CodecError>(())
                    })?;
                }
                return Ok(());
            }
            Special::ViaValue => {
                let v = serde_json::to_value(value).map_err(|e| CodecError::unencodable(e.to_string()))?;
                if !v.is_null() {
                    let inner = encode_via_value(m, &v, depth + 1)?;
                    put_len(out, tag, &inner);
                }
                return Ok(());
            }
            _ => {}
        }
    }
    value.serialize(FieldSerializer { tag, ty, shape: Shape::Single, out, depth })
}

/// The rare types whose JSON is neither their message nor a scalar (Duration, the
/// `[]string` types, JSONSchemaPropsOr*): written by [`super::encode`] from their JSON.
fn encode_via_value(m: u32, v: &Value, depth: u32) -> Result<Vec<u8>, CodecError> {
    let key = index().msg(m).key;
    if depth > MAX_DEPTH {
        return Err(CodecError::unencodable("nesting too deep").in_message(key));
    }
    super::encode::encode_message(key, v).map_err(|e| CodecError::unencodable(e.to_string()).in_message(key))
}

fn wrong(what: &str, ty: Ty) -> CodecError {
    CodecError::unencodable(format!("a {what} cannot be written into a field of type {ty:?}"))
}

/// Serializes one message's fields (from a struct or a map).
struct MessageSerializer<'a> {
    msg: &'static Msg,
    out: &'a mut Vec<u8>,
    depth: u32,
}

macro_rules! reject {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self, $(_: $t),*) -> Result<(), CodecError> {
            Err(CodecError::unencodable(concat!("expected an object, got ", stringify!($f))))
        })*
    };
}

impl<'a> ser::Serializer for MessageSerializer<'a> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Impossible<(), CodecError>;
    type SerializeTuple = Impossible<(), CodecError>;
    type SerializeTupleStruct = Impossible<(), CodecError>;
    type SerializeTupleVariant = Impossible<(), CodecError>;
    type SerializeMap = Fields<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Impossible<(), CodecError>;

    reject! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32), serialize_i64(i64),
        serialize_u8(u8), serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_f32(f32),
        serialize_f64(f64), serialize_char(char), serialize_str(&str), serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    }

    fn serialize_none(self) -> Result<(), CodecError> {
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), CodecError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), CodecError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), CodecError> {
        Err(CodecError::unencodable("expected an object, got an enum variant"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CodecError> {
        Err(CodecError::unencodable("expected an object, got a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CodecError> {
        Err(CodecError::unencodable("expected an object, got a tuple"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, CodecError> {
        Err(CodecError::unencodable("expected an object, got a tuple"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CodecError> {
        Err(CodecError::unencodable("expected an object, got an enum variant"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CodecError> {
        Ok(Fields::new(self.msg, Out::Borrowed(self.out), self.depth))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, CodecError> {
        Ok(Fields::new(self.msg, Out::Borrowed(self.out), self.depth))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CodecError> {
        Err(CodecError::unencodable("expected an object, got an enum variant"))
    }
}

/// Where a message's fields go: the caller's buffer, or a buffer of its own that is
/// length-prefixed into the parent's at the end (a nested message).
enum Out<'a> {
    Borrowed(&'a mut Vec<u8>),
    Nested { parent: &'a mut Vec<u8>, tag: u32, buf: Vec<u8> },
}

/// The fields of one message being written.
struct Fields<'a> {
    msg: &'static Msg,
    out: Out<'a>,
    depth: u32,
    /// A map's key, between `serialize_key` and `serialize_value`.
    key: Option<String>,
    /// Fields of inline-embedded messages (field number, message, their JSON), written
    /// as nested messages at the end.
    inline: Vec<(u32, u32, serde_json::Map<String, Value>)>,
    /// Where this message's fields start in the buffer.
    base: usize,
    /// Each written field: its number and where its bytes start (serde's order is the
    /// JSON's; Go writes ascending numbers, so they are put in order at the end).
    segs: Vec<(u32, usize)>,
}

impl<'a> Fields<'a> {
    fn new(msg: &'static Msg, out: Out<'a>, depth: u32) -> Self {
        let base = match &out {
            Out::Borrowed(b) => b.len(),
            Out::Nested { buf, .. } => buf.len(),
        };
        Fields { msg, out, depth, key: None, inline: Vec::new(), base, segs: Vec::new() }
    }

    fn buf(&mut self) -> &mut Vec<u8> {
        match &mut self.out {
            Out::Borrowed(b) => b,
            Out::Nested { buf, .. } => buf,
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), CodecError> {
        let depth = self.depth;
        let key = self.msg.key;
        let Some(field) = self.msg.field_by_json(name) else {
            if self.msg.has_inline {
                return self.inline_field(name, value);
            }
            if name == "apiVersion" || name == "kind" {
                return Ok(());
            }
            return Err(CodecError::unencodable(format!("{key} has no field {name:?}")));
        };
        let (tag, ty, json) = (field.def.tag, field.ty, field.def.json);
        let start = self.buf().len();
        if field.map {
            let out = self.buf();
            value.serialize(FieldSerializer { tag, ty, shape: Shape::Map, out, depth })
        } else if field.def.repeated {
            let out = self.buf();
            value.serialize(FieldSerializer { tag, ty, shape: Shape::Repeated, out, depth })
        } else {
            write_value(tag, ty, value, self.buf(), depth)
        }
        .map_err(|e| e.in_field(key, json))?;
        if self.buf().len() > start {
            self.segs.push((tag, start));
        }
        Ok(())
    }

    /// A JSON field that belongs to an inline-embedded message: kept as JSON until
    /// the end, then written inside that message.
    fn inline_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), CodecError> {
        let ix = index();
        let key = self.msg.key;
        let owner = self.msg.fields.iter().find(|f| match f.ty {
            Ty::Msg(child) if f.inline => owns_json(ix, child, name, 0),
            _ => false,
        });
        let Some(owner) = owner else {
            if name == "apiVersion" || name == "kind" {
                return Ok(());
            }
            return Err(CodecError::unencodable(format!("{key} has no field {name:?}")));
        };
        let Ty::Msg(child) = owner.ty else { return Ok(()) };
        let v = serde_json::to_value(value)
            .map_err(|e| CodecError::unencodable(e.to_string()).in_field(key, owner.def.json))?;
        if v.is_null() {
            return Ok(());
        }
        let tag = owner.def.tag;
        let slot = match self.inline.iter().position(|(t, _, _)| *t == tag) {
            Some(i) => i,
            None => {
                self.inline.push((tag, child, serde_json::Map::new()));
                self.inline.len() - 1
            }
        };
        self.inline[slot].2.insert(name.to_owned(), v);
        Ok(())
    }

    /// Writes the inline-embedded messages, then the message itself into its parent.
    fn finish(mut self) -> Result<(), CodecError> {
        let depth = self.depth;
        let key = self.msg.key;
        for (tag, child, map) in std::mem::take(&mut self.inline) {
            let start = self.buf().len();
            put_nested(self.buf(), tag, |inner| encode_message(child, &Value::Object(map), inner, depth + 1))
                .map_err(|e| e.in_message(key))?;
            self.segs.push((tag, start));
        }
        // What Go writes even when zero (value types, inline-embedded structs) and the
        // value left out: its zero.
        for f in &self.msg.fields {
            if (f.always || f.inline) && !self.segs.iter().any(|(t, _)| *t == f.def.tag) {
                let start = self.buf().len();
                super::encode::write_zero(self.buf(), f.def.tag, &f.def.kind, depth as usize)
                    .map_err(|e| CodecError::unencodable(e.to_string()).in_field(key, f.def.json))?;
                if self.buf().len() > start {
                    self.segs.push((f.def.tag, start));
                }
            }
        }
        if self.segs.windows(2).any(|w| w[0].0 > w[1].0) {
            let base = self.base;
            let buf = self.buf();
            let end = buf.len();
            let mut spans: Vec<(u32, usize, usize)> = Vec::with_capacity(self.segs.len());
            for (i, (tag, start)) in self.segs.iter().enumerate() {
                let stop = self.segs.get(i + 1).map_or(end, |(_, s)| *s);
                spans.push((*tag, *start, stop));
            }
            spans.sort_by_key(|(tag, _, _)| *tag);
            let buf = self.buf();
            let tail = buf.split_off(base);
            for (_, start, stop) in spans {
                buf.extend_from_slice(&tail[start - base..stop - base]);
            }
        }
        if let Out::Nested { parent, tag, buf } = self.out {
            put_len(parent, tag, &buf);
        }
        Ok(())
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, name: &'static str, value: &T) -> Result<(), CodecError> {
        self.field(name, value)
    }
    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

impl ser::SerializeMap for Fields<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        let key = self.key.take().ok_or_else(|| CodecError::unencodable("map value before its key"))?;
        self.field(&key, value)
    }
    fn end(self) -> Result<(), CodecError> {
        self.finish()
    }
}

/// Captures a map key (a string).
struct KeySerializer;

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = CodecError;
    type SerializeSeq = Impossible<String, CodecError>;
    type SerializeTuple = Impossible<String, CodecError>;
    type SerializeTupleStruct = Impossible<String, CodecError>;
    type SerializeTupleVariant = Impossible<String, CodecError>;
    type SerializeMap = Impossible<String, CodecError>;
    type SerializeStruct = Impossible<String, CodecError>;
    type SerializeStructVariant = Impossible<String, CodecError>;

    fn serialize_str(self, v: &str) -> Result<String, CodecError> {
        Ok(v.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result<String, CodecError> {
        v.serialize(self)
    }
    fn serialize_bool(self, _: bool) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_i8(self, _: i8) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_i16(self, _: i16) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_i32(self, _: i32) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_i64(self, _: i64) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_u8(self, _: u8) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_u16(self, _: u16) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_u32(self, _: u32) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_u64(self, _: u64) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_f32(self, _: f32) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_f64(self, _: f64) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_char(self, v: char) -> Result<String, CodecError> {
        Ok(v.to_string())
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_none(self) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<String, CodecError> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<String, CodecError> {
        Ok(v.to_owned())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<String, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CodecError> {
        Err(CodecError::unencodable("map keys must be strings"))
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Single,
    Repeated,
    Map,
}

/// Writes one field (all of its elements or entries when repeated or a map).
struct FieldSerializer<'a> {
    tag: u32,
    ty: Ty,
    shape: Shape,
    out: &'a mut Vec<u8>,
    depth: u32,
}

impl FieldSerializer<'_> {
    fn special(&self) -> Special {
        match self.ty {
            Ty::Msg(m) => index().msg(m).special,
            _ => Special::None,
        }
    }

    fn single(&self, what: &str) -> Result<(), CodecError> {
        if self.shape == Shape::Single {
            Ok(())
        } else {
            Err(CodecError::unencodable(format!("expected a list or map, got a {what}")))
        }
    }

    fn int(self, v: i64) -> Result<(), CodecError> {
        self.single("number")?;
        match (self.ty, self.special()) {
            (Ty::Int32 | Ty::Int64 | Ty::Bool, _) => put_int(self.out, self.tag, v),
            (Ty::Double, _) => put_fixed64(self.out, self.tag, (v as f64).to_bits()),
            (_, Special::IntOrString) => {
                // Go writes type, intVal and strVal, zeros included.
                let mut inner = Vec::with_capacity(8);
                put_int(&mut inner, 1, 0);
                put_int(&mut inner, 2, i64::from(i32::try_from(v).map_err(|_| wrong("64-bit number", self.ty))?));
                put_len(&mut inner, 3, b"");
                put_len(self.out, self.tag, &inner);
            }
            (_, Special::Quantity) => {
                let mut inner = Vec::with_capacity(8);
                put_len(&mut inner, 1, v.to_string().as_bytes());
                put_len(self.out, self.tag, &inner);
            }
            (ty, _) => return Err(wrong("number", ty)),
        }
        Ok(())
    }
}

impl<'a> ser::Serializer for FieldSerializer<'a> {
    type Ok = ();
    type Error = CodecError;
    type SerializeSeq = Elements<'a>;
    type SerializeTuple = Impossible<(), CodecError>;
    type SerializeTupleStruct = Impossible<(), CodecError>;
    type SerializeTupleVariant = Impossible<(), CodecError>;
    type SerializeMap = MapOrMessage<'a>;
    type SerializeStruct = Fields<'a>;
    type SerializeStructVariant = Impossible<(), CodecError>;

    fn serialize_bool(self, v: bool) -> Result<(), CodecError> {
        self.single("boolean")?;
        match self.ty {
            Ty::Bool => {
                put_int(self.out, self.tag, i64::from(v));
                Ok(())
            }
            ty => Err(wrong("boolean", ty)),
        }
    }
    fn serialize_i8(self, v: i8) -> Result<(), CodecError> {
        self.int(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), CodecError> {
        self.int(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), CodecError> {
        self.int(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), CodecError> {
        self.int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), CodecError> {
        self.int(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), CodecError> {
        self.int(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), CodecError> {
        self.int(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), CodecError> {
        self.int(i64::try_from(v).map_err(|_| CodecError::unencodable("number too large"))?)
    }
    fn serialize_f32(self, v: f32) -> Result<(), CodecError> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<(), CodecError> {
        self.single("number")?;
        match self.ty {
            Ty::Double => {
                put_fixed64(self.out, self.tag, v.to_bits());
                Ok(())
            }
            _ if v.fract() == 0.0 && v.abs() < 9.0e15 => self.int(v as i64),
            ty => Err(wrong("fractional number", ty)),
        }
    }
    fn serialize_char(self, v: char) -> Result<(), CodecError> {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), CodecError> {
        self.single("string")?;
        let special = self.special();
        match (self.ty, special) {
            (Ty::String, _) => put_len(self.out, self.tag, v.as_bytes()),
            (Ty::Bytes, _) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .map_err(|e| CodecError::unencodable(format!("bytes field is not base64: {e}")))?;
                put_len(self.out, self.tag, &bytes);
            }
            (_, Special::Time | Special::MicroTime) => {
                let ts: jiff::Timestamp =
                    v.parse().map_err(|e| CodecError::unencodable(format!("bad time {v:?}: {e}")))?;
                // Go's Timestamp writes both fields, zeros included.
                let mut inner = Vec::with_capacity(12);
                put_int(&mut inner, 1, ts.as_second());
                put_int(&mut inner, 2, i64::from(ts.subsec_nanosecond()));
                put_len(self.out, self.tag, &inner);
            }
            (_, Special::Quantity) => {
                let mut inner = Vec::with_capacity(v.len() + 2);
                put_len(&mut inner, 1, v.as_bytes());
                put_len(self.out, self.tag, &inner);
            }
            (_, Special::IntOrString) => {
                let mut inner = Vec::with_capacity(v.len() + 6);
                put_int(&mut inner, 1, 1);
                put_int(&mut inner, 2, 0);
                put_len(&mut inner, 3, v.as_bytes());
                put_len(self.out, self.tag, &inner);
            }
            (ty, _) => return Err(wrong("string", ty)),
        }
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), CodecError> {
        self.single("bytes")?;
        match self.ty {
            Ty::Bytes => {
                put_len(self.out, self.tag, v);
                Ok(())
            }
            ty => Err(wrong("byte string", ty)),
        }
    }
    fn serialize_none(self) -> Result<(), CodecError> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), CodecError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), CodecError> {
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), CodecError> {
        Ok(())
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), CodecError> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Result<(), CodecError> {
        if self.shape == Shape::Single {
            if let Special::RawJson | Special::ViaValue = self.special() {
                return write_value(self.tag, self.ty, value, self.out, self.depth);
            }
        }
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), CodecError> {
        Err(CodecError::unencodable("enum variants have no protobuf form"))
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Elements<'a>, CodecError> {
        if self.shape != Shape::Repeated {
            return Err(CodecError::unencodable("a list given for a field that does not repeat"));
        }
        Ok(Elements { tag: self.tag, ty: self.ty, out: self.out, depth: self.depth })
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, CodecError> {
        Err(CodecError::unencodable("tuples have no protobuf form"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct, CodecError> {
        Err(CodecError::unencodable("tuples have no protobuf form"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, CodecError> {
        Err(CodecError::unencodable("enum variants have no protobuf form"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapOrMessage<'a>, CodecError> {
        match (self.shape, self.ty) {
            (Shape::Map, ty) => {
                Ok(MapOrMessage::Map { tag: self.tag, ty, out: self.out, depth: self.depth, key: None })
            }
            (Shape::Single, Ty::Msg(m)) => Ok(MapOrMessage::Message(nested(self.tag, m, self.out, self.depth)?)),
            (_, ty) => Err(wrong("map", ty)),
        }
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Fields<'a>, CodecError> {
        match (self.shape, self.ty) {
            (Shape::Single, Ty::Msg(m)) => nested(self.tag, m, self.out, self.depth),
            (_, ty) => Err(wrong("object", ty)),
        }
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, CodecError> {
        Err(CodecError::unencodable("enum variants have no protobuf form"))
    }
}

/// The elements of a repeated field.
struct Elements<'a> {
    tag: u32,
    ty: Ty,
    out: &'a mut Vec<u8>,
    depth: u32,
}

impl ser::SerializeSeq for Elements<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        write_value(self.tag, self.ty, value, self.out, self.depth)
    }
    fn end(self) -> Result<(), CodecError> {
        Ok(())
    }
}

/// A nested message of field `tag` being written into its own buffer.
fn nested<'a>(tag: u32, m: u32, parent: &'a mut Vec<u8>, depth: u32) -> Result<Fields<'a>, CodecError> {
    let msg = index().msg(m);
    if depth + 1 > MAX_DEPTH {
        return Err(CodecError::unencodable("nesting too deep").in_message(msg.key));
    }
    if msg.special != Special::None {
        return Err(CodecError::unencodable(format!("{} is not written from an object", msg.key)));
    }
    Ok(Fields::new(msg, Out::Nested { parent, tag, buf: Vec::new() }, depth + 1))
}

/// A `map<string, V>` field, or a nested message given as a map.
enum MapOrMessage<'a> {
    Map { tag: u32, ty: Ty, out: &'a mut Vec<u8>, depth: u32, key: Option<String> },
    Message(Fields<'a>),
}

impl ser::SerializeMap for MapOrMessage<'_> {
    type Ok = ();
    type Error = CodecError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), CodecError> {
        let k = key.serialize(KeySerializer)?;
        match self {
            MapOrMessage::Map { key, .. } => *key = Some(k),
            MapOrMessage::Message(n) => n.key = Some(k),
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), CodecError> {
        match self {
            MapOrMessage::Map { tag, ty, out, depth, key } => {
                let k = key.take().ok_or_else(|| CodecError::unencodable("map value before its key"))?;
                let mut entry = Vec::with_capacity(k.len() + 16);
                put_len(&mut entry, 1, k.as_bytes());
                let key_len = entry.len();
                write_value(2, *ty, value, &mut entry, *depth)?;
                if entry.len() == key_len && matches!(ty, Ty::String | Ty::Bytes | Ty::Msg(_)) {
                    // A null value (a zero Time): Go writes the entry's value all the same.
                    put_len(&mut entry, 2, b"");
                }
                put_len(out, *tag, &entry);
                Ok(())
            }
            MapOrMessage::Message(n) => {
                let k = n.key.take().ok_or_else(|| CodecError::unencodable("map value before its key"))?;
                n.field(&k, value)
            }
        }
    }
    fn end(self) -> Result<(), CodecError> {
        match self {
            MapOrMessage::Map { .. } => Ok(()),
            MapOrMessage::Message(n) => n.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_ascend_and_go_zeros_are_written() {
        // JSON order (serde's) is not field order; Go writes ascending numbers and the
        // value-type fields even when absent: the same bytes as main's JSON encoder.
        let pod = json!({"spec": {"containers": [{"name": "c", "image": "i"}]}, "metadata": {"name": "p"}});
        let ours = to_message("api/core/v1/Pod", &pod).unwrap();
        let theirs = super::super::encode::encode_message("api/core/v1/Pod", &pod).unwrap();
        assert_eq!(ours, theirs);
        let lease = json!({"spec": {"leaseTransitions": 0, "holderIdentity": ""}});
        let ours = to_message("api/coordination/v1/Lease", &lease).unwrap();
        let theirs = super::super::encode::encode_message("api/coordination/v1/Lease", &lease).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn durations_are_written_in_nanoseconds() {
        let key = "metrics/pkg/apis/metrics/v1beta1/PodMetrics";
        let v = json!({"window": "1m30s"});
        let bytes = to_message(key, &v).unwrap();
        assert_eq!(bytes, super::super::encode::encode_message(key, &v).unwrap());
        assert_eq!(super::super::decode_message(key, &bytes, 0).unwrap()["window"], "1m30s");
        assert!(to_message(key, &json!({"window": "soon"})).is_err());
    }
}
