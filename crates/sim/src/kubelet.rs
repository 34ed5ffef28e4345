//! The kubelet thread: every [`SimConfig::rotate_check`] it checks each running container's
//! live log and rotates it as `container_log_manager.go` does; it asks the runtime for
//! restarts and pod deletions on schedule; it garbage-collects dead instances (keeping the
//! most recent one per container, spec §2.3) and removes deleted pods' directories and
//! symlinks.
//!
//! Differences from a real kubelet, all documented in `docs/simulator.md`: rotation names use
//! UTC; a rotation whose name (one-second resolution) is taken is put off to the next check
//! instead of overwriting; garbage collection runs at once instead of every minute.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::clock::NodeClock;
use crate::fsx::open_log;
use crate::protocol::{Command, Event, InstanceInfo};
use crate::report::{add, Counters};
use crate::rng::Rng;
use crate::rotate::{self, sibling};
use crate::{SimConfig, SimError};

/// (pod UID, container name).
type Key = (String, String);

/// The kubelet thread's state.
pub(crate) struct Kubelet<'a> {
    cfg: &'a SimConfig,
    counters: &'a Counters,
    clock: &'a NodeClock,
    running: BTreeMap<Key, InstanceInfo>,
    /// The most recent dead instance of each container (older ones are collected).
    dead: BTreeMap<Key, InstanceInfo>,
    rng: Rng,
}

impl<'a> Kubelet<'a> {
    /// A kubelet with no container known yet.
    pub(crate) fn new(cfg: &'a SimConfig, counters: &'a Counters, clock: &'a NodeClock) -> Self {
        Kubelet {
            cfg,
            counters,
            clock,
            running: BTreeMap::new(),
            dead: BTreeMap::new(),
            rng: Rng::derive(cfg.seed, "kubelet", &[]),
        }
    }

    /// Runs until the runtime hangs up.
    pub(crate) fn run(
        mut self,
        events: Receiver<Event>,
        commands: Sender<Command>,
    ) -> Result<(), SimError> {
        let start = Instant::now();
        let every = |d: Option<Duration>| d.map(|d| (start + d, d));
        let mut check = (start + self.cfg.rotate_check, self.cfg.rotate_check);
        let mut restart = every(self.cfg.restart_every);
        let mut delete = every(self.cfg.delete_every);
        loop {
            let deadline = [Some(check), restart, delete]
                .into_iter()
                .flatten()
                .map(|t| t.0)
                .min()
                .unwrap_or(check.0);
            match events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(event) => {
                    self.handle(event)?;
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            let now = Instant::now();
            if now >= check.0 {
                self.check_all()?;
                check.0 = next_tick(check, Instant::now());
            }
            if let Some(r) = &mut restart {
                if now >= r.0 {
                    let cmd = Command::Restart {
                        slot: self.rng.below(u64::from(self.cfg.pods)),
                        container: self.rng.next_u64(),
                    };
                    if commands.send(cmd).is_err() {
                        return Ok(());
                    }
                    r.0 = next_tick(*r, now);
                }
            }
            if let Some(d) = &mut delete {
                if now >= d.0 {
                    if commands
                        .send(Command::DeletePod {
                            slot: self.rng.below(u64::from(self.cfg.pods)),
                        })
                        .is_err()
                    {
                        return Ok(());
                    }
                    d.0 = next_tick(*d, now);
                }
            }
        }
    }

    fn handle(&mut self, event: Event) -> Result<(), SimError> {
        match event {
            Event::Started(info) => {
                self.running
                    .insert((info.pod_uid.clone(), info.container.clone()), info);
            }
            Event::Exited { pod_uid, container } => {
                let key = (pod_uid, container);
                if let Some(info) = self.running.remove(&key) {
                    if let Some(older) = self.dead.insert(key, info) {
                        collect(&older)?;
                        add(&self.counters.instances_collected, 1);
                    }
                }
            }
            Event::PodRemoved { pod_uid, dir } => {
                for map in [&mut self.running, &mut self.dead] {
                    let keys: Vec<Key> = map.keys().filter(|k| k.0 == pod_uid).cloned().collect();
                    for key in keys {
                        if let Some(info) = map.remove(&key) {
                            remove_link(&info.symlink)?;
                        }
                    }
                }
                std::fs::remove_dir_all(&dir).map_err(SimError::io("delete directory", &dir))?;
            }
        }
        Ok(())
    }

    fn check_all(&mut self) -> Result<(), SimError> {
        for info in self.running.values() {
            check(self.cfg, self.counters, self.clock, info)?;
        }
        Ok(())
    }
}

/// The next tick of a ticker `(due, period)`, skipping ticks missed while busy.
fn next_tick((due, period): (Instant, Duration), now: Instant) -> Instant {
    let next = due + period;
    if next <= now {
        now + period
    } else {
        next
    }
}

/// One container's size check, and its rotation when the live file reached the maximum.
fn check(
    cfg: &SimConfig,
    counters: &Counters,
    clock: &NodeClock,
    info: &InstanceInfo,
) -> Result<(), SimError> {
    let live = &info.log_path;
    let size = match std::fs::metadata(live) {
        Ok(meta) => meta.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // The kubelet calls ReopenContainerLog to recreate a missing live file.
            let mut state = info.reopen.lock();
            if !state.exited && state.file.is_none() {
                let file = open_log(live)?;
                info.reopen.offer(&mut state, file);
            }
            return Ok(());
        }
        Err(e) => return Err(SimError::io("stat", live)(e)),
    };
    if size < cfg.max_size_bytes {
        return Ok(());
    }
    {
        let state = info.reopen.lock();
        // Exited containers are not rotated; a reopen not yet taken means the runtime still
        // writes the previous rotated file, which must not be compressed yet.
        if state.exited || state.file.is_some() {
            return Ok(());
        }
    }
    let suffix = rotate::stamp(clock.now());
    let rotated = sibling(live, &suffix);
    let taken = [
        sibling(&rotated, "gz"),
        sibling(&rotated, "tmp"),
        rotated.clone(),
    ]
    .iter()
    .any(|p| p.symlink_metadata().is_ok());
    if taken {
        add(&counters.rotations_skipped, 1);
        return Ok(());
    }
    let done = rotate::prepare(live, cfg.max_files)?;
    add(&counters.rotated_deleted, done.deleted);
    add(&counters.gzipped, done.gzipped);
    let mut state = info.reopen.lock();
    if state.exited {
        return Ok(()); // ReopenContainerLog would fail: the kubelet leaves L in place
    }
    std::fs::rename(live, &rotated).map_err(SimError::io("rename", live))?;
    let file = open_log(live)?;
    info.reopen.offer(&mut state, file);
    add(&counters.rotations, 1);
    Ok(())
}

/// Dead-container GC: deletes `<restart>.log` and `<restart>.log.*` of an instance and its
/// symlink.
fn collect(info: &InstanceInfo) -> Result<(), SimError> {
    let live = &info.log_path;
    for name in rotate::rotated_names(live)? {
        rotate::remove(&live.with_file_name(name))?;
    }
    match std::fs::remove_file(live) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(SimError::io("delete", live)(e))
        }
        _ => {}
    }
    remove_link(&info.symlink)
}

fn remove_link(link: &Path) -> Result<(), SimError> {
    match std::fs::remove_file(link) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(SimError::io("delete", link)(e)),
        _ => Ok(()),
    }
}
