//! `kelp simulate` (being written).

/// Examples shown by `kelp simulate --help`.
pub const EXAMPLES: &str = "";

/// Arguments of `kelp simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {}

/// Runs `kelp simulate`.
pub fn run(_args: SimulateArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
