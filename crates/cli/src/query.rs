//! `kelp query`, `kelp labels`, `kelp series`: logcli's habits.

use std::io::Write;

use anyhow::{bail, Context};
use kelp_model::{GoDuration, Timestamp};

use crate::{labels_text, now_ns, Conn, ConnArgs};

/// Examples shown by `kelp query --help`.
pub const EXAMPLES: &str = "\
Examples:
  # Error lines of namespace shop in the last hour, newest first:
  kelp query '{namespace=\"shop\"} |= \"error\"' --since 1h

  # Only the lines, oldest first, as a script reads them:
  kelp query '{pod=\"web-1\"}' --since 30m --direction forward -o raw

  # Lines per pod per 5 minutes over the last day, as JSON:
  kelp query 'sum by (pod) (count_over_time({namespace=\"shop\"}[5m]))' --since 24h --step 5m -o json

Exit code 0, or 1 with the server's message on stderr.";

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Timestamp, labels and line (logs); labels then points (metrics).
    Table,
    /// Only the lines (logs); values (metrics).
    Raw,
    /// The server's JSON answer.
    Json,
}

/// Flags of `kelp query`.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// The LogQL query.
    pub query: String,
    /// Start this long before now (default 1h) …
    #[arg(long, value_name = "DURATION", conflicts_with = "from")]
    pub since: Option<String>,
    /// … or at this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End at this RFC 3339 time (default now).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Most lines of a log query.
    #[arg(long, default_value_t = 30)]
    pub limit: usize,
    /// Evaluation step of a metric query (default: the server's).
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// `backward` (newest first) or `forward`.
    #[arg(long, default_value = "backward")]
    pub direction: String,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Look-back, output and connection flags of `kelp labels` and `kelp series`.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Look this far back.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub since: String,
    /// Output format (`json`: the server's answer).
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Flags of `kelp labels`.
#[derive(Debug, Clone, clap::Args)]
pub struct LabelsArgs {
    /// Print the values of this label instead of the label names.
    pub name: Option<String>,
    /// Look-back, output, connection.
    #[command(flatten)]
    pub list: ListArgs,
}

/// Flags of `kelp series`.
#[derive(Debug, Clone, clap::Args)]
pub struct SeriesArgs {
    /// Stream selector, e.g. '{namespace="shop"}'.
    pub selector: String,
    /// Look-back, output, connection.
    #[command(flatten)]
    pub list: ListArgs,
}

/// `d` before `end`.
fn before(end: i64, d: &str, flag: &str) -> anyhow::Result<i64> {
    let d = GoDuration::parse(d)
        .or_else(|_| GoDuration::parse_prometheus(d))
        .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))?;
    Ok(end - d.as_nanos())
}

fn ago(d: &str, flag: &str) -> anyhow::Result<i64> {
    before(now_ns(), d, flag)
}

fn time(t: &str, flag: &str) -> anyhow::Result<i64> {
    Ok(Timestamp::parse_rfc3339(t.as_bytes())
        .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))?
        .as_unix_nanos())
}

/// Runs `kelp query`.
pub fn run_query(a: &QueryArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let conn = Conn::new(&a.conn)?;
    let end = match &a.to {
        Some(t) => time(t, "to")?,
        None => now_ns(),
    };
    let start = match (&a.from, &a.since) {
        (Some(t), _) => time(t, "from")?,
        (None, Some(d)) => before(end, d, "since")?,
        (None, None) => end - 3_600_000_000_000,
    };
    if !matches!(a.direction.as_str(), "backward" | "forward") {
        bail!(
            "--direction must be backward or forward, not {:?}",
            a.direction
        );
    }
    let mut params = vec![
        ("query", a.query.clone()),
        ("start", start.to_string()),
        ("end", end.to_string()),
        ("limit", a.limit.to_string()),
        ("direction", a.direction.clone()),
    ];
    if let Some(s) = &a.step {
        let d = GoDuration::parse(s)
            .or_else(|_| GoDuration::parse_prometheus(s))
            .map_err(|e| anyhow::anyhow!("--step: {e}"))?;
        params.push(("step", format!("{}", d.as_nanos() as f64 / 1e9)));
    }
    if a.output == Output::Json {
        let raw = conn.get_raw("/loki/api/v1/query_range", &params)?;
        conn.progress.finish();
        out.write_all(&raw)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    let data = conn.get("/loki/api/v1/query_range", &params)?;
    conn.progress.finish();
    let result = data["result"].as_array().cloned().unwrap_or_default();
    match data["resultType"].as_str() {
        Some("streams") => {
            let mut lines: Vec<(i64, String, String)> = Vec::new();
            for s in &result {
                let labels = labels_text(&crate::string_map(&s["stream"]));
                for v in s["values"].as_array().into_iter().flatten() {
                    let ts: i64 = v[0]
                        .as_str()
                        .and_then(|t| t.parse().ok())
                        .context("bad timestamp")?;
                    lines.push((
                        ts,
                        labels.clone(),
                        v[1].as_str().unwrap_or_default().to_owned(),
                    ));
                }
            }
            if a.direction == "forward" {
                lines.sort_by_key(|l| l.0);
            } else {
                lines.sort_by_key(|l| std::cmp::Reverse(l.0));
            }
            let paint = conn.paint;
            for (ts, labels, line) in lines {
                match a.output {
                    Output::Raw => writeln!(out, "{line}")?,
                    _ => writeln!(
                        out,
                        "{} {} {line}",
                        paint.dim(&Timestamp::from_unix_nanos(ts).to_rfc3339_nano()),
                        paint.by_key(&labels, &labels)
                    )?,
                }
            }
        }
        Some("matrix") => {
            for s in &result {
                if a.output == Output::Table {
                    let labels = labels_text(&crate::string_map(&s["metric"]));
                    writeln!(out, "{}", conn.paint.by_key(&labels, &labels))?;
                }
                for v in s["values"].as_array().into_iter().flatten() {
                    writeln!(out, "{}", point(v, a.output))?;
                }
            }
        }
        Some("vector") => {
            for s in &result {
                writeln!(
                    out,
                    "{} {}",
                    labels_text(&crate::string_map(&s["metric"])),
                    point(&s["value"], a.output)
                )?;
            }
        }
        other => bail!("unexpected result type {other:?}"),
    }
    Ok(())
}

/// A `[seconds, "value"]` pair as text.
fn point(v: &serde_json::Value, output: Output) -> String {
    let secs = v[0].as_f64().unwrap_or_default();
    let value = v[1].as_str().unwrap_or_default();
    match output {
        Output::Raw => value.to_owned(),
        _ => format!(
            "{} {value}",
            Timestamp::from_unix_nanos((secs * 1e9) as i64).to_rfc3339_nano()
        ),
    }
}

/// Runs `kelp labels`.
pub fn run_labels(a: &LabelsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let conn = Conn::new(&a.list.conn)?;
    let (start, end) = (ago(&a.list.since, "since")?, now_ns());
    let path = match &a.name {
        Some(n) => format!("/loki/api/v1/label/{n}/values"),
        None => "/loki/api/v1/labels".into(),
    };
    let params = [("start", start.to_string()), ("end", end.to_string())];
    if a.list.output == Output::Json {
        out.write_all(&conn.get_raw(&path, &params)?)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    for v in conn.get(&path, &params)?.as_array().into_iter().flatten() {
        writeln!(out, "{}", v.as_str().unwrap_or_default())?;
    }
    Ok(())
}

/// Runs `kelp series`.
pub fn run_series(a: &SeriesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let conn = Conn::new(&a.list.conn)?;
    let range = (ago(&a.list.since, "since")?, now_ns());
    if a.list.output == Output::Json {
        let raw = conn.get_raw(
            "/loki/api/v1/series",
            &[
                ("match[]", a.selector.clone()),
                ("start", range.0.to_string()),
                ("end", range.1.to_string()),
            ],
        )?;
        out.write_all(&raw)?;
        out.write_all(b"\n")?;
        return Ok(());
    }
    for s in conn.series(&a.selector, range)? {
        writeln!(out, "{}", labels_text(&s))?;
    }
    Ok(())
}
