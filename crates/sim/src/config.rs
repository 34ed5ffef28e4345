//! What to simulate.

use std::path::PathBuf;
use std::time::Duration;

use crate::SimError;

/// The simulation's settings. Start from [`SimConfig::default`] and set what you need; the
/// defaults are the kubelet's (10Mi, 5 files, 10 s checks).
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The node's root: the tree is written under `<root>/var/log/pods` and
    /// `<root>/var/log/containers`, which must be absent or empty.
    pub root: PathBuf,
    /// Pods on the node; deleted pods are replaced, so the count stays.
    pub pods: u32,
    /// Containers per pod; `None` keeps each app's own (1 or 2), more adds sidecars.
    pub containers_per_pod: Option<u32>,
    /// Logical lines per second for the whole node; `None` writes as fast as possible.
    pub lines_per_sec: Option<f64>,
    /// Stop after this long (`None`: no time limit).
    pub duration: Option<Duration>,
    /// Stop after this many logical lines in total (`None`: no line limit).
    pub lines: Option<u64>,
    /// The kubelet's `containerLogMaxSize`: a live file this big or bigger is rotated.
    pub max_size_bytes: u64,
    /// The kubelet's `containerLogMaxFiles` (> 1): files per container instance, the live
    /// one included.
    pub max_files: u32,
    /// The kubelet's `containerLogMonitorInterval`: how often sizes are checked.
    pub rotate_check: Duration,
    /// Restart one container this often (`None`: never).
    pub restart_every: Option<Duration>,
    /// Delete one pod (and start a replacement) this often (`None`: never).
    pub delete_every: Option<Duration>,
    /// Seed of every random choice: names, ids, content, which container writes next.
    pub seed: u64,
    /// Replay every regular file of this directory instead of the embedded corpus.
    pub corpus_dir: Option<PathBuf>,
    /// Write the ledger (one JSON line per logical line written) to this file.
    pub ledger: Option<PathBuf>,
    /// One logical line in this many is longer than 16 KiB (0: none).
    pub long_line_every: u64,
    /// One container exit in this many leaves an unterminated last line, which containerd
    /// flushes as a final `P` record (0: never).
    pub unterminated_exit_every: u64,
    /// Longest time a written record may wait in the runtime's buffer before reaching the
    /// file (records are batched per container for speed).
    pub flush_interval: Duration,
    /// How often [`crate::Simulator::run`] calls its progress callback.
    pub progress_interval: Duration,
    /// Steps of the node's wall clock during the run (CRI timestamps and rotation stamps
    /// follow them; pacing does not); empty: the real clock.
    pub clock_jumps: Vec<crate::ClockJump>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            root: PathBuf::from("."),
            pods: 10,
            containers_per_pod: None,
            lines_per_sec: None,
            duration: None,
            lines: None,
            max_size_bytes: 10 * 1024 * 1024,
            max_files: 5,
            rotate_check: Duration::from_secs(10),
            restart_every: None,
            delete_every: None,
            seed: 0,
            corpus_dir: None,
            ledger: None,
            long_line_every: 2000,
            unterminated_exit_every: 4,
            flush_interval: Duration::from_millis(50),
            progress_interval: Duration::from_millis(250),
            clock_jumps: Vec::new(),
        }
    }
}

impl SimConfig {
    /// Checks every value; [`crate::Simulator::new`] calls it.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |field, reason: &str| {
            Err(SimError::Config {
                field,
                reason: reason.to_string(),
            })
        };
        if self.pods == 0 {
            return bad("pods", "must be at least 1");
        }
        if self.containers_per_pod == Some(0) {
            return bad("containers_per_pod", "must be at least 1");
        }
        if let Some(rate) = self.lines_per_sec {
            if !(rate.is_finite() && rate > 0.0) {
                return bad("lines_per_sec", "must be a positive number");
            }
        }
        if self.duration.is_some() && self.lines.is_some() {
            return bad("duration", "give a duration or a line count, not both");
        }
        if self.max_size_bytes == 0 {
            return bad("max_size_bytes", "must be positive");
        }
        if self.max_files < 2 {
            return bad("max_files", "must be at least 2, as the kubelet requires");
        }
        for (field, d) in [
            ("rotate_check", Some(self.rotate_check)),
            ("restart_every", self.restart_every),
            ("delete_every", self.delete_every),
            ("flush_interval", Some(self.flush_interval)),
            ("progress_interval", Some(self.progress_interval)),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return bad(field, "must be positive");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(SimConfig::default().validate().is_ok());
        let cases: [(&str, SimConfig); 5] = [
            (
                "pods",
                SimConfig {
                    pods: 0,
                    ..Default::default()
                },
            ),
            (
                "max_files",
                SimConfig {
                    max_files: 1,
                    ..Default::default()
                },
            ),
            (
                "lines_per_sec",
                SimConfig {
                    lines_per_sec: Some(0.0),
                    ..Default::default()
                },
            ),
            (
                "duration",
                SimConfig {
                    duration: Some(Duration::from_secs(1)),
                    lines: Some(1),
                    ..Default::default()
                },
            ),
            (
                "rotate_check",
                SimConfig {
                    rotate_check: Duration::ZERO,
                    ..Default::default()
                },
            ),
        ];
        for (field, config) in cases {
            match config.validate() {
                Err(SimError::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
