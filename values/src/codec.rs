//! The binary encoding of [`Value`]s (format described in `docs/VALUES.md`).
//!
//! One version byte, then the value: a tag byte and its payload. Integers
//! and floats are little-endian at their natural width; lengths and counts
//! are unsigned LEB128. `list<u8>` is a length and the raw bytes, so a
//! buffer travels and is stored as itself.
//!
//! Decoding takes untrusted bytes: it never panics, refuses nesting deeper
//! than [`MAX_DEPTH`], and never reserves room for more elements than the
//! remaining input could hold (every element takes at least one byte), so
//! a forged count cannot make it allocate.

use std::ops::Range;

use bytes::Bytes;

use crate::Value;

/// The version byte every encoded value starts with.
pub const VERSION: u8 = 1;

/// How deeply values may nest (lists in records in variants ...).
pub const MAX_DEPTH: usize = 128;

/// Tag bytes, one per kind of value.
pub(crate) mod tag {
    pub const BOOL: u8 = 0x01;
    pub const S8: u8 = 0x02;
    pub const U8: u8 = 0x03;
    pub const S16: u8 = 0x04;
    pub const U16: u8 = 0x05;
    pub const S32: u8 = 0x06;
    pub const U32: u8 = 0x07;
    pub const S64: u8 = 0x08;
    pub const U64: u8 = 0x09;
    pub const F32: u8 = 0x0a;
    pub const F64: u8 = 0x0b;
    pub const CHAR: u8 = 0x0c;
    pub const STRING: u8 = 0x0d;
    pub const BYTES: u8 = 0x0e;
    pub const LIST: u8 = 0x0f;
    pub const RECORD: u8 = 0x10;
    pub const TUPLE: u8 = 0x11;
    pub const VARIANT: u8 = 0x12;
    pub const ENUM: u8 = 0x13;
    pub const OPTION: u8 = 0x14;
    pub const RESULT: u8 = 0x15;
    pub const FLAGS: u8 = 0x16;
    pub const OBJECT_REF: u8 = 0x17;
    pub const ACTOR: u8 = 0x18;
}

/// Why bytes are not an encoded value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Nothing at all.
    #[error("empty input: an encoded value starts with a version byte")]
    Empty,
    /// A version this build does not read.
    #[error("value encoding version {0} is not supported (this build reads version {VERSION})")]
    Version(u8),
    /// The input ended inside a value.
    #[error("truncated value: needed {needed} more byte(s) at offset {at}")]
    Truncated {
        /// Where the read started.
        at: usize,
        /// How many bytes were missing.
        needed: usize,
    },
    /// A byte that is no tag.
    #[error("unknown value tag 0x{tag:02x} at offset {at}")]
    Tag {
        /// The byte.
        tag: u8,
        /// Where.
        at: usize,
    },
    /// Something malformed, described.
    #[error("malformed value at offset {at}: {what}")]
    Malformed {
        /// Where.
        at: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// Nesting beyond [`MAX_DEPTH`].
    #[error("value nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Bytes left over after the value.
    #[error("{0} trailing byte(s) after the value")]
    Trailing(usize),
}

/// A value in its binary form, with the object refs it contains, recorded
/// while encoding so nobody has to scan the bytes for them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoded {
    /// The encoding (version byte first).
    pub bytes: Vec<u8>,
    /// The ids of the object refs inside, each once.
    pub refs: Vec<String>,
}

impl Encoded {
    /// Encodes `value`.
    pub fn new(value: &Value) -> Self {
        Encoded {
            bytes: encode(value),
            refs: value.refs(),
        }
    }
}

/// Encodes `value`, version byte first.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_len_hint(value));
    out.push(VERSION);
    encode_into(value, &mut out);
    out
}

/// The header of an encoded `list<u8>` of `len` bytes: write it, then the
/// bytes themselves, and the whole is an encoded value. Lets large buffers
/// be stored or sent without building a [`Value`] around them.
pub fn bytes_header(len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(12);
    out.push(VERSION);
    out.push(tag::BYTES);
    put_uvarint(&mut out, len);
    out
}

/// Where the raw bytes of an encoded top-level `list<u8>` lie in
/// `encoded`, given at least its first 12 bytes; `None` if it is another
/// kind of value. `Range::end` is computed from the header and may lie
/// past what was given.
pub fn bytes_payload(encoded: &[u8]) -> Option<Range<usize>> {
    let (&[VERSION, tag::BYTES], rest) = encoded.split_first_chunk::<2>()? else {
        return None;
    };
    let mut reader = Reader::new(rest);
    let len = reader.uvarint().ok()?;
    let start = 2 + reader.pos;
    Some(start..start.checked_add(usize::try_from(len).ok()?)?)
}

fn encoded_len_hint(value: &Value) -> usize {
    match value {
        Value::Bytes(b) => b.len() + 12,
        Value::String(s) => s.len() + 12,
        _ => 64,
    }
}

/// Appends `value` (without a version byte) to `out`.
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Bool(b) => out.extend_from_slice(&[tag::BOOL, *b as u8]),
        Value::S8(v) => out.extend_from_slice(&[tag::S8, *v as u8]),
        Value::U8(v) => out.extend_from_slice(&[tag::U8, *v]),
        Value::S16(v) => tagged(out, tag::S16, &v.to_le_bytes()),
        Value::U16(v) => tagged(out, tag::U16, &v.to_le_bytes()),
        Value::S32(v) => tagged(out, tag::S32, &v.to_le_bytes()),
        Value::U32(v) => tagged(out, tag::U32, &v.to_le_bytes()),
        Value::S64(v) => tagged(out, tag::S64, &v.to_le_bytes()),
        Value::U64(v) => tagged(out, tag::U64, &v.to_le_bytes()),
        Value::F32(v) => tagged(out, tag::F32, &v.to_bits().to_le_bytes()),
        Value::F64(v) => tagged(out, tag::F64, &v.to_bits().to_le_bytes()),
        Value::Char(c) => tagged(out, tag::CHAR, &(*c as u32).to_le_bytes()),
        Value::String(s) => {
            out.push(tag::STRING);
            put_str(out, s);
        }
        Value::Bytes(b) => {
            out.push(tag::BYTES);
            put_uvarint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::List(items) => sequence(out, tag::LIST, items),
        Value::Tuple(items) => sequence(out, tag::TUPLE, items),
        Value::Record(fields) => {
            out.push(tag::RECORD);
            put_uvarint(out, fields.len() as u64);
            for (name, v) in fields {
                put_str(out, name);
                encode_into(v, out);
            }
        }
        Value::Variant(case, payload) => {
            out.push(tag::VARIANT);
            put_str(out, case);
            optional(out, payload.as_deref());
        }
        Value::Enum(case) => {
            out.push(tag::ENUM);
            put_str(out, case);
        }
        Value::Option(v) => {
            out.push(tag::OPTION);
            optional(out, v.as_deref());
        }
        Value::Result(r) => {
            out.push(tag::RESULT);
            let (side, payload) = match r {
                Ok(v) => (0, v),
                Err(v) => (1, v),
            };
            out.push(side);
            optional(out, payload.as_deref());
        }
        Value::Flags(names) => {
            out.push(tag::FLAGS);
            put_uvarint(out, names.len() as u64);
            names.iter().for_each(|n| put_str(out, n));
        }
        Value::ObjectRef(id) => {
            out.push(tag::OBJECT_REF);
            put_str(out, id);
        }
        Value::Actor(id) => {
            out.push(tag::ACTOR);
            put_str(out, id);
        }
    }
}

fn tagged(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    out.extend_from_slice(payload);
}

fn sequence(out: &mut Vec<u8>, tag: u8, items: &[Value]) {
    out.push(tag);
    put_uvarint(out, items.len() as u64);
    items.iter().for_each(|v| encode_into(v, out));
}

fn optional(out: &mut Vec<u8>, value: Option<&Value>) {
    match value {
        None => out.push(0),
        Some(v) => {
            out.push(1);
            encode_into(v, out);
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes an encoded value; `list<u8>` payloads are copied out.
pub fn decode(encoded: &[u8]) -> Result<Value, DecodeError> {
    decode_with(encoded, None)
}

/// Decodes an encoded value held in a shared buffer: `list<u8>` payloads
/// are slices of it, not copies.
pub fn decode_shared(encoded: &Bytes) -> Result<Value, DecodeError> {
    decode_with(encoded, Some(encoded))
}

fn decode_with(encoded: &[u8], shared: Option<&Bytes>) -> Result<Value, DecodeError> {
    let (&version, rest) = encoded.split_first().ok_or(DecodeError::Empty)?;
    if version != VERSION {
        return Err(DecodeError::Version(version));
    }
    let mut reader = Reader::new(rest);
    reader.offset = 1;
    reader.shared = shared;
    let value = reader.value(0)?;
    match reader.remaining() {
        0 => Ok(value),
        n => Err(DecodeError::Trailing(n)),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Where `buf` starts in the whole input, for error offsets and slices
    /// of `shared`.
    offset: usize,
    shared: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            offset: 0,
            shared: None,
        }
    }

    fn at(&self) -> usize {
        self.offset + self.pos
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                at: self.at(),
                needed: n - self.remaining(),
            });
        }
        let slice = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn uvarint(&mut self) -> Result<u64, DecodeError> {
        let start = self.at();
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            value |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed {
            at: start,
            what: "length overflows 64 bits",
        })
    }

    /// A count of items each at least `min_size` bytes long, refused when
    /// the rest of the input could not hold them.
    fn count(&mut self, min_size: usize) -> Result<usize, DecodeError> {
        let at = self.at();
        let n = self.uvarint()?;
        match usize::try_from(n) {
            Ok(n) if n.saturating_mul(min_size) <= self.remaining() => Ok(n),
            _ => Err(DecodeError::Malformed {
                at,
                what: "count larger than the rest of the input",
            }),
        }
    }

    fn len_bytes(&mut self) -> Result<(usize, &'a [u8]), DecodeError> {
        let n = self.count(1)?;
        let start = self.at();
        Ok((start, self.take(n)?))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        let (at, raw) = self.len_bytes()?;
        match std::str::from_utf8(raw) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => Err(DecodeError::Malformed {
                at,
                what: "string is not UTF-8",
            }),
        }
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        let at = self.at();
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Malformed {
                at,
                what: "expected 0 or 1",
            }),
        }
    }

    fn optional(&mut self, depth: usize) -> Result<Option<Box<Value>>, DecodeError> {
        Ok(if self.flag()? {
            Some(Box::new(self.value(depth + 1)?))
        } else {
            None
        })
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth >= MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        let at = self.at();
        let kind = self.byte()?;
        Ok(match kind {
            tag::BOOL => Value::Bool(self.flag()?),
            tag::S8 => Value::S8(i8::from_le_bytes(self.array()?)),
            tag::U8 => Value::U8(self.byte()?),
            tag::S16 => Value::S16(i16::from_le_bytes(self.array()?)),
            tag::U16 => Value::U16(u16::from_le_bytes(self.array()?)),
            tag::S32 => Value::S32(i32::from_le_bytes(self.array()?)),
            tag::U32 => Value::U32(u32::from_le_bytes(self.array()?)),
            tag::S64 => Value::S64(i64::from_le_bytes(self.array()?)),
            tag::U64 => Value::U64(u64::from_le_bytes(self.array()?)),
            tag::F32 => Value::F32(f32::from_bits(u32::from_le_bytes(self.array()?))),
            tag::F64 => Value::F64(f64::from_bits(u64::from_le_bytes(self.array()?))),
            tag::CHAR => {
                let code = u32::from_le_bytes(self.array()?);
                Value::Char(char::from_u32(code).ok_or(DecodeError::Malformed {
                    at,
                    what: "char is not a Unicode scalar value",
                })?)
            }
            tag::STRING => Value::String(self.string()?),
            tag::BYTES => {
                let (start, raw) = self.len_bytes()?;
                Value::Bytes(match self.shared {
                    Some(shared) => shared.slice(start..start + raw.len()),
                    None => Bytes::copy_from_slice(raw),
                })
            }
            tag::LIST | tag::TUPLE => {
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                if kind == tag::LIST {
                    Value::List(items)
                } else {
                    Value::Tuple(items)
                }
            }
            tag::RECORD => {
                let n = self.count(2)?;
                let mut fields = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = self.string()?;
                    fields.push((name, self.value(depth + 1)?));
                }
                Value::Record(fields)
            }
            tag::VARIANT => {
                let case = self.string()?;
                Value::Variant(case, self.optional(depth)?)
            }
            tag::ENUM => Value::Enum(self.string()?),
            tag::OPTION => Value::Option(self.optional(depth)?),
            tag::RESULT => {
                let err = self.flag()?;
                let payload = self.optional(depth)?;
                Value::Result(if err { Err(payload) } else { Ok(payload) })
            }
            tag::FLAGS => {
                let n = self.count(1)?;
                let mut names = Vec::with_capacity(n);
                for _ in 0..n {
                    names.push(self.string()?);
                }
                Value::Flags(names)
            }
            tag::OBJECT_REF => Value::ObjectRef(self.string()?),
            tag::ACTOR => Value::Actor(self.string()?),
            _ => return Err(DecodeError::Tag { tag: kind, at }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_stored_as_themselves() {
        let data = vec![7u8; 300];
        let encoded = encode(&Value::from(data.clone()));
        let mut expected = bytes_header(300);
        expected.extend_from_slice(&data);
        assert_eq!(encoded, expected);
        let range = bytes_payload(&encoded).unwrap();
        assert_eq!(&encoded[range], &data[..]);
        assert_eq!(bytes_payload(&encode(&Value::U8(1))), None);
    }

    #[test]
    fn shared_decode_slices_instead_of_copying() {
        let shared = Bytes::from(encode(&Value::from(vec![1, 2, 3])));
        let Value::Bytes(b) = decode_shared(&shared).unwrap() else {
            panic!("not bytes")
        };
        assert_eq!(b.as_ptr(), shared[3..].as_ptr());
    }

    #[test]
    fn forged_counts_are_refused_before_allocating() {
        // A list claiming u64::MAX / 2 items in a few bytes.
        let mut forged = vec![VERSION, tag::LIST];
        put_uvarint(&mut forged, u64::MAX / 2);
        assert!(matches!(
            decode(&forged),
            Err(DecodeError::Malformed { .. })
        ));
        let mut deep = vec![VERSION];
        for _ in 0..MAX_DEPTH + 1 {
            deep.extend_from_slice(&[tag::OPTION, 1]);
        }
        deep.extend_from_slice(&[tag::BOOL, 1]);
        assert_eq!(decode(&deep), Err(DecodeError::TooDeep));
    }

    #[test]
    fn a_forged_four_gib_bytes_claim_is_refused_without_allocating() {
        // A `list<u8>` that says it holds 4 GiB, followed by 16 bytes.
        let mut forged = vec![VERSION, tag::BYTES];
        put_uvarint(&mut forged, 4 << 30);
        forged.extend_from_slice(&[7; 16]);
        assert_eq!(
            decode(&forged),
            Err(DecodeError::Malformed {
                at: 2,
                what: "count larger than the rest of the input"
            })
        );
        // As the string a guest's `string` parameter would read.
        forged[1] = tag::STRING;
        assert!(decode(&forged).is_err());
    }

    #[test]
    fn errors_name_what_is_wrong() {
        assert_eq!(decode(&[]), Err(DecodeError::Empty));
        assert_eq!(decode(&[9, 1, 1]), Err(DecodeError::Version(9)));
        assert_eq!(
            decode(&[VERSION, 0xff]),
            Err(DecodeError::Tag { tag: 0xff, at: 1 })
        );
        assert_eq!(
            decode(&[VERSION, tag::U32, 1]),
            Err(DecodeError::Truncated { at: 2, needed: 3 })
        );
        assert_eq!(
            decode(&[VERSION, tag::BOOL, 1, 0]),
            Err(DecodeError::Trailing(1))
        );
    }
}
