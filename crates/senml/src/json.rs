//! The JSON representation (`application/senml+json`, RFC 8428 §5): decoding
//! through the shared streaming visitors of [`crate::de`], encoding through
//! [`crate::ser`].

use serde::de::DeserializeSeed;

use crate::de::{Ctx, Format, PackSeed};
use crate::ser::PackOut;
use crate::{Error, Limits, Record};

/// Decode a JSON pack within `limits`.
pub(crate) fn decode(bytes: &[u8], limits: Limits) -> Result<Vec<Record>, Error> {
    let mut ctx = Ctx::new(limits, Format::Json);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result = PackSeed { ctx: &mut ctx }
        .deserialize(&mut de)
        .and_then(|records| de.end().map(|()| records));
    result.map_err(|e| ctx.finish(e.to_string()))
}

/// Encode records as a JSON pack.
pub(crate) fn encode(records: &[Record]) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(&PackOut {
        records,
        format: Format::Json,
    })
    .map_err(|e| Error::Encode(e.to_string()))
}
