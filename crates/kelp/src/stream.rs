//! `kelp stream` (being written).

/// Examples shown by `kelp stream --help`.
pub const EXAMPLES: &str = "";

/// Arguments of `kelp stream`.
#[derive(Debug, clap::Args)]
pub struct StreamArgs {}

/// Runs `kelp stream`.
pub fn run(_args: StreamArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
