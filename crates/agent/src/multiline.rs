//! Multi-line joining: the lines of one stack trace (or any record an application writes
//! over several lines) become one entry.
//!
//! A rule is chosen per container log by namespace, pod and container (the first matching
//! rule in [`MultilineConfig::rules`]; none by default). It decides for each line whether
//! it **continues** the record being built or **starts** a new one:
//!
//! - `java`: a line continues when it is a stack frame (whitespace, then `at `), an elision
//!   (`... N more`, `... N common frames omitted`), logback's indented
//!   `[CIRCULAR REFERENCE: …]`, or starts (after optional whitespace) with `Caused by:`,
//!   `Suppressed:` or logback's `Wrapped by:`. The exception's first line (`java.io.IOException:
//!   …`) starts the record, as does the log line before it: for log4j/logback output whose
//!   events begin with a timestamp, a `custom` rule keeps the message with its trace.
//! - `python`: `Traceback (most recent call last):` starts a record; the indented lines
//!   after it continue it, and so does the first line that is not indented (the
//!   `ExcType: message` line), which ends it.
//! - `go`: `panic: `, `fatal error: ` or `goroutine N [...]:` starts a record; until a line
//!   that fits none of these, blank lines, indented lines (`\t/path/file.go:12 +0x1d`),
//!   function lines (`main.main()`), `goroutine N [...]:`, `created by …`, `[signal …`,
//!   `exit status N` and `...additional frames elided...` continue it.
//! - `custom`: a line matching the `start` regex starts a record; any other line continues
//!   the record being built.
//!
//! Joining runs per container log and stream (stdout and stderr apart), after CRI/docker
//! partial lines are rejoined. A record is the lines joined with `\n`; its timestamp is
//! its first line's. It goes out when a line starts the next record, when its stream got
//! no new line (nor partial piece) for [`MultilineConfig::flush_timeout`], when the
//! container instance is over, or when the next line would make it longer than
//! [`MultilineConfig::max_record_bytes`]: it is then split **between lines**, and the
//! line that did not fit starts a new record that later continuation lines join (no
//! marker is added, no byte lost; a single line is never cut here, the partial-line
//! joiner already bounds it). So the records of a stream, joined with `\n`, are always
//! exactly its lines.
//!
//! While a record is being built, the container log's checkpoint stays at the start of its
//! first line, so a crash replays it and it is joined again whole.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use kelp_model::Timestamp;
use regex::bytes::Regex;
use serde::{Deserialize, Deserializer};

use crate::error::AgentError;
use crate::policy::{Selector, Target};
use crate::process::COUNTERS;

/// The `multiline:` section of the agent's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultilineConfig {
    /// Rules, the first whose selector matches a container log applies to it.
    pub rules: Vec<MultilineRule>,
    /// A record goes out once its stream got no new line for this long (Go syntax:
    /// `500ms`, `2s`). Default 1 s.
    #[serde(deserialize_with = "go_duration")]
    pub flush_timeout: Duration,
    /// A record is split between lines before it grows past this size (`256Ki`, or a
    /// number of bytes). Default 256 KiB, Loki's default `max_line_size`.
    #[serde(deserialize_with = "byte_size")]
    pub max_record_bytes: usize,
}

impl Default for MultilineConfig {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            flush_timeout: Duration::from_secs(1),
            max_record_bytes: 256 * 1024,
        }
    }
}

/// One rule: which container logs, and how their records begin.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineRule {
    /// Pattern for the namespace (default: any); globs or `/regex/` as in policies.
    pub namespace: Option<String>,
    /// Pattern for the pod (default: any).
    pub pod: Option<String>,
    /// Pattern for the container (default: any).
    pub container: Option<String>,
    /// `java`, `python`, `go` or `custom`.
    pub kind: MultilineKind,
    /// For `custom` (required there, refused elsewhere): a line matching it starts a
    /// record.
    pub start: Option<String>,
}

/// The kinds of rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MultilineKind {
    /// Java (and JVM languages) stack traces.
    Java,
    /// Python tracebacks.
    Python,
    /// Go panics and goroutine dumps.
    Go,
    /// A `start` regex.
    Custom,
}

fn go_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    kelp_model::GoDuration::parse(&s)
        .map(|g| g.to_std())
        .map_err(serde::de::Error::custom)
}

fn byte_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(u64),
        S(String),
    }
    let n = match Size::deserialize(d)? {
        Size::N(n) => n,
        Size::S(s) => kelp_model::ByteSize::parse(&s)
            .map_err(serde::de::Error::custom)?
            .as_u64(),
    };
    usize::try_from(n).map_err(serde::de::Error::custom)
}

/// How a rule decides.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    Java,
    Python,
    Go,
    Custom(Regex),
}

/// What a rule remembers of the lines before (per stream).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum State {
    #[default]
    Out,
    /// Inside a Python traceback's frames.
    Traceback,
    /// Inside a Go panic or goroutine dump.
    Panic,
}

impl Rule {
    /// Whether `line` continues the record before it; updates the state.
    pub(crate) fn continues(&self, state: &mut State, line: &[u8]) -> bool {
        match self {
            Rule::Java => java_continues(line),
            Rule::Custom(start) => !start.is_match(line),
            Rule::Python => {
                if line.starts_with(b"Traceback (most recent call last):") {
                    *state = State::Traceback;
                    return false;
                }
                if *state != State::Traceback {
                    return false;
                }
                match line.first() {
                    Some(b' ' | b'\t') => true,
                    None => {
                        *state = State::Out;
                        false
                    }
                    // `ValueError: bad` ends the traceback, as part of it.
                    Some(_) => {
                        *state = State::Out;
                        true
                    }
                }
            }
            Rule::Go => {
                if *state == State::Panic && go_continues(line) {
                    return true;
                }
                *state = if go_starts(line) {
                    State::Panic
                } else {
                    State::Out
                };
                false
            }
        }
    }
}

fn trim_start(line: &[u8]) -> &[u8] {
    let n = line
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count();
    &line[n..]
}

fn java_continues(line: &[u8]) -> bool {
    let rest = trim_start(line);
    let indented = rest.len() < line.len();
    (indented && (rest.starts_with(b"at ") || rest.starts_with(b"[CIRCULAR REFERENCE")))
        || rest.starts_with(b"Caused by:")
        || rest.starts_with(b"Suppressed:")
        || rest.starts_with(b"Wrapped by:")
        || rest
            .strip_prefix(b"... ")
            .is_some_and(|r| r.first().is_some_and(u8::is_ascii_digit))
}

fn goroutine_header(line: &[u8]) -> bool {
    line.strip_prefix(b"goroutine ")
        .is_some_and(|r| r.first().is_some_and(u8::is_ascii_digit) && r.ends_with(b"]:"))
}

fn go_starts(line: &[u8]) -> bool {
    line.starts_with(b"panic: ") || line.starts_with(b"fatal error: ") || goroutine_header(line)
}

fn go_continues(line: &[u8]) -> bool {
    match line.first() {
        None | Some(b' ' | b'\t') => return true,
        _ => {}
    }
    if goroutine_header(line)
        || line.starts_with(b"created by ")
        || line.starts_with(b"[signal ")
        || line.starts_with(b"exit status ")
        || line.starts_with(b"panic: ")
        || line.starts_with(b"...additional frames elided...")
    {
        return true;
    }
    // A function line: `pkg/path.(*T).Method(0xc000, ...)`: no space before the first
    // `(`, and it ends with `)`.
    match line.iter().position(|&b| b == b'(' || b == b' ') {
        Some(i) => i > 0 && line[i] == b'(' && line.ends_with(b")"),
        None => false,
    }
}

/// The compiled `multiline:` section.
#[derive(Debug, Clone)]
pub(crate) struct Multiline {
    rules: Vec<(Selector, Rule)>,
    pub(crate) flush_timeout: Duration,
    pub(crate) max_record_bytes: usize,
}

impl Multiline {
    pub(crate) fn compile(c: &MultilineConfig) -> Result<Self, AgentError> {
        let mut rules = Vec::new();
        for (i, r) in c.rules.iter().enumerate() {
            let name = format!("multiline.rules[{i}]");
            let sel = Selector::compile([&r.namespace, &r.pod, &r.container, &None], &name, true)?;
            let rule = match (r.kind, &r.start) {
                (MultilineKind::Custom, Some(start)) => {
                    Rule::Custom(Regex::new(start).map_err(|e| {
                        AgentError::Config(format!("{name}: invalid start regex {start:?}: {e}"))
                    })?)
                }
                (MultilineKind::Custom, None) => {
                    return Err(AgentError::Config(format!(
                        "{name}: kind custom needs a start regex"
                    )))
                }
                (_, Some(_)) => {
                    return Err(AgentError::Config(format!(
                        "{name}: start is only for kind custom"
                    )))
                }
                (MultilineKind::Java, None) => Rule::Java,
                (MultilineKind::Python, None) => Rule::Python,
                (MultilineKind::Go, None) => Rule::Go,
            };
            rules.push((sel, rule));
        }
        if c.max_record_bytes == 0 {
            return Err(AgentError::Config(
                "multiline.max_record_bytes: must be at least 1".into(),
            ));
        }
        Ok(Self {
            rules,
            flush_timeout: c.flush_timeout,
            max_record_bytes: c.max_record_bytes,
        })
    }

    /// The rule for a container log, if any.
    pub(crate) fn rule_for(&self, t: Target<'_>) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|(sel, _)| sel.matches_target(t))
            .map(|(_, r)| r)
    }
}

/// A record as it goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Record<'a> {
    /// 0 stdout, 1 stderr.
    pub(crate) stream: usize,
    /// The first line's timestamp.
    pub(crate) timestamp: Timestamp,
    /// The lines, joined with `\n`.
    pub(crate) content: &'a [u8],
}

/// Capacity a stream's buffer keeps between records.
const RETAINED_BYTES: usize = 64 * 1024;

/// The joiner of one container log: a record being built per stream. `S` is where a
/// record began (the agent keeps a checkpoint mark there).
#[derive(Debug)]
pub(crate) struct Combiner<S> {
    rule: Rule,
    max: usize,
    timeout: Duration,
    streams: [Slot<S>; 2],
}

#[derive(Debug)]
struct Slot<S> {
    state: State,
    buf: Vec<u8>,
    open: Option<Open<S>>,
}

impl<S> Default for Slot<S> {
    fn default() -> Self {
        Self {
            state: State::Out,
            buf: Vec::new(),
            open: None,
        }
    }
}

#[derive(Debug)]
struct Open<S> {
    timestamp: Timestamp,
    start: S,
    lines: u32,
    last: Instant,
}

impl<S> Slot<S> {
    /// Hands out the record being built, if any, and empties the slot.
    fn flush(&mut self, stream: usize, emit: &mut dyn FnMut(Record<'_>)) {
        if let Some(open) = self.open.take() {
            if open.lines > 1 {
                COUNTERS.multiline_records.fetch_add(1, Ordering::Relaxed);
            }
            emit(Record {
                stream,
                timestamp: open.timestamp,
                content: &self.buf,
            });
            self.buf.clear();
            if self.buf.capacity() > RETAINED_BYTES {
                self.buf = Vec::new();
            }
        }
    }
}

impl<S> Combiner<S> {
    pub(crate) fn new(rule: Rule, max_record_bytes: usize, flush_timeout: Duration) -> Self {
        Self {
            rule,
            max: max_record_bytes.max(1),
            timeout: flush_timeout,
            streams: Default::default(),
        }
    }

    /// Takes the next line of stream `k` (0 stdout, 1 stderr); `start` says where it
    /// began, asked only when the line starts a record. Hands out the record it ends.
    pub(crate) fn push(
        &mut self,
        k: usize,
        line: &[u8],
        timestamp: Timestamp,
        start: impl FnOnce() -> S,
        now: Instant,
        emit: &mut dyn FnMut(Record<'_>),
    ) {
        let slot = &mut self.streams[k];
        let continues = self.rule.continues(&mut slot.state, line);
        if let Some(open) = &mut slot.open {
            if continues {
                if slot.buf.len() + 1 + line.len() <= self.max {
                    slot.buf.push(b'\n');
                    slot.buf.extend_from_slice(line);
                    open.lines += 1;
                    open.last = now;
                    return;
                }
                COUNTERS.multiline_splits.fetch_add(1, Ordering::Relaxed);
            }
            slot.flush(k, emit);
        }
        slot.buf.extend_from_slice(line);
        slot.open = Some(Open {
            timestamp,
            start: start(),
            lines: 1,
            last: now,
        });
    }

    /// Hands out the records whose stream got no line for the flush timeout, except on
    /// the streams where `busy` says a partial line is still arriving.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        busy: [bool; 2],
        emit: &mut dyn FnMut(Record<'_>),
    ) {
        for (k, slot) in self.streams.iter_mut().enumerate() {
            let due = slot
                .open
                .as_ref()
                .is_some_and(|o| !busy[k] && now.saturating_duration_since(o.last) >= self.timeout);
            if due {
                COUNTERS.multiline_timeouts.fetch_add(1, Ordering::Relaxed);
                slot.flush(k, emit);
            }
        }
    }

    /// Keeps a stream's record open while partial pieces of its next line arrive.
    pub(crate) fn touch(&mut self, k: usize, now: Instant) {
        if let Some(o) = &mut self.streams[k].open {
            o.last = now;
        }
    }

    /// Hands out every record being built (the instance is over).
    pub(crate) fn finish(&mut self, emit: &mut dyn FnMut(Record<'_>)) {
        for (k, slot) in self.streams.iter_mut().enumerate() {
            slot.flush(k, emit);
        }
    }

    /// Where the records being built began, per stream.
    pub(crate) fn starts(&self) -> impl Iterator<Item = &S> {
        self.streams
            .iter()
            .filter_map(|s| s.open.as_ref().map(|o| &o.start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Joins `text`'s lines (all stdout) with `rule`; the records, flushed at the end.
    fn join(rule: Rule, max: usize, text: &str) -> Vec<String> {
        let mut c: Combiner<usize> = Combiner::new(rule, max, Duration::from_secs(1));
        let mut out = Vec::new();
        let now = Instant::now();
        let mut emit = |r: Record<'_>| out.push(String::from_utf8(r.content.to_vec()).unwrap());
        for (i, line) in text.split('\n').enumerate() {
            c.push(
                0,
                line.as_bytes(),
                Timestamp::from_unix_nanos(i as i64),
                || i,
                now,
                &mut emit,
            );
        }
        c.finish(&mut emit);
        out
    }

    fn corpus(path: &str) -> String {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/");
        std::fs::read_to_string(format!("{root}{path}")).unwrap()
    }

    #[test]
    fn java_joins_the_jboss_exceptions_of_the_corpus() {
        for (file, first) in [
            (
                "exception-with-causes.txt",
                "org.jboss.qa.bpms.rest.wb.RequestFailureException",
            ),
            (
                "exception-with-causes2.txt",
                "javax.servlet.ServletException",
            ),
            ("exception-with-line-prefix.txt", "20:32:13,501 ERROR"),
        ] {
            let text = corpus(&format!("jboss-eap-java-multiline/exceptions/{file}"));
            let records = join(Rule::Java, 1 << 20, &text);
            assert_eq!(
                records.len(),
                1,
                "{file}: {:?}",
                &records[..records.len().min(3)]
            );
            assert!(records[0].starts_with(first), "{file}");
            assert!(records[0].contains("Caused by:") || !text.contains("Caused by:"));
        }
        // The real-world server log: each ERROR with its 30 frames is one record, the
        // lines around it are their own.
        let text = corpus("jboss-eap-java-multiline/realworld.append");
        let records = join(Rule::Java, 1 << 20, &text);
        let lines = text.split('\n').count();
        let frames = text.split('\n').filter(|l| l.starts_with("\tat ")).count();
        assert!(frames > 100, "{frames}");
        assert_eq!(records.len(), lines - frames);
        let traces: Vec<&String> = records.iter().filter(|r| r.contains("\n\tat ")).collect();
        assert!(traces.len() >= 4, "{}", traces.len());
        for t in traces {
            let first = t.lines().next().unwrap();
            assert!(
                first.contains(" ERROR ") || first.contains("Exception"),
                "{first}"
            );
            assert!(t.ends_with(')') || t.ends_with(']'), "{t}");
        }
    }

    #[test]
    fn java_and_custom_on_the_kafka_log4j_corpus() {
        let text = corpus("elastic-kafka-log4j/kafka0/logs/server.log.2016-12-19-20");
        let records = join(Rule::Java, 1 << 20, &text);
        // The built-in starts the record at the exception's first line ...
        assert_eq!(
            records[1].lines().next().unwrap(),
            "java.io.IOException: Connection to 2 was disconnected before the response was read"
        );
        assert!(records[1].lines().count() > 10);
        assert!(records[1].lines().skip(1).all(|l| l.starts_with("\tat ")));
        // ... a custom rule on log4j's `[date]` keeps the message with it.
        let custom = Rule::Custom(Regex::new(r"^\[\d{4}-\d\d-\d\d ").unwrap());
        let records = join(custom, 1 << 20, &text);
        assert!(records[0].starts_with("[2016-12-19 20:39:48,918] WARN [ReplicaFetcherThread-0-2]"));
        assert!(records[0].contains("\njava.io.IOException: Connection to 2"));
        assert!(records
            .iter()
            .all(|r| r.starts_with("[2016-") || r.is_empty()));
    }

    #[test]
    fn java_logback_extras() {
        let trace = "java.lang.IllegalStateException: outer\n\
\tat a.B.c(B.java:1)\n\
Wrapped by: java.lang.RuntimeException: wrapper\n\
\tat a.B.d(B.java:2)\n\
\tSuppressed: java.io.IOException: close\n\
\t\t[CIRCULAR REFERENCE: java.lang.IllegalStateException: outer]\n\
\t... 12 common frames omitted";
        let text = format!("{trace}\nat the start of a line is no frame");
        assert_eq!(
            join(Rule::Java, 1 << 20, &text),
            [trace, "at the start of a line is no frame"]
        );
    }

    #[test]
    fn python_tracebacks() {
        let text = "INFO start\n\
Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\n  File \"app.py\", line 2, in main\n    1 / 0\n    ~~^~~\nZeroDivisionError: division by zero\n\
INFO next\n\
Traceback (most recent call last):\n  File \"b.py\", line 1, in <module>\nKeyError: 'x'\n\
\x20 indented but alone";
        assert_eq!(
            join(Rule::Python, 1 << 20, text),
            [
                "INFO start",
                "Traceback (most recent call last):\n  File \"app.py\", line 3, in <module>\n    main()\n  File \"app.py\", line 2, in main\n    1 / 0\n    ~~^~~\nZeroDivisionError: division by zero",
                "INFO next",
                "Traceback (most recent call last):\n  File \"b.py\", line 1, in <module>\nKeyError: 'x'",
                "  indented but alone",
            ]
        );
    }

    #[test]
    fn go_panics_and_goroutine_dumps() {
        let panic = "panic: runtime error: index out of range [5] with length 3\n\
\n\
goroutine 1 [running]:\n\
main.lookup(...)\n\
\t/app/main.go:12\n\
main.main()\n\
\t/app/main.go:8 +0x1d\n\
\n\
goroutine 18 [chan receive]:\n\
net/http.(*conn).serve(0xc0001b4000, {0x7a8b68, 0xc000190f00})\n\
\t/usr/local/go/src/net/http/server.go:2009 +0x5f4\n\
created by net/http.(*Server).Serve in goroutine 1\n\
\t/usr/local/go/src/net/http/server.go:3285 +0x4b4\n\
exit status 2";
        let text = format!("level=info msg=serving\n{panic}\nlevel=info msg=restarted");
        assert_eq!(
            join(Rule::Go, 1 << 20, &text),
            ["level=info msg=serving", panic, "level=info msg=restarted"]
        );
        let fatal = "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\nmain.main()\n\t/app/main.go:5 +0x2d";
        assert_eq!(join(Rule::Go, 1 << 20, fatal), [fatal]);
    }

    #[test]
    fn a_record_is_split_between_lines_at_the_maximum_and_keeps_joining() {
        let text = "E: boom\n\tat a\n\tat b\n\tat c\nnext";
        // "E: boom\n\tat a" is 13 bytes; "\n\tat b" would make 19.
        assert_eq!(
            join(Rule::Java, 15, text),
            ["E: boom\n\tat a", "\tat b\n\tat c", "next"]
        );
        // A line longer than the maximum is kept whole, alone.
        assert_eq!(join(Rule::Java, 3, "abcdef\n\tat x"), ["abcdef", "\tat x"]);
    }

    #[test]
    fn streams_are_joined_apart_and_the_timeout_flushes_an_idle_one() {
        let mut c: Combiner<u32> = Combiner::new(Rule::Java, 1 << 20, Duration::from_secs(1));
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut emit = |r: Record<'_>| {
            out.push((
                r.stream,
                r.timestamp,
                String::from_utf8_lossy(r.content).into_owned(),
            ))
        };
        let ts = Timestamp::from_unix_nanos;
        c.push(0, b"out: E", ts(1), || 1, t0, &mut emit);
        c.push(1, b"err: E", ts(2), || 2, t0, &mut emit);
        c.push(0, b"\tat o", ts(3), || 3, t0, &mut emit);
        c.push(1, b"\tat e", ts(4), || 4, t0, &mut emit);
        assert_eq!(c.starts().copied().collect::<Vec<_>>(), [1, 2]);
        let later = t0 + Duration::from_millis(1500);
        // stderr still receives pieces of a partial line: it stays open.
        c.expire(later, [false, true], &mut emit);
        assert_eq!(c.starts().copied().collect::<Vec<_>>(), [2]);
        c.touch(1, later);
        c.expire(
            later + Duration::from_millis(500),
            [false, false],
            &mut emit,
        );
        c.expire(later + Duration::from_secs(1), [false, false], &mut emit);
        assert_eq!(
            out,
            [
                (0, ts(1), "out: E\n\tat o".to_owned()),
                (1, ts(2), "err: E\n\tat e".to_owned())
            ]
        );
        assert_eq!(c.starts().count(), 0);
    }

    #[test]
    fn config_is_validated_with_the_rule_named() {
        let rule = |kind, start: Option<&str>| MultilineRule {
            namespace: None,
            pod: Some("api-*".into()),
            container: None,
            kind,
            start: start.map(Into::into),
        };
        let err = |rules| {
            Multiline::compile(&MultilineConfig {
                rules,
                ..Default::default()
            })
            .unwrap_err()
            .to_string()
        };
        let e = err(vec![
            rule(MultilineKind::Java, None),
            rule(MultilineKind::Custom, Some("([")),
        ]);
        assert!(
            e.contains("multiline.rules[1]: invalid start regex \"([\""),
            "{e}"
        );
        let e = err(vec![rule(MultilineKind::Custom, None)]);
        assert!(
            e.contains("multiline.rules[0]: kind custom needs a start regex"),
            "{e}"
        );
        let e = err(vec![rule(MultilineKind::Go, Some("^x"))]);
        assert!(
            e.contains("multiline.rules[0]: start is only for kind custom"),
            "{e}"
        );
        let m = Multiline::compile(&MultilineConfig {
            rules: vec![rule(MultilineKind::Python, None)],
            ..Default::default()
        })
        .unwrap();
        let t = |pod| Target {
            namespace: "ns",
            pod,
            container: "c",
        };
        assert!(matches!(m.rule_for(t("api-1")), Some(Rule::Python)));
        assert!(m.rule_for(t("web-1")).is_none());
        let c: MultilineConfig = serde_json::from_str(
            r#"{"flush_timeout":"250ms","max_record_bytes":"64Ki","rules":[{"kind":"go","container":"x"}]}"#,
        )
        .unwrap();
        assert_eq!(c.flush_timeout, Duration::from_millis(250));
        assert_eq!(c.max_record_bytes, 64 * 1024);
        assert!(serde_json::from_str::<MultilineConfig>(r#"{"rulez":[]}"#).is_err());
    }

    fn line() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("\tat x.Y.z(Y.java:1)".to_owned()),
            Just("Caused by: java.lang.X".to_owned()),
            Just("... 3 more".to_owned()),
            Just("Traceback (most recent call last):".to_owned()),
            Just("  File \"a.py\"".to_owned()),
            Just("panic: boom".to_owned()),
            Just("goroutine 1 [running]:".to_owned()),
            Just("main.main()".to_owned()),
            "[ -~]{0,12}",
            "\\PC{0,8}",
        ]
    }

    fn rule() -> impl Strategy<Value = Rule> {
        prop_oneof![
            Just(Rule::Java),
            Just(Rule::Python),
            Just(Rule::Go),
            Just(Rule::Custom(Regex::new("^[A-Z]").unwrap())),
        ]
    }

    proptest! {
        /// Joining never loses, adds or reorders bytes: per stream, the records joined
        /// with `\n` are the lines joined with `\n`; timestamps are first lines'; no
        /// record of several lines is longer than the maximum.
        #[test]
        fn joining_keeps_every_byte_in_order(
            rule in rule(),
            max in 1usize..64,
            lines in prop::collection::vec((line(), any::<bool>(), 0u8..4), 0..40),
        ) {
            let mut c: Combiner<usize> = Combiner::new(rule, max, Duration::from_millis(10));
            let t0 = Instant::now();
            let mut out: [Vec<(Timestamp, Vec<u8>)>; 2] = Default::default();
            let mut emit = |r: Record<'_>| out[r.stream].push((r.timestamp, r.content.to_vec()));
            let mut ins: [Vec<(Timestamp, String)>; 2] = Default::default();
            let mut now = t0;
            for (i, (l, stderr, step)) in lines.iter().enumerate() {
                let k = usize::from(*stderr);
                let ts = Timestamp::from_unix_nanos(i as i64);
                now += Duration::from_millis(u64::from(*step) * 5);
                c.expire(now, [false, false], &mut emit);
                c.push(k, l.as_bytes(), ts, || i, now, &mut emit);
                ins[k].push((ts, l.clone()));
            }
            c.finish(&mut emit);
            prop_assert_eq!(c.starts().count(), 0);
            for k in 0..2 {
                let lines_in: Vec<&str> = ins[k].iter().map(|(_, l)| l.as_str()).collect();
                let records: Vec<Vec<u8>> = out[k].iter().map(|(_, r)| r.clone()).collect();
                prop_assert_eq!(records.join(&b'\n'), lines_in.join("\n").into_bytes());
                // Each record's timestamp is the one of the line it begins with.
                let mut line_no = 0;
                for (ts, r) in &out[k] {
                    prop_assert_eq!(*ts, ins[k][line_no].0);
                    let n = r.iter().filter(|&&b| b == b'\n').count() + 1;
                    prop_assert!(n == 1 || r.len() <= max);
                    line_no += n;
                }
            }
        }
    }
}
