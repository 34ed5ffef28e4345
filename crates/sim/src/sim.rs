//! [`Simulator`]: sets up the node and runs the runtime and kubelet threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::clock::NodeClock;
use crate::corpus::Corpus;
use crate::fsx::make_dir;
use crate::kubelet::Kubelet;
use crate::report::{Counters, Report};
use crate::runtime::Runtime;
use crate::{SimConfig, SimError};

/// A simulated node, ready to run. See the [crate guide](crate).
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    corpus: Corpus,
    /// `<root>/var/log`, absolute.
    log_root: PathBuf,
}

impl Simulator {
    /// Validates `config`, loads the corpus, and checks that the root holds no pod log tree
    /// yet (it is created if missing).
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        let corpus = match &config.corpus_dir {
            Some(dir) => Corpus::from_dir(dir)?,
            None => Corpus::embedded(),
        };
        make_dir(&config.root)?;
        // Symlink targets must be absolute, as the kubelet makes them.
        let root =
            std::fs::canonicalize(&config.root).map_err(SimError::io("resolve", &config.root))?;
        let log_root = root.join("var").join("log");
        for dir in ["pods", "containers"] {
            let dir = log_root.join(dir);
            if let Ok(mut entries) = std::fs::read_dir(&dir) {
                if entries.next().is_some() {
                    return Err(SimError::RootNotEmpty { path: dir });
                }
            }
        }
        Ok(Simulator {
            config,
            corpus,
            log_root,
        })
    }

    /// The validated configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// `<root>/var/log/pods`, absolute: where the pod directories are.
    pub fn pods_dir(&self) -> PathBuf {
        self.log_root.join("pods")
    }

    /// `<root>/var/log/containers`, absolute: where the legacy symlinks are.
    pub fn containers_dir(&self) -> PathBuf {
        self.log_root.join("containers")
    }

    /// Runs the node until the line or time limit, or until `stop` is raised (checked every
    /// few milliseconds). Calls `on_progress` on the calling thread every
    /// [`SimConfig::progress_interval`]. Leaves the tree as it is and returns the totals.
    pub fn run(
        self,
        stop: &AtomicBool,
        mut on_progress: impl FnMut(&Report),
    ) -> Result<Report, SimError> {
        let cfg = &self.config;
        let counters = Counters::default();
        let abort = AtomicBool::new(false);
        let (event_tx, event_rx) = mpsc::channel();
        let (command_tx, command_rx) = mpsc::channel();
        let clock = NodeClock::new(&cfg.clock_jumps);
        let runtime = Runtime::start(
            cfg,
            &self.corpus,
            &counters,
            &clock,
            &self.log_root,
            event_tx,
        )?;
        let kubelet = Kubelet::new(cfg, &counters, &clock);
        let start = Instant::now();
        let report = |stopped_by| counters.report(cfg.seed, cfg.pods, start.elapsed(), stopped_by);
        thread::scope(|s| {
            let rt = spawn(s, "kelp-sim-runtime", || {
                runtime.run(command_rx, stop, &abort, start)
            })?;
            let kl = spawn(s, "kelp-sim-kubelet", || {
                let result = kubelet.run(event_rx, command_tx);
                if result.is_err() {
                    abort.store(true, Relaxed);
                }
                result
            })?;
            let mut next = start + cfg.progress_interval;
            while !rt.is_finished() {
                thread::sleep(Duration::from_millis(5).min(cfg.progress_interval));
                if Instant::now() >= next {
                    on_progress(&report(None));
                    next += cfg.progress_interval;
                }
            }
            let reason = rt
                .join()
                .map_err(|_| SimError::Panicked { thread: "runtime" })?;
            let kubelet_result = kl
                .join()
                .map_err(|_| SimError::Panicked { thread: "kubelet" })?;
            let reason = reason?;
            kubelet_result?;
            Ok(report(Some(reason)))
        })
    }
}

fn spawn<'scope, 'env, T: Send + 'scope>(
    s: &'scope thread::Scope<'scope, 'env>,
    name: &str,
    f: impl FnOnce() -> T + Send + 'scope,
) -> Result<thread::ScopedJoinHandle<'scope, T>, SimError> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn_scoped(s, f)
        .map_err(SimError::io("spawn thread", Path::new(name)))
}
