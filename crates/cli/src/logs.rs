//! `kelp logs`: `kubectl logs` from the store, for live and deleted pods alike.
//!
//! Same flags, defaults, output and error wording as kubectl
//! (`shared/spec/kubernetes-node-logging.md` §4), with what the store knows in place of
//! the API server: the pods and containers are those with logs in the store (the last
//! [`LOOKBACK_HOURS`]), and the container instance comes from the agent's structured
//! metadata `pod_uid` and `restart`. The current instance is the newest restart of the
//! newest pod with that name; `--previous` the restart before it. `-f` reads the tail
//! WebSocket ([`crate::tail`]); on every (re)connection it first reads what was stored
//! since the last line shown (and [`LATE_NS`] before it, for lines that arrive late) with
//! `query_range`, so a server restart loses or repeats nothing; it ends when a newer
//! instance of the container appears.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};
use kelp_model::{GoDuration, Timestamp};

use crate::config::Resolved;
use crate::tail::TailSocket;
use crate::term::{Paint, Progress};
use crate::{now_ns, quote, Conn, ConnArgs, LogLine, PAGE};

/// How far back pods and containers are looked up (the server's default query range
/// limit is 721 h).
pub const LOOKBACK_HOURS: i64 = 720;

/// Examples shown by `kelp logs --help`.
pub const EXAMPLES: &str = "\
Examples:
  # The logs of pod web-1 (also when the pod was deleted), as kubectl logs prints them:
  kelp logs web-1

  # Container sidecar of pod web-1 in namespace shop, the previous restart:
  kelp logs -n shop web-1 -c sidecar --previous

  # The last 20 lines of every pod labelled app=web, prefixed, then follow:
  kelp logs -l app=web --tail 20 --prefix -f

  # A pod of deployment web, with timestamps, for the last hour:
  kelp logs deploy/web --since 1h --timestamps

The server is --server, else $KELP_SERVER, else the config file (~/.config/kelp/config.yaml),
else http://127.0.0.1:3100; the tenant --tenant, $KELP_TENANT or the config file. -f follows
through the server's tail WebSocket and reconnects without gaps or repeats.
Exit code 0, or 1 with kubectl's message on stderr.";

/// Flags of `kelp logs` (kubectl's).
#[derive(Debug, Clone, clap::Args)]
pub struct LogsArgs {
    /// POD, or TYPE/NAME (pod/, deploy/, rs/, sts/, ds/, job/).
    #[arg(value_name = "POD | TYPE/NAME")]
    pub target: Option<String>,
    /// The container (as -c).
    #[arg(value_name = "CONTAINER")]
    pub container_arg: Option<String>,
    /// Namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Container name.
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// Every container of the pod.
    #[arg(long)]
    pub all_containers: bool,
    /// The previous instance of the container (the restart before the current one).
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Keep printing new lines.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines newer than this (e.g. 5s, 2m, 3h).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only lines after this RFC 3339 time.
    #[arg(long, value_name = "TIME")]
    pub since_time: Option<String>,
    /// Lines of recent log to show; -1 for all (default -1, or 10 with a selector).
    #[arg(long, allow_hyphen_values = true, value_name = "N")]
    pub tail: Option<i64>,
    /// Prefix each line with its RFC 3339 nanosecond timestamp.
    #[arg(long)]
    pub timestamps: bool,
    /// Label selector (k=v, k!=v, comma-separated) over the stream labels.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Prefix each line with [pod/<pod>/<container>].
    #[arg(long)]
    pub prefix: bool,
    /// Most bytes to print (timestamps included); 0 for no limit.
    #[arg(
        long,
        default_value_t = 0,
        allow_hyphen_values = true,
        value_name = "N"
    )]
    pub limit_bytes: i64,
    /// Most log streams followed at once.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_log_requests: usize,
    /// With --previous, end with the termination the agent recorded, as a comment line:
    /// `# container "app" terminated: OOMKilled (exit code 137) at <time>: <message>`
    /// (text output only; nothing when none was recorded).
    #[arg(
        long,
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub termination_reason: bool,
    /// Output: text (kubectl's), or json: one object per line with its timestamp,
    /// namespace, pod, container, stream and text, for scripts.
    #[arg(short = 'o', long, value_parser = ["text", "json"], default_value = "text")]
    pub output: String,
    /// Connection.
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// An error to print as it is (kubectl's wording), without an `error: ` prefix.
#[derive(Debug)]
pub struct Verbatim(pub String);

impl std::fmt::Display for Verbatim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Verbatim {}

/// One container instance to print.
#[derive(Debug, Clone)]
struct Target {
    namespace: String,
    pod: String,
    container: String,
    /// The stream selector with the instance's label filters.
    query: String,
    /// `(pod_uid, restart)` read, when the store has them.
    instance: Option<(String, i64)>,
}

/// Validated flags.
struct Opts {
    start: i64,
    tail: Option<usize>,
    limit_bytes: Option<u64>,
}

fn check(a: &LogsArgs) -> anyhow::Result<Opts> {
    if a.container.is_some() && a.container_arg.is_some() {
        bail!("only one of -c or an inline [CONTAINER] arg is allowed");
    }
    if a.selector.is_some() && a.target.is_some() {
        bail!("only a selector (-l) or a POD name is allowed");
    }
    if a.target.is_none() && a.selector.is_none() {
        bail!("expected POD or TYPE/NAME is a required argument for the logs command");
    }
    if let Some(c) = a.container.as_ref().or(a.container_arg.as_ref()) {
        if a.all_containers {
            bail!("--all-containers=true should not be specified with container name {c}");
        }
    }
    if a.since.is_some() && a.since_time.is_some() {
        bail!("at most one of `sinceTime` or `sinceSeconds` may be specified");
    }
    let now = now_ns();
    let mut start = now - LOOKBACK_HOURS * 3_600_000_000_000;
    if let Some(s) = &a.since {
        let d = GoDuration::parse(s)
            .map_err(|e| anyhow::anyhow!("invalid argument {s:?} for \"--since\" flag: {e}"))?;
        if d.as_nanos() < 0 {
            bail!("--since must be greater than 0");
        }
        // Rounded to whole seconds, as kubectl sends sinceSeconds.
        let secs = (d.as_nanos() + 500_000_000) / 1_000_000_000;
        if secs > 0 {
            start = start.max(now - secs * 1_000_000_000);
        }
    }
    if let Some(t) = &a.since_time {
        let ts = Timestamp::parse_rfc3339(t.as_bytes()).map_err(|e| {
            anyhow::anyhow!("invalid argument {t:?} for \"--since-time\" flag: {e}")
        })?;
        // Travels as RFC 3339 seconds: the fraction is dropped.
        let n = ts.as_unix_nanos();
        start = n - n.rem_euclid(1_000_000_000);
    }
    let tail = match a.tail {
        Some(n) if n < -1 => bail!("--tail must be greater than or equal to -1"),
        Some(-1) => None,
        Some(n) => Some(n as usize),
        None if a.selector.is_some() => Some(10),
        None => None,
    };
    let limit_bytes = match a.limit_bytes {
        n if n < 0 => bail!("--limit-bytes must be greater than 0"),
        0 => None,
        n => Some(n as u64),
    };
    Ok(Opts {
        start,
        tail,
        limit_bytes,
    })
}

/// Runs `kelp logs`, writing the lines to `out` and notices to stderr.
pub fn run(a: &LogsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let opts = check(a)?;
    let conn = Conn::new(&a.conn)?;
    let now = now_ns();
    let window = (now - LOOKBACK_HOURS * 3_600_000_000_000, now + 1);
    let ns = &a.namespace;
    let mut sel = vec![format!("namespace={}", quote(ns)), NOT_TERMINATIONS.into()];
    if let Some(s) = &a.selector {
        sel.extend(selector_matchers(s)?);
    }
    let series = conn.series(&format!("{{{}}}", sel.join(", ")), window)?;
    // pod → containers, in name order.
    let mut pods: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &series {
        if let (Some(p), Some(c)) = (s.get("pod"), s.get("container")) {
            let cs = pods.entry(p.clone()).or_default();
            if !cs.contains(c) {
                cs.push(c.clone());
            }
        }
    }
    for cs in pods.values_mut() {
        cs.sort();
    }
    let chosen: Vec<String> = match &a.target {
        Some(t) => vec![pick_pod(&conn, t, ns, &pods, window)?],
        None => {
            if pods.is_empty() {
                eprintln!("No resources found in {ns} namespace.");
                return Ok(());
            }
            pods.keys().cloned().collect()
        }
    };
    let wanted = a.container.clone().or_else(|| a.container_arg.clone());
    let mut targets = Vec::new();
    for pod in &chosen {
        let containers = &pods[pod];
        let names: Vec<String> = if a.all_containers {
            containers.clone()
        } else if let Some(c) = &wanted {
            if !containers.contains(c) {
                bail!(
                    "container {c} is not valid for pod {pod} out of: {}",
                    containers.join(", ")
                );
            }
            vec![c.clone()]
        } else if containers.len() == 1 {
            containers.clone()
        } else {
            bail!(
                "a container name must be specified for pod {pod}, choose one of: [{}]",
                containers.join(" ")
            );
        };
        for c in names {
            targets.push(instance(&conn, ns, pod, &c, a.previous, window)?);
        }
    }
    if a.follow && targets.len() > a.max_log_requests {
        bail!(
            "you are attempting to follow {} log streams, but maximum allowed concurrency is {}, use --max-log-requests to increase the limit",
            targets.len(),
            a.max_log_requests
        );
    }
    // Colour would count against --limit-bytes: the prefix is plain under a limit.
    let paint = if opts.limit_bytes.is_some() {
        Paint::new(false)
    } else {
        conn.paint
    };
    let mut printer = Printer {
        out,
        json: a.output == "json",
        timestamps: a.timestamps,
        budget: opts.limit_bytes,
        progress: &conn.progress,
        paint,
    };
    let end = now_ns() + 1;
    let mut cursors = Vec::new();
    for t in &targets {
        let mut cursor = Cursor::default();
        print_range(
            &conn,
            t,
            (opts.start, end),
            opts.tail,
            &mut printer,
            &mut cursor,
            a.prefix,
        )?;
        cursors.push(cursor);
        if printer.budget == Some(0) {
            return Ok(());
        }
        if a.previous && a.termination_reason && !printer.json {
            if let Some(c) = termination(&conn, t, window)? {
                if !printer.comment(t, &c, a.prefix)? {
                    return Ok(());
                }
            }
        }
    }
    conn.progress.finish();
    printer.out.flush().context("writing the output")?;
    if a.follow && !a.previous {
        follow(
            &conn,
            &targets,
            &mut cursors,
            &mut printer,
            a.prefix,
            window,
        )?;
    }
    Ok(())
}

/// How much older than the newest line printed a line may arrive and still be printed
/// by `-f`: an agent holds a multi-line record or a partial line (with its first part's
/// time) while the container's other stream goes on.
pub const LATE_NS: i64 = 10_000_000_000;

/// Where a container's output stands: the newest timestamp printed, nothing older than
/// `floor`, and the lines printed in the last [`LATE_NS`] (by time, stream and a hash of
/// the text: the tail and `query_range` may label one entry differently, but not its
/// stream).
#[derive(Debug, Clone)]
struct Cursor {
    last: Option<i64>,
    floor: i64,
    seen: BTreeSet<(i64, u64)>,
}

impl Default for Cursor {
    fn default() -> Self {
        Self {
            last: None,
            floor: i64::MIN,
            seen: BTreeSet::new(),
        }
    }
}

impl Cursor {
    /// Whether `l` is new (not printed yet); records it.
    fn admit(&mut self, l: &LogLine) -> bool {
        let oldest = self.last.map_or(i64::MIN, |t| t.saturating_sub(LATE_NS));
        if l.ts < self.floor || l.ts < oldest {
            return false;
        }
        let mut h = std::hash::DefaultHasher::new();
        (l.labels.get("stream"), &l.line).hash(&mut h);
        if !self.seen.insert((l.ts, h.finish())) {
            return false;
        }
        if self.last.is_none_or(|t| l.ts > t) {
            self.last = Some(l.ts);
            let keep = self.seen.split_off(&(l.ts.saturating_sub(LATE_NS), 0));
            self.seen = keep;
        }
        true
    }

    /// Where following starts: nothing older than what was printed last (or `start`).
    fn follow_from(&mut self, start: i64) -> i64 {
        let from = self.last.unwrap_or(start);
        self.floor = from;
        from
    }
}

struct Printer<'a> {
    out: &'a mut dyn Write,
    /// JSON lines instead of kubectl's text.
    json: bool,
    timestamps: bool,
    budget: Option<u64>,
    progress: &'a Progress,
    paint: Paint,
}

impl Printer<'_> {
    /// Prints one line; `false` once the byte budget is spent.
    fn line(&mut self, t: &Target, l: &LogLine, prefix: bool) -> anyhow::Result<bool> {
        self.progress.clear();
        let mut s = String::with_capacity(l.line.len() + 48);
        if self.json {
            let o = serde_json::json!({
                "timestamp": Timestamp::from_unix_nanos(l.ts).to_rfc3339_fixed(),
                "namespace": t.namespace,
                "pod": t.pod,
                "container": t.container,
                "stream": l.labels.get("stream"),
                "line": l.line,
            });
            s.push_str(&o.to_string());
        } else if prefix {
            // Coloured as stern does: the pod by its name, the container by pod and name.
            let pod = self.paint.by_key(&t.pod, &format!("pod/{}", t.pod));
            let key = format!("{}/{}", t.pod, t.container);
            let c = self.paint.by_key(&key, &t.container);
            s.push_str(&format!("[{pod}/{c}] "));
        }
        if !self.json {
            if self.timestamps {
                s.push_str(&Timestamp::from_unix_nanos(l.ts).to_rfc3339_fixed());
                s.push(' ');
            }
            s.push_str(&l.line);
        }
        s.push('\n');
        let mut bytes = s.as_bytes();
        if let Some(b) = self.budget.as_mut() {
            let n = (*b).min(bytes.len() as u64) as usize;
            bytes = &bytes[..n];
            *b -= n as u64;
        }
        self.out.write_all(bytes).context("writing the output")?;
        Ok(self.budget != Some(0))
    }

    /// Prints comment lines (each line of `text` after `# `); `false` once the byte
    /// budget is spent.
    fn comment(&mut self, t: &Target, text: &str, prefix: bool) -> anyhow::Result<bool> {
        for l in text.lines() {
            let line = LogLine {
                labels: BTreeMap::new(),
                ts: 0,
                line: format!("# {l}"),
            };
            let timestamps = std::mem::replace(&mut self.timestamps, false);
            let more = self.line(t, &line, prefix);
            self.timestamps = timestamps;
            if !more? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The `source` of the streams the agent records container terminations on.
pub const TERMINATION_SOURCE: &str = "kubernetes-termination";

/// The matcher that keeps termination streams out of log reads.
const NOT_TERMINATIONS: &str = "source!=\"kubernetes-termination\"";

/// The termination of `t`'s instance as the agent recorded it, as the comment's text:
/// `container "app" terminated: OOMKilled (exit code 137) at <finishedAt>: <message>`
/// (a message of several lines goes on following lines).
fn termination(conn: &Conn, t: &Target, window: (i64, i64)) -> anyhow::Result<Option<String>> {
    let Some((uid, restart)) = &t.instance else {
        return Ok(None);
    };
    let query = format!(
        "{{source={}, namespace={}, pod={}, container={}}} | pod_uid={} | restart={}",
        quote(TERMINATION_SOURCE),
        quote(&t.namespace),
        quote(&t.pod),
        quote(&t.container),
        quote(uid),
        quote(&restart.to_string())
    );
    let page = conn.log_page(&query, window, 1, false)?;
    Ok(page
        .first()
        .and_then(|l| termination_text(&t.container, &l.line)))
}

/// The comment for a termination record (the JSON of the container's
/// `state.terminated`); `None` when it is not one.
fn termination_text(container: &str, record: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(record).ok()?;
    let field = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    let reason = field("reason");
    let mut s = format!("container {} terminated", quote(container));
    if !reason.is_empty() {
        s.push_str(": ");
        s.push_str(&reason);
    }
    let code = v["exitCode"].as_i64()?;
    match v["signal"].as_i64().filter(|n| *n != 0) {
        Some(sig) => s.push_str(&format!(" (exit code {code}, signal {sig})")),
        None => s.push_str(&format!(" (exit code {code})")),
    }
    let at = field("finishedAt");
    if !at.is_empty() {
        s.push_str(&format!(" at {at}"));
    }
    let message = field("message");
    let message = message.trim_end();
    if !message.is_empty() {
        s.push_str(": ");
        s.push_str(message);
    }
    Some(s)
}

/// Prints `t`'s lines in `[start, end)`: all, or the last `tail`.
fn print_range(
    conn: &Conn,
    t: &Target,
    (start, end): (i64, i64),
    tail: Option<usize>,
    p: &mut Printer<'_>,
    cursor: &mut Cursor,
    prefix: bool,
) -> anyhow::Result<()> {
    match tail {
        Some(0) => {
            // Nothing shown, but following starts from now.
            cursor.last = Some(end - 1);
            Ok(())
        }
        Some(n) => {
            let mut lines: Vec<LogLine> = Vec::new();
            let mut hi = end;
            while lines.len() < n {
                let want = (n - lines.len()).min(PAGE);
                let page = conn.log_page(&t.query, (start, hi), want, false)?;
                let done = page.len() < want;
                if let Some(l) = page.last() {
                    hi = l.ts;
                }
                // The next page ends before the oldest timestamp taken: lines sharing it
                // beyond the page are dropped, as a limit cuts them in kubectl too.
                lines.extend(page);
                if done {
                    break;
                }
            }
            lines.reverse();
            for l in &lines {
                cursor.admit(l);
                if !p.line(t, l, prefix)? {
                    break;
                }
            }
            if cursor.last.is_none() {
                cursor.last = Some(start);
            }
            Ok(())
        }
        None => {
            let mut res = Ok(());
            conn.log_all(&t.query, (start, end), |l| {
                cursor.admit(l);
                match p.line(t, l, prefix) {
                    Ok(more) => Ok(more),
                    Err(e) => {
                        res = Err(e);
                        Ok(false)
                    }
                }
            })?;
            if cursor.last.is_none() {
                cursor.last = Some(start);
            }
            res
        }
    }
}

/// What a follower thread reports.
enum Event {
    /// Lines of target `.0`, oldest first.
    Lines(usize, Vec<LogLine>),
    /// A notice for stderr.
    Notice(String),
    /// A target's instance has ended: a newer one exists.
    Done,
}

/// Follows every target through the tail WebSocket (one thread and socket each) and prints
/// what is new, until each target's container has a newer instance (the followed one
/// ended) or the output budget is spent.
fn follow(
    conn: &Conn,
    targets: &[Target],
    cursors: &mut [Cursor],
    p: &mut Printer<'_>,
    prefix: bool,
    window: (i64, i64),
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::channel();
    for (i, t) in targets.iter().enumerate() {
        let (settings, t, tx) = (conn.settings.clone(), t.clone(), tx.clone());
        let from = cursors[i].follow_from(window.0);
        std::thread::Builder::new()
            .name(format!("follow-{i}"))
            .spawn(move || {
                let mut f = Follower {
                    i,
                    t,
                    floor: from,
                    from,
                    window,
                    tx,
                };
                f.run(&settings)
            })
            .context("starting a follower thread")?;
    }
    drop(tx);
    let mut live = targets.len();
    while live > 0 {
        let Ok(ev) = rx.recv() else { break };
        match ev {
            Event::Lines(i, lines) => {
                for l in &lines {
                    if cursors[i].admit(l) && !p.line(&targets[i], l, prefix)? {
                        return Ok(());
                    }
                }
                p.out.flush().context("writing the output")?;
            }
            Event::Notice(n) => eprintln!("kelp logs: {n}"),
            Event::Done => live -= 1,
        }
    }
    Ok(())
}

/// One target's follower: reconnects until the instance ends.
struct Follower {
    i: usize,
    t: Target,
    /// Nothing older is read (where following started).
    floor: i64,
    /// The newest timestamp handed on: a reconnection reads the store from [`LATE_NS`]
    /// before it (the printer drops what it printed already).
    from: i64,
    window: (i64, i64),
    tx: mpsc::Sender<Event>,
}

/// How far past now a gap read reaches (entries stamped slightly in the future).
const GAP_AHEAD_NS: i64 = 3_600_000_000_000;

impl Follower {
    fn run(&mut self, settings: &Resolved) {
        let Ok(conn) = Conn::with_settings(settings.clone()) else {
            let _ = self.tx.send(Event::Done);
            return;
        };
        let sel = base_selector(&self.t.namespace, &self.t.pod, &self.t.container);
        let mut outage = false;
        loop {
            match self.session(&conn, settings, &sel) {
                Ok(true) => {
                    let _ = self.tx.send(Event::Done);
                    return;
                }
                Ok(false) => {}
                Err(e) => {
                    // Once per outage, not once per attempt.
                    if !outage {
                        let n = format!("{e:#}; reconnecting");
                        if self.tx.send(Event::Notice(n)).is_err() {
                            return;
                        }
                    }
                    outage = true;
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            }
            outage = false;
        }
    }

    /// One connection: subscribe, read the gap from the store, then stream. `Ok(true)`
    /// when the instance has ended; `Ok(false)` to reconnect at once.
    fn session(&mut self, conn: &Conn, settings: &Resolved, sel: &str) -> anyhow::Result<bool> {
        let (mut ws, early) = TailSocket::connect(settings, sel, now_ns(), 1)?;
        // Subscribed: everything stored from now on comes through the socket; what was
        // stored before comes from the store.
        let mut gap = Vec::new();
        conn.log_all(
            &self.t.query,
            (self.gap_start(), now_ns() + GAP_AHEAD_NS),
            |l| {
                gap.push(l.clone());
                Ok(true)
            },
        )?;
        if !self.hand_on(gap)? {
            return Ok(true);
        }
        if let Some((uid, restart)) = &self.t.instance {
            if let Ok(Some(newest)) = newest_instance(conn, &self.t, self.window) {
                if newest.0 != *uid || newest.1 > *restart {
                    return Ok(true);
                }
            }
        }
        let mut lines = early;
        loop {
            let ended = self.newer_in(&lines);
            lines.retain(|l| self.ours(l));
            if !self.hand_on(std::mem::take(&mut lines))? {
                return Ok(true);
            }
            if ended {
                // Lines of the ended instance stored late (its last partial line).
                let mut rest = Vec::new();
                conn.log_all(
                    &self.t.query,
                    (self.gap_start(), now_ns() + GAP_AHEAD_NS),
                    |l| {
                        rest.push(l.clone());
                        Ok(true)
                    },
                )?;
                self.hand_on(rest)?;
                return Ok(true);
            }
            let frame = ws.next_frame()?;
            lines = frame.lines;
            if frame.dropped > 0 {
                // The server dropped entries newer than these: hand these on and read
                // the rest from the store after reconnecting.
                lines.retain(|l| self.ours(l));
                self.hand_on(lines)?;
                let n = format!(
                    "{} entries dropped by the server; catching up",
                    frame.dropped
                );
                let _ = self.tx.send(Event::Notice(n));
                return Ok(false);
            }
        }
    }

    /// Where a read of the store starts: late lines are looked for too.
    fn gap_start(&self) -> i64 {
        self.from.saturating_sub(LATE_NS).max(self.floor)
    }

    /// Whether `l` belongs to the followed instance.
    fn ours(&self, l: &LogLine) -> bool {
        match &self.t.instance {
            None => true,
            Some((uid, restart)) => instance_of(l).is_some_and(|(u, r)| u == *uid && r == *restart),
        }
    }

    /// Whether `lines` show a newer instance than the followed one.
    fn newer_in(&self, lines: &[LogLine]) -> bool {
        let Some((uid, restart)) = &self.t.instance else {
            return false;
        };
        lines
            .iter()
            .filter_map(instance_of)
            .any(|(u, r)| u != *uid || r > *restart)
    }

    /// Sends lines to the printer; `false` when it has stopped listening.
    fn hand_on(&mut self, lines: Vec<LogLine>) -> anyhow::Result<bool> {
        if lines.is_empty() {
            return Ok(true);
        }
        if let Some(m) = lines.iter().map(|l| l.ts).max() {
            self.from = self.from.max(m);
        }
        Ok(self.tx.send(Event::Lines(self.i, lines)).is_ok())
    }
}

/// The `(pod_uid, restart)` of the newest line of `t`'s container.
fn newest_instance(
    conn: &Conn,
    t: &Target,
    window: (i64, i64),
) -> anyhow::Result<Option<(String, i64)>> {
    let sel = base_selector(&t.namespace, &t.pod, &t.container);
    let page = conn.log_page(&sel, (window.0, now_ns() + 1), 1, false)?;
    Ok(page.first().and_then(instance_of))
}

fn base_selector(ns: &str, pod: &str, container: &str) -> String {
    format!(
        "{{namespace={}, pod={}, container={}, {NOT_TERMINATIONS}}}",
        quote(ns),
        quote(pod),
        quote(container)
    )
}

fn instance_of(l: &LogLine) -> Option<(String, i64)> {
    let uid = l.labels.get("pod_uid")?.clone();
    let restart = l.labels.get("restart")?.parse().ok()?;
    Some((uid, restart))
}

/// The instance of `container` to read: the newest (or, `previous`, the one before).
fn instance(
    conn: &Conn,
    ns: &str,
    pod: &str,
    container: &str,
    previous: bool,
    window: (i64, i64),
) -> anyhow::Result<Target> {
    let sel = base_selector(ns, pod, container);
    let newest = conn.log_page(&sel, window, 1, false)?;
    let Some((uid, restart)) = newest.first().and_then(instance_of) else {
        // Lines without the agent's metadata: every line of the container.
        if previous {
            return Err(Verbatim(format!(
                "Error from server (BadRequest): previous terminated container {} in pod {} not found",
                quote(container),
                quote(pod)
            ))
            .into());
        }
        return Ok(Target {
            namespace: ns.into(),
            pod: pod.into(),
            container: container.into(),
            query: sel,
            instance: None,
        });
    };
    let restart = if previous {
        let before = format!("{sel} | pod_uid={} | restart < {restart}", quote(&uid));
        let page = conn.log_page(&before, window, 1, false)?;
        match page.first().and_then(instance_of) {
            Some((_, r)) => r,
            None => {
                return Err(Verbatim(format!(
                    "Error from server (BadRequest): previous terminated container {} in pod {} not found",
                    quote(container),
                    quote(pod)
                ))
                .into())
            }
        }
    } else {
        restart
    };
    Ok(Target {
        namespace: ns.into(),
        pod: pod.into(),
        container: container.into(),
        query: format!(
            "{sel} | pod_uid={} | restart={}",
            quote(&uid),
            quote(&restart.to_string())
        ),
        instance: Some((uid, restart)),
    })
}

/// The pod a `POD` or `TYPE/NAME` argument names.
fn pick_pod(
    conn: &Conn,
    target: &str,
    ns: &str,
    pods: &BTreeMap<String, Vec<String>>,
    window: (i64, i64),
) -> anyhow::Result<String> {
    let not_found = |kind: &str, name: &str| {
        anyhow::anyhow!(
            "error from server (NotFound): {kind} {} not found in namespace {}",
            quote(name),
            quote(ns)
        )
    };
    let Some((kind, name)) = target.split_once('/') else {
        return if pods.contains_key(target) {
            Ok(target.to_owned())
        } else {
            Err(not_found("pods", target))
        };
    };
    let (kind, shape): (&str, fn(&str) -> bool) = match kind {
        "pod" | "pods" | "po" => {
            return if pods.contains_key(name) {
                Ok(name.to_owned())
            } else {
                Err(not_found("pods", name))
            }
        }
        "deployment" | "deployments" | "deploy" => ("deployments.apps", |s| {
            // <rs hash>-<5 chars>
            s.split_once('-')
                .is_some_and(|(h, r)| is_suffix(h, 1..=10) && is_suffix(r, 5..=5))
        }),
        "replicaset" | "replicasets" | "rs" | "daemonset" | "daemonsets" | "ds" | "job"
        | "jobs" => ("pods", |s| is_suffix(s, 5..=5)),
        "statefulset" | "statefulsets" | "sts" => ("statefulsets.apps", |s| {
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
        }),
        other => bail!("the server doesn't have a resource type {}", quote(other)),
    };
    let matching: Vec<&String> = pods
        .keys()
        .filter(|p| {
            p.strip_prefix(name)
                .and_then(|r| r.strip_prefix('-'))
                .is_some_and(shape)
        })
        .collect();
    match matching.len() {
        0 => Err(not_found(kind, name)),
        1 => Ok(matching[0].clone()),
        n => {
            // The one with the newest line: the live one, if any.
            let mut best: Option<(i64, &String)> = None;
            for p in &matching {
                let sel = format!("{{namespace={}, pod={}}}", quote(ns), quote(p));
                let last = conn.log_page(&sel, window, 1, false)?;
                let ts = last.first().map_or(i64::MIN, |l| l.ts);
                if best.is_none_or(|b| ts > b.0) {
                    best = Some((ts, p));
                }
            }
            let pod = best.map(|b| b.1.clone()).unwrap_or_default();
            eprintln!("Found {n} pods, using pod/{pod}");
            Ok(pod)
        }
    }
}

/// Whether `s` is a generated name suffix: lowercase letters and digits, of a length in
/// `len`.
fn is_suffix(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// LogQL matchers of a kubectl label selector: `k=v`, `k==v`, `k!=v`, comma-separated.
fn selector_matchers(s: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, op, v) = if let Some((k, v)) = part.split_once("!=") {
            (k, "!=", v)
        } else if let Some((k, v)) = part.split_once("==") {
            (k, "=", v)
        } else if let Some((k, v)) = part.split_once('=') {
            (k, "=", v)
        } else {
            bail!("unable to parse requirement: {}", quote(part));
        };
        let k = k.trim();
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            bail!("unable to parse requirement: {}", quote(part));
        }
        out.push(format!("{k}{op}{}", quote(v.trim())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn termination_comments() {
        let t = |r: &str| termination_text("app", r);
        assert_eq!(
            t(r#"{"reason":"OOMKilled","exitCode":137,"finishedAt":"2026-11-23T01:10:00Z"}"#)
                .as_deref(),
            Some("container \"app\" terminated: OOMKilled (exit code 137) at 2026-11-23T01:10:00Z")
        );
        assert_eq!(
            t(r#"{"reason":"Error","exitCode":2,"signal":15,"message":"panic: x\ngoroutine 1\n","finishedAt":"2026-11-23T01:10:00Z"}"#).as_deref(),
            Some("container \"app\" terminated: Error (exit code 2, signal 15) at 2026-11-23T01:10:00Z: panic: x\ngoroutine 1")
        );
        assert_eq!(
            t(r#"{"exitCode":0}"#).as_deref(),
            Some("container \"app\" terminated (exit code 0)")
        );
        // Not a termination record: nothing.
        assert_eq!(t("plain text"), None);
        assert_eq!(t(r#"{"reason":"Error"}"#), None);
    }

    #[test]
    fn selectors_become_matchers() {
        assert_eq!(
            selector_matchers("app=web, tier!=db,x==1").unwrap(),
            [r#"app="web""#, r#"tier!="db""#, r#"x="1""#]
        );
        assert!(selector_matchers("app").is_err());
        assert!(selector_matchers("a-b=c").is_err());
    }

    #[test]
    fn generated_suffixes() {
        assert!(is_suffix("7d9f8", 5..=5));
        assert!(!is_suffix("7D9f8", 5..=5));
        assert!(!is_suffix("7d9f", 5..=5));
    }

    #[test]
    fn cursor_admits_each_line_once() {
        let l = |ts, s: &str| LogLine {
            labels: BTreeMap::new(),
            ts,
            line: s.into(),
        };
        let mut c = Cursor::default();
        assert!(c.admit(&l(5, "a")));
        assert!(c.admit(&l(5, "b")));
        assert!(!c.admit(&l(5, "a")));
        // Late, but within LATE_NS of the newest: printed once.
        assert!(c.admit(&l(4, "z")));
        assert!(!c.admit(&l(4, "z")));
        assert!(c.admit(&l(6, "a")));
        assert!(!c.admit(&l(6, "a")));
        // Too late, and below the floor.
        assert!(c.admit(&l(LATE_NS + 10, "x")));
        assert!(!c.admit(&l(5, "late")));
        c.follow_from(0);
        assert!(!c.admit(&l(LATE_NS + 9, "before the floor")));
        assert!(c.admit(&l(LATE_NS + 10, "y")));
    }
}
