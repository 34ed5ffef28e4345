//! `kelp agent`: ships the node's pod logs to a Kelp server. Everything but flags,
//! configuration, logging and signals is `kelp-agent`'s.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use kelp_agent::AgentConfig;

/// Examples shown by `kelp agent --help`.
pub const EXAMPLES: &str = "\
Examples:
  # On a node (as a DaemonSet), shipping to the server's Service:
  kelp agent --pods-dir /var/log/pods --state-dir /var/lib/kelp-agent \\
      --server http://kelp:3100 --node-name \"$NODE_NAME\"

  # Against `kelp simulate --root /tmp/node` and a local `kelp server`:
  kelp agent --pods-dir /tmp/node/var/log/pods --state-dir /tmp/agent

Config file keys (all optional; flags override them): pods_dir, state_dir, server, node_name,
multiline, policy (multi-line joining, include/exclude, drop and redaction rules: docs/agent.md).
The node name defaults to $NODE_NAME, then the host name. SIGTERM or Ctrl-C stops it after
it sent what it read. Checkpoints: STATE_DIR/checkpoints.json (docs/agent.md).";

/// Flags of `kelp agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// YAML config file (unknown keys are errors).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The kubelet's pod log directory [default: /var/log/pods].
    #[arg(long, value_name = "DIR")]
    pods_dir: Option<PathBuf>,
    /// Where checkpoints are kept [default: /var/lib/kelp-agent].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// The Kelp server [default: http://127.0.0.1:3100].
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The `node` label [default: $NODE_NAME or the host name].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
}

/// The config file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    pods_dir: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    server: Option<String>,
    node_name: Option<String>,
    #[serde(default)]
    multiline: kelp_agent::MultilineConfig,
    #[serde(default)]
    policy: kelp_agent::PolicyConfig,
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_yaml_ng::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let node = args
        .node_name
        .or(file.node_name)
        .or_else(|| std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()))
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mut config = AgentConfig::new(
        args.pods_dir
            .or(file.pods_dir)
            .unwrap_or_else(|| "/var/log/pods".into()),
        args.state_dir
            .or(file.state_dir)
            .unwrap_or_else(|| "/var/lib/kelp-agent".into()),
        args.server
            .or(file.server)
            .unwrap_or_else(|| "http://127.0.0.1:3100".into()),
        node,
    );
    config.multiline = file.multiline;
    config.policy = file.policy;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the signal handler")?;
    eprintln!(
        "kelp agent reading {} and sending to {}",
        config.pods_dir.display(),
        config.server
    );
    kelp_agent::run(&config, stop)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration example of docs/agent.md parses and compiles.
    #[test]
    fn the_documented_example_is_valid() {
        let doc = include_str!("../../../docs/agent.md");
        let start = doc
            .find("```yaml\nmultiline:")
            .expect("example in docs/agent.md")
            + 8;
        let end = start + doc[start..].find("```").unwrap();
        let file: FileConfig = serde_yaml_ng::from_str(&doc[start..end]).unwrap();
        assert_eq!(file.multiline.rules.len(), 4);
        assert_eq!(file.policy.redact.len(), 5);
        let mut config = AgentConfig::new("/p".into(), "/s".into(), "http://x".into(), "n".into());
        config.multiline = file.multiline;
        config.policy = file.policy;
        config.validate().unwrap();
        config.policy.redact[4].regex = Some("(".into());
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("policy.redact[4] (session ids): invalid regex"),
            "{err}"
        );
    }
}
