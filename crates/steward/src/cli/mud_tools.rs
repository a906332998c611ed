//! `steward mud …`: the MUD tools for operators and makers, thin over the `mud` crate.

use clap::Subcommand;

#[derive(Subcommand)]
pub enum MudCommand {}

pub fn run(command: MudCommand) -> anyhow::Result<()> {
    match command {}
}
