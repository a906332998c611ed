//! `steward campaign …`: create, list, show, watch (live progress bars per wave),
//! pause, resume, abort — on the data directory, beside a running server, which
//! picks changes up on its next tick.

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::Common;
use super::firmware::open_updates;
use crate::updates::NewCampaign;
use crate::updates::campaign::{CampaignState, Control, WaveCounts};
use crate::updates::store::Selector;

#[derive(Subcommand)]
pub enum CampaignCommand {
    /// Start a staged rollout of a firmware to the devices a selector matches.
    Create {
        /// Firmware id (or a prefix of at least 8 hex digits), from `firmware upload`
        #[arg(long)]
        firmware: String,
        #[arg(long)]
        name: Option<String>,
        /// Only devices of this model (it must be the firmware's)
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        zone: Option<String>,
        /// Only devices with this tag (repeat for several: all must match)
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Only devices running this firmware version
        #[arg(long)]
        firmware_version: Option<String>,
        /// Waves: percentages (cumulative) or counts, e.g. `5,10%,50%,100%`
        #[arg(long, default_value = "1%,10%,50%,100%")]
        waves: String,
        /// Halt when more than this share of a wave fails
        #[arg(long, default_value_t = 0.1)]
        failure_threshold: f64,
        #[command(flatten)]
        common: Common,
    },
    /// List campaigns.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Show a campaign's state and per-wave counts (JSON).
    Show {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Follow a campaign live: a progress bar per wave and its state counts.
    /// Exits 0 when it completes, 1 when it halts or is aborted.
    Watch {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    Pause {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Resume a paused campaign, or a halted one (accepting the failures of the
    /// wave that halted it).
    Resume {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    Abort {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

fn counts_line(w: &WaveCounts) -> String {
    format!(
        "pending {} notified {} downloading {} installing {} succeeded {} failed {} rolled back {}",
        w.pending, w.notified, w.downloading, w.installing, w.succeeded, w.failed, w.rolled_back
    )
}

/// Runs a campaign command; `Ok(false)` means exit 1.
pub fn run(command: CampaignCommand) -> anyhow::Result<bool> {
    match command {
        CampaignCommand::Create {
            firmware,
            name,
            model,
            zone,
            tags,
            firmware_version,
            waves,
            failure_threshold,
            common,
        } => {
            let u = open_updates(&common)?;
            let (row, n) = u.create_campaign(NewCampaign {
                name,
                firmware,
                selector: Selector {
                    model,
                    zone,
                    tags,
                    firmware_version,
                },
                waves: Some(waves),
                failure_threshold: Some(failure_threshold),
            })?;
            eprintln!("campaign {} created for {n} devices", row.name);
            println!("{}", row.id);
            Ok(true)
        }
        CampaignCommand::List { json, common } => {
            let u = open_updates(&common)?;
            let list = u.store.campaigns()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                for c in list {
                    let waves = u.store.wave_counts(&c.id)?;
                    let total: usize = waves.iter().map(|w| w.total).sum();
                    let done: usize = waves.iter().map(|w| w.succeeded).sum();
                    println!(
                        "{}  {:<24} {:<9} wave {}/{}  {done}/{total} succeeded{}",
                        c.id,
                        c.name,
                        c.state.as_str(),
                        c.current_wave.map_or(0, |w| w + 1),
                        waves.len(),
                        c.reason.map(|r| format!("  ({r})")).unwrap_or_default()
                    );
                }
            }
            Ok(true)
        }
        CampaignCommand::Show { id, common } => {
            let u = open_updates(&common)?;
            let p = u
                .store
                .progress(&id)?
                .ok_or_else(|| anyhow::anyhow!("no campaign `{id}`"))?;
            println!("{}", serde_json::to_string_pretty(&p)?);
            Ok(true)
        }
        CampaignCommand::Watch { id, common } => watch(&id, &common),
        CampaignCommand::Pause { id, common } => control(&id, &common, Control::Pause),
        CampaignCommand::Resume { id, common } => control(&id, &common, Control::Resume),
        CampaignCommand::Abort { id, common } => control(&id, &common, Control::Abort),
    }
}

fn control(id: &str, common: &Common, c: Control) -> anyhow::Result<bool> {
    let u = open_updates(common)?;
    let row = u.control(id, c)?;
    println!("campaign {} is {}", row.name, row.state.as_str());
    Ok(true)
}

fn watch(id: &str, common: &Common) -> anyhow::Result<bool> {
    let u = open_updates(common)?;
    let multi = MultiProgress::new();
    let style =
        ProgressStyle::with_template("wave {prefix:>2} [{bar:30}] {pos:>5}/{len:<5} {msg}")?
            .progress_chars("=> ");
    let header = multi.add(ProgressBar::new_spinner());
    let mut bars: BTreeMap<usize, ProgressBar> = BTreeMap::new();
    loop {
        let p = u
            .store
            .progress(id)?
            .ok_or_else(|| anyhow::anyhow!("no campaign `{id}`"))?;
        let c = &p.campaign;
        header.set_message(format!(
            "campaign {} ({}): {}{}",
            c.name,
            c.id,
            c.state.as_str(),
            c.reason
                .as_ref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default()
        ));
        for (i, w) in p.waves.iter().enumerate() {
            let bar = bars.entry(i).or_insert_with(|| {
                let b = multi.add(ProgressBar::new(w.total as u64));
                b.set_style(style.clone());
                b.set_prefix((i + 1).to_string());
                b
            });
            bar.set_length(w.total as u64);
            bar.set_position(w.finished() as u64);
            bar.set_message(counts_line(w));
        }
        match c.state {
            CampaignState::Completed => {
                multi.clear().ok();
                println!("campaign {} completed", c.name);
                return Ok(true);
            }
            CampaignState::Halted | CampaignState::Aborted => {
                for b in bars.values() {
                    b.abandon();
                }
                header.abandon();
                println!(
                    "campaign {} {}: {}",
                    c.name,
                    c.state.as_str(),
                    c.reason.clone().unwrap_or_default()
                );
                return Ok(false);
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
