//! A serde `Deserializer` over the protobuf bytes of one Kubernetes message: decodes
//! straight into k8s-openapi structs (or any `Deserialize` type that reads their JSON
//! shape), with no JSON text or `serde_json::Value` in between.
//!
//! A message is presented as a map whose keys are the fields' JSON names (borrowed from
//! the generated tables) and whose values are deserializers of the field's bytes:
//! repeated fields as sequences (packed or not, even when their occurrences are not
//! adjacent), `map<string, V>` fields as maps, nested messages as maps again. The types
//! whose JSON is not their message shape are presented as k8s-openapi reads them:
//! `Time`/`MicroTime` as RFC 3339 strings, `Quantity` as its string, `IntOrString` as an
//! integer or a string, `RawExtension`/`FieldsV1`/`JSON` as the JSON they hold, the rare
//! others through the JSON value decoder of [`super`]. Unknown field numbers are
//! skipped. Zero scalars that Go writes although its JSON omits them are dropped
//! ([`generated::OMIT_ZERO`](super::generated::OMIT_ZERO): non-pointer `omitempty`
//! fields; a pointer's zero, such as `replicas: 0`, is kept), and an empty `Time` is
//! absent, so the result equals what the JSON of the same object decodes to. Since k8s-openapi ignores JSON names it does not
//! know, one table serves every k8s-openapi version.
//!
//! Nesting is bounded ([`MAX_DEPTH`]); bad input is a [`CodecError`] naming the message
//! type and field, never a panic.

use serde::de::{self, DeserializeSeed, Visitor};
use serde::forward_to_deserialize_any;

use super::error::CodecError;
use super::index::{index, Field, Index, Msg, Special, Ty};

/// Deepest message nesting accepted.
pub const MAX_DEPTH: u32 = 64;

/// A field's raw value by wire type.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
}

/// Reads fields off protobuf bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    #[inline]
    pub(crate) fn varint(&mut self) -> Result<u64, CodecError> {
        if let Some((&b, rest)) = self.buf.split_first() {
            if b < 0x80 {
                self.buf = rest;
                return Ok(u64::from(b));
            }
        }
        let mut v = 0u64;
        for i in 0..10 {
            let (&b, rest) = self.buf.split_first().ok_or_else(|| CodecError::invalid("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(CodecError::invalid("varint too long"))
    }

    #[inline]
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.buf.len() < n {
            return Err(CodecError::invalid("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// The next field, `None` at the end.
    #[inline]
    pub(crate) fn field(&mut self) -> Result<Option<(u32, Wire<'a>)>, CodecError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3).map_err(|_| CodecError::invalid("field number too large"))?;
        if tag == 0 {
            return Err(CodecError::invalid("field number 0"));
        }
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Wire::Fixed64(u64::from_le_bytes(a))
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| CodecError::invalid("length too large"))?;
                Wire::Len(self.take(len)?)
            }
            5 => {
                let b = self.take(4)?;
                let mut a = [0u8; 4];
                a.copy_from_slice(b);
                Wire::Fixed32(u32::from_le_bytes(a))
            }
            other => return Err(CodecError::invalid(format!("unsupported wire type {other}"))),
        };
        Ok(Some((tag, wire)))
    }
}

/// Decodes the message of type `key` (e.g. `api/core/v1/Pod`) from its bytes (no
/// envelope) into `T`.
pub fn from_message<'de, T: de::Deserialize<'de>>(key: &str, bytes: &'de [u8]) -> Result<T, CodecError> {
    let ix = index();
    let msg = ix.by_key(key).ok_or_else(|| CodecError::invalid(format!("unknown message type {key}")))?;
    T::deserialize(MessageDeserializer::new(msg, bytes, 0, None)?)
}

/// A deserializer of one message of a known type.
#[derive(Debug)]
pub struct MessageDeserializer<'de> {
    msg: &'static Msg,
    buf: &'de [u8],
    depth: u32,
    /// `apiVersion` and `kind` presented before the fields (from the envelope).
    type_meta: Option<(&'de str, &'de str)>,
}

impl<'de> MessageDeserializer<'de> {
    /// A deserializer of message number `msg` of the index.
    pub(crate) fn new(
        msg: u32,
        buf: &'de [u8],
        depth: u32,
        type_meta: Option<(&'de str, &'de str)>,
    ) -> Result<Self, CodecError> {
        let msg = index().msg(msg);
        if depth > MAX_DEPTH {
            return Err(CodecError::invalid("nesting too deep").in_message(msg.key));
        }
        Ok(MessageDeserializer { msg, buf, depth, type_meta })
    }

    /// A deserializer of the message with key `key` that presents `apiVersion` and
    /// `kind` first, as an object's JSON has them.
    pub(crate) fn with_type_meta(
        msg: u32,
        buf: &'de [u8],
        api_version: &'de str,
        kind: &'de str,
    ) -> Result<Self, CodecError> {
        Self::new(msg, buf, 0, Some((api_version, kind)))
    }
}

fn utf8(b: &[u8]) -> Result<&str, CodecError> {
    std::str::from_utf8(b).map_err(|_| CodecError::invalid("string field is not UTF-8"))
}

/// The only length-delimited field 1 of a message (Quantity's string, RawExtension's raw).
fn field1(buf: &[u8]) -> Result<&[u8], CodecError> {
    let mut r = Reader::new(buf);
    let mut out: &[u8] = &[];
    while let Some((tag, w)) = r.field()? {
        if let (1, Wire::Len(b)) = (tag, w) {
            out = b;
        }
    }
    Ok(out)
}

/// Seconds and nanoseconds of a Time/MicroTime message.
fn read_time(buf: &[u8]) -> Result<(i64, i32), CodecError> {
    let mut r = Reader::new(buf);
    let (mut secs, mut nanos) = (0i64, 0i32);
    while let Some((tag, w)) = r.field()? {
        match (tag, w) {
            (1, Wire::Varint(v)) => secs = v as i64,
            (2, Wire::Varint(v)) => nanos = v as i64 as i32,
            _ => {}
        }
    }
    Ok((secs, nanos))
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Formats a time as Kubernetes' JSON does: `2006-01-02T15:04:05Z`, with `.000000`
/// microseconds for MicroTime. Years outside 0..=9999 are an error (RFC 3339 has four
/// digits).
pub(crate) fn format_time(secs: i64, nanos: i32, micro: bool, out: &mut [u8; 27]) -> Result<&str, CodecError> {
    if !(0..1_000_000_000).contains(&nanos) {
        return Err(CodecError::invalid(format!("time nanos {nanos} out of range")));
    }
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    if !(0..=9999).contains(&y) {
        return Err(CodecError::invalid(format!("time {secs}s is outside years 0-9999")));
    }
    let sod = secs.rem_euclid(86_400) as u32;
    let (h, mi, s) = (sod / 3600, (sod / 60) % 60, sod % 60);
    let y = y as u32;
    let digits = |out: &mut [u8], v: u32, n: usize| {
        let mut v = v;
        for i in (0..n).rev() {
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    digits(&mut out[0..4], y, 4);
    out[4] = b'-';
    digits(&mut out[5..7], mo, 2);
    out[7] = b'-';
    digits(&mut out[8..10], d, 2);
    out[10] = b'T';
    digits(&mut out[11..13], h, 2);
    out[13] = b':';
    digits(&mut out[14..16], mi, 2);
    out[16] = b':';
    digits(&mut out[17..19], s, 2);
    let end = if micro {
        out[19] = b'.';
        digits(&mut out[20..26], nanos as u32 / 1000, 6);
        26
    } else {
        19
    };
    out[end] = b'Z';
    std::str::from_utf8(&out[..=end]).map_err(|_| CodecError::invalid("time"))
}

impl<'de> de::Deserializer<'de> for MessageDeserializer<'de> {
    type Error = CodecError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        let key = self.msg.key;
        let located = |e: CodecError| e.in_message(key);
        match self.msg.special {
            Special::None => visitor.visit_map(MessageAccess::new(self)),
            // Go's zero Time (an empty message, as in a `map[string]metav1.Time`): `null`
            // in its JSON.
            Special::Time | Special::MicroTime if self.buf.is_empty() => visitor.visit_unit(),
            Special::Time | Special::MicroTime => {
                let (secs, nanos) = read_time(self.buf).map_err(located)?;
                let mut out = [0u8; 27];
                let text =
                    format_time(secs, nanos, self.msg.special == Special::MicroTime, &mut out).map_err(located)?;
                visitor.visit_str(text)
            }
            Special::Quantity => visitor.visit_borrowed_str(utf8(field1(self.buf).map_err(located)?).map_err(located)?),
            Special::IntOrString => {
                let (mut ty, mut int, mut s) = (0u64, 0i32, "");
                let mut r = Reader::new(self.buf);
                while let Some((tag, w)) = r.field().map_err(located)? {
                    match (tag, w) {
                        (1, Wire::Varint(v)) => ty = v,
                        (2, Wire::Varint(v)) => int = v as i64 as i32,
                        (3, Wire::Len(b)) => s = utf8(b).map_err(located)?,
                        _ => {}
                    }
                }
                if ty == 1 {
                    visitor.visit_borrowed_str(s)
                } else {
                    visitor.visit_i32(int)
                }
            }
            Special::RawJson => {
                let raw = field1(self.buf).map_err(located)?;
                if raw.is_empty() {
                    visitor.visit_unit()
                } else if raw.starts_with(super::MAGIC) {
                    // An embedded object in protobuf: its JSON through the value decoder.
                    let value =
                        super::decode_body(raw).map_err(|e| CodecError::invalid(e.to_string()).in_message(key))?;
                    de::Deserializer::deserialize_any(value, visitor)
                        .map_err(|e| located(CodecError::invalid(e.to_string())))
                } else {
                    // One UTF-8 check of the whole JSON, then serde_json's `str` reader,
                    // which skips the per-string check.
                    let text = utf8(raw).map_err(located)?;
                    let mut json = serde_json::Deserializer::from_str(text);
                    let v = de::Deserializer::deserialize_any(&mut json, visitor)
                        .map_err(|e| located(CodecError::invalid(format!("embedded JSON: {e}"))))?;
                    json.end().map_err(|e| located(CodecError::invalid(format!("embedded JSON: {e}"))))?;
                    Ok(v)
                }
            }
            Special::ViaValue => {
                let value = super::decode_message(key, self.buf, self.depth as usize)
                    .map_err(|e| CodecError::invalid(e.to_string()).in_message(key))?;
                de::Deserializer::deserialize_any(value, visitor)
                    .map_err(|e| located(CodecError::invalid(e.to_string())))
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        if self.buf.is_empty() && matches!(self.msg.special, Special::Time | Special::MicroTime) {
            return visitor.visit_none();
        }
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

/// What [`MessageAccess::next_value_seed`] hands out next, with the message it is in.
enum Pending<'de> {
    None,
    Str(&'de str),
    One(&'static str, &'static Field, Wire<'de>),
    /// A repeated or map field: the reader from its first occurrence on.
    Many(&'static str, &'static Field, Reader<'de>),
}

/// One message being read: the message itself, or an inline-embedded one whose fields
/// are presented as the parent's.
struct Frame<'de> {
    msg: &'static Msg,
    reader: Reader<'de>,
    /// Repeated and map fields already handed out (by position in the message).
    seen: u64,
}

impl Frame<'_> {
    fn is_seen(&mut self, i: usize) -> bool {
        if i >= 64 {
            // No Kubernetes message has 64 fields before a repeated one; past that,
            // duplicates are handed out again (the struct keeps the last).
            return false;
        }
        let bit = 1u64 << i;
        let seen = self.seen & bit != 0;
        self.seen |= bit;
        seen
    }
}

/// Most nested inline-embedded messages (Kubernetes has two levels).
const MAX_INLINE: usize = 8;

/// The map of one message's fields.
struct MessageAccess<'de> {
    top: Frame<'de>,
    /// Inline-embedded messages being read, innermost last.
    inline: Vec<Frame<'de>>,
    ix: &'static Index,
    depth: u32,
    type_meta: Option<(&'de str, &'de str)>,
    type_meta_done: u8,
    pending: Pending<'de>,
}

impl<'de> MessageAccess<'de> {
    fn new(d: MessageDeserializer<'de>) -> Self {
        MessageAccess {
            top: Frame { msg: d.msg, reader: Reader::new(d.buf), seen: 0 },
            inline: Vec::new(),
            ix: index(),
            depth: d.depth,
            type_meta: d.type_meta,
            type_meta_done: 0,
            pending: Pending::None,
        }
    }
}

impl<'de> de::MapAccess<'de> for MessageAccess<'de> {
    type Error = CodecError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, CodecError> {
        if let Some((api_version, kind)) = self.type_meta {
            if self.type_meta_done < 2 {
                let (name, value) = if self.type_meta_done == 0 { ("apiVersion", api_version) } else { ("kind", kind) };
                self.type_meta_done += 1;
                self.pending = Pending::Str(value);
                return seed.deserialize(de::value::BorrowedStrDeserializer::new(name)).map(Some);
            }
        }
        loop {
            let frame = match self.inline.last_mut() {
                Some(f) => f,
                None => &mut self.top,
            };
            let msg = frame.msg;
            let before = frame.reader;
            let Some((tag, wire)) = frame.reader.field().map_err(|e| e.in_message(msg.key))? else {
                if self.inline.pop().is_some() {
                    continue;
                }
                return Ok(None);
            };
            let Some((i, field)) = msg.field_by_tag(tag) else { continue };
            if field.def.repeated || field.map {
                if frame.is_seen(i) {
                    continue;
                }
                self.pending = Pending::Many(msg.key, field, before);
            } else {
                if field.drop_zero && is_zero(wire) {
                    continue;
                }
                if let (Ty::Msg(m), Wire::Len(b)) = (field.ty, wire) {
                    let special = self.ix.msg(m).special;
                    if b.is_empty() && matches!(special, Special::Time | Special::MicroTime) {
                        // Go's zero Time: `null` in JSON, absent here.
                        continue;
                    }
                    if field.inline {
                        if self.inline.len() >= MAX_INLINE {
                            return Err(
                                CodecError::invalid("inline nesting too deep").in_field(msg.key, field.def.json)
                            );
                        }
                        self.inline.push(Frame { msg: self.ix.msg(m), reader: Reader::new(b), seen: 0 });
                        continue;
                    }
                }
                self.pending = Pending::One(msg.key, field, wire);
            }
            return seed.deserialize(de::value::BorrowedStrDeserializer::new(field.def.json)).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, CodecError> {
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => Err(CodecError::invalid("value asked for before its key").in_message(self.top.msg.key)),
            // apiVersion / kind from the envelope: a string field (also into an
            // `Option<String>`).
            Pending::Str(s) => {
                seed.deserialize(ValueDeserializer { ty: Ty::String, wire: Wire::Len(s.as_bytes()), depth: self.depth })
            }
            Pending::One(key, field, wire) => seed
                .deserialize(ValueDeserializer { ty: field.ty, wire, depth: self.depth })
                .map_err(|e| e.in_field(key, field.def.json)),
            Pending::Many(key, field, reader) => {
                let many = ManyDeserializer { field, reader, depth: self.depth };
                seed.deserialize(many).map_err(|e| e.in_field(key, field.def.json))
            }
        }
    }
}

fn is_zero(w: Wire<'_>) -> bool {
    match w {
        Wire::Varint(v) | Wire::Fixed64(v) => v == 0,
        Wire::Fixed32(v) => v == 0,
        Wire::Len(b) => b.is_empty(),
    }
}

/// One value: a scalar or a nested message.
struct ValueDeserializer<'de> {
    ty: Ty,
    wire: Wire<'de>,
    depth: u32,
}

impl<'de> ValueDeserializer<'de> {
    fn message(&self) -> Result<Option<MessageDeserializer<'de>>, CodecError> {
        match (self.ty, self.wire) {
            (Ty::Msg(m), Wire::Len(b)) => Ok(Some(MessageDeserializer::new(m, b, self.depth + 1, None)?)),
            (Ty::Msg(_), _) => Err(CodecError::invalid("expected a length-delimited message")),
            (Ty::Missing, _) => Err(CodecError::invalid("message type missing from the tables")),
            _ => Ok(None),
        }
    }
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = CodecError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        if let Some(m) = self.message()? {
            return m.deserialize_any(visitor);
        }
        match (self.ty, self.wire) {
            (Ty::String, Wire::Len(b)) => visitor.visit_borrowed_str(utf8(b)?),
            (Ty::Bytes, Wire::Len(b)) => {
                use base64::Engine as _;
                visitor.visit_string(base64::engine::general_purpose::STANDARD.encode(b))
            }
            (Ty::Bool, Wire::Varint(v)) => visitor.visit_bool(v != 0),
            (Ty::Int32, Wire::Varint(v)) => visitor.visit_i32(v as i64 as i32),
            (Ty::Int64, Wire::Varint(v)) => visitor.visit_i64(v as i64),
            (Ty::Double, Wire::Fixed64(v)) => visitor.visit_f64(f64::from_bits(v)),
            (ty, wire) => Err(CodecError::invalid(format!("wire type {wire:?} does not match field type {ty:?}"))),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, CodecError> {
        match self.message()? {
            Some(m) => m.deserialize_newtype_struct(name, visitor),
            None => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

/// A repeated field (a sequence) or a map field (a map): every occurrence of its field
/// number from the first on.
struct ManyDeserializer<'de> {
    field: &'static Field,
    reader: Reader<'de>,
    depth: u32,
}

impl<'de> de::Deserializer<'de> for ManyDeserializer<'de> {
    type Error = CodecError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        if self.field.map {
            visitor.visit_map(MapEntries { field: self.field, reader: self.reader, depth: self.depth, value: None })
        } else {
            let left = count_elements(self.field, self.reader);
            visitor.visit_seq(Elements {
                field: self.field,
                reader: self.reader,
                packed: None,
                depth: self.depth,
                left,
            })
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_some(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, CodecError> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier
    }
}

struct Elements<'de> {
    field: &'static Field,
    reader: Reader<'de>,
    packed: Option<Reader<'de>>,
    depth: u32,
    /// Elements not yet handed out (counted up front, so that `Vec`s are allocated at
    /// their final size: no regrowth, no copy, no slack kept in caches).
    left: usize,
}

/// How many elements the repeated `field` has from `reader` on: its occurrences, and
/// the varints of packed ones. A malformed rest counts what precedes it (the decode
/// then reports the error).
fn count_elements(field: &Field, mut reader: Reader<'_>) -> usize {
    let mut n = 0;
    while let Ok(Some((tag, wire))) = reader.field() {
        if tag != field.def.tag {
            continue;
        }
        match wire {
            Wire::Len(b) if field.ty.is_varint() => n += b.iter().filter(|&&x| x < 0x80).count(),
            _ => n += 1,
        }
    }
    n
}

impl<'de> de::SeqAccess<'de> for Elements<'de> {
    type Error = CodecError;

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, CodecError> {
        loop {
            if let Some(p) = &mut self.packed {
                if !p.buf.is_empty() {
                    let v = p.varint()?;
                    self.left = self.left.saturating_sub(1);
                    let value = ValueDeserializer { ty: self.field.ty, wire: Wire::Varint(v), depth: self.depth };
                    return seed.deserialize(value).map(Some);
                }
                self.packed = None;
            }
            let Some((tag, wire)) = self.reader.field()? else { return Ok(None) };
            if tag != self.field.def.tag {
                continue;
            }
            if let (true, Wire::Len(b)) = (self.field.ty.is_varint(), wire) {
                self.packed = Some(Reader::new(b));
                continue;
            }
            self.left = self.left.saturating_sub(1);
            return seed.deserialize(ValueDeserializer { ty: self.field.ty, wire, depth: self.depth }).map(Some);
        }
    }
}

struct MapEntries<'de> {
    field: &'static Field,
    reader: Reader<'de>,
    value: Option<Wire<'de>>,
    depth: u32,
}

impl<'de> de::MapAccess<'de> for MapEntries<'de> {
    type Error = CodecError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, CodecError> {
        loop {
            let Some((tag, wire)) = self.reader.field()? else { return Ok(None) };
            if tag != self.field.def.tag {
                continue;
            }
            let Wire::Len(entry) = wire else {
                return Err(CodecError::invalid("a map entry is not length-delimited"));
            };
            let mut r = Reader::new(entry);
            let (mut key, mut value) = ("", None);
            while let Some((tag, w)) = r.field()? {
                match (tag, w) {
                    (1, Wire::Len(k)) => key = utf8(k)?,
                    (2, w) => value = Some(w),
                    _ => {}
                }
            }
            // A missing value is the type's zero.
            self.value = Some(value.unwrap_or(match self.field.ty {
                Ty::Bool | Ty::Int32 | Ty::Int64 => Wire::Varint(0),
                Ty::Double => Wire::Fixed64(0),
                _ => Wire::Len(&[]),
            }));
            return seed.deserialize(de::value::BorrowedStrDeserializer::new(key)).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, CodecError> {
        let wire = self.value.take().ok_or_else(|| CodecError::invalid("map value asked for before its key"))?;
        seed.deserialize(ValueDeserializer { ty: self.field.ty, wire, depth: self.depth })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects a sequence as `Vec::<T>`'s own `Deserialize` does: with the capacity
    /// the size hint gives (serde's bounded `cautious` hint).
    struct Seq<T>(Vec<T>);

    impl<'de, T: de::Deserialize<'de>> de::Deserialize<'de> for Seq<T> {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Vec::<T>::deserialize(d).map(Seq)
        }
    }

    /// The `args` (strings) or `supplementalGroups` (integers) of a message.
    #[derive(Default)]
    struct Repeated {
        strings: Option<Seq<String>>,
        ints: Option<Seq<i64>>,
    }

    impl<'de> de::Deserialize<'de> for Repeated {
        fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Repeated;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a message")
                }
                fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Repeated, A::Error> {
                    let mut out = Repeated::default();
                    while let Some(k) = m.next_key::<&str>()? {
                        match k {
                            "args" => out.strings = Some(m.next_value()?),
                            "supplementalGroups" => out.ints = Some(m.next_value()?),
                            _ => m.next_value::<de::IgnoredAny>().map(drop)?,
                        }
                    }
                    Ok(out)
                }
            }
            d.deserialize_any(V)
        }
    }

    #[test]
    fn repeated_fields_are_sized_up_front() {
        // Five elements, not adjacent: without the count, the Vec would grow to 8.
        let c = serde_json::json!({"args": ["a", "b"], "name": "c", "command": ["x"], "image": "i"});
        let mut raw = super::super::ser::to_message("api/core/v1/Container", &c).unwrap();
        let more = serde_json::json!({"args": ["c", "d", "e"]});
        raw.extend(super::super::ser::to_message("api/core/v1/Container", &more).unwrap());
        let back: Repeated = from_message("api/core/v1/Container", &raw).unwrap();
        let args = back.strings.unwrap().0;
        assert_eq!(args, ["a", "b", "c", "d", "e"]);
        assert_eq!(args.capacity(), 5);
        // Repeated integers, one per value, packed or not.
        let sc = serde_json::json!({"supplementalGroups": [1, 2, 300, 70000]});
        let raw = super::super::ser::to_message("api/core/v1/PodSecurityContext", &sc).unwrap();
        let ints = from_message::<Repeated>("api/core/v1/PodSecurityContext", &raw).unwrap().ints.unwrap().0;
        assert_eq!((ints.as_slice(), ints.capacity()), (&[1, 2, 300, 70000][..], 4));
        let packed = [0x22, 0x04, 0x01, 0x02, 0xac, 0x02]; // field 4 packed: 1, 2, 300
        let ints = from_message::<Repeated>("api/core/v1/PodSecurityContext", &packed).unwrap().ints.unwrap().0;
        assert_eq!((ints.as_slice(), ints.capacity()), (&[1, 2, 300][..], 3));
    }

    #[test]
    fn times_format_as_kubernetes_json() {
        let mut b = [0u8; 27];
        assert_eq!(format_time(1_700_000_000, 123_456_789, false, &mut b).unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(format_time(1_700_000_000, 123_456_789, true, &mut b).unwrap(), "2023-11-14T22:13:20.123456Z");
        assert_eq!(format_time(0, 0, false, &mut b).unwrap(), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(-62_135_596_800, 0, false, &mut b).unwrap(), "0001-01-01T00:00:00Z");
        assert_eq!(format_time(951_782_400, 0, false, &mut b).unwrap(), "2000-02-29T00:00:00Z");
        assert!(format_time(i64::MAX / 2, 0, false, &mut b).is_err());
        assert!(format_time(0, -1, true, &mut b).is_err());
        // Agrees with jiff over a range of instants.
        for secs in (-2_000_000_000i64..4_000_000_000).step_by(7_777_777) {
            let ts = jiff::Timestamp::new(secs, 0).unwrap();
            assert_eq!(format_time(secs, 0, false, &mut b).unwrap(), ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string());
        }
    }
}
