//! The node's wall clock, as containerd and the kubelet read it: the real clock, stepped
//! by [`ClockJump`]s as the simulation runs (an NTP step after a long drift, a VM restored
//! from a snapshot, a wrong RTC at boot). CRI timestamps and rotation stamps come from it;
//! pacing and intervals stay on the monotonic clock, as they do on a real node.

use std::str::FromStr;
use std::time::{Duration, Instant};

use kelp_model::{GoDuration, Timestamp};

/// A step of the node's clock: `at` after the start, the clock moves by `by_ns`
/// (negative: backwards). Steps add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockJump {
    /// When, after the simulation starts (monotonic).
    pub at: Duration,
    /// How far the wall clock steps, in nanoseconds.
    pub by_ns: i64,
}

impl FromStr for ClockJump {
    type Err = String;

    /// `<signed Go duration>@<Go duration or seconds>`: `-2h@1s`, `+30m@2.5`, `90s@1m`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (by, at) = s
            .split_once('@')
            .ok_or_else(|| format!("{s:?}: expected <step>@<when>, as -2h@1s"))?;
        let (sign, mag) = match by.as_bytes().first() {
            Some(b'-') => (-1, &by[1..]),
            Some(b'+') => (1, &by[1..]),
            _ => (1, by),
        };
        let by_ns = GoDuration::parse(mag)
            .map_err(|e| format!("{s:?}: step {by:?}: {e}"))?
            .as_nanos()
            * sign;
        let at = match at.parse::<f64>() {
            Ok(secs) if secs.is_finite() && secs >= 0.0 => Duration::from_secs_f64(secs),
            Ok(_) => return Err(format!("{s:?}: when {at:?} must be >= 0")),
            Err(_) => {
                let d = GoDuration::parse(at).map_err(|e| format!("{s:?}: when {at:?}: {e}"))?;
                Duration::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(0))
            }
        };
        Ok(ClockJump { at, by_ns })
    }
}

/// The clock every thread of one simulation reads.
#[derive(Debug, Clone)]
pub(crate) struct NodeClock {
    start: Instant,
    jumps: Vec<ClockJump>,
}

impl NodeClock {
    /// A clock that starts now and steps by `jumps`.
    pub(crate) fn new(jumps: &[ClockJump]) -> Self {
        Self {
            start: Instant::now(),
            jumps: jumps.to_vec(),
        }
    }

    /// The node's wall time now.
    pub(crate) fn now(&self) -> Timestamp {
        let real = Timestamp::now();
        if self.jumps.is_empty() {
            return real;
        }
        let elapsed = self.start.elapsed();
        let offset: i64 = self
            .jumps
            .iter()
            .filter(|j| j.at <= elapsed)
            .fold(0i64, |a, j| a.saturating_add(j.by_ns));
        Timestamp::from_unix_nanos(real.as_unix_nanos().saturating_add(offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_parse_and_add_up() {
        let j: ClockJump = "-2h@1s".parse().unwrap();
        assert_eq!(j.at, Duration::from_secs(1));
        assert_eq!(j.by_ns, -7_200_000_000_000);
        let j: ClockJump = "+30m@2.5".parse().unwrap();
        assert_eq!(
            (j.at, j.by_ns),
            (Duration::from_millis(2500), 1_800_000_000_000)
        );
        let j: ClockJump = "90s@1m".parse().unwrap();
        assert_eq!((j.at, j.by_ns), (Duration::from_secs(60), 90_000_000_000));
        for bad in ["2h", "x@1s", "1h@x", "1h@-1"] {
            assert!(bad.parse::<ClockJump>().is_err(), "{bad}");
        }
        // Both steps are in force at once: -1h + 3h.
        let c = NodeClock::new(&[
            ClockJump {
                at: Duration::ZERO,
                by_ns: -3_600_000_000_000,
            },
            ClockJump {
                at: Duration::ZERO,
                by_ns: 10_800_000_000_000,
            },
        ]);
        let ahead = c.now().as_unix_nanos() - Timestamp::now().as_unix_nanos();
        assert!(
            (7_199_000_000_000..=7_200_000_000_000).contains(&ahead),
            "{ahead}"
        );
    }
}
