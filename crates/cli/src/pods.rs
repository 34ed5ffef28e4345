//! `kelp pods`: the pods known to the store, as `kubectl get pods` lists them, with when
//! they were first and last seen and whether they still exist on their node
//! (`GET /kelp/api/v1/pods`, which the agents' pod inventories answer).

use std::io::Write;

use anyhow::Context;
use kelp_model::{GoDuration, Timestamp};
use serde_json::Value;

use crate::query::Output;
use crate::{now_ns, Conn, ConnArgs};

/// Examples shown by `kelp pods --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Pods of namespace shop seen in the last 7 days, live and deleted:
  kelp pods -n shop

  # Deleted pods of every namespace seen in the last day:
  kelp pods -A --deleted --since 24h

  # As JSON, for a script:
  kelp pods -A -o json

STATUS is Running while the pod's log directory exists on its node, Deleted once the
kubelet removed it, Unknown when no agent reports for that node. Exit code 0 (also when
no pod is found), or 1 with the message on stderr.";

/// Flags of `kelp pods`.
#[derive(Debug, Clone, clap::Args)]
pub struct PodsArgs {
    /// Namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Only pods that no longer exist on their node.
    #[arg(long)]
    pub deleted: bool,
    /// Pods with logs in this window (default: the server's, 7 days).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Output format: table or json (the server's answer).
    #[arg(short = 'o', long, value_parser = ["table", "json"], default_value = "table")]
    pub output: String,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Runs `kelp pods`.
pub fn run(a: &PodsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut params: Vec<(&str, String)> = Vec::new();
    if !a.all_namespaces {
        params.push(("namespace", a.namespace.clone()));
    }
    if a.deleted {
        params.push(("deleted", "true".into()));
    }
    let now = now_ns();
    if let Some(s) = &a.since {
        let d = GoDuration::parse(s)
            .or_else(|_| GoDuration::parse_prometheus(s))
            .map_err(|e| anyhow::anyhow!("invalid argument {s:?} for \"--since\" flag: {e}"))?;
        if d.as_nanos() <= 0 {
            anyhow::bail!("--since must be greater than 0");
        }
        params.push(("start", (now - d.as_nanos()).to_string()));
        params.push(("end", now.to_string()));
    }
    let conn = Conn::new(&a.conn)?;
    let output = if a.output == "json" {
        Output::Json
    } else {
        Output::Table
    };
    if output == Output::Json {
        let body = conn.get_raw("/kelp/api/v1/pods", &params)?;
        conn.progress.finish();
        out.write_all(&body).context("writing the output")?;
        if !body.ends_with(b"\n") {
            out.write_all(b"\n").context("writing the output")?;
        }
        return Ok(());
    }
    let data = conn.get("/kelp/api/v1/pods", &params)?;
    conn.progress.finish();
    let pods = data.as_array().cloned().unwrap_or_default();
    if pods.is_empty() {
        if a.all_namespaces {
            eprintln!("No resources found");
        } else {
            eprintln!("No resources found in {} namespace.", a.namespace);
        }
        return Ok(());
    }
    let mut header = vec![
        "NAME",
        "NODE",
        "RESTARTS",
        "FIRST SEEN",
        "LAST SEEN",
        "STATUS",
    ];
    if a.all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for p in &pods {
        let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
        let age = |k: &str| {
            Timestamp::parse_rfc3339(s(k).as_bytes())
                .map(|t| human_duration(now - t.as_unix_nanos()))
                .unwrap_or_else(|_| "<unknown>".into())
        };
        let mut row = vec![
            s("pod"),
            s("node"),
            p["restarts"].as_u64().unwrap_or(0).to_string(),
            age("first_seen"),
            age("last_seen"),
            status(&p["exists"]).to_owned(),
        ];
        if a.all_namespaces {
            row.insert(0, s("namespace"));
        }
        rows.push(row);
    }
    let paint = conn.paint;
    let text = table(&header, &rows, |col, row, cell| {
        if row.is_none() {
            return paint.bold(cell);
        }
        if col + 1 == header.len() {
            return match cell.trim_end() {
                "Running" => paint.green(cell),
                "Deleted" => paint.red(cell),
                _ => paint.yellow(cell),
            };
        }
        cell.to_owned()
    });
    out.write_all(text.as_bytes()).context("writing the output")
}

fn status(exists: &Value) -> &'static str {
    match exists.as_bool() {
        Some(true) => "Running",
        Some(false) => "Deleted",
        None => "Unknown",
    }
}

/// Columns as kubectl's printer aligns them (Go's tabwriter: minimum width 10, padding
/// 3, the last column unpadded); `paint` colours a padded cell (`row` is `None` for the
/// header).
fn table(
    header: &[&str],
    rows: &[Vec<String>],
    paint: impl Fn(usize, Option<usize>, &str) -> String,
) -> String {
    let n = header.len();
    let mut widths = vec![0usize; n];
    for (i, h) in header.iter().enumerate() {
        widths[i] = h.chars().count();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>, row: Option<usize>| {
        for (i, c) in cells.iter().enumerate() {
            let cell = if i + 1 == n {
                (*c).to_owned()
            } else {
                let w = (widths[i] + 3).max(10);
                format!("{c:<w$}")
            };
            out.push_str(&paint(i, row, &cell));
        }
        out.push('\n');
    };
    line(header.to_vec(), None);
    for (j, r) in rows.iter().enumerate() {
        line(r.iter().map(String::as_str).collect(), Some(j));
    }
    out
}

/// A duration as kubectl prints ages (`duration.HumanDuration`): `45s`, `5m30s`, `3h`,
/// `2d4h`, `1y30d`.
pub fn human_duration(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    if secs < -1 {
        return "<invalid>".into();
    }
    if secs < 0 {
        return "0s".into();
    }
    if secs < 120 {
        return format!("{secs}s");
    }
    let minutes = secs / 60;
    if minutes < 10 {
        let s = secs % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = secs / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_as_kubectl_prints_them() {
        let s = 1_000_000_000i64;
        for (secs, want) in [
            (-5, "<invalid>"),
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (330, "5m30s"),
            (600, "10m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 60 * 20, "3h20m"),
            (9 * 3600, "9h"),
            (50 * 3600, "2d2h"),
            (48 * 3600, "2d"),
            (10 * 86400, "10d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(secs * s), want, "{secs}");
        }
    }

    #[test]
    fn tables_align_like_kubectl() {
        let t = table(
            &["NAME", "STATUS"],
            &[vec!["web-1".into(), "Running".into()]],
            |_, _, c| c.to_owned(),
        );
        assert_eq!(t, "NAME      STATUS\nweb-1     Running\n");
    }
}
