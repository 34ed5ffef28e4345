//! `kelp demo` (being written).

/// Examples shown by `kelp demo --help`.
pub const EXAMPLES: &str = "";

/// Arguments of `kelp demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs `kelp demo`.
pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
