//! `kelp agent`: ships the node's pod logs. Everything but flags, configuration, logging,
//! signals and the `/metrics` endpoint is `kelp-agent`'s.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use kelp_agent::config::{AgentFileConfig, DEFAULT_LISTEN};
use kelp_agent::sink::SinkKind;
use kelp_agent::stats::Stats;

/// Examples shown by `kelp agent --help`.
pub const EXAMPLES: &str = "\
Examples:
  # On a node (as a DaemonSet), shipping to the server's Service:
  kelp agent --pods-dir /var/log/pods --state-dir /var/lib/kelp-agent \\
      --server http://kelp:3100 --node-name \"$NODE_NAME\"

  # Against `kelp simulate --root /tmp/node` and a local `kelp server`:
  kelp agent --pods-dir /tmp/node/var/log/pods --state-dir /tmp/agent

  # To Loki, four batches in flight, from a config file:
  KELP_AGENT_BATCH__MAX_IN_FLIGHT=4 kelp agent --config agent.yaml --sink loki \\
      --server http://loki:3100

  # Sidecar: an app's files in a shared volume, with static labels (no pod logs):
  kelp agent --files '/shared/logs/*.log' --label job=shop --label app=api

  # Pod logs and the node's own log files:
  kelp agent --pods-dir /var/log/pods --node-logs '/var/log/*.log'

Config file keys (all optional; KELP_AGENT_<KEY> and KELP_AGENT_<SECTION>__<KEY>
environment variables override them, flags override both): pods_dir, state_dir, server,
node_name, listen, log_level, source.{scan_interval_ms, poll_interval_ms, rotate_wait_ms,
finish_wait_ms}, batch.{max_bytes, max_wait_ms, queue_batches, max_in_flight},
resources.{interval, cgroup_root, proc_root, max_spooled},
retry.{min_backoff_ms, max_backoff_ms, max_attempts, timeout_ms},
sink.{kind, tenant, token_file, ca_file, cert_file, key_file, zstd_level, es_index, path},
multiline, policy (multi-line joining, include/exclude, drop and redaction rules),
kubernetes.{enabled, api_server, token_file, ca_file, pod_labels, keep_deleted_secs} (pod
labels and owners); see docs/agent.md.
The node name defaults to $NODE_NAME, then the host name. SIGTERM or Ctrl-C stops it after
it sent what it read. Checkpoints: STATE_DIR/checkpoints.json. Metrics: GET /metrics and
/ready on --listen (default 0.0.0.0:3101). Resource metrics: spooled in
STATE_DIR/resources until the server has them (docs/metrics.md).";

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
    /// The server (Kelp, Loki or Elasticsearch) [default: http://127.0.0.1:3100]; several
    /// times (or `dns+http://name:port`) for server replicas, streams spread over them.
    #[arg(long, value_name = "URL")]
    server: Vec<String>,
    /// The `node` label [default: $NODE_NAME or the host name].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Where batches go: kelp, loki, elasticsearch, file, stdout or null [default: kelp].
    #[arg(long, value_name = "KIND")]
    sink: Option<String>,
    /// The file of `--sink file`.
    #[arg(long, value_name = "FILE")]
    sink_path: Option<PathBuf>,
    /// A file holding the server's bearer token (e.g. a mounted Secret).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// PEM CA of an https:// server [default: the Mozilla roots].
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// PEM client certificate, for a server that requires mutual TLS.
    #[arg(long, value_name = "FILE")]
    cert_file: Option<PathBuf>,
    /// PEM key of --cert-file.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Batches sent at the same time [default: 2].
    #[arg(long, value_name = "N")]
    max_in_flight: Option<usize>,
    /// Address of /metrics and /ready, or `none` [default: 0.0.0.0:3101].
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Also ship the plain-text files matching GLOB (wildcards in the file name only),
    /// labelled `job` (default `files`), `filename`, `node` and every --label. Without
    /// --pods-dir, pod logs are not read (sidecar mode).
    #[arg(long, value_name = "GLOB")]
    files: Vec<String>,
    /// Also ship node log files matching GLOB, e.g. '/var/log/*.log' (logrotate `create`
    /// and `copytruncate` are followed); `job` defaults to `varlogs`.
    #[arg(long, value_name = "GLOB")]
    node_logs: Vec<String>,
    /// Also ship the control plane's log files, /var/log/kube-*.log and /var/log/etcd.log
    /// (where it runs outside static pods), with `job="control-plane"`; their klog
    /// headers give each line its time and a `level` (`control_plane.enabled`; the
    /// patterns are `control_plane.files`).
    #[arg(long)]
    control_plane_logs: bool,
    /// Also ship the systemd journal's entries of the kubelet and the container runtime
    /// (`journal.enabled`), labelled `source="journal"`, `unit`, `level`, `node`.
    #[arg(long)]
    journal: bool,
    /// The journal directory [default: /var/log/journal]; implies --journal.
    #[arg(long, value_name = "DIR")]
    journal_dir: Option<PathBuf>,
    /// A `_SYSTEMD_UNIT` to read (repeatable; replaces the default kubelet.service,
    /// containerd.service, crio.service, docker.service); implies --journal.
    #[arg(long, value_name = "UNIT")]
    journal_unit: Vec<String>,
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
    /// Resource metrics (node, pod and container CPU and memory from cgroups) are
    /// collected this often and pushed to the Kelp server; 0 turns them off [default: 15s].
    #[arg(long, value_name = "DURATION")]
    metrics_interval: Option<String>,
    /// The cgroup v2 hierarchy the resource metrics are read from [default: /sys/fs/cgroup].
    #[arg(long, value_name = "DIR")]
    cgroup_root: Option<PathBuf>,
    /// `/proc`, for node figures when there is no root cgroup [default: /proc].
    #[arg(long, value_name = "DIR")]
    proc_root: Option<PathBuf>,
    /// Events held between the inotify thread and the reader before they count as an
    /// overflow (tests use a tiny queue to exercise the overflow path).
    #[arg(long, value_name = "N", hide = true)]
    event_queue: Option<usize>,
}

/// Runs the agent until SIGTERM or SIGINT.
pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    let text = match &args.config {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => String::new(),
    };
    let mut file =
        AgentFileConfig::from_yaml(&text, std::env::vars()).with_context(|| {
            match &args.config {
                Some(p) => format!("config {}", p.display()),
                None => "config from the environment".into(),
            }
        })?;
    // Pod logs are read unless only --files / --node-logs are given and the pods
    // directory is left at its default (sidecar mode).
    let pods_given =
        args.pods_dir.is_some() || file.pods_dir != AgentFileConfig::default().pods_dir;
    if let Some(v) = args.pods_dir.clone() {
        file.pods_dir = v;
    }
    if let Some(v) = args.state_dir {
        file.state_dir = v;
    }
    if !args.server.is_empty() {
        file.server = args.server.join(",");
    }
    if let Some(v) = args.node_name {
        file.node_name = Some(v);
    }
    if let Some(v) = args.sink {
        SinkKind::parse(&v)?;
        file.sink.kind = v;
    }
    if let Some(v) = args.sink_path {
        file.sink.path = Some(v);
    }
    if let Some(v) = args.token_file {
        file.sink.token_file = Some(v);
    }
    if let Some(v) = args.ca_file {
        file.sink.ca_file = Some(v);
    }
    if let Some(v) = args.cert_file {
        file.sink.cert_file = Some(v);
    }
    if let Some(v) = args.key_file {
        file.sink.key_file = Some(v);
    }
    if let Some(v) = args.max_in_flight {
        file.batch.max_in_flight = v;
    }
    // The flag turns on the config file's `control_plane` section (its patterns: the
    // file's, else `CONTROL_PLANE_GLOBS`).
    if args.control_plane_logs {
        file.control_plane.enabled = true;
    }
    if args.journal || args.journal_dir.is_some() || !args.journal_unit.is_empty() {
        file.journal.enabled = true;
    }
    if let Some(v) = args.journal_dir {
        file.journal.dir = v;
    }
    if !args.journal_unit.is_empty() {
        file.journal.units = args.journal_unit;
    }
    let listen_given = args.listen.is_some() || file.listen != DEFAULT_LISTEN;
    if let Some(v) = args.listen {
        file.listen = v;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&file.log_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let listen = file.listen.clone();
    let node = std::env::var("NODE_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mut res_section = file.resources.clone();
    let mut config = file.into_agent_config(node)?;
    config.read_pods = pods_given
        || (args.files.is_empty() && args.node_logs.is_empty() && !args.control_plane_logs);
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
    if !args.label.is_empty() && args.files.is_empty() && args.node_logs.is_empty() {
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
    if let Some(v) = args.metrics_interval {
        res_section.interval = v;
    }
    if let Some(v) = args.cgroup_root {
        res_section.cgroup_root = v;
    }
    if let Some(v) = args.proc_root {
        res_section.proc_root = v;
    }
    let mut res_config = res_section.into_config(&config)?;
    if config.sink.kind != SinkKind::Kelp && !res_config.interval.is_zero() {
        tracing::info!("resource metrics go to a Kelp server only: off with this sink");
        res_config.interval = Duration::ZERO;
    }
    let stats = Arc::new(Stats::default());
    let res_stats = Arc::new(kelp_agent::resources::ResourceStats::default());
    if listen != "none" {
        match TcpListener::bind(&listen) {
            Ok(listener) => {
                let addr = listener.local_addr()?;
                eprintln!("kelp agent metrics on http://{addr}");
                serve_metrics(
                    listener,
                    stats.clone(),
                    res_stats.clone(),
                    config.pods_dir.clone(),
                )?;
            }
            // The default port may be taken (another agent on a dev machine): run without.
            Err(e) if !listen_given => {
                tracing::warn!(%listen, error = %e, "cannot serve /metrics; running without")
            }
            Err(e) => return Err(e).with_context(|| format!("listening on {listen}")),
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .context("installing the signal handler")?;
    let mut reading: Vec<String> = config.files.iter().map(|f| f.glob.to_string()).collect();
    if config.read_pods {
        reading.insert(0, config.pods_dir.display().to_string());
    }
    eprintln!(
        "kelp agent reading {} and sending to {} ({})",
        reading.join(", "),
        config.server,
        config.sink.kind.as_str()
    );
    if !res_config.interval.is_zero() {
        eprintln!(
            "kelp agent collecting resource metrics from {} every {:?}",
            res_config.sources.cgroup_root.display(),
            res_config.interval
        );
    }
    // One watch of the node's pods serves both the log reader (stream labels) and the
    // resource collector (every pod label, for metrics.k8s.io's label selectors); with
    // resource metrics on, the agent also reads its Node object (labels, allocatable).
    let collecting = !res_config.interval.is_zero();
    let share: Option<kelp_agent::PodShare> =
        (collecting && config.kubernetes.is_some()).then(Default::default);
    let res_threads =
        kelp_agent::resources::spawn(res_config, res_stats, stop.clone(), share.clone())?;
    let ran = match share {
        Some(share) => kelp_agent::run_with_pods(&config, stats, stop.clone(), share),
        None => kelp_agent::run_with(&config, stats, stop.clone()),
    };
    stop.store(true, Ordering::SeqCst);
    for t in res_threads {
        let _ = t.join();
    }
    ran?;
    Ok(())
}

/// Serves `GET /metrics` (Prometheus text) and `GET /ready` (200 once checkpoints are
/// loaded and the first scan ran, else 503) on a thread of its own: one connection at a
/// time, a 5 s budget per request, `Connection: close`. Two GET routes need no HTTP
/// framework or async runtime in the agent's process (docs/agent.md).
fn serve_metrics(
    listener: TcpListener,
    stats: Arc<Stats>,
    res_stats: Arc<kelp_agent::resources::ResourceStats>,
    pods_dir: PathBuf,
) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("kelp-agent-metrics".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Err(e) = answer(conn, &stats, &res_stats, &pods_dir) {
                    tracing::debug!(error = %e, "metrics request failed");
                }
            }
        })?;
    Ok(())
}

fn answer(
    mut conn: TcpStream,
    stats: &Stats,
    res_stats: &kelp_agent::resources::ResourceStats,
    pods_dir: &Path,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut req = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 16 * 1024 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = req.split(|&b| b == b'\n').next().unwrap_or_default();
    let mut parts = std::str::from_utf8(line).unwrap_or("").split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            stats.render(pods_dir) + &res_stats.render(),
        ),
        ("GET", "/ready") if stats.ready.load(Ordering::Relaxed) => {
            ("200 OK", "text/plain", "ready\n".into())
        }
        ("GET", "/ready") => ("503 Service Unavailable", "text/plain", "starting\n".into()),
        ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(body.as_bytes())?;
    conn.flush()
}
