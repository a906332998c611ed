//! `steward model import-sdf FILE` and the `--thing` / `--ngsi` declarations of
//! `steward model add/update`, over [`crate::semantics`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{Common, open, print_json};
use crate::clock::{Clock, SystemClock};
use crate::semantics::{ModelSemantics, Semantics};

/// Make a model, with its thing model, from an IETF SDF file.
#[derive(Args)]
pub struct ImportSdf {
    /// The SDF file (JSON, at most 1 MiB)
    file: PathBuf,
    /// Model name [default: from the file's sdfObject]
    #[arg(long)]
    name: Option<String>,
    /// Manufacturer [default: the file's defaultNamespace]
    #[arg(long)]
    manufacturer: Option<String>,
    #[command(flatten)]
    common: Common,
}

pub fn import_sdf(a: ImportSdf) -> anyhow::Result<()> {
    let size = std::fs::metadata(&a.file)
        .with_context(|| format!("reading {}", a.file.display()))?
        .len();
    if size > semantic::sdf::MAX_SDF_BYTES as u64 {
        anyhow::bail!(
            "SDF {}: {size} bytes, more than the limit of {}",
            a.file.display(),
            semantic::sdf::MAX_SDF_BYTES
        );
    }
    let bytes = std::fs::read(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let semantics = Semantics::new()?;
    let data = open(&a.common)?;
    let origin = a.file.display().to_string();
    let (model, imported) = semantics.import_sdf(
        &data.registry,
        &bytes,
        &origin,
        a.name.as_deref(),
        a.manufacturer.as_deref(),
        SystemClock.now(),
    )?;
    for w in &imported.warnings {
        eprintln!("warning: {w}");
    }
    eprintln!(
        "model {} imported from {origin}: {} properties, {} actions",
        model.name,
        imported.spec.properties.len(),
        imported.spec.actions.len()
    );
    print_json(&model)
}

/// Check declarations given with `model add` before the model exists, so a bad
/// one leaves nothing behind.
pub fn check_new(
    name: &str,
    manufacturer: &str,
    sem: &ModelSemantics,
) -> anyhow::Result<Option<Semantics>> {
    if sem.thing.is_none() && sem.ngsi.is_none() {
        return Ok(None);
    }
    let semantics = Semantics::new()?;
    semantics.check(semantic::ModelInfo { name, manufacturer }, sem)?;
    Ok(Some(semantics))
}

/// Store a model's declarations (after [`check_new`] or for `model update`).
pub fn declare(
    data: &crate::server::DataDir,
    semantics: Option<Semantics>,
    name: &str,
    sem: ModelSemantics,
) -> anyhow::Result<()> {
    if sem.thing.is_none() && sem.ngsi.is_none() {
        return Ok(());
    }
    let semantics = match semantics {
        Some(s) => s,
        None => Semantics::new()?,
    };
    semantics.declare(&data.registry, name, sem.thing, sem.ngsi, SystemClock.now())?;
    Ok(())
}
