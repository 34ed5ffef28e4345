//! klog (glog) line headers, as the Kubernetes control plane writes its log files
//! (`/var/log/kube-apiserver.log`, …) when it runs outside static pods:
//!
//! ```text
//! I1122 03:04:05.123456       1 controller.go:12] msg
//! ^^^^^ ^^^^^^^^^^^^^^^ ^^^^^^^ ^^^^^^^^^^^^^^^^^
//! Lmmdd hh:mm:ss.uuuuuu  thread file:line]
//! ```
//!
//! `L` is the severity (`I`nfo, `W`arning, `E`rror, `F`atal). The header has no year and
//! no zone: the time is taken as UTC (klog writes the process's local time; control-plane
//! hosts run in UTC) in the year of the reading clock, or the year before when that would
//! put the line more than a day in the future (a December line read in January).
//! `--node-logs` lines with such a header get its time instead of the time they were read,
//! and a `level` metadata pair.

use kelp_model::Timestamp;

/// A klog severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// `I`.
    Info,
    /// `W`.
    Warning,
    /// `E`.
    Error,
    /// `F`.
    Fatal,
}

impl Severity {
    /// The `level` value: `info`, `warning`, `error`, `fatal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Fatal => "fatal",
        }
    }
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The severity letter.
    pub severity: Severity,
    /// The time, UTC, with the year inferred from `now`.
    pub time: Timestamp,
}

/// The length of `Lmmdd hh:mm:ss.uuuuuu`.
const STAMP: usize = 21;
const DAY_NANOS: i64 = 86_400 * 1_000_000_000;

/// Parses the header of `line`, or `None` when it has none (any bytes are fine).
pub fn parse(line: &[u8], now: Timestamp) -> Option<Header> {
    let severity = match line.first()? {
        b'I' => Severity::Info,
        b'W' => Severity::Warning,
        b'E' => Severity::Error,
        b'F' => Severity::Fatal,
        _ => return None,
    };
    let stamp = line.get(..STAMP)?;
    let digits = |r: std::ops::Range<usize>| stamp[r].iter().all(u8::is_ascii_digit);
    let shape = digits(1..5)
        && stamp[5] == b' '
        && digits(6..8)
        && stamp[8] == b':'
        && digits(9..11)
        && stamp[11] == b':'
        && digits(12..14)
        && stamp[14] == b'.'
        && digits(15..21);
    if !shape || !thread_and_source(&line[STAMP..]) {
        return None;
    }
    let year = year_of(now)?;
    let at = |year: i64| -> Option<Timestamp> {
        let s = format!(
            "{year:04}-{}-{}T{}Z",
            std::str::from_utf8(&stamp[1..3]).ok()?,
            std::str::from_utf8(&stamp[3..5]).ok()?,
            std::str::from_utf8(&stamp[6..21]).ok()?,
        );
        Timestamp::parse_rfc3339(s.as_bytes()).ok()
    };
    let limit = now.as_unix_nanos().saturating_add(DAY_NANOS);
    // This year's date if it is not in the future (Feb 29 may exist only last year …).
    let time = match at(year) {
        Some(t) if t.as_unix_nanos() <= limit => t,
        _ => at(year - 1)?,
    };
    Some(Header { severity, time })
}

/// After the stamp: spaces, the thread id's digits, a space, then `file:line]`.
fn thread_and_source(rest: &[u8]) -> bool {
    let spaces = rest.iter().take_while(|b| **b == b' ').count();
    let rest = &rest[spaces..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if spaces == 0 || digits == 0 || rest.get(digits) != Some(&b' ') {
        return false;
    }
    let source = &rest[digits + 1..];
    let end = source.iter().position(|b| *b == b']');
    end.is_some_and(|e| e > 0 && source[..e].contains(&b':'))
}

/// The UTC year of `t`.
fn year_of(t: Timestamp) -> Option<i64> {
    let s = t.to_rfc3339_secs();
    s.get(..4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s.as_bytes()).unwrap()
    }

    #[test]
    fn headers_and_non_headers() {
        let now = ts("2026-11-23T04:00:00Z");
        let h = parse(
            b"I1122 03:04:05.123456       1 controller.go:12] Starting",
            now,
        )
        .unwrap();
        assert_eq!(h.severity, Severity::Info);
        assert_eq!(h.time, ts("2026-11-22T03:04:05.123456Z"));
        let h = parse(b"E1123 03:59:59.000001 42 x.go:1] boom", now).unwrap();
        assert_eq!(h.severity.as_str(), "error");
        assert_eq!(h.time, ts("2026-11-23T03:59:59.000001Z"));
        // December read in January: last year.
        let h = parse(
            b"W1231 23:59:59.999999 7 a.go:9] late",
            ts("2027-01-01T00:00:05Z"),
        )
        .unwrap();
        assert_eq!(h.time, ts("2026-12-31T23:59:59.999999Z"));
        // Feb 29 read in a year without one: the last year that had it is not taken
        // blindly: 2027-02-29 is invalid, 2026-02-29 too, so no header.
        assert!(parse(
            b"I0229 01:00:00.000000 1 a.go:1] x",
            ts("2027-03-01T00:00:00Z")
        )
        .is_none());
        assert!(parse(
            b"I0229 01:00:00.000000 1 a.go:1] x",
            ts("2028-03-01T00:00:00Z")
        )
        .is_some());
        for bad in [
            &b""[..],
            b"I1122",
            b"X1122 03:04:05.123456 1 a.go:1] x",
            b"I1122 03:04:05.12345  1 a.go:1] x",
            b"I1122 03:04:05.123456 a a.go:1] x",
            b"I1122 03:04:05.123456 1 no source here",
            b"I1322 03:04:05.123456 1 a.go:1] month 13",
            b"I1122 25:04:05.123456 1 a.go:1] hour 25",
            b"I1122 03:04:05.123456 1 ] empty source",
            b"2026-11-22T03:04:05Z plain line",
        ] {
            assert!(
                parse(bad, now).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Through the whole agent: a control-plane file under `--node-logs` ships its klog
    /// lines at their own times with their `level`, other lines at the time read.
    #[test]
    fn node_log_lines_take_their_klog_time_and_level() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("log");
        std::fs::create_dir(&logs).unwrap();
        let now = Timestamp::now();
        let stamp = |ago_secs: i64| {
            let t = Timestamp::from_unix_nanos(now.as_unix_nanos() - ago_secs * 1_000_000_000);
            let s = t.to_rfc3339_nano();
            (
                t,
                format!(
                    "{}{} {}.{:06}",
                    &s[5..7],
                    &s[8..10],
                    &s[11..19],
                    (t.as_unix_nanos() / 1000) % 1_000_000
                ),
            )
        };
        let ((t1, s1), (t2, s2)) = (stamp(120), stamp(60));
        let t1 = Timestamp::from_unix_nanos(t1.as_unix_nanos() / 1000 * 1000);
        let t2 = Timestamp::from_unix_nanos(t2.as_unix_nanos() / 1000 * 1000);
        std::fs::write(
            logs.join("kube-apiserver.log"),
            format!(
                "I{s1}       1 server.go:100] Serving securely\nE{s2}       1 etcd.go:7] etcd slow\nplain line\n"
            ),
        )
        .unwrap();
        let state = dir.path().join("state");
        let out = dir.path().join("out.jsonl");
        let mut config = crate::AgentConfig::new(
            state.join("no-pods"),
            state.clone(),
            "http://127.0.0.1:9".into(),
            "n".into(),
        );
        config.read_pods = false;
        config.files = vec![crate::FileSource::new(
            &format!("{}/kube-*.log", logs.display()),
            &[],
            "control-plane",
        )
        .unwrap()];
        config.sink = crate::sink::SinkConfig {
            kind: crate::sink::SinkKind::File,
            path: Some(out.clone()),
            ..Default::default()
        };
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let stop = stop.clone();
            std::thread::spawn(move || crate::run(&config, stop))
        };
        let read = || std::fs::read_to_string(&out).unwrap_or_default();
        let began = std::time::Instant::now();
        while read().lines().count() < 3 && began.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::SeqCst);
        runner.join().unwrap().unwrap();
        let got: Vec<serde_json::Value> = read()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(got.len(), 3, "{got:?}");
        let find = |line: &str| got.iter().find(|v| v["line"] == line).unwrap().clone();
        let a = find(&format!("I{s1}       1 server.go:100] Serving securely"));
        assert_eq!(a["timestamp"], t1.to_rfc3339_nano());
        assert_eq!(a["metadata"]["level"], "info");
        assert_eq!(a["labels"]["job"], "control-plane");
        let b = find(&format!("E{s2}       1 etcd.go:7] etcd slow"));
        assert_eq!(b["timestamp"], t2.to_rfc3339_nano());
        assert_eq!(b["metadata"]["level"], "error");
        let c = find("plain line");
        assert!(c["metadata"].get("level").is_none(), "{c}");
        let read_at =
            Timestamp::parse_rfc3339(c["timestamp"].as_str().unwrap().as_bytes()).unwrap();
        assert!(
            read_at.as_unix_nanos() >= now.as_unix_nanos(),
            "stamped when read"
        );
    }

    proptest! {
        /// Any time, printed as klog prints it and read back up to 300 days later, is the
        /// same time (to the microsecond) with the same severity.
        #[test]
        fn printed_headers_read_back(
            secs in 946_684_800i64..4_102_444_800,
            micros in 0i64..1_000_000,
            later in 0i64..300 * 86_400,
            sev in 0usize..4,
            thread in 0u32..10_000_000,
        ) {
            let t = Timestamp::from_unix_nanos(secs * 1_000_000_000 + micros * 1000);
            let s = t.to_rfc3339_nano();
            let (date, time) = (&s[5..10], &s[11..19]);
            let letter = ["I", "W", "E", "F"][sev];
            let line = format!(
                "{letter}{}{} {time}.{micros:06} {thread:>7} main.go:42] hello",
                &date[..2],
                &date[3..5],
            );
            let now = Timestamp::from_unix_nanos(t.as_unix_nanos() + later * 1_000_000_000);
            let h = parse(line.as_bytes(), now).unwrap();
            prop_assert_eq!(h.time, t, "{}", line);
            prop_assert_eq!(h.severity.as_str().chars().next().unwrap().to_ascii_uppercase().to_string(), letter);
        }

        /// Arbitrary bytes: no panic, and a header found is never more than a day ahead.
        #[test]
        fn arbitrary_bytes(line in proptest::collection::vec(any::<u8>(), 0..64), secs in 0i64..4_102_444_800) {
            let now = Timestamp::from_unix_secs(secs);
            if let Some(h) = parse(&line, now) {
                prop_assert!(h.time.as_unix_nanos() <= now.as_unix_nanos() + DAY_NANOS);
            }
        }
    }
}
