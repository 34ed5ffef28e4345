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

  # Sidecar: an app's files in a shared volume, with static labels (no pod logs):
  kelp agent --files '/shared/logs/*.log' --label job=shop --label app=api

  # Pod logs and the node's own log files:
  kelp agent --pods-dir /var/log/pods --node-logs '/var/log/*.log'

Config file keys (all optional; flags override them): pods_dir, state_dir, server, node_name.
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
    /// Also ship the plain-text files matching GLOB (wildcards in the file name only),
    /// labelled `job` (default `files`), `filename`, `node` and every --label. Without
    /// --pods-dir, pod logs are not read (sidecar mode).
    #[arg(long, value_name = "GLOB")]
    files: Vec<String>,
    /// Also ship node log files matching GLOB, e.g. '/var/log/*.log' (logrotate `create`
    /// and `copytruncate` are followed); `job` defaults to `varlogs`.
    #[arg(long, value_name = "GLOB")]
    node_logs: Vec<String>,
    /// A static label NAME=VALUE of --files and --node-logs lines (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    label: Vec<String>,
    /// At most this many rotated-away or deleted files held open; past it the oldest is
    /// let go of and its lines are reported lost [default: 512].
    #[arg(long, value_name = "N")]
    max_held_files: Option<usize>,
    /// At most this much disk (e.g. 2Gi) held by such files [default: 4Gi].
    #[arg(long, value_name = "SIZE")]
    max_held_bytes: Option<String>,
    /// Discover by polling only, without inotify.
    #[arg(long)]
    no_inotify: bool,
    /// Events held between the inotify thread and the reader before they count as an
    /// overflow (tests use a tiny queue to exercise the overflow path).
    #[arg(long, value_name = "N", hide = true)]
    event_queue: Option<usize>,
}

/// The config file.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    pods_dir: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    server: Option<String>,
    node_name: Option<String>,
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
    let read_pods = args.pods_dir.is_some()
        || file.pods_dir.is_some()
        || (args.files.is_empty() && args.node_logs.is_empty());
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
    config.read_pods = read_pods;
    for glob in &args.files {
        config
            .files
            .push(kelp_agent::FileSource::new(glob, &args.label, "files")?);
    }
    for glob in &args.node_logs {
        config
            .files
            .push(kelp_agent::FileSource::new(glob, &args.label, "varlogs")?);
    }
    if !args.label.is_empty() && config.files.is_empty() {
        anyhow::bail!("--label applies to --files and --node-logs, and neither is given");
    }
    if let Some(n) = args.max_held_files {
        anyhow::ensure!(n >= 1, "--max-held-files must be at least 1");
        config.max_held_files = n;
    }
    if let Some(size) = &args.max_held_bytes {
        config.max_held_bytes = kelp_model::ByteSize::parse(size)
            .with_context(|| format!("--max-held-bytes {size:?}"))?
            .as_u64();
    }
    config.inotify = !args.no_inotify;
    if let Some(n) = args.event_queue {
        anyhow::ensure!(n >= 1, "--event-queue must be at least 1");
        config.event_queue = n;
    }
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
    let mut reading: Vec<String> = config.files.iter().map(|f| f.glob.to_string()).collect();
    if config.read_pods {
        reading.insert(0, config.pods_dir.display().to_string());
    }
    eprintln!(
        "kelp agent reading {} and sending to {}",
        reading.join(", "),
        config.server
    );
    kelp_agent::run(&config, stop)?;
    Ok(())
}
