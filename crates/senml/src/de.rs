//! The streaming decoder shared by JSON and CBOR: serde visitors that read the pack
//! array straight into [`Record`]s, one record at a time, with no intermediate
//! generic value tree. The two formats differ only in their labels (strings in
//! JSON, integers in CBOR, RFC 8428 §6) and in how `vd` travels (base64url text in
//! JSON, a byte string in CBOR); [`Format`] selects.
//!
//! Errors: serde only carries a message, so the visitors note *where* they are
//! (record index, field) in [`Ctx`], and record their own semantic errors there in
//! full. The format front ends ([`crate::json`], [`crate::cbor`]) turn that into a
//! precise [`Error`] with [`Ctx::finish`].

use std::fmt;

use base64::Engine as _;
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use crate::{Error, Extension, Label, Limits, Record, Value};

/// Which representation is being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Json,
    Cbor,
}

/// Decoding state shared by the visitors.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub limits: Limits,
    pub format: Format,
    /// Record being decoded, and the field in it, for error messages.
    index: Option<usize>,
    field: Option<&'static str>,
    /// A complete error raised by our own checks (wins over the serde message).
    own: Option<Error>,
}

impl Ctx {
    pub fn new(limits: Limits, format: Format) -> Ctx {
        Ctx {
            limits,
            format,
            index: None,
            field: None,
            own: None,
        }
    }

    /// Turn a failed decode into an [`Error`] that says where: `reason` is the
    /// format's own description of the failure (syntax error with position, ...).
    pub fn finish(self, reason: String) -> Error {
        if let Some(e) = self.own {
            return e;
        }
        match (self.index, self.field) {
            (Some(index), Some(field)) => Error::Field {
                index,
                field,
                reason,
            },
            (Some(index), None) => Error::Record { index, reason },
            (None, _) => match self.format {
                Format::Json => Error::Json(reason),
                Format::Cbor => Error::Cbor(reason),
            },
        }
    }

    /// Record a complete error and return a serde error to unwind with.
    fn fail<E: de::Error>(&mut self, e: Error) -> E {
        let msg = e.to_string();
        if self.own.is_none() {
            self.own = Some(e);
        }
        E::custom(msg)
    }

    fn field_error<E: de::Error>(&mut self, index: usize, label: Label, reason: String) -> E {
        self.fail(Error::Field {
            index,
            field: label.json(),
            reason,
        })
    }
}

/// Seed for the whole pack: an array of records.
pub(crate) struct PackSeed<'a> {
    pub ctx: &'a mut Ctx,
}

impl<'de> DeserializeSeed<'de> for PackSeed<'_> {
    type Value = Vec<Record>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        // deserialize_any rather than deserialize_seq: ciborium's typed entry points
        // silently skip CBOR tags, and a tagged pack or record is not SenML.
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PackSeed<'_> {
    type Value = Vec<Record>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SenML pack (an array of records)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let max = self.ctx.limits.max_records;
        // Never trust a claimed length for the allocation (CBOR arrays announce theirs).
        let cap = seq.size_hint().unwrap_or(0).min(max).min(1024);
        let mut records = Vec::with_capacity(cap);
        loop {
            let index = records.len();
            self.ctx.index = Some(index);
            self.ctx.field = None;
            if index == max {
                // Look at one more element without keeping it, to tell "exactly max"
                // from "too many".
                let skip = Skip::new(self.ctx.limits.max_depth, 1);
                if seq.next_element_seed(skip)?.is_some() {
                    return Err(self.ctx.fail(Error::TooManyRecords { limit: max }));
                }
                break;
            }
            match seq.next_element_seed(RecordSeed {
                ctx: &mut *self.ctx,
                index,
            })? {
                Some(r) => records.push(r),
                None => break,
            }
        }
        self.ctx.index = None;
        Ok(records)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        reject_tag(data, "the pack")
    }
}

/// What a map key turned out to be.
enum Key {
    Known(Label),
    Extension(String),
    /// An integer CBOR label that RFC 8428 does not register: ignored (§4.4, §6).
    Ignored,
}

struct KeySeed<'a> {
    ctx: &'a mut Ctx,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.ctx.format {
            Format::Json => f.write_str("a field label"),
            Format::Cbor => f.write_str("a field label (integer or text)"),
        }
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
        let index = self.index;
        if let Some(label) = Label::from_json(s) {
            return match self.ctx.format {
                Format::Json => Ok(Key::Known(label)),
                // §6: "the CBOR representation uses integers for the labels"; a text
                // `n` in CBOR is a sender bug we would otherwise silently ignore.
                Format::Cbor => Err(self.ctx.fail(Error::Record {
                    index,
                    reason: format!(
                        "label `{s}` must be sent as the CBOR integer {} (RFC 8428 §6)",
                        label.cbor()
                    ),
                })),
            };
        }
        if s.ends_with('_') {
            return Err(self.ctx.fail(Error::MustUnderstand {
                index,
                label: s.to_owned(),
            }));
        }
        if s.len() > self.ctx.limits.max_string_len {
            return Err(self.ctx.fail(Error::Record {
                index,
                reason: format!(
                    "field label is {} bytes long, more than the limit of {}",
                    s.len(),
                    self.ctx.limits.max_string_len
                ),
            }));
        }
        Ok(Key::Extension(s.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Key, E> {
        Ok(i64::try_from(n)
            .ok()
            .and_then(Label::from_cbor)
            .map_or(Key::Ignored, Key::Known))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Key, E> {
        Ok(Label::from_cbor(n).map_or(Key::Ignored, Key::Known))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Key, E> {
        Ok(Key::Ignored)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Key, E> {
        Ok(Key::Ignored)
    }
}

/// Seed for one record: a map from labels to values.
struct RecordSeed<'a> {
    ctx: &'a mut Ctx,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = Record;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Record, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SenML record (a map of fields)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let index = self.index;
        let ctx = self.ctx;
        let mut r = Record::default();
        let mut seen: u16 = 0;
        while let Some(key) = map.next_key_seed(KeySeed {
            ctx: &mut *ctx,
            index,
        })? {
            match key {
                Key::Known(label) => {
                    if seen & label.bit() != 0 {
                        return Err(ctx.field_error(
                            index,
                            label,
                            "appears twice in one record".into(),
                        ));
                    }
                    seen |= label.bit();
                    ctx.field = Some(label.json());
                    read_field(&mut map, ctx, index, label, &mut r)?;
                    ctx.field = None;
                }
                Key::Extension(name) => {
                    if r.extensions.contains_key(&name) {
                        return Err(ctx.fail(Error::Record {
                            index,
                            reason: format!("field `{name}` appears twice in one record"),
                        }));
                    }
                    let value = map.next_value_seed(ExtensionSeed {
                        max_len: ctx.limits.max_string_len,
                        skip: Skip::new(ctx.limits.max_depth, 2),
                    })?;
                    if let Some(value) = value {
                        if r.extensions.len() >= ctx.limits.max_extensions {
                            return Err(ctx.fail(Error::Record {
                                index,
                                reason: format!(
                                    "more than {} extension fields",
                                    ctx.limits.max_extensions
                                ),
                            }));
                        }
                        r.extensions.insert(name, value);
                    }
                }
                Key::Ignored => {
                    map.next_value_seed(Skip::new(ctx.limits.max_depth, 2))?;
                }
            }
        }
        Ok(r)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Record, A::Error> {
        reject_tag(data, "a record")
    }
}

/// Read the value of a registered field into the record.
fn read_field<'de, A: MapAccess<'de>>(
    map: &mut A,
    ctx: &mut Ctx,
    index: usize,
    label: Label,
    r: &mut Record,
) -> Result<(), A::Error> {
    let max_len = ctx.limits.max_string_len;
    let text = |map: &mut A, ctx: &mut Ctx| -> Result<String, A::Error> {
        let s: String = map.next_value_seed(TextSeed)?;
        if s.len() > max_len {
            return Err(ctx.field_error(
                index,
                label,
                format!(
                    "text is {} bytes long, more than the limit of {max_len}",
                    s.len()
                ),
            ));
        }
        Ok(s)
    };
    let number = |map: &mut A, ctx: &mut Ctx| -> Result<f64, A::Error> {
        let x = map.next_value_seed(NumberSeed)?;
        if !x.is_finite() {
            return Err(ctx.field_error(index, label, "must be a finite number".into()));
        }
        Ok(x)
    };
    match label {
        Label::BaseVersion => r.base_version = Some(map.next_value_seed(VersionSeed)?),
        Label::BaseName => r.base_name = Some(text(map, ctx)?),
        Label::BaseTime => r.base_time = Some(number(map, ctx)?),
        Label::BaseUnit => r.base_unit = Some(text(map, ctx)?),
        Label::BaseValue => r.base_value = Some(number(map, ctx)?),
        Label::BaseSum => r.base_sum = Some(number(map, ctx)?),
        Label::Name => r.name = Some(text(map, ctx)?),
        Label::Unit => r.unit = Some(text(map, ctx)?),
        Label::Sum => r.sum = Some(number(map, ctx)?),
        Label::Time => r.time = Some(number(map, ctx)?),
        Label::UpdateTime => r.update_time = Some(number(map, ctx)?),
        Label::Value | Label::StringValue | Label::BoolValue | Label::DataValue => {
            if let Some(other) = r.value_label() {
                return Err(ctx.field_error(
                    index,
                    label,
                    format!(
                        "record already has a value in `{}`; a record carries exactly one of \
                         v, vs, vb, vd (RFC 8428 §4.2)",
                        other.json()
                    ),
                ));
            }
            let value = match label {
                Label::Value => Value::Number(number(map, ctx)?),
                Label::StringValue => Value::String(text(map, ctx)?),
                Label::BoolValue => Value::Bool(map.next_value_seed(BoolSeed)?),
                _ => {
                    let max = ctx.limits.max_data_len;
                    let bytes = match ctx.format {
                        Format::Json => {
                            let s: String = map.next_value_seed(TextSeed)?;
                            // base64 expands 3 bytes into 4 characters.
                            if s.len() / 4 * 3 > max + 3 {
                                return Err(ctx.field_error(
                                    index,
                                    label,
                                    format!("data longer than the limit of {max} bytes"),
                                ));
                            }
                            decode_base64url(&s)
                                .map_err(|reason| ctx.field_error(index, label, reason))?
                        }
                        Format::Cbor => map.next_value_seed(BytesSeed)?,
                    };
                    if bytes.len() > max {
                        return Err(ctx.field_error(
                            index,
                            label,
                            format!(
                                "data is {} bytes long, more than the limit of {max}",
                                bytes.len()
                            ),
                        ));
                    }
                    Value::Data(bytes)
                }
            };
            r.value = Some(value);
        }
    }
    Ok(())
}

/// RFC 8428 §5: `vd` is base64 with the URL-safe alphabet (RFC 4648 §5), padding
/// omitted. We also accept padding, which costs nothing and helps lax senders; the
/// standard alphabet's `+` and `/` are rejected.
pub(crate) fn decode_base64url(s: &str) -> Result<Vec<u8>, String> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(s)
        .map_err(|e| format!("not base64url (RFC 4648 §5): {e}"))
}

/// A text string.
struct TextSeed;

impl<'de> DeserializeSeed<'de> for TextSeed {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a text string")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        Ok(s.to_owned())
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<String, E> {
        Ok(s)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<String, A::Error> {
        reject_tag(data, "a text string")
    }
}

/// A CBOR byte string.
struct BytesSeed;

impl<'de> DeserializeSeed<'de> for BytesSeed {
    type Value = Vec<u8>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BytesSeed {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, b: &[u8]) -> Result<Vec<u8>, E> {
        Ok(b.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, b: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(b)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Vec<u8>, A::Error> {
        reject_tag(data, "a byte string")
    }
}

/// A boolean.
struct BoolSeed;

impl<'de> DeserializeSeed<'de> for BoolSeed {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BoolSeed {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a boolean")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<bool, E> {
        Ok(b)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<bool, A::Error> {
        reject_tag(data, "a boolean")
    }
}

/// `bver`: RFC 8428 §6 "For the version number, only an unsigned integer is allowed".
struct VersionSeed;

impl<'de> DeserializeSeed<'de> for VersionSeed {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for VersionSeed {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an unsigned integer version number")
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<u64, E> {
        Ok(n)
    }
}

/// A number: JSON number; CBOR integer, float, bignum (tags 2/3), decimal
/// fraction (tag 4, allowed by RFC 8428 §6) or bigfloat (tag 5).
struct NumberSeed;

impl<'de> DeserializeSeed<'de> for NumberSeed {
    type Value = f64;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<f64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumberSeed {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<f64, E> {
        Ok(x)
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<f64, E> {
        Ok(n as f64)
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<f64, E> {
        Ok(n as f64)
    }

    fn visit_u128<E: de::Error>(self, n: u128) -> Result<f64, E> {
        Ok(n as f64)
    }

    fn visit_i128<E: de::Error>(self, n: i128) -> Result<f64, E> {
        Ok(n as f64)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<f64, A::Error> {
        let (tag, (exp, mantissa)) = tagged(data, |tag| match tag {
            4 | 5 => Ok(ExpMantissaSeed),
            2 | 3 => Err("bignum too large for a number".to_owned()),
            _ => Err(format!(
                "CBOR tag {tag} is not a number (RFC 8428 §6 allows integers, floats and \
                 decimal fractions)"
            )),
        })?;
        scaled(mantissa, if tag == 4 { 10 } else { 2 }, exp)
            .ok_or_else(|| de::Error::custom("decimal fraction or bigfloat out of range"))
    }
}

/// `mantissa * base^exp`, correctly rounded for base 10 (via Rust's float parser),
/// or `None` if it is not a finite double.
fn scaled(mantissa: i128, base: u32, exp: i64) -> Option<f64> {
    if !(-1100..=1100).contains(&exp) {
        return None;
    }
    let x = if base == 10 {
        format!("{mantissa}e{exp}").parse::<f64>().ok()?
    } else {
        // powi on 2.0 is exact while the result is representable.
        mantissa as f64 * 2f64.powi(exp as i32)
    };
    x.is_finite().then_some(x)
}

/// The `[exponent, mantissa]` array inside tags 4 and 5 (RFC 8949 §3.4.4).
struct ExpMantissaSeed;

impl<'de> DeserializeSeed<'de> for ExpMantissaSeed {
    type Value = (i64, i128);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ExpMantissaSeed {
    type Value = (i64, i128);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array [exponent, mantissa] of two integers")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let exp: i64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let mantissa: i128 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &self))?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(3, &self));
        }
        Ok((exp, mantissa))
    }
}

/// The value of an extension field: scalars are kept, anything structured is
/// skipped (returned as `None`), as RFC 8428 §4.4 lets us ignore unknown fields.
struct ExtensionSeed {
    max_len: usize,
    skip: Skip,
}

impl<'de> DeserializeSeed<'de> for ExtensionSeed {
    type Value = Option<Extension>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ExtensionSeed {
    type Value = Option<Extension>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
        Ok(Some(Extension::Bool(b)))
    }

    fn visit_f64<E: de::Error>(self, x: f64) -> Result<Self::Value, E> {
        Ok(x.is_finite().then_some(Extension::Number(x)))
    }

    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
        Ok(Some(Extension::Number(n as f64)))
    }

    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
        Ok(Some(Extension::Number(n as f64)))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        if s.len() > self.max_len {
            return Err(E::custom(format!(
                "extension text is {} bytes long, more than the limit of {}",
                s.len(),
                self.max_len
            )));
        }
        Ok(Some(Extension::String(s.to_owned())))
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.skip.visit_seq(seq).map(|()| None)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.skip.visit_map(map).map(|()| None)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.skip.visit_enum(data).map(|()| None)
    }
}

/// Read a CBOR tag as ciborium presents it to `deserialize_any` (an enum variant
/// `@@TAGGED@@` whose tuple is `(tag, content)`), letting `choose` pick the seed for
/// the content from the tag number, or refuse it.
fn tagged<'de, A, S, F>(data: A, choose: F) -> Result<(u64, S::Value), A::Error>
where
    A: EnumAccess<'de>,
    S: DeserializeSeed<'de>,
    F: FnOnce(u64) -> Result<S, String>,
{
    struct TagVisitor<F>(F);

    impl<'de, S, F> Visitor<'de> for TagVisitor<F>
    where
        S: DeserializeSeed<'de>,
        F: FnOnce(u64) -> Result<S, String>,
    {
        type Value = (u64, S::Value);

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a CBOR tag and its content")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let tag: u64 = seq
                .next_element()?
                .ok_or_else(|| de::Error::custom("CBOR tag without a number"))?;
            let seed = (self.0)(tag).map_err(de::Error::custom)?;
            let value = seq
                .next_element_seed(seed)?
                .ok_or_else(|| de::Error::custom("CBOR tag without content"))?;
            Ok((tag, value))
        }
    }

    let (_, content) = data.variant::<IgnoredAny>()?;
    content.tuple_variant(2, TagVisitor(choose))
}

/// Fail on a CBOR tag where RFC 8428 expects plain data.
fn reject_tag<'de, A: EnumAccess<'de>, T>(data: A, what: &str) -> Result<T, A::Error> {
    let message = |tag| format!("unexpected CBOR tag {tag} on {what}");
    match tagged(data, |tag| {
        Err::<std::marker::PhantomData<IgnoredAny>, _>(message(tag))
    }) {
        Err(e) => Err(e),
        Ok((tag, _)) => Err(de::Error::custom(message(tag))),
    }
}

/// Skips one value of any type, counting nesting against [`Limits::max_depth`] so a
/// deeply nested ignored field fails cleanly in JSON as in CBOR (where ciborium's
/// recursion limit backs it up). Only well-formedness is checked: RFC 8428 §4.4 says
/// to ignore unknown fields, so their content is not judged.
#[derive(Debug, Clone, Copy)]
struct Skip {
    /// Container levels still allowed below this value.
    levels_left: usize,
    max_depth: usize,
}

impl Skip {
    /// A skipper for a value found at `level` (1 = inside the pack array, 2 = inside
    /// a record map).
    fn new(max_depth: usize, level: usize) -> Skip {
        Skip {
            levels_left: max_depth.saturating_sub(level),
            max_depth,
        }
    }

    fn deeper<E: de::Error>(self) -> Result<Skip, E> {
        match self.levels_left.checked_sub(1) {
            Some(levels_left) => Ok(Skip {
                levels_left,
                ..self
            }),
            None => Err(E::custom(format!(
                "nested deeper than {} levels (Limits::max_depth)",
                self.max_depth
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        Ok(())
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        while map.next_key_seed(inner)?.is_some() {
            map.next_value_seed(inner)?;
        }
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        tagged(data, |_| Ok(inner)).map(|_| ())
    }
}
