//! The firmware part of `steward demo`: a maker key for one model, a signed
//! release of that model uploaded like any other, and a campaign in waves to the
//! fleet's devices of that model, whose agents verify, download, install (a few
//! fail on purpose) and report.

use super::campaign::WaveSpec;
use super::store::{CampaignRow, Selector};
use super::{NewCampaign, Updates};

/// SUIT identifiers of the demo maker's model (fixed, so a reused data
/// directory keeps one anchor).
pub const VENDOR_ID: uuid::Uuid = uuid::uuid!("6b1f9c4e-3c1a-4f7e-9a55-0d3e5e1c2b10");
pub const CLASS_ID: uuid::Uuid = uuid::uuid!("a4e2d0c8-8e2f-4c1b-b7b1-5f3c9d2e6a70");

/// Share of the demo agents' installs that fail.
pub const FAIL_SHARE: f64 = 0.05;

pub struct DemoRelease {
    pub maker: suit::SigningKey,
    pub campaign: CampaignRow,
    pub devices: usize,
}

/// Anchor `model` to a new maker key, sign and upload the next release, and
/// create a campaign to every device of the model (waves: a canary of 2, then
/// 25 %, then all).
pub fn prepare(updates: &Updates, model: &str) -> anyhow::Result<DemoRelease> {
    let mut seed = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut seed);
    let maker = suit::SigningKey::ed25519_from_seed(&seed);
    updates.set_anchor(
        model,
        &maker.verifying_key().to_public_key_pem()?,
        VENDOR_ID,
        CLASS_ID,
    )?;
    let seq = updates
        .store
        .latest_firmware(model)?
        .map_or(2, |f| f.seq + 1);
    let image: Vec<u8> = (0..256 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8 ^ seq as u8)
        .collect();
    let envelope = suit::build(
        &suit::BuildRequest {
            payload: &image,
            vendor_id: VENDOR_ID,
            class_id: CLASS_ID,
            sequence_number: seq,
            uri: "https://firmware.example/streetlight.bin",
            mud_url: None,
            mud_signer_ski: None,
        },
        &maker,
    )?;
    updates.store_payload(image.as_slice())?;
    let fw = updates.upload(&envelope, Some(&format!("2.{seq}.0")))?;
    let (campaign, devices) = updates.create_campaign(NewCampaign {
        name: Some(format!("{model}-2.{seq}.0")),
        firmware: fw.id,
        selector: Selector {
            model: Some(model.to_string()),
            ..Default::default()
        },
        waves: Some(
            [
                WaveSpec::Count(2),
                WaveSpec::Percent(25.0),
                WaveSpec::Percent(100.0),
            ]
            .iter()
            .map(|w| match w {
                WaveSpec::Count(c) => c.to_string(),
                WaveSpec::Percent(p) => format!("{p}%"),
            })
            .collect::<Vec<_>>()
            .join(","),
        ),
        failure_threshold: Some(0.5),
    })?;
    Ok(DemoRelease {
        maker,
        campaign,
        devices,
    })
}
