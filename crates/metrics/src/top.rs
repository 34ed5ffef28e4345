//! `kubectl top node` and `kubectl top pod` as kubectl prints them (spec §5.5), as pure
//! functions from usages to text.
//!
//! CPU prints as `<ceil(millicores)>m`, memory as `<floor(bytes / 2^20)>Mi`; columns are
//! aligned by Go's tabwriter (min width 6, padding 3) with padding after every cell, the
//! last one included. Pods are sorted by namespace (with `-A`) then name, or by
//! `--sort-by cpu|memory` descending (stable, which is what Go's sort does for up to 12
//! rows); containers by name or the same key. Pod values are sums of their containers.
//!
//! ```
//! use kelp_metrics::top::{pods, ContainerUsage, PodOptions, PodUsage};
//!
//! let p = PodUsage {
//!     namespace: "shop".into(),
//!     name: "api-7d9c5b6f4d-x2x9q".into(),
//!     containers: vec![ContainerUsage { name: "api".into(), cpu_nanocores: 8_230_452, memory_bytes: 48_263_168 }],
//! };
//! assert_eq!(
//!     pods(&[p], &PodOptions::default()),
//!     "NAME                   CPU(cores)   MEMORY(bytes)   \n\
//!      api-7d9c5b6f4d-x2x9q   9m           46Mi            \n"
//! );
//! ```

use std::str::FromStr;

use crate::error::MetricsError;
use crate::quantity::{cpu_millis, memory_mebibytes};
use crate::tabwriter;

const UNKNOWN: &str = "<unknown>";

/// `--sort-by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Namespace (with `-A`) then name.
    #[default]
    Name,
    /// CPU, highest first.
    Cpu,
    /// Memory, highest first.
    Memory,
}

impl FromStr for SortBy {
    type Err = MetricsError;

    /// `""`, `cpu` or `memory`; anything else is kubectl's error.
    fn from_str(s: &str) -> Result<Self, MetricsError> {
        match s {
            "" => Ok(SortBy::Name),
            "cpu" => Ok(SortBy::Cpu),
            "memory" => Ok(SortBy::Memory),
            _ => Err(MetricsError::SortBy),
        }
    }
}

/// One container's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUsage {
    /// Container name.
    pub name: String,
    /// CPU in nanocores.
    pub cpu_nanocores: u64,
    /// Working set in bytes.
    pub memory_bytes: u64,
}

/// One pod's usage (a `PodMetrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodUsage {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Containers, in the API's order.
    pub containers: Vec<ContainerUsage>,
}

impl PodUsage {
    fn total(&self) -> (u64, u64) {
        self.containers.iter().fold((0, 0), |(c, m), x| {
            (
                c.saturating_add(x.cpu_nanocores),
                m.saturating_add(x.memory_bytes),
            )
        })
    }
}

/// `kubectl top pod` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodOptions {
    /// `-A`: a leading NAMESPACE column.
    pub all_namespaces: bool,
    /// `--containers`: one row per container, under POD and NAME.
    pub containers: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// `--sort-by`.
    pub sort_by: SortBy,
    /// `--sum`: a separator and a totals row.
    pub sum: bool,
}

/// `kubectl top pod`; empty when there are no pods (kubectl prints its errors instead).
pub fn pods(pods: &[PodUsage], opts: &PodOptions) -> String {
    if pods.is_empty() {
        return String::new();
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut columns = 3;
    if !opts.no_headers {
        let mut h = Vec::new();
        // kubectl counts the extra columns only while printing headers (for `--sum`).
        if opts.all_namespaces {
            h.push("NAMESPACE".to_owned());
            columns += 1;
        }
        if opts.containers {
            h.push("POD".to_owned());
            columns += 1;
        }
        h.extend(["NAME", "CPU(cores)", "MEMORY(bytes)"].map(String::from));
        lines.push(row(h));
    }
    let mut sorted: Vec<&PodUsage> = pods.iter().collect();
    match opts.sort_by {
        SortBy::Name => sorted.sort_by(|a, b| {
            let ns = if opts.all_namespaces {
                a.namespace.cmp(&b.namespace)
            } else {
                std::cmp::Ordering::Equal
            };
            ns.then_with(|| a.name.cmp(&b.name))
        }),
        SortBy::Cpu => sorted.sort_by_key(|p| std::cmp::Reverse(cpu_millis(p.total().0))),
        SortBy::Memory => sorted.sort_by_key(|p| std::cmp::Reverse(p.total().1)),
    }
    for p in &sorted {
        let ns = opts.all_namespaces.then(|| p.namespace.clone());
        if opts.containers {
            let mut cs: Vec<&ContainerUsage> = p.containers.iter().collect();
            match opts.sort_by {
                SortBy::Name => cs.sort_by(|a, b| a.name.cmp(&b.name)),
                SortBy::Cpu => cs.sort_by_key(|c| std::cmp::Reverse(cpu_millis(c.cpu_nanocores))),
                SortBy::Memory => cs.sort_by_key(|c| std::cmp::Reverse(c.memory_bytes)),
            }
            for c in cs {
                let mut r: Vec<String> = ns.iter().cloned().collect();
                r.push(p.name.clone());
                r.extend(usage_cells(&c.name, c.cpu_nanocores, c.memory_bytes));
                lines.push(row(r));
            }
        } else {
            let (cpu, mem) = p.total();
            let mut r: Vec<String> = ns.into_iter().collect();
            r.extend(usage_cells(&p.name, cpu, mem));
            lines.push(row(r));
        }
    }
    if opts.sum {
        let (cpu, mem) = pods.iter().map(PodUsage::total).fold((0u64, 0u64), |a, b| {
            (a.0.saturating_add(b.0), a.1.saturating_add(b.1))
        });
        let mut sep = vec![String::new(); columns - 2];
        sep.extend(["________".to_owned(), "________".to_owned()]);
        lines.push(row(sep));
        let mut total = vec![String::new(); columns - 3];
        total.extend(usage_cells("", cpu, mem));
        lines.push(row(total));
    }
    tabwriter::render(&lines)
}

/// One node: its usage (none when metrics-server has none) and what percentages are of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUsage {
    /// Node name.
    pub name: String,
    /// CPU nanocores and working set bytes, when the node has metrics.
    pub usage: Option<(u64, u64)>,
    /// Allocatable (or, with `--show-capacity`, capacity) CPU millicores and memory bytes;
    /// without it the percentage cells are left out, as kubectl does.
    pub available: Option<(u64, u64)>,
}

/// `kubectl top node` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeOptions {
    /// `--no-headers`.
    pub no_headers: bool,
    /// `--sort-by`.
    pub sort_by: SortBy,
}

/// `kubectl top node` (kubectl ≥ 1.32 headers). Nodes without metrics come last, by
/// name, with `<unknown>` in the four value cells; empty when no node has metrics.
pub fn nodes(nodes: &[NodeUsage], opts: &NodeOptions) -> String {
    let mut with: Vec<(&NodeUsage, (u64, u64))> =
        nodes.iter().filter_map(|n| Some((n, n.usage?))).collect();
    if with.is_empty() {
        return String::new();
    }
    match opts.sort_by {
        SortBy::Name => with.sort_by(|a, b| a.0.name.cmp(&b.0.name)),
        SortBy::Cpu => with.sort_by_key(|(_, u)| std::cmp::Reverse(cpu_millis(u.0))),
        SortBy::Memory => with.sort_by_key(|(_, u)| std::cmp::Reverse(u.1)),
    }
    let mut lines = Vec::new();
    if !opts.no_headers {
        lines.push(row([
            "NAME",
            "CPU(cores)",
            "CPU(%)",
            "MEMORY(bytes)",
            "MEMORY(%)",
        ]
        .map(String::from)
        .to_vec()));
    }
    for (n, (cpu, mem)) in with {
        let millis = cpu_millis(cpu);
        let mut r = vec![n.name.clone(), format!("{millis}m")];
        if let Some((a_cpu, _)) = n.available {
            r.push(percent(millis as f64, a_cpu as f64));
        }
        r.push(format!("{}Mi", memory_mebibytes(mem)));
        if let Some((_, a_mem)) = n.available {
            // MilliValue() of both memory quantities: bytes × 1000.
            r.push(percent(mem as f64 * 1000.0, a_mem as f64 * 1000.0));
        }
        lines.push(row(r));
    }
    let mut missing: Vec<&NodeUsage> = nodes.iter().filter(|n| n.usage.is_none()).collect();
    missing.sort_by(|a, b| a.name.cmp(&b.name));
    for n in missing {
        let mut r = vec![n.name.clone()];
        r.extend(std::iter::repeat_n(UNKNOWN.to_owned(), 4));
        lines.push(row(r));
    }
    tabwriter::render(&lines)
}

/// `int64(float64(usage) / float64(available) * 100)` followed by `%`.
fn percent(usage_milli: f64, available_milli: f64) -> String {
    format!("{}%", (usage_milli / available_milli * 100.0) as i64)
}

fn usage_cells(name: &str, cpu_nanocores: u64, memory_bytes: u64) -> [String; 3] {
    [
        name.to_owned(),
        format!("{}m", cpu_millis(cpu_nanocores)),
        format!("{}Mi", memory_mebibytes(memory_bytes)),
    ]
}

/// Cells that are all tab-terminated: the text after the last tab is empty.
fn row(mut cells: Vec<String>) -> Vec<String> {
    cells.push(String::new());
    cells
}
