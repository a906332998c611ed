//! A bounded CBOR (RFC 8949) pull decoder and a small deterministic encoder.
//!
//! Why our own decoder rather than `ciborium::Value`: SUIT envelopes arrive from
//! outside (uploads, devices), and a decoder of untrusted input must bound its
//! work. This one
//!
//! - never allocates more than the input can justify: a claimed length or item
//!   count larger than the bytes left is rejected before any allocation
//!   ([`SuitError::LengthExceedsInput`]);
//! - limits nesting depth ([`Limits::max_depth`]), counting the nesting *through*
//!   `bstr .cbor` wrappers, so a CBOR bomb of nested byte strings is caught too;
//! - limits the total number of data items ([`Limits::max_items`]) across all
//!   nested decodes of one envelope;
//! - rejects every malformed item of RFC 8949 §3 / Appendix F (reserved
//!   additional information, bad indefinite-length chunks, stray breaks,
//!   two-byte simple values below 32, invalid UTF-8, truncation).
//!
//! Definite-length strings borrow from the input; only indefinite-length strings
//! are copied.
//!
//! The encoder ([`Enc`]) writes preferred (shortest) heads only; callers write
//! map keys in deterministic order (RFC 8949 §4.2.1), as the SUIT draft requires
//! for every map in the envelope (draft-ietf-suit-manifest §8.1).

use std::borrow::Cow;
use std::cell::Cell;

use crate::error::SuitError;

/// Resource limits for decoding one envelope (or one COSE object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input accepted, in bytes.
    pub max_input: usize,
    /// Deepest nesting of arrays, maps, tags and `bstr .cbor` wrappers.
    pub max_depth: usize,
    /// Most data items decoded in total.
    pub max_items: usize,
}

impl Default for Limits {
    /// 4 MiB, depth 32, 131072 items: far above any real manifest (the draft's
    /// examples are < 1 KiB and < 200 items), far below what hurts a gateway.
    fn default() -> Self {
        Limits {
            max_input: 4 << 20,
            max_depth: 32,
            max_items: 1 << 17,
        }
    }
}

/// Shared budget for one decoding job (all nested decoders of one envelope).
#[derive(Debug)]
pub struct Budget {
    pub limits: Limits,
    items: Cell<usize>,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        Budget {
            limits,
            items: Cell::new(0),
        }
    }

    fn take_item(&self) -> Result<(), SuitError> {
        let n = self.items.get() + 1;
        if n > self.limits.max_items {
            return Err(SuitError::TooManyItems {
                limit: self.limits.max_items,
            });
        }
        self.items.set(n);
        Ok(())
    }
}

/// A decoded CBOR data item. Strings borrow from the input where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Uint(u64),
    /// A negative integer: the value is `-1 - n`.
    Nint(u64),
    Bytes(Cow<'a, [u8]>),
    Text(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
    Tag(u64, Box<Value<'a>>),
    Bool(bool),
    Null,
    Undefined,
    Simple(u8),
    Float(f64),
}

impl Value<'_> {
    /// The integer value, if this is an integer that fits in an i64.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Uint(n) => i64::try_from(*n).ok(),
            Value::Nint(n) => i64::try_from(*n).ok().map(|n| -1 - n),
            _ => None,
        }
    }

    /// A short name of the CBOR type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Uint(_) => "unsigned integer",
            Value::Nint(_) => "negative integer",
            Value::Bytes(_) => "byte string",
            Value::Text(_) => "text string",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Tag(..) => "tag",
            Value::Bool(_) => "bool",
            Value::Null => "null",
            Value::Undefined => "undefined",
            Value::Simple(_) => "simple value",
            Value::Float(_) => "float",
        }
    }
}

const BREAK: u8 = 0xff;

/// A pull decoder over one byte slice. Nested decoders (for `bstr .cbor`)
/// share the [`Budget`] and continue the depth count.
pub struct Decoder<'a, 'b> {
    input: &'a [u8],
    pos: usize,
    budget: &'b Budget,
    base_depth: usize,
}

/// The head of a data item: major type, additional information, argument.
#[derive(Debug, Clone, Copy)]
struct Head {
    major: u8,
    /// `None` for indefinite length (additional information 31).
    arg: Option<u64>,
    ai: u8,
}

impl<'a, 'b> Decoder<'a, 'b> {
    /// A decoder for `input`, whose items sit `base_depth` levels deep already.
    pub fn new(input: &'a [u8], budget: &'b Budget, base_depth: usize) -> Result<Self, SuitError> {
        if input.len() > budget.limits.max_input {
            return Err(SuitError::TooLarge {
                len: input.len(),
                limit: budget.limits.max_input,
            });
        }
        Ok(Decoder {
            input,
            pos: 0,
            budget,
            base_depth,
        })
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn input(&self) -> &'a [u8] {
        self.input
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn remaining(&self) -> usize {
        self.input.len().saturating_sub(self.pos)
    }

    fn byte(&mut self) -> Result<u8, SuitError> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or(SuitError::Truncated { at: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], SuitError> {
        let rem = self.remaining();
        let n_usize =
            usize::try_from(n)
                .ok()
                .filter(|n| *n <= rem)
                .ok_or(SuitError::LengthExceedsInput {
                    at: self.pos,
                    claimed: n,
                    remaining: rem,
                })?;
        let s = &self.input[self.pos..self.pos + n_usize];
        self.pos += n_usize;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], SuitError> {
        let at = self.pos;
        let s = self
            .take(N as u64)
            .map_err(|_| SuitError::Truncated { at })?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn head(&mut self) -> Result<Head, SuitError> {
        let at = self.pos;
        let ib = self.byte()?;
        let major = ib >> 5;
        let ai = ib & 0x1f;
        let arg = match ai {
            0..=23 => Some(u64::from(ai)),
            24 => Some(u64::from(self.byte()?)),
            25 => Some(u64::from(u16::from_be_bytes(self.fixed::<2>()?))),
            26 => Some(u64::from(u32::from_be_bytes(self.fixed::<4>()?))),
            27 => Some(u64::from_be_bytes(self.fixed::<8>()?)),
            28..=30 => {
                return Err(SuitError::Malformed {
                    at,
                    reason: "reserved additional information value (28..30)",
                });
            }
            _ => {
                // 31: indefinite length, only for strings, arrays, maps; 0xff is break.
                match major {
                    2..=5 => None,
                    7 => {
                        return Err(SuitError::Malformed {
                            at,
                            reason: "break (0xff) outside an indefinite-length item",
                        });
                    }
                    _ => {
                        return Err(SuitError::Malformed {
                            at,
                            reason: "indefinite length on an integer or tag",
                        });
                    }
                }
            }
        };
        Ok(Head { major, arg, ai })
    }

    fn at_break(&mut self) -> Result<bool, SuitError> {
        match self.input.get(self.pos) {
            Some(&BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(SuitError::Truncated { at: self.pos }),
        }
    }

    fn enter(&self, depth: usize) -> Result<(), SuitError> {
        if self.base_depth + depth > self.budget.limits.max_depth {
            return Err(SuitError::TooDeep {
                limit: self.budget.limits.max_depth,
            });
        }
        self.budget.take_item()
    }

    /// Depth of items at the top of this decoder, for nested decoders.
    pub fn base_depth(&self) -> usize {
        self.base_depth
    }

    /// Decode one complete data item.
    pub fn value(&mut self) -> Result<Value<'a>, SuitError> {
        self.value_at(1)
    }

    /// Decode one item and also return the exact bytes it occupied.
    pub fn value_with_raw(&mut self) -> Result<(Value<'a>, &'a [u8]), SuitError> {
        let start = self.pos;
        let v = self.value()?;
        Ok((v, &self.input[start..self.pos]))
    }

    /// Decode exactly one item that fills the whole input.
    pub fn single(mut self) -> Result<Value<'a>, SuitError> {
        let v = self.value()?;
        if !self.is_empty() {
            return Err(SuitError::TrailingBytes { at: self.pos });
        }
        Ok(v)
    }

    /// Read a tag head if one is next; returns the tag number.
    pub fn peek_tag(&mut self) -> Result<Option<u64>, SuitError> {
        let save = self.pos;
        let h = self.head()?;
        if h.major == 6 {
            self.budget.take_item()?;
            Ok(h.arg)
        } else {
            self.pos = save;
            Ok(None)
        }
    }

    /// Read a map head; `None` for an indefinite-length map.
    pub fn map_head(&mut self) -> Result<Option<u64>, SuitError> {
        let at = self.pos;
        self.enter(1)?;
        let h = self.head()?;
        if h.major != 5 {
            return Err(SuitError::Malformed {
                at,
                reason: "expected a map",
            });
        }
        if let Some(n) = h.arg {
            self.check_count(n.saturating_mul(2))?;
        }
        Ok(h.arg)
    }

    /// For an indefinite map: true (and consumed) when the break is next.
    pub fn map_end(&mut self, len: Option<u64>, read: u64) -> Result<bool, SuitError> {
        match len {
            Some(n) => Ok(read >= n),
            None => self.at_break(),
        }
    }

    fn check_count(&self, n: u64) -> Result<(), SuitError> {
        // Every item takes at least one byte: a count above the bytes left is a lie.
        let rem = self.remaining();
        if n > rem as u64 {
            return Err(SuitError::LengthExceedsInput {
                at: self.pos,
                claimed: n,
                remaining: rem,
            });
        }
        Ok(())
    }

    fn value_at(&mut self, depth: usize) -> Result<Value<'a>, SuitError> {
        self.enter(depth)?;
        let at = self.pos;
        let h = self.head()?;
        match h.major {
            0 => Ok(Value::Uint(h.arg.unwrap_or_default())),
            1 => Ok(Value::Nint(h.arg.unwrap_or_default())),
            2 => match h.arg {
                Some(n) => Ok(Value::Bytes(Cow::Borrowed(self.take(n)?))),
                None => Ok(Value::Bytes(Cow::Owned(self.chunks(2)?))),
            },
            3 => {
                let raw: Cow<'a, [u8]> = match h.arg {
                    Some(n) => Cow::Borrowed(self.take(n)?),
                    None => Cow::Owned(self.chunks(3)?),
                };
                let text = match raw {
                    Cow::Borrowed(b) => {
                        Cow::Borrowed(std::str::from_utf8(b).map_err(|_| SuitError::Malformed {
                            at,
                            reason: "text string is not valid UTF-8",
                        })?)
                    }
                    Cow::Owned(v) => {
                        Cow::Owned(String::from_utf8(v).map_err(|_| SuitError::Malformed {
                            at,
                            reason: "text string is not valid UTF-8",
                        })?)
                    }
                };
                Ok(Value::Text(text))
            }
            4 => {
                let mut items = Vec::new();
                match h.arg {
                    Some(n) => {
                        self.check_count(n)?;
                        items.reserve(n.min(64) as usize);
                        for _ in 0..n {
                            items.push(self.value_at(depth + 1)?);
                        }
                    }
                    None => {
                        while !self.at_break()? {
                            items.push(self.value_at(depth + 1)?);
                        }
                    }
                }
                Ok(Value::Array(items))
            }
            5 => {
                let mut pairs = Vec::new();
                match h.arg {
                    Some(n) => {
                        self.check_count(n.saturating_mul(2))?;
                        pairs.reserve(n.min(64) as usize);
                        for _ in 0..n {
                            let k = self.value_at(depth + 1)?;
                            let v = self.value_at(depth + 1)?;
                            pairs.push((k, v));
                        }
                    }
                    None => {
                        while !self.at_break()? {
                            let k = self.value_at(depth + 1)?;
                            if self.input.get(self.pos) == Some(&BREAK) {
                                return Err(SuitError::Malformed {
                                    at: self.pos,
                                    reason: "indefinite-length map ends after a key",
                                });
                            }
                            let v = self.value_at(depth + 1)?;
                            pairs.push((k, v));
                        }
                    }
                }
                Ok(Value::Map(pairs))
            }
            6 => {
                let tag = h.arg.unwrap_or_default();
                let content = self.value_at(depth + 1)?;
                // Tags whose content type RFC 8949 §3.4 fixes: an item of the
                // wrong type is invalid (not merely unknown), so it is refused.
                let valid = match tag {
                    0 | 32 => matches!(content, Value::Text(_)),
                    1 => matches!(content, Value::Uint(_) | Value::Nint(_) | Value::Float(_)),
                    2 | 3 | 24 => matches!(content, Value::Bytes(_)),
                    _ => true,
                };
                if !valid {
                    return Err(SuitError::Malformed {
                        at,
                        reason: "tag content has the wrong type (RFC 8949 §3.4)",
                    });
                }
                Ok(Value::Tag(tag, Box::new(content)))
            }
            _ => self.simple(h, at),
        }
    }

    fn simple(&mut self, h: Head, at: usize) -> Result<Value<'a>, SuitError> {
        let arg = h.arg.unwrap_or_default();
        match h.ai {
            20 => Ok(Value::Bool(false)),
            21 => Ok(Value::Bool(true)),
            22 => Ok(Value::Null),
            23 => Ok(Value::Undefined),
            0..=19 => Ok(Value::Simple(h.ai)),
            24 => {
                if arg < 32 {
                    Err(SuitError::Malformed {
                        at,
                        reason: "two-byte simple value below 32",
                    })
                } else {
                    Ok(Value::Simple(arg as u8))
                }
            }
            25 => Ok(Value::Float(half_to_f64(arg as u16))),
            26 => Ok(Value::Float(f64::from(f32::from_bits(arg as u32)))),
            _ => Ok(Value::Float(f64::from_bits(arg))),
        }
    }

    /// The chunks of an indefinite-length string of major type `major`.
    fn chunks(&mut self, major: u8) -> Result<Vec<u8>, SuitError> {
        let mut out = Vec::new();
        while !self.at_break()? {
            let at = self.pos;
            let h = self.head()?;
            self.budget.take_item()?;
            if h.major != major {
                return Err(SuitError::Malformed {
                    at,
                    reason: "indefinite-length string chunk of another major type",
                });
            }
            let n = h.arg.ok_or(SuitError::Malformed {
                at,
                reason: "nested indefinite-length string chunk",
            })?;
            let chunk = self.take(n)?;
            if major == 3 && std::str::from_utf8(chunk).is_err() {
                return Err(SuitError::Malformed {
                    at,
                    reason: "text string chunk is not valid UTF-8",
                });
            }
            out.extend_from_slice(chunk);
        }
        Ok(out)
    }
}

fn half_to_f64(h: u16) -> f64 {
    let exp = (h >> 10) & 0x1f;
    let mant = f64::from(h & 0x3ff);
    let v = match exp {
        0 => mant * 2f64.powi(-24),
        31 => {
            if mant == 0.0 {
                f64::INFINITY
            } else {
                f64::NAN
            }
        }
        e => (mant + 1024.0) * 2f64.powi(i32::from(e) - 25),
    };
    if h & 0x8000 != 0 { -v } else { v }
}

/// Decode a complete, single CBOR item with default limits. Handy for tests and
/// for callers who only need well-formedness.
pub fn decode(input: &[u8]) -> Result<Value<'_>, SuitError> {
    let budget = Budget::new(Limits::default());
    let v = Decoder::new(input, &budget, 0)?.single()?;
    Ok(v)
}

/// A minimal encoder writing preferred-serialization heads.
#[derive(Debug, Default, Clone)]
pub struct Enc {
    pub buf: Vec<u8>,
}

impl Enc {
    pub fn new() -> Self {
        Enc { buf: Vec::new() }
    }

    pub fn head(&mut self, major: u8, arg: u64) -> &mut Self {
        let m = major << 5;
        if arg < 24 {
            self.buf.push(m | arg as u8);
        } else if arg <= u64::from(u8::MAX) {
            self.buf.push(m | 24);
            self.buf.push(arg as u8);
        } else if arg <= u64::from(u16::MAX) {
            self.buf.push(m | 25);
            self.buf.extend_from_slice(&(arg as u16).to_be_bytes());
        } else if arg <= u64::from(u32::MAX) {
            self.buf.push(m | 26);
            self.buf.extend_from_slice(&(arg as u32).to_be_bytes());
        } else {
            self.buf.push(m | 27);
            self.buf.extend_from_slice(&arg.to_be_bytes());
        }
        self
    }

    pub fn uint(&mut self, n: u64) -> &mut Self {
        self.head(0, n)
    }

    pub fn int(&mut self, n: i64) -> &mut Self {
        if n >= 0 {
            self.head(0, n as u64)
        } else {
            self.head(1, (-1 - n) as u64)
        }
    }

    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.head(2, b.len() as u64);
        self.buf.extend_from_slice(b);
        self
    }

    pub fn text(&mut self, s: &str) -> &mut Self {
        self.head(3, s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    pub fn array(&mut self, n: usize) -> &mut Self {
        self.head(4, n as u64)
    }

    pub fn map(&mut self, n: usize) -> &mut Self {
        self.head(5, n as u64)
    }

    pub fn tag(&mut self, t: u64) -> &mut Self {
        self.head(6, t)
    }

    pub fn bool(&mut self, b: bool) -> &mut Self {
        self.buf.push(if b { 0xf5 } else { 0xf4 });
        self
    }

    pub fn null(&mut self) -> &mut Self {
        self.buf.push(0xf6);
        self
    }

    pub fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_small_items() {
        let mut e = Enc::new();
        e.map(2)
            .int(1)
            .text("a")
            .int(-300)
            .array(2)
            .bytes(b"xy")
            .bool(true);
        let bytes = e.finish();
        let v = decode(&bytes).expect("decodes");
        let Value::Map(pairs) = v else {
            panic!("not a map")
        };
        assert_eq!(pairs[1].0.as_i64(), Some(-300));
    }

    #[test]
    fn rejects_huge_claimed_lengths_without_allocating() {
        // bstr claiming 2^63 bytes, array claiming 2^32 items.
        for bad in [
            &[0x5b, 0x80, 0, 0, 0, 0, 0, 0, 0][..],
            &[0x9a, 0xff, 0xff, 0xff, 0xff, 0x00][..],
            &[0xbb, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff][..],
        ] {
            assert!(matches!(
                decode(bad),
                Err(SuitError::LengthExceedsInput { .. })
            ));
        }
    }

    #[test]
    fn rejects_deep_nesting() {
        let bomb = vec![0x81u8; 100_000];
        assert!(matches!(decode(&bomb), Err(SuitError::TooDeep { .. })));
        let tags = [0xc6u8; 1000];
        assert!(matches!(decode(&tags), Err(SuitError::TooDeep { .. })));
    }

    #[test]
    fn half_floats() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc400), -4.0);
        assert_eq!(half_to_f64(0x0001), 5.960464477539063e-8);
    }
}
