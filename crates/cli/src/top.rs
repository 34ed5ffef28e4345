//! `kelp top node` and `kelp top pod`: `kubectl top` over the server's
//! `metrics.k8s.io/v1beta1` API, printed by `kelp-metrics`'s tables (kubectl's units,
//! rounding, headers and alignment), plus `--at` / `--since` for a past moment, which
//! kubectl cannot do, and `-o json` (the API's list).

use std::io::Write;

use anyhow::{bail, Context};
use kelp_metrics::api::{List, NodeMetrics, PodMetrics};
use kelp_metrics::quantity::{parse_cpu, parse_memory};
use kelp_metrics::top::{
    self, ContainerUsage, NodeOptions, NodeUsage, PodOptions, PodUsage, SortBy,
};
use kelp_model::{GoDuration, Timestamp};

use crate::logs::Verbatim;
use crate::{now_ns, Conn, ConnArgs};

/// Examples shown by `kelp top --help`.
pub const EXAMPLES: &str = "\
Examples:
  # CPU and memory of every node, as kubectl top node prints them:
  kelp top node

  # Pods of namespace shop by memory, then per container:
  kelp top pod -n shop --sort-by memory
  kelp top pod -n shop --containers

  # Every namespace, pods labelled app=web, as they were an hour ago:
  kelp top pod -A -l app=web --since 1h

  # At a given time, as the metrics.k8s.io JSON:
  kelp top pod web-1 -n shop --at 2026-11-23T10:00:00Z -o json

CPU is the rate over the last collection window, memory the working set (docs/metrics.md).";

/// `kelp top`'s resource.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TopCommand {
    /// CPU and memory of nodes.
    #[command(alias = "nodes", alias = "no")]
    Node(TopNodeArgs),
    /// CPU and memory of pods (the sum of their containers).
    #[command(alias = "pods", alias = "po")]
    Pod(TopPodArgs),
}

/// Flags of `kelp top` (both resources).
#[derive(Debug, Clone, clap::Args)]
pub struct TopArgs {
    /// The resource.
    #[command(subcommand)]
    pub command: TopCommand,
}

/// When and how, for both resources.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Sort by `cpu` or `memory` (highest first).
    #[arg(long, value_name = "FIELD")]
    pub sort_by: Option<String>,
    /// Print no header line.
    #[arg(long)]
    pub no_headers: bool,
    /// Usage at this time (RFC 3339, Unix seconds or nanoseconds) instead of now.
    #[arg(long, value_name = "TIME", conflicts_with = "since")]
    pub at: Option<String>,
    /// Usage this long ago (e.g. 1h, 30m).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// `json`: the metrics.k8s.io list as the server answered it.
    #[arg(short = 'o', long, value_name = "FORMAT")]
    pub output: Option<String>,
    /// Server, tenant, token.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Flags of `kelp top node`.
#[derive(Debug, Clone, clap::Args)]
pub struct TopNodeArgs {
    /// Only this node.
    pub name: Option<String>,
    /// Only nodes with these labels (the Node object's, when the agent reads the
    /// Kubernetes API; without it nodes have no labels).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Percentages of the node's capacity instead of its allocatable (as kubectl's).
    #[arg(long)]
    pub show_capacity: bool,
    /// Time, format and connection.
    #[command(flatten)]
    pub common: Common,
}

/// Flags of `kelp top pod`.
#[derive(Debug, Clone, clap::Args)]
pub struct TopPodArgs {
    /// Only this pod.
    pub name: Option<String>,
    /// The namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Pods of every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only pods with these labels (`app=web`, `tier in (a,b)`, `!canary`).
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// One line per container.
    #[arg(long)]
    pub containers: bool,
    /// A total line.
    #[arg(long)]
    pub sum: bool,
    /// Time, format and connection.
    #[command(flatten)]
    pub common: Common,
}

const API: &str = "/apis/metrics.k8s.io/v1beta1";

/// Runs `kelp top`.
pub fn run(args: &TopArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    match &args.command {
        TopCommand::Node(a) => nodes(a, out),
        TopCommand::Pod(a) => pods(a, out),
    }
}

impl Common {
    fn sort(&self) -> anyhow::Result<SortBy> {
        match &self.sort_by {
            None => Ok(SortBy::Name),
            Some(s) => s
                .parse()
                .map_err(|e: kelp_metrics::MetricsError| anyhow::anyhow!("{e}")),
        }
    }

    fn json(&self) -> anyhow::Result<bool> {
        match self.output.as_deref() {
            None => Ok(false),
            Some("json") => Ok(true),
            Some(o) => bail!("unable to match a printer suitable for the output format {o:?}, allowed formats are: json"),
        }
    }

    /// The `at` parameter, Unix nanoseconds.
    fn params(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let at = match (&self.at, &self.since) {
            (Some(t), _) => Some(
                Timestamp::parse_loki(t)
                    .map_err(|_| anyhow::anyhow!("--at {t:?} is not a time (RFC 3339 or Unix)"))?
                    .as_unix_nanos(),
            ),
            (None, Some(d)) => {
                let d =
                    GoDuration::parse_prometheus(d).with_context(|| format!("--since {d:?}"))?;
                Some(now_ns() - d.as_nanos())
            }
            (None, None) => None,
        };
        Ok(at.map(|t| ("at", t.to_string())).into_iter().collect())
    }
}

/// GETs `path`; a 404 is `Ok(None)`.
fn fetch(conn: &Conn, path: &str, params: &[(&str, String)]) -> anyhow::Result<Option<Vec<u8>>> {
    match conn.get_raw(path, params) {
        Ok(b) => Ok(Some(b)),
        Err(e)
            if matches!(
                e.downcast_ref::<kelp_client::ClientError>(),
                Some(kelp_client::ClientError::Rejected { status: 404, .. })
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

fn nodes(a: &TopNodeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let c = &a.common;
    let opts = NodeOptions {
        no_headers: c.no_headers,
        sort_by: c.sort()?,
    };
    let json = c.json()?;
    let conn = Conn::new(&c.conn)?;
    let mut params = c.params()?;
    if let Some(s) = &a.selector {
        params.push(("labelSelector", s.clone()));
    }
    let items: Vec<NodeMetrics> = match &a.name {
        Some(n) => match fetch(&conn, &format!("{API}/nodes/{n}"), &params)? {
            Some(b) => vec![serde_json::from_slice(&b).context("a NodeMetrics answer")?],
            None => {
                return Err(Verbatim(format!(
                    "Error from server (NotFound): nodemetrics.metrics.k8s.io \"{n}\" not found"
                ))
                .into())
            }
        },
        None => {
            let b = conn.get_raw(&format!("{API}/nodes"), &params)?;
            serde_json::from_slice::<List<NodeMetrics>>(&b)
                .context("a NodeMetricsList answer")?
                .items
        }
    };
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&List::nodes(items))?
        )?;
        return Ok(());
    }
    if items.is_empty() {
        bail!("metrics not available yet");
    }
    let caps = capacities(&conn, a.show_capacity);
    let usages = items
        .iter()
        .map(|n| {
            Ok(NodeUsage {
                name: n.metadata.name.clone(),
                usage: Some(usage(&n.usage)?),
                available: caps.get(&n.metadata.name).copied(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    out.write_all(top::nodes(&usages, &opts).as_bytes())?;
    Ok(())
}

/// What each node's percentages are of (CPU millicores, memory bytes), as the agents
/// reported it: the Node object's allocatable, as kubectl takes it, when the agent reads
/// the Kubernetes API, else (and with `--show-capacity`) the capacity (the Node's, or
/// `/proc`'s CPUs and `MemTotal`). None when the server has neither.
fn capacities(conn: &Conn, show_capacity: bool) -> std::collections::HashMap<String, (u64, u64)> {
    let Ok(data) = conn.get("/kelp/api/v1/resources/nodes", &[]) else {
        return Default::default();
    };
    let mut out = std::collections::HashMap::new();
    for n in data.as_array().into_iter().flatten() {
        let of = if !show_capacity && n.get("allocatable").is_some() {
            "allocatable"
        } else {
            "capacity"
        };
        let q = |k: &str| n[of][k].as_str().map(str::to_owned);
        let (Some(name), Some(cpu), Some(mem)) = (n["node"].as_str(), q("cpu"), q("memory")) else {
            continue;
        };
        if let (Some(cpu), Some(mem)) = (parse_cpu(&cpu), parse_memory(&mem)) {
            out.insert(name.to_owned(), (cpu / 1_000_000, mem));
        }
    }
    out
}

fn usage(u: &kelp_metrics::api::Usage) -> anyhow::Result<(u64, u64)> {
    let cpu = parse_cpu(&u.cpu).with_context(|| format!("cpu quantity {:?}", u.cpu))?;
    let mem = parse_memory(&u.memory).with_context(|| format!("memory quantity {:?}", u.memory))?;
    Ok((cpu, mem))
}

fn pods(a: &TopPodArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let c = &a.common;
    let opts = PodOptions {
        all_namespaces: a.all_namespaces,
        containers: a.containers,
        no_headers: c.no_headers,
        sort_by: c.sort()?,
        sum: a.sum,
    };
    let json = c.json()?;
    let conn = Conn::new(&c.conn)?;
    let mut params = c.params()?;
    if let Some(s) = &a.selector {
        params.push(("labelSelector", s.clone()));
    }
    let ns = &a.namespace;
    let items: Vec<PodMetrics> = match (&a.name, a.all_namespaces) {
        (Some(n), _) => match fetch(&conn, &format!("{API}/namespaces/{ns}/pods/{n}"), &params)? {
            Some(b) => vec![serde_json::from_slice(&b).context("a PodMetrics answer")?],
            None => {
                return Err(Verbatim(format!(
                "Error from server (NotFound): podmetrics.metrics.k8s.io \"{ns}/{n}\" not found"
            ))
                .into())
            }
        },
        (None, true) => list(&conn, &format!("{API}/pods"), &params)?,
        (None, false) => list(&conn, &format!("{API}/namespaces/{ns}/pods"), &params)?,
    };
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&List::pods(items))?)?;
        return Ok(());
    }
    if items.is_empty() {
        if a.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {ns} namespace.");
        }
        return Ok(());
    }
    let usages = items
        .iter()
        .map(|p| {
            Ok(PodUsage {
                namespace: p.metadata.namespace.clone().unwrap_or_default(),
                name: p.metadata.name.clone(),
                containers: p
                    .containers
                    .iter()
                    .map(|ct| {
                        let (cpu, mem) = usage(&ct.usage)?;
                        Ok(ContainerUsage {
                            name: ct.name.clone(),
                            cpu_nanocores: cpu,
                            memory_bytes: mem,
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    out.write_all(top::pods(&usages, &opts).as_bytes())?;
    Ok(())
}

fn list(conn: &Conn, path: &str, params: &[(&str, String)]) -> anyhow::Result<Vec<PodMetrics>> {
    let b = conn.get_raw(path, params)?;
    Ok(serde_json::from_slice::<List<PodMetrics>>(&b)
        .context("a PodMetricsList answer")?
        .items)
}
