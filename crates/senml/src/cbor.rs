//! The CBOR representation (`application/senml+cbor`, RFC 8428 §6): integer labels
//! -6..=8, `vd` as a byte string. Decoding goes through the shared streaming visitors
//! of [`crate::de`] on ciborium, with ciborium's recursion limit set from
//! [`Limits::max_depth`] so nesting bombs fail cleanly; trailing bytes after the pack
//! are rejected.

use std::cell::Cell;

use serde::de::{Deserialize, DeserializeSeed, Deserializer};

use crate::de::{Ctx, Format, PackSeed};
use crate::ser::PackOut;
use crate::{Error, Limits, Record};

thread_local! {
    /// ciborium 0.2 only offers `DeserializeOwned` entry points, so the decoding
    /// context (limits, error location) cannot travel in a seed from the outside.
    /// [`decode`] puts it here for the length of one call and takes it back; it is
    /// never shared between calls or threads.
    static CTX: Cell<Option<Ctx>> = const { Cell::new(None) };
}

/// The pack as ciborium sees it: deserializes through [`PackSeed`] with the
/// context [`decode`] lent it.
struct CborPack(Vec<Record>);

impl<'de> Deserialize<'de> for CborPack {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Some(mut ctx) = CTX.take() else {
            return Err(serde::de::Error::custom("decoder context missing"));
        };
        let result = PackSeed { ctx: &mut ctx }.deserialize(d);
        CTX.set(Some(ctx));
        result.map(CborPack)
    }
}

/// Decode a CBOR pack within `limits`.
pub(crate) fn decode(bytes: &[u8], limits: Limits) -> Result<Vec<Record>, Error> {
    let mut rest: &[u8] = bytes;
    CTX.set(Some(Ctx::new(limits, Format::Cbor)));
    // Our own depth check (de::Skip) reports first and names the record; ciborium's
    // recursion limit, one level further, is the backstop against stack exhaustion.
    let result = ciborium::de::from_reader_with_recursion_limit::<CborPack, _>(
        &mut rest,
        limits.max_depth.saturating_add(1),
    );
    let ctx = CTX.take().unwrap_or_else(|| Ctx::new(limits, Format::Cbor));
    match result {
        Ok(CborPack(records)) if rest.is_empty() => Ok(records),
        Ok(_) => Err(Error::Cbor(format!(
            "{} bytes of trailing data after the pack",
            rest.len()
        ))),
        Err(e) => {
            let offset = bytes.len() - rest.len();
            Err(ctx.finish(describe(e, offset, limits)))
        }
    }
}

/// Say what a ciborium error means, in words an operator understands.
fn describe(e: ciborium::de::Error<std::io::Error>, consumed: usize, limits: Limits) -> String {
    use ciborium::de::Error as E;
    match e {
        E::Io(_) => format!("CBOR input ends after {consumed} bytes, in the middle of an item"),
        E::Syntax(at) => format!("malformed CBOR at byte {at}"),
        E::Semantic(Some(at), msg) => format!("{msg} (at byte {at})"),
        E::Semantic(None, msg) => msg,
        E::RecursionLimitExceeded => format!(
            "nested deeper than {} levels (Limits::max_depth)",
            limits.max_depth
        ),
    }
}

/// Encode records as a CBOR pack.
pub(crate) fn encode(records: &[Record]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(
        &PackOut {
            records,
            format: Format::Cbor,
        },
        &mut out,
    )
    .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}
