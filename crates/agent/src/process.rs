//! The processing step between a chain's lines and the batch: stream admission, multi-line
//! joining, drop and redaction rules, in that order. A container log with no multi-line
//! rule and no policy gets no [`Processor`] at all, so its lines go to the batch as before.
//!
//! Counters ([`ProcessCounters`], process-wide, monotonic) for `/metrics`:
//!
//! | counter | counts |
//! |---|---|
//! | `lines_dropped_stream` | lines of streams the policy does not admit (read, not shipped) |
//! | `records_dropped` | records dropped by a `drop_lines` rule |
//! | `records_redacted` | records a redaction rule changed |
//! | `multiline_records` | records of two or more lines shipped |
//! | `multiline_splits` | records split at `max_record_bytes` |
//! | `multiline_timeouts` | records sent because their stream was idle for `flush_timeout` |
//!
//! Container logs excluded as a whole are never opened and counted nowhere.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use kelp_k8s::Stream;
use kelp_model::Timestamp;

use crate::chain::Out;
use crate::checkpoint::Mark;
use crate::multiline::{Combiner, Multiline, Record};
use crate::policy::{LinePolicy, Policy, Target, Verdict};
use crate::{AgentConfig, AgentError};

/// The processing counters; see the module docs.
#[derive(Debug, Default)]
pub struct ProcessCounters {
    /// Lines of streams the policy does not admit.
    pub lines_dropped_stream: AtomicU64,
    /// Records dropped by `drop_lines`.
    pub records_dropped: AtomicU64,
    /// Records changed by `redact`.
    pub records_redacted: AtomicU64,
    /// Records of two or more lines.
    pub multiline_records: AtomicU64,
    /// Records split at the maximum size.
    pub multiline_splits: AtomicU64,
    /// Records flushed by the timeout.
    pub multiline_timeouts: AtomicU64,
}

impl ProcessCounters {
    /// `(name, value)` of every counter, for an exposition.
    pub fn snapshot(&self) -> [(&'static str, u64); 6] {
        let v = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("lines_dropped_stream", v(&self.lines_dropped_stream)),
            ("records_dropped", v(&self.records_dropped)),
            ("records_redacted", v(&self.records_redacted)),
            ("multiline_records", v(&self.multiline_records)),
            ("multiline_splits", v(&self.multiline_splits)),
            ("multiline_timeouts", v(&self.multiline_timeouts)),
        ]
    }
}

/// The process-wide counters.
pub(crate) static COUNTERS: ProcessCounters = ProcessCounters {
    lines_dropped_stream: AtomicU64::new(0),
    records_dropped: AtomicU64::new(0),
    records_redacted: AtomicU64::new(0),
    multiline_records: AtomicU64::new(0),
    multiline_splits: AtomicU64::new(0),
    multiline_timeouts: AtomicU64::new(0),
};

/// The processing counters of this process.
pub fn counters() -> &'static ProcessCounters {
    &COUNTERS
}

/// The compiled `multiline:` and `policy:` sections.
#[derive(Debug, Clone)]
pub(crate) struct Processing {
    multiline: Multiline,
    policy: Policy,
}

/// What a container log gets.
pub(crate) enum Setup {
    /// Nothing of it is shipped: not opened.
    Excluded,
    /// Shipped as read.
    Plain,
    /// Shipped through a processor.
    Processed(Box<Processor>),
}

impl Processing {
    /// Compiles the configuration; a bad rule is an error naming it.
    pub(crate) fn compile(config: &AgentConfig) -> Result<Self, AgentError> {
        Ok(Self {
            multiline: Multiline::compile(&config.multiline)?,
            policy: Policy::compile(&config.policy)?,
        })
    }

    /// The processing of one container log.
    pub(crate) fn setup(&self, t: Target<'_>) -> Setup {
        let admit = self.policy.admits(t);
        if admit == [false, false] {
            return Setup::Excluded;
        }
        let multiline = self.multiline.rule_for(t).map(|rule| {
            Combiner::new(
                rule.clone(),
                self.multiline.max_record_bytes,
                self.multiline.flush_timeout,
            )
        });
        let lines = self.policy.lines_for(t);
        if admit == [true, true] && multiline.is_none() && lines.is_none() {
            return Setup::Plain;
        }
        Setup::Processed(Box::new(Processor {
            admit,
            multiline,
            lines,
        }))
    }
}

/// Where a held record began: the chain's sequence number and the mark.
pub(crate) type Start = (u64, Mark);

/// The processing of one container log.
pub(crate) struct Processor {
    admit: [bool; 2],
    multiline: Option<Combiner<Start>>,
    lines: Option<LinePolicy>,
}

/// Takes the lines that go to the batch: stream index, timestamp, line.
pub(crate) type Emit<'e> = dyn FnMut(usize, Timestamp, Bytes) + 'e;

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl Processor {
    /// Takes one line of the chain.
    pub(crate) fn push(&mut self, o: Out<'_>, now: Instant, emit: &mut Emit<'_>) {
        let k = stream_index(o.line.stream);
        if !self.admit[k] {
            COUNTERS
                .lines_dropped_stream
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        let lines = &self.lines;
        match &mut self.multiline {
            None => deliver(lines, k, o.line.timestamp, o.line.content, emit),
            Some(c) => {
                let start = o.start;
                c.push(
                    k,
                    o.line.content,
                    o.line.timestamp,
                    || (start.seq, start.to_mark()),
                    now,
                    &mut |r: Record<'_>| deliver(lines, r.stream, r.timestamp, r.content, emit),
                );
            }
        }
    }

    /// Sends the records whose stream was idle for the flush timeout; `busy` says per
    /// stream whether a partial line is arriving (its record then stays open).
    pub(crate) fn expire(&mut self, now: Instant, busy: [bool; 2], emit: &mut Emit<'_>) {
        let lines = &self.lines;
        if let Some(c) = &mut self.multiline {
            for (k, b) in busy.into_iter().enumerate() {
                if b {
                    c.touch(k, now);
                }
            }
            c.expire(now, busy, &mut |r: Record<'_>| {
                deliver(lines, r.stream, r.timestamp, r.content, emit)
            });
        }
    }

    /// Sends every record being built (the instance is over).
    pub(crate) fn finish(&mut self, emit: &mut Emit<'_>) {
        let lines = &self.lines;
        if let Some(c) = &mut self.multiline {
            c.finish(&mut |r: Record<'_>| deliver(lines, r.stream, r.timestamp, r.content, emit));
        }
    }

    /// The earliest start of a record being built.
    pub(crate) fn held(&self) -> Option<&Start> {
        self.multiline
            .as_ref()
            .and_then(|c| c.starts().min_by_key(|(seq, _)| *seq))
    }
}

fn deliver(
    lines: &Option<LinePolicy>,
    k: usize,
    ts: Timestamp,
    content: &[u8],
    emit: &mut Emit<'_>,
) {
    let Some(policy) = lines else {
        emit(k, ts, Bytes::copy_from_slice(content));
        return;
    };
    match policy.apply(k, content) {
        Verdict::Drop => {
            COUNTERS.records_dropped.fetch_add(1, Ordering::Relaxed);
        }
        Verdict::Ship(std::borrow::Cow::Borrowed(b)) => emit(k, ts, Bytes::copy_from_slice(b)),
        Verdict::Ship(std::borrow::Cow::Owned(v)) => {
            COUNTERS.records_redacted.fetch_add(1, Ordering::Relaxed);
            emit(k, ts, Bytes::from(v));
        }
    }
}

/// The resume point of a chain with a processor: the earlier of the chain's and the
/// start of a record the processor holds.
pub(crate) fn earliest(chain: Option<Start>, held: Option<&Start>) -> Option<Mark> {
    match (chain, held) {
        (Some(c), Some(h)) if h.0 < c.0 => Some(h.1.clone()),
        (Some(c), _) => Some(c.1),
        (None, Some(h)) => Some(h.1.clone()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{Chain, ChainTiming};
    use crate::multiline::{MultilineKind, MultilineRule};
    use crate::policy::{DropLinesRule, SelectorConfig};
    use std::io::Write;
    use std::time::Duration;

    fn config(dir: &std::path::Path) -> AgentConfig {
        let mut c = AgentConfig::new(dir.into(), dir.into(), "http://x".into(), "n".into());
        c.multiline.rules.push(MultilineRule {
            namespace: None,
            pod: None,
            container: Some("app".into()),
            kind: MultilineKind::Java,
            start: None,
        });
        c.policy.drop_lines.push(DropLinesRule {
            regex: "^DEBUG".into(),
            ..Default::default()
        });
        c.policy.exclude.push(SelectorConfig {
            stream: Some("stderr".into()),
            container: Some("app".into()),
            ..Default::default()
        });
        c
    }

    fn target(container: &str) -> Target<'_> {
        Target {
            namespace: "ns",
            pod: "p",
            container,
        }
    }

    #[test]
    fn setups_are_plain_unless_configured() {
        let dir = tempfile::tempdir().unwrap();
        let plain = AgentConfig::new(dir.path().into(), dir.path().into(), "u".into(), "n".into());
        let p = Processing::compile(&plain).unwrap();
        assert!(matches!(p.setup(target("app")), Setup::Plain));
        let mut c = config(dir.path());
        c.policy.exclude.push(SelectorConfig {
            container: Some("sidecar".into()),
            ..Default::default()
        });
        let p = Processing::compile(&c).unwrap();
        assert!(matches!(p.setup(target("sidecar")), Setup::Excluded));
        assert!(matches!(p.setup(target("app")), Setup::Processed(_)));
    }

    /// While a record is held, the mark stays at its first line (also in the middle of a
    /// CRI `P`/`F` pair); dropped lines and excluded streams do not hold it back.
    #[test]
    fn the_mark_stays_at_a_held_records_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("0.log");
        let rec =
            |s: &str, tag: &str, text: &str| format!("2024-06-01T12:00:00Z {s} {tag} {text}\n");
        let head = rec("stdout", "F", "DEBUG noise") + &rec("stderr", "F", "excluded");
        let trace = rec("stdout", "F", "java.lang.IllegalStateException: boom")
            + &rec("stdout", "F", "\tat a.B.c(B.java:1)")
            + &rec("stdout", "P", "\tat a.B.");
        std::fs::write(&live, head.clone() + &trace).unwrap();
        let Setup::Processed(mut p) = Processing::compile(&config(dir.path()))
            .unwrap()
            .setup(target("app"))
        else {
            panic!("not processed");
        };
        let timing = ChainTiming {
            rotate_wait: Duration::ZERO,
        };
        let mut chain = Chain::open(live.clone(), &[], None, timing, Instant::now());
        let mut got: Vec<String> = Vec::new();
        let t0 = Instant::now();
        let mut emit = |_k: usize, _ts: Timestamp, line: Bytes| {
            got.push(String::from_utf8_lossy(&line).into_owned())
        };
        let step = |chain: &mut Chain, p: &mut Processor, now: Instant, emit: &mut Emit<'_>| {
            chain.poll(now, &mut |o| p.push(o, now, emit));
            p.expire(now, chain.waiting(), emit);
            earliest(chain.resume(), p.held()).unwrap().offset
        };
        let mark = step(&mut chain, &mut p, t0, &mut emit);
        assert_eq!(mark, head.len() as u64, "at the trace's first line");
        // The `P` keeps the record open past the flush timeout.
        let mark = step(&mut chain, &mut p, t0 + Duration::from_secs(5), &mut emit);
        assert_eq!(mark, head.len() as u64);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&live)
            .unwrap()
            .write_all((rec("stdout", "F", "c(B.java:2)") + &rec("stdout", "F", "next")).as_bytes())
            .unwrap();
        let t1 = t0 + Duration::from_secs(6);
        let mark = step(&mut chain, &mut p, t1, &mut emit);
        let next_at = std::fs::read(&live).unwrap().len() - rec("stdout", "F", "next").len();
        assert_eq!(mark, next_at as u64, "at the next record's first line");
        let end = step(&mut chain, &mut p, t1 + Duration::from_secs(1), &mut emit);
        assert_eq!(end, std::fs::metadata(&live).unwrap().len());
        assert_eq!(
            got,
            [
                "java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\n\tat a.B.c(B.java:2)",
                "next"
            ]
        );
    }
}
