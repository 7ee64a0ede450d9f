//! Protobuf wire-format writing primitives: base-128 varints, field keys, and
//! length-delimited, varint and fixed64 fields.
//!
//! The one home of the writer side of the wire format in ferrokube: the object
//! [`encode`](super::encode) module writes Kubernetes messages with it, and the embedded
//! server writes its gnostic OpenAPI document with it. Fields are appended to a
//! `Vec<u8>`; a nested message is written to its own buffer first and then appended as
//! a length-delimited field.

/// Wire type of varint fields (int32, int64, bool, enums).
pub const VARINT: u8 = 0;
/// Wire type of 64-bit fixed fields (double).
pub const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (string, bytes, messages, packed repeats).
pub const LEN: u8 = 2;

/// Append `v` as a base-128 varint.
pub fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Append a field key: the field number and the wire type.
pub fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// Append a length-delimited field (string, bytes or an encoded message), even when empty.
pub fn put_bytes(buf: &mut Vec<u8>, field: u32, data: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// Append a length-delimited field whose content `write` appends to the same buffer:
/// one byte is reserved for the length and patched afterwards (messages of 128 bytes
/// or more move up by the extra length bytes), so nested messages need no buffer of
/// their own.
pub fn put_nested<E>(
    buf: &mut Vec<u8>,
    field: u32,
    write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    put_key(buf, field, LEN);
    let len_at = buf.len();
    buf.push(0);
    write(buf)?;
    let len = buf.len() - len_at - 1;
    if len < 0x80 {
        buf[len_at] = len as u8;
    } else {
        let mut prefix = Vec::with_capacity(10);
        put_varint(&mut prefix, len as u64);
        buf[len_at] = prefix[0];
        buf.splice(len_at + 1..len_at + 1, prefix[1..].iter().copied());
    }
    Ok(())
}

/// Append a varint field. Negative int32/int64 values are written as Go does: the
/// two's complement as a 64-bit varint (ten bytes).
pub fn put_varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, VARINT);
    put_varint(buf, v);
}

/// Append a fixed64 field (a double's bits).
pub fn put_fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    put_key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_fields() {
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        let mut b = Vec::new();
        put_varint_field(&mut b, 2, -1i64 as u64);
        assert_eq!(b.len(), 11);
        let mut b = Vec::new();
        put_bytes(&mut b, 1, b"ab");
        assert_eq!(b, [0x0a, 2, b'a', b'b']);
        let mut b = Vec::new();
        put_fixed64(&mut b, 3, 1.5f64.to_bits());
        assert_eq!(b[0], 0x19);
        assert_eq!(b.len(), 9);
        // Nested: the same bytes as writing the content first, short and long.
        for n in [0usize, 1, 127, 128, 300, 20_000] {
            let content = vec![7u8; n];
            let mut expected = vec![1u8];
            put_bytes(&mut expected, 5, &content);
            let mut got = vec![1u8];
            put_nested::<()>(&mut got, 5, |b| {
                b.extend_from_slice(&content);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, expected, "{n}");
        }
    }
}
