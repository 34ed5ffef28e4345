//! `kelp demo`: Kelp's main job on one machine. Today it runs a simulated node with
//! aggressive rotation, restarts and pod deletion for a few seconds, then shows what was
//! written: the pod log tree, rotated and gzipped files, the `/var/log/containers` symlinks,
//! and CRI records including a long line split into `P` records. It grows as the agent and
//! the server land.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kelp_sim::verify::{self, Tree};
use kelp_sim::{SimConfig, Simulator};

/// Examples shown by `kelp demo --help`.
pub const EXAMPLES: &str = "Examples:
  kelp demo                        # 8 s of a simulated node, then a tour of what it wrote
  kelp demo --seconds 30 --pods 20 # longer, bigger
  kelp demo --root /tmp/node       # write the tree here (must be empty or absent)";

/// Arguments of `kelp demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the simulated node writes (default: a new directory under the temp dir). The
    /// tree is kept so you can look around afterwards.
    #[arg(long)]
    root: Option<PathBuf>,
    /// How long the node runs.
    #[arg(long, default_value_t = 8)]
    seconds: u64,
    /// Pods on the node.
    #[arg(long, default_value_t = 6)]
    pods: u32,
    /// Seed of the simulation (same seed, same pods and lines).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `kelp demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let root = match args.root {
        Some(r) => r,
        None => std::env::temp_dir().join(format!("kelp-demo-{}", std::process::id())),
    };
    let config = SimConfig {
        root: root.clone(),
        pods: args.pods,
        lines_per_sec: Some(20_000.0),
        duration: Some(Duration::from_secs(args.seconds)),
        max_size_bytes: 256 * 1024,
        max_files: 3,
        rotate_check: Duration::from_millis(500),
        restart_every: Some(Duration::from_secs(3)),
        delete_every: Some(Duration::from_secs(5)),
        seed: args.seed,
        long_line_every: 500,
        ..SimConfig::default()
    };
    println!("Kelp demo: a simulated Kubernetes node (containerd + kubelet log behaviour)");
    println!(
        "  {} pods, 20,000 lines/s, rotation at 256Ki keeping 3 files, a restart every 3 s,",
        args.pods
    );
    println!("  a pod deleted every 5 s, for {} s", args.seconds);
    println!("  writing to {}\n", root.display());

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    let tty = std::io::stderr().is_terminal();
    let sim = Simulator::new(config).context("starting the simulator")?;
    let report = sim.run(&stop, |p| {
        if tty {
            eprint!("\r\x1b[2K  {p}");
            let _ = std::io::stderr().flush();
        }
    })?;
    if tty {
        eprintln!();
    }
    println!("Wrote: {report}\n");

    let tree = verify::scan(&root).context("reading the tree back")?;
    tour(&root, &tree)?;
    let problems = tree.problems(3);
    if problems.is_empty() {
        println!("Checked against the kubelet's rules: names, gzip, max files, symlinks: ok.");
    } else {
        println!("Problems found against the kubelet's rules:");
        for p in problems {
            println!("  - {p}");
        }
    }
    println!(
        "\nThe tree stays at {}. Next: `kelp simulate --help`.",
        root.display()
    );
    Ok(())
}

/// Prints one pod's files, some symlinks and sample records.
fn tour(root: &Path, tree: &Tree) -> anyhow::Result<()> {
    let rel = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    // The pod with the most files shows rotation best.
    let files = |c: &verify::ContainerDir| {
        c.instances
            .iter()
            .map(|i| i.rotated.len() + usize::from(i.live.is_some()))
            .sum::<usize>()
    };
    let Some(pod) = tree
        .pods
        .iter()
        .max_by_key(|p| p.containers.iter().map(files).sum::<usize>())
    else {
        println!("No pods were written.");
        return Ok(());
    };
    println!(
        "{} pod directories under var/log/pods; the busiest:",
        tree.pods.len()
    );
    println!("  {}/", rel(&pod.path));
    for c in &pod.containers {
        println!("    {}/", c.name);
        for inst in &c.instances {
            for r in &inst.rotated {
                let what = if r.gzipped {
                    "rotated, gzipped"
                } else {
                    "newest rotation, plain"
                };
                println!("      {:<34} {what}", file_name(&r.path));
            }
            if let Some(live) = &inst.live {
                println!(
                    "      {:<34} live (restart {})",
                    file_name(live),
                    inst.restart
                );
            }
        }
    }
    println!(
        "\n{} symlinks in var/log/containers, for example:",
        tree.symlinks.len()
    );
    for s in tree.symlinks.iter().take(3) {
        println!("  {} -> {}", file_name(&s.path), rel(&s.target));
    }
    let Some(live) = pod
        .containers
        .iter()
        .flat_map(|c| &c.instances)
        .find_map(|i| i.live.as_ref())
    else {
        return Ok(());
    };
    let bytes = verify::read_file(live)?;
    println!("\nThe first records of {}:", rel(live));
    for rec in bytes.split(|b| *b == b'\n').take(4) {
        println!("  {}", shorten(rec, 110));
    }
    if let Some(split) = find_split(tree)? {
        println!(
            "\nA line over 16 KiB, split by the runtime into P records, in {}:",
            split.0
        );
        for rec in split.1 {
            println!("  {rec}");
        }
    }
    Ok(())
}

/// The first P…F sequence in any live file, as shortened record texts.
fn find_split(tree: &Tree) -> anyhow::Result<Option<(String, Vec<String>)>> {
    for inst in tree
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .flat_map(|c| &c.instances)
    {
        let Some(live) = &inst.live else { continue };
        let bytes = verify::read_file(live)?;
        let records: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        let is_p = |r: &[u8]| r.splitn(4, |b| *b == b' ').nth(2) == Some(b"P".as_slice());
        if let Some(start) = records.iter().position(|r| is_p(r)) {
            let end = records[start..]
                .iter()
                .position(|r| !is_p(r))
                .map_or(records.len(), |i| start + i + 1);
            let shown = records[start..end]
                .iter()
                .map(|r| format!("{} ({} bytes)", shorten(r, 60), r.len()))
                .collect();
            return Ok(Some((file_name(live), shown)));
        }
    }
    Ok(None)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn shorten(rec: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(rec);
    if text.chars().count() <= max {
        return text.into_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}
