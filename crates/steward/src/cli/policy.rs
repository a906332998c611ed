//! `steward explain …` and `steward policy …`: the effective policy of a device
//! in words, what a configuration change would do, applying it, the audit log,
//! and devices' static addresses. Thin over [`crate::netpolicy`]; works on the
//! data directory, beside a running server (which follows the store's events).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Subcommand;

use super::{Common, open, print_json};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::netpolicy;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Show the applied policy configuration (TOML, as in `[policy]`).
    Show {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Which devices gain or lose what if FILE's `[policy]` (default: the
    /// --config file's) replaced the applied one. Changes nothing.
    Plan {
        /// A config file whose `[policy]` section is the new policy.
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Make FILE's `[policy]` (default: the --config file's) the applied policy;
    /// prints the plan, writes the audit log. A running server re-applies at once.
    Apply {
        #[arg(long)]
        file: Option<PathBuf>,
        /// Why (for the audit log).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        common: Common,
    },
    /// The audit log of policy changes, newest first.
    Audit {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Set a device's static addresses (IPv4, IPv6, MAC); none clears them.
    Address {
        device: String,
        addresses: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
}

fn clock() -> SharedClock {
    Arc::new(SystemClock)
}

fn new_policy(common: &Common, file: &Option<PathBuf>) -> anyhow::Result<policy::PolicyConfig> {
    let path = file.as_ref().or(common.config.as_ref()).context(
        "give the new policy: --file FILE (a config file with a [policy] section) or --config",
    )?;
    let config = Config::load(Some(path), &crate::config::ProcessEnv)?;
    config
        .policy
        .validate()
        .with_context(|| format!("[policy] in {}", path.display()))?;
    Ok(config.policy)
}

fn current(data: &crate::server::DataDir, common: &Common) -> anyhow::Result<policy::PolicyConfig> {
    let file = common.load()?.policy;
    Ok(netpolicy::in_force(
        &data.store,
        &file,
        &clock(),
        &netpolicy::cli_actor(),
    )?)
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Show { json, common } => {
            let data = open(&common)?;
            let cfg = current(&data, &common)?;
            if json {
                print_json(&cfg)?;
            } else {
                #[derive(serde::Serialize)]
                struct Wrap {
                    policy: policy::PolicyConfig,
                }
                print!("{}", toml::to_string(&Wrap { policy: cfg })?);
            }
        }
        PolicyCommand::Plan { file, json, common } => {
            let new = new_policy(&common, &file)?;
            let data = open(&common)?;
            let cur = current(&data, &common)?;
            let (plan, _) = netpolicy::plan_against(&data.registry, cur, new)?;
            if json {
                print_json(&plan)?;
            } else {
                print!("{}", named(&data, &plan.to_text()));
            }
        }
        PolicyCommand::Apply {
            file,
            reason,
            common,
        } => {
            if reason.trim().is_empty() {
                anyhow::bail!("--reason must say why (it goes into the audit log)");
            }
            let new = new_policy(&common, &file)?;
            let data = open(&common)?;
            let cur = current(&data, &common)?;
            let (plan, entry) = netpolicy::apply(
                &data.registry,
                cur,
                new,
                &netpolicy::cli_actor(),
                &reason,
                &clock(),
            )?;
            print!("{}", named(&data, &plan.to_text()));
            println!("applied (audit entry {})", entry.seq);
        }
        PolicyCommand::Audit {
            limit,
            json,
            common,
        } => {
            let data = open(&common)?;
            let entries = data.store.policy_audit(limit)?;
            if json {
                print_json(&entries)?;
            } else {
                for e in entries {
                    let t = time::OffsetDateTime::from_unix_timestamp(e.time as i64)
                        .ok()
                        .and_then(|t| {
                            t.format(&time::format_description::well_known::Rfc3339)
                                .ok()
                        })
                        .unwrap_or_else(|| e.time.to_string());
                    println!("#{} {t} {} by {}: {}", e.seq, e.action, e.actor, e.reason);
                    for l in e.summary.lines() {
                        println!("    {l}");
                    }
                }
            }
        }
        PolicyCommand::Address {
            device,
            addresses,
            common,
        } => {
            let data = open(&common)?;
            let d = data.registry.get(&device)?;
            let addrs = addresses
                .iter()
                .map(|a| netpolicy::parse_address(a))
                .collect::<Result<Vec<_>, _>>()?;
            data.store.set_static_addresses(&d.id, &addrs)?;
            data.store.append_policy_audit(&crate::store::PolicyAudit {
                seq: 0,
                time: clock().now(),
                actor: netpolicy::cli_actor(),
                action: "address".into(),
                reason: format!("static addresses of {}", d.name),
                summary: if addrs.is_empty() {
                    "none".into()
                } else {
                    addrs.join(", ")
                },
            })?;
            println!("{}: {}", d.name, addrs.join(" "));
        }
    }
    Ok(())
}

/// Device ids in a text, followed by their names (for people).
fn named(data: &crate::server::DataDir, text: &str) -> String {
    let Ok(devices) = data.registry.list() else {
        return text.to_string();
    };
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_string();
        if !line.starts_with(' ')
            && let Some(d) = devices.iter().find(|d| line.starts_with(&d.id))
        {
            l = format!("{} [{}]{}", d.name, d.id, &line[d.id.len()..]);
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// `steward explain DEVICE [--to HOST[:PORT][/tcp|udp]]`.
pub fn explain(device: &str, to: Option<&str>, json: bool, common: &Common) -> anyhow::Result<()> {
    let data = open(common)?;
    let d = data.registry.get(device)?;
    let cfg = current(&data, common)?;
    let (inputs, _) = netpolicy::gather(&data.registry, cfg)?;
    let compiled = policy::compile(&inputs)?;
    let mud_errors: Vec<(String, String)> = data
        .store
        .mud_results()?
        .into_iter()
        .filter_map(|r| r.error.map(|e| (r.url, e)))
        .collect();
    let Ok(p) = compiled.policy(&d.id) else {
        anyhow::bail!(
            "device {} has no policy: it is {:?}; its traffic is dropped",
            d.name,
            d.status
        );
    };
    match to {
        Some(dest) => {
            let dest: policy::Destination = dest.parse()?;
            let ex = compiled.explain(&d.id, &dest)?;
            if json {
                print_json(&ex)?;
            } else {
                println!(
                    "{} ({}) → {}: {:?}",
                    d.name, d.id, ex.destination, ex.verdict
                );
                println!("{}", ex.text);
                for r in &ex.rules {
                    println!("  rule {}: {}", r.index, r.text);
                }
            }
        }
        None => {
            if json {
                print_json(p)?;
            } else {
                println!("{} ({}), zone {}:", d.name, d.id, p.zone);
                for l in compiled.describe(&d.id)? {
                    println!("  {l}");
                }
                let url = inputs
                    .devices
                    .iter()
                    .find(|x| x.id == d.id)
                    .and_then(|x| x.mud_url.clone());
                if let Some(url) = url
                    && let Some((_, e)) = mud_errors.iter().find(|(u, _)| *u == url)
                {
                    println!("  MUD file {url}: {e}");
                }
            }
        }
    }
    Ok(())
}
