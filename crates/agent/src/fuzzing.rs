//! Entry points for the fuzz targets in `fuzz/` (not a stable API). Each drives a piece of
//! the processing step with arbitrary bytes and panics when an invariant breaks.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kelp_model::Timestamp;
use regex::bytes::Regex;

use crate::multiline::{Combiner, Record, Rule};
use crate::policy::{
    BuiltinRedaction, LinePolicy, Pattern, Policy, PolicyConfig, RedactRule, Target, Verdict,
};

/// Multi-line joining. Byte 0 picks the rule (`% 4`: java, python, go, custom `^[A-Z]`)
/// and bits 2-7 the maximum record size (1..=64); the rest, split at `\n`, are lines whose
/// first byte is control (bit 0: stderr, bits 1-2: clock step of 0–3 × 5 ms, bit 3: expire
/// first, bit 4: that stream's partial line is busy) and whose other bytes are the line.
///
/// Invariants: per stream the records joined with `\n` are the lines joined with `\n`;
/// each record has its first line's timestamp; a record of several lines is no longer than
/// the maximum; after `finish` nothing is held.
pub fn multiline(data: &[u8]) {
    let Some((&head, rest)) = data.split_first() else {
        return;
    };
    let rule = match head % 4 {
        0 => Rule::Java,
        1 => Rule::Python,
        2 => Rule::Go,
        _ => {
            static START: OnceLock<Regex> = OnceLock::new();
            Rule::Custom(
                START
                    .get_or_init(|| Regex::new("^[A-Z]").expect("a valid regex"))
                    .clone(),
            )
        }
    };
    let max = usize::from(head >> 2) + 1;
    let mut c: Combiner<usize> = Combiner::new(rule, max, Duration::from_millis(10));
    let mut now = Instant::now();
    let mut out: [Vec<(Timestamp, Vec<u8>)>; 2] = Default::default();
    let mut ins: [Vec<(Timestamp, &[u8])>; 2] = Default::default();
    let mut emit = |r: Record<'_>| out[r.stream].push((r.timestamp, r.content.to_vec()));
    for (i, raw) in rest.split(|&b| b == b'\n').enumerate() {
        let Some((&ctl, line)) = raw.split_first() else {
            continue;
        };
        let k = usize::from(ctl & 1);
        now += Duration::from_millis(u64::from((ctl >> 1) & 3) * 5);
        if ctl & 8 != 0 {
            let busy = [ctl & 16 != 0 && k == 0, ctl & 16 != 0 && k == 1];
            c.expire(now, busy, &mut emit);
        }
        let ts = Timestamp::from_unix_nanos(i as i64);
        c.push(k, line, ts, || i, now, &mut emit);
        ins[k].push((ts, line));
    }
    c.finish(&mut emit);
    assert_eq!(c.starts().count(), 0, "held after finish");
    for k in 0..2 {
        let lines: Vec<&[u8]> = ins[k].iter().map(|(_, l)| *l).collect();
        let records: Vec<&[u8]> = out[k].iter().map(|(_, r)| r.as_slice()).collect();
        assert_eq!(
            records.join(&b'\n'),
            lines.join(&b'\n'),
            "bytes of stream {k}"
        );
        let mut line_no = 0;
        for (ts, r) in &out[k] {
            assert_eq!(*ts, ins[k][line_no].0, "timestamp of a record");
            let n = r.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(
                n == 1 || r.len() <= max,
                "record of {n} lines over {max} bytes"
            );
            line_no += n;
        }
        assert_eq!(line_no, ins[k].len());
    }
}

/// Redaction with every built-in, and patterns. The input is a record; when it is UTF-8
/// and at most 64 bytes long it is also compiled as a selector pattern (which may fail,
/// never panic).
///
/// Invariants: a record no rule changes is returned borrowed; redacting a redacted record
/// changes nothing (no replacement is itself redacted again).
pub fn redaction(data: &[u8]) {
    let short = (data.len() <= 64).then_some(data);
    if let Some(text) = short.and_then(|d| std::str::from_utf8(d).ok()) {
        if let Ok(p) = Pattern::compile(text, "fuzz") {
            let _ = p.matches(text);
        }
    }
    static LINES: OnceLock<LinePolicy> = OnceLock::new();
    let lines = LINES.get_or_init(every_builtin);
    let Verdict::Ship(once) = lines.apply(0, data) else {
        panic!("redaction dropped a record");
    };
    let Verdict::Ship(twice) = lines.apply(0, &once) else {
        panic!("redaction dropped a record");
    };
    assert_eq!(once.as_ref(), twice.as_ref(), "redaction is not idempotent");
    assert!(
        matches!(twice, std::borrow::Cow::Borrowed(_)),
        "an unchanged record was copied"
    );
}

fn every_builtin() -> LinePolicy {
    let redact = [
        BuiltinRedaction::BearerToken,
        BuiltinRedaction::Email,
        BuiltinRedaction::CreditCard,
        BuiltinRedaction::AwsKey,
    ]
    .map(|b| RedactRule {
        builtin: Some(b),
        ..Default::default()
    })
    .to_vec();
    let policy = Policy::compile(&PolicyConfig {
        redact,
        ..Default::default()
    })
    .expect("the built-ins compile");
    let t = Target {
        namespace: "ns",
        pod: "p",
        container: "c",
    };
    policy.lines_for(t).expect("rules for every log")
}

/// The systemd journal reader on an arbitrary file: `data` is written as
/// `<temp dir>/x.journal` and read as the agent reads the journal (every unit, no age
/// limit), in batches of 4 KiB.
///
/// Invariants: no panic; reading ends; every batch but the last is at least 4 KiB of lines,
/// and every batch carries the resume point of its last entry.
pub fn journal_file(data: &[u8]) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kelp-fuzz-journal-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    std::fs::write(dir.join("x.journal"), data).expect("a temporary file");
    let config = crate::journal::JournalConfig {
        dir: dir.clone(),
        units: Vec::new(),
        max_age: Duration::from_secs(u64::from(u32::MAX) * 1000),
        poll_interval: Duration::from_secs(1),
    };
    let mut reader =
        crate::journal::JournalReader::new(config, "n".into(), 4096, None, Default::default());
    let mut batches = Vec::new();
    reader.pass(&mut |b| {
        batches.push(b);
        true
    });
    let _ = std::fs::remove_dir_all(&dir);
    for (i, b) in batches.iter().enumerate() {
        assert!(b.journal.is_some(), "a batch without its resume point");
        if i + 1 < batches.len() {
            let bytes: usize = b
                .streams
                .iter()
                .flat_map(|s| &s.entries)
                .map(|e| e.line.len() + 64)
                .sum();
            assert!(bytes >= 4096, "a batch cut early: {bytes} bytes");
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_pass() {
        super::multiline(b"\x04\x00E: boom\n\x00\tat a\n\x09\tat b\n\x01x\n\x0bTraceback");
        super::multiline(b"");
        super::redaction(b"Bearer abc a@b.cc 4111 1111 1111 1111 AKIAIOSFODNN7EXAMPLE");
        super::redaction(b"/(/");
        super::redaction(&[0xff, b'@', 0xfe]);
    }
}
