//! `kelp verify`: compares a `kelp simulate` ledger with what a Kelp server stored, through
//! the query API, and reports lost, duplicated and altered lines.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kelp_client::{Client, RetryPolicy};
use kelp_model::Timestamp;
use sha2::{Digest, Sha256};

/// Examples shown by `kelp verify --help`.
pub const EXAMPLES: &str = "\
Examples:
  # After `kelp simulate --ledger /tmp/node/ledger.jsonl` and `kelp agent`:
  kelp verify --ledger /tmp/node/ledger.jsonl --server http://127.0.0.1:3100

Lines are compared as multisets of (timestamp, sha256 of the line) per
(namespace, pod, container, stream). Exit status 1 when any line is lost, duplicated
or altered. With a token file on the server, set KELP_TOKEN to a read token.";

/// Flags of `kelp verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The ledger `kelp simulate --ledger` wrote.
    #[arg(long, value_name = "FILE")]
    ledger: PathBuf,
    /// The Kelp server.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:3100")]
    server: String,
    /// Entries asked for per query.
    #[arg(long, default_value_t = 5000)]
    page: usize,
}

/// What the comparison found.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Logical lines the ledger lists.
    pub ledger_lines: u64,
    /// Lines the server returned for the ledger's streams and time span.
    pub stored_lines: u64,
    /// Ledger lines missing from the store.
    pub lost: u64,
    /// Ledger lines stored more than once.
    pub duplicated: u64,
    /// Stored lines the ledger does not list.
    pub altered: u64,
    /// Up to ten examples of problems.
    pub examples: Vec<String>,
}

impl Report {
    /// Whether nothing was lost, duplicated or altered.
    pub fn is_exact(&self) -> bool {
        self.lost + self.duplicated + self.altered == 0
    }
}

type Multiset = HashMap<(i64, String), u64>;

/// Runs the comparison and prints the report as one JSON line.
pub fn run(args: VerifyArgs) -> anyhow::Result<()> {
    let token = std::env::var("KELP_TOKEN").ok().filter(|t| !t.is_empty());
    let report = compare(&args.ledger, &args.server, args.page, token.as_deref())?;
    println!("{}", serde_json::to_string(&report)?);
    if !report.is_exact() {
        std::process::exit(1);
    }
    Ok(())
}

/// Compares the ledger at `ledger_path` with what the server at `server` stored, sending
/// `token` as a bearer token when given.
pub fn compare(
    ledger_path: &Path,
    server: &str,
    page: usize,
    token: Option<&str>,
) -> anyhow::Result<Report> {
    let ledger = kelp_sim::verify::read_ledger(ledger_path)?;
    let mut want: BTreeMap<[String; 4], Multiset> = BTreeMap::new();
    for e in &ledger {
        let t = Timestamp::parse_rfc3339(e.time.as_bytes())
            .with_context(|| format!("ledger time {}", e.time))?;
        let key = [
            e.namespace.clone(),
            e.pod.clone(),
            e.container.clone(),
            e.stream.clone(),
        ];
        *want
            .entry(key)
            .or_default()
            .entry((t.as_unix_nanos(), e.sha256.clone()))
            .or_default() += 1;
    }
    let mut client = Client::new(
        server,
        RetryPolicy {
            max_attempts: Some(5),
            ..RetryPolicy::default()
        },
    )?;
    if let Some(t) = token {
        client = client.with_header("Authorization", &format!("Bearer {t}"));
    }
    let mut report = Report {
        ledger_lines: ledger.len() as u64,
        ..Report::default()
    };
    for (key, wanted) in &want {
        let first = wanted.keys().map(|k| k.0).min().unwrap_or(0);
        let last = wanted.keys().map(|k| k.0).max().unwrap_or(0);
        let got = fetch(&client, key, first, last + 1, page)?;
        report.stored_lines += got.values().sum::<u64>();
        for (entry, &n) in wanted {
            let s = got.get(entry).copied().unwrap_or(0);
            if s < n {
                report.lost += n - s;
                example(&mut report, format!("lost {key:?} {entry:?}"));
            }
            if s > n {
                report.duplicated += s - n;
                example(&mut report, format!("duplicated {key:?} {entry:?} x{s}"));
            }
        }
        for (entry, &s) in &got {
            if !wanted.contains_key(entry) {
                report.altered += s;
                example(&mut report, format!("unknown {key:?} {entry:?}"));
            }
        }
    }
    Ok(report)
}

fn example(report: &mut Report, text: String) {
    if report.examples.len() < 10 {
        report.examples.push(text);
    }
}

/// Every entry of one stream in `[start, end)`, paging forward.
fn fetch(
    client: &Client,
    key: &[String; 4],
    mut start: i64,
    end: i64,
    page: usize,
) -> anyhow::Result<Multiset> {
    let query = format!(
        r#"{{namespace="{}",pod="{}",container="{}",stream="{}"}}"#,
        key[0], key[1], key[2], key[3]
    );
    let mut out = Multiset::new();
    loop {
        let qs = form_urlencoded::Serializer::new(String::new())
            .append_pair("query", &query)
            .append_pair("start", &start.to_string())
            .append_pair("end", &end.to_string())
            .append_pair("limit", &page.to_string())
            .append_pair("direction", "forward")
            .finish();
        let body = client.get(&format!("/loki/api/v1/query_range?{qs}"))?;
        let v: serde_json::Value = serde_json::from_slice(&body)?;
        let mut entries: Vec<(i64, String)> = Vec::new();
        for stream in v["data"]["result"].as_array().into_iter().flatten() {
            for pair in stream["values"].as_array().into_iter().flatten() {
                let ts: i64 = pair[0].as_str().unwrap_or_default().parse()?;
                let line = pair[1].as_str().unwrap_or_default();
                entries.push((ts, hex::encode(Sha256::digest(line.as_bytes()))));
            }
        }
        entries.sort();
        if entries.len() < page {
            for e in entries {
                *out.entry(e).or_default() += 1;
            }
            return Ok(out);
        }
        // A full page: the entries at its last timestamp may continue on the next page,
        // so they are asked for again from there.
        let last_ts = entries[entries.len() - 1].0;
        if entries[0].0 == last_ts {
            bail!("more than {page} entries at one timestamp in {query}; raise --page");
        }
        for e in entries.into_iter().filter(|e| e.0 != last_ts) {
            *out.entry(e).or_default() += 1;
        }
        start = last_ts;
    }
}
