//! `kelp demo`: Kelp's main job on one machine. It starts a `kelp server` and a `kelp
//! agent` (child processes of this binary) and a simulated node with aggressive rotation,
//! restarts and pod deletion, runs it for a few seconds, then shows what was written (the
//! pod log tree, rotated and gzipped files, symlinks, a line split into `P` records), checks
//! that the store holds every line exactly once, and reads back the logs of a pod that no
//! longer exists, and `kelp top` over the resource metrics the agent collected from a fake
//! cgroup tree that follows the simulated containers. Everything is stopped on exit unless
//! `--keep-running`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kelp_client::{Client, RetryPolicy};
use kelp_sim::verify::{self, Tree};
use kelp_sim::{SimConfig, Simulator};

/// Examples shown by `kelp demo --help`.
pub const EXAMPLES: &str = "Examples:
  kelp demo                        # 8 s of a simulated node shipped to a local server
  kelp demo --seconds 30 --pods 20 # longer, bigger
  kelp demo --root /tmp/node       # write everything here (must be empty or absent)
  kelp demo --keep-running         # leave the server up for Grafana or curl until Ctrl-C";

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
    /// Logical lines per second the node writes.
    #[arg(long, default_value_t = 20_000.0)]
    rate: f64,
    /// Keep the server (and agent) running after the tour, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
}

/// A child process stopped with SIGTERM (then SIGKILL) when dropped.
struct Service {
    name: &'static str,
    child: Child,
}

impl Service {
    fn start(name: &'static str, args: &[&str], log: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the kelp binary")?;
        let out =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting kelp {name}"))?;
        Ok(Self { name, child })
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("kelp {} did not stop in 10 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free port on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until the server answers `/ready`.
fn wait_ready(client: &Client, server: &mut Service) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if client.get("/ready").is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            bail!("kelp server exited ({status}); see its log");
        }
        if Instant::now() > deadline {
            bail!("kelp server not ready after 30 s; see its log");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Runs `kelp demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let root = match args.root {
        Some(r) => r,
        None => std::env::temp_dir().join(format!("kelp-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let root = root.canonicalize()?;
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let path = |p: &str| root.join(p).to_string_lossy().into_owned();
    let ledger = root.join("ledger.jsonl");

    println!("Kelp demo: a simulated Kubernetes node shipped by `kelp agent` to `kelp server`");
    println!(
        "  {} pods, {} lines/s, rotation at 256Ki keeping 3 files, a restart every 3 s,",
        args.pods, args.rate
    );
    println!("  a pod deleted every 5 s, for {} s", args.seconds);
    println!(
        "  files under {}, server at {url}, web UI at {url}/ui/\n",
        root.display()
    );

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;

    let mut server = Service::start(
        "server",
        &[
            "server",
            "--data-dir",
            &path("kelp-data"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ],
        &root.join("server.log"),
    )?;
    let client = Client::new(
        &url,
        RetryPolicy {
            max_attempts: Some(1),
            ..RetryPolicy::default()
        },
    )?;
    wait_ready(&client, &mut server)?;
    // A fake cgroup tree that follows the simulated containers, read by the agent's real
    // resource collector (every 2 s here, 15 s by default).
    let cgroup_stop = Arc::new(AtomicBool::new(false));
    let cgroups = kelp_sim::cgroups::spawn(
        &root,
        args.seed,
        Duration::from_secs(1),
        cgroup_stop.clone(),
    )?;
    let agent = Service::start(
        "agent",
        &[
            "agent",
            "--pods-dir",
            &path("var/log/pods"),
            "--state-dir",
            &path("agent-state"),
            "--server",
            &url,
            "--node-name",
            "demo-node",
            "--cgroup-root",
            &path("sys/fs/cgroup"),
            "--metrics-interval",
            "2s",
        ],
        &root.join("agent.log"),
    )?;

    let config = SimConfig {
        root: root.clone(),
        pods: args.pods,
        lines_per_sec: Some(args.rate),
        duration: Some(Duration::from_secs(args.seconds)),
        max_size_bytes: 256 * 1024,
        max_files: 3,
        rotate_check: Duration::from_secs(1),
        restart_every: Some(Duration::from_secs(3)),
        delete_every: Some(Duration::from_secs(5)),
        seed: args.seed,
        long_line_every: 500,
        ledger: Some(ledger.clone()),
        ..SimConfig::default()
    };
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

    println!("\nWaiting for the agent to ship the last lines...");
    let check = ship_check(&ledger, &url, &stop)?;
    println!(
        "The store holds {} of the {} lines written: {} lost, {} duplicated, {} altered.",
        check.stored_lines, check.ledger_lines, check.lost, check.duplicated, check.altered
    );
    show_top(&url, &stop)?;
    drop(agent);
    cgroup_stop.store(true, Ordering::SeqCst);
    let _ = cgroups.join();
    show_deleted_pod(&client, &ledger, &tree)?;

    if args.keep_running && !stop.load(Ordering::SeqCst) {
        println!(
            "\nThe server keeps running at {url} (Grafana: add a Loki data source with this URL)."
        );
        println!("Open the web UI at {url}/ui/ (explore, live tail, pods, resources). Try:");
        println!("  kelp pods -A --server {url}");
        println!("  kelp labels namespace --server {url}");
        println!("  kelp top pod -A --server {url}");
        println!("  kelp query 'sum by (namespace) (count_over_time({{namespace=~\".+\"}}[1m]))' --since 5m --server {url}");
        println!("  curl -sG {url}/loki/api/v1/labels");
        println!(
            "  curl -sG {url}/loki/api/v1/query_range --data-urlencode 'query=sum by (namespace) (count_over_time({{namespace=~\".+\"}}[1m]))'"
        );
        println!("Ctrl-C stops it.");
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    drop(server);
    println!(
        "\nStopped. Files, server and agent logs stay under {}.",
        root.display()
    );
    Ok(())
}

/// Compares the ledger with the store until the agent has shipped everything (or 60 s).
fn ship_check(
    ledger: &Path,
    url: &str,
    stop: &AtomicBool,
) -> anyhow::Result<crate::verify::Report> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let report = crate::verify::compare(ledger, url, 5000, None)?;
        if report.is_exact() || Instant::now() > deadline || stop.load(Ordering::SeqCst) {
            return Ok(report);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Prints `kelp top pod -A` and `kelp top node` once the server has two collections.
fn show_top(url: &str, stop: &AtomicBool) -> anyhow::Result<()> {
    let common = |url: &str| kelp_cli::top::Common {
        sort_by: None,
        no_headers: false,
        at: None,
        since: None,
        output: None,
        conn: kelp_cli::ConnArgs {
            server: Some(url.to_owned()),
            ..Default::default()
        },
    };
    let pods = kelp_cli::top::TopArgs {
        command: kelp_cli::top::TopCommand::Pod(kelp_cli::top::TopPodArgs {
            name: None,
            namespace: "default".into(),
            all_namespaces: true,
            selector: None,
            containers: false,
            sum: false,
            common: common(url),
        }),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.is_empty() && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        out.clear();
        kelp_cli::top::run(&pods, &mut out)?;
        if out.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    println!("\nResource metrics, collected by the agent from the node's cgroups every 2 s:");
    println!("  $ kelp top pod -A --server {url}");
    for line in String::from_utf8_lossy(&out).lines() {
        println!("  {}", line.trim_end());
    }
    let node = kelp_cli::top::TopArgs {
        command: kelp_cli::top::TopCommand::Node(kelp_cli::top::TopNodeArgs {
            name: None,
            selector: None,
            common: common(url),
        }),
    };
    let mut out = Vec::new();
    if kelp_cli::top::run(&node, &mut out).is_ok() {
        println!("  $ kelp top node --server {url}");
        for line in String::from_utf8_lossy(&out).lines() {
            println!("  {}", line.trim_end());
        }
    }
    Ok(())
}

/// Prints the last lines of a pod the simulator deleted: what `kubectl logs` cannot do.
fn show_deleted_pod(client: &Client, ledger: &Path, tree: &Tree) -> anyhow::Result<()> {
    let entries = kelp_sim::verify::read_ledger(ledger)?;
    let alive: std::collections::HashSet<&str> = tree.pods.iter().map(|p| p.pod.as_str()).collect();
    let Some(gone) = entries
        .iter()
        .rev()
        .find(|e| !alive.contains(e.pod.as_str()))
    else {
        return Ok(());
    };
    println!(
        "\nPod {}/{} was deleted with its log files, but its logs live on in Kelp:",
        gone.namespace, gone.pod
    );
    let cmd = format!(
        "kelp logs -n {} {} --all-containers --tail 3 --server {}",
        gone.namespace,
        gone.pod,
        client.base()
    );
    println!("  $ {cmd}");
    let args = kelp_cli::logs::LogsArgs {
        target: Some(gone.pod.clone()),
        container_arg: None,
        namespace: gone.namespace.clone(),
        container: None,
        all_containers: true,
        previous: false,
        follow: false,
        since: None,
        since_time: None,
        tail: Some(3),
        timestamps: false,
        selector: None,
        prefix: false,
        limit_bytes: 0,
        max_log_requests: 5,
        termination_reason: true,
        output: "text".into(),
        conn: kelp_cli::ConnArgs {
            server: Some(client.base().to_owned()),
            ..Default::default()
        },
    };
    let mut out = Vec::new();
    kelp_cli::logs::run(&args, &mut out)?;
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        println!("  {}", shorten(line, 110));
    }
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
