//! `kelp simulate`: a Kubernetes node's pod log tree, written as containerd and the kubelet
//! do, from real log lines (see `docs/simulator.md`).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kelp_model::{ByteSize, GoDuration};
use kelp_sim::{Report, SimConfig, Simulator};

/// Examples shown by `kelp simulate --help`.
pub const EXAMPLES: &str = "\
Examples:
  # 50 pods, as fast as possible, 2 million lines, kubelet defaults otherwise
  kelp simulate --root /tmp/node --pods 50 --lines 2000000

  # A busy small node for a tailer test: fast rotation, restarts, deletions, a ledger
  kelp simulate --root /tmp/node --pods 5 --rate 2000 --duration 60 \\
      --max-size 1Mi --rotate-check-ms 200 --restart-every 10 --delete-every 30 \\
      --ledger /tmp/node/ledger.jsonl --seed 42

  # With a fake cgroup tree, for the agent's resource metrics (kelp top):
  kelp simulate --root /tmp/node --pods 5 --rate 100 --cgroups
  kelp agent --pods-dir /tmp/node/var/log/pods --cgroup-root /tmp/node/sys/fs/cgroup

  # Replay your own logs; print the summary as JSON
  kelp simulate --root /tmp/node --corpus ./my-logs --lines 100000 --output json

The tree: ROOT/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log[.<YYYYMMDD-HHMMSS>[.gz]]
and ROOT/var/log/containers/<pod>_<ns>_<container>-<id>.log symlinks.
Without --duration or --lines it runs until Ctrl-C or SIGTERM, then leaves the tree as is.";

/// Arguments of `kelp simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// Root of the simulated node; it must not hold a pod log tree yet.
    #[arg(long, value_name = "DIR", required_unless_present = "corpus_notice")]
    root: Option<PathBuf>,
    /// Pods on the node (deleted pods are replaced).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pods: u32,
    /// Containers per pod [default: each app's own, 1 or 2].
    #[arg(long, value_name = "M")]
    containers_per_pod: Option<u32>,
    /// Logical lines per second for the whole node [default: as fast as possible].
    #[arg(long, value_name = "LINES_PER_SEC")]
    rate: Option<f64>,
    /// Stop after this long: seconds (`2.5`) or a Go duration (`1m30s`).
    #[arg(long, value_name = "SECS", value_parser = parse_secs, conflicts_with = "lines")]
    duration: Option<Duration>,
    /// Stop after this many logical lines in total.
    #[arg(long, value_name = "N")]
    lines: Option<u64>,
    /// Rotate a live log at this size (kubelet containerLogMaxSize).
    #[arg(long, value_name = "SIZE", default_value = "10Mi", value_parser = parse_size)]
    max_size: u64,
    /// Files kept per container instance, live one included (kubelet containerLogMaxFiles).
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_files: u32,
    /// How often the kubelet checks log sizes (containerLogMonitorInterval).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    rotate_check_ms: u64,
    /// Restart a container this often: seconds or a Go duration.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    restart_every: Option<Duration>,
    /// Delete a pod (and start a replacement) this often: seconds or a Go duration.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    delete_every: Option<Duration>,
    /// Seed of every random choice [default: random, printed in the summary].
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Replay every regular file under DIR instead of the built-in corpus.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Write one JSON line per logical line written (see docs/simulator.md).
    #[arg(long, value_name = "FILE")]
    ledger: Option<PathBuf>,
    /// One logical line in N is longer than 16 KiB, so containerd splits it (0: none).
    #[arg(long, value_name = "N", default_value_t = 2000)]
    long_line_every: u64,
    /// Step the node's wall clock during the run: `<step>@<when>`, as `-2h@1s` (back two
    /// hours one second in) or `+30m@2.5`; repeatable, steps add up. CRI timestamps and
    /// rotation stamps follow the node's clock; the write rate does not.
    #[arg(
        long = "clock-jump",
        value_name = "STEP@WHEN",
        allow_hyphen_values = true
    )]
    clock_jumps: Vec<kelp_sim::ClockJump>,
    /// Final summary format.
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    /// Also keep a fake cgroup v2 tree of the running containers in ROOT/sys/fs/cgroup
    /// (CPU and memory counters, updated every second) for `kelp agent --cgroup-root`.
    #[arg(long)]
    cgroups: bool,
    /// Print the built-in corpus's provenance and licences, and exit.
    #[arg(long)]
    corpus_notice: bool,
}

/// How the final summary is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    /// One line for people.
    Text,
    /// One JSON object for scripts.
    Json,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).map_err(|e| e.to_string());
    }
    let d = GoDuration::parse(s).map_err(|e| e.to_string())?;
    if d.as_nanos() < 0 {
        return Err("must not be negative".into());
    }
    Ok(d.to_std())
}

fn parse_size(s: &str) -> Result<u64, String> {
    ByteSize::parse(s)
        .map(|b| b.as_u64())
        .map_err(|e| e.to_string())
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

/// Runs `kelp simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.corpus_notice {
        for (name, text) in kelp_sim::NOTICE {
            println!("==> {name} <==\n{text}");
        }
        return Ok(());
    }
    let root = args.root.context("--root is required")?;
    let seed = args.seed.unwrap_or_else(random_seed);
    let config = SimConfig {
        root: root.clone(),
        pods: args.pods,
        containers_per_pod: args.containers_per_pod,
        lines_per_sec: args.rate,
        duration: args.duration,
        lines: args.lines,
        max_size_bytes: args.max_size,
        max_files: args.max_files,
        rotate_check: Duration::from_millis(args.rotate_check_ms),
        restart_every: args.restart_every,
        delete_every: args.delete_every,
        seed,
        corpus_dir: args.corpus,
        ledger: args.ledger,
        long_line_every: args.long_line_every,
        clock_jumps: args.clock_jumps,
        ..SimConfig::default()
    };
    let sim = Simulator::new(config)
        .with_context(|| format!("cannot simulate a node in {}", root.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130); // a second Ctrl-C: stop now
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    let fake = if args.cgroups {
        let t = kelp_sim::cgroups::spawn(&root, seed, Duration::from_secs(1), stop.clone())?;
        eprintln!("fake cgroups in {}", root.join("sys/fs/cgroup").display());
        Some(t)
    } else {
        None
    };
    let live = std::io::stderr().is_terminal();
    let report = sim.run(&stop, |progress| {
        if live {
            eprint!("\r\x1b[K{progress}");
        }
    });
    if live {
        eprintln!();
    }
    if let Some(t) = fake {
        stop.store(true, Ordering::SeqCst);
        let _ = t.join();
    }
    let report = report?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string(&report)?),
        Output::Text => println!("{}", summary(&report, &root)),
    }
    Ok(())
}

fn summary(r: &Report, root: &std::path::Path) -> String {
    let stopped = match r.stopped_by {
        Some(kelp_sim::StopReason::Lines) => "line limit",
        Some(kelp_sim::StopReason::Duration) => "duration",
        _ => "stopped",
    };
    format!(
        "simulated {} pods in {}: {r} in {:.1}s ({stopped}), {} long lines, seed {}",
        r.pods,
        root.display(),
        r.elapsed_secs,
        r.long_lines,
        r.seed
    )
}
